/* Unit tests of protocol/hresult.c: the spec section 6 table and the gcs_error helpers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gcs/hresult.h"
#include "testutil.h"

/* Spec section 6, "int32 decimal" column, plus S_OK. */
static const struct {
	int32_t hr;
	int64_t decimal;
	uint32_t hex;
	const char *name;
} spec_hresults[] = {
	{ HR_OK, 0, 0x00000000u, "S_OK" },
	{ HR_NOTIMPL, -2147467263, 0x80004001u, "E_NOTIMPL" },
	{ HR_FAIL, -2147467259, 0x80004005u, "E_FAIL" },
	{ HR_NOT_FOUND, -2147023728, 0x80070490u, "ERROR_NOT_FOUND" },
	{ HR_INVALIDARG, -2147024809, 0x80070057u, "E_INVALIDARG" },
	{ HR_VMCOMPUTE_TIMEOUT, -1070137079, 0xC0370109u, "HCS_E_VMCOMPUTE_TIMEOUT" },
	{ HR_UNKNOWN_MESSAGE, -1070137077, 0xC037010Bu, "HCS_E_UNKNOWN_MESSAGE" },
	{ HR_UNSUPPORTED_PROTOCOL_VERSION, -1070137076, 0xC037010Cu,
	  "HCS_E_UNSUPPORTED_PROTOCOL_VERSION" },
	{ HR_INVALID_JSON, -1070137075, 0xC037010Du, "HCS_E_INVALID_JSON" },
	{ HR_SYSTEM_NOT_FOUND, -1070137074, 0xC037010Eu, "HCS_E_SYSTEM_NOT_FOUND" },
	{ HR_SYSTEM_ALREADY_EXISTS, -1070137073, 0xC037010Fu, "HCS_E_SYSTEM_ALREADY_EXISTS" },
	{ HR_SYSTEM_ALREADY_STOPPED, -1070137072, 0xC0370110u, "HCS_E_SYSTEM_ALREADY_STOPPED" },
	{ HR_INVALID_STATE, -2143878907, 0x80370105u, "HCS_E_INVALID_STATE" },
};

#define N_SPEC (sizeof(spec_hresults) / sizeof(spec_hresults[0]))

START_TEST(test_values_match_spec)
{
	/* Spot checks written out, so that a wrong table above cannot hide a wrong macro. */
	ck_assert_int_eq(HR_NOTIMPL, -2147467263);
	ck_assert_int_eq(HR_SYSTEM_ALREADY_STOPPED, -1070137072);
	ck_assert_int_eq(HR_INVALID_STATE, -2143878907);

	for (size_t i = 0; i < N_SPEC; i++) {
		ck_assert_msg((int64_t)spec_hresults[i].hr == spec_hresults[i].decimal,
			      "%s: %d != %lld", spec_hresults[i].name, spec_hresults[i].hr,
			      (long long)spec_hresults[i].decimal);
		ck_assert_msg((uint32_t)spec_hresults[i].hr == spec_hresults[i].hex,
			      "%s: 0x%08x != 0x%08x", spec_hresults[i].name,
			      (uint32_t)spec_hresults[i].hr, spec_hresults[i].hex);
	}
}
END_TEST

START_TEST(test_constants_are_int32)
{
	/* The wire field is a signed 32-bit "Result"; the macros must not widen or go unsigned. */
	ck_assert_uint_eq(sizeof(HR_NOTIMPL), 4);
	ck_assert(HR_FAIL < 0);
	ck_assert(HR_VMCOMPUTE_TIMEOUT < 0);
	ck_assert(HR_INVALID_STATE < 0);
}
END_TEST

START_TEST(test_names)
{
	for (size_t i = 0; i < N_SPEC; i++) {
		const char *name = gcs_proto_hresult_name(spec_hresults[i].hr);

		ck_assert_msg(name != NULL, "no name for 0x%08x", (uint32_t)spec_hresults[i].hr);
		ck_assert_str_eq(name, spec_hresults[i].name);
	}
}
END_TEST

START_TEST(test_values_distinct)
{
	for (size_t i = 0; i < N_SPEC; i++)
		for (size_t j = i + 1; j < N_SPEC; j++)
			ck_assert_int_ne(spec_hresults[i].hr, spec_hresults[j].hr);
}
END_TEST

