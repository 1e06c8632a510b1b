/*
 * lcow's log lines, as runc writes them: logrus text (time="..." level=error msg="...") or JSON
 * ({"level":"error","msg":"...","time":"..."}), to the --log file or else to stderr.
 */
#pragma once

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* path NULL: stderr. Debug lines are written only with debug. */
int log_setup(const char *path, bool json, bool debug);
void log_close(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * A command's fatal error, the way runc reports one: logged at level error, and when the log goes
 * to a file, also printed as a plain line on stderr. Returns the exit status 1.
 */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
