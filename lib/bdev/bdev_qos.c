/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * QoS rate limits of a bdev: I/O of every channel is sent to the bdev's QoS
 * thread, queued there and started when the time slice has credit; its
 * completion is sent back to the submitting channel. Enabling, updating and
 * disabling the limits walk every channel (osp_bdev_set_qos_rate_limits).
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

/* ---- QoS ---- */

static void
bdev_qos_free(struct bdev_qos *qos)
{
	qos->ch->qos_owned = NULL;
	osp_put_io_channel(qos->ioch);
	free(qos);
}

/* a * b, saturated well below INT64_MAX so that sums of two cannot overflow. */
static inline int64_t
bdev_qos_mul(uint64_t a, uint64_t b)
{
	__int128 r = (__int128)a * b;

	return r > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)r;
}

static bool
bdev_qos_try(struct bdev_qos *qos, const struct osp_bdev_io *bdev_io)
{
	int64_t cost[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES] = {0};
	int64_t hz = (int64_t)osp_get_ticks_hz();
	int64_t bytes_cost;
	bool rd = false, wr = false;
	int t;

	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_COMPARE:
		rd = true;
		break;
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		wr = true;
		break;
	case OSP_BDEV_IO_TYPE_UNMAP:
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		break;
	default:
		return true;	/* flush, passthru: not limited */
	}
	bytes_cost = bdev_qos_mul(bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen,
				  (uint64_t)hz);
	if (qos->limits[OSP_BDEV_QOS_RW_IOPS_RATE_LIMIT]) {
		cost[OSP_BDEV_QOS_RW_IOPS_RATE_LIMIT] = hz;
	}
	if (qos->limits[OSP_BDEV_QOS_RW_BPS_RATE_LIMIT] && (rd || wr)) {
		cost[OSP_BDEV_QOS_RW_BPS_RATE_LIMIT] = bytes_cost;
	}
	if (qos->limits[OSP_BDEV_QOS_R_BPS_RATE_LIMIT] && rd) {
		cost[OSP_BDEV_QOS_R_BPS_RATE_LIMIT] = bytes_cost;
	}
	if (qos->limits[OSP_BDEV_QOS_W_BPS_RATE_LIMIT] && wr) {
		cost[OSP_BDEV_QOS_W_BPS_RATE_LIMIT] = bytes_cost;
	}
	for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		if (cost[t] != 0 && qos->credit[t] <= 0) {
			return false;
		}
	}
	for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		qos->credit[t] -= cost[t];
	}
	return true;
}

static void
bdev_qos_dispatch(struct bdev_qos *qos)
{
	struct osp_bdev_io *bdev_io;

	while ((bdev_io = TAILQ_FIRST(&qos->queued)) != NULL) {
		if (!qos->disabling && !bdev_qos_try(qos, bdev_io)) {
			break;
		}
		TAILQ_REMOVE(&qos->queued, bdev_io, internal.link.tq);
		bdev_io_exec(bdev_io);
	}
}

/* Credit accrues with time, up to one time slice's worth. */
static void
bdev_qos_refill(struct bdev_qos *qos, uint64_t now)
{
	uint64_t elapsed = now > qos->last_tsc ? now - qos->last_tsc : 0;
	int64_t cap;
	int t;

	qos->last_tsc = now;
	elapsed = OSP_MIN(elapsed, qos->slice_ticks);
	for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		if (qos->limits[t] == 0) {
			qos->credit[t] = 0;
			continue;
		}
		cap = bdev_qos_mul(qos->limits[t], qos->slice_ticks);
		qos->credit[t] = OSP_MIN(cap, qos->credit[t] + bdev_qos_mul(qos->limits[t], elapsed));
	}
}

