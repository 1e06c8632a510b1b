/*
 * Containers through the runtime interface (spec sections 7.1-7.14, 8). Create writes the bundle
 * and has the runtime create the container with the init's stdio on pipes of ours (or a pty);
 * the first ExecuteProcess without OciProcess connects the host's streams to them and starts
 * the init; one with OciProcess is an exec. Every runtime call is asynchronous, with a deadline.
 * Exactly one notification per container, after the init's exit was answered to a waiter.
 * GetProperties is in container_props.c, deletion, shutdown and recovery in container_teardown.c.
 */
#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "container_internal.h"
#include "hostpath.h"
#include "rootpath.h"
#include "log.h"
#include "net.h"
#include "path.h"
#include "runtime.h"

static const char *const state_names[] = { "creating", "created", "running", "stopped" };

struct container *container_find(struct agent *a, const char *id)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->containers)
	{
		struct container *c = list_entry(it, struct container, node);
		if (strcmp(c->id, id) == 0)
			return c;
	}
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* ---- what process.c tells of container processes ---- */

static void container_process_done(struct container *c, pid_t pid, int exit_code);
static void container_process_reported(struct container *c, pid_t pid);
static void container_note_signal(struct container *c, pid_t pid, int sig);

static void on_process_done(void *owner, struct process *p, int exit_code)
{
	container_process_done(owner, process_pid(p), exit_code);
}

static void on_process_reported(void *owner, struct process *p)
{
	container_process_reported(owner, process_pid(p));
}

static void on_process_signaled(void *owner, struct process *p, int sig)
{
	container_note_signal(owner, process_pid(p), sig);
}

static const struct process_owner_ops container_process_ops = {
	.done = on_process_done,
	.reported = on_process_reported,
	.signaled = on_process_signaled,
};

/* ---- runtime calls ---- */

struct call *call_new(struct container *c, void (*fn)(struct call *, struct runtime_result *),
		      struct request *req, struct exec_op *op)
{
	struct call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->c = c;
	call->fn = fn;
	call->op = op;
	call->req = req ? req : op ? op->req : NULL;
	list_add_tail(&c->calls, &call->node);
	return call;
}

void call_done(void *data, struct runtime_result *r)
{
	struct call *call = data;

	call->rt = NULL;
	call->fn(call, r);
}

void call_free(struct call *call)
{
	if (call->rt)
		container_rt(call->c)->cancel(call->c->a, call->rt);
	list_del(&call->node);
	runtime_strv_free(call->cgroups);
	free(call);
}

