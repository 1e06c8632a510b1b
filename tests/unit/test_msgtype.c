/* Unit tests of protocol/msgtype.c and the inline helpers of gcs/msgtype.h (spec section 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs/msgtype.h"
#include "testutil.h"

/* Spec section 3's table, literally: every header Type value next to the macro that names it. */
static const struct {
	const char *name;
	uint32_t req_hex, resp_hex;
	uint32_t req, resp;
} spec_rpcs[] = {
	{ "Create", 0x10100101u, 0x20100101u, GCS_MSG_CREATE_REQ, GCS_MSG_CREATE_RESP },
	{ "Start", 0x10100201u, 0x20100201u, GCS_MSG_START_REQ, GCS_MSG_START_RESP },
	{ "ShutdownGraceful", 0x10100301u, 0x20100301u, GCS_MSG_SHUTDOWN_GRACEFUL_REQ,
	  GCS_MSG_SHUTDOWN_GRACEFUL_RESP },
	{ "ShutdownForced", 0x10100401u, 0x20100401u, GCS_MSG_SHUTDOWN_FORCED_REQ,
	  GCS_MSG_SHUTDOWN_FORCED_RESP },
	{ "ExecuteProcess", 0x10100501u, 0x20100501u, GCS_MSG_EXECUTE_PROCESS_REQ,
	  GCS_MSG_EXECUTE_PROCESS_RESP },
	{ "WaitForProcess", 0x10100601u, 0x20100601u, GCS_MSG_WAIT_FOR_PROCESS_REQ,
	  GCS_MSG_WAIT_FOR_PROCESS_RESP },
	{ "SignalProcess", 0x10100701u, 0x20100701u, GCS_MSG_SIGNAL_PROCESS_REQ,
	  GCS_MSG_SIGNAL_PROCESS_RESP },
	{ "ResizeConsole", 0x10100801u, 0x20100801u, GCS_MSG_RESIZE_CONSOLE_REQ,
	  GCS_MSG_RESIZE_CONSOLE_RESP },
	{ "GetProperties", 0x10100901u, 0x20100901u, GCS_MSG_GET_PROPERTIES_REQ,
	  GCS_MSG_GET_PROPERTIES_RESP },
	{ "ModifySettings", 0x10100a01u, 0x20100a01u, GCS_MSG_MODIFY_SETTINGS_REQ,
	  GCS_MSG_MODIFY_SETTINGS_RESP },
	{ "NegotiateProtocol", 0x10100b01u, 0x20100b01u, GCS_MSG_NEGOTIATE_PROTOCOL_REQ,
	  GCS_MSG_NEGOTIATE_PROTOCOL_RESP },
	{ "DumpStacks", 0x10100c01u, 0x20100c01u, GCS_MSG_DUMP_STACKS_REQ,
	  GCS_MSG_DUMP_STACKS_RESP },
	{ "DeleteContainerState", 0x10100d01u, 0x20100d01u, GCS_MSG_DELETE_CONTAINER_STATE_REQ,
	  GCS_MSG_DELETE_CONTAINER_STATE_RESP },
	{ "UpdateContainer", 0x10100e01u, 0x20100e01u, GCS_MSG_UPDATE_CONTAINER_REQ,
	  GCS_MSG_UPDATE_CONTAINER_RESP },
	{ "LifecycleNotification", 0x10100f01u, 0x20100f01u, GCS_MSG_LIFECYCLE_NOTIFICATION_REQ,
	  GCS_MSG_LIFECYCLE_NOTIFICATION_RESP },
	{ "ModifyServiceSettings", 0x10200101u, 0x20200101u, GCS_MSG_MODIFY_SERVICE_SETTINGS_REQ,
	  GCS_MSG_MODIFY_SERVICE_SETTINGS_RESP },
};

#define N_RPCS (sizeof(spec_rpcs) / sizeof(spec_rpcs[0]))

