/*
 * GetProperties of a container (spec section 11): ProcessList from the runtime, Statistics
 * (LCOWMetrics) from the init's cgroups. A part that was asked for and cannot be had is an
 * error, never an answer with the part silently missing; so is a process list too long for one
 * response (the host kills the bridge on a message of 64 KiB or more).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cgroup.h"
#include "cleanup.h"
#include "container.h"
#include "container_internal.h"
#include "gcs/frame.h"
#include "gcs/msgtype.h"
#include "log.h"

static bool running(const struct container *c)
{
	return !c->init_done && c->init_pid > 0;
}

/* The encoded size of the response, its header included. */
static int encoded_size(const struct request *ctx, struct gcs_proto_get_properties_resp *resp,
			size_t *ret, struct gcs_error *err)
{
	_cleanup_free_ char *frame = NULL;
	int rc;

	resp->base.activity_id = (char *)ctx->activity_id;
	rc = gcs_proto_encode_frame(gcs_msg_response_type(ctx->type), ctx->id, resp,
				    GCS_PROTO_STYLE_GUEST, &frame, ret, err);
	return rc;
}

static void answer(struct container *c, struct request *ctx, bool want_metrics, const pid_t *pids,
		   size_t n)
{
	struct gcs_proto_get_properties_resp resp = { 0 };
	_cleanup_free_ struct gcs_proto_process_item *items = NULL;
	json_auto_t *metrics = NULL;
	struct gcs_error err = { 0 };
	size_t size = 0;
	int rc;

	if (n) {
		items = calloc(n, sizeof(*items));
		if (!items) {
			gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			items[i].process_id = (uint32_t)pids[i];
	}
	resp.process_list = items;
	resp.n_process_list = n;
	if (want_metrics && running(c)) {
		rc = cgroup_metrics(c->init_pid, &metrics, &err);
		if (rc < 0) {
			gcs_error_prefix(&err, rc, "get properties of %s", c->id);
			goto fail;
		}
	}
	resp.lcow_metrics = metrics;
	rc = encoded_size(ctx, &resp, &size, &err);
	if (rc == -EMSGSIZE) {
		gcs_error_set(&err, rc, HR_FAIL,
			      "get properties of %s: its %zu processes do not fit in one response "
			      "(%u bytes at most)",
			      c->id, n, GCS_MAX_GUEST_MESSAGE - 1);
		goto fail;
	}
	if (rc < 0) {
		gcs_error_prefix(&err, rc, "get properties of %s", c->id);
		goto fail;
	}
	request_reply(ctx, &resp);
	return;
fail:
	request_finish(ctx, -EIO, &err);
}

static void on_ps(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;
	struct request *req = TAKE_PTR(call->req);
	bool want_metrics = call->want_metrics;
	struct gcs_error err = { 0 };

	call_free(call);
	if (r->error < 0 && running(c)) {
		gcs_error_set(&err, r->error, runtime_hresult(r), "get properties of %s: %s", c->id,
			      r->message);
		request_finish(req, r->error, &err);
		return;
	}
	/* The init exited meanwhile: a stopped container has no processes. */
	answer(c, req, want_metrics, r->error < 0 ? NULL : r->pids, r->error < 0 ? 0 : r->n_pids);
}

int container_handle_properties(struct request *ctx, struct gcs_error *err)
{
	struct agent *a = ctx->a;
	struct gcs_proto_get_properties_req *req = &ctx->m.get_properties_req;
	struct container *c = container_find(a, req->base.container_id);
	bool want_list = false, want_metrics = false;
	struct call *call;
	int rc;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     req->base.container_id);
	for (size_t i = 0; i < req->n_property_types; i++) {
		if (!strcmp(req->property_types[i], "ProcessList"))
			want_list = true;
		else if (!strcmp(req->property_types[i], "Statistics"))
			want_metrics = true;
	}
	if (!want_list || !running(c)) {
		answer(c, ctx, want_metrics, NULL, 0);
		return REQUEST_KEPT;
	}
	call = call_new(c, on_ps, ctx, NULL);
	if (!call)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	call->want_list = true;
	call->want_metrics = want_metrics;
	rc = container_rt(c)->ps(a, c->id, call_done, call, &call->rt);
	if (rc < 0) {
		call_free(call);
		return gcs_error_set(err, rc, HR_FAIL, "get properties of %s: cannot run %s: %s",
				     c->id, container_rt(c)->name, strerror(-rc));
	}
	return REQUEST_KEPT;
}
