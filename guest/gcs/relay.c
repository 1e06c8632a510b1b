/* One-way byte relays for process stdio, driven by the event loop. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "loop.h"

#define RELAY_CHUNK (64 * 1024)
/* Bytes moved per wakeup before yielding to the other sources of the loop. */
#define RELAY_BUDGET (1024 * 1024)

struct relay {
	struct loop *loop;
	enum relay_dir dir;
	struct loop_source src, dst;
	bool use_splice;
	bool discard; /* destination gone: drain the source */
	char *buf; /* buffered mode */
	size_t len, off;
	uint64_t bytes;
	relay_done_cb done;
	void *data;
};

static bool is_fifo(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

static void relay_close(struct relay *r)
{
	loop_del(r->loop, &r->src);
	loop_del(r->loop, &r->dst);
	close(r->src.fd);
	close(r->dst.fd);
	free(r->buf);
}

static void relay_finish(struct relay *r)
{
	relay_done_cb done = r->done;
	void *data = r->data;

	relay_close(r);
	done(data, r);
	free(r);
}

void relay_cancel(struct relay *r)
{
	if (!r)
		return;
	relay_close(r);
	free(r);
}

uint64_t relay_bytes(const struct relay *r)
{
	return r->bytes;
}

void relay_describe(const struct relay *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s src=%d dst=%d bytes=%llu mode=%s%s",
		 r->dir == RELAY_TO_PROCESS ? "stdin" : "output", r->src.fd, r->dst.fd,
		 (unsigned long long)r->bytes, r->use_splice ? "splice" : "buffer",
		 r->discard ? " discarding" : "");
}

static void on_src(struct loop_source *s, uint32_t events);
static void on_dst(struct loop_source *s, uint32_t events);

/*
 * Exactly one side is registered at a time: the source while waiting for input, the destination
 * while waiting for room. (A registered idle side would report hangups over and over.)
 */
static void wait_src(struct relay *r)
{
	loop_del(r->loop, &r->dst);
	if (!r->src.added && loop_add(r->loop, &r->src, r->src.fd, EPOLLIN, on_src) < 0)
		log_error("stdio relay: cannot watch source", LOG_STR("error", strerror(errno)));
}

static void wait_dst(struct relay *r)
{
	loop_del(r->loop, &r->src);
	if (!r->dst.added && loop_add(r->loop, &r->dst, r->dst.fd, EPOLLOUT, on_dst) < 0)
		log_error("stdio relay: cannot watch destination",
			  LOG_STR("error", strerror(errno)));
}

static bool dst_writable(const struct relay *r)
{
	struct pollfd p = { .fd = r->dst.fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLOUT | POLLERR | POLLHUP));
}

/* A read error or EOF on the source ends the relay; a pty master reports EIO at hangup. */
static bool src_error_is_eof(int err)
{
	return err == EIO || err == ECONNRESET || err == EPIPE;
}

/* The destination failed: for output keep draining the source so the process never blocks. */
static void dst_failed(struct relay *r, int err)
{
	log_debug("stdio relay destination closed", LOG_STR("error", strerror(err)));
	if (r->dir == RELAY_TO_PROCESS) {
		relay_finish(r);
		return;
	}
	r->discard = true;
	r->use_splice = false;
	r->len = r->off = 0;
	wait_src(r);
}

static int ensure_buf(struct relay *r)
{
	if (!r->buf) {
		r->buf = malloc(RELAY_CHUNK);
		if (!r->buf)
			return -ENOMEM;
	}
	return 0;
}

/* Moves bytes until something would block; returns false when the relay finished. */
static bool pump(struct relay *r)
{
	const enum relay_dir dir = r->dir; /* r may be freed by dst_failed */
	size_t budget = RELAY_BUDGET;

	while (budget > 0) {
		ssize_t n;

		if (r->use_splice) {
			n = splice(r->src.fd, NULL, r->dst.fd, NULL, RELAY_CHUNK,
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n > 0) {
				r->bytes += (size_t)n;
				budget -= (size_t)n < budget ? (size_t)n : budget;
				continue;
			}
			if (n == 0) {
				relay_finish(r);
				return false;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (dst_writable(r))
					wait_src(r);
				else
					wait_dst(r);
				return true;
			}
			if (errno == EINVAL) {
				r->use_splice = false;
				continue;
			}
			/* Which side failed? EPIPE is the writer's; the rest we read as the source's. */
			if (errno == EPIPE ||
			    (r->dir == RELAY_FROM_PROCESS && errno == ECONNRESET)) {
				dst_failed(r, errno);
				return dir == RELAY_FROM_PROCESS;
			}
			relay_finish(r);
			return false;
		}

		if (ensure_buf(r) < 0) {
			relay_finish(r);
			return false;
		}
		if (r->off == r->len) {
			n = read(r->src.fd, r->buf, RELAY_CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				wait_src(r);
				return true;
			}
			if (n == 0 || (n < 0 && src_error_is_eof(errno))) {
				relay_finish(r);
				return false;
			}
			if (n < 0) {
				log_warning("stdio relay read failed",
					    LOG_STR("error", strerror(errno)));
				relay_finish(r);
				return false;
			}
			r->off = 0;
			r->len = (size_t)n;
			if (r->discard) {
				r->off = r->len;
				continue;
			}
		}
		n = write(r->dst.fd, r->buf + r->off, r->len - r->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_dst(r);
				return true;
			}
			dst_failed(r, errno);
			return dir == RELAY_FROM_PROCESS;
		}
		r->off += (size_t)n;
		r->bytes += (size_t)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
	}
	return true;
}

static void on_src(struct loop_source *s, uint32_t events)
{
	(void)events;
	pump(container_of(s, struct relay, src));
}

static void on_dst(struct loop_source *s, uint32_t events)
{
	struct relay *r = container_of(s, struct relay, dst);

	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLOUT)) {
		dst_failed(r, EPIPE);
		return;
	}
	pump(r);
}

int relay_start(struct loop *l, enum relay_dir dir, int src, int dst, relay_done_cb done,
		void *data, struct relay **ret)
{
	struct relay *r = calloc(1, sizeof(*r));
	int rc;

	if (!r) {
		close(src);
		close(dst);
		return -ENOMEM;
	}
	r->loop = l;
	r->dir = dir;
	r->done = done;
	r->data = data;
	r->src.fd = src;
	r->dst.fd = dst;
	r->use_splice = is_fifo(src) || is_fifo(dst);
	r->dst.cb = on_dst;
	fcntl(src, F_SETFL, fcntl(src, F_GETFL) | O_NONBLOCK);
	fcntl(dst, F_SETFL, fcntl(dst, F_GETFL) | O_NONBLOCK);
	rc = loop_add(l, &r->src, src, EPOLLIN, on_src);
	if (rc < 0) {
		relay_close(r);
		free(r);
		return rc;
	}
	if (ret)
		*ret = r;
	return 0;
}
