/* `lcow resume`: thaws a paused container. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "log.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] resume CONTAINER-ID\n"
	"\n"
	"Thaws a paused container (runc resume, run as a process of the UVM; see lcow pause --help).\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n";

int cmd_resume(int argc, char **argv)
{
	static const struct option options[] = { { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	struct gcs_error err = { 0 };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		return usage_error("resume", "unknown option");
	}
	if (optind + 1 != argc)
		return usage_error("resume", "expected one container ID");
	if (client_simple("resume", argv[optind], &err) < 0)
		return fail("%s", err.message);
	return 0;
}
