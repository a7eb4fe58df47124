/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the vhost-user-blk request path (lib/vhost/vhost_blk.c)
 * without a guest or rte_vhost: hand-made chains over a fake guest memory,
 * the bdev calls stubbed (recording what was asked, completing at once).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhost/mem.c"
#include "vhost/vring.c"
#include "vhost/vhost_blk.c"
#include "ut_run.h"

/* ---- stubs ---- */
static int g_calls;
static int g_last_type;
static uint64_t g_lba, g_nblocks;
static struct iovec *g_iov;
static int g_iovcnt;
static bool g_success = true;
static bool g_supported = true;
static int g_released;
/* Deferred completion (g_defer): the callback is kept until the test fires it. */
static bool g_defer;
static osp_bdev_io_completion_cb g_defer_cb;
static void *g_defer_arg;
static int g_bdev_released;

static int
stub_io(int type, struct iovec *iov, int iovcnt, uint64_t lba, uint64_t n,
	osp_bdev_io_completion_cb cb, void *arg)
{
	g_calls++;
	g_last_type = type;
	g_iov = iov;
	g_iovcnt = iovcnt;
	g_lba = lba;
	g_nblocks = n;
	if (g_defer) {
		g_defer_cb = cb;
		g_defer_arg = arg;
		return 0;
	}
	cb((struct osp_bdev_io *)(uintptr_t)0x1, g_success, arg);
	return 0;
}

/* vhost_blk_ctrlr.c's part of a hot remove (the poll group lets go of its channel): counted here. */
void
vhost_blk_pg_release(struct vhost_pg *pg)
{
	struct vhost_blk_pg *bp = pg->be_ch;

	bp->ch = NULL;
	g_bdev_released++;
}

int
osp_bdev_readv_blocks(struct osp_bdev_desc *d, struct osp_io_channel *ch, struct iovec *iov,
		      int iovcnt, uint64_t lba, uint64_t n, osp_bdev_io_completion_cb cb, void *arg)
{
	(void)d;
	(void)ch;
	return stub_io(OSP_BDEV_IO_TYPE_READ, iov, iovcnt, lba, n, cb, arg);
}

int
osp_bdev_writev_blocks(struct osp_bdev_desc *d, struct osp_io_channel *ch, struct iovec *iov,
		       int iovcnt, uint64_t lba, uint64_t n, osp_bdev_io_completion_cb cb, void *arg)
{
	(void)d;
	(void)ch;
	return stub_io(OSP_BDEV_IO_TYPE_WRITE, iov, iovcnt, lba, n, cb, arg);
}

int
osp_bdev_unmap_blocks(struct osp_bdev_desc *d, struct osp_io_channel *ch, uint64_t lba,
		      uint64_t n, osp_bdev_io_completion_cb cb, void *arg)
{
	(void)d;
	(void)ch;
	return stub_io(OSP_BDEV_IO_TYPE_UNMAP, NULL, 0, lba, n, cb, arg);
}

int
osp_bdev_write_zeroes_blocks(struct osp_bdev_desc *d, struct osp_io_channel *ch, uint64_t lba,
			     uint64_t n, osp_bdev_io_completion_cb cb, void *arg)
{
	(void)d;
	(void)ch;
	return stub_io(OSP_BDEV_IO_TYPE_WRITE_ZEROES, NULL, 0, lba, n, cb, arg);
}

int
osp_bdev_flush_blocks(struct osp_bdev_desc *d, struct osp_io_channel *ch, uint64_t lba,
		      uint64_t n, osp_bdev_io_completion_cb cb, void *arg)
{
	(void)d;
	(void)ch;
	return stub_io(OSP_BDEV_IO_TYPE_FLUSH, NULL, 0, lba, n, cb, arg);
}

void
osp_bdev_free_io(struct osp_bdev_io *io)
{
	(void)io;
}

bool
osp_bdev_io_type_supported(struct osp_bdev *bdev, enum osp_bdev_io_type t)
{
	(void)bdev;
	(void)t;
	return g_supported;
}

