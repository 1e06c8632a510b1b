/*
 * Route netlink (links, addresses, routes, rules, tc redirects) through libnl-route-3, on a
 * socket bound to one network namespace, and network namespaces kept as bind-mounted files.
 * Every call returns 0 or a negative errno; libnl's own error codes are mapped to errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NLH_IFNAMSIZ 16

/* A route-netlink socket bound to the network namespace it was opened in. */
struct nlh;

/* Opens a socket in the namespace netns_fd (< 0: the caller's thread's namespace). */
int nlh_open(int netns_fd, struct nlh **ret);
void nlh_close(struct nlh *h);
static inline void nlh_closep(struct nlh **h)
{
	nlh_close(*h);
}

/* ---- addresses ---- */

/* An IPv4 or IPv6 address; a[] holds 4 or 16 bytes in network order. */
struct nlh_ip {
	int family; /* AF_INET or AF_INET6 */
	uint8_t a[16];
};

/* Parses a dotted IPv4 or an IPv6 address: -EINVAL otherwise. */
int nlh_ip_parse(const char *s, struct nlh_ip *ret);
/* Parses "ADDR/LEN" (-EINVAL on a bad address or a length over 32/128). */
int nlh_prefix_parse(const char *s, struct nlh_ip *ret_ip, unsigned *ret_len);
/* The address as text (buf of at least 46 bytes). */
const char *nlh_ip_str(const struct nlh_ip *ip, char *buf, size_t len);
/* Whether ip lies in net/len (same family). */
bool nlh_ip_in(const struct nlh_ip *ip, const struct nlh_ip *net, unsigned len);
/* Whether ip has bits set beyond its first len bits. */
bool nlh_ip_host_bits(const struct nlh_ip *ip, unsigned len);
/* The unspecified address (0.0.0.0 or ::). */
bool nlh_ip_is_any(const struct nlh_ip *ip);

/* Parses "00-15-5D-01-02-03" or "00:15:5d:01:02:03" (either case): -EINVAL otherwise. */
int nlh_mac_parse(const char *s, uint8_t ret[6]);
/* "00:15:5d:01:02:03" (buf of at least 18 bytes). */
const char *nlh_mac_str(const uint8_t mac[6], char *buf, size_t len);

/* ---- links ---- */

struct nlh_link {
	int ifindex;
	char name[NLH_IFNAMSIZ];
	uint8_t mac[6];
	unsigned mtu;
	bool up; /* IFF_UP */
	char kind[16]; /* "veth", "tun", ... ("" for a physical device) */
};

/* -ENODEV when there is no such link. */
int nlh_link_get(struct nlh *h, const char *name, struct nlh_link *ret);
int nlh_link_by_index(struct nlh *h, int ifindex, struct nlh_link *ret);
/* The link whose address is mac: -ENODEV when none is, -ENOTUNIQ when several are. */
int nlh_link_by_mac(struct nlh *h, const uint8_t mac[6], struct nlh_link *ret);
/* Calls fn for each link until it returns non-zero (which is then returned). */
int nlh_link_list(struct nlh *h, int (*fn)(void *user, const struct nlh_link *l), void *user);
int nlh_link_set_up(struct nlh *h, int ifindex, bool up);
int nlh_link_set_mtu(struct nlh *h, int ifindex, unsigned mtu);
int nlh_link_set_mac(struct nlh *h, int ifindex, const uint8_t mac[6]);
/* Moves the link into the namespace netns_fd (it keeps its name there). */
int nlh_link_set_netns(struct nlh *h, int ifindex, int netns_fd);
int nlh_link_del(struct nlh *h, int ifindex);
/* A veth pair: name here, peer in peer_netns_fd (< 0: here too). */
int nlh_veth_add(struct nlh *h, const char *name, const char *peer, int peer_netns_fd);

/* ---- addresses, routes, rules ---- */

int nlh_addr_add(struct nlh *h, int ifindex, const struct nlh_ip *ip, unsigned prefix_len);
/* Each global-scope address of the link (ifindex 0: of every link). */
int nlh_addr_list(struct nlh *h, int ifindex,
		  int (*fn)(void *user, int ifindex, const struct nlh_ip *ip, unsigned prefix_len),
		  void *user);

struct nlh_route {
	int ifindex;
	struct nlh_ip dst; /* family set even for a default route */
	unsigned dst_len; /* 0: the default route */
	bool has_gw;
	struct nlh_ip gw;
	unsigned metric;
	unsigned table; /* 0: main */
	bool onlink; /* the gateway is reachable on the link though in none of its subnets */
};

int nlh_route_add(struct nlh *h, const struct nlh_route *r);
/* Each unicast route of the main table through the link (ifindex 0: every link). */
int nlh_route_list(struct nlh *h, int ifindex, int (*fn)(void *user, const struct nlh_route *r),
		   void *user);
/* "from src/src_len lookup table" at priority. */
int nlh_rule_add(struct nlh *h, const struct nlh_ip *src, unsigned src_len, unsigned table,
		 unsigned priority);

/* ---- tc ---- */

/*
 * Everything arriving on from_ifindex leaves through to_ifindex: an ingress qdisc on from and a
 * u32 match-all filter with a mirred egress redirect (kata's "tcfilter" model; u32 rather
 * than matchall, which not every kernel has). Call it both ways
 * to join two links.
 */
int nlh_redirect(struct nlh *h, int from_ifindex, int to_ifindex);
/* Removes the ingress qdisc of the link, and with it its filters (none there: 0). */
int nlh_redirect_remove(struct nlh *h, int ifindex);

/* ---- tap devices ---- */

/* A tap device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) named name, created in netns_fd (< 0:
 * here); it goes away when the last fd closes. ret_fd is O_CLOEXEC. */
int nlh_tap_open(int netns_fd, const char *name, int *ret_fd);

/* ---- network namespaces ---- */

/* A new network namespace kept by a bind mount on path (created, 0644), lo up in it. */
int netns_create(const char *path);
/* Unmounts and unlinks path (missing: 0). */
int netns_remove(const char *path);
/* O_RDONLY | O_CLOEXEC fd of a namespace file (a bind mount or /proc/<pid>/ns/net). */
int netns_open(const char *path);
/* Switches the calling thread to netns_fd; ret_old gets an fd of the previous one. */
int netns_enter(int netns_fd, int *ret_old);
/* Switches back to old and closes it. */
void netns_leave(int old);
