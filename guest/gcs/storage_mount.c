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
enum opt_kind { OPT_SET, OPT_CLEAR, OPT_PROPAGATION };

static const struct {
	const char *name;
	enum opt_kind kind;
	unsigned long flag;
} mount_opts[] = {
	{ "defaults", OPT_SET, 0 },
	{ "ro", OPT_SET, MS_RDONLY },
	{ "rw", OPT_CLEAR, MS_RDONLY },
	{ "nosuid", OPT_SET, MS_NOSUID },
	{ "suid", OPT_CLEAR, MS_NOSUID },
	{ "nodev", OPT_SET, MS_NODEV },
	{ "dev", OPT_CLEAR, MS_NODEV },
	{ "noexec", OPT_SET, MS_NOEXEC },
	{ "exec", OPT_CLEAR, MS_NOEXEC },
	{ "sync", OPT_SET, MS_SYNCHRONOUS },
	{ "async", OPT_CLEAR, MS_SYNCHRONOUS },
	{ "dirsync", OPT_SET, MS_DIRSYNC },
	{ "mand", OPT_SET, MS_MANDLOCK },
	{ "nomand", OPT_CLEAR, MS_MANDLOCK },
	{ "noatime", OPT_SET, MS_NOATIME },
	{ "atime", OPT_CLEAR, MS_NOATIME },
	{ "nodiratime", OPT_SET, MS_NODIRATIME },
	{ "diratime", OPT_CLEAR, MS_NODIRATIME },
	{ "relatime", OPT_SET, MS_RELATIME },
	{ "norelatime", OPT_CLEAR, MS_RELATIME },
	{ "strictatime", OPT_SET, MS_STRICTATIME },
	{ "nostrictatime", OPT_CLEAR, MS_STRICTATIME },
	{ "lazytime", OPT_SET, MS_LAZYTIME },
	{ "nolazytime", OPT_CLEAR, MS_LAZYTIME },
	{ "iversion", OPT_SET, MS_I_VERSION },
	{ "noiversion", OPT_CLEAR, MS_I_VERSION },
	{ "silent", OPT_SET, MS_SILENT },
	{ "loud", OPT_CLEAR, MS_SILENT },
	{ "acl", OPT_SET, MS_POSIXACL },
	{ "noacl", OPT_CLEAR, MS_POSIXACL },
	{ "private", OPT_PROPAGATION, MS_PRIVATE },
	{ "rprivate", OPT_PROPAGATION, MS_PRIVATE | MS_REC },
	{ "shared", OPT_PROPAGATION, MS_SHARED },
	{ "rshared", OPT_PROPAGATION, MS_SHARED | MS_REC },
	{ "slave", OPT_PROPAGATION, MS_SLAVE },
	{ "rslave", OPT_PROPAGATION, MS_SLAVE | MS_REC },
	{ "unbindable", OPT_PROPAGATION, MS_UNBINDABLE },
	{ "runbindable", OPT_PROPAGATION, MS_UNBINDABLE | MS_REC },
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
		for (size_t j = 0; j < ARRAY_SIZE(mount_opts) && !known; j++) {
			if (strcmp(o, mount_opts[j].name) != 0)
				continue;
			known = true;
			if (mount_opts[j].kind == OPT_SET) {
				ret->flags |= mount_opts[j].flag;
			} else if (mount_opts[j].kind == OPT_CLEAR) {
				ret->flags &= ~mount_opts[j].flag;
			} else if (ret->n_propagation == STORAGE_MAX_PROPAGATION) {
				return gcs_error_set(err, -E2BIG, HR_INVALIDARG,
						     "more than %d propagation options",
						     STORAGE_MAX_PROPAGATION);
			} else {
				ret->propagation[ret->n_propagation++] = mount_opts[j].flag;
			}
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
