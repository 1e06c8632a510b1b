/*
 * Unit tests of the agent's storage (guest/gcs/storage*.c, path.c, dm.c): path checks, the SCSI
 * controller/LUN lookup against stand-in sysfs trees (VMBus and virtio layouts), filesystem
 * detection, mount options, the dm table layout, and the ModifySettings handlers driven directly
 * with a minimal agent whose bridge is one end of a socketpair.
 *
 * Every test runs in its own mount namespace (unshare in the checked fixture, in the forked
 * test process): whatever it mounts goes away with it, even when it fails half-way. Loop devices
 * are attached with LO_FLAGS_AUTOCLEAR, so they detach once their last mount and fd are gone.
 * The temporary tree is removed by the unchecked teardown, in the parent. Needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/dm-ioctl.h>
#include <linux/loop.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "child.h"
#include "dm.h"
#include "gcs/frame.h"
#include "gcs/messages.h"
#include "gcs/msgtype.h"
#include "hostpath.h"
#include "path.h"
#include "request.h"
#include "storage.h"
#include "storage_dev.h"
#include "storage_mount.h"
#include "testutil.h"
#include "fsutil.h"

#define Z GCS_NULL_GUID_STRING
#define GUID0 "df6d0690-79e5-55b6-a5ec-c1e2f77f580a"
#define GUID1 "0110f83b-de10-5172-a266-78bca56bf50a"
#define REPLY_TIMEOUT_MS 20000

/* The temporary tree of a test case (unchecked fixture, in the parent). */
static char base[PATH_MAX];

/* One test's world (checked fixture, in the forked test process). */
static struct {
	struct agent a;
	int peer; /* the host's end of the bridge */
	char dir[PATH_MAX];
	char run[PATH_MAX], sys[PATH_MAX], dev[PATH_MAX];
} t;

struct reply {
	int32_t result;
	char message[GCS_ERROR_MESSAGE_MAX];
};

/* ---- helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *tpathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *tpathf(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return buf;
}

static void mkdirs(const char *path)
{
	ck_assert_msg(mkdir_p(path, 0755) == 0, "mkdir -p %s: %s", path, strerror(errno));
}

static void write_file(const char *path, const char *text)
{
	char dir[PATH_MAX];
	FILE *f;

	ck_assert_int_eq(path_dirname(path, dir, sizeof(dir)), 0);
	mkdirs(dir);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "create %s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool is_mount(const char *path)
{
	return storage_is_mount_point(path) == 1;
}

/* Mounts whose mount point lies in this test's tree (from /proc/self/mountinfo). */
static int mounts_under(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], mp[PATH_MAX];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && path_is_within(mp, dir))
			n++;
	fclose(f);
	return n;
}

static void make_image(const char *path, off_t size, bool ext4)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	close(fd);
	if (ext4) {
		char cmd[PATH_MAX + 64];
		snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s >/dev/null 2>&1", path);
		ck_assert_int_eq(system(cmd), 0);
	}
}

/*
 * Attaches file to a free loop device with autoclear and links <dev>/<name> to it. Returns the
 * loop device's fd: it stays attached while that fd is open or the device is mounted.
 */
static int loop_attach(const char *file, const char *name)
{
	char dev[64], link[PATH_MAX];
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int ffd = open(file, O_RDWR | O_CLOEXEC);
	int lfd = -1;

	ck_assert_int_ge(ctl, 0);
	ck_assert_int_ge(ffd, 0);
	for (int i = 0; i < 20 && lfd < 0; i++) {
		struct loop_config cfg = { .fd = (uint32_t)ffd };
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);

		ck_assert_int_ge(n, 0);
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		ck_assert_msg(lfd >= 0, "open %s: %s", dev, strerror(errno));
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) < 0) {
			/* taken by someone else in the meantime */
			ck_assert_int_eq(errno, EBUSY);
			close(lfd);
			lfd = -1;
		}
	}
	ck_assert_int_ge(lfd, 0);
	close(ffd);
	close(ctl);
	ck_assert_int_eq(symlink(dev, tpathf(link, "%s/%s", t.dev, name)), 0);
	return lfd;
}

/* A stand-in sysfs with VMBus: controller index ctl is SCSI host `host`, LUN lun is disk. */
static void fake_vmbus_disk(unsigned ctl, unsigned host, unsigned lun, const char *disk)
{
	char p[PATH_MAX];

	mkdirs(tpathf(p, "%s/bus/vmbus/devices/%s/host%u", t.sys,
		      gcs_proto_scsi_controller_guid(ctl), host));
	mkdirs(tpathf(p, "%s/bus/scsi/devices/%u:0:0:%u/block/%s", t.sys, host, lun, disk));
}

/* The bridge's part: what the agent queues goes straight to the host's end. */
static void flush_outbox(struct outbox *o)
{
	ck_assert_int_eq(outbox_flush(o, t.a.bridge.fd), 0);
}

static void on_peer_readable(struct loop_source *s, uint32_t events)
{
	(void)s, (void)events;
	loop_quit(t.a.loop, 0);
}

static void on_reply_timeout(struct loop_timer *tm)
{
	(void)tm;
	loop_quit(t.a.loop, 1);
}

/*
 * Runs the loop until a response reaches the host's end, reads it, and gives the agent a fresh
 * loop (a loop stays quit once loop_quit was called). Nothing else may be pending on the loop.
 */
static struct reply wait_reply(void)
{
	struct loop_source src = { 0 };
	struct loop_timer timer = { 0 };
	struct gcs_proto_response_base resp = { 0 };
	struct gcs_error err = { 0 };
	struct reply r = { 0 };
	struct gcs_header h;
	char *body;
	size_t len;

	ck_assert_int_eq(loop_add(t.a.loop, &src, t.peer, EPOLLIN, on_peer_readable), 0);
	loop_timer_arm(t.a.loop, &timer, REPLY_TIMEOUT_MS, on_reply_timeout);
	ck_assert_msg(loop_run(t.a.loop) == 0, "no reply within %d ms", REPLY_TIMEOUT_MS);
	loop_timer_cancel(t.a.loop, &timer);
	loop_del(t.a.loop, &src);
	ck_assert_int_eq(
		gcs_proto_read_frame(t.peer, GCS_DEFAULT_MAX_INBOUND, 1000, &h, &body, &len), 0);
	ck_assert_uint_eq(h.type, GCS_MSG_MODIFY_SETTINGS_RESP);
	ck_assert_int_eq(gcs_proto_decode(h.type, body, len, &resp, &err), 0);
	r.result = resp.result;
	snprintf(r.message, sizeof(r.message), "%s", resp.error_message ? resp.error_message : "");
	gcs_proto_release(&resp);
	free(body);
	loop_free(t.a.loop);
	ck_assert_int_eq(loop_new(&t.a.loop), 0);
	return r;
}

/*
 * Sends one ModifySettings (null container ID) through storage_handle_modify and returns the
 * answer the bridge would send. request_type NULL leaves RequestType out; settings is JSON.
 */
