/* The UVM behind a daemon: QEMU or process mode behind one set of calls. */
#include "vm.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lcow/uvm.h>

#include "fileio.h"
#include "fsutil.h"
#include "proc.h"
#include "rt.h"

#define QEMU_BOOT_MS 120000

int lcow_rt_mode_parse(const char *s, enum lcow_rt_mode *ret)
{
	if (!strcmp(s, "auto"))
		*ret = LCOW_RT_AUTO;
	else if (!strcmp(s, "qemu"))
		*ret = LCOW_RT_QEMU;
	else if (!strcmp(s, "process"))
		*ret = LCOW_RT_PROCESS;
	else
		return -EINVAL;
	return 0;
}

const char *lcow_rt_mode_name(enum lcow_rt_mode m)
{
	return m == LCOW_RT_QEMU ? "qemu" : m == LCOW_RT_PROCESS ? "process" : "auto";
}

/* $env, else the first of dir/<rel> that exists. */
static void find_one(char *out, const char *env, const char *dir, const char *const *rels)
{
	const char *e = getenv(env);

	out[0] = '\0';
	if (e && e[0]) {
		snprintf(out, PATH_MAX, "%s", e);
		return;
	}
	for (size_t i = 0; dir[0] && rels[i]; i++) {
		char p[PATH_MAX];
		if (pathf(p, sizeof(p), "%s/%s", dir, rels[i]) == 0 && access(p, R_OK) == 0 &&
		    realpath(p, out))
			return;
	}
	out[0] = '\0';
}

void vm_find(struct vm_paths *p)
{
	char dir[PATH_MAX] = "";
	const char *q = getenv("LCOW_QEMU");

	exe_dir(dir, sizeof(dir));
	find_one(p->agent, "LCOW_AGENT", dir,
		 (const char *const[]){ "gcs", "../libexec/lcow/gcs", NULL });
	find_one(p->kernel, "LCOW_KERNEL", dir,
		 (const char *const[]){ "vmlinux", "../default/vmlinux", "../share/lcow/vmlinux",
					NULL });
	find_one(p->initrd, "LCOW_INITRD", dir,
		 (const char *const[]){ "initrd.img", "../default/initrd.img",
					"../share/lcow/initrd.img", NULL });
	find_one(p->vsock, "LCOW_VSOCK", dir,
		 (const char *const[]){ "lcow-vsock", "../default/lcow-vsock",
					"../libexec/lcow/lcow-vsock", NULL });
	snprintf(p->qemu, sizeof(p->qemu), "%s", q && q[0] ? q : "qemu-system-x86_64");
	if (!program_exists(p->qemu))
		p->qemu[0] = '\0';
}

enum lcow_rt_mode lcow_rt_mode_resolve(enum lcow_rt_mode m, char *why, size_t len)
{
	struct vm_paths p;

	if (m != LCOW_RT_AUTO)
		return m;
	vm_find(&p);
	if (!p.qemu[0])
		snprintf(why, len, "qemu-system-x86_64 is not installed");
	else if (!p.kernel[0])
		snprintf(why, len, "no UVM kernel (vmlinux; make initrd, or set LCOW_KERNEL)");
	else if (!p.initrd[0])
		snprintf(why, len, "no UVM initrd (initrd.img; make initrd, or set LCOW_INITRD)");
	else if (!p.vsock[0])
		snprintf(why, len, "no vsock device (lcow-vsock, or set LCOW_VSOCK)");
	else
		return LCOW_RT_QEMU;
	return LCOW_RT_PROCESS;
}

/* lcow_uvm_nic from vm_nic. */
static void uvm_nic(const struct vm_nic *n, struct lcow_uvm_nic *ret)
{
	*ret = (struct lcow_uvm_nic){
		.id = n->id,
		.backend = n->tap ? LCOW_NIC_TAP : LCOW_NIC_USER,
		.tap_fd = n->tap ? n->tap_fd : -1,
		.hostfwd = n->hostfwd,
		.n_hostfwd = n->n_hostfwd,
	};
	memcpy(ret->mac, n->mac, 6);
}

/*
 * Starts (adopt false) or adopts the UVM. Either way its processes outlive this daemon, so that
 * the next one can adopt them.
 */
static int vm_open(struct vm *vm, const struct vm_start_options *o, bool adopt,
		   struct gcs_error *err)
{
	struct vm_paths paths;
	int rc;

