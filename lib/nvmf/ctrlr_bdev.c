/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target bdev back end: NVM command set I/O commands (NVM Command
 * Set Specification 1.0 §3, NVMe Base Specification 2.0) turned into bdev
 * I/O on the namespace's bdev, bdev results turned into NVMe status, and the
 * namespace's Identify data. The contract with the controller core is
 * nvmf_bdev.h; everything runs on the poll group thread owning the request.
 *
 * Per-request state lives in req->bdev_ctx (struct nvmf_bdev_ctx), so the
 * I/O path never allocates: the bdev I/O wait entry for -ENOMEM retries,
 * the completion callback, the Dataset Management counters and what is
 * needed to undo the trimming of the transport's iovec (see
 * nvmf_bdev_prep_iov).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/iov.h"
#include "osprey/log.h"
#include "osprey/util.h"

#include "nvmf_bdev.h"
#include "nvmf_internal.h"

/* CDW12 of Read, Write, Compare and Write Zeroes (NVM Command Set 1.0, Figure 39 ff.). */
#define NVMF_BDEV_CDW12_NLB_MASK	0xffffu
#define NVMF_BDEV_CDW12_FUA		(1u << 30)
/* Dataset Management: CDW10 NR (0's based), CDW11 AD (NVM Command Set 1.0 §3.2.3). */
#define NVMF_BDEV_DSM_NR_MASK		0xffu
#define NVMF_BDEV_DSM_AD		(1u << 2)

/* One Dataset Management range (NVM Command Set 1.0, Figure 41). */
struct nvmf_bdev_dsm_range {
	uint32_t cattr;		/* context attributes: hints, ignored */
	uint32_t nlb;		/* length in logical blocks (not 0's based) */
	uint64_t slba;
} __attribute__((packed));
static_assert(sizeof(struct nvmf_bdev_dsm_range) == 16, "DSM range is 16 bytes");

enum nvmf_bdev_phase {
	NVMF_BDEV_PHASE_IO = 0,
	NVMF_BDEV_PHASE_FUA_FLUSH,	/* a Write with FUA on a write-cached bdev */
};

/* The back end's view of req->bdev_ctx. */
struct nvmf_bdev_ctx {
	struct osp_bdev_io_wait_entry wait;
	nvmf_bdev_done_fn done;
	struct osp_bdev_desc *desc;
	struct osp_io_channel *ch;
	/* On the Compare of a fused Compare and Write: the Write. */
	struct osp_nvmf_request *fused;
	uint64_t slba;
	/* iov_len of iov[trim_idx] before it was shortened to the transfer size. */
	size_t trim_len;
	uint32_t nlb;		/* blocks (1-based) */
	/* Dataset Management: first error (raw status field, 0 = none) and counters. */
	uint16_t dsm_status;
	uint16_t dsm_count;
	uint16_t dsm_next;
	uint16_t dsm_outstanding;
	uint8_t iovcnt;		/* iovecs that hold the transfer */
	uint8_t trim_idx;
	uint8_t phase;		/* enum nvmf_bdev_phase */
	bool trimmed;
	bool fua;
	bool waiting;		/* the wait entry is queued (Dataset Management) */
};
static_assert(sizeof(struct nvmf_bdev_ctx) <= sizeof(((struct osp_nvmf_request *)0)->bdev_ctx),
	      "nvmf_bdev_ctx must fit in the request's bdev_ctx scratch");
static_assert(OSP_NVMF_MAX_REQ_IOVS <= UINT8_MAX, "iov counts are kept in 8 bits");

static inline struct nvmf_bdev_ctx *
nvmf_bdev_ctx(struct osp_nvmf_request *req)
{
	return (struct nvmf_bdev_ctx *)req->bdev_ctx;
}

static void nvmf_bdev_io_done(struct osp_bdev_io *bdev_io, bool success, void *cb_arg);
static void nvmf_bdev_resume(void *cb_arg);
static void nvmf_bdev_dsm_continue(struct osp_nvmf_request *req);

/* ---- status ---- */

static inline void
nvmf_bdev_set_generic(struct osp_nvmf_request *req, int sc, bool dnr)
{
	osp_nvme_cpl_set_status(&req->rsp, OSP_NVME_SCT_GENERIC, sc, dnr);
}

