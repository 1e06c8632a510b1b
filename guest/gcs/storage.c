/*
 * ModifySettings for the utility VM itself (null container ID, spec section 10): SCSI disks,
 * pmem layers (optionally through a dm-linear map), the overlay root filesystem of a container,
 * Plan 9 shares; SCSI unplug. Every path the host sends goes through storage_check_path first.
 *
 * What Add sets up is kept in a->mounts (struct storage_entry), so that:
 *  - an Add whose MountPath is already in use (set up or being set up by us, or a mount point
 *    of anyone else) fails with E_INVALIDARG and touches nothing;
 *  - a Remove undoes exactly what its Add did: the unmount, the mount point directory if the Add
 *    created it, the BlockDev symlink, the dm device, the bundle bind mount;
 *  - a Remove of a path we never set up succeeds when the path is not a mount point (gone, or
 *    a plain directory: idempotent, as the Go GCS's UnmountPath), and fails with E_FAIL when it
 *    is a mount point that is not ours (we do not unmount what we did not mount);
 *  - SCSIDevice Remove refuses a LUN that still backs one of our MappedVirtualDisks;
 *  - storage_cleanup undoes everything, newest first, when the agent stops.
 *
 * EnsureFilesystem formats the disk (mkfs.<Filesystem>) when its superblock is not of
 * Filesystem's family (ext2/3/4 share one magic), as spec 10.1 says: a scratch disk of another
 * family is reformatted. A read-only ext3/4 mount always gets "noload" (no journal replay).
 *
 * Disks are waited for on loop timers (storage_dev.c) and mkfs runs as a helper process
 * (child.c): those requests are answered later. Nothing here blocks the loop beyond single
 * syscalls (mount itself included).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "request.h"
#include "storage.h"
#include "child.h"
#include "cleanup.h"
#include "dm.h"
#include "log.h"
#include "net.h"
#include "path.h"
#include "storage_dev.h"
#include "storage_mount.h"
#include "timeutil.h"
#include "hostpath.h"
#include "rootpath.h"

#define P9_MSIZE 65536
#define DIAL_TIMEOUT_MS 5000
/* mount(2) copies at most one page of options. */
#define MOUNT_DATA_PAGE 4096
/* Where a container's bundle lives on its scratch disk, relative to ScratchPath (see below). */
#define BUNDLE_DIR "bundle"

struct storage_entry {
	struct list node;
	struct agent *a;
	enum gcs_proto_resource_type type;
	bool pending; /* the Add is still waiting for its device, mkfs or the host */
	char path[PATH_MAX]; /* MountPath or ContainerRootPath */
	bool symlink; /* BlockDev: path is a symlink to source */
	const char *created; /* the first directory of path the Add created (into path), or NULL */
	bool mounted; /* path is our mount */
	char source[PATH_MAX]; /* the device, or what was mounted */
	char fstype[16];
	char dm_name[128]; /* a dm-linear device under source, or "" */
	char bundle[PATH_MAX]; /* CombinedLayers: the bundle directory bind-mounted, or "" */
	const char *bundle_created; /* the first directory of bundle it created, or NULL */

	/* while pending */
	struct request *req; /* the Add being answered */
	struct storage_wait wait;
	unsigned controller, lun;
	uint64_t partition;
	bool ensure_fs;
	struct storage_mount_opts mo;
	pid_t mkfs_pid;
	uint32_t pmem;
	uint32_t port;
	uint64_t map_offset, map_size; /* bytes; map_size 0: no MappingInfo */
	int fd; /* Plan 9: the connection being dialed */
	bool fd_watched;
	struct loop_source src;
	struct loop_timer dial_timer; /* Plan 9: the dial; SCSI: the next probe of a new disk */
	unsigned probes;
	int64_t dial_deadline; /* Plan 9: when the dial gives up */
	bool read_only;
	char share[256];
	/* CombinedLayers: what the overlay uses ("\n"-separated layer paths, then the scratch) */
	char *backing;
};

static const char *str(const char *s)
{
	return s ? s : "";
}

static const char *type_name(enum gcs_proto_resource_type t)
{
	return gcs_proto_resource_type_str(t);
}

static void log_failure(enum log_level level, const char *what, const char *message)
{
	log_write(level, what, LOG_STR("error", message));
}

/* ---- paths ---- */

int storage_check_path(struct agent *a, const char *what, const char *path, struct gcs_error *err)
{
	return hostpath_check(a, what, path, err);
}

/* Paths that end up inside overlayfs or 9p option strings must not carry separators. */
static int check_option_path(const char *what, const char *path, struct gcs_error *err)
{
	if (strpbrk(path, ",:\\"))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "%s \"%s\" contains ',', ':' or '\\', which mount options "
				     "cannot carry",
				     what, path);
	return 0;
}

/* ---- the registry ---- */

static struct storage_entry *find_entry(struct agent *a, const char *path)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->mounts)
	{
		struct storage_entry *e = list_entry(it, struct storage_entry, node);
		if (strcmp(e->path, path) == 0)
			return e;
	}
	return NULL;
}

static bool bundle_bound(struct agent *a, const char *dir)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &a->mounts)
	{
		struct storage_entry *e = list_entry(it, struct storage_entry, node);
		if (strcmp(e->bundle, dir) == 0)
			return true;
	}
	return false;
}

/* An Add may use path only when nothing is mounted there, by us or anyone else. */
static int check_unused(struct agent *a, const char *what, const char *path, struct gcs_error *err)
{
	struct storage_entry *e = find_entry(a, path);

	if (e)
		return gcs_error_set(err, -EBUSY, HR_INVALIDARG, "%s %s is already %s by %s", what,
				     path, e->pending ? "being set up" : "in use",
				     type_name(e->type));
	if (hostpath_is_mount_point(a, path) == 1)
		return gcs_error_set(err, -EBUSY, HR_INVALIDARG, "%s %s is already a mount point",
				     what, path);
	return 0;
}

static struct storage_entry *entry_new(struct agent *a, enum gcs_proto_resource_type type,
				       const char *path, struct request *req)
{
	struct storage_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->a = a;
	e->type = type;
	e->fd = -1;
	e->mkfs_pid = -1;
	e->req = req;
	snprintf(e->path, sizeof(e->path), "%s", path);
	list_add_tail(&a->mounts, &e->node);
	return e;
}

