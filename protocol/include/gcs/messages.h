/*
 * Every request, response and notification body of the bridge (spec sections 4-12) as C structs,
 * with jansson-based decoders and encoders.
 *
 * Decoding follows Go's encoding/json as hcsshim and the Go GCS use it: missing (or null)
 * numbers and bools are 0/false, missing strings are "", unknown fields are ignored, a wrong JSON
 * type or an out-of-range number is an error (HCS_E_INVALID_JSON). Strings and arrays in a decoded
 * struct live as long as the struct: release it with gcs_proto_release(). OCI spec and OCI process
 * objects stay jansson objects (borrowed references, valid until release).
 *
 * Encoding writes fields in the order and with the omitempty rules of hcsshim's Go types, so our
 * host bodies are byte-identical to hcsshim's and our guest bodies to the Go GCS's. NULL strings
 * encode as "" (or are left out where Go leaves out empty values).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcs/export.h"
#include "gcs/frame.h"
#include "gcs/hresult.h"
#include "gcs/msgtype.h"

/* Memory a decoded message owns. The first member of every message struct. */
#define GCS_PROTO_MAX_DOCS 3
struct gcs_proto_owner {
	json_t *docs[GCS_PROTO_MAX_DOCS];
	void *blocks;
};

/* 5.1: in every host->guest body. ocsc/otsc trace contexts are accepted and ignored. */
struct gcs_proto_request_base {
	struct gcs_proto_owner own;
	const char *container_id;
	const char *activity_id;
};

struct gcs_proto_error_record {
	int32_t result;
	const char *message;
	const char *stack_trace; /* omitempty */
	const char *module_name;
	const char *file_name;
	uint32_t line; /* 4294967295 when unknown */
	const char *function_name; /* omitempty */
};

/*
 * 5.2: in every guest->host response. Result is a signed int32; ActivityId, when present, must
 * be a valid GUID (encoders leave it out when NULL or "").
 */
struct gcs_proto_response_base {
	struct gcs_proto_owner own;
	int32_t result;
	const char *activity_id;
	const char *error_message; /* omitempty */
	const struct gcs_proto_error_record *error_records; /* omitempty */
	size_t n_error_records;
};

/* ---- 4. NegotiateProtocol ---- */
struct gcs_proto_negotiate_req {
	struct gcs_proto_request_base base;
	uint32_t minimum_version;
	uint32_t maximum_version;
};

struct gcs_proto_schema_version {
	uint32_t major;
	uint32_t minor;
};

struct gcs_proto_guest_caps {
	bool namespace_add_request_supported;
	bool signal_process_supported;
	bool dump_stacks_supported;
	bool delete_container_state_supported;
	/* lcow extension (docs/protocol.md): the LcowContainerOperation resource. */
	bool lcow_container_operations_supported;
};

struct gcs_proto_capabilities {
	bool send_host_create_message;
	bool send_host_start_message;
	bool hv_socket_config_on_startup;
	bool send_lifecycle_notifications;
	bool modify_service_settings_supported;
	const struct gcs_proto_schema_version *supported_schema_versions;
	size_t n_supported_schema_versions;
	const char *runtime_os_type;
	/* Always encoded as an object; decoding fails when it is missing or not an object. */
	struct gcs_proto_guest_caps guest_defined;
};

struct gcs_proto_negotiate_resp {
	struct gcs_proto_response_base base;
	uint32_t version; /* omitempty */
	struct gcs_proto_capabilities capabilities;
};

/* ---- 7.1 / 8. Create ---- */
struct gcs_proto_container_config {
	struct gcs_proto_schema_version schema_version; /* 0.0 when missing */
	const char *oci_bundle_path;
	json_t *oci_specification; /* OCI runtime spec object, or NULL */
	const char *scratch_dir_path;
};

struct gcs_proto_create_req {
	struct gcs_proto_request_base base;
	struct gcs_proto_container_config config; /* ContainerConfig, JSON inside a string */
};

struct gcs_proto_create_resp {
	struct gcs_proto_response_base base;
	const char *selected_version; /* omitempty */
	uint32_t selected_protocol_version;
};

/* ---- 7.4 / 9. ExecuteProcess ---- */
struct gcs_proto_env {
	const char *name;
	const char *value;
};

struct gcs_proto_process_params {
	const char *application_name;
	const char *command_line;
	const char *const *command_args;
	size_t n_command_args;
	const char *user;
	const char *working_directory;
	const struct gcs_proto_env *environment; /* encoded as an object, keys sorted as Go does */
	size_t n_environment;
	bool restricted_token;
	bool emulate_console;
	bool create_stdin_pipe;
	bool create_stdout_pipe;
	bool create_stderr_pipe;
	bool has_console_size;
	uint16_t console_size[2]; /* height, width */
	bool create_in_utility_vm;
	bool use_existing_login;
	bool use_legacy_console;
	json_t *oci_process; /* OCI runtime-spec Process object, or NULL */
};

