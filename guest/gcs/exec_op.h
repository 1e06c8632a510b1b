/*
 * An ExecuteProcess whose stdio streams are dialed, as exec.c hands it to the container that
 * runs it. A data type only: whoever gets it calls exec_finish exactly once.
 */
#pragma once

#include <stdint.h>

#include "gcs/hresult.h"

struct container;
struct request;

struct exec_op {
	struct request *req; /* req->m.execute_process_req */
	struct container *container; /* NULL: a process of the utility VM */
	int fds[3]; /* the dialed streams, -1 when not requested */
	/* Answers the ExecuteProcess (ProcessId pid, or the error when rc < 0) and frees op. */
	void (*finish)(struct exec_op *op, int rc, const struct gcs_error *err, uint32_t pid);
};

static inline void exec_finish(struct exec_op *op, int rc, const struct gcs_error *err,
			       uint32_t pid)
{
	op->finish(op, rc, err, pid);
}
