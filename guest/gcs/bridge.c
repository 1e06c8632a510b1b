/*
 * The bridge: reads frames from the host, routes each request to its handler (spec section 3:
 * only NegotiateProtocol before negotiation, E_NOTIMPL for the unknown), and writes responses
 * through one queue so that messages never interleave and never exceed 64 KiB.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent.h"
#include "child.h"
#include "cleanup.h"
#include "log.h"

#define BRIDGE_DIAL_TRIES 10
#define BRIDGE_DIAL_DELAY_MS 100

size_t bridge_queued(const struct agent *a)
{
	return a->wqueue.bytes;
}

static void bridge_fail(struct agent *a, int rc)
{
	if (rc == -ESHUTDOWN) {
		log_info("the host closed the bridge");
		loop_quit(a->loop, 0);
		return;
	}
	log_error("bridge connection lost", LOG_ERRNO(rc));
	loop_quit(a->loop, 1);
}

static void update_events(struct agent *a)
{
	uint32_t ev = EPOLLIN | (gcs_proto_wqueue_empty(&a->wqueue) ? 0 : EPOLLOUT);

	loop_mod(a->loop, &a->bridge_src, ev);
}

static void flush(struct agent *a)
{
	int rc = gcs_proto_wqueue_flush(&a->wqueue, a->bridge_fd);

	if (rc < 0 && rc != -EAGAIN) {
		bridge_fail(a, rc);
		return;
	}
	update_events(a);
}

/* Queues one encoded message; a message that cannot be encoded is replaced by an E_FAIL. */
static void send_msg(struct agent *a, uint32_t type, uint64_t id, const void *msg)
{
	struct gcs_error err = { 0 };
	char *frame;
	size_t len;
	int rc = gcs_proto_encode_frame(type, id, msg, GCS_PROTO_STYLE_GUEST, &frame, &len, &err);

	if (rc < 0 && gcs_msg_is_response(type)) {
		struct gcs_proto_response_base fail = {
			.result = HR_FAIL,
			.activity_id = ((const struct gcs_proto_response_base *)msg)->activity_id,
			.error_message = err.message,
		};
		log_error("cannot encode response", LOG_UINT("id", id),
			  LOG_STR("error", err.message));
		rc = gcs_proto_encode_frame(type, id, &fail, GCS_PROTO_STYLE_GUEST, &frame, &len,
					    &err);
	}
	if (rc < 0) {
		log_error("cannot encode message", LOG_HEX("type", type),
			  LOG_STR("error", err.message));
		return;
	}
	if (gcs_proto_wqueue_push(&a->wqueue, frame, len) < 0) {
		free(frame);
		bridge_fail(a, -ENOMEM);
		return;
	}
	flush(a);
}

void bridge_reply(struct agent *a, const struct request_ctx *c, void *resp)
{
	struct gcs_proto_response_base *base = resp;

	base->activity_id = c->activity_id;
	send_msg(a, gcs_msg_response_type(c->type), c->id, resp);
}

void bridge_notify(struct agent *a, const struct gcs_proto_notification *n)
{
	send_msg(a, GCS_MSG_CONTAINER_NOTIFY, 0, n);
}

void bridge_reply_ok(struct agent *a, const struct request_ctx *c)
{
	struct gcs_proto_response_base base = { 0 };

	bridge_reply(a, c, &base);
}

void bridge_reply_error(struct agent *a, const struct request_ctx *c, const struct gcs_error *err)
{
	struct gcs_proto_error_record rec = {
		.result = err->hresult,
		.message = err->message,
		.module_name = "gcs",
		.file_name = "",
		.line = UINT32_MAX,
	};
	struct gcs_proto_response_base base = {
		.result = err->hresult ? err->hresult : HR_FAIL,
		.error_message = err->message,
		.error_records = &rec,
		.n_error_records = 1,
	};
	char name[64];

	log_debug("request failed",
		  LOG_STR("type", gcs_proto_msg_name(c->type, name, sizeof(name))),
		  LOG_UINT("id", c->id), LOG_HEX("result", (uint32_t)base.result),
		  LOG_STR("error", err->message));
	bridge_reply(a, c, &base);
}

/* ---- UVM-level handlers that need no other module ---- */

