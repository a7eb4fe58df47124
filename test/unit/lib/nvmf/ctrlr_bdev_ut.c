/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe-oF target's bdev back end (lib/nvmf/ctrlr_bdev.c
 * compiled in) over the real bdev layer with malloc and error bdevs: read
 * and write through multi-iovec buffers, LBA range and data length checks,
 * Write Zeroes, Dataset Management, Compare, fused Compare and Write,
 * Flush, FUA, bad opcodes, bdev_io exhaustion (-ENOMEM) retries, the bdev
 * status mapping, Identify Namespace and the NS ID descriptor list.
 */
#include "ut_bdev.h"

#include "../../../../drivers/bdev/error/bdev_error.h"
#include "../../../../drivers/bdev/malloc/bdev_malloc.h"

#include "nvmf/ctrlr_bdev.c"
#include "bdev/bdev_internal.h"	/* to pretend a bdev lacks an I/O type */

#define BS	512
#define NBLK	1024

static struct osp_bdev *g_malloc_bdev;
static struct ut_desc g_d;
static int g_done;
static struct osp_nvmf_request *g_done_reqs[16];
static struct osp_bdev_opts g_default_opts;

static void
ut_req_done(struct osp_nvmf_request *req)
{
	CU_ASSERT_FATAL(g_done < (int)OSP_COUNTOF(g_done_reqs));
	g_done_reqs[g_done++] = req;
}

static void
setup_named(const char *name, uint32_t bs, uint64_t nblk)
{
	struct bdev_malloc_opts o = { .name = name, .num_blocks = nblk, .block_size = bs };

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, &g_malloc_bdev), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open(name, true, 0, &g_d), 0);
	g_done = 0;
}

static void
setup(void)
{
	setup_named("M0", BS, NBLK);
}

static void
teardown(void)
{
	ut_close(&g_d);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* A command with its data split over the given iovec lengths of buf. */
static void
ut_req_init(struct osp_nvmf_request *req, uint8_t opc, uint64_t slba, uint32_t nlb0,
	    uint8_t *buf, const size_t *lens, int n)
{
	size_t off = 0;
	int i;

	memset(req, 0xa5, sizeof(*req));	/* the back end must not rely on zeroed scratch */
	memset(&req->cmd, 0, sizeof(req->cmd));
	memset(&req->rsp, 0, sizeof(req->rsp));
	req->cmd.opc = opc;
	req->cmd.nsid = 1;
	req->cmd.cdw10 = (uint32_t)slba;
	req->cmd.cdw11 = (uint32_t)(slba >> 32);
	req->cmd.cdw12 = nlb0;
	req->iovcnt = (uint32_t)n;
	req->length = 0;
	for (i = 0; i < n; i++) {
		req->iov[i].iov_base = buf + off;
		req->iov[i].iov_len = lens[i];
		off += lens[i];
	}
	req->length = (uint32_t)off;
	req->xfer = n > 0 ? OSP_NVMF_XFER_HOST_TO_CONTROLLER : OSP_NVMF_XFER_NONE;
}

/* Execute req; wait for its completion if asynchronous. Returns the raw status field. */
static uint16_t
ut_exec(struct osp_nvmf_request *req)
{
	int before = g_done, rc;

	ut_set_thread(0);
	rc = nvmf_bdev_exec_io(req, g_d.desc, g_d.ch, ut_req_done);
	CU_ASSERT(rc == NVMF_BDEV_DONE || rc == NVMF_BDEV_ASYNC);
	if (rc == NVMF_BDEV_DONE) {
		CU_ASSERT_EQUAL(g_done, before);
		return osp_nvme_cpl_status_field(&req->rsp);
	}
	CU_ASSERT_EQUAL(g_done, before);	/* never called back from inside exec */
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_done, before + 1);
	CU_ASSERT_PTR_EQUAL(g_done_reqs[before], req);
	return osp_nvme_cpl_status_field(&req->rsp);
}

#define ST(sct, sc, dnr) osp_nvme_status_field(sct, sc, dnr)
#define ST_OK ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SUCCESS, false)
#define ST_GEN(sc) ST(OSP_NVME_SCT_GENERIC, sc, true)
#define ST_RETRY(sc) ST(OSP_NVME_SCT_GENERIC, sc, false)
#define ST_MED(sc) ST(OSP_NVME_SCT_MEDIA_ERROR, sc, true)

/* Blocks [lba, lba + n) straight from the bdev. */
static void
ut_read_bdev(uint64_t lba, uint64_t n, uint8_t *out)
{
	CU_ASSERT_EQUAL(ut_do(&g_d, UT_READ, out, lba, n), OSP_BDEV_IO_STATUS_SUCCESS);
}

static void
ut_write_bdev(uint64_t lba, uint64_t n, const uint8_t *in)
{
	CU_ASSERT_EQUAL(ut_do(&g_d, UT_WRITE, (void *)in, lba, n), OSP_BDEV_IO_STATUS_SUCCESS);
}

static bool
ut_is_zero(const uint8_t *p, size_t len)
{
	return nvmf_bdev_all_zero(p, len);
}

/* ---- read / write ---- */

static void
test_read_write(void)
{
	struct osp_nvmf_request req;
	uint8_t *w = ut_buf(16 * BS, 0), *r = ut_buf(16 * BS, 0), *chk = ut_buf(16 * BS, 0);
	size_t wl[3] = { 100, 1000, 8 * BS - 1100 };
	size_t rl[4] = { 1, 511, 2048, 8 * BS - 2560 };
	size_t big[2] = { 4 * BS, 4 * BS + 300 };	/* 300 bytes more than the 8 blocks */

	setup();
	ut_pattern(w, 5, 8, BS, 1);
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 5, 7, w, wl, 3);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	ut_read_bdev(5, 8, chk);
	CU_ASSERT_EQUAL(memcmp(chk, w, 8 * BS), 0);

	ut_req_init(&req, OSP_NVME_OPC_READ, 5, 7, r, rl, 4);
	req.xfer = OSP_NVMF_XFER_CONTROLLER_TO_HOST;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	CU_ASSERT_EQUAL(memcmp(r, w, 8 * BS), 0);
	CU_ASSERT_EQUAL(req.length, 8 * BS);

	/* More data than the command moves: only the blocks are written... */
	memset(chk, 0x5c, 16 * BS);
	ut_write_bdev(13, 1, chk);
	ut_pattern(w, 100, 9, BS, 2);
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 5, 7, w, big, 2);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	/* The transport's iovec is restored. */
	CU_ASSERT_EQUAL(req.iov[1].iov_len, 4 * BS + 300);
	CU_ASSERT_EQUAL(req.iovcnt, 2);
	ut_read_bdev(5, 9, chk);
	CU_ASSERT_EQUAL(memcmp(chk, w, 8 * BS), 0);
	CU_ASSERT_EQUAL(chk[8 * BS], 0x5c);
	/* ...and read: the buffer past the blocks is untouched, length says what was read. */
	memset(r, 0xee, 16 * BS);
	ut_req_init(&req, OSP_NVME_OPC_READ, 5, 7, r, big, 2);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	CU_ASSERT_EQUAL(memcmp(r, w, 8 * BS), 0);
	CU_ASSERT_EQUAL(r[8 * BS], 0xee);
	CU_ASSERT_EQUAL(r[8 * BS + 299], 0xee);
	CU_ASSERT_EQUAL(req.length, 8 * BS);
	CU_ASSERT_EQUAL(req.iov[1].iov_len, 4 * BS + 300);

	/* The last block; NLB of 65536 blocks (0xffff) is bounded by the bdev, not by us. */
	ut_req_init(&req, OSP_NVME_OPC_READ, NBLK - 1, 0, r, wl, 1);
	req.iov[0].iov_len = BS;
	req.length = BS;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	free(w);
	free(r);
	free(chk);
	teardown();
}

