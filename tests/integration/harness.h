/*
 * Integration harness: the real agent as a child process on the hybrid-vsock transport, driven
 * through libgcs (or raw frames), with the checks every test ends with: no leaked agent fds, no
 * zombies, the agent exits cleanly when the bridge closes (it runs with --reconnect 0 unless the
 * test asks for redialing), the temp dir is removed. Container tests on raw frames (struct ct)
 * also check mounts, runc state, cgroups and loop devices; harness_main runs a suite with the
 * layer images and the sweeps after a failed test.
 */
#pragma once

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <lcow/gcs.h>

#include "layers.h"

/* A frame read by the raw_request family but not claimed yet. */
struct raw_frame {
	uint32_t type;
	uint64_t id;
	char *body;
};

/* A container notification seen on any connection of a raw-mode agent. */
struct raw_note {
	char cid[96];
	char type[32];
	uint64_t conn; /* conn_first_id of the connection it came on */
};

#define RAW_MAX_NOTES 16

struct agent_proc {
	pid_t pid;
	char dir[256]; /* temp dir, removed by agent_stop */
	char base[300]; /* <dir>/hv */
	struct gcs_transport *t;
	struct gcs_bridge *b;
	int baseline_fds; /* agent fds right after negotiation */
	int listen_fd; /* raw mode: the bridge listener */
	int raw_fd; /* raw mode: the accepted bridge connection */
	/* Started with --reconnect N > 0: closing the bridge does not stop it (agent_stop). */
	bool redials;
	bool measured; /* baseline_fds taken after raw_negotiate */
	/* raw_request family: IDs go up across connections and are never reused. */
	uint64_t next_id;
	uint64_t conn_first_id; /* the first ID sent on the current connection */
	uint32_t *sent_types; /* request type by ID */
	uint8_t *answered; /* by ID */
	size_t cap_ids;
	struct raw_frame *inbox;
	size_t n_inbox, cap_inbox;
	struct raw_note notes[RAW_MAX_NOTES];
	size_t n_notes; /* all received, even beyond the array */
};

/* Starts the agent and connects libgcs to it (negotiated). */
void agent_start(struct agent_proc *ap);
/* Starts the agent and accepts its bridge connection without negotiating (raw frames). */
void agent_start_raw(struct agent_proc *ap);

struct agent_start_opts {
	/* Accept the bridge connection without negotiating (raw frames), as agent_start_raw. */
	bool raw;
	/* Extra agent flags (NULL-terminated, or NULL), after --transport and --log-level. */
	const char *const *args;
	/* Bridge options of the libgcs mode (0: agent_start's). */
	int call_timeout_ms;
	void (*on_notification)(void *user, const struct gcs_proto_notification *n);
	void *user;
	/*
	 * Where the temp dir is made: <parent_dir>/t-XXXXXX, which layers_sweep_tests and
	 * harness_sweep clean up after a failed test (NULL: /tmp/lcow-it-XXXXXX).
	 */
	const char *parent_dir;
	/* Extra environment of the agent ("K=V", NULL-terminated, or NULL). */
	const char *const *env;
};

/* agent_start or agent_start_raw with extra agent flags and bridge options. */
void agent_start_opts(struct agent_proc *ap, const struct agent_start_opts *o);

/*
 * Asserts the agent is clean (fds, zombies), closes the bridge, reaps the agent (exit 0), cleans
 * up and checks that the temp dir is gone. An agent that redials (--reconnect N > 0) is stopped
 * with agent_shutdown instead of by closing the bridge.
 */
void agent_stop(struct agent_proc *ap);
/* agent_stop up to the agent's exit: the temp dir (agent.log) is still there. */
void agent_end(struct agent_proc *ap);
/* Fails at once, with the end of agent.log, when the agent has exited. */
void agent_assert_running(struct agent_proc *ap, const char *when);
/* The agent's fds are back at the baseline and it has no zombie children (polled, 2 s). */
void agent_check_clean(struct agent_proc *ap);
/* ShutdownGraceful of the utility VM (null GUID) is answered with 0, then the agent exits 0. */
void agent_shutdown(struct agent_proc *ap);
/* Waits up to ms for the agent to exit; its wait status, or -1 (still running). */
int agent_wait_exit(struct agent_proc *ap, int ms);
/* After the agent is gone: closes our ends, removes the temp dir (asserts it is gone). */
void agent_release(struct agent_proc *ap);
/* SIGKILLs and reaps the agent; the bridge connection is closed, the temp dir stays. */
void agent_kill(struct agent_proc *ap);
/*
 * Starts a new agent on the same temp dir (same transport base, agent.log appended) after
 * agent_kill: the bridge listener is made anew, the connection accepted (raw mode only).
 */
