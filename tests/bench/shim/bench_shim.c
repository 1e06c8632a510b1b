/*
 * The containerd shims' benchmark (part of make bench): Debian's containerd, through the
 * containerd suites' harness (tests/containerd/ctrd.h), runs the same busybox image with runc's
 * shim (io.containerd.runc.v2, the baseline) and lcow's (io.containerd.lcow.v1, the UVM in
 * process mode: the lcow agent as a host process), in the same run:
 *
 *   1. from spawning `ctr run --rm --runtime R IMG ID sh -c 'echo hi'` to the first byte of its
 *      stdout, N runs of each runtime interleaved; the first run apart (lcow's also builds the
 *      layer images), the median and minimum of the others;
 *   2. the shim's VmRSS and Threads while a `ctr run -d` task sleeps (for lcow also the agent's
 *      VmRSS), the shim being the process whose command line names the harness's socket.
 *
 * Figures print as the other benches' do (bench.h). Any ctr run that fails, or prints other
 * than "hi", fails the run: its error is printed, the other runtime still runs (so the baseline
 * is there), containerd and every shim are stopped (ctrd_stop, which also checks that nothing is
 * left), and the exit status is 1. Not root, or no containerd: NOT RUN, exit status 0.
 *
 *   bench_shim [--runc-only] [N]    N: runs of each runtime for figure 1 (6)
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ctrd.h"

#define RUN_MS 30000 /* one ctr invocation */
#define MAX_RUNS 20

extern char **environ;

enum { RUNC, LCOW, N_RT };

struct rt {
	const char *name; /* "runc", "lcow" */
	const char *runtime;
	bool failed;
	double first_us;
	double cached_us[MAX_RUNS];
	int n_cached;
	long shim_rss_kb;
	long shim_threads;
	pid_t agent;
	long agent_rss_kb;
	char agent_exe[PATH_MAX];
};

static struct rt rts[N_RT] = {
	[RUNC] = { .name = "runc", .runtime = "io.containerd.runc.v2" },
	[LCOW] = { .name = "lcow", .runtime = "io.containerd.lcow.v1" },
};
static struct ctrd d; /* the harness's containerd; d.sock is "" until ctrd_start ran */
static bool arg_runc_only;
static int arg_n = 6;
static int failures;

static void rt_fail(struct rt *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rt_fail(struct rt *r, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "bench_shim: %s: FAILED: ", r->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	r->failed = true;
	failures++;
}

/* Cuts trailing white space. */
static char *trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Appends what fd has to buf (cut at len); false at EOF. */
static bool slurp(int fd, char *buf, size_t len, size_t *got)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	if (*got + 1 < len) {
		size_t k = (size_t)n < len - 1 - *got ? (size_t)n : len - 1 - *got;
		memcpy(buf + *got, tmp, k);
		*got += k;
		buf[*got] = '\0';
	}
	return true;
}

/*
 * One `ctr run --rm` of `sh -c 'echo hi'`: the microseconds from the spawn of ctr to the first
 * byte of its stdout, or a negative number after reporting the failure (a non-zero exit, a
 * deadline passed, output other than "hi").
 */
