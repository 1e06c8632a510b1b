/*
 * The bridge: dialing and redialing the host, reading frames with back-pressure, routing
 * requests through one table, writing the outbox. See bridge.h.
 */
#include "bridge.h"

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
#include "container.h"
#include "exec.h"
#include "gcs/msgtype.h"
#include "log.h"
#include "net.h"
#include "process.h"
#include "request.h"
#include "storage.h"
#include "timeutil.h"

#define BRIDGE_CONNECT_TIMEOUT_MS 5000

static void dial(struct agent *a);

/* EPOLLIN unless the host is not reading our answers; EPOLLOUT while there is something to send. */
static void update_events(struct agent *a)
{
	struct bridge *b = &a->bridge;
	uint32_t ev = 0;

	if (b->fd < 0 || b->connecting || b->write_error)
		return;
	if (a->stopping) {
		/* Nothing more is served: only what is queued still goes out. */
		b->reading = false;
	} else if (b->reading && a->out.bytes > BRIDGE_BACKLOG_HIGH) {
		b->reading = false;
		log_warning("the host is not reading: stopped reading requests",
			    LOG_UINT("unsent_bytes", a->out.bytes));
	} else if (!b->reading && a->out.bytes <= BRIDGE_BACKLOG_LOW) {
		b->reading = true;
		log_debug("the host reads again: reading requests",
			  LOG_UINT("unsent_bytes", a->out.bytes));
	}
	if (b->reading)
		ev |= EPOLLIN;
	if (outbox_pending(&a->out))
		ev |= EPOLLOUT;
	loop_mod(a->loop, &b->src, ev);
}

static void schedule_dial(struct agent *a);

/* Ends the current connection; everything else stays. */
static void disconnect(struct agent *a, int rc)
{
	struct bridge *b = &a->bridge;
	uint64_t conn = b->conn;

	if (b->fd < 0)
		return;
	if (rc == -ESHUTDOWN)
		log_info("the host closed the bridge", LOG_UINT("connection", conn));
	else
		log_error("bridge connection lost", LOG_UINT("connection", conn), LOG_ERRNO(rc));
	loop_del(a->loop, &b->src);
	loop_timer_cancel(a->loop, &b->fail_timer);
	close(b->fd);
	b->fd = -1;
	b->conn = 0;
	b->negotiated = false;
	b->write_error = 0;
	gcs_proto_reader_reset(&b->reader);
	outbox_disconnect(&a->out);
	request_cancel_conn(a, conn);
	if (a->stopping)
		return;
	if (a->opt.reconnect == 0) {
		/* Redialing is off: the connection was the agent's life. */
		agent_stop(a, rc == -ESHUTDOWN ? 0 : 1);
		return;
	}
	b->failures = 0;
	schedule_dial(a);
}

static void on_write_failed(struct loop_timer *t)
{
	struct agent *a = container_of(t, struct agent, bridge.fail_timer);

	disconnect(a, a->bridge.write_error);
}

/*
 * Writes what the socket takes. A write error ends the connection from a timer of its own:
 * flush runs inside handlers (through the outbox), which must not see their requests cancelled
 * under them.
 */
static void flush(struct agent *a)
{
	struct bridge *b = &a->bridge;
	int rc;

	if (b->write_error)
		return;
	rc = outbox_flush(&a->out, b->fd);
	if (rc < 0 && rc != -EAGAIN) {
		b->write_error = rc;
		loop_mod(a->loop, &b->src, 0);
		loop_timer_arm(a->loop, &b->fail_timer, 0, on_write_failed);
		return;
	}
	update_events(a);
}

static void on_outbox(struct outbox *o)
{
	struct agent *a = container_of(o, struct agent, out);

	if (a->bridge.fd >= 0 && !a->bridge.connecting)
		flush(a);
}

/* ---- UVM-level handlers that need no other module ---- */

