/*
 * Unit tests of host/uvm/netwire.c (lcow/net.h): reading a namespace as CNI leaves it, wiring
 * it to a tap or to a veth whose peer is in a third namespace, traffic across the redirects,
 * and the undo from the record (also after the namespace went). Every test runs in a network
 * and mount namespace of its own (Check forks each test, the child unshares), so nothing
 * touches the host's network and nothing outlives the test. Needs root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lcow/net.h>

#include "nl.h"
#include "testutil.h"

static char dir[64];
static char pod[128], out[128], agent[128], record[160], record2[160];

/*
 * Namespaces "out" and "pod" joined by a veth pair (vo 10.9.0.1/24, vp 10.9.0.2/24 with a
 * default route via 10.9.0.1), and an empty "agent".
 */
static void world(void)
{
	struct nlh *h, *ph;
	struct nlh_link l;
	struct nlh_ip ip;
	struct nlh_route r = { 0 };
	unsigned len;
	int pod_fd, out_fd;

	ck_assert_int_eq(unshare(CLONE_NEWNET | CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(dir, sizeof(dir), "/tmp/lcow-netwire-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(pod, sizeof(pod), "%s/pod", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(agent, sizeof(agent), "%s/agent", dir);
	snprintf(record, sizeof(record), "%s/net.json", dir);
	snprintf(record2, sizeof(record2), "%s/net2.json", dir);
	ck_assert_int_eq(netns_create(pod), 0);
	ck_assert_int_eq(netns_create(out), 0);
	ck_assert_int_eq(netns_create(agent), 0);
	pod_fd = netns_open(pod);
	out_fd = netns_open(out);
	ck_assert_int_eq(nlh_open(out_fd, &h), 0);
	ck_assert_int_eq(nlh_veth_add(h, "vo", "vp", pod_fd), 0);
	ck_assert_int_eq(nlh_link_get(h, "vo", &l), 0);
	ck_assert_int_eq(nlh_link_set_up(h, l.ifindex, true), 0);
	ck_assert_int_eq(nlh_prefix_parse("10.9.0.1/24", &ip, &len), 0);
	ck_assert_int_eq(nlh_addr_add(h, l.ifindex, &ip, len), 0);
	nlh_close(h);
	ck_assert_int_eq(nlh_open(pod_fd, &ph), 0);
	ck_assert_int_eq(nlh_link_get(ph, "vp", &l), 0);
	ck_assert_int_eq(nlh_link_set_up(ph, l.ifindex, true), 0);
	ck_assert_int_eq(nlh_prefix_parse("10.9.0.2/24", &ip, &len), 0);
	ck_assert_int_eq(nlh_addr_add(ph, l.ifindex, &ip, len), 0);
	r.ifindex = l.ifindex;
	ck_assert_int_eq(nlh_prefix_parse("0.0.0.0/0", &r.dst, &r.dst_len), 0);
	r.has_gw = true;
	ck_assert_int_eq(nlh_ip_parse("10.9.0.1", &r.gw), 0);
	ck_assert_int_eq(nlh_route_add(ph, &r), 0);
	nlh_close(ph);
	close(pod_fd);
	close(out_fd);
}

static void world_end(void)
{
	netns_remove(pod);
	netns_remove(out);
	netns_remove(agent);
	unlink(record);
	rmdir(dir);
}

/* A UDP socket made in the namespace at path. */
static int udp_in(const char *path, const char *bind_ip, int port)
{
	int ns = netns_open(path), old = -1, fd;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	ck_assert_int_ge(ns, 0);
	ck_assert_int_eq(netns_enter(ns, &old), 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	if (bind_ip) {
		inet_pton(AF_INET, bind_ip, &a.sin_addr);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	netns_leave(old);
	close(ns);
	return fd;
}

/* A shell command in the namespace at path. */
static int nsenter_sh(const char *path, const char *cmd)
{
	char line[512];

	snprintf(line, sizeof(line), "nsenter --net='%s' sh -c '%s'", path, cmd);
	return system(line);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static int count_links(void *user, const struct nlh_link *l)
{
	(void)l;
	(*(int *)user)++;
	return 0;
}

static int links_in(const char *path)
{
	struct nlh *h;
	int fd = netns_open(path), n = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(nlh_open(fd, &h), 0);
	ck_assert_int_eq(nlh_link_list(h, count_links, &n), 0);
	nlh_close(h);
	close(fd);
	return n;
}

/* `tc qdisc show` in the namespace at path mentions ingress. */
static bool ingress_in(const char *path, const char *dev)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "tc qdisc show dev %s 2>/dev/null | grep -q ingress", dev);
	return nsenter_sh(path, cmd) == 0;
}

START_TEST(test_inspect)
{
	struct lcow_net_info info;
	struct lcow_net_adapter ad;
	struct gcs_error err = { 0 };
	struct nlh *h;
	struct nlh_link l;
	struct nlh_ip ip;
	unsigned len;
	int fd;

	world();
	ck_assert_int_eq(lcow_net_inspect(pod, &info, &err), 0);
	ck_assert_str_eq(info.veth, "vp");
	ck_assert_uint_eq(info.n_addrs, 1);
	ck_assert_str_eq(info.addrs[0].ip, "10.9.0.2");
	ck_assert_uint_eq(info.addrs[0].prefix_len, 24);
	/* the subnet route is the guest kernel's to add: only the default route */
	ck_assert_uint_eq(info.n_routes, 1);
	ck_assert_str_eq(info.routes[0].dst, "0.0.0.0/0");
	ck_assert_str_eq(info.routes[0].gw, "10.9.0.1");
	lcow_net_adapter(&info, "ns-id", "ad-id", &ad);
	ck_assert_str_eq(ad.a.namespace_id, "ns-id");
	ck_assert_str_eq(ad.a.id, "ad-id");
	ck_assert_int_eq(strlen(ad.a.mac_address), 17);
	ck_assert_ptr_nonnull(strchr(ad.a.mac_address, '-'));
	ck_assert_uint_eq(ad.a.n_ip_configs, 1);
	ck_assert_str_eq(ad.a.ip_configs[0].ip_address, "10.9.0.2");
	ck_assert_str_eq(ad.a.routes[0].destination_prefix, "0.0.0.0/0");
	ck_assert_str_eq(ad.a.routes[0].next_hop, "10.9.0.1");

	/* none, then two interfaces with addresses: errors that name the namespace */
	ck_assert_int_eq(lcow_net_inspect(agent, &info, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.message, agent));
	fd = netns_open(pod);
	ck_assert_int_eq(nlh_open(fd, &h), 0);
	ck_assert_int_eq(nlh_veth_add(h, "x0", "x1", -1), 0);
	ck_assert_int_eq(nlh_link_get(h, "x0", &l), 0);
	ck_assert_int_eq(nlh_prefix_parse("10.8.0.2/24", &ip, &len), 0);
	ck_assert_int_eq(nlh_addr_add(h, l.ifindex, &ip, len), 0);
	nlh_close(h);
	close(fd);
	ck_assert_int_eq(lcow_net_inspect(pod, &info, &err), -ENOTUNIQ);
	ck_assert_ptr_nonnull(strstr(err.message, "vp"));
	ck_assert_ptr_nonnull(strstr(err.message, "x0"));
	ck_assert_int_eq(lcow_net_inspect("/nonexistent/ns", &info, &err), -ENOENT);
	world_end();
}
END_TEST

/* Process mode's wiring: UDP from "out" to 10.9.0.2 reaches the peer's namespace, and back. */
START_TEST(test_veth_traffic_and_unwire)
{
	struct lcow_net_info info;
	struct gcs_error err = { 0 };
	struct lcow_net_wire_options o = { .kind = LCOW_NET_VETH,
					   .netns = pod,
					   .info = &info,
					   .link = "lcowv0",
					   .peer = "lcowp0",
					   .peer_netns = agent,
					   .record = record };
	struct lcow_net_wire_options o2;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5000) };
	struct sockaddr_in from;
	socklen_t from_len = sizeof(from);
	struct nlh *h;
	struct nlh_link l;
	struct nlh_ip ip;
	unsigned len;
	char buf[16];
	int fd, rx, tx, tap = 0;

	world();
	ck_assert_int_eq(lcow_net_inspect(pod, &info, &err), 0);
	ck_assert_int_eq(lcow_net_wire(&o, &tap, &err), 0);
	ck_assert_int_eq(tap, -1);
	ck_assert_int_eq(access(record, R_OK), 0);
	/* the agent's side: what a guest agent does with the NIC it finds by MAC */
	fd = netns_open(agent);
	ck_assert_int_eq(nlh_open(fd, &h), 0);
	ck_assert_int_eq(nlh_link_by_mac(h, info.mac, &l), 0);
	ck_assert_str_eq(l.name, "lcowp0");
	ck_assert_int_eq(nlh_link_set_up(h, l.ifindex, true), 0);
	ck_assert_int_eq(nlh_prefix_parse("10.9.0.2/24", &ip, &len), 0);
	ck_assert_int_eq(nlh_addr_add(h, l.ifindex, &ip, len), 0);
	nlh_close(h);
	close(fd);
	ck_assert(ingress_in(pod, "vp"));
	ck_assert(ingress_in(pod, "lcowv0"));

	rx = udp_in(agent, "10.9.0.2", 5000);
	tx = udp_in(out, NULL, 0);
	inet_pton(AF_INET, "10.9.0.2", &to.sin_addr);
	for (int i = 0; i < 50 && !readable(rx, 0); i++) {
		ck_assert_int_eq(sendto(tx, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
		readable(rx, 100);
	}
	ck_assert(readable(rx, 0));
	ck_assert_int_eq(recvfrom(rx, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len), 4);
	ck_assert_int_eq(sendto(rx, "pong", 4, 0, (struct sockaddr *)&from, from_len), 4);
	ck_assert(readable(tx, 2000));
	ck_assert_int_eq(recv(tx, buf, sizeof(buf), 0), 4);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	close(rx);
	close(tx);

	/* a second wiring of the same veth is refused before it makes or writes anything */
	o2 = o;
	o2.link = "lcowv9";
	o2.peer = "lcowp9";
	o2.record = record2;
	ck_assert_int_eq(lcow_net_wire(&o2, &tap, &err), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err.message, "in use"));
	ck_assert_int_eq(access(record2, F_OK), -1);
	ck_assert(ingress_in(pod, "vp"));
	ck_assert_int_eq(links_in(pod), 3); /* lo, vp, lcowv0 */

	ck_assert_int_eq(lcow_net_unwire(record, &err), 0);
	ck_assert_int_eq(access(record, F_OK), -1);
	ck_assert(!ingress_in(pod, "vp"));
	ck_assert_int_eq(links_in(pod), 2); /* lo, vp */
	ck_assert_int_eq(links_in(agent), 1); /* lo: the peer went with its veth */
	/* again: nothing to do */
	ck_assert_int_eq(lcow_net_unwire(record, &err), 0);
	world_end();
}
END_TEST

/* QEMU's wiring: a tap whose fd sees what arrives on the veth; undone after the fd closed. */
START_TEST(test_tap)
{
	struct lcow_net_info info;
	struct gcs_error err = { 0 };
	struct lcow_net_wire_options o = { .kind = LCOW_NET_TAP,
					   .netns = pod,
					   .info = &info,
					   .link = "lcowt0",
					   .record = record };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5000) };
	int tap = -1, tx;

	world();
	ck_assert_int_eq(lcow_net_inspect(pod, &info, &err), 0);
	ck_assert_int_eq(lcow_net_wire(&o, &tap, &err), 0);
	ck_assert_int_ge(tap, 0);
	ck_assert(ingress_in(pod, "lcowt0"));
	tx = udp_in(out, NULL, 0);
	inet_pton(AF_INET, "10.9.0.2", &to.sin_addr);
	/* out's ARP request for 10.9.0.2 arrives on vp and leaves through the tap */
	sendto(tx, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to));
	ck_assert(readable(tap, 3000));
	close(tx);
	close(tap);
	ck_assert_int_eq(lcow_net_unwire(record, &err), 0);
	ck_assert(!ingress_in(pod, "vp"));
	ck_assert_int_eq(links_in(pod), 2);
	world_end();
}
END_TEST

