/*
 * virtio-net NICs of the QEMU utility VM: checking what the caller gives, the -netdev/-device
 * arguments of boot-time NICs, and hot-plug on q35 through QMP (getfd, netdev_add, device_add;
 * device_del, DEVICE_DELETED, netdev_del). A hot-added NIC goes on a free PCIe root port: q35's
 * pcie.0 takes no hot-plugged devices. Which ports are free is asked from QEMU (query-pci), so
 * an adopted VM needs no record of its NICs.
 */
#include "uvm_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cleanup.h"

#define PORT_PREFIX "lcowp"
#define NIC_ID_MAX 32
#define FDNAME_PREFIX "lcowfd-"
#define QMP_TIMEOUT_MS 10000
/* The guest lets go of an unplugged PCI device in a second or two under TCG. */
#define UNPLUG_TIMEOUT_MS 30000

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Device ids the launcher gives its own devices: scsi<N>, vpm<N>, hd<C>_<L>, lcow*. */
static bool id_reserved(const char *id)
{
	const char *us;

	if (!strncmp(id, "lcow", 4))
		return true;
	if (!strncmp(id, "scsi", 4) && all_digits(id + 4))
		return true;
	if (!strncmp(id, "vpm", 3) && all_digits(id + 3))
		return true;
	if (!strncmp(id, "hd", 2) && (us = strchr(id, '_'))) {
		char c[NIC_ID_MAX];
		snprintf(c, sizeof(c), "%.*s", (int)(us - id - 2), id + 2);
		return all_digits(c) && all_digits(us + 1);
	}
	return false;
}

/* QEMU's ids begin with a letter; ours then take letters, digits, '_' and '-'. */
static int check_id(const char *id, struct gcs_error *err)
{
	size_t len;

	if (!id || !*id)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "a NIC needs an id");
	len = strlen(id);
	if (len >= NIC_ID_MAX)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "NIC id %.40s...: longer than %d characters", id,
				     NIC_ID_MAX - 1);
	if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z')))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "NIC id \"%s\": must begin with a letter", id);
	for (const char *c = id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "NIC id \"%s\": '%c' is not one of [a-zA-Z0-9_-]", id,
					     *c);
	if (id_reserved(id))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "NIC id \"%s\": taken by the launcher's own devices", id);
	return 0;
}

/* An IPv4 address in dotted form, or nothing (QEMU's default for that side). */
static bool addr_ok(const char *s, size_t len)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in;

	if (len == 0)
		return true;
	if (len >= sizeof(a))
		return false;
	memcpy(a, s, len);
	a[len] = '\0';
	return inet_pton(AF_INET, a, &in) == 1;
}

static bool port_ok(const char *s, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/*
 * QEMU's hostfwd form and nothing else: [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT,
 * IPv4 addresses, ports 1-65535. Parsed in full, so no ',' or '=' reaches QEMU's option parser.
 */
static bool hostfwd_ok(const char *s)
{
	const char *host, *colon, *dash, *guest, *gcolon;

	if (!strncmp(s, "tcp:", 4) || !strncmp(s, "udp:", 4))
		s += 4;
	else if (*s == ':')
		s++;
	else
		return false;
	host = s;
	colon = strchr(host, ':');
	if (!colon || !addr_ok(host, (size_t)(colon - host)))
		return false;
	dash = strchr(colon + 1, '-');
	if (!dash || !port_ok(colon + 1, (size_t)(dash - colon - 1)))
		return false;
	guest = dash + 1;
	gcolon = strchr(guest, ':');
	return gcolon && addr_ok(guest, (size_t)(gcolon - guest)) &&
	       port_ok(gcolon + 1, strlen(gcolon + 1));
}

/* An attached tap device (TUNGETIFF works on the fd) without packet information. */
static int check_tap(const struct lcow_uvm_nic *n, struct gcs_error *err)
{
	struct ifreq ifr = { 0 };

	if (n->tap_fd < 0 || fcntl(n->tap_fd, F_GETFD) < 0)
		return gcs_error_set(err, -EBADF, HR_INVALIDARG, "NIC %s: tap_fd %d is not open",
				     n->id, n->tap_fd);
	if (ioctl(n->tap_fd, TUNGETIFF, &ifr) < 0)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "NIC %s: tap_fd %d is not an attached tap device: %s", n->id,
				     n->tap_fd, strerror(errno));
	if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_NO_PI))
		return gcs_error_set(
			err, -EINVAL, HR_INVALIDARG,
			"NIC %s: %s is not a tap with IFF_NO_PI (QEMU reads bare frames)", n->id,
			ifr.ifr_name);
	return 0;
}

