/*
 * A terminal process's console follows the size of the host pty it was given (a
 * --console-socket terminal, of a container's init or of an exec: the CLI sent the master to
 * the socket, the runtime holds the slave). The kernel tells a pty's size changes only to the
 * foreground process group of the session whose controlling terminal it is, by SIGWINCH; the
 * daemon has no controlling terminal and must not get one. So a small child of the runtime makes
 * the slave its controlling terminal (setsid, TIOCSCTTY: it is then the session's foreground
 * group) and writes a byte to a pipe for each SIGWINCH; a thread of the runtime reads the pty's
 * size (TIOCGWINSZ on the slave it holds) and resizes the process's console (ResizeConsole).
 * Event-driven: nothing polls.
 *
 * Lifetime: the thread ("follower") forks the child, and a second thread waits (on d->cond) for
 * the process to end: the container stopped, or the exec'd process left the list. Then the
 * follower closes the pipe's read end, which the child sees (POLLERR on its end) and exits, and
 * the follower reaps it. The child also dies with the follower thread (PR_SET_PDEATHSIG), so a
 * daemon that dies leaves no child; it exits on SIGHUP (the master's holder closed it) too. A
 * terminal that already is some session's controlling terminal (the user's own, for a
 * foreground run or exec, whose size lcow forwards itself) is left alone: TIOCSCTTY refuses it
 * and the child exits at once.
 */
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

struct follower {
	struct lcow_rt *d;
	struct lcow_rt_ctr *x;
	uint32_t pid; /* 0: the init */
	int efd; /* the process ended */
};

/* The slave the runtime holds for the process, or -1 (d->lock held). */
static int slave_of(struct lcow_rt_ctr *x, uint32_t pid)
{
	struct dproc *p;

	if (x->status != LCOW_RT_RUNNING && x->status != LCOW_RT_PAUSED)
		return -1;
	if (!pid)
		return x->init && x->n_fds > 0 ? x->fds[0] : -1;
	p = dproc_find(x, pid);
	return p && p->n_fds > 0 ? p->fds[0] : -1;
}

/* Whether the process ended (d->lock held): its container stopped, or it left the list. */
static bool ended(struct lcow_rt_ctr *x, uint32_t pid)
{
	return x->status == LCOW_RT_STOPPED || (pid && !dproc_find(x, pid));
}

/* UNIX 98 pty slaves: majors 136-143. */
static bool is_pty_slave(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) >= 136 &&
	       major(st.st_rdev) <= 143;
}

/*
 * The slave's size into the process's console. Call with x->op held: an exec'd process is freed
 * only under it (exec_waiter), the init with the container.
 */
static void apply_size(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid)
{
	struct gcs_error err = { 0 };
	struct gcs_process *p = NULL;
	struct winsize ws = { 0 };
	int fd;

	if (x->removed)
		return;
	pthread_mutex_lock(&d->lock);
	/* the fds stay open while the process is listed (they are closed after, under x->op) */
	fd = slave_of(x, pid);
	if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		p = pid ? dproc_find(x, pid)->p : x->init;
	pthread_mutex_unlock(&d->lock);
	if (p && gcs_process_resize(p, ws.ws_row, ws.ws_col, &err) < 0)
		rt_debug("container %s: resize the console of %u: %s", x->id, pid, err.message);
	else if (p)
		rt_debug("container %s: console of %u: %ux%u", x->id, pid, ws.ws_row, ws.ws_col);
}

static void close_others(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0U, 0);
}

/*
 * The child (forked from a threaded daemon: system calls only). Writes "A" once the slave is
 * its controlling terminal, then "W" per SIGWINCH; exits when the pipe has no reader, on
 * SIGHUP/SIGTERM/SIGINT, or when the follower thread dies.
 */
static __attribute__((noreturn)) void child_main(int slave, int report, pid_t parent)
{
	struct signalfd_siginfo si;
	sigset_t all, set;
	int sfd;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	close_others(slave, report);
	if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
		_exit(2);
	close(slave); /* the session keeps its terminal; the master's holder sees the runtime's */
	fcntl(report, F_SETFL, O_NONBLOCK);
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0 || write(report, "A", 1) != 1)
		_exit(3);
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = report } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(4);
		}
		if (p[1].revents) /* POLLERR: the follower stopped reading */
			_exit(0);
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGWINCH)
			_exit(0);
		/* a full pipe already holds a report to come */
		if (write(report, "W", 1) < 0 && errno != EAGAIN)
			_exit(0);
	}
}

