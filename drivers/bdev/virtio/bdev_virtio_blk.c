/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk over vhost-user: one controller = one vhost-user connection =
 * one bdev. Each bdev channel (thread) owns one virtqueue, so the I/O path
 * takes no lock; a channel beyond the queue count cannot be created.
 *
 * Data is bounced through the controller's shared (memfd) region: every
 * queue has a fixed set of slots (request header, status byte, a discard
 * segment and a data buffer) handed out from a per-channel free stack, so
 * an I/O never allocates. Zero copy needs the env heap to be shareable; see
 * doc/bdev_virtio.md.
 *
 * A back end that goes away (its socket closes) or breaks its used ring
 * fails every outstanding I/O and the bdev is unregistered; nothing waits
 * on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev_module.h"
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"
#include "osprey/virtio_user.h"

#include "bdev_virtio.h"

/* Slot layout: header at 0, status at 16, discard/write-zeroes segment at 32, data at 4096. */
#define SLOT_HDR_OFF		0
#define SLOT_STATUS_OFF		16
#define SLOT_SEG_OFF		32
#define SLOT_DATA_OFF		4096
#define SLOT_DATA_SIZE		(128 * 1024)
#define SLOT_STRIDE		(SLOT_DATA_OFF + SLOT_DATA_SIZE)
#define MAX_SLOTS_PER_QUEUE	128
#define ALIVE_POLL_US		100000
#define REAP_BATCH		32

struct virtio_blk_ctrlr {
	struct osp_bdev bdev;
	char *path;
	struct osp_vu_dev *dev;
	struct osp_virtio_blk_config cfg;
	uint64_t features;
	uint16_t vq_count;	/* asked for (saved in the config) */
	uint16_t vq_size;
	uint16_t num_queues;	/* set up */
	uint16_t nslots;
	uint32_t max_data;	/* bytes per read/write request */
	uint64_t queues_used;	/* bit per queue owned by a channel (atomic) */
	bool dead;		/* atomic: the back end is gone or broken */
	bool unregistering;
	/* The io_device (the bdev layer uses the bdev's own address for its channels). */
	uint8_t io_device;
	struct osp_poller *alive_poller;
	TAILQ_ENTRY(virtio_blk_ctrlr) link;
};

struct virtio_blk_channel {
	struct bdev_virtio_channel base;
	struct virtio_blk_ctrlr *ctrlr;
};

struct virtio_blk_io {
	uint16_t slot;
	/* DISCARD / WRITE_ZEROES larger than one request allows go in parts. */
	uint64_t next_sector;
	uint64_t left_sectors;
};

static TAILQ_HEAD(, virtio_blk_ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);

static int bdev_virtio_init(void);
static void bdev_virtio_fini(void);
static int bdev_virtio_get_ctx_size(void);

static struct osp_bdev_module g_virtio_module = {
	.name = "virtio_blk",
	.module_init = bdev_virtio_init,
	.module_fini = bdev_virtio_fini,
	.get_ctx_size = bdev_virtio_get_ctx_size,
};
OSP_BDEV_MODULE_REGISTER(virtio_blk, &g_virtio_module)

static struct virtio_blk_ctrlr *
ctrlr_of_io_device(void *io_device)
{
	return (struct virtio_blk_ctrlr *)((uint8_t *)io_device - offsetof(struct virtio_blk_ctrlr, io_device));
}

static bool
has_feature(const struct virtio_blk_ctrlr *c, int bit)
{
	return (c->features & (1ull << bit)) != 0;
}

static bool
ctrlr_dead(const struct virtio_blk_ctrlr *c)
{
	return __atomic_load_n(&c->dead, __ATOMIC_RELAXED);
}

static void
ctrlr_set_dead(struct virtio_blk_ctrlr *c)
{
	__atomic_store_n(&c->dead, true, __ATOMIC_RELAXED);
}

/* ---- data path ---- */

