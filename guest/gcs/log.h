/*
 * The agent's log: one line per event on stderr, logrus-style JSON objects by default
 * ({"time":...,"level":...,"msg":...,fields}) since hcsshim re-logs them from vsock port 109,
 * or logrus' text format. Fields are typed key/value pairs, each encoded once (jansson for
 * JSON, logrus' quoting for text); a value may hold any bytes.
 *
 *   log_info("container created", LOG_STR("id", c->id), LOG_INT("init", pid));
 */
#pragma once

#include <stdbool.h>
#include <string.h>

enum log_level { LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_TRACE };

enum log_field_kind { LOG_F_NONE, LOG_F_STR, LOG_F_INT, LOG_F_UINT, LOG_F_HEX, LOG_F_BOOL };

struct log_field {
	const char *key;
	enum log_field_kind kind;
	union {
		const char *s;
		long long i;
		unsigned long long u;
	};
};

#define LOG_STR(k, v)                                   \
	{                                               \
		.key = (k), .kind = LOG_F_STR, .s = (v) \
	}
#define LOG_INT(k, v)                                              \
	{                                                          \
		.key = (k), .kind = LOG_F_INT, .i = (long long)(v) \
	}
#define LOG_UINT(k, v)                                                       \
	{                                                                    \
		.key = (k), .kind = LOG_F_UINT, .u = (unsigned long long)(v) \
	}
/* "0x%08llx" */
#define LOG_HEX(k, v)                                                       \
	{                                                                   \
		.key = (k), .kind = LOG_F_HEX, .u = (unsigned long long)(v) \
	}
#define LOG_BOOL(k, v)                                     \
	{                                                  \
		.key = (k), .kind = LOG_F_BOOL, .i = !!(v) \
	}
/* "error": strerror of a negative errno */
#define LOG_ERRNO(rc) LOG_STR("error", strerror(-(rc)))

int log_parse_level(const char *s, enum log_level *ret);
int log_parse_format(const char *s, bool *ret_json);
void log_setup(enum log_level level, bool json);
bool log_enabled(enum log_level level);

/* Writes one line with n fields (the first, a placeholder of the macros below, is skipped). */
void log_emit(enum log_level level, const char *msg, const struct log_field *f, size_t n);

#define LOG_FIELDS_(...) ((const struct log_field[]){ { NULL }, __VA_ARGS__ })
#define LOG_NFIELDS_(...) (sizeof(LOG_FIELDS_(__VA_ARGS__)) / sizeof(struct log_field))
#define log_write(level, msg, ...) \
	log_emit(level, msg, LOG_FIELDS_(__VA_ARGS__), LOG_NFIELDS_(__VA_ARGS__))

#define log_error(msg, ...) log_write(LOG_ERROR, msg, __VA_ARGS__)
#define log_warning(msg, ...) log_write(LOG_WARNING, msg, __VA_ARGS__)
#define log_info(msg, ...) log_write(LOG_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...)                                     \
	do {                                                    \
		if (log_enabled(LOG_DEBUG))                     \
			log_write(LOG_DEBUG, msg, __VA_ARGS__); \
	} while (0)
