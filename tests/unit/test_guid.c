/* Unit tests of protocol/guid.c: text form, null GUID, vsock service GUIDs, SCSI controllers. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "gcs/guid.h"
#include "testutil.h"

/* SCSI controller 0 (spec section 10.1), used as the round-trip vector. */
#define SCSI0 "df6d0690-79e5-55b6-a5ec-c1e2f77f580a"

/* A value that no parse of the inputs below can produce: proves ret is left alone on failure. */
static const struct gcs_guid sentinel = { 0x5a5a5a5a,
					  0x5a5a,
					  0x5a5a,
					  { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a } };

static void assert_parse_fails(const char *s)
{
	struct gcs_guid g = sentinel;

	ck_assert_msg(gcs_proto_guid_parse(s, &g) == -EINVAL, "parse accepted \"%s\"",
		      s ? s : "(null)");
	ck_assert_msg(memcmp(&g, &sentinel, sizeof(g)) == 0, "parse of \"%s\" wrote ret",
		      s ? s : "(null)");
	ck_assert_msg(!gcs_proto_guid_valid(s), "valid(\"%s\") is true", s ? s : "(null)");
}

START_TEST(test_parse_fields)
{
	static const uint8_t data4[8] = { 0xa5, 0xec, 0xc1, 0xe2, 0xf7, 0x7f, 0x58, 0x0a };
	struct gcs_guid g;

	ck_assert_int_eq(gcs_proto_guid_parse(SCSI0, &g), 0);
	ck_assert_uint_eq(g.data1, 0xdf6d0690u);
	ck_assert_uint_eq(g.data2, 0x79e5u);
	ck_assert_uint_eq(g.data3, 0x55b6u);
	ck_assert_mem_eq(g.data4, data4, sizeof(data4));
}
END_TEST

START_TEST(test_round_trip)
{
	struct gcs_guid g;
	char buf[37];

	ck_assert_int_eq(gcs_proto_guid_parse(SCSI0, &g), 0);
	ck_assert_ptr_eq(gcs_proto_guid_format(&g, buf), buf);
	ck_assert_str_eq(buf, SCSI0);
}
END_TEST

START_TEST(test_uppercase_accepted_formatted_lowercase)
{
	struct gcs_guid lower, upper, mixed;
	char buf[37];

	ck_assert_int_eq(gcs_proto_guid_parse(SCSI0, &lower), 0);
	ck_assert_int_eq(gcs_proto_guid_parse("DF6D0690-79E5-55B6-A5EC-C1E2F77F580A", &upper), 0);
	ck_assert_int_eq(gcs_proto_guid_parse("Df6D0690-79e5-55B6-a5Ec-C1e2F77f580A", &mixed), 0);
	ck_assert_mem_eq(&upper, &lower, sizeof(lower));
	ck_assert_mem_eq(&mixed, &lower, sizeof(lower));
	ck_assert_str_eq(gcs_proto_guid_format(&upper, buf), SCSI0);
	ck_assert(gcs_proto_guid_valid("DF6D0690-79E5-55B6-A5EC-C1E2F77F580A"));
}
END_TEST

START_TEST(test_format_writes_exactly_37_bytes)
{
	struct gcs_guid g;
	char buf[40];

	memset(buf, 'X', sizeof(buf));
	memset(&g, 0xff, sizeof(g));
	gcs_proto_guid_format(&g, buf);
	ck_assert_str_eq(buf, "ffffffff-ffff-ffff-ffff-ffffffffffff");
	ck_assert_uint_eq(strlen(buf), GCS_GUID_STRING_LEN);
	ck_assert_int_eq(buf[37], 'X');
}
END_TEST

START_TEST(test_null_guid)
{
	struct gcs_guid g = sentinel;
	char buf[37];

	ck_assert_int_eq(gcs_proto_guid_parse(GCS_NULL_GUID_STRING, &g), 0);
	ck_assert(gcs_proto_guid_is_null(&g));
	ck_assert_str_eq(gcs_proto_guid_format(&g, buf), GCS_NULL_GUID_STRING);

	/* A single non-zero byte anywhere makes it non-null. */
	for (size_t i = 0; i < sizeof(g); i++) {
		struct gcs_guid h = { 0 };
		((uint8_t *)&h)[i] = 1;
		ck_assert_msg(!gcs_proto_guid_is_null(&h), "byte %zu set, still null", i);
	}
	ck_assert_int_eq(gcs_proto_guid_parse("00000000-0000-0000-0000-000000000001", &g), 0);
	ck_assert(!gcs_proto_guid_is_null(&g));
	ck_assert_int_eq(gcs_proto_guid_parse(SCSI0, &g), 0);
	ck_assert(!gcs_proto_guid_is_null(&g));
}
END_TEST

START_TEST(test_invalid_length)
{
	assert_parse_fails("");
	assert_parse_fails(NULL);
	/* 35 and 37 characters. */
	assert_parse_fails("df6d0690-79e5-55b6-a5ec-c1e2f77f580");
	assert_parse_fails("df6d0690-79e5-55b6-a5ec-c1e2f77f580a0");
	assert_parse_fails("df6d0690-79e5-55b6-a5ec-c1e2f77f580a-");
	/* Braced form (Windows registry style) is not the wire form. */
	assert_parse_fails("{df6d0690-79e5-55b6-a5ec-c1e2f77f580a}");
	/* No dashes at all (32 hex digits). */
	assert_parse_fails("df6d069079e555b6a5ecc1e2f77f580a");
}
END_TEST