/* Post the request for bdev_io in its slot. 0, -EAGAIN (no descriptors), -EINVAL. */
static int
post_request(void *arg, struct osp_bdev_io *bdev_io)
{
	struct virtio_blk_channel *ch = arg;
	struct virtio_blk_ctrlr *c = ch->ctrlr;
	struct virtio_blk_io *vio = (struct virtio_blk_io *)bdev_io->driver_ctx;
	uint8_t *base = bdev_virtio_slot(&ch->base, vio->slot);
	struct osp_virtio_blk_outhdr *hdr = (void *)(base + SLOT_HDR_OFF);
	uint64_t addrs[3];
	uint32_t lens[3];
	bool wr[3];
	uint16_t n = 0;
	uint64_t bytes = bdev_io->u.bdev.num_blocks * c->bdev.blocklen;

	hdr->reserved = 0;
	hdr->sector = bdev_io->u.bdev.offset_blocks * (c->bdev.blocklen / OSP_VIRTIO_BLK_SECTOR_SIZE);
	addrs[n] = (uintptr_t)hdr;
	lens[n] = sizeof(*hdr);
	wr[n++] = false;
	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
		hdr->type = bdev_io->type == OSP_BDEV_IO_TYPE_READ ? OSP_VIRTIO_BLK_T_IN :
			    OSP_VIRTIO_BLK_T_OUT;
		if (bytes > c->max_data) {
			return -EINVAL;
		}
		if (bdev_io->type == OSP_BDEV_IO_TYPE_WRITE) {
			osp_iov_copy_to_buf(base + SLOT_DATA_OFF, bytes, bdev_io->u.bdev.iovs,
					    bdev_io->u.bdev.iovcnt, 0);
		}
		addrs[n] = (uintptr_t)(base + SLOT_DATA_OFF);
		lens[n] = (uint32_t)bytes;
		wr[n++] = bdev_io->type == OSP_BDEV_IO_TYPE_READ;
		break;
	case OSP_BDEV_IO_TYPE_FLUSH:
		hdr->type = OSP_VIRTIO_BLK_T_FLUSH;
		hdr->sector = 0;
		break;
	case OSP_BDEV_IO_TYPE_UNMAP:
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES: {
		struct osp_virtio_blk_discard_wz *seg = (void *)(base + SLOT_SEG_OFF);
		bool unmap = bdev_io->type == OSP_BDEV_IO_TYPE_UNMAP;
		uint32_t max = unmap ? c->cfg.max_discard_sectors : c->cfg.max_write_zeroes_sectors;
		uint64_t part = vio->left_sectors < max ? vio->left_sectors : max;

		hdr->type = unmap ? OSP_VIRTIO_BLK_T_DISCARD : OSP_VIRTIO_BLK_T_WRITE_ZEROES;
		hdr->sector = 0;
		seg->sector = vio->next_sector;
		seg->num_sectors = (uint32_t)part;
		seg->flags = 0;
		vio->next_sector += part;
		vio->left_sectors -= part;
		addrs[n] = (uintptr_t)seg;
		lens[n] = sizeof(*seg);
		wr[n++] = false;
		break;
	}
	default:
		return -EINVAL;
	}
	base[SLOT_STATUS_OFF] = 0xff;
	addrs[n] = (uintptr_t)(base + SLOT_STATUS_OFF);
	lens[n] = 1;
	wr[n++] = true;
	return bdev_virtio_channel_post(&ch->base, c->dev, n, addrs, lens, wr, vio->slot, bdev_io);
}

static void
submit(void *arg, struct osp_bdev_io *bdev_io)
{
	struct virtio_blk_channel *ch = arg;
	struct virtio_blk_ctrlr *c = ch->ctrlr;
	struct virtio_blk_io *vio = (struct virtio_blk_io *)bdev_io->driver_ctx;

	if (bdev_io->type == OSP_BDEV_IO_TYPE_UNMAP ||
	    bdev_io->type == OSP_BDEV_IO_TYPE_WRITE_ZEROES) {
		uint64_t spb = c->bdev.blocklen / OSP_VIRTIO_BLK_SECTOR_SIZE;

		vio->next_sector = bdev_io->u.bdev.offset_blocks * spb;
		vio->left_sectors = bdev_io->u.bdev.num_blocks * spb;
	}
	bdev_virtio_submit(&ch->base, ctrlr_dead(c), bdev_io, &vio->slot, post_request, ch);
}

