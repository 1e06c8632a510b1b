/* Wiring of loop, vhost-user, device and front door; front-end accept and lifecycle. */
#include "vsock_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cleanup.h"
#include "vlog.h"

/* A front-end that stalls mid-message cannot wedge the loop for longer than this. */
#define FRONTEND_IO_TIMEOUT_S 5
/* Rings without a kick fd are polled this often. */
#define POLL_MS 5

bool vsock_cid_valid(uint64_t cid)
{
	return cid > VSOCK_CID_HOST && cid < 0xffffffffull;
}

static void on_stop(void *ctx)
{
	struct vsock_server *s = ctx;

	vsock_dev_reset(&s->dev);
	door_drop_clients(&s->door);
}

static void on_disconnect(void *ctx)
{
	struct vsock_server *s = ctx;
	bool spoke = s->vu.nmsgs > 0;

	vsock_dev_reset(&s->dev);
	door_drop_clients(&s->door);
	/* A connection that closed before its first message was a probe, not QEMU (spec 6, #2). */
	if (s->once && spoke) {
		s->done = true;
		return;
	}
	if (s->listen_fd >= 0 && evloop_watch(&s->loop, &s->listen_src, EPOLLIN) < 0)
		s->done = true;
	else if (s->listen_fd >= 0)
		vlog_info("vhost-user: waiting for the next front-end on %s", s->socket_path);
}

static void on_listen(struct evloop_source *src, uint32_t events)
{
	struct vsock_server *s = container_of(src, struct vsock_server, listen_src);
	int fd;

	(void)events;
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			vlog_warning("vhost-user: accept: %s", strerror(errno));
		return;
	}
	/* One front-end at a time: the next one waits in the backlog. */
	evloop_unwatch(&s->loop, &s->listen_src);
	if (vsock_server_attach(s, fd) < 0)
		evloop_watch(&s->loop, &s->listen_src, EPOLLIN);
	else
		vlog_info("vhost-user: front-end connected");
}

static void on_stop_fd(struct evloop_source *src, uint32_t events)
{
	struct vsock_server *s = container_of(src, struct vsock_server, stop_src);

	(void)events;
	evloop_unwatch(&s->loop, src);
	s->done = true;
}

static bool door_ready(void *ctx)
{
	struct vsock_server *s = ctx;

	return vsock_dev_ready(&s->dev);
}

static void door_connect(void *ctx, int fd, uint32_t port)
{
	struct vsock_server *s = ctx;

	vsock_dev_host_connect(&s->dev, fd, port);
}

int vsock_server_init(struct vsock_server *s, const struct vsock_server_config *cfg)
{
	struct vsock_dev_config dc = cfg->dev;
	struct vu_ops ops = { .ctx = s, .stop = on_stop, .disconnect = on_disconnect };
	int r;

	memset(s, 0, sizeof(*s));
	s->listen_fd = -1;
	s->stop_fd = -1;
	s->once = cfg->once;
	if (!vsock_cid_valid(cfg->guest_cid) || !cfg->uds_path) {
		snprintf(s->error, sizeof(s->error), "invalid guest CID or hybrid path");
		return -EINVAL;
	}
	r = evloop_init(&s->loop);
	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "epoll: %s", strerror(-r));
		return r;
	}
	vu_init(&s->vu, &s->loop, cfg->guest_cid, &ops);
	dc.guest_cid = cfg->guest_cid;
	dc.uds_base = cfg->uds_path;
	r = vsock_dev_init(&s->dev, &s->loop, &dc);
	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "device: %s", strerror(-r));
		evloop_done(&s->loop);
		return r;
	}
	vsock_dev_set_queues(&s->dev, vu_queue(&s->vu, 0), vu_queue(&s->vu, 1));
	r = door_open(&s->door, &s->loop, cfg->uds_path, cfg->door_timeout_ms, door_ready,
		      door_connect, s);
	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "listen on %s: %s", cfg->uds_path,
			 strerror(-r));
		vsock_server_done(s);
		return r;
	}
	if (cfg->socket_path) {
		s->socket_path = strdup(cfg->socket_path);
		if (!s->socket_path) {
			snprintf(s->error, sizeof(s->error), "%s", strerror(ENOMEM));
			vsock_server_done(s);
			return -ENOMEM;
		}
		r = hybrid_listen(cfg->socket_path, &s->listen_fd);
		if (r < 0) {
			snprintf(s->error, sizeof(s->error), "listen on %s: %s", cfg->socket_path,
				 strerror(-r));
			free(s->socket_path);
			s->socket_path = NULL;
			vsock_server_done(s);
			return r;
		}
		evloop_source_init(&s->listen_src, s->listen_fd, on_listen);
		r = evloop_watch(&s->loop, &s->listen_src, EPOLLIN);
		if (r < 0) {
			snprintf(s->error, sizeof(s->error), "epoll: %s", strerror(-r));
			vsock_server_done(s);
			return r;
		}
	}
	return 0;
}

void vsock_server_done(struct vsock_server *s)
{
	if (vu_connected(&s->vu))
		vu_detach(&s->vu);
	vsock_dev_done(&s->dev);
	door_close(&s->door);
	if (s->listen_fd >= 0) {
		evloop_unwatch(&s->loop, &s->listen_src);
		close(s->listen_fd);
		unlink(s->socket_path);
		s->listen_fd = -1;
	}
	free(s->socket_path);
	s->socket_path = NULL;
	if (s->stop_fd >= 0)
		evloop_unwatch(&s->loop, &s->stop_src);
	s->stop_fd = -1;
	evloop_done(&s->loop);
}

int vsock_server_attach(struct vsock_server *s, int fd)
{
	struct timeval tv = { .tv_sec = FRONTEND_IO_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return vu_attach(&s->vu, fd);
}

int vsock_server_stop_on(struct vsock_server *s, int fd)
{
	s->stop_fd = fd;
	evloop_source_init(&s->stop_src, fd, on_stop_fd);
	return evloop_watch(&s->loop, &s->stop_src, EPOLLIN);
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

int vsock_server_run_once(struct vsock_server *s, int max_wait_ms)
{
	int64_t now = evloop_now_ms();
	int t = min_timeout(vsock_dev_timeout(&s->dev, now), door_timeout(&s->door, now));
	int r;

	t = min_timeout(t, max_wait_ms);
	if (vu_needs_polling(&s->vu))
		t = min_timeout(t, POLL_MS);
	r = evloop_run_once(&s->loop, t);
	if (r < 0)
		return r;
	now = evloop_now_ms();
	vsock_dev_expire(&s->dev, now);
	door_expire(&s->door, now);
	vsock_dev_process(&s->dev);
	return 0;
}

int vsock_server_run(struct vsock_server *s)
{
	while (!s->done) {
		int r = vsock_server_run_once(s, -1);

		if (r < 0)
			return r;
	}
	return 0;
}
