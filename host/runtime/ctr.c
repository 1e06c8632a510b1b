/*
 * A container's life after create: the state machine, the init's start and exit, exec'd
 * processes and their exits, signals, console sizes, stdin, pause and resume.
 *
 * start: Start, and the init's ExecuteProcess with the stdio fds create received. A waiter
 * thread per process waits for its exit, records it, and calls the front end's on_exit.
 * pause, resume and kill --all are the agent's container operations (lcow's extension of the
 * bridge; with an agent without it, runc in the UVM: uvmcmd.c). A signal to a container whose
 * init was never started has no bridge message: it runs `runc kill` as a process of the UVM.
 */
#include "rt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Takes x->op; a container deleted meanwhile is -ENOENT (and op is let go). */
static int lock_live(struct lcow_rt_ctr *x, struct gcs_error *err)
{
	pthread_mutex_lock(&x->op);
	if (!x->removed)
		return 0;
	pthread_mutex_unlock(&x->op);
	return gcs_error_set(err, -ENOENT, HR_FAIL, "container does not exist");
}

enum lcow_rt_status ctr_status_get(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	enum lcow_rt_status s;

	pthread_mutex_lock(&d->lock);
	s = x->status;
	pthread_mutex_unlock(&d->lock);
	return s;
}

const char *lcow_rt_status_name(enum lcow_rt_status s)
{
	static const char *const names[] = { "creating", "created", "running", "paused",
					     "stopped" };

	return names[s];
}

/*
 * The container state machine: the one place a status changes. From each status, the ones it
 * may go to; anything else is refused (and logged), so a late or repeated event (an exit
 * notification racing start, a resume after the exit) cannot undo a later state. Stopped is
 * final, and reaching it wakes every waiter (d->cond) once.
 */
static const bool transitions[LCOW_RT_STOPPED + 1][LCOW_RT_STOPPED + 1] = {
	[LCOW_RT_CREATING] = { [LCOW_RT_CREATED] = true, [LCOW_RT_STOPPED] = true },
	[LCOW_RT_CREATED] = { [LCOW_RT_RUNNING] = true, [LCOW_RT_STOPPED] = true },
	[LCOW_RT_RUNNING] = { [LCOW_RT_PAUSED] = true, [LCOW_RT_STOPPED] = true },
	[LCOW_RT_PAUSED] = { [LCOW_RT_RUNNING] = true, [LCOW_RT_STOPPED] = true },
};

bool ctr_transition(struct lcow_rt *d, struct lcow_rt_ctr *x, enum lcow_rt_status to)
{
	if (!transitions[x->status][to]) {
		rt_debug("container %s: no transition %s -> %s", x->id,
			 lcow_rt_status_name(x->status), lcow_rt_status_name(to));
		return false;
	}
	x->status = to;
	if (to == LCOW_RT_STOPPED)
		pthread_cond_broadcast(&d->cond);
	return true;
}

void lcow_rt_ctr_state(struct lcow_rt *d, struct lcow_rt_ctr *x, struct lcow_rt_state *ret)
{
	pthread_mutex_lock(&d->lock);
	*ret = (struct lcow_rt_state){ .status = x->status,
				       .pid = x->status == LCOW_RT_STOPPED ? 0 : x->pid,
				       .exited = x->exited,
				       .exit_code = x->exit_code,
				       .lost = x->lost,
				       .terminal = x->terminal };
	pthread_mutex_unlock(&d->lock);
}

json_t *lcow_rt_ctr_process(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	json_t *p;

	pthread_mutex_lock(&d->lock);
	p = json_deep_copy(json_object_get(x->spec, "process"));
	pthread_mutex_unlock(&d->lock);
	return p ? p : json_object();
}

