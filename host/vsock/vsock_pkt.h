/*
 * The virtio-vsock packet header (44 bytes, little endian, packed; spec section 4) and the credit
 * arithmetic both directions use (section 5.4). All counters are u32 and wrap.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define VSOCK_HDR_LEN 44
#define VSOCK_CID_HYPERVISOR 0
#define VSOCK_CID_LOCAL 1
#define VSOCK_CID_HOST 2
#define VSOCK_PORT_ANY 0xffffffffu

#define VSOCK_TYPE_STREAM 1
#define VSOCK_TYPE_SEQPACKET 2

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN flags: the sender will receive (RCV) / send (SEND) no more. */
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_SHUTDOWN_BOTH 3u

struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_LEN]);
void vsock_hdr_decode(const uint8_t in[VSOCK_HDR_LEN], struct vsock_hdr *ret_hdr);
/* "REQUEST", "RW", ... or "op?" for an unknown code. */
const char *vsock_op_name(uint16_t op);

/*
 * Free space at the receiver as the sender sees it: peer_buf_alloc - (tx_cnt - peer_fwd_cnt),
 * mod 2^32. 0 when the bytes in flight reach the peer's buffer (also when it shrank the buffer
 * below them, or reports a fwd_cnt ahead of what was sent).
 */
static inline uint32_t vsock_peer_free(uint32_t peer_buf_alloc, uint32_t tx_cnt,
				       uint32_t peer_fwd_cnt)
{
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;

	return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

/*
 * Whether the peer should get a CREDIT_UPDATE: the space it last heard of,
 * buf_alloc - (fwd_cnt - last_fwd_cnt_sent), is below threshold (Firecracker / vhost-device-vsock
 * rule; we use buf_alloc / 4).
 */
static inline bool vsock_credit_update_due(uint32_t buf_alloc, uint32_t fwd_cnt,
					   uint32_t last_fwd_cnt_sent, uint32_t threshold)
{
	uint32_t unannounced = fwd_cnt - last_fwd_cnt_sent;

	if (unannounced == 0)
		return false;
	return unannounced >= buf_alloc || buf_alloc - unannounced < threshold;
}
