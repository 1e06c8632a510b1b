/* Helper processes whose completion is an event of the loop. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
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
	int status;
	struct helper_pipe pipes[2]; /* stdout, stderr */
	child_done_cb done;
	void *data;
};

static void helper_free(struct helper *h)
{
	for (int i = 0; i < 2; i++) {
		if (h->pipes[i].open) {
			loop_del(h->a->loop, &h->pipes[i].src);
			close(h->pipes[i].src.fd);
		}
		free(h->pipes[i].buf);
	}
	list_del(&h->node);
	free(h);
}

static void maybe_finish(struct helper *h)
{
	struct child_result r;

	if (!h->exited || h->pipes[0].open || h->pipes[1].open)
		return;
	r.status = h->status;
	r.exit_code = WIFEXITED(h->status) ? WEXITSTATUS(h->status) : 128 + WTERMSIG(h->status);
	r.out = h->pipes[0].buf ? h->pipes[0].buf : "";
	r.out_len = h->pipes[0].len;
	r.err = h->pipes[1].buf ? h->pipes[1].buf : "";
	r.err_len = h->pipes[1].len;
	h->done(h->data, &r);
	helper_free(h);
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
	loop_del(p->h->a->loop, s);
	close(s->fd);
	p->open = false;
	maybe_finish(p->h);
}

static void on_exit_status(void *data, pid_t pid, int status)
{
	struct helper *h = data;

	(void)pid;
	h->exited = true;
	h->status = status;
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
	h->data = data;

	posix_spawn_file_actions_init(&fa);
	child_spawnattr_init(&attr);
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
	rc = strchr(argv[0], '/') ?
		     posix_spawn(&h->pid, argv[0], &fa, &attr, argv, o->env ? o->env : environ) :
		     posix_spawnp(&h->pid, argv[0], &fa, &attr, argv, o->env ? o->env : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(out[1]);
	close(err[1]);
	if (rc != 0) {
		close(out[0]);
		close(err[0]);
		free(h);
		return -rc;
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
		if (!h->exited) {
			kill(h->pid, SIGKILL);
			waitpid(h->pid, NULL, 0);
			loop_unwatch_child(a->loop, h->pid);
		}
		helper_free(h);
	}
}