/* Stops whatever a pending Add is waiting for; its callbacks will not run. */
static void entry_stop(struct storage_entry *e)
{
	struct agent *a = e->a;

	storage_wait_cancel(&e->wait);
	loop_timer_cancel(a->loop, &e->dial_timer);
	if (e->fd_watched) {
		loop_del(a->loop, &e->src);
		e->fd_watched = false;
	}
	if (e->fd >= 0) {
		close(e->fd);
		e->fd = -1;
	}
	if (e->mkfs_pid > 0) {
		/*
		 * Only at shutdown. main runs child_kill_all first, which reaps mkfs and drops its
		 * callback; if it is still our unreaped child, it is killed, reaped and unwatched
		 * here so that its callback never comes.
		 */
		if (waitpid(e->mkfs_pid, NULL, WNOHANG) == 0) {
			kill(e->mkfs_pid, SIGKILL);
			waitpid(e->mkfs_pid, NULL, 0);
		}
		loop_unwatch_child(a->loop, e->mkfs_pid);
		e->mkfs_pid = -1;
	}
}

static void entry_free(struct storage_entry *e)
{
	entry_stop(e);
	list_del(&e->node);
	free(e->backing);
	free(e);
}

/* The live overlay that uses a layer or scratch under path, if any. */
static struct storage_entry *overlay_using(struct agent *a, const char *path)
{
	struct list *it;

	for (it = a->mounts.next; it != &a->mounts; it = it->next) {
		struct storage_entry *e = list_entry(it, struct storage_entry, node);
		const char *p = e->backing;

		while (p && *p) {
			size_t n = strcspn(p, "\n");
			char one[PATH_MAX];

			snprintf(one, sizeof(one), "%.*s", (int)n, p);
			if (path_is_within(one, path))
				return e;
			p += n + (p[n] == '\n');
		}
	}
	return NULL;
}

/* Unmounts path; "not mounted" (EINVAL) counts as done. force: lazy unmount when busy. */
static int unmount_path(struct agent *a, const char *path, bool force, struct gcs_error *err)
{
	int rc = hostpath_umount(a, path, 0);

	if (rc == 0 || rc == -EINVAL || rc == -ENOENT)
		return 0;
	if (force && hostpath_umount(a, path, MNT_DETACH) == 0) {
		log_warning("unmounted lazily", LOG_STR("path", path), LOG_ERRNO(rc));
		return 0;
	}
	return gcs_error_set(err, rc, HR_FAIL, "unmount %s: %s", path, strerror(-rc));
}

/*
 * Undoes an active entry: unmount (or unlink), remove what the Add created, the dm device and
 * the bundle bind. Stops at a failed unmount unless force (agent shutdown), so that a Remove
 * can be retried.
 */
static int entry_undo(struct storage_entry *e, bool force, struct gcs_error *err)
{
	struct gcs_error dm_err = { 0 };
	int rc;

	if (e->symlink) {
		rc = hostpath_unlink_symlink(e->a, e->path);
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL, "remove %s: %s", e->path,
					     strerror(-rc));
	} else {
		if (e->mounted) {
			rc = unmount_path(e->a, e->path, force, err);
			if (rc < 0)
				return rc;
			e->mounted = false;
		}
		hostpath_undo_mkdir(e->a, e->path, e->created);
		e->created = NULL;
	}
	if (e->dm_name[0] && dm_remove(e->a->opt.dev_root, e->dm_name, &dm_err) < 0)
		/* The layer is unmounted: as the Go GCS, a stuck dm device is only logged. */
		log_failure(LOG_WARNING, "cannot remove a device-mapper device", dm_err.message);
	e->dm_name[0] = '\0';
	if (e->bundle[0]) {
		rc = unmount_path(e->a, e->bundle, force, err);
		if (rc < 0)
			return rc;
		hostpath_undo_mkdir(e->a, e->bundle, e->bundle_created);
		e->bundle_created = NULL;
		e->bundle[0] = '\0';
	}
	return 0;
}

/* Answers a pending Add with its error and forgets it. */
static void entry_fail(struct storage_entry *e, int rc, struct gcs_error *err)
{
	gcs_error_prefix(err, rc, "%s Add %s", type_name(e->type), e->path);
	log_failure(LOG_ERROR, "ModifySettings failed", err->message);
	request_finish(e->req, rc, err);
	e->req = NULL;
	entry_free(e);
}

/*
 * The journal: every mount point ModifySettings made, in <run root>/gcs/mounts, rewritten after
 * each change, so that an agent started after one that was killed can remove them first.
 */
#define JOURNAL_DIR "gcs"
#define JOURNAL_FILE "mounts"

static int journal_dir(struct agent *a, int *ret_fd)
{
	char p[PATH_MAX];

	path_join(p, sizeof(p), a->opt.run_root, JOURNAL_DIR);
	return hostpath_mkdir(a, "the agent's state directory", p, 0700, ret_fd, NULL, NULL);
}

static void journal_save(struct agent *a)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	f = open_memstream(&buf, &len);
	if (!f)
		return;
	for (struct list *it = a->mounts.next; it != &a->mounts; it = it->next) {
		struct storage_entry *e = list_entry(it, struct storage_entry, node);
		if (e->bundle[0])
			fprintf(f, "%s\n", e->bundle);
		if (e->mounted)
			fprintf(f, "%s\n", e->path);
	}
	if (fclose(f) != 0)
		return;
	rc = journal_dir(a, &dfd);
	if (rc == 0)
		rc = rp_write_file(dfd, JOURNAL_FILE, buf ? buf : "", len, 0600);
	if (rc < 0)
		log_warning("cannot write the mount journal", LOG_ERRNO(rc));
}

void storage_recover(struct agent *a)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	_cleanup_fclose_ FILE *f = NULL;
	char line[PATH_MAX + 2];
	char *paths[1024];
	size_t n = 0;

	if (journal_dir(a, &dfd) < 0)
		return;
	fd = openat(dfd, JOURNAL_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(f = fdopen(fd, "r")))
		return;
	fd = -1;
	while (n < ARRAY_SIZE(paths) && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] && (paths[n] = strdup(line)))
			n++;
	}
	/* newest first: a later mount may sit inside an earlier one */
	while (n-- > 0) {
		if (hostpath_is_mount_point(a, paths[n]) == 1) {
			int rc = hostpath_umount(a, paths[n], MNT_DETACH);
			if (rc == 0)
				log_warning("removed a mount left by an earlier agent",
					    LOG_STR("path", paths[n]));
			else
				log_error("cannot remove a mount left by an earlier agent",
					  LOG_STR("path", paths[n]), LOG_ERRNO(rc));
		}
		free(paths[n]);
	}
	unlinkat(dfd, JOURNAL_FILE, 0);
}

