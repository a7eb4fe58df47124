/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user-blk controllers: one bdev behind a controller, its features and
 * config space, hot remove, and how it shows in vhost_get_controllers and
 * save_config. The request path is vhost_blk.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "osprey/bdev.h"
#include "osprey/log.h"
#include "osprey/vhost.h"

#include "vhost_internal.h"

/* App thread: a poll group has let go of the bdev; the last one closes it. */
static void
blk_remove_ack(void *arg)
{
	struct vhost_blk_dev *b = arg;

	if (--b->remove_acks > 0) {
		return;
	}
	if (b->desc != NULL) {
		osp_bdev_close(b->desc);
		b->desc = NULL;
		OSP_NOTICELOG("vhost: bdev %s closed (hot removed)\n", b->bdev_name);
	}
	b->bdev = NULL;
	if (b->destroyed) {
		free(b);
	}
}

static void
blk_pg_ack(struct vhost_ctrlr *ctrlr)
{
	if (osp_thread_send_msg(ctrlr->thread, blk_remove_ack, ctrlr->be) != 0) {
		OSP_ERRLOG("vhost %s: cannot acknowledge the bdev removal\n", ctrlr->name);
	}
}

void
vhost_blk_pg_release(struct vhost_pg *pg)
{
	struct vhost_blk_pg *bp = pg->be_ch;

	if (bp->ch != NULL) {
		osp_put_io_channel(bp->ch);
		bp->ch = NULL;
	}
	if (bp->release && !bp->acked) {
		bp->acked = true;
		blk_pg_ack(pg->ctrlr);
	}
}

/* A poll group's thread: let go of the bdev now or when its last bdev I/O is back. */
static void
blk_pg_remove_msg(void *arg)
{
	struct vhost_pg *pg = arg;
	struct vhost_blk_pg *bp = pg->be_ch;

	if (bp == NULL) {
		blk_pg_ack(pg->ctrlr);	/* not running: no channel */
		return;
	}
	bp->release = true;
	if (bp->ios == 0) {
		vhost_blk_pg_release(pg);
	}
}

/*
 * Hot remove: the controller stays (the guest keeps its disk and gets
 * VIRTIO_BLK_S_IOERR for every new request); bdev I/O in flight completes
 * through the bdev layer, then each poll group puts its channel and the
 * descriptor is closed. A device that is not running holds no channel.
 */
static void
blk_bdev_removed(struct vhost_ctrlr *ctrlr)
{
	struct vhost_blk_dev *b = ctrlr->be;

	if (b->removed) {
		return;
	}
	__atomic_store_n(&b->removed, true, __ATOMIC_RELEASE);
	OSP_NOTICELOG("vhost %s: bdev %s removed: new requests fail\n", ctrlr->name, b->bdev_name);
	/* One acknowledgement of our own, so that the last one comes after every message went out. */
	b->remove_acks = 1;
	if (ctrlr->started || ctrlr->stopping || ctrlr->start_msg != NULL) {
		for (uint16_t i = 0; i < ctrlr->npgs; i++) {
			if (osp_thread_send_msg(ctrlr->pgs[i].thread, blk_pg_remove_msg,
						&ctrlr->pgs[i]) == 0) {
				b->remove_acks++;
			}
		}
	}
	blk_remove_ack(b);
}

/* Resize: the new capacity goes into the config space and the driver is told. */
static void
blk_bdev_resized(struct vhost_ctrlr *ctrlr, struct osp_bdev *bdev)
{
	struct vhost_blk_dev *b = ctrlr->be;
	uint64_t blocks = osp_bdev_get_num_blocks(bdev);
	uint64_t sectors = blocks * (b->block_size / 512);
	uint8_t le[8];

	if (b->removed || blocks == b->num_blocks) {
		return;
	}
	OSP_NOTICELOG("vhost %s: bdev %s resized from %" PRIu64 " to %" PRIu64 " blocks\n",
		      ctrlr->name, b->bdev_name, b->num_blocks, blocks);
	/* The poll groups check requests against the new size from now on. */
	__atomic_store_n(&b->num_blocks, blocks, __ATOMIC_RELAXED);
	for (int i = 0; i < 8; i++) {
		le[i] = (uint8_t)(sectors >> (8 * i));
	}
	/* virtio_blk_config.capacity (virtio 1.x 5.2.4), in 512-byte sectors. */
	vhost_ctrlr_config_update(ctrlr, 0, le, sizeof(le));
}

