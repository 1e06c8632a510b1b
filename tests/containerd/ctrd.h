/*
 * The containerd suites' harness: Debian's containerd with a config, root, state and sockets of
 * its own under a temp dir (the CRI plugin off: nothing here touches a network), `ctr` against
 * it in a namespace named after the test, an OCI image built here from busybox-static and
 * imported offline, and the end of every test: containerd stopped, its shims and their
 * processes and lcow's UVMs killed, mounts and loop devices of the temp dir undone, and what its shims left in the shared
 * /run/containerd (sockets, FIFOs, runc state of the test's namespace) removed.
 */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CTRD_IMAGE "localhost/lcow-busybox:test"

struct ctrd {
	char dir[64]; /* /tmp/lcow-ctrd-XXXXXX */
	char sock[128]; /* <dir>/c.sock */
	char ns[32]; /* the containerd namespace of the test; every container ID begins with it */
	pid_t pid; /* containerd */
	/* what /run/containerd/{s,fifo} held before, so that only ours goes */
	char **before;
	size_t n_before;
	/* a directory put first on containerd's PATH (shim binaries), or "" */
	char path_dir[256];
};

/* Starts containerd and waits until `ctr version` answers (asserts on failure). */
void ctrd_start(struct ctrd *d, const char *path_dir);
/* Builds the busybox image (a tarball in the temp dir) and imports it as CTRD_IMAGE. */
void ctrd_import_busybox(struct ctrd *d);
/*
 * Runs `ctr --address <sock> --namespace <ns> ARGS...` with stdin from in (NULL: /dev/null),
 * within timeout_ms: its exit status (128+N when killed by N; 124 when the deadline passed),
 * stdout and stderr in out (NUL-terminated, cut at len).
 */
int ctrd_ctr(struct ctrd *d, const char *in, char *out, size_t len, int timeout_ms,
	     const char *const *args);
/* ctrd_ctr that must succeed (asserts exit 0). */
void ctrd_ctr_ok(struct ctrd *d, const char *const *args);
/*
 * `ctr task delete` of a task that was sent SIGKILL: refused while it still runs, then it
 * succeeds (exit 0) and warns of the exit code, 137 (asserted).
 */
void ctrd_delete_killed(struct ctrd *d, const char *id);
/* Stops containerd (SIGTERM) and starts it again on the same config, root and state. */
void ctrd_restart(struct ctrd *d);
/*
 * The processes other than shims, containerd and ctr whose command line names the temp dir
 * (lcow's UVMs: the process-mode agent, QEMU, the vsock device), whose program's base name is
 * prog (NULL: any): their number, the first max pids in pids.
 */
int ctrd_procs(struct ctrd *d, const char *prog, pid_t *pids, int max);
/*
 * Stops containerd and removes everything it and its shims left; asserts nothing stayed
 * (shims, UVM processes, loop devices of the temp dir, mounts, FIFOs and sockets).
 */
void ctrd_stop(struct ctrd *d);
/*
 * The shims of this containerd: processes whose command line names its socket, without their
 * children of the same command line (lcow's process-mode UVM holder): their number, and the
 * first max pids.
 */
int ctrd_shims(struct ctrd *d);
int ctrd_shim_pids(struct ctrd *d, pid_t *pids, int max);
/* Waits up to 5 s for this containerd's shims to exit; asserts that none is left. */
void ctrd_expect_no_shims(struct ctrd *d);
/* Runs the suite in fork mode: its exit status (0 = all passed). */
int ctrd_run_suite(Suite *s);
