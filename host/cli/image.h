/*
 * Image import: container image tarballs (OCI image layout or `docker save`) into one raw ext4
 * disk per layer plus an OCI bundle, the job hcsshim's tar2ext4 and runhcs's layer folders do
 * for LCOW on Windows.
 *
 * Output of lcow_image_import(tarball, outdir):
 *   <outdir>/layers/<n>-<12 hex of the digest>/layer.vhd
 *           raw ext4 (no VHD footer), n = 1 for the base layer, counting up
 *   <outdir>/scratch/       empty folder for the writable scratch disk (the CLI creates the disk)
 *   <outdir>/config.json    OCI runtime spec from the image config
 *
 * windows.layerFolders in config.json follows runhcs/hcsshim: the read-only layers from the
 * top-most (the base's last descendant, closest to the scratch) down to the base, then the
 * scratch folder LAST. It is the order of overlay's lowerdir and of libgcs's
 * gcs_combine_layers() (layers[0] is the top-most). root.path is absent: the CLI puts the
 * guest's combined-layers path there.
 *
 * Layer tars become overlay lower dirs: a `.wh.<name>` whiteout becomes a character device 0/0
 * named <name>, `.wh..wh..opq` gives its directory trusted.overlay.opaque=y (kernel
 * Documentation/filesystems/overlayfs.rst; tar2ext4's ConvertWhiteout does the same).
 *
 * Needs root (device nodes, owners, trusted.* xattrs). Functions never print; long work reports
 * through the progress callback.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <gcs/hresult.h>
#include <jansson.h>
#include <lcow/layers.h>

/*
 * Converts an OCI image layout tarball (oci-layout, index.json -> manifest -> config + layers)
 * or a `docker save` tarball (manifest.json with Config and Layers) into the layout above.
 * The tarball and each layer may be plain, gzip or zstd (detected by magic). outdir must be
 * absent or an empty directory; on failure everything written under it is removed again.
 * progress (may be NULL) gets one line per layer ("layer 2/5 sha256:0123456789ab 12.3 MiB")
 * and notes, without a newline.
 */
int lcow_image_import(const char *tarball, const char *outdir,
		      void (*progress)(void *user, const char *line), void *user,
		      struct gcs_error *err);

/* `lcow image import [--quiet] <image.tar> <dir>`; argv[0] is "image". Returns the exit code. */
int cmd_image(int argc, char **argv);

/* ---- internals shared by image_*.c and tests/unit/test_cli_image.c ---- */

/* A byte source: a region [off, end) of a file read with pread, or a pipe read to EOF. */
struct image_src {
	int fd;
	bool is_pipe;
	uint64_t off, end;
};

/* Reads up to n bytes, fewer only at the end of the source. Returns the count or -errno. */
ssize_t image_src_read(struct image_src *s, void *buf, size_t n);

enum image_compression {
	IMAGE_PLAIN,
	IMAGE_GZIP,
	IMAGE_ZSTD,
	IMAGE_XZ, /* detected to name it in the error; not supported */
	IMAGE_BZIP2,
};

/* The compression of a stream from its first bytes. */
enum image_compression image_detect(const unsigned char *head, size_t n);
const char *image_compression_name(enum image_compression c);

/*
 * A decompressor child (gzip -dc, zstd -dc) fed with a region of a file by a second child;
 * the parent reads the plain bytes from out.
 */
struct image_decomp {
	pid_t feeder, proc;
	int errfd; /* the decompressor's stderr (non-blocking) */
	struct image_src out;
	const char *name;
};

int image_decomp_start(int fd, uint64_t off, uint64_t len, enum image_compression c,
		       struct image_decomp *ret, struct gcs_error *err);
/*
 * Drains and reaps both children (kills them first when !ok). Returns 0 when both succeeded,
 * else -EIO with the decompressor's message in err.
 */
int image_decomp_finish(struct image_decomp *d, bool ok, struct gcs_error *err);

/* Decompresses the whole of in_fd into out_fd (a file). */
int image_decompress_file(int in_fd, int out_fd, enum image_compression c, struct gcs_error *err);

/* ---- tar ---- */

struct tar_xattr {
	char *name;
	char *value;
	size_t len;
};

/* One archive member with ustar, GNU (L/K, base-256) and PAX (x) extensions applied. */
struct tar_entry {
	char type; /* '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo */
	char *path;
	char *link; /* hard link target or symlink text */
	uint64_t size; /* data bytes (0 for header-only types) */
	uint64_t data_off; /* offset of the data from the start of the source */
	uint32_t mode; /* permission bits, 07777 */
	uint32_t uid, gid;
	uint32_t devmajor, devminor;
	struct timespec mtime, atime;
	struct tar_xattr *xattrs;
	size_t n_xattrs;
};

struct tar_reader {
	struct image_src *src;
	uint64_t pos; /* bytes consumed from src */
	uint64_t left, pad; /* data bytes of the current entry still unread, and their padding */
	struct tar_entry e;
};

void tar_reader_init(struct tar_reader *r, struct image_src *src);
void tar_reader_free(struct tar_reader *r);
/* Moves to the next member: 1 with r->e filled, 0 at the end of the archive, or -errno. */
int tar_next(struct tar_reader *r, struct gcs_error *err);
/* Reads the current member's data: up to n bytes, 0 at its end, or -errno. */
ssize_t tar_read(struct tar_reader *r, void *buf, size_t n);

/* ---- layer extraction ---- */

/*
 * Normalizes an archive path into a relative one ("a/b", "" for the root): "." components and
 * repeated or trailing slashes go; an absolute path or a ".." component is an error.
 */
int image_clean_path(const char *in, char *out, size_t len, struct gcs_error *err);

/*
 * Extracts one layer tar into the directory rootfd (as root): files, dirs, hard links,
 * symlinks, device nodes and fifos with modes, owners, xattrs and times, whiteouts in overlay
 * form. Every path is walked from rootfd one component at a time without following symlinks,
 * so no entry can land outside it.
 */
int image_extract_layer(struct tar_reader *r, int rootfd, struct gcs_error *err);

/* Removes name under dirfd, recursively, without following symlinks. Missing is fine. */
int image_rm_tree(int dirfd, const char *name);

/* ---- runtime spec ---- */

/* The files of the image that user names resolve against (NULL when absent). */
struct image_userdb {
	char *passwd;
	char *group;
};

/*
 * The OCI runtime spec for an image config (the image's JSON: {"config": {...}, ...}):
 * process from Entrypoint/Cmd/Env/WorkingDir/User, default mounts and namespaces, and
 * windows.layerFolders = folders[0..n) as given (top-most layer first, scratch last). A
 * note (may be NULL) receives remarks such as "no Entrypoint or Cmd".
 */
int image_build_spec(const json_t *image_config, const struct image_userdb *db,
		     const char *const *folders, size_t n,
		     void (*note)(void *user, const char *line), void *user, json_t **ret_spec,
		     struct gcs_error *err);
