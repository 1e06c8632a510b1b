/*
 * Container test fixtures: layer images built with mkfs.ext4 -d from a busybox-static tree,
 * attached as loop devices (LOOP_CTL_GET_FREE + LOOP_CONFIGURE) and presented to the agent
 * through a stand-in sysfs and /dev tree, plus the sweeps that find and remove whatever a test
 * left behind.
 */
#include "layers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"

const char *const layers_scsi_controller_guid[4] = {
	"df6d0690-79e5-55b6-a5ec-c1e2f77f580a",
	"0110f83b-de10-5172-a266-78bca56bf50a",
	"b5d2d8d4-3a75-51bf-945b-3444dc6b8579",
	"305891a9-b251-5dfe-91a2-c25d9212275b",
};

/* busybox applets the tests and a shell user expect in /bin. */
static const char *const applets[] = {
	"sh",	 "ash",	   "echo", "cat",   "sleep",	 "ps",	   "hostname",
	"stty",	 "ls",	   "true", "false", "env",	 "id",	   "test",
	"[",	 "kill",   "grep", "mount", "pwd",	 "mkdir",  "rm",
	"touch", "wc",	   "head", "uname", "readlink",	 "printf", "tty",
	"stat",	 "umount", "cp",   "mv",    "ln",	 "sed",	   "tr",
	"httpd", "wget",   "ip",   "nc",    "sha256sum", "dd",	   "timeout",
};

#define LAYER_SIZE "32M"
#define UPPER_SIZE "4M"

