/*
 * `lcow uvm-daemon`: holds one UVM and serves the CLI over its control socket. See daemon.h.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "store.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] uvm-daemon [--mode qemu|process] [--pod] [--adopt]\n"
	"                                        [--first-net JSON] [--ready-fd N] UVM-ID\n"
	"\n"
	"Internal: the daemon that holds one UVM. create and run start it (detached, in a session\n"
	"of its own); it boots the UVM, owns the bridge to the UVM's agent, and serves the other\n"
	"commands over <root>/u/<uvm>/ctl.sock. It logs to --log, else <root>/u/<uvm>/daemon.log,\n"
	"and exits after the UVM's last container is deleted (a pod: after `lcow delete UVM-ID`).\n"
	"The UVM outlives a daemon that dies: the next lcow command starts one with --adopt, which\n"
	"listens on the UVM's bridge port again, lets the agent dial in and rebuilds its containers\n"
	"from their records.\n"
	"\n"
	"Options:\n"
	"  --mode qemu|process  how to run the UVM (default process; with --adopt: as it runs)\n"
	"  --pod                keep the UVM when its last container goes\n"
	"  --adopt              take over the running UVM of a daemon that died\n"
	"  --first-net JSON     qemu: the network of the container the UVM is started for\n"
	"                       ({\"id\",\"dir\",\"network\",\"publish\"}), its NIC made at boot\n"
	"  --ready-fd N         write \"ok\" or \"error: <why>\" to fd N once the UVM is up; EOF\n"
	"                       or \"cancel\" on it (or SIGTERM) before then cancels the boot\n"
	"  -h, --help           show this help\n";

/* ---- replies ---- */

void reply_ok(struct ctl_conn *c, json_t *fields)
{
	json_t *r = fields ? fields : json_object();

	json_object_set_new(r, "ok", json_true());
	if (ctl_send(c, r, NULL, 0) < 0)
		log_debug("reply: the client went away");
	json_decref(r);
}

void reply_err(struct ctl_conn *c, const char *code, const char *fmt, ...)
{
	char msg[GCS_ERROR_MESSAGE_MAX + 256];
	json_t *r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("reply: error: %s", msg);
	r = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	if (code)
		json_object_set_new(r, "code", json_string(code));
	if (ctl_send(c, r, NULL, 0) < 0)
		log_debug("reply: the client went away");
	json_decref(r);
}

void reply_rt_err(struct ctl_conn *c, int rc, const struct gcs_error *err)
{
	reply_err(c,
		  rc == -ENOENT	   ? "not-found" :
		  rc == -ESHUTDOWN ? "exiting" :
		  rc == -ENOLINK   ? "uvm-gone" :
				     NULL,
		  "%s", err->message);
}

/* ---- containers ---- */

struct lcow_rt_ctr *ctr_find(struct daemon *d, struct ctl_conn *c, json_t *req)
{
	struct lcow_rt_ctr *x =
		lcow_rt_ctr_get(d->rt, json_string_value(json_object_get(req, "id")));

	if (!x)
		reply_err(c, "not-found", "container does not exist");
	return x;
}

/* Every request but delete fails once the UVM is gone, and says so. */
bool uvm_gone(struct daemon *d, struct ctl_conn *c)
{
	if (!lcow_rt_broken(d->rt))
		return false;
	reply_err(c, "uvm-gone",
		  "the UVM %s is gone: its agent closed the bridge (see the daemon's log in %s); "
		  "`lcow delete --force` cleans up",
		  d->uvm_id, d->dir);
	return true;
}

/* ---- the UVM ---- */

static void on_rt_log(void *user, enum lcow_rt_log_level level, const char *msg)
{
	static const enum log_level levels[] = { [LCOW_RT_LOG_ERROR] = LOG_ERROR,
						 [LCOW_RT_LOG_WARNING] = LOG_WARNING,
						 [LCOW_RT_LOG_INFO] = LOG_INFO,
						 [LCOW_RT_LOG_DEBUG] = LOG_DEBUG };

	(void)user;
	log_msg(levels[level], "%s", msg);
}

void daemon_stop_uvm(struct daemon *d)
{
	/* New clients find nobody from now on. */
	unlink(d->sock);
	if (d->rt)
		lcow_rt_stop(d->rt);
	rm_rf(d->dir);
	log_info("uvm %s: stopped", d->uvm_id);
}

void daemon_exit(struct daemon *d)
{
	uint64_t one = 1;

	if (d->wake_fd >= 0 && write(d->wake_fd, &one, sizeof(one)) < 0)
		log_debug("wake: %m");
}

