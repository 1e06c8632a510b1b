/*
 * A host network namespace wired to a guest NIC (see lcow/net.h): kata's tc model on
 * common/nl.h's netlink helpers.
 */
#include <lcow/net.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/route/qdisc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "nl.h"

/* ---- reading a namespace ---- */

struct scan {
	int ifindex; /* the one link with an address */
	int n; /* links with an address */
	char names[128]; /* their names, for the error */
	struct lcow_net_info *info;
};

static int scan_addr(void *user, int ifindex, const struct nlh_ip *ip, unsigned prefix_len)
{
	struct scan *s = user;

	(void)ip;
	(void)prefix_len;
	if (s->n > 0 && s->ifindex == ifindex)
		return 0;
	if (s->n == 0)
		s->ifindex = ifindex;
	s->n++;
	return 0;
}

/* Loopbacks carry addresses too (127.0.0.1 has host scope, but 127.0.0.2/8 may not). */
static bool is_loopback(const struct nlh_link *l)
{
	static const uint8_t zero[6];

	return !strcmp(l->name, "lo") || (!l->kind[0] && !memcmp(l->mac, zero, 6));
}

struct with_addr {
	struct nlh *h;
	struct scan *s;
};

/* Counts the links that have a global address, loopbacks left out. */
static int count_link(void *user, const struct nlh_link *l)
{
	struct with_addr *w = user;
	struct scan one = { 0 };
	int rc;

	if (is_loopback(l))
		return 0;
	rc = nlh_addr_list(w->h, l->ifindex, scan_addr, &one);
	if (rc < 0)
		return rc;
	if (one.n == 0)
		return 0;
	if (w->s->n++ == 0)
		w->s->ifindex = l->ifindex;
	snprintf(w->s->names + strlen(w->s->names), sizeof(w->s->names) - strlen(w->s->names),
		 "%s%s", w->s->n > 1 ? ", " : "", l->name);
	return 0;
}

static int add_addr(void *user, int ifindex, const struct nlh_ip *ip, unsigned prefix_len)
{
	struct lcow_net_info *info = user;
	struct lcow_net_addr *a;

	(void)ifindex;
	if (info->n_addrs >= LCOW_NET_MAX_ADDRS)
		return 0;
	a = &info->addrs[info->n_addrs++];
	nlh_ip_str(ip, a->ip, sizeof(a->ip));
	a->prefix_len = prefix_len;
	return 0;
}

/* Whether the route is the subnet route of one of the link's addresses. */
static bool connected(const struct lcow_net_info *info, const struct nlh_route *r)
{
	if (r->has_gw)
		return false;
	for (size_t i = 0; i < info->n_addrs; i++) {
		struct nlh_ip ip;
		if (nlh_ip_parse(info->addrs[i].ip, &ip) == 0 && ip.family == r->dst.family &&
		    info->addrs[i].prefix_len == r->dst_len && nlh_ip_in(&ip, &r->dst, r->dst_len))
			return true;
	}
	return false;
}

static int add_route(void *user, const struct nlh_route *r)
{
	struct lcow_net_info *info = user;
	struct lcow_net_route *out;
	char dst[46];

	if (connected(info, r) || info->n_routes >= LCOW_NET_MAX_ROUTES)
		return 0;
	/* IPv6's link-local and multicast routes on every link */
	if (r->dst.family == AF_INET6 && r->dst_len > 0 &&
	    ((r->dst.a[0] == 0xfe && (r->dst.a[1] & 0xc0) == 0x80) || r->dst.a[0] == 0xff))
		return 0;
	out = &info->routes[info->n_routes++];
	nlh_ip_str(&r->dst, dst, sizeof(dst));
	if (r->dst_len == 0)
		snprintf(dst, sizeof(dst), "%s", r->dst.family == AF_INET6 ? "::" : "0.0.0.0");
	snprintf(out->dst, sizeof(out->dst), "%s/%u", dst, r->dst_len);
	out->gw[0] = '\0';
	if (r->has_gw)
		nlh_ip_str(&r->gw, out->gw, sizeof(out->gw));
	out->metric = r->metric;
	return 0;
}

