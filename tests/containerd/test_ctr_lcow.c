/*
 * Debian's containerd drives containerd-shim-lcow-v1 (runtime io.containerd.lcow.v1), in
 * process mode: output, stdin and exit status of `ctr run`; a detached task with exec, ps,
 * pause/resume, metrics, kill and delete; two tasks of one pod in one shim and one agent;
 * containerd restarted under a running task; a SIGKILLed shim cleaned up by containerd's
 * `delete`; and the task events in order. ctrd_stop asserts that nothing is left.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctrd.h"

#define STEP_MS 60000
#define RT "io.containerd.lcow.v1"

static int ctr(struct ctrd *d, const char *in, char *out, size_t len, const char *const *args)
{
	return ctrd_ctr(d, in, out, len, STEP_MS, args);
}

/* Polls `ctr task ls` until id shows status (with a deadline). */
static void expect_status(struct ctrd *d, const char *id, const char *status)
{
	char out[4096], *line = NULL;

	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(
			ctr(d, NULL, out, sizeof(out), (const char *const[]){ "task", "ls", NULL }),
			0);
		line = strstr(out, id);
		if (line && strstr(line, status) && strcspn(line, "\n") > strlen(id) &&
		    (size_t)(strstr(line, status) - line) < strcspn(line, "\n"))
			return;
		usleep(50 * 1000);
	}
	ck_assert_msg(false, "task %s never %s: %s", id, status, out);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

START_TEST(test_run_rm)
{
	struct ctrd d;
	char id[64], out[8192], in[4097];
	int rc;

	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-l1", d.ns);
	rc = ctr(&d, NULL, out, sizeof(out),
		 (const char *const[]){ "run", "--rm", "--runtime", RT, CTRD_IMAGE, id, "/bin/sh",
					"-c", "echo out-$((6*7)); echo err-1 >&2; exit 7", NULL });
	ck_assert_msg(rc == 7, "ctr run: %d %s", rc, out);
	ck_assert_msg(strstr(out, "out-42") && strstr(out, "err-1"), "ctr run: %s", out);

	/* stdin piped through, to its end */
	for (int i = 0; i < 4096; i++)
		in[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
	in[4096] = '\0';
	snprintf(id, sizeof(id), "%s-l2", d.ns);
	rc = ctr(&d, in, out, sizeof(out),
		 (const char *const[]){ "run", "--rm", "--runtime", RT, CTRD_IMAGE, id, "/bin/cat",
					NULL });
	ck_assert_msg(rc == 0, "ctr run (stdin): %d %.300s", rc, out);
	ck_assert_msg(strcmp(out, in) == 0, "cat gave %zu bytes: %.300s", strlen(out),
		      out + (strlen(out) > 300 ? strlen(out) - 300 : 0));
	ctrd_expect_no_shims(&d);
	ctrd_stop(&d);
}
END_TEST

START_TEST(test_detached)
{
	struct ctrd d;
	char id[64], out[8192], log[160], uri[200];
	off_t a, b;
	int rc;

	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-d1", d.ns);
	snprintf(log, sizeof(log), "%s/out.log", d.dir);
	snprintf(uri, sizeof(uri), "file://%s", log);
	ctrd_ctr_ok(&d, (const char *const[]){
				"run", "-d", "--log-uri", uri, "--runtime", RT, CTRD_IMAGE, id,
				"/bin/sh", "-c",
				"i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done", NULL });
	expect_status(&d, id, "RUNNING");
	rc = ctr(&d, NULL, out, sizeof(out),
		 (const char *const[]){ "task", "exec", "--exec-id", "e1", id, "/bin/sh", "-c",
					"echo exec-ok; exit 3", NULL });
	ck_assert_msg(rc == 3 && strstr(out, "exec-ok"), "exec: %d %s", rc, out);
	rc = ctr(&d, NULL, out, sizeof(out), (const char *const[]){ "task", "ps", id, NULL });
	ck_assert_msg(rc == 0 && strstr(out, "PID"), "ps: %d %s", rc, out);
	{
		/* a line with a pid under the header */
		char *nl = strchr(out, '\n');
		ck_assert_msg(nl && atoi(nl + 1) > 0, "ps: %s", out);
	}
	rc = ctr(&d, NULL, out, sizeof(out), (const char *const[]){ "task", "metrics", id, NULL });
	ck_assert_msg(rc == 0 && strstr(out, "memory.usage_in_bytes") &&
			      strstr(out, "pids.current"),
		      "metrics: %d %s", rc, out);

	/* paused: the loop stops writing; resumed: it writes again */
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "pause", id, NULL });
	expect_status(&d, id, "PAUSED");
	a = file_size(log);
	usleep(1000 * 1000);
	b = file_size(log);
	ck_assert_msg(a > 0 && a == b, "log grew while paused: %lld -> %lld", (long long)a,
		      (long long)b);
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "resume", id, NULL });
	expect_status(&d, id, "RUNNING");
	for (int i = 0; i < 100 && file_size(log) == b; i++)
		usleep(50 * 1000);
	ck_assert_msg(file_size(log) > b, "log did not grow after resume");

	ctrd_ctr_ok(&d, (const char *const[]){ "task", "kill", "-s", "SIGKILL", id, NULL });
	ctrd_delete_killed(&d, id);
	ctrd_ctr_ok(&d, (const char *const[]){ "containers", "rm", id, NULL });
	ctrd_expect_no_shims(&d);
	ctrd_stop(&d);
}
END_TEST

