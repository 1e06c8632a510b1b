/*
 * Unit tests of host/vsock/conn and vsock_dev: the connection state machine and credit, driven
 * at the packet level (spec 7.1 item 4). The test plays the guest (feeds headers, collects the
 * device's packets) and the host programs (Unix listeners <base>_<port>, socketpairs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "conn.h"
#include "evloop.h"
#include "hybrid.h"
#include "test_vsock_guest.h"
#include "testutil.h"
#include "vsock_dev.h"
#include "vsock_pkt.h"

#define CID 3
#define GPORT 50000u
#define HPORT 1234u
#define T 2000 /* ms: every wait is bounded by this */

static char dir[64], base[128];
static struct evloop loop;
static struct vsock_dev dev;
static struct virtq fake_rx, fake_tx;
static uint8_t dummy_ring;
static struct vsock_dev_config cfg;
static uint8_t pkt[VSOCK_HDR_LEN + 65536];

/* The guest end of one connection. */
struct gsock {
	uint32_t gport, hport;
	uint32_t buf_alloc; /* the guest's receive buffer */
	uint32_t fwd_cnt; /* bytes the guest application consumed */
	uint32_t tx_cnt; /* bytes the guest sent */
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* from the device's last packet */
};

static void start_dev(void)
{
	ck_assert_int_eq(evloop_init(&loop), 0);
	ck_assert_int_eq(vsock_dev_init(&dev, &loop, &cfg), 0);
	virtq_reset(&fake_rx);
	virtq_reset(&fake_tx);
	/* Marked usable so host connects are accepted; the test never lets the device touch them. */
	fake_rx.desc = fake_tx.desc = &dummy_ring;
	fake_rx.ready = fake_tx.ready = true;
	vsock_dev_set_queues(&dev, &fake_rx, &fake_tx);
}

static void setup(void)
{
	fg_tmpdir_clean();
	snprintf(dir, sizeof(dir), "%s", fg_tmpdir);
	snprintf(base, sizeof(base), "%s/hv", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.guest_cid = CID;
	cfg.uds_base = base;
	cfg.buf_alloc = 65536;
	cfg.request_timeout_ms = 300;
	cfg.close_timeout_ms = 300;
	cfg.connect_timeout_ms = 300;
	cfg.linger_timeout_ms = 1000;
	start_dev();
}

static void teardown(void)
{
	vsock_dev_done(&dev);
	evloop_done(&loop);
	fg_tmpdir_clean();
}

static void pump(int ms)
{
	int64_t now = evloop_now_ms();
	int t = vsock_dev_timeout(&dev, now);

	if (t < 0 || t > ms)
		t = ms;
	evloop_run_once(&loop, t);
	vsock_dev_expire(&dev, evloop_now_ms());
	vsock_dev_gc(&dev);
}

/*
 * The next packet for the guest, into an RX buffer of space bytes (payload copied to pkt+44).
 * Pumps the loop up to ms. The encoded header must match the returned one.
 */
static int next_pkt(struct vsock_hdr *h, size_t space, int ms)
{
	int64_t end = evloop_now_ms() + ms;

	for (;;) {
		struct iovec iov = { pkt, space };
		struct vsock_hdr enc;
		size_t len;
		int r;

		memset(pkt, 0xee, VSOCK_HDR_LEN);
		r = vsock_dev_rx_packet(&dev, &iov, 1, h, &len);
		ck_assert_int_ge(r, 0);
		if (r == 1) {
			vsock_hdr_decode(pkt, &enc);
			ck_assert_uint_eq(enc.op, h->op);
			ck_assert_uint_eq(enc.len, h->len);
			ck_assert_uint_eq(enc.fwd_cnt, h->fwd_cnt);
			ck_assert_uint_eq(len, VSOCK_HDR_LEN + h->len);
			ck_assert_uint_le(len, space);
			ck_assert_uint_eq(h->src_cid, VSOCK_CID_HOST);
			ck_assert_uint_eq(h->dst_cid, CID);
			ck_assert_uint_eq(h->type, VSOCK_TYPE_STREAM);
			return 1;
		}
		if (evloop_now_ms() >= end)
			return 0;
		pump(5);
	}
}

static void expect_pkt(struct vsock_hdr *h, uint16_t op, size_t space)
{
	ck_assert_msg(next_pkt(h, space, T) == 1, "no %s from the device", vsock_op_name(op));
	ck_assert_msg(h->op == op, "got %s, wanted %s", vsock_op_name(h->op), vsock_op_name(op));
}

static void expect_none(int ms)
{
	struct vsock_hdr h;

	ck_assert_msg(next_pkt(&h, sizeof(pkt), ms) == 0, "unexpected %s", vsock_op_name(h.op));
}

static void gs_init(struct gsock *s, uint32_t gport, uint32_t hport)
{
	memset(s, 0, sizeof(*s));
	s->gport = gport;
	s->hport = hport;
	s->buf_alloc = 262144;
}

static void gs_send_typed(struct gsock *s, uint16_t type, uint16_t op, uint32_t flags,
			  const void *data, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = CID,
			       .dst_cid = VSOCK_CID_HOST,
			       .src_port = s->gport,
			       .dst_port = s->hport,
			       .len = len,
			       .type = type,
			       .op = op,
			       .flags = flags,
			       .buf_alloc = s->buf_alloc,
			       .fwd_cnt = s->fwd_cnt };
	struct iovec iov = { (void *)data, len };

	vsock_dev_tx_packet(&dev, &h, &iov, len ? 1 : 0);
	if (op == VSOCK_OP_RW)
		s->tx_cnt += len;
}

