/*
 * libgcs: the host side of the GCS bridge. The host listens, the guest agent dials in; libgcs
 * negotiates protocol v4 and then sends requests, matches responses by ID, delivers container
 * notifications, and relays process stdio over per-process ports.
 *
 * Thread-safe: any number of threads may call into one bridge at once. One reader thread per
 * bridge. The library never prints and never exits: errors come back as a negative errno plus a
 * struct gcs_error (HRESULT + message); log lines go to an optional callback.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gcs/guid.h>
#include <gcs/hresult.h>
#include <gcs/messages.h>
#include <gcs/msgtype.h>

#define GCS_EXPORT __attribute__((visibility("default")))

/* ---- transports ---- */

/*
 * Where the guest's vsock ports are reached:
 *   "unix:<base>"      hybrid vsock: port P is the Unix socket "<base>_<P>" (decimal), as
 *                      Firecracker, Cloud Hypervisor and lcow's vhost-user vsock device expose
 *                      guest vsock; also the agent run as a plain process
 *   "vsock"            AF_VSOCK, listening on VMADDR_CID_ANY (needs vhost-vsock)
 *   "hvsock:<vm-guid>" AF_HYPERV (Windows hosts only; parsed everywhere, -EAFNOSUPPORT here)
 */
struct gcs_transport;

GCS_EXPORT int gcs_transport_parse(const char *spec, struct gcs_transport **ret);
GCS_EXPORT void gcs_transport_free(struct gcs_transport *t);
/* The spec string it was parsed from. */
GCS_EXPORT const char *gcs_transport_spec(const struct gcs_transport *t);
/*
 * A listening socket for a port (CLOEXEC, non-blocking). A stale Unix socket file is replaced;
 * any other file at that path is -EEXIST.
 */
GCS_EXPORT int gcs_transport_listen(const struct gcs_transport *t, uint32_t port, int *ret_fd);
/* Accepts one connection (blocking, CLOEXEC) within timeout_ms (< 0: forever); else -ETIMEDOUT. */
GCS_EXPORT int gcs_transport_accept(int listen_fd, int timeout_ms, int *ret_fd);
/* Closes a listener and removes its socket file, if any. */
GCS_EXPORT void gcs_transport_unlisten(const struct gcs_transport *t, uint32_t port, int listen_fd);

/* ---- the bridge ---- */

enum gcs_log_level { GCS_LOG_ERROR, GCS_LOG_WARNING, GCS_LOG_INFO, GCS_LOG_DEBUG };

struct gcs_bridge_options {
	/* How long gcs_bridge_connect waits for the guest to dial in (0: 120 s, < 0: forever). */
	int connect_timeout_ms;
	/* Default deadline of a call (0: 5 min, hcsshim's; < 0: none). WaitForProcess has none. */
	int call_timeout_ms;
	/* Inbound message size limit (0: 65536, what hcsshim accepts from a guest). */
	uint32_t max_message_size;
	/*
	 * Called on the reader thread for each container notification (the struct is valid only
	 * during the call). Must not call into the bridge synchronously.
	 */
	void (*on_notification)(void *user, const struct gcs_proto_notification *n);
	void (*on_log)(void *user, enum gcs_log_level level, const char *msg);
	void *user;
};

struct gcs_bridge;

/*
 * Starts listening for the guest on the bridge port (0x40000000). Call it before the guest can
 * start; it does not wait.
 */
GCS_EXPORT int gcs_bridge_listen(const struct gcs_transport *t, const struct gcs_bridge_options *o,
				 struct gcs_bridge **ret, struct gcs_error *err);
/*
 * Waits for the guest to dial in, then negotiates protocol version 4. -ETIMEDOUT when nobody
 * dialed in (still listening: connect may be called again); -EPROTO when the answer is not
 * version 4 from a Linux guest with a GuestDefinedCapabilities object, -EREMOTEIO when the guest
 * refused. A failed negotiation leaves the bridge broken.
 */
GCS_EXPORT int gcs_bridge_connect(struct gcs_bridge *b, struct gcs_error *err);
/*
 * The negotiated capabilities (valid after connect; NULL before). guest_defined holds the
 * GuestDefinedCapabilities, lcow's own lcow_container_operations_supported included.
 */
