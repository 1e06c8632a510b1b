/*
 * Unit tests of init's move of the initramfs into a tmpfs (guest/init/root.c), on a temporary
 * tree: every kind of entry arrives with its mode and target, and the source is emptied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "root.h"
#include "testutil.h"

static char tmp[64];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_init_root.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static void teardown(void)
{
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int count_entries(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	return n;
}

static void write_file(int dir, const char *name, const char *data, size_t len, mode_t mode)
{
	_cleanup_close_ int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
}

static void assert_file(int dir, const char *name, const char *data, size_t len, mode_t mode)
{
	_cleanup_close_ int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *buf = malloc(len + 1);
	struct stat st;

	ck_assert_msg(fd >= 0, "%s: %s", name, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_msg(S_ISREG(st.st_mode), "%s is not a regular file", name);
	ck_assert_uint_eq(st.st_mode & 07777, mode);
	ck_assert_int_eq(st.st_size, (off_t)len);
	ck_assert_int_eq(read(fd, buf, len + 1), (ssize_t)len);
	ck_assert(memcmp(buf, data, len) == 0);
}

START_TEST(test_move_tree)
{
	char src_path[128], dst_path[128], target[64];
	_cleanup_close_ int src = -1, dst = -1;
	_cleanup_free_ char *big = malloc(300 * 1024);
	struct stat st;

	snprintf(src_path, sizeof(src_path), "%s/src", tmp);
	snprintf(dst_path, sizeof(dst_path), "%s/dst", tmp);
	ck_assert_int_eq(mkdir(src_path, 0755), 0);
	ck_assert_int_eq(mkdir(dst_path, 0755), 0);
	src = open(src_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dst = open(dst_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(src, 0);
	ck_assert_int_ge(dst, 0);

	for (size_t i = 0; i < 300 * 1024; i++)
		big[i] = (char)(i * 7 + i / 4096);
	write_file(src, "init", big, 300 * 1024, 0755);
	write_file(src, "empty", "", 0, 0640);
	ck_assert_int_eq(mkdirat(src, "bin", 0755), 0);
	write_file(src, "bin/gcs", "agent", 5, 04755);
	ck_assert_int_eq(mkdirat(src, "lib", 0755), 0);
	ck_assert_int_eq(mkdirat(src, "lib/modules", 0700), 0);
	write_file(src, "lib/modules/load-order", "/lib/modules/x.ko\n", 18, 0644);
	ck_assert_int_eq(mkdirat(src, "tmp", 01777), 0);
	ck_assert_int_eq(fchmodat(src, "tmp", 01777, 0), 0);
	ck_assert_int_eq(symlinkat("bin/gcs", src, "gcs-link"), 0);
	ck_assert_int_eq(symlinkat("/nowhere", src, "dangling"), 0);
	ck_assert_int_eq(mkfifoat(src, "fifo", 0600), 0);
	/* where the new root is mounted in the real thing: neither copied nor removed */
	ck_assert_int_eq(mkdirat(src, NEW_ROOT + 1, 0755), 0);

	ck_assert_int_eq(root_move_tree(src, dst), 0);

	assert_file(dst, "init", big, 300 * 1024, 0755);
	assert_file(dst, "empty", "", 0, 0640);
	assert_file(dst, "bin/gcs", "agent", 5, 04755);
	assert_file(dst, "lib/modules/load-order", "/lib/modules/x.ko\n", 18, 0644);
	ck_assert_int_eq(fstatat(dst, "lib/modules", &st, 0), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(fstatat(dst, "tmp", &st, 0), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 01777);
	ck_assert_int_eq(readlinkat(dst, "gcs-link", target, sizeof(target)), 7);
	ck_assert(memcmp(target, "bin/gcs", 7) == 0);
	ck_assert_int_eq(readlinkat(dst, "dangling", target, sizeof(target)), 8);
	ck_assert_int_eq(fstatat(dst, "fifo", &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(fstatat(dst, NEW_ROOT + 1, &st, 0), -1);

	/* the source keeps only the new root's mount point */
	ck_assert_int_eq(count_entries(src_path), 1);
	ck_assert_int_eq(fstatat(src, NEW_ROOT + 1, &st, 0), 0);
}
END_TEST

START_TEST(test_move_tree_error)
{
	_cleanup_close_ int src = -1;
	char src_path[128];

	snprintf(src_path, sizeof(src_path), "%s/src", tmp);
	ck_assert_int_eq(mkdir(src_path, 0755), 0);
	src = open(src_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	write_file(src, "a", "x", 1, 0644);
	/* the destination already has the name: the move stops and keeps the source */
	ck_assert_int_eq(root_move_tree(src, src), -EEXIST);
	ck_assert_int_eq(count_entries(src_path), 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("init_root");
	TCase *t = tcase_create("move");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_move_tree);
	tcase_add_test(t, test_move_tree_error);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
