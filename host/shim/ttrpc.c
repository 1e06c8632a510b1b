/*
 * ttrpc server and client (containerd/ttrpc v1.1.1 semantics: channel.go, server.go).
 *
 * Server model: one detached reader thread per connection decodes requests and runs their
 * handlers; a handler answers at once or keeps its call and answers later from any thread, so a
 * pending Wait never stalls the connection. Answers are written whole under the connection's
 * write lock. A connection's fd is closed as soon as its reader ends (EOF, error, shutdown);
 * calls still held then fail with -EPIPE when answered, and the connection's memory goes with
 * the last of them.
 */
#include "ttrpc.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "ttrpc.pb-c.h"

/* ---- framing ---- */

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t buf[TTRPC_HEADER_SIZE])
{
	buf[0] = (uint8_t)(h->length >> 24);
	buf[1] = (uint8_t)(h->length >> 16);
	buf[2] = (uint8_t)(h->length >> 8);
	buf[3] = (uint8_t)h->length;
	buf[4] = (uint8_t)(h->stream_id >> 24);
	buf[5] = (uint8_t)(h->stream_id >> 16);
	buf[6] = (uint8_t)(h->stream_id >> 8);
	buf[7] = (uint8_t)h->stream_id;
	buf[8] = h->type;
	buf[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t buf[TTRPC_HEADER_SIZE], struct ttrpc_header *ret)
{
	ret->length =
		(uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	ret->stream_id =
		(uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
	ret->type = buf[8];
	ret->flags = buf[9];
}

int ttrpc_write_frame(int fd, uint32_t stream_id, uint8_t type, const void *data, size_t len)
{
	struct ttrpc_header h = { .length = (uint32_t)len, .stream_id = stream_id, .type = type };
	_cleanup_free_ uint8_t *buf = NULL;
	size_t off = 0;

	if (len > TTRPC_MAX_DATA)
		return -EMSGSIZE;
	buf = malloc(TTRPC_HEADER_SIZE + len);
	if (!buf)
		return -ENOMEM;
	ttrpc_header_encode(&h, buf);
	if (len)
		memcpy(buf + TTRPC_HEADER_SIZE, data, len);
	while (off < TTRPC_HEADER_SIZE + len) {
		ssize_t n = send(fd, buf + off, TTRPC_HEADER_SIZE + len - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

int ttrpc_read_full(int fd, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, (uint8_t *)buf + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return off == 0 ? -EPIPE : -EIO;
		off += (size_t)n;
	}
	return 0;
}

static int discard(int fd, size_t len)
{
	uint8_t buf[65536];

	while (len > 0) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		int r = ttrpc_read_full(fd, buf, n);

		if (r < 0)
			return r == -EPIPE ? -EIO : r;
		len -= n;
	}
	return 0;
}

/* Packs a Response (status always present, as ttrpc's server sends it) into a malloc'd buffer. */
static int pack_response(int code, const char *message, const uint8_t *payload, size_t len,
			 uint8_t **ret_buf, size_t *ret_len)
{
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	uint8_t *buf;
	size_t n;

	st.code = code;
	st.message = (char *)(message ? message : "");
	resp.status = &st;
	resp.payload.data = (uint8_t *)payload;
	resp.payload.len = len;
	n = ttrpc__response__get_packed_size(&resp);
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	ttrpc__response__pack(&resp, buf);
	*ret_buf = buf;
	*ret_len = n;
	return 0;
}

/* ---- server ---- */

struct conn {
	struct ttrpc_server *server;
	int fd;
	bool closed;
	int refs;
	pthread_mutex_t wlock;
	struct conn *next;
};

struct ttrpc_server {
	const struct ttrpc_method *table;
	size_t n;
	void *userdata;
	int wake_fd;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct conn *conns;
	unsigned workers; /* reader threads and handler threads */
};

struct ttrpc_call {
	struct conn *conn;
	uint32_t stream_id;
	const struct ttrpc_method *method;
	Ttrpc__Request *req;
	ProtobufCMessage *msg;
};

static void conn_unref(struct conn *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->wlock);
	free(c);
}

static int conn_send(struct conn *c, uint32_t stream_id, const uint8_t *data, size_t len)
{
	int r;

	pthread_mutex_lock(&c->wlock);
	r = c->closed ? -EPIPE :
			ttrpc_write_frame(c->fd, stream_id, TTRPC_TYPE_RESPONSE, data, len);
	pthread_mutex_unlock(&c->wlock);
	return r;
}

static int send_status(struct conn *c, uint32_t stream_id, int code, const char *message)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = pack_response(code, message, NULL, 0, &buf, &len);

	return r < 0 ? r : conn_send(c, stream_id, buf, len);
}

static void call_free(struct ttrpc_call *call)
{
	if (call->msg)
		protobuf_c_message_free_unpacked(call->msg, NULL);
	if (call->req)
		ttrpc__request__free_unpacked(call->req, NULL);
	conn_unref(call->conn);
	free(call);
}

int ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *resp)
{
	_cleanup_free_ uint8_t *payload = NULL, *buf = NULL;
	size_t plen = 0, len;
	int r;

	if (resp) {
		plen = protobuf_c_message_get_packed_size(resp);
		payload = malloc(plen ? plen : 1);
		if (!payload) {
			call_free(call);
			return -ENOMEM;
		}
		protobuf_c_message_pack(resp, payload);
	}
	if (plen > TTRPC_MAX_DATA - 64) {
		free(TAKE_PTR(payload));
		return ttrpc_call_error(call, TTRPC_RESOURCE_EXHAUSTED,
					"response of %zu bytes exceeds the maximum of %u", plen,
					TTRPC_MAX_DATA);
	}
	r = pack_response(0, NULL, payload, plen, &buf, &len);
	if (r >= 0)
		r = conn_send(call->conn, call->stream_id, buf, len);
	call_free(call);
	return r;
}

int ttrpc_call_error(struct ttrpc_call *call, enum ttrpc_code code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = send_status(call->conn, call->stream_id, code == TTRPC_OK ? TTRPC_UNKNOWN : code, msg);
	call_free(call);
	return r;
}

const char *ttrpc_call_method(const struct ttrpc_call *call)
{
	return call->method->name;
}

const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key)
{
	for (size_t i = 0; i < call->req->n_metadata; i++)
		if (strcmp(call->req->metadata[i]->key, key) == 0)
			return call->req->metadata[i]->value;
	return NULL;
}

