/* The shim's JSON-to-protobuf converter: the agent's LCOWMetrics as containerd's cgroup v1
 * Metrics Any, checked by the generated unpacker; its errors, and the other field types on
 * containerd's own messages. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"
#include "github.com/containerd/containerd/api/types/mount.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "metrics.h"
#include "testutil.h"
#include "ttrpc.pb-c.h"

typedef Io__Containerd__Cgroups__V1__Metrics Metrics;

/* An LCOWMetrics as guest/gcs/cgroup.c writes it (cgroup v1 host, 4 KiB pages), with the
 * parts a fuller agent adds: per_cpu, throttling, swap, kernel, hugetlb, memory_oom_control,
 * and the empty blkio the Go GCS sends. */
static const char lcow_metrics[] =
	"{\"memory\":{\"usage\":{\"usage\":2441216,\"limit\":9223372036854771712,"
	"\"max\":3903488,\"failcnt\":0},\"cache\":401408,\"rss\":1191936,"
	"\"total_inactive_file\":262144,"
	"\"swap\":{\"usage\":2441216,\"limit\":9223372036854771712,\"max\":3903488,\"failcnt\":0},"
	"\"kernel\":{\"usage\":430080,\"limit\":9223372036854771712,\"max\":512000,\"failcnt\":0},"
	"\"kernel_tcp\":{\"usage\":0,\"limit\":9223372036854771712}},"
	"\"cpu\":{\"usage\":{\"total\":48213377,\"user\":30000000,\"kernel\":10000000,"
	"\"per_cpu\":[31000000,17213377]},"
	"\"throttling\":{\"periods\":12,\"throttled_periods\":3,\"throttled_time\":4500000}},"
	"\"pids\":{\"current\":3,\"limit\":0},"
	"\"hugetlb\":[{\"pagesize\":\"2MB\",\"usage\":0,\"max\":0,\"failcnt\":0},"
	"{\"pagesize\":\"1GB\",\"usage\":1073741824,\"max\":1073741824,\"failcnt\":2}],"
	"\"memory_oom_control\":{\"oom_kill_disable\":0,\"under_oom\":0,\"oom_kill\":1},"
	"\"blkio\":{},\"network\":[],\"rdma\":null}";

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	ck_assert_msg(j != NULL, "test JSON: %s", jerr.text);
	return j;
}

/* LCOWMetrics text -> Any -> the generated unpacker. */
static Metrics *via_any(const char *text)
{
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	json_t *j = parse(text);
	char err[256] = "";
	Metrics *m;

	ck_assert_msg(metrics_stats_any(j, &any, err, sizeof(err)) == 0, "%s", err);
	json_decref(j);
	ck_assert_str_eq(any.type_url, METRICS_V1_TYPE_URL);
	m = io__containerd__cgroups__v1__metrics__unpack(NULL, any.value.len, any.value.data);
	ck_assert_ptr_nonnull(m);
	free(any.type_url);
	free(any.value.data);
	return m;
}

/* Expects conversion of text to fail with rc and exactly the message want, the Any untouched. */
static void expect_error(const char *text, int rc, const char *want)
{
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	json_t *j = parse(text);
	char err[256] = "";

	ck_assert_int_eq(metrics_stats_any(j, &any, err, sizeof(err)), rc);
	ck_assert_msg(!strcmp(err, want), "%s: error \"%s\", want \"%s\"", text, err, want);
	ck_assert_ptr_eq(any.type_url, protobuf_c_empty_string);
	ck_assert_ptr_null(any.value.data);
	ck_assert_uint_eq(any.value.len, 0);
	json_decref(j);
}

START_TEST(type_url_is_the_registered_name)
{
	/* containerd's typeurl looks the URL up as gogo registered the Go type: the full name. */
	ck_assert_str_eq(METRICS_V1_TYPE_URL,
			 io__containerd__cgroups__v1__metrics__descriptor.name);
}
END_TEST

