/*
 * Network namespaces and the adapters in them (spec section 10.6), as hcsshim's guest keeps
 * them (internal/guest/runtime/hcsv2/network.go), with one difference: the namespace is the
 * agent's own, created on demand and kept by a bind mount, rather than the one runc makes for
 * the sandbox. Its containers run in it through the spec's network namespace path.
 *
 * Configuring an adapter (network.go's NetNSConfig and configureLink): link down, move into the
 * namespace, MTU minus EncapOverhead, up, each address (with EnableLowMetric a rule "from
 * <address> lookup 101" at priority 5 and the routes in table 101), each route (metric 500 for a
 * route without one under EnableLowMetric). PolicyBasedRouting turns EnableLowMetric on for
 * every adapter of the namespace but the first. lo is up in every namespace.
 */
#include "net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "net_conf.h"
#include "nl.h"
#include "request.h"
#include "rootpath.h"

/* How long Add waits for the adapter's interface to appear (hcsshim's guest: 5 s). */
#define NET_FIND_TIMEOUT_MS 5000
#define NET_FIND_POLL_MS 10
/* EnableLowMetric (network.go) */
#define NET_LOW_METRIC 500
#define NET_PBR_TABLE 101
#define NET_PBR_RULE_PRIORITY 5

struct net_nic {
	struct list node;
	struct net_adapter_conf conf;
	char ifname[NLH_IFNAMSIZ];
	bool moved; /* in the namespace and configured */
};

struct net_ns {
	struct list node;
	char id[NET_ID_MAX];
	char path[PATH_MAX];
	int fd; /* the namespace (the bind mount at path) */
	char *owner; /* ID of the sandbox or standalone container running in it, or NULL */
	char *owner_bundle; /* its bundle, where its hostname, hosts and resolv.conf are */
	struct list nics;
};

/* A Network Add waiting for its interface. */
struct net_add {
	struct list node;
	struct agent *a;
	struct request *req;
	struct net_adapter_conf conf;
	struct nlh *nl; /* the polls' netlink socket */
	struct loop_timer timer;
	int64_t deadline_ms;
};

static char mac_buf[18];

static const char *mac_text(const struct net_adapter_conf *c)
{
	return c->has_mac ? nlh_mac_str(c->mac, mac_buf, sizeof(mac_buf)) : "(none)";
}

static int netns_dir(struct agent *a, char *buf, size_t len)
{
	return pathf(buf, len, "%s/gcs/netns", a->opt.run_root);
}

/* ---- namespaces ---- */

static struct net_ns *ns_find(struct agent *a, const char *id)
{
	struct list *it;

	list_for_each(it, &a->netns)
	{
		struct net_ns *ns = list_entry(it, struct net_ns, node);
		if (!strcmp(ns->id, id))
			return ns;
	}
	return NULL;
}