GCS_EXPORT const struct gcs_proto_capabilities *gcs_bridge_capabilities(const struct gcs_bridge *b);
/* True once the connection is gone (EOF, protocol violation, or close). */
GCS_EXPORT bool gcs_bridge_broken(const struct gcs_bridge *b);
/*
 * Fails every pending call with -ECONNABORTED, stops the reader, waits until calls in flight on
 * other threads have returned, frees everything. Processes may be freed before or after.
 */
GCS_EXPORT void gcs_bridge_close(struct gcs_bridge *b);

/*
 * One request, one response. req is the request struct of `type` (see messages.h; the base's
 * container_id and activity_id may be NULL: "" and the null GUID). *ret_resp receives the decoded
 * response struct (release with gcs_proto_release) when ret_resp is not NULL. A response with a
 * non-zero Result is returned as -EREMOTEIO with err holding its HRESULT and ErrorMessage
 * (nothing is left in *ret_resp then). timeout_ms: 0 = the bridge default, < 0 = none.
 *
 * A call that reaches its deadline returns -ETIMEDOUT and the bridge stays usable (a late answer
 * is dropped). Once the bridge is broken, pending and later calls fail with -ECONNABORTED (a
 * protocol violation by the guest, or gcs_bridge_close) or -EPIPE (the guest went away), and err
 * says why.
 */
GCS_EXPORT int gcs_bridge_call(struct gcs_bridge *b, uint32_t type, const void *req, void *ret_resp,
			       int timeout_ms, struct gcs_error *err);

/*
 * A raw request: body is sent as it is (a NUL-terminated JSON text); the raw response body and
 * type come back (malloc'd) whatever its Result. For tools and tests.
 */
GCS_EXPORT int gcs_bridge_call_raw(struct gcs_bridge *b, uint32_t type, const char *body,
				   int timeout_ms, uint32_t *ret_type, char **ret_body,
				   struct gcs_error *err);

/* ---- typed calls ---- */

GCS_EXPORT int gcs_create_container(struct gcs_bridge *b, const char *id,
				    const struct gcs_proto_container_config *config,
				    struct gcs_error *err);
GCS_EXPORT int gcs_start_container(struct gcs_bridge *b, const char *id, struct gcs_error *err);
/*
 * ShutdownGraceful (force false) or ShutdownForced. The null container ID is refused: the Go GCS
 * powers the VM off on it and never answers.
 */
GCS_EXPORT int gcs_shutdown_container(struct gcs_bridge *b, const char *id, bool force,
				      struct gcs_error *err);
/* req->base.container_id NULL or "": the UVM (the null container ID). */
GCS_EXPORT int gcs_modify_settings(struct gcs_bridge *b, const struct gcs_proto_modify_req *req,
				   struct gcs_error *err);
/* *ret must be released with gcs_proto_release. */
GCS_EXPORT int gcs_get_properties(struct gcs_bridge *b, const char *id,
				  const char *const *property_types, size_t n,
				  struct gcs_proto_get_properties_resp *ret, struct gcs_error *err);
/* *ret_stacks is malloc'd. */
GCS_EXPORT int gcs_dump_stacks(struct gcs_bridge *b, char **ret_stacks, struct gcs_error *err);
GCS_EXPORT int gcs_delete_container_state(struct gcs_bridge *b, const char *id,
					  struct gcs_error *err);

/* ---- processes ---- */

enum gcs_stdio_mode {
	GCS_STDIO_NONE = 0, /* not requested */
	/* libgcs relays between the stream and the caller's fd (a thread per stream). stdin: read
	 * fd until EOF, then half-close; stdout/stderr: write to fd until the guest's EOF. The fd
	 * stays the caller's. */
	GCS_STDIO_FD,
	/* The connected socket is handed to the caller (gcs_process_stdio_fd): write/shutdown it
	 * for stdin, read it for stdout/stderr. */
	GCS_STDIO_SOCKET,
};

struct gcs_stdio {
	enum gcs_stdio_mode mode;
	int fd; /* GCS_STDIO_FD only */
};

#define GCS_STDIN 0
#define GCS_STDOUT 1
#define GCS_STDERR 2

struct gcs_exec_options {
	/* NULL or "": a process in the utility VM (the null container ID). */
	const char *container_id;
	/*
	 * Everything but the CreateStd*Pipe flags, which libgcs sets from stdio[] (NULL: none of
	 * the optional fields).
	 */
	const struct gcs_proto_process_params *params;
	struct gcs_stdio stdio[3];
	int timeout_ms; /* for the ExecuteProcess call and the stdio accepts; 0: default */
};

