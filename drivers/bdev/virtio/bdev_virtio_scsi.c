/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-scsi over vhost-user: one controller = one vhost-user connection;
 * at attach its targets are scanned (LUN 0 of each: INQUIRY, READ CAPACITY)
 * and every direct-access LUN 0 becomes a bdev named <controller>t<target>.
 *
 * Queues: 0 control, 1 event, 2.. requests. All the bdevs of a controller
 * share one io_device, so a thread's channel owns one request queue for all
 * of them and the I/O path takes no lock. Data is bounced through the
 * controller's shared (memfd) region, in per-queue slots as virtio-blk does
 * (bdev_virtio_blk.c).
 *
 * Hot plug (VIRTIO_SCSI_F_HOTPLUG, F_CHANGE): the event queue holds buffers
 * the device fills with transport reset (target added: RESCAN, removed:
 * REMOVED) and parameter change (capacity) events. The app thread, which owns
 * the controller, reaps them (with the back end's liveness check) and scans
 * the targets named again, one command at a time through a request queue of
 * its own (one more than vq_count when the device has it, else one borrowed
 * from the channels' range while no channel holds it): a new disk becomes a
 * bdev, a gone one is unregistered, a new capacity is announced with
 * osp_bdev_notify_blockcnt_change(). Lost events (EVENTS_MISSED) rescan
 * every target; an I/O that meets a capacity (or LUNs) changed unit
 * attention marks its target for a rescan too (back ends without F_CHANGE).
 *
 * Not done: task management from the front end, LUNs other than 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/scsi_spec.h"
#include "osprey/thread.h"
#include "osprey/util.h"
#include "osprey/virtio_user.h"

#include "bdev_virtio.h"

/* Slot layout: request at 0, response at 128, UNMAP parameters at 384, data at 4096. */
#define SLOT_REQ_OFF		0
#define SLOT_RESP_OFF		128
#define SLOT_RESP_MAX		256
#define SLOT_PARAM_OFF		384
#define SLOT_DATA_OFF		4096
#define SLOT_DATA_SIZE		(128 * 1024)
#define SLOT_STRIDE		(SLOT_DATA_OFF + SLOT_DATA_SIZE)
#define MAX_SLOTS_PER_QUEUE	128
#define ALIVE_POLL_US		100000
/* The app thread's poller while a rescan has a command in flight. */
#define SCAN_POLL_US		200
#define REAP_BATCH		32
/* A UNIT ATTENTION (reset, capacity changed...) is reported once: the command is sent again. */
#define UA_RETRIES		4
#define SCAN_TIMEOUT_MS		5000
#define SENSE_KEY_UNIT_ATTENTION 0x6
/* Unit attentions that ask for a rescan: CAPACITY DATA / REPORTED LUNS DATA HAS CHANGED. */
#define ASC_CAPACITY_CHANGED	0x2a09
#define ASC_REPORTED_LUNS_CHANGED 0x3f0e
/* SAM status codes. */
#define STATUS_GOOD		0x00
#define STATUS_CHECK_CONDITION	0x02
/* Event buffers kept posted on the eventq, each EVT_BUF_SIZE bytes (>= event_info_size). */
#define EVT_BUFS		16
#define EVT_BUF_SIZE		256
/* Bytes of data a scan command reads back at most. */
#define SCAN_DATA_MAX		64

struct virtio_scsi_ctrlr;

struct virtio_scsi_disk {
	struct osp_bdev bdev;
	struct virtio_scsi_ctrlr *ctrlr;
	uint8_t target;
	bool unmap;		/* LBPU: UNMAP is supported */
	uint32_t max_unmap;	/* blocks per UNMAP descriptor */
	bool registered;	/* registered, destruct not run yet */
	bool removing;		/* being unregistered (hot removed, detach, back end gone) */
};

/* The scan of one target: a few commands, one after another. */
enum scan_step { STEP_INQUIRY, STEP_RC16, STEP_RC10, STEP_VPD, STEP_DONE };
enum scan_result {
	SCAN_ABSENT,	/* no target, or no direct-access LUN 0 */
	SCAN_DISK,	/* a disk: bs, nblocks, unmap */
	SCAN_SKIP,	/* a command failed or the geometry is not usable: change nothing */
};

struct target_scan {
	uint8_t target;
	enum scan_step step;
	uint8_t ua_retries;
	enum scan_result result;
	bool lbpme;
	uint32_t bs;
	uint64_t nblocks;
	bool unmap;
	uint32_t max_unmap;
};

struct virtio_scsi_ctrlr {
	char *name;
	char *path;
	struct osp_vu_dev *dev;
	struct osp_virtio_scsi_config cfg;
	uint64_t features;
	uint16_t vq_count;	/* request queues asked for (saved in the config) */
	uint16_t vq_size;
	uint16_t num_req_queues;	/* the channels' queues: 2 .. 2 + num_req_queues - 1 */
	uint16_t scan_queue;	/* a request queue for rescans only, or 0: borrow one */
	uint16_t nslots;
	uint16_t ntargets;	/* targets 0..ntargets-1 are scanned */
	uint32_t req_size;	/* request header bytes: 19 + cdb_size */
	uint32_t resp_size;	/* response bytes: 12 + sense_size */
	uint64_t queues_used;	/* bit per queue owned by a channel (atomic) */
	bool dead;		/* atomic */
	bool unregistering;
	bool torn_down;
	uint8_t io_device;
	struct osp_poller *alive_poller;
	int nregistered;	/* bdevs registered and not yet destructed */
	struct virtio_scsi_disk *disks[BDEV_VIRTIO_MAX_BDEVS];	/* by target */
	/* eventq: EVT_BUFS buffers kept posted */
	struct osp_virtq *evq;
	uint8_t *evbuf;
	uint32_t evbuf_size;
	bool hotplug;		/* VIRTIO_SCSI_F_HOTPLUG negotiated */
	uint64_t stat_events;
	uint64_t stat_events_bad;
	/* rescans (app thread) */
	uint64_t rescan_mask;		/* targets to scan again */
	uint64_t ua_rescan;		/* atomic: targets whose I/O met a "changed" unit attention */
	uint64_t rescan_after_destruct;	/* found again while its old bdev is still going */
	struct target_scan scan;
	bool scan_active;		/* scan holds a target */
	bool scan_in_flight;		/* a command is posted on scan_q */
	bool scan_stale;		/* an event on its target came meanwhile: scan it again */
	bool scan_broken;		/* a command never came back: no more rescans */
	bool scan_waiting_logged;
	uint16_t scan_q;		/* the queue the command is on */
	uint64_t scan_deadline;
	struct osp_poller *scan_poller;
	uint64_t stat_rescans;
	/* A detach in progress: its callback runs when the last bdev is gone. */
	osp_bdev_unregister_cb detach_cb;
	void *detach_arg;
	int detach_rc;
	TAILQ_ENTRY(virtio_scsi_ctrlr) link;
};

struct virtio_scsi_channel {
	struct bdev_virtio_channel base;
	struct virtio_scsi_ctrlr *ctrlr;
};

struct virtio_scsi_io {
	uint16_t slot;
	uint8_t retries;
	/* UNMAP larger than one descriptor allows goes in parts. */
	uint64_t next_lba;
	uint64_t left_blocks;
};

static TAILQ_HEAD(, virtio_scsi_ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);

static int scsi_module_init(void);
static void scsi_module_fini(void);
static void scsi_fini_start(void);
static int scsi_get_ctx_size(void);
static void scsi_config_json(cJSON *array);

static struct osp_bdev_module g_scsi_module = {
	.name = "virtio_scsi",
	.module_init = scsi_module_init,
	.module_fini = scsi_module_fini,
	.fini_start = scsi_fini_start,
	.get_ctx_size = scsi_get_ctx_size,
	.config_json = scsi_config_json,
};
OSP_BDEV_MODULE_REGISTER(virtio_scsi, &g_scsi_module)

static struct virtio_scsi_ctrlr *
ctrlr_of_io_device(void *io_device)
{
	return (struct virtio_scsi_ctrlr *)((uint8_t *)io_device -
					    offsetof(struct virtio_scsi_ctrlr, io_device));
}

static bool
ctrlr_dead(const struct virtio_scsi_ctrlr *c)
{
	return __atomic_load_n(&c->dead, __ATOMIC_RELAXED);
}

static void
ctrlr_set_dead(struct virtio_scsi_ctrlr *c)
{
	__atomic_store_n(&c->dead, true, __ATOMIC_RELAXED);
}

static void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(v >> (24 - 8 * i));
	}
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)(v >> (56 - 8 * i));
	}
}

