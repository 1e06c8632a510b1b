/*
 * Message codecs: the spec's byte-exact vectors, a round trip for every message type, and the
 * decoding side of the negative cases (spec section 14.1 and beyond).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/messages.h"
#include "gcs/msgtype.h"
#include "testutil.h"

#define Z GCS_NULL_GUID_STRING
#define ACT "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

/* Encodes in the given style and returns the body (caller frees). */
static char *enc(uint32_t type, const void *msg, enum gcs_proto_style style)
{
	struct gcs_error err = { 0 };
	char *body = NULL;
	size_t len = 0;

	ck_assert_msg(gcs_proto_encode_body(type, msg, style, &body, &len, &err) == 0, "%s",
		      err.message);
	ck_assert_uint_eq(len, strlen(body));
	return body;
}

/*
 * Encodes msg in both styles, decodes each into *ret (the guest-style decode is what is left
 * in *ret) and checks that re-encoding the decoded struct gives the same bytes.
 */
static void roundtrip(uint32_t type, const void *msg, union gcs_proto_msg *ret)
{
	enum gcs_proto_style styles[] = { GCS_PROTO_STYLE_HOST, GCS_PROTO_STYLE_GUEST };

	for (size_t i = 0; i < 2; i++) {
		struct gcs_error err = { 0 };
		char *a = enc(type, msg, styles[i]), *b;

		if (i == 1)
			ck_assert_msg(a[strlen(a) - 1] == '}', "guest bodies have no newline");
		else
			ck_assert_msg(a[strlen(a) - 1] == '\n', "host bodies end with a newline");
		ck_assert_msg(gcs_proto_decode(type, a, strlen(a), ret, &err) == 0, "%s: %s",
			      err.message, a);
		b = enc(type, ret, styles[i]);
		ck_assert_str_eq(a, b);
		free(a);
		free(b);
		if (i == 0)
			gcs_proto_release(ret);
	}
}

static void decode_ok(uint32_t type, const char *body, union gcs_proto_msg *ret)
{
	struct gcs_error err = { 0 };

	ck_assert_msg(gcs_proto_decode(type, body, strlen(body), ret, &err) == 0, "%s: %s",
		      err.message, body);
}

static void decode_bad(uint32_t type, const char *body, const char *needle)
{
	struct gcs_error err = { 0 };
	union gcs_proto_msg m;

	memset(&m, 0xa5, sizeof(m));
	ck_assert_int_eq(gcs_proto_decode(type, body, strlen(body), &m, &err), -EBADMSG);
	ck_assert_int_eq(err.hresult, HR_INVALID_JSON);
	if (needle)
		ck_assert_msg(strstr(err.message, needle), "\"%s\" not in \"%s\"", needle,
			      err.message);
	/* A failed decode leaves nothing to release. */
	ck_assert_ptr_null(m.own.docs[0]);
	ck_assert_ptr_null(m.own.blocks);
}

/* ---- byte-exact vectors ---- */

START_TEST(test_negotiate_request_bytes)
{
	static const char hex[] = "01 0b 10 10 7d 00 00 00 00 00 00 00 00 00 00 00";
	static const char body[] = "{\"ContainerId\":\"\",\"ActivityId\":\"" Z "\","
				   "\"MinimumVersion\":4,\"MaximumVersion\":4}\n";
	struct gcs_proto_negotiate_req req = {
		.base = { .container_id = "", .activity_id = Z },
		.minimum_version = 4,
		.maximum_version = 4,
	};
	unsigned char want[256];
	size_t n = testutil_unhex(hex, want, sizeof(want));
	struct gcs_error err = { 0 };
	char *frame;
	size_t len;

	memcpy(want + n, body, strlen(body));
	n += strlen(body);
	ck_assert_uint_eq(n, 125);
	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_NEGOTIATE_PROTOCOL_REQ, 0, &req,
						GCS_PROTO_STYLE_HOST, &frame, &len, &err),
			 0);
	ck_assert_uint_eq(len, 125);
	ck_assert_mem_eq(frame, want, 125);
	free(frame);
}
END_TEST

static const char go_negotiate_response[] =
	"{\"Result\":0,\"ActivityId\":\"00000000-0000-0000-0000-000000000000\",\"Version\":4,"
	"\"Capabilities\":{\"SupportedSchemaVersions\":[{\"Major\":2,\"Minor\":1}],"
	"\"RuntimeOsType\":\"Linux\",\"GuestDefinedCapabilities\":{"
	"\"NamespaceAddRequestSupported\":true,\"SignalProcessSupported\":true,"
	"\"DumpStacksSupported\":true,\"DeleteContainerStateSupported\":true}}}";

START_TEST(test_negotiate_response_bytes)
{
	struct gcs_proto_schema_version v21 = { 2, 1 };
	struct gcs_proto_negotiate_resp resp = {
		.base = { .result = 0, .activity_id = Z },
		.version = 4,
		.capabilities = {
			.supported_schema_versions = &v21,
			.n_supported_schema_versions = 1,
			.runtime_os_type = "Linux",
			.guest_defined = { true, true, true, true },
		},
	};
	union gcs_proto_msg m;
	struct gcs_error err = { 0 };
	char *frame;
	size_t len;

	ck_assert_uint_eq(strlen(go_negotiate_response), 326);
	decode_ok(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, go_negotiate_response, &m);
	ck_assert_int_eq(m.negotiate_resp.base.result, 0);
	ck_assert_str_eq(m.negotiate_resp.base.activity_id, Z);
	ck_assert_uint_eq(m.negotiate_resp.version, 4);
	ck_assert(!m.negotiate_resp.capabilities.send_host_create_message);
	ck_assert(!m.negotiate_resp.capabilities.send_host_start_message);
	ck_assert(!m.negotiate_resp.capabilities.hv_socket_config_on_startup);
	ck_assert_uint_eq(m.negotiate_resp.capabilities.n_supported_schema_versions, 1);
	ck_assert_uint_eq(m.negotiate_resp.capabilities.supported_schema_versions[0].major, 2);
	ck_assert_uint_eq(m.negotiate_resp.capabilities.supported_schema_versions[0].minor, 1);
	ck_assert_str_eq(m.negotiate_resp.capabilities.runtime_os_type, "Linux");
	ck_assert(m.negotiate_resp.capabilities.guest_defined.namespace_add_request_supported);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.signal_process_supported);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.dump_stacks_supported);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.delete_container_state_supported);
	gcs_proto_release(&m);

	/* Our guest encoder writes the Go GCS's exact 342-byte message from the same values. */
	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, 0, &resp,
						GCS_PROTO_STYLE_GUEST, &frame, &len, &err),
			 0);
	ck_assert_uint_eq(len, 342);
	ck_assert_mem_eq(frame + GCS_HEADER_SIZE, go_negotiate_response, 326);
	ck_assert_mem_eq(frame, "\x01\x0b\x10\x20\x56\x01\x00\x00\0\0\0\0\0\0\0\0", 16);
	free(frame);
}
END_TEST

/*
 * lcow's guest adds LcowContainerOperationsSupported (docs/protocol.md, lcow extensions) after
 * the Go GCS's four keys; false leaves the Go GCS's bytes unchanged (test above).
 */
