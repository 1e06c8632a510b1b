/*
 * Unit tests of the agent's runtime interface (guest/gcs/runtime.h, runtime_runc.c) and of the
 * helper processes under it (child.c), against a stand-in runc (tests/stubs/runc) chosen by the
 * agent option runc: the command line of every verb, runc's own error text in the callback
 * (from its JSON log, its stderr, or the stderr it passed on), the deadline (runc and what it
 * started are killed, the callback says so in time), cancellation (no callback, nothing left),
 * and runc's state directory (list, cgroup paths). A minimal agent with a loop, no bridge.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "hostpath.h"
#include "cgroup.h"
#include "child.h"
#include "cleanup.h"
#include "path.h"
#include "runtime.h"
#include "testutil.h"
#include "fsutil.h"

#define STUB LCOW_TESTDATA "/../stubs/runc"
#define WAIT_MS 10000

static struct {
	struct agent a;
	char dir[PATH_MAX];
	char record[PATH_MAX];
	char work[PATH_MAX]; /* <run_root>/gcs/runtime */
} t;

/* What the callback saw. */
struct outcome {
	int calls;
	int error;
	int exit_code;
	bool timed_out;
	char message[4096];
	char out[4096];
	pid_t pid;
	pid_t pids[16];
	size_t n_pids;
	int64_t at_ms;
};

static void on_done(void *data, struct runtime_result *r)
{
	struct outcome *o = data;

	o->calls++;
	o->error = r->error;
	o->exit_code = r->exit_code;
	o->timed_out = r->timed_out;
	snprintf(o->message, sizeof(o->message), "%s", r->message);
	snprintf(o->out, sizeof(o->out), "%s", r->out);
	o->pid = r->pid;
	o->n_pids = r->n_pids;
	for (size_t i = 0; i < r->n_pids && i < ARRAY_SIZE(o->pids); i++)
		o->pids[i] = r->pids[i];
	o->at_ms = loop_now_ms();
	loop_quit(t.a.loop, 0);
}

static void on_timeout(struct loop_timer *tm)
{
	(void)tm;
	loop_quit(t.a.loop, 1);
}

/* Runs the loop for ms, or until a callback quits it. */
static void run_loop(int ms)
{
	struct loop_timer timer = { 0 };

	loop_timer_arm(t.a.loop, &timer, ms, on_timeout);
	loop_resume(t.a.loop);
	loop_run(t.a.loop);
	loop_timer_cancel(t.a.loop, &timer);
}

/*
 * Runs the loop until the callback came (at most ms), then gives the agent a fresh loop (a loop
 * may stay quit once loop_quit was called). Nothing else may be pending on the loop then.
 */
static void wait_done(struct outcome *o, int ms)
{
	run_loop(ms);
	ck_assert_msg(o->calls == 1, "%d callbacks within %d ms", o->calls, ms);
	ck_assert_uint_eq(child_count(&t.a), 0);
	loop_free(t.a.loop);
	ck_assert_int_eq(loop_new(&t.a.loop), 0);
}

static void stub(const char *mode, const char *text, const char *out)
{
	setenv("STUB_MODE", mode, 1);
	if (text)
		setenv("STUB_TEXT", text, 1);
	else
		unsetenv("STUB_TEXT");
	if (out)
		setenv("STUB_OUT", out, 1);
	else
		unsetenv("STUB_OUT");
	unlink(t.record);
}

/* The recorded argv (one argument a line), into lines; returns how many. */
static size_t recorded(char lines[][PATH_MAX], size_t cap)
{
	FILE *f = fopen(t.record, "r");
	size_t n = 0;

	ck_assert_msg(f != NULL, "the stub recorded nothing");
	while (n < cap && fgets(lines[n], PATH_MAX, f)) {
		lines[n][strcspn(lines[n], "\n")] = '\0';
		n++;
	}
	fclose(f);
	return n;
}

static char *read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* No file is left in the runtime's work directory. */
static void expect_no_files(void)
{
	char cmd[PATH_MAX + 64];
	struct stat st;

	if (stat(t.work, &st) < 0)
		return;
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", t.work);
	ck_assert_msg(system(cmd) == 0, "files left in %s", t.work);
}

/*
 * The argv: runc --root R --log L --log-format json <verb> <flags...> -- <id> <tail...>, with L
 * in the work directory. want holds verb, flags, "--", id and tail; "*" matches any argument.
 */