static void
test_lba_range(void)
{
	struct osp_nvmf_request req;
	uint8_t *buf = ut_buf(4 * BS, 0);
	size_t l[1] = { 4 * BS };
	uint8_t opcs[] = { OSP_NVME_OPC_READ, OSP_NVME_OPC_WRITE, OSP_NVME_OPC_COMPARE,
			   OSP_NVME_OPC_WRITE_ZEROES
			 };
	uint64_t bad[][2] = {
		{ NBLK - 1, 1 },		/* one block past the end */
		{ NBLK, 0 },			/* starts at the end */
		{ UINT64_MAX, 1 },		/* slba + nlb wraps to 0 */
		{ UINT64_MAX - 1, 3 },		/* wraps to 2 */
		{ (uint64_t)1 << 63, 0 },
	};
	size_t i, j;

	setup();
	for (i = 0; i < OSP_COUNTOF(opcs); i++) {
		for (j = 0; j < OSP_COUNTOF(bad); j++) {
			ut_req_init(&req, opcs[i], bad[j][0], (uint32_t)bad[j][1], buf, l, 1);
			req.length = (uint32_t)((bad[j][1] + 1) * BS);
			req.iov[0].iov_len = req.length;
			CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_LBA_OUT_OF_RANGE));
		}
	}
	/* NLB is 16 bits: the upper CDW12 bits (FUA, PRINFO...) are not part of it. */
	ut_req_init(&req, OSP_NVME_OPC_READ, NBLK - 4, 3 | NVMF_BDEV_CDW12_FUA, buf, l, 1);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	free(buf);
	teardown();
}

static void
test_data_length(void)
{
	struct osp_nvmf_request req;
	uint8_t *buf = ut_buf(8 * BS, 0);
	size_t l[2] = { BS, BS };
	uint8_t opcs[] = { OSP_NVME_OPC_READ, OSP_NVME_OPC_WRITE, OSP_NVME_OPC_COMPARE };
	size_t i;

	setup();
	for (i = 0; i < OSP_COUNTOF(opcs); i++) {
		/* 3 blocks, 2 blocks of data. */
		ut_req_init(&req, opcs[i], 0, 2, buf, l, 2);
		CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
		/* One byte short. */
		ut_req_init(&req, opcs[i], 0, 1, buf, l, 2);
		req.iov[1].iov_len = BS - 1;
		req.length = 2 * BS - 1;
		CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
		/* length claims enough but the iovecs do not hold it. */
		ut_req_init(&req, opcs[i], 0, 1, buf, l, 2);
		req.iovcnt = 1;
		CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
		/* A transport that forgot a buffer: refused, not read into a lent one. */
		ut_req_init(&req, opcs[i], 0, 1, buf, l, 2);
		req.iov[1].iov_base = NULL;
		CU_ASSERT_EQUAL(ut_exec(&req), ST(OSP_NVME_SCT_GENERIC,
						  OSP_NVME_SC_INTERNAL_DEVICE_ERROR, false));
		/* No data at all. */
		ut_req_init(&req, opcs[i], 0, 0, buf, l, 0);
		CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
	}
	free(buf);
	teardown();
}

/* ---- write zeroes, flush, FUA, bad opcodes ---- */