uint32_t
osp_bdev_get_block_size(const struct osp_bdev *bdev)
{
	(void)bdev;
	return 4096;
}

uint64_t
osp_bdev_get_num_blocks(const struct osp_bdev *bdev)
{
	(void)bdev;
	return 1000;
}

/* What vhost.c does with a finished task, minus the call eventfd. */
void
vhost_task_complete(struct vhost_task *task, uint32_t used_len)
{
	struct vhost_queue *q = task->q;

	osp_vring_push(&q->vq, &task->req, used_len);
	q->free[q->nfree++] = task;
	g_released++;
}

/* ---- a fake guest: 1 MiB, ring of 8 at 0 / 0x1000 / 0x2000, data from 0x10000 ---- */
#define MEM_SIZE (1u << 20)
static uint8_t *g_guest;
static struct osp_vhost_mem g_mem;
static struct vhost_ctrlr g_ctrlr;
static struct vhost_blk_dev g_blk;
static struct vhost_task *g_free[8];
static struct vhost_pg g_pg;
static struct vhost_blk_pg g_bp;

static int
suite_init(void)
{
	struct osp_vhost_mem_region r;

	g_guest = aligned_alloc(4096, MEM_SIZE);
	if (g_guest == NULL) {
		return -1;
	}
	r = (struct osp_vhost_mem_region){ 0, MEM_SIZE, g_guest };
	return osp_vhost_mem_init(&g_mem, &r, 1);
}

static int
suite_fini(void)
{
	free(g_guest);
	return 0;
}

static struct vhost_blk_task g_task;

static void
setup(bool readonly, uint64_t features)
{
	struct vhost_queue *q = &g_ctrlr.queues[0];

	memset(g_guest, 0, MEM_SIZE);
	memset(&g_ctrlr, 0, sizeof(g_ctrlr));
	memset(&g_blk, 0, sizeof(g_blk));
	memset(&g_pg, 0, sizeof(g_pg));
	memset(&g_bp, 0, sizeof(g_bp));
	g_bp.ch = (struct osp_io_channel *)(uintptr_t)0x2;	/* the stubs never look at it */
	g_pg.be_ch = &g_bp;
	g_ctrlr.be = &g_blk;
	g_pg.ctrlr = &g_ctrlr;
	snprintf(g_blk.bdev_name, sizeof(g_blk.bdev_name), "Malloc0");
	g_blk.block_size = 4096;
	g_blk.num_blocks = 1000;
	g_blk.readonly = readonly;
	g_ctrlr.features = features;
	g_ctrlr.nqueues = 1;
	CU_ASSERT_FATAL(osp_vring_init_split(&q->vq, &g_mem, 8, g_guest, g_guest + 0x1000,
					     g_guest + 0x2000, 0, 0, 0) == 0);
	q->ctrlr = &g_ctrlr;
	q->pg = &g_pg;
	q->callfd = -1;
	q->ntasks = 8;
	q->free = g_free;
	q->nfree = 0;
	memset(&g_task, 0, sizeof(g_task));
	g_task.base.q = q;
	g_task.base.req.iov = g_task.base.iov;
	g_task.base.req.iov_max = VHOST_IOV_MAX;
	g_calls = 0;
	g_released = 0;
	g_success = true;
	g_supported = true;
	g_defer = false;
	g_bdev_released = 0;
}

/* A chain: header at 0x10000, data iovecs (out or in), status at 0x20000. */
static void
make_req(uint32_t type, uint64_t sector, bool data_in, const uint32_t *lens, int n)
{
	struct osp_vring_req *r = &g_task.base.req;
	uint8_t *hdr = g_guest + 0x10000;
	uint64_t off = 0x30000;
	int i = 0;

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	g_task.base.iov[i++] = (struct iovec){ hdr, 16 };
	r->out_len = 16;
	for (int k = 0; !data_in && k < n; k++, off += lens[k - 1]) {
		g_task.base.iov[i++] = (struct iovec){ g_guest + off, lens[k] };
		r->out_len += lens[k];
	}
	r->out_cnt = (uint16_t)i;
	r->in_len = 0;
	for (int k = 0; data_in && k < n; k++, off += lens[k - 1]) {
		g_task.base.iov[i++] = (struct iovec){ g_guest + off, lens[k] };
		r->in_len += lens[k];
	}
	g_task.base.iov[i++] = (struct iovec){ g_guest + 0x20000, 1 };
	r->in_len += 1;
	r->in_cnt = (uint16_t)(i - r->out_cnt);
	r->error = 0;
	r->id = 3;
	g_guest[0x20000] = 0xee;
}

