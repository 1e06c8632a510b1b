/*
 * The lcow CLI suite: help, exit statuses, the lifecycle, bundles and layer folders, pods, exec,
 * terminals, image import, crashed daemons, the control socket's peers, parallel runs. See
 * clitest.h for the harness.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clitest.h"

/* ---- tests ---- */

/* `lcow --help` names every command, and every command's --help is a usage text. */
START_TEST(test_help)
{
	static const char *const cmds[] = { "run",    "create", "start", "exec",
					    "pause",  "resume", "ps",	 "state",
					    "update", "events", "kill",	 "delete",
					    "list",   "spec",	"image", "uvm-daemon" };
	struct t t;

	t_start(&t);
	OK(&t, "--help");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "\n  %s ", cmds[i]);
		ck_assert_msg(strstr(t.out, want), "lcow --help does not list %s", cmds[i]);
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];
		lcow(&t, cmds[i], "--help");
		ck_assert_msg(t.status == 0, "lcow %s --help: %d %s", cmds[i], t.status, t.err);
		snprintf(want, sizeof(want), " %s ", cmds[i]);
		ck_assert_msg(!strncmp(t.out, "Usage: lcow", 11) && strstr(t.out, want),
			      "lcow %s --help: %s", cmds[i], t.out);
	}
	ck_assert_int_eq(lcow(&t, "no-such-command"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "unknown command"));
	t_end(&t);
}
END_TEST

/* run waits for the container, prints its output, exits with its status, removes it all. */
START_TEST(test_run_exit_status)
{
	struct t t;
	char *b;

	t_start(&t);
	b = bundle(&t, "b", SH_ARGS("echo hello-from-run; hostname; exit 7"), false, NULL);
	lcow(&t, "run", "--uvm-mode", "process", "-b", b, cid(&t, "run"));
	ck_assert_msg(t.status == 7, "exit %d: %s", t.status, t.err);
	ck_assert_str_eq(t.out, "hello-from-run\nlcow-test\n");
	/* lcow forwards its signals to the container: SIGTERM, trapped, exit 143. */
	b = bundle(&t, "b2", LONG_ARGS, false, NULL);
	{
		const char *argv[] = { LCOW_BIN,  "--root", t.root, "run",	    "--uvm-mode",
				       "process", "-b",	    b,	    cid(&t, "fwd"), NULL };
		pid_t pid = spawn_argv(argv, tpath(&t, "fwd.out"), tpath(&t, "fwd.err"));
		expect_file_has(tpath(&t, "fwd.out"), "started");
		ck_assert_int_eq(kill(pid, SIGTERM), 0);
		ck_assert_int_eq(wait_pid(pid, STEP_MS), 143);
		expect_file_has(tpath(&t, "fwd.out"), "got-term");
	}
	/* Killed by a signal: 128 + N (SIGKILL from outside; PID 1 cannot kill itself). */
	{
		const char *argv[] = { LCOW_BIN,  "--root", t.root, "run",	     "--uvm-mode",
				       "process", "-b",	    b,	    cid(&t, "run9"), NULL };
		pid_t pid = spawn_argv(argv, tpath(&t, "k.out"), tpath(&t, "k.err"));
		expect_file_has(tpath(&t, "k.out"), "started");
		OK(&t, "kill", cid(&t, "run9"), "SIGKILL");
		ck_assert_int_eq(wait_pid(pid, STEP_MS), 137);
	}
	t_end(&t);
}
END_TEST

/*
 * create, start, exec, ps, state, pause/resume, kill, a kill of the stopped container, delete,
 * list --format json and state of the deleted container.
 */