static uint32_t
get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
	return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

/* The request header for target t, LUN 0 (single-level LUN format, virtio 1.x 5.6.6.1). */
static void
fill_req(uint8_t *req, uint32_t req_size, uint8_t target, const uint8_t *cdb, size_t cdb_len)
{
	memset(req, 0, req_size);
	req[0] = 1;
	req[1] = target;
	req[2] = 0x40;
	req[3] = 0;
	memcpy(req + offsetof(struct osp_virtio_scsi_cmd_req, cdb), cdb, cdb_len);
}

/* The sense key of a CHECK CONDITION's sense data (fixed or descriptor format), or -1. */
static int
sense_key(const struct osp_virtio_scsi_cmd_resp *resp)
{
	uint32_t len = resp->sense_len < OSP_VIRTIO_SCSI_SENSE_SIZE ? resp->sense_len :
		       OSP_VIRTIO_SCSI_SENSE_SIZE;
	uint8_t code;

	if (len < 2) {
		return -1;
	}
	code = resp->sense[0] & 0x7f;
	if ((code == 0x70 || code == 0x71) && len >= 3) {
		return resp->sense[2] & 0x0f;
	}
	if (code == 0x72 || code == 0x73) {
		return resp->sense[1] & 0x0f;
	}
	return -1;
}

/* ASC << 8 | ASCQ of sense data (fixed or descriptor format), or -1. */
static int
sense_asc_ascq(const struct osp_virtio_scsi_cmd_resp *resp)
{
	uint32_t len = resp->sense_len < OSP_VIRTIO_SCSI_SENSE_SIZE ? resp->sense_len :
		       OSP_VIRTIO_SCSI_SENSE_SIZE;
	uint8_t code = len > 0 ? resp->sense[0] & 0x7f : 0;

	if ((code == 0x70 || code == 0x71) && len >= 14) {
		return resp->sense[12] << 8 | resp->sense[13];
	}
	if ((code == 0x72 || code == 0x73) && len >= 4) {
		return resp->sense[2] << 8 | resp->sense[3];
	}
	return -1;
}

/* ---- data path ---- */

/* Build and post bdev_io's command in its slot. 0, -EAGAIN (no descriptors), -EINVAL. */
static int
post_request(void *arg, struct osp_bdev_io *bdev_io)
{
	struct virtio_scsi_channel *ch = arg;
	struct virtio_scsi_ctrlr *c = ch->ctrlr;
	struct virtio_scsi_disk *d = bdev_io->bdev->ctxt;
	struct virtio_scsi_io *vio = (struct virtio_scsi_io *)bdev_io->driver_ctx;
	uint8_t *base = bdev_virtio_slot(&ch->base, vio->slot);
	uint8_t cdb[16] = {};
	uint64_t addrs[4];
	uint32_t lens[4];
	bool wr[4];
	uint16_t n = 0;
	uint64_t bytes = bdev_io->u.bdev.num_blocks * d->bdev.blocklen;
	bool data_out = false, data_in = false;
	uint32_t data_len = 0;
	uint8_t *data = base + SLOT_DATA_OFF;

	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
		if (bytes > SLOT_DATA_SIZE) {
			return -EINVAL;
		}
		cdb[0] = bdev_io->type == OSP_BDEV_IO_TYPE_READ ? OSP_SCSI_READ_16 : OSP_SCSI_WRITE_16;
		put_be64(cdb + 2, bdev_io->u.bdev.offset_blocks);
		put_be32(cdb + 10, (uint32_t)bdev_io->u.bdev.num_blocks);
		data_len = (uint32_t)bytes;
		if (bdev_io->type == OSP_BDEV_IO_TYPE_WRITE) {
			osp_iov_copy_to_buf(data, bytes, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0);
			data_out = true;
		} else {
			data_in = true;
		}
		break;
	case OSP_BDEV_IO_TYPE_FLUSH:
		cdb[0] = OSP_SCSI_SYNCHRONIZE_CACHE_16;
		break;
	case OSP_BDEV_IO_TYPE_UNMAP: {
		uint64_t part = vio->left_blocks < d->max_unmap ? vio->left_blocks : d->max_unmap;
		uint8_t *p = base + SLOT_PARAM_OFF;

		/* One block descriptor per command (SBC-3 5.28). */
		memset(p, 0, 24);
		put_be16(p, 22);
		put_be16(p + 2, 16);
		put_be64(p + 8, vio->next_lba);
		put_be32(p + 16, (uint32_t)part);
		vio->next_lba += part;
		vio->left_blocks -= part;
		cdb[0] = OSP_SCSI_UNMAP;
		put_be16(cdb + 7, 24);
		data = p;
		data_len = 24;
		data_out = true;
		break;
	}
	default:
		return -EINVAL;
	}
	fill_req(base + SLOT_REQ_OFF, c->req_size, d->target, cdb, sizeof(cdb));
	addrs[n] = (uintptr_t)(base + SLOT_REQ_OFF);
	lens[n] = c->req_size;
	wr[n++] = false;
	if (data_out) {
		addrs[n] = (uintptr_t)data;
		lens[n] = data_len;
		wr[n++] = false;
	}
	memset(base + SLOT_RESP_OFF, 0, c->resp_size);
	base[SLOT_RESP_OFF + offsetof(struct osp_virtio_scsi_cmd_resp, response)] = 0xff;
	addrs[n] = (uintptr_t)(base + SLOT_RESP_OFF);
	lens[n] = c->resp_size;
	wr[n++] = true;
	if (data_in) {
		addrs[n] = (uintptr_t)data;
		lens[n] = data_len;
		wr[n++] = true;
	}
	return bdev_virtio_channel_post(&ch->base, c->dev, n, addrs, lens, wr, vio->slot, bdev_io);
}

static void
submit(void *arg, struct osp_bdev_io *bdev_io)
{
	struct virtio_scsi_channel *ch = arg;
	struct virtio_scsi_io *vio = (struct virtio_scsi_io *)bdev_io->driver_ctx;

	vio->retries = 0;
	vio->next_lba = bdev_io->u.bdev.offset_blocks;
	vio->left_blocks = bdev_io->u.bdev.num_blocks;
	bdev_virtio_submit(&ch->base, ctrlr_dead(ch->ctrlr), bdev_io, &vio->slot, post_request, ch);
}

