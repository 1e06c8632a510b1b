/*
 * gcs: the guest compute service of an lcow utility VM. It dials the host's bridge port, speaks
 * hcsshim's GCS protocol v4 and runs processes and containers (through runc) for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "agent.h"
#include "bridge.h"
#include "child.h"
#include "cleanup.h"
#include "container.h"
#include "exec.h"
#include "hostpath.h"
#include "log.h"
#include "net.h"
#include "process.h"
#include "procspawn.h"
#include "request.h"
#include "storage.h"

static const char usage[] =
	"Usage: gcs [OPTIONS]\n"
	"\n"
	"The lcow guest agent: dials the host on vsock port 0x40000000 and serves hcsshim's GCS\n"
	"bridge protocol (version 4): processes in the utility VM, disks and layers, and\n"
	"containers through runc. At start it tries the host 10 times, 100 ms apart. When the\n"
	"connection is lost it keeps everything and dials again every 100 ms; it stops on a\n"
	"shutdown of the utility VM, or on SIGTERM/SIGINT when it is not PID 1.\n"
	"\n"
	"Options:\n"
	"  --transport vsock|unix:BASE  how to reach the host: AF_VSOCK to CID 2 (default), or the\n"
	"                               Unix sockets BASE_PORT (hybrid vsock, for running as a\n"
	"                               plain process)\n"
	"  --run-root DIR               every path the host sends must lie under DIR, and no\n"
	"                               symlink below DIR is followed (default /run)\n"
	"  --sysfs-root DIR             where SCSI and pmem disks are looked up (default /sys)\n"
	"  --dev-root DIR               where their device nodes are (default /dev)\n"
	"  --runc PATH                  the runc binary (default: runc from PATH)\n"
	"  --runc-root DIR              runc's state directory (default RUN_ROOT/gcs/runc)\n"
	"  --runtime-timeout MS         deadline of every runc call; runc is killed when it\n"
	"                               passes (default 30000)\n"
	"  --reconnect N                after a lost connection, give up (exit 1) after N failed\n"
	"                               dials; 0: exit when the connection ends (0 on EOF, 1 on\n"
	"                               an error); default: dial forever\n"
	"  --log-level LEVEL            error, warning, info (default), debug or trace\n"
	"  --log-format json|text       log lines on stderr: logrus JSON (default) or text\n"
	"  -h, --help                   show this help\n"
	"\n"
	"hcsshim's command line is accepted too: -v4 -log-format json -loglevel debug.\n"
	"As PID 1 the agent powers the VM off when it stops.\n";

enum {
	OPT_TRANSPORT = 0x100,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_V4,
	OPT_IGNORED_ARG,
	OPT_IGNORED,
	OPT_RUN_ROOT,
	OPT_SYSFS_ROOT,
	OPT_DEV_ROOT,
	OPT_RUNC,
	OPT_RUNC_ROOT,
	OPT_RECONNECT,
	OPT_RUNTIME_TIMEOUT,
};

/* container_shutdown is over: the shutdown phase of the loop may end. */
static bool containers_down;

static void on_containers_down(struct agent *a)
{
	containers_down = true;
	loop_quit(a->loop, 0);
}

static struct loop *shutdown_loop;

static void on_shutdown_late(struct loop_timer *t)
{
	(void)t;
	log_error("containers did not go down in time: stopping anyway");
	containers_down = true;
	loop_quit(shutdown_loop, 0);
}