static int check_nic(const struct lcow_uvm_nic *n, struct gcs_error *err)
{
	static const uint8_t zero[6] = { 0 };
	int rc = check_id(n->id, err);

	if (rc < 0)
		return rc;
	if ((n->mac[0] & 1) || !memcmp(n->mac, zero, sizeof(zero)))
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
				     "NIC %s: the MAC must be a unicast address, not zero", n->id);
	switch (n->backend) {
	case LCOW_NIC_USER:
		if (n->n_hostfwd && !n->hostfwd)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "NIC %s: n_hostfwd without hostfwd", n->id);
		for (size_t i = 0; i < n->n_hostfwd; i++)
			if (!n->hostfwd[i] || !hostfwd_ok(n->hostfwd[i]))
				return gcs_error_set(
					err, -EINVAL, HR_INVALIDARG,
					"NIC %s: hostfwd \"%s\" is not "
					"[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT",
					n->id, n->hostfwd[i] ? n->hostfwd[i] : "(null)");
		return 0;
	case LCOW_NIC_TAP:
		if (n->n_hostfwd)
			return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
					     "NIC %s: hostfwd is for user-mode NICs, not taps",
					     n->id);
		return check_tap(n, err);
	}
	return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "NIC %s: unknown backend %d", n->id,
			     (int)n->backend);
}

int uvm_nics_check(const struct lcow_uvm_nic *nics, size_t n, struct gcs_error *err)
{
	if (n && !nics)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "n_nics without nics");
	if (n > UVM_MAX_NICS)
		return gcs_error_set(err, -EINVAL, HR_INVALIDARG, "%zu NICs: at most %d at boot", n,
				     UVM_MAX_NICS);
	for (size_t i = 0; i < n; i++) {
		int rc = check_nic(&nics[i], err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(nics[i].id, nics[j].id))
				return gcs_error_set(err, -EINVAL, HR_INVALIDARG,
						     "two NICs have the id %s", nics[i].id);
	}
	return 0;
}

static const char *mac_str(const uint8_t m[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

/* The user-mode network's addresses, spelled out so that they are the header's. */
static const char *usernet_net(char buf[32])
{
	struct in_addr a;

	inet_pton(AF_INET, LCOW_USERNET_GUEST, &a);
	a.s_addr &= htonl(~0u << (32 - LCOW_USERNET_PREFIX));
	inet_ntop(AF_INET, &a, buf, 32);
	snprintf(buf + strlen(buf), 32 - strlen(buf), "/%d", LCOW_USERNET_PREFIX);
	return buf;
}

static int append(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= len - *off)
		return -E2BIG;
	*off += (size_t)w;
	return 0;
}

int uvm_nic_netdev_arg(const struct lcow_uvm_nic *n, int fd_num, char *buf, size_t len)
{
	char net[32];
	size_t off = 0;
	int rc;

	if (n->backend == LCOW_NIC_TAP)
		return append(buf, len, &off, "tap,id=%s,fd=%d", n->id, fd_num);
	rc = append(buf, len, &off, "user,id=%s,net=%s,host=%s,dns=%s,dhcpstart=%s", n->id,
		    usernet_net(net), LCOW_USERNET_GATEWAY, LCOW_USERNET_DNS, LCOW_USERNET_GUEST);
	for (size_t i = 0; rc == 0 && i < n->n_hostfwd; i++)
		rc = append(buf, len, &off, ",hostfwd=%s", n->hostfwd[i]);
	return rc;
}

void uvm_port_id(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, PORT_PREFIX "%zu", i);
}

int uvm_nic_device_arg(const struct lcow_uvm_nic *n, bool pci, int port, char *buf, size_t len)
{
	char mac[18], bus[32] = "";
	size_t off = 0;

	if (port >= 0) {
		memcpy(bus, ",bus=", 5);
		uvm_port_id((size_t)port, bus + 5, sizeof(bus) - 5);
	}
	/* romfile=: no iPXE option ROM to load (nothing boots from the network). */
	return append(buf, len, &off, "%s,netdev=%s,id=%s,mac=%s%s%s",
		      pci ? "virtio-net-pci" : "virtio-net-device", n->id, n->id,
		      mac_str(n->mac, mac), pci ? ",romfile=" : "", bus);
}

