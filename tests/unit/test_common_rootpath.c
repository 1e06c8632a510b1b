/*
 * Unit tests of common/rootpath.c: lexical checks, opens beneath a root that refuse every
 * symlink and escape (openat2 and the O_NOFOLLOW walk, which must agree case by case, and the
 * walk taken by itself when a seccomp filter makes openat2 ENOSYS), mkdir -p and its undo,
 * atomic writes, tree removal that stays on its mount, unmounting, and a RENAME_EXCHANGE race
 * that must never create anything outside the root.
 *
 * Each test gets <base>/tXXXXXX/{root,out}: "out" stands for everything outside the run root.
 * Mounts happen only in forked children with a private mount namespace, so none outlives them.
 * The unchecked teardown removes the base tree in the parent, also after a failure. Needs root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "rootpath.h"
#include "testutil.h"

static char base[PATH_MAX];

static struct {
	char dir[PATH_MAX], root[PATH_MAX], out[PATH_MAX];
	int root_fd;
} t;

/* ---- helpers (plain syscalls on absolute paths: the test's own view) ---- */

/* t.root + "/" + rel, in one of four rotating buffers. */
static const char *R(const char *rel)
{
	static char bufs[4][PATH_MAX];
	static int n;
	char *b = bufs[n++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", t.root, rel);
	return b;
}

static void sh_mkdir(const char *rel)
{
	ck_assert_msg(mkdir(R(rel), 0755) == 0, "mkdir %s: %s", rel, strerror(errno));
}

static void sh_file(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static void sh_link(const char *target, const char *rel)
{
	ck_assert_msg(symlink(target, R(rel)) == 0, "symlink %s: %s", rel, strerror(errno));
}

static const char *slurp(const char *path)
{
	static char buf[256];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return "(missing)";
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static int count(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	return n;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static ino_t ino(const char *path)
{
	struct stat st;

	ck_assert_msg(lstat(path, &st) == 0, "lstat %s: %s", path, strerror(errno));
	return st.st_ino;
}

static ino_t fd_ino(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_ino;
}

static bool is_tmpfs(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* rp_open's result as one number: -errno, or the inode it opened (type bits folded in). */
static long open_result(const char *rel, int flags)
{
	int fd = -1, r = rp_open(t.root_fd, rel, flags, 0600, &fd);
	struct stat st;

	if (r < 0)
		return r;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	return (long)st.st_ino * 16 + (long)((st.st_mode & S_IFMT) >> 12);
}

/* ---- children: checks that cannot run in the test process ---- */

static int report_fd = -1;

static void child_fail(int line, const char *what, long a, long b)
{
	dprintf(report_fd, "line %d: %s (%ld vs %ld, errno %s)", line, what, a, b,
		strerrorname_np(errno));
	_exit(1);
}

#define CHK_EQ(a, b)                                                \
	do {                                                        \
		long a_ = (long)(a), b_ = (long)(b);                \
		if (a_ != b_)                                       \
			child_fail(__LINE__, #a " == " #b, a_, b_); \
	} while (0)

/* Runs fn in a child (killed if the test dies), with its own mount namespace if asked. */
static void in_child(void (*fn)(void), bool mount_ns)
{
	char msg[512] = "";
	int p[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		report_fd = p[1];
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (mount_ns) {
			CHK_EQ(unshare(CLONE_NEWNS), 0);
			CHK_EQ(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
			/* an fd keeps the mounts of the namespace it was opened in */
			close(t.root_fd);
			CHK_EQ(rp_open_root(t.root, &t.root_fd), 0);
		}
		fn();
		_exit(0);
	}
	close(p[1]);
	struct pollfd pfd = { .fd = p[0], .events = POLLIN };
	ck_assert_msg(poll(&pfd, 1, 20000) == 1, "child timed out");
	ck_assert_int_ge(read(p[0], msg, sizeof(msg) - 1), 0);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s", msg);
}

/* ---- fixtures ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void case_setup(void)
{
	snprintf(base, sizeof(base), "/tmp/lcow-rootpath-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void case_teardown(void)
{
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void setup(void)
{
	snprintf(t.dir, sizeof(t.dir), "%s/tXXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(t.dir));
	snprintf(t.root, sizeof(t.root), "%s/root", t.dir);
	snprintf(t.out, sizeof(t.out), "%s/out", t.dir);
	ck_assert_int_eq(mkdir(t.root, 0755), 0);
	ck_assert_int_eq(mkdir(t.out, 0755), 0);
	ck_assert_int_eq(rp_open_root(t.root, &t.root_fd), 0);
	rp_force_fallback = false;
	umask(022);
}

static void teardown(void)
{
	close(t.root_fd);
	nftw(t.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	ck_assert(!exists(t.dir));
}

/* ---- lexical ---- */

START_TEST(test_rel)
{
	static const char *const bad[][2] = {
		{ "/run", "/run" },	{ "/run", "/runx/a" },	  { "/run", "/run/" },
		{ "/run", "/run//a" },	{ "/run", "/run/./a" },	  { "/run", "/run/a/../b" },
		{ "/run", "/run/.." },	{ "/run", "run/a" },	  { "/", "/" },
		{ "/run/", "/run/a" },	{ "run", "run/a" },	  { "/run", "/run/a/" },
		{ "/run", "/run/a/." }, { "/", "//a" },		  { "/run", "" },
		{ "/r/../x", "/x/a" },	{ "/run/gcs", "/run/a" }, { "/run", "/a/run/b" },
	};
	const char *rel = "unset";

	ck_assert_int_eq(rp_rel("/run/gcs", "/run/gcs/c/1", &rel), 0);
	ck_assert_str_eq(rel, "c/1");
	ck_assert_int_eq(rp_rel("/", "/a/b", &rel), 0);
	ck_assert_str_eq(rel, "a/b");
	ck_assert_int_eq(rp_rel("/run", "/run/...", &rel), 0);
	ck_assert_str_eq(rel, "...");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		rel = "unset";
		ck_assert_msg(rp_rel(bad[i][0], bad[i][1], &rel) == -EINVAL, "%s below %s",
			      bad[i][1], bad[i][0]);
		ck_assert_str_eq(rel, "unset");
	}
}
END_TEST

START_TEST(test_open_root_and_fd_path)
{
	char link[PATH_MAX], buf[32];
	int fd = -2;

	snprintf(link, sizeof(link), "%s/rootlink", t.dir);
	ck_assert_int_eq(symlink("root", link), 0);
	ck_assert_int_eq(rp_open_root(link, &fd), 0);
	ck_assert_int_eq(fd_ino(fd), ino(t.root));
	ck_assert((fcntl(fd, F_GETFL) & O_PATH) && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
	close(fd);
	fd = -2;
	sh_file(R("f"), "x");
	ck_assert_int_eq(rp_open_root("tmp", &fd), -EINVAL);
	ck_assert_int_eq(rp_open_root(R("missing"), &fd), -ENOENT);
	ck_assert_int_eq(rp_open_root(R("f"), &fd), -ENOTDIR);
	ck_assert_int_eq(fd, -2);
	rp_fd_path(7, buf);
	ck_assert_str_eq(buf, "/proc/self/fd/7");
	rp_fd_path(INT_MAX, buf);
	ck_assert_str_eq(buf, "/proc/self/fd/2147483647");
}
END_TEST

/* ---- rp_open, rp_open_parent (loop: 0 = openat2, 1 = the walk) ---- */

static void tree(void)
{
	sh_mkdir("a");
	sh_mkdir("a/b");
	sh_file(R("a/b/c"), "data");
	sh_link("b", "a/l");
	sh_link("b/c", "a/lf");
	sh_link("/nonexistent", "a/dang");
	sh_link(t.out, "abs");
	sh_file(R("../out/secret"), "secret");
}

START_TEST(test_open)
{
	char buf[8] = "";
	int fd = -2;

	rp_force_fallback = _i;
	tree();
	ck_assert_int_eq(rp_open(t.root_fd, "a/b/c", O_RDONLY, 0, &fd), 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 4);
	ck_assert_str_eq(buf, "data");
	close(fd);
	ck_assert_int_eq(open_result("", O_PATH) / 16, ino(t.root));
	ck_assert_int_eq(open_result(".", O_RDONLY | O_DIRECTORY) / 16, ino(t.root));
	ck_assert_int_eq(open_result("a/b", O_RDONLY | O_DIRECTORY) / 16, ino(R("a/b")));
	ck_assert_int_eq(open_result("a/./b//c", O_RDONLY) / 16, ino(R("a/b/c")));
	ck_assert_int_eq(open_result("a/b/../b/c", O_RDONLY) / 16, ino(R("a/b/c")));
	fd = -2;
	ck_assert_int_eq(rp_open(t.root_fd, "a/new", O_WRONLY | O_CREAT | O_EXCL, 0600, &fd), 0);
	ck_assert_int_eq(fd_ino(fd), ino(R("a/new")));
	close(fd);
	fd = -2;
	ck_assert_int_eq(open_result("a/missing", O_RDONLY), -ENOENT);
	ck_assert_int_eq(open_result("a/b/c/d", O_RDONLY), -ENOTDIR);
	/* symlinks: in the middle, at the end, absolute, dangling */
	ck_assert_int_eq(open_result("a/l/c", O_RDONLY), -ELOOP);
	ck_assert_int_eq(open_result("a/lf", O_RDONLY), -ELOOP);
	ck_assert_int_eq(open_result("a/lf", O_PATH), -ELOOP);
	ck_assert_int_eq(open_result("a/l/", O_PATH | O_NOFOLLOW), -ELOOP);
	ck_assert_int_eq(open_result("a/lf", O_PATH | O_NOFOLLOW) / 16, ino(R("a/lf")));
	ck_assert_int_eq(open_result("abs/secret", O_RDONLY), -ELOOP);
	ck_assert_int_eq(open_result("abs", O_RDONLY | O_DIRECTORY), -ELOOP);
	ck_assert_int_eq(open_result("a/dang", O_WRONLY | O_CREAT), -ELOOP);
	ck_assert(!exists("/nonexistent"));
	/* escapes */
	ck_assert_int_eq(open_result("../out/secret", O_RDONLY), -EXDEV);
	ck_assert_int_eq(open_result("a/../../out", O_PATH), -EXDEV);
	ck_assert_int_eq(open_result("..", O_PATH), -EXDEV);
	ck_assert_int_eq(open_result(R("a/b/c"), O_RDONLY), -EXDEV);
	ck_assert_int_eq(rp_open(t.root_fd, "a/l/c", O_RDONLY, 0, &fd), -ELOOP);
	ck_assert_int_eq(fd, -2);
}
END_TEST

/* The walk gives openat2's result for every case, corner cases included. */
START_TEST(test_open_walk_matches_openat2)
{
	static const struct {
		const char *rel;
		int flags;
	} cases[] = {
		{ "a/b/c", O_RDONLY },
		{ "a/b", O_RDONLY | O_DIRECTORY },
		{ "a/b/", O_RDONLY },
		{ "a/b/c/", O_RDONLY },
		{ "a/b", O_WRONLY },
		{ "a/b/c", O_RDONLY | O_DIRECTORY },
		{ "a/b/c", O_PATH | O_NOFOLLOW },
		{ "a/lf/", O_PATH | O_NOFOLLOW },
		{ "a/lf", O_PATH | O_NOFOLLOW | O_DIRECTORY },
		{ "a/l", O_PATH | O_NOFOLLOW | O_DIRECTORY },
		{ "a/l", O_PATH | O_DIRECTORY },
		{ "a/l", O_RDONLY | O_NOFOLLOW },
		{ "a/l/c", O_RDONLY },
		{ "a/lf", O_WRONLY | O_CREAT },
		{ "a/dang", O_WRONLY | O_CREAT },
		{ "a/dang", O_WRONLY | O_CREAT | O_EXCL },
		{ "a/new/", O_WRONLY | O_CREAT },
		{ "a/b/c", O_WRONLY | O_CREAT },
		{ ".", O_WRONLY | O_CREAT },
		{ "", O_RDONLY | O_DIRECTORY },
		{ "./", O_PATH },
		{ "a/..", O_PATH },
		{ "a/b/..", O_RDONLY },
		{ "a/b/c/..", O_PATH },
		{ "nx/..", O_PATH },
		{ "a/l/..", O_PATH },
		{ "..", O_PATH },
		{ "a/../..", O_PATH },
		{ "/a", O_PATH },
		{ "a//b/./c", O_RDONLY },
		{ "abs", O_PATH },
		{ "abs/secret", O_RDONLY },
	};

	tree();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		long a, b;

		rp_force_fallback = false;
		a = open_result(cases[i].rel, cases[i].flags);
		rp_force_fallback = true;
		b = open_result(cases[i].rel, cases[i].flags);
		ck_assert_msg(a == b, "\"%s\" 0%o: openat2 %ld, walk %ld", cases[i].rel,
			      cases[i].flags, a, b);
	}
	ck_assert(!exists(R("a/new")) && !exists("/nonexistent"));
}
END_TEST

START_TEST(test_open_parent)
{
	const char *name = "unset";
	int fd = -2;

	rp_force_fallback = _i;
	tree();
	ck_assert_int_eq(rp_open_parent(t.root_fd, "a/b/c", &fd, &name), 0);
	ck_assert_int_eq(fd_ino(fd), ino(R("a/b")));
	ck_assert(fcntl(fd, F_GETFL) & O_PATH);
	ck_assert_str_eq(name, "c");
	close(fd);
	ck_assert_int_eq(rp_open_parent(t.root_fd, "x", &fd, &name), 0);
	ck_assert_int_eq(fd_ino(fd), ino(t.root));
	ck_assert_str_eq(name, "x");
	close(fd);
	/* the last component is not looked at; the parent's path must be clean */
	ck_assert_int_eq(rp_open_parent(t.root_fd, "a/lf", &fd, &name), 0);
	ck_assert_str_eq(name, "lf");
	close(fd);
	fd = -2;
	name = "unset";
	ck_assert_int_eq(rp_open_parent(t.root_fd, "a/l/c", &fd, &name), -ELOOP);
	ck_assert_int_eq(rp_open_parent(t.root_fd, "abs/secret", &fd, &name), -ELOOP);
	ck_assert_int_eq(rp_open_parent(t.root_fd, "../out/secret", &fd, &name), -EXDEV);
	ck_assert_int_eq(rp_open_parent(t.root_fd, "/a", &fd, &name), -EXDEV);
	ck_assert_int_eq(rp_open_parent(t.root_fd, "", &fd, &name), -EINVAL);
	ck_assert_int_eq(rp_open_parent(t.root_fd, "a/", &fd, &name), -EINVAL);
	ck_assert_int_eq(rp_open_parent(t.root_fd, "a/..", &fd, &name), -EINVAL);
	ck_assert_int_eq(fd, -2);
	ck_assert_str_eq(name, "unset");
}
END_TEST

/* The walk is taken by itself when openat2 is ENOSYS (a seccomp filter here). */
static void child_no_openat2(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(f), .filter = f };
	struct open_how how = { .flags = O_PATH };
	const char *first;
	int fd;

	CHK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	CHK_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
	CHK_EQ(syscall(SYS_openat2, t.root_fd, ".", &how, sizeof(how)) < 0 && errno == ENOSYS, 1);
	CHK_EQ(rp_open(t.root_fd, "a/b/c", O_RDONLY, 0, &fd), 0);
	CHK_EQ(fd_ino(fd), ino(R("a/b/c")));
	CHK_EQ(rp_open(t.root_fd, "a/l/c", O_RDONLY, 0, &fd), -ELOOP);
	CHK_EQ(rp_open(t.root_fd, "../out", O_PATH, 0, &fd), -EXDEV);
	CHK_EQ(rp_mkdir_p(t.root_fd, "a/b/n/m", 0755, &fd, &first), 0);
	CHK_EQ(fd_ino(fd), ino(R("a/b/n/m")));
	CHK_EQ(rp_mkdir_p(t.root_fd, "abs/x", 0755, &fd, &first), -ELOOP);
}

START_TEST(test_open_without_openat2)
{
	tree();
	in_child(child_no_openat2, false);
	ck_assert_int_eq(count(t.out), 1);
}
END_TEST

/* ---- rp_mkdir_p, rp_undo_mkdir ---- */

START_TEST(test_mkdir_p)
{
	const char *rel = "p/q/r", *deeper = "p/q/r/s/t", *first = "unset";
	struct stat st;
	int fd = -2;

	rp_force_fallback = _i;
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, rel, 0750, &fd, &first), 0);
	ck_assert_ptr_eq(first, rel);
	ck_assert_int_eq(fd_ino(fd), ino(R("p/q/r")));
	ck_assert((fcntl(fd, F_GETFL) & O_PATH) && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
	ck_assert_int_eq(lstat(R("p/q"), &st), 0);
	ck_assert_int_eq(st.st_mode, S_IFDIR | 0750);
	close(fd);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, rel, 0750, &fd, &first), 0);
	ck_assert_ptr_null(first);
	close(fd);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, deeper, 0755, &fd, &first), 0);
	ck_assert_ptr_eq(first, deeper + 6);
	close(fd);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "p/z", 0755, &fd, NULL), 0);
	close(fd);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "", 0755, &fd, &first), 0);
	ck_assert_int_eq(fd_ino(fd), ino(t.root));
	ck_assert_ptr_null(first);
	close(fd);
	sh_file(R("p/file"), "x");
	fd = -2;
	first = "unset";
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "p/file/x", 0755, &fd, &first), -ENOTDIR);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "p/file", 0755, &fd, &first), -ENOTDIR);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "n/file/..", 0755, &fd, &first), -EINVAL);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "/p/q", 0755, &fd, &first), -EINVAL);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "p//q", 0755, &fd, &first), -EINVAL);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "p/./q", 0755, &fd, &first), -EINVAL);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "p/", 0755, &fd, &first), -EINVAL);
	ck_assert_int_eq(fd, -2);
	ck_assert_str_eq(first, "unset");
	ck_assert(!exists(R("n")));
}
END_TEST

