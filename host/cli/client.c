/* The CLI's side of a UVM daemon. */
#include "client.h"

#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define BOOT_PROCESS_MS 60000
#define BOOT_QEMU_MS 200000

int client_container(const char *id, char *uvm, size_t len, json_t **ret_record,
		     struct gcs_error *err)
{
	json_t *rec = NULL;
	const char *u;
	int rc = store_record_read(id, &rec);

	if (rc < 0)
		return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container does not exist");
	u = json_string_value(json_object_get(rec, "uvm"));
	if (!u || !id_valid(u)) {
		json_decref(rec);
		return gcs_error_set(err, -EINVAL, HR_FAIL, "container %s: a broken record", id);
	}
	snprintf(uvm, len, "%s", u);
	if (ret_record)
		*ret_record = rec;
	else
		json_decref(rec);
	return 0;
}

static int spawn_daemon(const char *uvm, const char *dir, enum lcow_rt_mode mode, bool pod,
			bool adopt, json_t *first_net, struct gcs_error *err);
static int lock_uvms(int timeout_ms, int *ret_fd);

/*
 * A UVM whose daemon died but whose VM (or process-mode agent) still runs gets a new daemon
 * that adopts it. Only a UVM that came up (it has uvm.json) is adopted, never a half-booted one.
 */
static int adopt_uvm(const char *uvm, const char *dir, struct gcs_error *err)
{
	_cleanup_close_ int lock = -1;
	struct gcs_error e = { 0 };
	char p[PATH_MAX];
	struct stat st;
	pid_t pid;
	int rc;

	if (pathf(p, sizeof(p), "%s/uvm.json", dir) < 0 || stat(p, &st) < 0)
		return -ESRCH;
	rc = lock_uvms(BOOT_QEMU_MS, &lock);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "lock %s/u: %s", store_root(),
				     strerror(-rc));
	if (store_daemon_pid(uvm, &pid) == 0)
		return 0; /* someone adopted it meanwhile */
	if (stat(p, &st) < 0)
		return -ESRCH;
	log_warning("UVM %s: its daemon is not running: starting one to adopt the UVM", uvm);
	rc = spawn_daemon(uvm, dir, LCOW_RT_PROCESS, false, true, NULL, &e);
	if (rc < 0)
		log_warning("UVM %s: %s", uvm, e.message);
	return rc;
}

int client_check_uvm(const char *uvm, struct gcs_error *err)
{
	char dir[PATH_MAX];
	struct stat st;
	pid_t pid;

	if (store_daemon_pid(uvm, &pid) == 0)
		return 0;
	store_uvm_dir(uvm, dir, sizeof(dir));
	if (stat(dir, &st) < 0)
		return gcs_error_set(err, -ENOENT, HR_FAIL, "UVM %s does not exist", uvm);
	if (adopt_uvm(uvm, dir, err) == 0)
		return 0;
	return gcs_error_set(err, -ESRCH, HR_FAIL,
			     "the daemon of UVM %s is not running (it crashed, or was killed) and "
			     "its UVM is gone too; `lcow delete --force` cleans up after it",
			     uvm);
}

/* What a broken connection means: the daemon died, or it is stuck. */
static int lost(const char *uvm, int rc, struct gcs_error *err)
{
	char dir[PATH_MAX];
	pid_t pid;

	store_uvm_dir(uvm, dir, sizeof(dir));
	if (rc == -ETIMEDOUT)
		return gcs_error_set(
			err, rc, HR_FAIL,
			"the daemon of UVM %s did not answer in time (see %s/daemon.log)", uvm,
			dir);
	if (store_daemon_pid(uvm, &pid) < 0)
		return gcs_error_set(err, -ESRCH, HR_FAIL,
				     "the daemon of UVM %s died (see %s/daemon.log); `lcow delete "
				     "--force` cleans up after it",
				     uvm, dir);
	return gcs_error_set(err, rc, HR_FAIL, "the daemon of UVM %s: %s", uvm, strerror(-rc));
}

/* The answer: ok, or the daemon's error. */
static int answer(json_t *r, char *code, size_t code_len, struct gcs_error *err)
{
	const char *c;

	if (json_is_true(json_object_get(r, "ok")))
		return 0;
	c = json_string_value(json_object_get(r, "code"));
	if (code && code_len)
		snprintf(code, code_len, "%s", c ? c : "");
	return gcs_error_set(err, -EREMOTEIO, HR_FAIL, "%s",
			     json_string_value(json_object_get(r, "error")) ?:
				     "the daemon refused without a reason");
}

