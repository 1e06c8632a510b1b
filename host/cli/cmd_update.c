/* `lcow update`: a container's resource limits, as runc update changes them. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "util.h"

#define RESOURCES_MAX (1 << 20)

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] update [OPTIONS] CONTAINER-ID\n"
	"\n"
	"Changes the resource limits of a created, running or paused container, with runc\n"
	"update's options. They go to the UVM's agent as an OCI LinuxResources object (the bridge's\n"
	"ModifySettings ContainerConstraints), which it applies with runc update --resources in the\n"
	"UVM. Only what is given changes. Values are checked as runc checks them; what runc in the\n"
	"UVM or the kernel refuses (a weight out of range, a CPU the UVM does not have) comes back\n"
	"as runc's error.\n"
	"\n"
	"Options:\n"
	"  -r, --resources FILE        the resources as JSON (FILE, or - for stdin), in runc's\n"
	"                              format: {\"memory\":{\"limit\",\"reservation\",\"swap\"},\n"
	"                              \"cpu\":{\"shares\",\"quota\",\"period\",\"realtimeRuntime\",\n"
	"                              \"realtimePeriod\",\"cpus\",\"mems\"},\"blockIO\":{\"weight\"},\n"
	"                              \"pids\":{\"limit\"}}; any other field is refused (runc would\n"
	"                              ignore it), and so are the other options with it\n"
	"  --blkio-weight N            block IO weight (the kernel takes 10 to 1000)\n"
	"  --cpu-period USECS          CPU CFS period (0: the system default)\n"
	"  --cpu-quota USECS           CPU CFS quota: CPU time allowed in a period (-1: none)\n"
	"  --cpu-share N               CPU shares (a relative weight); also --cpu-shares\n"
	"  --cpu-rt-period USECS       CPU realtime period\n"
	"  --cpu-rt-runtime USECS      CPU realtime runtime allowed in a period\n"
	"  --cpuset-cpus LIST          the CPUs to use (\"0-1\", \"0,2\")\n"
	"  --cpuset-mems LIST          the memory nodes to use\n"
	"  --memory BYTES              memory limit (suffixes k, m, g, t, p: powers of 1024;\n"
	"                              -1: none)\n"
	"  --memory-reservation BYTES  memory soft limit\n"
	"  --memory-swap BYTES         memory plus swap limit (-1: unlimited swap)\n"
	"  --pids-limit N              the most processes at once (-1: none)\n"
	"  -h, --help                  show this help\n"
	"\n"
	"Not offered: --kernel-memory and --kernel-memory-tcp (obsolete: runc ignores them) and\n"
	"--l3-cache-schema and --mem-bw-schema (Intel RDT is not part of LinuxResources, so the\n"
	"bridge cannot carry it); they are refused with that reason.\n";

enum {
	OPT_BLKIO = 0x100,
	OPT_CPU_PERIOD,
	OPT_CPU_QUOTA,
	OPT_CPU_SHARE,
	OPT_CPU_RT_PERIOD,
	OPT_CPU_RT_RUNTIME,
	OPT_CPUSET_CPUS,
	OPT_CPUSET_MEMS,
	OPT_MEMORY,
	OPT_MEMORY_RESERVATION,
	OPT_MEMORY_SWAP,
	OPT_PIDS,
	OPT_KMEM,
	OPT_RDT,
};

/* ---- values, as runc reads them ---- */

/* A memory size as runc's units.RAMInBytes reads it: 1.5g, 64m, 64MiB, 512 k. */
static int parse_size(const char *s, int64_t *ret)
{
	static const char units[] = "kmgtp";
	const char *p = s, *num_end;
	double v, mul = 1;
	char *end;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	while ((*p >= '0' && *p <= '9') || *p == '.') {
		if (*p == '.' && (p[1] < '0' || p[1] > '9'))
			return -EINVAL;
		p++;
	}
	num_end = p;
	if (*p == ' ')
		p++;
	if (*p) {
		const char *u = strchr(units, *p | 0x20);
		if (u) {
			for (const char *k = units; k <= u; k++)
				mul *= 1024;
			p++;
		}
	}
	if (*p == 'i' || *p == 'I')
		p++;
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end != num_end)
		return -EINVAL;
	v *= mul;
	if (!isfinite(v) || v >= 9223372036854775807.0)
		return -ERANGE;
	*ret = (int64_t)v;
	return 0;
}

/* Go's strconv errors, as runc's messages carry them. */
static int bad_number(const char *opt, const char *s, int rc)
{
	return fail("invalid value for %s: parsing \"%s\": %s", opt, s,
		    rc == -ERANGE ? "value out of range" : "invalid syntax");
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	return errno ? -ERANGE : 0;
}

