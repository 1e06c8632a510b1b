/*
 * The ends of containers, end to end with the real agent and runc: shutdowns of stopped
 * containers answer 0, a failed Create leaves nothing, pause/resume/kill-all (lcow's extension),
 * the agent's exit with containers running, recovery after a killed agent, a runtime that hangs
 * or answers badly. Fixtures as in test_containers.c (ctx.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/messages.h"
#include "harness.h"
#include "layers.h"

#include "ctx.h"

/* ---- shutdown of stopped containers, failed Create, container operations, agent exit ---- */

/* The spec's answer (7.3): ShutdownGraceful and ShutdownForced of a stopped container are 0. */
START_TEST(test_shutdown_after_exit)
{
	struct gcs_stdio st[3] = { [GCS_STDOUT] = { GCS_STDIO_SOCKET } };
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	char out[256] = "";
	size_t len = 0;
	uint32_t code;
	struct ctx c;

	ctx_start(&c, "ct-down", true, false);
	storage_up(&c);
	OK(create(&c, make_spec(&c, SH("echo bye"), false), &err));
	init = start_init(&c, st);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, NULL);
	OK(gcs_process_wait(init, STEP_MS, &code, &err));
	ck_assert_uint_eq(code, 0);
	gcs_process_free(init);
	expect_one_note(&c, "UnexpectedExit");
	OK(gcs_shutdown_container(c.ap.b, c.cid, false, &err));
	OK(gcs_shutdown_container(c.ap.b, c.cid, true, &err));
	OK(gcs_shutdown_container(c.ap.b, c.cid, false, &err));
	ck_assert_int_eq(gcs_shutdown_container(c.ap.b, "ct-no-such", true, &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);
	usleep(QUIET_MS * 1000);
	ck_assert_uint_eq(notes_now(&c), 1);
	delete_state(&c);
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
}
END_TEST

/* Created, never started, killed by ShutdownForced: its exit is notified, later shutdowns are 0. */
START_TEST(test_shutdown_never_started)
{
	struct gcs_error err = { 0 };
	struct ctx c;

	ctx_start(&c, "ct-unstarted", true, false);
	storage_up(&c);
	OK(create(&c, make_spec(&c, SH("echo never"), false), &err));
	OK(gcs_shutdown_container(c.ap.b, c.cid, true, &err));
	expect_one_note(&c, "ForcedExit");
	OK(gcs_shutdown_container(c.ap.b, c.cid, false, &err));
	OK(gcs_shutdown_container(c.ap.b, c.cid, true, &err));
	delete_state(&c);
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
}
END_TEST

/* The names in a directory as the agent sees it, sorted, as "a,b,c,". */
static void agent_ls(struct ctx *c, const char *dir, char *buf, size_t len)
{
	char p[PATH_MAX], out[4096];
	int rc;

	snprintf(p, sizeof(p), "/proc/%d/root%s", c->ap.pid, dir);
	rc = run_cmd((const char *const[]){ "sh", "-c", "ls -A \"$0\" | tr '\\n' ,", p, NULL },
		     STEP_MS, out, sizeof(out));
	ck_assert_int_eq(rc, 0);
	snprintf(buf, len, "%s", out);
}

/*
 * A Create the runtime refuses takes back what it wrote: the bundle holds what it held before
 * (the scratch disk's own entries), or is gone when Create made it; the runtime's own files are
 * gone too; the container does not exist (GetProperties, DeleteContainerState: not found).
 */
