/*
 * The process-mode "UVM": the agent on the host in namespaces of its own, loop devices as SCSI
 * LUNs behind a stand-in sysfs tree. No hypervisor and no security boundary: for development,
 * CI and hosts without virtualization.
 *
 * Process tree: the caller forks a holder (in the caller's PID namespace, dies with the caller
 * through PR_SET_PDEATHSIG), which unshares mount/UTS/IPC/net/PID namespaces, makes its mount
 * tree private and forks the agent as PID 1 of the new PID namespace (with a fresh /proc, so
 * that runc's pids and /proc agree). Killing that PID 1 kills everything in the namespace,
 * runc's containers included, and drops its mount namespace with every mount the agent made.
 * The holder is the caller's handle: SIGTERM to it kills the agent and it exits once the
 * namespace is gone.
 */
#include <lcow/uvm.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <linux/loop.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "proc.h"
#include "timeutil.h"

#define MAX_CONTROLLERS 4
#define MAX_LUNS 64
#define VHD_FOOTER 512

struct puvm_disk {
	bool used;
	int loop; /* N of /dev/loopN */
	int fd; /* our open /dev/loopN: with LO_FLAGS_AUTOCLEAR it detaches when we let go */
};

struct lcow_puvm {
	char dir[PATH_MAX];
	char run[PATH_MAX], sys[PATH_MAX], dev[PATH_MAX], runc_root[PATH_MAX];
	struct gcs_transport *t;
	struct gcs_bridge *bridge;
	pid_t holder; /* our child, or an adopted UVM's */
	pid_t agent; /* host pid of the agent (PID 1 of its namespace) */
	struct puvm_disk disks[MAX_CONTROLLERS * MAX_LUNS];
};

/* What the holder and the agent's child side report before the agent runs. */
struct spawn_msg {
	int32_t kind; /* MSG_PID or MSG_ERROR */
	int32_t value; /* the agent's pid, or an errno */
	char text[248];
};

enum { MSG_PID = 1, MSG_ERROR = 2 };

static int write_text(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n)
		return -EIO;
	return 0;
}

/* ---- disk images ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A VHD footer: "conectix" cookie; disk type at offset 60 (2 fixed, 3 dynamic, 4 differencing). */
int lcow_disk_data_size(const char *path, unsigned long long *ret_size, bool *ret_vhd)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char footer[VHD_FOOTER];
	struct stat st;
	bool vhd = false;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size >= 2 * VHD_FOOTER &&
	    pread(fd, footer, sizeof(footer), st.st_size - VHD_FOOTER) == VHD_FOOTER &&
	    memcmp(footer, "conectix", 8) == 0) {
		if (be32(footer + 60) != 2)
			return -EMEDIUMTYPE;
		vhd = true;
	}
	*ret_size = (unsigned long long)st.st_size - (vhd ? VHD_FOOTER : 0);
	if (ret_vhd)
		*ret_vhd = vhd;
	return 0;
}

/* ---- loop devices ---- */

static int loop_bound(int nr)
{
	char p[64];

	snprintf(p, sizeof(p), "/sys/block/loop%d/loop/backing_file", nr);
	return access(p, F_OK) == 0;
}

/*
 * LOOP_CTL_GET_FREE + LOOP_CONFIGURE (LOOP_SET_FD + LOOP_SET_STATUS64 before Linux 5.8), with
 * autoclear, and the size limit of a fixed VHD. A device taken by someone else between the two
 * calls is EBUSY: take the next one.
 */
