/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The aio bdev module: a file or block device accessed with Linux AIO
 * (io_submit) and O_DIRECT.
 *
 * Threading: every thread that does I/O on any aio bdev gets one "group"
 * channel (one io_context, one eventfd, one poller) shared by all aio bdevs;
 * each bdev also has a small per-thread channel (osprey/bdev_file.h, shared
 * with the uring module) that counts its own I/O in
 * flight (for reset).
 *
 * Submission is batched: submit_request only queues the iocb, and the group
 * poller hands everything queued to the kernel with one io_submit() per pass,
 * after reaping completions (so that I/O resubmitted from completion
 * callbacks goes out in the same call).
 *
 * Completions are read straight from the completion ring the kernel maps at
 * the io_context address (struct aio_ring below: the layout is the kernel's
 * ABI, fs/aio.c): no system call per pass. If the ring header does not look
 * like the one we know (magic, no incompatible features), io_getevents() with
 * a zero timeout is used instead.
 *
 * Sleeping: each iocb carries IOCB_FLAG_RESFD, so the kernel signals the
 * group's eventfd on completion; it is a wake fd of the thread, so a reactor
 * asleep in epoll wakes up. The eventfd is drained lazily, only after a run
 * of idle passes, then the ring is checked again; under load it costs nothing.
 *
 * The group poller and its eventfd, the bdev around the file (create,
 * destruct, submit dispatch, config) and the RPC bodies are shared with the
 * uring module (osprey/bdev_file.h, drivers/bdev/file): this file has only
 * what is Linux AIO's.
 *
 * Flush is IOCB_CMD_FDSYNC. A kernel that refuses it (EINVAL) gets
 * fdatasync() on a helper pthread instead, and so do the fallocate()-based
 * unmap and write_zeroes: none of them ever blocks a reactor. The helper
 * completes the I/O with a message to the thread that submitted it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libaio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "bdev_aio.h"
#include "osprey_internal/bdev_file.h"
#include "osprey/env.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/thread.h"

OSP_LOG_REGISTER_COMPONENT(bdev_aio)

/* Events per io_context (per thread). */
#define AIO_GROUP_DEPTH		1024
/* Completions handled per batch. */
#define AIO_REAP_BATCH		128
/* Idle poller passes before the eventfd is drained. */
#define AIO_DRAIN_IDLE_PASSES	OSP_BDEV_FILE_DRAIN_IDLE_PASSES

#define AIO_RING_MAGIC		0xa10a10a1u

/* The kernel's completion ring header (fs/aio.c, struct aio_ring). */
struct aio_ring {
	uint32_t id;
	uint32_t nr;
	uint32_t head;
	uint32_t tail;
	uint32_t magic;
	uint32_t compat_features;
	uint32_t incompat_features;
	uint32_t header_length;
	struct io_event events[];
};

struct aio_disk {
	struct osp_bdev_file_disk d;
	bool readonly;
	bool fallocate;
	/* The kernel refused IOCB_CMD_FDSYNC on this file: flush on the helper. */
	bool fdsync_refused;
};

/* Per thread, shared by every aio bdev; fg.queued iocbs wait in queue for io_submit(). */
struct aio_group {
	struct osp_bdev_file_group fg;
	io_context_t ctx;
	struct iocb *queue[AIO_GROUP_DEPTH];
};

enum aio_helper_op {
	AIO_HELPER_FDATASYNC,
	AIO_HELPER_PUNCH_HOLE,
	AIO_HELPER_ZERO_RANGE,
	AIO_HELPER_STOP,
};

struct aio_task {
	struct iocb iocb;
	struct osp_bdev_file_channel *ch;
	/* Bytes the I/O must transfer (0 for flush and helper operations). */
	uint64_t len;
	/* Helper operations. */
	struct osp_thread *thread;
	struct aio_disk *disk;
	enum aio_helper_op op;
	int result;
};

/* Read the completion ring from userspace when its header is the known one (tests clear it). */
static bool g_aio_user_reap = true;

static int aio_module_init(void);
static void aio_module_fini(void);
static int aio_get_ctx_size(void);

static struct osp_bdev_module g_aio_module = {
	.name = "aio",
	.module_init = aio_module_init,
	.module_fini = aio_module_fini,
	.get_ctx_size = aio_get_ctx_size,
};
OSP_BDEV_MODULE_REGISTER(aio, &g_aio_module)