START_TEST(test_failed_create_leaves_nothing)
{
	const char *const props[] = { "ProcessList" };
	struct gcs_proto_get_properties_resp pr;
	char before[4096], after[4096], work[PATH_MAX], bundle2[PATH_MAX];
	struct gcs_error err = { 0 };
	struct stat st;
	json_t *spec;
	struct ctx c;

	ctx_start(&c, "ct-fail", true, false);
	storage_up(&c);
	agent_ls(&c, c.bundle, before, sizeof(before));
	spec = make_spec(&c, SH("true"), false);
	json_array_append_new(json_object_get(json_object_get(spec, "linux"), "namespaces"),
			      json_pack("{s:s}", "type", "bogus"));
	ck_assert_int_eq(create(&c, spec, &err), -EREMOTEIO);
	ck_assert_msg(strstr(err.message, "bogus") != NULL, "not runc's words: %s", err.message);
	agent_ls(&c, c.bundle, after, sizeof(after));
	ck_assert_str_eq(after, before);
	ck_assert(!runc_state_exists(&c));
	ck_assert_int_eq(gcs_get_properties(c.ap.b, c.cid, props, 1, &pr, &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);
	ck_assert_int_eq(gcs_delete_container_state(c.ap.b, c.cid, &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);

	/* A bundle directory Create made goes with it. */
	snprintf(bundle2, sizeof(bundle2), "%s/gcs/c/ct-fail2", c.env.run);
	spec = make_spec(&c, SH("true"), false);
	json_array_append_new(json_object_get(json_object_get(spec, "linux"), "namespaces"),
			      json_pack("{s:s}", "type", "bogus"));
	ck_assert_int_eq(gcs_create_container_spec(c.ap.b, "ct-fail2", bundle2, spec, "", &err),
			 -EREMOTEIO);
	json_decref(spec);
	ck_assert_msg(stat(bundle2, &st) < 0 && errno == ENOENT, "%s is still there", bundle2);
	snprintf(work, sizeof(work), "%s/gcs/runtime", c.env.run);
	agent_ls(&c, work, after, sizeof(after));
	ck_assert_msg(after[0] == '\0', "the runtime's files are left: %s", after);
	usleep(QUIET_MS * 1000);
	ck_assert_uint_eq(notes_now(&c), 0);
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
}
END_TEST

/* LcowContainerOperation through a plain ModifySettings (the capability is not announced yet). */
static int container_op(struct ctx *c, const char *cid, enum gcs_proto_request_type rt,
			const char *op, int sig, struct gcs_error *err)
{
	struct gcs_proto_modify_req req = {
		.base.container_id = cid,
		.request_type = rt,
		.resource_type = GCS_RESOURCE_LCOW_CONTAINER_OPERATION,
		.has_settings = true,
	};

	req.settings.container_operation.operation = op;
	req.settings.container_operation.signal = sig;
	return gcs_modify_settings(c->ap.b, &req, err);
}

static void expect_op_fails(struct ctx *c, const char *cid, enum gcs_proto_request_type rt,
			    const char *op, int sig, int32_t hr)
{
	struct gcs_error err = { 0 };
	int rc = container_op(c, cid, rt, op, sig, &err);

	ck_assert_msg(rc == -EREMOTEIO && err.hresult == hr, "%s %s: %d 0x%08x %s, want 0x%08x", op,
		      cid, rc, (uint32_t)err.hresult, err.message, (uint32_t)hr);
}

/* Whatever arrives on fd within ms (nothing waits beyond it). */
static size_t drain(int fd, int ms, char *buf, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;

	buf[0] = '\0';
	while (poll(&pfd, 1, ms) > 0) {
		char chunk[1024];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		append(buf, cap, &len, chunk, (size_t)n);
	}
	return len;
}

static void expect_runc_status(struct ctx *c, const char *status)
{
	char out[4096], want[64];
	int rc = run_cmd((const char *const[]){ "runc", "--root", c->env.runc_root, "state", "--",
						c->cid, NULL },
			 STEP_MS, out, sizeof(out));

	ck_assert_int_eq(rc, 0);
	snprintf(want, sizeof(want), "\"status\": \"%s\"", status);
	ck_assert_msg(strstr(out, want) != NULL, "runc state: %s, want %s", out, status);
}

/*
 * Pause freezes the container (no more output, runc says paused), Resume thaws it, KillAll
 * signals every process (the init and an exec: both exit 143 on SIGTERM); the refusals.
 */
START_TEST(test_pause_resume_kill_all)
{
	static const char *const args[] = {
		"/bin/sh", "-c", "trap 'exit 143' TERM; while :; do echo tick; sleep 0.1; done",
		NULL
	};
	struct gcs_stdio st[3] = { [GCS_STDOUT] = { GCS_STDIO_SOCKET } };
	struct gcs_stdio none[3] = { { 0 } };
	struct gcs_error err = { 0 };
	struct gcs_process *init, *p;
	char out[8192] = "";
	size_t len = 0;
	uint32_t code;
	json_t *proc;
	struct ctx c;
	int fd;

	ctx_start(&c, "ct-ops", true, false);
	storage_up(&c);
	OK(create(&c, make_spec(&c, args, false), &err));
	init = start_init(&c, st);
	fd = gcs_process_stdio_fd(init, GCS_STDOUT);
	read_until(fd, out, sizeof(out), &len, "tick\ntick\n");
	proc = make_process((const char *const[]){ "sleep", "1000", NULL }, false);
	OK(gcs_container_exec(c.ap.b, c.cid, proc, none, &p, &err));
	json_decref(proc);

	/* Refused: an unknown operation, a signal for Pause, another RequestType, no container. */
	expect_op_fails(&c, c.cid, GCS_REQUEST_TYPE_UPDATE, "Freeze", 0, HR_INVALIDARG);
	expect_op_fails(&c, c.cid, GCS_REQUEST_TYPE_UPDATE, "Pause", 9, HR_INVALIDARG);
	expect_op_fails(&c, c.cid, GCS_REQUEST_TYPE_ADD, "Pause", 0, HR_INVALIDARG);
	expect_op_fails(&c, c.cid, GCS_REQUEST_TYPE_UPDATE, "KillAll", 999, HR_INVALIDARG);
	expect_op_fails(&c, "ct-no-such", GCS_REQUEST_TYPE_UPDATE, "Pause", 0, HR_SYSTEM_NOT_FOUND);

	OK(container_op(&c, c.cid, GCS_REQUEST_TYPE_UPDATE, "Pause", 0, &err));
	expect_runc_status(&c, "paused");
	drain(fd, 200, out, sizeof(out));
	ck_assert_msg(drain(fd, 500, out, sizeof(out)) == 0, "output while paused: %s", out);
	OK(container_op(&c, c.cid, GCS_REQUEST_TYPE_UPDATE, "Resume", 0, &err));
	expect_runc_status(&c, "running");
	len = 0;
	out[0] = '\0';
	read_until(fd, out, sizeof(out), &len, "tick\n");

	OK(container_op(&c, c.cid, GCS_REQUEST_TYPE_UPDATE, "KillAll", SIGTERM, &err));
	OK(gcs_process_wait(p, STEP_MS, &code, &err));
	ck_assert_uint_eq(code, 143);
	gcs_process_free(p);
	read_until(fd, out, sizeof(out), &len, NULL);
	OK(gcs_process_wait(init, STEP_MS, &code, &err));
	ck_assert_uint_eq(code, 143);
	gcs_process_free(init);
	expect_one_note(&c, "GracefulExit");
	expect_op_fails(&c, c.cid, GCS_REQUEST_TYPE_UPDATE, "Pause", 0, HR_SYSTEM_ALREADY_STOPPED);
	expect_op_fails(&c, c.cid, GCS_REQUEST_TYPE_UPDATE, "KillAll", 0,
			HR_SYSTEM_ALREADY_STOPPED);
	delete_state(&c);
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
}
END_TEST

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The cgroup directories runc made for the container (its state.json), NULL-terminated. */
static size_t runc_cgroups(struct ctx *c, char paths[][PATH_MAX], size_t cap)
{
	char p[PATH_MAX];
	json_t *state, *v;
	const char *key;
	size_t n = 0;

	snprintf(p, sizeof(p), "%s/%s/state.json", c->env.runc_root, c->cid);
	state = json_load_file(p, 0, NULL);
	ck_assert_msg(state != NULL, "no %s", p);
	json_object_foreach(json_object_get(state, "cgroup_paths"), key, v) {
		if (n < cap && json_string_value(v))
			snprintf(paths[n++], PATH_MAX, "%s", json_string_value(v));
	}
	json_decref(state);
	ck_assert_uint_gt(n, 0);
	return n;
}

/* Gone, or a zombie (killed; its parent, maybe our PID 1, has not reaped it). */
static bool dead(pid_t pid)
{
	char p[64], buf[512], *s;
	int fd;
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	s = strrchr(buf, ')');
	return !s || s[1] == '\0' || s[2] == 'Z' || s[2] == 'X';
}

static bool gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10 && !dead(pid); i++)
		usleep(10000);
	return dead(pid);
}