static int ns_get(struct agent *a, const char *id, struct net_ns **ret, struct gcs_error *err)
{
	struct net_ns *ns = ns_find(a, id);
	char dir[PATH_MAX];
	int rc;

	if (ns) {
		*ret = ns;
		return 0;
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	snprintf(ns->id, sizeof(ns->id), "%s", id);
	list_init(&ns->nics);
	ns->fd = -1;
	if ((rc = netns_dir(a, dir, sizeof(dir))) < 0 || (rc = mkdir_p(dir, 0700)) < 0 ||
	    (rc = pathf(ns->path, sizeof(ns->path), "%s/%s", dir, id)) < 0) {
		free(ns);
		return gcs_error_set(err, rc, HR_FAIL, "network namespace %s: %s: %s", id, dir,
				     strerror(-rc));
	}
	rc = netns_create(ns->path);
	if (rc == 0 && (ns->fd = netns_open(ns->path)) < 0) {
		rc = ns->fd;
		netns_remove(ns->path);
	}
	if (rc < 0) {
		free(ns);
		return gcs_error_set(err, rc, HR_FAIL, "network namespace %s: create: %s", id,
				     strerror(-rc));
	}
	list_add_tail(&a->netns, &ns->node);
	log_info("network namespace created", LOG_STR("namespace", id), LOG_STR("path", ns->path));
	*ret = ns;
	return 0;
}

static void nic_free(struct net_nic *n)
{
	list_del(&n->node);
	net_adapter_conf_free(&n->conf);
	free(n);
}

static void ns_free(struct agent *a, struct net_ns *ns)
{
	int rc;

	while (!list_empty(&ns->nics))
		nic_free(list_entry(ns->nics.next, struct net_nic, node));
	if (ns->fd >= 0)
		close(ns->fd);
	rc = netns_remove(ns->path);
	if (rc < 0)
		log_error("cannot remove a network namespace", LOG_STR("path", ns->path),
			  LOG_ERRNO(rc));
	else
		log_info("network namespace removed", LOG_STR("namespace", ns->id));
	list_del(&ns->node);
	free(ns->owner);
	free(ns->owner_bundle);
	free(ns);
	(void)a;
}

static bool ns_owned(const struct net_ns *ns)
{
	return ns->owner != NULL;
}

static void ns_maybe_free(struct agent *a, struct net_ns *ns)
{
	if (list_empty(&ns->nics) && !ns_owned(ns))
		ns_free(a, ns);
}

static void ns_disown(struct net_ns *ns)
{
	free(TAKE_PTR(ns->owner));
	free(TAKE_PTR(ns->owner_bundle));
}

/* ---- interfaces ---- */

/* The single entry of <sysfs>/bus/vmbus/devices/<id>/net/: 1 found, 0 not (yet). */
static int vmbus_ifname(struct agent *a, const char *id, char *buf, size_t len)
{
	char path[PATH_MAX];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;
	int n = 0;

	if (pathf(path, sizeof(path), "%s/bus/vmbus/devices/%s/net", a->opt.sysfs_root, id) < 0)
		return 0;
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n++ == 0)
			snprintf(buf, len, "%s", e->d_name);
	}
	return n == 1 ? 1 : n > 1 ? -ENOTUNIQ : 0;
}

/*
 * The adapter's interface in the agent's own namespace: 1 found, 0 not yet, -errno. *h is the
 * netlink socket the polls of one Add share (opened on first use, closed by the caller).
 */
static int find_interface(struct agent *a, const struct net_adapter_conf *c, struct nlh **h,
			  char *ifname, size_t len)
{
	struct nlh_link l;
	int rc = vmbus_ifname(a, c->id, ifname, len);

	if (rc != 0 || !c->has_mac)
		return rc;
	if (!*h && (rc = nlh_open(-1, h)) < 0)
		return rc;
	rc = nlh_link_by_mac(*h, c->mac, &l);
	if (rc == -ENODEV)
		return 0;
	if (rc < 0)
		return rc;
	snprintf(ifname, len, "%s", l.name);
	return 1;
}

/* ---- configuring ---- */