static const struct option options[] = {
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "loglevel", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "v4", no_argument, NULL, OPT_V4 },
	{ "run-root", required_argument, NULL, OPT_RUN_ROOT },
	{ "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
	{ "dev-root", required_argument, NULL, OPT_DEV_ROOT },
	{ "runc", required_argument, NULL, OPT_RUNC },
	{ "runc-root", required_argument, NULL, OPT_RUNC_ROOT },
	{ "reconnect", required_argument, NULL, OPT_RECONNECT },
	{ "runtime-timeout", required_argument, NULL, OPT_RUNTIME_TIMEOUT },
	/* Flags of the Go GCS that mean nothing here. */
	{ "scrub-logs", optional_argument, NULL, OPT_IGNORED },
	{ "disable-time-sync", no_argument, NULL, OPT_IGNORED },
	{ "core-dump-location", required_argument, NULL, OPT_IGNORED_ARG },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_args(int argc, char **argv, struct agent_options *o)
{
	enum log_level level = LOG_INFO;
	bool json = true;
	int c;

	if (transport_parse("vsock", &o->transport) < 0)
		return -EINVAL;
	strcpy(o->run_root, "/run");
	strcpy(o->sysfs_root, "/sys");
	strcpy(o->dev_root, "/dev");
	strcpy(o->runc, "runc");
	o->dial_tries = 10;
	o->reconnect = -1;
	o->runtime_timeout_ms = 30000;
	while ((c = getopt_long_only(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_TRANSPORT:
			if (transport_parse(optarg, &o->transport) < 0) {
				fprintf(stderr,
					"gcs: invalid --transport '%s': expected vsock or "
					"unix:BASE\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "gcs: invalid log level '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_LOG_FORMAT:
			if (log_parse_format(optarg, &json) < 0) {
				fprintf(stderr,
					"gcs: invalid log format '%s': expected json or text\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_RUN_ROOT:
		case OPT_SYSFS_ROOT:
		case OPT_DEV_ROOT:
		case OPT_RUNC_ROOT: {
			char *dst = c == OPT_RUN_ROOT	? o->run_root :
				    c == OPT_SYSFS_ROOT ? o->sysfs_root :
				    c == OPT_DEV_ROOT	? o->dev_root :
							  o->runc_root;
			size_t n = strlen(optarg);
			if (optarg[0] != '/' || n >= sizeof(o->run_root) - 64) {
				fprintf(stderr,
					"gcs: --%s must be an absolute path shorter than %zu\n",
					c == OPT_RUN_ROOT   ? "run-root" :
					c == OPT_SYSFS_ROOT ? "sysfs-root" :
					c == OPT_DEV_ROOT   ? "dev-root" :
							      "runc-root",
					sizeof(o->run_root) - 64);
				return -EINVAL;
			}
			while (n > 1 && optarg[n - 1] == '/')
				optarg[--n] = '\0';
			memcpy(dst, optarg, n + 1);
			break;
		}
		case OPT_RUNC:
			snprintf(o->runc, sizeof(o->runc), "%s", optarg);
			break;
		case OPT_RUNTIME_TIMEOUT: {
			char *end;
			long ms;
			errno = 0;
			ms = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || ms < 1 || ms > 24L * 3600 * 1000) {
				fprintf(stderr,
					"gcs: invalid --runtime-timeout '%s': milliseconds, 1 to "
					"86400000\n",
					optarg);
				return -EINVAL;
			}
			o->runtime_timeout_ms = (int)ms;
			break;
		}
		case OPT_RECONNECT: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || end == optarg || n < 0 || n > 1000000000) {
				fprintf(stderr, "gcs: invalid --reconnect '%s': expected a count\n",
					optarg);
				return -EINVAL;
			}
			o->reconnect = (int)n;
			break;
		}
		case OPT_V4:
		case OPT_IGNORED:
		case OPT_IGNORED_ARG:
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs("Try 'gcs --help'.\n", stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gcs: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->runc_root[0])
		snprintf(o->runc_root, sizeof(o->runc_root), "%s/gcs/runc", o->run_root);
	log_setup(level, json);
	return 0;
}

/* fds 0-2 must be open so that nothing we open lands there by accident. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open("/dev/null", O_RDWR);
			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
	}
}

static void on_terminate(void *data, int sig)
{
	struct agent *a = data;

	if (a->opt.poweroff_on_exit) {
		log_warning("ignoring a termination signal: PID 1 stops on the host's shutdown",
			    LOG_INT("signal", sig));
		return;
	}
	log_info("stopping on a signal", LOG_INT("signal", sig));
	agent_stop(a, 0);
}

void agent_stop(struct agent *a, int code)
{
	if (a->stopping)
		return;
	a->stopping = true;
	a->exit_code = code;
	loop_quit(a->loop, code);
}

int main(int argc, char **argv)
{
	struct agent a = { .root_fd = -1 };
	int rc;

	ensure_std_fds();
	if (parse_args(argc, argv, &a.opt) < 0)
		return 2;
	a.opt.poweroff_on_exit = getpid() == 1;
	list_init(&a.requests);
	list_init(&a.processes);
	list_init(&a.pending_execs);
	list_init(&a.helpers);
	list_init(&a.mounts);
	list_init(&a.containers);
	list_init(&a.netns);
	list_init(&a.net_adds);
	/* A dead stdio peer is an EPIPE on the relay, never a signal. */
	signal(SIGPIPE, SIG_IGN);
	/* Orphans of our processes come to us to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	rc = spawn_init();
	if (rc < 0) {
		log_error("cannot open /dev/null", LOG_ERRNO(rc));
		return 1;
	}
	rc = loop_new(&a.loop);
	if (rc < 0) {
		log_error("cannot set up the event loop", LOG_ERRNO(rc));
		return 1;
	}
	loop_on_terminate(a.loop, on_terminate, &a);
	rc = hostpath_open_root(&a);
	if (rc < 0) {
		log_error("cannot open the run root", LOG_STR("path", a.opt.run_root),
			  LOG_ERRNO(rc));
		loop_free(a.loop);
		return 1;
	}
	/* What an earlier agent left (one killed with SIGKILL) goes before we serve. */
	container_recover(&a);
	storage_recover(&a);
	net_recover(&a);
	bridge_start(&a);
	if (!a.stopping)
		loop_run(a.loop);
	log_info("stopping", LOG_INT("code", a.exit_code));
	/* Containers go down while the loop runs: it reaps their processes and runc's. */
	exec_cancel_all(&a);
	loop_resume(a.loop);
	container_shutdown(&a, on_containers_down);
	if (!containers_down) {
		struct loop_timer bound = { 0 };
		shutdown_loop = a.loop;
		/* each runtime call has its deadline; this bounds the whole phase */
		loop_timer_arm(a.loop, &bound, a.opt.runtime_timeout_ms + 5000, on_shutdown_late);
		loop_run(a.loop);
		loop_timer_cancel(a.loop, &bound);
	}
	process_kill_all(&a);
	child_kill_all(&a);
	net_cleanup(&a);
	storage_cleanup(&a);
	bridge_stop(&a);
	request_drop_all(&a);
	loop_free(a.loop);
	close(a.root_fd);
	if (a.opt.poweroff_on_exit) {
		sync();
		reboot(RB_POWER_OFF);
	}
	return a.exit_code;
}
