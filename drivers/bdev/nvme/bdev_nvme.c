/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe bdev module: NVMe controllers (NVMe/TCP through lib/nvme) as bdevs.
 *
 * Threads: a controller belongs to the thread that attached it (the app
 * thread); its admin queue (keep alive, namespace change events) is polled
 * there. The controller is the io_device: a thread's channel is one I/O
 * qpair of its own, polled by that channel's poller, so the I/O path takes
 * no lock. Qpairs connect asynchronously (submits return NOMEM meanwhile and
 * the bdev layer retries), and a failed qpair is replaced the same way, so
 * nothing here blocks a reactor for a network round trip; a controller
 * reset is driven by a poller on the admin thread through lib/nvme's async
 * reset, while the admin poller stands aside.
 *
 * Namespace events come from lib/nvme on the admin thread with the
 * controller lock held; they are turned into messages so that bdevs are
 * registered and unregistered outside that lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "osprey/bdev_module.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/nvme.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_nvme.h"

#define ADMINQ_POLL_US 10000
#define PROBE_POLL_US 1000
#define RESET_POLL_US 100
#define QPAIR_RETRY_US 100000
/*
 * An I/O aborted because its queue went away (ABORTED - SQ DELETION: a
 * controller reset, or no qpair while one is being re-created) is queued on
 * its channel and submitted again once the channel has a qpair, at most this
 * many times; it fails only when the controller is failed or being deleted.
 */
#define NVME_IO_MAX_RETRIES 3
#define UNMAP_RANGES 16

enum nvme_ctrlr_state {
	NCTRLR_CONNECTING,
	NCTRLR_ENABLED,
	NCTRLR_RESETTING,
	NCTRLR_FAILED,
	NCTRLR_DELETING,
};

struct nvme_bdev;

struct nvme_bdev_ctrlr {
	struct bdev_nvme_attach_opts opts;
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_thread *thread;
	enum nvme_ctrlr_state state;
	struct osp_nvme_probe_ctx *probe;
	struct osp_poller *probe_poller;
	struct osp_poller *adminq_poller;
	bdev_nvme_attach_cb attach_cb;
	void *attach_cb_arg;
	int attach_rc;
	char attach_msg[1400];
	bool io_device_registered;
	TAILQ_HEAD(, nvme_bdev) bdevs;
	/* Bumped by each successful reset: channels rebuild their qpair. */
	uint32_t generation;
	/* Reset: the poller driving it and the RESET bdev_ios waiting for it. */
	struct osp_poller *reset_poller;
	int reset_rc;
	TAILQ_HEAD(, nvme_bdev_io) reset_waiters;
	TAILQ_HEAD(, nvme_reset_rpc_waiter) reset_rpc_waiters;
	/* Detach in progress: who to tell when it is done. */
	void (*detach_cb)(void *cb_arg, int rc);
	void *detach_cb_arg;
	bool detach_pending;	/* asked for while a reset was running */
	TAILQ_ENTRY(nvme_bdev_ctrlr) link;
};

struct nvme_reset_rpc_waiter {
	void (*cb_fn)(void *cb_arg, int rc);
	void *cb_arg;
	TAILQ_ENTRY(nvme_reset_rpc_waiter) link;
};

struct nvme_bdev {
	struct osp_bdev bdev;
	struct nvme_bdev_ctrlr *nctrlr;
	uint32_t nsid;
	struct osp_nvme_ns *ns;
	bool removing;
	TAILQ_ENTRY(nvme_bdev) link;
};

struct nvme_io_channel {
	struct nvme_bdev_ctrlr *nctrlr;
	struct osp_nvme_qpair *qpair;
	struct osp_poller *poller;
	bool failed;
	uint32_t generation;
	uint64_t next_retry_us;
	/* I/O waiting for a working qpair (see NVME_IO_MAX_RETRIES). */
	TAILQ_HEAD(, nvme_bdev_io) retry_queue;
};

/* Per-I/O state in bdev_io->driver_ctx. */
struct nvme_bdev_io {
	struct osp_bdev_io *bdev_io;
	struct nvme_io_channel *ch;
	struct osp_thread *thread;	/* reset: where to complete */
	/* write zeroes in pieces of at most 65536 blocks */
	uint64_t wz_next;
	uint64_t wz_left;
	uint32_t retries;
	/* reset_waiters (RESET) or the channel's retry_queue (other I/O) */
	TAILQ_ENTRY(nvme_bdev_io) link;
	struct osp_nvme_dsm_range ranges[UNMAP_RANGES];
};

static TAILQ_HEAD(, nvme_bdev_ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);
static bool g_finishing;
static uint32_t g_fini_pending;

static int bdev_nvme_module_init(void);
static void bdev_nvme_module_fini(void);
static int bdev_nvme_get_ctx_size(void);
static void bdev_nvme_config_json(cJSON *array);

