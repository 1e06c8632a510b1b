/* ModifySettings resources of the utility VM (spec section 10). */
#include <errno.h>
#include <string.h>

#include "agent.h"

int storage_handle_modify(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			  struct gcs_error *err)
{
	(void)a, (void)c;
	return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL, "ModifySettings %s %s is not supported",
			     m->modify_req.request_type_name, m->modify_req.resource_type_name);
}

int storage_check_path(struct agent *a, const char *what, const char *path, struct gcs_error *err)
{
	(void)a, (void)what, (void)path, (void)err;
	return 0;
}

void storage_cleanup(struct agent *a)
{
	(void)a;
}

void storage_dump(struct agent *a, char *buf, size_t len)
{
	(void)a;
	if (len)
		buf[0] = '\0';
}
