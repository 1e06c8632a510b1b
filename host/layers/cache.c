/*
 * The layer cache: <cache>/<key>.img is the ext4 image of one read-only tree, <key> the tree
 * root's device, inode and change time (hex), and <cache>/<key>.owners/<owner> an empty file
 * per holder. Every acquire and release holds an flock on <cache>/.lock, so two processes never
 * build one image twice or lose a count; a build goes to a temporary name renamed into place, and
 * a temporary name found under the lock is a build that died.
 */
#include "lcow/layers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"

#define IMG_SUFFIX ".img"
#define OWNERS_SUFFIX ".owners"
#define TMP_MARK ".tmp-"

static bool owner_ok(const char *o)
{
	size_t n = o ? strlen(o) : 0;

	if (n == 0 || n >= 128 || o[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = o[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* The cache directory, made, and its lock taken: the lock's fd. */
static int lock_cache(const char *cache, struct gcs_error *err)
{
	char p[PATH_MAX];
	int fd, rc;

	if ((rc = mkdir_p(cache, 0700)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "layer cache %s: %s", cache, strerror(-rc));
	if ((rc = pathf(p, sizeof(p), "%s/.lock", cache)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "layer cache %s: path too long", cache);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "layer cache lock %s: %s", p,
				     strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = -errno;
			close(fd);
			return gcs_error_set(err, rc, HR_FAIL, "layer cache lock %s: %s", p,
					     strerror(-rc));
		}
	}
	return fd;
}

/* Removes the temporary images of builds that died (the lock is held: none is running). */
static void remove_stale(const char *cache)
{
	_cleanup_closedir_ DIR *d = opendir(cache);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strstr(e->d_name, IMG_SUFFIX TMP_MARK))
			unlinkat(dirfd(d), e->d_name, 0);
}

/* Removes the image of key when no owner is left. */
static int maybe_drop(const char *cache, const char *key)
{
	char owners[PATH_MAX], img[PATH_MAX];

	if (pathf(owners, sizeof(owners), "%s/%s" OWNERS_SUFFIX, cache, key) < 0 ||
	    pathf(img, sizeof(img), "%s/%s" IMG_SUFFIX, cache, key) < 0)
		return -ENAMETOOLONG;
	if (rmdir(owners) < 0 && errno != ENOENT)
		return errno == ENOTEMPTY || errno == EEXIST ? 0 : -errno;
	if (unlink(img) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int lcow_layer_acquire(const char *cache, const char *src, const char *owner, char *ret_image,
		       size_t len, struct gcs_error *err)
{
	char key[96], img[PATH_MAX], tmp[PATH_MAX], owners[PATH_MAX], mine[PATH_MAX];
	_cleanup_close_ int lock = -1;
	struct stat st;
	int fd, rc;

	if (!owner_ok(owner))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "layer cache: owner \"%s\" is not [A-Za-z0-9_.-]+",
				     owner ? owner : "");
	if (stat(src, &st) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "layer %s: %s", src, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return gcs_error_set(err, -ENOTDIR, HR_INVALIDARG, "layer %s: not a directory",
				     src);
	snprintf(key, sizeof(key), "%llx-%llx-%llx.%09ld", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, (unsigned long long)st.st_ctim.tv_sec,
		 st.st_ctim.tv_nsec);
	if (pathf(img, sizeof(img), "%s/%s" IMG_SUFFIX, cache, key) < 0 ||
	    pathf(tmp, sizeof(tmp), "%s" TMP_MARK "%d", img, (int)getpid()) < 0 ||
	    pathf(owners, sizeof(owners), "%s/%s" OWNERS_SUFFIX, cache, key) < 0 ||
	    pathf(mine, sizeof(mine), "%s/%s", owners, owner) < 0 || strlen(img) >= len)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "layer cache %s: path too long",
				     cache);
	lock = lock_cache(cache, err);
	if (lock < 0)
		return lock;
	if (access(img, F_OK) < 0) {
		remove_stale(cache);
		rc = lcow_dir_to_ext4(src, tmp, err);
		if (rc < 0)
			return gcs_error_prefix(err, rc, "layer %s", src);
		if (rename(tmp, img) < 0) {
			rc = -errno;
			unlink(tmp);
			return gcs_error_set(err, rc, HR_FAIL, "layer %s: rename: %s", src,
					     strerror(-rc));
		}
	}
	if (mkdir(owners, 0700) < 0 && errno != EEXIST)
		return gcs_error_set(err, -errno, HR_FAIL, "layer cache %s: %s", owners,
				     strerror(errno));
	fd = open(mine, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		maybe_drop(cache, key);
		return gcs_error_set(err, rc, HR_FAIL, "layer cache %s: %s", mine, strerror(-rc));
	}
	close(fd);
	snprintf(ret_image, len, "%s", img);
	return 0;
}

/* The key of an image path of this cache: its name without ".img". */
static int key_of(const char *cache, const char *image, char *key, size_t len)
{
	const char *base = strrchr(image, '/');
	size_t n;

	base = base ? base + 1 : image;
	n = strlen(base);
	if (n <= strlen(IMG_SUFFIX) || strcmp(base + n - strlen(IMG_SUFFIX), IMG_SUFFIX) != 0 ||
	    n - strlen(IMG_SUFFIX) >= len || base[0] == '.')
		return -EINVAL;
	(void)cache;
	memcpy(key, base, n - strlen(IMG_SUFFIX));
	key[n - strlen(IMG_SUFFIX)] = '\0';
	return 0;
}

int lcow_layer_release(const char *cache, const char *image, const char *owner,
		       struct gcs_error *err)
{
	char key[128], mine[PATH_MAX];
	_cleanup_close_ int lock = -1;
	int rc;

	if (!owner_ok(owner) || key_of(cache, image, key, sizeof(key)) < 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "layer cache: \"%s\" held by \"%s\" is not one of its images",
				     image ? image : "", owner ? owner : "");
	if (pathf(mine, sizeof(mine), "%s/%s" OWNERS_SUFFIX "/%s", cache, key, owner) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "layer cache: path too long");
	lock = lock_cache(cache, err);
	if (lock < 0)
		return lock;
	if (unlink(mine) < 0 && errno != ENOENT)
		return gcs_error_set(err, -errno, HR_FAIL, "layer cache %s: %s", mine,
				     strerror(errno));
	rc = maybe_drop(cache, key);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "layer cache: remove %s: %s", image,
				     strerror(-rc));
	return 0;
}

int lcow_layer_release_all(const char *cache, const char *owner, struct gcs_error *err)
{
	_cleanup_close_ int lock = -1;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;
	int first = 0;

	if (!owner_ok(owner))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "layer cache: owner \"%s\" is not [A-Za-z0-9_.-]+",
				     owner ? owner : "");
	if (access(cache, F_OK) < 0)
		return 0;
	lock = lock_cache(cache, err);
	if (lock < 0)
		return lock;
	d = opendir(cache);
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name), s = strlen(OWNERS_SUFFIX);
		char key[128], mine[PATH_MAX];
		int rc;

		if (n <= s || strcmp(e->d_name + n - s, OWNERS_SUFFIX) != 0 || n - s >= sizeof(key))
			continue;
		memcpy(key, e->d_name, n - s);
		key[n - s] = '\0';
		if (pathf(mine, sizeof(mine), "%s/%s/%s", cache, e->d_name, owner) < 0)
			continue;
		if (unlink(mine) < 0 && errno != ENOENT && !first)
			first = -errno;
		rc = maybe_drop(cache, key);
		if (rc < 0 && !first)
			first = rc;
	}
	if (first < 0)
		return gcs_error_set(err, first, HR_FAIL, "layer cache %s: release %s: %s", cache,
				     owner, strerror(-first));
	return 0;
}
