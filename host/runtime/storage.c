/*
 * The UVM's disks: each read-only layer is a SCSI disk (MappedVirtualDisk at
 * <run>/mounts/scsi/m<N>, shared between the containers of a UVM that use the same image); a
 * container's scratch is its own SCSI disk (EnsureFilesystem) at its bundle path. Removal goes
 * guest first, then the UVM, as hcsshim's V2 controller does.
 */
#include "rt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int slot_alloc(struct lcow_rt *d)
{
	for (int i = 0; i < RT_CONTROLLERS * RT_LUNS; i++)
		if (!d->slots[i]) {
			d->slots[i] = true;
			return i;
		}
	return -ENOSPC;
}

/* The layer disk of an image: shared when the UVM has it already, else added. */
int layer_get(struct lcow_rt *d, const char *image, struct dlayer **ret, struct gcs_error *err)
{
	char path[PATH_MAX];
	struct dlayer *l;
	int slot, rc;

	if (!realpath(image, path))
		return gcs_error_set(err, -errno, HR_FAIL, "layer %s: %m", image);
	pthread_mutex_lock(&d->storage);
	for (l = d->layers; l; l = l->next)
		if (!strcmp(l->path, path))
			break;
	if (l) {
		l->refs++;
		pthread_mutex_unlock(&d->storage);
		*ret = l;
		return 0;
	}
	slot = slot_alloc(d);
	l = calloc(1, sizeof(*l));
	if (slot < 0 || !l || !(l->path = strdup(path))) {
		if (slot >= 0)
			d->slots[slot] = false;
		free(l);
		pthread_mutex_unlock(&d->storage);
		return gcs_error_set(err, slot < 0 ? slot : -ENOMEM, HR_FAIL,
				     "layer %s: no SCSI slot or memory", path);
	}
	l->controller = (unsigned)slot / RT_LUNS;
	l->lun = (unsigned)slot % RT_LUNS;
	pathf(l->guest, sizeof(l->guest), "%s/mounts/scsi/m%u", d->vm.run, d->mounts++);
	rc = vm_add_disk(&d->vm, path, true, l->controller, l->lun, err);
	if (rc == 0) {
		rc = gcs_add_scsi_layer(vm_bridge(&d->vm), (uint8_t)l->controller, (uint8_t)l->lun,
					l->guest, true, err);
		if (rc < 0) {
			struct gcs_error e2 = { 0 };
			vm_remove_disk(&d->vm, l->controller, l->lun, &e2);
		}
	}
	if (rc < 0) {
		d->slots[slot] = false;
		free(l->path);
		free(l);
		pthread_mutex_unlock(&d->storage);
		return gcs_error_prefix(err, rc, "layer %s", path);
	}
	l->refs = 1;
	l->next = d->layers;
	d->layers = l;
	pthread_mutex_unlock(&d->storage);
	*ret = l;
	return 0;
}

void layer_put(struct lcow_rt *d, struct dlayer *l)
{
	struct gcs_error err = { 0 };

	pthread_mutex_lock(&d->storage);
	if (--l->refs == 0) {
		if (gcs_remove_scsi_disk(vm_bridge(&d->vm), (uint8_t)l->controller, (uint8_t)l->lun,
					 l->guest, &err) < 0)
			rt_warning("remove layer %s from the guest: %s", l->path, err.message);
		if (vm_remove_disk(&d->vm, l->controller, l->lun, &err) < 0)
			rt_warning("remove layer %s: %s", l->path, err.message);
		for (struct dlayer **pp = &d->layers; *pp; pp = &(*pp)->next)
			if (*pp == l) {
				*pp = l->next;
				break;
			}
		d->slots[l->controller * RT_LUNS + l->lun] = false;
		free(l->path);
		free(l);
	}
	pthread_mutex_unlock(&d->storage);
}

int scratch_add(struct lcow_rt *d, struct lcow_rt_ctr *x, const char *image, struct gcs_error *err)
{
	unsigned controller, lun;
	int rc;

	pthread_mutex_lock(&d->storage);
	x->scratch_slot = slot_alloc(d);
	if (x->scratch_slot < 0) {
		pthread_mutex_unlock(&d->storage);
		return gcs_error_set(err, -ENOSPC, HR_FAIL, "no SCSI slot for the scratch disk");
	}
	controller = (unsigned)x->scratch_slot / RT_LUNS;
	lun = (unsigned)x->scratch_slot % RT_LUNS;
	rc = vm_add_disk(&d->vm, image, false, controller, lun, err);
	if (rc < 0) {
		d->slots[x->scratch_slot] = false;
		x->scratch_slot = -1;
	}
	pthread_mutex_unlock(&d->storage);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "scratch %s", image);
	rc = gcs_add_scratch_disk(vm_bridge(&d->vm), (uint8_t)controller, (uint8_t)lun, x->bundle,
				  err);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "scratch %s", image);
	x->scratch_mounted = true;
	return 0;
}

void scratch_remove(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	struct gcs_error err = { 0 };
	unsigned controller, lun;

	if (x->scratch_slot < 0)
		return;
	controller = (unsigned)x->scratch_slot / RT_LUNS;
	lun = (unsigned)x->scratch_slot % RT_LUNS;
	pthread_mutex_lock(&d->storage);
	if (x->scratch_mounted && gcs_remove_scsi_disk(vm_bridge(&d->vm), (uint8_t)controller,
						       (uint8_t)lun, x->bundle, &err) < 0)
		rt_warning("%s: remove the scratch disk from the guest: %s", x->id, err.message);
	if (vm_remove_disk(&d->vm, controller, lun, &err) < 0)
		rt_warning("%s: remove the scratch disk: %s", x->id, err.message);
	d->slots[x->scratch_slot] = false;
	x->scratch_slot = -1;
	x->scratch_mounted = false;
	pthread_mutex_unlock(&d->storage);
}
