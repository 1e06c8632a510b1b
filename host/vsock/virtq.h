/*
 * Split virtqueue engine (virtio 1.x section 2.7; spec section 3): consume available chains as
 * readable/writable byte streams, publish used entries, decide notifications (with or without
 * VIRTIO_RING_F_EVENT_IDX). Ring memory is guest memory; this code trusts none of it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmem.h"

#define VIRTQ_MAX_SIZE 32768
/* Descriptors per direction in one chain we accept; Linux uses at most 18. */
#define VIRTQ_MAX_SEGS 256

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

/* Sizes of the three parts for a queue of num entries (with the EVENT_IDX trailers). */
#define VRING_DESC_SIZE(num) ((size_t)(num)*16)
#define VRING_AVAIL_SIZE(num) (6 + (size_t)(num)*2)
#define VRING_USED_SIZE(num) (6 + (size_t)(num)*8)

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[]; /* num entries, then avail_event (u16) */
};

struct virtq {
	const struct vmem *mem;
	unsigned num;
	uint8_t *desc; /* NULL until virtq_setup */
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect; /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool ready; /* started, enabled and mapped: the owner keeps it */
	bool broken; /* the driver broke the ring: stop touching it */
	int call_fd; /* eventfd to interrupt the guest, or -1 */
};

/* One available chain, as iovecs into guest memory. */
struct virtq_chain {
	uint16_t head;
	unsigned nout, nin; /* readable (out) and writable (in) segments */
	size_t out_len, in_len; /* their total bytes */
	struct iovec out[VIRTQ_MAX_SEGS];
	struct iovec in[VIRTQ_MAX_SEGS];
};

/* Forgets the rings (call_fd is set to -1, not closed). */
void virtq_reset(struct virtq *vq);
/*
 * Resolves the rings at the front-end virtual addresses (SET_VRING_ADDR) in mem. -EINVAL for a
 * bad size or misaligned ring, -EFAULT when a part is outside the memory table.
 */
int virtq_setup(struct virtq *vq, const struct vmem *mem, unsigned num, uint64_t desc_uva,
		uint64_t avail_uva, uint64_t used_uva);
/* Ring start: the next avail index to process; the used index is read from the ring. */
void virtq_start(struct virtq *vq, uint16_t last_avail_idx);
static inline bool virtq_usable(const struct virtq *vq)
{
	return vq && vq->ready && vq->desc && !vq->broken;
}

/*
 * Takes the next valid chain: 1 with *c filled, 0 when none is available, -EIO when the ring is
 * broken (then marked so). Malformed chains (bad address, loop, readable after writable, nested
 * or unnegotiated indirect) are completed with length 0 and skipped.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *c);
/* Gives the last popped chain back (it will be popped again). */
void virtq_unpop(struct virtq *vq);
/* Completes a chain: used entry {head, len}, then the used index (release order). */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);
/*
 * Re-arms guest kicks after draining (avail_event = last_avail_idx, or clears NO_NOTIFY), then
 * re-reads the avail index: true when the guest added buffers meanwhile (drain again).
 */
bool virtq_enable_notify(struct virtq *vq);
/* Whether the guest wants an interrupt for the entries used since the last one; records it. */
bool virtq_should_notify(struct virtq *vq);
/* Signals call_fd when virtq_should_notify says so. */
void virtq_notify(struct virtq *vq);

/* Byte-stream views of iovec arrays (chains split at any byte). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/* Up to len bytes of iov starting at off, as at most cap segments in out; returns the count. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out,
		   unsigned cap);
size_t iov_length(const struct iovec *iov, unsigned n);
