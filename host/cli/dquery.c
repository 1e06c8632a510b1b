/*
 * The daemon's queries and updates of a container (the requests of lcow ps, update, events):
 *
 * ps: the container's pids (GetProperties ProcessList: the agent runs runc ps), and for the
 * table `ps` with the CLI's options, run as a process of the UVM (not of the container), whose
 * output goes back as it is: the CLI keeps the header and the lines of the container's pids.
 * update: ModifySettings ContainerConstraints Update with an OCI LinuxResources object (the
 * agent runs runc update --resources).
 * stats: GetProperties Statistics (the agent's LCOWMetrics, containerd's cgroup metrics).
 * events: stats every interval on one connection, until the container stops or the client goes.
 */
#include "daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define UVM_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PS_MS 30000
/* ps's output goes back on one control line (CTL_MAX_LINE): the table must fit well within. */
#define PS_MAX (2u << 20)

/* A container that has processes to look at: created (runc's init waits), running or paused. */
static bool live(enum ctr_status s)
{
	return s == CTR_CREATED || s == CTR_RUNNING || s == CTR_PAUSED;
}

/* ---- a command of the UVM, its output kept ---- */

struct output {
	char *buf;
	size_t len, cap, max;
	bool truncated;
};

static void output_add(struct output *o, const char *p, size_t n)
{
	if (o->len + n > o->max) {
		o->truncated = true;
		n = o->max - o->len;
	}
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *b;
		while (cap < o->len + n + 1)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (!b) {
			o->truncated = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/*
 * argv as a process of the UVM (not of a container) within PS_MS: its stdout and stderr
 * (each up to PS_MAX) and exit code. An exec that fails is the agent's error.
 */
static int uvm_command(struct daemon *d, const char *const *argv, size_t n, struct output *out,
		       struct output *errout, uint32_t *ret_code, struct gcs_error *err)
{
	static const struct gcs_proto_env env[] = { { "PATH", UVM_PATH } };
	struct gcs_proto_process_params pp = { .command_args = argv,
					       .n_command_args = n,
					       .working_directory = "/",
					       .environment = env,
					       .n_environment = 1 };
	struct gcs_exec_options o = { .params = &pp, .timeout_ms = PS_MS };
	struct output *dst[2] = { out, errout };
	long long deadline = time_now_ms() + PS_MS;
	struct gcs_process *p = NULL;
	int fds[2], rc;

	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDERR].mode = GCS_STDIO_SOCKET;
	rc = gcs_process_exec(vm_bridge(&d->vm), &o, &p, err);
	if (rc < 0)
		return rc;
	fds[0] = gcs_process_stdio_fd(p, GCS_STDOUT);
	fds[1] = gcs_process_stdio_fd(p, GCS_STDERR);
	while (fds[0] >= 0 || fds[1] >= 0) {
		struct pollfd pf[2] = { { .fd = fds[0], .events = POLLIN },
					{ .fd = fds[1], .events = POLLIN } };
		long long left = deadline - time_now_ms();
		char buf[16384];

		if (left <= 0 || poll(pf, 2, (int)left) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t r;
			if (!pf[i].revents)
				continue;
			r = read(fds[i], buf, sizeof(buf));
			if (r <= 0)
				fds[i] = -1;
			else
				output_add(dst[i], buf, (size_t)r);
		}
	}
	rc = gcs_process_wait(p, fds[0] >= 0 || fds[1] >= 0 ? 0 : PS_MS, ret_code, err);
	if (rc == -ETIMEDOUT)
		gcs_process_signal(p, SIGKILL, &(struct gcs_error){ 0 });
	gcs_process_free(p);
	if (rc == -ETIMEDOUT)
		return gcs_error_set(err, rc, HR_FAIL, "%s did not finish within %d s", argv[0],
				     PS_MS / 1000);
	return rc;
}

/* ---- ps ---- */

/* ps's output as a JSON string: bytes that are not UTF-8 (a command line's) become '?'. */
static json_t *text_json(char *buf, size_t len)
{
	json_t *j = json_stringn(buf ? buf : "", len);

	if (j || !buf)
		return j;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] >= 0x80)
			buf[i] = '?';
	return json_stringn(buf, len);
}

