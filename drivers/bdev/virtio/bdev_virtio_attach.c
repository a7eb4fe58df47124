/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the virtio-blk and virtio-scsi controllers share: the attach in the
 * background and the claim of a request queue by a channel.
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

#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"

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
