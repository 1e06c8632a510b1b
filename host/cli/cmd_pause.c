/* `lcow pause`: freezes a container's cgroup in its UVM. */
#include "cli.h"

#include <stdio.h>

#include "client.h"
#include "log.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] pause CONTAINER-ID\n"
	"\n"
	"Freezes every process of a running container (its cgroup in the UVM): the agent's Pause\n"
	"operation (lcow's extension of the bridge), or, with an agent without it, runc pause run\n"
	"as a process of the UVM.\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n";

int cmd_pause(int argc, char **argv)
{
	return client_simple_command("pause", usage, argc, argv);
}