static const char lcow_negotiate_response[] =
	"{\"Result\":0,\"ActivityId\":\"00000000-0000-0000-0000-000000000000\",\"Version\":4,"
	"\"Capabilities\":{\"SupportedSchemaVersions\":[{\"Major\":2,\"Minor\":1}],"
	"\"RuntimeOsType\":\"Linux\",\"GuestDefinedCapabilities\":{"
	"\"NamespaceAddRequestSupported\":true,\"SignalProcessSupported\":true,"
	"\"DumpStacksSupported\":true,\"DeleteContainerStateSupported\":true,"
	"\"LcowContainerOperationsSupported\":true}}}";

START_TEST(test_negotiate_response_lcow_caps)
{
	struct gcs_proto_schema_version v21 = { 2, 1 };
	struct gcs_proto_negotiate_resp resp = {
		.base = { .result = 0, .activity_id = Z },
		.version = 4,
		.capabilities = {
			.supported_schema_versions = &v21,
			.n_supported_schema_versions = 1,
			.runtime_os_type = "Linux",
			.guest_defined = {
				.namespace_add_request_supported = true,
				.signal_process_supported = true,
				.dump_stacks_supported = true,
				.delete_container_state_supported = true,
				.lcow_container_operations_supported = true,
			},
		},
	};
	union gcs_proto_msg m;
	struct gcs_error err = { 0 };
	char *frame, *body;
	size_t len;

	ck_assert_uint_eq(strlen(lcow_negotiate_response), 366);
	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, 0, &resp,
						GCS_PROTO_STYLE_GUEST, &frame, &len, &err),
			 0);
	ck_assert_uint_eq(len, 382);
	ck_assert_mem_eq(frame, "\x01\x0b\x10\x20\x7e\x01\x00\x00\0\0\0\0\0\0\0\0", 16);
	ck_assert_mem_eq(frame + GCS_HEADER_SIZE, lcow_negotiate_response, 366);
	free(frame);

	decode_ok(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, lcow_negotiate_response, &m);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.lcow_container_operations_supported);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.delete_container_state_supported);
	gcs_proto_release(&m);
	/* The Go GCS's answer has no such key: false. */
	decode_ok(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, go_negotiate_response, &m);
	ck_assert(!m.negotiate_resp.capabilities.guest_defined.lcow_container_operations_supported);
	gcs_proto_release(&m);

	/* Alone, and a round trip in both styles. */
	resp.capabilities.guest_defined =
		(struct gcs_proto_guest_caps){ .lcow_container_operations_supported = true };
	resp.capabilities.n_supported_schema_versions = 0;
	resp.capabilities.runtime_os_type = NULL;
	body = enc(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, &resp, GCS_PROTO_STYLE_GUEST);
	ck_assert_str_eq(body, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"Version\":4,"
			       "\"Capabilities\":{\"GuestDefinedCapabilities\":"
			       "{\"LcowContainerOperationsSupported\":true}}}");
	free(body);
	roundtrip(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, &resp, &m);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.lcow_container_operations_supported);
	ck_assert(!m.negotiate_resp.capabilities.guest_defined.signal_process_supported);
	gcs_proto_release(&m);

	/* Go's rules: null is false, a wrong type is HCS_E_INVALID_JSON. */
	decode_ok(GCS_MSG_NEGOTIATE_PROTOCOL_RESP,
		  "{\"Version\":4,\"Capabilities\":{\"GuestDefinedCapabilities\":"
		  "{\"LcowContainerOperationsSupported\":null}}}",
		  &m);
	ck_assert(!m.negotiate_resp.capabilities.guest_defined.lcow_container_operations_supported);
	gcs_proto_release(&m);
	decode_bad(GCS_MSG_NEGOTIATE_PROTOCOL_RESP,
		   "{\"Version\":4,\"Capabilities\":{\"GuestDefinedCapabilities\":"
		   "{\"LcowContainerOperationsSupported\":\"true\"}}}",
		   "LcowContainerOperationsSupported");
}
END_TEST

/* GuestDefinedCapabilities must be an object, else hcsshim's Connect fails. */
START_TEST(test_negotiate_response_caps_required)
{
	struct gcs_proto_negotiate_resp resp = { .base = { .activity_id = Z }, .version = 4 };
	union gcs_proto_msg m;
	char *body;

	decode_bad(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, "{\"Result\":0,\"Version\":4}",
		   "GuestDefinedCapabilities");
	decode_bad(GCS_MSG_NEGOTIATE_PROTOCOL_RESP,
		   "{\"Version\":4,\"Capabilities\":{\"GuestDefinedCapabilities\":[]}}",
		   "GuestDefinedCapabilities");
	/* Our encoder writes {} even with no capability set. */
	body = enc(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, &resp, GCS_PROTO_STYLE_GUEST);
	ck_assert_str_eq(body, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"Version\":4,"
			       "\"Capabilities\":{\"GuestDefinedCapabilities\":{}}}");
	decode_ok(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, body, &m);
	ck_assert(!m.negotiate_resp.capabilities.guest_defined.signal_process_supported);
	gcs_proto_release(&m);
	free(body);
}
END_TEST

/* The error response of spec 5.2, byte for byte. */
START_TEST(test_error_response_bytes)
{
	static const char want[] =
		"{\"Result\":-1070137074,\"ActivityId\":\"" Z "\",\"ErrorMessage\":\"HRESULT: "
		"0xc037010e\",\"ErrorRecords\":[{\"Result\":-1070137074,\"Message\":\"HRESULT: "
		"0xc037010e\",\"ModuleName\":\"gcs\",\"FileName\":\"\",\"Line\":4294967295}]}";
	struct gcs_proto_error_record rec = {
		.result = HR_SYSTEM_NOT_FOUND,
		.message = "HRESULT: 0xc037010e",
		.module_name = "gcs",
		.file_name = "",
		.line = 4294967295u,
	};
	struct gcs_proto_response_base resp = {
		.result = HR_SYSTEM_NOT_FOUND,
		.activity_id = Z,
		.error_message = "HRESULT: 0xc037010e",
		.error_records = &rec,
		.n_error_records = 1,
	};
	struct gcs_proto_execute_process_resp exec = { .base = resp, .process_id = 77 };
	char *body = enc(GCS_MSG_START_RESP, &resp, GCS_PROTO_STYLE_GUEST);

	ck_assert_str_eq(body, want);
	free(body);
	/* A failed request's answer carries only the base, as the Go GCS writes it. */
	body = enc(GCS_MSG_EXECUTE_PROCESS_RESP, &exec, GCS_PROTO_STYLE_GUEST);
	ck_assert_str_eq(body, want);
	free(body);
	exec.base.result = 0;
	exec.base.error_message = NULL;
	exec.base.n_error_records = 0;
	body = enc(GCS_MSG_EXECUTE_PROCESS_RESP, &exec, GCS_PROTO_STYLE_GUEST);
	ck_assert_str_eq(body, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"ProcessId\":77}");
	free(body);
}
END_TEST

/* json.Marshal's HTML escaping in guest bodies; none in host bodies. */
START_TEST(test_go_escaping)
{
	struct gcs_proto_dump_stacks_resp resp = {
		.base = { .activity_id = Z },
		.guest_stacks = "a<b>&c\xe2\x80\xa8 \"q\"",
	};
	struct gcs_proto_request_base req = { .container_id = "<x&y>", .activity_id = Z };
	union gcs_proto_msg m;
	char *body;

	body = enc(GCS_MSG_DUMP_STACKS_RESP, &resp, GCS_PROTO_STYLE_GUEST);
	ck_assert_str_eq(body, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"GuestStacks\":"
			       "\"a\\u003cb\\u003e\\u0026c\\u2028 \\\"q\\\"\"}");
	decode_ok(GCS_MSG_DUMP_STACKS_RESP, body, &m);
	ck_assert_str_eq(m.dump_stacks_resp.guest_stacks, resp.guest_stacks);
	gcs_proto_release(&m);
	free(body);
	body = enc(GCS_MSG_START_REQ, &req, GCS_PROTO_STYLE_HOST);
	ck_assert_str_eq(body, "{\"ContainerId\":\"<x&y>\",\"ActivityId\":\"" Z "\"}\n");
	free(body);
}
END_TEST

