/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory table: guest physical ranges to host iovecs, bounds-checked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/vhost_ring.h"

static int
region_cmp(const void *a, const void *b)
{
	const struct osp_vhost_mem_region *ra = a, *rb = b;

	return ra->gpa < rb->gpa ? -1 : ra->gpa > rb->gpa ? 1 : 0;
}

int
osp_vhost_mem_init(struct osp_vhost_mem *mem, const struct osp_vhost_mem_region *regions,
		   uint32_t n)
{
	uint32_t i;

	if (mem == NULL || regions == NULL || n == 0 || n > OSP_VHOST_MEM_MAX_REGIONS) {
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		const struct osp_vhost_mem_region *r = &regions[i];

		/* The last byte of both ranges must be representable: gpa + size - 1 does not wrap. */
		if (r->size == 0 || r->host == NULL || r->gpa + (r->size - 1) < r->gpa ||
		    (uintptr_t)r->host + (r->size - 1) < (uintptr_t)r->host) {
			return -EINVAL;
		}
	}
	memcpy(mem->regions, regions, n * sizeof(*regions));
	qsort(mem->regions, n, sizeof(*regions), region_cmp);
	for (i = 1; i < n; i++) {
		const struct osp_vhost_mem_region *p = &mem->regions[i - 1];

		if (mem->regions[i].gpa - p->gpa < p->size) {
			return -EINVAL;
		}
	}
	mem->nregions = n;
	return 0;
}

/* Index of the region holding gpa, or -1. Tries the cached one first. */
static inline int
mem_find(const struct osp_vhost_mem *mem, uint32_t *hint, uint64_t gpa)
{
	uint32_t i = *hint;
	uint32_t lo, hi;

	if (i < mem->nregions && gpa - mem->regions[i].gpa < mem->regions[i].size) {
		return (int)i;
	}
	/* Binary search: the last region whose gpa <= the address. */
	lo = 0;
	hi = mem->nregions;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (mem->regions[mid].gpa <= gpa) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	if (lo == 0) {
		return -1;
	}
	i = lo - 1;
	if (gpa - mem->regions[i].gpa >= mem->regions[i].size) {
		return -1;
	}
	*hint = i;
	return (int)i;
}

int
osp_vhost_mem_translate(const struct osp_vhost_mem *mem, uint32_t *hint, uint64_t gpa,
			uint64_t len, struct iovec *iov, int max_iov)
{
	int cnt = 0;

	if (len == 0) {
		return 0;
	}
	if (gpa + (len - 1) < gpa) {
		return -EOVERFLOW;
	}
	while (len > 0) {
		const struct osp_vhost_mem_region *r;
		uint64_t off, chunk;
		int i = mem_find(mem, hint, gpa);

		if (i < 0) {
			return -EFAULT;
		}
		if (cnt >= max_iov) {
			return -ENOBUFS;
		}
		r = &mem->regions[i];
		off = gpa - r->gpa;
		chunk = r->size - off;
		if (chunk > len) {
			chunk = len;
		}
		iov[cnt].iov_base = (uint8_t *)r->host + off;
		iov[cnt].iov_len = chunk;
		cnt++;
		gpa += chunk;
		len -= chunk;
	}
	return cnt;
}

void *
osp_vhost_mem_ptr(const struct osp_vhost_mem *mem, uint32_t *hint, uint64_t gpa, uint64_t len)
{
	const struct osp_vhost_mem_region *r;
	int i;

	if (len == 0 || gpa + (len - 1) < gpa) {
		return NULL;
	}
	i = mem_find(mem, hint, gpa);
	if (i < 0) {
		return NULL;
	}
	r = &mem->regions[i];
	if (len > r->size - (gpa - r->gpa)) {
		return NULL;
	}
	return (uint8_t *)r->host + (gpa - r->gpa);
}

bool
osp_vhost_mem_host_contains(const struct osp_vhost_mem *mem, const void *host, uint64_t len)
{
	uintptr_t p = (uintptr_t)host;

	if (len == 0 || p + (len - 1) < p) {
		return false;
	}
	for (uint32_t i = 0; i < mem->nregions; i++) {
		uintptr_t start = (uintptr_t)mem->regions[i].host;
		uint64_t size = mem->regions[i].size;

		if (p >= start && p - start < size && len <= size - (p - start)) {
			return true;
		}
	}
	return false;
}
