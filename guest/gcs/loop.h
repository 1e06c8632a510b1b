/*
 * The agent's event loop: one epoll instance, fd sources, one-shot timers, and child exits
 * delivered from a signalfd (SIGCHLD). Single-threaded; nothing in it blocks.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"

struct loop;

struct loop_source {
	int fd;
	uint32_t events;
	void (*cb)(struct loop_source *s, uint32_t events);
	bool added;
};

struct loop_timer {
	struct list node;
	int64_t deadline_ms;
	void (*cb)(struct loop_timer *t);
	bool armed;
};

/* Called when a watched child exits; status as from waitpid. */
typedef void (*loop_child_cb)(void *data, pid_t pid, int status);

int loop_new(struct loop **ret);
void loop_free(struct loop *l);

int loop_add(struct loop *l, struct loop_source *s, int fd, uint32_t events,
	     void (*cb)(struct loop_source *s, uint32_t events));
int loop_mod(struct loop *l, struct loop_source *s, uint32_t events);
/* Removes the source (the fd is not closed). Safe on a source that was never added. */
void loop_del(struct loop *l, struct loop_source *s);

void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ms,
		    void (*cb)(struct loop_timer *t));
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/*
 * Routes the exit of pid to cb. Every other child (orphans reparented to us) is reaped and its
 * status kept for LOOP_ORPHAN_KEEP_MS: watching with may_have_exited a pid that already exited
 * calls cb at once. Without may_have_exited (the caller has just started pid itself, so any
 * status kept under that pid belongs to an earlier process) a kept status is discarded.
 */
#define LOOP_ORPHAN_KEEP_MS 60000
int loop_watch_child(struct loop *l, pid_t pid, loop_child_cb cb, void *data, bool may_have_exited);
void loop_unwatch_child(struct loop *l, pid_t pid);

/* Runs until loop_quit; returns the code given to it. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l, int code);
/* Clears a loop_quit so that loop_run can run again (the agent's shutdown phase). */
void loop_resume(struct loop *l);

/* Calls cb on SIGTERM or SIGINT (delivered through the loop's signalfd). */
void loop_on_terminate(struct loop *l, void (*cb)(void *data, int sig), void *data);

int64_t loop_now_ms(void);
/* Children watched, and exit statuses of orphans kept (diagnostics). */
size_t loop_n_children(const struct loop *l);
size_t loop_n_orphans(const struct loop *l);
