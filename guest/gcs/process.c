/*
 * The process table (see process.h): exits from the loop, output flushed before an exit is
 * reported, parked WaitForProcess requests answered on exit or timeout, signals, consoles.
 */
#include "process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "request.h"
#include "timeutil.h"

struct process {
	struct list node;
	struct agent *a;
	char *scope; /* the container's ID, "" for the utility VM */
	const struct process_owner_ops *ops;
	void *owner;
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
	struct request *req;
	struct loop_timer timer;
};

static void waiter_free(struct waiter *w)
{
	loop_timer_cancel(w->p->a->loop, &w->timer);
	list_del(&w->node);
	w->req->cancel = NULL;
	w->req->owner = NULL;
	free(w);
}

static void process_free(struct process *p)
{
	while (!list_empty(&p->waiters)) {
		struct waiter *w = list_entry(p->waiters.next, struct waiter, node);
		struct request *req = w->req;
		waiter_free(w);
		request_drop(req);
	}
	if (!p->exited)
		loop_unwatch_child(p->a->loop, p->pid);
	list_del(&p->node);
	relay_cancel(p->in);
	relay_cancel(p->out[0]);
	relay_cancel(p->out[1]);
	if (p->pty >= 0)
		close(p->pty);
	free(p->scope);
	free(p);
}

/* Answers every parked wait; the process is forgotten once one wait has been answered. */
static void answer_waiters(struct process *p)
{
	bool answered = false;

	while (!list_empty(&p->waiters)) {
		struct waiter *w = list_entry(p->waiters.next, struct waiter, node);
		struct request *req = w->req;
		struct gcs_proto_wait_resp resp = { .exit_code = (uint32_t)p->exit_code };

		waiter_free(w);
		request_reply(req, &resp);
		answered = true;
	}
	if (answered) {
		/* A container's notification follows its init's first answered wait. */
		if (p->ops && p->ops->reported)
			p->ops->reported(p->owner, p);
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
	if (p->ops && p->ops->done)
		p->ops->done(p->owner, p, p->exit_code);
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

static void on_exit_status(void *data, pid_t pid, int status)
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

struct process *process_attach(struct agent *a, const char *scope, pid_t pid, int pty_master,
			       const char *name, const struct process_owner_ops *ops, void *owner,
			       bool may_have_exited)
{
	struct process *p = calloc(1, sizeof(*p));

	if (!p || !(p->scope = strdup(scope ? scope : ""))) {
		free(p);
		return NULL;
	}
	p->a = a;
	p->pid = pid;
	p->pty = pty_master;
	p->ops = ops;
	p->owner = owner;
	snprintf(p->name, sizeof(p->name), "%s", name);
	list_init(&p->waiters);
	list_add_tail(&a->processes, &p->node);
	if (loop_watch_child(a->loop, pid, on_exit_status, p, may_have_exited) < 0) {
		list_del(&p->node);
		free(p->scope);
		free(p);
		return NULL;
	}
	return p;
}

static int start_relay(struct process *p, enum relay_dir dir, int src, int dst, struct relay **slot)
{
	int rc = relay_start(p->a->loop, dir, src, dst,
			     dir == RELAY_TO_PROCESS ? on_input_done : on_output_done, p, slot);

	if (rc == 0 && dir == RELAY_FROM_PROCESS)
		p->outputs++;
	return rc;
}

int process_relay(struct process *p, enum relay_dir dir, int src, int dst)
{
	struct relay **slot = dir == RELAY_TO_PROCESS ? &p->in :
			      p->out[0]		      ? &p->out[1] :
							&p->out[0];

	return start_relay(p, dir, src, dst, slot);
}

/* ---- processes of the utility VM ---- */

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

int process_spawn(struct agent *a, const struct gcs_proto_process_params *pp, int fds[3],
		  pid_t *ret_pid, struct gcs_error *err)
{
	struct spawn_stdio st = { .child_fd = { -1, -1, -1 } };
	char **argv = NULL, **env = NULL;
	const char *cwd = pp->working_directory[0] ? pp->working_directory : "/";
	char errbuf[256];
	struct process *p;
	struct stat sb;
	int master = -1, rc;
	pid_t pid;

	if ((rc = build_argv(pp, &argv, err)) < 0 || (rc = build_env(pp, &env, err)) < 0)
		goto out;
	if (stat(cwd, &sb) < 0) {
		rc = gcs_error_set(err, -errno, HR_FAIL, "working directory %s: %s", cwd,
				   strerror(errno));
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		rc = gcs_error_set(err, -ENOTDIR, HR_FAIL, "working directory %s: not a directory",
				   cwd);
		goto out;
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
			if (fds[i] < 0)
				continue;
			fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) & ~O_NONBLOCK);
			st.child_fd[i] = fds[i];
		}
	}
	rc = spawn_process(argv, env, cwd, &st, &pid, st.use_pty ? &master : NULL, errbuf,
			   sizeof(errbuf));
	if (rc < 0) {
		gcs_error_set(err, rc, HR_FAIL, "%s", errbuf);
		goto out;
	}
	p = process_attach(a, "", pid, master, argv[0], NULL, NULL, false);
	if (!p) {
		if (master >= 0)
			close(master);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		rc = gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
		goto out;
	}
	/* Relays own their fds; a pty gets a dup per direction. */
	if (st.use_pty && fds[0] >= 0)
		start_relay(p, RELAY_TO_PROCESS, TAKE_FD(fds[0]), fcntl(master, F_DUPFD_CLOEXEC, 3),
			    &p->in);
	if (st.use_pty) {
		int src = fcntl(master, F_DUPFD_CLOEXEC, 3);
		/* Without a stdout stream the terminal's output must still be drained. */
		int dst = fds[1] >= 0 ? TAKE_FD(fds[1]) : open("/dev/null", O_WRONLY | O_CLOEXEC);
		start_relay(p, RELAY_FROM_PROCESS, src, dst, &p->out[0]);
	}
	/* The process holds its streams now; with a console a requested stderr just ends. */
	log_debug("process started", LOG_INT("pid", pid), LOG_STR("cmd", argv[0]),
		  LOG_BOOL("pty", st.use_pty));
	*ret_pid = pid;
	rc = 0;