void agent_respawn(struct agent_proc *ap, const struct agent_start_opts *o);
/*
 * Raw mode: closes the current bridge connection (if any) and accepts the agent's next one
 * within timeout_ms; fails at once, with the end of agent.log, if the agent exits first.
 */
void agent_accept(struct agent_proc *ap, int timeout_ms);
/* The last bytes of <dir>/agent.log, for failure messages. */
const char *agent_log_tail(const struct agent_proc *ap, char *buf, size_t len);

int agent_fd_count(pid_t pid);
int agent_zombies(pid_t pid);

/* Raw frames on ap->raw_fd. */
void raw_send(struct agent_proc *ap, uint32_t type, uint64_t id, const char *json);
/* Reads one frame (5 s deadline); *ret_body malloc'd. */
void raw_recv(struct agent_proc *ap, uint32_t *ret_type, uint64_t *ret_id, char **ret_body);

/*
 * The raw_request family (raw mode): requests get increasing IDs; every frame read is checked
 * (at most 64 KiB; a response answers an ID sent on this connection, once, with the derived
 * type; a notification is 0x30100101 with ID 0) and kept until it is claimed.
 */
#define RAW_FOREVER 0xFFFFFFFFu

/* Sends any frame type (requests, or not) with the next ID; returns the ID. */
uint64_t raw_request(struct agent_proc *ap, uint32_t type, const char *json);
/*
 * The answer to id within timeout_ms (*ret_body malloc'd): 0, -ETIMEDOUT, or -ESHUTDOWN when
 * the connection closed first.
 */
int raw_response(struct agent_proc *ap, uint64_t id, int timeout_ms, char **ret_body);
/* raw_request + raw_response; asserts the answer comes within timeout_ms. */
char *raw_call(struct agent_proc *ap, uint32_t type, const char *json, int timeout_ms);
/* raw_call that asserts the answer's Result; returns the body (malloc'd). */
char *raw_call_result(struct agent_proc *ap, uint32_t type, const char *json, int32_t result,
		      int timeout_ms);
/* NegotiateProtocol (version 4) succeeds; the first one also takes the fd baseline. */
void raw_negotiate(struct agent_proc *ap);
/* DumpStacks is answered with 0 within 5 s. */
void raw_still_serving(struct agent_proc *ap);
/*
 * ModifySettings of the utility VM: {"RequestType":rt,"ResourceType":res,"Settings":settings}
 * (settings is stolen; NULL: none). Returns the answer (malloc'd).
 */
char *raw_modify(struct agent_proc *ap, const char *rt, const char *res, json_t *settings,
		 int timeout_ms);
/* raw_modify that must succeed. */
void raw_modify_ok(struct agent_proc *ap, const char *rt, const char *res, json_t *settings);
/*
 * ExecuteProcess with ProcessParameters params (stolen) and no stdio, for cid (NULL: the null
 * GUID); asserts success and returns the pid.
 */
