/* A container's network as the CLI chooses it: see network.h. */
#include "network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lcow/net.h>

#include "log.h"
#include "util.h"

int net_network_check(const char *s, struct gcs_error *err)
{
	if (!strcmp(s, "none") || !strcmp(s, "user"))
		return 0;
	if (!strncmp(s, "ns:", 3) && s[3] == '/')
		return 0;
	if (!strncmp(s, "ns:", 3))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "--network ns:PATH needs an absolute path (such as "
				     "/run/netns/NAME), not '%s'",
				     s + 3);
	return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
			     "--network must be none, user or ns:PATH, not '%s'", s);
}

static int port_parse(const char *s, size_t len, unsigned *ret)
{
	char buf[8], *end;
	unsigned long v;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	v = strtoul(buf, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int net_publish_parse(const char *s, char *ret, size_t len, struct gcs_error *err)
{
	char ip[INET_ADDRSTRLEN] = "127.0.0.1", spec[128];
	const char *proto = "tcp", *slash, *colon, *host;
	unsigned hport, cport;
	struct in_addr a;

	snprintf(spec, sizeof(spec), "%s", s);
	slash = strchr(spec, '/');
	if (slash) {
		proto = slash + 1;
		if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
			goto bad;
		spec[slash - spec] = '\0';
	}
	colon = strrchr(spec, ':');
	if (!colon || port_parse(colon + 1, strlen(colon + 1), &cport) < 0)
		goto bad;
	host = strchr(spec, ':') == colon ? NULL : strchr(spec, ':');
	if (host) {
		/* IP:HOSTPORT:CTRPORT */
		size_t n = (size_t)(host - spec);
		if (n >= sizeof(ip))
			goto bad;
		memcpy(ip, spec, n);
		ip[n] = '\0';
		if (inet_pton(AF_INET, ip, &a) != 1)
			goto bad;
		if (port_parse(host + 1, (size_t)(colon - host - 1), &hport) < 0)
			goto bad;
	} else if (port_parse(spec, (size_t)(colon - spec), &hport) < 0) {
		goto bad;
	}
	snprintf(ret, len, "%s:%s:%u-:%u", proto, ip, hport, cport);
	return 0;
bad:
	return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
			     "--publish must be [IP:]HOSTPORT:CTRPORT[/tcp|udp] with an IPv4 "
			     "address and ports 1-65535, not '%s'",
			     s);
}

/* The spec's network namespace entry's path, or NULL. */
static const char *spec_netns_path(json_t *spec)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(spec, "linux"), "namespaces"), i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		const char *p = json_string_value(json_object_get(v, "path"));
		if (t && !strcmp(t, "network"))
			return p && p[0] ? p : NULL;
	}
	return NULL;
}

/* A CRI workload container joins its sandbox's namespaces in the UVM (the agent sees to it). */
static bool cri_workload(json_t *spec)
{
	const char *type = json_string_value(json_object_get(json_object_get(spec, "annotations"),
							     "io.kubernetes.cri.container-type"));

	return type && !strcmp(type, "container");
}

int net_resolve(const struct net_opts *o, json_t *spec, enum lcow_rt_mode mode, json_t *req,
		struct gcs_error *err)
{
	char net[PATH_MAX + 4];
	const char *path = spec_netns_path(spec);
	json_t *publish = json_array();
	int rc;

	if (!publish)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	if (o->network)
		snprintf(net, sizeof(net), "%s", o->network);
	else if (cri_workload(spec))
		snprintf(net, sizeof(net), "none");
	else if (path)
		snprintf(net, sizeof(net), "ns:%s", path);
	else
		snprintf(net, sizeof(net), "%s", mode == LCOW_RT_QEMU ? "user" : "none");
	rc = net_network_check(net, err);
	if (rc == 0 && !strcmp(net, "user") && mode != LCOW_RT_QEMU)
		rc = gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				   "--network user is QEMU's user-mode network stack, and a "
				   "process-mode UVM has no VM to give it: use --network "
				   "ns:PATH (a network namespace) or none");
	if (rc == 0 && o->n_publish && strcmp(net, "user") != 0)
		rc = gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				   "--publish forwards host ports into QEMU's user-mode network "
				   "and needs --network user (this container's network is %s%s)",
				   net, o->network ? "" : ", the default");
	for (size_t i = 0; rc == 0 && i < o->n_publish; i++) {
		char fwd[96];
		rc = net_publish_parse(o->publish[i], fwd, sizeof(fwd), err);
		if (rc == 0)
			json_array_append_new(publish, json_string(fwd));
	}
	if (rc == 0 && !strncmp(net, "ns:", 3)) {
		struct lcow_net_info info;
		rc = lcow_net_inspect(net + 3, &info, err);
	}
	if (rc < 0) {
		json_decref(publish);
		return rc;
	}
	json_object_set_new(req, "network", json_string(net));
	json_object_set_new(req, "publish", publish);
	return 0;
}

void net_sweep(const char *ctr_dir)
{
	struct gcs_error err = { 0 };
	char p[PATH_MAX];

	if (pathf(p, sizeof(p), "%s/net.json", ctr_dir) == 0 && lcow_net_unwire(p, &err) < 0)
		log_warning("%s", err.message);
}
