/* epoll + signalfd + timers: the agent's only thread of control. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

struct child {
	struct list node;
	pid_t pid;
	loop_child_cb cb;
	void *data;
};

/*
 * Exits of pids nobody watched yet. A container process started by runc is reparented to us
 * (we are a subreaper) and may exit before its pid is known; its status waits here until it is
 * claimed or LOOP_ORPHAN_KEEP_MS have passed (pids are reused: a status must not wait forever).
 */
#define ORPHANS_MAX 4096
struct orphan {
	struct list node;
	pid_t pid;
	int status;
	int64_t reaped_ms;
};

struct loop {
	struct list orphans; /* oldest first */
	size_t n_orphans;
	void (*on_term)(void *data, int sig);
	void *term_data;
	int epfd;
	int sigfd;
	struct loop_source sig_src;
	struct list timers; /* sorted by deadline */
	struct list children;
	bool quit;
	int code;
	/* The batch being dispatched: loop_del forgets a source's pending events in it. */
	struct epoll_event *batch;
	int batch_n;
};

int64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drop_orphan(struct loop *l, struct orphan *o)
{
	list_del(&o->node);
	l->n_orphans--;
	free(o);
}

static void expire_orphans(struct loop *l)
{
	int64_t now = loop_now_ms();

	while (!list_empty(&l->orphans)) {
		struct orphan *o = list_entry(l->orphans.next, struct orphan, node);
		if (now - o->reaped_ms < LOOP_ORPHAN_KEEP_MS && l->n_orphans <= ORPHANS_MAX)
			break;
		drop_orphan(l, o);
	}
}

static struct orphan *find_orphan(struct loop *l, pid_t pid)
{
	for (struct list *p = l->orphans.next; p != &l->orphans; p = p->next) {
		struct orphan *o = list_entry(p, struct orphan, node);
		if (o->pid == pid)
			return o;
	}
	return NULL;
}

static void keep_orphan(struct loop *l, pid_t pid, int status)
{
	struct orphan *o = find_orphan(l, pid);

	log_debug("reaped orphan", LOG_INT("pid", pid), LOG_HEX("status", status));
	if (o)
		drop_orphan(l, o); /* an older process of the same pid */
	o = calloc(1, sizeof(*o));
	if (!o) {
		log_error("out of memory: the exit status of an orphan is lost",
			  LOG_INT("pid", pid));
		return;
	}
	o->pid = pid;
	o->status = status;
	o->reaped_ms = loop_now_ms();
	list_add_tail(&l->orphans, &o->node);
	l->n_orphans++;
	expire_orphans(l);
}

static void reap(struct loop *l)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		struct list *p, *t;
		bool found = false;

		if (pid <= 0)
			return;
		list_for_each_safe(p, t, &l->children)
		{
			struct child *c = list_entry(p, struct child, node);
			if (c->pid != pid)
				continue;
			list_del(&c->node);
			found = true;
			c->cb(c->data, pid, status);
			free(c);
			break;
		}
		if (!found)
			keep_orphan(l, pid, status);
	}
}

static void on_signal(struct loop_source *s, uint32_t events)
{
	struct loop *l = container_of(s, struct loop, sig_src);
	struct signalfd_siginfo si;

	(void)events;
	while (read(l->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && l->on_term)
			l->on_term(l->term_data, (int)si.ssi_signo);
	}
	reap(l);
}

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));
	sigset_t mask;
	int rc;

	if (!l)
		return -ENOMEM;
	list_init(&l->timers);
	list_init(&l->children);
	list_init(&l->orphans);
	l->sigfd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		rc = -errno;
		free(l);
		return rc;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	l->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sigfd < 0) {
		rc = -errno;
		loop_free(l);
		return rc;
	}
	rc = loop_add(l, &l->sig_src, l->sigfd, EPOLLIN, on_signal);
	if (rc < 0) {
		loop_free(l);
		return rc;
	}
	*ret = l;
	return 0;
}