uint32_t raw_exec(struct agent_proc *ap, const char *cid, json_t *params);
/* A process in the UVM (CommandArgs argv, cwd /, a PATH, LCOW_IT_DIR=<dir> for the sweeps). */
uint32_t raw_exec_uvm(struct agent_proc *ap, const char *const *argv);
/* Sends WaitForProcess (TimeoutInMs forever) without waiting; returns its ID. */
uint64_t raw_wait_start(struct agent_proc *ap, const char *cid, uint32_t pid);
/* The answer to a raw_wait_start within timeout_ms: asserts success, returns the ExitCode. */
uint32_t raw_wait_end(struct agent_proc *ap, uint64_t id, int timeout_ms);
/* SignalProcess; returns the answer's Result. */
int32_t raw_signal(struct agent_proc *ap, const char *cid, uint32_t pid, int sig);
/* Reads for ms, keeping what comes; returns how many frames came (stops early at EOF). */
size_t raw_quiet(struct agent_proc *ap, int ms);
/* Reads until at least n notifications were seen or timeout_ms passed; returns the count. */
size_t raw_wait_notes(struct agent_proc *ap, size_t n, int timeout_ms);
/*
 * Waits up to timeout_ms for the agent to close the connection (EOF or reset), discarding what
 * comes: true if it did.
 */
bool raw_wait_eof(struct agent_proc *ap, int timeout_ms);

/* Result of a response body (asserts it is a JSON object). */
int32_t json_result(const char *body);
/* A string member of a JSON object body, malloc'd ("" when missing). */
char *json_member_str(const char *body, const char *key);
/* An unsigned member of a JSON object body. */
uint64_t json_member_uint(const char *body, const char *key);
/* json_dumps (compact) of o, which is stolen; malloc'd. */
char *json_text(json_t *o);
/* CLOCK_MONOTONIC in ms. */
int64_t harness_now_ms(void);

struct run_result {
	uint32_t exit_code;
	char *out; /* NUL-terminated */
	size_t out_len;
	char *err;
	size_t err_len;
};

/*
 * Runs argv in the UVM with stdin (when given: written then closed), stdout and stderr as sockets,
 * collecting all output, and waits for it. env: NULL-terminated K=V list or NULL.
 */
void run_uvm(struct agent_proc *ap, const char *const *argv, const char *const *env,
	     const char *cwd, const char *in, struct run_result *ret);
void run_result_free(struct run_result *r);

/*
 * The body of a message in the recorded hcsshim session (tests/data), malloc'd, or NULL. Its
 * type, direction and id pick it (id 0 of a notification: the first one). strip_trace cuts the
 * host's "ocsc" trace context out, which libgcs never sends.
 */
char *transcript_body(bool to_guest, uint32_t type, uint64_t id, bool strip_trace);
/* s (malloc'd, freed here) with every occurrence of from replaced by to; malloc'd. */
char *str_replace_all(char *s, const char *from, const char *to);
/* The top-level keys of a JSON object, sorted, as "k1,k2,...," (for comparing shapes). */
void json_keys(const char *body, char *out, size_t len);

/*
 * A stand-in guest for wire tests of libgcs: it dials a libgcs bridge listening on
 * unix:<dir>/hv, answers NegotiateProtocol as the Go GCS does and every other request with
 * success (ExecuteProcess: ProcessId 900, 901, ...; it first dials the requested stdio ports and
 * writes "hello <port>\n" to stdout and stderr), and records each request body.
 */
struct fake_guest {
	char base[160]; /* <dir>/hv */
	struct gcs_transport *t;
	struct gcs_bridge *b; /* negotiated */
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	char *bodies[64];
	uint32_t types[64];
	size_t n;
	char error[256]; /* what went wrong on the guest's side */
};

void fake_guest_start(struct fake_guest *g, const char *dir);
/*
 * Request *next must be there, of that type, with exactly that body; then *next moves on.
 * want NULL: no request beyond *next was sent, and the guest saw no error.
 */
void fake_guest_expect(struct fake_guest *g, size_t *next, uint32_t type, const char *want);
/* Closes the bridge, stops the guest, frees everything (not dir). */
void fake_guest_stop(struct fake_guest *g);

/* Builds a NULL-terminated argv of "/bin/sh", "-c", script. */
#define SH(script) ((const char *const[]){ "/bin/sh", "-c", (script), NULL })

/* ---- suites: one test case per test, fixtures, leftovers ---- */

/* The runc stand-ins (tests/integration/stubs). */
#define HARNESS_STUBS LCOW_TESTDATA "/../integration/stubs"

/* The layer images of the suite run (harness_main builds them when asked). */
extern struct layer_set harness_layers;

struct harness_test {
	const char *name;
	const TTest *test;
	int timeout_s;
};

