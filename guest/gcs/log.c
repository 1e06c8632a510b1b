/* Log lines on stderr: logrus JSON or text. */
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

static enum log_level max_level = LOG_INFO;
static bool as_json = true;

static const char *const level_names[] = {
	[LOG_ERROR] = "error", [LOG_WARNING] = "warning", [LOG_INFO] = "info",
	[LOG_DEBUG] = "debug", [LOG_TRACE] = "trace",
};

int log_parse_level(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warn") == 0) {
		*ret = LOG_WARNING;
		return 0;
	}
	/* logrus also knows fatal and panic; both only log errors here. */
	if (strcmp(s, "fatal") == 0 || strcmp(s, "panic") == 0) {
		*ret = LOG_ERROR;
		return 0;
	}
	return -EINVAL;
}

int log_parse_format(const char *s, bool *ret_json)
{
	if (strcmp(s, "json") == 0)
		*ret_json = true;
	else if (strcmp(s, "text") == 0)
		*ret_json = false;
	else
		return -EINVAL;
	return 0;
}

void log_setup(enum log_level level, bool json)
{
	max_level = level;
	as_json = json;
}

bool log_enabled(enum log_level level)
{
	return level <= max_level;
}

/* RFC 3339 with nanoseconds, UTC, as logrus writes it. */
static void timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09ldZ", base, ts.tv_nsec);
}

/* Splits "k=v k2=\"a b\"" into pairs, calling fn for each. Modifies s. */
static void each_field(char *s, void (*fn)(void *ctx, const char *k, const char *v), void *ctx)
{
	while (*s) {
		char *k, *v;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		k = s;
		while (*s && *s != '=' && *s != ' ')
			s++;
		if (*s != '=') {
			if (*s)
				*s++ = '\0';
			fn(ctx, k, "");
			continue;
		}
		*s++ = '\0';
		if (*s == '"') {
			v = ++s;
			while (*s && *s != '"')
				s++;
		} else {
			v = s;
			while (*s && *s != ' ')
				s++;
		}
		if (*s)
			*s++ = '\0';
		fn(ctx, k, v);
	}
}

static void json_field(void *ctx, const char *k, const char *v)
{
	json_t *j = json_string(v);

	json_object_set_new(ctx, k, j ? j : json_string("?"));
}

void log_write(enum log_level level, const char *msg, const char *fields, ...)
{
	char ts[64];
	char buf[2048] = "";
	int saved = errno;

	if (!log_enabled(level))
		return;
	if (fields) {
		va_list ap;
		va_start(ap, fields);
		vsnprintf(buf, sizeof(buf), fields, ap);
		va_end(ap);
	}
	timestamp(ts, sizeof(ts));
	if (as_json) {
		json_t *o = json_object();
		char *line;
		if (!o)
			goto out;
		json_object_set_new(o, "time", json_string(ts));
		json_object_set_new(o, "level", json_string(level_names[level]));
		json_t *m = json_string(msg);
		json_object_set_new(o, "msg", m ? m : json_string("?"));
		each_field(buf, json_field, o);
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (line) {
			dprintf(STDERR_FILENO, "%s\n", line);
			free(line);
		}
	} else {
		dprintf(STDERR_FILENO, "time=\"%s\" level=%s msg=\"%s\"%s%s\n", ts,
			level_names[level], msg, buf[0] ? " " : "", buf);
	}
out:
	errno = saved;
}
