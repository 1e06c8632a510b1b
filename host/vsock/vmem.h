/*
 * Guest memory as the vhost-user front-end shares it: up to 8 regions, each an mmap of an fd
 * (SET_MEM_TABLE), with the two translations a back-end needs (spec section 1.6): front-end
 * virtual address -> pointer (ring addresses) and guest physical address -> pointer (buffers).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define VMEM_MAX_REGIONS 8

struct vmem_region {
	uint64_t gpa; /* guest_phys_addr */
	uint64_t size; /* memory_size */
	uint64_t uva; /* userspace_addr (the front-end's virtual address) */
	uint8_t *host; /* our pointer to gpa */
	void *map; /* the mapping (from file offset 0) */
	size_t map_len;
};

struct vmem {
	unsigned n;
	struct vmem_region r[VMEM_MAX_REGIONS];
};

void vmem_init(struct vmem *m);
/* Unmaps every region. */
void vmem_clear(struct vmem *m);
/*
 * Maps [0, mmap_offset + size) of fd shared and adds the region; the fd is not closed.
 * -E2BIG when the table is full, -EINVAL for an empty or overflowing region.
 */
int vmem_add(struct vmem *m, int fd, uint64_t gpa, uint64_t size, uint64_t uva,
	     uint64_t mmap_offset);
/* Moves src into dst after unmapping dst's regions; src is left empty. */
void vmem_replace(struct vmem *dst, struct vmem *src);

/* The host pointer to [gpa, gpa + len) when it lies inside one region, else NULL. */
void *vmem_gpa(const struct vmem *m, uint64_t gpa, uint64_t len);
/* The same for a front-end virtual address. */
void *vmem_uva(const struct vmem *m, uint64_t uva, uint64_t len);
