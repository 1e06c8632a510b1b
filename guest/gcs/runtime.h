/*
 * The container runtime (design.md, "Runtime"): what container.c asks of runc today and of a
 * native runtime later. Every operation is asynchronous: it starts, returns, and its completion
 * callback runs later on the loop, exactly once, unless the call is cancelled. Every call has a
 * deadline (agent option runtime_timeout_ms, default 30 s): when it passes the runtime's process
 * is killed and the callback reports timed_out. Nothing here blocks the loop.
 *
 * The runtime knows containers by ID only; where it keeps its own files (logs, pid files,
 * console sockets, process documents) is its business, and it removes them when a call ends.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct agent;
struct runtime_call;

/* What a call ended with. Valid during the callback only. */
struct runtime_result {
	/*
	 * 0: the operation succeeded. Else a negative errno: -ETIMEDOUT (the deadline passed),
	 * -EIO (the runtime reported a failure), -EBADMSG (its answer could not be read), ...
	 */
	int error;
	int exit_code; /* the runtime process's exit code, 0 on success (128 + signal if killed) */
	bool timed_out;
	/*
	 * On failure, why: the runtime's own words (runc: the last "error" or "fatal" msg of its
	 * JSON log, else its stderr, trimmed), "runc <verb> did not finish within N ms: <stderr>"
	 * when timed out. "" on success.
	 */
	const char *message;
	const char *out; /* its stdout (ps, state), NUL-terminated; "" when none */
	size_t out_len;
	pid_t pid; /* create: the container's init; exec: the new process */
	/* create and exec with a terminal: the pty master; take it (set -1) or it is closed. */
	int pty_master;
	const pid_t *pids; /* ps: every process of the container */
	size_t n_pids;
};

typedef void (*runtime_done_fn)(void *data, struct runtime_result *r);

/* The stdio of a container's init (create) or of an exec'd process. */
struct runtime_stdio {
	/* A pty is allocated for the process; its master arrives as result.pty_master. */
	bool terminal;
	/* Without a terminal: the process's fds 0-2, which the runtime passes on (-1: /dev/null). */
	int fds[3];
	/*
	 * The read end of the pipe behind fds[2], or -1. runc writes its own errors to the stderr
	 * it passes on: on failure, what is in that pipe becomes part of the message.
	 */
	int stderr_peek;
};

/*
 * One runtime. Each asynchronous operation returns 0 when started (then done(data, result)
 * follows, and *ret_call, if ret_call is not NULL, is the handle for cancel until done runs) or
 * a negative errno when it could not start (done is never called). IDs are passed to the
 * runtime as single arguments after "--": no ID can be taken for an option.
 */
struct runtime {
	const char *name;
	/* Creates the container from <bundle>/config.json; its init waits for start. */
	int (*create)(struct agent *a, const char *id, const char *bundle,
		      const struct runtime_stdio *io, runtime_done_fn done, void *data,
		      struct runtime_call **ret_call);
	/* Lets the created init run. */
	int (*start)(struct agent *a, const char *id, runtime_done_fn done, void *data,
		     struct runtime_call **ret_call);
	/* Starts process (an OCI process object, complete) in the container, detached. */
	int (*exec)(struct agent *a, const char *id, json_t *process,
		    const struct runtime_stdio *io, runtime_done_fn done, void *data,
		    struct runtime_call **ret_call);
	/* Sends sig to the init, or with all to every process of the container. */
	int (*kill)(struct agent *a, const char *id, int sig, bool all, runtime_done_fn done,
		    void *data, struct runtime_call **ret_call);
	/* Freezes / thaws every process of the container. */
	int (*pause)(struct agent *a, const char *id, runtime_done_fn done, void *data,
		     struct runtime_call **ret_call);
	int (*resume)(struct agent *a, const char *id, runtime_done_fn done, void *data,
		      struct runtime_call **ret_call);
	/* Applies an OCI LinuxResources object. */
	int (*update)(struct agent *a, const char *id, json_t *resources, runtime_done_fn done,
		      void *data, struct runtime_call **ret_call);
	/*
	 * Deletes the container (runc delete); force kills it first if it still runs (or was never
	 * started).
	 */
	int (*remove)(struct agent *a, const char *id, bool force, runtime_done_fn done, void *data,
		      struct runtime_call **ret_call);
	/* The pids of the container's processes: result.pids. */
	int (*ps)(struct agent *a, const char *id, runtime_done_fn done, void *data,
		  struct runtime_call **ret_call);
	/* The runtime's view of the container, as its JSON document: result.out. */
	int (*state)(struct agent *a, const char *id, runtime_done_fn done, void *data,
		     struct runtime_call **ret_call);
	/* Kills the call's process, reaps it and frees the call; done is not called. */
	void (*cancel)(struct agent *a, struct runtime_call *call);

	/* Synchronous, reading the runtime's state (no process): fine on the loop. */

	/* The cgroup directories of a container (NULL-terminated; runtime_strv_free). */
	int (*cgroup_paths)(struct agent *a, const char *id, char ***ret_paths);
	/* The IDs of every container the runtime knows (NULL-terminated; runtime_strv_free). */
	int (*list)(struct agent *a, char ***ret_ids);
	/*
	 * Start-up only (the loop does not run yet): kills and removes a container, waiting at most
	 * the deadline. Returns 0, or a negative errno with the runtime's words in msg.
	 */
	int (*remove_sync)(struct agent *a, const char *id, char *msg, size_t len);
};

extern const struct runtime runtime_runc;

/* The runtime of the agent's containers (runc until the native runtime exists). */
const struct runtime *runtime_get(const struct agent *a);

/* Frees a NULL-terminated list of malloc'd strings (NULL is fine). */
void runtime_strv_free(char **v);

/* Deadline of every runtime call, from the agent's options (default 30 s). */
int runtime_timeout_ms(const struct agent *a);
