/*
 * Network adapters in network namespaces (spec section 10.6). A NamespaceID names a network
 * namespace the agent creates on demand and keeps bind-mounted at <run root>/gcs/netns/<id>.
 * Network Add finds the adapter's interface (VMBus instance ID, else MAC), records it, and moves
 * and configures it at once when the sandbox or standalone container naming the namespace
 * (windows.network.networkNamespace) exists, else at that container's Create. Containers of the
 * namespace run in it: their spec's network namespace becomes its path.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "gcs/hresult.h"

struct agent;
struct request;

/* ModifySettings Network (Add or Remove); may keep the request while the interface appears. */
int net_handle_modify(struct request *req, struct gcs_error *err);

/*
 * Create of container cid (spec: what its config.json will be): for a sandbox or standalone container naming a namespace, its NICs are
 * moved and configured, the spec's network namespace becomes the namespace's path, and
 * hostname, hosts and resolv.conf are written into the bundle (bundle_fd) and bind-mounted
 * unless the spec mounts them itself; a workload container of a pod gets its sandbox's files.
 * Containers naming no namespace are left as they are.
 */
int net_container_create(struct agent *a, const char *cid, json_t *spec, const char *bundle,
			 int bundle_fd, struct gcs_error *err);
/* Container cid goes (deleted, failed Create, shutdown): its namespace, without NICs, goes. */
void net_container_gone(struct agent *a, const char *cid);

/* Start-up: namespaces an earlier agent left under <run root>/gcs/netns are removed. */
void net_recover(struct agent *a);
/* Shutdown: every namespace goes (its NICs go back to the UVM's namespace, veths are deleted). */
void net_cleanup(struct agent *a);
/* One line per namespace and NIC (DumpStacks). */
void net_dump(struct agent *a, char *buf, size_t len);
