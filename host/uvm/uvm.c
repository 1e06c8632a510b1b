/*
 * The QEMU utility VM: lcow-vsock as the vsock device (hybrid Unix sockets on the host side),
 * microvm (q35 for pmem or hot-plug) with the PVH vmlinux under TCG, virtio-scsi LUNs, the
 * boot-time ports served here. NICs are uvm_nic.c's.
 */
#include "uvm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "proc.h"
#include "timeutil.h"

#define GUEST_CID 3
#define DEFAULT_AGENT "-e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel debug"

static void say(struct lcow_uvm *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct lcow_uvm *u, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!u->on_log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	u->on_log(u->user, line);
}

/* Host CPU frequency in kHz for tsc_early_khz (microvm under TCG hangs without it). */
static long host_khz(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	double mhz = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			break;
	return mhz > 0 ? (long)(mhz * 1000) : 2000000;
}

/*
 * Port 1: 512 random bytes for the guest's RNDADDENTROPY. Port 109: the agent's stderr, one
 * JSON object per line, re-logged. hcsshim accepts both before the bridge; so do we, on a thread
 * of their own while the main thread waits for the bridge.
 */
static void *boot_ports(void *arg)
{
	struct lcow_uvm *u = arg;
	int efd = -1, lfd = -1;
	char buf[4096];
	size_t len = 0;

	while (!u->stopping && (efd < 0 || lfd < 0 || u->log_fd >= 0)) {
		struct pollfd p[3] = { { .fd = efd < 0 ? u->entropy_fd : -1, .events = POLLIN },
				       { .fd = lfd < 0 ? u->log_fd : -1, .events = POLLIN },
				       { .fd = lfd, .events = POLLIN } };
		if (poll(p, 3, 200) <= 0)
			continue;
		if (p[0].revents && gcs_transport_accept(u->entropy_fd, 0, &efd) == 0) {
			unsigned char rnd[512];
			_cleanup_close_ int r = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
			if (r >= 0 && read(r, rnd, sizeof(rnd)) == sizeof(rnd) &&
			    gcs_proto_write_all(efd, rnd, sizeof(rnd), 5000) == 0)
				u->entropy_sent = true;
			close(efd);
			say(u, "uvm: sent 512 bytes of entropy on port 1");
		}
		if (p[1].revents && lfd < 0 && gcs_transport_accept(u->log_fd, 0, &lfd) == 0)
			say(u, "uvm: the agent's log stream connected on port 109");
		if (lfd >= 0 && p[2].revents) {
			ssize_t n = read(lfd, buf + len, sizeof(buf) - 1 - len);
			if (n <= 0) {
				close(lfd);
				lfd = -2; /* done: stop watching */
				break;
			}
			len += (size_t)n;
			buf[len] = '\0';
			for (char *nl; (nl = strchr(buf, '\n'));) {
				*nl = '\0';
				u->log_lines++;
				if (u->on_log)
					u->on_log(u->user, buf);
				len -= (size_t)(nl + 1 - buf);
				memmove(buf, nl + 1, len + 1);
			}
			if (len == sizeof(buf) - 1)
				len = 0; /* an overlong line: drop it */
		}
	}
	if (lfd >= 0)
		close(lfd);
	return NULL;
}

/* argv0 on PATH as an absolute path (found before the fork: the child searches nothing). */
static int find_program(const char *argv0, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(argv0, '/'))
		return snprintf(buf, len, "%s", argv0) < (int)len ? 0 : -ENAMETOOLONG;
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		if (n && snprintf(buf, len, "%.*s/%s", (int)n, p, argv0) < (int)len &&
		    access(buf, X_OK) == 0)
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	return -ENOENT;
}

/*
 * fds[i] becomes the child's fd UVM_TAP_FD_BASE + i (a boot-time tap QEMU's -netdev names);
 * every other fd of ours is O_CLOEXEC. The launcher's process has threads, so between fork and
 * exec the child makes raw system calls only: a libc or sanitizer wrapper could wait forever on
 * a lock that another thread held at the fork.
 */
