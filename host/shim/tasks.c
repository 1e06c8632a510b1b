/*
 * The shim's tasks on liblcowrt: the UVM booted for the first task of the group, each task's
 * rootfs (containerd's snapshot trees as cached ext4 layer images) and scratch disk, its
 * processes' stdio (containerd's FIFOs and log URIs), a waiter thread per started process that
 * records its exit, and the task events in the order the v2 README asks for: create, start,
 * exit, delete; exec-added, exec-started, exit.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lcow/stdio.h>

#include "cleanup.h"
#include "events.h"
#include "fileio.h"
#include "fsutil.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "log.h"
#include "paths.h"

/* A sparse scratch disk per container, as hcsshim's default size (20 GB). */
#define SCRATCH_SIZE (20ULL << 30)
/* How often a waiter looks up from its wait to see whether its task is going. */
#define WAITER_POLL_MS 1000

int shim_errf(struct shim_err *e, enum ttrpc_code code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int shim_err_rt(struct shim_err *e, int rc, const struct gcs_error *err, const char *what)
{
	enum ttrpc_code code;
	const char *msg = err && err->message[0] ? err->message : strerror(-rc);

	switch (rc) {
	case -ENOENT:
	case -ESRCH:
		code = TTRPC_NOT_FOUND;
		break;
	case -EEXIST:
		code = TTRPC_ALREADY_EXISTS;
		break;
	case -EINVAL:
		code = TTRPC_INVALID_ARGUMENT;
		break;
	case -EBUSY:
		code = TTRPC_FAILED_PRECONDITION;
		break;
	case -EOPNOTSUPP:
		code = TTRPC_UNIMPLEMENTED;
		break;
	case -ESHUTDOWN:
	case -ENOLINK:
		code = TTRPC_UNAVAILABLE;
		break;
	default:
		code = TTRPC_UNKNOWN;
	}
	if (err && err->hresult)
		return shim_errf(e, code, "%s: %s (HRESULT 0x%08x)", what, msg,
				 (unsigned)err->hresult);
	return shim_errf(e, code, "%s: %s", what, msg);
}

int shim_init(struct shim *s, const char *group)
{
	char why[256] = "";

	s->group = strdup(group);
	if (!s->group)
		return -ENOMEM;
	if (paths_uvm_dir(s->namespace, group, s->uvm_dir, sizeof(s->uvm_dir)) < 0 ||
	    paths_layer_cache(s->layer_cache, sizeof(s->layer_cache)) < 0)
		return -ENAMETOOLONG;
	if (lcow_rt_mode_parse(getenv("LCOW_UVM_MODE") ?: "auto", &s->mode) < 0) {
		log_warn("LCOW_UVM_MODE=%s is not auto, qemu or process: auto",
			 getenv("LCOW_UVM_MODE"));
		s->mode = LCOW_RT_AUTO;
	}
	s->mode = lcow_rt_mode_resolve(s->mode, why, sizeof(why));
	if (why[0])
		log_info("process mode: %s", why);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return 0;
}

/* ---- the table ---- */

struct stask *shim_task(struct shim *s, const char *id)
{
	for (struct stask *t = s->tasks; t; t = t->next)
		if (!strcmp(t->id, id))
			return t;
	return NULL;
}

struct sproc *shim_proc(struct stask *t, const char *exec_id)
{
	for (struct sproc *p = t->procs; p; p = p->next)
		if (!strcmp(p->exec_id, exec_id ?: ""))
			return p;
	return NULL;
}

struct sproc *shim_find(struct shim *s, const char *id, const char *exec_id, struct shim_err *e)
{
	struct stask *t = shim_task(s, id ?: "");
	struct sproc *p;

	if (!t || t->creating || t->deleting) {
		shim_errf(e, TTRPC_NOT_FOUND, "task %s: not found", id ?: "");
		return NULL;
	}
	p = shim_proc(t, exec_id);
	if (!p)
		shim_errf(e, TTRPC_NOT_FOUND, "process %s of task %s: not found", exec_id, id);
	return p;
}

struct lcow_rt_ctr *shim_ctr(struct shim *s, const char *id, struct shim_err *e)
{
	struct lcow_rt_ctr *x = NULL;
	struct lcow_rt *rt;

	pthread_mutex_lock(&s->lock);
	rt = s->closing ? NULL : s->rt;
	if (rt)
		s->threads++;
	pthread_mutex_unlock(&s->lock);
	if (rt)
		x = lcow_rt_ctr_get(rt, id);
	if (!x) {
		if (rt)
			shim_put(s, NULL);
		shim_errf(e, TTRPC_NOT_FOUND, "task %s: not found", id);
	}
	return x;
}

void shim_put(struct shim *s, struct lcow_rt_ctr *x)
{
	if (x)
		lcow_rt_ctr_put(s->rt, x);
	pthread_mutex_lock(&s->lock);
	s->threads--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

bool shim_has_tasks(struct shim *s)
{
	bool any;

	pthread_mutex_lock(&s->lock);
	any = s->tasks != NULL;
	pthread_mutex_unlock(&s->lock);
	return any;
}

void shim_post(struct shim *s, const char *topic, const ProtobufCMessage *m)
{
	events_post(s->events, topic, m);
}

static void sproc_free(struct sproc *p)
{
	if (!p)
		return;
	free(p->exec_id);
	json_decref(p->process);
	for (int i = 0; i < 3; i++)
		free(p->io[i]);
	free(p);
}

static struct sproc *sproc_new(const char *exec_id, const char *const io[3], bool terminal)
{
	struct sproc *p = calloc(1, sizeof(*p));

	if (!p || !(p->exec_id = strdup(exec_id))) {
		free(p);
		return NULL;
	}
	for (int i = 0; i < 3; i++)
		if (!(p->io[i] = strdup(io[i] ?: ""))) {
			sproc_free(p);
			return NULL;
		}
	p->terminal = terminal;
	return p;
}

static void stask_free(struct shim *s, struct stask *t)
{
	if (!t)
		return;
	while (t->procs) {
		struct sproc *p = t->procs;

		t->procs = p->next;
		sproc_free(p);
	}
	if (t->x && s->rt)
		lcow_rt_ctr_put(s->rt, t->x);
	free(t->id);
	free(t->bundle);
	free(t);
}

static void stask_unlink(struct shim *s, struct stask *t)
{
	for (struct stask **pp = &s->tasks; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			return;
		}
}

/* /tasks/exit of p (s->lock held). */
static void post_exit(struct shim *s, struct stask *t, struct sproc *p)
{
	Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	if (p->exit_posted)
		return;
	p->exit_posted = true;
	ts.seconds = p->exited_at.tv_sec;
	ts.nanos = (int32_t)p->exited_at.tv_nsec;
	ev.container_id = t->id;
	ev.id = p->exec_id[0] ? p->exec_id : t->id;
	ev.pid = p->pid;
	ev.exit_status = p->exit_status;
	ev.exited_at = &ts;
	shim_post(s, "/tasks/exit", &ev.base);
}

/* Records the exit of p (s->lock held): its waits end, and /tasks/exit goes once started. */
static void record_exit(struct shim *s, struct stask *t, struct sproc *p, uint32_t code)
{
	if (p->exited)
		return;
	p->exited = true;
	p->exit_status = code;
	clock_gettime(CLOCK_REALTIME, &p->exited_at);
	p->state = SPROC_STOPPED;
	log_info("%s%s%s: exited with %u", t->id, p->exec_id[0] ? " exec " : "", p->exec_id, code);
	if (!p->starting)
		post_exit(s, t, p);
	pthread_cond_broadcast(&s->cond);
}

/* ---- the waiters ---- */

struct waiter {
	struct shim *s;
	struct lcow_rt_ctr *x; /* a reference of the waiter's */
	char *id, *exec_id;
	uint32_t pid; /* 0: the init */
};

/*
 * Waits for the init (the container to stop) or an exec'd process, then records its exit. It
 * looks up every WAITER_POLL_MS to see whether the task is going (deleted, or the shim shuts
 * down), in which case the exit is for the deleter to record.
 */
static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct shim *s = w->s;
	uint32_t code = 255;
	bool done = false;

	while (!done) {
		struct gcs_error err = { 0 };
		int rc = lcow_rt_wait(s->rt, w->x, w->pid, WAITER_POLL_MS, &code, &err);

		if (rc == -ETIMEDOUT) {
			struct stask *t;

			pthread_mutex_lock(&s->lock);
			t = shim_task(s, w->id);
			done = s->closing || !t || t->deleting;
			pthread_mutex_unlock(&s->lock);
			if (done)
				goto out;
			continue;
		}
		if (rc < 0) {
			if (rc != -ENOLINK)
				log_warn("%s: wait for %u: %s", w->id, w->pid, err.message);
			code = 255;
		}
		done = true;
	}
	if (w->pid)
		lcow_rt_release(s->rt, w->x, w->pid);
	pthread_mutex_lock(&s->lock);
	{
		struct stask *t = shim_task(s, w->id);
		struct sproc *p = t ? shim_proc(t, w->exec_id) : NULL;

		if (p && (!w->pid || p->pid == w->pid))
			record_exit(s, t, p, code);
	}
	pthread_mutex_unlock(&s->lock);
out:
	lcow_rt_ctr_put(s->rt, w->x);
	pthread_mutex_lock(&s->lock);
	s->threads--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	free(w->id);
	free(w->exec_id);
	free(w);
	return NULL;
}

/* A waiter for process exec_id of task id (pid 0: the init). s->lock held. */
static int spawn_waiter(struct shim *s, const char *id, const char *exec_id, uint32_t pid)
{
	struct waiter *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	if (!w)
		return -ENOMEM;
	w->s = s;
	w->pid = pid;
	w->id = strdup(id);
	w->exec_id = strdup(exec_id);
	w->x = lcow_rt_ctr_get(s->rt, id);
	if (!w->id || !w->exec_id || !w->x) {
		rc = w->x ? -ENOMEM : -ENOENT;
		goto fail;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&th, &attr, waiter_main, w);
	pthread_attr_destroy(&attr);
	if (rc < 0)
		goto fail;
	s->threads++;
	return 0;
fail:
	if (w->x)
		lcow_rt_ctr_put(s->rt, w->x);
	free(w->id);
	free(w->exec_id);
	free(w);
	log_error("%s: no waiter for process %u: %s", id, pid, strerror(-rc));
	return rc;
}

/* ---- the UVM ---- */

/* The UVM, booted by the first caller (the others wait for it). */
static int uvm_ensure(struct shim *s, struct shim_err *e)
{
	struct lcow_rt_options o = {
		.id = strrchr(s->uvm_dir, '/') + 1,
		.dir = s->uvm_dir,
		.mode = s->mode,
		.pod = true,
		.debug = getenv("LCOW_DEBUG") != NULL,
	};
	struct gcs_error err = { 0 };
	struct lcow_rt *rt = NULL;
	char vmdir[4200];
	int rc;

	pthread_mutex_lock(&s->lock);
	while (s->uvm_starting)
		pthread_cond_wait(&s->cond, &s->lock);
	if (s->rt || s->closing) {
		rc = s->rt ? 0 : -1;
		pthread_mutex_unlock(&s->lock);
		return rc < 0 ? shim_errf(e, TTRPC_UNAVAILABLE, "the shim is shutting down") : 0;
	}
	s->uvm_starting = true;
	pthread_mutex_unlock(&s->lock);

	/* What a shim of this group that was killed left is gone first. */
	if (pathf(vmdir, sizeof(vmdir), "%s/vm", s->uvm_dir) == 0 && access(vmdir, F_OK) == 0) {
		int n = lcow_rt_uvm_sweep(vmdir);

		log_warn("UVM %s: removed %d leftovers of an earlier shim", o.id, n);
	}
	rc = mkdir_p(s->uvm_dir, 0700);
	if (rc < 0)
		gcs_error_set(&err, rc, 0, "create %s: %s", s->uvm_dir, strerror(-rc));
	else {
		log_info("starting UVM %s (%s mode) in %s", o.id, lcow_rt_mode_name(s->mode),
			 s->uvm_dir);
		rc = lcow_rt_start(&o, false, &rt, &err);
	}
	pthread_mutex_lock(&s->lock);
	s->uvm_starting = false;
	s->rt = rc < 0 ? NULL : rt;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		return shim_err_rt(e, rc, &err, "start the UVM");
	return 0;
}

/* ---- create ---- */

/* The trees of the rootfs: containerd's mounts, or the spec's root.path (no mounts). */
static int rootfs_layers(const struct shim_create *c, json_t *spec, struct lcow_rootfs_layers *ret,
			 struct shim_err *e)
{
	struct gcs_error err = { 0 };
	const char *root =
		json_string_value(json_object_get(json_object_get(spec, "root"), "path"));
	int rc;

	if (c->n_rootfs) {
		rc = lcow_rootfs_parse(c->rootfs, c->n_rootfs, ret, &err);
		return rc < 0 ? shim_err_rt(e, rc, &err, "rootfs") : 0;
	}
	if (!root || !root[0])
		return shim_errf(e, TTRPC_INVALID_ARGUMENT, "no rootfs mounts and no root.path");
	ret->lowers = calloc(2, sizeof(char *));
	if (!ret->lowers)
		return shim_errf(e, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	if (root[0] == '/')
		ret->lowers[0] = strdup(root);
	else if (asprintf(&ret->lowers[0], "%s/%s", c->bundle, root) < 0)
		ret->lowers[0] = NULL;
	if (!ret->lowers[0]) {
		free(ret->lowers);
		ret->lowers = NULL;
		return shim_errf(e, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	ret->n_lowers = 1;
	ret->upper = NULL;
	return 0;
}

static int make_scratch(const char *path, struct shim_err *e)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)SCRATCH_SIZE) < 0)
		return shim_errf(e, TTRPC_UNKNOWN, "scratch disk %s: %s", path, strerror(errno));
	return 0;
}

