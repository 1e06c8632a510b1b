/*
 * Processes in the utility VM (ExecuteProcess with the null container ID, spec sections 7.4-7.7):
 * stdio ports are dialed in the order stdin, stdout, stderr before the process starts and the
 * answer goes out; WaitForProcess is parked until the process has exited and its output has been
 * flushed to the host; SignalProcess and ResizeConsole act on the live process.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "log.h"
#include "procspawn.h"
#include "relay.h"

struct process {
	struct list node;
	struct agent *a;
	struct container *container; /* NULL for a process of the utility VM */
	pid_t pid;
	char name[64];
	bool exited;
	bool done; /* exited and output flushed: the exit code can be reported */
	int exit_code;
	int outputs; /* output relays still running */
	struct relay *in;
	struct relay *out[2];
	int pty; /* master, for ResizeConsole; -1 without a console */
	struct list waiters;
};

struct waiter {
	struct list node;
	struct process *p;
	struct request_ctx c;
	struct loop_timer timer;
};

/* ---- completion ---- */

static void process_free(struct process *p)
{
	list_del(&p->node);
	relay_cancel(p->in);
	relay_cancel(p->out[0]);
	relay_cancel(p->out[1]);
	if (p->pty >= 0)
		close(p->pty);
	free(p);
}

static void waiter_free(struct agent *a, struct waiter *w)
{
	loop_timer_cancel(a->loop, &w->timer);
	list_del(&w->node);
	free(w);
}

/* Answers every parked wait; the process is forgotten once one wait has been answered. */
static void answer_waiters(struct process *p)
{
	struct agent *a = p->a;
	struct list *it, *tmp;
	bool answered = false;

	list_for_each_safe(it, tmp, &p->waiters)
	{
		struct waiter *w = list_entry(it, struct waiter, node);
		struct gcs_proto_wait_resp resp = { .exit_code = (uint32_t)p->exit_code };

		bridge_reply(a, &w->c, &resp);
		waiter_free(a, w);
		answered = true;
	}
	if (answered) {
		/* The container notification follows the init's first answered wait. */
		if (p->container)
			container_process_reported(p->container, p->pid);
		process_free(p);
	}
}

static void maybe_done(struct process *p)
{
	if (p->done || !p->exited || p->outputs > 0)
		return;
	p->done = true;
	if (p->pty >= 0) {
		close(p->pty);
		p->pty = -1;
	}
	log_debug("process finished", LOG_INT("pid", p->pid), LOG_INT("exit_code", p->exit_code));
	if (p->container)
		container_process_done(p->container, p->pid, p->exit_code);
	answer_waiters(p);
}

static void on_output_done(void *data, struct relay *r)
{
	struct process *p = data;

	for (int i = 0; i < 2; i++)
		if (p->out[i] == r)
			p->out[i] = NULL;
	p->outputs--;
	maybe_done(p);
}

static void on_input_done(void *data, struct relay *r)
{
	struct process *p = data;

	if (p->in == r)
		p->in = NULL;
}

static void process_exited(void *data, pid_t pid, int status)
{
	struct process *p = data;

	p->exited = true;
	p->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	log_debug("process exited", LOG_INT("pid", pid), LOG_INT("exit_code", p->exit_code));
	/* Nobody reads stdin any more: hang up on the host's stdin stream. */
	relay_cancel(p->in);
	p->in = NULL;
	maybe_done(p);
}

/* ---- ExecuteProcess ---- */

void exec_op_free(struct exec_op *op)
{
	loop_del(op->a->loop, &op->src);
	for (int i = 0; i < 3; i++)
		if (op->fds[i] >= 0)
			close(op->fds[i]);
	gcs_proto_release(&op->m);
	list_del(&op->node);
	free(op);
}

void exec_fail(struct exec_op *op, struct gcs_error *err)
{
	bridge_reply_error(op->a, &op->c, err);
	exec_op_free(op);
}

