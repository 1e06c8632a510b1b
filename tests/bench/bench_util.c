/* The benchmarks' shared parts (bench.h). */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ---- failure and teardown ---- */

#define MAX_DEFERRED 16

static struct {
	void (*fn)(void *);
	void *arg;
} deferred[MAX_DEFERRED];
static int n_deferred;

void bench_defer(void (*fn)(void *), void *arg)
{
	if (n_deferred == MAX_DEFERRED)
		bench_fail("internal: more than %d teardowns registered", MAX_DEFERRED);
	deferred[n_deferred].fn = fn;
	deferred[n_deferred].arg = arg;
	n_deferred++;
}

void bench_undefer(void *arg)
{
	for (int i = n_deferred - 1; i >= 0; i--) {
		if (deferred[i].arg != arg)
			continue;
		memmove(&deferred[i], &deferred[i + 1],
			(size_t)(n_deferred - i - 1) * sizeof(*deferred));
		n_deferred--;
		return;
	}
}

void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* A teardown that fails again must not run the others twice. */
	while (n_deferred > 0) {
		n_deferred--;
		deferred[n_deferred].fn(deferred[n_deferred].arg);
	}
	exit(1);
}

void bench_not_run(struct bench_run *r, const char *part, const char *why)
{
	printf("%s: NOT RUN: %s\n", part, why);
	fflush(stdout);
	r->not_run++;
}

/* ---- statistics and figures ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stats summarize(double *v, int n)
{
	struct stats s = { 0 };

	for (int i = 0; i < n; i++)
		s.mean += v[i];
	s.mean /= n;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.p50 = v[n / 2];
	s.p99 = v[(n * 99) / 100];
	return s;
}

double median(double *v, int n)
{
	return summarize(v, n).p50;
}

/* Three significant digits or more, no exponent. */
static void put_value(double v)
{
	if (v >= 100 || v <= -100)
		printf("%.0f", v);
	else if (v >= 10 || v <= -10)
		printf("%.1f", v);
	else
		printf("%.2f", v);
}

void figure(const char *name, double value, const char *unit, const char *baseline,
	    double base_value)
{
	printf("%s: ", name);
	put_value(value);
	printf(" %s | baseline %s: ", unit, baseline);
	put_value(base_value);
	printf(" %s | ratio ", unit);
	if (base_value > 0)
		put_value(value / base_value);
	else
		printf("n/a (baseline 0)");
	putchar('\n');
	fflush(stdout);
}

double mibs(size_t bytes, double us)
{
	return (double)bytes / 1048576.0 / (us / 1e6);
}

/* ---- processes ---- */

pid_t spawn_fds(const char *const *argv, int in, int out, int err)
{
	posix_spawn_file_actions_t fa;
	const int fds[3] = { in, out, err };
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			posix_spawn_file_actions_adddup2(&fa, fds[i], i);
		else
			posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
							 i ? O_WRONLY : O_RDONLY, 0);
	}
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		bench_fail("posix_spawn %s: %s", argv[0], strerror(rc));
	return pid;
}

void reap_expect(pid_t pid, int want, const char *what)
{
	int status, got;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bench_fail("waitpid %s (pid %d): %m", what, pid);
	got = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (got != want)
		bench_fail("%s exited with %d%s, expected %d", what, got,
			   WIFSIGNALED(status) ? " (killed by a signal)" : "", want);
}

void run_ok(const char *const *argv)
{
	reap_expect(spawn_fds(argv, -1, -1, -1), 0, argv[0]);
}

long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		bench_fail("open %s: %m", path);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0)
		bench_fail("%s has no VmRSS", path);
	return kb;
}

/* ---- streams ---- */

void *feed_thread(void *arg)
{
	struct feeder *f = arg;
	char *buf = malloc(65536);
	size_t off = 0;

	f->rc = 0;
	if (!buf) {
		f->rc = -ENOMEM;
		return NULL;
	}
	memset(buf, 'x', 65536);
	while (off < f->total) {
		size_t want = f->total - off < 65536 ? f->total - off : 65536;
		ssize_t n = send(f->fd, buf, want, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			f->rc = n < 0 ? -errno : -EPIPE;
			break;
		}
		off += (size_t)n;
	}
	if (shutdown(f->fd, SHUT_WR) < 0 && f->rc == 0)
		f->rc = -errno;
	free(buf);
	return NULL;
}

size_t drain(int fd)
{
	static char buf[1 << 17];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			bench_fail("read: %m");
		got += (size_t)n;
	}
	return got;
}

/* ---- files ---- */

void make_rootfs(const char *dir)
{
	static const char *const applets[] = { "sh", "echo", "sleep", "cat", "true" };
	char path[512];

	snprintf(path, sizeof(path), "%s/bin", dir);
	run_ok((const char *const[]){ "/bin/mkdir", "-p", path, NULL });
	for (const char *const *sub = (const char *const[]){ "proc", "dev", "sys", "tmp", NULL };
	     *sub; sub++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *sub);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			bench_fail("mkdir %s: %m", path);
	}
	snprintf(path, sizeof(path), "%s/bin/busybox", dir);
	run_ok((const char *const[]){ "/bin/cp", "/bin/busybox", path, NULL });
	for (size_t i = 0; i < sizeof(applets) / sizeof(*applets); i++) {
		snprintf(path, sizeof(path), "%s/bin/%s", dir, applets[i]);
		if (symlink("busybox", path) < 0 && errno != EEXIST)
			bench_fail("symlink %s: %m", path);
	}
}

void remove_tree(const char *dir)
{
	run_ok((const char *const[]){ "/bin/rm", "-rf", "--one-file-system", dir, NULL });
}

void remove_tree_quiet(const char *dir)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl("/bin/rm", "rm", "-rf", "--one-file-system", dir, NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* ---- the agent ---- */

double exec_wait_us(struct gcs_bridge *b, const char *const *argv, int out_fd)
{
	struct gcs_proto_process_params pp = { .command_args = argv };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	char what[256];
	uint32_t code;
	double t0;
	int rc;

	while (argv[pp.n_command_args])
		pp.n_command_args++;
	snprintf(what, sizeof(what), "%s%s%s", argv[0], argv[1] ? " " : "", argv[1] ? argv[1] : "");
	if (out_fd >= 0)
		o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, out_fd };
	t0 = now_us();
	if (gcs_process_exec(b, &o, &p, &err) < 0)
		bench_fail("exec %s: %s", what, err.message);
	rc = gcs_process_wait(p, 60000, &code, &err);
	gcs_process_free(p);
	if (rc < 0)
		bench_fail("wait for %s: %s", what, err.message);
	if (code != 0)
		bench_fail("%s exited with %u, expected 0", what, code);
	return now_us() - t0;
}
