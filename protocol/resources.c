/*
 * ModifySettings: the nested Request and the Settings of every LCOW resource type
 * (spec section 10). Field order and omitempty follow hcsshim's guestresource types.
 */
#include "codec.h"

#include <errno.h>
#include <string.h>

#include "cleanup.h"

static const char *const request_type_names[] = {
	[GCS_REQUEST_TYPE_NONE] = "",	      [GCS_REQUEST_TYPE_ADD] = "Add",
	[GCS_REQUEST_TYPE_REMOVE] = "Remove", [GCS_REQUEST_TYPE_UPDATE] = "Update",
	[GCS_REQUEST_TYPE_PREADD] = "PreAdd",
};

static const char *const resource_type_names[GCS_RESOURCE__COUNT] = {
	[GCS_RESOURCE_NONE] = "",
	[GCS_RESOURCE_MAPPED_VIRTUAL_DISK] = "MappedVirtualDisk",
	[GCS_RESOURCE_SCSI_DEVICE] = "SCSIDevice",
	[GCS_RESOURCE_VPMEM_DEVICE] = "VPMemDevice",
	[GCS_RESOURCE_COMBINED_LAYERS] = "CombinedLayers",
	[GCS_RESOURCE_MAPPED_DIRECTORY] = "MappedDirectory",
	[GCS_RESOURCE_NETWORK] = "Network",
	[GCS_RESOURCE_VPCI_DEVICE] = "VPCIDevice",
	[GCS_RESOURCE_CONTAINER_CONSTRAINTS] = "ContainerConstraints",
	[GCS_RESOURCE_SECURITY_POLICY] = "SecurityPolicy",
	[GCS_RESOURCE_SECURITY_POLICY_FRAGMENT] = "SecurityPolicyFragment",
	[GCS_RESOURCE_POD_CGROUP_MEMORY_LIMIT] = "PodCgroupMemoryLimit",
	[GCS_RESOURCE_LCOW_CONTAINER_OPERATION] = "LcowContainerOperation",
	[GCS_RESOURCE_HV_SOCKET] = "HvSocket",
	[GCS_RESOURCE_NETWORK_NAMESPACE] = "NetworkNamespace",
	[GCS_RESOURCE_MAPPED_VIRTUAL_DISK_FOR_CONTAINER_SCRATCH] =
		"MappedVirtualDiskForContainerScratch",
	[GCS_RESOURCE_WCOW_BLOCK_CIMS] = "WCOWBlockCims",
	[GCS_RESOURCE_CWCOW_COMBINED_LAYERS] = "CWCOWCombinedLayers",
	[GCS_RESOURCE_UNKNOWN] = NULL,
};

const char *gcs_proto_request_type_str(enum gcs_proto_request_type t)
{
	if ((size_t)t < ARRAY_SIZE(request_type_names))
		return request_type_names[t];
	return NULL;
}

const char *gcs_proto_resource_type_str(enum gcs_proto_resource_type t)
{
	if ((size_t)t < ARRAY_SIZE(resource_type_names))
		return resource_type_names[t];
	return NULL;
}

enum gcs_proto_resource_type gcs_proto_resource_type_parse(const char *s)
{
	if (!s || !s[0])
		return GCS_RESOURCE_NONE;
	for (size_t i = 1; i < ARRAY_SIZE(resource_type_names); i++)
		if (resource_type_names[i] && strcmp(resource_type_names[i], s) == 0)
			return (enum gcs_proto_resource_type)i;
	return GCS_RESOURCE_UNKNOWN;
}

static enum gcs_proto_request_type request_type_parse(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(request_type_names); i++)
		if (strcmp(request_type_names[i], s) == 0)
			return (enum gcs_proto_request_type)i;
	return GCS_REQUEST_TYPE_UNKNOWN;
}

/* ---- decoders: one per settings type ---- */

static int verity_decode(struct jd *d, json_t *s, const struct gcs_proto_verity_info **ret)
{
	struct gcs_proto_verity_info *v;
	json_t *o;
	int rc = jd_object(d, s, "VerityInfo", &o);

	if (rc < 0 || !o)
		return rc;
	v = jd_alloc(d, sizeof(*v));
	if (!v)
		return jd_nomem(d);
	if ((rc = jd_i64(d, o, "Ext4SizeInBytes", &v->ext4_size_in_bytes)) < 0 ||
	    (rc = jd_i64(d, o, "Version", &v->version)) < 0 ||
	    (rc = jd_str(d, o, "Algorithm", &v->algorithm)) < 0 ||
	    (rc = jd_bool(d, o, "SuperBlock", &v->super_block)) < 0 ||
	    (rc = jd_str(d, o, "RootDigest", &v->root_digest)) < 0 ||
	    (rc = jd_str(d, o, "Salt", &v->salt)) < 0 ||
	    (rc = jd_i64(d, o, "BlockSize", &v->block_size)) < 0)
		return gcs_error_prefix(d->err, rc, "VerityInfo");
	*ret = v;
	return 0;
}

