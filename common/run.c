/*
 * Helper programs (mkfs.ext4, decompressors, ...): spawned with the fds given, reaped with the
 * shell's exit convention, their output kept as a one-line error message.
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"

extern char **environ;

/* posix_spawnp with fds 0/1/2 given and SIGPIPE back at its default (the CLI may ignore it). */
int run_spawn(const char *const *argv, int in, int out, int errfd, pid_t *ret_pid)
{
	static const char *const sbin[] = { "/usr/sbin", "/sbin" };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t set;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	posix_spawnattr_setsigdefault(&at, &set);
	sigemptyset(&set);
	posix_spawnattr_setsigmask(&at, &set);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	r = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
	/* mkfs.ext4 and debugfs live in sbin, which a user's PATH may lack */
	for (size_t i = 0; r == ENOENT && !strchr(argv[0], '/') && i < ARRAY_SIZE(sbin); i++) {
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", sbin[i], argv[0]);
		r = posix_spawn(&pid, path, &fa, &at, (char *const *)argv, environ);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r != 0)
		return -r;
	*ret_pid = pid;
	return 0;
}

int run_reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* Appends what fd holds now (non-blocking) or until EOF (blocking) to out, cut at len. */
void run_slurp(int fd, char *out, size_t len)
{
	size_t n = strnlen(out, len);
	char buf[4096];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (n + 1 < len) {
			size_t k = (size_t)r < len - 1 - n ? (size_t)r : len - 1 - n;
			memcpy(out + n, buf, k);
			n += k;
			out[n] = '\0';
		}
	}
	/* one line for the error message */
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

int run_capture(const char *const *argv, int stdin_fd, int stdout_fd, char *out, size_t len)
{
	_cleanup_close_ int null = -1, rd = -1;
	int p[2], r;
	pid_t pid;
	char scratch[1];

	if (!out || len == 0) {
		out = scratch;
		len = sizeof(scratch);
	}
	out[0] = '\0';
	if (stdin_fd < 0) {
		null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0)
			return -errno;
		stdin_fd = null;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	rd = p[0];
	r = run_spawn(argv, stdin_fd, stdout_fd >= 0 ? stdout_fd : p[1], p[1], &pid);
	close(p[1]);
	if (r < 0)
		return r;
	run_slurp(rd, out, len);
	return run_reap(pid);
}