static struct reply modify(const char *request_type, const char *resource, const char *settings)
{
	struct request *req = request_new(&t.a, GCS_MSG_MODIFY_SETTINGS_REQ, 7);
	struct gcs_error err = { 0 };
	struct reply r = { 0 };
	char body[8192];
	int rc;

	snprintf(body, sizeof(body),
		 "{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z "\",\"Request\":{%s%s%s"
		 "\"ResourceType\":\"%s\"%s%s}}",
		 request_type ? "\"RequestType\":\"" : "", request_type ? request_type : "",
		 request_type ? "\"," : "", resource, settings ? ",\"Settings\":" : "",
		 settings ? settings : "");
	ck_assert_ptr_nonnull(req);
	rc = gcs_proto_decode(GCS_MSG_MODIFY_SETTINGS_REQ, body, strlen(body), &req->m, &err);
	ck_assert_msg(rc == 0, "decode %s: %s", body, err.message);
	req->decoded = true;
	rc = storage_handle_modify(req, &err);
	if (rc == REQUEST_KEPT)
		return wait_reply();
	request_drop(req);
	if (rc < 0) {
		ck_assert_int_ne(err.hresult, HR_OK);
		r.result = err.hresult;
		snprintf(r.message, sizeof(r.message), "%s", err.message);
	}
	return r;
}

#define ck_assert_ok(r) ck_assert_msg((r).result == 0, "failed: 0x%08x %s", (r).result, (r).message)
#define ck_assert_fails(r, hr, text)                                                         \
	do {                                                                                 \
		struct reply r_ = (r);                                                       \
		ck_assert_msg(r_.result == (hr), "expected 0x%08x, got 0x%08x \"%s\"", (hr), \
			      r_.result, r_.message);                                        \
		ck_assert_msg(strstr(r_.message, (text)) != NULL, "\"%s\" lacks \"%s\"",     \
			      r_.message, (text));                                           \
	} while (0)

/* ---- fixtures ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void case_setup(void)
{
	snprintf(base, sizeof(base), "/tmp/lcow-storage-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void case_teardown(void)
{
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void setup(void)
{
	int sv[2];

	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s (the suite needs root)",
		      strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	tpathf(t.dir, "%s/tXXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(t.dir));
	mkdirs(tpathf(t.run, "%s/run", t.dir));
	mkdirs(tpathf(t.sys, "%s/sys", t.dir));
	mkdirs(tpathf(t.dev, "%s/dev", t.dir));

	memset(&t.a, 0, sizeof(t.a));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t.a.bridge.fd = sv[0];
	t.a.bridge.conn = 1;
	t.peer = sv[1];
	list_init(&t.a.requests);
	list_init(&t.a.processes);
	list_init(&t.a.pending_execs);
	list_init(&t.a.helpers);
	list_init(&t.a.mounts);
	list_init(&t.a.containers);
	outbox_init(&t.a.out, flush_outbox);
	outbox_connect(&t.a.out, 1);
	outbox_negotiated(&t.a.out);
	t.a.bridge.negotiated = true;
	ck_assert_int_eq(loop_new(&t.a.loop), 0);
	snprintf(t.a.opt.run_root, sizeof(t.a.opt.run_root), "%s", t.run);
	snprintf(t.a.opt.sysfs_root, sizeof(t.a.opt.sysfs_root), "%s", t.sys);
	snprintf(t.a.opt.dev_root, sizeof(t.a.opt.dev_root), "%s", t.dev);
	ck_assert_int_eq(hostpath_open_root(&t.a), 0);
	{
		char spec[PATH_MAX];
		ck_assert_int_eq(
			transport_parse(tpathf(spec, "unix:%s/hv", t.dir), &t.a.opt.transport), 0);
	}
	storage_set_device_timeout_ms(5000);
}

static void teardown(void)
{
	/* in main's order */
	child_kill_all(&t.a);
	storage_cleanup(&t.a);
	ck_assert_int_eq(mounts_under(t.dir), 0);
	request_drop_all(&t.a);
	outbox_clear(&t.a.out);
	loop_free(t.a.loop);
	close(t.a.root_fd);
	close(t.a.bridge.fd);
	close(t.peer);
}

/* ---- storage_check_path ---- */

static int check(const char *path)
{
	struct gcs_error err = { 0 };
	int rc = storage_check_path(&t.a, "MountPath", path, &err);

	if (rc < 0) {
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_int_eq(err.hresult, HR_INVALIDARG);
		ck_assert_ptr_nonnull(strstr(err.message, "MountPath"));
	}
	return rc;
}

START_TEST(test_check_path_good)
{
	char p[PATH_MAX];

	ck_assert_int_eq(check(tpathf(p, "%s/a", t.run)), 0);
	ck_assert_int_eq(check(tpathf(p, "%s/gcs/c/abc/rootfs", t.run)), 0);
	mkdirs(tpathf(p, "%s/mounts/scsi", t.run));
	ck_assert_int_eq(check(tpathf(p, "%s/mounts/scsi/m0", t.run)), 0);
	ck_assert_int_eq(check(tpathf(p, "%s/mounts/scsi", t.run)), 0);
	ck_assert_int_eq(check(tpathf(p, "%s/.hidden/..x/...", t.run)), 0);
}
END_TEST

