/*
 * One vsock stream connection between a guest socket and a host Unix socket: the state machine
 * (Firecracker's states, spec 5.1), per-connection credit both ways (5.4), the half-close mapping
 * (5.5), and the packets it owes the guest, as flags the RX side serves in priority order.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "evloop.h"
#include "list.h"
#include "vsock_pkt.h"

struct vsock_dev;

enum conn_state {
	CONN_CONNECTING, /* guest REQUEST; the Unix listener's backlog was full: retrying */
	CONN_LOCAL_INIT, /* host client sent CONNECT; REQUEST queued or sent; awaiting RESPONSE */
	CONN_ESTABLISHED, /* relaying; half-closes are in peer_shut / local_shut */
	CONN_CLOSING, /* the host closed: SHUTDOWN 3 queued or sent, awaiting the guest's RST */
	CONN_DEAD, /* out of the table: an RST may still be owed, the fd may still flush */
};

/* Packets owed to the guest, highest priority first. */
#define CONN_PEND_RST (1u << 0)
#define CONN_PEND_RESPONSE (1u << 1)
#define CONN_PEND_REQUEST (1u << 2)
/* The Unix socket may have data; serving it may also yield SHUTDOWN (EOF) or CREDIT_REQUEST. */
#define CONN_PEND_RW (1u << 3)
#define CONN_PEND_CREDIT_UPDATE (1u << 4)

struct conn {
	struct vsock_dev *dev;
	struct list node; /* dev->conns */
	struct list hnode; /* hash bucket; unlinked once dead */
	struct list pnode; /* dev->pending */
	uint32_t local_port; /* host side */
	uint32_t peer_port; /* guest side */
	enum conn_state state;
	int fd; /* the Unix socket, or -1 */
	struct evloop_source src;
	unsigned pending;
	uint32_t peer_shut; /* SHUTDOWN bits the guest sent (sticky) */
	uint32_t local_shut; /* SHUTDOWN bits we sent */
	bool uds_eof; /* the host will send no more (read returned 0) */
	bool uds_wr_shut; /* shutdown(SHUT_WR) done: the host reader saw EOF */
	bool credit_requested; /* CREDIT_REQUEST sent since credit ran out */
	/* Guest -> host: our buffer and what reached the Unix socket. */
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
	uint32_t last_fwd_cnt_sent;
	uint8_t *txbuf; /* bytes received from the guest, not yet written (capacity buf_alloc) */
	size_t txoff, txlen;
	/* Host -> guest: what we sent and what the guest says about its buffer. */
	uint32_t rx_cnt;
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	int64_t deadline_ms; /* 0: none */
	int64_t give_up_ms; /* CONNECTING: when to stop retrying */
};

/* A new connection in the table (takes fd, which may be -1). NULL when out of memory. */
struct conn *conn_new(struct vsock_dev *d, uint32_t local_port, uint32_t peer_port, int fd,
		      enum conn_state state);
/* Unlinks and frees at once, closing the fd; no packet is sent. */
void conn_free(struct conn *c);
/* Ends the connection: closes the fd, drops buffered bytes, leaves the table; RST if asked. */
void conn_kill(struct conn *c, bool send_rst);

/* A guest packet for this connection (payload: hdr->len bytes). */
void conn_on_packet(struct conn *c, const struct vsock_hdr *h, const struct iovec *payload,
		    unsigned n);
/*
 * Produces the next packet owed to the guest into buf (space bytes; the payload goes after the
 * 44-byte header, which is returned in *ret_hdr, not written). 1 when produced, 0 when nothing.
 */
int conn_fill(struct conn *c, const struct iovec *buf, unsigned n, size_t space,
	      struct vsock_hdr *ret_hdr);
void conn_expire(struct conn *c, int64_t now);
/* Re-computes the epoll interest: input while the guest has credit, output while buffered. */
void conn_update_interest(struct conn *c);
/* The guest-side credit: what we may still send. */
uint32_t conn_peer_free(const struct conn *c);
/* Adds packets owed (CONN_PEND_*) and puts the connection on the RX round robin. */
void conn_queue(struct conn *c, unsigned what);
/* A Unix connect for a guest REQUEST completed: queue the RESPONSE. */
void conn_connected(struct conn *c, int fd);
