/*
 * A streaming tar reader: ustar (name + prefix), GNU (magic "ustar  ", 'L'/'K' long names and
 * links, base-256 numbers) and POSIX pax ('x' extended headers: path, linkpath, size, uid, gid,
 * mtime, atime, SCHILY.xattr.*, SCHILY.devmajor/devminor). 'g' global headers are skipped.
 * Types that carry no data (links, devices, dirs, fifos) read no data whatever their size
 * field says, as Go's archive/tar (hence docker) does. GNU sparse files are refused.
 */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#define BLOCK 512
#define LONGNAME_MAX (64 * 1024) /* GNU L/K data */
#define PAX_MAX (16 * 1024 * 1024) /* pax headers with xattrs */

/* ustar header field offsets */
struct field {
	size_t off, len;
};
static const struct field F_NAME = { 0, 100 }, F_MODE = { 100, 8 }, F_UID = { 108, 8 },
			  F_GID = { 116, 8 }, F_SIZE = { 124, 12 }, F_MTIME = { 136, 12 },
			  F_CHKSUM = { 148, 8 }, F_LINK = { 157, 100 }, F_MAGIC = { 257, 8 },
			  F_DEVMAJOR = { 329, 8 }, F_DEVMINOR = { 337, 8 }, F_PREFIX = { 345, 155 };
#define F_TYPE 156

/* The pax/GNU values that override the next header. */
struct pending {
	char *path, *link;
	bool has_size, has_uid, has_gid, has_mtime, has_atime, has_major, has_minor;
	uint64_t size, uid, gid, major, minor;
	struct timespec mtime, atime;
	struct tar_xattr *xattrs;
	size_t n_xattrs;
};

static void xattrs_free(struct tar_xattr *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(x[i].name);
		free(x[i].value);
	}
	free(x);
}

static void pending_free(struct pending *p)
{
	free(p->path);
	free(p->link);
	xattrs_free(p->xattrs, p->n_xattrs);
	*p = (struct pending){ 0 };
}

static void entry_free(struct tar_entry *e)
{
	free(e->path);
	free(e->link);
	xattrs_free(e->xattrs, e->n_xattrs);
	*e = (struct tar_entry){ 0 };
}

void tar_reader_init(struct tar_reader *r, struct image_src *src)
{
	*r = (struct tar_reader){ .src = src };
}

void tar_reader_free(struct tar_reader *r)
{
	entry_free(&r->e);
}

static int read_exact(struct tar_reader *r, void *buf, size_t n, struct gcs_error *err)
{
	ssize_t k = image_src_read(r->src, buf, n);

	if (k < 0)
		return gcs_error_set(err, (int)k, HR_FAIL, "read: %s", strerror((int)-k));
	r->pos += (uint64_t)k;
	if ((size_t)k < n)
		return gcs_error_set(err, -EIO, HR_FAIL,
				     "unexpected end of archive at byte %llu (truncated?)",
				     (unsigned long long)r->pos);
	return 0;
}

static int skip(struct tar_reader *r, uint64_t n, struct gcs_error *err)
{
	char buf[8192];

	if (!r->src->is_pipe) {
		if (n > r->src->end - r->src->off)
			return gcs_error_set(
				err, -EIO, HR_FAIL,
				"unexpected end of archive at byte %llu (truncated?)",
				(unsigned long long)(r->pos + r->src->end - r->src->off));
		r->src->off += n;
		r->pos += n;
		return 0;
	}
	while (n > 0) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		int rc = read_exact(r, buf, k, err);

		if (rc < 0)
			return rc;
		n -= k;
	}
	return 0;
}

