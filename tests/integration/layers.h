/*
 * Container test fixtures: busybox-static layer images, loop devices, and a stand-in sysfs and
 * /dev tree that presents them to the agent as SCSI LUNs and pmem devices (the agent runs with
 * --sysfs-root and --dev-root pointing into the test's directory).
 *
 * Needs root: mkfs.ext4 -d, loop devices, mounts. Every function returns 0 or a negative errno
 * and describes a failure in err (or counts leftovers into a report), so that the same code
 * serves the tests, which assert, and the sweeps in Check's parent after a test that failed
 * half-way, which must not.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "gcs/hresult.h"

/* The VMBus GUIDs of SCSI controller indexes 0-3 (spec section 10.1). */
extern const char *const layers_scsi_controller_guid[4];

/*
 * The stand-in SCSI host number of a controller index. Deliberately not the index itself, so
 * that an agent that confuses the two fails.
 */
#define LAYERS_SCSI_HOST(controller) ((controller) + 2)

/* What the layers contain (the tests check these through the overlay). */
#define LAYERS_UPPER_FILE "/upper.txt"
#define LAYERS_UPPER_TEXT "hello from the upper layer"
#define LAYERS_BASE_FILE "/etc/motd"
#define LAYERS_BASE_TEXT "lcow busybox base layer"
/* In the base layer, deleted by a whiteout in the upper one. */
#define LAYERS_WHITED_OUT "/etc/gone.txt"

/* The images of a suite run: built once (in Check's parent), shared read-only by every test. */
struct layer_set {
	char dir[64]; /* /tmp/lcow-ct-XXXXXX: everything of the run lives under it */
	char base_tree[128]; /* the base layer's source tree: a plain busybox rootfs */
	char base[128]; /* ext4 image of base_tree */
	char upper[128]; /* ext4 image: /upper.txt and the whiteout of /etc/gone.txt */
};

int layers_build(struct layer_set *ls, struct gcs_error *err);
/*
 * Tears down every test directory (<dir>/t-*) still there: a test that fails exits at once (Check
 * calls _exit in the test's child), so its cleanup runs here, in Check's parent, after the test.
 * Kills the test's agent (see env_set_agent), runc containers, mounts, loop devices. Returns the
 * number of leftovers found, described in report.
 */
int layers_sweep_tests(const struct layer_set *ls, char *report, size_t len);
/*
 * Sweeps what is left under ls->dir (mounts, attached loop devices) and removes the directory.
 * Returns the number of leftovers it had to clean up, described in report.
 */
int layers_destroy(struct layer_set *ls, char *report, size_t len);

struct env_disk {
	int loop; /* N of /dev/loopN; -1 once detached */
	bool pmem;
	unsigned controller, lun, device_number;
};

#define ENV_MAX_DISKS 8

/* One test's world: <dir>/run (the run root), <dir>/sys, <dir>/dev, disks as loop devices. */
struct test_env {
	char suite[64]; /* the layer_set's dir */
	char dir[96]; /* <suite>/t-XXXXXX */
	char run[128]; /* --run-root */
	char sys[128]; /* --sysfs-root */
	char dev[128]; /* --dev-root */
	char runc_root[128]; /* --runc-root: <run>/runc */
	const char *args[9]; /* the agent flags above, NULL-terminated */
	pid_t agent; /* the agent (env_set_agent): killed first by env_destroy */
	struct env_disk disks[ENV_MAX_DISKS];
	size_t n_disks;
};

int env_create(struct test_env *e, const struct layer_set *ls, struct gcs_error *err);
/*
 * Attaches image to a loop device (read-only or not) and presents it as LUN lun of SCSI
 * controller index controller: <sys>/bus/vmbus/devices/<guid>/host<H>/,
 * <sys>/bus/scsi/devices/H:0:0:<lun>/block/loopN/, <sys>/bus/scsi/devices/H:0:0:<lun>/delete
 * (an empty file: the agent's unplug writes "1" into it), and <dev>/loopN -> /dev/loopN.
 */
int env_add_scsi(struct test_env *e, const char *image, bool read_only, unsigned controller,
		 unsigned lun, struct gcs_error *err);
/* Records the test's agent (also in <dir>/agent.pid, for layers_sweep_tests). */
int env_set_agent(struct test_env *e, pid_t pid);
/* Attaches image read-only and presents it as <dev>/pmem<device_number> -> /dev/loopN. */
int env_add_pmem(struct test_env *e, const char *image, unsigned device_number,
		 struct gcs_error *err);
/* A blank sparse file of size bytes, no filesystem, at <dir>/<name> (path in ret_path). */
int env_blank_image(struct test_env *e, const char *name, off_t size, char *ret_path,
		    size_t path_len, struct gcs_error *err);
/* The content of <sys>/bus/scsi/devices/H:0:0:<lun>/delete ("" when empty or missing). */
int env_unplugged(const struct test_env *e, unsigned controller, unsigned lun, char *buf,
		  size_t len);

/*
 * What is left that the agent should have cleaned up: mounts under e->dir (in our mount table
 * and, when agent > 0, in the agent's) and runc state under e->runc_root. Returns the count,
 * described in report.
 */
int env_leftovers(const struct test_env *e, pid_t agent, char *report, size_t len);
/*
 * Tears everything down whatever state it is in: kills e->agent if set, `runc delete --force`
 * for every container in the runc root, unmounts everything under e->dir, detaches the loop
 * devices, removes e->dir. Returns the number of leftovers it had to clean up (mounts, runc
 * containers, loop devices the agent still held), described in report.
 */
int env_destroy(struct test_env *e, char *report, size_t len);
/* Loop devices whose backing file lies under dir ("" for any under /tmp/lcow-ct-). */
int loops_backed_under(const char *dir, char *report, size_t len);
/* Mounts whose mount point lies under dir in /proc/<pid>/mountinfo (pid 0: self). */
int mounts_under(pid_t pid, const char *dir, char *report, size_t len);
/* The filesystem type mounted at path in /proc/<pid>/mountinfo (pid 0: self); -ENOENT: none. */
int mount_fstype(pid_t pid, const char *path, char *buf, size_t len);

/*
 * Runs argv (no shell) with stdout and stderr captured (NUL-terminated, cut at len) within
 * timeout_ms; returns the exit status (0-255), 128 + signal, or a negative errno.
 */
int run_cmd(const char *const *argv, int timeout_ms, char *out, size_t len);

/* Appends "; "-separated text to report (cut at len); for the leftover checks' reports. */
void report_note(char *report, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
