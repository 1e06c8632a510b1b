/*
 * The whole back-end in one object: the event loop, the vhost-user listener and front-end, the
 * vsock device and the hybrid front door, wired together. main.c is only its command line; tests
 * run it in-process (vsock_server_run_once) and can attach a front-end socket directly.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "hybrid.h"
#include "vhost_user.h"
#include "vsock_dev.h"

struct vsock_server_config {
	const char *
		socket_path; /* vhost-user listener; NULL: front-ends come by vsock_server_attach */
	const char *uds_path; /* hybrid base */
	uint64_t guest_cid;
	bool once; /* done when the first front-end that spoke disconnects */
	int door_timeout_ms; /* 0: default */
	struct vsock_dev_config dev; /* guest_cid and uds_base are filled in from above */
};

struct vsock_server {
	struct evloop loop;
	struct vu vu;
	struct vsock_dev dev;
	struct door door;
	char *socket_path;
	int listen_fd;
	struct evloop_source listen_src;
	int stop_fd;
	struct evloop_source stop_src;
	bool once;
	bool done;
	char error[256]; /* what vsock_server_init failed on */
};

/* Valid guest CIDs: not 0, 1, 2 (hypervisor, local, host) nor "any" (0xffffffff and above). */
bool vsock_cid_valid(uint64_t cid);

int vsock_server_init(struct vsock_server *s, const struct vsock_server_config *cfg);
/* Closes everything and removes the socket files it created. */
void vsock_server_done(struct vsock_server *s);
/* Serves a connected front-end (takes fd). */
int vsock_server_attach(struct vsock_server *s, int fd);
/* The server is done when fd becomes readable (a signalfd, an eventfd); fd stays the caller's. */
int vsock_server_stop_on(struct vsock_server *s, int fd);
/* One round: wait up to max_wait_ms (-1: until an event or deadline), dispatch, process. */
int vsock_server_run_once(struct vsock_server *s, int max_wait_ms);
/* Until done (stop fd, or --once and the front-end left). */
int vsock_server_run(struct vsock_server *s);