START_TEST(test_check_path_lexical)
{
	char p[PATH_MAX];

	ck_assert_int_eq(check(""), -EINVAL);
	ck_assert_int_eq(check(NULL), -EINVAL);
	ck_assert_int_eq(check("run/a"), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/a/../b", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/..", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/./a", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/a/.", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s//a", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/a/", t.run)), -EINVAL);
	/* the root itself is not strictly below it, and neither is its parent or a sibling */
	ck_assert_int_eq(check(t.run), -EINVAL);
	ck_assert_int_eq(check(t.dir), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%sx/a", t.run)), -EINVAL);
	ck_assert_int_eq(check("/etc/passwd"), -EINVAL);
	ck_assert_int_eq(check("/"), -EINVAL);
}
END_TEST

START_TEST(test_check_path_symlinks)
{
	char p[PATH_MAX], target[PATH_MAX];

	/* pointing outside: as a component, as the final name, relative, dangling */
	ck_assert_int_eq(symlink("/etc", tpathf(p, "%s/out", t.run)), 0);
	ck_assert_int_eq(check(tpathf(p, "%s/out/x", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/out/passwd", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/out", t.run)), -EINVAL);
	ck_assert_int_eq(symlink("../..", tpathf(p, "%s/up", t.run)), 0);
	ck_assert_int_eq(check(tpathf(p, "%s/up/new", t.run)), -EINVAL);
	ck_assert_int_eq(symlink("/nonexistent/lcow", tpathf(p, "%s/dangling", t.run)), 0);
	ck_assert_int_eq(check(tpathf(p, "%s/dangling", t.run)), -EINVAL);
	/* pointing inside: refused too (no symlink under the run root is followed) */
	mkdirs(tpathf(target, "%s/real/dir", t.run));
	ck_assert_int_eq(symlink(target, tpathf(p, "%s/in", t.run)), 0);
	ck_assert_int_eq(check(tpathf(p, "%s/in/x/y", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/in", t.run)), -EINVAL);
	ck_assert_int_eq(symlink("real", tpathf(p, "%s/rel", t.run)), 0);
	ck_assert_int_eq(check(tpathf(p, "%s/rel/dir/z", t.run)), -EINVAL);
	ck_assert_int_eq(check(tpathf(p, "%s/real/dir/z", t.run)), 0);
	/* a handler refuses such a path and creates nothing */
	ck_assert_fails(modify("Add", "CombinedLayers",
			       tpathf(p,
				      "{\"ContainerRootPath\":\"%s/out/rootfs\",\"Layers\":"
				      "[{\"Path\":\"%s/real\"}]}",
				      t.run, t.run)),
			HR_INVALIDARG, "goes through a symlink");
	ck_assert(!exists("/etc/rootfs"));
	/* a symlink inside as the mount point itself: mount would follow it, unmount would not */
	ck_assert_fails(modify("Add", "CombinedLayers",
			       tpathf(p,
				      "{\"ContainerRootPath\":\"%s/in\",\"Layers\":"
				      "[{\"Path\":\"%s/real\"}]}",
				      t.run, t.run)),
			HR_INVALIDARG, "symlink");
}
END_TEST

START_TEST(test_path_helpers)
{
	char buf[PATH_MAX], p[PATH_MAX];
	bool created = false;

	ck_assert(path_is_normalized("/a/b"));
	ck_assert(!path_is_normalized("/"));
	ck_assert(!path_is_normalized("a"));
	ck_assert(!path_is_normalized("/a//b"));
	ck_assert(path_is_below("/run/a", "/run"));
	ck_assert(!path_is_below("/run", "/run"));
	ck_assert(!path_is_below("/runx", "/run"));
	ck_assert(path_is_below("/x", "/"));
	ck_assert_int_eq(path_dirname("/a/b", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/a");
	ck_assert_int_eq(path_dirname("/a", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/");
	ck_assert_int_eq(mkdir_p_created(tpathf(p, "%s/x/y/z", t.run), 0755, &created), 0);
	ck_assert(created);
	ck_assert_int_eq(mkdir_p_created(p, 0755, &created), 0);
	ck_assert(!created);
	write_file(tpathf(p, "%s/file", t.run), "x");
	ck_assert_int_eq(mkdir_p(tpathf(p, "%s/file/sub", t.run), 0755), -ENOTDIR);
}
END_TEST

/* ---- SCSI lookup ---- */

static int resolve(unsigned ctl, unsigned lun, uint64_t part, char *out, struct gcs_error *err)
{
	gcs_error_clear(err);
	return storage_scsi_resolve(t.sys, t.dev, ctl, lun, part, out, PATH_MAX, err);
}

START_TEST(test_scsi_vmbus)
{
	struct gcs_error err = { 0 };
	char out[PATH_MAX], p[PATH_MAX];
	unsigned host = 99;

	ck_assert_str_eq(gcs_proto_scsi_controller_guid(0), GUID0);
	ck_assert_str_eq(gcs_proto_scsi_controller_guid(1), GUID1);
	fake_vmbus_disk(1, 3, 2, "sdc");
	ck_assert_int_eq(storage_scsi_host(t.sys, 1, &host, &err), 0);
	ck_assert_uint_eq(host, 3);
	/* the disk shows in sysfs before its node exists */
	ck_assert_int_eq(resolve(1, 2, 0, out, &err), -EAGAIN);
	ck_assert_ptr_nonnull(strstr(err.message, "does not exist"));
	write_file(tpathf(p, "%s/sdc", t.dev), "");
	ck_assert_int_eq(resolve(1, 2, 0, out, &err), 0);
	ck_assert_str_eq(out, tpathf(p, "%s/sdc", t.dev));
	/* a partition */
	ck_assert_int_eq(resolve(1, 2, 1, out, &err), -EAGAIN);
	write_file(tpathf(p, "%s/sdc1", t.dev), "");
	ck_assert_int_eq(resolve(1, 2, 1, out, &err), 0);
	ck_assert_str_eq(out, tpathf(p, "%s/sdc1", t.dev));
	/* another LUN, another controller, an index out of range */
	ck_assert_int_eq(resolve(1, 3, 0, out, &err), -EAGAIN);
	ck_assert_ptr_nonnull(strstr(err.message, "LUN 3"));
	ck_assert_int_eq(resolve(0, 2, 0, out, &err), -EAGAIN);
	ck_assert_ptr_nonnull(strstr(err.message, GUID0));
	ck_assert_int_eq(resolve(4, 0, 0, out, &err), -EINVAL);
	ck_assert_int_eq(err.hresult, HR_INVALIDARG);
	/* two block devices for one LUN */
	mkdirs(tpathf(p, "%s/bus/scsi/devices/3:0:0:2/block/sdd", t.sys));
	ck_assert_int_eq(resolve(1, 2, 0, out, &err), -ENOTUNIQ);
}
END_TEST

START_TEST(test_scsi_virtio)
{
	static const struct {
		unsigned virtio, host;
	} ctls[] = { { 10, 5 }, { 2, 1 }, { 9, 3 } };
	struct gcs_error err = { 0 };
	char out[PATH_MAX], p[PATH_MAX];
	unsigned host;

	/* no VMBus: virtio-scsi controllers in ascending virtio number, not name order */
	for (size_t i = 0; i < 3; i++) {
		mkdirs(tpathf(p, "%s/bus/virtio/drivers/virtio_scsi/virtio%u/host%u", t.sys,
			      ctls[i].virtio, ctls[i].host));
		mkdirs(tpathf(p, "%s/bus/virtio/drivers/virtio_scsi/virtio%u/driver", t.sys,
			      ctls[i].virtio));
	}
	write_file(tpathf(p, "%s/bus/virtio/drivers/virtio_scsi/bind", t.sys), "");
	write_file(tpathf(p, "%s/bus/virtio/drivers/virtio_scsi/uevent", t.sys), "");
	mkdirs(tpathf(p, "%s/bus/virtio/drivers/virtio_scsi/module", t.sys));
	ck_assert_int_eq(storage_scsi_host(t.sys, 0, &host, &err), 0);
	ck_assert_uint_eq(host, 1);
	ck_assert_int_eq(storage_scsi_host(t.sys, 1, &host, &err), 0);
	ck_assert_uint_eq(host, 3);
	ck_assert_int_eq(storage_scsi_host(t.sys, 2, &host, &err), 0);
	ck_assert_uint_eq(host, 5);
	ck_assert_int_eq(storage_scsi_host(t.sys, 3, &host, &err), -EAGAIN);
	ck_assert_ptr_nonnull(strstr(err.message, "only 3 virtio-scsi controllers"));

	mkdirs(tpathf(p, "%s/bus/scsi/devices/3:0:0:0/block/sdb", t.sys));
	write_file(tpathf(p, "%s/sdb", t.dev), "");
	ck_assert_int_eq(resolve(1, 0, 0, out, &err), 0);
	ck_assert_str_eq(out, tpathf(p, "%s/sdb", t.dev));
}
END_TEST

START_TEST(test_partition_names)
{
	char buf[64];

	ck_assert_int_eq(storage_partition_name("sdb", 0, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "sdb");
	ck_assert_int_eq(storage_partition_name("sdb", 1, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "sdb1");
	ck_assert_int_eq(storage_partition_name("sdaa", 12, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "sdaa12");
	ck_assert_int_eq(storage_partition_name("loop3", 2, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "loop3p2");
	ck_assert_int_eq(storage_partition_name("nvme0n1", 1, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "nvme0n1p1");
	ck_assert_int_eq(storage_partition_name("sdb", 1, buf, 4), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_scsi_timeout)
{
	char p[PATH_MAX], settings[PATH_MAX + 64];
	int64_t start;
	struct reply r;

	/* the controller is there, LUN 5 never shows up */
	mkdirs(tpathf(p, "%s/bus/vmbus/devices/" GUID0 "/host0", t.sys));
	storage_set_device_timeout_ms(150);
	snprintf(settings, sizeof(settings), "{\"MountPath\":\"%s/m/m0\",\"Lun\":5}", t.run);
	start = now_ms();
	r = modify("Add", "MappedVirtualDisk", settings);
	ck_assert_int_ge(now_ms() - start, 150);
	ck_assert_int_lt(now_ms() - start, 5000);
	ck_assert_fails(r, HR_FAIL, "timed out after 150 ms");
	ck_assert_ptr_nonnull(strstr(r.message, "LUN 5"));
	ck_assert_ptr_nonnull(strstr(r.message, "MappedVirtualDisk Add"));
	/* nothing was created or kept */
	ck_assert(!exists(tpathf(p, "%s/m", t.run)));
	storage_dump(&t.a, p, sizeof(p));
	ck_assert_str_eq(p, "");
	/* a missing pmem device is waited for the same way */
	snprintf(settings, sizeof(settings), "{\"DeviceNumber\":7,\"MountPath\":\"%s/p7\"}", t.run);
	ck_assert_fails(modify("Add", "VPMemDevice", settings), HR_FAIL, "pmem7 does not exist");
}
END_TEST

START_TEST(test_scsi_device_remove)
{
	char p[PATH_MAX], buf[16];

	fake_vmbus_disk(0, 2, 1, "sdb");
	/* nothing to delete: success */
	ck_assert_ok(modify("Remove", "SCSIDevice", "{\"Lun\":4}"));
	ck_assert_ok(modify("Remove", "SCSIDevice", "{\"Controller\":3,\"Lun\":1}"));
	write_file(tpathf(p, "%s/bus/scsi/devices/2:0:0:1/delete", t.sys), "");
	ck_assert_ok(modify("Remove", "SCSIDevice", "{\"Lun\":1}"));
	ck_assert_str_eq(read_file(p, buf, sizeof(buf)), "1\n");
	ck_assert_fails(modify("Add", "SCSIDevice", "{\"Lun\":1}"), HR_FAIL,
			"RequestType \"Add\" is not supported");
	ck_assert_fails(modify("Remove", "SCSIDevice", "{\"Controller\":4}"), HR_INVALIDARG,
			"out of range");
}
END_TEST

/* ---- filesystems, options, dm ---- */

START_TEST(test_fs_probe)
{
	struct gcs_error err = { 0 };
	char p[PATH_MAX], type[16];

	make_image(tpathf(p, "%s/zero.img", t.dir), 8 << 20, false);
	ck_assert_int_eq(storage_fs_probe(p, type, sizeof(type), &err), 0);
	ck_assert_str_eq(type, "");
	make_image(tpathf(p, "%s/ext4.img", t.dir), 8 << 20, true);
	ck_assert_int_eq(storage_fs_probe(p, type, sizeof(type), &err), 0);
	ck_assert_str_eq(type, "ext4");
	make_image(tpathf(p, "%s/tiny.img", t.dir), 100, false);
	ck_assert_int_eq(storage_fs_probe(p, type, sizeof(type), &err), 0);
	ck_assert_str_eq(type, "");
	ck_assert_int_eq(storage_fs_probe(tpathf(p, "%s/missing", t.dir), type, sizeof(type), &err),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.message, "missing"));
	ck_assert(storage_fs_supported("ext4"));
	ck_assert(storage_fs_supported("xfs"));
	ck_assert(!storage_fs_supported("btrfs"));
}
END_TEST

START_TEST(test_mount_options)
{
	static const char *const a[] = { "ro",	    "nosuid",	   "nodev",
					 "noexec",  "relatime",	   "errors=remount-ro",
					 "rshared", "data=ordered" };
	static const char *const b[] = { "ro", "rw", "noatime", "atime", "strictatime", "" };
	static const char *const bad[] = { "bind" };
	static const char *const comma[] = { "a,b" };
	struct storage_mount_opts o;
	struct gcs_error err = { 0 };

	ck_assert_int_eq(storage_mount_options(a, ARRAY_SIZE(a), &o, &err), 0);
	ck_assert_uint_eq(o.flags, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME);
	ck_assert_str_eq(o.data, "errors=remount-ro,data=ordered");
	ck_assert_uint_eq(o.n_propagation, 1);
	ck_assert_uint_eq(o.propagation[0], MS_SHARED | MS_REC);
	ck_assert_int_eq(storage_mount_options(b, ARRAY_SIZE(b), &o, &err), 0);
	ck_assert_uint_eq(o.flags, MS_STRICTATIME);
	ck_assert_str_eq(o.data, "");
	ck_assert_int_eq(storage_mount_options(bad, 1, &o, &err), -EINVAL);
	ck_assert_int_eq(err.hresult, HR_INVALIDARG);
	ck_assert_int_eq(storage_mount_options(comma, 1, &o, &err), -EINVAL);
	ck_assert_int_eq(storage_mount_options(NULL, 0, &o, &err), 0);
	ck_assert_uint_eq(o.flags, 0);
}
END_TEST

START_TEST(test_dm_table)
{
	struct dm_ioctl *d = NULL;
	struct dm_target_spec *s;
	size_t size = 0;

	ck_assert_int_eq(
		dm_table_linear("dm-linear-pmem0-4096-8192", 16, "259:1", 8, true, &d, &size), 0);
	ck_assert_uint_eq(size % 8, 0);
	ck_assert_uint_eq(d->data_size, size);
	ck_assert_uint_eq(d->data_start, sizeof(*d));
	ck_assert_uint_eq(d->version[0], 4);
	ck_assert_uint_eq(d->target_count, 1);
	ck_assert(d->flags & DM_READONLY_FLAG);
	ck_assert_str_eq(d->name, "dm-linear-pmem0-4096-8192");
	s = (struct dm_target_spec *)((char *)d + d->data_start);
	ck_assert_uint_eq(s->sector_start, 0);
	ck_assert_uint_eq(s->length, 16);
	ck_assert_str_eq(s->target_type, "linear");
	ck_assert_str_eq((char *)(s + 1), "259:1 8");
	ck_assert_uint_eq(d->data_start + s->next, size);
	free(d);
	ck_assert(dm_name_valid("dm-linear-pmem1-0-512"));
	ck_assert(!dm_name_valid(""));
	ck_assert(!dm_name_valid("a/b"));
	ck_assert(!dm_name_valid("control"));
	ck_assert_int_eq(dm_table_linear("a/b", 1, "1:1", 0, false, &d, &size), -EINVAL);
}
END_TEST

START_TEST(test_pmem_mapping_checks)
{
	char s[PATH_MAX + 128];

	snprintf(s, sizeof(s),
		 "{\"MountPath\":\"%s/layers/p0-100-4096\",\"MappingInfo\":"
		 "{\"DeviceOffsetInBytes\":100,\"DeviceSizeInBytes\":4096}}",
		 t.run);
	ck_assert_fails(modify("Add", "VPMemDevice", s), HR_INVALIDARG, "multiples of 512");
	snprintf(s, sizeof(s),
		 "{\"MountPath\":\"%s/layers/p0\",\"MappingInfo\":{\"DeviceOffsetInBytes\":512}}",
		 t.run);
	ck_assert_fails(modify("Add", "VPMemDevice", s), HR_INVALIDARG, "non-zero");
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/layers/p0\",\"VerityInfo\":{}}", t.run);
	ck_assert_fails(modify("Add", "VPMemDevice", s), HR_NOTIMPL, "VerityInfo");
	ck_assert_fails(modify("Add", "VPMemDevice", "{\"MountPath\":\"/etc/p0\"}"), HR_INVALIDARG,
			"MountPath");
	ck_assert(!exists(tpathf(s, "%s/layers", t.run)));
}
END_TEST

/* ---- dispatch ---- */

START_TEST(test_resource_types)
{
	ck_assert_fails(modify("Add", "Foo", "{}"), HR_FAIL, "invalid ResourceType Foo");
	ck_assert_fails(modify("Add", "HvSocket", "{}"), HR_FAIL, "invalid ResourceType HvSocket");
	ck_assert_fails(modify("Add", "CWCOWCombinedLayers", "{}"), HR_FAIL,
			"invalid ResourceType");
	ck_assert_fails(modify("Add", "ContainerConstraints", "{}"), HR_FAIL,
			"invalid ResourceType ContainerConstraints");
	ck_assert_fails(modify("Add", "Network", "{}"), HR_INVALIDARG, "is not a GUID");
	ck_assert_fails(modify("Update", "Network", "{}"), HR_FAIL,
			"RequestType \"Update\" is not supported for Network");
	ck_assert_fails(modify("Add", "VPCIDevice", "{}"), HR_NOTIMPL, "not supported yet");
	ck_assert_fails(modify("Add", "SecurityPolicy", "{}"), HR_NOTIMPL, "confidential");
	ck_assert_fails(modify(NULL, "SecurityPolicyFragment", "{}"), HR_NOTIMPL, "confidential");
	ck_assert_fails(modify("Update", "PodCgroupMemoryLimit", NULL), HR_NOTIMPL,
			"not supported");
	ck_assert_fails(modify("Add", "PodCgroupMemoryLimit", NULL), HR_FAIL, "RequestType");
	ck_assert_fails(modify("Frobnicate", "MappedVirtualDisk", "{}"), HR_FAIL,
			"RequestType \"Frobnicate\"");
	ck_assert_fails(modify("Update", "CombinedLayers", "{}"), HR_FAIL, "RequestType");
	/* a MappedVirtualDisk without MountPath is attach-only; RequestType left out = Add */
	ck_assert_ok(modify(NULL, "MappedVirtualDisk", "{\"Lun\":3}"));
	ck_assert_ok(modify("Remove", "MappedVirtualDisk", "{\"Lun\":3}"));
}
END_TEST

START_TEST(test_mvd_refusals)
{
	char s[PATH_MAX + 128], p[PATH_MAX];

	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/m0\",\"Encrypted\":true}", t.run);
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_NOTIMPL, "encrypted");
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/m0\",\"VerityInfo\":{\"RootDigest\":\"ab\"}}",
		 t.run);
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_NOTIMPL, "VerityInfo");
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/m0\",\"Controller\":4}", t.run);
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_INVALIDARG, "Controller 4");
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/m0\",\"Options\":[\"bind\"]}", t.run);
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_INVALIDARG, "bind");
	snprintf(s, sizeof(s),
		 "{\"MountPath\":\"%s/m0\",\"EnsureFilesystem\":true,\"Filesystem\":\"btrfs\"}",
		 t.run);
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_NOTIMPL, "btrfs");
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/m0\",\"Filesystem\":\"../x\"}", t.run);
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_INVALIDARG, "Filesystem");
	ck_assert_fails(modify("Add", "MappedVirtualDisk", "{\"MountPath\":\"relative/m0\"}"),
			HR_INVALIDARG, "MountPath");
	ck_assert(!exists(tpathf(p, "%s/m0", t.run)));
}
END_TEST

/* ---- real mounts: SCSI disks on loop devices ---- */

START_TEST(test_mvd_lifecycle)
{
	char img[PATH_MAX], mp[PATH_MAX], p[PATH_MAX], s[PATH_MAX + 256], buf[64];
	struct statvfs sv;
	int lfd;

	make_image(tpathf(img, "%s/scratch.img", t.dir), 32 << 20, false);
	fake_vmbus_disk(0, 0, 1, "sdb");
	lfd = loop_attach(img, "sdb");
	tpathf(mp, "%s/gcs/c/abc", t.run);

	/* a blank disk is formatted (mkfs.ext4 as a helper), then mounted */
	snprintf(
		s, sizeof(s),
		"{\"MountPath\":\"%s\",\"Lun\":1,\"EnsureFilesystem\":true,\"Filesystem\":\"ext4\"}",
		mp);
	ck_assert_ok(modify("Add", "MappedVirtualDisk", s));
	close(lfd); /* the mount holds the loop device now */
	ck_assert(is_mount(mp));
	write_file(tpathf(p, "%s/kept", mp), "data");
	storage_dump(&t.a, p, sizeof(p));
	ck_assert_ptr_nonnull(strstr(p, mp));
	ck_assert_ptr_nonnull(strstr(p, "MappedVirtualDisk"));

	/* the path is taken; the LUN cannot be unplugged under the mount */
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_INVALIDARG, "already in use");
	ck_assert_fails(modify("Remove", "SCSIDevice", "{\"Lun\":1}"), HR_FAIL, "still in use");
	ck_assert_fails(modify("Remove", "VPMemDevice", tpathf(p, "{\"MountPath\":\"%s\"}", mp)),
			HR_INVALIDARG, "set up by MappedVirtualDisk");

	/* Remove: unmounted, the directory it created removed; a second Remove is harmless */
	ck_assert_ok(
		modify("Remove", "MappedVirtualDisk", tpathf(p, "{\"MountPath\":\"%s\"}", mp)));
	ck_assert(!exists(mp));
	ck_assert_ok(
		modify("Remove", "MappedVirtualDisk", tpathf(p, "{\"MountPath\":\"%s\"}", mp)));

	/* again, read-only: the filesystem is kept (not formatted twice) and mounted ro */
	unlink(tpathf(p, "%s/sdb", t.dev));
	lfd = loop_attach(img, "sdb");
	snprintf(s, sizeof(s),
		 "{\"MountPath\":\"%s\",\"Lun\":1,\"ReadOnly\":true,\"Options\":[\"ro\",\"nodev\"],"
		 "\"EnsureFilesystem\":true}",
		 mp);
	ck_assert_ok(modify("Add", "MappedVirtualDisk", s));
	close(lfd);
	ck_assert_str_eq(read_file(tpathf(p, "%s/kept", mp), buf, sizeof(buf)), "data");
	ck_assert_int_eq(statvfs(mp, &sv), 0);
	ck_assert(sv.f_flag & ST_RDONLY);
	ck_assert(sv.f_flag & ST_NODEV);
	ck_assert_ok(
		modify("Remove", "MappedVirtualDisk", tpathf(p, "{\"MountPath\":\"%s\"}", mp)));
	ck_assert(!is_mount(mp));
}
END_TEST

/* The disk shows up while the request waits: sysfs first, its node a moment later. */
static void on_disk_arrives(struct loop_timer *tm)
{
	(void)tm;
	fake_vmbus_disk(2, 7, 9, "sde");
}

static void on_node_arrives(struct loop_timer *tm)
{
	char from[PATH_MAX], to[PATH_MAX];

	(void)tm;
	ck_assert_int_eq(rename(tpathf(from, "%s/later", t.dev), tpathf(to, "%s/sde", t.dev)), 0);
}

START_TEST(test_mvd_waits_for_disk)
{
	struct loop_timer disk = { 0 }, node = { 0 };
	char img[PATH_MAX], mp[PATH_MAX], s[PATH_MAX + 128];
	int64_t start;
	int lfd;

	make_image(tpathf(img, "%s/late.img", t.dir), 8 << 20, true);
	lfd = loop_attach(img, "later");
	loop_timer_arm(t.a.loop, &disk, 60, on_disk_arrives);
	loop_timer_arm(t.a.loop, &node, 120, on_node_arrives);
	tpathf(mp, "%s/late", t.run);
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s\",\"Controller\":2,\"Lun\":9}", mp);
	start = now_ms();
	ck_assert_ok(modify("Add", "MappedVirtualDisk", s));
	ck_assert_int_ge(now_ms() - start, 120);
	close(lfd);
	ck_assert(is_mount(mp));
}
END_TEST

