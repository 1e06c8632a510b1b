/*
 * Bridge benchmarks: the agent as a plain process on hybrid vsock, driven through libgcs, with
 * each figure beside a baseline measured in the same run. Prints "name: value unit" lines.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lcow/gcs.h>
#include <lcow/uvm.h>

extern char **environ;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what, const struct gcs_error *err)
{
	fprintf(stderr, "bench: %s: %s\n", what, err ? err->message : strerror(errno));
	exit(1);
}

struct agent {
	char dir[64];
	struct gcs_transport *t;
	struct gcs_bridge *b;
	pid_t pid;
};

/* Starts the agent (with a run root of <dir>/run when run_root) and negotiates. */
static void agent_start(struct agent *a, const char *agent_path, bool run_root, double *ret_us)
{
	struct gcs_bridge_options o = { .connect_timeout_ms = 10000 };
	struct gcs_error err = { 0 };
	char spec[128], run[128];
	double t0;

	snprintf(a->dir, sizeof(a->dir), "/tmp/lcow-bench-XXXXXX");
	if (!mkdtemp(a->dir))
		die("mkdtemp", NULL);
	snprintf(spec, sizeof(spec), "unix:%s/hv", a->dir);
	snprintf(run, sizeof(run), "%s/run", a->dir);
	if (gcs_transport_parse(spec, &a->t) < 0 || gcs_bridge_listen(a->t, &o, &a->b, &err) < 0)
		die("listen", &err);
	t0 = now_us();
	a->pid = fork();
	if (a->pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (run_root)
			execl(agent_path, "gcs", "--transport", spec, "--reconnect", "0",
			      "--run-root", run, "--log-level", "error", NULL);
		else
			execl(agent_path, "gcs", "--transport", spec, "--reconnect", "0",
			      "--log-level", "error", NULL);
		_exit(127);
	}
	if (gcs_bridge_connect(a->b, &err) < 0)
		die("connect", &err);
	if (ret_us)
		*ret_us = now_us() - t0;
}

static void agent_stop(struct agent *a)
{
	char cmd[128];

	gcs_bridge_close(a->b);
	waitpid(a->pid, NULL, 0);
	gcs_transport_free(a->t);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", a->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", a->dir);
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	double mean, p50, p99;
};

static struct stats summarize(double *v, int n)
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

static void exec_wait(struct gcs_bridge *b, const char *const *argv, size_t argc, int out_fd)
{
	struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = argc };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	uint32_t code;

	if (out_fd >= 0)
		o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, out_fd };
	if (gcs_process_exec(b, &o, &p, &err) < 0)
		die("exec", &err);
	if (gcs_process_wait(p, -1, &code, &err) < 0)
		die("wait", &err);
	gcs_process_free(p);
}

/* The floor: posix_spawn + waitpid of /bin/true from this process. */
static double bare_spawn_us(void)
{
	char *argv[] = { "/bin/true", NULL };
	double t0 = now_us();
	pid_t pid;

	if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
		die("posix_spawn", NULL);
	waitpid(pid, NULL, 0);
	return now_us() - t0;
}

struct copy {
	int fd;
	size_t total;
};

static void *feed(void *arg)
{
	struct copy *c = arg;
	static char buf[65536];
	size_t off = 0;

	memset(buf, 'x', sizeof(buf));
	while (off < c->total) {
		ssize_t n = send(c->fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	return NULL;
}

static size_t drain(int fd)
{
	static char buf[65536];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	return got;
}

/* MiB/s of `total` bytes pushed through cat with its stdin/stdout sockets straight to us. */
static double raw_cat_mibs(size_t total)
{
	int in[2], out[2];
	struct copy c = { .total = total };
	pthread_t th;
	double t0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) < 0)
		die("socketpair", NULL);
	pid = fork();
	if (pid == 0) {
		dup2(in[1], 0);
		dup2(out[1], 1);
		execl("/bin/cat", "cat", NULL);
		_exit(127);
	}
	close(in[1]);
	close(out[1]);
	c.fd = in[0];
	t0 = now_us();
	pthread_create(&th, NULL, feed, &c);
	if (drain(out[0]) != total)
		die("raw copy lost bytes", NULL);
	pthread_join(th, NULL);
	waitpid(pid, NULL, 0);
	close(in[0]);
	close(out[0]);
	return total / 1048576.0 / ((now_us() - t0) / 1e6);
}

