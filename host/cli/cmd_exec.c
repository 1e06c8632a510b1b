/* `lcow exec`: a new process in a running container. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] exec [OPTIONS] CONTAINER-ID [--] COMMAND [ARG...]\n"
	"       lcow [GLOBAL OPTIONS] exec [OPTIONS] --process FILE CONTAINER-ID\n"
	"\n"
	"Runs a process in a running container: the container's process settings (environment,\n"
	"working directory, user) with COMMAND, or the OCI process object in FILE. It gets lcow's\n"
	"stdin, stdout and stderr, or with --tty lcow's terminal (raw mode, size on SIGWINCH).\n"
	"Without --detach lcow forwards the signals it gets to the process and exits with its exit\n"
	"status (128+N after signal N).\n"
	"\n"
	"Options:\n"
	"  -p, --process FILE      the process as an OCI process object (JSON)\n"
	"  -t, --tty               give the process a terminal\n"
	"  -d, --detach            return once it runs\n"
	"  --pid-file FILE         write its pid (in the UVM) to FILE\n"
	"  --console-socket PATH   with --detach and --tty: where the pty master goes (the\n"
	"                          console follows its size)\n"
	"  --cwd DIR               its working directory\n"
	"  -e, --env K=V           an environment variable (repeatable)\n"
	"  -u, --user UID[:GID]    the user to run as\n"
	"  -h, --help              show this help\n";

enum { OPT_PID_FILE = 0x100, OPT_CONSOLE, OPT_CWD };

static const struct option options[] = {
	{ "process", required_argument, NULL, 'p' },
	{ "tty", no_argument, NULL, 't' },
	{ "detach", no_argument, NULL, 'd' },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "console-socket", required_argument, NULL, OPT_CONSOLE },
	{ "cwd", required_argument, NULL, OPT_CWD },
	{ "env", required_argument, NULL, 'e' },
	{ "user", required_argument, NULL, 'u' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static json_t *parse_user(const char *s)
{
	unsigned uid, gid = 0;
	char extra;
	int n = sscanf(s, "%u:%u%c", &uid, &gid, &extra);

	if (n != 1 && n != 2)
		return NULL;
	if (n == 1 && strchr(s, ':'))
		return NULL;
	return json_pack("{s:i, s:i}", "uid", (int)uid, "gid", (int)gid);
}

int cmd_exec(int argc, char **argv)
{
	const char *process_file = NULL, *pid_file = NULL, *console = NULL, *id;
	bool tty = false, detach = false, terminal;
	json_auto_t *req = json_pack("{s:s, s:[]}", "op", "exec", "env");
	struct gcs_error err = { 0 };
	struct ctl_conn conn;
	char uvm[132], errbuf[300];
	json_t *r = NULL;
	int fds[3], pty = -1, c, rc;
	size_t n_fds;
	uint32_t pid;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+p:tde:u:h", options, NULL)) != -1) {
		switch (c) {
		case 'p':
			process_file = optarg;
			break;
		case 't':
			tty = true;
			break;
		case 'd':
			detach = true;
			break;
		case OPT_PID_FILE:
			pid_file = optarg;
			break;
		case OPT_CONSOLE:
			console = optarg;
			break;
		case OPT_CWD:
			json_object_set_new(req, "cwd", json_string(optarg));
			break;
		case 'e':
			if (!strchr(optarg, '='))
				return usage_error("exec", "--env wants K=V, not '%s'", optarg);
			json_array_append_new(json_object_get(req, "env"), json_string(optarg));
			break;
		case 'u': {
			json_t *u = parse_user(optarg);
			if (!u)
				return usage_error("exec", "--user wants UID[:GID], not '%s'",
						   optarg);
			json_object_set_new(req, "user", u);
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return usage_error("exec", "unknown option");
		}
	}
	if (optind >= argc)
		return usage_error("exec", "expected a container ID");
	id = argv[optind++];
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (process_file) {
		json_t *proc;
		if (optind < argc)
			return usage_error("exec", "a command and --process exclude each other");
		if (json_read_file(process_file, &proc, errbuf, sizeof(errbuf)) < 0)
			return fail("process file %s: %s", process_file, errbuf);
		if (!json_is_object(proc) || !json_array_size(json_object_get(proc, "args"))) {
			json_decref(proc);
			return fail("process file %s: not an OCI process with args", process_file);
		}
		terminal = json_is_true(json_object_get(proc, "terminal"));
		json_object_set_new(req, "process", proc);
	} else {
		json_t *args = json_array();
		if (optind >= argc) {
			json_decref(args);
			return usage_error("exec", "expected a command");
		}
		for (int i = optind; i < argc; i++)
			json_array_append_new(args, json_string(argv[i]));
		json_object_set_new(req, "args", args);
		json_object_set_new(req, "terminal", json_boolean(tty));
		terminal = tty;
	}
	if (client_container(id, uvm, sizeof(uvm), NULL, &err) < 0)
		return fail("%s", err.message);
	json_object_set_new(req, "id", json_string(id));
	json_object_set_new(req, "wait", json_boolean(!detach));

	if (terminal && detach) {
		if (!console)
			return fail(
				"cannot allocate tty if lcow will detach without setting console "
				"socket");
		if ((rc = console_pty(console, &pty, &err)) < 0)
			return fail("%s", err.message);
		fds[0] = fds[1] = pty;
		n_fds = 2;
	} else {
		if (console)
			return fail("cannot use console socket if lcow will not detach or "
				    "allocate tty");
		for (int i = 0; i < 3; i++)
			fds[i] = i;
		n_fds = terminal ? 2 : 3;
		if (terminal) {
			term_size(STDIN_FILENO, req);
			term_raw(STDIN_FILENO);
		}
	}
	if (!detach)
		client_hold_signals();
	rc = client_begin(uvm, req, fds, n_fds, CALL_MS, &conn, &r, &err);
	if (pty >= 0)
		close(pty);
	if (rc < 0)
		return fail("%s", err.message);
	pid = (uint32_t)json_integer_value(json_object_get(r, "pid"));
	json_decref(r);
	if (pid_file) {
		char text[32];
		snprintf(text, sizeof(text), "%u", pid);
		if ((rc = write_file_atomic(pid_file, text, 0644)) < 0) {
			ctl_close(&conn);
			return fail("pid file %s: %s", pid_file, strerror(-rc));
		}
	}
	if (detach) {
		ctl_close(&conn);
		return 0;
	}
	rc = client_wait_exit(&conn, uvm, id, pid, terminal, &err);
	ctl_close(&conn);
	return rc < 0 ? fail("%s", err.message) : rc;
}
