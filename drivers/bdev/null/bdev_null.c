/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Null bdev: every I/O succeeds without moving data.
 *
 * This is the yardstick of the I/O path (bdevperf on null measures the
 * layer, not a device), so submit_request does as little as possible: one
 * insert on the channel's completion list. The channel's poller completes
 * the whole list in one go. All null bdevs share one io_device, so a
 * thread has one null channel and one poller.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_null.h"

/* Reads without a buffer up to this size get the shared zero buffer. */
#define NULL_ZERO_BUF_SIZE	OSP_BDEV_LARGE_BUF_MAX_SIZE

struct null_disk {
	struct osp_bdev bdev;
	uint32_t physical_block_size;
	TAILQ_ENTRY(null_disk) link;
};

struct null_io {
	struct osp_bdev_cpl_entry cpl;	/* first: the completion list's entry */
	struct null_channel *ch;
};

struct null_channel {
	struct osp_bdev_cpl_list done;
};

static TAILQ_HEAD(, null_disk) g_null_disks = TAILQ_HEAD_INITIALIZER(g_null_disks);
/* Read-only by convention: what a read without a buffer returns. */
static void *g_null_zero_buf;

static int bdev_null_init(void);
static void bdev_null_fini(void);
static int bdev_null_get_ctx_size(void);

static struct osp_bdev_module g_null_module = {
	.name = "null",
	.module_init = bdev_null_init,
	.module_fini = bdev_null_fini,
	.get_ctx_size = bdev_null_get_ctx_size,
};
OSP_BDEV_MODULE_REGISTER(null, &g_null_module)

/* ---- data path ---- */

static void
null_read_get_buf_cb(struct osp_io_channel *unused, struct osp_bdev_io *bdev_io, bool success)
{
	struct null_io *nio = (struct null_io *)bdev_io->driver_ctx;

	osp_bdev_cpl_list_add(&nio->ch->done, &nio->cpl, success ? OSP_BDEV_IO_STATUS_SUCCESS :
			      OSP_BDEV_IO_STATUS_FAILED);
}

