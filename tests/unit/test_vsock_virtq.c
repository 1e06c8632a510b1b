/*
 * Unit tests of host/vsock/virtq and vmem: split rings built by a fake driver in memfd "guest
 * RAM" with QEMU microvm's two-region layout (spec 7.1 item 3).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "test_vsock_guest.h"
#include "testutil.h"
#include "virtq.h"
#include "vmem.h"
#include "vsock_pkt.h"

#define RING_GPA 0x100000ull

static struct fake_guest g;
static struct vmem mem;
static struct fake_ring fr;
static struct virtq vq;
static struct virtq_chain ch;

static void setup_ring(unsigned num)
{
	fg_init(&g);
	fg_vmem(&g, &mem);
	fg_ring_init(&fr, &g, num, RING_GPA);
	virtq_reset(&vq);
	ck_assert_int_eq(virtq_setup(&vq, &mem, num, fg_uva(fr.desc_gpa), fg_uva(fr.avail_gpa),
				     fg_uva(fr.used_gpa)),
			 0);
	virtq_start(&vq, 0);
	vq.ready = true;
}

static void setup(void)
{
	setup_ring(8);
}

static void teardown(void)
{
	vmem_clear(&mem);
	fg_done(&g);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* The chain was dropped: completed with length 0, nothing handed out. */
static void assert_dropped(uint16_t head)
{
	uint32_t id, len;

	ck_assert_int_eq(virtq_pop(&vq, &ch), 0);
	ck_assert_int_eq(fg_used_next(&fr, &id, &len), 1);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 0);
}

START_TEST(test_vmem_translation)
{
	uint8_t *base = vmem_gpa(&mem, 0, 1);

	ck_assert_ptr_nonnull(base);
	ck_assert_ptr_eq(vmem_gpa(&mem, 0x1000, 16), base + 0x1000);
	ck_assert_ptr_nonnull(vmem_gpa(&mem, FG_R0_SIZE - 16, 16));
	/* The microvm hole [0xf0000, 0x100000) and buffers spanning it. */
	ck_assert_ptr_null(vmem_gpa(&mem, FG_R0_SIZE, 1));
	ck_assert_ptr_null(vmem_gpa(&mem, 0xf8000, 16));
	ck_assert_ptr_null(vmem_gpa(&mem, FG_R0_SIZE - 16, 32));
	ck_assert_ptr_null(vmem_gpa(&mem, FG_R1_GPA - 8, 16));
	/* Region 1 is mapped at mmap_offset 0x100000 of the same memfd. */
	ck_assert_ptr_nonnull(vmem_gpa(&mem, FG_R1_GPA, 16));
	memcpy(fg_ptr(&g, FG_R1_GPA + 0x40), "region1", 8);
	ck_assert_str_eq((char *)vmem_gpa(&mem, FG_R1_GPA + 0x40, 8), "region1");
	ck_assert_str_eq((char *)vmem_uva(&mem, fg_uva(FG_R1_GPA + 0x40), 8), "region1");
	/* The end, and what overflows. */
	ck_assert_ptr_nonnull(vmem_gpa(&mem, FG_MEM_SIZE - 1, 1));
	ck_assert_ptr_null(vmem_gpa(&mem, FG_MEM_SIZE - 1, 2));
	ck_assert_ptr_null(vmem_gpa(&mem, FG_MEM_SIZE, 0));
	ck_assert_ptr_null(vmem_gpa(&mem, UINT64_MAX - 2, 8));
	ck_assert_ptr_null(vmem_uva(&mem, 0x1000, 8));
	ck_assert_ptr_null(vmem_uva(&mem, UINT64_MAX, 1));
}
END_TEST

START_TEST(test_vmem_limits)
{
	struct vmem m;

	vmem_init(&m);
	for (unsigned i = 0; i < VMEM_MAX_REGIONS; i++)
		ck_assert_int_eq(vmem_add(&m, g.memfd, i * 0x1000ull, 0x1000, i * 0x1000ull, 0), 0);
	ck_assert_int_eq(vmem_add(&m, g.memfd, 0x100000, 0x1000, 0, 0), -E2BIG);
	vmem_clear(&m);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_int_eq(vmem_add(&m, g.memfd, 0, 0, 0, 0), -EINVAL);
	ck_assert_int_eq(vmem_add(&m, g.memfd, UINT64_MAX - 10, 0x1000, 0, 0), -EINVAL);
	ck_assert_int_lt(vmem_add(&m, -1, 0, 0x1000, 0, 0), 0);
	ck_assert_uint_eq(m.n, 0);
}
END_TEST

