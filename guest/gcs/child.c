/* Helper processes whose completion is an event of the loop. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "log.h"

extern char **environ;

/*
 * How long output pipes may stay open after the helper exited: something it started (runc's
 * container init) may hold them; what arrived by then is the result.
 */
#define CHILD_DRAIN_MS 200
/* How long child_cancel and child_kill_all wait for a killed helper before the loop reaps it. */
#define CHILD_REAP_MS 1000

struct helper;

struct helper_pipe {
	struct loop_source src;
	struct helper *h;
	char *buf;
	size_t len;
	bool open;
};

struct helper {
	struct list node;
	struct agent *a;
	pid_t pid;
	bool exited;
	bool timed_out;
	bool own_group;
	int status;
	struct helper_pipe pipes[2]; /* stdout, stderr */
	struct loop_timer timer; /* the deadline, then the drain after the exit */
	child_done_cb done;
	void (*release)(void *data);
	void *data;
};

static void close_pipe(struct helper_pipe *p)
{
	if (!p->open)
		return;
	loop_del(p->h->a->loop, &p->src);
	close(p->src.fd);
	p->open = false;
}

static void helper_free(struct helper *h)
{
	loop_timer_cancel(h->a->loop, &h->timer);
	for (int i = 0; i < 2; i++) {
		close_pipe(&h->pipes[i]);
		free(h->pipes[i].buf);
	}
	list_del(&h->node);
	free(h);
}

static void on_timer(struct loop_timer *t);

static void maybe_finish(struct helper *h)
{
	struct child_result r;

	if (!h->exited)
		return;
	if (h->pipes[0].open || h->pipes[1].open) {
		if (!h->timer.armed)
			loop_timer_arm(h->a->loop, &h->timer, CHILD_DRAIN_MS, on_timer);
		return;
	}
	r.status = h->status;
	r.exit_code = WIFEXITED(h->status) ? WEXITSTATUS(h->status) : 128 + WTERMSIG(h->status);
	r.timed_out = h->timed_out;
	r.out = h->pipes[0].buf ? h->pipes[0].buf : "";
	r.out_len = h->pipes[0].len;
	r.err = h->pipes[1].buf ? h->pipes[1].buf : "";
	r.err_len = h->pipes[1].len;
	/* Unlinked first: done may cancel or start other helpers. */
	loop_timer_cancel(h->a->loop, &h->timer);
	list_del(&h->node);
	h->done(h->data, &r);
	helper_free(h);
}

static void kill_helper(struct helper *h)
{
	if (h->own_group)
		kill(-h->pid, SIGKILL);
	kill(h->pid, SIGKILL);
}

static void on_timer(struct loop_timer *t)
{
	struct helper *h = container_of(t, struct helper, timer);

	if (!h->exited) {
		/* The deadline: the exit comes through the loop like any other. */
		log_warning("helper did not finish in time, killing it", LOG_INT("pid", h->pid));
		h->timed_out = true;
		kill_helper(h);
		return;
	}
	/* The drain after the exit is over: the result is what arrived. */
	for (int i = 0; i < 2; i++)
		close_pipe(&h->pipes[i]);
	maybe_finish(h);
}

