/*
 * UVM processes end to end: the real agent, driven through libgcs over hybrid vsock.
 * Every test ends with agent_stop's checks (no leaked fds, no zombies, clean exit).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

START_TEST(test_echo_stdout)
{
	struct agent_proc ap;
	struct run_result r;

	agent_start(&ap);
	run_uvm(&ap, (const char *const[]){ "/bin/echo", "hello-from-guest", NULL }, NULL, "/",
		NULL, &r);
	ck_assert_str_eq(r.out, "hello-from-guest\n");
	ck_assert_str_eq(r.err, "");
	ck_assert_uint_eq(r.exit_code, 0);
	run_result_free(&r);
	agent_stop(&ap);
}
END_TEST

START_TEST(test_cat_stdin)
{
	struct agent_proc ap;
	struct run_result r;

	agent_start(&ap);
	run_uvm(&ap, (const char *const[]){ "/bin/cat", NULL }, NULL, "/", "ping through stdin",
		&r);
	ck_assert_str_eq(r.out, "ping through stdin");
	ck_assert_uint_eq(r.exit_code, 0);
	run_result_free(&r);
	/* Empty stdin: EOF at once. */
	run_uvm(&ap, (const char *const[]){ "/bin/cat", NULL }, NULL, "/", "", &r);
	ck_assert_str_eq(r.out, "");
	ck_assert_uint_eq(r.exit_code, 0);
	run_result_free(&r);
	agent_stop(&ap);
}
END_TEST

START_TEST(test_stderr)
{
	struct agent_proc ap;
	struct run_result r;

	agent_start(&ap);
	run_uvm(&ap, SH("echo to-out; echo to-err >&2"), NULL, "/", NULL, &r);
	ck_assert_str_eq(r.out, "to-out\n");
	ck_assert_str_eq(r.err, "to-err\n");
	run_result_free(&r);
	agent_stop(&ap);
}
END_TEST

START_TEST(test_env_and_cwd)
{
	struct agent_proc ap;
	struct run_result r;

	agent_start(&ap);
	run_uvm(&ap, SH("echo \"$FOO|$BAR|$(pwd)\"; env | grep -c ."),
		(const char *const[]){ "PATH=/usr/bin:/bin", "FOO=foo value", "BAR=b=r", NULL },
		"/tmp", NULL, &r);
	/* Exactly the given environment (sh adds PWD, SHLVL and _). */
	ck_assert_msg(strncmp(r.out, "foo value|b=r|/tmp\n", 19) == 0, "%s", r.out);
	run_result_free(&r);
	agent_stop(&ap);
}
END_TEST

START_TEST(test_exit_codes)
{
	static const struct {
		const char *script;
		uint32_t code;
	} cases[] = {
		{ "exit 0", 0 },
		{ "exit 3", 3 },
		{ "kill -KILL $$", 137 },
		{ "kill -TERM $$", 143 },
	};
	struct agent_proc ap;

	agent_start(&ap);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_result r;
		run_uvm(&ap, SH(cases[i].script), NULL, "/", NULL, &r);
		ck_assert_msg(r.exit_code == cases[i].code, "%s: exit %u, want %u", cases[i].script,
			      r.exit_code, cases[i].code);
		run_result_free(&r);
	}
	agent_stop(&ap);
}
END_TEST

static struct gcs_process *start_sleep(struct agent_proc *ap, const char *secs)
{
	static const char *argv[] = { "/bin/sleep", NULL, NULL };
	struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 2 };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct gcs_process *p;

	argv[1] = secs;
	ck_assert_msg(gcs_process_exec(ap->b, &o, &p, &err) == 0, "%s", err.message);
	ck_assert_uint_gt(gcs_process_pid(p), 0);
	return p;
}