/*
 * Finished bdev I/O -> NVMe status. A module that completed with an NVMe
 * status (NVME_ERROR: e.g. the NVMe bdev passing the drive's answer on) is
 * taken at its word; the generic outcomes map as follows:
 *
 *	bdev status	SCT			SC				DNR
 *	SUCCESS		0 generic		00h Successful Completion	0
 *	MISCOMPARE	2 media/data integrity	85h Compare Failure		1
 *	ABORTED		0 generic		07h Command Abort Requested	0
 *	FAILED		0 generic		06h Internal Error		0
 *	NOMEM		0 generic		06h Internal Error		0
 *	anything else	0 generic		06h Internal Error		0
 *
 * ABORTED comes from a bdev reset or hot removal, not from a fault of the
 * command: the host may retry. A miscompare is the answer to the command,
 * so retrying it is pointless (DNR). FAILED says nothing about the cause,
 * so the host may retry (e.g. on another path). NOMEM never reaches here:
 * the bdev layer retries such I/O itself.
 */
void
nvmf_bdev_set_status(struct osp_nvme_cpl *rsp, const struct osp_bdev_io *bdev_io)
{
	uint32_t cdw0 = 0;
	int sct = OSP_NVME_SCT_GENERIC, sc = OSP_NVME_SC_SUCCESS;

	switch (osp_bdev_io_get_status(bdev_io)) {
	case OSP_BDEV_IO_STATUS_SUCCESS:
		osp_nvme_cpl_set_status(rsp, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SUCCESS, false);
		break;
	case OSP_BDEV_IO_STATUS_NVME_ERROR:
		osp_bdev_io_get_nvme_status(bdev_io, &cdw0, &sct, &sc);
		rsp->cdw0 = cdw0;
		osp_nvme_cpl_set_status(rsp, sct, sc, false);
		break;
	case OSP_BDEV_IO_STATUS_MISCOMPARE:
		osp_nvme_cpl_set_status(rsp, OSP_NVME_SCT_MEDIA_ERROR, OSP_NVME_SC_COMPARE_FAILURE, true);
		break;
	case OSP_BDEV_IO_STATUS_ABORTED:
		osp_nvme_cpl_set_status(rsp, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_BY_REQUEST, false);
		break;
	case OSP_BDEV_IO_STATUS_FAILED:
	case OSP_BDEV_IO_STATUS_NOMEM:
	default:
		osp_nvme_cpl_set_status(rsp, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR,
					false);
		break;
	}
}

/*
 * A submit call's -errno (other than -ENOMEM, which is retried) -> status.
 * The range and the descriptor were checked before, so these are rare:
 * -EINVAL from a bdev rule the command broke (write unit size), -ENOTSUP
 * for a type the bdev can neither do nor have emulated, -EBADF for a
 * read-only descriptor, -ENODEV while the bdev is being removed (the
 * namespace disappears next; the host may retry elsewhere).
 */
static uint16_t
nvmf_bdev_errno_status(int rc)
{
	switch (rc) {
	case -EINVAL:
		return osp_nvme_status_field(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD, true);
	case -ENOTSUP:
		return osp_nvme_status_field(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_OPCODE, true);
	case -EBADF:
		return osp_nvme_status_field(OSP_NVME_SCT_GENERIC,
					     OSP_NVME_SC_NAMESPACE_IS_WRITE_PROTECTED, true);
	case -ENODEV:
		return osp_nvme_status_field(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_NAMESPACE_NOT_READY,
					     false);
	default:
		return osp_nvme_status_field(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR,
					     false);
	}
}

/* ---- request helpers ---- */

static void
nvmf_bdev_ctx_init(struct osp_nvmf_request *req, struct osp_bdev_desc *desc,
		   struct osp_io_channel *ch, nvmf_bdev_done_fn done)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);

	memset(ctx, 0, sizeof(*ctx));
	ctx->done = done;
	ctx->desc = desc;
	ctx->ch = ch;
}

/* SLBA (CDW10-11) and NLB (CDW12 15:0, 0's based) of a Read/Write/Compare/Write Zeroes. */
static inline void
nvmf_bdev_get_range(const struct osp_nvme_cmd *cmd, uint64_t *slba, uint32_t *nlb)
{
	*slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
	*nlb = (cmd->cdw12 & NVMF_BDEV_CDW12_NLB_MASK) + 1;
}

/* slba + nlb - 1 must be a valid LBA; written so that slba near 2^64 cannot wrap. */
static inline bool
nvmf_bdev_range_ok(uint64_t num_blocks, uint64_t slba, uint64_t nlb)
{
	return nlb <= num_blocks && slba <= num_blocks - nlb;
}

/*
 * Make iov[0..ctx->iovcnt) hold exactly `need` bytes for the bdev (zero
 * copy: the transport's buffers). The host may describe more data than the
 * command transfers (NVMe Base 2.0 §4.3.2: an SGL longer than the transfer
 * is allowed); the bdev must not see the excess (a file-backed bdev would
 * read or write it), so the last iovec is shortened for the duration and
 * restored before the request goes back to the core. Less data than needed
 * is Data SGL Length Invalid. Returns false after setting that status.
 */
