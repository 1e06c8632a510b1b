/*
 * What a runtime keeps on disk so that the next one can adopt its UVM: <ctr dir>/daemon.json is
 * the runtime's record of a container, rewritten at every change of state; on adoption the
 * runtime rebuilds its containers, layers and SCSI slots from those files and asks the agent
 * about the containers that were alive.
 */
#include "rt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int status_parse(const char *s, enum lcow_rt_status *ret)
{
	for (enum lcow_rt_status i = LCOW_RT_CREATING; s && i <= LCOW_RT_STOPPED; i++)
		if (!strcmp(s, lcow_rt_status_name(i))) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

static json_t *snapshot(struct lcow_rt_ctr *x)
{
	json_t *layers = json_array();
	json_t *j;

	for (size_t i = 0; i < x->n_layers; i++)
		json_array_append_new(
			layers, json_pack("{s:s, s:i, s:i, s:s}", "path", x->layers[i]->path,
					  "controller", (int)x->layers[i]->controller, "lun",
					  (int)x->layers[i]->lun, "guest", x->layers[i]->guest));
	j = json_pack("{s:s, s:s, s:i, s:b, s:i, s:b, s:o, s:i, s:b, s:b, s:b}", "id", x->id,
		      "status", lcow_rt_status_name(x->status), "pid", (int)x->pid, "exited",
		      x->exited, "exit_code", (int)x->exit_code, "terminal", x->terminal, "layers",
		      layers, "scratch_slot", x->scratch_slot, "scratch_mounted",
		      x->scratch_mounted, "combined", x->combined, "created", x->created);
	if (j && x->spec)
		json_object_set(j, "spec", x->spec);
	if (j && x->net)
		json_object_set_new(j, "net", dnet_snapshot(x));
	return j;
}

void ctr_save(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	char p[PATH_MAX];
	json_t *j;
	int rc;

	pthread_mutex_lock(&d->lock);
	j = x->removed ? NULL : snapshot(x);
	pthread_mutex_unlock(&d->lock);
	if (!j)
		return;
	rc = pathf(p, sizeof(p), "%s/daemon.json", x->dir);
	if (rc == 0)
		rc = json_write_file(p, j);
	if (rc < 0)
		rt_warning("container %s: save its state: %s", x->id, strerror(-rc));
	json_decref(j);
}

/* The layer disk at that slot, shared by the containers that list it. */
static struct dlayer *layer_adopt(struct lcow_rt *d, json_t *jl)
{
	const char *path = json_string_value(json_object_get(jl, "path"));
	const char *guest = json_string_value(json_object_get(jl, "guest"));
	json_int_t controller = json_integer_value(json_object_get(jl, "controller"));
	json_int_t lun = json_integer_value(json_object_get(jl, "lun"));
	struct dlayer *l;
	unsigned m;

	if (!path || !guest || controller < 0 || controller >= RT_CONTROLLERS || lun < 0 ||
	    lun >= RT_LUNS)
		return NULL;
	for (l = d->layers; l; l = l->next)
		if (!strcmp(l->path, path)) {
			l->refs++;
			return l;
		}
	l = calloc(1, sizeof(*l));
	if (!l || !(l->path = strdup(path))) {
		free(l);
		return NULL;
	}
	l->controller = (unsigned)controller;
	l->lun = (unsigned)lun;
	snprintf(l->guest, sizeof(l->guest), "%s", guest);
	l->refs = 1;
	l->next = d->layers;
	d->layers = l;
	d->slots[l->controller * RT_LUNS + l->lun] = true;
	/* New layers get mount paths after every adopted one. */
	if (sscanf(strrchr(guest, '/') ? strrchr(guest, '/') + 1 : guest, "m%u", &m) == 1 &&
	    m >= d->mounts)
		d->mounts = m + 1;
	return l;
}

/* Whether the agent still has the container (ProcessList answers for it). */
bool agent_has(struct lcow_rt *d, const char *id)
{
	static const char *const types[] = { "ProcessList" };
	struct gcs_proto_get_properties_resp r = { 0 };
	struct gcs_error err = { 0 };
	bool has = gcs_get_properties(vm_bridge(&d->vm), id, types, 1, &r, &err) == 0 &&
		   r.n_process_list > 0;

	gcs_proto_release(&r);
	return has;
}

/* One container of this UVM from its daemon.json; NULL when there is none or it is unusable. */
static struct lcow_rt_ctr *ctr_adopt(struct lcow_rt *d, const char *id, const char *dir)
{
	char p[PATH_MAX], errbuf[160];
	json_t *j = NULL, *v;
	struct lcow_rt_ctr *x;
	size_t i;

	if (pathf(p, sizeof(p), "%s/daemon.json", dir) < 0 ||
	    json_read_file(p, &j, errbuf, sizeof(errbuf)) < 0)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x || status_parse(json_string_value(json_object_get(j, "status")), &x->status) < 0 ||
	    x->status == LCOW_RT_CREATING) {
		free(x);
		json_decref(j);
		return NULL;
	}
	snprintf(x->id, sizeof(x->id), "%s", id);
	snprintf(x->dir, sizeof(x->dir), "%s", dir);
	pthread_mutex_init(&x->op, NULL);
	x->refs = 1;
	x->pid = (uint32_t)json_integer_value(json_object_get(j, "pid"));
	x->exited = json_is_true(json_object_get(j, "exited"));
	x->exit_code = (uint32_t)json_integer_value(json_object_get(j, "exit_code"));
	x->terminal = json_is_true(json_object_get(j, "terminal"));
	x->spec = json_incref(json_object_get(j, "spec"));
	x->scratch_slot = (int)json_integer_value(json_object_get(j, "scratch_slot"));
	x->scratch_mounted = json_is_true(json_object_get(j, "scratch_mounted"));
	x->combined = json_is_true(json_object_get(j, "combined"));
	x->created = json_is_true(json_object_get(j, "created"));
	pathf(x->bundle, sizeof(x->bundle), "%s/gcs/c/%s", d->vm.run, x->id);
	pathf(x->rootfs, sizeof(x->rootfs), "%s/rootfs", x->bundle);
	pathf(x->scratch_dir, sizeof(x->scratch_dir), "%s/scratch/rw", x->bundle);
	json_array_foreach(json_object_get(j, "layers"), i, v) {
		if (x->n_layers >= LCOW_RT_MAX_LAYERS)
			break;
		x->layers[x->n_layers] = layer_adopt(d, v);
		if (x->layers[x->n_layers])
			x->n_layers++;
	}
	dnet_adopt(x, json_object_get(j, "net"));
	if (x->scratch_slot >= 0 && x->scratch_slot < RT_CONTROLLERS * RT_LUNS)
		d->slots[x->scratch_slot] = true;
	else
		x->scratch_slot = -1;
	json_decref(j);
	return x;
}

int lcow_rt_adopt_container(struct lcow_rt *d, const char *id, const char *dir)
{
	struct lcow_rt_ctr *x = ctr_adopt(d, id, dir);

	if (!x)
		return -ENOENT;
	if (x->status != LCOW_RT_STOPPED && !agent_has(d, x->id)) {
		/* It ended while nobody listened, and the agent no longer knows it. */
		x->status = LCOW_RT_STOPPED;
		x->exited = true;
		x->exit_code = 255;
		x->lost = true;
	}
	pthread_mutex_lock(&d->lock);
	x->next = d->ctrs;
	d->ctrs = x;
	pthread_mutex_unlock(&d->lock);
	if (x->status == LCOW_RT_RUNNING || x->status == LCOW_RT_PAUSED)
		ctr_watch_init(d, x);
	ctr_save(d, x);
	rt_info("container %s: adopted (%s, pid %u)", x->id, lcow_rt_status_name(x->status),
		x->pid);
	return 0;
}
