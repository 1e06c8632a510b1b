/*
 * Route netlink through libnl-route-3. A socket is bound to the network namespace of the thread
 * that connects it, so nlh_open enters the namespace only for the connect. libnl's error codes
 * are mapped back to errno (its mapping from the kernel's errno is lossy: unknown ones are EIO).
 */
#include "nl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <netlink/route/tc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#ifndef ETH_P_ALL
#define ETH_P_ALL 0x0003
#endif

struct nlh {
	struct nl_sock *sk;
};

static int errno_of(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case 0:
		return 0;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_INVAL:
	case NLE_MSGSIZE:
		return -EINVAL;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	default:
		return -EIO;
	}
}

/* ---- namespaces ---- */

int netns_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int netns_enter(int netns_fd, int *ret_old)
{
	int old = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (old < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		int rc = -errno;
		close(old);
		return rc;
	}
	*ret_old = old;
	return 0;
}

void netns_leave(int old)
{
	if (old < 0)
		return;
	/* Cannot fail for a namespace this thread was in; nothing sane is left if it did. */
	if (setns(old, CLONE_NEWNET) < 0)
		abort();
	close(old);
}

int netns_create(const char *path)
{
	int fd, old, rc = 0;
	struct nlh *h = NULL;
	struct nlh_link lo;

	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	old = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (old < 0) {
		rc = -errno;
		unlink(path);
		return rc;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		rc = -errno;
		close(old);
		unlink(path);
		return rc;
	}
	if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0)
		rc = -errno;
	if (rc == 0)
		rc = nlh_open(-1, &h);
	if (rc == 0)
		rc = nlh_link_get(h, "lo", &lo);
	if (rc == 0)
		rc = nlh_link_set_up(h, lo.ifindex, true);
	nlh_close(h);
	netns_leave(old);
	if (rc < 0)
		netns_remove(path);
	return rc;
}

int netns_remove(const char *path)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* ---- sockets ---- */

int nlh_open(int netns_fd, struct nlh **ret)
{
	struct nlh *h = calloc(1, sizeof(*h));
	int old = -1, rc;

	if (!h)
		return -ENOMEM;
	h->sk = nl_socket_alloc();
	if (!h->sk) {
		free(h);
		return -ENOMEM;
	}
	if (netns_fd >= 0 && (rc = netns_enter(netns_fd, &old)) < 0)
		goto fail;
	rc = errno_of(nl_connect(h->sk, NETLINK_ROUTE));
	netns_leave(old);
	if (rc < 0)
		goto fail;
	/* libnl's sockets are not CLOEXEC: children (runc, QEMU) must not inherit them. */
	fcntl(nl_socket_get_fd(h->sk), F_SETFD, FD_CLOEXEC);
	*ret = h;
	return 0;
fail:
	nl_socket_free(h->sk);
	free(h);
	return rc;
}

void nlh_close(struct nlh *h)
{
	if (!h)
		return;
	nl_socket_free(h->sk);
	free(h);
}

/* ---- addresses as values ---- */

static size_t ip_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

int nlh_ip_parse(const char *s, struct nlh_ip *ret)
{
	struct nlh_ip ip = { 0 };

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, ip.a) == 1)
		ip.family = AF_INET;
	else if (inet_pton(AF_INET6, s, ip.a) == 1)
		ip.family = AF_INET6;
	else
		return -EINVAL;
	*ret = ip;
	return 0;
}

int nlh_prefix_parse(const char *s, struct nlh_ip *ret_ip, unsigned *ret_len)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	char addr[64], *end;
	unsigned long len;
	struct nlh_ip ip;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1])
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (nlh_ip_parse(addr, &ip) < 0)
		return -EINVAL;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || slash[1] < '0' || slash[1] > '9' || len > ip_len(ip.family) * 8)
		return -EINVAL;
	*ret_ip = ip;
	*ret_len = (unsigned)len;
	return 0;
}

