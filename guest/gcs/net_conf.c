/*
 * Network Add checked and parsed before anything changes, and the DNS and hosts files. The
 * route rules follow hcsshim's guest (internal/guest/network): a default route whose next hop is
 * the unspecified address is "no gateway" and skipped, the default destination has no prefix to
 * parse, a route needs a gateway or a destination. Where hcsshim adds the gateway as a /32
 * address to reach a gateway outside the subnet, the route is added "onlink" instead.
 */
#include "net_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cleanup.h"

static const char *s_or(const char *s)
{
	return s ? s : "";
}

int net_id_normalize(const char *id, char *buf, size_t len)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n >= len || n >= NET_ID_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)id[i]) && id[i] != '-')
			return -EINVAL;
		buf[i] = (char)tolower((unsigned char)id[i]);
	}
	buf[n] = '\0';
	return 0;
}

/* A comma-separated DNS list: no whitespace inside an entry, nothing that could add a line. */
static bool dns_list_ok(const char *s)
{
	for (; s && *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static bool in_some_subnet(const struct net_adapter_conf *c, const struct nlh_ip *gw)
{
	for (size_t i = 0; i < c->n_ips; i++)
		if (nlh_ip_in(gw, &c->ips[i], c->ip_lens[i]))
			return true;
	return false;
}

static int parse_route(const struct gcs_proto_route *in, size_t i, struct net_adapter_conf *c,
		       bool *ret_skip, struct gcs_error *err)
{
	const char *dst = s_or(in->destination_prefix), *hop = s_or(in->next_hop);
	struct net_route_conf r = { .metric = in->metric };
	bool is_default = !strcmp(dst, "0.0.0.0/0") || !strcmp(dst, "::/0");

	*ret_skip = false;
	if (nlh_prefix_parse(dst, &r.dst, &r.dst_len) < 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "network add %s: Routes[%zu]: DestinationPrefix \"%s\" is not "
				     "ADDRESS/LENGTH",
				     c->id, i, dst);
	if (!is_default && nlh_ip_host_bits(&r.dst, r.dst_len))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "network add %s: Routes[%zu]: DestinationPrefix %s has bits "
				     "set outside its prefix",
				     c->id, i, dst);
	if (hop[0]) {
		if (nlh_ip_parse(hop, &r.gw) < 0)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "network add %s: Routes[%zu]: NextHop \"%s\" is not "
					     "an IP address",
					     c->id, i, hop);
		if (r.gw.family != r.dst.family)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "network add %s: Routes[%zu]: NextHop %s and "
					     "DestinationPrefix %s are of different families",
					     c->id, i, hop, dst);
		r.has_gw = !nlh_ip_is_any(&r.gw);
	}
	if (is_default && !r.has_gw) {
		/* the empty default: this adapter has no gateway */
		*ret_skip = true;
		return 0;
	}
	if (r.has_gw && !in_some_subnet(c, &r.gw))
		r.onlink = true;
	c->routes[c->n_routes++] = r;
	return 0;
}

int net_adapter_parse(const struct gcs_proto_network_adapter *in, struct net_adapter_conf *ret,
		      struct gcs_error *err)
{
	struct net_adapter_conf c = { .encap_overhead = in->encap_overhead,
				      .policy_based_routing = in->policy_based_routing,
				      .enable_low_metric = in->enable_low_metric };
	int rc;

	if (net_id_normalize(in->id, c.id, sizeof(c.id)) < 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "network add: adapter ID \"%s\" is not a GUID", s_or(in->id));
	if (net_id_normalize(in->namespace_id, c.ns_id, sizeof(c.ns_id)) < 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "network add %s: NamespaceID \"%s\" is not a GUID", c.id,
				     s_or(in->namespace_id));
	if (in->vpci_assigned)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "network add %s: VPCI-assigned adapters are not supported",
				     c.id);
	if (in->mac_address && in->mac_address[0]) {
		if (nlh_mac_parse(in->mac_address, c.mac) < 0)
			return gcs_error_set(
				err, -EINVAL, HR_INVALIDARG,
				"network add %s: MacAddress \"%s\" is not a MAC address", c.id,
				in->mac_address);
		c.has_mac = true;
	}
	if (in->n_ip_configs == 0)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "network add %s: no IPConfigs, and DHCP is not supported",
				     c.id);
	if (in->n_ip_configs > NET_MAX_IPS || in->n_routes > NET_MAX_ROUTES)
		return gcs_error_set(err, -E2BIG, HR_INVALIDARG,
				     "network add %s: more than %d IPConfigs or %d Routes", c.id,
				     NET_MAX_IPS, NET_MAX_ROUTES);
	for (size_t i = 0; i < in->n_ip_configs; i++) {
		const struct gcs_proto_ip_config *ip = &in->ip_configs[i];
		if (nlh_ip_parse(ip->ip_address, &c.ips[i]) < 0)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "network add %s: IPConfigs[%zu]: \"%s\" is not an IP "
					     "address",
					     c.id, i, s_or(ip->ip_address));
		if (ip->prefix_length > (c.ips[i].family == AF_INET ? 32 : 128))
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "network add %s: IPConfigs[%zu]: prefix length %u of "
					     "%s is out of range",
					     c.id, i, ip->prefix_length, ip->ip_address);
		c.ip_lens[i] = ip->prefix_length;
		c.n_ips++;
	}
	for (size_t i = 0; i < in->n_routes; i++) {
		bool skip;
		if ((rc = parse_route(&in->routes[i], i, &c, &skip, err)) < 0)
			return rc;
	}
	if (!dns_list_ok(in->dns_suffix) || !dns_list_ok(in->dns_server_list))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "network add %s: DNSSuffix or DNSServerList holds control "
				     "characters",
				     c.id);
	if (in->dns_server_list && in->dns_server_list[0]) {
		/* each server must be an address: it becomes a nameserver line */
		_cleanup_free_ char *copy = strdup(in->dns_server_list);
		char *save = NULL;
		if (!copy)
			return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			struct nlh_ip ip;
			while (*t == ' ')
				t++;
			t[strcspn(t, " ")] = '\0';
			if (*t && nlh_ip_parse(t, &ip) < 0)
				return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
						     "network add %s: DNSServerList: \"%s\" is not "
						     "an IP address",
						     c.id, t);
		}
	}
	c.dns_suffix = in->dns_suffix && in->dns_suffix[0] ? strdup(in->dns_suffix) : NULL;
	c.dns_servers =
		in->dns_server_list && in->dns_server_list[0] ? strdup(in->dns_server_list) : NULL;
	if ((in->dns_suffix && in->dns_suffix[0] && !c.dns_suffix) ||
	    (in->dns_server_list && in->dns_server_list[0] && !c.dns_servers)) {
		net_adapter_conf_free(&c);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}
	*ret = c;
	return 0;
}

