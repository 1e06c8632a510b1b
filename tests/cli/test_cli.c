/*
 * The lcow command as a user drives it: the built binary, fork/exec'd with --root in a test
 * directory and --uvm-mode process (the agent as a host process, loop devices as its disks),
 * on bundles built here from busybox-static (no network). Each test checks what lcow prints
 * and its exit status, then that nothing is left behind: no UVM daemon or agent, no state, no
 * mounts, no loop devices on the suite's images, no cgroups of the test's containers.
 *
 * Every command runs with a deadline (STEP_MS); Check's timeout bounds each test.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LCOW_BIN
#error "LCOW_BIN: the lcow binary under test"
#endif

#define STEP_MS 60000
#define OUT_MAX 16384

/* busybox applets the bundles use. */
static const char *const applets[] = { "sh", "echo", "cat",   "sleep", "ps",	"hostname",
				       "ls", "true", "false", "tty",   "stty",	"kill",
				       "id", "test", "wc",    "env",   "mkdir", "touch" };

#define BASE_TEXT "lcow cli base layer"
#define UPPER_TEXT "hello from the upper layer"

/* Built once in main (Check's parent), shared read-only by every test. */
static struct {
	char dir[64]; /* /tmp/lcow-cli-XXXXXX */
	char rootfs[PATH_MAX]; /* a busybox tree: root.path bundles point here */
	char base[PATH_MAX]; /* ext4 of rootfs, raw */
	char upper[PATH_MAX]; /* ext4 with /upper.txt, as a fixed VHD (footer) */
	char dynamic[PATH_MAX]; /* a file with a dynamic VHD's footer */
	char image[PATH_MAX]; /* a docker-save tarball of rootfs */
	bool ok;
	char error[1024];
} fx;

/* ---- processes ---- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : 0;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/*
 * Starts argv with stdin from /dev/null and stdout/stderr into files (never pipes: a container
 * inherits lcow's stdio, and a pipe would stay open while it runs).
 */
static pid_t spawn_argv(const char *const *argv, const char *out_path, const char *err_path)
{
	pid_t pid = fork();

	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(err, 2) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* The exit status of pid (128+signal), or -ETIMEDOUT after killing it. */
static int wait_pid(pid_t pid, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int status;

	if (pid < 0)
		return -ECHILD;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -ETIMEDOUT;
		}
		usleep(5000);
	}
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int run_argv(const char *const *argv, const char *out_path, const char *err_path,
		    int timeout_ms)
{
	return wait_pid(spawn_argv(argv, out_path, err_path), timeout_ms);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[8192], out[PATH_MAX], err[PATH_MAX];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(out, sizeof(out), "%s/sh.out", fx.dir);
	snprintf(err, sizeof(err), "%s/sh.err", fx.dir);
	rc = run_argv((const char *const[]){ "/bin/sh", "-c", cmd, NULL }, out, err, STEP_MS);
	if (rc != 0) {
		char text[2048];
		slurp(err, text, sizeof(text));
		snprintf(fx.error, sizeof(fx.error), "%s: %d: %s", cmd, rc, text);
	}
	return rc;
}

/* ---- a test's world ---- */

struct t {
	char dir[PATH_MAX]; /* <suite>/t-XXXXXX */
	char root[PATH_MAX]; /* lcow --root */
	char prefix[32]; /* of every container ID of the test: lt<pid> */
	int status; /* the last command's */
	char out[OUT_MAX], err[OUT_MAX];
};

static void t_start(struct t *t)
{
	ck_assert_msg(fx.ok, "building the fixture: %s", fx.error);
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s/t-XXXXXX", fx.dir);
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->root, sizeof(t->root), "%s/root", t->dir);
	snprintf(t->prefix, sizeof(t->prefix), "lt%d", (int)getpid());
}

/* An ID unique to this test (container IDs name host cgroups in process mode). */
static const char *cid(struct t *t, const char *name)
{
	static char ids[8][64];
	static int next;
	char *s = ids[next++ % 8];

	snprintf(s, 64, "%s-%s", t->prefix, name);
	return s;
}

/*
 * lcow --root <root> ARGS... (NULL-terminated); stdout to out_path when given (to read a
 * container's output later), else to t->out.
 */
