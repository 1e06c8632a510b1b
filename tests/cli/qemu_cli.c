/*
 * The lcow command with QEMU-mode UVMs (lcow's kernel and initrd under TCG), run by make
 * vm-check once the initrd is built: an interrupted `lcow run` leaves nothing, and a daemon
 * killed with SIGKILL leaves its VM running for the next command to adopt. The containers have
 * --network none: QEMU's user-mode network (the default) is qemu_net.c's, in a namespace of
 * its own. The harness is
 * clitest.h's; without the kernel, the initrd, QEMU or lcow-vsock every test fails and says so.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clitest.h"

/* Sockets under dir, recursively (a UVM's ctl.sock, hybrid-vsock ports, QMP, vhost-user). */
static int sockets_under(const char *dir, char *report, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISSOCK(st.st_mode)) {
			snprintf(report + strlen(report), len - strlen(report), "socket %s; ", p);
			n++;
		} else if (S_ISDIR(st.st_mode)) {
			n += sockets_under(p, report, len);
		}
	}
	if (d)
		closedir(d);
	return n;
}

/*
 * SIGINT or SIGTERM at 0.5, 1 and 2 s into a QEMU-mode `lcow run` (the UVM is still booting
 * under TCG): lcow exits 128+N once the daemon tore the UVM down, and no process, record, loop
 * device or socket is left.
 */
START_TEST(test_interrupted_run)
{
	static const int sigs[] = { SIGINT, SIGTERM };
	static const int delays_ms[] = { 500, 1000, 2000 };
	char report[4096] = "", name[32], *b;
	struct t t;

	expect_qemu();
	t_start(&t);
	b = strdup(bundle(&t, "b", LONG_ARGS, false, NULL)); /* tpath's buffers rotate */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		for (size_t j = 0; j < sizeof(delays_ms) / sizeof(delays_ms[0]); j++) {
			const char *id;
			int status;
			pid_t pid;

			snprintf(name, sizeof(name), "i%zu-%zu", i, j);
			id = cid(&t, name);
			{
				const char *argv[] = { LCOW_BIN,     "--root", t.root,	    "run",
						       "--uvm-mode", "qemu",   "--network", "none",
						       "-b",	     b,	       id,	    NULL };
				pid = spawn_argv(argv, tpath(&t, "run.out"), tpath(&t, "run.err"));
			}
			usleep((useconds_t)delays_ms[j] * 1000);
			ck_assert_int_eq(kill(pid, sigs[i]), 0);
			status = wait_pid(pid, STEP_MS);
			slurp(tpath(&t, "run.err"), t.err, sizeof(t.err));
			ck_assert_msg(status == 128 + sigs[i],
				      "signal %d at %d ms: exit %d (want %d): %s", sigs[i],
				      delays_ms[j], status, 128 + sigs[i], t.err);
			/* Everything went before lcow exited: nothing to wait for. */
			ck_assert_msg(procs_of(t.dir, report, sizeof(report)) == 0 &&
					      sockets_under(t.root, report, sizeof(report)) == 0,
				      "signal %d at %d ms left: %s", sigs[i], delays_ms[j], report);
			OK(&t, "list", "--format", "json");
			ck_assert_str_eq(t.out, "[]\n");
		}
	free(b);
	t_end(&t);
}
END_TEST

/* kill -9 of a QEMU UVM's daemon: QEMU and lcow-vsock run on; exec adopts the UVM. */
START_TEST(test_daemon_killed_qemu)
{
	char p[PATH_MAX], text[64], *b;
	const char *id;
	long long t0;
	long pid;
	struct t t;

	expect_qemu();
	t_start(&t);
	id = cid(&t, "q");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "qemu",
				  "--network", "none", "-b", b, id),
			 0);
	expect_file_has(tpath(&t, "c.out"), "started");
	state_of(&t, id, text, sizeof(text), &pid);
	snprintf(p, sizeof(p), "%s/u/%s/daemon.pid", t.root, id);
	slurp(p, text, sizeof(text));
	ck_assert_int_eq(kill(atoi(text), SIGKILL), 0);
	t0 = now_ms();
	while (kill(atoi(text), 0) == 0 && now_ms() - t0 < STEP_MS)
		usleep(10000);
	snprintf(p, sizeof(p), "%s/u/%s/vm/qemu.pid", t.root, id);
	slurp(p, text, sizeof(text));
	ck_assert_msg(atoi(text) > 1 && kill(atoi(text), 0) == 0, "QEMU died with its daemon");
	ck_assert_int_eq(lcow(&t, "exec", id, "sh", "-c", "echo exec-after-crash"), 0);
	ck_assert_str_eq(t.out, "exec-after-crash\n");
	state_of(&t, id, text, sizeof(text), NULL);
	ck_assert_str_eq(text, "running");
	OK(&t, "kill", id, "TERM");
	expect_status(&t, id, "stopped");
	OK(&t, "delete", id);
	t_end(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli-qemu");

	ADD_TEST(s, test_interrupted_run);
	ADD_TEST(s, test_daemon_killed_qemu);
	return clitest_main(s);
}
