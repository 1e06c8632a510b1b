/*
 * Connections to the host over vsock (CID 2): the entropy seed and the agent's stdio. Only ever
 * run inside the UVM; the build machine's own vsock must never be dialed.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Connects to host port, waiting at most timeout_ms; the fd is blocking and O_CLOEXEC. */
int hostconn_dial(uint32_t port, int timeout_ms, int *ret_fd);

/*
 * Reads the host's entropy from port until EOF (the host writes 512 bytes and closes, as
 * hcsshim's does) and credits it to the kernel's pool with RNDADDENTROPY, 8 bits per byte.
 * Returns the byte count.
 */
int hostconn_seed_entropy(uint32_t port, int timeout_ms, size_t *ret_bytes);
