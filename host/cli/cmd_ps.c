/* `lcow ps`: the processes of a container, as runc ps shows them. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] ps [--format table|json] CONTAINER-ID [--] [PS-OPTIONS...]\n"
	"\n"
	"Shows the processes of a container as runc ps does. Its pids (pids in the UVM) come from\n"
	"the agent's ProcessList (runc ps inside the UVM). The table is ps's own: `ps PS-OPTIONS`\n"
	"(default -ef) runs as a process of the UVM, not of the container, and lcow prints its\n"
	"header and the lines whose PID column is one of the container's pids (the options must\n"
	"keep a PID column). In process mode that ps is the host's procps ps, seeing the UVM's PID\n"
	"namespace; lcow's QEMU initrd has no ps, so there only --format json works.\n"
	"\n"
	"Options:\n"
	"  -f, --format FORMAT  table (default) or json: the pids as a JSON array\n"
	"  -h, --help           show this help\n";

/* The fields of a line, split on blanks, as Go's strings.Fields. */
static size_t fields(char *line, char **out, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *f = strtok_r(line, " \t\r\v\f", &save); f && n < max;
	     f = strtok_r(NULL, " \t\r\v\f", &save))
		out[n++] = f;
	return n;
}

static bool has_pid(json_t *pids, long long pid)
{
	size_t i;
	json_t *v;

	json_array_foreach(pids, i, v)
		if (json_integer_value(v) == pid)
			return true;
	return false;
}

/* runc's table: ps's header, then its lines whose PID is one of the container's. */
static int print_table(const char *text, json_t *pids)
{
	char *copy = strdup(text), *line, *next, *f[64];
	size_t n, pid_col = SIZE_MAX;
	int rc = 0;

	if (!copy)
		return fail("out of memory");
	next = strchr(copy, '\n');
	if (next)
		*next++ = '\0';
	{
		char *hdr = strdup(copy);
		n = hdr ? fields(hdr, f, ARRAY_SIZE(f)) : 0;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(f[i], "PID")) {
				pid_col = i;
				break;
			}
		free(hdr);
	}
	if (pid_col == SIZE_MAX) {
		free(copy);
		return fail("couldn't find PID field in ps output");
	}
	printf("%s\n", copy);
	for (line = next; line && *line; line = next) {
		char *work, *end;
		long long pid;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line)
			continue;
		work = strdup(line);
		n = work ? fields(work, f, ARRAY_SIZE(f)) : 0;
		if (n <= pid_col) {
			rc = fail("unable to parse pid: no PID column in \"%s\"", line);
			free(work);
			break;
		}
		errno = 0;
		pid = strtoll(f[pid_col], &end, 10);
		if (errno || *end || end == f[pid_col]) {
			rc = fail("unable to parse pid '%s'", f[pid_col]);
			free(work);
			break;
		}
		free(work);
		if (has_pid(pids, pid))
			printf("%s\n", line);
	}
	free(copy);
	if (fflush(stdout) != 0 && rc == 0)
		rc = fail("write: %m");
	return rc;
}

int cmd_ps(int argc, char **argv)
{
	static const struct option options[] = { { "format", required_argument, NULL, 'f' },
						 { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	struct gcs_error err = { 0 };
	json_auto_t *req = NULL;
	json_auto_t *r = NULL;
	bool json = false;
	const char *id;
	char uvm[132];
	json_t *pids, *args;
	int c;

	optind = 0;
	/* "+": options stop at the container ID; what follows it is ps's */
	while ((c = getopt_long(argc, argv, "+f:h", options, NULL)) != -1) {
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
	if (optind >= argc)
		return usage_error("ps", "expected a container ID");
	id = argv[optind++];
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (json && optind < argc)
		return usage_error("ps", "ps options go with --format table only");
	if (client_container(id, uvm, sizeof(uvm), NULL, &err) < 0)
		return fail("%s", err.message);
	req = json_pack("{s:s, s:s}", "op", "ps", "id", id);
	if (!json) {
		args = json_array();
		if (optind == argc)
			json_array_append_new(args, json_string("-ef"));
		for (int i = optind; i < argc; i++)
			if (json_array_append_new(args, json_string(argv[i])) < 0)
				return usage_error("ps", "a ps option that is not UTF-8");
		json_object_set_new(req, "ps_args", args);
	}
	if (client_call(uvm, req, NULL, 0, CALL_MS, &r, NULL, 0, &err) < 0)
		return fail("%s", err.message);
	pids = json_object_get(r, "pids");
	if (json) {
		char *text = json_dumps(pids, JSON_COMPACT);
		printf("%s\n", text ? text : "[]");
		free(text);
		return 0;
	}
	return print_table(json_string_value(json_object_get(r, "ps")) ?: "", pids);
}
