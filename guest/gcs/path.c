/* Path checks and directory helpers for the storage handlers. */
#include "path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"

bool path_is_normalized(const char *path)
{
	const char *p = path;

	if (p[0] != '/' || p[1] == '\0')
		return false;
	while (*p) {
		/* p is at a '/': look at the component after it */
		const char *c = p + 1;
		size_t n = strcspn(c, "/");

		if (n == 0)
			return false; /* "//" or a trailing "/" */
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		p = c + n;
	}
	return strlen(path) < PATH_MAX;
}

bool path_is_below(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strcmp(root, "/") == 0)
		return path[0] == '/' && path[1] != '\0';
	return strncmp(path, root, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

bool path_is_within(const char *path, const char *root)
{
	return strcmp(path, root) == 0 || path_is_below(path, root);
}

int path_dirname(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return -EINVAL;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return 0;
}

int path_join(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s%s%s", a, strcmp(a, "/") == 0 ? "" : "/", b);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int path_check_inside(const char *path, const char *root)
{
	char prefix[PATH_MAX];
	_cleanup_free_ char *real_root = NULL;
	_cleanup_free_ char *real = NULL;
	struct stat st;

	if (strlen(path) >= sizeof(prefix))
		return -ENAMETOOLONG;
	strcpy(prefix, path);
	/* The longest prefix that exists (as anything, a symlink included). */
	while (lstat(prefix, &st) < 0) {
		char *slash;

		if (errno != ENOENT && errno != ENOTDIR)
			return -errno;
		slash = strrchr(prefix, '/');
		if (!slash || slash == prefix) {
			strcpy(prefix, "/");
			break;
		}
		*slash = '\0';
	}
	real_root = realpath(root, NULL);
	if (!real_root)
		return -errno;
	real = realpath(prefix, NULL);
	if (!real)
		return -errno;
	return path_is_within(real, real_root) ? 0 : -EXDEV;
}
