/*
 * The agent as a plain host process on hybrid vsock (Unix sockets), driven through libgcs:
 * start-up, memory, one request, exec+wait, stdout, and stream throughput, each against the
 * same work done here without the agent.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the agent process ---- */

static void agent_abort(void *arg)
{
	struct agent *a = arg;

	if (a->pid > 0) {
		kill(a->pid, SIGKILL);
		waitpid(a->pid, NULL, 0);
	}
	if (a->b)
		gcs_bridge_close(a->b);
	if (a->t)
		gcs_transport_free(a->t);
	remove_tree_quiet(a->dir);
}

void agent_start(struct agent *a, const char *agent_path, bool run_root, double *ret_us)
{
	struct gcs_bridge_options o = { .connect_timeout_ms = 10000 };
	struct gcs_error err = { 0 };
	char spec[128], run[128];
	double t0;

	memset(a, 0, sizeof(*a));
	snprintf(a->dir, sizeof(a->dir), "/tmp/lcow-bench-XXXXXX");
	if (!mkdtemp(a->dir))
		bench_fail("mkdtemp: %m");
	bench_defer(agent_abort, a);
	snprintf(spec, sizeof(spec), "unix:%s/hv", a->dir);
	snprintf(run, sizeof(run), "%s/run", a->dir);
	if (gcs_transport_parse(spec, &a->t) < 0)
		bench_fail("transport %s", spec);
	if (gcs_bridge_listen(a->t, &o, &a->b, &err) < 0)
		bench_fail("listen on %s: %s", spec, err.message);
	{
		const char *argv[] = { agent_path,    "--transport", spec, "--reconnect", "0",
				       "--log-level", "error",	     NULL, NULL,	  NULL };
		if (run_root) {
			argv[7] = "--run-root";
			argv[8] = run;
		}
		t0 = now_us();
		a->pid = spawn_fds(argv, -1, -1, -1);
	}
	if (gcs_bridge_connect(a->b, &err) < 0)
		bench_fail("the agent did not negotiate: %s", err.message);
	if (ret_us)
		*ret_us = now_us() - t0;
}

/* Closes the bridge: the agent (--reconnect 0) must then exit 0. */
void agent_stop(struct agent *a)
{
	bench_undefer(a);
	gcs_bridge_close(a->b);
	a->b = NULL;
	reap_expect(a->pid, 0, "the agent, once the bridge closed,");
	a->pid = 0;
	gcs_transport_free(a->t);
	remove_tree(a->dir);
}

/* ---- start-up and memory ---- */

static void bench_spawn(struct bench_run *r)
{
	const char *help[] = { r->agent, "--help", NULL };
	double neg[20], bare[20];
	struct stats s, f;
	struct agent a;

	for (int i = 0; i < 20; i++) {
		double t0;
		agent_start(&a, r->agent, false, &neg[i]);
		agent_stop(&a);
		t0 = now_us();
		reap_expect(spawn_fds(help, -1, -1, -1), 0, "gcs --help");
		bare[i] = now_us() - t0;
	}
	s = summarize(neg, 20);
	f = summarize(bare, 20);
	figure("spawn_to_negotiated_p50", s.p50, "us",
	       "posix_spawn+waitpid of the same binary (gcs --help), p50", f.p50);
	figure("spawn_to_negotiated_mean", s.mean, "us",
	       "posix_spawn+waitpid of the same binary (gcs --help), mean", f.mean);
	r->agent_spawn_p50_us = s.p50;
}

/* RSS of a static busybox cat once it has echoed a byte: a static process at rest. */
static long busybox_rss_kb(void)
{
	const char *argv[] = { "/bin/busybox", "cat", NULL };
	int in[2], out[2];
	long kb;
	char c;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		bench_fail("pipe: %m");
	pid = spawn_fds(argv, in[0], out[1], -1);
	close(in[0]);
	close(out[1]);
	if (write(in[1], "x", 1) != 1 || read(out[0], &c, 1) != 1)
		bench_fail("busybox cat did not echo");
	kb = rss_kb(pid);
	close(in[1]);
	reap_expect(pid, 0, "busybox cat");
	close(out[0]);
	return kb;
}

/* ---- one request ---- */