static int lcow_to(struct t *t, const char *out_path, const char *first, ...)
{
	const char *argv[40] = { LCOW_BIN, "--root", t->root };
	char out[PATH_MAX], err[PATH_MAX];
	size_t n = 3;
	va_list ap;

	argv[n++] = first;
	va_start(ap, first);
	while (n < 39 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/lcow.out", t->dir);
	snprintf(err, sizeof(err), "%s/lcow.err", t->dir);
	t->status = run_argv(argv, out_path ? out_path : out, err, STEP_MS);
	ck_assert_msg(t->status != -ETIMEDOUT, "lcow %s did not finish within %d ms", first,
		      STEP_MS);
	slurp(out_path ? out_path : out, t->out, sizeof(t->out));
	slurp(err, t->err, sizeof(t->err));
	return t->status;
}

#define lcow(t, ...) lcow_to(t, NULL, __VA_ARGS__, NULL)
#define lcow_out(t, path, ...) lcow_to(t, path, __VA_ARGS__, NULL)
/* A command that must succeed. */
#define OK(t, ...)                                                                            \
	do {                                                                                  \
		int rc_ = lcow(t, __VA_ARGS__);                                               \
		ck_assert_msg(rc_ == 0, "lcow " #__VA_ARGS__ ": exit %d: %s", rc_, (t)->err); \
	} while (0)

static char *tpath(struct t *t, const char *name)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char *p = bufs[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", t->dir, name);
	return p;
}

/* Polls a file until it contains needle (STEP_MS). */
static void expect_file_has(const char *path, const char *needle)
{
	char buf[OUT_MAX];
	long long deadline = now_ms() + STEP_MS;

	for (;;) {
		slurp(path, buf, sizeof(buf));
		if (strstr(buf, needle))
			return;
		ck_assert_msg(now_ms() < deadline, "%s: no \"%s\" in \"%s\"", path, needle, buf);
		usleep(20000);
	}
}

/* The status field of `lcow state`. */
static void state_of(struct t *t, const char *id, char *status, size_t len, long *pid)
{
	char *s, *e;

	OK(t, "state", id);
	s = strstr(t->out, "\"status\": \"");
	ck_assert_msg(s != NULL, "state: %s", t->out);
	s += 11;
	e = strchr(s, '"');
	snprintf(status, len, "%.*s", (int)(e - s), s);
	if (pid) {
		s = strstr(t->out, "\"pid\": ");
		ck_assert_ptr_nonnull(s);
		*pid = strtol(s + 7, NULL, 10);
	}
}

static void expect_status(struct t *t, const char *id, const char *want)
{
	char st[32];
	long long deadline = now_ms() + STEP_MS;

	for (;;) {
		state_of(t, id, st, sizeof(st), NULL);
		if (!strcmp(st, want))
			return;
		ck_assert_msg(now_ms() < deadline, "%s: status %s, want %s", id, st, want);
		usleep(20000);
	}
}

/* ---- bundles ---- */

static const char spec_head[] =
	"{\"ociVersion\":\"1.0.2\","
	"\"process\":{\"terminal\":%s,\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
	"\"env\":[\"PATH=/bin\",\"TERM=xterm\"],\"cwd\":\"/\"},"
	"\"hostname\":\"lcow-test\","
	"\"mounts\":["
	"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	"{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
	"\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
	"\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\"]},"
	"{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]}],"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
	"{\"type\":\"mount\"}]},"
	"\"annotations\":{\"org.lcow.test\":\"yes\"},";

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	ck_assert_msg(f != NULL, "%s: %m", path);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * <t>/<name>/config.json: args (a JSON array), a terminal or not, and root (the JSON after
 * "root" or "windows"; default: root.path at the suite's busybox tree).
 */
static char *bundle(struct t *t, const char *name, const char *args, bool terminal,
		    const char *root)
{
	char *dir = tpath(t, name), p[PATH_MAX], text[8192], rootpart[2048];

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	if (!root) {
		snprintf(rootpart, sizeof(rootpart), "\"root\":{\"path\":\"%s\"}", fx.rootfs);
		root = rootpart;
	}
	snprintf(text, sizeof(text), spec_head, terminal ? "true" : "false", args);
	strncat(text, root, sizeof(text) - strlen(text) - 2);
	strcat(text, "}");
	snprintf(p, sizeof(p), "%s/config.json", dir);
	write_text(p, text);
	return dir;
}

#define SH_ARGS(script) "[\"sh\",\"-c\",\"" script "\"]"
/*
 * A container that runs until SIGTERM, which it answers with exit 143 (it is PID 1, which
 * ignores a signal it has no handler for): "started" says the trap is in place.
 */
#define LONG_ARGS SH_ARGS("trap 'echo got-term; exit 143' TERM; echo started; sleep 1000 & wait")

/* ---- leftovers ---- */

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Processes whose command line names dir (lcow daemons and agents of the test). */
static int procs_of(const char *dir, char *report, size_t len)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char p[64], buf[4096];
		int pid = atoi(de->d_name), fd;
		ssize_t r;

		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(p, sizeof(p), "/proc/%d/cmdline", pid);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		for (ssize_t i = 0; i < r; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[r] = '\0';
		if (strstr(buf, dir)) {
			if (report)
				snprintf(report + strlen(report), len - strlen(report),
					 "pid %d: %s; ", pid, buf);
			n++;
		}
	}
	if (d)
		closedir(d);
	return n;
}

static int mounts_under(const char *dir, char *report, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mp[PATH_MAX];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && under(mp, dir)) {
			snprintf(report + strlen(report), len - strlen(report), "mount %s; ", mp);
			n++;
		}
	if (f)
		fclose(f);
	return n;
}

static int loops_under(const char *dir, char *report, size_t len)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char p[PATH_MAX], backing[PATH_MAX];
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", de->d_name);
		slurp(p, backing, sizeof(backing));
		backing[strcspn(backing, "\n")] = '\0';
		if (backing[0] && under(backing, dir)) {
			snprintf(report + strlen(report), len - strlen(report), "%s on %s; ",
				 de->d_name, backing);
			n++;
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* Cgroup directories named with prefix, three levels deep under each hierarchy. */
static int cgroups_named(const char *dir, const char *prefix, int depth, char *report, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char p[PATH_MAX];
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!strncmp(de->d_name, prefix, strlen(prefix))) {
			snprintf(report + strlen(report), len - strlen(report), "cgroup %s; ", p);
			n++;
		} else if (depth > 0) {
			n += cgroups_named(p, prefix, depth - 1, report, len);
		}
	}
	if (d)
		closedir(d);
	return n;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Everything the test's lcow commands made is gone; then its directory goes. */
static void t_end(struct t *t)
{
	char report[8192] = "", p[PATH_MAX];
	long long deadline = now_ms() + 10000;
	int n;

	OK(t, "list", "--format", "json");
	ck_assert_msg(!strcmp(t->out, "[]\n"), "containers left: %s", t->out);
	snprintf(p, sizeof(p), "%s/u", t->root);
	ck_assert_msg(entries(p) == 0, "UVM directories left in %s", p);
	snprintf(p, sizeof(p), "%s/c", t->root);
	ck_assert_msg(entries(p) == 0, "container directories left in %s", p);
	/* A daemon answers its last delete just before it exits. */
	while ((n = procs_of(t->dir, NULL, 0) + loops_under(fx.dir, report, sizeof(report))) &&
	       now_ms() < deadline) {
		report[0] = '\0';
		usleep(20000);
	}
	report[0] = '\0';
	n = procs_of(t->dir, report, sizeof(report));
	n += mounts_under(t->dir, report, sizeof(report));
	n += loops_under(fx.dir, report, sizeof(report));
	n += cgroups_named("/sys/fs/cgroup", t->prefix, 3, report, sizeof(report));
	ck_assert_msg(n == 0, "left behind: %s", report);
	ck_assert_int_eq(sh("rm -rf --one-file-system '%s'", t->dir), 0);
}

/* Check's parent, after each test: a test that failed half-way leaves its world here. */
static void after_test(void)
{
	DIR *d = opendir(fx.dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char dir[PATH_MAX], report[4096] = "";
		if (strncmp(de->d_name, "t-", 2) != 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", fx.dir, de->d_name);
		/* delete --force every container and pod, through lcow itself. */
		sh("R='%s/root'; for c in $(ls \"$R/c\" 2>/dev/null); do '%s' --root \"$R\" "
		   "delete --force \"$c\"; done; for u in \"$R\"/u/*/uvm.json; do [ -f \"$u\" ] && "
		   "'%s' --root \"$R\" delete --force \"$(sed 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/' "
		   "\"$u\")\"; done; true",
		   dir, LCOW_BIN, LCOW_BIN);
		if (procs_of(dir, report, sizeof(report)) > 0)
			fprintf(stderr, "test_cli: still running after a failed test: %s\n",
				report);
		sh("rm -rf --one-file-system '%s'", dir);
	}
	if (d)
		closedir(d);
}

/* ---- the fixture ---- */

/* A 512-byte VHD footer ("conectix", big-endian fields, disk type 2 fixed or 3 dynamic). */
static int append_vhd_footer(const char *path, uint32_t type)
{
	unsigned char f[512] = { 0 };
	struct stat st;
	uint32_t sum = 0;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	uint64_t size;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	size = (uint64_t)st.st_size;
	memcpy(f, "conectix", 8);
	f[11] = 2; /* features */
	f[13] = 1; /* version 1.0 */
	memset(f + 16, 0xff, 8); /* data offset: none (fixed) */
	for (int i = 0; i < 8; i++) {
		f[40 + i] = (unsigned char)(size >> (56 - 8 * i)); /* original size */
		f[48 + i] = (unsigned char)(size >> (56 - 8 * i)); /* current size */
	}
	f[63] = (unsigned char)type;
	for (int i = 0; i < 512; i++)
		sum += f[i];
	sum = ~sum;
	for (int i = 0; i < 4; i++)
		f[64 + i] = (unsigned char)(sum >> (24 - 8 * i));
	if (write(fd, f, sizeof(f)) != (ssize_t)sizeof(f)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static bool fixture_build(void)
{
	char p[PATH_MAX];

	snprintf(fx.dir, sizeof(fx.dir), "/tmp/lcow-cli-XXXXXX");
	if (!mkdtemp(fx.dir) || chmod(fx.dir, 0755) < 0) {
		snprintf(fx.error, sizeof(fx.error), "mkdtemp: %m");
		return false;
	}
	snprintf(fx.rootfs, sizeof(fx.rootfs), "%s/rootfs", fx.dir);
	snprintf(fx.base, sizeof(fx.base), "%s/base.img", fx.dir);
	snprintf(fx.upper, sizeof(fx.upper), "%s/upper.vhd", fx.dir);
	snprintf(fx.dynamic, sizeof(fx.dynamic), "%s/dynamic.vhd", fx.dir);
	snprintf(fx.image, sizeof(fx.image), "%s/image.tar", fx.dir);
	if (sh("set -e; r='%s'; mkdir -p \"$r\"/bin \"$r\"/etc \"$r\"/proc \"$r\"/sys \"$r\"/dev "
	       "\"$r\"/root \"$r\"/tmp; cp /bin/busybox \"$r\"/bin/; echo '" BASE_TEXT
	       "' >\"$r\"/etc/motd; echo 'root:x:0:0:root:/root:/bin/sh' >\"$r\"/etc/passwd",
	       fx.rootfs) != 0)
		return false;
	for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
		snprintf(p, sizeof(p), "%s/bin/%s", fx.rootfs, applets[i]);
		if (symlink("busybox", p) < 0) {
			snprintf(fx.error, sizeof(fx.error), "symlink %s: %m", p);
			return false;
		}
	}
	if (sh("mkfs.ext4 -q -F -d '%s' '%s' 32M", fx.rootfs, fx.base) != 0 ||
	    sh("set -e; u='%s/upper-tree'; mkdir -p \"$u\"; echo '" UPPER_TEXT
	       "' >\"$u\"/upper.txt; mkfs.ext4 -q -F -d \"$u\" '%s' 4M",
	       fx.dir, fx.upper) != 0 ||
	    sh("truncate -s 1M '%s'", fx.dynamic) != 0)
		return false;
	if (append_vhd_footer(fx.upper, 2) < 0 || append_vhd_footer(fx.dynamic, 3) < 0) {
		snprintf(fx.error, sizeof(fx.error), "VHD footers: %m");
		return false;
	}
	/* docker save: manifest.json, the image config, one layer tar. */
	return sh("set -e; w='%s/img'; mkdir -p \"$w/l0\"; tar -C '%s' -cf \"$w/l0/layer.tar\" .; "
		  "d=$(sha256sum \"$w/l0/layer.tar\" | cut -d' ' -f1); "
		  "printf '{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":"
		  "[\"sh\",\"-c\",\"echo imported-ok; cat /etc/motd\"],\"Env\":[\"PATH=/bin\"]},"
		  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%%s\"]}}' \"$d\" "
		  ">\"$w/cfg.json\"; printf '[{\"Config\":\"cfg.json\",\"RepoTags\":[\"t:1\"],"
		  "\"Layers\":[\"l0/layer.tar\"]}]' >\"$w/manifest.json\"; tar -C \"$w\" -cf '%s' "
		  "manifest.json cfg.json l0; rm -rf \"$w\"",
		  fx.dir, fx.rootfs, fx.image) == 0;
}

/* ---- tests ---- */

/* `lcow --help` names every command, and every command's --help is a usage text. */
START_TEST(test_help)
{
	static const char *const cmds[] = { "run",    "create", "start",     "exec", "pause",
					    "resume", "ps",	"state",     "kill", "delete",
					    "list",   "image",	"uvm-daemon" };
	struct t t;

	t_start(&t);
	OK(&t, "--help");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "\n  %s ", cmds[i]);
		ck_assert_msg(strstr(t.out, want), "lcow --help does not list %s", cmds[i]);
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];
		lcow(&t, cmds[i], "--help");
		ck_assert_msg(t.status == 0, "lcow %s --help: %d %s", cmds[i], t.status, t.err);
		snprintf(want, sizeof(want), " %s ", cmds[i]);
		ck_assert_msg(!strncmp(t.out, "Usage: lcow", 11) && strstr(t.out, want),
			      "lcow %s --help: %s", cmds[i], t.out);
	}
	ck_assert_int_eq(lcow(&t, "no-such-command"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "unknown command"));
	t_end(&t);
}
END_TEST

/* run waits for the container, prints its output, exits with its status, removes it all. */
START_TEST(test_run_exit_status)
{
	struct t t;
	char *b;

	t_start(&t);
	b = bundle(&t, "b", SH_ARGS("echo hello-from-run; hostname; exit 7"), false, NULL);
	lcow(&t, "run", "--uvm-mode", "process", "-b", b, cid(&t, "run"));
	ck_assert_msg(t.status == 7, "exit %d: %s", t.status, t.err);
	ck_assert_str_eq(t.out, "hello-from-run\nlcow-test\n");
	/* lcow forwards its signals to the container: SIGTERM, trapped, exit 143. */
	b = bundle(&t, "b2", LONG_ARGS, false, NULL);
	{
		const char *argv[] = { LCOW_BIN,  "--root", t.root, "run",	    "--uvm-mode",
				       "process", "-b",	    b,	    cid(&t, "fwd"), NULL };
		pid_t pid = spawn_argv(argv, tpath(&t, "fwd.out"), tpath(&t, "fwd.err"));
		expect_file_has(tpath(&t, "fwd.out"), "started");
		ck_assert_int_eq(kill(pid, SIGTERM), 0);
		ck_assert_int_eq(wait_pid(pid, STEP_MS), 143);
		expect_file_has(tpath(&t, "fwd.out"), "got-term");
	}
	/* Killed by a signal: 128 + N (SIGKILL from outside; PID 1 cannot kill itself). */
	{
		const char *argv[] = { LCOW_BIN,  "--root", t.root, "run",	     "--uvm-mode",
				       "process", "-b",	    b,	    cid(&t, "run9"), NULL };
		pid_t pid = spawn_argv(argv, tpath(&t, "k.out"), tpath(&t, "k.err"));
		expect_file_has(tpath(&t, "k.out"), "started");
		OK(&t, "kill", cid(&t, "run9"), "SIGKILL");
		ck_assert_int_eq(wait_pid(pid, STEP_MS), 137);
	}
	t_end(&t);
}
END_TEST

/*
 * create, start, exec, ps, state, pause/resume, kill, a kill of the stopped container, delete,
 * list --format json and state of the deleted container.
 */
START_TEST(test_lifecycle)
{
	const char *id = NULL;
	char *b, *out, st[32], pidtext[32];
	long pid = 0;
	struct t t;

	t_start(&t);
	id = cid(&t, "life");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	out = tpath(&t, "container.out");
	ck_assert_int_eq(lcow_out(&t, out, "create", "--uvm-mode", "process", "-b", b, "--pid-file",
				  tpath(&t, "pid"), id),
			 0);
	state_of(&t, id, st, sizeof(st), &pid);
	ck_assert_str_eq(st, "created");
	ck_assert_int_gt(pid, 0);
	slurp(tpath(&t, "pid"), pidtext, sizeof(pidtext));
	ck_assert_int_eq(atol(pidtext), pid);
	ck_assert_ptr_nonnull(strstr(t.out, "\"bundle\": \""));
	ck_assert_ptr_nonnull(strstr(t.out, "\"org.lcow.test\": \"yes\""));
	OK(&t, "list", "--format", "json");
	ck_assert_ptr_nonnull(strstr(t.out, "\"status\":\"created\""));
	ck_assert_ptr_nonnull(strstr(t.out, id));
	/* Its stdio is create's: the output lands in create's stdout file. */
	OK(&t, "start", id);
	expect_file_has(out, "started\n");
	expect_status(&t, id, "running");
	ck_assert_int_eq(lcow(&t, "start", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "already running"));

	ck_assert_int_eq(lcow(&t, "exec", id, "sh", "-c", "echo in-exec; cat /etc/motd; exit 5"),
			 5);
	ck_assert_str_eq(t.out, "in-exec\n" BASE_TEXT "\n");
	ck_assert_int_eq(lcow(&t, "exec", "--env", "X=y", "--cwd", "/tmp", id, "--", "sh", "-c",
			      "echo $X $(pwd)"),
			 0);
	ck_assert_str_eq(t.out, "y /tmp\n");
	OK(&t, "ps", "--format", "json", id);
	ck_assert_msg(t.out[0] == '[' && strstr(t.out, pidtext), "ps: %s (pid %s)", t.out, pidtext);
	OK(&t, "ps", id);
	ck_assert_msg(!strncmp(t.out, "PID\n", 4), "ps: %s", t.out);

	OK(&t, "pause", id);
	expect_status(&t, id, "paused");
	ck_assert_int_eq(lcow(&t, "exec", id, "true"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "paused"));
	ck_assert_int_eq(lcow(&t, "pause", id), 1);
	OK(&t, "resume", id);
	expect_status(&t, id, "running");
	ck_assert_int_eq(lcow(&t, "resume", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container not paused"));

	ck_assert_int_eq(lcow(&t, "kill", id, "NOSUCHSIG"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "invalid signal"));
	ck_assert_int_eq(lcow(&t, "delete", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "that is not stopped: running"));
	OK(&t, "kill", id);
	expect_file_has(out, "got-term\n");
	expect_status(&t, id, "stopped");
	state_of(&t, id, st, sizeof(st), &pid);
	ck_assert_int_eq(pid, 0);
	/* runc's answers about a stopped container. */
	ck_assert_int_eq(lcow(&t, "kill", id, "KILL"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container not running"));
	ck_assert_int_eq(lcow(&t, "exec", id, "true"), 1);
	OK(&t, "delete", id);
	ck_assert_int_eq(lcow(&t, "state", id), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container does not exist"));
	t_end(&t);
}
END_TEST

/* state of a container that never was: runc's message, exit 1; delete --force forgives it. */
START_TEST(test_state_missing)
{
	struct t t;

	t_start(&t);
	ck_assert_int_eq(lcow(&t, "state", "nosuch"), 1);
	ck_assert_msg(strstr(t.err, "level=error msg=\"container does not exist\""), "stderr: %s",
		      t.err);
	ck_assert_int_eq(lcow(&t, "--log-format", "json", "state", "nosuch"), 1);
	ck_assert_int_eq(lcow(&t, "kill", "nosuch"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "container does not exist"));
	ck_assert_int_eq(lcow(&t, "delete", "nosuch"), 1);
	OK(&t, "delete", "--force", "nosuch");
	/* With --log the error also comes as a plain line on stderr. */
	ck_assert_int_eq(lcow(&t, "--log", tpath(&t, "log"), "state", "nosuch"), 1);
	ck_assert_str_eq(t.err, "container does not exist\n");
	expect_file_has(tpath(&t, "log"), "msg=\"container does not exist\"");
	t_end(&t);
}
END_TEST

/* Global options go before the command; --log-format json makes logrus's JSON lines. */
START_TEST(test_log_json)
{
	struct t t;

	t_start(&t);
	ck_assert_int_eq(lcow(&t, "--log-format", "json", "state", "nosuch"), 1);
	ck_assert_msg(strstr(t.err, "{\"level\":\"error\",\"msg\":\"container does not exist\","
				    "\"time\":"),
		      "stderr: %s", t.err);
	t_end(&t);
}
END_TEST

/* Broken bundles: a clear message, exit 1, and nothing left (no UVM was started). */
START_TEST(test_bad_bundle)
{
	static const struct {
		const char *args, *root, *want;
	} cases[] = {
		{ "[]", NULL, "process.args is empty" },
		{ "\"sh -c true\"", NULL,
		  "process.args must be an array of strings, not a string" },
		{ "[\"sh\"]", "\"root\":{\"path\":\"/nonexistent/rootfs\"}", "root.path" },
		{ "[\"sh\"]", "\"root\":{}", "neither windows.layerFolders nor root.path" },
		{ "[\"sh\"]", "\"windows\":{\"layerFolders\":[\"/nonexistent\",\"/tmp/x\"]}",
		  "layer.vhd" },
		{ "[\"sh\"]", "\"windows\":{\"layerFolders\":[\"/tmp\"]}", "at least one layer" },
	};
	char name[16], *dir;
	struct t t;

	t_start(&t);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "b%zu", i);
		dir = bundle(&t, name, cases[i].args, false, cases[i].root);
		ck_assert_int_eq(
			lcow(&t, "run", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
		ck_assert_msg(strstr(t.err, cases[i].want) && strstr(t.err, dir),
			      "case %zu: want \"%s\" and the bundle in: %s", i, cases[i].want,
			      t.err);
	}
	/* No config.json; one that is not JSON; a dynamic VHD as a layer. */
	dir = tpath(&t, "empty");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(lcow(&t, "create", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
	ck_assert_msg(strstr(t.err, "config.json: No such file"), "%s", t.err);
	write_text(tpath(&t, "empty/config.json"), "{\"ociVersion\": ");
	ck_assert_int_eq(lcow(&t, "create", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
	ck_assert_msg(strstr(t.err, "config.json: line 1"), "%s", t.err);
	ck_assert_int_eq(mkdir(tpath(&t, "dyn"), 0755), 0);
	ck_assert_int_eq(sh("cp '%s' '%s/dyn/layer.vhd'", fx.dynamic, t.dir), 0);
	{
		char root[1024];
		snprintf(root, sizeof(root), "\"windows\":{\"layerFolders\":[\"%s/dyn\",\"%s/s\"]}",
			 t.dir, t.dir);
		dir = bundle(&t, "b-dyn", "[\"sh\"]", false, root);
	}
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
	ck_assert_msg(strstr(t.err, "dynamic or differencing VHD"), "%s", t.err);
	/* a layer that holds no ext4 file system: said so, not mount's EINVAL */
	ck_assert_int_eq(
		sh("mkdir -p '%s/zero' && truncate -s 4M '%s/zero/layer.vhd'", t.dir, t.dir), 0);
	{
		char root[1024];
		snprintf(root, sizeof(root),
			 "\"windows\":{\"layerFolders\":[\"%s/zero\",\"%s/s0\"]}", t.dir, t.dir);
		dir = bundle(&t, "b-zero", "[\"sh\"]", false, root);
	}
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", dir, cid(&t, "bad")), 1);
	ck_assert_msg(strstr(t.err, "holds no ext4 file system"), "%s", t.err);
	/* A bad ID, and a usage error. */
	ck_assert_int_eq(lcow(&t, "create", "-b", dir, "../x"), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "invalid container id"));
	ck_assert_int_eq(lcow(&t, "create", "--uvm-mode", "vmware", "x"), 1);
	t_end(&t);
}
END_TEST

/*
 * Layer folders as runhcs reads them: an upper layer that is a fixed VHD, a raw base layer, and
 * a scratch folder whose image lcow creates.
 */
START_TEST(test_layer_folders)
{
	char root[2048], *b;
	struct t t;

	t_start(&t);
	ck_assert_int_eq(sh("mkdir -p '%s/l1' '%s/l0' && cp '%s' '%s/l1/layer.vhd' && cp '%s' "
			    "'%s/l0/layer.vhd'",
			    t.dir, t.dir, fx.upper, t.dir, fx.base, t.dir),
			 0);
	snprintf(root, sizeof(root),
		 "\"windows\":{\"layerFolders\":[\"%s/l1\",\"%s/l0\",\"%s/scratch\"]}", t.dir,
		 t.dir, t.dir);
	b = bundle(&t, "b", SH_ARGS("cat /upper.txt /etc/motd; echo written >/new; cat /new"),
		   false, root);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", b, cid(&t, "layers")), 0);
	ck_assert_str_eq(t.out, UPPER_TEXT "\n" BASE_TEXT "\nwritten\n");
	ck_assert_int_eq(access(tpath(&t, "scratch/scratch.img"), F_OK), 0);
	/* what a container wrote persists with the scratch folder, for the next container */
	b = bundle(&t, "b1", SH_ARGS("cat /new"), false, root);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", b, cid(&t, "again")), 0);
	ck_assert_str_eq(t.out, "written\n");
	/* The same layers, twice in one pod: the layer disks are shared. */
	b = bundle(&t, "b2", LONG_ARGS, false, root);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "p1.out"), "run", "-d", "--uvm-mode", "process",
				  "--uvm", cid(&t, "lpod"), "-b", b, cid(&t, "lp1")),
			 0);
	ck_assert_int_eq(lcow(&t, "exec", cid(&t, "lp1"), "cat", "/upper.txt"), 0);
	ck_assert_str_eq(t.out, UPPER_TEXT "\n");
	/* a second container on the same scratch folder is refused by name */
	ck_assert_int_eq(lcow(&t, "create", "--uvm-mode", "process", "--uvm", cid(&t, "lpod"), "-b",
			      b, cid(&t, "lp2")),
			 1);
	ck_assert_msg(strstr(t.err, "is in use by container") && strstr(t.err, cid(&t, "lp1")),
		      "%s", t.err);
	OK(&t, "delete", "--force", cid(&t, "lp1"));
	OK(&t, "delete", cid(&t, "lpod"));
	t_end(&t);
}
END_TEST

/*
 * Two containers in one UVM (--uvm): one daemon, both listed with the pod's UVM; the pod stays
 * after its containers and goes with `delete POD`.
 */
START_TEST(test_pod)
{
	char *b, pod[64], p[PATH_MAX];
	struct t t;

	t_start(&t);
	snprintf(pod, sizeof(pod), "%s", cid(&t, "pod"));
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "a.out"), "run", "-d", "--uvm-mode", "process",
				  "--uvm", pod, "-b", b, cid(&t, "a")),
			 0);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "b.out"), "run", "-d", "--uvm-mode", "process",
				  "--uvm", pod, "-b", b, cid(&t, "b")),
			 0);
	expect_file_has(tpath(&t, "a.out"), "started");
	expect_file_has(tpath(&t, "b.out"), "started");
	snprintf(p, sizeof(p), "%s/u", t.root);
	ck_assert_int_eq(entries(p), 1);
	OK(&t, "list");
	ck_assert_msg(strstr(t.out, cid(&t, "a")) && strstr(t.out, cid(&t, "b")) &&
			      strstr(t.out, "running") && strstr(t.out, pod),
		      "list: %s", t.out);
	/* The pod's name is not a container; deleting it while it has some is refused. */
	ck_assert_int_eq(lcow(&t, "delete", pod), 1);
	ck_assert_ptr_nonnull(strstr(t.err, "still has containers"));
	OK(&t, "kill", cid(&t, "a"), "TERM");
	expect_status(&t, cid(&t, "a"), "stopped");
	expect_status(&t, cid(&t, "b"), "running");
	OK(&t, "delete", cid(&t, "a"));
	OK(&t, "delete", "--force", cid(&t, "b"));
	ck_assert_int_eq(entries(p), 1);
	OK(&t, "list", "--format", "json");
	ck_assert_str_eq(t.out, "[]\n");
	OK(&t, "delete", pod);
	t_end(&t);
}
END_TEST

