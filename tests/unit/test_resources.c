/*
 * Unit tests of protocol/resources.c: the ModifySettings Request and the Settings of every
 * resource type (spec sections 5, 7.9 and 10). Every LCOW type round-trips through our host
 * encoder and decoder with every field set, encodes to the exact bytes hcsshim writes (Go field
 * order, omitempty, json.Encoder's newline), and every wrong JSON type is HCS_E_INVALID_JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs/messages.h"
#include "gcs/msgtype.h"
#include "testutil.h"

#define MODIFY GCS_MSG_MODIFY_SETTINGS_REQ

/* The null GUID (spec 5.1) and a container ID as hcsshim makes them (64 hex characters). */
#define Z "00000000-0000-0000-0000-000000000000"
#define CID "3f2a0123456789abcdef0123456789abcdef0123456789abcdeffedcba9876e1"
#define ACT "6c1f7b2e-3d4a-4b5c-8d9e-0a1b2c3d4e5f"

/* A whole ModifySettings body around a Request object given as JSON text. */
#define BODY_FULL(cid, act, request) \
	"{\"ContainerId\":\"" cid "\",\"ActivityId\":\"" act "\",\"Request\":" request "}"
#define BODY_FOR(cid, request) BODY_FULL(cid, Z, request)
#define BODY(request) BODY_FOR(Z, request)

/* ---- helpers ---- */

static char *encode(const struct gcs_proto_modify_req *m, enum gcs_proto_style style)
{
	struct gcs_error err = { 0 };
	char *body = NULL;
	size_t len = 0;
	int rc = gcs_proto_encode_body(MODIFY, m, style, &body, &len, &err);

	ck_assert_msg(rc == 0, "encode failed: %d (%s)", rc, err.message);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(len, strlen(body));
	return body;
}

static void decode_ok(const char *body, struct gcs_proto_modify_req *m)
{
	struct gcs_error err = { 0 };
	int rc = gcs_proto_decode(MODIFY, body, strlen(body), m, &err);

	ck_assert_msg(rc == 0, "decode of %s failed: %d (%s)", body, rc, err.message);
	ck_assert_int_eq(err.hresult, HR_OK);
}

/* Host-style encoding of m is exactly `expected` followed by json.Encoder's "\n". */
static void assert_encodes_to(const struct gcs_proto_modify_req *m, const char *expected)
{
	char *body = encode(m, GCS_PROTO_STYLE_HOST);
	size_t n = strlen(expected);

	ck_assert_msg(strlen(body) == n + 1 && memcmp(body, expected, n) == 0 && body[n] == '\n',
		      "encoded\n  %s\nexpected\n  %s", body, expected);
	free(body);
}

/* Decodes `body` into *m; re-encoding the decoded struct gives `body` back byte for byte. */
static void decode_reencodes(const char *body, struct gcs_proto_modify_req *m)
{
	decode_ok(body, m);
	assert_encodes_to(m, body);
}

/*
 * Encodes `in` (host style), decodes the result into *out and checks that the decoded struct
 * encodes to the same bytes. The caller compares the fields and releases *out.
 */
static void round_trip(const struct gcs_proto_modify_req *in, struct gcs_proto_modify_req *out)
{
	char *body = encode(in, GCS_PROTO_STYLE_HOST);
	char *again;

	ck_assert_uint_gt(strlen(body), 1);
	ck_assert_int_eq(body[strlen(body) - 1], '\n');
	decode_ok(body, out);
	again = encode(out, GCS_PROTO_STYLE_HOST);
	ck_assert_str_eq(again, body);
	free(again);
	free(body);
	ck_assert_str_eq(out->base.container_id, in->base.container_id);
	ck_assert_str_eq(out->base.activity_id, in->base.activity_id);
	ck_assert_int_eq(out->request_type, in->request_type);
	ck_assert_str_eq(out->request_type_name, gcs_proto_request_type_str(in->request_type));
	ck_assert_int_eq(out->resource_type, in->resource_type);
	ck_assert_str_eq(out->resource_type_name, gcs_proto_resource_type_str(in->resource_type));
	ck_assert(out->has_settings == in->has_settings);
	ck_assert_ptr_null(out->raw_settings);
}

static void assert_verity_eq(const struct gcs_proto_verity_info *a,
			     const struct gcs_proto_verity_info *b)
{
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_int_eq(a->ext4_size_in_bytes, b->ext4_size_in_bytes);
	ck_assert_int_eq(a->version, b->version);
	ck_assert_str_eq(a->algorithm, b->algorithm);
	ck_assert(a->super_block == b->super_block);
	ck_assert_str_eq(a->root_digest, b->root_digest);
	ck_assert_str_eq(a->salt, b->salt);
	ck_assert_int_eq(a->block_size, b->block_size);
}

static const struct gcs_proto_verity_info verity = {
	.ext4_size_in_bytes = 8589938688LL, /* above 2^32 */
	.version = 1,
	.algorithm = "sha256",
	.super_block = true,
	.root_digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	.salt = "0123456789abcdef",
	.block_size = 4096,
};

#define VERITY_JSON                                                                            \
	"{\"Ext4SizeInBytes\":8589938688,\"Version\":1,\"Algorithm\":\"sha256\","              \
	"\"SuperBlock\":true,"                                                                 \
	"\"RootDigest\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"," \
	"\"Salt\":\"0123456789abcdef\",\"BlockSize\":4096}"

/* ---- 10.1 MappedVirtualDisk ---- */

static const char *const mvd_options[] = { "ro", "noatime", "context=\"system_u:s0\"" };

static const struct gcs_proto_modify_req mvd_full = {
	.base = { .container_id = CID, .activity_id = ACT },
	.request_type = GCS_REQUEST_TYPE_ADD,
	.resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK,
	.has_settings = true,
	.settings.mapped_virtual_disk = {
		.mount_path = "/run/mounts/scsi/m7",
		.lun = 63,
		.controller = 3,
		.partition = 4294967298ULL,
		.read_only = true,
		.encrypted = true,
		.options = mvd_options,
		.n_options = 3,
		.block_dev = true,
		.verity_info = &verity,
		.ensure_filesystem = true,
		.filesystem = "xfs",
	},
};

START_TEST(test_mvd_round_trip)
{
	const struct gcs_proto_mapped_virtual_disk *a = &mvd_full.settings.mapped_virtual_disk, *b;
	struct gcs_proto_modify_req out;

	round_trip(&mvd_full, &out);
	b = &out.settings.mapped_virtual_disk;
	ck_assert_str_eq(b->mount_path, a->mount_path);
	ck_assert_uint_eq(b->lun, 63);
	ck_assert_uint_eq(b->controller, 3);
	ck_assert_uint_eq(b->partition, 4294967298ULL);
	ck_assert(b->read_only);
	ck_assert(b->encrypted);
	ck_assert_uint_eq(b->n_options, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(b->options[i], a->options[i]);
	ck_assert(b->block_dev);
	assert_verity_eq(b->verity_info, a->verity_info);
	ck_assert(b->ensure_filesystem);
	ck_assert_str_eq(b->filesystem, "xfs");
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_mvd_exact)
{
	static const char *const ro[] = { "ro" };
	struct gcs_proto_modify_req m = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK,
		.has_settings = true,
	};
	struct gcs_proto_mapped_virtual_disk *s = &m.settings.mapped_virtual_disk;
	const struct gcs_proto_mapped_virtual_disk *d;
	struct gcs_proto_modify_req out;

	/* Every field, in LCOWMappedVirtualDisk's order (BlockDev comes before VerityInfo). */
	assert_encodes_to(
		&mvd_full,
		BODY_FULL(CID, ACT,
			  "{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
			  "\"Settings\":{\"MountPath\":\"/run/mounts/scsi/m7\",\"Lun\":63,"
			  "\"Controller\":3,\"Partition\":4294967298,\"ReadOnly\":true,"
			  "\"Encrypted\":true,"
			  "\"Options\":[\"ro\",\"noatime\",\"context=\\\"system_u:s0\\\"\"],"
			  "\"BlockDev\":true,\"VerityInfo\":" VERITY_JSON
			  ",\"EnsureFilesystem\":true,\"Filesystem\":\"xfs\"}}"));

	/* Spec 10.1: a read-only layer. */
	s->mount_path = "/run/mounts/scsi/m0";
	s->lun = 1;
	s->read_only = true;
	s->options = ro;
	s->n_options = 1;
	assert_encodes_to(&m,
			  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
			       "\"Settings\":{\"MountPath\":\"/run/mounts/scsi/m0\",\"Lun\":1,"
			       "\"ReadOnly\":true,\"Options\":[\"ro\"]}}"));
	decode_reencodes(BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
			      "\"Settings\":{\"MountPath\":\"/run/mounts/scsi/m0\",\"Lun\":1,"
			      "\"ReadOnly\":true,\"Options\":[\"ro\"]}}"),
			 &out);
	d = &out.settings.mapped_virtual_disk;
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_ADD);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_MAPPED_VIRTUAL_DISK);
	ck_assert(out.has_settings);
	ck_assert_str_eq(d->mount_path, "/run/mounts/scsi/m0");
	ck_assert_uint_eq(d->lun, 1);
	ck_assert_uint_eq(d->controller, 0);
	ck_assert_uint_eq(d->partition, 0);
	ck_assert(d->read_only);
	ck_assert(!d->encrypted);
	ck_assert_uint_eq(d->n_options, 1);
	ck_assert_str_eq(d->options[0], "ro");
	ck_assert(!d->block_dev);
	ck_assert_ptr_null(d->verity_info);
	ck_assert(!d->ensure_filesystem);
	ck_assert_str_eq(d->filesystem, "");
	gcs_proto_release(&out);

	/* Spec 10.1: its remove. */
	m.request_type = GCS_REQUEST_TYPE_REMOVE;
	s->options = NULL;
	s->n_options = 0;
	assert_encodes_to(&m,
			  BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"MappedVirtualDisk\","
			       "\"Settings\":{\"MountPath\":\"/run/mounts/scsi/m0\",\"Lun\":1,"
			       "\"ReadOnly\":true}}"));

	/* Spec 10.1: a scratch disk. */
	memset(s, 0, sizeof(*s));
	m.request_type = GCS_REQUEST_TYPE_ADD;
	s->mount_path = "/run/gcs/c/" CID;
	s->lun = 2;
	s->ensure_filesystem = true;
	s->filesystem = "ext4";
	assert_encodes_to(&m,
			  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
			       "\"Settings\":{\"MountPath\":\"/run/gcs/c/" CID "\",\"Lun\":2,"
			       "\"EnsureFilesystem\":true,\"Filesystem\":\"ext4\"}}"));
	decode_reencodes(BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
			      "\"Settings\":{\"MountPath\":\"/run/gcs/c/" CID "\",\"Lun\":2,"
			      "\"EnsureFilesystem\":true,\"Filesystem\":\"ext4\"}}"),
			 &out);
	d = &out.settings.mapped_virtual_disk;
	ck_assert_str_eq(d->mount_path, "/run/gcs/c/" CID);
	ck_assert_uint_eq(d->lun, 2);
	ck_assert(!d->read_only);
	ck_assert_uint_eq(d->n_options, 0);
	ck_assert_ptr_null(d->options);
	ck_assert(d->ensure_filesystem);
	ck_assert_str_eq(d->filesystem, "ext4");
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_mvd_zero_omitted)
{
	static const char *const none[] = { "ro" };
	struct gcs_proto_modify_req m = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK,
		.has_settings = true,
		.settings.mapped_virtual_disk = {
			.mount_path = "/run/mounts/scsi/m0",
			.options = none, /* n_options 0: left out */
			.filesystem = "", /* empty: left out */
		},
	};
	struct gcs_proto_modify_req out;

	assert_encodes_to(&m,
			  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
			       "\"Settings\":{\"MountPath\":\"/run/mounts/scsi/m0\"}}"));
	decode_reencodes(BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
			      "\"Settings\":{\"MountPath\":\"/run/mounts/scsi/m0\"}}"),
			 &out);
	ck_assert_uint_eq(out.settings.mapped_virtual_disk.lun, 0);
	ck_assert_uint_eq(out.settings.mapped_virtual_disk.controller, 0);
	ck_assert_uint_eq(out.settings.mapped_virtual_disk.n_options, 0);
	gcs_proto_release(&out);

	/* Nothing set: an empty Settings object, still written because has_settings is set. */
	m.settings.mapped_virtual_disk.mount_path = NULL;
	assert_encodes_to(&m,
			  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
			       "\"Settings\":{}}"));
	/* No settings at all: Settings is left out (interface{} omitempty). */
	m.has_settings = false;
	assert_encodes_to(&m,
			  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\"}"));
}
END_TEST