static bool
nvmf_bdev_prep_iov(struct osp_nvmf_request *req, uint64_t need)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	uint32_t i, iovcnt = OSP_MIN(req->iovcnt, (uint32_t)OSP_NVMF_MAX_REQ_IOVS);
	uint64_t left = need;

	if (req->length < need) {
		goto short_data;
	}
	for (i = 0; i < iovcnt; i++) {
		if (osp_unlikely(req->iov[i].iov_base == NULL)) {
			/* A read would go to a buffer the bdev layer lends and be lost. */
			goto no_buffer;
		}
		if (req->iov[i].iov_len >= left) {
			if (req->iov[i].iov_len > left) {
				ctx->trim_idx = (uint8_t)i;
				ctx->trim_len = req->iov[i].iov_len;
				ctx->trimmed = true;
				req->iov[i].iov_len = left;
			}
			ctx->iovcnt = (uint8_t)(i + 1);
			return true;
		}
		left -= req->iov[i].iov_len;
	}
short_data:
	nvmf_bdev_set_generic(req, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID, true);
	return false;
no_buffer:
	OSP_ERRLOG("request without a data buffer (transport bug)\n");
	nvmf_bdev_set_generic(req, OSP_NVME_SC_INTERNAL_DEVICE_ERROR, false);
	return false;
}

static inline void
nvmf_bdev_restore_iov(struct osp_nvmf_request *req)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);

	if (ctx->trimmed) {
		req->iov[ctx->trim_idx].iov_len = ctx->trim_len;
		ctx->trimmed = false;
	}
}

/* Hand an asynchronously executed request back (rsp filled). req may be gone after. */
static void
nvmf_bdev_finish(struct osp_nvmf_request *req)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);

	nvmf_bdev_restore_iov(req);
	ctx->done(req);
}

/* Same for a request and, for a fused Compare, its Write (Compare first, as submitted). */
static void
nvmf_bdev_finish_all(struct osp_nvmf_request *req)
{
	struct osp_nvmf_request *fused = nvmf_bdev_ctx(req)->fused;

	nvmf_bdev_finish(req);
	if (fused != NULL) {
		nvmf_bdev_finish(fused);
	}
}

/*
 * Status of a request that failed (rc from a submit call, or an error raw
 * status): a fused Write is aborted because its Compare failed (Base 2.0
 * §3.4.2, Command Aborted due to Failed Fused Command).
 */
static void
nvmf_bdev_fail(struct osp_nvmf_request *req, uint16_t raw)
{
	struct osp_nvmf_request *fused = nvmf_bdev_ctx(req)->fused;

	osp_nvme_cpl_set_status_field(&req->rsp, raw);
	if (fused != NULL) {
		nvmf_bdev_set_generic(fused, OSP_NVME_SC_ABORTED_FAILED_FUSED, false);
	}
}

/* ---- submission with -ENOMEM retry ---- */

/* Issue the bdev I/O of the request's current phase. 0 or the submit call's -errno. */
static int
nvmf_bdev_submit(struct osp_nvmf_request *req)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	struct nvmf_bdev_ctx *wctx;
	struct osp_bdev *bdev;

	switch (req->cmd.opc) {
	case OSP_NVME_OPC_READ:
		return osp_bdev_readv_blocks(ctx->desc, ctx->ch, req->iov, ctx->iovcnt, ctx->slba,
					     ctx->nlb, nvmf_bdev_io_done, req);
	case OSP_NVME_OPC_WRITE:
		if (ctx->phase == NVMF_BDEV_PHASE_FUA_FLUSH) {
			return osp_bdev_flush_blocks(ctx->desc, ctx->ch, ctx->slba, ctx->nlb,
						     nvmf_bdev_io_done, req);
		}
		return osp_bdev_writev_blocks(ctx->desc, ctx->ch, req->iov, ctx->iovcnt, ctx->slba,
					      ctx->nlb, nvmf_bdev_io_done, req);
	case OSP_NVME_OPC_COMPARE:
		if (ctx->fused != NULL) {
			wctx = nvmf_bdev_ctx(ctx->fused);
			return osp_bdev_comparev_and_writev_blocks(ctx->desc, ctx->ch, req->iov,
					ctx->iovcnt, ctx->fused->iov, wctx->iovcnt, ctx->slba,
					ctx->nlb, nvmf_bdev_io_done, req);
		}
		return osp_bdev_comparev_blocks(ctx->desc, ctx->ch, req->iov, ctx->iovcnt,
						ctx->slba, ctx->nlb, nvmf_bdev_io_done, req);
	case OSP_NVME_OPC_WRITE_ZEROES:
		return osp_bdev_write_zeroes_blocks(ctx->desc, ctx->ch, ctx->slba, ctx->nlb,
						    nvmf_bdev_io_done, req);
	case OSP_NVME_OPC_FLUSH:
		bdev = osp_bdev_desc_get_bdev(ctx->desc);
		return osp_bdev_flush_blocks(ctx->desc, ctx->ch, 0, osp_bdev_get_num_blocks(bdev),
					     nvmf_bdev_io_done, req);
	default:
		return -EINVAL;
	}
}