static void
test_write_zeroes_flush(void)
{
	struct osp_nvmf_request req;
	struct osp_bdev_io_stat st0, st1;
	uint8_t *w = ut_buf(16 * BS, 0), *r = ut_buf(16 * BS, 0);
	size_t l[1] = { 2 * BS };

	setup();
	ut_pattern(w, 0, 16, BS, 3);
	ut_write_bdev(0, 16, w);
	ut_req_init(&req, OSP_NVME_OPC_WRITE_ZEROES, 3, 4, NULL, NULL, 0);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	ut_read_bdev(0, 16, r);
	CU_ASSERT_EQUAL(memcmp(r, w, 3 * BS), 0);
	CU_ASSERT_TRUE(ut_is_zero(r + 3 * BS, 5 * BS));
	CU_ASSERT_EQUAL(memcmp(r + 8 * BS, w + 8 * BS, 8 * BS), 0);

	/* Flush: the whole bdev, no data. */
	ut_req_init(&req, OSP_NVME_OPC_FLUSH, 0, 0, NULL, NULL, 0);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);

	/* FUA without a write cache: just the write. With one: write + flush. */
	osp_bdev_get_io_stat(g_malloc_bdev, g_d.ch, &st0);
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 0, 1 | NVMF_BDEV_CDW12_FUA, w, l, 1);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	osp_bdev_get_io_stat(g_malloc_bdev, g_d.ch, &st1);
	CU_ASSERT_EQUAL(st1.num_write_ops, st0.num_write_ops + 1);
	CU_ASSERT_EQUAL(st1.num_other_ops, st0.num_other_ops);
	g_malloc_bdev->write_cache = true;
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 0, 1 | NVMF_BDEV_CDW12_FUA, w, l, 1);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	osp_bdev_get_io_stat(g_malloc_bdev, g_d.ch, &st0);
	CU_ASSERT_EQUAL(st0.num_write_ops, st1.num_write_ops + 1);
	CU_ASSERT_EQUAL(st0.num_other_ops, st1.num_other_ops + 1);
	/* No FUA: no flush. */
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 0, 1, w, l, 1);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	osp_bdev_get_io_stat(g_malloc_bdev, g_d.ch, &st1);
	CU_ASSERT_EQUAL(st1.num_other_ops, st0.num_other_ops);
	g_malloc_bdev->write_cache = false;

	/* A bdev without flush: Flush succeeds, FUA needs no flush. */
	g_malloc_bdev->internal->supported_types &= ~(1u << OSP_BDEV_IO_TYPE_FLUSH);
	g_malloc_bdev->write_cache = true;
	ut_req_init(&req, OSP_NVME_OPC_FLUSH, 0, 0, NULL, NULL, 0);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 0, 1 | NVMF_BDEV_CDW12_FUA, w, l, 1);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	osp_bdev_get_io_stat(g_malloc_bdev, g_d.ch, &st0);
	CU_ASSERT_EQUAL(st0.num_other_ops, st1.num_other_ops);
	g_malloc_bdev->write_cache = false;
	g_malloc_bdev->internal->supported_types |= 1u << OSP_BDEV_IO_TYPE_FLUSH;

	/* Write Zeroes on a bdev that can neither write zeroes nor write (emulation). */
	g_malloc_bdev->internal->supported_types &= ~((1u << OSP_BDEV_IO_TYPE_WRITE_ZEROES) |
					       (1u << OSP_BDEV_IO_TYPE_WRITE));
	ut_req_init(&req, OSP_NVME_OPC_WRITE_ZEROES, 0, 0, NULL, NULL, 0);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_INVALID_OPCODE));
	g_malloc_bdev->internal->supported_types |= (1u << OSP_BDEV_IO_TYPE_WRITE_ZEROES) |
					     (1u << OSP_BDEV_IO_TYPE_WRITE);

	/* A block size NVMe cannot describe (see test_identify_ns): no I/O. */
	g_malloc_bdev->blocklen = 1536;
	ut_req_init(&req, OSP_NVME_OPC_READ, 0, 0, w, l, 1);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));
	g_malloc_bdev->blocklen = BS;

	/* Opcodes that are not ours. */
	ut_req_init(&req, OSP_NVME_OPC_WRITE_UNCORRECTABLE, 0, 0, NULL, NULL, 0);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_INVALID_OPCODE));
	ut_req_init(&req, 0x7e, 0, 0, NULL, NULL, 0);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_INVALID_OPCODE));
	ut_req_init(&req, OSP_NVME_OPC_RESERVATION_REGISTER, 0, 0, NULL, NULL, 0);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_INVALID_OPCODE));
	free(w);
	free(r);
	teardown();
}

/* ---- dataset management ---- */

static void
ut_range(uint8_t *list, int i, uint64_t slba, uint32_t nlb)
{
	struct nvmf_bdev_dsm_range rg = { .cattr = 0x12345678, .nlb = nlb, .slba = slba };

	memcpy(list + i * 16, &rg, sizeof(rg));
}

static void
test_dsm(void)
{
	struct osp_nvmf_request req;
	uint8_t *w = ut_buf(64 * BS, 0), *r = ut_buf(64 * BS, 0), *list = ut_buf(4096, 0);
	size_t l1[1] = { 4 * 16 };
	size_t l3[3] = { 7, 30, 27 };	/* ranges straddle iovec boundaries */
	size_t l256[1] = { 4096 };
	int i;

	setup();
	ut_pattern(w, 0, 64, BS, 5);
	ut_write_bdev(0, 64, w);
	ut_range(list, 0, 2, 3);
	ut_range(list, 1, 10, 1);
	ut_range(list, 2, 0, 0);	/* empty: skipped */
	ut_range(list, 3, 40, 8);

	/* Without AD: nothing happens. */
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, l1, 1);
	req.cmd.cdw10 = 3;
	req.cmd.cdw11 = 0x3;	/* IDR | IDW */
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	ut_read_bdev(0, 64, r);
	CU_ASSERT_EQUAL(memcmp(r, w, 64 * BS), 0);

	/* Deallocate four ranges from three iovecs. */
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, l3, 3);
	req.cmd.cdw10 = 3;
	req.cmd.cdw11 = NVMF_BDEV_DSM_AD;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	ut_read_bdev(0, 64, r);
	CU_ASSERT_EQUAL(memcmp(r, w, 2 * BS), 0);
	CU_ASSERT_TRUE(ut_is_zero(r + 2 * BS, 3 * BS));
	CU_ASSERT_EQUAL(memcmp(r + 5 * BS, w + 5 * BS, 5 * BS), 0);
	CU_ASSERT_TRUE(ut_is_zero(r + 10 * BS, BS));
	CU_ASSERT_EQUAL(memcmp(r + 11 * BS, w + 11 * BS, 29 * BS), 0);
	CU_ASSERT_TRUE(ut_is_zero(r + 40 * BS, 8 * BS));
	CU_ASSERT_EQUAL(memcmp(r + 48 * BS, w + 48 * BS, 16 * BS), 0);

	/* One range out of the bdev: the command fails and nothing is deallocated. */
	ut_write_bdev(0, 64, w);
	ut_range(list, 2, NBLK - 1, 2);
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, l1, 1);
	req.cmd.cdw10 = 3;
	req.cmd.cdw11 = NVMF_BDEV_DSM_AD;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_LBA_OUT_OF_RANGE));
	ut_range(list, 2, UINT64_MAX, 2);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_LBA_OUT_OF_RANGE));
	ut_read_bdev(0, 64, r);
	CU_ASSERT_EQUAL(memcmp(r, w, 64 * BS), 0);
	ut_range(list, 2, 0, 0);

	/* NR says 5 ranges, 4 are there; also short with AD clear. */
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, l1, 1);
	req.cmd.cdw10 = 4;
	req.cmd.cdw11 = NVMF_BDEV_DSM_AD;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
	req.cmd.cdw11 = 0;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
	/* length large enough, iovecs not. */
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, l3, 3);
	req.cmd.cdw10 = 3;
	req.cmd.cdw11 = NVMF_BDEV_DSM_AD;
	req.iovcnt = 2;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
	ut_read_bdev(0, 64, r);
	CU_ASSERT_EQUAL(memcmp(r, w, 64 * BS), 0);

	/* A bdev without unmap: success, nothing deallocated (but the ranges are checked). */
	g_malloc_bdev->internal->supported_types &= ~(1u << OSP_BDEV_IO_TYPE_UNMAP);
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, l1, 1);
	req.cmd.cdw10 = 3;
	req.cmd.cdw11 = NVMF_BDEV_DSM_AD;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	ut_read_bdev(0, 64, r);
	CU_ASSERT_EQUAL(memcmp(r, w, 64 * BS), 0);
	ut_range(list, 2, NBLK, 1);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_GEN(OSP_NVME_SC_LBA_OUT_OF_RANGE));
	ut_range(list, 2, 0, 0);
	g_malloc_bdev->internal->supported_types |= 1u << OSP_BDEV_IO_TYPE_UNMAP;

	/* The maximum: 256 ranges (NR 255), one block each, every other block. */
	for (i = 0; i < 256; i++) {
		ut_range(list, i, (uint64_t)i * 2, 1);
	}
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, l256, 1);
	req.cmd.cdw10 = 0xffffff00u | 255;	/* upper bits reserved: ignored */
	req.cmd.cdw11 = NVMF_BDEV_DSM_AD;
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	ut_read_bdev(0, 64, r);
	for (i = 0; i < 64; i++) {
		if (i % 2 == 0) {
			CU_ASSERT_TRUE(ut_is_zero(r + i * BS, BS));
		} else {
			CU_ASSERT_EQUAL(memcmp(r + i * BS, w + i * BS, BS), 0);
		}
	}
	free(w);
	free(r);
	free(list);
	teardown();
}

