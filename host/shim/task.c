/*
 * The Task service's handlers: each decodes its request, calls the task layer (tasks.c) and
 * answers. Checkpoint answers Unimplemented (12) naming itself, as the v2 README asks of RPCs
 * a shim does not support.
 */
#include "task.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "log.h"
#include "metrics.h"

#define SHIM_VERSION "containerd-shim-lcow-v1 0.1"

/* The request types, one cast per handler, so that a handler reads its own fields. */
#define REQ(type, m) ((const type *)(m))

static void fail(struct ttrpc_call *call, const struct shim_err *e)
{
	log_debug("%s: %s", ttrpc_call_method(call), e->msg);
	ttrpc_call_error(call, e->code ? e->code : TTRPC_UNKNOWN, "%s", e->msg);
}

static void timestamp(Google__Protobuf__Timestamp *ts, const struct timespec *t)
{
	ts->seconds = t->tv_sec;
	ts->nanos = (int32_t)t->tv_nsec;
}

/* An Any holding JSON (containerd marshals OCI types with encoding/json). */
static json_t *any_json(const Google__Protobuf__Any *a, const char *what, struct shim_err *e)
{
	json_error_t jerr;
	json_t *j;

	if (!a || !a->value.len) {
		shim_errf(e, TTRPC_INVALID_ARGUMENT, "%s: missing", what);
		return NULL;
	}
	j = json_loadb((const char *)a->value.data, a->value.len, 0, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		shim_errf(e, TTRPC_INVALID_ARGUMENT, "%s (%s): not a JSON object: %s", what,
			  a->type_url ?: "", jerr.text);
		return NULL;
	}
	return j;
}

static void task_create(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__CreateTaskRequest *r =
		REQ(Containerd__Task__V2__CreateTaskRequest, m);
	Containerd__Task__V2__CreateTaskResponse resp =
		CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
	struct lcow_rootfs_mount mounts[8];
	struct shim *s = userdata;
	struct shim_err e = { 0 };
	struct shim_create c = {
		.id = r->id,
		.bundle = r->bundle,
		.rootfs = mounts,
		.n_rootfs = r->n_rootfs,
		.io = { r->stdin, r->stdout, r->stderr },
		.terminal = r->terminal,
	};
	uint32_t pid = 0;

	if (r->checkpoint && r->checkpoint[0]) {
		ttrpc_call_error(call, TTRPC_UNIMPLEMENTED,
				 "lcow shim: restoring from a checkpoint is not implemented");
		return;
	}
	if (r->n_rootfs > sizeof(mounts) / sizeof(mounts[0])) {
		ttrpc_call_error(call, TTRPC_INVALID_ARGUMENT, "create %s: %zu rootfs mounts",
				 r->id, r->n_rootfs);
		return;
	}
	for (size_t i = 0; i < r->n_rootfs; i++)
		mounts[i] = (struct lcow_rootfs_mount){
			.type = r->rootfs[i]->type,
			.source = r->rootfs[i]->source,
			.options = (const char *const *)r->rootfs[i]->options,
			.n_options = r->rootfs[i]->n_options,
		};
	log_info("Create %s (bundle %s, %zu rootfs mounts%s)", r->id, r->bundle, r->n_rootfs,
		 r->terminal ? ", terminal" : "");
	if (shim_create_task(s, &c, &pid, &e) < 0) {
		fail(call, &e);
		return;
	}
	io.stdin = r->stdin;
	io.stdout = r->stdout;
	io.stderr = r->stderr;
	io.terminal = r->terminal;
	ev.container_id = r->id;
	ev.bundle = r->bundle;
	ev.n_rootfs = r->n_rootfs;
	ev.rootfs = r->rootfs;
	ev.io = &io;
	ev.checkpoint = r->checkpoint;
	ev.pid = pid;
	shim_post(s, "/tasks/create", &ev.base);
	resp.pid = pid;
	ttrpc_call_reply(call, &resp.base);
}

static void task_start(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__StartRequest *r = REQ(Containerd__Task__V2__StartRequest, m);
	Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	struct shim_err e = { 0 };
	uint32_t pid = 0;

	if (shim_start(userdata, r->id, r->exec_id, &pid, &e) < 0) {
		fail(call, &e);
		return;
	}
	resp.pid = pid;
	ttrpc_call_reply(call, &resp.base);
}