/* Values the spec does not define. */
static const uint32_t unknown_types[] = {
	0x10109901u, /* RPC number 0x99 */
	0x30100201u, /* a notification other than the container one */
	0x40100101u, /* type nibble 4 */
	0x00100101u, /* no type nibble */
	0x10100b02u, /* message version 2 */
	0x10100001u, /* RPC number 0 */
	0x10101001u, /* RPC number 16 */
	0x10300101u, /* category 3 */
	0x10200201u, /* ComputeService RPC 2 */
	0x20109901u, 0x00000000u, 0xffffffffu,
};

#define N_UNKNOWN (sizeof(unknown_types) / sizeof(unknown_types[0]))

START_TEST(test_constants_match_spec)
{
	ck_assert_uint_eq(N_RPCS, 16);
	for (size_t i = 0; i < N_RPCS; i++) {
		ck_assert_msg(spec_rpcs[i].req == spec_rpcs[i].req_hex, "%s request 0x%08x",
			      spec_rpcs[i].name, spec_rpcs[i].req);
		ck_assert_msg(spec_rpcs[i].resp == spec_rpcs[i].resp_hex, "%s response 0x%08x",
			      spec_rpcs[i].name, spec_rpcs[i].resp);
	}
	ck_assert_uint_eq(GCS_MSG_CONTAINER_NOTIFY, 0x30100101u);
}
END_TEST

START_TEST(test_rpc_codes)
{
	/* Spec section 3: RPC code = category | (n << 8) | 1. */
	ck_assert_uint_eq(GCS_RPC_CREATE, 0x00100101u);
	ck_assert_uint_eq(GCS_RPC_NEGOTIATE_PROTOCOL, 0x00100b01u);
	ck_assert_uint_eq(GCS_RPC_LIFECYCLE_NOTIFICATION, 0x00100f01u);
	ck_assert_uint_eq(GCS_RPC_MODIFY_SERVICE_SETTINGS, 0x00200101u);
	ck_assert_uint_eq(GCS_MSG_TYPE_MASK, 0xF0000000u);
	ck_assert_uint_eq(GCS_MSG_REQUEST, 0x10000000u);
	ck_assert_uint_eq(GCS_MSG_RESPONSE, 0x20000000u);
	ck_assert_uint_eq(GCS_MSG_NOTIFY, 0x30000000u);
}
END_TEST

START_TEST(test_response_request_type)
{
	ck_assert_uint_eq(gcs_msg_response_type(0x10100b01u), 0x20100b01u);
	ck_assert_uint_eq(gcs_msg_request_type(0x20100b01u), 0x10100b01u);
	for (size_t i = 0; i < N_RPCS; i++) {
		ck_assert_uint_eq(gcs_msg_response_type(spec_rpcs[i].req_hex),
				  spec_rpcs[i].resp_hex);
		ck_assert_uint_eq(gcs_msg_request_type(spec_rpcs[i].resp_hex),
				  spec_rpcs[i].req_hex);
		/* Idempotent on values already of the target kind. */
		ck_assert_uint_eq(gcs_msg_response_type(spec_rpcs[i].resp_hex),
				  spec_rpcs[i].resp_hex);
		ck_assert_uint_eq(gcs_msg_request_type(spec_rpcs[i].req_hex), spec_rpcs[i].req_hex);
	}
	/* The formula is 0x20000000 | (type & 0x0FFFFFFF), whatever the low bits are. */
	ck_assert_uint_eq(gcs_msg_response_type(0x1abcdef7u), 0x2abcdef7u);
	ck_assert_uint_eq(gcs_msg_request_type(0x2abcdef7u), 0x1abcdef7u);
}
END_TEST

