/*
 * containerd's rootfs mounts as layer trees. The overlayfs snapshotter hands an active snapshot
 * with parents over as one overlay mount (options lowerdir=<top>:...:<bottom>, upperdir=,
 * workdir=, index=off, ...), and one without parents (or a view of a single layer) as a bind
 * mount of its tree (containerd's snapshots/overlay/overlay.go, mounts()).
 */
#include "lcow/layers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int add_lower(struct lcow_rootfs_layers *l, const char *p, size_t n)
{
	char **v = realloc(l->lowers, (l->n_lowers + 2) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->lowers = v;
	if (!(v[l->n_lowers] = strndup(p, n)))
		return -ENOMEM;
	v[++l->n_lowers] = NULL;
	return 0;
}

void lcow_rootfs_layers_free(struct lcow_rootfs_layers *l)
{
	for (size_t i = 0; i < l->n_lowers; i++)
		free(l->lowers[i]);
	free(l->lowers);
	free(l->upper);
	memset(l, 0, sizeof(*l));
}

static int parse_overlay(const struct lcow_rootfs_mount *m, struct lcow_rootfs_layers *l,
			 struct gcs_error *err)
{
	for (size_t i = 0; i < m->n_options; i++) {
		const char *o = m->options[i];
		if (!strncmp(o, "lowerdir=", 9)) {
			for (const char *p = o + 9; *p;) {
				size_t n = strcspn(p, ":");
				if (p[0] != '/')
					return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
							     "rootfs: lowerdir \"%.*s\" is not an "
							     "absolute path",
							     (int)n, p);
				if (add_lower(l, p, n) < 0)
					return gcs_error_set(err, -ENOMEM, HR_FAIL,
							     "out of memory");
				p += n;
				if (*p == ':')
					p++;
			}
		} else if (!strncmp(o, "upperdir=", 9)) {
			if (o[9] != '/')
				return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
						     "rootfs: upperdir \"%s\" is not an absolute "
						     "path",
						     o + 9);
			free(l->upper);
			if (!(l->upper = strdup(o + 9)))
				return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
		}
	}
	if (l->n_lowers == 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "rootfs: the overlay mount has no lowerdir");
	return 0;
}

int lcow_rootfs_parse(const struct lcow_rootfs_mount *m, size_t n, struct lcow_rootfs_layers *ret,
		      struct gcs_error *err)
{
	struct lcow_rootfs_layers l = { 0 };
	int rc;

	if (n == 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "rootfs: no mount was given");
	if (n > 1)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "rootfs: %zu mounts; only one (an overlay or a bind mount) is "
				     "supported",
				     n);
	if (!m->type || !strcmp(m->type, "overlay")) {
		rc = parse_overlay(m, &l, err);
	} else if (!strcmp(m->type, "bind") || !strcmp(m->type, "rbind")) {
		if (!m->source || m->source[0] != '/')
			rc = gcs_error_set(
				err, -EINVAL, HR_INVALIDARG,
				"rootfs: bind mount source \"%s\" is not an absolute path",
				m->source ? m->source : "");
		else
			rc = add_lower(&l, m->source, strlen(m->source)) < 0 ?
				     gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory") :
				     0;
	} else {
		rc = gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				   "rootfs: mount type \"%s\" is not supported (overlay or bind)",
				   m->type);
	}
	if (rc < 0) {
		lcow_rootfs_layers_free(&l);
		return rc;
	}
	*ret = l;
	return 0;
}

void lcow_rootfs_release(const char *cache_dir, char **images, const char *owner)
{
	struct gcs_error err = { 0 };

	for (size_t i = 0; images && images[i]; i++) {
		lcow_layer_release(cache_dir, images[i], owner, &err);
		free(images[i]);
	}
	free(images);
}

int lcow_rootfs_acquire(const char *cache_dir, const struct lcow_rootfs_layers *l,
			const char *owner, char ***ret_images, struct gcs_error *err)
{
	char **v = calloc(l->n_lowers + 1, sizeof(*v));
	char img[4096];
	int rc;

	if (!v)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	for (size_t i = 0; i < l->n_lowers; i++) {
		rc = lcow_layer_acquire(cache_dir, l->lowers[i], owner, img, sizeof(img), err);
		if (rc == 0 && !(v[i] = strdup(img))) {
			struct gcs_error e2 = { 0 };
			lcow_layer_release(cache_dir, img, owner, &e2);
			rc = gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
		}
		if (rc < 0) {
			lcow_rootfs_release(cache_dir, v, owner);
			return rc;
		}
	}
	*ret_images = v;
	return 0;
}