static void expect_argv(const char *const *want)
{
	char lines[40][PATH_MAX];
	size_t n = recorded(lines, 40), k = 0;

	ck_assert_uint_ge(n, 7);
	ck_assert_str_eq(lines[1], "--root");
	ck_assert_str_eq(lines[2], t.a.opt.runc_root);
	ck_assert_str_eq(lines[3], "--log");
	ck_assert_msg(path_is_below(lines[4], t.work), "log %s not in %s", lines[4], t.work);
	ck_assert_str_eq(lines[5], "--log-format");
	ck_assert_str_eq(lines[6], "json");
	for (; want[k]; k++) {
		ck_assert_msg(7 + k < n, "argv ends before \"%s\"", want[k]);
		if (strcmp(want[k], "*"))
			ck_assert_str_eq(lines[7 + k], want[k]);
	}
	ck_assert_msg(7 + k == n, "%zu more arguments, first \"%s\"", n - 7 - k, lines[7 + k]);
}

/* A process that is gone or a zombie (killed; its reaper may not have come yet). */
static bool dead(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	p = strrchr(buf, ')');
	return p && (p[2] == 'Z' || p[2] == 'X');
}

static bool dies_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (dead(pid))
			return true;
		usleep(10000);
	}
	return dead(pid);
}

static pid_t recorded_child(void)
{
	char buf[64], path[PATH_MAX + 8];

	snprintf(path, sizeof(path), "%s.child", t.record);
	for (int i = 0; i < 200 && access(path, F_OK) < 0; i++)
		usleep(10000);
	return (pid_t)atoi(read_text(path, buf, sizeof(buf)));
}

/* ---- fixtures ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void setup(void)
{
	char cmd[2 * PATH_MAX];

	snprintf(t.dir, sizeof(t.dir), "/tmp/lcow-runtime-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t.dir));
	memset(&t.a, 0, sizeof(t.a));
	t.a.bridge.fd = -1;
	list_init(&t.a.requests);
	list_init(&t.a.processes);
	list_init(&t.a.pending_execs);
	list_init(&t.a.helpers);
	list_init(&t.a.mounts);
	list_init(&t.a.containers);
	ck_assert_int_eq(loop_new(&t.a.loop), 0);
	snprintf(t.a.opt.run_root, sizeof(t.a.opt.run_root), "%s/run", t.dir);
	snprintf(t.a.opt.runc_root, sizeof(t.a.opt.runc_root), "%s/run/runc", t.dir);
	snprintf(t.a.opt.runc, sizeof(t.a.opt.runc), "%s/runc", t.dir);
	t.a.opt.runtime_timeout_ms = WAIT_MS;
	snprintf(t.work, sizeof(t.work), "%s/gcs/runtime", t.a.opt.run_root);
	snprintf(t.record, sizeof(t.record), "%s/argv", t.dir);
	ck_assert_int_eq(mkdir_p(t.a.opt.runc_root, 0700), 0);
	ck_assert_int_eq(hostpath_open_root(&t.a), 0);
	/* A copy, executable whatever the checkout did to the mode. */
	snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 0755 %s", STUB, t.a.opt.runc, t.a.opt.runc);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
	setenv("STUB_RECORD", t.record, 1);
	unsetenv("STUB_PID");
}

