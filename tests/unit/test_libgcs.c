/*
 * Unit tests of libgcs (host/lib): the library against a fake guest in a thread of the test,
 * which speaks raw frames (libgcsproto) over the hybrid-vsock Unix transport in a temporary
 * directory. The fake guest dials "<tmp>/hv_1073741824", checks the NegotiateProtocol request
 * byte for byte against spec section 2, answers with the Go GCS's response from spec section 4,
 * then plays the test's script.
 *
 * Every test checks on its way out that the library left no fd, no thread and no socket file
 * behind. Every blocking step is bounded: socket reads by poll timeouts, joins by timed joins,
 * and everything by Check's per-test timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gcs/frame.h"
#include "gcs/messages.h"
#include "lcow/gcs.h"
#include "testutil.h"

#define STEP_MS 5000 /* bound of one blocking step */
#define Z GCS_NULL_GUID_STRING

/* Spec section 2: the first message hcsshim sends (125 bytes). */
#define NEGOTIATE_HEADER_HEX "01 0b 10 10  7d 00 00 00  00 00 00 00 00 00 00 00"
#define NEGOTIATE_BODY                                                                   \
	"{\"ContainerId\":\"\",\"ActivityId\":\"00000000-0000-0000-0000-000000000000\"," \
	"\"MinimumVersion\":4,\"MaximumVersion\":4}\n"

/* Spec section 4: the Go GCS's answer (326 bytes). */
#define GO_NEGOTIATE_RESP                                                                      \
	"{\"Result\":0,\"ActivityId\":\"00000000-0000-0000-0000-000000000000\",\"Version\":4," \
	"\"Capabilities\":{\"SupportedSchemaVersions\":[{\"Major\":2,\"Minor\":1}],"           \
	"\"RuntimeOsType\":\"Linux\",\"GuestDefinedCapabilities\":{"                           \
	"\"NamespaceAddRequestSupported\":true,\"SignalProcessSupported\":true,"               \
	"\"DumpStacksSupported\":true,\"DeleteContainerStateSupported\":true}}}"

#define OK_RESP "{\"Result\":0,\"ActivityId\":\"" Z "\"}"

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void timed_join(pthread_t t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += STEP_MS / 1000;
	ck_assert_int_eq(pthread_timedjoin_np(t, NULL, &ts), 0);
}

static void sem_wait_step(sem_t *s)
{
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += STEP_MS / 1000;
	do
		rc = sem_timedwait(s, &ts);
	while (rc < 0 && errno == EINTR);
	ck_assert_msg(rc == 0, "sem_timedwait: %s", strerror(errno));
}

static void read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		ck_assert_int_eq(poll(&pfd, 1, STEP_MS), 1);
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Reads until EOF (bounded); returns the byte count. */
static size_t read_to_eof(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		ck_assert_msg(poll(&pfd, 1, STEP_MS) == 1, "no EOF within %d ms", STEP_MS);
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(n, 0);
		if (n == 0)
			return len;
		len += (size_t)n;
		ck_assert_uint_lt(len, cap);
	}
}

static void write_str(int fd, const char *s)
{
	ck_assert_int_eq(gcs_proto_write_all(fd, s, strlen(s), STEP_MS), 0);
}

static bool is_socket(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* ---- the fake guest ---- */

struct fg;
typedef void (*fg_script_fn)(struct fg *g);

struct fg {
	char dir[64];
	char base[96];
	char spec[128];
	int fd;
	const char *negotiate_resp; /* NULL: the Go GCS's */
	fg_script_fn before_negotiate;
	fg_script_fn script;
	void *arg;
	pthread_t thread;
	bool started;
	sem_t sync; /* test -> guest */
};

static int fg_dial(struct fg *g, uint32_t port)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u", g->base, port);
	/* The host listens before the guest can dial: no retries. */
	ck_assert_msg(is_socket(sun.sun_path), "no listener at %s", sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0, "connect %s: %s",
		      sun.sun_path, strerror(errno));
	return fd;
}

static void fg_send(struct fg *g, uint32_t type, uint64_t id, const char *body)
{
	size_t len = strlen(body);
	char *f = malloc(GCS_HEADER_SIZE + len);
	struct gcs_header h = { .type = type, .size = (uint32_t)(GCS_HEADER_SIZE + len), .id = id };

	ck_assert_ptr_nonnull(f);
	gcs_proto_header_encode(&h, (uint8_t *)f);
	memcpy(f + GCS_HEADER_SIZE, body, len);
	ck_assert_int_eq(gcs_proto_write_all(g->fd, f, GCS_HEADER_SIZE + len, STEP_MS), 0);
	free(f);
}

static void fg_reply(struct fg *g, const struct gcs_header *req, const char *body)
{
	fg_send(g, gcs_msg_response_type(req->type), req->id, body);
}

/* Reads one request of the given type and decodes it into msg (NULL: don't decode). */
static void fg_expect(struct fg *g, uint32_t type, struct gcs_header *ret_h, void *msg)
{
	struct gcs_error err = { 0 };
	char *body;
	size_t len;
	int rc = gcs_proto_read_frame(g->fd, 0, STEP_MS, ret_h, &body, &len);

	ck_assert_msg(rc == 0, "guest read: %s", strerror(-rc));
	ck_assert_msg(ret_h->type == type, "guest expected 0x%08x, got 0x%08x", type, ret_h->type);
	if (msg) {
		rc = gcs_proto_decode(type, body, len, msg, &err);
		ck_assert_msg(rc == 0, "guest decode: %s", err.message);
	}
	free(body);
}

/* Reads one frame and returns its body (malloc'd). */
static char *fg_read_body(struct fg *g, uint32_t type, struct gcs_header *ret_h)
{
	char *body;
	size_t len;
	int rc = gcs_proto_read_frame(g->fd, 0, STEP_MS, ret_h, &body, &len);

	ck_assert_msg(rc == 0, "guest read: %s", strerror(-rc));
	ck_assert_uint_eq(ret_h->type, type);
	return body;
}

/* After the script: wait for the host to go away. */
static void fg_expect_eof(struct fg *g)
{
	struct gcs_header h;
	char *body = NULL;
	size_t len;
	int rc = gcs_proto_read_frame(g->fd, 0, STEP_MS, &h, &body, &len);

	ck_assert_msg(rc == -ESHUTDOWN || rc == -ECONNRESET,
		      "guest expected EOF, got %d (type 0x%08x)", rc, rc == 0 ? h.type : 0);
	free(body);
}

static void *fg_main(void *arg)
{
	struct fg *g = arg;
	unsigned char want[128], got[125];
	size_t n;

	g->fd = fg_dial(g, GCS_PORT_BRIDGE);
	n = testutil_unhex(NEGOTIATE_HEADER_HEX, want, sizeof(want));
	ck_assert_uint_eq(n, GCS_HEADER_SIZE);
	ck_assert_uint_eq(strlen(NEGOTIATE_BODY), 109);
	memcpy(want + n, NEGOTIATE_BODY, 109);
	read_exact(g->fd, got, sizeof(got));
	ck_assert_msg(memcmp(got, want, sizeof(got)) == 0,
		      "the NegotiateProtocol request differs from spec section 2: %.*s", 109,
		      (const char *)got + GCS_HEADER_SIZE);
	if (g->before_negotiate)
		g->before_negotiate(g);
	fg_send(g, GCS_MSG_NEGOTIATE_PROTOCOL_RESP, 0,
		g->negotiate_resp ? g->negotiate_resp : GO_NEGOTIATE_RESP);
	if (g->script)
		g->script(g);
	if (g->fd >= 0) {
		fg_expect_eof(g);
		close(g->fd);
		g->fd = -1;
	}
	return NULL;
}

/* ---- the harness: leak checks around each test ---- */

static int count_fds(void)
{
	return count_dir("/proc/self/fd");
}

static int count_threads(void)
{
	return count_dir("/proc/self/task");
}

struct harness {
	struct fg g;
	struct gcs_transport *t;
	struct gcs_bridge *b;
	struct gcs_bridge_options o;
	int fds, threads;
};

