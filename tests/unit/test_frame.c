/*
 * Unit tests of protocol/frame.c: the header codec against spec section 2 byte for byte, the
 * incremental reader over socketpairs and pipes (whole, byte by byte, EOF and bad Size cases),
 * feeding from memory, the blocking helpers (timeouts, EINTR, full socket buffers, EPIPE) and the
 * write queue. Every blocking step is bounded: by a poll timeout or by Check's test timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gcs/frame.h"
#include "testutil.h"

/* Spec section 2: the first message hcsshim sends, NegotiateProtocol with ID 0. */
#define NEGOTIATE_HEADER_HEX "01 0b 10 10  7d 00 00 00  00 00 00 00 00 00 00 00"
#define NEGOTIATE_BODY                                                                   \
	"{\"ContainerId\":\"\",\"ActivityId\":\"00000000-0000-0000-0000-000000000000\"," \
	"\"MinimumVersion\":4,\"MaximumVersion\":4}\n"
#define NEGOTIATE_TYPE 0x10100b01u
#define NEGOTIATE_SIZE 125u

#define TRANSCRIPT "transcript-hcsshim-v0.12.5.txt"

/* ---- helpers ---- */

/* Little-endian header written independently of gcs_proto_header_encode. */
static void put_header(uint8_t *out, uint32_t type, uint32_t size, uint64_t id)
{
	for (int i = 0; i < 4; i++) {
		out[i] = (uint8_t)(type >> (8 * i));
		out[4 + i] = (uint8_t)(size >> (8 * i));
	}
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(id >> (8 * i));
}

/* Header + body into out; returns the frame's length. */
static size_t put_frame(uint8_t *out, uint32_t type, uint64_t id, const void *body, size_t body_len)
{
	put_header(out, type, (uint32_t)(GCS_HEADER_SIZE + body_len), id);
	if (body_len)
		memcpy(out + GCS_HEADER_SIZE, body, body_len);
	return GCS_HEADER_SIZE + body_len;
}

/* The spec's NegotiateProtocol frame, built from the spec's own hex and text. */
static size_t negotiate_frame(uint8_t *out, size_t cap)
{
	size_t n = testutil_unhex(NEGOTIATE_HEADER_HEX, out, cap);

	ck_assert_uint_eq(n, GCS_HEADER_SIZE);
	ck_assert_uint_eq(strlen(NEGOTIATE_BODY), 109);
	ck_assert_uint_ge(cap, NEGOTIATE_SIZE);
	memcpy(out + n, NEGOTIATE_BODY, strlen(NEGOTIATE_BODY));
	return NEGOTIATE_SIZE;
}

/* Deterministic bytes, so that reordering or loss shows up in a memcmp. */
static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed ? seed : 0x9e3779b9u;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

enum chan_kind { CHAN_SOCKETPAIR, CHAN_PIPE, CHAN_KINDS };

static const char *const chan_names[CHAN_KINDS] = { "socketpair", "pipe" };

/* fds[0] is the read end, fds[1] the write end. */
static void chan_open(enum chan_kind kind, int fds[2])
{
	if (kind == CHAN_SOCKETPAIR)
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	else
		ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
}

static void chan_close(int fds[2])
{
	for (int i = 0; i < 2; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static void set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK), 0);
}

static void set_sndbuf(int fd, int size)
{
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
}

