/*
 * The vhost-user back-end (docs/interop/vhost-user.rst; spec section 1): message framing with
 * SCM_RIGHTS fds, feature negotiation, REPLY_ACK, the memory table, vring setup/start/stop with
 * kick and call eventfds, and the vsock config space (the guest CID). Queues 0 (rx) and 1 (tx)
 * are served by the device; queue 2 (event) belongs to QEMU, but its state is kept all the same.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "virtq.h"
#include "vmem.h"

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_RESET_DEVICE = 34,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_REPLY 0x4u
#define VHOST_USER_NEED_REPLY 0x8u
#define VHOST_USER_HDR_SIZE 12
#define VHOST_USER_MAX_PAYLOAD 4096
#define VHOST_USER_MAX_FDS 8
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD (1u << 8)

#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32

#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9

/* What we offer (spec 1.3): VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX; MQ | REPLY_ACK | CONFIG. */
#define VU_FEATURES                                                                \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | \
	 (1ull << VIRTIO_RING_F_EVENT_IDX))
#define VU_PROTOCOL_FEATURES                                                              \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG))
#define VU_NUM_QUEUES 3

struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint8_t payload[VHOST_USER_MAX_PAYLOAD];
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds;
};

struct vu_vring {
	struct virtq vq;
	unsigned num;
	uint64_t desc_uva, used_uva, avail_uva;
	bool has_addr;
	uint16_t base; /* SET_VRING_BASE, and last_avail_idx once stopped */
	int kick_fd;
	struct evloop_source kick_src;
	bool started, enabled;
};

struct vu_ops {
	void *ctx;
	/* Rings stopped (GET_VRING_BASE, reset) or the front-end left: drop the device's state. */
	void (*stop)(void *ctx);
	/* The front-end connection is gone (after stop). */
	void (*disconnect)(void *ctx);
};

struct vu {
	struct evloop *loop;
	uint64_t guest_cid;
	struct vu_ops ops;
	int fd; /* the front-end, or -1 */
	struct evloop_source src;
	uint64_t features;
	uint64_t protocol_features;
	struct vmem mem;
	struct vu_vring vring[VU_NUM_QUEUES];
	bool active; /* a ring started since the last stop */
	unsigned long nmsgs; /* messages on this connection */
	struct vu_msg msg;
};

void vu_init(struct vu *vu, struct evloop *loop, uint64_t guest_cid, const struct vu_ops *ops);
/* Serves a connected front-end (takes fd). -EBUSY when one is attached already. */
int vu_attach(struct vu *vu, int fd);
/* Drops the front-end: stops the rings (ops.stop), unmaps memory, closes every fd. */
void vu_detach(struct vu *vu);
bool vu_connected(const struct vu *vu);
struct virtq *vu_queue(struct vu *vu, unsigned idx);
/* A started, enabled ring without a kick fd (NOFD): the caller polls it. */
bool vu_needs_polling(const struct vu *vu);

/*
 * Reads one message: header by recvmsg (fds as SCM_RIGHTS, MSG_CMSG_CLOEXEC), then the payload.
 * -ECONNRESET at EOF; -EPROTO for a bad version, an oversize payload or truncated fds.
 */
int vu_recv(int fd, struct vu_msg *m);
int vu_send(int fd, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds);
/* Handles one message and sends its reply; negative when the connection must be dropped. */
int vu_handle(struct vu *vu, struct vu_msg *m);
const char *vu_request_name(uint32_t request);