static int
channel_poll(void *arg)
{
	struct virtio_blk_channel *ch = arg;
	struct virtio_blk_ctrlr *c = ch->ctrlr;
	void *cookies[REAP_BATCH];
	int n, i;

	if (ch->base.failed || osp_virtq_in_flight(ch->base.vq) == 0) {
		return OSP_POLLER_IDLE;
	}
	n = bdev_virtio_channel_reap(&ch->base, &c->dead, "virtio-blk", c->bdev.name, cookies,
				     REAP_BATCH);
	for (i = 0; i < n; i++) {
		struct osp_bdev_io *bdev_io = cookies[i];
		struct virtio_blk_io *vio = (struct virtio_blk_io *)bdev_io->driver_ctx;
		uint8_t *base = bdev_virtio_slot(&ch->base, vio->slot);
		uint8_t status = base[SLOT_STATUS_OFF];

		if (status == OSP_VIRTIO_BLK_S_OK && vio->left_sectors > 0 &&
		    (bdev_io->type == OSP_BDEV_IO_TYPE_UNMAP ||
		     bdev_io->type == OSP_BDEV_IO_TYPE_WRITE_ZEROES)) {
			/* Next part in the same slot. */
			if (post_request(ch, bdev_io) == 0) {
				continue;
			}
			status = OSP_VIRTIO_BLK_S_IOERR;
		}
		if (status == OSP_VIRTIO_BLK_S_OK && bdev_io->type == OSP_BDEV_IO_TYPE_READ) {
			osp_iov_copy_from_buf(base + SLOT_DATA_OFF,
					      bdev_io->u.bdev.num_blocks * c->bdev.blocklen,
					      bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0);
		}
		bdev_virtio_channel_done(&ch->base, vio->slot, bdev_io, status == OSP_VIRTIO_BLK_S_OK);
	}
	/* I/O in flight: keep polling (the device does not interrupt us). */
	return OSP_POLLER_BUSY;
}

static bool
bdev_virtio_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct virtio_blk_ctrlr *c = ctx;
	bool ro = has_feature(c, OSP_VIRTIO_BLK_F_RO);

	switch (type) {
	case OSP_BDEV_IO_TYPE_READ:
		return true;
	case OSP_BDEV_IO_TYPE_WRITE:
		return !ro;
	case OSP_BDEV_IO_TYPE_FLUSH:
		return !ro && has_feature(c, OSP_VIRTIO_BLK_F_FLUSH);
	case OSP_BDEV_IO_TYPE_UNMAP:
		return !ro && has_feature(c, OSP_VIRTIO_BLK_F_DISCARD);
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		return !ro && has_feature(c, OSP_VIRTIO_BLK_F_WRITE_ZEROES);
	default:
		return false;
	}
}

static struct osp_io_channel *
bdev_virtio_get_io_channel(void *ctx)
{
	struct virtio_blk_ctrlr *c = ctx;

	return osp_get_io_channel(&c->io_device);
}

static int
channel_create(void *io_device, void *ctx_buf)
{
	struct virtio_blk_ctrlr *c = ctrlr_of_io_device(io_device);
	struct virtio_blk_channel *ch = ctx_buf;
	int rc;

	/* Channels are created on their own threads: the claim of a queue is atomic. */
	ch->ctrlr = c;
	ch->base.submit = submit;
	rc = bdev_virtio_channel_open(&ch->base, c->dev, &c->queues_used, 0, c->num_queues,
				      c->nslots, SLOT_STRIDE, channel_poll, ch);
	if (rc == -EBUSY) {
		OSP_ERRLOG("virtio-blk '%s': every one of its %u queues has a channel already "
			   "(attach with a larger vq_count)\n", c->bdev.name, c->num_queues);
	}
	return rc;
}

static void
channel_destroy(void *io_device, void *ctx_buf)
{
	struct virtio_blk_ctrlr *c = ctrlr_of_io_device(io_device);
	struct virtio_blk_channel *ch = ctx_buf;

	bdev_virtio_channel_close(&ch->base, &c->queues_used);
}

/* ---- life cycle ---- */

static void
ctrlr_free(void *io_device)
{
	struct virtio_blk_ctrlr *c = ctrlr_of_io_device(io_device);

	osp_vu_dev_close(c->dev);
	free(c->path);
	free(c->bdev.name);
	free(c);
}

static int
bdev_virtio_destruct(void *ctx)
{
	struct virtio_blk_ctrlr *c = ctx;

	TAILQ_REMOVE(&g_ctrlrs, c, link);
	osp_poller_unregister(&c->alive_poller);
	osp_io_device_unregister(&c->io_device, ctrlr_free);
	return 0;
}

static void
unregister_done(void *arg, int rc)
{
	if (rc != 0) {
		OSP_ERRLOG("virtio-blk: unregistering a failed controller: %s\n", strerror(-rc));
	}
}