/* Test-side write of everything (blocking fd). */
static void xwrite(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n > 0, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Reads whatever is available right now from a non-blocking fd, at most max bytes. */
static size_t drain_some(int fd, uint8_t *buf, size_t max)
{
	size_t got = 0;

	while (got < max) {
		ssize_t n = read(fd, buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		ck_assert_msg(n > 0, "read: %s", n < 0 ? strerror(errno) : "EOF");
		got += (size_t)n;
	}
	return got;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Takes the reader's frame and checks it against the expected values. */
static void take_and_check(struct gcs_proto_reader *r, uint32_t type, uint64_t id, const void *body,
			   size_t body_len)
{
	struct gcs_header h;
	char *b = NULL;
	size_t blen = 0;

	gcs_proto_reader_take(r, &h, &b, &blen);
	ck_assert_uint_eq(h.type, type);
	ck_assert_uint_eq(h.size, GCS_HEADER_SIZE + body_len);
	ck_assert_uint_eq(h.id, id);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(blen, body_len);
	if (body_len)
		ck_assert_mem_eq(b, body, body_len);
	ck_assert_int_eq(b[blen], '\0');
	/* Ownership moved to the caller; the reader starts over. */
	ck_assert_ptr_null(r->body);
	ck_assert_uint_eq(r->hdr_len, 0);
	ck_assert(!r->have_header);
	free(b);
}

struct delayed_writer {
	int fd;
	const uint8_t *buf;
	size_t len;
	unsigned delay_ms;
	int err;
};

/* Thread-side write of everything: records errno instead of asserting. */
static int write_full(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes the first half after delay_ms, the rest 30 ms later. */
static void *delayed_writer_main(void *arg)
{
	struct delayed_writer *w = arg;
	size_t half = w->len / 2;

	sleep_ms(w->delay_ms);
	w->err = write_full(w->fd, w->buf, half);
	sleep_ms(30);
	if (!w->err)
		w->err = write_full(w->fd, w->buf + half, w->len - half);
	return NULL;
}

/* ---- header codec ---- */

START_TEST(test_header_encode_spec)
{
	const struct gcs_header h = { .type = NEGOTIATE_TYPE, .size = NEGOTIATE_SIZE, .id = 0 };
	uint8_t want[GCS_HEADER_SIZE];
	uint8_t out[GCS_HEADER_SIZE + 4];

	ck_assert_uint_eq(testutil_unhex(NEGOTIATE_HEADER_HEX, want, sizeof(want)),
			  GCS_HEADER_SIZE);
	memset(out, 0xaa, sizeof(out));
	gcs_proto_header_encode(&h, out);
	ck_assert_mem_eq(out, want, GCS_HEADER_SIZE);
	/* Exactly 16 bytes written. */
	for (size_t i = GCS_HEADER_SIZE; i < sizeof(out); i++)
		ck_assert_uint_eq(out[i], 0xaa);
}
END_TEST

START_TEST(test_header_decode_spec)
{
	uint8_t in[GCS_HEADER_SIZE];
	struct gcs_header h;

	testutil_unhex(NEGOTIATE_HEADER_HEX, in, sizeof(in));
	memset(&h, 0xff, sizeof(h));
	ck_assert_int_eq(gcs_proto_header_decode(in, 0, &h), 0);
	ck_assert_uint_eq(h.type, NEGOTIATE_TYPE);
	ck_assert_uint_eq(h.size, NEGOTIATE_SIZE);
	ck_assert_uint_eq(h.id, 0);
	ck_assert_int_eq(gcs_proto_header_decode(in, GCS_MAX_GUEST_MESSAGE, &h), 0);
	ck_assert_uint_eq(h.size, NEGOTIATE_SIZE);
}
END_TEST

START_TEST(test_header_id_64bit)
{
	const struct gcs_header h = { .type = 0x20100601u,
				      .size = 0x00010000u,
				      .id = 0x0102030405060708ull };
	uint8_t want[GCS_HEADER_SIZE];
	uint8_t out[GCS_HEADER_SIZE];
	struct gcs_header back;

	testutil_unhex("01 06 10 20  00 00 01 00  08 07 06 05 04 03 02 01", want, sizeof(want));
	gcs_proto_header_encode(&h, out);
	ck_assert_mem_eq(out, want, sizeof(want));
	ck_assert_int_eq(gcs_proto_header_decode(out, 0, &back), 0);
	ck_assert_uint_eq(back.type, h.type);
	ck_assert_uint_eq(back.size, h.size);
	ck_assert_uint_eq(back.id, 0x0102030405060708ull);

	/* All bits set in every field survive (no sign extension, no truncation). */
	const struct gcs_header all = { .type = 0xffffffffu,
					.size = 0xffffffffu,
					.id = UINT64_MAX };
	gcs_proto_header_encode(&all, out);
	for (size_t i = 0; i < sizeof(out); i++)
		ck_assert_uint_eq(out[i], 0xff);
	ck_assert_int_eq(gcs_proto_header_decode(out, 0xffffffffu, &back), 0);
	ck_assert_uint_eq(back.type, 0xffffffffu);
	ck_assert_uint_eq(back.size, 0xffffffffu);
	ck_assert_uint_eq(back.id, UINT64_MAX);

	/* High ID bytes matter: 2^32 and 2^56 decode as such. */
	put_header(out, 1, 16, 1ull << 32);
	ck_assert_int_eq(gcs_proto_header_decode(out, 0, &back), 0);
	ck_assert_uint_eq(back.id, 1ull << 32);
	put_header(out, 1, 16, 1ull << 56);
	ck_assert_int_eq(gcs_proto_header_decode(out, 0, &back), 0);
	ck_assert_uint_eq(back.id, 1ull << 56);
}
END_TEST

START_TEST(test_header_decode_min_size)
{
	static const uint32_t bad[] = { 0, 1, 15 };
	const struct gcs_header sentinel = { .type = 0xdead, .size = 0xbeef, .id = 42 };
	uint8_t in[GCS_HEADER_SIZE];
	struct gcs_header h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_header(in, NEGOTIATE_TYPE, bad[i], 7);
		h = sentinel;
		ck_assert_int_eq(gcs_proto_header_decode(in, 0, &h), -EBADMSG);
		ck_assert_int_eq(gcs_proto_header_decode(in, 1024, &h), -EBADMSG);
		/* ret is written only on success. */
		ck_assert_mem_eq(&h, &sentinel, sizeof(h));
	}
	put_header(in, NEGOTIATE_TYPE, 16, 7);
	ck_assert_int_eq(gcs_proto_header_decode(in, 0, &h), 0);
	ck_assert_uint_eq(h.size, 16);
	ck_assert_uint_eq(h.id, 7);
	ck_assert_int_eq(gcs_proto_header_decode(in, 16, &h), 0);
}
END_TEST

START_TEST(test_header_decode_max_size)
{
	const struct gcs_header sentinel = { .type = 0xdead, .size = 0xbeef, .id = 42 };
	uint8_t in[GCS_HEADER_SIZE];
	struct gcs_header h;

	ck_assert_uint_eq(GCS_DEFAULT_MAX_INBOUND, 4u * 1024 * 1024);

	/* Default (max_size 0 means 4 MiB): 4 MiB accepted, 4 MiB + 1 not. */
	put_header(in, NEGOTIATE_TYPE, GCS_DEFAULT_MAX_INBOUND, 1);
	ck_assert_int_eq(gcs_proto_header_decode(in, 0, &h), 0);
	ck_assert_uint_eq(h.size, GCS_DEFAULT_MAX_INBOUND);
	put_header(in, NEGOTIATE_TYPE, GCS_DEFAULT_MAX_INBOUND + 1, 1);
	h = sentinel;
	ck_assert_int_eq(gcs_proto_header_decode(in, 0, &h), -EMSGSIZE);
	ck_assert_int_eq(gcs_proto_header_decode(in, GCS_DEFAULT_MAX_INBOUND, &h), -EMSGSIZE);
	ck_assert_mem_eq(&h, &sentinel, sizeof(h));
	put_header(in, NEGOTIATE_TYPE, 0xffffffffu, 1);
	ck_assert_int_eq(gcs_proto_header_decode(in, 0, &h), -EMSGSIZE);

	/* A custom limit, below and above the default. */
	put_header(in, NEGOTIATE_TYPE, 1000, 1);
	ck_assert_int_eq(gcs_proto_header_decode(in, 1000, &h), 0);
	ck_assert_int_eq(gcs_proto_header_decode(in, 999, &h), -EMSGSIZE);
	put_header(in, NEGOTIATE_TYPE, GCS_MAX_GUEST_MESSAGE + 1, 1);
	ck_assert_int_eq(gcs_proto_header_decode(in, GCS_MAX_GUEST_MESSAGE, &h), -EMSGSIZE);
	put_header(in, NEGOTIATE_TYPE, GCS_DEFAULT_MAX_INBOUND + 1, 1);
	ck_assert_int_eq(gcs_proto_header_decode(in, 2 * GCS_DEFAULT_MAX_INBOUND, &h), 0);
	ck_assert_uint_eq(h.size, GCS_DEFAULT_MAX_INBOUND + 1);

	/* Too small wins over too big: Size 15 with max 10 is -EBADMSG. */
	put_header(in, NEGOTIATE_TYPE, 15, 1);
	ck_assert_int_eq(gcs_proto_header_decode(in, 10, &h), -EBADMSG);
}
END_TEST

/* ---- reader over an fd ---- */

START_TEST(test_reader_whole_frame)
{
	enum chan_kind kind = (enum chan_kind)_i;
	uint8_t frame[256];
	size_t len = negotiate_frame(frame, sizeof(frame));
	struct gcs_proto_reader r;
	int fds[2];

	chan_open(kind, fds);
	xwrite(fds[1], frame, len);
	gcs_proto_reader_init(&r, 0);
	ck_assert_msg(gcs_proto_reader_read(&r, fds[0]) == 1, "%s", chan_names[kind]);
	ck_assert(r.have_header);
	ck_assert_uint_eq(r.body_len, strlen(NEGOTIATE_BODY));
	take_and_check(&r, NEGOTIATE_TYPE, 0, NEGOTIATE_BODY, strlen(NEGOTIATE_BODY));

	close(fds[1]);
	fds[1] = -1;
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), -ESHUTDOWN);
	gcs_proto_reader_reset(&r);
	chan_close(fds);
}
END_TEST

START_TEST(test_reader_byte_at_a_time)
{
	enum chan_kind kind = (enum chan_kind)_i;
	uint8_t frame[256];
	size_t len = negotiate_frame(frame, sizeof(frame));
	struct gcs_proto_reader r;
	int fds[2];

	chan_open(kind, fds);
	set_nonblock(fds[0], true);
	gcs_proto_reader_init(&r, 0);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 0);
	for (size_t i = 0; i < len; i++) {
		int rc;

		xwrite(fds[1], frame + i, 1);
		rc = gcs_proto_reader_read(&r, fds[0]);
		ck_assert_msg(rc == (i + 1 == len ? 1 : 0), "%s: byte %zu: rc %d", chan_names[kind],
			      i, rc);
		if (i + 1 < GCS_HEADER_SIZE)
			ck_assert(!r.have_header);
		else
			ck_assert(r.have_header);
	}
	/* Complete frames stay complete until taken. */
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 1);
	take_and_check(&r, NEGOTIATE_TYPE, 0, NEGOTIATE_BODY, strlen(NEGOTIATE_BODY));
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 0);
	chan_close(fds);
}
END_TEST

