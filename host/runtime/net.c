/*
 * The runtime's side of a container's network (the CLI's network.h describes the choices, lcow/net.h for
 * the wiring of a host namespace). Per container with a network: a NamespaceID and an adapter
 * ID (GUIDs made here), one NIC and one Network Add before the container's Create, as
 * hcsshim's shim adds an endpoint's adapter before it creates the container:
 *
 *   user, QEMU:     a -netdev user NIC (its hostfwd rules from --publish), the adapter
 *                   10.0.2.15/24 via 10.0.2.2, DNS 10.0.2.3
 *   ns:PATH, QEMU:  a tap in PATH joined to its veth; the NIC and the adapter get the veth's MAC,
 *                   addresses and routes
 *   ns:PATH, process mode: a veth pair from PATH into the agent's network namespace, the peer
 *                   with the veth's MAC, where the agent finds it as it finds a VM's NIC
 *
 * The QEMU UVM started for a container gets its NIC at boot (dnet_boot; microvm has no
 * hot-plug); a pod's UVM boots with room for more (q35), and later containers' NICs are
 * hot-added. The host side's record is <ctr dir>/net.json, written before anything is made,
 * so that `lcow delete` undoes it after a crash (network.h, net_sweep).
 */
#include "rt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <lcow/net.h>
#include <lcow/uvm.h>

#include "nl.h"

struct dnet {
	char for_id[132]; /* the container */
	char network[PATH_MAX + 4]; /* as asked: "user" or "ns:PATH" */
	bool user;
	char ns_id[37], adapter_id[37];
	struct lcow_net_info info; /* what the adapter gets */
	/* QEMU: the NIC */
	struct vm_nic nic;
	bool nic_added; /* the VM has it (at boot, or hot-added) */
	bool hot; /* hot-added: hot-removed again */
	char hostfwd[LCOW_RT_MAX_PUBLISH][96];
	const char *fwd[LCOW_RT_MAX_PUBLISH];
	/* the host side: a tap or a veth pair, and its record */
	char record[PATH_MAX];
	bool wired;
	bool added; /* Network Add answered */
};

static struct dnet *dnet_new(const char *id, const char *network)
{
	struct dnet *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	snprintf(n->for_id, sizeof(n->for_id), "%s", id);
	snprintf(n->network, sizeof(n->network), "%s", network);
	n->user = !strcmp(network, "user");
	n->nic.tap_fd = -1;
	lcow_net_guid(n->ns_id);
	lcow_net_guid(n->adapter_id);
	/* the NIC's id and lcow's link names: the adapter's first 8 hex digits */
	snprintf(n->nic.id, sizeof(n->nic.id), "net-%.8s", n->adapter_id);
	return n;
}

void dnet_free(struct dnet *n)
{
	if (!n)
		return;
	if (n->nic.tap_fd >= 0)
		close(n->nic.tap_fd);
	free(n);
}

/* The host namespace's path of an ns:PATH network. */
static const char *netns_of(const struct dnet *n)
{
	return n->user ? NULL : n->network + 3;
}

static int set_publish(struct dnet *n, json_t *publish, struct gcs_error *err)
{
	json_t *v;
	size_t i;

	json_array_foreach(publish, i, v) {
		const char *s = json_string_value(v);
		if (!s || i >= LCOW_RT_MAX_PUBLISH || strlen(s) >= sizeof(n->hostfwd[0]))
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "bad publish list");
		snprintf(n->hostfwd[i], sizeof(n->hostfwd[i]), "%s", s);
		n->fwd[i] = n->hostfwd[i];
		n->nic.n_hostfwd = i + 1;
	}
	n->nic.hostfwd = n->fwd;
	return 0;
}

/* QEMU's user network as the adapter sees it; the MAC is QEMU's prefix and random bytes. */
static void user_info(struct lcow_net_info *info)
{
	uint8_t r[3] = { 0 };

	memset(info, 0, sizeof(*info));
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		r[2] = (uint8_t)getpid();
	info->mac[0] = 0x52;
	info->mac[1] = 0x54;
	info->mac[2] = 0x00;
	memcpy(info->mac + 3, r, 3);
	snprintf(info->veth, sizeof(info->veth), "slirp");
	snprintf(info->addrs[0].ip, sizeof(info->addrs[0].ip), "%s", LCOW_USERNET_GUEST);
	info->addrs[0].prefix_len = LCOW_USERNET_PREFIX;
	info->n_addrs = 1;
	snprintf(info->routes[0].dst, sizeof(info->routes[0].dst), "0.0.0.0/0");
	snprintf(info->routes[0].gw, sizeof(info->routes[0].gw), "%s", LCOW_USERNET_GATEWAY);
	info->n_routes = 1;
	snprintf(info->dns_servers, sizeof(info->dns_servers), "%s", LCOW_USERNET_DNS);
}

