/*
 * Containers (spec sections 7.1-7.14, 8, 11): Create, the init's start on the first
 * ExecuteProcess, execs, signals and exit types, one notification per container, GetProperties,
 * ContainerConstraints, DeleteContainerState. See container.c.
 */
#pragma once

#include <stddef.h>

#include "gcs/hresult.h"
#include "gcs/messages.h"

struct agent;
struct container;
struct exec_op;
struct request;

int container_handle_create(struct request *req, struct gcs_error *err);
int container_handle_shutdown(struct request *req, struct gcs_error *err);
int container_handle_properties(struct request *req, struct gcs_error *err);
int container_handle_delete(struct request *req, struct gcs_error *err);
/* ModifySettings with a container's ID (ContainerConstraints). */
int container_handle_modify(struct request *req, struct gcs_error *err);

struct container *container_find(struct agent *a, const char *id);
/* Checks that a container can take an ExecuteProcess now. */
int container_prepare_exec(struct agent *a, const struct gcs_proto_execute_process_req *req,
			   struct container **ret, struct gcs_error *err);
/* The streams are dialed: start the init (runc start) or an exec (runc exec); owns op. */
void container_exec(struct exec_op *op);

void container_dump(struct agent *a, char *buf, size_t len);
/* Kills and deletes every container (agent exit). */
void container_cleanup(struct agent *a);