#define HARNESS_TEST(fn, secs) \
	{                      \
#fn, fn, secs  \
	}

/*
 * Runs the tests, each as a test case of its own (Check's fork mode), after building the layer
 * images (needs root). After every test, in this process, harness_sweep removes whatever a
 * failed test left (its agent and processes, mounts, runc state, loop devices, its dirs).
 * Returns the exit status.
 */
int harness_main(const char *suite, const struct harness_test *tests, size_t n);
/*
 * Kills the processes whose command line or environment names a test dir under
 * harness_layers.dir (agents, runc stand-ins, UVM processes), then layers_sweep_tests.
 * Returns the number of leftovers, described in report.
 */
int harness_sweep(char *report, size_t len);

/* Directories named name under /sys/fs/cgroup (any hierarchy, any depth). */
int cgroups_named(const char *name, char *report, size_t len);
/*
 * Processes (not us, not an agent) whose command line, arguments joined with spaces, contains
 * needle and and_also (NULL: needle only).
 */
int procs_matching(const char *needle, const char *and_also, char *report, size_t len);

/*
 * A container test's world on raw frames: a test_env (run root, stand-in sysfs and /dev), an
 * agent on it, hcsshim's V1 guest paths under <run> (see test_containers.c):
 * <run>/mounts/scsi/m0 (base layer, SCSI 0:1, read-only), <run>/layers/p0 (upper layer,
 * pmem 0), <run>/gcs/c/<cid> (scratch on SCSI 0:0, and the bundle), .../rootfs (the overlay),
 * .../scratch/<cid>.
 */
struct ct {
	struct test_env env;
	struct agent_proc ap;
	const char *args[40];
	char cid[80];
	char scsi_layer[160];
	char pmem_layer[160];
	char bundle[224];
	char rootfs[240];
	char scratch_dir[320];
};

/*
 * Creates the env (with the three disks when disks), starts the agent on it (env flags, then
 * extra, NULL-terminated or NULL; raw mode) and negotiates.
 */
void ct_start(struct ct *c, const char *cid, bool disks, const char *const *extra);
/* Layers, scratch, overlay, in hcsshim's order; each mount is checked in the agent's table. */
void ct_storage_up(struct ct *c);
/* CombinedLayers Remove, the scratch's and the layers' Removes with their SCSI unplugs. */
void ct_storage_down(struct ct *c);
/* hcsshim's spec for busybox with init "/bin/sh -c script" on c->rootfs. */
json_t *ct_spec(struct ct *c, const char *script);
/* A Create body for id (NULL: c->cid) with the bundle and the spec (stolen); malloc'd. */
char *ct_create_body(struct ct *c, const char *id, const char *bundle, json_t *spec);
/* Create; returns the answer (malloc'd). */
char *ct_create(struct ct *c, json_t *spec, int timeout_ms);
/* Start, then ExecuteProcess without OciProcess (the init): its pid. */
uint32_t ct_start_init(struct ct *c);
/* ExecuteProcess of an OCI process (argv) in the container: its pid. */
uint32_t ct_exec(struct ct *c, const char *const *argv);
/*
 * An init that exits 143 on SIGTERM: as PID 1 of its PID namespace it ignores a SIGTERM without
 * a handler, so it traps it, then says it is ready (/ready in its rootfs) and parks.
 */
#define CT_INIT_TRAPS_TERM "trap 'exit 143' TERM; touch /ready; sleep 1000 & wait"
/* Waits (10 s) until the init wrote /ready: its trap is set from then on. */
void ct_wait_ready(struct ct *c);
/* DeleteContainerState succeeds and the runc state is gone. */
void ct_delete(struct ct *c);
/* True when runc has state for id (NULL: c->cid) in the runc root. */
bool ct_runc_state(struct ct *c, const char *id);
/* Nothing the agent should have removed is left: mounts (both tables), runc state, cgroups. */
void ct_check_leftovers(struct ct *c);
/* ct_check_leftovers, agent_stop, then ct_finish. */
void ct_stop(struct ct *c);
/* Once the agent is gone: the env's teardown finds nothing, no loop device is left. */
void ct_finish(struct ct *c);