static int
bdev_qos_poll(void *arg)
{
	struct bdev_qos *qos = arg;
	bool busy = !TAILQ_EMPTY(&qos->queued);

	bdev_qos_refill(qos, osp_thread_get_last_tsc(NULL));
	bdev_qos_dispatch(qos);
	return busy ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

static void
bdev_qos_queue(struct bdev_qos *qos, struct osp_bdev_io *bdev_io)
{
	if (qos->disabling) {
		bdev_io_exec(bdev_io);
		return;
	}
	TAILQ_INSERT_TAIL(&qos->queued, bdev_io, internal.link.tq);
	bdev_qos_dispatch(qos);
}

static void
bdev_qos_receive_msg(void *arg)
{
	struct osp_bdev_io *bdev_io = arg;
	struct bdev_qos *qos = bdev_io->internal.ch->qos_owned;

	qos->inflight++;
	bdev_qos_queue(qos, bdev_io);
}

/* On the user's thread: send the I/O to the QoS thread (or queue it here if that is us). */
void
bdev_qos_submit(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_channel *ch = bdev_io->internal.user_ch;
	struct bdev_qos *qos = ch->qos;

	if (qos->thread == ch->thread) {
		bdev_qos_queue(qos, bdev_io);
		return;
	}
	bdev_io->internal.ch = qos->ch;
	bdev_io->internal.flags |= BDEV_IO_FUNNELED;
	if (osp_thread_send_msg(qos->thread, bdev_qos_receive_msg, bdev_io) != 0) {
		/* Cannot reach the QoS thread: run the I/O here, unlimited. */
		bdev_io->internal.ch = ch;
		bdev_io->internal.flags &= ~BDEV_IO_FUNNELED;
		bdev_io_exec(bdev_io);
	}
}

static void
bdev_qos_complete_msg(void *arg)
{
	bdev_io_complete_user(arg);
}

/* On the QoS thread: a funneled I/O is done; send it back. */
void
bdev_qos_io_done(struct osp_bdev_io *bdev_io)
{
	struct bdev_qos *qos = bdev_io->internal.ch->qos_owned;

	bdev_io->internal.flags &= ~BDEV_IO_FUNNELED;
	bdev_io->internal.ch = bdev_io->internal.user_ch;
	if (osp_thread_send_msg(bdev_io->internal.user_ch->thread, bdev_qos_complete_msg,
				bdev_io) != 0) {
		OSP_ERRLOG("bdev %s: cannot send a completion back to thread %s\n",
			   bdev_io->bdev->name, osp_thread_get_name(bdev_io->internal.user_ch->thread));
	}
	qos->inflight--;
	if (qos->torn_down && qos->inflight == 0) {
		bdev_qos_free(qos);
	}
}

/* On the QoS thread: stop limiting and free once nothing funneled is left. */
static void
bdev_qos_teardown(struct bdev_qos *qos)
{
	qos->disabling = true;
	bdev_qos_dispatch(qos);
	osp_poller_unregister(&qos->poller);
	qos->torn_down = true;
	if (qos->inflight == 0) {
		bdev_qos_free(qos);
	}
}

static void
bdev_qos_teardown_msg(void *arg)
{
	bdev_qos_teardown(arg);
}

void
bdev_qos_release(struct bdev_qos *qos)
{
	qos->disabling = true;
	if (osp_thread_send_msg(qos->thread, bdev_qos_teardown_msg, qos) != 0) {
		OSP_ERRLOG("cannot tear down QoS of bdev %s\n", qos->bdev->name);
	}
}

struct bdev_qos_set_ctx {
	struct osp_bdev *bdev;
	uint64_t limits[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	void (*cb)(void *cb_arg, int status);
	void *cb_arg;
	struct osp_thread *thread;
	struct bdev_qos *qos;
	int status;
};

static void
bdev_qos_set_done(struct bdev_qos_set_ctx *ctx, int status)
{
	struct osp_bdev_internal *in = ctx->bdev->internal;

	pthread_mutex_lock(&in->mutex);
	in->qos_changing = false;
	if (status == 0) {
		memcpy(in->qos_limits, ctx->limits, sizeof(in->qos_limits));
	}
	pthread_mutex_unlock(&in->mutex);
	if (ctx->cb != NULL) {
		ctx->cb(ctx->cb_arg, status);
	}
	free(ctx);
}

static void
bdev_qos_set_done_msg(void *arg)
{
	struct bdev_qos_set_ctx *ctx = arg;

	bdev_qos_set_done(ctx, ctx->status);
}

static void
bdev_qos_enable_step(struct osp_io_channel_iter *i)
{
	struct bdev_qos_set_ctx *ctx = osp_io_channel_iter_get_ctx(i);
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));

	ch->qos = ctx->qos;
	ch->flags |= BDEV_CH_QOS;
	osp_for_each_channel_continue(i, 0);
}

static void
bdev_qos_enable_done(struct osp_io_channel_iter *i, int status)
{
	bdev_qos_set_done(osp_io_channel_iter_get_ctx(i), status);
}

static void
bdev_qos_disable_step(struct osp_io_channel_iter *i)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));

	ch->qos = NULL;
	ch->flags &= ~BDEV_CH_QOS;
	osp_for_each_channel_continue(i, 0);
}

static void
bdev_qos_disable_teardown_msg(void *arg)
{
	struct bdev_qos_set_ctx *ctx = arg;

	bdev_qos_teardown(ctx->qos);
	if (osp_thread_send_msg(ctx->thread, bdev_qos_set_done_msg, ctx) != 0) {
		bdev_qos_set_done(ctx, 0);
	}
}

static void
bdev_qos_disable_done(struct osp_io_channel_iter *i, int status)
{
	struct bdev_qos_set_ctx *ctx = osp_io_channel_iter_get_ctx(i);

	ctx->status = 0;
	if (osp_thread_send_msg(ctx->qos->thread, bdev_qos_disable_teardown_msg, ctx) != 0) {
		OSP_ERRLOG("cannot reach the QoS thread of bdev %s\n", ctx->bdev->name);
		bdev_qos_set_done(ctx, -EIO);
	}
}