/* Every LCOW type with has_settings and all-zero settings writes {} (constraints: two {}). */
START_TEST(test_all_zero_settings)
{
	char expected[512];

	for (int t = GCS_RESOURCE_MAPPED_VIRTUAL_DISK; t <= GCS_RESOURCE_LCOW_CONTAINER_OPERATION;
	     t++) {
		struct gcs_proto_modify_req m = {
			.base = { .container_id = Z, .activity_id = Z },
			.request_type = GCS_REQUEST_TYPE_UPDATE,
			.resource_type = (enum gcs_proto_resource_type)t,
			.has_settings = true,
		};
		struct gcs_proto_modify_req out;

		snprintf(
			expected, sizeof(expected),
			BODY("{\"RequestType\":\"Update\",\"ResourceType\":\"%s\",\"Settings\":%s}"),
			gcs_proto_resource_type_str(m.resource_type),
			t == GCS_RESOURCE_CONTAINER_CONSTRAINTS ? "{\"Windows\":{},\"Linux\":{}}" :
								  "{}");
		assert_encodes_to(&m, expected);
		decode_reencodes(expected, &out);
		ck_assert_int_eq(out.resource_type, t);
		ck_assert(out.has_settings);
		ck_assert_ptr_null(out.raw_settings);
		gcs_proto_release(&out);
	}
}
END_TEST

/* ---- 10.2 SCSIDevice ---- */

START_TEST(test_scsi_round_trip)
{
	const struct gcs_proto_modify_req in = {
		.base = { .container_id = CID, .activity_id = ACT },
		.request_type = GCS_REQUEST_TYPE_REMOVE,
		.resource_type = GCS_RESOURCE_SCSI_DEVICE,
		.has_settings = true,
		.settings.scsi_device = { .controller = 3, .lun = 255 },
	};
	struct gcs_proto_modify_req out;

	round_trip(&in, &out);
	ck_assert_uint_eq(out.settings.scsi_device.controller, 3);
	ck_assert_uint_eq(out.settings.scsi_device.lun, 255);
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_scsi_exact)
{
	struct gcs_proto_modify_req m = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_REMOVE,
		.resource_type = GCS_RESOURCE_SCSI_DEVICE,
		.has_settings = true,
		.settings.scsi_device = { .controller = 1, .lun = 9 },
	};
	struct gcs_proto_modify_req out;

	/* Controller before Lun, unlike MappedVirtualDisk. */
	assert_encodes_to(&m, BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"SCSIDevice\","
				   "\"Settings\":{\"Controller\":1,\"Lun\":9}}"));
	decode_reencodes(BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"SCSIDevice\","
			      "\"Settings\":{\"Controller\":1,\"Lun\":9}}"),
			 &out);
	ck_assert_uint_eq(out.settings.scsi_device.controller, 1);
	ck_assert_uint_eq(out.settings.scsi_device.lun, 9);
	gcs_proto_release(&out);

	/* Keys in another order decode the same. */
	decode_ok(BODY("{\"Settings\":{\"Lun\":9,\"Controller\":1},\"ResourceType\":\"SCSIDevice\","
		       "\"RequestType\":\"Remove\"}"),
		  &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_REMOVE);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_SCSI_DEVICE);
	ck_assert_uint_eq(out.settings.scsi_device.controller, 1);
	ck_assert_uint_eq(out.settings.scsi_device.lun, 9);
	gcs_proto_release(&out);
}
END_TEST

/* ---- 10.3 VPMemDevice ---- */

static const struct gcs_proto_vpmem_mapping vpmem_map = {
	.device_offset_in_bytes = 4096,
	.device_size_in_bytes = 8589934592ULL,
};

static const struct gcs_proto_modify_req vpmem_full = {
	.base = { .container_id = Z, .activity_id = ACT },
	.request_type = GCS_REQUEST_TYPE_ADD,
	.resource_type = GCS_RESOURCE_VPMEM_DEVICE,
	.has_settings = true,
	.settings.vpmem_device = {
		.device_number = 127,
		.mount_path = "/run/layers/p127-4096-8589934592",
		.mapping_info = &vpmem_map,
		.verity_info = &verity,
	},
};

START_TEST(test_vpmem_round_trip)
{
	const struct gcs_proto_vpmem_device *b;
	struct gcs_proto_modify_req out;

	round_trip(&vpmem_full, &out);
	b = &out.settings.vpmem_device;
	ck_assert_uint_eq(b->device_number, 127);
	ck_assert_str_eq(b->mount_path, "/run/layers/p127-4096-8589934592");
	ck_assert_ptr_nonnull(b->mapping_info);
	ck_assert_ptr_ne(b->mapping_info, &vpmem_map);
	ck_assert_uint_eq(b->mapping_info->device_offset_in_bytes, 4096);
	ck_assert_uint_eq(b->mapping_info->device_size_in_bytes, 8589934592ULL);
	assert_verity_eq(b->verity_info, &verity);
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_vpmem_exact)
{
	static const struct gcs_proto_vpmem_mapping zero_map;
	static const struct gcs_proto_verity_info zero_verity;
	struct gcs_proto_modify_req m = vpmem_full;
	struct gcs_proto_modify_req out;

	assert_encodes_to(&vpmem_full,
			  BODY_FULL(Z, ACT,
				    "{\"RequestType\":\"Add\",\"ResourceType\":\"VPMemDevice\","
				    "\"Settings\":{\"DeviceNumber\":127,"
				    "\"MountPath\":\"/run/layers/p127-4096-8589934592\","
				    "\"MappingInfo\":{\"DeviceOffsetInBytes\":4096,"
				    "\"DeviceSizeInBytes\":8589934592},\"VerityInfo\":" VERITY_JSON
				    "}}"));

	/* Go writes a non-nil pointer to an empty struct as {}; it decodes to a non-NULL pointer. */
	m.base.activity_id = Z;
	m.settings.vpmem_device.device_number = UINT32_MAX;
	m.settings.vpmem_device.mapping_info = &zero_map;
	m.settings.vpmem_device.verity_info = &zero_verity;
	assert_encodes_to(&m, BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"VPMemDevice\","
				   "\"Settings\":{\"DeviceNumber\":4294967295,"
				   "\"MountPath\":\"/run/layers/p127-4096-8589934592\","
				   "\"MappingInfo\":{},\"VerityInfo\":{}}}"));
	decode_reencodes(BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"VPMemDevice\","
			      "\"Settings\":{\"DeviceNumber\":4294967295,"
			      "\"MountPath\":\"/run/layers/p127-4096-8589934592\","
			      "\"MappingInfo\":{},\"VerityInfo\":{}}}"),
			 &out);
	ck_assert_uint_eq(out.settings.vpmem_device.device_number, UINT32_MAX);
	ck_assert_ptr_nonnull(out.settings.vpmem_device.mapping_info);
	ck_assert_uint_eq(out.settings.vpmem_device.mapping_info->device_offset_in_bytes, 0);
	ck_assert_uint_eq(out.settings.vpmem_device.mapping_info->device_size_in_bytes, 0);
	ck_assert_ptr_nonnull(out.settings.vpmem_device.verity_info);
	ck_assert_int_eq(out.settings.vpmem_device.verity_info->version, 0);
	ck_assert_str_eq(out.settings.vpmem_device.verity_info->algorithm, "");
	gcs_proto_release(&out);

	/* Only MappingInfo's size set. */
	m.settings.vpmem_device.device_number = 0;
	m.settings.vpmem_device.mount_path = NULL;
	m.settings.vpmem_device.mapping_info = &(const struct gcs_proto_vpmem_mapping){
		.device_size_in_bytes = 512,
	};
	m.settings.vpmem_device.verity_info = NULL;
	assert_encodes_to(&m, BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"VPMemDevice\","
				   "\"Settings\":{\"MappingInfo\":{\"DeviceSizeInBytes\":512}}}"));
}
END_TEST

/* ---- 10.4 CombinedLayers ---- */

static const struct gcs_proto_layer layers3[] = {
	{ .id = "l2", .path = "/run/layers/p2", .path_type = "AbsolutePath", .cache = "c2" },
	{ .id = "l1", .path = "/run/layers/p1", .path_type = "VirtualSmbPipeName", .cache = "c1" },
	{ .id = "l0", .path = "/run/mounts/scsi/m0", .path_type = "AbsolutePath", .cache = "c0" },
};

static const struct gcs_proto_modify_req layers_full = {
	.base = { .container_id = CID, .activity_id = ACT },
	.request_type = GCS_REQUEST_TYPE_ADD,
	.resource_type = GCS_RESOURCE_COMBINED_LAYERS,
	.has_settings = true,
	.settings.combined_layers = {
		.container_id = CID,
		.container_root_path = "/run/gcs/c/" CID "/rootfs",
		.layers = layers3,
		.n_layers = 3,
		.scratch_path = "/run/gcs/c/" CID "/scratch/" CID,
	},
};

