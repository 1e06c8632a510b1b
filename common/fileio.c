/* Whole-file helpers (removal, atomic writes, reads, JSON files) and program lookup. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int rm_rf(const char *path)
{
	int rc = nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);

	if (rc < 0)
		return errno == ENOENT ? 0 : -errno;
	return rc;
}

int write_file_atomic(const char *path, const char *text, mode_t mode)
{
	char tmp[PATH_MAX];
	_cleanup_close_ int fd = -1;
	size_t n = strlen(text);

	if (pathf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid()) < 0)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n) {
		unlink(tmp);
		return -EIO;
	}
	if (rename(tmp, path) < 0) {
		int rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}

int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;
		if (len + 1 >= cap) {
			char *nb;
			if (cap >= max)
				return -EFBIG;
			cap = cap ? cap * 2 : 4096;
			nb = realloc(buf, cap);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	*ret = TAKE_PTR(buf);
	return 0;
}

int json_write_file(const char *path, json_t *j)
{
	_cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (!text)
		return -ENOMEM;
	return write_file_atomic(path, text, 0600);
}

int json_read_file(const char *path, json_t **ret, char *errbuf, size_t errlen)
{
	json_error_t jerr;
	json_t *j;

	if (access(path, R_OK) < 0) {
		int rc = -errno;
		snprintf(errbuf, errlen, "%s", strerror(-rc));
		return rc;
	}
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(errbuf, errlen, "line %d, column %d: %s", jerr.line, jerr.column,
			 jerr.text);
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

int exe_dir(char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	char *slash;

	if (n < 0)
		return -errno;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	return pathf(buf, len, "%s", path);
}

bool program_exists(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n > 0 && pathf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name) == 0 &&
		    access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}
