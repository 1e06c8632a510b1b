/*
 * Network adapters as the agent keeps them (spec section 10.6): the checked, parsed form of a
 * Network Add, and the files a container of a network namespace gets (resolv.conf, hosts,
 * hostname) written as hcsshim's guest writes them. Pure functions: no netlink, no files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcs/hresult.h"
#include "gcs/messages.h"
#include "nl.h"

#define NET_MAX_IPS 16
#define NET_MAX_ROUTES 32
/* resolv.conf(5): at most 6 search domains */
#define NET_MAX_SEARCHES 6
#define NET_ID_MAX 64

struct net_route_conf {
	struct nlh_ip dst;
	unsigned dst_len;
	bool has_gw;
	struct nlh_ip gw;
	unsigned metric;
	bool onlink; /* the gateway is in none of the adapter's subnets */
};

/* One adapter: everything checked at Add, before anything changes. */
struct net_adapter_conf {
	char id[NET_ID_MAX]; /* lowercase */
	char ns_id[NET_ID_MAX]; /* lowercase */
	bool has_mac;
	uint8_t mac[6];
	unsigned encap_overhead;
	struct nlh_ip ips[NET_MAX_IPS];
	unsigned ip_lens[NET_MAX_IPS];
	size_t n_ips;
	struct net_route_conf routes[NET_MAX_ROUTES];
	size_t n_routes;
	bool policy_based_routing;
	bool enable_low_metric;
	char *dns_suffix; /* comma-separated, as sent (malloc'd, may be NULL) */
	char *dns_servers;
};

/*
 * A GUID-like ID (hex digits and dashes, at most 63 characters) lowercased into buf:
 * -EINVAL otherwise. It becomes a file name under the agent's run directory.
 */
int net_id_normalize(const char *id, char *buf, size_t len);

/*
 * Checks and parses a Network Add. E_INVALIDARG for a bad ID, MAC, address, prefix length,
 * route, DNS entry; E_NOTIMPL for what the agent does not do (VPCI-assigned adapters, DHCP for
 * an adapter without IPConfigs). The message names the adapter and the field.
 */
int net_adapter_parse(const struct gcs_proto_network_adapter *in, struct net_adapter_conf *ret,
		      struct gcs_error *err);
void net_adapter_conf_free(struct net_adapter_conf *c);

/*
 * resolv.conf of a namespace from its adapters' DNSSuffix and DNSServerList (in order, trimmed,
 * lowercased, duplicates dropped): "search a b\n", then one "nameserver x\n" per server. More
 * than NET_MAX_SEARCHES search domains is -E2BIG. *ret is malloc'd.
 */
int net_resolv_conf(const struct net_adapter_conf *const *adapters, size_t n, char **ret);
/* /etc/hosts for hostname, as hcsshim's guest writes it. *ret is malloc'd. */
int net_hosts(const char *hostname, char **ret);
/* hcsshim's hostname check ([a-zA-Z0-9_.-], at most 255): nothing else reaches /etc/hosts. */
bool net_hostname_valid(const char *hostname);
