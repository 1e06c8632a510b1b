/* Containers through runc (spec sections 7.1-7.14). */
#include <errno.h>

#include "agent.h"

int container_handle_create(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			    struct gcs_error *err)
{
	(void)a, (void)c, (void)m;
	return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
			     "containers are not supported by this agent yet");
}

void container_cleanup(struct agent *a)
{
	(void)a;
}

int container_handle_modify(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			    struct gcs_error *err)
{
	(void)a, (void)c;
	return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
			     m->req.container_id);
}