static int loop_attach(const char *path, bool ro, unsigned long long limit, int *ret_nr,
		       int *ret_fd)
{
	_cleanup_close_ int file = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (file < 0 || ctl < 0)
		return -errno;
	for (int attempt = 0; attempt < 100; attempt++) {
		struct loop_config cfg = { .fd = (uint32_t)file };
		_cleanup_close_ int dev = -1;
		char name[32];
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (nr < 0)
			return -errno;
		snprintf(name, sizeof(name), "/dev/loop%d", nr);
		dev = open(name, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (dev < 0) {
			/* udev (or devtmpfs) creates the node a moment after the device. */
			if (errno != ENOENT)
				return -errno;
			usleep(10000);
			continue;
		}
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (ro ? LO_FLAGS_READ_ONLY : 0);
		cfg.info.lo_sizelimit = limit;
		snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", path);
		if (ioctl(dev, LOOP_CONFIGURE, &cfg) == 0) {
			*ret_nr = nr;
			*ret_fd = TAKE_FD(dev);
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
		if (ioctl(dev, LOOP_SET_STATUS64, &cfg.info) < 0) {
			int e = errno;
			ioctl(dev, LOOP_CLR_FD);
			return -e;
		}
		*ret_nr = nr;
		*ret_fd = TAKE_FD(dev);
		return 0;
	}
	return -EBUSY;
}

/*
 * Lets go of a loop device and waits (timeout_ms) until it is unbound. While a mount still holds
 * it, autoclear detaches it when that mount goes.
 */
static int loop_release(int nr, int fd, int timeout_ms)
{
	long long deadline = time_now_ms() + timeout_ms;

	if (fd >= 0) {
		ioctl(fd, LOOP_CLR_FD);
		close(fd);
	}
	while (loop_bound(nr)) {
		if (time_now_ms() > deadline)
			return -EBUSY;
		usleep(5000);
	}
	return 0;
}

/* ---- the stand-in sysfs tree ---- */

static int scsi_paths(struct lcow_puvm *u, unsigned controller, unsigned lun, int nr, char *host,
		      char *block, char *del, char *link)
{
	int rc = 0;

	rc |= pathf(host, PATH_MAX, "%s/bus/vmbus/devices/%s/host%u", u->sys,
		    gcs_proto_scsi_controller_guid(controller), controller);
	rc |= pathf(block, PATH_MAX, "%s/bus/scsi/devices/%u:0:0:%u/block/loop%d", u->sys,
		    controller, lun, nr);
	rc |= pathf(del, PATH_MAX, "%s/bus/scsi/devices/%u:0:0:%u/delete", u->sys, controller, lun);
	rc |= pathf(link, PATH_MAX, "%s/loop%d", u->dev, nr);
	return rc ? -ENAMETOOLONG : 0;
}

static void scsi_unpresent(struct lcow_puvm *u, unsigned controller, unsigned lun, int nr)
{
	char host[PATH_MAX], block[PATH_MAX], del[PATH_MAX], link[PATH_MAX];
	char *slash;

	if (scsi_paths(u, controller, lun, nr, host, block, del, link) < 0)
		return;
	unlink(link);
	unlink(del);
	rmdir(block);
	slash = strrchr(block, '/');
	*slash = '\0';
	rmdir(block); /* .../block */
	slash = strrchr(block, '/');
	*slash = '\0';
	rmdir(block); /* .../C:0:0:L */
}

int lcow_puvm_add_disk(struct lcow_puvm *u, const struct lcow_uvm_disk *d, struct gcs_error *err)
{
	char host[PATH_MAX], block[PATH_MAX], del[PATH_MAX], link[PATH_MAX], target[32];
	unsigned long long size;
	struct puvm_disk *disk;
	bool vhd;
	int nr = -1, fd = -1, rc;

	if (!d || !d->path || d->controller >= MAX_CONTROLLERS || d->lun >= MAX_LUNS)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "add disk: controller %u lun %u",
				     d ? d->controller : 0, d ? d->lun : 0);
	disk = &u->disks[d->controller * MAX_LUNS + d->lun];
	if (disk->used)
		return gcs_error_set(err, -EEXIST, HR_FAIL,
				     "add %s: controller %u lun %u is in use", d->path,
				     d->controller, d->lun);
	rc = lcow_disk_data_size(d->path, &size, &vhd);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "add %s: %s", d->path,
				     rc == -EMEDIUMTYPE ?
					     "only raw images and fixed VHDs are supported" :
					     strerror(-rc));
	rc = loop_attach(d->path, d->read_only, vhd ? size : 0, &nr, &fd);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "add %s: attach a loop device: %s", d->path,
				     strerror(-rc));
	snprintf(target, sizeof(target), "/dev/loop%d", nr);
	if ((rc = scsi_paths(u, d->controller, d->lun, nr, host, block, del, link)) < 0 ||
	    (rc = mkdir_p(host, 0755)) < 0 || (rc = mkdir_p(block, 0755)) < 0 ||
	    (rc = write_text(del, "")) < 0 || (symlink(target, link) < 0 && (rc = -errno) < 0)) {
		scsi_unpresent(u, d->controller, d->lun, nr);
		loop_release(nr, fd, 1000);
		return gcs_error_set(err, rc, HR_FAIL, "add %s: present loop%d as LUN %u:%u: %s",
				     d->path, nr, d->controller, d->lun, strerror(-rc));
	}
	*disk = (struct puvm_disk){ .used = true, .loop = nr, .fd = fd };
	return 0;
}

