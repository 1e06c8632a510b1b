/*
 * The daemon's container requests, each turned into lcow_rt_* calls (lcow/runtime.h does the
 * container work) and its answer into the reply the CLI reads: runc's messages, and codes
 * ("not-found", "uvm-gone", "exiting") the client acts on.
 */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "log.h"
#include "util.h"

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

static unsigned dim(json_t *req, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(req, key));

	return v > 0 && v < 65536 ? (unsigned)v : 0;
}

/* After a create that failed or a delete: the last container of a UVM that is no pod went. */
static bool stop_if_last(struct daemon *d)
{
	bool last = lcow_rt_claim_last(d->rt);

	if (last)
		daemon_stop_uvm(d);
	return last;
}

static void op_create(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	json_t *layers = json_object_get(req, "layers"), *v;
	const char *paths[BUNDLE_MAX_LAYERS];
	struct lcow_rt_create_options o = {
		.id = id,
		.dir = json_string_value(json_object_get(req, "dir")),
		.spec = json_object_get(req, "spec"),
		.layers = paths,
		.scratch = json_string_value(json_object_get(req, "scratch")),
		.network = json_string_value(json_object_get(req, "network")),
		.publish = json_object_get(req, "publish"),
		.fds = fds,
		.n_fds = n_fds,
	};
	struct gcs_error err = { 0 };
	uint32_t pid = 0;
	size_t i;
	int rc;

	if (!id_valid(id) || !o.scratch || !o.dir || !json_is_object(o.spec) ||
	    !json_is_array(layers) || json_array_size(layers) > BUNDLE_MAX_LAYERS) {
		close_fds(fds, n_fds);
		reply_err(c, NULL, "create: malformed request");
		return;
	}
	json_array_foreach(layers, i, v)
		paths[o.n_layers++] = json_string_value(v);
	if (uvm_gone(d, c)) {
		close_fds(fds, n_fds);
		return;
	}
	rc = lcow_rt_create(d->rt, &o, &pid, &err);
	if (rc == -ESHUTDOWN || rc == -EEXIST) {
		reply_rt_err(c, rc, &err);
		return;
	}
	if (rc < 0) {
		bool last = stop_if_last(d);
		reply_err(c, NULL, "%s", err.message);
		if (last)
			daemon_exit(d);
		return;
	}
	reply_ok(c, json_pack("{s:i}", "pid", (int)pid));
}

/* With "wait": a second reply once the process ends, with its exit code. */
static void reply_exit(struct daemon *d, struct ctl_conn *c, struct lcow_rt_ctr *x, uint32_t pid)
{
	struct gcs_error err = { 0 };
	uint32_t code = 0;

	if (lcow_rt_wait(d->rt, x, pid, -1, &code, &err) < 0)
		reply_err(c, "uvm-gone", "%s", err.message);
	else
		reply_ok(c, json_pack("{s:i}", "exit", (int)code));
}