/* ---- a round trip for every message type ---- */

START_TEST(test_rt_negotiate)
{
	struct gcs_proto_negotiate_req req = { { .container_id = "", .activity_id = ACT }, 3, 7 };
	struct gcs_proto_schema_version sv[2] = { { 2, 1 }, { 2, 5 } };
	struct gcs_proto_negotiate_resp resp = {
		.base = { .activity_id = ACT },
		.version = 4,
		.capabilities = { true,
				  true,
				  true,
				  true,
				  true,
				  sv,
				  2,
				  "Linux",
				  { true, false, true, false } },
	};
	union gcs_proto_msg m;

	roundtrip(GCS_MSG_NEGOTIATE_PROTOCOL_REQ, &req, &m);
	ck_assert_str_eq(m.negotiate_req.base.activity_id, ACT);
	ck_assert_uint_eq(m.negotiate_req.minimum_version, 3);
	ck_assert_uint_eq(m.negotiate_req.maximum_version, 7);
	gcs_proto_release(&m);
	roundtrip(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, &resp, &m);
	ck_assert(m.negotiate_resp.capabilities.send_host_create_message);
	ck_assert(m.negotiate_resp.capabilities.modify_service_settings_supported);
	ck_assert_uint_eq(m.negotiate_resp.capabilities.n_supported_schema_versions, 2);
	ck_assert_uint_eq(m.negotiate_resp.capabilities.supported_schema_versions[1].minor, 5);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.namespace_add_request_supported);
	ck_assert(!m.negotiate_resp.capabilities.guest_defined.signal_process_supported);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.dump_stacks_supported);
	gcs_proto_release(&m);
}
END_TEST

START_TEST(test_rt_create)
{
	json_t *spec = json_loads("{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/bin/sh\"],"
				  "\"cwd\":\"/\"},\"root\":{\"path\":\"/run/gcs/c/c1/rootfs\"}}",
				  0, NULL);
	struct gcs_proto_create_req req = {
		.base = { .container_id = "c1", .activity_id = Z },
		.config = { { 2, 1 }, "/run/gcs/c/c1", spec, "/run/gcs/c/c1/scratch/c1" },
	};
	struct gcs_proto_create_resp resp = { { .activity_id = Z }, "v", 0 };
	union gcs_proto_msg m;
	char *body;

	body = enc(GCS_MSG_CREATE_REQ, &req, GCS_PROTO_STYLE_HOST);
	/* ContainerConfig is a JSON document inside a string, in hcsshim's field order. */
	ck_assert_str_eq(
		body,
		"{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z "\",\"ContainerConfig\":"
		"\"{\\\"SchemaVersion\\\":{\\\"Major\\\":2,\\\"Minor\\\":1},\\\"OciBundlePath\\\":"
		"\\\"/run/gcs/c/c1\\\",\\\"OciSpecification\\\":{\\\"ociVersion\\\":\\\"1.1.0\\\","
		"\\\"process\\\":{\\\"args\\\":[\\\"/bin/sh\\\"],\\\"cwd\\\":\\\"/\\\"},\\\"root\\\":"
		"{\\\"path\\\":\\\"/run/gcs/c/c1/rootfs\\\"}},\\\"ScratchDirPath\\\":"
		"\\\"/run/gcs/c/c1/scratch/c1\\\"}\"}\n");
	free(body);
	roundtrip(GCS_MSG_CREATE_REQ, &req, &m);
	ck_assert_str_eq(m.create_req.base.container_id, "c1");
	ck_assert_uint_eq(m.create_req.config.schema_version.major, 2);
	ck_assert_uint_eq(m.create_req.config.schema_version.minor, 1);
	ck_assert_str_eq(m.create_req.config.oci_bundle_path, "/run/gcs/c/c1");
	ck_assert_str_eq(m.create_req.config.scratch_dir_path, "/run/gcs/c/c1/scratch/c1");
	ck_assert(json_equal(m.create_req.config.oci_specification, spec));
	gcs_proto_release(&m);
	roundtrip(GCS_MSG_CREATE_RESP, &resp, &m);
	ck_assert_str_eq(m.create_resp.selected_version, "v");
	gcs_proto_release(&m);
	json_decref(spec);

	/* The Go GCS's answer. */
	decode_ok(GCS_MSG_CREATE_RESP,
		  "{\"Result\":0,\"ActivityId\":\"" Z "\",\"SelectedProtocolVersion\":0}", &m);
	ck_assert_str_eq(m.create_resp.selected_version, "");
	gcs_proto_release(&m);
}
END_TEST

/* Start, ShutdownGraceful, ShutdownForced, DumpStacks, DeleteContainerState: base only. */
START_TEST(test_rt_base_only)
{
	static const uint32_t reqs[] = { GCS_MSG_START_REQ, GCS_MSG_SHUTDOWN_GRACEFUL_REQ,
					 GCS_MSG_SHUTDOWN_FORCED_REQ, GCS_MSG_DUMP_STACKS_REQ,
					 GCS_MSG_DELETE_CONTAINER_STATE_REQ };
	static const uint32_t resps[] = {
		GCS_MSG_START_RESP,
		GCS_MSG_SHUTDOWN_GRACEFUL_RESP,
		GCS_MSG_SHUTDOWN_FORCED_RESP,
		GCS_MSG_SIGNAL_PROCESS_RESP,
		GCS_MSG_RESIZE_CONSOLE_RESP,
		GCS_MSG_MODIFY_SETTINGS_RESP,
		GCS_MSG_DELETE_CONTAINER_STATE_RESP,
		GCS_MSG_UPDATE_CONTAINER_RESP,
		GCS_MSG_LIFECYCLE_NOTIFICATION_RESP,
		GCS_MSG_MODIFY_SERVICE_SETTINGS_RESP,
	};
	struct gcs_proto_request_base req = { .container_id = "c1", .activity_id = ACT };
	struct gcs_proto_response_base resp = { .result = HR_SYSTEM_ALREADY_STOPPED,
						.activity_id = ACT,
						.error_message = "container not running" };
	union gcs_proto_msg m;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		char *body = enc(reqs[i], &req, GCS_PROTO_STYLE_HOST);
		ck_assert_str_eq(body, "{\"ContainerId\":\"c1\",\"ActivityId\":\"" ACT "\"}\n");
		free(body);
		roundtrip(reqs[i], &req, &m);
		ck_assert_str_eq(m.req.container_id, "c1");
		ck_assert_str_eq(m.req.activity_id, ACT);
		gcs_proto_release(&m);
	}
	for (size_t i = 0; i < sizeof(resps) / sizeof(resps[0]); i++) {
		roundtrip(resps[i], &resp, &m);
		ck_assert_int_eq(m.resp.result, -1070137072);
		ck_assert_str_eq(m.resp.error_message, "container not running");
		ck_assert_uint_eq(m.resp.n_error_records, 0);
		gcs_proto_release(&m);
	}
}
END_TEST