/*
 * The host side and the NIC's backend: nothing for user (QEMU's stack is the NIC's), else the
 * namespace read and wired (a tap for QEMU, a veth pair into the agent's namespace).
 */
static int host_side(struct lcow_rt *d, struct dnet *n, const char *ctr_dir, json_t *publish,
		     struct gcs_error *err)
{
	struct lcow_net_wire_options o = { .netns = netns_of(n), .info = &n->info };
	char link[LCOW_NET_IFNAMSIZ], peer[LCOW_NET_IFNAMSIZ], agent_ns[64];
	int rc;

	if (n->user) {
		user_info(&n->info);
		memcpy(n->nic.mac, n->info.mac, 6);
		return set_publish(n, publish, err);
	}
	if (json_array_size(publish))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "--publish needs --network user, not %s", n->network);
	rc = lcow_net_inspect(o.netns, &n->info, err);
	if (rc < 0)
		return rc;
	memcpy(n->nic.mac, n->info.mac, 6);
	if (pathf(n->record, sizeof(n->record), "%s/net.json", ctr_dir) < 0)
		return gcs_error_set(err, -ENAMETOOLONG, HR_FAIL, "%s: too long", ctr_dir);
	o.record = n->record;
	if (d->mode == LCOW_RT_QEMU) {
		snprintf(link, sizeof(link), "lcowt%.8s", n->adapter_id);
		o.kind = LCOW_NET_TAP;
		o.link = link;
		rc = lcow_net_wire(&o, &n->nic.tap_fd, err);
		n->nic.tap = true;
	} else {
		snprintf(link, sizeof(link), "lcowv%.8s", n->adapter_id);
		snprintf(peer, sizeof(peer), "lcowp%.8s", n->adapter_id);
		rc = vm_agent_netns(&d->vm, agent_ns, sizeof(agent_ns));
		if (rc < 0)
			return gcs_error_set(err, rc, HR_FAIL, "the agent's network namespace: %s",
					     strerror(-rc));
		o.kind = LCOW_NET_VETH;
		o.link = link;
		o.peer = peer;
		o.peer_netns = agent_ns;
		rc = lcow_net_wire(&o, &n->nic.tap_fd, err);
	}
	if (rc < 0)
		return rc;
	n->wired = true;
	rt_info("container %s: %s wired (%s <-> %s)", n->for_id, o.netns, n->info.veth, link);
	return 0;
}

/* Everything n made, undone in reverse (failures are logged), and n freed. */
static void discard(struct lcow_rt *d, struct dnet *n)
{
	struct gcs_error err = { 0 };

	if (n->added && !vm_broken(&d->vm) &&
	    gcs_remove_network_adapter(vm_bridge(&d->vm), n->ns_id, n->adapter_id, &err) < 0)
		rt_warning("container %s: Network Remove: %s", n->for_id, err.message);
	gcs_error_clear(&err);
	if (n->nic_added && n->hot && vm_remove_nic(&d->vm, n->nic.id, &err) < 0)
		rt_warning("container %s: remove NIC %s: %s", n->for_id, n->nic.id, err.message);
	gcs_error_clear(&err);
	if (n->wired && lcow_net_unwire(n->record, &err) < 0)
		rt_warning("container %s: %s", n->for_id, err.message);
	dnet_free(n);
}

/* The guest spec: the adapter's namespace, and a network namespace entry without a host path. */
static void spec_network(json_t *spec, const char *ns_id)
{
	json_t *lnx = json_object_get(spec, "linux"), *nss, *v, *found = NULL;
	size_t i;

	if (ns_id)
		json_object_set_new(spec, "windows",
				    json_pack("{s:{s:s}}", "network", "networkNamespace", ns_id));
	if (!json_is_object(lnx)) {
		if (!ns_id)
			return;
		lnx = json_object();
		json_object_set_new(spec, "linux", lnx);
	}
	nss = json_object_get(lnx, "namespaces");
	json_array_foreach(nss, i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		if (t && !strcmp(t, "network"))
			found = v;
	}
	/* the host's path means nothing in the UVM: the agent puts its namespace's there */
	if (found)
		json_object_del(found, "path");
	else if (ns_id) {
		if (!json_is_array(nss)) {
			nss = json_array();
			json_object_set_new(lnx, "namespaces", nss);
		}
		json_array_append_new(nss, json_pack("{s:s}", "type", "network"));
	}
}

