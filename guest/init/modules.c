/* Loading the initrd's kernel modules in the order initrd/build.sh resolved. */
#include "modules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

static int load_one(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* The initrd holds uncompressed .ko files: no MODULE_INIT_COMPRESSED_FILE needed. */
	if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int modules_load(const char *list, struct modules_result *ret)
{
	_cleanup_fclose_ FILE *f = fopen(list, "re");
	struct modules_result r = { 0 };
	char line[4096];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		int rc;

		p[strcspn(p, "\r\n")] = '\0';
		if (p[0] == '\0' || p[0] == '#')
			continue;
		r.total++;
		rc = load_one(p);
		if (rc == -ENODEV) {
			/*
			 * A driver for hardware we lack, e.g. crc32c-intel on a CPU without
			 * SSE4.2 (QEMU's default qemu64): the generic module serves instead.
			 */
			log_msg("module %s skipped: no device for it", p);
			r.skipped++;
		} else if (rc < 0) {
			log_msg("module %s failed: %s", p, strerror(-rc));
			r.failed++;
		} else {
			r.loaded++;
		}
	}
	*ret = r;
	return 0;
}
