/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the bdev layer does for an I/O the module cannot take as it is:
 * splitting (max_rw_size, optimal_io_boundary, bounce size, write zeroes
 * emulated with writes of a zero buffer), bouncing through an aligned
 * buffer, compare emulated with a read and memcmp, and compare-and-write
 * emulated under an LBA range lock. Runs on the I/O's channel thread; the
 * lock steps run on every channel through osp_for_each_channel().
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
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_internal.h"

/* ---- split ---- */

static void bdev_split_next(struct osp_bdev_io *parent);

static uint64_t
bdev_split_max_blocks(const struct osp_bdev_io *parent, uint64_t offset)
{
	const struct osp_bdev *bdev = parent->bdev;
	uint64_t max = UINT64_MAX, b;

	if (bdev->max_rw_size != 0) {
		max = bdev->max_rw_size;
	}
	if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary != 0) {
		b = bdev->optimal_io_boundary;
		max = OSP_MIN(max, b - offset % b);
	}
	if (parent->internal.u.split.mode & (BDEV_SPLIT_ZEROES | BDEV_SPLIT_CLAMP)) {
		max = OSP_MIN(max, OSP_MAX((uint64_t)1, OSP_BDEV_LARGE_BUF_MAX_SIZE / bdev->blocklen));
	}
	return max;
}

/* Child iovecs for up to want bytes from the parent's cursor; returns the bytes taken. */
static size_t
bdev_split_fill_iovs(const struct osp_bdev_io *parent, struct iovec *iovs, int *iovcnt,
		     size_t want, int *idx_out, size_t *off_out)
{
	const struct iovec *piov = parent->u.bdev.iovs;
	int idx = parent->internal.u.split.iov_idx, cnt = parent->u.bdev.iovcnt;
	size_t off = parent->internal.u.split.iov_off, got;

	*iovcnt = osp_iov_slice_partial(iovs, OSP_BDEV_IO_CHILD_IOVS, &piov[idx], cnt - idx, off,
					want, &got);
	/* The cursor moves past what was taken (and past empty elements). */
	*idx_out = idx + osp_iov_seek(&piov[idx], cnt - idx, off + got, off_out);
	return got;
}

static void
bdev_split_resume(void *arg)
{
	bdev_split_next(arg);
}

static void
bdev_split_child_done(struct osp_bdev_io *child, bool success, void *arg)
{
	struct osp_bdev_io *parent = arg;
	__typeof__(parent->internal.u.split) *s = &parent->internal.u.split;

	if (!success && s->status == OSP_BDEV_IO_STATUS_SUCCESS) {
		s->status = child->internal.status;
		parent->internal.nvme_sct = child->internal.nvme_sct;
		parent->internal.nvme_sc = child->internal.nvme_sc;
	}
	bdev_io_release(child);
	s->outstanding--;
	if (s->outstanding == 0 && (s->remaining == 0 || s->status != OSP_BDEV_IO_STATUS_SUCCESS)) {
		parent->internal.status = s->status;
		bdev_io_done(parent);
		return;
	}
	if (s->status == OSP_BDEV_IO_STATUS_SUCCESS) {
		bdev_split_next(parent);
	}
}

