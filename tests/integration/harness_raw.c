/* Integration harness: raw frames to and from the agent, every one checked. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/messages.h"

/* ---- the raw_request family ---- */

#define Z GCS_NULL_GUID_STRING

static void ensure_ids(struct agent_proc *ap, uint64_t id)
{
	size_t cap = ap->cap_ids ? ap->cap_ids : 256;

	if (id < ap->cap_ids)
		return;
	while (cap <= id)
		cap *= 2;
	ap->sent_types = realloc(ap->sent_types, cap * sizeof(*ap->sent_types));
	ap->answered = realloc(ap->answered, cap);
	ck_assert(ap->sent_types && ap->answered);
	memset(ap->sent_types + ap->cap_ids, 0, (cap - ap->cap_ids) * sizeof(*ap->sent_types));
	memset(ap->answered + ap->cap_ids, 0, cap - ap->cap_ids);
	ap->cap_ids = cap;
}

uint64_t raw_request(struct agent_proc *ap, uint32_t type, const char *json)
{
	uint64_t id = ap->next_id++;

	ensure_ids(ap, id);
	ap->sent_types[id] = type;
	raw_send(ap, type, id, json);
	return id;
}

static const char *type_name(uint32_t type, char *buf, unsigned len)
{
	return gcs_proto_msg_name(type, buf, len);
}

/*
 * Reads one frame within timeout_ms and checks it: 1 (kept), 0 (nothing came), -ESHUTDOWN (the
 * connection is gone).
 */
static int raw_read_one(struct agent_proc *ap, int timeout_ms)
{
	struct gcs_header h;
	char *body, name[64];
	size_t len;
	int rc = gcs_proto_read_frame(ap->raw_fd, GCS_MAX_GUEST_MESSAGE, timeout_ms, &h, &body,
				      &len);

	if (rc == -ETIMEDOUT)
		return 0;
	if (rc == -ESHUTDOWN || rc == -ECONNRESET || rc == -EPIPE)
		return -ESHUTDOWN;
	ck_assert_msg(rc == 0, "reading the bridge: %s%s", strerror(-rc),
		      rc == -EMSGSIZE ? " (a frame over 64 KiB: hcsshim kills the bridge)" :
		      rc == -EPROTO   ? " (the agent closed the bridge inside a frame)" :
					"");
	if (h.type == GCS_MSG_CONTAINER_NOTIFY) {
		json_t *o = json_loads(body, 0, NULL);

		ck_assert_msg(h.id == 0, "a notification with ID %llu: %s",
			      (unsigned long long)h.id, body);
		ck_assert_msg(json_is_object(o), "a notification that is not a JSON object: %s",
			      body);
		if (ap->n_notes < RAW_MAX_NOTES) {
			struct raw_note *n = &ap->notes[ap->n_notes];
			const char *cid = json_string_value(json_object_get(o, "ContainerId"));
			const char *t = json_string_value(json_object_get(o, "Type"));

			snprintf(n->cid, sizeof(n->cid), "%s", cid ? cid : "");
			snprintf(n->type, sizeof(n->type), "%s", t ? t : "");
			n->conn = ap->conn_first_id;
		}
		ap->n_notes++;
		json_decref(o);
		free(body);
		return 1;
	}
	ck_assert_msg((h.type & GCS_MSG_TYPE_MASK) == GCS_MSG_RESPONSE,
		      "the agent sent a frame of type 0x%08x (%s), ID %llu: %s", h.type,
		      type_name(h.type, name, sizeof(name)), (unsigned long long)h.id, body);
	ck_assert_msg(h.id >= ap->conn_first_id && h.id < ap->next_id,
		      "the agent answered ID %llu (%s), which was not sent on this connection "
		      "(IDs %llu..%llu): %s",
		      (unsigned long long)h.id, type_name(h.type, name, sizeof(name)),
		      (unsigned long long)ap->conn_first_id, (unsigned long long)ap->next_id - 1,
		      body);
	ck_assert_msg(!ap->answered[h.id], "ID %llu answered twice: %s", (unsigned long long)h.id,
		      body);
	ck_assert_msg(h.type == (GCS_MSG_RESPONSE | (ap->sent_types[h.id] & ~GCS_MSG_TYPE_MASK)),
		      "ID %llu (type 0x%08x) answered with type 0x%08x: %s",
		      (unsigned long long)h.id, ap->sent_types[h.id], h.type, body);
	ap->answered[h.id] = 1;
	if (ap->n_inbox == ap->cap_inbox) {
		ap->cap_inbox = ap->cap_inbox ? ap->cap_inbox * 2 : 16;
		ap->inbox = realloc(ap->inbox, ap->cap_inbox * sizeof(*ap->inbox));
		ck_assert_ptr_nonnull(ap->inbox);
	}
	ap->inbox[ap->n_inbox++] = (struct raw_frame){ h.type, h.id, body };
	return 1;
}