/* The agent is gone: what agent_stop does after the exit, then the suite's leftover checks. */
static void ctx_after_exit(struct ctx *c)
{
	char report[4096] = "";
	int n;

	ck_assert_msg(env_leftovers(&c->env, 0, report, sizeof(report)) == 0,
		      "left behind by the agent: %s", report);
	gcs_transport_free(c->ap.t);
	ck_assert_int_eq(
		run_cmd((const char *const[]){ "rm", "-rf", c->ap.dir, NULL }, STEP_MS, NULL, 0),
		0);
	c->env.agent = 0;
	report[0] = '\0';
	n = env_destroy(&c->env, report, sizeof(report));
	ck_assert_msg(n == 0, "teardown found: %s", report);
	report[0] = '\0';
	ck_assert_msg(loops_backed_under(c->env.suite, report, sizeof(report)) == 0,
		      "loop devices left: %s", report);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

/*
 * The host closes the bridge while a container runs with an exec'd process: the agent kills and
 * deletes it and exits (0) within 2 s, leaving no runc state, no cgroup, no mount.
 */
START_TEST(test_bridge_close_with_container)
{
	static const char *const args[] = { "/bin/sh", "-c", "echo up; exec sleep 1000", NULL };
	struct gcs_stdio st[3] = { [GCS_STDOUT] = { GCS_STDIO_SOCKET } };
	struct gcs_stdio none[3] = { { 0 } };
	char cgroups[16][PATH_MAX], out[64] = "";
	struct gcs_error err = { 0 };
	struct gcs_process *init, *p;
	pid_t init_pid, exec_pid;
	int64_t t0, took;
	size_t n, len = 0;
	int status = -1;
	json_t *proc;
	struct ctx c;

	ctx_start(&c, "ct-close", true, false);
	storage_up(&c);
	OK(create(&c, make_spec(&c, args, false), &err));
	init = start_init(&c, st);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, "up\n");
	proc = make_process((const char *const[]){ "sleep", "1000", NULL }, false);
	OK(gcs_container_exec(c.ap.b, c.cid, proc, none, &p, &err));
	json_decref(proc);
	init_pid = (pid_t)gcs_process_pid(init);
	exec_pid = (pid_t)gcs_process_pid(p);
	n = runc_cgroups(&c, cgroups, ARRAY_SIZE(cgroups));
	gcs_process_free(p);
	gcs_process_free(init);

	t0 = mono_ms();
	gcs_bridge_close(c.ap.b);
	c.ap.b = NULL;
	while (mono_ms() - t0 < 5000 && waitpid(c.ap.pid, &status, WNOHANG) != c.ap.pid)
		usleep(10000);
	took = mono_ms() - t0;
	if (!WIFEXITED(status)) {
		kill(c.ap.pid, SIGKILL);
		waitpid(c.ap.pid, NULL, 0);
		ck_abort_msg("the agent did not exit within 5 s of the bridge closing");
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "agent status 0x%x", status);
	ck_assert_msg(took < 2000, "the agent took %lld ms to exit", (long long)took);
	ck_assert(!runc_state_exists(&c));
	ck_assert_msg(gone_within(init_pid, 1000), "the init %d still runs", init_pid);
	ck_assert_msg(gone_within(exec_pid, 1000), "the exec %d still runs", exec_pid);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(access(cgroups[i], F_OK) < 0, "cgroup %s is left", cgroups[i]);
	ctx_after_exit(&c);
}
END_TEST

