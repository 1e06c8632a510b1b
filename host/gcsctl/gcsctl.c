/*
 * gcsctl: talk to a GCS agent by hand, through libgcs.
 *
 * gcsctl is the host: it listens on the transport, the agent dials in (start gcsctl first, then
 * `gcs --transport unix:<base>`, which retries its dial for about a second), gcsctl negotiates
 * and runs one command: exec a process in the utility VM, dump the agent's stacks, or send one
 * raw request.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "lcow/gcs.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 125
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *arg_transport;
static int arg_timeout_ms; /* 0: libgcs's defaults; -1: no limit */
static bool arg_verbose;

/* exec */
static bool arg_tty;
static const char *arg_cwd;
static struct gcs_proto_env *arg_env;
static size_t arg_n_env;
static char **arg_exec_argv;
static size_t arg_exec_argc;
static bool arg_help;

static void help(void)
{
	printf("Usage: gcsctl [OPTIONS] COMMAND [ARGS...]\n"
	       "\n"
	       "Listens on the transport for a GCS agent, waits for it to dial in, negotiates\n"
	       "protocol version 4 and runs COMMAND. gcsctl is the host: start it first, then the\n"
	       "agent (gcs --transport unix:<base>). It prints nothing on success unless -v.\n"
	       "\n"
	       "Options:\n"
	       "  --transport SPEC   where to listen: unix:<base> (the socket of port P is\n"
	       "                     <base>_<P>), vsock (AF_VSOCK, any CID) or hvsock:<vm-guid>\n"
	       "                     (Windows hosts only). Default: $LCOW_TRANSPORT; one is needed.\n"
	       "  --timeout SECONDS  how long to wait for the agent to dial in, and for each answer\n"
	       "                     (default: 120 s to connect, 300 s per request; 0: no limit).\n"
	       "                     exec waits for its process without a limit.\n"
	       "  -v, --verbose      report the connection and the bridge's log on stderr\n"
	       "  -h, --help         show this help\n"
	       "\n"
	       "Commands:\n"
	       "  exec [-t] [--cwd DIR] [--env K=V]... [--] CMD [ARG]...\n"
	       "        Runs CMD as a process of the utility VM (null container ID) with gcsctl's\n"
	       "        stdin, stdout and stderr, and exits with its exit code (128+N when signal N\n"
	       "        killed it).\n"
	       "        -t, --tty    give it a terminal (EmulateConsole): stdin and stdout only; a\n"
	       "                     local terminal is put in raw mode and restored on exit, and its\n"
	       "                     size is sent at start and on every SIGWINCH\n"
	       "        --cwd DIR    working directory\n"
	       "        --env K=V    an environment variable (repeatable); PATH defaults to\n"
	       "                     " DEFAULT_PATH "\n"
	       "  stacks\n"
	       "        Prints the agent's stacks (DumpStacks).\n"
	       "  raw TYPE JSON\n"
	       "        Sends JSON as the body of one request of TYPE, a number (0x10100c01) or an\n"
	       "        RPC name (DumpStacks), and prints the response's type and body, whatever\n"
	       "        its Result.\n"
	       "\n"
	       "Exit status: exec: the process's exit code; otherwise 0. 1 when gcsctl itself\n"
	       "fails, 125 on a usage error.\n");
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("gcsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static void on_log(void *user, enum gcs_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	(void)user;
	fprintf(stderr, "gcsctl: %s: %s\n", names[level <= GCS_LOG_DEBUG ? level : GCS_LOG_DEBUG],
		msg);
}

static void on_notification(void *user, const struct gcs_proto_notification *n)
{
	(void)user;
	if (arg_verbose)
		fprintf(stderr, "gcsctl: notification: container %s: %s\n", n->base.container_id,
			n->type);
}

/* ---- the terminal ---- */

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

static void tty_restore(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
	termios_saved = 0;
}

/* A fatal signal must not leave the terminal raw. */
static void on_fatal_signal(int sig)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int tty_make_raw(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		struct sigaction sa = { .sa_handler = on_fatal_signal };
		sigaction(sigs[i], &sa, NULL);
	}
	termios_saved = 1;
	raw = saved_termios;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0) {
		int rc = -errno;
		termios_saved = 0;
		return rc;
	}
	return 0;
}

static bool tty_size(uint16_t *ret_rows, uint16_t *ret_cols)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return false;
	if (ws.ws_row == 0 || ws.ws_col == 0)
		return false;
	*ret_rows = ws.ws_row;
	*ret_cols = ws.ws_col;
	return true;
}