/* The floor of a request/response: 160 bytes each way between two processes on a socketpair. */
static double socketpair_roundtrip_us(int n)
{
	char buf[160];
	int sv[2];
	double t0, us;
	pid_t pid;

	memset(buf, 'r', sizeof(buf));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		bench_fail("socketpair: %m");
	pid = fork();
	if (pid < 0)
		bench_fail("fork: %m");
	if (pid == 0) {
		char b[160];
		ssize_t k;
		close(sv[0]);
		while ((k = read(sv[1], b, sizeof(b))) > 0)
			if (write(sv[1], b, (size_t)k) != k)
				_exit(1);
		_exit(k == 0 ? 0 : 1);
	}
	close(sv[1]);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		size_t got = 0;
		if (write(sv[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			bench_fail("socketpair write: %m");
		while (got < sizeof(buf)) {
			ssize_t k = read(sv[0], buf + got, sizeof(buf) - got);
			if (k <= 0)
				bench_fail("socketpair echo lost");
			got += (size_t)k;
		}
	}
	us = (now_us() - t0) / n;
	close(sv[0]);
	reap_expect(pid, 0, "the socketpair echo process");
	return us;
}

/* Mean of n StartContainer round trips (a no-op in the agent: it answers at once). */
double bridge_roundtrip_us(struct gcs_bridge *b, int n)
{
	struct gcs_error err = { 0 };
	double t0 = now_us();

	for (int i = 0; i < n; i++)
		if (gcs_start_container(b, "c", &err) < 0)
			bench_fail("StartContainer: %s", err.message);
	return (now_us() - t0) / n;
}

/* ---- exec ---- */

static double bare_spawn_us(const char *const *argv)
{
	double t0 = now_us();

	reap_expect(spawn_fds(argv, -1, -1, -1), 0, argv[0]);
	return now_us() - t0;
}

static void bench_exec(struct bench_run *r, struct agent *a)
{
	static const char *t_argv[] = { "/bin/true", NULL };
	double *lat = calloc((size_t)r->n, sizeof(double));
	double *base = calloc((size_t)r->n, sizeof(double));
	const char *bw = "posix_spawn+waitpid of the same binary (/bin/true)";
	struct stats s, f;

	if (!lat || !base)
		bench_fail("out of memory");
	for (int i = 0; i < 50; i++)
		exec_wait_us(a->b, t_argv, -1);
	/* Interleaved, so that both see the same machine. */
	for (int i = 0; i < r->n; i++) {
		lat[i] = exec_wait_us(a->b, t_argv, -1);
		base[i] = bare_spawn_us(t_argv);
	}
	s = summarize(lat, r->n);
	f = summarize(base, r->n);
	figure("exec_wait_true_p50", s.p50, "us", bw, f.p50);
	figure("exec_wait_true_mean", s.mean, "us", bw, f.mean);
	figure("exec_wait_true_p99", s.p99, "us", bw, f.p99);
	free(lat);
	free(base);
}

/* echo hello with stdout relayed by libgcs into a pipe, against echo spawned onto the pipe. */
static void bench_echo(struct agent *a)
{
	static const char *e_argv[] = { "/bin/echo", "hello", NULL };
	double lat[200], base[200];
	int fds[2];
	char buf[16];

	if (pipe2(fds, O_CLOEXEC) < 0)
		bench_fail("pipe: %m");
	for (int i = 0; i < 200; i++) {
		double t0;
		lat[i] = exec_wait_us(a->b, e_argv, fds[1]);
		if (read(fds[0], buf, sizeof(buf)) != 6 || memcmp(buf, "hello\n", 6))
			bench_fail("echo through the agent: not \"hello\\n\"");
		t0 = now_us();
		reap_expect(spawn_fds(e_argv, -1, fds[1], -1), 0, "/bin/echo");
		if (read(fds[0], buf, sizeof(buf)) != 6 || memcmp(buf, "hello\n", 6))
			bench_fail("echo: not \"hello\\n\"");
		base[i] = now_us() - t0;
	}
	close(fds[0]);
	close(fds[1]);
	figure("exec_wait_echo_stdout_mean", summarize(lat, 200).mean, "us",
	       "posix_spawn of echo onto a pipe + read + waitpid, mean", summarize(base, 200).mean);
}

/* ---- stream throughput ---- */

/* MiB/s of total bytes through cat, its stdin and stdout socketpairs straight to us. */
static double raw_cat_mibs(size_t total)
{
	static const char *argv[] = { "/bin/cat", NULL };
	struct feeder f = { .total = total };
	int in[2], out[2];
	pthread_t th;
	double t0, rate;
	size_t got;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) < 0)
		bench_fail("socketpair: %m");
	pid = spawn_fds(argv, in[1], out[1], -1);
	close(in[1]);
	close(out[1]);
	f.fd = in[0];
	t0 = now_us();
	if (pthread_create(&th, NULL, feed_thread, &f) != 0)
		bench_fail("pthread_create");
	got = drain(out[0]);
	rate = mibs(total, now_us() - t0);
	pthread_join(th, NULL);
	if (f.rc < 0)
		bench_fail("feeding cat: %s", strerror(-f.rc));
	if (got != total)
		bench_fail("cat gave back %zu of %zu bytes", got, total);
	reap_expect(pid, 0, "/bin/cat");
	close(in[0]);
	close(out[0]);
	return rate;
}