START_TEST(test_mvd_blockdev_and_errors)
{
	char img[PATH_MAX], mp[PATH_MAX], p[PATH_MAX], s[PATH_MAX + 256], target[PATH_MAX];
	ssize_t n;
	int lfd;

	make_image(tpathf(img, "%s/disk.img", t.dir), 4 << 20, false);
	fake_vmbus_disk(1, 4, 0, "sdc");
	lfd = loop_attach(img, "sdc");

	/* BlockDev: a symlink to the device instead of a mount */
	tpathf(mp, "%s/blk/dev0", t.run);
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s\",\"Controller\":1,\"BlockDev\":true}", mp);
	ck_assert_ok(modify("Add", "MappedVirtualDisk", s));
	n = readlink(mp, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, tpathf(p, "%s/sdc", t.dev));
	ck_assert_ok(
		modify("Remove", "MappedVirtualDisk", tpathf(p, "{\"MountPath\":\"%s\"}", mp)));
	ck_assert(!exists(mp));

	/* a blank disk without EnsureFilesystem does not mount: a clear error, nothing left */
	tpathf(mp, "%s/m/blank", t.run);
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s\",\"Controller\":1}", mp);
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_FAIL,
			"holds no ext4 file system (its superblock: none that lcow knows)");
	ck_assert(!exists(mp));
	storage_dump(&t.a, p, sizeof(p));
	ck_assert_str_eq(p, "");
	close(lfd);
}
END_TEST

