/*
 * The hybrid vsock convention of Firecracker and vhost-device-vsock (spec 5.6): a guest connect to
 * host port P reaches the Unix listener <base>_<P>; a host program connects to the Unix socket
 * <base>, writes "CONNECT <port>\n", and after the guest accepts reads "OK <local port>\n" and
 * then relays. The front door here reads that line; vsock_dev does the rest.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "evloop.h"
#include "list.h"

/* The CONNECT line, '\n' included, is at most this long (Firecracker: 32). */
#define HYBRID_LINE_MAX 32
#define HYBRID_DEFAULT_DOOR_TIMEOUT_MS 5000
#define HYBRID_MAX_DOOR_CLIENTS 64

/* sockaddr for <base>_<port>; -ENAMETOOLONG when it does not fit sun_path. */
int hybrid_port_addr(const char *base, uint32_t port, struct sockaddr_un *ret_sa,
		     socklen_t *ret_len);
/*
 * Non-blocking connect to <base>_<port>. 0 with *ret_fd; -EAGAIN when the listener's backlog is
 * full (retry); -ENOENT / -ECONNREFUSED when nobody listens.
 */
int hybrid_connect(const char *base, uint32_t port, int *ret_fd);
/* Listens on path (a stale socket there is removed; any other file is -EEXIST). Non-blocking. */
int hybrid_listen(const char *path, int *ret_fd);
/*
 * Parses one CONNECT line without its '\n': the word "connect" in any case, blanks, a decimal
 * u32 other than 0xffffffff, optional trailing blanks or '\r'.
 */
int hybrid_parse_connect(const char *line, size_t len, uint32_t *ret_port);

typedef bool (*door_ready_fn)(void *ctx);
/* Takes fd (non-blocking, positioned just after the '\n'). */
typedef void (*door_connect_fn)(void *ctx, int fd, uint32_t port);

struct door_client;

struct door {
	struct evloop *loop;
	char *path;
	int fd;
	struct evloop_source src;
	struct list clients; /* accepted, line not complete yet */
	unsigned nclients;
	int timeout_ms;
	door_ready_fn ready;
	door_connect_fn connect;
	void *ctx;
};

/* Listens on path. ready says whether to serve (else accept and close). */
int door_open(struct door *d, struct evloop *loop, const char *path, int timeout_ms,
	      door_ready_fn ready, door_connect_fn connect, void *ctx);
/* Closes the clients and the listener and removes path. */
void door_close(struct door *d);
/* Closes the clients still in the CONNECT phase (device reset). */
void door_drop_clients(struct door *d);
int door_timeout(const struct door *d, int64_t now);
void door_expire(struct door *d, int64_t now);
