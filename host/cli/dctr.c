/*
 * The daemon's container requests: hcsshim's LCOW sequence (spec section 14) through libgcs.
 *
 * create: each read-only layer as a SCSI disk (MappedVirtualDisk at <run>/mounts/scsi/m<N>,
 * shared between the containers of a UVM that use the same image), the scratch disk
 * (EnsureFilesystem) at <run>/gcs/c/<id>, CombinedLayers at <run>/gcs/c/<id>/rootfs with the
 * scratch directory <run>/gcs/c/<id>/scratch/rw, then Create with the rewritten spec.
 * start: Start, and the init's ExecuteProcess with the stdio fds create received.
 * delete: DeleteContainerState, CombinedLayers Remove, then the disks (guest first, then the
 * UVM), as the V2 controller does.
 *
 * pause, resume and kill --all are the agent's container operations (lcow's extension of the
 * bridge; with an agent without it, runc in the UVM). A signal to a container whose init was
 * never started has no bridge message: it runs `runc --root <guest runc root> kill ...` as a
 * process of the UVM, runc being the agent's runtime (in process mode the host's runc, seen
 * through the agent's mount namespace; in a QEMU UVM the initrd's, built with WITH_RUNC=1).
 */
#include "daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define UVM_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define HELPER_MS 30000
#define KILL_WAIT_MS 10000

/* ---- helpers ---- */

struct ctr *ctr_find(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	struct ctr *x = id ? ctr_get(d, id) : NULL;

	if (!x)
		reply_err(c, "not-found", "container does not exist");
	return x;
}

/* Every request but delete fails once the UVM is gone, and says so. */
bool uvm_gone(struct daemon *d, struct ctl_conn *c)
{
	if (!vm_broken(&d->vm))
		return false;
	reply_err(c, "uvm-gone",
		  "the UVM %s is gone: its agent closed the bridge (see the daemon's log in %s); "
		  "`lcow delete --force` cleans up",
		  d->uvm_id, d->dir);
	return true;
}

/* Takes x->op; a container deleted meanwhile is answered as missing (and op is let go). */
static bool lock_live(struct ctl_conn *c, struct ctr *x)
{
	pthread_mutex_lock(&x->op);
	if (!x->removed)
		return true;
	pthread_mutex_unlock(&x->op);
	reply_err(c, "not-found", "container does not exist");
	return false;
}

enum ctr_status ctr_status_get(struct daemon *d, struct ctr *x)
{
	enum ctr_status s;

	pthread_mutex_lock(&d->lock);
	s = x->status;
	pthread_mutex_unlock(&d->lock);
	return s;
}

/*
 * The container state machine: the one place a status changes. From each status, the ones it
 * may go to; anything else is refused (and logged), so a late or repeated event (an exit
 * notification racing start, a resume after the exit) cannot undo a later state. Stopped is
 * final, and reaching it wakes every waiter (d->cond) once.
 */
static const bool transitions[CTR_STOPPED + 1][CTR_STOPPED + 1] = {
	[CTR_CREATING] = { [CTR_CREATED] = true, [CTR_STOPPED] = true },
	[CTR_CREATED] = { [CTR_RUNNING] = true, [CTR_STOPPED] = true },
	[CTR_RUNNING] = { [CTR_PAUSED] = true, [CTR_STOPPED] = true },
	[CTR_PAUSED] = { [CTR_RUNNING] = true, [CTR_STOPPED] = true },
};

/* Under d->lock. */
static bool transition(struct daemon *d, struct ctr *x, enum ctr_status to)
{
	if (!transitions[x->status][to]) {
		log_debug("container %s: no transition %s -> %s", x->id, ctr_status_name(x->status),
			  ctr_status_name(to));
		return false;
	}
	x->status = to;
	if (to == CTR_STOPPED)
		pthread_cond_broadcast(&d->cond);
	return true;
}