/* ---- the control socket ---- */

struct conn_arg {
	struct daemon *d;
	int fd;
};

static const struct daemon_op *op_find(const char *name)
{
	static const struct {
		const struct daemon_op *ops;
		const size_t *n;
	} tables[] = { { daemon_ctr_ops, &daemon_n_ctr_ops },
		       { daemon_query_ops, &daemon_n_query_ops } };

	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (size_t i = 0; i < *tables[t].n; i++)
			if (!strcmp(tables[t].ops[i].name, name))
				return &tables[t].ops[i];
	return NULL;
}

static void *serve_conn(void *arg)
{
	struct conn_arg *a = arg;
	struct daemon *d = a->d;
	struct ctl_conn c;
	int fds[CTL_MAX_FDS];
	size_t n_fds = CTL_MAX_FDS;
	const struct daemon_op *o;
	json_t *req = NULL;
	const char *op;
	int rc;

	ctl_conn_init(&c, a->fd);
	free(a);
	rc = ctl_recv(&c, 30000, &req, fds, &n_fds);
	if (rc < 0) {
		log_debug("control: bad request: %s", strerror(-rc));
		ctl_close(&c);
		return NULL;
	}
	op = json_string_value(json_object_get(req, "op"));
	log_debug("control: %s %s", op ? op : "?",
		  json_string_value(json_object_get(req, "id")) ?: "");
	if (!op)
		op = "";
	/* fds go to the ops that take them; the others close them here. */
	o = op_find(op);
	if (o) {
		o->fn(d, &c, req, fds, o->takes_fds ? n_fds : 0);
		if (o->takes_fds)
			n_fds = 0;
	} else {
		reply_err(&c, NULL, "unknown request '%s'", op);
	}
	for (size_t i = 0; i < n_fds; i++)
		close(fds[i]);
	json_decref(req);
	ctl_close(&c);
	return NULL;
}

/*
 * Only root and the daemon's own user may talk to it: a request can exec as root in a container.
 * The socket's directory is 0700 already; this holds when a mode is mis-set or the socket is
 * bind-mounted elsewhere. Anyone else is told why, and the connection is closed.
 */
static bool peer_allowed(struct daemon *d, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ctl_conn c;
	json_t *msg;
	char text[160];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    (cred.uid == 0 || cred.uid == geteuid()))
		return true;
	if (len != sizeof(cred))
		cred.uid = (uid_t)-1;
	snprintf(text, sizeof(text),
		 "permission denied: uid %d may not use UVM %s (only root and uid %d may)",
		 (int)cred.uid, d->uvm_id, (int)geteuid());
	log_warning("uvm %s: refused a connection from uid %d", d->uvm_id, (int)cred.uid);
	ctl_conn_init(&c, fd);
	msg = json_pack("{s:b,s:s}", "ok", 0, "error", text);
	if (msg)
		ctl_send(&c, msg, NULL, 0);
	json_decref(msg);
	ctl_close(&c);
	return false;
}

static void serve(struct daemon *d)
{
	_cleanup_close_ int sfd = -1;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		struct pollfd p[3] = { { .fd = d->listen_fd, .events = POLLIN },
				       { .fd = d->wake_fd, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %m");
			return;
		}
		/* The request that stopped the UVM has been answered. */
		if (p[1].revents)
			return;
		if (p[2].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("uvm %s: signal %u: stopping the UVM", d->uvm_id,
					 si.ssi_signo);
			lcow_rt_delete_all(d->rt);
			daemon_stop_uvm(d);
			return;
		}
		if (p[0].revents) {
			int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			struct conn_arg *a;
			pthread_attr_t attr;
			pthread_t t;

			if (fd < 0 || !peer_allowed(d, fd))
				continue;
			a = malloc(sizeof(*a));
			if (!a) {
				close(fd);
				continue;
			}
			*a = (struct conn_arg){ .d = d, .fd = fd };
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &attr, serve_conn, a) != 0) {
				close(fd);
				free(a);
			}
			pthread_attr_destroy(&attr);
		}
	}
}

/* ---- start-up ---- */

static void ready(int fd, const char *error)
{
	char line[GCS_ERROR_MESSAGE_MAX + 16];
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s%s\n", error ? "error: " : "ok", error ? error : "");
	if (write(fd, line, (size_t)n) < 0)
		log_debug("ready: %m");
	close(fd);
}