/* ---- the helper thread for calls that block ---- */

static struct {
	pthread_mutex_t lock;	/* start/stop only */
	bool running;
	pthread_t tid;
	struct osp_ring *ring;
	int efd;
	struct aio_task stop;
} g_helper = { .lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1 };

static void aio_task_done(struct aio_task *task, int64_t res);

static void
aio_helper_done_msg(void *arg)
{
	struct aio_task *task = arg;

	aio_task_done(task, task->result);
}

static int
aio_helper_run(struct aio_task *task)
{
	int fd = task->disk->d.file.fd, mode;
	struct osp_bdev_io *bdev_io;
	uint64_t off, len;

	if (task->op == AIO_HELPER_FDATASYNC) {
		return fdatasync(fd) == 0 ? 0 : -errno;
	}
	bdev_io = osp_bdev_io_from_ctx(task);
	off = bdev_io->u.bdev.offset_blocks * bdev_io->bdev->blocklen;
	len = bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen;
	mode = task->op == AIO_HELPER_PUNCH_HOLE ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
	       FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(fd, mode, (off_t)off, (off_t)len) == 0) {
		return 0;
	}
	/* No ZERO_RANGE here: a hole reads back as zeroes too. */
	if (task->op == AIO_HELPER_ZERO_RANGE && (errno == EOPNOTSUPP || errno == EINVAL) &&
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0) {
		return 0;
	}
	return -errno;
}

static void *
aio_helper_main(void *arg)
{
	void *objs[32];
	uint64_t val;
	size_t n, i;

	pthread_setname_np(pthread_self(), "aio_helper");
	for (;;) {
		if (read(g_helper.efd, &val, sizeof(val)) < 0 && errno != EAGAIN && errno != EINTR) {
			OSP_ERRLOG("aio helper: read: %s\n", strerror(errno));
		}
		while ((n = osp_ring_dequeue(g_helper.ring, objs, OSP_COUNTOF(objs))) > 0) {
			for (i = 0; i < n; i++) {
				struct aio_task *task = objs[i];

				if (task == &g_helper.stop) {
					return NULL;
				}
				task->result = aio_helper_run(task);
				osp_thread_send_msg(task->thread, aio_helper_done_msg, task);
			}
		}
	}
	return NULL;
}