/*
 * An agent killed with SIGKILL leaves its container running; the next agent on the same runc
 * root kills and deletes it before it serves, cgroups included, and says so in its log.
 */
START_TEST(test_recover_left_container)
{
	static const char *const args[] = { "/bin/sh", "-c", "echo up; exec sleep 1000", NULL };
	struct gcs_stdio st[3] = { [GCS_STDOUT] = { GCS_STDIO_SOCKET } };
	char cgroups[16][PATH_MAX], out[4096] = "", p[PATH_MAX], rootfs[PATH_MAX], log[PATH_MAX];
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	size_t n, len = 0;
	pid_t init_pid;
	json_t *spec;
	struct ctx c;

	ctx_start(&c, "ct-left", false, false);
	snprintf(p, sizeof(p), "%s/ctr", c.env.run);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", p);
	ck_assert_int_eq(
		run_cmd((const char *const[]){ "cp", "-a", layers.base_tree, rootfs, NULL },
			STEP_MS, NULL, 0),
		0);
	spec = make_spec(&c, args, false);
	json_object_set_new(json_object_get(spec, "root"), "path", json_string(rootfs));
	OK(create(&c, spec, &err));
	init = start_init(&c, st);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, "up\n");
	init_pid = (pid_t)gcs_process_pid(init);
	n = runc_cgroups(&c, cgroups, ARRAY_SIZE(cgroups));
	gcs_process_free(init);

	/* The first agent dies without a word. */
	ck_assert_int_eq(kill(c.ap.pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(c.ap.pid, NULL, 0), c.ap.pid);
	gcs_bridge_close(c.ap.b);
	gcs_transport_free(c.ap.t);
	ck_assert_int_eq(
		run_cmd((const char *const[]){ "rm", "-rf", c.ap.dir, NULL }, STEP_MS, NULL, 0), 0);
	ck_assert(runc_state_exists(&c));
	ck_assert_msg(!gone_within(init_pid, 0), "the init died with the agent");

	agent_start_opts(&c.ap, &(struct agent_start_opts){ .args = c.env.args,
							    .call_timeout_ms = STEP_MS,
							    .on_notification = on_note,
							    .user = &c });
	ck_assert_int_eq(env_set_agent(&c.env, c.ap.pid), 0);
	ck_assert(!runc_state_exists(&c));
	ck_assert_msg(gone_within(init_pid, 1000), "the init %d still runs", init_pid);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(access(cgroups[i], F_OK) < 0, "cgroup %s is left", cgroups[i]);
	snprintf(log, sizeof(log), "%s/agent.log", c.ap.dir);
	{
		int fd = open(log, O_RDONLY | O_CLOEXEC);
		ssize_t got;
		ck_assert_int_ge(fd, 0);
		got = read(fd, out, sizeof(out) - 1);
		close(fd);
		out[got > 0 ? got : 0] = '\0';
		ck_assert_msg(strstr(out, "removed a container left by an earlier agent") &&
				      strstr(out, "ct-left"),
			      "agent log: %s", out);
	}
	ck_assert_int_eq(run_cmd((const char *const[]){ "rm", "-rf", "--one-file-system", p,
							c.bundle, NULL },
				 STEP_MS, NULL, 0),
			 0);
	usleep(QUIET_MS * 1000);
	ck_assert_uint_eq(notes_now(&c), 0);
	ctx_stop(&c);
}
END_TEST