START_TEST(test_layers_round_trip)
{
	const struct gcs_proto_combined_layers *b;
	struct gcs_proto_modify_req out;

	round_trip(&layers_full, &out);
	b = &out.settings.combined_layers;
	ck_assert_str_eq(b->container_id, CID);
	ck_assert_str_eq(b->container_root_path, "/run/gcs/c/" CID "/rootfs");
	ck_assert_str_eq(b->scratch_path, "/run/gcs/c/" CID "/scratch/" CID);
	ck_assert_uint_eq(b->n_layers, 3);
	ck_assert_ptr_ne(b->layers, layers3);
	/* Order preserved: the first entry is the top-most layer. */
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(b->layers[i].id, layers3[i].id);
		ck_assert_str_eq(b->layers[i].path, layers3[i].path);
		ck_assert_str_eq(b->layers[i].path_type, layers3[i].path_type);
		ck_assert_str_eq(b->layers[i].cache, layers3[i].cache);
	}
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_layers_exact)
{
	static const struct gcs_proto_layer paths[] = {
		{ .path = "/run/layers/p2" },
		{ .path = "/run/layers/p1", .id = "" },
		{ .cache = "c" },
	};
	struct gcs_proto_modify_req m = layers_full;
	struct gcs_proto_modify_req out;

	assert_encodes_to(
		&layers_full,
		BODY_FULL(
			CID, ACT,
			"{\"RequestType\":\"Add\",\"ResourceType\":\"CombinedLayers\","
			"\"Settings\":{\"ContainerID\":\"" CID "\","
			"\"ContainerRootPath\":\"/run/gcs/c/" CID "/rootfs\",\"Layers\":["
			"{\"Id\":\"l2\",\"Path\":\"/run/layers/p2\",\"PathType\":\"AbsolutePath\","
			"\"Cache\":\"c2\"},"
			"{\"Id\":\"l1\",\"Path\":\"/run/layers/p1\","
			"\"PathType\":\"VirtualSmbPipeName\",\"Cache\":\"c1\"},"
			"{\"Id\":\"l0\",\"Path\":\"/run/mounts/scsi/m0\","
			"\"PathType\":\"AbsolutePath\",\"Cache\":\"c0\"}],"
			"\"ScratchPath\":\"/run/gcs/c/" CID "/scratch/" CID "\"}}"));

	/* Empty strings inside layer objects are left out too; an all-empty layer is {}. */
	m.base.activity_id = Z;
	m.settings.combined_layers.layers = paths;
	m.settings.combined_layers.scratch_path = "";
	assert_encodes_to(&m, BODY_FOR(CID, "{\"RequestType\":\"Add\","
					    "\"ResourceType\":\"CombinedLayers\","
					    "\"Settings\":{\"ContainerID\":\"" CID "\","
					    "\"ContainerRootPath\":\"/run/gcs/c/" CID "/rootfs\","
					    "\"Layers\":[{\"Path\":\"/run/layers/p2\"},"
					    "{\"Path\":\"/run/layers/p1\"},{\"Cache\":\"c\"}]}}"));
	decode_ok(BODY_FOR(CID,
			   "{\"RequestType\":\"Add\",\"ResourceType\":\"CombinedLayers\","
			   "\"Settings\":{\"Layers\":[{\"Path\":\"/b\"},{},{\"Path\":\"/a\"}]}}"),
		  &out);
	ck_assert_uint_eq(out.settings.combined_layers.n_layers, 3);
	ck_assert_str_eq(out.settings.combined_layers.layers[0].path, "/b");
	ck_assert_str_eq(out.settings.combined_layers.layers[1].path, "");
	ck_assert_str_eq(out.settings.combined_layers.layers[1].id, "");
	ck_assert_str_eq(out.settings.combined_layers.layers[2].path, "/a");
	ck_assert_str_eq(out.settings.combined_layers.scratch_path, "");
	gcs_proto_release(&out);

	/* No layers: Layers is left out; an empty array decodes to none. */
	m.settings.combined_layers.n_layers = 0;
	assert_encodes_to(&m,
			  BODY_FOR(CID, "{\"RequestType\":\"Add\","
					"\"ResourceType\":\"CombinedLayers\","
					"\"Settings\":{\"ContainerID\":\"" CID "\","
					"\"ContainerRootPath\":\"/run/gcs/c/" CID "/rootfs\"}}"));
	decode_ok(BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"CombinedLayers\","
		       "\"Settings\":{\"Layers\":[]}}"),
		  &out);
	ck_assert_uint_eq(out.settings.combined_layers.n_layers, 0);
	ck_assert_ptr_null(out.settings.combined_layers.layers);
	gcs_proto_release(&out);
}
END_TEST

/* ---- 10.5 MappedDirectory ---- */

START_TEST(test_mapped_dir_round_trip)
{
	const struct gcs_proto_modify_req in = {
		.base = { .container_id = CID, .activity_id = ACT },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_MAPPED_DIRECTORY,
		.has_settings = true,
		.settings.mapped_directory = {
			.mount_path = "/run/gcs/c/" CID "/mounts/m3",
			.port = INT32_MAX,
			.share_name = "3",
			.read_only = true,
		},
	};
	struct gcs_proto_modify_req out;

	round_trip(&in, &out);
	ck_assert_str_eq(out.settings.mapped_directory.mount_path, "/run/gcs/c/" CID "/mounts/m3");
	ck_assert_int_eq(out.settings.mapped_directory.port, INT32_MAX);
	ck_assert_str_eq(out.settings.mapped_directory.share_name, "3");
	ck_assert(out.settings.mapped_directory.read_only);
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_mapped_dir_exact)
{
	struct gcs_proto_modify_req m = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_MAPPED_DIRECTORY,
		.has_settings = true,
		.settings.mapped_directory = {
			.mount_path = "/run/mounts/m0",
			.port = 564,
			.share_name = "0", /* "0" is not empty: written */
			.read_only = true,
		},
	};
	struct gcs_proto_modify_req out;

	assert_encodes_to(&m, BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedDirectory\","
				   "\"Settings\":{\"MountPath\":\"/run/mounts/m0\",\"Port\":564,"
				   "\"ShareName\":\"0\",\"ReadOnly\":true}}"));
	/* Port is an int32: negative values are written and read back. */
	m.request_type = GCS_REQUEST_TYPE_REMOVE;
	m.settings.mapped_directory.port = INT32_MIN;
	m.settings.mapped_directory.read_only = false;
	assert_encodes_to(&m,
			  BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"MappedDirectory\","
			       "\"Settings\":{\"MountPath\":\"/run/mounts/m0\","
			       "\"Port\":-2147483648,\"ShareName\":\"0\"}}"));
	decode_reencodes(BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"MappedDirectory\","
			      "\"Settings\":{\"MountPath\":\"/run/mounts/m0\","
			      "\"Port\":-2147483648,\"ShareName\":\"0\"}}"),
			 &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_REMOVE);
	ck_assert_int_eq(out.settings.mapped_directory.port, INT32_MIN);
	ck_assert_str_eq(out.settings.mapped_directory.share_name, "0");
	ck_assert(!out.settings.mapped_directory.read_only);
	gcs_proto_release(&out);
}
END_TEST

/* ---- 10.6 Network ---- */

#define NS_ID "9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"
#define NIC_ID "0c7d5e2a-6b1f-4e3d-8a9b-7c6d5e4f3a2b"

static const struct gcs_proto_ip_config net_ips[] = {
	{ .ip_address = "10.1.0.5", .prefix_length = 24 },
	{ .ip_address = "fd00::5", .prefix_length = 128 },
};

static const struct gcs_proto_route net_routes[] = {
	{ .next_hop = "10.1.0.1", .destination_prefix = "0.0.0.0/0", .metric = 256 },
	{ .next_hop = "fd00::1", .destination_prefix = "::/0", .metric = 65535 },
};

static const struct gcs_proto_modify_req net_full = {
	.base = { .container_id = Z, .activity_id = ACT },
	.request_type = GCS_REQUEST_TYPE_ADD,
	.resource_type = GCS_RESOURCE_NETWORK,
	.has_settings = true,
	.settings.network = {
		.namespace_id = NS_ID,
		.id = NIC_ID,
		.mac_address = "00-15-5D-52-C0-01",
		.dns_suffix = "a.b,c.d",
		.dns_server_list = "10.0.0.10,10.0.0.11",
		.encap_overhead = 50,
		.vpci_assigned = true,
		.ip_configs = net_ips,
		.n_ip_configs = 2,
		.routes = net_routes,
		.n_routes = 2,
		.policy_based_routing = true,
		.enable_low_metric = true,
	},
};

START_TEST(test_network_round_trip)
{
	const struct gcs_proto_network_adapter *b;
	struct gcs_proto_modify_req out;

	round_trip(&net_full, &out);
	b = &out.settings.network;
	ck_assert_str_eq(b->namespace_id, NS_ID);
	ck_assert_str_eq(b->id, NIC_ID);
	ck_assert_str_eq(b->mac_address, "00-15-5D-52-C0-01");
	ck_assert_str_eq(b->dns_suffix, "a.b,c.d");
	ck_assert_str_eq(b->dns_server_list, "10.0.0.10,10.0.0.11");
	ck_assert_uint_eq(b->encap_overhead, 50);
	ck_assert(b->vpci_assigned);
	ck_assert_uint_eq(b->n_ip_configs, 2);
	ck_assert_uint_eq(b->n_routes, 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_str_eq(b->ip_configs[i].ip_address, net_ips[i].ip_address);
		ck_assert_uint_eq(b->ip_configs[i].prefix_length, net_ips[i].prefix_length);
		ck_assert_str_eq(b->routes[i].next_hop, net_routes[i].next_hop);
		ck_assert_str_eq(b->routes[i].destination_prefix, net_routes[i].destination_prefix);
		ck_assert_uint_eq(b->routes[i].metric, net_routes[i].metric);
	}
	ck_assert(b->policy_based_routing);
	ck_assert(b->enable_low_metric);
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_network_exact)
{
	static const struct gcs_proto_ip_config ip0[] = { { .ip_address = "10.1.0.6" } };
	static const struct gcs_proto_route r0[] = { { .destination_prefix = "10.0.0.0/8" } };
	struct gcs_proto_modify_req m = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_REMOVE,
		.resource_type = GCS_RESOURCE_NETWORK,
		.has_settings = true,
		.settings.network = { .namespace_id = NS_ID, .id = NIC_ID },
	};
	struct gcs_proto_modify_req out;

	/* LCOWNetworkAdapter's order: the arrays come after VPCIAssigned. */
	assert_encodes_to(
		&net_full,
		BODY_FULL(
			Z, ACT,
			"{\"RequestType\":\"Add\",\"ResourceType\":\"Network\",\"Settings\":{"
			"\"NamespaceID\":\"" NS_ID "\",\"ID\":\"" NIC_ID "\","
			"\"MacAddress\":\"00-15-5D-52-C0-01\",\"DNSSuffix\":\"a.b,c.d\","
			"\"DNSServerList\":\"10.0.0.10,10.0.0.11\",\"EncapOverhead\":50,"
			"\"VPCIAssigned\":true,"
			"\"IPConfigs\":[{\"IPAddress\":\"10.1.0.5\",\"PrefixLength\":24},"
			"{\"IPAddress\":\"fd00::5\",\"PrefixLength\":128}],"
			"\"Routes\":[{\"NextHop\":\"10.1.0.1\",\"DestinationPrefix\":\"0.0.0.0/0\","
			"\"Metric\":256},{\"NextHop\":\"fd00::1\",\"DestinationPrefix\":\"::/0\","
			"\"Metric\":65535}],"
			"\"PolicyBasedRouting\":true,\"EnableLowMetric\":true}}"));

	/* Spec 10.6: a remove sends only NamespaceID and ID. */
	assert_encodes_to(&m, BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"Network\","
				   "\"Settings\":{\"NamespaceID\":\"" NS_ID "\",\"ID\":\"" NIC_ID
				   "\"}}"));
	decode_reencodes(BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"Network\","
			      "\"Settings\":{\"NamespaceID\":\"" NS_ID "\",\"ID\":\"" NIC_ID
			      "\"}}"),
			 &out);
	ck_assert_str_eq(out.settings.network.namespace_id, NS_ID);
	ck_assert_str_eq(out.settings.network.id, NIC_ID);
	ck_assert_str_eq(out.settings.network.mac_address, "");
	ck_assert_uint_eq(out.settings.network.n_ip_configs, 0);
	ck_assert_ptr_null(out.settings.network.ip_configs);
	ck_assert_uint_eq(out.settings.network.n_routes, 0);
	ck_assert_ptr_null(out.settings.network.routes);
	gcs_proto_release(&out);

	/* Zero members of array elements are left out as well. */
	m.settings.network.ip_configs = ip0;
	m.settings.network.n_ip_configs = 1;
	m.settings.network.routes = r0;
	m.settings.network.n_routes = 1;
	assert_encodes_to(&m, BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"Network\","
				   "\"Settings\":{\"NamespaceID\":\"" NS_ID "\",\"ID\":\"" NIC_ID
				   "\",\"IPConfigs\":[{\"IPAddress\":\"10.1.0.6\"}],"
				   "\"Routes\":[{\"DestinationPrefix\":\"10.0.0.0/8\"}]}}"));
}
END_TEST