/*
 * A CRI pod: the workload container (annotations container-type "container" and its sandbox's
 * ID) joins the sandbox's network and UTS namespaces inside the UVM.
 */
/* A bundle of its own with the given config.json text. */
static char *bundle_text(struct t *t, const char *name, const char *text)
{
	char *dir = tpath(t, name), p[PATH_MAX];

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/config.json", dir);
	write_text(p, text);
	return dir;
}

START_TEST(test_cri_pod)
{
#define CRI_SPEC(args, hostname, annotations)                                                  \
	"{\"ociVersion\":\"1.0.2\",\"process\":{\"user\":{\"uid\":0,\"gid\":0},\"args\":" args \
	",\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},\"root\":{\"path\":\"%s\"}," hostname         \
	"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"      \
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"}," \
	"{\"type\":\"mount\"},{\"type\":\"network\"}]},\"annotations\":{" annotations "}}"
	char pod[64], sb_spec[2048], wl_spec[2048], sb_ns[256], wl_out[512];
	const char *sb, *wl;
	char *b1, *b2;
	struct t t;

	t_start(&t);
	snprintf(pod, sizeof(pod), "%s", cid(&t, "cripod"));
	sb = cid(&t, "sandbox");
	wl = cid(&t, "workload");
	snprintf(sb_spec, sizeof(sb_spec),
		 CRI_SPEC(LONG_ARGS, "\"hostname\":\"sandbox-host\",",
			  "\"io.kubernetes.cri.container-type\":\"sandbox\""),
		 fx.rootfs);
	snprintf(wl_spec, sizeof(wl_spec),
		 CRI_SPEC(SH_ARGS("busybox hostname; busybox readlink /proc/self/ns/net"), "",
			  "\"io.kubernetes.cri.container-type\":\"container\","
			  "\"io.kubernetes.cri.sandbox-id\":\"%s\""),
		 fx.rootfs, sb);
	b1 = bundle_text(&t, "sb", sb_spec);
	b2 = bundle_text(&t, "wl", wl_spec);
#undef CRI_SPEC
	if (lcow_out(&t, tpath(&t, "sb.out"), "run", "-d", "--uvm-mode", "process", "--uvm", pod,
		     "-b", b1, sb) != 0)
		ck_abort_msg("sandbox: %s", t.err);
	expect_file_has(tpath(&t, "sb.out"), "started");
	OK(&t, "exec", sb, "busybox", "readlink", "/proc/self/ns/net");
	snprintf(sb_ns, sizeof(sb_ns), "%s", t.out);
	ck_assert_msg(strstr(sb_ns, "net:["), "%s", sb_ns);
	if (lcow_out(&t, tpath(&t, "wl.out"), "run", "--uvm-mode", "process", "--uvm", pod, "-b",
		     b2, wl) != 0)
		ck_abort_msg("workload: %s", t.err);
	slurp(tpath(&t, "wl.out"), wl_out, sizeof(wl_out));
	ck_assert_msg(strstr(wl_out, "sandbox-host\n"), "workload saw: %s", wl_out);
	ck_assert_msg(strstr(wl_out, sb_ns), "workload %s, sandbox %s", wl_out, sb_ns);
	OK(&t, "delete", "--force", sb);
	OK(&t, "delete", pod);
	t_end(&t);
}
END_TEST