static int parse_i64(const char *s, int64_t *ret)
{
	const char *digits = *s == '-' || *s == '+' ? s + 1 : s;
	char *end;

	if (*digits < '0' || *digits > '9')
		return -EINVAL;
	errno = 0;
	*ret = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	return errno ? -ERANGE : 0;
}

/* obj[group][key] = v, creating the group. */
static void put(json_t *res, const char *group, const char *key, json_t *v)
{
	json_t *g = json_object_get(res, group);

	if (!g) {
		g = json_object();
		json_object_set_new(res, group, g);
	}
	json_object_set_new(g, key, v);
}

/* One option's value into res: 0, or the exit status of a bad value. */
static int option(json_t *res, int opt, const char *name, const char *val)
{
	uint64_t u;
	int64_t i;
	int rc;

	/* runc leaves a value given as "" unchanged */
	if (!*val)
		return 0;
	switch (opt) {
	case OPT_BLKIO:
	case OPT_PIDS:
		/* urfave/cli integer flags */
		rc = parse_i64(val, &i);
		if (rc == 0 && opt == OPT_BLKIO && (i < 0 || i > UINT16_MAX))
			rc = -ERANGE;
		if (rc < 0)
			return fail("invalid value \"%s\" for flag -%s: %s", val, name,
				    rc == -ERANGE ? "value out of range" : "parse error");
		if (i != 0) /* runc: 0 leaves it unchanged */
			put(res, opt == OPT_BLKIO ? "blockIO" : "pids",
			    opt == OPT_BLKIO ? "weight" : "limit", json_integer(i));
		return 0;
	case OPT_CPU_PERIOD:
	case OPT_CPU_RT_PERIOD:
	case OPT_CPU_SHARE:
		rc = parse_u64(val, &u);
		if (rc == 0 && u > INT64_MAX)
			rc = -ERANGE; /* a JSON integer of jansson is signed */
		if (rc < 0)
			return bad_number(name, val, rc);
		put(res, "cpu",
		    opt == OPT_CPU_PERIOD    ? "period" :
		    opt == OPT_CPU_RT_PERIOD ? "realtimePeriod" :
					       "shares",
		    json_integer((json_int_t)u));
		return 0;
	case OPT_CPU_QUOTA:
	case OPT_CPU_RT_RUNTIME:
		rc = parse_i64(val, &i);
		if (rc < 0)
			return bad_number(name, val, rc);
		put(res, "cpu", opt == OPT_CPU_QUOTA ? "quota" : "realtimeRuntime",
		    json_integer(i));
		return 0;
	case OPT_CPUSET_CPUS:
	case OPT_CPUSET_MEMS:
		put(res, "cpu", opt == OPT_CPUSET_CPUS ? "cpus" : "mems", json_string(val));
		return 0;
	case OPT_MEMORY:
	case OPT_MEMORY_RESERVATION:
	case OPT_MEMORY_SWAP:
		if (!strcmp(val, "-1"))
			i = -1;
		else if ((rc = parse_size(val, &i)) < 0)
			return fail("invalid value for %s: invalid size: '%s'%s", name, val,
				    rc == -ERANGE ? " (too large)" : "");
		put(res, "memory",
		    opt == OPT_MEMORY	   ? "limit" :
		    opt == OPT_MEMORY_SWAP ? "swap" :
					     "reservation",
		    json_integer(i));
		return 0;
	default:
		return usage_error("update", "unknown option");
	}
}

/* ---- --resources: runc's LinuxResources, the fields runc update applies ---- */

enum kind { K_INT64, K_UINT64, K_UINT16, K_STRING };

static const struct field {
	const char *group, *key;
	enum kind kind;
} fields[] = {
	{ "memory", "limit", K_INT64 },	       { "memory", "reservation", K_INT64 },
	{ "memory", "swap", K_INT64 },	       { "cpu", "shares", K_UINT64 },
	{ "cpu", "quota", K_INT64 },	       { "cpu", "period", K_UINT64 },
	{ "cpu", "realtimeRuntime", K_INT64 }, { "cpu", "realtimePeriod", K_UINT64 },
	{ "cpu", "cpus", K_STRING },	       { "cpu", "mems", K_STRING },
	{ "blockIO", "weight", K_UINT16 },     { "pids", "limit", K_INT64 },
};

static const struct field *field_of(const char *group, const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (!strcmp(fields[i].group, group) && (!key || !strcmp(fields[i].key, key)))
			return &fields[i];
	return NULL;
}

static const char *const kind_names[] = { "an integer", "an unsigned integer",
					  "an integer from 0 to 65535", "a string" };