static void set_status(struct daemon *d, struct ctr *x, enum ctr_status s)
{
	pthread_mutex_lock(&d->lock);
	transition(d, x, s);
	pthread_mutex_unlock(&d->lock);
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* The message of a runc error line (msg="..."), or the whole output. */
static void runc_message(const char *out, char *buf, size_t len)
{
	const char *m = strstr(out, "msg=\"");
	size_t n;

	if (!m) {
		snprintf(buf, len, "%s", out);
		n = strlen(buf);
		while (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		return;
	}
	m += 5;
	for (n = 0; m[n] && m[n] != '"' && n + 1 < len; n++)
		buf[n] = m[n];
	buf[n] = '\0';
}

static int uvm_runc(struct daemon *d, const char *const *args, struct gcs_error *err);

/*
 * Pause, Resume or KillAll of a container: the agent's operation (lcow's extension), or, with
 * an agent that does not offer it, `runc pause|resume|kill --all` as a process of the UVM.
 */
static int ctr_operation(struct daemon *d, const char *id, const char *op, int sig,
			 struct gcs_error *err)
{
	char num[16];
	int rc = gcs_container_operation(vm_bridge(&d->vm), id, op, sig, err);

	if (rc != -EOPNOTSUPP)
		return rc;
	gcs_error_clear(err);
	snprintf(num, sizeof(num), "%d", sig ? sig : SIGKILL);
	if (!strcmp(op, GCS_CONTAINER_OP_KILL_ALL))
		return uvm_runc(d, (const char *const[]){ "kill", "--all", id, num, NULL }, err);
	return uvm_runc(
		d,
		(const char *const[]){ !strcmp(op, GCS_CONTAINER_OP_PAUSE) ? "pause" : "resume", id,
				       NULL },
		err);
}

/*
 * `runc --root <guest runc root> ARGS...` as a process of the UVM, within HELPER_MS. A non-zero
 * exit is -EIO with runc's message.
 */
static int uvm_runc(struct daemon *d, const char *const *args, struct gcs_error *err)
{
	static const struct gcs_proto_env env[] = { { "PATH", UVM_PATH } };
	const char *argv[12];
	struct gcs_proto_process_params pp = { .working_directory = "/",
					       .environment = env,
					       .n_environment = 1 };
	struct gcs_exec_options o = { .params = &pp, .timeout_ms = HELPER_MS };
	struct gcs_process *p = NULL;
	char out[1024] = "", msg[512];
	size_t n = 0, k = 0;
	long long deadline = time_now_ms() + HELPER_MS;
	uint32_t code;
	int fds[2], rc;

	argv[n++] = "runc";
	argv[n++] = "--root";
	argv[n++] = d->vm.runc_root;
	while (*args && n < ARRAY_SIZE(argv))
		argv[n++] = *args++;
	pp.command_args = argv;
	pp.n_command_args = n;
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDERR].mode = GCS_STDIO_SOCKET;
	rc = gcs_process_exec(vm_bridge(&d->vm), &o, &p, err);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "run runc %s in the UVM", argv[3]);
	fds[0] = gcs_process_stdio_fd(p, GCS_STDOUT);
	fds[1] = gcs_process_stdio_fd(p, GCS_STDERR);
	while (fds[0] >= 0 || fds[1] >= 0) {
		struct pollfd pf[2] = { { .fd = fds[0], .events = POLLIN },
					{ .fd = fds[1], .events = POLLIN } };
		long long left = deadline - time_now_ms();
		if (left <= 0 || poll(pf, 2, (int)left) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t r;
			if (!pf[i].revents)
				continue;
			r = read(fds[i], out + k, sizeof(out) - 1 - k);
			if (r <= 0) {
				fds[i] = -1;
				continue;
			}
			k += (size_t)r;
			out[k] = '\0';
			if (k + 1 >= sizeof(out))
				k = 0; /* keep the end, where the error is */
		}
	}
	rc = gcs_process_wait(p, HELPER_MS, &code, err);
	gcs_process_free(p);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "runc %s in the UVM", argv[3]);
	if (code != 0) {
		runc_message(out, msg, sizeof(msg));
		return gcs_error_set(err, -EIO, HR_FAIL, "%s", msg[0] ? msg : "runc failed");
	}
	return 0;
}

/* ---- storage ---- */

static int slot_alloc(struct daemon *d)
{
	for (int i = 0; i < DAEMON_CONTROLLERS * DAEMON_LUNS; i++)
		if (!d->slots[i]) {
			d->slots[i] = true;
			return i;
		}
	return -ENOSPC;
}

/* The layer disk of an image: shared when the UVM has it already, else added. */
static int layer_get(struct daemon *d, const char *image, struct dlayer **ret,
		     struct gcs_error *err)
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
	l->controller = (unsigned)slot / DAEMON_LUNS;
	l->lun = (unsigned)slot % DAEMON_LUNS;
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

static void layer_put(struct daemon *d, struct dlayer *l)
{
	struct gcs_error err = { 0 };

	pthread_mutex_lock(&d->storage);
	if (--l->refs == 0) {
		if (gcs_remove_scsi_disk(vm_bridge(&d->vm), (uint8_t)l->controller, (uint8_t)l->lun,
					 l->guest, &err) < 0)
			log_warning("remove layer %s from the guest: %s", l->path, err.message);
		if (vm_remove_disk(&d->vm, l->controller, l->lun, &err) < 0)
			log_warning("remove layer %s: %s", l->path, err.message);
		for (struct dlayer **pp = &d->layers; *pp; pp = &(*pp)->next)
			if (*pp == l) {
				*pp = l->next;
				break;
			}
		d->slots[l->controller * DAEMON_LUNS + l->lun] = false;
		free(l->path);
		free(l);
	}
	pthread_mutex_unlock(&d->storage);
}

