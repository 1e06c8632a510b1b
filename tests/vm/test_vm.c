/*
 * The VM suite: lcow's kernel and initrd under QEMU (TCG) with lcow's vhost-user vsock device,
 * driven through the launcher and libgcs: boot, negotiate, the boot-time ports, processes in the
 * utility VM, and a container on hot-added busybox layer disks with a blank scratch disk.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <lcow/uvm.h>

#include "layers.h"

static struct layer_set layers;

struct events {
	pthread_mutex_t lock;
	unsigned json_lines; /* agent log lines that parse as logrus JSON */
	char first_json[512];
	unsigned notifications;
	char last_type[32];
	char last_id[80];
};

static struct events ev = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_log(void *user, const char *line)
{
	json_t *o = json_loads(line, 0, NULL);

	(void)user;
	if (o && json_object_get(o, "time") && json_object_get(o, "level") &&
	    json_object_get(o, "msg")) {
		pthread_mutex_lock(&ev.lock);
		if (!ev.json_lines++)
			snprintf(ev.first_json, sizeof(ev.first_json), "%s", line);
		pthread_mutex_unlock(&ev.lock);
	}
	json_decref(o);
	if (getenv("LCOW_VM_VERBOSE"))
		fprintf(stderr, "%s\n", line);
}

static void on_notification(void *user, const struct gcs_proto_notification *n)
{
	(void)user;
	pthread_mutex_lock(&ev.lock);
	ev.notifications++;
	snprintf(ev.last_type, sizeof(ev.last_type), "%s", n->type);
	snprintf(ev.last_id, sizeof(ev.last_id), "%s", n->base.container_id);
	pthread_mutex_unlock(&ev.lock);
}

static struct lcow_uvm *boot(const char *name, const struct lcow_uvm_disk *disks, size_t n)
{
	char dir[128];
	struct lcow_uvm_options o = {
		.state_dir = dir,
		.kernel = LCOW_KERNEL,
		.initrd = LCOW_INITRD,
		.vsock_device = LCOW_VSOCK,
		.disks = disks,
		.n_disks = n,
		.boot_timeout_ms = 90000,
		.on_log = on_log,
		.on_notification = on_notification,
	};
	struct gcs_error err = { 0 };
	struct lcow_uvm *u = NULL;

	snprintf(dir, sizeof(dir), "%s/%s", layers.dir, name);
	ck_assert_msg(lcow_uvm_start(&o, &u, &err) == 0, "boot: %s", err.message);
	fprintf(stderr, "vm %s: negotiated %d ms after QEMU started\n", name, lcow_uvm_boot_ms(u));
	return u;
}

/* Runs argv in the UVM, feeding in (if any), collecting stdout; returns the exit code. */
static uint32_t run(struct gcs_bridge *b, const char *const *argv, const char *in, char *out,
		    size_t out_len)
{
	struct gcs_proto_process_params pp = { .command_args = argv };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	size_t n = 0;
	uint32_t code;
	int fd;

	while (argv[pp.n_command_args])
		pp.n_command_args++;
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	if (in)
		o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
	o.timeout_ms = 60000;
	ck_assert_msg(gcs_process_exec(b, &o, &p, &err) == 0, "exec %s: %s", argv[0], err.message);
	if (in) {
		ck_assert_int_eq(
			send(gcs_process_stdio_fd(p, GCS_STDIN), in, strlen(in), MSG_NOSIGNAL),
			(ssize_t)strlen(in));
		ck_assert_int_eq(gcs_process_close_stdin(p), 0);
	}
	fd = gcs_process_stdio_fd(p, GCS_STDOUT);
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;
		ck_assert_msg(poll(&pf, 1, 60000) == 1, "no output from %s", argv[0]);
		r = read(fd, out + n, out_len - 1 - n);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	ck_assert_msg(gcs_process_wait(p, 60000, &code, &err) == 0, "wait: %s", err.message);
	gcs_process_free(p);
	return code;
}

#define BB "/run/mounts/scsi/m0/bin/busybox"