void container_free(struct container *c, bool answer)
{
	struct agent *a = c->a;
	struct list *it, *tmp;

	struct gcs_error err = { 0 };

	gcs_error_set(&err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s was deleted", c->id);
	/* The requests still waiting for a call of it. */
	list_for_each_safe(it, tmp, &c->calls)
	{
		struct call *call = list_entry(it, struct call, node);
		struct exec_op *op = TAKE_PTR(call->op);
		struct request *req = TAKE_PTR(call->req);

		call_free(call);
		if (op)
			exec_finish(op, -ENOENT, &err, 0);
		else if (req && answer)
			request_finish(req, -ENOENT, &err);
		else if (req)
			request_drop(req);
	}
	if (c->pending && answer)
		request_finish(TAKE_PTR(c->pending), -ENOENT, &err);
	else if (c->pending)
		request_drop(TAKE_PTR(c->pending));
	(void)a;
	net_container_gone(a, c->id);
	for (int i = 0; i < 3; i++)
		close_fd(&c->io[i]);
	close_fd(&c->console);
	list_del(&c->node);
	json_decref(c->spec);
	runtime_strv_free(c->cgroups);
	free(c->id);
	free(c->bundle);
	free(c->scratch_dir);
	free(c->rootfs);
	free(c);
}

static void notify(struct container *c)
{
	struct gcs_proto_notification n = {
		.base = { .container_id = c->id, .activity_id = c->activity_id },
		.type = c->exit_type,
		.operation = "None",
	};

	if (c->notified || c->shutting_down)
		return;
	c->notified = true;
	log_info("container exited", LOG_STR("id", c->id), LOG_STR("type", c->exit_type));
	outbox_notify(&c->a->out, &n);
}

/* ---- Create ---- */

static bool has_own_pid_ns(json_t *spec)
{
	json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces"), *v;
	size_t i;

	json_array_foreach(ns, i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		if (t && !strcmp(t, "pid") && !json_object_get(v, "path"))
			return true;
	}
	return false;
}

/*
 * CRI pods: a workload container joins its sandbox's network, ipc and uts namespaces (and pid
 * when the sandbox has its own). Sets the namespace paths in spec.
 */
static int join_sandbox(struct agent *a, json_t *spec, struct gcs_error *err)
{
	json_t *ann = json_object_get(spec, "annotations");
	const char *type =
		json_string_value(json_object_get(ann, "io.kubernetes.cri.container-type"));
	const char *sid = json_string_value(json_object_get(ann, "io.kubernetes.cri.sandbox-id"));
	static const char *const shared[] = { "network", "ipc", "uts" };
	json_t *linux_obj, *ns;
	struct container *sb;

	if (!type || strcmp(type, "container") != 0 || !sid)
		return 0;
	sb = container_find(a, sid);
	if (!sb || sb->init_pid <= 0 || sb->init_done)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND,
				     "sandbox %s of this container is not running", sid);
	linux_obj = json_object_get(spec, "linux");
	if (!linux_obj) {
		linux_obj = json_object();
		json_object_set_new(spec, "linux", linux_obj);
	}
	ns = json_object_get(linux_obj, "namespaces");
	if (!ns) {
		ns = json_array();
		json_object_set_new(linux_obj, "namespaces", ns);
	}
	for (size_t k = 0; k < ARRAY_SIZE(shared); k++) {
		char path[64];
		json_t *v, *found = NULL;
		size_t i;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", sb->init_pid,
			 !strcmp(shared[k], "network") ? "net" : shared[k]);
		json_array_foreach(ns, i, v) {
			const char *t = json_string_value(json_object_get(v, "type"));
			if (t && !strcmp(t, shared[k]))
				found = v;
		}
		if (!found) {
			found = json_object();
			json_object_set_new(found, "type", json_string(shared[k]));
			json_array_append_new(ns, found);
		}
		json_object_set_new(found, "path", json_string(path));
	}
	return 0;
}

/* What a failed Create wrote goes: config.json, and the bundle directory if Create made it. */
static void remove_create_files(struct container *c)
{
	_cleanup_close_ int fd = -1;

	if (c->bundle_created) {
		container_remove_path(c->a, c->bundle);
		return;
	}
	if (hostpath_open_dir(c->a, "OciBundlePath", c->bundle, &fd, NULL) == 0)
		unlinkat(fd, "config.json", 0);
}

/* The runtime has removed whatever it had of the failed container: answer, forget it. */
static void on_create_cleaned(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;

	if (r && r->error < 0)
		log_warning("cannot delete a container whose create failed", LOG_STR("id", c->id),
			    LOG_STR("error", r->message));
	call_free(call);
	remove_create_files(c);
	request_finish(TAKE_PTR(c->pending), -EIO, &c->create_error);
	container_free(c, true);
}

/*
 * A failed Create (the runtime's create failed, timed out, or handed over nothing usable): the
 * runtime deletes what it may have made (a timed-out runc create leaves its state), then the
 * answer goes out and nothing of the container is left.
 */
static void create_failed(struct container *c)
{
	struct call *call = call_new(c, on_create_cleaned, NULL, NULL);
	int rc = call ? container_rt(c)->remove(c->a, c->id, true, call_done, call, &call->rt) :
			-ENOMEM;

	log_info("container create failed", LOG_STR("id", c->id),
		 LOG_STR("error", c->create_error.message));
	if (rc < 0 && call)
		on_create_cleaned(call, NULL);
	else if (rc < 0) {
		remove_create_files(c);
		request_finish(TAKE_PTR(c->pending), -EIO, &c->create_error);
		container_free(c, true);
	}
}