static void worker_done(struct ttrpc_server *s)
{
	pthread_mutex_lock(&s->lock);
	if (--s->workers == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static void *handler_thread(void *arg)
{
	struct ttrpc_call *call = arg;
	struct ttrpc_server *s = call->conn->server;

	call->method->handler(call, call->msg, s->userdata);
	worker_done(s);
	return NULL;
}

static const struct ttrpc_method *find_method(struct ttrpc_server *s, const char *service,
					      const char *name, bool *ret_service_known)
{
	*ret_service_known = false;
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->table[i].service, service) != 0)
			continue;
		*ret_service_known = true;
		if (strcmp(s->table[i].name, name) == 0)
			return &s->table[i];
	}
	return NULL;
}

/* Decodes one request and hands it to its handler; every failure is answered with a status. */
static int dispatch(struct conn *c, uint32_t stream_id, const uint8_t *data, size_t len)
{
	struct ttrpc_server *s = c->server;
	const struct ttrpc_method *m;
	struct ttrpc_call *call;
	Ttrpc__Request *req;
	bool service_known;
	pthread_t t;
	pthread_attr_t attr;
	int r;

	req = ttrpc__request__unpack(NULL, len, data);
	if (!req)
		return send_status(c, stream_id, TTRPC_INVALID_ARGUMENT,
				   "ttrpc: cannot decode the request");
	m = find_method(s, req->service, req->method, &service_known);
	if (!m) {
		char msg[512];

		if (service_known)
			snprintf(msg, sizeof(msg), "method %s", req->method);
		else
			snprintf(msg, sizeof(msg), "service %s", req->service);
		ttrpc__request__free_unpacked(req, NULL);
		return send_status(c, stream_id, TTRPC_UNIMPLEMENTED, msg);
	}
	call = calloc(1, sizeof(*call));
	if (!call) {
		ttrpc__request__free_unpacked(req, NULL);
		return send_status(c, stream_id, TTRPC_INTERNAL, "out of memory");
	}
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
	call->conn = c;
	call->stream_id = stream_id;
	call->method = m;
	call->req = req;
	call->msg = protobuf_c_message_unpack(m->input, NULL, req->payload.len, req->payload.data);
	if (!call->msg)
		return ttrpc_call_error(call, TTRPC_INVALID_ARGUMENT,
					"ttrpc: cannot decode the payload of %s as %s", m->name,
					m->input->name);
	if (!(m->flags & TTRPC_METHOD_THREAD)) {
		m->handler(call, call->msg, s->userdata);
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	s->workers++;
	pthread_mutex_unlock(&s->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&t, &attr, handler_thread, call);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		worker_done(s);
		return ttrpc_call_error(call, TTRPC_UNAVAILABLE, "cannot start a thread: %s",
					strerror(-r));
	}
	return 0;
}