static void entry_done(struct storage_entry *e)
{
	e->pending = false;
	log_info("storage set up", LOG_STR("resource", type_name(e->type)),
		 LOG_STR("path", e->path), LOG_STR("source", e->source));
	journal_save(e->a);
	request_reply(e->req, NULL);
	e->req = NULL;
}

/*
 * The Remove of every resource that has a path: undo our entry, or accept a path that is not a
 * mount point (see the top of the file).
 */
static int remove_path(struct agent *a, enum gcs_proto_resource_type type, const char *what,
		       const char *path, struct gcs_error *err)
{
	struct storage_entry *e = find_entry(a, path);
	char parent[PATH_MAX];
	int rc;

	if (e && e->symlink) {
		/* Our own BlockDev link: its target is a device outside run_root by design. */
		rc = path_dirname(path, parent, sizeof(parent));
		if (rc == 0)
			rc = storage_check_path(a, what, parent, err);
	} else {
		rc = storage_check_path(a, what, path, err);
	}
	if (rc < 0)
		return rc;
	if (!e) {
		rc = hostpath_is_mount_point(a, path);
		if (rc == -ENOENT || rc == 0)
			return 0;
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL, "stat %s: %s", path, strerror(-rc));
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "%s is a mount point that ModifySettings did not set up",
				     path);
	}
	if (e->type != type)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "%s was set up by %s, not %s",
				     path, type_name(e->type), type_name(type));
	if (e->pending)
		return gcs_error_set(err, -EBUSY, HR_FAIL, "%s is still being set up", path);
	if (type != GCS_RESOURCE_COMBINED_LAYERS) {
		struct storage_entry *o = overlay_using(a, path);
		if (o)
			return gcs_error_set(err, -EBUSY, HR_FAIL,
					     "%s is still used by the container root filesystem "
					     "mounted at %s",
					     path, o->path);
	}
	rc = entry_undo(e, false, err);
	if (rc < 0)
		return rc;
	log_info("storage removed", LOG_STR("resource", type_name(type)), LOG_STR("path", path));
	entry_free(e);
	journal_save(a);
	return 0;
}

/* mount(2) of src (NULL, a path, or an fd's /proc/self/fd path) on the directory dirfd. */
static int mount_on(const char *src, int dirfd, const char *shown, const char *fstype,
		    unsigned long flags, const char *data, struct gcs_error *err)
{
	char target[32];

	rp_fd_path(dirfd, target);
	if (mount(src, target, fstype, flags, data && *data ? data : NULL) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "mount %s on %s (%s): %s",
				     src ? src : "none", shown, fstype ? fstype : "bind",
				     strerror(errno));
	return 0;
}

/*
 * mkdir -p the entry's path beneath the run root, then mount on that directory through its fd;
 * the directories go again if the mount fails. *ret_fd (may be NULL): an O_PATH fd of the new
 * mount's root.
 */
static int mount_at(struct storage_entry *e, const char *src, const char *fstype,
		    unsigned long flags, const char *data, struct gcs_error *err)
{
	_cleanup_close_ int fd = -1;
	int rc;

	rc = hostpath_mkdir(e->a, "MountPath", e->path, 0755, &fd, &e->created, err);
	if (rc < 0)
		return rc;
	rc = mount_on(src, fd, e->path, fstype, flags, data, err);
	if (rc < 0) {
		hostpath_undo_mkdir(e->a, e->path, e->created);
		e->created = NULL;
		return rc;
	}
	e->mounted = true;
	return 0;
}

/* Changes the propagation of the entry's mount (through a fresh fd of its root). */
static int set_propagation(struct storage_entry *e, const struct storage_mount_opts *mo,
			   struct gcs_error *err)
{
	_cleanup_close_ int fd = -1;
	char target[32];
	int rc;

	if (mo->n_propagation == 0)
		return 0;
	rc = hostpath_open_dir(e->a, "MountPath", e->path, &fd, err);
	if (rc < 0)
		return rc;
	rp_fd_path(fd, target);
	return storage_mount_propagation(target, mo, err);
}

/* ---- MappedVirtualDisk ---- */

static bool same_fs_family(const char *probed, const char *wanted)
{
	if (strcmp(probed, "ext4") == 0)
		return strncmp(wanted, "ext", 3) == 0;
	return strcmp(probed, wanted) == 0;
}

/*
 * A mount that failed with EINVAL on a device usually means the device does not hold the file
 * system asked for: say so, with what its superblock shows, instead of mount(2)'s bare errno.
 */
static void explain_mount_failure(struct storage_entry *e, int rc, struct gcs_error *err)
{
	char probed[16];

	if (rc != -EINVAL || e->symlink || strncmp(e->source, "/", 1) != 0 ||
	    storage_fs_probe(e->source, probed, sizeof(probed), NULL) < 0)
		return;
	if (probed[0] && same_fs_family(probed, e->fstype))
		return;
	gcs_error_set(err, -EINVAL, HR_FAIL, "%s holds no %s file system (its superblock: %s)",
		      e->source, e->fstype, probed[0] ? probed : "none that lcow knows");
}

static void mvd_mount(struct storage_entry *e)
{
	struct gcs_error err = { 0 };
	char dir[PATH_MAX];
	int rc;

	if (e->symlink) {
		_cleanup_close_ int dfd = -1;
		const char *name = strrchr(e->path, '/') + 1;

		rc = path_dirname(e->path, dir, sizeof(dir));
		if (rc < 0) {
			gcs_error_set(&err, rc, HR_INVALIDARG, "MountPath %s has no parent",
				      e->path);
			entry_fail(e, rc, &err);
			return;
		}
		if (path_is_below(dir, e->a->opt.run_root))
			rc = hostpath_mkdir(e->a, "MountPath", dir, 0755, &dfd, NULL, &err);
		else
			rc = rp_open(e->a->root_fd, "", O_PATH | O_DIRECTORY, 0, &dfd);
		if (rc < 0) {
			if (err.hresult == HR_OK)
				gcs_error_set(&err, rc, HR_FAIL, "open %s: %s", dir, strerror(-rc));
			entry_fail(e, rc, &err);
			return;
		}
		if (symlinkat(e->source, dfd, name) < 0) {
			rc = -errno;
			gcs_error_set(&err, rc, HR_FAIL, "symlink %s -> %s: %s", e->path, e->source,
				      strerror(errno));
			e->symlink = false; /* not ours: never unlink it */
			entry_fail(e, rc, &err);
			return;
		}
		entry_done(e);
		return;
	}
	rc = mount_at(e, e->source, e->fstype, e->mo.flags, e->mo.data, &err);
	if (rc < 0)
		explain_mount_failure(e, rc, &err);
	if (rc == 0) {
		rc = set_propagation(e, &e->mo, &err);
		if (rc < 0)
			entry_undo(e, true, NULL);
	}
	if (rc < 0) {
		entry_fail(e, rc, &err);
		return;
	}
	entry_done(e);
}