static void teardown(void)
{
	child_kill_all(&t.a);
	loop_free(t.a.loop);
	close(t.a.root_fd);
	nftw(t.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the command line ---- */

START_TEST(test_argv_every_verb)
{
	const struct runtime *rt = runtime_get(&t.a);
	struct runtime_stdio io = { .fds = { -1, -1, -1 }, .stderr_peek = -1 };
	json_t *proc = json_pack("{s:[s,s], s:s}", "args", "/bin/echo", "hi", "cwd", "/");
	json_t *res = json_pack("{s:{s:i}}", "pids", "limit", 7);
	char bundle[PATH_MAX], doc[1024], path[PATH_MAX + 8];
	struct outcome o;

	ck_assert_str_eq(rt->name, "runc");
	snprintf(bundle, sizeof(bundle), "%s/bundle", t.dir);
	setenv("STUB_PID", "4321", 1);

	stub("ok", NULL, NULL);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(rt->create(&t.a, "c1", bundle, &io, on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.error, 0);
	ck_assert_int_eq(o.pid, 4321);
	expect_argv((const char *const[]){ "create", "--bundle", bundle, "--pid-file", "*", "--",
					   "c1", NULL });
	expect_no_files();

	stub("ok", NULL, NULL);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(rt->exec(&t.a, "c1", proc, &io, on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.error, 0);
	ck_assert_int_eq(o.pid, 4321);
	expect_argv((const char *const[]){ "exec", "--detach", "--process", "*", "--pid-file", "*",
					   "--", "c1", NULL });
	snprintf(path, sizeof(path), "%s.doc", t.record);
	ck_assert_str_eq(read_text(path, doc, sizeof(doc)), "{\"args\":[\"/bin/echo\",\"hi\"],"
							    "\"cwd\":\"/\"}");
	expect_no_files();

	stub("ok", NULL, NULL);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(rt->update(&t.a, "c1", res, on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	expect_argv((const char *const[]){ "update", "--resources", "*", "--", "c1", NULL });
	ck_assert_str_eq(read_text(path, doc, sizeof(doc)), "{\"pids\":{\"limit\":7}}");

	stub("ok", NULL, NULL);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(rt->kill(&t.a, "c1", SIGTERM, false, on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	expect_argv((const char *const[]){ "kill", "--", "c1", "15", NULL });

	/* An ID that looks like an option stays the ID. */
	stub("ok", NULL, NULL);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(rt->kill(&t.a, "--all", SIGKILL, true, on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	expect_argv((const char *const[]){ "kill", "--all", "--", "--all", "9", NULL });

	{
		static const char *const verbs[] = { "start", "pause", "resume", "state" };
		int (*const fns[])(struct agent *, const char *, runtime_done_fn, void *,
				   struct runtime_call **) = { rt->start, rt->pause, rt->resume,
							       rt->state };
		for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
			stub("ok", NULL, NULL);
			memset(&o, 0, sizeof(o));
			ck_assert_int_eq(fns[i](&t.a, "-c2", on_done, &o, NULL), 0);
			wait_done(&o, WAIT_MS);
			ck_assert_int_eq(o.error, 0);
			expect_argv((const char *const[]){ verbs[i], "--", "-c2", NULL });
		}
	}

	stub("ok", NULL, NULL);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(rt->remove(&t.a, "c1", true, on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	expect_argv((const char *const[]){ "delete", "--force", "--", "c1", NULL });
	stub("ok", NULL, NULL);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(rt->remove(&t.a, "c1", false, on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	expect_argv((const char *const[]){ "delete", "--", "c1", NULL });

	stub("ok", NULL, "[1,22,333]");
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(rt->ps(&t.a, "c1", on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	expect_argv((const char *const[]){ "ps", "--format", "json", "--", "c1", NULL });
	ck_assert_int_eq(o.error, 0);
	ck_assert_uint_eq(o.n_pids, 3);
	ck_assert_int_eq(o.pids[0], 1);
	ck_assert_int_eq(o.pids[2], 333);

	/* Refused before anything runs. */
	ck_assert_int_eq(rt->start(&t.a, "", on_done, &o, NULL), -EINVAL);
	ck_assert_int_eq(rt->kill(&t.a, "c1", 0, false, on_done, &o, NULL), -EINVAL);
	ck_assert_uint_eq(child_count(&t.a), 0);
	expect_no_files();
	json_decref(proc);
	json_decref(res);
}
END_TEST

START_TEST(test_state_output)
{
	const struct runtime *rt = runtime_get(&t.a);
	struct outcome o = { 0 };

	stub("ok", NULL, "{\"id\":\"c1\",\"status\":\"running\"}");
	ck_assert_int_eq(rt->state(&t.a, "c1", on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.error, 0);
	ck_assert_str_eq(o.out, "{\"id\":\"c1\",\"status\":\"running\"}\n");
}
END_TEST

/* ---- runc's own words ---- */

START_TEST(test_json_log_error)
{
	static const char text[] = "container_linux.go:380: starting container process caused: "
				   "exec: /nonexistent: no such file or directory";
	struct outcome o = { 0 };

	stub("json-error", text, NULL);
	ck_assert_int_eq(runtime_get(&t.a)->start(&t.a, "c1", on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.error, -EIO);
	ck_assert_int_eq(o.exit_code, 1);
	ck_assert(!o.timed_out);
	ck_assert_str_eq(o.message, text);
	expect_no_files();
}
END_TEST

START_TEST(test_plain_stderr)
{
	struct outcome o = { 0 };

	stub("stderr", "container \"c1\" does not exist", NULL);
	ck_assert_int_eq(runtime_get(&t.a)->pause(&t.a, "c1", on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.error, -EIO);
	ck_assert_str_eq(o.message, "container \"c1\" does not exist");

	memset(&o, 0, sizeof(o));
	stub("silent", NULL, NULL);
	ck_assert_int_eq(runtime_get(&t.a)->pause(&t.a, "c1", on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.exit_code, 3);
	ck_assert_str_eq(o.message, "runc pause exited with code 3 and wrote no message");
}
END_TEST

/* create passes the init's stdio on: runc's stderr is in the init's stderr pipe. */
START_TEST(test_passed_on_stderr)
{
	struct runtime_stdio io = { .fds = { -1, -1, -1 } };
	struct outcome o = { 0 };
	char bundle[PATH_MAX];
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	io.fds[2] = p[1];
	io.stderr_peek = p[0];
	snprintf(bundle, sizeof(bundle), "%s/bundle", t.dir);
	stub("stderr", "runc run failed: invalid mount", NULL);
	ck_assert_int_eq(runtime_get(&t.a)->create(&t.a, "c1", bundle, &io, on_done, &o, NULL), 0);
	close(p[1]);
	wait_done(&o, WAIT_MS);
	close(p[0]);
	ck_assert_int_eq(o.error, -EIO);
	ck_assert_str_eq(o.message, "runc run failed: invalid mount");
	expect_no_files();
}
END_TEST

START_TEST(test_ps_unparsable)
{
	struct outcome o = { 0 };

	stub("ok", NULL, "no pids here");
	ck_assert_int_eq(runtime_get(&t.a)->ps(&t.a, "c1", on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.error, -EBADMSG);
	ck_assert_msg(strstr(o.message, "\"no pids here\""), "%s", o.message);

	memset(&o, 0, sizeof(o));
	stub("ok", NULL, "[1,\"two\"]");
	ck_assert_int_eq(runtime_get(&t.a)->ps(&t.a, "c1", on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.error, -EBADMSG);
}
END_TEST

/* create and exec succeed only with a pid. */
START_TEST(test_no_pid_file)
{
	struct runtime_stdio io = { .fds = { -1, -1, -1 }, .stderr_peek = -1 };
	struct outcome o = { 0 };

	setenv("STUB_PID", "none", 1);
	stub("ok", NULL, NULL);
	ck_assert_int_eq(runtime_get(&t.a)->create(&t.a, "c1", t.dir, &io, on_done, &o, NULL), 0);
	wait_done(&o, WAIT_MS);
	ck_assert_int_eq(o.error, -EIO);
	ck_assert_msg(strstr(o.message, "runc create wrote no pid"), "%s", o.message);
}
END_TEST

/* ---- the deadline ---- */

START_TEST(test_deadline)
{
	struct outcome o = { 0 };
	int64_t t0;
	pid_t child;

	t.a.opt.runtime_timeout_ms = 300;
	stub("hang", NULL, NULL);
	t0 = loop_now_ms();
	ck_assert_int_eq(runtime_get(&t.a)->start(&t.a, "c1", on_done, &o, NULL), 0);
	wait_done(&o, 300 + 1000);
	ck_assert_msg(o.at_ms - t0 >= 300 && o.at_ms - t0 <= 1300, "callback after %lld ms",
		      (long long)(o.at_ms - t0));
	ck_assert(o.timed_out);
	ck_assert_int_eq(o.error, -ETIMEDOUT);
	ck_assert_str_eq(o.message, "runc start did not finish within 300 ms: stub is hanging");
	/* What runc started went with it (its process group). */
	child = recorded_child();
	ck_assert_int_gt(child, 0);
	ck_assert_msg(dies_within(child, 1000), "the stub's child %d still runs", child);
	expect_no_files();
}
END_TEST

START_TEST(test_delete_sync_deadline)
{
	char msg[GCS_ERROR_MESSAGE_MAX];
	int64_t t0 = loop_now_ms();
	int rc;

	t.a.opt.runtime_timeout_ms = 300;
	stub("hang", NULL, NULL);
	rc = runtime_get(&t.a)->remove_sync(&t.a, "c1", msg, sizeof(msg));
	ck_assert_int_eq(rc, -ETIMEDOUT);
	ck_assert_int_le(loop_now_ms() - t0, 1300);
	ck_assert_str_eq(msg, "runc delete did not finish within 300 ms: stub is hanging");
	expect_argv((const char *const[]){ "delete", "--force", "--", "c1", NULL });
	ck_assert(dies_within(recorded_child(), 1000));

	stub("json-error", "cannot delete it", NULL);
	ck_assert_int_eq(runtime_get(&t.a)->remove_sync(&t.a, "c1", msg, sizeof(msg)), -EIO);
	ck_assert_str_eq(msg, "cannot delete it");
	stub("ok", NULL, NULL);
	ck_assert_int_eq(runtime_get(&t.a)->remove_sync(&t.a, "c1", msg, sizeof(msg)), 0);
	expect_no_files();
}
END_TEST

/* ---- cancellation ---- */

START_TEST(test_cancel)
{
	struct runtime_stdio io = { .fds = { -1, -1, -1 }, .stderr_peek = -1 };
	struct runtime_call *call = NULL;
	struct outcome o = { 0 };
	pid_t child;

	stub("hang", NULL, NULL);
	ck_assert_int_eq(runtime_get(&t.a)->create(&t.a, "c1", t.dir, &io, on_done, &o, &call), 0);
	ck_assert_ptr_nonnull(call);
	child = recorded_child();
	ck_assert_uint_eq(child_count(&t.a), 1);
	runtime_get(&t.a)->cancel(&t.a, call);
	ck_assert_uint_eq(child_count(&t.a), 0);
	ck_assert(dies_within(child, 1000));
	run_loop(300);
	ck_assert_int_eq(o.calls, 0);
	expect_no_files();
}
END_TEST

/* child_kill_all (the end of main) frees what a call still held: no leak, no callback. */
START_TEST(test_kill_all_releases)
{
	struct outcome o = { 0 };

	stub("hang", NULL, NULL);
	ck_assert_int_eq(runtime_get(&t.a)->ps(&t.a, "c1", on_done, &o, NULL), 0);
	ck_assert_int_eq(runtime_get(&t.a)->pause(&t.a, "c2", on_done, &o, NULL), 0);
	ck_assert_uint_eq(child_count(&t.a), 2);
	child_kill_all(&t.a);
	ck_assert_uint_eq(child_count(&t.a), 0);
	run_loop(200);
	ck_assert_int_eq(o.calls, 0);
	expect_no_files();
}
END_TEST

/* child.c alone: a deadline on a helper whose grandchild keeps its output pipe open. */
static void on_child(void *data, const struct child_result *r)
{
	struct child_result *out = data;

	*out = *r;
	out->out = out->err = NULL;
	loop_quit(t.a.loop, 0);
}

START_TEST(test_child_deadline_and_drain)
{
	char *const argv[] = { "/bin/sh", "-c", "echo started >&2; (sleep 5 >&2 &); sleep 100",
			       NULL };
	char *const quick[] = { "/bin/sh", "-c", "(sleep 5 >&2 &); echo done", NULL };
	struct child_options opt = { .fds = { CHILD_NULL, CHILD_CAPTURE, CHILD_CAPTURE },
				     .timeout_ms = 200,
				     .own_group = true };
	struct child_result r = { 0 };
	int64_t t0 = loop_now_ms();

	ck_assert_int_eq(child_run(&t.a, argv, &opt, on_child, &r, NULL), 0);
	run_loop(2000);
	ck_assert(r.timed_out);
	ck_assert_int_eq(r.exit_code, 128 + SIGKILL);
	ck_assert_int_le(loop_now_ms() - t0, 1200);

	/* Exited in time, but a grandchild in another group holds stderr: the result comes. */
	memset(&r, 0, sizeof(r));
	opt.own_group = false;
	opt.timeout_ms = 5000;
	t0 = loop_now_ms();
	ck_assert_int_eq(child_run(&t.a, quick, &opt, on_child, &r, NULL), 0);
	run_loop(3000);
	ck_assert(!r.timed_out);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_uint_eq(r.out_len, 5);
	ck_assert_int_le(loop_now_ms() - t0, 1500);
}
END_TEST

/* ---- runc's state directory ---- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_state_dir)
{
	const struct runtime *rt = runtime_get(&t.a);
	char p[PATH_MAX + 64], **ids = NULL, **paths = NULL;
	size_t n = 0;

	ck_assert_int_eq(rt->list(&t.a, &ids), 0);
	ck_assert_ptr_null(ids[0]);
	runtime_strv_free(ids);

	snprintf(p, sizeof(p), "%s/left", t.a.opt.runc_root);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/left/state.json", t.a.opt.runc_root);
	write_text(p, "{\"id\":\"left\",\"cgroup_paths\":{\"\":\"/sys/fs/cgroup/unified/left\","
		      "\"memory\":\"/sys/fs/cgroup/memory/x/left\",\"cpu\":\"/sys/fs/cgroup/cpu,"
		      "cpuacct/left\",\"cpuacct\":\"/sys/fs/cgroup/cpu,cpuacct/left\"}}");
	snprintf(p, sizeof(p), "%s/not-a-container", t.a.opt.runc_root);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(rt->list(&t.a, &ids), 0);
	ck_assert_str_eq(ids[0], "left");
	ck_assert_ptr_null(ids[1]);
	runtime_strv_free(ids);

	ck_assert_int_eq(rt->cgroup_paths(&t.a, "left", &paths), 0);
	for (; paths[n]; n++)
		;
	ck_assert_uint_eq(n, 3); /* cpu and cpuacct share one directory */
	runtime_strv_free(paths);
	ck_assert_int_eq(rt->cgroup_paths(&t.a, "gone", &paths), -ENOENT);
	ck_assert_int_eq(rt->cgroup_paths(&t.a, "../x", &paths), -EINVAL);
	/* Outside cgroupfs, nothing is removed. */
	ck_assert_int_eq(cgroup_remove(t.dir), -EINVAL);
	ck_assert_int_eq(cgroup_remove("/sys/fs/cgroup/memory/lcow-no-such-cgroup"), 0);
}
END_TEST

/* cgroup metrics of a real process, and the error for one that does not exist. */
START_TEST(test_cgroup_metrics)
{
	struct gcs_error err = { 0 };
	json_t *m = NULL, *usage;
	pid_t child;
	int rc;

	ck_assert_int_eq(cgroup_metrics(getpid(), &m, &err), 0);
	usage = json_object_get(json_object_get(m, "memory"), "usage");
	ck_assert_msg(json_integer_value(json_object_get(usage, "limit")) > 0, "%s",
		      json_dumps(m, JSON_COMPACT));
	ck_assert(json_is_integer(json_object_get(usage, "usage")));
	json_decref(m);

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	m = NULL;
	rc = cgroup_metrics(child, &m, &err);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(err.hresult, HR_FAIL);
	ck_assert_msg(strstr(err.message, "cgroup"), "%s", err.message);
}
END_TEST

static Suite *runtime_suite(void)
{
	Suite *s = suite_create("agent_runtime");
	TCase *argv = tcase_create("argv");
	TCase *words = tcase_create("words");
	TCase *deadline = tcase_create("deadline");
	TCase *state = tcase_create("state");

	tcase_add_checked_fixture(argv, setup, teardown);
	tcase_set_timeout(argv, 30);
	tcase_add_test(argv, test_argv_every_verb);
	tcase_add_test(argv, test_state_output);
	suite_add_tcase(s, argv);

	tcase_add_checked_fixture(words, setup, teardown);
	tcase_add_test(words, test_json_log_error);
	tcase_add_test(words, test_plain_stderr);
	tcase_add_test(words, test_passed_on_stderr);
	tcase_add_test(words, test_ps_unparsable);
	tcase_add_test(words, test_no_pid_file);
	suite_add_tcase(s, words);

	tcase_add_checked_fixture(deadline, setup, teardown);
	tcase_set_timeout(deadline, 30);
	tcase_add_test(deadline, test_deadline);
	tcase_add_test(deadline, test_delete_sync_deadline);
	tcase_add_test(deadline, test_cancel);
	tcase_add_test(deadline, test_kill_all_releases);
	tcase_add_test(deadline, test_child_deadline_and_drain);
	suite_add_tcase(s, deadline);

	tcase_add_checked_fixture(state, setup, teardown);
	tcase_add_test(state, test_state_dir);
	tcase_add_test(state, test_cgroup_metrics);
	suite_add_tcase(s, state);
	return s;
}

int main(void)
{
	return testutil_run(runtime_suite());
}
