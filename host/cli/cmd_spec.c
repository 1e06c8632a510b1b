/* `lcow spec`: a starter config.json, the one runc spec writes. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] spec [--bundle DIR]\n"
	"\n"
	"Writes a starter config.json into the bundle directory (default: the current one), the\n"
	"same file, byte for byte, as `runc spec` of runc 1.1.5 writes: process.args [\"sh\"] with a\n"
	"terminal, root.path \"rootfs\" read-only, runc's default mounts, namespaces, capabilities,\n"
	"masked and read-only paths. It is not made different for lcow on purpose: lcow runs such a\n"
	"bundle as it is (root.path, an unpacked root filesystem next to config.json, becomes the\n"
	"container's ext4 layer image), and a spec made for runc stays one for runc. For layer\n"
	"folders (windows.layerFolders, read-only layers and a scratch) see `lcow image import`.\n"
	"An existing config.json is never overwritten.\n"
	"\n"
	"runc's --rootless is not offered: the UVM's agent runs containers as root inside the UVM,\n"
	"where a user namespace mapped to your host uid would mean nothing.\n"
	"\n"
	"Options:\n"
	"  -b, --bundle DIR  the bundle directory (it must exist)\n"
	"  -h, --help        show this help\n";

/* runc 1.1.5's `runc spec` output (Go's json.MarshalIndent with tabs, no final newline). */
static const char default_spec[] =
	"{\n"
	"\t\"ociVersion\": \"1.0.2-dev\",\n"
	"\t\"process\": {\n"
	"\t\t\"terminal\": true,\n"
	"\t\t\"user\": {\n"
	"\t\t\t\"uid\": 0,\n"
	"\t\t\t\"gid\": 0\n"
	"\t\t},\n"
	"\t\t\"args\": [\n"
	"\t\t\t\"sh\"\n"
	"\t\t],\n"
	"\t\t\"env\": [\n"
	"\t\t\t\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
	"\t\t\t\"TERM=xterm\"\n"
	"\t\t],\n"
	"\t\t\"cwd\": \"/\",\n"
	"\t\t\"capabilities\": {\n"
	"\t\t\t\"bounding\": [\n"
	"\t\t\t\t\"CAP_AUDIT_WRITE\",\n"
	"\t\t\t\t\"CAP_KILL\",\n"
	"\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n"
	"\t\t\t],\n"
	"\t\t\t\"effective\": [\n"
	"\t\t\t\t\"CAP_AUDIT_WRITE\",\n"
	"\t\t\t\t\"CAP_KILL\",\n"
	"\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n"
	"\t\t\t],\n"
	"\t\t\t\"permitted\": [\n"
	"\t\t\t\t\"CAP_AUDIT_WRITE\",\n"
	"\t\t\t\t\"CAP_KILL\",\n"
	"\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n"
	"\t\t\t],\n"
	"\t\t\t\"ambient\": [\n"
	"\t\t\t\t\"CAP_AUDIT_WRITE\",\n"
	"\t\t\t\t\"CAP_KILL\",\n"
	"\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n"
	"\t\t\t]\n"
	"\t\t},\n"
	"\t\t\"rlimits\": [\n"
	"\t\t\t{\n"
	"\t\t\t\t\"type\": \"RLIMIT_NOFILE\",\n"
	"\t\t\t\t\"hard\": 1024,\n"
	"\t\t\t\t\"soft\": 1024\n"
	"\t\t\t}\n"
	"\t\t],\n"
	"\t\t\"noNewPrivileges\": true\n"
	"\t},\n"
	"\t\"root\": {\n"
	"\t\t\"path\": \"rootfs\",\n"
	"\t\t\"readonly\": true\n"
	"\t},\n"
	"\t\"hostname\": \"runc\",\n"
	"\t\"mounts\": [\n"
	"\t\t{\n"
	"\t\t\t\"destination\": \"/proc\",\n"
	"\t\t\t\"type\": \"proc\",\n"
	"\t\t\t\"source\": \"proc\"\n"
	"\t\t},\n"
	"\t\t{\n"
	"\t\t\t\"destination\": \"/dev\",\n"
	"\t\t\t\"type\": \"tmpfs\",\n"
	"\t\t\t\"source\": \"tmpfs\",\n"
	"\t\t\t\"options\": [\n"
	"\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"strictatime\",\n"
	"\t\t\t\t\"mode=755\",\n"
	"\t\t\t\t\"size=65536k\"\n"
	"\t\t\t]\n"
	"\t\t},\n"
	"\t\t{\n"
	"\t\t\t\"destination\": \"/dev/pts\",\n"
	"\t\t\t\"type\": \"devpts\",\n"
	"\t\t\t\"source\": \"devpts\",\n"
	"\t\t\t\"options\": [\n"
	"\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n"
	"\t\t\t\t\"newinstance\",\n"
	"\t\t\t\t\"ptmxmode=0666\",\n"
	"\t\t\t\t\"mode=0620\",\n"
	"\t\t\t\t\"gid=5\"\n"
	"\t\t\t]\n"
	"\t\t},\n"
	"\t\t{\n"
	"\t\t\t\"destination\": \"/dev/shm\",\n"
	"\t\t\t\"type\": \"tmpfs\",\n"
	"\t\t\t\"source\": \"shm\",\n"
	"\t\t\t\"options\": [\n"
	"\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n"
	"\t\t\t\t\"nodev\",\n"
	"\t\t\t\t\"mode=1777\",\n"
	"\t\t\t\t\"size=65536k\"\n"
	"\t\t\t]\n"
	"\t\t},\n"
	"\t\t{\n"
	"\t\t\t\"destination\": \"/dev/mqueue\",\n"
	"\t\t\t\"type\": \"mqueue\",\n"
	"\t\t\t\"source\": \"mqueue\",\n"
	"\t\t\t\"options\": [\n"
	"\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n"
	"\t\t\t\t\"nodev\"\n"
	"\t\t\t]\n"
	"\t\t},\n"
	"\t\t{\n"
	"\t\t\t\"destination\": \"/sys\",\n"
	"\t\t\t\"type\": \"sysfs\",\n"
	"\t\t\t\"source\": \"sysfs\",\n"
	"\t\t\t\"options\": [\n"
	"\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n"
	"\t\t\t\t\"nodev\",\n"
	"\t\t\t\t\"ro\"\n"
	"\t\t\t]\n"
	"\t\t},\n"
	"\t\t{\n"
	"\t\t\t\"destination\": \"/sys/fs/cgroup\",\n"
	"\t\t\t\"type\": \"cgroup\",\n"
	"\t\t\t\"source\": \"cgroup\",\n"
	"\t\t\t\"options\": [\n"
	"\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n"
	"\t\t\t\t\"nodev\",\n"
	"\t\t\t\t\"relatime\",\n"
	"\t\t\t\t\"ro\"\n"
	"\t\t\t]\n"
	"\t\t}\n"
	"\t],\n"
	"\t\"linux\": {\n"
	"\t\t\"resources\": {\n"
	"\t\t\t\"devices\": [\n"
	"\t\t\t\t{\n"
	"\t\t\t\t\t\"allow\": false,\n"
	"\t\t\t\t\t\"access\": \"rwm\"\n"
	"\t\t\t\t}\n"
	"\t\t\t]\n"
	"\t\t},\n"
	"\t\t\"namespaces\": [\n"
	"\t\t\t{\n"
	"\t\t\t\t\"type\": \"pid\"\n"
	"\t\t\t},\n"
	"\t\t\t{\n"
	"\t\t\t\t\"type\": \"network\"\n"
	"\t\t\t},\n"
	"\t\t\t{\n"
	"\t\t\t\t\"type\": \"ipc\"\n"
	"\t\t\t},\n"
	"\t\t\t{\n"
	"\t\t\t\t\"type\": \"uts\"\n"
	"\t\t\t},\n"
	"\t\t\t{\n"
	"\t\t\t\t\"type\": \"mount\"\n"
	"\t\t\t}\n"
	"\t\t],\n"
	"\t\t\"maskedPaths\": [\n"
	"\t\t\t\"/proc/acpi\",\n"
	"\t\t\t\"/proc/asound\",\n"
	"\t\t\t\"/proc/kcore\",\n"
	"\t\t\t\"/proc/keys\",\n"
	"\t\t\t\"/proc/latency_stats\",\n"
	"\t\t\t\"/proc/timer_list\",\n"
	"\t\t\t\"/proc/timer_stats\",\n"
	"\t\t\t\"/proc/sched_debug\",\n"
	"\t\t\t\"/sys/firmware\",\n"
	"\t\t\t\"/proc/scsi\"\n"
	"\t\t],\n"
	"\t\t\"readonlyPaths\": [\n"
	"\t\t\t\"/proc/bus\",\n"
	"\t\t\t\"/proc/fs\",\n"
	"\t\t\t\"/proc/irq\",\n"
	"\t\t\t\"/proc/sys\",\n"
	"\t\t\t\"/proc/sysrq-trigger\"\n"
	"\t\t]\n"
	"\t}\n"
	"}";

