/*
 * A fake virtio driver for the vsock device's unit suites: guest RAM in a memfd with QEMU
 * microvm's layout (region 0 at gpa 0 of 0xf0000 bytes, a hole, region 1 at gpa 0x100000 mapped
 * with mmap_offset 0x100000), split rings the test builds at chosen addresses, buffers posted the
 * way the Linux guest posts them. Header-only: static functions shared by two suites.
 */
#pragma once

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtq.h"
#include "vmem.h"
#include "vsock_pkt.h"

#define FG_MEM_SIZE 0x400000ull /* the memfd: 4 MiB */
#define FG_R0_SIZE 0xf0000ull /* region 0: [0, 0xf0000) */
#define FG_R1_GPA 0x100000ull /* region 1: [0x100000, 4 MiB) */
#define FG_R1_SIZE (FG_MEM_SIZE - FG_R1_GPA)
#define FG_UVA_BASE 0x7f1200000000ull /* the "front-end virtual address" of gpa 0 */
#define FG_DATA_GPA 0x200000ull /* buffers are bump-allocated from here */

struct fake_guest {
	int memfd;
	uint8_t *mem; /* the whole memfd, as the test sees it (index = gpa) */
	uint64_t data_base, data_next; /* bump allocator for buffers, wrapping to data_base */
};

struct fake_ring {
	struct fake_guest *g;
	unsigned num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx; /* the driver's next avail index */
	uint16_t used_seen; /* used entries consumed by the driver */
	unsigned desc_next; /* round-robin descriptor slots */
};

struct fg_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static inline void fg_init(struct fake_guest *g)
{
	g->memfd = memfd_create("fake-guest-ram", MFD_CLOEXEC);
	ck_assert_int_ge(g->memfd, 0);
	ck_assert_int_eq(ftruncate(g->memfd, (off_t)FG_MEM_SIZE), 0);
	g->mem = mmap(NULL, FG_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd, 0);
	ck_assert_ptr_ne(g->mem, MAP_FAILED);
	g->data_base = g->data_next = FG_DATA_GPA;
}

static inline void fg_done(struct fake_guest *g)
{
	munmap(g->mem, FG_MEM_SIZE);
	close(g->memfd);
}

/* The device's view of the same memory, as SET_MEM_TABLE would build it. */
static inline void fg_vmem(struct fake_guest *g, struct vmem *m)
{
	vmem_init(m);
	ck_assert_int_eq(vmem_add(m, g->memfd, 0, FG_R0_SIZE, FG_UVA_BASE, 0), 0);
	ck_assert_int_eq(
		vmem_add(m, g->memfd, FG_R1_GPA, FG_R1_SIZE, FG_UVA_BASE + FG_R1_GPA, FG_R1_GPA),
		0);
}

static inline uint64_t fg_alloc(struct fake_guest *g, uint32_t len)
{
	uint64_t gpa = (g->data_next + 15) & ~15ull;

	if (gpa + len > FG_MEM_SIZE)
		gpa = g->data_base; /* wrap: tests only keep a ring's worth of buffers alive */
	g->data_next = gpa + len;
	return gpa;
}

static inline void *fg_ptr(struct fake_guest *g, uint64_t gpa)
{
	return g->mem + gpa;
}

/* A ring of num entries at base (gpa in region 1): desc, then avail, then used (4-aligned). */
static inline void fg_ring_init(struct fake_ring *r, struct fake_guest *g, unsigned num,
				uint64_t base)
{
	memset(r, 0, sizeof(*r));
	r->g = g;
	r->num = num;
	r->desc_gpa = base;
	r->avail_gpa = base + VRING_DESC_SIZE(num);
	r->used_gpa = (r->avail_gpa + VRING_AVAIL_SIZE(num) + 3) & ~3ull;
	memset(g->mem + base, 0, r->used_gpa + VRING_USED_SIZE(num) - base);
}

static inline uint64_t fg_uva(uint64_t gpa)
{
	return FG_UVA_BASE + gpa;
}

static inline struct vring_avail *fg_avail(struct fake_ring *r)
{
	return (struct vring_avail *)fg_ptr(r->g, r->avail_gpa);
}

static inline struct vring_used *fg_used(struct fake_ring *r)
{
	return (struct vring_used *)fg_ptr(r->g, r->used_gpa);
}

static inline void fg_set_desc(struct fake_ring *r, uint64_t table_gpa, unsigned i, uint64_t addr,
			       uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };

	memcpy(r->g->mem + table_gpa + (uint64_t)i * 16, &d, sizeof(d));
}

/* Publishes head in the avail ring (release order, as virtio_wmb). */
static inline void fg_publish(struct fake_ring *r, uint16_t head)
{
	struct vring_avail *a = fg_avail(r);

	a->ring[r->avail_idx % r->num] = head;
	r->avail_idx++;
	__atomic_store_n(&a->idx, r->avail_idx, __ATOMIC_RELEASE);
}