START_TEST(test_lifecycle)
{
	const char *id = NULL;
	char *b, *out, st[32], pidtext[32];
	long pid = 0;
	struct t t;

	t_start(&t);
	id = cid(&t, "life");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	out = tpath(&t, "container.out");
	ck_assert_int_eq(lcow_out(&t, out, "create", "--uvm-mode", "process", "-b", b, "--pid-file",
				  tpath(&t, "pid"), id),
			 0);
	state_of(&t, id, st, sizeof(st), &pid);
	ck_assert_str_eq(st, "created");
	ck_assert_int_gt(pid, 0);
	slurp(tpath(&t, "pid"), pidtext, sizeof(pidtext));
	ck_assert_int_eq(atol(pidtext), pid);
	ck_assert_ptr_nonnull(strstr(t.out, "\"bundle\": \""));
	ck_assert_ptr_nonnull(strstr(t.out, "\"org.lcow.test\": \"yes\""));
	OK(&t, "list", "--format", "json");
	ck_assert_ptr_nonnull(strstr(t.out, "\"status\":\"created\""));
	ck_assert_ptr_nonnull(strstr(t.out, id));
	/* Its stdio is create's: the output lands in create's stdout file. */
	OK(&t, "start", id);
	expect_file_has(out, "started\n");
	expect_status(&t, id, "running");
	ck_assert_int_eq(lcow(&t, "start", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "already running"));

	ck_assert_int_eq(lcow(&t, "exec", id, "sh", "-c", "echo in-exec; cat /etc/motd; exit 5"),
			 5);
	ck_assert_str_eq(t.out, "in-exec\n" BASE_TEXT "\n");
	ck_assert_int_eq(lcow(&t, "exec", "--env", "X=y", "--cwd", "/tmp", id, "--", "sh", "-c",
			      "echo $X $(pwd)"),
			 0);
	ck_assert_str_eq(t.out, "y /tmp\n");
	OK(&t, "ps", "--format", "json", id);
	ck_assert_msg(t.out[0] == '[' && strstr(t.out, pidtext), "ps: %s (pid %s)", t.out, pidtext);
	OK(&t, "ps", id);
	/* ps's table (test_verbs has the rest) */
	ck_assert_msg(strstr(t.out, " PID ") && strstr(t.out, pidtext), "ps: %s", t.out);

	OK(&t, "pause", id);
	expect_status(&t, id, "paused");
	ck_assert_int_eq(lcow(&t, "exec", id, "true"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "paused"));
	ck_assert_int_eq(lcow(&t, "pause", id), 1);
	OK(&t, "resume", id);
	expect_status(&t, id, "running");
	ck_assert_int_eq(lcow(&t, "resume", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container not paused"));

	ck_assert_int_eq(lcow(&t, "kill", id, "NOSUCHSIG"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "invalid signal"));
	ck_assert_int_eq(lcow(&t, "delete", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "that is not stopped: running"));
	OK(&t, "kill", id);
	expect_file_has(out, "got-term\n");
	expect_status(&t, id, "stopped");
	state_of(&t, id, st, sizeof(st), &pid);
	ck_assert_int_eq(pid, 0);
	/* runc's answers about a stopped container. */
	ck_assert_int_eq(lcow(&t, "kill", id, "KILL"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container not running"));
	ck_assert_int_eq(lcow(&t, "exec", id, "true"), 1);
	OK(&t, "delete", id);
	ck_assert_int_eq(lcow(&t, "state", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container does not exist"));
	t_end(&t);
}
END_TEST

/* state of a container that never was: runc's message, exit 1; delete --force forgives it. */
START_TEST(test_state_missing)
{
	struct t t;

	t_start(&t);
	ck_assert_int_eq(lcow(&t, "state", "nosuch"), 1);
	ck_assert_msg(strstr(t.err, "level=error msg=\"container does not exist\""), "stderr: %s",
		      t.err);
	ck_assert_int_eq(lcow(&t, "--log-format", "json", "state", "nosuch"), 1);
	ck_assert_int_eq(lcow(&t, "kill", "nosuch"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container does not exist"));
	ck_assert_int_eq(lcow(&t, "delete", "nosuch"), 1);
	OK(&t, "delete", "--force", "nosuch");
	/* With --log the error also comes as a plain line on stderr. */
	ck_assert_int_eq(lcow(&t, "--log", tpath(&t, "log"), "state", "nosuch"), 1);
	ck_assert_str_eq(t.err, "container does not exist\n");
	expect_file_has(tpath(&t, "log"), "msg=\"container does not exist\"");
	t_end(&t);
}
END_TEST

/* Global options go before the command; --log-format json makes logrus's JSON lines. */
START_TEST(test_log_json)
{
	struct t t;

	t_start(&t);
	ck_assert_int_eq(lcow(&t, "--log-format", "json", "state", "nosuch"), 1);
	ck_assert_msg(strstr(t.err, "{\"level\":\"error\",\"msg\":\"container does not exist\","
				    "\"time\":"),
		      "stderr: %s", t.err);
	t_end(&t);
}
END_TEST

/* Broken bundles: a clear message, exit 1, and nothing left (no UVM was started). */
START_TEST(test_bad_bundle)
{
	static const struct {
		const char *args, *root, *want;
	} cases[] = {
		{ "[]", NULL, "process.args is empty" },
		{ "\"sh -c true\"", NULL,
		  "process.args must be an array of strings, not a string" },
		{ "[\"sh\"]", "\"root\":{\"path\":\"/nonexistent/rootfs\"}", "root.path" },
		{ "[\"sh\"]", "\"root\":{}", "neither windows.layerFolders nor root.path" },
		{ "[\"sh\"]", "\"windows\":{\"layerFolders\":[\"/nonexistent\",\"/tmp/x\"]}",
		  "layer.vhd" },
		{ "[\"sh\"]", "\"windows\":{\"layerFolders\":[\"/tmp\"]}", "at least one layer" },
	};
	char name[16], *dir;
	struct t t;

	t_start(&t);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "b%zu", i);
		dir = bundle(&t, name, cases[i].args, false, cases[i].root);
		ck_assert_int_eq(
			lcow(&t, "run", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
		ck_assert_msg(strstr(t.err, cases[i].want) && strstr(t.err, dir),
			      "case %zu: want \"%s\" and the bundle in: %s", i, cases[i].want,
			      t.err);
	}
	/* No config.json; one that is not JSON; a dynamic VHD as a layer. */
	dir = tpath(&t, "empty");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(lcow(&t, "create", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
	ck_assert_msg(strstr(t.err, "config.json: No such file"), "%s", t.err);
	write_text(tpath(&t, "empty/config.json"), "{\"ociVersion\": ");
	ck_assert_int_eq(lcow(&t, "create", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
	ck_assert_msg(strstr(t.err, "config.json: line 1"), "%s", t.err);
	ck_assert_int_eq(mkdir(tpath(&t, "dyn"), 0755), 0);
	ck_assert_int_eq(sh("cp '%s' '%s/dyn/layer.vhd'", fx.dynamic, t.dir), 0);
	{
		char root[1024];
		snprintf(root, sizeof(root), "\"windows\":{\"layerFolders\":[\"%s/dyn\",\"%s/s\"]}",
			 t.dir, t.dir);
		dir = bundle(&t, "b-dyn", "[\"sh\"]", false, root);
	}
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
	ck_assert_msg(strstr(t.err, "dynamic or differencing VHD"), "%s", t.err);
	/* a layer that holds no ext4 file system: said so, not mount's EINVAL */
	ck_assert_int_eq(
		sh("mkdir -p '%s/zero' && truncate -s 4M '%s/zero/layer.vhd'", t.dir, t.dir), 0);
	{
		char root[1024];
		snprintf(root, sizeof(root),
			 "\"windows\":{\"layerFolders\":[\"%s/zero\",\"%s/s0\"]}", t.dir, t.dir);
		dir = bundle(&t, "b-zero", "[\"sh\"]", false, root);
	}
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
	ck_assert_msg(strstr(t.err, "holds no ext4 file system"), "%s", t.err);
	/* A bad ID, and a usage error. */
	ck_assert_int_eq(lcow(&t, "create", "-b", dir, "../x"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "invalid container id"));
	ck_assert_int_eq(lcow(&t, "create", "--uvm-mode", "vmware", "x"), 1);
	t_end(&t);
}
END_TEST

/*
 * Layer folders as runhcs reads them: an upper layer that is a fixed VHD, a raw base layer, and
 * a scratch folder whose image lcow creates.
 */
START_TEST(test_layer_folders)
{
	char root[2048], *b;
	struct t t;

	t_start(&t);
	ck_assert_int_eq(sh("mkdir -p '%s/l1' '%s/l0' && cp '%s' '%s/l1/layer.vhd' && cp '%s' "
			    "'%s/l0/layer.vhd'",
			    t.dir, t.dir, fx.upper, t.dir, fx.base, t.dir),
			 0);
	snprintf(root, sizeof(root),
		 "\"windows\":{\"layerFolders\":[\"%s/l1\",\"%s/l0\",\"%s/scratch\"]}", t.dir,
		 t.dir, t.dir);
	b = bundle(&t, "b", SH_ARGS("cat /upper.txt /etc/motd; echo written >/new; cat /new"),
		   false, root);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", b, cid(&t, "layers")), 0);
	ck_assert_str_eq(t.out, UPPER_TEXT "\n" BASE_TEXT "\nwritten\n");
	ck_assert_int_eq(access(tpath(&t, "scratch/scratch.img"), F_OK), 0);
	/* what a container wrote persists with the scratch folder, for the next container */
	b = bundle(&t, "b1", SH_ARGS("cat /new"), false, root);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", b, cid(&t, "again")), 0);
	ck_assert_str_eq(t.out, "written\n");
	/* The same layers, twice in one pod: the layer disks are shared. */
	b = bundle(&t, "b2", LONG_ARGS, false, root);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "p1.out"), "run", "-d", "--uvm-mode", "process",
				  "--uvm", cid(&t, "lpod"), "-b", b, cid(&t, "lp1")),
			 0);
	ck_assert_int_eq(lcow(&t, "exec", cid(&t, "lp1"), "cat", "/upper.txt"), 0);
	ck_assert_str_eq(t.out, UPPER_TEXT "\n");
	/* a second container on the same scratch folder is refused by name */
	ck_assert_int_eq(lcow(&t, "create", "--uvm-mode", "process", "--uvm", cid(&t, "lpod"), "-b",
			      b, cid(&t, "lp2")),
			 1);
	ck_assert_msg(strstr(t.err, "is in use by container") && strstr(t.err, cid(&t, "lp1")),
		      "%s", t.err);
	OK(&t, "delete", "--force", cid(&t, "lp1"));
	OK(&t, "delete", cid(&t, "lpod"));
	t_end(&t);
}
END_TEST

/*
 * Two containers in one UVM (--uvm): one daemon, both listed with the pod's UVM; the pod stays
 * after its containers and goes with `delete POD`.
 */
START_TEST(test_pod)
{
	char *b, pod[64], p[PATH_MAX];
	struct t t;

	t_start(&t);
	snprintf(pod, sizeof(pod), "%s", cid(&t, "pod"));
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "a.out"), "run", "-d", "--uvm-mode", "process",
				  "--uvm", pod, "-b", b, cid(&t, "a")),
			 0);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "b.out"), "run", "-d", "--uvm-mode", "process",
				  "--uvm", pod, "-b", b, cid(&t, "b")),
			 0);
	expect_file_has(tpath(&t, "a.out"), "started");
	expect_file_has(tpath(&t, "b.out"), "started");
	snprintf(p, sizeof(p), "%s/u", t.root);
	ck_assert_int_eq(entries(p), 1);
	OK(&t, "list");
	ck_assert_msg(strstr(t.out, cid(&t, "a")) && strstr(t.out, cid(&t, "b")) &&
			      strstr(t.out, "running") && strstr(t.out, pod),
		      "list: %s", t.out);
	/* The pod's name is not a container; deleting it while it has some is refused. */
	ck_assert_int_eq(lcow(&t, "delete", pod), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "still has containers"));
	OK(&t, "kill", cid(&t, "a"), "TERM");
	expect_status(&t, cid(&t, "a"), "stopped");
	expect_status(&t, cid(&t, "b"), "running");
	OK(&t, "delete", cid(&t, "a"));
	OK(&t, "delete", "--force", cid(&t, "b"));
	ck_assert_int_eq(entries(p), 1);
	OK(&t, "list", "--format", "json");
	ck_assert_str_eq(t.out, "[]\n");
	OK(&t, "delete", pod);
	t_end(&t);
}
END_TEST

/*
 * A CRI pod: the workload container (annotations container-type "container" and its sandbox's
 * ID) joins the sandbox's network and UTS namespaces inside the UVM.
 */
START_TEST(test_cri_pod)
{
#define CRI_SPEC(args, hostname, annotations)                                                  \
	"{\"ociVersion\":\"1.0.2\",\"process\":{\"user\":{\"uid\":0,\"gid\":0},\"args\":" args \
	",\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},\"root\":{\"path\":\"%s\"}," hostname         \
	"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"      \
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"}," \
	"{\"type\":\"mount\"},{\"type\":\"network\"}]},\"annotations\":{" annotations "}}"
	char pod[64], sb_spec[2048], wl_spec[2048], sb_ns[256], wl_out[512];
	const char *sb, *wl;
	char *b1, *b2;
	struct t t;

	t_start(&t);
	snprintf(pod, sizeof(pod), "%s", cid(&t, "cripod"));
	sb = cid(&t, "sandbox");
	wl = cid(&t, "workload");
	snprintf(sb_spec, sizeof(sb_spec),
		 CRI_SPEC(LONG_ARGS, "\"hostname\":\"sandbox-host\",",
			  "\"io.kubernetes.cri.container-type\":\"sandbox\""),
		 fx.rootfs);
	snprintf(wl_spec, sizeof(wl_spec),
		 CRI_SPEC(SH_ARGS("busybox hostname; busybox readlink /proc/self/ns/net"), "",
			  "\"io.kubernetes.cri.container-type\":\"container\","
			  "\"io.kubernetes.cri.sandbox-id\":\"%s\""),
		 fx.rootfs, sb);
	b1 = bundle_text(&t, "sb", sb_spec);
	b2 = bundle_text(&t, "wl", wl_spec);
#undef CRI_SPEC
	if (lcow_out(&t, tpath(&t, "sb.out"), "run", "-d", "--uvm-mode", "process", "--uvm", pod,
		     "-b", b1, sb) != 0)
		ck_abort_msg("sandbox: %s", t.err);
	expect_file_has(tpath(&t, "sb.out"), "started");
	OK(&t, "exec", sb, "busybox", "readlink", "/proc/self/ns/net");
	snprintf(sb_ns, sizeof(sb_ns), "%s", t.out);
	ck_assert_msg(strstr(sb_ns, "net:["), "%s", sb_ns);
	if (lcow_out(&t, tpath(&t, "wl.out"), "run", "--uvm-mode", "process", "--uvm", pod, "-b",
		     b2, wl) != 0)
		ck_abort_msg("workload: %s", t.err);
	slurp(tpath(&t, "wl.out"), wl_out, sizeof(wl_out));
	ck_assert_msg(strstr(wl_out, "sandbox-host\n"), "workload saw: %s", wl_out);
	ck_assert_msg(strstr(wl_out, sb_ns), "workload %s, sandbox %s", wl_out, sb_ns);
	OK(&t, "delete", "--force", sb);
	OK(&t, "delete", pod);
	t_end(&t);
}
END_TEST

/* run -d and --pid-file; exec --process FILE and exec -d; kill --all and signal numbers. */
START_TEST(test_detach_and_exec)
{
	char *b, *proc = NULL, pidtext[32];
	const char *id;
	long pid;
	char st[32];
	struct t t;

	t_start(&t);
	id = cid(&t, "det");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process",
				  "--pid-file", tpath(&t, "pid"), "-b", b, id),
			 0);
	state_of(&t, id, st, sizeof(st), &pid);
	ck_assert_str_eq(st, "running");
	slurp(tpath(&t, "pid"), pidtext, sizeof(pidtext));
	ck_assert_int_eq(atol(pidtext), pid);
	proc = tpath(&t, "process.json");
	write_text(proc, "{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"cwd\":\"/\","
			 "\"env\":[\"PATH=/bin\",\"WHO=from-file\"],"
			 "\"args\":[\"sh\",\"-c\",\"echo $WHO; exit 9\"]}");
	ck_assert_int_eq(lcow(&t, "exec", "--process", proc, id), 9);
	ck_assert_str_eq(t.out, "from-file\n");
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "x.out"), "exec", "-d", "--pid-file",
				  tpath(&t, "xpid"), id, "sh", "-c", "echo detached-exec"),
			 0);
	expect_file_has(tpath(&t, "x.out"), "detached-exec");
	slurp(tpath(&t, "xpid"), pidtext, sizeof(pidtext));
	ck_assert_int_gt(atol(pidtext), 0);
	/* runc's failure, said once: "exec in <id>: ..." with no second prefix */
	ck_assert_int_eq(lcow(&t, "exec", id, "/nonexistent/binary"), 1);
	{
		char want[96];
		const char *first;
		snprintf(want, sizeof(want), "exec in %s:", id);
		first = strstr(t.err, want);
		ck_assert_msg(first && !strstr(first + 1, want), "%s", t.err);
		ck_assert_msg(strstr(t.err, "/nonexistent/binary"), "%s", t.err);
	}
	OK(&t, "kill", "--all", id, "9");
	expect_status(&t, id, "stopped");
	OK(&t, "delete", id);
	t_end(&t);
}
END_TEST