static void *reader_thread(void *arg)
{
	struct conn *c = arg;
	struct ttrpc_server *s = c->server;

	for (;;) {
		uint8_t hb[TTRPC_HEADER_SIZE];
		_cleanup_free_ uint8_t *data = NULL;
		struct ttrpc_header h;
		char msg[128];

		if (ttrpc_read_full(c->fd, hb, sizeof(hb)) < 0)
			break;
		ttrpc_header_decode(hb, &h);
		if (h.length > TTRPC_MAX_DATA) {
			/* As ttrpc: drop the data, answer ResourceExhausted, keep the connection. */
			if (discard(c->fd, h.length) < 0)
				break;
			snprintf(msg, sizeof(msg),
				 "message length %u exceed maximum message size of %u", h.length,
				 TTRPC_MAX_DATA);
			if (send_status(c, h.stream_id, TTRPC_RESOURCE_EXHAUSTED, msg) < 0)
				break;
			continue;
		}
		data = malloc(h.length ? h.length : 1);
		if (!data || ttrpc_read_full(c->fd, data, h.length) < 0)
			break;
		if (h.type != TTRPC_TYPE_REQUEST)
			continue; /* ttrpc 1.1.1 ignores other types */
		if (h.stream_id % 2 != 1) {
			if (send_status(c, h.stream_id, TTRPC_INVALID_ARGUMENT,
					"StreamID must be odd for client initiated streams") < 0)
				break;
			continue;
		}
		if (dispatch(c, h.stream_id, data, h.length) == -ENOMEM)
			break;
	}

	pthread_mutex_lock(&s->lock);
	for (struct conn **p = &s->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&c->wlock);
	c->closed = true;
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&c->wlock);
	conn_unref(c);
	worker_done(s);
	return NULL;
}

int ttrpc_server_new(const struct ttrpc_method *table, size_t n, void *userdata,
		     struct ttrpc_server **ret_server)
{
	struct ttrpc_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		int r = -errno;

		free(s);
		return r;
	}
	s->table = table;
	s->n = n;
	s->userdata = userdata;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	*ret_server = s;
	return 0;
}

int ttrpc_server_add_conn(struct ttrpc_server *s, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->server = s;
	c->fd = fd;
	c->refs = 1;
	pthread_mutex_init(&c->wlock, NULL);
	pthread_mutex_lock(&s->lock);
	c->next = s->conns;
	s->conns = c;
	s->workers++;
	pthread_mutex_unlock(&s->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&t, &attr, reader_thread, c);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		pthread_mutex_lock(&s->lock);
		s->conns = c->next;
		pthread_mutex_unlock(&s->lock);
		conn_unref(c);
		worker_done(s);
	}
	return r;
}

int ttrpc_server_serve(struct ttrpc_server *s, int listen_fd)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = listen_fd, .events = POLLIN },
				       { .fd = s->wake_fd, .events = POLLIN } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return 0;
		if (!p[0].revents)
			continue;
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
				continue;
			return -errno;
		}
		(void)ttrpc_server_add_conn(s, fd);
	}
}

void ttrpc_server_stop(struct ttrpc_server *s)
{
	uint64_t one = 1;
	ssize_t n = write(s->wake_fd, &one, sizeof(one));

	(void)n;
}