static int mvd_decode(struct jd *d, json_t *s, struct gcs_proto_mapped_virtual_disk *m)
{
	int rc;

	if ((rc = jd_str(d, s, "MountPath", &m->mount_path)) < 0 ||
	    (rc = jd_u8(d, s, "Lun", &m->lun)) < 0 ||
	    (rc = jd_u8(d, s, "Controller", &m->controller)) < 0 ||
	    (rc = jd_u64(d, s, "Partition", &m->partition)) < 0 ||
	    (rc = jd_bool(d, s, "ReadOnly", &m->read_only)) < 0 ||
	    (rc = jd_bool(d, s, "Encrypted", &m->encrypted)) < 0 ||
	    (rc = jd_strv(d, s, "Options", &m->options, &m->n_options)) < 0 ||
	    (rc = jd_bool(d, s, "BlockDev", &m->block_dev)) < 0 ||
	    (rc = verity_decode(d, s, &m->verity_info)) < 0 ||
	    (rc = jd_bool(d, s, "EnsureFilesystem", &m->ensure_filesystem)) < 0 ||
	    (rc = jd_str(d, s, "Filesystem", &m->filesystem)) < 0)
		return rc;
	return 0;
}

static int scsi_decode(struct jd *d, json_t *s, struct gcs_proto_scsi_device *m)
{
	int rc;

	if ((rc = jd_u8(d, s, "Controller", &m->controller)) < 0 ||
	    (rc = jd_u8(d, s, "Lun", &m->lun)) < 0)
		return rc;
	return 0;
}

static int vpmem_decode(struct jd *d, json_t *s, struct gcs_proto_vpmem_device *m)
{
	json_t *mi;
	int rc;

	if ((rc = jd_u32(d, s, "DeviceNumber", &m->device_number)) < 0 ||
	    (rc = jd_str(d, s, "MountPath", &m->mount_path)) < 0 ||
	    (rc = jd_object(d, s, "MappingInfo", &mi)) < 0 ||
	    (rc = verity_decode(d, s, &m->verity_info)) < 0)
		return rc;
	if (mi) {
		struct gcs_proto_vpmem_mapping *map = jd_alloc(d, sizeof(*map));
		if (!map)
			return jd_nomem(d);
		if ((rc = jd_u64(d, mi, "DeviceOffsetInBytes", &map->device_offset_in_bytes)) < 0 ||
		    (rc = jd_u64(d, mi, "DeviceSizeInBytes", &map->device_size_in_bytes)) < 0)
			return gcs_error_prefix(d->err, rc, "MappingInfo");
		m->mapping_info = map;
	}
	return 0;
}

static int layers_decode(struct jd *d, json_t *s, struct gcs_proto_combined_layers *m)
{
	struct gcs_proto_layer *layers;
	json_t *arr, *v;
	size_t i;
	int rc;

	if ((rc = jd_str(d, s, "ContainerID", &m->container_id)) < 0 ||
	    (rc = jd_str(d, s, "ContainerRootPath", &m->container_root_path)) < 0 ||
	    (rc = jd_array(d, s, "Layers", &arr)) < 0 ||
	    (rc = jd_str(d, s, "ScratchPath", &m->scratch_path)) < 0)
		return rc;
	if (!arr || json_array_size(arr) == 0)
		return 0;
	layers = jd_alloc(d, json_array_size(arr) * sizeof(*layers));
	if (!layers)
		return jd_nomem(d);
	json_array_foreach(arr, i, v) {
		/* A null element decodes as the zero value, as in Go (also below). */
		if (!json_is_object(v) && !json_is_null(v))
			return jd_fail(d, "Layers[%zu]: expected object", i);
		if ((rc = jd_str(d, v, "Id", &layers[i].id)) < 0 ||
		    (rc = jd_str(d, v, "Path", &layers[i].path)) < 0 ||
		    (rc = jd_str(d, v, "PathType", &layers[i].path_type)) < 0 ||
		    (rc = jd_str(d, v, "Cache", &layers[i].cache)) < 0)
			return gcs_error_prefix(d->err, rc, "Layers[%zu]", i);
	}
	m->layers = layers;
	m->n_layers = json_array_size(arr);
	return 0;
}

