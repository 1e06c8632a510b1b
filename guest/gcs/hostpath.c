/* Host paths through fds beneath the run root: see hostpath.h. */
#include "hostpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "path.h"
#include "rootpath.h"
#include "fsutil.h"

int hostpath_open_root(struct agent *a)
{
	int rc = mkdir_p(a->opt.run_root, 0755);

	if (rc < 0)
		return rc;
	return rp_open_root(a->opt.run_root, &a->root_fd);
}

int hostpath_rel(struct agent *a, const char *what, const char *path, const char **ret_rel,
		 struct gcs_error *err)
{
	const char *root = a->opt.run_root;

	if (!path || !*path)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "%s is empty", what);
	if (!path_is_normalized(path))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "%s \"%s\" is not an absolute, normalized path", what, path);
	if (rp_rel(root, path, ret_rel) < 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "%s \"%s\" is not under %s", what,
				     path, root);
	return 0;
}

static int path_error(const char *what, const char *path, int rc, struct gcs_error *err)
{
	if (rc == -ELOOP || rc == -EXDEV)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "%s \"%s\" goes through a symlink (none is followed under "
				     "the run root)",
				     what, path);
	if (rc == -ENOTDIR)
		return gcs_error_set(err, rc, HR_INVALIDARG,
				     "%s \"%s\": a component is not a directory", what, path);
	return gcs_error_set(err, rc, HR_FAIL, "%s \"%s\": %s", what, path, strerror(-rc));
}

int hostpath_check(struct agent *a, const char *what, const char *path, struct gcs_error *err)
{
	char prefix[PATH_MAX];
	const char *rel;
	int rc = hostpath_rel(a, what, path, &rel, err);

	if (rc < 0)
		return rc;
	snprintf(prefix, sizeof(prefix), "%s", rel);
	/* The longest existing prefix must be reachable without a symlink. */
	for (;;) {
		int fd = -1;
		char *slash;

		rc = rp_open(a->root_fd, prefix, O_PATH | O_NOFOLLOW, 0, &fd);
		if (rc == 0) {
			struct stat st;
			rc = fstat(fd, &st) < 0 ? -errno : S_ISLNK(st.st_mode) ? -ELOOP : 0;
			close(fd);
			break;
		}
		if (rc != -ENOENT)
			break;
		slash = strrchr(prefix, '/');
		if (!slash)
			return 0;
		*slash = '\0';
	}
	return rc < 0 ? path_error(what, path, rc, err) : 0;
}

int hostpath_mkdir(struct agent *a, const char *what, const char *path, mode_t mode, int *ret_fd,
		   const char **ret_created, struct gcs_error *err)
{
	const char *rel, *created = NULL;
	int rc = hostpath_rel(a, what, path, &rel, err);

	if (rc < 0)
		return rc;
	rc = rp_mkdir_p(a->root_fd, rel, mode, ret_fd, &created);
	if (rc < 0)
		return path_error(what, path, rc, err);
	if (ret_created)
		*ret_created = created;
	return 0;
}

void hostpath_undo_mkdir(struct agent *a, const char *path, const char *created)
{
	const char *rel;

	if (created && hostpath_rel(a, "path", path, &rel, NULL) == 0)
		rp_undo_mkdir(a->root_fd, rel, created);
}

int hostpath_open_dir(struct agent *a, const char *what, const char *path, int *ret_fd,
		      struct gcs_error *err)
{
	const char *rel;
	int rc = hostpath_rel(a, what, path, &rel, err);

	if (rc < 0)
		return rc;
	rc = rp_open(a->root_fd, rel, O_PATH | O_DIRECTORY, 0, ret_fd);
	return rc < 0 ? path_error(what, path, rc, err) : 0;
}

int hostpath_is_mount_point(struct agent *a, const char *path)
{
	const char *rel;
	int rc;

	if (hostpath_rel(a, "path", path, &rel, NULL) < 0)
		return -EINVAL;
	rc = rp_is_mount_point(a->root_fd, rel);
	return rc == -ENOENT ? 0 : rc;
}

int hostpath_umount(struct agent *a, const char *path, int flags)
{
	const char *rel;

	if (hostpath_rel(a, "path", path, &rel, NULL) < 0)
		return -EINVAL;
	return rp_umount(a->root_fd, rel, flags);
}

int hostpath_unlink_symlink(struct agent *a, const char *path)
{
	_cleanup_close_ int dfd = -1;
	const char *rel, *name;
	struct stat st;
	int rc;

	if (hostpath_rel(a, "path", path, &rel, NULL) < 0)
		return -EINVAL;
	rc = rp_open_parent(a->root_fd, rel, &dfd, &name);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISLNK(st.st_mode))
		return -EINVAL;
	return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
}

int hostpath_remove_tree(struct agent *a, const char *path)
{
	_cleanup_close_ int dfd = -1;
	const char *rel, *name;
	int rc;

	if (hostpath_rel(a, "path", path, &rel, NULL) < 0)
		return -EINVAL;
	rc = rp_open_parent(a->root_fd, rel, &dfd, &name);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	return rp_remove_tree(dfd, name);
}