out:
	strv_free(argv);
	strv_free(env);
	return rc;
}

/* ---- lookups and requests ---- */

struct process *process_find(struct agent *a, const char *scope, uint32_t pid)
{
	struct list *it;

	for (it = a->processes.next; it != &a->processes; it = it->next) {
		struct process *p = list_entry(it, struct process, node);
		if ((uint32_t)p->pid == pid && strcmp(p->scope, scope) == 0)
			return p;
	}
	return NULL;
}

pid_t process_pid(const struct process *p)
{
	return p->pid;
}

bool process_has_exited(const struct process *p)
{
	return p->exited;
}

int process_pty(const struct process *p)
{
	return p->pty;
}

static void on_wait_timeout(struct loop_timer *t)
{
	struct waiter *w = container_of(t, struct waiter, timer);
	struct request *req = w->req;
	struct gcs_error err = { 0 };

	gcs_error_set(&err, -ETIMEDOUT, HR_VMCOMPUTE_TIMEOUT,
		      "timed out waiting for process %d to exit", w->p->pid);
	waiter_free(w);
	request_finish(req, -ETIMEDOUT, &err);
}

/* The connection of a parked wait is gone. */
static void on_wait_cancel(struct request *req)
{
	waiter_free(req->owner);
	request_drop(req);
}

int process_wait(struct process *p, struct request *req, uint32_t timeout_ms, struct gcs_error *err)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	w->p = p;
	w->req = req;
	req->owner = w;
	req->cancel = on_wait_cancel;
	list_add_tail(&p->waiters, &w->node);
	if (p->done) {
		answer_waiters(p);
		return REQUEST_KEPT;
	}
	if (timeout_ms != GCS_WAIT_INFINITE)
		loop_timer_arm(p->a->loop, &w->timer, timeout_ms, on_wait_timeout);
	return REQUEST_KEPT;
}

int process_signal(struct process *p, int sig, struct gcs_error *err)
{
	if (sig < 1 || sig >= NSIG)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid signal %d", sig);
	if (p->exited || kill(p->pid, sig) < 0)
		return gcs_error_set(err, -ESRCH, HR_NOT_FOUND, "process %d not found (exited)",
				     p->pid);
	if (p->ops && p->ops->signaled)
		p->ops->signaled(p->owner, p, sig);
	log_debug("signaled process", LOG_INT("pid", p->pid), LOG_INT("signal", sig));
	return 0;
}