static struct osp_bdev_module g_nvme_module = {
	.name = "nvme",
	.module_init = bdev_nvme_module_init,
	.module_fini = bdev_nvme_module_fini,
	.get_ctx_size = bdev_nvme_get_ctx_size,
	.config_json = bdev_nvme_config_json,
	.async_fini = true,
};
OSP_BDEV_MODULE_REGISTER(nvme, &g_nvme_module)

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static struct nvme_bdev_ctrlr *
nctrlr_find(const char *name)
{
	struct nvme_bdev_ctrlr *n;

	TAILQ_FOREACH(n, &g_ctrlrs, link) {
		if (strcmp(n->opts.name, name) == 0) {
			return n;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ data path */

/* Queue nio for another try on its channel; false when it must fail now. */
static bool
nvme_io_retry(struct nvme_bdev_io *nio)
{
	struct nvme_io_channel *ch = nio->ch;
	enum nvme_ctrlr_state state = ch->nctrlr->state;

	if (nio->retries >= NVME_IO_MAX_RETRIES || g_finishing ||
	    (state != NCTRLR_ENABLED && state != NCTRLR_RESETTING)) {
		return false;
	}
	nio->retries++;
	TAILQ_INSERT_TAIL(&ch->retry_queue, nio, link);
	return true;
}

/* The I/O's queue is gone (reset, no qpair): retried, or failed as aborted. */
static void
nvme_io_aborted(struct nvme_bdev_io *nio)
{
	if (!nvme_io_retry(nio)) {
		osp_bdev_io_complete_nvme_status(nio->bdev_io, 0, OSP_NVME_SCT_GENERIC,
						 OSP_NVME_SC_ABORTED_SQ_DELETION);
	}
}

static void
nvme_io_done(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct nvme_bdev_io *nio = arg;

	if (osp_unlikely(osp_nvme_cpl_is_status(cpl, OSP_NVME_SCT_GENERIC,
						OSP_NVME_SC_ABORTED_SQ_DELETION)) &&
	    nvme_io_retry(nio)) {
		return;
	}
	osp_bdev_io_complete_nvme_status(nio->bdev_io, cpl->cdw0, cpl->status.sct, cpl->status.sc);
}

static int nvme_submit_write_zeroes_next(struct nvme_bdev_io *nio);

static void
nvme_write_zeroes_done(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct nvme_bdev_io *nio = arg;
	int rc;

	if (osp_nvme_cpl_is_error(cpl) || nio->wz_left == 0) {
		nvme_io_done(arg, cpl);
		return;
	}
	rc = nvme_submit_write_zeroes_next(nio);
	if (rc != 0) {
		/* The qpair filled up or failed mid-way: do it again (from the start). */
		nvme_io_aborted(nio);
	}
}

static int
nvme_submit_write_zeroes_next(struct nvme_bdev_io *nio)
{
	struct nvme_bdev *nbdev = nio->bdev_io->bdev->ctxt;
	uint32_t n = (uint32_t)OSP_MIN(nio->wz_left, 65536);
	uint64_t lba = nio->wz_next;
	int rc;

	rc = osp_nvme_ns_cmd_write_zeroes(nbdev->ns, nio->ch->qpair, lba, n,
					  nvme_write_zeroes_done, nio, 0);
	if (rc == 0) {
		nio->wz_next += n;
		nio->wz_left -= n;
	}
	return rc;
}

static int
nvme_submit_unmap(struct nvme_bdev *nbdev, struct nvme_bdev_io *nio, struct osp_bdev_io *bdev_io)
{
	uint64_t lba = bdev_io->u.bdev.offset_blocks, left = bdev_io->u.bdev.num_blocks;
	uint16_t n = 0;

	while (left > 0) {
		uint32_t cnt = (uint32_t)OSP_MIN(left, UINT32_MAX);

		if (n == UNMAP_RANGES) {
			return -EINVAL;
		}
		nio->ranges[n].cattr = 0;
		nio->ranges[n].nlb = cnt;
		nio->ranges[n].slba = lba;
		n++;
		lba += cnt;
		left -= cnt;
	}
	return osp_nvme_ns_cmd_dataset_management(nbdev->ns, nio->ch->qpair,
						  OSP_NVME_DSM_ATTR_DEALLOCATE, nio->ranges, n,
						  nvme_io_done, nio);
}

static void nvme_reset_start(struct nvme_bdev_io *nio);

static int
nvme_submit(struct nvme_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct nvme_bdev *nbdev = bdev_io->bdev->ctxt;
	struct nvme_bdev_io *nio = (struct nvme_bdev_io *)bdev_io->driver_ctx;
	uint64_t lba = bdev_io->u.bdev.offset_blocks;
	uint32_t cnt = (uint32_t)bdev_io->u.bdev.num_blocks;

	if (ch->qpair == NULL || ch->failed) {
		return -ENXIO;
	}
	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
		if (bdev_io->u.bdev.iovcnt > OSP_NVME_MAX_IOVS) {
			return -EINVAL;
		}
		return osp_nvme_ns_cmd_readv(nbdev->ns, ch->qpair, bdev_io->u.bdev.iovs,
					     bdev_io->u.bdev.iovcnt, lba, cnt, nvme_io_done, nio, 0);
	case OSP_BDEV_IO_TYPE_WRITE:
		if (bdev_io->u.bdev.iovcnt > OSP_NVME_MAX_IOVS) {
			return -EINVAL;
		}
		return osp_nvme_ns_cmd_writev(nbdev->ns, ch->qpair, bdev_io->u.bdev.iovs,
					      bdev_io->u.bdev.iovcnt, lba, cnt, nvme_io_done, nio, 0);
	case OSP_BDEV_IO_TYPE_COMPARE:
		if (bdev_io->u.bdev.iovcnt != 1) {
			return -EINVAL;
		}
		return osp_nvme_ns_cmd_compare(nbdev->ns, ch->qpair, bdev_io->u.bdev.iovs[0].iov_base,
					       lba, cnt, nvme_io_done, nio, 0);
	case OSP_BDEV_IO_TYPE_FLUSH:
		return osp_nvme_ns_cmd_flush(nbdev->ns, ch->qpair, nvme_io_done, nio);
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		nio->wz_next = lba;
		nio->wz_left = bdev_io->u.bdev.num_blocks;
		return nvme_submit_write_zeroes_next(nio);
	case OSP_BDEV_IO_TYPE_UNMAP:
		return nvme_submit_unmap(nbdev, nio, bdev_io);
	default:
		return -EINVAL;
	}
}

static void
nvme_read_get_buf_cb(struct osp_io_channel *_ch, struct osp_bdev_io *bdev_io, bool success)
{
	struct nvme_io_channel *ch = osp_io_channel_get_ctx(_ch);
	int rc;

	if (!success) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	rc = nvme_submit(ch, bdev_io);
	if (rc == -ENOMEM) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
	} else if (rc == -ENXIO) {
		nvme_io_aborted((struct nvme_bdev_io *)bdev_io->driver_ctx);
	} else if (rc != 0) {
		osp_bdev_io_complete_nvme_status(bdev_io, 0, OSP_NVME_SCT_GENERIC,
						 OSP_NVME_SC_INVALID_FIELD);
	}
}

static void
bdev_nvme_submit_request(struct osp_io_channel *_ch, struct osp_bdev_io *bdev_io)
{
	struct nvme_io_channel *ch = osp_io_channel_get_ctx(_ch);
	struct nvme_bdev_io *nio = (struct nvme_bdev_io *)bdev_io->driver_ctx;
	int rc;

	nio->bdev_io = bdev_io;
	nio->ch = ch;
	nio->retries = 0;
	if (bdev_io->type == OSP_BDEV_IO_TYPE_RESET) {
		nio->thread = osp_get_thread();
		nvme_reset_start(nio);
		return;
	}
	if (bdev_io->type == OSP_BDEV_IO_TYPE_READ && bdev_io->u.bdev.iovs[0].iov_base == NULL) {
		osp_bdev_io_get_buf(bdev_io, nvme_read_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	rc = nvme_submit(ch, bdev_io);
	if (osp_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM) {
		/* Queue full or still connecting: the layer resubmits. */
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
	} else if (rc == -ENXIO) {
		/* No connection (a reset): retried once the channel has a qpair again. */
		nvme_io_aborted(nio);
	} else {
		osp_bdev_io_complete_nvme_status(bdev_io, 0, OSP_NVME_SCT_GENERIC,
						 OSP_NVME_SC_INVALID_FIELD);
	}
}

static bool
bdev_nvme_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct nvme_bdev *nbdev = ctx;
	const struct osp_nvme_ctrlr_data *cdata = osp_nvme_ctrlr_get_data(nbdev->nctrlr->ctrlr);
	uint16_t oncs = cdata ? cdata->oncs : 0;

	switch (type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_FLUSH:
	case OSP_BDEV_IO_TYPE_RESET:
		return true;
	case OSP_BDEV_IO_TYPE_COMPARE:
		return (oncs & (1u << 0)) != 0;
	case OSP_BDEV_IO_TYPE_UNMAP:
		return (oncs & (1u << 2)) != 0;
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		return (oncs & (1u << 3)) != 0;
	default:
		/* COMPARE_AND_WRITE: the layer emulates it under its range lock. */
		return false;
	}
}

/* ------------------------------------------------------------ channels */

/* Fail every queued retry (the controller failed, or the channel goes away). */
static void
nvme_channel_fail_retries(struct nvme_io_channel *ch)
{
	struct nvme_bdev_io *nio;

	while ((nio = TAILQ_FIRST(&ch->retry_queue)) != NULL) {
		TAILQ_REMOVE(&ch->retry_queue, nio, link);
		osp_bdev_io_complete_nvme_status(nio->bdev_io, 0, OSP_NVME_SCT_GENERIC,
						 OSP_NVME_SC_ABORTED_SQ_DELETION);
	}
}

/* Submit the queued retries again, in order, while the qpair takes them. */
static void
nvme_channel_resubmit(struct nvme_io_channel *ch)
{
	struct nvme_bdev_io *nio;
	int rc;

	while ((nio = TAILQ_FIRST(&ch->retry_queue)) != NULL) {
		TAILQ_REMOVE(&ch->retry_queue, nio, link);
		rc = nvme_submit(ch, nio->bdev_io);
		if (rc == -ENOMEM) {
			TAILQ_INSERT_HEAD(&ch->retry_queue, nio, link); /* queue full: later */
			return;
		}
		if (rc == -ENXIO) {
			nvme_io_aborted(nio);
			return;
		}
		if (rc != 0) {
			osp_bdev_io_complete_nvme_status(nio->bdev_io, 0, OSP_NVME_SCT_GENERIC,
							 OSP_NVME_SC_INVALID_FIELD);
		}
	}
}

static int
nvme_channel_connect(struct nvme_io_channel *ch)
{
	struct osp_nvme_io_qpair_opts qo;

	osp_nvme_ctrlr_get_default_io_qpair_opts(ch->nctrlr->ctrlr, &qo, sizeof(qo));
	qo.async_mode = true;
	ch->qpair = osp_nvme_ctrlr_alloc_io_qpair(ch->nctrlr->ctrlr, &qo, sizeof(qo));
	ch->generation = ch->nctrlr->generation;
	ch->failed = ch->qpair == NULL;
	return ch->qpair == NULL ? -(errno ? errno : ENOMEM) : 0;
}

static int
nvme_channel_poll(void *arg)
{
	struct nvme_io_channel *ch = arg;
	struct nvme_bdev_ctrlr *nctrlr = ch->nctrlr;
	int32_t rc;

	if (osp_likely(ch->qpair != NULL && !ch->failed)) {
		rc = osp_nvme_qpair_process_completions(ch->qpair, 0);
		if (osp_unlikely(!TAILQ_EMPTY(&ch->retry_queue)) && rc >= 0 &&
		    osp_nvme_qpair_is_connected(ch->qpair)) {
			nvme_channel_resubmit(ch);
			return OSP_POLLER_BUSY;
		}
		if (osp_likely(rc >= 0)) {
			/*
			 * lib/nvme's sockets are not in the reactor's epoll set, so a
			 * reactor that went to sleep would not wake for their completions:
			 * stay busy while commands are in flight, idle only when none are.
			 */
			return rc > 0 || osp_nvme_qpair_get_num_outstanding(ch->qpair) > 0 ||
			       !osp_nvme_qpair_is_connected(ch->qpair) ?
			       OSP_POLLER_BUSY : OSP_POLLER_IDLE;
		}
		if (ch->generation != nctrlr->generation || nctrlr->state == NCTRLR_RESETTING) {
			/* Expected: a controller reset disconnects every qpair. */
			OSP_NOTICELOG("%s: I/O qpair %u disconnected by the controller reset\n",
				      nctrlr->opts.name, osp_nvme_qpair_get_id(ch->qpair));
		} else {
			OSP_ERRLOG("%s: I/O qpair %u failed: %s\n", nctrlr->opts.name,
				   osp_nvme_qpair_get_id(ch->qpair), strerror(-rc));
		}
		ch->failed = true;
		ch->next_retry_us = 0;
		return OSP_POLLER_BUSY;
	}
	/*
	 * No working qpair: make a new one once the controller works again
	 * (after a reset), at most every QPAIR_RETRY_US. The connect is async.
	 */
	if (nctrlr->state == NCTRLR_FAILED || nctrlr->state == NCTRLR_DELETING ||
	    (nctrlr->state == NCTRLR_ENABLED && osp_nvme_ctrlr_is_failed(nctrlr->ctrlr))) {
		/* No reset is coming (or it failed; or a removed device): fail them. */
		nvme_channel_fail_retries(ch);
	}
	if (nctrlr->state != NCTRLR_ENABLED || osp_nvme_ctrlr_is_failed(nctrlr->ctrlr) ||
	    now_us() < ch->next_retry_us) {
		return TAILQ_EMPTY(&ch->retry_queue) ? OSP_POLLER_IDLE : OSP_POLLER_BUSY;
	}
	ch->next_retry_us = now_us() + QPAIR_RETRY_US;
	if (ch->qpair != NULL) {
		osp_nvme_ctrlr_free_io_qpair(ch->qpair);
		ch->qpair = NULL;
	}
	if (nvme_channel_connect(ch) == 0) {
		OSP_NOTICELOG("%s: I/O qpair reconnecting\n", nctrlr->opts.name);
	}
	return OSP_POLLER_BUSY;
}

static int
nvme_channel_create(void *io_device, void *ctx_buf)
{
	struct nvme_io_channel *ch = ctx_buf;
	int rc;

	ch->nctrlr = io_device;
	TAILQ_INIT(&ch->retry_queue);
	rc = nvme_channel_connect(ch);
	if (rc != 0) {
		/* Not fatal: I/O fails until the poller gets a qpair. */
		OSP_ERRLOG("%s: cannot allocate an I/O qpair: %s\n", ch->nctrlr->opts.name,
			   strerror(-rc));
		ch->next_retry_us = now_us() + QPAIR_RETRY_US;
	}
	ch->poller = osp_poller_register_named(nvme_channel_poll, ch, 0, "bdev_nvme_poll");
	if (ch->poller == NULL) {
		if (ch->qpair != NULL) {
			osp_nvme_ctrlr_free_io_qpair(ch->qpair);
		}
		return -ENOMEM;
	}
	return 0;
}

static void
nvme_channel_destroy(void *io_device, void *ctx_buf)
{
	struct nvme_io_channel *ch = ctx_buf;

	osp_poller_unregister(&ch->poller);
	nvme_channel_fail_retries(ch);
	if (ch->qpair != NULL) {
		osp_nvme_ctrlr_free_io_qpair(ch->qpair);
		ch->qpair = NULL;
	}
}

static struct osp_io_channel *
bdev_nvme_get_io_channel(void *ctx)
{
	struct nvme_bdev *nbdev = ctx;

	return osp_get_io_channel(nbdev->nctrlr);
}

/* ------------------------------------------------------------ reset */

static void
nvme_reset_complete_io(void *arg)
{
	struct nvme_bdev_io *nio = arg;

	osp_bdev_io_complete(nio->bdev_io, nio->ch->nctrlr->reset_rc == 0 ?
			     OSP_BDEV_IO_STATUS_SUCCESS : OSP_BDEV_IO_STATUS_FAILED);
}

static void nvme_ctrlr_detach_continue(struct nvme_bdev_ctrlr *nctrlr);

/* On the admin thread, once the reset finished (or could not start). */
static void
nvme_reset_done(void *arg)
{
	struct nvme_bdev_ctrlr *nctrlr = arg;
	struct nvme_bdev_io *nio;
	struct nvme_reset_rpc_waiter *w;

	if (nctrlr->reset_rc == 0) {
		OSP_NOTICELOG("%s: controller reset done\n", nctrlr->opts.name);
		nctrlr->state = NCTRLR_ENABLED;
		nctrlr->generation++;
	} else {
		OSP_ERRLOG("%s: controller reset failed: %s\n", nctrlr->opts.name,
			   strerror(-nctrlr->reset_rc));
		nctrlr->state = NCTRLR_FAILED;
	}
	osp_poller_resume(nctrlr->adminq_poller);
	while ((nio = TAILQ_FIRST(&nctrlr->reset_waiters)) != NULL) {
		TAILQ_REMOVE(&nctrlr->reset_waiters, nio, link);
		if (osp_thread_send_msg(nio->thread, nvme_reset_complete_io, nio) != 0) {
			OSP_ERRLOG("%s: cannot complete a reset\n", nctrlr->opts.name);
		}
	}
	while ((w = TAILQ_FIRST(&nctrlr->reset_rpc_waiters)) != NULL) {
		TAILQ_REMOVE(&nctrlr->reset_rpc_waiters, w, link);
		w->cb_fn(w->cb_arg, nctrlr->reset_rc);
		free(w);
	}
	if (nctrlr->detach_pending) {
		nctrlr->detach_pending = false;
		nctrlr->state = NCTRLR_DELETING;
		nvme_ctrlr_detach_continue(nctrlr);
	}
}

/* Admin thread: advance the reset until lib/nvme says it is over. */
static int
nvme_reset_poll(void *arg)
{
	struct nvme_bdev_ctrlr *nctrlr = arg;
	int rc = osp_nvme_ctrlr_reset_poll_async(nctrlr->ctrlr);

	if (rc == -EAGAIN) {
		return OSP_POLLER_BUSY;
	}
	osp_poller_unregister(&nctrlr->reset_poller);
	nctrlr->reset_rc = rc;
	nvme_reset_done(nctrlr);
	return OSP_POLLER_BUSY;
}

/* On the admin thread, with a waiter queued: start a reset unless one runs. */
static void
nvme_reset_begin(struct nvme_bdev_ctrlr *nctrlr)
{
	if (nctrlr->state == NCTRLR_RESETTING) {
		return;
	}
	OSP_NOTICELOG("%s: resetting the controller\n", nctrlr->opts.name);
	nctrlr->state = NCTRLR_RESETTING;
	/* The reset owns the admin queue: keep our poller off it meanwhile. */
	osp_poller_pause(nctrlr->adminq_poller);
	nctrlr->reset_rc = osp_nvme_ctrlr_reset_async(nctrlr->ctrlr);
	if (nctrlr->reset_rc != 0) {
		nvme_reset_done(nctrlr);
		return;
	}
	nctrlr->reset_poller = osp_poller_register_named(nvme_reset_poll, nctrlr, RESET_POLL_US,
			       "bdev_nvme_reset");
	if (nctrlr->reset_poller == NULL) {
		/* lib/nvme's reset is under way; finish it the slow way rather than leak it. */
		while ((nctrlr->reset_rc = osp_nvme_ctrlr_reset_poll_async(nctrlr->ctrlr)) == -EAGAIN) {
			usleep(100);
		}
		nvme_reset_done(nctrlr);
	}
}

int
bdev_nvme_reset_controller(const char *name, void (*cb_fn)(void *cb_arg, int rc), void *cb_arg)
{
	struct nvme_bdev_ctrlr *nctrlr = nctrlr_find(name);
	struct nvme_reset_rpc_waiter *w;

	if (nctrlr == NULL) {
		return -ENODEV;
	}
	if (nctrlr->state == NCTRLR_DELETING || nctrlr->state == NCTRLR_CONNECTING ||
	    nctrlr->detach_pending || osp_get_thread() != nctrlr->thread) {
		return -EBUSY;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return -ENOMEM;
	}
	w->cb_fn = cb_fn;
	w->cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&nctrlr->reset_rpc_waiters, w, link);
	nvme_reset_begin(nctrlr);
	return 0;
}

/* On the admin thread: start a reset, or join the one in progress. */
static void
nvme_reset_on_admin_thread(void *arg)
{
	struct nvme_bdev_io *nio = arg;
	struct nvme_bdev_ctrlr *nctrlr = nio->ch->nctrlr;

	if (nctrlr->state == NCTRLR_DELETING || nctrlr->state == NCTRLR_CONNECTING) {
		nctrlr->reset_rc = -ENXIO;
		osp_thread_send_msg(nio->thread, nvme_reset_complete_io, nio);
		return;
	}
	TAILQ_INSERT_TAIL(&nctrlr->reset_waiters, nio, link);
	nvme_reset_begin(nctrlr);
}

static void
nvme_reset_start(struct nvme_bdev_io *nio)
{
	if (osp_thread_send_msg(nio->ch->nctrlr->thread, nvme_reset_on_admin_thread, nio) != 0) {
		osp_bdev_io_complete(nio->bdev_io, OSP_BDEV_IO_STATUS_FAILED);
	}
}

/* ------------------------------------------------------------ bdevs */

static void
nvme_bdev_free(struct nvme_bdev *nbdev)
{
	free(nbdev->bdev.name);
	free(nbdev);
}

static int
bdev_nvme_destruct(void *ctx)
{
	struct nvme_bdev *nbdev = ctx;
	struct nvme_bdev_ctrlr *nctrlr = nbdev->nctrlr;

	TAILQ_REMOVE(&nctrlr->bdevs, nbdev, link);
	nvme_bdev_free(nbdev);
	if (nctrlr->state == NCTRLR_DELETING && TAILQ_EMPTY(&nctrlr->bdevs)) {
		nvme_ctrlr_detach_continue(nctrlr);
	}
	return 0;
}

static void
bdev_nvme_dump_info_json(void *ctx, cJSON *obj)
{
	struct nvme_bdev *nbdev = ctx;
	const struct osp_nvme_transport_id *trid = &nbdev->nctrlr->opts.trid;
	const struct osp_nvme_ctrlr_data *cdata = osp_nvme_ctrlr_get_data(nbdev->nctrlr->ctrlr);
	cJSON *arr = cJSON_AddArrayToObject(obj, "nvme");
	cJSON *n = cJSON_CreateObject(), *t, *c;

	if (arr == NULL || n == NULL) {
		cJSON_Delete(n);
		return;
	}
	cJSON_AddItemToArray(arr, n);
	cJSON_AddStringToObject(n, "ctrlr_name", nbdev->nctrlr->opts.name);
	t = cJSON_AddObjectToObject(n, "trid");
	cJSON_AddStringToObject(t, "trtype", osp_nvme_transport_id_trtype_str(trid->trtype));
	if (trid->trtype == OSP_NVME_TRANSPORT_PCIE) {
		/* A local controller: its PCI address is all there is. */
		cJSON_AddStringToObject(t, "traddr", trid->traddr);
	} else {
		cJSON_AddStringToObject(t, "adrfam", osp_nvme_transport_id_adrfam_str(trid->adrfam));
		cJSON_AddStringToObject(t, "traddr", trid->traddr);
		cJSON_AddStringToObject(t, "trsvcid", trid->trsvcid);
		cJSON_AddStringToObject(t, "subnqn", trid->subnqn);
	}
	c = cJSON_AddObjectToObject(n, "ctrlr_data");
	if (cdata != NULL) {
		osp_json_add_uint64(c, "cntlid", osp_nvme_ctrlr_get_cntlid(nbdev->nctrlr->ctrlr));
		osp_json_add_string_fmt(c, "serial_number", "%.*s", (int)sizeof(cdata->sn), cdata->sn);
		osp_json_add_string_fmt(c, "model_number", "%.*s", (int)sizeof(cdata->mn), cdata->mn);
		osp_json_add_string_fmt(c, "firmware_revision", "%.*s", (int)sizeof(cdata->fr),
					cdata->fr);
		osp_json_add_uint64(c, "oncs", cdata->oncs);
	}
	c = cJSON_AddObjectToObject(n, "ns_data");
	osp_json_add_uint64(c, "id", nbdev->nsid);
}

static const struct osp_bdev_fn_table g_nvme_fn_table = {
	.destruct = bdev_nvme_destruct,
	.submit_request = bdev_nvme_submit_request,
	.io_type_supported = bdev_nvme_io_type_supported,
	.get_io_channel = bdev_nvme_get_io_channel,
	.dump_info_json = bdev_nvme_dump_info_json,
};

static struct nvme_bdev *
nvme_bdev_find(struct nvme_bdev_ctrlr *nctrlr, uint32_t nsid)
{
	struct nvme_bdev *nbdev;

	TAILQ_FOREACH(nbdev, &nctrlr->bdevs, link) {
		if (nbdev->nsid == nsid) {
			return nbdev;
		}
	}
	return NULL;
}

/* Register the bdev of namespace nsid. 0 or -errno. */
static int
nvme_bdev_create(struct nvme_bdev_ctrlr *nctrlr, uint32_t nsid)
{
	struct osp_nvme_ns *ns = osp_nvme_ctrlr_get_ns(nctrlr->ctrlr, nsid);
	const struct osp_nvme_ctrlr_data *cdata = osp_nvme_ctrlr_get_data(nctrlr->ctrlr);
	const struct osp_uuid *uuid;
	struct nvme_bdev *nbdev;
	uint32_t max_blocks;
	int rc;

	if (ns == NULL || !osp_nvme_ns_is_active(ns)) {
		return -ENODEV;
	}
	if (osp_nvme_ns_get_md_size(ns) != 0) {
		OSP_ERRLOG("%s: namespace %u has metadata: not supported, skipped\n",
			   nctrlr->opts.name, nsid);
		return -ENOTSUP;
	}
	if (osp_nvme_ns_get_num_sectors(ns) == 0 || osp_nvme_ns_get_sector_size(ns) < 512) {
		return -EINVAL;
	}
	nbdev = calloc(1, sizeof(*nbdev));
	if (nbdev == NULL) {
		return -ENOMEM;
	}
	nbdev->bdev.name = osp_sprintf_alloc("%sn%u", nctrlr->opts.name, nsid);
	if (nbdev->bdev.name == NULL) {
		free(nbdev);
		return -ENOMEM;
	}
	nbdev->nctrlr = nctrlr;
	nbdev->nsid = nsid;
	nbdev->ns = ns;
	nbdev->bdev.product_name = "NVMe disk";
	nbdev->bdev.blocklen = osp_nvme_ns_get_sector_size(ns);
	nbdev->bdev.blockcnt = osp_nvme_ns_get_num_sectors(ns);
	nbdev->bdev.write_cache = cdata != NULL && (cdata->vwc & 1);
	max_blocks = osp_nvme_ns_get_max_io_xfer_size(ns) / nbdev->bdev.blocklen;
	nbdev->bdev.max_rw_size = OSP_MIN(max_blocks ? max_blocks : 1, 65536u);
	uuid = osp_nvme_ns_get_uuid(ns);
	if (uuid != NULL) {
		nbdev->bdev.uuid = *uuid;
	}
	nbdev->bdev.ctxt = nbdev;
	nbdev->bdev.module = &g_nvme_module;
	nbdev->bdev.fn_table = &g_nvme_fn_table;
	rc = osp_bdev_register(&nbdev->bdev);
	if (rc == -EEXIST && uuid != NULL) {
		/* The same namespace seen through another controller: use a fresh UUID. */
		memset(&nbdev->bdev.uuid, 0, sizeof(nbdev->bdev.uuid));
		rc = osp_bdev_register(&nbdev->bdev);
	}
	if (rc != 0) {
		OSP_ERRLOG("%s: cannot register bdev %s: %s\n", nctrlr->opts.name,
			   nbdev->bdev.name, strerror(-rc));
		nvme_bdev_free(nbdev);
		return rc;
	}
	TAILQ_INSERT_TAIL(&nctrlr->bdevs, nbdev, link);
	return 0;
}

static void
nvme_bdev_unregister_done(void *cb_arg, int rc)
{
}

static void
nvme_bdev_remove(struct nvme_bdev *nbdev)
{
	if (nbdev->removing) {
		return;
	}
	nbdev->removing = true;
	if (osp_bdev_unregister(&nbdev->bdev, nvme_bdev_unregister_done, NULL) != 0) {
		OSP_ERRLOG("cannot remove bdev %s: it is already being removed\n", nbdev->bdev.name);
	}
}

struct ns_event_msg {
	struct nvme_bdev_ctrlr *nctrlr;
	uint32_t nsid;
	enum osp_nvme_ns_event event;
};

static void
nvme_ns_event_handle(void *arg)
{
	struct ns_event_msg *m = arg;
	struct nvme_bdev_ctrlr *nctrlr = m->nctrlr, *n;
	struct nvme_bdev *nbdev;

	/* The controller may have gone while the message was queued. */
	TAILQ_FOREACH(n, &g_ctrlrs, link) {
		if (n == nctrlr) {
			break;
		}
	}
	if (n == NULL || nctrlr->state == NCTRLR_DELETING || g_finishing) {
		free(m);
		return;
	}
	nbdev = nvme_bdev_find(nctrlr, m->nsid);
	switch (m->event) {
	case OSP_NVME_NS_EVENT_ADDED:
		if (nbdev == NULL && nvme_bdev_create(nctrlr, m->nsid) == 0) {
			OSP_NOTICELOG("%s: namespace %u added: bdev %sn%u\n", nctrlr->opts.name,
				      m->nsid, nctrlr->opts.name, m->nsid);
		}
		break;
	case OSP_NVME_NS_EVENT_REMOVED:
		if (nbdev != NULL) {
			OSP_NOTICELOG("%s: namespace %u removed: deleting bdev %s\n",
				      nctrlr->opts.name, m->nsid, nbdev->bdev.name);
			nvme_bdev_remove(nbdev);
		}
		break;
	case OSP_NVME_NS_EVENT_CHANGED:
		if (nbdev != NULL && nbdev->ns != NULL && osp_nvme_ns_is_active(nbdev->ns)) {
			osp_bdev_notify_blockcnt_change(&nbdev->bdev,
							osp_nvme_ns_get_num_sectors(nbdev->ns));
		}
		break;
	}
	free(m);
}

/* From lib/nvme with the controller lock held: defer to a message. */
static void
nvme_ns_change_cb(void *cb_arg, struct osp_nvme_ctrlr *ctrlr, uint32_t nsid,
		  enum osp_nvme_ns_event event)
{
	struct nvme_bdev_ctrlr *nctrlr = cb_arg;
	struct ns_event_msg *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		OSP_ERRLOG("%s: namespace %u event lost (out of memory)\n", nctrlr->opts.name, nsid);
		return;
	}
	m->nctrlr = nctrlr;
	m->nsid = nsid;
	m->event = event;
	if (osp_thread_send_msg(nctrlr->thread, nvme_ns_event_handle, m) != 0) {
		free(m);
	}
}