int lcow_puvm_remove_disk(struct lcow_puvm *u, unsigned controller, unsigned lun,
			  struct gcs_error *err)
{
	struct puvm_disk *disk;
	int rc;

	if (controller >= MAX_CONTROLLERS || lun >= MAX_LUNS ||
	    !u->disks[controller * MAX_LUNS + lun].used)
		return gcs_error_set(err, -ENOENT, HR_FAIL, "remove disk: no disk at %u:%u",
				     controller, lun);
	disk = &u->disks[controller * MAX_LUNS + lun];
	scsi_unpresent(u, controller, lun, disk->loop);
	rc = loop_release(disk->loop, disk->fd, 5000);
	disk->used = false;
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL,
				     "remove disk %u:%u: loop%d is still in use (it goes with its "
				     "last user)",
				     controller, lun, disk->loop);
	return 0;
}

/* ---- runc's containers: their cgroups outlive a killed agent ---- */

/* Calls fn on each cgroup directory of each runc container under runc_root; sums its results. */
static int for_each_runc_cgroup(const char *runc_root, int (*fn)(const char *path))
{
	_cleanup_closedir_ DIR *d = opendir(runc_root);
	struct dirent *de;
	int sum = 0;

	while (d && (de = readdir(d))) {
		char p[PATH_MAX];
		json_t *state, *paths, *v;
		const char *key;

		if (de->d_name[0] == '.' ||
		    pathf(p, sizeof(p), "%s/%s/state.json", runc_root, de->d_name) < 0)
			continue;
		state = json_load_file(p, 0, NULL);
		paths = json_object_get(state, "cgroup_paths");
		json_object_foreach(paths, key, v)
			if (json_is_string(v))
				sum += fn(json_string_value(v));
		json_decref(state);
	}
	return sum;
}

/* v1 freezer tasks do not even die of SIGKILL while frozen: thaw before killing. */
static int thaw(const char *path)
{
	char p[PATH_MAX];

	if (pathf(p, sizeof(p), "%s/freezer.state", path) == 0 && access(p, W_OK) == 0)
		write_text(p, "THAWED");
	if (pathf(p, sizeof(p), "%s/cgroup.freeze", path) == 0 && access(p, W_OK) == 0)
		write_text(p, "0");
	return 0;
}

/* 1 when it removed the (empty) cgroup; its last tasks may take a moment to go. */
static int remove_cgroup(const char *path)
{
	for (int i = 0; i < 200; i++) {
		if (rmdir(path) == 0)
			return 1;
		if (errno != EBUSY)
			return 0;
		usleep(10000);
	}
	return 0;
}

/* ---- teardown ---- */

