/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the RDMA memory map (lib/rdma/mem_map.c compiled in) over a
 * fake env (the test sends the memory events) and a fake ibv_reg_mr /
 * ibv_dereg_mr that record every region, so the test checks which memory is
 * registered at each step and that nothing stays registered at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "rdma/mem_map.c"

#include "ut_run.h"

/* ---------------------------------------------------------------- fake env */

#define MAX_SUBS 4
static struct {
	osp_mem_event_cb cb;
	void *ctx;
} g_subs[MAX_SUBS];
/* What the env "owns" now: replayed to a new subscriber. */
#define MAX_ENV 16
static struct {
	uintptr_t start;
	size_t len;
} g_env[MAX_ENV];
static int g_env_n;
static int g_subscribers;

int
osp_mem_event_register(osp_mem_event_cb cb, void *ctx)
{
	int i;

	for (i = 0; i < g_env_n; i++) {
		cb(ctx, true, (void *)g_env[i].start, g_env[i].len);
	}
	for (i = 0; i < MAX_SUBS; i++) {
		if (g_subs[i].cb == NULL) {
			g_subs[i].cb = cb;
			g_subs[i].ctx = ctx;
			g_subscribers++;
			return 0;
		}
	}
	return -ENOMEM;
}

void
osp_mem_event_unregister(osp_mem_event_cb cb, void *ctx)
{
	int i;

	for (i = 0; i < MAX_SUBS; i++) {
		if (g_subs[i].cb == cb && g_subs[i].ctx == ctx) {
			g_subs[i].cb = NULL;
			g_subscribers--;
		}
	}
}

static void
env_event(bool added, uintptr_t start, size_t len)
{
	int i;

	for (i = 0; i < MAX_SUBS; i++) {
		if (g_subs[i].cb != NULL) {
			g_subs[i].cb(g_subs[i].ctx, added, (void *)start, len);
		}
	}
}

/* ---------------------------------------------------------------- fake verbs */

#define MAX_MR 64
struct fake_mr {
	struct ibv_mr mr;
	bool used;
};
static struct fake_mr g_mrs[MAX_MR];
static uint32_t g_next_key = 100;
static int g_reg_calls;
static int g_reg_fail;	/* fail the next registrations */

#undef ibv_reg_mr
struct ibv_mr *
ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access)
{
	int i;

	g_reg_calls++;
	CU_ASSERT(access == MM_ACCESS);
	if (g_reg_fail > 0) {
		g_reg_fail--;
		errno = EFAULT;
		return NULL;
	}
	for (i = 0; i < MAX_MR; i++) {
		if (!g_mrs[i].used) {
			memset(&g_mrs[i], 0, sizeof(g_mrs[i]));
			g_mrs[i].used = true;
			g_mrs[i].mr.pd = pd;
			g_mrs[i].mr.addr = addr;
			g_mrs[i].mr.length = length;
			g_mrs[i].mr.lkey = g_next_key++;
			g_mrs[i].mr.rkey = g_next_key++ | 0x10000;
			return &g_mrs[i].mr;
		}
	}
	errno = ENOMEM;
	return NULL;
}

struct ibv_mr *
ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova, unsigned int access)
{
	CU_FAIL("the map registers with constant access flags: ibv_reg_mr, not iova2");
	return NULL;
}

int
ibv_dereg_mr(struct ibv_mr *mr)
{
	struct fake_mr *f = (struct fake_mr *)mr;

	CU_ASSERT_FATAL(f >= g_mrs && f < g_mrs + MAX_MR && f->used);
	f->used = false;
	return 0;
}

static int
mrs_registered(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_MR; i++) {
		n += g_mrs[i].used;
	}
	return n;
}

/* The registered region with this lkey, or NULL. */
static struct ibv_mr *
mr_of(uint32_t lkey)
{
	int i;

	for (i = 0; i < MAX_MR; i++) {
		if (g_mrs[i].used && g_mrs[i].mr.lkey == lkey) {
			return &g_mrs[i].mr;
		}
	}
	return NULL;
}