/* ------------------------------------------------------------ controllers */

static int
nvme_adminq_poll(void *arg)
{
	struct nvme_bdev_ctrlr *nctrlr = arg;
	int32_t rc;

	if (nctrlr->state == NCTRLR_RESETTING || nctrlr->ctrlr == NULL) {
		return OSP_POLLER_IDLE;
	}
	rc = osp_nvme_ctrlr_process_admin_completions(nctrlr->ctrlr);
	if (rc < 0) {
		if (nctrlr->state == NCTRLR_ENABLED) {
			OSP_ERRLOG("%s: admin connection failed (%s): I/O fails until a reset "
				   "(bdev_nvme_reset_controller / a bdev reset)\n",
				   nctrlr->opts.name, strerror(-rc));
			nctrlr->state = NCTRLR_FAILED;
		}
		return OSP_POLLER_IDLE;
	}
	return rc > 0 ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

static void
nctrlr_free(struct nvme_bdev_ctrlr *nctrlr)
{
	free(nctrlr);
}

static void
nvme_io_device_unregistered(void *io_device)
{
	struct nvme_bdev_ctrlr *nctrlr = io_device;
	void (*cb)(void *, int) = nctrlr->detach_cb;
	void *cb_arg = nctrlr->detach_cb_arg;

	osp_poller_unregister(&nctrlr->adminq_poller);
	if (nctrlr->ctrlr != NULL) {
		osp_nvme_detach(nctrlr->ctrlr);
	}
	TAILQ_REMOVE(&g_ctrlrs, nctrlr, link);
	OSP_NOTICELOG("%s: controller detached\n", nctrlr->opts.name);
	nctrlr_free(nctrlr);
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

/* DELETING: once every bdev is gone, release the channels, then the controller. */
static void
nvme_ctrlr_detach_continue(struct nvme_bdev_ctrlr *nctrlr)
{
	struct nvme_bdev *nbdev, *tmp;

	if (!TAILQ_EMPTY(&nctrlr->bdevs)) {
		TAILQ_FOREACH_SAFE(nbdev, &nctrlr->bdevs, link, tmp) {
			nvme_bdev_remove(nbdev);
		}
		return;
	}
	if (nctrlr->io_device_registered) {
		nctrlr->io_device_registered = false;
		osp_io_device_unregister(nctrlr, nvme_io_device_unregistered);
	} else {
		nvme_io_device_unregistered(nctrlr);
	}
}

int
bdev_nvme_detach(const char *name, void (*cb_fn)(void *cb_arg, int rc), void *cb_arg)
{
	struct nvme_bdev_ctrlr *nctrlr = nctrlr_find(name);

	if (nctrlr == NULL) {
		return -ENODEV;
	}
	if (nctrlr->state == NCTRLR_DELETING || nctrlr->detach_pending ||
	    nctrlr->state == NCTRLR_CONNECTING) {
		return -EBUSY;
	}
	nctrlr->detach_cb = cb_fn;
	nctrlr->detach_cb_arg = cb_arg;
	if (nctrlr->state == NCTRLR_RESETTING) {
		nctrlr->detach_pending = true;
		return 0;
	}
	nctrlr->state = NCTRLR_DELETING;
	nvme_ctrlr_detach_continue(nctrlr);
	return 0;
}

static void
nvme_attach_finish(struct nvme_bdev_ctrlr *nctrlr)
{
	const char *names[1024];
	struct nvme_bdev *nbdev;
	size_t n = 0;

	if (nctrlr->attach_rc != 0) {
		nctrlr->attach_cb(nctrlr->attach_cb_arg, nctrlr->attach_rc, nctrlr->attach_msg,
				  NULL, 0);
		TAILQ_REMOVE(&g_ctrlrs, nctrlr, link);
		nctrlr_free(nctrlr);
		return;
	}
	TAILQ_FOREACH(nbdev, &nctrlr->bdevs, link) {
		if (n < OSP_COUNTOF(names)) {
			names[n++] = nbdev->bdev.name;
		}
	}
	nctrlr->attach_cb(nctrlr->attach_cb_arg, 0, NULL, names, n);
}

static void
nvme_attach_cb(void *cb_ctx, const struct osp_nvme_transport_id *trid,
	       struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_connect_error *err)
{
	struct nvme_bdev_ctrlr *nctrlr = cb_ctx;
	uint32_t nsid;

	nctrlr->probe = NULL;
	if (ctrlr == NULL) {
		int rc = err && err->rc ? err->rc : -EIO;

		nctrlr->attach_rc = rc;
		snprintf(nctrlr->attach_msg, sizeof(nctrlr->attach_msg),
			 "Cannot attach controller %s to %s %s:%s (%s): %s at step '%s'%s%s",
			 nctrlr->opts.name, osp_nvme_transport_id_trtype_str(trid->trtype),
			 trid->traddr, trid->trsvcid, trid->subnqn, strerror(-rc),
			 err && err->step ? err->step : "connect",
			 err && err->has_cpl ? ", status " : "",
			 err && err->has_cpl ? osp_nvme_cpl_status_string(&err->cpl) : "");
		return;
	}
	if (osp_nvme_ctrlr_is_discovery(ctrlr)) {
		nctrlr->attach_rc = -EINVAL;
		snprintf(nctrlr->attach_msg, sizeof(nctrlr->attach_msg),
			 "Cannot attach controller %s: %s is a discovery subsystem (give a subnqn)",
			 nctrlr->opts.name, trid->subnqn);
		osp_nvme_detach(ctrlr);
		return;
	}
	nctrlr->ctrlr = ctrlr;
	nctrlr->state = NCTRLR_ENABLED;
	osp_io_device_register(nctrlr, nvme_channel_create, nvme_channel_destroy,
			       sizeof(struct nvme_io_channel), nctrlr->opts.name);
	nctrlr->io_device_registered = true;
	osp_nvme_ctrlr_register_ns_change_callback(ctrlr, nvme_ns_change_cb, nctrlr);
	for (nsid = osp_nvme_ctrlr_get_first_active_ns(ctrlr); nsid != 0;
	     nsid = osp_nvme_ctrlr_get_next_active_ns(ctrlr, nsid)) {
		nvme_bdev_create(nctrlr, nsid);
	}
}

static int
nvme_probe_poll(void *arg)
{
	struct nvme_bdev_ctrlr *nctrlr = arg;

	if (osp_nvme_probe_poll_async(nctrlr->probe) == -EAGAIN) {
		return OSP_POLLER_IDLE;
	}
	/* attach_cb ran and the probe context is gone. */
	osp_poller_unregister(&nctrlr->probe_poller);
	if (nctrlr->attach_rc == 0) {
		nctrlr->adminq_poller = osp_poller_register_named(nvme_adminq_poll, nctrlr,
								  ADMINQ_POLL_US, "bdev_nvme_adminq");
	}
	nvme_attach_finish(nctrlr);
	return OSP_POLLER_BUSY;
}

int
bdev_nvme_attach(const struct bdev_nvme_attach_opts *opts, bdev_nvme_attach_cb cb_fn,
		 void *cb_arg)
{
	struct nvme_bdev_ctrlr *nctrlr;
	int rc;

	if (opts->name[0] == '\0' || cb_fn == NULL) {
		return -EINVAL;
	}
	if (nctrlr_find(opts->name) != NULL) {
		return -EEXIST;
	}
	nctrlr = calloc(1, sizeof(*nctrlr));
	if (nctrlr == NULL) {
		return -ENOMEM;
	}
	nctrlr->opts = *opts;
	nctrlr->thread = osp_get_thread();
	nctrlr->state = NCTRLR_CONNECTING;
	nctrlr->attach_cb = cb_fn;
	nctrlr->attach_cb_arg = cb_arg;
	TAILQ_INIT(&nctrlr->bdevs);
	TAILQ_INIT(&nctrlr->reset_waiters);
	TAILQ_INIT(&nctrlr->reset_rpc_waiters);
	nctrlr->probe = osp_nvme_connect_async(&opts->trid, &opts->ctrlr_opts,
					       sizeof(opts->ctrlr_opts), nvme_attach_cb, nctrlr);
	if (nctrlr->probe == NULL) {
		rc = errno ? -errno : -EINVAL;
		free(nctrlr);
		return rc;
	}
	nctrlr->probe_poller = osp_poller_register_named(nvme_probe_poll, nctrlr, PROBE_POLL_US,
							 "bdev_nvme_probe");
	if (nctrlr->probe_poller == NULL) {
		osp_nvme_probe_ctx_cancel(nctrlr->probe);
		free(nctrlr);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&g_ctrlrs, nctrlr, link);
	return 0;
}

static const char *
nctrlr_state_str(enum nvme_ctrlr_state s)
{
	switch (s) {
	case NCTRLR_CONNECTING:
		return "connecting";
	case NCTRLR_ENABLED:
		return "enabled";
	case NCTRLR_RESETTING:
		return "resetting";
	case NCTRLR_FAILED:
		return "failed";
	case NCTRLR_DELETING:
		return "deleting";
	}
	return "unknown";
}

static void
nctrlr_write_json(struct nvme_bdev_ctrlr *nctrlr, cJSON *array)
{
	const struct osp_nvme_transport_id *trid = &nctrlr->opts.trid;
	cJSON *o = cJSON_CreateObject(), *ctrlrs, *c, *t, *h;
	enum nvme_ctrlr_state state = nctrlr->state;

	if (o == NULL) {
		return;
	}
	cJSON_AddItemToArray(array, o);
	cJSON_AddStringToObject(o, "name", nctrlr->opts.name);
	ctrlrs = cJSON_AddArrayToObject(o, "ctrlrs");
	c = cJSON_CreateObject();
	cJSON_AddItemToArray(ctrlrs, c);
	if (state == NCTRLR_ENABLED && osp_nvme_ctrlr_is_failed(nctrlr->ctrlr)) {
		state = NCTRLR_FAILED;
	}
	cJSON_AddStringToObject(c, "state", nctrlr_state_str(state));
	t = cJSON_AddObjectToObject(c, "trid");
	cJSON_AddStringToObject(t, "trtype", osp_nvme_transport_id_trtype_str(trid->trtype));
	if (trid->trtype == OSP_NVME_TRANSPORT_PCIE) {
		/* A local controller: its PCI address is all there is. */
		cJSON_AddStringToObject(t, "traddr", trid->traddr);
	} else {
		cJSON_AddStringToObject(t, "adrfam", osp_nvme_transport_id_adrfam_str(trid->adrfam));
		cJSON_AddStringToObject(t, "traddr", trid->traddr);
		cJSON_AddStringToObject(t, "trsvcid", trid->trsvcid);
		cJSON_AddStringToObject(t, "subnqn", trid->subnqn);
	}
	if (nctrlr->ctrlr != NULL) {
		osp_json_add_uint64(c, "cntlid", osp_nvme_ctrlr_get_cntlid(nctrlr->ctrlr));
	}
	h = cJSON_AddObjectToObject(c, "host");
	cJSON_AddStringToObject(h, "nqn", nctrlr->ctrlr != NULL ?
				osp_nvme_ctrlr_get_opts(nctrlr->ctrlr)->hostnqn :
				nctrlr->opts.ctrlr_opts.hostnqn);
	cJSON_AddStringToObject(h, "addr", nctrlr->opts.hostaddr);
	cJSON_AddStringToObject(h, "svcid", nctrlr->opts.hostsvcid);
}

int
bdev_nvme_get_controllers_json(const char *name, cJSON *array)
{
	struct nvme_bdev_ctrlr *nctrlr;

	if (name != NULL) {
		nctrlr = nctrlr_find(name);
		if (nctrlr == NULL) {
			return -ENODEV;
		}
		nctrlr_write_json(nctrlr, array);
		return 0;
	}
	TAILQ_FOREACH(nctrlr, &g_ctrlrs, link) {
		nctrlr_write_json(nctrlr, array);
	}
	return 0;
}

/* save_config: one attach call per controller (its bdevs come back with it). */
static void
bdev_nvme_config_json(cJSON *array)
{
	struct nvme_bdev_ctrlr *nctrlr;

	TAILQ_FOREACH(nctrlr, &g_ctrlrs, link) {
		const struct bdev_nvme_attach_opts *o = &nctrlr->opts;
		cJSON *p;

		if (nctrlr->state == NCTRLR_CONNECTING || nctrlr->state == NCTRLR_DELETING) {
			continue;
		}
		p = cJSON_CreateObject();
		if (p == NULL) {
			return;
		}
		cJSON_AddStringToObject(p, "name", o->name);
		cJSON_AddStringToObject(p, "trtype", osp_nvme_transport_id_trtype_str(o->trid.trtype));
		if (o->trid.trtype == OSP_NVME_TRANSPORT_PCIE) {
			/* A local controller: its PCI address is all there is. */
			cJSON_AddStringToObject(p, "traddr", o->trid.traddr);
		} else {
			cJSON_AddStringToObject(p, "adrfam", osp_nvme_transport_id_adrfam_str(o->trid.adrfam));
			cJSON_AddStringToObject(p, "traddr", o->trid.traddr);
			cJSON_AddStringToObject(p, "trsvcid", o->trid.trsvcid);
			cJSON_AddStringToObject(p, "subnqn", o->trid.subnqn);
		}
		if (o->hostnqn_given) {
			cJSON_AddStringToObject(p, "hostnqn", o->ctrlr_opts.hostnqn);
		}
		if (o->hostaddr[0]) {
			cJSON_AddStringToObject(p, "hostaddr", o->hostaddr);
		}
		if (o->hostsvcid[0]) {
			cJSON_AddStringToObject(p, "hostsvcid", o->hostsvcid);
		}
		cJSON_AddBoolToObject(p, "prchk_reftag", o->prchk_reftag);
		cJSON_AddBoolToObject(p, "prchk_guard", o->prchk_guard);
		cJSON_AddBoolToObject(p, "hdgst", o->ctrlr_opts.header_digest);
		cJSON_AddBoolToObject(p, "ddgst", o->ctrlr_opts.data_digest);
		osp_json_add_rpc_call(array, "bdev_nvme_attach_controller", p);
	}
}

/* ------------------------------------------------------------ module */

static int
bdev_nvme_get_ctx_size(void)
{
	return sizeof(struct nvme_bdev_io);
}

static int
bdev_nvme_module_init(void)
{
	g_finishing = false;
	return 0;
}

static void
nvme_fini_one_done(void *cb_arg, int rc)
{
	if (--g_fini_pending == 0) {
		osp_bdev_module_fini_done();
	}
}

/* Bdevs are gone by now (the layer unregistered them): detach every controller. */
static void
bdev_nvme_module_fini(void)
{
	struct nvme_bdev_ctrlr *nctrlr, *tmp;

	g_finishing = true;
	g_fini_pending = 1;
	TAILQ_FOREACH_SAFE(nctrlr, &g_ctrlrs, link, tmp) {
		if (nctrlr->state == NCTRLR_CONNECTING) {
			/* Nobody will poll the connect any more: give it up. */
			osp_poller_unregister(&nctrlr->probe_poller);
			osp_nvme_probe_ctx_cancel(nctrlr->probe);
			nctrlr->attach_rc = -ECANCELED;
			snprintf(nctrlr->attach_msg, sizeof(nctrlr->attach_msg),
				 "Attach of %s canceled: the application is stopping",
				 nctrlr->opts.name);
			nvme_attach_finish(nctrlr);
			continue;
		}
		if (nctrlr->state == NCTRLR_DELETING) {
			continue;
		}
		g_fini_pending++;
		if (bdev_nvme_detach(nctrlr->opts.name, nvme_fini_one_done, NULL) != 0) {
			g_fini_pending--;
		}
	}
	nvme_fini_one_done(NULL, 0);
}
