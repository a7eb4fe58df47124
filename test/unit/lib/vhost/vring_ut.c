/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/vhost/mem.c and lib/vhost/vring.c: the test plays the
 * guest driver. "Guest memory" is three malloc'd regions (A and B adjacent in
 * guest physical space but not in host memory, then a gap, then C) plus a
 * huge region whose host pointer is never dereferenced (for length-overflow
 * cases). Split and packed rings are built in region A, buffers anywhere; the
 * test posts chains, pops them with the library, checks the iovecs, pushes
 * them back and checks what the driver sees, including notification
 * decisions, and every malformed-chain and broken-ring case.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vhost/mem.c"
#include "vhost/vring.c"
#include "ut_run.h"

#define GPA_A		0x10000ull
#define GPA_B		0x20000ull	/* right after A */
#define GPA_C		0x100000ull	/* after a gap */
#define REG_SIZE	0x10000ull
#define GPA_HUGE	(1ull << 40)	/* 8 GiB, host pointer never dereferenced */
#define HUGE_SIZE	(8ull << 30)

/* Ring areas inside region A. */
#define GPA_DESC	(GPA_A + 0x0000)
#define GPA_AVAIL	(GPA_A + 0x4000)
#define GPA_USED	(GPA_A + 0x6000)
/* Buffers and indirect tables. */
#define GPA_BUF		(GPA_A + 0x8000)
#define GPA_TBL		(GPA_C + 0x0000)
#define GPA_TBL2	(GPA_C + 0x1000)

static uint8_t *g_a, *g_b, *g_c;
static struct osp_vhost_mem g_mem;

static void *
hva(uint64_t gpa)
{
	if (gpa >= GPA_A && gpa < GPA_A + REG_SIZE) {
		return g_a + (gpa - GPA_A);
	}
	if (gpa >= GPA_B && gpa < GPA_B + REG_SIZE) {
		return g_b + (gpa - GPA_B);
	}
	if (gpa >= GPA_C && gpa < GPA_C + REG_SIZE) {
		return g_c + (gpa - GPA_C);
	}
	abort();
}

static int
suite_init(void)
{
	struct osp_vhost_mem_region r[4];

	/* aligned_alloc so the rings in A are aligned as a guest would align them. */
	g_a = aligned_alloc(4096, REG_SIZE);
	g_b = aligned_alloc(4096, REG_SIZE);
	g_c = aligned_alloc(4096, REG_SIZE);
	if (g_a == NULL || g_b == NULL || g_c == NULL) {
		return -1;
	}
	/* Listed out of order on purpose: init sorts them. */
	r[0] = (struct osp_vhost_mem_region){ GPA_C, REG_SIZE, g_c };
	r[1] = (struct osp_vhost_mem_region){ GPA_A, REG_SIZE, g_a };
	r[2] = (struct osp_vhost_mem_region){ GPA_HUGE, HUGE_SIZE, (void *)(uintptr_t)0x100000000000ull };
	r[3] = (struct osp_vhost_mem_region){ GPA_B, REG_SIZE, g_b };
	return osp_vhost_mem_init(&g_mem, r, 4) == 0 ? 0 : -1;
}

static int
suite_fini(void)
{
	free(g_a);
	free(g_b);
	free(g_c);
	return 0;
}

/* ---- memory table ---- */

static void
test_mem_init(void)
{
	struct osp_vhost_mem m;
	uint8_t buf[64];
	struct osp_vhost_mem_region r[2];

	r[0] = (struct osp_vhost_mem_region){ 0x1000, 0x1000, buf };
	r[1] = (struct osp_vhost_mem_region){ 0x1fff, 0x1000, buf };	/* overlaps r[0] */
	CU_ASSERT(osp_vhost_mem_init(&m, r, 2) == -EINVAL);
	r[1].gpa = 0x2000;
	CU_ASSERT(osp_vhost_mem_init(&m, r, 2) == 0);
	CU_ASSERT(osp_vhost_mem_init(&m, r, 0) == -EINVAL);
	CU_ASSERT(osp_vhost_mem_init(&m, r, OSP_VHOST_MEM_MAX_REGIONS + 1) == -EINVAL);
	r[1].size = 0;
	CU_ASSERT(osp_vhost_mem_init(&m, r, 2) == -EINVAL);
	r[1] = (struct osp_vhost_mem_region){ UINT64_MAX - 0xfff, 0x1001, buf };	/* wraps */
	CU_ASSERT(osp_vhost_mem_init(&m, r, 2) == -EINVAL);
	r[1].size = 0x1000;	/* ends exactly at 2^64 - 1: fine */
	CU_ASSERT(osp_vhost_mem_init(&m, r, 2) == 0);
	r[1].host = NULL;
	CU_ASSERT(osp_vhost_mem_init(&m, r, 2) == -EINVAL);
}

static void
test_mem_translate(void)
{
	struct iovec iov[4];
	uint32_t hint = 0;

	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_A + 16, 100, iov, 4) == 1);
	CU_ASSERT(iov[0].iov_base == g_a + 16 && iov[0].iov_len == 100);
	/* Last byte of A. */
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_B - 1, 1, iov, 4) == 1);
	CU_ASSERT(iov[0].iov_base == g_a + REG_SIZE - 1);
	/* A then B: two iovecs. */
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_B - 10, 30, iov, 4) == 2);
	CU_ASSERT(iov[0].iov_base == g_a + REG_SIZE - 10 && iov[0].iov_len == 10);
	CU_ASSERT(iov[1].iov_base == g_b && iov[1].iov_len == 20);
	/* Same with room for one only. */
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_B - 10, 30, iov, 1) == -ENOBUFS);
	/* B runs into the gap. */
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_B + REG_SIZE - 4, 8, iov, 4) == -EFAULT);
	/* In the gap, below everything, above everything. */
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_C - 0x100, 1, iov, 4) == -EFAULT);
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, 0, 1, iov, 4) == -EFAULT);
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_HUGE + HUGE_SIZE, 1, iov, 4) == -EFAULT);
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, UINT64_MAX, 1, iov, 4) == -EFAULT);
	/* gpa + len wraps around. */
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, UINT64_MAX - 10, 20, iov, 4) == -EOVERFLOW);
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_A, UINT64_MAX, iov, 4) == -EOVERFLOW);
	/* Nothing to map. */
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, 0, 0, iov, 0) == 0);
	/* The hint is only a cache: a stale or silly one changes nothing. */
	hint = 1000;
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_C + 5, 5, iov, 4) == 1);
	CU_ASSERT(iov[0].iov_base == g_c + 5);
	CU_ASSERT(hint < g_mem.nregions && g_mem.regions[hint].gpa == GPA_C);
	CU_ASSERT(osp_vhost_mem_translate(&g_mem, &hint, GPA_A, 5, iov, 4) == 1);
	CU_ASSERT(iov[0].iov_base == g_a);

	CU_ASSERT(osp_vhost_mem_ptr(&g_mem, &hint, GPA_C + 8, 16) == g_c + 8);
	CU_ASSERT(osp_vhost_mem_ptr(&g_mem, &hint, GPA_B - 8, 16) == NULL);	/* two regions */
	CU_ASSERT(osp_vhost_mem_ptr(&g_mem, &hint, GPA_C - 8, 16) == NULL);
	CU_ASSERT(osp_vhost_mem_ptr(&g_mem, &hint, GPA_C, 0) == NULL);
	CU_ASSERT(osp_vhost_mem_ptr(&g_mem, &hint, UINT64_MAX - 1, 4) == NULL);
}

/* ---- split ring driver ---- */

#define F_IND	(1ull << OSP_VIRTIO_F_INDIRECT_DESC)
#define F_EVT	(1ull << OSP_VIRTIO_F_EVENT_IDX)

struct split_drv {
	uint16_t size;
	uint16_t avail_idx;
	uint16_t used_seen;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
};

static void
split_setup(struct split_drv *d, struct osp_vring *vq, uint16_t size, uint64_t features,
	    uint16_t start)
{
	memset(g_a, 0, 0x8000);
	d->size = size;
	d->avail_idx = start;
	d->used_seen = start;
	d->desc = hva(GPA_DESC);
	d->avail = hva(GPA_AVAIL);
	d->used = hva(GPA_USED);
	d->avail->idx = start;
	d->used->idx = start;
	CU_ASSERT_FATAL(osp_vring_init_split(vq, &g_mem, size, d->desc, d->avail, d->used,
					     features, start, start) == 0);
}

static void
sdesc(struct virtq_desc *t, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
      uint16_t next)
{
	t[i] = (struct virtq_desc){ addr, len, flags, next };
}

static void
split_post(struct split_drv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->size] = head;
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
}

/* The driver's view of the next used entry; false if none. */
static bool
split_used_get(struct split_drv *d, uint32_t *id, uint32_t *len)
{
	if (__atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE) == d->used_seen) {
		return false;
	}
	*id = d->used->ring[d->used_seen % d->size].id;
	*len = d->used->ring[d->used_seen % d->size].len;
	d->used_seen++;
	return true;
}

#define NIOV 16