START_TEST(test_setup_rejects_bad_rings)
{
	struct virtq q;

	virtq_reset(&q);
	ck_assert_int_eq(virtq_setup(&q, &mem, 6, fg_uva(fr.desc_gpa), fg_uva(fr.avail_gpa),
				     fg_uva(fr.used_gpa)),
			 -EINVAL);
	ck_assert_int_eq(virtq_setup(&q, &mem, 0, fg_uva(fr.desc_gpa), fg_uva(fr.avail_gpa),
				     fg_uva(fr.used_gpa)),
			 -EINVAL);
	ck_assert_int_eq(virtq_setup(&q, &mem, 65536, fg_uva(fr.desc_gpa), fg_uva(fr.avail_gpa),
				     fg_uva(fr.used_gpa)),
			 -EINVAL);
	/* Misaligned used ring; descriptor table in the hole; not a front-end address. */
	ck_assert_int_eq(virtq_setup(&q, &mem, 8, fg_uva(fr.desc_gpa), fg_uva(fr.avail_gpa),
				     fg_uva(fr.used_gpa + 2)),
			 -EINVAL);
	ck_assert_int_eq(virtq_setup(&q, &mem, 8, fg_uva(0xf8000), fg_uva(fr.avail_gpa),
				     fg_uva(fr.used_gpa)),
			 -EFAULT);
	ck_assert_int_eq(virtq_setup(&q, &mem, 8, fr.desc_gpa, fr.avail_gpa, fr.used_gpa), -EFAULT);
	ck_assert(!virtq_usable(&q));
}
END_TEST

START_TEST(test_empty_ring)
{
	ck_assert_int_eq(virtq_pop(&vq, &ch), 0);
	vq.ready = false;
	fg_add(&fr, &(struct fg_seg){ fg_alloc(&g, 64), 64, false }, 1);
	/* A ring that is not ready is not touched. */
	ck_assert_int_eq(virtq_pop(&vq, &ch), 0);
	ck_assert_uint_eq(vq.last_avail_idx, 0);
}
END_TEST

START_TEST(test_one_descriptor)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .len = 100, .op = VSOCK_OP_RW };
	uint8_t payload[100], raw[VSOCK_HDR_LEN], got[100];
	uint32_t split[] = { 144 };
	struct vsock_hdr back;
	uint16_t head;

	fill(payload, sizeof(payload), 1);
	head = fg_add_tx(&fr, &h, payload, split, 1);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.head, head);
	ck_assert_uint_eq(ch.nout, 1);
	ck_assert_uint_eq(ch.nin, 0);
	ck_assert_uint_eq(ch.out_len, 144);
	ck_assert_uint_eq(iov_to_buf(ch.out, ch.nout, 0, raw, sizeof(raw)), VSOCK_HDR_LEN);
	vsock_hdr_decode(raw, &back);
	ck_assert_uint_eq(back.len, 100);
	ck_assert_uint_eq(iov_to_buf(ch.out, ch.nout, VSOCK_HDR_LEN, got, sizeof(got)), 100);
	ck_assert_mem_eq(got, payload, 100);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 0);
}
END_TEST

START_TEST(test_two_descriptors)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .len = 65536, .op = VSOCK_OP_RW };
	static uint8_t payload[65536], got[65536];

	fill(payload, sizeof(payload), 2);
	fg_add_tx(&fr, &h, payload, NULL, 0);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.nout, 2);
	ck_assert_uint_eq(ch.out[0].iov_len, VSOCK_HDR_LEN);
	ck_assert_uint_eq(ch.out[1].iov_len, 65536);
	ck_assert_uint_eq(iov_to_buf(ch.out, ch.nout, VSOCK_HDR_LEN, got, sizeof(got)), 65536);
	ck_assert_mem_eq(got, payload, sizeof(got));
}
END_TEST

