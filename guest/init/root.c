/* Copying the initramfs into a tmpfs root (see root.h). */
#include "root.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <dirent.h>

#include "cleanup.h"
#include "log.h"

static int copy_data(int in, int out, off_t size)
{
	while (size > 0) {
		ssize_t n = sendfile(out, in, NULL, size > 1 << 30 ? 1 << 30 : (size_t)size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank under us: cannot happen on the initramfs */
		size -= n;
	}
	return 0;
}

/* Copies one entry (not a directory) of dir src into dir dst under the same name. */
static int copy_entry(int src, int dst, const char *name, const struct stat *st)
{
	int rc = 0;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG: {
		_cleanup_close_ int in = openat(src, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		_cleanup_close_ int out = -1;
		if (in < 0)
			return -errno;
		out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0)
			return -errno;
		rc = copy_data(in, out, st->st_size);
		if (rc == 0 && fchown(out, st->st_uid, st->st_gid) < 0)
			rc = -errno;
		/* after fchown, which clears set-id bits */
		if (rc == 0 && fchmod(out, st->st_mode & 07777) < 0)
			rc = -errno;
		return rc;
	}
	case S_IFLNK: {
		char target[4096];
		ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		if (symlinkat(target, dst, name) < 0)
			return -errno;
		break;
	}
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		if (mknodat(dst, name, st->st_mode, st->st_rdev) < 0)
			return -errno;
		break;
	default:
		return -EINVAL;
	}
	if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/*
 * Copies the contents of directory src into dst, depth first, unlinking what was copied.
 * Directories on another device (mount points) are recreated empty and left alone.
 */
static int copy_tree(int src, int dst, dev_t dev, const char *path)
{
	_cleanup_closedir_ DIR *d = NULL;
	int fd = dup(src);
	struct dirent *e;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		struct stat st;
		int rc;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (path[0] == '\0' && !strcmp(e->d_name, NEW_ROOT + 1))
			continue;
		if (fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int s = -1, t = -1;
			char sub[4096];

			if (mkdirat(dst, e->d_name, 0700) < 0)
				return -errno;
			if (fchownat(dst, e->d_name, st.st_uid, st.st_gid, 0) < 0 ||
			    fchmodat(dst, e->d_name, st.st_mode & 07777, 0) < 0)
				return -errno;
			if (st.st_dev != dev)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			s = openat(src, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			t = openat(dst, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s < 0 || t < 0)
				return -errno;
			rc = copy_tree(s, t, dev, sub);
			if (rc < 0)
				return rc;
			unlinkat(src, e->d_name, AT_REMOVEDIR);
			continue;
		}
		rc = copy_entry(src, dst, e->d_name, &st);
		if (rc < 0) {
			log_msg("copy %s/%s: %s", path, e->d_name, strerror(-rc));
			return rc;
		}
		unlinkat(src, e->d_name, 0);
	}
	return 0;
}

int root_move_tree(int src, int dst)
{
	struct stat st;

	if (fstat(src, &st) < 0)
		return -errno;
	return copy_tree(src, dst, st.st_dev, "");
}

int root_switch_to_tmpfs(void)
{
	_cleanup_close_ int old = -1, new = -1;
	struct statfs sf;
	int rc;

	if (statfs("/", &sf) < 0)
		return -errno;
	if (sf.f_type != TMPFS_MAGIC && sf.f_type != RAMFS_MAGIC)
		return 0;
	if (mkdir(NEW_ROOT, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount("tmpfs", NEW_ROOT, "tmpfs", 0, "mode=0755") < 0)
		return -errno;
	old = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	new = open(NEW_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (old < 0 || new < 0)
		return -errno;
	rc = root_move_tree(old, new);
	if (rc < 0)
		return rc;
	if (chdir(NEW_ROOT) < 0)
		return -errno;
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return -errno;
	if (chroot(".") < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	return 1;
}