/* ---- 10.7 VPCIDevice ---- */

START_TEST(test_vpci)
{
	const struct gcs_proto_modify_req in = {
		.base = { .container_id = CID, .activity_id = ACT },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_VPCI_DEVICE,
		.has_settings = true,
		.settings.vpci_device = { .vmbus_guid = "4b2d8f10-1c2e-4f5a-9b8c-7d6e5f4a3b2c" },
	};
	struct gcs_proto_modify_req out;

	round_trip(&in, &out);
	ck_assert_str_eq(out.settings.vpci_device.vmbus_guid,
			 "4b2d8f10-1c2e-4f5a-9b8c-7d6e5f4a3b2c");
	gcs_proto_release(&out);

	assert_encodes_to(&in, BODY_FULL(CID, ACT,
					 "{\"RequestType\":\"Add\",\"ResourceType\":\"VPCIDevice\","
					 "\"Settings\":{\"VMBusGUID\":"
					 "\"4b2d8f10-1c2e-4f5a-9b8c-7d6e5f4a3b2c\"}}"));
	decode_ok(BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"VPCIDevice\",\"Settings\":{}}"),
		  &out);
	ck_assert(out.has_settings);
	ck_assert_str_eq(out.settings.vpci_device.vmbus_guid, "");
	gcs_proto_release(&out);
}
END_TEST

/* ---- 10.9 ContainerConstraints ---- */

static json_t *json_parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	ck_assert_msg(v != NULL, "bad test JSON %s: %s", text, jerr.text);
	return v;
}

START_TEST(test_constraints_round_trip)
{
	json_t *win = json_parse("{\"memory\":{\"limit\":2097152},\"cpu\":{\"count\":2}}");
	json_t *lin = json_parse("{\"memory\":{\"limit\":1048576,\"reservation\":524288},"
				 "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000},"
				 "\"pids\":{\"limit\":64}}");
	const struct gcs_proto_modify_req in = {
		.base = { .container_id = CID, .activity_id = ACT },
		.request_type = GCS_REQUEST_TYPE_UPDATE,
		.resource_type = GCS_RESOURCE_CONTAINER_CONSTRAINTS,
		.has_settings = true,
		.settings.container_constraints = { .windows_resources = win,
						    .linux_resources = lin },
	};
	struct gcs_proto_modify_req out;

	round_trip(&in, &out);
	ck_assert_ptr_nonnull(out.settings.container_constraints.windows_resources);
	ck_assert_ptr_nonnull(out.settings.container_constraints.linux_resources);
	ck_assert_ptr_ne(out.settings.container_constraints.linux_resources, lin);
	ck_assert(json_equal(out.settings.container_constraints.windows_resources, win));
	ck_assert(json_equal(out.settings.container_constraints.linux_resources, lin));
	gcs_proto_release(&out);
	/* The encoder took references of its own and gave them back. */
	ck_assert_int_eq(win->refcount, 1);
	ck_assert_int_eq(lin->refcount, 1);
	json_decref(win);
	json_decref(lin);
}
END_TEST

START_TEST(test_constraints_exact)
{
	json_t *lin = json_parse("{\"memory\":{\"limit\":1048576}}");
	struct gcs_proto_modify_req m = {
		.base = { .container_id = CID, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_UPDATE,
		.resource_type = GCS_RESOURCE_CONTAINER_CONSTRAINTS,
		.has_settings = true,
		.settings.container_constraints = { .linux_resources = lin },
	};
	const struct gcs_proto_container_constraints *c;
	struct gcs_proto_modify_req out;

	/* Spec 10.9: sent with the container's ID; Windows is a struct, so always written. */
	assert_encodes_to(&m, BODY_FOR(CID, "{\"RequestType\":\"Update\","
					    "\"ResourceType\":\"ContainerConstraints\","
					    "\"Settings\":{\"Windows\":{},"
					    "\"Linux\":{\"memory\":{\"limit\":1048576}}}}"));
	json_decref(lin);
	decode_reencodes(BODY_FOR(CID, "{\"RequestType\":\"Update\","
				       "\"ResourceType\":\"ContainerConstraints\","
				       "\"Settings\":{\"Windows\":{},"
				       "\"Linux\":{\"memory\":{\"limit\":1048576}}}}"),
			 &out);
	c = &out.settings.container_constraints;
	ck_assert_str_eq(out.base.container_id, CID);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_UPDATE);
	ck_assert_ptr_nonnull(c->windows_resources);
	ck_assert(json_is_object(c->windows_resources));
	ck_assert_uint_eq(json_object_size(c->windows_resources), 0);
	ck_assert_ptr_nonnull(c->linux_resources);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(c->linux_resources, "memory"), "limit")),
			 1048576);
	gcs_proto_release(&out);

	/* Neither: two empty objects. Missing objects decode to NULL and encode as {} again. */
	m.settings.container_constraints.linux_resources = NULL;
	assert_encodes_to(&m, BODY_FOR(CID, "{\"RequestType\":\"Update\","
					    "\"ResourceType\":\"ContainerConstraints\","
					    "\"Settings\":{\"Windows\":{},\"Linux\":{}}}"));
	decode_ok(BODY_FOR(CID, "{\"RequestType\":\"Update\","
				"\"ResourceType\":\"ContainerConstraints\",\"Settings\":{}}"),
		  &out);
	ck_assert(out.has_settings);
	ck_assert_ptr_null(out.settings.container_constraints.windows_resources);
	ck_assert_ptr_null(out.settings.container_constraints.linux_resources);
	assert_encodes_to(&out, BODY_FOR(CID, "{\"RequestType\":\"Update\","
					      "\"ResourceType\":\"ContainerConstraints\","
					      "\"Settings\":{\"Windows\":{},\"Linux\":{}}}"));
	gcs_proto_release(&out);
}
END_TEST

/* ---- 10.8 SecurityPolicy / SecurityPolicyFragment ---- */

START_TEST(test_security_policy)
{
	const struct gcs_proto_modify_req in = {
		.base = { .container_id = Z, .activity_id = ACT },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_SECURITY_POLICY,
		.has_settings = true,
		.settings.security_policy = {
			.enforcer_type = "rego",
			.encoded_security_policy = "cGFja2FnZSBwb2xpY3k+Lz0/",
			.encoded_uvm_reference = "dXZtLXJlZg==",
			.encoded_uvm_hash_envelope_reference = "ZW52ZWxvcGU=",
		},
	};
	const struct gcs_proto_security_policy *p;
	struct gcs_proto_modify_req out;

	round_trip(&in, &out);
	p = &out.settings.security_policy;
	ck_assert_str_eq(p->enforcer_type, "rego");
	ck_assert_str_eq(p->encoded_security_policy, "cGFja2FnZSBwb2xpY3k+Lz0/");
	ck_assert_str_eq(p->encoded_uvm_reference, "dXZtLXJlZg==");
	ck_assert_str_eq(p->encoded_uvm_hash_envelope_reference, "ZW52ZWxvcGU=");
	gcs_proto_release(&out);

	assert_encodes_to(&in,
			  BODY_FULL(Z, ACT,
				    "{\"RequestType\":\"Add\",\"ResourceType\":\"SecurityPolicy\","
				    "\"Settings\":{\"EnforcerType\":\"rego\","
				    "\"EncodedSecurityPolicy\":\"cGFja2FnZSBwb2xpY3k+Lz0/\","
				    "\"EncodedUVMReference\":\"dXZtLXJlZg==\","
				    "\"EncodedUVMHashEnvelopeReference\":\"ZW52ZWxvcGU=\"}}"));
	/* An open-door policy as hcsshim sends it without a policy file. */
	decode_reencodes(BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"SecurityPolicy\","
			      "\"Settings\":{\"EncodedSecurityPolicy\":\"b3Blbl9kb29y\"}}"),
			 &out);
	ck_assert_str_eq(out.settings.security_policy.enforcer_type, "");
	ck_assert_str_eq(out.settings.security_policy.encoded_security_policy, "b3Blbl9kb29y");
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_policy_fragment)
{
	const struct gcs_proto_modify_req in = {
		.base = { .container_id = Z, .activity_id = ACT },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_SECURITY_POLICY_FRAGMENT,
		.has_settings = true,
		.settings.policy_fragment = {
			.fragment = "ZnJhZ21lbnQ=",
			.media_type = "application/cose-x509+rego",
		},
	};
	struct gcs_proto_modify_req out;

	round_trip(&in, &out);
	ck_assert_str_eq(out.settings.policy_fragment.fragment, "ZnJhZ21lbnQ=");
	ck_assert_str_eq(out.settings.policy_fragment.media_type, "application/cose-x509+rego");
	gcs_proto_release(&out);

	assert_encodes_to(&in, BODY_FULL(Z, ACT,
					 "{\"RequestType\":\"Add\","
					 "\"ResourceType\":\"SecurityPolicyFragment\","
					 "\"Settings\":{\"Fragment\":\"ZnJhZ21lbnQ=\","
					 "\"MediaType\":\"application/cose-x509+rego\"}}"));
	/* MediaType is omitempty: older hosts leave it out. */
	decode_reencodes(
		BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"SecurityPolicyFragment\","
		     "\"Settings\":{\"Fragment\":\"eA==\"}}"),
		&out);
	ck_assert_str_eq(out.settings.policy_fragment.fragment, "eA==");
	ck_assert_str_eq(out.settings.policy_fragment.media_type, "");
	gcs_proto_release(&out);
}
END_TEST