/* A record whose namespace is gone, or another one now: removed, nothing else touched. */
START_TEST(test_unwire_gone)
{
	struct lcow_net_info info;
	struct gcs_error err = { 0 };
	struct lcow_net_wire_options o = { .kind = LCOW_NET_VETH,
					   .netns = pod,
					   .info = &info,
					   .link = "lcowv1",
					   .peer = "lcowp1",
					   .peer_netns = agent,
					   .record = record };
	int tap, fd;

	world();
	ck_assert_int_eq(lcow_net_inspect(pod, &info, &err), 0);
	ck_assert_int_eq(lcow_net_wire(&o, &tap, &err), 0);
	ck_assert_int_eq(netns_remove(pod), 0);
	ck_assert_int_eq(lcow_net_unwire(record, &err), 0);
	ck_assert_int_eq(access(record, F_OK), -1);

	/* the same path, a new namespace with a link of the recorded name: not ours */
	world_end();
	world();
	ck_assert_int_eq(lcow_net_inspect(pod, &info, &err), 0);
	ck_assert_int_eq(lcow_net_wire(&o, &tap, &err), 0);
	ck_assert_int_eq(netns_remove(pod), 0);
	ck_assert_int_eq(netns_create(pod), 0);
	ck_assert_int_eq(nsenter_sh(pod, "ip link add lcowv1 type veth peer name lcowx1"), 0);
	ck_assert_int_eq(lcow_net_unwire(record, &err), 0);
	ck_assert_int_eq(links_in(pod), 3); /* lo and the new pair */
	ck_assert_int_eq(access(record, F_OK), -1);

	/* a record cut short by a crash while it was written: nothing was made yet */
	fd = open(record, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_eq(write(fd, "{\"netns\":\"", 10), 10);
	close(fd);
	ck_assert_int_eq(lcow_net_unwire(record, &err), 0);
	ck_assert_int_eq(access(record, F_OK), -1);
	ck_assert_int_eq(lcow_net_unwire(record, &err), 0); /* missing */
	world_end();
}
END_TEST

START_TEST(test_resolv_and_ids)
{
	char servers[256], search[256], g1[37], g2[37], mac[18];
	const uint8_t m[6] = { 0x00, 0x15, 0x5d, 0x0a, 0x0b, 0xff };
	FILE *f;

	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount("tmpfs", "/etc", "tmpfs", 0, NULL), 0);
	ck_assert_int_eq(mkdir("/etc/netns", 0755), 0);
	ck_assert_int_eq(mkdir("/etc/netns/n1", 0755), 0);
	f = fopen("/etc/resolv.conf", "w");
	fputs("# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\n"
	      "search a.example b.example\noptions edns0\n",
	      f);
	fclose(f);
	f = fopen("/etc/netns/n1/resolv.conf", "w");
	fputs("domain only.example\nnameserver 198.51.100.1\nnameserver 2001:db8::1\n", f);
	fclose(f);
	lcow_net_resolv("/run/netns/other", servers, sizeof(servers), search, sizeof(search));
	ck_assert_str_eq(servers, "192.0.2.53");
	ck_assert_str_eq(search, "a.example,b.example");
	lcow_net_resolv("/run/netns/n1", servers, sizeof(servers), search, sizeof(search));
	ck_assert_str_eq(servers, "198.51.100.1,2001:db8::1");
	ck_assert_str_eq(search, "only.example");
	lcow_net_resolv("/proc/1/ns/net", servers, sizeof(servers), search, sizeof(search));
	ck_assert_str_eq(servers, "192.0.2.53");
	unlink("/etc/resolv.conf");
	lcow_net_resolv("/run/netns/x", servers, sizeof(servers), search, sizeof(search));
	ck_assert_str_eq(servers, "");
	ck_assert_str_eq(search, "");

	lcow_net_guid(g1);
	lcow_net_guid(g2);
	ck_assert_int_eq(strlen(g1), 36);
	ck_assert_str_ne(g1, g2);
	ck_assert_int_eq(g1[14], '4');
	for (const char *p = g1; *p; p++)
		ck_assert(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
	ck_assert_str_eq(lcow_net_mac_dashed(m, mac, sizeof(mac)), "00-15-5D-0A-0B-FF");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("netwire");
	TCase *tc = tcase_create("netwire");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_inspect);
	tcase_add_test(tc, test_veth_traffic_and_unwire);
	tcase_add_test(tc, test_tap);
	tcase_add_test(tc, test_unwire_gone);
	tcase_add_test(tc, test_resolv_and_ids);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