static int handle_negotiate(struct request *req, struct gcs_error *err)
{
	static const struct gcs_proto_schema_version v21 = { 2, 1 };
	struct agent *a = req->a;
	struct gcs_proto_negotiate_req *nr = &req->m.negotiate_req;
	struct gcs_proto_negotiate_resp resp = {
		.version = GCS_PROTOCOL_VERSION,
		.capabilities = {
			.supported_schema_versions = &v21,
			.n_supported_schema_versions = 1,
			.runtime_os_type = "Linux",
			/* Claim only what is implemented. */
			.guest_defined = {
				.namespace_add_request_supported = true,
				.signal_process_supported = true,
				.dump_stacks_supported = true,
				.delete_container_state_supported = true,
				/* lcow's extension (docs/protocol.md section 17) */
				.lcow_container_operations_supported = true,
			},
		},
	};

	if (nr->maximum_version < GCS_PROTOCOL_VERSION ||
	    nr->minimum_version > GCS_PROTOCOL_VERSION)
		return gcs_error_set(err, -EPROTONOSUPPORT, HR_UNSUPPORTED_PROTOCOL_VERSION,
				     "protocol versions %u..%u requested; only %d is supported",
				     nr->minimum_version, nr->maximum_version,
				     GCS_PROTOCOL_VERSION);
	a->bridge.negotiated = true;
	log_info("negotiated protocol", LOG_INT("version", GCS_PROTOCOL_VERSION),
		 LOG_UINT("connection", a->bridge.conn),
		 LOG_UINT("queued_notifications", outbox_notifications(&a->out)));
	request_reply(req, &resp);
	/* Notifications kept while there was no negotiated connection go after the answer. */
	outbox_negotiated(&a->out);
	return REQUEST_KEPT;
}

static int handle_start(struct request *req, struct gcs_error *err)
{
	/* As in the Go GCS, Start does nothing: the first ExecuteProcess starts a container. */
	(void)req, (void)err;
	return 0;
}

static int handle_shutdown(struct request *req, struct gcs_error *err)
{
	struct agent *a = req->a;

	if (!is_uvm_id(req->m.req.container_id))
		return container_handle_shutdown(req, err);
	log_info("shutdown requested",
		 LOG_BOOL("forced", req->type == GCS_MSG_SHUTDOWN_FORCED_REQ));
	request_reply(req, NULL);
	agent_stop(a, 0);
	return REQUEST_KEPT;
}

static int handle_container_only(struct request *req, struct gcs_error *err)
{
	if (is_uvm_id(req->m.req.container_id))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "%s is not valid for the utility VM", request_name(req));
	if (req->type == GCS_MSG_GET_PROPERTIES_REQ)
		return container_handle_properties(req, err);
	return container_handle_delete(req, err);
}

static int handle_modify(struct request *req, struct gcs_error *err)
{
	if (is_uvm_id(req->m.req.container_id))
		return storage_handle_modify(req, err);
	return container_handle_modify(req, err);
}

static int handle_dump_stacks(struct request *req, struct gcs_error *err)
{
	/* The whole response must stay under 64 KiB, escaping included. */
	const size_t cap = 48 * 1024;
	struct agent *a = req->a;
	_cleanup_free_ char *buf = malloc(cap);
	struct gcs_proto_dump_stacks_resp resp = { 0 };
	size_t n;

	if (!buf)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	n = (size_t)snprintf(buf, cap,
			     "gcs pid %d: connection %llu, protocol 4, %llu requests, %zu live, "
			     "%zu bytes queued to the host, %zu notifications kept\n",
			     getpid(), (unsigned long long)a->bridge.conn,
			     (unsigned long long)a->n_requests, request_count(a), a->out.bytes,
			     outbox_notifications(&a->out));
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
	if (n < cap) {
		net_dump(a, buf + n, cap - n);
		n += strlen(buf + n);
	}
	if (n < cap)
		process_dump(a, buf + n, cap - n);
	resp.guest_stacks = buf;
	request_reply(req, &resp);
	return REQUEST_KEPT;
}

static const struct {
	uint32_t type;
	request_handler fn;
} handlers[] = {
	{ GCS_MSG_CREATE_REQ, container_handle_create },
	{ GCS_MSG_START_REQ, handle_start },
	{ GCS_MSG_SHUTDOWN_GRACEFUL_REQ, handle_shutdown },
	{ GCS_MSG_SHUTDOWN_FORCED_REQ, handle_shutdown },
	{ GCS_MSG_EXECUTE_PROCESS_REQ, exec_handle_execute },
	{ GCS_MSG_WAIT_FOR_PROCESS_REQ, exec_handle_wait },
	{ GCS_MSG_SIGNAL_PROCESS_REQ, exec_handle_signal },
	{ GCS_MSG_RESIZE_CONSOLE_REQ, exec_handle_resize },
	{ GCS_MSG_GET_PROPERTIES_REQ, handle_container_only },
	{ GCS_MSG_MODIFY_SETTINGS_REQ, handle_modify },
	{ GCS_MSG_DUMP_STACKS_REQ, handle_dump_stacks },
	{ GCS_MSG_DELETE_CONTAINER_STATE_REQ, handle_container_only },
};