static void
bdev_split_next(struct osp_bdev_io *parent)
{
	struct osp_bdev_channel *ch = parent->internal.ch;
	uint32_t blocklen = parent->bdev->blocklen;
	__typeof__(parent->internal.u.split) *s = &parent->internal.u.split;
	struct osp_bdev_io *child;
	uint64_t nblocks;
	size_t want, got, keep, off = 0;
	int iovcnt = 0, idx = 0;

	while (s->remaining > 0 && s->outstanding < BDEV_SPLIT_MAX_INFLIGHT &&
	       s->status == OSP_BDEV_IO_STATUS_SUCCESS) {
		nblocks = OSP_MIN(s->remaining, bdev_split_max_blocks(parent, s->offset));
		child = bdev_io_get(ch->mgmt);
		if (child == NULL) {
			if (s->outstanding == 0) {
				bdev_io_wait_internal(parent, bdev_split_resume);
			}
			return;
		}
		want = nblocks * blocklen;
		if (s->mode & BDEV_SPLIT_ZEROES) {
			child->internal.child_iovs[0].iov_base = g_bdev.zero_buf;
			child->internal.child_iovs[0].iov_len = want;
			iovcnt = 1;
		} else {
			got = bdev_split_fill_iovs(parent, child->internal.child_iovs, &iovcnt, want,
						   &idx, &off);
			if (got < want) {
				keep = got - got % blocklen;
				if (idx >= parent->u.bdev.iovcnt || keep == 0) {
					OSP_ERRLOG("bdev %s: %s buffers do not cover the I/O, or a block "
						   "spans more than %d iovecs\n", parent->bdev->name,
						   idx >= parent->u.bdev.iovcnt ? "the" : "",
						   OSP_BDEV_IO_CHILD_IOVS);
					bdev_io_put(ch->mgmt, child);
					s->status = OSP_BDEV_IO_STATUS_FAILED;
					break;
				}
				nblocks = keep / blocklen;
				bdev_split_fill_iovs(parent, child->internal.child_iovs, &iovcnt, keep,
						     &idx, &off);
			}
			s->iov_idx = idx;
			s->iov_off = off;
		}
		bdev_child_init(child, parent, s->child_type, s->offset, nblocks,
				bdev_split_child_done);
		child->u.bdev.iovcnt = iovcnt;
		s->offset += nblocks;
		s->remaining -= nblocks;
		s->outstanding++;
		bdev_io_exec(child);
	}
	if (s->outstanding == 0 && s->status != OSP_BDEV_IO_STATUS_SUCCESS) {
		bdev_io_fail_deferred(parent, s->status);
	}
}

void
bdev_split_start(struct osp_bdev_io *bdev_io, uint8_t mode, uint8_t child_type)
{
	__typeof__(bdev_io->internal.u.split) *s = &bdev_io->internal.u.split;

	s->offset = bdev_io->u.bdev.offset_blocks;
	s->remaining = bdev_io->u.bdev.num_blocks;
	s->iov_idx = 0;
	s->iov_off = 0;
	s->outstanding = 0;
	s->status = OSP_BDEV_IO_STATUS_SUCCESS;
	s->mode = mode;
	s->child_type = child_type;
	if (!(mode & BDEV_SPLIT_ZEROES) && (bdev_io_needs_bounce(bdev_io) ||
					    (bdev_io->type == OSP_BDEV_IO_TYPE_COMPARE &&
					     !bdev_ch_native(bdev_io->internal.ch,
							     OSP_BDEV_IO_TYPE_COMPARE)))) {
		s->mode |= BDEV_SPLIT_CLAMP;
	}
	bdev_split_next(bdev_io);
}

/* ---- bounce ---- */

static void
bdev_bounce_buf_ready(struct osp_bdev_io *bdev_io, void *buf)
{
	size_t len = bdev_io->internal.buf_wait_len;

	bdev_io->internal.bounce_buf = buf;
	bdev_io->internal.bounce_len = len;
	bdev_io->internal.orig_iovs = bdev_io->u.bdev.iovs;
	bdev_io->internal.orig_iovcnt = bdev_io->u.bdev.iovcnt;
	if (bdev_io->type != OSP_BDEV_IO_TYPE_READ) {
		osp_iov_copy_to_buf(buf, len, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0);
	}
	bdev_io->internal.bounce_iov.iov_base = buf;
	bdev_io->internal.bounce_iov.iov_len = len;
	bdev_io->u.bdev.iovs = &bdev_io->internal.bounce_iov;
	bdev_io->u.bdev.iovcnt = 1;
	bdev_io->internal.flags |= BDEV_IO_BOUNCED;
	bdev_io_submit_module(bdev_io);
}

