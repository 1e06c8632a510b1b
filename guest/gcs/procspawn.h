/* Starting a process: argv/env assembly, PATH lookup, posix_spawn with stdio and a pty. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gcs/messages.h"

/* Opens what every spawn shares (/dev/null); call once at start-up. */
int spawn_init(void);

/* Splits a command line shell-style: blanks separate words; '...' literal; "..." and \ escape. */
int split_command_line(const char *s, char ***ret_argv);
void strv_free(char **v);

struct spawn_stdio {
	bool use_pty;
	uint16_t rows, cols;
	/* The child's fd 0/1/2 when not a pty: a pipe end, or -1 for /dev/null. */
	int child_fd[3];
};

/*
 * Spawns argv[0] (searched in the PATH of env, else the default PATH) in a new session with the
 * default signal dispositions and an empty mask. With use_pty, *ret_pty_master is the master of
 * a new pty whose slave is the child's controlling terminal and stdio.
 */
int spawn_process(char **argv, char **env, const char *cwd, const struct spawn_stdio *stdio,
		  pid_t *ret_pid, int *ret_pty_master, char *errbuf, size_t errlen);