static pid_t spawn(char *const argv[], const char *out_path, bool pdeathsig, const int *fds,
		   size_t n_fds)
{
	extern char **environ;
	char prog[PATH_MAX];
	sigset_t all;
	pid_t pid;

	if (find_program(argv[0], prog, sizeof(prog)) < 0) {
		errno = ENOENT;
		return -1;
	}
	sigemptyset(&all);
	pid = fork();
	if (pid == 0) {
		long null = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
		long out = syscall(SYS_openat, AT_FDCWD, out_path,
				   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		long moved[UVM_MAX_NICS];

		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, _NSIG / 8);
		syscall(SYS_dup3, null, 0, 0);
		syscall(SYS_dup3, out >= 0 ? out : null, 1, 0);
		syscall(SYS_dup3, out >= 0 ? out : null, 2, 0);
		/* Out of the target range first, so that no source is overwritten before it moves. */
		for (size_t i = 0; i < n_fds && i < UVM_MAX_NICS; i++) {
			moved[i] = syscall(SYS_fcntl, fds[i], F_DUPFD_CLOEXEC,
					   UVM_TAP_FD_BASE + (int)n_fds);
			if (moved[i] < 0)
				syscall(SYS_exit_group, 126);
		}
		for (size_t i = 0; i < n_fds && i < UVM_MAX_NICS; i++)
			if (syscall(SYS_dup3, moved[i], UVM_TAP_FD_BASE + (int)i, 0) < 0)
				syscall(SYS_exit_group, 126);
		/* Unless they are to outlive it, QEMU and the device die with the launcher. */
		if (pdeathsig) {
			syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
			if (syscall(SYS_getppid) == 1)
				syscall(SYS_exit_group, 127);
		}
		syscall(SYS_execve, prog, argv, environ);
		syscall(SYS_exit_group, 127);
	}
	return pid;
}

/* Whether our child still runs (status: how it ended). */
static bool alive(pid_t pid, int *status)
{
	return pid > 0 && waitpid(pid, status, WNOHANG) == 0;
}

/* Whether QEMU or the device still runs, ours or adopted (its command line names our dir). */
static bool runs(struct lcow_uvm *u, pid_t pid, int *status)
{
	return u->adopted ? pid_runs(pid, (const char *const[]){ u->dir, NULL }) :
			    alive(pid, status);
}

static void reap(pid_t *pid)
{
	if (*pid <= 0)
		return;
	proc_stop(*pid, SIGKILL, 5000);
	*pid = -1;
}

static void pid_path(const struct lcow_uvm *u, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.pid", u->dir, name);
}

void lcow_uvm_stop(struct lcow_uvm *u)
{
	char path[400];

	if (!u)
		return;
	u->stopping = true;
	if (u->bridge)
		gcs_bridge_close(u->bridge);
	if (u->qmp_open)
		qmp_close(&u->qmp);
	reap(&u->qemu);
	reap(&u->vsock);
	pid_path(u, "qemu", path, sizeof(path));
	unlink(path);
	pid_path(u, "vsock", path, sizeof(path));
	unlink(path);
	if (u->boot_thread_started)
		pthread_join(u->boot_thread, NULL);
	if (u->entropy_fd >= 0)
		gcs_transport_unlisten(u->t, GCS_PORT_ENTROPY, u->entropy_fd);
	if (u->log_fd >= 0)
		gcs_transport_unlisten(u->t, GCS_PORT_LOG, u->log_fd);
	gcs_transport_free(u->t);
	unlink(u->vhost);
	unlink(u->qmp_path);
	snprintf(path, sizeof(path), "%s", u->base);
	unlink(path);
	pthread_mutex_destroy(&u->qmp_lock);
	free(u);
}

