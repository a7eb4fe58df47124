/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared unit tests of the file-backed bdev modules (aio, uring): each test
 * creates a bdev on a temporary file (in a mkdtemp directory) through the
 * module's create function and drives it through the bdev API on one test
 * thread, checking the bytes in the file with pread/pwrite (so offsets,
 * lengths and iovecs are mapped right), and the bytes read back through the
 * bdev.
 *
 * Kernel AIO and io_uring complete asynchronously: ut_fb_wait_for() polls the
 * test thread until the callback ran (with a deadline), no sleeps in the
 * happy path.
 *
 * The code (ut_file_bdev.c) is in test/common's archive, linked only by the
 * tests that call it (it needs lib/bdev).
 */
#ifndef OSP_UT_FILE_BDEV_H
#define OSP_UT_FILE_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <CUnit/Basic.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"

/* What the shared tests need of a module. */
struct ut_file_bdev_module {
	/* As osp_bdev_get_module_name() reports it; also names the temp directory. */
	const char *name;
	/* Create a bdev of this module on the file at path (its create RPC's function). */
	int (*create)(const char *path, const char *name, uint32_t block_size, bool fallocate,
		      struct osp_bdev **bdev, char *err, size_t errlen);
	int (*del)(const char *name, osp_bdev_unregister_cb cb, void *arg);
	int (*rescan)(const char *name);
	/*
	 * Whether the module can work here at all (io_uring may be refused); the
	 * I/O tests are skipped if not. NULL: always.
	 */
	bool (*available)(void);
};

/*
 * Register the shared tests (and extra_tests(suite), if not NULL) in one suite
 * called name whose init starts the env, one test thread, the bdev layer and a
 * temporary directory; run them with ut_run_suites(). Returns its result.
 */
int ut_file_bdev_run_suite(const char *name, const struct ut_file_bdev_module *mod,
			   void (*extra_tests)(CU_pSuite suite));

/* The file the tests put bdevs on (in the suite's temporary directory). */
extern char ut_fb_path[300];
/* Completions seen by ut_fb_io_cb and the last one's success. */
extern int ut_fb_done;
extern bool ut_fb_success;

/* I/O callback: records success, counts ut_fb_done, frees the bdev_io. */
void ut_fb_io_cb(struct osp_bdev_io *bdev_io, bool success, void *arg);
/* Poll the test threads until *flag reaches want; false after 5 s. */
bool ut_fb_wait_for(int *flag, int want);
/* Given a submit's rc (asserted 0), wait for its one completion; true if it came. */
bool ut_fb_run_io(int rc);
/* (Re)create ut_fb_path with size bytes (sparse). */
void ut_fb_make_file(size_t size);
/* Read / write (and fsync) ut_fb_path directly, asserting the whole length. */
void ut_fb_pread(void *buf, size_t len, off_t off);
void ut_fb_pwrite(const void *buf, size_t len, off_t off);
/* An event callback that ignores events (for osp_bdev_open_ext). */
void ut_fb_event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx);
/* Delete bdev name through the module and wait until it is gone. */
void ut_fb_delete_bdev(const char *name);
/* A pattern depending on seed and the position in buf. */
void ut_fb_fill(uint8_t *buf, size_t len, uint8_t seed);

#endif /* OSP_UT_FILE_BDEV_H */