START_TEST(test_reader_two_frames_one_write)
{
	enum chan_kind kind = (enum chan_kind)_i;
	static const char body2[] = "{\"Result\":0}";
	uint8_t buf[512];
	size_t len = negotiate_frame(buf, sizeof(buf));
	struct gcs_proto_reader r;
	int fds[2];

	len += put_frame(buf + len, 0x20100b01u, 0x0102030405060708ull, body2, strlen(body2));
	chan_open(kind, fds);
	xwrite(fds[1], buf, len);
	close(fds[1]);
	fds[1] = -1;

	gcs_proto_reader_init(&r, 0);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 1);
	take_and_check(&r, NEGOTIATE_TYPE, 0, NEGOTIATE_BODY, strlen(NEGOTIATE_BODY));
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 1);
	take_and_check(&r, 0x20100b01u, 0x0102030405060708ull, body2, strlen(body2));
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), -ESHUTDOWN);
	gcs_proto_reader_reset(&r);
	chan_close(fds);
}
END_TEST

START_TEST(test_reader_body_nul_terminated)
{
	/* A body whose last byte is not NUL and whose buffer must still be terminated. */
	uint8_t frame[GCS_HEADER_SIZE + 300];
	uint8_t body[300];
	struct gcs_proto_reader r;
	int fds[2];

	memset(body, 'x', sizeof(body));
	put_frame(frame, 0x30100101u, 9, body, sizeof(body));
	chan_open(CHAN_SOCKETPAIR, fds);
	xwrite(fds[1], frame, sizeof(frame));
	gcs_proto_reader_init(&r, 0);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 1);
	ck_assert_uint_eq(r.body_len, sizeof(body));
	take_and_check(&r, 0x30100101u, 9, body, sizeof(body));
	chan_close(fds);
}
END_TEST

START_TEST(test_reader_header_only)
{
	enum chan_kind kind = (enum chan_kind)_i;
	uint8_t frame[GCS_HEADER_SIZE];
	struct gcs_proto_reader r;
	int fds[2];

	put_header(frame, 0x20100201u, GCS_HEADER_SIZE, 77);
	chan_open(kind, fds);
	set_nonblock(fds[0], true);
	xwrite(fds[1], frame, sizeof(frame));
	gcs_proto_reader_init(&r, 0);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 1);
	ck_assert_uint_eq(r.body_len, 0);
	take_and_check(&r, 0x20100201u, 77, "", 0);
	/* Nothing more was consumed or is pending. */
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 0);
	chan_close(fds);
}
END_TEST

START_TEST(test_reader_eof_before_anything)
{
	enum chan_kind kind = (enum chan_kind)_i;
	struct gcs_proto_reader r;
	int fds[2];

	chan_open(kind, fds);
	close(fds[1]);
	fds[1] = -1;
	gcs_proto_reader_init(&r, 0);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), -ESHUTDOWN);
	gcs_proto_reader_reset(&r);
	chan_close(fds);
}
END_TEST

START_TEST(test_reader_eof_in_header)
{
	enum chan_kind kind = (enum chan_kind)_i;
	static const size_t cuts[] = { 1, 4, 8, 15 };
	uint8_t frame[256];

	negotiate_frame(frame, sizeof(frame));
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct gcs_proto_reader r;
		int fds[2];

		chan_open(kind, fds);
		xwrite(fds[1], frame, cuts[i]);
		close(fds[1]);
		fds[1] = -1;
		gcs_proto_reader_init(&r, 0);
		ck_assert_msg(gcs_proto_reader_read(&r, fds[0]) == -EPROTO, "%s: %zu header bytes",
			      chan_names[kind], cuts[i]);
		gcs_proto_reader_reset(&r);
		chan_close(fds);
	}
}
END_TEST

START_TEST(test_reader_eof_in_body)
{
	enum chan_kind kind = (enum chan_kind)_i;
	/* Header only, one body byte, all but the last body byte. */
	static const size_t cuts[] = { GCS_HEADER_SIZE, GCS_HEADER_SIZE + 1, NEGOTIATE_SIZE - 1 };
	uint8_t frame[256];

	negotiate_frame(frame, sizeof(frame));
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct gcs_proto_reader r;
		int fds[2];

		chan_open(kind, fds);
		xwrite(fds[1], frame, cuts[i]);
		close(fds[1]);
		fds[1] = -1;
		gcs_proto_reader_init(&r, 0);
		ck_assert_msg(gcs_proto_reader_read(&r, fds[0]) == -EPROTO, "%s: cut at %zu",
			      chan_names[kind], cuts[i]);
		/* reset frees the half-read body (ASan would see a leak otherwise). */
		gcs_proto_reader_reset(&r);
		ck_assert_ptr_null(r.body);
		chan_close(fds);
	}
}
END_TEST

START_TEST(test_reader_size_too_small)
{
	static const uint32_t bad[] = { 0, 15 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t frame[GCS_HEADER_SIZE + 8];
		struct gcs_proto_reader r;
		int fds[2];

		put_header(frame, NEGOTIATE_TYPE, bad[i], 1);
		memset(frame + GCS_HEADER_SIZE, '{', 8);
		chan_open(CHAN_SOCKETPAIR, fds);
		xwrite(fds[1], frame, sizeof(frame));
		gcs_proto_reader_init(&r, 0);
		ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), -EBADMSG);
		gcs_proto_reader_reset(&r);
		chan_close(fds);
	}
}
END_TEST

