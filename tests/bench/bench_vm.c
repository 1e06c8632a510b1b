/*
 * The same agent in lcow's utility VM: QEMU (TCG) with lcow's kernel and initrd and the
 * lcow-vsock device, driven through the launcher and libgcs. A busybox layer disk (the VM suite's
 * fixture) gives the guest programs to run. Baselines: the agent as a host process (measured
 * earlier in this run) and the same busybox binary run here.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lcow/uvm.h>

#include "layers.h"

#define BOOTS 5
#define BB "/run/mounts/scsi/m0/bin/busybox"
/* Bytes per throughput run: 4096 blocks of 64 KiB, 256 MiB (dd's count= below). */
#define DD_BYTES ((size_t)4096 * 65536)
#define DD_RUNS 5
#define EXECS 200

static struct layer_set layers;
static struct lcow_uvm *uvm;

void bench_layers_abort(void *arg)
{
	char report[512] = "";

	layers_destroy(arg, report, sizeof(report));
}

static void uvm_abort(void *arg)
{
	(void)arg;
	lcow_uvm_stop(uvm);
	uvm = NULL;
}

const char *bench_qemu(void)
{
	const char *env = getenv("LCOW_QEMU");

	return env && *env ? env : "qemu-system-x86_64";
}

bool bench_vm_possible(const char *qemu, char *why, size_t len)
{
	char path[4096];
	const char *env = getenv("PATH");
	bool found = strchr(qemu, '/') && access(qemu, X_OK) == 0;

	for (const char *p = env; !found && p && *p;) {
		const char *end = strchrnul(p, ':');
		snprintf(path, sizeof(path), "%.*s/%s", (int)(end - p), p, qemu);
		found = access(path, X_OK) == 0;
		p = *end ? end + 1 : end;
	}
	if (!found)
		snprintf(why, len, "%s is not installed", qemu);
	else if (access(LCOW_KERNEL, R_OK) < 0 || access(LCOW_INITRD, R_OK) < 0)
		snprintf(why, len, "%s or %s is missing (make initrd WITH_RUNC=1)", LCOW_KERNEL,
			 LCOW_INITRD);
	else if (access(LCOW_VSOCK, X_OK) < 0)
		snprintf(why, len, "%s is missing (make)", LCOW_VSOCK);
	else if (access("/bin/busybox", X_OK) < 0)
		snprintf(why, len, "/bin/busybox is missing (apt-get install busybox-static)");
	else
		return true;
	return false;
}

struct lcow_uvm *bench_uvm_start(const char *qemu, const char *state_dir,
				 const struct lcow_uvm_disk *disks, size_t n_disks,
				 const struct lcow_uvm_nic *nics, size_t n_nics, const char *what)
{
	struct gcs_error err = { 0 };
	struct lcow_uvm_options o = {
		.state_dir = state_dir,
		.kernel = LCOW_KERNEL,
		.initrd = LCOW_INITRD,
		.qemu = qemu,
		.vsock_device = LCOW_VSOCK,
		.agent_cmdline = "-e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json "
				 "-loglevel info",
		.disks = disks,
		.n_disks = n_disks,
		.nics = nics,
		.n_nics = n_nics,
		.boot_timeout_ms = 90000,
	};
	struct lcow_uvm *u;

	if (lcow_uvm_start(&o, &u, &err) < 0)
		bench_fail("boot %s: %s", what, err.message);
	return u;
}

static struct lcow_uvm *boot(const char *qemu, int i)
{
	const struct lcow_uvm_disk base = { layers.base, true, 0, 1 };
	char dir[128], what[64];

	snprintf(dir, sizeof(dir), "%s/vm%d", layers.dir, i);
	snprintf(what, sizeof(what), "%d of the utility VM", i + 1);
	return bench_uvm_start(qemu, dir, &base, 1, NULL, 0, what);
}

/* busybox dd of DD_BYTES zeros to stdout, run in the VM: the stream comes through lcow-vsock. */
static double vm_dd_mibs(struct gcs_bridge *b)
{
	static const char *argv[] = { BB, "dd", "if=/dev/zero", "bs=65536", "count=4096", NULL };
	struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 5 };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	uint32_t code;
	double t0, rate;
	size_t got;
	int rc;

	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	t0 = now_us();
	if (gcs_process_exec(b, &o, &p, &err) < 0)
		bench_fail("exec dd in the VM: %s", err.message);
	got = drain(gcs_process_stdio_fd(p, GCS_STDOUT));
	rate = mibs(DD_BYTES, now_us() - t0);
	rc = gcs_process_wait(p, 60000, &code, &err);
	gcs_process_free(p);
	if (rc < 0)
		bench_fail("wait for dd in the VM: %s", err.message);
	if (code != 0)
		bench_fail("dd in the VM exited with %u", code);
	if (got != DD_BYTES)
		bench_fail("dd in the VM: %zu of %zu bytes arrived", got, DD_BYTES);
	return rate;
}

