/*
 * The recorded hcsshim v0.12.5 <-> Go GCS session as test vectors: every host body decodes as
 * its request type and our host encoder reproduces it byte for byte (without the ocsc trace
 * context, which we do not send); every guest body decodes as hcsshim would read it and our
 * guest encoder reproduces it byte for byte.
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

struct line {
	bool to_guest;
	uint32_t type;
	uint32_t size;
	uint64_t id;
	char *body;
	bool truncated;
};

static struct line lines[512];
static size_t n_lines;

static void load_transcript(void)
{
	char *text = testutil_read_data("transcript-hcsshim-v0.12.5.txt", NULL);
	char *save = NULL;

	n_lines = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		struct line *x;
		char dir[8];
		unsigned long long id;
		int off = 0;

		if (l[0] != '[')
			continue;
		char *p = strchr(l, ']');
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_lt(n_lines, sizeof(lines) / sizeof(lines[0]));
		x = &lines[n_lines++];
		ck_assert_int_eq(sscanf(p + 1, " %4s type=0x%x%*s size=%u id=%llu %n", dir,
					&x->type, &x->size, &id, &off),
				 4);
		ck_assert_int_gt(off, 0);
		x->to_guest = strcmp(dir, "H->G") == 0;
		ck_assert(x->to_guest || strcmp(dir, "G->H") == 0);
		x->id = id;
		x->body = strdup(p + 1 + off);
		x->truncated = strstr(x->body, "...(truncated)") != NULL;
	}
	free(text);
}

/* The body without the ocsc member, which hcsshim adds after ActivityId. */
static char *strip_ocsc(const char *body)
{
	char *out = strdup(body);
	char *p = strstr(out, ",\"ocsc\":{");

	if (p) {
		char *end = strchr(p + 1, '}');
		ck_assert_ptr_nonnull(end);
		memmove(p, end + 1, strlen(end + 1) + 1);
	}
	return out;
}

START_TEST(test_transcript_shape)
{
	size_t requests = 0, responses = 0, notifications = 0, truncated = 0;

	load_transcript();
	ck_assert_uint_ge(n_lines, 170);
	for (size_t i = 0; i < n_lines; i++) {
		struct line *x = &lines[i];
		size_t nl = x->to_guest ? 1 : 0;

		ck_assert(gcs_proto_msg_known(x->type));
		if (x->truncated) {
			truncated++;
			continue;
		}
		/* Size counts the header and, for the host, json.Encoder's newline. */
		ck_assert_uint_eq(x->size, GCS_HEADER_SIZE + strlen(x->body) + nl);
		if (x->to_guest) {
			ck_assert(gcs_msg_is_request(x->type));
			requests++;
		} else if (gcs_msg_is_response(x->type)) {
			responses++;
		} else {
			ck_assert_uint_eq(x->type, GCS_MSG_CONTAINER_NOTIFY);
			ck_assert_uint_eq(x->id, 0);
			notifications++;
		}
	}
	/* Only the Create request is cut short in the recording. */
	ck_assert_uint_eq(truncated, 1);
	ck_assert_uint_eq(notifications, 1);
	/* The recording leaves out the 50 ExecuteProcess requests of its latency loop. */
	ck_assert_uint_eq(requests, 68);
	ck_assert_uint_eq(responses, 119);
}
END_TEST

/*
 * Every response whose request is in the recording answers it with the same ID and the derived
 * type; IDs count up from 0 (the latency loop's requests are not recorded).
 */