/*
 * A stdin FIFO is relayed by a thread of the shim into a pipe whose read end the runtime gets:
 * the thread opens the FIFO for reading, which waits for containerd's writer (so that no EOF is
 * seen before the writer came), copies until the writer closes, then closes the pipe, and the
 * process reads EOF. CloseIO of a stdin nobody opened ends the wait (open for writing, close).
 */
struct stdin_relay {
	char *path;
	int out;
};

static void *stdin_relay_main(void *arg)
{
	struct stdin_relay *r = arg;
	char buf[16384];
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);

	while (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf)), off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		while (off < n) {
			ssize_t w = write(r->out, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	close(r->out);
	free(r->path);
	free(r);
	return NULL;
}

/* 1 when uri is no FIFO (lcow_stdio_open's other cases apply). */
static int open_stdin_fifo(const char *uri, int *ret_fd)
{
	const char *path = strncmp(uri, "fifo://", 7) == 0 ? uri + 7 : uri;
	struct stdin_relay *r;
	pthread_attr_t attr;
	struct stat st;
	pthread_t th;
	int p[2], rc;

	if (path[0] != '/' || stat(path, &st) < 0 || !S_ISFIFO(st.st_mode))
		return 1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->path = strdup(path))) {
		free(r);
		close(p[0]);
		close(p[1]);
		return -ENOMEM;
	}
	r->out = p[1];
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&th, &attr, stdin_relay_main, r);
	pthread_attr_destroy(&attr);
	if (rc < 0) {
		free(r->path);
		free(r);
		close(p[0]);
		close(p[1]);
		return rc;
	}
	*ret_fd = p[0];
	return 0;
}

