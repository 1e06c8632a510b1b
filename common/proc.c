/* Processes that may not be our children; see proc.h. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "timeutil.h"

bool pid_runs(pid_t pid, const char *const *needles)
{
	char p[64], buf[8192];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (pid <= 0)
		return false;
	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false; /* a zombie has an empty command line */
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	for (size_t i = 0; needles && needles[i]; i++)
		if (!strstr(buf, needles[i]))
			return false;
	return true;
}

int read_pid_file(const char *path, pid_t *ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char text[64];
	ssize_t n;
	int pid;

	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	if (n <= 0)
		return -EINVAL;
	text[n] = '\0';
	if (sscanf(text, "%d", &pid) != 1 || pid <= 0)
		return -EINVAL;
	*ret = pid;
	return 0;
}

int write_pid_file(const char *path, pid_t pid)
{
	char tmp[4096], text[32];
	_cleanup_close_ int fd = -1;
	int n = snprintf(text, sizeof(text), "%d\n", (int)pid);

	if (pathf(tmp, sizeof(tmp), "%s.tmp", path) < 0)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n || close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0) {
		int rc = -errno;
		unlink(tmp);
		return rc ? rc : -EIO;
	}
	return 0;
}

int proc_wait_gone(pid_t pid, int timeout_ms)
{
	_cleanup_close_ int pfd = -1;
	long long deadline = time_now_ms() + timeout_ms;

	if (pid <= 0)
		return 0;
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return errno == ESRCH ? 0 : -errno;
	for (;;) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		long long left = deadline - time_now_ms();
		int n;

		if (left < 0)
			left = 0;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			break;
		return -ETIMEDOUT;
	}
	/* Our child: reap it (someone else's is its parent's to reap). */
	while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
		;
	return 0;
}

int proc_stop(pid_t pid, int sig, int timeout_ms)
{
	if (pid <= 0)
		return 0;
	if (kill(pid, sig) < 0 && errno == ESRCH) {
		waitpid(pid, NULL, WNOHANG);
		return 0;
	}
	if (proc_wait_gone(pid, timeout_ms) == 0)
		return 0;
	kill(pid, SIGKILL);
	return proc_wait_gone(pid, 5000);
}
