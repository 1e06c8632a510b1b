/*
 * Unit tests of host/lib/stdio_uri.c: containerd's stdio names opened without waiting for the
 * other end, FIFOs made blocking, log files appended to, and bad names refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lcow/stdio.h"
#include "testutil.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/lcow-stdio-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_fifos)
{
	char in[128], out[128], buf[16];
	struct gcs_error err = { 0 };
	int fd, rd, wr;

	snprintf(in, sizeof(in), "%s/c1-stdin", dir);
	snprintf(out, sizeof(out), "%s/c1-stdout", dir);
	ck_assert_int_eq(mkfifo(in, 0600), 0);
	ck_assert_int_eq(mkfifo(out, 0600), 0);
	/* neither open waits for the other end */
	ck_assert_int_eq(lcow_stdio_open(in, GCS_STDIN, &fd, &err), 0);
	ck_assert(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
	wr = open(in, O_WRONLY | O_CLOEXEC);
	ck_assert_int_eq(write(wr, "hi", 2), 2);
	close(wr); /* the writer going is no EOF: CloseIO says that */
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 2);
	close(fd);
	ck_assert_int_eq(lcow_stdio_open(out, GCS_STDOUT, &fd, &err), 0);
	ck_assert_int_eq(write(fd, "early", 5), 5);
	rd = open(out, O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(read(rd, buf, sizeof(buf)), 5);
	close(fd);
	close(rd);
	/* with the reader there first, the output is write-only: its EOF reaches the reader */
	rd = open(out, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_eq(lcow_stdio_open(out, GCS_STDERR, &fd, &err), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
	close(fd);
	ck_assert_int_eq(read(rd, buf, sizeof(buf)), 0);
	close(rd);
	char uri[160];
	snprintf(uri, sizeof(uri), "fifo://%s", in);
	ck_assert_int_eq(lcow_stdio_open(uri, GCS_STDIN, &fd, &err), 0);
	close(fd);
}
END_TEST

START_TEST(test_files_and_bad)
{
	char uri[160], p[160], buf[32];
	struct gcs_error err = { 0 };
	int fd;

	ck_assert_int_eq(lcow_stdio_open("", GCS_STDOUT, &fd, &err), 0);
	ck_assert_int_eq(fd, -1);
	snprintf(uri, sizeof(uri), "file://%s/logs/c1.log", dir);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(lcow_stdio_open(uri, GCS_STDOUT, &fd, &err), 0);
		ck_assert_int_eq(write(fd, "line\n", 5), 5);
		close(fd);
	}
	snprintf(p, sizeof(p), "%s/logs/c1.log", dir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 10);
	close(fd);
	ck_assert_int_eq(lcow_stdio_open(uri, GCS_STDIN, &fd, &err), -EINVAL);
	ck_assert_int_eq(lcow_stdio_open("binary:///usr/bin/logger?x=1", GCS_STDOUT, &fd, &err),
			 -EOPNOTSUPP);
	ck_assert_int_eq(lcow_stdio_open("http://example/x", GCS_STDOUT, &fd, &err), -EINVAL);
	ck_assert_int_eq(lcow_stdio_open("relative/fifo", GCS_STDOUT, &fd, &err), -EINVAL);
	ck_assert_int_eq(lcow_stdio_open("file://relative", GCS_STDOUT, &fd, &err), -EINVAL);
	snprintf(p, sizeof(p), "%s/missing", dir);
	ck_assert_int_eq(lcow_stdio_open(p, GCS_STDOUT, &fd, &err), -ENOENT);
	ck_assert_msg(strstr(err.message, "missing"), "%s", err.message);
	ck_assert_int_eq(lcow_stdio_open(dir, GCS_STDOUT, &fd, &err), -EINVAL);
	ck_assert_int_eq(lcow_stdio_open(p, 3, &fd, &err), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stdio_uri");
	TCase *tc = tcase_create("uri");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fifos);
	tcase_add_test(tc, test_files_and_bad);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
