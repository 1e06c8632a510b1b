/* The vsock device: connection table, TX dispatch, RX production, deadlines. */
#include "vsock_dev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "hybrid.h"
#include "vlog.h"

int vsock_dev_init(struct vsock_dev *d, struct evloop *loop, const struct vsock_dev_config *cfg)
{
	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	if (!d->cfg.buf_alloc)
		d->cfg.buf_alloc = VSOCK_DEFAULT_BUF_ALLOC;
	if (!d->cfg.max_conns)
		d->cfg.max_conns = VSOCK_DEFAULT_MAX_CONNS;
	if (d->cfg.request_timeout_ms <= 0)
		d->cfg.request_timeout_ms = 2000;
	if (d->cfg.close_timeout_ms <= 0)
		d->cfg.close_timeout_ms = 2000;
	if (d->cfg.connect_timeout_ms <= 0)
		d->cfg.connect_timeout_ms = 1000;
	if (d->cfg.linger_timeout_ms <= 0)
		d->cfg.linger_timeout_ms = 30000;
	if (!cfg->uds_base)
		return -EINVAL;
	d->uds_base = strdup(cfg->uds_base);
	if (!d->uds_base)
		return -ENOMEM;
	d->cfg.uds_base = d->uds_base;
	d->loop = loop;
	list_init(&d->conns);
	list_init(&d->pending);
	for (unsigned i = 0; i < VSOCK_HASH_SIZE; i++)
		list_init(&d->hash[i]);
	d->next_port = VSOCK_FIRST_HOST_PORT;
	return 0;
}

void vsock_dev_reset(struct vsock_dev *d)
{
	struct list *p, *t;
	unsigned n = d->nconns;

	list_for_each_safe(p, t, &d->conns) conn_free(list_entry(p, struct conn, node));
	if (n)
		vlog_info("vsock: device reset: %u connection(s) closed", n);
	d->rst_head = d->rst_count = 0;
	d->next_port = VSOCK_FIRST_HOST_PORT;
}

void vsock_dev_done(struct vsock_dev *d)
{
	if (!d->uds_base)
		return;
	vsock_dev_reset(d);
	free(d->uds_base);
	d->uds_base = NULL;
}

void vsock_dev_set_queues(struct vsock_dev *d, struct virtq *rx, struct virtq *tx)
{
	d->rx = rx;
	d->tx = tx;
}

bool vsock_dev_ready(const struct vsock_dev *d)
{
	return virtq_usable(d->rx) && virtq_usable(d->tx);
}

struct conn *vsock_dev_lookup(const struct vsock_dev *d, uint32_t local_port, uint32_t peer_port)
{
	const struct list *b = &d->hash[vsock_dev_hash(local_port, peer_port)];

	for (const struct list *p = b->next; p != b; p = p->next) {
		struct conn *c = list_entry(p, struct conn, hnode);

		if (c->local_port == local_port && c->peer_port == peer_port)
			return c;
	}
	return NULL;
}

void vsock_dev_queue_rst(struct vsock_dev *d, uint32_t local_port, uint32_t peer_port)
{
	if (d->rst_count == VSOCK_ORPHAN_RSTS) {
		vlog_warning("vsock: RST queue full: RST %u->%u dropped", local_port, peer_port);
		return;
	}
	d->rsts[(d->rst_head + d->rst_count++) % VSOCK_ORPHAN_RSTS] =
		(struct vsock_rst_key){ local_port, peer_port };
}

static bool port_in_use(const struct vsock_dev *d, uint32_t port)
{
	for (const struct list *p = d->conns.next; p != &d->conns; p = p->next)
		if (list_entry(p, struct conn, node)->local_port == port)
			return true;
	return false;
}

/* Round robin through [2^30, 2^31), skipping ports live connections use (Firecracker). */
static uint32_t alloc_port(struct vsock_dev *d)
{
	for (;;) {
		uint32_t port = d->next_port;

		d->next_port = port >= VSOCK_LAST_HOST_PORT ? VSOCK_FIRST_HOST_PORT : port + 1;
		if (!port_in_use(d, port))
			return port;
	}
}

int64_t vsock_dev_host_connect(struct vsock_dev *d, int fd, uint32_t port)
{
	struct conn *c;

	if (!vsock_dev_ready(d) || d->nconns >= d->cfg.max_conns) {
		vlog_warning("vsock: host connect to guest port %u refused: %s", port,
			     vsock_dev_ready(d) ? "too many connections" : "device not running");
		close(fd);
		return -ECONNREFUSED;
	}
	c = conn_new(d, alloc_port(d), port, fd, CONN_LOCAL_INIT);
	if (!c)
		return -ENOMEM;
	c->deadline_ms = evloop_now_ms() + d->cfg.request_timeout_ms;
	conn_queue(c, CONN_PEND_REQUEST);
	vlog_debug("vsock: host client -> guest port %u as local port %u", port, c->local_port);
	return c->local_port;
}