static int
aio_helper_start(void)
{
	int rc = 0;

	pthread_mutex_lock(&g_helper.lock);
	if (g_helper.running) {
		goto out;
	}
	g_helper.ring = osp_ring_create(OSP_RING_TYPE_MP_SC, 4096, OSP_ENV_SOCKET_ID_ANY);
	g_helper.efd = eventfd(0, EFD_CLOEXEC);	/* blocking: the helper sleeps in read() */
	if (g_helper.ring == NULL || g_helper.efd < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_create(&g_helper.tid, NULL, aio_helper_main, NULL);
	if (rc != 0) {
		goto fail;
	}
	g_helper.running = true;
	goto out;
fail:
	if (g_helper.ring != NULL) {
		osp_ring_free(g_helper.ring);
		g_helper.ring = NULL;
	}
	if (g_helper.efd >= 0) {
		close(g_helper.efd);
		g_helper.efd = -1;
	}
out:
	pthread_mutex_unlock(&g_helper.lock);
	return rc;
}

static int
aio_helper_enqueue(struct aio_task *task)
{
	uint64_t one = 1;
	void *obj = task;
	int rc;

	/* Only the first use pays for the lock; the flag is never cleared while I/O runs. */
	if (!__atomic_load_n(&g_helper.running, __ATOMIC_ACQUIRE)) {
		rc = aio_helper_start();
		if (rc != 0) {
			return rc;
		}
	}
	if (osp_ring_enqueue(g_helper.ring, &obj, 1, NULL) != 1) {
		return -ENOMEM;
	}
	if (write(g_helper.efd, &one, sizeof(one)) < 0) {
		/* Counter saturated: the helper is awake anyway. */
	}
	return 0;
}

static void
aio_helper_stop(void)
{
	uint64_t one = 1;
	void *obj = &g_helper.stop;

	pthread_mutex_lock(&g_helper.lock);
	if (g_helper.running) {
		while (osp_ring_enqueue(g_helper.ring, &obj, 1, NULL) != 1) {
			usleep(100);
		}
		if (write(g_helper.efd, &one, sizeof(one)) < 0) {
			/* see above */
		}
		pthread_join(g_helper.tid, NULL);
		osp_ring_free(g_helper.ring);
		close(g_helper.efd);
		g_helper.ring = NULL;
		g_helper.efd = -1;
		g_helper.running = false;
	}
	pthread_mutex_unlock(&g_helper.lock);
}

/* ---- completion ---- */

static void
aio_task_done(struct aio_task *task, int64_t res)
{
	struct osp_bdev_io *bdev_io = osp_bdev_io_from_ctx(task);
	struct osp_bdev_file_channel *ch = task->ch;
	enum osp_bdev_io_status status = OSP_BDEV_IO_STATUS_SUCCESS;

	if (osp_unlikely(res != (int64_t)task->len)) {
		if (res < 0) {
			OSP_DEBUGLOG(bdev_aio, "%s: I/O type %d failed: %s\n", bdev_io->bdev->name,
				     bdev_io->type, strerror((int)-res));
		} else {
			OSP_DEBUGLOG(bdev_aio, "%s: short I/O: %" PRId64 " of %" PRIu64 " bytes\n",
				     bdev_io->bdev->name, res, task->len);
		}
		status = OSP_BDEV_IO_STATUS_FAILED;
	}
	osp_bdev_file_channel_io_done(ch);
	osp_bdev_io_complete(bdev_io, status);
}

/* Hand the queued iocbs to the kernel. Returns the number submitted. */
static int
aio_group_flush(struct osp_bdev_file_group *fg)
{
	struct aio_group *g = OSP_CONTAINEROF(fg, struct aio_group, fg);
	uint32_t done = 0;
	int rc, total = 0;

	while (done < fg->queued) {
		rc = io_submit(g->ctx, (long)(fg->queued - done), &g->queue[done]);
		if (osp_likely(rc > 0)) {
			done += (uint32_t)rc;
			fg->inflight += (uint32_t)rc;
			total += rc;
			continue;
		}
		if (rc == -EAGAIN || rc == 0) {
			/* The kernel is out of room: try again on the next pass. */
			break;
		}
		if (rc == -EINTR) {
			continue;
		}
		/* The first iocb was refused: fail or reroute it, go on with the rest. */
		{
			struct iocb *iocb = g->queue[done];
			struct aio_task *task = iocb->data;

			done++;
			if (iocb->aio_lio_opcode == IO_CMD_FDSYNC && rc == -EINVAL) {
				OSP_NOTICELOG("%s: the kernel refuses asynchronous fdsync on %s; "
					      "flushing with fdatasync on a helper thread\n",
					      task->disk->d.bdev.name, task->disk->d.filename);
				task->disk->fdsync_refused = true;
				task->op = AIO_HELPER_FDATASYNC;
				task->thread = osp_get_thread();
				if (aio_helper_enqueue(task) == 0) {
					continue;
				}
			}
			aio_task_done(task, rc);
		}
	}
	if (done > 0 && done < fg->queued) {
		memmove(g->queue, &g->queue[done], (fg->queued - done) * sizeof(g->queue[0]));
	}
	fg->queued -= done;
	return total;
}

static int
aio_group_reap(struct osp_bdev_file_group *fg)
{
	struct aio_group *g = OSP_CONTAINEROF(fg, struct aio_group, fg);
	struct aio_ring *ring = (struct aio_ring *)g->ctx;
	struct aio_task *tasks[AIO_REAP_BATCH];
	int64_t res[AIO_REAP_BATCH];
	int n = 0, i;

	if (osp_likely(g_aio_user_reap && ring->magic == AIO_RING_MAGIC &&
		       ring->incompat_features == 0)) {
		uint32_t head = ring->head, nr = ring->nr;
		uint32_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);

		while (head != tail && n < AIO_REAP_BATCH) {
			struct io_event *ev = &ring->events[head];

			tasks[n] = ev->data;
			res[n] = (int64_t)ev->res;
			n++;
			head = head + 1 == nr ? 0 : head + 1;
		}
		if (n == 0) {
			return 0;
		}
		/* Give the slots back before completing: callbacks queue new I/O. */
		__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
	} else {
		struct io_event events[AIO_REAP_BATCH];
		struct timespec zero = { 0, 0 };

		n = io_getevents(g->ctx, 0, AIO_REAP_BATCH, events, &zero);
		if (n <= 0) {
			return 0;
		}
		for (i = 0; i < n; i++) {
			tasks[i] = events[i].data;
			res[i] = (int64_t)events[i].res;
		}
	}
	osp_bdev_file_group_reaped(fg, (uint32_t)n);
	for (i = 0; i < n; i++) {
		aio_task_done(tasks[i], res[i]);
	}
	return n;
}