static void h_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	h->fds = count_fds();
	h->threads = count_threads();
	snprintf(h->g.dir, sizeof(h->g.dir), "/tmp/libgcs-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(h->g.dir));
	snprintf(h->g.base, sizeof(h->g.base), "%s/hv", h->g.dir);
	snprintf(h->g.spec, sizeof(h->g.spec), "unix:%s", h->g.base);
	h->g.fd = -1;
	ck_assert_int_eq(sem_init(&h->g.sync, 0, 0), 0);
	ck_assert_int_eq(gcs_transport_parse(h->g.spec, &h->t), 0);
	h->o.connect_timeout_ms = STEP_MS;
	h->o.call_timeout_ms = STEP_MS;
}

/* Listens and starts the fake guest; the bridge socket exists before the guest runs. */
static void h_listen(struct harness *h)
{
	struct gcs_error err = { 0 };
	char path[160];
	int rc = gcs_bridge_listen(h->t, &h->o, &h->b, &err);

	ck_assert_msg(rc == 0, "listen: %s", err.message);
	snprintf(path, sizeof(path), "%s_1073741824", h->g.base);
	ck_assert(is_socket(path));
	ck_assert_int_eq(pthread_create(&h->g.thread, NULL, fg_main, &h->g), 0);
	h->g.started = true;
}

static void h_connect(struct harness *h)
{
	struct gcs_error err = { 0 };
	int rc;

	h_listen(h);
	rc = gcs_bridge_connect(h->b, &err);
	ck_assert_msg(rc == 0, "connect: %d %s", rc, err.message);
	ck_assert(!gcs_bridge_broken(h->b));
}

static void h_end(struct harness *h)
{
	gcs_bridge_close(h->b);
	h->b = NULL;
	if (h->g.started)
		timed_join(h->g.thread);
	gcs_transport_free(h->t);
	sem_destroy(&h->g.sync);
	/* rmdir fails if a socket file was left behind. */
	ck_assert_msg(rmdir(h->g.dir) == 0, "rmdir %s: %s (%d files left)", h->g.dir,
		      strerror(errno), count_dir(h->g.dir));
	ck_assert_int_eq(count_fds(), h->fds);
	ck_assert_int_eq(count_threads(), h->threads);
}

/* A call run on its own thread, to be left pending while the guest misbehaves. */
struct bg_call {
	struct gcs_bridge *b;
	pthread_t thread;
	int rc;
	struct gcs_error err;
	int64_t done_at;
};

static void *bg_call_main(void *arg)
{
	struct bg_call *c = arg;

	c->rc = gcs_start_container(c->b, "c1", &c->err);
	c->done_at = now_ms();
	return NULL;
}

static void bg_call_start(struct bg_call *c, struct gcs_bridge *b)
{
	memset(c, 0, sizeof(*c));
	c->b = b;
	ck_assert_int_eq(pthread_create(&c->thread, NULL, bg_call_main, c), 0);
}

/* ---- transports ---- */