START_TEST(test_pmem_mount)
{
	char img[PATH_MAX], mp[PATH_MAX], p[PATH_MAX];
	struct statvfs sv;
	int lfd;

	make_image(tpathf(img, "%s/layer.img", t.dir), 8 << 20, true);
	lfd = loop_attach(img, "pmem0");
	/* DeviceNumber 0 is left out by hcsshim (omitempty) */
	tpathf(mp, "%s/layers/p0", t.run);
	ck_assert_ok(modify("Add", "VPMemDevice", tpathf(p, "{\"MountPath\":\"%s\"}", mp)));
	close(lfd);
	ck_assert(is_mount(mp));
	ck_assert_int_eq(statvfs(mp, &sv), 0);
	ck_assert(sv.f_flag & ST_RDONLY);
	ck_assert_ok(modify("Remove", "VPMemDevice", tpathf(p, "{\"MountPath\":\"%s\"}", mp)));
	ck_assert(!exists(mp));
}
END_TEST

/* ---- CombinedLayers ---- */

/* Two layers: l1 (top) has a = "top"; l2 (bottom) has a = "bottom" and b. */
static void make_layers(char *l1, char *l2)
{
	char p[PATH_MAX];

	tpathf(l1, "%s/layers/l1", t.run);
	tpathf(l2, "%s/layers/l2", t.run);
	write_file(tpathf(p, "%s/a", l1), "top");
	write_file(tpathf(p, "%s/a", l2), "bottom");
	write_file(tpathf(p, "%s/b", l2), "b");
}

