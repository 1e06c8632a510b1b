/* ExecuteProcess, WaitForProcess, SignalProcess, ResizeConsole: see exec.h. */
#include "exec.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "container.h"
#include "log.h"
#include "process.h"
#include "request.h"
#include "timeutil.h"

/* A stdio port must accept within this time; a full backlog is retried until then. */
#define EXEC_DIAL_TIMEOUT_MS 5000
#define EXEC_DIAL_RETRY_MS 10

struct exec_dial {
	struct exec_op op;
	struct agent *a;
	struct list node; /* in a->pending_execs while dialing */
	bool dialing;
	int stage; /* next stream to dial */
	struct loop_source src;
	struct loop_timer timer;
	int64_t deadline;
};

static void dial_free(struct exec_dial *d)
{
	if (d->src.added) {
		/* a connect in flight */
		int fd = d->src.fd;
		loop_del(d->a->loop, &d->src);
		close(fd);
	}
	loop_timer_cancel(d->a->loop, &d->timer);
	for (int i = 0; i < 3; i++)
		if (d->op.fds[i] >= 0)
			close(d->op.fds[i]);
	if (d->dialing)
		list_del(&d->node);
	free(d);
}

static void finish(struct exec_op *op, int rc, const struct gcs_error *err, uint32_t pid)
{
	struct exec_dial *d = container_of(op, struct exec_dial, op);

	if (rc < 0) {
		request_finish(op->req, rc, err);
	} else {
		struct gcs_proto_execute_process_resp resp = { .process_id = pid };
		request_reply(op->req, &resp);
	}
	dial_free(d);
}

static uint32_t stream_port(const struct gcs_proto_execute_process_req *req, int i)
{
	const struct gcs_proto_process_params *pp = &req->params;
	bool want = i == 0 ? pp->create_stdin_pipe :
		    i == 1 ? pp->create_stdout_pipe :
			     pp->create_stderr_pipe;

	if (!want)
		return 0;
	return i == 0 ? req->vsock_stdio.stdin_port :
	       i == 1 ? req->vsock_stdio.stdout_port :
			req->vsock_stdio.stderr_port;
}

/* Every stream is connected: start the process, or give the streams to the container. */
static void dialed(struct exec_dial *d)
{
	struct exec_op *op = &d->op;
	struct gcs_error err = { 0 };
	pid_t pid;
	int rc;

	list_del(&d->node);
	d->dialing = false;
	if (op->container) {
		container_exec(op);
		return;
	}
	rc = process_spawn(d->a, &op->req->m.execute_process_req.params, op->fds, &pid, &err);
	exec_finish(op, rc, &err, rc < 0 ? 0 : (uint32_t)pid);
}

static void dial_next(struct exec_dial *d);

static void dial_error(struct exec_dial *d, int rc)
{
	struct gcs_error err = { 0 };

	gcs_error_set(&err, rc, HR_FAIL, "stdio port %u: %s",
		      stream_port(&d->op.req->m.execute_process_req, d->stage),
		      rc == -ETIMEDOUT ? "the host did not accept the connection in time" :
					 strerror(-rc));
	exec_finish(&d->op, rc, &err, 0);
}

static void on_connected(struct loop_source *s, uint32_t events)
{
	struct exec_dial *d = container_of(s, struct exec_dial, src);
	int fd = s->fd;
	int rc;

	(void)events;
	loop_del(d->a->loop, &d->src);
	loop_timer_cancel(d->a->loop, &d->timer);
	rc = transport_connect_finish(fd);
	if (rc < 0) {
		close(fd);
		dial_error(d, rc);
		return;
	}
	d->op.fds[d->stage++] = fd;
	dial_next(d);
}

static void on_dial_timer(struct loop_timer *t)
{
	struct exec_dial *d = container_of(t, struct exec_dial, timer);

	if (d->src.added) {
		/* The connect in flight did not complete in time. */
		int fd = d->src.fd;
		loop_del(d->a->loop, &d->src);
		close(fd);
		dial_error(d, -ETIMEDOUT);
		return;
	}
	dial_next(d); /* a retry after a full backlog */
}