static int wait_for_socket(const char *path, pid_t owner, int timeout_ms)
{
	long long deadline = time_now_ms() + timeout_ms;
	struct stat st;

	while (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		if (!alive(owner, NULL))
			return -ECHILD;
		if (time_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}

static int build_qemu_argv(struct lcow_uvm *u, const struct lcow_uvm_options *o, char **argv,
			   size_t cap, char *strings, size_t slen)
{
	size_t n = 0, off = 0;
	unsigned ctrls = o->scsi_controllers ? o->scsi_controllers : 1;
	unsigned mem = o->memory_mb ? o->memory_mb : 512;

#define ARG(...)                                                          \
	do {                                                              \
		int w = snprintf(strings + off, slen - off, __VA_ARGS__); \
		if (n + 1 >= cap || w < 0 || (size_t)w >= slen - off)     \
			return -E2BIG;                                    \
		argv[n++] = strings + off;                                \
		off += (size_t)w + 1;                                     \
	} while (0)
	ARG("%s", o->qemu ? o->qemu : "qemu-system-x86_64");
	/* /dev/kvm exists here but hangs stock guests (a nested PVM): TCG always. */
	ARG("-accel");
	ARG("tcg");
	/*
	 * microvm boots fastest; pmem needs PCI (on microvm the region lands at 0), and hot-plug
	 * PCIe root ports, so q35 for those.
	 */
	ARG("-M");
	ARG(u->q35 ? "q35,memory-backend=mem" : "microvm,memory-backend=mem");
	ARG("-m");
	if (o->n_pmem)
		ARG("%uM,slots=%zu,maxmem=%uM", mem, o->n_pmem, mem + 4096 * (unsigned)o->n_pmem);
	else
		ARG("%uM", mem);
	ARG("-smp");
	ARG("%u", o->cpus ? o->cpus : 1);
	ARG("-object");
	ARG("memory-backend-memfd,id=mem,size=%uM,share=on", mem);
	ARG("-global");
	ARG("virtio-mmio.force-legacy=false");
	ARG("-nodefaults");
	ARG("-no-reboot");
	ARG("-display");
	ARG("none");
	ARG("-serial");
	ARG("file:%s", u->console);
	ARG("-kernel");
	ARG("%s", o->kernel);
	ARG("-initrd");
	ARG("%s", o->initrd);
	ARG("-append");
	ARG("console=ttyS0 quiet panic=-1 tsc_early_khz=%ld nr_cpus=%u -- %s", host_khz(),
	    o->cpus ? o->cpus : 1, o->agent_cmdline ? o->agent_cmdline : DEFAULT_AGENT);
	ARG("-chardev");
	ARG("socket,id=vsock0,path=%s", u->vhost);
	ARG("-device");
	ARG("vhost-user-vsock-%s,chardev=vsock0", u->q35 ? "pci" : "device");
	for (unsigned i = 0; i < ctrls; i++) {
		ARG("-device");
		ARG("virtio-scsi-%s,id=scsi%u", u->q35 ? "pci" : "device", i);
	}
	/* With hotplug, each boot-time NIC sits on a root port of its own, so it can leave too. */
	for (size_t i = 0; o->hotplug && i < o->n_nics + UVM_HOTPLUG_PORTS; i++) {
		char port[32];
		uvm_port_id(i, port, sizeof(port));
		ARG("-device");
		ARG("pcie-root-port,id=%s,chassis=%zu", port, i + 1);
	}
	for (size_t i = 0, taps = 0; i < o->n_nics; i++) {
		const struct lcow_uvm_nic *nic = &o->nics[i];
		char val[2048];
		int fd = nic->backend == LCOW_NIC_TAP ? UVM_TAP_FD_BASE + (int)taps++ : -1;
		if (uvm_nic_netdev_arg(nic, fd, val, sizeof(val)) < 0)
			return -E2BIG;
		ARG("-netdev");
		ARG("%s", val);
		if (uvm_nic_device_arg(nic, u->q35, o->hotplug ? (int)i : -1, val, sizeof(val)) < 0)
			return -E2BIG;
		ARG("-device");
		ARG("%s", val);
	}
	for (size_t i = 0; i < o->n_pmem; i++) {
		struct stat st;
		if (stat(o->pmem[i].path, &st) < 0)
			return -errno;
		/* The backend's size must be the file's. */
		ARG("-object");
		ARG("memory-backend-file,id=pm%zu,share=off,readonly=on,mem-path=%s,size=%lld", i,
		    o->pmem[i].path, (long long)st.st_size);
		ARG("-device");
		ARG("virtio-pmem-pci,memdev=pm%zu,id=vpm%zu", i, i);
	}
	for (size_t i = 0; i < o->n_disks; i++) {
		const struct lcow_uvm_disk *d = &o->disks[i];
		ARG("-drive");
		ARG("file=%s,if=none,id=d%u_%u,format=raw%s", d->path, d->controller, d->lun,
		    d->read_only ? ",readonly=on" : ",cache=unsafe");
		ARG("-device");
		ARG("scsi-hd,bus=scsi%u.0,channel=0,scsi-id=0,lun=%u,drive=d%u_%u,id=hd%u_%u",
		    d->controller, d->lun, d->controller, d->lun, d->controller, d->lun);
	}
	ARG("-qmp");
	ARG("unix:%s,server=on,wait=off", u->qmp_path);
#undef ARG
	argv[n] = NULL;
	return 0;
}

int lcow_uvm_start(const struct lcow_uvm_options *o, struct lcow_uvm **ret, struct gcs_error *err)
{
	struct gcs_bridge_options bo = { .connect_timeout_ms = 250 };
	struct lcow_uvm *u;
	char spec[320], log[300], cid[16], strings[16384], errbuf[256];
	char *argv[192];
	int taps[UVM_MAX_NICS];
	size_t n_taps = 0;
	long long t0, deadline;
	int rc, status = 0;

	/* Before anything starts: a bad NIC fails alone. */
	rc = uvm_nics_check(o->nics, o->n_nics, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < o->n_nics; i++)
		if (o->nics[i].backend == LCOW_NIC_TAP)
			taps[n_taps++] = o->nics[i].tap_fd;
	u = calloc(1, sizeof(*u));
	if (!u)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	pthread_mutex_init(&u->qmp_lock, NULL);
	u->q35 = o->n_pmem || o->hotplug;
	u->qemu = u->vsock = -1;
	u->entropy_fd = u->log_fd = -1;
	u->on_log = o->on_log;
	u->user = o->user;
	if (!o->state_dir || !o->kernel || !o->initrd || !o->vsock_device) {
		free(u);
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "state_dir, kernel, initrd and vsock_device are required");
	}
	snprintf(u->dir, sizeof(u->dir), "%s", o->state_dir);
	if (mkdir(u->dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		free(u);
		return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", o->state_dir, strerror(-rc));
	}
	snprintf(u->base, sizeof(u->base), "%s/hv", u->dir);
	snprintf(u->vhost, sizeof(u->vhost), "%s/vhost.sock", u->dir);
	snprintf(u->qmp_path, sizeof(u->qmp_path), "%s/qmp.sock", u->dir);
	snprintf(u->console, sizeof(u->console), "%s/console.log", u->dir);
	for (const char *f = o->kernel; f; f = f == o->kernel ? o->initrd : NULL)
		if (access(f, R_OK) < 0) {
			rc = -errno;
			free(u);
			return gcs_error_set(err, rc, HR_FAIL, "%s: %s (run make initrd)", f,
					     strerror(-rc));
		}
	snprintf(spec, sizeof(spec), "unix:%s", u->base);
	rc = gcs_transport_parse(spec, &u->t);
	if (rc < 0) {
		free(u);
		return gcs_error_set(err, rc, HR_FAIL, "transport %s: %s", spec, strerror(-rc));
	}
	/* Every host port listens before the VM can dial. */
	bo.on_notification = o->on_notification;
	bo.user = o->user;
	if ((rc = gcs_transport_listen(u->t, GCS_PORT_ENTROPY, &u->entropy_fd)) < 0 ||
	    (rc = gcs_transport_listen(u->t, GCS_PORT_LOG, &u->log_fd)) < 0 ||
	    (rc = gcs_bridge_listen(u->t, &bo, &u->bridge, err)) < 0) {
		gcs_error_prefix(err, rc, "listen on %s", u->base);
		lcow_uvm_stop(u);
		return rc;
	}
	if (pthread_create(&u->boot_thread, NULL, boot_ports, u) == 0)
		u->boot_thread_started = true;

	/* The vsock device, then QEMU. */
	snprintf(cid, sizeof(cid), "%d", GUEST_CID);
	snprintf(log, sizeof(log), "%s/vsock.log", u->dir);
	unlink(u->vhost);
	{
		char *vargv[] = { (char *)o->vsock_device,
				  "--socket",
				  u->vhost,
				  "--guest-cid",
				  cid,
				  "--uds-path",
				  u->base,
				  NULL };
		u->vsock = spawn(vargv, log, !o->outlive_caller, NULL, 0);
		pid_path(u, "vsock", log, sizeof(log));
		if (u->vsock > 0)
			write_pid_file(log, u->vsock);
		snprintf(log, sizeof(log), "%s/vsock.log", u->dir);
	}
	rc = wait_for_socket(u->vhost, u->vsock, 10000);
	if (rc < 0) {
		gcs_error_set(err, rc, HR_FAIL, "the vsock device did not start (see %s)", log);
		lcow_uvm_stop(u);
		return rc;
	}
	rc = build_qemu_argv(u, o, argv, ARRAY_SIZE(argv), strings, sizeof(strings));
	if (rc < 0) {
		gcs_error_set(err, rc, HR_FAIL, "QEMU command line: %s",
			      rc == -E2BIG ? "too long" : strerror(-rc));
		lcow_uvm_stop(u);
		return rc;
	}
	snprintf(log, sizeof(log), "%s/qemu.log", u->dir);
	t0 = time_now_ms();
	u->qemu = spawn(argv, log, !o->outlive_caller, taps, n_taps);
	{
		char pp[320];
		pid_path(u, "qemu", pp, sizeof(pp));
		if (u->qemu > 0)
			write_pid_file(pp, u->qemu);
	}
	say(u, "uvm: started QEMU pid %d (console %s)", u->qemu, u->console);

	deadline = t0 + (o->boot_timeout_ms > 0 ? o->boot_timeout_ms : 60000);
	for (;;) {
		struct gcs_error e = { 0 };
		rc = gcs_bridge_connect(u->bridge, &e);
		if (rc == 0)
			break;
		if (rc != -ETIMEDOUT) {
			*err = e;
			lcow_uvm_stop(u);
			return rc;
		}
		if (o->cancelled && o->cancelled(o->user)) {
			gcs_error_set(err, -ECANCELED, HR_FAIL, "cancelled while booting");
			lcow_uvm_stop(u);
			return -ECANCELED;
		}
		if (!alive(u->qemu, &status)) {
			u->qemu = -1;
			gcs_error_set(
				err, -ECHILD, HR_FAIL,
				"QEMU exited (status 0x%x) before the agent connected; see %s "
				"and %s",
				status, log, u->console);
			lcow_uvm_stop(u);
			return -ECHILD;
		}
		if (!alive(u->vsock, &status)) {
			u->vsock = -1;
			gcs_error_set(err, -ECHILD, HR_FAIL,
				      "the vsock device exited (see %s/vsock.log)", u->dir);
			lcow_uvm_stop(u);
			return -ECHILD;
		}
		if (time_now_ms() > deadline) {
			gcs_error_set(err, -ETIMEDOUT, HR_FAIL,
				      "the agent did not connect within %d ms; see %s",
				      o->boot_timeout_ms > 0 ? o->boot_timeout_ms : 60000,
				      u->console);
			lcow_uvm_stop(u);
			return -ETIMEDOUT;
		}
	}
	u->boot_ms = (int)(time_now_ms() - t0);
	rc = qmp_connect(&u->qmp, u->qmp_path, 10000, errbuf, sizeof(errbuf));
	if (rc < 0)
		say(u, "uvm: no QMP, disks and NICs cannot be hot-plugged: %s", errbuf);
	else
		u->qmp_open = true;
	say(u, "uvm: the agent negotiated after %d ms", u->boot_ms);
	*ret = u;
	return 0;
}

/* The pid in <dir>/<name>.pid when that process still runs with dir on its command line. */
static pid_t running_pid(const char *dir, const char *name)
{
	char p[PATH_MAX];
	pid_t pid;

	if (pathf(p, sizeof(p), "%s/%s.pid", dir, name) < 0 || read_pid_file(p, &pid) < 0 ||
	    !pid_runs(pid, (const char *const[]){ dir, NULL }))
		return -1;
	return pid;
}

int lcow_uvm_adopt(const struct lcow_uvm_options *o, struct lcow_uvm **ret, struct gcs_error *err)
{
	struct gcs_bridge_options bo = { .connect_timeout_ms = 250,
					 .on_notification = o->on_notification,
					 .user = o->user };
	struct lcow_uvm *u;
	char spec[320], errbuf[256];
	long long deadline;
	int rc;

	if (!o->state_dir)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "state_dir is required");
	u = calloc(1, sizeof(*u));
	if (!u)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	pthread_mutex_init(&u->qmp_lock, NULL);
	u->entropy_fd = u->log_fd = -1;
	u->adopted = true;
	u->on_log = o->on_log;
	u->user = o->user;
	snprintf(u->dir, sizeof(u->dir), "%s", o->state_dir);
	snprintf(u->base, sizeof(u->base), "%s/hv", u->dir);
	snprintf(u->vhost, sizeof(u->vhost), "%s/vhost.sock", u->dir);
	snprintf(u->qmp_path, sizeof(u->qmp_path), "%s/qmp.sock", u->dir);
	snprintf(u->console, sizeof(u->console), "%s/console.log", u->dir);
	u->qemu = running_pid(u->dir, "qemu");
	u->vsock = running_pid(u->dir, "vsock");
	if (u->qemu < 0 || u->vsock < 0) {
		rc = gcs_error_set(err, -ESRCH, HR_FAIL, "the VM is gone (%s is not running)",
				   u->qemu < 0 ? "QEMU" : "its vsock device");
		free(u);
		return rc;
	}
	snprintf(spec, sizeof(spec), "unix:%s", u->base);
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
		if (rc != -ETIMEDOUT) {
			*err = e;
		} else if (o->cancelled && o->cancelled(o->user)) {
			rc = gcs_error_set(err, -ECANCELED, HR_FAIL, "cancelled");
		} else if (!runs(u, u->qemu, NULL) || !runs(u, u->vsock, NULL)) {
			rc = gcs_error_set(err, -ESRCH, HR_FAIL, "the VM went away");
		} else if (time_now_ms() > deadline) {
			rc = gcs_error_set(err, -ETIMEDOUT, HR_FAIL,
					   "the agent did not dial again within %d ms",
					   o->boot_timeout_ms > 0 ? o->boot_timeout_ms : 10000);
		} else {
			rc = 0;
		}
	}
	if (rc < 0) {
		/* Leave the VM alone: close only what this call opened. */
		if (u->bridge)
			gcs_bridge_close(u->bridge);
		gcs_transport_free(u->t);
		pthread_mutex_destroy(&u->qmp_lock);
		free(u);
		return rc;
	}
	rc = qmp_connect(&u->qmp, u->qmp_path, 10000, errbuf, sizeof(errbuf));
	if (rc < 0)
		say(u, "uvm: no QMP, disks and NICs cannot be hot-plugged: %s", errbuf);
	else
		u->qmp_open = true;
	if (u->qmp_open && uvm_probe_machine(u, errbuf, sizeof(errbuf)) < 0)
		say(u, "uvm: QEMU's machine type is unknown, NICs cannot be hot-plugged: %s",
		    errbuf);
	say(u, "uvm: adopted QEMU pid %d and its vsock device pid %d", u->qemu, u->vsock);
	*ret = u;
	return 0;
}