START_TEST(test_pod)
{
	struct ctrd d;
	char a[64], b[64], pod[96], out[4096];
	pid_t pids[8];
	int rc;

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
	ck_assert_int_eq(ctrd_procs(&d, "gcs", pids, 8), 1);
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "kill", "-s", "SIGKILL", a, NULL });
	ctrd_delete_killed(&d, a);
	ctrd_ctr_ok(&d, (const char *const[]){ "containers", "rm", a, NULL });
	expect_status(&d, b, "RUNNING");
	rc = ctr(&d, NULL, out, sizeof(out),
		 (const char *const[]){ "task", "exec", "--exec-id", "e1", b, "/bin/echo", "in-b",
					NULL });
	ck_assert_msg(rc == 0 && strstr(out, "in-b"), "exec: %d %s", rc, out);
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "kill", "-s", "SIGKILL", b, NULL });
	ctrd_delete_killed(&d, b);
	ctrd_ctr_ok(&d, (const char *const[]){ "containers", "rm", b, NULL });
	ctrd_expect_no_shims(&d);
	ck_assert_int_eq(ctrd_procs(&d, "gcs", pids, 8), 0);
	ctrd_stop(&d);
}
END_TEST

START_TEST(test_containerd_restart)
{
	struct ctrd d;
	char id[64];

	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-r1", d.ns);
	ctrd_ctr_ok(&d, (const char *const[]){ "run", "-d", "--runtime", RT, CTRD_IMAGE, id,
					       "/bin/sleep", "1000", NULL });
	ctrd_restart(&d);
	expect_status(&d, id, "RUNNING");
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "kill", "-s", "SIGKILL", id, NULL });
	ctrd_delete_killed(&d, id);
	ctrd_ctr_ok(&d, (const char *const[]){ "containers", "rm", id, NULL });
	ctrd_expect_no_shims(&d);
	ctrd_stop(&d);
}
END_TEST

START_TEST(test_shim_killed)
{
	struct ctrd d;
	char id[64], out[4096];
	pid_t pids[8];
	int n;

	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-k1", d.ns);
	/* no FIFOs: ctr removes its FIFOs only through a task it can still load */
	ctrd_ctr_ok(&d, (const char *const[]){ "run", "-d", "--null-io", "--runtime", RT,
					       CTRD_IMAGE, id, "/bin/sleep", "1000", NULL });
	ck_assert_int_eq(ctrd_procs(&d, "gcs", pids, 8), 1);
	ck_assert_int_eq(ctrd_shim_pids(&d, pids, 8), 1);
	ck_assert_int_eq(kill(pids[0], SIGKILL), 0);
	ctrd_expect_no_shims(&d);
	/* containerd notices, runs the shim's delete (the task is gone or stopped) */
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(ctr(&d, NULL, out, sizeof(out),
				     (const char *const[]){ "task", "ls", NULL }),
				 0);
		if (!strstr(out, id) || strstr(out, "STOPPED"))
			break;
		usleep(50 * 1000);
	}
	ck_assert_msg(!strstr(out, id) || strstr(out, "STOPPED"), "task ls: %s", out);
	/* containerd removed the task when the shim went (its delete ran): gone, or deletable */
	if (strstr(out, id))
		ctrd_ctr_ok(&d, (const char *const[]){ "task", "delete", id, NULL });
	ctrd_ctr_ok(&d, (const char *const[]){ "containers", "rm", id, NULL });
	/* the UVM (the process-mode agent) went with the shim's delete */
	for (int i = 0; i < 100 && (n = ctrd_procs(&d, NULL, pids, 8)) > 0; i++)
		usleep(50 * 1000);
	ck_assert_int_eq(ctrd_procs(&d, NULL, pids, 8), 0);
	ctrd_stop(&d);
}
END_TEST