int uvm_probe_machine(struct lcow_uvm *u, char *errbuf, size_t errlen)
{
	json_t *type = NULL;
	int rc = uvm_qmp(
		u,
		"{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine\",\"property\":\"type\"}}",
		-1, &type, errbuf, errlen);

	if (rc < 0)
		return rc;
	u->q35 = json_is_string(type) && strstr(json_string_value(type), "q35");
	json_decref(type);
	return 0;
}

/*
 * The first of our root ports with nothing below it: -EOPNOTSUPP when the VM has no root ports
 * of ours, -ENOSPC when all are taken. Called under u->qmp_lock.
 */
static int free_port(struct lcow_uvm *u, char *ret_id, size_t len, char *errbuf, size_t errlen)
{
	json_t *buses = NULL, *bus, *d;
	size_t i, j;
	bool any = false;
	int rc = qmp_call(&u->qmp, "{\"execute\":\"query-pci\"}", -1, QMP_TIMEOUT_MS, &buses,
			  errbuf, errlen);

	if (rc < 0)
		return rc;
	rc = -ENOSPC;
	json_array_foreach(buses, i, bus) {
		json_array_foreach(json_object_get(bus, "devices"), j, d) {
			const char *q = json_string_value(json_object_get(d, "qdev_id"));
			json_t *below =
				json_object_get(json_object_get(d, "pci_bridge"), "devices");
			if (!q || strncmp(q, PORT_PREFIX, strlen(PORT_PREFIX)))
				continue;
			any = true;
			if (json_array_size(below) == 0) {
				snprintf(ret_id, len, "%s", q);
				rc = 0;
				break;
			}
		}
		if (rc == 0)
			break;
	}
	json_decref(buses);
	return any ? rc : -EOPNOTSUPP;
}

/* One command built with json_pack's format, under the lock already held. */
static int call_locked(struct lcow_uvm *u, int fd, char *errbuf, size_t errlen, json_t *cmd)
{
	_cleanup_free_ char *text = NULL;

	if (!cmd) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	text = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	if (!text) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	return qmp_call(&u->qmp, text, fd, QMP_TIMEOUT_MS, NULL, errbuf, errlen);
}

/* netdev_add of the NIC's backend; a tap's fd goes over first with getfd. */
static int netdev_add(struct lcow_uvm *u, const struct lcow_uvm_nic *n, char *errbuf, size_t errlen)
{
	char fdname[64], net[32];
	json_t *cmd, *fwd;
	int rc;

	if (n->backend == LCOW_NIC_TAP) {
		snprintf(fdname, sizeof(fdname), FDNAME_PREFIX "%s", n->id);
		rc = call_locked(u, n->tap_fd, errbuf, errlen,
				 json_pack("{s:s, s:{s:s}}", "execute", "getfd", "arguments",
					   "fdname", fdname));
		if (rc < 0)
			return rc;
		rc = call_locked(u, -1, errbuf, errlen,
				 json_pack("{s:s, s:{s:s, s:s, s:s}}", "execute", "netdev_add",
					   "arguments", "type", "tap", "id", n->id, "fd", fdname));
		if (rc < 0) {
			char ignored[64];
			/* QEMU keeps a named fd that no netdev took. */
			call_locked(u, -1, ignored, sizeof(ignored),
				    json_pack("{s:s, s:{s:s}}", "execute", "closefd", "arguments",
					      "fdname", fdname));
		}
		return rc;
	}
	cmd = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "execute", "netdev_add",
			"arguments", "type", "user", "id", n->id, "net", usernet_net(net), "host",
			LCOW_USERNET_GATEWAY, "dns", LCOW_USERNET_DNS, "dhcpstart",
			LCOW_USERNET_GUEST);
	if (cmd && n->n_hostfwd) {
		/* QAPI's ['String']: [{"str": "tcp::8080-:80"}, ...] */
		fwd = json_array();
		for (size_t i = 0; i < n->n_hostfwd; i++)
			json_array_append_new(fwd, json_pack("{s:s}", "str", n->hostfwd[i]));
		json_object_set_new(json_object_get(cmd, "arguments"), "hostfwd", fwd);
	}
	return call_locked(u, -1, errbuf, errlen, cmd);
}

static int netdev_del(struct lcow_uvm *u, const char *id, char *errbuf, size_t errlen)
{
	return call_locked(
		u, -1, errbuf, errlen,
		json_pack("{s:s, s:{s:s}}", "execute", "netdev_del", "arguments", "id", id));
}