START_TEST(test_mkdir_p_symlink)
{
	const char *first = "unset";
	int fd = -2;

	rp_force_fallback = _i;
	sh_mkdir("d");
	sh_link(t.out, "L");
	sh_link("../out", "R");
	sh_link(t.out, "d/L2");
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "L/x/y", 0755, &fd, &first), -ELOOP);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "R/x", 0755, &fd, &first), -ELOOP);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "d/L2/x", 0755, &fd, &first), -ELOOP);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "d/L2", 0755, &fd, &first), -ELOOP);
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "L", 0755, &fd, &first), -ELOOP);
	ck_assert_int_eq(fd, -2);
	ck_assert_str_eq(first, "unset");
	ck_assert_int_eq(count(t.out), 0);
	ck_assert_int_eq(count(t.root), 3);
	ck_assert_int_eq(count(R("d")), 1);
}
END_TEST

START_TEST(test_undo_mkdir)
{
	const char *rel = "k/v/w", *in_out = "o/x", *first;
	char other[] = "k/v/w";
	int fd;

	rp_force_fallback = _i;
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "u/v/w", 0755, &fd, &first), 0);
	close(fd);
	ck_assert_int_eq(rp_undo_mkdir(t.root_fd, "u/v/w", first), 0);
	ck_assert_int_eq(count(t.root), 0);
	/* only from first_created down: "e" existed before */
	sh_mkdir("e");
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "e/v/w", 0755, &fd, &first), 0);
	close(fd);
	ck_assert_int_eq(rp_undo_mkdir(t.root_fd, "e/v/w", first), 0);
	ck_assert(exists(R("e")) && !exists(R("e/v")));
	/* stops quietly at a directory that is not empty */
	ck_assert_int_eq(rp_mkdir_p(t.root_fd, rel, 0755, &fd, &first), 0);
	close(fd);
	sh_file(R("k/v/keep"), "x");
	ck_assert_int_eq(rp_undo_mkdir(t.root_fd, rel, first), 0);
	ck_assert(!exists(R("k/v/w")) && exists(R("k/v/keep")));
	/* missing already, nothing created, not a component of rel */
	ck_assert_int_eq(rp_undo_mkdir(t.root_fd, rel, rel + 4), 0);
	ck_assert_int_eq(rp_undo_mkdir(t.root_fd, rel, other), -EINVAL);
	ck_assert_int_eq(rp_undo_mkdir(t.root_fd, rel, NULL), 0);
	ck_assert_int_eq(rp_undo_mkdir(t.root_fd, rel, rel + 1), -EINVAL);
	ck_assert(exists(R("k/v/keep")));
	/* never through a symlink */
	sh_link(t.out, "o");
	ck_assert_int_eq(mkdir(R("../out/x"), 0755), 0);
	ck_assert_int_eq(rp_undo_mkdir(t.root_fd, in_out, in_out + 2), -ELOOP);
	ck_assert(exists(R("../out/x")));
}
END_TEST

