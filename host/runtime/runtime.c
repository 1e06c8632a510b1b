/*
 * A runtime's UVM: booted or adopted, its agent's notifications, and its end. A UVM that is
 * not a pod goes with its last container (lcow_rt_claim_last tells the front end when).
 */
#include "rt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_notification(void *user, const struct gcs_proto_notification *n)
{
	struct lcow_rt *d = user;

	rt_debug("notification: container %s: %s", n->base.container_id ? n->base.container_id : "",
		 n->type ? n->type : "");
	if (n->base.container_id)
		ctr_notified(d, n->base.container_id);
}

static void on_vm_log(void *user, const char *line)
{
	(void)user;
	rt_debug("uvm: %s", line);
}

static bool vm_cancelled(void *user)
{
	struct lcow_rt *d = user;

	return d->cancelled && d->cancelled(d->user);
}

static void rt_free(struct lcow_rt *d)
{
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->storage);
	pthread_cond_destroy(&d->cond);
	json_decref(d->first_net);
	free(d);
}

int lcow_rt_start(const struct lcow_rt_options *o, bool adopt, struct lcow_rt **ret,
		  struct gcs_error *err)
{
	struct vm_start_options vo = { .debug = o->debug,
				       .cancelled = vm_cancelled,
				       .on_log = on_vm_log,
				       .on_notification = on_notification };
	const struct vm_nic *nic = NULL;
	char vmdir[PATH_MAX];
	struct lcow_rt *d;
	int rc;

	if (!o->id || !o->dir || (o->mode != LCOW_RT_QEMU && o->mode != LCOW_RT_PROCESS))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "runtime: bad options");
	d = calloc(1, sizeof(*d));
	if (!d)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	snprintf(d->uvm_id, sizeof(d->uvm_id), "%s", o->id);
	if (pathf(d->dir, sizeof(d->dir), "%s", o->dir) < 0 ||
	    pathf(vmdir, sizeof(vmdir), "%s/vm", o->dir) < 0) {
		free(d);
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", o->dir);
	}
	d->pod = o->pod;
	d->debug = o->debug;
	d->mode = o->mode;
	d->cancelled = o->cancelled;
	d->on_exit = o->on_exit;
	d->user = o->user;
	d->first_net = json_incref(o->first_net);
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->storage, NULL);
	pthread_cond_init(&d->cond, NULL);
	vo.mode = d->mode;
	vo.dir = vmdir;
	vo.user = d;
	/* net.c: the first container's NIC; a pod's VM has room for more */
	if (!adopt && (rc = dnet_boot(d, &nic, err)) < 0) {
		rt_free(d);
		return rc;
	}
	vo.nic = nic;
	vo.hotplug = d->mode == LCOW_RT_QEMU && d->pod;
	rc = adopt ? vm_adopt(&d->vm, &vo, err) : vm_start(&d->vm, &vo, err);
	if (rc < 0) {
		/* A UVM we could not adopt is left as it is; one we started is torn down. */
		if (!adopt)
			lcow_rt_stop(d);
		rt_free(d);
		return rc;
	}
	d->vm_up = true;
	*ret = d;
	return 0;
}

bool lcow_rt_broken(struct lcow_rt *d)
{
	return vm_broken(&d->vm);
}

enum lcow_rt_mode lcow_rt_mode(struct lcow_rt *d)
{
	return d->mode;
}

bool lcow_rt_claim_last(struct lcow_rt *d)
{
	bool last;

	pthread_mutex_lock(&d->lock);
	last = !d->ctrs && !d->pod && !d->exiting;
	if (last)
		d->exiting = true;
	pthread_mutex_unlock(&d->lock);
	return last;
}

void lcow_rt_stop(struct lcow_rt *d)
{
	pthread_mutex_lock(&d->lock);
	d->exiting = true;
	pthread_mutex_unlock(&d->lock);
	vm_stop(&d->vm);
	dnet_boot_discard(d);
	rt_debug("uvm %s: stopped", d->uvm_id);
}

void lcow_rt_free(struct lcow_rt *d)
{
	if (!d)
		return;
	while (d->ctrs) {
		struct lcow_rt_ctr *x = d->ctrs;
		d->ctrs = x->next;
		ctr_free(x);
	}
	while (d->layers) {
		struct dlayer *l = d->layers;
		d->layers = l->next;
		free(l->path);
		free(l);
	}
	rt_free(d);
}