static int handle_negotiate(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			    struct gcs_error *err)
{
	static const struct gcs_proto_schema_version v21 = { 2, 1 };
	struct gcs_proto_negotiate_req *req = &m->negotiate_req;
	struct gcs_proto_negotiate_resp resp = {
		.version = GCS_PROTOCOL_VERSION,
		.capabilities = {
			.supported_schema_versions = &v21,
			.n_supported_schema_versions = 1,
			.runtime_os_type = "Linux",
			/* Claim only what is implemented. */
			.guest_defined = {
				.signal_process_supported = true,
				.dump_stacks_supported = true,
				.delete_container_state_supported = true,
			},
		},
	};

	if (req->maximum_version < GCS_PROTOCOL_VERSION ||
	    req->minimum_version > GCS_PROTOCOL_VERSION)
		return gcs_error_set(err, -EPROTONOSUPPORT, HR_UNSUPPORTED_PROTOCOL_VERSION,
				     "protocol versions %u..%u requested; only %d is supported",
				     req->minimum_version, req->maximum_version,
				     GCS_PROTOCOL_VERSION);
	a->negotiated = true;
	log_info("negotiated protocol", LOG_INT("version", GCS_PROTOCOL_VERSION));
	bridge_reply(a, c, &resp);
	return 1;
}

static int handle_start(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			struct gcs_error *err)
{
	/* As in the Go GCS, Start does nothing: the first ExecuteProcess starts a container. */
	(void)a, (void)c, (void)m, (void)err;
	return 0;
}

static int handle_shutdown(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			   struct gcs_error *err)
{
	if (!is_null_container(m->req.container_id))
		return container_handle_shutdown(a, c, m, err);
	log_info("shutdown requested",
		 LOG_STR("forced", c->type == GCS_MSG_SHUTDOWN_FORCED_REQ ? "true" : "false"));
	bridge_reply_ok(a, c);
	loop_quit(a->loop, 0); /* bridge_stop sends what is queued */
	return 1;
}

static int handle_container_only(struct agent *a, const struct request_ctx *c,
				 union gcs_proto_msg *m, struct gcs_error *err)
{
	if (is_null_container(m->req.container_id))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "%s is not valid for the utility VM",
				     gcs_proto_rpc_name(c->type));
	if (c->type == GCS_MSG_GET_PROPERTIES_REQ)
		return container_handle_properties(a, c, m, err);
	return container_handle_delete(a, c, m, err);
}

static int handle_modify(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			 struct gcs_error *err)
{
	if (is_null_container(m->req.container_id))
		return storage_handle_modify(a, c, m, err);
	return container_handle_modify(a, c, m, err);
}

static int handle_dump_stacks(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			      struct gcs_error *err)
{
	/* The whole response must stay under 64 KiB, escaping included. */
	const size_t cap = 48 * 1024;
	_cleanup_free_ char *buf = malloc(cap);
	struct gcs_proto_dump_stacks_resp resp = { 0 };
	size_t n;

	(void)m;
	if (!buf)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	n = (size_t)snprintf(
		buf, cap, "gcs pid %d: protocol %s, %llu requests, %zu bytes queued to the host\n",
		getpid(), a->negotiated ? "4" : "not negotiated", (unsigned long long)a->requests,
		bridge_queued(a));
	if (n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "helper processes: %zu\n", child_count(a));
	if (n < cap) {
		container_dump(a, buf + n, cap - n);
		n += strlen(buf + n);
	}
	if (n < cap) {
		storage_dump(a, buf + n, cap - n);
		n += strlen(buf + n);
	}
	if (n < cap)
		process_dump(a, buf + n, cap - n);
	resp.guest_stacks = buf;
	bridge_reply(a, c, &resp);
	return 1;
}

static const struct {
	uint32_t type;
	request_handler fn;
} handlers[] = {
	{ GCS_MSG_CREATE_REQ, container_handle_create },
	{ GCS_MSG_START_REQ, handle_start },
	{ GCS_MSG_SHUTDOWN_GRACEFUL_REQ, handle_shutdown },
	{ GCS_MSG_SHUTDOWN_FORCED_REQ, handle_shutdown },
	{ GCS_MSG_EXECUTE_PROCESS_REQ, process_handle_exec },
	{ GCS_MSG_WAIT_FOR_PROCESS_REQ, process_handle_wait },
	{ GCS_MSG_SIGNAL_PROCESS_REQ, process_handle_signal },
	{ GCS_MSG_RESIZE_CONSOLE_REQ, process_handle_resize },
	{ GCS_MSG_GET_PROPERTIES_REQ, handle_container_only },
	{ GCS_MSG_MODIFY_SETTINGS_REQ, handle_modify },
	{ GCS_MSG_DUMP_STACKS_REQ, handle_dump_stacks },
	{ GCS_MSG_DELETE_CONTAINER_STATE_REQ, handle_container_only },
};

