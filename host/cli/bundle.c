/* OCI bundles: config.json, layer folders or a rootfs directory, the scratch image. */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lcow/uvm.h>

#include "image.h"
#include "util.h"

void bundle_free(struct bundle *b)
{
	json_decref(b->spec);
	b->spec = NULL;
	for (size_t i = 0; i < b->n_layers; i++)
		free(b->layers[i]);
	b->n_layers = 0;
}

/* A sparse scratch image, unless one is there. */
static int ensure_scratch(const char *path, struct gcs_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		return gcs_error_set(err, -errno, HR_FAIL, "create the scratch image %s: %m", path);
	}
	if (ftruncate(fd, (off_t)BUNDLE_SCRATCH_SIZE) < 0) {
		int rc = -errno;
		unlink(path);
		return gcs_error_set(err, rc, HR_FAIL, "size the scratch image %s: %s", path,
				     strerror(-rc));
	}
	return 0;
}

static int add_layer(struct bundle *b, const char *path, struct gcs_error *err)
{
	unsigned long long size;
	int rc = lcow_disk_data_size(path, &size, NULL);

	if (rc == -EMEDIUMTYPE)
		return gcs_error_set(
			err, rc, HR_FAIL,
			"%s: a dynamic or differencing VHD; lcow takes raw ext4 images "
			"and fixed VHDs (qemu-img convert -O raw)",
			path);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "%s: %s", path,
				     rc == -EINVAL ? "not a regular file" : strerror(-rc));
	if (size == 0)
		return gcs_error_set(err, -EINVAL, HR_FAIL, "%s: empty image", path);
	if (b->n_layers >= BUNDLE_MAX_LAYERS)
		return gcs_error_set(err, -E2BIG, HR_FAIL, "more than %d layers",
				     BUNDLE_MAX_LAYERS);
	b->layers[b->n_layers] = strdup(path);
	if (!b->layers[b->n_layers])
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	b->n_layers++;
	return 0;
}

/* A folder of windows.layerFolders, absolute or relative to the bundle. */
static int folder_path(const struct bundle *b, const char *f, char *out, size_t len)
{
	return f[0] == '/' ? pathf(out, len, "%s", f) : pathf(out, len, "%s/%s", b->dir, f);
}

static int load_layer_folders(struct bundle *b, json_t *folders, struct gcs_error *err)
{
	size_t n = json_array_size(folders);
	char p[PATH_MAX];
	int rc;

	if (n < 2)
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "windows.layerFolders needs at least one layer folder and the "
				     "scratch folder (last)");
	for (size_t i = 0; i < n; i++) {
		json_t *f = json_array_get(folders, i);
		if (!json_is_string(f) || !json_string_value(f)[0])
			return gcs_error_set(err, -EINVAL, HR_FAIL,
					     "windows.layerFolders[%zu] is not a path", i);
		if (folder_path(b, json_string_value(f), p, sizeof(p)) < 0)
			return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL,
					     "windows.layerFolders[%zu]: too long", i);
		if (i + 1 < n) {
			char image[PATH_MAX];
			if (pathf(image, sizeof(image), "%s/layer.vhd", p) < 0)
				return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long",
						     p);
			if ((rc = add_layer(b, image, err)) < 0)
				return gcs_error_prefix(err, rc, "layer folder %zu", i);
			continue;
		}
		if ((rc = mkdir_p(p, 0700)) < 0)
			return gcs_error_set(err, rc, HR_FAIL, "scratch folder %s: %s", p,
					     strerror(-rc));
		if (pathf(b->scratch, sizeof(b->scratch), "%s/scratch.img", p) < 0)
			return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", p);
	}
	return ensure_scratch(b->scratch, err);
}

