/*
 * Stdio relays: move bytes one way between a process's pipe or pty and a host socket, inside the
 * event loop, with backpressure (a full destination stops reading the source). splice() moves
 * the bytes when one side is a pipe; a pty goes through a buffer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct relay;

enum relay_dir {
	RELAY_TO_PROCESS, /* host socket -> process stdin (pipe or pty) */
	RELAY_FROM_PROCESS, /* process stdout/stderr (pipe or pty) -> host socket */
};

/*
 * Called once when the relay is finished: the source reached EOF (or failed) and everything read
 * was written (or the destination failed; output is then read and dropped until EOF so that the
 * process never blocks). Both fds are closed by then. The relay is freed after the call.
 */
typedef void (*relay_done_cb)(void *data, struct relay *r);

/* Takes ownership of src and dst (both made non-blocking). */
int relay_start(struct loop *l, enum relay_dir dir, int src, int dst, relay_done_cb done,
		void *data, struct relay **ret);
/* Stops at once without calling done; closes the fds; frees. */
void relay_cancel(struct relay *r);
uint64_t relay_bytes(const struct relay *r);
/* For diagnostics. */
void relay_describe(const struct relay *r, char *buf, size_t len);