void
bdev_bounce_start(struct osp_bdev_io *bdev_io)
{
	size_t len = bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen;

	if (len > OSP_BDEV_LARGE_BUF_MAX_SIZE) {
		bdev_io_fail_deferred(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	bdev_buf_get(bdev_io, len, bdev_bounce_buf_ready);
}

/* ---- compare emulation: read and memcmp ---- */

static void
bdev_compare_read_done(struct osp_bdev_io *child, bool success, void *arg)
{
	struct osp_bdev_io *bdev_io = arg;
	int8_t status = child->internal.status;

	bdev_io_release(child);
	if (success) {
		status = osp_iov_cmp_buf(bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0,
					 bdev_io->internal.u.cmp.buf,
					 bdev_io->internal.u.cmp.len, NULL) == 0 ?
			 OSP_BDEV_IO_STATUS_SUCCESS : OSP_BDEV_IO_STATUS_MISCOMPARE;
	}
	bdev_buf_put(bdev_io->internal.ch->mgmt, bdev_io->internal.u.cmp.buf,
		     bdev_io->internal.u.cmp.len);
	bdev_io->internal.u.cmp.buf = NULL;
	bdev_io->internal.status = status;
	bdev_io_done(bdev_io);
}

static void
bdev_compare_submit_read(void *arg)
{
	struct osp_bdev_io *bdev_io = arg, *child;

	child = bdev_io_get(bdev_io->internal.ch->mgmt);
	if (child == NULL) {
		bdev_io_wait_internal(bdev_io, bdev_compare_submit_read);
		return;
	}
	bdev_child_init(child, bdev_io, OSP_BDEV_IO_TYPE_READ, bdev_io->u.bdev.offset_blocks,
			bdev_io->u.bdev.num_blocks, bdev_compare_read_done);
	child->internal.child_iovs[0].iov_base = bdev_io->internal.u.cmp.buf;
	child->internal.child_iovs[0].iov_len = bdev_io->internal.u.cmp.len;
	child->u.bdev.iovcnt = 1;
	bdev_io_exec(child);
}

static void
bdev_compare_buf_ready(struct osp_bdev_io *bdev_io, void *buf)
{
	bdev_io->internal.u.cmp.buf = buf;
	bdev_io->internal.u.cmp.len = bdev_io->internal.buf_wait_len;
	bdev_compare_submit_read(bdev_io);
}

void
bdev_compare_emulate(struct osp_bdev_io *bdev_io)
{
	size_t len = bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen;

	if (len > OSP_BDEV_LARGE_BUF_MAX_SIZE) {
		bdev_io_fail_deferred(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	bdev_buf_get(bdev_io, len, bdev_compare_buf_ready);
}
/* ---- compare-and-write emulation and LBA range locks ---- */

static void
bdev_cw_write_done(struct osp_bdev_io *child, bool success, void *arg)
{
	struct osp_bdev_io *bdev_io = arg;

	bdev_io->internal.status = child->internal.status;
	bdev_io_release(child);
	bdev_io_done(bdev_io);
}

static void
bdev_cw_submit_write(void *arg)
{
	struct osp_bdev_io *bdev_io = arg, *child;

	child = bdev_io_get(bdev_io->internal.ch->mgmt);
	if (child == NULL) {
		bdev_io_wait_internal(bdev_io, bdev_cw_submit_write);
		return;
	}
	bdev_child_init(child, bdev_io, OSP_BDEV_IO_TYPE_WRITE, bdev_io->u.bdev.offset_blocks,
			bdev_io->u.bdev.num_blocks, bdev_cw_write_done);
	child->u.bdev.iovs = bdev_io->u.bdev.fused_iovs;
	child->u.bdev.iovcnt = bdev_io->u.bdev.fused_iovcnt;
	bdev_io_exec(child);
}

static void
bdev_cw_compare_done(struct osp_bdev_io *child, bool success, void *arg)
{
	struct osp_bdev_io *bdev_io = arg;

	bdev_io->internal.status = child->internal.status;
	bdev_io_release(child);
	if (!success) {
		bdev_io_done(bdev_io);
		return;
	}
	bdev_cw_submit_write(bdev_io);
}

/* Runs with the range locked, on the executing channel. */
void
bdev_cw_exec(void *arg)
{
	struct osp_bdev_io *bdev_io = arg, *child;

	child = bdev_io_get(bdev_io->internal.ch->mgmt);
	if (child == NULL) {
		bdev_io_wait_internal(bdev_io, bdev_cw_exec);
		return;
	}
	bdev_child_init(child, bdev_io, OSP_BDEV_IO_TYPE_COMPARE, bdev_io->u.bdev.offset_blocks,
			bdev_io->u.bdev.num_blocks, bdev_cw_compare_done);
	child->u.bdev.iovs = bdev_io->u.bdev.iovs;
	child->u.bdev.iovcnt = bdev_io->u.bdev.iovcnt;
	bdev_io_exec(child);
}

static bool
bdev_lock_conflicts(struct bdev_io_tailq *list, const struct osp_bdev_io *lock,
		    const struct osp_bdev_io *stop)
{
	const struct osp_bdev_io *l;

	TAILQ_FOREACH(l, list, internal.u.lock.link) {
		if (l == stop) {
			break;
		}
		if (l != lock && bdev_ranges_overlap(l->u.bdev.offset_blocks, l->u.bdev.num_blocks,
						     lock->u.bdev.offset_blocks,
						     lock->u.bdev.num_blocks)) {
			return true;
		}
	}
	return false;
}

static bool
bdev_channel_has_range(const struct osp_bdev_channel *ch, const struct osp_bdev_io *lock)
{
	uint32_t i;

	for (i = 0; i < ch->nranges; i++) {
		if (ch->ranges[i] == lock) {
			return true;
		}
	}
	return false;
}

static int
bdev_channel_add_range(struct osp_bdev_channel *ch, struct osp_bdev_io *lock)
{
	if (ch->nranges == ch->ranges_cap) {
		uint32_t cap = ch->ranges_cap ? ch->ranges_cap * 2 : 4;
		struct osp_bdev_io **r = realloc(ch->ranges, cap * sizeof(*r));

		if (r == NULL) {
			return -ENOMEM;
		}
		ch->ranges = r;
		ch->ranges_cap = cap;
	}
	ch->ranges[ch->nranges++] = lock;
	ch->flags |= BDEV_CH_LOCKED;
	return 0;
}

static void
bdev_lock_add_step(struct osp_io_channel_iter *i)
{
	struct osp_bdev_io *lock = osp_io_channel_iter_get_ctx(i);
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));

	if (bdev_channel_has_range(ch, lock)) {
		/* Copied when the channel was created: all its I/O was checked against it. */
		osp_for_each_channel_continue(i, 0);
		return;
	}
	if (bdev_channel_add_range(ch, lock) != 0) {
		osp_for_each_channel_continue(i, -ENOMEM);
		return;
	}
	lock->internal.u.lock.iter = i;
	if (ch->drain_owner != NULL) {
		STAILQ_INSERT_TAIL(&ch->drain_waiters, lock, internal.u.lock.drain_link);
		return;
	}
	bdev_lock_drain_begin(ch, lock);
}

static void
bdev_lock_add_done(struct osp_io_channel_iter *i, int status)
{
	struct osp_bdev_io *bdev_io = osp_io_channel_iter_get_ctx(i);
	struct osp_bdev_channel *ch = bdev_io->internal.user_ch;

	bdev_io->internal.flags |= BDEV_IO_LOCKED;
	if (status != 0) {
		OSP_ERRLOG("bdev %s: cannot lock blocks %" PRIu64 "+%" PRIu64 ": %d\n",
			   bdev_io->bdev->name, bdev_io->u.bdev.offset_blocks,
			   bdev_io->u.bdev.num_blocks, status);
		bdev_io->internal.status = OSP_BDEV_IO_STATUS_FAILED;
		bdev_io_complete_user(bdev_io);
		return;
	}
	bdev_io->internal.flags |= BDEV_IO_GEN;
	bdev_io->internal.gen = ch->gen;
	ch->gen_outstanding[ch->gen]++;
	if (ch->flags & BDEV_CH_QOS) {
		bdev_qos_submit(bdev_io);
		return;
	}
	bdev_io_exec(bdev_io);
}

static void
bdev_lock_propagate(void *arg)
{
	struct osp_bdev_io *bdev_io = arg;

	osp_for_each_channel(bdev_io->bdev, bdev_lock_add_step, bdev_io, bdev_lock_add_done);
}

void
bdev_cw_lock(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_internal *in = bdev_io->bdev->internal;

	bdev_io->internal.u.lock.thread = bdev_io->internal.user_ch->thread;
	bdev_io->internal.u.lock.releasing = false;
	bdev_io->internal.u.lock.iter = NULL;
	pthread_mutex_lock(&in->mutex);
	if (bdev_lock_conflicts(&in->locked_ranges, bdev_io, NULL) ||
	    bdev_lock_conflicts(&in->pending_locks, bdev_io, NULL)) {
		TAILQ_INSERT_TAIL(&in->pending_locks, bdev_io, internal.u.lock.link);
		pthread_mutex_unlock(&in->mutex);
		return;
	}
	TAILQ_INSERT_TAIL(&in->locked_ranges, bdev_io, internal.u.lock.link);
	pthread_mutex_unlock(&in->mutex);
	bdev_lock_propagate(bdev_io);
}

static void
bdev_lock_remove_step(struct osp_io_channel_iter *i)
{
	struct osp_bdev_io *lock = osp_io_channel_iter_get_ctx(i), *w;
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));
	struct bdev_io_tailq waiting;
	uint32_t k;

	for (k = 0; k < ch->nranges; k++) {
		if (ch->ranges[k] == lock) {
			ch->ranges[k] = ch->ranges[--ch->nranges];
			break;
		}
	}
	if (ch->nranges == 0) {
		ch->flags &= ~BDEV_CH_LOCKED;
	}
	TAILQ_INIT(&waiting);
	TAILQ_CONCAT(&waiting, &ch->locked_io, internal.link.tq);
	while ((w = TAILQ_FIRST(&waiting)) != NULL) {
		TAILQ_REMOVE(&waiting, w, internal.link.tq);
		if (bdev_io_blocked_by_lock(ch, w)) {
			TAILQ_INSERT_TAIL(&ch->locked_io, w, internal.link.tq);
		} else {
			bdev_io_dispatch(w);
		}
	}
	osp_for_each_channel_continue(i, 0);
}