static request_handler find_handler(struct agent *a, uint32_t type)
{
	if (!a->bridge.negotiated)
		return type == GCS_MSG_NEGOTIATE_PROTOCOL_REQ ? handle_negotiate : NULL;
	for (size_t i = 0; i < ARRAY_SIZE(handlers); i++)
		if (handlers[i].type == type)
			return handlers[i].fn;
	return NULL;
}

/*
 * Every message gets an answer, as from the Go GCS: the response form of its type (which for a
 * message that is not a request names no request of ours; the host never sends one).
 */
static void dispatch(struct agent *a, const struct gcs_header *h, const char *body, size_t len)
{
	struct gcs_error err = { 0 };
	struct gcs_proto_request_base base;
	struct request *req = request_new(a, h->type, h->id);
	request_handler fn;
	int rc;

	if (!req) {
		log_error("out of memory: a request is lost", LOG_UINT("id", h->id));
		return;
	}
	a->n_requests++;
	log_debug("request", LOG_STR("type", request_name(req)), LOG_UINT("id", h->id),
		  LOG_UINT("size", h->size));
	/* The activity ID is echoed even on errors, when it can be read. */
	if (gcs_proto_decode_request_base(body, len, &base, NULL) == 0) {
		snprintf(req->activity_id, sizeof(req->activity_id), "%s", base.activity_id);
		gcs_proto_release(&base);
	}
	fn = gcs_msg_is_request(h->type) ? find_handler(a, h->type) : NULL;
	if (!fn) {
		gcs_error_set(&err, -EOPNOTSUPP, HR_NOTIMPL, "%s is not supported%s",
			      request_name(req),
			      !gcs_msg_is_request(h->type) ? " (it is not a request)" :
			      a->bridge.negotiated	   ? "" :
							     " before NegotiateProtocol");
		request_finish(req, -EOPNOTSUPP, &err);
		return;
	}
	rc = gcs_proto_decode(h->type, body, len, &req->m, &err);
	if (rc < 0) {
		request_finish(req, rc, &err);
		return;
	}
	req->decoded = true;
	rc = fn(req, &err);
	if (rc != REQUEST_KEPT)
		request_finish(req, rc, &err);
}

static void on_readable(struct agent *a)
{
	struct bridge *b = &a->bridge;

	/* A bounded batch, so that one busy host does not starve the rest of the loop. */
	for (int i = 0; i < 64 && b->fd >= 0 && b->reading && !b->write_error; i++) {
		struct gcs_header h;
		char *body;
		size_t len;
		int rc = gcs_proto_reader_read(&b->reader, b->fd);

		if (rc == 0)
			return;
		if (rc < 0) {
			disconnect(a, rc);
			return;
		}
		gcs_proto_reader_take(&b->reader, &h, &body, &len);
		dispatch(a, &h, body, len);
		free(body);
		update_events(a);
	}
}