START_TEST(test_header_split_at_odd_offsets)
{
	struct vsock_hdr h = { .src_cid = 3,
			       .dst_cid = 2,
			       .src_port = 0xdeadbeef,
			       .dst_port = 1234,
			       .len = 7,
			       .type = 1,
			       .op = VSOCK_OP_RW,
			       .buf_alloc = 262144,
			       .fwd_cnt = 99 };
	uint32_t split[] = { 20, 24, 7 };
	uint8_t raw[VSOCK_HDR_LEN], got[7];
	struct vsock_hdr back;

	fg_add_tx(&fr, &h, "payload", split, 3);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.nout, 3);
	ck_assert_uint_eq(ch.out[0].iov_len, 20);
	iov_to_buf(ch.out, ch.nout, 0, raw, sizeof(raw));
	vsock_hdr_decode(raw, &back);
	ck_assert_uint_eq(back.src_port, 0xdeadbeef);
	ck_assert_uint_eq(back.dst_port, 1234);
	ck_assert_uint_eq(back.buf_alloc, 262144);
	ck_assert_uint_eq(back.fwd_cnt, 99);
	iov_to_buf(ch.out, ch.nout, VSOCK_HDR_LEN, got, sizeof(got));
	ck_assert_mem_eq(got, "payload", 7);
}
END_TEST

START_TEST(test_payload_over_five_descriptors)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .len = 5000, .op = VSOCK_OP_RW };
	uint32_t split[] = { 44, 1000, 1, 999, 2000, 1000 };
	uint8_t payload[5000], got[5000];

	fill(payload, sizeof(payload), 3);
	fg_add_tx(&fr, &h, payload, split, 6);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.nout, 6);
	ck_assert_uint_eq(ch.out_len, 5044);
	ck_assert_uint_eq(iov_to_buf(ch.out, ch.nout, VSOCK_HDR_LEN, got, sizeof(got)), 5000);
	ck_assert_mem_eq(got, payload, sizeof(got));
}
END_TEST

START_TEST(test_rx_buffer_shapes)
{
	/* Debian 6.1: one writable 3776-byte descriptor; older: 44W + 4096W. */
	uint64_t a = fg_alloc(&g, 3776), b = fg_alloc(&g, 44), c = fg_alloc(&g, 4096);
	struct fg_seg two[] = { { b, 44, true }, { c, 4096, true } };
	uint8_t data[100];

	fill(data, sizeof(data), 4);
	fg_add(&fr, &(struct fg_seg){ a, 3776, true }, 1);
	fg_add(&fr, two, 2);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.nin, 1);
	ck_assert_uint_eq(ch.in_len, 3776);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.nout, 0);
	ck_assert_uint_eq(ch.nin, 2);
	ck_assert_uint_eq(ch.in_len, 4140);
	/* Writing across the split lands in both buffers. */
	ck_assert_uint_eq(iov_from_buf(ch.in, ch.nin, 0, data, sizeof(data)), 100);
	ck_assert_mem_eq(fg_ptr(&g, b), data, 44);
	ck_assert_mem_eq(fg_ptr(&g, c), data + 44, 56);
}
END_TEST

START_TEST(test_indirect_table)
{
	uint64_t a = fg_alloc(&g, 44), b = fg_alloc(&g, 300);
	struct fg_seg segs[] = { { a, 44, false }, { b, 300, false } };
	uint16_t head;

	vq.indirect = true;
	head = fg_add_indirect(&fr, segs, 2);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.head, head);
	ck_assert_uint_eq(ch.nout, 2);
	ck_assert_uint_eq(ch.out_len, 344);
	/* The device's own mapping of the buffer the table points at. */
	memcpy(fg_ptr(&g, b), "indirect", 8);
	ck_assert_mem_eq(ch.out[1].iov_base, "indirect", 8);
}
END_TEST

START_TEST(test_indirect_not_negotiated)
{
	struct fg_seg segs[] = { { fg_alloc(&g, 44), 44, false } };
	uint16_t head = fg_add_indirect(&fr, segs, 1);

	assert_dropped(head);
}
END_TEST

