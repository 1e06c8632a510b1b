/* The agent's outgoing frames: one FIFO, responses tied to their connection. */
#include "outbox.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/frame.h"
#include "gcs/msgtype.h"
#include "log.h"

struct outbox_item {
	struct list node;
	bool notification;
	char *buf;
	size_t len;
};

/* Above this a drained queue gives its memory back to the system. */
#define OUTBOX_TRIM_BYTES (256 * 1024)

void outbox_init(struct outbox *o, void (*wake)(struct outbox *o))
{
	memset(o, 0, sizeof(*o));
	list_init(&o->items);
	o->wake = wake;
}

static void item_free(struct outbox *o, struct outbox_item *it)
{
	if (o->cur == it) {
		o->cur = NULL;
		o->off = 0;
	}
	o->bytes -= it->len;
	list_del(&it->node);
	free(it->buf);
	free(it);
}

static void push(struct outbox *o, char *frame, size_t len, bool notification)
{
	struct outbox_item *it = calloc(1, sizeof(*it));

	if (!it) {
		log_error("out of memory: a message to the host is lost");
		free(frame);
		return;
	}
	it->buf = frame;
	it->len = len;
	it->notification = notification;
	list_add_tail(&o->items, &it->node);
	o->bytes += len;
	if (o->bytes > o->peak)
		o->peak = o->bytes;
	if (o->wake)
		o->wake(o);
}

/* Encodes msg; a response that cannot be encoded is replaced by an E_FAIL answer. */
static int encode(uint32_t type, uint64_t id, const void *msg, char **frame, size_t *len)
{
	struct gcs_error err = { 0 };
	int rc = gcs_proto_encode_frame(type, id, msg, GCS_PROTO_STYLE_GUEST, frame, len, &err);

	if (rc < 0 && gcs_msg_is_response(type)) {
		struct gcs_proto_response_base fail = {
			.result = HR_FAIL,
			.activity_id = ((const struct gcs_proto_response_base *)msg)->activity_id,
			.error_message = err.message,
		};
		log_error("cannot encode a response", LOG_UINT("id", id),
			  LOG_STR("error", err.message));
		rc = gcs_proto_encode_frame(type, id, &fail, GCS_PROTO_STYLE_GUEST, frame, len,
					    &err);
	}
	if (rc < 0)
		log_error("cannot encode a message", LOG_HEX("type", type),
			  LOG_STR("error", err.message));
	return rc;
}

void outbox_response(struct outbox *o, uint64_t conn, uint32_t type, uint64_t id, const void *msg)
{
	char *frame;
	size_t len;

	if (conn == 0 || conn != o->conn) {
		log_debug("dropping the answer of a request of a lost connection",
			  LOG_HEX("type", type), LOG_UINT("id", id));
		return;
	}
	if (encode(type, id, msg, &frame, &len) == 0)
		push(o, frame, len, false);
}

void outbox_notify(struct outbox *o, const struct gcs_proto_notification *n)
{
	char *frame;
	size_t len;

	if (encode(GCS_MSG_CONTAINER_NOTIFY, 0, n, &frame, &len) == 0)
		push(o, frame, len, true);
}

static bool sendable(const struct outbox *o, const struct outbox_item *it)
{
	return o->conn != 0 && (!it->notification || o->ready);
}

static struct outbox_item *next_item(struct outbox *o)
{
	struct list *p;

	if (o->cur)
		return o->cur;
	for (p = o->items.next; p != &o->items; p = p->next) {
		struct outbox_item *it = list_entry(p, struct outbox_item, node);
		if (sendable(o, it)) {
			o->cur = it;
			o->off = 0;
			return it;
		}
	}
	return NULL;
}

int outbox_flush(struct outbox *o, int fd)
{
	struct outbox_item *it;

	while ((it = next_item(o))) {
		ssize_t n = write(fd, it->buf + o->off, it->len - o->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -EAGAIN : -errno;
		}
		o->off += (size_t)n;
		if (o->off == it->len)
			item_free(o, it);
	}
	/* A backlog that drained gives its memory back (the host may have stopped reading). */
	if (list_empty(&o->items) && o->peak > OUTBOX_TRIM_BYTES) {
		o->peak = 0;
		malloc_trim(0);
	}
	return 0;
}

bool outbox_pending(const struct outbox *o)
{
	struct list *p;

	if (o->cur)
		return true;
	for (p = o->items.next; p != &o->items; p = p->next)
		if (sendable(o, list_entry(p, struct outbox_item, node)))
			return true;
	return false;
}

void outbox_connect(struct outbox *o, uint64_t conn)
{
	o->conn = conn;
	o->ready = false;
}

void outbox_negotiated(struct outbox *o)
{
	o->ready = true;
	if (o->wake && outbox_pending(o))
		o->wake(o);
}

void outbox_disconnect(struct outbox *o)
{
	struct list *p, *t;

	o->cur = NULL;
	o->off = 0;
	list_for_each_safe(p, t, &o->items)
	{
		struct outbox_item *it = list_entry(p, struct outbox_item, node);
		if (!it->notification)
			item_free(o, it);
	}
	o->conn = 0;
	o->ready = false;
}

size_t outbox_notifications(const struct outbox *o)
{
	size_t n = 0;

	for (const struct list *p = o->items.next; p != &o->items; p = p->next)
		n += list_entry(p, struct outbox_item, node)->notification;
	return n;
}

void outbox_clear(struct outbox *o)
{
	while (!list_empty(&o->items))
		item_free(o, list_entry(o->items.next, struct outbox_item, node));
}