static void
test_split_blk_chain(void)
{
	struct split_drv d;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	uint32_t id, len;

	split_setup(&d, &vq, 8, 0, 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 0);
	CU_ASSERT(!osp_vring_has_avail(&vq));
	/* virtio-blk read: 16-byte header, 4 KiB data spanning A/B, 1-byte status. */
	sdesc(d.desc, 3, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	sdesc(d.desc, 5, GPA_B - 0x800, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	sdesc(d.desc, 0, GPA_C + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	split_post(&d, 3);
	CU_ASSERT(osp_vring_has_avail(&vq));
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	CU_ASSERT(req.error == 0);
	CU_ASSERT(req.id == 3);
	CU_ASSERT(req.out_cnt == 1 && req.in_cnt == 3);
	CU_ASSERT(req.out_len == 16 && req.in_len == 4097);
	CU_ASSERT(iov[0].iov_base == hva(GPA_BUF) && iov[0].iov_len == 16);
	CU_ASSERT(iov[1].iov_base == g_a + REG_SIZE - 0x800 && iov[1].iov_len == 0x800);
	CU_ASSERT(iov[2].iov_base == g_b && iov[2].iov_len == 0x800);
	CU_ASSERT(iov[3].iov_base == g_c + 0x2000 && iov[3].iov_len == 1);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 0);
	CU_ASSERT(!split_used_get(&d, &id, &len));
	osp_vring_push(&vq, &req, 4097);
	CU_ASSERT(split_used_get(&d, &id, &len) && id == 3 && len == 4097);
	CU_ASSERT(osp_vring_last_avail(&vq) == 1 && osp_vring_last_used(&vq) == 1);
}

static void
test_split_indirect(void)
{
	struct split_drv d;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	struct virtq_desc *t = hva(GPA_TBL);
	uint32_t id, len;

	split_setup(&d, &vq, 4, F_IND, 0);
	/* Indirect only: table of 3 in region C, chained out of order. The WRITE flag
	 * on the pointing descriptor is ignored. */
	sdesc(t, 0, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	sdesc(t, 2, GPA_BUF + 0x100, 512, VIRTQ_DESC_F_NEXT, 1);
	sdesc(t, 1, GPA_BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	sdesc(d.desc, 2, GPA_TBL, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	split_post(&d, 2);
	/* Direct descriptor, then an indirect table at the end of the chain. */
	sdesc(d.desc, 1, GPA_BUF + 0x800, 16, VIRTQ_DESC_F_NEXT, 0);
	sdesc(d.desc, 0, GPA_TBL, 48, VIRTQ_DESC_F_INDIRECT, 0);
	split_post(&d, 1);

	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	CU_ASSERT(req.error == 0 && req.id == 2);
	CU_ASSERT(req.out_cnt == 2 && req.in_cnt == 1 && req.out_len == 528 && req.in_len == 1);
	CU_ASSERT(iov[1].iov_base == hva(GPA_BUF + 0x100) && iov[1].iov_len == 512);
	CU_ASSERT(iov[2].iov_base == hva(GPA_BUF + 0x400));
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	CU_ASSERT(req.error == 0 && req.id == 1);
	CU_ASSERT(req.out_cnt == 3 && req.in_cnt == 1 && req.out_len == 544);
	CU_ASSERT(iov[0].iov_base == hva(GPA_BUF + 0x800));
	osp_vring_push(&vq, &req, 1);
	CU_ASSERT(split_used_get(&d, &id, &len) && id == 1 && len == 1);

	/* A table at an address not aligned to 16 (copied before use: UBSan must stay quiet). */
	{
		uint8_t *u = hva(GPA_TBL2 + 8);
		struct virtq_desc e[2] = {
			{ GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 1 },
			{ GPA_BUF + 0x400, 2, VIRTQ_DESC_F_WRITE, 0 },
		};

		memcpy(u, e, sizeof(e));
		sdesc(d.desc, 3, GPA_TBL2 + 8, 32, VIRTQ_DESC_F_INDIRECT, 0);
		split_post(&d, 3);
		CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
		CU_ASSERT(req.error == 0 && req.id == 3 && req.out_len == 16 && req.in_len == 2);
	}

	/* Same chain without the feature negotiated: a bad request. */
	split_setup(&d, &vq, 4, 0, 0);
	sdesc(d.desc, 2, GPA_TBL, 48, VIRTQ_DESC_F_INDIRECT, 0);
	split_post(&d, 2);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	CU_ASSERT(req.id == 2 && req.error == -EINVAL);
}

/* Post a one-entry chain at head, pop it, expect a bad request with err. */
static void
split_expect_bad(struct split_drv *d, struct osp_vring *vq, uint16_t head, int err)
{
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	uint32_t id, len;

	split_post(d, head);
	CU_ASSERT(osp_vring_pop(vq, &req) == 1);
	CU_ASSERT(req.id == head);
	CU_ASSERT(req.error == err);
	if (req.error != err) {
		printf("head %u: error %d, expected %d\n", head, req.error, err);
	}
	/* Completed with an error status, and the queue goes on. */
	osp_vring_push(vq, &req, 0);
	CU_ASSERT(split_used_get(d, &id, &len) && id == head && len == 0);
	CU_ASSERT(!vq->broken);
}

static void
test_split_bad_requests(void)
{
	struct split_drv d;
	struct osp_vring vq;
	struct virtq_desc *t = hva(GPA_TBL), *t2 = hva(GPA_TBL2);
	struct iovec iov[3];
	struct osp_vring_req req = { .iov = iov, .iov_max = 2 };
	uint32_t id, len;
	int i;

	split_setup(&d, &vq, 8, F_IND, 0);
	/* Descriptor in the gap, or running off the end of B, or below all memory. */
	sdesc(d.desc, 0, GPA_C - 0x1000, 16, 0, 0);
	split_expect_bad(&d, &vq, 0, -EFAULT);
	sdesc(d.desc, 0, GPA_B + REG_SIZE - 8, 16, 0, 0);
	split_expect_bad(&d, &vq, 0, -EFAULT);
	/* gpa + len wraps. */
	sdesc(d.desc, 1, UINT64_MAX - 8, 16, 0, 0);
	split_expect_bad(&d, &vq, 1, -EOVERFLOW);
	/* Total length above 4 GiB - 1 (in the huge region, never touched). */
	sdesc(d.desc, 1, GPA_HUGE, UINT32_MAX, VIRTQ_DESC_F_NEXT, 2);
	sdesc(d.desc, 2, GPA_HUGE, 1, 0, 0);
	split_expect_bad(&d, &vq, 1, -EOVERFLOW);
	/* A loop: 3 -> 4 -> 3. */
	sdesc(d.desc, 3, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 4);
	sdesc(d.desc, 4, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 3);
	split_expect_bad(&d, &vq, 3, -ELOOP);
	/* Self loop. */
	sdesc(d.desc, 3, GPA_BUF, 0, VIRTQ_DESC_F_NEXT, 3);
	split_expect_bad(&d, &vq, 3, -ELOOP);
	/* next out of the table. */
	sdesc(d.desc, 3, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 8);
	split_expect_bad(&d, &vq, 3, -EINVAL);
	/* Writable then readable. */
	sdesc(d.desc, 3, GPA_BUF, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
	sdesc(d.desc, 4, GPA_BUF, 16, 0, 0);
	split_expect_bad(&d, &vq, 3, -EINVAL);
	/* Even a zero-length writable one first. */
	sdesc(d.desc, 3, GPA_BUF, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
	split_expect_bad(&d, &vq, 3, -EINVAL);
	/* Chain longer than the ring: 8 descriptors then back to the first (every one distinct first). */
	for (i = 0; i < 8; i++) {
		sdesc(d.desc, (uint16_t)i, GPA_BUF, 0, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % 8));
	}
	split_expect_bad(&d, &vq, 0, -ELOOP);
	/* Indirect: length not a multiple of 16, zero, outside memory, over two regions, with NEXT. */
	sdesc(t, 0, GPA_BUF, 16, 0, 0);
	sdesc(d.desc, 5, GPA_TBL, 24, VIRTQ_DESC_F_INDIRECT, 0);
	split_expect_bad(&d, &vq, 5, -EINVAL);
	sdesc(d.desc, 5, GPA_TBL, 0, VIRTQ_DESC_F_INDIRECT, 0);
	split_expect_bad(&d, &vq, 5, -EINVAL);
	sdesc(d.desc, 5, GPA_C - 32, 64, VIRTQ_DESC_F_INDIRECT, 0);
	split_expect_bad(&d, &vq, 5, -EFAULT);
	sdesc(d.desc, 5, GPA_B - 32, 64, VIRTQ_DESC_F_INDIRECT, 0);
	split_expect_bad(&d, &vq, 5, -EFAULT);
	sdesc(d.desc, 5, GPA_TBL, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 6);
	sdesc(d.desc, 6, GPA_BUF, 16, 0, 0);
	split_expect_bad(&d, &vq, 5, -EINVAL);
	/* Too large a table (work bound). */
	sdesc(d.desc, 5, GPA_HUGE, (VRING_MAX_INDIRECT + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
	split_expect_bad(&d, &vq, 5, -EINVAL);
	/* Indirect in indirect. */
	sdesc(t, 0, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	sdesc(t, 1, GPA_TBL2, 16, VIRTQ_DESC_F_INDIRECT, 0);
	sdesc(t2, 0, GPA_BUF, 16, 0, 0);
	sdesc(d.desc, 5, GPA_TBL, 32, VIRTQ_DESC_F_INDIRECT, 0);
	split_expect_bad(&d, &vq, 5, -EINVAL);
	/* NEXT leaving the table, and a loop inside it. */
	sdesc(t, 1, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	split_expect_bad(&d, &vq, 5, -EINVAL);
	sdesc(t, 1, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	split_expect_bad(&d, &vq, 5, -ELOOP);
	/* Writable then readable across the direct/indirect boundary. */
	sdesc(t, 0, GPA_BUF, 16, 0, 0);
	sdesc(d.desc, 6, GPA_BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 5);
	sdesc(d.desc, 5, GPA_TBL, 16, VIRTQ_DESC_F_INDIRECT, 0);
	split_expect_bad(&d, &vq, 6, -EINVAL);

	/* More iovecs than the caller has (3 needed, 2 given). */
	sdesc(d.desc, 3, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, 4);
	sdesc(d.desc, 4, GPA_B - 8, 16, VIRTQ_DESC_F_WRITE, 0);
	split_post(&d, 3);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	CU_ASSERT(req.id == 3 && req.error == -ENOBUFS);
	osp_vring_push(&vq, &req, 0);
	CU_ASSERT(split_used_get(&d, &id, &len) && id == 3);
	/* And with enough, the queue still works. */
	req.iov_max = 3;
	split_post(&d, 3);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	CU_ASSERT(req.error == 0 && req.out_cnt == 1 && req.in_cnt == 2);
}

static void
test_split_broken(void)
{
	struct split_drv d;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };

	/* Head index out of range. */
	split_setup(&d, &vq, 8, 0, 0);
	sdesc(d.desc, 0, GPA_BUF, 16, 0, 0);
	split_post(&d, 0);
	split_post(&d, 8);
	split_post(&d, 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1 && req.error == 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == -EIO);
	CU_ASSERT(vq.broken);
	CU_ASSERT(osp_vring_pop(&vq, &req) == -EIO);
	CU_ASSERT(osp_vring_pop_burst(&vq, &req, 1) == -EIO);

	/* A burst that meets the break returns what it took; the next call says -EIO. */
	{
		struct iovec biov[3][NIOV];
		struct osp_vring_req breqs[3];
		int k;

		for (k = 0; k < 3; k++) {
			breqs[k] = (struct osp_vring_req){ .iov = biov[k], .iov_max = NIOV };
		}
		split_setup(&d, &vq, 8, 0, 0);
		sdesc(d.desc, 0, GPA_BUF, 16, 0, 0);
		split_post(&d, 0);
		split_post(&d, 0);
		split_post(&d, 9);
		CU_ASSERT(osp_vring_pop_burst(&vq, breqs, 3) == 2);
		CU_ASSERT(breqs[0].error == 0 && breqs[1].error == 0);
		CU_ASSERT(osp_vring_pop_burst(&vq, breqs, 3) == -EIO);
	}

	/* avail->idx more than size ahead (also across the 16-bit wrap). */
	split_setup(&d, &vq, 8, 0, 65530);
	d.avail->idx = (uint16_t)(65530 + 9);
	CU_ASSERT(osp_vring_pop(&vq, &req) == -EIO);
	split_setup(&d, &vq, 8, 0, 65530);
	d.avail->idx = (uint16_t)(65530 + 8);	/* exactly full: fine */
	for (int i = 0; i < 8; i++) {
		d.avail->ring[(65530 + i) % 8] = 0;
	}
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1 && req.error == 0);
	/* idx going backwards is a jump too. */
	split_setup(&d, &vq, 8, 0, 100);
	d.avail->idx = 99;
	CU_ASSERT(osp_vring_pop(&vq, &req) == -EIO);

	/* Bad init. */
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 6, d.desc, d.avail, d.used, 0, 0, 0) == -EINVAL);
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 0, d.desc, d.avail, d.used, 0, 0, 0) == -EINVAL);
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, (uint8_t *)d.desc + 8, d.avail, d.used, 0, 0,
				       0) == -EINVAL);
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, d.desc, d.avail, (uint8_t *)d.used + 2, 0, 0,
				       0) == -EINVAL);
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, d.desc, NULL, d.used, 0, 0, 0) == -EINVAL);
	/* An area that starts inside a region and runs past its end, or outside all memory. */
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, d.desc, d.avail,
				       hva(GPA_C + REG_SIZE - 8), 0, 0, 0) == -EFAULT);
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, hva(GPA_C + REG_SIZE - 64), d.avail, d.used,
				       0, 0, 0) == -EFAULT);
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, d.desc, hva(GPA_C + REG_SIZE - 16), d.used,
				       0, 0, 0) == -EFAULT);
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, d.desc, d.avail, (uint8_t *)g_c - 4096, 0, 0,
				       0) == -EFAULT);
	/* Across two regions that are adjacent in guest space (but not in host space). */
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, hva(GPA_B - 64), d.avail, d.used, 0, 0,
				       0) == -EFAULT);
	/* Right up to a region's end is fine. */
	CU_ASSERT(osp_vring_init_split(&vq, &g_mem, 8, d.desc, d.avail,
				       hva(GPA_C + REG_SIZE - 72), 0, 0, 0) == 0);
}

