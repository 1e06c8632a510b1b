/*
 * The VM suite: lcow's kernel and initrd under QEMU (TCG) with lcow's vhost-user vsock device,
 * driven through the launcher and libgcs: boot, negotiate, the boot-time ports, processes in the
 * utility VM, a container on hot-added busybox layer disks with a blank scratch disk, and
 * virtio-net NICs (at boot on microvm, hot-plugged on q35) on taps and QEMU's user network in
 * network namespaces of the test's own, up to a container serving HTTP over a tap NIC the agent
 * configured.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <lcow/uvm.h>

#include "layers.h"
#include "nl.h"
#include "timeutil.h"
#include "uvm_internal.h"

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

/* The suite's VM options: state directory <layers.dir>/<name> (written to dir), our images. */
static struct lcow_uvm_options vm_options(char dir[128], const char *name)
{
	snprintf(dir, 128, "%s/%s", layers.dir, name);
	return (struct lcow_uvm_options){
		.state_dir = dir,
		.kernel = LCOW_KERNEL,
		.initrd = LCOW_INITRD,
		.vsock_device = LCOW_VSOCK,
		.boot_timeout_ms = 90000,
		.on_log = on_log,
	};
}

static struct lcow_uvm *boot(const char *name, const struct lcow_uvm_disk *disks, size_t n)
{
	char dir[128];
	struct lcow_uvm_options o = vm_options(dir, name);
	struct gcs_error err = { 0 };
	struct lcow_uvm *u = NULL;

	o.disks = disks;
	o.n_disks = n;
	o.on_notification = on_notification;
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
	struct lcow_uvm_options o = vm_options(dir, "pmem");
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

	o.disks = &base;
	o.n_disks = 1;
	o.pmem = &pm;
	o.n_pmem = 1;
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

/* Guest paths of container cid: its bundle (and scratch disk mount), rootfs, overlay scratch. */
struct ctr_paths {
	char dir[64], rootfs[80], scratch[96];
};

static void ctr_paths(const char *cid, struct ctr_paths *p)
{
	snprintf(p->dir, sizeof(p->dir), "/run/gcs/c/%s", cid);
	snprintf(p->rootfs, sizeof(p->rootfs), "%s/rootfs", p->dir);
	snprintf(p->scratch, sizeof(p->scratch), "%s/scratch/%s", p->dir, cid);
}

/*
 * As HCS does before the guest requests: hot-adds the read-only layer images (LUNs 1..n, the
 * bottom one first, mounted at /run/mounts/scsi/m<lun-1>) and a blank scratch disk of
 * scratch_size (LUN n+1, an image under the VM's state directory dir), then combines them into
 * cid's rootfs.
 */
static void rootfs_up(struct lcow_uvm *u, const char *dir, const char *cid,
		      const char *const *images, unsigned n, const char *scratch_size)
{
	struct gcs_bridge *b = lcow_uvm_bridge(u);
	struct gcs_error err = { 0 };
	char scratch_img[160], cmd[300], mounts[4][32];
	const char *lowers[4];
	struct ctr_paths cp;

	ck_assert_uint_le(n, 4);
	ctr_paths(cid, &cp);
	snprintf(scratch_img, sizeof(scratch_img), "%s/%s/scratch-%s.img", layers.dir, dir, cid);
	snprintf(cmd, sizeof(cmd), "truncate -s %s %s", scratch_size, scratch_img);
	ck_assert_int_eq(system(cmd), 0);
	for (unsigned i = 0; i < n; i++) {
		const struct lcow_uvm_disk d = { images[i], true, 0, i + 1 };
		ck_assert_msg(lcow_uvm_add_disk(u, &d, &err) == 0, "%s", err.message);
		snprintf(mounts[i], sizeof(mounts[i]), "/run/mounts/scsi/m%u", i);
		ck_assert_msg(gcs_add_scsi_layer(b, 0, (uint8_t)(i + 1), mounts[i], true, &err) ==
				      0,
			      "%s", err.message);
		lowers[n - 1 - i] = mounts[i];
	}
	{
		const struct lcow_uvm_disk d = { scratch_img, false, 0, n + 1 };
		ck_assert_msg(lcow_uvm_add_disk(u, &d, &err) == 0, "%s", err.message);
	}
	ck_assert_msg(gcs_add_scratch_disk(b, 0, (uint8_t)(n + 1), cp.dir, &err) == 0, "%s",
		      err.message);
	ck_assert_msg(gcs_combine_layers(b, cid, cp.rootfs, lowers, n, cp.scratch, &err) == 0, "%s",
		      err.message);
}

/* Teardown in the V1 shim's order (the container's init has exited), then the disks leave. */
static void rootfs_down(struct lcow_uvm *u, const char *cid, unsigned n)
{
	struct gcs_bridge *b = lcow_uvm_bridge(u);
	struct gcs_error err = { 0 };
	struct ctr_paths cp;

	ctr_paths(cid, &cp);
	ck_assert_msg(gcs_uncombine_layers(b, cp.rootfs, &err) == 0, "%s", err.message);
	ck_assert_msg(gcs_delete_container_state(b, cid, &err) == 0, "%s", err.message);
	ck_assert_msg(gcs_remove_scsi_disk(b, 0, (uint8_t)(n + 1), cp.dir, &err) == 0, "%s",
		      err.message);
	for (unsigned i = n; i-- > 0;) {
		char m[32];
		snprintf(m, sizeof(m), "/run/mounts/scsi/m%u", i);
		ck_assert_msg(gcs_remove_scsi_disk(b, 0, (uint8_t)(i + 1), m, &err) == 0, "%s",
			      err.message);
	}
	for (unsigned lun = 1; lun <= n + 1; lun++)
		ck_assert_msg(lcow_uvm_remove_disk(u, 0, lun, &err) == 0, "%s", err.message);
}

/* Reads fd into out until want shows up in it. */
static void read_until(int fd, const char *want, char *out, size_t len, int timeout_ms)
{
	size_t n = 0;

	out[0] = '\0';
	while (!strstr(out, want)) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;
		ck_assert_msg(poll(&pf, 1, timeout_ms) == 1, "no %s yet: %s", want, out);
		r = read(fd, out + n, len - 1 - n);
		ck_assert_msg(r > 0, "EOF before %s: %s", want, out);
		n += (size_t)r;
		out[n] = '\0';
	}
}

