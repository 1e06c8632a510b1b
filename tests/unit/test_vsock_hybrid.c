/*
 * Unit tests of host/vsock/hybrid: the Unix-socket side of hybrid vsock (spec 5.6, 7.1 item 5):
 * <base>_<port> connects, the listener, and the CONNECT front door in front of the device.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "conn.h"
#include "evloop.h"
#include "hybrid.h"
#include "test_vsock_guest.h"
#include "testutil.h"
#include "vsock_dev.h"

#define CID 3
#define T 2000

static char dir[64], base[128];
static struct evloop loop;
static struct vsock_dev dev;
static struct door door;
static struct virtq fake_rx, fake_tx;
static uint8_t dummy_ring;
static uint8_t pkt[VSOCK_HDR_LEN + 65536];

static bool ready(void *ctx)
{
	return vsock_dev_ready(ctx);
}

static void host_connect(void *ctx, int fd, uint32_t port)
{
	vsock_dev_host_connect(ctx, fd, port);
}

static void setup(void)
{
	struct vsock_dev_config cfg = { .guest_cid = CID, .request_timeout_ms = 300 };

	fg_tmpdir_clean();
	snprintf(dir, sizeof(dir), "%s", fg_tmpdir);
	snprintf(base, sizeof(base), "%s/hv", dir);
	cfg.uds_base = base;
	ck_assert_int_eq(evloop_init(&loop), 0);
	ck_assert_int_eq(vsock_dev_init(&dev, &loop, &cfg), 0);
	virtq_reset(&fake_rx);
	virtq_reset(&fake_tx);
	fake_rx.desc = fake_tx.desc = &dummy_ring;
	fake_rx.ready = fake_tx.ready = true;
	vsock_dev_set_queues(&dev, &fake_rx, &fake_tx);
	ck_assert_int_eq(door_open(&door, &loop, base, 200, ready, host_connect, &dev), 0);
}

static void teardown(void)
{
	door_close(&door);
	vsock_dev_done(&dev);
	evloop_done(&loop);
	fg_tmpdir_clean();
}

static void pump(int ms)
{
	int64_t now = evloop_now_ms();
	int t = vsock_dev_timeout(&dev, now), d = door_timeout(&door, now);

	if (d >= 0 && (t < 0 || d < t))
		t = d;
	if (t < 0 || t > ms)
		t = ms;
	evloop_run_once(&loop, t);
	now = evloop_now_ms();
	vsock_dev_expire(&dev, now);
	door_expire(&door, now);
	vsock_dev_gc(&dev);
}

static int next_pkt(struct vsock_hdr *h, int ms)
{
	int64_t end = evloop_now_ms() + ms;

	for (;;) {
		struct iovec iov = { pkt, sizeof(pkt) };
		size_t len;

		if (vsock_dev_rx_packet(&dev, &iov, 1, h, &len) == 1)
			return 1;
		if (evloop_now_ms() >= end)
			return 0;
		pump(5);
	}
}

static void expect_pkt(struct vsock_hdr *h, uint16_t op)
{
	ck_assert_msg(next_pkt(h, T) == 1, "no %s", vsock_op_name(op));
	ck_assert_msg(h->op == op, "got %s, wanted %s", vsock_op_name(h->op), vsock_op_name(op));
}

static void expect_none(int ms)
{
	struct vsock_hdr h;

	ck_assert_msg(next_pkt(&h, ms) == 0, "unexpected %s", vsock_op_name(h.op));
}

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", base);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* The client is closed without a byte written to it. */
static void expect_closed_silently(int fd)
{
	char c;

	for (int64_t end = evloop_now_ms() + T; !(fg_poll(fd, POLLIN, 0) & (POLLIN | POLLHUP));) {
		ck_assert_msg(evloop_now_ms() < end, "client not closed");
		pump(5);
	}
	ck_assert_int_le(read(fd, &c, 1), 0);
}

/* The guest (port gport) accepts the REQUEST the device sent. */
static void guest_accepts(const struct vsock_hdr *req)
{
	struct vsock_hdr h = { .src_cid = CID,
			       .dst_cid = 2,
			       .src_port = req->dst_port,
			       .dst_port = req->src_port,
			       .type = 1,
			       .op = VSOCK_OP_RESPONSE,
			       .buf_alloc = 262144 };

	vsock_dev_tx_packet(&dev, &h, NULL, 0);
}

static void read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ck_assert_msg(fg_poll(fd, POLLIN, T) & POLLIN, "no reply line");
		ck_assert_int_eq(read(fd, buf + n, 1), 1);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
}

