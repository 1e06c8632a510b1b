/* The control protocol: JSON lines over a Unix socket, stdio fds as SCM_RIGHTS. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

void ctl_conn_init(struct ctl_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
}

void ctl_close(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int sock_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int ctl_connect(const char *sock_path, struct ctl_conn *ret)
{
	struct sockaddr_un sa;
	int fd, rc = sock_addr(sock_path, &sa);

	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A Unix connect never waits for the server to accept, only for backlog room. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS &&
	    errno != EAGAIN) {
		rc = -errno;
		close(fd);
		return rc;
	}
	ctl_conn_init(ret, fd);
	return 0;
}

int ctl_listen(const char *sock_path, int *ret_fd)
{
	struct sockaddr_un sa;
	int fd, rc = sock_addr(sock_path, &sa);

	if (rc < 0)
		return rc;
	unlink(sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*ret_fd = fd;
	return 0;
}

static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = -1, rc;

		if (deadline >= 0) {
			long long l = deadline - time_now_ms();
			if (l <= 0)
				return -ETIMEDOUT;
			left = (int)l;
		}
		rc = poll(&p, 1, left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		return 0;
	}
}

int ctl_send(struct ctl_conn *c, json_t *msg, const int *fds, size_t n_fds)
{
	_cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	size_t len, off = 0;
	long long deadline = time_now_ms() + 30000;

	if (!text || n_fds > CTL_MAX_FDS)
		return -EINVAL;
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps left room: the NUL */
	while (off < len) {
		struct iovec iov = { .iov_base = text + off, .iov_len = len - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (off == 0 && n_fds > 0) {
			struct cmsghdr *cm;
			memset(&cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			int rc;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			rc = wait_fd(c->fd, POLLOUT, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		off += (size_t)n;
	}
	return 0;
}

static void take_fds(struct ctl_conn *c, struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;
		int *p;
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(cm);
		for (size_t i = 0; i < n; i++) {
			if (c->n_fds < CTL_MAX_FDS)
				c->fds[c->n_fds++] = p[i];
			else
				close(p[i]);
		}
	}
}

int ctl_recv(struct ctl_conn *c, int timeout_ms, json_t **ret, int *fds, size_t *n_fds)
{
	long long deadline = timeout_ms < 0 ? -1 : time_now_ms() + timeout_ms;
	size_t max_fds = n_fds ? *n_fds : 0;
	char *nl;
	json_t *j;

	while (!(nl = c->len ? memchr(c->buf, '\n', c->len) : NULL)) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;
		int rc;

		if (c->cap - c->len < 4096) {
			char *nb;
			if (c->cap >= CTL_MAX_LINE)
				return -EMSGSIZE;
			nb = realloc(c->buf, c->cap ? c->cap * 2 : 16384);
			if (!nb)
				return -ENOMEM;
			c->buf = nb;
			c->cap = c->cap ? c->cap * 2 : 16384;
		}
		iov.iov_base = c->buf + c->len;
		iov.iov_len = c->cap - c->len;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			rc = wait_fd(c->fd, POLLIN, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		take_fds(c, &mh);
		if (n == 0)
			return -ECONNRESET;
		c->len += (size_t)n;
	}
	*nl = '\0';
	j = json_loads(c->buf, 0, NULL);
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	if (!json_is_object(j)) {
		json_decref(j);
		return -EPROTO;
	}
	for (size_t i = 0; i < c->n_fds; i++) {
		if (i < max_fds)
			fds[i] = c->fds[i];
		else
			close(c->fds[i]);
	}
	if (n_fds)
		*n_fds = c->n_fds < max_fds ? c->n_fds : max_fds;
	c->n_fds = 0;
	*ret = j;
	return 0;
}

int send_console(const char *socket_path, const char *name, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct sockaddr_un sa;
	struct cmsghdr *cm;
	_cleanup_close_ int s = -1;
	int rc = sock_addr(socket_path, &sa);

	if (rc < 0)
		return rc;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	memset(&cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(s, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}
