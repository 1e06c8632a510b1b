/*
 * containerd's Task service (containerd.task.v2.Task) as the shim serves it: the dispatch
 * table, one handler per RPC. Each handler gets its decoded request and answers through its
 * ttrpc call (at once, or later from another thread for Wait); this is where the handlers of
 * the host runtime library plug in.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ttrpc.h"

#define TASK_SERVICE "containerd.task.v2.Task"

struct events;

/* What the handlers share: the shim's identity and its server (Shutdown stops it). */
struct shim {
	const char *namespace;
	const char *id;
	const char *bundle;
	const char *socket_path;
	struct events *events;
	struct ttrpc_server *server;
	bool shutdown;
};

extern const struct ttrpc_method task_methods[];
extern const size_t task_n_methods;
