/*
 * Device lookup for ModifySettings.
 *
 * Controller index -> SCSI host number N:
 *  - Hyper-V (there is a <sysfs>/bus/vmbus): controller index i is the VMBus device with the
 *    fixed GUID gcs_proto_scsi_controller_guid(i) (spec 10.1); N comes from its subdirectory
 *    <sysfs>/bus/vmbus/devices/<guid>/host<N>.
 *  - QEMU (no <sysfs>/bus/vmbus, no VMBus): controller index i is the i-th virtio-scsi
 *    controller in ascending virtio device number, i.e. the i-th of the entries
 *    <sysfs>/bus/virtio/drivers/virtio_scsi/virtio<K> sorted by K numerically; N comes from its
 *    subdirectory host<N>. The VM launcher relies on this rule: it adds its virtio-scsi
 *    controllers in controller-index order, so they get ascending virtio numbers.
 * The disk at LUN L is then the single entry of <sysfs>/bus/scsi/devices/N:0:0:L/block/ (the
 * host attaches every disk at channel 0, target 0), and its node is <dev_root>/<name>.
 */
#include "storage_dev.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/guid.h"
#include "path.h"

static unsigned device_timeout_ms = 10000;

void storage_set_device_timeout_ms(unsigned ms)
{
	device_timeout_ms = ms;
}

unsigned storage_device_timeout_ms(void)
{
	return device_timeout_ms;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Parses "<prefix><decimal>" exactly; false otherwise. */
static bool parse_numbered(const char *name, const char *prefix, unsigned *ret)
{
	size_t n = strlen(prefix);
	char *end;
	unsigned long v;

	if (strncmp(name, prefix, n) != 0 || !isdigit((unsigned char)name[n]))
		return false;
	errno = 0;
	v = strtoul(name + n, &end, 10);
	if (*end || errno || v > UINT_MAX)
		return false;
	*ret = (unsigned)v;
	return true;
}

/* The N of the host<N> entry in dir: 0, -ENOENT when there is none, -errno. */
static int find_host(const char *dir, unsigned *ret)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (parse_numbered(e->d_name, "host", ret))
			return 0;
	return -ENOENT;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

static int virtio_scsi_host(const char *sysfs, unsigned controller, unsigned *ret_host,
			    struct gcs_error *err)
{
	char dir[PATH_MAX], sub[PATH_MAX];
	unsigned nums[64];
	size_t n = 0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/bus/virtio/drivers/virtio_scsi", sysfs);
	{
		_cleanup_closedir_ DIR *d = opendir(dir);
		struct dirent *e;

		if (!d) {
			if (errno == ENOENT)
				return gcs_error_set(
					err, -EAGAIN, HR_FAIL,
					"SCSI controller %u: no VMBus and no virtio-scsi "
					"controller (%s is missing)",
					controller, dir);
			return gcs_error_set(err, -errno, HR_FAIL, "open %s: %s", dir,
					     strerror(errno));
		}
		while ((e = readdir(d)) && n < ARRAY_SIZE(nums))
			if (parse_numbered(e->d_name, "virtio", &nums[n]))
				n++;
	}
	if (controller >= n)
		return gcs_error_set(err, -EAGAIN, HR_FAIL,
				     "SCSI controller %u: only %zu virtio-scsi controllers in %s",
				     controller, n, dir);
	qsort(nums, n, sizeof(nums[0]), cmp_unsigned);
	snprintf(sub, sizeof(sub), "%s/virtio%u", dir, nums[controller]);
	rc = find_host(sub, ret_host);
	if (rc == -ENOENT)
		return gcs_error_set(err, -EAGAIN, HR_FAIL,
				     "SCSI controller %u (virtio%u) has no SCSI host in %s",
				     controller, nums[controller], sub);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "read %s: %s", sub, strerror(-rc));
	return 0;
}

int storage_scsi_host(const char *sysfs, unsigned controller, unsigned *ret_host,
		      struct gcs_error *err)
{
	char dir[PATH_MAX];
	const char *guid;
	int rc;

	if (controller >= GCS_SCSI_CONTROLLERS)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "SCSI controller index %u is out of range (0-%d)", controller,
				     GCS_SCSI_CONTROLLERS - 1);
	snprintf(dir, sizeof(dir), "%s/bus/vmbus", sysfs);
	if (!is_dir(dir))
		return virtio_scsi_host(sysfs, controller, ret_host, err);
	guid = gcs_proto_scsi_controller_guid(controller);
	snprintf(dir, sizeof(dir), "%s/bus/vmbus/devices/%s", sysfs, guid);
	rc = find_host(dir, ret_host);
	if (rc == -ENOENT)
		return gcs_error_set(err, -EAGAIN, HR_FAIL,
				     "SCSI controller %u: no SCSI host under %s", controller, dir);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "read %s: %s", dir, strerror(-rc));
	return 0;
}

int storage_scsi_block_name(const char *sysfs, unsigned host, unsigned lun, char *buf, size_t len,
			    struct gcs_error *err)
{
	char dir[PATH_MAX];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;
	size_t found = 0;

