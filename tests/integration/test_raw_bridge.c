/*
 * The agent at the frame level: the negative cases of spec section 14.1 with their HRESULTs
 * (the agent keeps serving after each), and a replay of the UVM-process part of the recorded
 * hcsshim session (ids 0-9) compared with the Go GCS's answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcs/guid.h"
#include "gcs/messages.h"
#include "harness.h"

#define Z GCS_NULL_GUID_STRING
#define NEGOTIATE                                   \
	"{\"ContainerId\":\"\",\"ActivityId\":\"" Z \
	"\",\"MinimumVersion\":4,\"MaximumVersion\":4}\n"

static int32_t result_of(const char *body)
{
	json_t *o = json_loads(body, 0, NULL);
	int32_t r;

	ck_assert_msg(o != NULL, "not JSON: %s", body);
	r = (int32_t)json_integer_value(json_object_get(o, "Result"));
	json_decref(o);
	return r;
}

/* Sends one request and expects its answer (same ID, derived type) with the given Result. */
static char *expect(struct agent_proc *ap, uint32_t type, uint64_t id, const char *json,
		    int32_t result)
{
	uint32_t rtype;
	uint64_t rid;
	char *body;

	raw_send(ap, type, id, json);
	raw_recv(ap, &rtype, &rid, &body);
	ck_assert_uint_eq(rid, id);
	ck_assert_uint_eq(rtype, 0x20000000u | (type & 0x0FFFFFFFu));
	ck_assert_msg(result_of(body) == result, "Result %d, want %d: %s", result_of(body), result,
		      body);
	return body;
}

static void still_serving(struct agent_proc *ap, uint64_t id)
{
	free(expect(ap, GCS_MSG_DUMP_STACKS_REQ, id, "{\"ContainerId\":\"" Z "\"}", 0));
}

START_TEST(test_negative_cases)
{
	struct agent_proc ap;
	char *body;

	agent_start_raw(&ap);
	/* A request before NegotiateProtocol: E_NOTIMPL, ActivityId echoed. */
	body = expect(&ap, GCS_MSG_EXECUTE_PROCESS_REQ, 0,
		      "{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z "\"}", -2147467263);
	ck_assert_ptr_nonnull(strstr(body, "\"ActivityId\":\"" Z "\""));
	free(body);
	/* A version range without 4. */
	free(expect(&ap, GCS_MSG_NEGOTIATE_PROTOCOL_REQ, 0,
		    "{\"ContainerId\":\"\",\"ActivityId\":\"" Z
		    "\",\"MinimumVersion\":3,\"MaximumVersion\":3}\n",
		    -1070137076));
	free(expect(&ap, GCS_MSG_NEGOTIATE_PROTOCOL_REQ, 0,
		    "{\"ContainerId\":\"\",\"MinimumVersion\":5,\"MaximumVersion\":9}",
		    -1070137076));
	/* Then a good one; a second one is not routed any more. */
	body = expect(&ap, GCS_MSG_NEGOTIATE_PROTOCOL_REQ, 0, NEGOTIATE, 0);
	ck_assert_ptr_nonnull(strstr(body, "\"Version\":4"));
	ck_assert_ptr_nonnull(strstr(body, "\"RuntimeOsType\":\"Linux\""));
	ck_assert_ptr_nonnull(strstr(body, "\"GuestDefinedCapabilities\":{"));
	free(body);
	free(expect(&ap, GCS_MSG_NEGOTIATE_PROTOCOL_REQ, 1, NEGOTIATE, -2147467263));
	/* Bad JSON. */
	free(expect(&ap, GCS_MSG_WAIT_FOR_PROCESS_REQ, 2, "this is not json", -1070137075));
	free(expect(&ap, GCS_MSG_EXECUTE_PROCESS_REQ, 3,
		    "{\"ContainerId\":\"" Z "\",\"Settings\":{\"ProcessParameters\":\"{bad\"}}",
		    -1070137075));
	free(expect(&ap, GCS_MSG_WAIT_FOR_PROCESS_REQ, 4, "{\"ProcessId\":\"12\"}", -1070137075));
	/* An unknown type: E_NOTIMPL under the derived response type. */
	free(expect(&ap, 0x10109901, 5, "{\"ContainerId\":\"" Z "\"}", -2147467263));
	free(expect(&ap, GCS_MSG_UPDATE_CONTAINER_REQ, 6, "{\"ContainerId\":\"c\"}", -2147467263));
	/* Unknown process and container. */
	free(expect(&ap, GCS_MSG_SIGNAL_PROCESS_REQ, 7,
		    "{\"ContainerId\":\"" Z "\",\"ProcessId\":999999,\"Options\":{\"Signal\":15}}",
		    -2147023728));
	free(expect(&ap, GCS_MSG_WAIT_FOR_PROCESS_REQ, 8,
		    "{\"ContainerId\":\"" Z "\",\"ProcessId\":999999,\"TimeoutInMs\":50}",
		    -2147023728));
	free(expect(&ap, GCS_MSG_SIGNAL_PROCESS_REQ, 9,
		    "{\"ContainerId\":\"nope\",\"ProcessId\":1,\"Options\":{\"Signal\":15}}",
		    -1070137074));
	free(expect(&ap, GCS_MSG_SHUTDOWN_GRACEFUL_REQ, 10, "{\"ContainerId\":\"nope\"}",
		    -1070137074));
	/* A process with a stdio flag but no port. */
	free(expect(&ap, GCS_MSG_EXECUTE_PROCESS_REQ, 11,
		    "{\"ContainerId\":\"" Z "\",\"Settings\":{\"ProcessParameters\":"
		    "\"{\\\"CommandArgs\\\":[\\\"/bin/true\\\"],\\\"CreateStdOutPipe\\\":true}\","
		    "\"VsockStdioRelaySettings\":{}}}",
		    -2147024809));
	still_serving(&ap, 12);
	agent_stop(&ap);
}
END_TEST