/* One completed command: true if it is done, false if it was posted again. */
static bool
complete_one(struct virtio_scsi_channel *ch, struct osp_bdev_io *bdev_io, bool *ok)
{
	struct virtio_scsi_io *vio = (struct virtio_scsi_io *)bdev_io->driver_ctx;
	uint8_t *base = bdev_virtio_slot(&ch->base, vio->slot);
	const struct osp_virtio_scsi_cmd_resp *resp = (const void *)(base + SLOT_RESP_OFF);

	*ok = resp->response == OSP_VIRTIO_SCSI_S_OK && resp->status == STATUS_GOOD;
	if (!*ok && resp->response == OSP_VIRTIO_SCSI_S_OK &&
	    resp->status == STATUS_CHECK_CONDITION &&
	    sense_key(resp) == SENSE_KEY_UNIT_ATTENTION && vio->retries < UA_RETRIES) {
		int aa = sense_asc_ascq(resp);

		if (osp_unlikely(aa == ASC_CAPACITY_CHANGED || aa == ASC_REPORTED_LUNS_CHANGED)) {
			/* The app thread rescans the target (a back end without F_CHANGE says it so). */
			__atomic_fetch_or(&ch->ctrlr->ua_rescan,
					  1ull << ((struct virtio_scsi_disk *)bdev_io->bdev->ctxt)->target,
					  __ATOMIC_RELAXED);
		}
		vio->retries++;
		if (bdev_io->type == OSP_BDEV_IO_TYPE_UNMAP) {
			/* The same part again. */
			uint64_t part = get_be32(base + SLOT_PARAM_OFF + 16);

			vio->next_lba -= part;
			vio->left_blocks += part;
		}
		return post_request(ch, bdev_io) != 0;
	}
	if (*ok && bdev_io->type == OSP_BDEV_IO_TYPE_UNMAP && vio->left_blocks > 0) {
		vio->retries = 0;
		if (post_request(ch, bdev_io) == 0) {
			return false;
		}
		*ok = false;
		return true;
	}
	if (*ok && bdev_io->type == OSP_BDEV_IO_TYPE_READ) {
		osp_iov_copy_from_buf(base + SLOT_DATA_OFF,
				      bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen,
				      bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0);
	}
	return true;
}

static int
channel_poll(void *arg)
{
	struct virtio_scsi_channel *ch = arg;
	struct virtio_scsi_ctrlr *c = ch->ctrlr;
	void *cookies[REAP_BATCH];
	int n;

	if (ch->base.failed || osp_virtq_in_flight(ch->base.vq) == 0) {
		return OSP_POLLER_IDLE;
	}
	n = bdev_virtio_channel_reap(&ch->base, &c->dead, "virtio-scsi", c->name, cookies, REAP_BATCH);
	for (int i = 0; i < n; i++) {
		struct osp_bdev_io *bdev_io = cookies[i];
		struct virtio_scsi_io *vio = (struct virtio_scsi_io *)bdev_io->driver_ctx;
		bool ok;

		if (complete_one(ch, bdev_io, &ok)) {
			bdev_virtio_channel_done(&ch->base, vio->slot, bdev_io, ok);
		}
	}
	return OSP_POLLER_BUSY;
}

static bool
scsi_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct virtio_scsi_disk *d = ctx;

	switch (type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_FLUSH:
		return true;
	case OSP_BDEV_IO_TYPE_UNMAP:
		return d->unmap;
	default:
		return false;
	}
}

static struct osp_io_channel *
scsi_get_io_channel(void *ctx)
{
	struct virtio_scsi_disk *d = ctx;

	return osp_get_io_channel(&d->ctrlr->io_device);
}

static int
channel_create(void *io_device, void *ctx_buf)
{
	struct virtio_scsi_ctrlr *c = ctrlr_of_io_device(io_device);
	struct virtio_scsi_channel *ch = ctx_buf;
	int rc;

	/* Channels are created on their own threads: the claim of a queue is atomic. */
	ch->ctrlr = c;
	ch->base.submit = submit;
	rc = bdev_virtio_channel_open(&ch->base, c->dev, &c->queues_used, OSP_VIRTIO_SCSI_REQUESTQ, c->num_req_queues,
				      c->nslots, SLOT_STRIDE, channel_poll, ch);
	if (rc == -EBUSY) {
		OSP_ERRLOG("virtio-scsi '%s': every one of its %u request queues has a channel already "
			   "(attach with a larger vq_count)\n", c->name, c->num_req_queues);
	}
	return rc;
}

static void
channel_destroy(void *io_device, void *ctx_buf)
{
	struct virtio_scsi_ctrlr *c = ctrlr_of_io_device(io_device);
	struct virtio_scsi_channel *ch = ctx_buf;

	bdev_virtio_channel_close(&ch->base, &c->queues_used);
}

/* ---- life cycle ---- */

static void
ctrlr_free_unregistered(void *arg)
{
	struct virtio_scsi_ctrlr *c = arg;

	for (int i = 0; i < BDEV_VIRTIO_MAX_BDEVS; i++) {
		if (c->disks[i] != NULL) {
			free(c->disks[i]->bdev.name);
			free(c->disks[i]);
		}
	}
	osp_vu_dev_close(c->dev);
	free(c->path);
	free(c->name);
	free(c);
}

/* The io_device is gone (every channel destroyed): close the connection. */
static void
ctrlr_free(void *io_device)
{
	struct virtio_scsi_ctrlr *c = ctrlr_of_io_device(io_device);
	osp_bdev_unregister_cb cb = c->detach_cb;
	void *cb_arg = c->detach_arg;
	int rc = c->detach_rc;

	ctrlr_free_unregistered(c);
	if (cb != NULL) {
		cb(cb_arg, rc);
	}
}

/* No bdev of the controller is left and it is going: stop its pollers, release the io_device. */
static void
ctrlr_teardown(struct virtio_scsi_ctrlr *c)
{
	if (c->torn_down) {
		return;
	}
	c->torn_down = true;
	TAILQ_REMOVE(&g_ctrlrs, c, link);
	osp_poller_unregister(&c->alive_poller);
	osp_poller_unregister(&c->scan_poller);
	osp_io_device_unregister(&c->io_device, ctrlr_free);
}

static void scan_kick(struct virtio_scsi_ctrlr *c);

static int
scsi_destruct(void *ctx)
{
	struct virtio_scsi_disk *d = ctx;
	struct virtio_scsi_ctrlr *c = d->ctrlr;
	uint64_t bit = 1ull << d->target;

	/* The layer does not touch the bdev after this: the disk goes now. */
	c->disks[d->target] = NULL;
	free(d->bdev.name);
	free(d);
	if (c->rescan_after_destruct & bit) {
		/* The target came back while its old bdev was going: add it now. */
		c->rescan_after_destruct &= ~bit;
		c->rescan_mask |= bit;
		scan_kick(c);
	}
	if (--c->nregistered == 0 && c->unregistering) {
		ctrlr_teardown(c);
	}
	return 0;
}

static void
unregister_done(void *arg, int rc)
{
	struct virtio_scsi_ctrlr *c = arg;

	/* The controller is alive until its last bdev's destruct. */
	if (rc != 0) {
		OSP_ERRLOG("virtio-scsi '%s': unregistering a bdev: %s\n", c->name, strerror(-rc));
		c->detach_rc = rc;
	}
}

/* Start taking one disk's bdev down (its destruct frees it). */
static int
disk_remove(struct virtio_scsi_disk *d)
{
	int rc;

	if (!d->registered || d->removing) {
		return 0;
	}
	d->removing = true;
	rc = osp_bdev_unregister(&d->bdev, unregister_done, d->ctrlr);
	if (rc != 0) {
		OSP_ERRLOG("virtio-scsi '%s': cannot unregister bdev %s: %s\n", d->ctrlr->name,
			   d->bdev.name, strerror(-rc));
	}
	return rc;
}

/* Unregister every bdev of the controller; the last destruct frees it (at once if none). */
static int
ctrlr_unregister(struct virtio_scsi_ctrlr *c)
{
	int first_rc = 0;

	c->unregistering = true;
	osp_poller_unregister(&c->scan_poller);
	for (int i = 0; i < BDEV_VIRTIO_MAX_BDEVS; i++) {
		struct virtio_scsi_disk *d = c->disks[i];
		int rc;

		if (d == NULL || !d->registered || d->removing) {
			continue;
		}
		rc = disk_remove(d);
		if (rc != 0 && first_rc == 0) {
			first_rc = rc;
		}
	}
	if (c->nregistered == 0) {
		ctrlr_teardown(c);
	}
	return first_rc;
}

