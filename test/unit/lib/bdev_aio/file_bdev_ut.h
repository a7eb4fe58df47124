/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared unit tests of the file-backed bdev modules (aio_ut.c, uring_ut.c):
 * each test creates a bdev on a temporary file through the module's create
 * function and drives it through the bdev API on one test thread, checking
 * the bytes in the file with pread/pwrite (so offsets, lengths and iovecs are
 * mapped right), and the bytes read back through the bdev.
 *
 * Kernel AIO and io_uring complete asynchronously: wait_done() polls the test
 * thread until the callback ran (with a deadline), no sleeps in the happy path.
 */
#ifndef FILE_BDEV_UT_H
#define FILE_BDEV_UT_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/thread.h"

#include "ut_env.h"
#include "ut_run.h"
#include "ut_thread.h"

/* Provided by the test file: create a bdev of this module. */
static int ut_create(const char *path, const char *name, uint32_t block_size, bool fallocate,
		     struct osp_bdev **bdev, char *err, size_t errlen);
static int ut_delete(const char *name, osp_bdev_unregister_cb cb, void *arg);
static int ut_rescan(const char *name);
/* Whether the module can work here at all (io_uring may be refused); tests skip if not. */
static bool ut_available(void);
static const char *g_module_name;
static bool g_skip;

static char g_dir[256];
static char g_path[300];
static int g_done;
static bool g_success;

static void
io_cb(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	g_success = success;
	g_done++;
	osp_bdev_free_io(bdev_io);
}

/* Poll until *flag reaches want, or 5 s passed. */
static bool
wait_for(int *flag, int want)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (*flag < want) {
		ut_poll_threads();
		if (*flag >= want) {
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5) {
			return false;
		}
		usleep(50);
	}
	return true;
}

static bool
run_io(int rc)
{
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0) {
		return false;
	}
	g_done = 0;
	CU_ASSERT(wait_for(&g_done, 1));
	return g_done == 1;
}

static void
init_done(void *arg, int rc)
{
	*(int *)arg = rc == 0 ? 1 : -1;
}

static void
fini_done(void *arg)
{
	*(int *)arg = 1;
}

static int
suite_init(void)
{
	int done = 0;

	ut_env_init();
	if (ut_allocate_threads(1) != 0) {
		return -1;
	}
	ut_set_thread(0);
	osp_bdev_initialize(init_done, &done);
	ut_poll_threads();
	if (done != 1) {
		return -1;
	}
	snprintf(g_dir, sizeof(g_dir), "/tmp/osp_%s_ut_XXXXXX", g_module_name);
	if (mkdtemp(g_dir) == NULL) {
		return -1;
	}
	snprintf(g_path, sizeof(g_path), "%s/disk.img", g_dir);
	g_skip = !ut_available();
	if (g_skip) {
		printf("%s: not available here: skipping the I/O tests\n", g_module_name);
	}
	return 0;
}

static int
suite_fini(void)
{
	int done = 0;

	osp_bdev_finish(fini_done, &done);
	wait_for(&done, 1);
	ut_free_threads();
	unlink(g_path);
	rmdir(g_dir);
	return done == 1 ? 0 : -1;
}

static void
make_file(size_t size)
{
	int fd = open(g_path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void
file_pread(void *buf, size_t len, off_t off)
{
	int fd = open(g_path, O_RDONLY);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void
file_pwrite(const void *buf, size_t len, off_t off)
{
	int fd = open(g_path, O_WRONLY);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pwrite(fd, buf, len, off), (ssize_t)len);
	CU_ASSERT_EQUAL(fsync(fd), 0);
	close(fd);
}

static void
event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
}

static int g_deleted;

static void
delete_done(void *arg, int rc)
{
	CU_ASSERT_EQUAL(rc, 0);
	g_deleted++;
}

static void
delete_bdev(const char *name)
{
	g_deleted = 0;
	CU_ASSERT_EQUAL(ut_delete(name, delete_done, NULL), 0);
	CU_ASSERT(wait_for(&g_deleted, 1));
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name(name));
}

