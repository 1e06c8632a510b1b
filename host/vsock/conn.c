/* vsock stream connection <-> Unix socket: state machine, credit, half-close, buffering. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hybrid.h"
#include "vlog.h"
#include "vsock_dev.h"

static void on_uds(struct evloop_source *s, uint32_t events);

struct conn *conn_new(struct vsock_dev *d, uint32_t local_port, uint32_t peer_port, int fd,
		      enum conn_state state)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	c->dev = d;
	c->local_port = local_port;
	c->peer_port = peer_port;
	c->state = state;
	c->fd = fd;
	c->buf_alloc = d->cfg.buf_alloc;
	evloop_source_init(&c->src, fd, on_uds);
	list_init(&c->pnode);
	list_add_tail(&d->conns, &c->node);
	list_add_tail(&d->hash[vsock_dev_hash(local_port, peer_port)], &c->hnode);
	d->nconns++;
	return c;
}

static void close_fd(struct conn *c)
{
	if (c->fd < 0)
		return;
	evloop_unwatch(c->dev->loop, &c->src);
	close(c->fd);
	c->fd = -1;
	c->src.fd = -1;
}

static void drop_txbuf(struct conn *c)
{
	free(c->txbuf);
	c->txbuf = NULL;
	c->txoff = c->txlen = 0;
}

static void unschedule(struct conn *c)
{
	if (list_linked(&c->pnode)) {
		list_del(&c->pnode);
		c->dev->npending--;
	}
}

void conn_free(struct conn *c)
{
	close_fd(c);
	drop_txbuf(c);
	unschedule(c);
	list_del(&c->hnode);
	list_del(&c->node);
	c->dev->nconns--;
	free(c);
}

void conn_queue(struct conn *c, unsigned what)
{
	c->pending |= what;
	if (c->pending && !list_linked(&c->pnode)) {
		list_add_tail(&c->dev->pending, &c->pnode);
		c->dev->npending++;
	}
}

/* Leaves the table (the key may be reused at once) but stays on the list until freed. */
static void make_dead(struct conn *c)
{
	c->state = CONN_DEAD;
	c->deadline_ms = 0;
	list_del(&c->hnode);
}

void conn_kill(struct conn *c, bool send_rst)
{
	if (c->state == CONN_DEAD && !send_rst) {
		close_fd(c);
		drop_txbuf(c);
		return;
	}
	vlog_debug("vsock: %u<->%u: %s", c->local_port, c->peer_port,
		   send_rst ? "reset" : "closed by the guest's RST");
	close_fd(c);
	drop_txbuf(c);
	make_dead(c);
	c->pending = 0;
	if (send_rst)
		conn_queue(c, CONN_PEND_RST);
	else
		unschedule(c);
}

uint32_t conn_peer_free(const struct conn *c)
{
	return vsock_peer_free(c->peer_buf_alloc, c->rx_cnt, c->peer_fwd_cnt);
}

/* We may read host data for the guest: established, host still sending, guest still reading. */
static bool may_read(const struct conn *c)
{
	return c->fd >= 0 && c->state == CONN_ESTABLISHED && !c->uds_eof &&
	       !(c->peer_shut & VSOCK_SHUTDOWN_RCV);
}

void conn_update_interest(struct conn *c)
{
	uint32_t ev = 0;
	int r;

	if (c->fd < 0)
		return;
	if (may_read(c) && !(c->pending & CONN_PEND_RW) && conn_peer_free(c) > 0)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (c->txlen)
		ev |= EPOLLOUT;
	r = evloop_watch(c->dev->loop, &c->src, ev);
	if (r < 0) {
		vlog_error("vsock: %u<->%u: epoll: %s", c->local_port, c->peer_port, strerror(-r));
		conn_kill(c, true);
	}
}

static void credit_check(struct conn *c)
{
	if (c->state != CONN_ESTABLISHED)
		return;
	if (vsock_credit_update_due(c->buf_alloc, c->fwd_cnt, c->last_fwd_cnt_sent,
				    c->buf_alloc / 4))
		conn_queue(c, CONN_PEND_CREDIT_UPDATE);
}

static void uds_write_failed(struct conn *c, int err)
{
	vlog_debug("vsock: %u<->%u: write to the Unix socket: %s", c->local_port, c->peer_port,
		   strerror(err));
	if (c->state == CONN_DEAD) {
		/* Lingering after the guest closed: the RST is owed already. */
		close_fd(c);
		drop_txbuf(c);
		return;
	}
	conn_kill(c, true);
}

