/*
 * The agent's bridge under stress, on raw frames: a lost connection (bad frames, EOF) ends only
 * that connection and the agent redials with everything else kept; a stdio port whose listener
 * never accepts does not stall the bridge; every message type gets an answer; an empty
 * container ID is not the utility VM; responses the host does not read stop the agent's reading
 * (bounded memory); log lines stay JSON whatever the logged values hold.
 *
 * Every test ends with the harness's checks: no leaked agent fds, no zombies, no mounts, no
 * loop devices, the temp dirs removed (and runc state and cgroups where a container ran).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/messages.h"
#include "harness.h"

#define Z GCS_NULL_GUID_STRING
#define BASE(cid) "{\"ContainerId\":\"" cid "\",\"ActivityId\":\"" Z "\"}"
/* How long "nothing more arrives" is watched for. */
#define QUIET_MS 300
/* A redialing agent must be back within this (it redials every 100 ms). */
#define REDIAL_MS 2000

static const char *const redial_args[] = { "--reconnect", "100", NULL };

static void start_raw(struct agent_proc *ap, const char *const *args, const char *const *env)
{
	agent_start_opts(ap, &(struct agent_start_opts){ .raw = true,
							 .args = args,
							 .env = env,
							 .parent_dir = harness_layers.dir });
	raw_negotiate(ap);
}

static bool alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	bool running = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		running = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return running;
}

/* ---- losing the connection ---- */

enum loss { LOSS_SHORT, LOSS_OVERSIZE, LOSS_TRUNCATED, LOSS_EOF };

/*
 * Ends the current connection: a frame with Size 8, one with Size 4 MiB + 1 (both must make the
 * agent close it, within 2 s), a header announcing 200 bytes followed by 50 and our close, or
 * just our close.
 */
static void lose(struct agent_proc *ap, enum loss how)
{
	char partial[50];
	struct gcs_header h = { .type = GCS_MSG_DUMP_STACKS_REQ, .id = 0x7fff0000u + how };
	uint8_t hdr[GCS_HEADER_SIZE];

	memset(partial, ' ', sizeof(partial));
	memcpy(partial, "{\"ContainerId\":\"", 16);
	if (how == LOSS_EOF) {
		close(ap->raw_fd);
		ap->raw_fd = -1;
		return;
	}
	h.size = how == LOSS_SHORT ? 8 : how == LOSS_OVERSIZE ? GCS_DEFAULT_MAX_INBOUND + 1 : 200;
	gcs_proto_header_encode(&h, hdr);
	ck_assert_int_eq(gcs_proto_write_all(ap->raw_fd, hdr, sizeof(hdr), 5000), 0);
	if (how == LOSS_TRUNCATED) {
		ck_assert_int_eq(gcs_proto_write_all(ap->raw_fd, partial, sizeof(partial), 5000),
				 0);
		close(ap->raw_fd);
		ap->raw_fd = -1;
		return;
	}
	ck_assert_msg(raw_wait_eof(ap, REDIAL_MS),
		      "the agent did not close the connection within %d ms of a frame with Size %u",
		      REDIAL_MS, h.size);
}

/* The new connection starts un-negotiated: a request before NegotiateProtocol is E_NOTIMPL. */
static void renegotiate(struct agent_proc *ap, uint32_t pid)
{
	char body[160];

	snprintf(body, sizeof(body),
		 "{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z
		 "\",\"ProcessId\":%u,\"TimeoutInMs\":0}",
		 pid);
	free(raw_call_result(ap, GCS_MSG_WAIT_FOR_PROCESS_REQ, body, HR_NOTIMPL, 5000));
	raw_negotiate(ap);
}

/*
 * A UVM process started before the loss runs on; the new connection negotiates anew, waits for
 * it and signals it. The wait parked on the old connection is dropped: the new connection sees
 * no answer to an ID it did not send (the harness checks every frame it reads).
 */