static void
test_split_notify(void)
{
	struct split_drv d;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	uint16_t *used_event, *avail_event;

	sdesc((struct virtq_desc *)hva(GPA_DESC), 0, GPA_BUF, 16, 0, 0);
	/* Without EVENT_IDX: the NO_INTERRUPT flag. */
	split_setup(&d, &vq, 8, 0, 0);
	sdesc(d.desc, 0, GPA_BUF, 16, 0, 0);
	CU_ASSERT(!osp_vring_need_notify(&vq));	/* nothing pushed */
	split_post(&d, 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);
	CU_ASSERT(osp_vring_need_notify(&vq));
	CU_ASSERT(!osp_vring_need_notify(&vq));	/* already told */
	d.avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	split_post(&d, 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);
	CU_ASSERT(!osp_vring_need_notify(&vq));
	/* Kicks: the NO_NOTIFY flag, and set_kick says whether work is waiting. */
	CU_ASSERT(!osp_vring_set_kick(&vq, false));
	CU_ASSERT(d.used->flags == VIRTQ_USED_F_NO_NOTIFY);
	CU_ASSERT(!osp_vring_set_kick(&vq, true));
	CU_ASSERT(d.used->flags == 0);
	split_post(&d, 0);
	CU_ASSERT(osp_vring_set_kick(&vq, true));

	/* EVENT_IDX, starting near the 16-bit wrap. */
	split_setup(&d, &vq, 8, F_EVT, 65533);
	sdesc(d.desc, 0, GPA_BUF, 16, 0, 0);
	used_event = &d.avail->ring[8];
	avail_event = (uint16_t *)&d.used->ring[8];
	d.avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;	/* ignored with EVENT_IDX */
	*used_event = 65534;	/* notify when entry 65534 is written */
	split_post(&d, 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);	/* writes 65533 */
	CU_ASSERT(!osp_vring_need_notify(&vq));
	split_post(&d, 0);
	split_post(&d, 0);
	split_post(&d, 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);	/* 65534 */
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);	/* 65535 */
	CU_ASSERT(osp_vring_need_notify(&vq));
	*used_event = 1;	/* across the wrap: entries 0 and 1 */
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);	/* 0 */
	CU_ASSERT(!osp_vring_need_notify(&vq));
	split_post(&d, 0);
	split_post(&d, 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);	/* 1 */
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);	/* 2 */
	CU_ASSERT(osp_vring_need_notify(&vq));	/* passed 1 in this batch */
	/* The driver's event already behind us: no notification. */
	*used_event = 1;
	split_post(&d, 0);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);	/* 3 */
	CU_ASSERT(!osp_vring_need_notify(&vq));
	/* Kicks with EVENT_IDX: avail_event = our next avail index. */
	CU_ASSERT(!osp_vring_set_kick(&vq, true));
	CU_ASSERT(*avail_event == 4);
	CU_ASSERT(d.used->flags == 0);
	split_post(&d, 0);
	CU_ASSERT(osp_vring_set_kick(&vq, true));
}

/* Many cycles over the 16-bit wrap with chains of 1..3, in bursts, out of order. */
static void
test_split_wrap_burst(void)
{
	struct split_drv d;
	struct osp_vring vq;
	struct iovec iov[4][NIOV];
	struct osp_vring_req reqs[4];
	uint32_t lens[4], id, len;
	uint16_t cycle_heads[4] = { 0, 4, 8, 12 };
	int cycle, i, n;

	split_setup(&d, &vq, 16, 0, 65000);
	for (i = 0; i < 4; i++) {
		reqs[i] = (struct osp_vring_req){ .iov = iov[i], .iov_max = NIOV };
	}
	for (cycle = 0; cycle < 3000; cycle++) {
		int nchains = 1 + cycle % 4;

		for (i = 0; i < nchains; i++) {
			uint16_t h = cycle_heads[i];
			int ndesc = 1 + (cycle + i) % 3, k;

			for (k = 0; k < ndesc; k++) {
				sdesc(d.desc, (uint16_t)(h + k), GPA_BUF + 0x100u * (unsigned)i + 16u * (unsigned)k,
				      16, (uint16_t)((k + 1 < ndesc ? VIRTQ_DESC_F_NEXT : 0) |
						     (k > 0 ? VIRTQ_DESC_F_WRITE : 0)), (uint16_t)(h + k + 1));
			}
			split_post(&d, h);
		}
		n = osp_vring_pop_burst(&vq, reqs, 4);
		CU_ASSERT_FATAL(n == nchains);
		for (i = 0; i < n; i++) {
			CU_ASSERT(reqs[i].error == 0 && reqs[i].id == cycle_heads[i]);
			CU_ASSERT(reqs[i].out_cnt == 1 &&
				  reqs[i].in_cnt == (uint16_t)((cycle + i) % 3));
			lens[i] = (uint32_t)(cycle * 4 + i);
		}
		CU_ASSERT(osp_vring_pop_burst(&vq, reqs, 4) == 0);
		/* Complete in reverse order, alternately one by one and in a burst. */
		if (cycle % 2) {
			for (i = n - 1; i >= 0; i--) {
				osp_vring_push(&vq, &reqs[i], lens[i]);
			}
			for (i = n - 1; i >= 0; i--) {
				CU_ASSERT(split_used_get(&d, &id, &len) && id == cycle_heads[i] &&
					  len == lens[i]);
			}
		} else {
			osp_vring_push_burst(&vq, reqs, lens, n);
			for (i = 0; i < n; i++) {
				CU_ASSERT(split_used_get(&d, &id, &len) && id == cycle_heads[i] &&
					  len == lens[i]);
			}
		}
		CU_ASSERT(!split_used_get(&d, &id, &len));
	}
	CU_ASSERT(osp_vring_last_avail(&vq) == d.avail_idx);
	CU_ASSERT(osp_vring_last_used(&vq) == d.used->idx);
	CU_ASSERT(d.avail_idx < 65000);	/* really wrapped */
}