/* Everything the guest sent reached the Unix socket: carry out a deferred half-close. */
static void flushed(struct conn *c)
{
	drop_txbuf(c);
	if (c->state == CONN_DEAD) {
		shutdown(c->fd, SHUT_WR);
		close_fd(c);
		return;
	}
	if ((c->peer_shut & VSOCK_SHUTDOWN_SEND) && !c->uds_wr_shut && c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		c->uds_wr_shut = true;
	}
}

static void flush(struct conn *c)
{
	while (c->txlen) {
		ssize_t n = send(c->fd, c->txbuf + c->txoff, c->txlen, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			uds_write_failed(c, errno);
			return;
		}
		c->txoff += (size_t)n;
		c->txlen -= (size_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (c->txlen == 0)
		flushed(c);
	credit_check(c);
}

static void on_uds(struct evloop_source *s, uint32_t events)
{
	struct conn *c = container_of(s, struct conn, src);

	if (c->txlen && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		flush(c);
	if (c->fd < 0)
		return;
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && may_read(c))
		conn_queue(c, CONN_PEND_RW);
	conn_update_interest(c);
}

/* Guest payload into the Unix socket: written directly when nothing waits, else (the rest) kept. */
static void on_rw(struct conn *c, const struct iovec *payload, unsigned n, uint32_t len)
{
	size_t written = 0, rest;

	if (len == 0)
		return;
	if (c->uds_wr_shut || (c->peer_shut & VSOCK_SHUTDOWN_SEND)) {
		vlog_warning("vsock: %u<->%u: %u bytes after the guest's SHUTDOWN SEND dropped",
			     c->local_port, c->peer_port, len);
		return;
	}
	if (c->txlen == 0) {
		struct msghdr mh = { .msg_iov = (struct iovec *)payload, .msg_iovlen = n };
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			uds_write_failed(c, errno);
			return;
		}
		written = w > 0 ? (size_t)w : 0;
		c->fwd_cnt += (uint32_t)written;
	}
	rest = len - written;
	if (rest) {
		/* A guest that honours our credit cannot overflow buf_alloc (spec 5.4). */
		if (c->txlen + rest > c->buf_alloc) {
			vlog_warning("vsock: %u<->%u: the guest sent beyond its credit: reset",
				     c->local_port, c->peer_port);
			conn_kill(c, true);
			return;
		}
		if (!c->txbuf) {
			c->txbuf = malloc(c->buf_alloc);
			if (!c->txbuf) {
				conn_kill(c, true);
				return;
			}
			c->txoff = 0;
		}
		if (c->txoff + c->txlen + rest > c->buf_alloc) {
			memmove(c->txbuf, c->txbuf + c->txoff, c->txlen);
			c->txoff = 0;
		}
		iov_to_buf(payload, n, written, c->txbuf + c->txoff + c->txlen, rest);
		c->txlen += rest;
	}
	credit_check(c);
}

/* Guest close (SHUTDOWN 3): RST it now, but keep flushing what it sent to the host reader. */
static void guest_closed(struct conn *c)
{
	if (c->txlen == 0 || c->fd < 0) {
		conn_kill(c, true);
		return;
	}
	vlog_debug("vsock: %u<->%u: guest closed; flushing %zu bytes", c->local_port, c->peer_port,
		   c->txlen);
	make_dead(c);
	c->pending = 0;
	conn_queue(c, CONN_PEND_RST);
	c->deadline_ms = evloop_now_ms() + c->dev->cfg.linger_timeout_ms;
	/* Input is over: only the flush goes on. */
	shutdown(c->fd, SHUT_RD);
	conn_update_interest(c);
}

static void on_shutdown(struct conn *c, uint32_t flags)
{
	c->peer_shut |= flags & VSOCK_SHUTDOWN_BOTH;
	if ((c->peer_shut & VSOCK_SHUTDOWN_BOTH) == VSOCK_SHUTDOWN_BOTH) {
		guest_closed(c);
		return;
	}
	if ((c->peer_shut & VSOCK_SHUTDOWN_RCV) && c->fd >= 0) {
		/* AF_UNIX: the host's further writes fail with EPIPE. */
		shutdown(c->fd, SHUT_RD);
		c->pending &= ~CONN_PEND_RW;
	}
	if ((c->peer_shut & VSOCK_SHUTDOWN_SEND) && c->txlen == 0 && !c->uds_wr_shut &&
	    c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		c->uds_wr_shut = true;
	}
}

/* The guest accepted a host-initiated connection: tell the client its port, then relay. */
static void host_established(struct conn *c)
{
	char line[24];
	int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
	ssize_t w = send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w != n) {
		vlog_debug("vsock: %u<->%u: could not write OK to the host client", c->local_port,
			   c->peer_port);
		conn_kill(c, true);
		return;
	}
	c->state = CONN_ESTABLISHED;
	c->deadline_ms = 0;
	vlog_debug("vsock: %u<->%u: established (host-initiated)", c->local_port, c->peer_port);
}