/* Opens the stdio of a process into fds (-1: none); a terminal has no stderr. */
static int open_stdio(const char *const io[3], bool terminal, int fds[3], size_t *ret_n,
		      struct shim_err *e)
{
	struct gcs_error err = { 0 };
	size_t n = terminal ? 2 : 3;

	fds[0] = fds[1] = fds[2] = -1;
	for (size_t i = 0; i < n; i++) {
		int rc = i == 0 && io[0] && io[0][0] ? open_stdin_fifo(io[0], &fds[0]) : 1;

		if (rc < 0) {
			shim_errf(e, TTRPC_UNKNOWN, "stdin %s: %s", io[0], strerror(-rc));
			return -1;
		}
		if (rc == 0)
			continue;
		rc = lcow_stdio_open(io[i] ?: "", (int)i, &fds[i], &err);

		if (rc < 0) {
			for (size_t k = 0; k < i; k++)
				if (fds[k] >= 0)
					close(fds[k]);
			return shim_err_rt(e, rc, &err,
					   i == 0 ? "stdin" :
					   i == 1 ? "stdout" :
						    "stderr");
		}
	}
	*ret_n = n;
	return 0;
}

int shim_create_task(struct shim *s, const struct shim_create *c, uint32_t *ret_pid,
		     struct shim_err *e)
{
	struct lcow_rootfs_layers layers = { 0 };
	struct gcs_error err = { 0 };
	struct stask *t = NULL;
	json_auto_t *spec = NULL;
	char path[4200], scratch[4200], owner[33];
	char **images = NULL;
	int fds[3] = { -1, -1, -1 }, rc;
	size_t n_fds = 0, n_images = 0;