static int mapped_dir_decode(struct jd *d, json_t *s, struct gcs_proto_mapped_directory *m)
{
	int rc;

	if ((rc = jd_str(d, s, "MountPath", &m->mount_path)) < 0 ||
	    (rc = jd_i32(d, s, "Port", &m->port)) < 0 ||
	    (rc = jd_str(d, s, "ShareName", &m->share_name)) < 0 ||
	    (rc = jd_bool(d, s, "ReadOnly", &m->read_only)) < 0)
		return rc;
	return 0;
}

static int network_decode(struct jd *d, json_t *s, struct gcs_proto_network_adapter *m)
{
	json_t *ips, *routes, *v;
	size_t i;
	int rc;

	if ((rc = jd_str(d, s, "NamespaceID", &m->namespace_id)) < 0 ||
	    (rc = jd_str(d, s, "ID", &m->id)) < 0 ||
	    (rc = jd_str(d, s, "MacAddress", &m->mac_address)) < 0 ||
	    (rc = jd_str(d, s, "DNSSuffix", &m->dns_suffix)) < 0 ||
	    (rc = jd_str(d, s, "DNSServerList", &m->dns_server_list)) < 0 ||
	    (rc = jd_u16(d, s, "EncapOverhead", &m->encap_overhead)) < 0 ||
	    (rc = jd_bool(d, s, "VPCIAssigned", &m->vpci_assigned)) < 0 ||
	    (rc = jd_array(d, s, "IPConfigs", &ips)) < 0 ||
	    (rc = jd_array(d, s, "Routes", &routes)) < 0 ||
	    (rc = jd_bool(d, s, "PolicyBasedRouting", &m->policy_based_routing)) < 0 ||
	    (rc = jd_bool(d, s, "EnableLowMetric", &m->enable_low_metric)) < 0)
		return rc;
	if (ips && json_array_size(ips) > 0) {
		struct gcs_proto_ip_config *c = jd_alloc(d, json_array_size(ips) * sizeof(*c));
		if (!c)
			return jd_nomem(d);
		json_array_foreach(ips, i, v) {
			if (!json_is_object(v) && !json_is_null(v))
				return jd_fail(d, "IPConfigs[%zu]: expected object", i);
			if ((rc = jd_str(d, v, "IPAddress", &c[i].ip_address)) < 0 ||
			    (rc = jd_u8(d, v, "PrefixLength", &c[i].prefix_length)) < 0)
				return gcs_error_prefix(d->err, rc, "IPConfigs[%zu]", i);
		}
		m->ip_configs = c;
		m->n_ip_configs = json_array_size(ips);
	}
	if (routes && json_array_size(routes) > 0) {
		struct gcs_proto_route *r = jd_alloc(d, json_array_size(routes) * sizeof(*r));
		if (!r)
			return jd_nomem(d);
		json_array_foreach(routes, i, v) {
			if (!json_is_object(v) && !json_is_null(v))
				return jd_fail(d, "Routes[%zu]: expected object", i);
			if ((rc = jd_str(d, v, "NextHop", &r[i].next_hop)) < 0 ||
			    (rc = jd_str(d, v, "DestinationPrefix", &r[i].destination_prefix)) <
				    0 ||
			    (rc = jd_u16(d, v, "Metric", &r[i].metric)) < 0)
				return gcs_error_prefix(d->err, rc, "Routes[%zu]", i);
		}
		m->routes = r;
		m->n_routes = json_array_size(routes);
	}
	return 0;
}

static int constraints_decode(struct jd *d, json_t *s, struct gcs_proto_container_constraints *m)
{
	int rc;

	if ((rc = jd_object(d, s, "Windows", &m->windows_resources)) < 0 ||
	    (rc = jd_object(d, s, "Linux", &m->linux_resources)) < 0)
		return rc;
	return 0;
}

static int policy_decode(struct jd *d, json_t *s, struct gcs_proto_security_policy *m)
{
	int rc;

	if ((rc = jd_str(d, s, "EnforcerType", &m->enforcer_type)) < 0 ||
	    (rc = jd_str(d, s, "EncodedSecurityPolicy", &m->encoded_security_policy)) < 0 ||
	    (rc = jd_str(d, s, "EncodedUVMReference", &m->encoded_uvm_reference)) < 0 ||
	    (rc = jd_str(d, s, "EncodedUVMHashEnvelopeReference",
			 &m->encoded_uvm_hash_envelope_reference)) < 0)
		return rc;
	return 0;
}

