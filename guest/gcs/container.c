/*
 * Containers through runc (spec sections 7.1-7.14, 8, 11). Create writes the bundle and runs
 * `runc create` with the init's stdio on pipes (or a console socket) of ours; the first
 * ExecuteProcess without OciProcess connects the host's streams to them and runs `runc start`;
 * one with OciProcess is `runc exec -d`. Every runc call is a helper process of the loop.
 * Exactly one notification per container, after the init's exit was answered to a waiter.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "container.h"
#include "exec_op.h"
#include "process.h"
#include "request.h"
#include "storage.h"
#include "cgroup.h"
#include "cleanup.h"
#include "log.h"
#include "path.h"
#include "runc.h"

enum container_state { C_CREATING, C_CREATED, C_RUNNING, C_STOPPED };

static const char *const state_names[] = { "creating", "created", "running", "stopped" };

struct container {
	struct list node;
	struct agent *a;
	char *id;
	char activity_id[GCS_GUID_STRING_LEN + 1];
	char *bundle;
	char *scratch_dir;
	char *rootfs;
	json_t *spec;
	enum container_state state;
	bool terminal;
	bool own_pid_ns;
	pid_t init_pid;
	struct process *init;
	int io[3]; /* our ends of the init's pipes: stdin (write), stdout, stderr (read) */
	int console; /* pty master of a terminal init */
	char console_path[108];
	int console_listen;
	const char *exit_type;
	bool init_done;
	bool notified;
	unsigned execs; /* exec file counter */
	struct request *pending; /* the Create being answered */
};

/* A runc call on behalf of a request. */
struct call {
	struct container *c;
	struct request *req;
	struct exec_op *op;
	char path[300]; /* a file to remove afterwards */
	pid_t pid;
	bool terminal;
	char name[64];
	int console_listen;
	char console_path[108];
	bool want_list;
	bool want_metrics;
};

static unsigned console_counter;

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

/*
 * runc cannot pivot_root away from an initramfs root: there containers are created with
 * --no-pivot. (lcow's init switches root onto a tmpfs first, so this is for other inits.)
 */
static bool root_is_initramfs(void)
{
	static int cached = -1;
	_cleanup_fclose_ FILE *f = NULL;
	char line[1024];

	if (cached >= 0)
		return cached;
	cached = 0;
	/* The root mount's type: "rootfs" until an init switches root (lcow's init does). */
	f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char mnt[512], *sep;
		if (sscanf(line, "%*d %*d %*s %*s %511s", mnt) != 1 || strcmp(mnt, "/") != 0)
			continue;
		sep = strstr(line, " - ");
		cached = sep && !strncmp(sep + 3, "rootfs ", 7);
	}
	return cached;
}

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

static void container_free(struct container *c)
{
	for (int i = 0; i < 3; i++)
		close_fd(&c->io[i]);
	close_fd(&c->console);
	close_fd(&c->console_listen);
	if (c->console_path[0])
		unlink(c->console_path);
	list_del(&c->node);
	json_decref(c->spec);
	free(c->id);
	free(c->bundle);
	free(c->scratch_dir);
	free(c->rootfs);
	free(c);
}

static char *bundle_file(const struct container *c, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", c->bundle, name);
	return buf;
}

/* A Unix socket runc's --console-socket connects to, to hand over the pty master. */
static int console_socket(struct agent *a, char *path, size_t len, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[300];
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s/gcs", a->opt.run_root);
	rc = path_mkdir_p(dir, 0700, NULL);
	if (rc < 0)
		return rc;
	snprintf(path, len, "%s/console-%d-%u.sock", dir, getpid(), ++console_counter);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*ret_fd = fd;
	return 0;
}

/* Receives the pty master runc sent on the console socket. */
static int console_receive(int listen_fd, int *ret_master)
{
	char data[256], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	ssize_t n;

	if (conn < 0)
		return -errno;
	n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
	close(conn);
	if (n < 0)
		return -errno;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -EBADMSG;
	memcpy(ret_master, CMSG_DATA(cm), sizeof(int));
	return 0;
}

static pid_t read_pid(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "r");
	long pid = -1;

	if (!f || fscanf(f, "%ld", &pid) != 1)
		return -1;
	return (pid_t)pid;
}

