/*
 * Bridge framing (spec section 2): a 16-byte little-endian header {Type, Size, ID} with
 * Size counting the header, then a JSON body.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcs/export.h"

#define GCS_HEADER_SIZE 16u
/* The host kills the bridge on any message above this (header included). */
#define GCS_MAX_GUEST_MESSAGE 0x10000u
/* What our side accepts by default (the host puts no limit on what it sends). */
#define GCS_DEFAULT_MAX_INBOUND (4u * 1024 * 1024)

struct gcs_header {
	uint32_t type;
	uint32_t size; /* header + body */
	uint64_t id;
};

GCS_PROTO_EXPORT void gcs_proto_header_encode(const struct gcs_header *h,
					      uint8_t out[GCS_HEADER_SIZE]);
/*
 * Decodes and checks a header: -EBADMSG when Size < 16, -EMSGSIZE when Size > max_size
 * (0 = GCS_DEFAULT_MAX_INBOUND).
 */
GCS_PROTO_EXPORT int gcs_proto_header_decode(const uint8_t in[GCS_HEADER_SIZE], uint32_t max_size,
					     struct gcs_header *ret);

/*
 * Incremental reader of frames from a (blocking or non-blocking) stream fd.
 * gcs_proto_reader_read() returns 1 when a whole frame is ready (take it with
 * gcs_proto_reader_take), 0 when the fd would block, -ESHUTDOWN on EOF between frames,
 * -EPROTO on EOF inside a frame, -EBADMSG/-EMSGSIZE for a bad Size, other -errno from read().
 * EINTR is retried. After an error the reader must be reset before it is used again.
 */
struct gcs_proto_reader {
	uint32_t max_size;
	uint8_t hdr_buf[GCS_HEADER_SIZE];
	size_t hdr_len;
	bool have_header;
	struct gcs_header header;
	char *body; /* body_cap + 1 bytes: the body is always NUL-terminated */
	size_t body_len;
};

GCS_PROTO_EXPORT void gcs_proto_reader_init(struct gcs_proto_reader *r, uint32_t max_size);
GCS_PROTO_EXPORT void gcs_proto_reader_reset(struct gcs_proto_reader *r);
GCS_PROTO_EXPORT int gcs_proto_reader_read(struct gcs_proto_reader *r, int fd);
/*
 * Feeds bytes from memory instead of an fd (tests, fuzzing). Consumes at most one frame:
 * *ret_used tells how many bytes were taken. Returns 1 when a frame is complete, 0 when more
 * bytes are needed, or -EBADMSG/-EMSGSIZE.
 */
GCS_PROTO_EXPORT int gcs_proto_reader_feed(struct gcs_proto_reader *r, const void *data, size_t len,
					   size_t *ret_used);
/* Hands the complete frame over: *ret_body is malloc'd, NUL-terminated, body_len bytes long. */
GCS_PROTO_EXPORT void gcs_proto_reader_take(struct gcs_proto_reader *r,
					    struct gcs_header *ret_header, char **ret_body,
					    size_t *ret_body_len);

/*
 * Blocking helpers for a blocking or non-blocking fd (poll() waits on EAGAIN; timeout_ms < 0
 * waits forever, else -ETIMEDOUT). They retry EINTR and partial transfers. The deadline holds
 * for sockets of either kind and for non-blocking pipes; a blocking pipe can still block in
 * write(). write_all never raises SIGPIPE on a socket: a gone peer is -EPIPE.
 */
GCS_PROTO_EXPORT int gcs_proto_read_frame(int fd, uint32_t max_size, int timeout_ms,
					  struct gcs_header *ret_header, char **ret_body,
					  size_t *ret_body_len);
GCS_PROTO_EXPORT int gcs_proto_write_all(int fd, const void *buf, size_t len, int timeout_ms);

/*
 * A write queue for event loops: whole frames go in, gcs_proto_wqueue_flush() writes as much as
 * the non-blocking fd takes. Frames never interleave. flush returns 0 when the queue is empty,
 * -EAGAIN while bytes remain, or -errno from write() (EPIPE when the peer is gone).
 */
struct gcs_proto_wqueue_item;
struct gcs_proto_wqueue {
	struct gcs_proto_wqueue_item *head, *tail;
	size_t off; /* bytes of head already written */
	size_t bytes; /* total bytes queued, not yet written */
};

GCS_PROTO_EXPORT void gcs_proto_wqueue_init(struct gcs_proto_wqueue *q);
/* Takes ownership of buf (malloc'd) on success. */
GCS_PROTO_EXPORT int gcs_proto_wqueue_push(struct gcs_proto_wqueue *q, char *buf, size_t len);
GCS_PROTO_EXPORT int gcs_proto_wqueue_flush(struct gcs_proto_wqueue *q, int fd);
GCS_PROTO_EXPORT bool gcs_proto_wqueue_empty(const struct gcs_proto_wqueue *q);
GCS_PROTO_EXPORT void gcs_proto_wqueue_clear(struct gcs_proto_wqueue *q);
