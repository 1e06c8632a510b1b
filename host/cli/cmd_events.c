/* `lcow events`: a container's statistics as runc events prints them. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] events [--stats] [--interval DURATION] CONTAINER-ID\n"
	"\n"
	"Prints a container's statistics as runc events does, one JSON line each,\n"
	"{\"type\":\"stats\",\"id\":ID,\"data\":{...}}: with --stats once, else every interval (the\n"
	"first after one interval) until the container stops or lcow gets SIGINT or SIGTERM\n"
	"(exit status 0 either way). The numbers are the UVM agent's cgroup statistics\n"
	"(GetProperties Statistics), under runc's names, as runc leaves out zeros:\n"
	"  cpu.usage.total, .kernel, .user (nanoseconds)\n"
	"  memory.cache; memory.usage.limit, .usage, .max, .failcnt (bytes); memory.raw.cache,\n"
	"  .rss, .total_inactive_file (memory.stat, by cgroup v1's names whatever the UVM's\n"
	"  cgroup version)\n"
	"  pids.current, pids.limit (0, left out: no limit)\n"
	"What the agent does not report is left out, not made up: cpu.usage.percpu*,\n"
	"cpu.throttling, cpuset, memory.swap, .kernel, .kernelTCP, the rest of memory.raw, blkio,\n"
	"hugetlb, intel_rdt, network_interfaces. There are no OOM events (the bridge has none).\n"
	"\n"
	"Options:\n"
	"  --interval DURATION  time between two lines, as Go writes durations: 5s, 500ms, 1m30s\n"
	"                       (default 5s)\n"
	"  --stats              print the statistics once and exit\n"
	"  -h, --help           show this help\n";

/* ---- Go's time.ParseDuration ---- */

/* A duration such as 1h2m3.5s or 300ms, in nanoseconds; -EINVAL when it is not one. */
static int parse_duration(const char *s, int64_t *ret)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = { { "ns", 1 },   { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 },
		      { "ms", 1e6 }, { "s", 1e9 },  { "m", 60e9 },	  { "h", 3600e9 } };
	double total = 0;
	bool neg = false;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*ret = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		const char *start = s;
		size_t best = 0, best_len = 0;
		double v;
		char *end;

		while ((*s >= '0' && *s <= '9') || *s == '.')
			s++;
		if (s == start || (s == start + 1 && *start == '.'))
			return -EINVAL;
		errno = 0;
		v = strtod(start, &end);
		if (errno || end != s)
			return -EINVAL;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t n = strlen(units[i].name);
			if (!strncmp(s, units[i].name, n) && n > best_len) {
				best = i;
				best_len = n;
			}
		}
		if (!best_len)
			return -EINVAL; /* a missing or unknown unit */
		/* "m" is not the start of "ms": the longest unit wins */
		s += best_len;
		total += v * units[best].ns;
		if (total > 9.2e18)
			return -ERANGE;
	}
	*ret = (int64_t)(neg ? -total : total);
	return 0;
}

/* ---- the agent's metrics in runc's shape ---- */

/* dst[key] = src[name] when src has it; zero only when keep_zero (runc's fields without omitempty). */
static void copy_num(json_t *dst, const char *key, json_t *src, const char *name, bool keep_zero)
{
	json_t *v = json_object_get(src, name);

	if (json_is_integer(v) && (keep_zero || json_integer_value(v) != 0))
		json_object_set(dst, key, v);
}

/* Adds o as dst[key] when it has anything. */
static void put_nonempty(json_t *dst, const char *key, json_t *o)
{
	if (json_object_size(o))
		json_object_set_new(dst, key, o);
	else
		json_decref(o);
}

/*
 * runc's types.Stats from LCOWMetrics (containerd's cgroup v1 Metrics as the agent fills it),
 * in runc's field order, with runc's omitempty: cpu, memory, pids.
 */