static void op_start(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	struct lcow_rt_ctr *x = ctr_find(d, c, req);
	struct gcs_error err = { 0 };
	uint32_t pid = 0;
	int rc;

	(void)fds;
	(void)n_fds;
	if (!x)
		return;
	if (uvm_gone(d, c)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	rc = lcow_rt_start_init(d->rt, x, dim(req, "rows"), dim(req, "cols"), &pid, &err);
	if (rc < 0) {
		reply_rt_err(c, rc, &err);
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	reply_ok(c, json_pack("{s:i}", "pid", (int)pid));
	if (json_is_true(json_object_get(req, "wait")))
		reply_exit(d, c, x, 0);
	lcow_rt_ctr_put(d->rt, x);
}

/* runc's exec process: the container's, with the request's arguments and settings on top. */
static json_t *exec_process(struct daemon *d, struct lcow_rt_ctr *x, json_t *req)
{
	json_t *given = json_object_get(req, "process"), *p, *v, *env;
	size_t i;

	if (json_is_object(given))
		return json_deep_copy(given);
	p = lcow_rt_ctr_process(d->rt, x);
	if (!p)
		return NULL;
	json_object_set(p, "args", json_object_get(req, "args"));
	json_object_set_new(p, "terminal",
			    json_boolean(json_is_true(json_object_get(req, "terminal"))));
	json_object_del(p, "consoleSize");
	env = json_object_get(p, "env");
	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(p, "env", env);
	}
	json_array_foreach(json_object_get(req, "env"), i, v)
		json_array_append(env, v);
	if (json_is_string(json_object_get(req, "cwd")))
		json_object_set(p, "cwd", json_object_get(req, "cwd"));
	if (json_is_object(json_object_get(req, "user")))
		json_object_set(p, "user", json_object_get(req, "user"));
	return p;
}

static void op_exec(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	bool wait = json_is_true(json_object_get(req, "wait"));
	struct lcow_rt_ctr *x = ctr_find(d, c, req);
	struct gcs_error err = { 0 };
	json_t *proc;
	uint32_t pid = 0;
	int rc;

	if (!x || uvm_gone(d, c)) {
		close_fds(fds, n_fds);
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	proc = exec_process(d, x, req);
	if (!proc) {
		close_fds(fds, n_fds);
		reply_err(c, NULL, "exec: out of memory");
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	rc = lcow_rt_exec(d->rt, x, proc, fds, n_fds, dim(req, "rows"), dim(req, "cols"), wait,
			  &pid, &err);
	json_decref(proc);
	if (rc < 0) {
		reply_err(c, NULL, "%s", err.message);
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	reply_ok(c, json_pack("{s:i}", "pid", (int)pid));
	if (wait) {
		reply_exit(d, c, x, pid);
		lcow_rt_release(d->rt, x, pid);
	}
	lcow_rt_ctr_put(d->rt, x);
}

static void op_kill(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	json_int_t sig = json_integer_value(json_object_get(req, "signal"));
	json_int_t pid = json_integer_value(json_object_get(req, "pid"));
	struct lcow_rt_ctr *x = ctr_find(d, c, req);
	struct gcs_error err = { 0 };
	int rc;

	(void)fds;
	(void)n_fds;
	if (!x || uvm_gone(d, c)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	if (sig <= 0 || sig >= 65) {
		reply_err(c, NULL, "invalid signal %lld", (long long)sig);
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	rc = lcow_rt_kill(d->rt, x, pid > 0 ? (uint32_t)pid : 0, (int)sig,
			  json_is_true(json_object_get(req, "all")), &err);
	if (rc == -ENOENT)
		reply_rt_err(c, rc, &err);
	else if (rc < 0)
		reply_err(c, NULL, "%s", err.message);
	else
		reply_ok(c, NULL);
	lcow_rt_ctr_put(d->rt, x);
}

static void op_resize(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	json_int_t pid = json_integer_value(json_object_get(req, "pid"));
	struct lcow_rt_ctr *x = ctr_find(d, c, req);
	struct gcs_error err = { 0 };
	int rc;

	(void)fds;
	(void)n_fds;
	if (!x || uvm_gone(d, c)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	rc = lcow_rt_resize(d->rt, x, pid > 0 ? (uint32_t)pid : 0, dim(req, "rows"),
			    dim(req, "cols"), &err);
	if (rc < 0)
		reply_rt_err(c, rc, &err);
	else
		reply_ok(c, NULL);
	lcow_rt_ctr_put(d->rt, x);
}

static void pause_or_resume(struct daemon *d, struct ctl_conn *c, json_t *req, bool pause)
{
	struct lcow_rt_ctr *x = ctr_find(d, c, req);
	struct gcs_error err = { 0 };
	int rc;

	if (!x || uvm_gone(d, c)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	rc = lcow_rt_pause(d->rt, x, pause, &err);
	if (rc == -ENOENT)
		reply_rt_err(c, rc, &err);
	else if (rc < 0)
		reply_err(c, NULL, "%s", err.message);
	else
		reply_ok(c, NULL);
	lcow_rt_ctr_put(d->rt, x);
}

static void op_pause(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	(void)fds;
	(void)n_fds;
	pause_or_resume(d, c, req, true);
}

static void op_resume(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	(void)fds;
	(void)n_fds;
	pause_or_resume(d, c, req, false);
}

static void op_state(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	struct lcow_rt_ctr *x = ctr_find(d, c, req);

	(void)fds;
	(void)n_fds;
	if (!x || uvm_gone(d, c)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	reply_ok(c, lcow_rt_ctr_describe(d->rt, x));
	lcow_rt_ctr_put(d->rt, x);
}

static void op_list(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	bool gone = lcow_rt_broken(d->rt);
	json_t *list = lcow_rt_list(d->rt), *j;
	size_t i;

	(void)req;
	(void)fds;
	(void)n_fds;
	json_array_foreach(list, i, j)
		if (gone)
			json_object_set_new(j, "status", json_string("stopped"));
	reply_ok(c, json_pack("{s:o, s:b}", "containers", list, "uvm_gone", gone));
}

static void op_delete(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	bool force = json_is_true(json_object_get(req, "force")), last;
	struct lcow_rt_ctr *x = ctr_find(d, c, req);
	struct gcs_error err = { 0 };

	(void)fds;
	(void)n_fds;
	if (!x)
		return;
	if (lcow_rt_delete(d->rt, x, force, &err) < 0) {
		reply_err(c, NULL, "%s", err.message);
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	last = stop_if_last(d);
	reply_ok(c, json_pack("{s:b}", "uvm_stopped", last));
	lcow_rt_ctr_put(d->rt, x);
	if (last)
		daemon_exit(d);
}

static void op_shutdown(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	bool force = json_is_true(json_object_get(req, "force"));
	json_t *list, *j;
	char names[1024] = "";
	size_t n = 0, i;

	(void)fds;
	(void)n_fds;
	/* delete of a container the daemon never got: its own UVM goes too, never a pod. */
	if (json_is_true(json_object_get(req, "unless_pod")) && d->pod) {
		reply_ok(c, json_pack("{s:b}", "uvm_stopped", 0));
		return;
	}
	list = lcow_rt_list(d->rt);
	json_array_foreach(list, i, j)
		n += (size_t)snprintf(names + n, n < sizeof(names) ? sizeof(names) - n : 0, "%s%s",
				      n ? ", " : "",
				      json_string_value(json_object_get(j, "id")) ?: "");
	json_decref(list);
	if (names[0] && !force) {
		reply_err(c, NULL, "UVM %s still has containers: %s", d->uvm_id, names);
		return;
	}
	lcow_rt_delete_all(d->rt);
	daemon_stop_uvm(d);
	reply_ok(c, json_pack("{s:b}", "uvm_stopped", 1));
	daemon_exit(d);
}

const struct daemon_op daemon_ctr_ops[] = {
	{ "create", op_create, true },	    { "start", op_start, false },
	{ "exec", op_exec, true },	    { "kill", op_kill, false },
	{ "resize", op_resize, false },	    { "pause", op_pause, false },
	{ "resume", op_resume, false },	    { "state", op_state, false },
	{ "list", op_list, false },	    { "delete", op_delete, false },
	{ "shutdown", op_shutdown, false },
};
const size_t daemon_n_ctr_ops = ARRAY_SIZE(daemon_ctr_ops);