START_TEST(test_rt_execute_process)
{
	static const char *const args[] = { "/bin/sh", "-c", "echo \"hi\" <&>" };
	static const struct gcs_proto_env env[] = { { "PATH", "/bin" }, { "HOME", "/root" } };
	json_t *oci = json_loads("{\"args\":[\"ps\"],\"cwd\":\"/\",\"terminal\":true}", 0, NULL);
	struct gcs_proto_execute_process_req req = {
		.base = { .container_id = Z, .activity_id = Z },
		.params = {
			.command_line = "sh -c true",
			.command_args = args,
			.n_command_args = 3,
			.working_directory = "/tmp",
			.environment = env,
			.n_environment = 2,
			.emulate_console = true,
			.create_stdin_pipe = true,
			.create_stdout_pipe = true,
			.create_stderr_pipe = true,
			.has_console_size = true,
			.console_size = { 24, 80 },
			.create_in_utility_vm = true,
			.oci_process = oci,
		},
		.vsock_stdio = { 0x40000001, 0x40000002, 0x40000003 },
	};
	struct gcs_proto_execute_process_resp resp = { { .activity_id = Z }, 912 };
	union gcs_proto_msg m;
	char *body;

	roundtrip(GCS_MSG_EXECUTE_PROCESS_REQ, &req, &m);
	ck_assert_str_eq(m.execute_process_req.params.command_line, "sh -c true");
	ck_assert_uint_eq(m.execute_process_req.params.n_command_args, 3);
	ck_assert_str_eq(m.execute_process_req.params.command_args[2], "echo \"hi\" <&>");
	ck_assert_str_eq(m.execute_process_req.params.working_directory, "/tmp");
	/* Environment comes back sorted, as Go writes maps. */
	ck_assert_uint_eq(m.execute_process_req.params.n_environment, 2);
	ck_assert_str_eq(m.execute_process_req.params.environment[0].name, "HOME");
	ck_assert_str_eq(m.execute_process_req.params.environment[0].value, "/root");
	ck_assert_str_eq(m.execute_process_req.params.environment[1].name, "PATH");
	ck_assert(m.execute_process_req.params.emulate_console);
	ck_assert(m.execute_process_req.params.create_stdin_pipe);
	ck_assert(m.execute_process_req.params.create_stdout_pipe);
	ck_assert(m.execute_process_req.params.create_stderr_pipe);
	ck_assert(m.execute_process_req.params.has_console_size);
	ck_assert_uint_eq(m.execute_process_req.params.console_size[0], 24);
	ck_assert_uint_eq(m.execute_process_req.params.console_size[1], 80);
	ck_assert(m.execute_process_req.params.create_in_utility_vm);
	ck_assert(json_equal(m.execute_process_req.params.oci_process, oci));
	ck_assert_uint_eq(m.execute_process_req.vsock_stdio.stdin_port, 0x40000001);
	ck_assert_uint_eq(m.execute_process_req.vsock_stdio.stdout_port, 0x40000002);
	ck_assert_uint_eq(m.execute_process_req.vsock_stdio.stderr_port, 0x40000003);
	gcs_proto_release(&m);
	json_decref(oci);

	/* hcsshim's container-init exec: flags only, VsockStdioRelaySettings always present. */
	memset(&req.params, 0, sizeof(req.params));
	req.params.create_stdout_pipe = true;
	req.vsock_stdio = (struct gcs_proto_stdio_ports){ 0, 1073741828, 0 };
	req.base.container_id = "c1";
	body = enc(GCS_MSG_EXECUTE_PROCESS_REQ, &req, GCS_PROTO_STYLE_HOST);
	ck_assert_str_eq(body, "{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z "\",\"Settings\":{"
			       "\"ProcessParameters\":\"{\\\"CreateStdOutPipe\\\":true}\","
			       "\"VsockStdioRelaySettings\":{\"StdOut\":1073741828}}}\n");
	free(body);

	roundtrip(GCS_MSG_EXECUTE_PROCESS_RESP, &resp, &m);
	ck_assert_uint_eq(m.execute_process_resp.process_id, 912);
	gcs_proto_release(&m);
}
END_TEST

START_TEST(test_rt_wait)
{
	struct gcs_proto_wait_req req = { { .container_id = "c1", .activity_id = Z },
					  912,
					  GCS_WAIT_INFINITE };
	struct gcs_proto_wait_resp resp = { { .activity_id = Z }, 143 };
	union gcs_proto_msg m;
	char *body;

	body = enc(GCS_MSG_WAIT_FOR_PROCESS_REQ, &req, GCS_PROTO_STYLE_HOST);
	ck_assert_str_eq(body, "{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z "\","
			       "\"ProcessId\":912,\"TimeoutInMs\":4294967295}\n");
	free(body);
	roundtrip(GCS_MSG_WAIT_FOR_PROCESS_REQ, &req, &m);
	ck_assert_uint_eq(m.wait_req.process_id, 912);
	ck_assert_uint_eq(m.wait_req.timeout_ms, 0xFFFFFFFFu);
	gcs_proto_release(&m);
	roundtrip(GCS_MSG_WAIT_FOR_PROCESS_RESP, &resp, &m);
	ck_assert_uint_eq(m.wait_resp.exit_code, 143);
	gcs_proto_release(&m);
}
END_TEST

START_TEST(test_rt_signal)
{
	struct gcs_proto_signal_req req = {
		{ .container_id = "c1", .activity_id = Z }, 912, true, 15
	};
	union gcs_proto_msg m;
	char *body;

	roundtrip(GCS_MSG_SIGNAL_PROCESS_REQ, &req, &m);
	ck_assert_uint_eq(m.signal_req.process_id, 912);
	ck_assert(m.signal_req.has_options);
	ck_assert_int_eq(m.signal_req.signal, 15);
	gcs_proto_release(&m);
	/* hcsshim's Kill: no Options at all (means SIGKILL). */
	req.has_options = false;
	body = enc(GCS_MSG_SIGNAL_PROCESS_REQ, &req, GCS_PROTO_STYLE_HOST);
	ck_assert_str_eq(body,
			 "{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z "\",\"ProcessId\":912}\n");
	decode_ok(GCS_MSG_SIGNAL_PROCESS_REQ, body, &m);
	ck_assert(!m.signal_req.has_options);
	ck_assert_int_eq(m.signal_req.signal, 0);
	gcs_proto_release(&m);
	free(body);
	/* Signal 0 is left out (omitempty) but Options stays. */
	req.has_options = true;
	req.signal = 0;
	body = enc(GCS_MSG_SIGNAL_PROCESS_REQ, &req, GCS_PROTO_STYLE_HOST);
	ck_assert_str_eq(body, "{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z
			       "\",\"ProcessId\":912,\"Options\":{}}\n");
	free(body);
}
END_TEST

START_TEST(test_rt_resize)
{
	struct gcs_proto_resize_req req = {
		{ .container_id = "c1", .activity_id = Z }, 7, 50, 132
	};
	union gcs_proto_msg m;

	roundtrip(GCS_MSG_RESIZE_CONSOLE_REQ, &req, &m);
	ck_assert_uint_eq(m.resize_req.process_id, 7);
	ck_assert_uint_eq(m.resize_req.height, 50);
	ck_assert_uint_eq(m.resize_req.width, 132);
	gcs_proto_release(&m);
}
END_TEST

