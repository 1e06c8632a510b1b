/*
 * liblcowrt: the host runtime core that both front ends (the lcow CLI's daemon and the containerd
 * shim) drive. A struct lcow_rt owns one UVM (QEMU or process mode) and the libgcs bridge to its
 * agent, and runs hcsshim's LCOW sequence for its containers: layer and scratch disks (SCSI
 * slots, layers shared between the containers that use the same image), CombinedLayers, the
 * guest spec, the container's network (lcow/net.h), the container state machine, the stdio of
 * its processes (fds the front end passes in; libgcs relays them to the guest), exit delivery
 * (a callback, and blocking waits with a timeout), and a record per container
 * (<container dir>/daemon.json) from which a later runtime adopts the UVM and its containers.
 *
 * Errors: negative errno plus the caller's struct gcs_error (HRESULT + message). Codes a front
 * end may tell apart: -ENOENT (no such container, or deleted meanwhile), -ESRCH (not running),
 * -ESHUTDOWN (the UVM is going away: no new containers), -ENOLINK (the UVM went away while the
 * process ran). The library never prints: log lines go to the callback of lcow_rt_set_log.
 *
 * Thread-safe: any call may come from any thread; calls that change a container are serialized
 * per container.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lcow/gcs.h>

#define LCOW_RT_EXPORT __attribute__((visibility("default")))

#define LCOW_RT_MAX_LAYERS 64
#define LCOW_RT_MAX_FDS 3
#define LCOW_RT_MAX_PUBLISH 32 /* hostfwd rules of a container */

/* ---- UVM modes ---- */

enum lcow_rt_mode { LCOW_RT_AUTO, LCOW_RT_QEMU, LCOW_RT_PROCESS };

LCOW_RT_EXPORT int lcow_rt_mode_parse(const char *s, enum lcow_rt_mode *ret);
LCOW_RT_EXPORT const char *lcow_rt_mode_name(enum lcow_rt_mode m);
/*
 * auto: qemu when QEMU, the kernel, the initrd and the vsock device are all there, else process
 * with the reason in why. Other modes come back as they are.
 */
LCOW_RT_EXPORT enum lcow_rt_mode lcow_rt_mode_resolve(enum lcow_rt_mode m, char *why, size_t len);
/*
 * Cleans up the UVM state directory (<uvm dir>/vm) of a runtime that died and a UVM nobody
 * adopted: kills what still runs (QEMU and the vsock device, or the process-mode agent, by pid
 * file and command line), and process mode's cgroups, mounts and loop devices; removes dir.
 * Returns the number of leftovers.
 */
LCOW_RT_EXPORT int lcow_rt_uvm_sweep(const char *dir);

/* ---- logging ---- */

enum lcow_rt_log_level {
	LCOW_RT_LOG_ERROR,
	LCOW_RT_LOG_WARNING,
	LCOW_RT_LOG_INFO,
	LCOW_RT_LOG_DEBUG
};

/* Where the library's log lines go (process-wide; NULL: nowhere). */
LCOW_RT_EXPORT void
lcow_rt_set_log(void (*fn)(void *user, enum lcow_rt_log_level level, const char *msg), void *user);

/* ---- the UVM ---- */

struct lcow_rt;

struct lcow_rt_options {
	const char *id; /* the UVM's ID */
	const char *dir; /* the UVM's directory: the launcher's state goes to <dir>/vm */
	enum lcow_rt_mode mode; /* qemu or process; ignored by lcow_rt_adopt's caller's record */
	bool pod; /* keeps the UVM when its last container goes (see lcow_rt_claim_last) */
	bool debug;
	/*
	 * QEMU mode: the network of the container the UVM is started for
	 * ({"id","dir","network","publish"}), whose NIC is made at boot; NULL: none.
	 */
	json_t *first_net;
	/* Asked while booting or adopting: true gives up with -ECANCELED. */
	bool (*cancelled)(void *user);
	/*
	 * A container's init or exec'd process ended (pid: the agent's pid of it), with its exit
	 * code (128 + N after signal N; 255 when the UVM went away). From a runtime thread, after
	 * the state is recorded; it may call lcow_rt_* but must not block long.
	 */
	void (*on_exit)(void *user, const char *id, uint32_t pid, uint32_t code);
	void *user;
};

/* Boots the UVM (adopt false) or takes over the running UVM of a runtime that died. */
LCOW_RT_EXPORT int lcow_rt_start(const struct lcow_rt_options *o, bool adopt, struct lcow_rt **ret,
				 struct gcs_error *err);