/* run -d and --pid-file; exec --process FILE and exec -d; kill --all and signal numbers. */
START_TEST(test_detach_and_exec)
{
	char *b, *proc = NULL, pidtext[32];
	const char *id;
	long pid;
	char st[32];
	struct t t;

	t_start(&t);
	id = cid(&t, "det");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process",
				  "--pid-file", tpath(&t, "pid"), "-b", b, id),
			 0);
	state_of(&t, id, st, sizeof(st), &pid);
	ck_assert_str_eq(st, "running");
	slurp(tpath(&t, "pid"), pidtext, sizeof(pidtext));
	ck_assert_int_eq(atol(pidtext), pid);
	proc = tpath(&t, "process.json");
	write_text(proc, "{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"cwd\":\"/\","
			 "\"env\":[\"PATH=/bin\",\"WHO=from-file\"],"
			 "\"args\":[\"sh\",\"-c\",\"echo $WHO; exit 9\"]}");
	ck_assert_int_eq(lcow(&t, "exec", "--process", proc, id), 9);
	ck_assert_str_eq(t.out, "from-file\n");
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "x.out"), "exec", "-d", "--pid-file",
				  tpath(&t, "xpid"), id, "sh", "-c", "echo detached-exec"),
			 0);
	expect_file_has(tpath(&t, "x.out"), "detached-exec");
	slurp(tpath(&t, "xpid"), pidtext, sizeof(pidtext));
	ck_assert_int_gt(atol(pidtext), 0);
	/* runc's failure, said once: "exec in <id>: ..." with no second prefix */
	ck_assert_int_eq(lcow(&t, "exec", id, "/nonexistent/binary"), 1);
	{
		char want[96];
		const char *first;
		snprintf(want, sizeof(want), "exec in %s:", id);
		first = strstr(t.err, want);
		ck_assert_msg(first && !strstr(first + 1, want), "%s", t.err);
		ck_assert_msg(strstr(t.err, "/nonexistent/binary"), "%s", t.err);
	}
	OK(&t, "kill", "--all", id, "9");
	expect_status(&t, id, "stopped");
	OK(&t, "delete", id);
	t_end(&t);
}
END_TEST

