/*
 * The CLI suites' harness: processes with deadlines, a test's world (a directory, an lcow --root,
 * container IDs unique to the test), bundles, the shared busybox fixture, and the checks that
 * nothing is left behind after a test. See clitest.h.
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

#include "clitest.h"

/* busybox applets the bundles use. */
static const char *const applets[] = { "sh", "echo", "cat",   "sleep", "ps",	"hostname",
				       "ls", "true", "false", "tty",   "stty",	"kill",
				       "id", "test", "wc",    "env",   "mkdir", "touch" };

struct fixture fx;

/* ---- processes ---- */

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void slurp(const char *path, char *buf, size_t len)
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
pid_t spawn_argv(const char *const *argv, const char *out_path, const char *err_path)
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
int wait_pid(pid_t pid, int timeout_ms)
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

int run_argv(const char *const *argv, const char *out_path, const char *err_path, int timeout_ms)
{
	return wait_pid(spawn_argv(argv, out_path, err_path), timeout_ms);
}

int sh(const char *fmt, ...)
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

void t_start(struct t *t)
{
	ck_assert_msg(fx.ok, "building the fixture: %s", fx.error);
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s/t-XXXXXX", fx.dir);
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->root, sizeof(t->root), "%s/root", t->dir);
	snprintf(t->prefix, sizeof(t->prefix), "lt%d", (int)getpid());
}

/* An ID unique to this test (container IDs name host cgroups in process mode). */
const char *cid(struct t *t, const char *name)
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
int lcow_to(struct t *t, const char *out_path, const char *first, ...)
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

char *tpath(struct t *t, const char *name)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char *p = bufs[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", t->dir, name);
	return p;
}

/* Polls a file until it contains needle (STEP_MS). */
void expect_file_has(const char *path, const char *needle)
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
void state_of(struct t *t, const char *id, char *status, size_t len, long *pid)
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

void expect_status(struct t *t, const char *id, const char *want)
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

void write_text(const char *path, const char *text)
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
char *bundle(struct t *t, const char *name, const char *args, bool terminal, const char *root)
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

/* ---- leftovers ---- */

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Processes whose command line names dir (lcow daemons and agents of the test). */
int procs_of(const char *dir, char *report, size_t len)
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

int mounts_under(const char *dir, char *report, size_t len)
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

int loops_under(const char *dir, char *report, size_t len)
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
int cgroups_named(const char *dir, const char *prefix, int depth, char *report, size_t len)
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

int entries(const char *dir)
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
void t_end(struct t *t)
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
void after_test(void)
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

/* ---- QEMU mode ---- */

void expect_qemu(void)
{
	static const char *const files[] = { "vmlinux", "initrd.img", "lcow-vsock" };
	char dir[PATH_MAX], p[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", LCOW_BIN);
	*strrchr(dir, '/') = '\0';
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		if (access(p, R_OK) != 0) {
			/* a sanitized build finds the image in ../default, as lcow does */
			snprintf(p, sizeof(p), "%s/../default/%s", dir, files[i]);
			ck_assert_msg(
				access(p, R_OK) == 0,
				"QEMU mode needs %s next to lcow or in ../default (make initrd "
				"WITH_RUNC=1)",
				files[i]);
		}
	}
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

/* A bundle of its own with the given config.json text. */
char *bundle_text(struct t *t, const char *name, const char *text)
{
	char *dir = tpath(t, name), p[PATH_MAX];

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/config.json", dir);
	write_text(p, text);
	return dir;
}

int clitest_main(Suite *s)
{
	SRunner *sr;
	int failed;

	fx.ok = fixture_build();
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	after_test();
	if (fx.dir[0])
		sh("rm -rf --one-file-system '%s'", fx.dir);
	return failed ? 1 : 0;
}