START_TEST(test_reader_size_too_big)
{
	uint8_t frame[GCS_HEADER_SIZE + 1024];
	struct gcs_proto_reader r;
	int fds[2];

	/* Custom max 1024: Size 1025 is refused before any body byte is read... */
	chan_open(CHAN_SOCKETPAIR, fds);
	set_nonblock(fds[0], true);
	put_header(frame, NEGOTIATE_TYPE, 1025, 1);
	xwrite(fds[1], frame, GCS_HEADER_SIZE);
	gcs_proto_reader_init(&r, 1024);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), -EMSGSIZE);
	gcs_proto_reader_reset(&r);

	/* ...and reset keeps the limit: Size 1024 is fine, 1025 again refused. */
	memset(frame + GCS_HEADER_SIZE, 'b', 1024 - GCS_HEADER_SIZE);
	put_header(frame, NEGOTIATE_TYPE, 1024, 2);
	xwrite(fds[1], frame, 1024);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 1);
	take_and_check(&r, NEGOTIATE_TYPE, 2, frame + GCS_HEADER_SIZE, 1024 - GCS_HEADER_SIZE);
	put_header(frame, NEGOTIATE_TYPE, 1025, 3);
	xwrite(fds[1], frame, GCS_HEADER_SIZE);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), -EMSGSIZE);
	gcs_proto_reader_reset(&r);
	chan_close(fds);

	/* Default max: 4 MiB + 1 refused without a body ever being sent. */
	chan_open(CHAN_SOCKETPAIR, fds);
	put_header(frame, NEGOTIATE_TYPE, GCS_DEFAULT_MAX_INBOUND + 1, 4);
	xwrite(fds[1], frame, GCS_HEADER_SIZE);
	gcs_proto_reader_init(&r, 0);
	ck_assert_uint_eq(r.max_size, GCS_DEFAULT_MAX_INBOUND);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), -EMSGSIZE);
	gcs_proto_reader_reset(&r);
	chan_close(fds);
}
END_TEST

START_TEST(test_reader_read_error)
{
	struct gcs_proto_reader r;
	int fds[2];

	gcs_proto_reader_init(&r, 0);
	ck_assert_int_eq(gcs_proto_reader_read(&r, -1), -EBADF);
	gcs_proto_reader_reset(&r);

	/* Reading from the write end of a pipe is EBADF too. */
	chan_open(CHAN_PIPE, fds);
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[1]), -EBADF);
	gcs_proto_reader_reset(&r);
	chan_close(fds);
}
END_TEST

/* ---- feeding from memory ---- */

struct expected_frame {
	uint32_t type;
	uint64_t id;
	const void *body;
	size_t body_len;
	size_t end; /* offset just past this frame in the stream */
};

/* Three frames back to back: the spec's NegotiateProtocol, a header-only one, a binary body. */
static size_t build_stream(uint8_t *buf, size_t cap, struct expected_frame exp[3], uint8_t bin[40])
{
	size_t len = negotiate_frame(buf, cap);

	exp[0] = (struct expected_frame){ NEGOTIATE_TYPE, 0, NEGOTIATE_BODY, strlen(NEGOTIATE_BODY),
					  len };
	len += put_frame(buf + len, 0x20100201u, 1, NULL, 0);
	exp[1] = (struct expected_frame){ 0x20100201u, 1, "", 0, len };
	fill_pattern(bin, 40, 40);
	len += put_frame(buf + len, 0x30100101u, 0x0102030405060708ull, bin, 40);
	exp[2] = (struct expected_frame){ 0x30100101u, 0x0102030405060708ull, bin, 40, len };
	ck_assert_uint_le(len, cap);
	return len;
}

START_TEST(test_feed_chunks)
{
	size_t chunk = (size_t)_i;
	struct expected_frame exp[3];
	uint8_t buf[512], bin[40];
	size_t len = build_stream(buf, sizeof(buf), exp, bin);
	struct gcs_proto_reader r;
	size_t off = 0;
	int got = 0;

	gcs_proto_reader_init(&r, 0);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used = (size_t)-1;
		int rc = gcs_proto_reader_feed(&r, buf + off, n, &used);

		ck_assert_msg(rc == 0 || rc == 1, "chunk %zu at %zu: rc %d", chunk, off, rc);
		ck_assert_uint_le(used, n);
		if (rc == 0)
			ck_assert_msg(used == n, "chunk %zu at %zu: used %zu of %zu", chunk, off,
				      used, n);
		off += used;
		if (rc == 1) {
			ck_assert_int_lt(got, 3);
			/* Consumed exactly up to the end of this frame, not a byte more. */
			ck_assert_uint_eq(off, exp[got].end);
			take_and_check(&r, exp[got].type, exp[got].id, exp[got].body,
				       exp[got].body_len);
			got++;
		}
	}
	ck_assert_int_eq(got, 3);
	ck_assert(!r.have_header);
	ck_assert_uint_eq(r.hdr_len, 0);
}
END_TEST

START_TEST(test_feed_used_accounting)
{
	struct expected_frame exp[3];
	uint8_t buf[512], bin[40];
	size_t len = build_stream(buf, sizeof(buf), exp, bin);
	struct gcs_proto_reader r;
	size_t used;

	gcs_proto_reader_init(&r, 0);
	/* All three frames in one buffer: one frame per call. */
	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf, len, &used), 1);
	ck_assert_uint_eq(used, exp[0].end);
	/* A complete frame that was not taken consumes nothing more. */
	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf + used, len - used, &used), 1);
	ck_assert_uint_eq(used, 0);
	take_and_check(&r, exp[0].type, exp[0].id, exp[0].body, exp[0].body_len);

	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf + exp[0].end, len - exp[0].end, &used), 1);
	ck_assert_uint_eq(used, GCS_HEADER_SIZE);
	take_and_check(&r, exp[1].type, exp[1].id, exp[1].body, exp[1].body_len);

	/* The third in pieces: 10 header bytes, 6 header bytes + 5 body bytes, the rest. */
	const uint8_t *p = buf + exp[1].end;
	ck_assert_int_eq(gcs_proto_reader_feed(&r, p, 10, &used), 0);
	ck_assert_uint_eq(used, 10);
	ck_assert(!r.have_header);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, p + 10, 11, &used), 0);
	ck_assert_uint_eq(used, 11);
	ck_assert(r.have_header);
	ck_assert_uint_eq(r.body_len, 5);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, p + 21, 100, &used), 1);
	ck_assert_uint_eq(used, 35);
	take_and_check(&r, exp[2].type, exp[2].id, exp[2].body, exp[2].body_len);

	/* Nothing to feed: nothing used. */
	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf, 0, &used), 0);
	ck_assert_uint_eq(used, 0);
	gcs_proto_reader_reset(&r);
}
END_TEST

START_TEST(test_feed_bad_size)
{
	uint8_t buf[64];
	struct gcs_proto_reader r;
	size_t used;

	memset(buf, '{', sizeof(buf));
	put_header(buf, NEGOTIATE_TYPE, 15, 0);
	gcs_proto_reader_init(&r, 0);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf, sizeof(buf), &used), -EBADMSG);
	ck_assert_uint_eq(used, GCS_HEADER_SIZE);
	gcs_proto_reader_reset(&r);

	/* Split header: the error comes with the call that completes it. */
	put_header(buf, NEGOTIATE_TYPE, 0, 0);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf, 10, &used), 0);
	ck_assert_uint_eq(used, 10);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf + 10, 20, &used), -EBADMSG);
	ck_assert_uint_eq(used, 6);
	gcs_proto_reader_reset(&r);

	gcs_proto_reader_init(&r, 32);
	put_header(buf, NEGOTIATE_TYPE, 33, 0);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf, sizeof(buf), &used), -EMSGSIZE);
	ck_assert_uint_eq(used, GCS_HEADER_SIZE);
	gcs_proto_reader_reset(&r);
	put_header(buf, NEGOTIATE_TYPE, 32, 5);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, buf, sizeof(buf), &used), 1);
	ck_assert_uint_eq(used, 32);
	take_and_check(&r, NEGOTIATE_TYPE, 5, buf + GCS_HEADER_SIZE, 16);
}
END_TEST

