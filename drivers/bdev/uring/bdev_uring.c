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
 * is checked again, as in the aio module.
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "osprey/bdev_file.h"

OSP_LOG_REGISTER_COMPONENT(bdev_uring)

/* SQ entries per ring (per thread); the CQ has twice as many. */
#define URING_GROUP_DEPTH	512
#define URING_REAP_BATCH	128
#define URING_DRAIN_IDLE_PASSES	64

struct uring_disk {
	struct osp_bdev bdev;
	struct osp_bdev_file file;
	/* Our per-thread channels' io_device: not the bdev, which the layer registers. */
	int io_dev;
	char *filename;
	bool block_size_given;
	TAILQ_ENTRY(uring_disk) link;
};

struct uring_group {
	struct io_uring ring;
	bool ring_ok;
	int efd;
	bool efd_dirty;
	uint32_t idle_passes;
	struct osp_poller *poller;
	/* SQEs filled but not yet submitted, and I/O the kernel holds. */
	uint32_t queued;
	uint32_t inflight;
};

struct uring_task {
	struct osp_bdev_file_channel *ch;
	uint64_t len;
};

static TAILQ_HEAD(, uring_disk) g_uring_disks = TAILQ_HEAD_INITIALIZER(g_uring_disks);
static int g_uring_group_dev;

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
uring_group_submit(struct uring_group *g)
{
	int rc = io_uring_submit(&g->ring);

	if (osp_likely(rc > 0)) {
		g->queued -= (uint32_t)rc < g->queued ? (uint32_t)rc : g->queued;
		g->inflight += (uint32_t)rc;
		return rc;
	}
	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
		OSP_ERRLOG("io_uring_submit: %s\n", strerror(-rc));
	}
	/* EAGAIN/EBUSY: the kernel is short of room; the SQEs stay queued for the next pass. */
	return 0;
}

static int
uring_group_reap(struct uring_group *g)
{
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
	g->inflight -= n;
	g->efd_dirty = true;
	for (i = 0; i < n; i++) {
		uring_task_done(tasks[i], res[i]);
	}
	return (int)n;
}

static int
uring_group_poll(void *arg)
{
	struct uring_group *g = arg;
	int n = 0, r;

	if (g->queued > 0) {
		n += uring_group_submit(g);
	}
	if (g->inflight > 0) {
		while ((r = uring_group_reap(g)) > 0) {
			n += r;
			if (r < URING_REAP_BATCH) {
				break;
			}
		}
		if (g->queued > 0) {
			n += uring_group_submit(g);
		}
	}
	if (n > 0) {
		g->idle_passes = 0;
		return OSP_POLLER_BUSY;
	}
	if (g->efd_dirty && ++g->idle_passes >= URING_DRAIN_IDLE_PASSES) {
		uint64_t val;

		/* Reset the counter so the reactor can sleep, then look again (see bdev_aio.c). */
		if (read(g->efd, &val, sizeof(val)) < 0) {
			/* EAGAIN: already zero. */
		}
		g->efd_dirty = false;
		g->idle_passes = 0;
		if (g->inflight > 0 && uring_group_reap(g) > 0) {
			if (g->queued > 0) {
				uring_group_submit(g);
			}
			return OSP_POLLER_BUSY;
		}
	}
	return OSP_POLLER_IDLE;
}

static int
uring_group_create_cb(void *io_device, void *ctx_buf)
{
	struct uring_group *g = ctx_buf;
	struct io_uring_params p;
	int rc;

	g->efd = -1;
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
	g->ring_ok = true;
	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->efd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = io_uring_register_eventfd(&g->ring, g->efd);
	if (rc != 0) {
		OSP_ERRLOG("io_uring_register_eventfd: %s\n", strerror(-rc));
		goto fail;
	}
	rc = osp_thread_add_wake_fd(g->efd, EPOLLIN);
	if (rc != 0) {
		OSP_ERRLOG("cannot watch the io_uring eventfd: %s\n", strerror(-rc));
		goto fail;
	}
	g->poller = OSP_POLLER_REGISTER(uring_group_poll, g, 0);
	if (g->poller == NULL) {
		osp_thread_remove_wake_fd(g->efd);
		rc = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	if (g->efd >= 0) {
		close(g->efd);
	}
	io_uring_queue_exit(&g->ring);
	return rc;
}

static void
uring_group_destroy_cb(void *io_device, void *ctx_buf)
{
	struct uring_group *g = ctx_buf;

	if (g->inflight > 0 || g->queued > 0) {
		OSP_ERRLOG("uring channel destroyed with %u I/O in flight and %u queued\n",
			   g->inflight, g->queued);
	}
	osp_poller_unregister(&g->poller);
	osp_thread_remove_wake_fd(g->efd);
	io_uring_queue_exit(&g->ring);
	close(g->efd);
}

static int
uring_channel_create_cb(void *io_device, void *ctx_buf)
{
	struct osp_bdev_file_channel *ch = ctx_buf;

	return osp_bdev_file_channel_create(ch, &g_uring_group_dev);
}

static void
uring_channel_destroy_cb(void *io_device, void *ctx_buf)
{
	struct osp_bdev_file_channel *ch = ctx_buf;

	osp_bdev_file_channel_destroy(ch);
}

/* ---- submission ---- */

static inline struct io_uring_sqe *
uring_get_sqe(struct uring_group *g)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&g->ring);

	if (osp_unlikely(sqe == NULL)) {
		/* SQ full: push what is there now and try once more. */
		uring_group_submit(g);
		sqe = io_uring_get_sqe(&g->ring);
	}
	return sqe;
}