START_TEST(test_transport)
{
	char dir[] = "/tmp/libgcs-test-XXXXXX", spec[96], path[128];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct gcs_transport *t = NULL;
	int fds = count_fds(), lfd = -1, cfd, afd = -1, fd;
	int64_t start;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "unix:%s/t", dir);
	ck_assert_int_eq(gcs_transport_parse(spec, &t), 0);
	ck_assert_str_eq(gcs_transport_spec(t), spec);

	/* Listen: "<base>_<port>" in decimal, CLOEXEC and non-blocking. */
	ck_assert_int_eq(gcs_transport_listen(t, 5, &lfd), 0);
	snprintf(path, sizeof(path), "%s/t_5", dir);
	ck_assert(is_socket(path));
	ck_assert(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	ck_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK);

	start = now_ms();
	ck_assert_int_eq(gcs_transport_accept(lfd, 50, &afd), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - start, 40);
	ck_assert_int_eq(afd, -1);

	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(gcs_transport_accept(lfd, STEP_MS, &afd), 0);
	ck_assert(fcntl(afd, F_GETFD) & FD_CLOEXEC);
	write_str(cfd, "x");
	read_exact(afd, path + 100, 1);
	close(afd);
	close(cfd);
	gcs_transport_unlisten(t, 5, lfd);
	snprintf(path, sizeof(path), "%s/t_5", dir);
	ck_assert(access(path, F_OK) < 0 && errno == ENOENT);

	/* A stale socket file from an earlier run is replaced. */
	snprintf(path, sizeof(path), "%s/t_6", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	ck_assert(is_socket(path));
	ck_assert_int_eq(gcs_transport_listen(t, 6, &lfd), 0);
	gcs_transport_unlisten(t, 6, lfd);
	ck_assert(access(path, F_OK) < 0);

	/* Anything else at that path is not ours to delete. */
	snprintf(path, sizeof(path), "%s/t_7", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(gcs_transport_listen(t, 7, &lfd), -EEXIST);
	ck_assert_int_eq(unlink(path), 0);
	gcs_transport_free(t);

	/* hvsock parses everywhere and is unavailable here. "vsock" is parsed, never opened. */
	ck_assert_int_eq(gcs_transport_parse("hvsock:3f2a0000-1111-2222-3333-444455556666", &t), 0);
	ck_assert_int_eq(gcs_transport_listen(t, GCS_PORT_BRIDGE, &lfd), -EAFNOSUPPORT);
	gcs_transport_free(t);
	ck_assert_int_eq(gcs_transport_parse("vsock", &t), 0);
	ck_assert_str_eq(gcs_transport_spec(t), "vsock");
	gcs_transport_free(t);

	t = NULL;
	ck_assert_int_eq(gcs_transport_parse("unix:", &t), -EINVAL);
	ck_assert_int_eq(gcs_transport_parse("tcp:1", &t), -EINVAL);
	ck_assert_int_eq(gcs_transport_parse("", &t), -EINVAL);
	ck_assert_int_eq(gcs_transport_parse("hvsock:not-a-guid", &t), -EINVAL);
	memset(path, 'a', sizeof(path));
	memcpy(path, "unix:", 5);
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(gcs_transport_parse(path, &t), -EINVAL);
	ck_assert_ptr_null(t);

	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- connect and negotiate ---- */

START_TEST(test_connect_timeout)
{
	struct harness h;
	struct gcs_error err = { 0 };
	int64_t start;

	h_init(&h);
	h.o.connect_timeout_ms = 100;
	ck_assert_int_eq(gcs_bridge_listen(h.t, &h.o, &h.b, &err), 0);
	start = now_ms();
	ck_assert_int_eq(gcs_bridge_connect(h.b, &err), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - start, 90);
	ck_assert_msg(strstr(err.message, "did not connect"), "%s", err.message);
	/* Calls before the guest is there fail at once. */
	ck_assert_int_eq(gcs_start_container(h.b, "c1", &err), -ENOTCONN);
	h_end(&h);
}
END_TEST

static void script_two_calls(struct fg *g)
{
	struct gcs_header h;
	char *body;

	/* IDs go on from NegotiateProtocol's 0. */
	body = fg_read_body(g, GCS_MSG_DUMP_STACKS_REQ, &h);
	ck_assert_uint_eq(h.id, 1);
	ck_assert_str_eq(body, "{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z "\"}\n");
	free(body);
	fg_reply(g, &h,
		 "{\"Result\":0,\"ActivityId\":\"" Z
		 "\",\"GuestStacks\":\"goroutine 1 \\u003crunning\\u003e\"}");
	body = fg_read_body(g, GCS_MSG_GET_PROPERTIES_REQ, &h);
	ck_assert_uint_eq(h.id, 2);
	ck_assert_str_eq(body, "{\"raw\":true}");
	free(body);
	fg_reply(g, &h, "{\"Result\":-2147467259,\"ErrorMessage\":\"nope\"}");
}

static const char *const negotiate_ok_bodies[] = {
	NULL, /* the Go GCS's exact answer */
	"{\"Result\":0,\"Version\":4,\"Capabilities\":{\"RuntimeOsType\":\"linux\","
	"\"GuestDefinedCapabilities\":{}}}",
};

START_TEST(test_negotiate_ok)
{
	const struct gcs_proto_capabilities *c;
	struct gcs_error err = { 0 };
	struct harness h;
	char *stacks = NULL, *body = NULL;
	uint32_t type = 0;

	h_init(&h);
	ck_assert_uint_eq(strlen(GO_NEGOTIATE_RESP), 326);
	h.g.negotiate_resp = negotiate_ok_bodies[_i];
	h.g.script = script_two_calls;
	ck_assert_ptr_null(gcs_bridge_capabilities(NULL));
	h_connect(&h);
	c = gcs_bridge_capabilities(h.b);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->runtime_os_type, _i == 0 ? "Linux" : "linux");
	ck_assert(!c->send_host_create_message);
	if (_i == 0) {
		ck_assert_uint_eq(c->n_supported_schema_versions, 1);
		ck_assert_uint_eq(c->supported_schema_versions[0].major, 2);
		ck_assert_uint_eq(c->supported_schema_versions[0].minor, 1);
		ck_assert(c->guest_defined.namespace_add_request_supported);
		ck_assert(c->guest_defined.signal_process_supported);
		ck_assert(c->guest_defined.dump_stacks_supported);
		ck_assert(c->guest_defined.delete_container_state_supported);
	} else {
		ck_assert(!c->guest_defined.signal_process_supported);
	}
	/* A second connect is refused. */
	ck_assert_int_eq(gcs_bridge_connect(h.b, &err), -EALREADY);

	ck_assert_int_eq(gcs_dump_stacks(h.b, &stacks, &err), 0);
	ck_assert_str_eq(stacks, "goroutine 1 <running>");
	free(stacks);
	/* A raw call returns the raw answer, whatever its Result. */
	ck_assert_int_eq(gcs_bridge_call_raw(h.b, GCS_MSG_GET_PROPERTIES_REQ, "{\"raw\":true}", 0,
					     &type, &body, &err),
			 0);
	ck_assert_uint_eq(type, GCS_MSG_GET_PROPERTIES_RESP);
	ck_assert_str_eq(body, "{\"Result\":-2147467259,\"ErrorMessage\":\"nope\"}");
	free(body);
	/* Not a request type: refused before anything is sent. */
	ck_assert_int_eq(
		gcs_bridge_call_raw(h.b, GCS_MSG_DUMP_STACKS_RESP, "{}", 0, &type, &body, &err),
		-EINVAL);
	h_end(&h);
}
END_TEST

static const struct {
	const char *body;
	int rc;
	const char *msg;
	int32_t hresult;
} negotiate_bad[] = {
	{ "{\"Result\":0,\"Version\":3,\"Capabilities\":{\"RuntimeOsType\":\"Linux\","
	  "\"GuestDefinedCapabilities\":{}}}",
	  -EPROTO, "version 3", HR_UNSUPPORTED_PROTOCOL_VERSION },
	{ "{\"Result\":0,\"Version\":4,\"Capabilities\":{\"RuntimeOsType\":\"Linux\"}}", -EPROTO,
	  "GuestDefinedCapabilities: missing", HR_INVALID_JSON },
	{ "{\"Result\":0,\"Version\":4,\"Capabilities\":{\"RuntimeOsType\":\"Linux\","
	  "\"GuestDefinedCapabilities\":[]}}",
	  -EPROTO, "GuestDefinedCapabilities: expected object", HR_INVALID_JSON },
	{ "{\"Result\":0,\"Version\":4,\"Capabilities\":{\"GuestDefinedCapabilities\":{}}}",
	  -EPROTO, "RuntimeOsType is \"\"", HR_FAIL },
	{ "{\"Result\":0,\"Version\":4,\"Capabilities\":{\"RuntimeOsType\":\"Windows\","
	  "\"GuestDefinedCapabilities\":{}}}",
	  -EPROTO, "RuntimeOsType is \"Windows\"", HR_FAIL },
	{ "{\"Result\":-1070137076,\"ActivityId\":\"" Z "\"}", -EREMOTEIO,
	  "HCS_E_UNSUPPORTED_PROTOCOL_VERSION", HR_UNSUPPORTED_PROTOCOL_VERSION },
};

START_TEST(test_negotiate_rejected)
{
	struct gcs_error err = { 0 };
	struct harness h;
	int rc;

	h_init(&h);
	h.g.negotiate_resp = negotiate_bad[_i].body;
	h_listen(&h);
	rc = gcs_bridge_connect(h.b, &err);
	ck_assert_msg(rc == negotiate_bad[_i].rc, "case %d: rc %d (%s)", _i, rc, err.message);
	ck_assert_msg(strstr(err.message, "negotiate") &&
			      strstr(err.message, negotiate_bad[_i].msg),
		      "case %d: %s", _i, err.message);
	ck_assert_int_eq(err.hresult, negotiate_bad[_i].hresult);
	ck_assert(gcs_bridge_broken(h.b));
	ck_assert_ptr_null(gcs_bridge_capabilities(h.b));
	/* Later calls fail fast with the reason. */
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(gcs_start_container(h.b, "c1", &err), -ECONNABORTED);
	ck_assert_msg(strstr(err.message, negotiate_bad[_i].msg), "%s", err.message);
	h_end(&h);
}
END_TEST

/* ---- concurrency ---- */

#define N_THREADS 8
#define N_ROUNDS 4

struct conc {
	struct gcs_bridge *b;
	int index;
	pthread_t thread;
	int failures;
	char why[GCS_ERROR_MESSAGE_MAX];
};

static void *conc_main(void *arg)
{
	struct conc *c = arg;
	static const char *const types[] = { "ProcessList" };
	char id[16];

	snprintf(id, sizeof(id), "c%d", c->index);
	for (int r = 0; r < N_ROUNDS; r++) {
		struct gcs_proto_get_properties_resp resp;
		struct gcs_error err = { 0 };
		int rc = gcs_get_properties(c->b, id, types, 1, &resp, &err);
		if (rc < 0) {
			c->failures++;
			snprintf(c->why, sizeof(c->why), "round %d: %s", r, err.message);
			continue;
		}
		if (resp.n_process_list != 1 ||
		    resp.process_list[0].process_id != (uint32_t)(1000 + c->index * 100 + r)) {
			c->failures++;
			snprintf(c->why, sizeof(c->why), "round %d: wrong answer", r);
		}
		gcs_proto_release(&resp);
	}
	return NULL;
}

/* Collects one request from every thread, then answers them in reverse order. */
static void script_concurrent(struct fg *g)
{
	bool seen_id[1 + N_THREADS * N_ROUNDS] = { false };

	for (int r = 0; r < N_ROUNDS; r++) {
		struct gcs_header hs[N_THREADS];
		int idx[N_THREADS];
		bool seen[N_THREADS] = { false };

		for (int k = 0; k < N_THREADS; k++) {
			struct gcs_proto_get_properties_req req;
			fg_expect(g, GCS_MSG_GET_PROPERTIES_REQ, &hs[k], &req);
			ck_assert_uint_ge(hs[k].id, 1);
			ck_assert_uint_le(hs[k].id, N_THREADS * N_ROUNDS);
			ck_assert(!seen_id[hs[k].id]);
			seen_id[hs[k].id] = true;
			ck_assert_int_eq(sscanf(req.base.container_id, "c%d", &idx[k]), 1);
			ck_assert(idx[k] >= 0 && idx[k] < N_THREADS && !seen[idx[k]]);
			seen[idx[k]] = true;
			ck_assert_uint_eq(req.n_property_types, 1);
			ck_assert_str_eq(req.property_types[0], "ProcessList");
			gcs_proto_release(&req);
		}
		for (int k = N_THREADS - 1; k >= 0; k--) {
			char body[256];
			snprintf(body, sizeof(body),
				 "{\"Result\":0,\"ActivityId\":\"" Z "\",\"Properties\":"
				 "\"{\\\"ProcessList\\\":[{\\\"ProcessId\\\":%d}]}\"}",
				 1000 + idx[k] * 100 + r);
			fg_reply(g, &hs[k], body);
		}
	}
}

START_TEST(test_concurrent_calls)
{
	struct conc c[N_THREADS];
	struct harness h;

	h_init(&h);
	h.g.script = script_concurrent;
	h_connect(&h);
	for (int i = 0; i < N_THREADS; i++) {
		c[i] = (struct conc){ .b = h.b, .index = i };
		ck_assert_int_eq(pthread_create(&c[i].thread, NULL, conc_main, &c[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++)
		timed_join(c[i].thread);
	for (int i = 0; i < N_THREADS; i++)
		ck_assert_msg(c[i].failures == 0, "thread %d: %s", i, c[i].why);
	h_end(&h);
}
END_TEST

/* ---- errors, timeouts, notifications ---- */

static void script_errors(struct fg *g)
{
	struct gcs_header h;

	fg_expect(g, GCS_MSG_DELETE_CONTAINER_STATE_REQ, &h, NULL);
	fg_reply(g, &h,
		 "{\"Result\":-1070137074,\"ActivityId\":\"" Z "\",\"ErrorMessage\":\"HRESULT "
		 "0xc037010e: container c1 not found\",\"ErrorRecords\":[{\"Result\":-1070137074,"
		 "\"Message\":\"container c1 not found\",\"ModuleName\":\"gcs\",\"FileName\":\"\","
		 "\"Line\":4294967295}]}");
	fg_expect(g, GCS_MSG_SHUTDOWN_GRACEFUL_REQ, &h, NULL);
	fg_reply(g, &h, "{\"Result\":-1070137072}");
	fg_expect(g, GCS_MSG_START_REQ, &h, NULL);
	fg_reply(g, &h, "{\"Result\":-2147450000}");
	fg_expect(g, GCS_MSG_START_REQ, &h, NULL);
	fg_reply(g, &h, OK_RESP);
}

START_TEST(test_error_response)
{
	struct gcs_error err = { 0 };
	struct harness h;

	h_init(&h);
	h.g.script = script_errors;
	h_connect(&h);
	ck_assert_int_eq(gcs_delete_container_state(h.b, "c1", &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);
	ck_assert_str_eq(err.message, "HRESULT 0xc037010e: container c1 not found");
	/* Without ErrorMessage: the HRESULT's name, or its number. */
	ck_assert_int_eq(gcs_shutdown_container(h.b, "c1", false, &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_ALREADY_STOPPED);
	ck_assert_str_eq(err.message, "HCS_E_SYSTEM_ALREADY_STOPPED");
	ck_assert_int_eq(gcs_start_container(h.b, "c1", &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, -2147450000);
	ck_assert_str_eq(err.message, "HRESULT 0x80008370");
	/* An error answer does not hurt the bridge. */
	ck_assert(!gcs_bridge_broken(h.b));
	ck_assert_int_eq(gcs_start_container(h.b, "c1", &err), 0);
	/* Refused locally, nothing sent: no ID, the null-ID shutdown. */
	ck_assert_int_eq(gcs_start_container(h.b, NULL, &err), -EINVAL);
	ck_assert_int_eq(gcs_shutdown_container(h.b, Z, true, &err), -EINVAL);
	h_end(&h);
}
END_TEST

static void script_timeout(struct fg *g)
{
	struct gcs_header h, late;

	fg_expect(g, GCS_MSG_START_REQ, &late, NULL);
	ck_assert_uint_eq(late.id, 1);
	sem_wait_step(&g->sync); /* the host has given up */
	fg_reply(g, &late, OK_RESP); /* dropped, not an unknown ID */
	fg_expect(g, GCS_MSG_DUMP_STACKS_REQ, &h, NULL);
	ck_assert_uint_eq(h.id, 2);
	fg_reply(g, &h, "{\"Result\":0,\"GuestStacks\":\"s\"}");
}

START_TEST(test_call_timeout)
{
	struct gcs_proto_request_base req = { .container_id = "c1" };
	struct gcs_error err = { 0 };
	struct harness h;
	char *stacks = NULL;
	int64_t start;

	h_init(&h);
	h.g.script = script_timeout;
	h_connect(&h);
	start = now_ms();
	ck_assert_int_eq(gcs_bridge_call(h.b, GCS_MSG_START_REQ, &req, NULL, 100, &err),
			 -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - start, 90);
	ck_assert_int_lt(now_ms() - start, STEP_MS);
	ck_assert_msg(strstr(err.message, "Start") && strstr(err.message, "no response"), "%s",
		      err.message);
	sem_post(&h.g.sync);
	ck_assert_int_eq(gcs_dump_stacks(h.b, &stacks, &err), 0);
	ck_assert_str_eq(stacks, "s");
	free(stacks);
	ck_assert(!gcs_bridge_broken(h.b));
	h_end(&h);
}
END_TEST

struct notes {
	pthread_mutex_t lock;
	int n;
	char ids[4][32];
	char types[4][32];
};

static struct notes notes = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_note(void *user, const struct gcs_proto_notification *n)
{
	struct notes *ns = user;

	pthread_mutex_lock(&ns->lock);
	if (ns->n < 4) {
		snprintf(ns->ids[ns->n], sizeof(ns->ids[0]), "%s", n->base.container_id);
		snprintf(ns->types[ns->n], sizeof(ns->types[0]), "%s", n->type);
	}
	ns->n++;
	pthread_mutex_unlock(&ns->lock);
}

static void notify_before(struct fg *g)
{
	/* ID 0, like the negotiate response that follows: they must not be confused. */
	fg_send(g, GCS_MSG_CONTAINER_NOTIFY, 0,
		"{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z "\",\"Type\":\"UnexpectedExit\","
		"\"Operation\":\"None\",\"Result\":0}");
}

static void script_notify(struct fg *g)
{
	struct gcs_header h;

	fg_expect(g, GCS_MSG_DUMP_STACKS_REQ, &h, NULL);
	fg_send(g, GCS_MSG_CONTAINER_NOTIFY, 0,
		"{\"ContainerId\":\"c2\",\"ActivityId\":\"" Z "\",\"Type\":\"GracefulExit\","
		"\"Operation\":\"None\",\"Result\":0}");
	fg_reply(g, &h, "{\"Result\":0,\"GuestStacks\":\"\"}");
}

START_TEST(test_notification)
{
	struct gcs_error err = { 0 };
	struct harness h;
	char *stacks = NULL;

	h_init(&h);
	h.o.on_notification = on_note;
	h.o.user = &notes;
	h.g.before_negotiate = notify_before;
	h.g.script = script_notify;
	h_connect(&h);
	pthread_mutex_lock(&notes.lock);
	ck_assert_int_eq(notes.n, 1);
	ck_assert_str_eq(notes.ids[0], "c1");
	ck_assert_str_eq(notes.types[0], "UnexpectedExit");
	pthread_mutex_unlock(&notes.lock);
	/* The reader hands frames on in order: the notification before the answer. */
	ck_assert_int_eq(gcs_dump_stacks(h.b, &stacks, &err), 0);
	free(stacks);
	pthread_mutex_lock(&notes.lock);
	ck_assert_int_eq(notes.n, 2);
	ck_assert_str_eq(notes.ids[1], "c2");
	ck_assert_str_eq(notes.types[1], "GracefulExit");
	pthread_mutex_unlock(&notes.lock);
	h_end(&h);
}
END_TEST

/* ---- a broken bridge ---- */

static const struct {
	const char *what;
	const char *msg;
	int rc;
} violations[] = {
	{ "unknown ID", "unknown ID 99", -ECONNABORTED },
	{ "request", "sent a request (Request(Create), ID 5)", -ECONNABORTED },
	{ "notification", "unknown notification type 0x30100201", -ECONNABORTED },
	{ "small", "Size < 16", -ECONNABORTED },
	{ "big", "over the 65536-byte limit", -ECONNABORTED },
	{ "bad body", "invalid JSON", -ECONNABORTED },
	{ "unsigned Result", "Result", -ECONNABORTED },
	{ "guest closes", "bridge closed by the guest", -EPIPE },
};

static void script_violate(struct fg *g)
{
	int which = *(int *)g->arg;
	uint8_t hdr[GCS_HEADER_SIZE];
	struct gcs_header h, bad;

	fg_expect(g, GCS_MSG_START_REQ, &h, NULL);
	switch (which) {
	case 0:
		fg_send(g, GCS_MSG_START_RESP, 99, OK_RESP);
		break;
	case 1:
		fg_send(g, GCS_MSG_CREATE_REQ, 5, "{}");
		break;
	case 2:
		fg_send(g, 0x30100201, 0, "{}");
		break;
	case 3:
	case 4:
		bad = (struct gcs_header){ .type = GCS_MSG_START_RESP,
					   .size = which == 3 ? 8 : 65537,
					   .id = h.id };
		gcs_proto_header_encode(&bad, hdr);
		ck_assert_int_eq(gcs_proto_write_all(g->fd, hdr, sizeof(hdr), STEP_MS), 0);
		break;
	case 5:
		fg_reply(g, &h, "{\"Result\":0,");
		break;
	case 6:
		/* An unsigned HRESULT does not fit Go's int32: hcsshim's unmarshal fails. */
		fg_reply(g, &h, "{\"Result\":3221684494}");
		break;
	case 7:
		shutdown(g->fd, SHUT_RDWR);
		close(g->fd);
		g->fd = -1;
		break;
	}
}

START_TEST(test_broken_bridge)
{
	struct gcs_error err = { 0 };
	struct harness h;
	struct bg_call c;
	int which = _i;
	int64_t start;

	h_init(&h);
	h.g.script = script_violate;
	h.g.arg = &which;
	h_connect(&h);
	bg_call_start(&c, h.b);
	timed_join(c.thread);
	ck_assert_msg(c.rc == violations[_i].rc, "%s: rc %d (%s)", violations[_i].what, c.rc,
		      c.err.message);
	ck_assert_msg(strstr(c.err.message, violations[_i].msg), "%s: %s", violations[_i].what,
		      c.err.message);
	ck_assert(gcs_bridge_broken(h.b));
	/* Later calls fail at once, with the same reason. */
	start = now_ms();
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(gcs_delete_container_state(h.b, "c1", &err), violations[_i].rc);
	ck_assert_str_eq(err.message, c.err.message);
	ck_assert_int_lt(now_ms() - start, 1000);
	h_end(&h);
}
END_TEST

static void script_read_one(struct fg *g)
{
	struct gcs_header h;

	fg_expect(g, GCS_MSG_START_REQ, &h, NULL);
	sem_post(&g->sync);
}

START_TEST(test_close_fails_pending)
{
	struct harness h;
	struct bg_call c;

	h_init(&h);
	h.g.script = script_read_one;
	h_connect(&h);
	bg_call_start(&c, h.b);
	sem_wait_step(&h.g.sync); /* the call is out and pending */
	gcs_bridge_close(h.b);
	h.b = NULL;
	timed_join(c.thread);
	ck_assert_int_eq(c.rc, -ECONNABORTED);
	ck_assert_str_eq(c.err.message, "bridge closed");
	h_end(&h);
}
END_TEST

/* ---- typed calls ---- */

static void script_typed(struct fg *g)
{
	struct gcs_proto_create_req cr;
	struct gcs_proto_request_base base;
	struct gcs_proto_modify_req mr;
	struct gcs_header h;

	fg_expect(g, GCS_MSG_CREATE_REQ, &h, &cr);
	ck_assert_str_eq(cr.base.container_id, "c1");
	ck_assert_str_eq(cr.base.activity_id, Z);
	ck_assert_uint_eq(cr.config.schema_version.major, 2);
	ck_assert_uint_eq(cr.config.schema_version.minor, 1);
	ck_assert_str_eq(cr.config.oci_bundle_path, "/run/gcs/c/c1");
	gcs_proto_release(&cr);
	fg_reply(g, &h, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"SelectedProtocolVersion\":0}");

	static const uint32_t base_types[] = { GCS_MSG_START_REQ, GCS_MSG_SHUTDOWN_GRACEFUL_REQ,
					       GCS_MSG_SHUTDOWN_FORCED_REQ,
					       GCS_MSG_DELETE_CONTAINER_STATE_REQ };
	for (size_t i = 0; i < sizeof(base_types) / sizeof(base_types[0]); i++) {
		fg_expect(g, base_types[i], &h, &base);
		ck_assert_str_eq(base.container_id, "c1");
		gcs_proto_release(&base);
		fg_reply(g, &h, OK_RESP);
	}

	fg_expect(g, GCS_MSG_MODIFY_SETTINGS_REQ, &h, &mr);
	ck_assert_str_eq(mr.base.container_id, Z);
	ck_assert_int_eq(mr.request_type, GCS_REQUEST_TYPE_ADD);
	ck_assert_int_eq(mr.resource_type, GCS_RESOURCE_MAPPED_VIRTUAL_DISK);
	ck_assert_str_eq(mr.settings.mapped_virtual_disk.mount_path, "/run/mounts/scsi/m0");
	ck_assert_uint_eq(mr.settings.mapped_virtual_disk.lun, 1);
	gcs_proto_release(&mr);
	fg_reply(g, &h, OK_RESP);
}

START_TEST(test_typed_calls)
{
	struct gcs_proto_container_config cfg = {
		.schema_version = { 2, 1 },
		.oci_bundle_path = "/run/gcs/c/c1",
		.scratch_dir_path = "",
	};
	struct gcs_proto_modify_req mr = {
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK,
		.has_settings = true,
		.settings.mapped_virtual_disk = { .mount_path = "/run/mounts/scsi/m0", .lun = 1 },
	};
	struct gcs_error err = { 0 };
	struct harness h;

	h_init(&h);
	h.g.script = script_typed;
	h_connect(&h);
	ck_assert_int_eq(gcs_create_container(h.b, "c1", &cfg, &err), 0);
	ck_assert_int_eq(gcs_start_container(h.b, "c1", &err), 0);
	ck_assert_int_eq(gcs_shutdown_container(h.b, "c1", false, &err), 0);
	ck_assert_int_eq(gcs_shutdown_container(h.b, "c1", true, &err), 0);
	ck_assert_int_eq(gcs_delete_container_state(h.b, "c1", &err), 0);
	ck_assert_int_eq(gcs_modify_settings(h.b, &mr, &err), 0);
	h_end(&h);
}
END_TEST

/* ---- lcow extension: LcowContainerOperation ---- */

/* The Go GCS's answer plus lcow's capability (docs/protocol.md, lcow extensions). */
#define LCOW_NEGOTIATE_RESP                                                                    \
	"{\"Result\":0,\"ActivityId\":\"00000000-0000-0000-0000-000000000000\",\"Version\":4," \
	"\"Capabilities\":{\"SupportedSchemaVersions\":[{\"Major\":2,\"Minor\":1}],"           \
	"\"RuntimeOsType\":\"Linux\",\"GuestDefinedCapabilities\":{"                           \
	"\"NamespaceAddRequestSupported\":true,\"SignalProcessSupported\":true,"               \
	"\"DumpStacksSupported\":true,\"DeleteContainerStateSupported\":true,"                 \
	"\"LcowContainerOperationsSupported\":true}}}"

#define CONTAINER_OP_BODY(settings)                   \
	"{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z \
	"\",\"Request\":{\"RequestType\":\"Update\"," \
	"\"ResourceType\":\"LcowContainerOperation\",\"Settings\":" settings "}}\n"

static void script_container_ops(struct fg *g)
{
	static const char *const bodies[] = {
		CONTAINER_OP_BODY("{\"Operation\":\"Pause\"}"),
		CONTAINER_OP_BODY("{\"Operation\":\"Resume\"}"),
		CONTAINER_OP_BODY("{\"Operation\":\"KillAll\",\"Signal\":15}"),
		CONTAINER_OP_BODY("{\"Operation\":\"KillAll\"}"),
	};
	struct gcs_header h;
	char *body;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		body = fg_read_body(g, GCS_MSG_MODIFY_SETTINGS_REQ, &h);
		ck_assert_uint_eq(h.id, i + 1);
		ck_assert_str_eq(body, bodies[i]);
		free(body);
		fg_reply(g, &h, OK_RESP);
	}
	/* The guest's errors come back unchanged: a container that is not running. */
	body = fg_read_body(g, GCS_MSG_MODIFY_SETTINGS_REQ, &h);
	ck_assert_str_eq(body, CONTAINER_OP_BODY("{\"Operation\":\"Pause\"}"));
	free(body);
	fg_reply(g, &h,
		 "{\"Result\":-1070137072,\"ActivityId\":\"" Z
		 "\",\"ErrorMessage\":\"container c1 is not running\"}");
	/* An operation libgcs does not know still goes out: the guest judges it. */
	body = fg_read_body(g, GCS_MSG_MODIFY_SETTINGS_REQ, &h);
	ck_assert_str_eq(body, CONTAINER_OP_BODY("{\"Operation\":\"Checkpoint\"}"));
	free(body);
	fg_reply(g, &h, "{\"Result\":-2147024809,\"ActivityId\":\"" Z "\"}");
}

START_TEST(test_container_operation)
{
	const struct gcs_proto_capabilities *c;
	struct gcs_error err = { 0 };
	struct harness h;

	h_init(&h);
	h.g.negotiate_resp = LCOW_NEGOTIATE_RESP;
	h.g.script = script_container_ops;
	h_connect(&h);
	c = gcs_bridge_capabilities(h.b);
	ck_assert_ptr_nonnull(c);
	ck_assert(c->guest_defined.lcow_container_operations_supported);
	ck_assert(c->guest_defined.delete_container_state_supported);

	/* Argument errors: nothing is sent. */
	ck_assert_int_eq(gcs_container_operation(h.b, NULL, GCS_CONTAINER_OP_PAUSE, 0, &err),
			 -EINVAL);
	ck_assert_int_eq(gcs_container_operation(h.b, "", GCS_CONTAINER_OP_PAUSE, 0, &err),
			 -EINVAL);
	ck_assert_int_eq(gcs_container_operation(h.b, Z, GCS_CONTAINER_OP_PAUSE, 0, &err), -EINVAL);
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", NULL, 0, &err), -EINVAL);
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", "", 0, &err), -EINVAL);
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", GCS_CONTAINER_OP_PAUSE, 9, &err),
			 -EINVAL);
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", GCS_CONTAINER_OP_KILL_ALL, -1, &err),
			 -EINVAL);
	ck_assert_int_eq(err.hresult, HR_INVALIDARG);

	err = (struct gcs_error){ 0 };
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", GCS_CONTAINER_OP_PAUSE, 0, &err), 0);
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", GCS_CONTAINER_OP_RESUME, 0, &err), 0);
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", GCS_CONTAINER_OP_KILL_ALL, 15, &err),
			 0);
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", GCS_CONTAINER_OP_KILL_ALL, 0, &err), 0);
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", GCS_CONTAINER_OP_PAUSE, 0, &err),
			 -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_ALREADY_STOPPED);
	ck_assert_ptr_nonnull(strstr(err.message, "container c1 is not running"));
	err = (struct gcs_error){ 0 };
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", "Checkpoint", 0, &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_INVALIDARG);
	h_end(&h);
}
END_TEST

/* ContainerConstraints Update: hcsshim's task update body, Windows always there (empty). */
static void script_constraints(struct fg *g)
{
	struct gcs_header h;
	char *body;

	body = fg_read_body(g, GCS_MSG_MODIFY_SETTINGS_REQ, &h);
	ck_assert_str_eq(body, "{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z
			       "\",\"Request\":{\"RequestType\":\"Update\","
			       "\"ResourceType\":\"ContainerConstraints\",\"Settings\":"
			       "{\"Windows\":{},\"Linux\":{\"memory\":{\"limit\":67108864}}}}}\n");
	free(body);
	fg_reply(g, &h, OK_RESP);
}

START_TEST(test_update_container_resources)
{
	struct gcs_error err = { 0 };
	json_t *r = json_pack("{s:{s:I}}", "memory", "limit", (json_int_t)67108864);
	struct harness h;

	h_init(&h);
	h.g.script = script_constraints;
	h_connect(&h);
	ck_assert_int_eq(gcs_update_container_resources(h.b, "", r, &err), -EINVAL);
	ck_assert_int_eq(gcs_update_container_resources(h.b, "c1", NULL, &err), -EINVAL);
	err = (struct gcs_error){ 0 };
	ck_assert_int_eq(gcs_update_container_resources(h.b, "c1", r, &err), 0);
	json_decref(r);
	h_end(&h);
}
END_TEST

/* A guest without the capability (the Go GCS): refused before anything is sent. */
START_TEST(test_container_operation_unsupported)
{
	struct gcs_error err = { 0 };
	struct harness h;

	ck_assert_int_eq(gcs_container_operation(NULL, "c1", GCS_CONTAINER_OP_PAUSE, 0, &err),
			 -ENOTCONN);
	h_init(&h);
	h_connect(&h);
	ck_assert(!gcs_bridge_capabilities(h.b)->guest_defined.lcow_container_operations_supported);
	err = (struct gcs_error){ 0 };
	ck_assert_int_eq(gcs_container_operation(h.b, "c1", GCS_CONTAINER_OP_KILL_ALL, 9, &err),
			 -EOPNOTSUPP);
	ck_assert_int_eq(err.hresult, HR_NOTIMPL);
	ck_assert_ptr_nonnull(strstr(err.message, "LcowContainerOperation"));
	ck_assert(!gcs_bridge_broken(h.b));
	/* The fake guest's next read is the EOF of h_end: no request was sent. */
	h_end(&h);
}
END_TEST

/* ---- processes ---- */

/*
 * Reads an ExecuteProcess, checks the listeners exist, dials the requested ports in the guest's
 * order (stdin, stdout, stderr) and answers with pid. conns[i] is -1 for a stream not requested.
 */
static void fg_exec(struct fg *g, struct gcs_proto_execute_process_req *ret_req,
		    struct gcs_header *ret_h, int conns[3])
{
	const uint32_t *ports[3] = { &ret_req->vsock_stdio.stdin_port,
				     &ret_req->vsock_stdio.stdout_port,
				     &ret_req->vsock_stdio.stderr_port };
	const bool *flags[3] = { &ret_req->params.create_stdin_pipe,
				 &ret_req->params.create_stdout_pipe,
				 &ret_req->params.create_stderr_pipe };

	fg_expect(g, GCS_MSG_EXECUTE_PROCESS_REQ, ret_h, ret_req);
	for (int i = 0; i < 3; i++) {
		conns[i] = -1;
		/* The flags decide; a port is there exactly when its flag is. */
		ck_assert_int_eq(*flags[i], *ports[i] != 0);
		if (*flags[i])
			conns[i] = fg_dial(g, *ports[i]);
	}
}

static void fg_exec_reply(struct fg *g, const struct gcs_header *h, uint32_t pid)
{
	char body[128];

	snprintf(body, sizeof(body), "{\"Result\":0,\"ActivityId\":\"" Z "\",\"ProcessId\":%u}",
		 pid);
	fg_reply(g, h, body);
}

static void script_stdio(struct fg *g)
{
	struct gcs_proto_execute_process_req req;
	struct gcs_proto_wait_req wr;
	struct gcs_header h;
	char buf[256];
	int c[3];

	fg_exec(g, &req, &h, c);
	ck_assert_str_eq(req.base.container_id, Z);
	ck_assert_uint_eq(req.vsock_stdio.stdin_port, 0x40000001);
	ck_assert_uint_eq(req.vsock_stdio.stdout_port, 0x40000002);
	ck_assert_uint_eq(req.vsock_stdio.stderr_port, 0x40000003);
	ck_assert_uint_eq(req.params.n_command_args, 2);
	ck_assert_str_eq(req.params.command_args[0], "/bin/cat");
	ck_assert_str_eq(req.params.working_directory, "/");
	ck_assert(!req.params.emulate_console);
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 42);

	write_str(c[1], "hello stdout\n");
	write_str(c[2], "hello stderr\n");
	/* stdin: the caller's pipe, then EOF as a half-close. */
	ck_assert_uint_eq(read_to_eof(c[0], buf, sizeof(buf)), 10);
	ck_assert_int_eq(memcmp(buf, "input data", 10), 0);

	fg_expect(g, GCS_MSG_WAIT_FOR_PROCESS_REQ, &h, &wr);
	ck_assert_uint_eq(wr.process_id, 42);
	ck_assert_uint_eq(wr.timeout_ms, STEP_MS);
	ck_assert_str_eq(wr.base.container_id, Z);
	gcs_proto_release(&wr);
	/* Answer first, output later: wait must still return only after all of it. */
	fg_reply(g, &h, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"ExitCode\":7}");
	usleep(200 * 1000);
	write_str(c[1], "late output\n");
	shutdown(c[1], SHUT_WR);
	shutdown(c[2], SHUT_WR);
	/* The host closes stdout after our EOF (the Go GCS waits for that). */
	ck_assert_uint_eq(read_to_eof(c[1], buf, sizeof(buf)), 0);
	for (int i = 0; i < 3; i++)
		close(c[i]);
}

START_TEST(test_exec_stdio)
{
	static const char *const args[] = { "/bin/cat", "-" };
	struct gcs_proto_process_params params = {
		.command_args = args,
		.n_command_args = 2,
		.working_directory = "/",
	};
	struct gcs_exec_options o = { .params = &params };
	struct gcs_error err = { 0 };
	struct gcs_process *p = NULL;
	struct harness h;
	int in[2], out[2], n;
	uint32_t code = 0;
	char buf[256];
	int64_t start;

	h_init(&h);
	h.g.script = script_stdio;
	h_connect(&h);
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	o.stdio[GCS_STDIN] = (struct gcs_stdio){ GCS_STDIO_FD, in[0] };
	o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, out[1] };
	o.stdio[GCS_STDERR] = (struct gcs_stdio){ GCS_STDIO_SOCKET, -1 };
	ck_assert_msg(gcs_process_exec(h.b, &o, &p, &err) == 0, "exec: %s", err.message);
	ck_assert_uint_eq(gcs_process_pid(p), 42);
	ck_assert_int_eq(gcs_process_stdio_fd(p, GCS_STDIN), -1);
	ck_assert_int_eq(gcs_process_stdio_fd(p, GCS_STDOUT), -1);
	ck_assert_int_ge(gcs_process_stdio_fd(p, GCS_STDERR), 0);
	ck_assert(fcntl(gcs_process_stdio_fd(p, GCS_STDERR), F_GETFD) & FD_CLOEXEC);
	/* The listeners are gone once the guest is connected. */
	ck_assert_int_eq(count_dir(h.g.dir), 0);

	write_str(in[1], "input data");
	close(in[1]);
	read_exact(gcs_process_stdio_fd(p, GCS_STDERR), buf, 13);
	ck_assert_int_eq(memcmp(buf, "hello stderr\n", 13), 0);

	start = now_ms();
	ck_assert_msg(gcs_process_wait(p, STEP_MS, &code, &err) == 0, "wait: %s", err.message);
	ck_assert_uint_eq(code, 7);
	ck_assert_int_ge(now_ms() - start, 150);
	/* Everything is in the pipe already: read it without waiting. */
	ck_assert_int_eq(fcntl(out[0], F_SETFL, O_NONBLOCK), 0);
	n = (int)read(out[0], buf, sizeof(buf));
	ck_assert_int_eq(n, 25);
	ck_assert_int_eq(memcmp(buf, "hello stdout\nlate output\n", 25), 0);

	gcs_process_free(p);
	close(in[0]);
	close(out[0]);
	close(out[1]);
	h_end(&h);
}
END_TEST

