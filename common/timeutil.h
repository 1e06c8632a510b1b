/* Clocks, deadlines and RFC 3339 timestamps, shared by every lcow program. */
#pragma once

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t time_now_ms(void);

/* Milliseconds left until deadline_ms (a time_now_ms value), 0 when it has passed. */
int time_left_ms(int64_t deadline_ms);

/*
 * poll(2) until deadline_ms, restarting on EINTR with the time that is left: the number of
 * ready fds, 0 at the deadline, or -errno.
 */
int time_poll_until(struct pollfd *fds, size_t n, int64_t deadline_ms);

/* The current UTC time as RFC 3339 with nanoseconds ("2026-12-02T03:15:09.123456789Z"). */
void time_rfc3339(char *buf, size_t len);
