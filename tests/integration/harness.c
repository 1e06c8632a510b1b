/* Integration harness: the agent as a child, and the checks every test ends with. */
#include "harness.h"
#include "layers.h"

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

#define AGENT_MAX_ARGS 32

extern char **environ;

int64_t harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The value of --name V or --name=V among args, or NULL. */
static const char *arg_value(const char *const *args, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; args && args[i]; i++) {
		if (strcmp(args[i], name) == 0)
			return args[i + 1] ? args[i + 1] : "";
		if (strncmp(args[i], name, n) == 0 && args[i][n] == '=')
			return args[i] + n + 1;
	}
	return NULL;
}

/*
 * The agent with --transport unix:<base>, --log-level debug and, unless the test chose its own,
 * --reconnect 0 (exit when the bridge closes), then the test's flags; stderr goes to
 * <dir>/agent.log (appended), and its pid to <dir>/agent.pid for the sweeps.
 */
static pid_t spawn_agent(struct agent_proc *ap, const struct agent_start_opts *o)
{
	char log[300], transport[320], pidfile[300], text[32];
	const char *argv[AGENT_MAX_ARGS + 8] = { "gcs", "--transport", transport, "--log-level",
						 "debug" };
	const char **envp;
	const char *reconnect = arg_value(o->args, "--reconnect");
	size_t n = 5, n_env = 0, n_extra = 0, m = 0;
	pid_t pid;
	int fd;

	snprintf(log, sizeof(log), "%s/agent.log", ap->dir);
	snprintf(transport, sizeof(transport), "unix:%s", ap->base);
	if (!reconnect) {
		argv[n++] = "--reconnect";
		argv[n++] = "0";
	}
	ap->redials = reconnect && strcmp(reconnect, "0") != 0;
	for (size_t i = 0; o->args && o->args[i]; i++) {
		ck_assert_uint_lt(n, AGENT_MAX_ARGS + 6);
		argv[n++] = o->args[i];
	}
	argv[n] = NULL;
	/* Built before fork: the test may have threads, the child only execs. */
	while (environ[n_env])
		n_env++;
	while (o->env && o->env[n_extra])
		n_extra++;
	envp = calloc(n_env + n_extra + 1, sizeof(*envp));
	ck_assert_ptr_nonnull(envp);
	/* The test's variables replace inherited ones of the same name. */
	for (size_t i = 0; i < n_env; i++) {
		bool replaced = false;

		for (size_t k = 0; k < n_extra && !replaced; k++) {
			size_t len = strcspn(o->env[k], "=");

			replaced = strncmp(environ[i], o->env[k], len + 1) == 0;
		}
		if (!replaced)
			envp[m++] = environ[i];
	}
	for (size_t i = 0; i < n_extra; i++)
		envp[m++] = o->env[i];
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(null, 0);
		dup2(null, 1);
		dup2(lfd, 2);
		execve(LCOW_AGENT, (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	free(envp);
	snprintf(pidfile, sizeof(pidfile), "%s/agent.pid", ap->dir);
	snprintf(text, sizeof(text), "%d\n", (int)pid);
	fd = open(pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return pid;
}

static void setup_dir(struct agent_proc *ap, const char *parent)
{
	memset(ap, 0, sizeof(*ap));
	ap->listen_fd = ap->raw_fd = -1;
	if (parent)
		snprintf(ap->dir, sizeof(ap->dir), "%s/t-XXXXXX", parent);
	else
		snprintf(ap->dir, sizeof(ap->dir), "/tmp/lcow-it-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ap->dir));
	if (parent)
		ck_assert_int_eq(chmod(ap->dir, 0755), 0);
	snprintf(ap->base, sizeof(ap->base), "%s/hv", ap->dir);
}

const char *agent_log_tail(const struct agent_proc *ap, char *buf, size_t len)
{
	char path[300];
	int fd;
	off_t size;
	ssize_t n;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/agent.log", ap->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)(len - 1))
		lseek(fd, size - (off_t)(len - 1), SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	/* Whole lines only. */
	if (size > (off_t)(len - 1)) {
		char *nl = strchr(buf, '\n');

		if (nl)
			memmove(buf, nl + 1, strlen(nl + 1) + 1);
	}
	return buf;
}

/* Fails at once, with the end of its log, when the agent has exited. */
void agent_assert_running(struct agent_proc *ap, const char *when)
{
	char tail[2048];
	int status;

	if (waitpid(ap->pid, &status, WNOHANG) != ap->pid)
		return;
	ck_abort_msg("the agent exited (status 0x%x) %s; agent.log ends:\n%s", status, when,
		     agent_log_tail(ap, tail, sizeof(tail)));
}

static void inbox_clear(struct agent_proc *ap)
{
	for (size_t i = 0; i < ap->n_inbox; i++)
		free(ap->inbox[i].body);
	ap->n_inbox = 0;
}

void agent_accept(struct agent_proc *ap, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	char tail[2048];

	if (ap->raw_fd >= 0) {
		close(ap->raw_fd);
		ap->raw_fd = -1;
	}
	inbox_clear(ap);
	for (;;) {
		int64_t left = deadline - harness_now_ms();
		int rc;

		ck_assert_msg(left > 0,
			      "the agent did not dial the bridge within %d ms; agent.log ends:\n%s",
			      timeout_ms, agent_log_tail(ap, tail, sizeof(tail)));
		rc = gcs_transport_accept(ap->listen_fd, left < 50 ? (int)left : 50, &ap->raw_fd);
		if (rc == 0)
			break;
		ck_assert_msg(rc == -ETIMEDOUT, "accept: %s", strerror(-rc));
		agent_assert_running(ap, "before it dialed the bridge");
	}
	ap->conn_first_id = ap->next_id;
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

	setup_dir(ap, o->parent_dir);
	snprintf(spec, sizeof(spec), "unix:%s", ap->base);
	ck_assert_int_eq(gcs_transport_parse(spec, &ap->t), 0);
	if (o->raw) {
		ck_assert_int_eq(gcs_transport_listen(ap->t, GCS_PORT_BRIDGE, &ap->listen_fd), 0);
		ap->pid = spawn_agent(ap, o);
		agent_accept(ap, 10000);
		/* The agent has connected; give it a moment to settle before counting its fds. */
		usleep(20000);
		ap->baseline_fds = agent_fd_count(ap->pid);
		return;
	}
	ck_assert_msg(gcs_bridge_listen(ap->t, &bo, &ap->b, &err) == 0, "%s", err.message);
	ap->pid = spawn_agent(ap, o);
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

int agent_wait_exit(struct agent_proc *ap, int ms)
{
	int64_t deadline = harness_now_ms() + ms;

	for (;;) {
		int status;
		pid_t r = waitpid(ap->pid, &status, WNOHANG);

		if (r == ap->pid)
			return status;
		if (harness_now_ms() >= deadline)
			return -1;
		usleep(10000);
	}
}

void agent_check_clean(struct agent_proc *ap)
{
	int fds = -1;

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
}

void agent_shutdown(struct agent_proc *ap)
{
	static const char body[] = "{\"ContainerId\":\"" GCS_NULL_GUID_STRING
				   "\",\"ActivityId\":\"" GCS_NULL_GUID_STRING "\"}\n";
	char tail[2048];
	int status;

	if (ap->b) {
		struct gcs_error err = { 0 };
		uint32_t type;
		char *resp = NULL;

		ck_assert_msg(gcs_bridge_call_raw(ap->b, GCS_MSG_SHUTDOWN_GRACEFUL_REQ, body, 5000,
						  &type, &resp, &err) == 0,
			      "ShutdownGraceful of the UVM: %s", err.message);
		ck_assert_msg(json_result(resp) == 0, "ShutdownGraceful of the UVM: %s", resp);
		free(resp);
	} else {
		free(raw_call_result(ap, GCS_MSG_SHUTDOWN_GRACEFUL_REQ, body, 0, 5000));
	}
	status = agent_wait_exit(ap, 5000);
	if (status == -1) {
		kill(ap->pid, SIGKILL);
		waitpid(ap->pid, NULL, 0);
		ck_abort_msg("the agent did not exit within 5 s of ShutdownGraceful of the UVM");
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "agent status 0x%x after ShutdownGraceful; agent.log ends:\n%s", status,
		      agent_log_tail(ap, tail, sizeof(tail)));
}

void agent_release(struct agent_proc *ap)
{
	struct stat st;

	if (ap->b)
		gcs_bridge_close(ap->b);
	ap->b = NULL;
	if (ap->raw_fd >= 0)
		close(ap->raw_fd);
	ap->raw_fd = -1;
	if (ap->listen_fd >= 0)
		gcs_transport_unlisten(ap->t, GCS_PORT_BRIDGE, ap->listen_fd);
	ap->listen_fd = -1;
	gcs_transport_free(ap->t);
	ap->t = NULL;
	inbox_clear(ap);
	free(ap->inbox);
	free(ap->sent_types);
	free(ap->answered);
	ap->inbox = NULL;
	ap->sent_types = NULL;
	ap->answered = NULL;
	ap->cap_inbox = ap->cap_ids = 0;
	rm_rf(ap->dir);
	ck_assert_msg(stat(ap->dir, &st) < 0 && errno == ENOENT, "%s is still there", ap->dir);
}

void agent_end(struct agent_proc *ap)
{
	int status;

	agent_check_clean(ap);
	if (ap->redials) {
		agent_shutdown(ap);
		return;
	}
	if (ap->b)
		gcs_bridge_close(ap->b);
	ap->b = NULL;
	if (ap->raw_fd >= 0)
		close(ap->raw_fd);
	ap->raw_fd = -1;
	if (ap->listen_fd >= 0)
		gcs_transport_unlisten(ap->t, GCS_PORT_BRIDGE, ap->listen_fd);
	ap->listen_fd = -1;
	status = agent_wait_exit(ap, 5000);
	if (status == -1) {
		kill(ap->pid, SIGKILL);
		waitpid(ap->pid, NULL, 0);
		ck_abort_msg("the agent did not exit when the bridge closed");
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent status 0x%x", status);
}

void agent_stop(struct agent_proc *ap)
{
	agent_end(ap);
	agent_release(ap);
}

void agent_kill(struct agent_proc *ap)
{
	ck_assert_int_eq(kill(ap->pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(ap->pid, NULL, 0), ap->pid);
	if (ap->raw_fd >= 0)
		close(ap->raw_fd);
	ap->raw_fd = -1;
	inbox_clear(ap);
}

void agent_respawn(struct agent_proc *ap, const struct agent_start_opts *o)
{
	ck_assert_msg(o->raw && !ap->b, "agent_respawn: raw mode only");
	if (ap->listen_fd >= 0)
		gcs_transport_unlisten(ap->t, GCS_PORT_BRIDGE, ap->listen_fd);
	ck_assert_int_eq(gcs_transport_listen(ap->t, GCS_PORT_BRIDGE, &ap->listen_fd), 0);
	ap->measured = false;
	ap->pid = spawn_agent(ap, o);
	agent_accept(ap, 10000);
	ap->baseline_fds = agent_fd_count(ap->pid);
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

/* ---- suites ---- */

struct layer_set harness_layers;
static bool harness_layers_ok;
static char harness_layers_error[GCS_ERROR_MESSAGE_MAX];
static const char *harness_suite;

/* /proc/<pid>/<file> with NULs turned into sep (NUL-terminated, cut at len); its length. */
static size_t read_proc(const char *pid, const char *file, char sep, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/%s", pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	buf[0] = '\0';
	if (fd < 0)
		return 0;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = sep;
	while (n > 0 && buf[n - 1] == sep)
		n--;
	buf[n] = '\0';
	return (size_t)n;
}

int procs_matching(const char *needle, const char *and_also, char *report, size_t len)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		char cmd[4096];

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || atoi(de->d_name) == getpid())
			continue;
		if (!read_proc(de->d_name, "cmdline", ' ', cmd, sizeof(cmd)) ||
		    !strstr(cmd, needle) || (and_also && !strstr(cmd, and_also)))
			continue;
		/* an agent names its runc stand-in in its own options: not a stand-in itself */
		if (!strncmp(cmd, "gcs ", 4))
			continue;
		report_note(report, len, "pid %s: %.200s", de->d_name, cmd);
		n++;
	}
	closedir(d);
	return n;
}

/* Kills every process (not us) whose command line or environment names dir. */
static int kill_procs_naming(const char *dir, char *report, size_t len)
{
	char marker[448];
	pid_t pids[256];
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	snprintf(marker, sizeof(marker), "LCOW_IT_DIR=%s", dir);
	while ((de = readdir(d)) && n < 256) {
		static char buf[65536];
		pid_t pid = atoi(de->d_name);

		if (pid <= 1 || pid == getpid())
			continue;
		if ((read_proc(de->d_name, "cmdline", ' ', buf, sizeof(buf)) && strstr(buf, dir)) ||
		    (read_proc(de->d_name, "environ", '\n', buf, sizeof(buf)) &&
		     strstr(buf, marker))) {
			read_proc(de->d_name, "cmdline", ' ', buf, 200);
			report_note(report, len, "killed pid %d (%s)", pid, buf);
			kill(pid, SIGKILL);
			pids[n++] = pid;
		}
	}
	closedir(d);
	/* Not our children: gone once /proc/<pid> is (2 s). */
	for (int i = 0; i < n; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
		for (int k = 0; k < 200 && access(path, F_OK) == 0; k++) {
			waitpid(pids[i], NULL, WNOHANG);
			usleep(10000);
		}
	}
	return n;
}

int harness_sweep(char *report, size_t len)
{
	char procs[2048] = "", rest[4096] = "";
	DIR *d;
	struct dirent *de;
	int n = 0;

	report[0] = '\0';
	if (!harness_layers.dir[0])
		return 0;
	d = opendir(harness_layers.dir);
	while (d && (de = readdir(d))) {
		char dir[400];

		if (strncmp(de->d_name, "t-", 2) != 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", harness_layers.dir, de->d_name);
		n += kill_procs_naming(dir, procs, sizeof(procs));
	}
	if (d)
		closedir(d);
	n += layers_sweep_tests(&harness_layers, rest, sizeof(rest));
	snprintf(report, len, "%s%s%s", procs, procs[0] && rest[0] ? "; " : "", rest);
	return n;
}

static void harness_after_test(void)
{
	char report[8192];

	if (harness_sweep(report, sizeof(report)) > 0)
		fprintf(stderr, "%s: cleaned up after a failed test: %s\n", harness_suite, report);
}

static void harness_before_test(void)
{
	ck_assert_msg(harness_layers_ok, "building the layer images: %s", harness_layers_error);
}

int harness_main(const char *suite, const struct harness_test *tests, size_t n)
{
	Suite *s = suite_create(suite);
	struct gcs_error err = { 0 };
	char report[4096];
	SRunner *sr;
	int failed;

	harness_suite = suite;
	harness_layers_ok = layers_build(&harness_layers, &err) == 0;
	if (!harness_layers_ok)
		snprintf(harness_layers_error, sizeof(harness_layers_error), "%s", err.message);
	for (size_t i = 0; i < n; i++) {
		TCase *tc = tcase_create(tests[i].name);

		tcase_set_timeout(tc, tests[i].timeout_s);
		tcase_add_unchecked_fixture(tc, NULL, harness_after_test);
		tcase_add_checked_fixture(tc, harness_before_test, NULL);
		tcase_add_test(tc, tests[i].test);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (layers_destroy(&harness_layers, report, sizeof(report)) > 0) {
		fprintf(stderr, "%s: left behind: %s\n", suite, report);
		failed++;
	}
	return failed ? 1 : 0;
}

static int cgroups_walk(int dfd, const char *path, const char *name, int depth, char *report,
			size_t len)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int n = 0;

	if (!d) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		int fd;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (strcmp(de->d_name, name) == 0) {
			report_note(report, len, "cgroup %s", sub);
			n++;
		}
		if (depth >= 8)
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			n += cgroups_walk(fd, sub, name, depth + 1, report, len);
	}
	closedir(d);
	return n;
}

int cgroups_named(const char *name, char *report, size_t len)
{
	int fd = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	return cgroups_walk(fd, "/sys/fs/cgroup", name, 0, report, len);
}