static int
aio_group_init(struct osp_bdev_file_group *fg)
{
	struct aio_group *g = OSP_CONTAINEROF(fg, struct aio_group, fg);
	int rc;

	rc = io_setup(AIO_GROUP_DEPTH, &g->ctx);
	if (rc < 0) {
		OSP_ERRLOG("io_setup(%d) failed: %s (see /proc/sys/fs/aio-max-nr)\n",
			   AIO_GROUP_DEPTH, strerror(-rc));
		return rc;
	}
	return 0;
}

static void
aio_group_fini(struct osp_bdev_file_group *fg)
{
	struct aio_group *g = OSP_CONTAINEROF(fg, struct aio_group, fg);

	io_destroy(g->ctx);
}

/* ---- submission ---- */

static inline void
aio_queue(struct osp_bdev_file_channel *ch, struct aio_task *task)
{
	struct aio_group *g = ch->group;

	if (osp_unlikely(g->fg.queued + g->fg.inflight >= AIO_GROUP_DEPTH)) {
		/* The layer queues NOMEM I/O and resubmits it later. */
		osp_bdev_io_complete(osp_bdev_io_from_ctx(task), OSP_BDEV_IO_STATUS_NOMEM);
		return;
	}
	io_set_eventfd(&task->iocb, g->fg.efd);
	task->iocb.data = task;
	task->ch = ch;
	ch->inflight++;
	g->queue[g->fg.queued++] = &task->iocb;
}

static void
aio_rw(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct aio_task *task = (struct aio_task *)bdev_io->driver_ctx;
	struct aio_disk *disk = bdev_io->bdev->ctxt;
	int fd = disk->d.file.fd;
	uint64_t off = bdev_io->u.bdev.offset_blocks * disk->d.bdev.blocklen;
	uint64_t len = bdev_io->u.bdev.num_blocks * disk->d.bdev.blocklen;
	struct iovec *iov = bdev_io->u.bdev.iovs;
	int iovcnt = bdev_io->u.bdev.iovcnt;

	task->len = len;
	task->disk = disk;
	if (bdev_io->type == OSP_BDEV_IO_TYPE_READ) {
		if (iovcnt == 1) {
			io_prep_pread(&task->iocb, fd, iov->iov_base, len, (long long)off);
		} else {
			io_prep_preadv(&task->iocb, fd, iov, iovcnt, (long long)off);
		}
	} else {
		if (iovcnt == 1) {
			io_prep_pwrite(&task->iocb, fd, iov->iov_base, len, (long long)off);
		} else {
			io_prep_pwritev(&task->iocb, fd, iov, iovcnt, (long long)off);
		}
	}
	aio_queue(ch, task);
}

static void
aio_helper_submit(struct osp_bdev_file_channel *ch, struct aio_disk *disk,
		  struct osp_bdev_io *bdev_io, enum aio_helper_op op)
{
	struct aio_task *task = (struct aio_task *)bdev_io->driver_ctx;

	task->ch = ch;
	task->disk = disk;
	task->len = 0;
	task->op = op;
	task->thread = osp_get_thread();
	ch->inflight++;
	if (aio_helper_enqueue(task) != 0) {
		ch->inflight--;
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
	}
}

static void
aio_flush(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct aio_task *task = (struct aio_task *)bdev_io->driver_ctx;
	struct aio_disk *disk = bdev_io->bdev->ctxt;

	if (disk->fdsync_refused) {
		aio_helper_submit(ch, disk, bdev_io, AIO_HELPER_FDATASYNC);
		return;
	}
	task->len = 0;
	task->disk = disk;
	io_prep_fdsync(&task->iocb, disk->d.file.fd);
	aio_queue(ch, task);
}

/* Unmap and write zeroes: fallocate() on the helper thread, if the bdev was created so. */
static bool
aio_submit_other(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct aio_disk *disk = bdev_io->bdev->ctxt;

	if (!disk->fallocate) {
		return false;
	}
	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_UNMAP:
		aio_helper_submit(ch, disk, bdev_io, AIO_HELPER_PUNCH_HOLE);
		return true;
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		aio_helper_submit(ch, disk, bdev_io, AIO_HELPER_ZERO_RANGE);
		return true;
	default:
		return false;
	}
}

