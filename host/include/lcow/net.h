/*
 * A host network namespace wired to a utility VM's NIC, the runc convention (the OCI spec's
 * linux.namespaces network path, as CNI leaves it) on kata's model: the namespace holds one
 * interface with an address (the "veth", CNI's end of its pair); lcow adds a link of its own
 * next to it and joins the two with tc (an ingress qdisc and a mirred redirect each way), so
 * every frame arriving on one leaves through the other and the namespace's own stack sees none:
 *
 *   QEMU:          veth <-> tap (QEMU holds its fd; the guest NIC's MAC is the veth's)
 *   process mode:  veth <-> veth pair, whose peer is in the agent's network namespace with
 *                  the veth's MAC (the agent finds it by MAC, as it finds a VM's NIC)
 *
 * The guest's adapter gets the veth's MAC, its global addresses and routes, and the DNS
 * settings of the namespace (Network Add; see lcow/gcs.h). What is created is written down
 * first (a JSON record, see lcow_net_wire), so that lcow_net_unwire can undo it after a crash.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lcow/gcs.h>

#define LCOW_NET_IFNAMSIZ 16
#define LCOW_NET_MAX_ADDRS 8
#define LCOW_NET_MAX_ROUTES 16

struct lcow_net_addr {
	char ip[46]; /* "10.1.0.2", "fd00::2" */
	unsigned prefix_len;
};

struct lcow_net_route {
	char dst[50]; /* "0.0.0.0/0" for the default route, "::/0" for IPv6's */
	char gw[46]; /* "" for a route on the link */
	unsigned metric;
};

/* What a namespace's interface has, as the guest's adapter gets it. */
struct lcow_net_info {
	char veth[LCOW_NET_IFNAMSIZ]; /* its name in the namespace */
	uint8_t mac[6];
	unsigned mtu;
	struct lcow_net_addr addrs[LCOW_NET_MAX_ADDRS];
	size_t n_addrs;
	/* Its routes, but those of its own subnets (the guest's kernel adds them). */
	struct lcow_net_route routes[LCOW_NET_MAX_ROUTES];
	size_t n_routes;
	char dns_servers[256]; /* comma-separated */
	char dns_search[256]; /* comma-separated */
};

/*
 * Reads the namespace at netns_path (a bind mount such as /run/netns/NAME, or /proc/PID/ns/net):
 * its one interface that is not a loopback and has a global address (-ENOENT or -ENOTUNIQ
 * naming the namespace when there is none or several), with its MAC, MTU, addresses and
 * routes; and the DNS settings (lcow_net_resolv).
 */
GCS_EXPORT int lcow_net_inspect(const char *netns_path, struct lcow_net_info *ret,
				struct gcs_error *err);
/*
 * The nameservers (comma-separated, loopback ones left out: they mean nothing in the guest)
 * and search domains of the namespace: /etc/netns/NAME/resolv.conf when netns_path is
 * /run/netns/NAME (or /var/run/netns/NAME) and that file exists, as `ip netns exec` reads it,
 * else /etc/resolv.conf. Missing files give empty lists.
 */
GCS_EXPORT void lcow_net_resolv(const char *netns_path, char *servers, size_t servers_len,
				char *search, size_t search_len);

enum lcow_net_kind {
	LCOW_NET_TAP, /* a tap in the namespace, for QEMU */
	LCOW_NET_VETH, /* a veth pair, its peer in another namespace (the process-mode agent's) */
};

struct lcow_net_wire_options {
	enum lcow_net_kind kind;
	const char *netns; /* the namespace's path */
	const struct lcow_net_info *info; /* from lcow_net_inspect of that namespace */
	const char *link; /* the name of lcow's link in the namespace (< 16 bytes) */
	/* LCOW_NET_VETH: the peer's name and the namespace it goes to (a path to open) */
	const char *peer;
	const char *peer_netns;
	/* Written before anything is created; lcow_net_unwire reads it. */
	const char *record;
};

/*
 * Creates the link (the tap, or the veth pair with the peer moved and given info->mac and
 * info->mtu), sets it up and joins it to info->veth with a redirect each way. A veth that has
 * an ingress qdisc already (wired to another container) is -EBUSY, before anything is made. A tap's fd is
 * *ret_tap_fd (O_CLOEXEC; the tap goes when its last fd closes); otherwise -1. On failure what
 * was created is undone and the record removed.
 */
GCS_EXPORT int lcow_net_wire(const struct lcow_net_wire_options *o, int *ret_tap_fd,
			     struct gcs_error *err);
/*
 * Undoes what the record says was created: the ingress qdiscs (and so the redirects) of the
 * veth and of lcow's link, and the link (with a veth's peer); then removes the record.
 * Idempotent: a missing record, a namespace that is gone (or is another namespace now: the
 * record keeps its inode) and links that are gone are fine. Returns 0, or the first failure.
 */
GCS_EXPORT int lcow_net_unwire(const char *record, struct gcs_error *err);

/* A Network Add's adapter with the storage its strings point into. */
struct lcow_net_adapter {
	char namespace_id[37];
	char id[37];
	char mac[18]; /* hcsshim's form: "00-15-5D-01-02-03" */
	struct gcs_proto_ip_config ip_configs[LCOW_NET_MAX_ADDRS];
	struct gcs_proto_route routes[LCOW_NET_MAX_ROUTES];
	struct gcs_proto_network_adapter a; /* points into the above and into info */
};

/*
 * Fills ret from info for the namespace namespace_id and the adapter adapter_id (GUIDs, kept
 * as given); ret->a borrows info's strings, so info must outlive it.
 */
GCS_EXPORT void lcow_net_adapter(const struct lcow_net_info *info, const char *namespace_id,
				 const char *adapter_id, struct lcow_net_adapter *ret);
/* A random (version 4) GUID, lowercase: namespace and adapter IDs. */
GCS_EXPORT void lcow_net_guid(char buf[37]);
/* "00-15-5D-01-02-03" (buf of at least 18 bytes). */
GCS_EXPORT const char *lcow_net_mac_dashed(const uint8_t mac[6], char *buf, size_t len);
