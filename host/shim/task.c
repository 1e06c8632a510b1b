/*
 * The Task service's dispatch table. For now every RPC but Connect and Shutdown answers
 * Unimplemented (12) naming itself: containerd reports that as the RPC's error (and the v2
 * README asks unsupported RPCs to say so). The real handlers come with the host runtime.
 */
#include "task.h"

#include <unistd.h>

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "log.h"

#define SHIM_VERSION "containerd-shim-lcow-v1 0.1"

static void unimplemented(struct ttrpc_call *call, const char *id)
{
	log_debug("%s %s: not implemented", ttrpc_call_method(call), id);
	ttrpc_call_error(call, TTRPC_UNIMPLEMENTED, "lcow shim: %s is not implemented",
			 ttrpc_call_method(call));
}

/* The request types, one cast per handler, so that a handler reads its own fields. */
#define REQ(type, m) ((const type *)(m))

static void task_state(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__StateRequest, m)->id);
}

static void task_create(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__CreateTaskRequest, m)->id);
}

static void task_start(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__StartRequest, m)->id);
}

static void task_delete(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__DeleteRequest, m)->id);
}

static void task_pids(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__PidsRequest, m)->id);
}

static void task_pause(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__PauseRequest, m)->id);
}

static void task_resume(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__ResumeRequest, m)->id);
}

static void task_checkpoint(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__CheckpointTaskRequest, m)->id);
}

static void task_kill(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__KillRequest, m)->id);
}

static void task_exec(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__ExecProcessRequest, m)->id);
}

static void task_resize_pty(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__ResizePtyRequest, m)->id);
}

static void task_close_io(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__CloseIORequest, m)->id);
}

static void task_update(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__UpdateTaskRequest, m)->id);
}

static void task_wait(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__WaitRequest, m)->id);
}

static void task_stats(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)userdata;
	unimplemented(call, REQ(Containerd__Task__V2__StatsRequest, m)->id);
}

/* The shim's pid; no task runs yet, so task_pid is 0. */
static void task_connect(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;

	(void)userdata;
	log_debug("Connect %s", REQ(Containerd__Task__V2__ConnectRequest, m)->id);
	resp.shim_pid = (uint32_t)getpid();
	resp.task_pid = 0;
	resp.version = (char *)SHIM_VERSION;
	ttrpc_call_reply(call, &resp.base);
}

/* Answers, then stops the server: main removes the socket and exits. */
static void task_shutdown(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	struct shim *shim = userdata;

	log_info("Shutdown %s (now=%d)", REQ(Containerd__Task__V2__ShutdownRequest, m)->id,
		 REQ(Containerd__Task__V2__ShutdownRequest, m)->now);
	shim->shutdown = true;
	ttrpc_call_reply(call, NULL);
	ttrpc_server_stop(shim->server);
}

#define TASK_RPC(name, type, fn)                                                       \
	{                                                                              \
		TASK_SERVICE, name, &containerd__task__v2__##type##__descriptor, fn, 0 \
	}

const struct ttrpc_method task_methods[] = {
	TASK_RPC("State", state_request, task_state),
	TASK_RPC("Create", create_task_request, task_create),
	TASK_RPC("Start", start_request, task_start),
	TASK_RPC("Delete", delete_request, task_delete),
	TASK_RPC("Pids", pids_request, task_pids),
	TASK_RPC("Pause", pause_request, task_pause),
	TASK_RPC("Resume", resume_request, task_resume),
	TASK_RPC("Checkpoint", checkpoint_task_request, task_checkpoint),
	TASK_RPC("Kill", kill_request, task_kill),
	TASK_RPC("Exec", exec_process_request, task_exec),
	TASK_RPC("ResizePty", resize_pty_request, task_resize_pty),
	TASK_RPC("CloseIO", close_iorequest, task_close_io),
	TASK_RPC("Update", update_task_request, task_update),
	TASK_RPC("Wait", wait_request, task_wait),
	TASK_RPC("Stats", stats_request, task_stats),
	TASK_RPC("Connect", connect_request, task_connect),
	TASK_RPC("Shutdown", shutdown_request, task_shutdown),
};
const size_t task_n_methods = sizeof(task_methods) / sizeof(task_methods[0]);