static void task_state(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__StateRequest *r = REQ(Containerd__Task__V2__StateRequest, m);
	Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct shim *s = userdata;
	struct shim_err e = { 0 };
	struct lcow_rt_ctr *x = NULL;
	struct lcow_rt_state st = { 0 };
	char *io[3] = { NULL, NULL, NULL };
	struct sproc *p;
	bool init = !r->exec_id || !r->exec_id[0];

	/* Paused is the container's state, which the runtime keeps. */
	if (init && (x = shim_ctr(s, r->id, &e))) {
		lcow_rt_ctr_state(s->rt, x, &st);
		shim_put(s, x);
	}
	pthread_mutex_lock(&s->lock);
	p = shim_find(s, r->id, r->exec_id, &e);
	if (p) {
		resp.id = r->id;
		resp.exec_id = r->exec_id;
		resp.bundle = shim_task(s, r->id)->bundle;
		resp.pid = p->pid;
		resp.status = p->exited			? CONTAINERD__V1__TYPES__STATUS__STOPPED :
			      p->state == SPROC_CREATED ? CONTAINERD__V1__TYPES__STATUS__CREATED :
			      init && st.status == LCOW_RT_PAUSED ?
							  CONTAINERD__V1__TYPES__STATUS__PAUSED :
							  CONTAINERD__V1__TYPES__STATUS__RUNNING;
		for (int i = 0; i < 3; i++)
			io[i] = strdup(p->io[i]);
		resp.terminal = p->terminal;
		if (p->exited) {
			resp.exit_status = p->exit_status;
			timestamp(&ts, &p->exited_at);
			resp.exited_at = &ts;
		}
		resp.bundle = strdup(resp.bundle);
	}
	pthread_mutex_unlock(&s->lock);
	if (!p) {
		fail(call, &e);
		return;
	}
	resp.stdin = io[0] ?: (char *)"";
	resp.stdout = io[1] ?: (char *)"";
	resp.stderr = io[2] ?: (char *)"";
	if (!resp.bundle)
		resp.bundle = (char *)"";
	ttrpc_call_reply(call, &resp.base);
	for (int i = 0; i < 3; i++)
		free(io[i]);
	if (resp.bundle[0])
		free(resp.bundle);
}

static void task_delete(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__DeleteRequest *r = REQ(Containerd__Task__V2__DeleteRequest, m);
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct shim_err e = { 0 };
	struct timespec at;
	uint32_t pid = 0, status = 0;

	if (shim_delete(userdata, r->id, r->exec_id, &pid, &status, &at, &e) < 0) {
		fail(call, &e);
		return;
	}
	timestamp(&ts, &at);
	resp.pid = pid;
	resp.exit_status = status;
	resp.exited_at = &ts;
	ttrpc_call_reply(call, &resp.base);
}

static void task_wait(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__WaitRequest *r = REQ(Containerd__Task__V2__WaitRequest, m);
	Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct shim_err e = { 0 };
	struct timespec at;
	uint32_t status = 0;

	if (shim_wait(userdata, r->id, r->exec_id, &status, &at, &e) < 0) {
		fail(call, &e);
		return;
	}
	timestamp(&ts, &at);
	resp.exit_status = status;
	resp.exited_at = &ts;
	ttrpc_call_reply(call, &resp.base);
}

static void task_exec(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__ExecProcessRequest *r =
		REQ(Containerd__Task__V2__ExecProcessRequest, m);
	const char *io[3] = { r->stdin, r->stdout, r->stderr };
	struct shim_err e = { 0 };
	json_t *process = any_json(r->spec, "exec process spec", &e);
	int rc = -1;

	if (process)
		rc = shim_exec(userdata, r->id, r->exec_id, process, io, r->terminal, &e);
	json_decref(process);
	if (rc < 0)
		fail(call, &e);
	else
		ttrpc_call_reply(call, NULL);
}

static void task_kill(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__KillRequest *r = REQ(Containerd__Task__V2__KillRequest, m);
	struct shim_err e = { 0 };

	if (r->signal == 0 || r->signal >= 65) {
		ttrpc_call_error(call, TTRPC_INVALID_ARGUMENT, "kill %s: signal %u", r->id,
				 r->signal);
		return;
	}
	if (shim_kill(userdata, r->id, r->exec_id, (int)r->signal, r->all, &e) < 0)
		fail(call, &e);
	else
		ttrpc_call_reply(call, NULL);
}

/* The container of the request's task and the runtime pid of its process (0: the init). */
static struct lcow_rt_ctr *target(struct shim *s, const char *id, const char *exec_id,
				  uint32_t *pid, struct shim_err *e)
{
	if (shim_target(s, id, exec_id, pid, e) < 0)
		return NULL;
	return shim_ctr(s, id, e);
}

