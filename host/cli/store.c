/* The state directory: container records and UVM directories. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define UVM_NAME_MAX 24

static char root_dir[PATH_MAX];

int store_open(const char *root)
{
	char p[PATH_MAX];
	int rc;

	if (root[0] == '/') {
		rc = pathf(p, sizeof(p), "%s", root);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		rc = pathf(p, sizeof(p), "%s/%s", cwd, root);
	}
	if (rc < 0 || (rc = mkdir_p(p, 0700)) < 0)
		return rc;
	if (!realpath(p, root_dir))
		return -errno;
	if ((rc = pathf(p, sizeof(p), "%s/c", root_dir)) < 0 || (rc = mkdir_p(p, 0700)) < 0 ||
	    (rc = pathf(p, sizeof(p), "%s/u", root_dir)) < 0 || (rc = mkdir_p(p, 0700)) < 0)
		return rc;
	return 0;
}

const char *store_root(void)
{
	return root_dir;
}

int store_container_dir(const char *id, char *buf, size_t len)
{
	return pathf(buf, len, "%s/c/%s", root_dir, id);
}

/* FNV-1a: a short, stable name for a long UVM ID. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int store_uvm_dir(const char *uvm, char *buf, size_t len)
{
	if (strlen(uvm) <= UVM_NAME_MAX)
		return pathf(buf, len, "%s/u/%s", root_dir, uvm);
	return pathf(buf, len, "%s/u/%.15s-%08x", root_dir, uvm, fnv1a(uvm));
}

int store_uvm_file(const char *uvm, const char *name, char *buf, size_t len)
{
	char dir[PATH_MAX];
	int rc = store_uvm_dir(uvm, dir, sizeof(dir));

	return rc < 0 ? rc : pathf(buf, len, "%s/%s", dir, name);
}

int store_record_read(const char *id, json_t **ret)
{
	char p[PATH_MAX], errbuf[200];

	if (!id_valid(id) || pathf(p, sizeof(p), "%s/c/%s/state.json", root_dir, id) < 0)
		return -ENOENT;
	return json_read_file(p, ret, errbuf, sizeof(errbuf));
}

int store_record_write(const char *id, json_t *rec)
{
	char dir[PATH_MAX], p[PATH_MAX];
	int rc = store_container_dir(id, dir, sizeof(dir));

	if (rc < 0 || (rc = pathf(p, sizeof(p), "%s/state.json", dir)) < 0)
		return rc;
	return json_write_file(p, rec);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_list(char ***ret, size_t *ret_n)
{
	char p[PATH_MAX];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	if (pathf(p, sizeof(p), "%s/c", root_dir) < 0)
		return -ENAMETOOLONG;
	d = opendir(p);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char rec[PATH_MAX];
		char **nv;
		if (!id_valid(de->d_name) ||
		    pathf(rec, sizeof(rec), "%s/%s/state.json", p, de->d_name) < 0 ||
		    access(rec, F_OK) < 0)
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			store_list_free(nv ? nv : v, n);
			return -ENOMEM;
		}
		v = nv;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
	return 0;
}

void store_list_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int store_daemon_pid(const char *uvm, pid_t *ret)
{
	char p[PATH_MAX];
	pid_t pid;
	int rc = store_uvm_file(uvm, "daemon.pid", p, sizeof(p));

	if (rc < 0 || (rc = read_pid_file(p, &pid)) < 0)
		return rc == -ENOENT ? -ESRCH : rc;
	if (!pid_runs(pid, (const char *const[]){ "uvm-daemon", root_dir, uvm, NULL }))
		return -ESRCH;
	*ret = pid;
	return 0;
}