/* A terminal container with --console-socket: the pty master arrives there (runc's protocol). */
START_TEST(test_console_socket)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	char name[128] = "", out[4096] = "", *b;
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };
	long long deadline;
	size_t len = 0;
	int ls, conn, master;
	struct t t;

	t_start(&t);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", tpath(&t, "console.sock"));
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);
	b = bundle(&t, "b", SH_ARGS("tty; read line; echo console-$line; exit 3"), true, NULL);
	ck_assert_int_eq(lcow(&t, "run", "-d", "--uvm-mode", "process", "-b", b, cid(&t, "tty")),
			 1);
	ck_assert_ptr_nonnull(strstr(t.err, "console socket"));
	OK(&t, "run", "-d", "--uvm-mode", "process", "--console-socket", sa.sun_path, "-b", b,
	   cid(&t, "tty"));
	conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(conn, 0);
	ck_assert_int_gt(recvmsg(conn, &mh, MSG_CMSG_CLOEXEC), 0);
	ck_assert_ptr_nonnull(CMSG_FIRSTHDR(&mh));
	memcpy(&master, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	ck_assert_msg(!strncmp(name, "/dev/pts/", 9), "console name %s", name);
	ck_assert_int_eq(write(master, "ok\r", 3), 3);
	deadline = now_ms() + STEP_MS;
	while (!strstr(out, "console-ok")) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t n;
		ck_assert_msg(now_ms() < deadline && poll(&p, 1, 1000) >= 0, "console: %s", out);
		if (!p.revents)
			continue;
		n = read(master, out + len, sizeof(out) - 1 - len);
		ck_assert_msg(n > 0, "console closed: %s", out);
		len += (size_t)n;
		out[len] = '\0';
	}
	ck_assert_msg(strstr(out, "/dev/pts/"), "tty: %s", out);
	expect_status(&t, cid(&t, "tty"), "stopped");
	close(master);
	close(conn);
	close(ls);
	OK(&t, "delete", cid(&t, "tty"));
	t_end(&t);
}
END_TEST