static void script_ports(struct fg *g)
{
	struct gcs_proto_execute_process_req req;
	struct gcs_header h;
	char buf[16];
	int c[3];

	/* 1: stdout only, in a container. */
	fg_exec(g, &req, &h, c);
	ck_assert_str_eq(req.base.container_id, "c1");
	ck_assert(!req.params.create_stdin_pipe && req.params.create_stdout_pipe &&
		  !req.params.create_stderr_pipe);
	ck_assert_uint_eq(req.vsock_stdio.stdout_port, 0x40000001);
	ck_assert_ptr_nonnull(req.params.oci_process);
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 100);
	shutdown(c[1], SHUT_WR);
	close(c[1]);

	/* 2: stdin and stderr as sockets. */
	fg_exec(g, &req, &h, c);
	ck_assert(req.params.create_stdin_pipe && !req.params.create_stdout_pipe &&
		  req.params.create_stderr_pipe);
	ck_assert_uint_eq(req.vsock_stdio.stdin_port, 0x40000002);
	ck_assert_uint_eq(req.vsock_stdio.stderr_port, 0x40000003);
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 101);
	ck_assert_uint_eq(read_to_eof(c[0], buf, sizeof(buf)), 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
	write_str(c[2], "e");
	close(c[0]);
	close(c[2]);

	/* 3: no stdio at all: no flags, no ports, UVM process. */
	fg_exec(g, &req, &h, c);
	ck_assert_str_eq(req.base.container_id, Z);
	ck_assert(!req.params.create_stdin_pipe && !req.params.create_stdout_pipe &&
		  !req.params.create_stderr_pipe);
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 102);

	/* 4: an error answer. The guest does not dial in that case. */
	fg_expect(g, GCS_MSG_EXECUTE_PROCESS_REQ, &h, &req);
	ck_assert_uint_eq(req.vsock_stdio.stdin_port, 0x40000004);
	ck_assert_uint_eq(req.vsock_stdio.stdout_port, 0x40000005);
	ck_assert_uint_eq(req.vsock_stdio.stderr_port, 0x40000006);
	gcs_proto_release(&req);
	fg_reply(g, &h,
		 "{\"Result\":-1070137074,\"ActivityId\":\"" Z "\",\"ErrorMessage\":\"container c9 "
		 "not found\"}");

	/* 5: ports are never reused, even after a failure. */
	fg_exec(g, &req, &h, c);
	ck_assert_uint_eq(req.vsock_stdio.stdout_port, 0x40000007);
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 104);
	close(c[1]);
}

