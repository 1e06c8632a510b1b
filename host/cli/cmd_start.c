/* `lcow start`: runs the process of a created container. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "log.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] start CONTAINER-ID\n"
	"\n"
	"Starts the process of a created container, with the stdio its create got, and returns.\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n";

int cmd_start(int argc, char **argv)
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
		return usage_error("start", "unknown option");
	}
	if (optind + 1 != argc)
		return usage_error("start", "expected one container ID");
	if (client_simple("start", argv[optind], &err) < 0)
		return fail("%s", err.message);
	return 0;
}
