/*
 * JSON to protobuf-c by descriptor: the agent's LCOWMetrics as containerd's cgroup v1 Metrics.
 * The walk follows the descriptor's fields, not the JSON keys, so unknown keys cost nothing and
 * the first error is the same whatever the key order.
 */
#include "metrics.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"

/* Only recursive message types can nest this deep; a guard against a hostile JSON. */
#define MAX_DEPTH 32

struct conv {
	const char *top; /* the message's name, for errors about the object itself */
	char path[256]; /* "memory.usage.limit", "hugetlb[1].pagesize" */
	size_t plen;
	char *err;
	size_t len;
	int depth;
};

static int message(struct conv *c, const ProtobufCMessageDescriptor *desc, const json_t *obj,
		   ProtobufCMessage **ret);

static const char *kind(const json_t *v)
{
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}

/* Writes "<path>: <reason>" into the caller's buffer and returns rc. */
__attribute__((format(printf, 3, 4))) static int fail(struct conv *c, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->len)
		return rc;
	n = snprintf(c->err, c->len, "%s: ", c->plen ? c->path : c->top);
	if (n >= 0 && (size_t)n < c->len) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Appends a path component; returns the length to go back to. A path too long is cut. */
__attribute__((format(printf, 2, 3))) static size_t push(struct conv *c, const char *fmt, ...)
{
	size_t mark = c->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->path + c->plen, sizeof(c->path) - c->plen, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->plen += (size_t)n < sizeof(c->path) - c->plen ? (size_t)n :
								   sizeof(c->path) - c->plen - 1;
	return mark;
}

static void pop(struct conv *c, size_t mark)
{
	c->plen = mark;
	c->path[mark] = '\0';
}

/* A JSON integer, or an integral real, in [0, max]. */
static int get_u64(struct conv *c, const json_t *v, uint64_t max, uint64_t *ret)
{
	uint64_t u;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || (uint64_t)i > max)
			return fail(c, -ERANGE, "%" JSON_INTEGER_FORMAT " is out of range", i);
		*ret = (uint64_t)i;
		return 0;
	}
	if (!json_is_real(v))
		return fail(c, -EINVAL, "expected an integer, got %s", kind(v));
	double d = json_real_value(v);
	/* UINT64_MAX has no double: a parser that reads big integers as reals gives 2^64. */
	if (d == 0x1p64 && max == UINT64_MAX) {
		*ret = UINT64_MAX;
		return 0;
	}
	if (!(d >= 0 && d < 0x1p64))
		return fail(c, -ERANGE, "%g is out of range", d);
	u = (uint64_t)d;
	if ((double)u != d)
		return fail(c, -EINVAL, "%g is not an integer", d);
	if (u > max)
		return fail(c, -ERANGE, "%g is out of range", d);
	*ret = u;
	return 0;
}

/* A JSON integer, or an integral real, in [min, max]. */
static int get_i64(struct conv *c, const json_t *v, int64_t min, int64_t max, int64_t *ret)
{
	int64_t i;

	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i < min || i > max)
			return fail(c, -ERANGE, "%" PRId64 " is out of range", i);
		*ret = i;
		return 0;
	}
	if (!json_is_real(v))
		return fail(c, -EINVAL, "expected an integer, got %s", kind(v));
	double d = json_real_value(v);
	if (!(d >= -0x1p63 && d < 0x1p63))
		return fail(c, -ERANGE, "%g is out of range", d);
	i = (int64_t)d;
	if ((double)i != d)
		return fail(c, -EINVAL, "%g is not an integer", d);
	if (i < min || i > max)
		return fail(c, -ERANGE, "%g is out of range", d);
	*ret = i;
	return 0;
}

static int get_enum(struct conv *c, const ProtobufCFieldDescriptor *f, const json_t *v, int *slot)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	int64_t i;
	int r;

	if (json_is_string(v)) {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));

		if (!ev)
			return fail(c, -EINVAL, "\"%s\" is not a value of %s", json_string_value(v),
				    ed->name);
		*slot = ev->value;
		return 0;
	}
	r = get_i64(c, v, INT32_MIN, INT32_MAX, &i);
	if (r < 0)
		return r;
	*slot = (int)i;
	return 0;
}

/* One non-message value into slot (a field, or an element of a repeated field's array). */
static int scalar(struct conv *c, const ProtobufCFieldDescriptor *f, const json_t *v, void *slot)
{
	uint64_t u;
	int64_t i;
	double d;
	char *s;
	int r;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		r = get_i64(c, v, INT32_MIN, INT32_MAX, &i);
		if (r >= 0)
			*(int32_t *)slot = (int32_t)i;
		return r;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		r = get_i64(c, v, INT64_MIN, INT64_MAX, &i);
		if (r >= 0)
			*(int64_t *)slot = i;
		return r;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		r = get_u64(c, v, UINT32_MAX, &u);
		if (r >= 0)
			*(uint32_t *)slot = (uint32_t)u;
		return r;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		r = get_u64(c, v, UINT64_MAX, &u);
		if (r >= 0)
			*(uint64_t *)slot = u;
		return r;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(v))
			return fail(c, -EINVAL, "expected a number, got %s", kind(v));
		d = json_number_value(v);
		if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
			*(double *)slot = d;
			return 0;
		}
		if (d > FLT_MAX || d < -FLT_MAX)
			return fail(c, -ERANGE, "%g is out of range", d);
		*(float *)slot = (float)d;
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return fail(c, -EINVAL, "expected a boolean, got %s", kind(v));
		*(protobuf_c_boolean *)slot = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return get_enum(c, f, v, slot);
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(v))
			return fail(c, -EINVAL, "expected a string, got %s", kind(v));
		if (strlen(json_string_value(v)) != json_string_length(v))
			return fail(c, -EINVAL, "a string holding a NUL");
		s = strdup(json_string_value(v));
		if (!s)
			return fail(c, -ENOMEM, "out of memory");
		/* What was there is the field's static default: nothing to free. */
		*(char **)slot = s;
		return 0;
	case PROTOBUF_C_TYPE_BYTES:
		return fail(c, -EOPNOTSUPP, "bytes fields are not supported");
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	}
	return fail(c, -EOPNOTSUPP, "field type %d is not supported", (int)f->type);
}

