/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user-blk controllers: one bdev behind a controller, its features and
 * config space, hot remove, and how it shows in vhost_get_controllers and
 * save_config. The request path is vhost_blk.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "osprey/bdev.h"
#include "osprey/log.h"
#include "osprey/vhost.h"

#include "vhost_internal.h"

static void
blk_bdev_event(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	struct vhost_ctrlr *ctrlr = ctx;
	struct vhost_blk_dev *b = ctrlr->be;

	(void)bdev;
	if (type == OSP_BDEV_EVENT_REMOVE && !ctrlr->deleting) {
		OSP_NOTICELOG("vhost %s: bdev %s removed: deleting the controller\n", ctrlr->name,
			      b->bdev_name);
		osp_vhost_ctrlr_delete(ctrlr->name, NULL, NULL);
	}
}

static void
blk_destroy(struct vhost_ctrlr *ctrlr)
{
	struct vhost_blk_dev *b = ctrlr->be;

	if (b == NULL) {
		return;
	}
	if (b->desc != NULL) {
		osp_bdev_close(b->desc);
	}
	free(b);
	ctrlr->be = NULL;
}

static void
blk_info_json(struct vhost_ctrlr *ctrlr, cJSON *backend_specific)
{
	struct vhost_blk_dev *b = ctrlr->be;
	cJSON *o = cJSON_AddObjectToObject(backend_specific, "block");

	cJSON_AddBoolToObject(o, "readonly", b->readonly);
	cJSON_AddStringToObject(o, "bdev", b->bdev_name);
}

static void
blk_write_config_json(struct vhost_ctrlr *ctrlr, cJSON *config)
{
	struct vhost_blk_dev *b = ctrlr->be;
	cJSON *o = cJSON_CreateObject();
	cJSON *p = cJSON_AddObjectToObject(o, "params");

	cJSON_AddStringToObject(o, "method", "vhost_create_blk_controller");
	cJSON_AddStringToObject(p, "ctrlr", ctrlr->name);
	cJSON_AddStringToObject(p, "dev_name", b->bdev_name);
	cJSON_AddBoolToObject(p, "readonly", b->readonly);
	if (ctrlr->has_cpumask) {
		char mask[300];

		snprintf(mask, sizeof(mask), "0x%s", osp_cpuset_fmt(&ctrlr->cpumask));
		cJSON_AddStringToObject(p, "cpumask", mask);
	}
	cJSON_AddItemToArray(config, o);
}

/* Each poll group submits on a channel of its own thread. */
static int
blk_pg_start(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg)
{
	struct vhost_blk_dev *b = ctrlr->be;

	pg->be_ch = osp_bdev_get_io_channel(b->desc);
	if (pg->be_ch == NULL) {
		OSP_ERRLOG("vhost %s: cannot get an I/O channel on bdev %s\n", ctrlr->name,
			   b->bdev_name);
		return -ENOMEM;
	}
	return 0;
}

static void
blk_pg_stop(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg)
{
	(void)ctrlr;
	if (pg->be_ch != NULL) {
		osp_put_io_channel(pg->be_ch);
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
			   const char *cpumask, char *err, size_t errlen)
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
	OSP_NOTICELOG("vhost %s: blk controller on bdev %s at %s%s\n", name, bdev_name, ctrlr->path,
		      readonly ? " (read-only)" : "");
	return 0;
}
