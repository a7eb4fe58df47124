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
 * Not done: hot plug (the event queue is not read: a target added later is
 * not seen until the controller is attached again; one removed fails its
 * I/O with BAD_TARGET), task management from the front end, LUNs other than 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "osprey/bdev_module.h"
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
#define REAP_BATCH		32
/* A UNIT ATTENTION (reset, capacity changed...) is reported once: the command is sent again. */
#define UA_RETRIES		4
#define SCAN_TIMEOUT_MS		5000
#define SENSE_KEY_UNIT_ATTENTION 0x6
/* SAM status codes. */
#define STATUS_GOOD		0x00
#define STATUS_CHECK_CONDITION	0x02

struct virtio_scsi_ctrlr;

struct virtio_scsi_disk {
	struct osp_bdev bdev;
	struct virtio_scsi_ctrlr *ctrlr;
	uint8_t target;
	bool unmap;		/* LBPU: UNMAP is supported */
	uint32_t max_unmap;	/* blocks per UNMAP descriptor */
	bool registered;
};

struct virtio_scsi_ctrlr {
	char *name;
	char *path;
	struct osp_vu_dev *dev;
	struct osp_virtio_scsi_config cfg;
	uint64_t features;
	uint16_t vq_count;	/* request queues asked for (saved in the config) */
	uint16_t vq_size;
	uint16_t num_req_queues;	/* set up */
	uint16_t nslots;
	uint32_t req_size;	/* request header bytes: 19 + cdb_size */
	uint32_t resp_size;	/* response bytes: 12 + sense_size */
	uint64_t queues_used;	/* bit per queue owned by a channel (atomic) */
	bool dead;		/* atomic */
	bool unregistering;
	uint8_t io_device;
	struct osp_poller *alive_poller;
	int ndisks;
	int nregistered;	/* bdevs registered and not yet destructed */
	struct virtio_scsi_disk *disks[BDEV_VIRTIO_MAX_BDEVS];
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
static int scsi_get_ctx_size(void);
static void scsi_config_json(cJSON *array);

static struct osp_bdev_module g_scsi_module = {
	.name = "virtio_scsi",
	.module_init = scsi_module_init,
	.module_fini = scsi_module_fini,
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