static void on_created(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;
	struct gcs_proto_create_resp resp = { 0 };

	call_free(call);
	if (r->error < 0) {
		gcs_error_set(&c->create_error, r->error, runtime_hresult(r), "create %s: %s",
			      c->id, r->message);
		create_failed(c);
		return;
	}
	c->init_pid = r->pid;
	if (c->terminal)
		c->console = TAKE_FD(r->pty_master);
	c->init = process_attach(c->a, c->id, c->init_pid,
				 c->console >= 0 ? fcntl(c->console, F_DUPFD_CLOEXEC, 3) : -1,
				 "init", &container_process_ops, c, true);
	if (!c->init) {
		gcs_error_set(&c->create_error, -ENOMEM, HR_FAIL, "create %s: out of memory",
			      c->id);
		c->init_pid = -1;
		create_failed(c);
		return;
	}
	c->state = C_CREATED;
	log_info("container created", LOG_STR("id", c->id), LOG_INT("init", c->init_pid));
	request_reply(TAKE_PTR(c->pending), &resp);
}

/* The container record of a Create, registered (C_CREATING). */
static int container_new(struct agent *a, struct request *req,
			 const struct gcs_proto_container_config *cfg, const char *id,
			 const char *root, struct container **ret, struct gcs_error *err)
{
	struct container *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	c->a = a;
	c->io[0] = c->io[1] = c->io[2] = c->console = -1;
	c->init_pid = -1;
	c->exit_type = "UnexpectedExit";
	list_init(&c->calls);
	snprintf(c->activity_id, sizeof(c->activity_id), "%s", req->activity_id);
	c->id = strdup(id);
	c->bundle = strdup(cfg->oci_bundle_path);
	c->scratch_dir = strdup(cfg->scratch_dir_path);
	c->rootfs = strdup(root);
	c->spec = json_deep_copy(cfg->oci_specification);
	list_add_tail(&a->containers, &c->node);
	if (!c->id || !c->bundle || !c->scratch_dir || !c->rootfs || !c->spec) {
		container_free(c, false);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}
	c->pending = req;
	c->terminal =
		json_is_true(json_object_get(json_object_get(c->spec, "process"), "terminal"));
	rc = join_sandbox(a, c->spec, err);
	if (rc < 0) {
		c->pending = NULL; /* the handler answers */
		container_free(c, false);
		return rc;
	}
	c->own_pid_ns = has_own_pid_ns(c->spec);
	*ret = c;
	return 0;
}

/* Writes config.json into the bundle (made if missing) and starts the runtime's create. */
static int create_start(struct container *c, struct gcs_error *err)
{
	struct runtime_stdio io = { .terminal = c->terminal,
				    .fds = { -1, -1, -1 },
				    .stderr_peek = -1 };
	int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	_cleanup_close_ int bundle_fd = -1;
	_cleanup_free_ char *text = NULL;
	const char *created = NULL;
	struct call *call;
	int rc;

	/* The bundle is resolved once beneath the run root; config.json is written through it. */
	rc = hostpath_mkdir(c->a, "OciBundlePath", c->bundle, 0700, &bundle_fd, &created, err);
	if (rc < 0)
		return rc;
	c->bundle_created = created != NULL;
	rc = net_container_create(c->a, c->id, c->spec, c->bundle, bundle_fd, err);
	if (rc < 0)
		return rc;
	text = json_dumps(c->spec, JSON_COMPACT);
	rc = text ? rp_write_file(bundle_fd, "config.json", text, strlen(text), 0600) : -ENOMEM;
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "write %s/config.json: %s", c->bundle,
				     strerror(-rc));
	if (!c->terminal) {
		for (int i = 0; i < 3; i++) {
			if (pipe2(pipes[i], O_CLOEXEC) < 0) {
				rc = -errno;
				for (int k = 0; k < i; k++)
					close(io.fds[k]);
				return gcs_error_set(err, rc, HR_FAIL, "pipe: %s", strerror(-rc));
			}
			/* stdin: the init reads [0]; stdout/stderr: it writes [1]. */
			io.fds[i] = i == 0 ? pipes[i][0] : pipes[i][1];
			c->io[i] = i == 0 ? pipes[i][1] : pipes[i][0];
		}
		io.stderr_peek = c->io[2];
	}
	call = call_new(c, on_created, NULL, NULL);
	rc = call ? container_rt(c)->create(c->a, c->id, c->bundle, &io, call_done, call,
					    &call->rt) :
		    -ENOMEM;
	/* The runtime holds its own copies of the init's ends; ours go. */
	for (int i = 0; i < 3; i++)
		if (io.fds[i] >= 0)
			close(io.fds[i]);
	if (rc < 0) {
		if (call)
			call_free(call);
		return gcs_error_set(err, rc, HR_FAIL, "create %s: cannot run %s: %s", c->id,
				     container_rt(c)->name, strerror(-rc));
	}
	return 0;
}