/* A terminal container with --console-socket: the pty master arrives there (runc's protocol). */
START_TEST(test_console_socket)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	char name[128] = "", out[4096] = "", *b;
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };
	long long deadline;
	size_t len = 0;
	int ls, conn, master;
	struct t t;

	t_start(&t);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", tpath(&t, "console.sock"));
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);
	b = bundle(&t, "b", SH_ARGS("tty; read line; echo console-$line; exit 3"), true, NULL);
	ck_assert_int_eq(lcow(&t, "run", "-d", "--uvm-mode", "process", "-b", b, cid(&t, "tty")),
			 1);
	ck_assert_ptr_nonnull(strstr(t.err, "console socket"));
	OK(&t, "run", "-d", "--uvm-mode", "process", "--console-socket", sa.sun_path, "-b", b,
	   cid(&t, "tty"));
	conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(conn, 0);
	ck_assert_int_gt(recvmsg(conn, &mh, MSG_CMSG_CLOEXEC), 0);
	ck_assert_ptr_nonnull(CMSG_FIRSTHDR(&mh));
	memcpy(&master, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	ck_assert_msg(!strncmp(name, "/dev/pts/", 9), "console name %s", name);
	ck_assert_int_eq(write(master, "ok\r", 3), 3);
	deadline = now_ms() + STEP_MS;
	while (!strstr(out, "console-ok")) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t n;
		ck_assert_msg(now_ms() < deadline && poll(&p, 1, 1000) >= 0, "console: %s", out);
		if (!p.revents)
			continue;
		n = read(master, out + len, sizeof(out) - 1 - len);
		ck_assert_msg(n > 0, "console closed: %s", out);
		len += (size_t)n;
		out[len] = '\0';
	}
	ck_assert_msg(strstr(out, "/dev/pts/"), "tty: %s", out);
	expect_status(&t, cid(&t, "tty"), "stopped");
	close(master);
	close(conn);
	close(ls);
	OK(&t, "delete", cid(&t, "tty"));
	t_end(&t);
}
END_TEST

