/* Go encoding/json semantics on top of jansson, for the message codecs. */
#include "json_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gcs/guid.h"

/* Arena blocks are chained through a header in front of the payload. */
struct block {
	struct block *next;
	max_align_t data[];
};

void *jd_alloc(struct jd *d, size_t size)
{
	struct block *b = calloc(1, sizeof(*b) + size);

	if (!b)
		return NULL;
	b->next = d->own->blocks;
	d->own->blocks = b;
	return b->data;
}

int jd_keep(struct jd *d, json_t *doc)
{
	for (unsigned i = 0; i < GCS_PROTO_MAX_DOCS; i++) {
		if (!d->own->docs[i]) {
			d->own->docs[i] = doc;
			return 0;
		}
	}
	json_decref(doc);
	return jd_fail(d, "too many embedded documents");
}

int jd_fail(struct jd *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gcs_error_setv(d->err, -EBADMSG, HR_INVALID_JSON, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

int jd_nomem(struct jd *d)
{
	return gcs_error_set(d->err, -ENOMEM, HR_FAIL, "out of memory");
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* The field's value, or NULL when missing or null (Go leaves the zero value then). */
json_t *jd_get(json_t *obj, const char *key)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	/* Like Go: an exact key match wins, else the first key equal ignoring case. */
	if (!v && obj) {
		const char *k;
		json_t *x;
		json_object_foreach(obj, k, x) {
			if (strcasecmp(k, key) == 0) {
				v = x;
				break;
			}
		}
	}
	return (v && !json_is_null(v)) ? v : NULL;
}

int jd_str(struct jd *d, json_t *obj, const char *key, const char **ret)
{
	json_t *v = jd_get(obj, key);

	if (!v) {
		*ret = "";
		return 0;
	}
	if (!json_is_string(v))
		return jd_fail(d, "%s: expected string, got %s", key, type_name(v));
	*ret = json_string_value(v);
	return 0;
}

int jd_bool(struct jd *d, json_t *obj, const char *key, bool *ret)
{
	json_t *v = jd_get(obj, key);

	if (!v) {
		*ret = false;
		return 0;
	}
	if (!json_is_boolean(v))
		return jd_fail(d, "%s: expected bool, got %s", key, type_name(v));
	*ret = json_is_true(v);
	return 0;
}

int jd_uint(struct jd *d, json_t *obj, const char *key, uint64_t max, uint64_t *ret)
{
	json_t *v = jd_get(obj, key);
	json_int_t n;

	if (!v) {
		*ret = 0;
		return 0;
	}
	if (!json_is_integer(v))
		return jd_fail(d, "%s: expected unsigned integer, got %s", key, type_name(v));
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > max)
		return jd_fail(d, "%s: %lld out of range 0..%llu", key, (long long)n,
			       (unsigned long long)max);
	*ret = (uint64_t)n;
	return 0;
}

int jd_sint(struct jd *d, json_t *obj, const char *key, int64_t min, int64_t max, int64_t *ret)
{
	json_t *v = jd_get(obj, key);
	json_int_t n;

	if (!v) {
		*ret = 0;
		return 0;
	}
	if (!json_is_integer(v))
		return jd_fail(d, "%s: expected integer, got %s", key, type_name(v));
	n = json_integer_value(v);
	if (n < min || n > max)
		return jd_fail(d, "%s: %lld out of range %lld..%lld", key, (long long)n,
			       (long long)min, (long long)max);
	*ret = n;
	return 0;
}

#define JD_UINT(name, type, max)                                        \
	int name(struct jd *d, json_t *obj, const char *key, type *ret) \
	{                                                               \
		uint64_t v = 0;                                         \
		int rc = jd_uint(d, obj, key, (max), &v);               \
		if (rc < 0)                                             \
			return rc;                                      \
		*ret = (type)v;                                         \
		return 0;                                               \
	}

JD_UINT(jd_u8, uint8_t, UINT8_MAX)
JD_UINT(jd_u16, uint16_t, UINT16_MAX)
JD_UINT(jd_u32, uint32_t, UINT32_MAX)
JD_UINT(jd_u64, uint64_t, UINT64_MAX)

int jd_i32(struct jd *d, json_t *obj, const char *key, int32_t *ret)
{
	int64_t v = 0;
	int rc = jd_sint(d, obj, key, INT32_MIN, INT32_MAX, &v);

	if (rc < 0)
		return rc;
	*ret = (int32_t)v;
	return 0;
}

int jd_i64(struct jd *d, json_t *obj, const char *key, int64_t *ret)
{
	return jd_sint(d, obj, key, INT64_MIN, INT64_MAX, ret);
}

int jd_object(struct jd *d, json_t *obj, const char *key, json_t **ret)
{
	json_t *v = jd_get(obj, key);

	if (v && !json_is_object(v))
		return jd_fail(d, "%s: expected object, got %s", key, type_name(v));
	*ret = v;
	return 0;
}

int jd_array(struct jd *d, json_t *obj, const char *key, json_t **ret)
{
	json_t *v = jd_get(obj, key);

	if (v && !json_is_array(v))
		return jd_fail(d, "%s: expected array, got %s", key, type_name(v));
	*ret = v;
	return 0;
}

int jd_strv(struct jd *d, json_t *obj, const char *key, const char *const **ret, size_t *ret_n)
{
	json_t *arr = NULL, *v;
	const char **out;
	size_t i;
	int rc = jd_array(d, obj, key, &arr);

	if (rc < 0)
		return rc;
	*ret = NULL;
	*ret_n = 0;
	if (!arr || json_array_size(arr) == 0)
		return 0;
	out = jd_alloc(d, (json_array_size(arr) + 1) * sizeof(*out));
	if (!out)
		return jd_nomem(d);
	json_array_foreach(arr, i, v) {
		if (json_is_null(v)) {
			out[i] = ""; /* Go's zero value */
			continue;
		}
		if (!json_is_string(v))
			return jd_fail(d, "%s[%zu]: expected string, got %s", key, i, type_name(v));
		out[i] = json_string_value(v);
	}
	*ret = out;
	*ret_n = json_array_size(arr);
	return 0;
}

int jd_inner(struct jd *d, json_t *obj, const char *key, json_t **ret)
{
	json_error_t jerr;
	const char *s;
	json_t *doc;
	int rc = jd_str(d, obj, key, &s);

	if (rc < 0)
		return rc;
	*ret = NULL;
	if (s[0] == '\0')
		return 0;
	doc = json_loads(s, JSON_DECODE_ANY, &jerr);
	if (!doc)
		return jd_fail(d, "%s: invalid JSON inside the string: %s (offset %d)", key,
			       jerr.text, jerr.position);
	if (!json_is_object(doc)) {
		const char *t = type_name(doc);
		json_decref(doc);
		return jd_fail(d, "%s: expected a JSON object inside the string, got %s", key, t);
	}
	rc = jd_keep(d, doc);
	if (rc < 0)
		return rc;
	*ret = doc;
	return 0;
}

int jd_guid(struct jd *d, json_t *obj, const char *key, const char *dflt, const char **ret)
{
	json_t *v = jd_get(obj, key);

	if (!v) {
		*ret = dflt;
		return 0;
	}
	if (!json_is_string(v))
		return jd_fail(d, "%s: expected GUID string, got %s", key, type_name(v));
	if (!gcs_proto_guid_valid(json_string_value(v)))
		return jd_fail(d, "%s: invalid GUID \"%.40s\"", key, json_string_value(v));
	*ret = json_string_value(v);
	return 0;
}

/* ---- encoding ---- */

void je_set(struct je *e, json_t *o, const char *key, json_t *v_new)
{
	if (e->rc < 0) {
		json_decref(v_new);
		return;
	}
	if (!v_new) {
		e->rc = gcs_error_set(e->err, -ENOMEM, HR_FAIL, "encode %s: out of memory", key);
		return;
	}
	if (json_object_set_new(o, key, v_new) < 0)
		e->rc = gcs_error_set(e->err, -ENOMEM, HR_FAIL, "encode %s: out of memory", key);
}

void je_str(struct je *e, json_t *o, const char *key, const char *s)
{
	json_t *v;

	if (e->rc < 0)
		return;
	v = json_string(s ? s : "");
	if (!v) {
		e->rc = gcs_error_set(e->err, -EINVAL, HR_INVALIDARG,
				      "encode %s: string is not valid UTF-8", key);
		return;
	}
	je_set(e, o, key, v);
}

void je_str_opt(struct je *e, json_t *o, const char *key, const char *s)
{
	if (s && s[0])
		je_str(e, o, key, s);
}

void je_uint(struct je *e, json_t *o, const char *key, uint64_t v)
{
	if (e->rc < 0)
		return;
	if (v > INT64_MAX) {
		e->rc = gcs_error_set(e->err, -ERANGE, HR_INVALIDARG, "encode %s: value too large",
				      key);
		return;
	}
	je_set(e, o, key, json_integer((json_int_t)v));
}

void je_uint_opt(struct je *e, json_t *o, const char *key, uint64_t v)
{
	if (v)
		je_uint(e, o, key, v);
}

void je_sint(struct je *e, json_t *o, const char *key, int64_t v)
{
	je_set(e, o, key, json_integer((json_int_t)v));
}

void je_sint_opt(struct je *e, json_t *o, const char *key, int64_t v)
{
	if (v)
		je_sint(e, o, key, v);
}

void je_bool(struct je *e, json_t *o, const char *key, bool v)
{
	je_set(e, o, key, json_boolean(v));
}

void je_bool_opt(struct je *e, json_t *o, const char *key, bool v)
{
	if (v)
		je_bool(e, o, key, v);
}

void je_value_opt(struct je *e, json_t *o, const char *key, json_t *v)
{
	if (v)
		je_set(e, o, key, json_incref(v));
}

void je_strv_opt(struct je *e, json_t *o, const char *key, const char *const *v, size_t n)
{
	json_t *arr;

	if (n == 0 || e->rc < 0)
		return;
	arr = je_array(e);
	for (size_t i = 0; i < n && arr; i++) {
		json_t *s = json_string(v[i] ? v[i] : "");
		if (!s) {
			e->rc = gcs_error_set(e->err, -EINVAL, HR_INVALIDARG,
					      "encode %s[%zu]: string is not valid UTF-8", key, i);
			break;
		}
		je_append(e, arr, s);
	}
	je_set(e, o, key, arr);
}

void je_inner(struct je *e, json_t *o, const char *key, json_t *v)
{
	char *s;

	if (e->rc < 0)
		return;
	s = gcs_proto_json_dumps(v, GCS_PROTO_STYLE_GUEST);
	if (!s) {
		e->rc = gcs_error_set(e->err, -ENOMEM, HR_FAIL, "encode %s: out of memory", key);
		return;
	}
	je_set(e, o, key, json_string(s));
	free(s);
}

json_t *je_object(struct je *e)
{
	json_t *o = json_object();

	if (!o && e->rc >= 0)
		e->rc = gcs_error_set(e->err, -ENOMEM, HR_FAIL, "encode: out of memory");
	return o;
}

json_t *je_array(struct je *e)
{
	json_t *a = json_array();

	if (!a && e->rc >= 0)
		e->rc = gcs_error_set(e->err, -ENOMEM, HR_FAIL, "encode: out of memory");
	return a;
}

void je_append(struct je *e, json_t *arr, json_t *v_new)
{
	if (e->rc < 0 || !arr || !v_new) {
		if (e->rc >= 0)
			e->rc = gcs_error_set(e->err, -ENOMEM, HR_FAIL, "encode: out of memory");
		json_decref(v_new);
		return;
	}
	if (json_array_append_new(arr, v_new) < 0)
		e->rc = gcs_error_set(e->err, -ENOMEM, HR_FAIL, "encode: out of memory");
}

/*
 * Go's json.Marshal escapes <, > and & (HTML safety) and U+2028/U+2029; jansson does not.
 * Those bytes can only occur inside strings of the compact text, so a byte rewrite is exact.
 */
static char *go_escape(char *s)
{
	size_t extra = 0, len = 0;
	char *out, *q;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++, len++) {
		if (*p == '<' || *p == '>' || *p == '&')
			extra += 5;
		else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
			extra += 3;
	}
	if (extra == 0)
		return s;
	out = malloc(len + extra + 1);
	if (!out) {
		free(s);
		return NULL;
	}
	q = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '<' || *p == '>' || *p == '&') {
			q += sprintf(q, "\\u%04x", *p);
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			q += sprintf(q, "\\u%04x", p[2] == 0xa8 ? 0x2028 : 0x2029);
			p += 2;
		} else {
			*q++ = (char)*p;
		}
	}
	*q = '\0';
	free(s);
	return out;
}

char *gcs_proto_json_dumps(const json_t *v, enum gcs_proto_style style)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	if (!s)
		return NULL;
	if (style == GCS_PROTO_STYLE_GUEST)
		return go_escape(s);
	return s;
}