/* Translate and check that the keys name a live region that holds the range. */
static int
xlate(struct osp_rdma_mem_map *map, uintptr_t a, size_t len, uint32_t *lkey_out)
{
	uint32_t lkey = 0, rkey = 0;
	struct ibv_mr *mr;
	int rc = osp_rdma_mem_translate(map, (void *)a, len, &lkey, &rkey);

	if (rc != 0) {
		return rc;
	}
	mr = mr_of(lkey);
	CU_ASSERT_FATAL(mr != NULL);
	CU_ASSERT(mr->rkey == rkey);
	CU_ASSERT((uintptr_t)mr->addr <= a && a + len <= (uintptr_t)mr->addr + mr->length);
	if (lkey_out != NULL) {
		*lkey_out = lkey;
	}
	return 0;
}

#define MB (1024ul * 1024)
#define BASE ((uintptr_t)0x200000000ul)

static void
reset(void)
{
	g_env_n = 0;
	g_reg_fail = 0;
	g_reg_calls = 0;
	CU_ASSERT(mrs_registered() == 0);
	CU_ASSERT(g_subscribers == 0);
}

static void
env_add(uintptr_t start, size_t len)
{
	g_env[g_env_n].start = start;
	g_env[g_env_n].len = len;
	g_env_n++;
}

/* ---------------------------------------------------------------- tests */

static void
test_replay_translate_refcount(void)
{
	struct ibv_pd *pd = (struct ibv_pd *)0x1000, *pd2 = (struct ibv_pd *)0x2000;
	struct osp_rdma_mem_map *map, *again, *other;
	uint32_t k1, k2, lkey, rkey;

	reset();
	env_add(BASE, 8 * MB);
	env_add(BASE + 64 * MB, 4 * MB);
	map = osp_rdma_mem_map_get(pd);
	CU_ASSERT_FATAL(map != NULL);
	CU_ASSERT(mrs_registered() == 2);
	CU_ASSERT(xlate(map, BASE, 4096, &k1) == 0);
	CU_ASSERT(xlate(map, BASE + 8 * MB - 4096, 4096, NULL) == 0);
	CU_ASSERT(xlate(map, BASE, 8 * MB, NULL) == 0);
	CU_ASSERT(xlate(map, BASE + 64 * MB + 12345, 1000, &k2) == 0);
	CU_ASSERT(k1 != k2);
	/* Outside, across the end, empty, wrapping. */
	CU_ASSERT(xlate(map, BASE - 1, 2, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + 8 * MB - 4096, 4097, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + 8 * MB, 1, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + 32 * MB, 512, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + 68 * MB, 1, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE, 0, NULL) == -EINVAL);
	CU_ASSERT(osp_rdma_mem_translate(map, (void *)(UINTPTR_MAX - 10), 100, &lkey, &rkey) == -EINVAL);
	CU_ASSERT(osp_rdma_mem_translate(NULL, (void *)BASE, 100, &lkey, &rkey) == -EINVAL);

	/* One map per pd, counted. */
	again = osp_rdma_mem_map_get(pd);
	CU_ASSERT(again == map);
	CU_ASSERT(mrs_registered() == 2);
	other = osp_rdma_mem_map_get(pd2);
	CU_ASSERT_FATAL(other != NULL && other != map);
	CU_ASSERT(mrs_registered() == 4);
	osp_rdma_mem_map_put(other);
	CU_ASSERT(mrs_registered() == 2);
	osp_rdma_mem_map_put(again);
	CU_ASSERT(mrs_registered() == 2);
	CU_ASSERT(xlate(map, BASE, 4096, NULL) == 0);
	osp_rdma_mem_map_put(map);
	CU_ASSERT(mrs_registered() == 0);
	CU_ASSERT(g_subscribers == 0);
	CU_ASSERT(osp_rdma_mem_map_get(NULL) == NULL);
}

