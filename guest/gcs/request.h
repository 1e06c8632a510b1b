/*
 * One request from decode to its single answer. The bridge decodes a frame into a struct
 * request and calls the handler of its type. A handler returns 0 (the bridge answers success),
 * a negative errno with err set (the bridge answers the error), or REQUEST_KEPT: it has taken
 * the request and finishes it later, exactly once, with request_reply or request_finish (it may
 * do so before it returns). Nothing else answers the host.
 *
 * A request belongs to the connection it came on. When that connection is lost, the answer of
 * a kept request is dropped when it comes; a request parked indefinitely (WaitForProcess)
 * sets a cancel function, which the bridge calls so that its owner can let go of it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gcs/guid.h"
#include "gcs/hresult.h"
#include "gcs/messages.h"
#include "list.h"

struct agent;

#define REQUEST_KEPT 1

struct request {
	struct agent *a;
	uint32_t type;
	uint64_t id;
	uint64_t conn; /* the connection it came on */
	char activity_id[GCS_GUID_STRING_LEN + 1]; /* "" when the request had none we could read */
	bool decoded;
	union gcs_proto_msg m; /* the decoded body; released with the request */
	/* Set by the owner of a parked request; called (instead of an answer) on connection loss.
	 * It must forget the request and call request_drop. */
	void (*cancel)(struct request *req);
	void *owner;
	struct list node; /* in the agent's list of live requests */
};

typedef int (*request_handler)(struct request *req, struct gcs_error *err);

/* A new request of the current connection (the bridge's); NULL when out of memory. */
struct request *request_new(struct agent *a, uint32_t type, uint64_t id);

/* Answers success with resp, a response struct of the request's type (NULL: the base only). */
void request_reply(struct request *req, void *resp);
/* Answers: rc >= 0 success (base only), else the error in err (or strerror(rc) without one). */
void request_finish(struct request *req, int rc, const struct gcs_error *err);
/* Forgets the request without an answer (its connection is gone). */
void request_drop(struct request *req);

/* The request's name for logs ("ExecuteProcess"). */
const char *request_name(const struct request *req);
/* The container ID the request names ("" when none). */
const char *request_container(const struct request *req);

/* Live requests (for DumpStacks). */
size_t request_count(struct agent *a);
/* Cancels every parked request of connection conn (connection loss). */
void request_cancel_conn(struct agent *a, uint64_t conn);
/* Frees every live request without an answer (agent exit). */
void request_drop_all(struct agent *a);
