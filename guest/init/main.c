/*
 * lcow-init: the utility VM's PID 1, one static program doing the work of hcsshim's init and
 * vsockexec. The kernel starts it from the initrd with the words after "--" on its command
 * line as arguments (the rules are in args.h, and in initrd/README.md).
 *
 * In order: block every signal; move the root off the initramfs (root.h); mount /dev, /proc,
 * /sys, /run, /tmp, /dev/shm, /dev/pts and the cgroups; load the initrd's kernel modules; bring
 * lo up; seed the entropy pool from the host (port 1); connect the agent's stderr (and stdout
 * when asked) to the host (port 109); run the agent; reap every process that ends up with us;
 * power the VM off once the agent exits.
 *
 * PID 1 never returns (the kernel would panic): whatever fails before the agent runs is told on
 * the console and the VM powers off (catatonit's rule). Entropy, log connections, modules and
 * lo are not worth failing the boot for: they are logged and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdnoreturn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "cleanup.h"
#include "hostconn.h"
#include "log.h"
#include "modules.h"
#include "mounts.h"
#include "net.h"
#include "root.h"

#define HOST_TIMEOUT_MS 5000 /* per host connection; the host's listeners exist before boot */
#define NOFILE_SOFT 1024 /* as hcsshim's init */
#define NOFILE_HARD (1024 * 1024)

static char *const agent_env[] = { "PATH=/sbin:/usr/sbin:/bin:/usr/bin", NULL };

static const char *const fd_names[] = { "stdin", "stdout", "stderr" };

/* hcsshim's init takes "hcsshim.cgroup=v1" on the kernel command line; we take ours too. */
static bool cgroup_v1_wanted(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cmdline", "re");
	char line[4096];

	if (!f || !fgets(line, sizeof(line), f))
		return false;
	return init_cmdline_has(line, "hcsshim.cgroup=v1") ||
	       init_cmdline_has(line, "lcow.cgroup=v1");
}

static void load_modules(void)
{
	struct modules_result r;
	double start = log_uptime();
	int rc = modules_load(MODULES_LOAD_ORDER, &r);

	if (rc == -ENOENT) {
		log_msg("no %s: no modules to load", MODULES_LOAD_ORDER);
		return;
	}
	if (rc < 0) {
		log_msg("read %s: %s", MODULES_LOAD_ORDER, strerror(-rc));
		return;
	}
	log_msg("modules loaded: %d of %d (%d skipped, %d failed) in %.0f ms", r.loaded, r.total,
		r.skipped, r.failed, (log_uptime() - start) * 1000);
}

static void seed_entropy(uint32_t port)
{
	size_t bytes = 0;
	int rc;

	if (port == INIT_PORT_NONE)
		return;
	rc = hostconn_seed_entropy(port, HOST_TIMEOUT_MS, &bytes);
	if (rc < 0)
		log_msg("entropy from host port %u failed: %s", port, strerror(-rc));
	else
		log_msg("entropy: %zu bytes from host port %u", bytes, port);
}

/*
 * The agent's fds 0-2: a host connection per port (one shared connection when two fds name the
 * same port, as vsockexec does), else /dev/null for stdin and init's console for the others.
 * A failed connection falls back the same way, so the agent's log still reaches the serial
 * console. Every fd in ret_fds is either >= 3 or equal to its index.
 */
static void connect_stdio(const struct init_args *a, int devnull, int ret_fds[3])
{
	for (int i = 0; i < 3; i++) {
		uint32_t port = a->stdio_port[i];
		int rc;

		ret_fds[i] = i == 0 ? devnull : i;
		if (port == INIT_PORT_NONE)
			continue;
		for (int j = 0; j < i; j++)
			if (a->stdio_port[j] == port && ret_fds[j] >= 3)
				ret_fds[i] = ret_fds[j];
		if (ret_fds[i] >= 3 && ret_fds[i] != devnull)
			continue;
		rc = hostconn_dial(port, HOST_TIMEOUT_MS, &ret_fds[i]);
		if (rc < 0) {
			ret_fds[i] = i == 0 ? devnull : i;
			log_msg("%s to host port %u failed: %s; using the %s", fd_names[i], port,
				strerror(-rc), i == 0 ? "null device" : "console");
		}
	}
}

