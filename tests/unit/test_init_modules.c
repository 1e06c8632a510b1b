/*
 * Unit tests of init's module list (guest/init/modules.c): comments, blank lines and CRs are
 * skipped, and a module that cannot be opened is counted as failed without stopping the rest.
 * Only paths that do not exist are listed, so finit_module(2) is never reached here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modules.h"
#include "testutil.h"

START_TEST(test_list)
{
	char list[] = "/tmp/test_init_modules.XXXXXX";
	const char *text = "# load order\n"
			   "\n"
			   "  /nonexistent/lcow-test/virtio.ko\n"
			   "#/nonexistent/lcow-test/commented.ko\n"
			   "/nonexistent/lcow-test/vsock.ko\r\n"
			   "/nonexistent/lcow-test/last.ko";
	struct modules_result r = { .total = -1 };
	int fd = mkstemp(list);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(modules_load(list, &r), 0);
	unlink(list);
	ck_assert_int_eq(r.total, 3);
	ck_assert_int_eq(r.loaded, 0);
	ck_assert_int_eq(r.skipped, 0);
	ck_assert_int_eq(r.failed, 3);
}
END_TEST

START_TEST(test_no_list)
{
	struct modules_result r = { .total = -1 };

	ck_assert_int_eq(modules_load("/nonexistent/lcow-test/load-order", &r), -ENOENT);
	ck_assert_int_eq(r.total, -1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("init_modules");
	TCase *t = tcase_create("list");

	tcase_add_test(t, test_list);
	tcase_add_test(t, test_no_list);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