/* ---- 10.10 PodCgroupMemoryLimit ---- */

START_TEST(test_pod_cgroup_memory_limit)
{
	const struct gcs_proto_modify_req in = {
		.base = { .container_id = Z, .activity_id = ACT },
		.request_type = GCS_REQUEST_TYPE_UPDATE,
		.resource_type = GCS_RESOURCE_POD_CGROUP_MEMORY_LIMIT,
	};
	struct gcs_proto_modify_req out;

	round_trip(&in, &out);
	ck_assert(!out.has_settings);
	gcs_proto_release(&out);

	assert_encodes_to(&in, BODY_FULL(Z, ACT,
					 "{\"RequestType\":\"Update\","
					 "\"ResourceType\":\"PodCgroupMemoryLimit\"}"));
	decode_reencodes(BODY("{\"RequestType\":\"Update\","
			      "\"ResourceType\":\"PodCgroupMemoryLimit\"}"),
			 &out);
	ck_assert_str_eq(out.base.container_id, Z);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_UPDATE);
	ck_assert_str_eq(out.request_type_name, "Update");
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_POD_CGROUP_MEMORY_LIMIT);
	ck_assert_str_eq(out.resource_type_name, "PodCgroupMemoryLimit");
	ck_assert(!out.has_settings);
	ck_assert_ptr_null(out.raw_settings);
	gcs_proto_release(&out);
}
END_TEST

/* ---- lcow extension: LcowContainerOperation (docs/protocol.md) ---- */

START_TEST(test_container_operation_round_trip)
{
	const struct gcs_proto_modify_req in = {
		.base = { .container_id = CID, .activity_id = ACT },
		.request_type = GCS_REQUEST_TYPE_UPDATE,
		.resource_type = GCS_RESOURCE_LCOW_CONTAINER_OPERATION,
		.has_settings = true,
		.settings.container_operation = { .operation = "KillAll", .signal = 15 },
	};
	struct gcs_proto_modify_req out;

	round_trip(&in, &out);
	ck_assert_str_eq(out.settings.container_operation.operation, "KillAll");
	ck_assert_int_eq(out.settings.container_operation.signal, 15);
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_container_operation_exact)
{
	struct gcs_proto_modify_req m = {
		.base = { .container_id = CID, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_UPDATE,
		.resource_type = GCS_RESOURCE_LCOW_CONTAINER_OPERATION,
		.has_settings = true,
		.settings.container_operation = { .operation = "KillAll", .signal = 15 },
	};
	struct gcs_proto_modify_req out;

	/* Field order Operation, Signal. */
	assert_encodes_to(&m,
			  BODY_FOR(CID, "{\"RequestType\":\"Update\","
					"\"ResourceType\":\"LcowContainerOperation\","
					"\"Settings\":{\"Operation\":\"KillAll\",\"Signal\":15}}"));
	/* Signal is omitempty: 0 (the guest's SIGKILL) is left out. */
	m.settings.container_operation.signal = 0;
	assert_encodes_to(&m, BODY_FOR(CID, "{\"RequestType\":\"Update\","
					    "\"ResourceType\":\"LcowContainerOperation\","
					    "\"Settings\":{\"Operation\":\"KillAll\"}}"));
	m.settings.container_operation.operation = "Pause";
	assert_encodes_to(&m, BODY_FOR(CID, "{\"RequestType\":\"Update\","
					    "\"ResourceType\":\"LcowContainerOperation\","
					    "\"Settings\":{\"Operation\":\"Pause\"}}"));

	decode_reencodes(BODY_FOR(CID, "{\"RequestType\":\"Update\","
				       "\"ResourceType\":\"LcowContainerOperation\","
				       "\"Settings\":{\"Operation\":\"Resume\"}}"),
			 &out);
	ck_assert_str_eq(out.base.container_id, CID);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_UPDATE);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_LCOW_CONTAINER_OPERATION);
	ck_assert_str_eq(out.resource_type_name, "LcowContainerOperation");
	ck_assert(out.has_settings);
	ck_assert_ptr_null(out.raw_settings);
	ck_assert_str_eq(out.settings.container_operation.operation, "Resume");
	ck_assert_int_eq(out.settings.container_operation.signal, 0);
	gcs_proto_release(&out);

	/* Go's rules: missing or null fields are zero, unknown ones are ignored. */
	decode_ok(BODY_FOR(CID, "{\"RequestType\":\"Update\","
				"\"ResourceType\":\"LcowContainerOperation\","
				"\"Settings\":{\"Operation\":null,\"Signal\":null,\"X\":[1]}}"),
		  &out);
	ck_assert_str_eq(out.settings.container_operation.operation, "");
	ck_assert_int_eq(out.settings.container_operation.signal, 0);
	assert_encodes_to(&out, BODY_FOR(CID, "{\"RequestType\":\"Update\","
					      "\"ResourceType\":\"LcowContainerOperation\","
					      "\"Settings\":{}}"));
	gcs_proto_release(&out);
	decode_ok(BODY_FOR(CID, "{\"RequestType\":\"Update\","
				"\"ResourceType\":\"LcowContainerOperation\"}"),
		  &out);
	ck_assert(!out.has_settings);
	ck_assert_str_eq(out.settings.container_operation.operation, "");
	gcs_proto_release(&out);
	/* A negative signal is a valid int32 on the wire; the guest judges it. */
	decode_reencodes(BODY_FOR(CID, "{\"RequestType\":\"Update\","
				       "\"ResourceType\":\"LcowContainerOperation\","
				       "\"Settings\":{\"Operation\":\"KillAll\",\"Signal\":-1}}"),
			 &out);
	ck_assert_int_eq(out.settings.container_operation.signal, -1);
	gcs_proto_release(&out);
}
END_TEST

/* ---- spec 14.1: the replay transcript's ModifySettings requests ---- */

static const struct gcs_proto_layer transcript_layers[] = { { .path = "/run/layers/p0" } };

static const struct {
	uint64_t id;
	struct gcs_proto_modify_req m;
	const char *body;
} transcript[] = {
	{ 1,
	  { .base = { .container_id = Z, .activity_id = Z },
	    .request_type = GCS_REQUEST_TYPE_ADD,
	    .resource_type = GCS_RESOURCE_VPMEM_DEVICE,
	    .has_settings = true,
	    .settings.vpmem_device = { .mount_path = "/run/layers/p0" } },
	  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"VPMemDevice\","
	       "\"Settings\":{\"MountPath\":\"/run/layers/p0\"}}") },
	{ 2,
	  { .base = { .container_id = Z, .activity_id = Z },
	    .request_type = GCS_REQUEST_TYPE_ADD,
	    .resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK,
	    .has_settings = true,
	    .settings.mapped_virtual_disk = { .mount_path = "/run/gcs/c/" CID,
					      .ensure_filesystem = true,
					      .filesystem = "ext4" } },
	  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\","
	       "\"Settings\":{\"MountPath\":\"/run/gcs/c/" CID "\",\"EnsureFilesystem\":true,"
	       "\"Filesystem\":\"ext4\"}}") },
	{ 3,
	  { .base = { .container_id = Z, .activity_id = Z },
	    .request_type = GCS_REQUEST_TYPE_ADD,
	    .resource_type = GCS_RESOURCE_COMBINED_LAYERS,
	    .has_settings = true,
	    .settings.combined_layers = { .container_id = CID,
					  .container_root_path = "/run/gcs/c/" CID "/rootfs",
					  .layers = transcript_layers,
					  .n_layers = 1,
					  .scratch_path = "/run/gcs/c/" CID "/scratch/" CID } },
	  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"CombinedLayers\","
	       "\"Settings\":{\"ContainerID\":\"" CID "\","
	       "\"ContainerRootPath\":\"/run/gcs/c/" CID "/rootfs\","
	       "\"Layers\":[{\"Path\":\"/run/layers/p0\"}],"
	       "\"ScratchPath\":\"/run/gcs/c/" CID "/scratch/" CID "\"}}") },
	{ 15,
	  { .base = { .container_id = Z, .activity_id = Z },
	    .request_type = GCS_REQUEST_TYPE_REMOVE,
	    .resource_type = GCS_RESOURCE_COMBINED_LAYERS,
	    .has_settings = true,
	    .settings.combined_layers = { .container_root_path = "/run/gcs/c/" CID "/rootfs" } },
	  BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"CombinedLayers\","
	       "\"Settings\":{\"ContainerRootPath\":\"/run/gcs/c/" CID "/rootfs\"}}") },
	{ 16,
	  { .base = { .container_id = Z, .activity_id = Z },
	    .request_type = GCS_REQUEST_TYPE_REMOVE,
	    .resource_type = GCS_RESOURCE_MAPPED_VIRTUAL_DISK,
	    .has_settings = true,
	    .settings.mapped_virtual_disk = { .mount_path = "/run/gcs/c/" CID } },
	  BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"MappedVirtualDisk\","
	       "\"Settings\":{\"MountPath\":\"/run/gcs/c/" CID "\"}}") },
	{ 17,
	  { .base = { .container_id = Z, .activity_id = Z },
	    .request_type = GCS_REQUEST_TYPE_REMOVE,
	    .resource_type = GCS_RESOURCE_SCSI_DEVICE,
	    .has_settings = true },
	  BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"SCSIDevice\",\"Settings\":{}}") },
	{ 18,
	  { .base = { .container_id = Z, .activity_id = Z },
	    .request_type = GCS_REQUEST_TYPE_REMOVE,
	    .resource_type = GCS_RESOURCE_VPMEM_DEVICE,
	    .has_settings = true,
	    .settings.vpmem_device = { .mount_path = "/run/layers/p0" } },
	  BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"VPMemDevice\","
	       "\"Settings\":{\"MountPath\":\"/run/layers/p0\"}}") },
};

/* Our host encoder writes each body and frame exactly as hcsshim does. */
START_TEST(test_transcript_encode)
{
	const struct gcs_proto_modify_req *m = &transcript[_i].m;
	const char *body = transcript[_i].body;
	size_t body_len = strlen(body) + 1;
	struct gcs_error err = { 0 };
	struct gcs_header h;
	char *frame = NULL;
	size_t len = 0;

	assert_encodes_to(m, body);
	ck_assert_int_eq(gcs_proto_encode_frame(MODIFY, transcript[_i].id, m, GCS_PROTO_STYLE_HOST,
						&frame, &len, &err),
			 0);
	ck_assert_uint_eq(len, GCS_HEADER_SIZE + body_len);
	ck_assert_int_eq(gcs_proto_header_decode((const uint8_t *)frame, 0, &h), 0);
	ck_assert_uint_eq(h.type, 0x10100a01u);
	ck_assert_uint_eq(h.size, len);
	ck_assert_uint_eq(h.id, transcript[_i].id);
	ck_assert(memcmp(frame + GCS_HEADER_SIZE, body, body_len - 1) == 0);
	ck_assert_int_eq(frame[len - 1], '\n');
	free(frame);
}
END_TEST