/* Runs the agent; returns once it has been exec'd, or the reason it could not be. */
static int spawn_agent(char **argv, const int fds[3], pid_t *ret_pid)
{
	int status_pipe[2], err = 0;
	ssize_t n;
	pid_t pid;

	/* The child's exec errno comes back over a CLOEXEC pipe: EOF means exec succeeded. */
	if (pipe2(status_pipe, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(status_pipe[0]);
		close(status_pipe[1]);
		return err;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		for (int i = 0; i < 3; i++) {
			if (fds[i] == i ? fcntl(i, F_SETFD, 0) < 0 : dup2(fds[i], i) < 0)
				goto fail;
		}
		execvpe(argv[0], argv, agent_env);
fail:
		err = errno;
		(void)!write(status_pipe[1], &err, sizeof(err));
		_exit(127);
	}
	close(status_pipe[1]);
	do
		n = read(status_pipe[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(status_pipe[0]);
	if (n == sizeof(err)) {
		waitpid(pid, NULL, 0);
		return -err;
	}
	*ret_pid = pid;
	return 0;
}

static void log_agent_start(const struct init_args *a, const int fds[3])
{
	char cmd[512];
	size_t off = 0;

	cmd[0] = '\0';
	for (int i = 0; i < a->argc && off < sizeof(cmd); i++)
		off += snprintf(cmd + off, sizeof(cmd) - off, "%s%s", i ? " " : "", a->argv[i]);
	log_msg("starting agent: %s (stdout: %s, stderr: %s) at t=%.3f s", cmd,
		fds[1] >= 3 ? "host" : "console", fds[2] >= 3 ? "host" : "console", log_uptime());
}

static void log_exit(pid_t pid, int status)
{
	if (WIFEXITED(status))
		log_msg("agent exited: pid %d, status %d, at t=%.3f s", pid, WEXITSTATUS(status),
			log_uptime());
	else
		log_msg("agent exited: pid %d, killed by signal %d (%s), at t=%.3f s", pid,
			WTERMSIG(status), strsignal(WTERMSIG(status)), log_uptime());
}

/*
 * Nothing in the UVM outlives the agent: kill what is left, give it a moment to go (a process
 * stuck in D state must not keep the VM up), then power off.
 */
static noreturn void stop_everything(void)
{
	kill(-1, SIGKILL);
	for (int i = 0; i < 20 && waitpid(-1, NULL, WNOHANG) >= 0; i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(10 * 1000);
	}
	log_msg("powering off");
	power_off();
}

/* Reaps every child (orphans are re-parented to us) until the agent is gone. */
static noreturn void reap_until(pid_t agent)
{
	sigset_t chld;
	int sfd;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sfd = signalfd(-1, &chld, SFD_CLOEXEC);
	for (;;) {
		struct signalfd_siginfo si;
		int status;
		pid_t pid;

		/* SIGCHLD is blocked and pending signals merge: each wake-up reaps them all. */
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid != agent)
				continue;
			log_exit(pid, status);
			stop_everything();
		}
		if (sfd >= 0) {
			if (read(sfd, &si, sizeof(si)) < 0 && errno != EINTR)
				sfd = -1;
		} else if ((pid = waitpid(-1, &status, 0)) == agent) {
			log_exit(pid, status);
			stop_everything();
		}
	}
}

int main(int argc, char **argv)
{
	struct rlimit nofile = { .rlim_cur = NOFILE_SOFT, .rlim_max = NOFILE_HARD };
	struct init_args args;
	char errmsg[256];
	int args_rc, devnull, fds[3], rc;
	bool cgroup_v2 = false, switched;
	sigset_t all;
	pid_t agent = 0;

	if (getpid() != 1) {
		fputs("lcow-init: this is the utility VM's PID 1 and would take over this machine: "
		      "refusing to run as a plain process\n",
		      stderr);
		return 1;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	umask(022);
	log_msg("started at t=%.3f s", log_uptime());
	args_rc = init_args_parse(argc, argv, errmsg, sizeof(errmsg), &args);

	rc = root_switch_to_tmpfs();
	if (rc < 0)
		fatal("cannot move the root to a tmpfs: %s", strerror(-rc));
	switched = rc == 1;
	rc = mounts_dev();
	if (rc < 0)
		fatal("mount devtmpfs on /dev: %s", strerror(-rc));
	log_open_console();
	rc = mounts_base();
	if (rc < 0)
		fatal("cannot mount the base filesystems: %s", strerror(-rc));
	if (args_rc < 0)
		fatal("bad arguments after '--' on the kernel command line: %s", errmsg);
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		log_msg("setrlimit NOFILE: %s", strerror(errno));

	rc = mounts_cgroups(cgroup_v1_wanted(), &cgroup_v2);
	if (rc < 0)
		fatal("no cgroup filesystem could be mounted: %s", strerror(-rc));
	log_msg("filesystems mounted (cgroup %s, root %s) at t=%.3f s", cgroup_v2 ? "v2" : "v1",
		switched ? "moved to a tmpfs" : "kept", log_uptime());

	load_modules();
	rc = net_loopback_up();
	if (rc < 0)
		log_msg("lo up: %s", strerror(-rc));
	seed_entropy(args.entropy_port);

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		fatal("open /dev/null: %s", strerror(errno));
	connect_stdio(&args, devnull, fds);
	log_agent_start(&args, fds);
	rc = spawn_agent(args.argv, fds, &agent);
	if (rc < 0)
		fatal("cannot run %s: %s", args.argv[0], strerror(-rc));
	/* The agent has its copies; ours (each host connection once) go. */
	for (int i = 0; i < 3; i++) {
		bool shared = fds[i] < 3 || fds[i] == devnull;
		for (int j = 0; j < i; j++)
			shared |= fds[j] == fds[i];
		if (!shared)
			close(fds[i]);
	}
	close(devnull);
	reap_until(agent);
}