static void loss_and_redial(enum loss how)
{
	struct agent_proc ap;
	uint64_t parked, wait;
	uint32_t pid;

	start_raw(&ap, redial_args, NULL);
	pid = raw_exec_uvm(&ap, (const char *const[]){ "/bin/sleep", "1000", NULL });
	parked = raw_wait_start(&ap, NULL, pid);
	lose(&ap, how);
	agent_assert_running(&ap, "after losing one bridge connection");
	agent_accept(&ap, REDIAL_MS);
	ck_assert_msg(ap.conn_first_id > parked, "IDs go on across connections");
	renegotiate(&ap, pid);
	ck_assert_msg(alive((pid_t)pid), "process %u died with the connection", pid);

	wait = raw_wait_start(&ap, NULL, pid);
	ck_assert_int_eq(raw_signal(&ap, NULL, pid, SIGTERM), 0);
	ck_assert_uint_eq(raw_wait_end(&ap, wait, 10000), 143);
	/* A late answer to the parked wait would fail here (and in the harness's reads). */
	raw_quiet(&ap, QUIET_MS);
	raw_still_serving(&ap);
	agent_stop(&ap);
}

START_TEST(test_loss_short_frame)
{
	loss_and_redial(LOSS_SHORT);
}
END_TEST

START_TEST(test_loss_oversize_frame)
{
	loss_and_redial(LOSS_OVERSIZE);
}
END_TEST

START_TEST(test_loss_truncated_frame)
{
	loss_and_redial(LOSS_TRUNCATED);
}
END_TEST

/*
 * A container created and started before the loss; its init exits after it (SIGTERM over the
 * new connection): exactly one notification, on the new connection.
 */
START_TEST(test_loss_container)
{
	struct ct c;
	uint64_t wait;
	uint32_t init;
	char *resp;

	ct_start(&c, "ct-redial", true, redial_args);
	ct_storage_up(&c);
	resp = ct_create(&c, ct_spec(&c, CT_INIT_TRAPS_TERM), 20000);
	ck_assert_msg(json_result(resp) == 0, "Create: %s", resp);
	free(resp);
	init = ct_start_init(&c);
	ct_wait_ready(&c);
	raw_wait_start(&c.ap, c.cid, init);
	lose(&c.ap, LOSS_EOF);
	agent_accept(&c.ap, REDIAL_MS);
	renegotiate(&c.ap, init);
	ck_assert_msg(alive((pid_t)init), "the init %u died with the connection", init);

	wait = raw_wait_start(&c.ap, c.cid, init);
	ck_assert_int_eq(raw_signal(&c.ap, c.cid, init, SIGTERM), 0);
	ck_assert_uint_eq(raw_wait_end(&c.ap, wait, 20000), 143);
	ck_assert_msg(raw_wait_notes(&c.ap, 1, 20000) >= 1, "no notification for %s", c.cid);
	raw_quiet(&c.ap, QUIET_MS);
	ck_assert_msg(c.ap.n_notes == 1, "%zu notifications, want 1", c.ap.n_notes);
	ck_assert_str_eq(c.ap.notes[0].cid, c.cid);
	ck_assert_str_eq(c.ap.notes[0].type, "GracefulExit");
	ck_assert_msg(c.ap.notes[0].conn == c.ap.conn_first_id,
		      "the notification came on the lost connection");
	ct_delete(&c);
	ct_storage_down(&c);
	ct_stop(&c);
}
END_TEST

/* ---- a stdio listener with a full backlog ---- */

#define BACKLOG_PORT 0x40000001u
#define RESPONSIVE_MS 500
/* A stdio port that never accepts: the ExecuteProcess fails within 10 s (+ 0.5 s to answer). */
#define GIVE_UP_MS (10000 + 500)

struct backlog {
	int listener;
	int fillers[64];
	size_t n;
	char path[108];
};

/* listen(fd, 0) on the port, never accepting; non-blocking connects fill it until EAGAIN. */
static void backlog_fill(struct agent_proc *ap, struct backlog *bl)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(bl, 0, sizeof(*bl));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", ap->base, BACKLOG_PORT);
	snprintf(bl->path, sizeof(bl->path), "%s", sa.sun_path);
	bl->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(bl->listener, 0);
	ck_assert_int_eq(bind(bl->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(bl->listener, 0), 0);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		ck_assert_int_ge(fd, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			ck_assert_uint_lt(bl->n, ARRAY_SIZE(bl->fillers));
			bl->fillers[bl->n++] = fd;
			continue;
		}
		ck_assert_msg(errno == EAGAIN, "filling the backlog: %s", strerror(errno));
		close(fd);
		break;
	}
	ck_assert_uint_gt(bl->n, 0);
}

