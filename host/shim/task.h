/*
 * containerd's Task service (containerd.task.v2.Task) as the shim serves it: the dispatch
 * table, one handler per RPC. Each handler gets its decoded request, turns it into the calls
 * of shim.h (the tasks on liblcowrt) and answers through its ttrpc call; Wait runs in a thread
 * of its own and answers when the process exits.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "shim.h"
#include "ttrpc.h"

#define TASK_SERVICE "containerd.task.v2.Task"

extern const struct ttrpc_method task_methods[];
extern const size_t task_n_methods;