/* Creates and starts container cid from spec, its init's stdout a socket. */
static struct gcs_process *ctr_start(struct gcs_bridge *b, const char *cid, json_t *spec)
{
	struct gcs_stdio stdio[3] = { { 0 }, { GCS_STDIO_SOCKET, -1 }, { 0 } };
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	struct ctr_paths cp;

	ctr_paths(cid, &cp);
	ck_assert_msg(gcs_create_container_spec(b, cid, cp.dir, spec, cp.scratch, &err) == 0, "%s",
		      err.message);
	json_decref(spec);
	ck_assert_int_eq(gcs_start_container(b, cid, &err), 0);
	ck_assert_msg(gcs_start_init(b, cid, stdio, &init, &err) == 0, "%s", err.message);
	return init;
}

START_TEST(test_vm_container)
{
	char out[4096];
	struct gcs_error err = { 0 };
	struct lcow_uvm *u = boot("ctr", NULL, 0);
	struct gcs_bridge *b = lcow_uvm_bridge(u);
	const char *cid = "c1";
	const char *const images[] = { layers.base, layers.upper };
	struct gcs_stdio stdio[3] = { { 0 }, { GCS_STDIO_SOCKET, -1 }, { 0 } };
	struct gcs_process *init, *p;
	json_t *proc;
	uint32_t code;
	size_t n = 0;

	rootfs_up(u, "ctr", cid, images, 2, "64M");
	init = ctr_start(b, cid, container_spec("/run/gcs/c/c1/rootfs"));
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), "ready", out, sizeof(out), 60000);
	ck_assert_msg(strstr(out, LAYERS_UPPER_TEXT), "%s", out);

	/* An exec: the whited-out base file is gone. */
	proc = json_pack("{s:[sss], s:s, s:[s]}", "args", "/bin/sh", "-c",
			 "test -e " LAYERS_WHITED_OUT " && echo present || echo whited-out", "cwd",
			 "/", "env", "PATH=/bin");
	ck_assert_msg(gcs_container_exec(b, cid, proc, stdio, &p, &err) == 0, "%s", err.message);
	json_decref(proc);
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

	rootfs_down(u, cid, 2);
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

/* ---- NICs ---- */

#define BBSH "b=" BB "; "

struct test_netns {
	int orig; /* the test's namespace before */
	ino_t ino; /* the new one's inode */
};

/* Moves the calling thread (and what it starts) into a new network namespace with lo up. */
static void netns_enter_new(struct test_netns *ns)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	struct stat st;
	int s;

	ns->orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(ns->orig, 0);
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare: %s", strerror(errno));
	ck_assert_int_eq(stat("/proc/thread-self/ns/net", &st), 0);
	ns->ino = st.st_ino;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

/* How many tasks (threads of any process) are in the namespace with this inode. */
static int tasks_in_netns(ino_t ino)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	int n = 0;

	ck_assert_ptr_nonnull(proc);
	while ((p = readdir(proc))) {
		char path[300];
		DIR *tasks;
		struct dirent *t;
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
		tasks = opendir(path);
		while (tasks && (t = readdir(tasks))) {
			struct stat st;
			if (t->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/task/%s/ns/net", p->d_name,
				 t->d_name);
			if (stat(path, &st) == 0 && st.st_ino == ino)
				n++;
		}
		if (tasks)
			closedir(tasks);
	}
	closedir(proc);
	return n;
}

/* Back to the test's namespace; nothing may be left in the new one. */
static void netns_leave_checked(struct test_netns *ns)
{
	ck_assert_int_eq(setns(ns->orig, CLONE_NEWNET), 0);
	close(ns->orig);
	ck_assert_msg(tasks_in_netns(ns->ino) == 0, "%d tasks are left in the test's namespace",
		      tasks_in_netns(ns->ino));
}

/* A tap device in the calling thread's namespace, as QEMU's tap backend wants it. */
static int tap_create(const char *name)
{
	int fd = -1, rc = nlh_tap_open(-1, name, &fd);

	ck_assert_msg(rc == 0, "tap %s: %s", name, strerror(-rc));
	return fd;
}