static uint8_t
status(void)
{
	return g_guest[0x20000];
}

static uint32_t
used_len(void)
{
	/* used ring: flags, idx, then {id, len} entries */
	uint32_t len;

	memcpy(&len, g_guest + 0x2000 + 4 + 4, 4);
	return len;
}

static void
test_read_zero_copy(void)
{
	uint32_t lens[2] = { 4096, 8192 };

	setup(false, 0);
	make_req(VBLK_T_IN, 16, true, lens, 2);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 1 && g_last_type == OSP_BDEV_IO_TYPE_READ);
	CU_ASSERT(g_lba == 2 && g_nblocks == 3);
	CU_ASSERT(g_iovcnt == 2 && g_iov[0].iov_base == g_guest + 0x30000 &&
		  g_iov[1].iov_base == g_guest + 0x31000 && g_iov[1].iov_len == 8192);
	CU_ASSERT(status() == VBLK_S_OK);
	CU_ASSERT(used_len() == 4096 + 8192 + 1);
	CU_ASSERT(g_released == 1 && g_ctrlr.queues[0].nfree == 1);
}

static void
test_write_and_status_in_data_iov(void)
{
	uint32_t lens[1] = { 4096 };

	setup(false, 0);
	make_req(VBLK_T_OUT, 8, false, lens, 1);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 1 && g_last_type == OSP_BDEV_IO_TYPE_WRITE && g_lba == 1);
	CU_ASSERT(status() == VBLK_S_OK && used_len() == 1);

	/* bdev failure -> IOERR */
	setup(false, 0);
	g_success = false;
	make_req(VBLK_T_OUT, 8, false, lens, 1);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(status() == VBLK_S_IOERR);

	/* header and data in one descriptor */
	setup(false, 0);
	make_req(VBLK_T_OUT, 0, false, lens, 1);
	g_task.base.iov[0].iov_len = 16 + 4096;
	g_task.base.iov[1] = g_task.base.iov[2];
	g_task.base.req.out_cnt = 1;
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 1 && g_iovcnt == 1 && g_iov[0].iov_base == g_guest + 0x10000 + 16 &&
		  g_iov[0].iov_len == 4096);
	CU_ASSERT(status() == VBLK_S_OK);
}

static void
test_bad_requests(void)
{
	uint32_t lens[1] = { 4096 };
	uint32_t odd[1] = { 512 };

	/* sector not block aligned, length not a block multiple, beyond the end, wrap */
	uint64_t sectors[] = { 1, 0, 8 * 1000, 8 * 999, UINT64_MAX - 7 };
	for (size_t i = 0; i < sizeof(sectors) / sizeof(sectors[0]); i++) {
		setup(false, 0);
		if (i == 1) {
			make_req(VBLK_T_IN, 0, true, odd, 1);
		} else if (i == 3) {
			uint32_t two[1] = { 8192 };

			make_req(VBLK_T_IN, sectors[i], true, two, 1);
		} else {
			make_req(VBLK_T_IN, sectors[i], true, lens, 1);
		}
		vhost_blk_task_start(&g_ctrlr, &g_task.base);
		CU_ASSERT(g_calls == 0 && status() == VBLK_S_IOERR && used_len() == 1);
	}
	/* last block is fine */
	setup(false, 0);
	make_req(VBLK_T_IN, 8 * 999, true, lens, 1);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 1 && status() == VBLK_S_OK);

	/* unknown type */
	setup(false, 0);
	make_req(99, 0, true, lens, 1);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == VBLK_S_UNSUPP);

	/* write / flush / discard on a read-only controller */
	setup(true, 1ull << VBLK_F_DISCARD);
	make_req(VBLK_T_OUT, 0, false, lens, 1);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == VBLK_S_IOERR);
	setup(true, 0);
	make_req(VBLK_T_FLUSH, 0, false, NULL, 0);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == VBLK_S_IOERR);

	/* header shorter than 16 bytes */
	setup(false, 0);
	make_req(VBLK_T_IN, 0, true, lens, 1);
	g_task.base.iov[0].iov_len = 8;
	g_task.base.req.out_len = 8;
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == VBLK_S_IOERR);

	/* a chain the ring layer flagged: given back with nothing written */
	setup(false, 0);
	make_req(VBLK_T_IN, 0, true, lens, 1);
	g_task.base.req.error = -EFAULT;
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == 0xee && used_len() == 0 && g_released == 1);

	/* no writable descriptor at all */
	setup(false, 0);
	make_req(VBLK_T_OUT, 0, false, lens, 1);
	g_task.base.req.in_cnt = 0;
	g_task.base.req.in_len = 0;
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == 0xee && used_len() == 0);
}