/* An unmap fails in the middle of a Dataset Management: its error is the command's. */
static void
test_dsm_error(void)
{
	struct bdev_error_inject_opts o = { .io_type = OSP_BDEV_IO_TYPE_UNMAP,
		       .error_type = BDEV_ERROR_FAILURE, .num = 1
	};
	struct osp_nvmf_request req;
	uint8_t *list = ut_buf(4096, 0);
	size_t l[1] = { 3 * 16 };
	struct ut_desc m0;

	setup();
	/* The error bdev claims M0: nobody else may have it open for writing. */
	m0 = g_d;
	ut_close(&m0);
	CU_ASSERT_EQUAL_FATAL(bdev_error_create("M0", NULL), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open("EE_M0", true, 0, &g_d), 0);
	ut_range(list, 0, 0, 1);
	ut_range(list, 1, 8, 1);
	ut_range(list, 2, 16, 1);
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M0", &o), 0);
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, l, 1);
	req.cmd.cdw10 = 2;
	req.cmd.cdw11 = NVMF_BDEV_DSM_AD;
	CU_ASSERT_EQUAL(ut_exec(&req), ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR,
					  false));
	/* Then a write failure through Write. */
	o.io_type = OSP_BDEV_IO_TYPE_WRITE;
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M0", &o), 0);
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 0, 0, list, l, 1);
	req.iov[0].iov_len = BS;
	req.length = BS;
	CU_ASSERT_EQUAL(ut_exec(&req), ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR,
					  false));
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	free(list);
	teardown();
}

/* ---- compare, fused compare and write ---- */

static void
test_compare(void)
{
	struct osp_nvmf_request req;
	uint8_t *w = ut_buf(8 * BS, 0), *c = ut_buf(8 * BS, 0);
	size_t l[2] = { 3 * BS + 17, BS - 17 };

	setup();
	ut_pattern(w, 7, 4, BS, 9);
	ut_write_bdev(7, 4, w);
	memcpy(c, w, 4 * BS);
	ut_req_init(&req, OSP_NVME_OPC_COMPARE, 7, 3, c, l, 2);
	CU_ASSERT_EQUAL(ut_exec(&req), ST_OK);
	c[4 * BS - 1] ^= 1;
	CU_ASSERT_EQUAL(ut_exec(&req), ST(OSP_NVME_SCT_MEDIA_ERROR, OSP_NVME_SC_COMPARE_FAILURE,
					  true));
	free(w);
	free(c);
	teardown();
}

/* Run a fused pair; returns what exec returned, both completions waited for. */
static int
ut_exec_fused(struct osp_nvmf_request *cmp, struct osp_nvmf_request *wr)
{
	int before = g_done, rc;

	ut_set_thread(0);
	rc = nvmf_bdev_exec_compare_and_write(cmp, wr, g_d.desc, g_d.ch, ut_req_done);
	CU_ASSERT_EQUAL(g_done, before);
	if (rc == NVMF_BDEV_ASYNC) {
		ut_poll_threads();
		CU_ASSERT_EQUAL(g_done, before + 2);
		CU_ASSERT_PTR_EQUAL(g_done_reqs[before], cmp);
		CU_ASSERT_PTR_EQUAL(g_done_reqs[before + 1], wr);
	}
	return rc;
}

