/* HRESULT names and the gcs_error helpers. */
#include "gcs/hresult.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"

static const struct {
	int32_t hr;
	const char *name;
} hresult_names[] = {
	{ HR_OK, "S_OK" },
	{ HR_NOTIMPL, "E_NOTIMPL" },
	{ HR_FAIL, "E_FAIL" },
	{ HR_NOT_FOUND, "ERROR_NOT_FOUND" },
	{ HR_INVALIDARG, "E_INVALIDARG" },
	{ HR_VMCOMPUTE_TIMEOUT, "HCS_E_VMCOMPUTE_TIMEOUT" },
	{ HR_UNKNOWN_MESSAGE, "HCS_E_UNKNOWN_MESSAGE" },
	{ HR_UNSUPPORTED_PROTOCOL_VERSION, "HCS_E_UNSUPPORTED_PROTOCOL_VERSION" },
	{ HR_INVALID_JSON, "HCS_E_INVALID_JSON" },
	{ HR_SYSTEM_NOT_FOUND, "HCS_E_SYSTEM_NOT_FOUND" },
	{ HR_SYSTEM_ALREADY_EXISTS, "HCS_E_SYSTEM_ALREADY_EXISTS" },
	{ HR_SYSTEM_ALREADY_STOPPED, "HCS_E_SYSTEM_ALREADY_STOPPED" },
	{ HR_INVALID_STATE, "HCS_E_INVALID_STATE" },
};

const char *gcs_proto_hresult_name(int32_t hr)
{
	for (size_t i = 0; i < ARRAY_SIZE(hresult_names); i++)
		if (hresult_names[i].hr == hr)
			return hresult_names[i].name;
	return NULL;
}

int gcs_error_setv(struct gcs_error *err, int neg_errno, int32_t hresult, const char *fmt,
		   va_list ap)
{
	if (!err)
		return neg_errno;
	err->hresult = hresult == HR_OK ? HR_FAIL : hresult;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	return neg_errno;
}

int gcs_error_set(struct gcs_error *err, int neg_errno, int32_t hresult, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gcs_error_setv(err, neg_errno, hresult, fmt, ap);
	va_end(ap);
	return neg_errno;
}

int gcs_error_prefix(struct gcs_error *err, int neg_errno, const char *fmt, ...)
{
	char prefix[GCS_ERROR_MESSAGE_MAX];
	char old[GCS_ERROR_MESSAGE_MAX];
	va_list ap;

	if (!err)
		return neg_errno;
	if (err->hresult == HR_OK) {
		err->hresult = HR_FAIL;
		snprintf(err->message, sizeof(err->message), "%s",
			 strerror(neg_errno < 0 ? -neg_errno : EIO));
	}
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof(old));
	/* prefix + ": " + old, cut at the buffer's end */
	size_t cap = sizeof(err->message) - 1, n = strnlen(prefix, cap);
	memcpy(err->message, prefix, n);
	for (const char *s = ": "; *s && n < cap; s++)
		err->message[n++] = *s;
	size_t m = strnlen(old, cap - n);
	memcpy(err->message + n, old, m);
	err->message[n + m] = '\0';
	return neg_errno;
}

void gcs_error_clear(struct gcs_error *err)
{
	if (!err)
		return;
	err->hresult = HR_OK;
	err->message[0] = '\0';
}
