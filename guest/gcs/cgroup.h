/* Container statistics from cgroupfs, v1 or v2, as containerd's cgroup Metrics JSON. */
#pragma once

#include <jansson.h>
#include <sys/types.h>

#include "gcs/hresult.h"

/*
 * LCOWMetrics (spec section 11) for the cgroups of pid into *ret (a new reference). Fails, with
 * the reason in err, when the cgroups of pid cannot be found, when a controller that is there
 * cannot be read, or when none of memory, cpu and pids is there.
 */
int cgroup_metrics(pid_t pid, json_t **ret, struct gcs_error *err);

/*
 * Removes the cgroup directory path and every cgroup below it, deepest first (rmdir: only
 * cgroups without processes go). 0 when path is gone (or never was), else -errno of what stayed.
 */
int cgroup_remove(const char *path);