static int unlink_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Removes dir without crossing into another filesystem (a mount left there stays). */
static void remove_tree(const char *dir)
{
	nftw(dir, unlink_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Unmounts whatever is mounted under dir in our mount namespace, last mounted first. */
static int unmount_under(const char *dir)
{
	size_t n = strlen(dir);
	int count = 0;

	for (int pass = 0; pass < 8; pass++) {
		_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
		char line[4096], last[PATH_MAX] = "";

		while (f && fgets(line, sizeof(line), f)) {
			char mp[PATH_MAX];
			if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
			    strncmp(mp, dir, n) == 0 && (mp[n] == '/' || mp[n] == '\0'))
				snprintf(last, sizeof(last), "%s", mp);
		}
		if (!last[0])
			break;
		if (umount2(last, UMOUNT_NOFOLLOW) < 0)
			umount2(last, MNT_DETACH | UMOUNT_NOFOLLOW);
		count++;
	}
	return count;
}

static void reap_holder(struct lcow_puvm *u)
{
	if (u->holder <= 0)
		return;
	/*
	 * The holder kills the agent (PID 1: the whole namespace) and exits once it is gone; our
	 * child or not (an adopted UVM's), its pidfd says when.
	 */
	kill(u->holder, SIGTERM);
	if (proc_wait_gone(u->holder, 10000) < 0) {
		if (u->agent > 0)
			kill(u->agent, SIGKILL);
		proc_stop(u->holder, SIGKILL, 5000);
	}
	proc_wait_gone(u->agent, 5000);
	u->holder = u->agent = -1;
}

void lcow_puvm_stop(struct lcow_puvm *u)
{
	if (!u)
		return;
	if (u->bridge)
		gcs_bridge_close(u->bridge);
	u->bridge = NULL;
	for_each_runc_cgroup(u->runc_root, thaw);
	reap_holder(u);
	for (size_t i = 0; i < ARRAY_SIZE(u->disks); i++) {
		struct puvm_disk *d = &u->disks[i];
		if (!d->used)
			continue;
		scsi_unpresent(u, (unsigned)(i / MAX_LUNS), (unsigned)(i % MAX_LUNS), d->loop);
		loop_release(d->loop, d->fd, 5000);
		d->used = false;
	}
	for_each_runc_cgroup(u->runc_root, remove_cgroup);
	unmount_under(u->dir);
	remove_tree(u->dir);
	gcs_transport_free(u->t);
	free(u);
}

/*
 * The agent of a dead owner's state directory, if it still runs: its command line names the
 * directory, which rules out a recycled pid.
 */
static pid_t running_agent(const char *dir)
{
	char p[PATH_MAX];
	pid_t pid;

	if (pathf(p, sizeof(p), "%s/agent.pid", dir) < 0 || read_pid_file(p, &pid) < 0 ||
	    pid <= 1 || !pid_runs(pid, (const char *const[]){ dir, NULL }))
		return -1;
	return pid;
}

int lcow_puvm_sweep(const char *state_dir)
{
	char runc_root[PATH_MAX];
	int count = 0;
	pid_t agent;

	if (pathf(runc_root, sizeof(runc_root), "%s/run/runc", state_dir) < 0)
		return 0;
	for_each_runc_cgroup(runc_root, thaw);
	agent = running_agent(state_dir);
	if (agent > 0 && proc_stop(agent, SIGKILL, 5000) == 0)
		count++;
	count += for_each_runc_cgroup(runc_root, remove_cgroup);
	count += unmount_under(state_dir);
	remove_tree(state_dir);
	return count;
}

/* ---- start ---- */

static void child_fail(int fd, const char *what)
{
	struct spawn_msg m = { .kind = MSG_ERROR, .value = errno };
	size_t n = strlen(what);

	if (n >= sizeof(m.text))
		n = sizeof(m.text) - 1;
	memcpy(m.text, what, n);
	if (write(fd, &m, sizeof(m)) < 0) {
		/* nobody to tell */
	}
	_exit(127);
}

/* PID 1 of the new namespaces: a /proc of its own, a host name, then the agent. */
static void agent_child(int msg_fd, int log_fd, char *const argv[])
{
	sigset_t none;
	int null;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(msg_fd, "mount /proc in the new PID namespace");
	if (sethostname("lcow-uvm", 8) < 0) {
		/* a default host name is no reason to fail */
	}
	null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		child_fail(msg_fd, "set up stdio");
	execv(argv[0], argv);
	child_fail(msg_fd, "exec the agent");
}

/* The holder: namespaces, the agent, and its death as our exit. Async-signal-safe calls only. */
static void holder(int msg_fd, int log_fd, char *const argv[], pid_t parent, bool outlive)
{
	struct spawn_msg m = { .kind = MSG_PID };
	sigset_t set;
	pid_t agent;

	if (!outlive)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	/* Nothing of the caller's but these two: the holder never execs. */
	msg_fd = fcntl(msg_fd, F_DUPFD_CLOEXEC, 64);
	log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 64);
	if (msg_fd < 0 || log_fd < 0 || dup3(msg_fd, 3, O_CLOEXEC) < 0 ||
	    dup3(log_fd, 4, O_CLOEXEC) < 0)
		_exit(1);
	msg_fd = 3;
	log_fd = 4;
	close_range(5, ~0U, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_SETMASK, &set, NULL);
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID) < 0)
		child_fail(msg_fd, "unshare mount, UTS, IPC, network and PID namespaces");
	/* Nothing the agent mounts may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(msg_fd, "make the mount tree private");
	agent = fork();
	if (agent < 0)
		child_fail(msg_fd, "fork");
	if (agent == 0)
		agent_child(msg_fd, log_fd, argv);
	m.value = agent;
	if (write(msg_fd, &m, sizeof(m)) < 0)
		_exit(1);
	close(msg_fd);
	close(log_fd);
	for (;;) {
		int status, sig = sigwaitinfo(&set, NULL);

		if (sig == SIGTERM)
			kill(agent, SIGKILL);
		if (waitpid(agent, &status, WNOHANG) == agent)
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
}

/* The last line of the agent's log, for an error message. */
static void log_tail(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char tail[512];
	off_t size;
	ssize_t n;
	char *nl;

	buf[0] = '\0';
	if (fd < 0 || (size = lseek(fd, 0, SEEK_END)) <= 0)
		return;
	n = pread(fd, tail, sizeof(tail) - 1,
		  size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0);
	if (n <= 0)
		return;
	tail[n] = '\0';
	while (n > 0 && tail[n - 1] == '\n')
		tail[--n] = '\0';
	nl = strrchr(tail, '\n');
	snprintf(buf, len, "%s", nl ? nl + 1 : tail);
}