struct gcs_proto_stdio_ports {
	uint32_t stdin_port;
	uint32_t stdout_port;
	uint32_t stderr_port;
};

struct gcs_proto_execute_process_req {
	struct gcs_proto_request_base base;
	struct gcs_proto_process_params params; /* Settings.ProcessParameters, JSON in a string */
	struct gcs_proto_stdio_ports vsock_stdio; /* Settings.VsockStdioRelaySettings */
	json_t *stdio_relay; /* Settings.StdioRelaySettings (Windows guests), or NULL */
};

struct gcs_proto_execute_process_resp {
	struct gcs_proto_response_base base;
	uint32_t process_id;
};

/* ---- 7.5 WaitForProcess ---- */
#define GCS_WAIT_INFINITE 0xFFFFFFFFu

struct gcs_proto_wait_req {
	struct gcs_proto_request_base base;
	uint32_t process_id;
	uint32_t timeout_ms;
};

struct gcs_proto_wait_resp {
	struct gcs_proto_response_base base;
	uint32_t exit_code;
};

/* ---- 7.6 SignalProcess ---- */
struct gcs_proto_signal_req {
	struct gcs_proto_request_base base;
	uint32_t process_id;
	bool has_options; /* Options present; Signal 0 or no Options means SIGKILL */
	int32_t signal;
};

/* ---- 7.7 ResizeConsole ---- */
struct gcs_proto_resize_req {
	struct gcs_proto_request_base base;
	uint32_t process_id;
	uint16_t height;
	uint16_t width;
};

/* ---- 7.8 / 11. GetProperties ---- */
struct gcs_proto_get_properties_req {
	struct gcs_proto_request_base base;
	/* Query, JSON inside a string; "" (no query) decodes as no property types. */
	const char *const *property_types;
	size_t n_property_types;
};

struct gcs_proto_process_item {
	uint32_t process_id;
};

struct gcs_proto_get_properties_resp {
	struct gcs_proto_response_base base;
	/* Properties, JSON inside a string ("{}" when empty). */
	const struct gcs_proto_process_item *process_list; /* omitempty */
	size_t n_process_list;
	json_t *lcow_metrics; /* containerd cgroup Metrics object, or NULL */
};

/* ---- 7.9 / 10. ModifySettings ---- */
enum gcs_proto_request_type {
	GCS_REQUEST_TYPE_NONE = 0, /* left out: the guest treats it as Add */
	GCS_REQUEST_TYPE_ADD,
	GCS_REQUEST_TYPE_REMOVE,
	GCS_REQUEST_TYPE_UPDATE,
	GCS_REQUEST_TYPE_PREADD,
	GCS_REQUEST_TYPE_UNKNOWN, /* see request_type_name */
};

enum gcs_proto_resource_type {
	GCS_RESOURCE_NONE = 0, /* left out */
	GCS_RESOURCE_MAPPED_VIRTUAL_DISK,
	GCS_RESOURCE_SCSI_DEVICE,
	GCS_RESOURCE_VPMEM_DEVICE,
	GCS_RESOURCE_COMBINED_LAYERS,
	GCS_RESOURCE_MAPPED_DIRECTORY,
	GCS_RESOURCE_NETWORK,
	GCS_RESOURCE_VPCI_DEVICE,
	GCS_RESOURCE_CONTAINER_CONSTRAINTS,
	GCS_RESOURCE_SECURITY_POLICY,
	GCS_RESOURCE_SECURITY_POLICY_FRAGMENT,
	GCS_RESOURCE_POD_CGROUP_MEMORY_LIMIT,
	GCS_RESOURCE_LCOW_CONTAINER_OPERATION, /* lcow extension, see docs/protocol.md */
	/* Windows guests only: Settings stay raw. */
	GCS_RESOURCE_HV_SOCKET,
	GCS_RESOURCE_NETWORK_NAMESPACE,
	GCS_RESOURCE_MAPPED_VIRTUAL_DISK_FOR_CONTAINER_SCRATCH,
	GCS_RESOURCE_WCOW_BLOCK_CIMS,
	GCS_RESOURCE_CWCOW_COMBINED_LAYERS,
	GCS_RESOURCE_UNKNOWN, /* see resource_type_name; Settings stay raw */
	GCS_RESOURCE__COUNT,
};

struct gcs_proto_verity_info {
	int64_t ext4_size_in_bytes;
	int64_t version;
	const char *algorithm;
	bool super_block;
	const char *root_digest;
	const char *salt;
	int64_t block_size;
};