void conn_on_packet(struct conn *c, const struct vsock_hdr *h, const struct iovec *payload,
		    unsigned n)
{
	bool had_credit = conn_peer_free(c) > 0;

	if (c->state == CONN_DEAD)
		return;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (h->op == VSOCK_OP_RST) {
		conn_kill(c, false);
		return;
	}
	switch (c->state) {
	case CONN_CONNECTING:
		/* Nothing but RST is valid before our RESPONSE. */
		conn_kill(c, true);
		return;
	case CONN_LOCAL_INIT:
		if (h->op != VSOCK_OP_RESPONSE) {
			conn_kill(c, true);
			return;
		}
		host_established(c);
		break;
	case CONN_CLOSING:
		/* The host is gone; RW is moot. A guest SHUTDOWN ends it now. */
		if (h->op == VSOCK_OP_SHUTDOWN)
			conn_kill(c, true);
		else if (h->op == VSOCK_OP_CREDIT_REQUEST)
			conn_queue(c, CONN_PEND_CREDIT_UPDATE);
		return;
	case CONN_ESTABLISHED:
		switch (h->op) {
		case VSOCK_OP_RW:
			on_rw(c, payload, n, h->len);
			break;
		case VSOCK_OP_CREDIT_REQUEST:
			conn_queue(c, CONN_PEND_CREDIT_UPDATE);
			break;
		case VSOCK_OP_CREDIT_UPDATE:
			break;
		case VSOCK_OP_SHUTDOWN:
			on_shutdown(c, h->flags);
			break;
		default: /* REQUEST or RESPONSE on a live key, or an unknown op */
			vlog_warning("vsock: %u<->%u: unexpected %s: reset", c->local_port,
				     c->peer_port, vsock_op_name(h->op));
			conn_kill(c, true);
			return;
		}
		break;
	case CONN_DEAD:
		return;
	}
	if (c->state != CONN_ESTABLISHED)
		return;
	if (conn_peer_free(c) > 0) {
		c->credit_requested = false;
		/* Credit came back: try the socket at once rather than after the next epoll round. */
		if (!had_credit && may_read(c))
			conn_queue(c, CONN_PEND_RW);
	}
	conn_update_interest(c);
}

static void make_hdr(struct conn *c, uint16_t op, struct vsock_hdr *h)
{
	*h = (struct vsock_hdr){
		.src_cid = VSOCK_CID_HOST,
		.dst_cid = c->dev->cfg.guest_cid,
		.src_port = c->local_port,
		.dst_port = c->peer_port,
		.type = VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = c->buf_alloc,
		.fwd_cnt = c->fwd_cnt,
	};
	/* Every packet carries fwd_cnt: it is a credit update too. */
	c->last_fwd_cnt_sent = c->fwd_cnt;
	c->pending &= ~CONN_PEND_CREDIT_UPDATE;
}