/* Closes our end of the tap: with QEMU gone, the device goes too. */
static void tap_close_checked(int fd, const char *name)
{
	close(fd);
	for (int i = 0; i < 100 && if_nametoindex(name); i++)
		usleep(10000);
	ck_assert_msg(!if_nametoindex(name), "the tap %s is still there", name);
}

/* What QMP returns for a command (the caller's reference). */
static json_t *qmp(struct lcow_uvm *u, const char *cmd)
{
	char errbuf[256];
	json_t *r = NULL;

	ck_assert_msg(uvm_qmp(u, cmd, -1, &r, errbuf, sizeof(errbuf)) == 0, "%s: %s", cmd, errbuf);
	return r;
}

/* The MAC QEMU's NIC id has ("" when QEMU has no such NIC), from query-rx-filter. */
static const char *qemu_nic_mac(struct lcow_uvm *u, const char *id, char *buf, size_t len)
{
	json_t *list = qmp(u, "{\"execute\":\"query-rx-filter\"}"), *f;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(list, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		if (name && !strcmp(name, id))
			snprintf(buf, len, "%s", json_string_value(json_object_get(f, "main-mac")));
	}
	json_decref(list);
	return buf;
}

/* QEMU's "info network". */
static void info_network(struct lcow_uvm *u, char *buf, size_t len)
{
	json_t *r = qmp(u, "{\"execute\":\"human-monitor-command\","
			   "\"arguments\":{\"command-line\":\"info network\"}}");

	ck_assert(json_is_string(r));
	snprintf(buf, len, "%s", json_string_value(r));
	json_decref(r);
}

/* Waits until the guest's /sys/class/net does (or does not) list mac. */
static void guest_sees_mac(struct gcs_bridge *b, const char *mac, bool present)
{
	char out[4096];

	for (int i = 0; i < 100; i++) {
		ck_assert_uint_eq(
			run(b,
			    (const char *const[]){ BB, "sh", "-c",
						   BBSH "$b cat /sys/class/net/*/address", NULL },
			    NULL, out, sizeof(out)),
			0);
		if (!!strstr(out, mac) == present)
			return;
		usleep(200000);
	}
	ck_assert_msg(0, "the guest %s %s: %s", present ? "never saw" : "still sees", mac, out);
}

static int qemus_of(const char *name)
{
	char pat[200];

	snprintf(pat, sizeof(pat), "[q]emu-system-x86_64 .*%s/%s/", layers.dir, name);
	return count_procs(pat);
}

/* Reads what 127.0.0.1:port answers, retrying while the guest's listener is not up yet. */
static void read_forwarded(unsigned short port, const char *want)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	char buf[256];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 150; i++) {
		size_t n = 0;
		ssize_t r;
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timeval tv = { .tv_sec = 10 };
		ck_assert_int_ge(s, 0);
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			while (n < sizeof(buf) - 1 &&
			       (r = read(s, buf + n, sizeof(buf) - 1 - n)) > 0)
				n += (size_t)r;
		close(s);
		buf[n] = '\0';
		if (strstr(buf, want))
			return;
		usleep(200000);
	}
	ck_assert_msg(0, "127.0.0.1:%u never answered %s", port, want);
}

/*
 * The guest's NIC with this MAC gets the user network's address and answers word once on port
 * 80, which QEMU forwards from 127.0.0.1:host_port here.
 */
static void hostfwd_check(struct gcs_bridge *b, const char *mac, unsigned short host_port,
			  const char *word)
{
	char script[512];
	const char *argv[] = { BB, "sh", "-c", script, NULL };
	struct gcs_proto_process_params pp = { .command_args = argv, .n_command_args = 4 };
	struct gcs_exec_options eo = { .params = &pp };
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	uint32_t code;

	snprintf(script, sizeof(script),
		 BBSH "for d in /sys/class/net/*; do [ \"$($b cat $d/address)\" = %s ] && "
		      "n=${d##*/}; done; [ -n \"$n\" ] || exit 9; "
		      "$b ip addr add %s/%d dev $n && $b ip link set $n up && "
		      "echo %s | $b nc -l -p 80",
		 mac, LCOW_USERNET_GUEST, LCOW_USERNET_PREFIX, word);
	ck_assert_msg(gcs_process_exec(b, &eo, &p, &err) == 0, "%s", err.message);
	read_forwarded(host_port, word);
	ck_assert_int_eq(gcs_process_wait(p, 60000, &code, &err), 0);
	ck_assert_uint_eq(code, 0);
	gcs_process_free(p);
}

#define USER_MAC "02:4c:43:00:00:01"
#define TAP_MAC "02:4c:43:00:00:02"
#define HOTPLUG_MAC "02:4c:43:00:00:03"
#define FWD_PORT 18080

/*
 * microvm with a user-mode NIC (a forwarded port) and a tap NIC at boot, QEMU in a network
 * namespace of the test: QEMU has both with their MACs, the guest sees both, the forwarded port
 * reaches a listener in the guest, and hot-plug is refused.
 */