START_TEST(test_signals)
{
	struct agent_proc ap;
	struct gcs_error err = { 0 };
	uint32_t code;
	struct gcs_process *p;

	agent_start(&ap);
	p = start_sleep(&ap, "30");
	ck_assert_msg(gcs_process_signal(p, SIGTERM, &err) == 0, "%s", err.message);
	ck_assert_int_eq(gcs_process_wait(p, 10000, &code, &err), 0);
	ck_assert_uint_eq(code, 143);
	/* The process is gone: signalling it again is ERROR_NOT_FOUND. */
	ck_assert_int_eq(gcs_process_signal(p, SIGTERM, &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_NOT_FOUND);
	gcs_process_free(p);

	p = start_sleep(&ap, "30");
	ck_assert_msg(gcs_process_signal(p, SIGKILL, &err) == 0, "%s", err.message);
	ck_assert_int_eq(gcs_process_wait(p, 10000, &code, &err), 0);
	ck_assert_uint_eq(code, 137);
	gcs_process_free(p);

	/* Signal 0 (no Options) is SIGKILL. */
	p = start_sleep(&ap, "30");
	ck_assert_msg(gcs_process_signal(p, 0, &err) == 0, "%s", err.message);
	ck_assert_int_eq(gcs_process_wait(p, 10000, &code, &err), 0);
	ck_assert_uint_eq(code, 137);
	gcs_process_free(p);
	agent_stop(&ap);
}
END_TEST

START_TEST(test_wait_timeout)
{
	struct agent_proc ap;
	struct gcs_error err = { 0 };
	uint32_t code;
	struct gcs_process *p;

	agent_start(&ap);
	p = start_sleep(&ap, "30");
	ck_assert_int_eq(gcs_process_wait(p, 50, &code, &err), -ETIMEDOUT);
	ck_assert_int_eq(err.hresult, HR_VMCOMPUTE_TIMEOUT);
	/* The process is still there and can be waited for again. */
	ck_assert_int_eq(gcs_process_signal(p, SIGKILL, &err), 0);
	ck_assert_int_eq(gcs_process_wait(p, 10000, &code, &err), 0);
	ck_assert_uint_eq(code, 137);
	/* After the first answered wait the process is forgotten. */
	ck_assert_int_eq(gcs_process_wait(p, 1000, &code, &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_NOT_FOUND);
	gcs_process_free(p);
	agent_stop(&ap);
}
END_TEST

struct many_arg {
	struct agent_proc *ap;
	int index;
	bool ok;
};

static void *run_one(void *arg)
{
	struct many_arg *m = arg;
	char script[64], want[64];
	struct run_result r;

	snprintf(script, sizeof(script), "echo process-%d", m->index);
	snprintf(want, sizeof(want), "process-%d\n", m->index);
	run_uvm(m->ap, SH(script), NULL, "/", NULL, &r);
	m->ok = strcmp(r.out, want) == 0 && r.exit_code == 0;
	run_result_free(&r);
	return NULL;
}

START_TEST(test_hundred_at_once)
{
	struct agent_proc ap;
	struct many_arg args[100];
	pthread_t th[100];

	agent_start(&ap);
	for (int i = 0; i < 100; i++) {
		args[i] = (struct many_arg){ &ap, i, false };
		ck_assert_int_eq(pthread_create(&th[i], NULL, run_one, &args[i]), 0);
	}
	for (int i = 0; i < 100; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].ok, "process %d: wrong output or exit code", i);
	}
	agent_stop(&ap);
}
END_TEST

