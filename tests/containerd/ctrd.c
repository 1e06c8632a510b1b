/* The containerd suites' harness (see ctrd.h). */
#include "ctrd.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const shared_dirs[] = { "/run/containerd/s", "/run/containerd/fifo" };

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	ck_assert_msg(f != NULL, "%s: %m", path);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void list_shared(char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(shared_dirs) / sizeof(shared_dirs[0]); i++) {
		DIR *dd = opendir(shared_dirs[i]);
		struct dirent *e;
		while (dd && (e = readdir(dd))) {
			if (e->d_name[0] == '.')
				continue;
			v = realloc(v, (n + 1) * sizeof(*v));
			ck_assert_ptr_nonnull(v);
			ck_assert_int_ge(asprintf(&v[n++], "%s/%s", shared_dirs[i], e->d_name), 0);
		}
		if (dd)
			closedir(dd);
	}
	*ret = v;
	*ret_n = n;
}

/* Starts containerd on d's config and waits until `ctr version` answers. */
static void spawn_containerd(struct ctrd *d)
{
	char p[256], env_path[1024], env_root[128], out[512];
	long long deadline;
	pid_t pid;

	snprintf(p, sizeof(p), "%s/config.toml", d->dir);
	snprintf(env_path, sizeof(env_path),
		 "PATH=%s%s/usr/local/sbin:/usr/local/bin:/usr/sbin:"
		 "/usr/bin:/sbin:/bin",
		 d->path_dir, d->path_dir[0] ? ":" : "");
	/* lcow's shim keeps its UVMs, layer cache and scratch disks in the temp dir */
	snprintf(env_root, sizeof(env_root), "LCOW_SHIM_ROOT=%s/shim", d->dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char log[256];
		int fd;
		snprintf(log, sizeof(log), "%s/containerd.log", d->dir);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		setsid();
		putenv(env_path);
		putenv(env_root);
		/* process mode unless the suite asks for QEMU */
		setenv("LCOW_UVM_MODE", "process", 0);
		execlp("containerd", "containerd", "--config", p, (char *)NULL);
		_exit(127);
	}
	d->pid = pid;
	deadline = now_ms() + 20000;
	for (;;) {
		int st = ctrd_ctr(d, NULL, out, sizeof(out), 5000,
				  (const char *const[]){ "version", NULL });
		if (st == 0)
			break;
		ck_assert_msg(now_ms() < deadline && waitpid(pid, NULL, WNOHANG) == 0,
			      "containerd did not come up (see %s/containerd.log): %s", d->dir,
			      out);
		usleep(50 * 1000);
	}
}

static void stop_containerd(struct ctrd *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 100 && waitpid(d->pid, NULL, WNOHANG) == 0; i++)
		usleep(50 * 1000);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

/* The command line of pid with its NULs as spaces; -1 when it cannot be read (or is empty). */
static int cmdline_of(pid_t pid, char *cmd, size_t len)
{
	char path[64];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = read(fd, cmd, len - 1);
	close(fd);
	if (r <= 0)
		return -1;
	for (ssize_t i = 0; i < r; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	cmd[r] = '\0';
	return 0;
}

/*
 * A test that a failed assertion ends leaves its containerd behind: each test's temp dir and
 * namespace are listed in a file of the suite's (the parent's), and ctrd_run_suite sweeps what
 * is left of them at the end (processes naming the dir, mounts, loop devices, our FIFOs).
 */
static char started_list[64];

static void list_started(struct ctrd *d)
{
	FILE *f;

	if (!started_list[0])
		return;
	f = fopen(started_list, "ae");
	if (f) {
		fprintf(f, "%s %s\n", d->dir, d->ns);
		fclose(f);
	}
}

/* Kills every process whose command line names dir; their number. */
static int kill_naming(const char *dir)
{
	DIR *p = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (p && (e = readdir(p))) {
		char cmd[8192];
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid <= 0 || pid == getpid())
			continue;
		if (cmdline_of(pid, cmd, sizeof(cmd)) < 0)
			continue;
		if (strstr(cmd, dir) && kill(pid, SIGKILL) == 0)
			n++;
	}
	if (p)
		closedir(p);
	return n;
}