/* Parses one frame line of the recorded transcript; false for other lines. */
static bool transcript_line(char *line, bool *ret_h2g, uint32_t *ret_type, uint32_t *ret_size,
			    uint64_t *ret_id, char **ret_body)
{
	char *p, *end;

	if (line[0] != '[')
		return false;
	p = strstr(line, "] ");
	ck_assert_ptr_nonnull(p);
	p += 2;
	ck_assert_msg(strncmp(p, "H->G ", 5) == 0 || strncmp(p, "G->H ", 5) == 0, "%s", line);
	*ret_h2g = p[0] == 'H';
	p = strstr(p, "type=0x");
	ck_assert_ptr_nonnull(p);
	*ret_type = (uint32_t)strtoul(p + 7, &end, 16);
	p = strstr(end, " size=");
	ck_assert_ptr_nonnull(p);
	*ret_size = (uint32_t)strtoul(p + 6, &end, 10);
	ck_assert_msg(strncmp(end, " id=", 4) == 0, "%s", line);
	*ret_id = strtoull(end + 4, &end, 10);
	ck_assert_int_eq(*end, ' ');
	*ret_body = end + 1;
	return true;
}

struct transcript_frame {
	uint32_t type;
	uint64_t id;
	size_t off; /* of the body in the wire buffer */
	size_t body_len;
};

/*
 * Every frame of the recorded hcsshim session, re-encoded byte for byte (H->G bodies carry the
 * trailing newline that Size counts), goes through the reader from one buffer and from a socket.
 */
START_TEST(test_transcript_frames)
{
	size_t tlen, cap, len = 0, nframes = 0, skipped = 0;
	char *text = testutil_read_data(TRANSCRIPT, &tlen);
	uint8_t *wire;
	struct transcript_frame *frames;
	struct gcs_proto_reader r;
	struct delayed_writer w = { 0 };
	pthread_t th;
	int fds[2];

	cap = tlen * 2 + 4096;
	wire = malloc(cap);
	frames = calloc(tlen / 16 + 1, sizeof(*frames));
	ck_assert_ptr_nonnull(wire);
	ck_assert_ptr_nonnull(frames);

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		uint32_t type, size;
		uint64_t id;
		char *body;
		bool h2g;
		size_t blen;
		uint8_t hdr[GCS_HEADER_SIZE];
		struct gcs_header h = { 0 };

		if (!transcript_line(line, &h2g, &type, &size, &id, &body))
			continue;
		blen = strlen(body);
		if (blen >= 14 && strcmp(body + blen - 14, "...(truncated)") == 0) {
			skipped++;
			continue;
		}
		/* Size counts the header and (host side) the newline of json.Encoder. */
		ck_assert_msg(size == GCS_HEADER_SIZE + blen + (h2g ? 1 : 0), "id %llu: size %u",
			      (unsigned long long)id, size);
		h.type = type;
		h.size = size;
		h.id = id;
		gcs_proto_header_encode(&h, hdr);
		ck_assert_uint_le(len + size, cap);
		memcpy(wire + len, hdr, sizeof(hdr));
		memcpy(wire + len + GCS_HEADER_SIZE, body, blen);
		if (h2g)
			wire[len + GCS_HEADER_SIZE + blen] = '\n';
		frames[nframes].type = type;
		frames[nframes].id = id;
		frames[nframes].off = len + GCS_HEADER_SIZE;
		frames[nframes].body_len = size - GCS_HEADER_SIZE;
		nframes++;
		len += size;
	}
	ck_assert_uint_ge(nframes, 180);
	ck_assert_uint_le(skipped, 2);

	/* From memory, one call per frame. */
	gcs_proto_reader_init(&r, GCS_MAX_GUEST_MESSAGE);
	for (size_t i = 0, off = 0; i < nframes; i++) {
		size_t used;

		ck_assert_int_eq(gcs_proto_reader_feed(&r, wire + off, len - off, &used), 1);
		off += used;
		take_and_check(&r, frames[i].type, frames[i].id, wire + frames[i].off,
			       frames[i].body_len);
	}

	/* From a blocking socket, written by a thread in two arbitrary halves. */
	chan_open(CHAN_SOCKETPAIR, fds);
	w.fd = fds[1];
	w.buf = wire;
	w.len = len;
	ck_assert_int_eq(pthread_create(&th, NULL, delayed_writer_main, &w), 0);
	for (size_t i = 0; i < nframes; i++) {
		ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), 1);
		take_and_check(&r, frames[i].type, frames[i].id, wire + frames[i].off,
			       frames[i].body_len);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(w.err, 0);
	close(fds[1]);
	fds[1] = -1;
	ck_assert_int_eq(gcs_proto_reader_read(&r, fds[0]), -ESHUTDOWN);
	gcs_proto_reader_reset(&r);
	chan_close(fds);
	free(frames);
	free(wire);
	free(text);
}
END_TEST

/* ---- gcs_proto_read_frame ---- */

START_TEST(test_read_frame_ok)
{
	bool nonblock = _i;
	uint8_t frame[256];
	size_t len = negotiate_frame(frame, sizeof(frame));
	struct gcs_header h;
	char *body = NULL;
	size_t blen = 0;
	int fds[2];

	chan_open(CHAN_SOCKETPAIR, fds);
	set_nonblock(fds[0], nonblock);
	xwrite(fds[1], frame, len);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 1000, &h, &body, &blen), 0);
	ck_assert_uint_eq(h.type, NEGOTIATE_TYPE);
	ck_assert_uint_eq(h.size, NEGOTIATE_SIZE);
	ck_assert_uint_eq(h.id, 0);
	ck_assert_uint_eq(blen, strlen(NEGOTIATE_BODY));
	ck_assert_str_eq(body, NEGOTIATE_BODY);
	free(body);

	/* Timeout 0 still reads what is already there. */
	xwrite(fds[1], frame, len);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 0, &h, &body, &blen), 0);
	ck_assert_str_eq(body, NEGOTIATE_BODY);
	free(body);

	/* No timeout at all. */
	xwrite(fds[1], frame, len);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, -1, &h, &body, &blen), 0);
	ck_assert_str_eq(body, NEGOTIATE_BODY);
	free(body);
	chan_close(fds);
}
END_TEST

