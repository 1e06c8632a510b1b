/*
 * A container's creation and deletion: hcsshim's LCOW sequence (spec section 14) through
 * libgcs.
 *
 * create: each read-only layer as a SCSI disk (storage.c), the scratch disk at
 * <run>/gcs/c/<id>, CombinedLayers at <run>/gcs/c/<id>/rootfs with the scratch directory
 * <run>/gcs/c/<id>/scratch/rw, the network (net.c), then Create with the rewritten spec.
 * delete: DeleteContainerState, CombinedLayers Remove, then the disks (guest first, then the
 * UVM), as the V2 controller does.
 */
#include "rt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KILL_WAIT_MS 10000

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

struct lcow_rt_ctr *lcow_rt_ctr_get(struct lcow_rt *d, const char *id)
{
	struct lcow_rt_ctr *c;

	if (!id)
		return NULL;
	pthread_mutex_lock(&d->lock);
	for (c = d->ctrs; c; c = c->next)
		if (!strcmp(c->id, id))
			break;
	if (c)
		c->refs++;
	pthread_mutex_unlock(&d->lock);
	return c;
}

void ctr_free(struct lcow_rt_ctr *c)
{
	/* The relays stop before their fds close. */
	gcs_process_free(c->init);
	close_fds(c->fds, c->n_fds);
	while (c->procs) {
		struct dproc *p = c->procs;
		c->procs = p->next;
		gcs_process_free(p->p);
		close_fds(p->fds, p->n_fds);
		free(p);
	}
	json_decref(c->spec);
	dnet_free(c->net);
	pthread_mutex_destroy(&c->op);
	free(c);
}

/* The last reference of a container that left the list frees it. */
void lcow_rt_ctr_put(struct lcow_rt *d, struct lcow_rt_ctr *c)
{
	bool last;

	if (!c)
		return;
	pthread_mutex_lock(&d->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&d->lock);
	if (last)
		ctr_free(c);
}

const char *lcow_rt_ctr_id(const struct lcow_rt_ctr *x)
{
	return x->id;
}

static json_t *guest_spec(json_t *spec, const char *root_path)
{
	json_t *s = json_deep_copy(spec), *root, *lnx;

	if (!s)
		return NULL;
	json_object_del(s, "hooks");
	json_object_del(s, "windows");
	root = json_object_get(s, "root");
	if (!json_is_object(root)) {
		root = json_object();
		json_object_set_new(s, "root", root);
	}
	json_object_set_new(root, "path", json_string(root_path));
	lnx = json_object_get(s, "linux");
	if (!json_is_object(lnx)) {
		lnx = json_object();
		json_object_set_new(s, "linux", lnx);
	}
	json_object_set_new(lnx, "cgroupsPath", json_string(""));
	return s;
}

/* Undoes whatever create did, in the V2 controller's order; failures are logged. */
static void ctr_teardown(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	struct gcs_bridge *b = vm_bridge(&d->vm);
	struct gcs_error err = { 0 };

	if (x->created && gcs_delete_container_state(b, x->id, &err) < 0)
		rt_warning("%s: DeleteContainerState: %s", x->id, err.message);
	x->created = false;
	dnet_teardown(d, x);
	if (x->combined && gcs_uncombine_layers(b, x->rootfs, &err) < 0)
		rt_warning("%s: CombinedLayers Remove: %s", x->id, err.message);
	x->combined = false;
	scratch_remove(d, x);
	while (x->n_layers > 0)
		layer_put(d, x->layers[--x->n_layers]);
}

