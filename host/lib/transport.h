/* Transports of libgcs: how a vsock port of the guest is reached from the host. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <gcs/guid.h>

#include "lcow/gcs.h"

enum transport_kind {
	TRANSPORT_UNIX, /* hybrid vsock: "<base>_<port>" Unix sockets */
	TRANSPORT_VSOCK, /* AF_VSOCK, VMADDR_CID_ANY */
	TRANSPORT_HVSOCK, /* AF_HYPERV: Windows hosts only */
};

struct gcs_transport {
	enum transport_kind kind;
	char *spec;
	char *base; /* TRANSPORT_UNIX */
	struct gcs_guid vm_id; /* TRANSPORT_HVSOCK */
};

/* A copy of t (same spec). */
int transport_dup(const struct gcs_transport *t, struct gcs_transport **ret);

/* The socket path of a port on a Unix transport: "<base>_<port>"; -ENAMETOOLONG if too long. */
int transport_unix_path(const struct gcs_transport *t, uint32_t port, char *buf, size_t len);