START_TEST(test_kind_predicates)
{
	for (size_t i = 0; i < N_RPCS; i++) {
		uint32_t req = spec_rpcs[i].req_hex, resp = spec_rpcs[i].resp_hex;

		ck_assert(gcs_msg_is_request(req));
		ck_assert(!gcs_msg_is_response(req));
		ck_assert(!gcs_msg_is_notification(req));
		ck_assert(!gcs_msg_is_request(resp));
		ck_assert(gcs_msg_is_response(resp));
		ck_assert(!gcs_msg_is_notification(resp));
	}
	ck_assert(gcs_msg_is_notification(GCS_MSG_CONTAINER_NOTIFY));
	ck_assert(!gcs_msg_is_request(GCS_MSG_CONTAINER_NOTIFY));
	ck_assert(!gcs_msg_is_response(GCS_MSG_CONTAINER_NOTIFY));
	ck_assert(gcs_msg_is_notification(0x30100201u));
	ck_assert(!gcs_msg_is_request(0x40100101u));
	ck_assert(!gcs_msg_is_response(0x40100101u));
	ck_assert(!gcs_msg_is_notification(0x40100101u));
	ck_assert(!gcs_msg_is_request(0x00100101u));
}
END_TEST

START_TEST(test_rpc_name)
{
	for (size_t i = 0; i < N_RPCS; i++) {
		const char *a = gcs_proto_rpc_name(spec_rpcs[i].req_hex);
		const char *b = gcs_proto_rpc_name(spec_rpcs[i].resp_hex);

		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		ck_assert_str_eq(a, spec_rpcs[i].name);
		ck_assert_str_eq(b, spec_rpcs[i].name);
	}
	ck_assert_ptr_null(gcs_proto_rpc_name(0x10109901u));
	ck_assert_ptr_null(gcs_proto_rpc_name(0x10100b02u));
	ck_assert_ptr_null(gcs_proto_rpc_name(0x10200201u));
	ck_assert_ptr_null(gcs_proto_rpc_name(0));
	/* The notification shares Create's low bits but is not an RPC. */
	ck_assert_ptr_null(gcs_proto_rpc_name(GCS_MSG_CONTAINER_NOTIFY));
}
END_TEST

START_TEST(test_msg_name)
{
	char buf[64];

	ck_assert_str_eq(gcs_proto_msg_name(GCS_MSG_EXECUTE_PROCESS_REQ, buf, sizeof(buf)),
			 "Request(ExecuteProcess)");
	ck_assert_str_eq(gcs_proto_msg_name(GCS_MSG_CREATE_RESP, buf, sizeof(buf)),
			 "Response(Create)");
	ck_assert_str_eq(gcs_proto_msg_name(GCS_MSG_CONTAINER_NOTIFY, buf, sizeof(buf)),
			 "Notify(Container)");
	ck_assert_ptr_eq(gcs_proto_msg_name(0x10100101u, buf, sizeof(buf)), buf);

	for (size_t i = 0; i < N_RPCS; i++) {
		char want[64];

		snprintf(want, sizeof(want), "Request(%s)", spec_rpcs[i].name);
		ck_assert_str_eq(gcs_proto_msg_name(spec_rpcs[i].req_hex, buf, sizeof(buf)), want);
		snprintf(want, sizeof(want), "Response(%s)", spec_rpcs[i].name);
		ck_assert_str_eq(gcs_proto_msg_name(spec_rpcs[i].resp_hex, buf, sizeof(buf)), want);
	}
}
END_TEST

START_TEST(test_msg_name_unknown_is_hex)
{
	char buf[64];

	ck_assert_str_eq(gcs_proto_msg_name(0x10109901u, buf, sizeof(buf)), "0x10109901");
	ck_assert_str_eq(gcs_proto_msg_name(0x30100201u, buf, sizeof(buf)), "0x30100201");
	ck_assert_str_eq(gcs_proto_msg_name(0x40100101u, buf, sizeof(buf)), "0x40100101");
	ck_assert_str_eq(gcs_proto_msg_name(0x00000000u, buf, sizeof(buf)), "0x00000000");
	ck_assert_str_eq(gcs_proto_msg_name(0xABCDEF01u, buf, sizeof(buf)), "0xabcdef01");
	for (size_t i = 0; i < N_UNKNOWN; i++) {
		char want[16];

		snprintf(want, sizeof(want), "0x%08x", unknown_types[i]);
		ck_assert_str_eq(gcs_proto_msg_name(unknown_types[i], buf, sizeof(buf)), want);
	}
}
END_TEST

