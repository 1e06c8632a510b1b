/*
 * The runc runtime: every runc call is an asynchronous helper process of the loop. runc logs JSON
 * to a file so that its own error text can become the request's error message.
 */
#pragma once

#include <stdbool.h>

#include "child.h"

struct agent;

typedef void (*runc_done_cb)(void *data, int exit_code, const char *error);

/*
 * Runs `runc --root <runc_root> --log <log> --log-format json <args...>`; done gets runc's exit
 * code and, on failure, the last error runc logged (or its stderr). fds as in child_options
 * (NULL: stdin /dev/null, output captured).
 */
int runc_run(struct agent *a, const char *log, const char *const *args, const int *fds,
	     runc_done_cb done, void *data);

/* The same, synchronously (agent shutdown only). */
int runc_run_sync(struct agent *a, const char *const *args);

/* The last "error" or "fatal" message of a runc JSON log file, or NULL. malloc'd. */
char *runc_log_error(const char *path);