static int scratch_add(struct daemon *d, struct ctr *x, const char *image, struct gcs_error *err)
{
	unsigned controller, lun;
	int rc;

	pthread_mutex_lock(&d->storage);
	x->scratch_slot = slot_alloc(d);
	if (x->scratch_slot < 0) {
		pthread_mutex_unlock(&d->storage);
		return gcs_error_set(err, -ENOSPC, HR_FAIL, "no SCSI slot for the scratch disk");
	}
	controller = (unsigned)x->scratch_slot / DAEMON_LUNS;
	lun = (unsigned)x->scratch_slot % DAEMON_LUNS;
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

static void scratch_remove(struct daemon *d, struct ctr *x)
{
	struct gcs_error err = { 0 };
	unsigned controller, lun;

	if (x->scratch_slot < 0)
		return;
	controller = (unsigned)x->scratch_slot / DAEMON_LUNS;
	lun = (unsigned)x->scratch_slot % DAEMON_LUNS;
	pthread_mutex_lock(&d->storage);
	if (x->scratch_mounted && gcs_remove_scsi_disk(vm_bridge(&d->vm), (uint8_t)controller,
						       (uint8_t)lun, x->bundle, &err) < 0)
		log_warning("%s: remove the scratch disk from the guest: %s", x->id, err.message);
	if (vm_remove_disk(&d->vm, controller, lun, &err) < 0)
		log_warning("%s: remove the scratch disk: %s", x->id, err.message);
	d->slots[x->scratch_slot] = false;
	x->scratch_slot = -1;
	x->scratch_mounted = false;
	pthread_mutex_unlock(&d->storage);
}

/* Undoes whatever create did, in the V2 controller's order; failures are logged. */
static void ctr_teardown(struct daemon *d, struct ctr *x)
{
	struct gcs_bridge *b = vm_bridge(&d->vm);
	struct gcs_error err = { 0 };

	if (x->created && gcs_delete_container_state(b, x->id, &err) < 0)
		log_warning("%s: DeleteContainerState: %s", x->id, err.message);
	x->created = false;
	dnet_teardown(d, x);
	if (x->combined && gcs_uncombine_layers(b, x->rootfs, &err) < 0)
		log_warning("%s: CombinedLayers Remove: %s", x->id, err.message);
	x->combined = false;
	scratch_remove(d, x);
	while (x->n_layers > 0)
		layer_put(d, x->layers[--x->n_layers]);
}

static void ctr_unlink(struct daemon *d, struct ctr *x)
{
	pthread_mutex_lock(&d->lock);
	for (struct ctr **pp = &d->ctrs; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	pthread_mutex_unlock(&d->lock);
}

/* True once for the caller that removed the last container of a UVM that is not a pod. */
static bool claim_last(struct daemon *d)
{
	bool last;

	pthread_mutex_lock(&d->lock);
	last = !d->ctrs && !d->pod && !d->exiting;
	if (last)
		d->exiting = true;
	pthread_mutex_unlock(&d->lock);
	return last;
}

/* ---- create ---- */

/* The pid of the init runc created (waiting for start): the only process in its cgroup. */
static uint32_t created_pid(struct daemon *d, const char *id)
{
	static const char *const types[] = { "ProcessList" };
	struct gcs_proto_get_properties_resp r = { 0 };
	struct gcs_error err = { 0 };
	uint32_t pid = 0;

	if (gcs_get_properties(vm_bridge(&d->vm), id, types, 1, &r, &err) < 0) {
		log_debug("%s: ProcessList: %s", id, err.message);
		return 0;
	}
	for (size_t i = 0; i < r.n_process_list; i++)
		if (!pid || r.process_list[i].process_id < pid)
			pid = r.process_list[i].process_id;
	gcs_proto_release(&r);
	return pid;
}

static int ctr_setup(struct daemon *d, struct ctr *x, json_t *req, json_t *layers,
		     const char *scratch, json_t *spec, struct gcs_error *err)
{
	const char *guest[BUNDLE_MAX_LAYERS];
	json_t *v;
	size_t i;
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
	json_array_foreach(layers, i, v) {
		if (!json_is_string(v) || x->n_layers >= BUNDLE_MAX_LAYERS)
			return gcs_error_set(err, -EINVAL, HR_FAIL, "bad layer list");
		rc = layer_get(d, json_string_value(v), &x->layers[x->n_layers], err);
		if (rc < 0)
			return rc;
		guest[x->n_layers] = x->layers[x->n_layers]->guest;
		x->n_layers++;
	}
	if ((rc = scratch_add(d, x, scratch, err)) < 0)
		return rc;
	rc = gcs_combine_layers(vm_bridge(&d->vm), x->id, x->rootfs, guest, x->n_layers,
				x->scratch_dir, err);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "combine the layers");
	x->combined = true;
	x->spec = bundle_guest_spec(spec, x->rootfs);
	if (!x->spec)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	x->terminal =
		json_is_true(json_object_get(json_object_get(x->spec, "process"), "terminal"));
	if ((rc = dnet_setup(d, x, req, err)) < 0) /* dnet.c: NIC, Network Add, the spec's */
		return rc;
	rc = gcs_create_container_spec(vm_bridge(&d->vm), x->id, x->bundle, x->spec, x->scratch_dir,
				       err);
	if (rc < 0)
		return rc;
	x->created = true;
	return 0;
}

/* A container that never made it into the list. */
static void ctr_discard(struct ctr *x)
{
	pthread_mutex_destroy(&x->op);
	close_fds(x->fds, x->n_fds);
	json_decref(x->spec);
	free(x);
}

void op_create(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	const char *scratch = json_string_value(json_object_get(req, "scratch"));
	const char *dir = json_string_value(json_object_get(req, "dir"));
	json_t *spec = json_object_get(req, "spec"), *layers = json_object_get(req, "layers");
	struct gcs_error err = { 0 };
	bool exiting, exists = false, last;
	struct ctr *x;
	uint32_t pid;

	if (!id_valid(id) || !scratch || !dir || !json_is_object(spec) || !json_is_array(layers)) {
		close_fds(fds, n_fds);
		reply_err(c, NULL, "create: malformed request");
		return;
	}
	if (uvm_gone(d, c)) {
		close_fds(fds, n_fds);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		close_fds(fds, n_fds);
		reply_err(c, NULL, "out of memory");
		return;
	}
	snprintf(x->id, sizeof(x->id), "%s", id);
	snprintf(x->dir, sizeof(x->dir), "%s", dir);
	pthread_mutex_init(&x->op, NULL);
	x->refs = 1; /* the list's */
	x->scratch_slot = -1;
	memcpy(x->fds, fds, n_fds * sizeof(int));
	x->n_fds = n_fds;

	pthread_mutex_lock(&d->lock);
	exiting = d->exiting;
	for (struct ctr *o = d->ctrs; o; o = o->next)
		exists |= !strcmp(o->id, id);
	if (!exiting && !exists) {
		x->next = d->ctrs;
		d->ctrs = x;
	}
	pthread_mutex_unlock(&d->lock);
	if (exiting || exists) {
		if (exiting)
			reply_err(c, "exiting", "the UVM %s is shutting down", d->uvm_id);
		else
			reply_err(c, NULL, "container with id exists: %s", id);
		ctr_discard(x);
		return;
	}

	pthread_mutex_lock(&x->op);
	if (ctr_setup(d, x, req, layers, scratch, spec, &err) < 0) {
		ctr_teardown(d, x);
		ctr_unlink(d, x);
		x->removed = true;
		pthread_mutex_unlock(&x->op);
		log_error("create %s: %s", id, err.message);
		last = claim_last(d);
		if (last)
			daemon_stop_uvm(d);
		reply_err(c, NULL, "%s", err.message);
		ctr_put(d, x);
		if (last)
			daemon_exit(d);
		return;
	}
	pid = created_pid(d, id);
	pthread_mutex_lock(&d->lock);
	x->pid = pid;
	transition(d, x, CTR_CREATED);
	pthread_mutex_unlock(&d->lock);
	ctr_save(d, x);
	pthread_mutex_unlock(&x->op);
	log_info("container %s: created (pid %u)", id, pid);
	reply_ok(c, json_pack("{s:i}", "pid", (int)pid));
}

/* ---- start, and the init's exit ---- */

struct waiter {
	struct daemon *d;
	struct ctr *x;
	struct dproc *p; /* NULL: the init */
};

static int spawn_waiter(struct daemon *d, struct ctr *x, struct dproc *p, void *(*fn)(void *))
{
	struct waiter *w = malloc(sizeof(*w));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (!w)
		return -ENOMEM;
	*w = (struct waiter){ d, x, p };
	pthread_mutex_lock(&d->lock);
	x->refs++;
	pthread_mutex_unlock(&d->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, fn, w);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		ctr_put(d, x);
		free(w);
		return -rc;
	}
	return 0;
}