/* App thread: notice a back end that went away and take the bdev down. */
static int
alive_poll(void *arg)
{
	struct virtio_blk_ctrlr *c = arg;

	if (c->unregistering) {
		return OSP_POLLER_IDLE;
	}
	if (!ctrlr_dead(c) && osp_vu_dev_check_alive(c->dev)) {
		return OSP_POLLER_IDLE;
	}
	ctrlr_set_dead(c);
	OSP_ERRLOG("virtio-blk '%s': the vhost-user back end at %s is gone; failing its I/O "
		   "and removing the bdev\n", c->bdev.name, c->path);
	c->unregistering = true;
	if (osp_bdev_unregister(&c->bdev, unregister_done, NULL) != 0) {
		c->unregistering = false;
	}
	return OSP_POLLER_BUSY;
}

static void
bdev_virtio_dump_info_json(void *ctx, cJSON *obj)
{
	struct virtio_blk_ctrlr *c = ctx;
	cJSON *n = cJSON_AddObjectToObject(obj, "virtio");

	if (n != NULL) {
		cJSON_AddStringToObject(n, "trtype", "user");
		cJSON_AddStringToObject(n, "socket", c->path);
		cJSON_AddStringToObject(n, "dev_type", "blk");
		osp_json_add_uint64(n, "vq_count", c->num_queues);
		osp_json_add_uint64(n, "vq_size", c->vq_size);
		osp_json_add_uint64(n, "features", c->features);
		osp_json_add_uint64(n, "max_rw_bytes", c->max_data);
		osp_json_add_uint64(n, "seg_max", c->cfg.seg_max);
		osp_json_add_uint64(n, "size_max", c->cfg.size_max);
		osp_json_add_uint64(n, "max_discard_sectors", c->cfg.max_discard_sectors);
		osp_json_add_uint64(n, "max_write_zeroes_sectors", c->cfg.max_write_zeroes_sectors);
		cJSON_AddBoolToObject(n, "connected", !ctrlr_dead(c));
	}
}

static void
bdev_virtio_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct virtio_blk_ctrlr *c = bdev->ctxt;
	cJSON *params = cJSON_CreateObject();

	if (params == NULL) {
		return;
	}
	cJSON_AddStringToObject(params, "name", bdev->name);
	cJSON_AddStringToObject(params, "trtype", "user");
	cJSON_AddStringToObject(params, "traddr", c->path);
	cJSON_AddStringToObject(params, "dev_type", "blk");
	osp_json_add_uint64(params, "vq_count", c->vq_count);
	osp_json_add_uint64(params, "vq_size", c->vq_size);
	osp_json_add_rpc_call(array, "bdev_virtio_attach_controller", params);
}

static const struct osp_bdev_fn_table g_virtio_fn_table = {
	.destruct = bdev_virtio_destruct,
	.submit_request = bdev_virtio_submit_request,
	.io_type_supported = bdev_virtio_io_type_supported,
	.get_io_channel = bdev_virtio_get_io_channel,
	.dump_info_json = bdev_virtio_dump_info_json,
	.write_config_json = bdev_virtio_write_config_json,
};

#define WANTED_FEATURES ((1ull << OSP_VIRTIO_F_VERSION_1) | (1ull << OSP_VIRTIO_F_EVENT_IDX) | \
			 (1ull << OSP_VIRTIO_BLK_F_SIZE_MAX) | (1ull << OSP_VIRTIO_BLK_F_SEG_MAX) | \
			 (1ull << OSP_VIRTIO_BLK_F_RO) | (1ull << OSP_VIRTIO_BLK_F_BLK_SIZE) | \
			 (1ull << OSP_VIRTIO_BLK_F_FLUSH) | (1ull << OSP_VIRTIO_BLK_F_TOPOLOGY) | \
			 (1ull << OSP_VIRTIO_BLK_F_MQ) | (1ull << OSP_VIRTIO_BLK_F_DISCARD) | \
			 (1ull << OSP_VIRTIO_BLK_F_WRITE_ZEROES))