/*
 * The bdev had no bdev_io: be called back when one is free. Returns false
 * if that is not possible, which the layer only says when bdev_ios are in
 * fact available, i.e. the -ENOMEM came from somewhere else; the request
 * then fails with a status the host may retry rather than spinning here.
 */
static bool
nvmf_bdev_queue_wait(struct osp_nvmf_request *req)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	int rc;

	ctx->wait.cb_fn = nvmf_bdev_resume;
	ctx->wait.cb_arg = req;
	rc = osp_bdev_queue_io_wait(osp_bdev_desc_get_bdev(ctx->desc), ctx->ch, &ctx->wait);
	if (rc != 0) {
		OSP_ERRLOG("cannot wait for a bdev_io after -ENOMEM: %d\n", rc);
		return false;
	}
	return true;
}

/*
 * Start the request's bdev I/O from the core's call: NVMF_BDEV_ASYNC once
 * something is in flight or queued, else NVMF_BDEV_DONE with the status set
 * (and the iovecs restored).
 */
static int
nvmf_bdev_start(struct osp_nvmf_request *req)
{
	struct osp_nvmf_request *fused = nvmf_bdev_ctx(req)->fused;
	int rc = nvmf_bdev_submit(req);

	if (rc == 0 || (rc == -ENOMEM && nvmf_bdev_queue_wait(req))) {
		return NVMF_BDEV_ASYNC;
	}
	nvmf_bdev_fail(req, nvmf_bdev_errno_status(rc));
	nvmf_bdev_restore_iov(req);
	if (fused != NULL) {
		nvmf_bdev_restore_iov(fused);
	}
	return NVMF_BDEV_DONE;
}

/* Same from a callback (completion or io wait): failures are reported through done(). */
static void
nvmf_bdev_restart(struct osp_nvmf_request *req)
{
	int rc = nvmf_bdev_submit(req);

	if (rc == 0 || (rc == -ENOMEM && nvmf_bdev_queue_wait(req))) {
		return;
	}
	nvmf_bdev_fail(req, nvmf_bdev_errno_status(rc));
	nvmf_bdev_finish_all(req);
}

/* A bdev_io is free again. */
static void
nvmf_bdev_resume(void *cb_arg)
{
	struct osp_nvmf_request *req = cb_arg;
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);

	if (req->cmd.opc == OSP_NVME_OPC_DATASET_MANAGEMENT) {
		ctx->waiting = false;
		nvmf_bdev_dsm_continue(req);
		if (ctx->dsm_outstanding == 0 && !ctx->waiting) {
			osp_nvme_cpl_set_status_field(&req->rsp, ctx->dsm_status);
			nvmf_bdev_finish(req);
		}
		return;
	}
	nvmf_bdev_restart(req);
}

static void
nvmf_bdev_io_done(struct osp_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct osp_nvmf_request *req = cb_arg;
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	struct osp_nvmf_request *fused = ctx->fused;

	nvmf_bdev_set_status(&req->rsp, bdev_io);
	if (fused != NULL) {
		if (success) {
			nvmf_bdev_set_generic(fused, OSP_NVME_SC_SUCCESS, false);
		} else if (osp_bdev_io_get_status(bdev_io) == OSP_BDEV_IO_STATUS_MISCOMPARE) {
			nvmf_bdev_set_generic(fused, OSP_NVME_SC_ABORTED_FAILED_FUSED, false);
		} else {
			/* The layer does not say which half failed: both report it. */
			nvmf_bdev_set_status(&fused->rsp, bdev_io);
		}
	}
	osp_bdev_free_io(bdev_io);

	if (success && ctx->fua && ctx->phase == NVMF_BDEV_PHASE_IO) {
		/*
		 * FUA: the data must be on non-volatile media before the command
		 * completes. Only asked for when the bdev caches writes and can
		 * flush (see nvmf_bdev_exec_rw).
		 */
		ctx->phase = NVMF_BDEV_PHASE_FUA_FLUSH;
		nvmf_bdev_restart(req);
		return;
	}
	nvmf_bdev_finish_all(req);
}