static int configure_in_ns(struct nlh *in, const struct net_adapter_conf *c, bool low_metric,
			   int ifindex, const char *ifname, struct gcs_error *err)
{
	unsigned table = 0;
	struct nlh_link l;
	char ip[64];
	int rc;

	if ((rc = nlh_link_by_index(in, ifindex, &l)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "%s is gone: %s", ifname, strerror(-rc));
	if (c->encap_overhead) {
		if (c->encap_overhead >= l.mtu)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "EncapOverhead %u is not below the MTU %u of %s",
					     c->encap_overhead, l.mtu, ifname);
		if ((rc = nlh_link_set_mtu(in, ifindex, l.mtu - c->encap_overhead)) < 0)
			return gcs_error_set(err, rc, HR_FAIL, "set the MTU of %s: %s", ifname,
					     strerror(-rc));
	}
	if ((rc = nlh_link_set_up(in, ifindex, true)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "bring %s up: %s", ifname, strerror(-rc));
	for (size_t i = 0; i < c->n_ips; i++) {
		rc = nlh_addr_add(in, ifindex, &c->ips[i], c->ip_lens[i]);
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL, "add address %s/%u to %s: %s",
					     nlh_ip_str(&c->ips[i], ip, sizeof(ip)), c->ip_lens[i],
					     ifname, strerror(-rc));
		if (low_metric) {
			unsigned full = c->ips[i].family == AF_INET ? 32 : 128;
			rc = nlh_rule_add(in, &c->ips[i], full, NET_PBR_TABLE,
					  NET_PBR_RULE_PRIORITY);
			if (rc < 0)
				return gcs_error_set(err, rc, HR_FAIL,
						     "add the rule from %s lookup %d: %s",
						     nlh_ip_str(&c->ips[i], ip, sizeof(ip)),
						     NET_PBR_TABLE, strerror(-rc));
			table = NET_PBR_TABLE;
		}
	}
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct net_route_conf *rc_ = &c->routes[i];
		struct nlh_route r = {
			.ifindex = ifindex,
			.dst = rc_->dst,
			.dst_len = rc_->dst_len,
			.has_gw = rc_->has_gw,
			.gw = rc_->gw,
			.metric = low_metric && !rc_->metric ? NET_LOW_METRIC : rc_->metric,
			.table = table,
			.onlink = rc_->onlink,
		};
		char gw[64];
		if ((rc = nlh_route_add(in, &r)) < 0)
			return gcs_error_set(err, rc, HR_FAIL, "add route %s/%u via %s on %s: %s",
					     nlh_ip_str(&r.dst, ip, sizeof(ip)), r.dst_len,
					     r.has_gw ? nlh_ip_str(&r.gw, gw, sizeof(gw)) : "-",
					     ifname, strerror(-rc));
	}
	return 0;
}

/* Moves link ifindex of the namespace behind in back into the agent's own, down. */
static int move_home(struct nlh *in, int ifindex)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int rc;

	if (self < 0)
		return -errno;
	if ((rc = nlh_link_set_up(in, ifindex, false)) < 0)
		return rc;
	return nlh_link_set_netns(in, ifindex, self);
}

/*
 * Moves the NIC into ns and configures it there. On failure the NIC goes back to the agent's
 * namespace (which drops whatever was configured on it) and err says which step failed.
 */
