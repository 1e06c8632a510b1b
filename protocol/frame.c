/* Bridge framing: header codec, incremental reader, blocking helpers, write queue. */
#include "gcs/frame.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

void gcs_proto_header_encode(const struct gcs_header *h, uint8_t out[GCS_HEADER_SIZE])
{
	put_le32(out, h->type);
	put_le32(out + 4, h->size);
	put_le64(out + 8, h->id);
}

int gcs_proto_header_decode(const uint8_t in[GCS_HEADER_SIZE], uint32_t max_size,
			    struct gcs_header *ret)
{
	struct gcs_header h = {
		.type = get_le32(in),
		.size = get_le32(in + 4),
		.id = get_le64(in + 8),
	};

	if (max_size == 0)
		max_size = GCS_DEFAULT_MAX_INBOUND;
	if (h.size < GCS_HEADER_SIZE)
		return -EBADMSG;
	if (h.size > max_size)
		return -EMSGSIZE;
	*ret = h;
	return 0;
}

void gcs_proto_reader_init(struct gcs_proto_reader *r, uint32_t max_size)
{
	memset(r, 0, sizeof(*r));
	r->max_size = max_size ? max_size : GCS_DEFAULT_MAX_INBOUND;
}

void gcs_proto_reader_reset(struct gcs_proto_reader *r)
{
	uint32_t max = r->max_size;

	free(r->body);
	gcs_proto_reader_init(r, max);
}

static size_t body_want(const struct gcs_proto_reader *r)
{
	return r->header.size - GCS_HEADER_SIZE;
}

/* Called once the header is complete: validate it and allocate the body buffer. */
static int reader_got_header(struct gcs_proto_reader *r)
{
	int rc = gcs_proto_header_decode(r->hdr_buf, r->max_size, &r->header);

	if (rc < 0)
		return rc;
	r->body = malloc(body_want(r) + 1);
	if (!r->body)
		return -ENOMEM;
	r->body_len = 0;
	r->have_header = true;
	return 0;
}

static bool reader_complete(const struct gcs_proto_reader *r)
{
	return r->have_header && r->body_len == body_want(r);
}

int gcs_proto_reader_feed(struct gcs_proto_reader *r, const void *data, size_t len,
			  size_t *ret_used)
{
	const uint8_t *p = data;
	size_t used = 0;
	int rc;

	if (!r->have_header) {
		size_t n = GCS_HEADER_SIZE - r->hdr_len;
		if (n > len)
			n = len;
		memcpy(r->hdr_buf + r->hdr_len, p, n);
		r->hdr_len += n;
		used += n;
		if (r->hdr_len < GCS_HEADER_SIZE) {
			*ret_used = used;
			return 0;
		}
		rc = reader_got_header(r);
		if (rc < 0) {
			*ret_used = used;
			return rc;
		}
	}
	size_t n = body_want(r) - r->body_len;
	if (n > len - used)
		n = len - used;
	memcpy(r->body + r->body_len, p + used, n);
	r->body_len += n;
	used += n;
	*ret_used = used;
	return reader_complete(r) ? 1 : 0;
}

/* With once, returns after one successful read() so that callers can poll in between. */
static int reader_read(struct gcs_proto_reader *r, int fd, bool once)
{
	for (;;) {
		void *dst;
		size_t want;
		ssize_t n;
		int rc;

		if (reader_complete(r))
			return 1;
		if (!r->have_header) {
			dst = r->hdr_buf + r->hdr_len;
			want = GCS_HEADER_SIZE - r->hdr_len;
		} else {
			dst = r->body + r->body_len;
			want = body_want(r) - r->body_len;
		}
		n = read(fd, dst, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		if (n == 0)
			return (r->hdr_len == 0) ? -ESHUTDOWN : -EPROTO;
		if (!r->have_header) {
			r->hdr_len += (size_t)n;
			if (r->hdr_len == GCS_HEADER_SIZE) {
				rc = reader_got_header(r);
				if (rc < 0)
					return rc;
			}
		} else {
			r->body_len += (size_t)n;
		}
		if (once)
			return reader_complete(r) ? 1 : 0;
	}
}

int gcs_proto_reader_read(struct gcs_proto_reader *r, int fd)
{
	return reader_read(r, fd, false);
}

void gcs_proto_reader_take(struct gcs_proto_reader *r, struct gcs_header *ret_header,
			   char **ret_body, size_t *ret_body_len)
{
	r->body[r->body_len] = '\0';
	*ret_header = r->header;
	*ret_body = r->body;
	*ret_body_len = r->body_len;
	r->body = NULL;
	gcs_proto_reader_reset(r);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline (-1 = none). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int timeout = -1;
		int n;

		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			timeout = left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
		}
		n = poll(&pfd, 1, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n > 0)
			return 0;
		if (timeout == 0)
			return -ETIMEDOUT;
	}
}

int gcs_proto_read_frame(int fd, uint32_t max_size, int timeout_ms, struct gcs_header *ret_header,
			 char **ret_body, size_t *ret_body_len)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct gcs_proto_reader r;
	int rc;

	gcs_proto_reader_init(&r, max_size);
	for (;;) {
		/* With a deadline, poll first so that a blocking fd cannot block in read(). */
		rc = deadline >= 0 ? wait_fd(fd, POLLIN, deadline) : 0;
		if (rc == 0)
			rc = reader_read(&r, fd, deadline >= 0);
		if (rc == 1)
			break;
		if (rc == 0)
			rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0) {
			gcs_proto_reader_reset(&r);
			return rc;
		}
	}
	gcs_proto_reader_take(&r, ret_header, ret_body, ret_body_len);
	return 0;
}

int gcs_proto_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	const char *p = buf;

	while (len > 0) {
		/* send(MSG_DONTWAIT) keeps the deadline even on a blocking socket; no SIGPIPE. */
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int rc = wait_fd(fd, POLLOUT, deadline);
				if (rc < 0)
					return rc;
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct gcs_proto_wqueue_item {
	struct gcs_proto_wqueue_item *next;
	char *buf;
	size_t len;
};

void gcs_proto_wqueue_init(struct gcs_proto_wqueue *q)
{
	memset(q, 0, sizeof(*q));
}

int gcs_proto_wqueue_push(struct gcs_proto_wqueue *q, char *buf, size_t len)
{
	struct gcs_proto_wqueue_item *it = calloc(1, sizeof(*it));

	if (!it)
		return -ENOMEM;
	it->buf = buf;
	it->len = len;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->bytes += len;
	return 0;
}

static void wqueue_pop(struct gcs_proto_wqueue *q)
{
	struct gcs_proto_wqueue_item *it = q->head;

	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->off = 0;
	free(it->buf);
	free(it);
}

int gcs_proto_wqueue_flush(struct gcs_proto_wqueue *q, int fd)
{
	while (q->head) {
		struct gcs_proto_wqueue_item *it = q->head;
		ssize_t n = write(fd, it->buf + q->off, it->len - q->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return -errno;
		}
		q->off += (size_t)n;
		q->bytes -= (size_t)n;
		if (q->off == it->len)
			wqueue_pop(q);
	}
	return 0;
}

bool gcs_proto_wqueue_empty(const struct gcs_proto_wqueue *q)
{
	return q->head == NULL;
}

void gcs_proto_wqueue_clear(struct gcs_proto_wqueue *q)
{
	while (q->head)
		wqueue_pop(q);
	q->bytes = 0;
}
