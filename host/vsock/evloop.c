/* epoll wrapper: level-triggered sources whose removal is safe in the middle of a batch. */
#include "evloop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

int64_t evloop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int evloop_init(struct evloop *l)
{
	l->batch = NULL;
	l->batch_n = 0;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	return 0;
}

void evloop_done(struct evloop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

void evloop_source_init(struct evloop_source *s, int fd, evloop_fn fn)
{
	s->fd = fd;
	s->events = 0;
	s->fn = fn;
}

static void forget(struct evloop *l, struct evloop_source *s)
{
	struct epoll_event *ev = l->batch;

	for (int i = 0; i < l->batch_n; i++)
		if (ev[i].data.ptr == s)
			ev[i].data.ptr = NULL;
}

int evloop_watch(struct evloop *l, struct evloop_source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };
	int op;

	if (events == s->events)
		return 0;
	if (events == 0) {
		evloop_unwatch(l, s);
		return 0;
	}
	op = s->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, s->fd, &ev) < 0)
		return -errno;
	s->events = events;
	return 0;
}

void evloop_unwatch(struct evloop *l, struct evloop_source *s)
{
	if (s->events && s->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->events = 0;
	forget(l, s);
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
	struct epoll_event ev[BATCH];
	int n = epoll_wait(l->epfd, ev, BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->batch = ev;
	l->batch_n = n;
	for (int i = 0; i < n; i++) {
		struct evloop_source *s = ev[i].data.ptr;

		if (s)
			s->fn(s, ev[i].events);
	}
	l->batch = NULL;
	l->batch_n = 0;
	return n;
}