START_TEST(test_rt_get_properties)
{
	static const char *const types[] = { "ProcessList", "Statistics" };
	static const struct gcs_proto_process_item procs[] = { { 812 }, { 840 } };
	json_t *metrics = json_loads("{\"pids\":{\"current\":2,\"limit\":0}}", 0, NULL);
	struct gcs_proto_get_properties_req req = { { .container_id = "c1", .activity_id = Z },
						    types,
						    2 };
	struct gcs_proto_get_properties_resp resp = { { .activity_id = Z }, procs, 2, metrics };
	union gcs_proto_msg m;
	char *body;

	body = enc(GCS_MSG_GET_PROPERTIES_REQ, &req, GCS_PROTO_STYLE_HOST);
	ck_assert_str_eq(body,
			 "{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z "\",\"Query\":"
			 "\"{\\\"PropertyTypes\\\":[\\\"ProcessList\\\",\\\"Statistics\\\"]}\"}\n");
	free(body);
	roundtrip(GCS_MSG_GET_PROPERTIES_REQ, &req, &m);
	ck_assert_uint_eq(m.get_properties_req.n_property_types, 2);
	ck_assert_str_eq(m.get_properties_req.property_types[1], "Statistics");
	gcs_proto_release(&m);

	resp.lcow_metrics = NULL;
	body = enc(GCS_MSG_GET_PROPERTIES_RESP, &resp, GCS_PROTO_STYLE_GUEST);
	ck_assert_str_eq(body, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"Properties\":"
			       "\"{\\\"ProcessList\\\":[{\\\"ProcessId\\\":812},"
			       "{\\\"ProcessId\\\":840}]}\"}");
	free(body);
	resp.lcow_metrics = metrics;
	roundtrip(GCS_MSG_GET_PROPERTIES_RESP, &resp, &m);
	ck_assert_uint_eq(m.get_properties_resp.n_process_list, 2);
	ck_assert_uint_eq(m.get_properties_resp.process_list[1].process_id, 840);
	ck_assert(json_equal(m.get_properties_resp.lcow_metrics, metrics));
	gcs_proto_release(&m);
	json_decref(metrics);

	/* Nothing to report: "{}". */
	resp = (struct gcs_proto_get_properties_resp){ .base = { .activity_id = Z } };
	body = enc(GCS_MSG_GET_PROPERTIES_RESP, &resp, GCS_PROTO_STYLE_GUEST);
	ck_assert_str_eq(body, "{\"Result\":0,\"ActivityId\":\"" Z "\",\"Properties\":\"{}\"}");
	free(body);
	/* An empty Query string means no properties. */
	decode_ok(GCS_MSG_GET_PROPERTIES_REQ, "{\"ContainerId\":\"c1\",\"Query\":\"\"}", &m);
	ck_assert_uint_eq(m.get_properties_req.n_property_types, 0);
	gcs_proto_release(&m);
}
END_TEST

START_TEST(test_rt_modify_settings)
{
	struct gcs_proto_modify_req req = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK,
		.has_settings = true,
		.settings.mapped_virtual_disk = { .mount_path = "/run/mounts/scsi/m0",
						  .lun = 1,
						  .read_only = true },
	};
	union gcs_proto_msg m;

	roundtrip(GCS_MSG_MODIFY_SETTINGS_REQ, &req, &m);
	ck_assert_int_eq(m.modify_req.request_type, GCS_REQUEST_TYPE_ADD);
	ck_assert_int_eq(m.modify_req.resource_type, GCS_RESOURCE_MAPPED_VIRTUAL_DISK);
	ck_assert_str_eq(m.modify_req.settings.mapped_virtual_disk.mount_path,
			 "/run/mounts/scsi/m0");
	ck_assert_uint_eq(m.modify_req.settings.mapped_virtual_disk.lun, 1);
	gcs_proto_release(&m);
}
END_TEST

START_TEST(test_rt_dump_stacks)
{
	struct gcs_proto_dump_stacks_resp resp = { { .activity_id = Z }, "gcs: 3 processes\n" };
	union gcs_proto_msg m;

	roundtrip(GCS_MSG_DUMP_STACKS_RESP, &resp, &m);
	ck_assert_str_eq(m.dump_stacks_resp.guest_stacks, "gcs: 3 processes\n");
	gcs_proto_release(&m);
}
END_TEST

/* UpdateContainer, LifecycleNotification, ModifyServiceSettings: Windows-only, kept opaque. */
START_TEST(test_rt_windows_only)
{
	json_t *fields = json_loads("{\"Resources\":{\"Memory\":5},\"Kind\":\"x\"}", 0, NULL);
	json_t *settings = json_loads("{\"Enable\":true}", 0, NULL);
	struct gcs_proto_opaque_req op = { { .container_id = "c1", .activity_id = Z }, fields };
	struct gcs_proto_service_settings_req svc = { { .container_id = Z, .activity_id = Z },
						      "LogForwardService",
						      settings };
	union gcs_proto_msg m;

	roundtrip(GCS_MSG_UPDATE_CONTAINER_REQ, &op, &m);
	ck_assert(json_equal(m.opaque_req.fields, fields));
	gcs_proto_release(&m);
	roundtrip(GCS_MSG_LIFECYCLE_NOTIFICATION_REQ, &op, &m);
	ck_assert(json_equal(m.opaque_req.fields, fields));
	gcs_proto_release(&m);
	roundtrip(GCS_MSG_MODIFY_SERVICE_SETTINGS_REQ, &svc, &m);
	ck_assert_str_eq(m.service_settings_req.property_type, "LogForwardService");
	ck_assert(json_equal(m.service_settings_req.settings, settings));
	gcs_proto_release(&m);
	json_decref(fields);
	json_decref(settings);
}
END_TEST

START_TEST(test_rt_notification)
{
	static const char want[] =
		"{\"ContainerId\":\"c1\",\"ActivityId\":\"" Z
		"\",\"Type\":\"GracefulExit\",\"Operation\":\"None\",\"Result\":0}";
	json_t *info = json_loads("{\"why\":\"test\"}", 0, NULL);
	struct gcs_proto_notification n = {
		{ .container_id = "c1", .activity_id = Z }, "GracefulExit", "None", 0, NULL
	};
	union gcs_proto_msg m;
	char *frame;
	size_t len;
	struct gcs_error err = { 0 };

	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_CONTAINER_NOTIFY, 0, &n,
						GCS_PROTO_STYLE_GUEST, &frame, &len, &err),
			 0);
	ck_assert_uint_eq(len, GCS_HEADER_SIZE + strlen(want));
	ck_assert_mem_eq(frame + GCS_HEADER_SIZE, want, strlen(want));
	free(frame);
	n.result_info = info;
	roundtrip(GCS_MSG_CONTAINER_NOTIFY, &n, &m);
	ck_assert_str_eq(m.notification.base.container_id, "c1");
	ck_assert_str_eq(m.notification.type, "GracefulExit");
	ck_assert(json_equal(m.notification.result_info, info));
	gcs_proto_release(&m);
	json_decref(info);
}
END_TEST

/* The E_NOTIMPL answer to an unknown request type is a response base of the derived type. */
START_TEST(test_unknown_type_answer)
{
	struct gcs_proto_response_base resp = { .result = HR_NOTIMPL,
						.activity_id = Z,
						.error_message = "nope" };
	struct gcs_proto_request_base req = { .container_id = "c" };
	struct gcs_error err = { 0 };
	char *frame;
	size_t len;

	ck_assert_int_eq(gcs_proto_encode_frame(gcs_msg_response_type(0x10109901), 4, &resp,
						GCS_PROTO_STYLE_GUEST, &frame, &len, &err),
			 0);
	ck_assert_mem_eq(frame, "\x01\x99\x10\x20", 4);
	ck_assert_uint_eq(len,
			  GCS_HEADER_SIZE + strlen("{\"Result\":-2147467263,\"ActivityId\":\"" Z
						   "\",\"ErrorMessage\":\"nope\"}"));
	ck_assert_mem_eq(frame + GCS_HEADER_SIZE,
			 "{\"Result\":-2147467263,\"ActivityId\":\"" Z
			 "\",\"ErrorMessage\":\"nope\"}",
			 len - GCS_HEADER_SIZE);
	free(frame);
	/* Requests and notifications of unknown types cannot be encoded. */
	ck_assert_int_eq(gcs_proto_encode_frame(0x10109901, 4, &req, GCS_PROTO_STYLE_HOST, &frame,
						&len, &err),
			 -ENOENT);
}
END_TEST