static double time_first_byte(struct rt *r, const char *id)
{
	const char *argv[] = { "ctr", "--address", d.sock,	"--namespace", d.ns,
			       "run", "--rm",	   "--runtime", r->runtime,    CTRD_IMAGE,
			       id,    "/bin/sh",   "-c",	"echo hi",     NULL };
	char out[4096] = "", err[4096] = "";
	size_t n_out = 0, n_err = 0;
	posix_spawn_file_actions_t fa;
	int po[2], pe[2], rc, status, got;
	bool open_out = true, open_err = true, timed_out = false;
	double t0, first = -1;
	pid_t pid;

	ck_assert_int_eq(pipe2(po, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pe, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	t0 = now_us();
	rc = posix_spawnp(&pid, "ctr", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	ck_assert_msg(rc == 0, "posix_spawn ctr: %s", strerror(rc));
	while (open_out || open_err) {
		struct pollfd p[2] = { { .fd = open_out ? po[0] : -1, .events = POLLIN },
				       { .fd = open_err ? pe[0] : -1, .events = POLLIN } };
		double left_ms = RUN_MS - (now_us() - t0) / 1e3;

		if (left_ms <= 0 || poll(p, 2, (int)left_ms + 1) == 0) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		if (p[0].revents) {
			size_t before = n_out;
			open_out = slurp(po[0], out, sizeof(out), &n_out);
			if (first < 0 && n_out > before)
				first = now_us() - t0;
		}
		if (p[1].revents)
			open_err = slurp(pe[0], err, sizeof(err), &n_err);
	}
	close(po[0]);
	close(pe[0]);
	while (waitpid(pid, &status, 0) < 0)
		ck_assert_msg(errno == EINTR, "waitpid ctr: %m");
	got = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (timed_out) {
		rt_fail(r, "ctr run %s: no exit within %d s; stderr: %s", id, RUN_MS / 1000,
			trim(err));
		return -1;
	}
	if (got != 0) {
		rt_fail(r, "ctr run %s exited with %d: %s%s%s", id, got, trim(err),
			out[0] ? "; stdout: " : "", trim(out));
		return -1;
	}
	if (strcmp(out, "hi\n") != 0) {
		rt_fail(r, "ctr run %s printed \"%s\", expected \"hi\\n\"; stderr: %s", id, out,
			trim(err));
		return -1;
	}
	return first;
}

/* /proc/PID/cmdline with spaces for the NULs, "" when gone. */
static void cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return;
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
}

/* A "Key:" number of /proc/PID/status (kB for VmRSS), -1 when missing. */
static long status_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static bool names_our_socket(pid_t pid)
{
	char cmd[4096];

	cmdline(pid, cmd, sizeof(cmd));
	return strstr(cmd, d.sock) && strstr(cmd, "containerd-shim");
}

/* Whether pid descends from ancestor. */
static bool descends(pid_t pid, pid_t ancestor)
{
	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		pid = (pid_t)status_field(pid, "PPid");
		if (pid == ancestor)
			return true;
	}
	return false;
}

/*
 * The shim of the one running task: the process naming our socket whose parent does not (lcow's
 * process-mode UVM holder is a fork of the shim with its command line); -1 unless exactly one.
 * For lcow, the agent too: a descendant of the shim, or a process naming the harness's temp dir,
 * started as `AGENT --transport unix:...` (host/uvm/process_mode.c).
 */
static pid_t find_shim(struct rt *r, pid_t *ret_agent)
{
	DIR *p = opendir("/proc");
	pid_t shim = -1, agent = -1;
	struct dirent *e;
	int n = 0;

	ck_assert_msg(p != NULL, "/proc: %m");
	while ((e = readdir(p))) {
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid > 0 && pid != d.pid && names_our_socket(pid) &&
		    !names_our_socket((pid_t)status_field(pid, "PPid"))) {
			shim = pid;
			n++;
		}
	}
	if (n != 1) {
		closedir(p);
		rt_fail(r, "%d shim processes name %s while one task runs, expected 1", n, d.sock);
		return -1;
	}
	rewinddir(p);
	while (ret_agent && (e = readdir(p))) {
		pid_t pid = (pid_t)atoi(e->d_name);
		char cmd[4096];

		if (pid <= 0)
			continue;
		cmdline(pid, cmd, sizeof(cmd));
		if (strstr(cmd, " --transport unix:") && !strstr(cmd, "containerd-shim") &&
		    (strstr(cmd, d.dir) || descends(pid, shim)))
			agent = pid;
	}
	closedir(p);
	if (ret_agent) {
		if (agent < 0) {
			rt_fail(r, "no agent process (AGENT --transport unix:...) of shim %d",
				(int)shim);
			return -1;
		}
		*ret_agent = agent;
	}
	return shim;
}

/* Runs ctr ARGS within RUN_MS; false (reported) unless it exits 0. */
static bool ctr_ok(struct rt *r, const char *what, const char *const *args)
{
	char out[4096];
	int rc = ctrd_ctr(&d, NULL, out, sizeof(out), RUN_MS, args);

	if (rc != 0)
		rt_fail(r, "ctr %s exited with %d: %s", what, rc, trim(out));
	return rc == 0;
}

