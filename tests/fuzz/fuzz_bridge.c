/*
 * libFuzzer target for libgcsproto: framing plus every message codec.
 *
 * The input is a byte stream as it would arrive on the bridge socket. It is fed to the
 * incremental reader in chunks whose sizes derive from the input; every complete frame's body
 * is decoded as its own Type and as every other Type the spec defines. Each successful decode
 * is re-encoded in both styles and decoded again: the second decode must succeed and its
 * encoding must be byte-identical to the first, the guest-style text must re-encode as the
 * host-style text, and the frame encoder must agree with the body encoder. Anything else is a
 * codec bug: abort(). Leaks are reported by LeakSanitizer. The first 16 bytes also go through
 * the header decoder, the first 36 through the GUID parser.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/hresult.h"
#include "gcs/messages.h"
#include "gcs/msgtype.h"

#define FUZZ_MAX_FRAME (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t known_types[64];
/* Types whose struct is only the request or response base: they all share one codec. */
static bool known_base_only[64];
static size_t n_known_types;

__attribute__((noreturn, format(printf, 1, 2))) static void bug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_bridge: BUG: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static void dump(const char *what, const char *s, size_t len)
{
	fprintf(stderr, "%s (%zu bytes): %.*s\n", what, len, (int)(len > 4096 ? 4096 : len), s);
}

static void add_type(uint32_t type)
{
	const char *name;
	size_t sz;

	if (gcs_proto_msg_struct(type, &name, &sz) < 0)
		return;
	if (sz > sizeof(union gcs_proto_msg))
		bug("type 0x%08x: %s is %zu bytes, larger than union gcs_proto_msg", type, name,
		    sz);
	known_base_only[n_known_types] = !strcmp(name, "struct gcs_proto_request_base") ||
					 !strcmp(name, "struct gcs_proto_response_base");
	known_types[n_known_types++] = type;
}

/* Every Type value section 3 of the spec defines: requests, their responses, the notification. */
static void init_types(void)
{
	uint32_t rpcs[16];
	size_t n = 0;

	if (n_known_types)
		return;
	for (unsigned i = 1; i <= 15; i++)
		rpcs[n++] = GCS_RPC(GCS_CAT_COMPUTE_SYSTEM, i);
	rpcs[n++] = GCS_RPC_MODIFY_SERVICE_SETTINGS;
	for (size_t i = 0; i < n; i++) {
		add_type(GCS_REQ(rpcs[i]));
		add_type(GCS_RESP(rpcs[i]));
	}
	add_type(GCS_MSG_CONTAINER_NOTIFY);
	if (n_known_types != 2 * n + 1)
		bug("only %zu of %zu spec-defined types have a codec", n_known_types, 2 * n + 1);
}

/* Checks the frame encoder on a decoded message whose body encoding is body/len. */
static void check_frame(uint32_t type, uint64_t id, const union gcs_proto_msg *m,
			enum gcs_proto_style style, const char *body, size_t len)
{
	struct gcs_error err = { 0 };
	struct gcs_header h;
	char *frame = NULL;
	size_t flen = 0;
	int rc = gcs_proto_encode_frame(type, id, m, style, &frame, &flen, &err);

	if (rc == -EMSGSIZE) {
		if (gcs_msg_is_request(type) || len + GCS_HEADER_SIZE <= GCS_MAX_GUEST_MESSAGE)
			bug("type 0x%08x: encode_frame: -EMSGSIZE for a %zu-byte body", type, len);
		return;
	}
	if (rc < 0)
		bug("type 0x%08x style %d: encode_frame failed (%d): %s", type, style, rc,
		    err.message);
	if (flen != GCS_HEADER_SIZE + len || memcmp(frame + GCS_HEADER_SIZE, body, len) != 0)
		bug("type 0x%08x style %d: encode_frame body differs from encode_body", type,
		    style);
	if (gcs_proto_header_decode((const uint8_t *)frame, UINT32_MAX, &h) < 0 || h.type != type ||
	    h.size != flen || h.id != id)
		bug("type 0x%08x style %d: encode_frame wrote a bad header", type, style);
	free(frame);
}

/*
 * Re-encodes a successfully decoded message in one style and checks the round trip. Returns
 * the encoding (malloc'd, *ret_len bytes).
 */
static char *roundtrip(uint32_t type, uint64_t id, const union gcs_proto_msg *m,
		       enum gcs_proto_style style, size_t *ret_len)
{
	struct gcs_error err = { 0 };
	union gcs_proto_msg m2;
	char *enc1 = NULL, *enc2 = NULL;
	size_t len1 = 0, len2 = 0;
	int rc;

