/*
 * Unit tests of the image import (host/cli/image*.c, cmd_image.c): the tar reader on archives
 * written here byte by byte (ustar prefix, GNU long names and links, pax path/linkpath/uid/
 * mtime/xattrs), layer extraction and confinement, lcow_dir_to_ext4, and whole imports of a
 * docker-save tarball (two layers built with GNU tar from trees made here: whiteout, opaque
 * dir, hard link, symlink, setuid file owned 1000:1000 with user.test, a gzip layer) and of a
 * gzip-compressed OCI layout (a zstd layer, an index with a foreign platform to skip).
 *
 * The images are read with debugfs (no mounts, no loop devices). Everything lives under one
 * temp dir per test case, removed by the unchecked teardown in the parent. Needs root,
 * mkfs.ext4, debugfs, tar, gzip, zstd and sha256sum.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <jansson.h>

#include "cleanup.h"
#include "image.h"
#include "testutil.h"

/* The temporary tree of a test case (unchecked fixture, in the parent). */
static char base[PATH_MAX];

/* ---- helpers ---- */

static const char *pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *pathf(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return buf;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

/* stdout of a shell command, NUL-terminated (static buffer). */
static const char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *capture(const char *fmt, ...)
{
	static char out[65536];
	char cmd[8192];
	size_t n;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

/* debugfs -R "<cmd>" image: what it prints (stderr dropped). */
static const char *dfs(const char *image, const char *cmd)
{
	return capture("debugfs -R '%s' '%s' 2>/dev/null", cmd, image);
}

#define assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in:\n%s", (needle), (hay))
#define assert_lacks(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) == NULL, "unexpected \"%s\" in:\n%s", (needle), (hay))

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static char *sha256_of(const char *path)
{
	const char *out = capture("sha256sum '%s'", path);
	char *d;

	ck_assert_int_ge(strlen(out), 64);
	ck_assert_int_ge(asprintf(&d, "sha256:%.64s", out), 0);
	return d;
}

static size_t count_entries(const char *dir)
{
	const char *out = capture("ls -A '%s' | wc -l", dir);

	return (size_t)strtoul(out, NULL, 10);
}

struct lines {
	char text[8192];
};

static void collect(void *user, const char *line)
{
	struct lines *l = user;
	size_t n = strlen(l->text);

	snprintf(l->text + n, sizeof(l->text) - n, "%s\n", line);
}

/* No child of the import is left: no zombies, no stray decompressors. */
static void assert_no_children(void)
{
	errno = 0;
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

/* ---- a tar writer, for the archives GNU tar will not write ---- */

static void oct(unsigned char *dst, size_t len, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%0*llo", (int)len - 1, v);
	memcpy(dst, buf, len - 1);
	dst[len - 1] = '\0';
}

static void put(unsigned char *dst, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	memcpy(dst, s ? s : "", n < max ? n : max);
}

struct hdr {
	const char *name, *link, *prefix;
	char type;
	unsigned mode, uid, gid, major, minor;
	unsigned long long size, mtime;
	bool gnu; /* "ustar  \0" magic */
};

static void tw_header(FILE *f, const struct hdr *h)
{
	unsigned char b[512] = { 0 };
	unsigned sum = 0;

	put(b, h->name, 100);
	oct(b + 100, 8, h->mode);
	oct(b + 108, 8, h->uid);
	oct(b + 116, 8, h->gid);
	oct(b + 124, 12, h->size);
	oct(b + 136, 12, h->mtime);
	memset(b + 148, ' ', 8);
	b[156] = (unsigned char)h->type;
	put(b + 157, h->link, 100);
	memcpy(b + 257,
	       h->gnu ? "ustar  \0" :
			"ustar\0"
			"00",
	       8);
	put(b + 265, "root", 32);
	put(b + 297, "root", 32);
	oct(b + 329, 8, h->major);
	oct(b + 337, 8, h->minor);
	if (!h->gnu)
		put(b + 345, h->prefix, 155);
	for (size_t i = 0; i < sizeof(b); i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	b[155] = ' ';
	ck_assert_int_eq(fwrite(b, 1, sizeof(b), f), sizeof(b));
}

static void tw_data(FILE *f, const void *d, size_t n)
{
	static const char zero[512];

	ck_assert_int_eq(fwrite(d, 1, n, f), n);
	if (n % 512)
		ck_assert_int_eq(fwrite(zero, 1, 512 - n % 512, f), 512 - n % 512);
}

static void tw_file(FILE *f, const char *name, unsigned mode, const char *text)
{
	struct hdr h = {
		.name = name, .type = '0', .mode = mode, .size = strlen(text), .mtime = 1000
	};

	tw_header(f, &h);
	tw_data(f, text, strlen(text));
}

static void tw_simple(FILE *f, const char *name, char type, const char *link)
{
	struct hdr h = { .name = name, .type = type, .link = link, .mode = 0755, .mtime = 1000 };

	tw_header(f, &h);
}

/* A pax 'x' header of "key=value" records for the next entry. */
static void tw_pax(FILE *f, const char *const *kv, size_t n)
{
	char data[8192];
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t body = strlen(kv[i]) + 2, total = body + 1;

		/* the length counts its own digits */
		while (snprintf(NULL, 0, "%zu", total) + body != total)
			total = snprintf(NULL, 0, "%zu", total) + body;
		len += (size_t)snprintf(data + len, sizeof(data) - len, "%zu %s\n", total, kv[i]);
	}
	struct hdr h = { .name = "PaxHeaders/x", .type = 'x', .mode = 0644, .size = len };
	tw_header(f, &h);
	tw_data(f, data, len);
}

/* A GNU 'L' (name) or 'K' (link) long-name header. */
static void tw_gnu_long(FILE *f, char type, const char *s)
{
	struct hdr h = { .name = "././@LongLink",
			 .type = type,
			 .mode = 0644,
			 .size = strlen(s) + 1,
			 .gnu = true };

	tw_header(f, &h);
	tw_data(f, s, strlen(s) + 1);
}

static void tw_end(FILE *f)
{
	static const char zero[1024];

	ck_assert_int_eq(fwrite(zero, 1, sizeof(zero), f), sizeof(zero));
}

/* ---- image tarballs ---- */

static const char *const passwd = "root:x:0:0:root:/root:/bin/sh\n"
				  "app:x:1000:1000::/home/app:/bin/sh\n";
static const char *const group = "root:x:0:\napp:x:1000:\nextra:x:2000:root,app\n";

/*
 * A docker-save tarball of the given layer tars (their digests from the uncompressed bytes in
 * diff_ids) and the config's "config" object text.
 */
static void make_docker_save(const char *out, const char *const *layers, const char *const *plain,
			     size_t n, const char *config_obj)
{
	char dir[PATH_MAX], p[PATH_MAX], manifest[4096] = "", diff[4096] = "", text[16384];
	size_t ml = 0, dl = 0;

	pathf(dir, "%s.d", out);
	sh("mkdir -p '%s'", dir);
	for (size_t i = 0; i < n; i++) {
		char *d = sha256_of(plain[i]);

		sh("mkdir -p '%s/l%zu' && cp '%s' '%s/l%zu/layer.tar'", dir, i, layers[i], dir, i);
		ml += (size_t)snprintf(manifest + ml, sizeof(manifest) - ml, "%s\"l%zu/layer.tar\"",
				       i ? "," : "", i);
		dl += (size_t)snprintf(diff + dl, sizeof(diff) - dl, "%s\"%s\"", i ? "," : "", d);
		free(d);
	}
	snprintf(text, sizeof(text),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":%s,"
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
		 config_obj, diff);
	write_file(pathf(p, "%s/cfg.json", dir), text, 0644);
	snprintf(text, sizeof(text),
		 "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"t:latest\"],\"Layers\":[%s]}]",
		 manifest);
	write_file(pathf(p, "%s/manifest.json", dir), text, 0644);
	sh("tar -C '%s' -cf '%s' .", dir, out);
	sh("rm -rf '%s'", dir);
}

/* One-layer docker-save tarball around a layer tar written by fill(). */
static void make_crafted(const char *out, void (*fill)(FILE *f), const char *config_obj)
{
	char layer[PATH_MAX];
	FILE *f = fopen(pathf(layer, "%s.layer", out), "we");

	ck_assert_ptr_nonnull(f);
	fill(f);
	tw_end(f);
	fclose(f);
	make_docker_save(out, (const char *const[]){ layer }, (const char *const[]){ layer }, 1,
			 config_obj ? config_obj : "{\"Cmd\":[\"sh\"]}");
	unlink(layer);
}

/* The docker-save fixture: trees l1 (base) and l2 (upper) tarred with GNU tar. */
static void make_docker_fixture(const char *w, const char *out, char **ret_d1, char **ret_d2)
{
	char p[PATH_MAX], q[PATH_MAX], l1[PATH_MAX], l2[PATH_MAX], l2gz[PATH_MAX];
	char longdir[PATH_MAX];

	/* base: a tool, files the upper layer deletes, passwd/group, a >100-char path */
	sh("mkdir -p %s/t1/bin %s/t1/opq %s/t1/etc", w, w, w);
	write_file(pathf(p, "%s/t1/bin/tool", w), "tool v1\n", 0755);
	write_file(pathf(p, "%s/t1/gone", w), "doomed\n", 0644);
	write_file(pathf(p, "%s/t1/opq/old", w), "hidden by the opaque dir\n", 0644);
	write_file(pathf(p, "%s/t1/etc/passwd", w), passwd, 0644);
	write_file(pathf(p, "%s/t1/etc/group", w), group, 0644);
	pathf(longdir, "%s/t1/%0120d", w, 0);
	sh("mkdir -p '%s' && echo deep > '%s/f'", longdir, longdir);
	sh("tar --format=gnu --numeric-owner -C %s/t1 -cf %s/l1.tar .", w, w);

	/* upper: whiteout, opaque dir, setuid 1000:1000 + user.test, hard link, symlink,
	 * fifo, device node, a dir with an old mtime */
	sh("mkdir -p %s/t2/opq %s/t2/d %s/t2/dev", w, w, w);
	write_file(pathf(p, "%s/t2/.wh.gone", w), "", 0644);
	write_file(pathf(p, "%s/t2/opq/.wh..wh..opq", w), "", 0644);
	write_file(pathf(p, "%s/t2/opq/new", w), "new\n", 0644);
	write_file(pathf(p, "%s/t2/suid", w), "#!/bin/sh\necho hi\n", 0755);
	ck_assert_int_eq(chown(p, 1000, 1000), 0);
	ck_assert_int_eq(chmod(p, 04755), 0);
	ck_assert_int_eq(setxattr(p, "user.test", "hello", 5, 0), 0);
	ck_assert_int_eq(link(p, pathf(q, "%s/t2/hard", w)), 0);
	ck_assert_int_eq(symlink("suid", pathf(q, "%s/t2/link", w)), 0);
	ck_assert_int_eq(mkfifo(pathf(q, "%s/t2/fifo", w), 0640), 0);
	ck_assert_int_eq(mknod(pathf(q, "%s/t2/dev/null2", w), S_IFCHR | 0666, makedev(1, 3)), 0);
	ck_assert_int_eq(chmod(q, 0666), 0); /* past the umask */
	sh("touch -d '2001-02-03 04:05:06 UTC' %s/t2/d", w);
	sh("tar --format=posix --xattrs --xattrs-include='*' --numeric-owner -C %s/t2 -cf %s/l2.tar .",
	   w, w);
	sh("gzip -c %s/l2.tar > %s/l2.tar.gz", w, w);

	pathf(l1, "%s/l1.tar", w);
	pathf(l2, "%s/l2.tar", w);
	pathf(l2gz, "%s/l2.tar.gz", w);
	make_docker_save(out, (const char *const[]){ l1, l2gz }, (const char *const[]){ l1, l2 }, 2,
			 "{\"Entrypoint\":[\"/bin/tool\"],\"Cmd\":[\"--flag\"],"
			 "\"Env\":[\"FOO=bar\"],\"WorkingDir\":\"/opq\",\"User\":\"app\","
			 "\"StopSignal\":\"SIGTERM\"}");
	if (ret_d1)
		*ret_d1 = sha256_of(l1);
	if (ret_d2)
		*ret_d2 = sha256_of(l2);
}

/* ---- fixtures ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static void case_setup(void)
{
	snprintf(base, sizeof(base), "/tmp/lcow-test-image-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void case_teardown(void)
{
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* A fresh work dir for one test. */
static const char *workdir(char *buf, const char *name)
{
	pathf(buf, "%s/%s", base, name);
	ck_assert_int_eq(mkdir(buf, 0755), 0);
	return buf;
}

/* ---- tests: the tar reader ---- */

START_TEST(test_clean_path)
{
	static const struct {
		const char *in, *out; /* out NULL: refused */
	} v[] = {
		{ "a/b", "a/b" },      { "./a//b/", "a/b" },
		{ ".", "" },	       { "./", "" },
		{ "a/./b/.", "a/b" },  { "../evil", NULL },
		{ "a/../../b", NULL }, { "/abs", NULL },
		{ "a/..", NULL },      { "..foo/bar..", "..foo/bar.." },
	};
	char out[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		struct gcs_error err = { 0 };
		int rc = image_clean_path(v[i].in, out, sizeof(out), &err);

		if (v[i].out) {
			ck_assert_msg(rc == 0, "%s: %s", v[i].in, err.message);
			ck_assert_str_eq(out, v[i].out);
		} else {
			ck_assert_msg(rc < 0, "%s accepted", v[i].in);
			ck_assert_msg(strstr(err.message, v[i].in), "%s", err.message);
		}
	}
}
END_TEST

static char long_a[200], long_b[200], long_t[200];

static void fill_reader_archive(FILE *f)
{
	memset(long_a, 'a', 150);
	memcpy(long_a, "dir/", 4);
	memset(long_b, 'b', 130);
	memcpy(long_b, "dir/", 4);
	memset(long_t, 't', 170);

	tw_simple(f, "dir/", '5', NULL);
	/* pax: long path, big uid, fractional mtime, two xattrs */
	char path_kv[300], link_kv[300];
	snprintf(path_kv, sizeof(path_kv), "path=%s", long_a);
	tw_pax(f,
	       (const char *const[]){ path_kv, "uid=70000", "gid=70001", "mtime=1000000000.25",
				      "SCHILY.xattr.trusted.foo=bar", "SCHILY.xattr.user.k=v=w" },
	       6);
	tw_file(f, "placeholder", 0640, "hello");
	/* GNU long name and long link target on a symlink */
	tw_gnu_long(f, 'L', long_b);
	tw_gnu_long(f, 'K', long_t);
	struct hdr sl = { .name = "short", .type = '2', .mode = 0777, .mtime = 5, .gnu = true };
	tw_header(f, &sl);
	/* pax linkpath on a hard link */
	snprintf(link_kv, sizeof(link_kv), "linkpath=%s", long_a);
	tw_pax(f, (const char *const[]){ link_kv }, 1);
	tw_simple(f, "dir/hl", '1', "x");
	/* ustar prefix field */
	struct hdr pf = { .name = "file",
			  .prefix = "dir/pre",
			  .type = '0',
			  .mode = 0600,
			  .size = 3,
			  .mtime = 7,
			  .uid = 5,
			  .gid = 6 };
	tw_header(f, &pf);
	tw_data(f, "abc", 3);
	/* devices and a fifo */
	struct hdr blk = {
		.name = "dev/loopx", .type = '4', .mode = 0660, .gid = 6, .major = 7, .minor = 3
	};
	tw_header(f, &blk);
	struct hdr chr = { .name = "dev/null2", .type = '3', .mode = 0666, .major = 1, .minor = 3 };
	tw_header(f, &chr);
	tw_simple(f, "dir/fifo", '6', NULL);
}

START_TEST(test_tar_reader)
{
	char w[PATH_MAX], p[PATH_MAX];
	struct gcs_error err = { 0 };
	struct image_src src;
	struct tar_reader r;
	struct stat st;
	char data[16];
	FILE *f;
	int fd;

	workdir(w, "reader");
	f = fopen(pathf(p, "%s/a.tar", w), "we");
	ck_assert_ptr_nonnull(f);
	fill_reader_archive(f);
	tw_end(f);
	fclose(f);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	src = (struct image_src){ .fd = fd, .end = (uint64_t)st.st_size };
	tar_reader_init(&r, &src);

	ck_assert_int_eq(tar_next(&r, &err), 1);
	ck_assert_str_eq(r.e.path, "dir/");
	ck_assert_int_eq(r.e.type, '5');

	ck_assert_int_eq(tar_next(&r, &err), 1);
	ck_assert_str_eq(r.e.path, long_a);
	ck_assert_int_eq(r.e.type, '0');
	ck_assert_uint_eq(r.e.uid, 70000);
	ck_assert_uint_eq(r.e.gid, 70001);
	ck_assert_uint_eq(r.e.mode, 0640);
	ck_assert_int_eq(r.e.mtime.tv_sec, 1000000000);
	ck_assert_int_eq(r.e.mtime.tv_nsec, 250000000);
	ck_assert_uint_eq(r.e.n_xattrs, 2);
	ck_assert_str_eq(r.e.xattrs[0].name, "trusted.foo");
	ck_assert_str_eq(r.e.xattrs[0].value, "bar");
	ck_assert_str_eq(r.e.xattrs[1].name, "user.k");
	ck_assert_str_eq(r.e.xattrs[1].value, "v=w");
	ck_assert_uint_eq(r.e.size, 5);
	ck_assert_int_eq(tar_read(&r, data, 2), 2);
	ck_assert_int_eq(tar_read(&r, data + 2, sizeof(data)), 3);
	ck_assert_int_eq(tar_read(&r, data, sizeof(data)), 0);
	ck_assert_int_eq(memcmp(data, "hello", 5), 0);

	ck_assert_int_eq(tar_next(&r, &err), 1);
	ck_assert_str_eq(r.e.path, long_b);
	ck_assert_str_eq(r.e.link, long_t);
	ck_assert_int_eq(r.e.type, '2');
	ck_assert_uint_eq(r.e.n_xattrs, 0); /* pax values do not leak to later entries */

	ck_assert_int_eq(tar_next(&r, &err), 1);
	ck_assert_str_eq(r.e.path, "dir/hl");
	ck_assert_str_eq(r.e.link, long_a);
	ck_assert_int_eq(r.e.type, '1');
	ck_assert_uint_eq(r.e.uid, 0);

	ck_assert_int_eq(tar_next(&r, &err), 1);
	ck_assert_str_eq(r.e.path, "dir/pre/file");
	ck_assert_uint_eq(r.e.uid, 5);
	ck_assert_uint_eq(r.e.gid, 6);
	ck_assert_int_eq(r.e.mtime.tv_sec, 7);
	/* its data is skipped by the next call */

	ck_assert_int_eq(tar_next(&r, &err), 1);
	ck_assert_str_eq(r.e.path, "dev/loopx");
	ck_assert_int_eq(r.e.type, '4');
	ck_assert_uint_eq(r.e.devmajor, 7);
	ck_assert_uint_eq(r.e.devminor, 3);

	ck_assert_int_eq(tar_next(&r, &err), 1);
	ck_assert_int_eq(r.e.type, '3');
	ck_assert_int_eq(tar_next(&r, &err), 1);
	ck_assert_int_eq(r.e.type, '6');
	ck_assert_int_eq(tar_next(&r, &err), 0);
	tar_reader_free(&r);

	/* a flipped byte in a header: the checksum catches it */
	{
		unsigned char b = 'X';
		int wfd = open(p, O_WRONLY | O_CLOEXEC);

		ck_assert_int_eq(pwrite(wfd, &b, 1, 1), 1);
		close(wfd);
		src = (struct image_src){ .fd = fd, .end = (uint64_t)st.st_size };
		tar_reader_init(&r, &src);
		ck_assert_int_lt(tar_next(&r, &err), 0);
		assert_has(err.message, "checksum");
		tar_reader_free(&r);
	}
	/* truncated inside the data of an entry */
	{
		struct gcs_error e2 = { 0 };
		char buf[64];

		f = fopen(pathf(p, "%s/t.tar", w), "we");
		tw_file(f, "big", 0644, "0123456789");
		fclose(f);
		ck_assert_int_eq(truncate(p, 512 + 4), 0);
		close(fd);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		src = (struct image_src){ .fd = fd, .end = 516 };
		tar_reader_init(&r, &src);
		ck_assert_int_eq(tar_next(&r, &e2), 1);
		ck_assert_int_eq(tar_read(&r, buf, sizeof(buf)), 4);
		ck_assert_int_eq(tar_read(&r, buf, sizeof(buf)), -EIO);
		ck_assert_int_lt(tar_next(&r, &e2), 0);
		assert_has(e2.message, "unexpected end");
		tar_reader_free(&r);
	}
	close(fd);
}
END_TEST

/* ---- tests: the runtime spec ---- */

static json_t *spec_for(const char *config, const struct image_userdb *db, struct lines *notes,
			struct gcs_error *err)
{
	static const char *const folders[] = { "/o/layers/2-b", "/o/layers/1-a", "/o/scratch" };
	json_auto_t *cfg = json_loads(config, 0, NULL);
	json_t *spec = NULL;

	ck_assert_ptr_nonnull(cfg);
	if (image_build_spec(cfg, db, folders, 3, notes ? collect : NULL, notes, &spec, err) < 0)
		return NULL;
	return spec;
}

static const char *user_of(const char *user, const struct image_userdb *db, char *buf)
{
	char cfg[256];
	struct gcs_error err = { 0 };
	json_auto_t *spec = NULL;
	json_t *u;
	char *s;

	snprintf(cfg, sizeof(cfg), "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"%s\"}}", user);
	spec = spec_for(cfg, db, NULL, &err);
	if (!spec) {
		snprintf(buf, 512, "error: %s", err.message);
		return buf;
	}
	u = json_object_get(json_object_get(spec, "process"), "user");
	s = json_dumps(u, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(buf, 512, "%s", s);
	free(s);
	return buf;
}

START_TEST(test_build_spec)
{
	struct image_userdb db = { .passwd = (char *)"root:x:0:0:root:/root:/bin/sh\n"
						     "short:x\n"
						     "# comment\n"
						     "app:x:1000:1000::/home/app:/bin/sh\n",
				   .group =
					   (char *)"root:x:0:\napp:x:1000:\nextra:x:2000:root,app\n"
						   "broken\n" },
			    none = { 0 };
	struct gcs_error err = { 0 };
	struct lines notes = { "" };
	json_auto_t *spec = NULL;
	json_t *proc, *lf;
	char buf[512];

	/* users: runc's rules, against the image's own files */
	ck_assert_str_eq(user_of("", &db, buf), "{\"additionalGids\":[2000],\"gid\":0,\"uid\":0}");
	ck_assert_str_eq(user_of("app", &db, buf),
			 "{\"additionalGids\":[2000],\"gid\":1000,\"uid\":1000}");
	ck_assert_str_eq(user_of("1000", &db, buf),
			 "{\"additionalGids\":[2000],\"gid\":1000,\"uid\":1000}");
	ck_assert_str_eq(user_of("app:extra", &db, buf), "{\"gid\":2000,\"uid\":1000}");
	ck_assert_str_eq(user_of("4242", &db, buf), "{\"gid\":0,\"uid\":4242}");
	ck_assert_str_eq(user_of("4242:77", &db, buf), "{\"gid\":77,\"uid\":4242}");
	ck_assert_str_eq(user_of("4242", &none, buf), "{\"gid\":0,\"uid\":4242}");
	ck_assert_str_eq(user_of("", &none, buf), "{\"gid\":0,\"uid\":0}");
	assert_has(user_of("nobody", &db, buf), "error: image user \"nobody\" is not in");
	assert_has(user_of("app", &none, buf), "(it has none)");
	assert_has(user_of("app:nogroup", &db, buf), "image group \"nogroup\" is not in");
	assert_has(user_of("short", &db, buf), "bad entry for \"short\"");

	/* no command: a note, empty args; PATH kept when given; relative WorkingDir */
	spec = spec_for("{\"config\":{\"Env\":[\"PATH=/x\",\"A=1\"],\"WorkingDir\":\"rel\"}}",
			&none, &notes, &err);
	ck_assert_ptr_nonnull(spec);
	assert_has(notes.text, "no Entrypoint or Cmd");
	proc = json_object_get(spec, "process");
	ck_assert_int_eq(json_array_size(json_object_get(proc, "args")), 0);
	ck_assert_int_eq(json_array_size(json_object_get(proc, "env")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(proc, "env"), 0)),
			 "PATH=/x");
	ck_assert_str_eq(json_string_value(json_object_get(proc, "cwd")), "/rel");
	ck_assert_str_eq(json_string_value(json_object_get(spec, "hostname")), "lcow");
	lf = json_object_get(json_object_get(spec, "windows"), "layerFolders");
	ck_assert_int_eq(json_array_size(lf), 3);
	ck_assert_str_eq(json_string_value(json_array_get(lf, 0)), "/o/layers/2-b");
	ck_assert_str_eq(json_string_value(json_array_get(lf, 2)), "/o/scratch");

	/* a config with no "config" at all still gives a spec; malformed lists do not */
	json_decref(spec);
	spec = spec_for("{}", &none, NULL, &err);
	ck_assert_ptr_nonnull(spec);
	ck_assert_ptr_null(spec_for("{\"config\":{\"Cmd\":\"sh\"}}", &none, NULL, &err));
	assert_has(err.message, "Entrypoint or Cmd is not a list of strings");
	ck_assert_ptr_null(spec_for("{\"config\":{\"Env\":[1]}}", &none, NULL, &err));
	assert_has(err.message, "Env is not a list of strings");
}
END_TEST

/* ---- tests: dir -> ext4 ---- */

START_TEST(test_dir_to_ext4)
{
	char w[PATH_MAX], tree[PATH_MAX], img[PATH_MAX], p[PATH_MAX];
	struct gcs_error err = { 0 };
	struct stat st;
	const char *out;

	workdir(w, "ext4");
	pathf(tree, "%s/tree", w);
	pathf(img, "%s/img", w);

	/* empty: the minimum size */
	ck_assert_int_eq(mkdir(tree, 0755), 0);
	ck_assert_int_eq(lcow_dir_to_ext4(tree, img, &err), 0);
	ck_assert_int_eq(stat(img, &st), 0);
	ck_assert_int_eq(st.st_size, 8 << 20);
	out = dfs(img, "stats");
	assert_has(out, "Block size:               4096");
	assert_has(out, "Inode size:	          256");
	assert_lacks(out, "has_journal");

	/* inode-bound (3000 empty files) and data-bound (24 MiB) trees both fit */
	sh("cd %s && mkdir many && cd many && seq 1 3000 | xargs touch", tree);
	sh("head -c 25165824 /dev/urandom > %s/big", tree);
	ck_assert_int_eq(lcow_dir_to_ext4(tree, img, &err), 0);
	ck_assert_int_eq(stat(img, &st), 0);
	ck_assert_int_lt(st.st_size, 64 << 20);
	assert_has(dfs(img, "stat /many/3000"), "Type: regular");
	assert_has(dfs(img, "stat /big"), "Size: 25165824");

	/* errors carry mkfs's words or the path */
	ck_assert_int_lt(lcow_dir_to_ext4(pathf(p, "%s/missing", w), img, &err), 0);
	assert_has(err.message, "missing");
	ck_assert_int_lt(lcow_dir_to_ext4(tree, pathf(p, "%s/no/such/dir/img", w), &err), 0);
	assert_has(err.message, "no/such/dir");
	ck_assert(!exists(p));
}
END_TEST

/* ---- tests: whole imports ---- */

START_TEST(test_import_docker_save)
{
	char w[PATH_MAX], tarball[PATH_MAX], out[PATH_MAX], img1[PATH_MAX], img2[PATH_MAX];
	char p[PATH_MAX], ino[64];
	struct gcs_error err = { 0 };
	struct lines lines = { "" };
	char *d1, *d2;
	const char *s;

	workdir(w, "docker");
	pathf(tarball, "%s/image.tar", w);
	make_docker_fixture(w, tarball, &d1, &d2);
	pathf(out, "%s/out", w);

	ck_assert_msg(lcow_image_import(tarball, out, collect, &lines, &err) == 0, "%s",
		      err.message);
	assert_no_children();
	ck_assert_int_eq(err.hresult, HR_OK);
	pathf(img1, "%s/layers/1-%.12s/layer.vhd", out, d1 + 7);
	pathf(img2, "%s/layers/2-%.12s/layer.vhd", out, d2 + 7);
	ck_assert_msg(exists(img1), "%s missing", img1);
	ck_assert_msg(exists(img2), "%s missing", img2);
	/* nothing else: no staging dir, no temp files */
	ck_assert_uint_eq(count_entries(out), 3);
	ck_assert_uint_eq(count_entries(pathf(p, "%s/layers", out)), 2);
	ck_assert_uint_eq(count_entries(pathf(p, "%s/scratch", out)), 0);

	/* progress: a line per layer */
	snprintf(p, sizeof(p), "layer 1/2 sha256:%.12s ", d1 + 7);
	assert_has(lines.text, p);
	snprintf(p, sizeof(p), "layer 2/2 sha256:%.12s ", d2 + 7);
	assert_has(lines.text, p);

	/* base layer: the files the upper one deletes, the GNU long path */
	assert_has(dfs(img1, "stat /gone"), "Type: regular");
	assert_has(dfs(img1, "cat /opq/old"), "hidden by the opaque dir");
	assert_has(dfs(img1, "cat /bin/tool"), "tool v1");
	snprintf(p, sizeof(p), "cat /%0120d/f", 0);
	assert_has(dfs(img1, p), "deep");

	/* upper: the setuid file, owner, xattr, link count */
	s = dfs(img2, "stat /suid");
	assert_has(s, "Type: regular    Mode:  04755");
	assert_has(s, "User:  1000   Group:  1000");
	assert_has(s, "Links: 2");
	assert_has(s, "user.test (5) = \"hello\"");
	ck_assert_int_eq(sscanf(s, "Inode: %63s", ino), 1);
	s = dfs(img2, "stat /hard");
	snprintf(p, sizeof(p), "Inode: %s ", ino);
	assert_has(s, p);
	/* symlink */
	assert_has(dfs(img2, "stat /link"), "Fast link dest: \"suid\"");
	/* whiteout: char device 0/0, no .wh. name left */
	s = dfs(img2, "stat /gone");
	assert_has(s, "Type: character special");
	assert_has(s, "Device major/minor number: 00:00");
	s = dfs(img2, "ls /");
	assert_lacks(s, ".wh.");
	/* opaque dir */
	s = dfs(img2, "stat /opq");
	assert_has(s, "Type: directory");
	assert_has(s, "trusted.overlay.opaque (1) = \"y\"");
	assert_lacks(dfs(img2, "ls /opq"), ".wh.");
	assert_has(dfs(img2, "cat /opq/new"), "new");
	/* fifo, device node, directory mtime */
	assert_has(dfs(img2, "stat /fifo"), "Type: FIFO    Mode:  0640");
	s = dfs(img2, "stat /dev/null2");
	assert_has(s, "Type: character special    Mode:  0666");
	assert_has(s, "Device major/minor number: 01:03");
	assert_has(dfs(img2, "stat /d"), "mtime: 0x3a7b8372");

	/* the bundle */
	{
		json_error_t jerr;
		json_auto_t *spec = json_load_file(pathf(p, "%s/config.json", out), 0, &jerr);
		json_t *proc, *env, *lf, *mounts, *ns, *v;
		char abs[PATH_MAX], want[PATH_MAX];
		bool foo = false, path = false;
		size_t i;

		ck_assert_msg(spec != NULL, "%s", jerr.text);
		ck_assert_ptr_nonnull(realpath(out, abs));
		proc = json_object_get(spec, "process");
		ck_assert_int_eq(json_array_size(json_object_get(proc, "args")), 2);
		ck_assert_str_eq(
			json_string_value(json_array_get(json_object_get(proc, "args"), 0)),
			"/bin/tool");
		ck_assert_str_eq(
			json_string_value(json_array_get(json_object_get(proc, "args"), 1)),
			"--flag");
		env = json_object_get(proc, "env");
		json_array_foreach(env, i, v) {
			foo |= strcmp(json_string_value(v), "FOO=bar") == 0;
			path |= strncmp(json_string_value(v), "PATH=/", 6) == 0;
		}
		ck_assert(foo && path);
		ck_assert_str_eq(json_string_value(json_object_get(proc, "cwd")), "/opq");
		/* "app" resolved through the image's own /etc/passwd and /etc/group */
		v = json_object_get(proc, "user");
		ck_assert_int_eq(json_integer_value(json_object_get(v, "uid")), 1000);
		ck_assert_int_eq(json_integer_value(json_object_get(v, "gid")), 1000);
		ck_assert_int_eq(
			json_integer_value(json_array_get(json_object_get(v, "additionalGids"), 0)),
			2000);
		ck_assert_ptr_nonnull(json_string_value(json_object_get(spec, "hostname")));
		ck_assert_ptr_null(json_object_get(spec, "root"));
		ck_assert_str_eq(
			json_string_value(json_object_get(json_object_get(spec, "annotations"),
							  "org.opencontainers.image.stopSignal")),
			"SIGTERM");
		mounts = json_object_get(spec, "mounts");
		ck_assert_int_ge(json_array_size(mounts), 6);
		ck_assert_str_eq(json_string_value(
					 json_object_get(json_array_get(mounts, 0), "destination")),
				 "/proc");
		json_array_foreach(mounts, i, v)
			if (strcmp(json_string_value(json_object_get(v, "destination")), "/sys") ==
			    0)
				ck_assert_str_eq(json_string_value(json_array_get(
							 json_object_get(v, "options"), 3)),
						 "ro");
		ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
		ck_assert_int_eq(json_array_size(ns), 5);
		/* runhcs order: top-most layer first, base, then the scratch */
		lf = json_object_get(json_object_get(spec, "windows"), "layerFolders");
		ck_assert_int_eq(json_array_size(lf), 3);
		snprintf(want, sizeof(want), "%s/layers/2-%.12s", abs, d2 + 7);
		ck_assert_str_eq(json_string_value(json_array_get(lf, 0)), want);
		snprintf(want, sizeof(want), "%s/layers/1-%.12s", abs, d1 + 7);
		ck_assert_str_eq(json_string_value(json_array_get(lf, 1)), want);
		snprintf(want, sizeof(want), "%s/scratch", abs);
		ck_assert_str_eq(json_string_value(json_array_get(lf, 2)), want);
	}

	/* a second import into the now full dir is refused, and leaves it alone */
	ck_assert_int_lt(lcow_image_import(tarball, out, NULL, NULL, &err), 0);
	assert_has(err.message, "not empty");
	ck_assert(exists(img1) && exists(img2));
	free(d1);
	free(d2);
}
END_TEST

static void fill_oci_layer_a(FILE *f)
{
	char kv[300], longp[200];

	memset(longp, 'p', 140);
	memcpy(longp, "data/", 5);
	longp[140] = '\0';
	snprintf(kv, sizeof(kv), "path=%s", longp);
	tw_simple(f, "data/", '5', NULL);
	tw_pax(f,
	       (const char *const[]){ kv, "uid=70000", "gid=70001", "mtime=1000000000.5",
				      "SCHILY.xattr.trusted.foo=bar" },
	       5);
	tw_file(f, "ph", 0640, "pax file\n");
	snprintf(kv, sizeof(kv), "linkpath=%s", longp);
	tw_pax(f, (const char *const[]){ kv }, 1);
	tw_simple(f, "data/hl", '1', "ignored");
	struct hdr blk = {
		.name = "dev/loopx", .type = '4', .mode = 0660, .gid = 6, .major = 7, .minor = 3
	};
	tw_header(f, &blk);
	tw_simple(f, "data/fifo", '6', NULL);
	tw_file(f, "etc/passwd", 0644, passwd);
}

static void fill_oci_layer_b(FILE *f)
{
	/* the root entry (kept 0755 by mkfs), a whiteout at the root, an implicit opaque dir */
	struct hdr root = { .name = "./", .type = '5', .mode = 0700, .uid = 5 };

	tw_header(f, &root);
	tw_file(f, ".wh.data", 0644, "");
	tw_file(f, "x/.wh..wh..opq", 0644, "");
	tw_file(f, "etc/.wh.passwd", 0644, "");
}

/* Writes a blob into <oci>/blobs/sha256 and returns its digest (malloc'd). */
static char *oci_blob(const char *oci, const char *src)
{
	char *d = sha256_of(src);

	sh("mkdir -p '%s/blobs/sha256' && cp '%s' '%s/blobs/sha256/%s'", oci, src, oci, d + 7);
	return d;
}

START_TEST(test_import_oci_layout)
{
	char w[PATH_MAX], oci[PATH_MAX], p[PATH_MAX], tarball[PATH_MAX], out[PATH_MAX];
	char la[PATH_MAX], lb[PATH_MAX], img[PATH_MAX], longp[200], text[4096];
	struct gcs_error err = { 0 };
	struct lines lines = { "" };
	char *da, *db, *dc, *dm;
	const char *s;
	FILE *f;

	workdir(w, "oci");
	pathf(oci, "%s/layout", w);
	sh("mkdir -p %s", oci);

	/* layer A: written here, zstd; layer B: written here, plain */
	f = fopen(pathf(la, "%s/a.tar", w), "we");
	fill_oci_layer_a(f);
	tw_end(f);
	fclose(f);
	sh("zstd -q -19 '%s' -o '%s.zst'", la, la);
	f = fopen(pathf(lb, "%s/b.tar", w), "we");
	fill_oci_layer_b(f);
	tw_end(f);
	fclose(f);
	da = oci_blob(oci, pathf(p, "%s.zst", la));
	db = oci_blob(oci, lb);
	write_file(pathf(p, "%s/config.json", w),
		   "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"],"
		   "\"User\":\"1000:2000\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		   0644);
	dc = oci_blob(oci, p);
	snprintf(text, sizeof(text),
		 "{\"schemaVersion\":2,\"mediaType\":"
		 "\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
		 "\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		 "\"digest\":\"%s\",\"size\":1},\"layers\":["
		 "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
		 "\"digest\":\"%s\",\"size\":1},"
		 "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
		 "\"digest\":\"%s\",\"size\":1}]}",
		 dc, da, db);
	write_file(pathf(p, "%s/manifest.json", w), text, 0644);
	dm = oci_blob(oci, p);
	write_file(pathf(p, "%s/oci-layout", oci), "{\"imageLayoutVersion\":\"1.0.0\"}", 0644);
	/* a windows manifest first: its blob is not even there, so picking it would fail */
	snprintf(text, sizeof(text),
		 "{\"schemaVersion\":2,\"manifests\":["
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"digest\":\"sha256:%064d\",\"size\":1,"
		 "\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}},"
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"digest\":\"%s\",\"size\":1}]}",
		 1, dm);
	write_file(pathf(p, "%s/index.json", oci), text, 0644);
	/* the whole tarball gzip-compressed, in "./"-less form */
	pathf(tarball, "%s/image.tar.gz", w);
	sh("tar -C '%s' -czf '%s' oci-layout index.json blobs", oci, tarball);

	pathf(out, "%s/out", w);
	ck_assert_msg(lcow_image_import(tarball, out, collect, &lines, &err) == 0, "%s",
		      err.message);
	assert_no_children();
	assert_has(lines.text, "decompressing");
	/* folders named by the blob digests */
	pathf(img, "%s/layers/1-%.12s/layer.vhd", out, da + 7);
	ck_assert_msg(exists(img), "%s missing:\n%s", img, capture("find %s", out));
	memset(longp, 'p', 140);
	memcpy(longp, "data/", 5);
	longp[140] = '\0';
	snprintf(p, sizeof(p), "stat /%s", longp);
	s = dfs(img, p);
	assert_has(s, "User: 70000   Group: 70001");
	assert_has(s, "Mode:  0640");
	assert_has(s, "Links: 2");
	assert_has(s, "mtime: 0x3b9aca00");
	assert_has(s, "trusted.foo (3) = \"bar\"");
	s = dfs(img, "stat /dev/loopx");
	assert_has(s, "Type: block special    Mode:  0660");
	assert_has(s, "Device major/minor number: 07:03");
	assert_has(dfs(img, "stat /data/fifo"), "Type: FIFO");

	pathf(img, "%s/layers/2-%.12s/layer.vhd", out, db + 7);
	ck_assert_msg(exists(img), "%s missing", img);
	s = dfs(img, "stat /data");
	assert_has(s, "Type: character special");
	assert_has(s, "Device major/minor number: 00:00");
	assert_has(dfs(img, "stat /x"), "trusted.overlay.opaque (1) = \"y\"");
	s = dfs(img, "stat /");
	assert_has(s, "Mode:  0755");
	assert_has(s, "User:     0   Group:     0");

	{
		json_auto_t *spec = json_load_file(pathf(p, "%s/config.json", out), 0, NULL);
		json_t *proc = json_object_get(spec, "process"), *u, *env;

		ck_assert_ptr_nonnull(spec);
		u = json_object_get(proc, "user");
		ck_assert_int_eq(json_integer_value(json_object_get(u, "uid")), 1000);
		ck_assert_int_eq(json_integer_value(json_object_get(u, "gid")), 2000);
		ck_assert_str_eq(json_string_value(json_object_get(proc, "cwd")), "/");
		env = json_object_get(proc, "env");
		ck_assert_int_eq(json_array_size(env), 1);
		assert_has(json_string_value(json_array_get(env, 0)), "PATH=");
		ck_assert_int_eq(json_array_size(json_object_get(json_object_get(spec, "windows"),
								 "layerFolders")),
				 3);
	}
	free(da);
	free(db);
	free(dc);
	free(dm);
}
END_TEST

/* ---- tests: refusals ---- */

static void fill_dotdot(FILE *f)
{
	tw_file(f, "ok", 0644, "fine\n");
	tw_file(f, "../evil", 0644, "escaped\n");
}

static void fill_abs(FILE *f)
{
	tw_file(f, "/abs", 0644, "escaped\n");
}

static char outside[PATH_MAX];

static void fill_symlink_escape(FILE *f)
{
	tw_simple(f, "esc", '2', outside);
	tw_file(f, "esc/pwned", 0644, "escaped\n");
}

static void fill_symlink_dotdot(FILE *f)
{
	tw_simple(f, "up", '2', "../../..");
	tw_file(f, "up/tmp/pwned2", 0644, "escaped\n");
}

static void fill_hardlink_escape(FILE *f)
{
	tw_simple(f, "hl", '1', "../../etc/passwd");
}

static void fill_hardlink_via_symlink(FILE *f)
{
	tw_simple(f, "s", '2', "/etc");
	tw_simple(f, "hl", '1', "s/passwd");
}

START_TEST(test_path_traversal)
{
	static const struct {
		void (*fill)(FILE *f);
		const char *msg;
	} v[] = {
		{ fill_dotdot, "path escapes the layer root" },
		{ fill_abs, "absolute path" },
		{ fill_symlink_escape, "is a symlink" },
		{ fill_symlink_dotdot, "is a symlink" },
		{ fill_hardlink_escape, "path escapes the layer root" },
		{ fill_hardlink_via_symlink, "is a symlink" },
	};
	char w[PATH_MAX], tarball[PATH_MAX], out[PATH_MAX], p[PATH_MAX];

	workdir(w, "traversal");
	pathf(outside, "%s/outside", w);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		struct gcs_error err = { 0 };

		pathf(tarball, "%s/t%zu.tar", w, i);
		make_crafted(tarball, v[i].fill, NULL);
		pathf(out, "%s/out%zu", w, i);
		ck_assert_int_lt(lcow_image_import(tarball, out, NULL, NULL, &err), 0);
		ck_assert_msg(strstr(err.message, v[i].msg), "case %zu: %s", i, err.message);
		assert_has(err.message, "layer 1/1");
		/* the output dir it made is gone again, and nothing landed outside */
		ck_assert_msg(!exists(out), "case %zu: %s left behind", i, out);
		ck_assert(!exists(pathf(p, "%s/evil", w)));
		ck_assert(!exists(pathf(p, "%s/evil", base)));
		ck_assert(!exists("/abs"));
		ck_assert(!exists("/tmp/pwned2"));
		ck_assert_uint_eq(count_entries(outside), 0);
		assert_no_children();
	}
	/* an existing empty output dir stays, emptied */
	pathf(out, "%s/kept", w);
	ck_assert_int_eq(mkdir(out, 0755), 0);
	ck_assert_int_lt(lcow_image_import(pathf(p, "%s/t0.tar", w), out, NULL, NULL, NULL), 0);
	ck_assert(exists(out));
	ck_assert_uint_eq(count_entries(out), 0);
}
END_TEST

static void fill_one_file(FILE *f)
{
	tw_file(f, "etc/passwd", 0644, passwd);
}

START_TEST(test_import_errors)
{
	char w[PATH_MAX], p[PATH_MAX], out[PATH_MAX], t[PATH_MAX];
	struct gcs_error err = { 0 };

	workdir(w, "errors");
	pathf(out, "%s/out", w);

	/* not a tarball */
	write_file(pathf(p, "%s/junk", w), "this is not a tar archive, not at all........", 0644);
	ck_assert_int_lt(lcow_image_import(p, out, NULL, NULL, &err), 0);
	assert_has(err.message, "not a tar archive");
	ck_assert(!exists(out));
	sh("head -c 4096 /dev/zero | tr '\\0' A > %s/junk2", w);
	ck_assert_int_lt(lcow_image_import(pathf(p, "%s/junk2", w), out, NULL, NULL, &err), 0);
	assert_has(err.message, "not a tar archive (bad header checksum at byte 0)");
	ck_assert(!exists(out));

	/* a tar without either manifest */
	sh("tar -C %s -cf %s/plain.tar junk", w, w);
	ck_assert_int_lt(lcow_image_import(pathf(p, "%s/plain.tar", w), out, NULL, NULL, &err), 0);
	assert_has(err.message, "neither an OCI image layout");

	/* missing tarball */
	ck_assert_int_lt(lcow_image_import(pathf(p, "%s/nope.tar", w), out, NULL, NULL, &err), 0);
	assert_has(err.message, "No such file");

	/* a user name the image does not know */
	pathf(t, "%s/user.tar", w);
	make_crafted(t, fill_one_file, "{\"Cmd\":[\"sh\"],\"User\":\"nobody\"}");
	ck_assert_int_lt(lcow_image_import(t, out, NULL, NULL, &err), 0);
	assert_has(err.message, "\"nobody\" is not in the image's /etc/passwd");
	ck_assert(!exists(out));

	/* a corrupt gzip layer: gzip's own complaint comes back */
	{
		char l[PATH_MAX], gz[PATH_MAX];
		FILE *f = fopen(pathf(l, "%s/c.tar", w), "we");

		fill_one_file(f);
		for (int i = 0; i < 64; i++) {
			char name[16];

			snprintf(name, sizeof(name), "f%d", i);
			tw_file(f, name, 0644, "some data to compress\n");
		}
		tw_end(f);
		fclose(f);
		sh("gzip -c %s > %s/c.tar.gz", l, w);
		pathf(gz, "%s/c.tar.gz", w);
		sh("truncate -s 200 %s", gz);
		make_docker_save(pathf(t, "%s/corrupt.tar", w), (const char *const[]){ gz },
				 (const char *const[]){ l }, 1, "{}");
		ck_assert_int_lt(lcow_image_import(t, out, NULL, NULL, &err), 0);
		assert_has(err.message, "gzip");
		ck_assert(!exists(out));
		assert_no_children();
	}
}
END_TEST

/* ---- tests: the subcommand ---- */

/* Runs cmd_image with stdout and stderr in files; returns the exit code. */
static int run_cmd(const char *w, char *out, char *errs, size_t len, int argc, char **argv)
{
	char po[PATH_MAX], pe[PATH_MAX];
	int so = dup(1), se = dup(2), fo, fe, rc;
	FILE *f;
	size_t n;

	fflush(stdout);
	fflush(stderr);
	fo = open(pathf(po, "%s/stdout", w), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	fe = open(pathf(pe, "%s/stderr", w), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = cmd_image(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	f = fopen(po, "re");
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
	f = fopen(pe, "re");
	n = fread(errs, 1, len - 1, f);
	errs[n] = '\0';
	fclose(f);
	return rc;
}

START_TEST(test_cmd_image)
{
	char w[PATH_MAX], tarball[PATH_MAX], out[PATH_MAX], o[8192], e[8192];

	workdir(w, "cmd");
	pathf(tarball, "%s/image.tar", w);
	make_docker_fixture(w, tarball, NULL, NULL);
	pathf(out, "%s/bundle", w);

	ck_assert_int_eq(run_cmd(w, o, e, sizeof(o), 2, (char *[]){ "image", "--help", NULL }), 0);
	assert_has(o, "Usage: lcow image import [--quiet] <image.tar> <dir>");
	ck_assert_int_eq(
		run_cmd(w, o, e, sizeof(o), 3, (char *[]){ "image", "import", "--help", NULL }), 0);
	assert_has(o, "layerFolders");

	ck_assert_int_eq(run_cmd(w, o, e, sizeof(o), 1, (char *[]){ "image", NULL }), 1);
	assert_has(e, "lcow: image: expected a subcommand");
	ck_assert_int_eq(run_cmd(w, o, e, sizeof(o), 2, (char *[]){ "image", "pull", NULL }), 1);
	assert_has(e, "unknown subcommand pull");
	ck_assert_int_eq(
		run_cmd(w, o, e, sizeof(o), 3, (char *[]){ "image", "import", tarball, NULL }), 1);
	assert_has(e, "lcow: image import: expected <image.tar> <dir>");
	ck_assert_int_eq(run_cmd(w, o, e, sizeof(o), 5,
				 (char *[]){ "image", "import", "--bogus", tarball, out, NULL }),
			 1);
	assert_has(e, "unknown option --bogus");
	ck_assert_int_eq(run_cmd(w, o, e, sizeof(o), 4,
				 (char *[]){ "image", "import", "/nonexistent.tar", out, NULL }),
			 1);
	assert_has(e, "lcow: image import: /nonexistent.tar: No such file or directory");

	/* progress on stderr, none with --quiet */
	ck_assert_int_eq(
		run_cmd(w, o, e, sizeof(o), 4, (char *[]){ "image", "import", tarball, out, NULL }),
		0);
	assert_has(e, "layer 1/2 sha256:");
	assert_has(e, "layer 2/2 sha256:");
	assert_has(e, "config.json");
	ck_assert_str_eq(o, "");
	sh("rm -rf %s", out);
	ck_assert_int_eq(run_cmd(w, o, e, sizeof(o), 5,
				 (char *[]){ "image", "import", "--quiet", tarball, out, NULL }),
			 0);
	ck_assert_str_eq(e, "");
	ck_assert_uint_eq(count_entries(out), 3);
}
END_TEST

static Suite *image_suite(void)
{
	Suite *s = suite_create("cli_image");
	TCase *tar = tcase_create("tar");
	TCase *ext4 = tcase_create("ext4");
	TCase *imp = tcase_create("import");

	tcase_add_unchecked_fixture(tar, case_setup, case_teardown);
	tcase_add_test(tar, test_clean_path);
	tcase_add_test(tar, test_tar_reader);
	tcase_add_test(tar, test_build_spec);
	suite_add_tcase(s, tar);

	tcase_add_unchecked_fixture(ext4, case_setup, case_teardown);
	tcase_set_timeout(ext4, 60);
	tcase_add_test(ext4, test_dir_to_ext4);
	suite_add_tcase(s, ext4);

	tcase_add_unchecked_fixture(imp, case_setup, case_teardown);
	tcase_set_timeout(imp, 120);
	tcase_add_test(imp, test_import_docker_save);
	tcase_add_test(imp, test_import_oci_layout);
	tcase_add_test(imp, test_path_traversal);
	tcase_add_test(imp, test_import_errors);
	tcase_add_test(imp, test_cmd_image);
	suite_add_tcase(s, imp);
	return s;
}

int main(void)
{
	return testutil_run(image_suite());
}
