/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bdev fixtures shared by the unit tests of the bdev modules and of the
 * layers above them (test/unit/drivers/bdev, lib/nvmf): the
 * layer started on ut_thread test threads, descriptors, and synchronous
 * wrappers around the I/O API that poll the threads until the I/O completes.
 * A test links the real lib/bdev and the modules it exercises. The code
 * (ut_bdev.c) is in test/common's archive: only the tests that call it link
 * it, so the tests of the libraries below lib/bdev need not link lib/bdev.
 */
#ifndef OSP_UT_BDEV_H
#define OSP_UT_BDEV_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <cJSON.h>

/* What a bdev test uses besides these fixtures, so that it includes one header. */
#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/thread.h"

#include "ut_env.h"
#include "ut_run.h"
#include "ut_thread.h"

struct osp_bdev_io;
struct osp_io_channel;
struct osp_thread;

/* ---- the layer ---- */

/*
 * Start the env, nthreads test threads and the bdev layer (on thread 0).
 * Returns 0, or non-zero when threads or the layer failed to start.
 */
int ut_bdev_start(int nthreads);
/* Finish the bdev layer on thread 0 and free the test threads; 0 or -1. */
int ut_bdev_stop(void);

/* ---- descriptors ---- */

struct ut_desc {
	struct osp_bdev_desc *desc;
	struct osp_io_channel *ch;
	int thread;		/* test thread the channel belongs to */
	int removed;		/* REMOVE events seen */
	int resized;		/* RESIZE events seen */
};

/* Event callback of ut_open(): counts REMOVE and RESIZE in the struct ut_desc ctx. */
void ut_event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx);
/* Open name on thread 0 and get a channel on thread `thread`; 0 or -errno. */
int ut_open(const char *name, bool write, int thread, struct ut_desc *d);
/* Put the channel (on its thread), close the descriptor, poll. */
void ut_close(struct ut_desc *d);

/* ---- I/O ---- */

struct ut_io {
	int done;		/* completions seen (must end at 1) */
	bool success;
	int status;
	struct osp_thread *thread;	/* where the completion ran */
	void *buf;		/* for reads without a buffer: a copy of the data */
	size_t len;
};

enum ut_op { UT_READ, UT_WRITE, UT_UNMAP, UT_WZ, UT_FLUSH, UT_RESET, UT_COMPARE };

/* Completion callback filling the struct ut_io arg; frees the bdev_io. */
void ut_io_cb(struct osp_bdev_io *bdev_io, bool success, void *arg);
/* Submit one I/O on d's thread without polling. Returns the submit's rc. */
int ut_submit(struct ut_desc *d, enum ut_op op, void *buf, uint64_t off, uint64_t n,
	      struct ut_io *io);
/*
 * Run one I/O to completion. Returns the submit's -errno, or the completion
 * status (enum osp_bdev_io_status, SUCCESS == 1).
 */
int ut_do(struct ut_desc *d, enum ut_op op, void *buf, uint64_t off, uint64_t n);
/* A 4 KiB-aligned buffer of len bytes set to fill (free()), or NULL. */
void *ut_buf(size_t len, int fill);
/* A recognisable pattern: byte i of block b is (b * 31 + i * 7 + seed). */
void ut_pattern(uint8_t *buf, uint64_t first_block, uint64_t nblocks, uint32_t bs, int seed);

/* ---- unregistering and config ---- */

/* Unregister callback: *(int *)arg = 1 on success, else the negative rc. */
void ut_unreg_cb(void *arg, int rc);
/*
 * Name of the RPC in the single call a bdev's write_config_json appends (NULL
 * if none); *params gets its params. Free *array_out with cJSON_Delete().
 */
const char *ut_config_of(struct osp_bdev *bdev, cJSON **array_out, const cJSON **params);
/* obj[key] as a number (-1 if absent), as a string ("" if absent). */
double ut_num(const cJSON *obj, const char *key);
const char *ut_str(const cJSON *obj, const char *key);

#endif /* OSP_UT_BDEV_H */
