#include "address.h"

#include <sha2.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"

#define SANDBOX_ID_ANNOTATION "io.kubernetes.cri.sandbox-id"

int address_group(const char *bundle, const char *id, char **ret_group)
{
	_cleanup_free_ char *path = NULL;
	json_auto_t *spec = NULL;
	const char *group = id;
	char *g;

	if (asprintf(&path, "%s/config.json", bundle) < 0)
		return -ENOMEM;
	spec = json_load_file(path, 0, NULL);
	if (spec) {
		json_t *v = json_object_get(json_object_get(spec, "annotations"),
					    SANDBOX_ID_ANNOTATION);

		if (json_is_string(v) && json_string_length(v) > 0)
			group = json_string_value(v);
	}
	g = strdup(group);
	if (!g)
		return -ENOMEM;
	*ret_group = g;
	return 0;
}

int address_socket_path(const char *address, const char *namespace, const char *group, char *buf,
			size_t size)
{
	const char *dir = getenv("LCOW_SHIM_SOCKET_DIR");
	_cleanup_free_ char *key = NULL;
	char hex[SHA256_DIGEST_STRING_LENGTH];
	int n;

	if (!dir || !*dir)
		dir = ADDRESS_SOCKET_DIR;
	/* Go's filepath.Join(address, namespace, id), which the runc shim hashes. */
	if (asprintf(&key, "%s/%s/%s", address, namespace, group) < 0)
		return -ENOMEM;
	SHA256Data((const uint8_t *)key, strlen(key), hex);
	n = snprintf(buf, size, "%s/%s", dir, hex);
	if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static int fill(struct sockaddr_un *sa, const char *path)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int address_probe(const char *path)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1;
	int r = fill(&sa, path);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0711) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int address_listen(const char *path, int *ret_fd)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1;
	int r = fill(&sa, path);

	if (r < 0)
		return r;
	r = mkdir_parents(path);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EADDRINUSE)
			return -errno;
		if (address_probe(path) == 0)
			return -EADDRINUSE;
		/* Left by a shim that died: nobody answers, take the name over. */
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return -errno;
	}
	if (chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}