START_TEST(test_indirect_with_next_or_bad_len)
{
	uint64_t table = fg_alloc(&g, 32);

	vq.indirect = true;
	fg_set_desc(&fr, table, 0, fg_alloc(&g, 44), 44, 0, 0);
	/* INDIRECT together with NEXT is forbidden. */
	fg_set_desc(&fr, fr.desc_gpa, 0, table, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	fg_set_desc(&fr, fr.desc_gpa, 1, fg_alloc(&g, 8), 8, 0, 0);
	fg_publish(&fr, 0);
	assert_dropped(0);
	/* A table length that is not a multiple of 16. */
	fg_set_desc(&fr, fr.desc_gpa, 2, table, 20, VRING_DESC_F_INDIRECT, 0);
	fg_publish(&fr, 2);
	assert_dropped(2);
	/* Nested indirect. */
	fg_set_desc(&fr, table, 0, table, 16, VRING_DESC_F_INDIRECT, 0);
	fg_set_desc(&fr, fr.desc_gpa, 3, table, 16, VRING_DESC_F_INDIRECT, 0);
	fg_publish(&fr, 3);
	assert_dropped(3);
}
END_TEST

START_TEST(test_write_before_read_rejected)
{
	struct fg_seg segs[] = { { fg_alloc(&g, 64), 64, true }, { fg_alloc(&g, 44), 44, false } };
	uint16_t head = fg_add(&fr, segs, 2);

	assert_dropped(head);
}
END_TEST

START_TEST(test_loop_rejected)
{
	uint64_t a = fg_alloc(&g, 44);

	fg_set_desc(&fr, fr.desc_gpa, 0, a, 44, VRING_DESC_F_NEXT, 1);
	fg_set_desc(&fr, fr.desc_gpa, 1, a, 44, VRING_DESC_F_NEXT, 0);
	fg_publish(&fr, 0);
	assert_dropped(0);
	/* The ring goes on: the next good chain is served. */
	fr.desc_next = 2;
	fg_add(&fr, &(struct fg_seg){ a, 44, false }, 1);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.head, 2);
}
END_TEST

START_TEST(test_next_out_of_range)
{
	fg_set_desc(&fr, fr.desc_gpa, 0, fg_alloc(&g, 44), 44, VRING_DESC_F_NEXT, 8);
	fg_publish(&fr, 0);
	assert_dropped(0);
}
END_TEST

START_TEST(test_address_outside_memory)
{
	/* In the hole, spanning the hole, past the end of RAM. */
	uint16_t h1 = fg_add(&fr, &(struct fg_seg){ 0xf4000, 44, false }, 1);
	uint16_t h2 = fg_add(&fr, &(struct fg_seg){ FG_R0_SIZE - 20, 44, false }, 1);
	uint16_t h3 = fg_add(&fr, &(struct fg_seg){ FG_MEM_SIZE - 20, 44, true }, 1);
	uint32_t id, len;

	ck_assert_int_eq(virtq_pop(&vq, &ch), 0);
	for (uint16_t want = h1; want <= h3; want++) {
		ck_assert_int_eq(fg_used_next(&fr, &id, &len), 1);
		ck_assert_uint_eq(id, want);
		ck_assert_uint_eq(len, 0);
	}
	(void)h2;
}
END_TEST

START_TEST(test_avail_jump_stops_ring)
{
	fg_add(&fr, &(struct fg_seg){ fg_alloc(&g, 44), 44, false }, 1);
	/* The driver claims num + 1 new entries. */
	__atomic_store_n(&fg_avail(&fr)->idx, (uint16_t)(vq.num + 1), __ATOMIC_RELEASE);
	ck_assert_int_eq(virtq_pop(&vq, &ch), -EIO);
	ck_assert(vq.broken);
	ck_assert(!virtq_usable(&vq));
	ck_assert_int_eq(virtq_pop(&vq, &ch), -EIO);
	ck_assert_uint_eq(vq.last_avail_idx, 0);
	ck_assert_uint_eq(fg_used(&fr)->idx, 0);
}
END_TEST

START_TEST(test_head_out_of_range_stops_ring)
{
	fg_publish(&fr, 200);
	ck_assert_int_eq(virtq_pop(&vq, &ch), -EIO);
	ck_assert(vq.broken);
}
END_TEST

START_TEST(test_used_ring_contents)
{
	uint32_t id, len;

	for (int i = 0; i < 3; i++)
		fg_add(&fr, &(struct fg_seg){ fg_alloc(&g, 3776), 3776, true }, 1);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
		virtq_push(&vq, ch.head, (uint32_t)(44 + i * 100));
	}
	ck_assert_uint_eq(fg_used(&fr)->idx, 3);
	for (uint32_t i = 0; i < 3; i++) {
		ck_assert_int_eq(fg_used_next(&fr, &id, &len), 1);
		ck_assert_uint_eq(id, i);
		ck_assert_uint_eq(len, 44 + i * 100);
	}
	ck_assert_int_eq(fg_used_next(&fr, &id, &len), 0);
}
END_TEST

