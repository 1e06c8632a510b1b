/* runc invoked as a program, never linked: argv assembly, log parsing, completion. */
#include "runc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "log.h"

extern char **environ;

struct runc_call {
	char *log;
	runc_done_cb done;
	void *data;
};

char *runc_log_error(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "r");
	char line[8192];
	char *last = NULL;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *level, *msg;

		if (!o)
			continue;
		level = json_string_value(json_object_get(o, "level"));
		msg = json_string_value(json_object_get(o, "msg"));
		if (level && msg && (!strcmp(level, "error") || !strcmp(level, "fatal"))) {
			free(last);
			last = strdup(msg);
		}
		json_decref(o);
	}
	return last;
}

static void on_done(void *data, const struct child_result *r)
{
	struct runc_call *call = data;
	_cleanup_free_ char *logged = NULL;
	const char *error = NULL;

	if (r->exit_code != 0) {
		logged = call->log ? runc_log_error(call->log) : NULL;
		error = logged ? logged : r->err_len ? r->err : "runc failed without a message";
	}
	call->done(call->data, r->exit_code, error);
	free(call->log);
	free(call);
}

static int build_argv(struct agent *a, const char *log, const char *const *args, char **argv,
		      size_t cap)
{
	size_t n = 0;

	argv[n++] = a->opt.runc;
	argv[n++] = "--root";
	argv[n++] = a->opt.runc_root;
	if (log) {
		argv[n++] = "--log";
		argv[n++] = (char *)log;
		argv[n++] = "--log-format";
		argv[n++] = "json";
	}
	for (size_t i = 0; args[i]; i++) {
		if (n + 1 >= cap)
			return -E2BIG;
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	return 0;
}

int runc_run(struct agent *a, const char *log, const char *const *args, const int *fds,
	     runc_done_cb done, void *data)
{
	struct child_options o = { .fds = { CHILD_NULL, CHILD_CAPTURE, CHILD_CAPTURE } };
	struct runc_call *call;
	char *argv[32];
	int rc = build_argv(a, log, args, argv, ARRAY_SIZE(argv));

	if (rc < 0)
		return rc;
	if (fds)
		memcpy(o.fds, fds, sizeof(o.fds));
	call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	call->log = log ? strdup(log) : NULL;
	call->done = done;
	call->data = data;
	if (log)
		unlink(log); /* only this call's lines */
	rc = child_run(a, argv, &o, on_done, call, NULL);
	if (rc < 0) {
		free(call->log);
		free(call);
	}
	return rc;
}

int runc_run_sync(struct agent *a, const char *const *args)
{
	char *argv[32];
	pid_t pid;
	int status = 0, rc = build_argv(a, NULL, args, argv, ARRAY_SIZE(argv));
	posix_spawn_file_actions_t fa;

	if (rc < 0)
		return rc;
	posix_spawnattr_t attr;

	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
	child_spawnattr_init(&attr);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		return -rc;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