/* ... and decodes each to the values hcsshim meant (omitted numbers are 0). */
START_TEST(test_transcript_decode)
{
	struct gcs_proto_modify_req out;
	const struct gcs_proto_combined_layers *l = &out.settings.combined_layers;
	const struct gcs_proto_mapped_virtual_disk *d = &out.settings.mapped_virtual_disk;
	const struct gcs_proto_vpmem_device *v = &out.settings.vpmem_device;

	decode_reencodes(transcript[0].body, &out);
	ck_assert_str_eq(out.base.container_id, Z);
	ck_assert_str_eq(out.base.activity_id, Z);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_ADD);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_VPMEM_DEVICE);
	ck_assert_uint_eq(v->device_number, 0);
	ck_assert_str_eq(v->mount_path, "/run/layers/p0");
	ck_assert_ptr_null(v->mapping_info);
	ck_assert_ptr_null(v->verity_info);
	gcs_proto_release(&out);

	decode_reencodes(transcript[1].body, &out);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_MAPPED_VIRTUAL_DISK);
	ck_assert_str_eq(d->mount_path, "/run/gcs/c/" CID);
	ck_assert_uint_eq(d->lun, 0);
	ck_assert_uint_eq(d->controller, 0);
	ck_assert(d->ensure_filesystem);
	ck_assert_str_eq(d->filesystem, "ext4");
	ck_assert(!d->read_only);
	gcs_proto_release(&out);

	decode_reencodes(transcript[2].body, &out);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_COMBINED_LAYERS);
	ck_assert_str_eq(l->container_id, CID);
	ck_assert_str_eq(l->container_root_path, "/run/gcs/c/" CID "/rootfs");
	ck_assert_uint_eq(l->n_layers, 1);
	ck_assert_str_eq(l->layers[0].path, "/run/layers/p0");
	ck_assert_str_eq(l->layers[0].id, "");
	ck_assert_str_eq(l->scratch_path, "/run/gcs/c/" CID "/scratch/" CID);
	gcs_proto_release(&out);

	decode_reencodes(transcript[3].body, &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_REMOVE);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_COMBINED_LAYERS);
	ck_assert_str_eq(l->container_root_path, "/run/gcs/c/" CID "/rootfs");
	ck_assert_str_eq(l->container_id, "");
	ck_assert_uint_eq(l->n_layers, 0);
	ck_assert_str_eq(l->scratch_path, "");
	gcs_proto_release(&out);

	decode_reencodes(transcript[4].body, &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_REMOVE);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_MAPPED_VIRTUAL_DISK);
	ck_assert_str_eq(d->mount_path, "/run/gcs/c/" CID);
	ck_assert(!d->ensure_filesystem);
	gcs_proto_release(&out);

	/* "Settings":{} is present (has_settings) with controller 0, LUN 0. */
	decode_reencodes(transcript[5].body, &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_REMOVE);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_SCSI_DEVICE);
	ck_assert(out.has_settings);
	ck_assert_uint_eq(out.settings.scsi_device.controller, 0);
	ck_assert_uint_eq(out.settings.scsi_device.lun, 0);
	gcs_proto_release(&out);

	decode_reencodes(transcript[6].body, &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_REMOVE);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_VPMEM_DEVICE);
	ck_assert_uint_eq(v->device_number, 0);
	ck_assert_str_eq(v->mount_path, "/run/layers/p0");
	gcs_proto_release(&out);
}
END_TEST

/* hcsshim's own bodies end with json.Encoder's newline and may carry an otsc trace context. */
START_TEST(test_transcript_host_framing)
{
	struct gcs_proto_modify_req out;

	decode_ok("{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z "\",\"otsc\":{\"traceparent\":"
		  "\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"},"
		  "\"Request\":{\"RequestType\":\"Remove\",\"ResourceType\":\"SCSIDevice\","
		  "\"Settings\":{\"Controller\":2,\"Lun\":5}}}\n",
		  &out);
	ck_assert_uint_eq(out.settings.scsi_device.controller, 2);
	ck_assert_uint_eq(out.settings.scsi_device.lun, 5);
	assert_encodes_to(&out, BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"SCSIDevice\","
				     "\"Settings\":{\"Controller\":2,\"Lun\":5}}"));
	gcs_proto_release(&out);
}
END_TEST

/* ---- 7.9: RequestType and ResourceType ---- */

START_TEST(test_request_type_missing)
{
	struct gcs_proto_modify_req out;

	/* Left out: NONE, which the guest treats as Add; re-encoding leaves it out again. */
	decode_reencodes(BODY("{\"ResourceType\":\"VPMemDevice\","
			      "\"Settings\":{\"MountPath\":\"/run/layers/p0\"}}"),
			 &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_NONE);
	ck_assert_ptr_nonnull(out.request_type_name);
	ck_assert_str_eq(out.request_type_name, "");
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_VPMEM_DEVICE);
	ck_assert_str_eq(out.settings.vpmem_device.mount_path, "/run/layers/p0");
	gcs_proto_release(&out);

	/* An empty string is the same as missing. */
	decode_ok(BODY("{\"RequestType\":\"\",\"ResourceType\":\"VPMemDevice\"}"), &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_NONE);
	ck_assert(!out.has_settings);
	assert_encodes_to(&out, BODY("{\"ResourceType\":\"VPMemDevice\"}"));
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_request_types_known)
{
	static const struct {
		const char *name;
		enum gcs_proto_request_type t;
	} known[] = {
		{ "Add", GCS_REQUEST_TYPE_ADD },
		{ "Remove", GCS_REQUEST_TYPE_REMOVE },
		{ "Update", GCS_REQUEST_TYPE_UPDATE },
		{ "PreAdd", GCS_REQUEST_TYPE_PREADD },
	};
	char body[512];

	ck_assert_str_eq(gcs_proto_request_type_str(GCS_REQUEST_TYPE_NONE), "");
	ck_assert_ptr_null(gcs_proto_request_type_str(GCS_REQUEST_TYPE_UNKNOWN));
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		struct gcs_proto_modify_req out;

		ck_assert_str_eq(gcs_proto_request_type_str(known[i].t), known[i].name);
		snprintf(body, sizeof(body),
			 BODY("{\"RequestType\":\"%s\",\"ResourceType\":\"SCSIDevice\","
			      "\"Settings\":{\"Lun\":4}}"),
			 known[i].name);
		decode_reencodes(body, &out);
		ck_assert_int_eq(out.request_type, known[i].t);
		ck_assert_str_eq(out.request_type_name, known[i].name);
		ck_assert_uint_eq(out.settings.scsi_device.lun, 4);
		gcs_proto_release(&out);
	}
}
END_TEST

START_TEST(test_request_type_unknown)
{
	struct gcs_proto_modify_req m = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_UNKNOWN,
		.request_type_name = "Frobnicate",
		.resource_type = GCS_RESOURCE_MAPPED_DIRECTORY,
		.has_settings = true,
		.settings.mapped_directory = { .mount_path = "/m", .port = 564 },
	};
	struct gcs_proto_modify_req out;

	decode_reencodes(
		BODY("{\"RequestType\":\"Frobnicate\",\"ResourceType\":\"MappedDirectory\","
		     "\"Settings\":{\"MountPath\":\"/m\",\"Port\":564}}"),
		&out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_UNKNOWN);
	ck_assert_str_eq(out.request_type_name, "Frobnicate");
	/* The settings are still decoded by their resource type. */
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_MAPPED_DIRECTORY);
	ck_assert_str_eq(out.settings.mapped_directory.mount_path, "/m");
	ck_assert_int_eq(out.settings.mapped_directory.port, 564);
	gcs_proto_release(&out);

	assert_encodes_to(&m, BODY("{\"RequestType\":\"Frobnicate\","
				   "\"ResourceType\":\"MappedDirectory\","
				   "\"Settings\":{\"MountPath\":\"/m\",\"Port\":564}}"));

	/* Names match exactly, as in Go: "add" is not "Add". */
	decode_ok(BODY("{\"RequestType\":\"add\",\"ResourceType\":\"VPCIDevice\"}"), &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_UNKNOWN);
	ck_assert_str_eq(out.request_type_name, "add");
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_resource_type_unknown)
{
	json_t *raw = json_parse("{\"z\":1,\"a\":[true,null,\"x\"],\"m\":{\"k\":\"v\"}}");
	struct gcs_proto_modify_req m = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_UNKNOWN,
		.resource_type_name = "Quux",
		.has_settings = true,
		.raw_settings = raw,
	};
	struct gcs_proto_modify_req out;

	/* Settings are kept as they came and written back in the same order. */
	decode_reencodes(
		BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"Quux\","
		     "\"Settings\":{\"z\":1,\"a\":[true,null,\"x\"],\"m\":{\"k\":\"v\"}}}"),
		&out);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_UNKNOWN);
	ck_assert_str_eq(out.resource_type_name, "Quux");
	ck_assert(out.has_settings);
	ck_assert_ptr_nonnull(out.raw_settings);
	ck_assert(json_equal(out.raw_settings, raw));
	gcs_proto_release(&out);

	assert_encodes_to(&m, BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"Quux\","
				   "\"Settings\":{\"z\":1,\"a\":[true,null,\"x\"],"
				   "\"m\":{\"k\":\"v\"}}}"));
	json_decref(raw);

	/* Any JSON value is kept for a type we do not know. */
	decode_reencodes(BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"Quux\","
			      "\"Settings\":[1,\"two\"]}"),
			 &out);
	ck_assert(json_is_array(out.raw_settings));
	gcs_proto_release(&out);

	/* Without Settings there is nothing to keep. */
	decode_reencodes(BODY("{\"RequestType\":\"Remove\",\"ResourceType\":\"Quux\"}"), &out);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_UNKNOWN);
	ck_assert(!out.has_settings);
	ck_assert_ptr_null(out.raw_settings);
	gcs_proto_release(&out);
}
END_TEST

static const struct {
	const char *name;
	enum gcs_proto_resource_type t;
} windows_types[] = {
	{ "HvSocket", GCS_RESOURCE_HV_SOCKET },
	{ "NetworkNamespace", GCS_RESOURCE_NETWORK_NAMESPACE },
	{ "MappedVirtualDiskForContainerScratch",
	  GCS_RESOURCE_MAPPED_VIRTUAL_DISK_FOR_CONTAINER_SCRATCH },
	{ "WCOWBlockCims", GCS_RESOURCE_WCOW_BLOCK_CIMS },
	{ "CWCOWCombinedLayers", GCS_RESOURCE_CWCOW_COMBINED_LAYERS },
};