struct gcs_proto_mapped_virtual_disk {
	const char *mount_path;
	uint8_t lun;
	uint8_t controller;
	uint64_t partition;
	bool read_only;
	bool encrypted;
	const char *const *options;
	size_t n_options;
	bool block_dev;
	const struct gcs_proto_verity_info *verity_info; /* NULL when absent */
	bool ensure_filesystem;
	const char *filesystem;
};

struct gcs_proto_scsi_device {
	uint8_t controller;
	uint8_t lun;
};

struct gcs_proto_vpmem_mapping {
	uint64_t device_offset_in_bytes;
	uint64_t device_size_in_bytes;
};

struct gcs_proto_vpmem_device {
	uint32_t device_number;
	const char *mount_path;
	const struct gcs_proto_vpmem_mapping *mapping_info; /* NULL when absent */
	const struct gcs_proto_verity_info *verity_info; /* NULL when absent */
};

struct gcs_proto_layer {
	const char *id;
	const char *path;
	const char *path_type;
	const char *cache;
};

struct gcs_proto_combined_layers {
	const char *container_id;
	const char *container_root_path;
	const struct gcs_proto_layer *layers; /* first = top-most */
	size_t n_layers;
	const char *scratch_path;
};

struct gcs_proto_mapped_directory {
	const char *mount_path;
	int32_t port;
	const char *share_name;
	bool read_only;
};

struct gcs_proto_ip_config {
	const char *ip_address;
	uint8_t prefix_length;
};

struct gcs_proto_route {
	const char *next_hop;
	const char *destination_prefix;
	uint16_t metric;
};

struct gcs_proto_network_adapter {
	const char *namespace_id;
	const char *id;
	const char *mac_address;
	const char *dns_suffix;
	const char *dns_server_list;
	uint16_t encap_overhead;
	bool vpci_assigned;
	const struct gcs_proto_ip_config *ip_configs;
	size_t n_ip_configs;
	const struct gcs_proto_route *routes;
	size_t n_routes;
	bool policy_based_routing;
	bool enable_low_metric;
};

struct gcs_proto_vpci_device {
	const char *vmbus_guid;
};

struct gcs_proto_container_constraints {
	json_t *windows_resources; /* OCI WindowsResources object, or NULL */
	json_t *linux_resources; /* OCI LinuxResources object, or NULL */
};

struct gcs_proto_security_policy {
	const char *enforcer_type;
	const char *encoded_security_policy;
	const char *encoded_uvm_reference;
	const char *encoded_uvm_hash_envelope_reference;
};

struct gcs_proto_policy_fragment {
	const char *fragment;
	const char *media_type;
};

/*
 * lcow extension "LcowContainerOperation" (RequestType Update, the container's own ID):
 * Operation "Pause", "Resume" or "KillAll"; Signal only for KillAll (omitempty, 0 = SIGKILL).
 */
struct gcs_proto_container_operation {
	const char *operation;
	int32_t signal;
};

struct gcs_proto_modify_req {
	struct gcs_proto_request_base base;
	enum gcs_proto_request_type request_type;
	const char *request_type_name; /* the wire string ("" when left out) */
	enum gcs_proto_resource_type resource_type;
	const char *resource_type_name;
	bool has_settings;
	union {
		struct gcs_proto_mapped_virtual_disk mapped_virtual_disk;
		struct gcs_proto_scsi_device scsi_device;
		struct gcs_proto_vpmem_device vpmem_device;
		struct gcs_proto_combined_layers combined_layers;
		struct gcs_proto_mapped_directory mapped_directory;
		struct gcs_proto_network_adapter network;
		struct gcs_proto_vpci_device vpci_device;
		struct gcs_proto_container_constraints container_constraints;
		struct gcs_proto_security_policy security_policy;
		struct gcs_proto_policy_fragment policy_fragment;
		struct gcs_proto_container_operation container_operation;
	} settings;
	json_t *raw_settings; /* Settings for the Windows-only and unknown types, or NULL */
};

/* ---- 7.10 DumpStacks ---- */
struct gcs_proto_dump_stacks_resp {
	struct gcs_proto_response_base base;
	const char *guest_stacks;
};

/* ---- 7.12 requests hcsshim never sends to a Linux guest ---- */
struct gcs_proto_service_settings_req {
	struct gcs_proto_request_base base;
	const char *property_type;
	json_t *settings; /* omitempty */
};

/* UpdateContainer and LifecycleNotification: the fields beyond the base, kept as an object. */
struct gcs_proto_opaque_req {
	struct gcs_proto_request_base base;
	json_t *fields; /* object (never includes ContainerId/ActivityId/ocsc/otsc), or NULL */
};

/* ---- 7.14 container notification (0x30100101, ID 0) ---- */
struct gcs_proto_notification {
	struct gcs_proto_request_base base;
	const char *type; /* "UnexpectedExit", "GracefulExit", "ForcedExit", ... */
	const char *operation; /* "None" */
	int32_t result;
	json_t *result_info; /* JSON inside a string, omitempty */
};