int lcow_net_inspect(const char *netns_path, struct lcow_net_info *ret, struct gcs_error *err)
{
	struct lcow_net_info info = { 0 };
	struct scan s = { .info = &info };
	struct nlh *h = NULL;
	struct nlh_link l;
	struct with_addr w;
	_cleanup_close_ int fd = netns_open(netns_path);
	int rc;

	if (fd < 0)
		return gcs_error_set(err, fd, HR_FAIL, "network namespace %s: %s", netns_path,
				     strerror(-fd));
	rc = nlh_open(fd, &h);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "network namespace %s: netlink: %s",
				     netns_path, strerror(-rc));
	w = (struct with_addr){ h, &s };
	rc = nlh_link_list(h, count_link, &w);
	if (rc == 0 && s.n == 0)
		rc = gcs_error_set(err, -ENOENT, HR_FAIL,
				   "network namespace %s has no interface with an address (a veth "
				   "configured as CNI leaves it) to give the container",
				   netns_path);
	else if (rc == 0 && s.n > 1)
		rc = gcs_error_set(
			err, -ENOTUNIQ, HR_FAIL,
			"network namespace %s has several interfaces with addresses (%s): "
			"lcow gives a container the one veth of its namespace",
			netns_path, s.names);
	else if (rc < 0)
		gcs_error_set(err, rc, HR_FAIL, "network namespace %s: links: %s", netns_path,
			      strerror(-rc));
	if (rc == 0 && (rc = nlh_link_by_index(h, s.ifindex, &l)) < 0)
		gcs_error_set(err, rc, HR_FAIL, "network namespace %s: link %d: %s", netns_path,
			      s.ifindex, strerror(-rc));
	if (rc == 0) {
		snprintf(info.veth, sizeof(info.veth), "%s", l.name);
		memcpy(info.mac, l.mac, 6);
		info.mtu = l.mtu;
		rc = nlh_addr_list(h, l.ifindex, add_addr, &info);
		if (rc == 0)
			rc = nlh_route_list(h, l.ifindex, add_route, &info);
		if (rc < 0)
			gcs_error_set(err, rc, HR_FAIL, "network namespace %s: %s: %s", netns_path,
				      l.name, strerror(-rc));
	}
	nlh_close(h);
	if (rc < 0)
		return rc;
	lcow_net_resolv(netns_path, info.dns_servers, sizeof(info.dns_servers), info.dns_search,
			sizeof(info.dns_search));
	*ret = info;
	return 0;
}

/* ---- resolv.conf ---- */

static void list_add(char *list, size_t len, const char *item)
{
	size_t n = strlen(list);

	/* whole items only */
	if (n + strlen(item) + 2 > len)
		return;
	snprintf(list + n, len - n, "%s%s", n ? "," : "", item);
}

static bool loopback_ip(const char *s)
{
	struct nlh_ip ip;
	static const uint8_t v6_lo[16] = { [15] = 1 };

	if (nlh_ip_parse(s, &ip) < 0)
		return false;
	return ip.family == AF_INET ? ip.a[0] == 127 : !memcmp(ip.a, v6_lo, 16);
}

void lcow_net_resolv(const char *netns_path, char *servers, size_t servers_len, char *search,
		     size_t search_len)
{
	static const char *const dirs[] = { "/run/netns/", "/var/run/netns/" };
	char path[4096] = "/etc/resolv.conf", line[1024];
	_cleanup_fclose_ FILE *f = NULL;

	servers[0] = search[0] = '\0';
	for (size_t i = 0; netns_path && i < ARRAY_SIZE(dirs); i++) {
		size_t n = strlen(dirs[i]);
		char p[4096];
		if (strncmp(netns_path, dirs[i], n) != 0 || !netns_path[n] ||
		    strchr(netns_path + n, '/'))
			continue;
		snprintf(p, sizeof(p), "/etc/netns/%s/resolv.conf", netns_path + n);
		if (access(p, R_OK) == 0)
			snprintf(path, sizeof(path), "%s", p);
	}
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *save = NULL, *key = strtok_r(line, " \t\r\n", &save), *v;
		bool ns;

		if (!key || key[0] == '#' || key[0] == ';')
			continue;
		ns = !strcmp(key, "nameserver");
		if (!ns && strcmp(key, "search") != 0 && strcmp(key, "domain") != 0)
			continue;
		/* the last search or domain line wins, as in resolv.conf(5) */
		if (!ns)
			search[0] = '\0';
		while ((v = strtok_r(NULL, " \t\r\n", &save))) {
			if (v[0] == '#' || v[0] == ';')
				break;
			if (ns && !loopback_ip(v))
				list_add(servers, servers_len, v);
			else if (!ns)
				list_add(search, search_len, v);
			if (ns)
				break;
		}
	}
}

