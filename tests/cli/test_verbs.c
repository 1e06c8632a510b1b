/*
 * The CLI suite of runc's inspection and update verbs: spec, ps, update, events, and the
 * console-socket terminal that follows resizes of its pty master. Each verb is compared with
 * the host's runc on the same bundle (runc --root <test dir>/runc, deleted before t_end). See
 * clitest.h for the harness.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "clitest.h"

/* ---- host runc on the same bundles ---- */

/* runc --root <t>/runc ARGS (a shell fragment); its stdout and stderr into t->out / t->err. */
static int runc(struct t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int runc(struct t *t, const char *fmt, ...)
{
	char args[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	t->status = sh("runc --root '%s/runc' %s </dev/null >'%s/runc.out' 2>'%s/runc.err'", t->dir,
		       args, t->dir, t->dir);
	slurp(tpath(t, "runc.out"), t->out, sizeof(t->out));
	slurp(tpath(t, "runc.err"), t->err, sizeof(t->err));
	return t->status;
}

/* A runc container of the bundle, running (its output in <t>/<id>.runc). */
static void runc_start(struct t *t, const char *bundle, const char *id)
{
	char out[PATH_MAX];

	snprintf(out, sizeof(out), "%s/%s.runc", t->dir, id);
	ck_assert_msg(sh("runc --root '%s/runc' run -d -b '%s' '%s' </dev/null >'%s' 2>&1", t->dir,
			 bundle, id, out) == 0,
		      "runc run: %s", fx.error);
	expect_file_has(out, "started");
}

static void runc_delete(struct t *t, const char *id)
{
	ck_assert_msg(runc(t, "delete --force '%s'", id) == 0, "runc delete: %s", t->err);
}

/* jq -e FILTER FILE is true. */
static bool jq_true(const char *file, const char *filter)
{
	return sh("jq -e '%s' '%s' >/dev/null", filter, file) == 0;
}

/* The dotted paths of a JSON file's scalars (array indexes dropped), sorted, into out. */
static void key_paths(const char *json, const char *out)
{
	ck_assert_msg(sh("jq -r '[paths(scalars) | map(select(type == \"string\")) | join(\".\")] "
			 "| unique[]' '%s' >'%s'",
			 json, out) == 0,
		      "jq: %s", fx.error);
}

/* Waits until `lcow state` and runc agree that a container has stopped. */
static void expect_runc_stopped(struct t *t, const char *id)
{
	long long deadline = now_ms() + STEP_MS;

	for (;;) {
		ck_assert_int_eq(runc(t, "state '%s'", id), 0);
		if (strstr(t->out, "\"status\": \"stopped\""))
			return;
		ck_assert_msg(now_ms() < deadline, "runc: %s still not stopped: %s", id, t->out);
		usleep(20000);
	}
}

/* ---- spec ---- */

/* lcow spec writes what runc spec writes, refuses an existing file as runc does, and runs. */
START_TEST(test_spec)
{
	char *mine, *theirs, p[PATH_MAX];
	struct t t;

	t_start(&t);
	mine = tpath(&t, "mine");
	theirs = tpath(&t, "theirs");
	ck_assert_int_eq(mkdir(mine, 0755), 0);
	ck_assert_int_eq(mkdir(theirs, 0755), 0);
	OK(&t, "spec", "--bundle", mine);
	ck_assert_str_eq(t.out, "");
	ck_assert_int_eq(sh("cd '%s' && runc spec", theirs), 0);
	ck_assert_msg(sh("cmp '%s/config.json' '%s/config.json'", mine, theirs) == 0,
		      "lcow spec and runc spec differ");
	ck_assert_msg(sh("jq -S . '%s/config.json' >'%s/a' && jq -S . '%s/config.json' >'%s/b' && "
			 "cmp '%s/a' '%s/b'",
			 mine, t.dir, theirs, t.dir, t.dir, t.dir) == 0,
		      "jq -S: lcow spec and runc spec differ");
	/* never over an existing config.json: runc's message, exit 1 */
	ck_assert_int_eq(lcow(&t, "spec", "-b", mine), 1);
	ck_assert_msg(strstr(t.err, "File config.json exists. Remove it first"), "%s", t.err);
	ck_assert_int_ne(sh("cd '%s' && runc spec", theirs), 0);
	ck_assert_int_eq(lcow(&t, "spec", "-b", tpath(&t, "nosuch")), 1);
	ck_assert_int_eq(lcow(&t, "spec", "--rootless", "-b", theirs), 1);
	ck_assert_msg(strstr(t.err, "--rootless is not supported"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "spec", "extra"), 1);
	/* the starter bundle runs as it is but for its command: root.path "rootfs" */
	snprintf(p, sizeof(p), "%s/rootfs", mine);
	ck_assert_int_eq(symlink(fx.rootfs, p), 0);
	ck_assert_int_eq(sh("cd '%s' && jq '.process.terminal = false | .process.args = "
			    "[\"sh\", \"-c\", \"echo from-spec; hostname\"]' config.json >c && "
			    "mv c config.json",
			    mine),
			 0);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", mine, cid(&t, "spec")), 0);
	ck_assert_str_eq(t.out, "from-spec\nrunc\n");
	t_end(&t);
}
END_TEST

/* ---- ps ---- */

/* The PID column's values of a ps table (after the header), into pids; how many. */
static int table_pids(const char *table, long *pids, int max)
{
	const char *line = strchr(table, '\n');
	char hdr[512];
	int col = -1, n = 0, i = 0;

	snprintf(hdr, sizeof(hdr), "%.*s", line ? (int)(line - table) : 0, table);
	for (char *save = NULL, *f = strtok_r(hdr, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
		if (!strcmp(f, "PID"))
			col = i;
		i++;
	}
	ck_assert_msg(col >= 0, "no PID column in %s", table);
	while (line && line[1] && n < max) {
		char buf[1024], *save = NULL, *f;
		const char *end = strchr(line + 1, '\n');
		snprintf(buf, sizeof(buf), "%.*s",
			 end ? (int)(end - line - 1) : (int)strlen(line + 1), line + 1);
		f = strtok_r(buf, " ", &save);
		for (i = 0; f && i < col; i++)
			f = strtok_r(NULL, " ", &save);
		ck_assert_msg(f != NULL, "short line in %s", table);
		pids[n++] = atol(f);
		line = end;
	}
	return n;
}

/* The table is ps's: the same header as runc's, a line per pid of the container. */
START_TEST(test_ps)
{
	char json_mine[256], json_runc[256], hdr_mine[512], hdr_runc[512], *b;
	const char *id, *rid;
	long pids[16];
	struct t t;
	int n;

	t_start(&t);
	id = cid(&t, "ps");
	rid = cid(&t, "ps-runc");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(
		lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b", b, id),
		0);
	expect_file_has(tpath(&t, "c.out"), "started");
	runc_start(&t, b, rid);

	OK(&t, "ps", "--format", "json", id);
	snprintf(json_mine, sizeof(json_mine), "%s", t.out);
	ck_assert_int_eq(runc(&t, "ps --format json '%s'", rid), 0);
	snprintf(json_runc, sizeof(json_runc), "%s", t.out);
	/* sh and its sleep, both sides */
	ck_assert_msg(sh("[ \"$(echo '%s' | jq length)\" = 2 ] && [ \"$(echo '%s' | jq length)\" = "
			 "2 ]",
			 json_mine, json_runc) == 0,
		      "lcow %s, runc %s", json_mine, json_runc);

	OK(&t, "ps", id);
	snprintf(hdr_mine, sizeof(hdr_mine), "%.*s", (int)strcspn(t.out, "\n"), t.out);
	n = table_pids(t.out, pids, 16);
	ck_assert_msg(n == 2 && strstr(t.out, "sleep 1000") && strstr(t.out, "sh -c"), "ps: %s",
		      t.out);
	for (int i = 0; i < n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "%ld", pids[i]);
		ck_assert_msg(strstr(json_mine, want), "pid %ld of the table is not in %s", pids[i],
			      json_mine);
	}
	ck_assert_int_eq(runc(&t, "ps '%s'", rid), 0);
	snprintf(hdr_runc, sizeof(hdr_runc), "%.*s", (int)strcspn(t.out, "\n"), t.out);
	ck_assert_msg(sh("[ \"$(echo '%s' | tr -s ' ')\" = \"$(echo '%s' | tr -s ' ')\" ]",
			 hdr_mine, hdr_runc) == 0,
		      "headers: lcow \"%s\", runc \"%s\"", hdr_mine, hdr_runc);
	ck_assert_int_eq(table_pids(t.out, pids, 16), 2);

	/* ps's own options, after the ID (or after --) */
	OK(&t, "ps", id, "-o", "pid,comm");
	ck_assert_msg(strstr(t.out, "PID COMMAND\n") && strstr(t.out, " sleep\n") &&
			      strstr(t.out, " sh\n"),
		      "ps -o pid,comm: %s", t.out);
	ck_assert_int_eq(runc(&t, "ps '%s' -o pid,comm", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.out, "PID COMMAND\n"));
	OK(&t, "ps", id, "--", "aux");
	ck_assert_msg(!strncmp(t.out, "USER", 4) && table_pids(t.out, pids, 16) == 2, "%s", t.out);
	/* no PID column, a ps that fails: runc's errors */
	ck_assert_int_eq(lcow(&t, "ps", id, "-o", "comm"), 1);
	ck_assert_msg(strstr(t.err, "couldn't find PID field in ps output"), "%s", t.err);
	ck_assert_int_ne(runc(&t, "ps '%s' -o comm", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.err, "couldn't find PID field in ps output"));
	ck_assert_int_eq(lcow(&t, "ps", id, "--no-such-ps-option"), 1);
	ck_assert_msg(strstr(t.err, "exit status 1: error: unknown gnu long option"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "ps", "--format", "xml", id), 1);
	ck_assert_int_eq(lcow(&t, "ps", "-f", "json", id, "aux"), 1);

	/* stopped: the header alone, as runc prints it */
	OK(&t, "kill", id, "KILL");
	expect_status(&t, id, "stopped");
	OK(&t, "ps", id);
	ck_assert_msg(!strchr(t.out, '\n') || !strchr(t.out, '\n')[1], "stopped: %s", t.out);
	ck_assert_ptr_nonnull(strstr(t.out, "PID"));
	OK(&t, "ps", "--format", "json", id);
	ck_assert_str_eq(t.out, "[]\n");
	OK(&t, "delete", id);
	ck_assert_int_eq(lcow(&t, "ps", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container does not exist"));
	runc_delete(&t, rid);
	t_end(&t);
}
END_TEST

/* ---- update and events ---- */

/* events --stats of both into <t>/<name>.lcow / .runc. */
static void stats_both(struct t *t, const char *id, const char *rid, const char *name)
{
	char mine[PATH_MAX], theirs[PATH_MAX];

	snprintf(mine, sizeof(mine), "%s/%s.lcow", t->dir, name);
	snprintf(theirs, sizeof(theirs), "%s/%s.runc", t->dir, name);
	ck_assert_int_eq(lcow_out(t, mine, "events", "--stats", id), 0);
	ck_assert_msg(sh("runc --root '%s/runc' events --stats '%s' >'%s'", t->dir, rid, theirs) ==
			      0,
		      "runc events: %s", fx.error);
	ck_assert_msg(jq_true(mine, ".type == \"stats\" and .data != null"), "lcow: %s", t->out);
}

START_TEST(test_update_events)
{
	const char *id, *rid;
	char *b, file[PATH_MAX], cmd[PATH_MAX];
	char mine[PATH_MAX], theirs[PATH_MAX];
	struct t t;
	pid_t pid;

	t_start(&t);
	id = cid(&t, "upd");
	rid = cid(&t, "upd-runc");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(
		lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b", b, id),
		0);
	expect_file_has(tpath(&t, "c.out"), "started");
	runc_start(&t, b, rid);

	/* events --stats: runc's shape; every key lcow prints is one runc prints */
	stats_both(&t, id, rid, "s0");
	snprintf(mine, sizeof(mine), "%s/s0.lcow", t.dir);
	snprintf(theirs, sizeof(theirs), "%s/s0.runc", t.dir);
	ck_assert_msg(jq_true(mine, ".data.cpu.usage.total > 0 and "
				    ".data.memory.usage.usage > 0 and .data.memory.usage.limit > 0 "
				    "and .data.pids.current == 2"),
		      "%s", t.out);
	ck_assert_msg(sh("[ \"$(jq -r .id '%s')\" = '%s' ]", mine, id) == 0, "id: %s", t.out);
	ck_assert_msg(sh("[ \"$(head -c 24 '%s')\" = '{\"type\":\"stats\",\"id\":\"lt' ]", mine) ==
			      0,
		      "not runc's field order: %s", t.out);
	key_paths(mine, tpath(&t, "k.lcow"));
	key_paths(theirs, tpath(&t, "k.runc"));
	ck_assert_msg(sh("[ -z \"$(comm -23 '%s/k.lcow' '%s/k.runc')\" ]", t.dir, t.dir) == 0,
		      "keys lcow prints and runc does not: see %s", tpath(&t, "k.lcow"));
	ck_assert_msg(sh("grep -qx data.memory.usage.limit '%s/k.lcow' && grep -qx "
			 "data.cpu.usage.kernel '%s/k.lcow'",
			 t.dir, t.dir) == 0,
		      "keys: see %s", tpath(&t, "k.lcow"));

	/* update, then events show the new limits, on both sides */
	OK(&t, "update", "--memory", "64m", "--pids-limit", "50", "--cpu-share", "512", id);
	ck_assert_int_eq(runc(&t, "update --memory 64m --pids-limit 50 --cpu-share 512 '%s'", rid),
			 0);
	stats_both(&t, id, rid, "s1");
	snprintf(mine, sizeof(mine), "%s/s1.lcow", t.dir);
	snprintf(theirs, sizeof(theirs), "%s/s1.runc", t.dir);
	ck_assert_msg(jq_true(mine, ".data.memory.usage.limit == 67108864 and "
				    ".data.pids.limit == 50"),
		      "lcow after update: see %s", mine);
	ck_assert_msg(jq_true(theirs, ".data.memory.usage.limit == 67108864 and "
				      ".data.pids.limit == 50"),
		      "runc after update: see %s", theirs);
	/* -r FILE and - (stdin), runc's format */
	snprintf(file, sizeof(file), "%s/res.json", t.dir);
	write_text(file, "{\"memory\":{\"limit\":33554432},\"pids\":{\"limit\":-1}}");
	OK(&t, "update", "-r", file, id);
	ck_assert_int_eq(runc(&t, "update -r '%s' '%s'", file, rid), 0);
	stats_both(&t, id, rid, "s2");
	snprintf(mine, sizeof(mine), "%s/s2.lcow", t.dir);
	snprintf(theirs, sizeof(theirs), "%s/s2.runc", t.dir);
	ck_assert_msg(jq_true(mine, ".data.memory.usage.limit == 33554432 and "
				    ".data.pids.limit == null"),
		      "lcow after -r: see %s", mine);
	ck_assert_msg(jq_true(theirs, ".data.memory.usage.limit == 33554432 and "
				      ".data.pids.limit == null"),
		      "runc after -r: see %s", theirs);
	snprintf(cmd, sizeof(cmd),
		 "echo '{\"memory\":{\"limit\":41943040}}' | '%s' --root '%s' update -r - '%s'",
		 LCOW_BIN, t.root, id);
	ck_assert_msg(sh("%s", cmd) == 0, "update -r -: %s", fx.error);
	ck_assert_int_eq(lcow_out(&t, mine, "events", "--stats", id), 0);
	ck_assert_msg(jq_true(mine, ".data.memory.usage.limit == 41943040"), "%s", t.out);

	/* bad values: runc's messages, on both sides */
	ck_assert_int_eq(lcow(&t, "update", "--memory", "10x", id), 1);
	ck_assert_msg(strstr(t.err, "invalid value for memory: invalid size: '10x'"), "%s", t.err);
	ck_assert_int_ne(runc(&t, "update --memory 10x '%s'", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.err, "invalid value for memory: invalid size: '10x'"));
	ck_assert_int_eq(lcow(&t, "update", "--cpu-share", "abc", id), 1);
	ck_assert_msg(strstr(t.err, "invalid value for cpu-share: parsing \\\"abc\\\": invalid "
				    "syntax"),
		      "%s", t.err);
	ck_assert_int_ne(runc(&t, "update --cpu-share abc '%s'", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.err, "invalid value for cpu-share:"));
	ck_assert_int_eq(lcow(&t, "update", "--pids-limit", "abc", id), 1);
	ck_assert_msg(strstr(t.err, "invalid value \\\"abc\\\" for flag -pids-limit: parse error"),
		      "%s", t.err);
	ck_assert_int_ne(runc(&t, "update --pids-limit abc '%s'", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.err, "invalid value \\\"abc\\\" for flag -pids-limit"));
	/* what the kernel refuses comes back from runc in the UVM */
	ck_assert_int_eq(lcow(&t, "update", "--cpuset-cpus", "4095", id), 1);
	ck_assert_msg(strstr(t.err, "cpuset.cpus"), "%s", t.err);
	ck_assert_int_ne(runc(&t, "update --cpuset-cpus 4095 '%s'", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.err, "cpuset.cpus"));
	/* what runc would silently ignore, lcow refuses */
	write_text(file, "{\"memory\":{\"limit\":33554432,\"swappiness\":10}}");
	ck_assert_int_eq(runc(&t, "update -r '%s' '%s'", file, rid), 0);
	ck_assert_int_eq(lcow(&t, "update", "-r", file, id), 1);
	ck_assert_msg(strstr(t.err, "memory.swappiness is not supported"), "%s", t.err);
	write_text(file, "{\"devices\":[]}");
	ck_assert_int_eq(lcow(&t, "update", "-r", file, id), 1);
	ck_assert_msg(strstr(t.err, "\\\"devices\\\" is not supported"), "%s", t.err);
	write_text(file, "{\"memory\":{\"limit\":\"1g\"}}");
	ck_assert_int_eq(lcow(&t, "update", "-r", file, id), 1);
	ck_assert_msg(strstr(t.err, "memory.limit must be an integer"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "update", "-r", file, "--memory", "1m", id), 1);
	ck_assert_int_eq(lcow(&t, "update", "--kernel-memory", "1m", id), 1);
	ck_assert_msg(strstr(t.err, "obsolete"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "update", "--l3-cache-schema", "L3:0=f", id), 1);
	ck_assert_msg(strstr(t.err, "Intel RDT"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "events", "--interval", "0", id), 1);
	ck_assert_msg(strstr(t.err, "duration interval must be greater than 0"), "%s", t.err);
	ck_assert_int_ne(runc(&t, "events --interval 0 '%s'", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.err, "duration interval must be greater than 0"));
	ck_assert_int_eq(lcow(&t, "events", "--interval", "5", id), 1);
	ck_assert_msg(strstr(t.err, "for flag -interval: parse error"), "%s", t.err);

	/* a stream: a line per interval; SIGINT ends it cleanly */
	{
		const char *argv[] = { LCOW_BIN,     "--root", t.root, "events",
				       "--interval", "150ms",  id,     NULL };
		pid = spawn_argv(argv, tpath(&t, "ev.out"), tpath(&t, "ev.err"));
		expect_file_has(tpath(&t, "ev.out"), "}}\n{\"type\":\"stats\"");
		ck_assert_int_eq(kill(pid, SIGINT), 0);
		ck_assert_int_eq(wait_pid(pid, STEP_MS), 0);
		ck_assert_msg(
			sh("jq -e -s 'length >= 2 and all(.type == \"stats\")' '%s' >/dev/null",
			   tpath(&t, "ev.out")) == 0,
			"events: %s", fx.error);
	}
	/* ... and ends by itself, at once, when the container stops */
	{
		const char *argv[] = { LCOW_BIN,     "--root", t.root, "events",
				       "--interval", "1h",     id,     NULL };
		long long t0;
		pid = spawn_argv(argv, tpath(&t, "ev2.out"), tpath(&t, "ev2.err"));
		usleep(300000);
		t0 = now_ms();
		OK(&t, "kill", id, "KILL");
		ck_assert_int_eq(wait_pid(pid, STEP_MS), 0);
		ck_assert_int_lt(now_ms() - t0, 10000);
	}
	expect_status(&t, id, "stopped");
	ck_assert_int_eq(runc(&t, "kill '%s' KILL", rid), 0);
	expect_runc_stopped(&t, rid);

	/* a stopped container: runc's answers */
	ck_assert_int_eq(lcow(&t, "events", "--stats", id), 1);
	ck_assert_msg(strstr(t.err, "is not running"), "%s", t.err);
	ck_assert_int_ne(runc(&t, "events --stats '%s'", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.err, "is not running"));
	ck_assert_int_eq(lcow(&t, "update", "--memory", "64m", id), 1);
	ck_assert_msg(strstr(t.err, "container not running"), "%s", t.err);
	ck_assert_int_ne(runc(&t, "update --memory 64m '%s'", rid), 0);
	ck_assert_ptr_nonnull(strstr(t.err, "container not running"));
	OK(&t, "delete", id);
	runc_delete(&t, rid);
	ck_assert_int_eq(lcow(&t, "events", "--stats", id), 1);
	ck_assert_msg(strstr(t.err, "container does not exist"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "update", "--memory", "64m", id), 1);
	ck_assert_msg(strstr(t.err, "container does not exist"), "%s", t.err);
	t_end(&t);
}
END_TEST

/* A created container's limits can change before it starts, as with runc. */
START_TEST(test_update_created)
{
	const char *id;
	char *b;
	struct t t;

	t_start(&t);
	id = cid(&t, "created");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(
		lcow_out(&t, tpath(&t, "c.out"), "create", "--uvm-mode", "process", "-b", b, id),
		0);
	OK(&t, "update", "--pids-limit", "20", id);
	OK(&t, "events", "--stats", id);
	ck_assert_msg(strstr(t.out, "\"limit\":20}"), "%s", t.out);
	OK(&t, "delete", "--force", id);
	t_end(&t);
}
END_TEST

/* ---- the console socket's terminal follows its master's size ---- */

struct console {
	int listener, conn, master;
	char name[128];
};

static void console_listen(struct t *t, struct console *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	c->conn = c->master = -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(c->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(c->listener, 1), 0);
	(void)t;
}

/* The master lcow sent (runc's protocol: the pty's name, the fd as SCM_RIGHTS). */
static void console_accept(struct console *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = c->name, .iov_len = sizeof(c->name) - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };

	c->conn = accept4(c->listener, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(c->conn, 0);
	ck_assert_int_gt(recvmsg(c->conn, &mh, MSG_CMSG_CLOEXEC), 0);
	ck_assert_ptr_nonnull(CMSG_FIRSTHDR(&mh));
	memcpy(&c->master, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	ck_assert_msg(!strncmp(c->name, "/dev/pts/", 9), "console name %s", c->name);
}

static void console_close(struct console *c)
{
	close(c->master);
	close(c->conn);
	close(c->listener);
}

static void set_size(int master, unsigned short rows, unsigned short cols)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };

	ck_assert_int_eq(ioctl(master, TIOCSWINSZ, &ws), 0);
}

/* Polls `stty size` of the container's console (an exec) until it reads want. */
static void expect_console_size(struct t *t, const char *id, const char *want)
{
	long long deadline = now_ms() + STEP_MS;

	for (;;) {
		OK(t, "exec", id, "stty", "-F", "/dev/console", "size");
		if (!strcmp(t->out, want))
			return;
		ck_assert_msg(now_ms() < deadline, "console size \"%s\", want \"%s\"", t->out,
			      want);
		usleep(50000);
	}
}

/* Drains what the container wrote to its console (the master must not fill up). */
static void drain(int master)
{
	char buf[4096];
	struct pollfd p = { .fd = master, .events = POLLIN };

	while (poll(&p, 1, 0) > 0 && (p.revents & POLLIN) && read(master, buf, sizeof(buf)) > 0)
		;
}

START_TEST(test_console_resize)
{
	struct console con;
	const char *id, *id2;
	char *b;
	struct t t;

	t_start(&t);
	id = cid(&t, "tty");
	id2 = cid(&t, "tty2");
	b = bundle(&t, "b", SH_ARGS("echo started; sleep 1000 & wait"), true, NULL);

	/* run -d: resizes after the start reach the console */
	console_listen(&t, &con, tpath(&t, "c.sock"));
	OK(&t, "run", "-d", "--uvm-mode", "process", "--console-socket", tpath(&t, "c.sock"), "-b",
	   b, id);
	console_accept(&con);
	set_size(con.master, 40, 120);
	expect_console_size(&t, id, "40 120\n");
	set_size(con.master, 25, 81);
	expect_console_size(&t, id, "25 81\n");
	drain(con.master);
	OK(&t, "kill", id, "KILL");
	expect_status(&t, id, "stopped");
	OK(&t, "delete", id);
	console_close(&con);

	/* create, a size set before start, then start: the console starts with it */
	console_listen(&t, &con, tpath(&t, "c2.sock"));
	OK(&t, "create", "--uvm-mode", "process", "--console-socket", tpath(&t, "c2.sock"), "-b", b,
	   id2);
	console_accept(&con);
	set_size(con.master, 33, 99);
	OK(&t, "start", id2);
	expect_console_size(&t, id2, "33 99\n");
	/* an exec with its own console socket follows its master too */
	{
		struct console ec;
		char out[8192] = "";
		size_t len = 0;
		long long deadline = now_ms() + STEP_MS;

		console_listen(&t, &ec, tpath(&t, "e.sock"));
		OK(&t, "exec", "-d", "-t", "--console-socket", tpath(&t, "e.sock"), id2, "sh", "-c",
		   "while true; do stty size; sleep 0.1; done");
		console_accept(&ec);
		set_size(ec.master, 31, 91);
		while (!strstr(out, "31 91")) {
			struct pollfd p = { .fd = ec.master, .events = POLLIN };
			ssize_t n;
			ck_assert_msg(now_ms() < deadline, "exec console: %s", out);
			if (poll(&p, 1, 500) <= 0)
				continue;
			if (len + 1 >= sizeof(out))
				len = 0;
			n = read(ec.master, out + len, sizeof(out) - 1 - len);
			ck_assert_msg(n > 0, "exec console closed: %s", out);
			len += (size_t)n;
			out[len] = '\0';
		}
		console_close(&ec);
	}
	/* the master's holder goes away (a hangup, as with runc): everything still goes cleanly */
	console_close(&con);
	usleep(200000);
	OK(&t, "delete", "--force", id2);
	t_end(&t);
}
END_TEST

/* Usage errors and missing containers, as runc reports them. */
START_TEST(test_verbs_errors)
{
	static const char *const cmds[][4] = {
		{ "ps", NULL },	    { "ps", "-f", "json", NULL },  { "update", "--memory", "1m" },
		{ "events", NULL }, { "events", "--stats", NULL },
	};
	struct t t;

	t_start(&t);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *a[5] = { 0 };
		size_t n = 0;
		while (n < 3 && cmds[i][n])
			n++;
		memcpy(a, cmds[i], n * sizeof(char *));
		a[n] = "nosuch";
		ck_assert_int_eq(lcow(&t, a[0], a[1], a[2], a[3], a[4]), 1);
		ck_assert_msg(strstr(t.err, "container does not exist"), "%s: %s", a[0], t.err);
		a[n] = NULL;
		ck_assert_int_eq(lcow(&t, a[0], a[1], a[2], a[3]), 1);
		ck_assert_msg(strstr(t.err, "--help"), "%s without an ID: %s", a[0], t.err);
	}
	ck_assert_int_eq(lcow(&t, "update", "--no-such-option", "1", "x"), 1);
	ck_assert_int_eq(lcow(&t, "events", "--interval", "1x", "x"), 1);
	t_end(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("verbs");
	ADD_TEST(s, test_spec);
	ADD_TEST(s, test_ps);
	ADD_TEST(s, test_update_events);
	ADD_TEST(s, test_update_created);
	ADD_TEST(s, test_console_resize);
	ADD_TEST(s, test_verbs_errors);
	return clitest_main(s);
}