static void
test_discard_wz_flush_getid(void)
{
	uint32_t seglen[1] = { 16 };
	uint8_t *seg = g_guest + 0x30000;
	uint64_t sector = 16;
	uint32_t num = 24, flags = 0;

	setup(false, 0);
	make_req(VBLK_T_DISCARD, 0, false, seglen, 1);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == VBLK_S_UNSUPP);	/* not offered */

	setup(false, (1ull << VBLK_F_DISCARD) | (1ull << VBLK_F_WRITE_ZEROES));
	make_req(VBLK_T_DISCARD, 0, false, seglen, 1);
	memcpy(seg, &sector, 8);
	memcpy(seg + 8, &num, 4);
	memcpy(seg + 12, &flags, 4);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 1 && g_last_type == OSP_BDEV_IO_TYPE_UNMAP && g_lba == 2 &&
		  g_nblocks == 3 && status() == VBLK_S_OK);

	setup(false, (1ull << VBLK_F_DISCARD) | (1ull << VBLK_F_WRITE_ZEROES));
	make_req(VBLK_T_WRITE_ZEROES, 0, false, seglen, 1);
	flags = 1;	/* unmap allowed */
	memcpy(seg, &sector, 8);
	memcpy(seg + 8, &num, 4);
	memcpy(seg + 12, &flags, 4);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 1 && g_last_type == OSP_BDEV_IO_TYPE_WRITE_ZEROES && status() == VBLK_S_OK);

	/* discard with the unmap flag: UNSUPP (virtio 1.x 5.2.6.2); reserved flags: IOERR */
	setup(false, 1ull << VBLK_F_DISCARD);
	make_req(VBLK_T_DISCARD, 0, false, seglen, 1);
	memcpy(seg, &sector, 8);
	memcpy(seg + 8, &num, 4);
	memcpy(seg + 12, &flags, 4);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == VBLK_S_UNSUPP);
	setup(false, 1ull << VBLK_F_DISCARD);
	make_req(VBLK_T_DISCARD, 0, false, seglen, 1);
	flags = 4;
	memcpy(seg, &sector, 8);
	memcpy(seg + 8, &num, 4);
	memcpy(seg + 12, &flags, 4);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == VBLK_S_IOERR);

	setup(false, 0);
	make_req(VBLK_T_FLUSH, 0, false, NULL, 0);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 1 && g_last_type == OSP_BDEV_IO_TYPE_FLUSH && status() == VBLK_S_OK);

	uint32_t idlen[1] = { VBLK_ID_BYTES };
	setup(false, 0);
	make_req(VBLK_T_GET_ID, 0, true, idlen, 1);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 0 && status() == VBLK_S_OK && memcmp(g_guest + 0x30000, "Malloc0", 8) == 0);
	CU_ASSERT(used_len() == VBLK_ID_BYTES + 1);
}