enum { OPT_ROOTLESS = 0x100 };

int cmd_spec(int argc, char **argv)
{
	static const struct option options[] = { { "bundle", required_argument, NULL, 'b' },
						 { "rootless", no_argument, NULL, OPT_ROOTLESS },
						 { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	_cleanup_close_ int dir = -1;
	_cleanup_close_ int fd = -1;
	const char *bundle = ".";
	size_t len = sizeof(default_spec) - 1, off = 0;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "b:h", options, NULL)) != -1) {
		switch (c) {
		case 'b':
			bundle = optarg;
			break;
		case OPT_ROOTLESS:
			return usage_error("spec",
					   "--rootless is not supported: the UVM's agent runs "
					   "containers as root inside the UVM, where a user "
					   "namespace mapped to a host uid means nothing");
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return usage_error("spec", "unknown option");
		}
	}
	if (optind != argc)
		return usage_error("spec", "\"spec\" takes no arguments");
	dir = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return fail("bundle %s: %m", bundle);
	/* O_EXCL: neither a file nor a symlink (dangling or not) named config.json is replaced. */
	fd = openat(dir, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 && errno == EEXIST)
		return fail("File config.json exists. Remove it first");
	if (fd < 0)
		return fail("%s/config.json: %m", bundle);
	while (off < len) {
		ssize_t n = write(fd, default_spec + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < len || close(TAKE_FD(fd)) < 0) {
		int rc = fail("write %s/config.json: %m", bundle);
		unlinkat(dir, "config.json", 0); /* no half a spec */
		return rc;
	}
	return 0;
}