START_TEST(test_vm_boot_and_processes)
{
	const struct lcow_uvm_disk base = { layers.base, true, 0, 1 };
	struct gcs_error err = { 0 };
	struct lcow_uvm *u = boot("procs", &base, 1);
	struct gcs_bridge *b = lcow_uvm_bridge(u);
	char out[4096];

	/* The boot-time exchanges of hcsshim's UVM start. */
	ck_assert(lcow_uvm_entropy_sent(u));
	ck_assert_uint_gt(lcow_uvm_log_lines(u), 0);
	pthread_mutex_lock(&ev.lock);
	ck_assert_uint_gt(ev.json_lines, 0);
	fprintf(stderr,
		"vm procs: 512 entropy bytes sent on port 1; %u agent log lines on port 109, "
		"the first: %s\n",
		lcow_uvm_log_lines(u), ev.first_json);
	pthread_mutex_unlock(&ev.lock);

	/* The busybox layer as a read-only SCSI disk, then processes from it. */
	ck_assert_msg(gcs_add_scsi_layer(b, 0, 1, "/run/mounts/scsi/m0", true, &err) == 0, "%s",
		      err.message);
	ck_assert_uint_eq(run(b, (const char *const[]){ BB, "echo", "hello-from-vm", NULL }, NULL,
			      out, sizeof(out)),
			  0);
	ck_assert_str_eq(out, "hello-from-vm\n");
	ck_assert_uint_eq(run(b, (const char *const[]){ BB, "cat", NULL }, "ping through vsock",
			      out, sizeof(out)),
			  0);
	ck_assert_str_eq(out, "ping through vsock");
	ck_assert_uint_eq(run(b, (const char *const[]){ BB, "sh", "-c", "exit 3", NULL }, NULL, out,
			      sizeof(out)),
			  3);
	ck_assert_uint_eq(run(b, (const char *const[]){ BB, "sh", "-c", "kill -KILL $$", NULL },
			      NULL, out, sizeof(out)),
			  137);
	{
		static const char *argv[] = { BB, "sleep", "30", NULL };
		struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 3 };
		struct gcs_exec_options o = { .params = &pp };
		struct gcs_process *p;
		uint32_t code;
		ck_assert_msg(gcs_process_exec(b, &o, &p, &err) == 0, "%s", err.message);
		ck_assert_int_eq(gcs_process_signal(p, SIGTERM, &err), 0);
		ck_assert_int_eq(gcs_process_wait(p, 60000, &code, &err), 0);
		ck_assert_uint_eq(code, 143);
		gcs_process_free(p);
	}
	ck_assert_msg(gcs_remove_scsi_disk(b, 0, 1, "/run/mounts/scsi/m0", &err) == 0, "%s",
		      err.message);
	lcow_uvm_stop(u);
}
END_TEST

struct pump {
	int fd;
	size_t total;
	unsigned long long sum;
};

