/*
 * Read-only container layers as ext4 images for a utility VM's SCSI LUNs: a directory tree made
 * into an image (mkfs.ext4 -d), and a cache of such images shared by everything on the host that
 * needs the same tree as a layer (a containerd snapshot, an image's unpacked layer).
 */
#pragma once

#include <stddef.h>

#include <lcow/gcs.h>

/*
 * Builds a raw ext4 image of the tree at dir: sized from the tree (blocks of the files, inodes,
 * directories and xattr blocks, + 20 % + 4 MiB, 8 MiB at least, 4 KiB blocks), then
 * `mkfs.ext4 -q -F -b 4096 -I 256 -m 0 -N <inodes> -O ^has_journal -E root_owner=0:0 -d dir`.
 * mkfs.ext4 1.47 -d keeps modes (setuid too), owners, all xattr namespaces, hard links,
 * symlinks, device nodes (overlayfs whiteouts too), fifos, and atime/mtime in whole seconds;
 * the root directory gets 0755 and 0:0 whatever dir has (only its xattrs are copied). image is
 * created or replaced.
 */
GCS_EXPORT int lcow_dir_to_ext4(const char *dir, const char *image, struct gcs_error *err);

/*
 * The layer cache at cache_dir (created 0700): the image of the read-only tree src is built once
 * and named by the tree's identity (device, inode and change time of its root), so a tree
 * replaced at the same path gets a new image. Each user holds it under an owner name (a
 * container ID: [A-Za-z0-9_.-], < 128 bytes); the image goes when its last owner releases it.
 * Owners are files next to the image, so the count survives the process and is shared by every
 * process using cache_dir (builds and counts are serialised by a lock file, flock). Acquiring
 * twice under one owner holds it once. ret_image gets the image's path.
 */
GCS_EXPORT int lcow_layer_acquire(const char *cache_dir, const char *src, const char *owner,
				  char *ret_image, size_t len, struct gcs_error *err);
/* Drops owner's hold on the image (a path from lcow_layer_acquire); the last one removes it. */
GCS_EXPORT int lcow_layer_release(const char *cache_dir, const char *image, const char *owner,
				  struct gcs_error *err);
/* Drops every hold of owner in the cache (after a crash of that owner): the images released. */
GCS_EXPORT int lcow_layer_release_all(const char *cache_dir, const char *owner,
				      struct gcs_error *err);

/* One mount of a container's rootfs as containerd hands it to a shim (CreateTaskRequest). */
struct lcow_rootfs_mount {
	const char *type; /* "overlay", "bind", ... */
	const char *source;
	const char *const *options;
	size_t n_options;
};

/* The trees a container's rootfs is made of. */
struct lcow_rootfs_layers {
	char **lowers; /* read-only trees, top-most first (NULL-terminated) */
	size_t n_lowers;
	char *upper; /* the snapshot's writable tree, or NULL */
};

/*
 * Reads containerd's rootfs mounts: one overlay (its lowerdir= trees, top-most first, and
 * upperdir=), or one bind mount of a tree (a snapshot with no parent). No mount, more than one,
 * another type, an overlay without lowerdir, or a relative path is -EINVAL (-EOPNOTSUPP for
 * what is valid but not handled) with a message naming it.
 */
GCS_EXPORT int lcow_rootfs_parse(const struct lcow_rootfs_mount *m, size_t n,
				 struct lcow_rootfs_layers *ret, struct gcs_error *err);
GCS_EXPORT void lcow_rootfs_layers_free(struct lcow_rootfs_layers *l);

/*
 * Each read-only tree of l as a layer image of the cache, held by owner: ret_images[i] (malloc'd,
 * NULL-terminated, top-most first, as l->lowers). On failure the images acquired are released.
 */
GCS_EXPORT int lcow_rootfs_acquire(const char *cache_dir, const struct lcow_rootfs_layers *l,
				   const char *owner, char ***ret_images, struct gcs_error *err);
/* Releases what lcow_rootfs_acquire gave and frees the list. */
GCS_EXPORT void lcow_rootfs_release(const char *cache_dir, char **images, const char *owner);