/* An image imported with `lcow image import` runs as a layer-folders bundle. */
START_TEST(test_image_import)
{
	char *dir;
	struct t t;

	t_start(&t);
	dir = tpath(&t, "imported");
	OK(&t, "image", "import", "--quiet", fx.image, dir);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", dir, cid(&t, "img")), 0);
	ck_assert_str_eq(t.out, "imported-ok\n" BASE_TEXT "\n");
	t_end(&t);
}
END_TEST

/*
 * A UVM daemon that dies (kill -9): every command says so at once instead of hanging, list
 * warns and shows the container stopped, and delete cleans up after it.
 */
START_TEST(test_crashed_daemon)
{
	char p[PATH_MAX], pidtext[32], *b;
	const char *id;
	long long t0;
	struct t t;

	t_start(&t);
	id = cid(&t, "crash");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(
		lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b", b, id),
		0);
	expect_file_has(tpath(&t, "c.out"), "started");
	snprintf(p, sizeof(p), "%s/u/%s/daemon.pid", t.root, id);
	slurp(p, pidtext, sizeof(pidtext));
	ck_assert_int_gt(atoi(pidtext), 1);
	ck_assert_int_eq(kill(atoi(pidtext), SIGKILL), 0);
	/* Its agent dies with it (PR_SET_PDEATHSIG), and its container with the agent. */
	t0 = now_ms();
	while (kill(atoi(pidtext), 0) == 0 && now_ms() - t0 < STEP_MS)
		usleep(10000);
	t0 = now_ms();
	ck_assert_int_eq(lcow(&t, "state", id), 1);
	ck_assert_msg(strstr(t.err, "is not running"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "exec", id, "true"), 1);
	ck_assert_msg(strstr(t.err, "is not running"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "kill", id), 1);
	ck_assert_int_lt(now_ms() - t0, 5000);
	OK(&t, "list");
	ck_assert_msg(strstr(t.out, "stopped") && strstr(t.err, "not running"), "list: %s / %s",
		      t.out, t.err);
	OK(&t, "delete", id);
	t_end(&t);
}
END_TEST