/* ---- packed ring driver ---- */

struct packed_drv {
	uint16_t size;
	uint16_t avail;		/* next slot */
	bool avail_wrap;
	uint16_t used;		/* next used slot the driver expects */
	bool used_wrap;
	uint16_t chain_len[64];	/* by buffer ID */
	struct pvirtq_desc *desc;
	struct pvirtq_event_suppress *drv_ev;
	struct pvirtq_event_suppress *dev_ev;
};

static void
packed_setup(struct packed_drv *d, struct osp_vring *vq, uint16_t size, uint64_t features)
{
	memset(g_a, 0, 0x8000);
	memset(d, 0, sizeof(*d));
	d->size = size;
	d->avail_wrap = true;
	d->used_wrap = true;
	d->desc = hva(GPA_DESC);
	d->drv_ev = hva(GPA_AVAIL);
	d->dev_ev = hva(GPA_USED);
	CU_ASSERT_FATAL(osp_vring_init_packed(vq, &g_mem, size, d->desc, d->drv_ev, d->dev_ev,
					      features | (1ull << OSP_VIRTIO_F_RING_PACKED),
					      0x8000, 0x8000) == 0);
}

struct pd {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;	/* NEXT is added by packed_post */
};

/* Make a chain of n available with buffer ID id (head flags written last). */
static void
packed_post(struct packed_drv *d, const struct pd *c, int n, uint16_t id, bool add_next)
{
	uint16_t head = d->avail, head_flags = 0;
	int i;

	for (i = 0; i < n; i++) {
		struct pvirtq_desc *p = &d->desc[d->avail];
		uint16_t f = c[i].flags;

		if (add_next && i + 1 < n) {
			f |= VIRTQ_DESC_F_NEXT;
		}
		f |= d->avail_wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
		p->addr = c[i].addr;
		p->len = c[i].len;
		p->id = id;
		if (i == 0) {
			head_flags = f;
		} else {
			p->flags = f;
		}
		if (++d->avail == d->size) {
			d->avail = 0;
			d->avail_wrap = !d->avail_wrap;
		}
	}
	d->chain_len[id] = (uint16_t)n;
	__atomic_store_n(&d->desc[head].flags, head_flags, __ATOMIC_RELEASE);
}

static bool
packed_used_get(struct packed_drv *d, uint16_t *id, uint32_t *len)
{
	uint16_t f = __atomic_load_n(&d->desc[d->used].flags, __ATOMIC_ACQUIRE);
	bool a = f & VIRTQ_DESC_F_AVAIL, u = f & VIRTQ_DESC_F_USED;

	if (a != u || u != d->used_wrap) {
		return false;
	}
	*id = d->desc[d->used].id;
	*len = d->desc[d->used].len;
	d->used += d->chain_len[*id];
	if (d->used >= d->size) {
		d->used -= d->size;
		d->used_wrap = !d->used_wrap;
	}
	return true;
}

static void
test_packed_basic(void)
{
	struct packed_drv d;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	struct pvirtq_desc *t = hva(GPA_TBL);
	struct pd blk[3] = {
		{ GPA_BUF, 16, 0 },
		{ GPA_B - 0x10, 0x20, VIRTQ_DESC_F_WRITE },
		{ GPA_C + 0x3000, 1, VIRTQ_DESC_F_WRITE },
	};
	struct pd ind = { GPA_TBL, 48, VIRTQ_DESC_F_INDIRECT };
	uint16_t id;
	uint32_t len;

	packed_setup(&d, &vq, 8, F_IND);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 0);
	packed_post(&d, blk, 3, 5, true);
	CU_ASSERT(osp_vring_has_avail(&vq));
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	CU_ASSERT(req.error == 0 && req.id == 5 && req.ndescs == 3);
	CU_ASSERT(req.out_cnt == 1 && req.in_cnt == 3 && req.out_len == 16 && req.in_len == 0x21);
	CU_ASSERT(iov[1].iov_base == g_a + REG_SIZE - 0x10 && iov[1].iov_len == 0x10);
	CU_ASSERT(iov[2].iov_base == g_b && iov[2].iov_len == 0x10);
	CU_ASSERT(iov[3].iov_base == g_c + 0x3000);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 0);

	/* Indirect: NEXT and IDs inside the table are ignored; entries taken in order. */
	t[0] = (struct pvirtq_desc){ GPA_BUF, 16, 77, VIRTQ_DESC_F_NEXT };
	t[1] = (struct pvirtq_desc){ GPA_BUF + 0x100, 4096, 0, VIRTQ_DESC_F_WRITE };
	t[2] = (struct pvirtq_desc){ GPA_BUF + 0x2000, 1, 0, VIRTQ_DESC_F_WRITE };
	packed_post(&d, &ind, 1, 2, true);
	{
		struct iovec iov2[NIOV];
		struct osp_vring_req req2 = { .iov = iov2, .iov_max = NIOV };

		CU_ASSERT(osp_vring_pop(&vq, &req2) == 1);
		CU_ASSERT(req2.error == 0 && req2.id == 2 && req2.ndescs == 1);
		CU_ASSERT(req2.out_cnt == 1 && req2.in_cnt == 2 && req2.in_len == 4097);
		/* Out of order completion: the second request first. */
		osp_vring_push(&vq, &req2, 4097);
	}
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 2 && len == 4097);
	osp_vring_push(&vq, &req, 0x21);
	/* The driver expects the next used entry one slot on (chain of 1 was at slot 0). */
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 5 && len == 0x21);
	CU_ASSERT(!packed_used_get(&d, &id, &len));
	CU_ASSERT(osp_vring_last_avail(&vq) == (0x8000 | 4));
	CU_ASSERT(osp_vring_last_used(&vq) == (0x8000 | 4));
}

static void
packed_expect_bad(struct packed_drv *d, struct osp_vring *vq, const struct pd *c, int n,
		  uint16_t bid, int err)
{
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	uint16_t id;
	uint32_t len;

	packed_post(d, c, n, bid, true);
	CU_ASSERT(osp_vring_pop(vq, &req) == 1);
	CU_ASSERT(req.id == bid && req.ndescs == n);
	CU_ASSERT(req.error == err);
	if (req.error != err) {
		printf("packed id %u: error %d, expected %d\n", bid, req.error, err);
	}
	osp_vring_push(vq, &req, 0);
	CU_ASSERT(packed_used_get(d, &id, &len) && id == bid);
	CU_ASSERT(!vq->broken);
}

static void
test_packed_bad(void)
{
	struct packed_drv d;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	struct pvirtq_desc *t = hva(GPA_TBL), *t2 = hva(GPA_TBL2);
	struct pd c[3];
	int i;

	packed_setup(&d, &vq, 8, F_IND);
	/* A bad buffer in the middle: the whole chain is consumed, ID from its end. */
	c[0] = (struct pd){ GPA_BUF, 16, 0 };
	c[1] = (struct pd){ GPA_C - 16, 32, 0 };
	c[2] = (struct pd){ GPA_BUF, 1, VIRTQ_DESC_F_WRITE };
	packed_expect_bad(&d, &vq, c, 3, 9, -EFAULT);
	c[1] = (struct pd){ UINT64_MAX - 4, 32, 0 };
	packed_expect_bad(&d, &vq, c, 3, 10, -EOVERFLOW);
	/* Writable then readable. */
	c[0].flags = VIRTQ_DESC_F_WRITE;
	c[1] = (struct pd){ GPA_BUF, 16, 0 };
	packed_expect_bad(&d, &vq, c, 3, 11, -EINVAL);
	/* Total length overflow. */
	c[0] = (struct pd){ GPA_HUGE, 0x80000000u, 0 };
	c[1] = (struct pd){ GPA_HUGE, 0x80000000u, 0 };
	packed_expect_bad(&d, &vq, c, 2, 12, -EOVERFLOW);
	/* Indirect: bad length, with NEXT, nested, outside memory. */
	t[0] = (struct pvirtq_desc){ GPA_BUF, 16, 0, 0 };
	c[0] = (struct pd){ GPA_TBL, 20, VIRTQ_DESC_F_INDIRECT };
	packed_expect_bad(&d, &vq, c, 1, 13, -EINVAL);
	c[0] = (struct pd){ GPA_TBL, 16, VIRTQ_DESC_F_INDIRECT };
	c[1] = (struct pd){ GPA_BUF, 16, VIRTQ_DESC_F_WRITE };
	packed_expect_bad(&d, &vq, c, 2, 14, -EINVAL);
	t[1] = (struct pvirtq_desc){ GPA_TBL2, 16, 0, VIRTQ_DESC_F_INDIRECT };
	t2[0] = (struct pvirtq_desc){ GPA_BUF, 16, 0, 0 };
	c[0] = (struct pd){ GPA_TBL, 32, VIRTQ_DESC_F_INDIRECT };
	packed_expect_bad(&d, &vq, c, 1, 15, -EINVAL);
	c[0] = (struct pd){ GPA_C + REG_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT };
	packed_expect_bad(&d, &vq, c, 1, 16, -EFAULT);
	/* Too many iovecs. */
	req.iov_max = 1;
	c[0] = (struct pd){ GPA_B - 8, 16, 0 };
	packed_post(&d, c, 1, 17, true);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1 && req.id == 17 && req.error == -ENOBUFS);
	req.iov_max = NIOV;

	/* A chain that never ends: every slot has NEXT. The ring is broken. */
	packed_setup(&d, &vq, 8, F_IND);
	for (i = 0; i < 8; i++) {
		d.desc[i] = (struct pvirtq_desc){ GPA_BUF, 16, 0,
						  VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_AVAIL };
	}
	CU_ASSERT(osp_vring_pop(&vq, &req) == -EIO);
	CU_ASSERT(vq.broken && osp_vring_pop(&vq, &req) == -EIO);
	/* A chain of exactly the ring size is fine. */
	packed_setup(&d, &vq, 8, F_IND);
	for (i = 0; i < 8; i++) {
		d.desc[i] = (struct pvirtq_desc){ GPA_BUF, 16, 3, (uint16_t)(VIRTQ_DESC_F_AVAIL |
						  (i < 7 ? VIRTQ_DESC_F_NEXT : 0)) };
	}
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1 && req.error == 0 && req.ndescs == 8);
	CU_ASSERT(req.out_cnt == 8 && req.id == 3);
	/* Next lap: slot 0 still carries the old AVAIL bit, so nothing is available. */
	CU_ASSERT(osp_vring_pop(&vq, &req) == 0);

	/* Bad init. */
	CU_ASSERT(osp_vring_init_packed(&vq, &g_mem, 0, d.desc, d.drv_ev, d.dev_ev, 0, 0, 0) == -EINVAL);
	CU_ASSERT(osp_vring_init_packed(&vq, &g_mem, 8, d.desc, d.drv_ev, d.dev_ev, 0, 8, 0) == -EINVAL);
	CU_ASSERT(osp_vring_init_packed(&vq, &g_mem, 8, d.desc, (uint8_t *)d.drv_ev + 2, d.dev_ev, 0,
					0, 0) == -EINVAL);
	CU_ASSERT(osp_vring_init_packed(&vq, &g_mem, 7, d.desc, d.drv_ev, d.dev_ev, 0, 6, 0x8006) == 0);
}

