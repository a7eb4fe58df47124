/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the bdev module unit tests: the layer started on test
 * threads, descriptors, and synchronous wrappers around the I/O API that
 * poll the threads until the I/O completes. Each test binary links the real
 * lib/bdev and the modules under test (through their create functions).
 */
#ifndef BDEV_MODULES_UT_H
#define BDEV_MODULES_UT_H

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/thread.h"

#include "ut_env.h"
#include "ut_run.h"
#include "ut_thread.h"

#define UT_UNUSED __attribute__((unused))

/* ---- the layer ---- */

static UT_UNUSED void
ut_init_done(void *arg, int rc)
{
	*(int *)arg = rc;
}

static UT_UNUSED void
ut_fini_done(void *arg)
{
	*(int *)arg = 1;
}

/* Start env, nthreads test threads and the bdev layer (on thread 0). */
static UT_UNUSED int
ut_bdev_start(int nthreads)
{
	int rc = 1;

	ut_env_init();
	if (ut_allocate_threads(nthreads) != 0) {
		return -1;
	}
	ut_set_thread(0);
	osp_bdev_initialize(ut_init_done, &rc);
	ut_poll_threads();
	return rc;
}

static UT_UNUSED int
ut_bdev_stop(void)
{
	int done = 0;

	ut_set_thread(0);
	osp_bdev_finish(ut_fini_done, &done);
	ut_poll_threads();
	ut_free_threads();
	return done ? 0 : -1;
}

/* ---- descriptors ---- */

struct ut_desc {
	struct osp_bdev_desc *desc;
	struct osp_io_channel *ch;
	int thread;		/* test thread the channel belongs to */
	int removed;		/* REMOVE events seen */
	int resized;		/* RESIZE events seen */
};

static UT_UNUSED void
ut_event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	struct ut_desc *d = ctx;

	if (type == OSP_BDEV_EVENT_REMOVE) {
		d->removed++;
	} else if (type == OSP_BDEV_EVENT_RESIZE) {
		d->resized++;
	}
}

/* Open name on thread 0 and get a channel on thread `thread`. */
static UT_UNUSED int
ut_open(const char *name, bool write, int thread, struct ut_desc *d)
{
	int rc;

	memset(d, 0, sizeof(*d));
	ut_set_thread(0);
	rc = osp_bdev_open_ext(name, write, ut_event_cb, d, &d->desc);
	if (rc != 0) {
		return rc;
	}
	d->thread = thread;
	ut_set_thread(thread);
	d->ch = osp_bdev_get_io_channel(d->desc);
	ut_set_thread(0);
	return d->ch != NULL ? 0 : -ENOMEM;
}

static UT_UNUSED void
ut_close(struct ut_desc *d)
{
	if (d->ch != NULL) {
		ut_set_thread(d->thread);
		osp_put_io_channel(d->ch);
		d->ch = NULL;
	}
	ut_set_thread(0);
	if (d->desc != NULL) {
		osp_bdev_close(d->desc);
		d->desc = NULL;
	}
	ut_poll_threads();
}

/* ---- I/O ---- */

struct ut_io {
	int done;		/* completions seen (must end at 1) */
	bool success;
	int status;
	struct osp_thread *thread;	/* where the completion ran */
	void *buf;		/* for reads without a buffer: a copy of the data */
	size_t len;
};

static UT_UNUSED void
ut_io_cb(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	struct ut_io *io = arg;

	io->done++;
	io->success = success;
	io->status = osp_bdev_io_get_status(bdev_io);
	io->thread = osp_get_thread();
	if (io->buf != NULL) {
		struct iovec *iovs;
		int iovcnt;

		osp_bdev_io_get_iovec(bdev_io, &iovs, &iovcnt);
		osp_iov_copy_to_buf(io->buf, io->len, iovs, iovcnt, 0);
	}
	osp_bdev_free_io(bdev_io);
}

enum ut_op { UT_READ, UT_WRITE, UT_UNMAP, UT_WZ, UT_FLUSH, UT_RESET, UT_COMPARE };

