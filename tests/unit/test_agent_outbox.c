/*
 * The agent's outbox and request lifecycle: responses tied to their connection, notifications
 * kept across a lost connection and sent after the next negotiation, parked requests cancelled
 * on loss, one answer per request.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "gcs/frame.h"
#include "gcs/messages.h"
#include "gcs/msgtype.h"
#include "outbox.h"
#include "request.h"
#include "testutil.h"

static struct agent a;
static int sv[2];
static int wakes;

static void on_wake(struct outbox *o)
{
	(void)o;
	wakes++;
}

static void setup(void)
{
	memset(&a, 0, sizeof(a));
	list_init(&a.requests);
	outbox_init(&a.out, on_wake);
	wakes = 0;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
}

static void teardown(void)
{
	request_drop_all(&a);
	outbox_clear(&a.out);
	close(sv[0]);
	close(sv[1]);
}

/* Reads one frame from the host's end, or returns 0 when nothing is there. */
static int host_read(uint32_t *type, uint64_t *id, char **body)
{
	struct gcs_header h;
	size_t len;
	int rc = gcs_proto_read_frame(sv[1], GCS_DEFAULT_MAX_INBOUND, 0, &h, body, &len);

	if (rc == -ETIMEDOUT)
		return 0;
	ck_assert_int_eq(rc, 0);
	*type = h.type;
	*id = h.id;
	return 1;
}

static void notify(const char *cid)
{
	struct gcs_proto_notification n = {
		.base = { .container_id = cid, .activity_id = GCS_NULL_GUID_STRING },
		.type = "UnexpectedExit",
		.operation = "None",
	};
	outbox_notify(&a.out, &n);
}

START_TEST(test_response_of_current_connection)
{
	struct gcs_proto_response_base base = { .activity_id = GCS_NULL_GUID_STRING };
	uint32_t type;
	uint64_t id;
	char *body;

	outbox_connect(&a.out, 1);
	outbox_response(&a.out, 1, GCS_MSG_START_RESP, 5, &base);
	ck_assert_int_eq(wakes, 1);
	/* an answer to a request of an earlier connection is dropped */
	outbox_response(&a.out, 7, GCS_MSG_START_RESP, 6, &base);
	ck_assert_int_eq(wakes, 1);
	ck_assert_int_eq(outbox_flush(&a.out, sv[0]), 0);
	ck_assert_int_eq(host_read(&type, &id, &body), 1);
	ck_assert_uint_eq(type, GCS_MSG_START_RESP);
	ck_assert_uint_eq(id, 5);
	free(body);
	ck_assert_int_eq(host_read(&type, &id, &body), 0);
	ck_assert_uint_eq(a.out.bytes, 0);
}
END_TEST

START_TEST(test_notifications_wait_for_negotiation)
{
	struct gcs_proto_response_base base = { .activity_id = GCS_NULL_GUID_STRING };
	uint32_t type;
	uint64_t id;
	char *body;

	/* queued with no connection at all */
	notify("c1");
	ck_assert(!outbox_pending(&a.out));
	outbox_connect(&a.out, 1);
	ck_assert(!outbox_pending(&a.out));
	/* answers go (the negotiate answer among them), the notification only once negotiated */
	outbox_response(&a.out, 1, GCS_MSG_START_RESP, 0, &base);
	ck_assert_int_eq(outbox_flush(&a.out, sv[0]), 0);
	ck_assert_int_eq(host_read(&type, &id, &body), 1);
	ck_assert_uint_eq(type, GCS_MSG_START_RESP);
	free(body);
	ck_assert_int_eq(host_read(&type, &id, &body), 0);
	ck_assert_uint_eq(outbox_notifications(&a.out), 1);
	outbox_negotiated(&a.out);
	ck_assert_int_eq(outbox_flush(&a.out, sv[0]), 0);
	ck_assert_int_eq(host_read(&type, &id, &body), 1);
	ck_assert_uint_eq(type, GCS_MSG_CONTAINER_NOTIFY);
	ck_assert_uint_eq(id, 0);
	ck_assert_ptr_nonnull(strstr(body, "\"ContainerId\":\"c1\""));
	free(body);
	ck_assert_uint_eq(outbox_notifications(&a.out), 0);
}
END_TEST

