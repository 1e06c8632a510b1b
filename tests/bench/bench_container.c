/*
 * Containers through the agent (a host process with a run root of its own, runc underneath)
 * against runc driven straight from here with the same bundle.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 10

/* The container of a round: deleted with runc if the run fails while it exists. */
struct live {
	char runc_root[160];
	char id[32];
};

static void live_abort(void *arg)
{
	struct live *l = arg;
	pid_t pid;

	if (!l->id[0])
		return;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execlp("runc", "runc", "--root", l->runc_root, "delete", "--force", l->id, NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static json_t *bench_spec(const char *rootfs)
{
	json_t *spec = json_pack("{s:s, s:{s:[sss], s:[s], s:s, s:{s:i, s:i}}, s:{s:s}, s:s, "
				 "s:[{s:s, s:s, s:s}], s:{s:[{s:s}, {s:s}, {s:s}, {s:s}]}}",
				 "ociVersion", "1.0.2", "process", "args", "/bin/sh", "-c",
				 "echo ready; exec sleep 60", "env", "PATH=/bin", "cwd", "/",
				 "user", "uid", 0, "gid", 0, "root", "path", rootfs, "hostname",
				 "bench", "mounts", "destination", "/proc", "type", "proc",
				 "source", "proc", "linux", "namespaces", "type", "pid", "type",
				 "ipc", "type", "uts", "type", "mount");

	if (!spec)
		bench_fail("json_pack of the spec");
	return spec;
}

/* Create answered, and create+start+first stdout byte, through the agent: mean microseconds. */
static void agent_containers(struct agent *a, struct live *l, double *ret_create, double *ret_first)
{
	char bundle[128], rootfs[160];
	double create = 0, first = 0;

	snprintf(bundle, sizeof(bundle), "%s/run/gcs/c/bench", a->dir);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	snprintf(l->runc_root, sizeof(l->runc_root), "%s/run/gcs/runc", a->dir);
	for (int i = 0; i < ROUNDS; i++) {
		struct gcs_proto_container_config cfg = { { 2, 1 }, bundle, NULL, "" };
		struct gcs_proto_process_params pp = { 0 };
		struct gcs_exec_options o = { .params = &pp };
		struct gcs_error err = { 0 };
		struct gcs_process *p;
		uint32_t code;
		double t0, t1;
		int rc;
		char c;

		/* DeleteContainerState removes the bundle: it is built again for each round. */
		make_rootfs(rootfs);
		cfg.oci_specification = bench_spec(rootfs);
		snprintf(l->id, sizeof(l->id), "bench%d", i);
		o.container_id = l->id;
		o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
		t0 = now_us();
		if (gcs_create_container(a->b, l->id, &cfg, &err) < 0)
			bench_fail("create %s: %s", l->id, err.message);
		t1 = now_us();
		if (gcs_start_container(a->b, l->id, &err) < 0 ||
		    gcs_process_exec(a->b, &o, &p, &err) < 0)
			bench_fail("start %s: %s", l->id, err.message);
		if (read(gcs_process_stdio_fd(p, GCS_STDOUT), &c, 1) != 1 || c != 'r')
			bench_fail("%s: no \"ready\" on stdout", l->id);
		create += t1 - t0;
		first += now_us() - t0;
		if (gcs_process_signal(p, SIGKILL, &err) < 0)
			bench_fail("kill %s: %s", l->id, err.message);
		rc = gcs_process_wait(p, 60000, &code, &err);
		gcs_process_free(p);
		if (rc < 0)
			bench_fail("wait for %s: %s", l->id, err.message);
		if (code != 128 + SIGKILL)
			bench_fail("%s exited with %u after SIGKILL, expected %d", l->id, code,
				   128 + SIGKILL);
		if (gcs_delete_container_state(a->b, l->id, &err) < 0)
			bench_fail("delete %s: %s", l->id, err.message);
		l->id[0] = '\0';
		json_decref((json_t *)cfg.oci_specification);
	}
	*ret_create = create / ROUNDS;
	*ret_first = first / ROUNDS;
}

/*
 * The floors: `runc create` of the same kind of bundle, straight from here, until it returns;
 * and `runc run` to its first stdout byte.
 */
static void runc_floors(const char *dir, struct live *l, double *ret_create, double *ret_first)
{
	char bundle[128], rootfs[160], cfg[200];
	double create = 0, first = 0;
	json_t *spec;

	snprintf(bundle, sizeof(bundle), "%s/floor", dir);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	snprintf(l->runc_root, sizeof(l->runc_root), "%s/runc-floor", dir);
	snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
	make_rootfs(rootfs);
	spec = bench_spec(rootfs);
	if (json_dump_file(spec, cfg, 0) < 0)
		bench_fail("write %s", cfg);
	json_decref(spec);
	for (int i = 0; i < ROUNDS; i++) {
		const char *create_argv[] = { "runc",	  "--root", l->runc_root, "create",
					      "--bundle", bundle,   l->id,	  NULL };
		const char *delete_argv[] = { "runc",	 "--root", l->runc_root, "delete",
					      "--force", l->id,	   NULL };
		double t0;

		snprintf(l->id, sizeof(l->id), "floor-create%d", i);
		t0 = now_us();
		reap_expect(spawn_fds(create_argv, -1, -1, -1), 0, "runc create");
		create += now_us() - t0;
		reap_expect(spawn_fds(delete_argv, -1, -1, -1), 0, "runc delete --force");
		l->id[0] = '\0';
	}
	for (int i = 0; i < ROUNDS; i++) {
		const char *run_argv[] = { "runc",     "--root", l->runc_root, "run",
					   "--bundle", bundle,	 l->id,	       NULL };
		const char *kill_argv[] = { "runc", "--root", l->runc_root, "kill",
					    l->id,  "KILL",   NULL };
		int out[2];
		double t0;
		pid_t pid;
		char c;

		snprintf(l->id, sizeof(l->id), "floor-run%d", i);
		if (pipe2(out, O_CLOEXEC) < 0)
			bench_fail("pipe: %m");
		t0 = now_us();
		pid = spawn_fds(run_argv, -1, out[1], -1);
		close(out[1]);
		if (read(out[0], &c, 1) != 1 || c != 'r')
			bench_fail("runc run: no \"ready\" on stdout");
		first += now_us() - t0;
		close(out[0]);
		reap_expect(spawn_fds(kill_argv, -1, -1, -1), 0, "runc kill");
		/* runc run exits with its container's status: 128+9 after SIGKILL. */
		reap_expect(pid, 128 + SIGKILL, "runc run, after runc kill KILL,");
		l->id[0] = '\0';
	}
	*ret_create = create / ROUNDS;
	*ret_first = first / ROUNDS;
}

void bench_containers(struct bench_run *r)
{
	double create, first, floor_create, floor_first;
	struct live l = { 0 };
	struct agent a;
	long rss0;

	printf("== containers: the agent (a host process with --run-root) and runc\n");
	if (geteuid() != 0) {
		bench_not_run(r, "containers", "needs root (runc, namespaces)");
		return;
	}
	if (access("/bin/busybox", X_OK) < 0) {
		bench_not_run(r, "containers",
			      "/bin/busybox is missing (apt-get install busybox-static)");
		return;
	}
	agent_start(&a, r->agent, true, NULL);
	bench_defer(live_abort, &l);
	rss0 = rss_kb(a.pid);
	agent_containers(&a, &l, &create, &first);
	runc_floors(a.dir, &l, &floor_create, &floor_first);
	bench_undefer(&l);
	figure("container_create_answered_mean", create, "us",
	       "runc create of the same bundle from here, mean", floor_create);
	figure("container_create_start_first_byte_mean", first, "us",
	       "runc run of the same bundle from here to its first byte, mean", floor_first);
	figure("agent_rss_after_containers", (double)rss_kb(a.pid), "kB",
	       "the same agent after negotiating", (double)rss0);
	agent_stop(&a);
}