/* A Create body for gcs_bridge_call_raw (ContainerConfig is JSON inside a string). */
static char *create_body(struct ctx *c, const char *cid, const char *bundle, json_t *spec)
{
	json_t *cfg =
		json_pack("{s:{s:i,s:i}, s:s, s:o, s:s}", "SchemaVersion", "Major", 2, "Minor", 1,
			  "OciBundlePath", bundle, "OciSpecification", spec, "ScratchDirPath", "");
	char *inner = json_dumps(cfg, JSON_COMPACT), *body;
	json_t *o = json_pack("{s:s, s:s, s:s}", "ContainerId", cid, "ActivityId", Z,
			      "ContainerConfig", inner);

	(void)c;
	body = json_dumps(o, JSON_COMPACT);
	free(inner);
	json_decref(cfg);
	json_decref(o);
	return body;
}

/*
 * The test's agent again, with the stand-in runc (tests/stubs/runc) in the given mode and
 * --runtime-timeout timeout (NULL: the default).
 */
static void restart_with_stub(struct ctx *c, const char *mode, const char *timeout)
{
	static char stub[PATH_MAX];
	static const char *args[20];
	char p[PATH_MAX];
	size_t n = 0;

	agent_stop(&c->ap);
	snprintf(stub, sizeof(stub), "%s/runc-stub", c->env.dir);
	snprintf(p, sizeof(p), "%s/../stubs/runc", LCOW_TESTDATA);
	ck_assert_int_eq(run_cmd((const char *const[]){ "cp", p, stub, NULL }, STEP_MS, NULL, 0),
			 0);
	ck_assert_int_eq(chmod(stub, 0755), 0);
	for (; c->env.args[n]; n++)
		args[n] = c->env.args[n];
	args[n++] = "--runc";
	args[n++] = stub;
	if (timeout) {
		args[n++] = "--runtime-timeout";
		args[n++] = timeout;
	}
	args[n] = NULL;
	setenv("STUB_MODE", mode, 1);
	unsetenv("STUB_RECORD");
	agent_start_opts(&c->ap, &(struct agent_start_opts){ .args = args,
							     .call_timeout_ms = STEP_MS,
							     .on_notification = on_note,
							     .user = c });
	ck_assert_int_eq(env_set_agent(&c->env, c->ap.pid), 0);
}

