/*
 * Processes: ExecuteProcess with its stdio ports, and the relays between the guest's stdio
 * connections and the caller's fds.
 *
 * Spec section 12 and hcsshim's internal/gcs/process.go + iochannel.go: the host takes one port
 * per requested stream from the bridge's counter, listens on each before it sends
 * ExecuteProcess, and after the response accepts the guest's connection on each (the guest
 * dials stdin, stdout, stderr before it answers), then closes the listeners.
 *
 * A relay thread polls its data fd together with its own stop eventfd, so that close_stdin and
 * free can always stop it, whatever the peer or the caller's fd do.
 */
#include "bridge.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"

#define RELAY_BUF 32768

static const char *const stream_names[3] = { "stdin", "stdout", "stderr" };

struct gcs_process;

struct stream {
	struct gcs_process *p;
	int index;
	enum gcs_stdio_mode mode;
	int sock; /* the guest's connection; -1 once closed. Guarded by p->lock. */
	int user_fd; /* GCS_STDIO_FD: the caller's fd (not ours) */
	int stop_fd; /* GCS_STDIO_FD: eventfd that tells the relay to stop */
	pthread_t thread;
	bool thread_started;
	bool joined; /* guarded by p->join_lock */
};

struct gcs_process {
	struct gcs_bridge *b;
	char *container_id;
	uint32_t pid;
	struct stream s[3];
	pthread_mutex_t lock;
	pthread_mutex_t join_lock;
};

/* ---- relays ---- */

/* Waits until fd has `events` or the stream is told to stop: 1 ready, 0 stop, < 0 error. */
static int relay_poll(struct stream *s, int fd, short events)
{
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = fd, .events = events },
			{ .fd = s->stop_fd, .events = POLLIN },
		};
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[1].revents)
			return 0;
		if (pfd[0].revents)
			return 1;
	}
}

static void stream_shutdown(struct stream *s, int how)
{
	pthread_mutex_lock(&s->p->lock);
	if (s->sock >= 0)
		shutdown(s->sock, how);
	pthread_mutex_unlock(&s->p->lock);
}

static void stream_close(struct stream *s)
{
	pthread_mutex_lock(&s->p->lock);
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	pthread_mutex_unlock(&s->p->lock);
}

/* Writes all of buf to the guest's socket unless told to stop: 1 done, 0 stop, < 0 error. */
static int send_all(struct stream *s, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n;
		int rc = relay_poll(s, s->sock, POLLOUT);
		if (rc <= 0)
			return rc;
		n = send(s->sock, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 1;
}

/*
 * Writes all of buf to the caller's fd unless told to stop. At most PIPE_BUF bytes per write()
 * after POLLOUT, so that a blocking pipe whose reader stalls cannot hold the thread in write().
 */
static int write_out(struct stream *s, const char *buf, size_t len)
{
	while (len > 0) {
		size_t chunk = len < PIPE_BUF ? len : PIPE_BUF;
		ssize_t n;
		int rc = relay_poll(s, s->user_fd, POLLOUT);
		if (rc <= 0)
			return rc;
		n = write(s->user_fd, buf, chunk);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 1;
}

/* stdin: caller's fd -> guest until EOF, then half-close so that the process sees EOF. */
static void *relay_stdin(void *arg)
{
	struct stream *s = arg;
	_cleanup_free_ char *buf = malloc(RELAY_BUF);

	if (!buf)
		return NULL;
	for (;;) {
		ssize_t n;
		int rc = relay_poll(s, s->user_fd, POLLIN);
		if (rc <= 0)
			return NULL;
		n = read(s->user_fd, buf, RELAY_BUF);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			/* EOF, or an fd that cannot be read any more: both end the stream. */
			stream_shutdown(s, SHUT_WR);
			return NULL;
		}
		/* The guest closed its end (the process is gone or closed stdin): stop. */
		if (send_all(s, buf, (size_t)n) <= 0)
			return NULL;
	}
}

/*
 * stdout/stderr: guest -> caller's fd until the guest's EOF, then close the socket (the Go GCS
 * waits for the host to close before it reports the exit). If the caller's fd fails, keep
 * reading and drop the bytes, so that the process is never stuck on a full relay.
 */
static void *relay_output(void *arg)
{
	struct stream *s = arg;
	_cleanup_free_ char *buf = malloc(RELAY_BUF);
	bool discard = false;

	if (!buf)
		return NULL;
	for (;;) {
		ssize_t n;
		int rc = relay_poll(s, s->sock, POLLIN);
		if (rc <= 0)
			return NULL;
		n = recv(s->sock, buf, RELAY_BUF, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			stream_close(s);
			return NULL;
		}
		if (!discard) {
			rc = write_out(s, buf, (size_t)n);
			if (rc == 0)
				return NULL;
			if (rc < 0)
				discard = true;
		}
	}
}

static int stream_start(struct stream *s)
{
	int rc;

	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0)
		return -errno;
	rc = bridge_thread_create(&s->thread, s->index == GCS_STDIN ? relay_stdin : relay_output,
				  s);
	if (rc < 0)
		return rc;
	s->thread_started = true;
	return 0;
}

