/*
 * Unit tests of host/vsock/vhost_user and vsock_server, driven by a fake QEMU front-end over
 * the vhost-user socket (spec 7.1 items 1 and 2): the message codec, REPLY_ACK, the QEMU 7.2
 * sequence of spec 1.4 with memfd guest RAM in microvm's layout and eventfds, ring stop and
 * restart, front-end loss, and full connect + data round trips through the rings to Unix
 * sockets made by the test, both directions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "hybrid.h"
#include "test_vsock_guest.h"
#include "testutil.h"
#include "vhost_user.h"
#include "vsock_pkt.h"
#include "vsock_server.h"

#define CID 3
#define T 2000
#define NUM 256
#define RX 0
#define TX 1
#define REPLY_FLAGS (VHOST_USER_VERSION | VHOST_USER_REPLY)

static char dir[64], sock_path[128], base[128];
static struct vsock_server srv;
static struct vsock_server_config cfg;
static struct fake_guest g;
static int fe = -1; /* the front-end's end of the vhost-user socket */

/* The guest driver's side of the two rings. */
static struct fake_ring ring[2];
static uint64_t rx_buf[NUM]; /* head -> buffer gpa */
static int kick[2] = { -1, -1 }, call[2] = { -1, -1 };
static uint32_t rx_size = 3776;
static uint32_t guest_fwd_cnt; /* what the guest application consumed (sent in every packet) */
/* RX buffers sit at a fixed slot per descriptor; other buffers are bump-allocated above them. */
#define RX_AREA 0x200000ull
#define TX_AREA 0x300000ull

static int fe_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void pump(int ms)
{
	ck_assert_int_eq(vsock_server_run_once(&srv, ms), 0);
}

/* Pumps until the server has read everything the front-end sent. */
static void settle(void)
{
	for (int i = 0; i < 400; i++) {
		int n = 0;

		pump(0);
		if (srv.vu.fd < 0 || (ioctl(srv.vu.fd, FIONREAD, &n) == 0 && n == 0)) {
			pump(0);
			return;
		}
	}
	ck_abort_msg("the server did not consume the front-end's messages");
}

static void start_server(bool once)
{
	cfg.once = once;
	ck_assert_int_eq(vsock_server_init(&srv, &cfg), 0);
	fe = fe_connect();
	/* Accept the front-end. */
	for (int i = 0; i < 100 && !vu_connected(&srv.vu); i++)
		pump(5);
	ck_assert(vu_connected(&srv.vu));
}