void ttrpc_server_free(struct ttrpc_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	for (struct conn *c = s->conns; c; c = c->next) {
		pthread_mutex_lock(&c->wlock);
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		pthread_mutex_unlock(&c->wlock);
	}
	while (s->workers > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	close(s->wake_fd);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- client ---- */

struct ttrpc_client {
	int fd;
	uint32_t next_id;
	pthread_mutex_t lock;
};

int ttrpc_client_new(int fd, struct ttrpc_client **ret_client)
{
	struct ttrpc_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->next_id = 1;
	pthread_mutex_init(&c->lock, NULL);
	*ret_client = c;
	return 0;
}

int ttrpc_client_connect(const char *address, struct ttrpc_client **ret_client)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (strncmp(address, "unix://", 7) == 0)
		address += 7;
	if (strlen(address) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, address);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	r = ttrpc_client_new(fd, ret_client);
	if (r >= 0)
		TAKE_FD(fd);
	return r;
}

void ttrpc_client_free(struct ttrpc_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads frames until the answer to stream_id (others are skipped), within the deadline. */
static int read_answer(struct ttrpc_client *c, uint32_t stream_id, int64_t deadline,
		       uint8_t **ret_data, size_t *ret_len)
{
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		uint8_t hb[TTRPC_HEADER_SIZE];
		struct ttrpc_header h;
		_cleanup_free_ uint8_t *data = NULL;
		int r;

		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			r = poll(&p, 1, (int)left);
			if (r < 0 && errno != EINTR)
				return -errno;
			if (r <= 0)
				continue;
		}
		r = ttrpc_read_full(c->fd, hb, sizeof(hb));
		if (r < 0)
			return r;
		ttrpc_header_decode(hb, &h);
		if (h.length > TTRPC_MAX_DATA)
			return -EMSGSIZE;
		data = malloc(h.length ? h.length : 1);
		if (!data)
			return -ENOMEM;
		r = ttrpc_read_full(c->fd, data, h.length);
		if (r < 0)
			return r == -EPIPE ? -EIO : r;
		if (h.type != TTRPC_TYPE_RESPONSE || h.stream_id != stream_id)
			continue;
		*ret_data = TAKE_PTR(data);
		*ret_len = h.length;
		return 0;
	}
}

int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      int timeout_ms, int *ret_code, char **ret_message,
		      ProtobufCMessage **ret_resp)
{
	Ttrpc__Request r = TTRPC__REQUEST__INIT;
	_cleanup_free_ uint8_t *payload = NULL, *buf = NULL, *answer = NULL;
	Ttrpc__Response *resp;
	ProtobufCMessage *msg = NULL;
	size_t plen = req ? protobuf_c_message_get_packed_size(req) : 0, len, alen = 0;
	uint32_t id;
	int code, ret;

	payload = malloc(plen ? plen : 1);
	if (!payload)
		return -ENOMEM;
	if (req)
		protobuf_c_message_pack(req, payload);
	r.service = (char *)service;
	r.method = (char *)method;
	r.payload.data = payload;
	r.payload.len = plen;
	r.timeout_nano = timeout_ms > 0 ? (int64_t)timeout_ms * 1000000 : 0;
	len = ttrpc__request__get_packed_size(&r);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	ttrpc__request__pack(&r, buf);

	pthread_mutex_lock(&c->lock);
	id = c->next_id;
	c->next_id += 2;
	ret = ttrpc_write_frame(c->fd, id, TTRPC_TYPE_REQUEST, buf, len);
	if (ret >= 0)
		ret = read_answer(c, id, timeout_ms > 0 ? now_ms() + timeout_ms : -1, &answer,
				  &alen);
	pthread_mutex_unlock(&c->lock);
	if (ret < 0)
		return ret;

	resp = ttrpc__response__unpack(NULL, alen, answer);
	if (!resp)
		return -EBADMSG;
	code = resp->status ? resp->status->code : 0;
	if (code == 0 && ret_resp && resp_desc) {
		msg = protobuf_c_message_unpack(resp_desc, NULL, resp->payload.len,
						resp->payload.data);
		if (!msg) {
			ttrpc__response__free_unpacked(resp, NULL);
			return -EBADMSG;
		}
	}
	if (ret_message) {
		*ret_message =
			strdup(resp->status && resp->status->message ? resp->status->message : "");
		if (!*ret_message) {
			if (msg)
				protobuf_c_message_free_unpacked(msg, NULL);
			ttrpc__response__free_unpacked(resp, NULL);
			return -ENOMEM;
		}
	}
	ttrpc__response__free_unpacked(resp, NULL);
	*ret_code = code;
	if (ret_resp)
		*ret_resp = msg;
	return 0;
}