static void on_mkfs_done(void *data, const struct child_result *r)
{
	struct storage_entry *e = data;
	struct gcs_error err = { 0 };
	size_t n = r->err_len;

	e->mkfs_pid = -1;
	if (r->exit_code != 0) {
		while (n > 0 && (r->err[n - 1] == '\n' || r->err[n - 1] == ' '))
			n--;
		gcs_error_set(&err, -EIO, HR_FAIL, "mkfs.%s %s failed with exit code %d%s%.*s",
			      e->fstype, e->source, r->exit_code, n ? ": " : "", (int)n, r->err);
		entry_fail(e, -EIO, &err);
		return;
	}
	log_info("formatted", LOG_STR("device", e->source), LOG_STR("fs", e->fstype));
	mvd_mount(e);
}

static void mvd_found(struct storage_wait *w, int rc, struct gcs_error *err);

static void on_probe_retry(struct loop_timer *t)
{
	struct storage_entry *e = container_of(t, struct storage_entry, dial_timer);
	struct gcs_error err = { 0 };

	mvd_found(&e->wait, 0, &err);
}

static void mvd_found(struct storage_wait *w, int rc, struct gcs_error *err)
{
	struct storage_entry *e = container_of(w, struct storage_entry, wait);
	char probed[16], prog[32];

	if (rc < 0) {
		entry_fail(e, rc, err);
		return;
	}
	/*
	 * A hot-added SCSI disk shows in sysfs a moment before it can be opened (ENXIO): try
	 * again for up to 5 s before probing or mounting it.
	 */
	if (!e->symlink) {
		int fd = open(e->source, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
		else if (errno == ENXIO && e->probes++ < 250) {
			loop_timer_arm(e->a->loop, &e->dial_timer, 20, on_probe_retry);
			return;
		}
	}
	if (e->ensure_fs) {
		rc = storage_fs_probe(e->source, probed, sizeof(probed), err);
		if (rc == -ENXIO && e->probes++ < 250) {
			gcs_error_clear(err);
			loop_timer_arm(e->a->loop, &e->dial_timer, 20, on_probe_retry);
			return;
		}
		if (rc < 0) {
			entry_fail(e, rc, err);
			return;
		}
		if (!same_fs_family(probed, e->fstype)) {
			bool xfs = strcmp(e->fstype, "xfs") == 0;
			char *argv[] = { prog, "-q", xfs ? "-f" : "-F", e->source, NULL };

			snprintf(prog, sizeof(prog), "mkfs.%s", e->fstype);
			log_info("formatting", LOG_STR("device", e->source),
				 LOG_STR("fs", e->fstype),
				 LOG_STR("found", probed[0] ? probed : "none"));
			rc = child_run(e->a, argv, NULL, on_mkfs_done, e, &e->mkfs_pid);
			if (rc < 0) {
				gcs_error_set(err, rc, HR_FAIL, "run %s: %s", prog, strerror(-rc));
				entry_fail(e, rc, err);
			}
			return;
		}
	}
	mvd_mount(e);
}

static int mvd_probe(struct storage_wait *w, struct gcs_error *err)
{
	struct storage_entry *e = container_of(w, struct storage_entry, wait);
	struct agent *a = e->a;

	return storage_scsi_resolve(a->opt.sysfs_root, a->opt.dev_root, e->controller, e->lun,
				    e->partition, e->source, sizeof(e->source), err);
}

static bool valid_fstype(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* What every Add checks before it sets anything up (MountPath), then its pending entry. */
static int entry_begin(struct agent *a, enum gcs_proto_resource_type type, const char *path,
		       struct request *c, struct storage_entry **ret, struct gcs_error *err)
{
	struct storage_entry *e;
	int rc = storage_check_path(a, "MountPath", path, err);

	if (rc < 0)
		return rc;
	rc = check_unused(a, "MountPath", path, err);
	if (rc < 0)
		return rc;
	e = entry_new(a, type, path, c);
	if (!e)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	e->pending = true;
	*ret = e;
	return 0;
}

static int mvd_add(struct agent *a, struct request *c,
		   const struct gcs_proto_mapped_virtual_disk *s, struct gcs_error *err)
{
	const char *path = str(s->mount_path);
	const char *fstype = *str(s->filesystem) ? s->filesystem : "ext4";
	struct storage_mount_opts mo;
	struct storage_entry *e;
	int rc;

	if (s->encrypted)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "encrypted disks (dm-crypt) are not supported");
	if (s->verity_info)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "dm-verity (VerityInfo) is not supported");
	if (s->controller >= GCS_SCSI_CONTROLLERS)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "Controller %u is out of range (0-%d)", s->controller,
				     GCS_SCSI_CONTROLLERS - 1);
	if (!*path)
		return 0; /* attach only */
	if (!valid_fstype(fstype))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid Filesystem \"%s\"",
				     fstype);
	if (s->ensure_filesystem && !storage_fs_supported(fstype))
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "EnsureFilesystem supports ext2, ext3, ext4 and xfs, not %s",
				     fstype);
	rc = storage_mount_options(s->options, s->n_options, &mo, err);
	if (rc < 0)
		return rc;
	if (s->read_only)
		mo.flags |= MS_RDONLY;
	/* A read-only ext3/4 must not replay its journal, which would write to the disk. */
	if ((mo.flags & MS_RDONLY) &&
	    (strcmp(fstype, "ext4") == 0 || strcmp(fstype, "ext3") == 0) &&
	    !strstr(mo.data, "noload") &&
	    storage_data_append(mo.data, sizeof(mo.data), "noload") < 0)
		return gcs_error_set(err, -E2BIG, HR_INVALIDARG, "mount options are too long");
	rc = entry_begin(a, GCS_RESOURCE_MAPPED_VIRTUAL_DISK, path, c, &e, err);
	if (rc < 0)
		return rc;
	e->controller = s->controller;
	e->lun = s->lun;
	e->partition = s->partition;
	e->symlink = s->block_dev;
	e->ensure_fs = s->ensure_filesystem;
	e->read_only = s->read_only;
	e->mo = mo;
	snprintf(e->fstype, sizeof(e->fstype), "%s", fstype);
	storage_wait_start(a->loop, &e->wait, storage_device_timeout_ms(), mvd_probe, mvd_found);
	return REQUEST_KEPT;
}

