/* Helper programs run to completion, or spawned and reaped, by the host's tools. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * posix_spawnp of argv with fds 0/1/2 from in/out/errfd and SIGPIPE at its default; a bare name
 * not on PATH is also looked for in /usr/sbin and /sbin (mkfs.ext4, debugfs).
 */
int run_spawn(const char *const *argv, int in, int out, int errfd, pid_t *ret_pid);
/* Waits for pid: its exit status, or 128 + the signal that killed it; -errno. */
int run_reap(pid_t pid);
/* Appends what fd gives until EOF to out (NUL-terminated, cut at len), as one line. */
void run_slurp(int fd, char *out, size_t len);
/*
 * Runs argv to completion (stdin from stdin_fd or /dev/null, stdout to stdout_fd or with stderr
 * into out): its exit status (128+N when killed by signal N), or -errno when it cannot start.
 */
int run_capture(const char *const *argv, int stdin_fd, int stdout_fd, char *out, size_t len);
