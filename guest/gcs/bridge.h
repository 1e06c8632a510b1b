/*
 * The bridge: the connection to the host's port 0x40000000. It dials (and redials after a loss
 * every 100 ms), reads frames, routes each request through a table to its handler (spec section
 * 3: only NegotiateProtocol before negotiation, E_NOTIMPL for everything unknown), and writes the
 * outbox. A connection ends on EOF, a framing error or a write error; everything else the agent
 * holds survives it, and the next connection negotiates anew.
 */
#pragma once

struct agent;

/* Unsent bytes above which the bridge stops reading requests, and where it starts again. */
#define BRIDGE_BACKLOG_HIGH (1024 * 1024)
#define BRIDGE_BACKLOG_LOW (256 * 1024)
#define BRIDGE_REDIAL_MS 100

/* Starts dialing the host (answers come from the loop). */
void bridge_start(struct agent *a);
/* Gives queued messages up to a second to go out, then closes the connection. */
void bridge_stop(struct agent *a);