/* A guest connect(2, P): reach <base>_P; RESPONSE on success, RST when nobody listens. */
static void guest_request(struct vsock_dev *d, const struct vsock_hdr *h)
{
	struct conn *c;
	int fd = -1, r;

	if (d->nconns >= d->cfg.max_conns) {
		vlog_warning("vsock: guest connect to port %u refused: too many connections",
			     h->dst_port);
		vsock_dev_queue_rst(d, h->dst_port, h->src_port);
		return;
	}
	r = hybrid_connect(d->uds_base, h->dst_port, &fd);
	if (r < 0 && r != -EAGAIN) {
		vlog_debug("vsock: guest connect to %s_%u: %s", d->uds_base, h->dst_port,
			   strerror(-r));
		vsock_dev_queue_rst(d, h->dst_port, h->src_port);
		return;
	}
	c = conn_new(d, h->dst_port, h->src_port, -1, CONN_CONNECTING);
	if (!c) {
		if (fd >= 0)
			close(fd);
		vsock_dev_queue_rst(d, h->dst_port, h->src_port);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (r == 0) {
		conn_connected(c, fd);
		return;
	}
	/* The listener's backlog is full: retry until connect_timeout_ms (guest waits 2 s). */
	c->deadline_ms = evloop_now_ms() + 10;
	c->give_up_ms = evloop_now_ms() + d->cfg.connect_timeout_ms;
}

void vsock_dev_tx_packet(struct vsock_dev *d, const struct vsock_hdr *h,
			 const struct iovec *payload, unsigned n)
{
	struct conn *c;

	vlog_trace("vsock: guest %s %u->%u len %u flags %u buf_alloc %u fwd_cnt %u",
		   vsock_op_name(h->op), h->src_port, h->dst_port, h->len, h->flags, h->buf_alloc,
		   h->fwd_cnt);
	if (h->src_cid != d->cfg.guest_cid || h->dst_cid != VSOCK_CID_HOST) {
		vlog_debug("vsock: packet %llu:%u -> %llu:%u not for the host: dropped",
			   (unsigned long long)h->src_cid, h->src_port,
			   (unsigned long long)h->dst_cid, h->dst_port);
		return;
	}
	c = vsock_dev_lookup(d, h->dst_port, h->src_port);
	if (h->type != VSOCK_TYPE_STREAM) {
		if (h->op == VSOCK_OP_RST)
			return;
		if (c)
			conn_kill(c, true);
		else
			vsock_dev_queue_rst(d, h->dst_port, h->src_port);
		return;
	}
	if (c) {
		conn_on_packet(c, h, payload, n);
		return;
	}
	switch (h->op) {
	case VSOCK_OP_REQUEST:
		guest_request(d, h);
		break;
	case VSOCK_OP_RST:
		break; /* never answer an RST with an RST */
	default:
		vsock_dev_queue_rst(d, h->dst_port, h->src_port);
		break;
	}
}

bool vsock_dev_rx_pending(const struct vsock_dev *d)
{
	return d->rst_count || d->npending;
}

int vsock_dev_rx_packet(struct vsock_dev *d, const struct iovec *buf, unsigned n,
			struct vsock_hdr *ret_hdr, size_t *ret_len)
{
	size_t space = iov_length(buf, n);
	uint8_t raw[VSOCK_HDR_LEN];
	struct vsock_hdr h;
	bool found = false;

	if (space < VSOCK_HDR_LEN)
		return -EINVAL;
	if (d->rst_count) {
		struct vsock_rst_key k = d->rsts[d->rst_head];

		d->rst_head = (d->rst_head + 1) % VSOCK_ORPHAN_RSTS;
		d->rst_count--;
		h = (struct vsock_hdr){ .src_cid = VSOCK_CID_HOST,
					.dst_cid = d->cfg.guest_cid,
					.src_port = k.local_port,
					.dst_port = k.peer_port,
					.type = VSOCK_TYPE_STREAM,
					.op = VSOCK_OP_RST };
		found = true;
	}
	/* Each pending connection gets at most one try per call; served ones go to the back. */
	for (unsigned budget = d->npending; !found && budget > 0 && d->npending; budget--) {
		struct conn *c = list_entry(d->pending.next, struct conn, pnode);

		found = conn_fill(c, buf, n, space, &h) > 0;
		if (list_linked(&c->pnode)) {
			list_del(&c->pnode);
			if (c->pending)
				list_add_tail(&d->pending, &c->pnode);
			else
				d->npending--;
		}
		conn_update_interest(c);
	}
	if (!found)
		return 0;
	vlog_trace("vsock: host %s %u->%u len %u flags %u buf_alloc %u fwd_cnt %u",
		   vsock_op_name(h.op), h.src_port, h.dst_port, h.len, h.flags, h.buf_alloc,
		   h.fwd_cnt);
	vsock_hdr_encode(&h, raw);
	iov_from_buf(buf, n, 0, raw, sizeof(raw));
	*ret_hdr = h;
	*ret_len = VSOCK_HDR_LEN + (size_t)h.len;
	return 1;
}

/* One TX chain: header (possibly split across descriptors) + payload stream. */
static void tx_chain(struct vsock_dev *d, const struct virtq_chain *ch)
{
	uint8_t raw[VSOCK_HDR_LEN];
	struct vsock_hdr h;
	unsigned m;

	if (ch->out_len < VSOCK_HDR_LEN) {
		vlog_warning("vsock: TX chain of %zu bytes has no header: dropped", ch->out_len);
		return;
	}
	iov_to_buf(ch->out, ch->nout, 0, raw, sizeof(raw));
	vsock_hdr_decode(raw, &h);
	if (h.len > ch->out_len - VSOCK_HDR_LEN) {
		vlog_warning("vsock: TX packet claims %u payload bytes but carries %zu: dropped",
			     h.len, ch->out_len - VSOCK_HDR_LEN);
		return;
	}
	if (h.op != VSOCK_OP_RW)
		h.len = 0;
	m = iov_slice(ch->out, ch->nout, VSOCK_HDR_LEN, h.len, d->scratch, VIRTQ_MAX_SEGS);
	vsock_dev_tx_packet(d, &h, d->scratch, m);
}

static void drain_tx(struct vsock_dev *d)
{
	struct virtq *vq = d->tx;
	int r;

	if (!virtq_usable(vq))
		return;
	do {
		while ((r = virtq_pop(vq, &d->chain)) > 0) {
			tx_chain(d, &d->chain);
			virtq_push(vq, d->chain.head, 0);
		}
	} while (r == 0 && virtq_enable_notify(vq));
	virtq_notify(vq);
}

static void fill_rx(struct vsock_dev *d)
{
	struct virtq *vq = d->rx;

	if (!virtq_usable(vq))
		return;
	while (vsock_dev_rx_pending(d)) {
		struct virtq_chain *ch = &d->chain;
		struct vsock_hdr h;
		size_t len;
		int r = virtq_pop(vq, ch);

		if (r < 0)
			break;
		if (r == 0) {
			/* Out of buffers: ask for a kick when the guest posts more. */
			if (virtq_enable_notify(vq))
				continue;
			break;
		}
		if (ch->nout || ch->in_len < VSOCK_HDR_LEN) {
			vlog_warning("vsock: RX buffer unusable (%u readable, %zu writable bytes)",
				     ch->nout, ch->in_len);
			virtq_push(vq, ch->head, 0);
			continue;
		}
		r = vsock_dev_rx_packet(d, ch->in, ch->nin, &h, &len);
		if (r <= 0) {
			virtq_unpop(vq);
			break;
		}
		virtq_push(vq, ch->head, (uint32_t)len);
	}
	virtq_notify(vq);
}

void vsock_dev_gc(struct vsock_dev *d)
{
	struct list *p, *t;

	list_for_each_safe(p, t, &d->conns)
	{
		struct conn *c = list_entry(p, struct conn, node);

		if (c->state == CONN_DEAD && !c->pending && c->fd < 0)
			conn_free(c);
	}
}

void vsock_dev_process(struct vsock_dev *d)
{
	drain_tx(d);
	fill_rx(d);
	vsock_dev_gc(d);
}

int vsock_dev_timeout(const struct vsock_dev *d, int64_t now)
{
	int64_t best = -1;

	for (const struct list *p = d->conns.next; p != &d->conns; p = p->next) {
		const struct conn *c = list_entry(p, struct conn, node);
		int64_t left;

		if (!c->deadline_ms)
			continue;
		left = c->deadline_ms > now ? c->deadline_ms - now : 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best > INT32_MAX ? INT32_MAX : (int)best;
}

void vsock_dev_expire(struct vsock_dev *d, int64_t now)
{
	struct list *p, *t;

	list_for_each_safe(p, t, &d->conns) conn_expire(list_entry(p, struct conn, node), now);
}