static void backlog_close(struct backlog *bl)
{
	for (size_t i = 0; i < bl->n; i++)
		close(bl->fillers[i]);
	close(bl->listener);
	unlink(bl->path);
}

/* ExecuteProcess of echo with StdOut on the full port; returns the request's ID. */
static uint64_t exec_to_backlog(struct agent_proc *ap)
{
	char *params = json_text(json_pack("{s:[s, s], s:b, s:s, s:{s:s, s:s}}", "CommandArgs",
					   "/bin/echo", "backlog-ok", "CreateStdOutPipe", 1,
					   "WorkingDirectory", "/", "Environment", "PATH",
					   "/bin:/usr/bin", "LCOW_IT_DIR", ap->dir));
	char *body =
		json_text(json_pack("{s:s, s:s, s:{s:s, s:{s:I}}}", "ContainerId", Z, "ActivityId",
				    Z, "Settings", "ProcessParameters", params,
				    "VsockStdioRelaySettings", "StdOut", (json_int_t)BACKLOG_PORT));
	uint64_t id = raw_request(ap, GCS_MSG_EXECUTE_PROCESS_REQ, body);

	free(body);
	free(params);
	return id;
}

/* While that ExecuteProcess is pending, other requests are answered within 500 ms each. */
static void still_responsive(struct agent_proc *ap)
{
	static const char true_exec[] =
		"{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z "\",\"Settings\":{"
		"\"ProcessParameters\":\"{\\\"CommandArgs\\\":[\\\"/bin/true\\\"]}\","
		"\"VsockStdioRelaySettings\":{}}}";
	char *resp;
	uint32_t pid;

	free(raw_call_result(ap, GCS_MSG_DUMP_STACKS_REQ, BASE(Z), 0, RESPONSIVE_MS));
	resp = raw_call_result(ap, GCS_MSG_EXECUTE_PROCESS_REQ, true_exec, 0, RESPONSIVE_MS);
	pid = (uint32_t)json_member_uint(resp, "ProcessId");
	free(resp);
	ck_assert_uint_gt(pid, 0);
	ck_assert_uint_eq(raw_wait_end(ap, raw_wait_start(ap, NULL, pid), RESPONSIVE_MS), 0);
}

/* The agent's connection among those the listener holds (not one of ours), within 5 s. */
static int accept_agent(struct backlog *bl)
{
	int64_t deadline = harness_now_ms() + 5000;

	for (;;) {
		struct pollfd p = { .fd = bl->listener, .events = POLLIN };
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int64_t left = deadline - harness_now_ms();
		int fd;

		ck_assert_msg(left > 0 && poll(&p, 1, (int)left) == 1,
			      "the agent did not dial the stdout port once the backlog had room");
		fd = accept4(bl->listener, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0 && errno == EAGAIN)
			continue;
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
		if (cred.pid != getpid())
			return fd;
		close(fd);
	}
}

START_TEST(test_backlog_then_accepted)
{
	struct agent_proc ap;
	struct backlog bl;
	char *resp = NULL, out[64] = "";
	size_t len = 0;
	uint64_t id;
	uint32_t pid;
	int fd, rc;

	start_raw(&ap, NULL, NULL);
	backlog_fill(&ap, &bl);
	id = exec_to_backlog(&ap);
	still_responsive(&ap);
	ck_assert_msg(raw_response(&ap, id, 0, &resp) == -ETIMEDOUT,
		      "ExecuteProcess was answered before its stdout port took the connection: %s",
		      resp);

	fd = accept_agent(&bl);
	rc = raw_response(&ap, id, 5000, &resp);
	ck_assert_msg(rc == 0, "ExecuteProcess not answered within 5 s of the accept");
	ck_assert_msg(json_result(resp) == 0, "ExecuteProcess: %s", resp);
	pid = (uint32_t)json_member_uint(resp, "ProcessId");
	free(resp);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		ck_assert_msg(poll(&p, 1, 5000) == 1, "no EOF on stdout; got \"%s\"", out);
		n = read(fd, out + len, sizeof(out) - 1 - len);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
	}
	ck_assert_str_eq(out, "backlog-ok\n");
	ck_assert_uint_eq(raw_wait_end(&ap, raw_wait_start(&ap, NULL, pid), 5000), 0);
	close(fd);
	backlog_close(&bl);
	raw_still_serving(&ap);
	agent_stop(&ap);
}
END_TEST

