/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The uring bdev module: a file or block device accessed with io_uring and
 * O_DIRECT.
 *
 * Threading: every thread doing I/O on uring bdevs gets one "group" channel
 * (one ring, one eventfd, one poller) shared by all uring bdevs; each bdev
 * has a per-thread channel counting its I/O in flight (for reset).
 *
 * Submission is batched: submit_request only fills an SQE; the group poller
 * calls io_uring_submit() once per pass, after reaping completions, so I/O
 * resubmitted from completion callbacks shares the system call. Completions
 * are taken from the CQ ring with io_uring_peek_batch_cqe(): no system call
 * (liburing enters the kernel only when the ring asks for it, i.e. CQ
 * overflow or deferred task work with IORING_SETUP_TASKRUN_FLAG).
 *
 * Sleeping: the ring's eventfd (io_uring_register_eventfd) is a wake fd of
 * the thread; it is drained lazily after a run of idle passes, then the CQ
 * is checked again. The group poller, the eventfd and the bdev around the
 * file are shared with the aio module (osprey/bdev_file.h): this file has
 * only what is io_uring's.
 *
 * Built only where liburing is (CONFIG_URING: the Makefile links -luring);
 * elsewhere bdev_uring_create() answers -ENOTSUP.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_uring.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/thread.h"

#if defined(OSP_HAVE_URING) || (!defined(OSP_NO_URING) && defined(__has_include) && \
				__has_include(<liburing.h>))
#define BDEV_URING_BUILT 1
#endif

#ifdef BDEV_URING_BUILT

#include <liburing.h>
#include <unistd.h>

#include "osprey_internal/bdev_file.h"

OSP_LOG_REGISTER_COMPONENT(bdev_uring)

/* SQ entries per ring (per thread); the CQ has twice as many. */
#define URING_GROUP_DEPTH	512
#define URING_REAP_BATCH	128

/* Per thread, shared by every uring bdev (the group poller is osprey/bdev_file.h's). */
struct uring_group {
	struct osp_bdev_file_group fg;
	struct io_uring ring;
};

struct uring_task {
	struct osp_bdev_file_channel *ch;
	uint64_t len;
};

static int uring_module_init(void);
static void uring_module_fini(void);
static int uring_get_ctx_size(void);

static struct osp_bdev_module g_uring_module = {
	.name = "uring",
	.module_init = uring_module_init,
	.module_fini = uring_module_fini,
	.get_ctx_size = uring_get_ctx_size,
};
OSP_BDEV_MODULE_REGISTER(uring, &g_uring_module)

/* ---- completion ---- */

static void
uring_task_done(struct uring_task *task, int64_t res)
{
	struct osp_bdev_io *bdev_io = osp_bdev_io_from_ctx(task);
	struct osp_bdev_file_channel *ch = task->ch;
	enum osp_bdev_io_status status = OSP_BDEV_IO_STATUS_SUCCESS;

	if (osp_unlikely(res != (int64_t)task->len)) {
		if (res < 0) {
			OSP_DEBUGLOG(bdev_uring, "%s: I/O type %d failed: %s\n", bdev_io->bdev->name,
				     bdev_io->type, strerror((int)-res));
		} else {
			OSP_DEBUGLOG(bdev_uring, "%s: short I/O: %" PRId64 " of %" PRIu64 " bytes\n",
				     bdev_io->bdev->name, res, task->len);
		}
		status = OSP_BDEV_IO_STATUS_FAILED;
	}
	osp_bdev_file_channel_io_done(ch);
	osp_bdev_io_complete(bdev_io, status);
}

static int
uring_group_submit(struct osp_bdev_file_group *fg)
{
	struct uring_group *g = OSP_CONTAINEROF(fg, struct uring_group, fg);
	int rc = io_uring_submit(&g->ring);

	if (osp_likely(rc > 0)) {
		fg->queued -= (uint32_t)rc < fg->queued ? (uint32_t)rc : fg->queued;
		fg->inflight += (uint32_t)rc;
		return rc;
	}
	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
		OSP_ERRLOG("io_uring_submit: %s\n", strerror(-rc));
	}
	/* EAGAIN/EBUSY: the kernel is short of room; the SQEs stay queued for the next pass. */
	return 0;
}