/* A console process: stty size follows ResizeConsole. */
START_TEST(test_tty_resize)
{
	static const char *argv[] = { "/bin/sh", "-c",
				      "stty size; read x; stty size; test -t 0 && echo tty", NULL };
	struct gcs_proto_process_params pp = {
		.command_args = argv,
		.n_command_args = 3,
		.emulate_console = true,
		.has_console_size = true,
		.console_size = { 24, 80 },
		.environment = (const struct gcs_proto_env[]){ { "PATH", "/usr/bin:/bin" } },
		.n_environment = 1,
	};
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct agent_proc ap;
	struct gcs_process *p;
	char buf[4096];
	size_t n = 0;
	uint32_t code;
	int in, out;

	o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	agent_start(&ap);
	ck_assert_msg(gcs_process_exec(ap.b, &o, &p, &err) == 0, "%s", err.message);
	in = gcs_process_stdio_fd(p, GCS_STDIN);
	out = gcs_process_stdio_fd(p, GCS_STDOUT);
	/* Wait for the first size, then resize and let the script go on. */
	while (!strstr(buf, "24 80")) {
		ssize_t r = read(out, buf + n, sizeof(buf) - 1 - n);
		ck_assert_int_gt(r, 0);
		n += (size_t)r;
		buf[n] = '\0';
	}
	ck_assert_msg(gcs_process_resize(p, 40, 132, &err) == 0, "%s", err.message);
	ck_assert_int_eq(write(in, "\n", 1), 1);
	for (;;) {
		ssize_t r = read(out, buf + n, sizeof(buf) - 1 - n);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
	ck_assert_msg(strstr(buf, "40 132"), "output: %s", buf);
	ck_assert_msg(strstr(buf, "tty"), "output: %s", buf);
	ck_assert_int_eq(gcs_process_wait(p, 10000, &code, &err), 0);
	ck_assert_uint_eq(code, 0);
	gcs_process_free(p);

	/* A process without a console cannot be resized. */
	p = start_sleep(&ap, "30");
	ck_assert_int_eq(gcs_process_resize(p, 10, 10, &err), -EREMOTEIO);
	ck_assert_int_eq(gcs_process_signal(p, SIGKILL, &err), 0);
	ck_assert_int_eq(gcs_process_wait(p, 10000, &code, &err), 0);
	gcs_process_free(p);
	agent_stop(&ap);
}
END_TEST

struct pump {
	int fd;
	size_t total;
	uint64_t sum;
	size_t got;
};

/* A simple order-sensitive checksum. */
static uint64_t mix(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void *writer(void *arg)
{
	struct pump *w = arg;
	unsigned char buf[65536];
	uint64_t seed = 42;
	size_t off = 0;

	w->sum = 1469598103934665603ull;
	while (off < w->total) {
		size_t n = w->total - off < sizeof(buf) ? w->total - off : sizeof(buf);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			buf[i] = (unsigned char)(seed >> 56);
		}
		w->sum = mix(w->sum, buf, n);
		for (size_t done = 0; done < n;) {
			ssize_t r = send(w->fd, buf + done, n - done, MSG_NOSIGNAL);
			if (r <= 0)
				return NULL;
			done += (size_t)r;
		}
		off += n;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

START_TEST(test_relay_64mib)
{
	static const char *argv[] = { "/bin/cat", NULL };
	struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 1 };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct pump w = { .total = 64u << 20 };
	unsigned char buf[65536];
	uint64_t sum = 1469598103934665603ull;
	size_t got = 0;
	struct agent_proc ap;
	struct gcs_process *p;
	pthread_t th;
	uint32_t code;
	int out;

	o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	agent_start(&ap);
	ck_assert_msg(gcs_process_exec(ap.b, &o, &p, &err) == 0, "%s", err.message);
	w.fd = gcs_process_stdio_fd(p, GCS_STDIN);
	out = gcs_process_stdio_fd(p, GCS_STDOUT);
	ck_assert_int_eq(pthread_create(&th, NULL, writer, &w), 0);
	for (;;) {
		ssize_t r = read(out, buf, sizeof(buf));
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		sum = mix(sum, buf, (size_t)r);
		got += (size_t)r;
	}
	pthread_join(th, NULL);
	ck_assert_uint_eq(got, w.total);
	ck_assert_msg(sum == w.sum, "checksums differ");
	ck_assert_int_eq(gcs_process_wait(p, 10000, &code, &err), 0);
	ck_assert_uint_eq(code, 0);
	gcs_process_free(p);
	agent_stop(&ap);
}
END_TEST

/* Output written just before exit is delivered before the wait is answered. */
START_TEST(test_output_flushed_before_exit)
{
	static const char *argv[] = { "/bin/sh", "-c", "head -c 1000000 /dev/zero; exit 7", NULL };
	struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 3 };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct agent_proc ap;
	struct gcs_process *p;
	uint32_t code;
	int fds[2];
	char buf[65536];
	size_t got = 0;

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);
	fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, fds[1] };
	agent_start(&ap);
	ck_assert_msg(gcs_process_exec(ap.b, &o, &p, &err) == 0, "%s", err.message);
	ck_assert_int_eq(gcs_process_wait(p, 20000, &code, &err), 0);
	ck_assert_uint_eq(code, 7);
	close(fds[1]);
	for (;;) {
		ssize_t r = read(fds[0], buf, sizeof(buf));
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fds[0]);
	ck_assert_uint_eq(got, 1000000);
	gcs_process_free(p);
	agent_stop(&ap);
}
END_TEST

