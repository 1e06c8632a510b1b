/* init's command line (the rules are in args.h). */
#include "args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *default_argv[] = { INIT_DEFAULT_PROGRAM, NULL };

/*
 * A getopt for one option set without global state: spec lists the option letters, a letter
 * followed by ':' takes a value. Options stop at the first non-option word or after "--".
 */
struct opt_iter {
	int argc;
	char **argv;
	int i; /* the word being read */
	int j; /* the letter inside it; 0 = start a new word */
};

enum { OPT_END = 0, OPT_BAD = -1, OPT_NO_VALUE = -2 };

static int opt_next(struct opt_iter *it, const char *spec, const char **ret_value)
{
	const char *word, *s;
	char c;

	if (it->j == 0) {
		if (it->i >= it->argc)
			return OPT_END;
		word = it->argv[it->i];
		if (word[0] != '-' || word[1] == '\0')
			return OPT_END;
		if (strcmp(word, "--") == 0) {
			it->i++;
			return OPT_END;
		}
		it->j = 1;
	}
	word = it->argv[it->i];
	c = word[it->j++];
	s = c == ':' ? NULL : strchr(spec, c);
	if (!s)
		return OPT_BAD;
	if (s[1] != ':') {
		if (word[it->j] == '\0') {
			it->i++;
			it->j = 0;
		}
		return (unsigned char)c;
	}
	if (word[it->j] != '\0') {
		*ret_value = word + it->j;
		it->i++;
	} else if (it->i + 1 < it->argc) {
		*ret_value = it->argv[it->i + 1];
		it->i += 2;
	} else {
		it->j = 0;
		return OPT_NO_VALUE;
	}
	it->j = 0;
	return (unsigned char)c;
}

static int fail(char *errmsg, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *errmsg, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(errmsg, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int init_parse_port(const char *s, uint32_t *ret_port)
{
	unsigned long long v;
	char *end;

	/* strtoull would take a sign or leading blanks; a port is digits only. */
	if (!s || !(s[0] >= '0' && s[0] <= '9'))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v >= UINT32_MAX) /* UINT32_MAX is VMADDR_PORT_ANY */
		return -EINVAL;
	*ret_port = (uint32_t)v;
	return 0;
}

static bool is_vsockexec(const char *prog)
{
	const char *base = strrchr(prog, '/');

	return strcmp(base ? base + 1 : prog, "vsockexec") == 0;
}

/* The options of hcsshim's vsockexec, from argv[it->i] on; the program follows them. */
static int parse_vsockexec(struct opt_iter *it, char *errmsg, size_t errlen, struct init_args *a)
{
	const char *val = NULL;
	uint32_t port;
	int c, fd;

	while ((c = opt_next(it, "ri:o:e:", &val)) != OPT_END) {
		if (c == OPT_BAD)
			return fail(errmsg, errlen, "vsockexec: unknown option '-%c'",
				    it->argv[it->i][it->j - 1]);
		if (c == OPT_NO_VALUE)
			return fail(errmsg, errlen, "vsockexec: option '%s' needs a port",
				    it->argv[it->i]);
		if (c == 'r')
			continue;
		if (init_parse_port(val, &port) < 0)
			return fail(errmsg, errlen, "vsockexec: -%c: invalid port '%s'", c, val);
		fd = c == 'i' ? 0 : c == 'o' ? 1 : 2;
		a->stdio_port[fd] = port;
	}
	if (it->i >= it->argc)
		return fail(errmsg, errlen, "vsockexec: no program to run");
	return 0;
}

int init_args_parse(int argc, char **argv, char *errmsg, size_t errlen, struct init_args *ret_args)
{
	struct opt_iter it = { .argc = argc, .argv = argv, .i = 1 };
	struct init_args a = { 0 };
	bool have_entropy = false, have_out = false, have_log = false;
	uint32_t entropy = 0, out = 0, log = 0, port;
	const char *val = NULL;
	int c, rc;

	if (errlen)
		errmsg[0] = '\0';
	while ((c = opt_next(&it, "e:o:l:w", &val)) != OPT_END) {
		if (c == OPT_BAD)
			return fail(errmsg, errlen, "unknown option '-%c'", argv[it.i][it.j - 1]);
		if (c == OPT_NO_VALUE)
			return fail(errmsg, errlen, "option '%s' needs a port", argv[it.i]);
		if (c == 'w')
			continue;
		if (init_parse_port(val, &port) < 0)
			return fail(errmsg, errlen, "-%c: invalid port '%s'", c, val);
		if (c == 'e') {
			entropy = port;
			have_entropy = true;
		} else if (c == 'o') {
			out = port;
			have_out = true;
		} else {
			log = port;
			have_log = true;
		}
	}

	if (it.i < argc && is_vsockexec(argv[it.i])) {
		if (have_out || have_log)
			return fail(errmsg, errlen,
				    "init's -o and -l do not go with vsockexec: give the ports to "
				    "vsockexec (-o, -e)");
		a.vsockexec = true;
		a.entropy_port = have_entropy ? entropy : INIT_PORT_NONE;
		it.i++;
		rc = parse_vsockexec(&it, errmsg, errlen, &a);
		if (rc < 0)
			return rc;
	} else {
		a.entropy_port = have_entropy ? entropy : INIT_DEFAULT_ENTROPY_PORT;
		a.stdio_port[1] = have_out ? out : INIT_PORT_NONE;
		a.stdio_port[2] = have_log ? log : INIT_DEFAULT_LOG_PORT;
	}

	if (it.i < argc) {
		a.argc = argc - it.i;
		a.argv = argv + it.i;
	} else {
		a.argc = 1;
		a.argv = default_argv;
	}
	*ret_args = a;
	return 0;
}

bool init_cmdline_has(const char *cmdline, const char *word)
{
	size_t n = strlen(word);
	const char *p = cmdline;

	while (*p) {
		size_t len;

		p += strspn(p, " \t\n");
		len = strcspn(p, " \t\n");
		if (len == 2 && strncmp(p, "--", 2) == 0)
			return false;
		if (len == n && strncmp(p, word, n) == 0)
			return true;
		p += len;
	}
	return false;
}