static void
bdev_lock_remove_done(struct osp_io_channel_iter *i, int status)
{
	struct osp_bdev_io *bdev_io = osp_io_channel_iter_get_ctx(i), *p, *tmp;
	struct osp_bdev_internal *in = bdev_io->bdev->internal;

	pthread_mutex_lock(&in->mutex);
	TAILQ_REMOVE(&in->locked_ranges, bdev_io, internal.u.lock.link);
	TAILQ_FOREACH_SAFE(p, &in->pending_locks, internal.u.lock.link, tmp) {
		if (bdev_lock_conflicts(&in->locked_ranges, p, NULL) ||
		    bdev_lock_conflicts(&in->pending_locks, p, p)) {
			continue;
		}
		TAILQ_REMOVE(&in->pending_locks, p, internal.u.lock.link);
		TAILQ_INSERT_TAIL(&in->locked_ranges, p, internal.u.lock.link);
		if (osp_thread_send_msg(p->internal.u.lock.thread, bdev_lock_propagate, p) != 0) {
			OSP_ERRLOG("cannot start a range lock of bdev %s\n", p->bdev->name);
		}
	}
	pthread_mutex_unlock(&in->mutex);
	bdev_io->internal.flags &= ~BDEV_IO_LOCKED;
	bdev_io_finish(bdev_io);
}

void
bdev_lock_release(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_internal *in = bdev_io->bdev->internal;

	pthread_mutex_lock(&in->mutex);
	bdev_io->internal.u.lock.releasing = true;
	pthread_mutex_unlock(&in->mutex);
	osp_for_each_channel(bdev_io->bdev, bdev_lock_remove_step, bdev_io,
			     bdev_lock_remove_done);
}