static void ctr_unlink(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	pthread_mutex_lock(&d->lock);
	for (struct lcow_rt_ctr **pp = &d->ctrs; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	pthread_mutex_unlock(&d->lock);
}

/* The pid of the init runc created (waiting for start): the only process in its cgroup. */
static uint32_t created_pid(struct lcow_rt *d, const char *id)
{
	static const char *const types[] = { "ProcessList" };
	struct gcs_proto_get_properties_resp r = { 0 };
	struct gcs_error err = { 0 };
	uint32_t pid = 0;

	if (gcs_get_properties(vm_bridge(&d->vm), id, types, 1, &r, &err) < 0) {
		rt_debug("%s: ProcessList: %s", id, err.message);
		return 0;
	}
	for (size_t i = 0; i < r.n_process_list; i++)
		if (!pid || r.process_list[i].process_id < pid)
			pid = r.process_list[i].process_id;
	gcs_proto_release(&r);
	return pid;
}

static int ctr_setup(struct lcow_rt *d, struct lcow_rt_ctr *x,
		     const struct lcow_rt_create_options *o, struct gcs_error *err)
{
	const char *guest[LCOW_RT_MAX_LAYERS];
	int rc;

	if (pathf(x->bundle, sizeof(x->bundle), "%s/gcs/c/%s", d->vm.run, x->id) < 0 ||
	    pathf(x->rootfs, sizeof(x->rootfs), "%s/rootfs", x->bundle) < 0 ||
	    /*
	     * The overlay's upper and work directories sit at a path of the scratch disk that does
	     * not name the container: a layer-folder bundle's scratch keeps its writes from one
	     * container to the next, as runhcs's sandbox does (a root.path scratch is new each time).
	     */
	    pathf(x->scratch_dir, sizeof(x->scratch_dir), "%s/scratch/rw", x->bundle) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "guest paths too long");
	for (size_t i = 0; i < o->n_layers; i++) {
		if (!o->layers[i] || x->n_layers >= LCOW_RT_MAX_LAYERS)
			return gcs_error_set(err, -EINVAL, HR_FAIL, "bad layer list");
		rc = layer_get(d, o->layers[i], &x->layers[x->n_layers], err);
		if (rc < 0)
			return rc;
		guest[x->n_layers] = x->layers[x->n_layers]->guest;
		x->n_layers++;
	}
	if ((rc = scratch_add(d, x, o->scratch, err)) < 0)
		return rc;
	rc = gcs_combine_layers(vm_bridge(&d->vm), x->id, x->rootfs, guest, x->n_layers,
				x->scratch_dir, err);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "combine the layers");
	x->combined = true;
	x->spec = guest_spec(o->spec, x->rootfs);
	if (!x->spec)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	x->terminal =
		json_is_true(json_object_get(json_object_get(x->spec, "process"), "terminal"));
	if ((rc = dnet_setup(d, x, o->network, o->publish, err)) < 0) /* net.c */
		return rc;
	rc = gcs_create_container_spec(vm_bridge(&d->vm), x->id, x->bundle, x->spec, x->scratch_dir,
				       err);
	if (rc < 0)
		return rc;
	x->created = true;
	return 0;
}

/* A container that never made it into the list. */
static void ctr_discard(struct lcow_rt_ctr *x)
{
	pthread_mutex_destroy(&x->op);
	close_fds(x->fds, x->n_fds);
	json_decref(x->spec);
	free(x);
}

int lcow_rt_create(struct lcow_rt *d, const struct lcow_rt_create_options *o, uint32_t *ret_pid,
		   struct gcs_error *err)
{
	bool exiting, exists = false;
	struct lcow_rt_ctr *x;
	uint32_t pid;
	int rc;

	if (!o->id || !o->id[0] || strlen(o->id) >= sizeof(x->id) || !o->scratch || !o->dir ||
	    !json_is_object(o->spec) || o->n_fds > LCOW_RT_MAX_FDS) {
		close_fds(o->fds, o->n_fds);
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "create: malformed request");
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		close_fds(o->fds, o->n_fds);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}
	snprintf(x->id, sizeof(x->id), "%s", o->id);
	snprintf(x->dir, sizeof(x->dir), "%s", o->dir);
	pthread_mutex_init(&x->op, NULL);
	x->refs = 1; /* the list's */
	x->scratch_slot = -1;
	memcpy(x->fds, o->fds, o->n_fds * sizeof(int));
	x->n_fds = o->n_fds;

	pthread_mutex_lock(&d->lock);
	exiting = d->exiting;
	for (struct lcow_rt_ctr *c = d->ctrs; c; c = c->next)
		exists |= !strcmp(c->id, o->id);
	if (!exiting && !exists) {
		x->next = d->ctrs;
		d->ctrs = x;
	}
	pthread_mutex_unlock(&d->lock);
	if (exiting || exists) {
		ctr_discard(x);
		if (exiting)
			return gcs_error_set(err, -ESHUTDOWN, HR_FAIL,
					     "the UVM %s is shutting down", d->uvm_id);
		return gcs_error_set(err, -EEXIST, HR_FAIL, "container with id exists: %s", o->id);
	}

	pthread_mutex_lock(&x->op);
	rc = ctr_setup(d, x, o, err);
	if (rc < 0) {
		ctr_teardown(d, x);
		ctr_unlink(d, x);
		x->removed = true;
		pthread_mutex_unlock(&x->op);
		rt_error("create %s: %s", o->id, err->message);
		lcow_rt_ctr_put(d, x);
		return rc;
	}
	pid = created_pid(d, o->id);
	pthread_mutex_lock(&d->lock);
	x->pid = pid;
	ctr_transition(d, x, LCOW_RT_CREATED);
	pthread_mutex_unlock(&d->lock);
	ctr_save(d, x);
	pthread_mutex_unlock(&x->op);
	rt_info("container %s: created (pid %u)", o->id, pid);
	if (ret_pid)
		*ret_pid = pid;
	return 0;
}