static void gs_send(struct gsock *s, uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
	gs_send_typed(s, VSOCK_TYPE_STREAM, op, flags, data, len);
}

/* A packet for s: ports right, credit fields recorded. */
static void gs_got(struct gsock *s, const struct vsock_hdr *h)
{
	ck_assert_uint_eq(h->src_port, s->hport);
	ck_assert_uint_eq(h->dst_port, s->gport);
	s->peer_buf_alloc = h->buf_alloc;
	s->peer_fwd_cnt = h->fwd_cnt;
}

static uint32_t gs_credit(const struct gsock *s)
{
	return vsock_peer_free(s->peer_buf_alloc, s->tx_cnt, s->peer_fwd_cnt);
}

static int listen_port(uint32_t port, int backlog)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(hybrid_port_addr(base, port, &sa, &len), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(listen(fd, backlog), 0);
	return fd;
}

static int accept_within(int lfd, int ms)
{
	ck_assert_msg(fg_poll(lfd, POLLIN, ms) & POLLIN, "no connection on the listener");
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Guest REQUEST to a listening host port: RESPONSE, and the host side accepted. */
static int establish(struct gsock *s, int lfd)
{
	struct vsock_hdr h;
	int fd;

	gs_send(s, VSOCK_OP_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_RESPONSE, sizeof(pkt));
	gs_got(s, &h);
	ck_assert_uint_eq(h.buf_alloc, cfg.buf_alloc);
	ck_assert_uint_eq(h.fwd_cnt, 0);
	fd = accept_within(lfd, T);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static struct conn *conn_of(const struct gsock *s)
{
	return vsock_dev_lookup(&dev, s->hport, s->gport);
}

/* Reads exactly n bytes from fd (blocking with a bounded wait per chunk). */
static void read_exact(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r;

		ck_assert_msg(fg_poll(fd, POLLIN, T) & (POLLIN | POLLHUP), "host read timed out");
		r = read(fd, (uint8_t *)buf + done, n - done);
		ck_assert_int_gt(r, 0);
		done += (size_t)r;
	}
}

static void expect_eof(int fd)
{
	char c;

	ck_assert_msg(fg_poll(fd, POLLIN, T) & (POLLIN | POLLHUP), "no EOF on the host side");
	ck_assert_int_le(read(fd, &c, 1), 0);
}

START_TEST(test_request_response)
{
	struct gsock s;
	int lfd = listen_port(HPORT, 8), fd;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	ck_assert_ptr_nonnull(conn_of(&s));
	ck_assert_int_eq(conn_of(&s)->state, CONN_ESTABLISHED);
	ck_assert_uint_eq(conn_of(&s)->peer_buf_alloc, 262144);
	expect_none(50);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_request_refused)
{
	struct gsock s;
	struct vsock_hdr h;
	int fd;

	/* Nobody at <base>_1234: RST at once (the guest sees ECONNRESET, not a 2 s timeout). */
	gs_init(&s, GPORT, HPORT);
	gs_send(&s, VSOCK_OP_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	gs_got(&s, &h);
	ck_assert_ptr_null(conn_of(&s));
	ck_assert_uint_eq(dev.nconns, 0);
	/* A socket file nobody listens on: ECONNREFUSED, also RST. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_un sa;
		socklen_t len;

		hybrid_port_addr(base, HPORT, &sa, &len);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	}
	gs_send(&s, VSOCK_OP_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	expect_none(20);
	close(fd);
}
END_TEST

START_TEST(test_unknown_key)
{
	static const uint16_t ops[] = {
		VSOCK_OP_RESPONSE,	VSOCK_OP_SHUTDOWN,	 VSOCK_OP_RW,
		VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_CREDIT_REQUEST, 42
	};
	struct gsock s;
	struct vsock_hdr h;

	gs_init(&s, GPORT, HPORT);
	/* RST to an unknown key: nothing (never answer RST with RST). */
	gs_send(&s, VSOCK_OP_RST, 0, NULL, 0);
	expect_none(30);
	/* Any other op: RST. */
	for (unsigned i = 0; i < ARRAY_SIZE(ops); i++) {
		gs_send(&s, ops[i], 0, "x", ops[i] == VSOCK_OP_RW ? 1 : 0);
		expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
		gs_got(&s, &h);
	}
	expect_none(20);
}
END_TEST

START_TEST(test_seqpacket_and_foreign_cids)
{
	int lfd = listen_port(HPORT, 8);
	struct gsock s;
	struct vsock_hdr h, bad;
	struct iovec none = { NULL, 0 };

	gs_init(&s, GPORT, HPORT);
	/* type 2 (SEQPACKET, not negotiated): RST, no Unix connect. */
	gs_send_typed(&s, VSOCK_TYPE_SEQPACKET, VSOCK_OP_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	gs_send_typed(&s, VSOCK_TYPE_SEQPACKET, VSOCK_OP_RST, 0, NULL, 0);
	expect_none(20);
	ck_assert_int_eq(fg_poll(lfd, POLLIN, 0), 0);
	/* Not from our guest, or not for the host: dropped silently. */
	bad = (struct vsock_hdr){ .src_cid = 7,
				  .dst_cid = 2,
				  .src_port = GPORT,
				  .dst_port = HPORT,
				  .type = 1,
				  .op = VSOCK_OP_REQUEST };
	vsock_dev_tx_packet(&dev, &bad, &none, 0);
	bad.src_cid = CID;
	bad.dst_cid = 9;
	vsock_dev_tx_packet(&dev, &bad, &none, 0);
	expect_none(30);
	ck_assert_int_eq(fg_poll(lfd, POLLIN, 0), 0);
	close(lfd);
}
END_TEST

START_TEST(test_credit_request_answered)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;
	struct vsock_hdr h;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	gs_send(&s, VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_CREDIT_UPDATE, sizeof(pkt));
	ck_assert_uint_eq(h.buf_alloc, 65536);
	ck_assert_uint_eq(h.fwd_cnt, 0);
	expect_none(20);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_guest_to_host_data)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;
	struct vsock_hdr h;
	char got[16];

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	gs_send(&s, VSOCK_OP_RW, 0, "hello", 5);
	gs_send(&s, VSOCK_OP_RW, 0, " world", 6);
	read_exact(fd, got, 11);
	ck_assert_mem_eq(got, "hello world", 11);
	/* fwd_cnt counts what reached the Unix socket. */
	ck_assert_uint_eq(conn_of(&s)->fwd_cnt, 11);
	gs_send(&s, VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_CREDIT_UPDATE, sizeof(pkt));
	ck_assert_uint_eq(h.fwd_cnt, 11);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_host_to_guest_respects_rx_buffer)
{
	int lfd = listen_port(HPORT, 8), fd;
	static uint8_t data[10000], got[10000];
	struct gsock s;
	struct vsock_hdr h;
	size_t have = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	ck_assert_int_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	/* Debian 6.1 posts 3776-byte RX buffers: at most 3732 payload bytes each (spec 3.5). */
	while (have < sizeof(data)) {
		expect_pkt(&h, VSOCK_OP_RW, 3776);
		gs_got(&s, &h);
		ck_assert_uint_le(h.len, 3732);
		memcpy(got + have, pkt + VSOCK_HDR_LEN, h.len);
		have += h.len;
	}
	ck_assert_mem_eq(got, data, sizeof(data));
	ck_assert_uint_eq(conn_of(&s)->rx_cnt, sizeof(data));
	expect_none(20);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_host_to_guest_respects_credit)
{
	int lfd = listen_port(HPORT, 8), fd;
	static uint8_t data[5000], got[5000];
	struct gsock s;
	struct vsock_hdr h;
	size_t have = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	gs_init(&s, GPORT, HPORT);
	s.buf_alloc = 1000;
	fd = establish(&s, lfd);
	ck_assert_int_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	while (have < sizeof(data)) {
		uint32_t window = 1000;

		/* The device may send at most our buffer's worth... */
		while (window) {
			expect_pkt(&h, VSOCK_OP_RW, sizeof(pkt));
			ck_assert_uint_le(h.len, window);
			memcpy(got + have, pkt + VSOCK_HDR_LEN, h.len);
			have += h.len;
			window -= h.len;
			if (have == sizeof(data))
				break;
		}
		if (have == sizeof(data))
			break;
		/* ...then asks once for credit and waits, the bytes staying in the socket. */
		expect_pkt(&h, VSOCK_OP_CREDIT_REQUEST, sizeof(pkt));
		expect_none(50);
		/* The guest application reads: CREDIT_UPDATE opens the window again. */
		s.fwd_cnt = (uint32_t)have;
		gs_send(&s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
	}
	ck_assert_mem_eq(got, data, sizeof(data));
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_counters_wrap)
{
	int lfd = listen_port(HPORT, 8), fd;
	static uint8_t data[3000], got[3000];
	struct gsock s;
	struct vsock_hdr h;
	struct conn *c;
	size_t have = 0;

	gs_init(&s, GPORT, HPORT);
	s.buf_alloc = 1024;
	fd = establish(&s, lfd);
	c = conn_of(&s);
	/* Both directions' counters start just below 2^32. */
	c->rx_cnt = c->peer_fwd_cnt = s.fwd_cnt = 0xfffffe00u;
	c->fwd_cnt = c->last_fwd_cnt_sent = 0xffffff00u;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5a);
	ck_assert_int_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	while (have < sizeof(data)) {
		ck_assert_int_eq(next_pkt(&h, sizeof(pkt), T), 1);
		if (h.op == VSOCK_OP_CREDIT_REQUEST) {
			gs_send(&s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
			continue;
		}
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		/* Never beyond credit, computed across the wrap. */
		ck_assert_uint_le(h.len, vsock_peer_free(1024, c->rx_cnt - h.len, s.fwd_cnt));
		memcpy(got + have, pkt + VSOCK_HDR_LEN, h.len);
		have += h.len;
		s.fwd_cnt += h.len;
		gs_send(&s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
	}
	ck_assert_mem_eq(got, data, sizeof(data));
	ck_assert_uint_eq(c->rx_cnt, 0xfffffe00u + 3000u);
	/* Guest -> host across the wrap: fwd_cnt 0xffffff00 + 512 = 0x100. */
	gs_send(&s, VSOCK_OP_RW, 0, data, 512);
	read_exact(fd, got, 512);
	gs_send(&s, VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_CREDIT_UPDATE, sizeof(pkt));
	ck_assert_uint_eq(h.fwd_cnt, 0x100);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_proactive_credit_update)
{
	int lfd = listen_port(HPORT, 8), fd;
	static uint8_t data[65536], sink[65536];
	struct gsock s;
	struct vsock_hdr h;
	const uint32_t below = 65536 - 65536 / 4; /* the guest still sees exactly 1/4 free */

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	gs_send(&s, VSOCK_OP_RW, 0, data, below);
	read_exact(fd, sink, below);
	expect_none(30);
	/* One more byte: the guest's view of our space drops below buf_alloc / 4. */
	gs_send(&s, VSOCK_OP_RW, 0, data, 1);
	read_exact(fd, sink, 1);
	expect_pkt(&h, VSOCK_OP_CREDIT_UPDATE, sizeof(pkt));
	ck_assert_uint_eq(h.fwd_cnt, below + 1);
	expect_none(20);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_guest_buf_alloc_change)
{
	int lfd = listen_port(HPORT, 8), fd;
	static uint8_t data[4000];
	struct gsock s;
	struct vsock_hdr h;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	/* SO_VM_SOCKETS_BUFFER_SIZE in the guest: a CREDIT_UPDATE with a smaller buffer. */
	s.buf_alloc = 100;
	gs_send(&s, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
	ck_assert_int_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	expect_pkt(&h, VSOCK_OP_RW, sizeof(pkt));
	ck_assert_uint_eq(h.len, 100);
	expect_pkt(&h, VSOCK_OP_CREDIT_REQUEST, sizeof(pkt));
	expect_none(30);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_guest_shutdown_send)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;
	struct vsock_hdr h;
	char got[8];

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	gs_send(&s, VSOCK_OP_RW, 0, "last", 4);
	gs_send(&s, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND, NULL, 0);
	read_exact(fd, got, 4);
	ck_assert_mem_eq(got, "last", 4);
	/* The host reader sees EOF... */
	expect_eof(fd);
	/* ...and can still answer. */
	ck_assert_int_eq(write(fd, "reply", 5), 5);
	expect_pkt(&h, VSOCK_OP_RW, sizeof(pkt));
	ck_assert_uint_eq(h.len, 5);
	ck_assert_mem_eq(pkt + VSOCK_HDR_LEN, "reply", 5);
	/* Data after SHUTDOWN SEND is a guest bug: not delivered. */
	gs_send(&s, VSOCK_OP_RW, 0, "late", 4);
	close(fd);
	expect_pkt(&h, VSOCK_OP_SHUTDOWN, sizeof(pkt));
	ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_BOTH);
	close(lfd);
}
END_TEST

START_TEST(test_guest_close_flushes_then_rst)
{
	int lfd = listen_port(HPORT, 8), fd;
	static uint8_t data[60000], got[60000];
	struct gsock s;
	struct vsock_hdr h;
	struct conn *c;
	int small = 4096;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3);
	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	c = conn_of(&s);
	/* A host reader that is not reading yet: part of the data waits in our buffer. */
	ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	gs_send(&s, VSOCK_OP_RW, 0, data, sizeof(data));
	ck_assert_uint_gt(c->txlen, 0);
	gs_send(&s, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, NULL, 0);
	/* The guest gets its RST at once; the key is free again. */
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	gs_got(&s, &h);
	ck_assert_ptr_null(conn_of(&s));
	/* The host reader still gets every byte, then EOF. */
	for (size_t have = 0; have < sizeof(data);) {
		ssize_t r;

		pump(5);
		r = recv(fd, got + have, sizeof(got) - have, MSG_DONTWAIT);
		if (r > 0)
			have += (size_t)r;
		else
			ck_assert_int_eq(errno, EAGAIN);
	}
	ck_assert_mem_eq(got, data, sizeof(data));
	for (int i = 0; i < 50 && dev.nconns; i++)
		pump(5);
	expect_eof(fd);
	ck_assert_uint_eq(dev.nconns, 0);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_host_shut_wr)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;
	struct vsock_hdr h;
	char got[4];

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	ck_assert_int_eq(write(fd, "bye", 3), 3);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	expect_pkt(&h, VSOCK_OP_RW, sizeof(pkt));
	ck_assert_mem_eq(pkt + VSOCK_HDR_LEN, "bye", 3);
	expect_pkt(&h, VSOCK_OP_SHUTDOWN, sizeof(pkt));
	ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_SEND);
	/* The guest can still send; the host still reads. */
	gs_send(&s, VSOCK_OP_RW, 0, "ack", 3);
	read_exact(fd, got, 3);
	ck_assert_mem_eq(got, "ack", 3);
	expect_none(30);
	ck_assert_int_eq(conn_of(&s)->state, CONN_ESTABLISHED);
	/* The guest closes too: RST, and the host sees EOF. */
	gs_send(&s, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, NULL, 0);
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	expect_eof(fd);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_host_close_then_expiry)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;
	struct vsock_hdr h;
	int64_t t0;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	close(fd);
	expect_pkt(&h, VSOCK_OP_SHUTDOWN, sizeof(pkt));
	ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_BOTH);
	ck_assert_int_eq(conn_of(&s)->state, CONN_CLOSING);
	/* No RST from the guest within close_timeout_ms: ours. */
	t0 = evloop_now_ms();
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	ck_assert_int_ge(evloop_now_ms() - t0, 250);
	pump(0);
	ck_assert_ptr_null(conn_of(&s));
	ck_assert_uint_eq(dev.nconns, 0);
	close(lfd);
}
END_TEST