START_TEST(test_vm_nics_at_boot)
{
	const struct lcow_uvm_disk base = { layers.base, true, 0, 1 };
	const char *const fwd[] = { "tcp:127.0.0.1:18080-:80" };
	struct test_netns ns;
	struct lcow_uvm_nic nics[2] = {
		{ .id = "user0",
		  .mac = { 2, 0x4c, 0x43, 0, 0, 1 },
		  .backend = LCOW_NIC_USER,
		  .hostfwd = fwd,
		  .n_hostfwd = 1 },
		{ .id = "tap0", .mac = { 2, 0x4c, 0x43, 0, 0, 2 }, .backend = LCOW_NIC_TAP },
	};
	char dir[128], mac[32], info[4096];
	struct lcow_uvm_options o = vm_options(dir, "nics");
	struct gcs_error err = { 0 };
	struct lcow_uvm_nic extra = nics[0];
	struct lcow_uvm *u = NULL;
	struct gcs_bridge *b;

	/* Both QEMU's user network and the tap live in a namespace of this test only. */
	netns_enter_new(&ns);
	nics[1].tap_fd = tap_create("lcowtap0");
	o.disks = &base;
	o.n_disks = 1;
	o.nics = nics;
	o.n_nics = 2;
	ck_assert_msg(lcow_uvm_start(&o, &u, &err) == 0, "boot: %s", err.message);
	fprintf(stderr,
		"vm nics (microvm, a user and a tap NIC): negotiated %d ms after QEMU started\n",
		lcow_uvm_boot_ms(u));
	b = lcow_uvm_bridge(u);

	ck_assert_str_eq(qemu_nic_mac(u, "user0", mac, sizeof(mac)), USER_MAC);
	ck_assert_str_eq(qemu_nic_mac(u, "tap0", mac, sizeof(mac)), TAP_MAC);
	info_network(u, info, sizeof(info));
	ck_assert_msg(strstr(info, "type=user") && strstr(info, "type=tap") &&
			      strstr(info, "model=virtio-net-device"),
		      "%s", info);

	/* virtio_net bound both in the guest. */
	ck_assert_msg(gcs_add_scsi_layer(b, 0, 1, "/run/mounts/scsi/m0", true, &err) == 0, "%s",
		      err.message);
	guest_sees_mac(b, USER_MAC, true);
	guest_sees_mac(b, TAP_MAC, true);

	/* The forwarded port: 127.0.0.1:18080 here is the guest's 10.0.2.15:80. */
	hostfwd_check(b, USER_MAC, FWD_PORT, "hello-through-hostfwd");

	/* No hot-plug on microvm. */
	extra.id = "user1";
	extra.mac[5] = 9;
	ck_assert_int_eq(lcow_uvm_add_nic(u, &extra, &err), -EOPNOTSUPP);
	ck_assert_msg(strstr(err.message, "give NICs at boot on microvm"), "%s", err.message);
	ck_assert_int_eq(lcow_uvm_remove_nic(u, "tap0", &err), -EOPNOTSUPP);

	ck_assert_msg(gcs_remove_scsi_disk(b, 0, 1, "/run/mounts/scsi/m0", &err) == 0, "%s",
		      err.message);
	lcow_uvm_stop(u);
	ck_assert_int_eq(qemus_of("nics"), 0);
	tap_close_checked(nics[1].tap_fd, "lcowtap0");
	netns_leave_checked(&ns);
}
END_TEST

/*
 * q35 with hotplug: a boot-time NIC (on a root port of its own) and a tap NIC hot-added, seen by
 * QEMU and the guest, then removed and gone; the VM outlives its launcher (a child process that
 * exits) and is adopted with its NICs, which the adopter removes; then a user-mode NIC hot-added
 * in a free port.
 */