/* Every Type the spec defines has a codec, and nothing else does. */
START_TEST(test_every_type_has_a_codec)
{
	size_t n = 0;

	for (uint32_t rpc = 1; rpc <= 15; rpc++) {
		uint32_t t = GCS_RPC(GCS_CAT_COMPUTE_SYSTEM, rpc);
		ck_assert_int_eq(gcs_proto_msg_struct(GCS_MSG_REQUEST | t, NULL, NULL), 0);
		ck_assert_int_eq(gcs_proto_msg_struct(GCS_MSG_RESPONSE | t, NULL, NULL), 0);
		n += 2;
	}
	ck_assert_int_eq(gcs_proto_msg_struct(GCS_MSG_MODIFY_SERVICE_SETTINGS_REQ, NULL, NULL), 0);
	ck_assert_int_eq(gcs_proto_msg_struct(GCS_MSG_MODIFY_SERVICE_SETTINGS_RESP, NULL, NULL), 0);
	ck_assert_int_eq(gcs_proto_msg_struct(GCS_MSG_CONTAINER_NOTIFY, NULL, NULL), 0);
	n += 3;
	ck_assert_uint_eq(n, 33);
	ck_assert_int_eq(gcs_proto_msg_struct(0x10101001, NULL, NULL), -ENOENT);
	ck_assert_int_eq(gcs_proto_msg_struct(0x30100201, NULL, NULL), -ENOENT);
	for (uint32_t t = 0; t < 64; t++) {
		size_t size;
		uint32_t type = t < 32 ? GCS_MSG_REQUEST | GCS_RPC(GCS_CAT_COMPUTE_SYSTEM, t) :
					 GCS_MSG_RESPONSE | GCS_RPC(GCS_CAT_COMPUTE_SYSTEM, t - 32);
		if (gcs_proto_msg_struct(type, NULL, &size) == 0)
			ck_assert_uint_le(size, sizeof(union gcs_proto_msg));
	}
}
END_TEST

/* ---- the decoding side of the negative cases ---- */

/* Spec 14.1: the error answers decode with the right signed Result. */
START_TEST(test_neg_spec_results)
{
	static const struct {
		uint32_t type;
		int32_t result;
		const char *body;
	} cases[] = {
		{ GCS_MSG_CREATE_RESP, HR_NOTIMPL, "{\"Result\":-2147467263}" },
		{ GCS_MSG_NEGOTIATE_PROTOCOL_RESP, HR_UNSUPPORTED_PROTOCOL_VERSION,
		  "{\"Result\":-1070137076,\"Capabilities\":{\"GuestDefinedCapabilities\":{}}}" },
		{ GCS_MSG_CREATE_RESP, HR_INVALID_JSON, "{\"Result\":-1070137075}" },
		{ GCS_MSG_WAIT_FOR_PROCESS_RESP, HR_VMCOMPUTE_TIMEOUT, "{\"Result\":-1070137079}" },
		{ GCS_MSG_SIGNAL_PROCESS_RESP, HR_NOT_FOUND, "{\"Result\":-2147023728}" },
		{ GCS_MSG_SIGNAL_PROCESS_RESP, HR_SYSTEM_NOT_FOUND, "{\"Result\":-1070137074}" },
		{ GCS_MSG_MODIFY_SETTINGS_RESP, HR_INVALID_JSON, "{\"Result\":-1070137075}" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		union gcs_proto_msg m;
		decode_ok(cases[i].type, cases[i].body, &m);
		ck_assert_int_eq(m.resp.result, cases[i].result);
		gcs_proto_release(&m);
	}
}
END_TEST

/* Spec 14.1: the requests that provoke those errors still decode; the agent decides. */
START_TEST(test_neg_spec_requests)
{
	union gcs_proto_msg m;

	decode_ok(GCS_MSG_NEGOTIATE_PROTOCOL_REQ,
		  "{\"ContainerId\":\"\",\"ActivityId\":\"" Z
		  "\",\"MinimumVersion\":3,\"MaximumVersion\":3}\n",
		  &m);
	ck_assert_uint_eq(m.negotiate_req.maximum_version, 3);
	gcs_proto_release(&m);
	decode_ok(GCS_MSG_CREATE_REQ,
		  "{\"ContainerId\":\"c1\",\"ContainerConfig\":\"{\\\"SchemaVersion\\\":"
		  "{\\\"Major\\\":2,\\\"Minor\\\":0}}\"}",
		  &m);
	ck_assert_uint_eq(m.create_req.config.schema_version.major, 2);
	ck_assert_uint_eq(m.create_req.config.schema_version.minor, 0);
	ck_assert_str_eq(m.create_req.config.oci_bundle_path, "");
	ck_assert_ptr_null(m.create_req.config.oci_specification);
	gcs_proto_release(&m);
	decode_ok(GCS_MSG_WAIT_FOR_PROCESS_REQ,
		  "{\"ContainerId\":\"c1\",\"ProcessId\":9,"
		  "\"TimeoutInMs\":50}",
		  &m);
	ck_assert_uint_eq(m.wait_req.timeout_ms, 50);
	/* A missing ActivityId is Go's zero GUID. */
	ck_assert_str_eq(m.wait_req.base.activity_id, Z);
	gcs_proto_release(&m);
	/* Unknown fields and trace contexts are ignored; trailing whitespace is fine. */
	decode_ok(GCS_MSG_SIGNAL_PROCESS_REQ,
		  "{\"ContainerId\":\"c1\",\"otsc\":{\"traceparent\":\"00-ab\"},\"ocsc\":"
		  "{\"TraceID\":\"x\"},\"Future\":[1,{\"a\":null}],\"ProcessId\":77}\n \t\r\n",
		  &m);
	ck_assert_uint_eq(m.signal_req.process_id, 77);
	gcs_proto_release(&m);
}
END_TEST

START_TEST(test_neg_not_json)
{
	struct gcs_proto_request_base b;
	struct gcs_error err = { 0 };

	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "this is not json", "invalid JSON");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "", "invalid JSON");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "{\"ContainerId\":\"c1\"", "invalid JSON");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "{\"ContainerId\":\"c1\"} {}", "invalid JSON");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "[1,2]", "not an object");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "\"str\"", "invalid JSON");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "{\"ContainerId\":\"\xff\xfe\"}", "invalid JSON");
	/* An unknown type: E_NOTIMPL, but the base can still be read to answer it. */
	ck_assert_int_eq(gcs_proto_decode(0x10109901, "{}", 2, &b, &err), -ENOENT);
	ck_assert_int_eq(err.hresult, HR_NOTIMPL);
	ck_assert_int_eq(
		gcs_proto_decode_request_base("{\"ContainerId\":\"c9\",\"Foo\":1}", 28, &b, &err),
		0);
	ck_assert_str_eq(b.container_id, "c9");
	ck_assert_str_eq(b.activity_id, Z);
	gcs_proto_release(&b);
	ck_assert_int_eq(gcs_proto_decode_request_base("nope", 4, &b, &err), -EBADMSG);
	ck_assert_int_eq(err.hresult, HR_INVALID_JSON);
}
END_TEST

