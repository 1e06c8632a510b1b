/* `lcow image import`: an image tarball into ext4 layer disks and an OCI bundle. */
#include "image.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
	"Usage: lcow image import [--quiet] <image.tar> <dir>\n"
	"\n"
	"Converts an OCI image layout tarball or a `docker save` tarball (plain, gzip or zstd;\n"
	"layers the same) into one ext4 disk per layer and a bundle for `lcow create`:\n"
	"  <dir>/layers/<n>-<digest>/layer.vhd  raw ext4 of layer n (1 = the base)\n"
	"  <dir>/scratch/                       for the scratch disk, created at run time\n"
	"  <dir>/config.json                    runtime spec from the image config;\n"
	"                                       windows.layerFolders lists the layers from the\n"
	"                                       top-most to the base, then the scratch\n"
	"Whiteouts become overlay whiteouts (char device 0/0, trusted.overlay.opaque=y).\n"
	"<dir> must be absent or empty. Needs root and mkfs.ext4; gzip and zstd as the layers ask.\n"
	"\n"
	"Options:\n"
	"  -q, --quiet  no progress lines on stderr\n"
	"  -h, --help   show this help\n";

static void progress(void *user, const char *line)
{
	(void)user;
	fprintf(stderr, "%s\n", line);
}

static int import_main(int argc, char **argv)
{
	const char *pos[2];
	struct gcs_error err = { 0 };
	bool quiet = false, opts = true;
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && strcmp(a, "--") == 0) {
			opts = false;
		} else if (opts && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			fputs(usage, stdout);
			return 0;
		} else if (opts && (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)) {
			quiet = true;
		} else if (opts && a[0] == '-' && a[1]) {
			fprintf(stderr, "lcow: image import: unknown option %s (see --help)\n", a);
			return 1;
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			fprintf(stderr, "lcow: image import: too many arguments (see --help)\n");
			return 1;
		}
	}
	if (npos != 2) {
		fprintf(stderr, "lcow: image import: expected <image.tar> <dir> (see --help)\n");
		return 1;
	}
	if (lcow_image_import(pos[0], pos[1], quiet ? NULL : progress, NULL, &err) < 0) {
		fprintf(stderr, "lcow: image import: %s\n", err.message);
		return 1;
	}
	return 0;
}

int cmd_image(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return import_main(argc - 1, argv + 1);
	/* also callable as the import itself (argv[0] "import") */
	if (argc >= 1 && strcmp(argv[0], "import") == 0)
		return import_main(argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc < 2)
		fprintf(stderr, "lcow: image: expected a subcommand: import (see --help)\n");
	else
		fprintf(stderr, "lcow: image: unknown subcommand %s (see --help)\n", argv[1]);
	return 1;
}
