/*
 * The agent's log: one line per event on stderr, logrus-style JSON objects by default
 * ({"time":...,"level":...,"msg":...,fields}) since hcsshim re-logs them from vsock port 109,
 * or logrus' text format.
 */
#pragma once

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_TRACE };

int log_parse_level(const char *s, enum log_level *ret);
int log_parse_format(const char *s, bool *ret_json);
void log_setup(enum log_level level, bool json);
bool log_enabled(enum log_level level);

/*
 * fields is a printf format producing space-separated key=value pairs ("pid=%d path=%s");
 * values run to the next space; a value that contains spaces is given as key="..." and the
 * quotes are kept off the JSON form. NULL for none.
 */
void log_write(enum log_level level, const char *msg, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(msg, ...) log_write(LOG_ERROR, msg, __VA_ARGS__)
#define log_warning(msg, ...) log_write(LOG_WARNING, msg, __VA_ARGS__)
#define log_info(msg, ...) log_write(LOG_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...)                                     \
	do {                                                    \
		if (log_enabled(LOG_DEBUG))                     \
			log_write(LOG_DEBUG, msg, __VA_ARGS__); \
	} while (0)
