/*
 * lcow_image_import: an image tarball -> ext4 layer disks + OCI bundle (see image.h).
 *
 * The tarball is indexed once (member names and data offsets; a compressed tarball is first
 * unpacked into an unlinked temp file under outdir), so blobs are read in place with pread and
 * never copied out. Each layer is streamed through the tar reader (through gzip/zstd when its
 * magic says so) into a 0700 staging dir under outdir, turned into an image by
 * lcow_dir_to_ext4, and the staging dir removed before the next layer.
 *
 * Formats:
 *   OCI image layout: index.json -> manifests[] (nested indexes followed; a platform other
 *     than linux/<host arch> skipped) -> manifest {config, layers[]} -> blobs/<alg>/<hex>.
 *   docker save: manifest.json [{Config, Layers}] (the first image), layer paths relative to
 *     the tarball root; legacy ones may be symlinks to another layer's layer.tar.
 * A tarball with both (docker 25+) is read as OCI.
 */
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"

#define JSON_MAX (16 * 1024 * 1024)
#define USERDB_MAX (4 * 1024 * 1024)
#define STAGING ".staging"
#define MIB (1024.0 * 1024.0)

struct member {
	char *name;
	char type; /* '0' file, '1' hard link, '2' symlink */
	char *link;
	uint64_t off, size;
};

struct archive {
	int fd;
	uint64_t size;
	struct member *m;
	size_t n;
};

struct layer {
	const struct member *m;
	char digest[160]; /* "sha256:<hex>" or whatever names the layer */
	char folder[PATH_MAX];
};

struct import {
	const char *tarball;
	char *outdir; /* absolute */
	int outfd;
	bool owned; /* outdir was empty (or made by us): clearing it on failure is safe */
	struct archive a;
	json_t *config;
	struct layer *layers;
	size_t n_layers;
	struct image_userdb db;
	void (*progress)(void *user, const char *line);
	void *user;
	struct gcs_error *err;
};

static void say(struct import *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct import *im, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!im->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	im->progress(im->user, line);
}

static void note(void *user, const char *line)
{
	say(user, "%s", line);
}

/* ---- the outer archive ---- */

static void archive_free(struct archive *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->m[i].name);
		free(a->m[i].link);
	}
	free(a->m);
	a->m = NULL;
	a->n = 0;
}

/* Lexical join of a member's directory and a relative (or archive-absolute) link text. */
static void join_lexical(const char *from, const char *link, char *out, size_t len)
{
	char buf[PATH_MAX * 2];
	size_t n = 0;
	char *s, *tok;

	if (link[0] == '/')
		snprintf(buf, sizeof(buf), "%s", link);
	else
		snprintf(buf, sizeof(buf), "%s/../%s", from, link);
	out[0] = '\0';
	s = buf;
	while ((tok = strsep(&s, "/"))) {
		if (!tok[0] || strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			char *slash = strrchr(out, '/');
			n = slash ? (size_t)(slash - out) : 0;
			out[n] = '\0';
			continue;
		}
		if (n + strlen(tok) + 2 > len)
			return;
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "/" : "", tok);
	}
}

static const struct member *archive_find(const struct archive *a, const char *name, int depth)
{
	char next[PATH_MAX];

	/* a name stored twice: the later one wins, as on extraction */
	for (size_t i = a->n; i-- > 0;) {
		const struct member *m = &a->m[i];

		if (strcmp(m->name, name) != 0)
			continue;
		if (m->type == '0')
			return m;
		if (depth >= 16)
			return NULL;
		if (m->type == '1')
			join_lexical("", m->link, next, sizeof(next));
		else
			join_lexical(m->name, m->link, next, sizeof(next));
		return archive_find(a, next, depth + 1);
	}
	return NULL;
}