START_TEST(test_vm_nic_hotplug)
{
	const struct lcow_uvm_disk base = { layers.base, true, 0, 1 };
	const char *const fwd[] = { "tcp:127.0.0.1:18081-:80" };
	struct test_netns ns;
	struct lcow_uvm_nic tap = { .id = "hp0",
				    .mac = { 2, 0x4c, 0x43, 0, 0, 3 },
				    .backend = LCOW_NIC_TAP };
	struct lcow_uvm_nic user = { .id = "hp1",
				     .mac = { 2, 0x4c, 0x43, 0, 0, 4 },
				     .backend = LCOW_NIC_USER,
				     .hostfwd = fwd,
				     .n_hostfwd = 1 };
	const struct lcow_uvm_nic at_boot = { .id = "boot0",
					      .mac = { 2, 0x4c, 0x43, 0, 0, 5 },
					      .backend = LCOW_NIC_USER };
	char dir[128], mac[32];
	struct lcow_uvm_options o = vm_options(dir, "hotplug");
	struct gcs_error err = { 0 };
	struct lcow_uvm *u = NULL;
	struct gcs_bridge *b;
	pid_t child;
	int status;

	netns_enter_new(&ns);
	tap.tap_fd = tap_create("lcowtap1");
	o.disks = &base;
	o.n_disks = 1;
	o.nics = &at_boot;
	o.n_nics = 1;
	o.hotplug = true;
	o.outlive_caller = true;

	/* The first launcher: boots, hot-adds the tap NIC, mounts the layer, and dies. */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int rc = lcow_uvm_start(&o, &u, &err);
		if (rc == 0)
			fprintf(stderr, "vm hotplug (q35): negotiated %d ms after QEMU started\n",
				lcow_uvm_boot_ms(u));
		if (rc == 0)
			rc = lcow_uvm_add_nic(u, &tap, &err);
		if (rc == 0)
			rc = gcs_add_scsi_layer(lcow_uvm_bridge(u), 0, 1, "/run/mounts/scsi/m0",
						true, &err);
		if (rc < 0)
			fprintf(stderr, "first launcher: %s\n", err.message);
		if (rc < 0 && u)
			lcow_uvm_stop(u);
		_exit(rc < 0 ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "first launcher: 0x%x",
		      status);
	ck_assert_msg(lcow_uvm_adopt(&o, &u, &err) == 0, "adopt: %s", err.message);
	b = lcow_uvm_bridge(u);

	/* The adopted VM has both NICs, in QEMU and in the guest. */
	ck_assert_str_eq(qemu_nic_mac(u, "hp0", mac, sizeof(mac)), HOTPLUG_MAC);
	ck_assert_str_eq(qemu_nic_mac(u, "boot0", mac, sizeof(mac)), "02:4c:43:00:00:05");
	guest_sees_mac(b, HOTPLUG_MAC, true);
	guest_sees_mac(b, "02:4c:43:00:00:05", true);
	/* The same id again, and bad input, change nothing. */
	ck_assert_int_eq(lcow_uvm_add_nic(u, &tap, &err), -EEXIST);
	{
		const char *const bad[] = { "tcp::18082-:80,smb=/etc" };
		struct lcow_uvm_nic n = user;
		n.hostfwd = bad;
		ck_assert_int_eq(lcow_uvm_add_nic(u, &n, &err), -EINVAL);
		ck_assert_msg(strstr(err.message, "hostfwd"), "%s", err.message);
	}
	ck_assert_msg(lcow_uvm_remove_nic(u, "nosuchnic", &err) == -ENOENT, "%s", err.message);

	/* Removed: gone from QEMU and from the guest. */
	ck_assert_msg(lcow_uvm_remove_nic(u, "hp0", &err) == 0, "%s", err.message);
	ck_assert_str_eq(qemu_nic_mac(u, "hp0", mac, sizeof(mac)), "");
	guest_sees_mac(b, HOTPLUG_MAC, false);
	ck_assert_msg(lcow_uvm_remove_nic(u, "boot0", &err) == 0, "%s", err.message);
	ck_assert_str_eq(qemu_nic_mac(u, "boot0", mac, sizeof(mac)), "");
	guest_sees_mac(b, "02:4c:43:00:00:05", false);

	/* A user-mode NIC in the free port, its forwarded port reaching the guest. */
	ck_assert_msg(lcow_uvm_add_nic(u, &user, &err) == 0, "%s", err.message);
	ck_assert_str_eq(qemu_nic_mac(u, "hp1", mac, sizeof(mac)), "02:4c:43:00:00:04");
	guest_sees_mac(b, "02:4c:43:00:00:04", true);
	hostfwd_check(b, "02:4c:43:00:00:04", 18081, "hello-hot-plugged");
	ck_assert_msg(lcow_uvm_remove_nic(u, "hp1", &err) == 0, "%s", err.message);
	ck_assert_str_eq(qemu_nic_mac(u, "hp1", mac, sizeof(mac)), "");

	ck_assert_msg(gcs_remove_scsi_disk(b, 0, 1, "/run/mounts/scsi/m0", &err) == 0, "%s",
		      err.message);
	lcow_uvm_stop(u);
	ck_assert_int_eq(qemus_of("hotplug"), 0);
	tap_close_checked(tap.tap_fd, "lcowtap1");
	netns_leave_checked(&ns);
}
END_TEST