/* An image imported with `lcow image import` runs as a layer-folders bundle. */
START_TEST(test_image_import)
{
	char *dir;
	struct t t;

	t_start(&t);
	dir = tpath(&t, "imported");
	OK(&t, "image", "import", "--quiet", fx.image, dir);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", dir, cid(&t, "img")), 0);
	ck_assert_str_eq(t.out, "imported-ok\n" BASE_TEXT "\n");
	t_end(&t);
}
END_TEST

/* kill -9 of the process a pid file under the UVM's directory names, waited for. */
static void kill_file_pid(struct t *t, const char *uvm, const char *pid_file)
{
	char p[PATH_MAX], pidtext[32];
	long long t0 = now_ms();
	int pid;

	snprintf(p, sizeof(p), "%s/u/%s/%s", t->root, uvm, pid_file);
	slurp(p, pidtext, sizeof(pidtext));
	pid = atoi(pidtext);
	ck_assert_msg(pid > 1, "%s: \"%s\"", p, pidtext);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	while (kill(pid, 0) == 0 && now_ms() - t0 < STEP_MS)
		usleep(10000);
}

/*
 * A daemon killed with SIGKILL loses nothing: its UVM runs on, the next command starts a daemon
 * that adopts it, the container still runs, exec into it works and its exit is seen.
 */