/*
 * runc that never finishes (tests/stubs/runc, --runtime-timeout 1000): Create answers with the
 * deadline's words and leaves nothing; the bridge closing while a create runs makes the agent
 * cancel it, give up on the rest at the deadlines, and exit 0 (nothing leaked, under ASan too).
 */
START_TEST(test_runc_hangs)
{
	char bundle2[PATH_MAX];
	struct gcs_error err = { 0 };
	char *body, *resp = NULL;
	struct stat st;
	int64_t t0, took;
	uint32_t type;
	int status = -1, rc;
	struct ctx c;

	ctx_start(&c, "ct-hang", false, false);
	restart_with_stub(&c, "hang", "1000");

	t0 = mono_ms();
	rc = create(&c, make_spec(&c, SH("true"), false), &err);
	took = mono_ms() - t0;
	ck_assert_int_eq(rc, -EREMOTEIO);
	ck_assert_msg(strstr(err.message, "runc create did not finish within 1000 ms: stub is "
					  "hanging") != NULL,
		      "%s", err.message);
	/* 1 s for create, at most 1 s for the delete that cleans up after it */
	ck_assert_msg(took >= 1000 && took < 4000, "Create answered after %lld ms",
		      (long long)took);
	ck_assert_msg(stat(c.bundle, &st) < 0 && errno == ENOENT, "%s is still there", c.bundle);

	/* Another create, left running: the host gives up on it and closes the bridge. */
	snprintf(bundle2, sizeof(bundle2), "%s/gcs/c/ct-hang2", c.env.run);
	body = create_body(&c, "ct-hang2", bundle2, make_spec(&c, SH("true"), false));
	ck_assert_int_eq(
		gcs_bridge_call_raw(c.ap.b, GCS_MSG_CREATE_REQ, body, 300, &type, &resp, &err),
		-ETIMEDOUT);
	free(body);
	free(resp);
	t0 = mono_ms();
	gcs_bridge_close(c.ap.b);
	c.ap.b = NULL;
	while (mono_ms() - t0 < 8000 && waitpid(c.ap.pid, &status, WNOHANG) != c.ap.pid)
		usleep(10000);
	took = mono_ms() - t0;
	if (!WIFEXITED(status)) {
		kill(c.ap.pid, SIGKILL);
		waitpid(c.ap.pid, NULL, 0);
		ck_abort_msg("the agent did not exit within 8 s of the bridge closing");
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "agent status 0x%x", status);
	/* the kill and the delete of the shutdown each end at their 1 s deadline */
	ck_assert_msg(took < 4000, "the agent took %lld ms to exit", (long long)took);
	ck_assert_msg(stat(bundle2, &st) < 0 && errno == ENOENT, "%s is still there", bundle2);
	unsetenv("STUB_MODE");
	ctx_after_exit(&c);
}
END_TEST

static void write_pids(const char *path, size_t n)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%zu", i ? "," : "", 100000 + i);
	fputs("]\n", f);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * GetProperties never answers with a part silently missing: a process list too long for one
 * response (under 64 KiB, header included) is an error that says how many processes there are,
 * so is runc ps output that is not a list of pids; Statistics come from the init's cgroups. The
 * stand-in runc plays the container (its init is a sleep of ours).
 */