int raw_response(struct agent_proc *ap, uint64_t id, int timeout_ms, char **ret_body)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		int64_t left;
		int rc;

		for (size_t i = 0; i < ap->n_inbox; i++) {
			if (ap->inbox[i].id != id)
				continue;
			*ret_body = ap->inbox[i].body;
			ap->inbox[i] = ap->inbox[--ap->n_inbox];
			return 0;
		}
		left = deadline - harness_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		rc = raw_read_one(ap, (int)left);
		if (rc < 0)
			return rc;
	}
}

char *raw_call(struct agent_proc *ap, uint32_t type, const char *json, int timeout_ms)
{
	char name[64], tail[1024], *body = NULL;
	uint64_t id = raw_request(ap, type, json);
	int rc = raw_response(ap, id, timeout_ms, &body);

	if (rc == -ESHUTDOWN)
		agent_assert_running(ap, "instead of answering");
	ck_assert_msg(rc == 0, "%s (ID %llu) was not answered within %d ms (%s): %.300s%s%s",
		      type_name(type, name, sizeof(name)), (unsigned long long)id, timeout_ms,
		      rc == -ETIMEDOUT ? "timed out" : "the connection closed", json,
		      "\nagent.log ends:\n", agent_log_tail(ap, tail, sizeof(tail)));
	return body;
}

char *raw_call_result(struct agent_proc *ap, uint32_t type, const char *json, int32_t result,
		      int timeout_ms)
{
	char name[64], *body = raw_call(ap, type, json, timeout_ms);

	ck_assert_msg(json_result(body) == result, "%s: Result %d (0x%08x), want %d (0x%08x): %s",
		      type_name(type, name, sizeof(name)), json_result(body),
		      (uint32_t)json_result(body), result, (uint32_t)result, body);
	return body;
}

void raw_negotiate(struct agent_proc *ap)
{
	char *body = raw_call_result(ap, GCS_MSG_NEGOTIATE_PROTOCOL_REQ,
				     "{\"ContainerId\":\"\",\"ActivityId\":\"" Z
				     "\",\"MinimumVersion\":4,\"MaximumVersion\":4}\n",
				     0, 5000);

	ck_assert_msg(strstr(body, "\"Version\":4") != NULL, "NegotiateProtocol: %s", body);
	free(body);
	if (!ap->measured) {
		ap->baseline_fds = agent_fd_count(ap->pid);
		ap->measured = true;
	}
}

void raw_still_serving(struct agent_proc *ap)
{
	free(raw_call_result(ap, GCS_MSG_DUMP_STACKS_REQ,
			     "{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z "\"}", 0, 5000));
}

char *json_text(json_t *o)
{
	char *s;

	ck_assert_ptr_nonnull(o);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	ck_assert_ptr_nonnull(s);
	return s;
}

