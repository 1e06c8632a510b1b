/* Device-mapper linear targets through the DM ioctls (Documentation/admin-guide/device-mapper). */
#include "dm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"
#include "path.h"

bool dm_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < DM_NAME_LEN && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && strcmp(name, DM_CONTROL_NODE) != 0;
}

static void dm_init(struct dm_ioctl *d, size_t size, const char *name)
{
	memset(d, 0, size);
	d->version[0] = DM_VERSION_MAJOR;
	d->data_size = (uint32_t)size;
	d->data_start = sizeof(*d);
	if (name)
		snprintf(d->name, sizeof(d->name), "%s", name);
}

int dm_table_linear(const char *name, uint64_t len_sectors, const char *backing,
		    uint64_t offset_sectors, bool read_only, struct dm_ioctl **ret,
		    size_t *ret_size)
{
	char params[PATH_MAX + 32];
	struct dm_ioctl *d;
	struct dm_target_spec *t;
	size_t plen, spec, size;
	int n;

	if (!dm_name_valid(name))
		return -EINVAL;
	n = snprintf(params, sizeof(params), "%s %llu", backing,
		     (unsigned long long)offset_sectors);
	if (n < 0 || (size_t)n >= sizeof(params))
		return -ENAMETOOLONG;
	plen = (size_t)n + 1;
	/* each target spec, its parameters and their NUL, 8-byte aligned */
	spec = (sizeof(*t) + plen + 7) & ~(size_t)7;
	size = sizeof(*d) + spec;
	d = calloc(1, size);
	if (!d)
		return -ENOMEM;
	dm_init(d, size, name);
	d->target_count = 1;
	if (read_only)
		d->flags |= DM_READONLY_FLAG;
	t = (struct dm_target_spec *)((char *)d + d->data_start);
	t->sector_start = 0;
	t->length = len_sectors;
	t->next = (uint32_t)spec;
	snprintf(t->target_type, sizeof(t->target_type), "linear");
	memcpy((char *)(t + 1), params, plen);
	*ret = d;
	*ret_size = size;
	return 0;
}

static const char *dm_op_name(unsigned long cmd)
{
	switch (cmd) {
	case DM_VERSION:
		return "version";
	case DM_DEV_CREATE:
		return "create";
	case DM_TABLE_LOAD:
		return "table load";
	case DM_DEV_SUSPEND:
		return "resume";
	case DM_DEV_REMOVE:
		return "remove";
	default:
		return "ioctl";
	}
}

static int dm_ioctl(int fd, unsigned long cmd, struct dm_ioctl *d, struct gcs_error *err)
{
	if (ioctl(fd, cmd, d) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "device-mapper %s of \"%s\": %s",
				     dm_op_name(cmd), d->name, strerror(errno));
	return 0;
}

static int dm_open(const char *dev_root, int *ret_fd, struct gcs_error *err)
{
	char path[PATH_MAX];
	struct dm_ioctl d;
	_cleanup_close_ int fd = -1;
	int rc;

	snprintf(path, sizeof(path), "%s/" DM_DIR "/" DM_CONTROL_NODE, dev_root);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && strcmp(dev_root, "/dev") != 0) {
		snprintf(path, sizeof(path), "/dev/" DM_DIR "/" DM_CONTROL_NODE);
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL,
				     "device-mapper is not available: open %s: %s", path,
				     strerror(errno));
	dm_init(&d, sizeof(d), NULL);
	rc = dm_ioctl(fd, DM_VERSION, &d, err);
	if (rc < 0)
		return rc;
	if (d.version[0] != DM_VERSION_MAJOR)
		return gcs_error_set(err, -EPROTO, HR_FAIL,
				     "device-mapper interface %u.%u.%u; %d.x is needed",
				     d.version[0], d.version[1], d.version[2], DM_VERSION_MAJOR);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int dm_remove_fd(int fd, const char *name, struct gcs_error *err)
{
	struct dm_ioctl d;

	dm_init(&d, sizeof(d), name);
	if (ioctl(fd, DM_DEV_REMOVE, &d) == 0 || errno == ENXIO)
		return 0;
	if (errno != EBUSY)
		return dm_ioctl(fd, DM_DEV_REMOVE, &d, err);
	/* Still open (an unmount settling): let the kernel remove it on its last close. */
	dm_init(&d, sizeof(d), name);
	d.flags |= DM_DEFERRED_REMOVE;
	return dm_ioctl(fd, DM_DEV_REMOVE, &d, err);
}

