/*
 * Debian's containerd drives containerd-shim-lcow-v1 (runtime io.containerd.lcow.v1): it finds
 * the shim on its PATH, runs its start subcommand and dials the address it prints; the task runs
 * in the shim's UVM (process mode here), its output and exit status reach ctr; the shim exits
 * after Shutdown and containerd's delete, and nothing is left (see ctrd.h).
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

	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-l1", d.ns);
	rc = ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
		      (const char *const[]){ "run", "--rm", "--runtime", "io.containerd.lcow.v1",
					     CTRD_IMAGE, id, "/bin/sh", "-c",
					     "echo out-$((6*7)); exit 7", NULL });
	ck_assert_msg(rc == 7, "ctr run: %d %s", rc, out);
	ck_assert_msg(strstr(out, "out-42"), "ctr run: %s", out);
	ctrd_expect_no_shims(&d);
	ctrd_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("containerd-lcow");
	TCase *tc = tcase_create("lcow");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_run_rm);
	suite_add_tcase(s, tc);
	return ctrd_run_suite(s);
}
