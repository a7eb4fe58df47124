/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split bdev: N equal slices of a base bdev, each a bdev of its own.
 *
 * Built like passthru (see bdev_passthru.c for the general pattern) on the
 * virtual-bdev helper (osprey/bdev_module.h): a config list survives the
 * bdevs, examine_config builds a split when its base appears, the base is
 * opened once and claimed, and its hot remove unregisters every part. The
 * differences:
 *
 *  - One base descriptor and one io_device (the struct osp_vbdev_base of
 *    struct split_base) serve all the parts: a thread has one channel to
 *    the base whatever part it uses.
 *  - I/O is forwarded with the part's offset added. A part never lets an
 *    I/O leave its range: the layer checked it against the part's size.
 *  - The base is released when the last part is destructed, whoever
 *    unregistered the parts (bdev_split_delete, hot remove, shutdown).
 *  - Parts write no per-bdev config: the module writes one
 *    bdev_split_create per split (built or still waiting for its base).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev_module.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_split.h"

struct split_base;

/* Keyed by the base's name (vcfg.name is NULL: the parts are named after it). */
struct split_config {
	struct osp_vbdev_config vcfg;
	uint32_t split_count;
	uint64_t split_size_mb;
};

struct split_part {
	struct osp_bdev bdev;
	struct split_base *sb;
	uint64_t offset_blocks;
};

struct split_base {
	struct osp_vbdev_base base;
	uint32_t num_parts;
	struct split_part *parts;
};

struct split_io {
	struct osp_bdev_io_wait_entry wait;
	struct osp_io_channel *ch;
};

static void split_examine_config(struct osp_bdev *bdev);
static void split_config_json(cJSON *array);
static int split_get_ctx_size(void);
static void split_fini(void);
static int split_build(struct osp_vbdev_config *vcfg, char *err, size_t errlen);
static void split_config_free(struct osp_vbdev_config *vcfg);

static struct osp_bdev_module g_split_module = {
	.name = "split",
	.module_fini = split_fini,
	.get_ctx_size = split_get_ctx_size,
	.examine_config = split_examine_config,
	.config_json = split_config_json,
};
OSP_BDEV_MODULE_REGISTER(split, &g_split_module)

/* No write_config: split_config_json writes every split, built or not. */
static struct osp_vbdev_list g_split_list = OSP_VBDEV_LIST_INITIALIZER(g_split_list,
		&g_split_module, "split", split_build, split_config_free, NULL);

static inline struct split_config *
split_config(struct osp_vbdev_config *vcfg)
{
	return vcfg != NULL ? OSP_CONTAINEROF(vcfg, struct split_config, vcfg) : NULL;
}

/* ---- I/O ---- */

static void split_submit(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io);

static void
split_base_io_done(struct osp_bdev_io *base_io, bool success, void *cb_arg)
{
	osp_vbdev_io_complete_from(cb_arg, base_io, success);
}

static void
split_resubmit(void *arg)
{
	struct osp_bdev_io *bdev_io = arg;
	struct split_io *io = (struct split_io *)bdev_io->driver_ctx;

	split_submit(io->ch, bdev_io);
}

static void
split_submit(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct split_part *part = bdev_io->bdev->ctxt;
	struct osp_vbdev_channel *sch = osp_io_channel_get_ctx(ch);
	struct split_io *io = (struct split_io *)bdev_io->driver_ctx;
	int rc;

	/* The only translation a split does: part block N is base block offset + N. */
	rc = osp_bdev_io_resubmit_to(bdev_io, part->sb->base.desc, sch->base_ch, part->offset_blocks,
				     split_base_io_done, bdev_io);
	if (osp_likely(rc == 0)) {
		return;
	}
	io->ch = ch;
	rc = osp_vbdev_submit_failed(&part->sb->base, sch->base_ch, bdev_io, rc, &io->wait,
				     split_resubmit);
	if (rc != OSP_BDEV_IO_STATUS_PENDING) {
		osp_bdev_io_complete(bdev_io, rc);
	}
}

