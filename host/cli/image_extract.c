/*
 * Layer tar -> directory, as root, the way docker's overlay2 applier does it (moby
 * pkg/archive): owners, modes after chown (chown clears setuid), xattrs after both
 * (security.capability does not survive chown), directory times last. Whiteouts take overlay's
 * form: `.wh.<name>` -> char device 0/0 <name>, `.wh..wh..opq` -> trusted.overlay.opaque=y on
 * the directory; other `.wh..wh.*` names (aufs bookkeeping) are dropped.
 *
 * Confinement: every entry and hard link target is cleaned lexically (no absolute paths, no
 * ".."), then walked from the root fd one component at a time with O_PATH | O_NOFOLLOW |
 * O_DIRECTORY, and created with *at() calls on the final name. A symlink met as a parent
 * component is an error, so nothing the archive says can reach outside the root.
 */
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"

#define COPY_BUF (256 * 1024)
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META ".wh..wh."
#define OPAQUE_XATTR "trusted.overlay.opaque"

struct dirtime {
	char *path;
	struct timespec ts[2];
};

struct extract {
	int rootfd;
	char *buf;
	struct dirtime *dt;
	size_t n_dt;
	struct gcs_error *err;
};

int image_clean_path(const char *in, char *out, size_t len, struct gcs_error *err)
{
	const char *p = in;
	size_t n = 0;

	if (in[0] == '/')
		return gcs_error_set(err, -EPERM, HR_INVALIDARG,
				     "entry \"%s\": absolute path in a layer", in);
	while (*p) {
		const char *s = p;
		size_t cl;

		while (*p && *p != '/')
			p++;
		cl = (size_t)(p - s);
		while (*p == '/')
			p++;
		if (cl == 0 || (cl == 1 && s[0] == '.'))
			continue;
		if (cl == 2 && s[0] == '.' && s[1] == '.')
			return gcs_error_set(err, -EPERM, HR_INVALIDARG,
					     "entry \"%s\": path escapes the layer root (\"..\")",
					     in);
		if (cl > NAME_MAX || n + cl + 2 > len)
			return gcs_error_set(err, -ENAMETOOLONG, HR_INVALIDARG,
					     "entry \"%.64s...\": name too long", in);
		if (n)
			out[n++] = '/';
		memcpy(out + n, s, cl);
		n += cl;
	}
	out[n] = '\0';
	return 0;
}

int image_rm_tree(int dirfd, const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	while ((errno = 0, de = readdir(d))) {
		int rc;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = image_rm_tree(fd, de->d_name);
		if (rc < 0)
			return rc;
	}
	if (errno)
		return -errno;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int fail(struct extract *x, const char *path, int rc, const char *what)
{
	return gcs_error_set(x->err, rc, HR_FAIL, "%s: %s: %s", path, what, strerror(-rc));
}

/* Opens the directory name under dirfd (O_PATH), creating it (0755) when create. */
static int open_dir(struct extract *x, int dirfd, const char *name, bool create, const char *path,
		    size_t upto, int *ret_fd)
{
	for (int tries = 0;; tries++) {
		struct stat st;
		int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0) {
			*ret_fd = fd;
			return 0;
		}
		if (errno == ENOENT && create && tries == 0) {
			if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
				return fail(x, path, -errno, "mkdir parent");
			continue;
		}
		if (errno == ENOENT)
			return gcs_error_set(x->err, -ENOENT, HR_FAIL,
					     "%s: \"%.*s\" does not exist", path, (int)upto, path);
		if ((errno == ENOTDIR || errno == ELOOP) &&
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISLNK(st.st_mode))
				return gcs_error_set(
					x->err, -ELOOP, HR_INVALIDARG,
					"%s: parent \"%.*s\" is a symlink; refusing to "
					"follow it out of the layer",
					path, (int)upto, path);
			return gcs_error_set(x->err, -ENOTDIR, HR_INVALIDARG,
					     "%s: parent \"%.*s\" is not a directory", path,
					     (int)upto, path);
		}
		return fail(x, path, -errno, "open parent");
	}
}

/*
 * The directory holding the last component of path (clean, relative, non-empty), as an O_PATH
 * fd, and that component. Missing parents are created when create.
 */
static int open_parent(struct extract *x, const char *path, bool create, int *ret_fd,
		       const char **ret_base)
{
	_cleanup_close_ int cur = fcntl(x->rootfd, F_DUPFD_CLOEXEC, 3);
	const char *p = path, *slash;
	char comp[NAME_MAX + 1];

	if (cur < 0)
		return fail(x, path, -errno, "dup");
	while ((slash = strchr(p, '/'))) {
		size_t cl = (size_t)(slash - p);
		int fd = -1, rc;

		memcpy(comp, p, cl);
		comp[cl] = '\0';
		rc = open_dir(x, cur, comp, create, path, (size_t)(slash - path), &fd);
		if (rc < 0)
			return rc;
		close(cur);
		cur = fd;
		p = slash + 1;
	}
	*ret_fd = TAKE_FD(cur);
	*ret_base = p;
	return 0;
}