START_TEST(test_unknown_name)
{
	ck_assert_ptr_null(gcs_proto_hresult_name(1));
	ck_assert_ptr_null(gcs_proto_hresult_name(-1));
	ck_assert_ptr_null(gcs_proto_hresult_name((int32_t)0x80004002u)); /* E_NOINTERFACE */
	ck_assert_ptr_null(gcs_proto_hresult_name((int32_t)0xC037010Au));
	ck_assert_ptr_null(gcs_proto_hresult_name((int32_t)0xC0370111u));
	ck_assert_ptr_null(gcs_proto_hresult_name(INT32_MIN));
	ck_assert_ptr_null(gcs_proto_hresult_name(INT32_MAX));
}
END_TEST

START_TEST(test_error_set)
{
	struct gcs_error err = { 0 };

	ck_assert_int_eq(gcs_error_set(&err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s", "c1"),
			 -ENOENT);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);
	ck_assert_str_eq(err.message, "container c1");

	/* A second set replaces both fields. */
	ck_assert_int_eq(gcs_error_set(&err, -EINVAL, HR_INVALID_JSON, "bad %s at %d", "json", 7),
			 -EINVAL);
	ck_assert_int_eq(err.hresult, HR_INVALID_JSON);
	ck_assert_str_eq(err.message, "bad json at 7");

	/* Empty format. */
	ck_assert_int_eq(gcs_error_set(&err, -EIO, HR_FAIL, "%s", ""), -EIO);
	ck_assert_int_eq(err.hresult, HR_FAIL);
	ck_assert_str_eq(err.message, "");
}
END_TEST

START_TEST(test_error_set_ok_becomes_fail)
{
	struct gcs_error err = { 0 };

	ck_assert_int_eq(gcs_error_set(&err, -EBUSY, HR_OK, "busy"), -EBUSY);
	ck_assert_int_eq(err.hresult, HR_FAIL);
	ck_assert_str_eq(err.message, "busy");
}
END_TEST

START_TEST(test_error_set_null)
{
	ck_assert_int_eq(gcs_error_set(NULL, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s", "c1"),
			 -ENOENT);
	ck_assert_int_eq(gcs_error_prefix(NULL, -ENOENT, "create %s", "c1"), -ENOENT);
	gcs_error_clear(NULL);
}
END_TEST

START_TEST(test_error_prefix)
{
	struct gcs_error err = { 0 };

	gcs_error_set(&err, -ENODEV, HR_SYSTEM_NOT_FOUND, "mount %s", "/run/x");
	ck_assert_int_eq(gcs_error_prefix(&err, -ENODEV, "create %s", "c1"), -ENODEV);
	ck_assert_str_eq(err.message, "create c1: mount /run/x");
	/* The recorded HRESULT survives unwinding. */
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);

	ck_assert_int_eq(gcs_error_prefix(&err, -ENODEV, "request %d", 3), -ENODEV);
	ck_assert_str_eq(err.message, "request 3: create c1: mount /run/x");
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);
}
END_TEST

START_TEST(test_error_prefix_nothing_recorded)
{
	struct gcs_error err = { 0 };
	char want[GCS_ERROR_MESSAGE_MAX];

	ck_assert_int_eq(gcs_error_prefix(&err, -ENODEV, "mount %s", "/run/x"), -ENODEV);
	ck_assert_int_eq(err.hresult, HR_FAIL);
	snprintf(want, sizeof(want), "mount /run/x: %s", strerror(ENODEV));
	ck_assert_str_eq(err.message, want);

	/* A non-negative "errno" still yields a message (EIO's). */
	gcs_error_clear(&err);
	ck_assert_int_eq(gcs_error_prefix(&err, 0, "ctx"), 0);
	ck_assert_int_eq(err.hresult, HR_FAIL);
	snprintf(want, sizeof(want), "ctx: %s", strerror(EIO));
	ck_assert_str_eq(err.message, want);
}
END_TEST

static void assert_terminated_at_max(const struct gcs_error *err)
{
	ck_assert_uint_eq(strnlen(err->message, sizeof(err->message)), GCS_ERROR_MESSAGE_MAX - 1);
	ck_assert_int_eq(err->message[GCS_ERROR_MESSAGE_MAX - 1], '\0');
}

