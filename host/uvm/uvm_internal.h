/* The QEMU launcher's state, shared by its files (uvm.c: boot and disks, uvm_nic.c: NICs). */
#pragma once

#include <lcow/uvm.h>

#include <jansson.h>
#include <pthread.h>
#include <sys/types.h>

#include "qmp.h"

/* NICs on QEMU's command line at the most (microvm's 24 virtio-mmio transports also carry vsock
 * and the SCSI controllers). */
#define UVM_MAX_NICS 8
/* Free PCIe root ports of a hotplug VM, beyond one for each boot-time NIC. */
#define UVM_HOTPLUG_PORTS 8
/* QEMU's fd of the first boot-time tap; the others follow. */
#define UVM_TAP_FD_BASE 3

struct lcow_uvm {
	char dir[256];
	char base[300]; /* hybrid vsock base: <dir>/hv */
	char vhost[300]; /* vhost-user socket */
	char qmp_path[300];
	char console[300];
	struct gcs_transport *t;
	struct gcs_bridge *bridge;
	pid_t qemu, vsock;
	bool adopted; /* qemu and vsock are not our children */
	bool q35; /* else microvm */
	int entropy_fd, log_fd; /* listeners */
	pthread_t boot_thread;
	bool boot_thread_started;
	volatile bool stopping;
	bool entropy_sent;
	unsigned log_lines;
	int boot_ms;
	pthread_mutex_t qmp_lock; /* one command and its reply at a time */
	struct qmp qmp;
	bool qmp_open;
	void (*on_log)(void *user, const char *line);
	void *user;
};

/*
 * One QMP command under the lock (fd: attached for getfd, or -1); ret (may be NULL) gets the
 * "return" value. -ENOTCONN without a QMP connection.
 */
int uvm_qmp(struct lcow_uvm *u, const char *cmd, int fd, json_t **ret, char *errbuf, size_t errlen);

/* ---- uvm_nic.c ---- */

/* Checks the boot-time NICs: each one, unique ids, at most UVM_MAX_NICS. */
int uvm_nics_check(const struct lcow_uvm_nic *nics, size_t n, struct gcs_error *err);
/* -netdev's value (a tap's fd is QEMU's fd_num). */
int uvm_nic_netdev_arg(const struct lcow_uvm_nic *n, int fd_num, char *buf, size_t len);
/* -device's value: virtio-net-pci (on the root port port, or on pcie.0 for port < 0) or
 * virtio-net-device. */
int uvm_nic_device_arg(const struct lcow_uvm_nic *n, bool pci, int port, char *buf, size_t len);
/* The id of hot-plug root port i. */
void uvm_port_id(size_t i, char *buf, size_t len);
/* Sets u->q35 from QEMU's machine type (for an adopted VM). */
int uvm_probe_machine(struct lcow_uvm *u, char *errbuf, size_t errlen);
