/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Malloc bdev: a RAM disk.
 *
 * The data path does the copy right in submit_request (memcpy per iovec)
 * and queues the I/O on its channel's completion list; the channel's
 * poller completes everything queued in one batch. That keeps completion
 * callbacks out of the submitter's call chain (no recursion when a user
 * resubmits from its callback) and costs one list insert per I/O: no
 * allocation, no lock, no message.
 *
 * All malloc bdevs share one io_device (the module itself), so a thread has
 * a single malloc channel and a single poller however many disks it uses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_malloc.h"

struct malloc_disk {
	struct osp_bdev bdev;
	uint8_t *buf;
	uint32_t physical_block_size;
	TAILQ_ENTRY(malloc_disk) link;
};

/* Per-I/O state in bdev_io->driver_ctx. */
struct malloc_io {
	struct osp_bdev_cpl_entry cpl;	/* first: the completion list's entry */
	struct malloc_channel *ch;
};

struct malloc_channel {
	struct osp_bdev_cpl_list done;
};

static TAILQ_HEAD(, malloc_disk) g_malloc_disks = TAILQ_HEAD_INITIALIZER(g_malloc_disks);

static int bdev_malloc_init(void);
static void bdev_malloc_fini(void);
static int bdev_malloc_get_ctx_size(void);

static struct osp_bdev_module g_malloc_module = {
	.name = "malloc",
	.module_init = bdev_malloc_init,
	.module_fini = bdev_malloc_fini,
	.get_ctx_size = bdev_malloc_get_ctx_size,
	.async_fini = false,
};
OSP_BDEV_MODULE_REGISTER(malloc, &g_malloc_module)

/* ---- data path ---- */

static inline void
malloc_io_done(struct malloc_channel *ch, struct malloc_io *mio, int status)
{
	osp_bdev_cpl_list_add(&ch->done, &mio->cpl, status);
}

static void
malloc_do_read(struct malloc_disk *disk, struct osp_bdev_io *bdev_io)
{
	uint32_t bs = disk->bdev.blocklen;

	osp_iov_copy_from_buf(disk->buf + bdev_io->u.bdev.offset_blocks * bs,
			      bdev_io->u.bdev.num_blocks * bs, bdev_io->u.bdev.iovs,
			      bdev_io->u.bdev.iovcnt, 0);
}

/* A read the user gave no buffer for: the layer lent one. */
static void
malloc_read_get_buf_cb(struct osp_io_channel *unused, struct osp_bdev_io *bdev_io, bool success)
{
	struct malloc_io *mio = (struct malloc_io *)bdev_io->driver_ctx;

	if (success) {
		malloc_do_read(bdev_io->bdev->ctxt, bdev_io);
	}
	malloc_io_done(mio->ch, mio, success ? OSP_BDEV_IO_STATUS_SUCCESS : OSP_BDEV_IO_STATUS_FAILED);
}

static void
bdev_malloc_submit_request(struct osp_io_channel *_ch, struct osp_bdev_io *bdev_io)
{
	struct malloc_channel *ch = osp_io_channel_get_ctx(_ch);
	struct malloc_disk *disk = bdev_io->bdev->ctxt;
	struct malloc_io *mio = (struct malloc_io *)bdev_io->driver_ctx;
	uint32_t bs = disk->bdev.blocklen;
	uint8_t *mem = disk->buf + bdev_io->u.bdev.offset_blocks * bs;
	size_t len = bdev_io->u.bdev.num_blocks * bs;
	int status = OSP_BDEV_IO_STATUS_SUCCESS;

	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
		if (osp_unlikely(bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
			mio->ch = ch;
			osp_bdev_io_get_buf(bdev_io, malloc_read_get_buf_cb, len);
			return;
		}
		malloc_do_read(disk, bdev_io);
		break;
	case OSP_BDEV_IO_TYPE_WRITE:
		osp_iov_copy_to_buf(mem, len, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0);
		break;
	case OSP_BDEV_IO_TYPE_UNMAP:
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		/* Unmapped blocks read back as zeroes, as after write_zeroes. */
		memset(mem, 0, len);
		break;
	case OSP_BDEV_IO_TYPE_COMPARE:
		if (osp_iov_cmp_buf(bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0, mem, len,
				    NULL) != 0) {
			status = OSP_BDEV_IO_STATUS_MISCOMPARE;
		}
		break;
	case OSP_BDEV_IO_TYPE_FLUSH:
	case OSP_BDEV_IO_TYPE_RESET:
		/* Nothing is cached and nothing is ever in flight here. */
		break;
	default:
		status = OSP_BDEV_IO_STATUS_FAILED;
		break;
	}
	malloc_io_done(ch, mio, status);
}

static bool
bdev_malloc_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	switch (type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_UNMAP:
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
	case OSP_BDEV_IO_TYPE_FLUSH:
	case OSP_BDEV_IO_TYPE_RESET:
	case OSP_BDEV_IO_TYPE_COMPARE:
		return true;
	default:
		/* COMPARE_AND_WRITE is left to the layer, which owns the range locking. */
		return false;
	}
}

static struct osp_io_channel *
bdev_malloc_get_io_channel(void *ctx)
{
	return osp_get_io_channel(&g_malloc_disks);
}

static int
malloc_channel_create(void *io_device, void *ctx_buf)
{
	struct malloc_channel *ch = ctx_buf;

	return osp_bdev_cpl_list_init(&ch->done, "malloc_completion_poller");
}