char *raw_modify(struct agent_proc *ap, const char *rt, const char *res, json_t *settings,
		 int timeout_ms)
{
	json_t *req = json_pack("{s:s, s:s}", "RequestType", rt, "ResourceType", res);
	char *body, *resp;

	if (settings)
		json_object_set_new(req, "Settings", settings);
	body = json_text(
		json_pack("{s:s, s:s, s:o}", "ContainerId", Z, "ActivityId", Z, "Request", req));
	resp = raw_call(ap, GCS_MSG_MODIFY_SETTINGS_REQ, body, timeout_ms);
	free(body);
	return resp;
}

void raw_modify_ok(struct agent_proc *ap, const char *rt, const char *res, json_t *settings)
{
	char *what = settings ? json_dumps(settings, JSON_COMPACT) : strdup("");
	char *resp = raw_modify(ap, rt, res, settings, 30000);

	ck_assert_msg(json_result(resp) == 0, "%s %s %s: %s", res, rt, what, resp);
	free(resp);
	free(what);
}

uint32_t raw_exec(struct agent_proc *ap, const char *cid, json_t *params)
{
	char *p = json_text(params);
	char *body = json_text(json_pack("{s:s, s:s, s:{s:s, s:{}}}", "ContainerId", cid ? cid : Z,
					 "ActivityId", Z, "Settings", "ProcessParameters", p,
					 "VsockStdioRelaySettings"));
	char *resp = raw_call(ap, GCS_MSG_EXECUTE_PROCESS_REQ, body, 20000);
	uint32_t pid;

	ck_assert_msg(json_result(resp) == 0, "ExecuteProcess %s: %s", p, resp);
	pid = (uint32_t)json_member_uint(resp, "ProcessId");
	ck_assert_msg(pid > 0, "ExecuteProcess: no ProcessId: %s", resp);
	free(resp);
	free(body);
	free(p);
	return pid;
}

uint32_t raw_exec_uvm(struct agent_proc *ap, const char *const *argv)
{
	json_t *args = json_array();

	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(args, json_string(argv[i]));
	return raw_exec(ap, NULL,
			json_pack("{s:o, s:s, s:{s:s, s:s}}", "CommandArgs", args,
				  "WorkingDirectory", "/", "Environment", "PATH",
				  "/usr/sbin:/usr/bin:/sbin:/bin", "LCOW_IT_DIR", ap->dir));
}

uint64_t raw_wait_start(struct agent_proc *ap, const char *cid, uint32_t pid)
{
	char *body = json_text(json_pack("{s:s, s:s, s:I, s:I}", "ContainerId", cid ? cid : Z,
					 "ActivityId", Z, "ProcessId", (json_int_t)pid,
					 "TimeoutInMs", (json_int_t)RAW_FOREVER));
	uint64_t id = raw_request(ap, GCS_MSG_WAIT_FOR_PROCESS_REQ, body);

	free(body);
	return id;
}

uint32_t raw_wait_end(struct agent_proc *ap, uint64_t id, int timeout_ms)
{
	char *body = NULL, tail[1024];
	int rc = raw_response(ap, id, timeout_ms, &body);
	uint32_t code;

	ck_assert_msg(rc == 0, "WaitForProcess (ID %llu) was not answered within %d ms (%s)%s%s",
		      (unsigned long long)id, timeout_ms,
		      rc == -ETIMEDOUT ? "timed out" : "the connection closed",
		      "; agent.log ends:\n", agent_log_tail(ap, tail, sizeof(tail)));
	ck_assert_msg(json_result(body) == 0, "WaitForProcess: %s", body);
	code = (uint32_t)json_member_uint(body, "ExitCode");
	free(body);
	return code;
}

int32_t raw_signal(struct agent_proc *ap, const char *cid, uint32_t pid, int sig)
{
	char *body = json_text(json_pack("{s:s, s:s, s:I, s:{s:i}}", "ContainerId", cid ? cid : Z,
					 "ActivityId", Z, "ProcessId", (json_int_t)pid, "Options",
					 "Signal", sig));
	char *resp = raw_call(ap, GCS_MSG_SIGNAL_PROCESS_REQ, body, 20000);
	int32_t r = json_result(resp);

	free(resp);
	free(body);
	return r;
}