static int fragment_decode(struct jd *d, json_t *s, struct gcs_proto_policy_fragment *m)
{
	int rc;

	if ((rc = jd_str(d, s, "Fragment", &m->fragment)) < 0 ||
	    (rc = jd_str(d, s, "MediaType", &m->media_type)) < 0)
		return rc;
	return 0;
}

static int container_op_decode(struct jd *d, json_t *s, struct gcs_proto_container_operation *m)
{
	int rc;

	if ((rc = jd_str(d, s, "Operation", &m->operation)) < 0 ||
	    (rc = jd_i32(d, s, "Signal", &m->signal)) < 0)
		return rc;
	return 0;
}

/* Settings decode by type; Settings may be NULL (missing): every field is then zero. */
static int settings_decode(struct jd *d, json_t *s, struct gcs_proto_modify_req *m)
{
	switch (m->resource_type) {
	case GCS_RESOURCE_MAPPED_VIRTUAL_DISK:
		return mvd_decode(d, s, &m->settings.mapped_virtual_disk);
	case GCS_RESOURCE_SCSI_DEVICE:
		return scsi_decode(d, s, &m->settings.scsi_device);
	case GCS_RESOURCE_VPMEM_DEVICE:
		return vpmem_decode(d, s, &m->settings.vpmem_device);
	case GCS_RESOURCE_COMBINED_LAYERS:
		return layers_decode(d, s, &m->settings.combined_layers);
	case GCS_RESOURCE_MAPPED_DIRECTORY:
		return mapped_dir_decode(d, s, &m->settings.mapped_directory);
	case GCS_RESOURCE_NETWORK:
		return network_decode(d, s, &m->settings.network);
	case GCS_RESOURCE_VPCI_DEVICE:
		return jd_str(d, s, "VMBusGUID", &m->settings.vpci_device.vmbus_guid);
	case GCS_RESOURCE_CONTAINER_CONSTRAINTS:
		return constraints_decode(d, s, &m->settings.container_constraints);
	case GCS_RESOURCE_SECURITY_POLICY:
		return policy_decode(d, s, &m->settings.security_policy);
	case GCS_RESOURCE_SECURITY_POLICY_FRAGMENT:
		return fragment_decode(d, s, &m->settings.policy_fragment);
	case GCS_RESOURCE_LCOW_CONTAINER_OPERATION:
		return container_op_decode(d, s, &m->settings.container_operation);
	case GCS_RESOURCE_POD_CGROUP_MEMORY_LIMIT:
	case GCS_RESOURCE_NONE:
		return 0;
	default:
		/* Windows-only and unknown types: keep the settings as they came. */
		m->raw_settings = s;
		return 0;
	}
}

int modify_request_decode(struct jd *d, json_t *request, struct gcs_proto_modify_req *m)
{
	json_t *settings = NULL;
	const char *rt, *res;
	int rc;

	if (request && !json_is_object(request))
		return jd_fail(d, "Request: expected object");
	if ((rc = jd_str(d, request, "RequestType", &rt)) < 0 ||
	    (rc = jd_str(d, request, "ResourceType", &res)) < 0)
		return gcs_error_prefix(d->err, rc, "Request");
	m->request_type = request_type_parse(rt);
	m->request_type_name = rt;
	m->resource_type = gcs_proto_resource_type_parse(res);
	m->resource_type_name = res;
	settings = jd_get(request, "Settings");
	m->has_settings = settings != NULL;
	if (settings && !json_is_object(settings) && m->resource_type < GCS_RESOURCE_HV_SOCKET)
		return jd_fail(d, "Request.Settings: expected object for %s", res);
	rc = settings_decode(d, settings, m);
	if (rc < 0)
		return gcs_error_prefix(d->err, rc, "Request.Settings (%s)", res);
	return 0;
}

/* ---- encoders ---- */