static json_t *runc_stats(json_t *m)
{
	json_t *data = json_object();
	json_t *cpu = json_object_get(m, "cpu"), *mem = json_object_get(m, "memory");
	json_t *pids = json_object_get(m, "pids");

	if (json_is_object(cpu)) {
		json_t *u = json_object_get(cpu, "usage"), *usage = json_object(), *o;
		copy_num(usage, "total", u, "total", false);
		copy_num(usage, "kernel", u, "kernel", true);
		copy_num(usage, "user", u, "user", true);
		o = json_object();
		put_nonempty(o, "usage", usage);
		put_nonempty(data, "cpu", o);
	}
	if (json_is_object(mem)) {
		json_t *u = json_object_get(mem, "usage"), *o = json_object();
		json_t *usage = json_object(), *raw = json_object();
		copy_num(o, "cache", mem, "cache", false);
		copy_num(usage, "limit", u, "limit", true);
		copy_num(usage, "usage", u, "usage", false);
		copy_num(usage, "max", u, "max", false);
		copy_num(usage, "failcnt", u, "failcnt", true);
		put_nonempty(o, "usage", usage);
		copy_num(raw, "cache", mem, "cache", true);
		copy_num(raw, "rss", mem, "rss", true);
		copy_num(raw, "total_inactive_file", mem, "total_inactive_file", true);
		put_nonempty(o, "raw", raw);
		put_nonempty(data, "memory", o);
	}
	if (json_is_object(pids)) {
		json_t *o = json_object();
		copy_num(o, "current", pids, "current", false);
		copy_num(o, "limit", pids, "limit", false);
		/* runc prints "pids":{} for a group with neither */
		json_object_set_new(data, "pids", o);
	}
	return data;
}

static int print_stats(const char *id, json_t *metrics)
{
	json_t *e = json_pack("{s:s, s:s, s:o}", "type", "stats", "id", id, "data",
			      runc_stats(metrics));
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
	int rc = 0;

	json_decref(e);
	if (!text)
		return fail("out of memory");
	if (printf("%s\n", text) < 0 || fflush(stdout) != 0)
		rc = fail("write: %m");
	free(text);
	return rc;
}

/* ---- the stream ---- */

static int follow(const char *uvm, const char *id, int64_t interval_ns)
{
	long long ms = interval_ns / 1000000 + (interval_ns % 1000000 ? 1 : 0);
	_cleanup_close_ int sfd = -1;
	struct gcs_error err = { 0 };
	json_auto_t *req = json_pack("{s:s, s:s, s:I}", "op", "events", "id", id, "interval_ms",
				     (json_int_t)ms);
	struct ctl_conn conn;
	json_t *r = NULL;
	sigset_t set;
	int rc = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return fail("signalfd: %m");
	if (client_begin(uvm, req, NULL, 0, CALL_MS, &conn, &r, &err) < 0)
		return fail("%s", err.message);
	json_decref(r);
	for (;;) {
		struct pollfd p[2] = { { .fd = conn.fd, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };

		if (conn.len == 0 && poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = fail("poll: %m");
			break;
		}
		if (conn.len == 0 && p[1].revents)
			break; /* SIGINT or SIGTERM: a clean end */
		if (conn.len == 0 && !p[0].revents)
			continue;
		r = NULL;
		if (ctl_recv(&conn, CALL_MS, &r, NULL, NULL) < 0) {
			rc = fail("the daemon of UVM %s went away (see its daemon.log)", uvm);
			break;
		}
		if (!json_is_true(json_object_get(r, "ok"))) {
			rc = fail("%s", json_string_value(json_object_get(r, "error")) ?: "failed");
		} else if (json_is_true(json_object_get(r, "stopped"))) {
			json_decref(r);
			break;
		} else if (json_object_get(r, "stats_error")) {
			/* runc logs a failed collection and goes on */
			log_error("%s", json_string_value(json_object_get(r, "stats_error")));
		} else {
			rc = print_stats(id, json_object_get(r, "metrics"));
		}
		json_decref(r);
		if (rc)
			break;
	}
	ctl_close(&conn);
	return rc;
}

enum { OPT_INTERVAL = 0x100, OPT_STATS };

int cmd_events(int argc, char **argv)
{
	static const struct option options[] = { { "interval", required_argument, NULL,
						   OPT_INTERVAL },
						 { "stats", no_argument, NULL, OPT_STATS },
						 { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	struct gcs_error err = { 0 };
	int64_t interval = 5000000000LL;
	json_auto_t *req = NULL;
	json_auto_t *r = NULL;
	bool once = false;
	const char *id;
	char uvm[132];
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_INTERVAL:
			if (parse_duration(optarg, &interval) < 0)
				return usage_error("events",
						   "invalid value \"%s\" for flag -interval: parse "
						   "error",
						   optarg);
			break;
		case OPT_STATS:
			once = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return usage_error("events", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("events", "expected one container ID");
	id = argv[optind];
	if (interval <= 0)
		return fail("duration interval must be greater than 0");
	if (client_container(id, uvm, sizeof(uvm), NULL, &err) < 0)
		return fail("%s", err.message);
	if (!once)
		return follow(uvm, id, interval);
	req = json_pack("{s:s, s:s}", "op", "stats", "id", id);
	if (client_call(uvm, req, NULL, 0, CALL_MS, &r, NULL, 0, &err) < 0)
		return fail("%s", err.message);
	return print_stats(id, json_object_get(r, "metrics"));
}