START_TEST(test_unpop_gives_back)
{
	uint16_t head = fg_add(&fr, &(struct fg_seg){ fg_alloc(&g, 3776), 3776, true }, 1);

	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	virtq_unpop(&vq);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	ck_assert_uint_eq(ch.head, head);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 0);
}
END_TEST

START_TEST(test_index_wrap)
{
	uint32_t id, len;

	/* A ring that has been running: both indexes at 65534 (as after GET/SET_VRING_BASE). */
	fr.avail_idx = 65534;
	fr.used_seen = 65534;
	fg_avail(&fr)->idx = 65534;
	fg_used(&fr)->idx = 65534;
	virtq_start(&vq, 65534);
	ck_assert_uint_eq(vq.used_idx, 65534);
	for (int i = 0; i < 5; i++)
		fg_add(&fr, &(struct fg_seg){ fg_alloc(&g, 64), 64, true }, 1);
	ck_assert_uint_eq(fg_avail(&fr)->idx, 3);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
		virtq_push(&vq, ch.head, (uint32_t)(100 + i));
	}
	ck_assert_int_eq(virtq_pop(&vq, &ch), 0);
	ck_assert_uint_eq(vq.last_avail_idx, 3);
	ck_assert_uint_eq(fg_used(&fr)->idx, 3);
	for (uint32_t i = 0; i < 5; i++) {
		ck_assert_int_eq(fg_used_next(&fr, &id, &len), 1);
		ck_assert_uint_eq(id, i);
		ck_assert_uint_eq(len, 100 + i);
	}
}
END_TEST

START_TEST(test_start_takes_used_idx_from_ring)
{
	fg_used(&fr)->idx = 1234;
	virtq_start(&vq, 77);
	ck_assert_uint_eq(vq.used_idx, 1234);
	ck_assert_uint_eq(vq.last_avail_idx, 77);
}
END_TEST

/* Pushes until used idx = new, having last signalled at old; returns the notify decision. */
static bool decide(uint16_t old, uint16_t new, uint16_t used_event)
{
	vq.event_idx = true;
	vq.used_idx = old;
	vq.signalled_used = old;
	vq.signalled_used_valid = true;
	vq.used_idx = new;
	fg_set_used_event(&fr, used_event);
	return virtq_should_notify(&vq);
}

START_TEST(test_event_idx_decision_table)
{
	/* used_event = old: the guest wants to hear about the first new entry. */
	ck_assert(decide(10, 15, 10));
	/* used_event = new - 1: the last entry pushed crosses it. */
	ck_assert(decide(10, 15, 14));
	/* used_event = new or beyond: not yet. */
	ck_assert(!decide(10, 15, 15));
	ck_assert(!decide(10, 15, 20));
	/* Far behind (before old): already signalled for it. */
	ck_assert(!decide(10, 15, 5));
	ck_assert(!decide(1000, 1005, 3));
	/* Wrapped: old 65533, new 2, used_event 0 and 65534 are inside, 2 is not. */
	ck_assert(decide(65533, 2, 0));
	ck_assert(decide(65533, 2, 65534));
	ck_assert(!decide(65533, 2, 2));
	/* Nothing pushed since the last interrupt. */
	ck_assert(!decide(7, 7, 6));
	/* The first decision after start always signals (no valid old value). */
	vq.signalled_used_valid = false;
	ck_assert(virtq_should_notify(&vq));
}
END_TEST

START_TEST(test_no_event_idx_flags)
{
	vq.event_idx = false;
	vq.signalled_used_valid = true;
	vq.signalled_used = 0;
	vq.used_idx = 1;
	ck_assert(virtq_should_notify(&vq));
	/* Nothing new: no interrupt. */
	ck_assert(!virtq_should_notify(&vq));
	vq.used_idx = 2;
	fg_avail(&fr)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	ck_assert(!virtq_should_notify(&vq));
}
END_TEST