START_TEST(test_windows_types)
{
	char body[512];
	struct gcs_proto_modify_req out;

	snprintf(body, sizeof(body),
		 BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"%s\","
		      "\"Settings\":{\"ContainerPath\":\"C:\\\\scratch\",\"Lun\":3,"
		      "\"MountPath\":7}}"),
		 windows_types[_i].name);
	/* Not decoded as the LCOW types (MountPath 7 would be an error there): kept raw. */
	decode_reencodes(body, &out);
	ck_assert_int_eq(out.resource_type, windows_types[_i].t);
	ck_assert_str_eq(out.resource_type_name, windows_types[_i].name);
	ck_assert(out.has_settings);
	ck_assert_ptr_nonnull(out.raw_settings);
	ck_assert_str_eq(json_string_value(json_object_get(out.raw_settings, "ContainerPath")),
			 "C:\\scratch");
	ck_assert_int_eq(json_integer_value(json_object_get(out.raw_settings, "Lun")), 3);
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_resource_type_names)
{
	static const char *const lcow[] = {
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
	};

	/* Every named value round-trips through its wire string. */
	for (int t = GCS_RESOURCE_NONE; t < GCS_RESOURCE_UNKNOWN; t++) {
		const char *s = gcs_proto_resource_type_str((enum gcs_proto_resource_type)t);

		ck_assert_msg(s != NULL, "no name for resource type %d", t);
		ck_assert_int_eq(gcs_proto_resource_type_parse(s), t);
	}
	/* The spec's strings (section 10), literally. */
	ck_assert_str_eq(gcs_proto_resource_type_str(GCS_RESOURCE_NONE), "");
	for (int t = GCS_RESOURCE_MAPPED_VIRTUAL_DISK; t <= GCS_RESOURCE_LCOW_CONTAINER_OPERATION;
	     t++)
		ck_assert_str_eq(gcs_proto_resource_type_str((enum gcs_proto_resource_type)t),
				 lcow[t]);
	for (size_t i = 0; i < sizeof(windows_types) / sizeof(windows_types[0]); i++) {
		ck_assert_str_eq(gcs_proto_resource_type_str(windows_types[i].t),
				 windows_types[i].name);
		ck_assert_int_eq(gcs_proto_resource_type_parse(windows_types[i].name),
				 windows_types[i].t);
	}
	/* UNKNOWN has no string of its own; out-of-range values have none either. */
	ck_assert_ptr_null(gcs_proto_resource_type_str(GCS_RESOURCE_UNKNOWN));
	ck_assert_ptr_null(gcs_proto_resource_type_str(GCS_RESOURCE__COUNT));
	ck_assert_ptr_null(gcs_proto_resource_type_str((enum gcs_proto_resource_type)1000));
	ck_assert_int_eq(gcs_proto_resource_type_parse(NULL), GCS_RESOURCE_NONE);
	ck_assert_int_eq(gcs_proto_resource_type_parse(""), GCS_RESOURCE_NONE);
	ck_assert_int_eq(gcs_proto_resource_type_parse("Quux"), GCS_RESOURCE_UNKNOWN);
	ck_assert_int_eq(gcs_proto_resource_type_parse("mappedvirtualdisk"), GCS_RESOURCE_UNKNOWN);
	ck_assert_int_eq(gcs_proto_resource_type_parse("MappedVirtualDisk "), GCS_RESOURCE_UNKNOWN);
}
END_TEST

START_TEST(test_no_request)
{
	struct gcs_proto_modify_req out;

	/* No Request, or a null one: nothing is known, nothing fails. */
	decode_ok("{\"ContainerId\":\"" Z "\",\"ActivityId\":\"" Z "\"}", &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_NONE);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_NONE);
	ck_assert_str_eq(out.resource_type_name, "");
	ck_assert(!out.has_settings);
	gcs_proto_release(&out);
	decode_ok(BODY("null"), &out);
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_NONE);
	ck_assert(!out.has_settings);
	gcs_proto_release(&out);
}
END_TEST

/* ---- wrong JSON types: HCS_E_INVALID_JSON naming the field ---- */

#define SETTINGS(type, settings) \
	BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"" type "\",\"Settings\":" settings "}")
#define MVD(settings) SETTINGS("MappedVirtualDisk", settings)

static const struct {
	const char *body;
	const char *field; /* the message must mention it */
	const char *detail; /* and this, when set */
} wrong[] = {
	{ MVD("{\"Lun\":\"1\"}"), "Lun", "string" },
	{ MVD("{\"Lun\":256}"), "Lun", "256" },
	{ MVD("{\"Lun\":-1}"), "Lun", "-1" },
	{ MVD("{\"Controller\":1.5}"), "Controller", NULL },
	{ MVD("{\"Controller\":1.0}"), "Controller", NULL },
	{ MVD("{\"Partition\":\"x\"}"), "Partition", NULL },
	{ MVD("{\"Partition\":-1}"), "Partition", NULL },
	{ MVD("{\"ReadOnly\":\"true\"}"), "ReadOnly", NULL },
	{ MVD("{\"ReadOnly\":1}"), "ReadOnly", NULL },
	{ MVD("{\"Options\":[\"ro\",5]}"), "Options[1]", NULL },
	{ MVD("{\"Options\":\"ro\"}"), "Options", NULL },
	{ MVD("{\"MountPath\":[\"/a\"]}"), "MountPath", NULL },
	{ MVD("{\"VerityInfo\":{\"Version\":\"1\"}}"), "VerityInfo", "Version" },
	{ MVD("{\"VerityInfo\":{\"BlockSize\":\"4096\"}}"), "VerityInfo", "BlockSize" },
	{ MVD("\"string\""), "Settings", NULL },
	{ MVD("[]"), "Settings", NULL },
	{ BODY("\"x\""), "Request", NULL },
	{ BODY("[{\"RequestType\":\"Add\"}]"), "Request", NULL },
	{ BODY("{\"RequestType\":5,\"ResourceType\":\"SCSIDevice\"}"), "RequestType", NULL },
	{ BODY("{\"RequestType\":\"Add\",\"ResourceType\":true}"), "ResourceType", NULL },
	{ SETTINGS("SCSIDevice", "{\"Controller\":\"0\"}"), "Controller", NULL },
	{ SETTINGS("SCSIDevice", "{\"Lun\":300}"), "Lun", NULL },
	{ SETTINGS("VPMemDevice", "{\"DeviceNumber\":4294967296}"), "DeviceNumber", NULL },
	{ SETTINGS("VPMemDevice", "{\"MappingInfo\":5}"), "MappingInfo", NULL },
	{ SETTINGS("VPMemDevice", "{\"MappingInfo\":{\"DeviceSizeInBytes\":-1}}"), "MappingInfo",
	  "DeviceSizeInBytes" },
	{ SETTINGS("VPMemDevice", "{\"VerityInfo\":[]}"), "VerityInfo", NULL },
	{ SETTINGS("CombinedLayers", "{\"Layers\":[{\"Path\":7}]}"), "Layers[0]", "Path" },
	{ SETTINGS("CombinedLayers", "{\"Layers\":{}}"), "Layers", NULL },
	{ SETTINGS("CombinedLayers", "{\"Layers\":[{\"Path\":\"/a\"},\"/b\"]}"), "Layers[1]",
	  NULL },
	{ SETTINGS("CombinedLayers", "{\"ContainerRootPath\":false}"), "ContainerRootPath", NULL },
	{ SETTINGS("MappedDirectory", "{\"Port\":\"564\"}"), "Port", NULL },
	{ SETTINGS("MappedDirectory", "{\"Port\":2147483648}"), "Port", NULL },
	{ SETTINGS("MappedDirectory", "{\"Port\":-2147483649}"), "Port", NULL },
	{ SETTINGS("Network", "{\"IPConfigs\":[{\"PrefixLength\":300}]}"), "IPConfigs[0]",
	  "PrefixLength" },
	{ SETTINGS("Network", "{\"IPConfigs\":[5]}"), "IPConfigs[0]", NULL },
	{ SETTINGS("Network", "{\"Routes\":[{\"Metric\":70000}]}"), "Routes[0]", "Metric" },
	{ SETTINGS("Network", "{\"Routes\":[{},{\"NextHop\":1}]}"), "Routes[1]", "NextHop" },
	{ SETTINGS("Network", "{\"EncapOverhead\":65536}"), "EncapOverhead", NULL },
	{ SETTINGS("Network", "{\"VPCIAssigned\":\"yes\"}"), "VPCIAssigned", NULL },
	{ SETTINGS("VPCIDevice", "{\"VMBusGUID\":1}"), "VMBusGUID", NULL },
	{ SETTINGS("ContainerConstraints", "{\"Linux\":[]}"), "Linux", NULL },
	{ SETTINGS("ContainerConstraints", "{\"Windows\":\"x\"}"), "Windows", NULL },
	{ SETTINGS("SecurityPolicy", "{\"EncodedSecurityPolicy\":1}"), "EncodedSecurityPolicy",
	  NULL },
	{ SETTINGS("SecurityPolicyFragment", "{\"Fragment\":false}"), "Fragment", NULL },
	{ SETTINGS("LcowContainerOperation", "{\"Operation\":1}"), "Operation", NULL },
	{ SETTINGS("LcowContainerOperation", "{\"Operation\":[\"Pause\"]}"), "Operation", NULL },
	{ SETTINGS("LcowContainerOperation", "{\"Operation\":\"KillAll\",\"Signal\":\"9\"}"),
	  "Signal", NULL },
	{ SETTINGS("LcowContainerOperation", "{\"Signal\":1.5}"), "Signal", NULL },
	{ SETTINGS("LcowContainerOperation", "{\"Signal\":2147483648}"), "Signal", NULL },
	{ SETTINGS("LcowContainerOperation", "{\"Signal\":true}"), "Signal", NULL },
	{ SETTINGS("LcowContainerOperation", "\"Pause\""), "Settings", NULL },
};

START_TEST(test_wrong_types)
{
	struct gcs_proto_modify_req out;
	struct gcs_error err = { 0 };
	const char *body = wrong[_i].body;
	int rc;

	memset(&out, 0xa5, sizeof(out));
	rc = gcs_proto_decode(MODIFY, body, strlen(body), &out, &err);
	ck_assert_msg(rc == -EBADMSG, "%s: rc %d", body, rc);
	ck_assert_int_eq(err.hresult, HR_INVALID_JSON);
	ck_assert_msg(strstr(err.message, wrong[_i].field) != NULL, "%s: message \"%s\"", body,
		      err.message);
	if (wrong[_i].detail)
		ck_assert_msg(strstr(err.message, wrong[_i].detail) != NULL, "%s: message \"%s\"",
			      body, err.message);
	/* A failed decode leaves nothing behind (and releasing it is harmless). */
	ck_assert_ptr_null(out.base.own.docs[0]);
	ck_assert_ptr_null(out.base.own.blocks);
	ck_assert_ptr_null(out.raw_settings);
	gcs_proto_release(&out);
}
END_TEST

