/*
 * Helper processes (runc, mkfs) as events of the loop: started with posix_spawn, their stdout
 * and stderr collected, their exit delivered to a callback. The loop never waits for them.
 */
#pragma once

#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct agent;

struct child_result {
	int status; /* as from waitpid */
	int exit_code; /* status, or 128 + signal */
	bool timed_out; /* the deadline passed: the child (and its group) got SIGKILL */
	const char *out; /* stdout, NUL-terminated (at most CHILD_OUTPUT_MAX bytes kept) */
	size_t out_len;
	const char *err; /* stderr, likewise */
	size_t err_len;
};

#define CHILD_OUTPUT_MAX (256 * 1024)

typedef void (*child_done_cb)(void *data, const struct child_result *r);

#define CHILD_NULL (-1) /* the stream is /dev/null */
#define CHILD_CAPTURE (-2) /* the stream is collected into the result */

struct child_options {
	const char *cwd; /* NULL: the agent's */
	char *const *env; /* NULL: the agent's environment */
	/*
	 * The child's fds 0-2: an fd of ours (dup'd in), CHILD_NULL or CHILD_CAPTURE. Without
	 * options: stdin /dev/null, stdout and stderr captured.
	 */
	int fds[3];
	/*
	 * A deadline (0: none): when it passes, the child's process group (see own_group) or the
	 * child gets SIGKILL, and done reports timed_out once it has been reaped.
	 */
	int timeout_ms;
	/* The child leads a process group of its own: the deadline and cancel kill the group. */
	bool own_group;
	/*
	 * Called instead of done when the helper is killed without completing (child_kill_all), so
	 * that the owner of data can free it. NULL: nothing to free.
	 */
	void (*release)(void *data);
};

/*
 * Runs argv[0] (a path, or a name looked up in PATH) with argv; done is called once, after the
 * child has exited and both output pipes reached EOF (or, when something the child started
 * still holds them, a moment after its exit). On failure to start, returns -errno and done is
 * not called. *ret_pid is the child's pid.
 */
int child_run(struct agent *a, char *const *argv, const struct child_options *o, child_done_cb done,
	      void *data, pid_t *ret_pid);

/*
 * Kills the helper pid (its group too when it has one) with SIGKILL, reaps it and forgets it:
 * done is not called, release neither. Nothing happens for a pid that is not a running helper.
 */
void child_cancel(struct agent *a, pid_t pid);

/*
 * Runs argv synchronously with stdin and stdout on /dev/null and stderr captured into err
 * (NUL-terminated, truncated to len), for at most timeout_ms (0: no deadline; on expiry the
 * child's group gets SIGKILL). Only where the loop does not run yet (start-up). Returns the exit
 * code (or 128 + signal), -ETIMEDOUT when the deadline passed, or -errno when it cannot start.
 */
int child_run_sync(char *const *argv, int timeout_ms, char *err, size_t len);

/*
 * Spawn attributes for a helper: an empty signal mask (the agent blocks SIGCHLD for its
 * signalfd) and SIGPIPE, which the agent ignores, back at its default.
 */
void child_spawnattr_init(posix_spawnattr_t *attr);

/* Number of helper processes still running (for DumpStacks). */
size_t child_count(struct agent *a);
/* Kills and reaps every helper (agent shutdown); done is not called, release is. */
void child_kill_all(struct agent *a);