START_TEST(test_host_close_then_guest_rst)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;
	struct vsock_hdr h;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	ck_assert_int_eq(write(fd, "tail", 4), 4);
	close(fd);
	/* Data first, then the close. */
	expect_pkt(&h, VSOCK_OP_RW, sizeof(pkt));
	ck_assert_mem_eq(pkt + VSOCK_HDR_LEN, "tail", 4);
	expect_pkt(&h, VSOCK_OP_SHUTDOWN, sizeof(pkt));
	ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_BOTH);
	/* Guest data now is moot; its RST ends the connection without another packet. */
	gs_send(&s, VSOCK_OP_RW, 0, "x", 1);
	gs_send(&s, VSOCK_OP_RST, 0, NULL, 0);
	expect_none(400);
	ck_assert_uint_eq(dev.nconns, 0);
	close(lfd);
}
END_TEST

START_TEST(test_guest_rst_closes_host)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	gs_send(&s, VSOCK_OP_RST, 0, NULL, 0);
	expect_eof(fd);
	expect_none(20);
	ck_assert_ptr_null(conn_of(&s));
	ck_assert_uint_eq(dev.nconns, 0);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_request_on_live_key)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;
	struct vsock_hdr h;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	gs_send(&s, VSOCK_OP_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	expect_eof(fd);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_write_failure_rst)
{
	int lfd = listen_port(HPORT, 8), fd;
	struct gsock s;
	struct vsock_hdr h;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	/* The host closed; the guest writes before the device noticed: EPIPE -> RST. */
	close(fd);
	gs_send(&s, VSOCK_OP_RW, 0, "lost", 4);
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	expect_none(20);
	ck_assert_uint_eq(dev.nconns, 0);
	close(lfd);
}
END_TEST