static int request(const char *uvm, json_t *req, const int *fds, size_t n_fds, int timeout_ms,
		   struct ctl_conn *conn, json_t **ret, char *code, size_t code_len,
		   struct gcs_error *err)
{
	char sock[PATH_MAX];
	json_t *r = NULL;
	int rc;

	if (code && code_len)
		code[0] = '\0';
	if ((rc = client_check_uvm(uvm, err)) < 0)
		return rc;
	if (store_uvm_file(uvm, "ctl.sock", sock, sizeof(sock)) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "--root is too long");
	rc = ctl_connect(sock, conn);
	if (rc < 0)
		return lost(uvm, rc, err);
	rc = ctl_send(conn, req, fds, n_fds);
	if (rc == 0)
		rc = ctl_recv(conn, timeout_ms, &r, NULL, NULL);
	if (rc < 0) {
		ctl_close(conn);
		return lost(uvm, rc, err);
	}
	rc = answer(r, code, code_len, err);
	if (rc < 0 || !ret)
		json_decref(r);
	else
		*ret = r;
	if (rc < 0)
		ctl_close(conn);
	return rc;
}

int client_call(const char *uvm, json_t *req, const int *fds, size_t n_fds, int timeout_ms,
		json_t **ret, char *code, size_t code_len, struct gcs_error *err)
{
	struct ctl_conn conn;
	int rc = request(uvm, req, fds, n_fds, timeout_ms, &conn, ret, code, code_len, err);

	if (rc == 0)
		ctl_close(&conn);
	return rc;
}

int client_begin(const char *uvm, json_t *req, const int *fds, size_t n_fds, int timeout_ms,
		 struct ctl_conn *conn, json_t **ret, struct gcs_error *err)
{
	return request(uvm, req, fds, n_fds, timeout_ms, conn, ret, NULL, 0, err);
}

int client_simple(const char *op, const char *id, struct gcs_error *err)
{
	char uvm[132];
	json_t *req;
	int rc = client_container(id, uvm, sizeof(uvm), NULL, err);

	if (rc < 0)
		return rc;
	req = json_pack("{s:s, s:s}", "op", op, "id", id);
	rc = client_call(uvm, req, NULL, 0, CALL_MS, NULL, NULL, 0, err);
	json_decref(req);
	return rc;
}

/* ---- the foreground wait ---- */

static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM };

static void forward(const char *uvm, const char *id, uint32_t pid, const char *op, int sig,
		    int tty_fd)
{
	struct gcs_error err = { 0 };
	json_t *req = json_pack("{s:s, s:s, s:i}", "op", op, "id", id, "pid", (int)pid);

	if (sig)
		json_object_set_new(req, "signal", json_integer(sig));
	else
		term_size(tty_fd, req);
	if (client_call(uvm, req, NULL, 0, QUICK_MS, NULL, NULL, 0, &err) < 0)
		log_debug("%s %s: %s", op, id, err.message);
	json_decref(req);
}

static void forwarded_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(set, forwarded[i]);
	sigaddset(set, SIGWINCH);
}