START_TEST(test_error_long_message)
{
	struct gcs_error err;
	char long_text[3 * GCS_ERROR_MESSAGE_MAX];

	memset(&err, 'Z', sizeof(err));
	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';

	ck_assert_int_eq(gcs_error_set(&err, -E2BIG, HR_FAIL, "%s!", long_text), -E2BIG);
	assert_terminated_at_max(&err);
	ck_assert_int_eq(err.message[0], 'a');
	ck_assert_int_eq(err.message[GCS_ERROR_MESSAGE_MAX - 2], 'a');

	/* Exactly fitting: MAX-1 characters are kept whole. */
	long_text[GCS_ERROR_MESSAGE_MAX - 1] = '\0';
	gcs_error_set(&err, -E2BIG, HR_FAIL, "%s", long_text);
	ck_assert_str_eq(err.message, long_text);
}
END_TEST

START_TEST(test_error_prefix_long)
{
	struct gcs_error err = { 0 };
	char long_text[3 * GCS_ERROR_MESSAGE_MAX];

	memset(long_text, 'p', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';

	/* A full message plus a short prefix: cut at the end, the prefix kept. */
	gcs_error_set(&err, -EIO, HR_FAIL, "%s", long_text);
	gcs_error_prefix(&err, -EIO, "ctx");
	assert_terminated_at_max(&err);
	ck_assert_mem_eq(err.message, "ctx: ppp", 8);

	/* A prefix longer than the buffer. */
	gcs_error_set(&err, -EIO, HR_INVALID_JSON, "inner");
	gcs_error_prefix(&err, -EIO, "%s", long_text);
	assert_terminated_at_max(&err);
	ck_assert_int_eq(err.message[0], 'p');
	ck_assert_int_eq(err.hresult, HR_INVALID_JSON);

	/* A prefix that leaves room for the ": " but not all of the old message. */
	long_text[GCS_ERROR_MESSAGE_MAX - 4] = '\0';
	gcs_error_set(&err, -EIO, HR_FAIL, "inner");
	gcs_error_prefix(&err, -EIO, "%s", long_text);
	assert_terminated_at_max(&err);
	ck_assert_mem_eq(err.message + GCS_ERROR_MESSAGE_MAX - 4, ": i", 3);

	/* Many prefixes in a row stay bounded. */
	for (int i = 0; i < 100; i++)
		gcs_error_prefix(&err, -EIO, "level %d", i);
	ck_assert_uint_lt(strnlen(err.message, sizeof(err.message)), GCS_ERROR_MESSAGE_MAX);
	ck_assert_mem_eq(err.message, "level 99: level 98: ", 20);
}
END_TEST

START_TEST(test_error_clear)
{
	struct gcs_error err = { 0 };
	char want[GCS_ERROR_MESSAGE_MAX];

	gcs_error_set(&err, -ENOENT, HR_SYSTEM_NOT_FOUND, "container %s", "c1");
	gcs_error_clear(&err);
	ck_assert_int_eq(err.hresult, HR_OK);
	ck_assert_str_eq(err.message, "");

	/* After a clear, prefix treats the error as unrecorded again. */
	gcs_error_prefix(&err, -ENOENT, "x");
	ck_assert_int_eq(err.hresult, HR_FAIL);
	snprintf(want, sizeof(want), "x: %s", strerror(ENOENT));
	ck_assert_str_eq(err.message, want);
}
END_TEST

static Suite *hresult_suite(void)
{
	Suite *s = suite_create("hresult");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_values_match_spec);
	tcase_add_test(tc, test_constants_are_int32);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_values_distinct);
	tcase_add_test(tc, test_unknown_name);
	tcase_add_test(tc, test_error_set);
	tcase_add_test(tc, test_error_set_ok_becomes_fail);
	tcase_add_test(tc, test_error_set_null);
	tcase_add_test(tc, test_error_prefix);
	tcase_add_test(tc, test_error_prefix_nothing_recorded);
	tcase_add_test(tc, test_error_long_message);
	tcase_add_test(tc, test_error_prefix_long);
	tcase_add_test(tc, test_error_clear);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(hresult_suite());
}