static void
scsi_dump_info_json(void *ctx, cJSON *obj)
{
	struct virtio_scsi_disk *d = ctx;
	struct virtio_scsi_ctrlr *c = d->ctrlr;
	cJSON *n = cJSON_AddObjectToObject(obj, "virtio");

	if (n != NULL) {
		cJSON_AddStringToObject(n, "trtype", "user");
		cJSON_AddStringToObject(n, "socket", c->path);
		cJSON_AddStringToObject(n, "dev_type", "scsi");
		cJSON_AddStringToObject(n, "controller", c->name);
		osp_json_add_uint64(n, "target", d->target);
		osp_json_add_uint64(n, "lun", 0);
		osp_json_add_uint64(n, "vq_count", c->num_req_queues);
		osp_json_add_uint64(n, "vq_size", c->vq_size);
		osp_json_add_uint64(n, "features", c->features);
		cJSON_AddBoolToObject(n, "unmap", d->unmap);
		cJSON_AddBoolToObject(n, "connected", !ctrlr_dead(c));
	}
}

static const struct osp_bdev_fn_table g_scsi_fn_table = {
	.destruct = scsi_destruct,
	.submit_request = bdev_virtio_submit_request,
	.io_type_supported = scsi_io_type_supported,
	.get_io_channel = scsi_get_io_channel,
	.dump_info_json = scsi_dump_info_json,
};

