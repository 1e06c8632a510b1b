/*
 * Internal helpers of the message codecs: Go encoding/json semantics on top of jansson.
 * Decoders record errors in a gcs_error (HCS_E_INVALID_JSON) and return -EBADMSG.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "gcs/messages.h"

struct jd {
	struct gcs_proto_owner *own;
	struct gcs_error *err;
};

/* Zeroed memory that lives as long as the decoded message. NULL on allocation failure. */
void *jd_alloc(struct jd *d, size_t size);
/* Keeps a parsed document alive with the message (takes the reference). */
int jd_keep(struct jd *d, json_t *doc);
/* Records a decode error and returns -EBADMSG. */
int jd_fail(struct jd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int jd_nomem(struct jd *d);

/*
 * A field's value as Go finds it: the exact key, else the first key equal ignoring ASCII case;
 * NULL when missing or null.
 */
json_t *jd_get(json_t *obj, const char *key);

/* Missing or null fields give the zero value. */
int jd_str(struct jd *d, json_t *obj, const char *key, const char **ret);
int jd_bool(struct jd *d, json_t *obj, const char *key, bool *ret);
int jd_uint(struct jd *d, json_t *obj, const char *key, uint64_t max, uint64_t *ret);
int jd_sint(struct jd *d, json_t *obj, const char *key, int64_t min, int64_t max, int64_t *ret);
int jd_u8(struct jd *d, json_t *obj, const char *key, uint8_t *ret);
int jd_u16(struct jd *d, json_t *obj, const char *key, uint16_t *ret);
int jd_u32(struct jd *d, json_t *obj, const char *key, uint32_t *ret);
int jd_u64(struct jd *d, json_t *obj, const char *key, uint64_t *ret);
int jd_i32(struct jd *d, json_t *obj, const char *key, int32_t *ret);
int jd_i64(struct jd *d, json_t *obj, const char *key, int64_t *ret);
/* A borrowed object or array (NULL when missing or null). */
int jd_object(struct jd *d, json_t *obj, const char *key, json_t **ret);
int jd_array(struct jd *d, json_t *obj, const char *key, json_t **ret);
/* An array of strings, copied into the message's memory. */
int jd_strv(struct jd *d, json_t *obj, const char *key, const char *const **ret, size_t *ret_n);
/* A string holding a JSON object (JSON inside a string); NULL when missing or "". */
int jd_inner(struct jd *d, json_t *obj, const char *key, json_t **ret);
/* A GUID string: must be valid when present; missing gives dflt. */
int jd_guid(struct jd *d, json_t *obj, const char *key, const char *dflt, const char **ret);

/* Encoding onto an object. The first failure sticks in rc; later calls do nothing. */
struct je {
	int rc;
	struct gcs_error *err;
};

void je_set(struct je *e, json_t *o, const char *key, json_t *v_new);
void je_str(struct je *e, json_t *o, const char *key, const char *s);
void je_str_opt(struct je *e, json_t *o, const char *key, const char *s);
void je_uint(struct je *e, json_t *o, const char *key, uint64_t v);
void je_uint_opt(struct je *e, json_t *o, const char *key, uint64_t v);
void je_sint(struct je *e, json_t *o, const char *key, int64_t v);
void je_sint_opt(struct je *e, json_t *o, const char *key, int64_t v);
void je_bool(struct je *e, json_t *o, const char *key, bool v);
void je_bool_opt(struct je *e, json_t *o, const char *key, bool v);
/* Borrowed value (a reference is taken); left out when NULL. */
void je_value_opt(struct je *e, json_t *o, const char *key, json_t *v);
void je_strv_opt(struct je *e, json_t *o, const char *key, const char *const *v, size_t n);
/* JSON inside a string: the object v serialized Go-style. */
void je_inner(struct je *e, json_t *o, const char *key, json_t *v);
json_t *je_object(struct je *e);
json_t *je_array(struct je *e);
void je_append(struct je *e, json_t *arr, json_t *v_new);