START_TEST(test_invalid_dashes)
{
	static const unsigned dashes[] = { 8, 13, 18, 23 };

	/* One dash missing (35 chars). */
	assert_parse_fails("df6d069079e5-55b6-a5ec-c1e2f77f580a");
	assert_parse_fails("df6d0690-79e5-55b6-a5ecc1e2f77f580a");
	for (size_t i = 0; i < sizeof(dashes) / sizeof(dashes[0]); i++) {
		char s[] = SCSI0;
		unsigned d = dashes[i];

		/* The dash replaced by a hex digit: still 36 chars. */
		s[d] = 'a';
		assert_parse_fails(s);
		/* The dash swapped with its left neighbour: 36 chars, 4 dashes, wrong place. */
		s[d] = s[d - 1];
		s[d - 1] = '-';
		ck_assert_uint_eq(strlen(s), GCS_GUID_STRING_LEN);
		assert_parse_fails(s);
		/* ... and with its right neighbour. */
		memcpy(s, SCSI0, sizeof(s));
		s[d] = s[d + 1];
		s[d + 1] = '-';
		assert_parse_fails(s);
	}
}
END_TEST

START_TEST(test_invalid_hex)
{
	char s[] = SCSI0;

	/* A non-hex character in every non-dash position must be rejected. */
	for (size_t i = 0; i < GCS_GUID_STRING_LEN; i++) {
		static const char bad[] = { 'g', 'G', 'x', ' ', '+', '-', ':', '\x80' };
		char saved = s[i];

		if (saved == '-')
			continue;
		for (size_t j = 0; j < sizeof(bad); j++) {
			s[i] = bad[j];
			assert_parse_fails(s);
		}
		s[i] = saved;
	}
	ck_assert(gcs_proto_guid_valid(s));
}
END_TEST

START_TEST(test_valid)
{
	ck_assert(gcs_proto_guid_valid(SCSI0));
	ck_assert(gcs_proto_guid_valid(GCS_NULL_GUID_STRING));
	ck_assert(gcs_proto_guid_valid("40000000-facb-11e6-bd58-64006a7986d3"));
	ck_assert(!gcs_proto_guid_valid("not-a-guid"));
	ck_assert(!gcs_proto_guid_valid(""));
	ck_assert(!gcs_proto_guid_valid(NULL));
}
END_TEST

START_TEST(test_vsock_port)
{
	static const struct {
		uint32_t port;
		const char *text;
	} cases[] = {
		{ 0x40000000u, "40000000-facb-11e6-bd58-64006a7986d3" }, /* the bridge */
		{ 1, "00000001-facb-11e6-bd58-64006a7986d3" }, /* entropy */
		{ 109, "0000006d-facb-11e6-bd58-64006a7986d3" }, /* log */
		{ 0x40000001u, "40000001-facb-11e6-bd58-64006a7986d3" }, /* first stdio */
		{ 0, "00000000-facb-11e6-bd58-64006a7986d3" },
		{ 0xffffffffu, "ffffffff-facb-11e6-bd58-64006a7986d3" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gcs_guid g, parsed;
		char buf[37];

		gcs_proto_guid_from_vsock_port(cases[i].port, &g);
		ck_assert_uint_eq(g.data1, cases[i].port);
		ck_assert_str_eq(gcs_proto_guid_format(&g, buf), cases[i].text);
		ck_assert_int_eq(gcs_proto_guid_parse(cases[i].text, &parsed), 0);
		ck_assert_mem_eq(&parsed, &g, sizeof(g));
		ck_assert(!gcs_proto_guid_is_null(&g));
	}
}
END_TEST

START_TEST(test_scsi_controllers)
{
	/* Spec section 10.1, by controller index. */
	static const char *const expected[GCS_SCSI_CONTROLLERS] = {
		"df6d0690-79e5-55b6-a5ec-c1e2f77f580a",
		"0110f83b-de10-5172-a266-78bca56bf50a",
		"b5d2d8d4-3a75-51bf-945b-3444dc6b8579",
		"305891a9-b251-5dfe-91a2-c25d9212275b",
	};

	ck_assert_int_eq(GCS_SCSI_CONTROLLERS, 4);
	for (unsigned i = 0; i < GCS_SCSI_CONTROLLERS; i++) {
		const char *g = gcs_proto_scsi_controller_guid(i);

		ck_assert_ptr_nonnull(g);
		ck_assert_str_eq(g, expected[i]);
		ck_assert(gcs_proto_guid_valid(g));
	}
	ck_assert_ptr_null(gcs_proto_scsi_controller_guid(4));
	ck_assert_ptr_null(gcs_proto_scsi_controller_guid(UINT_MAX));
}
END_TEST

static Suite *guid_suite(void)
{
	Suite *s = suite_create("guid");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_fields);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_uppercase_accepted_formatted_lowercase);
	tcase_add_test(tc, test_format_writes_exactly_37_bytes);
	tcase_add_test(tc, test_null_guid);
	tcase_add_test(tc, test_invalid_length);
	tcase_add_test(tc, test_invalid_dashes);
	tcase_add_test(tc, test_invalid_hex);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_vsock_port);
	tcase_add_test(tc, test_scsi_controllers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(guid_suite());
}
