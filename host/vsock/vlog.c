/* Level filter and sink of the device's log lines. */
#include "vlog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"

static enum vlog_level max_level = VLOG_INFO;
static vlog_sink sink;

static const char *const names[] = {
	[VLOG_ERROR] = "error", [VLOG_WARNING] = "warning", [VLOG_INFO] = "info",
	[VLOG_DEBUG] = "debug", [VLOG_TRACE] = "trace",
};

int vlog_parse_level(const char *s, enum vlog_level *ret_level)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*ret_level = (enum vlog_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warn") == 0) {
		*ret_level = VLOG_WARNING;
		return 0;
	}
	return -EINVAL;
}

const char *vlog_level_name(enum vlog_level level)
{
	return (unsigned)level < ARRAY_SIZE(names) ? names[level] : "?";
}

void vlog_setup(enum vlog_level level, vlog_sink s)
{
	max_level = level;
	sink = s;
}

bool vlog_enabled(enum vlog_level level)
{
	return sink && level <= max_level;
}

void vlog_write(enum vlog_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!vlog_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sink(level, line);
}