/* The boot NIC, when it was made for this container and this network. */
static struct dnet *take_boot(struct lcow_rt *d, const char *id, const char *network)
{
	struct dnet *n = NULL;

	pthread_mutex_lock(&d->lock);
	if (d->boot_net && !strcmp(d->boot_net->for_id, id) &&
	    !strcmp(d->boot_net->network, network))
		n = TAKE_PTR(d->boot_net);
	pthread_mutex_unlock(&d->lock);
	return n;
}

int dnet_setup(struct lcow_rt *d, struct lcow_rt_ctr *x, const char *network, json_t *publish,
	       struct gcs_error *err)
{
	struct lcow_net_adapter ad;
	struct dnet *n;
	int rc;

	if (!network || !strcmp(network, "none")) {
		if (json_array_size(publish))
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "--publish needs --network user");
		spec_network(x->spec, NULL);
		return 0;
	}
	if (strcmp(network, "user") != 0 && strncmp(network, "ns:/", 4) != 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "unknown network '%s'", network);
	if (!strcmp(network, "user") && d->mode != LCOW_RT_QEMU)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "--network user is QEMU's user-mode network stack, and the "
				     "process-mode UVM %s has no VM to give it",
				     d->uvm_id);
	n = take_boot(d, x->id, network);
	if (!n) {
		n = dnet_new(x->id, network);
		if (!n)
			return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
		rc = host_side(d, n, x->dir, publish, err);
		if (rc == 0 && d->mode == LCOW_RT_QEMU) {
			if (!d->pod)
				rc = gcs_error_set(
					err, -EOPNOTSUPP, HR_NOTIMPL,
					"UVM %s was started without room to hot-add NICs (only "
					"pods are: create --uvm)",
					d->uvm_id);
			else
				rc = vm_add_nic(&d->vm, &n->nic, err);
			if (rc == 0)
				n->nic_added = n->hot = true;
		}
		if (rc < 0) {
			discard(d, n);
			return gcs_error_prefix(err, rc, "network %s", network);
		}
	}
	lcow_net_adapter(&n->info, n->ns_id, n->adapter_id, &ad);
	rc = gcs_add_network_adapter(vm_bridge(&d->vm), &ad.a, err);
	if (rc < 0) {
		discard(d, n);
		return gcs_error_prefix(err, rc, "Network Add (%s)", network);
	}
	n->added = true;
	spec_network(x->spec, n->ns_id);
	pthread_mutex_lock(&d->lock);
	x->net = n;
	pthread_mutex_unlock(&d->lock);
	rt_info("container %s: network %s, adapter %s in namespace %s (%s)", x->id, network,
		n->adapter_id, n->ns_id, ad.mac);
	return 0;
}

/* Takes *slot (under d->lock) and undoes it; vm_gone: its NIC went with the VM. */
static void drop(struct lcow_rt *d, struct dnet **slot, bool vm_gone)
{
	struct dnet *n;

	pthread_mutex_lock(&d->lock);
	n = TAKE_PTR(*slot);
	pthread_mutex_unlock(&d->lock);
	if (!n)
		return;
	if (vm_gone)
		n->nic_added = false;
	discard(d, n);
}

void dnet_teardown(struct lcow_rt *d, struct lcow_rt_ctr *x)
{
	drop(d, &x->net, false);
}

/* The addresses as ADDR/LEN and the published ports, for state and daemon.json. */
static json_t *addresses(const struct dnet *n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n->info.n_addrs; i++)
		json_array_append_new(
			a, json_sprintf("%s/%u", n->info.addrs[i].ip, n->info.addrs[i].prefix_len));
	return a;
}

static json_t *published(const struct dnet *n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n->nic.n_hostfwd; i++)
		json_array_append_new(a, json_string(n->hostfwd[i]));
	return a;
}