static void
test_add_adjacent_spans_boundary(void)
{
	struct osp_rdma_mem_map *map;
	uint32_t ka, kb, k;

	reset();
	map = osp_rdma_mem_map_get((struct ibv_pd *)0x1000);
	CU_ASSERT_FATAL(map != NULL);
	CU_ASSERT(mrs_registered() == 0);
	CU_ASSERT(xlate(map, BASE, 1, NULL) == -EINVAL);

	/* A heap growing 2 MiB at a time: A, then B right after it, then C before A. */
	env_event(true, BASE + 4 * MB, 2 * MB);
	CU_ASSERT(xlate(map, BASE + 4 * MB, 4096, &ka) == 0);
	env_event(true, BASE + 6 * MB, 2 * MB);
	CU_ASSERT(xlate(map, BASE + 6 * MB, 4096, &kb) == 0);
	CU_ASSERT(mrs_registered() == 2);
	/* A buffer the heap put across A|B: inside B's region, which reaches into A. */
	CU_ASSERT(xlate(map, BASE + 6 * MB - 8192, 128 * 1024, &k) == 0);
	CU_ASSERT(k == kb);
	/* ... up to SPAN bytes into A. */
	CU_ASSERT(xlate(map, BASE + 4 * MB, 2 * MB + 4096, NULL) == 0);
	CU_ASSERT(xlate(map, BASE + 4 * MB - 1, 2, NULL) == -EINVAL);
	env_event(true, BASE + 2 * MB, 2 * MB);
	CU_ASSERT(xlate(map, BASE + 4 * MB - 4096, 8192, NULL) == 0);
	CU_ASSERT(xlate(map, BASE + 3 * MB, 2 * MB, NULL) == 0);
	/* More than one boundary and more than SPAN: not one registration. */
	CU_ASSERT(xlate(map, BASE + 3 * MB, 4 * MB, NULL) == -EINVAL);
	osp_rdma_mem_map_put(map);
	CU_ASSERT(mrs_registered() == 0);
}

static void
test_free_part_and_stale(void)
{
	struct osp_rdma_mem_map *map;
	uint32_t k_old, k_left, k_right, k;
	int regs;

	reset();
	env_add(BASE, 16 * MB);
	map = osp_rdma_mem_map_get((struct ibv_pd *)0x1000);
	CU_ASSERT_FATAL(map != NULL);
	CU_ASSERT(xlate(map, BASE + MB, 4096, &k_old) == 0);

	/* The env frees the middle: the old region is stale (still registered for
	 * work requests posted on the live parts), the parts get new ones. */
	env_event(false, BASE + 4 * MB, 4 * MB);
	CU_ASSERT(xlate(map, BASE + 5 * MB, 4096, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + 4 * MB - 1, 2, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + MB, 4096, &k_left) == 0);
	CU_ASSERT(xlate(map, BASE + 12 * MB, 4096, &k_right) == 0);
	CU_ASSERT(k_left != k_old && k_right != k_old && k_left != k_right);
	CU_ASSERT(mr_of(k_old) != NULL);
	CU_ASSERT(mrs_registered() == 3);

	/* Mapped again: a fresh region; the stale one never translates again. */
	env_event(true, BASE + 4 * MB, 4 * MB);
	CU_ASSERT(xlate(map, BASE + 5 * MB, 4096, &k) == 0);
	CU_ASSERT(k != k_old);
	CU_ASSERT(xlate(map, BASE + MB, 4096, &k) == 0 && k == k_left);

	/* Everything freed, in two events: all regions go, the stale one too. */
	env_event(false, BASE, 6 * MB);
	CU_ASSERT(xlate(map, BASE + MB, 4096, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + 7 * MB, 4096, NULL) == 0);
	CU_ASSERT(mr_of(k_left) == NULL);
	env_event(false, BASE + 6 * MB, 10 * MB);
	CU_ASSERT(mrs_registered() == 0);
	CU_ASSERT(xlate(map, BASE + 7 * MB, 4096, NULL) == -EINVAL);

	/* A free across two ranges at once, and of memory never added (ignored). */
	env_event(true, BASE, 2 * MB);
	env_event(true, BASE + 2 * MB, 2 * MB);
	env_event(true, BASE + 8 * MB, 2 * MB);
	env_event(false, BASE + 20 * MB, 2 * MB);
	CU_ASSERT(xlate(map, BASE + 8 * MB, 4096, NULL) == 0);
	regs = g_reg_calls;
	env_event(false, BASE + MB, 2 * MB);
	CU_ASSERT(g_reg_calls == regs + 2);
	CU_ASSERT(xlate(map, BASE, 4096, NULL) == 0);
	CU_ASSERT(xlate(map, BASE + MB, 4096, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + 3 * MB, 4096, NULL) == 0);
	CU_ASSERT(xlate(map, BASE + MB - 4096, MB + 8192, NULL) == -EINVAL);
	osp_rdma_mem_map_put(map);
	CU_ASSERT(mrs_registered() == 0);
}

