/* virtio-vsock header codec: explicit little-endian byte order, independent of the host's. */
#include "vsock_pkt.h"

#include "cleanup.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_LEN])
{
	put64(out + 0, h->src_cid);
	put64(out + 8, h->dst_cid);
	put32(out + 16, h->src_port);
	put32(out + 20, h->dst_port);
	put32(out + 24, h->len);
	put16(out + 28, h->type);
	put16(out + 30, h->op);
	put32(out + 32, h->flags);
	put32(out + 36, h->buf_alloc);
	put32(out + 40, h->fwd_cnt);
}

void vsock_hdr_decode(const uint8_t in[VSOCK_HDR_LEN], struct vsock_hdr *ret_hdr)
{
	ret_hdr->src_cid = get64(in + 0);
	ret_hdr->dst_cid = get64(in + 8);
	ret_hdr->src_port = get32(in + 16);
	ret_hdr->dst_port = get32(in + 20);
	ret_hdr->len = get32(in + 24);
	ret_hdr->type = get16(in + 28);
	ret_hdr->op = get16(in + 30);
	ret_hdr->flags = get32(in + 32);
	ret_hdr->buf_alloc = get32(in + 36);
	ret_hdr->fwd_cnt = get32(in + 40);
}

const char *vsock_op_name(uint16_t op)
{
	static const char *const names[] = {
		[VSOCK_OP_INVALID] = "INVALID",
		[VSOCK_OP_REQUEST] = "REQUEST",
		[VSOCK_OP_RESPONSE] = "RESPONSE",
		[VSOCK_OP_RST] = "RST",
		[VSOCK_OP_SHUTDOWN] = "SHUTDOWN",
		[VSOCK_OP_RW] = "RW",
		[VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE",
		[VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
	};

	return op < ARRAY_SIZE(names) ? names[op] : "op?";
}