int container_handle_create(struct request *rq, struct gcs_error *err)
{
	struct agent *a = rq->a;
	struct gcs_proto_create_req *req = &rq->m.create_req;
	const struct gcs_proto_container_config *cfg = &req->config;
	const char *id = req->base.container_id, *root;
	struct container *c = NULL;
	int rc;

	if (is_uvm_id(id))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "Create of the utility VM itself is not supported");
	if (!id || !id[0] || strchr(id, '/') || strlen(id) > 1024)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid container ID \"%s\"",
				     id ? id : "");
	if (cfg->schema_version.major < 2 ||
	    (cfg->schema_version.major == 2 && cfg->schema_version.minor < 1))
		return gcs_error_set(err, -EINVAL, HR_INVALID_JSON,
				     "schema version %u.%u is not supported: 2.1 or later is",
				     cfg->schema_version.major, cfg->schema_version.minor);
	if (container_find(a, id))
		return gcs_error_set(err, -EEXIST, HR_SYSTEM_ALREADY_EXISTS,
				     "container %s already exists", id);
	if (!cfg->oci_specification)
		return gcs_error_set(err, -EINVAL, HR_INVALID_JSON,
				     "ContainerConfig has no OciSpecification");
	if ((rc = hostpath_check(a, "OciBundlePath", cfg->oci_bundle_path, err)) < 0)
		return rc;
	if (cfg->scratch_dir_path[0] &&
	    (rc = hostpath_check(a, "ScratchDirPath", cfg->scratch_dir_path, err)) < 0)
		return rc;
	root = json_string_value(
		json_object_get(json_object_get(cfg->oci_specification, "root"), "path"));
	if (!root || !root[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "the OCI spec has no root.path");

	rc = container_new(a, rq, cfg, id, root, &c, err);
	if (rc < 0)
		return rc;
	rc = create_start(c, err);
	if (rc < 0) {
		remove_create_files(c);
		c->pending = NULL; /* the bridge answers with err */
		container_free(c, false);
		return rc;
	}
	return REQUEST_KEPT;
}

/* ---- ExecuteProcess ---- */

int container_prepare_exec(struct agent *a, const struct gcs_proto_execute_process_req *req,
			   struct container **ret, struct gcs_error *err)
{
	struct container *c = container_find(a, req->base.container_id);

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     req->base.container_id);
	if (c->init_done || c->state == C_STOPPED)
		return gcs_error_set(err, -ESRCH, HR_SYSTEM_ALREADY_STOPPED,
				     "container %s is not running", c->id);
	if (!req->params.oci_process && c->state != C_CREATED)
		return gcs_error_set(err, -EBUSY, HR_INVALID_STATE,
				     "the init of container %s was already started", c->id);
	if (req->params.oci_process && c->state != C_RUNNING)
		return gcs_error_set(err, -EBUSY, HR_INVALID_STATE,
				     "container %s is %s, not running", c->id,
				     state_names[c->state]);
	*ret = c;
	return 0;
}

