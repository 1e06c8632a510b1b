/*
 * The device's log: one line per event. The library only formats; where the line goes is set by
 * the caller (main sends it to stderr), so the library itself never prints.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

enum vlog_level { VLOG_ERROR, VLOG_WARNING, VLOG_INFO, VLOG_DEBUG, VLOG_TRACE };

typedef void (*vlog_sink)(enum vlog_level level, const char *line);

int vlog_parse_level(const char *s, enum vlog_level *ret_level);
const char *vlog_level_name(enum vlog_level level);
/* Lines above level are dropped; a NULL sink drops every line (the default). */
void vlog_setup(enum vlog_level level, vlog_sink sink);
bool vlog_enabled(enum vlog_level level);
void vlog_write(enum vlog_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define vlog_error(...) vlog_write(VLOG_ERROR, __VA_ARGS__)
#define vlog_warning(...) vlog_write(VLOG_WARNING, __VA_ARGS__)
#define vlog_info(...) vlog_write(VLOG_INFO, __VA_ARGS__)
#define vlog_debug(...)                                      \
	do {                                                 \
		if (vlog_enabled(VLOG_DEBUG))                \
			vlog_write(VLOG_DEBUG, __VA_ARGS__); \
	} while (0)
#define vlog_trace(...)                                      \
	do {                                                 \
		if (vlog_enabled(VLOG_TRACE))                \
			vlog_write(VLOG_TRACE, __VA_ARGS__); \
	} while (0)