static void sweep_started(void)
{
	char dir[128], ns[64];
	FILE *f = fopen(started_list, "re");

	while (f && fscanf(f, "%127s %63s", dir, ns) == 2) {
		if (access(dir, F_OK) != 0)
			continue;
		fprintf(stderr, "ctrd: cleaning what a failed test left in %s\n", dir);
		for (int i = 0; i < 5 && kill_naming(dir) > 0; i++)
			usleep(200 * 1000);
		sh("grep -o ' %s/[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l "
		   "2>/dev/null; for f in /sys/block/loop*/loop/backing_file; do "
		   "if grep -q '^%s/' \"$f\" 2>/dev/null; then l=${f#/sys/block/}; "
		   "losetup -d /dev/${l%%%%/*}; fi; done; "
		   "for d in /run/containerd/fifo/*; do ls \"$d\" 2>/dev/null | grep -q '^%s' && "
		   "rm -rf \"$d\"; done; rm -rf '/run/containerd/runc/%s' '%s'; true",
		   dir, dir, ns, ns, dir);
	}
	if (f)
		fclose(f);
	unlink(started_list);
}

void ctrd_start(struct ctrd *d, const char *path_dir)
{
	char p[256], conf[1024];

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/lcow-ctrd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
	snprintf(d->sock, sizeof(d->sock), "%s/c.sock", d->dir);
	snprintf(d->ns, sizeof(d->ns), "lcowtest%d", (int)getpid());
	snprintf(d->path_dir, sizeof(d->path_dir), "%s", path_dir ? path_dir : "");
	list_shared(&d->before, &d->n_before);
	snprintf(conf, sizeof(conf),
		 "version = 2\nroot = \"%s/root\"\nstate = \"%s/state\"\n"
		 "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
		 "[grpc]\n  address = \"%s\"\n[ttrpc]\n  address = \"%s.ttrpc\"\n"
		 "[debug]\n  level = \"debug\"\n",
		 d->dir, d->dir, d->sock, d->sock);
	snprintf(p, sizeof(p), "%s/config.toml", d->dir);
	write_text(p, conf);
	list_started(d);
	spawn_containerd(d);
}

void ctrd_restart(struct ctrd *d)
{
	stop_containerd(d);
	spawn_containerd(d);
}

void ctrd_import_busybox(struct ctrd *d)
{
	char out[2048];
	int rc;

	/* one layer (busybox and its applet links), its config, manifest and index */
	rc = sh("set -e; cd '%s'; mkdir -p img/rootfs/bin img/rootfs/etc img/rootfs/tmp "
		"img/blobs/sha256; cp /bin/busybox img/rootfs/bin/; "
		"for a in sh echo cat sleep ls true false ps kill env id; do "
		"ln -s busybox img/rootfs/bin/$a; done; "
		"echo 'root:x:0:0:root:/:/bin/sh' > img/rootfs/etc/passwd; "
		"tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C img/rootfs "
		"-cf img/layer.tar .; "
		"L=$(sha256sum img/layer.tar | cut -d' ' -f1); "
		"mv img/layer.tar img/blobs/sha256/$L; LS=$(stat -c %%s img/blobs/sha256/$L); "
		"printf '{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":"
		"[\"/bin/sh\"],\"Env\":[\"PATH=/bin\"]},\"rootfs\":{\"type\":\"layers\","
		"\"diff_ids\":[\"sha256:%%s\"]}}' $L > img/config.json; "
		"C=$(sha256sum img/config.json | cut -d' ' -f1); CS=$(stat -c %%s img/config.json); "
		"mv img/config.json img/blobs/sha256/$C; "
		"printf '{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest."
		"v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"sha256:%%s\",\"size\":%%s},\"layers\":[{\"mediaType\":"
		"\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%%s\","
		"\"size\":%%s}]}' $C $CS $L $LS > img/manifest.json; "
		"M=$(sha256sum img/manifest.json | cut -d' ' -f1); MS=$(stat -c %%s img/manifest.json); "
		"mv img/manifest.json img/blobs/sha256/$M; "
		"printf '{\"imageLayoutVersion\":\"1.0.0\"}' > img/oci-layout; "
		"printf '{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci."
		"image.manifest.v1+json\",\"digest\":\"sha256:%%s\",\"size\":%%s,\"annotations\":"
		"{\"io.containerd.image.name\":\"%s\",\"org.opencontainers.image.ref.name\":"
		"\"test\"}}]}' $M $MS > img/index.json; "
		"tar -C img -cf busybox.tar oci-layout index.json blobs; rm -rf img",
		d->dir, CTRD_IMAGE);
	ck_assert_msg(rc == 0, "building the busybox image failed (%d)", rc);
	char tarball[128];
	snprintf(tarball, sizeof(tarball), "%s/busybox.tar", d->dir);
	rc = ctrd_ctr(d, NULL, out, sizeof(out), 60000,
		      (const char *const[]){ "images", "import", tarball, NULL });
	ck_assert_msg(rc == 0, "ctr images import: %d %s", rc, out);
}

