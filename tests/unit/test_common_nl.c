/*
 * Unit tests of common/nl.c: address and MAC parsing, and the netlink calls against the kernel,
 * each test inside a network namespace of its own (Check forks every test; the child unshares
 * its network and mount namespaces, so no link, address or namespace outlives it and nothing
 * touches the host's network). Needs root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nl.h"
#include "testutil.h"

static struct nlh *h;

static void own_netns(void)
{
	ck_assert_int_eq(unshare(CLONE_NEWNET | CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(nlh_open(-1, &h), 0);
}

static int count_fn(void *user, const struct nlh_link *l)
{
	(void)l;
	(*(int *)user)++;
	return 0;
}

START_TEST(test_parse)
{
	struct nlh_ip ip, net;
	unsigned len;
	uint8_t mac[6];
	char buf[64];

	ck_assert_int_eq(nlh_ip_parse("10.1.2.3", &ip), 0);
	ck_assert_int_eq(ip.family, AF_INET);
	ck_assert_str_eq(nlh_ip_str(&ip, buf, sizeof(buf)), "10.1.2.3");
	ck_assert_int_eq(nlh_ip_parse("fd00::1", &ip), 0);
	ck_assert_int_eq(ip.family, AF_INET6);
	ck_assert_int_eq(nlh_ip_parse("10.1.2", &ip), -EINVAL);
	ck_assert_int_eq(nlh_ip_parse("", &ip), -EINVAL);
	ck_assert_int_eq(nlh_prefix_parse("10.1.0.0/16", &net, &len), 0);
	ck_assert_uint_eq(len, 16);
	ck_assert_int_eq(nlh_prefix_parse("10.1.0.0/33", &net, &len), -EINVAL);
	ck_assert_int_eq(nlh_prefix_parse("10.1.0.0/", &net, &len), -EINVAL);
	ck_assert_int_eq(nlh_prefix_parse("10.1.0.0/-1", &net, &len), -EINVAL);
	ck_assert_int_eq(nlh_prefix_parse("10.1.0.0", &net, &len), -EINVAL);
	ck_assert_int_eq(nlh_prefix_parse("::/0", &net, &len), 0);
	ck_assert(nlh_ip_is_any(&net));
	ck_assert_int_eq(nlh_prefix_parse("fd00::/129", &net, &len), -EINVAL);
	ck_assert_int_eq(nlh_prefix_parse("10.1.0.0/16", &net, &len), 0);
	ck_assert_int_eq(nlh_ip_parse("10.1.200.3", &ip), 0);
	ck_assert(nlh_ip_in(&ip, &net, 16));
	ck_assert(!nlh_ip_in(&ip, &net, 24));
	ck_assert(!nlh_ip_host_bits(&net, 16));
	ck_assert(nlh_ip_host_bits(&ip, 16));
	ck_assert_int_eq(nlh_prefix_parse("10.1.2.128/25", &net, &len), 0);
	ck_assert(!nlh_ip_host_bits(&net, 25));
	ck_assert(nlh_ip_host_bits(&net, 24));
	ck_assert_int_eq(nlh_prefix_parse("10.1.3.128/23", &net, &len), 0);
	ck_assert(nlh_ip_host_bits(&net, 23));

	ck_assert_int_eq(nlh_mac_parse("00-15-5D-0A-0b-FF", mac), 0);
	ck_assert_str_eq(nlh_mac_str(mac, buf, sizeof(buf)), "00:15:5d:0a:0b:ff");
	ck_assert_int_eq(nlh_mac_parse("00:15:5d:0a:0b:ff", mac), 0);
	ck_assert_int_eq(nlh_mac_parse("00:15-5d:0a:0b:ff", mac), -EINVAL);
	ck_assert_int_eq(nlh_mac_parse("00:15:5d:0a:0b", mac), -EINVAL);
	ck_assert_int_eq(nlh_mac_parse("00:15:5d:0a:0b:fg", mac), -EINVAL);
}
END_TEST

START_TEST(test_links_addresses_routes)
{
	struct nlh_link a, b, lo;
	struct nlh_ip ip, gw, any;
	struct nlh_route r = { 0 };
	uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	unsigned len;
	int n = 0;

	own_netns();
	ck_assert_int_eq(nlh_link_get(h, "lo", &lo), 0);
	ck_assert_int_eq(nlh_link_get(h, "nope0", &a), -ENODEV);
	ck_assert_int_eq(nlh_veth_add(h, "ta0", "tb0", -1), 0);
	ck_assert_int_eq(nlh_veth_add(h, "ta0", "tc0", -1), -EEXIST);
	ck_assert_int_eq(nlh_link_get(h, "ta0", &a), 0);
	ck_assert_str_eq(a.kind, "veth");
	ck_assert_int_eq(nlh_link_set_mac(h, a.ifindex, mac), 0);
	ck_assert_int_eq(nlh_link_set_mtu(h, a.ifindex, 1400), 0);
	ck_assert_int_eq(nlh_link_set_up(h, a.ifindex, true), 0);
	ck_assert_int_eq(nlh_link_by_mac(h, mac, &b), 0);
	ck_assert_int_eq(b.ifindex, a.ifindex);
	ck_assert_uint_eq(b.mtu, 1400);
	ck_assert(b.up);
	ck_assert_int_eq(nlh_link_list(h, count_fn, &n), 0);
	ck_assert_int_eq(n, 3);

	ck_assert_int_eq(nlh_prefix_parse("10.77.0.2/24", &ip, &len), 0);
	ck_assert_int_eq(nlh_addr_add(h, a.ifindex, &ip, len), 0);
	ck_assert_int_eq(nlh_addr_add(h, a.ifindex, &ip, len), -EEXIST);
	/* a default route via a gateway in the subnet, metric 500 */
	ck_assert_int_eq(nlh_ip_parse("10.77.0.1", &gw), 0);
	ck_assert_int_eq(nlh_prefix_parse("0.0.0.0/0", &any, &len), 0);
	r.ifindex = a.ifindex;
	r.dst = any;
	r.has_gw = true;
	r.gw = gw;
	r.metric = 500;
	ck_assert_int_eq(nlh_route_add(h, &r), 0);
	/* a gateway outside every subnet needs onlink */
	ck_assert_int_eq(nlh_prefix_parse("10.88.0.0/16", &r.dst, &r.dst_len), 0);
	ck_assert_int_eq(nlh_ip_parse("192.168.250.1", &r.gw), 0);
	ck_assert_int_lt(nlh_route_add(h, &r), 0);
	r.onlink = true;
	ck_assert_int_eq(nlh_route_add(h, &r), 0);
	/* a route in table 101 and its rule */
	r.table = 101;
	r.onlink = false;
	r.dst = any;
	r.dst_len = 0;
	r.gw = gw;
	ck_assert_int_eq(nlh_route_add(h, &r), 0);
	ck_assert_int_eq(nlh_ip_parse("10.77.0.2", &ip), 0);
	ck_assert_int_eq(nlh_rule_add(h, &ip, 32, 101, 5), 0);
	ck_assert_int_eq(system("ip rule | grep -q '^5:.*from 10.77.0.2 lookup 101'"), 0);
	ck_assert_int_eq(system("ip route show table 101 | grep -q 'default via 10.77.0.1'"), 0);
	ck_assert_int_eq(system("ip route | grep -q 'default via 10.77.0.1 dev ta0 .*metric 500'"),
			 0);
	ck_assert_int_eq(
		system("ip route | grep -q '10.88.0.0/16 via 192.168.250.1 dev ta0 .*onlink'"), 0);
	ck_assert_int_eq(nlh_link_del(h, a.ifindex), 0);
	ck_assert_int_eq(nlh_link_get(h, "tb0", &b), -ENODEV);
	nlh_close(h);
}
END_TEST