/*
 * Waits for the init without a limit, then records the exit. On success libgcs has delivered
 * all output and the stdin relay is stopped here, so the stdio fds can go; when the UVM went
 * away the relays may still hold them, and they go with the container.
 */
static void *init_waiter(void *arg)
{
	struct waiter *w = arg;
	struct daemon *d = w->d;
	struct ctr *x = w->x;
	struct gcs_error err = { 0 };
	int fds[CTL_MAX_FDS];
	size_t n_fds = 0;
	uint32_t code = 255;
	int rc;

	free(w);
	rc = gcs_process_wait(x->init, -1, &code, &err);
	if (rc < 0)
		log_warning("container %s: wait for the init: %s", x->id, err.message);
	else
		gcs_process_close_stdin(x->init);
	pthread_mutex_lock(&d->lock);
	/* Its waiters wake once the lock goes, with the status set here. */
	if (transition(d, x, CTR_STOPPED)) {
		x->exited = true;
		x->exit_code = rc < 0 ? 255 : code;
		x->lost = rc < 0;
	}
	if (rc == 0) {
		memcpy(fds, x->fds, x->n_fds * sizeof(int));
		n_fds = x->n_fds;
		x->n_fds = 0;
	}
	pthread_mutex_unlock(&d->lock);
	close_fds(fds, n_fds);
	ctr_save(d, x);
	log_info("container %s: exited with %u", x->id, x->exit_code);
	ctr_put(d, x);
	return NULL;
}