static request_handler find_handler(struct agent *a, uint32_t type)
{
	if (!a->negotiated)
		return type == GCS_MSG_NEGOTIATE_PROTOCOL_REQ ? handle_negotiate : NULL;
	for (size_t i = 0; i < ARRAY_SIZE(handlers); i++)
		if (handlers[i].type == type)
			return handlers[i].fn;
	return NULL;
}

static void dispatch(struct agent *a, const struct gcs_header *h, const char *body, size_t len)
{
	struct request_ctx c = { .type = h->type, .id = h->id };
	struct gcs_error err = { 0 };
	struct gcs_proto_request_base base;
	union gcs_proto_msg m;
	request_handler fn;
	char name[64];
	int rc;

	gcs_proto_msg_name(h->type, name, sizeof(name));
	if (!gcs_msg_is_request(h->type)) {
		/* The host is the only requester; there is nothing to answer. */
		log_warning("ignoring a message that is not a request", LOG_STR("type", name),
			    LOG_UINT("id", h->id));
		return;
	}
	a->requests++;
	log_debug("request", LOG_STR("type", name), LOG_UINT("id", h->id),
		  LOG_UINT("size", h->size));
	/* The activity ID is echoed even on errors, when it can be read. */
	if (gcs_proto_decode_request_base(body, len, &base, NULL) == 0) {
		snprintf(c.activity_id, sizeof(c.activity_id), "%s", base.activity_id);
		gcs_proto_release(&base);
	}
	fn = find_handler(a, h->type);
	if (!fn) {
		gcs_error_set(&err, -EOPNOTSUPP, HR_NOTIMPL, "%s is not supported%s", name,
			      a->negotiated ? "" : " before NegotiateProtocol");
		bridge_reply_error(a, &c, &err);
		return;
	}
	rc = gcs_proto_decode(h->type, body, len, &m, &err);
	if (rc < 0) {
		bridge_reply_error(a, &c, &err);
		return;
	}
	rc = fn(a, &c, &m, &err);
	if (rc == 0)
		bridge_reply_ok(a, &c);
	else if (rc < 0) {
		if (err.hresult == HR_OK)
			gcs_error_set(&err, rc, HR_FAIL, "%s", strerror(-rc));
		bridge_reply_error(a, &c, &err);
	}
	gcs_proto_release(&m);
}

static void on_bridge(struct loop_source *s, uint32_t events)
{
	struct agent *a = container_of(s, struct agent, bridge_src);

	if (events & EPOLLOUT)
		flush(a);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (int i = 0; i < 64; i++) {
		struct gcs_header h;
		char *body;
		size_t len;
		int rc = gcs_proto_reader_read(&a->reader, a->bridge_fd);

		if (rc == 0)
			return;
		if (rc < 0) {
			bridge_fail(a, rc);
			return;
		}
		gcs_proto_reader_take(&a->reader, &h, &body, &len);
		dispatch(a, &h, body, len);
		free(body);
	}
}

int bridge_start(struct agent *a, struct gcs_error *err)
{
	int rc = -EINVAL;

	for (int i = 0; i < BRIDGE_DIAL_TRIES; i++) {
		rc = transport_dial(&a->opt.transport, GCS_PORT_BRIDGE, 5000, &a->bridge_fd);
		if (rc == 0)
			break;
		log_debug("bridge dial failed, retrying", LOG_INT("try", i + 1), LOG_ERRNO(rc));
		usleep(BRIDGE_DIAL_DELAY_MS * 1000);
	}
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "cannot reach the host on port %u: %s",
				     GCS_PORT_BRIDGE, strerror(-rc));
	gcs_proto_reader_init(&a->reader, GCS_DEFAULT_MAX_INBOUND);
	gcs_proto_wqueue_init(&a->wqueue);
	rc = loop_add(a->loop, &a->bridge_src, a->bridge_fd, EPOLLIN, on_bridge);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "epoll: %s", strerror(-rc));
	log_info("bridge connected", LOG_UINT("port", GCS_PORT_BRIDGE));
	return 0;
}

void bridge_stop(struct agent *a)
{
	if (a->bridge_fd < 0)
		return;
	/* Whatever is still queued gets up to a second to go out. */
	for (int i = 0; i < 100 && gcs_proto_wqueue_flush(&a->wqueue, a->bridge_fd) == -EAGAIN;
	     i++) {
		struct pollfd p = { .fd = a->bridge_fd, .events = POLLOUT };
		poll(&p, 1, 10);
	}
	loop_del(a->loop, &a->bridge_src);
	gcs_proto_wqueue_clear(&a->wqueue);
	gcs_proto_reader_reset(&a->reader);
	close(a->bridge_fd);
	a->bridge_fd = -1;
}
