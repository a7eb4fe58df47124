/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the aio bdev module (drivers/bdev/aio), compiled in: the
 * request mapping, error paths, flush on the helper thread when the kernel
 * refuses IOCB_CMD_FDSYNC, unmap/write_zeroes with fallocate, both ways of
 * reaping completions, eventfd draining and the per-thread channels.
 */
#include "../../../../../drivers/bdev/aio/bdev_aio.c"

#include "ut_file_bdev.h"
#include "ut_thread.h"

static int
ut_create(const char *path, const char *name, uint32_t block_size, bool fallocate,
	  struct osp_bdev **bdev, char *err, size_t errlen)
{
	struct bdev_aio_opts opts = {
		.filename = path, .name = name, .block_size = block_size, .fallocate = fallocate,
	};

	return bdev_aio_create(&opts, bdev, err, errlen);
}

static int
ut_delete(const char *name, osp_bdev_unregister_cb cb, void *arg)
{
	return bdev_aio_delete(name, cb, arg);
}

static int
ut_rescan(const char *name)
{
	return bdev_aio_rescan(name);
}

static bool
ut_available(void)
{
	return true;
}

struct aio_env {
	struct osp_bdev *bdev;
	struct osp_bdev_desc *desc;
	struct osp_io_channel *ch;
	struct aio_disk *disk;
	uint8_t *buf;
	uint8_t *fbuf;
};