/* Many laps of a 7-slot ring (not a power of two) with chains of 1..3, in bursts. */
static void
test_packed_wrap(void)
{
	struct packed_drv d;
	struct osp_vring vq;
	struct iovec iov[3][NIOV];
	struct osp_vring_req reqs[3];
	uint32_t lens[3], len;
	uint16_t id;
	int cycle, i, n;

	packed_setup(&d, &vq, 7, 0);
	for (i = 0; i < 3; i++) {
		reqs[i] = (struct osp_vring_req){ .iov = iov[i], .iov_max = NIOV };
	}
	for (cycle = 0; cycle < 5000; cycle++) {
		/* At most 7 slots in flight: chains of 1 + (cycle+i)%3 slots, 1 or 2 chains. */
		int nchains = 1 + cycle % 2;

		for (i = 0; i < nchains; i++) {
			struct pd c[3];
			int k, ndesc = 1 + (cycle + i) % 3;

			for (k = 0; k < ndesc; k++) {
				c[k] = (struct pd){ GPA_BUF + 16u * (unsigned)k, 16,
						    (uint16_t)(k > 0 ? VIRTQ_DESC_F_WRITE : 0) };
			}
			packed_post(&d, c, ndesc, (uint16_t)(10 + i), true);
		}
		n = osp_vring_pop_burst(&vq, reqs, 3);
		CU_ASSERT_FATAL(n == nchains);
		for (i = 0; i < n; i++) {
			CU_ASSERT(reqs[i].error == 0 && reqs[i].id == 10 + i);
			CU_ASSERT(reqs[i].ndescs == 1 + (cycle + i) % 3);
			lens[i] = (uint32_t)cycle;
		}
		if (cycle % 3 == 0) {
			osp_vring_push_burst(&vq, reqs, lens, n);
		} else {
			for (i = 0; i < n; i++) {
				osp_vring_push(&vq, &reqs[i], lens[i]);
			}
		}
		for (i = 0; i < n; i++) {
			CU_ASSERT(packed_used_get(&d, &id, &len) && id == 10 + i && len == (uint32_t)cycle);
		}
		CU_ASSERT(!packed_used_get(&d, &id, &len));
		CU_ASSERT(osp_vring_pop(&vq, &reqs[0]) == 0);
	}
	CU_ASSERT(osp_vring_last_avail(&vq) == (uint16_t)(d.avail | (d.avail_wrap ? 0x8000 : 0)));
	CU_ASSERT(osp_vring_last_used(&vq) == (uint16_t)(d.used | (d.used_wrap ? 0x8000 : 0)));
}

static void
test_packed_notify(void)
{
	struct packed_drv d;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	struct pd c = { GPA_BUF, 16, 0 };
	uint16_t id;
	uint32_t len;
	int i;

	/* Without EVENT_IDX: ENABLE / DISABLE; DESC is treated as ENABLE. */
	packed_setup(&d, &vq, 4, 0);
	CU_ASSERT(!osp_vring_need_notify(&vq));
	packed_post(&d, &c, 1, 0, true);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);
	CU_ASSERT(osp_vring_need_notify(&vq));
	CU_ASSERT(!osp_vring_need_notify(&vq));
	d.drv_ev->flags = RING_EVENT_FLAGS_DISABLE;
	packed_post(&d, &c, 1, 0, true);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);
	CU_ASSERT(!osp_vring_need_notify(&vq));
	d.drv_ev->flags = RING_EVENT_FLAGS_DESC;
	packed_post(&d, &c, 1, 0, true);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
	osp_vring_push(&vq, &req, 0);
	CU_ASSERT(osp_vring_need_notify(&vq));
	/* Device event: DISABLE / ENABLE, and set_kick reports waiting work. */
	CU_ASSERT(!osp_vring_set_kick(&vq, false));
	CU_ASSERT(d.dev_ev->flags == RING_EVENT_FLAGS_DISABLE);
	CU_ASSERT(!osp_vring_set_kick(&vq, true));
	CU_ASSERT(d.dev_ev->flags == RING_EVENT_FLAGS_ENABLE);
	packed_post(&d, &c, 1, 0, true);
	CU_ASSERT(osp_vring_set_kick(&vq, true));

	/* EVENT_IDX: DESC with off_wrap, over several laps of a 4-slot ring. */
	packed_setup(&d, &vq, 4, F_EVT);
	d.drv_ev->flags = RING_EVENT_FLAGS_DESC;
	for (i = 0; i < 40; i++) {
		/* Position (lap, slot) of the used entry i is slot i % 4 with wrap 1 - (i/4)%2. */
		uint16_t want = (uint16_t)(i + 1);	/* ask for the entry after this one */
		uint16_t wrap = (uint16_t)(((want / 4) % 2) == 0);

		d.drv_ev->off_wrap = (uint16_t)((want % 4) | (wrap << 15));
		packed_post(&d, &c, 1, 0, true);
		CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
		osp_vring_push(&vq, &req, 0);
		CU_ASSERT(!osp_vring_need_notify(&vq));	/* wrote entry i, wants i + 1 */
		CU_ASSERT(packed_used_get(&d, &id, &len));
		/* Now ask for exactly the next one: entry i + 1 is written next time. */
	}
	/* Asking for the entry just written (in this lap) notifies. */
	for (i = 0; i < 10; i++) {
		packed_post(&d, &c, 1, 0, true);
		d.drv_ev->off_wrap = (uint16_t)(vq.used_idx | ((uint16_t)vq.used_wrap << 15));
		CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
		osp_vring_push(&vq, &req, 0);
		CU_ASSERT(osp_vring_need_notify(&vq));
		CU_ASSERT(packed_used_get(&d, &id, &len));
	}
	/* A 2-slot chain at slot 3 (crossing the wrap); event on the skipped slot 0 of the next lap. */
	{
		struct pd c2[2] = { { GPA_BUF, 16, 0 }, { GPA_BUF, 1, VIRTQ_DESC_F_WRITE } };

		while (vq.used_idx != 3) {
			packed_post(&d, &c, 1, 0, true);
			CU_ASSERT(osp_vring_pop(&vq, &req) == 1);
			osp_vring_push(&vq, &req, 0);
			(void)osp_vring_need_notify(&vq);
			CU_ASSERT(packed_used_get(&d, &id, &len));
		}
		packed_post(&d, c2, 2, 1, true);
		d.drv_ev->off_wrap = (uint16_t)(0 | ((uint16_t)!vq.used_wrap << 15));
		CU_ASSERT(osp_vring_pop(&vq, &req) == 1 && req.ndescs == 2);
		osp_vring_push(&vq, &req, 0);
		CU_ASSERT(osp_vring_need_notify(&vq));
		CU_ASSERT(packed_used_get(&d, &id, &len) && id == 1);
	}
	/* set_kick with EVENT_IDX: DESC at our next avail slot and wrap. */
	CU_ASSERT(!osp_vring_set_kick(&vq, true));
	CU_ASSERT(d.dev_ev->flags == RING_EVENT_FLAGS_DESC);
	CU_ASSERT(d.dev_ev->off_wrap == osp_vring_last_avail(&vq));
}

/*
 * Not a pass/fail test: prints the cost of pop + push of virtio-blk chains
 * (header, 4 KiB of data, status byte; all in region A, as in a guest whose
 * RAM is one region).
 */
/* ---- inflight tracking and resubmission (split) ---- */