static void on_started(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;
	struct exec_op *op = call->op;
	struct gcs_error err = { 0 };

	call_free(call);
	c->starting = false;
	if (r->error < 0) {
		gcs_error_set(&err, r->error, runtime_hresult(r), "start %s: %s", c->id,
			      r->message);
		exec_finish(op, -EIO, &err, 0);
		/* no answer carried its pid: nobody will wait for an init that is gone already */
		if (c->init_done)
			notify(c);
		return;
	}
	struct gcs_proto_execute_process_resp resp = { .process_id = (uint32_t)c->init_pid };
	if (!c->init_done)
		c->state = C_RUNNING;
	log_info("container started", LOG_STR("id", c->id), LOG_INT("init", c->init_pid));
	exec_finish(op, 0, NULL, resp.process_id);
}

/* Connects the dialed streams to the init's pipes or console, then starts the init. */
static void start_init(struct exec_op *op)
{
	struct container *c = op->container;
	struct gcs_error err = { 0 };
	struct call *call = call_new(c, on_started, NULL, op);
	int rc;

	if (!call) {
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		exec_finish(op, -EIO, &err, 0);
		return;
	}
	c->starting = true;
	if (c->terminal) {
		if (op->fds[0] >= 0)
			process_relay(c->init, RELAY_TO_PROCESS, TAKE_FD(op->fds[0]),
				      fcntl(c->console, F_DUPFD_CLOEXEC, 3));
		process_relay(c->init, RELAY_FROM_PROCESS, fcntl(c->console, F_DUPFD_CLOEXEC, 3),
			      op->fds[1] >= 0 ? TAKE_FD(op->fds[1]) :
						open("/dev/null", O_WRONLY | O_CLOEXEC));
	} else {
		if (op->fds[0] >= 0)
			process_relay(c->init, RELAY_TO_PROCESS, TAKE_FD(op->fds[0]),
				      TAKE_FD(c->io[0]));
		else
			close_fd(&c->io[0]); /* no stdin: EOF */
		for (int i = 1; i < 3; i++)
			process_relay(c->init, RELAY_FROM_PROCESS, TAKE_FD(c->io[i]),
				      op->fds[i] >= 0 ? TAKE_FD(op->fds[i]) :
							open("/dev/null", O_WRONLY | O_CLOEXEC));
	}
	rc = container_rt(c)->start(c->a, c->id, call_done, call, &call->rt);
	if (rc < 0) {
		call_free(call);
		c->starting = false;
		gcs_error_set(&err, rc, HR_FAIL, "start %s: cannot run %s: %s", c->id,
			      container_rt(c)->name, strerror(-rc));
		exec_finish(op, -EIO, &err, 0);
	}
}

static void on_exec_started(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;
	struct exec_op *op = call->op;
	struct gcs_error err = { 0 };
	_cleanup_close_ int master = -1;
	char name[sizeof(call->name)];
	bool terminal = call->terminal;
	struct process *p;

	snprintf(name, sizeof(name), "%s", call->name);
	call_free(call);
	if (r->error < 0) {
		gcs_error_set(&err, r->error, runtime_hresult(r), "exec in %s: %s", c->id,
			      r->message);
		exec_finish(op, -EIO, &err, 0);
		return;
	}
	if (terminal)
		master = TAKE_FD(r->pty_master);
	p = process_attach(c->a, c->id, r->pid,
			   master >= 0 ? fcntl(master, F_DUPFD_CLOEXEC, 3) : -1, name,
			   &container_process_ops, c, true);
	if (!p) {
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		exec_finish(op, -EIO, &err, 0);
		return;
	}
	if (master >= 0) {
		if (op->fds[0] >= 0)
			process_relay(p, RELAY_TO_PROCESS, TAKE_FD(op->fds[0]),
				      fcntl(master, F_DUPFD_CLOEXEC, 3));
		process_relay(p, RELAY_FROM_PROCESS, TAKE_FD(master),
			      op->fds[1] >= 0 ? TAKE_FD(op->fds[1]) :
						open("/dev/null", O_WRONLY | O_CLOEXEC));
	}
	log_debug("container exec started", LOG_STR("id", c->id), LOG_INT("pid", r->pid));
	exec_finish(op, 0, NULL, (uint32_t)r->pid);
}

