/* Connections to the host (see hostconn.h). */
#include "hostconn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define ENTROPY_MAX (64 * 1024) /* hcsshim sends 512 bytes; stop a runaway host */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline (CLOCK_MONOTONIC ms). */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int hostconn_dial(uint32_t port, int timeout_ms, int *ret_fd)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_HOST,
		.svm_port = port,
	};
	_cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		if (errno != EINPROGRESS)
			return -errno;
		rc = wait_fd(fd, POLLOUT, now_ms() + timeout_ms);
		if (rc < 0)
			return rc;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			return -errno;
		if (soerr)
			return -soerr;
	}
	/* The agent gets it as a plain blocking stdio fd. */
	if (fcntl(fd, F_SETFL, 0) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int add_entropy(int random_fd, const unsigned char *buf, size_t len)
{
	struct {
		struct rand_pool_info info;
		unsigned char data[4096];
	} req;

	req.info.entropy_count = (int)(len * 8);
	req.info.buf_size = (int)len;
	memcpy(req.data, buf, len);
	if (ioctl(random_fd, RNDADDENTROPY, &req) < 0)
		return -errno;
	return 0;
}

int hostconn_seed_entropy(uint32_t port, int timeout_ms, size_t *ret_bytes)
{
	long long deadline = now_ms() + timeout_ms;
	_cleanup_close_ int sock = -1, rnd = -1;
	unsigned char buf[4096];
	size_t total = 0;
	int rc;

	rnd = open("/dev/random", O_WRONLY | O_CLOEXEC);
	if (rnd < 0)
		return -errno;
	rc = hostconn_dial(port, timeout_ms, &sock);
	if (rc < 0)
		return rc;
	while (total < ENTROPY_MAX) {
		ssize_t n;

		rc = wait_fd(sock, POLLIN, deadline);
		if (rc < 0)
			return rc;
		n = read(sock, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		rc = add_entropy(rnd, buf, (size_t)n);
		if (rc < 0)
			return rc;
		total += (size_t)n;
	}
	*ret_bytes = total;
	return 0;
}