/* Any message; the first member of each is a gcs_proto_owner. */
union gcs_proto_msg {
	struct gcs_proto_owner own;
	struct gcs_proto_request_base req;
	struct gcs_proto_response_base resp;
	struct gcs_proto_negotiate_req negotiate_req;
	struct gcs_proto_negotiate_resp negotiate_resp;
	struct gcs_proto_create_req create_req;
	struct gcs_proto_create_resp create_resp;
	struct gcs_proto_execute_process_req execute_process_req;
	struct gcs_proto_execute_process_resp execute_process_resp;
	struct gcs_proto_wait_req wait_req;
	struct gcs_proto_wait_resp wait_resp;
	struct gcs_proto_signal_req signal_req;
	struct gcs_proto_resize_req resize_req;
	struct gcs_proto_get_properties_req get_properties_req;
	struct gcs_proto_get_properties_resp get_properties_resp;
	struct gcs_proto_modify_req modify_req;
	struct gcs_proto_dump_stacks_resp dump_stacks_resp;
	struct gcs_proto_service_settings_req service_settings_req;
	struct gcs_proto_opaque_req opaque_req;
	struct gcs_proto_notification notification;
};

/* Which style of JSON text to write. */
enum gcs_proto_style {
	/* hcsshim's host: json.Encoder with HTML escaping off, a trailing "\n". */
	GCS_PROTO_STYLE_HOST,
	/* the Go GCS: json.Marshal, no newline, <, >, &, U+2028, U+2029 escaped as \uXXXX. */
	GCS_PROTO_STYLE_GUEST,
};

/*
 * The struct type a message Type decodes to, by name ("struct gcs_proto_wait_req") and size;
 * -ENOENT for a Type the spec does not define.
 */
GCS_PROTO_EXPORT int gcs_proto_msg_struct(uint32_t type, const char **ret_name, size_t *ret_size);

/*
 * Decodes a body of the given message type into *ret (the struct of that type, at most
 * sizeof(union gcs_proto_msg)). On success *ret must be released with gcs_proto_release().
 * Errors: -EBADMSG with HR_INVALID_JSON (not JSON, wrong types, out-of-range numbers, invalid
 * GUIDs where the host requires one), -ENOENT with HR_NOTIMPL for an unknown type.
 */
GCS_PROTO_EXPORT int gcs_proto_decode(uint32_t type, const char *body, size_t len, void *ret,
				      struct gcs_error *err);

/*
 * Like gcs_proto_decode for a request, but only the base (container and activity IDs): what a
 * guest still needs to answer a request whose body it cannot decode or whose type it does not
 * know.
 */
GCS_PROTO_EXPORT int gcs_proto_decode_request_base(const char *body, size_t len,
						   struct gcs_proto_request_base *ret,
						   struct gcs_error *err);

/* Frees what a decoded message owns and zeroes its owner; safe on an encoder-filled struct. */
GCS_PROTO_EXPORT void gcs_proto_release(void *msg);

/*
 * Builds the JSON object of a message (new reference in *ret). A response whose Result is not 0
 * is written with the response base only, as the Go GCS answers failed requests; so is a response
 * type the spec does not define (the answer to an unknown request: E_NOTIMPL).
 */
GCS_PROTO_EXPORT int gcs_proto_to_json(uint32_t type, const void *msg, json_t **ret,
				       struct gcs_error *err);

/* Serializes a message body (malloc'd, NUL-terminated; *ret_len excludes the NUL). */
GCS_PROTO_EXPORT int gcs_proto_encode_body(uint32_t type, const void *msg,
					   enum gcs_proto_style style, char **ret_body,
					   size_t *ret_len, struct gcs_error *err);

/*
 * Serializes a whole frame: header + body, malloc'd. Responses and notifications (the
 * guest->host direction) over GCS_MAX_GUEST_MESSAGE bytes are refused with -EMSGSIZE: callers
 * truncate what they put in (DumpStacks, process lists) and never send an oversized message.
 */
GCS_PROTO_EXPORT int gcs_proto_encode_frame(uint32_t type, uint64_t id, const void *msg,
					    enum gcs_proto_style style, char **ret_frame,
					    size_t *ret_len, struct gcs_error *err);

/* Wire strings of the ModifySettings enums. */
GCS_PROTO_EXPORT const char *gcs_proto_request_type_str(enum gcs_proto_request_type t);
GCS_PROTO_EXPORT const char *gcs_proto_resource_type_str(enum gcs_proto_resource_type t);
GCS_PROTO_EXPORT enum gcs_proto_resource_type gcs_proto_resource_type_parse(const char *s);

/* Renders a JSON value as compact text in Go's json.Marshal form (malloc'd). */
GCS_PROTO_EXPORT char *gcs_proto_json_dumps(const json_t *v, enum gcs_proto_style style);