int lcow_uvm_sweep(const char *state_dir)
{
	static const char *const names[] = { "qemu", "vsock" };
	char p[PATH_MAX];
	int n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		pid_t pid = running_pid(state_dir, names[i]);
		if (pid > 0 && proc_stop(pid, SIGKILL, 5000) == 0)
			n++;
		if (pathf(p, sizeof(p), "%s/%s.pid", state_dir, names[i]) == 0)
			unlink(p);
	}
	return n;
}

struct gcs_bridge *lcow_uvm_bridge(struct lcow_uvm *u)
{
	return u->bridge;
}

int lcow_uvm_boot_ms(const struct lcow_uvm *u)
{
	return u->boot_ms;
}

bool lcow_uvm_entropy_sent(const struct lcow_uvm *u)
{
	return u->entropy_sent;
}

unsigned lcow_uvm_log_lines(const struct lcow_uvm *u)
{
	return u->log_lines;
}

const char *lcow_uvm_console_log(const struct lcow_uvm *u)
{
	return u->console;
}

const char *lcow_uvm_vsock_base(const struct lcow_uvm *u)
{
	return u->base;
}

int uvm_qmp(struct lcow_uvm *u, const char *cmd, int fd, json_t **ret, char *errbuf, size_t errlen)
{
	int rc = -ENOTCONN;

	pthread_mutex_lock(&u->qmp_lock);
	if (u->qmp_open)
		rc = qmp_call(&u->qmp, cmd, fd, 10000, ret, errbuf, errlen);
	else
		snprintf(errbuf, errlen, "no QMP connection to QEMU");
	pthread_mutex_unlock(&u->qmp_lock);
	return rc;
}

