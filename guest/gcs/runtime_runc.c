/*
 * The runtime through Debian's runc (1.1), invoked as a program, never linked. Every call is a
 * helper process of the loop (child.c) in a process group of its own, with a deadline:
 *
 *   runc --root <runc_root> --log <file> --log-format json <verb> <flags...> -- <id> [<signal>]
 *
 * runc 1.1.5 accepts "--" before the ID for every verb used here (create, start, exec, kill,
 * pause, resume, update, delete, ps, state; checked by hand and by the unit suite's argv
 * test), so an ID that starts with '-' is never read as an option. Each call logs JSON to a
 * file of its own, whose last "error"/"fatal" msg is runc's own error text; without one, what
 * runc wrote to stderr is. The call's files (log, pid file, process document, console socket)
 * live in <run_root>/gcs/runtime and go when the call ends.
 */
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "child.h"
#include "cleanup.h"
#include "hostpath.h"
#include "log.h"
#include "path.h"

#define RUNTIME_DEFAULT_TIMEOUT_MS 30000
#define MSG_MAX 2048

struct runtime_call {
	struct agent *a;
	char verb[16];
	int timeout_ms;
	pid_t pid;
	char log[PATH_MAX];
	char pid_file[PATH_MAX]; /* "" when the verb writes none */
	char doc_file[PATH_MAX]; /* exec's process, update's resources */
	char console_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int console_listen;
	int stderr_peek;
	bool want_pids;
	runtime_done_fn done;
	void *data;
};

static unsigned call_counter;

const struct runtime *runtime_get(const struct agent *a)
{
	(void)a;
	return &runtime_runc;
}

int runtime_timeout_ms(const struct agent *a)
{
	return a->opt.runtime_timeout_ms > 0 ? a->opt.runtime_timeout_ms :
					       RUNTIME_DEFAULT_TIMEOUT_MS;
}

void runtime_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int strv_push(char ***v, size_t *n, const char *s)
{
	char **t = realloc(*v, (*n + 2) * sizeof(**v));

	if (!t)
		return -ENOMEM;
	*v = t;
	t[*n] = strdup(s);
	if (!t[*n])
		return -ENOMEM;
	t[++*n] = NULL;
	return 0;
}

/* ---- messages ---- */

/* The last "error" or "fatal" msg of a runc JSON log into buf; false when there is none. */
static bool log_error_text(const char *path, char *buf, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "r");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *level, *msg;

		if (!o)
			continue;
		level = json_string_value(json_object_get(o, "level"));
		msg = json_string_value(json_object_get(o, "msg"));
		if (level && msg && (!strcmp(level, "error") || !strcmp(level, "fatal"))) {
			snprintf(buf, len, "%s", msg);
			found = true;
		}
		json_decref(o);
	}
	return found;
}