START_TEST(lcow_metrics_to_any)
{
	Metrics *m = via_any(lcow_metrics);

	ck_assert_ptr_nonnull(m->pids);
	ck_assert_uint_eq(m->pids->current, 3);
	ck_assert_uint_eq(m->pids->limit, 0);

	ck_assert_ptr_nonnull(m->cpu);
	ck_assert_ptr_nonnull(m->cpu->usage);
	ck_assert_uint_eq(m->cpu->usage->total, 48213377);
	ck_assert_uint_eq(m->cpu->usage->user, 30000000);
	ck_assert_uint_eq(m->cpu->usage->kernel, 10000000);
	ck_assert_uint_eq(m->cpu->usage->n_per_cpu, 2);
	ck_assert_uint_eq(m->cpu->usage->per_cpu[0], 31000000);
	ck_assert_uint_eq(m->cpu->usage->per_cpu[1], 17213377);
	ck_assert_ptr_nonnull(m->cpu->throttling);
	ck_assert_uint_eq(m->cpu->throttling->periods, 12);
	ck_assert_uint_eq(m->cpu->throttling->throttled_periods, 3);
	ck_assert_uint_eq(m->cpu->throttling->throttled_time, 4500000);

	ck_assert_ptr_nonnull(m->memory);
	ck_assert_uint_eq(m->memory->cache, 401408);
	ck_assert_uint_eq(m->memory->rss, 1191936);
	ck_assert_uint_eq(m->memory->total_inactive_file, 262144);
	ck_assert_uint_eq(m->memory->total_cache, 0);
	ck_assert_ptr_nonnull(m->memory->usage);
	ck_assert_uint_eq(m->memory->usage->usage, 2441216);
	ck_assert_uint_eq(m->memory->usage->limit, 9223372036854771712ULL);
	ck_assert_uint_eq(m->memory->usage->max, 3903488);
	ck_assert_ptr_nonnull(m->memory->swap);
	ck_assert_uint_eq(m->memory->swap->usage, 2441216);
	ck_assert_ptr_nonnull(m->memory->kernel);
	ck_assert_uint_eq(m->memory->kernel->usage, 430080);
	ck_assert_uint_eq(m->memory->kernel->max, 512000);
	ck_assert_ptr_nonnull(m->memory->kernel_tcp);
	ck_assert_uint_eq(m->memory->kernel_tcp->limit, 9223372036854771712ULL);

	ck_assert_uint_eq(m->n_hugetlb, 2);
	ck_assert_str_eq(m->hugetlb[0]->pagesize, "2MB");
	ck_assert_uint_eq(m->hugetlb[0]->usage, 0);
	ck_assert_str_eq(m->hugetlb[1]->pagesize, "1GB");
	ck_assert_uint_eq(m->hugetlb[1]->usage, 1073741824);
	ck_assert_uint_eq(m->hugetlb[1]->max, 1073741824);
	ck_assert_uint_eq(m->hugetlb[1]->failcnt, 2);

	ck_assert_ptr_nonnull(m->memory_oom_control);
	ck_assert_uint_eq(m->memory_oom_control->oom_kill, 1);
	ck_assert_uint_eq(m->memory_oom_control->under_oom, 0);

	/* {} is an empty message (present, as in Go), [] and null are nothing. */
	ck_assert_ptr_nonnull(m->blkio);
	ck_assert_uint_eq(m->blkio->n_io_service_bytes_recursive, 0);
	ck_assert_uint_eq(m->n_network, 0);
	ck_assert_ptr_null(m->rdma);
	ck_assert_ptr_null(m->cgroup_stats);
	io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
}
END_TEST

/* The same bytes as the message built with the generated API and packed by protobuf-c. */
START_TEST(same_bytes_as_generated)
{
	Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
	Io__Containerd__Cgroups__V1__HugetlbStat h =
		IO__CONTAINERD__CGROUPS__V1__HUGETLB_STAT__INIT;
	Io__Containerd__Cgroups__V1__HugetlbStat *hs[] = { &h };
	Metrics want = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	json_t *j = parse("{\"pids\":{\"current\":7,\"limit\":4096},"
			  "\"hugetlb\":[{\"pagesize\":\"2MB\",\"usage\":2097152}]}");
	uint8_t buf[64];
	size_t n;
	char err[256];

	pids.current = 7;
	pids.limit = 4096;
	h.pagesize = "2MB";
	h.usage = 2097152;
	want.pids = &pids;
	want.n_hugetlb = 1;
	want.hugetlb = hs;
	n = io__containerd__cgroups__v1__metrics__get_packed_size(&want);
	ck_assert_uint_le(n, sizeof(buf));
	io__containerd__cgroups__v1__metrics__pack(&want, buf);

	ck_assert_int_eq(metrics_stats_any(j, &any, err, sizeof(err)), 0);
	ck_assert_uint_eq(any.value.len, n);
	ck_assert_mem_eq(any.value.data, buf, n);
	free(any.type_url);
	free(any.value.data);
	json_decref(j);
}
END_TEST

