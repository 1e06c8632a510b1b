/*
 * Unit tests of host/layers/cache.c: an image built once per tree and shared, holds counted per
 * owner across processes, the last release removing it, a crashed owner's holds dropped at
 * once, concurrent acquires building one image, a dead build's temporary file removed, a tree
 * changed at its root getting a new image, and bad input refused; containerd's rootfs mounts
 * read as layer trees.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lcow/layers.h"
#include "testutil.h"

static char dir[64], cache[96], tree[96];

static void setup(void)
{
	char p[160];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/lcow-layers-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	ck_assert_int_eq(mkdir(tree, 0755), 0);
	snprintf(p, sizeof(p), "%s/hello", tree);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("hello\n", f);
	fclose(f);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Entries of the cache but its lock. */
static int entries(void)
{
	DIR *d = opendir(cache);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool is_ext4(const char *img)
{
	unsigned char m[2];
	int fd = open(img, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && pread(fd, m, 2, 1024 + 56) == 2 && m[0] == 0x53 && m[1] == 0xef;

	if (fd >= 0)
		close(fd);
	return ok;
}

START_TEST(test_shared_and_counted)
{
	char a[256], b[256];
	struct gcs_error err = { 0 };
	struct stat s1, s2;

	ck_assert_msg(lcow_layer_acquire(cache, tree, "c1", a, sizeof(a), &err) == 0, "%s",
		      err.message);
	ck_assert(is_ext4(a));
	ck_assert_int_eq(stat(a, &s1), 0);
	/* cached: the same image, not built again; the same owner twice holds it once */
	ck_assert_int_eq(lcow_layer_acquire(cache, tree, "c2", b, sizeof(b), &err), 0);
	ck_assert_int_eq(lcow_layer_acquire(cache, tree, "c2", b, sizeof(b), &err), 0);
	ck_assert_str_eq(a, b);
	ck_assert_int_eq(stat(b, &s2), 0);
	ck_assert(s1.st_ino == s2.st_ino && s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec);
	ck_assert_int_eq(entries(), 2); /* the image and its owners */
	ck_assert_int_eq(lcow_layer_release(cache, a, "c1", &err), 0);
	ck_assert_int_eq(access(a, F_OK), 0);
	ck_assert_int_eq(lcow_layer_release(cache, a, "c2", &err), 0);
	ck_assert_int_eq(access(a, F_OK), -1);
	ck_assert_int_eq(entries(), 0);
	/* releasing again is harmless */
	ck_assert_int_eq(lcow_layer_release(cache, a, "c2", &err), 0);
}
END_TEST

START_TEST(test_release_all_and_changed_tree)
{
	char a[256], b[256], p[160];
	struct gcs_error err = { 0 };

	ck_assert_int_eq(lcow_layer_acquire(cache, tree, "crashed", a, sizeof(a), &err), 0);
	ck_assert_int_eq(lcow_layer_acquire(cache, tree, "alive", a, sizeof(a), &err), 0);
	/* a tree changed at its root is another tree */
	snprintf(p, sizeof(p), "%s/more", tree);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(lcow_layer_acquire(cache, tree, "crashed", b, sizeof(b), &err), 0);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(lcow_layer_release_all(cache, "crashed", &err), 0);
	ck_assert_int_eq(access(a, F_OK), 0); /* "alive" still holds it */
	ck_assert_int_eq(access(b, F_OK), -1);
	ck_assert_int_eq(lcow_layer_release_all(cache, "alive", &err), 0);
	ck_assert_int_eq(entries(), 0);
	ck_assert_int_eq(lcow_layer_release_all(cache, "nobody", &err), 0);
}
END_TEST

START_TEST(test_concurrent_and_stale)
{
	char a[256], tmp[300], owner[16];
	struct gcs_error err = { 0 };
	pid_t pids[4];

	/* a build that died left its temporary image: the next build removes it */
	ck_assert_int_eq(mkdir(cache, 0700), 0);
	snprintf(tmp, sizeof(tmp), "%s/dead.img.tmp-1", cache);
	ck_assert_int_eq(close(open(tmp, O_WRONLY | O_CREAT, 0600)), 0);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char img[256];
			struct gcs_error e = { 0 };
			snprintf(owner, sizeof(owner), "p%d", i);
			_exit(lcow_layer_acquire(cache, tree, owner, img, sizeof(img), &e) == 0 ?
				      0 :
				      1);
		}
	}
	for (int i = 0; i < 4; i++) {
		int st;
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(entries(), 2); /* one image, one owners directory */
	ck_assert_int_eq(lcow_layer_acquire(cache, tree, "p0", a, sizeof(a), &err), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(owner, sizeof(owner), "p%d", i);
		ck_assert_int_eq(lcow_layer_release(cache, a, owner, &err), 0);
	}
	ck_assert_int_eq(entries(), 0);
}
END_TEST

START_TEST(test_bad_input)
{
	char a[256], p[160];
	struct gcs_error err = { 0 };

	ck_assert_int_eq(lcow_layer_acquire(cache, tree, "../x", a, sizeof(a), &err), -EINVAL);
	ck_assert_int_eq(lcow_layer_acquire(cache, tree, "", a, sizeof(a), &err), -EINVAL);
	snprintf(p, sizeof(p), "%s/hello", tree);
	ck_assert_int_eq(lcow_layer_acquire(cache, p, "c1", a, sizeof(a), &err), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/missing", tree);
	ck_assert_int_eq(lcow_layer_acquire(cache, p, "c1", a, sizeof(a), &err), -ENOENT);
	ck_assert_msg(strstr(err.message, "missing"), "%s", err.message);
	ck_assert_int_eq(lcow_layer_release(cache, "/etc/passwd", "c1", &err), -EINVAL);
	ck_assert_int_eq(entries(), 0);
}
END_TEST

START_TEST(test_rootfs_parse)
{
	static const char *const ov[] = { "index=off", "workdir=/s/3/work", "upperdir=/s/3/fs",
					  "lowerdir=/s/2/fs:/s/1/fs" };
	static const char *const no_lower[] = { "upperdir=/s/3/fs" };
	static const char *const rel[] = { "lowerdir=/s/2/fs:s/1/fs" };
	struct lcow_rootfs_mount m = { "overlay", "overlay", ov, 4 };
	struct lcow_rootfs_mount two[2] = { m, m };
	struct lcow_rootfs_layers l;
	struct gcs_error err = { 0 };

	ck_assert_int_eq(lcow_rootfs_parse(&m, 1, &l, &err), 0);
	ck_assert_uint_eq(l.n_lowers, 2);
	ck_assert_str_eq(l.lowers[0], "/s/2/fs");
	ck_assert_str_eq(l.lowers[1], "/s/1/fs");
	ck_assert_ptr_null(l.lowers[2]);
	ck_assert_str_eq(l.upper, "/s/3/fs");
	lcow_rootfs_layers_free(&l);
	m = (struct lcow_rootfs_mount){ "bind", "/s/1/fs", (const char *const[]){ "rbind", "ro" },
					2 };
	ck_assert_int_eq(lcow_rootfs_parse(&m, 1, &l, &err), 0);
	ck_assert_uint_eq(l.n_lowers, 1);
	ck_assert_str_eq(l.lowers[0], "/s/1/fs");
	ck_assert_ptr_null(l.upper);
	lcow_rootfs_layers_free(&l);

	ck_assert_int_eq(lcow_rootfs_parse(&m, 0, &l, &err), -EINVAL);
	ck_assert_int_eq(lcow_rootfs_parse(two, 2, &l, &err), -EOPNOTSUPP);
	m = (struct lcow_rootfs_mount){ "overlay", "overlay", no_lower, 1 };
	ck_assert_int_eq(lcow_rootfs_parse(&m, 1, &l, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "no lowerdir"), "%s", err.message);
	m.options = rel;
	ck_assert_int_eq(lcow_rootfs_parse(&m, 1, &l, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "s/1/fs"), "%s", err.message);
	m = (struct lcow_rootfs_mount){ "tmpfs", "tmpfs", NULL, 0 };
	ck_assert_int_eq(lcow_rootfs_parse(&m, 1, &l, &err), -EOPNOTSUPP);
	m = (struct lcow_rootfs_mount){ "bind", "rel/dir", NULL, 0 };
	ck_assert_int_eq(lcow_rootfs_parse(&m, 1, &l, &err), -EINVAL);
}
END_TEST

START_TEST(test_rootfs_acquire)
{
	char lower2[128], opt[300], **imgs = NULL, p[160];
	struct gcs_error err = { 0 };
	struct lcow_rootfs_layers l;

	snprintf(lower2, sizeof(lower2), "%s/tree2", dir);
	ck_assert_int_eq(mkdir(lower2, 0755), 0);
	snprintf(opt, sizeof(opt), "lowerdir=%s:%s", lower2, tree);
	const char *const opts[] = { opt };
	struct lcow_rootfs_mount m = { "overlay", "overlay", opts, 1 };
	ck_assert_int_eq(lcow_rootfs_parse(&m, 1, &l, &err), 0);
	ck_assert_msg(lcow_rootfs_acquire(cache, &l, "c1", &imgs, &err) == 0, "%s", err.message);
	ck_assert(imgs[0] && imgs[1] && !imgs[2] && strcmp(imgs[0], imgs[1]) != 0);
	ck_assert(is_ext4(imgs[0]) && is_ext4(imgs[1]));
	ck_assert_int_eq(entries(), 4);
	lcow_rootfs_release(cache, imgs, "c1");
	ck_assert_int_eq(entries(), 0);
	/* a tree that is not there: what was acquired before it is released */
	lcow_rootfs_layers_free(&l);
	snprintf(p, sizeof(p), "%s/gone", dir);
	snprintf(opt, sizeof(opt), "lowerdir=%s:%s", tree, p);
	ck_assert_int_eq(lcow_rootfs_parse(&m, 1, &l, &err), 0);
	ck_assert_int_eq(lcow_rootfs_acquire(cache, &l, "c1", &imgs, &err), -ENOENT);
	ck_assert_int_eq(entries(), 0);
	lcow_rootfs_layers_free(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layer_cache");
	TCase *tc = tcase_create("cache");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_shared_and_counted);
	tcase_add_test(tc, test_release_all_and_changed_tree);
	tcase_add_test(tc, test_concurrent_and_stale);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_rootfs_parse);
	tcase_add_test(tc, test_rootfs_acquire);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
