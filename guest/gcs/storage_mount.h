/* mount(2) for the storage handlers: option strings to flags, and calls with clear errors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "gcs/hresult.h"

#define STORAGE_MAX_PROPAGATION 4
#define STORAGE_MOUNT_DATA_MAX 1024

struct storage_mount_opts {
	unsigned long flags;
	/* MS_SHARED, MS_PRIVATE, ... (| MS_REC): each is one more mount call after the mount */
	unsigned long propagation[STORAGE_MAX_PROPAGATION];
	size_t n_propagation;
	char data[STORAGE_MOUNT_DATA_MAX]; /* the filesystem's own options, comma-separated */
};

/*
 * Translates mount option strings as mount(8) and the Go GCS do: "ro", "nosuid", "noatime", ...
 * set a flag, their opposites ("rw", "suid", "atime", ...) clear it, later ones win; propagation
 * options ("rshared", "private", ...) are kept apart; anything else goes into data. "bind",
 * "rbind" and "remount" make no sense for a disk and are refused (E_INVALIDARG), as is an option
 * with a comma. ret is zeroed first.
 */
int storage_mount_options(const char *const *opts, size_t n, struct storage_mount_opts *ret,
			  struct gcs_error *err);

/* Appends ",opt" (or "opt" to an empty string); -ENAMETOOLONG when it does not fit. */
int storage_data_append(char *data, size_t len, const char *opt);

/* mount(2); a failure reads "mount SRC on TARGET (TYPE): strerror". */
int storage_mount(const char *src, const char *target, const char *fstype, unsigned long flags,
		  const char *data, struct gcs_error *err);

/* Applies o's propagation changes to target, in order. */
int storage_mount_propagation(const char *target, const struct storage_mount_opts *o,
			      struct gcs_error *err);

/* umount2(target, UMOUNT_NOFOLLOW | flags); "unmount TARGET: strerror" on failure. */
int storage_umount(const char *target, int flags, struct gcs_error *err);

/* 1 when path (not followed if a symlink) is the root of a mount, 0 when not, -errno. */
int storage_is_mount_point(const char *path);