static void
test_compare_and_write(void)
{
	struct osp_nvmf_request cmp, wr;
	uint8_t *old = ut_buf(4 * BS, 0), *new = ut_buf(4 * BS, 0), *r = ut_buf(4 * BS, 0);
	size_t l1[1] = { 2 * BS }, l2[3] = { 100, BS, BS - 100 };
	size_t lbig[1] = { 3 * BS };

	setup();
	ut_pattern(old, 20, 2, BS, 1);
	ut_pattern(new, 20, 2, BS, 2);
	ut_write_bdev(20, 2, old);

	/* Match: written. */
	ut_req_init(&cmp, OSP_NVME_OPC_COMPARE, 20, 1, old, l1, 1);
	ut_req_init(&wr, OSP_NVME_OPC_WRITE, 20, 1, new, l2, 3);
	CU_ASSERT_EQUAL(ut_exec_fused(&cmp, &wr), NVMF_BDEV_ASYNC);
	CU_ASSERT_EQUAL(cmp.rsp.raw, ST_OK);
	CU_ASSERT_EQUAL(wr.rsp.raw, ST_OK);
	ut_read_bdev(20, 2, r);
	CU_ASSERT_EQUAL(memcmp(r, new, 2 * BS), 0);

	/* Miss (the data is `new` now, we compare with `old`): the write is aborted. */
	ut_pattern(r, 0, 2, BS, 7);
	ut_req_init(&cmp, OSP_NVME_OPC_COMPARE, 20, 1, old, l1, 1);
	ut_req_init(&wr, OSP_NVME_OPC_WRITE, 20, 1, r, l2, 3);
	CU_ASSERT_EQUAL(ut_exec_fused(&cmp, &wr), NVMF_BDEV_ASYNC);
	CU_ASSERT_EQUAL(cmp.rsp.raw, ST(OSP_NVME_SCT_MEDIA_ERROR, OSP_NVME_SC_COMPARE_FAILURE,
					true));
	CU_ASSERT_EQUAL(wr.rsp.raw, ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_FAILED_FUSED,
				       false));
	ut_read_bdev(20, 2, r);
	CU_ASSERT_EQUAL(memcmp(r, new, 2 * BS), 0);

	/* Different ranges (LBA, then length): Invalid Field in both. */
	ut_req_init(&cmp, OSP_NVME_OPC_COMPARE, 20, 1, new, l1, 1);
	ut_req_init(&wr, OSP_NVME_OPC_WRITE, 21, 1, old, l1, 1);
	CU_ASSERT_EQUAL(ut_exec_fused(&cmp, &wr), NVMF_BDEV_DONE);
	CU_ASSERT_EQUAL(cmp.rsp.raw, ST_GEN(OSP_NVME_SC_INVALID_FIELD));
	CU_ASSERT_EQUAL(wr.rsp.raw, ST_GEN(OSP_NVME_SC_INVALID_FIELD));
	ut_req_init(&wr, OSP_NVME_OPC_WRITE, 20, 0, old, l1, 1);
	CU_ASSERT_EQUAL(ut_exec_fused(&cmp, &wr), NVMF_BDEV_DONE);
	CU_ASSERT_EQUAL(wr.rsp.raw, ST_GEN(OSP_NVME_SC_INVALID_FIELD));
	/* Wrong opcodes. */
	ut_req_init(&wr, OSP_NVME_OPC_READ, 20, 1, old, l1, 1);
	CU_ASSERT_EQUAL(ut_exec_fused(&cmp, &wr), NVMF_BDEV_DONE);
	CU_ASSERT_EQUAL(cmp.rsp.raw, ST_GEN(OSP_NVME_SC_INVALID_FIELD));

	/* Short write data: the write's own error, the compare aborted; iovecs restored. */
	ut_req_init(&cmp, OSP_NVME_OPC_COMPARE, 20, 1, new, lbig, 1);
	ut_req_init(&wr, OSP_NVME_OPC_WRITE, 20, 1, old, l2, 2);
	CU_ASSERT_EQUAL(ut_exec_fused(&cmp, &wr), NVMF_BDEV_DONE);
	CU_ASSERT_EQUAL(wr.rsp.raw, ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
	CU_ASSERT_EQUAL(cmp.rsp.raw, ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_FAILED_FUSED,
					false));
	CU_ASSERT_EQUAL(cmp.iov[0].iov_len, 3 * BS);
	/* Short compare data: the other way round. */
	ut_req_init(&cmp, OSP_NVME_OPC_COMPARE, 20, 1, new, l2, 2);
	ut_req_init(&wr, OSP_NVME_OPC_WRITE, 20, 1, old, l1, 1);
	CU_ASSERT_EQUAL(ut_exec_fused(&cmp, &wr), NVMF_BDEV_DONE);
	CU_ASSERT_EQUAL(cmp.rsp.raw, ST_GEN(OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
	CU_ASSERT_EQUAL(wr.rsp.raw, ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_FAILED_FUSED,
				       false));
	/* Out of range. */
	ut_req_init(&cmp, OSP_NVME_OPC_COMPARE, NBLK - 1, 1, new, l1, 1);
	ut_req_init(&wr, OSP_NVME_OPC_WRITE, NBLK - 1, 1, old, l1, 1);
	CU_ASSERT_EQUAL(ut_exec_fused(&cmp, &wr), NVMF_BDEV_DONE);
	CU_ASSERT_EQUAL(cmp.rsp.raw, ST_GEN(OSP_NVME_SC_LBA_OUT_OF_RANGE));
	CU_ASSERT_EQUAL(wr.rsp.raw, ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_FAILED_FUSED,
				       false));
	ut_read_bdev(20, 2, r);
	CU_ASSERT_EQUAL(memcmp(r, new, 2 * BS), 0);
	free(old);
	free(new);
	free(r);
	teardown();
}

/* ---- bdev_io exhaustion ---- */

static struct ut_io g_fill[64];

/* Take all but `leave` bdev_ios with reads that complete on the next poll. */
static int
ut_fill_pool(uint8_t *buf, int total, int leave)
{
	int n;

	for (n = 0; n < total - leave; n++) {
		CU_ASSERT_EQUAL_FATAL(ut_submit(&g_d, UT_READ, buf, 0, 1, &g_fill[n]), 0);
	}
	return n;
}

