/*
 * Containers: the requests hcsshim sends around an LCOW container (spec sections 10 and 14),
 * each a thin layer over the typed calls. The settings follow hcsshim's
 * internal/uvm/scsi/backend.go (mountRequest, unmountRequest, unplugRequest) and
 * internal/layers/lcow.go (read-only layers with Options ["ro"], scratch with EnsureFilesystem
 * ext4), and the bodies of spec section 14.1.
 */
#include "lcow/gcs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static int need_path(const char *path, const char *what, struct gcs_error *err)
{
	if (!path || !path[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "%s: no path", what);
	return 0;
}

/* A container ID that names a container: not empty and not the UVM's null GUID. */
static int need_container(const char *id, const char *what, struct gcs_error *err)
{
	if (!id || !id[0] || strcmp(id, GCS_NULL_GUID_STRING) == 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "%s: no container ID", what);
	return 0;
}

static int modify(struct gcs_bridge *b, enum gcs_proto_request_type rt,
		  struct gcs_proto_modify_req *req, struct gcs_error *err)
{
	req->request_type = rt;
	req->has_settings = true;
	return gcs_modify_settings(b, req, err);
}

/* hcsshim's read-only layers carry ReadOnly and Options ["ro"] (internal/layers/lcow.go). */
int gcs_add_scsi_layer(struct gcs_bridge *b, uint8_t controller, uint8_t lun,
		       const char *mount_path, bool read_only, struct gcs_error *err)
{
	static const char *const ro[] = { "ro" };
	struct gcs_proto_modify_req req = { .resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK };
	struct gcs_proto_mapped_virtual_disk *m = &req.settings.mapped_virtual_disk;
	int rc = need_path(mount_path, "add SCSI layer", err);

	if (rc < 0)
		return rc;
	m->mount_path = mount_path;
	m->controller = controller;
	m->lun = lun;
	m->read_only = read_only;
	if (read_only) {
		m->options = ro;
		m->n_options = 1;
	}
	return modify(b, GCS_REQUEST_TYPE_ADD, &req, err);
}

int gcs_add_scratch_disk(struct gcs_bridge *b, uint8_t controller, uint8_t lun,
			 const char *mount_path, struct gcs_error *err)
{
	struct gcs_proto_modify_req req = { .resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK };
	struct gcs_proto_mapped_virtual_disk *m = &req.settings.mapped_virtual_disk;
	int rc = need_path(mount_path, "add scratch disk", err);

	if (rc < 0)
		return rc;
	m->mount_path = mount_path;
	m->controller = controller;
	m->lun = lun;
	m->ensure_filesystem = true;
	m->filesystem = "ext4";
	return modify(b, GCS_REQUEST_TYPE_ADD, &req, err);
}

/*
 * The unmount, then the unplug. hcsshim's unmount also repeats ReadOnly and Partition; the
 * guest only needs MountPath, so they are left out.
 */
int gcs_remove_scsi_disk(struct gcs_bridge *b, uint8_t controller, uint8_t lun,
			 const char *mount_path, struct gcs_error *err)
{
	struct gcs_proto_modify_req req = { .resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK };
	int rc = need_path(mount_path, "remove SCSI disk", err);

	if (rc < 0)
		return rc;
	req.settings.mapped_virtual_disk.mount_path = mount_path;
	req.settings.mapped_virtual_disk.controller = controller;
	req.settings.mapped_virtual_disk.lun = lun;
	rc = modify(b, GCS_REQUEST_TYPE_REMOVE, &req, err);
	if (rc < 0)
		return rc;
	req = (struct gcs_proto_modify_req){ .resource_type = GCS_RESOURCE_SCSI_DEVICE };
	req.settings.scsi_device.controller = controller;
	req.settings.scsi_device.lun = lun;
	return modify(b, GCS_REQUEST_TYPE_REMOVE, &req, err);
}

static int pmem(struct gcs_bridge *b, enum gcs_proto_request_type rt, uint32_t device_number,
		const char *mount_path, struct gcs_error *err)
{
	struct gcs_proto_modify_req req = { .resource_type = GCS_RESOURCE_VPMEM_DEVICE };
	int rc = need_path(mount_path, "pmem layer", err);

	if (rc < 0)
		return rc;
	req.settings.vpmem_device.device_number = device_number;
	req.settings.vpmem_device.mount_path = mount_path;
	return modify(b, rt, &req, err);
}

int gcs_add_pmem_layer(struct gcs_bridge *b, uint32_t device_number, const char *mount_path,
		       struct gcs_error *err)
{
	return pmem(b, GCS_REQUEST_TYPE_ADD, device_number, mount_path, err);
}

int gcs_remove_pmem_layer(struct gcs_bridge *b, uint32_t device_number, const char *mount_path,
			  struct gcs_error *err)
{
	return pmem(b, GCS_REQUEST_TYPE_REMOVE, device_number, mount_path, err);
}

int gcs_combine_layers(struct gcs_bridge *b, const char *container_id, const char *root_path,
		       const char *const *layers, size_t n, const char *scratch_path,
		       struct gcs_error *err)
{
	struct gcs_proto_modify_req req = { .resource_type = GCS_RESOURCE_COMBINED_LAYERS };
	struct gcs_proto_combined_layers *c = &req.settings.combined_layers;
	_cleanup_free_ struct gcs_proto_layer *l = NULL;
	int rc = need_path(root_path, "combine layers", err);

	if (rc < 0)
		return rc;
	if (n > 0 && !layers)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "combine layers: no layers");
	if (n > 0) {
		l = calloc(n, sizeof(*l));
		if (!l)
			return gcs_error_set(err, -ENOMEM, HR_FAIL,
					     "combine layers: out of memory");
	}
	for (size_t i = 0; i < n; i++)
		l[i].path = layers[i];
	c->container_id = container_id;
	c->container_root_path = root_path;
	c->layers = l;
	c->n_layers = n;
	c->scratch_path = scratch_path;
	return modify(b, GCS_REQUEST_TYPE_ADD, &req, err);
}

