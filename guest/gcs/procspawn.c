/* posix_spawn-based process start: cheap (vfork-style) and reports exec errors synchronously. */
#include "procspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int split_command_line(const char *s, char ***ret_argv)
{
	size_t cap = 8, n = 0, len = strlen(s);
	char **argv = calloc(cap, sizeof(*argv));
	_cleanup_free_ char *word = malloc(len + 1);
	size_t w = 0;
	bool in_word = false;

	if (!argv || !word) {
		free(argv);
		return -ENOMEM;
	}
	for (const char *p = s;; p++) {
		char ch = *p;
		if (ch == '\0' || ch == ' ' || ch == '\t' || ch == '\n') {
			if (in_word) {
				if (n + 2 > cap) {
					char **t = realloc(argv, (cap *= 2) * sizeof(*argv));
					if (!t)
						goto nomem;
					argv = t;
				}
				word[w] = '\0';
				argv[n] = strdup(word);
				if (!argv[n])
					goto nomem;
				argv[++n] = NULL;
				w = 0;
				in_word = false;
			}
			if (ch == '\0')
				break;
			continue;
		}
		in_word = true;
		if (ch == '\'') {
			const char *end = strchr(p + 1, '\'');
			if (!end)
				goto bad;
			memcpy(word + w, p + 1, (size_t)(end - p - 1));
			w += (size_t)(end - p - 1);
			p = end;
		} else if (ch == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' &&
				    (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
					p++;
				word[w++] = *p;
			}
			if (*p != '"')
				goto bad;
		} else if (ch == '\\') {
			if (!p[1])
				goto bad;
			word[w++] = *++p;
		} else {
			word[w++] = ch;
		}
	}
	*ret_argv = argv;
	return 0;
bad:
	strv_free(argv);
	return -EINVAL;
nomem:
	strv_free(argv);
	return -ENOMEM;
}

static const char *env_path(char **env)
{
	for (char **e = env; e && *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return DEFAULT_PATH;
}

/* argv[0] as exec would run it: a name with a slash is used as is, else searched in PATH. */
static int resolve(const char *name, char **env, const char *cwd, char *out, size_t len)
{
	const char *path = env_path(env);

	if (strchr(name, '/')) {
		if (name[0] == '/' || !cwd)
			snprintf(out, len, "%s", name);
		else
			snprintf(out, len, "%s/%s", cwd, name);
		return 0;
	}
	while (*path) {
		const char *end = strchrnul(path, ':');
		struct stat st;
		int n = (int)(end - path);

		if (n == 0)
			snprintf(out, len, "%s/%s", cwd ? cwd : ".", name);
		else
			snprintf(out, len, "%.*s/%s", n, path, name);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
		path = *end ? end + 1 : end;
	}
	return -ENOENT;
}

/* One /dev/null for every stream nobody asked for: a dup2 in the child is cheaper than an open. */
static int devnull_fd = -1;

static int devnull(void)
{
	return devnull_fd;
}

int spawn_init(void)
{
	if (devnull_fd < 0)
		devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return devnull_fd < 0 ? -errno : 0;
}

static int open_pty(uint16_t rows, uint16_t cols, int *ret_master, char *slave, size_t len)
{
	_cleanup_close_ int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, slave, len) != 0)
		return -errno;
	if (rows && cols) {
		struct winsize ws = { .ws_row = rows, .ws_col = cols };
		ioctl(m, TIOCSWINSZ, &ws);
	}
	*ret_master = TAKE_FD(m);
	return 0;
}

/* What the vfork child needs; it shares our memory until it execs. */
struct spawn_child {
	const char *path;
	char **argv;
	char **env;
	const char *cwd;
	const char *pty_slave;
	int fds[3];
	int err;
	const char *step;
};

/*
 * Runs in the vfork child, on its own stack. The agent installs no signal handlers (SIGPIPE is
 * ignored, SIGCHLD blocked for the signalfd), so unlike glibc's posix_spawn this need not reset
 * every signal: only SIGPIPE goes back to its default and the mask is emptied.
 */
static int spawn_child_main(void *arg)
{
	struct spawn_child *sc = arg;
	sigset_t none;

	sc->step = "setsid";
	if (setsid() < 0)
		goto fail;
	if (sc->pty_slave) {
		/* Opened after setsid, the slave becomes the controlling terminal. */
		int fd;
		sc->step = "open the console";
		fd = open(sc->pty_slave, O_RDWR);
		if (fd < 0)
			goto fail;
		if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			goto fail;
		if (fd > 2)
			close(fd);
	} else {
		sc->step = "set up stdio";
		for (int i = 0; i < 3; i++)
			if (dup2(sc->fds[i], i) < 0)
				goto fail;
	}
	sc->step = "chdir";
	if (sc->cwd && sc->cwd[0] && chdir(sc->cwd) < 0)
		goto fail;
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sc->step = "exec";
	execve(sc->path, sc->argv, sc->env);
fail:
	sc->err = errno;
	_exit(127);
}

int spawn_process(char **argv, char **env, const char *cwd, const struct spawn_stdio *stdio,
		  pid_t *ret_pid, int *ret_pty_master, char *errbuf, size_t errlen)
{
	static char *stack;
	const size_t stack_size = 64 * 1024;
	_cleanup_close_ int master = -1;
	struct spawn_child sc = { .argv = argv, .env = env, .cwd = cwd };
	char path[4096], slave[128];
	pid_t pid;
	int rc;

	if (!argv || !argv[0]) {
		snprintf(errbuf, errlen, "no command given");
		return -EINVAL;
	}
	rc = resolve(argv[0], env, cwd, path, sizeof(path));
	if (rc < 0) {
		snprintf(errbuf, errlen, "exec %s: executable file not found in $PATH", argv[0]);
		return rc;
	}
	if (stdio->use_pty) {
		rc = open_pty(stdio->rows, stdio->cols, &master, slave, sizeof(slave));
		if (rc < 0) {
			snprintf(errbuf, errlen, "cannot allocate a pty: %s", strerror(-rc));
			return rc;
		}
		sc.pty_slave = slave;
	} else {
		for (int i = 0; i < 3; i++)
			sc.fds[i] = stdio->child_fd[i] >= 0 ? stdio->child_fd[i] : devnull();
	}
	if (!stack) {
		stack = malloc(stack_size);
		if (!stack) {
			snprintf(errbuf, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	sc.path = path;
	/* CLONE_VFORK: we resume once the child has exec'd or died, so its memory is ours again. */
	pid = clone(spawn_child_main, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &sc);
	if (pid < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "exec %s: %s", argv[0], strerror(-rc));
		return rc;
	}
	if (sc.err) {
		waitpid(pid, NULL, 0);
		snprintf(errbuf, errlen, "exec %s: %s: %s", argv[0], sc.step, strerror(sc.err));
		return -sc.err;
	}
	*ret_pid = pid;
	if (ret_pty_master)
		*ret_pty_master = TAKE_FD(master);
	return 0;
}
