/*
 * The CLI's side of a UVM daemon: finding a container's UVM, checking that its daemon runs,
 * starting a daemon, requests with deadlines, and the foreground wait of run and exec.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lcow/gcs.h>

#include "ctl.h"
#include <lcow/runtime.h>

#define CALL_MS 60000 /* an ordinary request */
#define CREATE_MS 300000 /* create and delete: disks, mkfs, runc in a TCG guest */
#define QUICK_MS 5000 /* signal forwarding, resize, list */

/* The UVM of a container (and its record): -ENOENT and "container does not exist". */
int client_container(const char *id, char *uvm, size_t len, json_t **ret_record,
		     struct gcs_error *err);
/*
 * 0 when the UVM's daemon runs, or when a new one adopted the UVM of one that died; else -ESRCH
 * (the UVM is gone too, or never came up) or -ENOENT (no such UVM), with why in err.
 */
int client_check_uvm(const char *uvm, struct gcs_error *err);
/*
 * One request with fds attached, one answer within timeout_ms: 0 and the answer in *ret (may be
 * NULL) when it says ok; -EREMOTEIO with the daemon's message in err, and its code (when it gave
 * one) in code; a daemon that died or hung is reported as such.
 */
int client_call(const char *uvm, json_t *req, const int *fds, size_t n_fds, int timeout_ms,
		json_t **ret, char *code, size_t code_len, struct gcs_error *err);
/* client_call that keeps the connection for a second answer (see client_wait_exit). */
int client_begin(const char *uvm, json_t *req, const int *fds, size_t n_fds, int timeout_ms,
		 struct ctl_conn *conn, json_t **ret, struct gcs_error *err);
/*
 * Holds the signals a foreground run or exec forwards (they stay pending), from before the
 * container or process exists: client_wait_exit then forwards them, so none is lost or kills
 * lcow in between. Children lcow starts get an empty mask.
 */
void client_hold_signals(void);
/*
 * The foreground of run and exec: waits without a limit for the exit answer on conn, while
 * forwarding the signals lcow gets to the process (pid 0: the container's init) and, with tty,
 * the terminal's size on SIGWINCH. Returns the exit code, or a negative errno with err.
 */
int client_wait_exit(struct ctl_conn *conn, const char *uvm, const char *id, uint32_t pid, bool tty,
		     struct gcs_error *err);
/*
 * Holds SIGINT, SIGTERM and SIGHUP from the start of a create: one that comes while the UVM
 * boots cancels the boot (the daemon tears down what it started); client_cancel_pending then
 * says so, and create removes whatever it made.
 */
void client_hold_cancel(void);
/* The signal that cancelled, or one pending now (which is taken); 0 when none. */
int client_cancel_pending(void);
/*
 * Makes sure the daemon of uvm runs: starts one in the given mode (auto: see lcow_rt_mode_resolve, with a
 * notice on stderr when it falls back to process mode) when there is none. ret_started says
 * whether this call started it. first_net (may be NULL): the network of the container the UVM
 * is started for ({"id","dir","network","publish"}), which a QEMU UVM gets as a NIC at boot.
 */
int client_ensure_uvm(const char *uvm, enum lcow_rt_mode mode, bool pod, json_t *first_net,
		      bool *ret_started, struct gcs_error *err);
/*
 * The mode of the UVM: a running one's (its uvm.json), else what client_ensure_uvm would start
 * for mode (auto resolved, quietly).
 */
enum lcow_rt_mode client_uvm_mode(const char *uvm, enum lcow_rt_mode mode);

/* A request that names only a container ({"op":op,"id":id}), to the container's UVM. */
int client_simple(const char *op, const char *id, struct gcs_error *err);
/*
 * A whole command that takes only -h and one container ID and sends one simple request (start,
 * pause, resume): prints usage for -h, and returns the exit status.
 */
int client_simple_command(const char *op, const char *usage, int argc, char **argv);

/* ---- terminals ---- */

/* Puts the terminal on fd in raw mode until exit (restored by an atexit handler). */
void term_raw(int fd);
/* The size of the terminal on fd, as rows and cols fields of req (nothing when not a tty). */
void term_size(int fd, json_t *req);
/*
 * A host pty for a detached terminal process: the master goes to runc's console socket, the
 * slave (raw) to *ret_slave, for the daemon to relay.
 */
int console_pty(const char *socket_path, int *ret_slave, struct gcs_error *err);
