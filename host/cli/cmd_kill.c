/* `lcow kill`: a signal to a container's process. */
#include "cli.h"

#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "log.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] kill [--all] CONTAINER-ID [SIGNAL]\n"
	"\n"
	"Sends SIGNAL (default SIGTERM; a name such as KILL or SIGKILL, or a number) to the\n"
	"container's process through the agent (SignalProcess). A container that is not running\n"
	"is an error (\"container not running\"). --all is the agent's KillAll operation (lcow's\n"
	"extension of the bridge); a signal to a container that was created but not started goes\n"
	"through runc kill run as a process of the UVM.\n"
	"\n"
	"Options:\n"
	"  -a, --all   signal every process of the container\n"
	"  -h, --help  show this help\n";

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{ "HUP", SIGHUP },	 { "INT", SIGINT },   { "QUIT", SIGQUIT },     { "ILL", SIGILL },
	{ "TRAP", SIGTRAP },	 { "ABRT", SIGABRT }, { "IOT", SIGIOT },       { "BUS", SIGBUS },
	{ "FPE", SIGFPE },	 { "KILL", SIGKILL }, { "USR1", SIGUSR1 },     { "SEGV", SIGSEGV },
	{ "USR2", SIGUSR2 },	 { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },     { "TERM", SIGTERM },
	{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP },	 { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },     { "URG", SIGURG },
	{ "XCPU", SIGXCPU },	 { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
	{ "WINCH", SIGWINCH },	 { "IO", SIGIO },     { "POLL", SIGPOLL },     { "PWR", SIGPWR },
	{ "SYS", SIGSYS },
};

/* "TERM", "SIGTERM", "sigterm", "15", "RTMIN+2": as runc parses them. */
static int parse_signal(const char *s)
{
	char *end;
	long n;

	if (isdigit((unsigned char)s[0])) {
		n = strtol(s, &end, 10);
		return *end || n <= 0 || n >= NSIG ? -1 : (int)n;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
		if (!strcasecmp(s, signals[i].name))
			return signals[i].sig;
	if (!strncasecmp(s, "RTMIN", 5) || !strncasecmp(s, "RTMAX", 5)) {
		bool max = !strncasecmp(s, "RTMAX", 5);
		n = s[5] ? strtol(s + 5, &end, 10) : 0;
		if (s[5] && *end)
			return -1;
		n = max ? SIGRTMAX + n : SIGRTMIN + n;
		return n < SIGRTMIN || n > SIGRTMAX ? -1 : (int)n;
	}
	return -1;
}

int cmd_kill(int argc, char **argv)
{
	static const struct option options[] = { { "all", no_argument, NULL, 'a' },
						 { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	struct gcs_error err = { 0 };
	json_auto_t *req = NULL;
	bool all = false;
	char uvm[132];
	int c, sig = SIGTERM;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+ah", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return usage_error("kill", "unknown option");
		}
	}
	if (optind >= argc || argc - optind > 2)
		return usage_error("kill", "expected a container ID and an optional signal");
	if (argc - optind == 2 && (sig = parse_signal(argv[optind + 1])) < 0)
		return fail("invalid signal: %s", argv[optind + 1]);
	if (client_container(argv[optind], uvm, sizeof(uvm), NULL, &err) < 0)
		return fail("%s", err.message);
	req = json_pack("{s:s, s:s, s:i, s:b}", "op", "kill", "id", argv[optind], "signal", sig,
			"all", all);
	if (client_call(uvm, req, NULL, 0, CALL_MS, NULL, NULL, 0, &err) < 0)
		return fail("%s", err.message);
	return 0;
}
