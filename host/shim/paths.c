#include "paths.h"

#include <sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fsutil.h"

const char *paths_root(void)
{
	const char *r = getenv("LCOW_SHIM_ROOT");

	return r && r[0] == '/' ? r : SHIM_ROOT_DEFAULT;
}

/* n hex digits (n <= 64) of sha256("<a>/<b>") into out (n + 1 bytes). */
static void digest(const char *a, const char *b, char *out, size_t n)
{
	char hex[SHA256_DIGEST_STRING_LENGTH];
	_cleanup_free_ char *key = NULL;

	if (asprintf(&key, "%s/%s", a, b) < 0) {
		/* Only under memory exhaustion: a fixed name would mix pods up, so abort. */
		abort();
	}
	SHA256Data((const uint8_t *)key, strlen(key), hex);
	memcpy(out, hex, n);
	out[n] = '\0';
}

int paths_uvm_dir(const char *ns, const char *group, char *buf, size_t len)
{
	char d[17];

	digest(ns, group, d, 16);
	return pathf(buf, len, "%s/vm-%s", paths_root(), d);
}

int paths_ctr_dir(const char *ns, const char *group, const char *id, char *buf, size_t len)
{
	char uvm[4096];
	int r = paths_uvm_dir(ns, group, uvm, sizeof(uvm));

	return r < 0 ? r : pathf(buf, len, "%s/c/%s", uvm, id);
}

int paths_layer_cache(char *buf, size_t len)
{
	return pathf(buf, len, "%s/layers", paths_root());
}

void paths_owner(const char *ns, const char *id, char out[33])
{
	digest(ns, id, out, 32);
}
