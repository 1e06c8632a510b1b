/*
 * What container.c, container_props.c and container_teardown.c share: the container record and
 * the runtime calls made on its behalf. Not for other files: they use container.h.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "agent.h"
#include "exec_op.h"
#include "process.h"
#include "request.h"
#include "runtime.h"

enum container_state { C_CREATING, C_CREATED, C_RUNNING, C_STOPPED };

struct container {
	struct list node;
	struct agent *a;
	char *id;
	char activity_id[GCS_GUID_STRING_LEN + 1];
	char *bundle;
	bool bundle_created; /* Create made the bundle directory: a failed Create removes it */
	char *scratch_dir;
	char *rootfs;
	json_t *spec;
	enum container_state state;
	bool terminal;
	bool own_pid_ns;
	bool paused;
	bool starting; /* the runtime's start of the init is in flight */
	pid_t init_pid;
	struct process *init;
	int io[3]; /* our ends of the init's pipes: stdin (write), stdout, stderr (read) */
	int console; /* pty master of a terminal init */
	const char *exit_type;
	bool init_done;
	bool notified;
	bool shutting_down; /* container_shutdown: no more notifications, no more calls */
	struct list calls; /* runtime calls in flight for it (struct call) */
	struct request *pending; /* the Create being answered */
	struct gcs_error
		create_error; /* a failed Create's answer, sent once the runtime cleaned up */
	char **cgroups; /* shutdown: its cgroup directories, read before the runtime deletes it */
};

/* A runtime call on behalf of a container (and of a request, if any). */
struct call {
	struct list node; /* in c->calls */
	struct container *c;
	void (*fn)(struct call *call, struct runtime_result *r);
	struct runtime_call *rt; /* the runtime's handle, until fn runs */
	struct request *req; /* the request answered when fn runs */
	struct exec_op *op; /* ExecuteProcess: answered (and freed) when fn runs */
	bool terminal;
	char name[64];
	bool want_list; /* GetProperties */
	bool want_metrics;
	int operation; /* LcowContainerOperation, and its signal */
	int sig;
	char **cgroups; /* delete: cgroup directories to remove afterwards */
};

/* The HRESULT of a failed runtime call: a deadline that passed is the host's timeout code. */
static inline int32_t runtime_hresult(const struct runtime_result *r)
{
	return r->timed_out ? HR_VMCOMPUTE_TIMEOUT : HR_FAIL;
}

static inline const struct runtime *container_rt(const struct container *c)
{
	return runtime_get(c->a);
}

/* A call record for c (not started). req and op may be NULL. */
struct call *call_new(struct container *c, void (*fn)(struct call *, struct runtime_result *),
		      struct request *req, struct exec_op *op);
/* The runtime's completion: forgets the runtime handle, runs call->fn. For every call. */
void call_done(void *data, struct runtime_result *r);
/* Unlinks and frees the record; a runtime call still in flight is cancelled (no callback). */
void call_free(struct call *call);

/*
 * Frees the record: its calls are cancelled, the requests still waiting for them are answered
 * with an error (answer) or dropped (an ExecuteProcess is always answered), its files are not
 * touched.
 */
void container_free(struct container *c, bool answer);

/* Removes path beneath the run root without following symlinks or crossing mounts. */
void container_remove_path(struct agent *a, const char *path);
/* Removes the bundle, and the scratch directory unless the rootfs is still mounted on it. */
void container_remove_files(struct container *c);
/* rmdir of each cgroup directory (and those below it), logging what stays. */
void container_remove_cgroups(struct container *c, char **paths);