/* Bad NICs fail the start with -EINVAL and a message naming the fault; nothing starts. */
START_TEST(test_vm_nic_bad_input)
{
	char dir[128];
	const char *const comma[] = { "tcp::18080-:80,guestfwd=tcp:10.0.2.9:1-cmd:sh" };
	const char *const eq[] = { "tcp::18080-:80=x" };
	const char *const no_port[] = { "tcp:127.0.0.1:-:80" };
	int pipefd[2];
	struct {
		struct lcow_uvm_nic nic[2];
		size_t n;
		const char *says;
	} cases[] = {
		{ { { .id = "bad,id", .mac = { 2, 0, 0, 0, 0, 1 } } }, 1, "is not one of" },
		{ { { .id = "", .mac = { 2, 0, 0, 0, 0, 1 } } }, 1, "needs an id" },
		{ { { .id = "0nic", .mac = { 2, 0, 0, 0, 0, 1 } } }, 1, "begin with a letter" },
		{ { { .id = "scsi0", .mac = { 2, 0, 0, 0, 0, 1 } } }, 1, "taken by the launcher" },
		{ { { .id = "a23456789012345678901234567890123", .mac = { 2, 0, 0, 0, 0, 1 } } },
		  1,
		  "longer than" },
		{ { { .id = "n", .mac = { 2, 0, 0, 0, 0, 1 }, .hostfwd = comma, .n_hostfwd = 1 } },
		  1,
		  "hostfwd" },
		{ { { .id = "n", .mac = { 2, 0, 0, 0, 0, 1 }, .hostfwd = eq, .n_hostfwd = 1 } },
		  1,
		  "hostfwd" },
		{ { { .id = "n",
		      .mac = { 2, 0, 0, 0, 0, 1 },
		      .hostfwd = no_port,
		      .n_hostfwd = 1 } },
		  1,
		  "hostfwd" },
		{ { { .id = "n", .mac = { 1, 0, 0, 0, 0, 1 } } }, 1, "unicast" },
		{ { { .id = "n", .mac = { 0 } } }, 1, "unicast" },
		{ { { .id = "n", .mac = { 2, 0, 0, 0, 0, 1 } },
		    { .id = "n", .mac = { 2, 0, 0, 0, 0, 2 } } },
		  2,
		  "two NICs" },
		{ { { .id = "n",
		      .mac = { 2, 0, 0, 0, 0, 1 },
		      .backend = LCOW_NIC_TAP,
		      .tap_fd = -1 } },
		  1,
		  "not open" },
		{ { { .id = "n", .mac = { 2, 0, 0, 0, 0, 1 }, .backend = LCOW_NIC_TAP } },
		  1,
		  "not an attached tap" },
		{ { { .id = "n", .mac = { 2, 0, 0, 0, 0, 1 }, .backend = 7 } }, 1, "backend" },
	};

	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	cases[12].nic[0].tap_fd = pipefd[0];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lcow_uvm_options o = vm_options(dir, "badnic");
		struct gcs_error err = { 0 };
		struct lcow_uvm *u = NULL;
		int rc;
		o.nics = cases[i].nic;
		o.n_nics = cases[i].n;
		rc = lcow_uvm_start(&o, &u, &err);
		/* A closed fd is -EBADF, like any call given one. */
		ck_assert_msg(rc == (cases[i].nic[0].tap_fd == -1 ? -EBADF : -EINVAL),
			      "case %zu: %d %s", i, rc, err.message);
		ck_assert_msg(strstr(err.message, cases[i].says), "case %zu: %s", i, err.message);
		ck_assert_ptr_null(u);
		ck_assert_msg(access(dir, F_OK) < 0 && errno == ENOENT, "case %zu started", i);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	ck_assert_int_eq(qemus_of("badnic"), 0);
}
END_TEST

#define NET_NS_GUID "5d8d3a6e-4b7c-4f1e-9c55-0a3e2b7c1d01"
#define NET_ADAPTER_GUID "5d8d3a6e-4b7c-4f1e-9c55-0a3e2b7c1d02"
#define WEB_SIZE_MB 100

/*
 * The container serves a 100 MB file of random bytes it made, and first prints its SHA-256 (sum=)
 * and "ready"; it runs in the network namespace NET_NS_GUID, whose NIC the agent configures.
 */
static json_t *web_spec(const char *rootfs)
{
	char script[512];
	json_t *spec, *caps;

	snprintf(script, sizeof(script),
		 "trap 'exit 143' TERM; "
		 "busybox dd if=/dev/urandom of=/www/f bs=1M count=%d 2>/dev/null || exit 1; "
		 "echo sum=$(busybox sha256sum /www/f); "
		 "busybox httpd -p 80 -h /www 2>&1 || { echo httpd failed; exit 2; }; "
		 "echo ready; while :; do sleep 1; done",
		 WEB_SIZE_MB);
	spec = json_pack("{s:s, s:{s:[sss], s:[s], s:s, s:{s:i, s:i}}, s:{s:s}, s:s, "
			 "s:[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:[s]}], "
			 "s:{s:[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]}, s:{s:{s:s}}}",
			 "ociVersion", "1.0.2", "process", "args", "/bin/sh", "-c", script, "env",
			 "PATH=/bin:/sbin", "cwd", "/", "user", "uid", 0, "gid", 0, "root", "path",
			 rootfs, "hostname", "web", "mounts", "destination", "/proc", "type",
			 "proc", "source", "proc", "destination", "/www", "type", "tmpfs", "source",
			 "tmpfs", "options", "size=128m", "linux", "namespaces", "type", "pid",
			 "type", "ipc", "type", "uts", "type", "mount", "type", "network",
			 "windows", "network", "networkNamespace", NET_NS_GUID);
	/* Port 80 takes CAP_NET_BIND_SERVICE; a spec without "capabilities" grants none. */
	caps = json_pack("{s:[s], s:[s], s:[s]}", "bounding", "CAP_NET_BIND_SERVICE", "effective",
			 "CAP_NET_BIND_SERVICE", "permitted", "CAP_NET_BIND_SERVICE");
	json_object_set_new(json_object_get(spec, "process"), "capabilities", caps);
	return spec;
}

/* The test's wire: T (the client, vT 10.99.0.1/24) - vW in W (this thread's) - tc - the tap. */
struct wire {
	char t_path[128];
	int t_fd;
	int tap_fd;
	int vw, tap; /* ifindexes in W */
	uint8_t vw_mac[6];
};