static bool
split_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct split_part *part = ctx;

	switch (type) {
	case OSP_BDEV_IO_TYPE_NVME_ADMIN:
	case OSP_BDEV_IO_TYPE_NVME_IO:
		/* Commands carry base LBAs (and admin commands act on the whole device). */
		return false;
	default:
		return osp_bdev_io_type_supported(part->sb->base.bdev, type);
	}
}

static struct osp_io_channel *
split_get_io_channel(void *ctx)
{
	struct split_part *part = ctx;

	return osp_vbdev_base_get_io_channel(&part->sb->base);
}

/* ---- info and config ---- */

static void
split_dump_info_json(void *ctx, cJSON *obj)
{
	struct split_part *part = ctx;
	cJSON *o = cJSON_AddObjectToObject(obj, "split");

	if (o != NULL) {
		cJSON_AddStringToObject(o, "base_bdev", part->sb->base.bdev->name);
		osp_json_add_uint64(o, "offset_blocks", part->offset_blocks);
	}
}

static void
split_config_json(cJSON *array)
{
	struct osp_vbdev_config *vcfg;
	struct split_config *cfg;
	cJSON *params;

	TAILQ_FOREACH(vcfg, &g_split_list.configs, link) {
		cfg = split_config(vcfg);
		params = cJSON_CreateObject();
		if (params == NULL) {
			return;
		}
		cJSON_AddStringToObject(params, "base_bdev", vcfg->base_name);
		osp_json_add_uint64(params, "split_count", cfg->split_count);
		osp_json_add_uint64(params, "split_size_mb", cfg->split_size_mb);
		osp_json_add_rpc_call(array, "bdev_split_create", params);
	}
}

/* ---- teardown ---- */

static void
split_base_free(struct split_base *sb)
{
	uint32_t i;

	if (sb->parts != NULL) {
		for (i = 0; i < sb->num_parts; i++) {
			free(sb->parts[i].bdev.name);
		}
	}
	free(sb->parts);
	free(sb);
}

/* The base is released (on the thread that opened it): the parts' memory goes too. */
static void
split_free(struct osp_vbdev_base *base)
{
	split_base_free(OSP_CONTAINEROF(base, struct split_base, base));
}

/* The part's memory belongs to sb; the last part's destruct lets go of the base. */
static int
split_destruct(void *ctx)
{
	struct split_part *part = ctx;

	return osp_vbdev_base_destruct(&part->sb->base, &part->bdev);
}

static const struct osp_vbdev_base_ops g_split_base_ops = {
	.channel_size = sizeof(struct osp_vbdev_channel),
	.free = split_free,
	/* A resize leaves the parts as they are: they still fit if it grew. */
	.follow_resize = false,
};

/* ---- building ---- */

static const struct osp_bdev_fn_table g_split_fn_table = {
	.destruct = split_destruct,
	.submit_request = split_submit,
	.io_type_supported = split_io_type_supported,
	.get_io_channel = split_get_io_channel,
	.dump_info_json = split_dump_info_json,
	.write_config_json = NULL,	/* the module writes one call per split */
};

/* Part size in blocks for cfg on base; 0 with err set if it does not fit. */
static uint64_t
split_part_blocks(const struct split_config *cfg, const struct osp_bdev *base, char *err,
		  size_t errlen)
{
	uint64_t blocks;

	if (cfg->split_size_mb == 0) {
		blocks = base->blockcnt / cfg->split_count;
		if (blocks == 0) {
			osp_seterr(err, errlen, "base bdev %s has %" PRIu64 " blocks: too few for %" PRIu32
			       " parts", base->name, base->blockcnt, cfg->split_count);
		}
		return blocks;
	}
	if (cfg->split_size_mb > (UINT64_MAX >> 20) ||
	    (cfg->split_size_mb << 20) % base->blocklen != 0) {
		osp_seterr(err, errlen, "split_size_mb %" PRIu64 " is not a whole number of %" PRIu32
		       "-byte blocks", cfg->split_size_mb, base->blocklen);
		return 0;
	}
	blocks = (cfg->split_size_mb << 20) / base->blocklen;
	if (blocks > base->blockcnt / cfg->split_count) {
		osp_seterr(err, errlen, "%" PRIu32 " parts of %" PRIu64 " MiB do not fit in base bdev %s "
		       "(%" PRIu64 " MiB)", cfg->split_count, cfg->split_size_mb, base->name,
		       (base->blockcnt * base->blocklen) >> 20);
		return 0;
	}
	return blocks;
}