/* Under d->lock. */
void dnet_describe(struct lcow_rt_ctr *x, json_t *j)
{
	struct dnet *n = x->net;
	json_t *net;
	char mac[18];

	if (!n)
		return;
	nlh_mac_str(n->info.mac, mac, sizeof(mac));
	net = json_pack("{s:s, s:s, s:o, s:s}", "mode", n->user ? "user" : "ns", "mac", mac,
			"addresses", addresses(n), "namespace_id", n->ns_id);
	if (!net)
		return;
	if (n->user)
		json_object_set_new(net, "publish", published(n));
	else
		json_object_set_new(net, "netns", json_string(netns_of(n)));
	json_object_set_new(j, "network", net);
}

json_t *dnet_snapshot(struct lcow_rt_ctr *x)
{
	struct dnet *n = x->net;
	char mac[18];

	if (!n)
		return NULL;
	nlh_mac_str(n->info.mac, mac, sizeof(mac));
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:s, s:s, s:o, s:o}", "network",
			 n->network, "namespace_id", n->ns_id, "adapter_id", n->adapter_id, "nic",
			 n->nic.id, "nic_added", n->nic_added, "hot", n->hot, "added", n->added,
			 "wired", n->wired, "record", n->record, "mac", mac, "addresses",
			 addresses(n), "publish", published(n));
}

static void copy_str(char *buf, size_t len, json_t *j, const char *key)
{
	snprintf(buf, len, "%s", json_string_value(json_object_get(j, key)) ?: "");
}

void dnet_adopt(struct lcow_rt_ctr *x, json_t *j)
{
	const char *network = json_string_value(json_object_get(j, "network"));
	const char *mac = json_string_value(json_object_get(j, "mac"));
	struct gcs_error err = { 0 };
	struct dnet *n;
	json_t *v;
	size_t i;

	if (!network || !(n = dnet_new(x->id, network)))
		return;
	copy_str(n->ns_id, sizeof(n->ns_id), j, "namespace_id");
	copy_str(n->adapter_id, sizeof(n->adapter_id), j, "adapter_id");
	copy_str(n->nic.id, sizeof(n->nic.id), j, "nic");
	copy_str(n->record, sizeof(n->record), j, "record");
	n->nic_added = json_is_true(json_object_get(j, "nic_added"));
	n->hot = json_is_true(json_object_get(j, "hot"));
	n->added = json_is_true(json_object_get(j, "added"));
	n->wired = json_is_true(json_object_get(j, "wired")) && n->record[0];
	if (mac)
		nlh_mac_parse(mac, n->info.mac);
	json_array_foreach(json_object_get(j, "addresses"), i, v) {
		struct lcow_net_addr *a = &n->info.addrs[n->info.n_addrs];
		struct nlh_ip ip;
		if (n->info.n_addrs >= LCOW_NET_MAX_ADDRS ||
		    nlh_prefix_parse(json_string_value(v) ?: "", &ip, &a->prefix_len) < 0)
			continue;
		nlh_ip_str(&ip, a->ip, sizeof(a->ip));
		n->info.n_addrs++;
	}
	if (set_publish(n, json_object_get(j, "publish"), &err) < 0)
		rt_warning("container %s: %s", x->id, err.message);
	x->net = n;
}

int dnet_boot(struct lcow_rt *d, const struct vm_nic **ret_nic, struct gcs_error *err)
{
	json_t *f = d->first_net;
	const char *id = json_string_value(json_object_get(f, "id"));
	const char *dir = json_string_value(json_object_get(f, "dir"));
	const char *network = json_string_value(json_object_get(f, "network"));
	struct dnet *n;
	int rc;

	*ret_nic = NULL;
	if (d->mode != LCOW_RT_QEMU || !network || !strcmp(network, "none"))
		return 0;
	if (!id || !dir || (strcmp(network, "user") != 0 && strncmp(network, "ns:/", 4) != 0))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "--first-net: malformed");
	n = dnet_new(id, network);
	if (!n)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	rc = host_side(d, n, dir, json_object_get(f, "publish"), err);
	if (rc < 0) {
		discard(d, n);
		return gcs_error_prefix(err, rc, "network %s", network);
	}
	/* a pod's UVM can hot-remove it again (q35); a microvm's goes with the VM */
	n->nic_added = true;
	n->hot = d->pod;
	pthread_mutex_lock(&d->lock);
	d->boot_net = n;
	pthread_mutex_unlock(&d->lock);
	*ret_nic = &n->nic;
	return 0;
}

void dnet_boot_discard(struct lcow_rt *d)
{
	drop(d, &d->boot_net, true);
}