/* Builds a chain of n segments in the descriptor table and publishes it; returns the head. */
static inline uint16_t fg_add(struct fake_ring *r, const struct fg_seg *segs, unsigned n)
{
	uint16_t head = (uint16_t)(r->desc_next % r->num), cur = head;

	for (unsigned i = 0; i < n; i++) {
		uint16_t next = (uint16_t)((r->desc_next + 1) % r->num);
		uint16_t flags = (uint16_t)((segs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0));

		fg_set_desc(r, r->desc_gpa, cur, segs[i].gpa, segs[i].len, flags,
			    i + 1 < n ? next : 0);
		r->desc_next++;
		cur = next;
	}
	fg_publish(r, head);
	return head;
}

/* The same chain through one INDIRECT descriptor pointing at a table in guest memory. */
static inline uint16_t fg_add_indirect(struct fake_ring *r, const struct fg_seg *segs, unsigned n)
{
	uint64_t table = fg_alloc(r->g, n * 16);
	uint16_t head = (uint16_t)(r->desc_next++ % r->num);

	for (unsigned i = 0; i < n; i++)
		fg_set_desc(r, table, i, segs[i].gpa, segs[i].len,
			    (uint16_t)((segs[i].write ? VRING_DESC_F_WRITE : 0) |
				       (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			    (uint16_t)(i + 1 < n ? i + 1 : 0));
	fg_set_desc(r, r->desc_gpa, head, table, n * 16, VRING_DESC_F_INDIRECT, 0);
	fg_publish(r, head);
	return head;
}

/* Takes the next used entry: 1 with id/len, 0 when none. */
static inline int fg_used_next(struct fake_ring *r, uint32_t *ret_id, uint32_t *ret_len)
{
	struct vring_used *u = fg_used(r);
	uint16_t idx = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
	struct vring_used_elem e;

	if (idx == r->used_seen)
		return 0;
	memcpy(&e, &u->ring[r->used_seen % r->num], sizeof(e));
	r->used_seen++;
	*ret_id = e.id;
	*ret_len = e.len;
	return 1;
}

/* used_event (in the avail ring) and avail_event (in the used ring), EVENT_IDX trailers. */
static inline void fg_set_used_event(struct fake_ring *r, uint16_t v)
{
	fg_avail(r)->ring[r->num] = v;
}

static inline uint16_t fg_avail_event(struct fake_ring *r)
{
	uint16_t v;

	memcpy(&v, fg_ptr(r->g, r->used_gpa + 4 + 8ull * r->num), sizeof(v));
	return v;
}

/* A TX packet: header + payload written at fresh buffers, split as the segment lengths say. */
static inline uint16_t fg_add_tx(struct fake_ring *r, const struct vsock_hdr *h,
				 const void *payload, const uint32_t *split, unsigned nsplit)
{
	uint8_t raw[VSOCK_HDR_LEN];
	struct fg_seg segs[16];
	size_t total = VSOCK_HDR_LEN + h->len, off = 0;
	uint64_t gpa = fg_alloc(r->g, (uint32_t)total);
	unsigned n = 0;

	vsock_hdr_encode(h, raw);
	memcpy(fg_ptr(r->g, gpa), raw, VSOCK_HDR_LEN);
	if (h->len && payload)
		memcpy(fg_ptr(r->g, gpa + VSOCK_HDR_LEN), payload, h->len);
	/* Default shape (Linux <= 6.1): 44R alone, or 44R + nR. */
	if (nsplit == 0) {
		segs[n++] = (struct fg_seg){ gpa, VSOCK_HDR_LEN, false };
		if (h->len)
			segs[n++] = (struct fg_seg){ gpa + VSOCK_HDR_LEN, h->len, false };
		return fg_add(r, segs, n);
	}
	for (unsigned i = 0; i < nsplit && off < total; i++) {
		uint32_t len = split[i] < total - off ? split[i] : (uint32_t)(total - off);

		segs[n++] = (struct fg_seg){ gpa + off, len, false };
		off += len;
	}
	if (off < total)
		segs[n++] = (struct fg_seg){ gpa + off, (uint32_t)(total - off), false };
	return fg_add(r, segs, n);
}

/* Polls an fd for events with a timeout; returns revents (0 on timeout). */
static inline short fg_poll(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, timeout_ms) == 1 ? p.revents : 0;
}

/*
 * A scratch directory under /tmp per test case: made and removed in the parent (unchecked
 * fixture, so a failed test, which leaves with _exit, cannot leave it behind), emptied before
 * and after each test.
 */
static char fg_tmpdir[64];

static inline void fg_tmpdir_clean(void)
{
	DIR *d;
	struct dirent *e;

	if (!fg_tmpdir[0] || !(d = opendir(fg_tmpdir)))
		return;
	while ((e = readdir(d))) {
		char p[sizeof(fg_tmpdir) + 256];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", fg_tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static inline void fg_tmpdir_make(void)
{
	snprintf(fg_tmpdir, sizeof(fg_tmpdir), "/tmp/vsock-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fg_tmpdir));
}

static inline void fg_tmpdir_remove(void)
{
	fg_tmpdir_clean();
	if (fg_tmpdir[0])
		rmdir(fg_tmpdir);
	fg_tmpdir[0] = '\0';
}