void client_hold_signals(void)
{
	sigset_t set;

	forwarded_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/* ---- cancelling a create ---- */

static int cancel_sig; /* the signal that cancelled the boot */

static void cancel_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

void client_hold_cancel(void)
{
	sigset_t set;

	cancel_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int client_cancel_pending(void)
{
	const struct timespec zero = { 0 };
	sigset_t set;
	int sig;

	if (cancel_sig)
		return cancel_sig;
	cancel_set(&set);
	sig = sigtimedwait(&set, NULL, &zero);
	if (sig > 0)
		cancel_sig = sig;
	return cancel_sig;
}

int client_wait_exit(struct ctl_conn *conn, const char *uvm, const char *id, uint32_t pid, bool tty,
		     struct gcs_error *err)
{
	_cleanup_close_ int sfd = -1;
	sigset_t set;

	forwarded_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = { { .fd = conn->fd, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		struct signalfd_siginfo si;
		json_t *r = NULL;
		int rc;

		if (conn->len == 0 && poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return gcs_error_set(err, -errno, HR_FAIL, "poll: %m");
		}
		if (conn->len == 0 && p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGWINCH) {
				if (tty)
					forward(uvm, id, pid, "resize", 0, STDIN_FILENO);
			} else {
				forward(uvm, id, pid, "kill", (int)si.ssi_signo, -1);
			}
			continue;
		}
		if (conn->len == 0 && !p[0].revents)
			continue;
		rc = ctl_recv(conn, CALL_MS, &r, NULL, NULL);
		if (rc < 0)
			return lost(uvm, rc, err);
		rc = answer(r, NULL, 0, err);
		if (rc == 0) {
			json_int_t code = json_integer_value(json_object_get(r, "exit"));
			json_decref(r);
			return (int)(code & 0xff);
		}
		json_decref(r);
		return rc;
	}
}

/* ---- starting a daemon ---- */

/*
 * Reads "ok" or "error: ..." from the daemon within timeout_ms. SIGINT, SIGTERM or SIGHUP
 * meanwhile (held by client_hold_cancel) cancels the boot: "cancel" goes to the daemon, which
 * tears down what it started and answers; that answer is -ECANCELED.
 */
static int await_ready(int fd, const char *uvm, int timeout_ms, struct gcs_error *err)
{
	_cleanup_close_ int sfd = -1;
	char buf[GCS_ERROR_MESSAGE_MAX + 16];
	size_t len = 0;
	long long deadline = time_now_ms() + timeout_ms;
	sigset_t set;

	cancel_set(&set);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = cancel_sig ? -1 : sfd, .events = POLLIN } };
		long long left = deadline - time_now_ms();
		ssize_t n;

		if (left <= 0 || poll(p, 2, (int)left) == 0)
			return gcs_error_set(err, -ETIMEDOUT, HR_FAIL,
					     "UVM %s did not come up within %d s", uvm,
					     timeout_ms / 1000);
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				cancel_sig = (int)si.ssi_signo;
				log_debug("UVM %s: signal %d: cancelling its boot", uvm,
					  cancel_sig);
				if (write(fd, "cancel\n", 7) < 0)
					log_debug("cancel: %m");
			}
			continue;
		}
		if (!p[0].revents)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1 || memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (!strcmp(buf, "ok"))
		return 0;
	if (cancel_sig)
		return gcs_error_set(err, -ECANCELED, HR_FAIL, "UVM %s: cancelled", uvm);
	if (!strncmp(buf, "error: ", 7))
		return gcs_error_set(err, -EIO, HR_FAIL, "UVM %s: %s", uvm, buf + 7);
	return gcs_error_set(err, -EIO, HR_FAIL, "UVM %s: its daemon died while starting", uvm);
}

/*
 * lcow re-executed as `lcow uvm-daemon`, detached: a session of its own, stdio on /dev/null and
 * its log, no fd of ours but the ready pipe (fd 3), reparented to init by a double fork.
 */
static int spawn_daemon(const char *uvm, const char *dir, enum lcow_rt_mode mode, bool pod,
			bool adopt, json_t *first_net, struct gcs_error *err)
{
	_cleanup_free_ char *net = NULL;
	char log[PATH_MAX];
	const char *argv[22];
	size_t k = 0;
	int ready[2], status, rc;
	pid_t pid;

	if (pathf(log, sizeof(log), "%s/daemon.log", dir) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", dir);
	argv[k++] = "lcow";
	argv[k++] = "--root";
	argv[k++] = store_root();
	if (arg_log) {
		argv[k++] = "--log";
		argv[k++] = arg_log;
	}
	argv[k++] = "--log-format";
	argv[k++] = arg_log_json ? "json" : "text";
	if (arg_debug)
		argv[k++] = "--debug";
	argv[k++] = "uvm-daemon";
	if (adopt) {
		argv[k++] = "--adopt";
	} else {
		argv[k++] = "--mode";
		argv[k++] = lcow_rt_mode_name(mode);
	}
	if (pod)
		argv[k++] = "--pod";
	if (first_net && mode == LCOW_RT_QEMU && !adopt) {
		net = json_dumps(first_net, JSON_COMPACT);
		if (!net)
			return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
		argv[k++] = "--first-net";
		argv[k++] = net;
	}
	argv[k++] = "--ready-fd";
	argv[k++] = "3";
	argv[k++] = uvm;
	argv[k] = NULL;
	/* Both ways: the daemon answers on it, and takes "cancel" (or our EOF) as a cancel. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ready) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "socketpair: %m");
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(ready[0]);
		close(ready[1]);
		return gcs_error_set(err, rc, HR_FAIL, "fork: %s", strerror(-rc));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		sigset_t none;

		if (setsid() < 0 || null < 0 || out < 0)
			_exit(127);
		pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 127 : 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(out, 2) < 0 ||
		    dup2(ready[1], 3) < 0)
			_exit(127);
		close_range(4, ~0U, 0);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(ready[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = await_ready(ready[0], uvm,
			 mode == LCOW_RT_QEMU || adopt ? BOOT_QEMU_MS : BOOT_PROCESS_MS, err);
	close(ready[0]);
	return rc;
}

/* An exclusive lock on <root>/u/.lock, polled until timeout_ms. */
static int lock_uvms(int timeout_ms, int *ret_fd)
{
	char p[PATH_MAX];
	long long deadline = time_now_ms() + timeout_ms;
	int fd;

	if (pathf(p, sizeof(p), "%s/u/.lock", store_root()) < 0)
		return -ENAMETOOLONG;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || time_now_ms() > deadline) {
			int rc = errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			close(fd);
			return rc;
		}
		usleep(20000);
	}
	*ret_fd = fd;
	return 0;
}