/* Submit one I/O on d's thread without polling. Returns the submit's rc. */
static UT_UNUSED int
ut_submit(struct ut_desc *d, enum ut_op op, void *buf, uint64_t off, uint64_t n,
	  struct ut_io *io)
{
	int rc = -EINVAL;

	memset(io, 0, sizeof(*io));
	ut_set_thread(d->thread);
	switch (op) {
	case UT_READ:
		rc = osp_bdev_read_blocks(d->desc, d->ch, buf, off, n, ut_io_cb, io);
		break;
	case UT_WRITE:
		rc = osp_bdev_write_blocks(d->desc, d->ch, buf, off, n, ut_io_cb, io);
		break;
	case UT_UNMAP:
		rc = osp_bdev_unmap_blocks(d->desc, d->ch, off, n, ut_io_cb, io);
		break;
	case UT_WZ:
		rc = osp_bdev_write_zeroes_blocks(d->desc, d->ch, off, n, ut_io_cb, io);
		break;
	case UT_FLUSH:
		rc = osp_bdev_flush_blocks(d->desc, d->ch, off, n, ut_io_cb, io);
		break;
	case UT_RESET:
		rc = osp_bdev_reset(d->desc, d->ch, ut_io_cb, io);
		break;
	case UT_COMPARE:
		rc = osp_bdev_compare_blocks(d->desc, d->ch, buf, off, n, ut_io_cb, io);
		break;
	}
	ut_set_thread(0);
	return rc;
}

/*
 * Run one I/O to completion. Returns the submit's -errno, or the completion
 * status (enum osp_bdev_io_status, SUCCESS == 1).
 */
static UT_UNUSED int
ut_do(struct ut_desc *d, enum ut_op op, void *buf, uint64_t off, uint64_t n)
{
	struct ut_io io;
	int rc = ut_submit(d, op, buf, off, n, &io);

	if (rc != 0) {
		return rc;
	}
	ut_poll_threads();
	CU_ASSERT_EQUAL(io.done, 1);
	return io.done == 1 ? io.status : -ETIMEDOUT;
}

static UT_UNUSED void *
ut_buf(size_t len, int fill)
{
	void *p = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);

	if (p != NULL) {
		memset(p, fill, len);
	}
	return p;
}

/* A recognisable pattern: byte i of block b is (b * 31 + i * 7 + seed). */
static UT_UNUSED void
ut_pattern(uint8_t *buf, uint64_t first_block, uint64_t nblocks, uint32_t bs, int seed)
{
	uint64_t b;
	uint32_t i;

	for (b = 0; b < nblocks; b++) {
		for (i = 0; i < bs; i++) {
			buf[b * bs + i] = (uint8_t)((first_block + b) * 31 + i * 7 + seed);
		}
	}
}

/* ---- unregistering ---- */

static UT_UNUSED void
ut_unreg_cb(void *arg, int rc)
{
	int *out = arg;

	*out = rc == 0 ? 1 : rc;
}

/* Name of the RPC in the single call a bdev's write_config_json appends; params out. */
static UT_UNUSED const char *
ut_config_of(struct osp_bdev *bdev, cJSON **array_out, const cJSON **params)
{
	cJSON *array = cJSON_CreateArray();
	const cJSON *call, *method;

	*array_out = array;
	*params = NULL;
	if (bdev->fn_table->write_config_json == NULL) {
		return NULL;
	}
	bdev->fn_table->write_config_json(bdev, array);
	call = cJSON_GetArrayItem(array, 0);
	if (call == NULL) {
		return NULL;
	}
	method = cJSON_GetObjectItemCaseSensitive(call, "method");
	*params = cJSON_GetObjectItemCaseSensitive(call, "params");
	return cJSON_IsString(method) ? method->valuestring : NULL;
}

static UT_UNUSED double
ut_num(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static UT_UNUSED const char *
ut_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

#endif /* BDEV_MODULES_UT_H */
