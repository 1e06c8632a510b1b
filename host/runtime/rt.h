/*
 * The runtime's internals (see lcow/runtime.h). Locking: rt->lock guards the container list
 * and every container's state fields; rt->storage serializes disk and layer changes (SCSI
 * slots, shared layers); a container's op mutex serializes the calls that change it (create,
 * start, kill, pause, delete). Bridge calls are never made under rt->lock.
 */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <lcow/gcs.h>
#include <lcow/runtime.h>

#include "cleanup.h"
#include "fileio.h"
#include "fsutil.h"
#include "timeutil.h"
#include "vm.h"

#define RT_CONTROLLERS 4
#define RT_LUNS 64

/* ---- log.c ---- */

void rt_log(enum lcow_rt_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define rt_error(...) rt_log(LCOW_RT_LOG_ERROR, __VA_ARGS__)
#define rt_warning(...) rt_log(LCOW_RT_LOG_WARNING, __VA_ARGS__)
#define rt_info(...) rt_log(LCOW_RT_LOG_INFO, __VA_ARGS__)
#define rt_debug(...) rt_log(LCOW_RT_LOG_DEBUG, __VA_ARGS__)

/* A read-only layer disk, shared by the containers of the UVM that use the same image. */
struct dlayer {
	struct dlayer *next;
	char *path; /* host image */
	unsigned controller, lun;
	char guest[PATH_MAX]; /* its mount path in the guest */
	unsigned refs;
};

/* A process exec'd in a container. */
struct dproc {
	struct dproc *next;
	uint32_t pid;
	struct gcs_process *p;
	int fds[LCOW_RT_MAX_FDS];
	size_t n_fds;
	bool keep; /* its exit stays listed until lcow_rt_release */
	bool exited; /* rt->lock: ended; p and the fds go */
	bool done; /* rt->lock: p and the fds are gone (a kept process, listed until released) */
	bool lost;
	uint32_t exit_code;
};

struct lcow_rt_ctr {
	struct lcow_rt_ctr *next;
	char id[132];
	char dir[PATH_MAX]; /* the container's host directory */
	unsigned refs; /* rt->lock */
	pthread_mutex_t op;
	/* rt->lock: */
	enum lcow_rt_status status;
	uint32_t pid;
	bool exited;
	bool starting; /* start is starting the init: its exit is its waiter's */
	bool notified; /* the agent's exit notification came (while starting, it waits) */
	uint32_t exit_code;
	bool lost; /* the UVM went away under it */
	struct gcs_process *init; /* freed with the container */
	struct dproc *procs;
	/* set by create: */
	json_t *spec; /* as the guest got it */
	bool terminal;
	int fds[LCOW_RT_MAX_FDS]; /* the init's stdio, from create until it exits */
	size_t n_fds;
	char bundle[PATH_MAX], rootfs[PATH_MAX], scratch_dir[PATH_MAX]; /* guest paths */
	struct dlayer *layers[LCOW_RT_MAX_LAYERS];
	size_t n_layers;
	int scratch_slot; /* -1: none */
	bool scratch_mounted, combined, created;
	bool removed; /* x->op: out of the list, torn down */
	struct dnet *net; /* its network (net.c), or NULL */
};

struct lcow_rt {
	char uvm_id[132];
	char dir[PATH_MAX]; /* the UVM's directory */
	bool pod;
	bool debug;
	enum lcow_rt_mode mode;
	struct vm vm;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a container or process exited */
	pthread_mutex_t storage;
	struct lcow_rt_ctr *ctrs;
	struct dlayer *layers;
	bool slots[RT_CONTROLLERS * RT_LUNS]; /* storage */
	unsigned mounts; /* storage: /run/mounts/scsi/m<N> */
	bool vm_up; /* vm_start or vm_adopt succeeded */
	bool exiting; /* rt->lock: the UVM is going away; no new containers */
	bool (*cancelled)(void *user);
	void (*on_exit)(void *user, const char *id, uint32_t pid, uint32_t code);
	void *user;
	/* QEMU mode: the NIC of the container the UVM was started for, made before the boot */
	json_t *first_net;
	struct dnet *boot_net; /* rt->lock: until that container's create takes it */
};

/* ---- ctr.c ---- */

/* x->status, read under rt->lock. */
enum lcow_rt_status ctr_status_get(struct lcow_rt *d, struct lcow_rt_ctr *x);
/* The state machine (under rt->lock): false, and nothing changes, for a move it refuses. */
bool ctr_transition(struct lcow_rt *d, struct lcow_rt_ctr *x, enum lcow_rt_status to);
/* Waits up to timeout_ms (< 0: forever) for the container to stop: 0, or -ETIMEDOUT. */
int wait_stopped(struct lcow_rt *d, struct lcow_rt_ctr *x, int timeout_ms);

/* A container exit notification from the guest (reader thread: no bridge calls). */
void ctr_notified(struct lcow_rt *d, const char *id);
/* An adopted running container: a handle on its init (by pid) and a thread waiting for it. */
void ctr_watch_init(struct lcow_rt *d, struct lcow_rt_ctr *x);
/* Frees a container whose last reference went (create.c). */
void ctr_free(struct lcow_rt_ctr *c);
/* An exec'd process of x by pid that has not exited (rt->lock held). */
struct dproc *dproc_find(struct lcow_rt_ctr *x, uint32_t pid);

/* ---- storage.c: layer and scratch disks ---- */

int layer_get(struct lcow_rt *d, const char *image, struct dlayer **ret, struct gcs_error *err);
void layer_put(struct lcow_rt *d, struct dlayer *l);
int scratch_add(struct lcow_rt *d, struct lcow_rt_ctr *x, const char *image, struct gcs_error *err);
void scratch_remove(struct lcow_rt *d, struct lcow_rt_ctr *x);

/* ---- uvmcmd.c ---- */

/*
 * `runc --root <guest runc root> ARGS...` as a process of the UVM. A non-zero exit is -EIO with
 * runc's message.
 */
int uvm_runc(struct lcow_rt *d, const char *const *args, struct gcs_error *err);
/*
 * Pause, Resume or KillAll of a container: the agent's operation (lcow's extension), or, with
 * an agent that does not offer it, `runc pause|resume|kill --all` as a process of the UVM.
 */
int ctr_operation(struct lcow_rt *d, const char *id, const char *op, int sig,
		  struct gcs_error *err);

/* ---- state.c: what the next runtime needs to adopt the UVM ---- */

/* Whether the agent still has the container (ProcessList answers for it). */
bool agent_has(struct lcow_rt *d, const char *id);

/* Writes <ctr dir>/daemon.json: the container's state, layers, slots and spec. */
void ctr_save(struct lcow_rt *d, struct lcow_rt_ctr *x);

/* ---- net.c: a container's network ---- */

struct dnet;

/*
 * Before the container's Create (x->spec made): its NIC (a NIC of the QEMU UVM, hot-added
 * unless the boot made it; in process mode a veth pair into the agent's namespace), the
 * Network Add, and the guest spec's windows.network.networkNamespace (the linux.namespaces
 * network entry loses its host path).
 */
int dnet_setup(struct lcow_rt *d, struct lcow_rt_ctr *x, const char *network, json_t *publish,
	       struct gcs_error *err);
/* Undoes dnet_setup (Network Remove, the NIC, the host side); failures are logged. */
void dnet_teardown(struct lcow_rt *d, struct lcow_rt_ctr *x);
/* x's "network" for state: mode, namespace, MAC, addresses, published ports. */
void dnet_describe(struct lcow_rt_ctr *x, json_t *j);
/* For daemon.json, and back (adoption). */
json_t *dnet_snapshot(struct lcow_rt_ctr *x);
void dnet_adopt(struct lcow_rt_ctr *x, json_t *j);
void dnet_free(struct dnet *n);
/*
 * QEMU mode, before the boot: the NIC of d->first_net's container, made and kept in
 * d->boot_net; ret_nic points at it (NULL when there is none to make). Errors end the boot.
 */
int dnet_boot(struct lcow_rt *d, const struct vm_nic **ret_nic, struct gcs_error *err);
/* Undoes a boot NIC that no create took (the boot failed, or the UVM stops). */
void dnet_boot_discard(struct lcow_rt *d);

/* ---- console.c ---- */

/*
 * After a terminal process started (pid 0: the init, with x->op held; else an exec'd
 * process): when the runtime holds the slave of a host pty that no session has as its
 * controlling terminal (a --console-socket terminal), the process's console follows that pty's
 * size until the process (for the init: the container) ends.
 */
void console_follow(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid);