static int handle_mvd(struct agent *a, struct request *c, enum gcs_proto_request_type rt,
		      const struct gcs_proto_modify_req *req, struct gcs_error *err)
{
	const struct gcs_proto_mapped_virtual_disk *s = &req->settings.mapped_virtual_disk;

	if (rt == GCS_REQUEST_TYPE_ADD)
		return mvd_add(a, c, s, err);
	if (!*str(s->mount_path))
		return 0;
	return remove_path(a, GCS_RESOURCE_MAPPED_VIRTUAL_DISK, "MountPath", s->mount_path, err);
}

/* ---- SCSIDevice ---- */

static int handle_scsi_device(struct agent *a, const struct gcs_proto_modify_req *req,
			      struct gcs_error *err)
{
	const struct gcs_proto_scsi_device *s = &req->settings.scsi_device;
	struct list *it, *tmp;
	int rc;

	/* Unplugging a disk under a mount would leave a dead filesystem behind. */
	list_for_each_safe(it, tmp, &a->mounts)
	{
		struct storage_entry *e = list_entry(it, struct storage_entry, node);
		if (e->type == GCS_RESOURCE_MAPPED_VIRTUAL_DISK && e->controller == s->controller &&
		    e->lun == s->lun)
			return gcs_error_set(err, -EBUSY, HR_FAIL,
					     "LUN %u of controller %u is still %s at %s", s->lun,
					     s->controller, e->pending ? "being set up" : "in use",
					     e->path);
	}
	rc = storage_scsi_delete(a->opt.sysfs_root, s->controller, s->lun, err);
	if (rc == 0)
		log_info("SCSI device unplugged", LOG_UINT("controller", s->controller),
			 LOG_UINT("lun", s->lun));
	return rc;
}

/* ---- VPMemDevice ---- */

static void pmem_found(struct storage_wait *w, int rc, struct gcs_error *err)
{
	struct storage_entry *e = container_of(w, struct storage_entry, wait);
	struct agent *a = e->a;
	char node[PATH_MAX], name[128];

	if (rc < 0) {
		entry_fail(e, rc, err);
		return;
	}
	if (e->map_size) {
		snprintf(name, sizeof(name), "dm-linear-pmem%u-%llu-%llu", e->pmem,
			 (unsigned long long)e->map_offset, (unsigned long long)e->map_size);
		rc = dm_create_linear(a->opt.dev_root, name, e->source,
				      e->map_offset / DM_SECTOR_SIZE, e->map_size / DM_SECTOR_SIZE,
				      true, node, sizeof(node), err);
		if (rc < 0) {
			entry_fail(e, rc, err);
			return;
		}
		snprintf(e->dm_name, sizeof(e->dm_name), "%s", name);
		snprintf(e->source, sizeof(e->source), "%s", node);
	}
	rc = mount_at(e, e->source, "ext4", MS_RDONLY, "noload", err);
	if (rc < 0)
		explain_mount_failure(e, rc, err);
	if (rc < 0) {
		if (e->dm_name[0])
			dm_remove(a->opt.dev_root, e->dm_name, NULL);
		e->dm_name[0] = '\0';
		entry_fail(e, rc, err);
		return;
	}
	entry_done(e);
}

static int pmem_probe(struct storage_wait *w, struct gcs_error *err)
{
	struct storage_entry *e = container_of(w, struct storage_entry, wait);
	struct stat st;

	if (stat(e->source, &st) == 0)
		return 0;
	if (errno == ENOENT)
		return gcs_error_set(err, -EAGAIN, HR_FAIL, "pmem device %s does not exist",
				     e->source);
	return gcs_error_set(err, -errno, HR_FAIL, "stat %s: %s", e->source, strerror(errno));
}

static int pmem_add(struct agent *a, struct request *c, const struct gcs_proto_vpmem_device *s,
		    struct gcs_error *err)
{
	const char *path = str(s->mount_path);
	const struct gcs_proto_vpmem_mapping *m = s->mapping_info;
	struct storage_entry *e;
	int rc;

	if (s->verity_info)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "dm-verity (VerityInfo) is not supported");
	if (m && (m->device_offset_in_bytes % DM_SECTOR_SIZE ||
		  m->device_size_in_bytes % DM_SECTOR_SIZE || m->device_size_in_bytes == 0))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "MappingInfo offset %llu and size %llu must be non-zero "
				     "multiples of %u bytes",
				     (unsigned long long)m->device_offset_in_bytes,
				     (unsigned long long)m->device_size_in_bytes, DM_SECTOR_SIZE);
	rc = entry_begin(a, GCS_RESOURCE_VPMEM_DEVICE, path, c, &e, err);
	if (rc < 0)
		return rc;
	e->pmem = s->device_number;
	if (m) {
		e->map_offset = m->device_offset_in_bytes;
		e->map_size = m->device_size_in_bytes;
	}
	snprintf(e->fstype, sizeof(e->fstype), "ext4");
	snprintf(e->source, sizeof(e->source), "%s/pmem%u", a->opt.dev_root, s->device_number);
	storage_wait_start(a->loop, &e->wait, storage_device_timeout_ms(), pmem_probe, pmem_found);
	return REQUEST_KEPT;
}

static int handle_pmem(struct agent *a, struct request *c, enum gcs_proto_request_type rt,
		       const struct gcs_proto_modify_req *req, struct gcs_error *err)
{
	const struct gcs_proto_vpmem_device *s = &req->settings.vpmem_device;

	if (rt == GCS_REQUEST_TYPE_ADD)
		return pmem_add(a, c, s, err);
	return remove_path(a, GCS_RESOURCE_VPMEM_DEVICE, "MountPath", str(s->mount_path), err);
}

/* ---- CombinedLayers ---- */

/*
 * "lowerdir=L1:L2[,upperdir=U,workdir=W]" into buf (one page at most), each directory given as
 * the /proc/self/fd path of an fd resolved beneath the run root: the kernel looks the options
 * up again, and a path string could have been redirected in between.
 */