	for (int i = 0; i < c->ndisks; i++) {
		free(c->disks[i]->bdev.name);
		free(c->disks[i]);
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

static int
scsi_destruct(void *ctx)
{
	struct virtio_scsi_disk *d = ctx;
	struct virtio_scsi_ctrlr *c = d->ctrlr;

	d->registered = false;
	if (--c->nregistered == 0) {
		TAILQ_REMOVE(&g_ctrlrs, c, link);
		osp_poller_unregister(&c->alive_poller);
		osp_io_device_unregister(&c->io_device, ctrlr_free);
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

/* Unregister every bdev of the controller; the last destruct frees it. */
static int
ctrlr_unregister(struct virtio_scsi_ctrlr *c)
{
	int first_rc = 0;

	c->unregistering = true;
	for (int i = 0; i < c->ndisks; i++) {
		struct virtio_scsi_disk *d = c->disks[i];
		int rc;

		if (!d->registered) {
			continue;
		}
		rc = osp_bdev_unregister(&d->bdev, unregister_done, c);
		if (rc != 0 && first_rc == 0) {
			first_rc = rc;
		}
	}
	return first_rc;
}

/* App thread: notice a back end that went away and take the bdevs down. */
static int
alive_poll(void *arg)
{
	struct virtio_scsi_ctrlr *c = arg;

	if (c->unregistering) {
		return OSP_POLLER_IDLE;
	}
	if (!ctrlr_dead(c) && osp_vu_dev_check_alive(c->dev)) {
		return OSP_POLLER_IDLE;
	}
	ctrlr_set_dead(c);
	OSP_ERRLOG("virtio-scsi '%s': the vhost-user back end at %s is gone; failing its I/O and "
		   "removing its bdevs\n", c->name, c->path);
	ctrlr_unregister(c);
	return OSP_POLLER_BUSY;
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

/* ---- attach: scan on the attach pthread ---- */

/*
 * One command to target t, LUN 0, on the first request queue, waited for
 * (attach pthread only, before any channel exists). data_in: len bytes
 * back into buf. Returns 0 with *resp filled, or -errno.
 */
static int
scan_cmd(struct virtio_scsi_ctrlr *c, uint8_t target, const uint8_t *cdb, size_t cdb_len,
	 void *buf, uint32_t len, struct osp_virtio_scsi_cmd_resp *resp)
{
	struct osp_virtq *vq = osp_vu_dev_queue(c->dev, OSP_VIRTIO_SCSI_REQUESTQ);
	uint8_t *base = osp_vu_dev_queue_data(c->dev, OSP_VIRTIO_SCSI_REQUESTQ);
	uint64_t addrs[3] = { (uintptr_t)(base + SLOT_REQ_OFF), (uintptr_t)(base + SLOT_RESP_OFF),
			      (uintptr_t)(base + SLOT_DATA_OFF) };
	uint32_t lens[3] = { c->req_size, c->resp_size, len };
	bool wr[3] = { false, true, true };
	struct timespec ts = { 0, 100000 };
	void *cookie;
	uint32_t used_len;
	int rc, waited_us = 0;

	fill_req(base + SLOT_REQ_OFF, c->req_size, target, cdb, cdb_len);
	memset(base + SLOT_RESP_OFF, 0, c->resp_size);
	memset(base + SLOT_DATA_OFF, 0, len);
	rc = osp_virtq_post(vq, len > 0 ? 3 : 2, addrs, lens, wr, base);
	if (rc < 0) {
		return rc;
	}
	if (osp_virtq_publish(vq)) {
		osp_vu_dev_kick(c->dev, OSP_VIRTIO_SCSI_REQUESTQ);
	}
	for (;;) {
		rc = osp_virtq_reap(vq, &cookie, &used_len, 1);
		if (rc != 0) {
			break;
		}
		if (waited_us >= SCAN_TIMEOUT_MS * 1000 || !osp_vu_dev_check_alive(c->dev)) {
			return -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
		waited_us += 100;
	}
	if (rc < 0) {
		return -EIO;
	}
	memcpy(resp, base + SLOT_RESP_OFF, sizeof(*resp));
	if (len > 0) {
		memcpy(buf, base + SLOT_DATA_OFF, len);
	}
	return 0;
}

/*
 * A command that may first report UNIT ATTENTION (power on, reset). 0 on
 * GOOD; 1 if the target does not exist; -EIO on another failure.
 */
static int
scan_cmd_good(struct virtio_scsi_ctrlr *c, uint8_t target, const uint8_t *cdb, size_t cdb_len,
	      void *buf, uint32_t len, int *err_rc)
{
	struct osp_virtio_scsi_cmd_resp resp;

	for (int tries = 0; tries <= UA_RETRIES; tries++) {
		int rc = scan_cmd(c, target, cdb, cdb_len, buf, len, &resp);

		if (rc != 0) {
			*err_rc = rc;
			return rc;
		}
		if (resp.response == OSP_VIRTIO_SCSI_S_BAD_TARGET) {
			return 1;
		}
		if (resp.response != OSP_VIRTIO_SCSI_S_OK) {
			return -EIO;
		}
		if (resp.status == STATUS_GOOD) {
			return 0;
		}
		if (resp.status != STATUS_CHECK_CONDITION ||
		    sense_key(&resp) != SENSE_KEY_UNIT_ATTENTION) {
			return -EIO;
		}
	}
	return -EIO;
}

/* Probe target t: a disk (a new entry in c->disks), nothing there (0), or a transport error. */
static int
scan_target(struct virtio_scsi_ctrlr *c, uint8_t t, char *err, size_t errlen)
{
	uint8_t cdb[16], buf[64];
	struct virtio_scsi_disk *d;
	uint32_t bs;
	uint64_t nblocks;
	int rc, err_rc = 0;

	memset(cdb, 0, sizeof(cdb));
	cdb[0] = OSP_SCSI_INQUIRY;
	put_be16(cdb + 3, 36);
	rc = scan_cmd_good(c, t, cdb, 6, buf, 36, &err_rc);
	if (err_rc != 0) {
		snprintf(err, errlen, "scanning target %u: %s", t,
			 err_rc == -ETIMEDOUT ? "no answer from the back end" : strerror(-err_rc));
		return err_rc;
	}
	/* Absent, failing, or not a direct-access LUN 0 (peripheral qualifier 0, type 0). */
	if (rc != 0 || buf[0] != 0x00) {
		return 0;
	}
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = OSP_SCSI_SERVICE_ACTION_IN_16;
	cdb[1] = OSP_SCSI_SAI_READ_CAPACITY_16;
	put_be32(cdb + 10, 32);
	rc = scan_cmd_good(c, t, cdb, 16, buf, 32, &err_rc);
	if (rc == 0) {
		nblocks = get_be64(buf) + 1;
		bs = get_be32(buf + 8);
	} else {
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = OSP_SCSI_READ_CAPACITY_10;
		rc = scan_cmd_good(c, t, cdb, 10, buf, 8, &err_rc);
		if (rc != 0) {
			OSP_WARNLOG("virtio-scsi '%s': target %u: READ CAPACITY failed; skipped\n",
				    c->name, t);
			return err_rc;
		}
		nblocks = (uint64_t)get_be32(buf) + 1;
		bs = get_be32(buf + 4);
	}
	if (bs < 512 || bs > SLOT_DATA_SIZE || (bs & (bs - 1)) != 0 || nblocks == 0) {
		OSP_WARNLOG("virtio-scsi '%s': target %u: block size %u / %" PRIu64 " blocks not "
			    "usable; skipped\n", c->name, t, bs, nblocks);
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return -ENOMEM;
	}
	d->ctrlr = c;
	d->target = t;
	d->bdev.blocklen = bs;
	d->bdev.blockcnt = nblocks;
	d->max_unmap = UINT32_MAX;
	/* Thin provisioning: LBPME in READ CAPACITY(16), then the limits of the Block Limits VPD. */
	if (rc == 0 && (buf[14] & 0x80) != 0) {
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = OSP_SCSI_INQUIRY;
		cdb[1] = 0x01;
		cdb[2] = 0xb0;
		put_be16(cdb + 3, 64);
		if (scan_cmd_good(c, t, cdb, 6, buf, 64, &err_rc) == 0 && buf[1] == 0xb0) {
			uint32_t max_lba = get_be32(buf + 20);
			uint32_t max_desc = get_be32(buf + 24);

			if (max_lba > 0 && max_desc > 0) {
				d->unmap = true;
				d->max_unmap = max_lba;
			}
		}
	}
	c->disks[c->ndisks++] = d;
	return 0;
}

static int
scsi_connect(void *arg, char *err, size_t errlen)
{
	struct virtio_scsi_ctrlr *c = arg;
	struct osp_vu_dev_opts vo = {
		.path = c->path,
		.wanted_features = (1ull << OSP_VIRTIO_F_VERSION_1) | (1ull << OSP_VIRTIO_F_EVENT_IDX),
		.config_size = sizeof(struct osp_virtio_scsi_config),
		.max_queues = (uint16_t)(OSP_VIRTIO_SCSI_REQUESTQ + c->vq_count),
		.queue_size = c->vq_size,
		.data_size_per_queue = (size_t)c->nslots * SLOT_STRIDE,
	};
	uint16_t ntargets;
	int rc;

	rc = osp_vu_dev_connect(&vo, &c->dev, err, errlen);
	if (rc != 0) {
		return rc;
	}
	memcpy(&c->cfg, osp_vu_dev_config(c->dev), sizeof(c->cfg));
	c->features = osp_vu_dev_features(c->dev);
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
	osp_vu_dev_limit_queues(c->dev, (uint16_t)(OSP_VIRTIO_SCSI_REQUESTQ +
				(c->cfg.num_queues < c->vq_count ? c->cfg.num_queues : c->vq_count)));
	rc = osp_vu_dev_start(c->dev, err, errlen);
	if (rc != 0) {
		return rc;
	}
	c->num_req_queues = (uint16_t)(osp_vu_dev_num_queues(c->dev) - OSP_VIRTIO_SCSI_REQUESTQ);
	ntargets = (uint16_t)(c->cfg.max_target + 1u);
	if (ntargets > BDEV_VIRTIO_MAX_BDEVS) {
		ntargets = BDEV_VIRTIO_MAX_BDEVS;
	}
	for (uint16_t t = 0; t < ntargets; t++) {
		rc = scan_target(c, (uint8_t)t, err, errlen);
		if (rc != 0) {
			return rc;
		}
	}
	if (c->ndisks == 0) {
		snprintf(err, errlen, "no target with a disk at LUN 0 (targets 0 to %u scanned)",
			 ntargets - 1);
		return -ENODEV;
	}
	return 0;
}

static int
scsi_register(void *arg, const char **names, int *n, char *err, size_t errlen)
{
	struct virtio_scsi_ctrlr *c = arg;
	int rc, i;

	for (i = 0; i < c->ndisks; i++) {
		struct virtio_scsi_disk *d = c->disks[i];

		d->bdev.name = osp_sprintf_alloc("%st%u", c->name, d->target);
		if (d->bdev.name == NULL) {
			snprintf(err, errlen, "out of memory");
			ctrlr_free_unregistered(c);
			return -ENOMEM;
		}
		if (osp_bdev_get_by_name(d->bdev.name) != NULL) {
			snprintf(err, errlen, "a bdev named '%s' already exists", d->bdev.name);
			ctrlr_free_unregistered(c);
			return -EEXIST;
		}
	}
	c->alive_poller = OSP_POLLER_REGISTER(alive_poll, c, ALIVE_POLL_US);
	if (c->alive_poller == NULL) {
		ctrlr_free_unregistered(c);
		return -ENOMEM;
	}
	osp_io_device_register(&c->io_device, channel_create, channel_destroy,
			       sizeof(struct virtio_scsi_channel), "bdev_virtio_scsi");
	TAILQ_INSERT_TAIL(&g_ctrlrs, c, link);
	for (i = 0; i < c->ndisks; i++) {
		struct virtio_scsi_disk *d = c->disks[i];

		d->bdev.product_name = "Virtio SCSI Disk";
		d->bdev.write_unit_size = 1;
		d->bdev.max_rw_size = SLOT_DATA_SIZE / d->bdev.blocklen;
		d->bdev.write_cache = true;
		d->bdev.ctxt = d;
		d->bdev.module = &g_scsi_module;
		d->bdev.fn_table = &g_scsi_fn_table;
		rc = osp_bdev_register(&d->bdev);
		if (rc != 0) {
			snprintf(err, errlen, "cannot register bdev '%s': %s", d->bdev.name,
				 strerror(-rc));
			break;
		}
		d->registered = true;
		c->nregistered++;
		names[i] = d->bdev.name;
		OSP_NOTICELOG("virtio-scsi '%s' target %u on %s: bdev %s, %" PRIu64 " blocks of %u "
			      "bytes%s\n", c->name, d->target, c->path, d->bdev.name,
			      d->bdev.blockcnt, d->bdev.blocklen, d->unmap ? ", unmap" : "");
	}
	if (i < c->ndisks) {
		/* Take down what registered; the last destruct frees the controller. */
		if (c->nregistered == 0) {
			TAILQ_REMOVE(&g_ctrlrs, c, link);
			osp_poller_unregister(&c->alive_poller);
			osp_io_device_unregister(&c->io_device, ctrlr_free);
		} else {
			ctrlr_unregister(c);
		}
		return rc;
	}
	*n = c->ndisks;
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
		for (int i = 0; t != NULL && i < c->ndisks; i++) {
			cJSON *e = cJSON_CreateObject();

			if (e == NULL) {
				break;
			}
			osp_json_add_uint64(e, "target", c->disks[i]->target);
			cJSON_AddStringToObject(e, "bdev_name", c->disks[i]->bdev.name);
			cJSON_AddItemToArray(t, e);
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

static void
scsi_module_fini(void)
{
	bdev_virtio_attach_cancel_all();
}