/* Runs a tmux command on the test's own server socket; its output in out. */
static int tmux(const char *sock, char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int tmux(const char *sock, char *out, size_t len, const char *fmt, ...)
{
	char cmd[2048], args[1536];
	va_list ap;
	FILE *f;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "tmux -S '%s' %s 2>&1", sock, args);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	if (out) {
		n = fread(out, 1, len - 1, f);
		out[n] = '\0';
	} else {
		char sink[512];
		while (fread(sink, 1, sizeof(sink), f) > 0)
			;
	}
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Polls the pane until it shows want (with a deadline). */
static void pane_expect(const char *sock, const char *want)
{
	char out[8192];

	for (int i = 0; i < 300; i++) {
		tmux(sock, out, sizeof(out), "capture-pane -p -t t");
		if (strstr(out, want))
			return;
		usleep(50 * 1000);
	}
	ck_assert_msg(false, "the pane never showed '%s':\n%s", want, out);
}

START_TEST(test_terminal)
{
	struct ctrd d;
	char id[64], sock[160], done[160], out[256], want[64];

	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(id, sizeof(id), "%s-t1", d.ns);
	snprintf(sock, sizeof(sock), "%s/tmux.sock", d.dir);
	snprintf(done, sizeof(done), "%s/done", d.dir);
	ck_assert_int_eq(tmux(sock, NULL, 0,
			      "-f /dev/null new-session -d -s t -x 80 -y 24 "
			      "\"ctr --address %s --namespace %s run -t --rm --runtime %s %s %s "
			      "/bin/sh; echo exit=\\$? > %s; sleep 100\" \\; set -g status off",
			      d.sock, d.ns, RT, CTRD_IMAGE, id, done),
			 0);
	/* busybox sh's prompt (capture-pane drops the space after it) */
	pane_expect(sock, "~ #");
	tmux(sock, NULL, 0, "send-keys -t t 'stty size' Enter");
	tmux(sock, out, sizeof(out), "display -p -t t '#{pane_height} #{pane_width}'");
	out[strcspn(out, "\n")] = '\0';
	pane_expect(sock, out);
	ck_assert_int_eq(tmux(sock, NULL, 0, "resize-window -t t -x 100 -y 30"), 0);
	tmux(sock, out, sizeof(out), "display -p -t t '#{pane_height} #{pane_width}'");
	out[strcspn(out, "\n")] = '\0';
	ck_assert_msg(strcmp(out, "24 80") != 0, "tmux did not resize: %s", out);
	snprintf(want, sizeof(want), "%s", out);
	tmux(sock, NULL, 0, "send-keys -t t 'clear; stty size' Enter");
	pane_expect(sock, want);
	tmux(sock, NULL, 0, "send-keys -t t 'exit 4' Enter");
	for (int i = 0; i < 200 && access(done, F_OK) != 0; i++)
		usleep(50 * 1000);
	{
		FILE *f = fopen(done, "re");
		char line[64] = "";

		ck_assert_msg(f, "ctr run -t did not end");
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
		fclose(f);
		ck_assert_str_eq(line, "exit=4\n");
	}
	tmux(sock, NULL, 0, "kill-server");
	ctrd_expect_no_shims(&d);
	ctrd_stop(&d);
}
END_TEST

/* The topics of id in the order ctr events printed them, as "a b c". */
static void topics_of(const char *log, const char *id, char *ret, size_t len)
{
	const char *p = log;
	size_t n = 0;

	ret[0] = '\0';
	while (p && *p) {
		const char *nl = strchr(p, '\n'), *t;
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)ll, p);
		if (strstr(line, id) && (t = strstr(line, " /tasks/"))) {
			size_t tl = strcspn(t + 1, " ");

			n += (size_t)snprintf(ret + n, len - n, "%s%.*s", n ? " " : "", (int)tl,
					      t + 1);
		}
		p = nl ? nl + 1 : NULL;
	}
}