static void on_output(struct loop_source *s, uint32_t events)
{
	struct helper_pipe *p = container_of(s, struct helper_pipe, src);
	char buf[16384];

	(void)events;
	for (;;) {
		ssize_t n = read(s->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		if (p->len + (size_t)n <= CHILD_OUTPUT_MAX) {
			char *t = realloc(p->buf, p->len + (size_t)n + 1);
			if (!t)
				continue;
			memcpy(t + p->len, buf, (size_t)n);
			p->buf = t;
			p->len += (size_t)n;
			t[p->len] = '\0';
		}
	}
	close_pipe(p);
	maybe_finish(p->h);
}

static void on_exit_status(void *data, pid_t pid, int status)
{
	struct helper *h = data;

	(void)pid;
	h->exited = true;
	h->status = status;
	loop_timer_cancel(h->a->loop, &h->timer);
	maybe_finish(h);
}

void child_spawnattr_init(posix_spawnattr_t *attr)
{
	sigset_t empty, def;

	posix_spawnattr_init(attr);
	sigemptyset(&empty);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigmask(attr, &empty);
	posix_spawnattr_setsigdefault(attr, &def);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

/* A helper's attributes: child_spawnattr_init, and a process group of its own if asked. */
static void spawnattr_group(posix_spawnattr_t *attr, bool own_group)
{
	short flags;

	child_spawnattr_init(attr);
	if (!own_group)
		return;
	posix_spawnattr_getflags(attr, &flags);
	posix_spawnattr_setpgroup(attr, 0);
	posix_spawnattr_setflags(attr, flags | POSIX_SPAWN_SETPGROUP);
}

static int spawn(pid_t *pid, char *const *argv, posix_spawn_file_actions_t *fa,
		 posix_spawnattr_t *attr, char *const *env)
{
	int rc = strchr(argv[0], '/') ? posix_spawn(pid, argv[0], fa, attr, argv, env) :
					posix_spawnp(pid, argv[0], fa, attr, argv, env);

	return -rc;
}

int child_run(struct agent *a, char *const *argv, const struct child_options *o, child_done_cb done,
	      void *data, pid_t *ret_pid)
{
	static const struct child_options none = { .fds = { CHILD_NULL, CHILD_CAPTURE,
							    CHILD_CAPTURE } };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct helper *h;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int rc;

	if (!o)
		o = &none;
	if (pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail_pipes;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		rc = -ENOMEM;
		goto fail_pipes;
	}
	h->a = a;
	h->done = done;
	h->release = o->release;
	h->data = data;
	h->own_group = o->own_group;
	h->timer.cb = on_timer;
	list_init(&h->node);

	posix_spawn_file_actions_init(&fa);
	spawnattr_group(&attr, o->own_group);
	for (int i = 0; i < 3; i++) {
		int fd = o->fds[i];
		if (fd == CHILD_CAPTURE && i > 0)
			fd = i == 1 ? out[1] : err[1];
		if (fd >= 0)
			posix_spawn_file_actions_adddup2(&fa, fd, i);
		else
			posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
	}
	if (o->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
	rc = spawn(&h->pid, argv, &fa, &attr, o->env ? o->env : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(out[1]);
	close(err[1]);
	if (rc < 0) {
		close(out[0]);
		close(err[0]);
		free(h);
		return rc;
	}
	list_add_tail(&a->helpers, &h->node);
	for (int i = 0; i < 2; i++) {
		int fd = i == 0 ? out[0] : err[0];
		h->pipes[i].h = h;
		if (o->fds[i + 1] != CHILD_CAPTURE) {
			close(fd);
			continue;
		}
		h->pipes[i].open = true;
		if (loop_add(a->loop, &h->pipes[i].src, fd, EPOLLIN, on_output) < 0)
			log_error("cannot watch a helper's output", LOG_INT("pid", h->pid));
	}
	if (o->timeout_ms > 0)
		loop_timer_arm(a->loop, &h->timer, o->timeout_ms, on_timer);

	loop_watch_child(a->loop, h->pid, on_exit_status, h, false);
	log_debug("helper started", LOG_INT("pid", h->pid), LOG_STR("cmd", argv[0]));
	if (ret_pid)
		*ret_pid = h->pid;
	return 0;
fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return rc;
}

/* Kills a running helper and reaps it (or leaves a stubborn one to the loop's orphans). */
static void kill_and_reap(struct helper *h)
{
	if (!h->exited) {
		kill_helper(h);
		for (int i = 0; i < CHILD_REAP_MS; i++) {
			pid_t r = waitpid(h->pid, NULL, WNOHANG);
			if (r == h->pid || (r < 0 && errno != EINTR))
				break;
			usleep(1000);
		}
	}
	loop_unwatch_child(h->a->loop, h->pid);
}

void child_cancel(struct agent *a, pid_t pid)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->helpers)
	{
		struct helper *h = list_entry(it, struct helper, node);
		if (h->pid != pid)
			continue;
		log_debug("helper cancelled", LOG_INT("pid", pid));
		kill_and_reap(h);
		helper_free(h);
		return;
	}
}

int child_run_sync(char *const *argv, int timeout_ms, char *err, size_t len)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int64_t deadline = loop_now_ms() + timeout_ms;
	_cleanup_close_ int rd = -1;
	int p[2], status = 0, rc;
	bool timed_out = false;
	size_t n = 0;
	pid_t pid;

	if (len)
		err[0] = '\0';
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	rd = p[0];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	spawnattr_group(&attr, true);
	rc = spawn(&pid, argv, &fa, &attr, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (rc < 0)
		return rc;
	for (;;) {
		struct pollfd pfd = { .fd = rd, .events = POLLIN };
		pid_t r = waitpid(pid, &status, WNOHANG);
		char buf[4096];
		ssize_t got;

		if (r == pid)
			break;
		if (timeout_ms > 0 && loop_now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			timed_out = true;
			break;
		}
		if (rd >= 0 && poll(&pfd, 1, 10) > 0) {
			got = read(rd, buf, sizeof(buf));
			if (got > 0 && n + 1 < len) {
				size_t k = (size_t)got < len - 1 - n ? (size_t)got : len - 1 - n;
				memcpy(err + n, buf, k);
				n += k;
				err[n] = '\0';
			} else if (got == 0) {
				close(TAKE_FD(rd));
			}
		} else if (rd < 0) {
			usleep(10000);
		}
	}
	while (rd >= 0 && n + 1 < len) {
		ssize_t got = read(rd, err + n, len - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
		err[n] = '\0';
	}
	if (timed_out)
		return -ETIMEDOUT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

size_t child_count(struct agent *a)
{
	return list_count(&a->helpers);
}

void child_kill_all(struct agent *a)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->helpers)
	{
		struct helper *h = list_entry(it, struct helper, node);
		void (*release)(void *) = h->release;
		void *data = h->data;

		kill_and_reap(h);
		helper_free(h);
		if (release)
			release(data);
	}
}