int ctrd_ctr(struct ctrd *d, const char *in, char *out, size_t len, int timeout_ms,
	     const char *const *args)
{
	const char *argv[64];
	int po[2], pi[2], st = 0;
	size_t n = 0, got = 0;
	long long deadline = now_ms() + timeout_ms;
	bool timed_out = false;
	pid_t pid;

	argv[n++] = "ctr";
	argv[n++] = "--address";
	argv[n++] = d->sock;
	argv[n++] = "--namespace";
	argv[n++] = d->ns;
	for (size_t i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(po, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pi, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pi[0], 0);
		dup2(po[1], 1);
		dup2(po[1], 2);
		execvp("ctr", (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pi[0]);
	if (in && write(pi[1], in, strlen(in)) < 0)
		(void)0;
	close(pi[1]);
	if (out && len)
		out[0] = '\0';
	for (;;) {
		struct pollfd pfd = { .fd = po[0], .events = POLLIN };
		long long left = deadline - now_ms();
		char buf[4096];
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		r = read(po[0], buf, sizeof(buf));
		if (r <= 0)
			break;
		if (out && got + 1 < len) {
			size_t k = (size_t)r < len - 1 - got ? (size_t)r : len - 1 - got;
			memcpy(out + got, buf, k);
			got += k;
			out[got] = '\0';
		}
	}
	close(po[0]);
	waitpid(pid, &st, 0);
	if (timed_out)
		return 124;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Pids of the processes whose command line names this containerd's socket. */
static int shim_pids(struct ctrd *d, pid_t *pids, int max)
{
	DIR *p = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (p && (e = readdir(p))) {
		char cmd[4096];
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid <= 0 || pid == d->pid)
			continue;
		if (cmdline_of(pid, cmd, sizeof(cmd)) < 0)
			continue;
		if (strstr(cmd, d->sock) && strstr(cmd, "containerd-shim") && n < max)
			pids[n++] = pid;
	}
	if (p)
		closedir(p);
	return n;
}

void ctrd_ctr_ok(struct ctrd *d, const char *const *args)
{
	char out[4096];
	int rc = ctrd_ctr(d, NULL, out, sizeof(out), 120000, args);

	ck_assert_msg(rc == 0, "ctr %s %s: %d %s", args[0], args[1], rc, out);
}

void ctrd_delete_killed(struct ctrd *d, const char *id)
{
	char out[4096];
	int rc = -1;

	for (int i = 0; i < 200; i++) {
		rc = ctrd_ctr(d, NULL, out, sizeof(out), 120000,
			      (const char *const[]){ "task", "delete", id, NULL });
		if (rc == 0 || !strstr(out, "running"))
			break;
		usleep(50 * 1000);
	}
	ck_assert_msg(rc == 0 && strstr(out, "exit code 137"), "task delete %s: %d %s", id, rc,
		      out);
}

int ctrd_procs(struct ctrd *d, const char *prog, pid_t *pids, int max)
{
	DIR *p = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (p && (e = readdir(p))) {
		char cmd[8192];
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid <= 0 || pid == d->pid || pid == getpid())
			continue;
		if (cmdline_of(pid, cmd, sizeof(cmd)) < 0)
			continue;
		if (!strstr(cmd, d->dir) || strstr(cmd, "containerd-shim") ||
		    strstr(cmd, "ctr --address"))
			continue;
		if (prog) {
			const char *base = strrchr(strtok(cmd, " "), '/');

			if (strcmp(base ? base + 1 : cmd, prog) != 0)
				continue;
		}
		if (n < max)
			pids[n] = pid;
		n++;
	}
	if (p)
		closedir(p);
	return n;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	p = strrchr(buf, ')');
	return p ? (pid_t)atoi(p + 4) : 0; /* ") S ppid" */
}

int ctrd_shim_pids(struct ctrd *d, pid_t *ret, int max)
{
	pid_t pids[64];
	int n = shim_pids(d, pids, 64), k = 0;

	/* a shim's own children with its command line (lcow's process-mode UVM holder) */
	for (int i = 0; i < n; i++) {
		pid_t pp = parent_of(pids[i]);
		bool child = false;

		for (int j = 0; j < n; j++)
			child |= pids[j] == pp;
		if (!child && k < max)
			ret[k++] = pids[i];
	}
	return k;
}

int ctrd_shims(struct ctrd *d)
{
	pid_t pids[64];

	return ctrd_shim_pids(d, pids, 64);
}

void ctrd_expect_no_shims(struct ctrd *d)
{
	for (int i = 0; i < 100 && ctrd_shims(d) > 0; i++)
		usleep(50 * 1000);
	ck_assert_int_eq(ctrd_shims(d), 0);
}

int ctrd_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	snprintf(started_list, sizeof(started_list), "/tmp/lcow-ctrd-started.%d", (int)getpid());
	unlink(started_list);
	srunner_run_all(sr, CK_NORMAL);
	sweep_started();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

static bool fifo_is_ours(struct ctrd *d, const char *path)
{
	DIR *dd;
	struct dirent *e;
	bool ours = false;

	if (strncmp(path, "/run/containerd/fifo/", 21) != 0 || !(dd = opendir(path)))
		return false;
	while ((e = readdir(dd)))
		ours |= !strncmp(e->d_name, d->ns, strlen(d->ns));
	closedir(dd);
	return ours;
}

static bool socket_is_dead(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strncmp(path, "/run/containerd/s/", 18) != 0 || lstat(path, &st) < 0 ||
	    !S_ISSOCK(st.st_mode) || strlen(path) >= sizeof(sa.sun_path))
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return rc < 0 && errno == ECONNREFUSED;
}