static void
test_config_and_iov(void)
{
	struct iovec iov[3] = { { g_guest, 10 }, { g_guest + 100, 10 }, { g_guest + 200, 10 } };
	struct iovec out[3];
	uint8_t buf[30];
	uint64_t cap;
	uint32_t bs;
	uint16_t nq;

	setup(false, 0);
	vhost_blk_fill_config(&g_ctrlr, NULL, true, false);
	memcpy(&cap, g_ctrlr.config, 8);
	memcpy(&bs, g_ctrlr.config + 20, 4);
	memcpy(&nq, g_ctrlr.config + 34, 2);
	CU_ASSERT(cap == 1000 * 8 && bs == 4096 && nq == VHOST_MAX_QUEUES);
	memcpy(&bs, g_ctrlr.config + 40, 4);
	CU_ASSERT(bs == 1);		/* max_discard_seg */
	memcpy(&bs, g_ctrlr.config + 52, 4);
	CU_ASSERT(bs == 0);		/* no write zeroes */

	CU_ASSERT(vhost_iov_slice(iov, 3, 5, 10, out, 3) == 2);
	CU_ASSERT(out[0].iov_base == g_guest + 5 && out[0].iov_len == 5 && out[1].iov_len == 5);
	CU_ASSERT(vhost_iov_slice(iov, 3, 25, 10, out, 3) == -1);	/* runs past the end */
	CU_ASSERT(vhost_iov_slice(iov, 3, 0, 30, out, 2) == -1);	/* too many pieces */
	CU_ASSERT(vhost_iov_gather(iov, 3, 8, buf, 30) == 22);
}

/*
 * Hot remove: a bdev I/O in flight completes normally, new requests fail with
 * IOERR without reaching the bdev, and the poll group lets go of its channel
 * once its last bdev I/O is back.
 */
static void
test_hot_remove(void)
{
	uint32_t lens[1] = { 4096 };
	struct vhost_blk_task t2;

	setup(false, 0);
	g_defer = true;
	make_req(VBLK_T_IN, 8, true, lens, 1);
	vhost_blk_task_start(&g_ctrlr, &g_task.base);
	CU_ASSERT(g_calls == 1 && g_bp.ios == 1 && g_released == 0);
	/* What blk_bdev_removed and its message to this poll group do. */
	g_blk.removed = true;
	g_bp.release = true;
	/* A new request: a copy of the same chain with another status byte. */
	t2 = g_task;
	t2.base.iov[t2.base.req.out_cnt + t2.base.req.in_cnt - 1].iov_base = g_guest + 0x20010;
	g_guest[0x20010] = 0xee;
	vhost_blk_task_start(&g_ctrlr, &t2.base);
	CU_ASSERT(g_calls == 1);
	CU_ASSERT(g_guest[0x20010] == VBLK_S_IOERR);
	CU_ASSERT(g_released == 1 && g_bdev_released == 0);
	/* The bdev layer gives the first one back: OK, and now the bdev is released. */
	g_defer_cb((struct osp_bdev_io *)(uintptr_t)0x1, true, g_defer_arg);
	CU_ASSERT(status() == VBLK_S_OK);
	CU_ASSERT(g_bp.ios == 0 && g_bdev_released == 1 && g_released == 2);
	/* The channel is gone: still IOERR, no bdev call. */
	g_guest[0x20010] = 0xee;
	g_blk.removed = false;	/* even without the flag, a poll group without channel fails it */
	vhost_blk_task_start(&g_ctrlr, &t2.base);
	CU_ASSERT(g_calls == 1 && g_guest[0x20010] == VBLK_S_IOERR);
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("vhost_blk", suite_init, suite_fini);
	CU_ADD_TEST(suite, test_read_zero_copy);
	CU_ADD_TEST(suite, test_write_and_status_in_data_iov);
	CU_ADD_TEST(suite, test_bad_requests);
	CU_ADD_TEST(suite, test_discard_wz_flush_getid);
	CU_ADD_TEST(suite, test_config_and_iov);
	CU_ADD_TEST(suite, test_hot_remove);
	return ut_run_suites();
}