static void stream_stop(struct stream *s)
{
	uint64_t one = 1;

	if (s->stop_fd >= 0 && write(s->stop_fd, &one, sizeof(one)) < 0) {
		/* An eventfd write fails only on counter overflow: it is already signalled. */
	}
}

static void stream_join(struct stream *s)
{
	pthread_mutex_lock(&s->p->join_lock);
	if (s->thread_started && !s->joined) {
		pthread_join(s->thread, NULL);
		s->joined = true;
	}
	pthread_mutex_unlock(&s->p->join_lock);
}

/* ---- the process object ---- */

void gcs_process_free(struct gcs_process *p)
{
	if (!p)
		return;
	for (int i = 0; i < 3; i++)
		stream_stop(&p->s[i]);
	for (int i = 0; i < 3; i++)
		stream_join(&p->s[i]);
	for (int i = 0; i < 3; i++) {
		if (p->s[i].sock >= 0)
			close(p->s[i].sock);
		if (p->s[i].stop_fd >= 0)
			close(p->s[i].stop_fd);
	}
	pthread_mutex_destroy(&p->join_lock);
	pthread_mutex_destroy(&p->lock);
	free(p->container_id);
	free(p);
}

static void process_freep(struct gcs_process **p)
{
	gcs_process_free(*p);
}

static struct gcs_process *process_new(struct gcs_bridge *b, const char *container_id)
{
	struct gcs_process *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->b = b;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->join_lock, NULL);
	for (int i = 0; i < 3; i++)
		p->s[i] = (struct stream){
			.p = p, .index = i, .sock = -1, .user_fd = -1, .stop_fd = -1
		};
	p->container_id = strdup(container_id);
	if (!p->container_id) {
		gcs_process_free(p);
		return NULL;
	}
	return p;
}

int gcs_process_attach(struct gcs_bridge *b, const char *container_id, uint32_t pid,
		       struct gcs_process **ret, struct gcs_error *err)
{
	struct gcs_process *p;

	if (!b || !ret || pid == 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "attach: invalid argument");
	p = process_new(b, container_id && container_id[0] ? container_id : GCS_NULL_GUID_STRING);
	if (!p)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	p->pid = pid;
	*ret = p;
	return 0;
}

uint32_t gcs_process_pid(const struct gcs_process *p)
{
	return p ? p->pid : 0;
}

int gcs_process_stdio_fd(const struct gcs_process *p, int stream)
{
	if (!p || stream < 0 || stream > 2 || p->s[stream].mode != GCS_STDIO_SOCKET)
		return -1;
	return p->s[stream].sock;
}

/* ---- exec ---- */

struct listeners {
	const struct gcs_transport *t;
	uint32_t port[3];
	int fd[3];
};

static void listeners_close(struct listeners *l)
{
	for (int i = 0; i < 3; i++)
		if (l->fd[i] >= 0) {
			gcs_transport_unlisten(l->t, l->port[i], l->fd[i]);
			l->fd[i] = -1;
		}
}

int gcs_process_exec(struct gcs_bridge *b, const struct gcs_exec_options *o,
		     struct gcs_process **ret, struct gcs_error *err)
{
	_cleanup_(process_freep) struct gcs_process *p = NULL;
	_cleanup_(listeners_close) struct listeners l = { .fd = { -1, -1, -1 } };
	struct gcs_proto_execute_process_req req = { 0 };
	struct gcs_proto_execute_process_resp resp;
	const char *cid;
	int accept_timeout, rc;