START_TEST(test_layers_overlay)
{
	char l1[PATH_MAX], l2[PATH_MAX], root[PATH_MAX], scratch[PATH_MAX], p[PATH_MAX];
	char s[4 * PATH_MAX], buf[16];

	make_layers(l1, l2);
	tpathf(root, "%s/gcs/c/C/rootfs", t.run);
	tpathf(scratch, "%s/gcs/c/C/scratch/C", t.run);
	mkdirs(tpathf(p, "%s/gcs/c/C", t.run));
	snprintf(
		s, sizeof(s),
		"{\"ContainerID\":\"C\",\"ContainerRootPath\":\"%s\",\"Layers\":[{\"Path\":\"%s\"},"
		"{\"Path\":\"%s\"}],\"ScratchPath\":\"%s\"}",
		root, l1, l2, scratch);
	ck_assert_ok(modify(NULL, "CombinedLayers", s));
	ck_assert(is_mount(root));
	/* the first layer is the top-most */
	ck_assert_str_eq(read_file(tpathf(p, "%s/a", root), buf, sizeof(buf)), "top");
	ck_assert_str_eq(read_file(tpathf(p, "%s/b", root), buf, sizeof(buf)), "b");
	write_file(tpathf(p, "%s/c", root), "new");
	ck_assert_str_eq(read_file(tpathf(p, "%s/upper/c", scratch), buf, sizeof(buf)), "new");
	ck_assert(exists(tpathf(p, "%s/work", scratch)));
	/* the bundle directory is an ancestor of the scratch: no bind */
	ck_assert(!is_mount(tpathf(p, "%s/gcs/c/C", t.run)));
	ck_assert_fails(modify("Add", "CombinedLayers", s), HR_INVALIDARG, "already in use");

	/* Remove sends only ContainerRootPath */
	ck_assert_ok(modify("Remove", "CombinedLayers",
			    tpathf(p, "{\"ContainerRootPath\":\"%s\"}", root)));
	ck_assert(!exists(root));
	ck_assert(exists(tpathf(p, "%s/upper/c", scratch)));
}
END_TEST