static void
test_nomem(void)
{
	struct osp_bdev_opts o = g_default_opts;
	struct osp_nvmf_request req, cmp, wr;
	uint8_t *w = ut_buf(8 * BS, 0), *r = ut_buf(64 * BS, 0), *list = ut_buf(4096, 0);
	size_t l[1] = { 2 * BS }, ll[1] = { 6 * 16 };
	int total, i, rc;

	o.bdev_io_pool_size = 8;
	o.bdev_io_cache_size = 2;
	CU_ASSERT_EQUAL_FATAL(osp_bdev_set_opts(&o), 0);
	setup();
	/* How many there are. */
	for (total = 0; total < (int)OSP_COUNTOF(g_fill); total++) {
		rc = ut_submit(&g_d, UT_READ, r, 0, 1, &g_fill[total]);
		if (rc != 0) {
			CU_ASSERT_EQUAL(rc, -ENOMEM);
			break;
		}
	}
	CU_ASSERT_FATAL(total > 0 && total < (int)OSP_COUNTOF(g_fill));
	ut_poll_threads();

	/* A write finds none: it waits, then runs. */
	ut_fill_pool(r, total, 0);
	ut_pattern(w, 3, 2, BS, 4);
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 3, 1, w, l, 1);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(nvmf_bdev_exec_io(&req, g_d.desc, g_d.ch, ut_req_done), NVMF_BDEV_ASYNC);
	CU_ASSERT_EQUAL(g_done, 0);
	CU_ASSERT_PTR_EQUAL(nvmf_bdev_ctx(&req)->wait.cb_fn, nvmf_bdev_resume);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_done, 1);
	CU_ASSERT_EQUAL(req.rsp.raw, ST_OK);
	ut_read_bdev(3, 2, r);
	CU_ASSERT_EQUAL(memcmp(r, w, 2 * BS), 0);

	/* Six unmaps with two bdev_ios free: some run, the rest wait, one completion. */
	ut_pattern(r, 0, 64, BS, 8);
	ut_write_bdev(0, 64, r);
	for (i = 0; i < 6; i++) {
		ut_range(list, i, (uint64_t)i * 10, 2);
	}
	ut_fill_pool(r, total, 2);
	ut_req_init(&req, OSP_NVME_OPC_DATASET_MANAGEMENT, 0, 0, list, ll, 1);
	req.cmd.cdw10 = 5;
	req.cmd.cdw11 = NVMF_BDEV_DSM_AD;
	g_done = 0;
	ut_set_thread(0);
	CU_ASSERT_EQUAL(nvmf_bdev_exec_io(&req, g_d.desc, g_d.ch, ut_req_done), NVMF_BDEV_ASYNC);
	CU_ASSERT_EQUAL(nvmf_bdev_ctx(&req)->dsm_outstanding, 2);
	CU_ASSERT_TRUE(nvmf_bdev_ctx(&req)->waiting);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_done, 1);
	CU_ASSERT_EQUAL(req.rsp.raw, ST_OK);
	ut_read_bdev(0, 64, r);
	for (i = 0; i < 6; i++) {
		CU_ASSERT_TRUE(ut_is_zero(r + i * 10 * BS, 2 * BS));
		CU_ASSERT_FALSE(ut_is_zero(r + (i * 10 + 2) * BS, BS));
	}
	/* Every range waits (none free at all). */
	ut_fill_pool(r, total, 0);
	g_done = 0;
	CU_ASSERT_EQUAL(nvmf_bdev_exec_io(&req, g_d.desc, g_d.ch, ut_req_done), NVMF_BDEV_ASYNC);
	CU_ASSERT_EQUAL(nvmf_bdev_ctx(&req)->dsm_outstanding, 0);
	CU_ASSERT_TRUE(nvmf_bdev_ctx(&req)->waiting);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_done, 1);
	CU_ASSERT_EQUAL(req.rsp.raw, ST_OK);

	/* Fused compare and write, and a FUA write's flush, both waiting. */
	ut_pattern(w, 30, 2, BS, 1);
	ut_write_bdev(30, 2, w);
	ut_fill_pool(r, total, 0);
	ut_req_init(&cmp, OSP_NVME_OPC_COMPARE, 30, 1, w, l, 1);
	ut_req_init(&wr, OSP_NVME_OPC_WRITE, 30, 1, list, l, 1);
	g_done = 0;
	ut_set_thread(0);
	CU_ASSERT_EQUAL(nvmf_bdev_exec_compare_and_write(&cmp, &wr, g_d.desc, g_d.ch, ut_req_done),
			NVMF_BDEV_ASYNC);
	CU_ASSERT_PTR_EQUAL(nvmf_bdev_ctx(&cmp)->wait.cb_fn, nvmf_bdev_resume);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_done, 2);
	CU_ASSERT_EQUAL(cmp.rsp.raw, ST_OK);
	CU_ASSERT_EQUAL(wr.rsp.raw, ST_OK);
	ut_read_bdev(30, 2, r);
	CU_ASSERT_EQUAL(memcmp(r, list, 2 * BS), 0);

	g_malloc_bdev->write_cache = true;
	ut_fill_pool(r, total, 1);	/* the write gets one, its flush has to wait */
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 3, 1 | NVMF_BDEV_CDW12_FUA, w, l, 1);
	g_done = 0;
	CU_ASSERT_EQUAL(nvmf_bdev_exec_io(&req, g_d.desc, g_d.ch, ut_req_done), NVMF_BDEV_ASYNC);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_done, 1);
	CU_ASSERT_EQUAL(req.rsp.raw, ST_OK);
	g_malloc_bdev->write_cache = false;

	free(w);
	free(r);
	free(list);
	teardown();
	CU_ASSERT_EQUAL(osp_bdev_set_opts(&g_default_opts), 0);
}

/* ---- status mapping ---- */

static void
test_status_map(void)
{
	struct osp_bdev_io *io = calloc(1, sizeof(*io));
	struct osp_nvme_cpl cpl;
	struct {
		int bdev_status;
		uint16_t raw;
	} rows[] = {
		{ OSP_BDEV_IO_STATUS_SUCCESS, ST_OK },
		{ OSP_BDEV_IO_STATUS_MISCOMPARE, ST_MED(OSP_NVME_SC_COMPARE_FAILURE) },
		{ OSP_BDEV_IO_STATUS_ABORTED, ST_RETRY(OSP_NVME_SC_ABORTED_BY_REQUEST) },
		{ OSP_BDEV_IO_STATUS_FAILED, ST_RETRY(OSP_NVME_SC_INTERNAL_DEVICE_ERROR) },
		{ OSP_BDEV_IO_STATUS_NOMEM, ST_RETRY(OSP_NVME_SC_INTERNAL_DEVICE_ERROR) },
		{ OSP_BDEV_IO_STATUS_PENDING, ST_RETRY(OSP_NVME_SC_INTERNAL_DEVICE_ERROR) },
		{ 42, ST_RETRY(OSP_NVME_SC_INTERNAL_DEVICE_ERROR) },
	};
	size_t i;

	CU_ASSERT_FATAL(io != NULL);
	io->type = OSP_BDEV_IO_TYPE_READ;
	for (i = 0; i < OSP_COUNTOF(rows); i++) {
		memset(&cpl, 0, sizeof(cpl));
		cpl.raw = 1;	/* phase tag: kept */
		io->internal.status = (int8_t)rows[i].bdev_status;
		nvmf_bdev_set_status(&cpl, io);
		CU_ASSERT_EQUAL(cpl.raw, rows[i].raw | 1);
		CU_ASSERT_EQUAL(cpl.cdw0, 0);
	}
	/* An NVMe status from the module is passed on as is, cdw0 of passthru too. */
	io->internal.status = OSP_BDEV_IO_STATUS_NVME_ERROR;
	io->internal.nvme_sct = OSP_NVME_SCT_MEDIA_ERROR;
	io->internal.nvme_sc = OSP_NVME_SC_UNRECOVERED_READ_ERROR;
	memset(&cpl, 0, sizeof(cpl));
	nvmf_bdev_set_status(&cpl, io);
	CU_ASSERT_EQUAL(cpl.status.sct, OSP_NVME_SCT_MEDIA_ERROR);
	CU_ASSERT_EQUAL(cpl.status.sc, OSP_NVME_SC_UNRECOVERED_READ_ERROR);
	CU_ASSERT_EQUAL(cpl.status.dnr, 0);
	io->type = OSP_BDEV_IO_TYPE_NVME_IO;
	io->internal.nvme_cdw0 = 0xabcd;
	io->internal.nvme_sct = OSP_NVME_SCT_GENERIC;
	io->internal.nvme_sc = OSP_NVME_SC_SUCCESS;
	nvmf_bdev_set_status(&cpl, io);
	CU_ASSERT_EQUAL(cpl.raw, 0);
	CU_ASSERT_EQUAL(cpl.cdw0, 0xabcd);
	/* Status field layout: SC in bits 8:1, SCT 11:9, DNR 15. */
	memset(&cpl, 0, sizeof(cpl));
	osp_nvme_cpl_set_status(&cpl, OSP_NVME_SCT_MEDIA_ERROR, OSP_NVME_SC_COMPARE_FAILURE, true);
	CU_ASSERT_EQUAL(cpl.status.sc, 0x85);
	CU_ASSERT_EQUAL(cpl.status.sct, 2);
	CU_ASSERT_EQUAL(cpl.status.dnr, 1);
	CU_ASSERT_EQUAL(cpl.status.p, 0);
	/* Submit errors. */
	CU_ASSERT_EQUAL(nvmf_bdev_errno_status(-EINVAL), ST_GEN(OSP_NVME_SC_INVALID_FIELD));
	CU_ASSERT_EQUAL(nvmf_bdev_errno_status(-ENOTSUP), ST_GEN(OSP_NVME_SC_INVALID_OPCODE));
	CU_ASSERT_EQUAL(nvmf_bdev_errno_status(-EBADF),
			ST_GEN(OSP_NVME_SC_NAMESPACE_IS_WRITE_PROTECTED));
	CU_ASSERT_EQUAL(nvmf_bdev_errno_status(-ENODEV),
			ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_NAMESPACE_NOT_READY, false));
	CU_ASSERT_EQUAL(nvmf_bdev_errno_status(-EIO),
			ST(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR, false));
	free(io);
}