static void wire_up(struct wire *w, const char *dir)
{
	struct nlh *h, *ht;
	struct nlh_link l;
	struct nlh_ip ip;

	snprintf(w->t_path, sizeof(w->t_path), "%s/netns-T", dir);
	ck_assert_int_eq(netns_create(w->t_path), 0);
	w->t_fd = netns_open(w->t_path);
	ck_assert_int_ge(w->t_fd, 0);
	ck_assert_int_eq(nlh_open(-1, &h), 0);
	ck_assert_int_eq(nlh_veth_add(h, "vW", "vT", w->t_fd), 0);
	ck_assert_int_eq(nlh_tap_open(-1, "tapW", &w->tap_fd), 0);
	ck_assert_int_eq(nlh_link_get(h, "vW", &l), 0);
	w->vw = l.ifindex;
	memcpy(w->vw_mac, l.mac, 6);
	ck_assert_int_eq(nlh_link_get(h, "tapW", &l), 0);
	w->tap = l.ifindex;
	/* kata's tcfilter model: whatever enters one side leaves by the other. */
	ck_assert_int_eq(nlh_redirect(h, w->vw, w->tap), 0);
	ck_assert_int_eq(nlh_redirect(h, w->tap, w->vw), 0);
	ck_assert_int_eq(nlh_link_set_up(h, w->vw, true), 0);
	ck_assert_int_eq(nlh_link_set_up(h, w->tap, true), 0);
	nlh_close(h);
	ck_assert_int_eq(nlh_open(w->t_fd, &ht), 0);
	ck_assert_int_eq(nlh_link_get(ht, "vT", &l), 0);
	ck_assert_int_eq(nlh_ip_parse("10.99.0.1", &ip), 0);
	ck_assert_int_eq(nlh_addr_add(ht, l.ifindex, &ip, 24), 0);
	ck_assert_int_eq(nlh_link_set_up(ht, l.ifindex, true), 0);
	nlh_close(ht);
}

/* Everything of the wire goes; the namespace file and its mount too. */
static void wire_down(struct wire *w)
{
	struct nlh *h;
	char line[512];
	FILE *mi;

	ck_assert_int_eq(nlh_open(-1, &h), 0);
	ck_assert_int_eq(nlh_redirect_remove(h, w->vw), 0);
	ck_assert_int_eq(nlh_redirect_remove(h, w->tap), 0);
	ck_assert_int_eq(nlh_link_del(h, w->vw), 0);
	nlh_close(h);
	tap_close_checked(w->tap_fd, "tapW");
	close(w->t_fd);
	ck_assert_int_eq(netns_remove(w->t_path), 0);
	ck_assert_int_eq(access(w->t_path, F_OK), -1);
	mi = fopen("/proc/self/mountinfo", "r");
	ck_assert_ptr_nonnull(mi);
	while (fgets(line, sizeof(line), mi))
		ck_assert_msg(!strstr(line, w->t_path), "still mounted: %s", line);
	fclose(mi);
}

/*
 * HTTP/1.0 GET of http://10.99.0.2/f from namespace T; the body goes through sha256sum (its
 * digest into ret_sum). Returns the body's size, which must be the Content-Length.
 */
