/* The network suites' part of the harness: see clinet.h. */
#include "clinet.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int net_suite_pid;

void net_suite_init(void)
{
	net_suite_pid = (int)getpid();
}

void after_net_test(void)
{
	after_test();
	sh("for n in $(ip netns list | cut -d' ' -f1 | grep '^lcow-t-%d-'); do ip netns del \"$n\"; "
	   "done; true",
	   net_suite_pid);
}

void nets_make(struct nets *n, const char *tag)
{
	snprintf(n->pod, sizeof(n->pod), "lcow-t-%d-%s-pod", net_suite_pid, tag);
	snprintf(n->out, sizeof(n->out), "lcow-t-%d-%s-out", net_suite_pid, tag);
	ck_assert_msg(sh("set -e; ip netns add %s; ip netns add %s; "
			 "ip -n %s link add vo type veth peer name eth0 netns %s; "
			 "ip -n %s addr add 10.77.0.1/24 dev vo; ip -n %s link set vo up; "
			 "ip -n %s link set lo up; ip -n %s addr add 10.77.0.2/24 dev eth0; "
			 "ip -n %s link set eth0 up; ip -n %s route add default via 10.77.0.1",
			 n->pod, n->out, n->out, n->pod, n->out, n->out, n->pod, n->pod, n->pod,
			 n->pod) == 0,
		      "%s", fx.error);
}

void nets_remove(struct nets *n)
{
	sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; true", n->pod, n->out);
}

char *net_bundle(struct t *t, const char *name, const char *script, const char *netns)
{
	char spec[4096], ns[160] = "";

	if (netns)
		snprintf(ns, sizeof(ns), ",{\"type\":\"network\",\"path\":\"/run/netns/%s\"}",
			 netns);
	snprintf(spec, sizeof(spec),
		 "{\"ociVersion\":\"1.0.2\",\"process\":{\"user\":{\"uid\":0,\"gid\":0},"
		 "\"capabilities\":{\"bounding\":[\"CAP_NET_BIND_SERVICE\"],"
		 "\"effective\":[\"CAP_NET_BIND_SERVICE\"],"
		 "\"permitted\":[\"CAP_NET_BIND_SERVICE\"]},"
		 "\"args\":[\"sh\",\"-c\",\"%s\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},"
		 "\"root\":{\"path\":\"%s\"},\"hostname\":\"net-test\","
		 "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		 "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}],"
		 "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},"
		 "{\"type\":\"uts\"},{\"type\":\"mount\"}%s]}}",
		 script, fx.rootfs, ns);
	return bundle_text(t, name, spec);
}

int http_get(const char *ns, const char *addr, const char *out)
{
	return sh("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | ip netns exec %s socat -t 5 - "
		  "TCP:%s,connect-timeout=3 >'%s'",
		  ns, addr, out);
}

void expect_served(const char *ns, const char *addr, const char *want, int timeout_ms)
{
	char p[PATH_MAX], body[256] = "";
	long long deadline = now_ms() + timeout_ms;

	snprintf(p, sizeof(p), "%s/get.out", fx.dir);
	while (now_ms() < deadline) {
		if (http_get(ns, addr, p) == 0) {
			slurp(p, body, sizeof(body));
			if (strstr(body, want))
				return;
		}
		usleep(200000);
	}
	ck_abort_msg("%s in %s: no \"%s\" (got \"%s\"; %s)", addr, ns, want, body, fx.error);
}