/* Forwards SIGWINCH as ResizeConsole until stop_fd is signalled. */
struct resizer {
	struct gcs_process *p;
	int sig_fd;
	int stop_fd;
	pthread_t thread;
};

static void *resizer_main(void *arg)
{
	struct resizer *r = arg;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = r->sig_fd, .events = POLLIN },
			{ .fd = r->stop_fd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		struct gcs_error err = { 0 };
		uint16_t rows, cols;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		if (read(r->sig_fd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (tty_size(&rows, &cols) && gcs_process_resize(r->p, rows, cols, &err) < 0 &&
		    arg_verbose)
			fprintf(stderr, "gcsctl: resize: %s\r\n", err.message);
	}
}

/* ---- commands ---- */

static int open_fd(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int cmd_exec(struct gcs_bridge *b)
{
	char **argv = arg_exec_argv;
	size_t argc = arg_exec_argc;
	struct gcs_proto_process_params params = {
		.command_args = (const char *const *)argv,
		.n_command_args = argc,
		.working_directory = arg_cwd,
		.environment = arg_env,
		.n_environment = arg_n_env,
		.emulate_console = arg_tty,
	};
	struct gcs_exec_options o = { .params = &params };
	struct resizer r = { .sig_fd = -1, .stop_fd = -1 };
	struct gcs_error err = { 0 };
	struct gcs_process *p = NULL;
	bool resizing = false;
	uint32_t code = 0;
	int rc;

	for (int i = 0; i < 3; i++) {
		/* With a terminal, stderr is the pty too: the guest does not use the pipe. */
		if (!open_fd(i) || (arg_tty && i == GCS_STDERR))
			continue;
		o.stdio[i] = (struct gcs_stdio){ GCS_STDIO_FD, i };
	}
	if (arg_tty) {
		sigset_t winch;

		params.has_console_size =
			tty_size(&params.console_size[0], &params.console_size[1]);
		/* Blocked here, before any thread exists, and read through a signalfd. */
		sigemptyset(&winch);
		sigaddset(&winch, SIGWINCH);
		pthread_sigmask(SIG_BLOCK, &winch, NULL);
		r.sig_fd = signalfd(-1, &winch, SFD_CLOEXEC);
		r.stop_fd = eventfd(0, EFD_CLOEXEC);
		if (r.sig_fd < 0 || r.stop_fd < 0)
			return fail(EXIT_FAIL, "exec: %s", strerror(errno));
		if (isatty(STDIN_FILENO)) {
			rc = tty_make_raw();
			if (rc < 0)
				return fail(EXIT_FAIL, "exec: raw terminal: %s", strerror(-rc));
		}
	}

	rc = gcs_process_exec(b, &o, &p, &err);
	if (rc < 0) {
		tty_restore();
		return fail(EXIT_FAIL, "exec %s: %s", argv[0], err.message);
	}
	if (arg_verbose)
		fprintf(stderr, "gcsctl: process %u started%s", gcs_process_pid(p),
			termios_saved ? "\r\n" : "\n");
	if (arg_tty) {
		r.p = p;
		resizing = pthread_create(&r.thread, NULL, resizer_main, &r) == 0;
	}

	rc = gcs_process_wait(p, -1, &code, &err);

	if (resizing) {
		uint64_t one = 1;
		if (write(r.stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(r.thread, NULL);
	}
	gcs_process_free(p);
	tty_restore();
	if (r.sig_fd >= 0)
		close(r.sig_fd);
	if (r.stop_fd >= 0)
		close(r.stop_fd);
	if (rc < 0)
		return fail(EXIT_FAIL, "exec %s: wait: %s", argv[0], err.message);
	if (arg_verbose)
		fprintf(stderr, "gcsctl: process exited with %u\n", code);
	return code > 255 ? 255 : (int)code;
}

static int cmd_stacks(struct gcs_bridge *b)
{
	_cleanup_free_ char *stacks = NULL;
	struct gcs_error err = { 0 };
	size_t len;
	int rc = gcs_dump_stacks(b, &stacks, &err);

	if (rc < 0)
		return fail(EXIT_FAIL, "stacks: %s", err.message);
	len = strlen(stacks);
	fputs(stacks, stdout);
	if (len > 0 && stacks[len - 1] != '\n')
		fputc('\n', stdout);
	return 0;
}

static const uint32_t request_types[] = {
	GCS_MSG_CREATE_REQ,
	GCS_MSG_START_REQ,
	GCS_MSG_SHUTDOWN_GRACEFUL_REQ,
	GCS_MSG_SHUTDOWN_FORCED_REQ,
	GCS_MSG_EXECUTE_PROCESS_REQ,
	GCS_MSG_WAIT_FOR_PROCESS_REQ,
	GCS_MSG_SIGNAL_PROCESS_REQ,
	GCS_MSG_RESIZE_CONSOLE_REQ,
	GCS_MSG_GET_PROPERTIES_REQ,
	GCS_MSG_MODIFY_SETTINGS_REQ,
	GCS_MSG_NEGOTIATE_PROTOCOL_REQ,
	GCS_MSG_DUMP_STACKS_REQ,
	GCS_MSG_DELETE_CONTAINER_STATE_REQ,
	GCS_MSG_UPDATE_CONTAINER_REQ,
	GCS_MSG_LIFECYCLE_NOTIFICATION_REQ,
	GCS_MSG_MODIFY_SERVICE_SETTINGS_REQ,
};

/* "0x10100c01" (any base strtoul takes) or an RPC name, case-insensitive. */
static int parse_type(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	if (s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		v = strtoul(s, &end, 0);
		if (errno || *end || v > UINT32_MAX)
			return -EINVAL;
		*ret = (uint32_t)v;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(request_types); i++)
		if (strcasecmp(s, gcs_proto_rpc_name(request_types[i])) == 0) {
			*ret = request_types[i];
			return 0;
		}
	return -EINVAL;
}

static int cmd_raw(struct gcs_bridge *b, uint32_t type, const char *json)
{
	_cleanup_free_ char *body = NULL;
	struct gcs_error err = { 0 };
	uint32_t rtype = 0;
	char name[64];
	size_t len;
	int rc = gcs_bridge_call_raw(b, type, json, 0, &rtype, &body, &err);

	if (rc < 0)
		return fail(EXIT_FAIL, "raw: %s", err.message);
	printf("0x%08x %s\n", rtype, gcs_proto_msg_name(rtype, name, sizeof(name)));
	len = strlen(body);
	fputs(body, stdout);
	if (len == 0 || body[len - 1] != '\n')
		fputc('\n', stdout);
	return 0;
}

/* ---- arguments ---- */

static int parse_timeout(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v * 1000 > INT_MAX)
		return fail(EXIT_USAGE, "invalid --timeout '%s': expected seconds", s);
	arg_timeout_ms = v == 0 ? -1 : (int)(v * 1000);
	if (arg_timeout_ms == 0)
		arg_timeout_ms = 1;
	return 0;
}

static int add_env(const char *kv)
{
	const char *eq = strchr(kv, '=');
	struct gcs_proto_env *e;
	size_t klen;

	if (!eq || eq == kv)
		return fail(EXIT_USAGE, "exec: invalid --env '%s': expected K=V", kv);
	klen = (size_t)(eq - kv);
	/* A later value for the same name wins, as in a shell. */
	for (size_t i = 0; i < arg_n_env; i++)
		if (strlen(arg_env[i].name) == klen && strncmp(arg_env[i].name, kv, klen) == 0) {
			arg_env[i].value = eq + 1;
			return 0;
		}
	e = realloc(arg_env, (arg_n_env + 1) * sizeof(*e));
	if (!e)
		return fail(EXIT_FAIL, "out of memory");
	arg_env = e;
	arg_env[arg_n_env].name = strndup(kv, klen);
	if (!arg_env[arg_n_env].name)
		return fail(EXIT_FAIL, "out of memory");
	arg_env[arg_n_env++].value = eq + 1;
	return 0;
}

static void free_env(void)
{
	for (size_t i = 0; i < arg_n_env; i++)
		free((char *)arg_env[i].name);
	free(arg_env);
	arg_env = NULL;
	arg_n_env = 0;
}

/* getopt's complaint as one line of ours. */
static int bad_option(const char *cmd, int c, char **argv)
{
	const char *opt = argv[optind - 1];

	if (c == ':')
		return fail(EXIT_USAGE, "%s%soption '%s' needs an argument", cmd,
			    cmd[0] ? ": " : "", opt);
	if (optopt && strncmp(opt, "--", 2) != 0)
		return fail(EXIT_USAGE, "%s%sunknown option '-%c'; see 'gcsctl --help'", cmd,
			    cmd[0] ? ": " : "", optopt);
	return fail(EXIT_USAGE, "%s%sunknown option '%s'; see 'gcsctl --help'", cmd,
		    cmd[0] ? ": " : "", opt);
}

static int parse_exec(int argc, char **argv)
{
	enum { OPT_CWD = 0x100, OPT_ENV };
	static const struct option options[] = { { "tty", no_argument, NULL, 't' },
						 { "cwd", required_argument, NULL, OPT_CWD },
						 { "env", required_argument, NULL, OPT_ENV },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	bool have_path = false;
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:th", options, NULL)) >= 0) {
		switch (c) {
		case 't':
			arg_tty = true;
			break;
		case OPT_CWD:
			arg_cwd = optarg;
			break;
		case OPT_ENV:
			rc = add_env(optarg);
			if (rc)
				return rc;
			break;
		case 'h':
			arg_help = true;
			return 0;
		default:
			return bad_option("exec", c, argv);
		}
	}
	if (optind >= argc)
		return fail(EXIT_USAGE, "exec: no command given");
	arg_exec_argv = argv + optind;
	arg_exec_argc = (size_t)(argc - optind);
	for (size_t i = 0; i < arg_n_env; i++)
		have_path = have_path || strcmp(arg_env[i].name, "PATH") == 0;
	if (!have_path)
		return add_env("PATH=" DEFAULT_PATH);
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option options[] = { { "transport", required_argument, NULL, 'T' },
						 { "timeout", required_argument, NULL, 'o' },
						 { "verbose", no_argument, NULL, 'v' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	struct gcs_bridge_options bo = { .on_log = NULL };
	struct gcs_transport *t = NULL;
	struct gcs_bridge *b = NULL;
	struct gcs_error err = { 0 };
	const char *cmd;
	uint32_t raw_type = 0;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'T':
			arg_transport = optarg;
			break;
		case 'o':
			rc = parse_timeout(optarg);
			if (rc)
				return rc;
			break;
		case 'v':
			arg_verbose = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return bad_option("", c, argv);
		}
	}
	if (optind >= argc)
		return fail(EXIT_USAGE, "no command given; see 'gcsctl --help'");
	cmd = argv[optind];
	argc -= optind;
	argv += optind;

	/* Every usage error is found before anything listens. */
	if (strcmp(cmd, "exec") == 0) {
		rc = parse_exec(argc, argv);
		if (rc || arg_help) {
			if (arg_help)
				help();
			return rc;
		}
	} else if (strcmp(cmd, "stacks") == 0) {
		if (argc != 1)
			return fail(EXIT_USAGE, "stacks takes no arguments");
	} else if (strcmp(cmd, "raw") == 0) {
		if (argc != 3)
			return fail(EXIT_USAGE, "usage: gcsctl raw TYPE JSON");
		if (parse_type(argv[1], &raw_type) < 0)
			return fail(EXIT_USAGE, "raw: unknown message type '%s'", argv[1]);
	} else if (strcmp(cmd, "help") == 0) {
		help();
		return 0;
	} else {
		return fail(EXIT_USAGE, "unknown command '%s'; see 'gcsctl --help'", cmd);
	}

	if (!arg_transport)
		arg_transport = getenv("LCOW_TRANSPORT");
	if (!arg_transport || !arg_transport[0])
		return fail(EXIT_USAGE, "no transport: give --transport unix:<base> or set "
					"LCOW_TRANSPORT");
	rc = gcs_transport_parse(arg_transport, &t);
	if (rc < 0)
		return fail(EXIT_USAGE,
			    "invalid transport '%s': expected unix:<base>, vsock or hvsock:<guid>",
			    arg_transport);

	bo.connect_timeout_ms = arg_timeout_ms;
	bo.call_timeout_ms = arg_timeout_ms;
	bo.on_notification = on_notification;
	if (arg_verbose)
		bo.on_log = on_log;
	rc = gcs_bridge_listen(t, &bo, &b, &err);
	if (rc < 0) {
		gcs_transport_free(t);
		return fail(EXIT_FAIL, "%s", err.message);
	}
	if (arg_verbose)
		fprintf(stderr, "gcsctl: listening on %s; waiting for the agent\n", arg_transport);
	rc = gcs_bridge_connect(b, &err);
	if (rc < 0) {
		rc = fail(EXIT_FAIL, "%s", err.message);
	} else {
		if (arg_verbose)
			fprintf(stderr, "gcsctl: agent connected, protocol %d, %s guest\n",
				GCS_PROTOCOL_VERSION, gcs_bridge_capabilities(b)->runtime_os_type);
		if (strcmp(cmd, "exec") == 0)
			rc = cmd_exec(b);
		else if (strcmp(cmd, "stacks") == 0)
			rc = cmd_stacks(b);
		else
			rc = cmd_raw(b, raw_type, argv[2]);
	}
	gcs_bridge_close(b);
	gcs_transport_free(t);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = run(argc, argv);

	free_env();
	if (fflush(stdout) != 0 && rc == 0)
		rc = fail(EXIT_FAIL, "write: %s", strerror(errno));
	return rc;
}
