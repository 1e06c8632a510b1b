/*
 * Integration harness: the real agent as a child process on the hybrid-vsock transport, driven
 * through libgcs (or raw frames), with the checks every test ends with: no leaked agent fds, no
 * zombies, the agent exits cleanly when the bridge closes.
 */
#pragma once

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lcow/gcs.h>

struct agent_proc {
	pid_t pid;
	char dir[256]; /* temp dir, removed by agent_stop */
	char base[300]; /* <dir>/hv */
	struct gcs_transport *t;
	struct gcs_bridge *b;
	int baseline_fds; /* agent fds right after negotiation */
	int listen_fd; /* raw mode: the bridge listener */
	int raw_fd; /* raw mode: the accepted bridge connection */
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
};

/* agent_start or agent_start_raw with extra agent flags and bridge options. */
void agent_start_opts(struct agent_proc *ap, const struct agent_start_opts *o);

/* Asserts the agent is clean (fds, zombies), closes the bridge, reaps the agent, cleans up. */
void agent_stop(struct agent_proc *ap);

int agent_fd_count(pid_t pid);
int agent_zombies(pid_t pid);

/* Raw frames on ap->raw_fd. */
void raw_send(struct agent_proc *ap, uint32_t type, uint64_t id, const char *json);
/* Reads one frame (5 s deadline); *ret_body malloc'd. */
void raw_recv(struct agent_proc *ap, uint32_t *ret_type, uint64_t *ret_id, char **ret_body);

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