/*
 * Exit statuses under concurrency: PAR parallel `lcow run`s (process mode) of containers that
 * exit with their own status, ROUNDS rounds; each run must exit with exactly its status.
 */
#define PAR 20
#define ROUNDS 10
START_TEST(test_parallel_exit_status)
{
	char *bundles[PAR], name[32], script[64], text[128];
#ifdef __SANITIZE_ADDRESS__
	int rounds = 3; /* everything runs several times slower */
#else
	int rounds = ROUNDS;
#endif
	struct t t;

	t_start(&t);
	for (int i = 0; i < PAR; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		snprintf(script, sizeof(script), "[\"sh\",\"-c\",\"exit %d\"]", i + 1);
		bundles[i] = strdup(bundle(&t, name, script, false, NULL));
	}
	for (int r = 0; r < rounds; r++) {
		pid_t pids[PAR];
		char ids[PAR][64];

		for (int i = 0; i < PAR; i++) {
			snprintf(name, sizeof(name), "p%d-%d", r, i);
			snprintf(ids[i], sizeof(ids[i]), "%s", cid(&t, name));
			const char *argv[] = { LCOW_BIN,     "--root",	t.root, "run",
					       "--uvm-mode", "process", "-b",	bundles[i],
					       ids[i],	     NULL };
			snprintf(text, sizeof(text), "%s.out", ids[i]);
			pids[i] = spawn_argv(argv, tpath(&t, text), tpath(&t, "par.err"));
		}
		for (int i = 0; i < PAR; i++) {
			int st = wait_pid(pids[i], STEP_MS * 3);
			ck_assert_msg(st == i + 1,
				      "round %d: lcow run %s exited %d, its container %d", r,
				      ids[i], st, i + 1);
		}
	}
	for (int i = 0; i < PAR; i++)
		free(bundles[i]);
	t_end(&t);
}
END_TEST

