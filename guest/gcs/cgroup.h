/* Container statistics from cgroupfs, v1 or v2, as containerd's cgroup Metrics JSON. */
#pragma once

#include <jansson.h>
#include <sys/types.h>

/* LCOWMetrics for the cgroups of pid (NULL when nothing can be read). New reference. */
json_t *cgroup_metrics(pid_t pid);
