/* The shim's ttrpc server and client, over socketpairs and sockets in a temp dir; its Task
 * dispatch table, its event publisher and its socket naming. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "cleanup.h"
#include "events.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "task.h"
#include "testutil.h"
#include "ttrpc.h"
#include "ttrpc.pb-c.h"

#define SVC "test.v1.Svc"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* ---- a test service: Echo answers at once, Hold keeps its call, Release answers itself
 * first and then the held call ---- */

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ttrpc_call *held;

static void echo(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;

	(void)userdata;
	resp.version = ((const Containerd__Task__V2__ConnectRequest *)m)->id;
	resp.shim_pid = 42;
	ttrpc_call_reply(call, &resp.base);
}

static void hold(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	(void)m, (void)userdata;
	pthread_mutex_lock(&held_lock);
	held = call;
	pthread_mutex_unlock(&held_lock);
}

static void release(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	struct ttrpc_call *h;

	(void)m, (void)userdata;
	ttrpc_call_reply(call, NULL);
	pthread_mutex_lock(&held_lock);
	h = held;
	held = NULL;
	pthread_mutex_unlock(&held_lock);
	if (h)
		ttrpc_call_error(h, TTRPC_NOT_FOUND, "released");
}

static const struct ttrpc_method test_methods[] = {
	{ SVC, "Echo", &containerd__task__v2__connect_request__descriptor, echo, 0 },
	{ SVC, "EchoThread", &containerd__task__v2__connect_request__descriptor, echo,
	  TTRPC_METHOD_THREAD },
	{ SVC, "Hold", &containerd__task__v2__connect_request__descriptor, hold, 0 },
	{ SVC, "Release", &containerd__task__v2__connect_request__descriptor, release, 0 },
};

struct fixture {
	struct ttrpc_server *server;
	struct ttrpc_client *client;
	int raw; /* the client's fd, for raw frames */
};

static void setup(struct fixture *f, const struct ttrpc_method *table, size_t n, void *userdata)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(ttrpc_server_new(table, n, userdata, &f->server), 0);
	ck_assert_int_eq(ttrpc_server_add_conn(f->server, sv[0]), 0);
	ck_assert_int_eq(ttrpc_client_new(sv[1], &f->client), 0);
	f->raw = sv[1];
}

static void teardown(struct fixture *f)
{
	ttrpc_client_free(f->client);
	ttrpc_server_free(f->server);
}

static int echo_call(struct ttrpc_client *c, const char *method, const char *id, char **ret_msg,
		     Containerd__Task__V2__ConnectResponse **ret_resp)
{
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int code = -1, r;

	req.id = (char *)id;
	r = ttrpc_client_call(c, SVC, method, &req.base,
			      &containerd__task__v2__connect_response__descriptor, 2000, &code,
			      ret_msg, (ProtobufCMessage **)&resp);
	ck_assert_int_eq(r, 0);
	if (ret_resp)
		*ret_resp = (Containerd__Task__V2__ConnectResponse *)resp;
	else if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return code;
}

/* A Request frame as containerd writes it, payload given raw. */
static void send_raw(int fd, uint32_t id, const char *service, const char *method,
		     const void *payload, size_t len)
{
	Ttrpc__Request r = TTRPC__REQUEST__INIT;
	uint8_t buf[4096];
	size_t n;

	r.service = (char *)service;
	r.method = (char *)method;
	r.payload.data = (uint8_t *)payload;
	r.payload.len = len;
	n = ttrpc__request__get_packed_size(&r);
	ck_assert_uint_le(n, sizeof(buf));
	ttrpc__request__pack(&r, buf);
	ck_assert_int_eq(ttrpc_write_frame(fd, id, TTRPC_TYPE_REQUEST, buf, n), 0);
}