static int overlay_data(const int *lower, size_t n_lower, int upper, int work, char *buf,
			size_t len, struct gcs_error *err)
{
	char p[32];
	size_t n;

	n = (size_t)snprintf(buf, len, "lowerdir=");
	for (size_t i = 0; i < n_lower && n < len; i++) {
		rp_fd_path(lower[i], p);
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ":" : "", p);
	}
	if (upper >= 0 && n < len) {
		rp_fd_path(upper, p);
		n += (size_t)snprintf(buf + n, len - n, ",upperdir=%s", p);
		rp_fd_path(work, p);
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, ",workdir=%s", p);
	}
	if (n >= len)
		return gcs_error_set(err, -E2BIG, HR_INVALIDARG,
				     "the overlay's options for %zu layers exceed the %zu bytes "
				     "mount(2) takes",
				     n_lower, len - 1);
	return 0;
}

/* mkdir -p <scratch>/<sub>; *ret_fd its O_PATH fd (may be NULL). */
static int mkdir_in_scratch(struct agent *a, const char *scratch, const char *sub, int *ret_fd,
			    struct gcs_error *err)
{
	char p[PATH_MAX];
	int fd = -1, rc = path_join(p, sizeof(p), scratch, sub);

	if (rc < 0)
		return gcs_error_set(err, rc, HR_INVALIDARG, "ScratchPath %s is too long", scratch);
	rc = hostpath_mkdir(a, "ScratchPath", p, 0755, &fd, NULL, err);
	if (rc < 0)
		return rc;
	if (ret_fd)
		*ret_fd = fd;
	else
		close(fd);
	return 0;
}

/*
 * The bundle rule (spec 10.4): the bundle directory is dirname(ContainerRootPath). When that is
 * not an ancestor of ScratchPath, the bundle (config.json, the rootfs mount point, runc's files)
 * would live on the UVM's tmpfs; so <ScratchPath>/bundle is bind-mounted onto it. The source
 * sits inside the container's own scratch directory, next to upper/ and work/: it needs no
 * container ID, and whatever removes the scratch directory removes the bundle with it. A bundle
 * directory already bound by an earlier CombinedLayers is left as it is.
 */
static int bind_bundle(struct storage_entry *e, const char *scratch, struct gcs_error *err)
{
	struct agent *a = e->a;
	_cleanup_close_ int src = -1, dst = -1;
	char bundle[PATH_MAX], from[32];
	const char *created = NULL;
	int rc;

	rc = path_dirname(e->path, bundle, sizeof(bundle));
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "dirname %s: %s", e->path, strerror(-rc));
	if (!*scratch || path_is_below(scratch, bundle) || bundle_bound(a, bundle))
		return 0;
	snprintf(e->bundle, sizeof(e->bundle), "%s", bundle);
	rc = mkdir_in_scratch(a, scratch, BUNDLE_DIR, &src, err);
	if (rc == 0)
		rc = hostpath_mkdir(a, "the bundle directory (dirname of ContainerRootPath)",
				    e->bundle, 0755, &dst, &created, err);
	if (rc == 0) {
		rp_fd_path(src, from);
		rc = mount_on(from, dst, e->bundle, NULL, MS_BIND, NULL, err);
		if (rc < 0)
			hostpath_undo_mkdir(a, e->bundle, created);
	}
	if (rc < 0) {
		e->bundle[0] = '\0';
		return rc;
	}
	e->bundle_created = created;
	return 0;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int layers_add(struct agent *a, const struct gcs_proto_combined_layers *s,
		      struct gcs_error *err)
{
	const char *root = str(s->container_root_path), *scratch = str(s->scratch_path);
	_cleanup_free_ char *data = malloc(MOUNT_DATA_PAGE);
	_cleanup_free_ int *lower = NULL;
	_cleanup_close_ int upper = -1, work = -1;
	struct storage_entry *e;
	char what[64];
	int rc;

	if (!data)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	rc = storage_check_path(a, "ContainerRootPath", root, err);
	if (rc < 0)
		return rc;
	if (s->n_layers == 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "no Layers");
	if (s->n_layers > 128)
		return gcs_error_set(err, -E2BIG, HR_INVALIDARG, "%zu layers: at most 128 are",
				     s->n_layers);
	lower = malloc(s->n_layers * sizeof(*lower));
	if (!lower)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	for (size_t i = 0; i < s->n_layers; i++)
		lower[i] = -1;
	for (size_t i = 0; i < s->n_layers; i++) {
		snprintf(what, sizeof(what), "Layers[%zu].Path", i);
		if ((rc = storage_check_path(a, what, str(s->layers[i].path), err)) < 0 ||
		    (rc = check_option_path(what, s->layers[i].path, err)) < 0)
			return rc;
	}
	if (*scratch && ((rc = storage_check_path(a, "ScratchPath", scratch, err)) < 0 ||
			 (rc = check_option_path("ScratchPath", scratch, err)) < 0))
		return rc;
	/* Checked; now each layer is resolved once, and the overlay is given the fds. */
	for (size_t i = 0; i < s->n_layers; i++) {
		snprintf(what, sizeof(what), "Layers[%zu].Path", i);
		rc = hostpath_open_dir(a, what, str(s->layers[i].path), &lower[i], err);
		if (rc < 0) {
			close_all(lower, s->n_layers);
			return rc;
		}
	}
	rc = check_unused(a, "ContainerRootPath", root, err);
	if (rc < 0) {
		close_all(lower, s->n_layers);
		return rc;
	}
	e = entry_new(a, GCS_RESOURCE_COMBINED_LAYERS, root, NULL);
	if (!e) {
		close_all(lower, s->n_layers);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}
	rc = bind_bundle(e, scratch, err);
	if (rc == 0 && *scratch) {
		if ((rc = mkdir_in_scratch(a, scratch, "upper", &upper, err)) == 0)
			rc = mkdir_in_scratch(a, scratch, "work", &work, err);
	}
	if (rc == 0 && !*scratch && s->n_layers == 1) {
		/* overlayfs wants two lower layers without an upper: a read-only bind instead */
		char from[32];
		rp_fd_path(lower[0], from);
		snprintf(e->source, sizeof(e->source), "%s", s->layers[0].path);
		snprintf(e->fstype, sizeof(e->fstype), "bind,ro");
		rc = mount_at(e, from, NULL, MS_BIND, NULL, err);
		if (rc == 0) {
			_cleanup_close_ int fd = -1;
			rc = hostpath_open_dir(a, "ContainerRootPath", root, &fd, err);
			if (rc == 0)
				rc = mount_on(NULL, fd, root, NULL,
					      MS_BIND | MS_REMOUNT | MS_RDONLY, NULL, err);
			if (rc < 0)
				gcs_error_prefix(err, rc, "read-only remount");
		}
	} else if (rc == 0) {
		snprintf(e->source, sizeof(e->source), "overlay");
		snprintf(e->fstype, sizeof(e->fstype), "overlay");
		rc = overlay_data(lower, s->n_layers, *scratch ? upper : -1, work, data,
				  MOUNT_DATA_PAGE, err);
		if (rc == 0)
			rc = mount_at(e, "overlay", "overlay", *scratch ? 0 : MS_RDONLY, data, err);
	}
	close_all(lower, s->n_layers);
	if (rc < 0) {
		entry_undo(e, true, NULL);
		entry_free(e);
		return rc;
	}
	{
		/* what a disk Remove must not pull from under the overlay */
		size_t cap = (s->n_layers + 1) * PATH_MAX, n = 0;
		e->backing = malloc(cap);
		if (e->backing) {
			for (size_t i = 0; i < s->n_layers; i++)
				n += (size_t)snprintf(e->backing + n, cap - n, "%s\n",
						      s->layers[i].path);
			snprintf(e->backing + n, cap - n, "%s", scratch);
		}
	}
	journal_save(a);
	log_info("container root filesystem mounted", LOG_STR("path", root),
		 LOG_UINT("layers", s->n_layers), LOG_STR("scratch", *scratch ? scratch : "none"),
		 LOG_STR("bundle", e->bundle[0] ? e->bundle : "tmpfs"));
	return 0;
}