static void task_resize_pty(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__ResizePtyRequest *r =
		REQ(Containerd__Task__V2__ResizePtyRequest, m);
	struct shim *s = userdata;
	struct shim_err e = { 0 };
	struct gcs_error err = { 0 };
	struct lcow_rt_ctr *x;
	uint32_t pid = 0;
	int rc;

	x = target(s, r->id, r->exec_id, &pid, &e);
	if (!x) {
		fail(call, &e);
		return;
	}
	rc = lcow_rt_resize(s->rt, x, pid, r->height, r->width, &err);
	shim_put(s, x);
	if (rc < 0) {
		shim_err_rt(&e, rc, &err, "resize");
		fail(call, &e);
		return;
	}
	ttrpc_call_reply(call, NULL);
}

static void task_close_io(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__CloseIORequest *r =
		REQ(Containerd__Task__V2__CloseIORequest, m);
	struct shim_err e = { 0 };

	if (r->stdin && shim_close_stdin(userdata, r->id, r->exec_id, &e) < 0) {
		fail(call, &e);
		return;
	}
	ttrpc_call_reply(call, NULL);
}

static void pause_resume(struct ttrpc_call *call, struct shim *s, const char *id, bool pause)
{
	Containerd__Events__TaskPaused paused = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
	Containerd__Events__TaskResumed resumed = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
	struct shim_err e = { 0 };
	struct gcs_error err = { 0 };
	struct lcow_rt_ctr *x = shim_ctr(s, id, &e);
	int rc;

	if (!x) {
		fail(call, &e);
		return;
	}
	rc = lcow_rt_pause(s->rt, x, pause, &err);
	shim_put(s, x);
	if (rc < 0) {
		shim_err_rt(&e, rc, &err, pause ? "pause" : "resume");
		fail(call, &e);
		return;
	}
	paused.container_id = resumed.container_id = (char *)id;
	pthread_mutex_lock(&s->lock);
	shim_post(s, pause ? "/tasks/paused" : "/tasks/resumed",
		  pause ? &paused.base : &resumed.base);
	pthread_mutex_unlock(&s->lock);
	ttrpc_call_reply(call, NULL);
}

static void task_pause(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	pause_resume(call, userdata, REQ(Containerd__Task__V2__PauseRequest, m)->id, true);
}

static void task_resume(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	pause_resume(call, userdata, REQ(Containerd__Task__V2__ResumeRequest, m)->id, false);
}

static void task_pids(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__PidsRequest *r = REQ(Containerd__Task__V2__PidsRequest, m);
	Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	struct shim *s = userdata;
	struct shim_err e = { 0 };
	struct gcs_error err = { 0 };
	struct lcow_rt_ctr *x = shim_ctr(s, r->id, &e);
	Containerd__V1__Types__ProcessInfo *infos = NULL, **ptrs = NULL;
	uint32_t *pids = NULL;
	size_t n = 0;
	int rc;

	if (!x) {
		fail(call, &e);
		return;
	}
	rc = lcow_rt_pids(s->rt, x, &pids, &n, &err);
	shim_put(s, x);
	if (rc < 0) {
		shim_err_rt(&e, rc, &err, "pids");
		fail(call, &e);
		return;
	}
	infos = calloc(n ? n : 1, sizeof(*infos));
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!infos || !ptrs) {
		ttrpc_call_error(call, TTRPC_RESOURCE_EXHAUSTED, "pids: out of memory");
	} else {
		for (size_t i = 0; i < n; i++) {
			infos[i] = (Containerd__V1__Types__ProcessInfo)
				CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
			infos[i].pid = pids[i];
			ptrs[i] = &infos[i];
		}
		resp.n_processes = n;
		resp.processes = ptrs;
		ttrpc_call_reply(call, &resp.base);
	}
	free(infos);
	free(ptrs);
	free(pids);
}

static void task_update(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__UpdateTaskRequest *r =
		REQ(Containerd__Task__V2__UpdateTaskRequest, m);
	struct shim *s = userdata;
	struct shim_err e = { 0 };
	struct gcs_error err = { 0 };
	json_t *res = any_json(r->resources, "update resources", &e);
	struct lcow_rt_ctr *x = res ? shim_ctr(s, r->id, &e) : NULL;
	int rc;

	if (!x) {
		json_decref(res);
		fail(call, &e);
		return;
	}
	rc = lcow_rt_update(s->rt, x, res, &err);
	shim_put(s, x);
	json_decref(res);
	if (rc < 0) {
		shim_err_rt(&e, rc, &err, "update");
		fail(call, &e);
		return;
	}
	ttrpc_call_reply(call, NULL);
}