static struct osp_vring_inflight_split *
inflight_region(uint16_t n)
{
	struct osp_vring_inflight_split *r;

	/* 64-byte aligned as a region is; aligned_alloc wants a size multiple of it. */
	r = aligned_alloc(64, (sizeof(*r) + (size_t)n * sizeof(r->desc[0]) + 63) & ~(size_t)63);
	CU_ASSERT_FATAL(r != NULL);
	memset(r, 0, sizeof(*r) + (size_t)n * sizeof(r->desc[0]));
	r->desc_num = n;
	return r;
}

static void
test_split_inflight(void)
{
	struct osp_vring_inflight_split *in = inflight_region(8);
	struct split_drv d;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	struct osp_vring_req reqs[3];
	struct iovec iovs[3][NIOV];
	uint32_t lens[3] = { 1, 1, 1 };
	uint16_t order[8];
	int n = 0, i;
	uint32_t id, len;

	split_setup(&d, &vq, 8, 0, 0);
	CU_ASSERT(osp_vring_set_inflight(&vq, in, 4, 0) == -EINVAL);	/* smaller than the ring */
	CU_ASSERT(osp_vring_set_inflight(&vq, NULL, 8, 0) == -EINVAL);
	CU_ASSERT(osp_vring_set_inflight(&vq, (void *)((uint8_t *)in + 4), 8, 0) == -EINVAL);
	CU_ASSERT(osp_vring_set_inflight(&vq, in, 8, 100) == 0);
	/* Three one-descriptor chains (header + status in one writable buffer is fine here). */
	sdesc(d.desc, 3, GPA_BUF + 0x000, 16, VIRTQ_DESC_F_NEXT, 4);
	sdesc(d.desc, 4, GPA_BUF + 0x100, 1, VIRTQ_DESC_F_WRITE, 0);
	sdesc(d.desc, 5, GPA_BUF + 0x200, 16, 0, 0);
	sdesc(d.desc, 1, GPA_BUF + 0x300, 16, 0, 0);
	split_post(&d, 3);
	split_post(&d, 5);
	split_post(&d, 1);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1 && req.id == 3);
	CU_ASSERT(in->desc[3].inflight == 1 && in->desc[3].counter == 100);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1 && req.id == 5);
	CU_ASSERT(in->desc[5].inflight == 1 && in->desc[5].counter == 101);
	CU_ASSERT(osp_vring_pop(&vq, &req) == 1 && req.id == 1);
	CU_ASSERT(in->desc[1].inflight == 1 && in->desc[1].counter == 102);
	CU_ASSERT(in->desc[4].inflight == 0);	/* only heads are tracked */
	/* Completing 5: recorded as the batch head, used entry published, flag cleared, used_idx. */
	req.id = 5;
	osp_vring_push(&vq, &req, 0);
	CU_ASSERT(in->last_batch_head == 5 && in->desc[5].inflight == 0 && in->used_idx == 1);
	CU_ASSERT(d.used->idx == 1);
	CU_ASSERT(split_used_get(&d, &id, &len) && id == 5);

	/*
	 * The back end dies here. The next one (after the front end's reconnect)
	 * resumes at last_avail = used->idx + the heads still in flight, and
	 * resubmits those heads in counter order: 3 then 1.
	 */
	for (i = 0; i < 8; i++) {
		if (in->desc[i].inflight) {
			order[n++] = (uint16_t)i;
		}
	}
	CU_ASSERT_FATAL(n == 2);
	if (in->desc[order[0]].counter > in->desc[order[1]].counter) {
		uint16_t t = order[0];

		order[0] = order[1];
		order[1] = t;
	}
	CU_ASSERT(order[0] == 3 && order[1] == 1);
	CU_ASSERT_FATAL(osp_vring_init_split(&vq, &g_mem, 8, d.desc, d.avail, d.used, 0,
					     (uint16_t)(d.used->idx + n), d.used->idx) == 0);
	CU_ASSERT(osp_vring_set_inflight(&vq, in, in->desc_num, 103) == 0);
	CU_ASSERT(osp_vring_pop_head(&vq, order[0], &req) == 1);
	CU_ASSERT(req.id == 3 && req.error == 0 && req.out_cnt == 1 && req.in_cnt == 1);
	CU_ASSERT(iov[0].iov_base == hva(GPA_BUF) && iov[0].iov_len == 16);
	CU_ASSERT(iov[1].iov_base == hva(GPA_BUF + 0x100) && iov[1].iov_len == 1);
	CU_ASSERT(in->desc[3].inflight == 1 && in->desc[3].counter == 103);
	CU_ASSERT(osp_vring_pop_head(&vq, order[1], &req) == 1 && req.id == 1);
	/* Nothing new in the avail ring: the resubmitted heads are not popped twice. */
	CU_ASSERT(osp_vring_pop(&vq, &req) == 0);
	/* Bounds: a head at or above the ring size is refused, the ring is not broken. */
	CU_ASSERT(osp_vring_pop_head(&vq, 8, &req) == -EINVAL);
	CU_ASSERT(osp_vring_pop_head(&vq, 0xffff, &req) == -EINVAL);
	CU_ASSERT(!vq.broken);
	/* A resubmitted chain that is bad is a bad request like any other. */
	sdesc(d.desc, 6, GPA_C + REG_SIZE + 0x1000, 16, 0, 0);
	CU_ASSERT(osp_vring_pop_head(&vq, 6, &req) == 1 && req.id == 6 && req.error == -EFAULT);
	req.id = 6;
	osp_vring_push(&vq, &req, 0);
	CU_ASSERT(in->desc[6].inflight == 0);
	CU_ASSERT(split_used_get(&d, &id, &len) && id == 6);

	/* A burst push with tracking: every flag cleared, used_idx follows used->idx. */
	for (i = 0; i < 3; i++) {
		reqs[i].iov = iovs[i];
		reqs[i].iov_max = NIOV;
	}
	split_post(&d, 5);
	CU_ASSERT(osp_vring_pop_burst(&vq, reqs, 3) == 1 && reqs[0].id == 5);
	CU_ASSERT(in->desc[5].inflight == 1 && in->desc[5].counter == 106);
	reqs[1] = reqs[0];
	reqs[1].id = 3;
	reqs[2] = reqs[0];
	reqs[2].id = 1;
	osp_vring_push_burst(&vq, reqs, lens, 3);
	CU_ASSERT(d.used->idx == 5 && in->used_idx == 5);
	CU_ASSERT(in->last_batch_head == 1);
	for (i = 0; i < 8; i++) {
		CU_ASSERT(in->desc[i].inflight == 0);
	}
	CU_ASSERT(split_used_get(&d, &id, &len) && id == 5);
	CU_ASSERT(split_used_get(&d, &id, &len) && id == 3);
	CU_ASSERT(split_used_get(&d, &id, &len) && id == 1);

	/* Broken ring: pop_head says so too. */
	vq.broken = true;
	CU_ASSERT(osp_vring_pop_head(&vq, 1, &req) == -EIO);
	free(in);
}

/* ---- inflight tracking and resubmission (packed) ---- */

static struct osp_vring_inflight_packed *
pinflight_region(uint16_t n)
{
	size_t sz = (OSP_VRING_INFLIGHT_PACKED_SIZE(n) + 63) & ~(size_t)63;
	struct osp_vring_inflight_packed *r = aligned_alloc(64, sz);

	CU_ASSERT_FATAL(r != NULL);
	memset(r, 0, sz);
	r->desc_num = n;
	return r;
}

static void
packed_pop_ok(struct osp_vring *vq, struct osp_vring_req *req, uint16_t id, uint16_t ndescs)
{
	CU_ASSERT(osp_vring_pop(vq, req) == 1);
	CU_ASSERT(req->error == 0 && req->id == id && req->ndescs == ndescs);
}

/* Entries on the free list, walked as the region links them. */
static int
pin_free_count(const struct osp_vring_inflight_packed *in, uint16_t nent)
{
	int n = 0;

	for (uint16_t i = in->free_head; i < nent && n <= nent; i = in->desc[i].next) {
		n++;
	}
	return n;
}

