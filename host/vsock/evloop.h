/*
 * The device's event loop: one epoll instance, level-triggered fd sources. Timers are deadlines
 * kept by their owners; the caller passes the nearest one as the wait timeout.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct evloop_source;

typedef void (*evloop_fn)(struct evloop_source *s, uint32_t events);

struct evloop_source {
	int fd;
	uint32_t events; /* current interest; 0 = not in the epoll set */
	evloop_fn fn;
};

struct evloop {
	int epfd;
	/* The batch being dispatched: evloop_unwatch drops a source's events still in it. */
	void *batch;
	int batch_n;
};

int evloop_init(struct evloop *l);
void evloop_done(struct evloop *l);

/* A source that is watched nowhere (call before the first evloop_watch). */
void evloop_source_init(struct evloop_source *s, int fd, evloop_fn fn);

/*
 * Sets the interest of s to events: adds, modifies or (events = 0) removes it from the epoll set.
 * A source with no interest is not in the set at all, so HUP/ERR cannot spin on it.
 */
int evloop_watch(struct evloop *l, struct evloop_source *s, uint32_t events);
/* Removes s (the fd stays open) and forgets its pending events of the current batch. */
void evloop_unwatch(struct evloop *l, struct evloop_source *s);

/* Waits up to timeout_ms (-1: no limit) and dispatches; returns the number of events or -errno. */
int evloop_run_once(struct evloop *l, int timeout_ms);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t evloop_now_ms(void);
