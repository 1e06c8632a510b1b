/*
 * Processes that may not be our children: a helper started by an earlier owner (a crashed
 * daemon's QEMU, its vsock device, a process-mode agent) is found by pid file and command line,
 * and waited for through a pidfd, which works whoever the parent is.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/*
 * Whether pid runs (not a zombie) and its command line contains every one of the
 * NULL-terminated needles: a pid file alone could name a recycled pid.
 */
bool pid_runs(pid_t pid, const char *const *needles);
/* Reads a pid ("123\n") from a file: 0, -ENOENT, -EINVAL. */
int read_pid_file(const char *path, pid_t *ret);
/* Writes "<pid>\n" to path (through a temporary file and rename). */
int write_pid_file(const char *path, pid_t pid);
/*
 * Waits up to timeout_ms for pid to exit (a child is reaped too): 0 once it is gone, -ETIMEDOUT.
 * A pid that does not exist is gone.
 */
int proc_wait_gone(pid_t pid, int timeout_ms);
/* Sends sig, then proc_wait_gone(timeout_ms); after the timeout SIGKILL and another wait. */
int proc_stop(pid_t pid, int sig, int timeout_ms);