/* Waits up to timeout_ms (< 0: forever) for the container to stop: 0, or -ETIMEDOUT. */
static int wait_stopped(struct daemon *d, struct ctr *x, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&d->lock);
	while (x->status != CTR_STOPPED && rc == 0)
		rc = timeout_ms < 0 ? pthread_cond_wait(&d->cond, &d->lock) :
				      pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	pthread_mutex_unlock(&d->lock);
	return rc == 0 ? 0 : -ETIMEDOUT;
}

/* Fills stdio from the fds the CLI sent: stdin and stdout for a terminal, else all three. */
static void stdio_from(struct gcs_stdio st[3], const int *fds, size_t n_fds, bool terminal)
{
	memset(st, 0, 3 * sizeof(*st));
	for (size_t i = 0; i < n_fds && i < (terminal ? 2u : 3u); i++)
		st[i] = (struct gcs_stdio){ GCS_STDIO_FD, fds[i] };
}

static void resize(struct gcs_process *p, json_t *req)
{
	json_int_t rows = json_integer_value(json_object_get(req, "rows"));
	json_int_t cols = json_integer_value(json_object_get(req, "cols"));
	struct gcs_error err = { 0 };

	if (rows > 0 && cols > 0 && rows < 65536 && cols < 65536 &&
	    gcs_process_resize(p, (uint16_t)rows, (uint16_t)cols, &err) < 0)
		log_warning("resize: %s", err.message);
}

static void mark_never_started_exit(struct daemon *d, struct ctr *x);

void op_start(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	struct gcs_bridge *b = vm_bridge(&d->vm);
	struct gcs_error err = { 0 };
	struct gcs_stdio st[3];
	struct gcs_process *init = NULL;
	struct ctr *x = ctr_find(d, c, req);
	enum ctr_status s;
	uint32_t code;
	bool lost;
	int rc;

	if (!x)
		return;
	if (uvm_gone(d, c)) {
		ctr_put(d, x);
		return;
	}
	if (!lock_live(c, x)) {
		ctr_put(d, x);
		return;
	}
	s = ctr_status_get(d, x);
	if (s != CTR_CREATED) {
		pthread_mutex_unlock(&x->op);
		reply_err(c, NULL, "%s",
			  s == CTR_STOPPED  ? "cannot start a container that has stopped" :
			  s == CTR_CREATING ? "container is being created" :
					      "cannot start an already running container");
		ctr_put(d, x);
		return;
	}
	stdio_from(st, x->fds, x->n_fds, x->terminal);
	pthread_mutex_lock(&d->lock);
	x->starting = true;
	pthread_mutex_unlock(&d->lock);
	rc = gcs_start_container(b, x->id, &err);
	if (rc == 0)
		rc = gcs_start_init(b, x->id, st, &init, &err);
	if (rc < 0) {
		/* Not started: an exit notification that came meanwhile is the container's end. */
		pthread_mutex_lock(&d->lock);
		x->starting = false;
		if (x->notified && x->status == CTR_CREATED)
			mark_never_started_exit(d, x);
		pthread_mutex_unlock(&d->lock);
		pthread_mutex_unlock(&x->op);
		reply_err(c, NULL, "start %s: %s", x->id, err.message);
		ctr_put(d, x);
		return;
	}
	resize(init, req);
	pthread_mutex_lock(&d->lock);
	x->init = init;
	x->pid = gcs_process_pid(init);
	x->starting = false;
	transition(d, x, CTR_RUNNING);
	pthread_mutex_unlock(&d->lock);
	console_follow(d, x, 0); /* dconsole.c: a console-socket pty's resizes */
	if (spawn_waiter(d, x, NULL, init_waiter) < 0)
		log_error("container %s: no thread to wait for its init", x->id);
	ctr_save(d, x);
	pthread_mutex_unlock(&x->op);
	log_info("container %s: started (pid %u)", x->id, x->pid);
	reply_ok(c, json_pack("{s:i}", "pid", (int)x->pid));
	if (json_is_true(json_object_get(req, "wait"))) {
		wait_stopped(d, x, -1);
		pthread_mutex_lock(&d->lock);
		code = x->exit_code;
		lost = x->lost;
		pthread_mutex_unlock(&d->lock);
		if (lost)
			reply_err(c, "uvm-gone", "the UVM %s went away while %s ran", d->uvm_id,
				  x->id);
		else
			reply_ok(c, json_pack("{s:i}", "exit", (int)code));
	}
	ctr_put(d, x);
}

void ctr_watch_init(struct daemon *d, struct ctr *x)
{
	struct gcs_error err = { 0 };

	if (gcs_process_attach(vm_bridge(&d->vm), x->id, x->pid, &x->init, &err) < 0 ||
	    spawn_waiter(d, x, NULL, init_waiter) < 0)
		log_error("container %s: cannot wait for its init (pid %u): %s", x->id, x->pid,
			  err.message[0] ? err.message : "no thread");
}

