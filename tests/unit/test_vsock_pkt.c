/* Unit tests of host/vsock/vsock_pkt: the 44-byte header codec and the credit arithmetic. */
#include <stdint.h>
#include <string.h>

#include "testutil.h"
#include "vsock_pkt.h"

/* A guest RW as the Debian 6.1 guest sends it (spec 4: buf_alloc 262144, payload 65536). */
static const char rw_hex[] = "03 00 00 00 00 00 00 00  02 00 00 00 00 00 00 00"
			     "e6 96 dc 02  d2 04 00 00  00 00 01 00  01 00  05 00"
			     "00 00 00 00  00 00 04 00  11 00 00 00";
/* Every field with high bits set: catches truncation and byte-order mistakes. */
static const char hi_hex[] = "02 00 00 00 00 00 00 00  88 77 66 55 44 33 22 11"
			     "00 00 00 40  88 13 00 00  00 00 00 00  01 00  04 00"
			     "03 00 00 00  fe ff ff ff  01 00 00 80";

START_TEST(test_decode_guest_rw)
{
	uint8_t raw[64];
	struct vsock_hdr h;

	ck_assert_uint_eq(testutil_unhex(rw_hex, raw, sizeof(raw)), VSOCK_HDR_LEN);
	vsock_hdr_decode(raw, &h);
	ck_assert_uint_eq(h.src_cid, 3);
	ck_assert_uint_eq(h.dst_cid, VSOCK_CID_HOST);
	ck_assert_uint_eq(h.src_port, 48010982);
	ck_assert_uint_eq(h.dst_port, 1234);
	ck_assert_uint_eq(h.len, 65536);
	ck_assert_uint_eq(h.type, VSOCK_TYPE_STREAM);
	ck_assert_uint_eq(h.op, VSOCK_OP_RW);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.buf_alloc, 262144);
	ck_assert_uint_eq(h.fwd_cnt, 17);
}
END_TEST

START_TEST(test_encode_byte_for_byte)
{
	struct vsock_hdr h = { .src_cid = VSOCK_CID_HOST,
			       .dst_cid = 0x1122334455667788ull,
			       .src_port = 0x40000000,
			       .dst_port = 5000,
			       .len = 0,
			       .type = VSOCK_TYPE_STREAM,
			       .op = VSOCK_OP_SHUTDOWN,
			       .flags = VSOCK_SHUTDOWN_BOTH,
			       .buf_alloc = 0xfffffffe,
			       .fwd_cnt = 0x80000001 };
	uint8_t want[64], got[VSOCK_HDR_LEN];
	struct vsock_hdr back;

	ck_assert_uint_eq(testutil_unhex(hi_hex, want, sizeof(want)), VSOCK_HDR_LEN);
	memset(got, 0xaa, sizeof(got));
	vsock_hdr_encode(&h, got);
	ck_assert_mem_eq(got, want, VSOCK_HDR_LEN);
	vsock_hdr_decode(got, &back);
	ck_assert_uint_eq(back.src_cid, h.src_cid);
	ck_assert_uint_eq(back.dst_cid, h.dst_cid);
	ck_assert_uint_eq(back.src_port, h.src_port);
	ck_assert_uint_eq(back.dst_port, h.dst_port);
	ck_assert_uint_eq(back.len, h.len);
	ck_assert_uint_eq(back.type, h.type);
	ck_assert_uint_eq(back.op, h.op);
	ck_assert_uint_eq(back.flags, h.flags);
	ck_assert_uint_eq(back.buf_alloc, h.buf_alloc);
	ck_assert_uint_eq(back.fwd_cnt, h.fwd_cnt);
}
END_TEST

START_TEST(test_round_trip_rw_vector)
{
	uint8_t raw[64], again[VSOCK_HDR_LEN];
	struct vsock_hdr h;

	testutil_unhex(rw_hex, raw, sizeof(raw));
	vsock_hdr_decode(raw, &h);
	vsock_hdr_encode(&h, again);
	ck_assert_mem_eq(again, raw, VSOCK_HDR_LEN);
}
END_TEST