static void
bdev_qos_update_msg(void *arg)
{
	struct bdev_qos_set_ctx *ctx = arg;
	struct bdev_qos *qos = ctx->qos;
	int t;

	for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		if (qos->limits[t] != ctx->limits[t]) {
			qos->limits[t] = ctx->limits[t];
			qos->credit[t] = bdev_qos_mul(qos->limits[t], qos->slice_ticks);
		}
	}
	bdev_qos_dispatch(qos);
	ctx->status = 0;
	if (osp_thread_send_msg(ctx->thread, bdev_qos_set_done_msg, ctx) != 0) {
		bdev_qos_set_done(ctx, 0);
	}
}

static int
bdev_qos_enable(struct bdev_qos_set_ctx *ctx)
{
	struct osp_bdev_internal *in = ctx->bdev->internal;
	struct bdev_qos *qos;
	uint64_t hz = osp_get_ticks_hz();
	int t;

	qos = calloc(1, sizeof(*qos));
	if (qos == NULL) {
		return -ENOMEM;
	}
	qos->bdev = ctx->bdev;
	qos->thread = osp_get_thread();
	TAILQ_INIT(&qos->queued);
	memcpy(qos->limits, ctx->limits, sizeof(qos->limits));
	qos->slice_ticks = OSP_MAX((uint64_t)1, hz * BDEV_QOS_TIMESLICE_US / 1000000);
	qos->last_tsc = osp_thread_get_last_tsc(NULL);
	for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		qos->credit[t] = bdev_qos_mul(qos->limits[t], qos->slice_ticks);
	}
	qos->ioch = osp_get_io_channel(ctx->bdev);
	if (qos->ioch == NULL) {
		free(qos);
		return -ENODEV;
	}
	qos->ch = osp_io_channel_get_ctx(qos->ioch);
	qos->poller = OSP_POLLER_REGISTER(bdev_qos_poll, qos, BDEV_QOS_TIMESLICE_US);
	if (qos->poller == NULL) {
		osp_put_io_channel(qos->ioch);
		free(qos);
		return -ENOMEM;
	}
	qos->ch->qos_owned = qos;
	ctx->qos = qos;
	pthread_mutex_lock(&in->mutex);
	in->qos = qos;
	pthread_mutex_unlock(&in->mutex);
	osp_for_each_channel(ctx->bdev, bdev_qos_enable_step, ctx, bdev_qos_enable_done);
	return 0;
}

int
osp_bdev_set_qos_rate_limits(struct osp_bdev *bdev, const uint64_t *limits,
			     void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct osp_bdev_internal *in;
	struct bdev_qos_set_ctx *ctx;
	bool any = false;
	int t, rc;

	if (bdev == NULL || limits == NULL || osp_get_thread() == NULL) {
		return -EINVAL;
	}
	in = bdev->internal;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->bdev = bdev;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	ctx->thread = osp_get_thread();
	pthread_mutex_lock(&in->mutex);
	if (in->qos_changing || in->status != BDEV_STATUS_READY) {
		rc = in->qos_changing ? -EAGAIN : -ENODEV;
		pthread_mutex_unlock(&in->mutex);
		free(ctx);
		return rc;
	}
	for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		ctx->limits[t] = limits[t] == UINT64_MAX ? in->qos_limits[t] : limits[t];
		any |= ctx->limits[t] != 0;
	}
	in->qos_changing = true;
	ctx->qos = in->qos;
	if (ctx->qos != NULL && !any) {
		ctx->qos->disabling = true;
		in->qos = NULL;
	}
	pthread_mutex_unlock(&in->mutex);

	if (ctx->qos == NULL && any) {
		rc = bdev_qos_enable(ctx);
		if (rc != 0) {
			bdev_qos_set_done(ctx, rc);
		}
	} else if (ctx->qos != NULL && any) {
		if (osp_thread_send_msg(ctx->qos->thread, bdev_qos_update_msg, ctx) != 0) {
			bdev_qos_set_done(ctx, -EIO);
		}
	} else if (ctx->qos != NULL) {
		osp_for_each_channel(bdev, bdev_qos_disable_step, ctx, bdev_qos_disable_done);
	} else {
		bdev_qos_set_done(ctx, 0);
	}
	return 0;
}

void
osp_bdev_get_qos_rate_limits(struct osp_bdev *bdev, uint64_t *limits)
{
	pthread_mutex_lock(&bdev->internal->mutex);
	memcpy(limits, bdev->internal->qos_limits, sizeof(bdev->internal->qos_limits));
	pthread_mutex_unlock(&bdev->internal->mutex);
}