static int archive_index(struct archive *a, struct gcs_error *err)
{
	struct image_src src = { .fd = a->fd, .end = a->size };
	struct tar_reader r;
	int rc;

	tar_reader_init(&r, &src);
	while ((rc = tar_next(&r, err)) > 0) {
		struct gcs_error ignored = { 0 };
		char name[PATH_MAX];
		struct member *m;

		if (r.e.type != '0' && r.e.type != '1' && r.e.type != '2')
			continue;
		/* names we could never look up ("..", absolute) are left out */
		if (image_clean_path(r.e.path, name, sizeof(name), &ignored) < 0 || !name[0])
			continue;
		m = realloc(a->m, (a->n + 1) * sizeof(*m));
		if (!m) {
			rc = -ENOMEM;
			break;
		}
		a->m = m;
		m = &m[a->n];
		*m = (struct member){ .name = strdup(name),
				      .type = r.e.type,
				      .link = strdup(r.e.link),
				      .off = r.e.data_off,
				      .size = r.e.size };
		if (!m->name || !m->link) {
			free(m->name);
			free(m->link);
			rc = -ENOMEM;
			break;
		}
		a->n++;
	}
	tar_reader_free(&r);
	if (rc == -ENOMEM)
		return gcs_error_set(err, rc, HR_FAIL, "out of memory");
	return rc;
}

static int load_json(struct import *im, const char *name, json_t **ret)
{
	const struct member *m = archive_find(&im->a, name, 0);
	_cleanup_free_ char *buf = NULL;
	json_error_t jerr;
	ssize_t n;
	json_t *j;

	if (!m)
		return gcs_error_set(im->err, -ENOENT, HR_INVALIDARG, "%s: not in the tarball",
				     name);
	if (m->size > JSON_MAX)
		return gcs_error_set(im->err, -EFBIG, HR_INVALIDARG, "%s: %llu bytes is too big",
				     name, (unsigned long long)m->size);
	buf = malloc(m->size + 1);
	if (!buf)
		return gcs_error_set(im->err, -ENOMEM, HR_FAIL, "out of memory");
	n = pread(im->a.fd, buf, m->size, (off_t)m->off);
	if (n < 0 || (uint64_t)n != m->size)
		return gcs_error_set(im->err, n < 0 ? -errno : -EIO, HR_FAIL, "%s: short read",
				     name);
	j = json_loadb(buf, m->size, 0, &jerr);
	if (!j)
		return gcs_error_set(im->err, -EINVAL, HR_INVALID_JSON, "%s: %s (line %d)", name,
				     jerr.text, jerr.line);
	*ret = j;
	return 0;
}

/* "sha256:<64 hex>" / "sha512:<128 hex>" -> "blobs/<alg>/<hex>" */
static int blob_path(struct import *im, const json_t *desc, char *out, size_t len,
		     const char **ret_digest)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	size_t want = 0, hex;

	if (d && strncmp(d, "sha256:", 7) == 0)
		want = 64;
	else if (d && strncmp(d, "sha512:", 7) == 0)
		want = 128;
	hex = d ? strspn(d + 7, "0123456789abcdef") : 0;
	if (!want || hex != want || d[7 + hex] != '\0')
		return gcs_error_set(im->err, -EINVAL, HR_INVALIDARG,
				     "descriptor with a bad digest \"%s\"", d ? d : "(none)");
	snprintf(out, len, "blobs/%.6s/%s", d, d + 7);
	if (ret_digest)
		*ret_digest = d;
	return 0;
}

static const char *host_arch(void)
{
	static struct utsname u;

	if (uname(&u) < 0)
		return "amd64";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	if (strncmp(u.machine, "armv", 4) == 0)
		return "arm";
	if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
		return "386";
	return u.machine;
}

/* Picks the image manifest for linux/<host arch> out of an index (nested indexes followed). */
static int select_manifest(struct import *im, const json_t *index, int depth, json_t **ret,
			   char *seen, size_t seen_len)
{
	json_t *list = json_object_get(index, "manifests"), *desc;
	const char *arch = host_arch();
	size_t i;
	int rc;

	if (!json_is_array(list))
		return gcs_error_set(im->err, -EINVAL, HR_INVALID_JSON,
				     "index without a manifests list");
	if (depth > 4)
		return gcs_error_set(im->err, -ELOOP, HR_INVALIDARG, "indexes nested too deep");
	json_array_foreach(list, i, desc) {
		json_t *plat = json_object_get(desc, "platform"), *blob = NULL;
		const char *os = json_string_value(json_object_get(plat, "os"));
		const char *a = json_string_value(json_object_get(plat, "architecture"));
		char path[256];

		if ((os && strcmp(os, "linux") != 0) || (a && strcmp(a, arch) != 0)) {
			size_t n = strlen(seen);
			snprintf(seen + n, seen_len - n, "%s%s/%s", n ? ", " : "", os ? os : "?",
				 a ? a : "?");
			continue;
		}
		rc = blob_path(im, desc, path, sizeof(path), NULL);
		if (rc < 0)
			return rc;
		rc = load_json(im, path, &blob);
		if (rc < 0)
			return rc;
		if (json_object_get(blob, "manifests")) {
			rc = select_manifest(im, blob, depth + 1, ret, seen, seen_len);
			json_decref(blob);
			if (rc != -ENOENT)
				return rc;
			gcs_error_clear(im->err);
			continue;
		}
		if (!json_is_array(json_object_get(blob, "layers"))) {
			json_decref(blob);
			return gcs_error_set(im->err, -EINVAL, HR_INVALID_JSON,
					     "%s: neither an index nor an image manifest", path);
		}
		*ret = blob;
		return 0;
	}
	return gcs_error_set(im->err, -ENOENT, HR_INVALIDARG,
			     "no image for linux/%s in the index%s%s%s", arch,
			     seen[0] ? " (it has " : "", seen, seen[0] ? ")" : "");
}

