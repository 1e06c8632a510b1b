/*
 * Unit tests of init's command line (guest/init/args.c): hcsshim's exact kernel command line,
 * the direct form and its defaults, vsockexec's options, ports, and the errors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "testutil.h"

/* init's argv as the kernel builds it from the words after "--": argv[0] is "/init". */
struct words {
	char text[512];
	char *v[40];
	int n;
};

static struct words *split(struct words *w, const char *line)
{
	char *save = NULL;

	snprintf(w->text, sizeof(w->text), "%s", line);
	w->n = 0;
	w->v[w->n++] = "/init";
	for (char *t = strtok_r(w->text, " ", &save); t; t = strtok_r(NULL, " ", &save))
		w->v[w->n++] = t;
	w->v[w->n] = NULL;
	return w;
}

static struct init_args parse_ok(struct words *w, const char *line)
{
	struct init_args a;
	char msg[256] = "";
	int rc;

	split(w, line);
	rc = init_args_parse(w->n, w->v, msg, sizeof(msg), &a);
	ck_assert_msg(rc == 0, "parse of '%s' failed: %d %s", line, rc, msg);
	return a;
}

static void parse_fails(const char *line, const char *want)
{
	struct init_args a = { .argc = 42 };
	struct words w;
	char msg[256] = "";
	int rc;

	split(&w, line);
	rc = init_args_parse(w.n, w.v, msg, sizeof(msg), &a);

	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(msg, want), "message '%s' lacks '%s'", msg, want);
	ck_assert_int_eq(a.argc, 42); /* untouched on failure */
}

/* The words hcsshim puts after "--" (internal/uvm/create_lcow.go). */
START_TEST(test_hcsshim_form)
{
	struct words w;
	struct init_args a = parse_ok(
		&w, "-e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel debug");

	ck_assert(a.vsockexec);
	ck_assert_uint_eq(a.entropy_port, 1);
	ck_assert_uint_eq(a.stdio_port[0], INIT_PORT_NONE);
	ck_assert_uint_eq(a.stdio_port[1], INIT_PORT_NONE);
	ck_assert_uint_eq(a.stdio_port[2], 109);
	ck_assert_int_eq(a.argc, 6);
	ck_assert_ptr_eq(a.argv, w.v + 6);
	ck_assert_str_eq(a.argv[0], "/bin/gcs");
	ck_assert_str_eq(a.argv[5], "debug");
	ck_assert_ptr_null(a.argv[a.argc]);
}
END_TEST

/* The SNP boot script's form: stdout too, and a flag the agent ignores. */
START_TEST(test_hcsshim_stdout_and_stderr)
{
	struct words w;
	struct init_args a =
		parse_ok(&w, "-e 1 /bin/vsockexec -o 109 -e 109 /bin/gcs -v4 -scrub-logs");

	ck_assert_uint_eq(a.stdio_port[1], 109);
	ck_assert_uint_eq(a.stdio_port[2], 109);
	ck_assert_int_eq(a.argc, 3);
	ck_assert_str_eq(a.argv[0], "/bin/gcs");
}
END_TEST

/* hcsshim semantics: no -e on init, no entropy; vsockexec without ports, no connections. */
START_TEST(test_hcsshim_form_means_what_it_says)
{
	struct words w;
	struct init_args a = parse_ok(&w, "-w vsockexec -r -i 5 -- /bin/gcs");

	ck_assert(a.vsockexec);
	ck_assert_uint_eq(a.entropy_port, INIT_PORT_NONE);
	ck_assert_uint_eq(a.stdio_port[0], 5);
	ck_assert_uint_eq(a.stdio_port[1], INIT_PORT_NONE);
	ck_assert_uint_eq(a.stdio_port[2], INIT_PORT_NONE);
	ck_assert_int_eq(a.argc, 1);
	ck_assert_str_eq(a.argv[0], "/bin/gcs");

	a = parse_ok(&w, "/usr/local/bin/vsockexec /bin/gcs");
	ck_assert(a.vsockexec);
	ck_assert_uint_eq(a.stdio_port[2], INIT_PORT_NONE);
}
END_TEST

START_TEST(test_direct_form_defaults)
{
	struct words w;
	struct init_args a = parse_ok(&w, "/bin/gcs --log-level debug");

	ck_assert(!a.vsockexec);
	ck_assert_uint_eq(a.entropy_port, INIT_DEFAULT_ENTROPY_PORT);
	ck_assert_uint_eq(a.stdio_port[0], INIT_PORT_NONE);
	ck_assert_uint_eq(a.stdio_port[1], INIT_PORT_NONE);
	ck_assert_uint_eq(a.stdio_port[2], INIT_DEFAULT_LOG_PORT);
	ck_assert_int_eq(a.argc, 3);
	ck_assert_ptr_eq(a.argv, w.v + 1);
	/* the program's own options are not init's: "--log-level" stays with it */
	ck_assert_str_eq(a.argv[1], "--log-level");
}
END_TEST