const char *nlh_ip_str(const struct nlh_ip *ip, char *buf, size_t len)
{
	if (!inet_ntop(ip->family, ip->a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		return (a[bytes] & mask) == (b[bytes] & mask);
	}
	return true;
}

bool nlh_ip_in(const struct nlh_ip *ip, const struct nlh_ip *net, unsigned len)
{
	return ip->family == net->family && len <= ip_len(ip->family) * 8 &&
	       bits_equal(ip->a, net->a, len);
}

bool nlh_ip_host_bits(const struct nlh_ip *ip, unsigned len)
{
	size_t n = ip_len(ip->family);

	for (size_t i = 0; i < n; i++) {
		unsigned first = (unsigned)i * 8;
		uint8_t keep = first >= len	? 0 :
			       first + 8 <= len ? 0xff :
						  (uint8_t)(0xff << (8 - (len - first)));
		if (ip->a[i] & (uint8_t)~keep)
			return true;
	}
	return false;
}

bool nlh_ip_is_any(const struct nlh_ip *ip)
{
	static const uint8_t zero[16];

	return memcmp(ip->a, zero, ip_len(ip->family)) == 0;
}

int nlh_mac_parse(const char *s, uint8_t ret[6])
{
	uint8_t m[6];
	char sep = 0;

	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = s + i * 3;
		char hex[3] = { p[0], p[1], 0 }, *end;
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			return -EINVAL;
		m[i] = (uint8_t)strtoul(hex, &end, 16);
		if (i < 5) {
			if (p[2] != ':' && p[2] != '-')
				return -EINVAL;
			if (sep && p[2] != sep)
				return -EINVAL;
			sep = p[2];
		}
	}
	memcpy(ret, m, 6);
	return 0;
}

const char *nlh_mac_str(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}

static struct nl_addr *addr_of(const struct nlh_ip *ip, unsigned prefix_len)
{
	struct nl_addr *a = nl_addr_build(ip->family, ip->a, ip_len(ip->family));

	if (a)
		nl_addr_set_prefixlen(a, (int)prefix_len);
	return a;
}

static void ip_of(const struct nl_addr *a, struct nlh_ip *ret)
{
	unsigned len = nl_addr_get_len(a);

	memset(ret, 0, sizeof(*ret));
	ret->family = nl_addr_get_family(a);
	if (len > sizeof(ret->a))
		len = sizeof(ret->a);
	memcpy(ret->a, nl_addr_get_binary_addr(a), len);
}

/* ---- links ---- */

static void link_of(struct rtnl_link *l, struct nlh_link *ret)
{
	struct nl_addr *mac = rtnl_link_get_addr(l);
	const char *kind = rtnl_link_get_type(l);

	memset(ret, 0, sizeof(*ret));
	ret->ifindex = rtnl_link_get_ifindex(l);
	snprintf(ret->name, sizeof(ret->name), "%s", rtnl_link_get_name(l));
	if (mac && nl_addr_get_len(mac) == 6)
		memcpy(ret->mac, nl_addr_get_binary_addr(mac), 6);
	ret->mtu = rtnl_link_get_mtu(l);
	ret->up = rtnl_link_get_flags(l) & IFF_UP;
	snprintf(ret->kind, sizeof(ret->kind), "%s", kind ? kind : "");
}

static int link_get(struct nlh *h, int ifindex, const char *name, struct nlh_link *ret)
{
	struct rtnl_link *l = NULL;
	int rc = rtnl_link_get_kernel(h->sk, ifindex, name, &l);

	if (rc < 0)
		return rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV ? -ENODEV : errno_of(rc);
	link_of(l, ret);
	rtnl_link_put(l);
	return 0;
}

int nlh_link_get(struct nlh *h, const char *name, struct nlh_link *ret)
{
	if (!name || !name[0] || strlen(name) >= NLH_IFNAMSIZ)
		return -EINVAL;
	return link_get(h, 0, name, ret);
}

int nlh_link_by_index(struct nlh *h, int ifindex, struct nlh_link *ret)
{
	return link_get(h, ifindex, NULL, ret);
}

int nlh_link_list(struct nlh *h, int (*fn)(void *user, const struct nlh_link *l), void *user)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	int rc = errno_of(rtnl_link_alloc_cache(h->sk, AF_UNSPEC, &cache));

	if (rc < 0)
		return rc;
	for (o = nl_cache_get_first(cache); o && rc == 0; o = nl_cache_get_next(o)) {
		struct nlh_link l;
		link_of((struct rtnl_link *)o, &l);
		rc = fn(user, &l);
	}
	nl_cache_free(cache);
	return rc;
}