/* ---- commands ---- */

/* Read, Write, Compare (not fused): range and data length checks, then the bdev I/O. */
static int
nvmf_bdev_exec_rw(struct osp_nvmf_request *req, struct osp_bdev *bdev)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	uint32_t bs = osp_bdev_get_block_size(bdev);
	uint64_t slba, need;
	uint32_t nlb;

	nvmf_bdev_get_range(&req->cmd, &slba, &nlb);
	if (!nvmf_bdev_range_ok(osp_bdev_get_num_blocks(bdev), slba, nlb)) {
		nvmf_bdev_set_generic(req, OSP_NVME_SC_LBA_OUT_OF_RANGE, true);
		return NVMF_BDEV_DONE;
	}
	need = (uint64_t)nlb * bs;
	if (!nvmf_bdev_prep_iov(req, need)) {
		return NVMF_BDEV_DONE;
	}
	if (req->cmd.opc == OSP_NVME_OPC_READ) {
		/*
		 * The transport sends req->length bytes to the host: only what
		 * was read, never stale bytes of a larger buffer.
		 */
		req->length = (uint32_t)need;
	}
	ctx->slba = slba;
	ctx->nlb = nlb;
	/*
	 * FUA on a Write: without a volatile write cache every completed write
	 * is already durable, so FUA needs nothing; with one, a flush of the
	 * written range follows the write. A Read's FUA only concerns caches
	 * that could hold data newer than the media, which a bdev does not
	 * expose: ignored.
	 */
	ctx->fua = req->cmd.opc == OSP_NVME_OPC_WRITE && (req->cmd.cdw12 & NVMF_BDEV_CDW12_FUA) &&
		   osp_bdev_has_write_cache(bdev) &&
		   osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_FLUSH);
	return nvmf_bdev_start(req);
}

static int
nvmf_bdev_exec_write_zeroes(struct osp_nvmf_request *req, struct osp_bdev *bdev)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	uint64_t slba;
	uint32_t nlb;

	/* DEAC (CDW12 bit 25) is a hint the controller may ignore: zeroes are written. */
	nvmf_bdev_get_range(&req->cmd, &slba, &nlb);
	if (!nvmf_bdev_range_ok(osp_bdev_get_num_blocks(bdev), slba, nlb)) {
		nvmf_bdev_set_generic(req, OSP_NVME_SC_LBA_OUT_OF_RANGE, true);
		return NVMF_BDEV_DONE;
	}
	if (!osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_WRITE_ZEROES)) {
		nvmf_bdev_set_generic(req, OSP_NVME_SC_INVALID_OPCODE, true);
		return NVMF_BDEV_DONE;
	}
	ctx->slba = slba;
	ctx->nlb = nlb;
	return nvmf_bdev_start(req);
}

static int
nvmf_bdev_exec_flush(struct osp_nvmf_request *req, struct osp_bdev *bdev)
{
	/*
	 * A bdev without flush has nothing volatile to flush (a module that
	 * caches writes implements it): the Flush has succeeded.
	 */
	if (!osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_FLUSH)) {
		nvmf_bdev_set_generic(req, OSP_NVME_SC_SUCCESS, false);
		return NVMF_BDEV_DONE;
	}
	return nvmf_bdev_start(req);
}

static void
nvmf_bdev_dsm_get_range(const struct osp_nvmf_request *req, uint32_t idx,
			struct nvmf_bdev_dsm_range *range)
{
	/* In bounds: exec_dsm checked that the iovecs hold every range. */
	osp_iov_copy_to_buf(range, sizeof(*range), req->iov,
			    (int)OSP_MIN(req->iovcnt, (uint32_t)OSP_NVMF_MAX_REQ_IOVS),
			    (size_t)idx * sizeof(*range));
}

static void
nvmf_bdev_dsm_error(struct nvmf_bdev_ctx *ctx, uint16_t raw)
{
	if (ctx->dsm_status == 0) {
		ctx->dsm_status = raw;
	}
}

static void
nvmf_bdev_dsm_unmap_done(struct osp_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct osp_nvmf_request *req = cb_arg;
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	struct osp_nvme_cpl cpl = {};

	if (!success) {
		nvmf_bdev_set_status(&cpl, bdev_io);
		nvmf_bdev_dsm_error(ctx, osp_nvme_cpl_status_field(&cpl));
	}
	/*
	 * Freeing the bdev_io may run bdev_io waiters, this request's
	 * nvmf_bdev_resume among them: this unmap still counts as outstanding
	 * then, so that only the code below can see the last one finish.
	 */
	osp_bdev_free_io(bdev_io);
	ctx->dsm_outstanding--;
	/* Not waiting: every range was issued, or an error stopped the issuing. */
	if (ctx->dsm_outstanding == 0 && !ctx->waiting) {
		osp_nvme_cpl_set_status_field(&req->rsp, ctx->dsm_status);
		nvmf_bdev_finish(req);
	}
}

