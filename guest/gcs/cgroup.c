/* containerd-style cgroup metrics (spec section 11) read from cgroupfs, v1 or v2. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/*
 * "No limit" in containerd's v1 Metrics, which hcsshim parses LCOWMetrics as: the kernel's own
 * value, as cgroup v1 memory.limit_in_bytes reads when unlimited (PAGE_COUNTER_MAX pages,
 * 9223372036854771712 with 4 KiB pages) and containerd's v1 Metrics passes on unchanged. v2's
 * memory.max "max" is reported as that same value, so the host sees one "unlimited" whatever
 * the cgroup version (containerd's v2 uses UINT64_MAX, which a JSON integer of jansson cannot
 * hold). pids.max "max" is 0, as containerd's v1 pids Stat reports it.
 */
static long long memory_unlimited(void)
{
	long page = sysconf(_SC_PAGESIZE);

	if (page <= 0)
		page = 4096;
	return LLONG_MAX / page * page;
}

/* The path of pid's cgroup for a v1 controller, or its v2 path when controller is NULL. */
static int cgroup_path(pid_t pid, const char *controller, char *out, size_t len)
{
	char file[64], line[1024];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(file, sizeof(file), "/proc/%d/cgroup", pid);
	f = fopen(file, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *ctrls = strchr(line, ':'), *path;
		if (!ctrls)
			continue;
		path = strchr(++ctrls, ':');
		if (!path)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (!strcmp(path, "/"))
			path[0] = '\0'; /* the root cgroup: no "//" */
		if (controller) {
			for (char *tok = strtok(ctrls, ","); tok; tok = strtok(NULL, ","))
				if (!strcmp(tok, controller)) {
					snprintf(out, len, CGROUP_ROOT "/%s%s", controller, path);
					return 0;
				}
		} else if (line[0] == '0' && ctrls[0] == '\0') {
			/* v2 alone, or the unified hierarchy of a hybrid setup */
			if (access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0)
				snprintf(out, len, CGROUP_ROOT "%s", path);
			else
				snprintf(out, len, CGROUP_ROOT "/unified%s", path);
			return 0;
		}
	}
	return -ENOENT;
}

/* What reading one value of a group found. */
struct reader {
	const char *dir;
	struct gcs_error *err;
	int rc; /* the first failure of a value that must be there */
};

/* A number file: 0 with the value, 1 for "max", -errno. */
static int read_file(const char *dir, const char *name, long long *ret)
{
	char path[PATH_MAX], buf[64];
	_cleanup_fclose_ FILE *f = NULL;
	char *end;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f))
		return ferror(f) ? -EIO : -ENODATA;
	if (!strncmp(buf, "max", 3))
		return 1;
	errno = 0;
	*ret = strtoll(buf, &end, 10);
	if (errno || end == buf)
		return -EBADMSG;
	return 0;
}

/* "key value" lines (memory.stat, cpu.stat, memory.events): 0 with the value, -errno. */
static int read_key(const char *dir, const char *name, const char *key, long long *ret)
{
	char path[PATH_MAX], line[256];
	_cleanup_fclose_ FILE *f = NULL;
	size_t kl = strlen(key);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ' ') {
			*ret = strtoll(line + kl + 1, NULL, 10);
			return 0;
		}
	return -ENOENT;
}

static void fail(struct reader *r, const char *name, int rc)
{
	if (r->rc < 0)
		return;
	r->rc = rc;
	gcs_error_set(r->err, rc, HR_FAIL, "cgroup metrics: %s/%s: %s", r->dir, name,
		      strerror(-rc));
}

/*
 * Sets o[key] from a number file. A required value that cannot be read fails the metrics; an
 * optional one (not in every kernel) is left out. scale multiplies (v2's microseconds); max is
 * what "max" stands for.
 */
static void num(struct reader *r, json_t *o, const char *key, const char *name, bool required,
		long long scale, long long max)
{
	long long v = 0;
	int rc = read_file(r->dir, name, &v);

	if (rc == 1)
		v = max;
	else if (rc == 0)
		v *= scale;
	if (rc >= 0)
		json_object_set_new(o, key, json_integer(v));
	else if (required)
		fail(r, name, rc);
}