static double relay_cat_mibs(struct gcs_bridge *b, size_t total)
{
	static const char *argv[] = { "/bin/cat", NULL };
	struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 1 };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct copy c = { .total = total };
	struct gcs_process *p;
	pthread_t th;
	uint32_t code;
	double t0, mibs;

	o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	if (gcs_process_exec(b, &o, &p, &err) < 0)
		die("exec cat", &err);
	c.fd = gcs_process_stdio_fd(p, GCS_STDIN);
	t0 = now_us();
	pthread_create(&th, NULL, feed, &c);
	if (drain(gcs_process_stdio_fd(p, GCS_STDOUT)) != total)
		die("relay lost bytes", NULL);
	mibs = total / 1048576.0 / ((now_us() - t0) / 1e6);
	pthread_join(th, NULL);
	if (gcs_process_wait(p, -1, &code, &err) < 0)
		die("wait cat", &err);
	gcs_process_free(p);
	return mibs;
}

/* ---- containers ---- */

static void make_rootfs(const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/bin %s/proc %s/dev %s/sys %s/tmp && cp /bin/busybox %s/bin/ && "
		 "for x in sh echo sleep cat; do ln -sf busybox %s/bin/$x; done",
		 dir, dir, dir, dir, dir, dir, dir);
	if (system(cmd) != 0)
		die("cannot build a busybox rootfs (is busybox-static installed?)", NULL);
}

static json_t *bench_spec(const char *rootfs)
{
	return json_pack("{s:s, s:{s:[sss], s:[s], s:s, s:{s:i, s:i}}, s:{s:s}, s:s, "
			 "s:[{s:s, s:s, s:s}], s:{s:[{s:s}, {s:s}, {s:s}, {s:s}]}}",
			 "ociVersion", "1.0.2", "process", "args", "/bin/sh", "-c",
			 "echo ready; exec sleep 60", "env", "PATH=/bin", "cwd", "/", "user", "uid",
			 0, "gid", 0, "root", "path", rootfs, "hostname", "bench", "mounts",
			 "destination", "/proc", "type", "proc", "source", "proc", "linux",
			 "namespaces", "type", "pid", "type", "ipc", "type", "uts", "type",
			 "mount");
}

/* Create answered, and create+start+first stdout byte, through the agent. */
static void bench_container(struct agent *a, int n, double *ret_create, double *ret_first)
{
	char bundle[128], rootfs[160], id[32];
	double create = 0, first = 0;

	snprintf(bundle, sizeof(bundle), "%s/run/gcs/c/bench", a->dir);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	make_rootfs(rootfs);
	for (int i = 0; i < n; i++) {
		struct gcs_proto_container_config cfg = {
			{ 2, 1 }, bundle, bench_spec(rootfs), ""
		};
		struct gcs_proto_process_params pp = { 0 };
		struct gcs_exec_options o = { .params = &pp };
		struct gcs_error err = { 0 };
		struct gcs_process *p;
		uint32_t code;
		char c;
		double t0, t1;

		snprintf(id, sizeof(id), "bench%d", i);
		o.container_id = id;
		o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
		t0 = now_us();
		if (gcs_create_container(a->b, id, &cfg, &err) < 0)
			die("create", &err);
		t1 = now_us();
		if (gcs_start_container(a->b, id, &err) < 0 ||
		    gcs_process_exec(a->b, &o, &p, &err) < 0)
			die("start", &err);
		if (read(gcs_process_stdio_fd(p, GCS_STDOUT), &c, 1) != 1)
			die("first byte", NULL);
		create += t1 - t0;
		first += now_us() - t0;
		if (gcs_process_signal(p, SIGKILL, &err) < 0 ||
		    gcs_process_wait(p, -1, &code, &err) < 0)
			die("kill", &err);
		gcs_process_free(p);
		if (gcs_delete_container_state(a->b, id, &err) < 0)
			die("delete", &err);
		json_decref((json_t *)cfg.oci_specification);
		/* DeleteContainerState removed the bundle: build it again. */
		make_rootfs(rootfs);
	}
	*ret_create = create / n;
	*ret_first = first / n;
}