static void
test_packed_inflight(void)
{
	struct osp_vring_inflight_packed *in = pinflight_region(8);
	struct osp_vring_resubmit rs[8];
	struct packed_drv d;
	struct osp_vring vq;
	struct iovec iov[4][NIOV];
	struct osp_vring_req r[4];
	struct pd c3[3] = { { GPA_BUF, 16, 0 }, { GPA_BUF + 0x1000, 4096, VIRTQ_DESC_F_WRITE },
			    { GPA_BUF + 0x3000, 1, VIRTQ_DESC_F_WRITE } };
	struct pd a2[2] = { { GPA_BUF + 0x100, 16, 0 }, { GPA_B + 0x100, 0x200, VIRTQ_DESC_F_WRITE } };
	struct pd c1 = { GPA_BUF + 0x400, 16, 0 };
	struct pd dd = { GPA_BUF + 0x500, 16, 0 };
	uint16_t id, slot_a, slot_c, saved_ofh, saved_oui;
	uint8_t saved_ow;
	uint32_t len;
	int i;

	for (i = 0; i < 4; i++) {
		r[i].iov = iov[i];
		r[i].iov_max = NIOV;
	}
	packed_setup(&d, &vq, 8, F_IND);
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 4, false, NULL, 0) == -EINVAL);
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, (void *)((uint8_t *)in + 4), 8, false, NULL,
						0) == -EINVAL);
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, false, NULL, 0) == 0);
	CU_ASSERT(in->version == 1 && in->free_head == 0 && in->used_wrap_counter == 1 &&
		  in->old_used_wrap_counter == 1 && pin_free_count(in, 8) == 8);

	/* Two chains of 3 taken and completed: the ring is at slot 6 of its first lap. */
	packed_post(&d, c3, 3, 0, true);
	packed_post(&d, c3, 3, 5, true);
	packed_pop_ok(&vq, &r[0], 0, 3);
	CU_ASSERT(in->desc[r[0].slot].inflight == 1 && in->desc[r[0].slot].num == 3 &&
		  in->desc[r[0].slot].counter == 0);
	CU_ASSERT(in->desc[in->desc[r[0].slot].last].addr == GPA_BUF + 0x3000);
	packed_pop_ok(&vq, &r[1], 5, 3);
	CU_ASSERT(in->desc[r[1].slot].counter == 1 && pin_free_count(in, 8) == 2);
	osp_vring_push(&vq, &r[1], 1);
	osp_vring_push(&vq, &r[0], 1);
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 5);
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 0);
	CU_ASSERT(pin_free_count(in, 8) == 8 && in->used_idx == 6 && in->old_used_idx == 6);

	/* A (2 descriptors, slots 6-7), B (3, slots 0-2 of lap 2), C (1, slot 3): in flight. */
	packed_post(&d, a2, 2, 1, true);
	packed_post(&d, c3, 3, 2, true);
	packed_post(&d, &c1, 1, 3, true);
	packed_pop_ok(&vq, &r[0], 1, 2);
	packed_pop_ok(&vq, &r[1], 2, 3);
	packed_pop_ok(&vq, &r[2], 3, 1);
	slot_a = r[0].slot;
	slot_c = r[2].slot;
	CU_ASSERT(in->desc[slot_a].inflight == 1 && in->desc[slot_a].counter == 2 &&
		  in->desc[slot_a].num == 2 && in->desc[slot_a].id == 1 &&
		  in->desc[slot_a].addr == GPA_BUF + 0x100 &&
		  (in->desc[slot_a].flags & VIRTQ_DESC_F_NEXT));
	CU_ASSERT(in->desc[in->desc[slot_a].last].addr == GPA_B + 0x100 &&
		  in->desc[in->desc[slot_a].last].len == 0x200);
	CU_ASSERT(in->desc[r[1].slot].counter == 3 && in->desc[slot_c].counter == 4);
	CU_ASSERT(pin_free_count(in, 8) == 2);

	/* B completes first: its used descriptor at slot 6, the used position wraps to slot 1. */
	osp_vring_push(&vq, &r[1], 7);
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 2 && len == 7);
	CU_ASSERT(in->used_idx == 1 && in->used_wrap_counter == 0 && in->old_used_idx == 1 &&
		  in->old_used_wrap_counter == 0 && in->desc[r[1].slot].inflight == 0);

	/*
	 * C completes and the back end dies after publishing its used descriptor
	 * (slot 1) but before clearing its flag and the old_* fields: the
	 * reconnect must commit it (the driver saw it).
	 */
	saved_ofh = in->old_free_head;
	saved_oui = in->old_used_idx;
	saved_ow = in->old_used_wrap_counter;
	osp_vring_push(&vq, &r[2], 9);
	in->desc[slot_c].inflight = 1;
	in->old_free_head = saved_ofh;
	in->old_used_idx = saved_oui;
	in->old_used_wrap_counter = saved_ow;

	/* Reconnect: the front end (QEMU) gives the stale start position 0x8000 / 0x8000. */
	CU_ASSERT_FATAL(osp_vring_init_packed(&vq, &g_mem, 8, d.desc, d.drv_ev, d.dev_ev,
					      F_IND | (1ull << OSP_VIRTIO_F_RING_PACKED),
					      0x8000, 0x8000) == 0);
	CU_ASSERT(osp_vring_inflight_packed_recover(in, 8, d.desc, 8) == 0);
	CU_ASSERT(in->used_idx == 2 && in->used_wrap_counter == 0 && in->old_used_idx == 2);
	CU_ASSERT(in->desc[slot_c].inflight == 0);	/* committed: on the free list, cleared */
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, true, rs, 8) == 1);
	CU_ASSERT(rs[0].slot == slot_a);
	/* Resume at used slot 2 (lap 0), avail after A's two slots: slot 4. */
	CU_ASSERT(osp_vring_last_used(&vq) == 2 && osp_vring_last_avail(&vq) == 4);
	CU_ASSERT(osp_vring_pop_head(&vq, slot_a, &r[0]) == 1);
	CU_ASSERT(r[0].error == 0 && r[0].id == 1 && r[0].ndescs == 2 && r[0].out_cnt == 1 &&
		  r[0].in_cnt == 1 && r[0].in_len == 0x200);
	CU_ASSERT(iov[0][0].iov_base == hva(GPA_BUF + 0x100) && iov[0][1].iov_base == hva(GPA_B + 0x100));
	CU_ASSERT(osp_vring_pop_head(&vq, 8, &r[1]) == -EINVAL);
	/* D, made available after the reconnect, comes from the ring, once; then nothing. */
	CU_ASSERT(osp_vring_pop(&vq, &r[1]) == 0);
	packed_post(&d, &dd, 1, 4, true);
	packed_pop_ok(&vq, &r[3], 4, 1);
	CU_ASSERT(in->desc[r[3].slot].counter == 3);
	CU_ASSERT(osp_vring_pop(&vq, &r[1]) == 0);
	/* The driver: C (written before the crash), then D and A, each once. */
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 3 && len == 9);
	osp_vring_push(&vq, &r[3], 1);
	osp_vring_push(&vq, &r[0], 2);
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 4);
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 1 && len == 2);
	CU_ASSERT(!packed_used_get(&d, &id, &len));
	for (i = 0; i < 8; i++) {
		CU_ASSERT(in->desc[i].inflight == 0);
	}
	CU_ASSERT(pin_free_count(in, 8) == 8);
	CU_ASSERT(in->used_idx == 5 && in->used_wrap_counter == 0);

	/*
	 * Rolled back: E popped, its push moved used_idx but died before the used
	 * descriptor was written: E is resubmitted and its used entry written once.
	 */
	packed_post(&d, &c1, 1, 6, true);
	packed_pop_ok(&vq, &r[0], 6, 1);
	{
		struct pvirtq_desc before = d.desc[5];

		osp_vring_push(&vq, &r[0], 3);
		d.desc[5] = before;	/* the descriptor never reached the ring */
		in->desc[r[0].slot].inflight = 1;
		in->old_free_head = in->desc[r[0].slot].next;
		in->old_used_idx = 5;
	}
	CU_ASSERT(osp_vring_inflight_packed_recover(in, 8, d.desc, 8) == 0);
	CU_ASSERT(in->used_idx == 5 && in->free_head == in->old_free_head);
	CU_ASSERT_FATAL(osp_vring_init_packed(&vq, &g_mem, 8, d.desc, d.drv_ev, d.dev_ev,
					      1ull << OSP_VIRTIO_F_RING_PACKED, 0x8000, 0x8000) == 0);
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, true, rs, 8) == 1);
	CU_ASSERT(osp_vring_last_used(&vq) == 5 && osp_vring_last_avail(&vq) == 6);
	CU_ASSERT(osp_vring_pop_head(&vq, rs[0].slot, &r[0]) == 1 && r[0].id == 6);
	osp_vring_push(&vq, &r[0], 3);
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 6 && len == 3);
	CU_ASSERT(!packed_used_get(&d, &id, &len));

	/*
	 * A pop not finished at the crash (copies written, the head flagged, but
	 * old_free_head not moved): rolled back, F comes from the ring again.
	 */
	saved_ofh = in->free_head;
	packed_post(&d, &c1, 1, 10, true);
	packed_pop_ok(&vq, &r[0], 10, 1);
	CU_ASSERT(in->desc[r[0].slot].inflight == 1 && r[0].slot == saved_ofh);
	in->free_head = saved_ofh;
	in->old_free_head = saved_ofh;
	CU_ASSERT(osp_vring_inflight_packed_recover(in, 8, d.desc, 8) == 0);
	CU_ASSERT(in->desc[saved_ofh].inflight == 0);
	CU_ASSERT_FATAL(osp_vring_init_packed(&vq, &g_mem, 8, d.desc, d.drv_ev, d.dev_ev,
					      1ull << OSP_VIRTIO_F_RING_PACKED, 0x8000, 0x8000) == 0);
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, true, rs, 8) == 0);
	CU_ASSERT(osp_vring_last_used(&vq) == 6 && osp_vring_last_avail(&vq) == 6);
	packed_pop_ok(&vq, &r[0], 10, 1);
	osp_vring_push(&vq, &r[0], 0);
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 10);
	CU_ASSERT(pin_free_count(in, 8) == 8);

	/* Wrap counters across many laps with tracking: the free list never leaks. */
	for (i = 0; i < 300; i++) {
		packed_post(&d, c3, 3, 7, true);
		packed_post(&d, &c1, 1, 9, true);
		packed_pop_ok(&vq, &r[0], 7, 3);
		packed_pop_ok(&vq, &r[1], 9, 1);
		osp_vring_push(&vq, &r[1], 0);
		osp_vring_push(&vq, &r[0], 0);
		CU_ASSERT(packed_used_get(&d, &id, &len) && id == 9);
		CU_ASSERT(packed_used_get(&d, &id, &len) && id == 7);
	}
	CU_ASSERT(pin_free_count(in, 8) == 8 && in->used_idx == (osp_vring_last_used(&vq) & 0x7fff));

	/* A scribbled region: inconsistent chains are refused, a bad free list stops tracking. */
	in->desc[2].inflight = 1;
	in->desc[2].num = 0;
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, true, rs, 8) == -EBADMSG);
	in->desc[2].num = 3;
	in->desc[2].next = 200;
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, true, rs, 8) == -EBADMSG);
	in->desc[2].num = 9;
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, true, rs, 8) == -EBADMSG);
	in->desc[2].inflight = 0;
	in->desc[2].next = 3;
	in->free_head = 0xfff0;
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, true, rs, 8) == 0);
	packed_post(&d, &c1, 1, 9, true);
	packed_pop_ok(&vq, &r[0], 9, 1);
	CU_ASSERT(vq.pinflight == NULL && vq.pinflight_lost);
	osp_vring_push(&vq, &r[0], 0);
	CU_ASSERT(packed_used_get(&d, &id, &len) && id == 9);
	/* Recovery bounds: a free list that loops, indexes out of range. */
	for (i = 0; i < 8; i++) {
		in->desc[i].next = (uint16_t)i;
		in->desc[i].inflight = 1;
	}
	in->old_free_head = 3;
	in->old_used_idx = 0xffff;
	CU_ASSERT(osp_vring_inflight_packed_recover(in, 8, d.desc, 8) == 0);
	CU_ASSERT(in->desc[3].inflight == 0 && in->used_idx == 0xffff);
	CU_ASSERT(osp_vring_set_inflight_packed(&vq, in, 8, true, rs, 8) == -EBADMSG);
	CU_ASSERT(osp_vring_inflight_packed_recover(NULL, 8, d.desc, 8) == -EINVAL);
	free(in);
}

