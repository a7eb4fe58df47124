/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data buffers of the bdev layer: the glue between bdev_ios and the iobuf
 * pools (lib/thread/iobuf.c, doc/iobuf.md). Each management channel holds an
 * iobuf channel per pool (small, large); a bdev_io waits there, in order,
 * when the cache and the pool are empty. Used by the bounce and compare
 * emulation, osp_bdev_io_get_buf() for modules and osp_bdev_buf_get/put()
 * for users that need a buffer outside an I/O.
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

/* ---- buffers of the layer ---- */

void
bdev_buf_put(struct bdev_mgmt_channel *mgmt, void *buf, size_t len)
{
	osp_iobuf_put(len <= OSP_BDEV_SMALL_BUF_MAX_SIZE ? &mgmt->small : &mgmt->large, buf);
}

static void
bdev_buf_waited(struct osp_iobuf_entry *entry, void **bufs)
{
	struct osp_bdev_io *bdev_io = OSP_CONTAINEROF(entry, struct osp_bdev_io,
					internal.iobuf_entry);

	bdev_io->internal.buf_done(bdev_io, bufs[0]);
}

/*
 * Get a buffer of len bytes (<= OSP_BDEV_LARGE_BUF_MAX_SIZE) for bdev_io on
 * its channel's thread; done(bdev_io, buf) runs now or when one is free.
 */
void
bdev_buf_get(struct osp_bdev_io *bdev_io, size_t len,
	     void (*done)(struct osp_bdev_io *bdev_io, void *buf))
{
	struct bdev_mgmt_channel *mgmt = bdev_io->internal.ch->mgmt;
	void *buf;

	bdev_io->internal.buf_done = done;
	bdev_io->internal.buf_wait_len = len;
	buf = osp_iobuf_get(len <= OSP_BDEV_SMALL_BUF_MAX_SIZE ? &mgmt->small : &mgmt->large,
			    &bdev_io->internal.iobuf_entry, bdev_buf_waited);
	if (buf != NULL) {
		done(bdev_io, buf);
	}
}

/* Same pool choice as bdev_buf_get/put, so that a buffer goes back where it came from. */
static struct osp_iobuf_pool *
bdev_buf_pool(size_t len)
{
	return len <= OSP_BDEV_SMALL_BUF_MAX_SIZE ? g_bdev.small : g_bdev.large;
}

void *
osp_bdev_buf_get(size_t len)
{
	if (len > OSP_BDEV_LARGE_BUF_MAX_SIZE || g_bdev.small == NULL) {
		return NULL;
	}
	return osp_iobuf_pool_get(bdev_buf_pool(len));
}

void
osp_bdev_buf_put(void *buf, size_t len)
{
	if (buf == NULL) {
		return;
	}
	osp_iobuf_pool_put(bdev_buf_pool(len), buf);
}

/* ---- buffers for modules ---- */

static void
bdev_io_get_buf_done(struct osp_bdev_io *bdev_io, void *buf)
{
	bdev_io->internal.buf = buf;
	bdev_io->internal.buf_len = bdev_io->internal.buf_wait_len;
	bdev_io->u.bdev.iovs[0].iov_base = buf;
	bdev_io->u.bdev.iovs[0].iov_len = bdev_io->internal.buf_len;
	bdev_io->internal.get_buf_cb(bdev_io->internal.ch->module_ch, bdev_io, true);
}

void
osp_bdev_io_get_buf(struct osp_bdev_io *bdev_io, osp_bdev_io_get_buf_cb cb, uint64_t len)
{
	struct osp_io_channel *mch = bdev_io->internal.ch->module_ch;

	if (bdev_io->u.bdev.iovs != NULL && bdev_io->u.bdev.iovcnt > 0 &&
	    bdev_io->u.bdev.iovs[0].iov_base != NULL) {
		cb(mch, bdev_io, true);
		return;
	}
	if (len > OSP_BDEV_LARGE_BUF_MAX_SIZE || bdev_io->u.bdev.iovs == NULL ||
	    bdev_io->u.bdev.iovcnt <= 0) {
		cb(mch, bdev_io, false);
		return;
	}
	bdev_io->internal.get_buf_cb = cb;
	bdev_buf_get(bdev_io, (size_t)len, bdev_io_get_buf_done);
}
