/*
 * lcow-vsock: a vhost-user vsock device back-end (what rust-vmm's vhost-device-vsock does) with
 * Firecracker's hybrid vsock mapping of guest ports to Unix sockets. QEMU connects to --socket
 * as the vhost-user front-end; guest vsock streams become Unix socket connections.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "vlog.h"
#include "vsock_server.h"

static const char usage[] =
	"Usage: lcow-vsock --socket PATH --uds-path BASE [--guest-cid N] [OPTIONS]\n"
	"\n"
	"A vhost-user vsock device for QEMU (the role of rust-vmm's vhost-device-vsock). QEMU is\n"
	"the vhost-user front-end; guest AF_VSOCK streams are mapped to Unix sockets the way\n"
	"Firecracker's hybrid vsock does:\n"
	"  guest connects to host (CID 2) port P   ->  we connect to the Unix socket BASE_P\n"
	"  a host program connects to BASE and writes \"CONNECT <port>\\n\"  ->  we connect to\n"
	"      guest port <port>; once the guest accepts, the program reads \"OK <hostport>\\n\"\n"
	"      (the host-side port, from 1073741824 up) and the stream is relayed; if the guest\n"
	"      refuses, the socket is closed without a reply\n"
	"\n"
	"Options:\n"
	"  --socket PATH      listen here for the vhost-user front-end (QEMU connects to it)\n"
	"  --uds-path BASE    hybrid vsock base path (listener on BASE; guest ports at BASE_P)\n"
	"  --guest-cid N      the guest's CID, reported in the device config (default 3)\n"
	"  --once             exit when the front-end disconnects (default: wait for the next)\n"
	"  --ready-fd FD      write \"READY\\n\" to FD and close it once both sockets listen\n"
	"  --log-level LEVEL  error, warning, info (default), debug or trace; lines go to stderr\n"
	"  -h, --help         show this help\n"
	"\n"
	"Example:\n"
	"  lcow-vsock --socket /tmp/x/vhost.sock --guest-cid 3 --uds-path /tmp/x/hv &\n"
	"  qemu-system-x86_64 ... -object memory-backend-memfd,id=mem,size=512M,share=on \\\n"
	"      -machine memory-backend=mem -chardev socket,id=vsock0,path=/tmp/x/vhost.sock \\\n"
	"      -device vhost-user-vsock-pci,chardev=vsock0\n"
	"  (microvm: -device vhost-user-vsock-device,chardev=vsock0\n"
	"            -global virtio-mmio.force-legacy=false)\n"
	"Guest RAM must be shared (memory-backend-memfd or memory-backend-file with share=on).\n"
	"Start lcow-vsock first: QEMU connects once and has no reconnect for this device.\n";

enum {
	OPT_SOCKET = 0x100,
	OPT_UDS_PATH,
	OPT_GUEST_CID,
	OPT_ONCE,
	OPT_READY_FD,
	OPT_LOG_LEVEL,
};

static const struct option options[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "uds-path", required_argument, NULL, OPT_UDS_PATH },
	{ "guest-cid", required_argument, NULL, OPT_GUEST_CID },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "ready-fd", required_argument, NULL, OPT_READY_FD },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{},
};

static const char *arg_socket;
static const char *arg_uds_path;
static uint64_t arg_guest_cid = 3;
static bool arg_once;
static int arg_ready_fd = -1;
static enum vlog_level arg_log_level = VLOG_INFO;

static void to_stderr(enum vlog_level level, const char *line)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ lcow-vsock %s: %s\n", when, ts.tv_nsec / 1000000,
		vlog_level_name(level), line);
}

static int fail_usage(const char *fmt, const char *what)
{
	fprintf(stderr, "lcow-vsock: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, " (see --help)\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case OPT_SOCKET:
			arg_socket = optarg;
			break;
		case OPT_UDS_PATH:
			arg_uds_path = optarg;
			break;
		case OPT_GUEST_CID:
			if (parse_u64(optarg, &v) < 0 || !vsock_cid_valid(v))
				return fail_usage("invalid --guest-cid '%s': use 3..4294967294",
						  optarg);
			arg_guest_cid = v;
			break;
		case OPT_ONCE:
			arg_once = true;
			break;
		case OPT_READY_FD:
			if (parse_u64(optarg, &v) < 0 || v > INT32_MAX)
				return fail_usage("invalid --ready-fd '%s'", optarg);
			arg_ready_fd = (int)v;
			break;
		case OPT_LOG_LEVEL:
			if (vlog_parse_level(optarg, &arg_log_level) < 0)
				return fail_usage("invalid --log-level '%s'", optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return fail_usage("unexpected argument '%s'", argv[optind]);
	if (!arg_socket)
		return fail_usage("%s is required", "--socket");
	if (!arg_uds_path)
		return fail_usage("%s is required", "--uds-path");
	return 0;
}

int main(int argc, char **argv)
{
	struct vsock_server_config cfg = { 0 };
	struct vsock_server server;
	_cleanup_close_ int sigfd = -1;
	sigset_t mask;
	int r;

	r = parse_args(argc, argv);
	if (r)
		return r;
	vlog_setup(arg_log_level, to_stderr);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		fprintf(stderr, "lcow-vsock: signalfd: %s\n", strerror(errno));
		return 1;
	}

	cfg.socket_path = arg_socket;
	cfg.uds_path = arg_uds_path;
	cfg.guest_cid = arg_guest_cid;
	cfg.once = arg_once;
	r = vsock_server_init(&server, &cfg);
	if (r < 0) {
		fprintf(stderr, "lcow-vsock: %s\n", server.error);
		return 1;
	}
	r = vsock_server_stop_on(&server, sigfd);
	if (r < 0) {
		fprintf(stderr, "lcow-vsock: cannot start: %s\n", strerror(-r));
		vsock_server_done(&server);
		return 1;
	}
	vlog_info("listening: vhost-user on %s, hybrid vsock on %s (guest CID %" PRIu64 ")",
		  arg_socket, arg_uds_path, arg_guest_cid);
	if (arg_ready_fd >= 0) {
		if (write(arg_ready_fd, "READY\n", 6) != 6)
			vlog_warning("--ready-fd %d: %s", arg_ready_fd, strerror(errno));
		close(arg_ready_fd);
	}
	r = vsock_server_run(&server);
	vsock_server_done(&server);
	if (r < 0) {
		fprintf(stderr, "lcow-vsock: %s\n", strerror(-r));
		return 1;
	}
	vlog_info("exiting");
	return 0;
}