/* The same cat run by the agent, its stdin and stdout the agent's stdio streams. */
static double agent_cat_mibs(struct gcs_bridge *b, size_t total)
{
	static const char *argv[] = { "/bin/cat", NULL };
	struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 1 };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct feeder f = { .total = total };
	struct gcs_process *p;
	pthread_t th;
	uint32_t code;
	double t0, rate;
	size_t got;
	int rc;

	o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	if (gcs_process_exec(b, &o, &p, &err) < 0)
		bench_fail("exec cat: %s", err.message);
	f.fd = gcs_process_stdio_fd(p, GCS_STDIN);
	t0 = now_us();
	if (pthread_create(&th, NULL, feed_thread, &f) != 0)
		bench_fail("pthread_create");
	got = drain(gcs_process_stdio_fd(p, GCS_STDOUT));
	rate = mibs(total, now_us() - t0);
	pthread_join(th, NULL);
	rc = gcs_process_wait(p, 60000, &code, &err);
	gcs_process_free(p);
	if (f.rc < 0)
		bench_fail("feeding cat in the agent: %s", strerror(-f.rc));
	if (got != total)
		bench_fail("cat in the agent gave back %zu of %zu bytes", got, total);
	if (rc < 0)
		bench_fail("wait for cat: %s", err.message);
	if (code != 0)
		bench_fail("cat in the agent exited with %u", code);
	return rate;
}

void bench_agent(struct bench_run *r)
{
	const size_t total = 256u << 20;
	double raw[5], rel[5];
	long rss0;
	struct agent a;

	printf("== the agent as a host process (hybrid vsock over Unix sockets, no VM)\n");
	bench_spawn(r);

	agent_start(&a, r->agent, false, NULL);
	rss0 = rss_kb(a.pid);
	figure("agent_rss_after_negotiate", (double)rss0, "kB",
	       "a static busybox cat at rest (VmRSS)", (double)busybox_rss_kb());

	r->agent_roundtrip_us = bridge_roundtrip_us(a.b, r->n);
	figure("bridge_roundtrip_mean", r->agent_roundtrip_us, "us",
	       "160 bytes each way through a socketpair to an echo process",
	       socketpair_roundtrip_us(r->n));

	bench_exec(r, &a);
	figure("agent_rss_after_execs", (double)rss_kb(a.pid), "kB",
	       "the same agent after negotiating", (double)rss0);
	bench_echo(&a);

	/*
	 * Without a console the agent makes the connected stream cat's fd (no copy in the agent),
	 * so this measures the hybrid-vsock streams libgcs sets up. Interleaved runs, medians
	 * (single runs vary by +-30 % here).
	 */
	for (int i = 0; i < 5; i++) {
		raw[i] = raw_cat_mibs(total);
		rel[i] = agent_cat_mibs(a.b, total);
	}
	figure("stdio_cat_throughput", median(rel, 5), "MiB/s",
	       "cat on socketpairs from here, 256 MiB, median of 5", median(raw, 5));
	figure("agent_rss_at_end", (double)rss_kb(a.pid), "kB", "the same agent after negotiating",
	       (double)rss0);
	agent_stop(&a);
}
