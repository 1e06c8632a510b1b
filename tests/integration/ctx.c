/* What the container suites share: see ctx.h. */
#include "ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/messages.h"
#include "harness.h"
#include "layers.h"

struct layer_set layers;
bool layers_ok;
char layers_error[GCS_ERROR_MESSAGE_MAX];

/* ---- fixtures ---- */

/* Check's parent, after each test: whatever a failed test left (it exits at once) goes. */
void ctx_after_test(void)
{
	char report[4096];

	if (layers_sweep_tests(&layers, report, sizeof(report)) > 0)
		fprintf(stderr, "test_containers: cleaned up after a failed test: %s\n", report);
}

/* Each test's child. */
void ctx_test_setup(void)
{
	ck_assert_msg(layers_ok, "building the layer images: %s", layers_error);
}

/* ---- a test's context ---- */

void on_note(void *user, const struct gcs_proto_notification *n)
{
	struct ctx *c = user;

	pthread_mutex_lock(&c->lock);
	if (c->n_notes < ARRAY_SIZE(c->notes)) {
		snprintf(c->notes[c->n_notes].cid, sizeof(c->notes[0].cid), "%s",
			 n->base.container_id ? n->base.container_id : "");
		snprintf(c->notes[c->n_notes].type, sizeof(c->notes[0].type), "%s",
			 n->type ? n->type : "");
	}
	c->n_notes++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Waits up to timeout_ms for at least n notifications; returns how many there are. */
size_t notes_wait(struct ctx *c, size_t n, int timeout_ms)
{
	struct timespec ts;
	size_t got;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	while (c->n_notes < n && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
		;
	got = c->n_notes;
	pthread_mutex_unlock(&c->lock);
	return got;
}

/* Exactly one notification, for the container, of that type; nothing more comes. */
void expect_one_note(struct ctx *c, const char *type)
{
	ck_assert_msg(notes_wait(c, 1, STEP_MS) >= 1, "no notification for %s", c->cid);
	usleep(QUIET_MS * 1000);
	pthread_mutex_lock(&c->lock);
	ck_assert_msg(c->n_notes == 1, "%zu notifications, want 1", c->n_notes);
	ck_assert_str_eq(c->notes[0].cid, c->cid);
	ck_assert_str_eq(c->notes[0].type, type);
	pthread_mutex_unlock(&c->lock);
}

size_t notes_now(struct ctx *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n_notes;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/*
 * A test directory with the disks (base layer: SCSI controller 0 LUN 1, read-only; upper layer:
 * pmem 0; blank scratch: SCSI controller 0 LUN 0), and the agent on it (raw: frames on
 * c->ap.raw_fd, no libgcs).
 */
void ctx_start(struct ctx *c, const char *cid, bool disks, bool raw)
{
	pthread_condattr_t ca;
	struct gcs_error err = { 0 };
	char scratch[256];

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	OK(env_create(&c->env, &layers, &err));
	if (disks) {
		OK(env_add_scsi(&c->env, layers.base, true, 0, 1, &err));
		OK(env_add_pmem(&c->env, layers.upper, 0, &err));
		OK(env_blank_image(&c->env, "scratch.img", 64 << 20, scratch, sizeof(scratch),
				   &err));
		OK(env_add_scsi(&c->env, scratch, false, 0, 0, &err));
	}
	snprintf(c->cid, sizeof(c->cid), "%s", cid);
	snprintf(c->scsi_layer, sizeof(c->scsi_layer), "%s/mounts/scsi/m0", c->env.run);
	snprintf(c->pmem_layer, sizeof(c->pmem_layer), "%s/layers/p0", c->env.run);
	snprintf(c->bundle, sizeof(c->bundle), "%s/gcs/c/%s", c->env.run, cid);
	snprintf(c->rootfs, sizeof(c->rootfs), "%s/rootfs", c->bundle);
	snprintf(c->scratch_dir, sizeof(c->scratch_dir), "%s/scratch/%s", c->bundle, cid);
	agent_start_opts(&c->ap, &(struct agent_start_opts){ .raw = raw,
							     .args = c->env.args,
							     .call_timeout_ms = STEP_MS,
							     .on_notification = on_note,
							     .user = c });
	ck_assert_int_eq(env_set_agent(&c->env, c->ap.pid), 0);
}

/*
 * The end of every test: nothing the agent should have removed is left (mounts in our table and
 * the agent's, runc state), the agent is clean (fds, zombies, exit), and the fixture's own
 * teardown finds nothing (no mount, no loop device attached to an image under the suite's dir).
 */
void ctx_stop(struct ctx *c)
{
	char report[4096] = "";
	int n;

	ck_assert_msg(env_leftovers(&c->env, c->ap.pid, report, sizeof(report)) == 0,
		      "left behind by the agent: %s", report);
	agent_stop(&c->ap);
	c->env.agent = 0;
	n = env_destroy(&c->env, report, sizeof(report));
	ck_assert_msg(n == 0, "teardown found: %s", report);
	report[0] = '\0';
	ck_assert_msg(loops_backed_under(c->env.suite, report, sizeof(report)) == 0,
		      "loop devices left: %s", report);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

/* ---- what the agent did, seen from outside ---- */

/* A file as the agent sees it (through its root, in case it has a mount namespace of its own). */
int agent_read(struct ctx *c, const char *path, char *buf, size_t len)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%d/root%s", c->ap.pid, path);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

void expect_file(struct ctx *c, const char *path, const char *text)
{
	char buf[1024];
	int rc = agent_read(c, path, buf, sizeof(buf));

	ck_assert_msg(rc == 0, "read %s: %s", path, strerror(-rc));
	ck_assert_str_eq(buf, text);
}

void expect_no_file(struct ctx *c, const char *path)
{
	char buf[64];
	int rc = agent_read(c, path, buf, sizeof(buf));

	ck_assert_msg(rc == -ENOENT, "%s: %s, want ENOENT", path,
		      rc == 0 ? "exists" : strerror(-rc));
}

void expect_mounted(struct ctx *c, const char *path, const char *fstype)
{
	char got[64];
	int rc = mount_fstype(c->ap.pid, path, got, sizeof(got));

	ck_assert_msg(rc == 0, "nothing mounted at %s", path);
	ck_assert_msg(strcmp(got, fstype) == 0, "%s at %s, want %s", got, path, fstype);
}

void expect_unmounted(struct ctx *c, const char *path)
{
	char got[64];

	ck_assert_msg(mount_fstype(c->ap.pid, path, got, sizeof(got)) == -ENOENT,
		      "%s still mounted at %s", got, path);
	ck_assert_msg(mount_fstype(0, path, got, sizeof(got)) == -ENOENT,
		      "%s still mounted at %s (our namespace)", got, path);
}

void expect_nothing_mounted(struct ctx *c)
{
	char report[2048] = "";

	ck_assert_msg(mounts_under(0, c->env.dir, report, sizeof(report)) == 0 &&
			      mounts_under(c->ap.pid, c->env.dir, report, sizeof(report)) == 0,
		      "%s", report);
}

void expect_unplugged(struct ctx *c, unsigned lun)
{
	char buf[16];

	ck_assert_int_eq(env_unplugged(&c->env, 0, lun, buf, sizeof(buf)), 0);
	ck_assert_msg(buf[0] == '1', "LUN %u: the agent did not write 1 to delete (\"%s\")", lun,
		      buf);
}

bool runc_state_exists(struct ctx *c)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", c->env.runc_root, c->cid);
	return stat(p, &st) == 0;
}

/* ---- storage, hcsshim's order ---- */

void storage_up(struct ctx *c)
{
	const char *const lower[] = { c->pmem_layer, c->scsi_layer }; /* top-most first */
	struct gcs_error err = { 0 };
	char p[PATH_MAX];

	OK(gcs_add_scsi_layer(c->ap.b, 0, 1, c->scsi_layer, true, &err));
	expect_mounted(c, c->scsi_layer, "ext4");
	snprintf(p, sizeof(p), "%s%s", c->scsi_layer, LAYERS_BASE_FILE);
	expect_file(c, p, LAYERS_BASE_TEXT "\n");
	OK(gcs_add_pmem_layer(c->ap.b, 0, c->pmem_layer, &err));
	expect_mounted(c, c->pmem_layer, "ext4");
	snprintf(p, sizeof(p), "%s%s", c->pmem_layer, LAYERS_UPPER_FILE);
	expect_file(c, p, LAYERS_UPPER_TEXT "\n");
	/* The scratch disk is blank: EnsureFilesystem makes the agent format it. */
	OK(gcs_add_scratch_disk(c->ap.b, 0, 0, c->bundle, &err));
	expect_mounted(c, c->bundle, "ext4");
	OK(gcs_combine_layers(c->ap.b, c->cid, c->rootfs, lower, 2, c->scratch_dir, &err));
	expect_mounted(c, c->rootfs, "overlay");
	snprintf(p, sizeof(p), "%s%s", c->rootfs, LAYERS_UPPER_FILE);
	expect_file(c, p, LAYERS_UPPER_TEXT "\n");
	snprintf(p, sizeof(p), "%s%s", c->rootfs, LAYERS_BASE_FILE);
	expect_file(c, p, LAYERS_BASE_TEXT "\n");
	snprintf(p, sizeof(p), "%s%s", c->rootfs, LAYERS_WHITED_OUT);
	expect_no_file(c, p);
}

void remove_overlay(struct ctx *c)
{
	struct gcs_error err = { 0 };

	OK(gcs_uncombine_layers(c->ap.b, c->rootfs, &err));
	expect_unmounted(c, c->rootfs);
}

void remove_disks(struct ctx *c)
{
	struct gcs_error err = { 0 };

	OK(gcs_remove_scsi_disk(c->ap.b, 0, 0, c->bundle, &err));
	expect_unmounted(c, c->bundle);
	expect_unplugged(c, 0);
	OK(gcs_remove_pmem_layer(c->ap.b, 0, c->pmem_layer, &err));
	expect_unmounted(c, c->pmem_layer);
	OK(gcs_remove_scsi_disk(c->ap.b, 0, 1, c->scsi_layer, &err));
	expect_unmounted(c, c->scsi_layer);
	expect_unplugged(c, 1);
	expect_nothing_mounted(c);
}

void delete_state(struct ctx *c)
{
	struct gcs_error err = { 0 };

	OK(gcs_delete_container_state(c->ap.b, c->cid, &err));
	ck_assert_msg(!runc_state_exists(c), "runc state of %s left after DeleteContainerState",
		      c->cid);
}

/* ---- OCI documents ---- */

/* hcsshim's spec after createLCOWSpec, for busybox: runc's usual mounts, no network namespace. */
static const char spec_template[] =
	"{\"ociVersion\":\"1.1.0\","
	"\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[],"
	"\"env\":[\"PATH=/bin:/sbin:/usr/bin\",\"TERM=xterm\"],\"cwd\":\"/\"},"
	"\"root\":{\"path\":\"\"},\"hostname\":\"\","
	"\"mounts\":["
	"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	"{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
	"\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
	"\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\"]},"
	"{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
	"{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]}],"
	"\"linux\":{\"cgroupsPath\":\"\","
	"\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
	"{\"type\":\"mount\"}],"
	"\"maskedPaths\":[\"/proc/kcore\",\"/proc/keys\",\"/proc/timer_list\",\"/sys/firmware\"],"
	"\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
	"\"/proc/sysrq-trigger\"]}}";

json_t *strv(const char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *make_spec(struct ctx *c, const char *const *args, bool terminal)
{
	json_error_t jerr;
	json_t *spec = json_loads(spec_template, 0, &jerr);
	json_t *process;

	ck_assert_msg(spec != NULL, "spec template: %s", jerr.text);
	process = json_object_get(spec, "process");
	json_object_set_new(process, "args", strv(args));
	json_object_set_new(process, "terminal", json_boolean(terminal));
	json_object_set_new(json_object_get(spec, "root"), "path", json_string(c->rootfs));
	json_object_set_new(spec, "hostname", json_string("lcow-ct"));
	return spec;
}

json_t *make_process(const char *const *args, bool terminal)
{
	return json_pack("{s:b, s:{s:i, s:i}, s:o, s:[s], s:s}", "terminal", terminal, "user",
			 "uid", 0, "gid", 0, "args", strv(args), "env", "PATH=/bin:/sbin:/usr/bin",
			 "cwd", "/");
}

int create(struct ctx *c, json_t *spec, struct gcs_error *err)
{
	int rc = gcs_create_container_spec(c->ap.b, c->cid, c->bundle, spec, c->scratch_dir, err);

	json_decref(spec);
	return rc;
}

/* ---- stdio ---- */

void append(char *buf, size_t cap, size_t *len, const char *data, size_t n)
{
	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(buf + *len, data, n);
	*len += n;
	buf[*len] = '\0';
}

/* Reads fd into buf until needle shows up (NULL: until EOF); asserts on the deadline. */
void read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!needle || !strstr(buf, needle)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char chunk[4096];
		ssize_t n;
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		ck_assert_msg(ms < STEP_MS && poll(&pfd, 1, (int)(STEP_MS - ms)) > 0,
			      "no %s within %d ms; got \"%s\"", needle ? needle : "EOF", STEP_MS,
			      buf);
		n = read(fd, chunk, sizeof(chunk));
		ck_assert_int_ge(n, 0);
		if (n == 0) {
			ck_assert_msg(!needle, "EOF before %s; got \"%s\"", needle, buf);
			return;
		}
		append(buf, cap, len, chunk, (size_t)n);
	}
}

/* An exec with stdout and stderr; returns its exit code with both outputs. */
uint32_t exec_in(struct ctx *c, const char *const *args, char *out, size_t out_cap, char *errs,
		 size_t err_cap)
{
	struct gcs_stdio st[3] = {
		[GCS_STDOUT] = { GCS_STDIO_SOCKET }, [GCS_STDERR] = { GCS_STDIO_SOCKET }
	};
	json_t *proc = make_process(args, false);
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	size_t out_len = 0, err_len = 0;
	uint32_t code;
	int rc;

	out[0] = errs[0] = '\0';
	rc = gcs_container_exec(c->ap.b, c->cid, proc, st, &p, &err);
	json_decref(proc);
	ck_assert_msg(rc == 0, "exec %s: %s", args[0], err.message);
	ck_assert_uint_gt(gcs_process_pid(p), 0);
	read_until(gcs_process_stdio_fd(p, GCS_STDOUT), out, out_cap, &out_len, NULL);
	read_until(gcs_process_stdio_fd(p, GCS_STDERR), errs, err_cap, &err_len, NULL);
	OK(gcs_process_wait(p, STEP_MS, &code, &err));
	gcs_process_free(p);
	return code;
}

struct gcs_process *start_init(struct ctx *c, const struct gcs_stdio st[3])
{
	struct gcs_error err = { 0 };
	struct gcs_process *p;

	OK(gcs_start_container(c->ap.b, c->cid, &err));
	OK(gcs_start_init(c->ap.b, c->cid, st, &p, &err));
	ck_assert_uint_gt(gcs_process_pid(p), 0);
	return p;
}

int ctx_run_suite(Suite *s, const char *name)
{
	struct gcs_error err = { 0 };
	char report[4096];
	SRunner *sr;
	int failed;

	layers_ok = layers_build(&layers, &err) == 0;
	if (!layers_ok)
		snprintf(layers_error, sizeof(layers_error), "%s", err.message);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (layers_destroy(&layers, report, sizeof(report)) > 0) {
		fprintf(stderr, "%s: left behind: %s\n", name, report);
		failed++;
	}
	return failed ? 1 : 0;
}
