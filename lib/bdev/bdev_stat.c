/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O statistics: a channel's counters, their sum over every channel of a
 * bdev (osp_bdev_get_device_stat, bdev_get_channel_stats) and their JSON
 * form (bdev_get_iostat).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/event.h"
#include "osprey/iobuf.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_internal.h"

void
bdev_stat_init(struct osp_bdev_io_stat *s)
{
	memset(s, 0, sizeof(*s));
	s->min_read_latency_ticks = UINT64_MAX;
	s->min_write_latency_ticks = UINT64_MAX;
	s->min_unmap_latency_ticks = UINT64_MAX;
	s->ticks_rate = osp_get_ticks_hz();
}

void
bdev_stat_add(struct osp_bdev_io_stat *to, const struct osp_bdev_io_stat *from)
{
	to->bytes_read += from->bytes_read;
	to->num_read_ops += from->num_read_ops;
	to->bytes_written += from->bytes_written;
	to->num_write_ops += from->num_write_ops;
	to->bytes_unmapped += from->bytes_unmapped;
	to->num_unmap_ops += from->num_unmap_ops;
	to->num_other_ops += from->num_other_ops;
	to->num_io_errors += from->num_io_errors;
	to->read_latency_ticks += from->read_latency_ticks;
	to->write_latency_ticks += from->write_latency_ticks;
	to->unmap_latency_ticks += from->unmap_latency_ticks;
	to->max_read_latency_ticks = OSP_MAX(to->max_read_latency_ticks,
					     from->max_read_latency_ticks);
	to->max_write_latency_ticks = OSP_MAX(to->max_write_latency_ticks,
					      from->max_write_latency_ticks);
	to->max_unmap_latency_ticks = OSP_MAX(to->max_unmap_latency_ticks,
					      from->max_unmap_latency_ticks);
	to->min_read_latency_ticks = OSP_MIN(to->min_read_latency_ticks,
					     from->min_read_latency_ticks);
	to->min_write_latency_ticks = OSP_MIN(to->min_write_latency_ticks,
					      from->min_write_latency_ticks);
	to->min_unmap_latency_ticks = OSP_MIN(to->min_unmap_latency_ticks,
					      from->min_unmap_latency_ticks);
	to->ticks_rate = osp_get_ticks_hz();
}

/* Report "no operations yet" minimums as 0. */
void
bdev_stat_finalize(struct osp_bdev_io_stat *s)
{
	if (s->min_read_latency_ticks == UINT64_MAX) {
		s->min_read_latency_ticks = 0;
	}
	if (s->min_write_latency_ticks == UINT64_MAX) {
		s->min_write_latency_ticks = 0;
	}
	if (s->min_unmap_latency_ticks == UINT64_MAX) {
		s->min_unmap_latency_ticks = 0;
	}
	s->ticks_rate = osp_get_ticks_hz();
}

/* ---- statistics ---- */

struct bdev_stat_ctx {
	struct osp_bdev *bdev;
	struct osp_bdev_io_stat *stat;
	osp_bdev_get_device_stat_cb cb;
	void *cb_arg;
};

static void
bdev_stat_step(struct osp_io_channel_iter *i)
{
	struct bdev_stat_ctx *ctx = osp_io_channel_iter_get_ctx(i);
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));

	bdev_stat_add(ctx->stat, &ch->stat);
	osp_for_each_channel_continue(i, 0);
}

static void
bdev_stat_done(struct osp_io_channel_iter *i, int status)
{
	struct bdev_stat_ctx *ctx = osp_io_channel_iter_get_ctx(i);
	struct osp_bdev_internal *in = ctx->bdev->internal;

	pthread_mutex_lock(&in->mutex);
	bdev_stat_add(ctx->stat, &in->stat_closed);
	pthread_mutex_unlock(&in->mutex);
	bdev_stat_finalize(ctx->stat);
	ctx->cb(ctx->bdev, ctx->stat, ctx->cb_arg, status == -ENODEV ? 0 : status);
	free(ctx);
}