int gcs_uncombine_layers(struct gcs_bridge *b, const char *root_path, struct gcs_error *err)
{
	struct gcs_proto_modify_req req = { .resource_type = GCS_RESOURCE_COMBINED_LAYERS };
	int rc = need_path(root_path, "uncombine layers", err);

	if (rc < 0)
		return rc;
	req.settings.combined_layers.container_root_path = root_path;
	return modify(b, GCS_REQUEST_TYPE_REMOVE, &req, err);
}

int gcs_create_container_spec(struct gcs_bridge *b, const char *id, const char *bundle_path,
			      json_t *oci_spec, const char *scratch_dir_path, struct gcs_error *err)
{
	struct gcs_proto_container_config config = {
		.schema_version = { .major = 2, .minor = 1 },
		.oci_bundle_path = bundle_path,
		.oci_specification = oci_spec,
		.scratch_dir_path = scratch_dir_path ? scratch_dir_path : "",
	};
	int rc = need_container(id, "create", err);

	if (rc < 0)
		return rc;
	if ((rc = need_path(bundle_path, "create", err)) < 0)
		return rc;
	if (!json_is_object(oci_spec))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "create %s: no OCI spec", id);
	return gcs_create_container(b, id, &config, err);
}

static int container_exec(struct gcs_bridge *b, const char *id, json_t *oci_process,
			  const struct gcs_stdio stdio[3], struct gcs_process **ret,
			  struct gcs_error *err)
{
	struct gcs_proto_process_params pp = { .oci_process = oci_process };
	struct gcs_exec_options o = { .container_id = id, .params = &pp };

	if (stdio)
		memcpy(o.stdio, stdio, sizeof(o.stdio));
	return gcs_process_exec(b, &o, ret, err);
}

/* hcsshim's init exec deliberately has no spec: the guest runs the process of the Create. */
int gcs_start_init(struct gcs_bridge *b, const char *id, const struct gcs_stdio stdio[3],
		   struct gcs_process **ret, struct gcs_error *err)
{
	int rc = need_container(id, "start init", err);

