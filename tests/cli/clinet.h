/*
 * The network suites' part of the harness (test_network.c, qemu_net.c): network namespaces of
 * the test's own, named lcow-t-<suite pid>-..., removed after each test even when it failed;
 * bundles of web servers; HTTP requests from inside a namespace (socat: the host's static
 * busybox wget crashes). Only addresses inside those namespaces, and loopback, are used.
 */
#pragma once

#include "clitest.h"

/* The suite's pid (net_suite_init, in main): the prefix of its namespaces. */
extern int net_suite_pid;
void net_suite_init(void);
/* After each test (Check's parent): after_test, then the suite's namespaces go. */
void after_net_test(void);

#define ADD_NET_TEST(s, fn)                                            \
	do {                                                           \
		TCase *tc = tcase_create(#fn);                         \
		tcase_set_timeout(tc, 240);                            \
		tcase_add_unchecked_fixture(tc, NULL, after_net_test); \
		tcase_add_test(tc, fn);                                \
		suite_add_tcase(s, tc);                                \
	} while (0)

/* "pod" (the container's, as CNI would leave it) and "out", its veth's other end. */
struct nets {
	char pod[64], out[64];
};

/*
 * lcow-t-<pid>-<tag>-pod with eth0 10.77.0.2/24 (default route via 10.77.0.1), joined by a veth
 * pair to lcow-t-<pid>-<tag>-out's vo 10.77.0.1/24. No link is made in the host's namespace.
 */
void nets_make(struct nets *n, const char *tag);
void nets_remove(struct nets *n);

/* A web server on port: prints the container's IPv4 addresses, "started", then serves text. */
#define WEB_SCRIPT(text, port)                                                                \
	"busybox ip -4 -o addr show; mkdir -p /tmp/www; echo " text " >/tmp/www/index.html; " \
	"echo started; exec busybox httpd -f -p " port " -h /tmp/www"

/*
 * A bundle running script (sh -c) with CAP_NET_BIND_SERVICE, a hostname, a tmpfs /tmp, and a
 * network namespace entry with the path /run/netns/<netns> (netns NULL: no network entry).
 */
char *net_bundle(struct t *t, const char *name, const char *script, const char *netns);

/* GET / of addr (HOST:PORT) from inside the namespace ns into the file out: 0 on an answer. */
int http_get(const char *ns, const char *addr, const char *out);
/* http_get until the answer has want, within timeout_ms. */
void expect_served(const char *ns, const char *addr, const char *want, int timeout_ms);