static unsigned long long mix(unsigned long long h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void *feed(void *arg)
{
	struct pump *w = arg;
	unsigned char buf[65536];
	unsigned long long seed = 7;

	w->sum = 1469598103934665603ull;
	for (size_t off = 0; off < w->total;) {
		size_t n = w->total - off < sizeof(buf) ? w->total - off : sizeof(buf);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			buf[i] = (unsigned char)(seed >> 56);
		}
		w->sum = mix(w->sum, buf, n);
		for (size_t done = 0; done < n;) {
			ssize_t r = send(w->fd, buf + done, n - done, MSG_NOSIGNAL);
			if (r <= 0)
				return NULL;
			done += (size_t)r;
		}
		off += n;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

struct many {
	struct gcs_bridge *b;
	int i;
	bool ok;
};

static void *echo_one(void *arg)
{
	struct many *m = arg;
	char word[32], want[40], out[64];

	snprintf(word, sizeof(word), "vsock-stream-%d", m->i);
	snprintf(want, sizeof(want), "%s\n", word);
	m->ok = run(m->b, (const char *const[]){ BB, "echo", word, NULL }, NULL, out,
		    sizeof(out)) == 0 &&
		!strcmp(out, want);
	return NULL;
}

/*
 * The vsock device's stream scenarios, as the agent uses them: guest-dialed streams carrying
 * data both ways with half-close, back-pressure over 8 MiB, 64 streams at once, and a refused
 * port answered at once.
 */
START_TEST(test_vm_vsock_streams)
{
	const struct lcow_uvm_disk base = { layers.base, true, 0, 1 };
	struct gcs_error err = { 0 };
	struct lcow_uvm *u = boot("streams", &base, 1);
	struct gcs_bridge *b = lcow_uvm_bridge(u);

	ck_assert_msg(gcs_add_scsi_layer(b, 0, 1, "/run/mounts/scsi/m0", true, &err) == 0, "%s",
		      err.message);
	/* 8 MiB through cat, read slowly at first: nothing lost, the checksums agree. */
	{
		static const char *argv[] = { BB, "cat", NULL };
		struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 2 };
		struct gcs_exec_options o = { .params = &pp };
		struct pump w = { .total = 8u << 20 };
		unsigned long long sum = 1469598103934665603ull;
		unsigned char buf[65536];
		struct gcs_process *p;
		pthread_t th;
		size_t got = 0;
		uint32_t code;
		int out;

		o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
		o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
		ck_assert_msg(gcs_process_exec(b, &o, &p, &err) == 0, "%s", err.message);
		w.fd = gcs_process_stdio_fd(p, GCS_STDIN);
		out = gcs_process_stdio_fd(p, GCS_STDOUT);
		ck_assert_int_eq(pthread_create(&th, NULL, feed, &w), 0);
		sleep(2); /* let the guest fill every buffer on the way */
		for (ssize_t r; (r = read(out, buf, sizeof(buf))) > 0; got += (size_t)r)
			sum = mix(sum, buf, (size_t)r);
		pthread_join(th, NULL);
		ck_assert_uint_eq(got, w.total);
		ck_assert_msg(sum == w.sum, "the stream was altered");
		ck_assert_int_eq(gcs_process_wait(p, 60000, &code, &err), 0);
		ck_assert_uint_eq(code, 0);
		gcs_process_free(p);
	}
	/* 64 streams at once. */
	{
		struct many m[64];
		pthread_t th[64];
		for (int i = 0; i < 64; i++) {
			m[i] = (struct many){ b, i, false };
			ck_assert_int_eq(pthread_create(&th[i], NULL, echo_one, &m[i]), 0);
		}
		for (int i = 0; i < 64; i++) {
			pthread_join(th[i], NULL);
			ck_assert_msg(m[i].ok, "stream %d", i);
		}
	}
	/* A port nobody listens on is refused at once, not after a timeout. */
	{
		uint32_t type;
		char *body = NULL;
		long long t0, ms;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
		ck_assert_int_eq(
			gcs_bridge_call_raw(
				b, GCS_MSG_EXECUTE_PROCESS_REQ,
				"{\"ContainerId\":\"00000000-0000-0000-0000-000000000000\","
				"\"Settings\":{\"ProcessParameters\":\"{\\\"CommandArgs\\\":"
				"[\\\"/bin/gcs\\\"],\\\"CreateStdOutPipe\\\":true}\","
				"\"VsockStdioRelaySettings\":{\"StdOut\":4321}}}",
				30000, &type, &body, &err),
			0);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ms = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 - t0;
		ck_assert_msg(strstr(body, "\"Result\":-2147467259") && strstr(body, "4321"), "%s",
			      body);
		ck_assert_msg(ms < 1000, "refused after %lld ms", ms);
		free(body);
	}
	ck_assert_msg(gcs_remove_scsi_disk(b, 0, 1, "/run/mounts/scsi/m0", &err) == 0, "%s",
		      err.message);
	lcow_uvm_stop(u);
}
END_TEST

/* VPMemDevice on q35: a layer on /dev/pmem0, then the same through dm-linear (MappingInfo). */
START_TEST(test_vm_pmem)
{
	char dir[128], out[4096];
	const struct lcow_uvm_disk base = { layers.base, true, 0, 1 };
	const struct lcow_uvm_pmem pm = { layers.upper };
	struct lcow_uvm_options o = {
		.state_dir = dir,
		.kernel = LCOW_KERNEL,
		.initrd = LCOW_INITRD,
		.vsock_device = LCOW_VSOCK,
		.disks = &base,
		.n_disks = 1,
		.pmem = &pm,
		.n_pmem = 1,
		.boot_timeout_ms = 90000,
		.on_log = on_log,
	};
	struct gcs_error err = { 0 };
	struct gcs_proto_vpmem_mapping map = { 0, 0 };
	struct gcs_proto_modify_req req = {
		.base = { .container_id = GCS_NULL_GUID_STRING },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_VPMEM_DEVICE,
		.has_settings = true,
	};
	struct lcow_uvm *u = NULL;
	struct gcs_bridge *b;
	char mapped[96];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/pmem", layers.dir);
	ck_assert_msg(lcow_uvm_start(&o, &u, &err) == 0, "boot: %s", err.message);
	fprintf(stderr, "vm pmem (q35): negotiated %d ms after QEMU started\n",
		lcow_uvm_boot_ms(u));
	b = lcow_uvm_bridge(u);
	ck_assert_msg(gcs_add_scsi_layer(b, 0, 1, "/run/mounts/scsi/m0", true, &err) == 0, "%s",
		      err.message);
	ck_assert_msg(gcs_add_pmem_layer(b, 0, "/run/layers/p0", &err) == 0, "%s", err.message);
	ck_assert_uint_eq(run(b,
			      (const char *const[]){ BB, "cat", "/run/layers/p0/upper.txt", NULL },
			      NULL, out, sizeof(out)),
			  0);
	ck_assert_msg(strstr(out, LAYERS_UPPER_TEXT), "%s", out);
	ck_assert_msg(gcs_remove_pmem_layer(b, 0, "/run/layers/p0", &err) == 0, "%s", err.message);

	/* The whole image again, as a multi-mapped layer would be: dm-linear over the range. */
	ck_assert_int_eq(stat(layers.upper, &st), 0);
	map.device_size_in_bytes = (uint64_t)st.st_size;
	snprintf(mapped, sizeof(mapped), "/run/layers/p0-0-%lld", (long long)st.st_size);
	req.settings.vpmem_device.mount_path = mapped;
	req.settings.vpmem_device.mapping_info = &map;
	ck_assert_msg(gcs_modify_settings(b, &req, &err) == 0, "%s", err.message);
	{
		char path[160];
		snprintf(path, sizeof(path), "%s/upper.txt", mapped);
		ck_assert_uint_eq(run(b, (const char *const[]){ BB, "cat", path, NULL }, NULL, out,
				      sizeof(out)),
				  0);
		ck_assert_msg(strstr(out, LAYERS_UPPER_TEXT), "%s", out);
	}
	req.request_type = GCS_REQUEST_TYPE_REMOVE;
	ck_assert_msg(gcs_modify_settings(b, &req, &err) == 0, "%s", err.message);
	ck_assert_msg(gcs_remove_scsi_disk(b, 0, 1, "/run/mounts/scsi/m0", &err) == 0, "%s",
		      err.message);
	lcow_uvm_stop(u);
}
END_TEST

static json_t *container_spec(const char *rootfs)
{
	return json_pack("{s:s, s:{s:[sss], s:[s], s:s, s:{s:i, s:i}}, s:{s:s}, s:s, "
			 "s:[{s:s, s:s, s:s}], s:{s:[{s:s}, {s:s}, {s:s}, {s:s}]}}",
			 "ociVersion", "1.0.2", "process", "args", "/bin/sh", "-c",
			 "trap 'exit 143' TERM; cat /upper.txt; echo; echo ready; "
			 "while :; do sleep 1; done",
			 "env", "PATH=/bin:/sbin", "cwd", "/", "user", "uid", 0, "gid", 0, "root",
			 "path", rootfs, "hostname", "vmctr", "mounts", "destination", "/proc",
			 "type", "proc", "source", "proc", "linux", "namespaces", "type", "pid",
			 "type", "ipc", "type", "uts", "type", "mount");
}

START_TEST(test_vm_container)
{
	char scratch_img[160], out[4096];
	struct gcs_error err = { 0 };
	struct lcow_uvm *u = boot("ctr", NULL, 0);
	struct gcs_bridge *b = lcow_uvm_bridge(u);
	const char *cid = "c1";
	const char *ctr_dir = "/run/gcs/c/c1";
	const char *rootfs = "/run/gcs/c/c1/rootfs";
	const char *scratch = "/run/gcs/c/c1/scratch/c1";
	const char *const lowers[] = { "/run/mounts/scsi/m1", "/run/mounts/scsi/m0" };
	struct gcs_stdio stdio[3] = { { 0 }, { GCS_STDIO_SOCKET, -1 }, { 0 } };
	struct gcs_process *init, *p;
	json_t *spec, *proc;
	uint32_t code;
	size_t n = 0;

	/* Hot-add the layers and a blank scratch disk, as HCS does before the guest requests. */
	snprintf(scratch_img, sizeof(scratch_img), "%s/ctr/scratch.img", layers.dir);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "truncate -s 64M %s", scratch_img);
		ck_assert_int_eq(system(cmd), 0);
	}
	{
		const struct lcow_uvm_disk d[] = { { layers.base, true, 0, 1 },
						   { layers.upper, true, 0, 2 },
						   { scratch_img, false, 0, 3 } };
		for (size_t i = 0; i < 3; i++)
			ck_assert_msg(lcow_uvm_add_disk(u, &d[i], &err) == 0, "%s", err.message);
	}
	ck_assert_msg(gcs_add_scsi_layer(b, 0, 1, "/run/mounts/scsi/m0", true, &err) == 0, "%s",
		      err.message);
	ck_assert_msg(gcs_add_scsi_layer(b, 0, 2, "/run/mounts/scsi/m1", true, &err) == 0, "%s",
		      err.message);
	ck_assert_msg(gcs_add_scratch_disk(b, 0, 3, ctr_dir, &err) == 0, "%s", err.message);
	ck_assert_msg(gcs_combine_layers(b, cid, rootfs, lowers, 2, scratch, &err) == 0, "%s",
		      err.message);
	spec = container_spec(rootfs);
	ck_assert_msg(gcs_create_container_spec(b, cid, ctr_dir, spec, scratch, &err) == 0, "%s",
		      err.message);
	json_decref(spec);
	ck_assert_int_eq(gcs_start_container(b, cid, &err), 0);
	ck_assert_msg(gcs_start_init(b, cid, stdio, &init, &err) == 0, "%s", err.message);
	while (!strstr(out, "ready")) {
		struct pollfd pf = { .fd = gcs_process_stdio_fd(init, GCS_STDOUT),
				     .events = POLLIN };
		ssize_t r;
		ck_assert_msg(poll(&pf, 1, 60000) == 1, "the init printed: %s", out);
		r = read(pf.fd, out + n, sizeof(out) - 1 - n);
		ck_assert_int_gt(r, 0);
		n += (size_t)r;
		out[n] = '\0';
	}
	ck_assert_msg(strstr(out, LAYERS_UPPER_TEXT), "%s", out);

	/* An exec: the whited-out base file is gone. */
	proc = json_pack("{s:[sss], s:s, s:[s]}", "args", "/bin/sh", "-c",
			 "test -e " LAYERS_WHITED_OUT " && echo present || echo whited-out", "cwd",
			 "/", "env", "PATH=/bin");
	stdio[1].mode = GCS_STDIO_SOCKET;
	ck_assert_msg(gcs_container_exec(b, cid, proc, stdio, &p, &err) == 0, "%s", err.message);
	json_decref(proc);
	n = 0;
	for (ssize_t r;
	     (r = read(gcs_process_stdio_fd(p, GCS_STDOUT), out + n, sizeof(out) - 1 - n)) > 0;)
		n += (size_t)r;
	out[n] = '\0';
	ck_assert_str_eq(out, "whited-out\n");
	ck_assert_int_eq(gcs_process_wait(p, 60000, &code, &err), 0);
	ck_assert_uint_eq(code, 0);
	gcs_process_free(p);

	/* SIGTERM to the init: 143, then exactly one GracefulExit. */
	ck_assert_int_eq(gcs_process_signal(init, SIGTERM, &err), 0);
	ck_assert_int_eq(gcs_process_wait(init, 60000, &code, &err), 0);
	ck_assert_uint_eq(code, 143);
	gcs_process_free(init);
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&ev.lock);
		n = ev.notifications;
		pthread_mutex_unlock(&ev.lock);
		if (n)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ev.last_type, "GracefulExit");
	ck_assert_str_eq(ev.last_id, cid);

	/* Teardown in the V1 shim's order, then the disks leave the VM. */
	ck_assert_msg(gcs_uncombine_layers(b, rootfs, &err) == 0, "%s", err.message);
	ck_assert_msg(gcs_delete_container_state(b, cid, &err) == 0, "%s", err.message);
	ck_assert_msg(gcs_remove_scsi_disk(b, 0, 3, ctr_dir, &err) == 0, "%s", err.message);
	ck_assert_msg(gcs_remove_scsi_disk(b, 0, 2, "/run/mounts/scsi/m1", &err) == 0, "%s",
		      err.message);
	ck_assert_msg(gcs_remove_scsi_disk(b, 0, 1, "/run/mounts/scsi/m0", &err) == 0, "%s",
		      err.message);
	for (unsigned lun = 1; lun <= 3; lun++)
		ck_assert_msg(lcow_uvm_remove_disk(u, 0, lun, &err) == 0, "%s", err.message);
	lcow_uvm_stop(u);
}
END_TEST