/*
 * On the thread that opened the bdev, which is the controller's thread (both
 * are the app thread vhost_create_blk_controller ran on).
 */
static void
blk_bdev_event(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	struct vhost_ctrlr *ctrlr = ctx;

	switch (type) {
	case OSP_BDEV_EVENT_REMOVE:
		blk_bdev_removed(ctrlr);
		break;
	case OSP_BDEV_EVENT_RESIZE:
		blk_bdev_resized(ctrlr, bdev);
		break;
	}
}

static void
blk_destroy(struct vhost_ctrlr *ctrlr)
{
	struct vhost_blk_dev *b = ctrlr->be;

	if (b == NULL) {
		return;
	}
	ctrlr->be = NULL;
	if (b->remove_acks > 0) {
		b->destroyed = true;	/* a removal is being acknowledged: the last ack frees it */
		return;
	}
	if (b->desc != NULL) {
		osp_bdev_close(b->desc);
	}
	free(b);
}

static void
blk_info_json(struct vhost_ctrlr *ctrlr, cJSON *backend_specific)
{
	struct vhost_blk_dev *b = ctrlr->be;
	cJSON *o = cJSON_AddObjectToObject(backend_specific, "block");

	cJSON_AddBoolToObject(o, "readonly", b->readonly);
	/* SPDK's form: the bdev is null once it is gone; ours: which one it was. */
	if (b->removed) {
		cJSON_AddNullToObject(o, "bdev");
		cJSON_AddStringToObject(o, "removed_bdev", b->bdev_name);
	} else {
		cJSON_AddStringToObject(o, "bdev", b->bdev_name);
	}
	cJSON_AddBoolToObject(o, "packed_ring", ctrlr->packed_ring);
}

static void
blk_write_config_json(struct vhost_ctrlr *ctrlr, cJSON *config)
{
	struct vhost_blk_dev *b = ctrlr->be;
	cJSON *o, *p;

	if (b->removed) {
		return;	/* no bdev to create it on */
	}
	o = cJSON_CreateObject();
	p = cJSON_AddObjectToObject(o, "params");
	cJSON_AddStringToObject(o, "method", "vhost_create_blk_controller");
	cJSON_AddStringToObject(p, "ctrlr", ctrlr->name);
	cJSON_AddStringToObject(p, "dev_name", b->bdev_name);
	cJSON_AddBoolToObject(p, "readonly", b->readonly);
	if (ctrlr->has_cpumask) {
		char mask[300];

		snprintf(mask, sizeof(mask), "0x%s", osp_cpuset_fmt(&ctrlr->cpumask));
		cJSON_AddStringToObject(p, "cpumask", mask);
	}
	if (ctrlr->packed_ring) {
		cJSON_AddBoolToObject(p, "packed_ring", true);
	}
	cJSON_AddItemToArray(config, o);
}

/* Each poll group submits on a channel of its own thread (none once the bdev is removed). */
static int
blk_pg_start(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg)
{
	struct vhost_blk_dev *b = ctrlr->be;
	struct vhost_blk_pg *bp = calloc(1, sizeof(*bp));

	if (bp == NULL) {
		return -ENOMEM;
	}
	if (!__atomic_load_n(&b->removed, __ATOMIC_ACQUIRE)) {
		bp->ch = osp_bdev_get_io_channel(b->desc);
		if (bp->ch == NULL) {
			OSP_ERRLOG("vhost %s: cannot get an I/O channel on bdev %s\n", ctrlr->name,
				   b->bdev_name);
			free(bp);
			return -ENOMEM;
		}
	}
	pg->be_ch = bp;
	return 0;
}

/* No task in flight: the channel goes (and a pending removal is acknowledged). */
static void
blk_pg_stop(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg)
{
	(void)ctrlr;
	if (pg->be_ch != NULL) {
		vhost_blk_pg_release(pg);
		free(pg->be_ch);
		pg->be_ch = NULL;
	}
}

