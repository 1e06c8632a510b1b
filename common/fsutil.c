/* Path formatting and mkdir -p. */
#include "fsutil.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* mkdir of one directory; an existing directory is fine, anything else there is not. */
static int mkdir_one(const char *path, mode_t mode, bool *ret_created)
{
	struct stat st;

	if (mkdir(path, mode) == 0) {
		*ret_created = true;
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	*ret_created = false;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int mkdir_p_created(const char *path, mode_t mode, bool *ret_created)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	bool created = false;
	int rc;

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		rc = mkdir_one(buf, 0755, &created);
		if (rc < 0)
			return rc;
		*p = '/';
	}
	rc = mkdir_one(buf, mode, &created);
	if (rc < 0)
		return rc;
	if (ret_created)
		*ret_created = created;
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	return mkdir_p_created(path, mode, NULL);
}