int lcow_uvm_add_disk(struct lcow_uvm *u, const struct lcow_uvm_disk *d, struct gcs_error *err)
{
	char cmd[1024], errbuf[256];
	int rc;

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"raw\",\"node-name\":"
		 "\"hp%u_%u\",\"read-only\":%s,\"file\":{\"driver\":\"file\",\"filename\":\"%s\","
		 "\"read-only\":%s}}}",
		 d->controller, d->lun, d->read_only ? "true" : "false", d->path,
		 d->read_only ? "true" : "false");
	rc = uvm_qmp(u, cmd, -1, NULL, errbuf, sizeof(errbuf));
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "add %s: %s", d->path, errbuf);
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"scsi-hd\",\"id\":"
		 "\"hd%u_%u\",\"bus\":\"scsi%u.0\",\"channel\":0,\"scsi-id\":0,\"lun\":%u,"
		 "\"drive\":\"hp%u_%u\"}}",
		 d->controller, d->lun, d->controller, d->lun, d->controller, d->lun);
	rc = uvm_qmp(u, cmd, -1, NULL, errbuf, sizeof(errbuf));
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "add %s: %s", d->path, errbuf);
	return 0;
}

int lcow_uvm_remove_disk(struct lcow_uvm *u, unsigned controller, unsigned lun,
			 struct gcs_error *err)
{
	char cmd[512], id[32], errbuf[256];
	int rc;

	snprintf(id, sizeof(id), "hd%u_%u", controller, lun);
	snprintf(cmd, sizeof(cmd), "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"%s\"}}",
		 id);
	rc = uvm_qmp(u, cmd, -1, NULL, errbuf, sizeof(errbuf));
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "remove %s: %s", id, errbuf);
	/* blockdev-del fails with "in use" until the guest let go of the device. */
	pthread_mutex_lock(&u->qmp_lock);
	rc = qmp_wait_deleted(&u->qmp, id, 30000);
	pthread_mutex_unlock(&u->qmp_lock);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "remove %s: no DEVICE_DELETED: %s", id,
				     strerror(-rc));
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"hp%u_%u\"}}",
		 controller, lun);
	rc = uvm_qmp(u, cmd, -1, NULL, errbuf, sizeof(errbuf));
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "remove %s: %s", id, errbuf);
	return 0;
}