/* Reads the holder's reports until EOF (the agent's exec) or an error. */
static int spawn_result(struct lcow_puvm *u, int fd, struct gcs_error *err)
{
	long long deadline = time_now_ms() + 10000;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct spawn_msg m;
		long long left = deadline - time_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return gcs_error_set(err, -ETIMEDOUT, HR_FAIL,
					     "the agent's namespaces were not set up within 10 s");
		n = read(fd, &m, sizeof(m));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return u->agent > 0 ? 0 :
					      gcs_error_set(err, -ECHILD, HR_FAIL,
							    "the agent's holder died");
		if (n != sizeof(m))
			return gcs_error_set(err, -EIO, HR_FAIL, "short report from the holder");
		if (m.kind == MSG_PID) {
			u->agent = m.value;
			continue;
		}
		m.text[sizeof(m.text) - 1] = '\0';
		return gcs_error_set(err, -m.value, HR_FAIL, "%s: %s", m.text, strerror(m.value));
	}
}

static int start_agent(struct lcow_puvm *u, const struct lcow_puvm_options *o,
		       struct gcs_error *err)
{
	char transport[PATH_MAX + 8], log[PATH_MAX], pidtext[32];
	const char *argv[24];
	size_t k = 0;
	_cleanup_close_ int log_fd = -1;
	int msg[2], rc;

	pathf(log, sizeof(log), "%s/agent.log", u->dir);
	snprintf(transport, sizeof(transport), "unix:%s/hv", u->dir);
	argv[k++] = o->agent;
	argv[k++] = "--transport";
	argv[k++] = transport;
	argv[k++] = "--run-root";
	argv[k++] = u->run;
	argv[k++] = "--sysfs-root";
	argv[k++] = u->sys;
	argv[k++] = "--dev-root";
	argv[k++] = u->dev;
	argv[k++] = "--runc-root";
	argv[k++] = u->runc_root;
	argv[k++] = "--log-format";
	argv[k++] = "json";
	argv[k++] = "--log-level";
	argv[k++] = o->log_level ? o->log_level : "info";
	if (o->runc) {
		argv[k++] = "--runc";
		argv[k++] = o->runc;
	}
	argv[k] = NULL;
	if (access(o->agent, X_OK) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "the agent %s: %m", o->agent);
	log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "open %s: %m", log);
	if (pipe2(msg, O_CLOEXEC) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "pipe: %m");
	u->holder = fork();
	if (u->holder < 0) {
		rc = -errno;
		close(msg[0]);
		close(msg[1]);
		return gcs_error_set(err, rc, HR_FAIL, "fork: %s", strerror(-rc));
	}
	if (u->holder == 0) {
		close(msg[0]);
		holder(msg[1], log_fd, (char *const *)argv, getppid(), o->outlive_caller);
	}
	close(msg[1]);
	rc = spawn_result(u, msg[0], err);
	close(msg[0]);
	if (rc < 0)
		return rc;
	snprintf(pidtext, sizeof(pidtext), "%d\n", u->agent);
	pathf(log, sizeof(log), "%s/agent.pid", u->dir);
	write_text(log, pidtext);
	pathf(log, sizeof(log), "%s/holder.pid", u->dir);
	write_pid_file(log, u->holder);
	return 0;
}

/* A handle with the state directory's paths (absolute state_dir required). */
static int puvm_new(const struct lcow_puvm_options *o, struct lcow_puvm **ret,
		    struct gcs_error *err)
{
	struct lcow_puvm *u;