/* s without surrounding white space; of a long text the end, which says what went wrong. */
static void trimmed(const char *s, size_t n, char *buf, size_t len)
{
	while (n > 0 && strchr(" \t\r\n", s[0])) {
		s++;
		n--;
	}
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		n--;
	if (n >= len) {
		s += n - (len - 1);
		n = len - 1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* What is in the pipe behind the stderr runc passed on, without waiting. */
static size_t peek_stderr(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (fd >= 0 && n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
			break;
		got = read(fd, buf + n, len - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	return n;
}

/* runc's words for a failed or timed-out call, in the order log, stderr, passed-on stderr. */
static void failure_text(struct runtime_call *call, const struct child_result *r, char *buf,
			 size_t len)
{
	char text[MSG_MAX] = "", peek[MSG_MAX];
	size_t n;

	if (!log_error_text(call->log, text, sizeof(text))) {
		if (r->err_len)
			trimmed(r->err, r->err_len, text, sizeof(text));
		if (!text[0] && (n = peek_stderr(call->stderr_peek, peek, sizeof(peek))) > 0)
			trimmed(peek, n, text, sizeof(text));
	}
	if (r->timed_out)
		snprintf(buf, len, "runc %s did not finish within %d ms%s%s", call->verb,
			 call->timeout_ms, text[0] ? ": " : "", text);
	else if (text[0])
		snprintf(buf, len, "%s", text);
	else
		snprintf(buf, len, "runc %s exited with code %d and wrote no message", call->verb,
			 r->exit_code);
}

/* ---- the call's files ---- */

static int work_file(struct agent *a, unsigned n, const char *ext, char *buf, size_t len)
{
	char dir[PATH_MAX];
	int fd = -1, rc;

	snprintf(dir, sizeof(dir), "%s/gcs/runtime", a->opt.run_root);
	/* beneath the run root, through no symlink (hostpath.h) */
	rc = hostpath_mkdir(a, "the runtime's directory", dir, 0700, &fd, NULL, NULL);
	if (rc < 0)
		return rc;
	close(fd);
	if ((size_t)snprintf(buf, len, "%s/%d-%u.%s", dir, (int)getpid(), n, ext) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static void call_free(struct runtime_call *call)
{
	if (call->log[0])
		unlink(call->log);
	if (call->pid_file[0])
		unlink(call->pid_file);
	if (call->doc_file[0])
		unlink(call->doc_file);
	if (call->console_listen >= 0)
		close(call->console_listen);
	if (call->console_path[0])
		unlink(call->console_path);
	if (call->stderr_peek >= 0)
		close(call->stderr_peek);
	free(call);
}

static void call_release(void *data)
{
	call_free(data);
}

static struct runtime_call *call_new(struct agent *a, const char *verb, runtime_done_fn done,
				     void *data)
{
	struct runtime_call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->a = a;
	snprintf(call->verb, sizeof(call->verb), "%s", verb);
	call->timeout_ms = runtime_timeout_ms(a);
	call->console_listen = -1;
	call->stderr_peek = -1;
	call->done = done;
	call->data = data;
	return call;
}

/* A Unix socket for --console-socket: runc connects and sends the pty master. */
static int console_socket(struct runtime_call *call, unsigned n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX];
	int fd, rc = work_file(call->a, n, "sock", path, sizeof(path));

	if (rc < 0)
		return rc;
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
	snprintf(call->console_path, sizeof(call->console_path), "%s", path);
	call->console_listen = fd;
	return 0;
}

/* The pty master runc sent on the console socket (its connection waits in the backlog). */
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
		return errno == EAGAIN ? -ENOTCONN : -errno;
	n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
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

	if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > INT_MAX)
		return -1;
	return (pid_t)pid;
}

/* `runc ps --format json`: a JSON array of pids. */
static int parse_pids(const char *out, pid_t **ret, size_t *ret_n)
{
	json_auto_t *v = json_loads(out, 0, NULL);
	pid_t *pids;
	json_t *e;
	size_t i;

	if (!json_is_array(v))
		return -EBADMSG;
	pids = calloc(json_array_size(v) + 1, sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	json_array_foreach(v, i, e) {
		json_int_t p = json_integer_value(e);
		if (!json_is_integer(e) || p <= 0 || p > INT_MAX) {
			free(pids);
			return -EBADMSG;
		}
		pids[i] = (pid_t)p;
	}
	*ret = pids;
	*ret_n = json_array_size(v);
	return 0;
}

/* ---- completion ---- */

static void on_done(void *data, const struct child_result *cr)
{
	struct runtime_call *call = data;
	struct runtime_result r = { .exit_code = cr->exit_code,
				    .timed_out = cr->timed_out,
				    .out = cr->out,
				    .out_len = cr->out_len,
				    .pid = -1,
				    .pty_master = -1 };
	_cleanup_free_ pid_t *pids = NULL;
	char msg[MSG_MAX] = "";
	int rc;

	if (cr->timed_out || cr->exit_code != 0) {
		r.error = cr->timed_out ? -ETIMEDOUT : -EIO;
		failure_text(call, cr, msg, sizeof(msg));
		goto done;
	}
	if (call->pid_file[0]) {
		r.pid = read_pid(call->pid_file);
		if (r.pid <= 0) {
			r.error = -EIO;
			snprintf(msg, sizeof(msg), "runc %s wrote no pid to %s", call->verb,
				 call->pid_file);
			goto done;
		}
	}
	if (call->console_listen >= 0) {
		rc = console_receive(call->console_listen, &r.pty_master);
		if (rc < 0) {
			r.error = rc;
			snprintf(msg, sizeof(msg), "runc %s sent no console: %s", call->verb,
				 strerror(-rc));
			goto done;
		}
	}
	if (call->want_pids) {
		rc = parse_pids(cr->out, &pids, &r.n_pids);
		if (rc < 0) {
			char text[128];
			r.error = rc;
			trimmed(cr->out, cr->out_len, text, sizeof(text));
			snprintf(msg, sizeof(msg),
				 "runc ps printed what is not a list of pids: \"%s\"", text);
			goto done;
		}
		r.pids = pids;
	}
done:
	r.message = msg;
	if (r.error < 0)
		log_debug("runtime call failed", LOG_STR("verb", call->verb),
			  LOG_INT("exit_code", cr->exit_code), LOG_STR("error", msg));
	call->done(call->data, &r);
	if (r.pty_master >= 0)
		close(r.pty_master);
	call_free(call);
}

/* ---- the one place runc's command line is built ---- */

#define ARGV_MAX 32

/*
 * runc --root R --log L --log-format json <verb> <flags...> -- <id> <tail...>; starts it with
 * io's fds (NULL: stdin /dev/null, stdout and stderr captured). On failure the call is freed.
 */
static int run(struct runtime_call *call, const char *id, const char *const *flags,
	       const char *const *tail, const struct runtime_stdio *io, struct runtime_call **ret)
{
	struct agent *a = call->a;
	struct child_options o = { .fds = { CHILD_NULL, CHILD_CAPTURE, CHILD_CAPTURE },
				   .timeout_ms = call->timeout_ms,
				   .own_group = true,
				   .release = call_release };
	const char *argv[ARGV_MAX];
	size_t n = 0;
	int rc;

	if (!id || !id[0]) {
		call_free(call);
		return -EINVAL;
	}
	rc = work_file(a, ++call_counter, "log", call->log, sizeof(call->log));
	if (rc < 0) {
		call->log[0] = '\0';
		call_free(call);
		return rc;
	}
	unlink(call->log);
	argv[n++] = a->opt.runc;
	argv[n++] = "--root";
	argv[n++] = a->opt.runc_root;
	argv[n++] = "--log";
	argv[n++] = call->log;
	argv[n++] = "--log-format";
	argv[n++] = "json";
	argv[n++] = call->verb;
	for (size_t i = 0; flags && flags[i] && n < ARGV_MAX - 4; i++)
		argv[n++] = flags[i];
	argv[n++] = "--";
	argv[n++] = id;
	for (size_t i = 0; tail && tail[i] && n < ARGV_MAX - 1; i++)
		argv[n++] = tail[i];
	argv[n] = NULL;
	if (io && !io->terminal)
		for (int i = 0; i < 3; i++)
			o.fds[i] = io->fds[i] >= 0 ? io->fds[i] : CHILD_NULL;
	if (io && io->stderr_peek >= 0 && !io->terminal)
		call->stderr_peek = fcntl(io->stderr_peek, F_DUPFD_CLOEXEC, 3);
	rc = child_run(a, (char *const *)argv, &o, on_done, call, &call->pid);
	if (rc < 0) {
		call_free(call);
		return rc;
	}
	log_debug("runc started", LOG_STR("verb", call->verb), LOG_STR("id", id),
		  LOG_INT("pid", call->pid));
	if (ret)
		*ret = call;
	return 0;
}

static int simple(struct agent *a, const char *verb, const char *id, const char *const *flags,
		  const char *const *tail, runtime_done_fn done, void *data,
		  struct runtime_call **ret)
{
	struct runtime_call *call = call_new(a, verb, done, data);

	if (!call)
		return -ENOMEM;
	return run(call, id, flags, tail, NULL, ret);
}

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

/* ---- the operations ---- */

/* The pid file and, with a terminal, the console socket of create and exec. */
static int prepare_process(struct runtime_call *call, unsigned n, const struct runtime_stdio *io,
			   const char **flags, size_t *k)
{
	int rc = work_file(call->a, n, "pid", call->pid_file, sizeof(call->pid_file));

	if (rc < 0) {
		call->pid_file[0] = '\0';
		return rc;
	}
	unlink(call->pid_file);
	flags[(*k)++] = "--pid-file";
	flags[(*k)++] = call->pid_file;
	if (io->terminal) {
		rc = console_socket(call, n);
		if (rc < 0)
			return rc;
		flags[(*k)++] = "--console-socket";
		flags[(*k)++] = call->console_path;
	}
	return 0;
}

static int runc_create(struct agent *a, const char *id, const char *bundle,
		       const struct runtime_stdio *io, runtime_done_fn done, void *data,
		       struct runtime_call **ret)
{
	struct runtime_call *call = call_new(a, "create", done, data);
	const char *flags[10];
	size_t k = 0;
	int rc;

	if (!call)
		return -ENOMEM;
	flags[k++] = "--bundle";
	flags[k++] = bundle;
	rc = prepare_process(call, ++call_counter, io, flags, &k);
	if (rc < 0) {
		call_free(call);
		return rc;
	}
	if (root_is_initramfs())
		flags[k++] = "--no-pivot";
	flags[k] = NULL;
	return run(call, id, flags, NULL, io, ret);
}

static int runc_start(struct agent *a, const char *id, runtime_done_fn done, void *data,
		      struct runtime_call **ret)
{
	return simple(a, "start", id, NULL, NULL, done, data, ret);
}

static int runc_exec(struct agent *a, const char *id, json_t *process,
		     const struct runtime_stdio *io, runtime_done_fn done, void *data,
		     struct runtime_call **ret)
{
	struct runtime_call *call = call_new(a, "exec", done, data);
	unsigned n = ++call_counter;
	const char *flags[10];
	size_t k = 0;
	int rc;

	if (!call)
		return -ENOMEM;
	rc = work_file(a, n, "json", call->doc_file, sizeof(call->doc_file));
	if (rc < 0 || json_dump_file(process, call->doc_file, JSON_COMPACT) < 0) {
		if (rc < 0)
			call->doc_file[0] = '\0';
		call_free(call);
		return rc < 0 ? rc : -EIO;
	}
	flags[k++] = "--detach";
	flags[k++] = "--process";
	flags[k++] = call->doc_file;
	rc = prepare_process(call, n, io, flags, &k);
	if (rc < 0) {
		call_free(call);
		return rc;
	}
	flags[k] = NULL;
	return run(call, id, flags, NULL, io, ret);
}

static int runc_kill(struct agent *a, const char *id, int sig, bool all, runtime_done_fn done,
		     void *data, struct runtime_call **ret)
{
	const char *flags[] = { all ? "--all" : NULL, NULL };
	char signal[16];

	if (sig < 1 || sig >= NSIG)
		return -EINVAL;
	snprintf(signal, sizeof(signal), "%d", sig);
	return simple(a, "kill", id, flags, (const char *const[]){ signal, NULL }, done, data, ret);
}

static int runc_pause(struct agent *a, const char *id, runtime_done_fn done, void *data,
		      struct runtime_call **ret)
{
	return simple(a, "pause", id, NULL, NULL, done, data, ret);
}

static int runc_resume(struct agent *a, const char *id, runtime_done_fn done, void *data,
		       struct runtime_call **ret)
{
	return simple(a, "resume", id, NULL, NULL, done, data, ret);
}

static int runc_update(struct agent *a, const char *id, json_t *resources, runtime_done_fn done,
		       void *data, struct runtime_call **ret)
{
	struct runtime_call *call = call_new(a, "update", done, data);
	const char *flags[3] = { "--resources", NULL, NULL };
	int rc;

	if (!call)
		return -ENOMEM;
	rc = work_file(a, ++call_counter, "json", call->doc_file, sizeof(call->doc_file));
	if (rc < 0 || json_dump_file(resources, call->doc_file, JSON_COMPACT) < 0) {
		if (rc < 0)
			call->doc_file[0] = '\0';
		call_free(call);
		return rc < 0 ? rc : -EIO;
	}
	flags[1] = call->doc_file;
	return run(call, id, flags, NULL, NULL, ret);
}

static int runc_delete(struct agent *a, const char *id, bool force, runtime_done_fn done,
		       void *data, struct runtime_call **ret)
{
	const char *flags[] = { force ? "--force" : NULL, NULL };

	return simple(a, "delete", id, flags, NULL, done, data, ret);
}

static int runc_ps(struct agent *a, const char *id, runtime_done_fn done, void *data,
		   struct runtime_call **ret)
{
	struct runtime_call *call = call_new(a, "ps", done, data);

	if (!call)
		return -ENOMEM;
	call->want_pids = true;
	return run(call, id, (const char *const[]){ "--format", "json", NULL }, NULL, NULL, ret);
}

static int runc_state(struct agent *a, const char *id, runtime_done_fn done, void *data,
		      struct runtime_call **ret)
{
	return simple(a, "state", id, NULL, NULL, done, data, ret);
}

static void runc_cancel(struct agent *a, struct runtime_call *call)
{
	if (!call)
		return;
	log_debug("runc cancelled", LOG_STR("verb", call->verb), LOG_INT("pid", call->pid));
	child_cancel(a, call->pid);
	call_free(call);
}

/* ---- runc's state directory ---- */

/* A name runc could have made its state directory of. */
static bool plain_name(const char *id)
{
	return id[0] && strcmp(id, ".") && strcmp(id, "..") && !strchr(id, '/');
}

/* cgroup_paths of <runc_root>/<id>/state.json (libcontainer's state, stable across 1.x). */
static int runc_cgroup_paths(struct agent *a, const char *id, char ***ret)
{
	char path[PATH_MAX];
	json_auto_t *state = NULL;
	char **v;
	size_t n = 0;
	const char *key;
	json_t *val;
	int rc = 0;

	if (!plain_name(id))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s/state.json", a->opt.runc_root, id);
	state = json_load_file(path, 0, NULL);
	if (!state)
		return access(path, F_OK) == 0 ? -EBADMSG : -ENOENT;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	json_object_foreach(json_object_get(state, "cgroup_paths"), key, val) {
		const char *p = json_string_value(val);
		bool dup = false;
		if (!p || p[0] != '/')
			continue;
		for (size_t i = 0; i < n; i++)
			dup |= !strcmp(v[i], p);
		if (!dup && (rc = strv_push(&v, &n, p)) < 0)
			break;
	}
	if (rc < 0) {
		runtime_strv_free(v);
		return rc;
	}
	*ret = v;
	return 0;
}

static int runc_list(struct agent *a, char ***ret)
{
	_cleanup_closedir_ DIR *d = opendir(a->opt.runc_root);
	struct dirent *de;
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	if (!d) {
		if (errno == ENOENT) {
			*ret = v;
			return 0;
		}
		free(v);
		return -errno;
	}
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		if (!plain_name(de->d_name) || de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/state.json", a->opt.runc_root, de->d_name);
		if (access(p, F_OK) < 0)
			continue;
		if (strv_push(&v, &n, de->d_name) < 0) {
			runtime_strv_free(v);
			return -ENOMEM;
		}
	}
	*ret = v;
	return 0;
}

static int runc_delete_sync(struct agent *a, const char *id, char *msg, size_t len)
{
	char log[PATH_MAX], err[MSG_MAX];
	const char *argv[] = { a->opt.runc, "--root", a->opt.runc_root,
			       "--log",	    log,      "--log-format",
			       "json",	    "delete", "--force",
			       "--",	    id,	      NULL };
	int rc = work_file(a, ++call_counter, "log", log, sizeof(log));

	if (len)
		msg[0] = '\0';
	if (rc < 0)
		return rc;
	unlink(log);
	rc = child_run_sync((char *const *)argv, runtime_timeout_ms(a), err, sizeof(err));
	if (rc != 0) {
		char text[MSG_MAX] = "";
		if (!log_error_text(log, text, sizeof(text)))
			trimmed(err, strlen(err), text, sizeof(text));
		if (rc == -ETIMEDOUT)
			snprintf(msg, len, "runc delete did not finish within %d ms%s%s",
				 runtime_timeout_ms(a), text[0] ? ": " : "", text);
		else if (rc < 0)
			snprintf(msg, len, "cannot run %s: %s", a->opt.runc, strerror(-rc));
		else
			snprintf(msg, len, "%s", text[0] ? text : "runc delete failed");
		rc = rc < 0 ? rc : -EIO;
	}
	unlink(log);
	return rc;
}

const struct runtime runtime_runc = {
	.name = "runc",
	.create = runc_create,
	.start = runc_start,
	.exec = runc_exec,
	.kill = runc_kill,
	.pause = runc_pause,
	.resume = runc_resume,
	.update = runc_update,
	.remove = runc_delete,
	.ps = runc_ps,
	.state = runc_state,
	.cancel = runc_cancel,
	.cgroup_paths = runc_cgroup_paths,
	.list = runc_list,
	.remove_sync = runc_delete_sync,
};