/* Figure 2: a sleeping task's shim (and lcow's agent), then the task and container gone. */
static void measure_resident(struct rt *r)
{
	char id[64];
	pid_t shim;

	snprintf(id, sizeof(id), "%s-%s-mem", d.ns, r->name);
	if (!ctr_ok(r, "run -d",
		    (const char *const[]){ "run", "-d", "--runtime", r->runtime, CTRD_IMAGE, id,
					   "/bin/sleep", "1000", NULL }))
		return;
	shim = find_shim(r, r == &rts[LCOW] ? &r->agent : NULL);
	if (shim > 0) {
		r->shim_rss_kb = status_field(shim, "VmRSS");
		r->shim_threads = status_field(shim, "Threads");
		if (r->shim_rss_kb < 0 || r->shim_threads < 0)
			rt_fail(r, "no VmRSS/Threads in /proc/%d/status", (int)shim);
	}
	if (shim > 0 && r->agent > 0) {
		char link[64];
		ssize_t n;

		r->agent_rss_kb = status_field(r->agent, "VmRSS");
		snprintf(link, sizeof(link), "/proc/%d/exe", (int)r->agent);
		n = readlink(link, r->agent_exe, sizeof(r->agent_exe) - 1);
		r->agent_exe[n > 0 ? n : 0] = '\0';
		if (r->agent_rss_kb < 0)
			rt_fail(r, "no VmRSS in /proc/%d/status (the agent)", (int)r->agent);
	}
	/* kills the task and waits for its exit (containerd's WithProcessKill) */
	if (ctr_ok(r, "task delete --force",
		   (const char *const[]){ "task", "delete", "--force", id, NULL }))
		ctr_ok(r, "containers rm", (const char *const[]){ "containers", "rm", id, NULL });
	if (ctrd_shims(&d) > 0)
		ctrd_expect_no_shims(&d);
}

static void run_first_byte(struct rt *r, int i)
{
	char id[64];
	double us;

	if (r->failed)
		return;
	snprintf(id, sizeof(id), "%s-%s-%d", d.ns, r->name, i);
	us = time_first_byte(r, id);
	if (us < 0)
		return;
	if (i == 0)
		r->first_us = us;
	else
		r->cached_us[r->n_cached++] = us;
}

static double min_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

/* lcow's figure beside runc's, or runc's alone (lcow not run or failed: said so). */
static void pair(const char *name, double lcow, double runc, const char *unit, const char *base)
{
	const struct rt *l = &rts[LCOW];

	if (!arg_runc_only && !l->failed) {
		figure(name, lcow, unit, base, runc);
		return;
	}
	printf("%s: lcow %s | baseline %s: %.*f %s\n", name,
	       arg_runc_only ? "not run (--runc-only)" : "FAILED (above)", base, runc < 10 ? 2 : 1,
	       runc, unit);
	fflush(stdout);
}

static void report(void)
{
	struct rt *rc = &rts[RUNC], *l = &rts[LCOW];
	char label[128];
	double lmed = 0, rmed, lmin = 0, rmin;

	if (rc->failed)
		return;
	rmed = median(rc->cached_us, rc->n_cached) / 1e3;
	rmin = min_of(rc->cached_us, rc->n_cached) / 1e3;
	if (!l->failed && !arg_runc_only) {
		lmed = median(l->cached_us, l->n_cached) / 1e3;
		lmin = min_of(l->cached_us, l->n_cached) / 1e3;
	}
	pair("ctr run to first stdout byte, first run (lcow: builds the layer images)",
	     l->first_us / 1e3, rc->first_us / 1e3, "ms", "runc first run");
	snprintf(label, sizeof(label), "ctr run to first stdout byte, median of runs 2-%d", arg_n);
	pair(label, lmed, rmed, "ms", "runc median");
	snprintf(label, sizeof(label), "ctr run to first stdout byte, min of runs 2-%d", arg_n);
	pair(label, lmin, rmin, "ms", "runc min");
	pair("shim VmRSS while a task sleeps", l->shim_rss_kb / 1024.0, rc->shim_rss_kb / 1024.0,
	     "MiB", "runc shim");
	pair("shim threads while a task sleeps", (double)l->shim_threads, (double)rc->shim_threads,
	     "threads", "runc shim");
	if (!arg_runc_only && !l->failed) {
		snprintf(label, sizeof(label),
			 "lcow agent VmRSS (process-mode UVM: %s as a host process, pid %d)",
			 l->agent_exe, (int)l->agent);
		figure(label, l->agent_rss_kb / 1024.0, "MiB", "runc shim",
		       rc->shim_rss_kb / 1024.0);
		figure("lcow shim + agent VmRSS", (l->shim_rss_kb + l->agent_rss_kb) / 1024.0,
		       "MiB", "runc shim", rc->shim_rss_kb / 1024.0);
	}
}