static void task_stats(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__StatsRequest *r = REQ(Containerd__Task__V2__StatsRequest, m);
	Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	struct shim *s = userdata;
	struct shim_err e = { 0 };
	struct gcs_error err = { 0 };
	struct lcow_rt_ctr *x = shim_ctr(s, r->id, &e);
	json_t *metrics = NULL;
	char msg[256];
	int rc;

	if (!x) {
		fail(call, &e);
		return;
	}
	rc = lcow_rt_stats(s->rt, x, &metrics, &err);
	shim_put(s, x);
	if (rc < 0) {
		shim_err_rt(&e, rc, &err, "stats");
		fail(call, &e);
		return;
	}
	rc = metrics_stats_any(metrics, &any, msg, sizeof(msg));
	json_decref(metrics);
	if (rc < 0) {
		ttrpc_call_error(call, TTRPC_INTERNAL, "stats of %s: the agent's metrics: %s",
				 r->id, msg);
		return;
	}
	resp.stats = &any;
	ttrpc_call_reply(call, &resp.base);
	free(any.type_url);
	free(any.value.data);
}

static void task_checkpoint(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	log_debug("Checkpoint %s: not implemented",
		  REQ(Containerd__Task__V2__CheckpointTaskRequest, m)->id);
	ttrpc_call_error(call, TTRPC_UNIMPLEMENTED, "lcow shim: Checkpoint is not implemented");
}

/* The shim's pid and the task's init pid (0 when there is no such task). */
static void task_connect(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__ConnectRequest *r =
		REQ(Containerd__Task__V2__ConnectRequest, m);
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	struct shim *s = userdata;
	struct shim_err e;
	struct sproc *p;

	log_debug("Connect %s", r->id);
	pthread_mutex_lock(&s->lock);
	p = shim_find(s, r->id, "", &e);
	resp.task_pid = p ? p->pid : 0;
	pthread_mutex_unlock(&s->lock);
	resp.shim_pid = (uint32_t)getpid();
	resp.version = (char *)SHIM_VERSION;
	ttrpc_call_reply(call, &resp.base);
}

/*
 * While tasks are left (other containers of the pod) Shutdown is answered and ignored, as
 * containerd's shims do, unless now; else the server stops and main tears everything down.
 */
static void task_shutdown(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Task__V2__ShutdownRequest *r =
		REQ(Containerd__Task__V2__ShutdownRequest, m);
	struct shim *s = userdata;

	if (!r->now && shim_has_tasks(s)) {
		log_debug("Shutdown %s: tasks are left, the shim stays", r->id);
		ttrpc_call_reply(call, NULL);
		return;
	}
	log_info("Shutdown %s (now=%d)", r->id, r->now);
	s->shutdown = true;
	ttrpc_call_reply(call, NULL);
	ttrpc_server_stop(s->server);
}

/* Calls that may wait for the UVM run in threads of their own: the connection reads on. */
#define TASK_RPC(name, type, fn)                                                       \
	{                                                                              \
		TASK_SERVICE, name, &containerd__task__v2__##type##__descriptor, fn, 0 \
	}

#define TASK_RPC_THREAD(name, type, fn)                                              \
	{                                                                            \
		TASK_SERVICE, name, &containerd__task__v2__##type##__descriptor, fn, \
			TTRPC_METHOD_THREAD                                          \
	}

const struct ttrpc_method task_methods[] = {
	TASK_RPC("State", state_request, task_state),
	TASK_RPC_THREAD("Create", create_task_request, task_create),
	TASK_RPC_THREAD("Start", start_request, task_start),
	TASK_RPC_THREAD("Delete", delete_request, task_delete),
	TASK_RPC_THREAD("Pids", pids_request, task_pids),
	TASK_RPC_THREAD("Pause", pause_request, task_pause),
	TASK_RPC_THREAD("Resume", resume_request, task_resume),
	TASK_RPC("Checkpoint", checkpoint_task_request, task_checkpoint),
	TASK_RPC_THREAD("Kill", kill_request, task_kill),
	TASK_RPC_THREAD("Exec", exec_process_request, task_exec),
	TASK_RPC_THREAD("ResizePty", resize_pty_request, task_resize_pty),
	TASK_RPC_THREAD("CloseIO", close_iorequest, task_close_io),
	TASK_RPC_THREAD("Update", update_task_request, task_update),
	TASK_RPC_THREAD("Wait", wait_request, task_wait),
	TASK_RPC_THREAD("Stats", stats_request, task_stats),
	TASK_RPC("Connect", connect_request, task_connect),
	TASK_RPC("Shutdown", shutdown_request, task_shutdown),
};
const size_t task_n_methods = sizeof(task_methods) / sizeof(task_methods[0]);