static void on_bridge(struct loop_source *s, uint32_t events)
{
	struct agent *a = container_of(s, struct agent, bridge.src);

	if (events & EPOLLOUT)
		flush(a);
	if (a->bridge.fd < 0 || a->bridge.write_error)
		return;
	if (a->bridge.reading && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		on_readable(a);
	else if (events & (EPOLLHUP | EPOLLERR))
		flush(a); /* not reading: the hang-up shows as a write error */
}

/* ---- dialing ---- */

static void connected(struct agent *a, int fd)
{
	struct bridge *b = &a->bridge;

	b->fd = fd;
	b->connecting = false;
	b->conn = ++b->next_conn;
	b->negotiated = false;
	b->reading = true;
	b->failures = 0;
	b->ever_connected = true;
	gcs_proto_reader_reset(&b->reader);
	outbox_connect(&a->out, b->conn);
	if (loop_add(a->loop, &b->src, fd, EPOLLIN, on_bridge) < 0) {
		log_error("cannot watch the bridge connection");
		close(fd);
		b->fd = -1;
		b->conn = 0;
		outbox_disconnect(&a->out);
		schedule_dial(a);
		return;
	}
	log_info("bridge connected", LOG_UINT("port", GCS_PORT_BRIDGE),
		 LOG_UINT("connection", b->conn));
	update_events(a);
}

static void dial_failed(struct agent *a, int rc)
{
	struct bridge *b = &a->bridge;
	int limit = b->ever_connected ? a->opt.reconnect : a->opt.dial_tries;

	b->failures++;
	log_debug("bridge dial failed", LOG_INT("try", b->failures), LOG_ERRNO(rc));
	if (limit >= 0 && b->failures >= limit) {
		log_error(b->ever_connected ? "cannot reach the host again: giving up" :
					      "cannot reach the host",
			  LOG_UINT("port", GCS_PORT_BRIDGE), LOG_INT("tries", b->failures),
			  LOG_ERRNO(rc));
		agent_stop(a, 1);
		return;
	}
	schedule_dial(a);
}

static void on_dial_timeout(struct loop_timer *t);

static void on_connect_done(struct loop_source *s, uint32_t events)
{
	struct agent *a = container_of(s, struct agent, bridge.src);
	struct bridge *b = &a->bridge;
	int fd = s->fd;
	int rc;

	(void)events;
	loop_del(a->loop, &b->src);
	loop_timer_cancel(a->loop, &b->timer);
	b->connecting = false;
	rc = transport_connect_finish(fd);
	if (rc < 0) {
		close(fd);
		dial_failed(a, rc);
		return;
	}
	connected(a, fd);
}

static void on_dial_timeout(struct loop_timer *t)
{
	struct agent *a = container_of(t, struct agent, bridge.timer);
	struct bridge *b = &a->bridge;

	if (b->connecting) {
		/* The connect did not complete in time. */
		loop_del(a->loop, &b->src);
		close(b->src.fd);
		b->connecting = false;
		dial_failed(a, -ETIMEDOUT);
		return;
	}
	dial(a);
}

static void schedule_dial(struct agent *a)
{
	loop_timer_arm(a->loop, &a->bridge.timer, BRIDGE_REDIAL_MS, on_dial_timeout);
}

static void dial(struct agent *a)
{
	struct bridge *b = &a->bridge;
	int fd = -1;
	int rc = transport_connect_start(&a->opt.transport, GCS_PORT_BRIDGE, &fd);

	if (rc == 0) {
		connected(a, fd);
		return;
	}
	if (rc == -EINPROGRESS) {
		rc = loop_add(a->loop, &b->src, fd, EPOLLOUT, on_connect_done);
		if (rc == 0) {
			b->connecting = true;
			loop_timer_arm(a->loop, &b->timer, BRIDGE_CONNECT_TIMEOUT_MS,
				       on_dial_timeout);
			return;
		}
		close(fd);
	}
	dial_failed(a, rc);
}

void bridge_start(struct agent *a)
{
	struct bridge *b = &a->bridge;

	b->fd = -1;
	gcs_proto_reader_init(&b->reader, GCS_DEFAULT_MAX_INBOUND);
	outbox_init(&a->out, on_outbox);
	dial(a);
}

void bridge_stop(struct agent *a)
{
	struct bridge *b = &a->bridge;
	int64_t deadline = time_now_ms() + 1000;

	loop_timer_cancel(a->loop, &b->timer);
	if (b->connecting) {
		loop_del(a->loop, &b->src);
		close(b->src.fd);
		b->connecting = false;
	}
	if (b->fd >= 0) {
		/* Whatever is still queued gets up to a second to go out. */
		while (outbox_flush(&a->out, b->fd) == -EAGAIN) {
			struct pollfd p = { .fd = b->fd, .events = POLLOUT };
			if (time_poll_until(&p, 1, deadline) <= 0)
				break;
		}
		loop_del(a->loop, &b->src);
		close(b->fd);
		b->fd = -1;
	}
	loop_timer_cancel(a->loop, &b->fail_timer);
	outbox_clear(&a->out);
	gcs_proto_reader_reset(&b->reader);
}
