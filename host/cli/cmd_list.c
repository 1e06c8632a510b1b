/* `lcow list`: the containers of --root. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "store.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] list [--format table|json] [--quiet]\n"
	"\n"
	"Lists the containers under --root: ID, PID (in the UVM), STATUS, BUNDLE, CREATED,\n"
	"OWNER and UVM, or with --format json an array of their OCI states (see lcow state).\n"
	"Each UVM's daemon is asked for its containers' status; a UVM whose daemon is gone is\n"
	"reported on stderr, and its containers show as stopped.\n"
	"\n"
	"Options:\n"
	"  -f, --format FORMAT  table (default) or json\n"
	"  -q, --quiet          only the IDs\n"
	"  -h, --help           show this help\n";

/*
 * The daemon's view of a UVM's containers, asked once per UVM: {"alive":bool,"ids":{id:state}}.
 */
static json_t *uvm_status(json_t *cache, const char *uvm)
{
	struct gcs_error err = { 0 };
	json_t *seen = json_object_get(cache, uvm), *req, *r = NULL, *v, *by_id;
	bool alive = false;
	size_t i;

	if (seen)
		return seen;
	by_id = json_object();
	req = json_pack("{s:s}", "op", "list");
	if (client_call(uvm, req, NULL, 0, QUICK_MS, &r, NULL, 0, &err) < 0) {
		fprintf(stderr, "lcow: %s\n", err.message);
	} else if (json_is_true(json_object_get(r, "uvm_gone"))) {
		fprintf(stderr, "lcow: the UVM %s is gone; `lcow delete --force` cleans up\n", uvm);
	} else {
		alive = true;
	}
	json_array_foreach(json_object_get(r, "containers"), i, v)
		json_object_set(by_id, json_string_value(json_object_get(v, "id")), v);
	json_decref(req);
	json_decref(r);
	seen = json_pack("{s:b, s:o}", "alive", alive, "ids", by_id);
	json_object_set_new(cache, uvm, seen);
	return seen;
}

static void print_table(json_t *states)
{
	static const char *const cols[] = { "ID",      "PID",	"STATUS", "BUNDLE",
					    "CREATED", "OWNER", "UVM" };
	size_t width[ARRAY_SIZE(cols)], i;
	json_t *s;

	for (size_t k = 0; k < ARRAY_SIZE(cols); k++)
		width[k] = strlen(cols[k]) < 12 ? 12 : strlen(cols[k]);
	/* Columns as runc's tabwriter lays them out: padded to the widest cell plus 3. */
	json_array_foreach(states, i, s) {
		char pid[16];
		const char *cells[ARRAY_SIZE(cols)] = {
			json_string_value(json_object_get(s, "id")),
			pid,
			json_string_value(json_object_get(s, "status")),
			json_string_value(json_object_get(s, "bundle")),
			json_string_value(json_object_get(s, "created")),
			json_string_value(json_object_get(s, "owner")),
			json_string_value(json_object_get(s, "uvm")),
		};
		snprintf(pid, sizeof(pid), "%lld",
			 (long long)json_integer_value(json_object_get(s, "pid")));
		for (size_t k = 0; k < ARRAY_SIZE(cols); k++)
			if (cells[k] && strlen(cells[k]) > width[k])
				width[k] = strlen(cells[k]);
	}
	for (size_t k = 0; k < ARRAY_SIZE(cols); k++)
		printf("%-*s", k + 1 < ARRAY_SIZE(cols) ? (int)width[k] + 3 : 0, cols[k]);
	printf("\n");
	json_array_foreach(states, i, s) {
		const char *keys[] = { "id", "pid", "status", "bundle", "created", "owner", "uvm" };
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
			json_t *v = json_object_get(s, keys[k]);
			char cell[32];
			const char *text = json_string_value(v);
			if (json_is_integer(v)) {
				snprintf(cell, sizeof(cell), "%lld",
					 (long long)json_integer_value(v));
				text = cell;
			}
			printf("%-*s", k + 1 < ARRAY_SIZE(keys) ? (int)width[k] + 3 : 0,
			       text ? text : "");
		}
		printf("\n");
	}
}

int cmd_list(int argc, char **argv)
{
	static const struct option options[] = { { "format", required_argument, NULL, 'f' },
						 { "quiet", no_argument, NULL, 'q' },
						 { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	json_auto_t *cache = json_object();
	json_auto_t *states = json_array();
	bool json = false, quiet = false;
	char **ids = NULL;
	size_t n = 0;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "f:qh", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "table") && strcmp(optarg, "json"))
				return usage_error("list", "--format must be table or json");
			json = !strcmp(optarg, "json");
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return usage_error("list", "unknown option");
		}
	}
	if (optind != argc)
		return usage_error("list", "no arguments expected");
	rc = store_list(&ids, &n);
	if (rc < 0)
		return fail("list %s: %s", store_root(), strerror(-rc));
	for (size_t i = 0; i < n; i++) {
		json_t *rec = NULL, *live, *s, *st;
		const char *uvm;
		if (store_record_read(ids[i], &rec) < 0)
			continue;
		uvm = json_string_value(json_object_get(rec, "uvm"));
		st = uvm_status(cache, uvm ? uvm : "");
		live = json_object_get(json_object_get(st, "ids"), ids[i]);
		if (live)
			json_incref(live);
		else /* the daemon does not know it yet, or the UVM is gone */
			live = json_pack("{s:s, s:i}", "status",
					 json_is_true(json_object_get(st, "alive")) ? "creating" :
										      "stopped",
					 "pid", 0);
		s = state_json(ids[i], rec, live);
		if (s)
			json_array_append_new(states, s);
		json_decref(live);
		json_decref(rec);
	}
	store_list_free(ids, n);
	if (quiet) {
		size_t i;
		json_t *s;
		json_array_foreach(states, i, s)
			printf("%s\n", json_string_value(json_object_get(s, "id")));
	} else if (json) {
		char *text = json_dumps(states, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s\n", text ? text : "[]");
		free(text);
	} else {
		print_table(states);
	}
	return 0;
}
