/*
 * The bridge client: listen for the guest, accept it, negotiate protocol version 4, then send
 * requests and match responses by ID.
 *
 * One reader thread per bridge reads every frame. Callers register a pending entry keyed by the
 * request ID before they write, then sleep on the entry's condition variable until the reader
 * completes it, the bridge breaks, or their deadline passes. Writes are serialized under
 * write_lock, which also hands out IDs, so IDs reach the wire in order and frames never
 * interleave.
 *
 * As in hcsshim (internal/gcs/bridge.go), anything the host cannot make sense of breaks the
 * bridge for good: a response whose ID matches no outstanding request, a request-type message
 * from the guest, a notification type other than 0x30100101, a Size < 16 or over the limit, or a
 * response or notification body that does not decode. Every pending call then fails with the
 * reason, and later calls fail at once.
 *
 * Unlike hcsshim, a call that reaches its deadline returns -ETIMEDOUT without killing the bridge.
 * Its entry stays in the table as a tombstone so that a late answer is dropped, not taken for an
 * unknown ID.
 */
#include "bridge.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gcs/frame.h>

#include "cleanup.h"
#include "transport.h"
#include "timeutil.h"

#define DEFAULT_CONNECT_TIMEOUT_MS (120 * 1000)
#define DEFAULT_CALL_TIMEOUT_MS (5 * 60 * 1000)
#define PENDING_BUCKETS 64

enum bridge_state {
	BRIDGE_LISTENING,
	BRIDGE_NEGOTIATING,
	BRIDGE_READY,
	BRIDGE_BROKEN,
};

struct pending {
	struct pending *next;
	uint64_t id;
	uint32_t req_type;
	bool raw;
	bool delivering; /* the reader took it out of the table and is filling it in */
	bool done;
	bool abandoned; /* its caller gave up: the table owns it until the answer comes */
	int rc;
	struct gcs_error err;
	uint32_t resp_type;
	char *body; /* raw calls */
	size_t body_len;
	union gcs_proto_msg *resp; /* typed calls: the decoded response */
	pthread_cond_t cond;
};

struct gcs_bridge {
	struct gcs_transport *t;
	int connect_timeout_ms; /* -1: forever */
	int call_timeout_ms; /* -1: none */
	uint32_t max_message_size;
	void (*on_notification)(void *user, const struct gcs_proto_notification *n);
	void (*on_log)(void *user, enum gcs_log_level level, const char *msg);
	void *user;

	int listen_fd;
	int fd;

	/* write_lock: the socket's write side and next_id. Taken before lock, never after. */
	pthread_mutex_t write_lock;
	uint64_t next_id;

	/* lock: everything below. */
	pthread_mutex_t lock;
	enum bridge_state state;
	struct pending *table[PENDING_BUCKETS];
	unsigned callers; /* threads inside a call; close waits for them */
	pthread_cond_t idle;
	int broken_rc;
	struct gcs_error broken_err;

	atomic_bool broken;
	atomic_uint next_port;
	pthread_t reader;
	bool reader_started;
	bool negotiated;
	struct gcs_proto_negotiate_resp negotiate;
};

/* ---- small helpers ---- */

int64_t bridge_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : time_now_ms() + timeout_ms;
}

int bridge_time_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - time_now_ms();
	return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int bridge_thread_create(pthread_t *ret, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(ret, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

static int cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int rc;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return -rc;
}

/* Waits on c until the absolute monotonic deadline; ETIMEDOUT when it passed. */
static int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline)
{
	struct timespec ts;

	if (deadline < 0)
		return pthread_cond_wait(c, m);
	ts.tv_sec = deadline / 1000;
	ts.tv_nsec = (deadline % 1000) * 1000000;
	return pthread_cond_timedwait(c, m, &ts);
}

