/*
 * Integration harness: the real agent as a child process on the hybrid-vsock transport, driven
 * through libgcs (or raw frames), with the checks every test ends with: no leaked agent fds, no
 * zombies, the agent exits cleanly when the bridge closes.
 */
#pragma once

#include <check.h>
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

/* Builds a NULL-terminated argv of "/bin/sh", "-c", script. */
#define SH(script) ((const char *const[]){ "/bin/sh", "-c", (script), NULL })
