/* Small helpers of the lcow CLI: files, paths, time, processes. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cleanup.h"
#include "fileio.h"
#include "fsutil.h"
#include "proc.h"
#include "timeutil.h"

/* "2024-05-01T12:00:00.123456789Z", as runc writes times. */

/* A container or UVM ID as runc accepts it: [A-Za-z0-9_+.-], 1-128 bytes, not "." or "..". */
bool id_valid(const char *id);
