/* GUIDs as the bridge writes them: lowercase 8-4-4-4-12 text; binary layout as Windows' GUID. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gcs/export.h"

struct gcs_guid {
	uint32_t data1;
	uint16_t data2;
	uint16_t data3;
	uint8_t data4[8];
};

#define GCS_GUID_STRING_LEN 36
#define GCS_NULL_GUID_STRING "00000000-0000-0000-0000-000000000000"

/* Parses exactly 36 characters of 8-4-4-4-12 hex (either case). -EINVAL otherwise. */
GCS_PROTO_EXPORT int gcs_proto_guid_parse(const char *s, struct gcs_guid *ret);
/* Writes the lowercase form and a NUL into buf (at least 37 bytes). Returns buf. */
GCS_PROTO_EXPORT char *gcs_proto_guid_format(const struct gcs_guid *g, char buf[static 37]);
GCS_PROTO_EXPORT bool gcs_proto_guid_valid(const char *s);
GCS_PROTO_EXPORT bool gcs_proto_guid_is_null(const struct gcs_guid *g);
/* hvsock service GUID of a vsock port: PPPPPPPP-facb-11e6-bd58-64006a7986d3 (spec section 1). */
GCS_PROTO_EXPORT void gcs_proto_guid_from_vsock_port(uint32_t port, struct gcs_guid *ret);

/* The four fixed SCSI controller GUIDs, by controller index 0-3 (spec section 10.1). */
#define GCS_SCSI_CONTROLLERS 4
GCS_PROTO_EXPORT const char *gcs_proto_scsi_controller_guid(unsigned index);