/* A frame with Size < 16 is fatal to the connection: the agent logs it and exits non-zero. */
START_TEST(test_bad_frame_size)
{
	struct agent_proc ap;
	uint8_t hdr[16] = { 0x01, 0x0b, 0x10, 0x10, 8, 0, 0, 0 };
	int status = -1;

	agent_start_raw(&ap);
	ck_assert_int_eq(write(ap.raw_fd, hdr, sizeof(hdr)), 16);
	for (int i = 0; i < 500 && waitpid(ap.pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
	close(ap.raw_fd);
	gcs_transport_unlisten(ap.t, GCS_PORT_BRIDGE, ap.listen_fd);
	gcs_transport_free(ap.t);
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd),
			 "grep -q 'bridge connection lost' %s/agent.log && rm -rf %s", ap.dir,
			 ap.dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

/* hcsshim's command line parses; ShutdownForced on the UVM answers and the agent exits 0. */
START_TEST(test_hcsshim_cmdline_and_shutdown)
{
	char dir[] = "/tmp/lcow-it-XXXXXX", spec[64], transport[64];
	struct gcs_transport *t;
	int lfd, fd, status = -1;
	uint32_t type;
	uint64_t id;
	char *body;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "unix:%s/hv", dir);
	snprintf(transport, sizeof(transport), "unix:%s/hv", dir);
	ck_assert_int_eq(gcs_transport_parse(spec, &t), 0);
	ck_assert_int_eq(gcs_transport_listen(t, GCS_PORT_BRIDGE, &lfd), 0);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 2);
		execl(LCOW_AGENT, "gcs", "-v4", "-log-format", "json", "-loglevel", "debug",
		      "--transport", transport, NULL);
		_exit(127);
	}
	ck_assert_int_eq(gcs_transport_accept(lfd, 10000, &fd), 0);
	{
		struct agent_proc ap = { .raw_fd = fd };
		raw_send(&ap, GCS_MSG_NEGOTIATE_PROTOCOL_REQ, 0, NEGOTIATE);
		raw_recv(&ap, &type, &id, &body);
		ck_assert_int_eq(result_of(body), 0);
		free(body);
		raw_send(&ap, GCS_MSG_SHUTDOWN_FORCED_REQ, 1, "{\"ContainerId\":\"" Z "\"}\n");
		raw_recv(&ap, &type, &id, &body);
		ck_assert_uint_eq(type, GCS_MSG_SHUTDOWN_FORCED_RESP);
		ck_assert_int_eq(result_of(body), 0);
		free(body);
	}
	for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	close(fd);
	gcs_transport_unlisten(t, GCS_PORT_BRIDGE, lfd);
	gcs_transport_free(t);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Nobody listening: 10 dials 100 ms apart, then a log line and a non-zero exit. */