/* Reads one Response frame: its stream id and status code (message into msg). */
static uint32_t read_raw(int fd, int *ret_code, char *msg, size_t size)
{
	uint8_t hb[TTRPC_HEADER_SIZE];
	struct ttrpc_header h;
	uint8_t *data;
	Ttrpc__Response *resp;

	ck_assert_int_eq(ttrpc_read_full(fd, hb, sizeof(hb)), 0);
	ttrpc_header_decode(hb, &h);
	ck_assert_uint_eq(h.type, TTRPC_TYPE_RESPONSE);
	ck_assert_uint_eq(h.flags, 0);
	data = malloc(h.length + 1);
	ck_assert_int_eq(ttrpc_read_full(fd, data, h.length), 0);
	resp = ttrpc__response__unpack(NULL, h.length, data);
	ck_assert_ptr_nonnull(resp);
	*ret_code = resp->status ? resp->status->code : 0;
	if (msg)
		snprintf(msg, size, "%s", resp->status ? resp->status->message : "");
	ttrpc__response__free_unpacked(resp, NULL);
	free(data);
	return h.stream_id;
}

START_TEST(header_bytes)
{
	struct ttrpc_header h = { 0x01020304, 0x05060708, 1, 2 }, d;
	static const uint8_t want[] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2 };
	uint8_t buf[TTRPC_HEADER_SIZE];

	ttrpc_header_encode(&h, buf);
	ck_assert_mem_eq(buf, want, sizeof(want));
	ttrpc_header_decode(buf, &d);
	ck_assert_uint_eq(d.length, h.length);
	ck_assert_uint_eq(d.stream_id, h.stream_id);
	ck_assert_uint_eq(d.type, 1);
	ck_assert_uint_eq(d.flags, 2);
}
END_TEST

START_TEST(round_trip)
{
	struct fixture f;
	Containerd__Task__V2__ConnectResponse *resp;
	char *msg;

	setup(&f, test_methods, ARRAY_SIZE(test_methods), NULL);
	for (int i = 0; i < 3; i++) {
		const char *m = i == 1 ? "EchoThread" : "Echo";

		ck_assert_int_eq(echo_call(f.client, m, "c1", &msg, &resp), 0);
		ck_assert_str_eq(msg, "");
		ck_assert_str_eq(resp->version, "c1");
		ck_assert_uint_eq(resp->shim_pid, 42);
		free(msg);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	}
	teardown(&f);
}
END_TEST

START_TEST(stream_ids)
{
	struct fixture f;
	char msg[256];
	int code;

	setup(&f, test_methods, ARRAY_SIZE(test_methods), NULL);
	send_raw(f.raw, 2, SVC, "Echo", NULL, 0);
	ck_assert_uint_eq(read_raw(f.raw, &code, msg, sizeof(msg)), 2);
	ck_assert_int_eq(code, TTRPC_INVALID_ARGUMENT);
	ck_assert_str_eq(msg, "StreamID must be odd for client initiated streams");
	send_raw(f.raw, 7, SVC, "Echo", NULL, 0);
	ck_assert_uint_eq(read_raw(f.raw, &code, msg, sizeof(msg)), 7);
	ck_assert_int_eq(code, 0);
	teardown(&f);
}
END_TEST

START_TEST(oversize_frame)
{
	struct fixture f;
	uint8_t hb[TTRPC_HEADER_SIZE];
	struct ttrpc_header h = { TTRPC_MAX_DATA + 1, 1, TTRPC_TYPE_REQUEST, 0 };
	size_t left = h.length;
	static uint8_t junk[65536];
	char msg[256];
	int code;

	setup(&f, test_methods, ARRAY_SIZE(test_methods), NULL);
	ck_assert_int_eq(ttrpc_write_frame(f.raw, 1, 1, junk, TTRPC_MAX_DATA + 1), -EMSGSIZE);
	ttrpc_header_encode(&h, hb);
	ck_assert_int_eq(write(f.raw, hb, sizeof(hb)), (ssize_t)sizeof(hb));
	while (left > 0) {
		ssize_t n = write(f.raw, junk, left < sizeof(junk) ? left : sizeof(junk));

		ck_assert_int_gt(n, 0);
		left -= (size_t)n;
	}
	ck_assert_uint_eq(read_raw(f.raw, &code, msg, sizeof(msg)), 1);
	ck_assert_int_eq(code, TTRPC_RESOURCE_EXHAUSTED);
	ck_assert_ptr_nonnull(strstr(msg, "exceed maximum message size"));
	/* The connection stays usable, as in ttrpc. */
	ck_assert_int_eq(echo_call(f.client, "Echo", "after", NULL, NULL), 0);
	teardown(&f);
}
END_TEST