int dm_create_linear(const char *dev_root, const char *name, const char *backing,
		     uint64_t offset_sectors, uint64_t len_sectors, bool read_only, char *node,
		     size_t node_len, struct gcs_error *err)
{
	_cleanup_free_ struct dm_ioctl *table = NULL;
	_cleanup_close_ int fd = -1;
	char dev[32], dir[PATH_MAX], path[PATH_MAX];
	struct dm_ioctl d;
	struct stat st;
	size_t size;
	dev_t devno;
	int rc;

	if (!dm_name_valid(name))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "invalid device-mapper name \"%s\"", name);
	if (len_sectors == 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "device-mapper target \"%s\" would be empty", name);
	if (stat(backing, &st) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "stat %s: %s", backing, strerror(errno));
	if (!S_ISBLK(st.st_mode))
		return gcs_error_set(err, -ENOTBLK, HR_FAIL, "%s is not a block device", backing);
	if (snprintf(dir, sizeof(dir), "%s/" DM_DIR, dev_root) >= (int)sizeof(dir) ||
	    path_join(path, sizeof(path), dir, name) < 0 ||
	    snprintf(node, node_len, "%s", path) >= (int)node_len)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s/%s: name too long", dir,
				     name);
	/* The table names the backing device by number: no path lookup in the kernel. */
	snprintf(dev, sizeof(dev), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	rc = dm_table_linear(name, len_sectors, dev, offset_sectors, read_only, &table, &size);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "device-mapper table of \"%s\": %s", name,
				     strerror(-rc));
	rc = dm_open(dev_root, &fd, err);
	if (rc < 0)
		return rc;

	dm_init(&d, sizeof(d), name);
	rc = dm_ioctl(fd, DM_DEV_CREATE, &d, err);
	if (rc < 0)
		return rc;
	devno = (dev_t)d.dev;
	rc = dm_ioctl(fd, DM_TABLE_LOAD, table, err);
	if (rc == 0) {
		/* DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes: the loaded table goes live. */
		dm_init(&d, sizeof(d), name);
		rc = dm_ioctl(fd, DM_DEV_SUSPEND, &d, err);
	}
	if (rc == 0 && mkdir(dir, 0755) < 0 && errno != EEXIST)
		rc = gcs_error_set(err, -errno, HR_FAIL, "mkdir %s: %s", dir, strerror(errno));
	if (rc == 0) {
		unlink(path);
		if (mknod(path, S_IFBLK | 0600, devno) < 0)
			rc = gcs_error_set(err, -errno, HR_FAIL, "mknod %s: %s", path,
					   strerror(errno));
	}
	if (rc < 0)
		dm_remove_fd(fd, name, NULL);
	return rc;
}

int dm_remove(const char *dev_root, const char *name, struct gcs_error *err)
{
	_cleanup_close_ int fd = -1;
	char path[PATH_MAX];
	int rc;

	if (!dm_name_valid(name))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "invalid device-mapper name \"%s\"", name);
	snprintf(path, sizeof(path), "%s/" DM_DIR "/%s", dev_root, name);
	if (unlink(path) < 0 && errno != ENOENT)
		return gcs_error_set(err, -errno, HR_FAIL, "remove %s: %s", path, strerror(errno));
	rc = dm_open(dev_root, &fd, err);
	if (rc < 0)
		return rc;
	return dm_remove_fd(fd, name, err);
}
