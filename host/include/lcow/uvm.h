/*
 * The utility VM launcher: boots lcow's kernel and initrd under QEMU with lcow's vhost-user vsock
 * device, serves the boot-time ports (entropy on 1, the agent's log on 109) and hands back a
 * negotiated bridge. Disks are virtio-scsi LUNs, given at boot or hot-added through QMP; NICs
 * are virtio-net, given at boot or (on q35) hot-added.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lcow/gcs.h>

struct lcow_uvm_disk {
	const char *path; /* raw image file */
	bool read_only;
	unsigned controller; /* index of the virtio-scsi controller (0-3) */
	unsigned lun; /* 0-255 */
};

/* A read-only layer on virtio-pmem: the guest's /dev/pmem<n>, n in the order given. */
struct lcow_uvm_pmem {
	const char *path; /* an ext4 image file */
};

/* ---- NICs ---- */

/* The guest side of QEMU's user-mode network (libslirp's defaults). */
#define LCOW_USERNET_GUEST "10.0.2.15"
#define LCOW_USERNET_PREFIX 24
#define LCOW_USERNET_GATEWAY "10.0.2.2"
#define LCOW_USERNET_DNS "10.0.2.3"

enum lcow_uvm_nic_backend { LCOW_NIC_USER, LCOW_NIC_TAP };

/* A virtio-net NIC. */
struct lcow_uvm_nic {
	const char *id; /* unique in the VM: QEMU's netdev and device id ([a-zA-Z0-9_-], < 32) */
	uint8_t mac[6]; /* the guest NIC's MAC */
	enum lcow_uvm_nic_backend backend;
	int tap_fd; /* LCOW_NIC_TAP: an open tap device (the caller keeps it; QEMU gets a dup) */
	/* LCOW_NIC_USER: forwarded host ports in QEMU's hostfwd form, e.g. "tcp:127.0.0.1:18080-:80" */
	const char *const *hostfwd;
	size_t n_hostfwd;
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
	/* virtio-pmem layers; they need PCI, so the machine is q35 instead of microvm. */
	const struct lcow_uvm_pmem *pmem;
	size_t n_pmem;
	/* NICs given at boot, on QEMU's command line (microvm has no hot-plug). */
	const struct lcow_uvm_nic *nics;
	size_t n_nics;
	/* q35 with free PCIe root ports, so that NICs can be hot-added (lcow_uvm_add_nic). */
	bool hotplug;
	int boot_timeout_ms; /* boot to negotiated (default 60 s, TCG-sized) */
	/*
	 * QEMU and the vsock device go on running when the caller dies (no parent-death signal), so
	 * that a new caller can adopt them (lcow_uvm_adopt); their pids are in <state_dir>/qemu.pid
	 * and vsock.pid from the moment they start, for lcow_uvm_sweep.
	 */
	bool outlive_caller;
	/* Asked every 250 ms while booting: true ends the start with -ECANCELED. */
	bool (*cancelled)(void *user);
	/* Each JSON log line of the agent (port 109), and the launcher's own messages. */
	void (*on_log)(void *user, const char *line);
	void (*on_notification)(void *user, const struct gcs_proto_notification *n);
	void *user;
};

struct lcow_uvm;

/* Boots the VM and returns once the agent has negotiated; on failure everything is torn down. */
GCS_EXPORT int lcow_uvm_start(const struct lcow_uvm_options *o, struct lcow_uvm **ret,
			      struct gcs_error *err);
/*
 * Takes over a running VM whose launcher died (started with outlive_caller; state_dir,
 * boot_timeout_ms, cancelled, on_log, on_notification and user are used): checks that its
 * QEMU and vsock device still run, listens on the bridge port again, waits for the agent to
 * redial and negotiates, and reconnects to QMP. The boot-time ports are not served again (the
 * agent's log stream ended with its first launcher). -ESRCH when the VM is gone; on any failure
 * the VM is left as it was.
 */
GCS_EXPORT int lcow_uvm_adopt(const struct lcow_uvm_options *o, struct lcow_uvm **ret,
			      struct gcs_error *err);
/*
 * For a state directory whose launcher died and that nobody adopts: kills its QEMU and vsock
 * device (pids checked against their command lines), removes the sockets. Returns how many
 * processes it killed.
 */
GCS_EXPORT int lcow_uvm_sweep(const char *state_dir);
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

/*
 * Hot-adds a NIC (q35 only: on microvm -EOPNOTSUPP, "give NICs at boot on microvm"). The tap fd
 * is passed over QMP (getfd).
 */
GCS_EXPORT int lcow_uvm_add_nic(struct lcow_uvm *u, const struct lcow_uvm_nic *n,
				struct gcs_error *err);
/* Hot-removes it (device_del, DEVICE_DELETED, netdev_del). */
GCS_EXPORT int lcow_uvm_remove_nic(struct lcow_uvm *u, const char *id, struct gcs_error *err);