START_TEST(test_exec_ports)
{
	struct gcs_proto_process_params params = { 0 };
	struct gcs_exec_options o = { 0 };
	struct gcs_error err = { 0 };
	struct gcs_process *p = NULL;
	struct harness h;
	json_t *oci;
	char buf[4];
	int out[2], fd;

	h_init(&h);
	h.g.script = script_ports;
	h_connect(&h);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);

	oci = json_pack("{s:[s], s:s}", "args", "ps", "cwd", "/");
	params.oci_process = oci;
	o.container_id = "c1";
	o.params = &params;
	o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, out[1] };
	ck_assert_msg(gcs_process_exec(h.b, &o, &p, &err) == 0, "exec: %s", err.message);
	ck_assert_uint_eq(gcs_process_pid(p), 100);
	gcs_process_free(p);
	json_decref(oci);

	memset(&o, 0, sizeof(o));
	o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDERR].mode = GCS_STDIO_SOCKET;
	ck_assert_msg(gcs_process_exec(h.b, &o, &p, &err) == 0, "exec: %s", err.message);
	fd = gcs_process_stdio_fd(p, GCS_STDIN);
	ck_assert_int_ge(fd, 0);
	write_str(fd, "abc");
	ck_assert_int_eq(gcs_process_close_stdin(p), 0);
	read_exact(gcs_process_stdio_fd(p, GCS_STDERR), buf, 1);
	ck_assert_int_eq(buf[0], 'e');
	gcs_process_free(p);

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(gcs_process_exec(h.b, &o, &p, &err), 0);
	ck_assert_uint_eq(gcs_process_pid(p), 102);
	ck_assert_int_eq(gcs_process_close_stdin(p), -EBADF);
	gcs_process_free(p);

	/* An error answer: -EREMOTEIO, nothing returned, listeners gone. */
	o.stdio[GCS_STDIN].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDERR].mode = GCS_STDIO_SOCKET;
	p = NULL;
	ck_assert_int_eq(gcs_process_exec(h.b, &o, &p, &err), -EREMOTEIO);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);
	ck_assert_str_eq(err.message, "container c9 not found");
	ck_assert_int_eq(count_dir(h.g.dir), 0);

	memset(&o, 0, sizeof(o));
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	ck_assert_int_eq(gcs_process_exec(h.b, &o, &p, &err), 0);
	gcs_process_free(p);

	/* Refused locally: an FD stream without an fd. */
	o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, -1 };
	ck_assert_int_eq(gcs_process_exec(h.b, &o, &p, &err), -EBADF);

	close(out[0]);
	close(out[1]);
	h_end(&h);
}
END_TEST

