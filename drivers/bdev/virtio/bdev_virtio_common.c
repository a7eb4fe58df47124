/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the virtio-blk and virtio-scsi controllers share: the attach in the
 * background, the claim of a request queue by a channel, and the request
 * channel (a virtqueue, its data slots and its poller).
 *
 * The vhost-user dialogue blocks on the socket (with a timeout per reply),
 * so an attach runs it on a short-lived pthread of its own, never on a
 * reactor: a slow or stuck back end does not stall the reactors. The app
 * thread polls for the end (no message crosses from the pthread) and
 * registers the bdevs there.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev_module.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"
#include "osprey/virtio_user.h"

#include "bdev_virtio.h"

#define ATTACH_POLL_US	1000

struct virtio_attach {
	void *ctrlr;
	const struct bdev_virtio_attach_ops *ops;
	char name[256];
	pthread_t tid;
	bool done;		/* atomic: the pthread finished (rc, err set) */
	int rc;
	char err[256];
	struct osp_poller *poller;
	bdev_virtio_attach_cb cb_fn;
	void *cb_arg;
	TAILQ_ENTRY(virtio_attach) link;
};

static TAILQ_HEAD(, virtio_attach) g_attaching = TAILQ_HEAD_INITIALIZER(g_attaching);

static void *
attach_worker(void *arg)
{
	struct virtio_attach *a = arg;

	a->rc = a->ops->connect(a->ctrlr, a->err, sizeof(a->err));
	__atomic_store_n(&a->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static int
attach_poll(void *arg)
{
	struct virtio_attach *a = arg;
	const char *names[BDEV_VIRTIO_MAX_BDEVS];
	int rc, n = 0;

	if (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE)) {
		return OSP_POLLER_IDLE;
	}
	pthread_join(a->tid, NULL);
	osp_poller_unregister(&a->poller);
	TAILQ_REMOVE(&g_attaching, a, link);
	rc = a->rc;
	if (rc == 0) {
		/* register owns the controller from here, whatever it returns. */
		rc = a->ops->register_bdevs(a->ctrlr, names, &n, a->err, sizeof(a->err));
	} else {
		a->ops->free(a->ctrlr);
	}
	a->cb_fn(a->cb_arg, rc, rc != 0 ? (a->err[0] ? a->err : strerror(-rc)) : NULL, names,
		 rc == 0 ? n : 0);
	free(a);
	return OSP_POLLER_BUSY;
}

bool
bdev_virtio_attaching(const char *name)
{
	struct virtio_attach *a;

	TAILQ_FOREACH(a, &g_attaching, link) {
		if (strcmp(a->name, name) == 0) {
			return true;
		}
	}
	return false;
}

int
bdev_virtio_attach_start(const char *name, void *ctrlr, const struct bdev_virtio_attach_ops *ops,
			 bdev_virtio_attach_cb cb_fn, void *cb_arg, char *err, size_t errlen)
{
	struct virtio_attach *a;
	int rc;

	if (bdev_virtio_attaching(name)) {
		snprintf(err, errlen, "a controller named '%s' is being attached", name);
		return -EEXIST;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->ctrlr = ctrlr;
	a->ops = ops;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->cb_fn = cb_fn;
	a->cb_arg = cb_arg;
	a->poller = OSP_POLLER_REGISTER(attach_poll, a, ATTACH_POLL_US);
	if (a->poller == NULL) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = pthread_create(&a->tid, NULL, attach_worker, a);
	if (rc != 0) {
		osp_poller_unregister(&a->poller);
		free(a);
		snprintf(err, errlen, "cannot start the attach thread: %s", strerror(rc));
		return -rc;
	}
	TAILQ_INSERT_TAIL(&g_attaching, a, link);
	return 0;
}

void
bdev_virtio_attach_cancel_all(void)
{
	struct virtio_attach *a;

	/* Attaches still running: wait for their pthread (bounded by the reply timeouts). */
	while ((a = TAILQ_FIRST(&g_attaching)) != NULL) {
		TAILQ_REMOVE(&g_attaching, a, link);
		osp_poller_unregister(&a->poller);
		pthread_join(a->tid, NULL);
		a->ops->free(a->ctrlr);
		a->cb_fn(a->cb_arg, -ECANCELED, "the application is shutting down", NULL, 0);
		free(a);
	}
}

int
bdev_virtio_claim_queue(uint64_t *used_mask, uint16_t first, uint16_t count)
{
	uint64_t used, want;
	uint16_t q;

	used = __atomic_load_n(used_mask, __ATOMIC_RELAXED);
	do {
		for (q = first; q < first + count; q++) {
			if ((used & (1ull << q)) == 0) {
				break;
			}
		}
		if (q == first + count) {
			return -EBUSY;
		}
		want = used | (1ull << q);
	} while (!__atomic_compare_exchange_n(used_mask, &used, want, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	return q;
}

void
bdev_virtio_release_queue(uint64_t *used_mask, uint16_t q)
{
	__atomic_fetch_and(used_mask, ~(1ull << q), __ATOMIC_ACQ_REL);
}

/* ---- request channels: one virtqueue and its data slots per thread ---- */

int
bdev_virtio_channel_open(struct bdev_virtio_channel *ch, struct osp_vu_dev *dev,
			 uint64_t *used_mask, uint16_t first, uint16_t count, uint16_t nslots,
			 size_t stride, osp_poller_fn poll, void *arg)
{
	int q = bdev_virtio_claim_queue(used_mask, first, count);

	if (q < 0) {
		return q;
	}
	ch->qidx = (uint16_t)q;
	ch->vq = osp_vu_dev_queue(dev, ch->qidx);
	ch->data = osp_vu_dev_queue_data(dev, ch->qidx);
	ch->stride = stride;
	ch->nslots = nslots;
	ch->free_slots = calloc(nslots, sizeof(*ch->free_slots));
	ch->slot_io = calloc(nslots, sizeof(*ch->slot_io));
	ch->poller = osp_poller_register_named(poll, arg, 0, "bdev_virtio_poll");
	if (ch->vq == NULL || ch->free_slots == NULL || ch->slot_io == NULL || ch->poller == NULL) {
		bdev_virtio_channel_close(ch, used_mask);
		return -ENOMEM;
	}
	for (uint16_t i = 0; i < nslots; i++) {
		ch->free_slots[i] = (uint16_t)(nslots - 1 - i);
	}
	ch->nfree = nslots;
	/* A queue a previous channel gave up with I/O in flight is not reused. */
	ch->failed = osp_virtq_in_flight(ch->vq) != 0;
	return 0;
}

void
bdev_virtio_channel_close(struct bdev_virtio_channel *ch, uint64_t *used_mask)
{
	/* The bdev layer destroys a channel with no I/O outstanding on it. */
	osp_poller_unregister(&ch->poller);
	free(ch->free_slots);
	free(ch->slot_io);
	ch->free_slots = NULL;
	ch->slot_io = NULL;
	bdev_virtio_release_queue(used_mask, ch->qidx);
}

void
bdev_virtio_channel_fail_all(struct bdev_virtio_channel *ch)
{
	ch->failed = true;
	for (uint16_t i = 0; i < ch->nslots; i++) {
		struct osp_bdev_io *bdev_io = ch->slot_io[i];

		if (bdev_io != NULL) {
			bdev_virtio_channel_done(ch, i, bdev_io, false);
		}
	}
}

void
bdev_virtio_submit(struct bdev_virtio_channel *ch, bool dead, struct osp_bdev_io *bdev_io,
		   uint16_t *slot, bdev_virtio_post_fn post, void *drv_ch)
{
	int rc;

	if (osp_unlikely(ch->failed || dead)) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	if (ch->nfree == 0) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
		return;
	}
	*slot = ch->free_slots[--ch->nfree];
	rc = post(drv_ch, bdev_io);
	if (osp_unlikely(rc != 0)) {
		ch->free_slots[ch->nfree++] = *slot;
		osp_bdev_io_complete(bdev_io, rc == -EAGAIN ? OSP_BDEV_IO_STATUS_NOMEM :
				     OSP_BDEV_IO_STATUS_FAILED);
	}
}

int
bdev_virtio_channel_reap(struct bdev_virtio_channel *ch, bool *dead, const char *what,
			 const char *name, void **cookies, int max)
{
	uint32_t lens[max];
	int n;

	if (osp_unlikely(__atomic_load_n(dead, __ATOMIC_RELAXED))) {
		bdev_virtio_channel_fail_all(ch);
		return -1;
	}
	n = osp_virtq_reap(ch->vq, cookies, lens, max);
	if (osp_unlikely(n < 0)) {
		OSP_ERRLOG("%s '%s' queue %u: the back end broke the used ring; failing the device\n",
			   what, name, ch->qidx);
		__atomic_store_n(dead, true, __ATOMIC_RELAXED);
		bdev_virtio_channel_fail_all(ch);
		return -1;
	}
	return n;
}

void
bdev_virtio_channel_done(struct bdev_virtio_channel *ch, uint16_t slot, struct osp_bdev_io *bdev_io,
			 bool ok)
{
	ch->slot_io[slot] = NULL;
	ch->free_slots[ch->nfree++] = slot;
	osp_bdev_io_complete(bdev_io, ok ? OSP_BDEV_IO_STATUS_SUCCESS : OSP_BDEV_IO_STATUS_FAILED);
}

static void
read_get_buf_cb(struct osp_io_channel *_ch, struct osp_bdev_io *bdev_io, bool success)
{
	struct bdev_virtio_channel *ch = osp_io_channel_get_ctx(_ch);

	if (!success) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	ch->submit(ch, bdev_io);
}

void
bdev_virtio_submit_request(struct osp_io_channel *_ch, struct osp_bdev_io *bdev_io)
{
	struct bdev_virtio_channel *ch = osp_io_channel_get_ctx(_ch);

	if (osp_unlikely(bdev_io->type == OSP_BDEV_IO_TYPE_READ &&
			 bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
		osp_bdev_io_get_buf(bdev_io, read_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	ch->submit(ch, bdev_io);
}

bool
bdev_virtio_opts_ok(const struct bdev_virtio_opts *opts, bool have_cb, char *err, size_t errlen)
{
	err[0] = '\0';
	if (opts == NULL || opts->name == NULL || opts->path == NULL || opts->vq_count == 0 ||
	    opts->vq_count > BDEV_VIRTIO_MAX_VQ_COUNT || opts->vq_size < 4 ||
	    (opts->vq_size & (opts->vq_size - 1)) != 0 || opts->vq_size > OSP_VIRTQ_MAX_SIZE ||
	    !have_cb) {
		snprintf(err, errlen, "invalid parameters");
		return false;
	}
	return true;
}

int
bdev_virtio_channel_post(struct bdev_virtio_channel *ch, struct osp_vu_dev *dev, uint16_t n,
			 const uint64_t *addrs, const uint32_t *lens, const bool *wr, uint16_t slot,
			 struct osp_bdev_io *bdev_io)
{
	int rc = osp_virtq_post(ch->vq, n, addrs, lens, wr, bdev_io);

	if (rc < 0) {
		return rc;
	}
	ch->slot_io[slot] = bdev_io;
	if (osp_virtq_publish(ch->vq)) {
		osp_vu_dev_kick(dev, ch->qidx);
	}
	return 0;
}