/*
 * The one place the OCI process of an exec is completed, from the container's spec as the Go GCS
 * does: the container's user when none is given, its rlimits, its cwd and env when missing
 * (cwd "/" when the spec has none either).
 */
static json_t *exec_process(struct container *c, json_t *given)
{
	json_t *proc = json_deep_copy(given);
	json_t *base = json_object_get(c->spec, "process");
	static const char *const inherit[] = { "user", "rlimits", "cwd", "env" };

	if (!proc)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(inherit); i++)
		if (!json_object_get(proc, inherit[i]) && json_object_get(base, inherit[i]))
			json_object_set(proc, inherit[i], json_object_get(base, inherit[i]));
	if (!json_object_get(proc, "cwd"))
		json_object_set_new(proc, "cwd", json_string("/"));
	return proc;
}

static void run_exec(struct exec_op *op)
{
	struct container *c = op->container;
	struct runtime_stdio io = { .fds = { -1, -1, -1 }, .stderr_peek = -1 };
	struct gcs_error err = { 0 };
	struct call *call = call_new(c, on_exec_started, NULL, op);
	json_auto_t *proc = NULL;
	const char *argv0;
	int rc;

	if (!call) {
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		exec_finish(op, -EIO, &err, 0);
		return;
	}
	proc = exec_process(c, op->req->m.execute_process_req.params.oci_process);
	if (!proc) {
		call_free(call);
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		exec_finish(op, -EIO, &err, 0);
		return;
	}
	call->terminal = json_is_true(json_object_get(proc, "terminal"));
	argv0 = json_string_value(json_array_get(json_object_get(proc, "args"), 0));
	snprintf(call->name, sizeof(call->name), "%s", argv0 ? argv0 : "?");
	io.terminal = call->terminal;
	if (!call->terminal) {
		/* Without a terminal the streams become the process's own fds (blocking ones). */
		for (int i = 0; i < 3; i++) {
			io.fds[i] = op->fds[i];
			if (op->fds[i] >= 0)
				fcntl(op->fds[i], F_SETFL,
				      fcntl(op->fds[i], F_GETFL) & ~O_NONBLOCK);
		}
	}
	rc = container_rt(c)->exec(c->a, c->id, proc, &io, call_done, call, &call->rt);
	if (rc < 0) {
		call_free(call);
		gcs_error_set(&err, rc, HR_FAIL, "exec in %s: cannot run %s: %s", c->id,
			      container_rt(c)->name, strerror(-rc));
		exec_finish(op, -EIO, &err, 0);
		return;
	}
	/* Without a terminal the process holds the streams now. */
	if (!call->terminal)
		for (int i = 0; i < 3; i++)
			close_fd(&op->fds[i]);
}

void container_exec(struct exec_op *op)
{
	if (op->req->m.execute_process_req.params.oci_process)
		run_exec(op);
	else
		start_init(op);
}

/* ---- exits and signals ---- */

static void on_killed_all(struct call *call, struct runtime_result *r)
{
	if (r->error < 0)
		log_debug("killing the rest of a container failed", LOG_STR("id", call->c->id),
			  LOG_STR("error", r->message));
	call_free(call);
}