START_TEST(test_layers_read_only)
{
	char l1[PATH_MAX], l2[PATH_MAX], root[PATH_MAX], p[PATH_MAX], s[4 * PATH_MAX], buf[16];
	int fd;

	make_layers(l1, l2);
	/* two layers, no scratch: a read-only overlay */
	tpathf(root, "%s/ro2/rootfs", t.run);
	snprintf(s, sizeof(s),
		 "{\"ContainerRootPath\":\"%s\",\"Layers\":[{\"Path\":\"%s\"},{\"Path\":\"%s\"}]}",
		 root, l1, l2);
	ck_assert_ok(modify("Add", "CombinedLayers", s));
	ck_assert_str_eq(read_file(tpathf(p, "%s/b", root), buf, sizeof(buf)), "b");
	fd = open(tpathf(p, "%s/new", root), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_lt(fd, 0);
	ck_assert_int_eq(errno, EROFS);
	ck_assert_ok(modify("Remove", "CombinedLayers",
			    tpathf(p, "{\"ContainerRootPath\":\"%s\"}", root)));

	/* one layer, no scratch: overlayfs needs two lowers, so a read-only bind */
	tpathf(root, "%s/ro1/rootfs", t.run);
	snprintf(s, sizeof(s), "{\"ContainerRootPath\":\"%s\",\"Layers\":[{\"Path\":\"%s\"}]}",
		 root, l2);
	ck_assert_ok(modify("Add", "CombinedLayers", s));
	ck_assert_str_eq(read_file(tpathf(p, "%s/a", root), buf, sizeof(buf)), "bottom");
	fd = open(tpathf(p, "%s/new", root), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_lt(fd, 0);
	ck_assert_int_eq(errno, EROFS);
	ck_assert_ok(modify("Remove", "CombinedLayers",
			    tpathf(p, "{\"ContainerRootPath\":\"%s\"}", root)));
	ck_assert(!exists(root));
}
END_TEST

START_TEST(test_layers_bundle_bind)
{
	char l1[PATH_MAX], l2[PATH_MAX], root[PATH_MAX], scratch[PATH_MAX], bundle[PATH_MAX];
	char p[PATH_MAX], s[4 * PATH_MAX], buf[16];

	make_layers(l1, l2);
	/* a shared scratch: the sandbox S's disk holds container X's scratch */
	tpathf(scratch, "%s/gcs/c/S/scratch/X", t.run);
	tpathf(bundle, "%s/gcs/c/X", t.run);
	tpathf(root, "%s/rootfs", bundle);
	snprintf(s, sizeof(s),
		 "{\"ContainerRootPath\":\"%s\",\"Layers\":[{\"Path\":\"%s\"},{\"Path\":\"%s\"}],"
		 "\"ScratchPath\":\"%s\"}",
		 root, l1, l2, scratch);
	ck_assert_ok(modify("Add", "CombinedLayers", s));
	/* the bundle lives on the scratch: <ScratchPath>/bundle bound onto dirname(root) */
	ck_assert(is_mount(bundle));
	ck_assert(is_mount(root));
	write_file(tpathf(p, "%s/config.json", bundle), "{}");
	ck_assert_str_eq(read_file(tpathf(p, "%s/bundle/config.json", scratch), buf, sizeof(buf)),
			 "{}");
	storage_dump(&t.a, p, sizeof(p));
	ck_assert_ptr_nonnull(strstr(p, "bundle bind mount"));

	ck_assert_ok(modify("Remove", "CombinedLayers",
			    tpathf(p, "{\"ContainerRootPath\":\"%s\"}", root)));
	ck_assert(!is_mount(root));
	ck_assert(!exists(tpathf(p, "%s/config.json", bundle)));
	ck_assert(exists(tpathf(p, "%s/bundle/config.json", scratch)));
}
END_TEST

START_TEST(test_layers_refusals)
{
	char l1[PATH_MAX], l2[PATH_MAX], p[PATH_MAX], s[4 * PATH_MAX];

	make_layers(l1, l2);
	snprintf(s, sizeof(s), "{\"ContainerRootPath\":\"%s/x/rootfs\"}", t.run);
	ck_assert_fails(modify("Add", "CombinedLayers", s), HR_INVALIDARG, "no Layers");
	snprintf(s, sizeof(s),
		 "{\"ContainerRootPath\":\"%s/x/rootfs\",\"Layers\":[{\"Path\":\"/etc\"}]}", t.run);
	ck_assert_fails(modify("Add", "CombinedLayers", s), HR_INVALIDARG, "Layers[0].Path");
	mkdirs(tpathf(p, "%s/layers/a,b", t.run));
	snprintf(s, sizeof(s),
		 "{\"ContainerRootPath\":\"%s/x/rootfs\",\"Layers\":[{\"Path\":\"%s\"},"
		 "{\"Path\":\"%s/layers/a,b\"}]}",
		 t.run, l1, t.run);
	ck_assert_fails(modify("Add", "CombinedLayers", s), HR_INVALIDARG, "Layers[1].Path");
	snprintf(s, sizeof(s),
		 "{\"ContainerRootPath\":\"%s/x/rootfs\",\"Layers\":[{\"Path\":\"%s\"}],"
		 "\"ScratchPath\":\"%s/s/../t\"}",
		 t.run, l1, t.run);
	ck_assert_fails(modify("Add", "CombinedLayers", s), HR_INVALIDARG, "ScratchPath");
	ck_assert(!exists(tpathf(p, "%s/x", t.run)));
}
END_TEST

START_TEST(test_remove_unknown)
{
	char p[PATH_MAX], s[PATH_MAX + 64];

	/* gone or a plain directory: nothing to undo */
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/never\"}", t.run);
	ck_assert_ok(modify("Remove", "MappedVirtualDisk", s));
	mkdirs(tpathf(p, "%s/plain", t.run));
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s\"}", p);
	ck_assert_ok(modify("Remove", "VPMemDevice", s));
	ck_assert(exists(p));
	/* a mount point that is not ours stays */
	mkdirs(tpathf(p, "%s/foreign", t.run));
	ck_assert_int_eq(mount("tmpfs", p, "tmpfs", 0, NULL), 0);
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s\"}", p);
	ck_assert_fails(modify("Remove", "MappedDirectory", s), HR_FAIL, "did not set up");
	ck_assert(is_mount(p));
	/* and an Add does not mount over it */
	ck_assert_fails(modify("Add", "MappedVirtualDisk", s), HR_INVALIDARG,
			"already a mount point");
	ck_assert_int_eq(umount(p), 0);
	ck_assert_fails(modify("Remove", "MappedDirectory", "{\"MountPath\":\"/etc\"}"),
			HR_INVALIDARG, "MountPath");
}
END_TEST