/* The absolute time timeout_ms from now. */
static struct timespec deadline_in(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

int wait_stopped(struct lcow_rt *d, struct lcow_rt_ctr *x, int timeout_ms)
{
	struct timespec ts = deadline_in(timeout_ms < 0 ? 0 : timeout_ms);
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	while (x->status != LCOW_RT_STOPPED && rc == 0)
		rc = timeout_ms < 0 ? pthread_cond_wait(&d->cond, &d->lock) :
				      pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	pthread_mutex_unlock(&d->lock);
	return rc == 0 ? 0 : -ETIMEDOUT;
}

/* ---- the waiters ---- */

struct waiter {
	struct lcow_rt *d;
	struct lcow_rt_ctr *x;
	struct dproc *p; /* NULL: the init */
};

static int spawn_waiter(struct lcow_rt *d, struct lcow_rt_ctr *x, struct dproc *p,
			void *(*fn)(void *))
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
		lcow_rt_ctr_put(d, x);
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
	struct lcow_rt *d = w->d;
	struct lcow_rt_ctr *x = w->x;
	struct gcs_error err = { 0 };
	int fds[LCOW_RT_MAX_FDS];
	size_t n_fds = 0;
	uint32_t code = 255, pid;
	bool recorded;
	int rc;

	free(w);
	rc = gcs_process_wait(x->init, -1, &code, &err);
	if (rc < 0)
		rt_warning("container %s: wait for the init: %s", x->id, err.message);
	else
		gcs_process_close_stdin(x->init);
	pthread_mutex_lock(&d->lock);
	/* Its waiters wake once the lock goes, with the status set here. */
	recorded = ctr_transition(d, x, LCOW_RT_STOPPED);
	if (recorded) {
		x->exited = true;
		x->exit_code = rc < 0 ? 255 : code;
		x->lost = rc < 0;
	}
	if (rc == 0) {
		memcpy(fds, x->fds, x->n_fds * sizeof(int));
		n_fds = x->n_fds;
		x->n_fds = 0;
	}
	code = x->exit_code;
	pid = x->pid;
	pthread_mutex_unlock(&d->lock);
	close_fds(fds, n_fds);
	ctr_save(d, x);
	rt_info("container %s: exited with %u", x->id, code);
	if (recorded && d->on_exit)
		d->on_exit(d->user, x->id, pid, code);
	lcow_rt_ctr_put(d, x);
	return NULL;
}

/* Fills stdio from the fds: stdin and stdout for a terminal, else all three; -1: no stream. */
static void stdio_from(struct gcs_stdio st[3], const int *fds, size_t n_fds, bool terminal)
{
	memset(st, 0, 3 * sizeof(*st));
	for (size_t i = 0; i < n_fds && i < (terminal ? 2u : 3u); i++)
		if (fds[i] >= 0)
			st[i] = (struct gcs_stdio){ GCS_STDIO_FD, fds[i] };
}

static void resize(struct gcs_process *p, unsigned rows, unsigned cols)
{
	struct gcs_error err = { 0 };

	if (rows > 0 && cols > 0 && rows < 65536 && cols < 65536 &&
	    gcs_process_resize(p, (uint16_t)rows, (uint16_t)cols, &err) < 0)
		rt_warning("resize: %s", err.message);
}

/* A created init that was never started is gone (killed): stopped, 137. Under d->lock. */
static void mark_never_started_exit(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	if (ctr_transition(d, x, LCOW_RT_STOPPED)) {
		x->exited = true;
		x->exit_code = 137;
	}
}

int lcow_rt_start_init(struct lcow_rt *d, struct lcow_rt_ctr *x, unsigned rows, unsigned cols,
		       uint32_t *ret_pid, struct gcs_error *err)
{
	struct gcs_bridge *b = vm_bridge(&d->vm);
	struct gcs_stdio st[3];
	struct gcs_process *init = NULL;
	enum lcow_rt_status s;
	uint32_t pid;
	int rc;

	if ((rc = lock_live(x, err)) < 0)
		return rc;
	s = ctr_status_get(d, x);
	if (s != LCOW_RT_CREATED) {
		pthread_mutex_unlock(&x->op);
		return gcs_error_set(
			err, s == LCOW_RT_CREATING ? -EBUSY : -EINVAL, HR_FAIL, "%s",
			s == LCOW_RT_STOPPED  ? "cannot start a container that has stopped" :
			s == LCOW_RT_CREATING ? "container is being created" :
						"cannot start an already running container");
	}
	stdio_from(st, x->fds, x->n_fds, x->terminal);
	pthread_mutex_lock(&d->lock);
	x->starting = true;
	pthread_mutex_unlock(&d->lock);
	rc = gcs_start_container(b, x->id, err);
	if (rc == 0)
		rc = gcs_start_init(b, x->id, st, &init, err);
	if (rc < 0) {
		/* Not started: an exit notification that came meanwhile is the container's end. */
		pthread_mutex_lock(&d->lock);
		x->starting = false;
		if (x->notified && x->status == LCOW_RT_CREATED)
			mark_never_started_exit(d, x);
		pthread_mutex_unlock(&d->lock);
		pthread_mutex_unlock(&x->op);
		return gcs_error_prefix(err, rc, "start %s", x->id);
	}
	resize(init, rows, cols);
	pthread_mutex_lock(&d->lock);
	x->init = init;
	x->pid = pid = gcs_process_pid(init);
	x->starting = false;
	ctr_transition(d, x, LCOW_RT_RUNNING);
	pthread_mutex_unlock(&d->lock);
	console_follow(d, x, 0); /* console.c: a console-socket pty's resizes */
	if (spawn_waiter(d, x, NULL, init_waiter) < 0)
		rt_error("container %s: no thread to wait for its init", x->id);
	ctr_save(d, x);
	pthread_mutex_unlock(&x->op);
	rt_info("container %s: started (pid %u)", x->id, pid);
	if (ret_pid)
		*ret_pid = pid;
	return 0;
}

