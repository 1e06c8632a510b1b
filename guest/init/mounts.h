/* The UVM's filesystems: /dev, /proc, /sys, /run, /tmp, /dev/shm, /dev/pts, cgroups. */
#pragma once

#include <stdbool.h>

/*
 * devtmpfs on /dev (EBUSY tolerated: CONFIG_DEVTMPFS_MOUNT may have done it). First, so that
 * /dev/console exists for our messages.
 */
int mounts_dev(void);

/* proc, sysfs, /run, /tmp, /dev/shm, /dev/pts (+ /dev/ptmx), the /dev/fd and std* links. */
int mounts_base(void);

/*
 * cgroup2 on /sys/fs/cgroup when the kernel has it and runc can use it (its device controller
 * needs BPF_CGROUP_DEVICE programs), with every controller enabled for the children; otherwise,
 * or when force_v1, each v1 controller under a tmpfs, as hcsshim's init does. Sets *ret_v2.
 */
int mounts_cgroups(bool force_v1, bool *ret_v2);