/*
 * `ps ARGS...` in the UVM: its output, or why not. Like runc, a ps that fails is "exit status N:"
 * with what it printed.
 */
static int run_ps(struct daemon *d, json_t *args, struct output *out, struct gcs_error *err)
{
	const char *argv[64];
	struct output errout = { .max = 65536 };
	uint32_t code = 0;
	size_t n = 0, i;
	json_t *v;
	int rc;

	argv[n++] = "ps";
	json_array_foreach(args, i, v) {
		if (!json_is_string(v) || n >= ARRAY_SIZE(argv))
			return gcs_error_set(err, -EINVAL, HR_FAIL, "ps: bad options (at most %zu)",
					     ARRAY_SIZE(argv) - 1);
		argv[n++] = json_string_value(v);
	}
	rc = uvm_command(d, argv, n, out, &errout, &code, err);
	if (rc == -EREMOTEIO && strstr(err->message, "not found")) {
		free(errout.buf);
		return gcs_error_set(err, -ENOENT, HR_FAIL,
				     "ps: the UVM has no ps program (%s); lcow's QEMU initrd has "
				     "none: `lcow ps --format json` lists the pids without it",
				     err->message);
	}
	if (rc < 0) {
		free(errout.buf);
		return gcs_error_prefix(err, rc, "run ps in the UVM");
	}
	if (code != 0) {
		rc = gcs_error_set(err, -EIO, HR_FAIL, "exit status %u: %s%s", code,
				   out->buf ? out->buf : "", errout.buf ? errout.buf : "");
		free(errout.buf);
		return rc;
	}
	free(errout.buf);
	if (out->truncated)
		return gcs_error_set(err, -EMSGSIZE, HR_FAIL,
				     "ps: more than %u bytes of output (or out of memory)", PS_MAX);
	return 0;
}

void op_ps(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	static const char *const types[] = { "ProcessList" };
	struct gcs_proto_get_properties_resp r = { 0 };
	struct gcs_error err = { 0 };
	json_t *args = json_object_get(req, "ps_args");
	struct output out = { .max = PS_MAX };
	struct ctr *x = ctr_find(d, c, req);
	json_t *pids, *reply;

	if (!x || uvm_gone(d, c)) {
		ctr_put(d, x);
		return;
	}
	pids = json_array();
	if (ctr_status_get(d, x) != CTR_STOPPED) {
		if (gcs_get_properties(vm_bridge(&d->vm), x->id, types, 1, &r, &err) < 0) {
			reply_err(c, NULL, "%s", err.message);
			json_decref(pids);
			ctr_put(d, x);
			return;
		}
		for (size_t i = 0; i < r.n_process_list; i++)
			json_array_append_new(pids, json_integer(r.process_list[i].process_id));
		gcs_proto_release(&r);
	}
	reply = json_pack("{s:o}", "pids", pids);
	if (json_is_array(args)) {
		if (run_ps(d, args, &out, &err) < 0) {
			reply_err(c, NULL, "%s", err.message);
			json_decref(reply);
			free(out.buf);
			ctr_put(d, x);
			return;
		}
		json_object_set_new(reply, "ps", text_json(out.buf, out.len));
		free(out.buf);
	}
	reply_ok(c, reply);
	ctr_put(d, x);
}

/* ---- update ---- */

void op_update(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	json_t *resources = json_object_get(req, "resources");
	struct gcs_error err = { 0 };
	struct ctr *x;
	int rc;

	if (!json_is_object(resources)) {
		reply_err(c, NULL, "update: malformed request");
		return;
	}
	x = ctr_find(d, c, req);
	if (!x || uvm_gone(d, c)) {
		ctr_put(d, x);
		return;
	}
	/* Serialized with the other changes of the container (start, pause, delete). */
	pthread_mutex_lock(&x->op);
	if (x->removed)
		rc = gcs_error_set(&err, -ENOENT, HR_FAIL, "container does not exist");
	else if (!live(ctr_status_get(d, x)))
		rc = gcs_error_set(&err, -ESRCH, HR_FAIL, "container not running");
	else
		rc = gcs_update_container_resources(vm_bridge(&d->vm), x->id, resources, &err);
	pthread_mutex_unlock(&x->op);
	if (rc < 0)
		reply_err(c, rc == -ENOENT ? "not-found" : NULL, "%s", err.message);
	else
		reply_ok(c, NULL);
	if (rc == 0)
		log_info("container %s: resources updated", x->id);
	ctr_put(d, x);
}