void report_note(char *report, size_t len, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	if (!report || len == 0)
		return;
	n = strnlen(report, len);
	if (n > 0 && n + 2 < len) {
		memcpy(report + n, "; ", 3);
		n += 2;
	}
	if (n + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(report + n, len - n, fmt, ap);
	va_end(ap);
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return n > 0 && strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- commands ---- */

int run_cmd(const char *const *argv, int timeout_ms, char *out, size_t len)
{
	_cleanup_close_ int rd = -1;
	int p[2], status;
	int64_t deadline = now_ms() + timeout_ms;
	size_t n = 0;
	pid_t pid;

	if (out && len)
		out[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	rd = p[0];
	for (;;) {
		struct pollfd pfd = { .fd = rd, .events = POLLIN };
		char buf[4096];
		int64_t left = deadline - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -ETIMEDOUT;
		}
		r = read(rd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out && len > 1 && n < len - 1) {
			size_t k = (size_t)r < len - 1 - n ? (size_t)r : len - 1 - n;
			memcpy(out + n, buf, k);
			n += k;
			out[n] = '\0';
		}
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* Runs a command that must succeed; its output becomes the error message. */
static int must_run(const char *const *argv, struct gcs_error *err)
{
	char out[400];
	int rc = run_cmd(argv, 60000, out, sizeof(out));

	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "%s: %s", argv[0], strerror(-rc));
	if (rc != 0)
		return gcs_error_set(err, -EIO, HR_FAIL, "%s exited with %d: %s", argv[0], rc, out);
	return 0;
}

/* ---- files ---- */

static int write_file(const char *path, const char *content, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t n = strlen(content);

	if (fd < 0)
		return -errno;
	if (write(fd, content, n) != (ssize_t)n)
		return -EIO;
	return 0;
}

/* ---- layer images ---- */

/*
 * The base tree: busybox and its applet links, the usual top-level directories, a passwd, a
 * /dev/null node (for a plain-directory rootfs without a /dev mount: runc stats it), and the
 * two files the tests look at.
 */
static int build_base_tree(const char *root, struct gcs_error *err)
{
	static const char *const dirs[] = { "bin", "etc", "proc", "sys", "dev", "root", "run" };
	char p[PATH_MAX], q[PATH_MAX];
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		if ((rc = pathf(p, sizeof(p), "%s/%s", root, dirs[i])) < 0 ||
		    (rc = mkdir_p(p, 0755)) < 0)
			return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", p, strerror(-rc));
	}
	pathf(p, sizeof(p), "%s/tmp", root);
	if (mkdir(p, 0755) < 0 || chmod(p, 01777) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "mkdir %s: %m", p);
	pathf(p, sizeof(p), "%s/bin/busybox", root);
	if ((rc = must_run((const char *const[]){ "cp", "/bin/busybox", p, NULL }, err)) < 0)
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(applets); i++) {
		pathf(q, sizeof(q), "%s/bin/%s", root, applets[i]);
		if (symlink("busybox", q) < 0)
			return gcs_error_set(err, -errno, HR_FAIL, "symlink %s: %m", q);
	}
	pathf(p, sizeof(p), "%s/dev/null", root);
	if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "mknod %s: %m", p);
	static const struct {
		const char *name, *text;
	} files[] = {
		{ "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n" },
		{ "etc/group", "root:x:0:\n" },
		{ "etc/hostname", "busybox\n" },
		{ LAYERS_BASE_FILE + 1, LAYERS_BASE_TEXT "\n" },
		{ LAYERS_WHITED_OUT + 1, "this file is deleted by the upper layer\n" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		pathf(p, sizeof(p), "%s/%s", root, files[i].name);
		if ((rc = write_file(p, files[i].text, 0644)) < 0)
			return gcs_error_set(err, rc, HR_FAIL, "write %s: %s", p, strerror(-rc));
	}
	return 0;
}

/*
 * The upper tree: a new file, and an overlayfs whiteout (a 0/0 character device) named like a
 * base file. mkfs.ext4 -d copies character devices as they are (checked with debugfs on
 * e2fsprogs 1.47), so the mounted layer carries the whiteout to the overlay.
 */
static int build_upper_tree(const char *root, struct gcs_error *err)
{
	char p[PATH_MAX];
	int rc;

	pathf(p, sizeof(p), "%s/etc", root);
	if ((rc = mkdir_p(p, 0755)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", p, strerror(-rc));
	pathf(p, sizeof(p), "%s%s", root, LAYERS_UPPER_FILE);
	if ((rc = write_file(p, LAYERS_UPPER_TEXT "\n", 0644)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "write %s: %s", p, strerror(-rc));
	pathf(p, sizeof(p), "%s%s", root, LAYERS_WHITED_OUT);
	if (mknod(p, S_IFCHR | 0644, makedev(0, 0)) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "mknod %s: %m", p);
	return 0;
}

static int mkfs_image(const char *tree, const char *image, const char *size, struct gcs_error *err)
{
	return must_run(
		(const char *const[]){ "mkfs.ext4", "-q", "-F", "-d", tree, image, size, NULL },
		err);
}

int layers_build(struct layer_set *ls, struct gcs_error *err)
{
	char upper_tree[PATH_MAX];
	int rc;

	memset(ls, 0, sizeof(*ls));
	snprintf(ls->dir, sizeof(ls->dir), "/tmp/lcow-ct-XXXXXX");
	if (!mkdtemp(ls->dir))
		return gcs_error_set(err, -errno, HR_FAIL, "mkdtemp: %m");
	if (chmod(ls->dir, 0755) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "chmod %s: %m", ls->dir);
	pathf(ls->base_tree, sizeof(ls->base_tree), "%s/base-tree", ls->dir);
	pathf(ls->base, sizeof(ls->base), "%s/base.img", ls->dir);
	pathf(ls->upper, sizeof(ls->upper), "%s/upper.img", ls->dir);
	pathf(upper_tree, sizeof(upper_tree), "%s/upper-tree", ls->dir);
	if ((rc = build_base_tree(ls->base_tree, err)) < 0 ||
	    (rc = mkfs_image(ls->base_tree, ls->base, LAYER_SIZE, err)) < 0)
		return gcs_error_prefix(err, rc, "base layer");
	if ((rc = build_upper_tree(upper_tree, err)) < 0 ||
	    (rc = mkfs_image(upper_tree, ls->upper, UPPER_SIZE, err)) < 0)
		return gcs_error_prefix(err, rc, "upper layer");
	return 0;
}

/* ---- loop devices ---- */

/*
 * Binds image to a free loop device. Another process may take the device between
 * LOOP_CTL_GET_FREE and LOOP_CONFIGURE (EBUSY): then ask again. Kernels before 5.8 lack
 * LOOP_CONFIGURE: LOOP_SET_FD then (the file's open mode decides read-only).
 */
static int loop_attach(const char *image, bool read_only, int *ret_nr)
{
	int mode = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	_cleanup_close_ int file = open(image, mode);

	if (ctl < 0 || file < 0)
		return -errno;
	for (int attempt = 0; attempt < 64; attempt++) {
		struct loop_config cfg = { .fd = (uint32_t)file };
		_cleanup_close_ int dev = -1;
		char path[32];
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (nr < 0)
			return -errno;
		snprintf(path, sizeof(path), "/dev/loop%d", nr);
		dev = open(path, mode);
		if (dev < 0) {
			/* devtmpfs creates the node a moment after the device. */
			if (errno != ENOENT)
				return -errno;
			usleep(10000);
			continue;
		}
		cfg.info.lo_flags = read_only ? LO_FLAGS_READ_ONLY : 0;
		snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", image);
		if (ioctl(dev, LOOP_CONFIGURE, &cfg) == 0) {
			*ret_nr = nr;
			return 0;
		}
		if (errno == EBUSY)
			continue;
		if (errno != EINVAL && errno != ENOTTY)
			return -errno;
		if (ioctl(dev, LOOP_SET_FD, file) < 0) {
			if (errno == EBUSY)
				continue;
			return -errno;
		}
		*ret_nr = nr;
		return 0;
	}
	return -EBUSY;
}

static int loop_backing(int nr, char *buf, size_t len)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", nr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return 0;
}

/*
 * Unbinds a loop device and waits (1 s) until sysfs shows it unbound. A device that is still
 * open elsewhere only gets autoclear from LOOP_CLR_FD; it then goes when the last user closes.
 */
static int loop_detach(int nr)
{
	char path[32], backing[PATH_MAX];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/dev/loop%d", nr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, LOOP_CLR_FD) < 0 && errno != ENXIO)
		return -errno;
	close(TAKE_FD(fd));
	for (int i = 0; i < 100; i++) {
		if (loop_backing(nr, backing, sizeof(backing)) < 0)
			return 0;
		usleep(10000);
	}
	return -EBUSY;
}

int loops_backed_under(const char *dir, char *report, size_t len)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/block");
	struct dirent *de;
	int count = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char backing[PATH_MAX];
		int nr;

		if (sscanf(de->d_name, "loop%d", &nr) != 1 ||
		    loop_backing(nr, backing, sizeof(backing)) < 0 || !under(backing, dir))
			continue;
		report_note(report, len, "loop%d attached to %s", nr, backing);
		count++;
	}
	return count;
}

static int detach_loops_under(const char *dir, char *report, size_t len)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/block");
	struct dirent *de;
	int count = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char backing[PATH_MAX];
		int nr, rc;

		if (sscanf(de->d_name, "loop%d", &nr) != 1 ||
		    loop_backing(nr, backing, sizeof(backing)) < 0 || !under(backing, dir))
			continue;
		rc = loop_detach(nr);
		report_note(report, len, "loop%d still attached to %s%s%s", nr, backing,
			    rc < 0 ? ", detach: " : "", rc < 0 ? strerror(-rc) : "");
		count++;
	}
	return count;
}

