/* Host paths resolved once beneath a run root (openat2, or an O_NOFOLLOW walk), then fds. */
#include "rootpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"

bool rp_force_fallback;

/* Set once openat2 has returned ENOSYS (kernels before 5.6, or a seccomp filter). */
static bool openat2_missing;

static bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* One or more components, each non-empty and not "." or "..", joined by single "/". */
static bool comps_ok(const char *c)
{
	for (;;) {
		const char *e = strchrnul(c, '/');
		size_t n = (size_t)(e - c);

		if (n == 0 || n > NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!*e)
			return true;
		c = e + 1;
	}
}

static bool abs_normalized(const char *p)
{
	return p[0] == '/' && (p[1] == '\0' || comps_ok(p + 1));
}

static bool use_fallback(void)
{
	return rp_force_fallback || openat2_missing;
}

int rp_open_root(const char *root, int *ret_fd)
{
	int fd;

	if (root[0] != '/')
		return -EINVAL;
	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int rp_rel(const char *root, const char *path, const char **ret_rel)
{
	size_t n = strlen(root);

	if (!abs_normalized(root) || !abs_normalized(path) || streq(path, "/"))
		return -EINVAL;
	if (n == 1) {
		*ret_rel = path + 1;
		return 0;
	}
	if (strncmp(path, root, n) != 0 || path[n] != '/')
		return -EINVAL;
	*ret_rel = path + n + 1;
	return 0;
}

/*
 * openat2 with no symlink followed and no escape. EAGAIN means the kernel could not rule out a
 * ".." racing with a rename (RESOLVE_BENEATH); openat2(2) says to retry.
 */
static int do_openat2(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	/* openat2 refuses a mode without O_CREAT / O_TMPFILE (EINVAL). */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode;
	for (int i = 0; i < 64; i++) {
		int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

		if (fd >= 0)
			return fd;
		if (errno != EAGAIN)
			return -errno;
	}
	return -EAGAIN;
}

/* O_PATH fd of what name is, not followed: -ELOOP for a symlink, -ENOTDIR if not wanted. */
static int open_nofollow(int dirfd, const char *name, bool want_dir)
{
	struct stat st;
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISLNK(st.st_mode))
		r = -ELOOP;
	else if (want_dir && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	else
		return fd;
	close(fd);
	return r;
}

/* O_PATH|O_DIRECTORY fd of the single component name in dirfd; a symlink is -ELOOP. */
static int open_dir_at(int dirfd, const char *name)
{
	if (!use_fallback()) {
		int fd = do_openat2(dirfd, name, O_PATH | O_DIRECTORY, 0);

		if (fd != -ENOSYS)
			return fd;
		openat2_missing = true;
	}
	/* Classified on the fd, not by a second lookup that a swap could answer differently. */
	return open_nofollow(dirfd, name, true);
}

/*
 * The last step of the walk, with openat2's results: without O_NOFOLLOW (or with a trailing
 * "/", which makes the kernel follow even with O_NOFOLLOW), a trailing symlink is -ELOOP. Where
 * O_NOFOLLOW alone would not say so (O_PATH: the link itself, O_DIRECTORY: -ENOTDIR), name is
 * looked at through an O_PATH fd and that very inode opened ("." of it, for a directory).
 */
static int open_last(int dirfd, const char *name, int flags, mode_t mode, bool slash)
{
	bool follow = slash || !(flags & O_NOFOLLOW);
	int oflags = flags | O_NOFOLLOW | O_CLOEXEC, fd;

	if (slash) {
		if (flags & O_CREAT)
			return -EISDIR;
		oflags |= O_DIRECTORY;
	}
	if (follow && !(flags & O_CREAT) && (oflags & (O_PATH | O_DIRECTORY))) {
		_cleanup_close_ int pfd = open_nofollow(dirfd, name, oflags & O_DIRECTORY);

		if (pfd < 0 || (flags & O_PATH))
			return TAKE_FD(pfd);
		dirfd = pfd;
		name = ".";
		fd = openat(dirfd, name, oflags, mode);
		return fd < 0 ? -errno : fd;
	}
	fd = openat(dirfd, name, oflags, mode);
	return fd < 0 ? -errno : fd;
}

/*
 * rp_open without openat2: one component at a time with O_NOFOLLOW. ".." pops the stack of fds
 * walked so far (never looks up the real ".."), so it can no more escape than openat2's.
 */
static int walk(int root_fd, const char *rel, int flags, mode_t mode)
{
	char buf[PATH_MAX], *tok, *save = NULL;
	int stack[PATH_MAX / 2];
	size_t depth = 0, len = strlen(rel);
	const char *last = ".";
	bool slash = false;
	int cur = root_fd, r;

	if (rel[0] == '/')
		return -EXDEV;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, rel, len + 1);
	while (len > 0 && buf[len - 1] == '/') {
		buf[--len] = '\0';
		slash = true;
	}
	for (tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (streq(tok, "."))
			continue;
		if (streq(tok, "..")) {
			if (depth == 0) {
				r = -EXDEV;
				goto out;
			}
			close(stack[--depth]);
			cur = depth ? stack[depth - 1] : root_fd;
			continue;
		}
		if (tok + strlen(tok) == buf + len) {
			last = tok;
			break;
		}
		r = open_dir_at(cur, tok);
		if (r < 0)
			goto out;
		stack[depth++] = cur = r;
	}
	r = open_last(cur, last, flags, mode, slash && !streq(last, "."));
out:
	while (depth > 0)
		close(stack[--depth]);
	return r;
}