	if (!o || !o->state_dir || o->state_dir[0] != '/')
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "an absolute state_dir is required");
	u = calloc(1, sizeof(*u));
	if (!u)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	u->holder = u->agent = -1;
	for (size_t i = 0; i < ARRAY_SIZE(u->disks); i++)
		u->disks[i].fd = -1;
	if (pathf(u->dir, sizeof(u->dir), "%s", o->state_dir) < 0 ||
	    pathf(u->run, sizeof(u->run), "%s/run", u->dir) < 0 ||
	    pathf(u->sys, sizeof(u->sys), "%s/sys", u->dir) < 0 ||
	    pathf(u->dev, sizeof(u->dev), "%s/dev", u->dir) < 0 ||
	    pathf(u->runc_root, sizeof(u->runc_root), "%s/runc", u->run) < 0) {
		free(u);
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", o->state_dir);
	}
	*ret = u;
	return 0;
}

int lcow_puvm_start(const struct lcow_puvm_options *o, struct lcow_puvm **ret,
		    struct gcs_error *err)
{
	struct gcs_bridge_options bo = { .connect_timeout_ms = 200 };
	struct lcow_puvm *u;
	char spec[PATH_MAX + 8], p[PATH_MAX];
	long long deadline;
	int rc, status;

	if (!o || !o->agent)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "the agent is required");
	if ((rc = puvm_new(o, &u, err)) < 0)
		return rc;
	if ((rc = mkdir_p(u->dir, 0700)) < 0 || (rc = mkdir_p(u->run, 0755)) < 0 ||
	    (rc = mkdir_p(u->dev, 0755)) < 0 ||
	    (rc = pathf(p, sizeof(p), "%s/bus/vmbus/devices", u->sys)) < 0 ||
	    (rc = mkdir_p(p, 0755)) < 0 ||
	    (rc = pathf(p, sizeof(p), "%s/bus/scsi/devices", u->sys)) < 0 ||
	    (rc = mkdir_p(p, 0755)) < 0) {
		gcs_error_set(err, rc, HR_FAIL, "create %s: %s", u->dir, strerror(-rc));
		lcow_puvm_stop(u);
		return rc;
	}
	snprintf(spec, sizeof(spec), "unix:%s/hv", u->dir);
	rc = gcs_transport_parse(spec, &u->t);
	if (rc < 0) {
		gcs_error_set(err, rc, HR_FAIL, "transport %s: %s", spec, strerror(-rc));
		lcow_puvm_stop(u);
		return rc;
	}
	bo.on_notification = o->on_notification;
	bo.user = o->user;
	bo.call_timeout_ms = 120000;
	if ((rc = gcs_bridge_listen(u->t, &bo, &u->bridge, err)) < 0 ||
	    (rc = start_agent(u, o, err)) < 0) {
		gcs_error_prefix(err, rc, "process-mode UVM");
		lcow_puvm_stop(u);
		return rc;
	}
	deadline = time_now_ms() + (o->boot_timeout_ms > 0 ? o->boot_timeout_ms : 20000);
	for (;;) {
		struct gcs_error e = { 0 };
		char tail[300];

		rc = gcs_bridge_connect(u->bridge, &e);
		if (rc == 0)
			break;
		if (rc != -ETIMEDOUT) {
			*err = e;
			lcow_puvm_stop(u);
			return rc;
		}
		if (o->cancelled && o->cancelled(o->user)) {
			gcs_error_set(err, -ECANCELED, HR_FAIL, "cancelled while starting");
			lcow_puvm_stop(u);
			return -ECANCELED;
		}
		if (waitpid(u->holder, &status, WNOHANG) == u->holder) {
			u->holder = -1;
			pathf(p, sizeof(p), "%s/agent.log", u->dir);
			log_tail(p, tail, sizeof(tail));
			gcs_error_set(err, -ECHILD, HR_FAIL,
				      "the agent exited (status %d) before it connected: %s",
				      WIFEXITED(status) ? WEXITSTATUS(status) :
							  128 + WTERMSIG(status),
				      tail[0] ? tail : "no log");
			lcow_puvm_stop(u);
			return -ECHILD;
		}
		if (time_now_ms() > deadline) {
			gcs_error_set(err, -ETIMEDOUT, HR_FAIL,
				      "the agent did not connect within %d ms (see %s/agent.log)",
				      o->boot_timeout_ms > 0 ? o->boot_timeout_ms : 20000, u->dir);
			lcow_puvm_stop(u);
			return -ETIMEDOUT;
		}
	}
	*ret = u;
	return 0;
}