/* A read-only descriptor: writes are refused as write protected, reads work. */
static void
test_read_only(void)
{
	struct ut_desc ro;
	struct osp_nvmf_request req;
	uint8_t *buf = ut_buf(BS, 0);
	size_t l[1] = { BS };

	setup();
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", false, 0, &ro), 0);
	ut_req_init(&req, OSP_NVME_OPC_WRITE, 0, 0, buf, l, 1);
	CU_ASSERT_EQUAL(nvmf_bdev_exec_io(&req, ro.desc, ro.ch, ut_req_done), NVMF_BDEV_DONE);
	CU_ASSERT_EQUAL(req.rsp.raw, ST_GEN(OSP_NVME_SC_NAMESPACE_IS_WRITE_PROTECTED));
	ut_req_init(&req, OSP_NVME_OPC_READ, 0, 0, buf, l, 1);
	CU_ASSERT_EQUAL(nvmf_bdev_exec_io(&req, ro.desc, ro.ch, ut_req_done), NVMF_BDEV_ASYNC);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_done, 1);
	CU_ASSERT_EQUAL(req.rsp.raw, ST_OK);
	ut_close(&ro);
	free(buf);
	teardown();
}

/* ---- identify ---- */

static void
test_identify_ns(void)
{
	struct bdev_malloc_opts o = { .name = "M4k", .num_blocks = 300, .block_size = 4096,
		       .optimal_io_boundary = 16
	};
	struct osp_nvmf_ns ns = { .nsid = 3 };
	struct osp_nvme_ns_data *nsdata = calloc(1, sizeof(*nsdata));
	struct osp_bdev *b4k;
	uint64_t cap_lo;

	CU_ASSERT_FATAL(nsdata != NULL);
	setup();
	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, &b4k), 0);
	memset(ns.opts.nguid, 0x11, sizeof(ns.opts.nguid));
	memset(ns.opts.eui64, 0x22, sizeof(ns.opts.eui64));
	memset(nsdata, 0xff, sizeof(*nsdata));
	nvmf_bdev_identify_ns(&ns, b4k, nsdata);
	CU_ASSERT_EQUAL(nsdata->nsze, 300);
	CU_ASSERT_EQUAL(nsdata->ncap, 300);
	CU_ASSERT_EQUAL(nsdata->nuse, 300);
	CU_ASSERT_EQUAL(nsdata->nsfeat, 0);
	CU_ASSERT_EQUAL(nsdata->nlbaf, 0);
	CU_ASSERT_EQUAL(nsdata->flbas, 0);
	CU_ASSERT_EQUAL(nsdata->nmic, OSP_NVME_NS_NMIC_SHARED);
	CU_ASSERT_EQUAL(nsdata->dlfeat, 0);
	CU_ASSERT_EQUAL(nsdata->noiob, 16);
	CU_ASSERT_EQUAL(nsdata->nawun, 0);
	CU_ASSERT_EQUAL(nsdata->nacwu, 0);
	CU_ASSERT_EQUAL(nsdata->lbaf[0].lbads, 12);
	CU_ASSERT_EQUAL(nsdata->lbaf[0].ms, 0);
	CU_ASSERT_EQUAL(nsdata->lbaf[1].lbads, 0);
	memcpy(&cap_lo, nsdata->nvmcap, 8);
	CU_ASSERT_EQUAL(cap_lo, 300 * 4096);
	CU_ASSERT_TRUE(ut_is_zero(nsdata->nvmcap + 8, 8));
	CU_ASSERT_EQUAL(nsdata->nguid[0], 0x11);
	CU_ASSERT_EQUAL(nsdata->nguid[15], 0x11);
	CU_ASSERT_EQUAL(nsdata->eui64[7], 0x22);
	CU_ASSERT_TRUE(ut_is_zero(nsdata->vs, sizeof(nsdata->vs)));
	CU_ASSERT_EQUAL(nsdata->anagrpid, 0);

	/* 512-byte blocks, no boundary, no identifiers. */
	memset(&ns.opts, 0, sizeof(ns.opts));
	nvmf_bdev_identify_ns(&ns, g_malloc_bdev, nsdata);
	CU_ASSERT_EQUAL(nsdata->nsze, NBLK);
	CU_ASSERT_EQUAL(nsdata->lbaf[0].lbads, 9);
	CU_ASSERT_EQUAL(nsdata->noiob, 0);
	CU_ASSERT_TRUE(ut_is_zero(nsdata->nguid, 16));
	CU_ASSERT_TRUE(ut_is_zero(nsdata->eui64, 8));
	/* A boundary NOIOB cannot hold is not reported. */
	g_malloc_bdev->optimal_io_boundary = 70000;
	nvmf_bdev_identify_ns(&ns, g_malloc_bdev, nsdata);
	CU_ASSERT_EQUAL(nsdata->noiob, 0);
	g_malloc_bdev->optimal_io_boundary = 0;
	/* A block size NVMe cannot describe: no capacity rather than a wrong LBADS. */
	g_malloc_bdev->blocklen = 1536;
	memset(nsdata, 0xff, sizeof(*nsdata));
	nvmf_bdev_identify_ns(&ns, g_malloc_bdev, nsdata);
	g_malloc_bdev->blocklen = BS;
	CU_ASSERT_EQUAL(nsdata->nsze, 0);
	CU_ASSERT_EQUAL(nsdata->ncap, 0);
	CU_ASSERT_EQUAL(nsdata->lbaf[0].lbads, 0);
	free(nsdata);
	teardown();
}

