/*
 * Typed calls: one function per RPC the host sends to a Linux guest, each a thin layer over
 * gcs_bridge_call that fills the request struct the way hcsshim does.
 */
#include "bridge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* The container ID of a UVM-level request: the null GUID when none is given. */
static const char *uvm_id(const char *id)
{
	return id && id[0] ? id : GCS_NULL_GUID_STRING;
}

/* A request whose body is the base only. */
static int base_call(struct gcs_bridge *b, uint32_t type, const char *id, int timeout_ms,
		     struct gcs_error *err)
{
	struct gcs_proto_request_base req = { .container_id = id };

	return gcs_bridge_call(b, type, &req, NULL, timeout_ms, err);
}

static int need_id(const char *id, const char *what, struct gcs_error *err)
{
	if (!id || !id[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "%s: no container ID", what);
	return 0;
}

int gcs_create_container(struct gcs_bridge *b, const char *id,
			 const struct gcs_proto_container_config *config, struct gcs_error *err)
{
	struct gcs_proto_create_req req = { .base.container_id = id };
	int rc = need_id(id, "create", err);

	if (rc < 0)
		return rc;
	if (!config)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "create %s: no configuration",
				     id);
	req.config = *config;
	return gcs_bridge_call(b, GCS_MSG_CREATE_REQ, &req, NULL, 0, err);
}

int gcs_start_container(struct gcs_bridge *b, const char *id, struct gcs_error *err)
{
	int rc = need_id(id, "start", err);

	return rc < 0 ? rc : base_call(b, GCS_MSG_START_REQ, id, 0, err);
}

int gcs_shutdown_container(struct gcs_bridge *b, const char *id, bool force, struct gcs_error *err)
{
	int rc = need_id(id, "shutdown", err);

	if (rc < 0)
		return rc;
	/* The Go GCS powers the VM off on that one and never answers: stop the VM instead. */
	if (strcmp(id, GCS_NULL_GUID_STRING) == 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "shutdown: the null container ID (the UVM itself) is not "
				     "answered by the guest");
	return base_call(b, force ? GCS_MSG_SHUTDOWN_FORCED_REQ : GCS_MSG_SHUTDOWN_GRACEFUL_REQ, id,
			 0, err);
}

int gcs_modify_settings(struct gcs_bridge *b, const struct gcs_proto_modify_req *req,
			struct gcs_error *err)
{
	struct gcs_proto_modify_req r;

	if (!req)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "modify: no request");
	r = *req;
	r.base.container_id = uvm_id(req->base.container_id);
	return gcs_bridge_call(b, GCS_MSG_MODIFY_SETTINGS_REQ, &r, NULL, 0, err);
}

int gcs_get_properties(struct gcs_bridge *b, const char *id, const char *const *property_types,
		       size_t n, struct gcs_proto_get_properties_resp *ret, struct gcs_error *err)
{
	struct gcs_proto_get_properties_req req = {
		.base.container_id = id,
		.property_types = property_types,
		.n_property_types = n,
	};
	int rc = need_id(id, "properties", err);

	if (rc < 0)
		return rc;
	if (!ret)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "properties: no result");
	return gcs_bridge_call(b, GCS_MSG_GET_PROPERTIES_REQ, &req, ret, 0, err);
}

int gcs_dump_stacks(struct gcs_bridge *b, char **ret_stacks, struct gcs_error *err)
{
	struct gcs_proto_request_base req = { .container_id = GCS_NULL_GUID_STRING };
	struct gcs_proto_dump_stacks_resp resp;
	char *s;
	int rc;

	if (!ret_stacks)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "dump stacks: no result");
	rc = gcs_bridge_call(b, GCS_MSG_DUMP_STACKS_REQ, &req, &resp, 0, err);
	if (rc < 0)
		return rc;
	s = strdup(resp.guest_stacks ? resp.guest_stacks : "");
	gcs_proto_release(&resp);
	if (!s)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	*ret_stacks = s;
	return 0;
}

int gcs_delete_container_state(struct gcs_bridge *b, const char *id, struct gcs_error *err)
{
	int rc = need_id(id, "delete state", err);

	return rc < 0 ? rc : base_call(b, GCS_MSG_DELETE_CONTAINER_STATE_REQ, id, 0, err);
}