static int nic_move(struct net_ns *ns, struct net_nic *n, bool low_metric, struct gcs_error *err)
{
	_cleanup_(nlh_closep) struct nlh *root = NULL;
	_cleanup_(nlh_closep) struct nlh *in = NULL;
	struct nlh_link l;
	int rc;

	if ((rc = nlh_open(-1, &root)) < 0 || (rc = nlh_open(ns->fd, &in)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "netlink: %s", strerror(-rc));
	if ((rc = nlh_link_get(root, n->ifname, &l)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "interface %s: %s", n->ifname,
				     strerror(-rc));
	if (n->conf.has_mac && memcmp(l.mac, n->conf.mac, 6) != 0)
		return gcs_error_set(err, -ENODEV, HR_FAIL, "interface %s no longer has MAC %s",
				     n->ifname, mac_text(&n->conf));
	if ((rc = nlh_link_set_up(root, l.ifindex, false)) < 0 ||
	    (rc = nlh_link_set_netns(root, l.ifindex, ns->fd)) < 0)
		return gcs_error_set(err, rc, HR_FAIL, "move %s into namespace %s: %s", n->ifname,
				     ns->id, strerror(-rc));
	if ((rc = nlh_link_get(in, n->ifname, &l)) == 0)
		rc = configure_in_ns(in, &n->conf, low_metric, l.ifindex, n->ifname, err);
	else
		gcs_error_set(err, rc, HR_FAIL, "%s not found after the move: %s", n->ifname,
			      strerror(-rc));
	if (rc < 0) {
		if (move_home(in, l.ifindex) < 0)
			log_error("cannot move an interface back after a failed set-up",
				  LOG_STR("ifname", n->ifname), LOG_STR("namespace", ns->id));
		return rc;
	}
	n->moved = true;
	log_info("network adapter configured", LOG_STR("adapter", n->conf.id),
		 LOG_STR("ifname", n->ifname), LOG_STR("namespace", ns->id));
	return 0;
}

/* Moves every NIC of ns not moved yet (hcsshim's namespace Sync). */
static int ns_sync(struct net_ns *ns, struct gcs_error *err)
{
	struct list *it;
	size_t i = 0;

	list_for_each(it, &ns->nics)
	{
		struct net_nic *n = list_entry(it, struct net_nic, node);
		bool low = n->conf.policy_based_routing ? i > 0 : n->conf.enable_low_metric;
		int rc;

		i++;
		if (n->moved)
			continue;
		rc = nic_move(ns, n, low, err);
		if (rc < 0)
			return gcs_error_prefix(err, rc, "network add %s", n->conf.id);
	}
	return 0;
}

/* ---- Add ---- */

static bool mac_in_use(struct agent *a, const struct net_adapter_conf *c, const char **ret_id)
{
	struct list *it, *jt;

	if (!c->has_mac)
		return false;
	list_for_each(it, &a->netns)
	{
		struct net_ns *ns = list_entry(it, struct net_ns, node);
		list_for_each(jt, &ns->nics)
		{
			struct net_nic *n = list_entry(jt, struct net_nic, node);
			if (n->conf.has_mac && !memcmp(n->conf.mac, c->mac, 6)) {
				*ret_id = n->conf.id;
				return true;
			}
		}
	}
	list_for_each(it, &a->net_adds)
	{
		struct net_add *p = list_entry(it, struct net_add, node);
		if (p->conf.has_mac && !memcmp(p->conf.mac, c->mac, 6)) {
			*ret_id = p->conf.id;
			return true;
		}
	}
	return false;
}

static bool adapter_known(struct agent *a, const struct net_adapter_conf *c)
{
	struct net_ns *ns = ns_find(a, c->ns_id);
	struct list *it;

	if (ns)
		list_for_each(it, &ns->nics)
		{
			if (!strcmp(list_entry(it, struct net_nic, node)->conf.id, c->id))
				return true;
		}
	list_for_each(it, &a->net_adds)
	{
		if (!strcmp(list_entry(it, struct net_add, node)->conf.id, c->id))
			return true;
	}
	return false;
}

/* The interface is there: record the NIC, and move it now if its container exists. */
static int add_found(struct agent *a, struct net_adapter_conf *conf, const char *ifname,
		     struct gcs_error *err)
{
	struct net_nic *n = calloc(1, sizeof(*n));
	struct net_ns *ns;
	int rc;

	if (!n)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	rc = ns_get(a, conf->ns_id, &ns, err);
	if (rc < 0) {
		free(n);
		return gcs_error_prefix(err, rc, "network add %s", conf->id);
	}
	n->conf = *conf;
	memset(conf, 0, sizeof(*conf)); /* n owns the strings now */
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifname);
	list_add_tail(&ns->nics, &n->node);
	log_info("network adapter added", LOG_STR("adapter", n->conf.id), LOG_STR("ifname", ifname),
		 LOG_STR("namespace", ns->id), LOG_BOOL("now", ns_owned(ns)));
	if (!ns_owned(ns))
		return 0;
	rc = ns_sync(ns, err);
	if (rc < 0) {
		nic_free(n);
		ns_maybe_free(a, ns);
	}
	return rc;
}

static void add_free(struct net_add *p)
{
	loop_timer_cancel(p->a->loop, &p->timer);
	list_del(&p->node);
	net_adapter_conf_free(&p->conf);
	nlh_close(p->nl);
	free(p);
}

static void add_cancel(struct request *req)
{
	struct net_add *p = req->owner;

	add_free(p);
	request_drop(req);
}

static void add_poll(struct loop_timer *t)
{
	struct net_add *p = list_entry(t, struct net_add, timer);
	struct agent *a = p->a;
	struct gcs_error err = { 0 };
	char ifname[NLH_IFNAMSIZ];
	struct request *req = p->req;
	int rc = find_interface(a, &p->conf, &p->nl, ifname, sizeof(ifname));

	if (rc == 0 && loop_now_ms() < p->deadline_ms) {
		loop_timer_arm(a->loop, &p->timer, NET_FIND_POLL_MS, add_poll);
		return;
	}
	if (rc == 0)
		rc = gcs_error_set(&err, -ENODEV, HR_FAIL,
				   "network add %s: interface with MAC %s not found after %d s",
				   p->conf.id, mac_text(&p->conf), NET_FIND_TIMEOUT_MS / 1000);
	else if (rc < 0)
		gcs_error_set(&err, rc, HR_FAIL, "network add %s: find the interface: %s",
			      p->conf.id, strerror(-rc));
	else
		rc = add_found(a, &p->conf, ifname, &err);
	req->cancel = NULL;
	req->owner = NULL;
	add_free(p);
	if (rc < 0)
		log_error("network add failed", LOG_STR("error", err.message));
	request_finish(req, rc, &err);
}

static int handle_add(struct request *req, const struct gcs_proto_network_adapter *in,
		      struct gcs_error *err)
{
	struct agent *a = req->a;
	struct net_adapter_conf conf;
	const char *other = NULL;
	struct net_add *p;
	int rc = net_adapter_parse(in, &conf, err);

	if (rc < 0)
		return rc;
	if (!conf.has_mac && vmbus_ifname(a, conf.id, (char[NLH_IFNAMSIZ]){ 0 }, NLH_IFNAMSIZ) == 0)
		log_debug("adapter without MAC: waiting for its VMBus device",
			  LOG_STR("adapter", conf.id));
	if (adapter_known(a, &conf))
		rc = gcs_error_set(err, -EEXIST, HR_FAIL,
				   "network add %s: the adapter is already in namespace %s",
				   conf.id, conf.ns_id);
	else if (mac_in_use(a, &conf, &other))
		rc = gcs_error_set(err, -EEXIST, HR_INVALIDARG,
				   "network add %s: MAC %s belongs to adapter %s", conf.id,
				   mac_text(&conf), other);
	if (rc < 0) {
		net_adapter_conf_free(&conf);
		return rc;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		net_adapter_conf_free(&conf);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}
	p->a = a;
	p->req = req;
	p->conf = conf;
	p->deadline_ms = loop_now_ms() + NET_FIND_TIMEOUT_MS;
	list_add_tail(&a->net_adds, &p->node);
	req->owner = p;
	req->cancel = add_cancel;
	add_poll(&p->timer);
	return REQUEST_KEPT;
}

/* ---- Remove ---- */

static int handle_remove(struct request *req, const struct gcs_proto_network_adapter *in,
			 struct gcs_error *err)
{
	struct agent *a = req->a;
	char id[NET_ID_MAX], ns_id[NET_ID_MAX];
	struct net_ns *ns;
	struct list *it, *tmp;

	if (net_id_normalize(in->namespace_id, ns_id, sizeof(ns_id)) < 0 ||
	    net_id_normalize(in->id, id, sizeof(id)) < 0)
		return gcs_error_set(
			err, -EINVAL, HR_INVALIDARG,
			"network remove: NamespaceID \"%s\" or ID \"%s\" is not a GUID",
			in->namespace_id ? in->namespace_id : "", in->id ? in->id : "");
	ns = ns_find(a, ns_id);
	if (!ns) {
		log_info("network remove: no such namespace", LOG_STR("namespace", ns_id),
			 LOG_STR("adapter", id));
		return 0;
	}
	list_for_each_safe(it, tmp, &ns->nics)
	{
		struct net_nic *n = list_entry(it, struct net_nic, node);
		_cleanup_(nlh_closep) struct nlh *in_ns = NULL;
		struct nlh_link l;

		if (strcmp(n->conf.id, id) != 0)
			continue;
		/* back into the UVM's namespace, unconfigured (the move drops its addresses) */
		if (n->moved && nlh_open(ns->fd, &in_ns) == 0 &&
		    nlh_link_get(in_ns, n->ifname, &l) == 0) {
			if (move_home(in_ns, l.ifindex) < 0)
				log_warning("cannot move a removed adapter out of its namespace",
					    LOG_STR("adapter", id), LOG_STR("ifname", n->ifname));
		}
		log_info("network adapter removed", LOG_STR("adapter", id),
			 LOG_STR("namespace", ns_id));
		nic_free(n);
	}
	ns_maybe_free(a, ns);
	return 0;
}

int net_handle_modify(struct request *req, struct gcs_error *err)
{
	const struct gcs_proto_modify_req *m = &req->m.modify_req;
	enum gcs_proto_request_type rt = m->request_type;

	if (rt == GCS_REQUEST_TYPE_NONE || rt == GCS_REQUEST_TYPE_ADD)
		return handle_add(req, &m->settings.network, err);
	if (rt == GCS_REQUEST_TYPE_REMOVE)
		return handle_remove(req, &m->settings.network, err);
	return gcs_error_set(err, -EINVAL, HR_FAIL,
			     "the RequestType \"%s\" is not supported for Network",
			     m->request_type_name ? m->request_type_name : "");
}

/* ---- containers ---- */

static json_t *obj_child(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(o, key, v);
	}
	return v;
}