/* ---- Go's leniency: unknown fields, nulls ---- */

START_TEST(test_unknown_fields_ignored)
{
	struct gcs_proto_modify_req out;

	decode_ok(MVD("{\"MountPath\":\"/a\",\"Bogus\":{\"x\":[1,2]}}"), &out);
	ck_assert_str_eq(out.settings.mapped_virtual_disk.mount_path, "/a");
	ck_assert_uint_eq(out.settings.mapped_virtual_disk.lun, 0);
	ck_assert_ptr_null(out.raw_settings);
	assert_encodes_to(&out, MVD("{\"MountPath\":\"/a\"}"));
	gcs_proto_release(&out);

	/* ... at every level: the Request, array elements, nested objects. */
	decode_ok(BODY("{\"RequestType\":\"Add\",\"Extra\":[null],\"ResourceType\":\"Network\","
		       "\"Settings\":{\"ID\":\"n\",\"IPAddress\":\"10.0.0.1\","
		       "\"IPConfigs\":[{\"IPAddress\":\"10.0.0.2\",\"Gateway\":{}}],"
		       "\"Routes\":[{\"Metric\":5,\"Weight\":\"x\"}]}}"),
		  &out);
	ck_assert_str_eq(out.settings.network.id, "n");
	ck_assert_uint_eq(out.settings.network.n_ip_configs, 1);
	ck_assert_str_eq(out.settings.network.ip_configs[0].ip_address, "10.0.0.2");
	ck_assert_uint_eq(out.settings.network.n_routes, 1);
	ck_assert_uint_eq(out.settings.network.routes[0].metric, 5);
	gcs_proto_release(&out);

	decode_ok(SETTINGS("VPMemDevice", "{\"MappingInfo\":{\"DeviceSizeInBytes\":9,\"x\":1},"
					  "\"VerityInfo\":{\"Salt\":\"s\",\"Hash\":\"h\"}}"),
		  &out);
	ck_assert_uint_eq(out.settings.vpmem_device.mapping_info->device_size_in_bytes, 9);
	ck_assert_str_eq(out.settings.vpmem_device.verity_info->salt, "s");
	gcs_proto_release(&out);

	decode_ok(SETTINGS("CombinedLayers", "{\"Layers\":[{\"Path\":\"/a\",\"Size\":3}],"
					     "\"FilterType\":1}"),
		  &out);
	ck_assert_uint_eq(out.settings.combined_layers.n_layers, 1);
	ck_assert_str_eq(out.settings.combined_layers.layers[0].path, "/a");
	gcs_proto_release(&out);
}
END_TEST

START_TEST(test_null_values)
{
	const struct gcs_proto_mapped_virtual_disk *d;
	struct gcs_proto_modify_req out;

	decode_ok(MVD("{\"MountPath\":null,\"Lun\":null,\"Controller\":null,\"Partition\":null,"
		      "\"ReadOnly\":null,\"Encrypted\":null,\"Options\":null,\"BlockDev\":null,"
		      "\"VerityInfo\":null,\"EnsureFilesystem\":null,\"Filesystem\":null}"),
		  &out);
	d = &out.settings.mapped_virtual_disk;
	ck_assert(out.has_settings);
	ck_assert_str_eq(d->mount_path, "");
	ck_assert_uint_eq(d->lun, 0);
	ck_assert_uint_eq(d->controller, 0);
	ck_assert_uint_eq(d->partition, 0);
	ck_assert(!d->read_only);
	ck_assert(!d->encrypted);
	ck_assert_uint_eq(d->n_options, 0);
	ck_assert(!d->block_dev);
	ck_assert_ptr_null(d->verity_info);
	ck_assert(!d->ensure_filesystem);
	ck_assert_str_eq(d->filesystem, "");
	assert_encodes_to(&out, MVD("{}"));
	gcs_proto_release(&out);

	/* A null Settings is no Settings. */
	decode_ok(MVD("null"), &out);
	ck_assert(!out.has_settings);
	assert_encodes_to(&out,
			  BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedVirtualDisk\"}"));
	gcs_proto_release(&out);

	/* Null Request members. */
	decode_ok(BODY("{\"RequestType\":null,\"ResourceType\":null,\"Settings\":null}"), &out);
	ck_assert_int_eq(out.request_type, GCS_REQUEST_TYPE_NONE);
	ck_assert_str_eq(out.request_type_name, "");
	ck_assert_int_eq(out.resource_type, GCS_RESOURCE_NONE);
	ck_assert(!out.has_settings);
	gcs_proto_release(&out);

	decode_ok(SETTINGS("VPMemDevice", "{\"DeviceNumber\":null,\"MappingInfo\":null,"
					  "\"VerityInfo\":{\"Version\":null,\"Salt\":null}}"),
		  &out);
	ck_assert_ptr_null(out.settings.vpmem_device.mapping_info);
	ck_assert_ptr_nonnull(out.settings.vpmem_device.verity_info);
	ck_assert_int_eq(out.settings.vpmem_device.verity_info->version, 0);
	ck_assert_str_eq(out.settings.vpmem_device.verity_info->salt, "");
	gcs_proto_release(&out);

	decode_ok(SETTINGS("Network", "{\"IPConfigs\":null,\"Routes\":null,"
				      "\"EncapOverhead\":null}"),
		  &out);
	ck_assert_uint_eq(out.settings.network.n_ip_configs, 0);
	ck_assert_uint_eq(out.settings.network.n_routes, 0);
	gcs_proto_release(&out);

	decode_ok(SETTINGS("ContainerConstraints", "{\"Windows\":null,\"Linux\":null}"), &out);
	ck_assert_ptr_null(out.settings.container_constraints.windows_resources);
	ck_assert_ptr_null(out.settings.container_constraints.linux_resources);
	gcs_proto_release(&out);

	/* A null array element is Go's zero value: an element with nothing set. */
	decode_ok(SETTINGS("CombinedLayers", "{\"Layers\":[null,{\"Path\":\"/b\"}]}"), &out);
	ck_assert_uint_eq(out.settings.combined_layers.n_layers, 2);
	ck_assert_str_eq(out.settings.combined_layers.layers[0].path, "");
	ck_assert_str_eq(out.settings.combined_layers.layers[0].id, "");
	ck_assert_str_eq(out.settings.combined_layers.layers[1].path, "/b");
	gcs_proto_release(&out);

	decode_ok(SETTINGS("Network", "{\"IPConfigs\":[null],\"Routes\":[{\"Metric\":1},null]}"),
		  &out);
	ck_assert_uint_eq(out.settings.network.n_ip_configs, 1);
	ck_assert_str_eq(out.settings.network.ip_configs[0].ip_address, "");
	ck_assert_uint_eq(out.settings.network.ip_configs[0].prefix_length, 0);
	ck_assert_uint_eq(out.settings.network.n_routes, 2);
	ck_assert_uint_eq(out.settings.network.routes[0].metric, 1);
	ck_assert_str_eq(out.settings.network.routes[1].next_hop, "");
	ck_assert_uint_eq(out.settings.network.routes[1].metric, 0);
	gcs_proto_release(&out);
}
END_TEST

/* ---- guest style: Go's json.Marshal HTML escaping, no newline ---- */

START_TEST(test_guest_style)
{
	const struct gcs_proto_modify_req m = {
		.base = { .container_id = Z, .activity_id = Z },
		.request_type = GCS_REQUEST_TYPE_ADD,
		.resource_type = GCS_RESOURCE_MAPPED_DIRECTORY,
		.has_settings = true,
		.settings.mapped_directory = { .mount_path = "/run/a<b>&c", .share_name = "s&" },
	};
	struct gcs_proto_modify_req out;
	char *body;

	body = encode(&m, GCS_PROTO_STYLE_GUEST);
	ck_assert_str_eq(body, BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedDirectory\","
				    "\"Settings\":{\"MountPath\":\"/run/a\\u003cb\\u003e\\u0026c\","
				    "\"ShareName\":\"s\\u0026\"}}"));
	decode_ok(body, &out);
	ck_assert_str_eq(out.settings.mapped_directory.mount_path, "/run/a<b>&c");
	ck_assert_str_eq(out.settings.mapped_directory.share_name, "s&");
	gcs_proto_release(&out);
	free(body);

	/* The host style leaves them as they are. */
	assert_encodes_to(&m, BODY("{\"RequestType\":\"Add\",\"ResourceType\":\"MappedDirectory\","
				   "\"Settings\":{\"MountPath\":\"/run/a<b>&c\","
				   "\"ShareName\":\"s&\"}}"));
}
END_TEST

static Suite *resources_suite(void)
{
	Suite *s = suite_create("resources");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_mvd_round_trip);
	tcase_add_test(tc, test_mvd_exact);
	tcase_add_test(tc, test_mvd_zero_omitted);
	tcase_add_test(tc, test_all_zero_settings);
	tcase_add_test(tc, test_scsi_round_trip);
	tcase_add_test(tc, test_scsi_exact);
	tcase_add_test(tc, test_vpmem_round_trip);
	tcase_add_test(tc, test_vpmem_exact);
	tcase_add_test(tc, test_layers_round_trip);
	tcase_add_test(tc, test_layers_exact);
	tcase_add_test(tc, test_mapped_dir_round_trip);
	tcase_add_test(tc, test_mapped_dir_exact);
	tcase_add_test(tc, test_network_round_trip);
	tcase_add_test(tc, test_network_exact);
	tcase_add_test(tc, test_vpci);
	tcase_add_test(tc, test_constraints_round_trip);
	tcase_add_test(tc, test_constraints_exact);
	tcase_add_test(tc, test_security_policy);
	tcase_add_test(tc, test_policy_fragment);
	tcase_add_test(tc, test_pod_cgroup_memory_limit);
	tcase_add_test(tc, test_container_operation_round_trip);
	tcase_add_test(tc, test_container_operation_exact);
	tcase_add_loop_test(tc, test_transcript_encode, 0,
			    (int)(sizeof(transcript) / sizeof(transcript[0])));
	tcase_add_test(tc, test_transcript_decode);
	tcase_add_test(tc, test_transcript_host_framing);
	tcase_add_test(tc, test_request_type_missing);
	tcase_add_test(tc, test_request_types_known);
	tcase_add_test(tc, test_request_type_unknown);
	tcase_add_test(tc, test_resource_type_unknown);
	tcase_add_loop_test(tc, test_windows_types, 0,
			    (int)(sizeof(windows_types) / sizeof(windows_types[0])));
	tcase_add_test(tc, test_resource_type_names);
	tcase_add_test(tc, test_no_request);
	tcase_add_loop_test(tc, test_wrong_types, 0, (int)(sizeof(wrong) / sizeof(wrong[0])));
	tcase_add_test(tc, test_unknown_fields_ignored);
	tcase_add_test(tc, test_null_values);
	tcase_add_test(tc, test_guest_style);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(resources_suite());
}
