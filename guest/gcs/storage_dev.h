/*
 * Finding the block devices the host attaches: SCSI disks by controller index and LUN, pmem
 * devices by number; telling whether a disk already holds a filesystem; and waiting for a device
 * to appear without blocking the loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcs/hresult.h"
#include "loop.h"

struct agent;

/*
 * The Linux SCSI host number of controller index (0-3), under sysfs (normally /sys). -EAGAIN
 * while the controller (or its host) is not there yet, with err saying what is missing.
 */
int storage_scsi_host(const char *sysfs, unsigned controller, unsigned *ret_host,
		      struct gcs_error *err);

/*
 * The kernel name ("sdb") of the disk at <sysfs>/bus/scsi/devices/<host>:0:0:<lun>/block/.
 * -EAGAIN while it has not appeared.
 */
int storage_scsi_block_name(const char *sysfs, unsigned host, unsigned lun, char *buf, size_t len,
			    struct gcs_error *err);

/* The kernel name of partition part of disk: "sdb" 1 -> "sdb1", "loop3" 1 -> "loop3p1". */
int storage_partition_name(const char *disk, uint64_t part, char *buf, size_t len);

/*
 * Controller + LUN (+ partition, 0 = whole disk) to the device node <dev_root>/<name>: 0 with
 * the path, -EAGAIN while any step is still missing (err says which), another -errno on failure.
 */
int storage_scsi_resolve(const char *sysfs, const char *dev_root, unsigned controller, unsigned lun,
			 uint64_t partition, char *buf, size_t len, struct gcs_error *err);

/* Writes "1\n" to <sysfs>/bus/scsi/devices/<host>:0:0:<lun>/delete; a missing device is 0. */
int storage_scsi_delete(const char *sysfs, unsigned controller, unsigned lun,
			struct gcs_error *err);

/*
 * Which filesystem a device holds, by its magic: "ext4" for any ext2/3/4 superblock (0xEF53 at
 * byte 1080), "xfs" ("XFSB" at byte 0), "" when neither. Reads 2 KiB.
 */
int storage_fs_probe(const char *dev, char *buf, size_t len, struct gcs_error *err);

/* Whether fstype can be probed and made by storage_fs_probe + mkfs (ext2/3/4, xfs). */
bool storage_fs_supported(const char *fstype);

/* How long a device may take to appear (default 10 s); tests shorten it. */
void storage_set_device_timeout_ms(unsigned ms);
unsigned storage_device_timeout_ms(void);

/*
 * A device wait: probe is called now-ish and then every STORAGE_POLL_MS until it returns
 * something other than -EAGAIN or the timeout passes; done is called exactly once (unless the
 * wait is cancelled) with probe's result, or -ETIMEDOUT and probe's last message.
 */
#define STORAGE_POLL_MS 10

struct storage_wait {
	struct loop_timer timer;
	struct loop *loop;
	int64_t deadline_ms;
	unsigned timeout_ms;
	int (*probe)(struct storage_wait *w, struct gcs_error *err);
	void (*done)(struct storage_wait *w, int rc, struct gcs_error *err);
};

void storage_wait_start(struct loop *l, struct storage_wait *w, unsigned timeout_ms,
			int (*probe)(struct storage_wait *w, struct gcs_error *err),
			void (*done)(struct storage_wait *w, int rc, struct gcs_error *err));
void storage_wait_cancel(struct storage_wait *w);
