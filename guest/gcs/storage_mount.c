/* Mount options and mount(2) wrappers. */
#include "storage_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "path.h"

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

/* The table of mount(8) (and of hcsshim's guest/storage ParseMountOptions). */
static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} flag_opts[] = {
	{ "defaults", false, 0 },
	{ "ro", false, MS_RDONLY },
	{ "rw", true, MS_RDONLY },
	{ "nosuid", false, MS_NOSUID },
	{ "suid", true, MS_NOSUID },
	{ "nodev", false, MS_NODEV },
	{ "dev", true, MS_NODEV },
	{ "noexec", false, MS_NOEXEC },
	{ "exec", true, MS_NOEXEC },
	{ "sync", false, MS_SYNCHRONOUS },
	{ "async", true, MS_SYNCHRONOUS },
	{ "dirsync", false, MS_DIRSYNC },
	{ "mand", false, MS_MANDLOCK },
	{ "nomand", true, MS_MANDLOCK },
	{ "noatime", false, MS_NOATIME },
	{ "atime", true, MS_NOATIME },
	{ "nodiratime", false, MS_NODIRATIME },
	{ "diratime", true, MS_NODIRATIME },
	{ "relatime", false, MS_RELATIME },
	{ "norelatime", true, MS_RELATIME },
	{ "strictatime", false, MS_STRICTATIME },
	{ "nostrictatime", true, MS_STRICTATIME },
	{ "lazytime", false, MS_LAZYTIME },
	{ "nolazytime", true, MS_LAZYTIME },
	{ "iversion", false, MS_I_VERSION },
	{ "noiversion", true, MS_I_VERSION },
	{ "silent", false, MS_SILENT },
	{ "loud", true, MS_SILENT },
	{ "acl", false, MS_POSIXACL },
	{ "noacl", true, MS_POSIXACL },
};

static const struct {
	const char *name;
	unsigned long flag;
} propagation_opts[] = {
	{ "private", MS_PRIVATE },
	{ "rprivate", MS_PRIVATE | MS_REC },
	{ "shared", MS_SHARED },
	{ "rshared", MS_SHARED | MS_REC },
	{ "slave", MS_SLAVE },
	{ "rslave", MS_SLAVE | MS_REC },
	{ "unbindable", MS_UNBINDABLE },
	{ "runbindable", MS_UNBINDABLE | MS_REC },
};

int storage_data_append(char *data, size_t len, const char *opt)
{
	size_t n = strlen(data), m = strlen(opt);

	if (n + (n ? 1 : 0) + m + 1 > len)
		return -ENAMETOOLONG;
	if (n)
		data[n++] = ',';
	memcpy(data + n, opt, m + 1);
	return 0;
}

int storage_mount_options(const char *const *opts, size_t n, struct storage_mount_opts *ret,
			  struct gcs_error *err)
{
	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < n; i++) {
		const char *o = opts[i];
		bool known = false;

		if (!o || !*o)
			continue;
		if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0 || strcmp(o, "remount") == 0)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "mount option \"%s\" is not valid for a disk", o);
		if (strchr(o, ','))
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "mount option \"%s\" contains a comma", o);
		for (size_t j = 0; j < ARRAY_SIZE(flag_opts) && !known; j++) {
			if (strcmp(o, flag_opts[j].name) != 0)
				continue;
			if (flag_opts[j].clear)
				ret->flags &= ~flag_opts[j].flag;
			else
				ret->flags |= flag_opts[j].flag;
			known = true;
		}
		for (size_t j = 0; j < ARRAY_SIZE(propagation_opts) && !known; j++) {
			if (strcmp(o, propagation_opts[j].name) != 0)
				continue;
			if (ret->n_propagation == STORAGE_MAX_PROPAGATION)
				return gcs_error_set(err, -E2BIG, HR_INVALIDARG,
						     "more than %d propagation options",
						     STORAGE_MAX_PROPAGATION);
			ret->propagation[ret->n_propagation++] = propagation_opts[j].flag;
			known = true;
		}
		if (!known && storage_data_append(ret->data, sizeof(ret->data), o) < 0)
			return gcs_error_set(err, -E2BIG, HR_INVALIDARG,
					     "mount options are longer than %d bytes",
					     STORAGE_MOUNT_DATA_MAX - 1);
	}
	return 0;
}

int storage_mount(const char *src, const char *target, const char *fstype, unsigned long flags,
		  const char *data, struct gcs_error *err)
{
	if (mount(src, target, fstype, flags, data && *data ? data : NULL) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "mount %s on %s (%s): %s", src, target,
				     fstype ? fstype : "bind", strerror(errno));
	return 0;
}

int storage_mount_propagation(const char *target, const struct storage_mount_opts *o,
			      struct gcs_error *err)
{
	for (size_t i = 0; i < o->n_propagation; i++)
		if (mount(NULL, target, NULL, o->propagation[i], NULL) < 0)
			return gcs_error_set(err, -errno, HR_FAIL,
					     "change the propagation of %s: %s", target,
					     strerror(errno));
	return 0;
}

int storage_umount(const char *target, int flags, struct gcs_error *err)
{
	if (umount2(target, UMOUNT_NOFOLLOW | flags) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "unmount %s: %s", target,
				     strerror(errno));
	return 0;
}

int storage_is_mount_point(const char *path)
{
	struct statx stx, parent;
	char dir[PATH_MAX];
	int rc;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return -errno;
	if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return !!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	/* Older kernels: a different device than the parent's (misses same-fs binds). */
	rc = path_dirname(path, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	if (statx(AT_FDCWD, dir, 0, STATX_BASIC_STATS, &parent) < 0)
		return -errno;
	return stx.stx_dev_major != parent.stx_dev_major ||
	       stx.stx_dev_minor != parent.stx_dev_minor;
}