static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * A part's uuid is derived from its base's and its index, so that it is the
 * same after a restart (the parts are not saved one by one) and differs
 * between parts and from the base. RFC 9562 version 8 (vendor-specific).
 */
static void
split_part_uuid(struct osp_uuid *out, const struct osp_uuid *base, uint32_t index)
{
	uint64_t lo, hi;

	memcpy(&lo, &base->u[0], 8);
	memcpy(&hi, &base->u[8], 8);
	lo = mix64(lo ^ mix64(hi ^ index));
	hi = mix64(hi ^ mix64(lo + index + 1));
	memcpy(&out->u[0], &lo, 8);
	memcpy(&out->u[8], &hi, 8);
	out->u[6] = (uint8_t)((out->u[6] & 0x0f) | 0x80);
	out->u[8] = (uint8_t)((out->u[8] & 0x3f) | 0x80);
}

/*
 * Build cfg's parts if its base exists. 0 when built, -ENODEV when the base
 * is missing (the split waits for it), another -errno on failure.
 */
static int
split_build(struct osp_vbdev_config *vcfg, char *err, size_t errlen)
{
	struct split_config *cfg = split_config(vcfg);
	struct split_base *sb;
	struct osp_bdev *base;
	struct split_part *part;
	uint64_t part_blocks;
	uint32_t i;
	int rc;

	sb = calloc(1, sizeof(*sb));
	if (sb == NULL) {
		return -ENOMEM;
	}
	rc = osp_vbdev_base_open(&sb->base, &g_split_base_ops, &g_split_module, vcfg,
				 vcfg->base_name, vcfg->base_name, err, errlen);
	if (rc != 0) {
		free(sb);
		return rc;
	}
	base = sb->base.bdev;
	part_blocks = split_part_blocks(cfg, base, err, errlen);
	if (part_blocks == 0) {
		rc = -EINVAL;
		goto err_close;
	}
	sb->num_parts = cfg->split_count;
	sb->parts = calloc(sb->num_parts, sizeof(*sb->parts));
	if (sb->parts == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	for (i = 0; i < sb->num_parts; i++) {
		part = &sb->parts[i];
		part->bdev.name = osp_sprintf_alloc("%sp%" PRIu32, base->name, i);
		if (part->bdev.name == NULL) {
			rc = -ENOMEM;
			goto err_close;
		}
		if (osp_bdev_get_by_name(part->bdev.name) != NULL) {
			osp_seterr(err, errlen, "a bdev named %s already exists", part->bdev.name);
			rc = -EEXIST;
			goto err_close;
		}
	}
	for (i = 0; i < sb->num_parts; i++) {
		part = &sb->parts[i];
		part->sb = sb;
		part->offset_blocks = (uint64_t)i * part_blocks;
		part->bdev.product_name = "Split Disk";
		part->bdev.blocklen = base->blocklen;
		part->bdev.blockcnt = part_blocks;
		part->bdev.write_cache = base->write_cache;
		part->bdev.unmap_reads_zeroes = base->unmap_reads_zeroes;
		part->bdev.write_unit_size = base->write_unit_size;
		part->bdev.max_rw_size = base->max_rw_size;
		part->bdev.required_alignment = base->required_alignment;
		/* The base's boundary only carries over if the part starts on one. */
		if (base->optimal_io_boundary != 0 &&
		    part->offset_blocks % base->optimal_io_boundary == 0) {
			part->bdev.optimal_io_boundary = base->optimal_io_boundary;
			part->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
		}
		split_part_uuid(&part->bdev.uuid, &base->uuid, i);
		part->bdev.ctxt = part;
		part->bdev.module = &g_split_module;
		part->bdev.fn_table = &g_split_fn_table;
		rc = osp_vbdev_base_add_bdev(&sb->base, &part->bdev);
		if (rc != 0) {
			osp_seterr(err, errlen, "registering %s failed: %s", part->bdev.name, strerror(-rc));
			/* Undo the parts registered so far; the base is released after them. */
			osp_vbdev_base_unregister(&sb->base, NULL, NULL);
			return rc;
		}
	}
	OSP_NOTICELOG("split %s into %" PRIu32 " parts of %" PRIu64 " blocks\n", base->name,
		      sb->num_parts, part_blocks);
	return 0;

err_close:
	osp_vbdev_base_close(&sb->base);
	split_base_free(sb);
	return rc;
}

static struct split_config *
split_config_find(const char *base_name)
{
	return split_config(osp_vbdev_config_find(&g_split_list, base_name, true));
}

static void
split_config_free(struct osp_vbdev_config *vcfg)
{
	free(vcfg->base_name);
	free(split_config(vcfg));
}

int
bdev_split_create(const char *base_name, uint32_t split_count, uint64_t split_size_mb,
		  char *err, size_t errlen)
{
	struct split_config *cfg;

	osp_seterr(err, errlen, "%s", "");
	if (base_name == NULL || base_name[0] == '\0') {
		osp_seterr(err, errlen, "base_bdev must not be empty");
		return -EINVAL;
	}
	if (split_count == 0 || split_count > BDEV_SPLIT_MAX_PARTS) {
		osp_seterr(err, errlen, "split_count %" PRIu32 " is out of range: 1 to %d", split_count,
		       BDEV_SPLIT_MAX_PARTS);
		return -EINVAL;
	}
	if (split_config_find(base_name) != NULL) {
		osp_seterr(err, errlen, "%s is already split (bdev_split_delete %s first)", base_name,
		       base_name);
		return -EEXIST;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		return -ENOMEM;
	}
	cfg->vcfg.base_name = strdup(base_name);
	if (cfg->vcfg.base_name == NULL) {
		free(cfg);
		return -ENOMEM;
	}
	cfg->split_count = split_count;
	cfg->split_size_mb = split_size_mb;
	return osp_vbdev_config_add(&g_split_list, &cfg->vcfg, err, errlen);
}

int
bdev_split_delete(const char *base_name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct split_config *cfg = split_config_find(base_name);

	if (cfg == NULL) {
		return -ENODEV;
	}
	/* Answered once every part is gone and the base released. */
	osp_vbdev_config_delete(&g_split_list, &cfg->vcfg, cb_fn, cb_arg);
	return 0;
}

uint32_t
bdev_split_foreach_part(const char *base_name, void (*fn)(const char *name, void *ctx),
			void *ctx)
{
	struct split_config *cfg = split_config_find(base_name);
	struct split_base *sb;
	uint32_t i;

	if (cfg == NULL || cfg->vcfg.base == NULL) {
		return 0;
	}
	sb = OSP_CONTAINEROF(cfg->vcfg.base, struct split_base, base);
	for (i = 0; i < sb->num_parts; i++) {
		fn(sb->parts[i].bdev.name, ctx);
	}
	return sb->num_parts;
}

static void
split_examine_config(struct osp_bdev *bdev)
{
	osp_vbdev_examine(&g_split_list, bdev);
}

/* ---- module ---- */

static int
split_get_ctx_size(void)
{
	return sizeof(struct split_io);
}

static void
split_fini(void)
{
	osp_vbdev_fini(&g_split_list);
}
