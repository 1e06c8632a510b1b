/*
 * The utility VM launcher: boots lcow's kernel and initrd under QEMU with lcow's vhost-user vsock
 * device, serves the boot-time ports (entropy on 1, the agent's log on 109) and hands back a
 * negotiated bridge. Disks are virtio-scsi LUNs, given at boot or hot-added through QMP.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <lcow/gcs.h>

struct lcow_uvm_disk {
	const char *path; /* raw image file */
	bool read_only;
	unsigned controller; /* index of the virtio-scsi controller (0-3) */
	unsigned lun; /* 0-255 */
};

struct lcow_uvm_options {
	const char *state_dir; /* created; holds sockets, the console log, the QMP socket */
	const char *kernel; /* PVH vmlinux (default: build/default/vmlinux next to the initrd) */
	const char *initrd; /* initrd.img */
	const char *qemu; /* default qemu-system-x86_64 */
	const char *vsock_device; /* the lcow-vsock binary */
	/* The agent's command line after "--" (default "/bin/gcs -v4 -log-format json -loglevel debug"). */
	const char *agent_cmdline;
	unsigned memory_mb; /* default 512 */
	unsigned cpus; /* default 1 */
	unsigned scsi_controllers; /* virtio-scsi controllers to create (default 1) */
	const struct lcow_uvm_disk *disks;
	size_t n_disks;
	int boot_timeout_ms; /* boot to negotiated (default 60 s, TCG-sized) */
	/* Each JSON log line of the agent (port 109), and the launcher's own messages. */
	void (*on_log)(void *user, const char *line);
	void (*on_notification)(void *user, const struct gcs_proto_notification *n);
	void *user;
};

struct lcow_uvm;

/* Boots the VM and returns once the agent has negotiated; on failure everything is torn down. */
GCS_EXPORT int lcow_uvm_start(const struct lcow_uvm_options *o, struct lcow_uvm **ret,
			      struct gcs_error *err);
GCS_EXPORT struct gcs_bridge *lcow_uvm_bridge(struct lcow_uvm *u);
/* Milliseconds from QEMU's start to the negotiated bridge. */
GCS_EXPORT int lcow_uvm_boot_ms(const struct lcow_uvm *u);
/* Whether the entropy exchange (port 1) and the log stream (port 109) happened. */
GCS_EXPORT bool lcow_uvm_entropy_sent(const struct lcow_uvm *u);
GCS_EXPORT unsigned lcow_uvm_log_lines(const struct lcow_uvm *u);
GCS_EXPORT const char *lcow_uvm_console_log(const struct lcow_uvm *u);
/* The hybrid-vsock base of the VM's ports ("unix:<base>" is its transport). */
GCS_EXPORT const char *lcow_uvm_vsock_base(const struct lcow_uvm *u);

/* Hot-adds a disk as a SCSI LUN (QMP blockdev-add + device_add). */
GCS_EXPORT int lcow_uvm_add_disk(struct lcow_uvm *u, const struct lcow_uvm_disk *d,
				 struct gcs_error *err);
/* Hot-removes it (device_del, wait for DEVICE_DELETED, blockdev-del). */
GCS_EXPORT int lcow_uvm_remove_disk(struct lcow_uvm *u, unsigned controller, unsigned lun,
				    struct gcs_error *err);

/* Closes the bridge, kills QEMU and the device, removes the sockets. Safe on any state. */
GCS_EXPORT void lcow_uvm_stop(struct lcow_uvm *u);
