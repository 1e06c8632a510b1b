/*
 * Helper processes (runc, mkfs) as events of the loop: started with posix_spawn, their stdout
 * and stderr collected, their exit delivered to a callback. The loop never waits for them.
 */
#pragma once

#include <spawn.h>
#include <stddef.h>
#include <sys/types.h>

struct agent;

struct child_result {
	int status; /* as from waitpid */
	int exit_code; /* status, or 128 + signal */
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
};

/*
 * Runs argv[0] (a path, or a name looked up in PATH) with argv; done is called once, after the
 * child has exited and both output pipes reached EOF. On failure to start, returns -errno and
 * done is not called. *ret_pid is the child's pid.
 */
int child_run(struct agent *a, char *const *argv, const struct child_options *o, child_done_cb done,
	      void *data, pid_t *ret_pid);

/*
 * Spawn attributes for a helper: an empty signal mask (the agent blocks SIGCHLD for its
 * signalfd) and SIGPIPE, which the agent ignores, back at its default.
 */
void child_spawnattr_init(posix_spawnattr_t *attr);

/* Number of helper processes still running (for DumpStacks). */
size_t child_count(struct agent *a);
/* Kills and reaps every helper (agent shutdown); callbacks are not called. */
void child_kill_all(struct agent *a);
