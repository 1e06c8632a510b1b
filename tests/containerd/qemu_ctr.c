/*
 * The containerd shim with QEMU utility VMs (part of make vm-check): `ctr run` of a task in a
 * QEMU UVM gives its output and exit status back; two tasks of one pod (the same
 * io.kubernetes.cri.sandbox-id) share one shim and one QEMU; when the pod's last task goes, the
 * shim, QEMU and the vsock device go too (ctrd_stop checks that nothing of the temp dir is
 * left).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrd.h"

#define STEP_MS 120000
#define RT "io.containerd.lcow.v1"

static int qemus(struct ctrd *d)
{
	pid_t pids[8];

	return ctrd_procs(d, "qemu-system-x86_64", pids, 8);
}

START_TEST(test_qemu_run)
{
	struct ctrd d;
	char id[64], out[4096];
	int rc;

	setenv("LCOW_UVM_MODE", "qemu", 1);
	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-q1", d.ns);
	rc = ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
		      (const char *const[]){ "run", "--rm", "--runtime", RT, CTRD_IMAGE, id,
					     "/bin/sh", "-c",
					     "echo out-$((6*7)) $(uname -r); exit 7", NULL });
	ck_assert_msg(rc == 7, "ctr run: %d %s", rc, out);
	ck_assert_msg(strstr(out, "out-42"), "%s", out);
	ctrd_expect_no_shims(&d);
	ck_assert_int_eq(qemus(&d), 0);
	ctrd_stop(&d);
}
END_TEST

START_TEST(test_qemu_pod)
{
	struct ctrd d;
	char a[64], b[64], pod[96], out[4096];
	int rc;

	setenv("LCOW_UVM_MODE", "qemu", 1);
	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(a, sizeof(a), "%s-pa", d.ns);
	snprintf(b, sizeof(b), "%s-pb", d.ns);
	snprintf(pod, sizeof(pod), "io.kubernetes.cri.sandbox-id=%s-pod", d.ns);
	ctrd_ctr_ok(&d, (const char *const[]){ "run", "-d", "--runtime", RT, "--annotation", pod,
					       CTRD_IMAGE, a, "/bin/sleep", "1000", NULL });
	ctrd_ctr_ok(&d, (const char *const[]){ "run", "-d", "--runtime", RT, "--annotation", pod,
					       CTRD_IMAGE, b, "/bin/sleep", "1000", NULL });
	ck_assert_int_eq(ctrd_shims(&d), 1);
	ck_assert_int_eq(qemus(&d), 1);
	/* Both tasks run in it, each with its own rootfs. */
	rc = ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
		      (const char *const[]){ "task", "exec", "--exec-id", "e1", b, "/bin/sh", "-c",
					     "echo in-b > /f; cat /f; exit 5", NULL });
	ck_assert_msg(rc == 5 && strstr(out, "in-b"), "exec: %d %s", rc, out);
	rc = ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
		      (const char *const[]){ "task", "exec", "--exec-id", "e2", a, "/bin/cat", "/f",
					     NULL });
	ck_assert_msg(rc != 0, "a sees b's file: %d %s", rc, out);
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "kill", "-s", "SIGKILL", a, NULL });
	ctrd_delete_killed(&d, a);
	ctrd_ctr_ok(&d, (const char *const[]){ "containers", "rm", a, NULL });
	/* The other task still runs in the same UVM. */
	ck_assert_int_eq(qemus(&d), 1);
	rc = ctrd_ctr(&d, NULL, out, sizeof(out), STEP_MS,
		      (const char *const[]){ "task", "exec", "--exec-id", "e3", b, "/bin/cat", "/f",
					     NULL });
	ck_assert_msg(rc == 0 && strstr(out, "in-b"), "exec: %d %s", rc, out);
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "kill", "-s", "SIGKILL", b, NULL });
	ctrd_delete_killed(&d, b);
	ctrd_ctr_ok(&d, (const char *const[]){ "containers", "rm", b, NULL });
	ctrd_expect_no_shims(&d);
	ck_assert_int_eq(qemus(&d), 0);
	ctrd_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("containerd-qemu");
	TCase *tc = tcase_create("qemu");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_qemu_run);
	tcase_add_test(tc, test_qemu_pod);
	suite_add_tcase(s, tc);
	return ctrd_run_suite(s);
}