static int
uring_group_reap(struct osp_bdev_file_group *fg)
{
	struct uring_group *g = OSP_CONTAINEROF(fg, struct uring_group, fg);
	struct io_uring_cqe *cqes[URING_REAP_BATCH];
	struct uring_task *tasks[URING_REAP_BATCH];
	int64_t res[URING_REAP_BATCH];
	unsigned n, i;

	n = io_uring_peek_batch_cqe(&g->ring, cqes, URING_REAP_BATCH);
	if (n == 0) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		tasks[i] = io_uring_cqe_get_data(cqes[i]);
		res[i] = cqes[i]->res;
	}
	/* Free the CQ slots before the callbacks queue new I/O. */
	io_uring_cq_advance(&g->ring, n);
	osp_bdev_file_group_reaped(fg, n);
	for (i = 0; i < n; i++) {
		uring_task_done(tasks[i], res[i]);
	}
	return (int)n;
}

static int
uring_group_init(struct osp_bdev_file_group *fg)
{
	struct uring_group *g = OSP_CONTAINEROF(fg, struct uring_group, fg);
	struct io_uring_params p;
	int rc;

	/* Completions as task work flagged in the SQ ring rather than IPIs, where supported. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	rc = io_uring_queue_init_params(URING_GROUP_DEPTH, &g->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(URING_GROUP_DEPTH, &g->ring, &p);
	}
	if (rc != 0) {
		OSP_ERRLOG("io_uring_queue_init: %s\n", strerror(-rc));
		return rc;
	}
	/* The ring signals the group's eventfd, the thread's wake fd, on completion. */
	rc = io_uring_register_eventfd(&g->ring, fg->efd);
	if (rc != 0) {
		OSP_ERRLOG("io_uring_register_eventfd: %s\n", strerror(-rc));
		io_uring_queue_exit(&g->ring);
		return rc;
	}
	return 0;
}

static void
uring_group_fini(struct osp_bdev_file_group *fg)
{
	struct uring_group *g = OSP_CONTAINEROF(fg, struct uring_group, fg);

	io_uring_queue_exit(&g->ring);
}

/* ---- submission ---- */

static inline struct io_uring_sqe *
uring_get_sqe(struct uring_group *g)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&g->ring);

	if (osp_unlikely(sqe == NULL)) {
		/* SQ full: push what is there now and try once more. */
		uring_group_submit(&g->fg);
		sqe = io_uring_get_sqe(&g->ring);
	}
	return sqe;
}

/*
 * An SQE for bdev_io (the caller preps it and sets its data), or NULL:
 * bdev_io completed NOMEM, the layer retries it.
 */
static inline struct io_uring_sqe *
uring_prep(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io, uint64_t len)
{
	struct uring_task *task = (struct uring_task *)bdev_io->driver_ctx;
	struct uring_group *g = ch->group;
	struct io_uring_sqe *sqe;

	if (osp_unlikely(g->fg.queued + g->fg.inflight >= 2 * URING_GROUP_DEPTH) ||
	    (sqe = uring_get_sqe(g)) == NULL) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
		return NULL;
	}
	task->ch = ch;
	task->len = len;
	ch->inflight++;
	g->fg.queued++;
	return sqe;
}

static void
uring_rw(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_file_disk *disk = bdev_io->bdev->ctxt;
	uint64_t off = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len = bdev_io->u.bdev.num_blocks * disk->bdev.blocklen;
	struct iovec *iov = bdev_io->u.bdev.iovs;
	int iovcnt = bdev_io->u.bdev.iovcnt;
	struct io_uring_sqe *sqe = uring_prep(ch, bdev_io, len);

	if (osp_unlikely(sqe == NULL)) {
		return;
	}
	/* After the prep: some liburing versions clear user_data there. */
	if (bdev_io->type == OSP_BDEV_IO_TYPE_READ) {
		if (iovcnt == 1) {
			io_uring_prep_read(sqe, disk->file.fd, iov->iov_base, (unsigned)len, off);
		} else {
			io_uring_prep_readv(sqe, disk->file.fd, iov, (unsigned)iovcnt, off);
		}
	} else {
		if (iovcnt == 1) {
			io_uring_prep_write(sqe, disk->file.fd, iov->iov_base, (unsigned)len, off);
		} else {
			io_uring_prep_writev(sqe, disk->file.fd, iov, (unsigned)iovcnt, off);
		}
	}
	io_uring_sqe_set_data(sqe, bdev_io->driver_ctx);
}