const struct vhost_backend_ops g_vhost_blk_ops = {
	.type = "blk",
	.task_size = sizeof(struct vhost_blk_task),
	.task_start = vhost_blk_task_start,
	.info_json = blk_info_json,
	.write_config_json = blk_write_config_json,
	.destroy = blk_destroy,
	.pg_start = blk_pg_start,
	.pg_stop = blk_pg_stop,
};

int
osp_vhost_blk_ctrlr_create(const char *name, const char *bdev_name, bool readonly,
			   const char *cpumask, bool packed_ring, char *err, size_t errlen)
{
	struct vhost_ctrlr *ctrlr;
	struct vhost_blk_dev *b;
	uint64_t features;
	bool discard, wz;
	int rc;

	ctrlr = vhost_ctrlr_new(name, &g_vhost_blk_ops, &rc, err, errlen);
	if (ctrlr == NULL) {
		return rc;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, errlen, "Out of memory");
		vhost_ctrlr_free(ctrlr);
		return -ENOMEM;
	}
	ctrlr->be = b;
	ctrlr->packed_ring = packed_ring;
	if (strlen(bdev_name) >= sizeof(b->bdev_name)) {
		snprintf(err, errlen, "No bdev named '%s'", bdev_name);
		vhost_ctrlr_free(ctrlr);
		return -ENODEV;
	}
	snprintf(b->bdev_name, sizeof(b->bdev_name), "%s", bdev_name);
	b->readonly = readonly;
	rc = osp_bdev_open_ext(bdev_name, !readonly, blk_bdev_event, ctrlr, &b->desc);
	if (rc != 0) {
		if (rc == -ENODEV) {
			snprintf(err, errlen, "No bdev named '%s' (see bdev_get_bdevs)", bdev_name);
		} else {
			snprintf(err, errlen, "Cannot open bdev '%s': %s", bdev_name, strerror(-rc));
		}
		b->desc = NULL;
		vhost_ctrlr_free(ctrlr);
		return rc;
	}
	b->bdev = osp_bdev_desc_get_bdev(b->desc);
	b->block_size = osp_bdev_get_block_size(b->bdev);
	b->num_blocks = osp_bdev_get_num_blocks(b->bdev);
	if (b->block_size < 512 || b->block_size % 512 != 0) {
		snprintf(err, errlen, "bdev '%s' has block size %u: not a multiple of 512", bdev_name,
			 b->block_size);
		vhost_ctrlr_free(ctrlr);
		return -EINVAL;
	}
	if (cpumask != NULL) {
		rc = vhost_ctrlr_set_cpumask(ctrlr, cpumask, err, errlen);
		if (rc != 0) {
			vhost_ctrlr_free(ctrlr);
			return rc;
		}
	}
	discard = !readonly && osp_bdev_io_type_supported(b->bdev, OSP_BDEV_IO_TYPE_UNMAP);
	wz = !readonly && osp_bdev_io_type_supported(b->bdev, OSP_BDEV_IO_TYPE_WRITE_ZEROES);
	features = (1ull << VBLK_F_BLK_SIZE) | (1ull << VBLK_F_SEG_MAX) | (1ull << VBLK_F_SIZE_MAX) |
		   (1ull << VBLK_F_FLUSH) | (1ull << VBLK_F_MQ);
	if (readonly) {
		features |= 1ull << VBLK_F_RO;
	}
	if (discard) {
		features |= 1ull << VBLK_F_DISCARD;
	}
	if (wz) {
		features |= 1ull << VBLK_F_WRITE_ZEROES;
	}
	vhost_blk_fill_config(ctrlr, b->bdev, discard, wz);
	rc = vhost_ctrlr_register(ctrlr, features, err, errlen);
	if (rc != 0) {
		return rc;
	}
	OSP_NOTICELOG("vhost %s: blk controller on bdev %s at %s%s%s\n", name, bdev_name,
		      ctrlr->path, readonly ? " (read-only)" : "", packed_ring ? " (packed rings offered)" : "");
	return 0;
}