static void container_process_done(struct container *c, pid_t pid, int exit_code)
{
	if (pid != c->init_pid)
		return;
	c->init_done = true;
	log_debug("container init exited", LOG_STR("id", c->id), LOG_INT("exit_code", exit_code));
	if (c->shutting_down) {
		c->state = C_STOPPED;
		return;
	}
	/* Without a pid namespace of its own the other processes outlive init: kill them. */
	if (!c->own_pid_ns) {
		struct call *call = call_new(c, on_killed_all, NULL, NULL);
		if (call && container_rt(c)->kill(c->a, c->id, SIGKILL, true, call_done, call,
						  &call->rt) < 0)
			call_free(call);
	}
	/*
	 * Never started: nobody will wait for it, so tell the host now. (An init that exits while
	 * its start is still in flight is waited for: the host gets its pid from the answer.)
	 */
	if ((c->state == C_CREATED || c->state == C_CREATING) && !c->starting)
		notify(c);
	c->state = C_STOPPED;
}

static void container_process_reported(struct container *c, pid_t pid)
{
	if (pid == c->init_pid) {
		c->init = NULL;
		notify(c);
	}
}

static void container_note_signal(struct container *c, pid_t pid, int sig)
{
	if (pid != c->init_pid)
		return;
	if (sig == SIGTERM)
		c->exit_type = "GracefulExit";
	else if (sig == SIGKILL)
		c->exit_type = "ForcedExit";
}

/*
 * As the Go GCS (spec 7.3): a container whose init has exited answers success, whether it ran
 * or was created and never started; the host then goes straight on to delete it.
 */
int container_handle_shutdown(struct request *rq, struct gcs_error *err)
{
	struct agent *a = rq->a;
	union gcs_proto_msg *m = &rq->m;
	struct container *c = container_find(a, m->req.container_id);
	int sig = rq->type == GCS_MSG_SHUTDOWN_FORCED_REQ ? SIGKILL : SIGTERM;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     m->req.container_id);
	if (c->init_done || c->state == C_STOPPED)
		return 0;
	if (c->init_pid <= 0)
		return gcs_error_set(err, -EBUSY, HR_INVALID_STATE,
				     "container %s is still being created", c->id);
	/* Exited but not yet flushed and reaped by process.c: nothing to signal any more. */
	if (kill(c->init_pid, sig) < 0)
		return 0;
	container_note_signal(c, c->init_pid, sig);
	return 0;
}

/* ---- ModifySettings: ContainerConstraints and LcowContainerOperation ---- */

static void on_updated(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;
	struct request *req = TAKE_PTR(call->req);
	struct gcs_error err = { 0 };

	call_free(call);
	if (r->error < 0) {
		gcs_error_set(&err, r->error, runtime_hresult(r), "update %s: %s", c->id,
			      r->message);
		request_finish(req, r->error, &err);
		return;
	}
	request_reply(req, NULL);
}

enum operation { OP_PAUSE, OP_RESUME, OP_KILL_ALL };

static const char *const op_names[] = { "Pause", "Resume", "KillAll" };

static void on_operation_done(struct call *call, struct runtime_result *r)
{
	struct container *c = call->c;
	struct request *req = TAKE_PTR(call->req);
	enum operation op = (enum operation)call->operation;
	int sig = call->sig;
	struct gcs_error err = { 0 };

	call_free(call);
	if (r->error < 0) {
		gcs_error_set(&err, r->error, runtime_hresult(r), "%s %s: %s", op_names[op], c->id,
			      r->message);
		request_finish(req, r->error, &err);
		return;
	}
	if (op == OP_PAUSE || op == OP_RESUME)
		c->paused = op == OP_PAUSE;
	else
		container_note_signal(c, c->init_pid, sig);
	log_info("container operation done", LOG_STR("id", c->id),
		 LOG_STR("operation", op_names[op]));
	request_reply(req, NULL);
}