/* ---- the record ---- */

static int record_write(const struct lcow_net_wire_options *o, unsigned long long ns_ino)
{
	char tmp[4096];
	json_t *j =
		json_pack("{s:s, s:s, s:I, s:s, s:s}", "kind",
			  o->kind == LCOW_NET_TAP ? "tap" : "veth", "netns", o->netns, "netns_ino",
			  (json_int_t)ns_ino, "veth", o->info->veth, "link", o->link);
	int rc;

	if (!j)
		return -ENOMEM;
	if (o->kind == LCOW_NET_VETH)
		json_object_set_new(j, "peer", json_string(o->peer));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", o->record) >= (int)sizeof(tmp)) {
		json_decref(j);
		return -ENAMETOOLONG;
	}
	rc = json_dump_file(j, tmp, JSON_COMPACT) < 0 ? -EIO : 0;
	json_decref(j);
	if (rc == 0 && rename(tmp, o->record) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* ---- wiring ---- */

/* The link of that name, or -ENODEV. */
static int link_index(struct nlh *h, const char *name)
{
	struct nlh_link l;
	int rc = nlh_link_get(h, name, &l);

	return rc < 0 ? rc : l.ifindex;
}

/*
 * Whether the link ifindex of the namespace ns_fd has an ingress qdisc: a veth wired already
 * (another container's, whose undo would take ours too) or tc rules of someone else's. nl.h
 * lists no qdiscs, so this asks libnl-route directly.
 */
static int has_ingress(int ns_fd, int ifindex)
{
	struct nl_sock *sk = NULL;
	struct nl_cache *cache = NULL;
	struct rtnl_qdisc *q;
	int old = -1, rc = netns_enter(ns_fd, &old);

	if (rc < 0)
		return rc;
	sk = nl_socket_alloc();
	rc = !sk ? -ENOMEM : nl_connect(sk, NETLINK_ROUTE) < 0 ? -EIO : 0;
	netns_leave(old);
	if (rc == 0 && rtnl_qdisc_alloc_cache(sk, &cache) < 0)
		rc = -EIO;
	if (rc == 0) {
		q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_INGRESS);
		rc = q != NULL;
		if (q)
			rtnl_qdisc_put(q);
	}
	if (cache)
		nl_cache_free(cache);
	if (sk)
		nl_socket_free(sk);
	return rc;
}

/* The namespace's veth must be free: nothing is written or made otherwise. */
static int check_free(const struct lcow_net_wire_options *o, int ns_fd, struct gcs_error *err)
{
	struct nlh *h = NULL;
	int ifindex, rc = nlh_open(ns_fd, &h);

	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "network namespace %s: netlink: %s",
				     o->netns, strerror(-rc));
	ifindex = link_index(h, o->info->veth);
	nlh_close(h);
	if (ifindex < 0)
		return gcs_error_set(err, ifindex, HR_FAIL, "%s: %s: %s", o->netns, o->info->veth,
				     strerror(-ifindex));
	rc = has_ingress(ns_fd, ifindex);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "%s: the qdiscs of %s: %s", o->netns,
				     o->info->veth, strerror(-rc));
	if (rc > 0)
		return gcs_error_set(err, -EBUSY, HR_FAIL,
				     "network namespace %s is in use: its %s has an ingress qdisc "
				     "already (wired to another container, or tc rules of its own)",
				     o->netns, o->info->veth);
	return 0;
}

/* The peer in its namespace: the veth's MAC and MTU, for the agent to find and use. */
static int peer_setup(const struct lcow_net_wire_options *o, int peer_fd)
{
	struct nlh *ph = NULL;
	struct nlh_link pl;
	int rc = nlh_open(peer_fd, &ph);

	if (rc < 0)
		return rc;
	rc = nlh_link_get(ph, o->peer, &pl);
	if (rc == 0)
		rc = nlh_link_set_mac(ph, pl.ifindex, o->info->mac);
	if (rc == 0 && o->info->mtu)
		rc = nlh_link_set_mtu(ph, pl.ifindex, o->info->mtu);
	nlh_close(ph);
	return rc;
}