static void
uring_flush(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_file_disk *disk = bdev_io->bdev->ctxt;
	struct io_uring_sqe *sqe = uring_prep(ch, bdev_io, 0);

	if (osp_unlikely(sqe == NULL)) {
		return;
	}
	io_uring_prep_fsync(sqe, disk->file.fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, bdev_io->driver_ctx);
}

static struct osp_bdev_file_engine g_uring_engine = {
	.name = "uring",
	.group_size = sizeof(struct uring_group),
	.reap_batch = URING_REAP_BATCH,
	.group_init = uring_group_init,
	.group_fini = uring_group_fini,
	.submit = uring_group_submit,
	.reap = uring_group_reap,
	.rw = uring_rw,
	.flush = uring_flush,
};

/* ---- bdev function table ---- */

static bool
uring_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	switch (type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_FLUSH:
	case OSP_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static void
uring_dump_info_json(void *ctx, cJSON *obj)
{
	osp_bdev_file_disk_dump_info(ctx, obj, "uring");
}

static void
uring_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct osp_bdev_file_disk *disk = bdev->ctxt;
	cJSON *params = osp_bdev_file_disk_config_params(disk);

	if (params != NULL) {
		osp_bdev_file_disk_write_config(disk, array, "bdev_uring_create", params);
	}
}

static const struct osp_bdev_fn_table g_uring_fn_table = {
	.destruct = osp_bdev_file_disk_destruct,
	.submit_request = osp_bdev_file_submit_request,
	.io_type_supported = uring_io_type_supported,
	.get_io_channel = osp_bdev_file_disk_get_io_channel,
	.dump_info_json = uring_dump_info_json,
	.write_config_json = uring_write_config_json,
};

/* ---- create / delete ---- */

/* Whether this kernel lets us set up a ring at all (seccomp, sysctl kernel.io_uring_disabled). */
static int
uring_probe(void)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(2, &ring, 0);

	if (rc == 0) {
		io_uring_queue_exit(&ring);
	}
	return rc;
}

int
bdev_uring_create(const struct bdev_uring_opts *opts, struct osp_bdev **bdevp, char *err,
		  size_t errlen)
{
	struct osp_bdev_file_disk_opts o = {
		.module = &g_uring_module,
		.fn_table = &g_uring_fn_table,
		.engine = &g_uring_engine,
		.product_name = "URING disk",
		.name = opts->name,
		.filename = opts->filename,
		.block_size = opts->block_size,
		.uuid = opts->uuid,
	};
	struct osp_bdev_file_disk *disk;
	int rc;

	rc = osp_bdev_file_check_create(opts->name, opts->filename, err, errlen);
	if (rc != 0) {
		return rc;
	}
	rc = uring_probe();
	if (rc != 0) {
		snprintf(err, errlen, "io_uring is not available: %s", strerror(-rc));
		return -ENOTSUP;
	}
	rc = osp_bdev_file_disk_open(&disk, sizeof(*disk), &o, err, errlen);
	if (rc != 0) {
		return rc;
	}
	rc = osp_bdev_file_disk_register(disk, err, errlen);
	if (rc != 0) {
		return rc;
	}
	*bdevp = &disk->bdev;
	return 0;
}

int
bdev_uring_delete(const char *name, osp_bdev_unregister_cb cb, void *cb_arg)
{
	return osp_bdev_unregister_by_name(name, &g_uring_module, cb, cb_arg);
}

int
bdev_uring_rescan(const char *name)
{
	return osp_bdev_file_rescan_by_name(name, &g_uring_module);
}

static int
uring_get_ctx_size(void)
{
	return (int)sizeof(struct uring_task);
}

static int
uring_module_init(void)
{
	osp_bdev_file_engine_register(&g_uring_engine);
	return 0;
}

static void
uring_module_fini(void)
{
	osp_bdev_file_engine_unregister(&g_uring_engine);
}

#else /* !BDEV_URING_BUILT */

int
bdev_uring_create(const struct bdev_uring_opts *opts, struct osp_bdev **bdevp, char *err,
		  size_t errlen)
{
	snprintf(err, errlen, "Osprey was built without io_uring support (liburing-dev)");
	return -ENOTSUP;
}

int
bdev_uring_delete(const char *name, osp_bdev_unregister_cb cb, void *cb_arg)
{
	return -ENODEV;
}

int
bdev_uring_rescan(const char *name)
{
	return -ENODEV;
}

#endif /* BDEV_URING_BUILT */
