/* Requests: allocation, the single answer, and what a lost connection does to them. */
#include "request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "gcs/msgtype.h"
#include "log.h"

struct request *request_new(struct agent *a, uint32_t type, uint64_t id)
{
	struct request *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->a = a;
	req->type = type;
	req->id = id;
	req->conn = a->bridge.conn;
	list_add_tail(&a->requests, &req->node);
	return req;
}

static void request_free(struct request *req)
{
	list_del(&req->node);
	if (req->decoded)
		gcs_proto_release(&req->m);
	free(req);
}

const char *request_name(const struct request *req)
{
	static char name[64];

	return gcs_proto_msg_name(req->type, name, sizeof(name));
}

const char *request_container(const struct request *req)
{
	return req->decoded && req->m.req.container_id ? req->m.req.container_id : "";
}

void request_reply(struct request *req, void *resp)
{
	struct gcs_proto_response_base base = { 0 };
	struct gcs_proto_response_base *b = resp ? resp : &base;

	b->activity_id = req->activity_id;
	outbox_response(&req->a->out, req->conn, gcs_msg_response_type(req->type), req->id, b);
	request_free(req);
}

void request_finish(struct request *req, int rc, const struct gcs_error *err)
{
	struct gcs_error e = { 0 };
	struct gcs_proto_error_record rec;
	struct gcs_proto_response_base base = { 0 };

	if (rc >= 0) {
		request_reply(req, NULL);
		return;
	}
	if (err && err->hresult != HR_OK)
		e = *err;
	else
		gcs_error_set(&e, rc, HR_FAIL, "%s", strerror(-rc));
	rec = (struct gcs_proto_error_record){
		.result = e.hresult,
		.message = e.message,
		.module_name = "gcs",
		.file_name = "",
		.line = UINT32_MAX,
	};
	base.result = e.hresult;
	base.error_message = e.message;
	base.error_records = &rec;
	base.n_error_records = 1;
	log_debug("request failed", LOG_STR("type", request_name(req)), LOG_UINT("id", req->id),
		  LOG_HEX("result", (uint32_t)e.hresult), LOG_STR("error", e.message));
	request_reply(req, &base);
}

void request_drop(struct request *req)
{
	request_free(req);
}

size_t request_count(struct agent *a)
{
	return list_count(&a->requests);
}

void request_cancel_conn(struct agent *a, uint64_t conn)
{
	struct list *p, *t;
	bool again = true;

	/* A cancel may free other requests: start over after each. */
	while (again) {
		again = false;
		list_for_each_safe(p, t, &a->requests)
		{
			struct request *req = list_entry(p, struct request, node);
			if (req->conn != conn || !req->cancel)
				continue;
			log_debug("dropping a parked request of the lost connection",
				  LOG_STR("type", request_name(req)), LOG_UINT("id", req->id));
			req->cancel(req);
			again = true;
			break;
		}
	}
}

void request_drop_all(struct agent *a)
{
	while (!list_empty(&a->requests)) {
		struct request *req = list_entry(a->requests.next, struct request, node);
		if (req->cancel)
			req->cancel(req);
		else
			request_free(req);
	}
}
