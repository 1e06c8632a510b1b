/* The agent's shared state and the request plumbing between the bridge and the handlers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "container.h"
#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/hresult.h"
#include "gcs/messages.h"
#include "list.h"
#include "loop.h"
#include "relay.h"
#include "transport.h"

struct agent_options {
	struct transport transport;
	bool poweroff_on_exit; /* PID 1 in a VM */
	/* Every path the host sends must lie under run_root (default /run). */
	char run_root[256];
	/* Where SCSI and pmem devices are looked up (defaults /sys and /dev); tests point them at
	 * a stand-in tree whose <dev_root>/<name> entries are loop devices or links to them. */
	char sysfs_root[256];
	char dev_root[256];
	char runc[256]; /* the runc binary (default: "runc" from PATH) */
	char runc_root[256]; /* runc's state directory (default <run_root>/gcs/runc) */
	int runtime_timeout_ms; /* deadline of every runtime (runc) call (default 30000) */
};

struct agent {
	struct agent_options opt;
	struct loop *loop;
	/* the bridge */
	int bridge_fd;
	struct loop_source bridge_src;
	struct gcs_proto_reader reader;
	struct gcs_proto_wqueue wqueue;
	bool negotiated;
	uint64_t requests; /* handled so far */
	/* processes started in the UVM (process.c) */
	struct list processes;
	struct list pending_execs;
	/* helper processes: runc, mkfs (child.c) */
	struct list helpers;
	/* mounts and devices set up by ModifySettings (storage.c) */
	struct list mounts;
	/* containers (container.c) */
	struct list containers;
	int exit_code;
};

/* Where a response goes: enough of the request to answer it later. */
struct request_ctx {
	uint32_t type; /* the request's type */
	uint64_t id;
	char activity_id[GCS_GUID_STRING_LEN + 1]; /* "" when the request had none we could read */
};

/*
 * A handler returns 0 for "answer with a plain success", 1 when it has answered or will answer
 * later, or a negative errno with err describing the failure (the bridge answers with it).
 * It may take the decoded message over by copying the union and zeroing the original.
 */
typedef int (*request_handler)(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			       struct gcs_error *err);

/* Sends a response struct of c's response type; its base's activity_id is filled in. */
void bridge_reply(struct agent *a, const struct request_ctx *c, void *resp);
void bridge_reply_ok(struct agent *a, const struct request_ctx *c);
/* Sends a container notification (type 0x30100101, ID 0). */
void bridge_notify(struct agent *a, const struct gcs_proto_notification *n);
void bridge_reply_error(struct agent *a, const struct request_ctx *c, const struct gcs_error *err);
/* Queued bytes not yet written to the bridge. */
size_t bridge_queued(const struct agent *a);

int bridge_start(struct agent *a, struct gcs_error *err);
void bridge_stop(struct agent *a);

struct container;

/* An ExecuteProcess in flight: dialing its stdio ports, then starting the process. */
struct exec_op {
	struct list node;
	struct agent *a;
	struct container *container; /* NULL: a process of the utility VM */
	struct request_ctx c;
	union gcs_proto_msg m;
	int fds[3]; /* the dialed streams, -1 when not requested */
	int stage; /* next stream to dial */
	struct loop_source src;
};

void exec_op_free(struct exec_op *op);
/* Answers the request with err and frees the operation. */
void exec_fail(struct exec_op *op, struct gcs_error *err);

/* process.c: processes, of the utility VM and of containers. */
struct process;
/* Registers a process started elsewhere (runc): its exit, waits and signals are handled here. */
struct process *process_attach(struct agent *a, struct container *c, pid_t pid, int pty_master,
			       const char *name);
/* Starts a stdio relay owned by the process (takes both fds). */
int process_relay(struct process *p, enum relay_dir dir, int src, int dst);
struct process *process_find(struct agent *a, struct container *c, pid_t pid);
void process_forget_container(struct agent *a, struct container *c);
int process_handle_exec(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			struct gcs_error *err);
int process_handle_wait(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			struct gcs_error *err);
int process_handle_signal(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			  struct gcs_error *err);
int process_handle_resize(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			  struct gcs_error *err);
/* Appends a description of every process and relay to buf. */
void process_dump(struct agent *a, char *buf, size_t len);
/* SIGKILLs every process, reaps them, frees everything. */
void process_kill_all(struct agent *a);

/* storage.c: ModifySettings for the utility VM itself (null container ID), spec section 10. */
int storage_handle_modify(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			  struct gcs_error *err);
/*
 * A path from the host: absolute, normalized (no "//", ".", "..", trailing "/"), under
 * run_root, and no existing component may be a symlink that leads outside run_root.
 * E_INVALIDARG otherwise; nothing is touched. what names the field in the message.
 */
int storage_check_path(struct agent *a, const char *what, const char *path, struct gcs_error *err);
/* Unmounts and removes, newest first, everything ModifySettings set up (agent shutdown). */
void storage_cleanup(struct agent *a);
void storage_dump(struct agent *a, char *buf, size_t len);

/* container.c: container.h */

static inline bool is_null_container(const char *id)
{
	return id[0] == '\0' || strcmp(id, GCS_NULL_GUID_STRING) == 0;
}