static void *stopper_main(void *arg)
{
	struct follower *f = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&f->d->lock);
	while (!ended(f->x, f->pid))
		pthread_cond_wait(&f->d->cond, &f->d->lock);
	pthread_mutex_unlock(&f->d->lock);
	if (write(f->efd, &one, sizeof(one)) < 0)
		rt_warning("container %s: console follower: %m", f->x->id);
	return NULL;
}

static void reap(pid_t pid)
{
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Forks the child with a copy of the slave; its pid, with the pipe's read end in *ret_fd. */
static pid_t spawn_child(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t proc, int *ret_fd)
{
	int slave, pfd[2];
	pid_t parent = getpid(), pid;

	pthread_mutex_lock(&d->lock);
	slave = slave_of(x, proc);
	if (slave >= 0)
		slave = fcntl(slave, F_DUPFD_CLOEXEC, 3);
	pthread_mutex_unlock(&d->lock);
	if (slave < 0)
		return -1;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		close(slave);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		child_main(slave, pfd[1], parent);
	close(slave);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return -1;
	}
	*ret_fd = pfd[0];
	return pid;
}

static void *follower_main(void *arg)
{
	struct follower *f = arg;
	struct lcow_rt *d = f->d;
	struct lcow_rt_ctr *x = f->x;
	pthread_t stopper;
	int fd = -1;
	pid_t child = spawn_child(d, x, f->pid, &fd);
	char b = 0;
	ssize_t n;

	if (child < 0)
		goto out;
	do
		n = read(fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || b != 'A') {
		/* not a terminal it could take (another session's): nothing to follow */
		close(fd);
		reap(child);
		goto out;
	}
	rt_debug("container %s: following the console size of %u (pid %d)", x->id, f->pid,
		 (int)child);
	f->efd = eventfd(0, EFD_CLOEXEC);
	if (f->efd < 0 || pthread_create(&stopper, NULL, stopper_main, f) != 0) {
		rt_warning("container %s: cannot follow its console's size", x->id);
		close(fd);
		reap(child);
		if (f->efd >= 0)
			close(f->efd);
		goto out;
	}
	/* a size set between start and now */
	pthread_mutex_lock(&x->op);
	apply_size(d, x, f->pid);
	pthread_mutex_unlock(&x->op);
	for (;;) {
		struct pollfd p[2] = { { .fd = f->efd, .events = POLLIN },
				       { .fd = fd, .events = POLLIN } };
		char buf[64];

		if (poll(p, fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (!p[1].revents)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* the child went (the master was closed): wait for the stop alone */
			close(fd);
			fd = -1;
			reap(child);
			child = -1;
			continue;
		}
		pthread_mutex_lock(&x->op);
		apply_size(d, x, f->pid);
		pthread_mutex_unlock(&x->op);
	}
	if (fd >= 0)
		close(fd); /* the child's cue to exit */
	reap(child);
	pthread_join(stopper, NULL);
	close(f->efd);
	rt_debug("container %s: console follower done", x->id);
out:
	lcow_rt_ctr_put(d, x);
	free(f);
	return NULL;
}

void console_follow(struct lcow_rt *d, struct lcow_rt_ctr *x, uint32_t pid)
{
	struct follower *f;
	pthread_attr_t attr;
	pthread_t t;
	bool pty;
	int fd;

	if (!pid && !x->terminal)
		return;
	pthread_mutex_lock(&d->lock);
	fd = slave_of(x, pid);
	pty = fd >= 0 && is_pty_slave(fd);
	pthread_mutex_unlock(&d->lock);
	if (!pty)
		return;
	/* the init's size now, before the start is answered (start holds x->op) */
	if (!pid)
		apply_size(d, x, 0);
	f = calloc(1, sizeof(*f));
	if (!f)
		return;
	*f = (struct follower){ .d = d, .x = x, .pid = pid, .efd = -1 };
	pthread_mutex_lock(&d->lock);
	x->refs++;
	pthread_mutex_unlock(&d->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, follower_main, f) != 0) {
		rt_warning("container %s: no thread to follow a console's size", x->id);
		lcow_rt_ctr_put(d, x);
		free(f);
	}
	pthread_attr_destroy(&attr);
}