START_TEST(test_daemon_killed_readopt)
{
	char p[PATH_MAX], text[64], *b;
	const char *id;
	long pid, pid2;
	struct t t;

	t_start(&t);
	id = cid(&t, "adopt");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(
		lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b", b, id),
		0);
	expect_file_has(tpath(&t, "c.out"), "started");
	state_of(&t, id, text, sizeof(text), &pid);
	ck_assert_str_eq(text, "running");
	kill_file_pid(&t, id, "daemon.pid");
	/* The agent (and so the container) outlived it. */
	snprintf(p, sizeof(p), "%s/u/%s/vm/agent.pid", t.root, id);
	slurp(p, text, sizeof(text));
	ck_assert_msg(atoi(text) > 1 && kill(atoi(text), 0) == 0, "the agent died with its daemon");
	/* exec starts a daemon that adopts the UVM. */
	ck_assert_int_eq(lcow(&t, "exec", id, "sh", "-c", "echo exec-after-crash"), 0);
	ck_assert_str_eq(t.out, "exec-after-crash\n");
	ck_assert_msg(strstr(t.err, "adopt"), "no notice of the adoption: %s", t.err);
	state_of(&t, id, text, sizeof(text), &pid2);
	ck_assert_str_eq(text, "running");
	ck_assert_int_eq(pid2, pid);
	OK(&t, "list");
	ck_assert_msg(strstr(t.out, "running"), "list: %s", t.out);
	/* The new daemon sees the init's exit: SIGTERM, trapped, exit 143. */
	OK(&t, "kill", id, "TERM");
	expect_status(&t, id, "stopped");
	OK(&t, "state", id);
	OK(&t, "delete", id);
	t_end(&t);
}
END_TEST

