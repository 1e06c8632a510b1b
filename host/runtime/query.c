/*
 * Queries and updates of a live container: its pids (GetProperties ProcessList: the agent runs
 * runc ps), its metrics (GetProperties Statistics: the agent's LCOWMetrics, containerd's
 * cgroup metrics), and new limits (ModifySettings ContainerConstraints Update with an OCI
 * LinuxResources object: the agent runs runc update --resources).
 */
#include "rt.h"

#include <errno.h>
#include <stdlib.h>

/* A container that has processes to look at: created (runc's init waits), running or paused. */
static bool live(enum lcow_rt_status s)
{
	return s == LCOW_RT_CREATED || s == LCOW_RT_RUNNING || s == LCOW_RT_PAUSED;
}

int lcow_rt_pids(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t **ret, size_t *ret_n,
		 struct gcs_error *err)
{
	static const char *const types[] = { "ProcessList" };
	struct gcs_proto_get_properties_resp r = { 0 };
	uint32_t *pids;
	int rc;

	if (ctr_status_get(d, x) == LCOW_RT_STOPPED) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	rc = gcs_get_properties(vm_bridge(&d->vm), x->id, types, 1, &r, err);
	if (rc < 0)
		return rc;
	pids = calloc(r.n_process_list ? r.n_process_list : 1, sizeof(*pids));
	if (!pids) {
		gcs_proto_release(&r);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}
	for (size_t i = 0; i < r.n_process_list; i++)
		pids[i] = r.process_list[i].process_id;
	*ret_n = r.n_process_list;
	*ret = pids;
	gcs_proto_release(&r);
	return 0;
}

int lcow_rt_update(struct lcow_rt *d, struct lcow_rt_ctr *x, json_t *resources,
		   struct gcs_error *err)
{
	int rc;

	if (!json_is_object(resources))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "update: malformed request");
	/* Serialized with the other changes of the container (start, pause, delete). */
	pthread_mutex_lock(&x->op);
	if (x->removed)
		rc = gcs_error_set(err, -ENOENT, HR_FAIL, "container does not exist");
	else if (!live(ctr_status_get(d, x)))
		rc = gcs_error_set(err, -ESRCH, HR_FAIL, "container not running");
	else
		rc = gcs_update_container_resources(vm_bridge(&d->vm), x->id, resources, err);
	pthread_mutex_unlock(&x->op);
	if (rc == 0)
		rt_info("container %s: resources updated", x->id);
	return rc;
}

int lcow_rt_stats(struct lcow_rt *d, struct lcow_rt_ctr *x, json_t **ret, struct gcs_error *err)
{
	static const char *const types[] = { "Statistics" };
	struct gcs_proto_get_properties_resp r = { 0 };
	json_t *m;
	int rc;

	if (!live(ctr_status_get(d, x)))
		return gcs_error_set(err, -ESRCH, HR_FAIL, "container with id %s is not running",
				     x->id);
	rc = gcs_get_properties(vm_bridge(&d->vm), x->id, types, 1, &r, err);
	if (rc < 0)
		return rc;
	/* the agent answers a stopped container without metrics */
	m = json_incref(r.lcow_metrics);
	gcs_proto_release(&r);
	if (!m)
		return gcs_error_set(err, -ESRCH, HR_FAIL, "container with id %s is not running",
				     x->id);
	*ret = m;
	return 0;
}