START_TEST(test_properties_limits)
{
	const char *const list[] = { "ProcessList" }, *const both[] = { "ProcessList",
									"Statistics" };
	struct gcs_stdio none[3] = { { 0 } };
	struct gcs_proto_get_properties_resp pr;
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	char outfile[PATH_MAX], text[32];
	json_t *mem;
	pid_t sleeper;
	int status = -1;
	int64_t t0;
	struct ctx c;

	ctx_start(&c, "ct-props", false, false);
	sleeper = fork();
	ck_assert_int_ge(sleeper, 0);
	if (sleeper == 0) {
		execl("/bin/sleep", "sleep", "100", (char *)NULL);
		_exit(127);
	}
	snprintf(text, sizeof(text), "%d", (int)sleeper);
	setenv("STUB_PID", text, 1);
	snprintf(outfile, sizeof(outfile), "%s/ps.json", c.env.dir);
	setenv("STUB_OUT_FILE", outfile, 1);
	write_pids(outfile, 3);
	restart_with_stub(&c, "ok", NULL);
	OK(create(&c, make_spec(&c, SH("true"), false), &err));
	OK(gcs_start_container(c.ap.b, c.cid, &err));
	OK(gcs_start_init(c.ap.b, c.cid, none, &init, &err));
	ck_assert_uint_eq(gcs_process_pid(init), (uint32_t)sleeper);

	OK(gcs_get_properties(c.ap.b, c.cid, list, 1, &pr, &err));
	ck_assert_uint_eq(pr.n_process_list, 3);
	ck_assert_uint_eq(pr.process_list[2].process_id, 100002);
	gcs_proto_release(&pr);
	write_pids(outfile, 2000);
	OK(gcs_get_properties(c.ap.b, c.cid, list, 1, &pr, &err));
	ck_assert_uint_eq(pr.n_process_list, 2000);
	gcs_proto_release(&pr);
	write_pids(outfile, 5000);
	ck_assert_int_eq(gcs_get_properties(c.ap.b, c.cid, list, 1, &pr, &err), -EREMOTEIO);
	ck_assert_msg(err.hresult == HR_FAIL && strstr(err.message, "5000 processes"), "%s",
		      err.message);
	{
		FILE *f = fopen(outfile, "w");
		ck_assert_ptr_nonnull(f);
		fputs("ps: garbage\n", f);
		ck_assert_int_eq(fclose(f), 0);
	}
	ck_assert_int_eq(gcs_get_properties(c.ap.b, c.cid, list, 1, &pr, &err), -EREMOTEIO);
	ck_assert_msg(err.hresult == HR_FAIL && strstr(err.message, "not a list of pids"), "%s",
		      err.message);

	write_pids(outfile, 1);
	OK(gcs_get_properties(c.ap.b, c.cid, both, 2, &pr, &err));
	ck_assert_uint_eq(pr.n_process_list, 1);
	ck_assert_ptr_nonnull(pr.lcow_metrics);
	mem = json_object_get(json_object_get(pr.lcow_metrics, "memory"), "usage");
	ck_assert_msg(json_integer_value(json_object_get(mem, "limit")) > 0 &&
			      json_is_integer(json_object_get(mem, "usage")),
		      "memory usage: %s", json_dumps(pr.lcow_metrics, JSON_COMPACT));
	ck_assert(json_is_integer(json_object_get(
		json_object_get(json_object_get(pr.lcow_metrics, "cpu"), "usage"), "total")));
	/* (our sleep sits in the root pids cgroup, which counts nothing: no "pids" then) */
	if (json_object_get(pr.lcow_metrics, "pids"))
		ck_assert(json_integer_value(json_object_get(
				  json_object_get(pr.lcow_metrics, "pids"), "current")) > 0);
	gcs_proto_release(&pr);
	gcs_process_free(init);

	t0 = mono_ms();
	gcs_bridge_close(c.ap.b);
	c.ap.b = NULL;
	while (mono_ms() - t0 < 5000 && waitpid(c.ap.pid, &status, WNOHANG) != c.ap.pid)
		usleep(10000);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent status 0x%x", status);
	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	unsetenv("STUB_MODE");
	unsetenv("STUB_PID");
	unsetenv("STUB_OUT_FILE");
	ctx_after_exit(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("container_ends");

	ADD_TEST(s, test_shutdown_after_exit);
	ADD_TEST(s, test_shutdown_never_started);
	ADD_TEST(s, test_failed_create_leaves_nothing);
	ADD_TEST(s, test_pause_resume_kill_all);
	ADD_TEST(s, test_bridge_close_with_container);
	ADD_TEST(s, test_recover_left_container);
	ADD_TEST(s, test_runc_hangs);
	ADD_TEST(s, test_properties_limits);
	return ctx_run_suite(s, "test_container_ends");
}