static int write_uvm_json(struct daemon *d, const char *created)
{
	char p[PATH_MAX], when[48];
	json_t *j;
	int rc;

	time_rfc3339(when, sizeof(when));
	j = json_pack("{s:s, s:s, s:b, s:s, s:i}", "id", d->uvm_id, "mode",
		      lcow_rt_mode_name(d->mode), "pod", d->pod, "created",
		      created ? created : when, "pid", (int)getpid());
	if (!j || pathf(p, sizeof(p), "%s/uvm.json", d->dir) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	rc = json_write_file(p, j);
	json_decref(j);
	return rc;
}

/*
 * Whether the boot is to be given up: the CLI that started us went away or said "cancel" on
 * the ready channel, or we got SIGTERM, SIGINT or SIGHUP. Latched.
 */
static bool boot_cancelled(void *user)
{
	struct daemon *d = user;
	struct pollfd p[2] = { { .fd = d->ready_fd, .events = POLLIN },
			       { .fd = d->boot_sig_fd, .events = POLLIN } };

	if (d->cancelled)
		return true;
	if (poll(p, 2, 0) <= 0)
		return false;
	if (p[0].revents) {
		char buf[16];
		ssize_t n = read(d->ready_fd, buf, sizeof(buf));
		if (n <= 0 || (n >= 6 && !memcmp(buf, "cancel", 6)))
			d->cancelled = true;
	}
	if (p[1].revents) {
		struct signalfd_siginfo si;
		if (read(d->boot_sig_fd, &si, sizeof(si)) == sizeof(si))
			d->cancelled = true;
	}
	if (d->cancelled)
		log_info("uvm %s: the boot was cancelled", d->uvm_id);
	return d->cancelled;
}

/* An adopted UVM's mode, pod flag and creation time, from its uvm.json. */
static int read_uvm_json(struct daemon *d, char *created, size_t len, struct gcs_error *err)
{
	char p[PATH_MAX], errbuf[160];
	json_t *j = NULL;
	int rc;

	if (pathf(p, sizeof(p), "%s/uvm.json", d->dir) < 0 ||
	    (rc = json_read_file(p, &j, errbuf, sizeof(errbuf))) < 0)
		return gcs_error_set(err, -ENOENT, HR_FAIL, "UVM %s: no uvm.json to adopt it by",
				     d->uvm_id);
	rc = lcow_rt_mode_parse(json_string_value(json_object_get(j, "mode")) ?: "", &d->mode);
	d->pod = json_is_true(json_object_get(j, "pod"));
	snprintf(created, len, "%s", json_string_value(json_object_get(j, "created")) ?: "");
	json_decref(j);
	if (rc < 0 || d->mode == LCOW_RT_AUTO)
		return gcs_error_set(err, -EINVAL, HR_FAIL, "UVM %s: a broken uvm.json", d->uvm_id);
	return 0;
}

/*
 * Opens the control socket, then writes the pid file, then boots (or adopts) the UVM: a client
 * that finds the daemon meanwhile has its request queued until the daemon serves.
 */
/*
 * The containers of this UVM from their records (after an adoption): each one's directory in
 * the store, whose record names this UVM.
 */
static int daemon_restore(struct daemon *d)
{
	char **ids = NULL;
	size_t n = 0, adopted = 0;
	int rc = store_list(&ids, &n);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char dir[PATH_MAX];
		json_t *rec = NULL;
		const char *uvm;
		bool ours;

		if (store_record_read(ids[i], &rec) < 0)
			continue;
		uvm = json_string_value(json_object_get(rec, "uvm"));
		ours = uvm && !strcmp(uvm, d->uvm_id) &&
		       store_container_dir(ids[i], dir, sizeof(dir)) == 0;
		json_decref(rec);
		if (ours && lcow_rt_adopt_container(d->rt, ids[i], dir) == 0)
			adopted++;
	}
	store_list_free(ids, n);
	log_info("uvm %s: adopted with %zu containers", d->uvm_id, adopted);
	return 0;
}

/*
 * Opens the control socket, then writes the pid file, then boots (or adopts) the UVM: a client
 * that finds the daemon meanwhile has its request queued until the daemon serves.
 */