START_TEST(test_direct_form_options)
{
	struct words w;
	struct init_args a = parse_ok(&w, "-e0 -o 0x6d -l 110 -- -weird-program");

	ck_assert_uint_eq(a.entropy_port, INIT_PORT_NONE);
	ck_assert_uint_eq(a.stdio_port[1], 109);
	ck_assert_uint_eq(a.stdio_port[2], 110);
	ck_assert_int_eq(a.argc, 1);
	ck_assert_str_eq(a.argv[0], "-weird-program");

	a = parse_ok(&w, "-l 0 -e 7 /bin/sh");
	ck_assert_uint_eq(a.entropy_port, 7);
	ck_assert_uint_eq(a.stdio_port[2], INIT_PORT_NONE);
}
END_TEST

/* Grouped flags, as getopt allows: "-we1" is -w then -e 1. */
START_TEST(test_grouped_flags)
{
	struct words w;
	struct init_args a = parse_ok(&w, "-we1 /bin/vsockexec -re109 /bin/gcs");

	ck_assert_uint_eq(a.entropy_port, 1);
	ck_assert_uint_eq(a.stdio_port[2], 109);
	ck_assert_str_eq(a.argv[0], "/bin/gcs");
}
END_TEST

START_TEST(test_no_program)
{
	struct words w;
	struct init_args a = parse_ok(&w, "");

	ck_assert(!a.vsockexec);
	ck_assert_int_eq(a.argc, 1);
	ck_assert_str_eq(a.argv[0], INIT_DEFAULT_PROGRAM);
	ck_assert_ptr_null(a.argv[1]);
	ck_assert_uint_eq(a.entropy_port, 1);
	ck_assert_uint_eq(a.stdio_port[2], 109);

	a = parse_ok(&w, "-e 2 --");
	ck_assert_uint_eq(a.entropy_port, 2);
	ck_assert_str_eq(a.argv[0], INIT_DEFAULT_PROGRAM);
}
END_TEST

START_TEST(test_errors)
{
	parse_fails("-d /bin/sh /bin/gcs", "unknown option '-d'");
	parse_fails("-e", "'-e' needs a port");
	parse_fails("-e one /bin/gcs", "invalid port 'one'");
	parse_fails("-o 109 /bin/vsockexec -e 109 /bin/gcs", "do not go with vsockexec");
	parse_fails("/bin/vsockexec -x /bin/gcs", "vsockexec: unknown option '-x'");
	parse_fails("/bin/vsockexec -e 109", "vsockexec: no program");
	parse_fails("/bin/vsockexec -o", "vsockexec: option '-o' needs a port");
	parse_fails("vsockexec -e 4294967295 /bin/gcs", "invalid port '4294967295'");
}
END_TEST

START_TEST(test_ports)
{
	uint32_t p = 0;

	ck_assert_int_eq(init_parse_port("109", &p), 0);
	ck_assert_uint_eq(p, 109);
	ck_assert_int_eq(init_parse_port("0x40000000", &p), 0);
	ck_assert_uint_eq(p, 0x40000000);
	ck_assert_int_eq(init_parse_port("0", &p), 0);
	ck_assert_uint_eq(p, 0);
	ck_assert_int_eq(init_parse_port("4294967294", &p), 0);
	ck_assert_uint_eq(p, 4294967294u);
	p = 7;
	ck_assert_int_eq(init_parse_port("4294967295", &p), -EINVAL); /* VMADDR_PORT_ANY */
	ck_assert_int_eq(init_parse_port("99999999999", &p), -EINVAL);
	ck_assert_int_eq(init_parse_port("-1", &p), -EINVAL);
	ck_assert_int_eq(init_parse_port(" 1", &p), -EINVAL);
	ck_assert_int_eq(init_parse_port("+1", &p), -EINVAL);
	ck_assert_int_eq(init_parse_port("1x", &p), -EINVAL);
	ck_assert_int_eq(init_parse_port("", &p), -EINVAL);
	ck_assert_int_eq(init_parse_port(NULL, &p), -EINVAL);
	ck_assert_uint_eq(p, 7);
}
END_TEST

START_TEST(test_cmdline)
{
	const char *c = "console=ttyS0 hcsshim.cgroup=v1 panic=-1 -- -e 1 lcow.cgroup=v1\n";

	ck_assert(init_cmdline_has(c, "hcsshim.cgroup=v1"));
	ck_assert(init_cmdline_has(c, "panic=-1"));
	ck_assert(
		!init_cmdline_has(c, "lcow.cgroup=v1")); /* after "--": init's, not the kernel's */
	ck_assert(!init_cmdline_has(c, "hcsshim.cgroup=v"));
	ck_assert(!init_cmdline_has(c, "cgroup=v1"));
	ck_assert(!init_cmdline_has("", "x"));
	ck_assert(init_cmdline_has("x\n", "x"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("init_args");
	TCase *t = tcase_create("args");

	tcase_add_test(t, test_hcsshim_form);
	tcase_add_test(t, test_hcsshim_stdout_and_stderr);
	tcase_add_test(t, test_hcsshim_form_means_what_it_says);
	tcase_add_test(t, test_direct_form_defaults);
	tcase_add_test(t, test_direct_form_options);
	tcase_add_test(t, test_grouped_flags);
	tcase_add_test(t, test_no_program);
	tcase_add_test(t, test_errors);
	tcase_add_test(t, test_ports);
	tcase_add_test(t, test_cmdline);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