/* A daemon and its UVM both killed: every command says so at once; delete cleans up. */
START_TEST(test_crashed_daemon)
{
	const char *id;
	long long t0;
	struct t t;
	char *b;

	t_start(&t);
	id = cid(&t, "crash");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(
		lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b", b, id),
		0);
	expect_file_has(tpath(&t, "c.out"), "started");
	kill_file_pid(&t, id, "daemon.pid");
	kill_file_pid(&t, id, "vm/agent.pid");
	t0 = now_ms();
	ck_assert_int_eq(lcow(&t, "state", id), 1);
	ck_assert_msg(strstr(t.err, "is not running") && strstr(t.err, "gone too"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "exec", id, "true"), 1);
	ck_assert_msg(strstr(t.err, "is not running"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "kill", id), 1);
	ck_assert_int_lt(now_ms() - t0, 5000);
	OK(&t, "list");
	ck_assert_msg(strstr(t.out, "stopped") && strstr(t.err, "not running"), "list: %s / %s",
		      t.out, t.err);
	OK(&t, "delete", id);
	t_end(&t);
}
END_TEST

/*
 * Exit statuses under concurrency: PAR parallel `lcow run`s (process mode) of containers that
 * exit with their own status, ROUNDS rounds; each run must exit with exactly its status.
 */
