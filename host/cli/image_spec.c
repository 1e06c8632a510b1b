/*
 * OCI runtime spec from an image config, following the image spec's conversion rules
 * (opencontainers/image-spec conversion.md): process.args = Entrypoint + Cmd, env = Env (PATH
 * added when missing, as docker does), cwd = WorkingDir or "/", user from User resolved against
 * the image's own /etc/passwd and /etc/group (as runc's libcontainer/user does for docker),
 * StopSignal as the org.opencontainers.image.stopSignal annotation. The rest is runc's
 * default spec (`runc spec`): mounts, masked and read-only paths, RLIMIT_NOFILE, a deny-all
 * device cgroup, plus docker's default capability set and pid/ipc/uts/mount/network
 * namespaces.
 */
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const caps[] = {
	"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",	   "CAP_FOWNER",
	"CAP_MKNOD",   "CAP_NET_RAW",	   "CAP_SETGID",	   "CAP_SETUID",
	"CAP_SETFCAP", "CAP_SETPCAP",	   "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
	"CAP_KILL",    "CAP_AUDIT_WRITE",
};

static const struct {
	const char *dest, *type, *source, *opts;
} mounts[] = {
	{ "/proc", "proc", "proc", "nosuid,noexec,nodev" },
	{ "/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k" },
	{ "/dev/pts", "devpts", "devpts",
	  "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5" },
	{ "/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k" },
	{ "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev" },
	{ "/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro" },
	{ "/sys/fs/cgroup", "cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro" },
};

static const char *const namespaces[] = { "pid", "ipc", "uts", "mount", "network" };

static const char *const masked[] = {
	"/proc/acpi",	       "/proc/asound",	   "/proc/kcore",	"/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/sys/firmware",       "/proc/scsi",
};

static const char *const readonly[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Appends the strings of src (a JSON array or null) to dst; false when src is malformed. */
static bool append_strings(json_t *dst, const json_t *src)
{
	size_t i;
	json_t *v;

	if (!src || json_is_null(src))
		return true;
	if (!json_is_array(src))
		return false;
	json_array_foreach(src, i, v) {
		if (!json_is_string(v))
			return false;
		json_array_append(dst, v);
	}
	return true;
}

static bool parse_id(const char *s, size_t n, uint32_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/*
 * Finds the line of a passwd/group file whose field key_field (0 = name, 2 = id) equals key;
 * fills fields[0..nf) with pointers into a copy (*ret_line, caller frees). 0 or -ENOENT.
 */
static int db_find(const char *db, size_t key_field, const char *key, size_t klen, char **fields,
		   size_t nf, char **ret_line)
{
	const char *p = db;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		_cleanup_free_ char *line = strndup(p, len);
		size_t i = 0;
		char *s;

		p = eol ? eol + 1 : NULL;
		if (!line)
			return -ENOMEM;
		if (line[0] == '#' || line[0] == '+' || line[0] == '-')
			continue;
		/* strsep keeps empty fields */
		for (s = line; i < nf; i++)
			fields[i] = s ? strsep(&s, ":") : NULL;
		if (!fields[key_field] || strlen(fields[key_field]) != klen ||
		    memcmp(fields[key_field], key, klen) != 0)
			continue;
		*ret_line = TAKE_PTR(line);
		return 0;
	}
	return -ENOENT;
}

/* "uid", "uid:gid", "name", "name:group", "" -> ids, as runc's user.GetExecUser does. */
static int resolve_user(const char *spec, const struct image_userdb *db, json_t *user,
			struct gcs_error *err)
{
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	const char *g = colon ? colon + 1 : NULL;
	const char *name = ulen ? spec : "0"; /* no user: root, with root's groups */
	_cleanup_free_ char *pwline = NULL, *grline = NULL;
	char *pw[4] = { NULL }, *gr[4];
	uint32_t uid = 0, gid = 0;
	size_t nlen = ulen ? ulen : 1;
	bool numeric;
	json_t *sgids;

	numeric = parse_id(name, nlen, &uid);
	if (db->passwd)
		db_find(db->passwd, numeric ? 2 : 0, name, nlen, pw, 4, &pwline);
	if (!pwline && !numeric)
		return gcs_error_set(err, -ENOENT, HR_INVALIDARG,
				     "image user \"%.*s\" is not in the image's /etc/passwd%s",
				     (int)nlen, name, db->passwd ? "" : " (it has none)");
	if (pwline && (!pw[2] || !pw[3] || !parse_id(pw[2], strlen(pw[2]), &uid) ||
		       !parse_id(pw[3], strlen(pw[3]), &gid)))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "image /etc/passwd: bad entry for \"%.*s\"", (int)nlen, name);
	if (g && *g) {
		if (!parse_id(g, strlen(g), &gid)) {
			if (!db->group || db_find(db->group, 0, g, strlen(g), gr, 4, &grline) < 0)
				return gcs_error_set(err, -ENOENT, HR_INVALIDARG,
						     "image group \"%s\" is not in the image's "
						     "/etc/group",
						     g);
			if (!gr[2] || !parse_id(gr[2], strlen(gr[2]), &gid))
				return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
						     "image /etc/group: bad entry for \"%s\"", g);
		}
	}
	json_object_set_new(user, "uid", json_integer(uid));
	json_object_set_new(user, "gid", json_integer(gid));

	/* supplementary groups: those listing the user, unless a group was named */
	if (g || !pwline || !db->group)
		return 0;
	sgids = json_array();
	for (const char *p = db->group; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		_cleanup_free_ char *line = strndup(p, len);
		char *f[4] = { NULL }, *s = line, *m;
		uint32_t id;

		p = eol ? eol + 1 : NULL;
		if (!line)
			break;
		for (size_t i = 0; i < 4; i++)
			f[i] = s ? strsep(&s, ":") : NULL;
		if (!f[2] || !f[3] || !parse_id(f[2], strlen(f[2]), &id) || id == gid)
			continue;
		while ((m = strsep(&f[3], ","))) {
			if (strcmp(m, pw[0]) == 0) {
				json_array_append_new(sgids, json_integer(id));
				break;
			}
		}
	}
	if (json_array_size(sgids))
		json_object_set_new(user, "additionalGids", sgids);
	else
		json_decref(sgids);
	return 0;
}