START_TEST(test_msg_name_truncates)
{
	char buf[16];

	memset(buf, 'X', sizeof(buf));
	gcs_proto_msg_name(GCS_MSG_EXECUTE_PROCESS_REQ, buf, 10);
	ck_assert_str_eq(buf, "Request(E");
	ck_assert_int_eq(buf[10], 'X');

	memset(buf, 'X', sizeof(buf));
	gcs_proto_msg_name(0x10109901u, buf, 5);
	ck_assert_str_eq(buf, "0x10");
	ck_assert_int_eq(buf[5], 'X');
}
END_TEST

START_TEST(test_msg_known)
{
	for (size_t i = 0; i < N_RPCS; i++) {
		ck_assert_msg(gcs_proto_msg_known(spec_rpcs[i].req_hex), "%s request unknown",
			      spec_rpcs[i].name);
		ck_assert_msg(gcs_proto_msg_known(spec_rpcs[i].resp_hex), "%s response unknown",
			      spec_rpcs[i].name);
	}
	ck_assert(gcs_proto_msg_known(GCS_MSG_CONTAINER_NOTIFY));
	for (size_t i = 0; i < N_UNKNOWN; i++)
		ck_assert_msg(!gcs_proto_msg_known(unknown_types[i]), "0x%08x known",
			      unknown_types[i]);
}
END_TEST

START_TEST(test_ports_and_version)
{
	/* Spec sections 4 and 13. */
	ck_assert_int_eq(GCS_PROTOCOL_VERSION, 4);
	ck_assert_uint_eq(GCS_PORT_ENTROPY, 1);
	ck_assert_uint_eq(GCS_PORT_LOG, 109);
	ck_assert_uint_eq(GCS_PORT_PLAN9, 564);
	ck_assert_uint_eq(GCS_PORT_BRIDGE, 1073741824u);
	ck_assert_uint_eq(GCS_PORT_STDIO_FIRST, 0x40000001u);
}
END_TEST

/*
 * Every frame line of the recorded hcsshim session prints its type as "type=0x...(Name)", with
 * hcsshim's own naming; ours must give the same text, and know every type the session used.
 */
START_TEST(test_transcript_names)
{
	char *text = testutil_read_data("transcript-hcsshim-v0.12.5.txt", NULL);
	size_t lines = 0;
	bool seen_notify = false;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *p = strstr(line, " type=0x"), *end, *name_end;
		char buf[64], name[64];
		uint32_t type;

		if (line[0] != '[' || !p)
			continue;
		type = (uint32_t)strtoul(p + 8, &end, 16);
		ck_assert_msg(*end == '(', "%s", line);
		name_end = strstr(end, ") size=");
		ck_assert_ptr_nonnull(name_end);
		ck_assert_uint_lt((size_t)(name_end - end - 1), sizeof(name));
		memcpy(name, end + 1, (size_t)(name_end - end - 1));
		name[name_end - end - 1] = '\0';

		ck_assert_str_eq(gcs_proto_msg_name(type, buf, sizeof(buf)), name);
		ck_assert_msg(gcs_proto_msg_known(type), "0x%08x", type);
		if (type == GCS_MSG_CONTAINER_NOTIFY)
			seen_notify = true;
		lines++;
	}
	ck_assert_uint_ge(lines, 180);
	ck_assert(seen_notify);
	free(text);
}
END_TEST

static Suite *msgtype_suite(void)
{
	Suite *s = suite_create("msgtype");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_constants_match_spec);
	tcase_add_test(tc, test_rpc_codes);
	tcase_add_test(tc, test_response_request_type);
	tcase_add_test(tc, test_kind_predicates);
	tcase_add_test(tc, test_rpc_name);
	tcase_add_test(tc, test_msg_name);
	tcase_add_test(tc, test_msg_name_unknown_is_hex);
	tcase_add_test(tc, test_msg_name_truncates);
	tcase_add_test(tc, test_msg_known);
	tcase_add_test(tc, test_ports_and_version);
	tcase_add_test(tc, test_transcript_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(msgtype_suite());
}
