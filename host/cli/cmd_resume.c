/* `lcow resume`: thaws a paused container. */
#include "cli.h"

#include <stdio.h>

#include "client.h"
#include "log.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] resume CONTAINER-ID\n"
	"\n"
	"Thaws a paused container: the agent's Resume operation (see lcow pause --help).\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n";

int cmd_resume(int argc, char **argv)
{
	return client_simple_command("resume", usage, argc, argv);
}