/* Dials the next requested stream without blocking: EINPROGRESS waits for EPOLLOUT. */
static void dial_next(struct exec_dial *d)
{
	const struct gcs_proto_execute_process_req *req = &d->op.req->m.execute_process_req;

	for (; d->stage < 3; d->stage++) {
		uint32_t port = stream_port(req, d->stage);
		int fd = -1, rc;

		if (!port)
			continue;
		rc = transport_connect_start(&d->a->opt.transport, port, &fd);
		if (rc == -EINPROGRESS) {
			rc = loop_add(d->a->loop, &d->src, fd, EPOLLOUT, on_connected);
			if (rc == 0) {
				loop_timer_arm(d->a->loop, &d->timer, time_left_ms(d->deadline),
					       on_dial_timer);
				return;
			}
			close(fd);
		}
		if (rc == -EAGAIN && time_left_ms(d->deadline) > 0) {
			/* A Unix listener with a full backlog: try again shortly. */
			loop_timer_arm(d->a->loop, &d->timer, EXEC_DIAL_RETRY_MS, on_dial_timer);
			return;
		}
		if (rc < 0) {
			dial_error(d, rc == -EAGAIN ? -ETIMEDOUT : rc);
			return;
		}
		d->op.fds[d->stage] = fd;
	}
	dialed(d);
}

int exec_handle_execute(struct request *req, struct gcs_error *err)
{
	struct agent *a = req->a;
	struct gcs_proto_execute_process_req *r = &req->m.execute_process_req;
	static const char *const names[] = { "StdIn", "StdOut", "StdErr" };
	const bool flags[3] = { r->params.create_stdin_pipe, r->params.create_stdout_pipe,
				r->params.create_stderr_pipe };
	struct container *ctr = NULL;
	struct exec_dial *d;

	if (!is_uvm_id(r->base.container_id) && !r->params.create_in_utility_vm) {
		int rc = container_prepare_exec(a, r, &ctr, err);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < 3; i++)
		if (flags[i] && stream_port(r, i) == 0)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "CreateStd%sPipe is set but "
					     "VsockStdioRelaySettings.%s has no port",
					     names[i] + 3, names[i]);
	d = calloc(1, sizeof(*d));
	if (!d)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	d->a = a;
	d->op.req = req;
	d->op.container = ctr;
	d->op.fds[0] = d->op.fds[1] = d->op.fds[2] = -1;
	d->op.finish = finish;
	d->src.fd = -1;
	d->deadline = time_now_ms() + EXEC_DIAL_TIMEOUT_MS;
	d->dialing = true;
	list_add_tail(&a->pending_execs, &d->node);
	dial_next(d);
	return REQUEST_KEPT;
}

/* The process a request names: by container (or the utility VM) and pid. */
static int lookup(struct request *req, uint32_t pid, struct process **ret, struct gcs_error *err)
{
	const char *cid = req->m.req.container_id ? req->m.req.container_id : "";
	const char *scope = "";
	struct process *p;

	if (!is_uvm_id(cid)) {
		if (!container_find(req->a, cid))
			return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND,
					     "container %s not found", cid);
		scope = cid;
	}
	p = process_find(req->a, scope, pid);
	if (!p)
		return gcs_error_set(err, -ESRCH, HR_NOT_FOUND, "process %u not found", pid);
	*ret = p;
	return 0;
}

int exec_handle_wait(struct request *req, struct gcs_error *err)
{
	struct gcs_proto_wait_req *r = &req->m.wait_req;
	struct process *p;
	int rc = lookup(req, r->process_id, &p, err);

	if (rc < 0)
		return rc;
	return process_wait(p, req, r->timeout_ms, err);
}

int exec_handle_signal(struct request *req, struct gcs_error *err)
{
	struct gcs_proto_signal_req *r = &req->m.signal_req;
	int sig = (r->has_options && r->signal) ? r->signal : SIGKILL;
	struct process *p;
	int rc = lookup(req, r->process_id, &p, err);

	if (rc < 0)
		return rc;
	return process_signal(p, sig, err);
}

int exec_handle_resize(struct request *req, struct gcs_error *err)
{
	struct gcs_proto_resize_req *r = &req->m.resize_req;
	struct process *p;
	int rc = lookup(req, r->process_id, &p, err);

	if (rc < 0)
		return rc;
	return process_resize(p, r->height, r->width, err);
}

size_t exec_pending(struct agent *a)
{
	return list_count(&a->pending_execs);
}

void exec_cancel_all(struct agent *a)
{
	while (!list_empty(&a->pending_execs)) {
		struct exec_dial *d = list_entry(a->pending_execs.next, struct exec_dial, node);
		request_drop(d->op.req);
		dial_free(d);
	}
}
