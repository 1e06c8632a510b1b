/* Guest memory regions: mmap of the front-end's fds and address translation. */
#include "vmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void vmem_init(struct vmem *m)
{
	memset(m, 0, sizeof(*m));
}

void vmem_clear(struct vmem *m)
{
	for (unsigned i = 0; i < m->n; i++)
		munmap(m->r[i].map, m->r[i].map_len);
	vmem_init(m);
}

int vmem_add(struct vmem *m, int fd, uint64_t gpa, uint64_t size, uint64_t uva,
	     uint64_t mmap_offset)
{
	struct vmem_region *r;
	uint64_t len;
	void *p;

	if (m->n >= VMEM_MAX_REGIONS)
		return -E2BIG;
	if (size == 0 || gpa + size < gpa || uva + size < uva ||
	    __builtin_add_overflow(size, mmap_offset, &len) || len > SIZE_MAX)
		return -EINVAL;
	/* libvhost-user maps from offset 0 too: mmap_offset need not be page aligned then. */
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r = &m->r[m->n++];
	r->gpa = gpa;
	r->size = size;
	r->uva = uva;
	r->map = p;
	r->map_len = (size_t)len;
	r->host = (uint8_t *)p + mmap_offset;
	return 0;
}

void vmem_replace(struct vmem *dst, struct vmem *src)
{
	vmem_clear(dst);
	*dst = *src;
	vmem_init(src);
}

/* [a, a + len) inside [base, base + size)? Written so that nothing can overflow. */
static int inside(uint64_t a, uint64_t len, uint64_t base, uint64_t size)
{
	return a >= base && a - base <= size && len <= size - (a - base);
}

void *vmem_gpa(const struct vmem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct vmem_region *r = &m->r[i];

		if (inside(gpa, len, r->gpa, r->size) && (len > 0 || gpa < r->gpa + r->size))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

void *vmem_uva(const struct vmem *m, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct vmem_region *r = &m->r[i];

		if (inside(uva, len, r->uva, r->size) && (len > 0 || uva < r->uva + r->size))
			return r->host + (uva - r->uva);
	}
	return NULL;
}