struct by_mac {
	const uint8_t *mac;
	struct nlh_link found;
	int n;
};

static int by_mac_fn(void *user, const struct nlh_link *l)
{
	struct by_mac *b = user;

	if (memcmp(l->mac, b->mac, 6) == 0) {
		if (b->n++ == 0)
			b->found = *l;
	}
	return 0;
}

int nlh_link_by_mac(struct nlh *h, const uint8_t mac[6], struct nlh_link *ret)
{
	struct by_mac b = { .mac = mac };
	int rc = nlh_link_list(h, by_mac_fn, &b);

	if (rc < 0)
		return rc;
	if (b.n == 0)
		return -ENODEV;
	if (b.n > 1)
		return -ENOTUNIQ;
	*ret = b.found;
	return 0;
}

/* A change of the link ifindex: chg describes what changes. */
static int link_change(struct nlh *h, int ifindex, struct rtnl_link *chg)
{
	struct rtnl_link *orig = rtnl_link_alloc();
	int rc;

	if (!orig) {
		rtnl_link_put(chg);
		return -ENOMEM;
	}
	rtnl_link_set_ifindex(orig, ifindex);
	rc = errno_of(rtnl_link_change(h->sk, orig, chg, 0));
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return rc;
}

int nlh_link_set_up(struct nlh *h, int ifindex, bool up)
{
	struct rtnl_link *chg = rtnl_link_alloc();

	if (!chg)
		return -ENOMEM;
	if (up)
		rtnl_link_set_flags(chg, IFF_UP);
	else
		rtnl_link_unset_flags(chg, IFF_UP);
	return link_change(h, ifindex, chg);
}

int nlh_link_set_mtu(struct nlh *h, int ifindex, unsigned mtu)
{
	struct rtnl_link *chg = rtnl_link_alloc();

	if (!chg)
		return -ENOMEM;
	rtnl_link_set_mtu(chg, mtu);
	return link_change(h, ifindex, chg);
}

int nlh_link_set_mac(struct nlh *h, int ifindex, const uint8_t mac[6])
{
	struct rtnl_link *chg = rtnl_link_alloc();
	struct nl_addr *a;

	if (!chg)
		return -ENOMEM;
	a = nl_addr_build(AF_LLC, mac, 6);
	if (!a) {
		rtnl_link_put(chg);
		return -ENOMEM;
	}
	rtnl_link_set_addr(chg, a);
	nl_addr_put(a);
	return link_change(h, ifindex, chg);
}

int nlh_link_set_netns(struct nlh *h, int ifindex, int netns_fd)
{
	struct rtnl_link *chg = rtnl_link_alloc();

	if (!chg)
		return -ENOMEM;
	rtnl_link_set_ns_fd(chg, netns_fd);
	return link_change(h, ifindex, chg);
}

int nlh_link_del(struct nlh *h, int ifindex)
{
	struct rtnl_link *l = rtnl_link_alloc();
	int rc;

	if (!l)
		return -ENOMEM;
	rtnl_link_set_ifindex(l, ifindex);
	rc = rtnl_link_delete(h->sk, l);
	rtnl_link_put(l);
	return rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV ? -ENODEV : errno_of(rc);
}

int nlh_veth_add(struct nlh *h, const char *name, const char *peer, int peer_netns_fd)
{
	struct rtnl_link *l, *p;
	int rc;

	if (!name || !peer || strlen(name) >= NLH_IFNAMSIZ || strlen(peer) >= NLH_IFNAMSIZ)
		return -EINVAL;
	l = rtnl_link_veth_alloc();
	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	p = rtnl_link_veth_get_peer(l);
	rtnl_link_set_name(p, peer);
	if (peer_netns_fd >= 0)
		rtnl_link_set_ns_fd(p, peer_netns_fd);
	rtnl_link_put(p);
	rc = errno_of(rtnl_link_add(h->sk, l, NLM_F_CREATE | NLM_F_EXCL));
	rtnl_link_veth_release(l);
	return rc;
}

/* ---- addresses, routes, rules ---- */