void ctr_watch_init(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	struct gcs_error err = { 0 };

	if (gcs_process_attach(vm_bridge(&d->vm), x->id, x->pid, &x->init, &err) < 0 ||
	    spawn_waiter(d, x, NULL, init_waiter) < 0)
		rt_error("container %s: cannot wait for its init (pid %u): %s", x->id, x->pid,
			 err.message[0] ? err.message : "no thread");
}

void ctr_notified(struct lcow_rt *d, const char *id)
{
	pthread_mutex_lock(&d->lock);
	for (struct lcow_rt_ctr *x = d->ctrs; x; x = x->next) {
		if (strcmp(x->id, id) != 0)
			continue;
		x->notified = true;
		/*
		 * A started init's exit is its waiter's to record, with its real status; so is one
		 * being started (the answer with its pid may still be on its way).
		 */
		if (x->status == LCOW_RT_CREATED && !x->starting)
			mark_never_started_exit(d, x);
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- exec ---- */

struct dproc *dproc_find(struct lcow_rt_ctr *x, uint32_t pid)
{
	for (struct dproc *p = x->procs; p; p = p->next)
		if (p->pid == pid && !p->exited)
			return p;
	return NULL;
}

/* Any listed process of x by pid, exited or not (d->lock held). */
static struct dproc *dproc_any(struct lcow_rt_ctr *x, uint32_t pid)
{
	for (struct dproc *p = x->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static void dproc_unlink(struct lcow_rt_ctr *x, struct dproc *p)
{
	for (struct dproc **pp = &x->procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
}

/*
 * The end of an exec'd process: its exit is recorded under d->lock (from then on signal and
 * resize no longer find it); they use a process they found while holding x->op, which this
 * takes before freeing its handle and fds. A kept process stays listed, done, for
 * lcow_rt_release; another one goes.
 */
static void *exec_waiter(void *arg)
{
	struct waiter *w = arg;
	struct lcow_rt_ctr *x = w->x;
	struct lcow_rt *d = w->d;
	struct dproc *p = w->p;
	struct gcs_error err = { 0 };
	uint32_t code = 255, pid = p->pid;
	bool gone;
	int rc;

	free(w);
	rc = gcs_process_wait(p->p, -1, &code, &err);
	if (rc < 0)
		rt_warning("container %s: wait for exec %u: %s", x->id, p->pid, err.message);
	pthread_mutex_lock(&d->lock);
	p->exited = true;
	p->lost = rc < 0;
	p->exit_code = code = rc < 0 ? 255 : code;
	pthread_cond_broadcast(&d->cond); /* waiters, and a console follower (console.c) */
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_lock(&x->op);
	pthread_mutex_unlock(&x->op);
	gcs_process_free(p->p);
	p->p = NULL;
	close_fds(p->fds, p->n_fds);
	p->n_fds = 0;
	pthread_mutex_lock(&d->lock);
	gone = !p->keep;
	if (gone)
		dproc_unlink(x, p);
	else
		p->done = true;
	pthread_mutex_unlock(&d->lock);
	if (gone)
		free(p);
	if (d->on_exit)
		d->on_exit(d->user, x->id, pid, code);
	lcow_rt_ctr_put(d, x);
	return NULL;
}

int lcow_rt_exec(struct lcow_rt *d, struct lcow_rt_ctr *x, json_t *process, const int *fds,
		 size_t n_fds, unsigned rows, unsigned cols, bool keep, uint32_t *ret_pid,
		 struct gcs_error *err)
{
	struct gcs_stdio st[3];
	struct dproc *p = NULL;
	enum lcow_rt_status s;
	uint32_t pid;
	bool tty;
	int rc;

	if (n_fds > LCOW_RT_MAX_FDS) {
		close_fds(fds, n_fds);
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "exec: too many fds");
	}
	s = ctr_status_get(d, x);
	if (s != LCOW_RT_RUNNING) {
		close_fds(fds, n_fds);
		return gcs_error_set(err, -ESRCH, HR_FAIL, "cannot exec in a %s container",
				     lcow_rt_status_name(s));
	}
	p = calloc(1, sizeof(*p));
	if (!p || !json_array_size(json_object_get(process, "args"))) {
		close_fds(fds, n_fds);
		free(p);
		return gcs_error_set(err, p ? -EINVAL : -ENOMEM, HR_FAIL, "exec: %s",
				     p ? "no command" : "out of memory");
	}
	memcpy(p->fds, fds, n_fds * sizeof(int));
	p->n_fds = n_fds;
	p->keep = keep;
	tty = json_is_true(json_object_get(process, "terminal"));
	stdio_from(st, fds, n_fds, tty);
	rc = gcs_container_exec(vm_bridge(&d->vm), x->id, process, st, &p->p, err);
	if (rc < 0) {
		close_fds(p->fds, p->n_fds);
		free(p);
		/* the agent's own words name the container already */
		return rc == -EREMOTEIO ? rc : gcs_error_prefix(err, rc, "exec in %s", x->id);
	}
	resize(p->p, rows, cols);
	p->pid = pid = gcs_process_pid(p->p);
	pthread_mutex_lock(&d->lock);
	p->next = x->procs;
	x->procs = p;
	pthread_mutex_unlock(&d->lock);
	if (tty)
		console_follow(d, x, pid); /* console.c: a console-socket pty's resizes */
	if (spawn_waiter(d, x, p, exec_waiter) < 0)
		rt_error("container %s: no thread to wait for exec %u", x->id, pid);
	if (ret_pid)
		*ret_pid = pid;
	return 0;
}

int lcow_rt_wait(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid, int timeout_ms,
		 uint32_t *ret_code, struct gcs_error *err)
{
	struct timespec ts = deadline_in(timeout_ms < 0 ? 0 : timeout_ms);
	uint32_t code;
	bool lost;
	int rc = 0;

	if (!pid) {
		if (wait_stopped(d, x, timeout_ms) < 0)
			return gcs_error_set(err, -ETIMEDOUT, HR_FAIL, "container %s still runs",
					     x->id);
		pthread_mutex_lock(&d->lock);
		code = x->exit_code;
		lost = x->lost;
		pthread_mutex_unlock(&d->lock);
		if (lost)
			return gcs_error_set(err, -ENOLINK, HR_FAIL,
					     "the UVM %s went away while %s ran", d->uvm_id, x->id);
		*ret_code = code;
		return 0;
	}
	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct dproc *p = dproc_any(x, pid);

		if (!p || !p->keep) {
			pthread_mutex_unlock(&d->lock);
			return gcs_error_set(err, -ESRCH, HR_FAIL, "no process %u in %s", pid,
					     x->id);
		}
		if (p->exited) {
			code = p->exit_code;
			lost = p->lost;
			break;
		}
		if (rc != 0) {
			pthread_mutex_unlock(&d->lock);
			return gcs_error_set(err, -ETIMEDOUT, HR_FAIL, "process %u still runs",
					     pid);
		}
		rc = timeout_ms < 0 ? pthread_cond_wait(&d->cond, &d->lock) :
				      pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	pthread_mutex_unlock(&d->lock);
	if (lost)
		return gcs_error_set(err, -ENOLINK, HR_FAIL,
				     "the UVM %s went away while the process ran", d->uvm_id);
	*ret_code = code;
	return 0;
}

void lcow_rt_release(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid)
{
	struct dproc *p;
	bool done = false;

	pthread_mutex_lock(&d->lock);
	p = dproc_any(x, pid);
	if (p && p->keep) {
		done = p->done;
		if (done)
			dproc_unlink(x, p);
		else
			p->keep = false; /* its waiter frees it */
	}
	pthread_mutex_unlock(&d->lock);
	if (done)
		free(p);
}

/* ---- signals, pause, resize, stdin ---- */

/* The process by pid (0: the init) under x->op; NULL when there is none (any more). */
static struct gcs_process *target_of(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid)
{
	struct gcs_process *t;

	pthread_mutex_lock(&d->lock);
	if (pid > 0) {
		struct dproc *p = dproc_find(x, pid);
		t = p ? p->p : NULL;
	} else {
		t = x->init;
	}
	pthread_mutex_unlock(&d->lock);
	return t;
}

int lcow_rt_kill(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid, int sig, bool all,
		 struct gcs_error *err)
{
	struct gcs_process *target;
	enum lcow_rt_status s;
	int rc;

	if (sig <= 0 || sig >= 65)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid signal %d", sig);
	/* Holding op keeps an exec'd process from being freed under us. */
	if ((rc = lock_live(x, err)) < 0)
		return rc;
	s = ctr_status_get(d, x);
	target = target_of(d, x, pid);
	if (s == LCOW_RT_STOPPED || s == LCOW_RT_CREATING) {
		rc = gcs_error_set(err, -ESRCH, HR_FAIL, "container not running");
	} else if (pid > 0 && !target) {
		rc = gcs_error_set(err, -ESRCH, HR_FAIL, "no process %u in %s", pid, x->id);
	} else if (pid == 0 && all) {
		rc = ctr_operation(d, x->id, GCS_CONTAINER_OP_KILL_ALL, sig, err);
	} else if (pid == 0 && !target) {
		/* a created init the host never started: no process of the agent to signal */
		char num[16];
		snprintf(num, sizeof(num), "%d", sig);
		rc = uvm_runc(d, (const char *const[]){ "kill", x->id, num, NULL }, err);
	} else {
		rc = gcs_process_signal(target, sig, err);
	}
	pthread_mutex_unlock(&x->op);
	return rc;
}

int lcow_rt_resize(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid, unsigned rows,
		   unsigned cols, struct gcs_error *err)
{
	struct gcs_process *target;
	int rc;

	if ((rc = lock_live(x, err)) < 0)
		return rc;
	target = ctr_status_get(d, x) == LCOW_RT_RUNNING || pid ? target_of(d, x, pid) : NULL;
	if (target)
		resize(target, rows, cols);
	pthread_mutex_unlock(&x->op);
	return 0;
}

int lcow_rt_close_stdin(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid,
			struct gcs_error *err)
{
	struct gcs_process *target;
	int rc;

	if ((rc = lock_live(x, err)) < 0)
		return rc;
	target = target_of(d, x, pid);
	rc = target ? gcs_process_close_stdin(target) : 0;
	pthread_mutex_unlock(&x->op);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "close the stdin of %s: %s", x->id,
				     strerror(-rc));
	return 0;
}

int lcow_rt_pause(struct lcow_rt *d, struct lcow_rt_ctr *x, bool pause, struct gcs_error *err)
{
	enum lcow_rt_status s;
	int rc;

	if ((rc = lock_live(x, err)) < 0)
		return rc;
	s = ctr_status_get(d, x);
	if (pause && s != LCOW_RT_RUNNING)
		rc = gcs_error_set(err, -EINVAL, HR_FAIL, "container not running");
	else if (!pause && s != LCOW_RT_PAUSED)
		rc = gcs_error_set(err, -EINVAL, HR_FAIL, "container not paused");
	else
		rc = ctr_operation(
			d, x->id, pause ? GCS_CONTAINER_OP_PAUSE : GCS_CONTAINER_OP_RESUME, 0, err);
	if (rc == 0) {
		pthread_mutex_lock(&d->lock);
		ctr_transition(d, x, pause ? LCOW_RT_PAUSED : LCOW_RT_RUNNING);
		pthread_mutex_unlock(&d->lock);
		ctr_save(d, x);
	}
	pthread_mutex_unlock(&x->op);
	return rc;
}
