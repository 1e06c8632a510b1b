/*
 * Host paths resolved once beneath a run root, then used only through fds.
 *
 * A path checked with realpath and used again as a string can be redirected by swapping a
 * directory for a symlink in between (renameat2 RENAME_EXCHANGE). These helpers resolve
 * relative to a dirfd of the root with openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (or an
 * O_NOFOLLOW walk, one component at a time, where openat2 is missing), so no symlink is ever
 * followed below the root, and every later step (mkdir, write, mount, umount) works on the fds.
 *
 * Every function returns >= 0 or -errno; out-parameters are written only on success; every fd
 * is O_CLOEXEC. "rel" is relative to the root fd: "" (or ".") is the root itself.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Makes rp_open and rp_mkdir_p walk component by component as if openat2 did not exist. */
extern bool rp_force_fallback;

/*
 * O_PATH|O_DIRECTORY fd of root (absolute; symlinks in root itself are followed, once). Open it
 * in the mount namespace that will see the mounts: an fd stays with the mounts it was opened in.
 */
int rp_open_root(const char *root, int *ret_fd);

/*
 * Lexical: path is absolute, normalized (no "//", ".", ".." or trailing "/") and strictly below
 * root (normalized, may be "/"). *ret_rel points into path, after "root/". -EINVAL otherwise.
 */
int rp_rel(const char *root, const char *path, const char **ret_rel);

/*
 * Opens rel beneath root_fd with flags | O_CLOEXEC (mode only with O_CREAT / O_TMPFILE). A
 * symlink in any component is -ELOOP (a trailing one is returned as itself only with
 * O_PATH | O_NOFOLLOW), an escape (absolute rel, "..") is -EXDEV.
 */
int rp_open(int root_fd, const char *rel, int flags, mode_t mode, int *ret_fd);

/*
 * O_PATH|O_DIRECTORY fd of the parent of rel (a reopened root_fd for one component) and the
 * last component, a pointer into rel, which is not resolved at all (symlink or missing is fine).
 * -EINVAL for "", a trailing "/", or a last component "." or "..".
 */
int rp_open_parent(int root_fd, const char *rel, int *ret_dirfd, const char **ret_name);

/*
 * mkdir -p of rel (normalized, relative; mode subject to the umask) with mkdirat on each
 * parent's fd. An existing component must be a directory: a symlink is -ELOOP (also when one
 * is swapped in after mkdirat), anything else -ENOTDIR. Returns an O_PATH|O_DIRECTORY fd of
 * the last directory and, if ret_first_created is not NULL, a pointer into rel at the first
 * component this call created (NULL when none). On failure what it created is removed again.
 */
int rp_mkdir_p(int root_fd, const char *rel, mode_t mode, int *ret_fd,
	       const char **ret_first_created);

/*
 * Undoes rp_mkdir_p: removes the directories from rel up to and including first_created (a
 * pointer into rel, NULL for nothing), deepest first, each through its parent's fd. Stops
 * quietly, returning 0, at the first one that is missing or not empty.
 */
int rp_undo_mkdir(int root_fd, const char *rel, const char *first_created);

/*
 * "/proc/self/fd/<fd>": hands a resolved directory to mount(2) as source or target; the mount
 * lands on that exact directory. The fd still names the directory under the new mount (open
 * again to reach the mounted tree), and mount(2) on an fd from another mount namespace is
 * EINVAL. Not for umount2 (UMOUNT_NOFOLLOW does not follow the magic link): see rp_umount.
 */
void rp_fd_path(int fd, char buf[static 32]);

/*
 * umount2 of the mount whose mount point is rel, with UMOUNT_NOFOLLOW added: the parent is
 * resolved with rp_open_parent and made the cwd for the call (the cwd is restored; not
 * thread-safe). -EINVAL when rel is not a mount point (a symlink never is); -EBUSY while any fd
 * inside the mount is open, O_PATH ones too, unless MNT_DETACH.
 */
int rp_umount(int root_fd, const char *rel, int flags);

/* 1 when rel (not following a trailing symlink: 0) is a mount point, 0 when not, or -errno. */
int rp_is_mount_point(int root_fd, const char *rel);

/*
 * Writes the file name in dirfd (O_PATH is fine) atomically: a fresh temp file in the same
 * directory (O_EXCL|O_NOFOLLOW), then renameat over name, which replaces a symlink at name
 * rather than following it. The file gets exactly mode (fchmod, no umask). Not fsynced.
 */
int rp_write_file(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/*
 * rm -rf of name in dirfd, never following symlinks and never descending into another mount:
 * such mounts stay in place and make the result -EBUSY. A missing name is 0.
 */
int rp_remove_tree(int dirfd, const char *name);
