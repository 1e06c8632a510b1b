/*
 * The containerd harness itself, against Debian's runc shim (io.containerd.runc.v2): a
 * foreground `ctr run --rm` passes its output and exit status back, a detached task is listed,
 * killed (137) and deleted, and nothing is left afterwards (containerd, shims, mounts under the
 * temp dir, shared FIFOs and sockets). The lcow shim's suites use the same harness.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctrd.h"

#define STEP_MS 60000

START_TEST(test_run_rm)
{
	struct ctrd d;
	char id[64], out[4096];
	int rc;

	ctrd_start(&d, NULL);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-c1", d.ns);
	rc = ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
		      (const char *const[]){ "run", "--rm", "--runtime", "io.containerd.runc.v2",
					     CTRD_IMAGE, id, "/bin/sh", "-c",
					     "echo out-$((6*7)); exit 7", NULL });
	ck_assert_msg(rc == 7, "ctr run: %d %s", rc, out);
	ck_assert_msg(strstr(out, "out-42"), "%s", out);
	rc = ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
		      (const char *const[]){ "containers", "ls", "-q", NULL });
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(!strstr(out, id), "container left: %s", out);
	ctrd_stop(&d);
}
END_TEST

START_TEST(test_detached_kill)
{
	struct ctrd d;
	char id[64], out[4096];
	int rc;

	ctrd_start(&d, NULL);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-c2", d.ns);
	rc = ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
		      (const char *const[]){ "run", "-d", "--runtime", "io.containerd.runc.v2",
					     CTRD_IMAGE, id, "/bin/sleep", "1000", NULL });
	ck_assert_msg(rc == 0, "ctr run -d: %d %s", rc, out);
	ck_assert_int_eq(ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
				  (const char *const[]){ "task", "ls", NULL }),
			 0);
	ck_assert_msg(strstr(out, id) && strstr(out, "RUNNING"), "%s", out);
	ck_assert_int_eq(ctrd_shims(&d), 1);
	ck_assert_int_eq(
		ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
			 (const char *const[]){ "task", "kill", "-s", "SIGKILL", id, NULL }),
		0);
	for (int i = 0; i < 100; i++) {
		ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
			 (const char *const[]){ "task", "ls", NULL });
		if (strstr(out, "STOPPED"))
			break;
		usleep(50 * 1000);
	}
	ck_assert_msg(strstr(out, "STOPPED"), "%s", out);
	ck_assert_int_eq(ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
				  (const char *const[]){ "task", "delete", id, NULL }),
			 0);
	ck_assert_int_eq(ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
				  (const char *const[]){ "containers", "rm", id, NULL }),
			 0);
	ctrd_expect_no_shims(&d);
	ctrd_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("containerd-harness");
	TCase *tc = tcase_create("runc");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_run_rm);
	tcase_add_test(tc, test_detached_kill);
	suite_add_tcase(s, tc);
	return ctrd_run_suite(s);
}