/*
 * After lcow_rt_start with adopt: rebuilds a container of this UVM (its layers and SCSI slots)
 * from its record in dir; one the agent no longer has is stopped (255, lost). 0, or -ENOENT when
 * dir holds no usable record.
 */
LCOW_RT_EXPORT int lcow_rt_adopt_container(struct lcow_rt *rt, const char *id, const char *dir);
/* Whether the UVM is gone (its agent closed the bridge). */
LCOW_RT_EXPORT bool lcow_rt_broken(struct lcow_rt *rt);
LCOW_RT_EXPORT enum lcow_rt_mode lcow_rt_mode(struct lcow_rt *rt);
/*
 * True once, for the caller that saw the last container of a UVM that is not a pod go: no new
 * container is accepted from then on, and the caller stops the UVM.
 */
LCOW_RT_EXPORT bool lcow_rt_claim_last(struct lcow_rt *rt);
/* Forced deletion of every container, guest side included when the UVM still answers. */
LCOW_RT_EXPORT void lcow_rt_delete_all(struct lcow_rt *rt);
/* Stops the UVM (and removes <dir>/vm); no new container is accepted from then on. */
LCOW_RT_EXPORT void lcow_rt_stop(struct lcow_rt *rt);
/* Frees a stopped runtime whose containers were all deleted and whose calls have returned. */
LCOW_RT_EXPORT void lcow_rt_free(struct lcow_rt *rt);

/*
 * A process of the UVM (not of a container), argv[0] looked up in the UVM's PATH, within
 * timeout_ms: its stdout and stderr (malloc'd, NUL-terminated, up to max bytes each; *truncated
 * set when there was more) and its exit code. An exec that fails is the agent's error.
 */
struct lcow_rt_output {
	char *out, *err;
	size_t out_len, err_len;
	bool truncated;
	uint32_t code;
};
LCOW_RT_EXPORT int lcow_rt_uvm_command(struct lcow_rt *rt, const char *const *argv, size_t n,
				       size_t max, int timeout_ms, struct lcow_rt_output *ret,
				       struct gcs_error *err);
LCOW_RT_EXPORT void lcow_rt_output_free(struct lcow_rt_output *o);

/* ---- containers ---- */

struct lcow_rt_ctr;

enum lcow_rt_status {
	LCOW_RT_CREATING,
	LCOW_RT_CREATED,
	LCOW_RT_RUNNING,
	LCOW_RT_PAUSED,
	LCOW_RT_STOPPED
};

/* "creating", "created", "running", "paused", "stopped" (runc's words). */
LCOW_RT_EXPORT const char *lcow_rt_status_name(enum lcow_rt_status s);

struct lcow_rt_create_options {
	const char *id;
	const char *dir; /* the container's host directory: its record goes there */
	json_t *spec; /* the OCI spec as the bundle has it */
	const char *const *layers; /* read-only layer images, top-most first */
	size_t n_layers;
	const char *scratch; /* the scratch image (formatted by the agent on first use) */
	/* "none" (or NULL), "user" (QEMU's user-mode stack) or "ns:PATH"; publish: hostfwd rules */
	const char *network;
	json_t *publish;
	/*
	 * The init's stdio, taken in every case: stdin, stdout, stderr (a terminal: stdin and the
	 * pty's output on stdout); -1: that stream is not asked for. A host pty slave that no session has as its controlling
	 * terminal is followed: the console gets that pty's size, whenever it changes.
	 */
	const int *fds;
	size_t n_fds;
};

/* Creates the container (its init waits for lcow_rt_start_init): its pid (0: not known). */
LCOW_RT_EXPORT int lcow_rt_create(struct lcow_rt *rt, const struct lcow_rt_create_options *o,
				  uint32_t *ret_pid, struct gcs_error *err);
/* The container by ID with a reference, or NULL. */
LCOW_RT_EXPORT struct lcow_rt_ctr *lcow_rt_ctr_get(struct lcow_rt *rt, const char *id);
LCOW_RT_EXPORT void lcow_rt_ctr_put(struct lcow_rt *rt, struct lcow_rt_ctr *x);
LCOW_RT_EXPORT const char *lcow_rt_ctr_id(const struct lcow_rt_ctr *x);

struct lcow_rt_state {
	enum lcow_rt_status status;
	uint32_t pid; /* the init's; 0 once stopped */
	bool exited;
	uint32_t exit_code;
	bool lost; /* the UVM went away under it */
	bool terminal;
};
LCOW_RT_EXPORT void lcow_rt_ctr_state(struct lcow_rt *rt, struct lcow_rt_ctr *x,
				      struct lcow_rt_state *ret);
