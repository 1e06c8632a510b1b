/*
 * How the agent reaches the host's vsock ports: AF_VSOCK to CID 2 inside a VM, or hybrid vsock
 * (the Unix socket "<base>_<port>") when it runs as a plain process or in tests.
 */
#pragma once

#include <stdint.h>

struct transport {
	enum { TRANSPORT_VSOCK, TRANSPORT_UNIX } kind;
	char base[108]; /* TRANSPORT_UNIX */
};

/* "vsock" or "unix:<base>". */
int transport_parse(const char *spec, struct transport *ret);

/*
 * Starts a non-blocking connect to a host port: *ret_fd is the socket; returns 0 when connected
 * at once, -EINPROGRESS when the caller must wait for EPOLLOUT and then call
 * transport_connect_finish, -EAGAIN when a Unix listener's backlog is full (try again later).
 */
int transport_connect_start(const struct transport *t, uint32_t port, int *ret_fd);
int transport_connect_finish(int fd);