/* A created init that was never started is gone (killed): stopped, 137. Under d->lock. */
static void mark_never_started_exit(struct daemon *d, struct ctr *x)
{
	if (transition(d, x, CTR_STOPPED)) {
		x->exited = true;
		x->exit_code = 137;
	}
}

void ctr_notified(struct daemon *d, const char *id)
{
	pthread_mutex_lock(&d->lock);
	for (struct ctr *x = d->ctrs; x; x = x->next) {
		if (strcmp(x->id, id) != 0)
			continue;
		x->notified = true;
		/*
		 * A started init's exit is its waiter's to record, with its real status; so is one
		 * being started (the answer with its pid may still be on its way).
		 */
		if (x->status == CTR_CREATED && !x->starting)
			mark_never_started_exit(d, x);
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- exec ---- */

static void dproc_unlink(struct daemon *d, struct ctr *x, struct dproc *p)
{
	pthread_mutex_lock(&d->lock);
	for (struct dproc **pp = &x->procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pthread_cond_broadcast(&d->cond); /* a console follower waits for it (dconsole.c) */
	pthread_mutex_unlock(&d->lock);
}

/*
 * The end of an exec'd process: its exit code (or -1 when the UVM went away). It leaves the
 * list under d->lock and is freed here; signal and resize find it only under d->lock and use it
 * while holding x->op, which this takes before freeing.
 */
static int exec_finish(struct daemon *d, struct ctr *x, struct dproc *p)
{
	struct gcs_error err = { 0 };
	uint32_t code = 0;
	int rc = gcs_process_wait(p->p, -1, &code, &err);

	if (rc < 0)
		log_warning("container %s: wait for exec %u: %s", x->id, p->pid, err.message);
	dproc_unlink(d, x, p);
	pthread_mutex_lock(&x->op);
	pthread_mutex_unlock(&x->op);
	gcs_process_free(p->p);
	close_fds(p->fds, p->n_fds);
	free(p);
	return rc < 0 ? -1 : (int)code;
}

static void *exec_waiter(void *arg)
{
	struct waiter *w = arg;
	struct ctr *x = w->x;
	struct daemon *d = w->d;

	exec_finish(d, x, w->p);
	free(w);
	ctr_put(d, x);
	return NULL;
}

/* runc's exec process: the container's, with the request's arguments and settings on top. */
static json_t *exec_process(struct ctr *x, json_t *req)
{
	json_t *given = json_object_get(req, "process"), *p, *v, *env;
	size_t i;

	if (json_is_object(given))
		return json_deep_copy(given);
	p = json_deep_copy(json_object_get(x->spec, "process"));
	if (!p)
		p = json_object();
	json_object_set(p, "args", json_object_get(req, "args"));
	json_object_set_new(p, "terminal",
			    json_boolean(json_is_true(json_object_get(req, "terminal"))));
	json_object_del(p, "consoleSize");
	env = json_object_get(p, "env");
	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(p, "env", env);
	}
	json_array_foreach(json_object_get(req, "env"), i, v)
		json_array_append(env, v);
	if (json_is_string(json_object_get(req, "cwd")))
		json_object_set(p, "cwd", json_object_get(req, "cwd"));
	if (json_is_object(json_object_get(req, "user")))
		json_object_set(p, "user", json_object_get(req, "user"));
	return p;
}

void op_exec(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	struct gcs_error err = { 0 };
	struct gcs_stdio st[3];
	struct dproc *p = NULL;
	struct ctr *x = ctr_find(d, c, req);
	json_t *proc = NULL;
	enum ctr_status s;
	int code, rc;
	bool tty;

	if (!x || uvm_gone(d, c)) {
		close_fds(fds, n_fds);
		ctr_put(d, x);
		return;
	}
	s = ctr_status_get(d, x);
	if (s != CTR_RUNNING) {
		close_fds(fds, n_fds);
		reply_err(c, NULL, "cannot exec in a %s container", ctr_status_name(s));
		ctr_put(d, x);
		return;
	}
	proc = exec_process(x, req);
	p = calloc(1, sizeof(*p));
	if (!proc || !p || !json_array_size(json_object_get(proc, "args"))) {
		close_fds(fds, n_fds);
		reply_err(c, NULL, "exec: %s", p && proc ? "no command" : "out of memory");
		free(p);
		json_decref(proc);
		ctr_put(d, x);
		return;
	}
	memcpy(p->fds, fds, n_fds * sizeof(int));
	p->n_fds = n_fds;
	tty = json_is_true(json_object_get(proc, "terminal"));
	stdio_from(st, fds, n_fds, tty);
	rc = gcs_container_exec(vm_bridge(&d->vm), x->id, proc, st, &p->p, &err);
	json_decref(proc);
	if (rc < 0) {
		close_fds(p->fds, p->n_fds);
		free(p);
		/* the agent's own words name the container already */
		if (rc == -EREMOTEIO)
			reply_err(c, NULL, "%s", err.message);
		else
			reply_err(c, NULL, "exec in %s: %s", x->id, err.message);
		ctr_put(d, x);
		return;
	}
	resize(p->p, req);
	p->pid = gcs_process_pid(p->p);
	pthread_mutex_lock(&d->lock);
	p->next = x->procs;
	x->procs = p;
	pthread_mutex_unlock(&d->lock);
	if (tty)
		console_follow(d, x, p->pid); /* dconsole.c: a console-socket pty's resizes */
	reply_ok(c, json_pack("{s:i}", "pid", (int)p->pid));
	if (json_is_true(json_object_get(req, "wait"))) {
		code = exec_finish(d, x, p);
		if (code < 0)
			reply_err(c, "uvm-gone", "the UVM %s went away while the process ran",
				  d->uvm_id);
		else
			reply_ok(c, json_pack("{s:i}", "exit", code));
	} else if (spawn_waiter(d, x, p, exec_waiter) < 0) {
		log_error("container %s: no thread to wait for exec %u", x->id, p->pid);
	}
	ctr_put(d, x);
}

/* ---- signals, pause, resize ---- */

/* An exec'd process of x by pid (call with d->lock). */
static struct dproc *dproc_find(struct ctr *x, uint32_t pid)
{
	for (struct dproc *p = x->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

void op_kill(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	json_int_t sig = json_integer_value(json_object_get(req, "signal"));
	json_int_t pid = json_integer_value(json_object_get(req, "pid"));
	bool all = json_is_true(json_object_get(req, "all"));
	struct gcs_error err = { 0 };
	struct ctr *x = ctr_find(d, c, req);
	struct gcs_process *target = NULL;
	enum ctr_status s;
	int rc;

	if (!x || uvm_gone(d, c)) {
		ctr_put(d, x);
		return;
	}
	if (sig <= 0 || sig >= 65) {
		reply_err(c, NULL, "invalid signal %lld", (long long)sig);
		ctr_put(d, x);
		return;
	}
	/* Holding op keeps an exec'd process from being freed under us. */
	if (!lock_live(c, x)) {
		ctr_put(d, x);
		return;
	}
	pthread_mutex_lock(&d->lock);
	s = x->status;
	if (pid > 0) {
		struct dproc *p = dproc_find(x, (uint32_t)pid);
		target = p ? p->p : NULL;
	} else {
		target = x->init;
	}
	pthread_mutex_unlock(&d->lock);
	if (s == CTR_STOPPED || s == CTR_CREATING) {
		rc = gcs_error_set(&err, -ESRCH, HR_FAIL, "container not running");
	} else if (pid > 0 && !target) {
		rc = gcs_error_set(&err, -ESRCH, HR_FAIL, "no process %lld in %s", (long long)pid,
				   x->id);
	} else if (pid <= 0 && all) {
		rc = ctr_operation(d, x->id, GCS_CONTAINER_OP_KILL_ALL, (int)sig, &err);
	} else if (pid <= 0 && !target) {
		/* a created init the host never started: no process of the agent to signal */
		char num[16];
		snprintf(num, sizeof(num), "%lld", (long long)sig);
		rc = uvm_runc(d, (const char *const[]){ "kill", x->id, num, NULL }, &err);
	} else {
		rc = gcs_process_signal(target, (int)sig, &err);
	}
	pthread_mutex_unlock(&x->op);
	if (rc < 0)
		reply_err(c, NULL, "%s", err.message);
	else
		reply_ok(c, NULL);
	ctr_put(d, x);
}

void op_resize(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	json_int_t pid = json_integer_value(json_object_get(req, "pid"));
	struct ctr *x = ctr_find(d, c, req);
	struct gcs_process *target;

	if (!x || uvm_gone(d, c)) {
		ctr_put(d, x);
		return;
	}
	if (!lock_live(c, x)) {
		ctr_put(d, x);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (pid > 0) {
		struct dproc *p = dproc_find(x, (uint32_t)pid);
		target = p ? p->p : NULL;
	} else {
		target = x->status == CTR_RUNNING ? x->init : NULL;
	}
	pthread_mutex_unlock(&d->lock);
	if (target)
		resize(target, req);
	pthread_mutex_unlock(&x->op);
	reply_ok(c, NULL);
	ctr_put(d, x);
}

void op_pause(struct daemon *d, struct ctl_conn *c, json_t *req, bool pause)
{
	struct gcs_error err = { 0 };
	struct ctr *x = ctr_find(d, c, req);
	enum ctr_status s;
	int rc;

	if (!x || uvm_gone(d, c)) {
		ctr_put(d, x);
		return;
	}
	if (!lock_live(c, x)) {
		ctr_put(d, x);
		return;
	}
	s = ctr_status_get(d, x);
	if (pause && s != CTR_RUNNING)
		rc = gcs_error_set(&err, -EINVAL, HR_FAIL, "container not running");
	else if (!pause && s != CTR_PAUSED)
		rc = gcs_error_set(&err, -EINVAL, HR_FAIL, "container not paused");
	else
		rc = ctr_operation(d, x->id,
				   pause ? GCS_CONTAINER_OP_PAUSE : GCS_CONTAINER_OP_RESUME, 0,
				   &err);
	if (rc == 0) {
		set_status(d, x, pause ? CTR_PAUSED : CTR_RUNNING);
		ctr_save(d, x);
	}
	pthread_mutex_unlock(&x->op);
	if (rc < 0)
		reply_err(c, NULL, "%s", err.message);
	else
		reply_ok(c, NULL);
	ctr_put(d, x);
}

/* ---- queries (ps: dquery.c) ---- */

static json_t *describe(struct ctr *x)
{
	json_t *j = json_pack("{s:s, s:s, s:i}", "id", x->id, "status", ctr_status_name(x->status),
			      "pid", x->status == CTR_STOPPED ? 0 : (int)x->pid);

	if (x->exited)
		json_object_set_new(j, "exit", json_integer(x->exit_code));
	dnet_describe(x, j);
	return j;
}

void op_state(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	struct ctr *x = ctr_find(d, c, req);
	json_t *j;

	if (!x || uvm_gone(d, c)) {
		ctr_put(d, x);
		return;
	}
	pthread_mutex_lock(&d->lock);
	j = describe(x);
	pthread_mutex_unlock(&d->lock);
	reply_ok(c, j);
	ctr_put(d, x);
}

void op_list(struct daemon *d, struct ctl_conn *c)
{
	json_t *list = json_array();
	bool gone = vm_broken(&d->vm);

	pthread_mutex_lock(&d->lock);
	for (struct ctr *x = d->ctrs; x; x = x->next) {
		json_t *j = describe(x);
		if (gone)
			json_object_set_new(j, "status", json_string("stopped"));
		json_array_append_new(list, j);
	}
	pthread_mutex_unlock(&d->lock);
	reply_ok(c, json_pack("{s:o, s:b}", "containers", list, "uvm_gone", gone));
}

/* ---- delete ---- */

/*
 * Removes a container from the guest and the UVM. force: a running or paused container is
 * killed first (thawed, SIGKILL, then its exit awaited). Called with x->op held.
 */
static int ctr_remove(struct daemon *d, struct ctr *x, bool force, struct gcs_error *err)
{
	enum ctr_status s = ctr_status_get(d, x);

	if (x->removed)
		return gcs_error_set(err, -ENOENT, HR_FAIL, "container does not exist");
	if ((s == CTR_RUNNING || s == CTR_PAUSED) && !force)
		return gcs_error_set(err, -EBUSY, HR_FAIL,
				     "cannot delete container %s that is not stopped: %s", x->id,
				     ctr_status_name(s));
	if ((s == CTR_RUNNING || s == CTR_PAUSED) && !vm_broken(&d->vm)) {
		struct gcs_error e = { 0 };
		if (s == CTR_PAUSED && ctr_operation(d, x->id, GCS_CONTAINER_OP_RESUME, 0, &e) < 0)
			log_warning("%s: resume before the kill: %s", x->id, e.message);
		if (x->init && gcs_process_signal(x->init, SIGKILL, &e) < 0)
			log_warning("%s: SIGKILL: %s", x->id, e.message);
		if (wait_stopped(d, x, KILL_WAIT_MS) < 0)
			log_warning("%s: still running %d ms after SIGKILL", x->id, KILL_WAIT_MS);
	}
	ctr_teardown(d, x);
	ctr_unlink(d, x);
	x->removed = true;
	rm_rf(x->dir);
	log_info("container %s: deleted", x->id);
	return 0;
}

void op_delete(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	bool force = json_is_true(json_object_get(req, "force")), last;
	struct gcs_error err = { 0 };
	struct ctr *x = ctr_find(d, c, req);
	int rc;

	if (!x)
		return;
	pthread_mutex_lock(&x->op);
	rc = ctr_remove(d, x, force, &err);
	pthread_mutex_unlock(&x->op);
	if (rc < 0) {
		reply_err(c, NULL, "%s", err.message);
		ctr_put(d, x);
		return;
	}
	ctr_put(d, x); /* the list's reference */
	last = claim_last(d);
	if (last)
		daemon_stop_uvm(d);
	reply_ok(c, json_pack("{s:b}", "uvm_stopped", last));
	ctr_put(d, x);
	if (last)
		daemon_exit(d);
}

void ctr_delete_all(struct daemon *d)
{
	for (;;) {
		struct gcs_error err = { 0 };
		struct ctr *x;

		pthread_mutex_lock(&d->lock);
		x = d->ctrs;
		if (x)
			x->refs++;
		pthread_mutex_unlock(&d->lock);
		if (!x)
			return;
		pthread_mutex_lock(&x->op);
		if (ctr_remove(d, x, true, &err) == 0)
			ctr_put(d, x); /* the list's reference */
		pthread_mutex_unlock(&x->op);
		ctr_put(d, x);
	}
}