int rp_open(int root_fd, const char *rel, int flags, mode_t mode, int *ret_fd)
{
	int fd = -ENOSYS;

	if (!use_fallback()) {
		fd = do_openat2(root_fd, rel[0] ? rel : ".", flags, mode);
		if (fd == -ENOSYS)
			openat2_missing = true;
	}
	if (fd == -ENOSYS)
		fd = walk(root_fd, rel, flags, mode);
	if (fd < 0)
		return fd;
	*ret_fd = fd;
	return 0;
}

int rp_open_parent(int root_fd, const char *rel, int *ret_dirfd, const char **ret_name)
{
	size_t len = strlen(rel);
	const char *slash, *name;
	char buf[PATH_MAX];
	int fd, r;

	if (len == 0 || rel[len - 1] == '/')
		return -EINVAL;
	if (rel[0] == '/')
		return -EXDEV;
	slash = strrchr(rel, '/');
	name = slash ? slash + 1 : rel;
	if (streq(name, ".") || streq(name, ".."))
		return -EINVAL;
	len = slash ? (size_t)(slash - rel) : 0;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, rel, len);
	buf[len] = '\0';
	r = rp_open(root_fd, buf, O_PATH | O_DIRECTORY, 0, &fd);
	if (r < 0)
		return r;
	*ret_dirfd = fd;
	*ret_name = name;
	return 0;
}

/* rmdir of rel[0, end) and its parents, deepest first, down to the component at first. */
static int undo_range(int root_fd, const char *rel, size_t end, const char *first)
{
	size_t stop = (size_t)(first - rel);
	char buf[PATH_MAX];

	if (end >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, rel, end);
	buf[end] = '\0';
	for (;;) {
		_cleanup_close_ int dfd = -1;
		const char *name;
		int r = rp_open_parent(root_fd, buf, &dfd, &name);

		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0) {
			if (errno == ENOENT || errno == ENOTEMPTY || errno == EEXIST)
				return 0;
			return -errno;
		}
		if ((size_t)(name - buf) <= stop)
			return 0;
		buf[name - buf - 1] = '\0';
	}
}

int rp_mkdir_p(int root_fd, const char *rel, mode_t mode, int *ret_fd,
	       const char **ret_first_created)
{
	_cleanup_close_ int cur = -1;
	const char *first = NULL, *c = rel, *e;
	char name[NAME_MAX + 1];
	int r;

	if (rel[0] && !comps_ok(rel))
		return -EINVAL;
	/* Everything there already: one lookup. */
	r = rp_open(root_fd, rel, O_PATH | O_DIRECTORY, 0, &cur);
	if (r != -ENOENT) {
		if (r < 0)
			return r;
		goto done;
	}
	for (;; c = e + 1) {
		int dfd = cur >= 0 ? cur : root_fd, fd;
		bool made = false;

		e = strchrnul(c, '/');
		memcpy(name, c, (size_t)(e - c));
		name[e - c] = '\0';
		fd = open_dir_at(dfd, name);
		if (fd == -ENOENT) {
			if (mkdirat(dfd, name, mode) == 0)
				made = true;
			else if (errno != EEXIST)
				fd = -errno;
			if (made || fd == -ENOENT)
				/* A symlink swapped in after mkdirat is -ELOOP here. */
				fd = open_dir_at(dfd, name);
		}
		if (made && !first)
			first = c;
		if (fd < 0) {
			/* Remove what this call made, the failed component too when it made it. */
			if (first)
				undo_range(root_fd, rel,
					   made ? (size_t)(e - rel) : (size_t)(c - 1 - rel), first);
			return fd;
		}
		close(cur);
		cur = fd;
		if (!*e)
			break;
	}
done:
	*ret_fd = TAKE_FD(cur);
	if (ret_first_created)
		*ret_first_created = first;
	return 0;
}