static void setup(void)
{
	fg_tmpdir_clean();
	snprintf(dir, sizeof(dir), "%s", fg_tmpdir);
	snprintf(sock_path, sizeof(sock_path), "%s/vhost.sock", dir);
	snprintf(base, sizeof(base), "%s/hv", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.socket_path = sock_path;
	cfg.uds_path = base;
	cfg.guest_cid = CID;
	cfg.door_timeout_ms = 500;
	cfg.dev.request_timeout_ms = 500;
	cfg.dev.close_timeout_ms = 500;
	fg_init(&g);
	g.data_base = g.data_next = TX_AREA;
	guest_fwd_cnt = 0;
	for (int i = 0; i < 2; i++) {
		kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	start_server(false);
}

static void teardown(void)
{
	if (fe >= 0)
		close(fe);
	fe = -1;
	vsock_server_done(&srv);
	for (int i = 0; i < 2; i++) {
		close(kick[i]);
		close(call[i]);
	}
	fg_done(&g);
	fg_tmpdir_clean();
}

/* --- front-end messages --- */

static void fe_send(uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned nfds)
{
	ck_assert_int_eq(vu_send(fe, req, flags, payload, size, fds, nfds), 0);
}

/* Sends and waits for the reply; checks the reply header as QEMU does. */
static void fe_call(uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned nfds, struct vu_msg *reply)
{
	int64_t end;

	fe_send(req, flags, payload, size, fds, nfds);
	for (end = evloop_now_ms() + T; !(fg_poll(fe, POLLIN, 0) & POLLIN);) {
		ck_assert_msg(evloop_now_ms() < end, "no reply to %s", vu_request_name(req));
		pump(5);
	}
	ck_assert_int_eq(vu_recv(fe, reply), 0);
	ck_assert_uint_eq(reply->request, req);
	ck_assert_uint_eq(reply->flags, REPLY_FLAGS);
	ck_assert_uint_eq(reply->nfds, 0);
}

static uint64_t reply_u64(const struct vu_msg *m)
{
	uint64_t v;

	ck_assert_uint_eq(m->size, 8);
	memcpy(&v, m->payload, 8);
	return v;
}

static uint64_t fe_get_u64(uint32_t req)
{
	struct vu_msg m;

	fe_call(req, VHOST_USER_VERSION, NULL, 0, NULL, 0, &m);
	return reply_u64(&m);
}

/* A "no reply" request; with NEED_REPLY, returns the REPLY_ACK value, else -1 after settling. */
static int64_t fe_set(uint32_t req, bool need_reply, const void *payload, uint32_t size,
		      const int *fds, unsigned nfds)
{
	struct vu_msg m;

	if (!need_reply) {
		fe_send(req, VHOST_USER_VERSION, payload, size, fds, nfds);
		settle();
		return -1;
	}
	fe_call(req, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY, payload, size, fds, nfds, &m);
	return (int64_t)reply_u64(&m);
}

static int64_t fe_set_u64(uint32_t req, bool need_reply, uint64_t v)
{
	return fe_set(req, need_reply, &v, sizeof(v), NULL, 0);
}

static int64_t fe_state(uint32_t req, bool need_reply, uint32_t idx, uint32_t num)
{
	uint32_t s[2] = { idx, num };

	return fe_set(req, need_reply, s, sizeof(s), NULL, 0);
}

static int64_t fe_vring_fd(uint32_t req, uint32_t idx, int fd)
{
	uint64_t v = idx | (fd < 0 ? VHOST_USER_VRING_NOFD : 0);

	return fe_set(req, false, &v, sizeof(v), fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

static int64_t fe_mem_table(bool need_reply)
{
	uint8_t p[8 + 2 * 32] = { 2 };
	uint64_t r[8] = { 0,
			  FG_R0_SIZE,
			  FG_UVA_BASE,
			  0,
			  FG_R1_GPA,
			  FG_R1_SIZE,
			  FG_UVA_BASE + FG_R1_GPA,
			  FG_R1_GPA };
	int fds[2] = { g.memfd, g.memfd };

	memcpy(p + 8, r, sizeof(r));
	return fe_set(VHOST_USER_SET_MEM_TABLE, need_reply, p, sizeof(p), fds, 2);
}

static int64_t fe_vring_addr(uint32_t idx, const struct fake_ring *r, bool need_reply)
{
	uint8_t p[40];
	uint32_t hdr[2] = { idx, 0 };
	uint64_t a[4] = { fg_uva(r->desc_gpa), fg_uva(r->used_gpa), fg_uva(r->avail_gpa),
			  r->used_gpa };

	memcpy(p, hdr, 8);
	memcpy(p + 8, a, 32);
	return fe_set(VHOST_USER_SET_VRING_ADDR, need_reply, p, sizeof(p), NULL, 0);
}

static uint32_t fe_get_vring_base(uint32_t idx)
{
	uint32_t s[2] = { idx, 0 }, got[2];
	struct vu_msg m;

	fe_call(VHOST_USER_GET_VRING_BASE, VHOST_USER_VERSION, s, sizeof(s), NULL, 0, &m);
	ck_assert_uint_eq(m.size, 8);
	memcpy(got, m.payload, 8);
	ck_assert_uint_eq(got[0], idx);
	return got[1];
}

static int fresh_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Steps 1-11 of spec 1.4 (device realize). */
static void realize(void)
{
	struct vu_msg m;
	uint8_t cfgreq[20] = { 0, 0, 0, 0, 8 };

	ck_assert_uint_eq(fe_get_u64(VHOST_USER_GET_FEATURES), 0x160000000ull);
	ck_assert_uint_eq(fe_get_u64(VHOST_USER_GET_PROTOCOL_FEATURES), 0x209);
	fe_set_u64(VHOST_USER_SET_PROTOCOL_FEATURES, false, 0x209);
	ck_assert_uint_eq(fe_get_u64(VHOST_USER_GET_QUEUE_NUM), 3);
	fe_set(VHOST_USER_SET_OWNER, false, NULL, 0, NULL, 0);
	ck_assert_uint_eq(fe_get_u64(VHOST_USER_GET_FEATURES), 0x160000000ull);
	for (uint32_t i = 0; i < 2; i++) {
		int c = fresh_eventfd(), e = fresh_eventfd();

		fe_vring_fd(VHOST_USER_SET_VRING_CALL, i, c);
		fe_vring_fd(VHOST_USER_SET_VRING_ERR, i, e);
		close(c);
		close(e);
	}
	/* GET_CONFIG: offset 0, size 8, flags 0 + 8 bytes; the reply is the CID as le64. */
	fe_call(VHOST_USER_GET_CONFIG, VHOST_USER_VERSION, cfgreq, sizeof(cfgreq), NULL, 0, &m);
	ck_assert_uint_eq(m.size, 20);
	ck_assert_mem_eq(m.payload, "\0\0\0\0\x08\0\0\0\0\0\0\0\x03\0\0\0\0\0\0\0", 20);
}

/* Steps 12-27: the guest driver sets DRIVER_OK; rings at ring_gpa[0/1], starting at avail 0. */
static void driver_ok(uint64_t features, uint64_t rx_gpa, uint64_t tx_gpa, bool enable)
{
	for (uint32_t i = 0; i < 2; i++) {
		int c = fresh_eventfd();

		fe_vring_fd(VHOST_USER_SET_VRING_CALL, i, c);
		close(c);
	}
	fe_set_u64(VHOST_USER_SET_FEATURES, false, features);
	/* QEMU sets NEED_REPLY on SET_MEM_TABLE (flags 0x9): REPLY_ACK 0. */
	ck_assert_int_eq(fe_mem_table(true), 0);
	fg_ring_init(&ring[RX], &g, NUM, rx_gpa);
	fg_ring_init(&ring[TX], &g, NUM, tx_gpa);
	for (uint32_t i = 0; i < 2; i++) {
		fe_state(VHOST_USER_SET_VRING_NUM, false, i, NUM);
		fe_state(VHOST_USER_SET_VRING_BASE, false, i, 0);
		fe_vring_addr(i, &ring[i], false);
		fe_vring_fd(VHOST_USER_SET_VRING_KICK, i, kick[i]);
	}
	if (enable)
		for (uint32_t i = 0; i < 2; i++)
			fe_state(VHOST_USER_SET_VRING_ENABLE, false, i, 1);
	for (uint32_t i = 0; i < 2; i++)
		fe_vring_fd(VHOST_USER_SET_VRING_CALL, i, call[i]);
}

static void bring_up(void)
{
	realize();
	driver_ok(0x160000000ull, 0x100000, 0x110000, true);
	ck_assert(vsock_dev_ready(&srv.dev));
}

/* --- the guest driver --- */

static void guest_kick(int q)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(kick[q], &one, sizeof(one)), sizeof(one));
}

/* Posts n RX buffers the way Debian 6.1 does (one writable descriptor each). */
static void post_rx_nokick(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint16_t slot = (uint16_t)(ring[RX].desc_next % NUM);
		uint64_t gpa = RX_AREA + (uint64_t)slot * rx_size;
		uint16_t head = fg_add(&ring[RX], &(struct fg_seg){ gpa, rx_size, true }, 1);

		ck_assert_uint_eq(head, slot);
		rx_buf[head] = gpa;
	}
}

static void post_rx(unsigned n)
{
	post_rx_nokick(n);
	guest_kick(RX);
}

static void guest_send(uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags,
		       const void *data, uint32_t len, const uint32_t *split, unsigned nsplit)
{
	struct vsock_hdr h = { .src_cid = CID,
			       .dst_cid = 2,
			       .src_port = gport,
			       .dst_port = hport,
			       .len = len,
			       .type = 1,
			       .op = op,
			       .flags = flags,
			       .buf_alloc = 262144,
			       .fwd_cnt = guest_fwd_cnt };

	fg_add_tx(&ring[TX], &h, data, split, nsplit);
	guest_kick(TX);
}

/* The next packet the device put in the RX ring (payload copied to data). */
static int guest_recv(struct vsock_hdr *h, void *data, size_t cap, int ms)
{
	int64_t end = evloop_now_ms() + ms;
	uint32_t id, len;

	while (!fg_used_next(&ring[RX], &id, &len)) {
		if (evloop_now_ms() >= end)
			return 0;
		pump(5);
	}
	ck_assert_uint_lt(id, NUM);
	ck_assert_uint_ge(len, VSOCK_HDR_LEN);
	ck_assert_uint_le(len, rx_size);
	vsock_hdr_decode(fg_ptr(&g, rx_buf[id]), h);
	/* used len is exactly 44 + hdr.len (spec 3.5). */
	ck_assert_uint_eq(len, VSOCK_HDR_LEN + h->len);
	ck_assert_uint_le(h->len, cap);
	memcpy(data, fg_ptr(&g, rx_buf[id] + VSOCK_HDR_LEN), h->len);
	return 1;
}

static void expect_guest_pkt(struct vsock_hdr *h, uint16_t op, void *data, size_t cap)
{
	ck_assert_msg(guest_recv(h, data, cap, T), "no %s in the RX ring", vsock_op_name(op));
	ck_assert_msg(h->op == op, "got %s, wanted %s", vsock_op_name(h->op), vsock_op_name(op));
	ck_assert_uint_eq(h->src_cid, 2);
	ck_assert_uint_eq(h->dst_cid, CID);
}

static bool signalled(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == sizeof(v);
}

static int listen_port(uint32_t port)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_eq(hybrid_port_addr(base, port, &sa, &len), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	return fd;
}

static int accept_within(int lfd)
{
	for (int64_t end = evloop_now_ms() + T; !(fg_poll(lfd, POLLIN, 0) & POLLIN);) {
		ck_assert_msg(evloop_now_ms() < end, "no Unix connection from the device");
		pump(5);
	}
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void host_read(int fd, void *buf, size_t n)
{
	size_t done = 0;

	for (int64_t end = evloop_now_ms() + T; done < n;) {
		ssize_t r = recv(fd, (uint8_t *)buf + done, n - done, MSG_DONTWAIT);

		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		ck_assert_msg(r < 0 && errno == EAGAIN, "host side: EOF or error");
		ck_assert_msg(evloop_now_ms() < end, "host side: read timed out");
		pump(5);
	}
}

static void expect_host_eof(int fd)
{
	char c;

	for (int64_t end = evloop_now_ms() + T; !(fg_poll(fd, POLLIN, 0) & (POLLIN | POLLHUP));) {
		ck_assert_msg(evloop_now_ms() < end, "host side: no EOF");
		pump(5);
	}
	ck_assert_int_le(read(fd, &c, 1), 0);
}

/* Guest connect to host port 1234 through the rings, data both ways. Returns the host fd. */
static int round_trip(int lfd, uint32_t gport)
{
	static const uint32_t split[] = { 20, 24 };
	struct vsock_hdr h;
	char buf[64];
	int fd;

	guest_send(VSOCK_OP_REQUEST, gport, 1234, 0, NULL, 0, NULL, 0);
	expect_guest_pkt(&h, VSOCK_OP_RESPONSE, buf, sizeof(buf));
	ck_assert_uint_eq(h.src_port, 1234);
	ck_assert_uint_eq(h.dst_port, gport);
	fd = accept_within(lfd);
	ck_assert_int_ge(fd, 0);
	/* Guest -> host, header split at an odd offset. */
	guest_send(VSOCK_OP_RW, gport, 1234, 0, "ping", 4, split, 2);
	host_read(fd, buf, 4);
	ck_assert_mem_eq(buf, "ping", 4);
	/* Host -> guest. */
	ck_assert_int_eq(write(fd, "pong", 4), 4);
	expect_guest_pkt(&h, VSOCK_OP_RW, buf, sizeof(buf));
	ck_assert_uint_eq(h.len, 4);
	ck_assert_mem_eq(buf, "pong", 4);
	ck_assert_uint_eq(h.fwd_cnt, 4);
	return fd;
}

/* --- tests --- */

START_TEST(test_codec_fds)
{
	int sp[2], fds[2] = { fresh_eventfd(), g.memfd };
	struct vu_msg m;
	uint64_t v = 1 | VHOST_USER_VRING_NOFD;
	struct stat a, b;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	/* Two fds (as SET_MEM_TABLE carries them), with CLOEXEC on arrival. */
	ck_assert_int_eq(vu_send(sp[0], VHOST_USER_SET_MEM_TABLE, 0x9, "12345678", 8, fds, 2), 0);
	ck_assert_int_eq(vu_recv(sp[1], &m), 0);
	ck_assert_uint_eq(m.request, VHOST_USER_SET_MEM_TABLE);
	ck_assert_uint_eq(m.flags, 0x9);
	ck_assert_uint_eq(m.size, 8);
	ck_assert_uint_eq(m.nfds, 2);
	ck_assert_int_eq(fstat(m.fds[1], &a), 0);
	ck_assert_int_eq(fstat(g.memfd, &b), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	ck_assert(fcntl(m.fds[0], F_GETFD) & FD_CLOEXEC);
	close(m.fds[0]);
	close(m.fds[1]);
	/* NOFD: no fd travels. */
	ck_assert_int_eq(vu_send(sp[0], VHOST_USER_SET_VRING_KICK, 1, &v, 8, NULL, 0), 0);
	ck_assert_int_eq(vu_recv(sp[1], &m), 0);
	ck_assert_uint_eq(m.nfds, 0);
	ck_assert_mem_eq(m.payload, &v, 8);
	/* A header that arrives in two pieces. */
	{
		uint32_t hdr[3] = { VHOST_USER_GET_FEATURES, 1, 0 };

		ck_assert_int_eq(write(sp[0], hdr, 5), 5);
		ck_assert_int_eq(write(sp[0], (uint8_t *)hdr + 5, 7), 7);
		ck_assert_int_eq(vu_recv(sp[1], &m), 0);
		ck_assert_uint_eq(m.request, VHOST_USER_GET_FEATURES);
		ck_assert_uint_eq(m.size, 0);
	}
	close(fds[0]);
	close(sp[0]);
	close(sp[1]);
}
END_TEST

START_TEST(test_codec_rejects)
{
	int sp[2];
	struct vu_msg m;
	uint32_t hdr[3];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	/* Version bits other than 1. */
	hdr[0] = 1, hdr[1] = 2, hdr[2] = 0;
	ck_assert_int_eq(write(sp[0], hdr, 12), 12);
	ck_assert_int_eq(vu_recv(sp[1], &m), -EPROTO);
	/* Oversize payload (> 4096). */
	hdr[0] = 1, hdr[1] = 1, hdr[2] = 4097;
	ck_assert_int_eq(write(sp[0], hdr, 12), 12);
	ck_assert_int_eq(vu_recv(sp[1], &m), -EPROTO);
	/* A payload cut short by EOF, then EOF. */
	hdr[0] = 2, hdr[1] = 1, hdr[2] = 8;
	ck_assert_int_eq(write(sp[0], hdr, 12), 12);
	ck_assert_int_eq(write(sp[0], "abc", 3), 3);
	close(sp[0]);
	ck_assert_int_eq(vu_recv(sp[1], &m), -ECONNRESET);
	ck_assert_int_eq(vu_recv(sp[1], &m), -ECONNRESET);
	close(sp[1]);
}
END_TEST

START_TEST(test_qemu72_sequence)
{
	int lfd = listen_port(1234), fd;
	uint32_t b0, b1;
	struct vsock_hdr h;
	char buf[64];

	bring_up();
	/* The real call fds are used once the rings run. */
	post_rx(64);
	pump(10);
	fd = round_trip(lfd, 50000);
	ck_assert(signalled(call[RX]));
	ck_assert(signalled(call[TX]));
	/* EVENT_IDX: the device keeps avail_event current so the guest keeps kicking. */
	ck_assert_uint_eq(fg_avail_event(&ring[TX]), ring[TX].avail_idx);
	/* Guest reset / poweroff: ENABLE 0, GET_VRING_BASE returns last_avail_idx, not 0. */
	fe_state(VHOST_USER_SET_VRING_ENABLE, false, RX, 0);
	fe_state(VHOST_USER_SET_VRING_ENABLE, false, TX, 0);
	b0 = fe_get_vring_base(RX);
	b1 = fe_get_vring_base(TX);
	ck_assert_uint_eq(b0, 2); /* RESPONSE + RW */
	ck_assert_uint_eq(b1, 2); /* REQUEST + RW */
	ck_assert(!vsock_dev_ready(&srv.dev));
	/* The stop closed the connection: the host program sees EOF. */
	expect_host_eof(fd);
	close(fd);
	ck_assert_uint_eq(srv.dev.nconns, 0);
	/* Reboot: steps 12-27 again with new ring addresses, SET_VRING_BASE 0; no GET_CONFIG. */
	memset(&ring, 0, sizeof(ring));
	driver_ok(0x160000000ull, 0x120000, 0x130000, true);
	post_rx(32);
	fd = round_trip(lfd, 50001);
	guest_send(VSOCK_OP_SHUTDOWN, 50001, 1234, VSOCK_SHUTDOWN_BOTH, NULL, 0, NULL, 0);
	expect_guest_pkt(&h, VSOCK_OP_RST, buf, sizeof(buf));
	expect_host_eof(fd);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_need_reply_acks)
{
	uint8_t cfgreq[20] = { 0, 0, 0, 0, 8 };
	struct vu_msg m;
	uint64_t v;
	int c = fresh_eventfd();

	/* Every "no reply" request answers REPLY_ACK when NEED_REPLY is set: 0 = success. */
	ck_assert_int_eq(fe_set_u64(VHOST_USER_SET_PROTOCOL_FEATURES, true, 0x209), 0);
	ck_assert_int_eq(fe_set(VHOST_USER_SET_OWNER, true, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(fe_set_u64(VHOST_USER_SET_FEATURES, true, 0x160000000ull), 0);
	ck_assert_int_eq(fe_mem_table(true), 0);
	ck_assert_int_eq(fe_state(VHOST_USER_SET_VRING_NUM, true, 0, NUM), 0);
	ck_assert_int_eq(fe_state(VHOST_USER_SET_VRING_BASE, true, 0, 0), 0);
	fg_ring_init(&ring[RX], &g, NUM, 0x100000);
	ck_assert_int_eq(fe_vring_addr(0, &ring[RX], true), 0);
	v = 0;
	ck_assert_int_eq(fe_set(VHOST_USER_SET_VRING_CALL, true, &v, 8, &c, 1), 0);
	ck_assert_int_eq(fe_set(VHOST_USER_SET_VRING_ERR, true, &v, 8, &c, 1), 0);
	ck_assert_int_eq(fe_set(VHOST_USER_SET_VRING_KICK, true, &v, 8, &c, 1), 0);
	ck_assert_int_eq(fe_state(VHOST_USER_SET_VRING_ENABLE, true, 0, 1), 0);
	ck_assert_int_eq(fe_set(VHOST_USER_RESET_OWNER, true, NULL, 0, NULL, 0), 0);
	/* Failures answer non-zero. */
	ck_assert_int_eq(fe_state(VHOST_USER_SET_VRING_NUM, true, 0, 3), 1);
	ck_assert_int_eq(fe_state(VHOST_USER_SET_VRING_NUM, true, 5, 256), 1);
	ck_assert_int_eq(fe_state(VHOST_USER_SET_VRING_ENABLE, true, 3, 1), 1);
	ck_assert_int_eq(fe_set(VHOST_USER_SET_VRING_CALL, true, &v, 8, NULL, 0), 1);
	v = 7;
	ck_assert_int_eq(fe_set(VHOST_USER_SET_VRING_CALL, true, &v, 8, &c, 1), 1);
	ck_assert_int_eq(fe_set(VHOST_USER_SET_CONFIG, true, cfgreq, sizeof(cfgreq), NULL, 0), 1);
	ck_assert_int_eq(fe_set(VHOST_USER_SET_MEM_TABLE, true, "\0\0\0\0\0\0\0\0", 8, NULL, 0), 1);
	/* A ring outside the memory table. */
	fg_ring_init(&ring[TX], &g, NUM, 0x100000);
	ring[TX].desc_gpa = 0xf8000;
	ck_assert_int_eq(fe_vring_addr(1, &ring[TX], true), 1);
	/* A request with its own reply gets only that one. */
	fe_call(VHOST_USER_GET_FEATURES, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY, NULL, 0, NULL,
		0, &m);
	ck_assert_uint_eq(reply_u64(&m), 0x160000000ull);
	ck_assert_uint_eq(fe_get_u64(VHOST_USER_GET_QUEUE_NUM), 3);
	close(c);
}
END_TEST

START_TEST(test_unknown_requests)
{
	struct vu_msg m;
	int c = fresh_eventfd();

	/* Unknown with NEED_REPLY: u64 1. */
	ck_assert_int_eq(fe_set(99, true, "abcd", 4, NULL, 0), 1);
	ck_assert_int_eq(fe_set(40 /* GET_STATUS, not offered */, true, NULL, 0, NULL, 0), 1);
	/* Unknown without: ignored (and its fd closed); the next reply is GET_FEATURES'. */
	fe_send(77, VHOST_USER_VERSION, "x", 1, &c, 1);
	fe_call(VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, NULL, 0, NULL, 0, &m);
	ck_assert_uint_eq(reply_u64(&m), 0x160000000ull);
	ck_assert(vu_connected(&srv.vu));
	close(c);
}
END_TEST

START_TEST(test_get_config_ranges)
{
	uint8_t req[20] = { 0 };
	uint32_t *h = (uint32_t *)req;
	struct vu_msg m;

	/* The low 4 bytes of the CID. */
	h[0] = 0, h[1] = 4;
	fe_call(VHOST_USER_GET_CONFIG, VHOST_USER_VERSION, req, 16, NULL, 0, &m);
	ck_assert_uint_eq(m.size, 16);
	ck_assert_mem_eq(m.payload + 12, "\x03\0\0\0", 4);
	/* Past the 8-byte config space: an empty reply (the error signal). */
	h[0] = 4, h[1] = 8;
	fe_call(VHOST_USER_GET_CONFIG, VHOST_USER_VERSION, req, 20, NULL, 0, &m);
	ck_assert_uint_eq(m.size, 0);
	/* size field and message size disagree. */
	h[0] = 0, h[1] = 8;
	fe_call(VHOST_USER_GET_CONFIG, VHOST_USER_VERSION, req, 16, NULL, 0, &m);
	ck_assert_uint_eq(m.size, 0);
}
END_TEST

START_TEST(test_oversize_drops_frontend)
{
	uint32_t hdr[3] = { VHOST_USER_SET_OWNER, 1, 5000 };
	char c;

	ck_assert_int_eq(write(fe, hdr, 12), 12);
	for (int64_t end = evloop_now_ms() + T; vu_connected(&srv.vu);) {
		ck_assert(evloop_now_ms() < end);
		pump(5);
	}
	ck_assert_int_le(read(fe, &c, 1), 0);
	close(fe);
	/* Not --once: the next front-end is served. */
	ck_assert(!srv.done);
	fe = fe_connect();
	ck_assert_uint_eq(fe_get_u64(VHOST_USER_GET_FEATURES), 0x160000000ull);
}
END_TEST

START_TEST(test_disabled_ring_not_processed)
{
	int lfd = listen_port(1234);
	uint32_t id, len;

	realize();
	driver_ok(0x160000000ull, 0x100000, 0x110000, false);
	/* PROTOCOL_FEATURES acked: started rings wait for SET_VRING_ENABLE. */
	ck_assert(!vsock_dev_ready(&srv.dev));
	post_rx(8);
	guest_send(VSOCK_OP_REQUEST, 50000, 1234, 0, NULL, 0, NULL, 0);
	for (int i = 0; i < 10; i++)
		pump(5);
	ck_assert_int_eq(fg_used_next(&ring[TX], &id, &len), 0);
	ck_assert_int_eq(fg_poll(lfd, POLLIN, 0), 0);
	fe_state(VHOST_USER_SET_VRING_ENABLE, false, RX, 1);
	fe_state(VHOST_USER_SET_VRING_ENABLE, false, TX, 1);
	close(accept_within(lfd));
	close(lfd);
}
END_TEST

START_TEST(test_legacy_mmio_features)
{
	int lfd = listen_port(1234), fd;

	/* Legacy virtio-mmio (no force-legacy=false): the guest acks no VERSION_1 (measured). */
	realize();
	driver_ok(0x60000000ull, 0x100000, 0x110000, true);
	ck_assert(vsock_dev_ready(&srv.dev));
	post_rx(8);
	fd = round_trip(lfd, 50000);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_without_protocol_features)
{
	int lfd = listen_port(1234), fd;

	/* QEMU < 7.2: bit 30 not acked -> rings are enabled when they start, no ENABLE sent. */
	realize();
	driver_ok(0x120000000ull, 0x100000, 0x110000, false);
	ck_assert(vsock_dev_ready(&srv.dev));
	post_rx(8);
	fd = round_trip(lfd, 50000);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_kick_nofd_polled)
{
	int lfd = listen_port(1234), fd;

	realize();
	driver_ok(0x160000000ull, 0x100000, 0x110000, true);
	fe_vring_fd(VHOST_USER_SET_VRING_KICK, TX, -1);
	ck_assert(vsock_dev_ready(&srv.dev));
	post_rx(8);
	fd = round_trip(lfd, 50000);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_mem_table_replaced_while_running)
{
	int lfd = listen_port(1234), fd;
	struct vsock_hdr h;
	char buf[16];

	bring_up();
	post_rx(16);
	fd = round_trip(lfd, 50000);
	/* A new table (same layout, new mappings): the rings are re-resolved. */
	ck_assert_int_eq(fe_mem_table(true), 0);
	ck_assert(vsock_dev_ready(&srv.dev));
	ck_assert_int_eq(write(fd, "again", 5), 5);
	expect_guest_pkt(&h, VSOCK_OP_RW, buf, sizeof(buf));
	ck_assert_mem_eq(buf, "again", 5);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_frontend_exit_closes_connections)
{
	int lfd = listen_port(1234), fd;

	bring_up();
	post_rx(16);
	fd = round_trip(lfd, 50000);
	/* QEMU exits: socket EOF. Every connection closes; the server waits for the next one. */
	close(fe);
	fe = -1;
	expect_host_eof(fd);
	close(fd);
	ck_assert(!vu_connected(&srv.vu));
	ck_assert_uint_eq(srv.dev.nconns, 0);
	ck_assert(!srv.done);
	fe = fe_connect();
	bring_up();
	close(lfd);
}
END_TEST

START_TEST(test_once_exits_after_frontend)
{
	vsock_server_done(&srv);
	close(fe);
	start_server(true);
	/* A probe that closes before its first message is not the front-end. */
	close(fe);
	for (int i = 0; i < 20; i++)
		pump(5);
	ck_assert(!srv.done);
	fe = fe_connect();
	ck_assert_uint_eq(fe_get_u64(VHOST_USER_GET_FEATURES), 0x160000000ull);
	close(fe);
	fe = -1;
	for (int64_t end = evloop_now_ms() + T; !srv.done;) {
		ck_assert(evloop_now_ms() < end);
		pump(5);
	}
}
END_TEST

START_TEST(test_host_initiated_through_rings)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_hdr h;
	char buf[64];
	int cl;

	/* Before the rings run, the front door accepts and closes. */
	cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", base);
	ck_assert_int_eq(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(cl, "CONNECT 5000\n", 13), 13);
	expect_host_eof(cl);
	close(cl);

	bring_up();
	post_rx(16);
	cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(cl, "CONNECT 5000\n", 13), 13);
	expect_guest_pkt(&h, VSOCK_OP_REQUEST, buf, sizeof(buf));
	ck_assert_uint_eq(h.src_port, 1073741824u);
	ck_assert_uint_eq(h.dst_port, 5000);
	/* The guest's listener accepts. */
	guest_send(VSOCK_OP_RESPONSE, 5000, h.src_port, 0, NULL, 0, NULL, 0);
	host_read(cl, buf, 14);
	ck_assert_mem_eq(buf, "OK 1073741824\n", 14);
	ck_assert_int_eq(write(cl, "to guest", 8), 8);
	expect_guest_pkt(&h, VSOCK_OP_RW, buf, sizeof(buf));
	ck_assert_mem_eq(buf, "to guest", 8);
	guest_send(VSOCK_OP_RW, 5000, 1073741824u, 0, "to host", 7, NULL, 0);
	host_read(cl, buf, 7);
	ck_assert_mem_eq(buf, "to host", 7);
	close(cl);
	expect_guest_pkt(&h, VSOCK_OP_SHUTDOWN, buf, sizeof(buf));
	ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_BOTH);
	guest_send(VSOCK_OP_RST, 5000, 1073741824u, 0, NULL, 0, NULL, 0);
	for (int64_t end = evloop_now_ms() + T; srv.dev.nconns;) {
		ck_assert(evloop_now_ms() < end);
		pump(5);
	}
}
END_TEST

START_TEST(test_refused_connect_through_rings)
{
	struct vsock_hdr h;
	char buf[16];
	int64_t t0;

	bring_up();
	post_rx(4);
	t0 = evloop_now_ms();
	guest_send(VSOCK_OP_REQUEST, 50000, 4321, 0, NULL, 0, NULL, 0);
	expect_guest_pkt(&h, VSOCK_OP_RST, buf, sizeof(buf));
	ck_assert_uint_eq(h.src_port, 4321);
	ck_assert_uint_eq(h.dst_port, 50000);
	ck_assert_int_lt(evloop_now_ms() - t0, 100);
}
END_TEST

START_TEST(test_rx_ring_empty_keeps_tx_going)
{
	int lfd = listen_port(1234), fd;
	struct vsock_hdr h;
	char buf[16];
	uint32_t id, len;

	bring_up();
	/* No RX buffers: TX is still consumed; replies wait. */
	guest_send(VSOCK_OP_REQUEST, 50000, 1234, 0, NULL, 0, NULL, 0);
	fd = accept_within(lfd);
	guest_send(VSOCK_OP_RW, 50000, 1234, 0, "early", 5, NULL, 0);
	host_read(fd, buf, 5);
	ck_assert_int_eq(fg_used_next(&ring[TX], &id, &len), 1);
	ck_assert_int_eq(fg_used_next(&ring[TX], &id, &len), 1);
	ck_assert_uint_eq(len, 0);
	/* The RESPONSE goes out once the guest posts a buffer (its kick wakes the device). */
	post_rx(1);
	expect_guest_pkt(&h, VSOCK_OP_RESPONSE, buf, sizeof(buf));
	close(fd);
	close(lfd);
}
END_TEST

static uint8_t pattern(uint64_t i, unsigned seed)
{
	return (uint8_t)((i * seed) ^ (i >> 11));
}

/*
 * 2 MiB each way at once through the rings: the guest sends within the device's credit in
 * 64 KiB packets, drains RX into a 256 KiB buffer it consumes at once, reposts every RX buffer
 * and sends CREDIT_UPDATE each 64 KiB it consumed (as Linux does); the host side writes and
 * reads non-blocking. Both streams arrive intact.
 */
START_TEST(test_bulk_both_ways)
{
	const uint64_t total = 2u << 20;
	static uint8_t chunk[65536];
	int lfd = listen_port(1234), fd;
	uint64_t g_sent = 0, g_rcvd = 0, h_sent = 0, h_rcvd = 0;
	uint32_t peer_buf_alloc = 0, peer_fwd_cnt = 0, g_tx_cnt = 0, last_update = 0;
	int64_t end = evloop_now_ms() + 20000;
	struct vsock_hdr h;
	char buf[64];
	uint32_t id, len;

	bring_up();
	post_rx(NUM);
	guest_send(VSOCK_OP_REQUEST, 50000, 1234, 0, NULL, 0, NULL, 0);
	expect_guest_pkt(&h, VSOCK_OP_RESPONSE, buf, sizeof(buf));
	peer_buf_alloc = h.buf_alloc;
	peer_fwd_cnt = h.fwd_cnt;
	fd = accept_within(lfd);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while (g_rcvd < total || h_rcvd < total) {
		uint32_t credit = vsock_peer_free(peer_buf_alloc, g_tx_cnt, peer_fwd_cnt);
		unsigned reposted = 0;
		ssize_t r;

		ck_assert_msg(evloop_now_ms() < end,
			      "stalled: guest sent %llu got %llu, host sent "
			      "%llu got %llu",
			      (unsigned long long)g_sent, (unsigned long long)g_rcvd,
			      (unsigned long long)h_sent, (unsigned long long)h_rcvd);
		if (g_sent < total && credit) {
			uint32_t n = credit < sizeof(chunk) ? credit : sizeof(chunk);

			if (n > total - g_sent)
				n = (uint32_t)(total - g_sent);
			for (uint32_t i = 0; i < n; i++)
				chunk[i] = pattern(g_sent + i, 7);
			guest_send(VSOCK_OP_RW, 50000, 1234, 0, chunk, n, NULL, 0);
			g_sent += n;
			g_tx_cnt += n;
		}
		if (h_sent < total) {
			size_t n = total - h_sent < 16384 ? total - h_sent : 16384;

			for (size_t i = 0; i < n; i++)
				chunk[i] = pattern(h_sent + i, 13);
			r = send(fd, chunk, n, MSG_DONTWAIT);
			if (r > 0)
				h_sent += (uint64_t)r;
		}
		while ((r = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0) {
			bool same = true;

			for (ssize_t i = 0; i < r; i++)
				same &= chunk[i] == pattern(h_rcvd + (uint64_t)i, 7);
			ck_assert_msg(same, "host side: corrupt data near byte %llu",
				      (unsigned long long)h_rcvd);
			h_rcvd += (uint64_t)r;
		}
		pump(1);
		while (fg_used_next(&ring[RX], &id, &len)) {
			const uint8_t *p = fg_ptr(&g, rx_buf[id]);

			vsock_hdr_decode(p, &h);
			ck_assert_uint_eq(len, VSOCK_HDR_LEN + h.len);
			peer_buf_alloc = h.buf_alloc;
			peer_fwd_cnt = h.fwd_cnt;
			if (h.op == VSOCK_OP_RW) {
				bool same = true;

				for (uint32_t i = 0; i < h.len; i++)
					same &= p[VSOCK_HDR_LEN + i] == pattern(g_rcvd + i, 13);
				ck_assert_msg(same, "guest side: corrupt data near byte %llu",
					      (unsigned long long)g_rcvd);
				g_rcvd += h.len;
				guest_fwd_cnt += h.len;
			} else {
				ck_assert_msg(h.op == VSOCK_OP_CREDIT_UPDATE ||
						      h.op == VSOCK_OP_CREDIT_REQUEST,
					      "unexpected %s", vsock_op_name(h.op));
				if (h.op == VSOCK_OP_CREDIT_REQUEST)
					last_update = guest_fwd_cnt - 65536;
			}
			reposted++;
		}
		if (reposted) {
			post_rx_nokick(reposted);
			guest_kick(RX);
		}
		if (guest_fwd_cnt - last_update >= 65536) {
			guest_send(VSOCK_OP_CREDIT_UPDATE, 50000, 1234, 0, NULL, 0, NULL, 0);
			last_update = guest_fwd_cnt;
		}
	}
	ck_assert_uint_eq(srv.dev.nconns, 1);
	close(fd);
	close(lfd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_vhost");
	TCase *tc = tcase_create("codec");

	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_codec_fds);
	tcase_add_test(tc, test_codec_rejects);
	tcase_add_test(tc, test_need_reply_acks);
	tcase_add_test(tc, test_unknown_requests);
	tcase_add_test(tc, test_get_config_ranges);
	tcase_add_test(tc, test_oversize_drops_frontend);
	suite_add_tcase(s, tc);

	tc = tcase_create("session");
	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_qemu72_sequence);
	tcase_add_test(tc, test_disabled_ring_not_processed);
	tcase_add_test(tc, test_legacy_mmio_features);
	tcase_add_test(tc, test_without_protocol_features);
	tcase_add_test(tc, test_kick_nofd_polled);
	tcase_add_test(tc, test_mem_table_replaced_while_running);
	tcase_add_test(tc, test_frontend_exit_closes_connections);
	tcase_add_test(tc, test_once_exits_after_frontend);
	suite_add_tcase(s, tc);

	tc = tcase_create("round_trip");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_host_initiated_through_rings);
	tcase_add_test(tc, test_refused_connect_through_rings);
	tcase_add_test(tc, test_rx_ring_empty_keeps_tx_going);
	tcase_add_test(tc, test_bulk_both_ways);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
