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
struct request;

#include "exec_op.h"

int exec_handle_execute(struct request *req, struct gcs_error *err);
int exec_handle_wait(struct request *req, struct gcs_error *err);
int exec_handle_signal(struct request *req, struct gcs_error *err);
int exec_handle_resize(struct request *req, struct gcs_error *err);

/* Execs still dialing (diagnostics) and their teardown (agent exit). */
size_t exec_pending(struct agent *a);
void exec_cancel_all(struct agent *a);