START_TEST(test_read_frame_timeout)
{
	const struct gcs_header sentinel = { .type = 0xdead, .size = 0xbeef, .id = 42 };
	char *const body_sentinel = (char *)&sentinel;
	uint8_t frame[256];
	struct gcs_header h = sentinel;
	char *body = body_sentinel;
	size_t blen = 12345;
	int64_t t0, elapsed;
	int fds[2];

	chan_open(CHAN_SOCKETPAIR, fds);
	set_nonblock(fds[0], true);

	t0 = now_ms();
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 50, &h, &body, &blen), -ETIMEDOUT);
	elapsed = now_ms() - t0;
	ck_assert_msg(elapsed >= 40 && elapsed < 3000, "returned after %lld ms",
		      (long long)elapsed);
	/* Out-parameters are written only on success. */
	ck_assert_mem_eq(&h, &sentinel, sizeof(h));
	ck_assert_ptr_eq(body, body_sentinel);
	ck_assert_uint_eq(blen, 12345);

	/* Timeout 0 with nothing there. */
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 0, &h, &body, &blen), -ETIMEDOUT);

	/* Half a frame, then silence: still a timeout (and no leak of the partial body). */
	negotiate_frame(frame, sizeof(frame));
	xwrite(fds[1], frame, 40);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 50, &h, &body, &blen), -ETIMEDOUT);
	ck_assert_ptr_eq(body, body_sentinel);
	chan_close(fds);

	/* The deadline holds on a blocking socket too. */
	chan_open(CHAN_SOCKETPAIR, fds);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 50, &h, &body, &blen), -ETIMEDOUT);
	xwrite(fds[1], frame, 40);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 50, &h, &body, &blen), -ETIMEDOUT);
	chan_close(fds);
}
END_TEST

START_TEST(test_read_frame_errors)
{
	uint8_t frame[256];
	struct gcs_header h;
	char *body = NULL;
	size_t blen;
	int fds[2];

	negotiate_frame(frame, sizeof(frame));

	chan_open(CHAN_SOCKETPAIR, fds);
	close(fds[1]);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 1000, &h, &body, &blen), -ESHUTDOWN);
	close(fds[0]);

	chan_open(CHAN_SOCKETPAIR, fds);
	xwrite(fds[1], frame, 100);
	close(fds[1]);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 1000, &h, &body, &blen), -EPROTO);
	close(fds[0]);

	chan_open(CHAN_SOCKETPAIR, fds);
	put_header(frame, NEGOTIATE_TYPE, 8, 0);
	xwrite(fds[1], frame, GCS_HEADER_SIZE);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 0, 1000, &h, &body, &blen), -EBADMSG);
	put_header(frame, NEGOTIATE_TYPE, 200, 0);
	xwrite(fds[1], frame, GCS_HEADER_SIZE);
	ck_assert_int_eq(gcs_proto_read_frame(fds[0], 199, 1000, &h, &body, &blen), -EMSGSIZE);
	chan_close(fds);
	ck_assert_ptr_null(body);
}
END_TEST

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * SIGALRM without SA_RESTART keeps interrupting the reader every 10 ms while it waits (in read()
 * on a blocking fd, in poll() on a non-blocking one). The frame arrives after ~100 ms in two
 * pieces and must be read whole. Variants: blocking/-1, non-blocking/-1, non-blocking/5000 ms.
 */
START_TEST(test_read_frame_eintr)
{
	static const struct {
		bool nonblock;
		int timeout_ms;
	} variants[] = { { false, -1 }, { true, -1 }, { true, 5000 } };
	const bool nonblock = variants[_i].nonblock;
	const int timeout_ms = variants[_i].timeout_ms;
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = 0 };
	struct itimerval it = { .it_interval = { 0, 10000 }, .it_value = { 0, 20000 } };
	const struct itimerval off = { 0 };
	uint8_t frame[256];
	struct delayed_writer w = { 0 };
	sigset_t alrm, old;
	pthread_t th;
	struct gcs_header h;
	char *body = NULL;
	size_t blen = 0;
	int fds[2], rc;

	chan_open(CHAN_SOCKETPAIR, fds);
	set_nonblock(fds[0], nonblock);
	w.fd = fds[1];
	w.buf = frame;
	w.len = negotiate_frame(frame, sizeof(frame));
	w.delay_ms = 100;

	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	/* The writer thread inherits SIGALRM blocked, so every alarm hits the reader. */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &alrm, &old), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, delayed_writer_main, &w), 0);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);

	alarms = 0;
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	rc = gcs_proto_read_frame(fds[0], 0, timeout_ms, &h, &body, &blen);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);

	ck_assert_int_eq(w.err, 0);
	ck_assert_msg(alarms >= 3, "only %d alarms during the read", (int)alarms);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(h.type, NEGOTIATE_TYPE);
	ck_assert_uint_eq(h.size, NEGOTIATE_SIZE);
	ck_assert_uint_eq(blen, strlen(NEGOTIATE_BODY));
	ck_assert_str_eq(body, NEGOTIATE_BODY);
	free(body);
	chan_close(fds);
}
END_TEST

/* ---- gcs_proto_write_all ---- */

struct slow_reader {
	int fd;
	uint8_t *buf;
	size_t cap, len;
	unsigned delay_us;
	int err;
};

/* Reads 16 KiB at a time with a pause in between, until EOF. */
static void *slow_reader_main(void *arg)
{
	struct slow_reader *s = arg;

	for (;;) {
		size_t left = s->len < s->cap ? s->cap - s->len : 0;
		size_t want = left < 16384 ? left : 16384;
		uint8_t extra;
		ssize_t n;

		/* Once full, keep reading one byte at a time so that excess shows in len. */
		n = want ? read(s->fd, s->buf + s->len, want) : read(s->fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			s->err = errno;
			return NULL;
		}
		if (n == 0)
			return NULL;
		s->len += (size_t)n;
		if (s->delay_us)
			usleep(s->delay_us);
	}
}

START_TEST(test_write_all_full_buffer)
{
	const bool nonblock = _i;
	const size_t total = 4u * 1024 * 1024;
	uint8_t *src = malloc(total), *dst = malloc(total);
	struct slow_reader s = { .buf = dst, .cap = total, .delay_us = 200 };
	pthread_t th;
	int fds[2], rc;

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	fill_pattern(src, total, 4);
	chan_open(CHAN_SOCKETPAIR, fds);
	set_sndbuf(fds[1], 16384);
	set_nonblock(fds[1], nonblock);
	s.fd = fds[0];
	ck_assert_int_eq(pthread_create(&th, NULL, slow_reader_main, &s), 0);

	rc = gcs_proto_write_all(fds[1], src, total, 20000);
	close(fds[1]);
	fds[1] = -1;
	ck_assert_int_eq(pthread_join(th, NULL), 0);

	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_uint_eq(s.len, total);
	ck_assert_msg(memcmp(src, dst, total) == 0, "bytes arrived altered or out of order");
	chan_close(fds);
	free(src);
	free(dst);
}
END_TEST

START_TEST(test_write_all_timeout)
{
	static uint8_t buf[1024 * 1024];
	int fds[2];
	int64_t t0, elapsed;

	/* Nobody reads: the buffer fills up and the deadline passes. */
	chan_open(CHAN_SOCKETPAIR, fds);
	set_sndbuf(fds[1], 16384);
	set_nonblock(fds[1], true);
	t0 = now_ms();
	ck_assert_int_eq(gcs_proto_write_all(fds[1], buf, sizeof(buf), 50), -ETIMEDOUT);
	elapsed = now_ms() - t0;
	ck_assert_msg(elapsed >= 40 && elapsed < 3000, "returned after %lld ms",
		      (long long)elapsed);
	chan_close(fds);

	/* Same on a blocking socket. */
	chan_open(CHAN_SOCKETPAIR, fds);
	set_sndbuf(fds[1], 16384);
	ck_assert_int_eq(gcs_proto_write_all(fds[1], buf, sizeof(buf), 50), -ETIMEDOUT);
	chan_close(fds);

	/* Nothing to write: immediate success. */
	ck_assert_int_eq(gcs_proto_write_all(-1, buf, 0, 0), 0);
}
END_TEST

