/*
 * The virtio-vsock device proper: the connection table keyed by (local_port, peer_port), guest
 * packets from the TX queue dispatched to connections, host packets produced into the RX queue
 * (spec sections 5.2, 5.3), RSTs for keys without a connection, host-side port allocation and
 * deadlines. Rings come from the vhost-user layer; Unix sockets from hybrid.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "evloop.h"
#include "virtq.h"
#include "list.h"
#include "vsock_pkt.h"

/* Firecracker's range for host-initiated local ports: [2^30, 2^31), round robin. */
#define VSOCK_FIRST_HOST_PORT 0x40000000u
#define VSOCK_LAST_HOST_PORT 0x7fffffffu
#define VSOCK_DEFAULT_BUF_ALLOC (256u * 1024)
#define VSOCK_DEFAULT_MAX_CONNS 1023
/* Largest payload we put in one RX packet (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PKT_PAYLOAD (64u * 1024)
#define VSOCK_ORPHAN_RSTS 256
#define VSOCK_HASH_SIZE 256

struct vsock_dev_config {
	uint64_t guest_cid;
	const char *uds_base; /* guest connects to host port P -> Unix socket <uds_base>_<P> */
	uint32_t buf_alloc; /* our receive buffer per connection (0: default) */
	unsigned max_conns; /* 0: default */
	int request_timeout_ms; /* host-initiated REQUEST unanswered (0: 2000) */
	int close_timeout_ms; /* SHUTDOWN 3 sent, waiting for the guest's RST (0: 2000) */
	int connect_timeout_ms; /* retrying a Unix connect() that hit a full backlog (0: 1000) */
	int linger_timeout_ms; /* flushing to a slow host reader after the guest closed (0: 30000) */
};

struct vsock_rst_key {
	uint32_t local_port, peer_port;
};

struct vsock_dev {
	struct vsock_dev_config cfg;
	char *uds_base;
	struct evloop *loop;
	struct virtq *rx, *tx; /* vrings 0 and 1 */
	struct list conns; /* every connection */
	struct list hash[VSOCK_HASH_SIZE];
	struct list pending; /* connections with something for the RX queue, round robin */
	unsigned npending;
	unsigned nconns;
	uint32_t next_port;
	/* RSTs for packets that matched no connection (refused REQUESTs, stray ops). */
	struct vsock_rst_key rsts[VSOCK_ORPHAN_RSTS];
	unsigned rst_head, rst_count;
	struct virtq_chain chain; /* scratch */
	struct iovec scratch[VIRTQ_MAX_SEGS];
};

int vsock_dev_init(struct vsock_dev *d, struct evloop *loop, const struct vsock_dev_config *cfg);
/* Frees every connection (closing its Unix socket) and the configuration. */
void vsock_dev_done(struct vsock_dev *d);
void vsock_dev_set_queues(struct vsock_dev *d, struct virtq *rx, struct virtq *tx);
/* Both rings are started and enabled. */
bool vsock_dev_ready(const struct vsock_dev *d);
/*
 * Device stop or guest reset (spec 5.8): close every connection's Unix socket without a packet,
 * forget pending RSTs, restart the port allocator.
 */
void vsock_dev_reset(struct vsock_dev *d);

/* Drains TX, fills RX, signals the guest, frees finished connections. Call after any event. */
void vsock_dev_process(struct vsock_dev *d);
/* Milliseconds until the next deadline (>= 0), or -1 for none. */
int vsock_dev_timeout(const struct vsock_dev *d, int64_t now);
void vsock_dev_expire(struct vsock_dev *d, int64_t now);

/*
 * A host client asked for guest port `port` (CONNECT <port>): takes fd, queues a REQUEST from a
 * fresh local port. Returns the local port, or -ECONNREFUSED (fd closed) when the rings are down
 * or the connection limit is reached.
 */
int64_t vsock_dev_host_connect(struct vsock_dev *d, int fd, uint32_t port);

/* Packet level (the ring code uses these; so do the tests). */
/* One guest packet (header decoded; payload = its hdr->len bytes). */
void vsock_dev_tx_packet(struct vsock_dev *d, const struct vsock_hdr *h,
			 const struct iovec *payload, unsigned n);
/*
 * Writes the next host packet into buf (header + payload; at least 44 bytes). 1 with *ret_hdr and
 * *ret_len (44 + payload) filled, 0 when there is nothing to send, -EINVAL for a short buffer.
 */
int vsock_dev_rx_packet(struct vsock_dev *d, const struct iovec *buf, unsigned n,
			struct vsock_hdr *ret_hdr, size_t *ret_len);
bool vsock_dev_rx_pending(const struct vsock_dev *d);
/* Frees connections that are finished (RST sent, socket closed). */
void vsock_dev_gc(struct vsock_dev *d);

static inline unsigned vsock_dev_hash(uint32_t local_port, uint32_t peer_port)
{
	return (local_port * 2654435761u ^ peer_port * 40503u) % VSOCK_HASH_SIZE;
}

struct conn *vsock_dev_lookup(const struct vsock_dev *d, uint32_t local_port, uint32_t peer_port);
/* Queues an RST for a key with no connection (bounded; the oldest is kept when full). */
void vsock_dev_queue_rst(struct vsock_dev *d, uint32_t local_port, uint32_t peer_port);