enum lcow_rt_mode client_uvm_mode(const char *uvm, enum lcow_rt_mode mode)
{
	char p[PATH_MAX], errbuf[160], why[256];
	json_t *j = NULL;
	enum lcow_rt_mode m;

	if (store_uvm_file(uvm, "uvm.json", p, sizeof(p)) == 0 &&
	    json_read_file(p, &j, errbuf, sizeof(errbuf)) == 0 &&
	    lcow_rt_mode_parse(json_string_value(json_object_get(j, "mode")) ?: "", &m) == 0 &&
	    m != LCOW_RT_AUTO) {
		json_decref(j);
		return m;
	}
	json_decref(j);
	return lcow_rt_mode_resolve(mode, why, sizeof(why));
}

int client_ensure_uvm(const char *uvm, enum lcow_rt_mode mode, bool pod, json_t *first_net,
		      bool *ret_started, struct gcs_error *err)
{
	_cleanup_close_ int lock = -1;
	char dir[PATH_MAX], why[256] = "";
	struct stat st;
	pid_t pid;
	int rc;

	*ret_started = false;
	rc = lock_uvms(BOOT_QEMU_MS, &lock);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "lock %s/u: %s", store_root(),
				     strerror(-rc));
	if (store_daemon_pid(uvm, &pid) == 0)
		return 0;
	if (store_uvm_dir(uvm, dir, sizeof(dir)) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "--root is too long");
	if (stat(dir, &st) == 0)
		return client_check_uvm(uvm, err);
	mode = lcow_rt_mode_resolve(mode, why, sizeof(why));
	if (why[0])
		fprintf(stderr,
			"lcow: UVM %s in process mode (no hypervisor, not a security "
			"boundary): %s\n",
			uvm, why);
	if ((rc = mkdir_p(dir, 0700)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", dir, strerror(-rc));
	log_debug("starting UVM %s (%s mode)", uvm, lcow_rt_mode_name(mode));
	rc = spawn_daemon(uvm, dir, mode, pod, false, first_net, err);
	if (rc < 0) {
		/* The daemon removed what it made; a daemon that never ran did not. */
		if (store_daemon_pid(uvm, &pid) < 0)
			rm_rf(dir);
		return rc;
	}
	*ret_started = true;
	return 0;
}

/* ---- terminals ---- */

static struct termios saved_termios;
static int saved_fd = -1;

static void term_restore(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSADRAIN, &saved_termios);
}

void term_raw(int fd)
{
	struct termios t;

	if (saved_fd >= 0 || !isatty(fd) || tcgetattr(fd, &saved_termios) < 0)
		return;
	t = saved_termios;
	cfmakeraw(&t);
	if (tcsetattr(fd, TCSADRAIN, &t) == 0) {
		saved_fd = fd;
		atexit(term_restore);
	}
}

void term_size(int fd, json_t *req)
{
	struct winsize ws;

	if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		json_object_set_new(req, "rows", json_integer(ws.ws_row));
		json_object_set_new(req, "cols", json_integer(ws.ws_col));
	}
}

int console_pty(const char *socket_path, int *ret_slave, struct gcs_error *err)
{
	_cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	_cleanup_close_ int slave = -1;
	char name[64];
	struct termios t;
	int rc;

	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
	    ptsname_r(master, name, sizeof(name)) != 0)
		return gcs_error_set(err, -errno, HR_FAIL, "allocate a pty: %m");
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "open %s: %m", name);
	/* The guest's pty does the line discipline; this one only carries bytes. */
	if (tcgetattr(slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(slave, TCSANOW, &t);
	}
	rc = send_console(socket_path, name, master);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "console socket %s: %s", socket_path,
				     strerror(-rc));
	*ret_slave = TAKE_FD(slave);
	return 0;
}

int client_simple_command(const char *op, const char *usage, int argc, char **argv)
{
	static const struct option options[] = { { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	struct gcs_error err = { 0 };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		return usage_error(op, "unknown option");
	}
	if (optind + 1 != argc)
		return usage_error(op, "expected one container ID");
	if (client_simple(op, argv[optind], &err) < 0)
		return fail("%s", err.message);
	return 0;
}