/* Octal (space/NUL padded) or GNU base-256 (high bit of the first byte). */
static int parse_num(const unsigned char *h, struct field f, uint64_t *ret)
{
	const unsigned char *p = h + f.off, *end = p + f.len;
	uint64_t v = 0;

	if (*p & 0x80) {
		if (*p & 0x40) /* negative */
			return -EINVAL;
		v = *p++ & 0x3f;
		for (; p < end; p++) {
			if (v >> 56)
				return -ERANGE;
			v = v << 8 | *p;
		}
		*ret = v;
		return 0;
	}
	while (p < end && (*p == ' ' || *p == '\0'))
		p++;
	for (; p < end && *p >= '0' && *p <= '7'; p++) {
		if (v >> 60)
			return -ERANGE;
		v = v << 3 | (uint64_t)(*p - '0');
	}
	if (p < end && *p != ' ' && *p != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

static bool checksum_ok(const unsigned char *h)
{
	uint64_t want;
	unsigned long u = 0;
	long s = 0;

	if (parse_num(h, F_CHKSUM, &want) < 0)
		return false;
	for (size_t i = 0; i < BLOCK; i++) {
		unsigned char c =
			(i >= F_CHKSUM.off && i < F_CHKSUM.off + F_CHKSUM.len) ? ' ' : h[i];
		u += c;
		s += (signed char)c;
	}
	return want == u || (long)want == s;
}

static bool is_zero(const unsigned char *h)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (h[i])
			return false;
	return true;
}

static char *field_str(const unsigned char *h, struct field f)
{
	return strndup((const char *)h + f.off, f.len);
}

/* Reads the data of a special header (L, K, x) into a NUL-terminated heap buffer. */
static int read_blob(struct tar_reader *r, uint64_t size, uint64_t max, const char *what,
		     char **ret, struct gcs_error *err)
{
	_cleanup_free_ char *buf = NULL;
	int rc;

	if (size > max)
		return gcs_error_set(err, -EFBIG, HR_FAIL, "%s header of %llu bytes (limit %llu)",
				     what, (unsigned long long)size, (unsigned long long)max);
	buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	rc = read_exact(r, buf, size, err);
	if (rc < 0)
		return rc;
	buf[size] = '\0';
	rc = skip(r, (BLOCK - size % BLOCK) % BLOCK, err);
	if (rc < 0)
		return rc;
	*ret = TAKE_PTR(buf);
	return 0;
}

static int parse_dec(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

/* "1700000000.123456789" or "-1.5" */
static int parse_time(const char *s, size_t n, struct timespec *ret)
{
	bool neg = n > 0 && s[0] == '-';
	const char *dot;
	uint64_t sec;
	long nsec = 0;
	size_t i;

	if (neg) {
		s++;
		n--;
	}
	dot = memchr(s, '.', n);
	if (parse_dec(s, dot ? (size_t)(dot - s) : n, &sec) < 0 || sec > INT64_MAX / 2)
		return -EINVAL;
	if (dot) {
		const char *f = dot + 1;
		size_t fn = n - (size_t)(f - s);

		for (i = 0; i < 9; i++) {
			nsec *= 10;
			if (i < fn) {
				if (f[i] < '0' || f[i] > '9')
					return -EINVAL;
				nsec += f[i] - '0';
			}
		}
	}
	ret->tv_sec = (time_t)sec;
	ret->tv_nsec = nsec;
	if (neg) {
		ret->tv_sec = -ret->tv_sec;
		if (nsec) {
			ret->tv_sec--;
			ret->tv_nsec = 1000000000L - nsec;
		}
	}
	return 0;
}

static int add_xattr(struct pending *p, const char *name, size_t nlen, const char *v, size_t vlen)
{
	struct tar_xattr *x;

	for (size_t i = 0; i < p->n_xattrs; i++)
		if (strlen(p->xattrs[i].name) == nlen && memcmp(p->xattrs[i].name, name, nlen) == 0)
			return -EEXIST;
	x = realloc(p->xattrs, (p->n_xattrs + 1) * sizeof(*x));
	if (!x)
		return -ENOMEM;
	p->xattrs = x;
	x = &x[p->n_xattrs];
	x->name = strndup(name, nlen);
	x->value = malloc(vlen + 1);
	if (!x->name || !x->value) {
		free(x->name);
		free(x->value);
		return -ENOMEM;
	}
	memcpy(x->value, v, vlen);
	x->value[vlen] = '\0';
	x->len = vlen;
	p->n_xattrs++;
	return 0;
}

#define KEY_IS(k, kl, lit) ((kl) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

/* pax records "<len> <key>=<value>\n"; values may hold any byte. */
static int parse_pax(const char *d, size_t n, struct pending *p, struct gcs_error *err)
{
	size_t pos = 0;

	while (pos < n) {
		const char *rec = d + pos, *sp, *eq, *key, *val;
		uint64_t rlen;
		size_t klen, vlen;
		int rc = 0;

		if (rec[0] == '\0') /* some writers pad with NULs */
			break;
		sp = memchr(rec, ' ', n - pos);
		if (!sp || parse_dec(rec, (size_t)(sp - rec), &rlen) < 0 || rlen > n - pos ||
		    rlen < (uint64_t)(sp - rec) + 3 || rec[rlen - 1] != '\n')
			return gcs_error_set(err, -EINVAL, HR_FAIL, "malformed pax record at %zu",
					     pos);
		key = sp + 1;
		eq = memchr(key, '=', (size_t)(rec + rlen - 1 - key));
		if (!eq)
			return gcs_error_set(err, -EINVAL, HR_FAIL, "pax record without '='");
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = (size_t)(rec + rlen - 1 - val);
		pos += rlen;

		if (KEY_IS(key, klen, "path")) {
			free(p->path);
			p->path = vlen ? strndup(val, vlen) : NULL;
			if (vlen && !p->path)
				return -ENOMEM;
		} else if (KEY_IS(key, klen, "linkpath")) {
			free(p->link);
			p->link = vlen ? strndup(val, vlen) : NULL;
			if (vlen && !p->link)
				return -ENOMEM;
		} else if (KEY_IS(key, klen, "size")) {
			rc = parse_dec(val, vlen, &p->size);
			p->has_size = rc == 0;
		} else if (KEY_IS(key, klen, "uid")) {
			rc = parse_dec(val, vlen, &p->uid);
			p->has_uid = rc == 0;
		} else if (KEY_IS(key, klen, "gid")) {
			rc = parse_dec(val, vlen, &p->gid);
			p->has_gid = rc == 0;
		} else if (KEY_IS(key, klen, "mtime")) {
			rc = parse_time(val, vlen, &p->mtime);
			p->has_mtime = rc == 0;
		} else if (KEY_IS(key, klen, "atime")) {
			rc = parse_time(val, vlen, &p->atime);
			p->has_atime = rc == 0;
		} else if (KEY_IS(key, klen, "SCHILY.devmajor")) {
			rc = parse_dec(val, vlen, &p->major);
			p->has_major = rc == 0;
		} else if (KEY_IS(key, klen, "SCHILY.devminor")) {
			rc = parse_dec(val, vlen, &p->minor);
			p->has_minor = rc == 0;
		} else if (klen > 13 && memcmp(key, "SCHILY.xattr.", 13) == 0) {
			rc = add_xattr(p, key + 13, klen - 13, val, vlen);
			if (rc == -ENOMEM)
				return rc;
			rc = 0; /* a repeated name: the first wins */
		} else if (klen > 11 && memcmp(key, "GNU.sparse.", 11) == 0) {
			return gcs_error_set(err, -ENOTSUP, HR_NOTIMPL,
					     "GNU sparse files are not supported");
		}
		/* uname, gname, ctime, comment, charset, LIBARCHIVE.*: not needed */
		if (rc < 0)
			return gcs_error_set(err, -EINVAL, HR_FAIL, "bad pax value for %.*s",
					     (int)klen, key);
	}
	return 0;
}

/* name from the header: prefix "/" name for POSIX ustar, name alone for GNU and v7 */
static char *header_path(const unsigned char *h, bool posix)
{
	_cleanup_free_ char *name = field_str(h, F_NAME), *prefix = NULL;
	char *out;

	if (!name)
		return NULL;
	if (!posix || h[F_PREFIX.off] == '\0')
		return TAKE_PTR(name);
	prefix = field_str(h, F_PREFIX);
	if (!prefix || asprintf(&out, "%s/%s", prefix, name) < 0)
		return NULL;
	return out;
}

static bool header_only(char type)
{
	return type == '1' || type == '2' || type == '3' || type == '4' || type == '5' ||
	       type == '6';
}

int tar_next(struct tar_reader *r, struct gcs_error *err)
{
	struct pending p = { 0 };
	unsigned char h[BLOCK];
	int rc;

	/* finish the previous member */
	rc = skip(r, r->left + r->pad, err);
	if (rc < 0)
		return rc;
	r->left = r->pad = 0;
	entry_free(&r->e);

	for (;;) {
		uint64_t hdr_at = r->pos, size, v;
		ssize_t k = image_src_read(r->src, h, BLOCK);
		struct tar_entry *e = &r->e;
		bool gnu, posix;
		char type;

		if (k < 0) {
			rc = gcs_error_set(err, (int)k, HR_FAIL, "read: %s", strerror((int)-k));
			goto out;
		}
		r->pos += (uint64_t)k;
		if (k == 0 || is_zero(h)) {
			/* end of archive: two zero blocks, one, or none before EOF */
			if (k != 0 && k != BLOCK) {
				rc = gcs_error_set(err, -EIO, HR_FAIL, "unexpected end of archive");
				goto out;
			}
			if (p.path || p.link || p.n_xattrs) {
				rc = gcs_error_set(err, -EIO, HR_FAIL,
						   "archive ends after an extended header");
				goto out;
			}
			rc = 0;
			goto out;
		}
		if (k != BLOCK && hdr_at == 0) {
			rc = gcs_error_set(err, -EINVAL, HR_FAIL,
					   "not a tar archive (%zd bytes, shorter than a header)",
					   k);
			goto out;
		}
		if (k != BLOCK) {
			rc = gcs_error_set(err, -EIO, HR_FAIL,
					   "unexpected end of archive at byte %llu (truncated?)",
					   (unsigned long long)r->pos);
			goto out;
		}
		if (!checksum_ok(h)) {
			rc = gcs_error_set(err, -EINVAL, HR_FAIL,
					   "not a tar archive (bad header checksum at byte %llu)",
					   (unsigned long long)hdr_at);
			goto out;
		}
		posix = memcmp(h + F_MAGIC.off, "ustar\0", 6) == 0;
		gnu = memcmp(h + F_MAGIC.off, "ustar  \0", 8) == 0;
		type = (char)h[F_TYPE];
		if (parse_num(h, F_SIZE, &size) < 0) {
			rc = gcs_error_set(err, -EINVAL, HR_FAIL, "bad size field at byte %llu",
					   (unsigned long long)hdr_at);
			goto out;
		}

		switch (type) {
		case 'x':
		case 'g': {
			_cleanup_free_ char *d = NULL;

			rc = read_blob(r, size, PAX_MAX, "pax", &d, err);
			if (rc < 0)
				goto out;
			/* global headers set defaults for the rest of the archive; none we use */
			if (type == 'x' && (rc = parse_pax(d, size, &p, err)) < 0)
				goto out;
			continue;
		}
		case 'L':
		case 'K': {
			char *d = NULL;

			rc = read_blob(r, size, LONGNAME_MAX, "GNU long name", &d, err);
			if (rc < 0)
				goto out;
			if (type == 'L') {
				free(p.path);
				p.path = d;
			} else {
				free(p.link);
				p.link = d;
			}
			continue;
		}
		case 'V': /* volume label */
			rc = skip(r, (size + BLOCK - 1) / BLOCK * BLOCK, err);
			if (rc < 0)
				goto out;
			continue;
		case 'S':
			rc = gcs_error_set(err, -ENOTSUP, HR_NOTIMPL,
					   "GNU sparse files are not supported");
			goto out;
		case '\0':
		case '7':
			type = '0';
			break;
		case 'D': /* GNU dumpdir: a directory whose data lists names */
			type = '5';
			break;
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
			break;
		default:
			rc = gcs_error_set(err, -ENOTSUP, HR_NOTIMPL,
					   "unsupported tar entry type '%c' at byte %llu",
					   type >= ' ' && type < 127 ? type : '?',
					   (unsigned long long)hdr_at);
			goto out;
		}

		e->path = p.path ? TAKE_PTR(p.path) : header_path(h, posix);
		if (p.link)
			e->link = TAKE_PTR(p.link);
		else
			e->link = field_str(h, F_LINK);
		if (!e->path || !e->link) {
			rc = -ENOMEM;
			goto out;
		}
		/* v7: a regular file whose name ends in '/' is a directory */
		if (type == '0' && !posix && !gnu && e->path[0] &&
		    e->path[strlen(e->path) - 1] == '/')
			type = '5';
		e->type = type;
		if (p.has_size)
			size = p.size;
		if (parse_num(h, F_MODE, &v) < 0) {
			rc = gcs_error_set(err, -EINVAL, HR_FAIL, "%s: bad mode field", e->path);
			goto out;
		}
		e->mode = (uint32_t)(v & 07777);
		if (p.has_uid)
			v = p.uid;
		else if (parse_num(h, F_UID, &v) < 0)
			v = UINT64_MAX;
		if (v > UINT32_MAX - 1) {
			rc = gcs_error_set(err, -EINVAL, HR_FAIL, "%s: bad uid", e->path);
			goto out;
		}
		e->uid = (uint32_t)v;
		if (p.has_gid)
			v = p.gid;
		else if (parse_num(h, F_GID, &v) < 0)
			v = UINT64_MAX;
		if (v > UINT32_MAX - 1) {
			rc = gcs_error_set(err, -EINVAL, HR_FAIL, "%s: bad gid", e->path);
			goto out;
		}
		e->gid = (uint32_t)v;
		if (p.has_mtime) {
			e->mtime = p.mtime;
		} else {
			if (parse_num(h, F_MTIME, &v) < 0 || v > INT64_MAX / 2) {
				rc = gcs_error_set(err, -EINVAL, HR_FAIL, "%s: bad mtime", e->path);
				goto out;
			}
			e->mtime = (struct timespec){ .tv_sec = (time_t)v };
		}
		e->atime = p.has_atime ? p.atime : e->mtime;
		if (posix || gnu) {
			uint64_t maj = 0, min = 0;

			if (parse_num(h, F_DEVMAJOR, &maj) < 0 ||
			    parse_num(h, F_DEVMINOR, &min) < 0)
				maj = min = 0;
			e->devmajor = (uint32_t)(p.has_major ? p.major : maj);
			e->devminor = (uint32_t)(p.has_minor ? p.minor : min);
		}
		e->xattrs = TAKE_PTR(p.xattrs);
		e->n_xattrs = p.n_xattrs;
		p.n_xattrs = 0;
		e->size = header_only(type) ? 0 : size;
		e->data_off = r->pos;
		r->left = e->size;
		r->pad = (BLOCK - e->size % BLOCK) % BLOCK;
		/* a dumpdir's listing is data we do not need */
		if (h[F_TYPE] == 'D') {
			r->left = size;
			r->pad = (BLOCK - size % BLOCK) % BLOCK;
		}
		rc = 1;
		goto out;
	}
out:
	pending_free(&p);
	return rc;
}

ssize_t tar_read(struct tar_reader *r, void *buf, size_t n)
{
	ssize_t k;

	if (n > r->left)
		n = (size_t)r->left;
	if (n == 0)
		return 0;
	k = image_src_read(r->src, buf, n);
	if (k < 0)
		return k;
	if (k == 0)
		return -EIO; /* the archive ends inside a member */
	r->pos += (uint64_t)k;
	r->left -= (uint64_t)k;
	return k;
}