/* The disks of an adopted UVM, from the stand-in sysfs tree: <sys>/bus/scsi/devices/C:0:0:L. */
static void find_disks(struct lcow_puvm *u)
{
	char p[PATH_MAX];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (pathf(p, sizeof(p), "%s/bus/scsi/devices", u->sys) < 0 || !(d = opendir(p)))
		return;
	while ((de = readdir(d))) {
		char bp[PATH_MAX];
		_cleanup_closedir_ DIR *b = NULL;
		struct dirent *be;
		unsigned c, l;
		int nr = -1;

		if (sscanf(de->d_name, "%u:0:0:%u", &c, &l) != 2 || c >= MAX_CONTROLLERS ||
		    l >= MAX_LUNS || pathf(bp, sizeof(bp), "%s/%s/block", p, de->d_name) < 0 ||
		    !(b = opendir(bp)))
			continue;
		while ((be = readdir(b)))
			if (sscanf(be->d_name, "loop%d", &nr) == 1)
				break;
		if (nr >= 0 && loop_bound(nr)) {
			char dev[64];
			snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
			u->disks[c * MAX_LUNS + l] = (struct puvm_disk){
				.used = true, .loop = nr, .fd = open(dev, O_RDONLY | O_CLOEXEC)
			};
		}
	}
}

int lcow_puvm_adopt(const struct lcow_puvm_options *o, struct lcow_puvm **ret,
		    struct gcs_error *err)
{
	struct gcs_bridge_options bo = { .connect_timeout_ms = 200,
					 .call_timeout_ms = 120000,
					 .on_notification = o ? o->on_notification : NULL,
					 .user = o ? o->user : NULL };
	char spec[PATH_MAX + 8], p[PATH_MAX];
	struct lcow_puvm *u;
	long long deadline;
	int rc;

	if ((rc = puvm_new(o, &u, err)) < 0)
		return rc;
	u->agent = running_agent(u->dir);
	if (pathf(p, sizeof(p), "%s/holder.pid", u->dir) < 0 || read_pid_file(p, &u->holder) < 0 ||
	    kill(u->holder, 0) < 0)
		u->holder = -1;
	if (u->agent < 0 || u->holder < 0) {
		free(u);
		return gcs_error_set(err, -ESRCH, HR_FAIL, "the agent is gone");
	}
	snprintf(spec, sizeof(spec), "unix:%s/hv", u->dir);
	rc = gcs_transport_parse(spec, &u->t);
	if (rc == 0)
		rc = gcs_bridge_listen(u->t, &bo, &u->bridge, err);
	else
		gcs_error_set(err, rc, HR_FAIL, "transport %s: %s", spec, strerror(-rc));
	deadline = time_now_ms() + (o->boot_timeout_ms > 0 ? o->boot_timeout_ms : 10000);
	while (rc == 0) {
		struct gcs_error e = { 0 };
		rc = gcs_bridge_connect(u->bridge, &e);
		if (rc == 0)
			break;
		if (rc != -ETIMEDOUT)
			*err = e;
		else if (o->cancelled && o->cancelled(o->user))
			rc = gcs_error_set(err, -ECANCELED, HR_FAIL, "cancelled");
		else if (running_agent(u->dir) < 0)
			rc = gcs_error_set(err, -ESRCH, HR_FAIL, "the agent went away");
		else if (time_now_ms() > deadline)
			rc = gcs_error_set(err, -ETIMEDOUT, HR_FAIL,
					   "the agent did not dial again within %d ms",
					   o->boot_timeout_ms > 0 ? o->boot_timeout_ms : 10000);
		else
			rc = 0;
	}
	if (rc < 0) {
		/* Leave the UVM alone: close only what this call opened. */
		if (u->bridge)
			gcs_bridge_close(u->bridge);
		gcs_transport_free(u->t);
		free(u);
		return rc;
	}
	find_disks(u);
	*ret = u;
	return 0;
}

struct gcs_bridge *lcow_puvm_bridge(struct lcow_puvm *u)
{
	return u->bridge;
}

const char *lcow_puvm_run_root(const struct lcow_puvm *u)
{
	return u->run;
}

int lcow_puvm_agent_pid(const struct lcow_puvm *u)
{
	return u->agent;
}