static void
fill(uint8_t *buf, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
	}
}

/* ---- tests ---- */

static void
test_create_bad_input(void)
{
	struct osp_bdev *bdev = NULL;
	char err[256], missing[320];

	if (g_skip) {
		return;
	}
	make_file(1 << 20);
	snprintf(missing, sizeof(missing), "%s/missing.img", g_dir);
	err[0] = '\0';
	CU_ASSERT_EQUAL(ut_create(missing, "B0", 0, false, &bdev, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, missing));
	CU_ASSERT_EQUAL(ut_create(g_path, "B0", 1000, false, &bdev, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "1000"));
	CU_ASSERT_EQUAL(ut_create(g_path, "B0", 256, false, &bdev, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(ut_create(g_path, "B0", 3072, false, &bdev, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(ut_create(g_path, "", 512, false, &bdev, err, sizeof(err)), -EINVAL);
	/* Larger than the file. */
	CU_ASSERT_EQUAL(ut_create(g_path, "B0", 1 << 21, false, &bdev, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("B0"));

	CU_ASSERT_EQUAL(ut_create(g_path, "B0", 0, false, &bdev, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_bdev_get_block_size(bdev), 512);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(bdev), 2048);
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_module_name(bdev), g_module_name);
	err[0] = '\0';
	CU_ASSERT_EQUAL(ut_create(g_path, "B0", 0, false, &bdev, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "B0"));
	delete_bdev("B0");
	CU_ASSERT_EQUAL(ut_delete("B0", delete_done, NULL), -ENODEV);

	CU_ASSERT_EQUAL(ut_create(g_path, "B1", 4096, false, &bdev, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(bdev), 256);
	CU_ASSERT_EQUAL(osp_bdev_get_buf_align(bdev), 4096);
	delete_bdev("B1");
}

/* Reads and writes land at offset_blocks * block_size, with one or several iovecs. */
static void
test_rw_mapping(void)
{
	struct osp_bdev_desc *desc = NULL;
	struct osp_io_channel *ch;
	struct osp_bdev *bdev = NULL;
	uint8_t *wbuf, *rbuf, *fbuf;
	struct iovec iov[3];
	char err[256];

	if (g_skip) {
		return;
	}
	make_file(4 << 20);
	CU_ASSERT_FATAL(ut_create(g_path, "RW0", 512, false, &bdev, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(osp_bdev_open_ext("RW0", true, event_cb, NULL, &desc) == 0);
	ch = osp_bdev_get_io_channel(desc);
	CU_ASSERT_FATAL(ch != NULL);
	wbuf = osp_dma_malloc(16384, 4096, NULL);
	rbuf = osp_dma_malloc(16384, 4096, NULL);
	fbuf = malloc(16384);
	CU_ASSERT_FATAL(wbuf != NULL && rbuf != NULL && fbuf != NULL);

	/* One buffer: 8 blocks at block 7. */
	fill(wbuf, 4096, 1);
	CU_ASSERT(run_io(osp_bdev_write_blocks(desc, ch, wbuf, 7, 8, io_cb, NULL)));
	CU_ASSERT(g_success);
	file_pread(fbuf, 4096, 7 * 512);
	CU_ASSERT_EQUAL(memcmp(fbuf, wbuf, 4096), 0);

	/* Data written behind the bdev's back reads back through it. */
	fill(fbuf, 8192, 2);
	file_pwrite(fbuf, 8192, 100 * 512);
	memset(rbuf, 0, 8192);
	CU_ASSERT(run_io(osp_bdev_read_blocks(desc, ch, rbuf, 100, 16, io_cb, NULL)));
	CU_ASSERT(g_success);
	CU_ASSERT_EQUAL(memcmp(rbuf, fbuf, 8192), 0);

	/* Three iovecs (preadv/pwritev): 1 + 2 + 1 blocks at block 2000. */
	fill(wbuf, 2048, 3);
	iov[0].iov_base = wbuf;
	iov[0].iov_len = 512;
	iov[1].iov_base = wbuf + 4096;
	iov[1].iov_len = 1024;
	iov[2].iov_base = wbuf + 8192;
	iov[2].iov_len = 512;
	fill(wbuf + 4096, 1024, 4);
	fill(wbuf + 8192, 512, 5);
	CU_ASSERT(run_io(osp_bdev_writev_blocks(desc, ch, iov, 3, 2000, 4, io_cb, NULL)));
	CU_ASSERT(g_success);
	file_pread(fbuf, 2048, 2000 * 512);
	CU_ASSERT_EQUAL(memcmp(fbuf, wbuf, 512), 0);
	CU_ASSERT_EQUAL(memcmp(fbuf + 512, wbuf + 4096, 1024), 0);
	CU_ASSERT_EQUAL(memcmp(fbuf + 1536, wbuf + 8192, 512), 0);
	memset(rbuf, 0, 16384);
	iov[0].iov_base = rbuf + 8192;
	iov[1].iov_base = rbuf;
	iov[2].iov_base = rbuf + 4096;
	CU_ASSERT(run_io(osp_bdev_readv_blocks(desc, ch, iov, 3, 2000, 4, io_cb, NULL)));
	CU_ASSERT(g_success);
	CU_ASSERT_EQUAL(memcmp(rbuf + 8192, fbuf, 512), 0);
	CU_ASSERT_EQUAL(memcmp(rbuf, fbuf + 512, 1024), 0);
	CU_ASSERT_EQUAL(memcmp(rbuf + 4096, fbuf + 1536, 512), 0);

	/* The last block of the device; one past it is refused by the layer. */
	fill(wbuf, 512, 6);
	CU_ASSERT(run_io(osp_bdev_write_blocks(desc, ch, wbuf, 8191, 1, io_cb, NULL)));
	CU_ASSERT(g_success);
	file_pread(fbuf, 512, 8191 * 512);
	CU_ASSERT_EQUAL(memcmp(fbuf, wbuf, 512), 0);
	CU_ASSERT_EQUAL(osp_bdev_write_blocks(desc, ch, wbuf, 8192, 1, io_cb, NULL), -EINVAL);

	/* A buffer that is not block aligned: the layer bounces it, the data is right. */
	fill(wbuf + 1, 1024, 7);
	CU_ASSERT(run_io(osp_bdev_write_blocks(desc, ch, wbuf + 1, 300, 2, io_cb, NULL)));
	CU_ASSERT(g_success);
	file_pread(fbuf, 1024, 300 * 512);
	CU_ASSERT_EQUAL(memcmp(fbuf, wbuf + 1, 1024), 0);
	memset(rbuf, 0, 2048);
	CU_ASSERT(run_io(osp_bdev_read_blocks(desc, ch, rbuf + 3, 300, 2, io_cb, NULL)));
	CU_ASSERT(g_success);
	CU_ASSERT_EQUAL(memcmp(rbuf + 3, wbuf + 1, 1024), 0);

	/* Flush and reset complete; unmap is not offered without fallocate. */
	CU_ASSERT(run_io(osp_bdev_flush_blocks(desc, ch, 0, 8192, io_cb, NULL)));
	CU_ASSERT(g_success);
	CU_ASSERT(run_io(osp_bdev_reset(desc, ch, io_cb, NULL)));
	CU_ASSERT(g_success);
	CU_ASSERT(!osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP));

	osp_dma_free(wbuf);
	osp_dma_free(rbuf);
	free(fbuf);
	osp_put_io_channel(ch);
	osp_bdev_close(desc);
	ut_poll_threads();
	delete_bdev("RW0");
}

/* Many I/Os in flight at once all complete, each with its own data. */
static void
test_queue_depth(void)
{
	struct osp_bdev_desc *desc = NULL;
	struct osp_io_channel *ch;
	struct osp_bdev *bdev = NULL;
	enum { QD = 200 };
	uint8_t *buf, *fbuf;
	char err[256];
	int i, rc = 0;

	if (g_skip) {
		return;
	}
	make_file(4 << 20);
	CU_ASSERT_FATAL(ut_create(g_path, "QD0", 4096, false, &bdev, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(osp_bdev_open_ext("QD0", true, event_cb, NULL, &desc) == 0);
	ch = osp_bdev_get_io_channel(desc);
	buf = osp_dma_malloc(QD * 4096, 4096, NULL);
	fbuf = malloc(QD * 4096);
	CU_ASSERT_FATAL(ch != NULL && buf != NULL && fbuf != NULL);
	fill(buf, QD * 4096, 9);
	g_done = 0;
	for (i = 0; i < QD && rc == 0; i++) {
		rc = osp_bdev_write_blocks(desc, ch, buf + (size_t)i * 4096, (uint64_t)(QD - 1 - i), 1,
					   io_cb, NULL);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(wait_for(&g_done, QD));
	CU_ASSERT_EQUAL(g_done, QD);
	file_pread(fbuf, QD * 4096, 0);
	for (i = 0; i < QD; i++) {
		CU_ASSERT_EQUAL(memcmp(fbuf + (size_t)(QD - 1 - i) * 4096, buf + (size_t)i * 4096,
				       4096), 0);
	}
	osp_dma_free(buf);
	free(fbuf);
	osp_put_io_channel(ch);
	osp_bdev_close(desc);
	ut_poll_threads();
	delete_bdev("QD0");
}

/* A read error from the kernel (the file shrank under the bdev) fails the I/O. */
static void
test_io_error(void)
{
	struct osp_bdev_desc *desc = NULL;
	struct osp_io_channel *ch;
	struct osp_bdev *bdev = NULL;
	uint8_t *buf;
	char err[256];

	if (g_skip) {
		return;
	}
	make_file(1 << 20);
	CU_ASSERT_FATAL(ut_create(g_path, "ER0", 512, false, &bdev, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(osp_bdev_open_ext("ER0", true, event_cb, NULL, &desc) == 0);
	ch = osp_bdev_get_io_channel(desc);
	buf = osp_dma_malloc(4096, 4096, NULL);
	CU_ASSERT_FATAL(ch != NULL && buf != NULL);
	CU_ASSERT_EQUAL(truncate(g_path, 4096), 0);
	/* Past the end of the file now: a short (empty) read. */
	CU_ASSERT(run_io(osp_bdev_read_blocks(desc, ch, buf, 100, 8, io_cb, NULL)));
	CU_ASSERT(!g_success);
	/* Rescan sees the smaller size. */
	osp_put_io_channel(ch);
	osp_bdev_close(desc);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ut_rescan("ER0"), 0);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(bdev), 8);
	CU_ASSERT_EQUAL(truncate(g_path, 1 << 20), 0);
	CU_ASSERT_EQUAL(ut_rescan("ER0"), 0);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(bdev), 2048);
	CU_ASSERT_EQUAL(ut_rescan("nope"), -ENODEV);
	osp_dma_free(buf);
	delete_bdev("ER0");
}

static int
run_suite(const char *name, void (*extra_tests)(CU_pSuite suite))
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite(name, suite_init, suite_fini);
	CU_add_test(suite, "create_bad_input", test_create_bad_input);
	CU_add_test(suite, "rw_mapping", test_rw_mapping);
	CU_add_test(suite, "queue_depth", test_queue_depth);
	CU_add_test(suite, "io_error", test_io_error);
	if (extra_tests != NULL) {
		extra_tests(suite);
	}
	return ut_run_suites();
}

#endif