/* Clears the slot for a new entry. Returns 1 when a directory stays (want_dir), else 0. */
static int make_room(int dirfd, const char *name, bool want_dir)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return want_dir ? 1 : image_rm_tree(dirfd, name);
	if (unlinkat(dirfd, name, 0) < 0)
		return -errno;
	return 0;
}

static int set_xattr(int dirfd, const char *name, const char *key, const void *v, size_t len)
{
	char p[64 + NAME_MAX];

	if (name[0] == '\0')
		return fsetxattr(dirfd, key, v, len, 0) < 0 ? -errno : 0;
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
	return lsetxattr(p, key, v, len, 0) < 0 ? -errno : 0;
}

static int set_xattrs(struct extract *x, int dirfd, const char *name, const char *path,
		      const struct tar_entry *e)
{
	for (size_t i = 0; i < e->n_xattrs; i++) {
		int rc = set_xattr(dirfd, name, e->xattrs[i].name, e->xattrs[i].value,
				   e->xattrs[i].len);

		if (rc < 0)
			return gcs_error_set(x->err, rc, HR_FAIL, "%s: setxattr %s: %s", path,
					     e->xattrs[i].name, strerror(-rc));
	}
	return 0;
}

static int defer_dir_time(struct extract *x, const char *path, const struct tar_entry *e)
{
	struct dirtime *dt = realloc(x->dt, (x->n_dt + 1) * sizeof(*dt));

	if (!dt)
		return -ENOMEM;
	x->dt = dt;
	dt[x->n_dt].path = strdup(path);
	if (!dt[x->n_dt].path)
		return -ENOMEM;
	dt[x->n_dt].ts[0] = e->atime;
	dt[x->n_dt].ts[1] = e->mtime;
	x->n_dt++;
	return 0;
}