	memset(vm, 0, sizeof(*vm));
	vm->mode = o->mode;
	vm_find(&paths);
	if (pathf(vm->dir, sizeof(vm->dir), "%s", o->dir) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", o->dir);
	if (o->mode == LCOW_RT_PROCESS) {
		struct lcow_puvm_options po = {
			.state_dir = o->dir,
			.agent = paths.agent,
			.log_level = o->debug ? "debug" : "info",
			.outlive_caller = true,
			.cancelled = o->cancelled,
			.on_notification = o->on_notification,
			.user = o->user,
		};
		if (!adopt && !paths.agent[0])
			return gcs_error_set(err, -ENOENT, HR_FAIL,
					     "the agent (gcs) is neither next to lcow nor in "
					     "../libexec/lcow; set LCOW_AGENT");
		rc = adopt ? lcow_puvm_adopt(&po, &vm->p, err) : lcow_puvm_start(&po, &vm->p, err);
		if (rc < 0)
			return rc;
		snprintf(vm->run, sizeof(vm->run), "%s", lcow_puvm_run_root(vm->p));
		pathf(vm->runc_root, sizeof(vm->runc_root), "%s/runc", vm->run);
		return 0;
	}
	{
		struct lcow_uvm_nic nic;
		struct lcow_uvm_options qo = {
			.state_dir = o->dir,
			.kernel = paths.kernel,
			.initrd = paths.initrd,
			.qemu = paths.qemu[0] ? paths.qemu : NULL,
			.vsock_device = paths.vsock,
			.scsi_controllers = 4,
			.boot_timeout_ms = adopt ? 0 : QEMU_BOOT_MS,
			.outlive_caller = true,
			.cancelled = o->cancelled,
			.on_log = o->on_log,
			.on_notification = o->on_notification,
			.user = o->user,
		};
		if (o->nic) {
			uvm_nic(o->nic, &nic);
			qo.nics = &nic;
			qo.n_nics = 1;
		}
		qo.hotplug = o->hotplug;
		if (adopt) {
			rc = lcow_uvm_adopt(&qo, &vm->q, err);
			if (rc < 0)
				return rc;
		} else {
			if (!paths.kernel[0] || !paths.initrd[0] || !paths.vsock[0] ||
			    !paths.qemu[0])
				return gcs_error_set(
					err, -ENOENT, HR_FAIL,
					"qemu mode needs qemu-system-x86_64, the UVM kernel and "
					"initrd (make initrd WITH_RUNC=1) and lcow-vsock; "
					"missing: %s%s%s%s",
					paths.qemu[0] ? "" : "qemu ",
					paths.kernel[0] ? "" : "vmlinux ",
					paths.initrd[0] ? "" : "initrd.img ",
					paths.vsock[0] ? "" : "lcow-vsock");
			if ((rc = mkdir_p(o->dir, 0700)) < 0)
				return gcs_error_set(err, rc, HR_FAIL, "mkdir %s: %s", o->dir,
						     strerror(-rc));
			rc = lcow_uvm_start(&qo, &vm->q, err);
			if (rc < 0) {
				rm_rf(o->dir);
				return rc;
			}
		}
		snprintf(vm->run, sizeof(vm->run), "/run");
		snprintf(vm->runc_root, sizeof(vm->runc_root), "/run/gcs/runc");
		return 0;
	}
}

int vm_start(struct vm *vm, const struct vm_start_options *o, struct gcs_error *err)
{
	return vm_open(vm, o, false, err);
}

int vm_adopt(struct vm *vm, const struct vm_start_options *o, struct gcs_error *err)
{
	return vm_open(vm, o, true, err);
}

struct gcs_bridge *vm_bridge(struct vm *vm)
{
	return vm->p ? lcow_puvm_bridge(vm->p) : vm->q ? lcow_uvm_bridge(vm->q) : NULL;
}

bool vm_broken(struct vm *vm)
{
	struct gcs_bridge *b = vm_bridge(vm);

	return !b || gcs_bridge_broken(b);
}

int vm_add_disk(struct vm *vm, const char *path, bool read_only, unsigned controller, unsigned lun,
		struct gcs_error *err)
{
	struct lcow_uvm_disk d = {
		.path = path, .read_only = read_only, .controller = controller, .lun = lun
	};

	if (vm->p)
		return lcow_puvm_add_disk(vm->p, &d, err);
	if (vm->q)
		return lcow_uvm_add_disk(vm->q, &d, err);
	return gcs_error_set(err, -ENOTCONN, HR_FAIL, "no UVM");
}

int vm_remove_disk(struct vm *vm, unsigned controller, unsigned lun, struct gcs_error *err)
{
	if (vm->p)
		return lcow_puvm_remove_disk(vm->p, controller, lun, err);
	if (vm->q)
		return lcow_uvm_remove_disk(vm->q, controller, lun, err);
	return gcs_error_set(err, -ENOTCONN, HR_FAIL, "no UVM");
}

int vm_add_nic(struct vm *vm, const struct vm_nic *n, struct gcs_error *err)
{
	struct lcow_uvm_nic nic;

	if (vm->q) {
		uvm_nic(n, &nic);
		return lcow_uvm_add_nic(vm->q, &nic, err);
	}
	return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL, "NICs are for QEMU UVMs");
}

int vm_remove_nic(struct vm *vm, const char *id, struct gcs_error *err)
{
	if (vm->q)
		return lcow_uvm_remove_nic(vm->q, id, err);
	return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL, "NICs are for QEMU UVMs");
}

int vm_agent_netns(struct vm *vm, char *buf, size_t len)
{
	int pid = vm->p ? lcow_puvm_agent_pid(vm->p) : -1;

	if (pid <= 0)
		return -ESRCH;
	return pathf(buf, len, "/proc/%d/ns/net", pid);
}

void vm_stop(struct vm *vm)
{
	if (vm->p)
		lcow_puvm_stop(vm->p);
	if (vm->q) {
		lcow_uvm_stop(vm->q);
		rm_rf(vm->dir);
	}
	vm->p = NULL;
	vm->q = NULL;
}

int lcow_rt_uvm_sweep(const char *dir)
{
	return lcow_uvm_sweep(dir) + lcow_puvm_sweep(dir);
}
