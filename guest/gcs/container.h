/*
 * Containers (spec sections 7.1-7.14, 8, 11), through the runtime interface (runtime.h): the
 * request handlers, what process.c tells about container processes, and the agent's start-up
 * and shutdown of containers.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct agent;
struct container;
struct exec_op;
struct gcs_error;
struct gcs_proto_execute_process_req;
struct request;

int container_handle_create(struct request *req, struct gcs_error *err);
struct container *container_find(struct agent *a, const char *id);
/* Checks that a container can take an ExecuteProcess now. */
int container_prepare_exec(struct agent *a, const struct gcs_proto_execute_process_req *req,
			   struct container **ret, struct gcs_error *err);
/* The streams are dialed: start the init (runtime start) or an exec (runtime exec); owns op. */
void container_exec(struct exec_op *op);
int container_handle_shutdown(struct request *req, struct gcs_error *err);
int container_handle_properties(struct request *req, struct gcs_error *err);
int container_handle_delete(struct request *req, struct gcs_error *err);
void container_dump(struct agent *a, char *buf, size_t len);

/* ModifySettings with a container's ID: ContainerConstraints, LcowContainerOperation. */
int container_handle_modify(struct request *req, struct gcs_error *err);
/*
 * lcow's extension "LcowContainerOperation" (RequestType Update, the container's ID): Settings
 * {"Operation":"Pause"|"Resume"|"KillAll","Signal":N}; KillAll sends Signal (0 or absent:
 * SIGKILL) to every process of the container.
 */
int container_handle_operation(struct request *req, struct gcs_error *err);

/*
 * Agent shutdown, asynchronous, while the loop still runs: every runtime call in flight is
 * cancelled, every process of every container gets SIGKILL, each container is deleted by the
 * runtime (with its deadline), its cgroups and its bundle are removed; then done(a) is called
 * from the loop. The bridge is not read any more from here on.
 */
void container_shutdown(struct agent *a, void (*done)(struct agent *a));

/*
 * Start-up, before serving (synchronous, each runtime call with its deadline): every container
 * the runtime still knows is left by an earlier agent; it is killed and deleted, its cgroups
 * removed. Returns how many were removed, or a negative errno when the runtime's state could not
 * be read (each failure is logged).
 */
int container_recover(struct agent *a);