struct gcs_process;

/*
 * Allocates stdio ports (upward from 0x40000001, never reused on a bridge), listens on them,
 * sends ExecuteProcess and accepts the guest's connections.
 */
GCS_EXPORT int gcs_process_exec(struct gcs_bridge *b, const struct gcs_exec_options *o,
				struct gcs_process **ret, struct gcs_error *err);
/*
 * A handle on a process the guest already runs (started through an earlier bridge, e.g. by a
 * host process that died): wait, signal and resize work; it has no stdio. container_id NULL or
 * "": a process of the utility VM.
 */
GCS_EXPORT int gcs_process_attach(struct gcs_bridge *b, const char *container_id, uint32_t pid,
				  struct gcs_process **ret, struct gcs_error *err);
GCS_EXPORT uint32_t gcs_process_pid(const struct gcs_process *p);
/* The socket of a GCS_STDIO_SOCKET stream, or -1. It stays owned by the process object. */
GCS_EXPORT int gcs_process_stdio_fd(const struct gcs_process *p, int stream);
/* Half-closes stdin (EOF for the process); -EBADF when stdin was not requested. */
GCS_EXPORT int gcs_process_close_stdin(struct gcs_process *p);
/*
 * WaitForProcess (timeout_ms < 0: forever, sent as 0xFFFFFFFF). On exit, also waits until the
 * FD-mode output relays have delivered everything (the guest's EOF on stdout and stderr). A
 * timeout is -ETIMEDOUT with HCS_E_VMCOMPUTE_TIMEOUT from the guest. The guest keeps the time;
 * the host gives up on its answer after timeout_ms plus the bridge's default deadline.
 */
GCS_EXPORT int gcs_process_wait(struct gcs_process *p, int timeout_ms, uint32_t *ret_exit_code,
				struct gcs_error *err);
/* SignalProcess; sig 0 sends no Options (the guest's SIGKILL). */
GCS_EXPORT int gcs_process_signal(struct gcs_process *p, int sig, struct gcs_error *err);
GCS_EXPORT int gcs_process_resize(struct gcs_process *p, uint16_t height, uint16_t width,
				  struct gcs_error *err);
/* Stops relays, closes sockets, frees. Does not signal the process; does not use the bridge. */
GCS_EXPORT void gcs_process_free(struct gcs_process *p);

/* ---- containers: what hcsshim sends around a container (spec sections 10 and 14) ---- */

/*
 * These are thin wrappers over gcs_modify_settings, gcs_create_container and gcs_process_exec
 * that fill the requests in the same way as hcsshim's LCOW code. Paths are guest paths (hcsshim:
 * layers at /run/layers/p<N> or /run/mounts/scsi/m<N>, the scratch disk and bundle at
 * /run/gcs/c/<cid>, the rootfs at /run/gcs/c/<cid>/rootfs, the overlay's scratch at
 * /run/gcs/c/<cid>/scratch/<cid>). A failure answered by the guest is -EREMOTEIO, and err holds
 * the guest's HRESULT and message unchanged.
 */

/*
 * MappedVirtualDisk Add of a layer disk, controller index 0-3 and LUN 0-63. With read_only the
 * request also carries Options ["ro"], as hcsshim's read-only layers do.
 */
GCS_EXPORT int gcs_add_scsi_layer(struct gcs_bridge *b, uint8_t controller, uint8_t lun,
				  const char *mount_path, bool read_only, struct gcs_error *err);
/* MappedVirtualDisk Add of a scratch disk: EnsureFilesystem with Filesystem "ext4". */
GCS_EXPORT int gcs_add_scratch_disk(struct gcs_bridge *b, uint8_t controller, uint8_t lun,
				    const char *mount_path, struct gcs_error *err);
/*
 * MappedVirtualDisk Remove (the unmount), then SCSIDevice Remove (the unplug hcsshim sends
 * before HCS detaches the disk). Stops at the first failure.
 */
GCS_EXPORT int gcs_remove_scsi_disk(struct gcs_bridge *b, uint8_t controller, uint8_t lun,
				    const char *mount_path, struct gcs_error *err);
