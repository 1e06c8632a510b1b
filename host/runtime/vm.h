/*
 * The UVM a runtime owns, in either mode: QEMU (lcow_uvm_*) or process mode (lcow_puvm_*),
 * behind one set of calls. Guest paths differ: the QEMU UVM's run root is /run; a process-mode
 * agent's is <dir>/vm/run on the host.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lcow/gcs.h>
#include <lcow/runtime.h>

/* Where the pieces are; "" when not found. */
struct vm_paths {
	char agent[PATH_MAX]; /* $LCOW_AGENT, else gcs next to lcow or in ../libexec/lcow */
	char kernel[PATH_MAX]; /* $LCOW_KERNEL, else vmlinux next to lcow or in ../default */
	char initrd[PATH_MAX]; /* $LCOW_INITRD, else initrd.img, likewise */
	char vsock[PATH_MAX]; /* $LCOW_VSOCK, else lcow-vsock, likewise */
	char qemu[PATH_MAX]; /* $LCOW_QEMU, else qemu-system-x86_64 when in PATH */
};

void vm_find(struct vm_paths *p);

struct vm {
	enum lcow_rt_mode mode;
	struct lcow_uvm *q;
	struct lcow_puvm *p;
	char dir[PATH_MAX]; /* the launcher's state: <uvm-dir>/vm */
	char run[PATH_MAX]; /* the guest's /run, as the agent wants paths */
	char runc_root[PATH_MAX]; /* the agent's runc --root, a guest path */
};

/* A virtio-net NIC of a QEMU UVM (lcow_uvm_nic). */
struct vm_nic {
	char id[32]; /* QEMU's netdev and device id */
	uint8_t mac[6];
	bool tap; /* a tap (tap_fd), else QEMU's user-mode network */
	int tap_fd;
	const char *const *hostfwd; /* user: "tcp:127.0.0.1:18080-:80", ... */
	size_t n_hostfwd;
};

struct vm_start_options {
	enum lcow_rt_mode mode; /* qemu or process */
	const char *dir; /* <uvm-dir>/vm */
	bool debug;
	/* qemu: a NIC at boot (NULL: none), and room to hot-add NICs later (q35) */
	const struct vm_nic *nic;
	bool hotplug;
	/* Asked while booting or adopting: true gives up with -ECANCELED. */
	bool (*cancelled)(void *user);
	void (*on_log)(void *user, const char *line);
	void (*on_notification)(void *user, const struct gcs_proto_notification *n);
	void *user;
};

/* QEMU and the vsock device, or the process-mode agent, outlive the daemon (see vm_adopt). */
int vm_start(struct vm *vm, const struct vm_start_options *o, struct gcs_error *err);
/*
 * Takes over the UVM of a daemon that died: its processes must still run (-ESRCH otherwise);
 * the agent dials the bridge port again and negotiates. On failure the UVM is left as it was.
 */
int vm_adopt(struct vm *vm, const struct vm_start_options *o, struct gcs_error *err);
struct gcs_bridge *vm_bridge(struct vm *vm);
bool vm_broken(struct vm *vm);
int vm_add_disk(struct vm *vm, const char *path, bool read_only, unsigned controller, unsigned lun,
		struct gcs_error *err);
int vm_remove_disk(struct vm *vm, unsigned controller, unsigned lun, struct gcs_error *err);
/* QEMU mode: hot-adds a NIC (the VM was started with hotplug) and hot-removes one. */
int vm_add_nic(struct vm *vm, const struct vm_nic *n, struct gcs_error *err);
int vm_remove_nic(struct vm *vm, const char *id, struct gcs_error *err);
/* Process mode: the agent's network namespace, /proc/<agent pid>/ns/net. */
int vm_agent_netns(struct vm *vm, char *buf, size_t len);
/* Stops the VM and removes vm->dir. */
void vm_stop(struct vm *vm);
