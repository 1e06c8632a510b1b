/* Dialing the host: AF_VSOCK (CID 2) or hybrid vsock Unix sockets. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"

int transport_parse(const char *spec, struct transport *ret)
{
	if (strcmp(spec, "vsock") == 0) {
		ret->kind = TRANSPORT_VSOCK;
		ret->base[0] = '\0';
		return 0;
	}
	if (strncmp(spec, "unix:", 5) == 0 && spec[5]) {
		/* room for "_4294967295" and the NUL in sun_path */
		if (strlen(spec + 5) + 12 > sizeof(((struct sockaddr_un *)0)->sun_path))
			return -ENAMETOOLONG;
		ret->kind = TRANSPORT_UNIX;
		snprintf(ret->base, sizeof(ret->base), "%s", spec + 5);
		return 0;
	}
	return -EINVAL;
}

int transport_connect_start(const struct transport *t, uint32_t port, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int rc;

	if (t->kind == TRANSPORT_VSOCK) {
		struct sockaddr_vm sa = {
			.svm_family = AF_VSOCK,
			.svm_cid = VMADDR_CID_HOST,
			.svm_port = port,
		};
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", t->base, port);
		/*
		 * A non-blocking Unix connect completes at once when the host listens, or fails;
		 * a listener whose backlog is full gives EAGAIN, which the caller retries on a
		 * timer (never by blocking the loop).
		 */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		do
			rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		while (rc < 0 && errno == EINTR);
	}
	if (rc < 0 && errno != EINPROGRESS)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return rc < 0 ? -EINPROGRESS : 0;
}

int transport_connect_finish(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return soerr ? -soerr : 0;
}
