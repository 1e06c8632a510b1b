/*
 * Unit tests of guest/gcs/net_conf.c: a Network Add checked and parsed (hcsshim's route rules,
 * the HRESULTs of bad input), and resolv.conf and /etc/hosts byte for byte as hcsshim's guest
 * writes them (internal/guest/network/network.go).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net_conf.h"
#include "testutil.h"

static const struct gcs_proto_ip_config ip1[] = { { "10.1.0.5", 24 } };

static struct gcs_proto_network_adapter base(void)
{
	return (struct gcs_proto_network_adapter){ .namespace_id =
							   "5C2E6B8A-1F0D-4C1E-9A4B-0123456789AB",
						   .id = "A1B2C3D4-0000-4000-8000-000000000001",
						   .mac_address = "00-15-5D-01-02-03",
						   .ip_configs = ip1,
						   .n_ip_configs = 1 };
}

static int32_t refused(const struct gcs_proto_network_adapter *a, const char *needle)
{
	struct net_adapter_conf c;
	struct gcs_error err = { 0 };
	int rc = net_adapter_parse(a, &c, &err);

	ck_assert_int_lt(rc, 0);
	ck_assert_msg(strstr(err.message, needle), "\"%s\" not in \"%s\"", needle, err.message);
	return err.hresult;
}

START_TEST(test_parse_good)
{
	const struct gcs_proto_route routes[] = {
		{ "0.0.0.0", "0.0.0.0/0", 0 }, /* the empty default: skipped */
		{ "10.1.0.1", "0.0.0.0/0", 0 },
		{ "", "10.9.0.0/16", 5 },
		{ "192.168.0.1", "10.8.0.0/16", 0 }, /* outside the subnet: onlink */
	};
	struct gcs_proto_network_adapter a = base();
	struct net_adapter_conf c;
	struct gcs_error err = { 0 };

	a.routes = routes;
	a.n_routes = 4;
	a.encap_overhead = 50;
	a.dns_server_list = "10.0.0.10, 10.0.0.11";
	ck_assert_int_eq(net_adapter_parse(&a, &c, &err), 0);
	ck_assert_str_eq(c.id, "a1b2c3d4-0000-4000-8000-000000000001");
	ck_assert_str_eq(c.ns_id, "5c2e6b8a-1f0d-4c1e-9a4b-0123456789ab");
	ck_assert(c.has_mac);
	ck_assert_int_eq(c.mac[0], 0x00);
	ck_assert_int_eq(c.mac[2], 0x5d);
	ck_assert_uint_eq(c.encap_overhead, 50);
	ck_assert_uint_eq(c.n_ips, 1);
	ck_assert_uint_eq(c.ip_lens[0], 24);
	ck_assert_uint_eq(c.n_routes, 3);
	ck_assert(c.routes[0].has_gw && c.routes[0].dst_len == 0 && !c.routes[0].onlink);
	ck_assert(!c.routes[1].has_gw && c.routes[1].dst_len == 16 && c.routes[1].metric == 5);
	ck_assert(c.routes[2].has_gw && c.routes[2].onlink);
	net_adapter_conf_free(&c);
}
END_TEST