START_TEST(test_backlog_never_accepted)
{
	struct agent_proc ap;
	struct backlog bl;
	char *resp = NULL;
	int64_t sent, took;
	uint64_t id;
	int rc;

	start_raw(&ap, NULL, NULL);
	backlog_fill(&ap, &bl);
	sent = harness_now_ms();
	id = exec_to_backlog(&ap);
	still_responsive(&ap);
	rc = raw_response(&ap, id, (int)(sent + GIVE_UP_MS - harness_now_ms()), &resp);
	took = harness_now_ms() - sent;
	ck_assert_msg(rc == 0, "ExecuteProcess to a port that never accepts: no answer in %d ms",
		      GIVE_UP_MS);
	ck_assert_msg(json_result(resp) != 0, "ExecuteProcess succeeded without its stdout: %s",
		      resp);
	printf("test_backlog_never_accepted: refused after %lld ms: %s\n", (long long)took, resp);
	fflush(stdout);
	free(resp);
	backlog_close(&bl);
	raw_still_serving(&ap);
	agent_stop(&ap);
}
END_TEST

/* ---- answers ---- */

/* A response-type and a notification-type frame are answered E_NOTIMPL, type 0x20100101. */
START_TEST(test_non_requests_answered)
{
	struct agent_proc ap;

	start_raw(&ap, NULL, NULL);
	/* raw_call checks the answer's ID and its type: 0x20000000 | (type & 0x0FFFFFFF). */
	free(raw_call_result(&ap, 0x20100101u, BASE(Z), HR_NOTIMPL, 2000));
	free(raw_call_result(&ap, 0x30100101u, BASE(Z), HR_NOTIMPL, 2000));
	raw_still_serving(&ap);
	agent_stop(&ap);
}
END_TEST

/* "" and a missing ContainerId are no container; only the null GUID is the utility VM. */
START_TEST(test_empty_container_id)
{
	static const char exec_empty[] =
		"{\"ContainerId\":\"\",\"ActivityId\":\"" Z "\",\"Settings\":{"
		"\"ProcessParameters\":\"{\\\"CommandArgs\\\":[\\\"/bin/true\\\"]}\","
		"\"VsockStdioRelaySettings\":{}}}";
	struct agent_proc ap;

	start_raw(&ap, NULL, NULL);
	free(raw_call_result(&ap, GCS_MSG_SHUTDOWN_GRACEFUL_REQ, BASE(""), HR_SYSTEM_NOT_FOUND,
			     5000));
	agent_assert_running(&ap, "after ShutdownGraceful of container \"\"");
	raw_still_serving(&ap);
	free(raw_call_result(&ap, GCS_MSG_SHUTDOWN_GRACEFUL_REQ, "{\"ActivityId\":\"" Z "\"}",
			     HR_SYSTEM_NOT_FOUND, 5000));
	agent_assert_running(&ap, "after ShutdownGraceful without a ContainerId");
	raw_still_serving(&ap);
	free(raw_call_result(&ap, GCS_MSG_SHUTDOWN_FORCED_REQ, BASE(""), HR_SYSTEM_NOT_FOUND,
			     5000));
	agent_assert_running(&ap, "after ShutdownForced of container \"\"");
	raw_still_serving(&ap);
	free(raw_call_result(&ap, GCS_MSG_EXECUTE_PROCESS_REQ, exec_empty, HR_SYSTEM_NOT_FOUND,
			     5000));
	raw_still_serving(&ap);
	/* The null GUID: answered, then the agent exits 0. */
	agent_check_clean(&ap);
	agent_shutdown(&ap);
	agent_release(&ap);
}
END_TEST