	rc = gcs_proto_encode_body(type, m, style, &enc1, &len1, &err);
	if (rc < 0)
		bug("type 0x%08x style %d: a decoded message does not encode (%d): %s", type, style,
		    rc, err.message);
	if (strlen(enc1) != len1)
		bug("type 0x%08x style %d: encode_body length %zu, string length %zu", type, style,
		    len1, strlen(enc1));
	if (style == GCS_PROTO_STYLE_HOST && (len1 == 0 || enc1[len1 - 1] != '\n'))
		bug("type 0x%08x: host-style body does not end with a newline", type);
	if (style == GCS_PROTO_STYLE_GUEST && strpbrk(enc1, "<>&\n"))
		bug("type 0x%08x: guest-style body has a raw <, >, & or newline", type);

	rc = gcs_proto_decode(type, enc1, len1, &m2, &err);
	if (rc < 0) {
		dump("encoding", enc1, len1);
		bug("type 0x%08x style %d: decode refuses what encode wrote (%d): %s", type, style,
		    rc, err.message);
	}
	rc = gcs_proto_encode_body(type, &m2, style, &enc2, &len2, &err);
	if (rc < 0) {
		dump("encoding", enc1, len1);
		bug("type 0x%08x style %d: re-decoded message does not encode (%d): %s", type,
		    style, rc, err.message);
	}
	if (len1 != len2 || memcmp(enc1, enc2, len1) != 0) {
		dump("first encoding", enc1, len1);
		dump("second encoding", enc2, len2);
		bug("type 0x%08x style %d: encode(decode(encode(m))) != encode(m)", type, style);
	}
	gcs_proto_release(&m2);
	free(enc2);

	check_frame(type, id, m, style, enc1, len1);
	*ret_len = len1;
	return enc1;
}

/* Both styles must carry the same message: the guest form re-encodes as the host form. */
static void cross_check(uint32_t type, const char *guest, size_t glen, const char *host,
			size_t hlen)
{
	struct gcs_error err = { 0 };
	union gcs_proto_msg m;
	char *enc = NULL;
	size_t len = 0;

	if (gcs_proto_decode(type, guest, glen, &m, &err) < 0 ||
	    gcs_proto_encode_body(type, &m, GCS_PROTO_STYLE_HOST, &enc, &len, &err) < 0)
		bug("type 0x%08x: guest-style encoding does not round-trip: %s", type, err.message);
	if (len != hlen || memcmp(enc, host, len) != 0) {
		dump("host style", host, hlen);
		dump("guest style", guest, glen);
		dump("guest style re-encoded as host style", enc, len);
		bug("type 0x%08x: the guest-style and host-style encodings differ in content",
		    type);
	}
	gcs_proto_release(&m);
	free(enc);
}

/* Decodes a body as one type; a successful decode is round-tripped when full is set. */
static int decode_as(uint32_t type, uint64_t id, const char *body, size_t len, bool full)
{
	struct gcs_error err = { 0 };
	union gcs_proto_msg m;
	int rc = gcs_proto_decode(type, body, len, &m, &err);

	if (rc == -ENOENT)
		return rc;
	if (rc < 0) {
		if (err.hresult == HR_OK)
			bug("type 0x%08x: decode failed (%d) without recording an error", type, rc);
		return rc;
	}
	if (full) {
		size_t hlen, glen;
		char *host = roundtrip(type, id, &m, GCS_PROTO_STYLE_HOST, &hlen);
		char *guest = roundtrip(type, id, &m, GCS_PROTO_STYLE_GUEST, &glen);

		cross_check(type, guest, glen, host, hlen);
		free(host);
		free(guest);
	}
	gcs_proto_release(&m);
	return 0;
}

static void check_body(const struct gcs_header *h, const char *body, size_t len)
{
	struct gcs_proto_request_base base;
	struct gcs_error err = { 0 };
	int rc, start_rc = 0;
	size_t k = 0;

	/* The frame's own Type first (it may be one the spec does not define). */
	rc = decode_as(h->type, h->id, body, len, true);
	if (h->type == GCS_MSG_START_REQ)
		start_rc = rc;
	/*
	 * Then every Type the spec defines. The base-only types share one codec: to keep the
	 * target fast, only every fifth of them (which ones depends on the body) is round-tripped.
	 */
	for (size_t i = 0; i < n_known_types; i++) {
		uint32_t t = known_types[i];
		bool full = !known_base_only[i] || (k++ + len) % 5 == 0;

		if (t == h->type)
			continue;
		rc = decode_as(t, h->id, body, len, full);
		if (t == GCS_MSG_START_REQ)
			start_rc = rc;
	}

	/* Start is base only: the request base decoder must agree with it. */
	rc = gcs_proto_decode_request_base(body, len, &base, &err);
	if (rc == 0)
		gcs_proto_release(&base);
	if ((rc == 0) != (start_rc == 0))
		bug("decode(Start) and decode_request_base disagree (%d vs %d)", start_rc, rc);
}

