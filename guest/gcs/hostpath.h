/*
 * Paths the host sends, resolved once beneath the run root (common/rootpath.h) and used through
 * fds: no symlink below the run root is ever followed, so swapping a directory for a symlink
 * cannot send a mkdir, a write or a mount outside it. The errors are request errors: a path
 * that is not absolute, normalized and under the run root, or that goes through a symlink, is
 * E_INVALIDARG naming the field ("what").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "gcs/hresult.h"

struct agent;

/* Opens the run root (start-up), creating it when it is missing. */
int hostpath_open_root(struct agent *a);

/* The lexical checks: *ret_rel points into path, relative to the run root. */
int hostpath_rel(struct agent *a, const char *what, const char *path, const char **ret_rel,
		 struct gcs_error *err);

/* The lexical checks, and no existing component may be a symlink. Nothing is touched. */
int hostpath_check(struct agent *a, const char *what, const char *path, struct gcs_error *err);

/*
 * mkdir -p path; *ret_fd is an O_PATH fd of it (for /proc/self/fd/N), *ret_created (may be
 * NULL) the first directory this call created, a pointer into path, or NULL.
 */
int hostpath_mkdir(struct agent *a, const char *what, const char *path, mode_t mode, int *ret_fd,
		   const char **ret_created, struct gcs_error *err);
/* Removes what hostpath_mkdir created (created: its *ret_created), quietly. */
void hostpath_undo_mkdir(struct agent *a, const char *path, const char *created);

/* O_PATH|O_DIRECTORY fd of an existing directory. */
int hostpath_open_dir(struct agent *a, const char *what, const char *path, int *ret_fd,
		      struct gcs_error *err);

/* 1 when path is a mount point, 0 when not (or missing), -errno. */
int hostpath_is_mount_point(struct agent *a, const char *path);
/* Unmounts the mount at path; -EINVAL when nothing is mounted there. */
int hostpath_umount(struct agent *a, const char *path, int flags);
/* Removes a symlink (only a symlink) at path; missing is fine. */
int hostpath_unlink_symlink(struct agent *a, const char *path);
/* rm -rf path without following symlinks or crossing mounts (-EBUSY then); missing is 0. */
int hostpath_remove_tree(struct agent *a, const char *path);