void bridge_log(const struct gcs_bridge *b, enum gcs_log_level level, const char *fmt, ...)
{
	char msg[GCS_ERROR_MESSAGE_MAX + 128];
	va_list ap;

	if (!b->on_log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->on_log(b->user, level, msg);
}

const struct gcs_transport *bridge_transport(const struct gcs_bridge *b)
{
	return b->t;
}

uint32_t bridge_next_port(struct gcs_bridge *b)
{
	return atomic_fetch_add(&b->next_port, 1);
}

int bridge_default_timeout(const struct gcs_bridge *b)
{
	return b->call_timeout_ms;
}

static const char *msg_name(uint32_t type, char *buf, unsigned len)
{
	return gcs_proto_msg_name(type, buf, len);
}

/* ---- the pending table ---- */

static struct pending *pending_new(uint32_t req_type, bool raw)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->req_type = req_type;
	p->raw = raw;
	if (!raw) {
		p->resp = calloc(1, sizeof(*p->resp));
		if (!p->resp) {
			free(p);
			return NULL;
		}
	}
	if (cond_init_monotonic(&p->cond) < 0) {
		free(p->resp);
		free(p);
		return NULL;
	}
	return p;
}

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	if (p->resp) {
		gcs_proto_release(p->resp);
		free(p->resp);
	}
	free(p->body);
	pthread_cond_destroy(&p->cond);
	free(p);
}

static void table_insert(struct gcs_bridge *b, struct pending *p)
{
	struct pending **head = &b->table[p->id % PENDING_BUCKETS];

	p->next = *head;
	*head = p;
}

/* Finds and unlinks the entry of id; NULL when there is none. */
static struct pending *table_take(struct gcs_bridge *b, uint64_t id)
{
	for (struct pending **pp = &b->table[id % PENDING_BUCKETS]; *pp; pp = &(*pp)->next) {
		struct pending *p = *pp;
		if (p->id == id) {
			*pp = p->next;
			p->next = NULL;
			return p;
		}
	}
	return NULL;
}

/* Completes an entry that is out of the table. Called with lock held. */
static void pending_complete(struct pending *p, int rc, const struct gcs_error *e)
{
	p->rc = rc;
	if (e)
		p->err = *e;
	p->done = true;
	pthread_cond_signal(&p->cond);
}

/* ---- breaking ---- */

/*
 * Marks the bridge broken (once: the first reason wins), fails every pending call with the
 * reason, and shuts the socket down so that the reader and blocked writers return.
 */
static void bridge_breakv(struct gcs_bridge *b, enum gcs_log_level level, int rc, int32_t hr,
			  const char *fmt, va_list ap)
{
	struct gcs_error e = { 0 };
	int fd;

	gcs_error_setv(&e, rc, hr, fmt, ap);
	pthread_mutex_lock(&b->lock);
	if (b->state == BRIDGE_BROKEN) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	b->state = BRIDGE_BROKEN;
	b->broken_rc = rc;
	b->broken_err = e;
	atomic_store(&b->broken, true);
	for (size_t i = 0; i < PENDING_BUCKETS; i++) {
		struct pending *p;
		while ((p = b->table[i])) {
			b->table[i] = p->next;
			p->next = NULL;
			if (p->abandoned)
				pending_free(p);
			else
				pending_complete(p, rc, &e);
		}
	}
	fd = b->fd;
	pthread_mutex_unlock(&b->lock);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	bridge_log(b, level, "%s", e.message);
}

