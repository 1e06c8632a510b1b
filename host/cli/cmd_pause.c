/* `lcow pause`: freezes a container's cgroup in its UVM. */
#include "cli.h"

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
	return client_simple_command("pause", usage, argc, argv);
}