START_TEST(test_parse_connect)
{
	static const struct {
		const char *line;
		int r;
		uint32_t port;
	} cases[] = {
		{ "CONNECT 1234", 0, 1234 },
		{ "connect 1234", 0, 1234 },
		{ "CoNnEcT\t\t42", 0, 42 },
		{ "CONNECT 0", 0, 0 },
		{ "CONNECT 1073741824", 0, 1073741824 },
		{ "CONNECT 4294967294", 0, 4294967294u },
		{ "CONNECT 1234 ", 0, 1234 },
		{ "CONNECT 1234\r", 0, 1234 },
		{ "", -EINVAL, 0 },
		{ "CONNECT", -EINVAL, 0 },
		{ "CONNECT ", -EINVAL, 0 },
		{ "CONNECT1234", -EINVAL, 0 },
		{ "CONNECTX 1", -EINVAL, 0 },
		{ " CONNECT 1", -EINVAL, 0 },
		{ "CONNECT abc", -EINVAL, 0 },
		{ "CONNECT 12a", -EINVAL, 0 },
		{ "CONNECT -1", -EINVAL, 0 },
		{ "CONNECT 1 2", -EINVAL, 0 },
		{ "CONNECT 4294967295", -EINVAL, 0 },
		{ "CONNECT 4294967296", -ERANGE, 0 },
		{ "CONNECT 99999999999999999999", -ERANGE, 0 },
		{ "LISTEN 1234", -EINVAL, 0 },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t port = 777;
		int r = hybrid_parse_connect(cases[i].line, strlen(cases[i].line), &port);

		ck_assert_msg(r == cases[i].r, "\"%s\": %d", cases[i].line, r);
		ck_assert_uint_eq(port, r == 0 ? cases[i].port : 777);
	}
}
END_TEST

START_TEST(test_port_paths)
{
	struct sockaddr_un sa;
	socklen_t len;
	char longbase[120];

	ck_assert_int_eq(hybrid_port_addr("/run/x/hv", 1234, &sa, &len), 0);
	ck_assert_str_eq(sa.sun_path, "/run/x/hv_1234");
	ck_assert_int_eq(hybrid_port_addr("/run/x/hv", 0x40000000, &sa, &len), 0);
	ck_assert_str_eq(sa.sun_path, "/run/x/hv_1073741824");
	memset(longbase, 'a', sizeof(longbase) - 1);
	longbase[sizeof(longbase) - 1] = '\0';
	ck_assert_int_eq(hybrid_port_addr(longbase, 1, &sa, &len), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_connect_errors)
{
	char path[160];
	int fd = -1, lfd, filler;
	struct sockaddr_un sa;
	socklen_t len;

	ck_assert_int_eq(hybrid_connect(base, 1, &fd), -ENOENT);
	/* Bound, not listening. */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	hybrid_port_addr(base, 2, &sa, &len);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(hybrid_connect(base, 2, &fd), -ECONNREFUSED);
	ck_assert_int_eq(listen(lfd, 0), 0);
	filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(filler, (struct sockaddr *)&sa, len), 0);
	/* Backlog full: EAGAIN (the device retries). */
	ck_assert_int_eq(hybrid_connect(base, 2, &fd), -EAGAIN);
	ck_assert_int_eq(fd, -1);
	close(accept4(lfd, NULL, NULL, SOCK_CLOEXEC));
	ck_assert_int_eq(hybrid_connect(base, 2, &fd), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	close(filler);
	close(lfd);
	snprintf(path, sizeof(path), "%s_2", base);
	unlink(path);
}
END_TEST

START_TEST(test_listen_replaces_stale_socket_only)
{
	char path[160];
	int fd, fd2;

	/* A socket file left behind (here: another listener's) is replaced, */
	snprintf(path, sizeof(path), "%s_9", base);
	ck_assert_int_eq(hybrid_listen(path, &fd), 0);
	ck_assert_int_eq(hybrid_listen(path, &fd2), 0);
	close(fd);
	close(fd2);
	unlink(path);
	/* any other file is not. */
	snprintf(path, sizeof(path), "%s/file", dir);
	close(creat(path, 0600));
	ck_assert_int_eq(hybrid_listen(path, &fd2), -EEXIST);
	ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_connect_line)
{
	int fd = client();
	struct vsock_hdr h;
	char line[32];

	send_str(fd, "CONNECT 1234\n");
	expect_pkt(&h, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_port, VSOCK_FIRST_HOST_PORT);
	ck_assert_uint_eq(h.dst_port, 1234);
	ck_assert_uint_eq(h.dst_cid, CID);
	guest_accepts(&h);
	read_line(fd, line, sizeof(line));
	ck_assert_str_eq(line, "OK 1073741824\n");
	close(fd);
}
END_TEST

START_TEST(test_connect_lowercase_and_second_port)
{
	int a = client(), b;
	struct vsock_hdr h;
	char line[32];

	send_str(a, "connect 1234\n");
	expect_pkt(&h, VSOCK_OP_REQUEST);
	guest_accepts(&h);
	read_line(a, line, sizeof(line));
	ck_assert_str_eq(line, "OK 1073741824\n");
	b = client();
	send_str(b, "CONNECT 1234\n");
	expect_pkt(&h, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_port, VSOCK_FIRST_HOST_PORT + 1);
	guest_accepts(&h);
	read_line(b, line, sizeof(line));
	ck_assert_str_eq(line, "OK 1073741825\n");
	close(a);
	close(b);
}
END_TEST

START_TEST(test_line_split_over_writes)
{
	int fd = client();
	struct vsock_hdr h;

	send_str(fd, "CONN");
	expect_none(20);
	send_str(fd, "ECT 42");
	expect_none(20);
	send_str(fd, "\n");
	expect_pkt(&h, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.dst_port, 42);
	close(fd);
}
END_TEST

START_TEST(test_trailing_payload_after_ok)
{
	int fd = client();
	struct vsock_hdr h;
	char line[32];

	/* Payload in the same segment as the line is connection data, relayed after OK. */
	send_str(fd, "CONNECT 5000\nhello");
	expect_pkt(&h, VSOCK_OP_REQUEST);
	expect_none(30);
	guest_accepts(&h);
	read_line(fd, line, sizeof(line));
	ck_assert_str_eq(line, "OK 1073741824\n");
	expect_pkt(&h, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 5);
	ck_assert_mem_eq(pkt + VSOCK_HDR_LEN, "hello", 5);
	close(fd);
}
END_TEST

START_TEST(test_bad_lines_closed)
{
	static const char *const bad[] = {
		"GET / HTTP/1.0\n",
		"CONNECT port\n",
		"CONNECT 4294967296\n",
		"\n",
		/* 40 bytes: over the 32-byte cap, closed before any newline. */
		"CONNECT 1234                            ",
	};

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		int fd = client();

		send_str(fd, bad[i]);
		expect_closed_silently(fd);
		close(fd);
	}
	expect_none(20);
	ck_assert_uint_eq(door.nclients, 0);
}
END_TEST

