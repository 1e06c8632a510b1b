/* Split virtqueue: chain walking, used ring, notification suppression. */
#include "virtq.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vlog.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "rings are read in host byte order");

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
	vq->call_fd = -1;
}

int virtq_setup(struct virtq *vq, const struct vmem *mem, unsigned num, uint64_t desc_uva,
		uint64_t avail_uva, uint64_t used_uva)
{
	void *desc, *avail, *used;

	if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	desc = vmem_uva(mem, desc_uva, VRING_DESC_SIZE(num));
	avail = vmem_uva(mem, avail_uva, VRING_AVAIL_SIZE(num));
	used = vmem_uva(mem, used_uva, VRING_USED_SIZE(num));
	if (!desc || !avail || !used)
		return -EFAULT;
	if ((uintptr_t)desc % 16 || (uintptr_t)avail % 2 || (uintptr_t)used % 4)
		return -EINVAL;
	vq->mem = mem;
	vq->num = num;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return 0;
}

void virtq_start(struct virtq *vq, uint16_t last_avail_idx)
{
	vq->last_avail_idx = last_avail_idx;
	/* From the ring, never from a cached value: a stale one breaks a rebooted guest (#183). */
	vq->used_idx = vq->used ? __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) : 0;
	vq->signalled_used_valid = false;
	vq->broken = false;
}

static void get_desc(const uint8_t *table, unsigned i, struct vring_desc *d)
{
	memcpy(d, table + (size_t)i * 16, sizeof(*d));
}

static int add_seg(struct iovec *iov, unsigned *n, size_t *total, void *p, uint32_t len)
{
	if (*n >= VIRTQ_MAX_SEGS)
		return -E2BIG;
	iov[*n].iov_base = p;
	iov[*n].iov_len = len;
	(*n)++;
	*total += len;
	return 0;
}

/* Walks the chain at head into c; a negative errno names what makes it malformed. */
static int walk(const struct virtq *vq, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = vq->desc;
	unsigned size = vq->num, i = head, count = 0;
	bool in_indirect = false;

	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	for (;;) {
		struct vring_desc d;
		int r;

		/* More descriptors than the table holds means a loop. */
		if (count++ >= size)
			return -ELOOP;
		get_desc(table, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect || in_indirect || (d.flags & VRING_DESC_F_NEXT))
				return -EINVAL;
			if (d.len == 0 || d.len % 16 || d.len / 16 > VIRTQ_MAX_SIZE)
				return -EINVAL;
			table = vmem_gpa(vq->mem, d.addr, d.len);
			if (!table)
				return -EFAULT;
			size = d.len / 16;
			i = 0;
			count = 0;
			in_indirect = true;
			continue;
		}
		if (d.flags & VRING_DESC_F_WRITE) {
			void *p = d.len ? vmem_gpa(vq->mem, d.addr, d.len) : NULL;

			if (d.len && !p)
				return -EFAULT;
			r = d.len ? add_seg(c->in, &c->nin, &c->in_len, p, d.len) : 0;
		} else {
			void *p = d.len ? vmem_gpa(vq->mem, d.addr, d.len) : NULL;

			/* All device-readable descriptors come first. */
			if (c->nin || (d.len && !p))
				return c->nin ? -EINVAL : -EFAULT;
			r = d.len ? add_seg(c->out, &c->nout, &c->out_len, p, d.len) : 0;
		}
		if (r < 0)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
		if (i >= size)
			return -EINVAL;
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
	while (virtq_usable(vq)) {
		uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
		uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);
		uint16_t head;
		int r;

		if (pending == 0)
			return 0;
		if (pending > vq->num) {
			vlog_error(
				"virtqueue: avail index jumped from %u to %u (size %u): ring stopped",
				vq->last_avail_idx, avail_idx, vq->num);
			vq->broken = true;
			return -EIO;
		}
		head = vq->avail->ring[vq->last_avail_idx % vq->num];
		if (head >= vq->num) {
			vlog_error("virtqueue: head %u out of range (size %u): ring stopped", head,
				   vq->num);
			vq->broken = true;
			return -EIO;
		}
		vq->last_avail_idx++;
		r = walk(vq, head, c);
		if (r == 0)
			return 1;
		vlog_warning("virtqueue: malformed chain at head %u dropped: %s", head,
			     strerror(-r));
		virtq_push(vq, head, 0);
	}
	return vq && vq->broken ? -EIO : 0;
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail_idx--;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx % vq->num];

	e->id = head;
	e->len = len;
	vq->used_idx++;
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

static uint16_t *avail_event(const struct virtq *vq)
{
	return (uint16_t *)((uint8_t *)vq->used + 4 + (size_t)vq->num * 8);
}

static uint16_t *used_event(const struct virtq *vq)
{
	return &vq->avail->ring[vq->num];
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (!virtq_usable(vq))
		return false;
	if (vq->event_idx)
		__atomic_store_n(avail_event(vq), vq->last_avail_idx, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
	/* The store must be visible before the re-read, or a kick can be lost (store/load). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail_idx;
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	bool valid = vq->signalled_used_valid;

	if (!vq->used || !vq->avail)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!vq->event_idx) {
		if (valid && old == new)
			return false;
		return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (!valid)
		return true;
	/* vring_need_event(): did new pass used_event since the last interrupt? */
	return (uint16_t)(new - __atomic_load_n(used_event(vq), __ATOMIC_RELAXED) - 1) <
	       (uint16_t)(new - old);
}

void virtq_notify(struct virtq *vq)
{
	static const uint64_t one = 1;

	if (vq->call_fd < 0 || !virtq_should_notify(vq))
		return;
	if (write(vq->call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vlog_warning("virtqueue: call eventfd: %s", strerror(errno));
}

size_t iov_length(const struct iovec *iov, unsigned n)
{
	size_t len = 0;

	for (unsigned i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, k;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		k = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, k;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		k = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, k);
		done += k;
		off = 0;
	}
	return done;
}

unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out,
		   unsigned cap)
{
	unsigned m = 0;

	for (unsigned i = 0; i < n && len > 0 && m < cap; i++) {
		size_t seg = iov[i].iov_len, k;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		k = seg - off < len ? seg - off : len;
		out[m].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[m].iov_len = k;
		m++;
		len -= k;
		off = 0;
	}
	return m;
}