START_TEST(test_write_all_epipe)
{
	enum chan_kind kind = (enum chan_kind)_i;
	uint8_t frame[256];
	size_t len = negotiate_frame(frame, sizeof(frame));
	int fds[2];

	signal(SIGPIPE, SIG_IGN);
	chan_open(kind, fds);
	close(fds[0]);
	fds[0] = -1;
	ck_assert_int_eq(gcs_proto_write_all(fds[1], frame, len, 1000), -EPIPE);
	set_nonblock(fds[1], true);
	ck_assert_int_eq(gcs_proto_write_all(fds[1], frame, len, -1), -EPIPE);
	chan_close(fds);

	ck_assert_int_eq(gcs_proto_write_all(-1, frame, len, 0), -EBADF);
}
END_TEST

/* ---- write queue ---- */

/* A malloc'd copy of a frame, for push (which takes ownership). */
static char *dup_bytes(const void *p, size_t len)
{
	char *c = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(c);
	memcpy(c, p, len);
	return c;
}

#define WQ_FRAMES 24

/* Frame i: type, ID i + 1, a body of a size between 0 and ~5 KB with its own pattern. */
static size_t wq_frame(unsigned i, uint8_t *out, size_t cap, uint8_t *body)
{
	size_t blen = (i % 6 == 3) ? 0 : (size_t)(i * 211) % 5000 + 1;

	ck_assert_uint_le(GCS_HEADER_SIZE + blen, cap);
	fill_pattern(body, blen, i + 1);
	return put_frame(out, 0x20100601u, i + 1, body, blen);
}

/*
 * Frames go in, flush meets a small send buffer and returns -EAGAIN partway; the other end reads
 * a little, flush again, until 0. More frames are pushed while a frame is half written. What
 * arrives is the exact concatenation of the frames in push order, and `bytes` always accounts
 * for what has not been written yet.
 */
START_TEST(test_wqueue_flush_partial)
{
	const size_t cap = WQ_FRAMES * (GCS_HEADER_SIZE + 5000);
	uint8_t *stream = malloc(cap), *recv = malloc(cap), body[5000];
	size_t stream_len = 0, recv_len = 0, frame_end[WQ_FRAMES];
	unsigned pushed = 0, eagains = 0;
	struct gcs_proto_wqueue q;
	struct gcs_proto_reader r;
	int fds[2], rc = -EAGAIN;

	ck_assert_ptr_nonnull(stream);
	ck_assert_ptr_nonnull(recv);
	for (unsigned i = 0; i < WQ_FRAMES; i++) {
		stream_len += wq_frame(i, stream + stream_len, cap - stream_len, body);
		frame_end[i] = stream_len;
	}

	chan_open(CHAN_SOCKETPAIR, fds);
	set_sndbuf(fds[1], 4096);
	set_nonblock(fds[0], true);
	set_nonblock(fds[1], true);

	gcs_proto_wqueue_init(&q);
	ck_assert(gcs_proto_wqueue_empty(&q));
	ck_assert_int_eq(gcs_proto_wqueue_flush(&q, fds[1]), 0);

	/* The first half of the frames now, the rest after the first -EAGAIN. */
	for (; pushed < WQ_FRAMES / 2; pushed++) {
		size_t start = pushed ? frame_end[pushed - 1] : 0;
		size_t len = frame_end[pushed] - start;

		ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes(stream + start, len), len), 0);
	}
	ck_assert(!gcs_proto_wqueue_empty(&q));
	ck_assert_uint_eq(q.bytes, frame_end[pushed - 1]);

	for (unsigned iter = 0; rc != 0; iter++) {
		size_t queued_total = frame_end[pushed - 1];

		ck_assert_uint_lt(iter, 100000);
		rc = gcs_proto_wqueue_flush(&q, fds[1]);
		ck_assert_msg(rc == 0 || rc == -EAGAIN, "flush: %d", rc);
		if (rc == -EAGAIN) {
			eagains++;
			ck_assert(!gcs_proto_wqueue_empty(&q));
			ck_assert_uint_gt(q.bytes, 0);
		}
		/* Never more out of the queue than was put in. */
		ck_assert_uint_le(q.bytes, queued_total);
		ck_assert_uint_le(recv_len + q.bytes, queued_total);

		if (rc == -EAGAIN && pushed < WQ_FRAMES) {
			for (; pushed < WQ_FRAMES; pushed++) {
				size_t start = frame_end[pushed - 1];
				size_t len = frame_end[pushed] - start;
				size_t before = q.bytes;

				ck_assert_int_eq(gcs_proto_wqueue_push(
							 &q, dup_bytes(stream + start, len), len),
						 0);
				ck_assert_uint_eq(q.bytes, before + len);
			}
		}
		/* Read a little: 1500 bytes at most per round. */
		recv_len += drain_some(fds[0], recv + recv_len,
				       1500 < cap - recv_len ? 1500 : cap - recv_len);
	}
	ck_assert_uint_gt(eagains, 0);
	ck_assert_uint_eq(pushed, WQ_FRAMES);
	ck_assert(gcs_proto_wqueue_empty(&q));
	ck_assert_uint_eq(q.bytes, 0);

	recv_len += drain_some(fds[0], recv + recv_len, cap - recv_len);
	ck_assert_uint_eq(recv_len, stream_len);
	ck_assert_msg(memcmp(recv, stream, stream_len) == 0, "frames interleaved or altered");

	/* And it parses back into the same frames, in order. */
	gcs_proto_reader_init(&r, 0);
	for (size_t i = 0, off = 0; i < WQ_FRAMES; i++) {
		size_t used, start = i ? frame_end[i - 1] : 0;

		ck_assert_int_eq(gcs_proto_reader_feed(&r, recv + off, recv_len - off, &used), 1);
		off += used;
		ck_assert_uint_eq(off, frame_end[i]);
		take_and_check(&r, 0x20100601u, i + 1, stream + start + GCS_HEADER_SIZE,
			       frame_end[i] - start - GCS_HEADER_SIZE);
	}
	gcs_proto_wqueue_clear(&q);
	chan_close(fds);
	free(stream);
	free(recv);
}
END_TEST

