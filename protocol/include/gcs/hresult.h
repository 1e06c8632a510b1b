/* HRESULTs used on the bridge (spec section 6) and the error value every request path carries. */
#pragma once

#include <stdarg.h>
#include <stdint.h>

#include "gcs/export.h"

#define HR_OK ((int32_t)0)
#define HR_NOTIMPL ((int32_t)0x80004001)
#define HR_FAIL ((int32_t)0x80004005)
#define HR_NOT_FOUND ((int32_t)0x80070490) /* ERROR_NOT_FOUND: process gone */
#define HR_INVALIDARG ((int32_t)0x80070057)
#define HR_VMCOMPUTE_TIMEOUT ((int32_t)0xC0370109) /* WaitForProcess timed out */
#define HR_UNKNOWN_MESSAGE ((int32_t)0xC037010B)
#define HR_UNSUPPORTED_PROTOCOL_VERSION ((int32_t)0xC037010C)
#define HR_INVALID_JSON ((int32_t)0xC037010D)
#define HR_SYSTEM_NOT_FOUND ((int32_t)0xC037010E)
#define HR_SYSTEM_ALREADY_EXISTS ((int32_t)0xC037010F)
#define HR_SYSTEM_ALREADY_STOPPED ((int32_t)0xC0370110)
#define HR_INVALID_STATE ((int32_t)0x80370105)

/* Symbolic name of an HRESULT ("HCS_E_INVALID_JSON"), or NULL when it is not one of the above. */
GCS_PROTO_EXPORT const char *gcs_proto_hresult_name(int32_t hr);

#define GCS_ERROR_MESSAGE_MAX 512

/*
 * The error of a request path: an HRESULT for the wire plus a message. Caller-owned, no heap.
 * hresult == HR_OK means "no error recorded".
 */
struct gcs_error {
	int32_t hresult;
	char message[GCS_ERROR_MESSAGE_MAX];
};

/*
 * Records an error and returns neg_errno, so that handlers can write
 *   return gcs_error_set(err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s", id);
 * err may be NULL. hresult HR_OK is replaced by HR_FAIL.
 */
GCS_PROTO_EXPORT int gcs_error_set(struct gcs_error *err, int neg_errno, int32_t hresult,
				   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
GCS_PROTO_EXPORT int gcs_error_setv(struct gcs_error *err, int neg_errno, int32_t hresult,
				    const char *fmt, va_list ap);

/*
 * Adds context in front of the recorded message while unwinding ("create c1: <message>") and
 * returns neg_errno. When nothing was recorded yet, records strerror(-neg_errno) with HR_FAIL.
 */
GCS_PROTO_EXPORT int gcs_error_prefix(struct gcs_error *err, int neg_errno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

GCS_PROTO_EXPORT void gcs_error_clear(struct gcs_error *err);