	if (!b || !o || !ret)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "exec: invalid argument");
	for (int i = 0; i < 3; i++) {
		const struct gcs_stdio *st = &o->stdio[i];
		if (st->mode != GCS_STDIO_NONE && st->mode != GCS_STDIO_FD &&
		    st->mode != GCS_STDIO_SOCKET)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "exec: %s: invalid stdio mode %d", stream_names[i],
					     (int)st->mode);
		if (st->mode == GCS_STDIO_FD && st->fd < 0)
			return gcs_error_set(err, -EBADF, HR_INVALIDARG, "exec: %s: no fd",
					     stream_names[i]);
	}
	cid = o->container_id && o->container_id[0] ? o->container_id : GCS_NULL_GUID_STRING;
	p = process_new(b, cid);
	if (!p)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "exec: out of memory");

	/* Listen first: the guest dials every port before it answers. */
	l.t = bridge_transport(b);
	for (int i = 0; i < 3; i++) {
		if (o->stdio[i].mode == GCS_STDIO_NONE)
			continue;
		l.port[i] = bridge_next_port(b);
		rc = gcs_transport_listen(l.t, l.port[i], &l.fd[i]);
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL,
					     "exec: %s: listen on port 0x%08x: %s", stream_names[i],
					     l.port[i], strerror(-rc));
	}

	req.base.container_id = cid;
	if (o->params)
		req.params = *o->params;
	req.params.create_stdin_pipe = o->stdio[GCS_STDIN].mode != GCS_STDIO_NONE;
	req.params.create_stdout_pipe = o->stdio[GCS_STDOUT].mode != GCS_STDIO_NONE;
	req.params.create_stderr_pipe = o->stdio[GCS_STDERR].mode != GCS_STDIO_NONE;
	req.vsock_stdio.stdin_port = l.port[GCS_STDIN];
	req.vsock_stdio.stdout_port = l.port[GCS_STDOUT];
	req.vsock_stdio.stderr_port = l.port[GCS_STDERR];
	rc = gcs_bridge_call(b, GCS_MSG_EXECUTE_PROCESS_REQ, &req, &resp, o->timeout_ms, err);
	if (rc < 0)
		return rc;
	p->pid = resp.process_id;
	gcs_proto_release(&resp);

	accept_timeout = o->timeout_ms != 0 ? o->timeout_ms : bridge_default_timeout(b);
	for (int i = 0; i < 3; i++) {
		if (l.fd[i] < 0)
			continue;
		rc = gcs_transport_accept(l.fd[i], accept_timeout, &p->s[i].sock);
		if (rc < 0)
			return gcs_error_set(
				err, rc, HR_FAIL, "exec: process %u: %s: %s on port 0x%08x", p->pid,
				stream_names[i],
				rc == -ETIMEDOUT ? "the guest did not connect" : strerror(-rc),
				l.port[i]);
		p->s[i].mode = o->stdio[i].mode;
		p->s[i].user_fd = o->stdio[i].mode == GCS_STDIO_FD ? o->stdio[i].fd : -1;
	}
	listeners_close(&l);

	for (int i = 0; i < 3; i++) {
		if (p->s[i].mode != GCS_STDIO_FD)
			continue;
		rc = stream_start(&p->s[i]);
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL, "exec: %s relay: %s",
					     stream_names[i], strerror(-rc));
	}
	*ret = TAKE_PTR(p);
	return 0;
}

/* ---- requests about a process ---- */

int gcs_process_close_stdin(struct gcs_process *p)
{
	struct stream *s;

	if (!p)
		return -EINVAL;
	s = &p->s[GCS_STDIN];
	if (s->mode == GCS_STDIO_NONE)
		return -EBADF;
	/* Stop the relay first, so that nothing is written after the half-close. */
	stream_stop(s);
	stream_join(s);
	stream_shutdown(s, SHUT_WR);
	return 0;
}

int gcs_process_wait(struct gcs_process *p, int timeout_ms, uint32_t *ret_exit_code,
		     struct gcs_error *err)
{
	struct gcs_proto_wait_req req = { 0 };
	struct gcs_proto_wait_resp resp;
	struct gcs_error e = { 0 };
	int host_timeout, dflt, rc;

	if (!p)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "wait: invalid argument");
	req.base.container_id = p->container_id;
	req.process_id = p->pid;
	req.timeout_ms = timeout_ms < 0 ? GCS_WAIT_INFINITE : (uint32_t)timeout_ms;
	/* The guest keeps the time; the host waits that long plus its usual deadline. */
	dflt = bridge_default_timeout(p->b);
	if (timeout_ms < 0 || dflt < 0)
		host_timeout = -1;
	else if ((int64_t)timeout_ms + dflt > INT_MAX)
		host_timeout = INT_MAX;
	else
		host_timeout = timeout_ms + dflt;
	rc = gcs_bridge_call(p->b, GCS_MSG_WAIT_FOR_PROCESS_REQ, &req, &resp, host_timeout, &e);
	if (rc == -EREMOTEIO && e.hresult == HR_VMCOMPUTE_TIMEOUT)
		rc = -ETIMEDOUT;
	if (rc < 0) {
		if (err)
			*err = e;
		return rc;
	}
	/* All output is delivered once the relays have seen the guest's EOF. */
	stream_join(&p->s[GCS_STDOUT]);
	stream_join(&p->s[GCS_STDERR]);
	if (ret_exit_code)
		*ret_exit_code = resp.exit_code;
	gcs_proto_release(&resp);
	return 0;
}

int gcs_process_signal(struct gcs_process *p, int sig, struct gcs_error *err)
{
	struct gcs_proto_signal_req req = { 0 };

	if (!p || sig < 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "signal: invalid argument");
	req.base.container_id = p->container_id;
	req.process_id = p->pid;
	/* No Options is hcsshim's Kill: the guest sends SIGKILL. */
	req.has_options = sig != 0;
	req.signal = sig;
	return gcs_bridge_call(p->b, GCS_MSG_SIGNAL_PROCESS_REQ, &req, NULL, 0, err);
}

int gcs_process_resize(struct gcs_process *p, uint16_t height, uint16_t width,
		       struct gcs_error *err)
{
	struct gcs_proto_resize_req req = { 0 };

	if (!p)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "resize: invalid argument");
	req.base.container_id = p->container_id;
	req.process_id = p->pid;
	req.height = height;
	req.width = width;
	return gcs_bridge_call(p->b, GCS_MSG_RESIZE_CONSOLE_REQ, &req, NULL, 0, err);
}
