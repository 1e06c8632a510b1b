/* Bridge internals shared by the typed calls and the process code. */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "lcow/gcs.h"

/* The bridge's own copy of its transport (stdio ports use it too). */
const struct gcs_transport *bridge_transport(const struct gcs_bridge *b);

/* The next stdio port of this bridge: 0x40000001 upward, never reused. */
uint32_t bridge_next_port(struct gcs_bridge *b);

/* The default deadline of a call in ms, or -1 for none. */
int bridge_default_timeout(const struct gcs_bridge *b);

/* Hands a line to the on_log callback, if there is one. */
void bridge_log(const struct gcs_bridge *b, enum gcs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * pthread_create with every signal blocked in the new thread: library threads never run the
 * application's signal handlers, and a write to a closed pipe gives them EPIPE, not a SIGPIPE
 * that would kill the process.
 */
int bridge_thread_create(pthread_t *ret, void *(*fn)(void *), void *arg);

/* Milliseconds on CLOCK_MONOTONIC; deadlines are absolute in this clock, -1 = none. */
int64_t bridge_deadline(int timeout_ms);
/* What is left of a deadline as a poll()-style timeout: -1 for none, else >= 0. */
int bridge_time_left(int64_t deadline);