static void
bdev_null_submit_request(struct osp_io_channel *_ch, struct osp_bdev_io *bdev_io)
{
	struct null_channel *ch = osp_io_channel_get_ctx(_ch);
	struct null_io *nio = (struct null_io *)bdev_io->driver_ctx;

	if (osp_unlikely(bdev_io->type == OSP_BDEV_IO_TYPE_READ &&
			 bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
		uint64_t len = bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen;

		if (len > NULL_ZERO_BUF_SIZE || g_null_zero_buf == NULL) {
			nio->ch = ch;
			osp_bdev_io_get_buf(bdev_io, null_read_get_buf_cb, len);
			return;
		}
		/*
		 * Lend the shared zero buffer rather than taking one from the pool,
		 * where osp_bdev_io_get_buf() would put its buffer (iovs[0]). The
		 * layer does not own it, so it does not release it either.
		 */
		bdev_io->u.bdev.iovs[0].iov_base = g_null_zero_buf;
		bdev_io->u.bdev.iovs[0].iov_len = len;
	}
	osp_bdev_cpl_list_add(&ch->done, &nio->cpl, OSP_BDEV_IO_STATUS_SUCCESS);
}

static bool
bdev_null_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	switch (type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_UNMAP:
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
	case OSP_BDEV_IO_TYPE_FLUSH:
	case OSP_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static struct osp_io_channel *
bdev_null_get_io_channel(void *ctx)
{
	return osp_get_io_channel(&g_null_disks);
}

static int
null_channel_create(void *io_device, void *ctx_buf)
{
	struct null_channel *ch = ctx_buf;

	return osp_bdev_cpl_list_init(&ch->done, "null_completion_poller");
}

static void
null_channel_destroy(void *io_device, void *ctx_buf)
{
	struct null_channel *ch = ctx_buf;

	osp_bdev_cpl_list_fini(&ch->done);
}

/* ---- life cycle ---- */

static void
null_disk_free(struct null_disk *disk)
{
	if (disk != NULL) {
		free(disk->bdev.name);
		free(disk);
	}
}

static int
bdev_null_destruct(void *ctx)
{
	struct null_disk *disk = ctx;

	TAILQ_REMOVE(&g_null_disks, disk, link);
	null_disk_free(disk);
	return 0;
}

static void
bdev_null_dump_info_json(void *ctx, cJSON *obj)
{
	struct null_disk *disk = ctx;
	cJSON *n = cJSON_AddObjectToObject(obj, "null");

	if (n != NULL) {
		osp_json_add_uint64(n, "num_blocks", disk->bdev.blockcnt);
		osp_json_add_uint64(n, "block_size", disk->bdev.blocklen);
		osp_json_add_uint64(n, "physical_block_size", disk->physical_block_size);
	}
}

static void
bdev_null_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct null_disk *disk = bdev->ctxt;
	char uuid[OSP_UUID_STRING_LEN];
	cJSON *params = cJSON_CreateObject();

	if (params == NULL) {
		return;
	}
	osp_uuid_fmt_lower(uuid, sizeof(uuid), &bdev->uuid);
	cJSON_AddStringToObject(params, "name", bdev->name);
	osp_json_add_uint64(params, "num_blocks", bdev->blockcnt);
	osp_json_add_uint64(params, "block_size", bdev->blocklen);
	osp_json_add_uint64(params, "physical_block_size", disk->physical_block_size);
	cJSON_AddStringToObject(params, "uuid", uuid);
	osp_json_add_rpc_call(array, "bdev_null_create", params);
}

static const struct osp_bdev_fn_table g_null_fn_table = {
	.destruct = bdev_null_destruct,
	.submit_request = bdev_null_submit_request,
	.io_type_supported = bdev_null_io_type_supported,
	.get_io_channel = bdev_null_get_io_channel,
	.dump_info_json = bdev_null_dump_info_json,
	.write_config_json = bdev_null_write_config_json,
};

int
bdev_null_create(const struct bdev_null_opts *opts, struct osp_bdev **bdev)
{
	struct null_disk *disk;
	uint32_t pbs;
	int rc;

	if (opts == NULL || opts->name == NULL || opts->name[0] == '\0' ||
	    !osp_is_pow2_64(opts->block_size) || opts->block_size < 512 ||
	    opts->num_blocks == 0 || opts->num_blocks > UINT64_MAX / opts->block_size) {
		return -EINVAL;
	}
	pbs = opts->physical_block_size ? opts->physical_block_size : opts->block_size;
	if (!osp_is_pow2_64(pbs) || pbs < opts->block_size) {
		return -EINVAL;
	}
	if (osp_bdev_get_by_name(opts->name) != NULL) {
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return -ENOMEM;
	}
	disk->bdev.name = strdup(opts->name);
	if (disk->bdev.name == NULL) {
		null_disk_free(disk);
		return -ENOMEM;
	}
	disk->physical_block_size = pbs;
	disk->bdev.product_name = "Null disk";
	disk->bdev.blocklen = opts->block_size;
	disk->bdev.blockcnt = opts->num_blocks;
	disk->bdev.unmap_reads_zeroes = true;	/* every read returns zeroes */
	disk->bdev.write_unit_size = 1;
	disk->bdev.uuid = opts->uuid;
	disk->bdev.ctxt = disk;
	disk->bdev.module = &g_null_module;
	disk->bdev.fn_table = &g_null_fn_table;
	rc = osp_bdev_register(&disk->bdev);
	if (rc != 0) {
		null_disk_free(disk);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_null_disks, disk, link);
	if (bdev != NULL) {
		*bdev = &disk->bdev;
	}
	return 0;
}

int
bdev_null_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	return osp_bdev_unregister_by_name(name, &g_null_module, cb_fn, cb_arg);
}

int
bdev_null_resize(const char *name, uint64_t new_size_mb)
{
	struct null_disk *disk;
	uint64_t blocks;

	TAILQ_FOREACH(disk, &g_null_disks, link) {
		if (strcmp(disk->bdev.name, name) == 0) {
			break;
		}
	}
	if (disk == NULL) {
		return -ENODEV;
	}
	if (new_size_mb == 0 || new_size_mb > (UINT64_MAX >> 20)) {
		return -EINVAL;
	}
	blocks = (new_size_mb << 20) / disk->bdev.blocklen;
	if (blocks == 0) {
		return -EINVAL;
	}
	return osp_bdev_notify_blockcnt_change(&disk->bdev, blocks);
}

/* ---- module ---- */

static int
bdev_null_get_ctx_size(void)
{
	return sizeof(struct null_io);
}

static int
bdev_null_init(void)
{
	g_null_zero_buf = osp_dma_zmalloc(NULL_ZERO_BUF_SIZE, 4096, NULL);
	if (g_null_zero_buf == NULL) {
		/* Not fatal: reads without a buffer then borrow one from the layer. */
		OSP_WARNLOG("no memory for the null bdev's zero buffer\n");
	}
	osp_io_device_register(&g_null_disks, null_channel_create, null_channel_destroy,
			       sizeof(struct null_channel), "bdev_null");
	return 0;
}

static void
bdev_null_fini(void)
{
	osp_io_device_unregister(&g_null_disks, NULL);
	osp_dma_free(g_null_zero_buf);
	g_null_zero_buf = NULL;
}