/* A disk from a scan's result (not registered). */
static struct virtio_scsi_disk *
disk_new(struct virtio_scsi_ctrlr *c, const struct target_scan *s)
{
	struct virtio_scsi_disk *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		return NULL;
	}
	d->ctrlr = c;
	d->target = s->target;
	d->bdev.blocklen = s->bs;
	d->bdev.blockcnt = s->nblocks;
	d->unmap = s->unmap;
	d->max_unmap = s->max_unmap;
	d->bdev.name = osp_sprintf_alloc("%st%u", c->name, s->target);
	if (d->bdev.name == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

static int
disk_register(struct virtio_scsi_ctrlr *c, struct virtio_scsi_disk *d)
{
	int rc;

	d->bdev.product_name = "Virtio SCSI Disk";
	d->bdev.write_unit_size = 1;
	d->bdev.max_rw_size = SLOT_DATA_SIZE / d->bdev.blocklen;
	d->bdev.write_cache = true;
	d->bdev.ctxt = d;
	d->bdev.module = &g_scsi_module;
	d->bdev.fn_table = &g_scsi_fn_table;
	rc = osp_bdev_register(&d->bdev);
	if (rc != 0) {
		return rc;
	}
	d->registered = true;
	c->nregistered++;
	OSP_NOTICELOG("virtio-scsi '%s' target %u on %s: bdev %s, %" PRIu64 " blocks of %u "
		      "bytes%s\n", c->name, d->target, c->path, d->bdev.name,
		      d->bdev.blockcnt, d->bdev.blocklen, d->unmap ? ", unmap" : "");
	return 0;
}

/* ---- scanning a target: INQUIRY, READ CAPACITY (16, else 10), Block Limits VPD ---- */

static void
scan_begin(struct target_scan *s, uint8_t target)
{
	memset(s, 0, sizeof(*s));
	s->target = target;
	s->step = STEP_INQUIRY;
	s->result = SCAN_SKIP;
	s->max_unmap = UINT32_MAX;
}

/* The current step's command: cdb (16 bytes), its length, the data-in bytes it reads. */
static void
scan_cmd_of(const struct target_scan *s, uint8_t *cdb, size_t *cdb_len, uint32_t *len)
{
	memset(cdb, 0, 16);
	switch (s->step) {
	case STEP_INQUIRY:
		cdb[0] = OSP_SCSI_INQUIRY;
		put_be16(cdb + 3, 36);
		*cdb_len = 6;
		*len = 36;
		break;
	case STEP_RC16:
		cdb[0] = OSP_SCSI_SERVICE_ACTION_IN_16;
		cdb[1] = OSP_SCSI_SAI_READ_CAPACITY_16;
		put_be32(cdb + 10, 32);
		*cdb_len = 16;
		*len = 32;
		break;
	case STEP_RC10:
		cdb[0] = OSP_SCSI_READ_CAPACITY_10;
		*cdb_len = 10;
		*len = 8;
		break;
	default:	/* STEP_VPD: the Block Limits page, for the UNMAP limits */
		cdb[0] = OSP_SCSI_INQUIRY;
		cdb[1] = 0x01;
		cdb[2] = 0xb0;
		put_be16(cdb + 3, SCAN_DATA_MAX);
		*cdb_len = 6;
		*len = SCAN_DATA_MAX;
		break;
	}
}

/* The geometry read back: usable (go on) or not (the target is skipped). */
static void
scan_geometry(struct virtio_scsi_ctrlr *c, struct target_scan *s)
{
	if (s->bs < 512 || s->bs > SLOT_DATA_SIZE || (s->bs & (s->bs - 1)) != 0 || s->nblocks == 0) {
		OSP_WARNLOG("virtio-scsi '%s': target %u: block size %u / %" PRIu64 " blocks not "
			    "usable; skipped\n", c->name, s->target, s->bs, s->nblocks);
		s->result = SCAN_SKIP;
		s->step = STEP_DONE;
		return;
	}
	if (s->lbpme) {
		s->step = STEP_VPD;
		return;
	}
	s->result = SCAN_DISK;
	s->step = STEP_DONE;
}

/*
 * The current step's command came back with resp and data (SCAN_DATA_MAX
 * bytes, copied out of the shared region): the next step, the same one
 * again (a UNIT ATTENTION: power on, reset, capacity changed), or done.
 */
static void
scan_step_done(struct virtio_scsi_ctrlr *c, struct target_scan *s,
	       const struct osp_virtio_scsi_cmd_resp *resp, const uint8_t *data)
{
	bool good = false;

	if (resp->response == OSP_VIRTIO_SCSI_S_BAD_TARGET) {
		s->result = SCAN_ABSENT;
		s->step = STEP_DONE;
		return;
	}
	if (resp->response == OSP_VIRTIO_SCSI_S_OK) {
		if (resp->status == STATUS_GOOD) {
			good = true;
		} else if (resp->status == STATUS_CHECK_CONDITION &&
			   sense_key(resp) == SENSE_KEY_UNIT_ATTENTION && s->ua_retries < UA_RETRIES) {
			s->ua_retries++;
			return;
		}
	}
	s->ua_retries = 0;
	switch (s->step) {
	case STEP_INQUIRY:
		if (!good) {
			s->result = SCAN_SKIP;
			s->step = STEP_DONE;
		} else if (data[0] != 0x00) {
			/* Not a direct-access LUN 0 (peripheral qualifier 0, type 0). */
			s->result = SCAN_ABSENT;
			s->step = STEP_DONE;
		} else {
			s->step = STEP_RC16;
		}
		break;
	case STEP_RC16:
		if (!good) {
			s->step = STEP_RC10;
			break;
		}
		s->nblocks = get_be64(data) + 1;
		s->bs = get_be32(data + 8);
		s->lbpme = (data[14] & 0x80) != 0;
		scan_geometry(c, s);
		break;
	case STEP_RC10:
		if (!good) {
			OSP_WARNLOG("virtio-scsi '%s': target %u: READ CAPACITY failed; skipped\n",
				    c->name, s->target);
			s->result = SCAN_SKIP;
			s->step = STEP_DONE;
			break;
		}
		s->nblocks = (uint64_t)get_be32(data) + 1;
		s->bs = get_be32(data + 4);
		s->lbpme = false;
		scan_geometry(c, s);
		break;
	case STEP_VPD:
		if (good && data[1] == 0xb0) {
			uint32_t max_lba = get_be32(data + 20);
			uint32_t max_desc = get_be32(data + 24);

			if (max_lba > 0 && max_desc > 0) {
				s->unmap = true;
				s->max_unmap = max_lba;
			}
		}
		s->result = SCAN_DISK;
		s->step = STEP_DONE;
		break;
	case STEP_DONE:
		break;
	}
}

/* Post the scan's current command on request queue q (its data area's first slot). */
static int
scan_cmd_post(struct virtio_scsi_ctrlr *c, uint16_t q, const struct target_scan *s)
{
	struct osp_virtq *vq = osp_vu_dev_queue(c->dev, q);
	uint8_t *base = osp_vu_dev_queue_data(c->dev, q);
	uint64_t addrs[3];
	uint32_t lens[3];
	bool wr[3] = { false, true, true };
	uint8_t cdb[16];
	size_t cdb_len;
	uint32_t len;
	int rc;

	if (vq == NULL || base == NULL) {
		return -EINVAL;
	}
	scan_cmd_of(s, cdb, &cdb_len, &len);
	addrs[0] = (uintptr_t)(base + SLOT_REQ_OFF);
	addrs[1] = (uintptr_t)(base + SLOT_RESP_OFF);
	addrs[2] = (uintptr_t)(base + SLOT_DATA_OFF);
	lens[0] = c->req_size;
	lens[1] = c->resp_size;
	lens[2] = len;
	fill_req(base + SLOT_REQ_OFF, c->req_size, s->target, cdb, cdb_len);
	memset(base + SLOT_RESP_OFF, 0, c->resp_size);
	memset(base + SLOT_DATA_OFF, 0, SCAN_DATA_MAX);
	rc = osp_virtq_post(vq, 3, addrs, lens, wr, base);
	if (rc < 0) {
		return rc;
	}
	if (osp_virtq_publish(vq)) {
		osp_vu_dev_kick(c->dev, q);
	}
	return 0;
}

/*
 * The command on queue q: back (0, resp and data copied out), not yet
 * (-EAGAIN), or the device broke the ring (-EIO).
 */
static int
scan_cmd_reap(struct virtio_scsi_ctrlr *c, uint16_t q, struct osp_virtio_scsi_cmd_resp *resp,
	      uint8_t *data)
{
	struct osp_virtq *vq = osp_vu_dev_queue(c->dev, q);
	uint8_t *base = osp_vu_dev_queue_data(c->dev, q);
	void *cookie;
	uint32_t used_len;
	int rc = osp_virtq_reap(vq, &cookie, &used_len, 1);

	if (rc == 0) {
		return -EAGAIN;
	}
	if (rc < 0) {
		return -EIO;
	}
	memcpy(resp, base + SLOT_RESP_OFF, sizeof(*resp));
	memcpy(data, base + SLOT_DATA_OFF, SCAN_DATA_MAX);
	return 0;
}

/*
 * Attach pthread, before any channel exists: scan target t on the first
 * request queue, waiting for each command. 0 with s->result, or -errno and
 * err (no answer, a broken ring).
 */
static int
scan_target_sync(struct virtio_scsi_ctrlr *c, uint8_t t, struct target_scan *s, char *err,
		 size_t errlen)
{
	struct timespec ts = { 0, 100000 };
	struct osp_virtio_scsi_cmd_resp resp;
	uint8_t data[SCAN_DATA_MAX];
	int rc;

	scan_begin(s, t);
	while (s->step != STEP_DONE) {
		int waited_us = 0;

		rc = scan_cmd_post(c, OSP_VIRTIO_SCSI_REQUESTQ, s);
		if (rc != 0) {
			snprintf(err, errlen, "scanning target %u: %s", t, strerror(-rc));
			return rc;
		}
		while ((rc = scan_cmd_reap(c, OSP_VIRTIO_SCSI_REQUESTQ, &resp, data)) == -EAGAIN) {
			if (waited_us >= SCAN_TIMEOUT_MS * 1000 || !osp_vu_dev_check_alive(c->dev)) {
				snprintf(err, errlen, "scanning target %u: no answer from the back end", t);
				return -ETIMEDOUT;
			}
			nanosleep(&ts, NULL);
			waited_us += 100;
		}
		if (rc != 0) {
			snprintf(err, errlen, "scanning target %u: the back end broke the request queue", t);
			return rc;
		}
		scan_step_done(c, s, &resp, data);
	}
	return 0;
}

/* ---- hot plug: rescans on the app thread ---- */

/* A scan found s: add, resize or remove the target's bdev. */
static void
scan_apply(struct virtio_scsi_ctrlr *c, const struct target_scan *s)
{
	struct virtio_scsi_disk *d = c->disks[s->target];
	uint64_t bit = 1ull << s->target;
	int rc;

	switch (s->result) {
	case SCAN_ABSENT:
		c->rescan_after_destruct &= ~bit;
		if (d != NULL && d->registered && !d->removing) {
			OSP_NOTICELOG("virtio-scsi '%s': target %u is gone: removing bdev %s\n", c->name,
				      s->target, d->bdev.name);
			disk_remove(d);
		}
		break;
	case SCAN_SKIP:
		break;
	case SCAN_DISK:
		if (d != NULL && d->removing) {
			c->rescan_after_destruct |= bit;
		} else if (d != NULL) {
			if (s->bs != d->bdev.blocklen) {
				OSP_WARNLOG("virtio-scsi '%s': target %u: block size changed from %u to "
					    "%u: not followed (detach and attach again)\n", c->name,
					    s->target, d->bdev.blocklen, s->bs);
			} else if (s->nblocks != d->bdev.blockcnt) {
				uint64_t old = d->bdev.blockcnt;

				rc = osp_bdev_notify_blockcnt_change(&d->bdev, s->nblocks);
				if (rc != 0) {
					OSP_ERRLOG("virtio-scsi '%s': bdev %s: cannot change its size to "
						   "%" PRIu64 " blocks: %s\n", c->name, d->bdev.name,
						   s->nblocks, strerror(-rc));
				} else {
					OSP_NOTICELOG("virtio-scsi '%s': bdev %s resized from %" PRIu64
						      " to %" PRIu64 " blocks\n", c->name, d->bdev.name,
						      old, s->nblocks);
				}
			}
		} else {
			d = disk_new(c, s);
			if (d == NULL) {
				OSP_ERRLOG("virtio-scsi '%s': target %u: out of memory\n", c->name,
					   s->target);
				break;
			}
			if (osp_bdev_get_by_name(d->bdev.name) != NULL) {
				OSP_ERRLOG("virtio-scsi '%s': target %u: a bdev named '%s' exists "
					   "already: not added\n", c->name, s->target, d->bdev.name);
				free(d->bdev.name);
				free(d);
				break;
			}
			c->disks[s->target] = d;
			rc = disk_register(c, d);
			if (rc != 0) {
				OSP_ERRLOG("virtio-scsi '%s': cannot register bdev %s: %s\n", c->name,
					   d->bdev.name, strerror(-rc));
				c->disks[s->target] = NULL;
				free(d->bdev.name);
				free(d);
			}
		}
		break;
	}
}

/* Post the scan's command on its own queue, or on a request queue no channel holds. */
static int
scan_post_async(struct virtio_scsi_ctrlr *c)
{
	uint16_t q = c->scan_queue;
	int rc;

	if (q == 0) {
		rc = bdev_virtio_claim_queue(&c->queues_used, OSP_VIRTIO_SCSI_REQUESTQ,
					     c->num_req_queues);
		if (rc < 0) {
			return rc;
		}
		q = (uint16_t)rc;
		if (osp_virtq_in_flight(osp_vu_dev_queue(c->dev, q)) != 0) {
			/* A queue a failed channel left with chains in flight: not usable. */
			bdev_virtio_release_queue(&c->queues_used, q);
			return -EBUSY;
		}
	}
	rc = scan_cmd_post(c, q, &c->scan);
	if (rc != 0) {
		if (c->scan_queue == 0) {
			bdev_virtio_release_queue(&c->queues_used, q);
		}
		return rc;
	}
	c->scan_q = q;
	c->scan_in_flight = true;
	c->scan_deadline = osp_get_ticks() + osp_get_ticks_hz() * SCAN_TIMEOUT_MS / 1000;
	return 0;
}

static int
scan_poll(void *arg)
{
	struct virtio_scsi_ctrlr *c = arg;
	struct osp_virtio_scsi_cmd_resp resp;
	uint8_t data[SCAN_DATA_MAX];
	int rc;

	if (c->unregistering || ctrlr_dead(c) || c->scan_broken) {
		osp_poller_unregister(&c->scan_poller);
		return OSP_POLLER_IDLE;
	}
	if (c->scan_in_flight) {
		rc = scan_cmd_reap(c, c->scan_q, &resp, data);
		if (rc == -EAGAIN) {
			if (osp_get_ticks() > c->scan_deadline) {
				/* The queue keeps the command: it stays claimed, no channel gets it. */
				OSP_ERRLOG("virtio-scsi '%s': target %u: no answer to a scan command in "
					   "%d ms: hot plug stops (detach and attach again)\n", c->name,
					   c->scan.target, SCAN_TIMEOUT_MS);
				c->scan_broken = true;
				osp_poller_unregister(&c->scan_poller);
			}
			return OSP_POLLER_IDLE;
		}
		if (rc != 0) {
			OSP_ERRLOG("virtio-scsi '%s' queue %u: the back end broke the used ring; failing "
				   "the device\n", c->name, c->scan_q);
			ctrlr_set_dead(c);
			return OSP_POLLER_BUSY;
		}
		c->scan_in_flight = false;
		if (c->scan_queue == 0) {
			bdev_virtio_release_queue(&c->queues_used, c->scan_q);
		}
		scan_step_done(c, &c->scan, &resp, data);
		if (c->scan.step == STEP_DONE) {
			c->scan_active = false;
			if (c->scan_stale) {
				/* What it read may predate the event: the event's word wins. */
				c->rescan_mask |= 1ull << c->scan.target;
			} else {
				scan_apply(c, &c->scan);
			}
		}
		return OSP_POLLER_BUSY;
	}
	if (!c->scan_active) {
		uint8_t t;

		if (c->rescan_mask == 0) {
			osp_poller_unregister(&c->scan_poller);
			return OSP_POLLER_IDLE;
		}
		t = (uint8_t)__builtin_ctzll(c->rescan_mask);
		c->rescan_mask &= ~(1ull << t);
		scan_begin(&c->scan, t);
		c->scan_active = true;
		c->scan_stale = false;
		c->stat_rescans++;
	}
	rc = scan_post_async(c);
	if (rc == -EBUSY || rc == -EAGAIN) {
		if (!c->scan_waiting_logged) {
			OSP_WARNLOG("virtio-scsi '%s': every request queue has a channel: the rescan "
				    "of target %u waits for a free one (attach with a vq_count below the "
				    "device's %u queues to keep one for rescans)\n", c->name,
				    c->scan.target, c->cfg.num_queues);
			c->scan_waiting_logged = true;
		}
		/* No busy wait: the 100 ms liveness poller tries again (scan_kick). */
		osp_poller_unregister(&c->scan_poller);
		return OSP_POLLER_IDLE;
	}
	c->scan_waiting_logged = false;
	if (rc != 0) {
		OSP_ERRLOG("virtio-scsi '%s': target %u: cannot post a scan command: %s\n", c->name,
			   c->scan.target, strerror(-rc));
		c->scan_active = false;
	}
	return OSP_POLLER_BUSY;
}

/* Targets wait in rescan_mask: make sure the scan poller runs. */
static void
scan_kick(struct virtio_scsi_ctrlr *c)
{
	if (c->scan_poller != NULL || c->unregistering || c->scan_broken || ctrlr_dead(c) ||
	    (c->rescan_mask == 0 && !c->scan_active)) {
		return;
	}
	c->scan_poller = OSP_POLLER_REGISTER(scan_poll, c, SCAN_POLL_US);
	if (c->scan_poller == NULL) {
		OSP_ERRLOG("virtio-scsi '%s': out of memory: rescan postponed\n", c->name);
	}
}

/* ---- the event queue ---- */

static int
evq_post(struct virtio_scsi_ctrlr *c, uint8_t *buf)
{
	uint64_t addr = (uintptr_t)buf;
	uint32_t len = c->evbuf_size;
	bool wr = true;
	int rc;

	memset(buf, 0, c->evbuf_size);
	rc = osp_virtq_post(c->evq, 1, &addr, &len, &wr, buf);
	return rc < 0 ? rc : 0;
}

/* Attach pthread: fill the event queue with buffers for the device. */
static int
evq_setup(struct virtio_scsi_ctrlr *c, char *err, size_t errlen)
{
	uint16_t n = c->vq_size < EVT_BUFS ? c->vq_size : EVT_BUFS;
	int rc;

	c->evq = osp_vu_dev_queue(c->dev, OSP_VIRTIO_SCSI_EVENTQ);
	c->evbuf = osp_vu_dev_queue_data(c->dev, OSP_VIRTIO_SCSI_EVENTQ);
	c->evbuf_size = EVT_BUF_SIZE;
	if (c->evq == NULL || c->evbuf == NULL) {
		snprintf(err, errlen, "the event queue is not set up");
		return -EINVAL;
	}
	if (c->cfg.event_info_size > EVT_BUF_SIZE) {
		OSP_WARNLOG("virtio-scsi '%s': event_info_size %u: event buffers of %d bytes are "
			    "used (an event is %d)\n", c->name, c->cfg.event_info_size, EVT_BUF_SIZE,
			    BDEV_VIRTIO_SCSI_EVENT_SIZE);
	}
	for (uint16_t i = 0; i < n; i++) {
		rc = evq_post(c, c->evbuf + (size_t)i * EVT_BUF_SIZE);
		if (rc != 0) {
			snprintf(err, errlen, "posting event buffers: %s", strerror(-rc));
			return rc;
		}
	}
	if (osp_virtq_publish(c->evq)) {
		osp_vu_dev_kick(c->dev, OSP_VIRTIO_SCSI_EVENTQ);
	}
	return 0;
}

/* App thread: act on the events the device reported, give their buffers back. */
static int
evq_poll(struct virtio_scsi_ctrlr *c)
{
	void *cookies[EVT_BUFS];
	uint32_t lens[EVT_BUFS];
	int n;

	n = osp_virtq_reap(c->evq, cookies, lens, EVT_BUFS);
	if (n < 0) {
		OSP_ERRLOG("virtio-scsi '%s': the back end broke the event queue; failing the device\n",
			   c->name);
		ctrlr_set_dead(c);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *buf = cookies[i];
		uint8_t ev[BDEV_VIRTIO_SCSI_EVENT_SIZE];
		struct bdev_virtio_scsi_evt evt;
		struct virtio_scsi_disk *d;
		char why[128];

		/* Shared memory: read it once. */
		memcpy(ev, buf, sizeof(ev));
		c->stat_events++;
		switch (bdev_virtio_scsi_event_parse(ev, lens[i], c->ntargets, &evt, why, sizeof(why))) {
		case BDEV_VIRTIO_SCSI_EVT_NONE:
			break;
		case BDEV_VIRTIO_SCSI_EVT_RESCAN:
			OSP_NOTICELOG("virtio-scsi '%s': target %u: %s event: rescanning it\n", c->name,
				      evt.target, evt.event == BDEV_VIRTIO_SCSI_T_PARAM_CHANGE ?
				      "parameter change" : "transport reset (rescan)");
			c->rescan_mask |= 1ull << evt.target;
			break;
		case BDEV_VIRTIO_SCSI_EVT_REMOVE:
			d = c->disks[evt.target];
			c->rescan_after_destruct &= ~(1ull << evt.target);
			OSP_NOTICELOG("virtio-scsi '%s': target %u removed by the back end%s%s\n",
				      c->name, evt.target, d != NULL && !d->removing ?
				      ": removing bdev " : "", d != NULL && !d->removing ?
				      d->bdev.name : "");
			if (d != NULL) {
				disk_remove(d);
			}
			break;
		case BDEV_VIRTIO_SCSI_EVT_RESCAN_ALL:
			OSP_WARNLOG("virtio-scsi '%s': the back end lost events: rescanning targets 0 "
				    "to %u\n", c->name, c->ntargets - 1u);
			c->rescan_mask = c->ntargets >= 64 ? UINT64_MAX : (1ull << c->ntargets) - 1;
			break;
		case BDEV_VIRTIO_SCSI_EVT_BAD:
			/* A device may return every buffer at once, again and again: the log is bounded. */
			if (++c->stat_events_bad <= 16 || c->stat_events_bad % 1000 == 0) {
				OSP_WARNLOG("virtio-scsi '%s': event ignored: %s (%" PRIu64 " ignored "
					    "so far)\n", c->name, why, c->stat_events_bad);
			}
			break;
		}
		if (c->scan_active && (evt.action == BDEV_VIRTIO_SCSI_EVT_RESCAN_ALL ||
				       ((evt.action == BDEV_VIRTIO_SCSI_EVT_RESCAN ||
					 evt.action == BDEV_VIRTIO_SCSI_EVT_REMOVE) &&
					evt.target == c->scan.target))) {
			/*
			 * A scan of that target is under way: its answers may be older
			 * than the event (a disk seen just before its removal would
			 * come back as a stale bdev). It is done again.
			 */
			c->scan_stale = true;
		}
		if (evq_post(c, buf) != 0) {
			OSP_ERRLOG("virtio-scsi '%s': cannot post an event buffer again\n", c->name);
		}
	}
	if (n > 0 && osp_virtq_publish(c->evq)) {
		osp_vu_dev_kick(c->dev, OSP_VIRTIO_SCSI_EVENTQ);
	}
	scan_kick(c);
	return n;
}

/* App thread: notice a back end that went away (and take the bdevs down), read events. */
static int
alive_poll(void *arg)
{
	struct virtio_scsi_ctrlr *c = arg;

	if (c->unregistering) {
		return OSP_POLLER_IDLE;
	}
	if (!ctrlr_dead(c) && osp_vu_dev_check_alive(c->dev)) {
		uint64_t ua = __atomic_exchange_n(&c->ua_rescan, 0, __ATOMIC_RELAXED);

		if (ua != 0) {
			OSP_NOTICELOG("virtio-scsi '%s': I/O met a capacity or LUN change unit attention: "
				      "rescanning target(s) 0x%" PRIx64 "\n", c->name, ua);
			c->rescan_mask |= ua;
			if (c->scan_active && (ua & (1ull << c->scan.target))) {
				c->scan_stale = true;
			}
		}
		return evq_poll(c) > 0 || ua != 0 ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
	}
	ctrlr_set_dead(c);
	OSP_ERRLOG("virtio-scsi '%s': the vhost-user back end at %s is gone; failing its I/O and "
		   "removing its bdevs\n", c->name, c->path);
	ctrlr_unregister(c);
	return OSP_POLLER_BUSY;
}

/* ---- attach ---- */

static int
scsi_connect(void *arg, char *err, size_t errlen)
{
	struct virtio_scsi_ctrlr *c = arg;
	/* One request queue more than vq_count, when the device has it: rescans use it. */
	uint32_t want = (uint32_t)OSP_VIRTIO_SCSI_REQUESTQ + c->vq_count + 1;
	struct osp_vu_dev_opts vo = {
		.path = c->path,
		.wanted_features = (1ull << OSP_VIRTIO_F_VERSION_1) | (1ull << OSP_VIRTIO_F_EVENT_IDX) |
				   (1ull << OSP_VIRTIO_SCSI_F_HOTPLUG) |
				   (1ull << OSP_VIRTIO_SCSI_F_CHANGE),
		.config_size = sizeof(struct osp_virtio_scsi_config),
		/* A channel's queue is a bit of a 64-bit mask. */
		.max_queues = (uint16_t)(want < 64 ? want : 64),
		.queue_size = c->vq_size,
		.data_size_per_queue = (size_t)c->nslots * SLOT_STRIDE,
	};
	uint32_t nreq;
	int rc, ndisks = 0;

	rc = osp_vu_dev_connect(&vo, &c->dev, err, errlen);
	if (rc != 0) {
		return rc;
	}
	memcpy(&c->cfg, osp_vu_dev_config(c->dev), sizeof(c->cfg));
	c->features = osp_vu_dev_features(c->dev);
	c->hotplug = (c->features & (1ull << OSP_VIRTIO_SCSI_F_HOTPLUG)) != 0;
	if (c->cfg.num_queues == 0) {
		snprintf(err, errlen, "the device has no request queues (num_queues 0)");
		return -EINVAL;
	}
	if (c->cfg.cdb_size < 16 || c->cfg.cdb_size > OSP_VIRTIO_SCSI_CDB_SIZE) {
		snprintf(err, errlen, "the device's cdb_size %u is not in [16, %d]", c->cfg.cdb_size,
			 OSP_VIRTIO_SCSI_CDB_SIZE);
		return -EINVAL;
	}
	if (c->cfg.sense_size > SLOT_RESP_MAX - 12) {
		snprintf(err, errlen, "the device's sense_size %u is larger than %d", c->cfg.sense_size,
			 SLOT_RESP_MAX - 12);
		return -EINVAL;
	}
	c->req_size = 19 + c->cfg.cdb_size;
	c->resp_size = 12 + (c->cfg.sense_size > OSP_VIRTIO_SCSI_SENSE_SIZE ? c->cfg.sense_size :
			     OSP_VIRTIO_SCSI_SENSE_SIZE);
	if (osp_vu_dev_num_queues(c->dev) <= OSP_VIRTIO_SCSI_REQUESTQ) {
		snprintf(err, errlen, "the back end has %u queue(s): virtio-scsi needs at least 3 "
			 "(control, event, request)", osp_vu_dev_num_queues(c->dev));
		return -EINVAL;
	}
	nreq = c->cfg.num_queues < (uint32_t)c->vq_count + 1 ? c->cfg.num_queues :
	       (uint32_t)c->vq_count + 1;
	osp_vu_dev_limit_queues(c->dev, (uint16_t)(OSP_VIRTIO_SCSI_REQUESTQ + nreq));
	rc = osp_vu_dev_start(c->dev, err, errlen);
	if (rc != 0) {
		return rc;
	}
	nreq = osp_vu_dev_num_queues(c->dev) - OSP_VIRTIO_SCSI_REQUESTQ;
	if (nreq > c->vq_count) {
		c->num_req_queues = c->vq_count;
		c->scan_queue = (uint16_t)(OSP_VIRTIO_SCSI_REQUESTQ + c->vq_count);
	} else {
		c->num_req_queues = (uint16_t)nreq;
		c->scan_queue = 0;
	}
	/* In 32 bits: max_target 65535 must not wrap to 0 targets. */
	c->ntargets = (uint16_t)((uint32_t)c->cfg.max_target + 1u < BDEV_VIRTIO_MAX_BDEVS ?
				 (uint32_t)c->cfg.max_target + 1u : BDEV_VIRTIO_MAX_BDEVS);
	/* Before the scan, so that a target added meanwhile is reported. */
	rc = evq_setup(c, err, errlen);
	if (rc != 0) {
		return rc;
	}
	for (uint16_t t = 0; t < c->ntargets; t++) {
		struct target_scan s;

		rc = scan_target_sync(c, (uint8_t)t, &s, err, errlen);
		if (rc != 0) {
			return rc;
		}
		if (s.result != SCAN_DISK) {
			continue;
		}
		c->disks[t] = disk_new(c, &s);
		if (c->disks[t] == NULL) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		ndisks++;
	}
	if (ndisks == 0 && !c->hotplug) {
		snprintf(err, errlen, "no target with a disk at LUN 0 (targets 0 to %u scanned, and "
			 "the device offers no hot plug)", c->ntargets - 1);
		return -ENODEV;
	}
	return 0;
}

static int
scsi_register(void *arg, const char **names, int *n, char *err, size_t errlen)
{
	struct virtio_scsi_ctrlr *c = arg;
	int rc = 0, cnt = 0;

	for (int t = 0; t < BDEV_VIRTIO_MAX_BDEVS; t++) {
		struct virtio_scsi_disk *d = c->disks[t];

		if (d != NULL && osp_bdev_get_by_name(d->bdev.name) != NULL) {
			snprintf(err, errlen, "a bdev named '%s' already exists", d->bdev.name);
			ctrlr_free_unregistered(c);
			return -EEXIST;
		}
	}
	c->alive_poller = OSP_POLLER_REGISTER(alive_poll, c, ALIVE_POLL_US);
	if (c->alive_poller == NULL) {
		snprintf(err, errlen, "out of memory");
		ctrlr_free_unregistered(c);
		return -ENOMEM;
	}
	osp_io_device_register(&c->io_device, channel_create, channel_destroy,
			       sizeof(struct virtio_scsi_channel), "bdev_virtio_scsi");
	TAILQ_INSERT_TAIL(&g_ctrlrs, c, link);
	for (int t = 0; t < BDEV_VIRTIO_MAX_BDEVS; t++) {
		struct virtio_scsi_disk *d = c->disks[t];

		if (d == NULL) {
			continue;
		}
		rc = disk_register(c, d);
		if (rc != 0) {
			snprintf(err, errlen, "cannot register bdev '%s': %s", d->bdev.name,
				 strerror(-rc));
			break;
		}
		names[cnt++] = d->bdev.name;
	}
	if (rc != 0) {
		/* Take down what registered; the disks left are freed with the controller. */
		ctrlr_unregister(c);
		return rc;
	}
	if (cnt == 0) {
		OSP_NOTICELOG("virtio-scsi '%s' on %s: no disk yet (targets 0 to %u); hot plug "
			      "will add them\n", c->name, c->path, c->ntargets - 1u);
	}
	*n = cnt;
	return 0;
}

static const struct bdev_virtio_attach_ops g_scsi_attach_ops = {
	.connect = scsi_connect,
	.register_bdevs = scsi_register,
	.free = ctrlr_free_unregistered,
};

static struct virtio_scsi_ctrlr *
ctrlr_find(const char *name)
{
	struct virtio_scsi_ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (strcmp(c->name, name) == 0) {
			return c;
		}
	}
	return NULL;
}