/* ---- mounts ---- */

/* Decodes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Mount points under dir, in mount table order (parents before children); malloc'd list. */
static int list_mounts(pid_t pid, const char *dir, char ***ret, size_t *ret_n)
{
	char path[64], line[4096];
	_cleanup_fclose_ FILE *f = NULL;
	char **v = NULL;
	size_t n = 0;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/mountinfo");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], **nv;

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape(mp);
		if (!under(mp, dir))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n] = strdup(mp);
		if (v[n])
			n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int mounts_under(pid_t pid, const char *dir, char *report, size_t len)
{
	char **v;
	size_t n;

	if (list_mounts(pid, dir, &v, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		report_note(report, len, "mounted%s: %s", pid > 0 ? " (agent)" : "", v[i]);
	free_list(v, n);
	return (int)n;
}

int mount_fstype(pid_t pid, const char *path, char *buf, size_t len)
{
	char mpath[64], line[4096];
	_cleanup_fclose_ FILE *f = NULL;
	int rc = -ENOENT;

	if (pid > 0)
		snprintf(mpath, sizeof(mpath), "/proc/%d/mountinfo", pid);
	else
		snprintf(mpath, sizeof(mpath), "/proc/self/mountinfo");
	f = fopen(mpath, "re");
	if (!f)
		return -errno;
	/* The last mount on a path is the visible one. */
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		unescape(mp);
		if (strcmp(mp, path) != 0)
			continue;
		snprintf(buf, len, "%s", fstype);
		rc = 0;
	}
	return rc;
}

/* Unmounts everything under dir, children first; a busy mount is detached lazily. */
static int unmount_under(const char *dir, char *report, size_t len)
{
	int count = -1;

	for (int pass = 0; pass < 8; pass++) {
		char **v = NULL;
		size_t n = 0;

		if (list_mounts(0, dir, &v, &n) < 0 || n == 0) {
			free_list(v, n);
			break;
		}
		if (count < 0) {
			count = (int)n;
			for (size_t i = 0; i < n; i++)
				report_note(report, len, "left mounted: %s", v[i]);
		}
		for (size_t i = n; i-- > 0;)
			if (umount2(v[i], UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
			    errno != ENOENT)
				umount2(v[i], MNT_DETACH | UMOUNT_NOFOLLOW);
		free_list(v, n);
	}
	return count < 0 ? 0 : count;
}

/* ---- runc state ---- */

static int runc_states(const char *runc_root, char *report, size_t len, bool delete)
{
	_cleanup_closedir_ DIR *d = opendir(runc_root);
	struct dirent *de;
	int count = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char out[256];

		if (de->d_name[0] == '.')
			continue;
		count++;
		report_note(report, len, "runc state: %s", de->d_name);
		if (delete)
			run_cmd((const char *const[]){ "runc", "--root", runc_root, "delete",
						       "--force", de->d_name, NULL },
				20000, out, sizeof(out));
	}
	return count;
}

/* ---- the test environment ---- */

int env_create(struct test_env *e, const struct layer_set *ls, struct gcs_error *err)
{
	const char *dirs[] = { e->run, e->sys, e->dev };
	char p[PATH_MAX];
	int rc;

	memset(e, 0, sizeof(*e));
	snprintf(e->suite, sizeof(e->suite), "%s", ls->dir);
	if (pathf(e->dir, sizeof(e->dir), "%s/t-XXXXXX", ls->dir) < 0 || !mkdtemp(e->dir))
		return gcs_error_set(err, -errno, HR_FAIL, "mkdtemp under %s: %m", ls->dir);
	chmod(e->dir, 0755);
	pathf(e->run, sizeof(e->run), "%s/run", e->dir);
	pathf(e->sys, sizeof(e->sys), "%s/sys", e->dir);
	pathf(e->dev, sizeof(e->dev), "%s/dev", e->dir);
	pathf(e->runc_root, sizeof(e->runc_root), "%s/runc", e->run);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if ((rc = mkdir_p(dirs[i], 0755)) < 0)
			return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", dirs[i],
					     strerror(-rc));
	pathf(p, sizeof(p), "%s/bus/vmbus/devices", e->sys);
	if ((rc = mkdir_p(p, 0755)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", p, strerror(-rc));
	pathf(p, sizeof(p), "%s/bus/scsi/devices", e->sys);
	if ((rc = mkdir_p(p, 0755)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", p, strerror(-rc));
	e->args[0] = "--run-root";
	e->args[1] = e->run;
	e->args[2] = "--sysfs-root";
	e->args[3] = e->sys;
	e->args[4] = "--dev-root";
	e->args[5] = e->dev;
	e->args[6] = "--runc-root";
	e->args[7] = e->runc_root;
	e->args[8] = NULL;
	return 0;
}

static int add_disk(struct test_env *e, const char *image, bool read_only, struct env_disk **ret,
		    struct gcs_error *err)
{
	struct env_disk *d = NULL;
	int nr, rc;

	if (e->n_disks >= ENV_MAX_DISKS)
		return gcs_error_set(err, -ENOSPC, HR_FAIL, "more than %d disks", ENV_MAX_DISKS);
	rc = loop_attach(image, read_only, &nr);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "attach %s to a loop device: %s", image,
				     strerror(-rc));
	d = &e->disks[e->n_disks++];
	*d = (struct env_disk){ .loop = nr };
	*ret = d;
	return 0;
}

/* <dev>/<name> -> /dev/loopN */
static int dev_link(struct test_env *e, const char *name, int nr, struct gcs_error *err)
{
	char p[PATH_MAX], target[32];

	snprintf(target, sizeof(target), "/dev/loop%d", nr);
	pathf(p, sizeof(p), "%s/%s", e->dev, name);
	if (symlink(target, p) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "symlink %s: %m", p);
	return 0;
}

int env_add_scsi(struct test_env *e, const char *image, bool read_only, unsigned controller,
		 unsigned lun, struct gcs_error *err)
{
	char p[PATH_MAX], name[16];
	struct env_disk *d = NULL;
	unsigned host = LAYERS_SCSI_HOST(controller);
	int rc;

	if (controller > 3 || lun > 63)
		return gcs_error_set(err, -EINVAL, HR_FAIL, "controller %u lun %u", controller,
				     lun);
	if ((rc = add_disk(e, image, read_only, &d, err)) < 0)
		return rc;
	d->controller = controller;
	d->lun = lun;
	snprintf(name, sizeof(name), "loop%d", d->loop);
	pathf(p, sizeof(p), "%s/bus/vmbus/devices/%s/host%u", e->sys,
	      layers_scsi_controller_guid[controller], host);
	if ((rc = mkdir_p(p, 0755)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", p, strerror(-rc));
	pathf(p, sizeof(p), "%s/bus/scsi/devices/%u:0:0:%u/block/%s", e->sys, host, lun, name);
	if ((rc = mkdir_p(p, 0755)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", p, strerror(-rc));
	pathf(p, sizeof(p), "%s/bus/scsi/devices/%u:0:0:%u/delete", e->sys, host, lun);
	if ((rc = write_file(p, "", 0200)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "create %s: %s", p, strerror(-rc));
	return dev_link(e, name, d->loop, err);
}

int env_add_pmem(struct test_env *e, const char *image, unsigned device_number,
		 struct gcs_error *err)
{
	char name[32];
	struct env_disk *d = NULL;
	int rc;

	if ((rc = add_disk(e, image, true, &d, err)) < 0)
		return rc;
	d->pmem = true;
	d->device_number = device_number;
	snprintf(name, sizeof(name), "pmem%u", device_number);
	return dev_link(e, name, d->loop, err);
}

int env_blank_image(struct test_env *e, const char *name, off_t size, char *ret_path,
		    size_t path_len, struct gcs_error *err)
{
	_cleanup_close_ int fd = -1;
	char p[PATH_MAX];

	pathf(p, sizeof(p), "%s/%s", e->dir, name);
	fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, size) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "create %s: %m", p);
	if (pathf(ret_path, path_len, "%s", p) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", p);
	return 0;
}

int env_unplugged(const struct test_env *e, unsigned controller, unsigned lun, char *buf,
		  size_t len)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	buf[0] = '\0';
	pathf(p, sizeof(p), "%s/bus/scsi/devices/%u:0:0:%u/delete", e->sys,
	      LAYERS_SCSI_HOST(controller), lun);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int env_leftovers(const struct test_env *e, pid_t agent, char *report, size_t len)
{
	int n = mounts_under(0, e->dir, report, len);

	if (agent > 0)
		n += mounts_under(agent, e->dir, report, len);
	return n + runc_states(e->runc_root, report, len, false);
}

int env_set_agent(struct test_env *e, pid_t pid)
{
	char p[PATH_MAX], text[32];

	e->agent = pid;
	pathf(p, sizeof(p), "%s/agent.pid", e->dir);
	snprintf(text, sizeof(text), "%d\n", (int)pid);
	return write_file(p, text, 0644);
}

/*
 * The agent of a test directory whose test died (its pid file), if it still runs: its command
 * line names the directory, which rules out a recycled pid. It is not our child: poll (2 s).
 */
static void kill_agent_of(const char *dir)
{
	char p[PATH_MAX], buf[4096];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	int pid;

	pathf(p, sizeof(p), "%s/agent.pid", dir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "%d", &pid) != 1 || pid <= 1)
		return;
	close(TAKE_FD(fd));
	snprintf(p, sizeof(p), "/proc/%d/cmdline", pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	if (!strstr(buf, dir))
		return;
	kill(pid, SIGKILL);
	for (int i = 0; i < 200 && access(p, F_OK) == 0; i++)
		usleep(10000);
}

/* runc containers, mounts and loop devices under dir; then the directory itself. */
static int sweep(const char *dir, const char *runc_root, char *report, size_t len)
{
	int n = 0;

	kill_agent_of(dir);
	if (runc_root)
		n += runc_states(runc_root, report, len, true);
	n += unmount_under(dir, report, len);
	n += detach_loops_under(dir, report, len);
	/* Never into a mount that would not go away. */
	run_cmd((const char *const[]){ "rm", "-rf", "--one-file-system", dir, NULL }, 60000, NULL,
		0);
	return n;
}

int env_destroy(struct test_env *e, char *report, size_t len)
{
	int n;

	if (report && len)
		report[0] = '\0';
	if (!e->dir[0])
		return 0;
	if (e->agent > 0) {
		kill(e->agent, SIGKILL);
		waitpid(e->agent, NULL, 0);
		e->agent = 0;
	}
	n = runc_states(e->runc_root, report, len, true);
	n += unmount_under(e->dir, report, len);
	/* Our own disks (the layers' images live in the suite's directory, not the test's). */
	for (size_t i = 0; i < e->n_disks; i++) {
		struct env_disk *d = &e->disks[i];
		int rc;

		if (d->loop < 0)
			continue;
		rc = loop_detach(d->loop);
		if (rc < 0) {
			report_note(report, len, "loop%d: detach: %s", d->loop, strerror(-rc));
			n++;
		}
		d->loop = -1;
	}
	n += sweep(e->dir, NULL, report, len);
	e->dir[0] = '\0';
	return n;
}

int layers_sweep_tests(const struct layer_set *ls, char *report, size_t len)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int n = 0;

	if (report && len)
		report[0] = '\0';
	if (!ls->dir[0])
		return 0;
	d = opendir(ls->dir);
	while (d && (de = readdir(d))) {
		char dir[PATH_MAX], runc_root[PATH_MAX];

		if (strncmp(de->d_name, "t-", 2) != 0)
			continue;
		pathf(dir, sizeof(dir), "%s/%s", ls->dir, de->d_name);
		pathf(runc_root, sizeof(runc_root), "%s/run/runc", dir);
		n += sweep(dir, runc_root, report, len);
	}
	/* Tests run one at a time: a layer image still attached or mounted is a leftover. */
	n += unmount_under(ls->dir, report, len);
	n += detach_loops_under(ls->dir, report, len);
	return n;
}

int layers_destroy(struct layer_set *ls, char *report, size_t len)
{
	int n;

	if (!ls->dir[0]) {
		if (report && len)
			report[0] = '\0';
		return 0;
	}
	n = layers_sweep_tests(ls, report, len);
	n += sweep(ls->dir, NULL, report, len);
	ls->dir[0] = '\0';
	return n;
}