static int add_locked(struct lcow_uvm *u, const struct lcow_uvm_nic *n, struct gcs_error *err)
{
	char port[32], mac[18], errbuf[256];
	int rc;

	if (!u->qmp_open)
		return gcs_error_set(err, -ENOTCONN, HR_FAIL, "add NIC %s: no QMP connection",
				     n->id);
	rc = free_port(u, port, sizeof(port), errbuf, sizeof(errbuf));
	if (rc == -EOPNOTSUPP)
		return gcs_error_set(err, rc, HR_NOTIMPL,
				     "add NIC %s: the VM has no hot-plug ports (start it with "
				     "hotplug, or give the NIC at boot)",
				     n->id);
	if (rc == -ENOSPC)
		return gcs_error_set(err, rc, HR_FAIL,
				     "add NIC %s: every hot-plug port of the VM is taken", n->id);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "add NIC %s: %s", n->id, errbuf);
	rc = netdev_add(u, n, errbuf, sizeof(errbuf));
	if (rc < 0)
		return gcs_error_set(err, strstr(errbuf, "Duplicate") ? -EEXIST : rc, HR_FAIL,
				     "add NIC %s: netdev_add: %s", n->id, errbuf);
	rc = call_locked(u, -1, errbuf, sizeof(errbuf),
			 json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "execute",
				   "device_add", "arguments", "driver", "virtio-net-pci", "id",
				   n->id, "netdev", n->id, "mac", mac_str(n->mac, mac), "bus", port,
				   "romfile", ""));
	if (rc < 0) {
		char ignored[256];
		netdev_del(u, n->id, ignored, sizeof(ignored));
		return gcs_error_set(err, strstr(errbuf, "Duplicate") ? -EEXIST : rc, HR_FAIL,
				     "add NIC %s: device_add: %s", n->id, errbuf);
	}
	return 0;
}

int lcow_uvm_add_nic(struct lcow_uvm *u, const struct lcow_uvm_nic *n, struct gcs_error *err)
{
	int rc = check_nic(n, err);

	if (rc < 0)
		return rc;
	if (!u->q35)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "add NIC %s: microvm has no hot-plug: give NICs at boot on "
				     "microvm",
				     n->id);
	pthread_mutex_lock(&u->qmp_lock);
	rc = add_locked(u, n, err);
	pthread_mutex_unlock(&u->qmp_lock);
	return rc;
}

static int remove_locked(struct lcow_uvm *u, const char *id, struct gcs_error *err)
{
	char errbuf[256];
	int rc;

	if (!u->qmp_open)
		return gcs_error_set(err, -ENOTCONN, HR_FAIL, "remove NIC %s: no QMP connection",
				     id);
	rc = call_locked(
		u, -1, errbuf, sizeof(errbuf),
		json_pack("{s:s, s:{s:s}}", "execute", "device_del", "arguments", "id", id));
	/* QEMU 7.2 says "Device 'x' not found" as a GenericError, later ones as DeviceNotFound. */
	if (rc == -EREMOTEIO && strstr(errbuf, "not found"))
		rc = -ENOENT;
	if (rc < 0)
		return gcs_error_set(err, rc, rc == -ENOENT ? HR_NOT_FOUND : HR_FAIL,
				     "remove NIC %s: device_del: %s", id, errbuf);
	/* The backend stays in use until the guest has let go of the device. */
	rc = qmp_wait_deleted(&u->qmp, id, UNPLUG_TIMEOUT_MS);
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "remove NIC %s: no DEVICE_DELETED: %s", id,
				     strerror(-rc));
	rc = netdev_del(u, id, errbuf, sizeof(errbuf));
	if (rc < 0)
		return gcs_error_set(err, rc, HR_FAIL, "remove NIC %s: netdev_del: %s", id, errbuf);
	return 0;
}

int lcow_uvm_remove_nic(struct lcow_uvm *u, const char *id, struct gcs_error *err)
{
	int rc = check_id(id, err);

	if (rc < 0)
		return rc;
	if (!u->q35)
		return gcs_error_set(err, -EOPNOTSUPP, HR_NOTIMPL,
				     "remove NIC %s: microvm has no hot-plug", id);
	pthread_mutex_lock(&u->qmp_lock);
	rc = remove_locked(u, id, err);
	pthread_mutex_unlock(&u->qmp_lock);
	return rc;
}