static void bridge_break(struct gcs_bridge *b, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void bridge_break(struct gcs_bridge *b, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bridge_breakv(b, GCS_LOG_ERROR, rc, HR_FAIL, fmt, ap);
	va_end(ap);
}

static void bridge_break_hr(struct gcs_bridge *b, int32_t hr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void bridge_break_hr(struct gcs_bridge *b, int32_t hr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bridge_breakv(b, GCS_LOG_ERROR, -ECONNABORTED, hr, fmt, ap);
	va_end(ap);
}

/* A message the host cannot decode: the reason keeps the decoder's HRESULT. */
static void bridge_break_decode(struct gcs_bridge *b, const struct gcs_error *derr, const char *fmt,
				...) __attribute__((format(printf, 3, 4)));
static void bridge_break_decode(struct gcs_bridge *b, const struct gcs_error *derr, const char *fmt,
				...)
{
	char prefix[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	bridge_break_hr(b, derr->hresult, "%s: %s", prefix, derr->message);
}

/* The caller's own close: not worth an error line. */
static void bridge_shut(struct gcs_bridge *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void bridge_shut(struct gcs_bridge *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bridge_breakv(b, GCS_LOG_DEBUG, -ECONNABORTED, HR_FAIL, fmt, ap);
	va_end(ap);
}

bool gcs_bridge_broken(const struct gcs_bridge *b)
{
	return atomic_load(&((struct gcs_bridge *)b)->broken);
}

/* ---- the reader ---- */

/* A response: complete the pending call of its ID. Returns < 0 when the bridge broke. */
static int on_response(struct gcs_bridge *b, const struct gcs_header *h, char *body, size_t len)
{
	_cleanup_free_ char *owned = body;
	struct gcs_error derr = { 0 };
	struct pending *p;
	char name[64], name2[64];
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	p = table_take(b, h->id);
	if (!p) {
		pthread_mutex_unlock(&b->lock);
		bridge_break(b, -ECONNABORTED,
			     "bridge broken: the guest sent a response with unknown ID %llu (%s)",
			     (unsigned long long)h->id, msg_name(h->type, name, sizeof(name)));
		return -ECONNABORTED;
	}
	if (p->abandoned) {
		pthread_mutex_unlock(&b->lock);
		bridge_log(b, GCS_LOG_DEBUG,
			   "dropping the late %s for ID %llu (its caller timed out)",
			   msg_name(h->type, name, sizeof(name)), (unsigned long long)h->id);
		pending_free(p);
		return 0;
	}
	p->delivering = true;
	pthread_mutex_unlock(&b->lock);

	p->resp_type = h->type;
	if (p->raw) {
		p->body = TAKE_PTR(owned);
		p->body_len = len;
	} else {
		uint32_t want = gcs_msg_response_type(p->req_type);
		if (h->type != want)
			bridge_log(b, GCS_LOG_WARNING, "ID %llu: expected %s, got %s",
				   (unsigned long long)h->id, msg_name(want, name, sizeof(name)),
				   msg_name(h->type, name2, sizeof(name2)));
		/* hcsshim decodes into the caller's type whatever the header says. */
		rc = gcs_proto_decode(want, body, len, p->resp, &derr);
		if (rc < 0)
			bridge_break_decode(b, &derr, "bridge broken: ID %llu",
					    (unsigned long long)h->id);
	}

	pthread_mutex_lock(&b->lock);
	if (rc < 0)
		pending_complete(p, b->broken_rc, &b->broken_err);
	else
		pending_complete(p, 0, NULL);
	pthread_mutex_unlock(&b->lock);
	return rc < 0 ? -ECONNABORTED : 0;
}

static int on_notification(struct gcs_bridge *b, const struct gcs_header *h, const char *body,
			   size_t len)
{
	struct gcs_proto_notification n;
	struct gcs_error derr = { 0 };
	int rc;

	if (h->type != GCS_MSG_CONTAINER_NOTIFY) {
		bridge_break(b, -ECONNABORTED,
			     "bridge broken: the guest sent an unknown notification type 0x%08x",
			     h->type);
		return -ECONNABORTED;
	}
	rc = gcs_proto_decode(h->type, body, len, &n, &derr);
	if (rc < 0) {
		bridge_break_decode(b, &derr, "bridge broken");
		return -ECONNABORTED;
	}
	bridge_log(b, GCS_LOG_DEBUG, "notification: container %s %s", n.base.container_id, n.type);
	if (b->on_notification)
		b->on_notification(b->user, &n);
	gcs_proto_release(&n);
	return 0;
}

static int dispatch(struct gcs_bridge *b, const struct gcs_header *h, char *body, size_t len)
{
	char name[64];
	int rc;

	switch (h->type & GCS_MSG_TYPE_MASK) {
	case GCS_MSG_RESPONSE:
		return on_response(b, h, body, len);
	case GCS_MSG_NOTIFY:
		rc = on_notification(b, h, body, len);
		free(body);
		return rc;
	case GCS_MSG_REQUEST:
		free(body);
		bridge_break(b, -ECONNABORTED,
			     "bridge broken: the guest sent a request (%s, ID %llu); only the host "
			     "may send requests",
			     msg_name(h->type, name, sizeof(name)), (unsigned long long)h->id);
		return -ECONNABORTED;
	default:
		free(body);
		bridge_break(b, -ECONNABORTED,
			     "bridge broken: the guest sent a message of unknown type 0x%08x",
			     h->type);
		return -ECONNABORTED;
	}
}

static void *reader_main(void *arg)
{
	struct gcs_bridge *b = arg;

	for (;;) {
		struct gcs_header h;
		char *body;
		size_t len;
		int rc = gcs_proto_read_frame(b->fd, b->max_message_size, -1, &h, &body, &len);

		switch (rc) {
		case 0:
			break;
		case -ESHUTDOWN:
			bridge_break(b, -EPIPE, "bridge closed by the guest");
			return NULL;
		case -EPROTO:
			bridge_break(b, -EPIPE,
				     "bridge closed by the guest in the middle of a message");
			return NULL;
		case -EBADMSG:
			bridge_break(b, -ECONNABORTED,
				     "bridge broken: the guest sent a message with Size < %u",
				     GCS_HEADER_SIZE);
			return NULL;
		case -EMSGSIZE:
			bridge_break(
				b, -ECONNABORTED,
				"bridge broken: the guest sent a message over the %u-byte limit",
				b->max_message_size);
			return NULL;
		default:
			bridge_break(b, rc == -ECONNRESET ? -EPIPE : rc, "bridge read: %s",
				     strerror(-rc));
			return NULL;
		}
		if (dispatch(b, &h, body, len) < 0)
			return NULL;
	}
}

/* ---- calls ---- */

static int enter_call(struct gcs_bridge *b, bool negotiating, struct gcs_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	if (b->state == BRIDGE_BROKEN) {
		rc = b->broken_rc;
		if (err)
			*err = b->broken_err;
	} else if (b->state != (negotiating ? BRIDGE_NEGOTIATING : BRIDGE_READY)) {
		rc = gcs_error_set(err, -ENOTCONN, HR_FAIL, "bridge not connected");
	} else {
		b->callers++;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static void leave_call(struct gcs_bridge *b)
{
	pthread_mutex_lock(&b->lock);
	if (--b->callers == 0)
		pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->lock);
}

/* The frame of a raw request: the body goes out as it is. */
static int raw_frame(uint32_t type, uint64_t id, const char *body, char **ret, size_t *ret_len)
{
	size_t len = strlen(body);
	struct gcs_header h;
	char *f;

	if (len > UINT32_MAX - GCS_HEADER_SIZE)
		return -EMSGSIZE;
	f = malloc(GCS_HEADER_SIZE + len);
	if (!f)
		return -ENOMEM;
	h = (struct gcs_header){ .type = type,
				 .size = (uint32_t)(GCS_HEADER_SIZE + len),
				 .id = id };
	gcs_proto_header_encode(&h, (uint8_t *)f);
	memcpy(f + GCS_HEADER_SIZE, body, len);
	*ret = f;
	*ret_len = GCS_HEADER_SIZE + len;
	return 0;
}

/*
 * Sends one request (typed: req; raw: raw_body) and waits for its completion. On success the
 * completed entry goes to *ret_p (the caller frees it); its rc may still carry a bridge failure.
 */
static int roundtrip(struct gcs_bridge *b, uint32_t type, const void *req, const char *raw_body,
		     int64_t deadline, bool negotiating, struct pending **ret_p,
		     struct gcs_error *err)
{
	_cleanup_free_ char *frame = NULL;
	struct pending *p;
	char name[64];
	size_t len;
	int rc;

	if (!gcs_msg_is_request(type))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "0x%08x is not a request type",
				     type);
	rc = enter_call(b, negotiating, err);
	if (rc < 0)
		return rc;
	p = pending_new(type, raw_body != NULL);
	if (!p) {
		leave_call(b);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}

	pthread_mutex_lock(&b->write_lock);
	p->id = b->next_id;
	if (raw_body) {
		rc = raw_frame(type, p->id, raw_body, &frame, &len);
		if (rc < 0)
			gcs_error_set(err, rc, HR_FAIL, "%s: %s",
				      msg_name(type, name, sizeof(name)), strerror(-rc));
	} else {
		rc = gcs_proto_encode_frame(type, p->id, req, GCS_PROTO_STYLE_HOST, &frame, &len,
					    err);
	}
	if (rc >= 0) {
		pthread_mutex_lock(&b->lock);
		if (b->state == BRIDGE_BROKEN) {
			rc = b->broken_rc;
			if (err)
				*err = b->broken_err;
		} else {
			table_insert(b, p);
		}
		pthread_mutex_unlock(&b->lock);
	}
	if (rc < 0) {
		pthread_mutex_unlock(&b->write_lock);
		pending_free(p);
		leave_call(b);
		return rc;
	}
	b->next_id++;
	rc = gcs_proto_write_all(b->fd, frame, len, bridge_time_left(deadline));
	pthread_mutex_unlock(&b->write_lock);
	/* A frame cut short leaves the stream unusable: the entry fails with everything else. */
	if (rc < 0)
		bridge_break(b,
			     rc == -ETIMEDOUT  ? -ECONNABORTED :
			     rc == -ECONNRESET ? -EPIPE :
						 rc,
			     "bridge broken: writing %s (ID %llu): %s",
			     msg_name(type, name, sizeof(name)), (unsigned long long)p->id,
			     rc == -ETIMEDOUT ? "the guest stopped reading" : strerror(-rc));

	pthread_mutex_lock(&b->lock);
	while (!p->done) {
		int w = cond_wait_until(&p->cond, &b->lock, p->delivering ? -1 : deadline);
		if (w == ETIMEDOUT && !p->done && !p->delivering) {
			/* The table keeps the entry so that a late answer is recognized. */
			p->abandoned = true;
			pthread_mutex_unlock(&b->lock);
			leave_call(b);
			return gcs_error_set(err, -ETIMEDOUT, HR_FAIL,
					     "%s (ID %llu): no response from the guest in time",
					     msg_name(type, name, sizeof(name)),
					     (unsigned long long)p->id);
		}
	}
	pthread_mutex_unlock(&b->lock);
	leave_call(b);
	*ret_p = p;
	return 0;
}

static int64_t call_deadline(const struct gcs_bridge *b, uint32_t type, int timeout_ms)
{
	if (timeout_ms == 0)
		/* hcsshim sends WaitForProcess asynchronously, without a deadline. */
		timeout_ms = type == GCS_MSG_WAIT_FOR_PROCESS_REQ ? -1 : b->call_timeout_ms;
	return bridge_deadline(timeout_ms);
}

/* A non-zero Result: -EREMOTEIO with the guest's HRESULT and message. */
static int remote_error(const struct gcs_proto_response_base *r, struct gcs_error *err)
{
	const char *name;

	if (r->error_message && r->error_message[0])
		return gcs_error_set(err, -EREMOTEIO, r->result, "%s", r->error_message);
	name = gcs_proto_hresult_name(r->result);
	if (name)
		return gcs_error_set(err, -EREMOTEIO, r->result, "%s", name);
	return gcs_error_set(err, -EREMOTEIO, r->result, "HRESULT 0x%08x", (uint32_t)r->result);
}

/* Turns a completed typed entry into the call's result; frees it. */
static int finish_typed(struct pending *p, void *ret_resp, struct gcs_error *err)
{
	size_t size = 0;
	int rc = p->rc;

	if (rc < 0) {
		if (err)
			*err = p->err;
	} else if (p->resp->resp.result != 0) {
		rc = remote_error(&p->resp->resp, err);
	} else if (ret_resp) {
		gcs_proto_msg_struct(gcs_msg_response_type(p->req_type), NULL, &size);
		memcpy(ret_resp, p->resp, size);
		memset(p->resp, 0, sizeof(*p->resp));
	}
	pending_free(p);
	return rc;
}

int gcs_bridge_call(struct gcs_bridge *b, uint32_t type, const void *req, void *ret_resp,
		    int timeout_ms, struct gcs_error *err)
{
	struct pending *p = NULL;
	int rc;

	if (!b || !req)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid argument");
	if (type == GCS_MSG_NEGOTIATE_PROTOCOL_REQ)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "NegotiateProtocol is sent by gcs_bridge_connect");
	rc = roundtrip(b, type, req, NULL, call_deadline(b, type, timeout_ms), false, &p, err);
	if (rc < 0)
		return rc;
	return finish_typed(p, ret_resp, err);
}

int gcs_bridge_call_raw(struct gcs_bridge *b, uint32_t type, const char *body, int timeout_ms,
			uint32_t *ret_type, char **ret_body, struct gcs_error *err)
{
	struct pending *p = NULL;
	int rc;

	if (!b || !body || !ret_type || !ret_body)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid argument");
	rc = roundtrip(b, type, NULL, body, call_deadline(b, type, timeout_ms), false, &p, err);
	if (rc < 0)
		return rc;
	rc = p->rc;
	if (rc < 0) {
		if (err)
			*err = p->err;
	} else {
		*ret_type = p->resp_type;
		*ret_body = TAKE_PTR(p->body);
	}
	pending_free(p);
	return rc;
}

/* ---- listen, connect, negotiate, close ---- */

int gcs_bridge_listen(const struct gcs_transport *t, const struct gcs_bridge_options *o,
		      struct gcs_bridge **ret, struct gcs_error *err)
{
	static const struct gcs_bridge_options defaults = { 0 };
	struct gcs_bridge *b;
	int rc;

	if (!t || !ret)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid argument");
	if (!o)
		o = &defaults;
	b = calloc(1, sizeof(*b));
	if (!b)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	b->listen_fd = -1;
	b->fd = -1;
	b->connect_timeout_ms = o->connect_timeout_ms == 0 ? DEFAULT_CONNECT_TIMEOUT_MS :
				o->connect_timeout_ms < 0  ? -1 :
							     o->connect_timeout_ms;
	b->call_timeout_ms = o->call_timeout_ms == 0 ? DEFAULT_CALL_TIMEOUT_MS :
			     o->call_timeout_ms < 0  ? -1 :
						       o->call_timeout_ms;
	b->max_message_size = o->max_message_size ? o->max_message_size : GCS_MAX_GUEST_MESSAGE;
	b->on_notification = o->on_notification;
	b->on_log = o->on_log;
	b->user = o->user;
	b->state = BRIDGE_LISTENING;
	atomic_init(&b->broken, false);
	atomic_init(&b->next_port, GCS_PORT_STDIO_FIRST);
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->write_lock, NULL);
	pthread_cond_init(&b->idle, NULL);

	rc = transport_dup(t, &b->t);
	if (rc < 0) {
		gcs_error_set(err, rc, HR_INVALIDARG, "transport %s: %s", gcs_transport_spec(t),
			      strerror(-rc));
		gcs_bridge_close(b);
		return rc;
	}
	rc = gcs_transport_listen(b->t, GCS_PORT_BRIDGE, &b->listen_fd);
	if (rc < 0) {
		gcs_error_set(err, rc, HR_FAIL, "listen on %s port %u: %s", b->t->spec,
			      GCS_PORT_BRIDGE, strerror(-rc));
		gcs_bridge_close(b);
		return rc;
	}
	*ret = b;
	return 0;
}

/* NegotiateProtocol (ID 0): the exact request hcsshim sends, and its checks of the answer. */
static int negotiate(struct gcs_bridge *b, struct gcs_error *err)
{
	struct gcs_proto_negotiate_req req = {
		.minimum_version = GCS_PROTOCOL_VERSION,
		.maximum_version = GCS_PROTOCOL_VERSION,
	};
	struct gcs_proto_negotiate_resp resp;
	const char *os;
	struct pending *p = NULL;
	int rc;

	rc = roundtrip(b, GCS_MSG_NEGOTIATE_PROTOCOL_REQ, &req, NULL,
		       bridge_deadline(b->call_timeout_ms), true, &p, err);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "negotiate");
	memset(&resp, 0, sizeof(resp));
	rc = finish_typed(p, &resp, err);
	if (rc == -EREMOTEIO)
		return gcs_error_prefix(err, rc, "negotiate: the guest refused");
	/* A broken bridge here is an answer we could not decode, or the guest left. */
	if (rc < 0)
		return gcs_error_prefix(err, rc == -ECONNABORTED ? -EPROTO : rc, "negotiate");
	if (resp.version != GCS_PROTOCOL_VERSION) {
		rc = gcs_error_set(err, -EPROTO, HR_UNSUPPORTED_PROTOCOL_VERSION,
				   "negotiate: the guest chose protocol version %u, libgcs speaks "
				   "only version %d",
				   resp.version, GCS_PROTOCOL_VERSION);
		gcs_proto_release(&resp);
		return rc;
	}
	/* hcsshim lowercases it; an empty value would mean a Windows guest. */
	os = resp.capabilities.runtime_os_type;
	if (!os || strcasecmp(os, "linux") != 0) {
		rc = gcs_error_set(
			err, -EPROTO, HR_FAIL,
			"negotiate: the guest's RuntimeOsType is \"%s\", expected \"Linux\"",
			os ? os : "");
		gcs_proto_release(&resp);
		return rc;
	}
	b->negotiate = resp;
	b->negotiated = true;
	return 0;
}

int gcs_bridge_connect(struct gcs_bridge *b, struct gcs_error *err)
{
	struct gcs_error e = { 0 };
	enum bridge_state state;
	int fd = -1, rc;

	if (!b)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid argument");
	pthread_mutex_lock(&b->lock);
	state = b->state;
	rc = b->broken_rc;
	if (state == BRIDGE_BROKEN && err)
		*err = b->broken_err;
	pthread_mutex_unlock(&b->lock);
	if (state == BRIDGE_BROKEN)
		return rc;
	if (state != BRIDGE_LISTENING)
		return gcs_error_set(err, -EALREADY, HR_FAIL, "bridge already connected");

	rc = gcs_transport_accept(b->listen_fd, b->connect_timeout_ms, &fd);
	if (rc == -ETIMEDOUT)
		return gcs_error_set(err, rc, HR_FAIL,
				     "the guest did not connect to %s port 0x%08x within %d ms",
				     b->t->spec, GCS_PORT_BRIDGE, b->connect_timeout_ms);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "accept on %s port 0x%08x: %s", b->t->spec,
				     GCS_PORT_BRIDGE, strerror(-rc));
	/* One guest per bridge: the listener (and its socket file) go now. */
	gcs_transport_unlisten(b->t, GCS_PORT_BRIDGE, b->listen_fd);
	b->listen_fd = -1;
	bridge_log(b, GCS_LOG_DEBUG, "guest connected on %s port 0x%08x", b->t->spec,
		   GCS_PORT_BRIDGE);

	pthread_mutex_lock(&b->lock);
	b->fd = fd;
	b->state = BRIDGE_NEGOTIATING;
	pthread_mutex_unlock(&b->lock);
	rc = bridge_thread_create(&b->reader, reader_main, b);
	if (rc < 0) {
		bridge_break(b, rc, "bridge reader: %s", strerror(-rc));
		return gcs_error_set(err, rc, HR_FAIL, "start the bridge reader: %s",
				     strerror(-rc));
	}
	b->reader_started = true;

	rc = negotiate(b, &e);
	if (rc < 0) {
		bridge_break_hr(b, e.hresult, "bridge broken: %s", e.message);
		if (err)
			*err = e;
		return rc;
	}
	pthread_mutex_lock(&b->lock);
	if (b->state == BRIDGE_NEGOTIATING)
		b->state = BRIDGE_READY;
	state = b->state;
	rc = b->broken_rc;
	if (state != BRIDGE_READY && err)
		*err = b->broken_err;
	pthread_mutex_unlock(&b->lock);
	if (state != BRIDGE_READY)
		return rc;
	bridge_log(b, GCS_LOG_DEBUG, "negotiated protocol version %u with a %s guest",
		   b->negotiate.version, b->negotiate.capabilities.runtime_os_type);
	return 0;
}

const struct gcs_proto_capabilities *gcs_bridge_capabilities(const struct gcs_bridge *b)
{
	return b && b->negotiated ? &b->negotiate.capabilities : NULL;
}

void gcs_bridge_close(struct gcs_bridge *b)
{
	if (!b)
		return;
	bridge_shut(b, "bridge closed");
	if (b->reader_started)
		pthread_join(b->reader, NULL);
	/* Callers woken by the break still touch the bridge on their way out. */
	pthread_mutex_lock(&b->lock);
	while (b->callers > 0)
		pthread_cond_wait(&b->idle, &b->lock);
	pthread_mutex_unlock(&b->lock);
	if (b->fd >= 0)
		close(b->fd);
	if (b->listen_fd >= 0)
		gcs_transport_unlisten(b->t, GCS_PORT_BRIDGE, b->listen_fd);
	if (b->negotiated)
		gcs_proto_release(&b->negotiate);
	pthread_cond_destroy(&b->idle);
	pthread_mutex_destroy(&b->write_lock);
	pthread_mutex_destroy(&b->lock);
	gcs_transport_free(b->t);
	free(b);
}