START_TEST(test_neg_wrong_types)
{
	decode_bad(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"ProcessId\":\"12\"}", "ProcessId");
	decode_bad(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"ProcessId\":-1}", "ProcessId");
	decode_bad(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"ProcessId\":4294967296}", "ProcessId");
	decode_bad(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"ProcessId\":1.5}", "ProcessId");
	decode_bad(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"TimeoutInMs\":true}", "TimeoutInMs");
	decode_bad(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"ContainerId\":5}", "ContainerId");
	decode_bad(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"ActivityId\":\"nope\"}", "ActivityId");
	decode_bad(GCS_MSG_RESIZE_CONSOLE_REQ, "{\"Height\":65536}", "Height");
	decode_bad(GCS_MSG_SIGNAL_PROCESS_REQ, "{\"Options\":15}", "Options");
	decode_bad(GCS_MSG_SIGNAL_PROCESS_REQ, "{\"Options\":{\"Signal\":\"CtrlC\"}}", "Signal");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "{\"Settings\":[]}", "Settings");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "{\"Settings\":{\"ProcessParameters\":{}}}",
		   "ProcessParameters");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ,
		   "{\"Settings\":{\"ProcessParameters\":\"{not json\"}}", "ProcessParameters");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, "{\"Settings\":{\"ProcessParameters\":\"[1]\"}}",
		   "ProcessParameters");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ,
		   "{\"Settings\":{\"ProcessParameters\":\"{\\\"CommandArgs\\\":[\\\"a\\\",1]}\"}}",
		   "CommandArgs[1]");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ,
		   "{\"Settings\":{\"ProcessParameters\":\"{\\\"Environment\\\":{\\\"A\\\":1}}\"}}",
		   "Environment");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ,
		   "{\"Settings\":{\"ProcessParameters\":\"{\\\"OciProcess\\\":[]}\"}}",
		   "OciProcess");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ,
		   "{\"Settings\":{\"ProcessParameters\":\"{}\",\"VsockStdioRelaySettings\":"
		   "{\"StdIn\":\"x\"}}}",
		   "StdIn");
	decode_bad(GCS_MSG_CREATE_REQ, "{\"ContainerConfig\":{}}", "ContainerConfig");
	decode_bad(GCS_MSG_CREATE_REQ, "{\"ContainerConfig\":\"{\\\"SchemaVersion\\\":2}\"}",
		   "SchemaVersion");
	decode_bad(GCS_MSG_CREATE_REQ, "{\"ContainerConfig\":\"{\\\"OciSpecification\\\":7}\"}",
		   "OciSpecification");
	decode_bad(GCS_MSG_GET_PROPERTIES_REQ, "{\"Query\":\"{\\\"PropertyTypes\\\":\\\"x\\\"}\"}",
		   "PropertyTypes");
	decode_bad(GCS_MSG_MODIFY_SETTINGS_REQ, "{\"Request\":[]}", "Request");
	/* Host-side reading of guest answers: these kill hcsshim's bridge, so they are errors. */
	decode_bad(GCS_MSG_START_RESP, "{\"Result\":2147483648}", "Result");
	decode_bad(GCS_MSG_START_RESP, "{\"Result\":\"0\"}", "Result");
	decode_bad(GCS_MSG_START_RESP, "{\"Result\":0,\"ActivityId\":\"\"}", "ActivityId");
	decode_bad(GCS_MSG_START_RESP, "{\"ErrorRecords\":[{\"Line\":-1}]}", "Line");
	decode_bad(GCS_MSG_START_RESP, "{\"ErrorRecords\":{}}", "ErrorRecords");
	decode_bad(GCS_MSG_EXECUTE_PROCESS_RESP, "{\"ProcessId\":-5}", "ProcessId");
	decode_bad(GCS_MSG_GET_PROPERTIES_RESP,
		   "{\"Properties\":\"{\\\"ProcessList\\\":[{\\\"ProcessId\\\":\\\"1\\\"}]}\"}",
		   "ProcessId");
	decode_bad(GCS_MSG_CONTAINER_NOTIFY, "{\"Result\":1e3}", "Result");
}
END_TEST

/* Missing numbers and bools are zero; null is the same as missing. */
START_TEST(test_neg_missing_and_null)
{
	union gcs_proto_msg m;

	decode_ok(GCS_MSG_EXECUTE_PROCESS_REQ, "{}", &m);
	ck_assert_str_eq(m.execute_process_req.base.container_id, "");
	ck_assert_uint_eq(m.execute_process_req.params.n_command_args, 0);
	ck_assert(!m.execute_process_req.params.create_stdin_pipe);
	ck_assert_uint_eq(m.execute_process_req.vsock_stdio.stdout_port, 0);
	ck_assert_ptr_null(m.execute_process_req.params.oci_process);
	gcs_proto_release(&m);
	decode_ok(GCS_MSG_WAIT_FOR_PROCESS_REQ,
		  "{\"ContainerId\":null,\"ProcessId\":null,\"TimeoutInMs\":null}", &m);
	ck_assert_str_eq(m.wait_req.base.container_id, "");
	ck_assert_uint_eq(m.wait_req.process_id, 0);
	gcs_proto_release(&m);
	decode_ok(GCS_MSG_SIGNAL_PROCESS_REQ, "{\"ProcessId\":3,\"Options\":null}", &m);
	ck_assert(!m.signal_req.has_options);
	gcs_proto_release(&m);
	decode_ok(GCS_MSG_START_RESP, "{}", &m);
	ck_assert_int_eq(m.resp.result, 0);
	ck_assert_str_eq(m.resp.activity_id, "");
	gcs_proto_release(&m);
	/* null inside a string array is Go's "" */
	decode_ok(GCS_MSG_GET_PROPERTIES_REQ,
		  "{\"Query\":\"{\\\"PropertyTypes\\\":[null,\\\"ProcessList\\\"]}\"}", &m);
	ck_assert_uint_eq(m.get_properties_req.n_property_types, 2);
	ck_assert_str_eq(m.get_properties_req.property_types[0], "");
	ck_assert_str_eq(m.get_properties_req.property_types[1], "ProcessList");
	gcs_proto_release(&m);
}
END_TEST

/* Go matches keys ignoring case when there is no exact match; an exact match wins. */
START_TEST(test_neg_key_case)
{
	union gcs_proto_msg m;

	decode_ok(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"processid\":5,\"TIMEOUTINMS\":9}", &m);
	ck_assert_uint_eq(m.wait_req.process_id, 5);
	ck_assert_uint_eq(m.wait_req.timeout_ms, 9);
	gcs_proto_release(&m);
	decode_ok(GCS_MSG_WAIT_FOR_PROCESS_REQ, "{\"processid\":5,\"ProcessId\":6}", &m);
	ck_assert_uint_eq(m.wait_req.process_id, 6);
	gcs_proto_release(&m);
}
END_TEST

