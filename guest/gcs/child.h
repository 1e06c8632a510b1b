/*
 * Helper processes (runc, mkfs) as events of the loop: started with posix_spawn, their stdout
 * and stderr collected, their exit delivered to a callback. The loop never waits for them.
 */
#pragma once

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

struct child_options {
	const char *cwd; /* NULL: the agent's */
	char *const *env; /* NULL: the agent's environment */
	int extra_fd; /* passed to the child as fd 3 when >= 0 (e.g. a console socket) */
	int stdin_fd; /* the child's stdin when >= 0, else /dev/null */
};

/*
 * Runs argv[0] (a path, or a name looked up in PATH) with argv; done is called once, after the
 * child has exited and both output pipes reached EOF. On failure to start, returns -errno and
 * done is not called. *ret_pid is the child's pid.
 */
int child_run(struct agent *a, char *const *argv, const struct child_options *o, child_done_cb done,
	      void *data, pid_t *ret_pid);

/* Number of helper processes still running (for DumpStacks). */
size_t child_count(struct agent *a);
/* Kills and reaps every helper (agent shutdown); callbacks are not called. */
void child_kill_all(struct agent *a);