int
osp_bdev_get_device_stat(struct osp_bdev *bdev, struct osp_bdev_io_stat *stat,
			 osp_bdev_get_device_stat_cb cb, void *cb_arg)
{
	struct bdev_stat_ctx *ctx;

	if (bdev == NULL || stat == NULL || cb == NULL) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	bdev_stat_init(stat);
	ctx->bdev = bdev;
	ctx->stat = stat;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	osp_for_each_channel(bdev, bdev_stat_step, ctx, bdev_stat_done);
	return 0;
}

void
osp_bdev_get_io_stat(struct osp_bdev *bdev, struct osp_io_channel *ioch,
		     struct osp_bdev_io_stat *stat)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(ioch);

	*stat = ch->stat;
	bdev_stat_finalize(stat);
}

struct bdev_chstat_ctx {
	void (*fn)(struct osp_bdev_channel *ch, void *ctx);
	void *ctx;
	void (*cpl)(void *ctx, int status);
};

static void
bdev_chstat_step(struct osp_io_channel_iter *i)
{
	struct bdev_chstat_ctx *c = osp_io_channel_iter_get_ctx(i);

	c->fn(osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i)), c->ctx);
	osp_for_each_channel_continue(i, 0);
}

static void
bdev_chstat_done(struct osp_io_channel_iter *i, int status)
{
	struct bdev_chstat_ctx *c = osp_io_channel_iter_get_ctx(i);

	c->cpl(c->ctx, status);
	free(c);
}

void
bdev_get_channel_stats(struct osp_bdev *bdev, void (*fn)(struct osp_bdev_channel *ch, void *ctx),
		       void *ctx, void (*cpl)(void *ctx, int status))
{
	struct bdev_chstat_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		cpl(ctx, -ENOMEM);
		return;
	}
	c->fn = fn;
	c->ctx = ctx;
	c->cpl = cpl;
	osp_for_each_channel(bdev, bdev_chstat_step, c, bdev_chstat_done);
}

void
bdev_stat_to_json(const struct osp_bdev_io_stat *s, cJSON *o)
{
	osp_json_add_uint64(o, "bytes_read", s->bytes_read);
	osp_json_add_uint64(o, "num_read_ops", s->num_read_ops);
	osp_json_add_uint64(o, "bytes_written", s->bytes_written);
	osp_json_add_uint64(o, "num_write_ops", s->num_write_ops);
	osp_json_add_uint64(o, "bytes_unmapped", s->bytes_unmapped);
	osp_json_add_uint64(o, "num_unmap_ops", s->num_unmap_ops);
	osp_json_add_uint64(o, "bytes_copied", 0);
	osp_json_add_uint64(o, "num_copy_ops", 0);
	osp_json_add_uint64(o, "read_latency_ticks", s->read_latency_ticks);
	osp_json_add_uint64(o, "max_read_latency_ticks", s->max_read_latency_ticks);
	osp_json_add_uint64(o, "min_read_latency_ticks", s->min_read_latency_ticks);
	osp_json_add_uint64(o, "write_latency_ticks", s->write_latency_ticks);
	osp_json_add_uint64(o, "max_write_latency_ticks", s->max_write_latency_ticks);
	osp_json_add_uint64(o, "min_write_latency_ticks", s->min_write_latency_ticks);
	osp_json_add_uint64(o, "unmap_latency_ticks", s->unmap_latency_ticks);
	osp_json_add_uint64(o, "max_unmap_latency_ticks", s->max_unmap_latency_ticks);
	osp_json_add_uint64(o, "min_unmap_latency_ticks", s->min_unmap_latency_ticks);
	osp_json_add_uint64(o, "copy_latency_ticks", 0);
	osp_json_add_uint64(o, "max_copy_latency_ticks", 0);
	osp_json_add_uint64(o, "min_copy_latency_ticks", 0);
	osp_json_add_uint64(o, "num_other_ops", s->num_other_ops);
	osp_json_add_uint64(o, "num_io_errors", s->num_io_errors);
}
