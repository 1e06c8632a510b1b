/*
 * The shim's state: one UVM (liblcowrt) for the tasks of its group (a pod, or one container),
 * its tasks and their processes (the init and exec'd ones) with what containerd asks about
 * them (status, pid, stdio, exit), and the order of the task events.
 *
 * Locking: s->lock guards the table; s->cond is broadcast whenever a process's state changes.
 * lcow_rt_* is never called with s->lock held (the runtime's threads take it to record exits).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <lcow/gcs.h>
#include <lcow/layers.h>
#include <lcow/runtime.h>

#include "ttrpc.h"

struct events;

enum sproc_state { SPROC_CREATED, SPROC_RUNNING, SPROC_STOPPED };

/* A process of a task: its init (exec_id "") or an exec'd one. */
struct sproc {
	struct sproc *next;
	char *exec_id;
	json_t *process; /* an exec's OCI process */
	char *io[3]; /* containerd's stdin, stdout, stderr */
	bool terminal;
	uint32_t pid;
	enum sproc_state state;
	bool starting; /* a Start is under way: its exit waits for /tasks/start */
	bool exited; /* exit_status and exited_at are set */
	bool exit_posted;
	bool waited; /* a waiter records its exit */
	uint32_t exit_status;
	struct timespec exited_at;
};

struct stask {
	struct stask *next;
	char *id;
	char *bundle;
	char dir[4096]; /* the container's directory under the UVM's */
	struct lcow_rt_ctr *x; /* the table's reference */
	char **images; /* its layer images, held under s->owner names */
	struct sproc *procs; /* the init first */
	bool creating, deleting;
};

struct shim {
	const char *namespace;
	const char *id;
	const char *bundle;
	const char *socket_path;
	struct events *events;
	struct ttrpc_server *server;
	bool shutdown;

	char *group; /* the UVM's group: the pod's sandbox id, or the first task's id */
	char uvm_dir[4096];
	char layer_cache[4096];
	enum lcow_rt_mode mode;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct lcow_rt *rt; /* started by the first Create */
	bool uvm_starting;
	bool closing; /* Shutdown: waits end with Unavailable */
	unsigned threads; /* waiter threads and Wait calls still running */
	struct stask *tasks;
};

/* An RPC's failure: its gRPC code and message. */
struct shim_err {
	enum ttrpc_code code;
	char msg[GCS_ERROR_MESSAGE_MAX + 128];
};

int shim_init(struct shim *s, const char *group);
/* After the server stopped: every task gone, the UVM stopped and freed, the threads done. */
void shim_fini(struct shim *s);

/* The table (s->lock held). */
struct stask *shim_task(struct shim *s, const char *id);
struct sproc *shim_proc(struct stask *t, const char *exec_id);
/* The process by task and exec id, or NULL with e set to NotFound. */
struct sproc *shim_find(struct shim *s, const char *id, const char *exec_id, struct shim_err *e);
/*
 * The container of a task, with a reference of the caller's, or NULL (NotFound; also once the
 * shim shuts down). The caller gives it back with shim_put, which the shutdown waits for.
 */
struct lcow_rt_ctr *shim_ctr(struct shim *s, const char *id, struct shim_err *e);
void shim_put(struct shim *s, struct lcow_rt_ctr *x);

int shim_errf(struct shim_err *e, enum ttrpc_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A runtime error (negative errno + the agent's HRESULT and text) as a gRPC status. */
int shim_err_rt(struct shim_err *e, int rc, const struct gcs_error *err, const char *what);

struct shim_create {
	const char *id;
	const char *bundle;
	const struct lcow_rootfs_mount *rootfs;
	size_t n_rootfs;
	const char *io[3];
	bool terminal;
};

/* Create: the task's container in the UVM (booted first when it is the first one). */
int shim_create_task(struct shim *s, const struct shim_create *c, uint32_t *ret_pid,
		     struct shim_err *e);
/* Start of the init or an exec'd process. */
int shim_start(struct shim *s, const char *id, const char *exec_id, uint32_t *ret_pid,
	       struct shim_err *e);
/* Exec: an exec'd process, created (started by shim_start). */
int shim_exec(struct shim *s, const char *id, const char *exec_id, json_t *process,
	      const char *const io[3], bool terminal, struct shim_err *e);
/* Delete of a stopped process (the init: the task, its container and disks). */
int shim_delete(struct shim *s, const char *id, const char *exec_id, uint32_t *ret_pid,
		uint32_t *ret_status, struct timespec *ret_at, struct shim_err *e);
/* Waits for the process to exit. */
int shim_wait(struct shim *s, const char *id, const char *exec_id, uint32_t *ret_status,
	      struct timespec *ret_at, struct shim_err *e);
/*
 * The runtime's pid of a live process (0: the init) for signals, resizes and stdin; -1 with e
 * when it is gone (NotFound) or an exec not started yet.
 */
int shim_target(struct shim *s, const char *id, const char *exec_id, uint32_t *ret_pid,
		struct shim_err *e);
/* CloseIO of stdin: the process reads what was written, then EOF. */
int shim_close_stdin(struct shim *s, const char *id, const char *exec_id, struct shim_err *e);
/* Kill: sig to the process (all: every process of the task). */
int shim_kill(struct shim *s, const char *id, const char *exec_id, int sig, bool all,
	      struct shim_err *e);
/* Whether any task is left. */
bool shim_has_tasks(struct shim *s);

/* Posts an event (e may be NULL: nothing). */
void shim_post(struct shim *s, const char *topic, const ProtobufCMessage *m);