static struct osp_bdev_file_engine g_aio_engine = {
	.name = "aio",
	.group_size = sizeof(struct aio_group),
	.reap_batch = AIO_REAP_BATCH,
	.group_init = aio_group_init,
	.group_fini = aio_group_fini,
	.submit = aio_group_flush,
	.reap = aio_group_reap,
	.rw = aio_rw,
	.flush = aio_flush,
	.submit_other = aio_submit_other,
};

/* ---- bdev function table ---- */

static bool
aio_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct aio_disk *disk = ctx;

	switch (type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_FLUSH:
	case OSP_BDEV_IO_TYPE_RESET:
		return true;
	case OSP_BDEV_IO_TYPE_UNMAP:
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		return disk->fallocate;
	default:
		return false;
	}
}

static void
aio_dump_info_json(void *ctx, cJSON *obj)
{
	struct aio_disk *disk = ctx;
	cJSON *aio = osp_bdev_file_disk_dump_info(&disk->d, obj, "aio");

	if (aio != NULL) {
		cJSON_AddBoolToObject(aio, "readonly", disk->readonly);
		cJSON_AddBoolToObject(aio, "fallocate", disk->fallocate);
	}
}

static void
aio_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct aio_disk *disk = bdev->ctxt;
	cJSON *params = osp_bdev_file_disk_config_params(&disk->d);

	if (params == NULL) {
		return;
	}
	cJSON_AddBoolToObject(params, "readonly", disk->readonly);
	cJSON_AddBoolToObject(params, "fallocate", disk->fallocate);
	osp_bdev_file_disk_write_config(&disk->d, array, "bdev_aio_create", params);
}

static const struct osp_bdev_fn_table g_aio_fn_table = {
	.destruct = osp_bdev_file_disk_destruct,
	.submit_request = osp_bdev_file_submit_request,
	.io_type_supported = aio_io_type_supported,
	.get_io_channel = osp_bdev_file_disk_get_io_channel,
	.dump_info_json = aio_dump_info_json,
	.write_config_json = aio_write_config_json,
};

/* ---- create / delete / rescan ---- */

int
bdev_aio_create(const struct bdev_aio_opts *opts, struct osp_bdev **bdevp, char *err,
		size_t errlen)
{
	struct osp_bdev_file_disk_opts o = {
		.module = &g_aio_module,
		.fn_table = &g_aio_fn_table,
		.engine = &g_aio_engine,
		.product_name = "AIO disk",
		.name = opts->name,
		.filename = opts->filename,
		.readonly = opts->readonly,
		.block_size = opts->block_size,
		.uuid = opts->uuid,
	};
	struct osp_bdev_file_disk *d;
	struct aio_disk *disk;
	int rc;

	rc = osp_bdev_file_disk_open(&d, sizeof(*disk), &o, err, errlen);
	if (rc != 0) {
		return rc;
	}
	disk = OSP_CONTAINEROF(d, struct aio_disk, d);
	/* Before registering: io_type_supported looks at fallocate. */
	disk->readonly = opts->readonly;
	disk->fallocate = opts->fallocate;
	/* Unmap punches a hole (FALLOC_FL_PUNCH_HOLE): it reads back as zeroes. */
	d->bdev.unmap_reads_zeroes = opts->fallocate;
	rc = osp_bdev_file_disk_register(d, err, errlen);
	if (rc != 0) {
		return rc;
	}
	*bdevp = &d->bdev;
	return 0;
}

int
bdev_aio_delete(const char *name, osp_bdev_unregister_cb cb, void *cb_arg)
{
	return osp_bdev_unregister_by_name(name, &g_aio_module, cb, cb_arg);
}

int
bdev_aio_rescan(const char *name)
{
	return osp_bdev_file_rescan_by_name(name, &g_aio_module);
}

/* ---- module ---- */

static int
aio_get_ctx_size(void)
{
	return (int)sizeof(struct aio_task);
}

static int
aio_module_init(void)
{
	osp_bdev_file_engine_register(&g_aio_engine);
	return 0;
}

static void
aio_module_fini(void)
{
	osp_bdev_file_engine_unregister(&g_aio_engine);
	aio_helper_stop();
}
