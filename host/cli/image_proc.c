/*
 * Byte sources and helper processes of the image import: regions of a file, decompressors
 * (gzip, zstd as programs, fed by a child that copies a file region into their stdin) and
 * mkfs-style commands whose output becomes the error message.
 */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "run.h"

extern char **environ;

ssize_t image_src_read(struct image_src *s, void *buf, size_t n)
{
	size_t done = 0;

	if (!s->is_pipe && n > s->end - s->off)
		n = s->end - s->off;
	while (done < n) {
		ssize_t r;

		if (s->is_pipe)
			r = read(s->fd, (char *)buf + done, n - done);
		else
			r = pread(s->fd, (char *)buf + done, n - done, (off_t)s->off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
		if (!s->is_pipe)
			s->off += (uint64_t)r;
	}
	return (ssize_t)done;
}

enum image_compression image_detect(const unsigned char *h, size_t n)
{
	if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b)
		return IMAGE_GZIP;
	if (n >= 4 && h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd)
		return IMAGE_ZSTD;
	if (n >= 6 && memcmp(h,
			     "\xfd"
			     "7zXZ\0",
			     6) == 0)
		return IMAGE_XZ;
	if (n >= 3 && memcmp(h, "BZh", 3) == 0)
		return IMAGE_BZIP2;
	return IMAGE_PLAIN;
}

const char *image_compression_name(enum image_compression c)
{
	switch (c) {
	case IMAGE_PLAIN:
		return "plain";
	case IMAGE_GZIP:
		return "gzip";
	case IMAGE_ZSTD:
		return "zstd";
	case IMAGE_XZ:
		return "xz";
	case IMAGE_BZIP2:
		return "bzip2";
	}
	return "unknown";
}

static const char *const *decomp_argv(enum image_compression c)
{
	static const char *const gz[] = { "gzip", "-dc", NULL };
	/* --long=31: accept frames with windows up to 2 GiB, as zstd --long writers produce */
	static const char *const zst[] = { "zstd", "-dcq", "--long=31", NULL };

	switch (c) {
	case IMAGE_GZIP:
		return gz;
	case IMAGE_ZSTD:
		return zst;
	default:
		return NULL;
	}
}

/* The feeder: copies [off, off + len) of fd into the pipe, then exits. Runs after fork. */
static void feed(int fd, uint64_t off, uint64_t len, int wr)
{
	static char buf[65536];

	signal(SIGPIPE, SIG_DFL);
	while (len > 0) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t r = pread(fd, buf, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(1);
		for (ssize_t w = 0; w < r;) {
			ssize_t k = write(wr, buf + w, (size_t)(r - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				_exit(1);
			w += k;
		}
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	_exit(0);
}

int image_decomp_start(int fd, uint64_t off, uint64_t len, enum image_compression c,
		       struct image_decomp *ret, struct gcs_error *err)
{
	const char *const *argv = decomp_argv(c);
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, ep[2] = { -1, -1 };
	pid_t proc, feeder;
	int r;

	if (!argv)
		return gcs_error_set(err, -ENOTSUP, HR_NOTIMPL,
				     "%s compression is not supported (gzip, zstd or plain)",
				     image_compression_name(c));
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	r = run_spawn(argv, in[0], out[1], ep[1], &proc);
	if (r < 0) {
		gcs_error_set(err, r, HR_FAIL, "start %s: %s", argv[0], strerror(-r));
		goto fail;
	}
	close(TAKE_FD(in[0]));
	close(TAKE_FD(out[1]));
	close(TAKE_FD(ep[1]));
	feeder = fork();
	if (feeder < 0) {
		r = -errno;
		kill(proc, SIGKILL);
		run_reap(proc);
		goto fail;
	}
	if (feeder == 0) {
		close(out[0]);
		close(ep[0]);
		feed(fd, off, len, in[1]);
	}
	close(in[1]);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	*ret = (struct image_decomp){
		.feeder = feeder,
		.proc = proc,
		.errfd = ep[0],
		.out = { .fd = out[0], .is_pipe = true },
		.name = argv[0],
	};
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		closep(&in[i]);
		closep(&out[i]);
		closep(&ep[i]);
	}
	if (err && err->hresult == HR_OK)
		gcs_error_set(err, r, HR_FAIL, "decompressor: %s", strerror(-r));
	return r;
}

int image_decomp_finish(struct image_decomp *d, bool ok, struct gcs_error *err)
{
	char msg[256] = "";
	int proc_st, feed_st;

	if (ok) {
		char buf[65536];

		/* the tar trailer may leave padding in the stream: drain it so the child ends */
		while (image_src_read(&d->out, buf, sizeof(buf)) > 0)
			;
	}
	/* closed early, the decompressor dies of SIGPIPE at its next write, the feeder next */
	close(d->out.fd);
	proc_st = run_reap(d->proc);
	kill(d->feeder, SIGKILL);
	feed_st = run_reap(d->feeder);
	run_slurp(d->errfd, msg, sizeof(msg));
	close(d->errfd);
	d->out.fd = d->errfd = -1;

	if (proc_st != 0 && proc_st != 128 + SIGPIPE && proc_st != 128 + SIGKILL)
		/* the decompressor's reason beats "unexpected end of archive" */
		return gcs_error_set(err, -EIO, HR_FAIL, "%s: exit status %d%s%s", d->name, proc_st,
				     msg[0] ? ": " : "", msg);
	if (!ok)
		return 0;
	if (proc_st != 0)
		return gcs_error_set(err, -EIO, HR_FAIL, "%s: killed by signal %d", d->name,
				     proc_st - 128);
	if (feed_st != 0 && feed_st != 128 + SIGKILL)
		return gcs_error_set(err, -EIO, HR_FAIL, "reading the compressed blob failed");
	return 0;
}

int image_decompress_file(int in_fd, int out_fd, enum image_compression c, struct gcs_error *err)
{
	const char *const *argv = decomp_argv(c);
	char msg[256];
	int r;

	if (!argv)
		return gcs_error_set(err, -ENOTSUP, HR_NOTIMPL,
				     "%s compression is not supported (gzip, zstd or plain)",
				     image_compression_name(c));
	if (lseek(in_fd, 0, SEEK_SET) < 0)
		return gcs_error_set(err, -errno, HR_FAIL, "seek: %s", strerror(errno));
	r = run_capture(argv, in_fd, out_fd, msg, sizeof(msg));
	if (r < 0)
		return gcs_error_set(err, r, HR_FAIL, "start %s: %s", argv[0], strerror(-r));
	if (r != 0)
		return gcs_error_set(err, -EIO, HR_FAIL, "%s: exit status %d%s%s", argv[0], r,
				     msg[0] ? ": " : "", msg);
	return 0;
}
