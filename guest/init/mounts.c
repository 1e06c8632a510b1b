/* The UVM's filesystems (see mounts.h); the table follows hcsshim's init. */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

struct mnt {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
};

#define NOSUID_NODEV_NOEXEC (MS_NOSUID | MS_NODEV | MS_NOEXEC)

static const struct mnt base_mounts[] = {
	{ "proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC, NULL },
	{ "tmpfs", "/run", "tmpfs", NOSUID_NODEV_NOEXEC, "mode=0755" },
	{ "tmpfs", "/tmp", "tmpfs", NOSUID_NODEV_NOEXEC, "mode=1777" },
	{ "shm", "/dev/shm", "tmpfs", NOSUID_NODEV_NOEXEC, "mode=1777" },
	/* A private instance, so that /dev/ptmx (linked to it below) hands out its ptys. */
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	  "newinstance,ptmxmode=0666,mode=0620" },
};

static const struct {
	const char *path, *target;
} links[] = {
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
};

static int do_mount(const struct mnt *m)
{
	if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount(m->source, m->target, m->type, m->flags, m->data) < 0)
		return -errno;
	return 0;
}

int mounts_dev(void)
{
	static const struct mnt dev = { "devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC,
					"mode=0755" };
	int rc = do_mount(&dev);

	return rc == -EBUSY ? 0 : rc;
}

int mounts_base(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(base_mounts); i++) {
		int rc = do_mount(&base_mounts[i]);
		if (rc < 0) {
			log_msg("mount %s on %s: %s", base_mounts[i].type, base_mounts[i].target,
				strerror(-rc));
			return rc;
		}
	}
	/* devtmpfs made /dev/ptmx the initial devpts instance's node; ours is pts/ptmx. */
	if ((unlink("/dev/ptmx") < 0 && errno != ENOENT) || symlink("pts/ptmx", "/dev/ptmx") < 0) {
		int rc = -errno;
		log_msg("link /dev/ptmx to pts/ptmx: %s", strerror(errno));
		return rc;
	}
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlink(links[i].target, links[i].path) < 0 && errno != EEXIST) {
			int rc = -errno;
			log_msg("link %s: %s", links[i].path, strerror(errno));
			return rc;
		}
	return 0;
}

/*
 * runc's cgroup v2 device controller attaches BPF_CGROUP_DEVICE programs. A kernel without
 * CONFIG_CGROUP_BPF answers the query with EINVAL (or ENOSYS without bpf at all): then v1 it is.
 * EPERM or success means the program type exists. hcsshim's init makes the same probe.
 */
static bool cgroup_bpf_usable(int dirfd)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.query.target_fd = dirfd;
	attr.query.attach_type = BPF_CGROUP_DEVICE;
	if (syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof(attr)) < 0)
		return errno != EINVAL && errno != ENOSYS;
	return true;
}

/* Enables every available controller for the root's children, one at a time. */
static void cgroup2_enable_controllers(void)
{
	char buf[512], *save = NULL;
	_cleanup_close_ int in = open(CGROUP_ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = open(CGROUP_ROOT "/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (in < 0 || out < 0)
		return;
	n = read(in, buf, sizeof(buf) - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *c = strtok_r(buf, " \n", &save); c; c = strtok_r(NULL, " \n", &save)) {
		char w[64];
		int len = snprintf(w, sizeof(w), "+%s", c);
		if (write(out, w, len) < 0)
			log_msg("cgroup2: enable %s: %s", c, strerror(errno));
	}
}

static int cgroup2_try(void)
{
	_cleanup_close_ int dir = -1;
	bool ok;

	if (mount("cgroup2", CGROUP_ROOT, "cgroup2", NOSUID_NODEV_NOEXEC, NULL) < 0)
		return -errno;
	dir = open(CGROUP_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ok = dir >= 0 && faccessat(dir, "cgroup.controllers", F_OK, 0) == 0 &&
	     cgroup_bpf_usable(dir);
	if (dir >= 0)
		close(TAKE_FD(dir)); /* an open fd would keep the umount below busy */
	if (!ok) {
		umount(CGROUP_ROOT);
		return -ENOTSUP;
	}
	cgroup2_enable_controllers();
	return 0;
}

/* Each enabled controller of /proc/cgroups on its own hierarchy under a tmpfs. */
static int cgroup1_mount(void)
{
	_cleanup_fclose_ FILE *f = NULL;
	char line[256];
	int mounted = 0;

	if (mount("cgroup_root", CGROUP_ROOT, "tmpfs", NOSUID_NODEV_NOEXEC, "mode=0755") < 0)
		return -errno;
	f = fopen("/proc/cgroups", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char name[64], path[128];
		int hierarchy, count, enabled;

		if (line[0] == '#' ||
		    sscanf(line, "%63s %d %d %d", name, &hierarchy, &count, &enabled) != 4 ||
		    !enabled)
			continue;
		snprintf(path, sizeof(path), CGROUP_ROOT "/%s", name);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			continue;
		if (mount("cgroup", path, "cgroup", NOSUID_NODEV_NOEXEC, name) < 0) {
			log_msg("cgroup v1: mount %s: %s", name, strerror(errno));
			rmdir(path);
			continue;
		}
		mounted++;
	}
	return mounted ? 0 : -ENOENT;
}

int mounts_cgroups(bool force_v1, bool *ret_v2)
{
	int rc;

	if (mkdir(CGROUP_ROOT, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (!force_v1) {
		rc = cgroup2_try();
		if (rc == 0) {
			*ret_v2 = true;
			return 0;
		}
		log_msg("cgroup2 not usable (%s), mounting v1", strerror(-rc));
	}
	rc = cgroup1_mount();
	if (rc < 0)
		return rc;
	*ret_v2 = false;
	return 0;
}