START_TEST(test_exec_errors)
{
	static const char *missing[] = { "/no/such/program", NULL };
	struct gcs_proto_process_params pp = { .command_args = missing, .n_command_args = 1 };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct agent_proc ap;
	struct gcs_process *p;
	struct run_result r;

	agent_start(&ap);
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	ck_assert_int_eq(gcs_process_exec(ap.b, &o, &p, &err), -EREMOTEIO);
	ck_assert_msg(strstr(err.message, "/no/such/program"), "%s", err.message);
	pp.command_args = (const char *const[]){ "/bin/true", NULL };
	pp.working_directory = "/no/such/dir";
	ck_assert_int_eq(gcs_process_exec(ap.b, &o, &p, &err), -EREMOTEIO);
	ck_assert_msg(strstr(err.message, "/no/such/dir"), "%s", err.message);
	/* CommandLine, split shell-style, when there are no CommandArgs. */
	pp = (struct gcs_proto_process_params){ .command_line =
							"/bin/sh -c 'echo \"a  b\"' ignored" };
	{
		struct gcs_process *q;
		uint32_t code;
		char buf[64] = "";
		int fds[2];
		ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
		o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, fds[1] };
		ck_assert_msg(gcs_process_exec(ap.b, &o, &q, &err) == 0, "%s", err.message);
		ck_assert_int_eq(gcs_process_wait(q, 10000, &code, &err), 0);
		close(fds[1]);
		ck_assert_int_gt(read(fds[0], buf, sizeof(buf) - 1), 0);
		ck_assert_str_eq(buf, "a  b\n");
		close(fds[0]);
		gcs_process_free(q);
	}
	/* The agent keeps serving. */
	run_uvm(&ap, (const char *const[]){ "/bin/echo", "still-here", NULL }, NULL, "/", NULL, &r);
	ck_assert_str_eq(r.out, "still-here\n");
	run_result_free(&r);
	agent_stop(&ap);
}
END_TEST

START_TEST(test_dump_stacks)
{
	struct agent_proc ap;
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	char *stacks = NULL;
	uint32_t code;

	agent_start(&ap);
	p = start_sleep(&ap, "30");
	ck_assert_msg(gcs_dump_stacks(ap.b, &stacks, &err) == 0, "%s", err.message);
	ck_assert_msg(strstr(stacks, "/bin/sleep") && strstr(stacks, "running"), "%s", stacks);
	ck_assert_uint_lt(strlen(stacks), 65536);
	free(stacks);
	gcs_process_signal(p, SIGKILL, &err);
	gcs_process_wait(p, 10000, &code, &err);
	gcs_process_free(p);
	agent_stop(&ap);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uvm-process");
	TCase *tc = tcase_create("agent");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_echo_stdout);
	tcase_add_test(tc, test_cat_stdin);
	tcase_add_test(tc, test_stderr);
	tcase_add_test(tc, test_env_and_cwd);
	tcase_add_test(tc, test_exit_codes);
	tcase_add_test(tc, test_signals);
	tcase_add_test(tc, test_wait_timeout);
	tcase_add_test(tc, test_hundred_at_once);
	tcase_add_test(tc, test_tty_resize);
	tcase_add_test(tc, test_relay_64mib);
	tcase_add_test(tc, test_output_flushed_before_exit);
	tcase_add_test(tc, test_exec_errors);
	tcase_add_test(tc, test_dump_stacks);
	suite_add_tcase(s, tc);
	{
		SRunner *sr = srunner_create(s);
		int failed;
		srunner_run_all(sr, CK_NORMAL);
		failed = srunner_ntests_failed(sr);
		srunner_free(sr);
		return failed ? 1 : 0;
	}
}