size_t raw_quiet(struct agent_proc *ap, int ms)
{
	int64_t deadline = harness_now_ms() + ms;
	size_t n = 0;

	for (;;) {
		int64_t left = deadline - harness_now_ms();
		int rc;

		if (left <= 0)
			return n;
		rc = raw_read_one(ap, (int)left);
		if (rc < 0)
			return n;
		n += (size_t)rc;
	}
}

size_t raw_wait_notes(struct agent_proc *ap, size_t n, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	while (ap->n_notes < n) {
		int64_t left = deadline - harness_now_ms();

		if (left <= 0 || raw_read_one(ap, (int)left) < 0)
			break;
	}
	return ap->n_notes;
}

bool raw_wait_eof(struct agent_proc *ap, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	/* Whatever still comes on a connection that is being lost is not looked at. */
	for (;;) {
		struct pollfd p = { .fd = ap->raw_fd, .events = POLLIN };
		int64_t left = deadline - harness_now_ms();
		char buf[65536];
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return false;
		n = read(ap->raw_fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		ck_assert_msg(n > 0 || errno == EINTR || errno == EAGAIN, "read: %s",
			      strerror(errno));
	}
}

int32_t json_result(const char *body)
{
	json_t *o = json_loads(body, 0, NULL);
	int32_t r;

	ck_assert_msg(json_is_object(o), "not a JSON object: %s", body);
	ck_assert_msg(json_is_integer(json_object_get(o, "Result")), "no Result: %s", body);
	r = (int32_t)json_integer_value(json_object_get(o, "Result"));
	json_decref(o);
	return r;
}

char *json_member_str(const char *body, const char *key)
{
	json_t *o = json_loads(body, 0, NULL);
	const char *v;
	char *s;

	ck_assert_msg(json_is_object(o), "not a JSON object: %s", body);
	v = json_string_value(json_object_get(o, key));
	s = strdup(v ? v : "");
	json_decref(o);
	ck_assert_ptr_nonnull(s);
	return s;
}

uint64_t json_member_uint(const char *body, const char *key)
{
	json_t *o = json_loads(body, 0, NULL);
	uint64_t v;

	ck_assert_msg(json_is_object(o), "not a JSON object: %s", body);
	v = (uint64_t)json_integer_value(json_object_get(o, key));
	json_decref(o);
	return v;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	ck_assert_ptr_nonnull(*buf);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

void run_uvm(struct agent_proc *ap, const char *const *argv, const char *const *env,
	     const char *cwd, const char *in, struct run_result *ret)
{
	struct gcs_proto_env envs[32];
	struct gcs_proto_process_params pp = { .working_directory = cwd };
	struct gcs_exec_options o = { .params = &pp };
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	size_t n = 0, in_off = 0, in_len = in ? strlen(in) : 0;
	int fds[3];

	while (argv[n])
		n++;
	pp.command_args = argv;
	pp.n_command_args = n;
	for (n = 0; env && env[n]; n++) {
		static char names[32][64];
		const char *eq = strchr(env[n], '=');
		ck_assert_uint_lt(n, 32);
		snprintf(names[n], sizeof(names[n]), "%.*s", (int)(eq - env[n]), env[n]);
		envs[n] = (struct gcs_proto_env){ names[n], eq + 1 };
	}
	pp.environment = envs;
	pp.n_environment = n;
	if (in)
		o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDERR].mode = GCS_STDIO_SOCKET;
	ck_assert_msg(gcs_process_exec(ap->b, &o, &p, &err) == 0, "exec: %s", err.message);
	memset(ret, 0, sizeof(*ret));
	append(&ret->out, &ret->out_len, "", 0);
	append(&ret->err, &ret->err_len, "", 0);
	for (int i = 0; i < 3; i++)
		fds[i] = gcs_process_stdio_fd(p, i);
	if (in && in_len == 0)
		ck_assert_int_eq(gcs_process_close_stdin(p), 0);
	while (fds[1] >= 0 || fds[2] >= 0) {
		struct pollfd pf[3] = {
			{ .fd = (in && in_off < in_len) ? fds[0] : -1, .events = POLLOUT },
			{ .fd = fds[1], .events = POLLIN },
			{ .fd = fds[2], .events = POLLIN },
		};
		char buf[65536];
		ck_assert_int_gt(poll(pf, 3, 20000), 0);
		if (pf[0].revents) {
			ssize_t w = send(fds[0], in + in_off, in_len - in_off, MSG_NOSIGNAL);
			ck_assert_int_gt(w, 0);
			in_off += (size_t)w;
			if (in_off == in_len)
				ck_assert_int_eq(gcs_process_close_stdin(p), 0);
		}
		for (int i = 1; i < 3; i++) {
			if (!pf[i].revents)
				continue;
			ssize_t r = read(fds[i], buf, sizeof(buf));
			ck_assert_int_ge(r, 0);
			if (r == 0)
				fds[i] = -1;
			else if (i == 1)
				append(&ret->out, &ret->out_len, buf, (size_t)r);
			else
				append(&ret->err, &ret->err_len, buf, (size_t)r);
		}
	}
	ck_assert_msg(gcs_process_wait(p, 20000, &ret->exit_code, &err) == 0, "wait: %s",
		      err.message);
	gcs_process_free(p);
}

void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
}