static json_t *describe(struct lcow_rt_ctr *x)
{
	json_t *j =
		json_pack("{s:s, s:s, s:i}", "id", x->id, "status", lcow_rt_status_name(x->status),
			  "pid", x->status == LCOW_RT_STOPPED ? 0 : (int)x->pid);

	if (x->exited)
		json_object_set_new(j, "exit", json_integer(x->exit_code));
	dnet_describe(x, j);
	return j;
}

json_t *lcow_rt_ctr_describe(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	json_t *j;

	pthread_mutex_lock(&d->lock);
	j = describe(x);
	pthread_mutex_unlock(&d->lock);
	return j;
}

json_t *lcow_rt_list(struct lcow_rt *d)
{
	json_t *list = json_array();

	pthread_mutex_lock(&d->lock);
	for (struct lcow_rt_ctr *x = d->ctrs; x; x = x->next)
		json_array_append_new(list, describe(x));
	pthread_mutex_unlock(&d->lock);
	return list;
}

/*
 * Removes a container from the guest and the UVM. force: a running or paused container is
 * killed first (thawed, SIGKILL, then its exit awaited). Called with x->op held.
 */
static int ctr_remove(struct lcow_rt *d, struct lcow_rt_ctr *x, bool force, struct gcs_error *err)
{
	enum lcow_rt_status s = ctr_status_get(d, x);

	if (x->removed)
		return gcs_error_set(err, -ENOENT, HR_FAIL, "container does not exist");
	if ((s == LCOW_RT_RUNNING || s == LCOW_RT_PAUSED) && !force)
		return gcs_error_set(err, -EBUSY, HR_FAIL,
				     "cannot delete container %s that is not stopped: %s", x->id,
				     lcow_rt_status_name(s));
	if ((s == LCOW_RT_RUNNING || s == LCOW_RT_PAUSED) && !vm_broken(&d->vm)) {
		struct gcs_error e = { 0 };
		if (s == LCOW_RT_PAUSED &&
		    ctr_operation(d, x->id, GCS_CONTAINER_OP_RESUME, 0, &e) < 0)
			rt_warning("%s: resume before the kill: %s", x->id, e.message);
		if (x->init && gcs_process_signal(x->init, SIGKILL, &e) < 0)
			rt_warning("%s: SIGKILL: %s", x->id, e.message);
		if (wait_stopped(d, x, KILL_WAIT_MS) < 0)
			rt_warning("%s: still running %d ms after SIGKILL", x->id, KILL_WAIT_MS);
	}
	ctr_teardown(d, x);
	ctr_unlink(d, x);
	x->removed = true;
	rm_rf(x->dir);
	rt_info("container %s: deleted", x->id);
	return 0;
}

int lcow_rt_delete(struct lcow_rt *d, struct lcow_rt_ctr *x, bool force, struct gcs_error *err)
{
	int rc;

	pthread_mutex_lock(&x->op);
	rc = ctr_remove(d, x, force, err);
	pthread_mutex_unlock(&x->op);
	if (rc == 0)
		lcow_rt_ctr_put(d, x); /* the list's reference */
	return rc;
}

void lcow_rt_delete_all(struct lcow_rt *d)
{
	for (;;) {
		struct gcs_error err = { 0 };
		struct lcow_rt_ctr *x;

		pthread_mutex_lock(&d->lock);
		x = d->ctrs;
		if (x)
			x->refs++;
		pthread_mutex_unlock(&d->lock);
		if (!x)
			return;
		pthread_mutex_lock(&x->op);
		if (ctr_remove(d, x, true, &err) == 0)
			lcow_rt_ctr_put(d, x); /* the list's reference */
		pthread_mutex_unlock(&x->op);
		lcow_rt_ctr_put(d, x);
	}
}