/* Whether the host closed its socket (both directions) rather than shutdown(SHUT_WR). */
static bool host_closed(const struct conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static int fill_rw(struct conn *c, const struct iovec *buf, unsigned n, size_t space,
		   struct vsock_hdr *h)
{
	struct iovec *iov = c->dev->scratch;
	uint32_t credit = conn_peer_free(c);
	size_t max = space - VSOCK_HDR_LEN;
	struct msghdr mh = { .msg_iov = iov };
	ssize_t r;

	if (!may_read(c)) {
		c->pending &= ~CONN_PEND_RW;
		return 0;
	}
	if (credit == 0) {
		/* Stop reading until the guest's credit rises; ask for an update once. */
		c->pending &= ~CONN_PEND_RW;
		if (c->credit_requested)
			return 0;
		c->credit_requested = true;
		make_hdr(c, VSOCK_OP_CREDIT_REQUEST, h);
		return 1;
	}
	if (max > credit)
		max = credit;
	if (max > VSOCK_MAX_PKT_PAYLOAD)
		max = VSOCK_MAX_PKT_PAYLOAD;
	if (max == 0)
		return 0;
	mh.msg_iovlen = iov_slice(buf, n, VSOCK_HDR_LEN, max, iov, VIRTQ_MAX_SEGS);
	r = recvmsg(c->fd, &mh, MSG_DONTWAIT);
	if (r > 0) {
		make_hdr(c, VSOCK_OP_RW, h);
		h->len = (uint32_t)r;
		c->rx_cnt += (uint32_t)r;
		return 1;
	}
	c->pending &= ~CONN_PEND_RW;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (r < 0) {
		vlog_debug("vsock: %u<->%u: read from the Unix socket: %s", c->local_port,
			   c->peer_port, strerror(errno));
		conn_kill(c, true);
		return 0;
	}
	c->uds_eof = true;
	make_hdr(c, VSOCK_OP_SHUTDOWN, h);
	if (host_closed(c)) {
		/* Full close: SHUTDOWN 3, then wait for the guest's RST (or send ours on expiry). */
		h->flags = VSOCK_SHUTDOWN_BOTH;
		c->state = CONN_CLOSING;
		c->deadline_ms = evloop_now_ms() + c->dev->cfg.close_timeout_ms;
		close_fd(c);
		drop_txbuf(c);
	} else {
		h->flags = VSOCK_SHUTDOWN_SEND;
	}
	c->local_shut |= h->flags;
	vlog_debug("vsock: %u<->%u: host %s", c->local_port, c->peer_port,
		   h->flags == VSOCK_SHUTDOWN_BOTH ? "closed" : "shut down its sending side");
	return 1;
}

int conn_fill(struct conn *c, const struct iovec *buf, unsigned n, size_t space,
	      struct vsock_hdr *ret_hdr)
{
	while (c->pending) {
		if (c->pending & CONN_PEND_RST) {
			make_hdr(c, VSOCK_OP_RST, ret_hdr);
			c->pending &= ~CONN_PEND_RST;
			return 1;
		}
		if (c->pending & CONN_PEND_RESPONSE) {
			c->pending &= ~CONN_PEND_RESPONSE;
			make_hdr(c, VSOCK_OP_RESPONSE, ret_hdr);
			return 1;
		}
		if (c->pending & CONN_PEND_REQUEST) {
			c->pending &= ~CONN_PEND_REQUEST;
			make_hdr(c, VSOCK_OP_REQUEST, ret_hdr);
			return 1;
		}
		if (c->pending & CONN_PEND_RW) {
			int r = fill_rw(c, buf, n, space, ret_hdr);

			if (r != 0)
				return r;
			if (c->pending & CONN_PEND_RW)
				return 0; /* buffer too small for any payload */
			continue;
		}
		if (c->pending & CONN_PEND_CREDIT_UPDATE) {
			make_hdr(c, VSOCK_OP_CREDIT_UPDATE, ret_hdr);
			return 1;
		}
		c->pending = 0;
	}
	return 0;
}

void conn_connected(struct conn *c, int fd)
{
	c->fd = fd;
	c->src.fd = fd;
	c->state = CONN_ESTABLISHED;
	c->deadline_ms = 0;
	conn_queue(c, CONN_PEND_RESPONSE);
	vlog_debug("vsock: %u<->%u: established (guest-initiated)", c->local_port, c->peer_port);
	conn_update_interest(c);
}

void conn_expire(struct conn *c, int64_t now)
{
	int fd, r;

	if (!c->deadline_ms || now < c->deadline_ms)
		return;
	c->deadline_ms = 0;
	switch (c->state) {
	case CONN_CONNECTING:
		r = hybrid_connect(c->dev->uds_base, c->local_port, &fd);
		if (r == 0) {
			conn_connected(c, fd);
		} else if (r == -EAGAIN && now < c->give_up_ms) {
			c->deadline_ms = now + 10;
		} else {
			vlog_info("vsock: guest connect to host port %u: %s", c->local_port,
				  strerror(-r));
			conn_kill(c, true);
		}
		break;
	case CONN_LOCAL_INIT:
		vlog_info("vsock: guest port %u did not answer the connection request: reset",
			  c->peer_port);
		conn_kill(c, true);
		break;
	case CONN_CLOSING:
		conn_kill(c, true);
		break;
	case CONN_DEAD:
		if (c->fd >= 0)
			vlog_warning("vsock: %u<->%u: host reader stalled; %zu bytes dropped after "
				     "the guest closed",
				     c->local_port, c->peer_port, c->txlen);
		close_fd(c);
		drop_txbuf(c);
		break;
	case CONN_ESTABLISHED:
		break;
	}
}
