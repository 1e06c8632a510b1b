/*
 * The agent's state: options, the loop, the bridge connection, what it sends, and the lists each
 * module keeps. Modules include this and their own headers; this header includes no module
 * header but the ones whose structs it embeds.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gcs/frame.h"
#include "gcs/guid.h"
#include "list.h"
#include "loop.h"
#include "outbox.h"
#include "transport.h"

/* The bridge connection's state (bridge.c). */
struct bridge {
	int fd; /* -1 while not connected */
	struct loop_source src;
	bool connecting; /* src waits for the connect to complete */
	bool reading; /* EPOLLIN is on: off while the outbox is over its bound */
	struct gcs_proto_reader reader;
	uint64_t conn; /* the current connection's number (from 1) */
	uint64_t next_conn;
	bool negotiated;
	bool ever_connected;
	int failures; /* consecutive failed dials */
	struct loop_timer timer; /* the next dial */
	int write_error; /* a write failed: the connection ends from fail_timer */
	struct loop_timer fail_timer;
};

struct agent_options {
	struct transport transport;
	bool poweroff_on_exit; /* PID 1 in a VM */
	/* Every path the host sends must lie under run_root (default /run). */
	char run_root[256];
	/* Where SCSI and pmem devices are looked up (defaults /sys and /dev); tests point them at
	 * a stand-in tree whose <dev_root>/<name> entries are loop devices or links to them. */
	char sysfs_root[256];
	char dev_root[256];
	char runc[256]; /* the runc binary (default: "runc" from PATH) */
	char runc_root[256]; /* runc's state directory (default <run_root>/gcs/runc) */
	int runtime_timeout_ms; /* deadline of every runtime (runc) call (default 30000) */
	int dial_tries; /* attempts to reach the host at start (100 ms apart) */
	int reconnect; /* failed redials after a lost connection before exiting; < 0: forever */
};

struct agent {
	struct agent_options opt;
	struct loop *loop;
	int root_fd; /* O_PATH of run_root: every host path is resolved beneath it */
	struct bridge bridge;
	struct outbox out;
	struct list requests; /* live requests (request.c) */
	uint64_t n_requests; /* handled so far */
	/* processes started in the utility VM or attached for containers (process.c) */
	struct list processes;
	/* ExecuteProcess requests dialing their stdio (exec.c) */
	struct list pending_execs;
	/* helper processes: runc, mkfs (child.c) */
	struct list helpers;
	/* mounts and devices set up by ModifySettings (storage.c) */
	struct list mounts;
	/* containers (container.c) */
	struct list containers;
	/* network namespaces and the Network Adds waiting for their interface (net.c) */
	struct list netns;
	struct list net_adds;
	bool stopping;
	int exit_code;
};

/* Only the null GUID names the utility VM; "" or a missing ID is a container ID (not found). */
static inline bool is_uvm_id(const char *id)
{
	return id && strcmp(id, GCS_NULL_GUID_STRING) == 0;
}

/* Ends serving: the agent cleans up and exits with code. */
void agent_stop(struct agent *a, int code);