static int build_argv(const struct gcs_proto_process_params *pp, char ***ret, struct gcs_error *err)
{
	char **argv;
	int rc;

	if (pp->n_command_args > 0) {
		argv = calloc(pp->n_command_args + 1, sizeof(*argv));
		if (!argv)
			return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
		for (size_t i = 0; i < pp->n_command_args; i++) {
			argv[i] = strdup(pp->command_args[i]);
			if (!argv[i]) {
				strv_free(argv);
				return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
			}
		}
		*ret = argv;
		return 0;
	}
	if (!pp->command_line[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "neither CommandArgs nor CommandLine was given");
	rc = split_command_line(pp->command_line, &argv);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_INVALIDARG, "cannot split CommandLine \"%s\"",
				     pp->command_line);
	if (!argv[0]) {
		strv_free(argv);
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "CommandLine is empty");
	}
	*ret = argv;
	return 0;
}

static int build_env(const struct gcs_proto_process_params *pp, char ***ret, struct gcs_error *err)
{
	char **env = calloc(pp->n_environment + 1, sizeof(*env));

	if (!env)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	for (size_t i = 0; i < pp->n_environment; i++) {
		if (asprintf(&env[i], "%s=%s", pp->environment[i].name, pp->environment[i].value) <
		    0) {
			env[i] = NULL;
			strv_free(env);
			return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
		}
	}
	*ret = env;
	return 0;
}

static int start_relay(struct process *p, enum relay_dir dir, int src, int dst, struct relay **slot)
{
	int rc = relay_start(p->a->loop, dir, src, dst,
			     dir == RELAY_TO_PROCESS ? on_input_done : on_output_done, p, slot);

	if (rc == 0 && dir == RELAY_FROM_PROCESS)
		p->outputs++;
	return rc;
}