char *transcript_body(bool to_guest, uint32_t type, uint64_t id, bool strip_trace)
{
	FILE *f = fopen(LCOW_TESTDATA "/transcript-hcsshim-v0.12.5.txt", "re");
	char line[8192], *body = NULL;

	ck_assert_ptr_nonnull(f);
	while (!body && fgets(line, sizeof(line), f)) {
		char dir[8], *p = strchr(line, ']'), *o, *end;
		unsigned long long rid;
		unsigned rtype, size;
		int off = 0;

		if (line[0] != '[' || !p ||
		    sscanf(p + 1, " %4s type=0x%x%*s size=%u id=%llu %n", dir, &rtype, &size, &rid,
			   &off) != 4 ||
		    rtype != type || rid != id || (strcmp(dir, "H->G") == 0) != to_guest)
			continue;
		line[strcspn(line, "\n")] = '\0';
		body = strdup(p + 1 + off);
		ck_assert_ptr_nonnull(body);
		/* "ocsc":{"TraceID":"...","SpanID":"..."}, holds no nested object. */
		if (strip_trace && (o = strstr(body, "\"ocsc\":{")) && (end = strstr(o, "},")))
			memmove(o, end + 2, strlen(end + 2) + 1);
	}
	fclose(f);
	return body;
}

char *str_replace_all(char *s, const char *from, const char *to)
{
	size_t n = 0, lf = strlen(from), lt = strlen(to);
	char *out;

	for (const char *p = s; (p = strstr(p, from)); p += lf)
		n++;
	out = malloc(strlen(s) + n * lt + 1);
	ck_assert_ptr_nonnull(out);
	n = 0;
	for (const char *p = s; *p;) {
		if (strncmp(p, from, lf) == 0) {
			memcpy(out + n, to, lt);
			n += lt;
			p += lf;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	free(s);
	return out;
}

void json_keys(const char *body, char *out, size_t len)
{
	json_t *o = json_loads(body, 0, NULL);
	const char *keys[32], *k;
	json_t *v;
	size_t n = 0, used = 0;

	ck_assert_msg(json_is_object(o), "not a JSON object: %s", body);
	json_object_foreach(o, k, v) {
		(void)v;
		if (n < 32)
			keys[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(keys[j], keys[i]) < 0) {
				const char *t = keys[i];
				keys[i] = keys[j];
				keys[j] = t;
			}
	out[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s,", keys[i]);
	json_decref(o);
}
