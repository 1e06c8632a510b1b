/*
 * OCI bundles for lcow: config.json, and the disks the container's root is made of.
 *
 * The layers come from windows.layerFolders, as runhcs reads them: every folder but the last
 * is a read-only layer holding layer.vhd (an ext4 image, raw or a fixed VHD), listed from the
 * top-most layer down to the base; the last folder is the scratch, holding scratch.img (a
 * sparse raw image the agent formats on first use; created when missing). Without
 * layerFolders, root.path (relative to the bundle) names an unpacked root filesystem, which
 * becomes one ext4 layer image <container-dir>/rootfs.img, with the scratch at
 * <container-dir>/scratch.img.
 */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

#include <lcow/gcs.h>

#define BUNDLE_MAX_LAYERS 64
#define BUNDLE_SCRATCH_SIZE (1ULL << 30)

struct bundle {
	char dir[PATH_MAX]; /* absolute */
	json_t *spec; /* config.json */
	char *layers[BUNDLE_MAX_LAYERS]; /* image files, top-most first */
	size_t n_layers;
	char scratch[PATH_MAX];
	char rootfs[PATH_MAX]; /* the root.path directory, or "" */
	bool terminal; /* process.terminal */
};

/*
 * Reads and checks the bundle at dir and makes its images (the rootfs image and scratch go to
 * ctr_dir). Errors name the bundle and what is wrong with it.
 */
int bundle_load(const char *dir, const char *ctr_dir, struct bundle *b, struct gcs_error *err);
void bundle_free(struct bundle *b);