START_TEST(test_disconnect_keeps_notifications)
{
	struct gcs_proto_response_base base = { .activity_id = GCS_NULL_GUID_STRING };
	uint32_t type;
	uint64_t id;
	char *body;

	outbox_connect(&a.out, 1);
	outbox_negotiated(&a.out);
	outbox_response(&a.out, 1, GCS_MSG_START_RESP, 3, &base);
	notify("c2");
	outbox_response(&a.out, 1, GCS_MSG_START_RESP, 4, &base);
	/* nothing written: the connection is lost */
	outbox_disconnect(&a.out);
	ck_assert_uint_eq(outbox_notifications(&a.out), 1);
	ck_assert(!outbox_pending(&a.out));
	outbox_connect(&a.out, 2);
	outbox_response(&a.out, 1, GCS_MSG_START_RESP, 9, &base); /* of connection 1: dropped */
	outbox_negotiated(&a.out);
	ck_assert_int_eq(outbox_flush(&a.out, sv[0]), 0);
	ck_assert_int_eq(host_read(&type, &id, &body), 1);
	ck_assert_uint_eq(type, GCS_MSG_CONTAINER_NOTIFY);
	free(body);
	ck_assert_int_eq(host_read(&type, &id, &body), 0);
	ck_assert_uint_eq(a.out.bytes, 0);
}
END_TEST

/* A peer that is gone is a write error, not a signal. */
START_TEST(test_write_error)
{
	struct gcs_proto_response_base base = { .activity_id = GCS_NULL_GUID_STRING };

	signal(SIGPIPE, SIG_IGN); /* as the agent does */
	outbox_connect(&a.out, 1);
	outbox_response(&a.out, 1, GCS_MSG_START_RESP, 1, &base);
	close(sv[1]);
	sv[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(outbox_flush(&a.out, sv[0]), -EPIPE);
}
END_TEST

static int cancels;

static void on_cancel(struct request *req)
{
	cancels++;
	request_drop(req);
}

START_TEST(test_request_lifecycle)
{
	struct gcs_error err = { 0 };
	struct request *r1, *r2, *r3;
	uint32_t type;
	uint64_t id;
	char *body;

	a.bridge.conn = 1;
	outbox_connect(&a.out, 1);
	r1 = request_new(&a, GCS_MSG_SIGNAL_PROCESS_REQ, 1);
	r2 = request_new(&a, GCS_MSG_WAIT_FOR_PROCESS_REQ, 2);
	r2->cancel = on_cancel;
	a.bridge.conn = 2;
	r3 = request_new(&a, GCS_MSG_WAIT_FOR_PROCESS_REQ, 3);
	r3->cancel = on_cancel;
	ck_assert_uint_eq(request_count(&a), 3);
	/* connection 1 is lost: only its parked request is cancelled */
	request_cancel_conn(&a, 1);
	ck_assert_int_eq(cancels, 1);
	ck_assert_uint_eq(request_count(&a), 2);
	/* an error answer carries the HRESULT, the message and one error record */
	gcs_error_set(&err, -ESRCH, HR_NOT_FOUND, "process %u not found", 42u);
	request_finish(r1, -ESRCH, &err);
	ck_assert_int_eq(outbox_flush(&a.out, sv[0]), 0);
	ck_assert_int_eq(host_read(&type, &id, &body), 1);
	ck_assert_uint_eq(type, GCS_MSG_SIGNAL_PROCESS_RESP);
	ck_assert_uint_eq(id, 1);
	ck_assert_ptr_nonnull(strstr(body, "\"Result\":-2147023728"));
	ck_assert_ptr_nonnull(strstr(body, "process 42 not found"));
	ck_assert_ptr_nonnull(strstr(body, "\"ErrorRecords\":[{"));
	free(body);
	ck_assert_uint_eq(request_count(&a), 1);
	/* r3 belongs to connection 2, which is not the outbox's: its answer is dropped */
	request_finish(r3, 0, NULL);
	ck_assert_int_eq(outbox_flush(&a.out, sv[0]), 0);
	ck_assert_int_eq(host_read(&type, &id, &body), 0);
	ck_assert_uint_eq(request_count(&a), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_outbox");
	TCase *tc = tcase_create("outbox");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_response_of_current_connection);
	tcase_add_test(tc, test_notifications_wait_for_negotiation);
	tcase_add_test(tc, test_disconnect_keeps_notifications);
	tcase_add_test(tc, test_write_error);
	tcase_add_test(tc, test_request_lifecycle);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
