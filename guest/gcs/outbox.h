/*
 * What the agent sends: responses and container notifications, as whole frames in one queue so
 * that messages never interleave and never exceed 64 KiB. A response belongs to one connection
 * and is dropped when that connection is gone; a notification is kept until a negotiated
 * connection has taken all of it (spec section 7.14: queued while disconnected). The queue is
 * written by the bridge, which owns the socket; it tells the bridge when it has something.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcs/messages.h"
#include "list.h"

struct outbox_item;

struct outbox {
	struct list items; /* in the order they were queued */
	struct outbox_item *cur; /* being written */
	size_t off; /* bytes of cur already written */
	size_t bytes; /* bytes of responses and notifications not yet written */
	size_t peak; /* the largest backlog since it last drained (to give memory back) */
	uint64_t conn; /* the current connection, 0 when there is none */
	bool ready; /* the current connection is negotiated: notifications may go */
	void (*wake)(struct outbox *o); /* something was queued */
};

void outbox_init(struct outbox *o, void (*wake)(struct outbox *o));
/* Encodes and queues a response of connection conn; dropped if conn is not the current one. */
void outbox_response(struct outbox *o, uint64_t conn, uint32_t type, uint64_t id, const void *msg);
/* Encodes and keeps a container notification until a negotiated connection has sent it. */
void outbox_notify(struct outbox *o, const struct gcs_proto_notification *n);
/*
 * Writes what the non-blocking fd takes: 0 when nothing sendable is left, -EAGAIN while some
 * remains, -errno on a write error.
 */
int outbox_flush(struct outbox *o, int fd);
/* Whether anything is waiting to be written to the current connection. */
bool outbox_pending(const struct outbox *o);
/* A new connection (not negotiated yet). */
void outbox_connect(struct outbox *o, uint64_t conn);
/* The connection was negotiated: its queued notifications may go. */
void outbox_negotiated(struct outbox *o);
/*
 * The connection is gone: its responses are dropped; notifications stay, a partly written one
 * is sent whole again on the next connection.
 */
void outbox_disconnect(struct outbox *o);
/* Number of notifications still kept. */
size_t outbox_notifications(const struct outbox *o);
void outbox_clear(struct outbox *o);
