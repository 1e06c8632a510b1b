/* Integration harness: the agent as a child, and the checks every test ends with. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/messages.h"

#define AGENT_MAX_ARGS 32

static pid_t spawn_agent(struct agent_proc *ap, const char *const *extra)
{
	char log[300], transport[320];
	const char *argv[AGENT_MAX_ARGS + 8] = { "gcs", "--transport", transport, "--log-level",
						 "debug", "--reconnect", "0" };
	size_t n = 7;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/agent.log", ap->dir);
	snprintf(transport, sizeof(transport), "unix:%s", ap->base);
	for (size_t i = 0; extra && extra[i]; i++) {
		ck_assert_uint_lt(i, AGENT_MAX_ARGS);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(null, 0);
		dup2(null, 1);
		dup2(fd, 2);
		execv(LCOW_AGENT, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void setup_dir(struct agent_proc *ap)
{
	memset(ap, 0, sizeof(*ap));
	ap->listen_fd = ap->raw_fd = -1;
	snprintf(ap->dir, sizeof(ap->dir), "/tmp/lcow-it-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ap->dir));
	snprintf(ap->base, sizeof(ap->base), "%s/hv", ap->dir);
}

void agent_start_opts(struct agent_proc *ap, const struct agent_start_opts *o)
{
	char spec[320];
	struct gcs_bridge_options bo = {
		.connect_timeout_ms = 10000,
		.call_timeout_ms = o->call_timeout_ms ? o->call_timeout_ms : 30000,
		.on_notification = o->on_notification,
		.user = o->user,
	};
	struct gcs_error err = { 0 };

	setup_dir(ap);
	snprintf(spec, sizeof(spec), "unix:%s", ap->base);
	ck_assert_int_eq(gcs_transport_parse(spec, &ap->t), 0);
	if (o->raw) {
		ck_assert_int_eq(gcs_transport_listen(ap->t, GCS_PORT_BRIDGE, &ap->listen_fd), 0);
		ap->pid = spawn_agent(ap, o->args);
		ck_assert_int_eq(gcs_transport_accept(ap->listen_fd, 10000, &ap->raw_fd), 0);
		/* The agent has connected; give it a moment to settle before counting its fds. */
		usleep(20000);
		ap->baseline_fds = agent_fd_count(ap->pid);
		return;
	}
	ck_assert_msg(gcs_bridge_listen(ap->t, &bo, &ap->b, &err) == 0, "%s", err.message);
	ap->pid = spawn_agent(ap, o->args);
	ck_assert_msg(gcs_bridge_connect(ap->b, &err) == 0, "connect: %s", err.message);
	ap->baseline_fds = agent_fd_count(ap->pid);
	ck_assert_int_gt(ap->baseline_fds, 0);
}

void agent_start(struct agent_proc *ap)
{
	agent_start_opts(ap, &(struct agent_start_opts){ 0 });
}

void agent_start_raw(struct agent_proc *ap)
{
	agent_start_opts(ap, &(struct agent_start_opts){ .raw = true });
}