#define PAR 20
#define ROUNDS 10
START_TEST(test_parallel_exit_status)
{
	char *bundles[PAR], name[32], script[64], text[128];
#ifdef __SANITIZE_ADDRESS__
	int rounds = 3; /* everything runs several times slower */
#else
	int rounds = ROUNDS;
#endif
	struct t t;

	t_start(&t);
	for (int i = 0; i < PAR; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		snprintf(script, sizeof(script), "[\"sh\",\"-c\",\"exit %d\"]", i + 1);
		bundles[i] = strdup(bundle(&t, name, script, false, NULL));
	}
	for (int r = 0; r < rounds; r++) {
		pid_t pids[PAR];
		char ids[PAR][64];

		for (int i = 0; i < PAR; i++) {
			snprintf(name, sizeof(name), "p%d-%d", r, i);
			snprintf(ids[i], sizeof(ids[i]), "%s", cid(&t, name));
			const char *argv[] = { LCOW_BIN,     "--root",	t.root, "run",
					       "--uvm-mode", "process", "-b",	bundles[i],
					       ids[i],	     NULL };
			snprintf(text, sizeof(text), "%s.out", ids[i]);
			pids[i] = spawn_argv(argv, tpath(&t, text), tpath(&t, "par.err"));
		}
		for (int i = 0; i < PAR; i++) {
			int st = wait_pid(pids[i], STEP_MS * 3);
			ck_assert_msg(st == i + 1,
				      "round %d: lcow run %s exited %d, its container %d", r,
				      ids[i], st, i + 1);
		}
	}
	for (int i = 0; i < PAR; i++)
		free(bundles[i]);
	t_end(&t);
}
END_TEST