	snprintf(dir, sizeof(dir), "%s/bus/scsi/devices/%u:0:0:%u/block", sysfs, host, lun);
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT || errno == ENOTDIR)
			return gcs_error_set(err, -EAGAIN, HR_FAIL,
					     "no disk at LUN %u of SCSI host %u (%s)", lun, host,
					     dir);
		return gcs_error_set(err, -errno, HR_FAIL, "open %s: %s", dir, strerror(errno));
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (found++ == 0 && snprintf(buf, len, "%s", e->d_name) >= (int)len)
			return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s/%s: name too long",
					     dir, e->d_name);
	}
	if (found == 0)
		return gcs_error_set(err, -EAGAIN, HR_FAIL,
				     "no disk at LUN %u of SCSI host %u yet (%s is empty)", lun,
				     host, dir);
	if (found > 1)
		return gcs_error_set(err, -ENOTUNIQ, HR_FAIL, "more than one block device in %s",
				     dir);
	return 0;
}

int storage_partition_name(const char *disk, uint64_t part, char *buf, size_t len)
{
	size_t n = strlen(disk);
	/* As the kernel names them (disk_name()): a "p" when the disk's name ends in a digit. */
	bool sep = n > 0 && isdigit((unsigned char)disk[n - 1]);
	int rc;

	if (part == 0)
		rc = snprintf(buf, len, "%s", disk);
	else
		rc = snprintf(buf, len, "%s%s%llu", disk, sep ? "p" : "", (unsigned long long)part);
	return rc < 0 || (size_t)rc >= len ? -ENAMETOOLONG : 0;
}

int storage_scsi_resolve(const char *sysfs, const char *dev_root, unsigned controller, unsigned lun,
			 uint64_t partition, char *buf, size_t len, struct gcs_error *err)
{
	char disk[NAME_MAX + 1], name[NAME_MAX + 1], path[PATH_MAX];
	unsigned host;
	struct stat st;
	int rc;

	rc = storage_scsi_host(sysfs, controller, &host, err);
	if (rc < 0)
		return rc;
	rc = storage_scsi_block_name(sysfs, host, lun, disk, sizeof(disk), err);
	if (rc < 0)
		return rc;
	if (storage_partition_name(disk, partition, name, sizeof(name)) < 0 ||
	    path_join(path, sizeof(path), dev_root, name) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "device name %s too long", disk);
	/* sysfs shows the disk a moment before its node (and its partitions) exist */
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return gcs_error_set(err, -EAGAIN, HR_FAIL,
					     "LUN %u of SCSI controller %u is %s, but %s does not "
					     "exist",
					     lun, controller, disk, path);
		return gcs_error_set(err, -errno, HR_FAIL, "stat %s: %s", path, strerror(errno));
	}
	if (snprintf(buf, len, "%s", path) >= (int)len)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: name too long", path);
	return 0;
}

int storage_scsi_delete(const char *sysfs, unsigned controller, unsigned lun, struct gcs_error *err)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	unsigned host;
	int rc = storage_scsi_host(sysfs, controller, &host, err);

	if (rc == -EAGAIN) {
		/* no such controller: nothing attached to unplug */
		if (err)
			gcs_error_clear(err);
		return 0;
	}
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/bus/scsi/devices/%u:0:0:%u/delete", sysfs, host, lun);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return gcs_error_set(err, -errno, HR_FAIL, "open %s: %s", path, strerror(errno));
	}
	if (write(fd, "1\n", 2) != 2)
		return gcs_error_set(err, -errno, HR_FAIL, "write %s: %s", path, strerror(errno));
	return 0;
}

int storage_fs_probe(const char *dev, char *buf, size_t len, struct gcs_error *err)
{
	unsigned char sb[2048] = { 0 };
	_cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	const char *type = "";

	if (fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "open %s: %s", dev, strerror(errno));
	/* A device smaller than the superblock reads as zeros: no filesystem. */
	while (got < sizeof(sb)) {
		ssize_t n = pread(fd, sb + got, sizeof(sb) - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return gcs_error_set(err, -errno, HR_FAIL, "read %s: %s", dev,
					     strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (sb[1080] == 0x53 && sb[1081] == 0xEF)
		type = "ext4";
	else if (memcmp(sb, "XFSB", 4) == 0)
		type = "xfs";
	if (snprintf(buf, len, "%s", type) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

bool storage_fs_supported(const char *fstype)
{
	static const char *const names[] = { "ext2", "ext3", "ext4", "xfs" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(fstype, names[i]) == 0)
			return true;
	return false;
}

/* ---- waiting ---- */

static void on_wait_tick(struct loop_timer *t)
{
	struct storage_wait *w = container_of(t, struct storage_wait, timer);
	struct gcs_error err = { 0 };
	int rc = w->probe(w, &err);

	if (rc == -EAGAIN && loop_now_ms() >= w->deadline_ms) {
		gcs_error_prefix(&err, -ETIMEDOUT, "timed out after %u ms", w->timeout_ms);
		rc = -ETIMEDOUT;
	}
	if (rc == -EAGAIN) {
		loop_timer_arm(w->loop, &w->timer, STORAGE_POLL_MS, on_wait_tick);
		return;
	}
	w->done(w, rc, &err); /* may free w */
}

void storage_wait_start(struct loop *l, struct storage_wait *w, unsigned timeout_ms,
			int (*probe)(struct storage_wait *w, struct gcs_error *err),
			void (*done)(struct storage_wait *w, int rc, struct gcs_error *err))
{
	w->loop = l;
	w->timeout_ms = timeout_ms;
	w->deadline_ms = loop_now_ms() + timeout_ms;
	w->probe = probe;
	w->done = done;
	loop_timer_arm(l, &w->timer, 0, on_wait_tick);
}

void storage_wait_cancel(struct storage_wait *w)
{
	if (w->loop)
		loop_timer_cancel(w->loop, &w->timer);
}