/* The floor: `runc run` of the same kind of bundle, straight from here, to its first byte. */
static double bench_runc_run(const char *dir, int n)
{
	char bundle[128], rootfs[160], root[160], cfg[200];
	double total = 0;

	snprintf(bundle, sizeof(bundle), "%s/floor", dir);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	snprintf(root, sizeof(root), "%s/runc-floor", dir);
	snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
	make_rootfs(rootfs);
	{
		json_t *spec = bench_spec(rootfs);
		if (json_dump_file(spec, cfg, 0) < 0)
			die("write config.json", NULL);
		json_decref(spec);
	}
	for (int i = 0; i < n; i++) {
		int out[2];
		char c, id[32];
		double t0;
		pid_t pid;

		snprintf(id, sizeof(id), "floor%d", i);
		if (pipe2(out, O_CLOEXEC) < 0)
			die("pipe", NULL);
		t0 = now_us();
		pid = fork();
		if (pid == 0) {
			dup2(out[1], 1);
			execlp("runc", "runc", "--root", root, "run", "--bundle", bundle, id, NULL);
			_exit(127);
		}
		close(out[1]);
		if (read(out[0], &c, 1) != 1)
			die("runc run produced nothing", NULL);
		total += now_us() - t0;
		close(out[0]);
		{
			char cmd[300];
			snprintf(cmd, sizeof(cmd), "runc --root %s kill %s KILL", root, id);
			if (system(cmd) != 0)
				fprintf(stderr, "bench: runc kill failed\n");
		}
		waitpid(pid, NULL, 0);
	}
	return total / n;
}

/* ---- the same through a QEMU utility VM (TCG) ---- */

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void bench_vm(int n)
{
	static const char *argv[] = { "/bin/gcs", "--help", NULL };
	char dir[64];
	int boots[5];
	struct lcow_uvm *u = NULL;

	if (access(LCOW_KERNEL, R_OK) < 0 || access(LCOW_INITRD, R_OK) < 0) {
		printf("vm: skipped: %s is missing (make initrd)\n", LCOW_INITRD);
		return;
	}
	snprintf(dir, sizeof(dir), "/tmp/lcow-bench-vm-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	for (int i = 0; i < 5; i++) {
		struct lcow_uvm_options o = { .state_dir = dir,
					      .kernel = LCOW_KERNEL,
					      .initrd = LCOW_INITRD,
					      .vsock_device = LCOW_VSOCK,
					      .agent_cmdline =
						      "-e 1 /bin/vsockexec -e 109 /bin/gcs -v4 "
						      "-log-format json -loglevel info" };
		struct gcs_error err = { 0 };
		if (lcow_uvm_start(&o, &u, &err) < 0)
			die("boot", &err);
		boots[i] = lcow_uvm_boot_ms(u);
		if (i < 4)
			lcow_uvm_stop(u);
	}
	qsort(boots, 5, sizeof(int), cmp_int);
	printf("vm_boot_to_negotiated_median: %d ms (of 5: %d..%d)\n", boots[2], boots[0],
	       boots[4]);
	{
		struct gcs_error err = { 0 };
		double t0 = now_us(), *lat = calloc((size_t)n, sizeof(double));
		struct stats s;
		for (int i = 0; i < n; i++)
			if (gcs_start_container(lcow_uvm_bridge(u), "c", &err) < 0)
				die("start", &err);
		printf("vm_bridge_roundtrip_mean: %.1f us\n", (now_us() - t0) / n);
		for (int i = 0; i < n; i++) {
			double t1 = now_us();
			exec_wait(lcow_uvm_bridge(u), argv, 2, -1);
			lat[i] = now_us() - t1;
		}
		s = summarize(lat, n);
		printf("vm_exec_wait_static_binary_p50: %.0f us (mean %.0f, p99 %.0f)\n", s.p50,
		       s.mean, s.p99);
		free(lat);
	}
	lcow_uvm_stop(u);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n", dir);
	}
}