/*
 * Issue one unmap per remaining range, all in flight together, until done,
 * an error (the first one is the command's status; the rest is not issued)
 * or -ENOMEM (then ctx->waiting and nvmf_bdev_resume carries on).
 */
static void
nvmf_bdev_dsm_continue(struct osp_nvmf_request *req)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	struct nvmf_bdev_dsm_range range;
	int rc;

	while (ctx->dsm_next < ctx->dsm_count && ctx->dsm_status == 0) {
		nvmf_bdev_dsm_get_range(req, ctx->dsm_next, &range);
		if (range.nlb == 0) {
			ctx->dsm_next++;
			continue;
		}
		rc = osp_bdev_unmap_blocks(ctx->desc, ctx->ch, range.slba, range.nlb,
					   nvmf_bdev_dsm_unmap_done, req);
		if (rc == -ENOMEM) {
			if (nvmf_bdev_queue_wait(req)) {
				ctx->waiting = true;
				return;
			}
		}
		if (rc != 0) {
			nvmf_bdev_dsm_error(ctx, nvmf_bdev_errno_status(rc));
			return;
		}
		ctx->dsm_outstanding++;
		ctx->dsm_next++;
	}
}

/*
 * Dataset Management. Only the Attribute Deallocate matters to a bdev
 * (unmap); the integral read/write hints (IDR, IDW) and the per-range
 * context attributes are advisory and ignored. Deallocation is advisory
 * too (Base 2.0 / NVM Command Set 1.0 §3.2.3: the controller may ignore
 * it), so a bdev without unmap completes the command successfully after
 * the ranges were checked. Ranges of 0 blocks are skipped.
 */
static int
nvmf_bdev_exec_dsm(struct osp_nvmf_request *req, struct osp_bdev *bdev)
{
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(req);
	uint32_t nr = (req->cmd.cdw10 & NVMF_BDEV_DSM_NR_MASK) + 1;
	uint64_t need = (uint64_t)nr * sizeof(struct nvmf_bdev_dsm_range), have = 0;
	uint64_t num_blocks = osp_bdev_get_num_blocks(bdev);
	struct nvmf_bdev_dsm_range range;
	uint32_t i, iovcnt = OSP_MIN(req->iovcnt, (uint32_t)OSP_NVMF_MAX_REQ_IOVS);

	for (i = 0; i < iovcnt && have < need; i++) {
		if (osp_unlikely(req->iov[i].iov_base == NULL)) {
			OSP_ERRLOG("request without a data buffer (transport bug)\n");
			nvmf_bdev_set_generic(req, OSP_NVME_SC_INTERNAL_DEVICE_ERROR, false);
			return NVMF_BDEV_DONE;
		}
		have += req->iov[i].iov_len;
	}
	if (req->length < need || have < need) {
		nvmf_bdev_set_generic(req, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID, true);
		return NVMF_BDEV_DONE;
	}
	for (i = 0; i < nr; i++) {
		nvmf_bdev_dsm_get_range(req, i, &range);
		if (range.nlb != 0 && !nvmf_bdev_range_ok(num_blocks, range.slba, range.nlb)) {
			nvmf_bdev_set_generic(req, OSP_NVME_SC_LBA_OUT_OF_RANGE, true);
			return NVMF_BDEV_DONE;
		}
	}
	if (!(req->cmd.cdw11 & NVMF_BDEV_DSM_AD) ||
	    !osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP)) {
		nvmf_bdev_set_generic(req, OSP_NVME_SC_SUCCESS, false);
		return NVMF_BDEV_DONE;
	}
	ctx->dsm_count = (uint16_t)nr;
	nvmf_bdev_dsm_continue(req);
	if (ctx->dsm_outstanding == 0 && !ctx->waiting) {
		osp_nvme_cpl_set_status_field(&req->rsp, ctx->dsm_status);
		return NVMF_BDEV_DONE;
	}
	return NVMF_BDEV_ASYNC;
}

int
nvmf_bdev_exec_io(struct osp_nvmf_request *req, struct osp_bdev_desc *desc,
		  struct osp_io_channel *ch, nvmf_bdev_done_fn done)
{
	struct osp_bdev *bdev = osp_bdev_desc_get_bdev(desc);