	return rc < 0 ? rc : container_exec(b, id, NULL, stdio, ret, err);
}

int gcs_container_exec(struct gcs_bridge *b, const char *id, json_t *oci_process,
		       const struct gcs_stdio stdio[3], struct gcs_process **ret,
		       struct gcs_error *err)
{
	int rc = need_container(id, "exec", err);

	if (rc < 0)
		return rc;
	if (!json_is_object(oci_process))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "exec in %s: no OCI process", id);
	return container_exec(b, id, oci_process, stdio, ret, err);
}

/* hcsshim's task update of an LCOW container (guestresource.LCOWContainerConstraints). */
int gcs_update_container_resources(struct gcs_bridge *b, const char *id, json_t *linux_resources,
				   struct gcs_error *err)
{
	struct gcs_proto_modify_req req = {
		.base.container_id = id,
		.resource_type = GCS_RESOURCE_CONTAINER_CONSTRAINTS,
	};
	int rc = need_container(id, "update resources", err);

	if (rc < 0)
		return rc;
	if (!json_is_object(linux_resources))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "update resources of %s: no LinuxResources object", id);
	req.settings.container_constraints.linux_resources = linux_resources;
	return modify(b, GCS_REQUEST_TYPE_UPDATE, &req, err);
}

/*
 * Not a hcsshim request: lcow's own (docs/protocol.md, lcow extensions). Refused locally when
 * the guest did not announce it, as hcsshim does for the RPCs behind a capability, so the caller
 * can tell "not supported" from a failure and fall back (e.g. to runc in the UVM).
 */
int gcs_container_operation(struct gcs_bridge *b, const char *container_id, const char *operation,
			    int signal, struct gcs_error *err)
{
	struct gcs_proto_modify_req req = {
		.base.container_id = container_id,
		.resource_type = GCS_RESOURCE_LCOW_CONTAINER_OPERATION,
	};
	const struct gcs_proto_capabilities *caps;
	int rc = need_container(container_id, "container operation", err);

	if (rc < 0)
		return rc;
	if (!operation || !operation[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "container operation on %s: no operation", container_id);
	if (signal < 0 || (signal != 0 && strcmp(operation, GCS_CONTAINER_OP_KILL_ALL) != 0))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "container operation %s on %s: invalid signal %d", operation,
				     container_id, signal);
	caps = gcs_bridge_capabilities(b);
	if (!caps)
		return gcs_error_set(err, -ENOTCONN, HR_FAIL,
				     "container operation %s on %s: bridge not connected",
				     operation, container_id);
	if (!caps->guest_defined.lcow_container_operations_supported)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "container operation %s on %s: the guest does not support "
				     "LcowContainerOperation",
				     operation, container_id);
	req.settings.container_operation.operation = operation;
	req.settings.container_operation.signal = signal;
	return modify(b, GCS_REQUEST_TYPE_UPDATE, &req, err);
}

int gcs_add_network_adapter(struct gcs_bridge *b, const struct gcs_proto_network_adapter *a,
			    struct gcs_error *err)
{
	struct gcs_proto_modify_req req = { .resource_type = GCS_RESOURCE_NETWORK };

	if (!a || !a->namespace_id || !a->namespace_id[0] || !a->id || !a->id[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "add network adapter: no NamespaceID or ID");
	req.settings.network = *a;
	return modify(b, GCS_REQUEST_TYPE_ADD, &req, err);
}

int gcs_remove_network_adapter(struct gcs_bridge *b, const char *namespace_id,
			       const char *adapter_id, struct gcs_error *err)
{
	struct gcs_proto_modify_req req = { .resource_type = GCS_RESOURCE_NETWORK };

	if (!namespace_id || !namespace_id[0] || !adapter_id || !adapter_id[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "remove network adapter: no NamespaceID or ID");
	req.settings.network.namespace_id = namespace_id;
	req.settings.network.id = adapter_id;
	return modify(b, GCS_REQUEST_TYPE_REMOVE, &req, err);
}