/*
 * {"id","status","pid"[,"exit"][,"network":{mode, mac, addresses, namespace_id, publish|netns}]}
 * of one container, or an array of every container's.
 */
LCOW_RT_EXPORT json_t *lcow_rt_ctr_describe(struct lcow_rt *rt, struct lcow_rt_ctr *x);
LCOW_RT_EXPORT json_t *lcow_rt_list(struct lcow_rt *rt);
/* A copy of the spec's process object as the guest got it (for exec requests to build on). */
LCOW_RT_EXPORT json_t *lcow_rt_ctr_process(struct lcow_rt *rt, struct lcow_rt_ctr *x);

/* Starts the init with the stdio create got; rows/cols > 0: its console's size. */
LCOW_RT_EXPORT int lcow_rt_start_init(struct lcow_rt *rt, struct lcow_rt_ctr *x, unsigned rows,
				      unsigned cols, uint32_t *ret_pid, struct gcs_error *err);
/*
 * Runs process (an OCI process object) in the running container, with stdio fds (taken in
 * every case; as for create). keep: its exit is kept for lcow_rt_wait until lcow_rt_release;
 * else it is forgotten when it ends.
 */
LCOW_RT_EXPORT int lcow_rt_exec(struct lcow_rt *rt, struct lcow_rt_ctr *x, json_t *process,
				const int *fds, size_t n_fds, unsigned rows, unsigned cols,
				bool keep, uint32_t *ret_pid, struct gcs_error *err);
/*
 * Waits up to timeout_ms (< 0: forever) for the init (pid 0: the container to stop) or an
 * exec'd process kept by lcow_rt_exec: its exit code; -ETIMEDOUT, -ESRCH (no such process),
 * -ENOLINK (the UVM went away).
 */
LCOW_RT_EXPORT int lcow_rt_wait(struct lcow_rt *rt, struct lcow_rt_ctr *x, uint32_t pid,
				int timeout_ms, uint32_t *ret_code, struct gcs_error *err);
/* Forgets a kept exec'd process (after its exit, or to stop keeping it). */
LCOW_RT_EXPORT void lcow_rt_release(struct lcow_rt *rt, struct lcow_rt_ctr *x, uint32_t pid);
/* sig to the init (pid 0) or an exec'd process; all: to every process of the container. */
LCOW_RT_EXPORT int lcow_rt_kill(struct lcow_rt *rt, struct lcow_rt_ctr *x, uint32_t pid, int sig,
				bool all, struct gcs_error *err);
/* The console size of a terminal process (pid 0: the init); a process without one: 0. */
LCOW_RT_EXPORT int lcow_rt_resize(struct lcow_rt *rt, struct lcow_rt_ctr *x, uint32_t pid,
				  unsigned rows, unsigned cols, struct gcs_error *err);
/* Closes the stdin of the init (pid 0) or an exec'd process: the process reads EOF. */
LCOW_RT_EXPORT int lcow_rt_close_stdin(struct lcow_rt *rt, struct lcow_rt_ctr *x, uint32_t pid,
				       struct gcs_error *err);
/* Pauses (freezes) a running container, or resumes a paused one. */
LCOW_RT_EXPORT int lcow_rt_pause(struct lcow_rt *rt, struct lcow_rt_ctr *x, bool pause,
				 struct gcs_error *err);
/* The pids of a live container (none once stopped), malloc'd. */
LCOW_RT_EXPORT int lcow_rt_pids(struct lcow_rt *rt, struct lcow_rt_ctr *x, uint32_t **ret,
				size_t *ret_n, struct gcs_error *err);
/* The agent's LCOWMetrics of a live container (-ESRCH once stopped): a new reference. */
LCOW_RT_EXPORT int lcow_rt_stats(struct lcow_rt *rt, struct lcow_rt_ctr *x, json_t **ret,
				 struct gcs_error *err);
/* New limits for a live container: an OCI LinuxResources object. */
LCOW_RT_EXPORT int lcow_rt_update(struct lcow_rt *rt, struct lcow_rt_ctr *x, json_t *resources,
				  struct gcs_error *err);
/*
 * Removes the container from the guest and the UVM (its record goes too). force: a running or
 * paused container is killed first; else one is refused (-EBUSY).
 */
LCOW_RT_EXPORT int lcow_rt_delete(struct lcow_rt *rt, struct lcow_rt_ctr *x, bool force,
				  struct gcs_error *err);