static void notify(struct container *c)
{
	struct gcs_proto_notification n = {
		.base = { .container_id = c->id, .activity_id = c->activity_id },
		.type = c->exit_type,
		.operation = "None",
	};

	if (c->notified)
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

static void create_failed(struct container *c, const char *what, int rc, const char *msg)
{
	struct gcs_error err = { 0 };

	gcs_error_set(&err, rc < 0 ? rc : -EIO, HR_FAIL, "create %s: %s: %s", c->id, what,
		      msg ? msg : strerror(rc < 0 ? -rc : EIO));
	request_finish(c->pending, -EIO, &err);
	c->pending = NULL;
	container_free(c);
}

static void on_created(void *data, int exit_code, const char *error)
{
	struct container *c = data;
	struct gcs_proto_create_resp resp = { 0 };
	char path[4096];
	int rc;

	/* runc holds its own copies of the init's ends; ours go. */
	if (exit_code != 0) {
		create_failed(c, "runc create", -EIO, error);
		return;
	}
	if (c->terminal) {
		rc = console_receive(c->console_listen, &c->console);
		close_fd(&c->console_listen);
		unlink(c->console_path);
		c->console_path[0] = '\0';
		if (rc < 0) {
			const char *args[] = { "delete", "--force", c->id, NULL };
			runc_run_sync(c->a, args);
			create_failed(c, "console", rc, NULL);
			return;
		}
	}
	c->init_pid = read_pid(bundle_file(c, "init.pid", path, sizeof(path)));
	if (c->init_pid <= 0) {
		create_failed(c, "runc create", -EIO, "no init pid");
		return;
	}
	c->init = process_attach(c->a, c->id, c->init_pid,
				 c->console >= 0 ? fcntl(c->console, F_DUPFD_CLOEXEC, 3) : -1,
				 "init", &container_process_ops, c, true);
	c->state = C_CREATED;
	log_info("container created", LOG_STR("id", c->id), LOG_INT("init", c->init_pid));
	request_reply(c->pending, &resp);
	c->pending = NULL;
}

int container_handle_create(struct request *rq, struct gcs_error *err)
{
	struct agent *a = rq->a;
	union gcs_proto_msg *m = &rq->m;
	struct gcs_proto_create_req *req = &m->create_req;
	const struct gcs_proto_container_config *cfg = &req->config;
	int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int runc_fds[3] = { CHILD_NULL, CHILD_NULL, CHILD_NULL };
	const char *root;
	char path[4096];
	struct container *c;
	int rc;

	if (is_uvm_id(req->base.container_id))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "Create of the utility VM itself is not supported");
	if (cfg->schema_version.major < 2 ||
	    (cfg->schema_version.major == 2 && cfg->schema_version.minor < 1))
		return gcs_error_set(err, -EINVAL, HR_INVALID_JSON,
				     "schema version %u.%u is not supported: 2.1 or later is",
				     cfg->schema_version.major, cfg->schema_version.minor);
	if (container_find(a, req->base.container_id))
		return gcs_error_set(err, -EEXIST, HR_SYSTEM_ALREADY_EXISTS,
				     "container %s already exists", req->base.container_id);
	if (!cfg->oci_specification)
		return gcs_error_set(err, -EINVAL, HR_INVALID_JSON,
				     "ContainerConfig has no OciSpecification");
	if ((rc = storage_check_path(a, "OciBundlePath", cfg->oci_bundle_path, err)) < 0)
		return rc;
	if (cfg->scratch_dir_path[0] &&
	    (rc = storage_check_path(a, "ScratchDirPath", cfg->scratch_dir_path, err)) < 0)
		return rc;
	root = json_string_value(
		json_object_get(json_object_get(cfg->oci_specification, "root"), "path"));
	if (!root || !root[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "the OCI spec has no root.path");

	c = calloc(1, sizeof(*c));
	if (!c)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	c->a = a;
	c->io[0] = c->io[1] = c->io[2] = c->console = c->console_listen = -1;
	c->exit_type = "UnexpectedExit";
	snprintf(c->activity_id, sizeof(c->activity_id), "%s", rq->activity_id);
	c->pending = rq;
	c->id = strdup(req->base.container_id);
	c->bundle = strdup(cfg->oci_bundle_path);
	c->scratch_dir = strdup(cfg->scratch_dir_path);
	c->rootfs = strdup(root);
	c->spec = json_deep_copy(cfg->oci_specification);
	list_add_tail(&a->containers, &c->node);
	if (!c->id || !c->bundle || !c->scratch_dir || !c->rootfs || !c->spec) {
		container_free(c);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}
	c->terminal =
		json_is_true(json_object_get(json_object_get(c->spec, "process"), "terminal"));
	rc = join_sandbox(a, c->spec, err);
	if (rc < 0) {
		container_free(c);
		return rc;
	}
	c->own_pid_ns = has_own_pid_ns(c->spec);

	rc = path_mkdir_p(c->bundle, 0700, NULL);
	if (rc < 0) {
		container_free(c);
		return gcs_error_set(err, rc, HR_FAIL, "create bundle %s: %s", cfg->oci_bundle_path,
				     strerror(-rc));
	}
	if (json_dump_file(c->spec, bundle_file(c, "config.json", path, sizeof(path)),
			   JSON_COMPACT) < 0) {
		container_free(c);
		return gcs_error_set(err, -EIO, HR_FAIL, "write %s failed", path);
	}

	if (c->terminal) {
		rc = console_socket(a, c->console_path, sizeof(c->console_path),
				    &c->console_listen);
		if (rc < 0) {
			container_free(c);
			return gcs_error_set(err, rc, HR_FAIL, "console socket: %s", strerror(-rc));
		}
	} else {
		for (int i = 0; i < 3; i++) {
			if (pipe2(pipes[i], O_CLOEXEC) < 0) {
				rc = -errno;
				for (int k = 0; k < 3; k++) {
					close_fd(&pipes[k][0]);
					close_fd(&pipes[k][1]);
				}
				container_free(c);
				return gcs_error_set(err, rc, HR_FAIL, "pipe: %s", strerror(-rc));
			}
			/* stdin: runc reads [0]; stdout/stderr: runc writes [1]. */
			runc_fds[i] = i == 0 ? pipes[i][0] : pipes[i][1];
			c->io[i] = i == 0 ? pipes[i][1] : pipes[i][0];
		}
	}
	{
		char pidfile[4096], log[4096];
		const char *args[10];
		size_t k = 0;
		args[k++] = "create";
		args[k++] = "--bundle";
		args[k++] = c->bundle;
		args[k++] = "--pid-file";
		args[k++] = pidfile;
		if (root_is_initramfs())
			args[k++] = "--no-pivot";
		if (c->terminal) {
			args[k++] = "--console-socket";
			args[k++] = c->console_path;
		}
		args[k++] = c->id;
		args[k] = NULL;
		bundle_file(c, "init.pid", pidfile, sizeof(pidfile));
		unlink(pidfile);
		rc = runc_run(a, bundle_file(c, "runc.log", log, sizeof(log)), args, runc_fds,
			      on_created, c);
	}
	for (int i = 0; i < 3; i++)
		if (runc_fds[i] >= 0)
			close(runc_fds[i]);
	if (rc < 0) {
		container_free(c);
		return gcs_error_set(err, rc, HR_FAIL, "cannot run %s: %s", a->opt.runc,
				     strerror(-rc));
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

static void call_free(struct call *call)
{
	if (call->path[0])
		unlink(call->path);
	if (call->console_listen >= 0)
		close(call->console_listen);
	if (call->console_path[0])
		unlink(call->console_path);
	free(call);
}

static struct call *call_new(struct container *c, struct exec_op *op)
{
	struct call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->c = c;
	call->op = op;
	call->console_listen = -1;
	if (op)
		call->req = op->req;
	return call;
}

static void on_started(void *data, int exit_code, const char *error)
{
	struct call *call = data;
	struct container *c = call->c;
	struct gcs_error err = { 0 };

	if (exit_code != 0) {
		gcs_error_set(&err, -EIO, HR_FAIL, "start %s: runc start: %s", c->id, error);
		exec_finish(call->op, -EIO, &err, 0);
	} else {
		struct gcs_proto_execute_process_resp resp = { .process_id =
								       (uint32_t)c->init_pid };
		if (!c->init_done)
			c->state = C_RUNNING;
		log_info("container started", LOG_STR("id", c->id), LOG_INT("init", c->init_pid));
		exec_finish(call->op, 0, NULL, resp.process_id);
	}
	call_free(call);
}

/* Connects the dialed streams to the init's pipes or console, then `runc start`. */
static void start_init(struct exec_op *op)
{
	struct container *c = op->container;
	struct gcs_error err = { 0 };
	struct call *call = call_new(c, op);
	char log[4096];
	const char *args[] = { "start", c->id, NULL };
	int rc;

	if (!call) {
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		exec_finish(op, -ENOMEM, &err, 0);
		return;
	}
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
	rc = runc_run(c->a, bundle_file(c, "runc.log", log, sizeof(log)), args, NULL, on_started,
		      call);
	if (rc < 0) {
		gcs_error_set(&err, rc, HR_FAIL, "start %s: cannot run runc: %s", c->id,
			      strerror(-rc));
		exec_finish(op, rc, &err, 0);
		call_free(call);
	}
}

static void on_exec_started(void *data, int exit_code, const char *error)
{
	struct call *call = data;
	struct container *c = call->c;
	struct exec_op *op = call->op;
	struct gcs_error err = { 0 };
	struct process *p;
	char pidfile[4096];
	int master = -1;
	pid_t pid;

	if (exit_code != 0) {
		gcs_error_set(&err, -EIO, HR_FAIL, "exec in %s: runc exec: %s", c->id, error);
		goto fail;
	}
	if (call->terminal) {
		int rc = console_receive(call->console_listen, &master);
		if (rc < 0) {
			gcs_error_set(&err, rc, HR_FAIL, "exec in %s: console: %s", c->id,
				      strerror(-rc));
			goto fail;
		}
	}
	snprintf(pidfile, sizeof(pidfile), "%s/exec-%u.pid", c->bundle, (unsigned)call->pid);
	pid = read_pid(pidfile);
	unlink(pidfile);
	if (pid <= 0) {
		if (master >= 0)
			close(master);
		gcs_error_set(&err, -EIO, HR_FAIL, "exec in %s: runc wrote no pid", c->id);
		goto fail;
	}
	p = process_attach(c->a, c->id, pid, master, call->name, &container_process_ops, c, true);
	if (!p) {
		if (master >= 0)
			close(master);
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		goto fail;
	}
	if (master >= 0) {
		if (op->fds[0] >= 0)
			process_relay(p, RELAY_TO_PROCESS, TAKE_FD(op->fds[0]),
				      fcntl(master, F_DUPFD_CLOEXEC, 3));
		process_relay(p, RELAY_FROM_PROCESS, fcntl(master, F_DUPFD_CLOEXEC, 3),
			      op->fds[1] >= 0 ? TAKE_FD(op->fds[1]) :
						open("/dev/null", O_WRONLY | O_CLOEXEC));
	}
	exec_finish(op, 0, NULL, (uint32_t)pid);
	call_free(call);
	return;
fail:
	exec_finish(op, -EIO, &err, 0);
	call_free(call);
}

/*
 * The OCI process of an exec, completed from the container's spec as the Go GCS does: the
 * container's user when none is given, its rlimits, its cwd and env when missing.
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
	struct gcs_error err = { 0 };
	struct call *call = call_new(c, op);
	json_auto_t *proc = NULL;
	char procfile[4096], pidfile[4096], log[4096];
	int fds[3];
	const char *argv0;
	int rc;

	if (!call) {
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		exec_finish(op, -ENOMEM, &err, 0);
		return;
	}
	proc = exec_process(c, op->req->m.execute_process_req.params.oci_process);
	if (!proc) {
		gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
		goto fail;
	}
	call->terminal = json_is_true(json_object_get(proc, "terminal"));
	argv0 = json_string_value(json_array_get(json_object_get(proc, "args"), 0));
	snprintf(call->name, sizeof(call->name), "%s", argv0 ? argv0 : "?");
	call->pid = (pid_t)++c->execs;
	snprintf(procfile, sizeof(procfile), "%s/exec-%u.json", c->bundle, (unsigned)call->pid);
	snprintf(pidfile, sizeof(pidfile), "%s/exec-%u.pid", c->bundle, (unsigned)call->pid);
	snprintf(call->path, sizeof(call->path), "%s", procfile);
	if (json_dump_file(proc, procfile, JSON_COMPACT) < 0) {
		gcs_error_set(&err, -EIO, HR_FAIL, "write %s failed", procfile);
		goto fail;
	}
	if (call->terminal) {
		rc = console_socket(c->a, call->console_path, sizeof(call->console_path),
				    &call->console_listen);
		if (rc < 0) {
			gcs_error_set(&err, rc, HR_FAIL, "console socket: %s", strerror(-rc));
			goto fail;
		}
		fds[0] = fds[1] = fds[2] = CHILD_NULL;
	} else {
		/* Without a terminal the streams become the process's own fds (runc passes them on). */
		for (int i = 0; i < 3; i++) {
			fds[i] = op->fds[i] >= 0 ? op->fds[i] : CHILD_NULL;
			if (op->fds[i] >= 0)
				fcntl(op->fds[i], F_SETFL,
				      fcntl(op->fds[i], F_GETFL) & ~O_NONBLOCK);
		}
	}
	{
		const char *args[] = { "exec",
				       "-d",
				       "--process",
				       procfile,
				       "--pid-file",
				       pidfile,
				       call->terminal ? "--console-socket" : c->id,
				       call->terminal ? call->console_path : NULL,
				       c->id,
				       NULL };
		if (!call->terminal) {
			args[6] = c->id;
			args[7] = NULL;
		}
		rc = runc_run(c->a, bundle_file(c, "runc.log", log, sizeof(log)), args, fds,
			      on_exec_started, call);
	}
	if (rc < 0) {
		gcs_error_set(&err, rc, HR_FAIL, "exec in %s: cannot run runc: %s", c->id,
			      strerror(-rc));
		goto fail;
	}
	/* Without a terminal the process holds the streams now. */
	if (!call->terminal)
		for (int i = 0; i < 3; i++)
			close_fd(&op->fds[i]);
	return;
fail:
	exec_finish(op, -EIO, &err, 0);
	call_free(call);
}

void container_exec(struct exec_op *op)
{
	if (op->req->m.execute_process_req.params.oci_process)
		run_exec(op);
	else
		start_init(op);
}

/* ---- exits and signals ---- */

static void on_killed_all(void *data, int exit_code, const char *error)
{
	(void)data;
	if (exit_code != 0)
		log_debug("runc kill --all failed", LOG_STR("error", error ? error : ""));
}

static void container_process_done(struct container *c, pid_t pid, int exit_code)
{
	if (pid != c->init_pid)
		return;
	c->init_done = true;
	log_debug("container init exited", LOG_STR("id", c->id), LOG_INT("exit_code", exit_code));
	/* Without a pid namespace of its own the other processes outlive init: kill them. */
	if (!c->own_pid_ns) {
		const char *args[] = { "kill", "--all", c->id, "KILL", NULL };
		runc_run(c->a, NULL, args, NULL, on_killed_all, NULL);
	}
	/* Never started: nobody will wait for it, so tell the host now. */
	if (c->state == C_CREATED || c->state == C_CREATING)
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

int container_handle_shutdown(struct request *req, struct gcs_error *err)
{
	struct agent *a = req->a;
	union gcs_proto_msg *m = &req->m;
	struct container *c = container_find(a, m->req.container_id);
	bool forced = req->type == GCS_MSG_SHUTDOWN_FORCED_REQ;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     m->req.container_id);
	if (c->init_done || c->init_pid <= 0)
		return gcs_error_set(err, -ESRCH, HR_SYSTEM_ALREADY_STOPPED,
				     "container %s is not running", c->id);
	if (kill(c->init_pid, forced ? SIGKILL : SIGTERM) < 0)
		return gcs_error_set(err, -ESRCH, HR_SYSTEM_ALREADY_STOPPED,
				     "container %s is not running", c->id);
	container_note_signal(c, c->init_pid, forced ? SIGKILL : SIGTERM);
	return 0;
}

/* ---- GetProperties ---- */

static void answer_properties(struct call *call, json_t *pids)
{
	struct container *c = call->c;
	struct gcs_proto_process_item items[4096];
	struct gcs_proto_get_properties_resp resp = { 0 };
	json_auto_t *metrics = NULL;
	size_t n = 0;

	if (pids) {
		json_t *v;
		size_t i;
		/* Each item is ~16 bytes on the wire: stay far below the 64 KiB limit. */
		json_array_foreach(pids, i, v) {
			if (json_is_integer(v) && n < 3000)
				items[n++].process_id = (uint32_t)json_integer_value(v);
		}
	}
	resp.process_list = items;
	resp.n_process_list = n;
	if (call->want_metrics && !c->init_done && c->init_pid > 0)
		metrics = cgroup_metrics(c->init_pid);
	resp.lcow_metrics = metrics;
	request_reply(call->req, &resp);
}

static void on_ps(void *data, const struct child_result *r)
{
	struct call *call = data;
	json_auto_t *pids = NULL;

	if (r->exit_code == 0)
		pids = json_loads(r->out, 0, NULL);
	if (r->exit_code != 0 && !call->c->init_done) {
		struct gcs_error err = { 0 };
		gcs_error_set(&err, -EIO, HR_FAIL, "runc ps %s: %s", call->c->id,
			      r->err_len ? r->err : "failed");
		request_finish(call->req, -EIO, &err);
	} else {
		answer_properties(call, json_is_array(pids) ? pids : NULL);
	}
	call_free(call);
}

int container_handle_properties(struct request *rq, struct gcs_error *err)
{
	struct agent *a = rq->a;
	union gcs_proto_msg *m = &rq->m;
	struct gcs_proto_get_properties_req *req = &m->get_properties_req;
	struct container *c = container_find(a, req->base.container_id);
	struct call *call;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     req->base.container_id);
	call = call_new(c, NULL);
	if (!call)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	call->req = rq;
	for (size_t i = 0; i < req->n_property_types; i++) {
		if (!strcmp(req->property_types[i], "ProcessList"))
			call->want_list = true;
		else if (!strcmp(req->property_types[i], "Statistics"))
			call->want_metrics = true;
	}
	if (call->want_list && !c->init_done && c->init_pid > 0) {
		char *argv[] = { a->opt.runc, "--root", a->opt.runc_root, "ps", "--format", "json",
				 c->id,	      NULL };
		int rc = child_run(a, argv, NULL, on_ps, call, NULL);
		if (rc < 0) {
			call_free(call);
			return gcs_error_set(err, rc, HR_FAIL, "cannot run runc: %s",
					     strerror(-rc));
		}
		return REQUEST_KEPT;
	}
	answer_properties(call, NULL);
	call_free(call);
	return REQUEST_KEPT;
}