/* No QEMU or device may outlive the suite. */
static int count_procs(const char *name)
{
	char cmd[128], buf[32] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "pgrep -c -f '%s' || true", name);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '0';
	pclose(f);
	return atoi(buf);
}

int main(void)
{
	struct gcs_error err = { 0 };
	char report[4096];
	Suite *s = suite_create("vm");
	TCase *tc = tcase_create("qemu");
	SRunner *sr;
	int failed, qemus;

	if (access(LCOW_KERNEL, R_OK) < 0 || access(LCOW_INITRD, R_OK) < 0) {
		fprintf(stderr, "vm suite: %s or %s is missing: run make initrd WITH_RUNC=1\n",
			LCOW_KERNEL, LCOW_INITRD);
		return 1;
	}
	if (layers_build(&layers, &err) < 0) {
		fprintf(stderr, "vm suite: cannot build the layers: %s\n", err.message);
		return 1;
	}
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_vm_boot_and_processes);
	tcase_add_test(tc, test_vm_container);
	tcase_add_test(tc, test_vm_vsock_streams);
	tcase_add_test(tc, test_vm_pmem);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* Only QEMUs of this run (their console log lies in our dir); the bracket keeps pgrep's
	 * own shell from matching. */
	{
		char pat[160], cmd[256];
		snprintf(pat, sizeof(pat), "[q]emu-system-x86_64 .*%s/", layers.dir);
		qemus = count_procs(pat);
		if (qemus > 0) {
			fprintf(stderr, "vm suite: %d QEMU processes were left behind\n", qemus);
			snprintf(cmd, sizeof(cmd), "pkill -KILL -f '%s'", pat);
			if (system(cmd) != 0)
				fprintf(stderr, "vm suite: pkill failed\n");
			failed++;
		}
	}
	if (layers_destroy(&layers, report, sizeof(report)) > 0) {
		fprintf(stderr, "vm suite: leftovers: %s\n", report);
		failed++;
	}
	return failed ? 1 : 0;
}