START_TEST(test_dial_retries_then_exits)
{
	char dir[] = "/tmp/lcow-it-XXXXXX", transport[64], log[64], cmd[160];
	struct timespec t0, t1;
	int status = -1;
	double secs;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(transport, sizeof(transport), "unix:%s/hv", dir);
	snprintf(log, sizeof(log), "%s/agent.log", dir);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT, 0644);
		dup2(fd, 2);
		execl(LCOW_AGENT, "gcs", "--transport", transport, NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
	ck_assert_msg(secs >= 0.9 && secs < 10, "gave up after %.2f s", secs);
	snprintf(cmd, sizeof(cmd), "grep -q 'cannot reach the host' %s && rm -rf %s", log, dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- transcript replay ---- */

struct tline {
	bool to_guest;
	uint32_t type;
	uint64_t id;
	char *body;
};

static size_t load(struct tline *lines, size_t cap, uint64_t max_id)
{
	FILE *f = fopen(LCOW_TESTDATA "/transcript-hcsshim-v0.12.5.txt", "r");
	char buf[8192];
	size_t n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(buf, sizeof(buf), f)) {
		char dir[8], *p;
		unsigned long long id;
		unsigned type, size;
		int off = 0;

		if (buf[0] != '[' || !(p = strchr(buf, ']')))
			continue;
		if (sscanf(p + 1, " %4s type=0x%x%*s size=%u id=%llu %n", dir, &type, &size, &id,
			   &off) != 4 ||
		    id > max_id)
			continue;
		/* Responses for ids beyond the range come from the latency loop. */
		if (id == 0 && type != GCS_MSG_NEGOTIATE_PROTOCOL_REQ &&
		    type != GCS_MSG_NEGOTIATE_PROTOCOL_RESP)
			continue;
		ck_assert_uint_lt(n, cap);
		buf[strcspn(buf, "\n")] = '\0';
		lines[n] =
			(struct tline){ strcmp(dir, "H->G") == 0, type, id, strdup(p + 1 + off) };
		n++;
	}
	fclose(f);
	return n;
}

static const struct tline *find(const struct tline *l, size_t n, bool to_guest, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].to_guest == to_guest && l[i].id == id)
			return &l[i];
	return NULL;
}

/* Top-level keys of a JSON object, sorted and joined, for comparing shapes (malloc'd). */
static char *shape(const char *body)
{
	char *out = calloc(1, 1024);

	ck_assert_ptr_nonnull(out);
	json_keys(body, out, 1024);
	return out;
}

/* Replaces "ProcessId":<from> with <to> in a body (malloc'd result). */
static char *sub_pid(const char *body, uint32_t from, uint32_t to)
{
	char needle[64], repl[64], *out = malloc(strlen(body) + 32);
	const char *p;

	snprintf(needle, sizeof(needle), "\"ProcessId\":%u", from);
	snprintf(repl, sizeof(repl), "\"ProcessId\":%u", to);
	p = strstr(body, needle);
	if (!p) {
		strcpy(out, body);
		return out;
	}
	sprintf(out, "%.*s%s%s", (int)(p - body), body, repl, p + strlen(needle));
	return out;
}

static uint32_t pid_of(const char *body)
{
	json_t *o = json_loads(body, 0, NULL);
	uint32_t pid = (uint32_t)json_integer_value(json_object_get(o, "ProcessId"));

	json_decref(o);
	return pid;
}

struct replay {
	struct agent_proc ap;
	const struct tline *lines;
	size_t n;
	char *got[16]; /* our responses by id */
	uint32_t got_type[16];
	uint32_t pid_map[16][2]; /* transcript pid -> ours */
	size_t n_pids;
};

static void recv_until(struct replay *r, uint64_t id)
{
	while (!r->got[id]) {
		uint32_t type;
		uint64_t rid;
		char *body;

		raw_recv(&r->ap, &type, &rid, &body);
		ck_assert_uint_lt(rid, 16);
		ck_assert_ptr_null(r->got[rid]);
		r->got[rid] = body;
		r->got_type[rid] = type;
	}
}

static char *map_pids(struct replay *r, const char *body)
{
	char *cur = strdup(body);

	for (size_t i = 0; i < r->n_pids; i++) {
		char *next = sub_pid(cur, r->pid_map[i][0], r->pid_map[i][1]);
		free(cur);
		cur = next;
	}
	return cur;
}

/* Sends the recorded request of this id (with our pids), listening on its stdio ports first. */
static void send_recorded(struct replay *r, uint64_t id, int *ret_fds)
{
	const struct tline *req = find(r->lines, r->n, true, id);
	struct gcs_proto_execute_process_req m;
	struct gcs_error err = { 0 };
	int listen_fds[3] = { -1, -1, -1 };
	uint32_t ports[3] = { 0 };
	char *body;

	ck_assert_ptr_nonnull(req);
	if (req->type == GCS_MSG_EXECUTE_PROCESS_REQ) {
		ck_assert_int_eq(
			gcs_proto_decode(req->type, req->body, strlen(req->body), &m, &err), 0);
		ports[0] = m.vsock_stdio.stdin_port;
		ports[1] = m.vsock_stdio.stdout_port;
		ports[2] = m.vsock_stdio.stderr_port;
		gcs_proto_release(&m);
		for (int i = 0; i < 3; i++)
			if (ports[i])
				ck_assert_int_eq(
					gcs_transport_listen(r->ap.t, ports[i], &listen_fds[i]), 0);
	}
	body = map_pids(r, req->body);
	{
		/* The host's bodies end with json.Encoder's newline. */
		char *nl = malloc(strlen(body) + 2);
		sprintf(nl, "%s\n", body);
		raw_send(&r->ap, req->type, id, nl);
		free(nl);
	}
	free(body);
	for (int i = 0; i < 3; i++) {
		ret_fds[i] = -1;
		if (listen_fds[i] < 0)
			continue;
		ck_assert_int_eq(gcs_transport_accept(listen_fds[i], 5000, &ret_fds[i]), 0);
		gcs_transport_unlisten(r->ap.t, ports[i], listen_fds[i]);
	}
}