/* ---- ContainerConstraints ---- */

static void on_updated(void *data, int exit_code, const char *error)
{
	struct call *call = data;
	struct gcs_error err = { 0 };

	if (exit_code != 0) {
		gcs_error_set(&err, -EIO, HR_FAIL, "update %s: runc update: %s", call->c->id,
			      error);
		request_finish(call->req, -EIO, &err);
	} else {
		request_reply(call->req, NULL);
	}
	call_free(call);
}

int container_handle_modify(struct request *rq, struct gcs_error *err)
{
	struct agent *a = rq->a;
	union gcs_proto_msg *m = &rq->m;
	struct gcs_proto_modify_req *req = &m->modify_req;
	struct container *c = container_find(a, req->base.container_id);
	struct call *call;
	char log[4096];
	int rc;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     req->base.container_id);
	if (req->resource_type != GCS_RESOURCE_CONTAINER_CONSTRAINTS)
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "invalid ResourceType %s for a container",
				     req->resource_type_name);
	if (!req->settings.container_constraints.linux_resources)
		return 0;
	if (c->init_done || c->init_pid <= 0)
		return gcs_error_set(err, -ESRCH, HR_SYSTEM_ALREADY_STOPPED,
				     "container %s is not running", c->id);
	call = call_new(c, NULL);
	if (!call)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	call->req = rq;
	snprintf(call->path, sizeof(call->path), "%s/update.json", c->bundle);
	if (json_dump_file(req->settings.container_constraints.linux_resources, call->path,
			   JSON_COMPACT) < 0) {
		call_free(call);
		return gcs_error_set(err, -EIO, HR_FAIL, "write %s failed", c->bundle);
	}
	{
		const char *args[] = { "update", "--resources", call->path, c->id, NULL };
		rc = runc_run(a, bundle_file(c, "runc.log", log, sizeof(log)), args, NULL,
			      on_updated, call);
	}
	if (rc < 0) {
		call_free(call);
		return gcs_error_set(err, rc, HR_FAIL, "cannot run runc: %s", strerror(-rc));
	}
	return REQUEST_KEPT;
}