/*
 * The control socket answers only root and the daemon's user: with its modes opened up (as a
 * mis-set mode or a bind mount would), another uid connects and is refused with a reason.
 */
START_TEST(test_ctl_refuses_other_users)
{
	char sock[PATH_MAX], dir[PATH_MAX], line[512] = "", *b;
	const char *id;
	int status = -1;
	pid_t pid;
	struct t t;

	t_start(&t);
	id = cid(&t, "peer");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(
		lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b", b, id),
		0);
	snprintf(sock, sizeof(sock), "%s/u/%s/ctl.sock", t.root, id);
	/* every directory down to the socket, and the socket, open to everyone */
	snprintf(dir, sizeof(dir), "%s", sock);
	for (char *slash = strrchr(dir, '/'); slash && slash != dir; slash = strrchr(dir, '/')) {
		*slash = '\0';
		ck_assert_int_eq(chmod(dir, 0755), 0);
		if (strcmp(dir, "/tmp") == 0)
			break;
	}
	ck_assert_int_eq(chmod(sock, 0777), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd;
		ssize_t n;

		alarm(10);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(11);
		/* the refusal comes at once, before any request is read */
		n = read(fd, line, sizeof(line) - 1);
		line[n > 0 ? n : 0] = '\0';
		_exit(strstr(line, "\"ok\":false") && strstr(line, "permission denied: uid 65534") ?
			      0 :
			      12);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "uid 65534 was not refused with a reason (child status 0x%x)", status);
	/* root still is served */
	OK(&t, "state", id);
	OK(&t, "delete", "--force", id);
	t_end(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");
	ADD_TEST(s, test_help);
	ADD_TEST(s, test_run_exit_status);
	ADD_TEST(s, test_lifecycle);
	ADD_TEST(s, test_state_missing);
	ADD_TEST(s, test_log_json);
	ADD_TEST(s, test_bad_bundle);
	ADD_TEST(s, test_layer_folders);
	ADD_TEST(s, test_pod);
	ADD_TEST(s, test_cri_pod);
	ADD_TEST(s, test_detach_and_exec);
	ADD_TEST(s, test_console_socket);
	ADD_TEST(s, test_image_import);
	ADD_TEST(s, test_daemon_killed_readopt);
	ADD_TEST(s, test_crashed_daemon);
	ADD_TEST(s, test_ctl_refuses_other_users);
	ADD_TEST(s, test_parallel_exit_status);
	return clitest_main(s);
}
