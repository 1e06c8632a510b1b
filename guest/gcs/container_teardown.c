/*
 * The end of containers: DeleteContainerState (spec 7.11), the agent's shutdown (every
 * container killed and deleted while the loop still reaps their processes) and, at start-up,
 * the removal of containers an earlier agent left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cgroup.h"
#include "cleanup.h"
#include "container.h"
#include "container_internal.h"
#include "hostpath.h"
#include "log.h"

/* ---- files and cgroups ---- */

void container_remove_path(struct agent *a, const char *path)
{
	int rc;

	if (!path || !path[0])
		return;
	rc = hostpath_remove_tree(a, path);
	/* EBUSY: a mount inside (a rootfs still mounted) stays for its owner to remove */
	if (rc < 0 && rc != -EBUSY)
		log_warning("cannot remove a container's files", LOG_STR("path", path),
			    LOG_ERRNO(rc));
}

void container_remove_files(struct container *c)
{
	/* The V2 controller deletes before removing the overlay: keep the upper dir then. */
	if (hostpath_is_mount_point(c->a, c->rootfs) != 1)
		container_remove_path(c->a, c->scratch_dir);
	container_remove_path(c->a, c->bundle);
}

void container_remove_cgroups(struct container *c, char **paths)
{
	for (size_t i = 0; paths && paths[i]; i++) {
		int rc = cgroup_remove(paths[i]);
		if (rc < 0)
			log_warning("cannot remove a container's cgroup", LOG_STR("id", c->id),
				    LOG_STR("path", paths[i]), LOG_ERRNO(rc));
	}
}

/* The container's cgroup directories while the runtime still knows them (NULL if none). */
static char **cgroups_of(struct container *c)
{
	char **paths = NULL;
	int rc = container_rt(c)->cgroup_paths(c->a, c->id, &paths);

	if (rc < 0 && rc != -ENOENT)
		log_debug("cannot read a container's cgroups", LOG_STR("id", c->id), LOG_ERRNO(rc));
	return rc < 0 ? NULL : paths;
}

/* ---- DeleteContainerState ---- */

static void on_deleted(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;
	struct agent *a = c->a;
	struct request *req = TAKE_PTR(call->req);

	if (r->error < 0)
		log_warning("runtime delete failed", LOG_STR("id", c->id),
			    LOG_STR("error", r->message));
	container_remove_cgroups(c, call->cgroups);
	call_free(call);
	container_remove_files(c);
	process_forget_scope(a, c->id);
	log_info("container deleted", LOG_STR("id", c->id));
	request_reply(req, NULL);
	container_free(c, true);
}

int container_handle_delete(struct request *ctx, struct gcs_error *err)
{
	struct agent *a = ctx->a;
	union gcs_proto_msg *m = &ctx->m;
	struct container *c = container_find(a, m->req.container_id);
	struct call *call;
	int rc;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     m->req.container_id);
	if (c->state == C_CREATING)
		return gcs_error_set(err, -EBUSY, HR_INVALID_STATE,
				     "container %s is still being created", c->id);
	if (!c->init_done && c->init_pid > 0 && c->state == C_RUNNING)
		return gcs_error_set(err, -EBUSY, HR_INVALID_STATE, "container %s is still running",
				     c->id);
	call = call_new(c, on_deleted, ctx, NULL);
	if (!call)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	call->cgroups = cgroups_of(c);
	/* force also covers a created init that never ran */
	rc = container_rt(c)->remove(a, c->id, true, call_done, call, &call->rt);
	if (rc < 0) {
		call_free(call);
		return gcs_error_set(err, rc, HR_FAIL, "delete %s: cannot run %s: %s", c->id,
				     container_rt(c)->name, strerror(-rc));
	}
	return REQUEST_KEPT;
}

/* ---- shutdown ---- */

/* One shutdown per process: main's (the agent has one loop and one container list). */
static struct {
	struct agent *a;
	void (*done)(struct agent *a);
	struct loop_timer timer;
} down;

static void on_down(struct loop_timer *t)
{
	(void)t;
	log_info("containers are down");
	down.done(down.a);
}