/* ---- DeleteContainerState ---- */

/* Removes a tree without crossing into other filesystems (a rootfs may still be mounted). */
static void remove_tree(int parent, const char *name, dev_t dev)
{
	struct stat st;
	int fd;
	DIR *d;
	struct dirent *de;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlinkat(parent, name, 0);
		return;
	}
	if (st.st_dev != dev)
		return; /* a mount point: leave it to its owner */
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			remove_tree(dirfd(d), de->d_name, dev);
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

static void remove_path(const char *path)
{
	struct stat st;

	if (!path || !path[0] || lstat(path, &st) < 0)
		return;
	remove_tree(AT_FDCWD, path, st.st_dev);
}

static bool is_mount_point(const char *path)
{
	struct stat a, b;
	char parent[4096];

	snprintf(parent, sizeof(parent), "%s/..", path);
	return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static void on_deleted(void *data, int exit_code, const char *error)
{
	struct call *call = data;
	struct container *c = call->c;
	struct agent *a = c->a;

	if (exit_code != 0 && (!error || !strstr(error, "not exist")))
		log_warning("runc delete failed", LOG_STR("id", c->id),
			    LOG_STR("error", error ? error : ""));
	/* The V2 controller deletes before removing the overlay: keep the upper dir then. */
	if (!is_mount_point(c->rootfs))
		remove_path(c->scratch_dir);
	remove_path(c->bundle);
	process_forget_scope(a, c->id);
	log_info("container deleted", LOG_STR("id", c->id));
	request_reply(call->req, NULL);
	call_free(call);
	container_free(c);
}

int container_handle_delete(struct request *req, struct gcs_error *err)
{
	struct agent *a = req->a;
	union gcs_proto_msg *m = &req->m;
	struct container *c = container_find(a, m->req.container_id);
	struct call *call;
	int rc;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s not found",
				     m->req.container_id);
	if (c->state == C_CREATING)
		return gcs_error_set(err, -EBUSY, HR_INVALID_STATE,
				     "container %s is still being created", c->id);
	if (!c->init_done && c->init_pid > 0 && c->state == C_RUNNING)
		return gcs_error_set(err, -EBUSY, HR_INVALID_STATE, "container %s is still running",
				     c->id);
	call = call_new(c, NULL);
	if (!call)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	call->req = req;
	{
		/* --force also covers a created init that never ran */
		const char *args[] = { "delete", "--force", c->id, NULL };
		rc = runc_run(a, NULL, args, NULL, on_deleted, call);
	}
	if (rc < 0) {
		call_free(call);
		return gcs_error_set(err, rc, HR_FAIL, "cannot run runc: %s", strerror(-rc));
	}
	return REQUEST_KEPT;
}

/* ---- diagnostics and shutdown ---- */

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
			n += (size_t)snprintf(buf + n, len - n,
					      "container %s: %s, init %d%s, exit type %s%s\n",
					      c->id, state_names[c->state], c->init_pid,
					      c->init_done ? " (exited)" : "", c->exit_type,
					      c->terminal ? ", terminal" : "");
	}
}

void container_cleanup(struct agent *a)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->containers)
	{
		struct container *c = list_entry(it, struct container, node);
		const char *args[] = { "delete", "--force", c->id, NULL };

		if (c->init_pid > 0 && !c->init_done)
			kill(c->init_pid, SIGKILL);
		runc_run_sync(a, args);
		process_forget_scope(a, c->id);
		container_free(c);
	}
}