int nlh_addr_add(struct nlh *h, int ifindex, const struct nlh_ip *ip, unsigned prefix_len)
{
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local;
	int rc;

	if (!a)
		return -ENOMEM;
	local = addr_of(ip, prefix_len);
	if (!local) {
		rtnl_addr_put(a);
		return -ENOMEM;
	}
	rtnl_addr_set_ifindex(a, ifindex);
	rtnl_addr_set_family(a, ip->family);
	rc = errno_of(rtnl_addr_set_local(a, local));
	rtnl_addr_set_prefixlen(a, (int)prefix_len);
	if (rc == 0)
		rc = errno_of(rtnl_addr_add(h->sk, a, NLM_F_CREATE | NLM_F_EXCL));
	nl_addr_put(local);
	rtnl_addr_put(a);
	return rc;
}

int nlh_addr_list(struct nlh *h, int ifindex,
		  int (*fn)(void *user, int ifindex, const struct nlh_ip *ip, unsigned prefix_len),
		  void *user)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	int rc = errno_of(rtnl_addr_alloc_cache(h->sk, &cache));

	if (rc < 0)
		return rc;
	for (o = nl_cache_get_first(cache); o && rc == 0; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		struct nlh_ip ip;

		if (!local || rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE ||
		    (ifindex && rtnl_addr_get_ifindex(a) != ifindex))
			continue;
		ip_of(local, &ip);
		rc = fn(user, rtnl_addr_get_ifindex(a), &ip, (unsigned)rtnl_addr_get_prefixlen(a));
	}
	nl_cache_free(cache);
	return rc;
}

int nlh_route_add(struct nlh *h, const struct nlh_route *r)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = NULL, *gw = NULL;
	int rc = -ENOMEM;

	if (!rt || !nh)
		goto out;
	dst = addr_of(&r->dst, r->dst_len);
	if (!dst)
		goto out;
	rtnl_route_set_family(rt, (uint8_t)r->dst.family);
	rc = errno_of(rtnl_route_set_dst(rt, dst));
	if (rc < 0)
		goto out;
	rtnl_route_set_table(rt, r->table ? r->table : RT_TABLE_MAIN);
	rtnl_route_set_priority(rt, r->metric);
	rtnl_route_set_protocol(rt, RTPROT_STATIC);
	rtnl_route_set_scope(rt, r->has_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_nh_set_ifindex(nh, r->ifindex);
	if (r->has_gw) {
		gw = addr_of(&r->gw, ip_len(r->gw.family) * 8);
		if (!gw) {
			rc = -ENOMEM;
			goto out;
		}
		rtnl_route_nh_set_gateway(nh, gw);
	}
	if (r->onlink)
		rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
	rtnl_route_add_nexthop(rt, nh);
	nh = NULL; /* the route owns it */
	rc = errno_of(rtnl_route_add(h->sk, rt, NLM_F_CREATE | NLM_F_EXCL));
out:
	if (nh)
		rtnl_route_nh_free(nh);
	if (rt)
		rtnl_route_put(rt);
	nl_addr_put(dst);
	nl_addr_put(gw);
	return rc;
}

int nlh_route_list(struct nlh *h, int ifindex, int (*fn)(void *user, const struct nlh_route *r),
		   void *user)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	int rc = errno_of(rtnl_route_alloc_cache(h->sk, AF_UNSPEC, 0, &cache));

	if (rc < 0)
		return rc;
	for (o = nl_cache_get_first(cache); o && rc == 0; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct rtnl_nexthop *nh;
		struct nlh_route r = { 0 };
		struct nl_addr *gw;

		if (rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
		    rtnl_route_get_type(rt) != RTN_UNICAST || rtnl_route_get_nnexthops(rt) < 1)
			continue;
		nh = rtnl_route_nexthop_n(rt, 0);
		r.ifindex = rtnl_route_nh_get_ifindex(nh);
		if (ifindex && r.ifindex != ifindex)
			continue;
		ip_of(rtnl_route_get_dst(rt), &r.dst);
		r.dst.family = rtnl_route_get_family(rt);
		r.dst_len = (unsigned)nl_addr_get_prefixlen(rtnl_route_get_dst(rt));
		gw = rtnl_route_nh_get_gateway(nh);
		if (gw) {
			r.has_gw = true;
			ip_of(gw, &r.gw);
		}
		r.metric = rtnl_route_get_priority(rt);
		r.onlink = rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK;
		rc = fn(user, &r);
	}
	nl_cache_free(cache);
	return rc;
}