/* The same busybox dd here, its stdout a Unix socketpair to us. */
static double host_dd_mibs(void)
{
	static const char *argv[] = { "/bin/busybox", "dd",	    "if=/dev/zero",
				      "bs=65536",     "count=4096", NULL };
	int sv[2];
	double t0, rate;
	size_t got;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		bench_fail("socketpair: %m");
	t0 = now_us();
	pid = spawn_fds(argv, -1, sv[1], -1);
	close(sv[1]);
	got = drain(sv[0]);
	rate = mibs(DD_BYTES, now_us() - t0);
	close(sv[0]);
	reap_expect(pid, 0, "busybox dd");
	if (got != DD_BYTES)
		bench_fail("busybox dd here: %zu of %zu bytes", got, DD_BYTES);
	return rate;
}

/* The guest's own floor: dd of the same zeros to /dev/null in the VM, exec to exit. */
static void bench_dd(struct gcs_bridge *b)
{
	static const char *null_argv[] = {
		BB, "dd", "if=/dev/zero", "of=/dev/null", "bs=65536", "count=4096", NULL
	};
	static const char *host_null[] = {
		"/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=65536", "count=4096", NULL
	};
	double vm[DD_RUNS], host[DD_RUNS], vm_null[DD_RUNS], host_nul[DD_RUNS];

	for (int i = 0; i < DD_RUNS; i++) {
		double t0;
		vm[i] = vm_dd_mibs(b);
		host[i] = host_dd_mibs();
		vm_null[i] = mibs(DD_BYTES, exec_wait_us(b, null_argv, -1));
		t0 = now_us();
		reap_expect(spawn_fds(host_null, -1, -1, -1), 0, "busybox dd of=/dev/null");
		host_nul[i] = mibs(DD_BYTES, now_us() - t0);
	}
	figure("vm_stdio_throughput", median(vm, DD_RUNS), "MiB/s",
	       "the same busybox dd here into a Unix socketpair, 256 MiB, median of 5",
	       median(host, DD_RUNS));
	figure("vm_dd_to_devnull_throughput", median(vm_null, DD_RUNS), "MiB/s",
	       "the same dd here to /dev/null, median of 5", median(host_nul, DD_RUNS));
}

void bench_vm(struct bench_run *r)
{
	static const char *t_vm[] = { BB, "true", NULL };
	static const char *t_host[] = { "/bin/busybox", "true", NULL };
	const char *qemu = bench_qemu();
	const char *bw = "posix_spawn+waitpid of the same busybox here";
	const int n = EXECS;
	struct gcs_error err = { 0 };
	double boots[BOOTS], lat[EXECS], base[EXECS];
	char why[512], report[512] = "";
	struct gcs_bridge *b;
	struct stats s, f;

	printf("== the agent in a QEMU utility VM (TCG, lcow-vsock)\n");
	fflush(stdout);
	if (!bench_vm_possible(qemu, why, sizeof(why))) {
		bench_not_run(r, "vm", why);
		return;
	}
	if (layers_build(&layers, &err) < 0)
		bench_fail("busybox layer: %s", err.message);
	bench_defer(bench_layers_abort, &layers);
	for (int i = 0; i < BOOTS; i++) {
		uvm = boot(qemu, i);
		boots[i] = lcow_uvm_boot_ms(uvm);
		if (i < BOOTS - 1) {
			lcow_uvm_stop(uvm);
			uvm = NULL;
		}
	}
	bench_defer(uvm_abort, &uvm);
	figure("vm_boot_to_negotiated_median", median(boots, BOOTS), "ms",
	       "the same agent as a host process, spawn to negotiated, p50",
	       r->agent_spawn_p50_us / 1000);
	b = lcow_uvm_bridge(uvm);
	figure("vm_bridge_roundtrip_mean", bridge_roundtrip_us(b, n), "us",
	       "the same request to the agent as a host process", r->agent_roundtrip_us);

	if (gcs_add_scsi_layer(b, 0, 1, "/run/mounts/scsi/m0", true, &err) < 0)
		bench_fail("mount the busybox layer in the VM: %s", err.message);
	for (int i = 0; i < 10; i++)
		exec_wait_us(b, t_vm, -1);
	for (int i = 0; i < n; i++) {
		double t0;
		lat[i] = exec_wait_us(b, t_vm, -1);
		t0 = now_us();
		reap_expect(spawn_fds(t_host, -1, -1, -1), 0, "busybox true");
		base[i] = now_us() - t0;
	}
	s = summarize(lat, n);
	f = summarize(base, n);
	figure("vm_exec_wait_busybox_true_p50", s.p50, "us", bw, f.p50);
	figure("vm_exec_wait_busybox_true_mean", s.mean, "us", bw, f.mean);
	figure("vm_exec_wait_busybox_true_p99", s.p99, "us", bw, f.p99);

	bench_dd(b);

	if (gcs_remove_scsi_disk(b, 0, 1, "/run/mounts/scsi/m0", &err) < 0)
		bench_fail("unmount the busybox layer in the VM: %s", err.message);
	bench_undefer(&uvm);
	lcow_uvm_stop(uvm);
	uvm = NULL;
	bench_undefer(&layers);
	if (layers_destroy(&layers, report, sizeof(report)) > 0)
		bench_fail("left behind by the VM part: %s", report);
}