/* Frames the stream with the incremental reader, in chunks of varying sizes. */
static void check_stream(const uint8_t *data, size_t size)
{
	struct gcs_proto_reader r;
	uint32_t seed = (uint32_t)(size > 0 ? data[0] : 0) * 2654435761u + (uint32_t)size;
	size_t off = 0, frame_start = 0;

	gcs_proto_reader_init(&r, FUZZ_MAX_FRAME);
	while (off < size) {
		struct gcs_header h;
		char *body = NULL;
		size_t chunk, used = 0, len = 0;
		int rc;

		/* xorshift32: chunks of 1..64 bytes, or the whole rest when the low bits say so. */
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		chunk = (seed & 7) == 0 ? size - off : 1 + (seed >> 8) % 64;
		if (chunk > size - off)
			chunk = size - off;

		rc = gcs_proto_reader_feed(&r, data + off, chunk, &used);
		if (used > chunk)
			bug("reader_feed used %zu of %zu bytes", used, chunk);
		off += used;
		if (rc == -EBADMSG || rc == -EMSGSIZE)
			break;
		if (rc < 0)
			bug("reader_feed returned %d", rc);
		if (rc == 0) {
			if (used != chunk)
				bug("reader_feed wants more but left %zu bytes", chunk - used);
			continue;
		}

		gcs_proto_reader_take(&r, &h, &body, &len);
		if (h.size != GCS_HEADER_SIZE + len || h.size > FUZZ_MAX_FRAME ||
		    off - frame_start != h.size || body[len] != '\0' ||
		    memcmp(body, data + frame_start + GCS_HEADER_SIZE, len) != 0)
			bug("reader produced a frame that is not the input's bytes");
		frame_start = off;
		check_body(&h, body, len);
		free(body);
	}
	gcs_proto_reader_reset(&r);
}

static void check_header(const uint8_t *data, size_t size)
{
	static const uint32_t max_sizes[] = { 0, GCS_HEADER_SIZE, GCS_MAX_GUEST_MESSAGE,
					      FUZZ_MAX_FRAME, UINT32_MAX };
	uint8_t out[GCS_HEADER_SIZE];

	if (size < GCS_HEADER_SIZE)
		return;
	for (size_t i = 0; i < sizeof(max_sizes) / sizeof(max_sizes[0]); i++) {
		uint32_t max = max_sizes[i] ? max_sizes[i] : GCS_DEFAULT_MAX_INBOUND;
		struct gcs_header h;
		int rc = gcs_proto_header_decode(data, max_sizes[i], &h);

		if (rc == 0) {
			if (h.size < GCS_HEADER_SIZE || h.size > max)
				bug("header_decode accepted Size %u with max %u", h.size, max);
			gcs_proto_header_encode(&h, out);
			if (memcmp(out, data, GCS_HEADER_SIZE) != 0)
				bug("header encode(decode(x)) != x");
		} else if (rc != -EBADMSG && rc != -EMSGSIZE) {
			bug("header_decode returned %d", rc);
		}
	}
}

static void check_guid(const uint8_t *data, size_t size)
{
	char in[GCS_GUID_STRING_LEN + 1], out[GCS_GUID_STRING_LEN + 1];
	size_t n = size < GCS_GUID_STRING_LEN ? size : GCS_GUID_STRING_LEN;
	struct gcs_guid g, g2;
	int rc;

	if (n > 0)
		memcpy(in, data, n);
	in[n] = '\0';
	rc = gcs_proto_guid_parse(in, &g);
	if ((rc == 0) != gcs_proto_guid_valid(in))
		bug("guid_parse and guid_valid disagree on \"%s\"", in);
	if (rc < 0)
		return;
	gcs_proto_guid_format(&g, out);
	if (strlen(out) != GCS_GUID_STRING_LEN || gcs_proto_guid_parse(out, &g2) < 0 ||
	    memcmp(&g, &g2, sizeof(g)) != 0 || strcasecmp(in, out) != 0)
		bug("GUID \"%s\" formats as \"%s\", which does not round-trip", in, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_types();
	check_header(data, size);
	check_guid(data, size);
	check_stream(data, size);
	return 0;
}