static void
uring_rw(struct osp_bdev_file_channel *ch, struct uring_disk *disk,
	 struct osp_bdev_io *bdev_io)
{
	struct uring_task *task = (struct uring_task *)bdev_io->driver_ctx;
	struct uring_group *g = ch->group;
	uint64_t off = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len = bdev_io->u.bdev.num_blocks * disk->bdev.blocklen;
	struct iovec *iov = bdev_io->u.bdev.iovs;
	int iovcnt = bdev_io->u.bdev.iovcnt;
	struct io_uring_sqe *sqe;

	if (osp_unlikely(g->queued + g->inflight >= 2 * URING_GROUP_DEPTH) ||
	    (sqe = uring_get_sqe(g)) == NULL) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
		return;
	}
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
	io_uring_sqe_set_data(sqe, task);
	task->ch = ch;
	task->len = len;
	ch->inflight++;
	g->queued++;
}

static void
uring_flush(struct osp_bdev_file_channel *ch, struct uring_disk *disk,
	    struct osp_bdev_io *bdev_io)
{
	struct uring_task *task = (struct uring_task *)bdev_io->driver_ctx;
	struct uring_group *g = ch->group;
	struct io_uring_sqe *sqe;

	if (g->queued + g->inflight >= 2 * URING_GROUP_DEPTH || (sqe = uring_get_sqe(g)) == NULL) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
		return;
	}
	io_uring_prep_fsync(sqe, disk->file.fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, task);
	task->ch = ch;
	task->len = 0;
	ch->inflight++;
	g->queued++;
}

static void
uring_get_buf_cb(struct osp_io_channel *ioch, struct osp_bdev_io *bdev_io, bool success)
{
	if (!success) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	uring_rw(osp_io_channel_get_ctx(ioch), bdev_io->bdev->ctxt, bdev_io);
}

static void
uring_submit_request(struct osp_io_channel *ioch, struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_file_channel *ch = osp_io_channel_get_ctx(ioch);
	struct uring_disk *disk = bdev_io->bdev->ctxt;

	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
		if (osp_unlikely(bdev_io->u.bdev.iovs == NULL ||
				 bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
			osp_bdev_io_get_buf(bdev_io, uring_get_buf_cb,
					    bdev_io->u.bdev.num_blocks * disk->bdev.blocklen);
			return;
		}
		uring_rw(ch, disk, bdev_io);
		return;
	case OSP_BDEV_IO_TYPE_WRITE:
		uring_rw(ch, disk, bdev_io);
		return;
	case OSP_BDEV_IO_TYPE_FLUSH:
		uring_flush(ch, disk, bdev_io);
		return;
	case OSP_BDEV_IO_TYPE_RESET:
		osp_bdev_file_reset(&disk->io_dev, bdev_io);
		return;
	default:
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
}

/* ---- bdev function table ---- */

static void
uring_disk_free(struct uring_disk *disk)
{
	if (disk->file.fd >= 0) {
		close(disk->file.fd);
	}
	free(disk->bdev.name);
	free(disk->filename);
	free(disk);
}

static void
uring_disk_free_cb(void *io_device)
{
	uring_disk_free(OSP_CONTAINEROF(io_device, struct uring_disk, io_dev));
}

static void
uring_disk_free_msg(void *arg)
{
	uring_disk_free(arg);
}

static void
uring_disk_unregistered(void *io_device)
{
	struct uring_disk *disk = OSP_CONTAINEROF(io_device, struct uring_disk, io_dev);

	osp_bdev_destruct_done(&disk->bdev, 0);
	if (osp_thread_send_msg(osp_get_thread(), uring_disk_free_msg, disk) != 0) {
		uring_disk_free(disk);
	}
}

static int
uring_destruct(void *ctx)
{
	struct uring_disk *disk = ctx;

	TAILQ_REMOVE(&g_uring_disks, disk, link);
	osp_io_device_unregister(&disk->io_dev, uring_disk_unregistered);
	return 1;
}

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

static struct osp_io_channel *
uring_get_io_channel(void *ctx)
{
	struct uring_disk *disk = ctx;

	return osp_get_io_channel(&disk->io_dev);
}

static void
uring_dump_info_json(void *ctx, cJSON *obj)
{
	struct uring_disk *disk = ctx;
	cJSON *u = cJSON_AddObjectToObject(obj, "uring");

	if (u == NULL) {
		return;
	}
	cJSON_AddStringToObject(u, "filename", disk->filename);
	cJSON_AddNumberToObject(u, "block_size", disk->bdev.blocklen);
	cJSON_AddBoolToObject(u, "block_size_override", disk->block_size_given);
	cJSON_AddBoolToObject(u, "direct_io", disk->file.direct);
	cJSON_AddBoolToObject(u, "block_device", disk->file.is_blockdev);
}

static void
uring_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct uring_disk *disk = bdev->ctxt;
	char uuid[OSP_UUID_STRING_LEN];
	cJSON *params = cJSON_CreateObject();

	if (params == NULL) {
		return;
	}
	cJSON_AddStringToObject(params, "name", bdev->name);
	cJSON_AddStringToObject(params, "filename", disk->filename);
	if (disk->block_size_given) {
		cJSON_AddNumberToObject(params, "block_size", bdev->blocklen);
	}
	if (osp_uuid_fmt_lower(uuid, sizeof(uuid), &bdev->uuid) == 0) {
		cJSON_AddStringToObject(params, "uuid", uuid);
	}
	osp_json_add_rpc_call(array, "bdev_uring_create", params);
}