/* Turn the device config into the bdev's geometry; -EINVAL with a reason if unusable. */
static int
apply_config(struct virtio_blk_ctrlr *c, size_t cfg_size, char *err, size_t errlen)
{
	const struct osp_virtio_blk_config *cfg = &c->cfg;
	uint32_t bs = OSP_VIRTIO_BLK_SECTOR_SIZE;
	uint32_t max = SLOT_DATA_SIZE;

	if (has_feature(c, OSP_VIRTIO_BLK_F_BLK_SIZE)) {
		bs = cfg->blk_size;
		if (bs < 512 || bs > SLOT_DATA_SIZE || (bs & (bs - 1)) != 0) {
			snprintf(err, errlen, "the device's blk_size %u is not a power of two in [512, %u]",
				 bs, SLOT_DATA_SIZE);
			return -EINVAL;
		}
	}
	if (cfg->capacity == 0 || cfg->capacity / (bs / 512) == 0) {
		snprintf(err, errlen, "the device has no capacity");
		return -EINVAL;
	}
	/* size_max 0 (qemu-storage-daemon 7.2 offers the feature with it) means no limit. */
	if (has_feature(c, OSP_VIRTIO_BLK_F_SIZE_MAX) && cfg->size_max != 0 && cfg->size_max < max) {
		max = cfg->size_max;
	}
	max &= ~(bs - 1);
	if (max == 0) {
		snprintf(err, errlen, "the device's size_max %u is smaller than a block (%u)",
			 cfg->size_max, bs);
		return -EINVAL;
	}
	if (has_feature(c, OSP_VIRTIO_BLK_F_SEG_MAX) && cfg->seg_max == 0) {
		snprintf(err, errlen, "the device's seg_max is 0");
		return -EINVAL;
	}
	/* Discard / write zeroes need their limits from the config. */
	if (cfg_size < sizeof(*cfg) || cfg->max_discard_sectors == 0 || cfg->max_discard_seg == 0) {
		c->features &= ~(1ull << OSP_VIRTIO_BLK_F_DISCARD);
	}
	if (cfg_size < sizeof(*cfg) || cfg->max_write_zeroes_sectors == 0 ||
	    cfg->max_write_zeroes_seg == 0) {
		c->features &= ~(1ull << OSP_VIRTIO_BLK_F_WRITE_ZEROES);
	}
	c->max_data = max;
	c->bdev.blocklen = bs;
	c->bdev.blockcnt = cfg->capacity / (bs / 512);
	c->bdev.max_rw_size = max / bs;
	c->bdev.write_cache = has_feature(c, OSP_VIRTIO_BLK_F_FLUSH);
	return 0;
}

static void
ctrlr_free_unregistered(void *arg)
{
	struct virtio_blk_ctrlr *c = arg;

	osp_vu_dev_close(c->dev);
	free(c->path);
	free(c->bdev.name);
	free(c);
}

/* The attach pthread: connect, negotiate, read the config, set up the queues. */
static int
blk_connect(void *arg, char *err, size_t errlen)
{
	struct virtio_blk_ctrlr *c = arg;
	struct osp_vu_dev_opts vo = {
		.path = c->path,
		.wanted_features = WANTED_FEATURES,
		.config_size = sizeof(struct osp_virtio_blk_config),
		.max_queues = c->vq_count,
		.queue_size = c->vq_size,
		.data_size_per_queue = (size_t)c->nslots * SLOT_STRIDE,
	};
	int rc;

	rc = osp_vu_dev_connect(&vo, &c->dev, err, errlen);
	if (rc == -ENOTSUP && strncmp(err, "GET_CONFIG", 10) == 0) {
		/* A device without the discard/write-zeroes fields: ask for the common part. */
		vo.config_size = OSP_VIRTIO_BLK_CONFIG_MIN_SIZE;
		err[0] = '\0';
		rc = osp_vu_dev_connect(&vo, &c->dev, err, errlen);
	}
	if (rc != 0) {
		return rc;
	}
	memcpy(&c->cfg, osp_vu_dev_config(c->dev), vo.config_size);
	c->features = osp_vu_dev_features(c->dev);
	if (has_feature(c, OSP_VIRTIO_BLK_F_MQ)) {
		if (c->cfg.num_queues == 0) {
			snprintf(err, errlen, "the device offers MQ with num_queues 0");
			return -EINVAL;
		}
		osp_vu_dev_limit_queues(c->dev, c->cfg.num_queues);
	} else {
		osp_vu_dev_limit_queues(c->dev, 1);
	}
	rc = apply_config(c, vo.config_size, err, errlen);
	if (rc != 0) {
		return rc;
	}
	rc = osp_vu_dev_start(c->dev, err, errlen);
	if (rc != 0) {
		return rc;
	}
	c->num_queues = osp_vu_dev_num_queues(c->dev);
	return 0;
}

