/*
 * A container's network as the CLI chooses it (create/run --network, -p/--publish):
 *
 *   none     no interface but lo (the spec's network namespace, if any, is a new empty one)
 *   user     QEMU's user-mode stack (libslirp): 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3;
 *            --publish forwards host ports to it; QEMU mode only
 *   ns:PATH  the host network namespace at PATH (runc's convention: what CNI sets up), wired to
 *            the container's NIC with lcow/net.h
 *
 * Default: the spec's linux.namespaces network path when it has one; else user in QEMU mode and
 * none in process mode. A CRI workload container (container-type "container") shares its
 * sandbox's network in the UVM: none of its own.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include <lcow/gcs.h>

#include <lcow/runtime.h>

#define NET_MAX_PUBLISH LCOW_RT_MAX_PUBLISH

struct net_opts {
	const char *network; /* --network; NULL: the default */
	const char *publish[NET_MAX_PUBLISH]; /* -p HOST:CTR[/tcp|udp] */
	size_t n_publish;
};

/* Checks the form of --network's value: none, user, or ns: and an absolute path. */
int net_network_check(const char *s, struct gcs_error *err);
/*
 * [IP:]HOSTPORT:CTRPORT[/tcp|udp] as QEMU's hostfwd ("tcp:127.0.0.1:18080-:80"); the host
 * address is 127.0.0.1 unless given.
 */
int net_publish_parse(const char *s, char *ret, size_t len, struct gcs_error *err);
/*
 * The container's network for a UVM in mode (qemu or process), as fields of the create
 * request: "network" ("none", "user" or "ns:PATH") and "publish" (hostfwd rules). A namespace
 * is read now (lcow_net_inspect), so that a wrong one is an error before any UVM boots.
 */
int net_resolve(const struct net_opts *o, json_t *spec, enum lcow_rt_mode mode, json_t *req,
		struct gcs_error *err);
/* Undoes what a container's wiring left (<ctr_dir>/net.json), after its daemon died. Quiet. */
void net_sweep(const char *ctr_dir);