START_TEST(test_avail_event_rearm_race)
{
	vq.event_idx = true;
	for (int i = 0; i < 2; i++)
		fg_add(&fr, &(struct fg_seg){ fg_alloc(&g, 64), 64, true }, 1);
	while (virtq_pop(&vq, &ch) == 1)
		virtq_push(&vq, ch.head, 0);
	/* The guest posts a buffer after the drain, before the device re-arms. */
	fg_add(&fr, &(struct fg_seg){ fg_alloc(&g, 64), 64, true }, 1);
	ck_assert(virtq_enable_notify(&vq));
	ck_assert_uint_eq(fg_avail_event(&fr), 2);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	virtq_push(&vq, ch.head, 0);
	ck_assert(!virtq_enable_notify(&vq));
	ck_assert_uint_eq(fg_avail_event(&fr), 3);
}
END_TEST

START_TEST(test_notify_signals_call_fd)
{
	uint64_t v = 0;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ck_assert_int_ge(efd, 0);
	vq.call_fd = efd;
	vq.event_idx = true;
	fg_set_used_event(&fr, 0);
	fg_add(&fr, &(struct fg_seg){ fg_alloc(&g, 64), 64, true }, 1);
	ck_assert_int_eq(virtq_pop(&vq, &ch), 1);
	virtq_push(&vq, ch.head, 44);
	virtq_notify(&vq);
	ck_assert_int_eq(read(efd, &v, sizeof(v)), sizeof(v));
	ck_assert_uint_eq(v, 1);
	/* Nothing new: no second signal. */
	virtq_notify(&vq);
	ck_assert_int_eq(read(efd, &v, sizeof(v)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(efd);
}
END_TEST

START_TEST(test_iov_helpers)
{
	uint8_t a[3], b[5], c[4], out[12];
	struct iovec iov[] = { { a, 3 }, { b, 5 }, { c, 4 } }, s[3];
	unsigned n;

	ck_assert_uint_eq(iov_length(iov, 3), 12);
	ck_assert_uint_eq(iov_from_buf(iov, 3, 2, "ABCDEFGHIJ", 10), 10);
	ck_assert_uint_eq(iov_to_buf(iov, 3, 2, out, sizeof(out)), 10);
	ck_assert_mem_eq(out, "ABCDEFGHIJ", 10);
	ck_assert_uint_eq(iov_from_buf(iov, 3, 11, "xyz", 3), 1);
	n = iov_slice(iov, 3, 4, 6, s, 3);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_eq(s[0].iov_base, b + 1);
	ck_assert_uint_eq(s[0].iov_len, 4);
	ck_assert_uint_eq(s[1].iov_len, 2);
	ck_assert_uint_eq(iov_slice(iov, 3, 12, 5, s, 3), 0);
	ck_assert_uint_eq(iov_slice(iov, 3, 0, 100, s, 2), 2);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_virtq");
	TCase *tc = tcase_create("memory");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_vmem_translation);
	tcase_add_test(tc, test_vmem_limits);
	tcase_add_test(tc, test_setup_rejects_bad_rings);
	suite_add_tcase(s, tc);

	tc = tcase_create("chains");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty_ring);
	tcase_add_test(tc, test_one_descriptor);
	tcase_add_test(tc, test_two_descriptors);
	tcase_add_test(tc, test_header_split_at_odd_offsets);
	tcase_add_test(tc, test_payload_over_five_descriptors);
	tcase_add_test(tc, test_rx_buffer_shapes);
	tcase_add_test(tc, test_indirect_table);
	tcase_add_test(tc, test_indirect_not_negotiated);
	tcase_add_test(tc, test_indirect_with_next_or_bad_len);
	tcase_add_test(tc, test_write_before_read_rejected);
	tcase_add_test(tc, test_loop_rejected);
	tcase_add_test(tc, test_next_out_of_range);
	tcase_add_test(tc, test_address_outside_memory);
	tcase_add_test(tc, test_avail_jump_stops_ring);
	tcase_add_test(tc, test_head_out_of_range_stops_ring);
	suite_add_tcase(s, tc);

	tc = tcase_create("used");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_used_ring_contents);
	tcase_add_test(tc, test_unpop_gives_back);
	tcase_add_test(tc, test_index_wrap);
	tcase_add_test(tc, test_start_takes_used_idx_from_ring);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_event_idx_decision_table);
	tcase_add_test(tc, test_no_event_idx_flags);
	tcase_add_test(tc, test_avail_event_rearm_race);
	tcase_add_test(tc, test_notify_signals_call_fd);
	tcase_add_test(tc, test_iov_helpers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(suite());
}
