/* QMP over a Unix socket: one JSON object per line, events interleaved with replies. */
#include "qmp.h"
#include "timeutil.h"

#include <errno.h>
#include <gcs/frame.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Reads one line-delimited JSON object; events are recorded and returned too. */
static int read_msg(struct qmp *q, long long deadline, json_t **ret)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		if (nl) {
			size_t n = (size_t)(nl - q->buf) + 1;
			json_t *o = json_loadb(q->buf, n, 0, NULL);
			memmove(q->buf, q->buf + n, q->len - n);
			q->len -= n;
			if (!o)
				continue;
			if (json_object_get(o, "event")) {
				const char *ev = json_string_value(json_object_get(o, "event"));
				const char *dev = json_string_value(
					json_object_get(json_object_get(o, "data"), "device"));
				if (ev && dev && !strcmp(ev, "DEVICE_DELETED") && q->n_deleted < 64)
					snprintf(q->deleted[q->n_deleted++], sizeof(q->deleted[0]),
						 "%s", dev);
			}
			*ret = o;
			return 0;
		}
		if (q->len == sizeof(q->buf))
			return -EMSGSIZE;
		{
			long long left = deadline - time_now_ms();
			struct pollfd p = { .fd = q->fd, .events = POLLIN };
			ssize_t r;
			if (left <= 0)
				return -ETIMEDOUT;
			if (poll(&p, 1, (int)left) <= 0)
				continue;
			r = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r == 0 ? -ECONNRESET : -errno;
			q->len += (size_t)r;
		}
	}
}

/* Reads until the reply to the last command (a "return" or an "error"). */
static int read_reply(struct qmp *q, long long deadline, json_t **ret, char *errbuf, size_t errlen)
{
	for (;;) {
		json_t *o, *r, *e;
		int rc = read_msg(q, deadline, &o);

		if (rc < 0) {
			snprintf(errbuf, errlen, "QMP: %s", strerror(-rc));
			return rc;
		}
		if ((r = json_object_get(o, "return"))) {
			if (ret)
				*ret = json_incref(r);
			json_decref(o);
			return 0;
		}
		if ((e = json_object_get(o, "error"))) {
			const char *d = json_string_value(json_object_get(e, "desc"));
			const char *c = json_string_value(json_object_get(e, "class"));
			rc = c && !strcmp(c, "DeviceNotFound") ? -ENOENT : -EREMOTEIO;
			snprintf(errbuf, errlen, "QMP: %s", d ? d : "error");
			json_decref(o); /* d and c are its strings */
			return rc;
		}
		json_decref(o);
	}
}

int qmp_connect(struct qmp *q, const char *path, int timeout_ms, char *errbuf, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	long long deadline = time_now_ms() + timeout_ms;
	json_t *greeting;
	int rc;

	memset(q, 0, sizeof(*q));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (;;) {
		q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (q->fd < 0)
			return -errno;
		if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		rc = -errno;
		close(q->fd);
		q->fd = -1;
		if (time_now_ms() >= deadline) {
			snprintf(errbuf, errlen, "QMP socket %s: %s", path, strerror(-rc));
			return rc;
		}
		usleep(20000);
	}
	rc = read_msg(q, deadline, &greeting);
	if (rc < 0) {
		snprintf(errbuf, errlen, "QMP greeting: %s", strerror(-rc));
		qmp_close(q);
		return rc;
	}
	json_decref(greeting);
	rc = qmp_execute(q, "{\"execute\":\"qmp_capabilities\"}", timeout_ms, errbuf, errlen);
	if (rc < 0)
		qmp_close(q);
	return rc;
}

int qmp_execute(struct qmp *q, const char *cmd, int timeout_ms, char *errbuf, size_t errlen)
{
	return qmp_call(q, cmd, -1, timeout_ms, NULL, errbuf, errlen);
}

/*
 * The fd travels with the command's first bytes: QEMU's monitor keeps the fds that come with a
 * read and hands them to the command those bytes begin.
 */
int qmp_call(struct qmp *q, const char *cmd, int fd, int timeout_ms, json_t **ret, char *errbuf,
	     size_t errlen)
{
	size_t len = strlen(cmd);
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)cmd, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t w;
	int rc;

	if (fd >= 0) {
		struct cmsghdr *c;
		mh.msg_control = ctl;
		mh.msg_controllen = sizeof(ctl);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		w = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	rc = w < 0 ? -errno : gcs_proto_write_all(q->fd, cmd + w, len - (size_t)w, timeout_ms);
	if (rc == 0)
		rc = gcs_proto_write_all(q->fd, "\n", 1, timeout_ms);
	if (rc < 0) {
		snprintf(errbuf, errlen, "QMP: write: %s", strerror(-rc));
		return rc;
	}
	return read_reply(q, time_now_ms() + timeout_ms, ret, errbuf, errlen);
}

int qmp_wait_deleted(struct qmp *q, const char *id, int timeout_ms)
{
	long long deadline = time_now_ms() + timeout_ms;

	for (;;) {
		json_t *o;
		int rc;

		for (unsigned i = 0; i < q->n_deleted; i++) {
			if (!strcmp(q->deleted[i], id)) {
				memmove(q->deleted[i], q->deleted[i + 1],
					(q->n_deleted - i - 1) * sizeof(q->deleted[0]));
				q->n_deleted--;
				return 0;
			}
		}
		rc = read_msg(q, deadline, &o);
		if (rc < 0)
			return rc;
		json_decref(o);
	}
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}