static void
test_packed_no_head_pop(void)
{
	struct osp_vring vq;
	struct osp_vring_inflight_split *in = inflight_region(8);
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };

	CU_ASSERT_FATAL(osp_vring_init_packed(&vq, &g_mem, 8, hva(GPA_DESC), hva(GPA_AVAIL),
					      hva(GPA_USED), 0, 0x8000, 0x8000) == 0);
	CU_ASSERT(osp_vring_pop_head(&vq, 0, &req) == -ENOTSUP);
	CU_ASSERT(osp_vring_set_inflight(&vq, in, 8, 0) == -ENOTSUP);
	free(in);
}

/* ---- timing ---- */

static void
test_perf(void)
{
	struct split_drv d;
	struct packed_drv p;
	struct osp_vring vq;
	struct iovec iov[NIOV];
	struct osp_vring_req req = { .iov = iov, .iov_max = NIOV };
	struct timespec t0, t1;
	const int iters = 200000;
	int i, ndesc;

	for (ndesc = 1; ndesc <= 3; ndesc++) {
		double ns;

		split_setup(&d, &vq, 256, F_IND | F_EVT, 0);
		for (i = 0; i < 256; i++) {
			uint16_t h = (uint16_t)i;

			/* ndesc == 1..3 at heads spread over the table (own next fields). */
			sdesc(d.desc, h, GPA_BUF, 16, 0, 0);
		}
		if (ndesc > 1) {
			for (i = 0; i < 256; i += 4) {
				sdesc(d.desc, (uint16_t)i, GPA_BUF, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
				sdesc(d.desc, (uint16_t)(i + 1), GPA_BUF + 0x1000, 4096,
				      (uint16_t)(VIRTQ_DESC_F_WRITE | (ndesc > 2 ? VIRTQ_DESC_F_NEXT : 0)),
				      (uint16_t)(i + 2));
				sdesc(d.desc, (uint16_t)(i + 2), GPA_BUF + 0x40, 1, VIRTQ_DESC_F_WRITE, 0);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < iters; i++) {
			uint16_t h = (uint16_t)((i * 4) & 255);

			split_post(&d, h);
			osp_vring_pop(&vq, &req);
			osp_vring_push(&vq, &req, 1);
			(void)osp_vring_need_notify(&vq);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CU_ASSERT(req.error == 0 && req.out_cnt + req.in_cnt == ndesc);
		ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / iters;
		printf("\n  split  %d-descriptor chain: post+pop+push+need_notify %.1f ns", ndesc, ns);

		/* The same with inflight tracking (vhost-user INFLIGHT_SHMFD). */
		{
			struct osp_vring_inflight_split *in = inflight_region(256);
			uint16_t last_avail = osp_vring_last_avail(&vq);

			CU_ASSERT_FATAL(osp_vring_init_split(&vq, &g_mem, 256, d.desc, d.avail, d.used,
							     F_IND | F_EVT, last_avail,
							     osp_vring_last_used(&vq)) == 0);
			CU_ASSERT_FATAL(osp_vring_set_inflight(&vq, in, 256, 0) == 0);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (i = 0; i < iters; i++) {
				uint16_t h = (uint16_t)((i * 4) & 255);

				split_post(&d, h);
				osp_vring_pop(&vq, &req);
				osp_vring_push(&vq, &req, 1);
				(void)osp_vring_need_notify(&vq);
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			CU_ASSERT(req.error == 0 && in->desc[req.id].inflight == 0 &&
				  in->used_idx == osp_vring_last_used(&vq));
			ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
			      (double)(t1.tv_nsec - t0.tv_nsec)) / iters;
			printf("\n  split  %d-descriptor chain, inflight tracked: post+pop+push+need_notify %.1f ns",
			       ndesc, ns);
			vq.inflight = NULL;
			free(in);
		}

		/* Device side alone, the poller's way: bursts of 32 popped, pushed, one notify check. */
		{
			struct iovec biov[32][4];
			struct osp_vring_req breqs[32];
			uint32_t blens[32];
			double total = 0;
			int round, k;

			for (k = 0; k < 32; k++) {
				breqs[k] = (struct osp_vring_req){ .iov = biov[k], .iov_max = 4 };
				blens[k] = 1;
			}
			for (round = 0; round < iters / 64; round++) {
				for (k = 0; k < 64; k++) {
					split_post(&d, (uint16_t)((k * 4) & 255));
				}
				clock_gettime(CLOCK_MONOTONIC, &t0);
				for (k = 0; k < 2; k++) {
					int got = osp_vring_pop_burst(&vq, breqs, 32);

					osp_vring_push_burst(&vq, breqs, blens, got);
					(void)osp_vring_need_notify(&vq);
				}
				clock_gettime(CLOCK_MONOTONIC, &t1);
				total += (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
			}
			CU_ASSERT(breqs[31].error == 0 && breqs[31].out_cnt + breqs[31].in_cnt == ndesc);
			CU_ASSERT(!osp_vring_has_avail(&vq));
			printf("\n  split  %d-descriptor chain: device only, bursts of 32: %.1f ns per request",
			       ndesc, total / (double)(iters / 64 * 64));
		}

		packed_setup(&p, &vq, 256, F_IND | F_EVT);
		{
			struct pd c[3] = { { GPA_BUF, 16, 0 }, { GPA_BUF + 0x1000, 4096, VIRTQ_DESC_F_WRITE },
				{ GPA_BUF + 0x40, 1, VIRTQ_DESC_F_WRITE } };
			uint16_t id;
			uint32_t len;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (i = 0; i < iters; i++) {
				packed_post(&p, c, ndesc, 0, true);
				osp_vring_pop(&vq, &req);
				osp_vring_push(&vq, &req, 1);
				(void)osp_vring_need_notify(&vq);
				(void)packed_used_get(&p, &id, &len);
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			CU_ASSERT(req.error == 0 && req.out_cnt + req.in_cnt == ndesc);
		}
		ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / iters;
		printf("\n  packed %d-descriptor chain: post+pop+push+need_notify %.1f ns", ndesc, ns);

		/* The same with packed inflight tracking (descriptors copied into the region). */
		{
			struct osp_vring_inflight_packed *in = pinflight_region(256);
			struct pd c[3] = { { GPA_BUF, 16, 0 }, { GPA_BUF + 0x1000, 4096, VIRTQ_DESC_F_WRITE },
				{ GPA_BUF + 0x40, 1, VIRTQ_DESC_F_WRITE } };
			uint16_t id;
			uint32_t len;

			packed_setup(&p, &vq, 256, F_IND | F_EVT);
			CU_ASSERT_FATAL(osp_vring_set_inflight_packed(&vq, in, 256, false, NULL, 0) == 0);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (i = 0; i < iters; i++) {
				packed_post(&p, c, ndesc, 0, true);
				osp_vring_pop(&vq, &req);
				osp_vring_push(&vq, &req, 1);
				(void)osp_vring_need_notify(&vq);
				(void)packed_used_get(&p, &id, &len);
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			CU_ASSERT(req.error == 0 && in->desc[req.slot].inflight == 0 &&
				  in->used_idx == (osp_vring_last_used(&vq) & 0x7fff) &&
				  pin_free_count(in, 256) == 256);
			ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
			      (double)(t1.tv_nsec - t0.tv_nsec)) / iters;
			printf("\n  packed %d-descriptor chain, inflight tracked: post+pop+push+need_notify %.1f ns",
			       ndesc, ns);
			vq.pinflight = NULL;
			free(in);
		}
	}
	printf("\n");
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("vring", suite_init, suite_fini);
	CU_ADD_TEST(suite, test_mem_init);
	CU_ADD_TEST(suite, test_mem_translate);
	CU_ADD_TEST(suite, test_split_blk_chain);
	CU_ADD_TEST(suite, test_split_indirect);
	CU_ADD_TEST(suite, test_split_bad_requests);
	CU_ADD_TEST(suite, test_split_broken);
	CU_ADD_TEST(suite, test_split_notify);
	CU_ADD_TEST(suite, test_split_wrap_burst);
	CU_ADD_TEST(suite, test_packed_basic);
	CU_ADD_TEST(suite, test_packed_bad);
	CU_ADD_TEST(suite, test_packed_wrap);
	CU_ADD_TEST(suite, test_packed_notify);
	CU_ADD_TEST(suite, test_split_inflight);
	CU_ADD_TEST(suite, test_packed_inflight);
	CU_ADD_TEST(suite, test_packed_no_head_pop);
	CU_ADD_TEST(suite, test_perf);
	return ut_run_suites();
}