START_TEST(test_parse_bad)
{
	const struct gcs_proto_ip_config bad_len[] = { { "10.1.0.5", 33 } };
	const struct gcs_proto_ip_config bad_ip[] = { { "10.1.0", 24 } };
	const struct gcs_proto_ip_config v6_len[] = { { "fd00::5", 129 } };
	const struct gcs_proto_route host_bits[] = { { "10.1.0.1", "10.5.0.1/16", 0 } };
	const struct gcs_proto_route no_len[] = { { "10.1.0.1", "10.5.0.0", 0 } };
	const struct gcs_proto_route bad_hop[] = { { "x", "0.0.0.0/0", 0 } };
	const struct gcs_proto_route mixed[] = { { "fd00::1", "10.5.0.0/16", 0 } };
	struct gcs_proto_network_adapter a;

	a = base();
	a.id = "not/a-guid";
	ck_assert_int_eq(refused(&a, "adapter ID"), HR_INVALIDARG);
	a = base();
	a.namespace_id = "..";
	ck_assert_int_eq(refused(&a, "NamespaceID"), HR_INVALIDARG);
	a = base();
	a.mac_address = "00-15-5D-01-02";
	ck_assert_int_eq(refused(&a, "MacAddress"), HR_INVALIDARG);
	a = base();
	a.ip_configs = bad_len;
	ck_assert_int_eq(refused(&a, "prefix length 33"), HR_INVALIDARG);
	a.ip_configs = bad_ip;
	ck_assert_int_eq(refused(&a, "IPConfigs[0]"), HR_INVALIDARG);
	a.ip_configs = v6_len;
	ck_assert_int_eq(refused(&a, "prefix length 129"), HR_INVALIDARG);
	a = base();
	a.n_routes = 1;
	a.routes = host_bits;
	ck_assert_int_eq(refused(&a, "outside its prefix"), HR_INVALIDARG);
	a.routes = no_len;
	ck_assert_int_eq(refused(&a, "ADDRESS/LENGTH"), HR_INVALIDARG);
	a.routes = bad_hop;
	ck_assert_int_eq(refused(&a, "NextHop"), HR_INVALIDARG);
	a.routes = mixed;
	ck_assert_int_eq(refused(&a, "different families"), HR_INVALIDARG);
	a = base();
	a.dns_suffix = "a.example\nnameserver 1.1.1.1";
	ck_assert_int_eq(refused(&a, "control characters"), HR_INVALIDARG);
	a = base();
	a.dns_server_list = "10.0.0.1,evil";
	ck_assert_int_eq(refused(&a, "DNSServerList"), HR_INVALIDARG);
	a = base();
	a.vpci_assigned = true;
	ck_assert_int_eq(refused(&a, "VPCI"), HR_NOTIMPL);
	a = base();
	a.n_ip_configs = 0;
	ck_assert_int_eq(refused(&a, "DHCP"), HR_NOTIMPL);
}
END_TEST

START_TEST(test_resolv_conf)
{
	struct net_adapter_conf a = { .dns_suffix = "corp.example, Lab.Example",
				      .dns_servers = "10.0.0.10,10.0.0.11" };
	struct net_adapter_conf b = { .dns_suffix = "lab.example",
				      .dns_servers = "10.0.0.11, 10.0.0.12" };
	struct net_adapter_conf many = { .dns_suffix = "a,b,c,d,e,f,g" };
	const struct net_adapter_conf *both[] = { &a, &b }, *one[] = { &many };
	char *text;

	ck_assert_int_eq(net_resolv_conf(both, 2, &text), 0);
	ck_assert_str_eq(text, "search corp.example lab.example\nnameserver 10.0.0.10\n"
			       "nameserver 10.0.0.11\nnameserver 10.0.0.12\n");
	free(text);
	ck_assert_int_eq(net_resolv_conf(both, 0, &text), 0);
	ck_assert_str_eq(text, "");
	free(text);
	ck_assert_int_eq(net_resolv_conf(one, 1, &text), -E2BIG);
}
END_TEST

START_TEST(test_hosts)
{
	char *text;

	ck_assert_int_eq(net_hosts("web-1.corp.example", &text), 0);
	ck_assert_str_eq(text, "127.0.0.1 localhost\n127.0.0.1 web-1.corp.example web-1\n\n"
			       "# The following lines are desirable for IPv6 capable hosts\n"
			       "::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\n"
			       "ff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\n"
			       "ff02::2 ip6-allrouters\n");
	free(text);
	ck_assert_int_eq(net_hosts("solo", &text), 0);
	ck_assert(!strncmp(text, "127.0.0.1 localhost\n127.0.0.1 solo\n\n", 36));
	free(text);
	ck_assert(net_hostname_valid("a_b-c.d"));
	ck_assert(!net_hostname_valid("a b"));
	ck_assert(!net_hostname_valid("a\n127.0.0.1 evil"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_net");
	TCase *tc = tcase_create("net_conf");

	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_resolv_conf);
	tcase_add_test(tc, test_hosts);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