START_TEST(test_wqueue_accounting)
{
	static const char a[] = "aaaa", b[] = "bbbbbbbbbb";
	struct gcs_proto_wqueue q;
	uint8_t got[64];
	int fds[2];

	chan_open(CHAN_SOCKETPAIR, fds);
	set_nonblock(fds[0], true);
	gcs_proto_wqueue_init(&q);
	ck_assert_uint_eq(q.bytes, 0);
	ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes(a, 4), 4), 0);
	ck_assert_uint_eq(q.bytes, 4);
	/* A zero-length item is allowed and goes away on flush. */
	ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes("", 0), 0), 0);
	ck_assert_uint_eq(q.bytes, 4);
	ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes(b, 10), 10), 0);
	ck_assert_uint_eq(q.bytes, 14);
	ck_assert(!gcs_proto_wqueue_empty(&q));

	ck_assert_int_eq(gcs_proto_wqueue_flush(&q, fds[1]), 0);
	ck_assert_uint_eq(q.bytes, 0);
	ck_assert(gcs_proto_wqueue_empty(&q));
	ck_assert_ptr_null(q.head);
	ck_assert_ptr_null(q.tail);
	ck_assert_uint_eq(drain_some(fds[0], got, sizeof(got)), 14);
	ck_assert_mem_eq(got, "aaaabbbbbbbbbb", 14);

	/* The queue is reusable after it ran empty (tail was reset). */
	ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes(b, 3), 3), 0);
	ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes(a, 2), 2), 0);
	ck_assert_uint_eq(q.bytes, 5);
	ck_assert_int_eq(gcs_proto_wqueue_flush(&q, fds[1]), 0);
	ck_assert_uint_eq(drain_some(fds[0], got, sizeof(got)), 5);
	ck_assert_mem_eq(got, "bbbaa", 5);
	chan_close(fds);
}
END_TEST

START_TEST(test_wqueue_clear)
{
	static uint8_t big[64 * 1024];
	struct gcs_proto_wqueue q;
	uint8_t got[16];
	int fds[2];

	chan_open(CHAN_SOCKETPAIR, fds);
	set_sndbuf(fds[1], 4096);
	set_nonblock(fds[0], true);
	set_nonblock(fds[1], true);
	gcs_proto_wqueue_init(&q);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(
			gcs_proto_wqueue_push(&q, dup_bytes(big, sizeof(big)), sizeof(big)), 0);
	ck_assert_uint_eq(q.bytes, 5 * sizeof(big));
	/* Half-written head: clear must free it and everything behind it. */
	ck_assert_int_eq(gcs_proto_wqueue_flush(&q, fds[1]), -EAGAIN);
	ck_assert_uint_gt(q.off, 0);
	ck_assert_uint_lt(q.bytes, 5 * sizeof(big));
	gcs_proto_wqueue_clear(&q);
	ck_assert(gcs_proto_wqueue_empty(&q));
	ck_assert_uint_eq(q.bytes, 0);
	ck_assert_uint_eq(q.off, 0);
	ck_assert_ptr_null(q.head);
	ck_assert_ptr_null(q.tail);
	/* Clearing an empty queue is fine; flushing it writes nothing. */
	gcs_proto_wqueue_clear(&q);
	ck_assert_int_eq(gcs_proto_wqueue_flush(&q, fds[1]), 0);

	/* Usable again on a fresh connection. */
	chan_close(fds);
	chan_open(CHAN_SOCKETPAIR, fds);
	set_nonblock(fds[0], true);
	ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes("xyz", 3), 3), 0);
	ck_assert_uint_eq(q.bytes, 3);
	ck_assert_int_eq(gcs_proto_wqueue_flush(&q, fds[1]), 0);
	ck_assert_uint_eq(drain_some(fds[0], got, sizeof(got)), 3);
	ck_assert_mem_eq(got, "xyz", 3);
	chan_close(fds);
}
END_TEST

START_TEST(test_wqueue_epipe)
{
	uint8_t frame[256];
	size_t len = negotiate_frame(frame, sizeof(frame));
	struct gcs_proto_wqueue q;
	int fds[2];

	signal(SIGPIPE, SIG_IGN);
	chan_open(CHAN_SOCKETPAIR, fds);
	set_nonblock(fds[1], true);
	close(fds[0]);
	fds[0] = -1;
	gcs_proto_wqueue_init(&q);
	ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes(frame, len), len), 0);
	ck_assert_int_eq(gcs_proto_wqueue_push(&q, dup_bytes(frame, len), len), 0);
	ck_assert_int_eq(gcs_proto_wqueue_flush(&q, fds[1]), -EPIPE);
	/* Nothing was written, nothing is lost from the accounting. */
	ck_assert(!gcs_proto_wqueue_empty(&q));
	ck_assert_uint_eq(q.bytes, 2 * len);
	ck_assert_int_eq(gcs_proto_wqueue_flush(&q, fds[1]), -EPIPE);
	gcs_proto_wqueue_clear(&q);
	ck_assert(gcs_proto_wqueue_empty(&q));
	chan_close(fds);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc;

	tc = tcase_create("header");
	tcase_add_test(tc, test_header_encode_spec);
	tcase_add_test(tc, test_header_decode_spec);
	tcase_add_test(tc, test_header_id_64bit);
	tcase_add_test(tc, test_header_decode_min_size);
	tcase_add_test(tc, test_header_decode_max_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("reader");
	tcase_add_loop_test(tc, test_reader_whole_frame, 0, CHAN_KINDS);
	tcase_add_loop_test(tc, test_reader_byte_at_a_time, 0, CHAN_KINDS);
	tcase_add_loop_test(tc, test_reader_two_frames_one_write, 0, CHAN_KINDS);
	tcase_add_test(tc, test_reader_body_nul_terminated);
	tcase_add_loop_test(tc, test_reader_header_only, 0, CHAN_KINDS);
	tcase_add_loop_test(tc, test_reader_eof_before_anything, 0, CHAN_KINDS);
	tcase_add_loop_test(tc, test_reader_eof_in_header, 0, CHAN_KINDS);
	tcase_add_loop_test(tc, test_reader_eof_in_body, 0, CHAN_KINDS);
	tcase_add_test(tc, test_reader_size_too_small);
	tcase_add_test(tc, test_reader_size_too_big);
	tcase_add_test(tc, test_reader_read_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("feed");
	tcase_add_loop_test(tc, test_feed_chunks, 1, 18);
	tcase_add_test(tc, test_feed_used_accounting);
	tcase_add_test(tc, test_feed_bad_size);
	tcase_add_test(tc, test_transcript_frames);
	suite_add_tcase(s, tc);

	tc = tcase_create("blocking");
	tcase_add_loop_test(tc, test_read_frame_ok, 0, 2);
	tcase_add_test(tc, test_read_frame_timeout);
	tcase_add_test(tc, test_read_frame_errors);
	tcase_add_loop_test(tc, test_read_frame_eintr, 0, 3);
	tcase_add_loop_test(tc, test_write_all_full_buffer, 0, 2);
	tcase_add_test(tc, test_write_all_timeout);
	tcase_add_loop_test(tc, test_write_all_epipe, 0, CHAN_KINDS);
	suite_add_tcase(s, tc);

	tc = tcase_create("wqueue");
	tcase_add_test(tc, test_wqueue_flush_partial);
	tcase_add_test(tc, test_wqueue_accounting);
	tcase_add_test(tc, test_wqueue_clear);
	tcase_add_test(tc, test_wqueue_epipe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(frame_suite());
}