/* Checks a resources document and copies what it sets (nulls left out) into res. */
static int check_resources(json_t *doc, json_t *res, const char *from)
{
	const char *group, *key;
	json_t *g, *v;

	if (!json_is_object(doc))
		return fail("update: %s: the resources must be a JSON object", from);
	json_object_foreach(doc, group, g) {
		if (json_is_null(g))
			continue;
		if (!field_of(group, NULL))
			return fail(
				"update: %s: \"%s\" is not supported: lcow updates only memory, "
				"cpu, blockIO and pids (runc update would ignore it)",
				from, group);
		if (!json_is_object(g))
			return fail("update: %s: \"%s\" must be an object", from, group);
		json_object_foreach(g, key, v) {
			const struct field *f = field_of(group, key);
			bool ok;

			if (json_is_null(v))
				continue;
			if (!f)
				return fail("update: %s: %s.%s is not supported (runc update would "
					    "ignore it)",
					    from, group, key);
			switch (f->kind) {
			case K_STRING:
				ok = json_is_string(v);
				break;
			case K_INT64:
				ok = json_is_integer(v);
				break;
			case K_UINT64:
				ok = json_is_integer(v) && json_integer_value(v) >= 0;
				break;
			default:
				ok = json_is_integer(v) && json_integer_value(v) >= 0 &&
				     json_integer_value(v) <= UINT16_MAX;
			}
			if (!ok)
				return fail("update: %s: %s.%s must be %s", from, group, key,
					    kind_names[f->kind]);
			put(res, group, key, json_incref(v));
		}
	}
	return 0;
}

static int read_resources(const char *path, json_t *res)
{
	json_error_t jerr;
	json_t *doc;
	int rc;

	if (!strcmp(path, "-"))
		doc = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	else
		doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc && jerr.line < 1)
		return fail("update: %s", jerr.text);
	if (!doc)
		return fail("update: %s: line %d: %s", strcmp(path, "-") ? path : "stdin",
			    jerr.line, jerr.text);
	rc = check_resources(doc, res, strcmp(path, "-") ? path : "stdin");
	json_decref(doc);
	return rc;
}

int cmd_update(int argc, char **argv)
{
	static const struct option options[] = {
		{ "resources", required_argument, NULL, 'r' },
		{ "blkio-weight", required_argument, NULL, OPT_BLKIO },
		{ "cpu-period", required_argument, NULL, OPT_CPU_PERIOD },
		{ "cpu-quota", required_argument, NULL, OPT_CPU_QUOTA },
		{ "cpu-share", required_argument, NULL, OPT_CPU_SHARE },
		{ "cpu-shares", required_argument, NULL, OPT_CPU_SHARE },
		{ "cpu-rt-period", required_argument, NULL, OPT_CPU_RT_PERIOD },
		{ "cpu-rt-runtime", required_argument, NULL, OPT_CPU_RT_RUNTIME },
		{ "cpuset-cpus", required_argument, NULL, OPT_CPUSET_CPUS },
		{ "cpuset-mems", required_argument, NULL, OPT_CPUSET_MEMS },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "memory-reservation", required_argument, NULL, OPT_MEMORY_RESERVATION },
		{ "memory-swap", required_argument, NULL, OPT_MEMORY_SWAP },
		{ "pids-limit", required_argument, NULL, OPT_PIDS },
		{ "kernel-memory", required_argument, NULL, OPT_KMEM },
		{ "kernel-memory-tcp", required_argument, NULL, OPT_KMEM },
		{ "l3-cache-schema", required_argument, NULL, OPT_RDT },
		{ "mem-bw-schema", required_argument, NULL, OPT_RDT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gcs_error err = { 0 };
	json_auto_t *res = json_object();
	json_auto_t *req = NULL;
	const char *file = NULL;
	bool flags = false;
	char uvm[132];
	int c, li, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "r:h", options, &li)) != -1) {
		switch (c) {
		case 'r':
			file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case OPT_KMEM:
			return usage_error("update",
					   "--%s is not supported: kernel memory limits are "
					   "obsolete (runc ignores them)",
					   options[li].name);
		case OPT_RDT:
			return usage_error("update",
					   "--%s is not supported: Intel RDT is not part of OCI "
					   "LinuxResources, which is all the bridge carries",
					   options[li].name);
		case '?':
			return usage_error("update", "unknown option");
		default:
			flags = true;
			if ((rc = option(res, c, options[li].name, optarg)) != 0)
				return rc;
		}
	}
	if (optind + 1 != argc)
		return usage_error("update", "expected one container ID");
	if (file && flags)
		return usage_error("update",
				   "--resources and the other options do not go together (runc "
				   "would ignore the options)");
	if (file && (rc = read_resources(file, res)) != 0)
		return rc;
	if (client_container(argv[optind], uvm, sizeof(uvm), NULL, &err) < 0)
		return fail("%s", err.message);
	req = json_pack("{s:s, s:s, s:O}", "op", "update", "id", argv[optind], "resources", res);
	if (!req)
		return fail("out of memory");
	if (client_call(uvm, req, NULL, 0, CALL_MS, NULL, NULL, 0, &err) < 0)
		return fail("%s", err.message);
	return 0;
}