/*
 * A host reader that stops reading while the guest streams 10 MiB: nothing is dropped, no RST,
 * the guest is credited only for bytes that reached the socket, and it all arrives in order.
 */
START_TEST(test_backpressure_slow_reader)
{
	const size_t total = 10u << 20;
	int lfd = listen_port(HPORT, 8), fd;
	static uint8_t chunk[65536], got[65536];
	uint64_t sent = 0, rcvd = 0, sum_tx = 0, sum_rx = 0;
	int small = 4096, stalls = 0;
	struct gsock s;
	struct vsock_hdr h;
	struct conn *c;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	c = conn_of(&s);
	ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while (rcvd < total) {
		uint32_t credit = gs_credit(&s);
		size_t n = total - sent;

		/* The guest sends what its credit allows, in Linux-sized packets. */
		if (n > credit)
			n = credit;
		if (n > sizeof(chunk))
			n = sizeof(chunk);
		if (n) {
			for (size_t i = 0; i < n; i++)
				chunk[i] = (uint8_t)((sent + i) * 31 + ((sent + i) >> 16));
			for (size_t i = 0; i < n; i++)
				sum_tx = sum_tx * 33 + chunk[i];
			gs_send(&s, VSOCK_OP_RW, 0, chunk, (uint32_t)n);
			sent += n;
		} else if (sent < total) {
			stalls++;
		}
		/* Phase 1 (first 2 MiB): the reader sleeps until the guest has no credit left. */
		if (rcvd < (2u << 20) && credit == 0 && stalls < 3) {
			/* No credit and no RST while the reader sleeps. */
			ck_assert_int_eq(next_pkt(&h, sizeof(pkt), 30), 0);
			ck_assert_uint_le(c->txlen, c->buf_alloc);
		}
		if (credit == 0 || rcvd >= (2u << 20) || stalls >= 3) {
			ssize_t r = read(fd, got, 4096); /* a slow reader: 4 KiB at a time */

			if (r > 0) {
				for (ssize_t i = 0; i < r; i++)
					sum_rx = sum_rx * 33 + got[i];
				rcvd += (uint64_t)r;
			}
		}
		pump(0);
		while (next_pkt(&h, sizeof(pkt), 0) == 1) {
			ck_assert_msg(h.op == VSOCK_OP_CREDIT_UPDATE, "got %s",
				      vsock_op_name(h.op));
			gs_got(&s, &h);
			/* Never credited beyond what reached the Unix socket. */
			ck_assert_uint_eq(h.fwd_cnt, c->fwd_cnt);
			ck_assert_uint_le(h.fwd_cnt, (uint32_t)(sent - c->txlen));
		}
		if (credit == 0 && c->txlen == 0 && rcvd == sent && sent < total) {
			/* Everything flushed and read: the update must come. */
			ck_assert_int_eq(next_pkt(&h, sizeof(pkt), T), 1);
			gs_got(&s, &h);
		}
	}
	ck_assert_uint_ge(stalls, 1);
	ck_assert_uint_eq(rcvd, total);
	ck_assert_uint_eq(sum_rx, sum_tx);
	ck_assert_uint_eq(c->fwd_cnt, (uint32_t)total);
	ck_assert_int_eq(c->state, CONN_ESTABLISHED);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_guest_overrunning_credit_reset)
{
	int lfd = listen_port(HPORT, 8), fd;
	static uint8_t data[65536];
	int small = 4096;
	struct gsock s;
	struct vsock_hdr h;

	gs_init(&s, GPORT, HPORT);
	fd = establish(&s, lfd);
	ck_assert_int_eq(setsockopt(conn_of(&s)->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
			 0);
	/* 64 KiB is all the credit; a guest ignoring it gets RST, not silent loss. */
	gs_send(&s, VSOCK_OP_RW, 0, data, sizeof(data));
	gs_send(&s, VSOCK_OP_RW, 0, data, sizeof(data));
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	ck_assert_ptr_null(conn_of(&s));
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_reset_closes_every_socket)
{
	int lfd = listen_port(HPORT, 8), fd1, fd2;
	struct gsock a, b;

	gs_init(&a, GPORT, HPORT);
	gs_init(&b, GPORT + 1, HPORT);
	fd1 = establish(&a, lfd);
	fd2 = establish(&b, lfd);
	ck_assert_uint_eq(dev.nconns, 2);
	ck_assert_int_eq(write(fd1, "pending", 7), 7);
	pump(10);
	vsock_dev_reset(&dev);
	ck_assert_uint_eq(dev.nconns, 0);
	ck_assert(!vsock_dev_rx_pending(&dev));
	expect_eof(fd1);
	expect_eof(fd2);
	expect_none(20);
	close(fd1);
	close(fd2);
	close(lfd);
}
END_TEST

START_TEST(test_host_initiated)
{
	int sp[2];
	struct gsock s;
	struct vsock_hdr h;
	char got[32];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	ck_assert_int_eq(fcntl(sp[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(vsock_dev_host_connect(&dev, sp[0], 5000), VSOCK_FIRST_HOST_PORT);
	gs_init(&s, 5000, VSOCK_FIRST_HOST_PORT);
	expect_pkt(&h, VSOCK_OP_REQUEST, sizeof(pkt));
	gs_got(&s, &h);
	ck_assert_uint_eq(h.buf_alloc, 65536);
	ck_assert_uint_eq(h.fwd_cnt, 0);
	/* Nothing reaches the client before the guest accepts. */
	ck_assert_int_eq(fg_poll(sp[1], POLLIN, 30), 0);
	gs_send(&s, VSOCK_OP_RESPONSE, 0, NULL, 0);
	read_exact(sp[1], got, 14);
	ck_assert_mem_eq(got, "OK 1073741824\n", 14);
	ck_assert_int_eq(write(sp[1], "hi", 2), 2);
	expect_pkt(&h, VSOCK_OP_RW, sizeof(pkt));
	ck_assert_mem_eq(pkt + VSOCK_HDR_LEN, "hi", 2);
	gs_send(&s, VSOCK_OP_RW, 0, "yo", 2);
	read_exact(sp[1], got, 2);
	ck_assert_mem_eq(got, "yo", 2);
	close(sp[1]);
	expect_pkt(&h, VSOCK_OP_SHUTDOWN, sizeof(pkt));
}
END_TEST

START_TEST(test_host_initiated_refused_by_guest)
{
	int sp[2];
	struct gsock s;
	struct vsock_hdr h;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	ck_assert_int_eq(fcntl(sp[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_ge(vsock_dev_host_connect(&dev, sp[0], 5000), 0);
	gs_init(&s, 5000, VSOCK_FIRST_HOST_PORT);
	expect_pkt(&h, VSOCK_OP_REQUEST, sizeof(pkt));
	/* No listener in the guest: its RST closes the client without OK. */
	gs_send(&s, VSOCK_OP_RST, 0, NULL, 0);
	expect_eof(sp[1]);
	expect_none(20);
	ck_assert_uint_eq(dev.nconns, 0);
	close(sp[1]);
}
END_TEST

START_TEST(test_host_initiated_expiry)
{
	int sp[2];
	struct vsock_hdr h;
	int64_t t0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	ck_assert_int_eq(fcntl(sp[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_ge(vsock_dev_host_connect(&dev, sp[0], 5000), 0);
	t0 = evloop_now_ms();
	expect_pkt(&h, VSOCK_OP_REQUEST, sizeof(pkt));
	/* The guest never answers: RST after request_timeout_ms, client closed without OK. */
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	ck_assert_int_ge(evloop_now_ms() - t0, 250);
	ck_assert_uint_eq(h.dst_port, 5000);
	expect_eof(sp[1]);
	close(sp[1]);
}
END_TEST

START_TEST(test_port_allocator)
{
	int lfd = listen_port(VSOCK_FIRST_HOST_PORT + 2, 8), sp[2], fds[8], n = 0, hfd;
	struct gsock g;

	/* A guest-initiated connection holds local port 2^30 + 2. */
	gs_init(&g, GPORT, VSOCK_FIRST_HOST_PORT + 2);
	hfd = establish(&g, lfd);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
		fds[n++] = sp[1];
		ck_assert_int_eq(vsock_dev_host_connect(&dev, sp[0], 5000),
				 VSOCK_FIRST_HOST_PORT + (uint32_t)i);
	}
	/* 2^30 + 2 is taken: skipped. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fds[n++] = sp[1];
	ck_assert_int_eq(vsock_dev_host_connect(&dev, sp[0], 5000), VSOCK_FIRST_HOST_PORT + 3);
	/* The top of the range, then the wrap to 2^30 skipping every port in use. */
	dev.next_port = VSOCK_LAST_HOST_PORT;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fds[n++] = sp[1];
	ck_assert_int_eq(vsock_dev_host_connect(&dev, sp[0], 5000), VSOCK_LAST_HOST_PORT);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fds[n++] = sp[1];
	ck_assert_int_eq(vsock_dev_host_connect(&dev, sp[0], 5000), VSOCK_FIRST_HOST_PORT + 4);
	/* A reset restarts the allocator. */
	vsock_dev_reset(&dev);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fds[n++] = sp[1];
	ck_assert_int_eq(vsock_dev_host_connect(&dev, sp[0], 5000), VSOCK_FIRST_HOST_PORT);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	close(hfd);
	close(lfd);
}
END_TEST

START_TEST(test_connection_limit)
{
	int lfd = listen_port(HPORT, 8), fd1, fd2, sp[2];
	struct gsock a, b, c;
	struct vsock_hdr h;

	vsock_dev_done(&dev);
	evloop_done(&loop);
	cfg.max_conns = 2;
	start_dev();
	gs_init(&a, GPORT, HPORT);
	gs_init(&b, GPORT + 1, HPORT);
	gs_init(&c, GPORT + 2, HPORT);
	fd1 = establish(&a, lfd);
	fd2 = establish(&b, lfd);
	gs_send(&c, VSOCK_OP_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	gs_got(&c, &h);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	ck_assert_int_eq(vsock_dev_host_connect(&dev, sp[0], 5000), -ECONNREFUSED);
	expect_eof(sp[1]);
	close(sp[1]);
	close(fd1);
	close(fd2);
	close(lfd);
}
END_TEST

START_TEST(test_not_running_refuses_host_connect)
{
	int sp[2];

	fake_rx.ready = false;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	ck_assert_int_eq(vsock_dev_host_connect(&dev, sp[0], 5000), -ECONNREFUSED);
	expect_eof(sp[1]);
	close(sp[1]);
}
END_TEST

START_TEST(test_full_backlog_retried)
{
	int lfd = listen_port(HPORT, 0), first, fd;
	struct sockaddr_un sa;
	socklen_t len;
	struct gsock s;
	struct vsock_hdr h;

	/* Fill the listener's backlog (0) with a connection nobody accepted yet. */
	first = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	hybrid_port_addr(base, HPORT, &sa, &len);
	ck_assert_int_eq(connect(first, (struct sockaddr *)&sa, len), 0);
	gs_init(&s, GPORT, HPORT);
	gs_send(&s, VSOCK_OP_REQUEST, 0, NULL, 0);
	ck_assert_int_eq(conn_of(&s)->state, CONN_CONNECTING);
	expect_none(50);
	/* The host program accepts: the retry gets through and the guest its RESPONSE. */
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	expect_pkt(&h, VSOCK_OP_RESPONSE, sizeof(pkt));
	gs_got(&s, &h);
	close(fd);
	close(first);
	/* A backlog that stays full: RST after connect_timeout_ms. */
	first = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_eq(connect(first, (struct sockaddr *)&sa, len), 0);
	gs_init(&s, GPORT + 1, HPORT);
	gs_send(&s, VSOCK_OP_REQUEST, 0, NULL, 0);
	expect_pkt(&h, VSOCK_OP_RST, sizeof(pkt));
	gs_got(&s, &h);
	close(fd);
	close(first);
	close(lfd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_conn");
	TCase *tc = tcase_create("connect");

	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_request_response);
	tcase_add_test(tc, test_request_refused);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_seqpacket_and_foreign_cids);
	tcase_add_test(tc, test_request_on_live_key);
	tcase_add_test(tc, test_connection_limit);
	tcase_add_test(tc, test_full_backlog_retried);
	suite_add_tcase(s, tc);

	tc = tcase_create("credit");
	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_credit_request_answered);
	tcase_add_test(tc, test_guest_to_host_data);
	tcase_add_test(tc, test_host_to_guest_respects_rx_buffer);
	tcase_add_test(tc, test_host_to_guest_respects_credit);
	tcase_add_test(tc, test_counters_wrap);
	tcase_add_test(tc, test_proactive_credit_update);
	tcase_add_test(tc, test_guest_buf_alloc_change);
	tcase_add_test(tc, test_backpressure_slow_reader);
	tcase_add_test(tc, test_guest_overrunning_credit_reset);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_guest_shutdown_send);
	tcase_add_test(tc, test_guest_close_flushes_then_rst);
	tcase_add_test(tc, test_host_shut_wr);
	tcase_add_test(tc, test_host_close_then_expiry);
	tcase_add_test(tc, test_host_close_then_guest_rst);
	tcase_add_test(tc, test_guest_rst_closes_host);
	tcase_add_test(tc, test_write_failure_rst);
	tcase_add_test(tc, test_reset_closes_every_socket);
	suite_add_tcase(s, tc);

	tc = tcase_create("host_initiated");
	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_host_initiated);
	tcase_add_test(tc, test_host_initiated_refused_by_guest);
	tcase_add_test(tc, test_host_initiated_expiry);
	tcase_add_test(tc, test_port_allocator);
	tcase_add_test(tc, test_not_running_refuses_host_connect);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