static void check_answer(struct replay *r, uint64_t id)
{
	const struct tline *want = find(r->lines, r->n, false, id);
	char *a, *b;

	recv_until(r, id);
	ck_assert_ptr_nonnull(want);
	ck_assert_uint_eq(r->got_type[id], want->type);
	a = shape(r->got[id]);
	b = shape(want->body);
	ck_assert_msg(strcmp(a, b) == 0, "id %llu: shape %s, the Go GCS's %s",
		      (unsigned long long)id, a, b);
	free(a);
	free(b);
	if (want->type == GCS_MSG_EXECUTE_PROCESS_RESP) {
		r->pid_map[r->n_pids][0] = pid_of(want->body);
		r->pid_map[r->n_pids][1] = pid_of(r->got[id]);
		r->n_pids++;
	}
}

static char *read_all(int fd)
{
	char *buf = calloc(1, 65536);
	size_t n = 0;
	ssize_t k;

	while ((k = read(fd, buf + n, 65535 - n)) > 0)
		n += (size_t)k;
	close(fd);
	return buf;
}

START_TEST(test_transcript_replay)
{
	struct tline lines[64];
	struct replay r = { 0 };
	int fds[3];
	char *out;

	r.lines = lines;
	r.n = load(lines, 64, 9);
	agent_start_raw(&r.ap);

	send_recorded(&r, 0, fds);
	check_answer(&r, 0);

	/* 1-2: echo through stdout */
	send_recorded(&r, 1, fds);
	check_answer(&r, 1);
	out = read_all(fds[1]);
	ck_assert_str_eq(out, "hello-from-guest\n");
	free(out);
	send_recorded(&r, 2, fds);
	check_answer(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.got[2], "\"ExitCode\":0"));

	/* 3-4: cat through stdin */
	send_recorded(&r, 3, fds);
	check_answer(&r, 3);
	ck_assert_int_eq(write(fds[0], "ping through stdin", 18), 18);
	shutdown(fds[0], SHUT_WR);
	{
		int none[3];
		send_recorded(&r, 4, none);
	}
	check_answer(&r, 4);
	out = read_all(fds[1]);
	ck_assert_str_eq(out, "ping through stdin");
	free(out);
	close(fds[0]);

	/*
	 * 5-7: sleep 3, a parked wait, SIGTERM. The Go GCS refuses to signal UVM processes
	 * (HCS_E_SYSTEM_NOT_FOUND) and its sleep ran for 3 s; lcow delivers the signal, so the
	 * answer to 7 is a success and the wait ends with 143 at once. That is the one intended
	 * difference: the answer to 7 is compared with a success's shape.
	 */
	send_recorded(&r, 5, fds);
	check_answer(&r, 5);
	send_recorded(&r, 6, fds);
	send_recorded(&r, 7, fds);
	recv_until(&r, 7);
	ck_assert_uint_eq(r.got_type[7], GCS_MSG_SIGNAL_PROCESS_RESP);
	ck_assert_str_eq(r.got[7], "{\"Result\":0,\"ActivityId\":\"" Z "\"}");
	check_answer(&r, 6);
	ck_assert_ptr_nonnull(strstr(r.got[6], "\"ExitCode\":143"));

	/* 8 is not in the recording (the latency loop's /bin/true); 9 waits for it. */
	raw_send(&r.ap, GCS_MSG_EXECUTE_PROCESS_REQ, 8,
		 "{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z "\",\"Settings\":{"
		 "\"ProcessParameters\":\"{\\\"CommandArgs\\\":[\\\"/bin/true\\\"]}\","
		 "\"VsockStdioRelaySettings\":{}}}\n");
	check_answer(&r, 8);
	send_recorded(&r, 9, fds);
	check_answer(&r, 9);
	ck_assert_ptr_nonnull(strstr(r.got[9], "\"ExitCode\":0"));

	for (size_t i = 0; i < 16; i++)
		free(r.got[i]);
	for (size_t i = 0; i < r.n; i++)
		free(lines[i].body);
	agent_stop(&r.ap);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("raw-bridge");
	TCase *tc = tcase_create("frames");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_negative_cases);
	tcase_add_test(tc, test_bad_frame_size);
	tcase_add_test(tc, test_transcript_replay);
	tcase_add_test(tc, test_hcsshim_cmdline_and_shutdown);
	tcase_add_test(tc, test_dial_retries_then_exits);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
