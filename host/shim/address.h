/* Where a shim listens: a socket named by a digest (CRI ids are 64 characters and sun_path
 * holds 108 bytes), as containerd's runc shim names its sockets. */
#pragma once

#include <stddef.h>

/* Default directory of the sockets; LCOW_SHIM_SOCKET_DIR overrides it (tests). */
#define ADDRESS_SOCKET_DIR "/run/containerd/s"

/*
 * The group of a bundle's task: the OCI spec annotation io.kubernetes.cri.sandbox-id when
 * config.json in bundle has one (so every container of a pod gets the pod's shim), else id.
 * Returns a malloc'd string; a config.json that is missing or unreadable yields id.
 */
int address_group(const char *bundle, const char *id, char **ret_group);

/* <dir>/<sha256 hex of "<address>/<namespace>/<group>">, dir as above. */
int address_socket_path(const char *address, const char *namespace, const char *group, char *buf,
			size_t size);

/* Binds and listens on path (mode 0700 directory made when missing); -EADDRINUSE when a
 * server answers there, a stale socket file is replaced. */
int address_listen(const char *path, int *ret_fd);

/* 0 when something accepts connections on path, else a negative errno. */
int address_probe(const char *path);
