/*
 * lcow: runc's command line for Linux containers in utility VMs. Global options, then one
 * subcommand (cmd_*.c).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "daemon.h"
#include "image.h"
#include "log.h"
#include "store.h"

const char *arg_root = DEFAULT_ROOT;
const char *arg_log;
bool arg_log_json;
bool arg_debug;

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS...]\n"
	"\n"
	"Runs OCI bundles as Linux containers inside utility VMs (UVMs), with runc's command\n"
	"line. create and run start a UVM per container (or share one: --uvm), held by a small\n"
	"daemon (`lcow uvm-daemon`) that owns the bridge to the UVM's agent; the other commands\n"
	"talk to it over a Unix socket in the state directory.\n"
	"\n"
	"UVM modes (create/run --uvm-mode): qemu boots lcow's kernel and initrd under QEMU with\n"
	"lcow's vsock device; process runs the agent on the host in namespaces of its own, with\n"
	"loop devices as its disks: no hypervisor, and NOT a security boundary. auto (the\n"
	"default) is qemu when QEMU, the kernel, the initrd and lcow-vsock are all there.\n"
	"\n"
	"Networks (create/run --network): none (only lo), user (QEMU's user-mode stack, qemu\n"
	"mode only; -p/--publish forwards host ports to it) or ns:PATH (a host network namespace\n"
	"with one veth, as CNI sets it up, joined to the container's NIC by tc redirects). The\n"
	"default is the spec's network namespace path if it has one, else user in qemu mode and\n"
	"none in process mode; delete removes what lcow made for it.\n"
	"\n"
	"Global options:\n"
	"  --root DIR              state directory (default " DEFAULT_ROOT ")\n"
	"  --log FILE              log to FILE (errors are also printed on stderr)\n"
	"  --log-format text|json  log line format (default text)\n"
	"  --debug                 log debug messages too\n"
	"  -h, --help              show this help\n"
	"\n"
	"Commands:\n"
	"  run          create and start a container, wait for it, delete it\n"
	"  create       create a container, and its UVM when needed\n"
	"  start        start the process of a created container\n"
	"  exec         run a new process in a running container\n"
	"  pause        freeze a container's processes\n"
	"  resume       thaw a paused container\n"
	"  ps           list a container's processes (ps's table, or json)\n"
	"  state        print a container's OCI state as JSON\n"
	"  update       change a container's resource limits (cgroups in the UVM)\n"
	"  events       print a container's statistics as JSON lines (--stats: once)\n"
	"  kill         send a signal to a container (default SIGTERM)\n"
	"  delete       delete containers, and pods without containers\n"
	"  list         list containers\n"
	"  spec         write a starter config.json (runc spec's)\n"
	"  image        import an image tarball as layer disks and a bundle (image import)\n"
	"  uvm-daemon   (internal) the daemon that holds one UVM\n"
	"\n"
	"Environment: LCOW_UVM_MODE (the default --uvm-mode), LCOW_AGENT (the gcs binary),\n"
	"LCOW_KERNEL, LCOW_INITRD, LCOW_VSOCK, LCOW_QEMU (the qemu-mode pieces; by default found\n"
	"next to the lcow binary or in ../default, as `make` and `make initrd` leave them).\n"
	"\n"
	"Exit status: run and exec: the process's (128+N after signal N); otherwise 0, and 1 on\n"
	"any error. Errors are logged as runc logs them (e.g. \"container does not exist\").\n"
	"Run 'lcow COMMAND --help' for a command's options.\n";

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	bool needs_root;
} commands[] = {
	/* clang-format off */
	{ "run", cmd_run, true },
	{ "create", cmd_create, true },
	{ "start", cmd_start, true },
	{ "exec", cmd_exec, true },
	{ "pause", cmd_pause, true },
	{ "resume", cmd_resume, true },
	{ "ps", cmd_ps, true },
	{ "state", cmd_state, true },
	{ "update", cmd_update, true },
	{ "events", cmd_events, true },
	{ "kill", cmd_kill, true },
	{ "delete", cmd_delete, true },
	{ "list", cmd_list, true },
	{ "spec", cmd_spec, false },
	{ "image", cmd_image, false },
	{ "uvm-daemon", cmd_uvm_daemon, true },
	/* clang-format on */
};

enum { OPT_ROOT = 0x100, OPT_LOG, OPT_LOG_FORMAT, OPT_DEBUG };

static const struct option options[] = {
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int run_command(int argc, char **argv)
{
	int rc;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		bool help;
		if (strcmp(argv[0], commands[i].name) != 0)
			continue;
		help = argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
		if (commands[i].needs_root && !help && (rc = store_open(arg_root)) < 0)
			return fail("state directory %s: %s", arg_root, strerror(-rc));
		return commands[i].fn(argc, argv);
	}
	return fail("unknown command '%s' (see lcow --help)", argv[0]);
}

int main(int argc, char **argv)
{
	int c, rc;

	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			arg_root = optarg;
			break;
		case OPT_LOG:
			arg_log = optarg;
			break;
		case OPT_LOG_FORMAT:
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				fprintf(stderr, "lcow: --log-format must be text or json\n");
				return 1;
			}
			arg_log_json = !strcmp(optarg, "json");
			break;
		case OPT_DEBUG:
			arg_debug = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs("Try 'lcow --help'.\n", stderr);
			return 1;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 1;
	}
	if ((rc = log_setup(arg_log, arg_log_json, arg_debug)) < 0) {
		fprintf(stderr, "lcow: --log %s: %s\n", arg_log, strerror(-rc));
		return 1;
	}
	/* A closed pipe on stdout is an error to report, not a death. */
	signal(SIGPIPE, SIG_IGN);
	rc = run_command(argc - optind, argv + optind);
	log_close();
	return rc;
}