int main(int argc, char **argv)
{
	const char *agent_path = argc > 1 ? argv[1] : "build/default/gcs";
	int n = argc > 2 ? atoi(argv[2]) : 1000;
	static const char *t_argv[] = { "/bin/true", NULL };
	static const char *e_argv[] = { "/bin/echo", "hello", NULL };
	double *lat = calloc((size_t)n, sizeof(double)), *floor = calloc((size_t)n, sizeof(double));
	double spawn_us[20], sum = 0;
	struct stats s, f;
	struct agent a;
	size_t total = 256u << 20;
	double raw, relay;

	signal(SIGPIPE, SIG_IGN);
	/* spawn -> negotiated */
	for (int i = 0; i < 20; i++) {
		agent_start(&a, agent_path, false, &spawn_us[i]);
		agent_stop(&a);
	}
	for (int i = 0; i < 20; i++)
		sum += spawn_us[i];
	qsort(spawn_us, 20, sizeof(double), cmp_double);
	printf("spawn_to_negotiated_mean: %.0f us\n", sum / 20);
	printf("spawn_to_negotiated_p50: %.0f us\n", spawn_us[10]);

	agent_start(&a, agent_path, false, NULL);
	printf("agent_rss_after_negotiate: %ld kB\n", rss_kb(a.pid));

	/* one request/response round trip (Start is a no-op in the agent) */
	{
		struct gcs_error err = { 0 };
		double t0 = now_us();
		for (int i = 0; i < n; i++)
			if (gcs_start_container(a.b, "c", &err) < 0)
				die("start", &err);
		printf("bridge_roundtrip_mean: %.1f us\n", (now_us() - t0) / n);
	}

	/* exec + wait of /bin/true, interleaved with the bare-spawn floor */
	for (int i = 0; i < 50; i++)
		exec_wait(a.b, t_argv, 1, -1);
	for (int i = 0; i < n; i++) {
		double t0 = now_us();
		exec_wait(a.b, t_argv, 1, -1);
		lat[i] = now_us() - t0;
		floor[i] = bare_spawn_us();
	}
	s = summarize(lat, n);
	f = summarize(floor, n);
	printf("exec_wait_true_mean: %.1f us\n", s.mean);
	printf("exec_wait_true_p50: %.1f us\n", s.p50);
	printf("exec_wait_true_p99: %.1f us\n", s.p99);
	printf("bare_spawn_true_mean: %.1f us (floor)\n", f.mean);
	printf("bare_spawn_true_p50: %.1f us (floor)\n", f.p50);
	printf("exec_wait_over_floor_p50: %.1f us (ratio %.2f)\n", s.p50 - f.p50, s.p50 / f.p50);
	printf("agent_rss_after_%d_execs: %ld kB\n", n + 50, rss_kb(a.pid));

	/* echo through a stdout relay */
	{
		int fds[2];
		double t0;
		if (pipe2(fds, O_CLOEXEC) < 0)
			die("pipe", NULL);
		t0 = now_us();
		for (int i = 0; i < 200; i++) {
			char buf[16];
			exec_wait(a.b, e_argv, 2, fds[1]);
			if (read(fds[0], buf, sizeof(buf)) != 6)
				die("echo output", NULL);
		}
		printf("exec_wait_echo_stdout_mean: %.1f us\n", (now_us() - t0) / 200);
		close(fds[0]);
		close(fds[1]);
	}

	/*
	 * Stream throughput: cat run by the agent with its stdio streams against cat on raw
	 * socketpairs from here; interleaved runs, medians (single runs vary by +-30 % here).
	 */
	{
		double r[7], q[7];
		for (int i = 0; i < 7; i++) {
			r[i] = raw_cat_mibs(total);
			q[i] = relay_cat_mibs(a.b, total);
		}
		qsort(r, 7, sizeof(double), cmp_double);
		qsort(q, 7, sizeof(double), cmp_double);
		raw = r[3];
		relay = q[3];
	}
	printf("raw_unix_cat_throughput: %.0f MiB/s (baseline, median of 7)\n", raw);
	printf("stdio_cat_throughput: %.0f MiB/s (median of 7, ratio %.2f vs raw)\n", relay,
	       relay / raw);
	printf("agent_rss_at_end: %ld kB\n", rss_kb(a.pid));
	agent_stop(&a);

	/* containers: the agent gets a run root of its own */
	{
		double create, first, floor_us;
		char run[160];

		agent_start(&a, agent_path, true, NULL);
		snprintf(run, sizeof(run), "%s/run", a.dir);
		bench_container(&a, 10, &create, &first);
		floor_us = bench_runc_run(a.dir, 10);
		printf("container_create_answered_mean: %.0f us\n", create);
		printf("container_create_start_first_byte_mean: %.0f us\n", first);
		printf("runc_run_first_byte_mean: %.0f us (floor)\n", floor_us);
		printf("container_first_byte_over_floor: %.0f us (ratio %.2f)\n", first - floor_us,
		       first / floor_us);
		printf("agent_rss_after_containers: %ld kB\n", rss_kb(a.pid));
		agent_stop(&a);
	}
	bench_vm(100);
	free(lat);
	free(floor);
	return 0;
}