START_TEST(test_bench)
{
	int n_rt = arg_runc_only ? 1 : N_RT;

	ctrd_start(&d, LCOW_SHIM_DIR);
	ctrd_import_busybox(&d);
	printf("shim bench: %d ctr runs of each runtime (interleaved): %s%s\n", arg_n,
	       rts[RUNC].runtime,
	       arg_runc_only ? " only (--runc-only)" : " and io.containerd.lcow.v1 (process mode)");
	fflush(stdout);
	for (int i = 0; i < arg_n; i++)
		for (int k = 0; k < n_rt; k++)
			run_first_byte(&rts[k], i);
	for (int k = 0; k < n_rt; k++)
		measure_resident(&rts[k]);
	report();
}
END_TEST

/* Runs after test_bench in the same process (no fork), whether it failed or not. */
START_TEST(test_teardown)
{
	if (!d.sock[0])
		return;
	ctrd_stop(&d);
	printf("shim bench: containerd stopped; no shim, mount under %s or file of ours in "
	       "/run/containerd left\n",
	       d.dir);
	fflush(stdout);
}
END_TEST

static bool on_path(const char *prog)
{
	char buf[PATH_MAX];
	const char *p = getenv("PATH");

	while (p && *p) {
		size_t n = strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
		if (n && access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

int main(int argc, char **argv)
{
	Suite *s = suite_create("bench-shim");
	TCase *tc = tcase_create("shim");
	double t0 = now_us();
	int failed;
	SRunner *sr;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runc-only"))
			arg_runc_only = true;
		else if ((arg_n = atoi(argv[i])) < 2 || arg_n > MAX_RUNS + 1 || i != argc - 1) {
			fprintf(stderr, "usage: %s [--runc-only] [N]   (2 <= N <= %d)\n", argv[0],
				MAX_RUNS + 1);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0 || !on_path("containerd") || !on_path("ctr")) {
		printf("shim bench: NOT RUN: %s\n",
		       geteuid() != 0 ? "containerd needs root" : "no containerd or ctr on PATH");
		return 0;
	}
	/* containerd passes its environment to the shims: the lcow shim's UVM is a process */
	setenv("LCOW_UVM_MODE", "process", 1);
	/* no fork: test_teardown sees test_bench's containerd, and ctr runs have their deadlines */
	tcase_add_test(tc, test_bench);
	tcase_add_test(tc, test_teardown);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	if (failed) {
		TestResult **tr = srunner_failures(sr);
		for (int i = 0; i < failed; i++)
			fprintf(stderr, "bench_shim: FAILED: %s:%d: %s\n", tr_lfile(tr[i]),
				tr_lno(tr[i]), tr_msg(tr[i]));
		free(tr);
	}
	srunner_free(sr);
	if (failed || failures) {
		fprintf(stderr,
			"bench_shim: FAILED after %.1f s (%d failure(s) above); containerd "
			"and its shims stopped\n",
			(now_us() - t0) / 1e6, failed + failures);
		return 1;
	}
	printf("shim bench: done in %.1f s; every ctr run of %s exited as expected\n",
	       (now_us() - t0) / 1e6, arg_runc_only ? "runc" : "both runtimes");
	return 0;
}