static void script_wait(struct fg *g)
{
	struct gcs_proto_execute_process_req req;
	struct gcs_proto_signal_req sr;
	struct gcs_proto_resize_req rr;
	struct gcs_proto_wait_req wr;
	struct gcs_header h;
	int c[3];

	fg_exec(g, &req, &h, c);
	ck_assert_str_eq(req.base.container_id, "c1");
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 77);

	fg_expect(g, GCS_MSG_WAIT_FOR_PROCESS_REQ, &h, &wr);
	ck_assert_uint_eq(wr.timeout_ms, 50);
	gcs_proto_release(&wr);
	usleep(50 * 1000);
	fg_reply(g, &h,
		 "{\"Result\":-1070137079,\"ActivityId\":\"" Z "\",\"ErrorMessage\":\"HRESULT "
		 "0xc0370109: timeout waiting for process\"}");

	fg_expect(g, GCS_MSG_SIGNAL_PROCESS_REQ, &h, &sr);
	ck_assert_uint_eq(sr.process_id, 77);
	ck_assert(!sr.has_options);
	gcs_proto_release(&sr);
	fg_reply(g, &h, OK_RESP);
	fg_expect(g, GCS_MSG_SIGNAL_PROCESS_REQ, &h, &sr);
	ck_assert(sr.has_options);
	ck_assert_int_eq(sr.signal, 15);
	ck_assert_str_eq(sr.base.container_id, "c1");
	gcs_proto_release(&sr);
	fg_reply(g, &h, OK_RESP);

	fg_expect(g, GCS_MSG_RESIZE_CONSOLE_REQ, &h, &rr);
	ck_assert_uint_eq(rr.process_id, 77);
	ck_assert_uint_eq(rr.height, 24);
	ck_assert_uint_eq(rr.width, 80);
	gcs_proto_release(&rr);
	fg_reply(g, &h, OK_RESP);

	fg_expect(g, GCS_MSG_WAIT_FOR_PROCESS_REQ, &h, &wr);
	ck_assert_uint_eq(wr.timeout_ms, GCS_WAIT_INFINITE);
	gcs_proto_release(&wr);
	fg_reply(g, &h, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"ExitCode\":137}");
}