START_TEST(test_transcript_pairing)
{
	size_t paired = 0;

	load_transcript();
	for (size_t i = 0; i < n_lines; i++) {
		struct line *x = &lines[i];
		bool found = false;

		if (x->to_guest || !gcs_msg_is_response(x->type))
			continue;
		for (size_t j = 0; j < i; j++) {
			if (lines[j].to_guest && lines[j].id == x->id) {
				ck_assert_uint_eq(gcs_msg_response_type(lines[j].type), x->type);
				ck_assert_uint_eq(gcs_msg_request_type(x->type), lines[j].type);
				found = true;
			}
		}
		paired += found;
	}
	ck_assert_uint_eq(paired, 69);
	for (size_t i = 0, last = 0; i < n_lines; i++) {
		if (!lines[i].to_guest)
			continue;
		ck_assert(lines[i].id == 0 ? i == 0 : lines[i].id > last);
		last = lines[i].id;
	}
}
END_TEST

START_TEST(test_transcript_host_bodies)
{
	size_t checked = 0;

	load_transcript();
	for (size_t i = 0; i < n_lines; i++) {
		struct line *x = &lines[i];
		union gcs_proto_msg m;
		struct gcs_error err = { 0 };
		char *body, *want, *expect;
		size_t len;
		int rc;

		if (!x->to_guest)
			continue;
		rc = gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err);
		if (x->truncated) {
			/* The cut-off Create is not JSON any more: a decode error, not a crash. */
			ck_assert_int_eq(rc, -EBADMSG);
			ck_assert_int_eq(err.hresult, HR_INVALID_JSON);
			continue;
		}
		ck_assert_msg(rc == 0, "line %zu: %s", i, err.message);
		ck_assert_int_eq(
			gcs_proto_encode_body(x->type, &m, GCS_PROTO_STYLE_HOST, &body, &len, &err),
			0);
		want = strip_ocsc(x->body);
		ck_assert_int_ge(asprintf(&expect, "%s\n", want), 0);
		ck_assert_str_eq(body, expect);
		ck_assert_uint_eq(len, strlen(expect));
		free(body);
		free(want);
		free(expect);
		gcs_proto_release(&m);
		checked++;
	}
	ck_assert_uint_eq(checked, 68);
}
END_TEST

START_TEST(test_transcript_guest_bodies)
{
	size_t checked = 0;

	load_transcript();
	for (size_t i = 0; i < n_lines; i++) {
		struct line *x = &lines[i];
		union gcs_proto_msg m;
		struct gcs_error err = { 0 };
		char *body;
		size_t len;

		if (x->to_guest)
			continue;
		ck_assert_msg(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err) == 0,
			      "line %zu: %s", i, err.message);
		ck_assert_int_eq(gcs_proto_encode_body(x->type, &m, GCS_PROTO_STYLE_GUEST, &body,
						       &len, &err),
				 0);
		ck_assert_str_eq(body, x->body);
		ck_assert_uint_eq(len + GCS_HEADER_SIZE, x->size);
		free(body);
		gcs_proto_release(&m);
		checked++;
	}
	ck_assert_uint_eq(checked, 120);
}
END_TEST

static struct line *find(uint32_t type, uint64_t id)
{
	for (size_t i = 0; i < n_lines; i++)
		if (lines[i].type == type && lines[i].id == id)
			return &lines[i];
	ck_abort_msg("no line of type 0x%08x id %llu", type, (unsigned long long)id);
	return NULL;
}