static int wire(const struct lcow_net_wire_options *o, int ns_fd, struct nlh *h, int *tap_fd,
		struct gcs_error *err)
{
	int veth, link, rc;

	veth = link_index(h, o->info->veth);
	if (veth < 0)
		return gcs_error_set(err, veth, HR_FAIL, "%s: %s: %s", o->netns, o->info->veth,
				     strerror(-veth));
	if (o->kind == LCOW_NET_TAP) {
		rc = nlh_tap_open(ns_fd, o->link, tap_fd);
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL, "%s: tap %s: %s", o->netns, o->link,
					     strerror(-rc));
	} else {
		_cleanup_close_ int peer_fd = netns_open(o->peer_netns);
		if (peer_fd < 0)
			return gcs_error_set(err, peer_fd, HR_FAIL, "network namespace %s: %s",
					     o->peer_netns, strerror(-peer_fd));
		rc = nlh_veth_add(h, o->link, o->peer, peer_fd);
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL, "%s: veth %s (peer %s in %s): %s",
					     o->netns, o->link, o->peer, o->peer_netns,
					     strerror(-rc));
		rc = peer_setup(o, peer_fd);
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL, "%s: the MAC and MTU of %s: %s",
					     o->peer_netns, o->peer, strerror(-rc));
	}
	link = link_index(h, o->link);
	if (link < 0)
		return gcs_error_set(err, link, HR_FAIL, "%s: %s: %s", o->netns, o->link,
				     strerror(-link));
	rc = o->info->mtu ? nlh_link_set_mtu(h, link, o->info->mtu) : 0;
	if (rc == 0)
		rc = nlh_link_set_up(h, link, true);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "%s: set %s up: %s", o->netns, o->link,
				     strerror(-rc));
	rc = nlh_redirect(h, veth, link);
	if (rc == 0)
		rc = nlh_redirect(h, link, veth);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "%s: tc redirects between %s and %s: %s",
				     o->netns, o->info->veth, o->link, strerror(-rc));
	/* the veth itself must be up for frames to flow; CNI leaves it so */
	rc = nlh_link_set_up(h, veth, true);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "%s: set %s up: %s", o->netns, o->info->veth,
				     strerror(-rc));
	return 0;
}

int lcow_net_wire(const struct lcow_net_wire_options *o, int *ret_tap_fd, struct gcs_error *err)
{
	_cleanup_close_ int ns_fd = -1;
	struct nlh *h = NULL;
	struct stat st;
	int tap_fd = -1, rc;

	if (!o->netns || !o->info || !o->link || !o->record || strlen(o->link) >= NLH_IFNAMSIZ ||
	    (o->kind == LCOW_NET_VETH &&
	     (!o->peer || !o->peer_netns || strlen(o->peer) >= NLH_IFNAMSIZ)))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "wire a network namespace: bad "
				     "options");
	ns_fd = netns_open(o->netns);
	if (ns_fd < 0)
		return gcs_error_set(err, ns_fd, HR_FAIL, "network namespace %s: %s", o->netns,
				     strerror(-ns_fd));
	if (fstat(ns_fd, &st) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "network namespace %s: %m", o->netns);
	if ((rc = check_free(o, ns_fd, err)) < 0)
		return rc;
	rc = record_write(o, (unsigned long long)st.st_ino);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "write %s: %s", o->record, strerror(-rc));
	rc = nlh_open(ns_fd, &h);
	if (rc < 0)
		gcs_error_set(err, rc, HR_FAIL, "network namespace %s: netlink: %s", o->netns,
			      strerror(-rc));
	else
		rc = wire(o, ns_fd, h, &tap_fd, err);
	nlh_close(h);
	if (rc < 0) {
		struct gcs_error e2 = { 0 };
		if (tap_fd >= 0)
			close(tap_fd);
		lcow_net_unwire(o->record, &e2);
		return rc;
	}
	*ret_tap_fd = tap_fd;
	return 0;
}

