/* The library's log lines, to the front end's callback. */
#include "rt.h"

#include <stdarg.h>
#include <stdio.h>

static void (*log_fn)(void *user, enum lcow_rt_log_level level, const char *msg);
static void *log_user;

void lcow_rt_set_log(void (*fn)(void *user, enum lcow_rt_log_level level, const char *msg),
		     void *user)
{
	log_fn = fn;
	log_user = user;
}

void rt_log(enum lcow_rt_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(log_user, level, msg);
}