static void say(void (*note)(void *, const char *), void *user, const char *line)
{
	if (note)
		note(user, line);
}

int image_build_spec(const json_t *image_config, const struct image_userdb *db,
		     const char *const *folders, size_t n,
		     void (*note)(void *user, const char *line), void *user, json_t **ret_spec,
		     struct gcs_error *err)
{
	json_t *cfg = json_object_get(image_config, "config");
	const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
	const char *uspec = json_string_value(json_object_get(cfg, "User"));
	const char *host = json_string_value(json_object_get(cfg, "Hostname"));
	const char *stop = json_string_value(json_object_get(cfg, "StopSignal"));
	json_auto_t *spec = NULL;
	json_t *proc, *args, *env, *u, *mnts, *linux_, *ns, *v;
	bool has_path = false;
	size_t i;
	int rc;

	if (cfg && !json_is_object(cfg) && !json_is_null(cfg))
		return gcs_error_set(err, -EINVAL, HR_INVALID_JSON,
				     "image config: \"config\" is not an object");
	args = json_array();
	if (!append_strings(args, json_object_get(cfg, "Entrypoint")) ||
	    !append_strings(args, json_object_get(cfg, "Cmd"))) {
		json_decref(args);
		return gcs_error_set(err, -EINVAL, HR_INVALID_JSON,
				     "image config: Entrypoint or Cmd is not a list of strings");
	}
	if (json_array_size(args) == 0)
		say(note, user,
		    "image config has no Entrypoint or Cmd: set process.args in config.json");
	env = json_array();
	if (!append_strings(env, json_object_get(cfg, "Env"))) {
		json_decref(args);
		json_decref(env);
		return gcs_error_set(err, -EINVAL, HR_INVALID_JSON,
				     "image config: Env is not a list of strings");
	}
	json_array_foreach(env, i, v)
		if (strncmp(json_string_value(v), "PATH=", 5) == 0)
			has_path = true;
	if (!has_path)
		json_array_insert_new(env, 0, json_string(DEFAULT_PATH));

	u = json_object();
	rc = resolve_user(uspec ? uspec : "", db, u, err);
	if (rc < 0) {
		json_decref(args);
		json_decref(env);
		json_decref(u);
		return rc;
	}

	proc = json_pack("{s:b, s:o, s:o, s:o}", "terminal", 0, "user", u, "args", args, "env",
			 env);
	if (wd && wd[0] == '/') {
		json_object_set_new(proc, "cwd", json_string(wd));
	} else if (wd && wd[0]) {
		/* docker makes a relative WorkingDir absolute */
		_cleanup_free_ char *abs = NULL;

		if (asprintf(&abs, "/%s", wd) < 0)
			abs = NULL;
		json_object_set_new(proc, "cwd", json_string(abs ? abs : "/"));
	} else {
		json_object_set_new(proc, "cwd", json_string("/"));
	}
	json_object_set_new(proc, "capabilities",
			    json_pack("{s:o, s:o, s:o}", "bounding",
				      str_array(caps, ARRAY_SIZE(caps)), "effective",
				      str_array(caps, ARRAY_SIZE(caps)), "permitted",
				      str_array(caps, ARRAY_SIZE(caps))));
	json_object_set_new(proc, "rlimits",
			    json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_NOFILE", "hard", 1024,
				      "soft", 1024));

	mnts = json_array();
	for (i = 0; i < ARRAY_SIZE(mounts); i++) {
		json_t *o = json_array();
		_cleanup_free_ char *opts = strdup(mounts[i].opts);
		char *s = opts, *tok;

		while (s && (tok = strsep(&s, ",")))
			json_array_append_new(o, json_string(tok));
		json_array_append_new(mnts, json_pack("{s:s, s:s, s:s, s:o}", "destination",
						      mounts[i].dest, "type", mounts[i].type,
						      "source", mounts[i].source, "options", o));
	}

	ns = json_array();
	for (i = 0; i < ARRAY_SIZE(namespaces); i++)
		json_array_append_new(ns, json_pack("{s:s}", "type", namespaces[i]));
	linux_ = json_pack("{s:{s:[{s:b, s:s}]}, s:o, s:o, s:o}", "resources", "devices", "allow",
			   0, "access", "rwm", "namespaces", ns, "maskedPaths",
			   str_array(masked, ARRAY_SIZE(masked)), "readonlyPaths",
			   str_array(readonly, ARRAY_SIZE(readonly)));

	spec = json_pack("{s:s, s:o, s:s, s:o, s:o, s:{s:o}}", "ociVersion", "1.0.2", "process",
			 proc, "hostname", host && host[0] ? host : "lcow", "mounts", mnts, "linux",
			 linux_, "windows", "layerFolders", str_array(folders, n));
	if (!spec)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "building config.json failed");
	if (stop && stop[0])
		json_object_set_new(
			spec, "annotations",
			json_pack("{s:s}", "org.opencontainers.image.stopSignal", stop));
	*ret_spec = json_incref(spec);
	return 0;
}
