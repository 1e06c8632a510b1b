/*
 * The UVM daemon (`lcow uvm-daemon`): one per UVM, started by create/run, detached (setsid). It
 * boots the UVM, owns the libgcs bridge, and serves the CLI over <uvm-dir>/ctl.sock (see
 * ctl.h): one thread per connection. It holds the stdio fds of the containers' processes (sent
 * by the CLI with SCM_RIGHTS) and lets libgcs relay them to the guest's stdio ports. It tears
 * the UVM down and exits when the last container is deleted, unless the UVM is a pod (--uvm).
 *
 * Locking: d->lock guards the container list and every container's state fields; d->storage
 * serializes disk and layer changes (SCSI slots, shared layers); a container's op mutex
 * serializes the requests that change it (create, start, kill, pause, delete). Bridge calls are
 * never made under d->lock.
 */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <lcow/gcs.h>

#include "bundle.h"
#include "ctl.h"
#include "vm.h"

#define DAEMON_CONTROLLERS 4
#define DAEMON_LUNS 64

/* A read-only layer disk, shared by the containers of the UVM that use the same image. */
struct dlayer {
	struct dlayer *next;
	char *path; /* host image */
	unsigned controller, lun;
	char guest[PATH_MAX]; /* its mount path in the guest */
	unsigned refs;
};

enum ctr_status { CTR_CREATING, CTR_CREATED, CTR_RUNNING, CTR_PAUSED, CTR_STOPPED };

/* A process exec'd in a container. */
struct dproc {
	struct dproc *next;
	uint32_t pid;
	struct gcs_process *p;
	int fds[CTL_MAX_FDS];
	size_t n_fds;
};

struct ctr {
	struct ctr *next;
	char id[132];
	char dir[PATH_MAX]; /* <root>/c/<id> */
	unsigned refs; /* d->lock */
	pthread_mutex_t op;
	/* d->lock: */
	enum ctr_status status;
	uint32_t pid;
	bool exited;
	bool starting; /* op_start is starting the init: its exit is its waiter's */
	bool notified; /* the agent's exit notification came (while starting, it waits) */
	uint32_t exit_code;
	bool lost; /* the UVM went away under it */
	struct gcs_process *init; /* freed with the container */
	struct dproc *procs;
	/* set by create: */
	json_t *spec; /* as the guest got it */
	bool terminal;
	int fds[CTL_MAX_FDS]; /* the init's stdio, from create until it exits */
	size_t n_fds;
	char bundle[PATH_MAX], rootfs[PATH_MAX], scratch_dir[PATH_MAX]; /* guest paths */
	struct dlayer *layers[BUNDLE_MAX_LAYERS];
	size_t n_layers;
	int scratch_slot; /* -1: none */
	bool scratch_mounted, combined, created;
	bool removed; /* x->op: out of the list, torn down */
	struct dnet *net; /* its network (dnet.c), or NULL */
};

struct daemon {
	char uvm_id[132];
	char dir[PATH_MAX]; /* <root>/u/<name> */
	char sock[PATH_MAX];
	bool pod;
	bool debug;
	enum vm_mode mode;
	struct vm vm;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a container exited */
	pthread_mutex_t storage;
	struct ctr *ctrs;
	struct dlayer *layers;
	bool slots[DAEMON_CONTROLLERS * DAEMON_LUNS]; /* storage */
	unsigned mounts; /* storage: /run/mounts/scsi/m<N> */
	int listen_fd, wake_fd;
	int ready_fd; /* while booting: the starting CLI's end (EOF or "cancel": give up) */
	int boot_sig_fd; /* while booting: SIGTERM, SIGINT, SIGHUP */
	bool cancelled; /* the boot was cancelled */
	bool vm_up; /* vm_start or vm_adopt succeeded */
	bool exiting; /* d->lock: the UVM is going away; no new containers */
	/* QEMU mode: the NIC of the container the UVM was started for, made before the boot */
	json_t *first_net; /* --first-net */
	struct dnet *boot_net; /* d->lock: until that container's create takes it */
};

/* `lcow uvm-daemon`: argv[0] is "uvm-daemon". */
int cmd_uvm_daemon(int argc, char **argv);

/* ---- daemon.c, for dctr.c ---- */