START_TEST(unknown_method)
{
	struct fixture f;
	char *msg;

	setup(&f, test_methods, ARRAY_SIZE(test_methods), NULL);
	ck_assert_int_eq(echo_call(f.client, "Nope", "x", &msg, NULL), TTRPC_UNIMPLEMENTED);
	ck_assert_str_eq(msg, "method Nope");
	free(msg);
	send_raw(f.raw, 101, "other.Svc", "Echo", NULL, 0);
	{
		char m[256];
		int code;

		ck_assert_uint_eq(read_raw(f.raw, &code, m, sizeof(m)), 101);
		ck_assert_int_eq(code, TTRPC_UNIMPLEMENTED);
		ck_assert_str_eq(m, "service other.Svc");
	}
	teardown(&f);
}
END_TEST

/* A held call does not stall the connection; its answer comes after the later request's. */
START_TEST(two_in_flight)
{
	struct fixture f;
	int code;
	char msg[64];

	setup(&f, test_methods, ARRAY_SIZE(test_methods), NULL);
	send_raw(f.raw, 1, SVC, "Hold", NULL, 0);
	send_raw(f.raw, 3, SVC, "Echo", NULL, 0);
	ck_assert_uint_eq(read_raw(f.raw, &code, NULL, 0), 3);
	ck_assert_int_eq(code, 0);
	send_raw(f.raw, 5, SVC, "Release", NULL, 0);
	ck_assert_uint_eq(read_raw(f.raw, &code, NULL, 0), 5);
	ck_assert_int_eq(code, 0);
	ck_assert_uint_eq(read_raw(f.raw, &code, msg, sizeof(msg)), 1);
	ck_assert_int_eq(code, TTRPC_NOT_FOUND);
	ck_assert_str_eq(msg, "released");
	teardown(&f);
}
END_TEST

START_TEST(client_closes_mid_request)
{
	struct fixture f;
	struct ttrpc_call *h = NULL;
	int base = count_fds();

	setup(&f, test_methods, ARRAY_SIZE(test_methods), NULL);
	send_raw(f.raw, 1, SVC, "Hold", NULL, 0);
	for (int i = 0; i < 200 && !h; i++) {
		pthread_mutex_lock(&held_lock);
		h = held;
		held = NULL;
		pthread_mutex_unlock(&held_lock);
		if (!h)
			usleep(10000);
	}
	ck_assert_ptr_nonnull(h);
	ttrpc_client_free(f.client);
	/* The reader sees EOF and closes the server's end at once. */
	for (int i = 0; i < 200 && count_fds() > base + 1; i++)
		usleep(10000);
	ck_assert_int_eq(count_fds(), base + 1); /* the server's eventfd */
	ck_assert_int_eq(ttrpc_call_reply(h, NULL), -EPIPE);
	ttrpc_server_free(f.server);
	ck_assert_int_eq(count_fds(), base);
}
END_TEST