static void
test_registration_failure(void)
{
	struct osp_rdma_mem_map *map;

	reset();
	env_add(BASE, 8 * MB);
	env_add(BASE + 64 * MB, 4 * MB);
	g_reg_fail = 1;
	CU_ASSERT(osp_rdma_mem_map_get((struct ibv_pd *)0x1000) == NULL);
	CU_ASSERT(mrs_registered() == 0);
	CU_ASSERT(g_subscribers == 0);

	/* A later failure leaves that range untranslatable, the rest working. */
	map = osp_rdma_mem_map_get((struct ibv_pd *)0x1000);
	CU_ASSERT_FATAL(map != NULL);
	g_reg_fail = 1;
	env_event(true, BASE + 128 * MB, 2 * MB);
	CU_ASSERT(xlate(map, BASE + 128 * MB, 4096, NULL) == -EINVAL);
	CU_ASSERT(xlate(map, BASE + 64 * MB, 4096, NULL) == 0);
	/* Freed and added again: registered this time. */
	env_event(false, BASE + 128 * MB, 2 * MB);
	env_event(true, BASE + 128 * MB, 2 * MB);
	CU_ASSERT(xlate(map, BASE + 128 * MB, 4096, NULL) == 0);
	osp_rdma_mem_map_put(map);
	CU_ASSERT(mrs_registered() == 0);
}

/* Many ranges: the lookup is a binary search over them, every one reachable. */
static void
test_many_ranges(void)
{
	struct osp_rdma_mem_map *map;
	int i;

	reset();
	map = osp_rdma_mem_map_get((struct ibv_pd *)0x1000);
	CU_ASSERT_FATAL(map != NULL);
	for (i = 0; i < 40; i++) {
		/* Every other 2 MiB slot, added out of order. */
		env_event(true, BASE + (uintptr_t)((i * 7) % 40) * 4 * MB, 2 * MB);
	}
	CU_ASSERT(mrs_registered() == 40);
	for (i = 0; i < 40; i++) {
		CU_ASSERT(xlate(map, BASE + (uintptr_t)i * 4 * MB + 100, 4000, NULL) == 0);
		CU_ASSERT(xlate(map, BASE + (uintptr_t)i * 4 * MB + 2 * MB, 1, NULL) == -EINVAL);
	}
	osp_rdma_mem_map_put(map);
	CU_ASSERT(mrs_registered() == 0);
}

UT_RUN_SUITE("rdma_mem_map",
	     CU_ADD_TEST(suite, test_replay_translate_refcount);
	     CU_ADD_TEST(suite, test_add_adjacent_spans_boundary);
	     CU_ADD_TEST(suite, test_free_part_and_stale);
	     CU_ADD_TEST(suite, test_registration_failure);
	     CU_ADD_TEST(suite, test_many_ranges);)