int nlh_rule_add(struct nlh *h, const struct nlh_ip *src, unsigned src_len, unsigned table,
		 unsigned priority)
{
	struct rtnl_rule *rule = rtnl_rule_alloc();
	struct nl_addr *a;
	int rc;

	if (!rule)
		return -ENOMEM;
	a = addr_of(src, src_len);
	if (!a) {
		rtnl_rule_put(rule);
		return -ENOMEM;
	}
	rtnl_rule_set_family(rule, src->family);
	rc = errno_of(rtnl_rule_set_src(rule, a));
	rtnl_rule_set_table(rule, table);
	rtnl_rule_set_prio(rule, priority);
	rtnl_rule_set_action(rule, FR_ACT_TO_TBL);
	if (rc == 0)
		rc = errno_of(rtnl_rule_add(h->sk, rule, NLM_F_CREATE));
	nl_addr_put(a);
	rtnl_rule_put(rule);
	return rc;
}

/* ---- tc ---- */

int nlh_redirect(struct nlh *h, int from_ifindex, int to_ifindex)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	struct rtnl_cls *c = NULL;
	struct rtnl_act *act = NULL;
	int rc = -ENOMEM;

	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), from_ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffff, 0));
	rc = errno_of(rtnl_tc_set_kind(TC_CAST(q), "ingress"));
	if (rc == 0)
		rc = errno_of(rtnl_qdisc_add(h->sk, q, NLM_F_CREATE));
	if (rc == -EEXIST)
		rc = 0;
	if (rc < 0)
		goto out;
	c = rtnl_cls_alloc();
	act = rtnl_act_alloc();
	if (!c || !act) {
		rc = -ENOMEM;
		goto out;
	}
	rtnl_tc_set_ifindex(TC_CAST(c), from_ifindex);
	rtnl_tc_set_parent(TC_CAST(c), TC_HANDLE(0xffff, 0));
	rtnl_cls_set_protocol(c, ETH_P_ALL);
	rtnl_cls_set_prio(c, 1);
	rc = errno_of(rtnl_tc_set_kind(TC_CAST(c), "u32"));
	if (rc == 0)
		rc = errno_of(rtnl_tc_set_kind(TC_CAST(act), "mirred"));
	/* "match u32 0 0 at 0": every packet */
	if (rc == 0)
		rc = errno_of(rtnl_u32_add_key_uint32(c, 0, 0, 0, 0));
	if (rc == 0)
		rc = errno_of(rtnl_u32_set_cls_terminal(c));
	if (rc < 0)
		goto out;
	rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
	rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
	rtnl_mirred_set_ifindex(act, (uint32_t)to_ifindex);
	rc = errno_of(rtnl_u32_add_action(c, act));
	if (rc == 0)
		rc = errno_of(rtnl_cls_add(h->sk, c, NLM_F_CREATE | NLM_F_EXCL));
out:
	if (act)
		rtnl_act_put(act);
	if (c)
		rtnl_cls_put(c);
	rtnl_qdisc_put(q);
	return rc;
}

int nlh_redirect_remove(struct nlh *h, int ifindex)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int rc;

	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffff, 0));
	rc = errno_of(rtnl_tc_set_kind(TC_CAST(q), "ingress"));
	if (rc == 0)
		rc = errno_of(rtnl_qdisc_delete(h->sk, q));
	rtnl_qdisc_put(q);
	/* no ingress qdisc there (EINVAL/ENOENT from the kernel), or no such link any more */
	return rc == -ENOENT || rc == -EINVAL || rc == -ENODEV ? 0 : rc;
}

/* ---- tap devices ---- */

int nlh_tap_open(int netns_fd, const char *name, int *ret_fd)
{
	struct ifreq ifr = { 0 };
	int old = -1, fd, rc = 0;

	if (!name || !name[0] || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	if (netns_fd >= 0 && (rc = netns_enter(netns_fd, &old)) < 0)
		return rc;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		rc = -errno;
	if (fd >= 0) {
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			rc = -errno;
			close(fd);
		}
	}
	netns_leave(old);
	if (rc < 0)
		return rc;
	*ret_fd = fd;
	return 0;
}