/* A 1 MiB string decodes; a 1 MiB reply is refused by the encoder (64 KiB bridge limit). */
START_TEST(test_neg_big_strings)
{
	size_t n = 1024 * 1024;
	char *big = malloc(n + 1), *body;
	struct gcs_proto_dump_stacks_resp resp = { { .activity_id = Z } };
	struct gcs_proto_request_base req = { .activity_id = Z };
	struct gcs_error err = { 0 };
	union gcs_proto_msg m;
	char *frame;
	size_t len;

	memset(big, 'x', n);
	big[n] = '\0';
	ck_assert_int_ge(asprintf(&body, "{\"ContainerId\":\"%s\"}", big), 0);
	decode_ok(GCS_MSG_START_REQ, body, &m);
	ck_assert_uint_eq(strlen(m.req.container_id), n);
	gcs_proto_release(&m);
	free(body);

	resp.guest_stacks = big;
	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_DUMP_STACKS_RESP, 1, &resp,
						GCS_PROTO_STYLE_GUEST, &frame, &len, &err),
			 -EMSGSIZE);
	ck_assert_ptr_nonnull(strstr(err.message, "65536"));
	/* The host may send big requests. */
	req.container_id = big;
	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_START_REQ, 1, &req, GCS_PROTO_STYLE_HOST,
						&frame, &len, &err),
			 0);
	ck_assert_uint_gt(len, n);
	free(frame);
	free(big);
}
END_TEST

/* The 64 KiB limit is exact: 65536 bytes in total go out, 65537 do not. */
START_TEST(test_neg_reply_limit_exact)
{
	static const char fixed[] = "{\"Result\":0,\"ActivityId\":\"" Z "\",\"GuestStacks\":\"\"}";
	size_t room = GCS_MAX_GUEST_MESSAGE - GCS_HEADER_SIZE - (sizeof(fixed) - 1);
	char *s = malloc(room + 2);
	struct gcs_proto_dump_stacks_resp resp = { { .activity_id = Z }, s };
	struct gcs_error err = { 0 };
	char *frame;
	size_t len;

	memset(s, 'y', room + 1);
	s[room] = '\0';
	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_DUMP_STACKS_RESP, 1, &resp,
						GCS_PROTO_STYLE_GUEST, &frame, &len, &err),
			 0);
	ck_assert_uint_eq(len, GCS_MAX_GUEST_MESSAGE);
	free(frame);
	s[room] = 'y';
	s[room + 1] = '\0';
	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_DUMP_STACKS_RESP, 1, &resp,
						GCS_PROTO_STYLE_GUEST, &frame, &len, &err),
			 -EMSGSIZE);
	/* Escaping counts: '<' becomes six bytes. */
	memset(s, '<', room / 6 + 1);
	s[room / 6 + 1] = '\0';
	ck_assert_int_eq(gcs_proto_encode_frame(GCS_MSG_DUMP_STACKS_RESP, 1, &resp,
						GCS_PROTO_STYLE_GUEST, &frame, &len, &err),
			 -EMSGSIZE);
	free(s);
}
END_TEST

/* 10,000-deep nesting is refused (jansson's depth limit), at the top level and inside strings. */
START_TEST(test_neg_deep_nesting)
{
	size_t depth = 10000;
	char *deep = malloc(2 * depth + 64), *p = deep, *body;

	p += sprintf(p, "{\"ContainerId\":\"c\",\"X\":");
	for (size_t i = 0; i < depth; i++)
		*p++ = '[';
	for (size_t i = 0; i < depth; i++)
		*p++ = ']';
	*p++ = '}';
	*p = '\0';
	decode_bad(GCS_MSG_START_REQ, deep, "invalid JSON");

	/* The same inside ProcessParameters' string. */
	p = deep;
	for (size_t i = 0; i < depth; i++)
		*p++ = '[';
	for (size_t i = 0; i < depth; i++)
		*p++ = ']';
	*p = '\0';
	ck_assert_int_ge(
		asprintf(&body,
			 "{\"Settings\":{\"ProcessParameters\":\"{\\\"OciProcess\\\":%s}\"}}",
			 deep),
		0);
	decode_bad(GCS_MSG_EXECUTE_PROCESS_REQ, body, "ProcessParameters");
	free(body);
	free(deep);
}
END_TEST

/* Framing negatives through the decoder's front door: header checks, short input. */
START_TEST(test_neg_frames)
{
	struct gcs_proto_reader r;
	struct gcs_header h;
	uint8_t hdr[16];
	char *body;
	size_t used, len;

	h = (struct gcs_header){ GCS_MSG_START_REQ, 15, 1 };
	gcs_proto_header_encode(&h, hdr);
	ck_assert_int_eq(gcs_proto_header_decode(hdr, 0, &h), -EBADMSG);
	h = (struct gcs_header){ GCS_MSG_START_REQ, GCS_DEFAULT_MAX_INBOUND + 1, 1 };
	gcs_proto_header_encode(&h, hdr);
	ck_assert_int_eq(gcs_proto_header_decode(hdr, 0, &h), -EMSGSIZE);

	/* A truncated header and a truncated body are "need more", never a frame. */
	gcs_proto_reader_init(&r, 0);
	h = (struct gcs_header){ GCS_MSG_START_REQ, 16 + 4, 9 };
	gcs_proto_header_encode(&h, hdr);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, hdr, 10, &used), 0);
	ck_assert_uint_eq(used, 10);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, hdr + 10, 6, &used), 0);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, "{}", 2, &used), 0);
	ck_assert_int_eq(gcs_proto_reader_feed(&r, "\n\nextra", 7, &used), 1);
	ck_assert_uint_eq(used, 2);
	gcs_proto_reader_take(&r, &h, &body, &len);
	ck_assert_uint_eq(h.id, 9);
	ck_assert_str_eq(body, "{}\n\n");
	free(body);
	gcs_proto_reader_reset(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("messages");
	TCase *vec = tcase_create("vectors");
	TCase *rt = tcase_create("roundtrip");
	TCase *neg = tcase_create("negative");

	tcase_add_test(vec, test_negotiate_request_bytes);
	tcase_add_test(vec, test_negotiate_response_bytes);
	tcase_add_test(vec, test_negotiate_response_caps_required);
	tcase_add_test(vec, test_negotiate_response_lcow_caps);
	tcase_add_test(vec, test_error_response_bytes);
	tcase_add_test(vec, test_go_escaping);
	tcase_add_test(rt, test_rt_negotiate);
	tcase_add_test(rt, test_rt_create);
	tcase_add_test(rt, test_rt_base_only);
	tcase_add_test(rt, test_rt_execute_process);
	tcase_add_test(rt, test_rt_wait);
	tcase_add_test(rt, test_rt_signal);
	tcase_add_test(rt, test_rt_resize);
	tcase_add_test(rt, test_rt_get_properties);
	tcase_add_test(rt, test_rt_modify_settings);
	tcase_add_test(rt, test_rt_dump_stacks);
	tcase_add_test(rt, test_rt_windows_only);
	tcase_add_test(rt, test_rt_notification);
	tcase_add_test(rt, test_every_type_has_a_codec);
	tcase_add_test(rt, test_unknown_type_answer);
	tcase_add_test(neg, test_neg_spec_results);
	tcase_add_test(neg, test_neg_spec_requests);
	tcase_add_test(neg, test_neg_not_json);
	tcase_add_test(neg, test_neg_wrong_types);
	tcase_add_test(neg, test_neg_missing_and_null);
	tcase_add_test(neg, test_neg_key_case);
	tcase_add_test(neg, test_neg_big_strings);
	tcase_add_test(neg, test_neg_reply_limit_exact);
	tcase_add_test(neg, test_neg_deep_nesting);
	tcase_add_test(neg, test_neg_frames);
	suite_add_tcase(s, vec);
	suite_add_tcase(s, rt);
	suite_add_tcase(s, neg);
	return testutil_run(s);
}
