/* Clocks, deadlines and timestamps. */
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int time_left_ms(int64_t deadline_ms)
{
	int64_t left = deadline_ms - time_now_ms();

	return left <= 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

int time_poll_until(struct pollfd *fds, size_t n, int64_t deadline_ms)
{
	for (;;) {
		int r = poll(fds, n, time_left_ms(deadline_ms));

		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
	}
}

void time_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09ldZ", base, ts.tv_nsec);
}