/* linux.namespaces: the network entry gets path (added when missing). */
static int spec_set_netns(json_t *spec, const char *path)
{
	json_t *lin = obj_child(spec, "linux"), *arr = json_object_get(lin, "namespaces"), *v;
	size_t i;

	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(lin, "namespaces", arr);
	}
	json_array_foreach(arr, i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		if (t && !strcmp(t, "network"))
			return json_object_set_new(v, "path", json_string(path)) ? -ENOMEM : 0;
	}
	v = json_pack("{s:s, s:s}", "type", "network", "path", path);
	return v && json_array_append_new(arr, v) == 0 ? 0 : -ENOMEM;
}

static bool spec_mounts(json_t *spec, const char *dest)
{
	json_t *m = json_object_get(spec, "mounts"), *v;
	size_t i;

	json_array_foreach(m, i, v) {
		const char *d = json_string_value(json_object_get(v, "destination"));
		if (d && !strcmp(d, dest))
			return true;
	}
	return false;
}

static int spec_add_bind(json_t *spec, const char *dest, const char *source)
{
	json_t *root = json_object_get(spec, "root"), *mounts = json_object_get(spec, "mounts");
	bool ro = json_is_true(json_object_get(root, "readonly"));
	json_t *m = json_pack("{s:s, s:s, s:s, s:[s]}", "destination", dest, "type", "bind",
			      "source", source, "options", "bind");

	if (!m)
		return -ENOMEM;
	if (ro)
		json_array_append_new(json_object_get(m, "options"), json_string("ro"));
	if (!json_is_array(mounts)) {
		mounts = json_array();
		json_object_set_new(spec, "mounts", mounts);
	}
	return json_array_append_new(mounts, m) == 0 ? 0 : -ENOMEM;
}