/* Calls done from the loop (never from container_shutdown itself) once no container is left. */
static void maybe_down(struct agent *a)
{
	if (list_empty(&a->containers) && down.done && !down.timer.armed)
		loop_timer_arm(a->loop, &down.timer, 0, on_down);
}

static void container_gone(struct container *c)
{
	struct agent *a = c->a;

	container_remove_cgroups(c, c->cgroups);
	container_remove_files(c);
	process_forget_scope(a, c->id);
	log_info("container removed at shutdown", LOG_STR("id", c->id));
	container_free(c, false);
	maybe_down(a);
}

static void on_shutdown_deleted(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;

	if (r->error < 0)
		log_warning("runtime delete at shutdown failed", LOG_STR("id", c->id),
			    LOG_STR("error", r->message));
	call_free(call);
	container_gone(c);
}

static void on_shutdown_killed(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;
	int rc;

	/* A container that is not running (any more) refuses; the delete is what matters. */
	if (r->error < 0)
		log_debug("runtime kill at shutdown failed", LOG_STR("id", c->id),
			  LOG_STR("error", r->message));
	call->fn = on_shutdown_deleted;
	/*
	 * The delete waits until the init is gone; the loop, still running, reaps it (and the
	 * exec'd processes, whose subreaper the agent is) as soon as they die.
	 */
	rc = container_rt(c)->remove(c->a, c->id, true, call_done, call, &call->rt);
	if (rc < 0) {
		log_warning("cannot run the runtime's delete at shutdown", LOG_STR("id", c->id),
			    LOG_ERRNO(rc));
		call_free(call);
		container_gone(c);
	}
}

/* SIGKILL to every process of the container, then its deletion. */
static void shutdown_one(struct container *c)
{
	struct list *it, *tmp;
	struct call *call;
	int rc;

	c->shutting_down = true;
	/* Whatever was asked of the runtime is moot now (a create in flight dies with it). */
	list_for_each_safe(it, tmp, &c->calls) call_free(list_entry(it, struct call, node));
	c->cgroups = cgroups_of(c);
	call = call_new(c, on_shutdown_killed, NULL, NULL);
	if (!call) {
		container_gone(c);
		return;
	}
	rc = container_rt(c)->kill(c->a, c->id, SIGKILL, true, call_done, call, &call->rt);
	if (rc < 0) {
		struct runtime_result r = { .error = rc, .message = strerror(-rc) };
		on_shutdown_killed(call, &r);
	}
}

void container_shutdown(struct agent *a, void (*done)(struct agent *a))
{
	struct list *it, *tmp;

	down.a = a;
	down.done = done;
	log_info("shutting down containers", LOG_UINT("count", list_count(&a->containers)));
	list_for_each_safe(it, tmp, &a->containers)
		shutdown_one(list_entry(it, struct container, node));
	maybe_down(a);
}

/* ---- start-up ---- */

int container_recover(struct agent *a)
{
	const struct runtime *rt = runtime_get(a);
	char **ids = NULL, msg[GCS_ERROR_MESSAGE_MAX];
	int rc = rt->list(a, &ids), n = 0;

	if (rc < 0) {
		log_warning("cannot list the runtime's containers",
			    LOG_STR("root", a->opt.runc_root), LOG_ERRNO(rc));
		return rc;
	}
	for (size_t i = 0; ids[i]; i++) {
		char **paths = NULL;

		if (rt->cgroup_paths(a, ids[i], &paths) < 0)
			paths = NULL;
		rc = rt->remove_sync(a, ids[i], msg, sizeof(msg));
		if (rc < 0) {
			log_error("cannot remove a container left by an earlier agent",
				  LOG_STR("id", ids[i]), LOG_STR("error", msg));
			runtime_strv_free(paths);
			continue;
		}
		for (size_t k = 0; paths && paths[k]; k++) {
			int r = cgroup_remove(paths[k]);
			if (r < 0)
				log_warning(
					"cannot remove a cgroup of an earlier agent's container",
					LOG_STR("id", ids[i]), LOG_STR("path", paths[k]),
					LOG_ERRNO(r));
		}
		runtime_strv_free(paths);
		log_warning("removed a container left by an earlier agent", LOG_STR("id", ids[i]));
		n++;
	}
	runtime_strv_free(ids);
	return n;
}
