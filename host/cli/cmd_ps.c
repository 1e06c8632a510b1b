/* `lcow ps`: the processes of a container. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] ps [--format table|json] CONTAINER-ID\n"
	"\n"
	"Lists the processes of a container by pid in the UVM (the agent's ProcessList, from\n"
	"runc ps inside the UVM): a PID column, or a JSON array of pids.\n"
	"\n"
	"Options:\n"
	"  -f, --format FORMAT  table (default) or json\n"
	"  -h, --help           show this help\n";

int cmd_ps(int argc, char **argv)
{
	static const struct option options[] = { { "format", required_argument, NULL, 'f' },
						 { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	struct gcs_error err = { 0 };
	json_auto_t *req = NULL;
	json_auto_t *r = NULL;
	bool json = false;
	char uvm[132];
	json_t *pids, *v;
	size_t i;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "f:h", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "table") && strcmp(optarg, "json"))
				return usage_error("ps", "--format must be table or json");
			json = !strcmp(optarg, "json");
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return usage_error("ps", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("ps", "expected one container ID");
	if (client_container(argv[optind], uvm, sizeof(uvm), NULL, &err) < 0)
		return fail("%s", err.message);
	req = json_pack("{s:s, s:s}", "op", "ps", "id", argv[optind]);
	if (client_call(uvm, req, NULL, 0, CALL_MS, &r, NULL, 0, &err) < 0)
		return fail("%s", err.message);
	pids = json_object_get(r, "pids");
	if (json) {
		char *text = json_dumps(pids, JSON_COMPACT);
		printf("%s\n", text ? text : "[]");
		free(text);
		return 0;
	}
	printf("PID\n");
	json_array_foreach(pids, i, v)
		printf("%lld\n", (long long)json_integer_value(v));
	return 0;
}