int rp_undo_mkdir(int root_fd, const char *rel, const char *first_created)
{
	size_t len = strlen(rel);
	uintptr_t f = (uintptr_t)first_created, r = (uintptr_t)rel;

	if (!first_created)
		return 0;
	/* first_created must point at a component of rel */
	if (!len || !comps_ok(rel) || f < r || f >= r + len ||
	    (first_created != rel && first_created[-1] != '/'))
		return -EINVAL;
	return undo_range(root_fd, rel, len, first_created);
}

void rp_fd_path(int fd, char buf[static 32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

int rp_umount(int root_fd, const char *rel, int flags)
{
	_cleanup_close_ int pfd = -1, cwd = -1;
	const char *name;
	int r;

	r = rp_open_parent(root_fd, rel, &pfd, &name);
	if (r < 0)
		return r;
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return -errno;
	if (fchdir(pfd) < 0)
		return -errno;
	r = umount2(name, flags | UMOUNT_NOFOLLOW) < 0 ? -errno : 0;
	if (fchdir(cwd) < 0 && r == 0)
		r = -errno;
	return r;
}

struct mnt {
	uint64_t id; /* 0 when the kernel has no STATX_MNT_ID */
	dev_t dev;
	bool root; /* STATX_ATTR_MOUNT_ROOT */
	bool link;
};

static int fd_mount(int fd, struct mnt *m)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, &sx) < 0)
		return -errno;
	m->id = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0;
	m->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	m->root = (sx.stx_attributes_mask & sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	m->link = S_ISLNK(sx.stx_mode);
	return 0;
}

/* child (an fd inside parent's directory) is the root of another mount. */
static int other_mount(int parent, int child)
{
	struct mnt p, c;
	int r;

	r = fd_mount(parent, &p);
	if (r < 0)
		return r;
	r = fd_mount(child, &c);
	if (r < 0)
		return r;
	if (c.link)
		return 0;
	return c.root || c.dev != p.dev || (c.id && p.id && c.id != p.id);
}

int rp_is_mount_point(int root_fd, const char *rel)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	const char *name;
	int r;

	r = rp_open_parent(root_fd, rel, &pfd, &name);
	if (r < 0)
		return r;
	r = rp_open(pfd, name, O_PATH | O_NOFOLLOW, 0, &fd);
	if (r < 0)
		return r;
	return other_mount(pfd, fd);
}

int rp_write_file(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	static unsigned counter;
	_cleanup_close_ int fd = -1;
	const char *p = data;
	char tmp[64];
	int r;

	if (!comps_ok(name) || strchr(name, '/'))
		return -EINVAL;
	for (int i = 0; fd < 0; i++) {
		snprintf(tmp, sizeof(tmp), ".rp-%d-%u.tmp", (int)getpid(), counter++);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && (errno != EEXIST || i == 100))
			return -errno;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || close(TAKE_FD(fd)) < 0 ||
	    renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	unlinkat(dirfd, tmp, 0);
	return r;
}

/*
 * unlinkat first (Linux says EISDIR for a directory), so a symlink or file is removed as
 * itself; a directory is opened O_NOFOLLOW (retrying when it was just swapped for something
 * else), checked to be on parent's mount, emptied and removed.
 */
static int remove_tree(int parent, const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd = -1, r = 0, q;

	for (int i = 0; fd < 0; i++) {
		if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
			return 0;
		if (errno != EISDIR)
			return -errno;
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			return 0;
		if (fd < 0 && ((errno != ENOTDIR && errno != ELOOP) || i == 8))
			return -errno;
	}
	q = other_mount(parent, fd);
	if (q != 0) {
		close(fd);
		return q < 0 ? q : -EBUSY;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		q = remove_tree(dirfd(d), de->d_name);
		if (q < 0 && r == 0)
			r = q;
	}
	if (errno != 0 && r == 0)
		r = -errno;
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

int rp_remove_tree(int dirfd, const char *name)
{
	if (!comps_ok(name) || strchr(name, '/'))
		return -EINVAL;
	return remove_tree(dirfd, name);
}