	nvmf_bdev_ctx_init(req, desc, ch, done);
	if (osp_unlikely(!osp_is_pow2_64(osp_bdev_get_block_size(bdev)))) {
		/* Identify reported no capacity (LBADS cannot describe the block size). */
		nvmf_bdev_set_generic(req, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT, true);
		return NVMF_BDEV_DONE;
	}
	switch (req->cmd.opc) {
	case OSP_NVME_OPC_READ:
	case OSP_NVME_OPC_WRITE:
	case OSP_NVME_OPC_COMPARE:
		return nvmf_bdev_exec_rw(req, bdev);
	case OSP_NVME_OPC_FLUSH:
		return nvmf_bdev_exec_flush(req, bdev);
	case OSP_NVME_OPC_WRITE_ZEROES:
		return nvmf_bdev_exec_write_zeroes(req, bdev);
	case OSP_NVME_OPC_DATASET_MANAGEMENT:
		return nvmf_bdev_exec_dsm(req, bdev);
	default:
		nvmf_bdev_set_generic(req, OSP_NVME_SC_INVALID_OPCODE, true);
		return NVMF_BDEV_DONE;
	}
}

/*
 * Fused Compare and Write (Base 2.0 §3.4.2, NVM Command Set 1.0 §3.3.1 /
 * §3.3.6): both commands must name the same LBA range (else Invalid Field
 * in both). When the Compare cannot run its Write is aborted (Command
 * Aborted due to Failed Fused Command), and the other way round. FUA on
 * the Write is not honoured here (the bdev layer has no fused flush).
 */
int
nvmf_bdev_exec_compare_and_write(struct osp_nvmf_request *cmp, struct osp_nvmf_request *write,
				 struct osp_bdev_desc *desc, struct osp_io_channel *ch,
				 nvmf_bdev_done_fn done)
{
	struct osp_bdev *bdev = osp_bdev_desc_get_bdev(desc);
	struct nvmf_bdev_ctx *ctx = nvmf_bdev_ctx(cmp);
	uint32_t bs = osp_bdev_get_block_size(bdev);
	uint64_t slba, wslba;
	uint32_t nlb, wnlb;

	nvmf_bdev_ctx_init(cmp, desc, ch, done);
	nvmf_bdev_ctx_init(write, desc, ch, done);
	nvmf_bdev_get_range(&cmp->cmd, &slba, &nlb);
	nvmf_bdev_get_range(&write->cmd, &wslba, &wnlb);
	if (cmp->cmd.opc != OSP_NVME_OPC_COMPARE || write->cmd.opc != OSP_NVME_OPC_WRITE ||
	    cmp->cmd.nsid != write->cmd.nsid || slba != wslba || nlb != wnlb) {
		nvmf_bdev_set_generic(cmp, OSP_NVME_SC_INVALID_FIELD, true);
		nvmf_bdev_set_generic(write, OSP_NVME_SC_INVALID_FIELD, true);
		return NVMF_BDEV_DONE;
	}
	ctx->fused = write;
	if (!nvmf_bdev_range_ok(osp_bdev_get_num_blocks(bdev), slba, nlb)) {
		nvmf_bdev_fail(cmp, osp_nvme_status_field(OSP_NVME_SCT_GENERIC,
				OSP_NVME_SC_LBA_OUT_OF_RANGE, true));
		return NVMF_BDEV_DONE;
	}
	if (!nvmf_bdev_prep_iov(cmp, (uint64_t)nlb * bs)) {
		nvmf_bdev_set_generic(write, OSP_NVME_SC_ABORTED_FAILED_FUSED, false);
		return NVMF_BDEV_DONE;
	}
	if (!nvmf_bdev_prep_iov(write, (uint64_t)nlb * bs)) {
		nvmf_bdev_restore_iov(cmp);
		nvmf_bdev_set_generic(cmp, OSP_NVME_SC_ABORTED_FAILED_FUSED, false);
		return NVMF_BDEV_DONE;
	}
	ctx->slba = slba;
	ctx->nlb = nlb;
	return nvmf_bdev_start(cmp);
}

/* ---- Identify ---- */

static bool
nvmf_bdev_all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

void
nvmf_bdev_identify_ns(const struct osp_nvmf_ns *ns, struct osp_bdev *bdev,
		      struct osp_nvme_ns_data *nsdata)
{
	uint32_t bs = osp_bdev_get_block_size(bdev);
	uint64_t num_blocks = osp_bdev_get_num_blocks(bdev);
	uint32_t boundary = osp_bdev_get_optimal_io_boundary(bdev);
	unsigned __int128 cap;
	int i;

