/* vhost-user back-end: framing, negotiation, memory table, vring lifecycle, config space. */
#include "vhost_user.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "list.h"
#include "vlog.h"

struct vring_state {
	uint32_t index;
	uint32_t num;
};

struct vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr; /* used before avail, as on the wire */
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};

#define CONFIG_MAX 256

const char *vu_request_name(uint32_t request)
{
	static const char *const names[] = {
		[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
		[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
		[VHOST_USER_SET_OWNER] = "SET_OWNER",
		[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
		[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
		[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
		[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
		[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
		[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
		[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
		[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
		[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
		[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
		[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
		[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
	};

	return request < ARRAY_SIZE(names) && names[request] ? names[request] : "unknown";
}

static void close_fds(struct vu_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(fd, (uint8_t *)buf + done, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

int vu_recv(int fd, struct vu_msg *m)
{
	union {
		char buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} control;
	uint32_t hdr[3];
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	ssize_t n;
	int r;

	m->nfds = 0;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		unsigned k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k && m->nfds < VHOST_USER_MAX_FDS; i++)
			memcpy(&m->fds[m->nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		close_fds(m);
		return -EPROTO;
	}
	if ((size_t)n < sizeof(hdr)) {
		r = read_full(fd, (uint8_t *)hdr + n, sizeof(hdr) - (size_t)n);
		if (r < 0) {
			close_fds(m);
			return r;
		}
	}
	m->request = hdr[0];
	m->flags = hdr[1];
	m->size = hdr[2];
	if ((m->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    m->size > VHOST_USER_MAX_PAYLOAD) {
		close_fds(m);
		return -EPROTO;
	}
	r = read_full(fd, m->payload, m->size);
	if (r < 0) {
		close_fds(m);
		return r;
	}
	return 0;
}

int vu_send(int fd, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} control;
	uint32_t hdr[3] = { request, flags, size };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	ssize_t n;

	if (nfds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hdr) + size)
		return -EIO;
	return 0;
}

static void on_kick(struct evloop_source *s, uint32_t events)
{
	uint64_t v;

	(void)events;
	/* The count means nothing; the device drains the ring after this batch of events. */
	while (read(s->fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

static void vring_init(struct vu_vring *vr)
{
	memset(vr, 0, sizeof(*vr));
	virtq_reset(&vr->vq);
	vr->kick_fd = -1;
	evloop_source_init(&vr->kick_src, -1, on_kick);
}

static void close_kick(struct vu *vu, struct vu_vring *vr)
{
	if (vr->kick_fd < 0)
		return;
	evloop_unwatch(vu->loop, &vr->kick_src);
	close(vr->kick_fd);
	vr->kick_fd = -1;
	vr->kick_src.fd = -1;
}

static void set_call_fd(struct vu_vring *vr, int fd)
{
	if (vr->vq.call_fd >= 0)
		close(vr->vq.call_fd);
	vr->vq.call_fd = fd;
}

static void update_ready(struct vu *vu)
{
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
		struct vu_vring *vr = &vu->vring[i];

		vr->vq.ready = vr->started && vr->enabled && vr->vq.desc;
	}
}

static void notify_stop(struct vu *vu)
{
	if (!vu->active)
		return;
	vu->active = false;
	if (vu->ops.stop)
		vu->ops.stop(vu->ops.ctx);
}

/* Stop a ring: never touch its memory again until it is started anew (spec 1.5). */
static void stop_vring(struct vu *vu, struct vu_vring *vr)
{
	if (vr->started)
		vr->base = vr->vq.last_avail_idx;
	vr->started = false;
	vr->enabled = false;
	vr->vq.ready = false;
	close_kick(vu, vr);
}

static void stop_all(struct vu *vu)
{
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
		stop_vring(vu, &vu->vring[i]);
	notify_stop(vu);
}

void vu_init(struct vu *vu, struct evloop *loop, uint64_t guest_cid, const struct vu_ops *ops)
{
	memset(vu, 0, sizeof(*vu));
	vu->loop = loop;
	vu->guest_cid = guest_cid;
	vu->ops = *ops;
	vu->fd = -1;
	vmem_init(&vu->mem);
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
		vring_init(&vu->vring[i]);
}

bool vu_connected(const struct vu *vu)
{
	return vu->fd >= 0;
}

struct virtq *vu_queue(struct vu *vu, unsigned idx)
{
	return idx < VU_NUM_QUEUES ? &vu->vring[idx].vq : NULL;
}

bool vu_needs_polling(const struct vu *vu)
{
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
		if (vu->vring[i].vq.ready && vu->vring[i].kick_fd < 0)
			return true;
	return false;
}

/* Re-resolves a ring's addresses (after SET_VRING_ADDR or a new memory table). */
static int map_vring(struct vu *vu, struct vu_vring *vr)
{
	int r;

	if (!vr->has_addr || vu->mem.n == 0)
		return 0;
	r = virtq_setup(&vr->vq, &vu->mem, vr->num, vr->desc_uva, vr->avail_uva, vr->used_uva);
	if (r < 0) {
		vr->vq.desc = NULL;
		vr->vq.avail = NULL;
		vr->vq.used = NULL;
	}
	return r;
}

static int get_u64(const struct vu_msg *m, uint64_t *ret)
{
	if (m->size < sizeof(*ret))
		return -EINVAL;
	memcpy(ret, m->payload, sizeof(*ret));
	return 0;
}

static int get_state(const struct vu_msg *m, struct vring_state *s)
{
	if (m->size < sizeof(*s))
		return -EINVAL;
	memcpy(s, m->payload, sizeof(*s));
	return s->index < VU_NUM_QUEUES ? 0 : -ERANGE;
}

static int set_features(struct vu *vu, uint64_t features)
{
	if (features & ~VU_FEATURES)
		vlog_warning("vhost-user: features 0x%llx not offered: ignored",
			     (unsigned long long)(features & ~VU_FEATURES));
	vu->features = features & VU_FEATURES;
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
		struct vu_vring *vr = &vu->vring[i];

		vr->vq.event_idx = vu->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
		vr->vq.indirect = vu->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
		/* Without PROTOCOL_FEATURES (QEMU < 7.2) a started ring is enabled at once. */
		if (vr->started && !(vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
			vr->enabled = true;
	}
	vlog_debug("vhost-user: features 0x%llx", (unsigned long long)vu->features);
	return 0;
}

static int set_mem_table(struct vu *vu, struct vu_msg *m)
{
	struct vmem mem;
	uint32_t n;
	int r;

	if (m->size < 8)
		return -EINVAL;
	memcpy(&n, m->payload, sizeof(n));
	if (n == 0 || n > VMEM_MAX_REGIONS || m->size < 8 + n * sizeof(struct mem_region) ||
	    m->nfds != n)
		return -EINVAL;
	vmem_init(&mem);
	for (uint32_t i = 0; i < n; i++) {
		struct mem_region reg;

		memcpy(&reg, m->payload + 8 + i * sizeof(reg), sizeof(reg));
		r = vmem_add(&mem, m->fds[i], reg.guest_phys_addr, reg.memory_size,
			     reg.userspace_addr, reg.mmap_offset);
		if (r < 0) {
			vlog_error("vhost-user: map region %u (gpa 0x%llx size 0x%llx): %s", i,
				   (unsigned long long)reg.guest_phys_addr,
				   (unsigned long long)reg.memory_size, strerror(-r));
			vmem_clear(&mem);
			return r;
		}
		vlog_debug("vhost-user: region %u gpa 0x%llx size 0x%llx uva 0x%llx off 0x%llx", i,
			   (unsigned long long)reg.guest_phys_addr,
			   (unsigned long long)reg.memory_size,
			   (unsigned long long)reg.userspace_addr,
			   (unsigned long long)reg.mmap_offset);
	}
	vmem_replace(&vu->mem, &mem);
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
		r = map_vring(vu, &vu->vring[i]);
		if (r < 0)
			vlog_warning("vhost-user: vring %u is outside the new memory table", i);
	}
	return 0;
}

static int set_vring_addr(struct vu *vu, const struct vu_msg *m)
{
	struct vring_addr a;
	struct vu_vring *vr;
	int r;

	if (m->size < sizeof(a))
		return -EINVAL;
	memcpy(&a, m->payload, sizeof(a));
	if (a.index >= VU_NUM_QUEUES)
		return -ERANGE;
	vr = &vu->vring[a.index];
	vr->desc_uva = a.desc_user_addr;
	vr->used_uva = a.used_user_addr;
	vr->avail_uva = a.avail_user_addr;
	vr->has_addr = true;
	r = map_vring(vu, vr);
	if (r < 0)
		vlog_error("vhost-user: vring %u addresses: %s", a.index, strerror(-r));
	return r;
}

/* KICK/CALL/ERR payload: vring index in bits 0-7, NOFD in bit 8; else exactly one fd. */
static int vring_fd(struct vu_msg *m, unsigned *ret_idx, int *ret_fd)
{
	uint64_t v;
	int r = get_u64(m, &v);

	if (r < 0)
		return r;
	if ((v & VHOST_USER_VRING_IDX_MASK) >= VU_NUM_QUEUES)
		return -ERANGE;
	if (v & VHOST_USER_VRING_NOFD) {
		*ret_fd = -1;
	} else {
		if (m->nfds != 1)
			return -EINVAL;
		*ret_fd = m->fds[0];
		m->fds[0] = -1;
	}
	*ret_idx = (unsigned)(v & VHOST_USER_VRING_IDX_MASK);
	return 0;
}

/* SET_VRING_KICK starts the ring (spec 1.5). */
static int set_vring_kick(struct vu *vu, struct vu_msg *m)
{
	struct vu_vring *vr;
	unsigned idx;
	int fd, r;

	r = vring_fd(m, &idx, &fd);
	if (r < 0)
		return r;
	vr = &vu->vring[idx];
	close_kick(vu, vr);
	vr->kick_fd = fd;
	if (fd >= 0) {
		evloop_source_init(&vr->kick_src, fd, on_kick);
		r = evloop_watch(vu->loop, &vr->kick_src, EPOLLIN);
		if (r < 0)
			return r;
	} else {
		vlog_warning("vhost-user: vring %u without a kick fd: polled", idx);
	}
	if (!vr->vq.desc && map_vring(vu, vr) < 0)
		return -EFAULT;
	if (!vr->vq.desc) {
		vlog_error("vhost-user: vring %u started without addresses or memory", idx);
		return -EINVAL;
	}
	virtq_start(&vr->vq, vr->base);
	vr->started = true;
	if (!(vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		vr->enabled = true;
	vu->active = true;
	vlog_debug("vhost-user: vring %u started: size %u, avail %u, used %u", idx, vr->num,
		   vr->vq.last_avail_idx, vr->vq.used_idx);
	return 0;
}

static int get_config(struct vu *vu, const struct vu_msg *m, uint8_t *reply, uint32_t *ret_size)
{
	uint8_t space[8];
	struct config_hdr h;

	for (unsigned i = 0; i < sizeof(space); i++)
		space[i] = (uint8_t)(vu->guest_cid >> (8 * i));
	*ret_size = 0; /* an empty reply is the error signal */
	if (m->size < sizeof(h))
		return -EINVAL;
	memcpy(&h, m->payload, sizeof(h));
	if (h.size > CONFIG_MAX || m->size != sizeof(h) + h.size || h.offset > sizeof(space) ||
	    h.size > sizeof(space) - h.offset)
		return -EINVAL;
	memcpy(reply, &h, sizeof(h));
	memset(reply + sizeof(h), 0, h.size);
	memcpy(reply + sizeof(h), space + h.offset, h.size);
	*ret_size = (uint32_t)sizeof(h) + h.size;
	return 0;
}

int vu_handle(struct vu *vu, struct vu_msg *m)
{
	uint8_t reply[sizeof(struct config_hdr) + CONFIG_MAX];
	uint32_t reply_size = 0;
	bool has_reply = false;
	struct vring_state st;
	uint64_t u64;
	unsigned idx;
	int r = 0, fd;

	vu->nmsgs++;
	vlog_debug("vhost-user: %s (%u) flags 0x%x size %u fds %u", vu_request_name(m->request),
		   m->request, m->flags, m->size, m->nfds);
	switch (m->request) {
	case VHOST_USER_GET_FEATURES:
		u64 = VU_FEATURES;
		memcpy(reply, &u64, sizeof(u64));
		reply_size = sizeof(u64);
		has_reply = true;
		break;
	case VHOST_USER_SET_FEATURES:
		r = get_u64(m, &u64);
		if (r == 0)
			r = set_features(vu, u64);
		break;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		u64 = VU_PROTOCOL_FEATURES;
		memcpy(reply, &u64, sizeof(u64));
		reply_size = sizeof(u64);
		has_reply = true;
		break;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		r = get_u64(m, &u64);
		if (r == 0)
			vu->protocol_features = u64 & VU_PROTOCOL_FEATURES;
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		u64 = VU_NUM_QUEUES;
		memcpy(reply, &u64, sizeof(u64));
		reply_size = sizeof(u64);
		has_reply = true;
		break;
	case VHOST_USER_SET_OWNER:
		break;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		stop_all(vu);
		break;
	case VHOST_USER_SET_MEM_TABLE:
		r = set_mem_table(vu, m);
		break;
	case VHOST_USER_SET_VRING_NUM:
		r = get_state(m, &st);
		if (r == 0 && (st.num == 0 || st.num > VIRTQ_MAX_SIZE || (st.num & (st.num - 1))))
			r = -EINVAL;
		if (r == 0) {
			vu->vring[st.index].num = st.num;
			map_vring(vu, &vu->vring[st.index]);
		}
		break;
	case VHOST_USER_SET_VRING_ADDR:
		r = set_vring_addr(vu, m);
		break;
	case VHOST_USER_SET_VRING_BASE:
		r = get_state(m, &st);
		if (r == 0)
			vu->vring[st.index].base = (uint16_t)st.num;
		break;
	case VHOST_USER_GET_VRING_BASE:
		/* Always answered (QEMU waits); an out-of-range index gets num 0. */
		r = get_state(m, &st);
		if (r == 0) {
			stop_vring(vu, &vu->vring[st.index]);
			st.num = vu->vring[st.index].base;
			vlog_debug("vhost-user: vring %u stopped at avail %u", st.index, st.num);
		} else {
			st.num = 0;
		}
		memcpy(reply, &st, sizeof(st));
		reply_size = sizeof(st);
		has_reply = true;
		/* A stopped ring ends the session's connections (spec 5.8). */
		if (r == 0)
			notify_stop(vu);
		break;
	case VHOST_USER_SET_VRING_KICK:
		r = set_vring_kick(vu, m);
		break;
	case VHOST_USER_SET_VRING_CALL:
		r = vring_fd(m, &idx, &fd);
		if (r == 0)
			set_call_fd(&vu->vring[idx], fd);
		break;
	case VHOST_USER_SET_VRING_ERR:
		r = vring_fd(m, &idx, &fd);
		if (r == 0 && fd >= 0)
			close(fd); /* accepted, never used */
		break;
	case VHOST_USER_SET_VRING_ENABLE:
		r = get_state(m, &st);
		if (r == 0)
			vu->vring[st.index].enabled = st.num != 0;
		break;
	case VHOST_USER_GET_CONFIG:
		r = get_config(vu, m, reply, &reply_size);
		has_reply = true;
		break;
	case VHOST_USER_SET_CONFIG:
		r = -EPERM; /* the CID is fixed for the life of the front-end */
		break;
	default:
		vlog_warning("vhost-user: request %u (%s) not supported", m->request,
			     vu_request_name(m->request));
		r = -EOPNOTSUPP;
		break;
	}
	close_fds(m);
	update_ready(vu);
	if (r < 0)
		vlog_warning("vhost-user: %s: %s", vu_request_name(m->request), strerror(-r));
	if (has_reply)
		return vu_send(vu->fd, m->request, VHOST_USER_VERSION | VHOST_USER_REPLY, reply,
			       reply_size, NULL, 0);
	if (m->flags & VHOST_USER_NEED_REPLY) {
		u64 = r < 0 ? 1 : 0;
		return vu_send(vu->fd, m->request, VHOST_USER_VERSION | VHOST_USER_REPLY, &u64,
			       sizeof(u64), NULL, 0);
	}
	return 0;
}

static void on_frontend(struct evloop_source *s, uint32_t events)
{
	struct vu *vu = container_of(s, struct vu, src);
	int r;

	(void)events;
	r = vu_recv(vu->fd, &vu->msg);
	if (r == 0)
		r = vu_handle(vu, &vu->msg);
	if (r == 0)
		return;
	if (r == -ECONNRESET)
		vlog_info("vhost-user: front-end disconnected");
	else
		vlog_error("vhost-user: front-end connection: %s", strerror(-r));
	vu_detach(vu);
	if (vu->ops.disconnect)
		vu->ops.disconnect(vu->ops.ctx);
}

int vu_attach(struct vu *vu, int fd)
{
	int r;

	if (vu->fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	vu->fd = fd;
	vu->nmsgs = 0;
	vu->features = 0;
	vu->protocol_features = 0;
	evloop_source_init(&vu->src, fd, on_frontend);
	r = evloop_watch(vu->loop, &vu->src, EPOLLIN);
	if (r < 0) {
		close(fd);
		vu->fd = -1;
		return r;
	}
	return 0;
}

void vu_detach(struct vu *vu)
{
	stop_all(vu);
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
		set_call_fd(&vu->vring[i], -1);
		vring_init(&vu->vring[i]);
	}
	vmem_clear(&vu->mem);
	if (vu->fd >= 0) {
		evloop_unwatch(vu->loop, &vu->src);
		close(vu->fd);
	}
	vu->fd = -1;
	vu->features = 0;
	vu->protocol_features = 0;
	vu->active = false;
}