static const struct osp_bdev_fn_table g_uring_fn_table = {
	.destruct = uring_destruct,
	.submit_request = uring_submit_request,
	.io_type_supported = uring_io_type_supported,
	.get_io_channel = uring_get_io_channel,
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
	struct uring_disk *disk;
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
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		snprintf(err, errlen, "Out of memory");
		return -ENOMEM;
	}
	disk->file.fd = -1;
	disk->filename = strdup(opts->filename);
	disk->bdev.name = strdup(opts->name);
	if (disk->filename == NULL || disk->bdev.name == NULL) {
		snprintf(err, errlen, "Out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = osp_bdev_file_setup(&disk->bdev, &disk->file, opts->filename, false,
				 opts->block_size, opts->uuid, err, errlen);
	if (rc != 0) {
		goto fail;
	}
	disk->block_size_given = opts->block_size != 0;
	disk->bdev.product_name = "URING disk";
	disk->bdev.ctxt = disk;
	disk->bdev.module = &g_uring_module;
	disk->bdev.fn_table = &g_uring_fn_table;

	osp_io_device_register(&disk->io_dev, uring_channel_create_cb, uring_channel_destroy_cb,
			       sizeof(struct osp_bdev_file_channel), disk->bdev.name);
	rc = osp_bdev_register(&disk->bdev);
	if (rc != 0) {
		snprintf(err, errlen, "Could not register bdev '%s': %s", opts->name,
			 rc == -EEXIST ? "the name is taken" : strerror(-rc));
		osp_io_device_unregister(&disk->io_dev, uring_disk_free_cb);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_uring_disks, disk, link);
	OSP_NOTICELOG("uring bdev %s on %s: %" PRIu64 " blocks of %u bytes%s\n", opts->name,
		      opts->filename, disk->bdev.blockcnt, disk->bdev.blocklen,
		      disk->file.direct ? "" : " (buffered)");
	*bdevp = &disk->bdev;
	return 0;
fail:
	uring_disk_free(disk);
	return rc;
}

int
bdev_uring_delete(const char *name, osp_bdev_unregister_cb cb, void *cb_arg)
{
	return osp_bdev_unregister_by_name(name, &g_uring_module, cb, cb_arg);
}

int
bdev_uring_rescan(const char *name)
{
	struct uring_disk *disk;

	TAILQ_FOREACH(disk, &g_uring_disks, link) {
		if (strcmp(disk->bdev.name, name) == 0) {
			break;
		}
	}
	if (disk == NULL) {
		return -ENODEV;
	}
	return osp_bdev_file_rescan(&disk->bdev, &disk->file);
}

static int
uring_get_ctx_size(void)
{
	return (int)sizeof(struct uring_task);
}

static int
uring_module_init(void)
{
	osp_io_device_register(&g_uring_group_dev, uring_group_create_cb, uring_group_destroy_cb,
			       sizeof(struct uring_group), "uring_group");
	return 0;
}

static void
uring_module_fini(void)
{
	osp_io_device_unregister(&g_uring_group_dev, NULL);
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
