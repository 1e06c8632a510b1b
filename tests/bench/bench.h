/*
 * The benchmarks' shared parts: clocks, statistics, the figure lines, processes whose exit
 * status is checked, and the teardown that runs when a benchmark fails.
 *
 * Every figure is printed beside a baseline measured in the same run:
 *   name: VALUE UNIT | baseline WHAT: VALUE UNIT | ratio R      (R = VALUE / baseline)
 * A process that is timed and exits other than expected, a wait that fails or a byte that goes
 * missing fails the whole run (bench_fail: a message, the teardown, exit status 1).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <lcow/gcs.h>

/* What the parts hand on to later parts as baselines. */
struct bench_run {
	const char *agent; /* the gcs binary */
	int n; /* iterations of the per-request figures */
	double agent_spawn_p50_us; /* process-mode agent: spawn to negotiated */
	double agent_roundtrip_us; /* process-mode agent: one request/response */
	int not_run; /* parts that could not run here (said why) */
};

double now_us(void);

_Noreturn void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Registers fn(arg) to run (last registered first) when the run fails. */
void bench_defer(void (*fn)(void *), void *arg);
/* Forgets the registration of arg (its owner tears it down itself). */
void bench_undefer(void *arg);
/* "<part>: NOT RUN: why", counted in r->not_run. */
void bench_not_run(struct bench_run *r, const char *part, const char *why);

struct stats {
	double mean, p50, p99;
};

/* Sorts v. */
struct stats summarize(double *v, int n);
double median(double *v, int n);

/* One figure line; the baseline is in the same unit. */
void figure(const char *name, double value, const char *unit, const char *baseline,
	    double base_value);

/* MiB/s of bytes moved in us microseconds. */
double mibs(size_t bytes, double us);

/* posix_spawn of argv with stdin, stdout and stderr from in/out/err (-1: /dev/null). */
pid_t spawn_fds(const char *const *argv, int in, int out, int err);
/* Waits for pid; fails the run unless it exited with want (128+N: killed by signal N). */
void reap_expect(pid_t pid, int want, const char *what);
/* Runs argv to completion (output discarded); fails the run unless it exited 0. */
void run_ok(const char *const *argv);

/* VmRSS of pid in kB; fails the run when it cannot be read. */
long rss_kb(pid_t pid);

/* Writes total bytes of 'x' to fd and half-closes it: 0 or a negative errno. */
struct feeder {
	int fd;
	size_t total;
	int rc;
};
void *feed_thread(void *arg);
/* Reads fd to EOF: the byte count; fails the run on a read error. */
size_t drain(int fd);

/* A busybox-static root filesystem (sh, echo, sleep, cat, true) at dir. */
void make_rootfs(const char *dir);
/* rm -rf --one-file-system dir; fails the run when that fails. */
void remove_tree(const char *dir);
/* The same without failing: for teardown. */
void remove_tree_quiet(const char *dir);

/* gcs_process_exec + wait of argv in the agent behind b, stdout to out_fd (-1: none); the
 * microseconds it took. Fails the run unless it exited 0. */
double exec_wait_us(struct gcs_bridge *b, const char *const *argv, int out_fd);

/* The agent as a host process on unix:<dir>/hv, negotiated (bench_agent.c). */
struct agent {
	char dir[64]; /* /tmp/lcow-bench-XXXXXX */
	struct gcs_transport *t;
	struct gcs_bridge *b;
	pid_t pid;
};

/* With run_root: --run-root <dir>/run. ret_us (may be NULL): spawn to negotiated. */
void agent_start(struct agent *a, const char *agent_path, bool run_root, double *ret_us);
/* Closes the bridge; fails the run unless the agent then exits 0. */
void agent_stop(struct agent *a);
/* Mean microseconds of n StartContainer round trips. */
double bridge_roundtrip_us(struct gcs_bridge *b, int n);

/* ---- QEMU utility VMs (bench_vm.c) ---- */

struct lcow_uvm;
struct lcow_uvm_disk;
struct lcow_uvm_nic;

/* A teardown (bench_defer) of the struct layer_set arg: layers_destroy, quietly. */
void bench_layers_abort(void *arg);
/* $LCOW_QEMU, or qemu-system-x86_64. */
const char *bench_qemu(void);
/* Whether every piece of a QEMU UVM is here (QEMU, kernel, initrd, lcow-vsock, busybox); why
 * not in why. */
bool bench_vm_possible(const char *qemu, char *why, size_t len);
/* Boots a UVM (the agent logging at info) with these boot-time disks and NICs, state in
 * state_dir; fails the run, naming what, when it does not negotiate. */
struct lcow_uvm *bench_uvm_start(const char *qemu, const char *state_dir,
				 const struct lcow_uvm_disk *disks, size_t n_disks,
				 const struct lcow_uvm_nic *nics, size_t n_nics, const char *what);

/* The parts, in the order main runs them. */
void bench_agent(struct bench_run *r);
void bench_containers(struct bench_run *r);
void bench_vm(struct bench_run *r);
/* TCP through a UVM's NIC vs between two network namespaces (bench_net.c). */
void bench_net(struct bench_run *r);