/* ---- stats and events ---- */

/* The agent's metrics of a live container; -ESRCH when it has stopped meanwhile. */
static int get_stats(struct daemon *d, struct ctr *x, json_t **ret, struct gcs_error *err)
{
	static const char *const types[] = { "Statistics" };
	struct gcs_proto_get_properties_resp r = { 0 };
	int rc = gcs_get_properties(vm_bridge(&d->vm), x->id, types, 1, &r, err);

	if (rc < 0)
		return rc;
	/* the agent answers a stopped container without metrics */
	*ret = json_incref(r.lcow_metrics);
	gcs_proto_release(&r);
	if (!*ret)
		return gcs_error_set(err, -ESRCH, HR_FAIL, "container with id %s is not running",
				     x->id);
	return 0;
}

static bool check_live(struct daemon *d, struct ctl_conn *c, struct ctr *x)
{
	if (live(ctr_status_get(d, x)))
		return true;
	reply_err(c, "not-running", "container with id %s is not running", x->id);
	return false;
}

void op_stats(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	struct gcs_error err = { 0 };
	struct ctr *x = ctr_find(d, c, req);
	json_t *m = NULL;
	int rc;

	if (!x || uvm_gone(d, c) || !check_live(d, c, x)) {
		ctr_put(d, x);
		return;
	}
	rc = get_stats(d, x, &m, &err);
	if (rc < 0)
		reply_err(c, rc == -ESRCH ? "not-running" : NULL, "%s", err.message);
	else
		reply_ok(c, json_pack("{s:o}", "metrics", m));
	ctr_put(d, x);
}

static void add_ms(struct timespec *ts, long long ms)
{
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Waits until the deadline or the container's stop: true when it stopped. */
static bool stopped_by(struct daemon *d, struct ctr *x, const struct timespec *deadline)
{
	bool stopped;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	while (x->status != CTR_STOPPED && rc == 0)
		rc = pthread_cond_timedwait(&d->cond, &d->lock, deadline);
	stopped = x->status == CTR_STOPPED;
	pthread_mutex_unlock(&d->lock);
	return stopped;
}

/* Whether the client closed its end (it sends nothing after the request). */
static bool client_gone(struct ctl_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLIN));
}

static bool send_line(struct ctl_conn *c, json_t *msg)
{
	bool ok;

	json_object_set_new(msg, "ok", json_true());
	ok = ctl_send(c, msg, NULL, 0) == 0;
	json_decref(msg);
	return ok;
}

/*
 * {"op":"events","id":ID,"interval_ms":N}: {"ok":true} at once, then every interval
 * {"ok":true,"metrics":{...}} (or {"ok":true,"stats_error":"..."} when the agent could not
 * tell: the stream goes on, as runc events logs such an error and goes on), until
 * {"ok":true,"stopped":true} when the container stops; {"ok":false,...} when the UVM goes.
 */
void op_events(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	json_int_t interval = json_integer_value(json_object_get(req, "interval_ms"));
	struct ctr *x;
	struct timespec next;

	if (interval <= 0) {
		reply_err(c, NULL, "duration interval must be greater than 0");
		return;
	}
	x = ctr_find(d, c, req);
	if (!x || uvm_gone(d, c) || !check_live(d, c, x)) {
		ctr_put(d, x);
		return;
	}
	if (!send_line(c, json_object())) {
		ctr_put(d, x);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &next);
	for (;;) {
		struct gcs_error err = { 0 };
		json_t *m = NULL;
		int rc;

		add_ms(&next, interval);
		if (stopped_by(d, x, &next)) {
			send_line(c, json_pack("{s:b}", "stopped", 1));
			break;
		}
		if (client_gone(c))
			break;
		if (uvm_gone(d, c))
			break;
		rc = get_stats(d, x, &m, &err);
		if (rc == -ESRCH) {
			send_line(c, json_pack("{s:b}", "stopped", 1));
			break;
		}
		if (!send_line(c, rc < 0 ? json_pack("{s:s}", "stats_error", err.message) :
					   json_pack("{s:o}", "metrics", m)))
			break;
	}
	ctr_put(d, x);
}