static void verity_encode(struct je *e, json_t *o, const struct gcs_proto_verity_info *v)
{
	json_t *vo;

	if (!v)
		return;
	vo = je_object(e);
	if (!vo)
		return;
	je_sint_opt(e, vo, "Ext4SizeInBytes", v->ext4_size_in_bytes);
	je_sint_opt(e, vo, "Version", v->version);
	je_str_opt(e, vo, "Algorithm", v->algorithm);
	je_bool_opt(e, vo, "SuperBlock", v->super_block);
	je_str_opt(e, vo, "RootDigest", v->root_digest);
	je_str_opt(e, vo, "Salt", v->salt);
	je_sint_opt(e, vo, "BlockSize", v->block_size);
	je_set(e, o, "VerityInfo", vo);
}

static void mvd_encode(struct je *e, json_t *s, const struct gcs_proto_mapped_virtual_disk *m)
{
	je_str_opt(e, s, "MountPath", m->mount_path);
	je_uint_opt(e, s, "Lun", m->lun);
	je_uint_opt(e, s, "Controller", m->controller);
	je_uint_opt(e, s, "Partition", m->partition);
	je_bool_opt(e, s, "ReadOnly", m->read_only);
	je_bool_opt(e, s, "Encrypted", m->encrypted);
	je_strv_opt(e, s, "Options", m->options, m->n_options);
	je_bool_opt(e, s, "BlockDev", m->block_dev);
	verity_encode(e, s, m->verity_info);
	je_bool_opt(e, s, "EnsureFilesystem", m->ensure_filesystem);
	je_str_opt(e, s, "Filesystem", m->filesystem);
}

static void vpmem_encode(struct je *e, json_t *s, const struct gcs_proto_vpmem_device *m)
{
	je_uint_opt(e, s, "DeviceNumber", m->device_number);
	je_str_opt(e, s, "MountPath", m->mount_path);
	if (m->mapping_info) {
		json_t *mi = je_object(e);
		if (mi) {
			je_uint_opt(e, mi, "DeviceOffsetInBytes",
				    m->mapping_info->device_offset_in_bytes);
			je_uint_opt(e, mi, "DeviceSizeInBytes",
				    m->mapping_info->device_size_in_bytes);
			je_set(e, s, "MappingInfo", mi);
		}
	}
	verity_encode(e, s, m->verity_info);
}

static void layers_encode(struct je *e, json_t *s, const struct gcs_proto_combined_layers *m)
{
	je_str_opt(e, s, "ContainerID", m->container_id);
	je_str_opt(e, s, "ContainerRootPath", m->container_root_path);
	if (m->n_layers > 0) {
		json_t *arr = je_array(e);
		for (size_t i = 0; i < m->n_layers && arr; i++) {
			json_t *l = je_object(e);
			if (!l)
				break;
			je_str_opt(e, l, "Id", m->layers[i].id);
			je_str_opt(e, l, "Path", m->layers[i].path);
			je_str_opt(e, l, "PathType", m->layers[i].path_type);
			je_str_opt(e, l, "Cache", m->layers[i].cache);
			je_append(e, arr, l);
		}
		je_set(e, s, "Layers", arr);
	}
	je_str_opt(e, s, "ScratchPath", m->scratch_path);
}

static void network_encode(struct je *e, json_t *s, const struct gcs_proto_network_adapter *m)
{
	je_str_opt(e, s, "NamespaceID", m->namespace_id);
	je_str_opt(e, s, "ID", m->id);
	je_str_opt(e, s, "MacAddress", m->mac_address);
	je_str_opt(e, s, "DNSSuffix", m->dns_suffix);
	je_str_opt(e, s, "DNSServerList", m->dns_server_list);
	je_uint_opt(e, s, "EncapOverhead", m->encap_overhead);
	je_bool_opt(e, s, "VPCIAssigned", m->vpci_assigned);
	if (m->n_ip_configs > 0) {
		json_t *arr = je_array(e);
		for (size_t i = 0; i < m->n_ip_configs && arr; i++) {
			json_t *c = je_object(e);
			if (!c)
				break;
			je_str_opt(e, c, "IPAddress", m->ip_configs[i].ip_address);
			je_uint_opt(e, c, "PrefixLength", m->ip_configs[i].prefix_length);
			je_append(e, arr, c);
		}
		je_set(e, s, "IPConfigs", arr);
	}
	if (m->n_routes > 0) {
		json_t *arr = je_array(e);
		for (size_t i = 0; i < m->n_routes && arr; i++) {
			json_t *r = je_object(e);
			if (!r)
				break;
			je_str_opt(e, r, "NextHop", m->routes[i].next_hop);
			je_str_opt(e, r, "DestinationPrefix", m->routes[i].destination_prefix);
			je_uint_opt(e, r, "Metric", m->routes[i].metric);
			je_append(e, arr, r);
		}
		je_set(e, s, "Routes", arr);
	}
	je_bool_opt(e, s, "PolicyBasedRouting", m->policy_based_routing);
	je_bool_opt(e, s, "EnableLowMetric", m->enable_low_metric);
}