START_TEST(reals_and_big_numbers)
{
	Metrics *m = via_any("{\"cpu\":{\"usage\":{\"total\":1.5e9,\"per_cpu\":[1e3,2.0,0.0]}},"
			     "\"memory\":{\"usage\":{\"limit\":1.8446744073709552e19,"
			     "\"max\":9223372036854775807}}}");

	ck_assert_uint_eq(m->cpu->usage->total, 1500000000);
	ck_assert_uint_eq(m->cpu->usage->n_per_cpu, 3);
	ck_assert_uint_eq(m->cpu->usage->per_cpu[0], 1000);
	ck_assert_uint_eq(m->cpu->usage->per_cpu[1], 2);
	ck_assert_uint_eq(m->cpu->usage->per_cpu[2], 0);
	ck_assert_uint_eq(m->memory->usage->limit, UINT64_MAX);
	ck_assert_uint_eq(m->memory->usage->max, INT64_MAX);
	io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
}
END_TEST

START_TEST(wrong_types_name_the_field)
{
	expect_error("{\"pids\":{\"current\":1},\"memory\":{\"usage\":{\"limit\":\"big\"}}}",
		     -EINVAL, "memory.usage.limit: expected an integer, got a string");
	expect_error("{\"hugetlb\":[{\"pagesize\":\"2MB\"},{\"pagesize\":2}]}", -EINVAL,
		     "hugetlb[1].pagesize: expected a string, got an integer");
	expect_error("{\"cpu\":{\"usage\":{\"total\":5,\"per_cpu\":[1,null,3]}}}", -EINVAL,
		     "cpu.usage.per_cpu[1]: expected an integer, got null");
	expect_error("{\"cpu\":{\"usage\":{\"per_cpu\":[true]}}}", -EINVAL,
		     "cpu.usage.per_cpu[0]: expected an integer, got a boolean");
	expect_error("{\"pids\":[]}", -EINVAL, "pids: expected an object, got an array");
	expect_error("{\"hugetlb\":{}}", -EINVAL, "hugetlb: expected an array, got an object");
	expect_error("{\"hugetlb\":[7]}", -EINVAL,
		     "hugetlb[0]: expected an object, got an integer");
	expect_error("[]", -EINVAL,
		     "io.containerd.cgroups.v1.Metrics: expected an object, got an array");
	expect_error("{\"pids\":{\"current\":1.5}}", -EINVAL,
		     "pids.current: 1.5 is not an integer");
	expect_error("{\"pids\":{\"current\":-1}}", -ERANGE, "pids.current: -1 is out of range");
	expect_error("{\"pids\":{\"limit\":-2.0}}", -ERANGE, "pids.limit: -2 is out of range");
	expect_error("{\"pids\":{\"limit\":4e19}}", -ERANGE, "pids.limit: 4e+19 is out of range");
}
END_TEST

