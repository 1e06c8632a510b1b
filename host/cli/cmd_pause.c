/* `lcow pause`: freezes a container's cgroup in its UVM. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "log.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] pause CONTAINER-ID\n"
	"\n"
	"Freezes every process of a running container (its cgroup in the UVM), with runc pause\n"
	"run as a process of the UVM: the bridge has no message for it. Needs runc in the UVM: the\n"
	"host's in process mode, the initrd's (make initrd WITH_RUNC=1) in a QEMU UVM.\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n";

int cmd_pause(int argc, char **argv)
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
		return usage_error("pause", "unknown option");
	}
	if (optind + 1 != argc)
		return usage_error("pause", "expected one container ID");
	if (client_simple("pause", argv[optind], &err) < 0)
		return fail("%s", err.message);
	return 0;
}
