/* GUID text form as Go's go-winio/pkg/guid writes and reads it. */
#include "gcs/guid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads n hex digits at s into *ret; -EINVAL on a non-hex character. */
static int hex_n(const char *s, unsigned n, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		int d = hexval(s[i]);
		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*ret = v;
	return 0;
}

int gcs_proto_guid_parse(const char *s, struct gcs_guid *ret)
{
	struct gcs_guid g;
	uint64_t v;

	if (!s || strlen(s) != GCS_GUID_STRING_LEN)
		return -EINVAL;
	if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return -EINVAL;
	if (hex_n(s, 8, &v) < 0)
		return -EINVAL;
	g.data1 = (uint32_t)v;
	if (hex_n(s + 9, 4, &v) < 0)
		return -EINVAL;
	g.data2 = (uint16_t)v;
	if (hex_n(s + 14, 4, &v) < 0)
		return -EINVAL;
	g.data3 = (uint16_t)v;
	for (unsigned i = 0; i < 8; i++) {
		const char *p = i < 2 ? s + 19 + 2 * i : s + 24 + 2 * (i - 2);
		if (hex_n(p, 2, &v) < 0)
			return -EINVAL;
		g.data4[i] = (uint8_t)v;
	}
	*ret = g;
	return 0;
}

char *gcs_proto_guid_format(const struct gcs_guid *g, char buf[static 37])
{
	snprintf(buf, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g->data1, g->data2,
		 g->data3, g->data4[0], g->data4[1], g->data4[2], g->data4[3], g->data4[4],
		 g->data4[5], g->data4[6], g->data4[7]);
	return buf;
}

bool gcs_proto_guid_valid(const char *s)
{
	struct gcs_guid g;

	return gcs_proto_guid_parse(s, &g) == 0;
}

bool gcs_proto_guid_is_null(const struct gcs_guid *g)
{
	static const struct gcs_guid zero;

	return memcmp(g, &zero, sizeof(zero)) == 0;
}

void gcs_proto_guid_from_vsock_port(uint32_t port, struct gcs_guid *ret)
{
	static const struct gcs_guid tmpl = {
		0, 0xfacb, 0x11e6, { 0xbd, 0x58, 0x64, 0x00, 0x6a, 0x79, 0x86, 0xd3 }
	};

	*ret = tmpl;
	ret->data1 = port;
}

const char *gcs_proto_scsi_controller_guid(unsigned index)
{
	static const char *const guids[GCS_SCSI_CONTROLLERS] = {
		"df6d0690-79e5-55b6-a5ec-c1e2f77f580a",
		"0110f83b-de10-5172-a266-78bca56bf50a",
		"b5d2d8d4-3a75-51bf-945b-3444dc6b8579",
		"305891a9-b251-5dfe-91a2-c25d9212275b",
	};

	return index < GCS_SCSI_CONTROLLERS ? guids[index] : NULL;
}