void loop_free(struct loop *l)
{
	struct list *p, *t;

	if (!l)
		return;
	list_for_each_safe(p, t, &l->children)
	{
		list_del(p);
		free(list_entry(p, struct child, node));
	}
	while (!list_empty(&l->orphans))
		drop_orphan(l, list_entry(l->orphans.next, struct orphan, node));
	if (l->sigfd >= 0)
		close(l->sigfd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
}

int loop_add(struct loop *l, struct loop_source *s, int fd, uint32_t events,
	     void (*cb)(struct loop_source *s, uint32_t events))
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	s->fd = fd;
	s->cb = cb;
	s->events = events;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	s->added = true;
	return 0;
}

int loop_mod(struct loop *l, struct loop_source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (!s->added)
		return -EINVAL;
	if (s->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
		return -errno;
	s->events = events;
	return 0;
}

void loop_del(struct loop *l, struct loop_source *s)
{
	if (!s->added)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->added = false;
	for (int i = 0; i < l->batch_n; i++)
		if (l->batch[i].data.ptr == s)
			l->batch[i].data.ptr = NULL;
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ms,
		    void (*cb)(struct loop_timer *t))
{
	struct list *p;

	if (t->armed)
		loop_timer_cancel(l, t);
	t->deadline_ms = loop_now_ms() + ms;
	t->cb = cb;
	for (p = l->timers.next; p != &l->timers; p = p->next)
		if (list_entry(p, struct loop_timer, node)->deadline_ms > t->deadline_ms)
			break;
	list_add_tail(p, &t->node);
	t->armed = true;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	(void)l;
	if (!t->armed)
		return;
	list_del(&t->node);
	t->armed = false;
}

int loop_watch_child(struct loop *l, pid_t pid, loop_child_cb cb, void *data, bool may_have_exited)
{
	struct orphan *o;
	struct child *c;

	expire_orphans(l);
	o = find_orphan(l, pid);
	if (o && may_have_exited) {
		int status = o->status;
		drop_orphan(l, o);
		cb(data, pid, status);
		return 0;
	}
	if (o)
		drop_orphan(l, o);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pid = pid;
	c->cb = cb;
	c->data = data;
	list_add_tail(&l->children, &c->node);
	return 0;
}

void loop_unwatch_child(struct loop *l, pid_t pid)
{
	struct list *p, *t;

	list_for_each_safe(p, t, &l->children)
	{
		struct child *c = list_entry(p, struct child, node);
		if (c->pid == pid) {
			list_del(&c->node);
			free(c);
		}
	}
}

size_t loop_n_children(const struct loop *l)
{
	return list_count(&l->children);
}

size_t loop_n_orphans(const struct loop *l)
{
	return l->n_orphans;
}

void loop_on_terminate(struct loop *l, void (*cb)(void *data, int sig), void *data)
{
	l->on_term = cb;
	l->term_data = data;
}

static void run_timers(struct loop *l)
{
	int64_t now = loop_now_ms();

	while (!list_empty(&l->timers)) {
		struct loop_timer *t = list_entry(l->timers.next, struct loop_timer, node);
		if (t->deadline_ms > now)
			break;
		list_del(&t->node);
		t->armed = false;
		t->cb(t);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[32];

	while (!l->quit) {
		int timeout = -1;
		int n;

		if (!list_empty(&l->timers)) {
			int64_t left =
				list_entry(l->timers.next, struct loop_timer, node)->deadline_ms -
				loop_now_ms();
			timeout = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
		}
		n = epoll_wait(l->epfd, evs, ARRAY_SIZE(evs), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->batch = evs;
		l->batch_n = n;
		for (int i = 0; i < n && !l->quit; i++) {
			struct loop_source *s = evs[i].data.ptr;
			if (s)
				s->cb(s, evs[i].events);
		}
		l->batch_n = 0;
		run_timers(l);
	}
	return l->code;
}

void loop_resume(struct loop *l)
{
	l->quit = false;
}

void loop_quit(struct loop *l, int code)
{
	l->quit = true;
	l->code = code;
}
