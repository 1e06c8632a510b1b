/*
 * The agent's log lines: typed fields encoded once, so that any value (quotes, spaces,
 * newlines, bytes that are not UTF-8) leaves one valid JSON object per line, or one logrus text
 * line with the value quoted.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

/* Runs fn with stderr sent into a buffer; returns what it wrote (malloc'd). */
static char *capture(void (*fn)(void))
{
	char path[] = "/tmp/lcow-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *buf = calloc(1, 65536);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(buf);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, 65535, 0);
	ck_assert_int_ge(n, 0);
	close(fd);
	unlink(path);
	return buf;
}

static const char nasty[] = "a \"quoted\" value,\nwith a newline\tand \\ a backslash";

static void write_nasty(void)
{
	log_error("a message with \"quotes\"\n", LOG_STR("path", nasty), LOG_INT("pid", -7),
		  LOG_UINT("size", 18446744073709551615ULL), LOG_HEX("type", 0x10100b01u),
		  LOG_BOOL("forced", 1), LOG_ERRNO(-2), LOG_STR("msg", "a field named msg"),
		  LOG_STR("bad", "\xff\xfe not UTF-8"));
}

START_TEST(test_json_line)
{
	char *out;
	json_t *o;
	json_error_t e;

	log_setup(LOG_INFO, true);
	out = capture(write_nasty);
	/* exactly one line */
	ck_assert_ptr_nonnull(strchr(out, '\n'));
	ck_assert_ptr_null(strchr(strchr(out, '\n') + 1, '\n'));
	o = json_loads(out, 0, &e);
	ck_assert_msg(o != NULL, "not JSON: %s (%s)", out, e.text);
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "error");
	ck_assert_str_eq(json_string_value(json_object_get(o, "msg")),
			 "a message with \"quotes\"\n");
	ck_assert_str_eq(json_string_value(json_object_get(o, "path")), nasty);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "pid")), -7);
	/* above INT64_MAX: kept exact, as text */
	ck_assert_str_eq(json_string_value(json_object_get(o, "size")), "18446744073709551615");
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "0x10100b01");
	ck_assert(json_is_true(json_object_get(o, "forced")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "error")),
			 "No such file or directory");
	/* a field never replaces msg */
	ck_assert_str_eq(json_string_value(json_object_get(o, "fields.msg")), "a field named msg");
	ck_assert_str_eq(json_string_value(json_object_get(o, "bad")), "?? not UTF-8");
	ck_assert_ptr_nonnull(json_object_get(o, "time"));
	json_decref(o);
	free(out);
}
END_TEST

START_TEST(test_text_line)
{
	char *out;

	log_setup(LOG_INFO, false);
	out = capture(write_nasty);
	ck_assert_ptr_null(strchr(strchr(out, '\n') + 1, '\n'));
	ck_assert_msg(strstr(out, " level=error msg=\"a message with \\\"quotes\\\"\\n\"") != NULL,
		      "%s", out);
	ck_assert_msg(strstr(out, " path=\"a \\\"quoted\\\" value,\\nwith a newline\\tand \\\\ a "
				  "backslash\"") != NULL,
		      "%s", out);
	ck_assert_msg(strstr(out, " pid=-7 ") != NULL, "%s", out);
	ck_assert_msg(strstr(out, " type=0x10100b01 ") != NULL, "%s", out);
	free(out);
}
END_TEST

static void write_debug(void)
{
	log_debug("hidden", LOG_INT("n", 1));
	log_info("shown");
}

START_TEST(test_levels)
{
	char *out;

	log_setup(LOG_INFO, true);
	out = capture(write_debug);
	ck_assert_ptr_null(strstr(out, "hidden"));
	ck_assert_ptr_nonnull(strstr(out, "\"msg\":\"shown\""));
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_json_line);
	tcase_add_test(tc, test_text_line);
	tcase_add_test(tc, test_levels);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