static int handle_layers(struct agent *a, enum gcs_proto_request_type rt,
			 const struct gcs_proto_modify_req *req, struct gcs_error *err)
{
	const struct gcs_proto_combined_layers *s = &req->settings.combined_layers;

	if (rt == GCS_REQUEST_TYPE_ADD)
		return layers_add(a, s, err);
	return remove_path(a, GCS_RESOURCE_COMBINED_LAYERS, "ContainerRootPath",
			   str(s->container_root_path), err);
}

/* ---- MappedDirectory (Plan 9 over a host connection) ---- */

static int p9_mount(struct storage_entry *e, struct gcs_error *err)
{
	int size = P9_MSIZE;
	char data[512];
	int rc;

	/* As the Go GCS: buffers of one 9p message, each way. */
	if (setsockopt(e->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0 ||
	    setsockopt(e->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "set the socket buffers of port %d: %s",
				     e->port, strerror(errno));
	snprintf(data, sizeof(data), "trans=fd,rfdno=%d,wfdno=%d,msize=%d%s%s%s", e->fd, e->fd,
		 P9_MSIZE, e->read_only ? ",noload" : "", e->share[0] ? ",aname=" : "", e->share);
	/* The kernel takes its own reference to the connection; ours goes either way. */
	rc = mount_at(e, e->path, "9p", e->read_only ? MS_RDONLY : 0, data, err);
	close(e->fd);
	e->fd = -1;
	return rc;
}

static void p9_dial(struct storage_entry *e);

static void p9_finish(struct storage_entry *e, int rc, struct gcs_error *err)
{
	if (rc == 0)
		rc = p9_mount(e, err);
	if (rc < 0) {
		entry_fail(e, rc, err);
		return;
	}
	entry_done(e);
}

static void on_p9_connected(struct loop_source *s, uint32_t events)
{
	struct storage_entry *e = container_of(s, struct storage_entry, src);
	struct gcs_error err = { 0 };
	int rc;

	(void)events;
	loop_del(e->a->loop, &e->src);
	e->fd_watched = false;
	loop_timer_cancel(e->a->loop, &e->dial_timer);
	rc = transport_connect_finish(e->fd);
	if (rc < 0)
		gcs_error_set(&err, rc, HR_FAIL, "connect to the host's port %u: %s", e->port,
			      strerror(-rc));
	p9_finish(e, rc, &err);
}

static void on_p9_timeout(struct loop_timer *t)
{
	struct storage_entry *e = container_of(t, struct storage_entry, dial_timer);
	struct gcs_error err = { 0 };

	if (!e->fd_watched && time_left_ms(e->dial_deadline) > 0) {
		p9_dial(e); /* a retry after a full backlog */
		return;
	}
	gcs_error_set(&err, -ETIMEDOUT, HR_FAIL,
		      "the host did not accept a connection on port %u within %d ms", e->port,
		      DIAL_TIMEOUT_MS);
	entry_fail(e, -ETIMEDOUT, &err);
}

/*
 * Dials the share's port without blocking: a connect in flight waits for EPOLLOUT, a full
 * backlog is tried again every 10 ms, both until the deadline. Answers the Add when done.
 */
static void p9_dial(struct storage_entry *e)
{
	struct agent *a = e->a;
	struct gcs_error err = { 0 };
	int rc;

	if (e->fd >= 0) {
		close(e->fd);
		e->fd = -1;
	}
	rc = transport_connect_start(&a->opt.transport, e->port, &e->fd);
	if (rc == -EINPROGRESS) {
		rc = loop_add(a->loop, &e->src, e->fd, EPOLLOUT, on_p9_connected);
		if (rc == 0) {
			e->fd_watched = true;
			loop_timer_arm(a->loop, &e->dial_timer, time_left_ms(e->dial_deadline),
				       on_p9_timeout);
			return;
		}
	}
	if (rc == -EAGAIN && time_left_ms(e->dial_deadline) > 0) {
		loop_timer_arm(a->loop, &e->dial_timer, 10, on_p9_timeout);
		return;
	}
	if (rc < 0)
		gcs_error_set(&err, rc, HR_FAIL, "connect to the host's port %u: %s", e->port,
			      rc == -EAGAIN ? "its backlog stayed full" : strerror(-rc));
	p9_finish(e, rc, &err);
}

static int p9_add(struct agent *a, struct request *c, const struct gcs_proto_mapped_directory *s,
		  struct gcs_error *err)
{
	const char *path = str(s->mount_path), *share = str(s->share_name);
	struct storage_entry *e;
	int rc;

	if (s->port <= 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid Port %d", s->port);
	if (strlen(share) >= sizeof(e->share) || strpbrk(share, ", "))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "invalid ShareName \"%s\"",
				     share);
	rc = entry_begin(a, GCS_RESOURCE_MAPPED_DIRECTORY, path, c, &e, err);
	if (rc < 0)
		return rc;
	e->port = (uint32_t)s->port;
	e->read_only = s->read_only;
	snprintf(e->share, sizeof(e->share), "%s", share);
	snprintf(e->source, sizeof(e->source), "vsock:%d/%s", s->port, share);
	snprintf(e->fstype, sizeof(e->fstype), "9p");
	e->dial_deadline = time_now_ms() + DIAL_TIMEOUT_MS;
	p9_dial(e); /* answers, now or later */
	return REQUEST_KEPT;
}

static int handle_p9(struct agent *a, struct request *c, enum gcs_proto_request_type rt,
		     const struct gcs_proto_modify_req *req, struct gcs_error *err)
{
	const struct gcs_proto_mapped_directory *s = &req->settings.mapped_directory;

	if (rt == GCS_REQUEST_TYPE_ADD)
		return p9_add(a, c, s, err);
	return remove_path(a, GCS_RESOURCE_MAPPED_DIRECTORY, "MountPath", str(s->mount_path), err);
}

/* ---- dispatch ---- */

/* Which request types each resource takes (spec 10, the table). */
static bool request_allowed(enum gcs_proto_resource_type t, enum gcs_proto_request_type rt)
{
	switch (t) {
	case GCS_RESOURCE_MAPPED_VIRTUAL_DISK:
	case GCS_RESOURCE_VPMEM_DEVICE:
	case GCS_RESOURCE_COMBINED_LAYERS:
	case GCS_RESOURCE_MAPPED_DIRECTORY:
		return rt == GCS_REQUEST_TYPE_ADD || rt == GCS_REQUEST_TYPE_REMOVE;
	case GCS_RESOURCE_SCSI_DEVICE:
		return rt == GCS_REQUEST_TYPE_REMOVE;
	case GCS_RESOURCE_POD_CGROUP_MEMORY_LIMIT:
		return rt == GCS_REQUEST_TYPE_UPDATE;
	default:
		return true;
	}
}

int storage_handle_modify(struct request *c, struct gcs_error *err)
{
	struct agent *a = c->a;
	const struct gcs_proto_modify_req *req = &c->m.modify_req;
	enum gcs_proto_request_type rt = req->request_type;
	const char *res = str(req->resource_type_name);
	const char *rt_name;
	int rc;

	if (rt == GCS_REQUEST_TYPE_NONE)
		rt = GCS_REQUEST_TYPE_ADD; /* as the Go GCS: a missing RequestType is Add */
	rt_name = rt == GCS_REQUEST_TYPE_UNKNOWN ? str(req->request_type_name) :
						   gcs_proto_request_type_str(rt);
	switch (req->resource_type) {
	case GCS_RESOURCE_NETWORK:
		return net_handle_modify(c, err);
	case GCS_RESOURCE_VPCI_DEVICE:
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL, "%s is not supported yet", res);
	case GCS_RESOURCE_SECURITY_POLICY:
	case GCS_RESOURCE_SECURITY_POLICY_FRAGMENT:
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "%s: confidential utility VMs are not supported", res);
	case GCS_RESOURCE_CONTAINER_CONSTRAINTS:
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "invalid ResourceType %s for the utility VM (it needs a "
				     "container ID)",
				     res);
	case GCS_RESOURCE_MAPPED_VIRTUAL_DISK:
	case GCS_RESOURCE_SCSI_DEVICE:
	case GCS_RESOURCE_VPMEM_DEVICE:
	case GCS_RESOURCE_COMBINED_LAYERS:
	case GCS_RESOURCE_MAPPED_DIRECTORY:
	case GCS_RESOURCE_POD_CGROUP_MEMORY_LIMIT:
		break;
	default:
		/* Windows-only and unknown types, as the Go GCS answers them */
		return gcs_error_set(err, -EINVAL, HR_FAIL, "invalid ResourceType %s",
				     *res ? res : "(none)");
	}
	if (!request_allowed(req->resource_type, rt))
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "the RequestType \"%s\" is not supported for %s", rt_name,
				     res);

	switch (req->resource_type) {
	case GCS_RESOURCE_MAPPED_VIRTUAL_DISK:
		rc = handle_mvd(a, c, rt, req, err);
		break;
	case GCS_RESOURCE_SCSI_DEVICE:
		rc = handle_scsi_device(a, req, err);
		break;
	case GCS_RESOURCE_VPMEM_DEVICE:
		rc = handle_pmem(a, c, rt, req, err);
		break;
	case GCS_RESOURCE_COMBINED_LAYERS:
		rc = handle_layers(a, rt, req, err);
		break;
	case GCS_RESOURCE_MAPPED_DIRECTORY:
		rc = handle_p9(a, c, rt, req, err);
		break;
	default:
		rc = gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL, "%s is not supported", res);
		break;
	}
	if (rc < 0) {
		gcs_error_prefix(err, rc, "%s %s", res, rt_name);
		log_failure(LOG_ERROR, "ModifySettings failed", err->message);
	}
	return rc;
}

