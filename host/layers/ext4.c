/*
 * Directory tree -> raw ext4 image with mkfs.ext4 -d, sized from the tree.
 *
 * What mkfs.ext4 1.47.0 -d keeps (checked with debugfs on this host): permission bits with
 * setuid/setgid/sticky, uid/gid, every xattr namespace (user.*, trusted.* such as
 * trusted.overlay.opaque, security.capability), hard links as one inode, symlinks, character
 * and block devices (0/0 whiteouts too), fifos, atime and mtime in whole seconds (nanoseconds
 * dropped, ctime/crtime = now). Not kept: the root directory's mode, owner and times (mkfs
 * writes 0755 and root_owner); its xattrs are copied.
 *
 * Options: no journal (read-only layers, as tar2ext4 writes them), 4 KiB blocks, 256-byte
 * inodes (nanosecond-capable times and in-inode xattrs whatever mke2fs.conf says for small
 * filesystems), no reserved blocks, and an explicit inode count so trees of many small files
 * fit in an image sized by bytes.
 */
#include "lcow/layers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "run.h"

#define BLK 4096.0
#define INODE_SIZE 256
#define MIB (1024.0 * 1024.0)
#define MIN_SIZE (8 * 1024 * 1024)
#define MAX_DEPTH 2048

struct usage {
	double inodes; /* a file with n links counts 1/n per link */
	double blocks; /* 4 KiB blocks of data, directories, symlinks, xattr blocks */
};

/* One 4 KiB xattr block when the inode's xattrs do not fit in the in-inode space (~100 B). */
static double xattr_blocks(int dirfd, const char *name)
{
	char p[64 + NAME_MAX], list[4096];
	ssize_t n;
	size_t total = 0;

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
	n = llistxattr(p, list, sizeof(list));
	if (n < 0 && errno == ERANGE)
		return 1;
	if (n <= 0)
		return 0;
	for (char *k = list; k < list + n; k += strlen(k) + 1) {
		ssize_t v = lgetxattr(p, k, NULL, 0);

		total += strlen(k) + 16 + (v > 0 ? (size_t)v : 0);
	}
	return total > 96 ? 1 + (double)(total / 4000) : 0;
}

static int walk(int fd, struct usage *u, int depth)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	double dir_bytes = 24; /* "." and ".." */

	if (depth > MAX_DEPTH)
		return -ELOOP;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		double share;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		dir_bytes += 8 + ((strlen(de->d_name) + 3) & ~(size_t)3);
		share = S_ISDIR(st.st_mode) || st.st_nlink < 1 ? 1 : 1.0 / (double)st.st_nlink;
		u->inodes += share;
		u->blocks += share * xattr_blocks(dirfd(d), de->d_name);
		if (S_ISREG(st.st_mode)) {
			double b = (double)((st.st_size + 4095) / 4096);
			/* extent tree blocks, generously */
			u->blocks += share * (b + b / 1024);
		} else if (S_ISLNK(st.st_mode) && st.st_size >= 60) {
			u->blocks += 1;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int rc;

			if (sub < 0)
				return -errno;
			rc = walk(sub, u, depth + 1);
			if (rc < 0)
				return rc;
		}
	}
	if (errno)
		return -errno;
	/* entries plus htree index blocks and slack from deletions-free packing */
	u->blocks += 1 + (dir_bytes * 1.25) / (BLK - 12);
	return 0;
}

static int mkfs(const char *dir, const char *image, uint64_t size, uint64_t inodes,
		struct gcs_error *err)
{
	char n[32], out[512];
	/* clang-format off */
	const char *argv[] = {
		"mkfs.ext4", "-q", "-F",
		"-b", "4096", "-I", "256", "-m", "0", "-N", n,
		"-O", "^has_journal", "-E", "root_owner=0:0",
		"-d", dir, image, NULL,
	};
	/* clang-format on */
	_cleanup_close_ int fd = -1;
	int rc;

	snprintf(n, sizeof(n), "%llu", (unsigned long long)inodes);
	fd = open(image, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "create %s: %s", image, strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "truncate %s: %s", image,
				     strerror(errno));
	close(TAKE_FD(fd));
	rc = run_capture(argv, -1, -1, out, sizeof(out));
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "start mkfs.ext4: %s", strerror(-rc));
	if (rc != 0)
		return gcs_error_set(err, -EIO, HR_FAIL, "mkfs.ext4 -d %s: exit status %d%s%s", dir,
				     rc, out[0] ? ": " : "", out);
	return 0;
}

int lcow_dir_to_ext4(const char *dir, const char *image, struct gcs_error *err)
{
	struct usage u = { 0 };
	uint64_t size, inodes;
	double bytes;
	int fd, rc;

	gcs_error_clear(err);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "open %s: %s", dir, strerror(errno));
	rc = walk(fd, &u, 0);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "measure %s: %s", dir, strerror(-rc));

	/* 11 reserved inodes, root, lost+found, then 1/8 spare */
	inodes = (uint64_t)u.inodes + 16;
	inodes += inodes / 8;
	bytes = u.blocks * BLK + (double)inodes * INODE_SIZE + 16 * 1024;
	bytes = bytes * 1.2 + 4 * MIB;
	size = ((uint64_t)bytes + (1 << 20) - 1) & ~(uint64_t)((1 << 20) - 1);
	if (size < MIN_SIZE)
		size = MIN_SIZE;

	/* the estimate has a margin; should a tree still not fit, try twice the size */
	for (int attempt = 0;; attempt++) {
		rc = mkfs(dir, image, size, inodes, err);
		if (rc == 0 || attempt == 2 || !err ||
		    (!strstr(err->message, "space") && !strstr(err->message, "allocate")))
			break;
		size *= 2;
		inodes *= 2;
		gcs_error_clear(err);
	}
	if (rc < 0) {
		unlink(image);
		return rc;
	}
	gcs_error_clear(err);
	return 0;
}