/* App thread: register the bdev of a finished attach. */
static int
blk_register(void *arg, const char **names, int *n, char *err, size_t errlen)
{
	struct virtio_blk_ctrlr *c = arg;
	int rc;

	if (osp_bdev_get_by_name(c->bdev.name) != NULL) {
		snprintf(err, errlen, "a bdev named '%s' already exists", c->bdev.name);
		ctrlr_free_unregistered(c);
		return -EEXIST;
	}
	c->bdev.product_name = "Virtio Block Disk";
	c->bdev.write_unit_size = 1;
	c->bdev.ctxt = c;
	c->bdev.module = &g_virtio_module;
	c->bdev.fn_table = &g_virtio_fn_table;
	c->alive_poller = OSP_POLLER_REGISTER(alive_poll, c, ALIVE_POLL_US);
	if (c->alive_poller == NULL) {
		ctrlr_free_unregistered(c);
		return -ENOMEM;
	}
	osp_io_device_register(&c->io_device, channel_create, channel_destroy,
			       sizeof(struct virtio_blk_channel), "bdev_virtio_blk");
	rc = osp_bdev_register(&c->bdev);
	if (rc != 0) {
		snprintf(err, errlen, "cannot register the bdev: %s", strerror(-rc));
		osp_poller_unregister(&c->alive_poller);
		/* Nothing has a channel yet: the device is freed by the unregister callback. */
		osp_io_device_unregister(&c->io_device, ctrlr_free);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_ctrlrs, c, link);
	OSP_NOTICELOG("virtio-blk '%s' on %s: %" PRIu64 " blocks of %u bytes, %u queue(s) of %u, "
		      "features 0x%" PRIx64 "\n", c->bdev.name, c->path, c->bdev.blockcnt,
		      c->bdev.blocklen, c->num_queues, c->vq_size, c->features);
	names[0] = c->bdev.name;
	*n = 1;
	return 0;
}

static const struct bdev_virtio_attach_ops g_blk_attach_ops = {
	.connect = blk_connect,
	.register_bdevs = blk_register,
	.free = ctrlr_free_unregistered,
};

int
bdev_virtio_blk_attach(const struct bdev_virtio_opts *opts, bdev_virtio_attach_cb cb_fn,
		       void *cb_arg, char *err, size_t errlen)
{
	struct virtio_blk_ctrlr *c;
	int rc;

	if (!bdev_virtio_opts_ok(opts, cb_fn != NULL, err, errlen)) {
		return -EINVAL;
	}
	if (osp_bdev_get_by_name(opts->name) != NULL) {
		snprintf(err, errlen, "a bdev named '%s' already exists", opts->name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->bdev.name = strdup(opts->name);
	c->path = strdup(opts->path);
	if (c->bdev.name == NULL || c->path == NULL) {
		ctrlr_free_unregistered(c);
		return -ENOMEM;
	}
	c->vq_count = opts->vq_count;
	c->vq_size = opts->vq_size;
	/* Three descriptors per request: header, data (or segment), status. */
	c->nslots = (uint16_t)(opts->vq_size / 3 < MAX_SLOTS_PER_QUEUE ? opts->vq_size / 3 :
			       MAX_SLOTS_PER_QUEUE);
	rc = bdev_virtio_attach_start(opts->name, c, &g_blk_attach_ops, cb_fn, cb_arg, err, errlen);
	if (rc != 0) {
		ctrlr_free_unregistered(c);
	}
	return rc;
}

int
bdev_virtio_detach(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct virtio_blk_ctrlr *c;
	int rc;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (strcmp(c->bdev.name, name) == 0) {
			break;
		}
	}
	if (c == NULL || c->unregistering) {
		return -ENODEV;
	}
	c->unregistering = true;
	rc = osp_bdev_unregister(&c->bdev, cb_fn, cb_arg);
	if (rc != 0) {
		c->unregistering = false;
	}
	return rc;
}

/* ---- module ---- */

static int
bdev_virtio_get_ctx_size(void)
{
	return sizeof(struct virtio_blk_io);
}

static int
bdev_virtio_init(void)
{
	return 0;
}

static void
bdev_virtio_fini(void)
{
	bdev_virtio_attach_cancel_all();
}
