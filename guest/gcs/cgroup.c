/* containerd-style cgroup metrics (spec section 11) read from cgroupfs, v1 or v2. */
#include "cgroup.h"

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* The path of pid's cgroup for a v1 controller, or its v2 path when controller is NULL. */
static int cgroup_path(pid_t pid, const char *controller, char *out, size_t len)
{
	char file[64], line[1024];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(file, sizeof(file), "/proc/%d/cgroup", pid);
	f = fopen(file, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *ctrls = strchr(line, ':'), *path;
		if (!ctrls)
			continue;
		path = strchr(++ctrls, ':');
		if (!path)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (controller) {
			for (char *tok = strtok(ctrls, ","); tok; tok = strtok(NULL, ","))
				if (!strcmp(tok, controller)) {
					snprintf(out, len, "/sys/fs/cgroup/%s%s", controller, path);
					return 0;
				}
		} else if (line[0] == '0' && ctrls[0] == '\0') {
			/* v2 alone, or the unified hierarchy of a hybrid setup */
			if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
				snprintf(out, len, "/sys/fs/cgroup%s", path);
			else
				snprintf(out, len, "/sys/fs/cgroup/unified%s", path);
			return 0;
		}
	}
	return -1;
}

static long long read_num(const char *dir, const char *name)
{
	char path[600], buf[64];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f))
		return -1;
	if (!strncmp(buf, "max", 3))
		return 0;
	return strtoll(buf, NULL, 10);
}

static long long read_key(const char *dir, const char *name, const char *key)
{
	char path[600], line[256];
	_cleanup_fclose_ FILE *f = NULL;
	size_t kl = strlen(key);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ' ')
			return strtoll(line + kl + 1, NULL, 10);
	return -1;
}

static void set_num(json_t *o, const char *key, long long v)
{
	if (v >= 0)
		json_object_set_new(o, key, json_integer(v));
}

json_t *cgroup_metrics(pid_t pid)
{
	char mem[512], cpu[512], pids[512], v2[512];
	json_t *m = json_object(), *o, *u;
	bool any = false;

	if (!m)
		return NULL;
	if (cgroup_path(pid, "memory", mem, sizeof(mem)) == 0 &&
	    read_num(mem, "memory.usage_in_bytes") >= 0) {
		/* cgroup v1 */
		o = json_object();
		u = json_object();
		set_num(u, "usage", read_num(mem, "memory.usage_in_bytes"));
		set_num(u, "limit", read_num(mem, "memory.limit_in_bytes"));
		set_num(u, "max", read_num(mem, "memory.max_usage_in_bytes"));
		set_num(u, "failcnt", read_num(mem, "memory.failcnt"));
		json_object_set_new(o, "usage", u);
		set_num(o, "cache", read_key(mem, "memory.stat", "cache"));
		set_num(o, "rss", read_key(mem, "memory.stat", "rss"));
		set_num(o, "total_inactive_file",
			read_key(mem, "memory.stat", "total_inactive_file"));
		json_object_set_new(m, "memory", o);
		any = true;
		if (cgroup_path(pid, "cpuacct", cpu, sizeof(cpu)) == 0) {
			o = json_object();
			u = json_object();
			set_num(u, "total", read_num(cpu, "cpuacct.usage"));
			set_num(u, "user", read_num(cpu, "cpuacct.usage_user"));
			set_num(u, "kernel", read_num(cpu, "cpuacct.usage_sys"));
			json_object_set_new(o, "usage", u);
			json_object_set_new(m, "cpu", o);
		}
		if (cgroup_path(pid, "pids", pids, sizeof(pids)) == 0) {
			o = json_object();
			set_num(o, "current", read_num(pids, "pids.current"));
			set_num(o, "limit", read_num(pids, "pids.max"));
			json_object_set_new(m, "pids", o);
		}
	} else if (cgroup_path(pid, NULL, v2, sizeof(v2)) == 0) {
		/* cgroup v2: the same keys, from the unified files */
		o = json_object();
		u = json_object();
		set_num(u, "usage", read_num(v2, "memory.current"));
		set_num(u, "limit", read_num(v2, "memory.max"));
		set_num(u, "max", read_num(v2, "memory.peak"));
		set_num(u, "failcnt", read_key(v2, "memory.events", "max"));
		json_object_set_new(o, "usage", u);
		set_num(o, "rss", read_key(v2, "memory.stat", "anon"));
		set_num(o, "cache", read_key(v2, "memory.stat", "file"));
		set_num(o, "total_inactive_file", read_key(v2, "memory.stat", "inactive_file"));
		json_object_set_new(m, "memory", o);
		o = json_object();
		u = json_object();
		{
			long long t = read_key(v2, "cpu.stat", "usage_usec");
			long long us = read_key(v2, "cpu.stat", "user_usec");
			long long sy = read_key(v2, "cpu.stat", "system_usec");
			/* v1 reports nanoseconds */
			set_num(u, "total", t >= 0 ? t * 1000 : -1);
			set_num(u, "user", us >= 0 ? us * 1000 : -1);
			set_num(u, "kernel", sy >= 0 ? sy * 1000 : -1);
		}
		json_object_set_new(o, "usage", u);
		json_object_set_new(m, "cpu", o);
		o = json_object();
		set_num(o, "current", read_num(v2, "pids.current"));
		set_num(o, "limit", read_num(v2, "pids.max"));
		json_object_set_new(m, "pids", o);
		any = true;
	}
	if (!any) {
		json_decref(m);
		return NULL;
	}
	return m;
}