static void
aio_env_open(struct aio_env *e, const char *name, bool fallocate)
{
	char err[256];

	memset(e, 0, sizeof(*e));
	ut_fb_make_file(1 << 20);
	CU_ASSERT_FATAL(ut_create(ut_fb_path, name, 512, fallocate, &e->bdev, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(osp_bdev_open_ext(name, true, ut_fb_event_cb, NULL, &e->desc) == 0);
	e->ch = osp_bdev_get_io_channel(e->desc);
	e->disk = e->bdev->ctxt;
	e->buf = osp_dma_malloc(65536, 4096, NULL);
	e->fbuf = malloc(65536);
	CU_ASSERT_FATAL(e->ch != NULL && e->buf != NULL && e->fbuf != NULL);
}

static void
aio_env_close(struct aio_env *e, const char *name)
{
	osp_dma_free(e->buf);
	free(e->fbuf);
	osp_put_io_channel(e->ch);
	osp_bdev_close(e->desc);
	ut_poll_threads();
	ut_fb_delete_bdev(name);
}

/* Completions reaped through io_getevents() instead of the mapped ring. */
static void
test_syscall_reap(void)
{
	struct aio_env e;

	aio_env_open(&e, "SR0", false);
	g_aio_user_reap = false;
	ut_fb_fill(e.buf, 4096, 11);
	CU_ASSERT(ut_fb_run_io(osp_bdev_write_blocks(e.desc, e.ch, e.buf, 16, 8, ut_fb_io_cb, NULL)));
	CU_ASSERT(ut_fb_success);
	memset(e.buf, 0, 4096);
	CU_ASSERT(ut_fb_run_io(osp_bdev_read_blocks(e.desc, e.ch, e.buf, 16, 8, ut_fb_io_cb, NULL)));
	CU_ASSERT(ut_fb_success);
	ut_fb_pread(e.fbuf, 4096, 16 * 512);
	CU_ASSERT_EQUAL(memcmp(e.fbuf, e.buf, 4096), 0);
	g_aio_user_reap = true;
	aio_env_close(&e, "SR0");
}

/* The kernel refused IOCB_CMD_FDSYNC: flushes go to the helper thread and still complete. */
static void
test_flush_helper(void)
{
	struct aio_env e;
	int i;

	aio_env_open(&e, "FH0", false);
	e.disk->fdsync_refused = true;
	for (i = 0; i < 3; i++) {
		CU_ASSERT(ut_fb_run_io(osp_bdev_flush_blocks(e.desc, e.ch, 0, 2048, ut_fb_io_cb, NULL)));
		CU_ASSERT(ut_fb_success);
	}
	CU_ASSERT(g_helper.running);
	aio_env_close(&e, "FH0");
}

/* An iocb the kernel refuses fails its I/O only; the next one still goes through. */
static void
test_refused_iocb(void)
{
	struct aio_env e;
	int fd;

	aio_env_open(&e, "RF0", false);
	fd = e.disk->d.file.fd;
	/* A descriptor io_submit() rejects (EBADF) for one I/O. */
	e.disk->d.file.fd = -1;
	CU_ASSERT(ut_fb_run_io(osp_bdev_read_blocks(e.desc, e.ch, e.buf, 0, 1, ut_fb_io_cb, NULL)));
	CU_ASSERT(!ut_fb_success);
	e.disk->d.file.fd = fd;
	CU_ASSERT(ut_fb_run_io(osp_bdev_read_blocks(e.desc, e.ch, e.buf, 0, 1, ut_fb_io_cb, NULL)));
	CU_ASSERT(ut_fb_success);
	aio_env_close(&e, "RF0");
}

/* fallocate: unmap punches a hole, write_zeroes zeroes; both read back as zeroes. */
static void
test_fallocate(void)
{
	struct aio_env e;
	static const uint8_t zero[4096];

	aio_env_open(&e, "FA0", true);
	CU_ASSERT(osp_bdev_io_type_supported(e.bdev, OSP_BDEV_IO_TYPE_UNMAP));
	CU_ASSERT(osp_bdev_io_type_supported(e.bdev, OSP_BDEV_IO_TYPE_WRITE_ZEROES));
	/* A punched hole reads back as zeroes: the layer can say so (SCSI LBPRZ). */
	CU_ASSERT(osp_bdev_unmap_reads_zeroes(e.bdev));
	ut_fb_fill(e.fbuf, 16384, 21);
	ut_fb_pwrite(e.fbuf, 16384, 0);

	CU_ASSERT(ut_fb_run_io(osp_bdev_unmap_blocks(e.desc, e.ch, 8, 8, ut_fb_io_cb, NULL)));
	CU_ASSERT(ut_fb_success);
	CU_ASSERT(ut_fb_run_io(osp_bdev_write_zeroes_blocks(e.desc, e.ch, 24, 8, ut_fb_io_cb, NULL)));
	CU_ASSERT(ut_fb_success);
	CU_ASSERT(ut_fb_run_io(osp_bdev_read_blocks(e.desc, e.ch, e.buf, 0, 32, ut_fb_io_cb, NULL)));
	CU_ASSERT(ut_fb_success);
	/* Blocks 0-7 and 16-23 keep their data; 8-15 and 24-31 read as zeroes. */
	CU_ASSERT_EQUAL(memcmp(e.buf, e.fbuf, 4096), 0);
	CU_ASSERT_EQUAL(memcmp(e.buf + 4096, zero, 4096), 0);
	CU_ASSERT_EQUAL(memcmp(e.buf + 8192, e.fbuf + 8192, 4096), 0);
	CU_ASSERT_EQUAL(memcmp(e.buf + 12288, zero, 4096), 0);
	aio_env_close(&e, "FA0");
}

/*
 * The eventfd is drained after a run of idle passes and nothing is lost: the
 * thread's interrupt fd stops being readable once drained, and a completion
 * arriving while the thread "sleeps" makes it readable again.
 */
static void
test_eventfd_drain(void)
{
	struct aio_env e;
	struct aio_group *g;
	struct osp_io_channel *gch;
	uint64_t val;
	int i;

	aio_env_open(&e, "EV0", false);
	/* No fallocate: no unmap, nothing to read back as zeroes. */
	CU_ASSERT(!osp_bdev_unmap_reads_zeroes(e.bdev));
	/* This thread's group channel (e.ch is the layer's channel, not ours). */
	gch = osp_get_io_channel(&g_aio_engine);
	CU_ASSERT_FATAL(gch != NULL);
	g = osp_io_channel_get_ctx(gch);
	CU_ASSERT(ut_fb_run_io(osp_bdev_read_blocks(e.desc, e.ch, e.buf, 0, 1, ut_fb_io_cb, NULL)));
	CU_ASSERT(g->fg.efd_dirty);
	for (i = 0; i < AIO_DRAIN_IDLE_PASSES + 1; i++) {
		ut_poll_thread(0);
	}
	CU_ASSERT(!g->fg.efd_dirty);
	CU_ASSERT(read(g->fg.efd, &val, sizeof(val)) < 0 && errno == EAGAIN);
	/* Submit, let the kernel complete it without polling: the eventfd has it. */
	ut_fb_done = 0;
	CU_ASSERT_EQUAL(osp_bdev_read_blocks(e.desc, e.ch, e.buf, 0, 1, ut_fb_io_cb, NULL), 0);
	ut_poll_thread(0);	/* io_submit */
	for (i = 0; i < 5000 && g->fg.inflight > 0; i++) {
		struct aio_ring *ring = (struct aio_ring *)g->ctx;

		if (__atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE) != ring->head) {
			break;
		}
		usleep(100);
	}
	CU_ASSERT(read(g->fg.efd, &val, sizeof(val)) == sizeof(val) && val >= 1);
	CU_ASSERT(ut_fb_wait_for(&ut_fb_done, 1));
	osp_put_io_channel(gch);
	aio_env_close(&e, "EV0");
}

/* A file system that refuses O_DIRECT gets a buffered bdev (tmpfs on older kernels). */
static void
test_shm_file(void)
{
	struct osp_bdev *bdev = NULL;
	struct osp_bdev_desc *desc = NULL;
	struct osp_io_channel *ch;
	struct aio_disk *disk;
	char path[64], err[256];
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/osp_aio_ut_%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		return;	/* no /dev/shm here */
	}
	CU_ASSERT_EQUAL(ftruncate(fd, 1 << 20), 0);
	close(fd);
	CU_ASSERT_FATAL(ut_create(path, "SHM0", 0, false, &bdev, err, sizeof(err)) == 0);
	disk = bdev->ctxt;
	CU_ASSERT_EQUAL(bdev->required_alignment, disk->d.file.direct ? 9 : 0);
	CU_ASSERT_FATAL(osp_bdev_open_ext("SHM0", true, ut_fb_event_cb, NULL, &desc) == 0);
	ch = osp_bdev_get_io_channel(desc);
	buf = osp_dma_malloc(4096, 4096, NULL);
	ut_fb_fill(buf, 4096, 31);
	CU_ASSERT(ut_fb_run_io(osp_bdev_write_blocks(desc, ch, buf, 0, 8, ut_fb_io_cb, NULL)));
	CU_ASSERT(ut_fb_success);
	memset(buf, 0, 4096);
	CU_ASSERT(ut_fb_run_io(osp_bdev_read_blocks(desc, ch, buf, 0, 8, ut_fb_io_cb, NULL)));
	CU_ASSERT(ut_fb_success);
	CU_ASSERT_EQUAL(buf[100], (uint8_t)(31 + 700));
	osp_dma_free(buf);
	osp_put_io_channel(ch);
	osp_bdev_close(desc);
	ut_poll_threads();
	ut_fb_delete_bdev("SHM0");
	unlink(path);
}

static void
aio_tests(CU_pSuite suite)
{
	CU_add_test(suite, "syscall_reap", test_syscall_reap);
	CU_add_test(suite, "flush_helper", test_flush_helper);
	CU_add_test(suite, "refused_iocb", test_refused_iocb);
	CU_add_test(suite, "fallocate", test_fallocate);
	CU_add_test(suite, "eventfd_drain", test_eventfd_drain);
	CU_add_test(suite, "shm_file", test_shm_file);
}

int
main(void)
{
	static const struct ut_file_bdev_module mod = {
		.name = "aio", .create = ut_create, .del = ut_delete, .rescan = ut_rescan,
		.available = ut_available,
	};

	return ut_file_bdev_run_suite("bdev_aio", &mod, aio_tests);
}