	uint32_t pid = 0;
	struct sproc *init = NULL;

	if (!c->id || !c->id[0] || !c->bundle || c->bundle[0] != '/')
		return shim_errf(e, TTRPC_INVALID_ARGUMENT, "create: an id and a bundle path");
	paths_owner(s->namespace, c->id, owner);

	/* The task's place in the table, so that a second Create of the id is refused. */
	pthread_mutex_lock(&s->lock);
	if (s->closing) {
		pthread_mutex_unlock(&s->lock);
		return shim_errf(e, TTRPC_UNAVAILABLE, "the shim is shutting down");
	}
	if (shim_task(s, c->id)) {
		pthread_mutex_unlock(&s->lock);
		return shim_errf(e, TTRPC_ALREADY_EXISTS, "task %s: already exists", c->id);
	}
	t = calloc(1, sizeof(*t));
	if (t && (!(t->id = strdup(c->id)) || !(t->bundle = strdup(c->bundle)))) {
		stask_free(s, t);
		t = NULL;
	}
	if (t) {
		t->creating = true;
		t->next = s->tasks;
		s->tasks = t;
	}
	pthread_mutex_unlock(&s->lock);
	if (!t)
		return shim_errf(e, TTRPC_RESOURCE_EXHAUSTED, "out of memory");

