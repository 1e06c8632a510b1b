/*
 * The daemon's queries and updates of a container (the requests of lcow ps, update, events),
 * through the runtime (lcow/runtime.h):
 *
 * ps: the container's pids, and for the table `ps` with the CLI's options, run as a process of
 * the UVM (not of the container), whose output goes back as it is: the CLI keeps the header and
 * the lines of the container's pids.
 * update: an OCI LinuxResources object for the container's limits.
 * stats: the agent's LCOWMetrics (containerd's cgroup metrics).
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

#define PS_MS 30000
/* ps's output goes back on one control line (CTL_MAX_LINE): the table must fit well within. */
#define PS_MAX (2u << 20)

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
static int run_ps(struct daemon *d, json_t *args, struct lcow_rt_output *out, struct gcs_error *err)
{
	const char *argv[64];
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
	rc = lcow_rt_uvm_command(d->rt, argv, n, PS_MAX, PS_MS, out, err);
	if (rc == -EREMOTEIO && strstr(err->message, "not found"))
		return gcs_error_set(err, -ENOENT, HR_FAIL,
				     "ps: the UVM has no ps program (%s); lcow's QEMU initrd has "
				     "none: `lcow ps --format json` lists the pids without it",
				     err->message);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "run ps in the UVM");
	if (out->code != 0)
		return gcs_error_set(err, -EIO, HR_FAIL, "exit status %u: %s%s", out->code,
				     out->out ? out->out : "", out->err ? out->err : "");
	if (out->truncated)
		return gcs_error_set(err, -EMSGSIZE, HR_FAIL,
				     "ps: more than %u bytes of output (or out of memory)", PS_MAX);
	return 0;
}

static void op_ps(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	json_t *args = json_object_get(req, "ps_args");
	struct lcow_rt_ctr *x = ctr_find(d, c, req);
	struct lcow_rt_output out = { 0 };
	struct gcs_error err = { 0 };
	uint32_t *pids = NULL;
	json_t *list, *reply;
	size_t n = 0;

	(void)fds;
	(void)n_fds;
	if (!x || uvm_gone(d, c)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	if (lcow_rt_pids(d->rt, x, &pids, &n, &err) < 0) {
		reply_err(c, NULL, "%s", err.message);
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_integer(pids[i]));
	free(pids);
	reply = json_pack("{s:o}", "pids", list);
	if (json_is_array(args)) {
		if (run_ps(d, args, &out, &err) < 0) {
			reply_err(c, NULL, "%s", err.message);
			json_decref(reply);
			lcow_rt_output_free(&out);
			lcow_rt_ctr_put(d->rt, x);
			return;
		}
		json_object_set_new(reply, "ps", text_json(out.out, out.out_len));
		lcow_rt_output_free(&out);
	}
	reply_ok(c, reply);
	lcow_rt_ctr_put(d->rt, x);
}

/* ---- update ---- */

static void op_update(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	json_t *resources = json_object_get(req, "resources");
	struct gcs_error err = { 0 };
	struct lcow_rt_ctr *x;
	int rc;

	(void)fds;
	(void)n_fds;
	if (!json_is_object(resources)) {
		reply_err(c, NULL, "update: malformed request");
		return;
	}
	x = ctr_find(d, c, req);
	if (!x || uvm_gone(d, c)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	rc = lcow_rt_update(d->rt, x, resources, &err);
	if (rc < 0)
		reply_rt_err(c, rc, &err);
	else
		reply_ok(c, NULL);
	lcow_rt_ctr_put(d->rt, x);
}

/* ---- stats and events ---- */

static bool check_live(struct daemon *d, struct ctl_conn *c, struct lcow_rt_ctr *x)
{
	struct lcow_rt_state s;

	lcow_rt_ctr_state(d->rt, x, &s);
	if (s.status == LCOW_RT_CREATED || s.status == LCOW_RT_RUNNING ||
	    s.status == LCOW_RT_PAUSED)
		return true;
	reply_err(c, "not-running", "container with id %s is not running", lcow_rt_ctr_id(x));
	return false;
}

static void op_stats(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	struct lcow_rt_ctr *x = ctr_find(d, c, req);
	struct gcs_error err = { 0 };
	json_t *m = NULL;
	int rc;

	(void)fds;
	(void)n_fds;
	if (!x || uvm_gone(d, c) || !check_live(d, c, x)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	rc = lcow_rt_stats(d->rt, x, &m, &err);
	if (rc < 0)
		reply_err(c, rc == -ESRCH ? "not-running" : NULL, "%s", err.message);
	else
		reply_ok(c, json_pack("{s:o}", "metrics", m));
	lcow_rt_ctr_put(d->rt, x);
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
static void op_events(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds)
{
	json_int_t interval = json_integer_value(json_object_get(req, "interval_ms"));
	struct lcow_rt_ctr *x;
	int64_t next;

	(void)fds;
	(void)n_fds;
	if (interval <= 0) {
		reply_err(c, NULL, "duration interval must be greater than 0");
		return;
	}
	x = ctr_find(d, c, req);
	if (!x || uvm_gone(d, c) || !check_live(d, c, x)) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	if (!send_line(c, json_object())) {
		lcow_rt_ctr_put(d->rt, x);
		return;
	}
	next = time_now_ms();
	for (;;) {
		struct gcs_error err = { 0 };
		json_t *m = NULL;
		uint32_t code;
		int rc;

		next += interval;
		/* until the next tick, or the container's stop */
		rc = lcow_rt_wait(d->rt, x, 0, time_left_ms(next), &code, &err);
		if (rc != -ETIMEDOUT) {
			send_line(c, json_pack("{s:b}", "stopped", 1));
			break;
		}
		if (client_gone(c))
			break;
		if (uvm_gone(d, c))
			break;
		rc = lcow_rt_stats(d->rt, x, &m, &err);
		if (rc == -ESRCH) {
			send_line(c, json_pack("{s:b}", "stopped", 1));
			break;
		}
		if (!send_line(c, rc < 0 ? json_pack("{s:s}", "stats_error", err.message) :
					   json_pack("{s:o}", "metrics", m)))
			break;
	}
	lcow_rt_ctr_put(d->rt, x);
}

const struct daemon_op daemon_query_ops[] = {
	{ "ps", op_ps, false },
	{ "update", op_update, false },
	{ "stats", op_stats, false },
	{ "events", op_events, false },
};
const size_t daemon_n_query_ops = ARRAY_SIZE(daemon_query_ops);
