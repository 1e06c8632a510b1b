/*
 * The process requests (spec sections 7.4-7.7): ExecuteProcess dials the requested stdio ports
 * (stdin, stdout, stderr, in that order, without blocking the loop) and then starts a process of
 * the utility VM or hands the streams to the container; WaitForProcess, SignalProcess and
 * ResizeConsole find the process by container and pid.
 */
#pragma once

#include <stddef.h>

#include "gcs/hresult.h"

struct agent;
struct container;
struct request;

/* An ExecuteProcess whose streams are dialed. */
struct exec_op {
	struct request *req; /* req->m.execute_process_req */
	struct container *container; /* NULL: a process of the utility VM */
	int fds[3]; /* the dialed streams, -1 when not requested */
};

/* Answers the ExecuteProcess with ProcessId pid, or with the error when rc < 0; frees op. */
void exec_finish(struct exec_op *op, int rc, const struct gcs_error *err, uint32_t pid);

int exec_handle_execute(struct request *req, struct gcs_error *err);
int exec_handle_wait(struct request *req, struct gcs_error *err);
int exec_handle_signal(struct request *req, struct gcs_error *err);
int exec_handle_resize(struct request *req, struct gcs_error *err);

/* Execs still dialing (diagnostics) and their teardown (agent exit). */
size_t exec_pending(struct agent *a);
void exec_cancel_all(struct agent *a);