static bool was_there(struct ctrd *d, const char *path)
{
	for (size_t i = 0; i < d->n_before; i++)
		if (!strcmp(d->before[i], path))
			return true;
	return false;
}

void ctrd_stop(struct ctrd *d)
{
	char **now = NULL, report[2048] = "";
	size_t n_now = 0, rl = 0;
	pid_t pids[64];
	int n, left, uvm_left, loops;

	stop_containerd(d);
	/* shims outlive containerd by design: a test that leaves one is a failure, after cleanup */
	left = n = shim_pids(d, pids, 64);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < 100 && shim_pids(d, pids, 64) > 0; i++)
		usleep(50 * 1000);
	/* what lcow's UVMs run (the agent, QEMU, the vsock device) names the temp dir */
	uvm_left = n = ctrd_procs(d, NULL, pids, 64);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < 100 && ctrd_procs(d, NULL, pids, 64) > 0; i++)
		usleep(50 * 1000);
	loops = sh("n=0; for f in /sys/block/loop*/loop/backing_file; do "
		   "if grep -q '^%s/' \"$f\" 2>/dev/null; then l=${f#/sys/block/}; "
		   "losetup -d /dev/${l%%%%/*}; n=$((n+1)); fi; done; exit $n",
		   d->dir);
	sh("grep -o ' %s/[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l "
	   "2>/dev/null",
	   d->dir);
	/*
	 * Of what appeared in the shared directories meanwhile, only what is provably ours goes:
	 * a FIFO directory holding a file of one of the test's IDs (all begin with its namespace
	 * name), and a shim socket nobody listens on any more.
	 */
	list_shared(&now, &n_now);
	for (size_t i = 0; i < n_now; i++) {
		if (!was_there(d, now[i]) && (fifo_is_ours(d, now[i]) || socket_is_dead(now[i]))) {
			sh("rm -rf '%s'", now[i]);
			if (rl < sizeof(report))
				rl += (size_t)snprintf(report + rl, sizeof(report) - rl, "%s ",
						       now[i]);
		}
		free(now[i]);
	}
	free(now);
	for (size_t i = 0; i < d->n_before; i++)
		free(d->before[i]);
	free(d->before);
	d->before = NULL;
	sh("rm -rf '/run/containerd/runc/%s'", d->ns);
	/* runc's shim puts containers under /<namespace>/<id> and leaves the namespace's level */
	sh("for c in /sys/fs/cgroup/*/%s /sys/fs/cgroup/%s; do [ -d \"$c\" ] && rmdir \"$c\"; "
	   "done; true",
	   d->ns, d->ns);
	ck_assert_msg(sh("ls -d /sys/fs/cgroup/*/%s /sys/fs/cgroup/%s >/dev/null 2>&1", d->ns,
			 d->ns) != 0,
		      "cgroups of namespace %s left", d->ns);
	ck_assert_int_eq(sh("rm -rf '%s'", d->dir), 0);
	ck_assert_msg(left == 0, "%d shim processes were still running", left);
	ck_assert_msg(uvm_left == 0, "%d UVM processes (agent, QEMU, vsock) were still running",
		      uvm_left);
	ck_assert_msg(loops == 0, "%d loop devices of the temp dir were left", loops);
	ck_assert_msg(rl == 0, "left in /run/containerd: %s", report);
}
