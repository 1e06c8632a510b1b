/* logrus text format (time="..." level=... msg="..."), one write per line so that lines of
 * different threads never mix; a full FIFO drops the line instead of blocking the shim. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool log_debug_on;

void log_set_debug(bool debug)
{
	log_debug_on = debug;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char msg[2048], line[4400], when[40];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;
	ssize_t w;

	if (level == LOG_LEVEL_DEBUG && !log_debug_on)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	n = (size_t)snprintf(line, sizeof(line), "time=\"%s.%09ldZ\" level=%s msg=\"", when,
			     ts.tv_nsec, names[level]);
	for (const char *p = msg; *p && n < sizeof(line) - 4; p++) {
		if (*p == '"' || *p == '\\')
			line[n++] = '\\';
		if (*p == '\n') {
			line[n++] = '\\';
			line[n++] = 'n';
			continue;
		}
		line[n++] = *p;
	}
	line[n++] = '"';
	line[n++] = '\n';
	w = write(STDERR_FILENO, line, n);
	(void)w;
}