START_TEST(test_events)
{
	struct ctrd d;
	char r[64], x[64], out[4096], path[160], *log, topics[512];
	pid_t ev;
	FILE *f;
	long sz;

	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	snprintf(path, sizeof(path), "%s/events.log", d.dir);
	ev = fork();
	ck_assert_int_ge(ev, 0);
	if (ev == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		execlp("ctr", "ctr", "--address", d.sock, "events", (char *)NULL);
		_exit(127);
	}
	/* subscribed once it prints an event of ours: label the namespace until it does */
	for (int i = 0;; i++) {
		char label[32], *got;

		ck_assert_msg(i < 200, "ctr events printed nothing");
		snprintf(label, sizeof(label), "probe=%d", i);
		ctrd_ctr_ok(&d, (const char *const[]){ "namespaces", "label", d.ns, label, NULL });
		f = fopen(path, "re");
		got = NULL;
		if (f) {
			char line[512];

			while (!got && fgets(line, sizeof(line), f))
				got = strstr(line, "/namespaces/update");
			fclose(f);
		}
		if (got)
			break;
		usleep(20 * 1000);
	}
	snprintf(r, sizeof(r), "%s-e1", d.ns);
	snprintf(x, sizeof(x), "%s-e2", d.ns);
	ck_assert_int_eq(ctr(&d, NULL, out, sizeof(out),
			     (const char *const[]){ "run", "--rm", "--runtime", RT, CTRD_IMAGE, r,
						    "/bin/sh", "-c", "exit 3", NULL }),
			 3);
	ctrd_ctr_ok(&d, (const char *const[]){ "run", "-d", "--runtime", RT, CTRD_IMAGE, x,
					       "/bin/sleep", "1000", NULL });
	ck_assert_int_eq(ctr(&d, NULL, out, sizeof(out),
			     (const char *const[]){ "task", "exec", "--exec-id", "x1", x,
						    "/bin/true", NULL }),
			 0);
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "pause", x, NULL });
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "resume", x, NULL });
	ctrd_ctr_ok(&d, (const char *const[]){ "task", "kill", "-s", "SIGKILL", x, NULL });
	ctrd_delete_killed(&d, x);
	ctrd_ctr_ok(&d, (const char *const[]){ "containers", "rm", x, NULL });
	ctrd_expect_no_shims(&d);
	kill(ev, SIGTERM);
	waitpid(ev, NULL, 0);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	log = calloc(1, (size_t)sz + 1);
	ck_assert_ptr_nonnull(log);
	ck_assert_int_eq(fread(log, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	topics_of(log, r, topics, sizeof(topics));
	ck_assert_msg(strstr(topics, "/tasks/create /tasks/start /tasks/exit /tasks/delete"),
		      "run: %s\n%s", topics, log);
	topics_of(log, x, topics, sizeof(topics));
	ck_assert_msg(strstr(topics, "/tasks/start /tasks/exec-added /tasks/exec-started "
				     "/tasks/exit /tasks/paused /tasks/resumed /tasks/exit "
				     "/tasks/delete"),
		      "detached: %s\n%s", topics, log);
	free(log);
	ctrd_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("containerd-lcow");
	TCase *tc = tcase_create("lcow");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_run_rm);
	tcase_add_test(tc, test_detached);
	tcase_add_test(tc, test_terminal);
	tcase_add_test(tc, test_pod);
	tcase_add_test(tc, test_containerd_restart);
	tcase_add_test(tc, test_shim_killed);
	tcase_add_test(tc, test_events);
	suite_add_tcase(s, tc);
	return ctrd_run_suite(s);
}
