/* `lcow start`: runs the process of a created container. */
#include "cli.h"

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
	return client_simple_command("start", usage, argc, argv);
}