static void
malloc_channel_destroy(void *io_device, void *ctx_buf)
{
	struct malloc_channel *ch = ctx_buf;

	osp_bdev_cpl_list_fini(&ch->done);
}

/* ---- bdev life cycle ---- */

static void
malloc_disk_free(struct malloc_disk *disk)
{
	if (disk == NULL) {
		return;
	}
	osp_dma_free(disk->buf);
	free(disk->bdev.name);
	free(disk);
}

static int
bdev_malloc_destruct(void *ctx)
{
	struct malloc_disk *disk = ctx;

	TAILQ_REMOVE(&g_malloc_disks, disk, link);
	malloc_disk_free(disk);
	return 0;
}

static void
bdev_malloc_dump_info_json(void *ctx, cJSON *obj)
{
	struct malloc_disk *disk = ctx;
	cJSON *m = cJSON_AddObjectToObject(obj, "malloc");

	if (m == NULL) {
		return;
	}
	osp_json_add_uint64(m, "num_blocks", disk->bdev.blockcnt);
	osp_json_add_uint64(m, "block_size", disk->bdev.blocklen);
	osp_json_add_uint64(m, "physical_block_size", disk->physical_block_size);
	osp_json_add_uint64(m, "optimal_io_boundary", disk->bdev.optimal_io_boundary);
}

static void
bdev_malloc_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct malloc_disk *disk = bdev->ctxt;
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
	osp_json_add_uint64(params, "optimal_io_boundary", bdev->optimal_io_boundary);
	osp_json_add_rpc_call(array, "bdev_malloc_create", params);
}

static const struct osp_bdev_fn_table g_malloc_fn_table = {
	.destruct = bdev_malloc_destruct,
	.submit_request = bdev_malloc_submit_request,
	.io_type_supported = bdev_malloc_io_type_supported,
	.get_io_channel = bdev_malloc_get_io_channel,
	.dump_info_json = bdev_malloc_dump_info_json,
	.write_config_json = bdev_malloc_write_config_json,
};

int
bdev_malloc_create(const struct bdev_malloc_opts *opts, struct osp_bdev **bdev)
{
	struct malloc_disk *disk;
	uint32_t pbs;
	int rc, n;

	if (opts == NULL || !osp_is_pow2_64(opts->block_size) || opts->block_size < 512 ||
	    opts->num_blocks == 0 || opts->num_blocks > SIZE_MAX / opts->block_size) {
		return -EINVAL;
	}
	pbs = opts->physical_block_size ? opts->physical_block_size : opts->block_size;
	if (!osp_is_pow2_64(pbs) || pbs < opts->block_size) {
		return -EINVAL;
	}
	if (opts->name != NULL && (opts->name[0] == '\0' || osp_bdev_get_by_name(opts->name))) {
		return opts->name[0] == '\0' ? -EINVAL : -EEXIST;
	}

	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return -ENOMEM;
	}
	if (opts->name != NULL) {
		disk->bdev.name = strdup(opts->name);
	} else {
		for (n = 0; disk->bdev.name == NULL; n++) {
			char name[32];

			snprintf(name, sizeof(name), "Malloc%d", n);
			if (osp_bdev_get_by_name(name) == NULL) {
				disk->bdev.name = strdup(name);
				if (disk->bdev.name == NULL) {
					break;
				}
			}
		}
	}
	if (disk->bdev.name == NULL) {
		malloc_disk_free(disk);
		return -ENOMEM;
	}
	/* Zeroed: a new disk reads back zeroes, like an unmapped one. */
	disk->buf = osp_dma_zmalloc(opts->num_blocks * opts->block_size, 4096, NULL);
	if (disk->buf == NULL) {
		OSP_ERRLOG("%s: cannot allocate %" PRIu64 " bytes of DMA memory\n", disk->bdev.name,
			   opts->num_blocks * opts->block_size);
		malloc_disk_free(disk);
		return -ENOMEM;
	}
	disk->physical_block_size = pbs;
	disk->bdev.product_name = "Malloc disk";
	disk->bdev.blocklen = opts->block_size;
	disk->bdev.blockcnt = opts->num_blocks;
	disk->bdev.write_cache = false;
	disk->bdev.unmap_reads_zeroes = true;	/* unmap zeroes the blocks */
	disk->bdev.write_unit_size = 1;
	disk->bdev.optimal_io_boundary = opts->optimal_io_boundary;
	disk->bdev.split_on_optimal_io_boundary = opts->optimal_io_boundary != 0;
	disk->bdev.uuid = opts->uuid;
	disk->bdev.ctxt = disk;
	disk->bdev.module = &g_malloc_module;
	disk->bdev.fn_table = &g_malloc_fn_table;

	rc = osp_bdev_register(&disk->bdev);
	if (rc != 0) {
		malloc_disk_free(disk);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_malloc_disks, disk, link);
	if (bdev != NULL) {
		*bdev = &disk->bdev;
	}
	return 0;
}

int
bdev_malloc_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	return osp_bdev_unregister_by_name(name, &g_malloc_module, cb_fn, cb_arg);
}

/* ---- module ---- */

static int
bdev_malloc_get_ctx_size(void)
{
	return sizeof(struct malloc_io);
}

static int
bdev_malloc_init(void)
{
	osp_io_device_register(&g_malloc_disks, malloc_channel_create, malloc_channel_destroy,
			       sizeof(struct malloc_channel), "bdev_malloc");
	return 0;
}

static void
bdev_malloc_fini(void)
{
	osp_io_device_unregister(&g_malloc_disks, NULL);
}
