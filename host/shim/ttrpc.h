/*
 * ttrpc, containerd's RPC protocol for shims (ttrpc v1.1.1, unary only): a server over a Unix
 * socket and a small synchronous client.
 *
 * Each message is a 10-byte header (data length u32 BE, stream id u32 BE, type u8, flags u8)
 * and at most 4 MiB of data: a Request (service, method, payload) from the client on an odd
 * stream id, a Response (google.rpc.Status, payload) from the server on the same id.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTRPC_HEADER_SIZE 10
#define TTRPC_MAX_DATA (4u << 20)
#define TTRPC_TYPE_REQUEST 1
#define TTRPC_TYPE_RESPONSE 2

/* gRPC status codes, as containerd's errdefs maps them. */
enum ttrpc_code {
	TTRPC_OK = 0,
	TTRPC_UNKNOWN = 2,
	TTRPC_INVALID_ARGUMENT = 3,
	TTRPC_NOT_FOUND = 5,
	TTRPC_ALREADY_EXISTS = 6,
	TTRPC_FAILED_PRECONDITION = 9,
	TTRPC_RESOURCE_EXHAUSTED = 8,
	TTRPC_UNIMPLEMENTED = 12,
	TTRPC_INTERNAL = 13,
	TTRPC_UNAVAILABLE = 14,
};

struct ttrpc_header {
	uint32_t length;
	uint32_t stream_id;
	uint8_t type;
	uint8_t flags;
};

/* Framing, for the server, the client and tests that speak raw frames. */
void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t buf[TTRPC_HEADER_SIZE]);
void ttrpc_header_decode(const uint8_t buf[TTRPC_HEADER_SIZE], struct ttrpc_header *ret);
/* Writes header and data in one go (EINTR and partial writes handled, no SIGPIPE). */
int ttrpc_write_frame(int fd, uint32_t stream_id, uint8_t type, const void *data, size_t len);
/* Reads exactly len bytes: -EPIPE on EOF before the first byte, -EIO on EOF inside. */
int ttrpc_read_full(int fd, void *buf, size_t len);

/* ---- server ---- */

struct ttrpc_server;
/* One request in flight: answered exactly once, by ttrpc_call_reply or ttrpc_call_error. */
struct ttrpc_call;

/* req is the decoded request; the call owns it until it is answered. */
typedef void (*ttrpc_handler_fn)(struct ttrpc_call *call, const ProtobufCMessage *req,
				 void *userdata);

/* The handler runs in a thread of its own instead of the connection's reader thread. */
#define TTRPC_METHOD_THREAD 0x1

struct ttrpc_method {
	const char *service; /* "containerd.task.v2.Task" */
	const char *name; /* "Create" */
	const ProtobufCMessageDescriptor *input;
	ttrpc_handler_fn handler;
	unsigned flags;
};

/*
 * A server for the methods of table (kept by reference, must outlive the server). Handlers run
 * on the reader thread of their connection unless TTRPC_METHOD_THREAD: one that cannot answer
 * at once (Wait) keeps the call and answers later from any thread, and the connection goes on
 * reading requests meanwhile. Writes of answers are serialized per connection.
 */
int ttrpc_server_new(const struct ttrpc_method *table, size_t n, void *userdata,
		     struct ttrpc_server **ret_server);
/* Serves a connected socket (taken over) in a new reader thread. */
int ttrpc_server_add_conn(struct ttrpc_server *s, int fd);
/* Accepts connections on listen_fd until ttrpc_server_stop; returns 0 then. */
int ttrpc_server_serve(struct ttrpc_server *s, int listen_fd);
/* Makes ttrpc_server_serve return (async-signal-safe, any thread). */
void ttrpc_server_stop(struct ttrpc_server *s);
/* Shuts every connection down, waits for their readers and frees the server. Calls still held
 * by handlers stay valid: answering them fails with -EPIPE and frees them. */
void ttrpc_server_free(struct ttrpc_server *s);

/* Answers with resp (NULL: an empty payload, google.protobuf.Empty) and frees the call. */
int ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *resp);
/* Answers with a status (code != 0) and a message, and frees the call. */
int ttrpc_call_error(struct ttrpc_call *call, enum ttrpc_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *ttrpc_call_method(const struct ttrpc_call *call);
/* The value of a metadata key of the request (containerd-namespace-ttrpc), or NULL. */
const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key);

/* ---- client ---- */

struct ttrpc_client;

/* Connects to a Unix socket path ("unix://" prefix allowed). */
int ttrpc_client_connect(const char *address, struct ttrpc_client **ret_client);
/* Takes over a connected socket. */
int ttrpc_client_new(int fd, struct ttrpc_client **ret_client);
void ttrpc_client_free(struct ttrpc_client *c);

/*
 * One call at a time. On an answer, ret_code gets its status code (0 = success) and, when
 * ret_message is not NULL, a malloc'd copy of its message; on success *ret_resp (if not NULL)
 * gets the payload decoded as resp_desc (free with protobuf_c_message_free_unpacked). Returns a
 * negative errno when no answer came: transport error, bad frame, or timeout_ms elapsed.
 */
int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      int timeout_ms, int *ret_code, char **ret_message,
		      ProtobufCMessage **ret_resp);