static int load_rootfs(struct bundle *b, json_t *root, const char *ctr_dir, struct gcs_error *err)
{
	const char *path = json_string_value(json_object_get(root, "path"));
	char p[PATH_MAX], image[PATH_MAX];
	struct stat st;
	int rc;

	if (!path || !path[0])
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "config.json has neither windows.layerFolders nor root.path");
	if (folder_path(b, path, p, sizeof(p)) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "root.path: too long");
	if (stat(p, &st) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "root.path %s: %m", p);
	if (!S_ISDIR(st.st_mode))
		return gcs_error_set(err, -ENOTDIR, HR_FAIL, "root.path %s: not a directory", p);
	if (!realpath(p, b->rootfs))
		return gcs_error_set(err, -errno, HR_FAIL, "root.path %s: %m", p);
	if (pathf(image, sizeof(image), "%s/rootfs.img", ctr_dir) < 0 ||
	    pathf(b->scratch, sizeof(b->scratch), "%s/scratch.img", ctr_dir) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", ctr_dir);
	rc = lcow_dir_to_ext4(b->rootfs, image, err);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "root.path %s to ext4", b->rootfs);
	if ((rc = add_layer(b, image, err)) < 0)
		return rc;
	return ensure_scratch(b->scratch, err);
}

/* What runc checks before anything: a process with arguments. */
static int check_spec(json_t *spec, struct gcs_error *err)
{
	json_t *process = json_object_get(spec, "process"), *args;

	if (!json_is_string(json_object_get(spec, "ociVersion")))
		return gcs_error_set(err, -EINVAL, HR_FAIL, "config.json: no ociVersion");
	if (!json_is_object(process))
		return gcs_error_set(err, -EINVAL, HR_FAIL, "config.json: no process");
	args = json_object_get(process, "args");
	if (!args)
		return gcs_error_set(err, -EINVAL, HR_FAIL, "config.json: process has no args");
	if (!json_is_array(args))
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "config.json: process.args must be an array of strings, not "
				     "a %s",
				     json_is_string(args) ? "string" :
				     json_is_object(args) ? "object" :
							    "scalar");
	if (json_array_size(args) == 0)
		return gcs_error_set(err, -EINVAL, HR_FAIL, "config.json: process.args is empty");
	for (size_t i = 0; i < json_array_size(args); i++)
		if (!json_is_string(json_array_get(args, i)))
			return gcs_error_set(err, -EINVAL, HR_FAIL,
					     "config.json: process.args[%zu] is not a string", i);
	if (json_object_get(process, "terminal") &&
	    !json_is_boolean(json_object_get(process, "terminal")))
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "config.json: process.terminal is not a boolean");
	return 0;
}

int bundle_load(const char *dir, const char *ctr_dir, struct bundle *b, struct gcs_error *err)
{
	char p[PATH_MAX], errbuf[300];
	json_t *folders;
	int rc;

	memset(b, 0, sizeof(*b));
	if (!realpath(dir, b->dir))
		return gcs_error_set(err, -errno, HR_FAIL, "bundle %s: %m", dir);
	if (pathf(p, sizeof(p), "%s/config.json", b->dir) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "bundle %s: too long", dir);
	rc = json_read_file(p, &b->spec, errbuf, sizeof(errbuf));
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "bundle %s: config.json: %s", b->dir,
				     errbuf);
	if (!json_is_object(b->spec))
		rc = gcs_error_set(err, -EINVAL, HR_FAIL, "config.json is not a JSON object");
	else
		rc = check_spec(b->spec, err);
	if (rc == 0) {
		b->terminal = json_is_true(
			json_object_get(json_object_get(b->spec, "process"), "terminal"));
		folders = json_object_get(json_object_get(b->spec, "windows"), "layerFolders");
		if (json_array_size(folders) > 0)
			rc = load_layer_folders(b, folders, err);
		else
			rc = load_rootfs(b, json_object_get(b->spec, "root"), ctr_dir, err);
	}
	if (rc < 0) {
		gcs_error_prefix(err, rc, "bundle %s", b->dir);
		bundle_free(b);
	}
	return rc;
}
