/*
 * The lcow command as a user drives it: the built binary, fork/exec'd with --root in a test
 * directory and --uvm-mode process (the agent as a host process, loop devices as its disks),
 * on bundles built from busybox-static (no network). Each test checks what lcow prints and its
 * exit status, then (t_end) that nothing is left behind: no UVM daemon or agent, no state, no
 * mounts, no loop devices on the suite's images, no cgroups of the test's containers.
 *
 * Every command runs with a deadline (STEP_MS); Check's timeout bounds each test. Each suite
 * is a test_*.c of its own whose main is clitest_main.
 */
#pragma once

#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifndef LCOW_BIN
#error "LCOW_BIN: the lcow binary under test"
#endif

#define STEP_MS 60000
#define OUT_MAX 16384

#define BASE_TEXT "lcow cli base layer"
#define UPPER_TEXT "hello from the upper layer"

/* Built once in main (Check's parent), shared read-only by every test. */
struct fixture {
	char dir[64]; /* /tmp/lcow-cli-XXXXXX */
	char rootfs[PATH_MAX]; /* a busybox tree: root.path bundles point here */
	char base[PATH_MAX]; /* ext4 of rootfs, raw */
	char upper[PATH_MAX]; /* ext4 with /upper.txt, as a fixed VHD (footer) */
	char dynamic[PATH_MAX]; /* a file with a dynamic VHD's footer */
	char image[PATH_MAX]; /* a docker-save tarball of rootfs */
	bool ok;
	char error[1024];
};
extern struct fixture fx;

/* ---- processes ---- */

long long now_ms(void);
/* The file's first len-1 bytes, NUL-terminated ("" when it cannot be read). */
void slurp(const char *path, char *buf, size_t len);
/*
 * Starts argv with stdin from /dev/null and stdout/stderr into files (never pipes: a container
 * inherits lcow's stdio, and a pipe would stay open while it runs).
 */
pid_t spawn_argv(const char *const *argv, const char *out_path, const char *err_path);
/* The exit status of pid (128+signal), or -ETIMEDOUT after killing it. */
int wait_pid(pid_t pid, int timeout_ms);
int run_argv(const char *const *argv, const char *out_path, const char *err_path, int timeout_ms);
/* /bin/sh -c FMT...; its status (a failure's stderr goes to fx.error). */
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- a test's world ---- */

struct t {
	char dir[PATH_MAX]; /* <suite>/t-XXXXXX */
	char root[PATH_MAX]; /* lcow --root */
	char prefix[32]; /* of every container ID of the test: lt<pid> */
	int status; /* the last command's */
	char out[OUT_MAX], err[OUT_MAX];
};

void t_start(struct t *t);
/* An ID unique to this test (container IDs name host cgroups in process mode). */
const char *cid(struct t *t, const char *name);
/*
 * lcow --root <root> ARGS... (NULL-terminated); stdout to out_path when given (to read a
 * container's output later), else to t->out.
 */
int lcow_to(struct t *t, const char *out_path, const char *first, ...);
#define lcow(t, ...) lcow_to(t, NULL, __VA_ARGS__, NULL)
#define lcow_out(t, path, ...) lcow_to(t, path, __VA_ARGS__, NULL)
/* A command that must succeed. */
#define OK(t, ...)                                                                            \
	do {                                                                                  \
		int rc_ = lcow(t, __VA_ARGS__);                                               \
		ck_assert_msg(rc_ == 0, "lcow " #__VA_ARGS__ ": exit %d: %s", rc_, (t)->err); \
	} while (0)
/* <t>/<name> (one of 8 rotating buffers). */
char *tpath(struct t *t, const char *name);
/* Polls a file until it contains needle (STEP_MS). */
void expect_file_has(const char *path, const char *needle);
/* The status (and pid) fields of `lcow state`. */
void state_of(struct t *t, const char *id, char *status, size_t len, long *pid);
void expect_status(struct t *t, const char *id, const char *want);
/* Everything the test's lcow commands made is gone; then its directory goes. */
void t_end(struct t *t);
/* Check's parent, after each test: a test that failed half-way leaves its world here. */
void after_test(void);

/* ---- leftovers (each returns how many, appending them to report) ---- */

int procs_of(const char *dir, char *report, size_t len);
int mounts_under(const char *dir, char *report, size_t len);
int loops_under(const char *dir, char *report, size_t len);
int cgroups_named(const char *dir, const char *prefix, int depth, char *report, size_t len);
/* Entries of a directory but . and .. (0 when it does not exist). */
int entries(const char *dir);

/* ---- bundles ---- */

void write_text(const char *path, const char *text);
/*
 * <t>/<name>/config.json: args (a JSON array), a terminal or not, and root (the JSON after
 * "root" or "windows"; default: root.path at the suite's busybox tree).
 */
char *bundle(struct t *t, const char *name, const char *args, bool terminal, const char *root);
/* A bundle of its own with the given config.json text. */
char *bundle_text(struct t *t, const char *name, const char *text);

#define SH_ARGS(script) "[\"sh\",\"-c\",\"" script "\"]"
/*
 * A container that runs until SIGTERM, which it answers with exit 143 (it is PID 1, which
 * ignores a signal it has no handler for): "started" says the trap is in place.
 */
#define LONG_ARGS SH_ARGS("trap 'echo got-term; exit 143' TERM; echo started; sleep 1000 & wait")

/* ---- QEMU mode ---- */

/* The QEMU-mode pieces (vmlinux, initrd.img, lcow-vsock) are next to lcow or in ../default. */
void expect_qemu(void);

/* ---- a suite ---- */

#define ADD_TEST(s, fn)                                            \
	do {                                                       \
		TCase *tc = tcase_create(#fn);                     \
		tcase_set_timeout(tc, 120);                        \
		tcase_add_unchecked_fixture(tc, NULL, after_test); \
		tcase_add_test(tc, fn);                            \
		suite_add_tcase(s, tc);                            \
	} while (0)

/* Builds the fixture, runs the suite, cleans up; main's exit status. */
int clitest_main(Suite *s);