/* ---- rp_write_file ---- */

START_TEST(test_write_file)
{
	int fd;
	struct stat st;

	ck_assert_int_eq(rp_mkdir_p(t.root_fd, "w", 0755, &fd, NULL), 0); /* an O_PATH fd */
	umask(077);
	ck_assert_int_eq(rp_write_file(fd, "cfg", "hello\n", 6, 0640), 0);
	ck_assert_str_eq(slurp(R("w/cfg")), "hello\n");
	ck_assert_int_eq(lstat(R("w/cfg"), &st), 0);
	ck_assert_int_eq(st.st_mode, S_IFREG | 0640);
	ck_assert_int_eq(rp_write_file(fd, "cfg", "bye", 3, 0600), 0);
	ck_assert_str_eq(slurp(R("w/cfg")), "bye");
	ck_assert_int_eq(rp_write_file(fd, "empty", "", 0, 0644), 0);
	ck_assert_str_eq(slurp(R("w/empty")), "");
	/* a symlink at name is replaced, its target left alone */
	sh_file(R("../out/target"), "outside");
	sh_link(R("../out/target"), "w/ln");
	sh_link(R("../out/nothere"), "w/dl");
	ck_assert_int_eq(rp_write_file(fd, "ln", "new", 3, 0644), 0);
	ck_assert_int_eq(rp_write_file(fd, "dl", "new", 3, 0644), 0);
	ck_assert_int_eq(lstat(R("w/ln"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_str_eq(slurp(R("w/dl")), "new");
	ck_assert_str_eq(slurp(R("../out/target")), "outside");
	ck_assert_int_eq(count(t.out), 1);
	/* failures leave no temp file */
	sh_mkdir("w/sub");
	ck_assert_int_eq(rp_write_file(fd, "sub", "x", 1, 0644), -EISDIR);
	ck_assert_int_eq(rp_write_file(fd, "", "x", 1, 0644), -EINVAL);
	ck_assert_int_eq(rp_write_file(fd, "..", "x", 1, 0644), -EINVAL);
	ck_assert_int_eq(rp_write_file(fd, "sub/x", "x", 1, 0644), -EINVAL);
	ck_assert_int_eq(count(R("w")), 5); /* cfg empty ln dl sub */
	ck_assert_int_eq(count(R("w/sub")), 0);
	close(fd);
}
END_TEST

/* ---- rp_remove_tree ---- */

START_TEST(test_remove_tree)
{
	sh_mkdir("tree");
	sh_mkdir("tree/d");
	sh_mkdir("tree/d/e");
	sh_file(R("tree/f"), "x");
	sh_file(R("tree/d/e/g"), "x");
	sh_file(R("../out/keep"), "keep");
	sh_mkdir("../out/sub");
	sh_link(t.out, "tree/d/toout");
	sh_link(R("../out/keep"), "tree/d/e/tofile");
	sh_link(R("../out/keep"), "top");
	ck_assert_int_eq(rp_remove_tree(t.root_fd, "tree"), 0);
	ck_assert(!exists(R("tree")));
	ck_assert_int_eq(rp_remove_tree(t.root_fd, "top"), 0);
	ck_assert_int_eq(rp_remove_tree(t.root_fd, "tree"), 0);
	ck_assert_int_eq(count(t.root), 0);
	ck_assert_int_eq(count(t.out), 2);
	ck_assert_str_eq(slurp(R("../out/keep")), "keep");
}
END_TEST

static void child_remove_tree_mounts(void)
{
	char bind[PATH_MAX];
	const char *name;
	int fd;

	snprintf(bind, sizeof(bind), "%s/tree/sub/bind", t.root);
	CHK_EQ(mount("tmpfs", R("tree/sub/m"), "tmpfs", 0, "size=1m"), 0);
	sh_file(R("tree/sub/m/inner"), "x");
	CHK_EQ(mount(t.out, bind, NULL, MS_BIND, NULL), 0); /* same st_dev, other mount */
	CHK_EQ(rp_remove_tree(t.root_fd, "tree"), -EBUSY);
	CHK_EQ(exists(R("tree/sub/m/inner")) && exists(R("tree/sub/bind/keep")), 1);
	CHK_EQ(exists(R("tree/a")) || exists(R("tree/sub/b")), 0);
	CHK_EQ(rp_open_parent(t.root_fd, "tree/sub/m", &fd, &name), 0);
	CHK_EQ(rp_remove_tree(fd, name), -EBUSY);
	CHK_EQ(rp_remove_tree(t.root_fd, "tree/sub"), -EINVAL);
	CHK_EQ(umount(R("tree/sub/m")), 0);
	CHK_EQ(umount(bind), 0);
	CHK_EQ(rp_remove_tree(t.root_fd, "tree"), 0);
	CHK_EQ(exists(R("tree")), 0);
}

START_TEST(test_remove_tree_mounts)
{
	sh_mkdir("tree");
	sh_mkdir("tree/sub");
	sh_mkdir("tree/sub/m");
	sh_mkdir("tree/sub/bind");
	sh_file(R("tree/a"), "x");
	sh_file(R("tree/sub/b"), "x");
	sh_file(R("../out/keep"), "keep");
	in_child(child_remove_tree_mounts, true);
	ck_assert_str_eq(slurp(R("../out/keep")), "keep");
	ck_assert(!exists(R("tree")));
}
END_TEST

/* ---- mounts: rp_fd_path, rp_is_mount_point, rp_umount ---- */

static void child_mounts(void)
{
	char path[32], cwd[PATH_MAX], cwd2[PATH_MAX];
	int fd, in;

	CHK_EQ(rp_mkdir_p(t.root_fd, "run/m", 0755, &fd, NULL), 0);
	rp_fd_path(fd, path);
	CHK_EQ(mount("tmpfs", path, "tmpfs", 0, "size=1m"), 0);
	CHK_EQ(is_tmpfs(R("run/m")), 1);
	/* fd is the directory under the mount: a new open reaches the mount */
	CHK_EQ(fd_ino(fd) != ino(R("run/m")), 1);
	close(fd);
	CHK_EQ(rp_is_mount_point(t.root_fd, "run/m"), 1);
	CHK_EQ(rp_is_mount_point(t.root_fd, "run"), 0);
	CHK_EQ(rp_is_mount_point(t.root_fd, "run/nx"), -ENOENT);
	CHK_EQ(rp_open(t.root_fd, "run/m", O_PATH | O_DIRECTORY, 0, &in), 0);
	CHK_EQ(rp_write_file(in, "f", "x", 1, 0644), 0);
	/* any fd inside the mount pins it */
	CHK_EQ(rp_umount(t.root_fd, "run/m", 0), -EBUSY);
	close(in);
	/* a symlink to a mount point outside: not a mount point, never unmounted through */
	CHK_EQ(mount("tmpfs", t.out, "tmpfs", 0, "size=1m"), 0);
	sh_link(t.out, "run/l");
	CHK_EQ(rp_is_mount_point(t.root_fd, "run/l"), 0);
	CHK_EQ(rp_umount(t.root_fd, "run/l", 0), -EINVAL);
	CHK_EQ(rp_umount(t.root_fd, "run/l", MNT_DETACH), -EINVAL);
	CHK_EQ(is_tmpfs(t.out), 1);
	CHK_EQ(getcwd(cwd, sizeof(cwd)) != NULL, 1);
	CHK_EQ(rp_umount(t.root_fd, "run/m", 0), 0);
	CHK_EQ(getcwd(cwd2, sizeof(cwd2)) != NULL && strcmp(cwd, cwd2) == 0, 1);
	CHK_EQ(rp_is_mount_point(t.root_fd, "run/m"), 0);
	CHK_EQ(rp_umount(t.root_fd, "run/m", 0), -EINVAL);
	CHK_EQ(rp_umount(t.root_fd, "l/m", 0), -ENOENT);
	CHK_EQ(exists(R("run/m/f")), 0);
	CHK_EQ(umount(t.out), 0);
}

START_TEST(test_mounts)
{
	in_child(child_mounts, true);
	ck_assert_int_eq(rp_is_mount_point(t.root_fd, "run/m"), 0);
	ck_assert(!is_tmpfs(t.out) || is_tmpfs(t.dir));
}
END_TEST

/* ---- the race: RENAME_EXCHANGE of D and S -> out, while mkdir -p + write + undo run ---- */

START_TEST(test_race)
{
	int ok = 0, refused = 0, p[2];
	time_t deadline;
	char c;
	pid_t pid;

	rp_force_fallback = _i;
	sh_mkdir("D");
	sh_link(t.out, "S");
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (long n = 0;; n++) {
			if (renameat2(t.root_fd, "D", t.root_fd, "S", RENAME_EXCHANGE) < 0)
				_exit(1);
			if (n == 1000)
				(void)!write(p[1], "r", 1);
		}
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	/* 2000 rounds, more (up to 10 s) until both outcomes were seen; yield for one CPU */
	deadline = time(NULL) + 10;
	for (int i = 0; i < 2000 || (!(ok && refused) && time(NULL) < deadline); i++) {
		const char *first;
		int fd, r;

		if (i % 8 == 0)
			sched_yield();
		r = rp_mkdir_p(t.root_fd, "D/x/y", 0755, &fd, &first);

		if (r < 0) {
			ck_assert_msg(r == -ELOOP || r == -ENOENT, "mkdir_p: %s", strerror(-r));
			refused++;
			continue;
		}
		ck_assert_int_eq(rp_write_file(fd, "f", "x", 1, 0644), 0);
		ck_assert_int_eq(unlinkat(fd, "f", 0), 0);
		close(fd);
		r = rp_undo_mkdir(t.root_fd, "D/x/y", first);
		ck_assert_msg(r == 0 || r == -ELOOP, "undo: %s", strerror(-r));
		ok++;
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_msg(count(t.out) == 0, "%d entries outside the root", count(t.out));
	ck_assert_msg(ok > 0 && refused > 0, "ok %d refused %d: the race did not happen", ok,
		      refused);
}
END_TEST

static Suite *rootpath_suite(void)
{
	Suite *s = suite_create("common_rootpath");
	TCase *paths = tcase_create("paths");
	TCase *dirs = tcase_create("dirs");
	TCase *mounts = tcase_create("mounts");

	tcase_add_unchecked_fixture(paths, case_setup, case_teardown);
	tcase_add_checked_fixture(paths, setup, teardown);
	tcase_add_test(paths, test_rel);
	tcase_add_test(paths, test_open_root_and_fd_path);
	tcase_add_loop_test(paths, test_open, 0, 2);
	tcase_add_test(paths, test_open_walk_matches_openat2);
	tcase_add_loop_test(paths, test_open_parent, 0, 2);
	tcase_add_test(paths, test_open_without_openat2);
	suite_add_tcase(s, paths);

	tcase_add_unchecked_fixture(dirs, case_setup, case_teardown);
	tcase_add_checked_fixture(dirs, setup, teardown);
	tcase_set_timeout(dirs, 60);
	tcase_add_loop_test(dirs, test_mkdir_p, 0, 2);
	tcase_add_loop_test(dirs, test_mkdir_p_symlink, 0, 2);
	tcase_add_loop_test(dirs, test_undo_mkdir, 0, 2);
	tcase_add_test(dirs, test_write_file);
	tcase_add_test(dirs, test_remove_tree);
	tcase_add_loop_test(dirs, test_race, 0, 2);
	suite_add_tcase(s, dirs);

	tcase_add_unchecked_fixture(mounts, case_setup, case_teardown);
	tcase_add_checked_fixture(mounts, setup, teardown);
	tcase_add_test(mounts, test_remove_tree_mounts);
	tcase_add_test(mounts, test_mounts);
	suite_add_tcase(s, mounts);
	return s;
}

int main(void)
{
	return testutil_run(rootpath_suite());
}