/* ---- shutdown and diagnostics ---- */

/* Called after child_kill_all (main's order): a pending mkfs has no callback left by then. */
void storage_cleanup(struct agent *a)
{
	while (!list_empty(&a->mounts)) {
		struct storage_entry *e = list_entry(a->mounts.prev, struct storage_entry, node);
		struct gcs_error err = { 0 };

		if (!e->pending && entry_undo(e, true, &err) < 0)
			log_failure(LOG_ERROR, "cannot undo at shutdown", err.message);
		else if (!e->pending)
			log_debug("undone at shutdown", LOG_STR("path", e->path));
		entry_free(e);
	}
	journal_save(a);
}

void storage_dump(struct agent *a, char *buf, size_t len)
{
	struct list *it, *tmp;
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	list_for_each_safe(it, tmp, &a->mounts)
	{
		struct storage_entry *e = list_entry(it, struct storage_entry, node);
		int w;

		if (n >= len)
			break;
		w = snprintf(buf + n, len - n, "storage %s: %s %s%s%s%s%s%s%s\n", e->path,
			     type_name(e->type), e->symlink ? "symlink to " : "", e->source,
			     e->fstype[0] ? " " : "", e->fstype, e->dm_name[0] ? " dm " : "",
			     e->dm_name, e->pending ? " (being set up)" : "");
		if (w < 0)
			break;
		n += (size_t)w;
		if (e->bundle[0] && n < len) {
			w = snprintf(buf + n, len - n, "storage %s: bundle bind mount\n",
				     e->bundle);
			if (w > 0)
				n += (size_t)w;
		}
	}
}