static const char *const net_files[][2] = {
	{ "hostname", "/etc/hostname" },
	{ "hosts", "/etc/hosts" },
	{ "resolv.conf", "/etc/resolv.conf" },
};

static struct net_ns *ns_of_owner(struct agent *a, const char *id)
{
	struct list *it;

	list_for_each(it, &a->netns)
	{
		struct net_ns *ns = list_entry(it, struct net_ns, node);
		if (ns->owner && !strcmp(ns->owner, id))
			return ns;
	}
	return NULL;
}

/* A workload container of a pod: its sandbox's files, where the sandbox has them. */
static int workload_files(struct agent *a, const char *cid, json_t *spec, struct gcs_error *err)
{
	json_t *ann = json_object_get(spec, "annotations");
	const char *sid = json_string_value(json_object_get(ann, "io.kubernetes.cri.sandbox-id"));
	const char *hostname = json_string_value(json_object_get(spec, "hostname"));
	struct net_ns *ns = sid ? ns_of_owner(a, sid) : NULL;

	if (hostname && hostname[0])
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "create %s: a workload container must not set a hostname "
				     "(\"%s\")",
				     cid, hostname);
	if (!ns || !ns->owner_bundle)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(net_files); i++) {
		char src[PATH_MAX];
		int rc;
		if (spec_mounts(spec, net_files[i][1]) ||
		    pathf(src, sizeof(src), "%s/%s", ns->owner_bundle, net_files[i][0]) < 0 ||
		    access(src, F_OK) != 0)
			continue;
		if ((rc = spec_add_bind(spec, net_files[i][1], src)) < 0)
			return gcs_error_set(err, rc, HR_FAIL, "out of memory");
	}
	return 0;
}