struct found {
	int n;
	struct nlh_ip ip;
	unsigned len;
};

static int addr_fn(void *user, int ifindex, const struct nlh_ip *ip, unsigned len)
{
	struct found *f = user;

	(void)ifindex;
	f->n++;
	f->ip = *ip;
	f->len = len;
	return 0;
}

static int route_fn(void *user, const struct nlh_route *r)
{
	struct found *f = user;

	if (r->dst_len == 0 && r->has_gw) {
		f->n++;
		f->ip = r->gw;
	}
	return 0;
}

START_TEST(test_namespaces_and_lists)
{
	char dir[] = "/tmp/lcow-nl-XXXXXX", path[64];
	struct nlh *in;
	struct nlh_link a, b;
	struct nlh_ip ip;
	struct nlh_route r = { 0 };
	struct found f = { 0 };
	unsigned len;
	int fd;
	char buf[64];

	own_netns();
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ns", dir);
	ck_assert_int_eq(netns_create(path), 0);
	ck_assert_int_eq(netns_create(path), -EEXIST);
	fd = netns_open(path);
	ck_assert_int_ge(fd, 0);
	/* a veth whose peer is born in the other namespace, then one moved there */
	ck_assert_int_eq(nlh_veth_add(h, "na0", "nb0", fd), 0);
	ck_assert_int_eq(nlh_link_get(h, "nb0", &b), -ENODEV);
	ck_assert_int_eq(nlh_open(fd, &in), 0);
	ck_assert_int_eq(nlh_link_get(in, "nb0", &b), 0);
	ck_assert_int_eq(nlh_link_get(in, "lo", &a), 0);
	ck_assert(a.up);
	ck_assert_int_eq(nlh_link_get(h, "na0", &a), 0);
	ck_assert_int_eq(nlh_link_set_netns(h, a.ifindex, fd), 0);
	ck_assert_int_eq(nlh_link_get(h, "na0", &a), -ENODEV);
	ck_assert_int_eq(nlh_link_get(in, "na0", &a), 0);
	ck_assert_int_eq(nlh_link_set_up(in, a.ifindex, true), 0);
	ck_assert_int_eq(nlh_prefix_parse("10.66.0.9/24", &ip, &len), 0);
	ck_assert_int_eq(nlh_addr_add(in, a.ifindex, &ip, len), 0);
	r.ifindex = a.ifindex;
	ck_assert_int_eq(nlh_prefix_parse("0.0.0.0/0", &r.dst, &r.dst_len), 0);
	r.has_gw = true;
	ck_assert_int_eq(nlh_ip_parse("10.66.0.1", &r.gw), 0);
	ck_assert_int_eq(nlh_route_add(in, &r), 0);
	ck_assert_int_eq(nlh_addr_list(in, a.ifindex, addr_fn, &f), 0);
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(nlh_ip_str(&f.ip, buf, sizeof(buf)), "10.66.0.9");
	ck_assert_uint_eq(f.len, 24);
	f.n = 0;
	ck_assert_int_eq(nlh_route_list(in, a.ifindex, route_fn, &f), 0);
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(nlh_ip_str(&f.ip, buf, sizeof(buf)), "10.66.0.1");
	nlh_close(in);
	close(fd);
	ck_assert_int_eq(netns_remove(path), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(netns_remove(path), 0);
	rmdir(dir);
	nlh_close(h);
}
END_TEST

START_TEST(test_tap_redirect)
{
	struct nlh_link v, t;
	int fd;

	own_netns();
	ck_assert_int_eq(nlh_veth_add(h, "ra0", "rb0", -1), 0);
	ck_assert_int_eq(nlh_tap_open(-1, "rtap0", &fd), 0);
	ck_assert_int_eq(nlh_link_get(h, "ra0", &v), 0);
	ck_assert_int_eq(nlh_link_get(h, "rtap0", &t), 0);
	ck_assert_str_eq(t.kind, "tun");
	ck_assert_int_eq(nlh_redirect(h, v.ifindex, t.ifindex), 0);
	ck_assert_int_eq(nlh_redirect(h, t.ifindex, v.ifindex), 0);
	ck_assert_int_eq(
		system("tc filter show dev ra0 ingress | grep -q 'Egress Redirect to device rtap0'"),
		0);
	ck_assert_int_eq(
		system("tc filter show dev rtap0 ingress | grep -q 'Egress Redirect to device ra0'"),
		0);
	ck_assert_int_eq(nlh_redirect_remove(h, v.ifindex), 0);
	ck_assert_int_eq(nlh_redirect_remove(h, v.ifindex), 0);
	ck_assert_int_eq(system("tc qdisc show dev ra0 | grep -q ingress"), 256);
	/* the tap goes with its last fd */
	close(fd);
	ck_assert_int_eq(nlh_link_get(h, "rtap0", &t), -ENODEV);
	nlh_close(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common_nl");
	TCase *tc = tcase_create("nl");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_links_addresses_routes);
	tcase_add_test(tc, test_namespaces_and_lists);
	tcase_add_test(tc, test_tap_redirect);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
