/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver side of a split virtqueue (virtio 1.x section 2.7): the side that
 * fills the descriptor table and the available ring and reads the used ring.
 * One queue belongs to one thread: no locks. The device is another process,
 * so the index stores and loads are release/acquire and the check of the
 * device's NO_NOTIFY flag after publishing is behind a full fence (the store
 * of avail->idx must be visible before we read used->flags, or a device going
 * to sleep could miss the chain).
 */
#include <errno.h>
#include <string.h>

#include "osprey/virtio_user.h"

#define RING_ALIGN	4096u

static size_t
align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static size_t
avail_offset(uint16_t size)
{
	return align_up((size_t)size * sizeof(struct osp_virtq_desc), RING_ALIGN);
}

static size_t
used_offset(uint16_t size)
{
	/* flags, idx, ring[size], used_event */
	return avail_offset(size) + align_up(4 + 2 * (size_t)size + 2, RING_ALIGN);
}

size_t
osp_virtq_ring_size(uint16_t size)
{
	return used_offset(size) + align_up(4 + 8 * (size_t)size + 2, RING_ALIGN);
}

int
osp_virtq_init(struct osp_virtq *vq, uint16_t size, void *ring, uint16_t *chain_len, void **cookie)
{
	uint16_t i;

	if (vq == NULL || ring == NULL || chain_len == NULL || cookie == NULL || size == 0 ||
	    (size & (size - 1)) != 0 || size > OSP_VIRTQ_MAX_SIZE ||
	    ((uintptr_t)ring & (RING_ALIGN - 1)) != 0) {
		return -EINVAL;
	}
	memset(ring, 0, osp_virtq_ring_size(size));
	memset(vq, 0, sizeof(*vq));
	vq->size = size;
	vq->desc = ring;
	vq->avail = (struct osp_virtq_avail *)((uint8_t *)ring + avail_offset(size));
	vq->used = (struct osp_virtq_used *)((uint8_t *)ring + used_offset(size));
	vq->chain_len = chain_len;
	vq->next = chain_len + size;
	vq->cookie = cookie;
	for (i = 0; i < size; i++) {
		vq->next[i] = (uint16_t)(i + 1);
		chain_len[i] = 0;
		cookie[i] = NULL;
	}
	vq->free_head = 0;
	vq->num_free = size;
	return 0;
}

/* used_event lives after the avail ring, avail_event after the used ring. */
static uint16_t *
used_event_ptr(struct osp_virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *
avail_event_ptr(struct osp_virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/*
 * Half the index space ahead of what we reaped: the device, which cannot
 * have more than size (<= 32768) chains to complete, never crosses it.
 */
static void
push_used_event(struct osp_virtq *vq)
{
	__atomic_store_n(used_event_ptr(vq), (uint16_t)(vq->last_used_idx + 0x8000), __ATOMIC_RELAXED);
}

void
osp_virtq_enable_event_idx(struct osp_virtq *vq)
{
	vq->event_idx = true;
	push_used_event(vq);
}

int
osp_virtq_post(struct osp_virtq *vq, uint16_t n, const uint64_t *addrs, const uint32_t *lens,
	       const bool *device_writable, void *cookie)
{
	uint16_t head, idx, i;

	if (n == 0 || n > vq->size) {
		return -EINVAL;
	}
	if (vq->num_free < n) {
		return -EAGAIN;
	}
	head = vq->free_head;
	idx = head;
	for (i = 0; i < n; i++) {
		struct osp_virtq_desc *d = &vq->desc[idx];

		d->addr = addrs[i];
		d->len = lens[i];
		d->flags = (uint16_t)((device_writable[i] ? OSP_VIRTQ_DESC_F_WRITE : 0) |
				      (i + 1 < n ? OSP_VIRTQ_DESC_F_NEXT : 0));
		d->next = vq->next[idx];
		if (i + 1 < n) {
			idx = vq->next[idx];
		}
	}
	vq->free_head = vq->next[idx];
	vq->num_free = (uint16_t)(vq->num_free - n);
	vq->chain_len[head] = n;
	vq->cookie[head] = cookie;
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
	vq->avail_idx++;
	return head;
}

bool
osp_virtq_publish(struct osp_virtq *vq)
{
	uint16_t old = vq->avail_published, event;

	if (vq->avail_idx == old) {
		return false;
	}
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	vq->avail_published = vq->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		/* Notify if avail_event lies in [old, new): the device waits for one of these. */
		event = __atomic_load_n(avail_event_ptr(vq), __ATOMIC_RELAXED);
		return (uint16_t)(vq->avail_idx - event - 1) < (uint16_t)(vq->avail_idx - old);
	}
	return (__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) & OSP_VIRTQ_USED_F_NO_NOTIFY) == 0;
}

int
osp_virtq_reap(struct osp_virtq *vq, void **cookies, uint32_t *lens, int max)
{
	uint16_t used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(used_idx - vq->last_used_idx);
	int n = 0;

	/* The device cannot have used more than was made available to it. */
	if (pending > (uint16_t)(vq->avail_published - vq->last_used_idx)) {
		return -EIO;
	}
	while (n < max && vq->last_used_idx != used_idx) {
		const struct osp_virtq_used_elem *e = &vq->used->ring[vq->last_used_idx & (vq->size - 1)];
		uint32_t id = e->id;
		uint16_t cnt, tail, i;

		if (id >= vq->size || vq->chain_len[id] == 0) {
			return -EIO;
		}
		cnt = vq->chain_len[id];
		tail = (uint16_t)id;
		for (i = 1; i < cnt; i++) {
			tail = vq->next[tail];
		}
		/*
		 * The links come from our private copy: the descriptor table is
		 * shared, and a device writing into it must not steer our free list.
		 */
		vq->next[tail] = vq->free_head;
		vq->free_head = (uint16_t)id;
		vq->num_free = (uint16_t)(vq->num_free + cnt);
		vq->chain_len[id] = 0;
		cookies[n] = vq->cookie[id];
		lens[n] = e->len;
		vq->cookie[id] = NULL;
		vq->last_used_idx++;
		n++;
	}
	if (n > 0 && vq->event_idx) {
		push_used_event(vq);
	}
	return n;
}