/* All requested ports are connected: start the process and its relays, then answer. */
static void exec_spawn(struct exec_op *op)
{
	struct gcs_proto_execute_process_req *req = &op->m.execute_process_req;
	const struct gcs_proto_process_params *pp = &req->params;
	struct gcs_error err = { 0 };
	struct spawn_stdio st = { .child_fd = { -1, -1, -1 } };
	char **argv = NULL, **env = NULL;
	const char *cwd = pp->working_directory[0] ? pp->working_directory : "/";
	char errbuf[256];
	struct process *p = NULL;
	struct stat sb;
	int master = -1, rc;
	pid_t pid;

	if (build_argv(pp, &argv, &err) < 0 || build_env(pp, &env, &err) < 0)
		goto fail;
	if (stat(cwd, &sb) < 0) {
		gcs_error_set(&err, -errno, HR_FAIL, "working directory %s: %s", cwd,
			      strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(sb.st_mode)) {
		gcs_error_set(&err, -ENOTDIR, HR_FAIL, "working directory %s: not a directory",
			      cwd);
		goto fail;
	}
	st.use_pty = pp->emulate_console;
	if (pp->has_console_size) {
		st.rows = pp->console_size[0];
		st.cols = pp->console_size[1];
	}
	if (!st.use_pty) {
		/*
		 * Without a console the connected stream itself becomes the process's fd, as
		 * hcsshim's vsockexec does for the agent: no relay, no copy, and everything the
		 * process wrote is in the host's stream when it exits. (A blocking fd: it is the
		 * process's now.)
		 */
		for (int i = 0; i < 3; i++) {
			if (op->fds[i] < 0)
				continue;
			fcntl(op->fds[i], F_SETFL, fcntl(op->fds[i], F_GETFL) & ~O_NONBLOCK);
			st.child_fd[i] = op->fds[i];
		}
	}
	rc = spawn_process(argv, env, cwd, &st, &pid, st.use_pty ? &master : NULL, errbuf,
			   sizeof(errbuf));
	if (rc < 0) {
		gcs_error_set(&err, rc, HR_FAIL, "%s", errbuf);
		goto fail;
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		if (master >= 0)
			close(master);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		goto fail;
	}
	p->a = op->a;
	p->pid = pid;
	p->pty = master;
	snprintf(p->name, sizeof(p->name), "%s", argv[0]);
	list_init(&p->waiters);
	list_add_tail(&op->a->processes, &p->node);
	loop_watch_child(op->a->loop, pid, process_exited, p);

	/* Relays own their fds; a pty gets a dup per direction. */
	if (st.use_pty && op->fds[0] >= 0)
		start_relay(p, RELAY_TO_PROCESS, TAKE_FD(op->fds[0]),
			    fcntl(master, F_DUPFD_CLOEXEC, 3), &p->in);
	if (st.use_pty) {
		int src = fcntl(master, F_DUPFD_CLOEXEC, 3);
		/* Without a stdout stream the terminal's output must still be drained. */
		int dst = op->fds[1] >= 0 ? TAKE_FD(op->fds[1]) :
					    open("/dev/null", O_WRONLY | O_CLOEXEC);
		start_relay(p, RELAY_FROM_PROCESS, src, dst, &p->out[0]);
	}
	/* The process holds its streams now; with a console a requested stderr just ends. */

	log_debug("process started", LOG_INT("pid", pid), LOG_STR("cmd", argv[0]),
		  LOG_STR("pty", st.use_pty ? "true" : "false"));
	{
		struct gcs_proto_execute_process_resp resp = { .process_id = (uint32_t)pid };
		bridge_reply(op->a, &op->c, &resp);
	}
	strv_free(argv);
	strv_free(env);
	exec_op_free(op);
	return;
fail:
	strv_free(argv);
	strv_free(env);
	exec_fail(op, &err);
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

static void exec_next(struct exec_op *op);

static void on_connected(struct loop_source *s, uint32_t events)
{
	struct exec_op *op = container_of(s, struct exec_op, src);
	struct gcs_error err = { 0 };
	int fd = s->fd;
	int rc;

	(void)events;
	loop_del(op->a->loop, &op->src);
	rc = transport_connect_finish(fd);
	if (rc < 0) {
		close(fd);
		gcs_error_set(&err, rc, HR_FAIL, "stdio port %u: %s",
			      stream_port(&op->m.execute_process_req, op->stage), strerror(-rc));
		exec_fail(op, &err);
		return;
	}
	op->fds[op->stage++] = fd;
	exec_next(op);
}

/* Dials the next requested stream (in the order stdin, stdout, stderr), then spawns. */
static void exec_next(struct exec_op *op)
{
	struct gcs_error err = { 0 };

	for (; op->stage < 3; op->stage++) {
		uint32_t port = stream_port(&op->m.execute_process_req, op->stage);
		int fd = -1, rc;

		if (!port)
			continue;
		rc = transport_connect_start(&op->a->opt.transport, port, &fd);
		if (rc == -EINPROGRESS) {
			rc = loop_add(op->a->loop, &op->src, fd, EPOLLOUT, on_connected);
			if (rc == 0)
				return;
			close(fd);
		}
		if (rc < 0) {
			gcs_error_set(&err, rc, HR_FAIL, "stdio port %u: %s", port, strerror(-rc));
			exec_fail(op, &err);
			return;
		}
		op->fds[op->stage] = fd;
	}
	if (op->container)
		container_exec(op);
	else
		exec_spawn(op);
}

int process_handle_exec(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			struct gcs_error *err)
{
	struct gcs_proto_execute_process_req *req = &m->execute_process_req;
	static const char *const names[] = { "StdIn", "StdOut", "StdErr" };
	const bool flags[3] = { req->params.create_stdin_pipe, req->params.create_stdout_pipe,
				req->params.create_stderr_pipe };
	struct exec_op *op;

	struct container *ctr = NULL;

	if (!is_null_container(req->base.container_id) && !req->params.create_in_utility_vm) {
		int rc = container_prepare_exec(a, req, &ctr, err);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < 3; i++)
		if (flags[i] && stream_port(req, i) == 0)
			return gcs_error_set(
				err, -EINVAL, HR_INVALIDARG,
				"CreateStd%sPipe is set but VsockStdioRelaySettings.%s "
				"has no port",
				names[i] + 3, names[i]);
	op = calloc(1, sizeof(*op));
	if (!op)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	op->a = a;
	op->c = *c;
	op->container = ctr;
	op->fds[0] = op->fds[1] = op->fds[2] = -1;
	/* Take the decoded request over: it must live until the ports are dialed. */
	memcpy(&op->m, m, sizeof(*m));
	memset(m, 0, sizeof(*m));
	list_add_tail(&a->pending_execs, &op->node);
	exec_next(op);
	return 1;
}

/* ---- WaitForProcess, SignalProcess, ResizeConsole ---- */

static struct process *find_process(struct agent *a, struct container *c, uint32_t pid)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->processes)
	{
		struct process *p = list_entry(it, struct process, node);
		if ((uint32_t)p->pid == pid && p->container == c)
			return p;
	}
	return NULL;
}