/* VPMemDevice Add / Remove: /dev/pmem<device_number> mounted read-only at mount_path. */
GCS_EXPORT int gcs_add_pmem_layer(struct gcs_bridge *b, uint32_t device_number,
				  const char *mount_path, struct gcs_error *err);
GCS_EXPORT int gcs_remove_pmem_layer(struct gcs_bridge *b, uint32_t device_number,
				     const char *mount_path, struct gcs_error *err);
/*
 * CombinedLayers Add: an overlay of the layer mount paths (layers[0] is the top-most) at
 * root_path, with its upper and work directories under scratch_path (NULL or "": read-only).
 */
GCS_EXPORT int gcs_combine_layers(struct gcs_bridge *b, const char *container_id,
				  const char *root_path, const char *const *layers, size_t n,
				  const char *scratch_path, struct gcs_error *err);
/* CombinedLayers Remove: only ContainerRootPath is sent, as hcsshim does. */
GCS_EXPORT int gcs_uncombine_layers(struct gcs_bridge *b, const char *root_path,
				    struct gcs_error *err);
/*
 * Create with SchemaVersion 2.1, the bundle path, an OCI runtime spec (borrowed) and the
 * scratch directory (NULL: ""). hcsshim's createLCOWSpec has already rewritten the spec:
 * root.path is the overlay, linux.cgroupsPath is "", no hooks.
 */
GCS_EXPORT int gcs_create_container_spec(struct gcs_bridge *b, const char *id,
					 const char *bundle_path, json_t *oci_spec,
					 const char *scratch_dir_path, struct gcs_error *err);
/*
 * Starts the container's init process: ExecuteProcess for the container with no OciProcess
 * (the process is the spec's). hcsshim sends gcs_start_container just before. stdio: the three
 * streams (NULL: none).
 */
GCS_EXPORT int gcs_start_init(struct gcs_bridge *b, const char *id, const struct gcs_stdio stdio[3],
			      struct gcs_process **ret, struct gcs_error *err);
/* An exec in a running container: ExecuteProcess with an OCI process object (borrowed). */
GCS_EXPORT int gcs_container_exec(struct gcs_bridge *b, const char *id, json_t *oci_process,
				  const struct gcs_stdio stdio[3], struct gcs_process **ret,
				  struct gcs_error *err);

/*
 * Network Add (spec section 10.6): the adapter a (borrowed; NamespaceID, ID and MacAddress are
 * required, the rest as hcsshim fills it). The guest keeps the adapter in namespace
 * a->namespace_id and configures it in the network namespace of the sandbox or standalone
 * container that names it (windows.network.networkNamespace), at once if one exists.
 */
GCS_EXPORT int gcs_add_network_adapter(struct gcs_bridge *b,
				       const struct gcs_proto_network_adapter *a,
				       struct gcs_error *err);
/* Network Remove: only NamespaceID and ID are sent, as hcsshim does. */
GCS_EXPORT int gcs_remove_network_adapter(struct gcs_bridge *b, const char *namespace_id,
					  const char *adapter_id, struct gcs_error *err);

/*
 * ContainerConstraints Update of a container, as hcsshim's shim sends a task update:
 * Settings {"Windows":{},"Linux":linux_resources}, an OCI LinuxResources object (borrowed).
 * lcow's agent applies it with `runc update --resources`; what it cannot apply it refuses.
 */
GCS_EXPORT int gcs_update_container_resources(struct gcs_bridge *b, const char *id,
					      json_t *linux_resources, struct gcs_error *err);

/*
 * lcow extension (docs/protocol.md): ModifySettings LcowContainerOperation Update, sent with
 * the container's ID. operation is one of GCS_CONTAINER_OP_*: Pause freezes every process of
 * the container (runc pause), Resume thaws them, KillAll sends signal to every process
 * (runc kill --all; 0 is left out and means SIGKILL). signal must be 0 for the others.
 * -EOPNOTSUPP, with nothing sent, when the guest did not negotiate
 * LcowContainerOperationsSupported (the Go GCS never does).
 */
#define GCS_CONTAINER_OP_PAUSE "Pause"
#define GCS_CONTAINER_OP_RESUME "Resume"
#define GCS_CONTAINER_OP_KILL_ALL "KillAll"

GCS_EXPORT int gcs_container_operation(struct gcs_bridge *b, const char *container_id,
				       const char *operation, int signal, struct gcs_error *err);
