/* Unix-socket side of hybrid vsock: <base>_<port> connects and the CONNECT front door. */
#include "hybrid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "vlog.h"
#include "vsock_pkt.h"

struct door_client {
	struct door *door;
	struct list node;
	struct evloop_source src;
	int fd;
	size_t len;
	char line[HYBRID_LINE_MAX];
	int64_t deadline_ms;
};

static int make_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(path);

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

int hybrid_port_addr(const char *base, uint32_t port, struct sockaddr_un *ret_sa,
		     socklen_t *ret_len)
{
	char path[sizeof(ret_sa->sun_path) + 1];
	int n = snprintf(path, sizeof(path), "%s_%u", base, port);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	return make_addr(path, ret_sa, ret_len);
}

int hybrid_connect(const char *base, uint32_t port, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	socklen_t len;
	int r = hybrid_port_addr(base, port, &sa, &len);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* AF_UNIX never returns EINPROGRESS: it connects at once or fails (EAGAIN = backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, len) < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int hybrid_listen(const char *path, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;
	int r = make_addr(path, &sa, &len);

	if (r < 0)
		return r;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (unlink(path) < 0)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0)
		return -errno;
	if (listen(fd, 128) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int hybrid_parse_connect(const char *line, size_t len, uint32_t *ret_port)
{
	static const char word[] = "connect";
	const size_t wlen = sizeof(word) - 1;
	uint64_t port = 0;
	size_t i, start;

	if (len <= wlen || strncasecmp(line, word, wlen) != 0 || !blank(line[wlen]))
		return -EINVAL;
	for (i = wlen; i < len && blank(line[i]); i++)
		;
	for (start = i; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
		port = port * 10 + (uint64_t)(line[i] - '0');
		if (port > UINT32_MAX)
			return -ERANGE;
	}
	if (i == start)
		return -EINVAL;
	for (; i < len && (blank(line[i]) || line[i] == '\r'); i++)
		;
	if (i != len || port == VSOCK_PORT_ANY)
		return -EINVAL;
	*ret_port = (uint32_t)port;
	return 0;
}

static void client_free(struct door_client *k)
{
	struct door *d = k->door;

	evloop_unwatch(d->loop, &k->src);
	list_del(&k->node);
	d->nclients--;
	if (k->fd >= 0)
		close(k->fd);
	free(k);
}

/* Reads byte by byte: whatever follows the '\n' is payload and stays in the socket. */
static void on_client(struct evloop_source *s, uint32_t events)
{
	struct door_client *k = container_of(s, struct door_client, src);
	struct door *d = k->door;

	(void)events;
	for (;;) {
		uint32_t port;
		ssize_t n;
		char ch;
		int fd;

		n = read(k->fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			vlog_debug("hybrid: client left before its CONNECT line");
			client_free(k);
			return;
		}
		if (ch != '\n') {
			if (k->len >= HYBRID_LINE_MAX - 1) {
				vlog_warning("hybrid: CONNECT line longer than %d bytes: closed",
					     HYBRID_LINE_MAX);
				client_free(k);
				return;
			}
			k->line[k->len++] = ch;
			continue;
		}
		if (hybrid_parse_connect(k->line, k->len, &port) < 0) {
			vlog_warning("hybrid: bad CONNECT line \"%.*s\": closed", (int)k->len,
				     k->line);
			client_free(k);
			return;
		}
		fd = TAKE_FD(k->fd);
		client_free(k);
		d->connect(d->ctx, fd, port);
		return;
	}
}

static void on_accept(struct evloop_source *s, uint32_t events)
{
	struct door *d = container_of(s, struct door, src);

	(void)events;
	for (;;) {
		struct door_client *k;
		int fd = accept4(d->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				vlog_warning("hybrid: accept on %s: %s", d->path, strerror(errno));
			return;
		}
		if (!d->ready(d->ctx)) {
			vlog_debug("hybrid: host client refused: the guest's vsock is not up");
			close(fd);
			continue;
		}
		if (d->nclients >= HYBRID_MAX_DOOR_CLIENTS || !(k = calloc(1, sizeof(*k)))) {
			vlog_warning("hybrid: too many clients in the CONNECT phase: refused");
			close(fd);
			continue;
		}
		k->door = d;
		k->fd = fd;
		k->deadline_ms = evloop_now_ms() + d->timeout_ms;
		evloop_source_init(&k->src, fd, on_client);
		list_add_tail(&d->clients, &k->node);
		d->nclients++;
		if (evloop_watch(d->loop, &k->src, EPOLLIN | EPOLLRDHUP) < 0)
			client_free(k);
	}
}

int door_open(struct door *d, struct evloop *loop, const char *path, int timeout_ms,
	      door_ready_fn ready, door_connect_fn connect, void *ctx)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	list_init(&d->clients);
	d->loop = loop;
	d->timeout_ms = timeout_ms > 0 ? timeout_ms : HYBRID_DEFAULT_DOOR_TIMEOUT_MS;
	d->ready = ready;
	d->connect = connect;
	d->ctx = ctx;
	d->path = strdup(path);
	if (!d->path)
		return -ENOMEM;
	r = hybrid_listen(path, &d->fd);
	if (r < 0) {
		free(d->path);
		d->path = NULL;
		return r;
	}
	evloop_source_init(&d->src, d->fd, on_accept);
	r = evloop_watch(loop, &d->src, EPOLLIN);
	if (r < 0) {
		door_close(d);
		return r;
	}
	return 0;
}

void door_drop_clients(struct door *d)
{
	struct list *p, *t;

	list_for_each_safe(p, t, &d->clients) client_free(list_entry(p, struct door_client, node));
}

void door_close(struct door *d)
{
	if (!d->path)
		return;
	door_drop_clients(d);
	if (d->fd >= 0) {
		evloop_unwatch(d->loop, &d->src);
		close(d->fd);
		unlink(d->path);
	}
	d->fd = -1;
	free(d->path);
	d->path = NULL;
}

int door_timeout(const struct door *d, int64_t now)
{
	int64_t best = -1;

	if (!d->path)
		return -1;
	for (const struct list *p = d->clients.next; p != &d->clients; p = p->next) {
		const struct door_client *k = list_entry(p, struct door_client, node);
		int64_t left = k->deadline_ms > now ? k->deadline_ms - now : 0;

		if (best < 0 || left < best)
			best = left;
	}
	return best > INT32_MAX ? INT32_MAX : (int)best;
}

void door_expire(struct door *d, int64_t now)
{
	struct list *p, *t;

	if (!d->path)
		return;
	list_for_each_safe(p, t, &d->clients)
	{
		struct door_client *k = list_entry(p, struct door_client, node);

		if (k->deadline_ms <= now) {
			vlog_warning("hybrid: no CONNECT line within %d ms: closed", d->timeout_ms);
			client_free(k);
		}
	}
}
