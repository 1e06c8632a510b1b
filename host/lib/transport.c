/*
 * Transports: hybrid vsock over Unix sockets ("<base>_<port>", as Firecracker, Cloud Hypervisor
 * and our vhost-user vsock device expose guest ports), AF_VSOCK listening on VMADDR_CID_ANY, and
 * AF_HYPERV, which is parsed but unavailable on Linux. The host always listens; the guest dials.
 */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "cleanup.h"
#include "timeutil.h"

#define LISTEN_BACKLOG 16

static void transport_freep(struct gcs_transport **t)
{
	gcs_transport_free(*t);
}

int gcs_transport_parse(const char *spec, struct gcs_transport **ret)
{
	_cleanup_(transport_freep) struct gcs_transport *t = NULL;
	int rc;

	if (!spec || !ret)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->spec = strdup(spec);
	if (!t->spec)
		return -ENOMEM;
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un sun;
		t->kind = TRANSPORT_UNIX;
		/* "<base>_4294967295" must fit in sun_path with its NUL. */
		if (spec[5] == '\0' || strlen(spec + 5) + 11 >= sizeof(sun.sun_path))
			return -EINVAL;
		t->base = strdup(spec + 5);
		if (!t->base)
			return -ENOMEM;
	} else if (strcmp(spec, "vsock") == 0) {
		t->kind = TRANSPORT_VSOCK;
	} else if (strncmp(spec, "hvsock:", 7) == 0) {
		t->kind = TRANSPORT_HVSOCK;
		rc = gcs_proto_guid_parse(spec + 7, &t->vm_id);
		if (rc < 0)
			return rc;
	} else {
		return -EINVAL;
	}
	*ret = TAKE_PTR(t);
	return 0;
}

void gcs_transport_free(struct gcs_transport *t)
{
	if (!t)
		return;
	free(t->spec);
	free(t->base);
	free(t);
}

const char *gcs_transport_spec(const struct gcs_transport *t)
{
	return t ? t->spec : NULL;
}

int transport_dup(const struct gcs_transport *t, struct gcs_transport **ret)
{
	return gcs_transport_parse(t->spec, ret);
}

int transport_unix_path(const struct gcs_transport *t, uint32_t port, char *buf, size_t len)
{
	int n;

	if (t->kind != TRANSPORT_UNIX)
		return -EINVAL;
	n = snprintf(buf, len, "%s_%u", t->base, port);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * A previous run may have left its socket file behind (bind() would fail with EADDRINUSE).
 * Only a socket is replaced: any other file at that path is an error, not ours to delete.
 */
static int unlink_stale_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int listen_unix(const struct gcs_transport *t, uint32_t port, int *ret_fd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int rc;

	rc = transport_unix_path(t, port, sun.sun_path, sizeof(sun.sun_path));
	if (rc < 0)
		return rc;
	rc = unlink_stale_socket(sun.sun_path);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -errno;
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		unlink(sun.sun_path);
		return rc;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* vhost-vsock: the guest dials CID 2; we accept from any CID on the port. */
static int listen_vsock(uint32_t port, int *ret_fd)
{
	struct sockaddr_vm svm = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = port,
	};
	_cleanup_close_ int fd = -1;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0)
		return -errno;
	if (listen(fd, LISTEN_BACKLOG) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int gcs_transport_listen(const struct gcs_transport *t, uint32_t port, int *ret_fd)
{
	if (!t || !ret_fd)
		return -EINVAL;
	switch (t->kind) {
	case TRANSPORT_UNIX:
		return listen_unix(t, port, ret_fd);
	case TRANSPORT_VSOCK:
		return listen_vsock(port, ret_fd);
	case TRANSPORT_HVSOCK:
		/* AF_HYPERV (VM GUID + service GUID of the port) exists on Windows hosts only. */
		return -EAFNOSUPPORT;
	}
	return -EINVAL;
}

int gcs_transport_accept(int listen_fd, int timeout_ms, int *ret_fd)
{
	int64_t deadline = timeout_ms < 0 ? -1 : time_now_ms() + timeout_ms;

	if (listen_fd < 0 || !ret_fd)
		return -EINVAL;
	for (;;) {
		struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
		int timeout = -1, n, fd;

		if (deadline >= 0) {
			int64_t left = deadline - time_now_ms();
			timeout = left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
		}
		n = poll(&pfd, 1, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			if (timeout == 0)
				return -ETIMEDOUT;
			continue;
		}
		/* The accepted socket is blocking: its users poll or block on purpose. */
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			/* A peer that gave up between poll and accept is not our failure. */
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ECONNABORTED)
				continue;
			return -errno;
		}
		*ret_fd = fd;
		return 0;
	}
}

void gcs_transport_unlisten(const struct gcs_transport *t, uint32_t port, int listen_fd)
{
	int saved = errno;

	if (listen_fd >= 0)
		close(listen_fd);
	if (t && t->kind == TRANSPORT_UNIX) {
		char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
		if (transport_unix_path(t, port, path, sizeof(path)) == 0)
			unlink(path);
	}
	errno = saved;
}