static int value(struct conv *c, const ProtobufCFieldDescriptor *f, const json_t *v, void *slot)
{
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return message(c, f->descriptor, v, (ProtobufCMessage **)slot);
	return scalar(c, f, v, slot);
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sizeof(uint32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int); /* protobuf-c makes its enums int-sized */
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/*
 * A repeated field: the array is the message's as soon as it is allocated and its count grows
 * with each element made whole, so protobuf_c_message_free_unpacked frees exactly what exists
 * when an element fails.
 */
static int repeated(struct conv *c, const ProtobufCFieldDescriptor *f, const json_t *v, char *base)
{
	size_t *n = (size_t *)(base + f->quantifier_offset);
	void **arr = (void **)(base + f->offset);
	size_t size = elem_size(f->type), count;
	int r;

	if (!json_is_array(v))
		return fail(c, -EINVAL, "expected an array, got %s", kind(v));
	count = json_array_size(v);
	if (!count)
		return 0;
	if (!size)
		return fail(c, -EOPNOTSUPP, "field type %d is not supported", (int)f->type);
	*arr = calloc(count, size);
	if (!*arr)
		return fail(c, -ENOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		size_t mark = push(c, "[%zu]", i);

		r = value(c, f, json_array_get(v, i), (char *)*arr + i * size);
		pop(c, mark);
		if (r < 0)
			return r;
		(*n)++;
	}
	return 0;
}

static int field(struct conv *c, const ProtobufCFieldDescriptor *f, const json_t *v,
		 ProtobufCMessage *m)
{
	char *base = (char *)m;
	uint32_t *oneof_case = NULL;
	int r;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return repeated(c, f, v, base);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		oneof_case = (uint32_t *)(base + f->quantifier_offset);
		/* Its members share one union: a second one would overwrite the first. */
		if (*oneof_case) {
			const ProtobufCFieldDescriptor *other =
				protobuf_c_message_descriptor_get_field(m->descriptor, *oneof_case);

			return fail(c, -EINVAL, "in one oneof with %s, which is set too",
				    other ? other->name : "another field");
		}
	}
	r = value(c, f, v, base + f->offset);
	if (r < 0)
		return r;
	if (oneof_case)
		*oneof_case = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
		*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1; /* proto2's has_ */
	return 0;
}

/* A whole message, or nothing: on failure what was made of it is freed. */
static int message(struct conv *c, const ProtobufCMessageDescriptor *desc, const json_t *obj,
		   ProtobufCMessage **ret)
{
	ProtobufCMessage *m;
	int r = 0;

	if (!json_is_object(obj))
		return fail(c, -EINVAL, "expected an object, got %s", kind(obj));
	if (c->depth >= MAX_DEPTH)
		return fail(c, -EINVAL, "nested more than %d deep", MAX_DEPTH);
	m = malloc(desc->sizeof_message);
	if (!m)
		return fail(c, -ENOMEM, "out of memory");
	protobuf_c_message_init(desc, m);
	c->depth++;
	for (unsigned i = 0; i < desc->n_fields && r >= 0; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const json_t *v = json_object_get(obj, f->name);
		size_t mark;

		if (!v || json_is_null(v))
			continue;
		mark = push(c, "%s%s", c->plen ? "." : "", f->name);
		r = field(c, f, v, m);
		pop(c, mark);
	}
	c->depth--;
	if (r < 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return r;
	}
	*ret = m;
	return 0;
}

int metrics_message_from_json(const ProtobufCMessageDescriptor *desc, const json_t *obj,
			      ProtobufCMessage **ret, char *err, size_t len)
{
	struct conv c = { .top = desc->name, .err = err, .len = len };

	return message(&c, desc, obj, ret);
}

int metrics_stats_any(const json_t *lcow_metrics, Google__Protobuf__Any *ret, char *err, size_t len)
{
	ProtobufCMessage *m;
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_free_ char *url = NULL;
	size_t size;
	int r;

	r = metrics_message_from_json(&io__containerd__cgroups__v1__metrics__descriptor,
				      lcow_metrics, &m, err, len);
	if (r < 0)
		return r;
	size = protobuf_c_message_get_packed_size(m);
	data = malloc(size ? size : 1);
	url = strdup(METRICS_V1_TYPE_URL);
	if (data && url)
		protobuf_c_message_pack(m, data);
	protobuf_c_message_free_unpacked(m, NULL);
	if (!data || !url) {
		if (len)
			snprintf(err, len, "%s: out of memory", METRICS_V1_TYPE_URL);
		return -ENOMEM;
	}
	ret->type_url = TAKE_PTR(url);
	ret->value.data = TAKE_PTR(data);
	ret->value.len = size;
	return 0;
}