	init = sproc_new("", c->io, c->terminal);
	if (!init) {
		rc = shim_errf(e, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto fail;
	}
	if (pathf(path, sizeof(path), "%s/config.json", c->bundle) < 0 ||
	    paths_ctr_dir(s->namespace, s->group, c->id, t->dir, sizeof(t->dir)) < 0 ||
	    pathf(scratch, sizeof(scratch), "%s/scratch.img", t->dir) < 0) {
		rc = shim_errf(e, TTRPC_INVALID_ARGUMENT, "create %s: path too long", c->id);
		goto fail;
	}
	{
		json_error_t jerr;

		spec = json_load_file(path, 0, &jerr);
		if (!json_is_object(spec)) {
			rc = shim_errf(e, TTRPC_INVALID_ARGUMENT, "%s: %s", path,
				       spec ? "not an object" : jerr.text);
			goto fail;
		}
	}
	rc = rootfs_layers(c, spec, &layers, e);
	if (rc < 0)
		goto fail;
	if (layers.upper)
		log_debug("%s: the snapshot's upper %s is not used: writes go to its scratch disk",
			  c->id, layers.upper);
	rc = lcow_rootfs_acquire(s->layer_cache, &layers, owner, &images, &err);
	if (rc < 0) {
		shim_err_rt(e, rc, &err, "rootfs layers");
		goto fail;
	}
	while (images[n_images])
		n_images++;
	rc = mkdir_p(t->dir, 0700);
	if (rc < 0) {
		rc = shim_errf(e, TTRPC_UNKNOWN, "create %s: %s", t->dir, strerror(-rc));
		goto fail;
	}
	rc = make_scratch(scratch, e);
	if (rc < 0)
		goto fail;
	rc = open_stdio(c->io, c->terminal, fds, &n_fds, e);
	if (rc < 0)
		goto fail;
	rc = uvm_ensure(s, e);
	if (rc < 0) {
		for (size_t i = 0; i < n_fds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		goto fail;
	}
	{
		struct lcow_rt_create_options o = {
			.id = c->id,
			.dir = t->dir,
			.spec = spec,
			.layers = (const char *const *)images,
			.n_layers = n_images,
			.scratch = scratch,
			.fds = fds,
			.n_fds = n_fds,
		};

		rc = lcow_rt_create(s->rt, &o, &pid, &err);
	}
	if (rc < 0) {
		shim_err_rt(e, rc, &err, "create");
		goto fail;
	}
	lcow_rootfs_layers_free(&layers);
	pthread_mutex_lock(&s->lock);
	t->x = lcow_rt_ctr_get(s->rt, c->id);
	t->images = images;
	init->pid = pid;
	t->procs = init;
	t->creating = false;
	pthread_mutex_unlock(&s->lock);
	log_info("%s: created (pid %u, %zu layers)", c->id, pid, n_images);
	*ret_pid = pid;
	return 0;

fail:
	lcow_rootfs_layers_free(&layers);
	if (images)
		lcow_rootfs_release(s->layer_cache, images, owner);
	if (t->dir[0])
		rm_rf(t->dir);
	sproc_free(init);
	pthread_mutex_lock(&s->lock);
	stask_unlink(s, t);
	stask_free(s, t);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	log_warn("create %s: %s", c->id, e->msg);
	return -1;
}

/* ---- start, exec ---- */

int shim_start(struct shim *s, const char *id, const char *exec_id, uint32_t *ret_pid,
	       struct shim_err *e)
{
	struct gcs_error err = { 0 };
	struct lcow_rt_ctr *x;
	struct sproc *p;
	json_t *process = NULL;
	char *io[3] = { NULL, NULL, NULL };
	bool terminal = false, init = !exec_id || !exec_id[0];
	uint32_t pid = 0;
	int rc;

	pthread_mutex_lock(&s->lock);
	p = shim_find(s, id, exec_id, e);
	if (p && (p->state != SPROC_CREATED || p->starting || p->exited)) {
		shim_errf(e, TTRPC_FAILED_PRECONDITION, "%s%s%s: already started", id,
			  init ? "" : " exec ", init ? "" : exec_id);
		p = NULL;
	}
	if (p) {
		p->starting = true;
		process = json_incref(p->process);
		terminal = p->terminal;
		for (int i = 0; i < 3; i++)
			io[i] = strdup(p->io[i]);
	}
	pthread_mutex_unlock(&s->lock);
	if (!p)
		return -1;

	x = shim_ctr(s, id, e);
	if (!x)
		rc = -1;
	else if (init) {
		rc = lcow_rt_start_init(s->rt, x, 0, 0, &pid, &err);
		if (rc < 0)
			shim_err_rt(e, rc, &err, "start");
	} else {
		int fds[3];
		size_t n_fds = 0;

		rc = -ENOMEM;
		if (io[0] && io[1] && io[2])
			rc = open_stdio((const char *const *)io, terminal, fds, &n_fds, e);
		else
			shim_errf(e, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		if (rc == 0) {
			rc = lcow_rt_exec(s->rt, x, process, fds, n_fds, 0, 0, true, &pid, &err);
			if (rc < 0)
				shim_err_rt(e, rc, &err, "exec");
		}
	}
	if (x)
		shim_put(s, x);
	json_decref(process);
	for (int i = 0; i < 3; i++)
		free(io[i]);

	pthread_mutex_lock(&s->lock);
	{
		struct shim_err e2;
		struct stask *t = shim_task(s, id);

		p = t ? shim_find(s, id, exec_id, &e2) : NULL;
		if (p) {
			p->starting = false;
			if (rc == 0) {
				p->pid = pid;
				p->state = SPROC_RUNNING;
				if (init) {
					Containerd__Events__TaskStart ev =
						CONTAINERD__EVENTS__TASK_START__INIT;

					ev.container_id = t->id;
					ev.pid = pid;
					shim_post(s, "/tasks/start", &ev.base);
				} else {
					Containerd__Events__TaskExecStarted ev =
						CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;

					ev.container_id = t->id;
					ev.exec_id = p->exec_id;
					ev.pid = pid;
					shim_post(s, "/tasks/exec-started", &ev.base);
				}
				if (!(init && p->waited) &&
				    spawn_waiter(s, id, p->exec_id, init ? 0 : pid) < 0)
					record_exit(s, t, p, 255);
				p->waited = true;
			} else if (!init) {
				/* An exec that could not start ends there. */
				record_exit(s, t, p, 255);
			}
			if (p->exited)
				post_exit(s, t, p);
		}
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		return -1;
	log_info("%s%s%s: started, pid %u", id, init ? "" : " exec ", init ? "" : exec_id, pid);
	*ret_pid = pid;
	return 0;
}

int shim_exec(struct shim *s, const char *id, const char *exec_id, json_t *process,
	      const char *const io[3], bool terminal, struct shim_err *e)
{
	Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
	struct sproc *init, *p, **pp;
	struct stask *t;
	int rc = 0;

	if (!exec_id || !exec_id[0])
		return shim_errf(e, TTRPC_INVALID_ARGUMENT, "exec: an exec id");
	if (!json_is_object(process) || !json_array_size(json_object_get(process, "args")))
		return shim_errf(e, TTRPC_INVALID_ARGUMENT, "exec %s: the process spec has no args",
				 exec_id);
	pthread_mutex_lock(&s->lock);
	init = shim_find(s, id, "", e);
	t = init ? shim_task(s, id) : NULL;
	if (!init)
		rc = -1;
	else if (init->state != SPROC_RUNNING)
		rc = shim_errf(e, TTRPC_FAILED_PRECONDITION, "task %s: not running", id);
	else if (shim_proc(t, exec_id))
		rc = shim_errf(e, TTRPC_ALREADY_EXISTS, "exec %s of task %s: already exists",
			       exec_id, id);
	else if (!(p = sproc_new(exec_id, io, terminal)))
		rc = shim_errf(e, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	else {
		p->process = json_incref(process);
		for (pp = &t->procs; *pp; pp = &(*pp)->next)
			;
		*pp = p;
		ev.container_id = t->id;
		ev.exec_id = p->exec_id;
		shim_post(s, "/tasks/exec-added", &ev.base);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- wait, delete ---- */

int shim_wait(struct shim *s, const char *id, const char *exec_id, uint32_t *ret_status,
	      struct timespec *ret_at, struct shim_err *e)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	s->threads++;
	for (;;) {
		struct sproc *p = shim_find(s, id, exec_id, e);

		if (!p) {
			rc = -1;
			break;
		}
		if (p->exited) {
			*ret_status = p->exit_status;
			*ret_at = p->exited_at;
			break;
		}
		if (s->closing) {
			rc = shim_errf(e, TTRPC_UNAVAILABLE, "the shim is shutting down");
			break;
		}
		pthread_cond_wait(&s->cond, &s->lock);
	}
	s->threads--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Removes the task's container and disks; the table entry is the caller's (deleting set). */
static int remove_task(struct shim *s, struct stask *t, struct shim_err *e)
{
	struct gcs_error err = { 0 };
	char owner[33];
	int rc;

	rc = lcow_rt_delete(s->rt, t->x, true, &err);
	if (rc < 0 && rc != -ENOENT)
		return shim_err_rt(e, rc, &err, "delete");
	paths_owner(s->namespace, t->id, owner);
	if (t->images)
		lcow_rootfs_release(s->layer_cache, t->images, owner);
	t->images = NULL;
	rm_rf(t->dir);
	return 0;
}

int shim_delete(struct shim *s, const char *id, const char *exec_id, uint32_t *ret_pid,
		uint32_t *ret_status, struct timespec *ret_at, struct shim_err *e)
{
	Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct sproc *p;
	struct stask *t;
	int rc;

	pthread_mutex_lock(&s->lock);
	p = shim_find(s, id, exec_id, e);
	t = p ? shim_task(s, id) : NULL;
	if (p && p->state == SPROC_RUNNING && !p->exited) {
		shim_errf(e, TTRPC_FAILED_PRECONDITION, "%s%s%s: cannot delete a running process",
			  id, p->exec_id[0] ? " exec " : "", p->exec_id);
		p = NULL;
	}
	if (p && p->starting) {
		shim_errf(e, TTRPC_FAILED_PRECONDITION, "%s: being started", id);
		p = NULL;
	}
	if (p && p->exec_id[0]) {
		/* An exec'd process goes from the table; its exit was recorded (or it never ran). */
		struct sproc **pp;

		for (pp = &t->procs; *pp != p; pp = &(*pp)->next)
			;
		*pp = p->next;
		*ret_pid = p->pid;
		*ret_status = p->exited ? p->exit_status : 0;
		if (p->exited)
			*ret_at = p->exited_at;
		else
			clock_gettime(CLOCK_REALTIME, ret_at);
		pthread_mutex_unlock(&s->lock);
		sproc_free(p);
		return 0;
	}
	if (p)
		t->deleting = true;
	pthread_mutex_unlock(&s->lock);
	if (!p)
		return -1;

	rc = remove_task(s, t, e);
	pthread_mutex_lock(&s->lock);
	if (rc < 0) {
		t->deleting = false;
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	/* A task that never started (or whose waiter gave up) ends here, as killed. */
	if (!p->exited) {
		p->exited = true;
		p->exit_posted = true;
		p->exit_status = 128 + SIGKILL;
		clock_gettime(CLOCK_REALTIME, &p->exited_at);
	}
	*ret_pid = p->pid;
	*ret_status = p->exit_status;
	*ret_at = p->exited_at;
	ts.seconds = p->exited_at.tv_sec;
	ts.nanos = (int32_t)p->exited_at.tv_nsec;
	ev.container_id = t->id;
	ev.pid = p->pid;
	ev.exit_status = p->exit_status;
	ev.exited_at = &ts;
	ev.id = t->id;
	shim_post(s, "/tasks/delete", &ev.base);
	stask_unlink(s, t);
	stask_free(s, t);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	log_info("%s: deleted", id);
	return 0;
}

/* ---- signals and the like ---- */

int shim_target(struct shim *s, const char *id, const char *exec_id, uint32_t *ret_pid,
		struct shim_err *e)
{
	struct sproc *p;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	p = shim_find(s, id, exec_id, e);
	if (!p)
		rc = -1;
	else if (p->exited)
		rc = shim_errf(e, TTRPC_NOT_FOUND, "%s%s%s: process already finished", id,
			       p->exec_id[0] ? " exec " : "", p->exec_id);
	else if (p->exec_id[0] && p->state == SPROC_CREATED)
		rc = shim_errf(e, TTRPC_FAILED_PRECONDITION, "%s exec %s: not started", id,
			       p->exec_id);
	else
		*ret_pid = p->exec_id[0] ? p->pid : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int shim_kill(struct shim *s, const char *id, const char *exec_id, int sig, bool all,
	      struct shim_err *e)
{
	struct gcs_error err = { 0 };
	struct lcow_rt_ctr *x;
	uint32_t pid = 0;
	bool created = false;
	int rc;

	if (shim_target(s, id, exec_id, &pid, e) < 0)
		return -1;
	if (!pid) {
		pthread_mutex_lock(&s->lock);
		{
			struct sproc *p = shim_find(s, id, "", e);

			created = p && p->state == SPROC_CREATED && !p->starting;
		}
		pthread_mutex_unlock(&s->lock);
	}
	x = shim_ctr(s, id, e);
	if (!x)
		return -1;
	rc = lcow_rt_kill(s->rt, x, pid, sig, all, &err);
	shim_put(s, x);
	if (rc < 0)
		return shim_err_rt(e, rc, &err, "kill");
	if (created) {
		/* A created init that is killed stops without having started: wait for that. */
		pthread_mutex_lock(&s->lock);
		{
			struct sproc *p = shim_find(s, id, "", e);

			if (p && p->state == SPROC_CREATED && !p->starting && !p->waited) {
				p->waited = true;
				spawn_waiter(s, id, "", 0);
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
	return 0;
}

int shim_close_stdin(struct shim *s, const char *id, const char *exec_id, struct shim_err *e)
{
	struct gcs_error err = { 0 };
	struct lcow_rt_ctr *x;
	struct sproc *p;
	uint32_t pid = 0;
	struct stat st;
	int keep, rc;

	char *path = NULL;

	pthread_mutex_lock(&s->lock);
	p = shim_find(s, id, exec_id, e);
	if (p && p->io[0][0])
		path = strdup(strncmp(p->io[0], "fifo://", 7) == 0 ? p->io[0] + 7 : p->io[0]);
	pthread_mutex_unlock(&s->lock);
	if (!p)
		return -1;
	if (path && stat(path, &st) == 0 && S_ISFIFO(st.st_mode)) {
		/* a relay still waiting for a writer gets one that closes at once: EOF */
		keep = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (keep >= 0)
			close(keep);
		free(path);
		return 0;
	}
	free(path);
	if (shim_target(s, id, exec_id, &pid, e) < 0)
		return -1;
	x = shim_ctr(s, id, e);
	if (!x)
		return -1;
	rc = lcow_rt_close_stdin(s->rt, x, pid, &err);
	shim_put(s, x);
	return rc < 0 ? shim_err_rt(e, rc, &err, "close stdin") : 0;
}

/* ---- the end ---- */

void shim_fini(struct shim *s)
{
	struct shim_err e;

	pthread_mutex_lock(&s->lock);
	s->closing = true;
	pthread_cond_broadcast(&s->cond);
	while (s->uvm_starting)
		pthread_cond_wait(&s->cond, &s->lock);
	while (s->tasks) {
		struct stask *t = s->tasks;

		while (t->creating)
			pthread_cond_wait(&s->cond, &s->lock);
		if (t != s->tasks)
			continue;
		t->deleting = true;
		pthread_mutex_unlock(&s->lock);
		if (s->rt && t->x && remove_task(s, t, &e) < 0)
			log_warn("%s: %s", t->id, e.msg);
		pthread_mutex_lock(&s->lock);
		stask_unlink(s, t);
		stask_free(s, t);
	}
	pthread_mutex_unlock(&s->lock);
	if (s->rt)
		lcow_rt_stop(s->rt);
	pthread_mutex_lock(&s->lock);
	while (s->threads > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->rt) {
		lcow_rt_free(s->rt);
		s->rt = NULL;
		rm_rf(s->uvm_dir);
	}
	free(s->group);
	s->group = NULL;
}