/*
 * The control socket answers only root and the daemon's user: with its modes opened up (as a
 * mis-set mode or a bind mount would), another uid connects and is refused with a reason.
 */
START_TEST(test_ctl_refuses_other_users)
{
	char sock[PATH_MAX], dir[PATH_MAX], line[512] = "", *b;
	const char *id;
	int status = -1;
	pid_t pid;
	struct t t;

	t_start(&t);
	id = cid(&t, "peer");
	b = bundle(&t, "b", LONG_ARGS, false, NULL);
	ck_assert_int_eq(
		lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b", b, id),
		0);
	snprintf(sock, sizeof(sock), "%s/u/%s/ctl.sock", t.root, id);
	/* every directory down to the socket, and the socket, open to everyone */
	snprintf(dir, sizeof(dir), "%s", sock);
	for (char *slash = strrchr(dir, '/'); slash && slash != dir; slash = strrchr(dir, '/')) {
		*slash = '\0';
		ck_assert_int_eq(chmod(dir, 0755), 0);
		if (strcmp(dir, "/tmp") == 0)
			break;
	}
	ck_assert_int_eq(chmod(sock, 0777), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd;
		ssize_t n;

		alarm(10);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(11);
		/* the refusal comes at once, before any request is read */
		n = read(fd, line, sizeof(line) - 1);
		line[n > 0 ? n : 0] = '\0';
		_exit(strstr(line, "\"ok\":false") && strstr(line, "permission denied: uid 65534") ?
			      0 :
			      12);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "uid 65534 was not refused with a reason (child status 0x%x)", status);
	/* root still is served */
	OK(&t, "state", id);
	OK(&t, "delete", "--force", id);
	t_end(&t);
}
END_TEST

#define ADD_TEST(s, fn)                                            \
	do {                                                       \
		TCase *tc = tcase_create(#fn);                     \
		tcase_set_timeout(tc, 120);                        \
		tcase_add_unchecked_fixture(tc, NULL, after_test); \
		tcase_add_test(tc, fn);                            \
		suite_add_tcase(s, tc);                            \
	} while (0)

int main(void)
{
	Suite *s = suite_create("cli");
	SRunner *sr;
	int failed;

	fx.ok = fixture_build();
	ADD_TEST(s, test_help);
	ADD_TEST(s, test_run_exit_status);
	ADD_TEST(s, test_lifecycle);
	ADD_TEST(s, test_state_missing);
	ADD_TEST(s, test_log_json);
	ADD_TEST(s, test_bad_bundle);
	ADD_TEST(s, test_layer_folders);
	ADD_TEST(s, test_pod);
	ADD_TEST(s, test_cri_pod);
	ADD_TEST(s, test_detach_and_exec);
	ADD_TEST(s, test_console_socket);
	ADD_TEST(s, test_image_import);
	ADD_TEST(s, test_crashed_daemon);
	ADD_TEST(s, test_ctl_refuses_other_users);
	ADD_TEST(s, test_parallel_exit_status);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	after_test();
	if (fx.dir[0])
		sh("rm -rf --one-file-system '%s'", fx.dir);
	return failed ? 1 : 0;
}