	memset(nsdata, 0, sizeof(*nsdata));
	if (!osp_is_pow2_64(bs)) {
		/*
		 * LBADS is a power of two: a 1536-byte block cannot be described,
		 * and any other value would make the host misplace data. Report
		 * a namespace of no capacity instead.
		 */
		OSP_ERRLOG("bdev %s: block size %u is not a power of 2: nsid %u has no capacity\n",
			   osp_bdev_get_name(bdev), bs, ns->nsid);
		return;
	}
	/* Fully provisioned: NUSE = NCAP = NSZE, NSFEAT THINP clear. */
	nsdata->nsze = num_blocks;
	nsdata->ncap = num_blocks;
	nsdata->nuse = num_blocks;
	/*
	 * NSFEAT: no thin provisioning, NAWUN/NAWUPF/NACWU not reported (the
	 * controller's AWUN/AWUPF/ACWU apply), no Deallocated or Unwritten
	 * Logical Block error (a bdev never reports one), no optimal
	 * performance fields.
	 */
	nsdata->nsfeat = 0;
	nsdata->nlbaf = 0;	/* one format, 0's based */
	nsdata->flbas = 0;	/* format 0, no metadata */
	nsdata->nmic = OSP_NVME_NS_NMIC_SHARED;
	/*
	 * DLFEAT 0: what a deallocated block reads back as is not reported,
	 * because the bdev API does not promise anything about it (malloc
	 * reads zeroes, a file or a drive may not), and Write Zeroes' DEAC is
	 * not acted on.
	 */
	nsdata->dlfeat = 0;
	nsdata->noiob = boundary <= UINT16_MAX ? (uint16_t)boundary : 0;
	cap = (unsigned __int128)num_blocks * bs;
	for (i = 0; i < 16; i++) {
		nsdata->nvmcap[i] = (uint8_t)(cap >> (8 * i));
	}
	memcpy(nsdata->nguid, ns->opts.nguid, sizeof(nsdata->nguid));
	memcpy(nsdata->eui64, ns->opts.eui64, sizeof(nsdata->eui64));
	nsdata->lbaf[0].ms = 0;
	nsdata->lbaf[0].lbads = (uint8_t)osp_u32log2(bs);
	nsdata->lbaf[0].rp = 0;
}

/* Append one descriptor at *off if it fits in len. */
static void
nvmf_bdev_add_desc(uint8_t *buf, size_t len, size_t *off, uint8_t nidt, const void *nid,
		   uint8_t nidl)
{
	struct osp_nvme_ns_id_desc *d;

	if (*off > len || len - *off < sizeof(*d) + nidl) {
		return;
	}
	d = (struct osp_nvme_ns_id_desc *)(buf + *off);
	d->nidt = nidt;
	d->nidl = nidl;
	d->rsvd[0] = 0;
	d->rsvd[1] = 0;
	memcpy(d->nid, nid, nidl);
	*off += sizeof(*d) + nidl;
}

void
nvmf_bdev_ns_id_desc_list(const struct osp_nvmf_ns *ns, struct osp_bdev *bdev, void *buf,
			  size_t len)
{
	const struct osp_uuid *uuid = &ns->opts.uuid;
	uint8_t csi = OSP_NVME_CSI_NVM;
	size_t off = 0;

	memset(buf, 0, len);
	if (!nvmf_bdev_all_zero(ns->opts.eui64, sizeof(ns->opts.eui64))) {
		nvmf_bdev_add_desc(buf, len, &off, OSP_NVME_NIDT_EUI64, ns->opts.eui64,
				   OSP_NVME_NIDT_EUI64_LEN);
	}
	if (!nvmf_bdev_all_zero(ns->opts.nguid, sizeof(ns->opts.nguid))) {
		nvmf_bdev_add_desc(buf, len, &off, OSP_NVME_NIDT_NGUID, ns->opts.nguid,
				   OSP_NVME_NIDT_NGUID_LEN);
	}
	if (osp_uuid_is_null(uuid) && bdev != NULL) {
		uuid = osp_bdev_get_uuid(bdev);
	}
	if (uuid != NULL && !osp_uuid_is_null(uuid)) {
		nvmf_bdev_add_desc(buf, len, &off, OSP_NVME_NIDT_UUID, uuid->u,
				   OSP_NVME_NIDT_UUID_LEN);
	}
	/* Command Set Identifier: required when the controller supports I/O command sets. */
	nvmf_bdev_add_desc(buf, len, &off, OSP_NVME_NIDT_CSI, &csi, OSP_NVME_NIDT_CSI_LEN);
}