static int add_layer(struct import *im, const char *path, const char *digest)
{
	const struct member *m = archive_find(&im->a, path, 0);
	struct layer *l;

	if (!m)
		return gcs_error_set(im->err, -ENOENT, HR_INVALIDARG,
				     "layer %s: not in the tarball", path);
	l = realloc(im->layers, (im->n_layers + 1) * sizeof(*l));
	if (!l)
		return gcs_error_set(im->err, -ENOMEM, HR_FAIL, "out of memory");
	im->layers = l;
	l = &l[im->n_layers++];
	*l = (struct layer){ .m = m };
	snprintf(l->digest, sizeof(l->digest), "%s", digest);
	return 0;
}

static int plan_oci(struct import *im)
{
	json_auto_t *index = NULL, *manifest = NULL;
	json_t *layers, *desc;
	char path[256], seen[256] = "";
	size_t i;
	int rc;

	rc = load_json(im, "index.json", &index);
	if (rc < 0)
		return rc;
	rc = select_manifest(im, index, 0, &manifest, seen, sizeof(seen));
	if (rc < 0)
		return rc;
	rc = blob_path(im, json_object_get(manifest, "config"), path, sizeof(path), NULL);
	if (rc < 0)
		return gcs_error_prefix(im->err, rc, "manifest config");
	rc = load_json(im, path, &im->config);
	if (rc < 0)
		return gcs_error_prefix(im->err, rc, "image config");
	layers = json_object_get(manifest, "layers");
	json_array_foreach(layers, i, desc) {
		const char *digest;

		rc = blob_path(im, desc, path, sizeof(path), &digest);
		if (rc < 0)
			return gcs_error_prefix(im->err, rc, "layer %zu", i + 1);
		rc = add_layer(im, path, digest);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int plan_docker(struct import *im)
{
	json_auto_t *manifest = NULL;
	json_t *img, *layers, *diff_ids, *v;
	const char *cfg;
	size_t i;
	int rc;

	rc = load_json(im, "manifest.json", &manifest);
	if (rc < 0)
		return rc;
	img = json_array_get(manifest, 0);
	cfg = json_string_value(json_object_get(img, "Config"));
	layers = json_object_get(img, "Layers");
	if (!cfg || !json_is_array(layers))
		return gcs_error_set(im->err, -EINVAL, HR_INVALID_JSON,
				     "manifest.json: no image with Config and Layers");
	if (json_array_size(manifest) > 1) {
		const char *tag =
			json_string_value(json_array_get(json_object_get(img, "RepoTags"), 0));
		say(im, "the tarball holds %zu images; importing the first (%s)",
		    json_array_size(manifest), tag ? tag : cfg);
	}
	rc = load_json(im, cfg, &im->config);
	if (rc < 0)
		return gcs_error_prefix(im->err, rc, "image config");
	diff_ids = json_object_get(json_object_get(im->config, "rootfs"), "diff_ids");
	if (json_array_size(diff_ids) != json_array_size(layers))
		diff_ids = NULL;
	json_array_foreach(layers, i, v) {
		const char *path = json_string_value(v), *id;
		char name[160];

		if (!path)
			return gcs_error_set(im->err, -EINVAL, HR_INVALID_JSON,
					     "manifest.json: Layers[%zu] is not a string", i);
		id = json_string_value(json_array_get(diff_ids, i));
		if (!id) {
			/* "blobs/sha256/<hex>" (docker 25+) or "<v1 id>/layer.tar" (legacy) */
			const char *slash = strrchr(path, '/');

			if (strncmp(path, "blobs/", 6) == 0 && slash)
				snprintf(name, sizeof(name), "%.*s:%s", (int)(slash - path - 6),
					 path + 6, slash + 1);
			else if (slash)
				snprintf(name, sizeof(name), "%.*s", (int)(slash - path), path);
			else
				snprintf(name, sizeof(name), "%s", path);
			id = name;
		}
		rc = add_layer(im, path, id);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- layers ---- */

/* 12 characters of the digest's value that are safe in a folder name. */
static void short_digest(const char *digest, char *out)
{
	const char *colon = strchr(digest, ':');
	const char *p = colon ? colon + 1 : digest;
	size_t n = 0;

	for (; *p && n < 12; p++)
		if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z'))
			out[n++] = *p;
	if (n == 0)
		out[n++] = 'x';
	out[n] = '\0';
}

/* Keeps the top-most copy of etc/<file> seen so far, minding whiteouts and opaque dirs. */
static void track_userdb(int rootfd, const char *file, char **slot)
{
	_cleanup_close_ int etc = -1, fd = -1;
	struct stat st;
	char v;
	ssize_t n;

	if (fgetxattr(rootfd, "trusted.overlay.opaque", &v, 1) == 1 && v == 'y') {
		free(*slot);
		*slot = NULL;
	}
	etc = openat(rootfd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (etc < 0) {
		if (fstatat(rootfd, "etc", &st, AT_SYMLINK_NOFOLLOW) == 0) {
			free(*slot);
			*slot = NULL;
		}
		return;
	}
	if (fgetxattr(etc, "trusted.overlay.opaque", &v, 1) == 1 && v == 'y') {
		free(*slot);
		*slot = NULL;
	}
	if (fstatat(etc, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	free(*slot);
	*slot = NULL;
	if (!S_ISREG(st.st_mode) || st.st_size > USERDB_MAX)
		return;
	fd = openat(etc, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	*slot = calloc(1, (size_t)st.st_size + 1);
	if (!*slot)
		return;
	n = pread(fd, *slot, (size_t)st.st_size, 0);
	if (n < 0)
		n = 0;
	(*slot)[n] = '\0';
}

static int convert_layer(struct import *im, size_t i)
{
	struct layer *l = &im->layers[i];
	const struct member *m = l->m;
	struct image_decomp d = { .out.fd = -1 };
	struct image_src plain = { .fd = im->a.fd, .off = m->off, .end = m->off + m->size };
	struct image_src *src = &plain;
	_cleanup_close_ int rootfd = -1;
	enum image_compression c;
	unsigned char head[8] = { 0 };
	const char *colon;
	char shortd[16], image[PATH_MAX + 16], staging[PATH_MAX];
	struct tar_reader r;
	ssize_t hn;
	int rc;

	short_digest(l->digest, shortd);
	colon = strchr(l->digest, ':');
	say(im, "layer %zu/%zu %.*s%s%s %.1f MiB", i + 1, im->n_layers,
	    colon ? (int)(colon - l->digest) : 0, l->digest, colon ? ":" : "", shortd,
	    (double)m->size / MIB);
	snprintf(l->folder, sizeof(l->folder), "%s/layers/%zu-%s", im->outdir, i + 1, shortd);
	snprintf(image, sizeof(image), "%s/layer.vhd", l->folder);
	snprintf(staging, sizeof(staging), "%s/" STAGING, im->outdir);
	if (mkdir(l->folder, 0755) < 0)
		return gcs_error_set(im->err, -errno, HR_FAIL, "mkdir %s: %s", l->folder,
				     strerror(errno));
	if (mkdirat(im->outfd, STAGING, 0700) < 0)
		return gcs_error_set(im->err, -errno, HR_FAIL, "mkdir %s: %s", staging,
				     strerror(errno));
	rootfd = openat(im->outfd, STAGING, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return gcs_error_set(im->err, -errno, HR_FAIL, "open %s: %s", staging,
				     strerror(errno));

	hn = pread(im->a.fd, head, sizeof(head) < m->size ? sizeof(head) : m->size, (off_t)m->off);
	c = image_detect(head, hn > 0 ? (size_t)hn : 0);
	if (c != IMAGE_PLAIN) {
		rc = image_decomp_start(im->a.fd, m->off, m->size, c, &d, im->err);
		if (rc < 0)
			return rc;
		src = &d.out;
	}
	tar_reader_init(&r, src);
	rc = image_extract_layer(&r, rootfd, im->err);
	tar_reader_free(&r);
	if (c != IMAGE_PLAIN) {
		int rc2 = image_decomp_finish(&d, rc >= 0, im->err);
		if (rc >= 0)
			rc = rc2;
	}
	if (rc < 0)
		return rc;

	track_userdb(rootfd, "passwd", &im->db.passwd);
	track_userdb(rootfd, "group", &im->db.group);
	rc = lcow_dir_to_ext4(staging, image, im->err);
	if (rc < 0)
		return rc;
	close(TAKE_FD(rootfd));
	rc = image_rm_tree(im->outfd, STAGING);
	if (rc < 0)
		return gcs_error_set(im->err, rc, HR_FAIL, "remove %s: %s", staging, strerror(-rc));
	return 0;
}

/* ---- the bundle ---- */

static int write_spec(struct import *im)
{
	_cleanup_free_ char **folders = NULL, *text = NULL, *scratch = NULL;
	_cleanup_close_ int fd = -1;
	json_auto_t *spec = NULL;
	size_t n = im->n_layers, len;
	int rc;

	folders = calloc(n + 1, sizeof(*folders));
	if (!folders || asprintf(&scratch, "%s/scratch", im->outdir) < 0)
		return gcs_error_set(im->err, -ENOMEM, HR_FAIL, "out of memory");
	/* runhcs: read-only layers from the top-most down to the base, the scratch last */
	for (size_t i = 0; i < n; i++)
		folders[i] = im->layers[n - 1 - i].folder;
	folders[n] = scratch;
	rc = image_build_spec(im->config, &im->db, (const char *const *)folders, n + 1, note, im,
			      &spec, im->err);
	if (rc < 0)
		return gcs_error_prefix(im->err, rc, "config.json");
	text = json_dumps(spec, JSON_INDENT(2));
	if (!text)
		return gcs_error_set(im->err, -ENOMEM, HR_FAIL, "config.json: out of memory");
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps's NUL becomes the newline; written by length */
	fd = openat(im->outfd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return gcs_error_set(im->err, -errno, HR_FAIL, "config.json: %s", strerror(errno));
	for (size_t w = 0; w < len;) {
		ssize_t k = write(fd, text + w, len - w);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return gcs_error_set(im->err, -errno, HR_FAIL, "config.json: %s",
					     strerror(errno));
		w += (size_t)k;
	}
	return 0;
}

/* ---- the whole import ---- */

static int open_outdir(struct import *im, const char *outdir, bool *ret_created)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	*ret_created = false;
	if (mkdir(outdir, 0755) == 0)
		*ret_created = true;
	else if (errno != EEXIST)
		return gcs_error_set(im->err, -errno, HR_FAIL, "mkdir %s: %s", outdir,
				     strerror(errno));
	im->outfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im->outfd < 0)
		return gcs_error_set(im->err, -errno, HR_FAIL, "open %s: %s", outdir,
				     strerror(errno));
	fd = openat(im->outfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return gcs_error_set(im->err, -errno, HR_FAIL, "read %s: %s", outdir,
				     strerror(errno));
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return gcs_error_set(im->err, -EEXIST, HR_INVALIDARG, "%s is not empty",
					     outdir);
	im->owned = true;
	im->outdir = realpath(outdir, NULL);
	if (!im->outdir)
		return gcs_error_set(im->err, -errno, HR_FAIL, "%s: %s", outdir, strerror(errno));
	return 0;
}

/* outdir was empty when we began: whatever is in it now is ours. */
static void clear_outdir(struct import *im)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd = openat(im->outfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			image_rm_tree(im->outfd, de->d_name);
}

static int open_archive(struct import *im)
{
	_cleanup_close_ int fd = -1;
	unsigned char head[8] = { 0 };
	enum image_compression c;
	struct stat st;
	ssize_t n;
	int rc;

	fd = open(im->tarball, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return gcs_error_set(im->err, -errno, HR_FAIL, "%s: %s", im->tarball,
				     strerror(errno));
	if (!S_ISREG(st.st_mode))
		return gcs_error_set(im->err, -EINVAL, HR_INVALIDARG, "%s: not a regular file",
				     im->tarball);
	n = pread(fd, head, sizeof(head), 0);
	c = image_detect(head, n > 0 ? (size_t)n : 0);
	if (c != IMAGE_PLAIN) {
		/* a compressed tarball is unpacked once into an unlinked file next to the output */
		_cleanup_close_ int tmp =
			openat(im->outfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

		if (tmp < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
			/* filesystems without O_TMPFILE: a named file, unlinked at once */
			tmp = openat(im->outfd, ".image.tar", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
				     0600);
			if (tmp >= 0)
				unlinkat(im->outfd, ".image.tar", 0);
		}
		if (tmp < 0)
			return gcs_error_set(im->err, -errno, HR_FAIL, "temp file in %s: %s",
					     im->outdir, strerror(errno));
		say(im, "decompressing %s (%s)", im->tarball, image_compression_name(c));
		rc = image_decompress_file(fd, tmp, c, im->err);
		if (rc < 0)
			return gcs_error_prefix(im->err, rc, "%s", im->tarball);
		if (fstat(tmp, &st) < 0)
			return gcs_error_set(im->err, -errno, HR_FAIL, "stat: %s", strerror(errno));
		close(fd);
		fd = TAKE_FD(tmp);
	}
	im->a.fd = TAKE_FD(fd);
	im->a.size = (uint64_t)st.st_size;
	rc = archive_index(&im->a, im->err);
	if (rc < 0)
		return gcs_error_prefix(im->err, rc, "%s", im->tarball);
	return 0;
}

static int import(struct import *im, const char *outdir, bool *created)
{
	int rc;

	rc = open_outdir(im, outdir, created);
	if (rc < 0)
		return rc;
	rc = open_archive(im);
	if (rc < 0)
		return rc;
	if (archive_find(&im->a, "index.json", 0) && archive_find(&im->a, "oci-layout", 0))
		rc = plan_oci(im);
	else if (archive_find(&im->a, "manifest.json", 0))
		rc = plan_docker(im);
	else
		rc = gcs_error_set(im->err, -EINVAL, HR_INVALIDARG,
				   "%s: neither an OCI image layout (oci-layout, index.json) nor "
				   "a docker save tarball (manifest.json)",
				   im->tarball);
	if (rc < 0)
		return rc;
	if (!json_is_object(im->config))
		return gcs_error_set(im->err, -EINVAL, HR_INVALID_JSON,
				     "image config is not an object");
	if (mkdirat(im->outfd, "layers", 0755) < 0 || mkdirat(im->outfd, "scratch", 0755) < 0)
		return gcs_error_set(im->err, -errno, HR_FAIL, "mkdir in %s: %s", im->outdir,
				     strerror(errno));
	for (size_t i = 0; i < im->n_layers; i++) {
		rc = convert_layer(im, i);
		if (rc < 0)
			return gcs_error_prefix(im->err, rc, "layer %zu/%zu %s", i + 1,
						im->n_layers, im->layers[i].digest);
	}
	rc = write_spec(im);
	if (rc < 0)
		return rc;
	say(im, "wrote %s/config.json (%zu layer%s)", im->outdir, im->n_layers,
	    im->n_layers == 1 ? "" : "s");
	return 0;
}

int lcow_image_import(const char *tarball, const char *outdir,
		      void (*progress)(void *user, const char *line), void *user,
		      struct gcs_error *err)
{
	struct import im = {
		.tarball = tarball,
		.outfd = -1,
		.a.fd = -1,
		.progress = progress,
		.user = user,
		.err = err,
	};
	bool created = false;
	int rc;

	gcs_error_clear(err);
	if (geteuid() != 0)
		return gcs_error_set(err, -EPERM, HR_FAIL,
				     "image import needs root (owners, device nodes, trusted.* "
				     "xattrs)");
	rc = import(&im, outdir, &created);
	if (rc < 0 && im.owned) {
		clear_outdir(&im);
		if (created)
			rmdir(outdir);
	} else if (rc < 0 && created) {
		rmdir(outdir);
	}
	if (rc >= 0)
		gcs_error_clear(err);
	if (im.outfd >= 0)
		close(im.outfd);
	if (im.a.fd >= 0)
		close(im.a.fd);
	archive_free(&im.a);
	json_decref(im.config);
	free(im.layers);
	free(im.db.passwd);
	free(im.db.group);
	free(im.outdir);
	return rc;
}