/* ---- unwiring ---- */

/* Removes the redirect of a link by name and, del, the link itself; a missing link is fine. */
static int undo_link(struct nlh *h, const char *name, bool del)
{
	int ifindex, rc;

	if (!name || !name[0])
		return 0;
	ifindex = link_index(h, name);
	if (ifindex == -ENODEV)
		return 0;
	if (ifindex < 0)
		return ifindex;
	rc = nlh_redirect_remove(h, ifindex);
	if (rc == 0 && del) {
		rc = nlh_link_del(h, ifindex);
		if (rc == -ENODEV)
			rc = 0;
	}
	return rc;
}

int lcow_net_unwire(const char *record, struct gcs_error *err)
{
	json_error_t jerr;
	json_t *j = json_load_file(record, 0, &jerr);
	const char *netns, *veth, *link;
	_cleanup_close_ int ns_fd = -1;
	struct nlh *h = NULL;
	struct stat st;
	int rc = 0;

	if (!j) {
		if (access(record, F_OK) < 0 && errno == ENOENT)
			return 0;
		/* a record cut short by a crash while it was written: nothing was created yet */
		unlink(record);
		return 0;
	}
	netns = json_string_value(json_object_get(j, "netns"));
	veth = json_string_value(json_object_get(j, "veth"));
	link = json_string_value(json_object_get(j, "link"));
	ns_fd = netns ? netns_open(netns) : -ENOENT;
	if (ns_fd >= 0 &&
	    (fstat(ns_fd, &st) < 0 ||
	     (json_int_t)st.st_ino != json_integer_value(json_object_get(j, "netns_ino")))) {
		/* the path names another namespace now: ours is gone, and with it our links */
		close(ns_fd);
		ns_fd = -ENOENT;
	}
	if (ns_fd >= 0) {
		rc = nlh_open(ns_fd, &h);
		/* the link first: with it go a veth's peer and the redirect towards it */
		if (rc == 0)
			rc = undo_link(h, link, true);
		if (rc == 0)
			rc = undo_link(h, veth, false);
		nlh_close(h);
		if (rc < 0)
			gcs_error_set(err, rc, HR_FAIL, "undo the wiring of %s (%s, %s): %s", netns,
				      veth ? veth : "?", link ? link : "?", strerror(-rc));
	}
	json_decref(j);
	if (rc == 0 && unlink(record) < 0 && errno != ENOENT)
		rc = gcs_error_set(err, -errno, HR_FAIL, "remove %s: %m", record);
	return rc;
}

/* ---- the adapter ---- */

void lcow_net_adapter(const struct lcow_net_info *info, const char *namespace_id,
		      const char *adapter_id, struct lcow_net_adapter *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->namespace_id, sizeof(ret->namespace_id), "%s", namespace_id);
	snprintf(ret->id, sizeof(ret->id), "%s", adapter_id);
	lcow_net_mac_dashed(info->mac, ret->mac, sizeof(ret->mac));
	for (size_t i = 0; i < info->n_addrs; i++)
		ret->ip_configs[i] = (struct gcs_proto_ip_config){
			.ip_address = info->addrs[i].ip,
			.prefix_length = (uint8_t)info->addrs[i].prefix_len,
		};
	for (size_t i = 0; i < info->n_routes; i++)
		ret->routes[i] = (struct gcs_proto_route){
			.next_hop = info->routes[i].gw,
			.destination_prefix = info->routes[i].dst,
			.metric = info->routes[i].metric > UINT16_MAX ?
					  UINT16_MAX :
					  (uint16_t)info->routes[i].metric,
		};
	ret->a = (struct gcs_proto_network_adapter){
		.namespace_id = ret->namespace_id,
		.id = ret->id,
		.mac_address = ret->mac,
		.dns_suffix = info->dns_search,
		.dns_server_list = info->dns_servers,
		.ip_configs = ret->ip_configs,
		.n_ip_configs = info->n_addrs,
		.routes = ret->routes,
		.n_routes = info->n_routes,
	};
}

void lcow_net_guid(char buf[37])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

const char *lcow_net_mac_dashed(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02X-%02X-%02X-%02X-%02X-%02X", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}
