/*
 * Device-mapper through its ioctls on <dev_root>/mapper/control (or /dev/mapper/control): a
 * linear target over a range of a block device, and removal. No dmsetup, no udev: the node
 * <dev_root>/mapper/<name> is made with mknod, as the Go GCS does.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcs/hresult.h"

#define DM_SECTOR_SIZE 512u

struct dm_ioctl;

/*
 * Builds the DM_TABLE_LOAD argument for one linear target: [0, len_sectors) of name maps to
 * backing (a "major:minor" or a device path) from offset_sectors. *ret is malloc'd, *ret_size
 * bytes (the dm_ioctl, the dm_target_spec, the parameters, 8-byte aligned).
 */
int dm_table_linear(const char *name, uint64_t len_sectors, const char *backing,
		    uint64_t offset_sectors, bool read_only, struct dm_ioctl **ret,
		    size_t *ret_size);

/* A device-mapper name: 1-127 bytes, no '/'. */
bool dm_name_valid(const char *name);

/*
 * Creates the device name as a linear map of len_sectors sectors of the block device backing
 * starting at offset_sectors, read-only when asked, and its node <dev_root>/mapper/<name>
 * (written to node). Undone on any failure.
 */
int dm_create_linear(const char *dev_root, const char *name, const char *backing,
		     uint64_t offset_sectors, uint64_t len_sectors, bool read_only, char *node,
		     size_t node_len, struct gcs_error *err);

/*
 * Removes the node and the device. A device still open is removed when its last user closes it
 * (DM_DEFERRED_REMOVE); a device that does not exist is success.
 */
int dm_remove(const char *dev_root, const char *name, struct gcs_error *err);