/* Owner, then mode (chown clears setuid), then xattrs, then times (directories: at the end). */
static int set_meta(struct extract *x, int dirfd, const char *name, const char *path,
		    const struct tar_entry *e)
{
	struct timespec ts[2] = { e->atime, e->mtime };
	int rc;

	if (fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(x, path, -errno, "chown");
	/* name was created just now by us and is not a symlink: fchmodat may follow */
	if (e->type != '2' && fchmodat(dirfd, name, e->mode, 0) < 0)
		return fail(x, path, -errno, "chmod");
	rc = set_xattrs(x, dirfd, name, path, e);
	if (rc < 0)
		return rc;
	if (e->type == '5')
		return defer_dir_time(x, path, e);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(x, path, -errno, "set times");
	return 0;
}

static int write_data(struct extract *x, struct tar_reader *r, int dirfd, const char *name,
		      const char *path)
{
	_cleanup_close_ int fd =
		openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return fail(x, path, -errno, "create");
	for (;;) {
		ssize_t n = tar_read(r, x->buf, COPY_BUF);

		if (n == -EIO)
			return gcs_error_set(x->err, -EIO, HR_FAIL,
					     "%s: archive ends inside the file (truncated?)", path);
		if (n < 0)
			return fail(x, path, (int)n, "read");
		if (n == 0)
			break;
		for (ssize_t w = 0; w < n;) {
			ssize_t k = write(fd, x->buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return fail(x, path, -errno, "write");
			w += k;
		}
	}
	return 0;
}

static int hard_link(struct extract *x, const struct tar_entry *e, const char *path, int dirfd,
		     const char *name)
{
	_cleanup_close_ int tdir = -1;
	char target[PATH_MAX];
	const char *tname;
	struct stat st;
	int rc;

	rc = image_clean_path(e->link, target, sizeof(target), x->err);
	if (rc < 0)
		return gcs_error_prefix(x->err, rc, "%s: hard link", path);
	if (target[0] == '\0')
		return gcs_error_set(x->err, -EINVAL, HR_INVALIDARG,
				     "%s: hard link to the layer root", path);
	if (strcmp(target, path) == 0)
		return 0;
	rc = open_parent(x, target, false, &tdir, &tname);
	if (rc < 0)
		return gcs_error_prefix(x->err, rc, "%s: hard link target", path);
	if (fstatat(tdir, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return gcs_error_set(x->err, -errno, HR_FAIL, "%s: hard link target %s: %s", path,
				     target, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return gcs_error_set(x->err, -EPERM, HR_INVALIDARG,
				     "%s: hard link to a directory (%s)", path, target);
	rc = make_room(dirfd, name, false);
	if (rc < 0)
		return fail(x, path, rc, "replace");
	if (linkat(tdir, tname, dirfd, name, 0) < 0)
		return fail(x, path, -errno, "link");
	return 0;
}

/* `.wh..wh..opq` in dir: dir (made if missing) becomes opaque. */
static int opaque(struct extract *x, const char *path, const char *dir)
{
	_cleanup_close_ int pfd = -1;
	const char *name;
	struct stat st;
	int rc;

	if (dir[0] == '\0')
		return set_xattr(x->rootfd, "", OPAQUE_XATTR, "y", 1) < 0 ?
			       fail(x, path, -errno, "setxattr " OPAQUE_XATTR) :
			       0;
	rc = open_parent(x, dir, true, &pfd, &name);
	if (rc < 0)
		return rc;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT || mkdirat(pfd, name, 0755) < 0)
			return fail(x, path, -errno, "mkdir");
	} else if (!S_ISDIR(st.st_mode)) {
		return gcs_error_set(x->err, -ENOTDIR, HR_INVALIDARG,
				     "%s: opaque marker in \"%s\", which is not a directory", path,
				     dir);
	}
	rc = set_xattr(pfd, name, OPAQUE_XATTR, "y", 1);
	if (rc < 0)
		return fail(x, path, rc, "setxattr " OPAQUE_XATTR);
	return 0;
}

/* `.wh.<name>`: <name> becomes a char device 0/0 with the entry's owner and times. */
static int whiteout(struct extract *x, const struct tar_entry *e, const char *path, int dirfd,
		    const char *wh)
{
	const char *name = wh + strlen(WH_PREFIX);
	struct timespec ts[2] = { e->atime, e->mtime };
	int rc;

	if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return gcs_error_set(x->err, -EINVAL, HR_INVALIDARG, "%s: bad whiteout name", path);
	rc = make_room(dirfd, name, false);
	if (rc < 0)
		return fail(x, path, rc, "replace");
	if (mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return fail(x, path, -errno, "mknod whiteout");
	if (fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(x, path, -errno, "chown whiteout");
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(x, path, -errno, "set times");
	return 0;
}

static int extract_one(struct extract *x, struct tar_reader *r)
{
	const struct tar_entry *e = &r->e;
	_cleanup_close_ int dirfd = -1;
	char path[PATH_MAX];
	const char *name;
	int rc;

	rc = image_clean_path(e->path, path, sizeof(path), x->err);
	if (rc < 0)
		return rc;
	if (path[0] == '\0') {
		/* the root itself ("./"): keep the staging dir's owner and 0700 (mkfs.ext4 -d
		 * writes 0755 root:root for the image root anyway); xattrs do carry over */
		return set_xattrs(x, x->rootfd, "", "/", e);
	}
	name = strrchr(path, '/');
	name = name ? name + 1 : path;
	if (strcmp(name, WH_OPAQUE) == 0) {
		path[name == path ? 0 : name - path - 1] = '\0';
		return opaque(x, e->path, path);
	}
	if (strncmp(name, WH_META, strlen(WH_META)) == 0)
		return 0;

	rc = open_parent(x, path, true, &dirfd, &name);
	if (rc < 0)
		return rc;
	if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return whiteout(x, e, path, dirfd, name);

	switch (e->type) {
	case '1':
		return hard_link(x, e, path, dirfd, name);
	case '5':
		rc = make_room(dirfd, name, true);
		if (rc == 0 && mkdirat(dirfd, name, 0700) < 0)
			rc = -errno;
		break;
	default:
		rc = make_room(dirfd, name, false);
		if (rc < 0)
			break;
		if (e->type == '0')
			rc = write_data(x, r, dirfd, name, path);
		else if (e->type == '2')
			rc = symlinkat(e->link, dirfd, name) < 0 ? -errno : 0;
		else if (e->type == '3' || e->type == '4')
			rc = mknodat(dirfd, name, (e->type == '3' ? S_IFCHR : S_IFBLK) | 0600,
				     makedev(e->devmajor, e->devminor)) < 0 ?
				     -errno :
				     0;
		else if (e->type == '6')
			rc = mknodat(dirfd, name, S_IFIFO | 0600, 0) < 0 ? -errno : 0;
		else
			rc = -EINVAL;
		break;
	}
	if (rc < 0)
		return x->err && x->err->hresult != HR_OK ? rc : fail(x, path, rc, "create");
	return set_meta(x, dirfd, name, path, e);
}

static int apply_dir_times(struct extract *x)
{
	struct gcs_error *err = x->err, ignored = { 0 };

	for (size_t i = 0; i < x->n_dt; i++) {
		_cleanup_close_ int dirfd = -1;
		const char *name;
		struct stat st;
		int rc;

		/* a directory replaced by something else later in the layer is skipped */
		x->err = &ignored;
		rc = open_parent(x, x->dt[i].path, false, &dirfd, &name);
		x->err = err;
		if (rc < 0 || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (utimensat(dirfd, name, x->dt[i].ts, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
			return fail(x, x->dt[i].path, -errno, "set times");
	}
	return 0;
}

int image_extract_layer(struct tar_reader *r, int rootfd, struct gcs_error *err)
{
	struct extract x = { .rootfd = rootfd, .err = err };
	int rc;

	x.buf = malloc(COPY_BUF);
	if (!x.buf)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	while ((rc = tar_next(r, err)) > 0) {
		rc = extract_one(&x, r);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = apply_dir_times(&x);
	for (size_t i = 0; i < x.n_dt; i++)
		free(x.dt[i].path);
	free(x.dt);
	free(x.buf);
	if (rc < 0 && err && err->hresult == HR_OK)
		gcs_error_set(err, rc, HR_FAIL, "%s", strerror(-rc));
	return rc;
}