/* The adapters of ns (resolv.conf's sources). */
static int ns_resolv(struct net_ns *ns, char **ret)
{
	const struct net_adapter_conf *confs[64];
	struct list *it;
	size_t n = 0;

	list_for_each(it, &ns->nics)
	{
		if (n < ARRAY_SIZE(confs))
			confs[n++] = &list_entry(it, struct net_nic, node)->conf;
	}
	return net_resolv_conf(confs, n, ret);
}

/* hostname, hosts and resolv.conf into the bundle, bind-mounted unless the spec has them. */
static int write_files(struct net_ns *ns, json_t *spec, const char *bundle, int bundle_fd,
		       const char *hostname)
{
	_cleanup_free_ char *hosts = NULL, *resolv = NULL, *hn = NULL;
	int rc;

	if ((rc = ns_resolv(ns, &resolv)) < 0 || (rc = net_hosts(hostname, &hosts)) < 0)
		return rc;
	if (asprintf(&hn, "%s\n", hostname) < 0)
		return -ENOMEM;
	const char *content[] = { hn, hosts, resolv };
	for (size_t i = 0; i < ARRAY_SIZE(net_files); i++) {
		char src[PATH_MAX];
		if (spec_mounts(spec, net_files[i][1]))
			continue;
		rc = rp_write_file(bundle_fd, net_files[i][0], content[i], strlen(content[i]),
				   0644);
		if (rc == 0)
			rc = pathf(src, sizeof(src), "%s/%s", bundle, net_files[i][0]);
		if (rc == 0)
			rc = spec_add_bind(spec, net_files[i][1], src);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int net_container_create(struct agent *a, const char *cid, json_t *spec, const char *bundle,
			 int bundle_fd, struct gcs_error *err)
{
	json_t *ann = json_object_get(spec, "annotations");
	const char *type =
		json_string_value(json_object_get(ann, "io.kubernetes.cri.container-type"));
	const char *raw = json_string_value(json_object_get(
		json_object_get(json_object_get(spec, "windows"), "network"), "networkNamespace"));
	const char *hostname = json_string_value(json_object_get(spec, "hostname"));
	_cleanup_free_ char *resolv = NULL;
	char id[NET_ID_MAX], uts[256] = "";
	struct net_ns *ns;
	int rc;

	if (type && !strcmp(type, "container"))
		return workload_files(a, cid, spec, err);
	if (!raw || !raw[0])
		return 0;
	if (net_id_normalize(raw, id, sizeof(id)) < 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "create %s: windows.network.networkNamespace \"%s\" is not a "
				     "GUID",
				     cid, raw);
	/* no hostname: the UVM's, as hcsshim's guest does, or (a UVM whose kernel never got one
	 * says "(none)") the container's ID, cut to a DNS label */
	if (!hostname || !hostname[0]) {
		gethostname(uts, sizeof(uts) - 1);
		if (!uts[0] || !net_hostname_valid(uts))
			snprintf(uts, sizeof(uts), "%.63s", cid);
		hostname = uts;
	}
	if (!net_hostname_valid(hostname))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "create %s: hostname \"%s\" is invalid: only letters, digits, "
				     "'_', '-' and '.'",
				     cid, hostname);
	ns = ns_find(a, id);
	if (ns && ns_owned(ns))
		return gcs_error_set(err, -EBUSY, HR_FAIL,
				     "create %s: network namespace %s is already used by container "
				     "%s",
				     cid, id, ns->owner);
	/* what can be refused is refused before anything changes */
	if (ns && (rc = ns_resolv(ns, &resolv)) < 0)
		return gcs_error_set(err, rc, HR_INVALIDARG,
				     "create %s: resolv.conf of namespace %s: %s", cid, id,
				     rc == -E2BIG ? "more than 6 search domains" : strerror(-rc));
	if ((rc = ns_get(a, id, &ns, err)) < 0)
		return gcs_error_prefix(err, rc, "create %s", cid);
	ns->owner = strdup(cid);
	ns->owner_bundle = strdup(bundle);
	if (!ns->owner || !ns->owner_bundle)
		rc = gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	if (rc == 0 && (rc = ns_sync(ns, err)) < 0)
		gcs_error_prefix(err, rc, "create %s", cid);
	if (rc == 0 && ((rc = write_files(ns, spec, bundle, bundle_fd, hostname)) < 0 ||
			(rc = spec_set_netns(spec, ns->path)) < 0))
		gcs_error_set(err, rc, HR_FAIL, "create %s: network files: %s", cid, strerror(-rc));
	if (rc < 0) {
		ns_disown(ns);
		ns_maybe_free(a, ns);
		return rc;
	}
	log_info("container in network namespace", LOG_STR("id", cid), LOG_STR("namespace", id));
	return 0;
}

void net_container_gone(struct agent *a, const char *cid)
{
	struct net_ns *ns = ns_of_owner(a, cid);

	if (ns) {
		ns_disown(ns);
		ns_maybe_free(a, ns);
	}
}

/* ---- start-up, shutdown, diagnostics ---- */

void net_recover(struct agent *a)
{
	char dir[PATH_MAX], path[PATH_MAX * 2];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;

	if (netns_dir(a, dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		int rc;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc = netns_remove(path);
		if (rc == 0)
			log_warning("removed a network namespace left by an earlier agent",
				    LOG_STR("path", path));
		else
			log_error("cannot remove a network namespace left by an earlier agent",
				  LOG_STR("path", path), LOG_ERRNO(rc));
	}
}

void net_cleanup(struct agent *a)
{
	while (!list_empty(&a->net_adds)) {
		struct net_add *p = list_entry(a->net_adds.next, struct net_add, node);
		struct request *req = p->req;
		req->cancel = NULL;
		add_free(p);
		request_drop(req);
	}
	while (!list_empty(&a->netns))
		ns_free(a, list_entry(a->netns.next, struct net_ns, node));
}

void net_dump(struct agent *a, char *buf, size_t len)
{
	struct list *it, *jt;
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	list_for_each(it, &a->netns)
	{
		struct net_ns *ns = list_entry(it, struct net_ns, node);
		int w = snprintf(buf + n, len - n, "netns %s: %s%s%s\n", ns->id, ns->path,
				 ns->owner ? " container " : "", ns->owner ? ns->owner : "");
		if (w < 0 || (size_t)w >= len - n)
			return;
		n += (size_t)w;
		list_for_each(jt, &ns->nics)
		{
			struct net_nic *nic = list_entry(jt, struct net_nic, node);
			w = snprintf(buf + n, len - n, "netns %s: adapter %s %s%s\n", ns->id,
				     nic->conf.id, nic->ifname, nic->moved ? "" : " (not moved)");
			if (w < 0 || (size_t)w >= len - n)
				return;
			n += (size_t)w;
		}
	}
}