int agent_fd_count(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Children of pid in state Z. */
int agent_zombies(pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		char path[300], buf[512], *p;
		int ppid;
		char state;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%c %d", &state, &ppid) == 2 && ppid == pid && state == 'Z')
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static void rm_rf(const char *dir)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Waits up to ms for the agent to exit; returns its status or -1. */
static int reap_agent(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		usleep(10000);
	}
	return -1;
}

void agent_stop(struct agent_proc *ap)
{
	int fds = -1, status;

	/* Relays and waits finish asynchronously: allow the agent a moment to settle. */
	for (int i = 0; i < 200; i++) {
		fds = agent_fd_count(ap->pid);
		if (fds == ap->baseline_fds && agent_zombies(ap->pid) == 0)
			break;
		usleep(10000);
	}
	ck_assert_msg(fds == ap->baseline_fds, "agent has %d fds, %d after negotiation (see %s)",
		      fds, ap->baseline_fds, ap->dir);
	ck_assert_int_eq(agent_zombies(ap->pid), 0);
	if (ap->b)
		gcs_bridge_close(ap->b);
	if (ap->raw_fd >= 0)
		close(ap->raw_fd);
	if (ap->listen_fd >= 0)
		gcs_transport_unlisten(ap->t, GCS_PORT_BRIDGE, ap->listen_fd);
	status = reap_agent(ap->pid, 5000);
	if (status == -1) {
		kill(ap->pid, SIGKILL);
		waitpid(ap->pid, NULL, 0);
		ck_abort_msg("the agent did not exit when the bridge closed");
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent status 0x%x", status);
	gcs_transport_free(ap->t);
	rm_rf(ap->dir);
}

void raw_send(struct agent_proc *ap, uint32_t type, uint64_t id, const char *json)
{
	size_t len = strlen(json);
	uint8_t hdr[GCS_HEADER_SIZE];
	struct gcs_header h = { .type = type, .size = (uint32_t)(GCS_HEADER_SIZE + len), .id = id };

	gcs_proto_header_encode(&h, hdr);
	ck_assert_int_eq(gcs_proto_write_all(ap->raw_fd, hdr, sizeof(hdr), 5000), 0);
	ck_assert_int_eq(gcs_proto_write_all(ap->raw_fd, json, len, 5000), 0);
}

void raw_recv(struct agent_proc *ap, uint32_t *ret_type, uint64_t *ret_id, char **ret_body)
{
	struct gcs_header h;
	size_t len;

	ck_assert_int_eq(
		gcs_proto_read_frame(ap->raw_fd, GCS_MAX_GUEST_MESSAGE, 5000, &h, ret_body, &len),
		0);
	*ret_type = h.type;
	*ret_id = h.id;
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

/* ---- a fake guest ---- */

#define FAKE_OK "{\"Result\":0,\"ActivityId\":\"" GCS_NULL_GUID_STRING "\""

static int fake_dial(const char *base, uint32_t port, char *err, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", base, port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, len, "dial %s: %m", sa.sun_path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Dials the host's stdio ports, as a guest does before it answers ExecuteProcess. */
static void fake_stdio(struct fake_guest *g, const char *body)
{
	struct gcs_proto_execute_process_req m;
	struct gcs_error err = { 0 };
	uint32_t ports[3];

	if (gcs_proto_decode(GCS_MSG_EXECUTE_PROCESS_REQ, body, strlen(body), &m, &err) < 0) {
		snprintf(g->error, sizeof(g->error), "ExecuteProcess: %.200s", err.message);
		return;
	}
	ports[0] = m.params.create_stdin_pipe ? m.vsock_stdio.stdin_port : 0;
	ports[1] = m.params.create_stdout_pipe ? m.vsock_stdio.stdout_port : 0;
	ports[2] = m.params.create_stderr_pipe ? m.vsock_stdio.stderr_port : 0;
	gcs_proto_release(&m);
	for (int i = 0; i < 3; i++) {
		char line[64];
		int fd = ports[i] ? fake_dial(g->base, ports[i], g->error, sizeof(g->error)) : -1;

		if (fd < 0)
			continue;
		snprintf(line, sizeof(line), "hello %u\n", ports[i]);
		if (i > 0 && write(fd, line, strlen(line)) < 0)
			snprintf(g->error, sizeof(g->error), "write to port %u: %m", ports[i]);
		close(fd);
	}
}

static void *fake_guest_main(void *arg)
{
	static const char negotiated[] =
		FAKE_OK ",\"Version\":4,\"Capabilities\":{"
			"\"SupportedSchemaVersions\":[{\"Major\":2,\"Minor\":1}],"
			"\"RuntimeOsType\":\"Linux\",\"GuestDefinedCapabilities\":{"
			"\"NamespaceAddRequestSupported\":true,\"SignalProcessSupported\":true,"
			"\"DumpStacksSupported\":true,\"DeleteContainerStateSupported\":true}}}";
	struct fake_guest *g = arg;
	uint32_t pid = 900;

	for (;;) {
		struct gcs_header h;
		uint8_t hdr[GCS_HEADER_SIZE];
		const char *reply = FAKE_OK "}";
		char buf[128], *body;
		size_t len;

		if (gcs_proto_read_frame(g->fd, 1 << 20, 30000, &h, &body, &len) < 0)
			break;
		if (h.type == GCS_MSG_NEGOTIATE_PROTOCOL_REQ) {
			reply = negotiated;
		} else if (h.type == GCS_MSG_CREATE_REQ) {
			reply = FAKE_OK ",\"SelectedProtocolVersion\":0}";
		} else if (h.type == GCS_MSG_EXECUTE_PROCESS_REQ) {
			fake_stdio(g, body);
			snprintf(buf, sizeof(buf), FAKE_OK ",\"ProcessId\":%u}", pid++);
			reply = buf;
		}
		pthread_mutex_lock(&g->lock);
		if (g->n < 64 && h.type != GCS_MSG_NEGOTIATE_PROTOCOL_REQ) {
			g->bodies[g->n] = body;
			g->types[g->n++] = h.type;
			body = NULL;
		}
		pthread_mutex_unlock(&g->lock);
		free(body);
		h = (struct gcs_header){ .type = GCS_MSG_RESPONSE | (h.type & ~GCS_MSG_TYPE_MASK),
					 .size = (uint32_t)(GCS_HEADER_SIZE + strlen(reply)),
					 .id = h.id };
		gcs_proto_header_encode(&h, hdr);
		if (gcs_proto_write_all(g->fd, hdr, sizeof(hdr), 5000) < 0 ||
		    gcs_proto_write_all(g->fd, reply, strlen(reply), 5000) < 0)
			break;
	}
	return NULL;
}

void fake_guest_start(struct fake_guest *g, const char *dir)
{
	struct gcs_bridge_options bo = { .connect_timeout_ms = 10000, .call_timeout_ms = 10000 };
	struct gcs_error err = { 0 };
	char spec[200];

	memset(g, 0, sizeof(*g));
	g->fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	snprintf(g->base, sizeof(g->base), "%s/hv", dir);
	snprintf(spec, sizeof(spec), "unix:%s", g->base);
	ck_assert_int_eq(gcs_transport_parse(spec, &g->t), 0);
	ck_assert_msg(gcs_bridge_listen(g->t, &bo, &g->b, &err) == 0, "%s", err.message);
	g->fd = fake_dial(g->base, GCS_PORT_BRIDGE, g->error, sizeof(g->error));
	ck_assert_msg(g->fd >= 0, "%s", g->error);
	ck_assert_int_eq(pthread_create(&g->thread, NULL, fake_guest_main, g), 0);
	ck_assert_msg(gcs_bridge_connect(g->b, &err) == 0, "connect: %s", err.message);
}

void fake_guest_expect(struct fake_guest *g, size_t *next, uint32_t type, const char *want)
{
	pthread_mutex_lock(&g->lock);
	if (!want) {
		ck_assert_msg(g->n == *next, "%zu requests sent, %zu expected", g->n, *next);
		ck_assert_msg(g->error[0] == '\0', "fake guest: %s", g->error);
	} else {
		ck_assert_msg(*next < g->n, "request %zu was not sent", *next);
		ck_assert_msg(g->types[*next] == type, "request %zu: type 0x%08x, want 0x%08x",
			      *next, g->types[*next], type);
		ck_assert_msg(strcmp(g->bodies[*next], want) == 0, "request %zu:\n  %s\nwant\n  %s",
			      *next, g->bodies[*next], want);
		(*next)++;
	}
	pthread_mutex_unlock(&g->lock);
}

void fake_guest_stop(struct fake_guest *g)
{
	gcs_bridge_close(g->b);
	shutdown(g->fd, SHUT_RDWR);
	pthread_join(g->thread, NULL);
	close(g->fd);
	for (size_t i = 0; i < g->n; i++)
		free(g->bodies[i]);
	gcs_transport_free(g->t);
	pthread_mutex_destroy(&g->lock);
}
