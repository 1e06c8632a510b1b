/* `lcow state`: a container's OCI state. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] state CONTAINER-ID\n"
	"\n"
	"Prints the OCI state of a container as JSON, as runc does: ociVersion, id, pid (in the\n"
	"UVM; 0 once stopped), status (creating, created, running, paused or stopped), bundle,\n"
	"rootfs (the root.path directory, or \"\" for layer folders), created, owner, and the\n"
	"bundle's annotations, plus uvm (the UVM's ID) and, for a container with a network\n"
	"(create --network), network: its mode (user or ns), netns (the host namespace), mac,\n"
	"addresses (ADDR/LEN, as the container's interface has them), namespace_id (the\n"
	"adapter's NamespaceID) and, for user, publish (QEMU's hostfwd rules).\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n";

/* The record, with the daemon's status and pid; the shape of runc's state. */
json_t *state_json(const char *id, json_t *rec, json_t *live)
{
	json_t *s =
		json_pack("{s:O?, s:s, s:i, s:O?, s:O?, s:O?, s:O?, s:O?}", "ociVersion",
			  json_object_get(rec, "ociVersion"), "id", id, "pid",
			  (int)json_integer_value(json_object_get(live, "pid")), "status",
			  json_object_get(live, "status"), "bundle", json_object_get(rec, "bundle"),
			  "rootfs", json_object_get(rec, "rootfs"), "created",
			  json_object_get(rec, "created"), "owner", json_object_get(rec, "owner"));

	if (s && json_is_object(json_object_get(rec, "annotations")))
		json_object_set(s, "annotations", json_object_get(rec, "annotations"));
	if (s)
		json_object_set(s, "uvm", json_object_get(rec, "uvm"));
	if (s && json_is_object(json_object_get(live, "network")))
		json_object_set(s, "network", json_object_get(live, "network"));
	return s;
}

int cmd_state(int argc, char **argv)
{
	static const struct option options[] = { { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	struct gcs_error err = { 0 };
	json_auto_t *rec = NULL;
	json_auto_t *req = NULL;
	json_auto_t *live = NULL;
	json_auto_t *s = NULL;
	char uvm[132], code[32];
	char *text;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		return usage_error("state", "unknown option");
	}
	if (optind + 1 != argc)
		return usage_error("state", "expected one container ID");
	if (client_container(argv[optind], uvm, sizeof(uvm), &rec, &err) < 0)
		return fail("%s", err.message);
	req = json_pack("{s:s, s:s}", "op", "state", "id", argv[optind]);
	rc = client_call(uvm, req, NULL, 0, CALL_MS, &live, code, sizeof(code), &err);
	if (rc < 0 && !strcmp(code, "not-found"))
		/* Recorded, not yet (or never) known to the daemon: a create under way. */
		live = json_pack("{s:s, s:i}", "status", "creating", "pid", 0);
	else if (rc < 0)
		return fail("%s", err.message);
	s = state_json(argv[optind], rec, live);
	text = s ? json_dumps(s, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	if (!text)
		return fail("out of memory");
	printf("%s\n", text);
	free(text);
	return 0;
}