START_TEST(test_eof_before_newline)
{
	int fd = client();

	send_str(fd, "CONNECT 12");
	pump(10);
	ck_assert_uint_eq(door.nclients, 1);
	shutdown(fd, SHUT_WR);
	expect_closed_silently(fd);
	ck_assert_uint_eq(door.nclients, 0);
	expect_none(20);
	close(fd);
	/* A client that connects and leaves at once. */
	close(client());
	for (int i = 0; i < 10; i++)
		pump(5);
	ck_assert_uint_eq(door.nclients, 0);
}
END_TEST

START_TEST(test_silent_client_times_out)
{
	int fd = client();
	int64_t t0 = evloop_now_ms();

	expect_closed_silently(fd);
	ck_assert_int_ge(evloop_now_ms() - t0, 150);
	ck_assert_uint_eq(door.nclients, 0);
	close(fd);
}
END_TEST

START_TEST(test_guest_refuses)
{
	int fd = client();
	struct vsock_hdr h, rst;

	send_str(fd, "CONNECT 4321\n");
	expect_pkt(&h, VSOCK_OP_REQUEST);
	rst = (struct vsock_hdr){ .src_cid = CID,
				  .dst_cid = 2,
				  .src_port = 4321,
				  .dst_port = h.src_port,
				  .type = 1,
				  .op = VSOCK_OP_RST };
	vsock_dev_tx_packet(&dev, &rst, NULL, 0);
	expect_closed_silently(fd);
	close(fd);
}
END_TEST

START_TEST(test_request_expires)
{
	int fd = client();
	struct vsock_hdr h;
	int64_t t0;

	send_str(fd, "CONNECT 4321\n");
	expect_pkt(&h, VSOCK_OP_REQUEST);
	t0 = evloop_now_ms();
	expect_pkt(&h, VSOCK_OP_RST);
	ck_assert_int_ge(evloop_now_ms() - t0, 250);
	expect_closed_silently(fd);
	close(fd);
}
END_TEST

START_TEST(test_not_ready_accept_and_close)
{
	int fd;

	fake_tx.ready = false;
	fd = client();
	send_str(fd, "CONNECT 1234\n");
	expect_closed_silently(fd);
	expect_none(20);
	close(fd);
}
END_TEST

START_TEST(test_drop_clients_and_close)
{
	int fd = client();
	struct stat st;

	send_str(fd, "CONN");
	pump(10);
	ck_assert_uint_eq(door.nclients, 1);
	door_drop_clients(&door);
	ck_assert_uint_eq(door.nclients, 0);
	expect_closed_silently(fd);
	close(fd);
	door_close(&door);
	ck_assert_int_eq(stat(base, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_hybrid");
	TCase *tc = tcase_create("unix");

	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_connect);
	tcase_add_test(tc, test_port_paths);
	tcase_add_test(tc, test_connect_errors);
	tcase_add_test(tc, test_listen_replaces_stale_socket_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("front_door");
	tcase_add_unchecked_fixture(tc, fg_tmpdir_make, fg_tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_connect_line);
	tcase_add_test(tc, test_connect_lowercase_and_second_port);
	tcase_add_test(tc, test_line_split_over_writes);
	tcase_add_test(tc, test_trailing_payload_after_ok);
	tcase_add_test(tc, test_bad_lines_closed);
	tcase_add_test(tc, test_eof_before_newline);
	tcase_add_test(tc, test_silent_client_times_out);
	tcase_add_test(tc, test_guest_refuses);
	tcase_add_test(tc, test_request_expires);
	tcase_add_test(tc, test_not_ready_accept_and_close);
	tcase_add_test(tc, test_drop_clients_and_close);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
