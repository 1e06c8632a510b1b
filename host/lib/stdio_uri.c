/* containerd's stdio URIs opened as fds (lcow/stdio.h). */
#include "lcow/stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

static int set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int open_fifo(const char *path, int stream, int *ret_fd, struct gcs_error *err)
{
	int fd, rc;

	if (stream == GCS_STDIN)
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	else {
		fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 && errno == ENXIO) /* no reader yet */
			fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "stdio %s: %s", path, strerror(errno));
	if ((rc = set_blocking(fd)) < 0) {
		close(fd);
		return gcs_error_set(err, rc, HR_FAIL, "stdio %s: %s", path, strerror(-rc));
	}
	*ret_fd = fd;
	return 0;
}

static int open_log(const char *path, int stream, int *ret_fd, struct gcs_error *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (stream == GCS_STDIN)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "stdio file://%s: a log file cannot be stdin", path);
	if (slash > path && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if ((rc = mkdir_p(dir, 0755)) < 0)
			return gcs_error_set(err, rc, HR_FAIL, "stdio file://%s: %s", path,
					     strerror(-rc));
	}
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "stdio file://%s: %s", path,
				     strerror(errno));
	*ret_fd = fd;
	return 0;
}

int lcow_stdio_open(const char *uri, int stream, int *ret_fd, struct gcs_error *err)
{
	const char *path = uri;
	struct stat st;

	if (stream < GCS_STDIN || stream > GCS_STDERR)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "stdio: no stream %d", stream);
	if (!uri || !uri[0]) {
		*ret_fd = -1;
		return 0;
	}
	if (!strncmp(uri, "binary://", 9))
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "stdio %s: logging binaries are not supported", uri);
	if (!strncmp(uri, "file://", 7)) {
		if (uri[7] != '/')
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "stdio %s: not an absolute file:// path", uri);
		return open_log(uri + 7, stream, ret_fd, err);
	}
	if (!strncmp(uri, "fifo://", 7))
		path = uri + 7;
	else if (strstr(uri, "://"))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "stdio %s: unknown scheme (a path, fifo://, file:// or "
				     "binary://)",
				     uri);
	if (path[0] != '/')
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "stdio %s: not an absolute path",
				     uri);
	if (stat(path, &st) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "stdio %s: %s", uri, strerror(errno));
	if (S_ISFIFO(st.st_mode))
		return open_fifo(path, stream, ret_fd, err);
	if (!S_ISREG(st.st_mode))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "stdio %s: neither a FIFO nor a file", uri);
	*ret_fd = open(path, (stream == GCS_STDIN ? O_RDONLY : O_WRONLY | O_APPEND) | O_CLOEXEC);
	if (*ret_fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "stdio %s: %s", uri, strerror(errno));
	return 0;
}