START_TEST(malformed_payload)
{
	struct fixture f;
	static const uint8_t bad[] = { 0x0a, 0x7f, 'x' }; /* field 1, length 127, 1 byte */
	char msg[256];
	int code;

	setup(&f, test_methods, ARRAY_SIZE(test_methods), NULL);
	send_raw(f.raw, 1, SVC, "Echo", bad, sizeof(bad));
	ck_assert_uint_eq(read_raw(f.raw, &code, msg, sizeof(msg)), 1);
	ck_assert_int_eq(code, TTRPC_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(msg, "containerd.task.v2.ConnectRequest"));
	/* A Request envelope that does not decode either. */
	ck_assert_int_eq(ttrpc_write_frame(f.raw, 3, TTRPC_TYPE_REQUEST, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(read_raw(f.raw, &code, NULL, 0), 3);
	ck_assert_int_eq(code, TTRPC_INVALID_ARGUMENT);
	/* Other frame types are ignored, as ttrpc 1.1.1 does. */
	ck_assert_int_eq(ttrpc_write_frame(f.raw, 9, TTRPC_TYPE_RESPONSE, NULL, 0), 0);
	ck_assert_int_eq(echo_call(f.client, "Echo", "ok", NULL, NULL), 0);
	teardown(&f);
}
END_TEST

START_TEST(no_fd_leak)
{
	int base = count_fds();

	for (int i = 0; i < 5; i++) {
		struct fixture f;

		setup(&f, test_methods, ARRAY_SIZE(test_methods), NULL);
		ck_assert_int_eq(echo_call(f.client, "EchoThread", "x", NULL, NULL), 0);
		send_raw(f.raw, 99, SVC, "Hold", NULL, 0); /* left unanswered: freed with -EPIPE */
		ck_assert_int_eq(echo_call(f.client, "Echo", "y", NULL, NULL), 0);
		teardown(&f);
		pthread_mutex_lock(&held_lock);
		ck_assert_ptr_nonnull(held);
		ck_assert_int_eq(ttrpc_call_reply(held, NULL), -EPIPE);
		held = NULL;
		pthread_mutex_unlock(&held_lock);
	}
	ck_assert_int_eq(count_fds(), base);
}
END_TEST

/* ---- the Task table ---- */

START_TEST(task_dispatch)
{
	struct shim shim = { .namespace = "default", .id = "c1" };
	Containerd__Task__V2__CreateTaskRequest create =
		CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	Containerd__Task__V2__ConnectRequest connect = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	Containerd__Task__V2__ShutdownRequest shut = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	Containerd__Task__V2__ConnectResponse *cr = NULL;
	/* With no task, each of these is NotFound (an empty payload decodes as any request). */
	static const char *const rpcs[] = { "State",   "Start",	 "Delete", "Pids",
					    "Pause",   "Resume", "Kill",   "ResizePty",
					    "CloseIO", "Wait",	 "Stats" };
	/* Requests that are wrong in themselves: InvalidArgument before any lookup. */
	static const char *const invalid[] = { "Exec", "Update" };
	struct fixture f;
	char *msg;
	int code;

	ck_assert_int_eq(shim_init(&shim, "c1"), 0);
	setup(&f, task_methods, task_n_methods, &shim);
	shim.server = f.server;
	create.id = (char *)"c1";
	ck_assert_int_eq(ttrpc_client_call(f.client, TASK_SERVICE, "Create", &create.base, NULL,
					   2000, &code, &msg, NULL),
			 0);
	ck_assert_int_eq(code, TTRPC_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(msg, "bundle"));
	free(msg);
	ck_assert_int_eq(ttrpc_client_call(f.client, TASK_SERVICE, "Checkpoint", NULL, NULL, 2000,
					   &code, &msg, NULL),
			 0);
	ck_assert_int_eq(code, TTRPC_UNIMPLEMENTED);
	ck_assert_str_eq(msg, "lcow shim: Checkpoint is not implemented");
	free(msg);
	for (size_t i = 0; i < ARRAY_SIZE(rpcs); i++) {
		Containerd__Task__V2__KillRequest kill = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;

		kill.id = (char *)"nosuch";
		kill.signal = 9;
		/* Kill's signal 0 is refused before the lookup; the others decode as Kill. */
		ck_assert_int_eq(ttrpc_client_call(f.client, TASK_SERVICE, rpcs[i], &kill.base,
						   NULL, 2000, &code, &msg, NULL),
				 0);
		ck_assert_msg(code == TTRPC_NOT_FOUND, "%s: %d %s", rpcs[i], code, msg);
		ck_assert_ptr_nonnull(strstr(msg, "nosuch"));
		free(msg);
	}
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
		ck_assert_int_eq(ttrpc_client_call(f.client, TASK_SERVICE, invalid[i], NULL, NULL,
						   2000, &code, &msg, NULL),
				 0);
		ck_assert_msg(code == TTRPC_INVALID_ARGUMENT, "%s: %d %s", invalid[i], code, msg);
		free(msg);
	}
	connect.id = (char *)"c1";
	ck_assert_int_eq(ttrpc_client_call(f.client, TASK_SERVICE, "Connect", &connect.base,
					   &containerd__task__v2__connect_response__descriptor,
					   2000, &code, NULL, (ProtobufCMessage **)&cr),
			 0);
	ck_assert_int_eq(code, 0);
	ck_assert_uint_eq(cr->shim_pid, (uint32_t)getpid());
	ck_assert_uint_eq(cr->task_pid, 0);
	ck_assert_ptr_nonnull(strstr(cr->version, "lcow"));
	protobuf_c_message_free_unpacked(&cr->base, NULL);
	shut.id = (char *)"c1";
	ck_assert_int_eq(ttrpc_client_call(f.client, TASK_SERVICE, "Shutdown", &shut.base, NULL,
					   2000, &code, NULL, NULL),
			 0);
	ck_assert_int_eq(code, 0);
	ck_assert(shim.shutdown);
	teardown(&f);
	shim_fini(&shim);
}
END_TEST

/* ---- events: Forward to a server of ours on a socket in a temp dir ---- */

static int forwards;
static char got_topic[64], got_ns[64], got_type[128], got_cid[64];
static uint32_t got_status;

static void forward(struct ttrpc_call *call, const ProtobufCMessage *m, void *userdata)
{
	const Containerd__Services__Events__Ttrpc__V1__ForwardRequest *req = (const void *)m;
	const Containerd__Services__Events__Ttrpc__V1__Envelope *env = req->envelope;
	Containerd__Events__TaskExit *ev;

	(void)userdata;
	if (forwards++ == 0) { /* the first try fails: the publisher tries again */
		ttrpc_call_error(call, TTRPC_UNAVAILABLE, "busy");
		return;
	}
	snprintf(got_topic, sizeof(got_topic), "%s", env->topic);
	snprintf(got_ns, sizeof(got_ns), "%s", env->namespace_);
	snprintf(got_type, sizeof(got_type), "%s", env->event->type_url);
	ev = containerd__events__task_exit__unpack(NULL, env->event->value.len,
						   env->event->value.data);
	if (ev) {
		snprintf(got_cid, sizeof(got_cid), "%s", ev->container_id);
		got_status = ev->exit_status;
		containerd__events__task_exit__free_unpacked(ev, NULL);
	}
	ttrpc_call_reply(call, NULL);
}

static const struct ttrpc_method event_methods[] = {
	{ "containerd.services.events.ttrpc.v1.Events", "Forward",
	  &containerd__services__events__ttrpc__v1__forward_request__descriptor, forward, 0 },
};

static void *serve_thread(void *arg)
{
	void **a = arg;

	ttrpc_server_serve(a[0], *(int *)a[1]);
	return NULL;
}

START_TEST(events_forward)
{
	char dir[] = "/tmp/shim-test-XXXXXX", path[128];
	Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	struct ttrpc_server *s;
	struct events *e;
	pthread_t t;
	void *args[2];
	int lfd, base = count_fds();

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s/ttrpc.sock", dir);
	ck_assert_int_eq(address_listen(path, &lfd), 0);
	ck_assert_int_eq(address_listen(path, &(int){ -1 }), -EADDRINUSE);
	ck_assert_int_eq(ttrpc_server_new(event_methods, 1, NULL, &s), 0);
	args[0] = s;
	args[1] = &lfd;
	ck_assert_int_eq(pthread_create(&t, NULL, serve_thread, args), 0);

	ck_assert_int_eq(events_new(path, "ns1", &e), 0);
	ev.container_id = (char *)"c1";
	ev.id = (char *)"c1";
	ev.pid = 7;
	ev.exit_status = 3;
	ck_assert_int_eq(events_publish(e, "/tasks/exit", &ev.base), 0);
	ck_assert_int_eq(forwards, 2);
	ck_assert_str_eq(got_topic, "/tasks/exit");
	ck_assert_str_eq(got_ns, "ns1");
	ck_assert_str_eq(got_type, "containerd.events.TaskExit");
	ck_assert_str_eq(got_cid, "c1");
	ck_assert_uint_eq(got_status, 3);
	events_free(e);

	ttrpc_server_stop(s);
	pthread_join(t, NULL);
	ttrpc_server_free(s);
	close(lfd);
	ck_assert_int_eq(count_fds(), base);
	/* With nobody listening, the socket file is stale and gets replaced. */
	ck_assert_int_eq(address_listen(path, &lfd), 0);
	close(lfd);
	unlink(path);
	snprintf(path, sizeof(path), "%s/s", dir);
	rmdir(path);
	rmdir(dir);
}
END_TEST

/* ---- socket naming and pod grouping ---- */

START_TEST(socket_names)
{
	char path[128], dir[] = "/tmp/shim-test-XXXXXX", file[128];
	char *group;
	FILE *f;

	unsetenv("LCOW_SHIM_SOCKET_DIR");
	/* sha256("/run/containerd/containerd.sock/default/c1"), from sha256sum */
	ck_assert_int_eq(address_socket_path("/run/containerd/containerd.sock", "default", "c1",
					     path, sizeof(path)),
			 0);
	ck_assert_str_eq(path, "/run/containerd/s/"
			       "d25aa4ef11a84e954e74a5bcff06557d0b6ea8d0c00243896f29826694bbd888");
	setenv("LCOW_SHIM_SOCKET_DIR", "/tmp/x", 1);
	ck_assert_int_eq(address_socket_path("/a", "b", "c", path, sizeof(path)), 0);
	ck_assert_int_eq(strncmp(path, "/tmp/x/", 7), 0);
	ck_assert_uint_eq(strlen(path), 7 + 64);
	setenv("LCOW_SHIM_SOCKET_DIR",
	       "/tmp/a-directory-name-long-enough-that-the-digest-no-longer-fits", 1);
	ck_assert_int_eq(address_socket_path("/a", "b", "c", path, sizeof(path)), -ENAMETOOLONG);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(address_group(dir, "c1", &group), 0);
	ck_assert_str_eq(group, "c1");
	free(group);
	snprintf(file, sizeof(file), "%s/config.json", dir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"ociVersion\":\"1.0.2\",\"annotations\":{\"io.kubernetes.cri.container-type\":"
	      "\"container\",\"io.kubernetes.cri.sandbox-id\":\"pod1\"}}",
	      f);
	fclose(f);
	ck_assert_int_eq(address_group(dir, "c2", &group), 0);
	ck_assert_str_eq(group, "pod1");
	free(group);
	unlink(file);
	rmdir(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("shim_ttrpc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, header_bytes);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, stream_ids);
	tcase_add_test(tc, oversize_frame);
	tcase_add_test(tc, unknown_method);
	tcase_add_test(tc, two_in_flight);
	tcase_add_test(tc, client_closes_mid_request);
	tcase_add_test(tc, malformed_payload);
	tcase_add_test(tc, no_fd_leak);
	tcase_add_test(tc, task_dispatch);
	tcase_add_test(tc, events_forward);
	tcase_add_test(tc, socket_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