/* Walk a descriptor list: count descriptors, find one by type. */
static const struct osp_nvme_ns_id_desc *
ut_find_desc(const uint8_t *buf, size_t len, uint8_t nidt, int *count)
{
	const struct osp_nvme_ns_id_desc *found = NULL, *d;
	size_t off = 0;

	*count = 0;
	while (off + sizeof(*d) <= len) {
		d = (const struct osp_nvme_ns_id_desc *)(buf + off);
		if (d->nidt == 0) {
			break;
		}
		(*count)++;
		if (d->nidt == nidt) {
			found = d;
		}
		off += sizeof(*d) + d->nidl;
	}
	return found;
}

static void
test_ns_id_desc_list(void)
{
	struct osp_nvmf_ns ns = { .nsid = 1 };
	uint8_t *buf = calloc(1, OSP_NVME_NS_ID_DESC_LIST_SIZE);
	const struct osp_nvme_ns_id_desc *d;
	struct osp_uuid u;
	int n;

	CU_ASSERT_FATAL(buf != NULL);
	setup();
	memset(ns.opts.nguid, 0x11, sizeof(ns.opts.nguid));
	memset(ns.opts.eui64, 0x22, sizeof(ns.opts.eui64));
	CU_ASSERT_EQUAL(osp_uuid_parse(&ns.opts.uuid, "01234567-89ab-cdef-0123-456789abcdef"), 0);
	nvmf_bdev_ns_id_desc_list(&ns, g_malloc_bdev, buf, OSP_NVME_NS_ID_DESC_LIST_SIZE);
	/* Order: EUI64, NGUID, UUID, CSI. */
	CU_ASSERT_EQUAL(buf[0], OSP_NVME_NIDT_EUI64);
	CU_ASSERT_EQUAL(buf[1], 8);
	CU_ASSERT_EQUAL(buf[4], 0x22);
	CU_ASSERT_EQUAL(buf[12], OSP_NVME_NIDT_NGUID);
	CU_ASSERT_EQUAL(buf[13], 16);
	CU_ASSERT_EQUAL(buf[16], 0x11);
	CU_ASSERT_EQUAL(buf[32], OSP_NVME_NIDT_UUID);
	CU_ASSERT_EQUAL(buf[33], 16);
	CU_ASSERT_EQUAL(memcmp(buf + 36, ns.opts.uuid.u, 16), 0);
	CU_ASSERT_EQUAL(buf[52], OSP_NVME_NIDT_CSI);
	CU_ASSERT_EQUAL(buf[53], 1);
	CU_ASSERT_EQUAL(buf[56], OSP_NVME_CSI_NVM);
	CU_ASSERT_TRUE(ut_is_zero(buf + 57, OSP_NVME_NS_ID_DESC_LIST_SIZE - 57));
	ut_find_desc(buf, OSP_NVME_NS_ID_DESC_LIST_SIZE, 0, &n);
	CU_ASSERT_EQUAL(n, 4);

	/* No EUI64/NGUID, null UUID: the bdev's UUID. */
	memset(&ns.opts, 0, sizeof(ns.opts));
	memset(buf, 0xff, OSP_NVME_NS_ID_DESC_LIST_SIZE);
	nvmf_bdev_ns_id_desc_list(&ns, g_malloc_bdev, buf, OSP_NVME_NS_ID_DESC_LIST_SIZE);
	d = ut_find_desc(buf, OSP_NVME_NS_ID_DESC_LIST_SIZE, OSP_NVME_NIDT_UUID, &n);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(memcmp(d->nid, osp_bdev_get_uuid(g_malloc_bdev)->u, 16), 0);
	CU_ASSERT_PTR_NULL(ut_find_desc(buf, OSP_NVME_NS_ID_DESC_LIST_SIZE, OSP_NVME_NIDT_EUI64,
					&n));
	/* Without any bdev UUID either: only the CSI. */
	memset(&u, 0, sizeof(u));
	memcpy(&g_malloc_bdev->uuid, &u, sizeof(u));
	nvmf_bdev_ns_id_desc_list(&ns, g_malloc_bdev, buf, OSP_NVME_NS_ID_DESC_LIST_SIZE);
	d = ut_find_desc(buf, OSP_NVME_NS_ID_DESC_LIST_SIZE, OSP_NVME_NIDT_CSI, &n);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_PTR_NOT_NULL(d);

	/* Bounded by len: 30 bytes hold the EUI64 (12) and the CSI (5), not the NGUID (20). */
	memset(ns.opts.nguid, 0x11, sizeof(ns.opts.nguid));
	memset(ns.opts.eui64, 0x22, sizeof(ns.opts.eui64));
	memset(buf, 0xee, OSP_NVME_NS_ID_DESC_LIST_SIZE);
	nvmf_bdev_ns_id_desc_list(&ns, g_malloc_bdev, buf, 30);
	CU_ASSERT_EQUAL(buf[0], OSP_NVME_NIDT_EUI64);
	CU_ASSERT_EQUAL(buf[12], OSP_NVME_NIDT_CSI);
	CU_ASSERT_TRUE(ut_is_zero(buf + 17, 30 - 17));
	CU_ASSERT_EQUAL(buf[30], 0xee);
	memset(buf, 0xee, OSP_NVME_NS_ID_DESC_LIST_SIZE);
	nvmf_bdev_ns_id_desc_list(&ns, g_malloc_bdev, buf, 3);
	CU_ASSERT_TRUE(ut_is_zero(buf, 3));
	CU_ASSERT_EQUAL(buf[3], 0xee);
	free(buf);
	teardown();
}

UT_RUN_SUITE("nvmf_ctrlr_bdev",
	     osp_bdev_get_opts(&g_default_opts, sizeof(g_default_opts));
	     CU_add_test(suite, "read_write", test_read_write);
	     CU_add_test(suite, "lba_range", test_lba_range);
	     CU_add_test(suite, "data_length", test_data_length);
	     CU_add_test(suite, "write_zeroes_flush_fua_opcodes", test_write_zeroes_flush);
	     CU_add_test(suite, "dsm", test_dsm);
	     CU_add_test(suite, "dsm_error", test_dsm_error);
	     CU_add_test(suite, "compare", test_compare);
	     CU_add_test(suite, "compare_and_write", test_compare_and_write);
	     CU_add_test(suite, "read_only", test_read_only);
	     CU_add_test(suite, "nomem", test_nomem);
	     CU_add_test(suite, "status_map", test_status_map);
	     CU_add_test(suite, "identify_ns", test_identify_ns);
	     CU_add_test(suite, "ns_id_desc_list", test_ns_id_desc_list);
	    )