START_TEST(test_cleanup_undoes_all)
{
	char l1[PATH_MAX], l2[PATH_MAX], img[PATH_MAX], p[PATH_MAX], s[4 * PATH_MAX];
	int lfd;

	make_layers(l1, l2);
	make_image(tpathf(img, "%s/layer.img", t.dir), 8 << 20, true);
	lfd = loop_attach(img, "pmem3");
	ck_assert_ok(
		modify("Add", "VPMemDevice",
		       tpathf(p, "{\"DeviceNumber\":3,\"MountPath\":\"%s/layers/p3\"}", t.run)));
	close(lfd);
	snprintf(s, sizeof(s),
		 "{\"ContainerRootPath\":\"%s/gcs/c/Y/rootfs\",\"Layers\":[{\"Path\":\"%s\"},"
		 "{\"Path\":\"%s/layers/p3\"}],\"ScratchPath\":\"%s/gcs/c/S/scratch/Y\"}",
		 t.run, l1, t.run, t.run);
	ck_assert_ok(modify("Add", "CombinedLayers", s));
	ck_assert_int_eq(mounts_under(t.dir), 3); /* pmem, bundle bind, overlay */
	/* newest first: the overlay goes before the layer it stacks on */
	storage_cleanup(&t.a);
	ck_assert_int_eq(mounts_under(t.dir), 0);
	ck_assert(list_empty(&t.a.mounts));
	storage_dump(&t.a, p, sizeof(p));
	ck_assert_str_eq(p, "");
}
END_TEST

/* ---- MappedDirectory: dialing works; mounting needs 9p in the kernel ---- */

static bool have_fs(const char *name)
{
	char line[128];
	bool found = false;
	FILE *f = fopen("/proc/filesystems", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *tab = strrchr(line, '\t');
		found = tab && strncmp(tab + 1, name, strlen(name)) == 0 &&
			tab[1 + strlen(name)] == '\n';
	}
	fclose(f);
	return found;
}

START_TEST(test_plan9)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char p[PATH_MAX], s[PATH_MAX + 128];
	int l, c;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/hv_564", t.dir);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 4), 0);

	snprintf(s, sizeof(s),
		 "{\"MountPath\":\"%s/share0\",\"Port\":564,\"ShareName\":\"0\",\"ReadOnly\":true}",
		 t.run);
	if (have_fs("9p")) {
		/* a real kernel 9p client would wait for the server's Rversion: not here */
		close(l);
		return;
	}
	ck_assert_fails(modify("Add", "MappedDirectory", s), HR_FAIL, "(9p)");
	/* the host saw the connection; the mount point is gone again */
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ck_assert_int_ge(c, 0);
	close(c);
	ck_assert(!exists(tpathf(p, "%s/share0", t.run)));

	/* nobody listening on that port */
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/share1\",\"Port\":565}", t.run);
	ck_assert_fails(modify("Add", "MappedDirectory", s), HR_FAIL, "port 565");
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/share1\",\"Port\":564,\"ShareName\":\"a,b\"}",
		 t.run);
	ck_assert_fails(modify("Add", "MappedDirectory", s), HR_INVALIDARG, "ShareName");
	snprintf(s, sizeof(s), "{\"MountPath\":\"%s/share1\"}", t.run);
	ck_assert_fails(modify("Add", "MappedDirectory", s), HR_INVALIDARG, "Port");
	close(l);
}
END_TEST

static Suite *storage_suite(void)
{
	Suite *s = suite_create("agent_storage");
	TCase *paths = tcase_create("paths");
	TCase *devices = tcase_create("devices");
	TCase *handlers = tcase_create("handlers");
	TCase *mounts = tcase_create("mounts");

	tcase_add_unchecked_fixture(paths, case_setup, case_teardown);
	tcase_add_checked_fixture(paths, setup, teardown);
	tcase_add_test(paths, test_check_path_good);
	tcase_add_test(paths, test_check_path_lexical);
	tcase_add_test(paths, test_check_path_symlinks);
	tcase_add_test(paths, test_path_helpers);
	suite_add_tcase(s, paths);

	tcase_add_unchecked_fixture(devices, case_setup, case_teardown);
	tcase_add_checked_fixture(devices, setup, teardown);
	tcase_set_timeout(devices, 30);
	tcase_add_test(devices, test_scsi_vmbus);
	tcase_add_test(devices, test_scsi_virtio);
	tcase_add_test(devices, test_partition_names);
	tcase_add_test(devices, test_scsi_timeout);
	tcase_add_test(devices, test_scsi_device_remove);
	tcase_add_test(devices, test_fs_probe);
	tcase_add_test(devices, test_mount_options);
	tcase_add_test(devices, test_dm_table);
	suite_add_tcase(s, devices);

	tcase_add_unchecked_fixture(handlers, case_setup, case_teardown);
	tcase_add_checked_fixture(handlers, setup, teardown);
	tcase_add_test(handlers, test_resource_types);
	tcase_add_test(handlers, test_mvd_refusals);
	tcase_add_test(handlers, test_pmem_mapping_checks);
	tcase_add_test(handlers, test_layers_refusals);
	tcase_add_test(handlers, test_remove_unknown);
	tcase_add_test(handlers, test_plan9);
	suite_add_tcase(s, handlers);

	tcase_add_unchecked_fixture(mounts, case_setup, case_teardown);
	tcase_add_checked_fixture(mounts, setup, teardown);
	tcase_set_timeout(mounts, 60);
	tcase_add_test(mounts, test_mvd_lifecycle);
	tcase_add_test(mounts, test_mvd_waits_for_disk);
	tcase_add_test(mounts, test_mvd_blockdev_and_errors);
	tcase_add_test(mounts, test_pmem_mount);
	tcase_add_test(mounts, test_layers_overlay);
	tcase_add_test(mounts, test_layers_read_only);
	tcase_add_test(mounts, test_layers_bundle_bind);
	tcase_add_test(mounts, test_cleanup_undoes_all);
	suite_add_tcase(s, mounts);
	return s;
}

int main(void)
{
	return testutil_run(storage_suite());
}