/* What hcsshim reads out of the guest's answers. */
START_TEST(test_transcript_values)
{
	union gcs_proto_msg m;
	struct gcs_error err = { 0 };
	struct line *x;

	load_transcript();

	x = find(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, 0);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_uint_eq(m.negotiate_resp.version, 4);
	ck_assert_str_eq(m.negotiate_resp.capabilities.runtime_os_type, "Linux");
	ck_assert(m.negotiate_resp.capabilities.guest_defined.signal_process_supported);
	ck_assert(m.negotiate_resp.capabilities.guest_defined.delete_container_state_supported);
	gcs_proto_release(&m);

	x = find(GCS_MSG_EXECUTE_PROCESS_REQ, 1);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_str_eq(m.execute_process_req.base.container_id, GCS_NULL_GUID_STRING);
	ck_assert_uint_eq(m.execute_process_req.params.n_command_args, 2);
	ck_assert_str_eq(m.execute_process_req.params.command_args[0], "/bin/echo");
	ck_assert_str_eq(m.execute_process_req.params.command_args[1], "hello-from-guest");
	ck_assert_str_eq(m.execute_process_req.params.working_directory, "/");
	ck_assert_uint_eq(m.execute_process_req.params.n_environment, 1);
	ck_assert_str_eq(m.execute_process_req.params.environment[0].name, "PATH");
	ck_assert(m.execute_process_req.params.create_stdout_pipe);
	ck_assert(!m.execute_process_req.params.create_stdin_pipe);
	ck_assert_uint_eq(m.execute_process_req.vsock_stdio.stdout_port, 1073741825);
	ck_assert_uint_eq(m.execute_process_req.vsock_stdio.stdin_port, 0);
	gcs_proto_release(&m);

	x = find(GCS_MSG_EXECUTE_PROCESS_RESP, 1);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_int_eq(m.execute_process_resp.base.result, 0);
	ck_assert_uint_eq(m.execute_process_resp.process_id, 2930);
	gcs_proto_release(&m);

	x = find(GCS_MSG_WAIT_FOR_PROCESS_REQ, 2);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_uint_eq(m.wait_req.process_id, 2930);
	ck_assert_uint_eq(m.wait_req.timeout_ms, GCS_WAIT_INFINITE);
	gcs_proto_release(&m);

	/* The Go GCS refuses to signal a UVM process: HCS_E_SYSTEM_NOT_FOUND with a record. */
	x = find(GCS_MSG_SIGNAL_PROCESS_RESP, 7);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_int_eq(m.resp.result, HR_SYSTEM_NOT_FOUND);
	ck_assert_str_eq(m.resp.error_message, "HRESULT: 0xc037010e");
	ck_assert_uint_eq(m.resp.n_error_records, 1);
	ck_assert_uint_eq(m.resp.error_records[0].line, 4294967295u);
	ck_assert_str_eq(m.resp.error_records[0].module_name, "gcs");
	ck_assert_str_eq(m.resp.error_records[0].file_name, "");
	gcs_proto_release(&m);

	x = find(GCS_MSG_SIGNAL_PROCESS_REQ, 114);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert(m.signal_req.has_options);
	ck_assert_int_eq(m.signal_req.signal, 15);
	gcs_proto_release(&m);

	x = find(GCS_MSG_EXECUTE_PROCESS_REQ, 112);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_ptr_nonnull(m.execute_process_req.params.oci_process);
	ck_assert_str_eq(
		json_string_value(json_object_get(m.execute_process_req.params.oci_process, "cwd")),
		"/");
	gcs_proto_release(&m);

	x = find(GCS_MSG_CONTAINER_NOTIFY, 0);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_str_eq(m.notification.base.container_id, "c1795847347096192243");
	ck_assert_str_eq(m.notification.type, "ForcedExit");
	ck_assert_str_eq(m.notification.operation, "None");
	gcs_proto_release(&m);

	x = find(GCS_MSG_GET_PROPERTIES_REQ, 117);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_uint_eq(m.get_properties_req.n_property_types, 0);
	gcs_proto_release(&m);

	x = find(GCS_MSG_GET_PROPERTIES_RESP, 117);
	ck_assert_int_eq(gcs_proto_decode(x->type, x->body, strlen(x->body), &m, &err), 0);
	ck_assert_uint_eq(m.get_properties_resp.n_process_list, 0);
	ck_assert_ptr_null(m.get_properties_resp.lcow_metrics);
	gcs_proto_release(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transcript");
	TCase *tc = tcase_create("hcsshim-v0.12.5");

	tcase_add_test(tc, test_transcript_shape);
	tcase_add_test(tc, test_transcript_pairing);
	tcase_add_test(tc, test_transcript_host_bodies);
	tcase_add_test(tc, test_transcript_guest_bodies);
	tcase_add_test(tc, test_transcript_values);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