START_TEST(test_pod_cgroup_memory_limit)
{
	struct agent_proc ap;
	char *resp;

	start_raw(&ap, NULL, NULL);
	resp = raw_modify(&ap, "Update", "PodCgroupMemoryLimit", NULL, 5000);
	ck_assert_msg(json_result(resp) == HR_NOTIMPL,
		      "PodCgroupMemoryLimit Update: Result 0x%08x, want E_NOTIMPL: %s",
		      (uint32_t)json_result(resp), resp);
	free(resp);
	raw_still_serving(&ap);
	agent_stop(&ap);
}
END_TEST

/* ---- back-pressure ---- */

#define BP_REQUESTS 200000u
#define BP_LIMIT_KB (8 * 1024)
/* The writer counts as blocked when the socket takes nothing for this long. */
#define BP_STALL_MS 1000
#define BP_DEADLINE_MS 60000

struct bp {
	int fd;
	int64_t deadline;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t sent; /* requests written completely */
	bool stalled, done;
	int error;
};

/* UpdateContainer requests 1..BP_REQUESTS, packed into 64 KiB writes. */
static void *bp_writer(void *arg)
{
	static const char body[] = "{\"ContainerId\":\"c\"}";
	const size_t frame = GCS_HEADER_SIZE + sizeof(body) - 1;
	struct bp *bp = arg;
	char *buf = malloc(65536);
	uint64_t id = 1;
	int error = 0;

	while (id <= BP_REQUESTS && !error) {
		size_t len = 0, off = 0;
		uint64_t first = id;

		while (id <= BP_REQUESTS && len + frame <= 65536) {
			struct gcs_header h = { .type = GCS_MSG_UPDATE_CONTAINER_REQ,
						.size = (uint32_t)frame,
						.id = id++ };
			gcs_proto_header_encode(&h, (uint8_t *)buf + len);
			memcpy(buf + len + GCS_HEADER_SIZE, body, sizeof(body) - 1);
			len += frame;
		}
		while (off < len) {
			struct pollfd p = { .fd = bp->fd, .events = POLLOUT };
			ssize_t n = send(bp->fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			int64_t left;

			if (n > 0) {
				off += (size_t)n;
				pthread_mutex_lock(&bp->lock);
				bp->sent = first - 1 + off / frame;
				pthread_mutex_unlock(&bp->lock);
				continue;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				error = errno;
				break;
			}
			left = bp->deadline - harness_now_ms();
			if (left <= 0) {
				error = ETIMEDOUT;
				break;
			}
			if (poll(&p, 1, left < BP_STALL_MS ? (int)left : BP_STALL_MS) == 0) {
				pthread_mutex_lock(&bp->lock);
				bp->stalled = true;
				pthread_cond_broadcast(&bp->cond);
				pthread_mutex_unlock(&bp->lock);
			}
		}
	}
	free(buf);
	pthread_mutex_lock(&bp->lock);
	bp->done = true;
	bp->error = error;
	pthread_cond_broadcast(&bp->cond);
	pthread_mutex_unlock(&bp->lock);
	return NULL;
}

static long vmrss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	ck_assert_int_ge(kb, 0);
	return kb;
}