/* Closes the bridge, kills QEMU and the device, removes the sockets. Safe on any state. */
GCS_EXPORT void lcow_uvm_stop(struct lcow_uvm *u);

/* ---- process mode: a "UVM" without a hypervisor ---- */

/*
 * The agent (gcs) runs on the host as a process in fresh mount, PID, UTS, IPC and network
 * namespaces, on the hybrid-vsock transport unix:<state_dir>/hv, with --run-root
 * <state_dir>/run, --sysfs-root <state_dir>/sys, --dev-root <state_dir>/dev and --runc-root
 * <state_dir>/run/runc. Guest paths are therefore host paths under <state_dir>/run. Disks are
 * loop devices presented as SCSI LUNs through a stand-in sysfs tree, exactly where the agent
 * looks for them. Same protocol, same agent code above the device lookup; for development, CI
 * and hosts without virtualization.
 *
 * NOT a security boundary: the containers share the host's kernel, and the agent runs as root
 * in the host's user namespace and cgroup tree.
 */
struct lcow_puvm_options {
	const char *state_dir; /* created (0700); removed by lcow_puvm_stop */
	const char *agent; /* the gcs binary */
	const char *runc; /* the agent's --runc (NULL: runc from PATH) */
	/* The agent's --log-level (NULL: info); it logs to <state_dir>/agent.log. */
	const char *log_level;
	int boot_timeout_ms; /* start to negotiated (default 20 s) */
	/*
	 * The agent's holder goes on running when the caller dies (no parent-death signal), so that
	 * a new caller can adopt the UVM (lcow_puvm_adopt); its pid is in <state_dir>/holder.pid.
	 */
	bool outlive_caller;
	/* Asked every 200 ms while starting: true ends the start with -ECANCELED. */
	bool (*cancelled)(void *user);
	void (*on_notification)(void *user, const struct gcs_proto_notification *n);
	void *user;
};

struct lcow_puvm;

/* Starts the agent and returns once it has negotiated; on failure everything is torn down. */
GCS_EXPORT int lcow_puvm_start(const struct lcow_puvm_options *o, struct lcow_puvm **ret,
			       struct gcs_error *err);
/*
 * Takes over a process-mode UVM whose caller died (started with outlive_caller; state_dir,
 * boot_timeout_ms, cancelled, on_notification and user are used): checks that its agent still
 * runs, finds its disks in the stand-in sysfs tree, listens on the bridge port again and waits
 * for the agent to redial and negotiate. -ESRCH when the agent is gone; on any failure the UVM is
 * left as it was.
 */
GCS_EXPORT int lcow_puvm_adopt(const struct lcow_puvm_options *o, struct lcow_puvm **ret,
			       struct gcs_error *err);
GCS_EXPORT struct gcs_bridge *lcow_puvm_bridge(struct lcow_puvm *u);
/* The agent's run root (<state_dir>/run): guest paths such as /run/gcs/c/<id> live under it. */
GCS_EXPORT const char *lcow_puvm_run_root(const struct lcow_puvm *u);
/* Host pid of the agent (PID 1 of its PID namespace). */
GCS_EXPORT int lcow_puvm_agent_pid(const struct lcow_puvm *u);
/*
 * Attaches d->path to a loop device (read-only as asked; a fixed VHD without its footer) and
 * presents it as LUN d->lun of SCSI controller d->controller (0-3, LUN 0-63):
 * <sys>/bus/vmbus/devices/<controller-guid>/host<C>/, <sys>/bus/scsi/devices/C:0:0:<lun>/
 * block/loopN/ and .../delete, <dev>/loopN -> /dev/loopN.
 */
GCS_EXPORT int lcow_puvm_add_disk(struct lcow_puvm *u, const struct lcow_uvm_disk *d,
				  struct gcs_error *err);
/* Detaches the loop device of that LUN and removes its tree entries. */
GCS_EXPORT int lcow_puvm_remove_disk(struct lcow_puvm *u, unsigned controller, unsigned lun,
				     struct gcs_error *err);
/*
 * Closes the bridge, kills the agent's PID namespace (thawing frozen runc containers first),
 * detaches the loop devices, removes the runc containers' cgroups and the state directory.
 */
GCS_EXPORT void lcow_puvm_stop(struct lcow_puvm *u);
/*
 * What lcow_puvm_stop does, for a state directory whose owner died: kills its agent if it still
 * runs, thaws and removes runc's cgroups, unmounts, detaches loop devices, removes the
 * directory. Returns the number of leftovers it cleaned up.
 */
GCS_EXPORT int lcow_puvm_sweep(const char *state_dir);

/*
 * The bytes of a disk image a guest should see: its size, or for a fixed VHD (raw data and a
 * 512-byte "conectix" footer) the size without the footer. Dynamic and differencing VHDs are
 * -EMEDIUMTYPE. ret_vhd (may be NULL) says whether a footer was found.
 */
GCS_EXPORT int lcow_disk_data_size(const char *path, unsigned long long *ret_size, bool *ret_vhd);
