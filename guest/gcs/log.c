/* Log lines on stderr: logrus JSON or text, fields encoded once from typed values. */
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "timeutil.h"

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

/* A field's value as text into buf (strings are returned as they are). */
static const char *field_text(const struct log_field *f, char *buf, size_t len)
{
	switch (f->kind) {
	case LOG_F_STR:
		return f->s ? f->s : "";
	case LOG_F_INT:
		snprintf(buf, len, "%lld", f->i);
		return buf;
	case LOG_F_UINT:
		snprintf(buf, len, "%llu", f->u);
		return buf;
	case LOG_F_HEX:
		snprintf(buf, len, "0x%08llx", f->u);
		return buf;
	case LOG_F_BOOL:
		return f->i ? "true" : "false";
	default:
		return "";
	}
}

/* A JSON string of s; bytes that are not UTF-8 become '?' so that the line stays valid. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return json_string("?");
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j ? j : json_string("?");
}

static void emit_json(const char *ts, enum log_level level, const char *msg,
		      const struct log_field *f, size_t n)
{
	json_t *o = json_object();
	char num[32];
	char *line;

	if (!o)
		return;
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "level", json_string(level_names[level]));
	json_object_set_new(o, "msg", json_text(msg));
	for (size_t i = 1; i < n; i++) {
		const char *k = f[i].key;
		json_t *v;

		if (!k || !k[0])
			continue;
		if (f[i].kind == LOG_F_INT)
			v = json_integer(f[i].i);
		else if (f[i].kind == LOG_F_UINT && f[i].u <= (unsigned long long)INT64_MAX)
			v = json_integer((json_int_t)f[i].u);
		else if (f[i].kind == LOG_F_BOOL)
			v = json_boolean(f[i].i);
		else
			v = json_text(field_text(&f[i], num, sizeof(num)));
		/* fields never replace time, level or msg (logrus prefixes them "fields.") */
		if (!strcmp(k, "time") || !strcmp(k, "level") || !strcmp(k, "msg")) {
			char key[64];
			snprintf(key, sizeof(key), "fields.%s", k);
			json_object_set_new(o, key, v);
		} else {
			json_object_set_new(o, k, v);
		}
	}
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line) {
		dprintf(STDERR_FILENO, "%s\n", line);
		free(line);
	}
}

/* logrus' text form: a value is quoted (Go %q style) unless it is a plain word. */
static void append_text(FILE *f, const char *s)
{
	bool plain = s[0] != '\0';

	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-._/@^+:", c)))
			plain = false;
	}
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void emit_text(const char *ts, enum log_level level, const char *msg,
		      const struct log_field *f, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char num[32];

	if (!m)
		return;
	fprintf(m, "time=\"%s\" level=%s msg=", ts, level_names[level]);
	append_text(m, msg);
	for (size_t i = 1; i < n; i++) {
		if (!f[i].key || !f[i].key[0])
			continue;
		fprintf(m, " %s=", f[i].key);
		append_text(m, field_text(&f[i], num, sizeof(num)));
	}
	fputc('\n', m);
	if (fclose(m) == 0 && buf)
		(void)!write(STDERR_FILENO, buf, len);
	free(buf);
}

void log_emit(enum log_level level, const char *msg, const struct log_field *f, size_t n)
{
	char ts[64];
	int saved = errno;

	if (!log_enabled(level))
		return;
	time_rfc3339(ts, sizeof(ts));
	if (as_json)
		emit_json(ts, level, msg ? msg : "", f, n);
	else
		emit_text(ts, level, msg ? msg : "", f, n);
	errno = saved;
}