/* Go writes struct-valued fields even when empty: omitempty does not apply to structs. */
static void object_or_empty(struct je *e, json_t *o, const char *key, json_t *v)
{
	if (v)
		je_set(e, o, key, json_incref(v));
	else
		je_set(e, o, key, json_object());
}

static void settings_encode(struct je *e, json_t *s, const struct gcs_proto_modify_req *m)
{
	const struct gcs_proto_security_policy *p = &m->settings.security_policy;

	switch (m->resource_type) {
	case GCS_RESOURCE_MAPPED_VIRTUAL_DISK:
		mvd_encode(e, s, &m->settings.mapped_virtual_disk);
		break;
	case GCS_RESOURCE_SCSI_DEVICE:
		je_uint_opt(e, s, "Controller", m->settings.scsi_device.controller);
		je_uint_opt(e, s, "Lun", m->settings.scsi_device.lun);
		break;
	case GCS_RESOURCE_VPMEM_DEVICE:
		vpmem_encode(e, s, &m->settings.vpmem_device);
		break;
	case GCS_RESOURCE_COMBINED_LAYERS:
		layers_encode(e, s, &m->settings.combined_layers);
		break;
	case GCS_RESOURCE_MAPPED_DIRECTORY:
		je_str_opt(e, s, "MountPath", m->settings.mapped_directory.mount_path);
		je_sint_opt(e, s, "Port", m->settings.mapped_directory.port);
		je_str_opt(e, s, "ShareName", m->settings.mapped_directory.share_name);
		je_bool_opt(e, s, "ReadOnly", m->settings.mapped_directory.read_only);
		break;
	case GCS_RESOURCE_NETWORK:
		network_encode(e, s, &m->settings.network);
		break;
	case GCS_RESOURCE_VPCI_DEVICE:
		je_str_opt(e, s, "VMBusGUID", m->settings.vpci_device.vmbus_guid);
		break;
	case GCS_RESOURCE_CONTAINER_CONSTRAINTS:
		object_or_empty(e, s, "Windows",
				m->settings.container_constraints.windows_resources);
		object_or_empty(e, s, "Linux", m->settings.container_constraints.linux_resources);
		break;
	case GCS_RESOURCE_SECURITY_POLICY:
		je_str_opt(e, s, "EnforcerType", p->enforcer_type);
		je_str_opt(e, s, "EncodedSecurityPolicy", p->encoded_security_policy);
		je_str_opt(e, s, "EncodedUVMReference", p->encoded_uvm_reference);
		je_str_opt(e, s, "EncodedUVMHashEnvelopeReference",
			   p->encoded_uvm_hash_envelope_reference);
		break;
	case GCS_RESOURCE_SECURITY_POLICY_FRAGMENT:
		je_str_opt(e, s, "Fragment", m->settings.policy_fragment.fragment);
		je_str_opt(e, s, "MediaType", m->settings.policy_fragment.media_type);
		break;
	case GCS_RESOURCE_LCOW_CONTAINER_OPERATION:
		je_str_opt(e, s, "Operation", m->settings.container_operation.operation);
		je_sint_opt(e, s, "Signal", m->settings.container_operation.signal);
		break;
	default:
		break;
	}
}

int modify_request_encode(struct je *e, json_t *o, const struct gcs_proto_modify_req *m)
{
	const char *rt = m->request_type == GCS_REQUEST_TYPE_UNKNOWN ?
				 m->request_type_name :
				 gcs_proto_request_type_str(m->request_type);
	const char *res = m->resource_type == GCS_RESOURCE_UNKNOWN ?
				  m->resource_type_name :
				  gcs_proto_resource_type_str(m->resource_type);
	json_t *req = je_object(e);

	if (!req)
		return e->rc;
	je_str_opt(e, req, "RequestType", rt);
	je_str_opt(e, req, "ResourceType", res);
	if (m->raw_settings) {
		je_set(e, req, "Settings", json_incref(m->raw_settings));
	} else if (m->has_settings) {
		json_t *s = je_object(e);
		if (s) {
			settings_encode(e, s, m);
			je_set(e, req, "Settings", s);
		}
	}
	je_set(e, o, "Request", req);
	return e->rc;
}