void net_adapter_conf_free(struct net_adapter_conf *c)
{
	free(c->dns_suffix);
	free(c->dns_servers);
	c->dns_suffix = c->dns_servers = NULL;
}

/* ---- files ---- */

struct strlist {
	char *v[64];
	size_t n;
};

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

/* Adds each comma-separated entry of s, trimmed and lowercased, unless already there. */
static int strlist_add(struct strlist *l, const char *s)
{
	_cleanup_free_ char *copy = s ? strdup(s) : NULL;
	char *save = NULL;

	if (!s)
		return 0;
	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t n;
		bool dup = false;
		while (isspace((unsigned char)*t))
			t++;
		n = strlen(t);
		while (n > 0 && isspace((unsigned char)t[n - 1]))
			t[--n] = '\0';
		for (size_t i = 0; i < n; i++)
			t[i] = (char)tolower((unsigned char)t[i]);
		for (size_t i = 0; i < l->n && !dup; i++)
			dup = !strcmp(l->v[i], t);
		if (!*t || dup)
			continue;
		if (l->n == sizeof(l->v) / sizeof(l->v[0]))
			return -E2BIG;
		if (!(l->v[l->n] = strdup(t)))
			return -ENOMEM;
		l->n++;
	}
	return 0;
}

int net_resolv_conf(const struct net_adapter_conf *const *adapters, size_t n, char **ret)
{
	struct strlist searches = { 0 }, servers = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = strlist_add(&searches, adapters[i]->dns_suffix);
		if (rc == 0)
			rc = strlist_add(&servers, adapters[i]->dns_servers);
	}
	if (rc == 0 && searches.n > NET_MAX_SEARCHES)
		rc = -E2BIG;
	if (rc == 0 && !(f = open_memstream(&buf, &len)))
		rc = -ENOMEM;
	if (rc == 0) {
		if (searches.n) {
			fputs("search", f);
			for (size_t i = 0; i < searches.n; i++)
				fprintf(f, " %s", searches.v[i]);
			fputc('\n', f);
		}
		for (size_t i = 0; i < servers.n; i++)
			fprintf(f, "nameserver %s\n", servers.v[i]);
		if (fclose(f) != 0 || !buf)
			rc = -ENOMEM;
	}
	strlist_free(&searches);
	strlist_free(&servers);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*ret = buf;
	return 0;
}

bool net_hostname_valid(const char *h)
{
	size_t n = strlen(h);

	if (n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '_' && h[i] != '-' && h[i] != '.')
			return false;
	return true;
}

int net_hosts(const char *hostname, char **ret)
{
	const char *dot = strchr(hostname, '.');
	char *buf = NULL;
	int n;

	if (dot)
		n = asprintf(&buf,
			     "127.0.0.1 localhost\n127.0.0.1 %s %.*s\n\n"
			     "# The following lines are desirable for IPv6 capable hosts\n"
			     "::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\n"
			     "ff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\n"
			     "ff02::2 ip6-allrouters\n",
			     hostname, (int)(dot - hostname), hostname);
	else
		n = asprintf(&buf,
			     "127.0.0.1 localhost\n127.0.0.1 %s\n\n"
			     "# The following lines are desirable for IPv6 capable hosts\n"
			     "::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\n"
			     "ff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\n"
			     "ff02::2 ip6-allrouters\n",
			     hostname);
	if (n < 0)
		return -ENOMEM;
	*ret = buf;
	return 0;
}