static int lookup(struct agent *a, const struct gcs_proto_request_base *base, uint32_t pid,
		  struct process **ret, struct gcs_error *err)
{
	struct container *c = NULL;
	struct process *p;

	if (!is_null_container(base->container_id)) {
		c = container_find(a, base->container_id);
		if (!c)
			return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND,
					     "container %s not found", base->container_id);
	}
	p = find_process(a, c, pid);
	if (!p)
		return gcs_error_set(err, -ESRCH, HR_NOT_FOUND, "process %u not found", pid);
	*ret = p;
	return 0;
}

struct process *process_attach(struct agent *a, struct container *c, pid_t pid, int pty_master,
			       const char *name)
{
	struct process *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->a = a;
	p->container = c;
	p->pid = pid;
	p->pty = pty_master;
	snprintf(p->name, sizeof(p->name), "%s", name);
	list_init(&p->waiters);
	list_add_tail(&a->processes, &p->node);
	loop_watch_child(a->loop, pid, process_exited, p);
	return p;
}

int process_relay(struct process *p, enum relay_dir dir, int src, int dst)
{
	struct relay **slot = dir == RELAY_TO_PROCESS ? &p->in :
			      p->out[0]		      ? &p->out[1] :
							&p->out[0];

	return start_relay(p, dir, src, dst, slot);
}

struct process *process_find(struct agent *a, struct container *c, pid_t pid)
{
	return find_process(a, c, (uint32_t)pid);
}

/* Forgets every process of a container (DeleteContainerState); they have all exited. */
void process_forget_container(struct agent *a, struct container *c)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->processes)
	{
		struct process *p = list_entry(it, struct process, node);
		struct list *wi, *wt;

		if (p->container != c)
			continue;
		if (!p->exited)
			loop_unwatch_child(a->loop, p->pid);
		list_for_each_safe(wi, wt, &p->waiters)
			waiter_free(a, list_entry(wi, struct waiter, node));
		process_free(p);
	}
}

static void on_wait_timeout(struct loop_timer *t)
{
	struct waiter *w = container_of(t, struct waiter, timer);
	struct gcs_error err = { 0 };

	gcs_error_set(&err, -ETIMEDOUT, HR_VMCOMPUTE_TIMEOUT,
		      "timed out waiting for process %d to exit", w->p->pid);
	bridge_reply_error(w->p->a, &w->c, &err);
	waiter_free(w->p->a, w);
}

int process_handle_wait(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			struct gcs_error *err)
{
	struct gcs_proto_wait_req *req = &m->wait_req;
	struct process *p;
	struct waiter *w;
	int rc = lookup(a, &req->base, req->process_id, &p, err);

	if (rc < 0)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	w->p = p;
	w->c = *c;
	list_add_tail(&p->waiters, &w->node);
	if (p->done) {
		answer_waiters(p);
		return 1;
	}
	if (req->timeout_ms != GCS_WAIT_INFINITE)
		loop_timer_arm(a->loop, &w->timer, req->timeout_ms, on_wait_timeout);
	return 1;
}