START_TEST(test_wait_timeout_signal_resize)
{
	struct gcs_exec_options o = { .container_id = "c1" };
	struct gcs_error err = { 0 };
	struct gcs_process *p = NULL;
	struct harness h;
	uint32_t code = 0;

	h_init(&h);
	h.g.script = script_wait;
	h_connect(&h);
	ck_assert_int_eq(gcs_process_exec(h.b, &o, &p, &err), 0);
	ck_assert_int_eq(gcs_process_wait(p, 50, &code, &err), -ETIMEDOUT);
	ck_assert_int_eq(err.hresult, HR_VMCOMPUTE_TIMEOUT);
	ck_assert_msg(strstr(err.message, "timeout waiting"), "%s", err.message);
	ck_assert_uint_eq(code, 0);
	ck_assert_int_eq(gcs_process_signal(p, 0, &err), 0);
	ck_assert_int_eq(gcs_process_signal(p, 15, &err), 0);
	ck_assert_int_eq(gcs_process_signal(p, -1, &err), -EINVAL);
	ck_assert_int_eq(gcs_process_resize(p, 24, 80, &err), 0);
	ck_assert_int_eq(gcs_process_wait(p, -1, &code, &err), 0);
	ck_assert_uint_eq(code, 137);
	gcs_process_free(p);
	h_end(&h);
}
END_TEST