int
bdev_virtio_scsi_attach(const struct bdev_virtio_opts *opts, bdev_virtio_attach_cb cb_fn,
			void *cb_arg, char *err, size_t errlen)
{
	struct virtio_scsi_ctrlr *c;
	int rc;

	if (!bdev_virtio_opts_ok(opts, cb_fn != NULL, err, errlen)) {
		return -EINVAL;
	}
	if (ctrlr_find(opts->name) != NULL) {
		snprintf(err, errlen, "a virtio-scsi controller named '%s' exists already", opts->name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->name = strdup(opts->name);
	c->path = strdup(opts->path);
	if (c->name == NULL || c->path == NULL) {
		ctrlr_free_unregistered(c);
		return -ENOMEM;
	}
	c->vq_count = opts->vq_count;
	c->vq_size = opts->vq_size;
	/* At most four descriptors per command: request, data out, response, data in. */
	c->nslots = (uint16_t)(opts->vq_size / 4 < MAX_SLOTS_PER_QUEUE ? opts->vq_size / 4 :
			       MAX_SLOTS_PER_QUEUE);
	rc = bdev_virtio_attach_start(opts->name, c, &g_scsi_attach_ops, cb_fn, cb_arg, err, errlen);
	if (rc != 0) {
		ctrlr_free_unregistered(c);
	}
	return rc;
}

int
bdev_virtio_scsi_detach(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct virtio_scsi_ctrlr *c = ctrlr_find(name);

	if (c == NULL || c->unregistering) {
		return -ENODEV;
	}
	c->detach_cb = cb_fn;
	c->detach_arg = cb_arg;
	return ctrlr_unregister(c);
}

void
bdev_virtio_scsi_dump_devices(cJSON *array)
{
	struct virtio_scsi_ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		cJSON *o = cJSON_CreateObject();
		cJSON *v, *t;

		if (o == NULL) {
			return;
		}
		if (c->unregistering) {
			/* Being detached or its back end is gone: not part of the current set. */
			cJSON_Delete(o);
			continue;
		}
		cJSON_AddStringToObject(o, "name", c->name);
		v = cJSON_AddObjectToObject(o, "virtio");
		if (v != NULL) {
			cJSON_AddStringToObject(v, "type", "user");
			cJSON_AddStringToObject(v, "socket", c->path);
			osp_json_add_uint64(v, "vq_count", c->num_req_queues);
			osp_json_add_uint64(v, "vq_size", c->vq_size);
			cJSON_AddBoolToObject(v, "connected", !ctrlr_dead(c));
		}
		t = cJSON_AddArrayToObject(o, "targets");
		for (int i = 0; t != NULL && i < BDEV_VIRTIO_MAX_BDEVS; i++) {
			struct virtio_scsi_disk *d = c->disks[i];
			cJSON *e;

			/* The current set: bdevs being removed are not listed. */
			if (d == NULL || !d->registered || d->removing) {
				continue;
			}
			e = cJSON_CreateObject();
			if (e == NULL) {
				break;
			}
			osp_json_add_uint64(e, "target", d->target);
			cJSON_AddStringToObject(e, "bdev_name", d->bdev.name);
			osp_json_add_uint64(e, "num_blocks", d->bdev.blockcnt);
			osp_json_add_uint64(e, "block_size", d->bdev.blocklen);
			cJSON_AddItemToArray(t, e);
		}
		v = cJSON_AddObjectToObject(o, "hotplug");
		if (v != NULL) {
			cJSON_AddBoolToObject(v, "negotiated", c->hotplug);
			cJSON_AddBoolToObject(v, "capacity_change",
					      (c->features & (1ull << OSP_VIRTIO_SCSI_F_CHANGE)) != 0);
			osp_json_add_uint64(v, "events", c->stat_events);
			osp_json_add_uint64(v, "events_ignored", c->stat_events_bad);
			osp_json_add_uint64(v, "target_scans", c->stat_rescans);
			cJSON_AddBoolToObject(v, "scan_queue_own", c->scan_queue != 0);
			cJSON_AddBoolToObject(v, "stopped", c->scan_broken);
		}
		cJSON_AddItemToArray(array, o);
	}
}

static void
scsi_config_json(cJSON *array)
{
	struct virtio_scsi_ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		cJSON *params = cJSON_CreateObject();

		if (params == NULL) {
			return;
		}
		cJSON_AddStringToObject(params, "name", c->name);
		cJSON_AddStringToObject(params, "trtype", "user");
		cJSON_AddStringToObject(params, "traddr", c->path);
		cJSON_AddStringToObject(params, "dev_type", "scsi");
		osp_json_add_uint64(params, "vq_count", c->vq_count);
		osp_json_add_uint64(params, "vq_size", c->vq_size);
		osp_json_add_rpc_call(array, "bdev_virtio_attach_controller", params);
	}
}

/* ---- module ---- */

static int
scsi_get_ctx_size(void)
{
	return sizeof(struct virtio_scsi_io);
}

static int
scsi_module_init(void)
{
	return 0;
}

/*
 * Subsystem fini, before the layer unregisters every bdev: controllers stop
 * their events and rescans and go with their last bdev (one with no bdev
 * goes now).
 */
static void
scsi_fini_start(void)
{
	struct virtio_scsi_ctrlr *c, *tmp;

	TAILQ_FOREACH_SAFE(c, &g_ctrlrs, link, tmp) {
		c->unregistering = true;
		osp_poller_unregister(&c->scan_poller);
		if (c->nregistered == 0) {
			ctrlr_teardown(c);
		}
	}
}

static void
scsi_module_fini(void)
{
	bdev_virtio_attach_cancel_all();
}