int process_handle_signal(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			  struct gcs_error *err)
{
	struct gcs_proto_signal_req *req = &m->signal_req;
	int sig = (req->has_options && req->signal) ? req->signal : SIGKILL;
	struct process *p;
	int rc = lookup(a, &req->base, req->process_id, &p, err);

	(void)c;
	if (rc < 0)
		return rc;
	if (sig < 1 || sig >= NSIG)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid signal %d", sig);
	if (p->exited || kill(p->pid, sig) < 0)
		return gcs_error_set(err, -ESRCH, HR_NOT_FOUND, "process %u not found (exited)",
				     req->process_id);
	if (p->container)
		container_note_signal(p->container, p->pid, sig);
	log_debug("signaled process", LOG_INT("pid", p->pid), LOG_INT("signal", sig));
	return 0;
}

int process_handle_resize(struct agent *a, const struct request_ctx *c, union gcs_proto_msg *m,
			  struct gcs_error *err)
{
	struct gcs_proto_resize_req *req = &m->resize_req;
	struct winsize ws = { .ws_row = req->height, .ws_col = req->width };
	struct process *p;
	int rc = lookup(a, &req->base, req->process_id, &p, err);

	(void)c;
	if (rc < 0)
		return rc;
	if (p->pty < 0)
		return gcs_error_set(err, -ENOTTY, HR_INVALIDARG, "process %u has no console",
				     req->process_id);
	if (ioctl(p->pty, TIOCSWINSZ, &ws) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "resize console of process %u: %s",
				     req->process_id, strerror(errno));
	return 0;
}

/* ---- diagnostics and teardown ---- */

void process_dump(struct agent *a, char *buf, size_t len)
{
	struct list *it, *tmp;
	size_t n = 0;

#define OUT(...)                                                              \
	do {                                                                  \
		if (n < len)                                                  \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__); \
	} while (0)
	OUT("processes: %zu, execs dialing stdio: %zu\n", list_count(&a->processes),
	    list_count(&a->pending_execs));
	list_for_each_safe(it, tmp, &a->processes)
	{
		struct process *p = list_entry(it, struct process, node);
		char d[160];

		if (p->done)
			OUT("  pid %d %s: exited %d, output flushed, %zu waiters\n", p->pid,
			    p->name, p->exit_code, list_count(&p->waiters));
		else if (p->exited)
			OUT("  pid %d %s: exited %d, flushing output, %zu waiters\n", p->pid,
			    p->name, p->exit_code, list_count(&p->waiters));
		else
			OUT("  pid %d %s: running%s, %zu waiters\n", p->pid, p->name,
			    p->pty >= 0 ? " on a pty" : "", list_count(&p->waiters));
		if (p->in) {
			relay_describe(p->in, d, sizeof(d));
			OUT("    relay %s\n", d);
		}
		for (int i = 0; i < 2; i++) {
			if (p->out[i]) {
				relay_describe(p->out[i], d, sizeof(d));
				OUT("    relay %s\n", d);
			}
		}
	}
	{
		_cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
		struct dirent *de;
		OUT("open fds:\n");
		while (d && (de = readdir(d))) {
			char path[64], target[256];
			ssize_t l;
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
			l = readlink(path, target, sizeof(target) - 1);
			target[l < 0 ? 0 : l] = '\0';
			OUT("  %s -> %s\n", de->d_name, target);
		}
	}
#undef OUT
	if (n >= len && len > 16)
		memcpy(buf + len - 16, "\n[truncated]\n", 14);
}

void process_kill_all(struct agent *a)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->pending_execs)
		exec_op_free(list_entry(it, struct exec_op, node));
	list_for_each_safe(it, tmp, &a->processes)
	{
		struct process *p = list_entry(it, struct process, node);
		struct list *wi, *wt;

		if (!p->exited) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			loop_unwatch_child(a->loop, p->pid);
		}
		list_for_each_safe(wi, wt, &p->waiters)
			waiter_free(a, list_entry(wi, struct waiter, node));
		process_free(p);
	}
}