static void keyed(struct reader *r, json_t *o, const char *key, const char *name,
		  const char *file_key, bool required, long long scale)
{
	long long v;
	int rc = read_key(r->dir, name, file_key, &v);

	if (rc == 0)
		json_object_set_new(o, key, json_integer(v * scale));
	else if (required)
		fail(r, name, rc);
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* A group object (memory, cpu, ...) with a "usage" object inside. */
static json_t *group(json_t *m, const char *name, bool with_usage, json_t **ret_usage)
{
	json_t *o = json_object();

	json_object_set_new(m, name, o);
	if (with_usage) {
		*ret_usage = json_object();
		json_object_set_new(o, "usage", *ret_usage);
	}
	return o;
}

/*
 * cgroup v1: one hierarchy per controller. A controller pid is not in, or whose cgroup has no
 * usage file (the root cgroup of pids has none), is left out.
 */
static int metrics_v1(pid_t pid, json_t *m, struct gcs_error *err, bool *any)
{
	char mem[PATH_MAX], cpu[PATH_MAX], pids[PATH_MAX];
	struct reader r = { .err = err };
	json_t *o, *u;

	if (cgroup_path(pid, "memory", mem, sizeof(mem)) == 0 &&
	    exists(mem, "memory.usage_in_bytes")) {
		r.dir = mem;
		o = group(m, "memory", true, &u);
		num(&r, u, "usage", "memory.usage_in_bytes", true, 1, 0);
		num(&r, u, "limit", "memory.limit_in_bytes", true, 1, 0);
		num(&r, u, "max", "memory.max_usage_in_bytes", false, 1, 0);
		num(&r, u, "failcnt", "memory.failcnt", false, 1, 0);
		keyed(&r, o, "cache", "memory.stat", "cache", false, 1);
		keyed(&r, o, "rss", "memory.stat", "rss", false, 1);
		keyed(&r, o, "total_inactive_file", "memory.stat", "total_inactive_file", false, 1);
		*any = true;
	}
	if (r.rc == 0 && cgroup_path(pid, "cpuacct", cpu, sizeof(cpu)) == 0 &&
	    exists(cpu, "cpuacct.usage")) {
		r.dir = cpu;
		group(m, "cpu", true, &u);
		num(&r, u, "total", "cpuacct.usage", true, 1, 0);
		num(&r, u, "user", "cpuacct.usage_user", false, 1, 0);
		num(&r, u, "kernel", "cpuacct.usage_sys", false, 1, 0);
		*any = true;
	}
	if (r.rc == 0 && cgroup_path(pid, "pids", pids, sizeof(pids)) == 0 &&
	    exists(pids, "pids.current")) {
		r.dir = pids;
		o = group(m, "pids", false, NULL);
		num(&r, o, "current", "pids.current", true, 1, 0);
		num(&r, o, "limit", "pids.max", true, 1, 0);
		*any = true;
	}
	return r.rc;
}

/* cgroup v2: one directory; a controller not enabled there has no files and is left out. */
static int metrics_v2(const char *dir, json_t *m, bool *any, struct gcs_error *err)
{
	struct reader r = { .dir = dir, .err = err };
	json_t *o, *u;

	if (exists(dir, "memory.current")) {
		o = group(m, "memory", true, &u);
		num(&r, u, "usage", "memory.current", true, 1, 0);
		num(&r, u, "limit", "memory.max", true, 1, memory_unlimited());
		num(&r, u, "max", "memory.peak", false, 1, 0);
		keyed(&r, u, "failcnt", "memory.events", "max", false, 1);
		keyed(&r, o, "rss", "memory.stat", "anon", false, 1);
		keyed(&r, o, "cache", "memory.stat", "file", false, 1);
		keyed(&r, o, "total_inactive_file", "memory.stat", "inactive_file", false, 1);
		*any = true;
	}
	if (r.rc == 0 && exists(dir, "cpu.stat")) {
		/* v1 reports nanoseconds, v2 microseconds */
		group(m, "cpu", true, &u);
		keyed(&r, u, "total", "cpu.stat", "usage_usec", true, 1000);
		keyed(&r, u, "user", "cpu.stat", "user_usec", false, 1000);
		keyed(&r, u, "kernel", "cpu.stat", "system_usec", false, 1000);
		*any = true;
	}
	if (r.rc == 0 && exists(dir, "pids.current")) {
		o = group(m, "pids", false, NULL);
		num(&r, o, "current", "pids.current", true, 1, 0);
		num(&r, o, "limit", "pids.max", true, 1, 0);
		*any = true;
	}
	return r.rc;
}

int cgroup_metrics(pid_t pid, json_t **ret, struct gcs_error *err)
{
	json_auto_t *m = json_object();
	char mem[PATH_MAX], v2[PATH_MAX];
	bool any = false;
	int rc;

	if (!m)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	rc = cgroup_path(pid, NULL, v2, sizeof(v2));
	if (rc < 0 && rc != -ENOENT)
		return gcs_error_set(err, rc, HR_FAIL, "cgroup metrics: /proc/%d/cgroup: %s", pid,
				     strerror(-rc));
	/* A v1 memory hierarchy wins: in a hybrid setup the controllers are there. */
	if (cgroup_path(pid, "memory", mem, sizeof(mem)) == 0 ||
	    access(CGROUP_ROOT "/cgroup.controllers", F_OK) < 0)
		rc = metrics_v1(pid, m, err, &any);
	else
		rc = metrics_v2(v2, m, &any, err);
	if (rc < 0)
		return rc;
	if (!any)
		return gcs_error_set(err, -ENOENT, HR_FAIL,
				     "cgroup metrics: no memory, cpu or pids cgroup of pid %d",
				     pid);
	*ret = TAKE_PTR(m);
	return 0;
}

/* rmdir of dir (relative to parent) after every directory below it, deepest first. */
static int remove_below(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int r;
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = remove_below(dirfd(d), de->d_name);
		if (r < 0 && rc == 0)
			rc = r;
	}
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0)
		rc = -errno;
	return rc;
}

int cgroup_remove(const char *path)
{
	if (!path || path[0] != '/' || strncmp(path, CGROUP_ROOT "/", strlen(CGROUP_ROOT) + 1))
		return -EINVAL;
	return remove_below(AT_FDCWD, path);
}