int container_handle_operation(struct request *rq, struct gcs_error *err)
{
	struct agent *a = rq->a;
	struct gcs_proto_modify_req *req = &rq->m.modify_req;
	const struct gcs_proto_container_operation *o = &req->settings.container_operation;
	struct container *c = container_find(a, req->base.container_id);
	const struct runtime *rt = runtime_get(a);
	enum operation op;
	struct call *call;
	int sig = 0, rc;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     req->base.container_id);
	if (req->request_type != GCS_REQUEST_TYPE_UPDATE)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "LcowContainerOperation takes RequestType Update, not \"%s\"",
				     req->request_type_name);
	if (!o->operation || !o->operation[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "LcowContainerOperation on %s has no Operation", c->id);
	for (op = OP_PAUSE; op <= OP_KILL_ALL; op++)
		if (!strcmp(o->operation, op_names[op]))
			break;
	if (op > OP_KILL_ALL)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "unknown Operation \"%s\": Pause, Resume or KillAll",
				     o->operation);
	if (op == OP_KILL_ALL) {
		sig = o->signal ? o->signal : SIGKILL;
		if (sig < 1 || sig >= NSIG)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid Signal %d",
					     o->signal);
	} else if (o->signal) {
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "Signal is for KillAll, not %s",
				     op_names[op]);
	}
	if (c->init_done || c->init_pid <= 0 || c->state == C_STOPPED)
		return gcs_error_set(err, -ESRCH, HR_SYSTEM_ALREADY_STOPPED,
				     "container %s is not running", c->id);
	call = call_new(c, on_operation_done, rq, NULL);
	if (!call)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	call->operation = (int)op;
	call->sig = sig;
	rc = op == OP_PAUSE  ? rt->pause(a, c->id, call_done, call, &call->rt) :
	     op == OP_RESUME ? rt->resume(a, c->id, call_done, call, &call->rt) :
			       rt->kill(a, c->id, sig, true, call_done, call, &call->rt);
	if (rc < 0) {
		call_free(call);
		return gcs_error_set(err, rc, HR_FAIL, "%s %s: cannot run %s: %s", op_names[op],
				     c->id, rt->name, strerror(-rc));
	}
	return REQUEST_KEPT;
}

int container_handle_modify(struct request *rq, struct gcs_error *err)
{
	struct agent *a = rq->a;
	struct gcs_proto_modify_req *req = &rq->m.modify_req;
	struct container *c = container_find(a, req->base.container_id);
	json_t *resources = req->settings.container_constraints.linux_resources;
	struct call *call;
	int rc;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     req->base.container_id);
	if (req->resource_type == GCS_RESOURCE_LCOW_CONTAINER_OPERATION)
		return container_handle_operation(rq, err);
	if (req->resource_type != GCS_RESOURCE_CONTAINER_CONSTRAINTS)
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "invalid ResourceType %s for a container",
				     req->resource_type_name);
	if (!resources)
		return 0;
	if (c->init_done || c->init_pid <= 0)
		return gcs_error_set(err, -ESRCH, HR_SYSTEM_ALREADY_STOPPED,
				     "container %s is not running", c->id);
	call = call_new(c, on_updated, rq, NULL);
	if (!call)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	rc = container_rt(c)->update(a, c->id, resources, call_done, call, &call->rt);
	if (rc < 0) {
		call_free(call);
		return gcs_error_set(err, rc, HR_FAIL, "update %s: cannot run %s: %s", c->id,
				     container_rt(c)->name, strerror(-rc));
	}
	return REQUEST_KEPT;
}

/* ---- diagnostics ---- */

void container_dump(struct agent *a, char *buf, size_t len)
{
	struct list *it, *tmp;
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	list_for_each_safe(it, tmp, &a->containers)
	{
		struct container *c = list_entry(it, struct container, node);
		if (n < len)
			n += (size_t)snprintf(
				buf + n, len - n,
				"container %s: %s%s, init %d%s, exit type %s%s, %zu runtime calls\n",
				c->id, state_names[c->state], c->paused ? " (paused)" : "",
				c->init_pid, c->init_done ? " (exited)" : "", c->exit_type,
				c->terminal ? ", terminal" : "", list_count(&c->calls));
	}
}