static int daemon_start(struct daemon *d, bool adopt, struct gcs_error *err)
{
	struct lcow_rt_options o = { .id = d->uvm_id,
				     .dir = d->dir,
				     .debug = d->debug,
				     .first_net = d->first_net,
				     .cancelled = boot_cancelled,
				     .user = d };
	char p[PATH_MAX], created[64] = "";
	sigset_t set;
	int rc;

	if (pathf(d->sock, sizeof(d->sock), "%s/ctl.sock", d->dir) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", d->dir);
	if (adopt && (rc = read_uvm_json(d, created, sizeof(created), err)) < 0)
		return rc;
	o.mode = d->mode;
	o.pod = d->pod;
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->wake_fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "eventfd: %m");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	d->boot_sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	rc = ctl_listen(d->sock, &d->listen_fd);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "listen on %s: %s", d->sock, strerror(-rc));
	if ((rc = pathf(p, sizeof(p), "%s/daemon.pid", d->dir)) < 0 ||
	    (rc = write_pid_file(p, getpid())) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "write daemon.pid: %s", strerror(-rc));
	log_info("uvm %s: %s (%s mode)", d->uvm_id, adopt ? "adopting" : "starting",
		 lcow_rt_mode_name(d->mode));
	rc = lcow_rt_start(&o, adopt, &d->rt, err);
	if (rc < 0)
		return rc;
	if (adopt && (rc = daemon_restore(d)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "read the containers' records: %s",
				     strerror(-rc));
	if ((rc = write_uvm_json(d, created[0] ? created : NULL)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "write uvm.json: %s", strerror(-rc));
	log_info("uvm %s: up", d->uvm_id);
	return 0;
}

static int parse(int argc, char **argv, struct daemon *d, int *ready_fd, bool *adopt)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "pod", no_argument, NULL, 'p' },
		{ "adopt", no_argument, NULL, 'a' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "first-net", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (lcow_rt_mode_parse(optarg, &d->mode) < 0 || d->mode == LCOW_RT_AUTO)
				return fail("uvm-daemon: --mode must be qemu or process");
			break;
		case 'p':
			d->pod = true;
			break;
		case 'a':
			*adopt = true;
			break;
		case 'r':
			*ready_fd = atoi(optarg);
			break;
		case 'n':
			json_decref(d->first_net);
			d->first_net = json_loads(optarg, 0, NULL);
			if (!json_is_object(d->first_net))
				return fail("uvm-daemon: --first-net must be a JSON object");
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return fail("uvm-daemon: see --help");
		}
	}
	if (optind + 1 != argc || !id_valid(argv[optind]))
		return fail("uvm-daemon: expected one UVM ID");
	snprintf(d->uvm_id, sizeof(d->uvm_id), "%s", argv[optind]);
	return 0;
}

/* Static: client threads may still touch it while the process exits. */
static struct daemon d = { .mode = LCOW_RT_PROCESS,
			   .listen_fd = -1,
			   .wake_fd = -1,
			   .ready_fd = -1,
			   .boot_sig_fd = -1 };

int cmd_uvm_daemon(int argc, char **argv)
{
	struct gcs_error err = { 0 };
	char p[PATH_MAX];
	int ready_fd = -1, rc;
	bool adopt = false;
	sigset_t set;

	rc = parse(argc, argv, &d, &ready_fd, &adopt);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (ready_fd >= 0)
		fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	d.ready_fd = ready_fd;
	d.debug = arg_debug;
	if (store_uvm_dir(d.uvm_id, d.dir, sizeof(d.dir)) < 0 || mkdir_p(d.dir, 0700) < 0) {
		ready(ready_fd, "cannot create the UVM's directory");
		return 1;
	}
	if (!arg_log && pathf(p, sizeof(p), "%s/daemon.log", d.dir) == 0)
		log_setup(p, arg_log_json, arg_debug);
	if (chdir("/") < 0)
		log_warning("chdir /: %m");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	lcow_rt_set_log(on_rt_log, NULL);

	rc = daemon_start(&d, adopt, &err);
	if (rc < 0) {
		log_error("uvm %s: %s", d.uvm_id, err.message);
		if (d.listen_fd >= 0)
			close(d.listen_fd);
		/*
		 * A UVM we could not adopt is left as it is, for `delete --force` to sweep; one we
		 * started (or adopted and then failed) is torn down, and its directory goes.
		 */
		if (!adopt || d.rt)
			daemon_stop_uvm(&d);
		ready(ready_fd, err.message);
		close(d.wake_fd);
		log_close();
		return 1;
	}
	ready(ready_fd, NULL);
	d.ready_fd = -1;
	if (d.boot_sig_fd >= 0)
		close(d.boot_sig_fd);
	serve(&d);
	close(d.listen_fd);
	close(d.wake_fd);
	/* Threads of clients that are still connected end with the process. */
	log_close();
	return 0;
}