void reply_ok(struct ctl_conn *c, json_t *fields);
void reply_err(struct ctl_conn *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Stops the UVM and removes its directory (the last container went, or a shutdown); no new
 * container is accepted from then on. daemon_exit, after the answer went out, ends the daemon.
 */
void daemon_stop_uvm(struct daemon *d);
void daemon_exit(struct daemon *d);
/* A container by ID with a reference, or NULL. */
struct ctr *ctr_get(struct daemon *d, const char *id);
void ctr_put(struct daemon *d, struct ctr *c);
const char *ctr_status_name(enum ctr_status s);

/* ---- dctr.c: the container requests ---- */

/* The request's container with a reference, or NULL after answering "container does not exist". */
struct ctr *ctr_find(struct daemon *d, struct ctl_conn *c, json_t *req);
/* True after answering that the UVM is gone (its agent closed the bridge). */
bool uvm_gone(struct daemon *d, struct ctl_conn *c);
/* x->status, read under d->lock. */
enum ctr_status ctr_status_get(struct daemon *d, struct ctr *x);

void op_create(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds);
void op_start(struct daemon *d, struct ctl_conn *c, json_t *req);
void op_exec(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds);
void op_kill(struct daemon *d, struct ctl_conn *c, json_t *req);
void op_resize(struct daemon *d, struct ctl_conn *c, json_t *req);
void op_pause(struct daemon *d, struct ctl_conn *c, json_t *req, bool pause);
void op_state(struct daemon *d, struct ctl_conn *c, json_t *req);
void op_list(struct daemon *d, struct ctl_conn *c);
void op_delete(struct daemon *d, struct ctl_conn *c, json_t *req);
void op_shutdown(struct daemon *d, struct ctl_conn *c, json_t *req);
/* Forced deletion of every container, guest side included when the UVM still answers. */
void ctr_delete_all(struct daemon *d);
/* A container exit notification from the guest (reader thread: no bridge calls). */
void ctr_notified(struct daemon *d, const char *id);
/* An adopted running container: a handle on its init (by pid) and a thread waiting for it. */
void ctr_watch_init(struct daemon *d, struct ctr *x);

/* ---- dstate.c: what the next daemon needs to adopt the UVM ---- */

/* Writes <ctr dir>/daemon.json: the container's state, layers, slots and spec. */
void ctr_save(struct daemon *d, struct ctr *x);
/*
 * After vm_adopt: rebuilds the containers of this UVM (and its layers and SCSI slots) from their
 * daemon.json; one the agent no longer has is stopped (255, lost).
 */
int daemon_restore(struct daemon *d);

/* ---- dquery.c: ps, update, stats and events ---- */

/* {"pids":[...]}, and with "ps_args" (an array) also "ps": the output of ps run in the UVM. */
void op_ps(struct daemon *d, struct ctl_conn *c, json_t *req);
/* {"resources":{...}}: an OCI LinuxResources object, as ContainerConstraints. */
void op_update(struct daemon *d, struct ctl_conn *c, json_t *req);
/* {"metrics":{...}}: the agent's LCOWMetrics of a live container. */
void op_stats(struct daemon *d, struct ctl_conn *c, json_t *req);
/* A stream of stats, every "interval_ms", until the container stops (see dquery.c). */
void op_events(struct daemon *d, struct ctl_conn *c, json_t *req);

/* ---- dnet.c: a container's network (see network.h for the choices) ---- */

struct dnet;

/*
 * Before the container's Create (x->spec made): its NIC (a NIC of the QEMU UVM, hot-added
 * unless the boot made it; in process mode a veth pair into the agent's namespace), the
 * Network Add, and the guest spec's windows.network.networkNamespace (the linux.namespaces
 * network entry loses its host path). req's "network" and "publish" say what.
 */
int dnet_setup(struct daemon *d, struct ctr *x, json_t *req, struct gcs_error *err);
/* Undoes dnet_setup (Network Remove, the NIC, the host side); failures are logged. */
void dnet_teardown(struct daemon *d, struct ctr *x);
/* x's "network" for state: mode, namespace, MAC, addresses, published ports. */
void dnet_describe(struct ctr *x, json_t *j);
/* For daemon.json, and back (adoption). */
json_t *dnet_snapshot(struct ctr *x);
void dnet_adopt(struct ctr *x, json_t *j);
void dnet_free(struct dnet *n);
/*
 * QEMU mode, before the boot: the NIC of d->first_net's container, made and kept in
 * d->boot_net; ret_nic points at it (NULL when there is none to make). Errors end the boot.
 */
int dnet_boot(struct daemon *d, const struct vm_nic **ret_nic, struct gcs_error *err);
/* Undoes a boot NIC that no create took (the boot failed, or the UVM stops). */
void dnet_boot_discard(struct daemon *d);

/* ---- dconsole.c ---- */

/*
 * After a terminal process started (pid 0: the init, from op_start with x->op held; else an
 * exec'd process, from op_exec): when the daemon holds the slave of a host pty that no session
 * has as its controlling terminal (a --console-socket terminal), the process's console follows
 * that pty's size until the process (for the init: the container) ends.
 */
void console_follow(struct daemon *d, struct ctr *x, uint32_t pid);