int process_resize(struct process *p, uint16_t rows, uint16_t cols, struct gcs_error *err)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };

	if (p->pty < 0)
		return gcs_error_set(err, -ENOTTY, HR_INVALIDARG, "process %d has no console",
				     p->pid);
	if (ioctl(p->pty, TIOCSWINSZ, &ws) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "resize console of process %d: %s",
				     p->pid, strerror(errno));
	return 0;
}

void process_kill_scope(struct agent *a, const char *scope)
{
	struct list *it;

	for (it = a->processes.next; it != &a->processes; it = it->next) {
		struct process *p = list_entry(it, struct process, node);
		if (!p->exited && strcmp(p->scope, scope) == 0)
			kill(p->pid, SIGKILL);
	}
}

size_t process_live_count(struct agent *a, const char *scope)
{
	size_t n = 0;

	for (struct list *it = a->processes.next; it != &a->processes; it = it->next) {
		struct process *p = list_entry(it, struct process, node);
		n += !p->exited && strcmp(p->scope, scope) == 0;
	}
	return n;
}

static size_t process_live_count_all(struct agent *a)
{
	size_t n = 0;

	for (struct list *it = a->processes.next; it != &a->processes; it = it->next)
		n += !list_entry(it, struct process, node)->exited;
	return n;
}

void process_forget_scope(struct agent *a, const char *scope)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->processes)
	{
		struct process *p = list_entry(it, struct process, node);
		if (strcmp(p->scope, scope) == 0)
			process_free(p);
	}
}

/* ---- diagnostics and teardown ---- */

void process_dump(struct agent *a, char *buf, size_t len)
{
	struct list *it;
	size_t n = 0;

#define OUT(...)                                                              \
	do {                                                                  \
		if (n < len)                                                  \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__); \
	} while (0)
	OUT("processes: %zu, execs dialing stdio: %zu\n", list_count(&a->processes),
	    list_count(&a->pending_execs));
	for (it = a->processes.next; it != &a->processes; it = it->next) {
		struct process *p = list_entry(it, struct process, node);
		char d[160];

		if (p->done)
			OUT("  pid %d %s%s%s: exited %d, output flushed, %zu waiters\n", p->pid,
			    p->name, p->scope[0] ? " of " : "", p->scope, p->exit_code,
			    list_count(&p->waiters));
		else if (p->exited)
			OUT("  pid %d %s%s%s: exited %d, flushing output, %zu waiters\n", p->pid,
			    p->name, p->scope[0] ? " of " : "", p->scope, p->exit_code,
			    list_count(&p->waiters));
		else
			OUT("  pid %d %s%s%s: running%s, %zu waiters\n", p->pid, p->name,
			    p->scope[0] ? " of " : "", p->scope, p->pty >= 0 ? " on a pty" : "",
			    list_count(&p->waiters));
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
	struct list *it;
	int64_t deadline;

	/*
	 * Everything first, then the reaping: the init of a pid namespace does not finish until
	 * every process of its namespace is reaped, and some of those are the agent's children.
	 */
	for (it = a->processes.next; it != &a->processes; it = it->next) {
		struct process *p = list_entry(it, struct process, node);
		if (!p->exited)
			kill(p->pid, SIGKILL);
	}
	deadline = time_now_ms() + 5000;
	while (process_live_count_all(a) > 0 && time_now_ms() < deadline) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0)
			break; /* ECHILD: none left */
		if (pid == 0) {
			usleep(1000);
			continue;
		}
		for (it = a->processes.next; it != &a->processes; it = it->next) {
			struct process *p = list_entry(it, struct process, node);
			if (p->pid == pid && !p->exited) {
				loop_unwatch_child(a->loop, p->pid);
				p->exited = true;
			}
		}
	}
	while (!list_empty(&a->processes)) {
		struct process *p = list_entry(a->processes.next, struct process, node);
		if (!p->exited) {
			log_warning("a process did not exit at shutdown", LOG_INT("pid", p->pid));
			loop_unwatch_child(a->loop, p->pid);
			p->exited = true;
		}
		process_free(p);
	}
}