START_TEST(no_metrics_is_an_error)
{
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	char err[256] = "";

	ck_assert_int_eq(metrics_stats_any(NULL, &any, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "io.containerd.cgroups.v1.Metrics: expected an object, got nothing");
	ck_assert_ptr_eq(any.type_url, protobuf_c_empty_string);
	/* A buffer too small is cut, never overrun; none at all is allowed. */
	ck_assert_int_eq(metrics_stats_any(NULL, &any, err, 8), -EINVAL);
	ck_assert_str_eq(err, "io.cont");
	ck_assert_int_eq(metrics_stats_any(NULL, &any, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(unknown_keys_ignored)
{
	Metrics *m = via_any("{\"Pids\":{\"current\":9},\"pids\":{\"current\":4,\"extra\":[1,2]},"
			     "\"io.lcow.future\":{\"a\":\"b\"},\"cpu\":null,\"perCpu\":\"x\"}");

	ck_assert_ptr_nonnull(m->pids);
	ck_assert_uint_eq(m->pids->current, 4);
	ck_assert_ptr_null(m->cpu);
	ck_assert_ptr_null(m->memory);
	io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
}
END_TEST

START_TEST(empty_object_empty_message)
{
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	json_t *j = json_object();
	char err[256];
	Metrics *m;

	ck_assert_int_eq(metrics_stats_any(j, &any, err, sizeof(err)), 0);
	ck_assert_str_eq(any.type_url, "io.containerd.cgroups.v1.Metrics");
	ck_assert_uint_eq(any.value.len, 0);
	m = io__containerd__cgroups__v1__metrics__unpack(NULL, 0, any.value.data);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->n_hugetlb, 0);
	ck_assert_ptr_null(m->pids);
	ck_assert_ptr_null(m->cpu);
	ck_assert_ptr_null(m->memory);
	ck_assert_ptr_null(m->memory_oom_control);
	io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
	free(any.type_url);
	free(any.value.data);
	json_decref(j);
}
END_TEST

/* ---- the converter on other descriptors: strings, uint32, enum, bool, int64/int32 ---- */

static int convert(const ProtobufCMessageDescriptor *desc, const char *text, ProtobufCMessage **m,
		   char *err, size_t len)
{
	json_t *j = parse(text);
	int r = metrics_message_from_json(desc, j, m, err, len);

	json_decref(j);
	return r;
}

START_TEST(other_field_types)
{
	Containerd__Task__V2__StateResponse *s;
	ProtobufCMessage *m = NULL;
	char err[256] = "";

	ck_assert_msg(
		convert(&containerd__task__v2__state_response__descriptor,
			"{\"id\":\"c1\",\"pid\":4242,\"status\":\"RUNNING\",\"terminal\":true,"
			"\"exit_status\":0,\"exited_at\":{\"seconds\":-62135596800,"
			"\"nanos\":999999999},\"stdout\":\"/run/o\"}",
			&m, err, sizeof(err)) == 0,
		"%s", err);
	s = (Containerd__Task__V2__StateResponse *)m;
	ck_assert_ptr_eq(s->base.descriptor, &containerd__task__v2__state_response__descriptor);
	ck_assert_str_eq(s->id, "c1");
	ck_assert_str_eq(s->bundle, "");
	ck_assert_str_eq(s->stdout, "/run/o");
	ck_assert_uint_eq(s->pid, 4242);
	ck_assert_int_eq(s->status, CONTAINERD__V1__TYPES__STATUS__RUNNING);
	ck_assert(s->terminal);
	ck_assert_ptr_nonnull(s->exited_at);
	ck_assert_int_eq(s->exited_at->seconds, -62135596800LL);
	ck_assert_int_eq(s->exited_at->nanos, 999999999);
	protobuf_c_message_free_unpacked(m, NULL);

	m = NULL;
	ck_assert_int_eq(convert(&containerd__task__v2__state_response__descriptor,
				 "{\"status\":3,\"terminal\":false}", &m, err, sizeof(err)),
			 0);
	s = (Containerd__Task__V2__StateResponse *)m;
	ck_assert_int_eq(s->status, CONTAINERD__V1__TYPES__STATUS__STOPPED);
	ck_assert(!s->terminal);
	protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

START_TEST(other_field_errors)
{
	static const struct {
		const char *json;
		int rc;
		const char *err;
	} cases[] = {
		{ "{\"terminal\":1}", -EINVAL, "terminal: expected a boolean, got an integer" },
		{ "{\"status\":\"RUNNIN\"}", -EINVAL,
		  "status: \"RUNNIN\" is not a value of containerd.v1.types.Status" },
		{ "{\"pid\":4294967296}", -ERANGE, "pid: 4294967296 is out of range" },
		{ "{\"id\":\"c1\",\"exited_at\":{\"nanos\":2147483648}}", -ERANGE,
		  "exited_at.nanos: 2147483648 is out of range" },
		{ "{\"exited_at\":{\"seconds\":1e19}}", -ERANGE,
		  "exited_at.seconds: 1e+19 is out of range" },
	};
	ProtobufCMessage *m = (ProtobufCMessage *)&cases; /* untouched on failure */
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(convert(&containerd__task__v2__state_response__descriptor,
					 cases[i].json, &m, err, sizeof(err)),
				 cases[i].rc);
		ck_assert_str_eq(err, cases[i].err);
		ck_assert_ptr_eq(m, (ProtobufCMessage *)&cases);
	}

	/* protobuf-c strings end at a NUL: a JSON string holding one is refused. */
	json_t *j = json_pack("{s:s%}", "id", "a\0b", (size_t)3);

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(
		metrics_message_from_json(&containerd__task__v2__state_response__descriptor, j, &m,
					  err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err, "id: a string holding a NUL");
	json_decref(j);
}
END_TEST

/* Repeated strings and messages, a failure half-way through each (the sanitizer build checks
 * that the elements made before it are freed), and bytes refused. */
START_TEST(repeated_strings_and_partial_failure)
{
	Containerd__Types__Mount *mt;
	ProtobufCMessage *m = NULL;
	char err[256] = "";

	ck_assert_int_eq(convert(&containerd__types__mount__descriptor,
				 "{\"type\":\"ext4\",\"options\":[\"ro\",\"nosuid\",\"\"]}", &m,
				 err, sizeof(err)),
			 0);
	mt = (Containerd__Types__Mount *)m;
	ck_assert_str_eq(mt->type, "ext4");
	ck_assert_uint_eq(mt->n_options, 3);
	ck_assert_str_eq(mt->options[0], "ro");
	ck_assert_str_eq(mt->options[1], "nosuid");
	ck_assert_str_eq(mt->options[2], "");
	protobuf_c_message_free_unpacked(m, NULL);

	m = NULL;
	ck_assert_int_eq(convert(&containerd__types__mount__descriptor,
				 "{\"type\":\"ext4\",\"source\":\"/dev/sda\","
				 "\"options\":[\"ro\",\"nosuid\",7]}",
				 &m, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "options[2]: expected a string, got an integer");
	ck_assert_ptr_null(m);

	ck_assert_int_eq(convert(&ttrpc__request__descriptor,
				 "{\"service\":\"s\",\"timeout_nano\":-5,\"metadata\":["
				 "{\"key\":\"a\",\"value\":\"1\"},{\"key\":\"b\",\"value\":[]}]}",
				 &m, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "metadata[1].value: expected a string, got an array");
	ck_assert_int_eq(convert(&ttrpc__request__descriptor,
				 "{\"service\":\"s\",\"payload\":\"AAAA\"}", &m, err, sizeof(err)),
			 -EOPNOTSUPP);
	ck_assert_str_eq(err, "payload: bytes fields are not supported");
	ck_assert_ptr_null(m);

	ck_assert_int_eq(convert(&ttrpc__request__descriptor,
				 "{\"timeout_nano\":-5,\"metadata\":[{\"key\":\"a\"}]}", &m, err,
				 sizeof(err)),
			 0);
	ck_assert_int_eq(((Ttrpc__Request *)m)->timeout_nano, -5);
	ck_assert_uint_eq(((Ttrpc__Request *)m)->n_metadata, 1);
	ck_assert_str_eq(((Ttrpc__Request *)m)->metadata[0]->key, "a");
	protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("shim_metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, type_url_is_the_registered_name);
	tcase_add_test(tc, lcow_metrics_to_any);
	tcase_add_test(tc, same_bytes_as_generated);
	tcase_add_test(tc, reals_and_big_numbers);
	tcase_add_test(tc, wrong_types_name_the_field);
	tcase_add_test(tc, no_metrics_is_an_error);
	tcase_add_test(tc, unknown_keys_ignored);
	tcase_add_test(tc, empty_object_empty_message);
	tcase_add_test(tc, other_field_types);
	tcase_add_test(tc, other_field_errors);
	tcase_add_test(tc, repeated_strings_and_partial_failure);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