static size_t http_get_sha256(const struct wire *w, const char *dir, char ret_sum[65])
{
	static const char req[] = "GET /f HTTP/1.0\r\nHost: 10.99.0.2\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct timeval tv = { .tv_sec = 60 };
	char buf[65536], cmd[300], sum_path[200], *body;
	size_t hlen = 0, total = 0, want;
	int old, s;
	FILE *sha, *f;

	/* A socket belongs to the namespace it was made in. */
	ck_assert_int_eq(netns_enter(w->t_fd, &old), 0);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	netns_leave(old);
	ck_assert_int_ge(s, 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(inet_pton(AF_INET, "10.99.0.2", &sa.sin_addr), 1);
	ck_assert_msg(connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
		      strerror(errno));
	ck_assert_int_eq(send(s, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	for (;;) {
		ssize_t r = read(s, buf + hlen, sizeof(buf) - 1 - hlen);
		ck_assert_msg(r > 0, "the response ended in its header: %zd, %s", r,
			      strerror(errno));
		hlen += (size_t)r;
		buf[hlen] = '\0';
		if ((body = strstr(buf, "\r\n\r\n")))
			break;
	}
	ck_assert_msg(!strncmp(buf, "HTTP/1.", 7) && !strncmp(buf + 8, " 200", 4), "%.200s", buf);
	ck_assert_msg(strcasestr(buf, "Content-Length:"), "%.400s", buf);
	want = strtoull(strcasestr(buf, "Content-Length:") + 15, NULL, 10);
	body += 4;
	snprintf(sum_path, sizeof(sum_path), "%s/download.sha256", dir);
	snprintf(cmd, sizeof(cmd), "sha256sum > %s", sum_path);
	sha = popen(cmd, "w");
	ck_assert_ptr_nonnull(sha);
	total = hlen - (size_t)(body - buf);
	ck_assert_uint_eq(fwrite(body, 1, total, sha), total);
	for (ssize_t r; (r = read(s, buf, sizeof(buf))) != 0; total += (size_t)r) {
		ck_assert_msg(r > 0, "after %zu bytes: %s", total, strerror(errno));
		ck_assert_uint_eq(fwrite(buf, 1, (size_t)r, sha), (size_t)r);
	}
	close(s);
	ck_assert_int_eq(pclose(sha), 0);
	f = fopen(sum_path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%64s", ret_sum), 1);
	fclose(f);
	unlink(sum_path);
	ck_assert_uint_eq(total, want);
	return total;
}

/*
 * A QEMU UVM with a NIC on a tap in a namespace of the test, joined by tc redirects to a veth
 * whose other end is the client namespace T; a container in the UVM, in the network namespace
 * a Network Add configured (10.99.0.2/24 on the NIC with vW's MAC), serves HTTP; the test
 * downloads 100 MB from T and compares the SHA-256 with the container's.
 */
START_TEST(test_vm_nic_http)
{
	const char *const images[] = { layers.base };
	struct test_netns ns;
	struct wire w;
	struct lcow_uvm_nic nic = { .id = "net0", .backend = LCOW_NIC_TAP };
	char dir[128], mac[24], out[4096], want[65] = "", got[65] = "";
	struct lcow_uvm_options o = vm_options(dir, "http");
	const struct gcs_proto_ip_config ipc = { "10.99.0.2", 24 };
	struct gcs_proto_network_adapter a = {
		.namespace_id = NET_NS_GUID,
		.id = NET_ADAPTER_GUID,
		.ip_configs = &ipc,
		.n_ip_configs = 1,
	};
	struct gcs_error err = { 0 };
	struct lcow_uvm *u = NULL;
	struct gcs_process *init;
	struct gcs_bridge *b;
	long long t0, ms;
	uint32_t code;

	/* W is this thread's new namespace: QEMU starts in it and never sees the host's. */
	netns_enter_new(&ns);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	wire_up(&w, dir);
	memcpy(nic.mac, w.vw_mac, 6);
	nic.tap_fd = w.tap_fd;
	o.nics = &nic;
	o.n_nics = 1;
	o.memory_mb = 768;
	ck_assert_msg(lcow_uvm_start(&o, &u, &err) == 0, "boot: %s", err.message);
	b = lcow_uvm_bridge(u);

	/* As hcsshim: the adapter (MAC in its 00-15-5D-.. form) first, then the container. */
	snprintf(mac, sizeof(mac), "%02X-%02X-%02X-%02X-%02X-%02X", w.vw_mac[0], w.vw_mac[1],
		 w.vw_mac[2], w.vw_mac[3], w.vw_mac[4], w.vw_mac[5]);
	a.mac_address = mac;
	ck_assert_msg(gcs_add_network_adapter(b, &a, &err) == 0, "%s", err.message);
	rootfs_up(u, "http", "web", images, 1, "64M");
	init = ctr_start(b, "web", web_spec("/run/gcs/c/web/rootfs"));
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), "ready", out, sizeof(out), 240000);
	ck_assert_msg(sscanf(strstr(out, "sum=") ? strstr(out, "sum=") : "", "sum=%64s", want) == 1,
		      "%s", out);

	/* The download, from T, through vT, vW, the tap, QEMU and the guest's NIC. */
	t0 = time_now_ms();
	ck_assert_uint_eq(http_get_sha256(&w, dir, got), (size_t)WEB_SIZE_MB << 20);
	ms = time_now_ms() - t0;
	ck_assert_msg(!strcmp(got, want), "downloaded %s, served %s", got, want);
	fprintf(stderr,
		"vm http: %d MB from the container to namespace T intact in %lld ms (%.1f MB/s)\n",
		WEB_SIZE_MB, ms, WEB_SIZE_MB * 1000.0 / (double)(ms ? ms : 1));

	ck_assert_int_eq(gcs_process_signal(init, SIGTERM, &err), 0);
	ck_assert_int_eq(gcs_process_wait(init, 60000, &code, &err), 0);
	ck_assert_uint_eq(code, 143);
	gcs_process_free(init);
	rootfs_down(u, "web", 1);
	ck_assert_msg(gcs_remove_network_adapter(b, NET_NS_GUID, NET_ADAPTER_GUID, &err) == 0, "%s",
		      err.message);
	lcow_uvm_stop(u);
	ck_assert_int_eq(qemus_of("http"), 0);
	wire_down(&w);
	netns_leave_checked(&ns);
}
END_TEST

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
	tc = tcase_create("nic");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_vm_nic_bad_input);
	tcase_add_test(tc, test_vm_nics_at_boot);
	tcase_add_test(tc, test_vm_nic_hotplug);
	tcase_add_test(tc, test_vm_nic_http);
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
	/* A test that failed half-way exits at once: its client namespace is still mounted. */
	{
		char t[160];
		snprintf(t, sizeof(t), "%s/http/netns-T", layers.dir);
		if (access(t, F_OK) == 0) {
			fprintf(stderr, "vm suite: the namespace %s was left behind\n", t);
			netns_remove(t);
			failed++;
		}
	}
	if (layers_destroy(&layers, report, sizeof(report)) > 0) {
		fprintf(stderr, "vm suite: leftovers: %s\n", report);
		failed++;
	}
	return failed ? 1 : 0;
}