/* Reads the BP_REQUESTS answers (E_NOTIMPL, each ID once) straight off the socket. */
static void bp_read_all(struct agent_proc *ap, int64_t deadline)
{
	const size_t cap = 1 << 20;
	uint8_t *seen = calloc(BP_REQUESTS + 1, 1);
	char *buf = malloc(cap);
	size_t have = 0, got = 0;

	ck_assert(seen && buf);
	while (got < BP_REQUESTS) {
		struct pollfd p = { .fd = ap->raw_fd, .events = POLLIN };
		int64_t left = deadline - harness_now_ms();
		size_t off = 0;
		ssize_t n;

		ck_assert_msg(left > 0 && poll(&p, 1, (int)left) == 1,
			      "%zu of %u answers within the deadline", got, BP_REQUESTS);
		n = read(ap->raw_fd, buf + have, cap - have);
		ck_assert_msg(n > 0, "the bridge closed after %zu answers", got);
		have += (size_t)n;
		while (have - off >= GCS_HEADER_SIZE) {
			struct gcs_header h;
			char *body;

			ck_assert_int_eq(gcs_proto_header_decode((uint8_t *)buf + off,
								 GCS_MAX_GUEST_MESSAGE, &h),
					 0);
			if (have - off < h.size)
				break;
			body = buf + off + GCS_HEADER_SIZE;
			ck_assert_msg(h.type == GCS_MSG_UPDATE_CONTAINER_RESP,
				      "answer %zu: type 0x%08x", got, h.type);
			ck_assert_msg(h.id >= 1 && h.id <= BP_REQUESTS && !seen[h.id],
				      "answer %zu: ID %llu unexpected or answered twice", got,
				      (unsigned long long)h.id);
			ck_assert_msg(memmem(body, h.size - GCS_HEADER_SIZE,
					     "\"Result\":-2147467263", 20) != NULL,
				      "ID %llu: %.*s", (unsigned long long)h.id,
				      (int)(h.size - GCS_HEADER_SIZE), body);
			seen[h.id] = 1;
			got++;
			off += h.size;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	ck_assert_msg(have == 0, "%zu bytes after the last answer", have);
	free(buf);
	free(seen);
}

/*
 * 200,000 requests the test does not read the answers of: the agent stops reading while more
 * than 1 MiB of answers are unsent, so the writer blocks and the agent's memory stays small.
 * Then every answer arrives, each ID once.
 */
START_TEST(test_back_pressure)
{
	/* --log-level info: no line per request. ASan's quarantine would count as growth. */
	static const char *const args[] = { "--log-level", "info", NULL };
	static const char *const env[] = { "ASAN_OPTIONS=quarantine_size_mb=0:"
					   "thread_local_quarantine_size_kb=0",
					   NULL };
	struct bp bp = { 0 };
	struct agent_proc ap;
	pthread_t writer;
	int64_t start = harness_now_ms();
	long rss0, rss;
	uint64_t sent;
	bool stalled;

	start_raw(&ap, args, env);
	rss0 = vmrss_kb(ap.pid);
	bp.fd = ap.raw_fd;
	bp.deadline = start + BP_DEADLINE_MS;
	pthread_mutex_init(&bp.lock, NULL);
	pthread_cond_init(&bp.cond, NULL);
	ck_assert_int_eq(pthread_create(&writer, NULL, bp_writer, &bp), 0);
	pthread_mutex_lock(&bp.lock);
	while (!bp.stalled && !bp.done)
		pthread_cond_wait(&bp.cond, &bp.lock);
	stalled = bp.stalled;
	sent = bp.sent;
	pthread_mutex_unlock(&bp.lock);
	rss = vmrss_kb(ap.pid);
	printf("test_back_pressure: writer %s after %llu requests (%lld ms); agent VmRSS %ld kB, "
	       "%ld kB after negotiation\n",
	       stalled ? "blocked" : "finished", (unsigned long long)sent,
	       (long long)(harness_now_ms() - start), rss, rss0);
	fflush(stdout);
#ifdef __SANITIZE_ADDRESS__
	ck_assert_msg(rss - rss0 < BP_LIMIT_KB, "the agent's VmRSS grew by %ld kB (%ld -> %ld)",
		      rss - rss0, rss0, rss);
#else
	ck_assert_msg(rss < BP_LIMIT_KB, "the agent's VmRSS is %ld kB (%ld after negotiation)", rss,
		      rss0);
#endif
	bp_read_all(&ap, start + BP_DEADLINE_MS);
	pthread_join(writer, NULL);
	ck_assert_msg(bp.error == 0, "writer: %s", strerror(bp.error));
	ck_assert_uint_eq(bp.sent, BP_REQUESTS);
	pthread_cond_destroy(&bp.cond);
	pthread_mutex_destroy(&bp.lock);
	ap.next_id = BP_REQUESTS + 1;
	ap.conn_first_id = ap.next_id;
	raw_still_serving(&ap);
	agent_stop(&ap);
}
END_TEST

/* ---- log lines ---- */

/* True when some string in the JSON value (any depth) contains needle. */
static bool json_mentions(json_t *v, const char *needle)
{
	const char *k;
	json_t *m;
	size_t i;

	if (json_is_string(v))
		return strstr(json_string_value(v), needle) != NULL;
	if (json_is_object(v)) {
		json_object_foreach(v, k, m)
			if (json_mentions(m, needle))
				return true;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			if (json_mentions(m, needle))
				return true;
	}
	return false;
}

/*
 * A refused MountPath with quotes, spaces, a tab, a backslash and a newline is logged: every
 * line of agent.log is one JSON object (jansson, line by line, and jq on the whole file), and
 * one of them holds the value as it was.
 */
START_TEST(test_log_lines_json)
{
	static const char tricky[] = "x \"y\"\nz\t\\w";
	static const char *const args[] = { "--log-format", "json", NULL };
	char path[PATH_MAX], log[PATH_MAX], cmd[PATH_MAX + 64], out[512];
	char *text = NULL, *line, *save = NULL;
	size_t n_lines = 0, len = 0;
	bool found = false;
	struct ct c;
	FILE *f;

	ct_start(&c, "ct-log", false, args);
	/* Outside the run root, and not normalized: both refused at once, and logged. */
	snprintf(path, sizeof(path), "%s/outside/%s", c.env.dir, tricky);
	{
		char *resp = raw_modify(&c.ap, "Add", "MappedVirtualDisk",
					json_pack("{s:s}", "MountPath", path), 5000);
		char *msg = json_member_str(resp, "ErrorMessage");

		ck_assert_msg(json_result(resp) != 0, "MountPath %s was accepted", path);
		ck_assert_msg(strstr(msg, tricky) != NULL, "the ErrorMessage lost the path: %s",
			      resp);
		free(msg);
		free(resp);
	}
	snprintf(path, sizeof(path), "%s/../%s", c.env.run, tricky);
	{
		char *resp = raw_modify(&c.ap, "Add", "MappedVirtualDisk",
					json_pack("{s:s}", "MountPath", path), 5000);

		ck_assert_msg(json_result(resp) != 0, "MountPath %s was accepted", path);
		free(resp);
	}
	ct_check_leftovers(&c);
	agent_end(&c.ap);

	snprintf(log, sizeof(log), "%s/agent.log", c.ap.dir);
	f = fopen(log, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(getdelim(&text, &len, '\0', f), 0);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);

		n_lines++;
		ck_assert_msg(json_is_object(o), "agent.log line %zu is not a JSON object (%s): %s",
			      n_lines, jerr.text, line);
		found |= json_mentions(o, tricky);
		json_decref(o);
	}
	free(text);
	ck_assert_msg(n_lines >= 3, "agent.log has %zu lines", n_lines);
	ck_assert_msg(found, "no log line holds the refused MountPath");
	snprintf(cmd, sizeof(cmd), "jq -e . < '%s' > /dev/null", log);
	ck_assert_msg(run_cmd((const char *const[]){ "sh", "-c", cmd, NULL }, 20000, out,
			      sizeof(out)) == 0,
		      "jq refuses agent.log: %s", out);
	agent_release(&c.ap);
	ct_finish(&c);
}
END_TEST

int main(void)
{
	const struct harness_test tests[] = {
		HARNESS_TEST(test_loss_short_frame, 30),
		HARNESS_TEST(test_loss_oversize_frame, 30),
		HARNESS_TEST(test_loss_truncated_frame, 30),
		HARNESS_TEST(test_loss_container, 60),
		HARNESS_TEST(test_backlog_then_accepted, 30),
		HARNESS_TEST(test_backlog_never_accepted, 30),
		HARNESS_TEST(test_non_requests_answered, 30),
		HARNESS_TEST(test_empty_container_id, 30),
		HARNESS_TEST(test_pod_cgroup_memory_limit, 30),
		HARNESS_TEST(test_back_pressure, 90),
		HARNESS_TEST(test_log_lines_json, 30),
	};

	return harness_main("agent-bridge", tests, ARRAY_SIZE(tests));
}