/* free stops relays that are still busy: stdin blocked on the caller, stdout on the guest. */
static void script_free_busy(struct fg *g)
{
	struct gcs_proto_execute_process_req req;
	struct gcs_header h;
	int c[3];

	fg_exec(g, &req, &h, c);
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 5);
	sem_wait_step(&g->sync); /* the host has freed the process */
	/* The host's ends are closed: both streams see EOF. */
	ck_assert_uint_eq(read_to_eof(c[0], (char[8]){ 0 }, 8), 0);
	ck_assert_uint_eq(read_to_eof(c[1], (char[8]){ 0 }, 8), 0);
	close(c[0]);
	close(c[1]);
}

START_TEST(test_free_stops_relays)
{
	struct gcs_exec_options o = { 0 };
	struct gcs_error err = { 0 };
	struct gcs_process *p = NULL;
	struct harness h;
	int in[2], out[2];

	h_init(&h);
	h.g.script = script_free_busy;
	h_connect(&h);
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	o.stdio[GCS_STDIN] = (struct gcs_stdio){ GCS_STDIO_FD, in[0] };
	o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, out[1] };
	ck_assert_int_eq(gcs_process_exec(h.b, &o, &p, &err), 0);
	gcs_process_free(p);
	sem_post(&h.g.sync);
	/* The caller's fds stay the caller's. */
	ck_assert_int_ge(fcntl(in[0], F_GETFD), 0);
	ck_assert_int_ge(fcntl(out[1], F_GETFD), 0);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
	h_end(&h);
}
END_TEST

/* The caller's stdout pipe has no reader: the relay drops the output, the process still ends. */
static void script_closed_pipe(struct fg *g)
{
	struct gcs_proto_execute_process_req req;
	static char chunk[65536];
	struct gcs_header h;
	int c[3];

	fg_exec(g, &req, &h, c);
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 9);
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(gcs_proto_write_all(c[1], chunk, sizeof(chunk), STEP_MS), 0);
	shutdown(c[1], SHUT_WR);
	ck_assert_uint_eq(read_to_eof(c[1], chunk, 8), 0);
	close(c[1]);
	fg_expect(g, GCS_MSG_WAIT_FOR_PROCESS_REQ, &h, NULL);
	fg_reply(g, &h, "{\"Result\":0,\"ExitCode\":0}");
}

START_TEST(test_output_to_closed_pipe)
{
	struct gcs_exec_options o = { 0 };
	struct gcs_error err = { 0 };
	struct gcs_process *p = NULL;
	struct harness h;
	uint32_t code = 1;
	int out[2];

	h_init(&h);
	h.g.script = script_closed_pipe;
	h_connect(&h);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	close(out[0]);
	o.stdio[GCS_STDOUT] = (struct gcs_stdio){ GCS_STDIO_FD, out[1] };
	ck_assert_int_eq(gcs_process_exec(h.b, &o, &p, &err), 0);
	/* No SIGPIPE for the test process, and wait still returns. */
	ck_assert_msg(gcs_process_wait(p, STEP_MS, &code, &err) == 0, "wait: %s", err.message);
	ck_assert_uint_eq(code, 0);
	gcs_process_free(p);
	close(out[1]);
	h_end(&h);
}
END_TEST

/* The guest answers but never dials: exec gives up after its timeout and cleans up. */
static void script_no_dial(struct fg *g)
{
	struct gcs_proto_execute_process_req req;
	struct gcs_header h;

	fg_expect(g, GCS_MSG_EXECUTE_PROCESS_REQ, &h, &req);
	ck_assert_uint_eq(req.vsock_stdio.stdout_port, 0x40000001);
	gcs_proto_release(&req);
	fg_exec_reply(g, &h, 11);
}

START_TEST(test_exec_guest_does_not_dial)
{
	struct gcs_exec_options o = { .timeout_ms = 100 };
	struct gcs_error err = { 0 };
	struct gcs_process *p = NULL;
	struct harness h;

	h_init(&h);
	h.g.script = script_no_dial;
	h_connect(&h);
	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	ck_assert_int_eq(gcs_process_exec(h.b, &o, &p, &err), -ETIMEDOUT);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err.message, "stdout: the guest did not connect on port 0x40000001"),
		      "%s", err.message);
	ck_assert_int_eq(count_dir(h.g.dir), 0);
	h_end(&h);
}
END_TEST

static Suite *libgcs_suite(void)
{
	Suite *s = suite_create("libgcs");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_transport);
	tcase_add_test(tc, test_connect_timeout);
	tcase_add_loop_test(tc, test_negotiate_ok, 0, 2);
	tcase_add_loop_test(tc, test_negotiate_rejected, 0,
			    (int)(sizeof(negotiate_bad) / sizeof(negotiate_bad[0])));
	tcase_add_test(tc, test_concurrent_calls);
	tcase_add_test(tc, test_error_response);
	tcase_add_test(tc, test_call_timeout);
	tcase_add_test(tc, test_notification);
	tcase_add_loop_test(tc, test_broken_bridge, 0,
			    (int)(sizeof(violations) / sizeof(violations[0])));
	tcase_add_test(tc, test_close_fails_pending);
	tcase_add_test(tc, test_typed_calls);
	tcase_add_test(tc, test_container_operation);
	tcase_add_test(tc, test_container_operation_unsupported);
	tcase_add_test(tc, test_update_container_resources);
	tcase_add_test(tc, test_exec_stdio);
	tcase_add_test(tc, test_exec_ports);
	tcase_add_test(tc, test_wait_timeout_signal_resize);
	tcase_add_test(tc, test_free_stops_relays);
	tcase_add_test(tc, test_output_to_closed_pipe);
	tcase_add_test(tc, test_exec_guest_does_not_dial);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(libgcs_suite());
}