START_TEST(test_op_names)
{
	ck_assert_str_eq(vsock_op_name(VSOCK_OP_REQUEST), "REQUEST");
	ck_assert_str_eq(vsock_op_name(VSOCK_OP_RESPONSE), "RESPONSE");
	ck_assert_str_eq(vsock_op_name(VSOCK_OP_RST), "RST");
	ck_assert_str_eq(vsock_op_name(VSOCK_OP_SHUTDOWN), "SHUTDOWN");
	ck_assert_str_eq(vsock_op_name(VSOCK_OP_RW), "RW");
	ck_assert_str_eq(vsock_op_name(VSOCK_OP_CREDIT_UPDATE), "CREDIT_UPDATE");
	ck_assert_str_eq(vsock_op_name(VSOCK_OP_CREDIT_REQUEST), "CREDIT_REQUEST");
	ck_assert_str_eq(vsock_op_name(8), "op?");
	ck_assert_str_eq(vsock_op_name(0xffff), "op?");
}
END_TEST

START_TEST(test_peer_free_basic)
{
	/* peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt) */
	ck_assert_uint_eq(vsock_peer_free(262144, 0, 0), 262144);
	ck_assert_uint_eq(vsock_peer_free(262144, 100000, 0), 162144);
	ck_assert_uint_eq(vsock_peer_free(262144, 100000, 100000), 262144);
	ck_assert_uint_eq(vsock_peer_free(262144, 262144, 0), 0);
	ck_assert_uint_eq(vsock_peer_free(0, 0, 0), 0);
}
END_TEST

START_TEST(test_peer_free_wraps)
{
	/* Counters near 2^32: in flight = 0x100 + 0x100 bytes across the wrap. */
	ck_assert_uint_eq(vsock_peer_free(4096, 0x100, 0xffffff00u), 4096 - 0x200);
	ck_assert_uint_eq(vsock_peer_free(4096, 0xffffffffu, 0xffffffffu), 4096);
	/* 0x1fff in flight across the wrap exceeds 4096: none. */
	ck_assert_uint_eq(vsock_peer_free(4096, 0x0fffu, 0xfffff000u), 0);
	ck_assert_uint_eq(vsock_peer_free(65536, 5, 0xfffffffbu), 65536 - 10);
}
END_TEST

START_TEST(test_peer_free_shrunk_or_bogus)
{
	/* The guest shrank its buffer below what is in flight: no credit, not a huge one. */
	ck_assert_uint_eq(vsock_peer_free(4096, 10000, 0), 0);
	/* A fwd_cnt ahead of what was sent (bogus peer): no credit. */
	ck_assert_uint_eq(vsock_peer_free(4096, 100, 200), 0);
}
END_TEST

START_TEST(test_credit_update_threshold)
{
	const uint32_t ba = 262144, th = ba / 4;

	/* Nothing forwarded since the last packet: never. */
	ck_assert(!vsock_credit_update_due(ba, 1000, 1000, th));
	/* The peer still sees plenty of space. */
	ck_assert(!vsock_credit_update_due(ba, 100000, 0, th));
	/* Exactly at the threshold: not yet; one byte below: due. */
	ck_assert(!vsock_credit_update_due(ba, ba - th, 0, th));
	ck_assert(vsock_credit_update_due(ba, ba - th + 1, 0, th));
	/* All of it forwarded, across the 2^32 wrap. */
	ck_assert(vsock_credit_update_due(ba, 0x10, 0x10 - ba, th));
	ck_assert(!vsock_credit_update_due(ba, 0x10, 0xfffffff0u, th));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_pkt");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_decode_guest_rw);
	tcase_add_test(tc, test_encode_byte_for_byte);
	tcase_add_test(tc, test_round_trip_rw_vector);
	tcase_add_test(tc, test_op_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("credit");
	tcase_add_test(tc, test_peer_free_basic);
	tcase_add_test(tc, test_peer_free_wraps);
	tcase_add_test(tc, test_peer_free_shrunk_or_bogus);
	tcase_add_test(tc, test_credit_update_threshold);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
