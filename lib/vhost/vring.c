/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device side of split (virtio 1.x 2.7) and packed (2.8) virtqueues over
 * host-mapped guest memory. See include/osprey/vhost_ring.h for the contract
 * and doc/vhost.md for the checks made.
 *
 * Ordering (the guest is another CPU): the driver publishes avail->idx (split)
 * or a descriptor's flags (packed) with a release; we read them with an
 * acquire before touching what they publish. We publish used entries the same
 * way: the entry, then used->idx / the flags with a release. Before reading
 * the driver's notification wishes after publishing we need store->load
 * order, i.e. a full fence.
 *
 * Everything read from the rings is read once into a local (descriptors are
 * copied, then a compiler barrier), so a guest changing a descriptor while we
 * look at it cannot make us check one value and use another.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/vhost_ring.h"
#include "virtio_ring_spec.h"

static_assert(sizeof(struct osp_vring_inflight_desc) == 16, "vhost-user DescStateSplit");
static_assert(sizeof(struct osp_vring_inflight_split) == 16, "vhost-user QueueRegionSplit");
static_assert(sizeof(struct osp_vring_inflight_pdesc) == 32, "vhost-user DescStatePacked");
static_assert(offsetof(struct osp_vring_inflight_packed, desc) == 32, "vhost-user QueueRegionPacked");

/* An indirect table larger than this is refused (bounds the work per chain). */
#define VRING_MAX_INDIRECT	OSP_VRING_MAX_SIZE

#define compiler_barrier()	__asm__ __volatile__("" ::: "memory")

static inline void
read_desc16(void *dst, const void *src)
{
	memcpy(dst, src, 16);
	compiler_barrier();
}

static inline uint16_t
load16(const void *p)
{
	return *(const volatile uint16_t *)p;
}

static inline void
store16(void *p, uint16_t v)
{
	*(volatile uint16_t *)p = v;
}

static inline int
vring_broken(struct osp_vring *vq)
{
	vq->broken = true;
	return -EIO;
}

static inline uint16_t *
split_used_event(const struct osp_vring *vq)
{
	return &((struct virtq_avail *)vq->r.split.avail)->ring[vq->size];
}

static inline uint16_t *
split_avail_event(const struct osp_vring *vq)
{
	return (uint16_t *)&((struct virtq_used *)vq->r.split.used)->ring[vq->size];
}

int
osp_vring_init_split(struct osp_vring *vq, const struct osp_vhost_mem *mem, uint16_t size,
		     void *desc, void *avail, void *used, uint64_t features,
		     uint16_t last_avail, uint16_t used_idx)
{
	if (vq == NULL || mem == NULL || size == 0 || (size & (size - 1)) != 0 ||
	    desc == NULL || avail == NULL || used == NULL ||
	    ((uintptr_t)desc & 15) != 0 || ((uintptr_t)avail & 1) != 0 ||
	    ((uintptr_t)used & 3) != 0) {
		return -EINVAL;
	}
	/* Each area whole inside one region: the device reads and writes all of it. */
	if (!osp_vhost_mem_host_contains(mem, desc, 16ull * size) ||
	    !osp_vhost_mem_host_contains(mem, avail, 6ull + 2ull * size) ||
	    !osp_vhost_mem_host_contains(mem, used, 6ull + 8ull * size)) {
		return -EFAULT;
	}
	memset(vq, 0, sizeof(*vq));
	vq->packed = false;
	vq->event_idx = (features >> OSP_VIRTIO_F_EVENT_IDX) & 1;
	vq->indirect = (features >> OSP_VIRTIO_F_INDIRECT_DESC) & 1;
	vq->size = size;
	vq->last_avail = last_avail;
	vq->avail_shadow = last_avail;
	vq->used_idx = used_idx;
	vq->signal_old = used_idx;
	vq->mem = mem;
	vq->r.split.desc = desc;
	vq->r.split.avail = avail;
	vq->r.split.used = used;
	return 0;
}

int
osp_vring_init_packed(struct osp_vring *vq, const struct osp_vhost_mem *mem, uint16_t size,
		      void *desc, void *driver_event, void *device_event, uint64_t features,
		      uint16_t last_avail, uint16_t used_idx)
{
	if (vq == NULL || mem == NULL || size == 0 || size > OSP_VRING_MAX_SIZE ||
	    (last_avail & 0x7fff) >= size || (used_idx & 0x7fff) >= size ||
	    desc == NULL || driver_event == NULL || device_event == NULL ||
	    ((uintptr_t)desc & 15) != 0 || ((uintptr_t)driver_event & 3) != 0 ||
	    ((uintptr_t)device_event & 3) != 0) {
		return -EINVAL;
	}
	if (!osp_vhost_mem_host_contains(mem, desc, 16ull * size) ||
	    !osp_vhost_mem_host_contains(mem, driver_event, 4) ||
	    !osp_vhost_mem_host_contains(mem, device_event, 4)) {
		return -EFAULT;
	}
	memset(vq, 0, sizeof(*vq));
	vq->packed = true;
	vq->event_idx = (features >> OSP_VIRTIO_F_EVENT_IDX) & 1;
	vq->indirect = (features >> OSP_VIRTIO_F_INDIRECT_DESC) & 1;
	vq->size = size;
	vq->last_avail = last_avail & 0x7fff;
	vq->avail_wrap = (last_avail >> 15) & 1;
	vq->used_idx = used_idx & 0x7fff;
	vq->used_wrap = (used_idx >> 15) & 1;
	vq->mem = mem;
	vq->r.packed.desc = desc;
	vq->r.packed.driver_event = driver_event;
	vq->r.packed.device_event = device_event;
	return 0;
}

/* Chain walking state shared by both layouts. */
struct chain {
	uint64_t out_len;
	uint64_t in_len;
	int cnt;
	bool writable;	/* a device-writable descriptor was seen (even an empty one) */
};

static inline void
chain_start(struct osp_vring_req *req, struct chain *c)
{
	c->out_len = 0;
	c->in_len = 0;
	c->cnt = 0;
	c->writable = false;
	req->out_cnt = 0;
	req->in_cnt = 0;
	req->out_len = 0;
	req->in_len = 0;
	req->error = 0;
}

/* One direct descriptor's buffer: order, length and address checks, then its iovecs. */
static inline int
chain_add(struct osp_vring *vq, struct osp_vring_req *req, struct chain *c, uint64_t addr,
	  uint32_t len, uint16_t flags)
{
	int rc;

	if (flags & VIRTQ_DESC_F_WRITE) {
		c->writable = true;
		c->in_len += len;
	} else {
		/* virtio 1.x, message framing: device-readable descriptors come before device-writable ones. */
		if (c->writable) {
			return -EINVAL;
		}
		c->out_len += len;
	}
	if (c->out_len + c->in_len > UINT32_MAX) {
		return -EOVERFLOW;
	}
	/* Fast path: the whole buffer inside the region that held the previous one. */
	if (vq->mem_hint < vq->mem->nregions && len != 0 && c->cnt < req->iov_max) {
		const struct osp_vhost_mem_region *r = &vq->mem->regions[vq->mem_hint];
		uint64_t off = addr - r->gpa;

		if (off < r->size && len <= r->size - off) {
			req->iov[c->cnt].iov_base = (uint8_t *)r->host + off;
			req->iov[c->cnt].iov_len = len;
			rc = 1;
			goto added;
		}
	}
	rc = osp_vhost_mem_translate(vq->mem, &vq->mem_hint, addr, len, req->iov + c->cnt,
				     req->iov_max - c->cnt);
	if (rc < 0) {
		return rc;
	}
added:
	c->cnt += rc;
	if (flags & VIRTQ_DESC_F_WRITE) {
		req->in_cnt += rc;
	} else {
		req->out_cnt += rc;
	}
	return 0;
}

static inline void
chain_end(struct osp_vring_req *req, struct chain *c)
{
	req->out_len = (uint32_t)c->out_len;
	req->in_len = (uint32_t)c->in_len;
}

/* Map an indirect table; returns its entry count or a negative errno. */
static inline int64_t
indirect_table(struct osp_vring *vq, uint64_t addr, uint32_t len, uint16_t flags,
	       const void **table)
{
	/*
	 * 2.7, indirect descriptors: only with VIRTIO_F_INDIRECT_DESC, never with
	 * NEXT; whole descriptors.
	 */
	if (!vq->indirect || (flags & VIRTQ_DESC_F_NEXT) || len == 0 || (len & 15) != 0 ||
	    len / 16 > VRING_MAX_INDIRECT) {
		return -EINVAL;
	}
	*table = osp_vhost_mem_ptr(vq->mem, &vq->mem_hint, addr, len);
	if (*table == NULL) {
		return -EFAULT;
	}
	return len / 16;
}

/* ---- split ---- */

static int
split_walk(struct osp_vring *vq, struct osp_vring_req *req, uint16_t head)
{
	const struct virtq_desc *table = vq->r.split.desc;
	uint32_t tsize = vq->size;
	uint32_t i = head, count = 0;
	bool indirect = false;
	struct chain c;
	int rc;

	chain_start(req, &c);
	for (;;) {
		struct virtq_desc d;

		/* A chain visiting more descriptors than its table holds must revisit one. */
		if (++count > tsize) {
			return -ELOOP;
		}
		read_desc16(&d, &table[i]);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			const void *t;
			int64_t n;

			if (indirect) {
				return -EINVAL;	/* 2.7, indirect descriptors: no table in a table */
			}
			n = indirect_table(vq, d.addr, d.len, d.flags, &t);
			if (n < 0) {
				return (int)n;
			}
			/* The flags of the descriptor pointing at the table (WRITE) are ignored. */
			table = t;
			tsize = (uint32_t)n;
			indirect = true;
			i = 0;
			count = 0;
			continue;
		}
		rc = chain_add(vq, req, &c, d.addr, d.len, d.flags);
		if (rc != 0) {
			return rc;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT)) {
			break;
		}
		i = d.next;
		if (i >= tsize) {
			return -EINVAL;
		}
	}
	chain_end(req, &c);
	return 0;
}

/* Mark head in flight: its counter first, then the flag (a crash between leaves it clear). */
static inline void
inflight_mark(struct osp_vring *vq, uint16_t head)
{
	struct osp_vring_inflight_desc *d = &vq->inflight->desc[head];

	__atomic_store_n(&d->counter, vq->inflight_counter++, __ATOMIC_RELAXED);
	__atomic_store_n(&d->inflight, 1, __ATOMIC_RELEASE);
}

static inline int
split_pop(struct osp_vring *vq, struct osp_vring_req *req)
{
	struct virtq_avail *avail = vq->r.split.avail;
	uint16_t head;

	if (vq->last_avail == vq->avail_shadow) {
		uint16_t idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);

		/* 2.7, the available ring: the driver can be at most size entries ahead of us. */
		if ((uint16_t)(idx - vq->last_avail) > vq->size) {
			return vring_broken(vq);
		}
		vq->avail_shadow = idx;
		if (idx == vq->last_avail) {
			return 0;
		}
	}
	head = load16(&avail->ring[vq->last_avail & (vq->size - 1)]);
	if (head >= vq->size) {
		/* No descriptor to give back: nothing identifies this request. */
		return vring_broken(vq);
	}
	vq->last_avail++;
	req->id = head;
	req->ndescs = 1;
	req->error = (int16_t)split_walk(vq, req, head);
	if (vq->inflight != NULL) {
		inflight_mark(vq, head);
	}
	return 1;
}

static inline void
split_write_used(struct osp_vring *vq, uint16_t id, uint32_t len)
{
	struct virtq_used *used = vq->r.split.used;
	volatile struct virtq_used_elem *e = &used->ring[vq->used_idx & (vq->size - 1)];

	e->id = id;
	e->len = len;
	vq->used_idx++;
}

static inline void
split_publish(struct osp_vring *vq)
{
	struct virtq_used *used = vq->r.split.used;

	__atomic_store_n(&used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

/*
 * One used entry with inflight tracking, in the order a restarted back end
 * (rte_vhost's reconnect check) relies on: last_batch_head, the used entry and
 * used->idx, the head's flag cleared, then used_idx. If used_idx differs from
 * used->idx after a crash, only last_batch_head can be the difference.
 */
static void
split_push_tracked(struct osp_vring *vq, uint16_t id, uint32_t len)
{
	struct osp_vring_inflight_split *in = vq->inflight;

	__atomic_store_n(&in->last_batch_head, id, __ATOMIC_RELEASE);
	split_write_used(vq, id, len);
	split_publish(vq);
	__atomic_store_n(&in->desc[id].inflight, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&in->used_idx, vq->used_idx, __ATOMIC_RELEASE);
}

static bool
split_need_notify(struct osp_vring *vq)
{
	uint16_t old = vq->signal_old, new = vq->used_idx;

	vq->signal_old = new;
	if (old == new) {
		return false;
	}
	/* Our used->idx store must be visible before we read the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		/*
		 * 2.7, used buffer notification suppression: the driver asks to be
		 * notified when the used entry with index used_event is written; we
		 * wrote entries old .. new-1 (mod 2^16).
		 */
		uint16_t ev = load16(split_used_event(vq));

		return (uint16_t)(ev - old) < (uint16_t)(new - old);
	}
	return !(load16(&((struct virtq_avail *)vq->r.split.avail)->flags) &
		 VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* ---- packed ---- */

static inline bool
packed_desc_avail(uint16_t flags, bool wrap)
{
	/* 2.8, wrap counters: available when AVAIL matches the wrap counter and USED does not. */
	return !!(flags & VIRTQ_DESC_F_AVAIL) == wrap && !!(flags & VIRTQ_DESC_F_USED) != wrap;
}

static int
packed_indirect(struct osp_vring *vq, struct osp_vring_req *req, struct chain *c,
		const struct pvirtq_desc *d)
{
	const struct pvirtq_desc *table;
	const void *t;
	int64_t n, i;
	int rc;

	n = indirect_table(vq, d->addr, d->len, d->flags, &t);
	if (n < 0) {
		return (int)n;
	}
	table = t;
	/*
	 * 2.8, indirect descriptors: the table's entries are used in order; NEXT and
	 * the IDs in it are ignored.
	 */
	for (i = 0; i < n; i++) {
		struct pvirtq_desc e;

		read_desc16(&e, &table[i]);
		if (e.flags & VIRTQ_DESC_F_INDIRECT) {
			return -EINVAL;
		}
		rc = chain_add(vq, req, c, e.addr, e.len, e.flags);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/* One descriptor of a packed chain (from the ring or the inflight region's copy). */
static inline int
packed_desc_add(struct osp_vring *vq, struct osp_vring_req *req, struct chain *c,
		const struct pvirtq_desc *d)
{
	int err;

	if (d->flags & VIRTQ_DESC_F_INDIRECT) {
		err = packed_indirect(vq, req, c, d);
		if (err == 0 && (d->flags & VIRTQ_DESC_F_NEXT)) {
			err = -EINVAL;
		}
		return err;
	}
	return chain_add(vq, req, c, d->addr, d->len, d->flags);
}

/* ---- packed inflight tracking (vhost-user, "Inflight I/O tracking", packed layout) ---- */

/*
 * The region's free list is bad (an entry index out of range): stop tracking
 * rather than write outside it. Only a front end that scribbled over its own
 * region gets here.
 */
static void
pin_lose(struct osp_vring *vq)
{
	vq->pinflight = NULL;
	vq->pinflight_lost = true;
}

/* Copy descriptor d of the chain being popped into the next free entry. */
static inline void
pin_record(struct osp_vring *vq, const struct pvirtq_desc *d, bool is_first, uint16_t *first,
	   uint16_t *last)
{
	struct osp_vring_inflight_pdesc *e;
	uint16_t i = vq->pin_free_head;

	if (i >= vq->pin_nent) {
		pin_lose(vq);
		return;
	}
	e = &vq->pinflight->desc[i];
	__atomic_store_n(&e->addr, d->addr, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, d->len, __ATOMIC_RELAXED);
	__atomic_store_n(&e->flags, d->flags, __ATOMIC_RELAXED);
	__atomic_store_n(&e->id, d->id, __ATOMIC_RELAXED);
	if (is_first) {
		*first = i;
	}
	*last = i;
	vq->pin_free_head = __atomic_load_n(&e->next, __ATOMIC_RELAXED);
}

/*
 * The whole chain is copied: its head gets its entry count, last entry,
 * counter and flag, then free_head and (last, release) old_free_head. Until
 * old_free_head moves, a reconnect rolls the pop back (the head is still the
 * first free entry: its flag is cleared with the rest of the free list).
 */
static inline void
pin_commit(struct osp_vring *vq, struct osp_vring_req *req, uint16_t first, uint16_t last,
	   uint16_t count)
{
	struct osp_vring_inflight_packed *in = vq->pinflight;
	struct osp_vring_inflight_pdesc *h = &in->desc[first];

	__atomic_store_n(&h->num, count, __ATOMIC_RELAXED);
	__atomic_store_n(&h->last, last, __ATOMIC_RELAXED);
	__atomic_store_n(&h->counter, vq->inflight_counter++, __ATOMIC_RELAXED);
	__atomic_store_n(&h->inflight, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&in->free_head, vq->pin_free_head, __ATOMIC_RELEASE);
	__atomic_store_n(&in->old_free_head, vq->pin_free_head, __ATOMIC_RELEASE);
	req->slot = first;
	req->slot_last = last;
}

static inline uint16_t
packed_used_flags(bool wrap)
{
	return wrap ? (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED) : 0;
}

/*
 * One used descriptor with tracking, in the specification's order: the
 * chain's entries back on the free list (free_head), the new used position
 * (used_idx, used_wrap_counter), the used descriptor (flags last, release),
 * the head's flag cleared, then old_free_head, old_used_wrap_counter and
 * old_used_idx. A reconnect that finds the used position differing from the
 * old one looks at the ring to tell whether the descriptor was published.
 */
static void
packed_push_tracked(struct osp_vring *vq, const struct osp_vring_req *req, uint32_t len)
{
	struct osp_vring_inflight_packed *in = vq->pinflight;
	struct pvirtq_desc *d = &((struct pvirtq_desc *)vq->r.packed.desc)[vq->used_idx];
	uint16_t flags = packed_used_flags(vq->used_wrap);
	uint32_t next = (uint32_t)vq->used_idx + req->ndescs;
	bool wrap = vq->used_wrap;

	if (next >= vq->size) {
		next -= vq->size;
		wrap = !wrap;
	}
	__atomic_store_n(&in->desc[req->slot_last].next, vq->pin_free_head, __ATOMIC_RELAXED);
	vq->pin_free_head = req->slot;
	__atomic_store_n(&in->free_head, req->slot, __ATOMIC_RELAXED);
	__atomic_store_n(&in->used_idx, (uint16_t)next, __ATOMIC_RELAXED);
	__atomic_store_n(&in->used_wrap_counter, (uint8_t)wrap, __ATOMIC_RELAXED);
	((volatile struct pvirtq_desc *)d)->id = req->id;
	((volatile struct pvirtq_desc *)d)->len = len;
	__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
	__atomic_store_n(&in->desc[req->slot].inflight, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&in->old_free_head, req->slot, __ATOMIC_RELEASE);
	__atomic_store_n(&in->old_used_wrap_counter, (uint8_t)wrap, __ATOMIC_RELEASE);
	__atomic_store_n(&in->old_used_idx, (uint16_t)next, __ATOMIC_RELEASE);
	vq->used_idx = (uint16_t)next;
	vq->used_wrap = wrap;
	vq->unsignalled += req->ndescs;
}

int
osp_vring_inflight_packed_recover(struct osp_vring_inflight_packed *in, uint16_t nent,
				  const void *desc_ring, uint16_t ring_size)
{
	uint16_t used, old_used, i;
	uint8_t wrap, old_wrap;

	if (in == NULL || ((uintptr_t)in & 7) != 0 || nent == 0) {
		return -EINVAL;
	}
	used = __atomic_load_n(&in->used_idx, __ATOMIC_ACQUIRE);
	wrap = __atomic_load_n(&in->used_wrap_counter, __ATOMIC_ACQUIRE) & 1;
	old_used = __atomic_load_n(&in->old_used_idx, __ATOMIC_ACQUIRE);
	old_wrap = __atomic_load_n(&in->old_used_wrap_counter, __ATOMIC_ACQUIRE) & 1;
	if (used != old_used || wrap != old_wrap) {
		/*
		 * An update of the used position was in progress: if the descriptor
		 * at old_used_idx no longer looks available in lap old_used_wrap_counter
		 * (AVAIL = wrap, USED = !wrap), the used descriptor was written and
		 * the driver saw it: commit; else roll back.
		 */
		bool commit = false;

		if (desc_ring != NULL && old_used < ring_size) {
			const struct pvirtq_desc *d = &((const struct pvirtq_desc *)desc_ring)[old_used];
			uint16_t f = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE) &
				     (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED);
			uint16_t avail = old_wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;

			commit = f != avail;
		}
		if (commit) {
			__atomic_store_n(&in->old_free_head, __atomic_load_n(&in->free_head,
					 __ATOMIC_RELAXED), __ATOMIC_RELAXED);
			__atomic_store_n(&in->old_used_idx, used, __ATOMIC_RELAXED);
			__atomic_store_n(&in->old_used_wrap_counter, wrap, __ATOMIC_RELAXED);
		}
	}
	/* Roll back whatever is left in progress (a pop, or a push not published). */
	i = __atomic_load_n(&in->old_free_head, __ATOMIC_RELAXED);
	__atomic_store_n(&in->free_head, i, __ATOMIC_RELAXED);
	__atomic_store_n(&in->used_idx, __atomic_load_n(&in->old_used_idx, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&in->used_wrap_counter,
			 __atomic_load_n(&in->old_used_wrap_counter, __ATOMIC_RELAXED) & 1,
			 __ATOMIC_RELAXED);
	/* Entries on the free list are not in flight (a pop not finished, a push finished). */
	for (uint32_t steps = 0; i < nent && steps < nent; steps++) {
		__atomic_store_n(&in->desc[i].inflight, 0, __ATOMIC_RELAXED);
		i = __atomic_load_n(&in->desc[i].next, __ATOMIC_RELAXED);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return 0;
}

static int
resubmit_cmp(const void *a, const void *b)
{
	const struct osp_vring_resubmit *x = a, *y = b;

	return x->counter < y->counter ? -1 : x->counter > y->counter;
}

int
osp_vring_set_inflight_packed(struct osp_vring *vq, struct osp_vring_inflight_packed *in,
			      uint16_t nent, bool resume, struct osp_vring_resubmit *out,
			      uint16_t max)
{
	uint64_t counter = 0;
	uint32_t total = 0;
	uint16_t n = 0, used, fh;
	bool wrap;

	if (vq == NULL || !vq->packed || in == NULL || ((uintptr_t)in & 7) != 0 ||
	    nent < vq->size) {
		return -EINVAL;
	}
	if (!resume) {
		for (uint32_t i = 0; i < nent; i++) {
			in->desc[i].inflight = 0;
			in->desc[i].num = 0;
			in->desc[i].next = (uint16_t)(i + 1);
		}
		in->free_head = 0;
		in->old_free_head = 0;
		in->used_idx = vq->used_idx;
		in->old_used_idx = vq->used_idx;
		in->used_wrap_counter = vq->used_wrap;
		in->old_used_wrap_counter = vq->used_wrap;
		if (in->version == 0) {
			in->version = 1;
		}
		__atomic_thread_fence(__ATOMIC_RELEASE);
		vq->pin_free_head = 0;
		vq->inflight_counter = 0;
		vq->pin_nent = nent;
		vq->pinflight = in;
		vq->pinflight_lost = false;
		return 0;
	}
	used = __atomic_load_n(&in->used_idx, __ATOMIC_ACQUIRE);
	wrap = __atomic_load_n(&in->used_wrap_counter, __ATOMIC_ACQUIRE) & 1;
	fh = __atomic_load_n(&in->free_head, __ATOMIC_ACQUIRE);
	if (used >= vq->size) {
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < nent; i++) {
		const struct osp_vring_inflight_pdesc *h = &in->desc[i];
		uint16_t num, cur = (uint16_t)i;
		uint64_t cnt;

		if (__atomic_load_n(&h->inflight, __ATOMIC_ACQUIRE) != 1) {
			continue;
		}
		num = __atomic_load_n(&h->num, __ATOMIC_RELAXED);
		cnt = __atomic_load_n(&h->counter, __ATOMIC_RELAXED);
		if (num == 0 || num > vq->size) {
			return -EBADMSG;
		}
		for (uint16_t k = 1; k < num; k++) {
			cur = __atomic_load_n(&in->desc[cur].next, __ATOMIC_RELAXED);
			if (cur >= nent) {
				return -EBADMSG;
			}
		}
		if (cur != __atomic_load_n(&h->last, __ATOMIC_RELAXED)) {
			return -EBADMSG;
		}
		/* Every chain in flight took ring slots after the used position: they fit in the ring. */
		total += num;
		if (total > vq->size || n == max) {
			return -EBADMSG;
		}
		out[n].counter = cnt;
		out[n].slot = (uint16_t)i;
		n++;
		if (cnt >= counter) {
			counter = cnt + 1;
		}
	}
	qsort(out, n, sizeof(*out), resubmit_cmp);
	vq->used_idx = used;
	vq->used_wrap = wrap;
	total += used;
	vq->avail_wrap = wrap;
	if (total >= vq->size) {
		total -= vq->size;
		vq->avail_wrap = !wrap;
	}
	vq->last_avail = (uint16_t)total;
	vq->pin_free_head = fh;
	vq->inflight_counter = counter;
	vq->pin_nent = nent;
	vq->pinflight = in;
	vq->pinflight_lost = false;
	return n;
}

/* A chain rebuilt from the inflight region's copies (resubmission after a reconnect). */
static int
packed_pop_slot(struct osp_vring *vq, uint16_t slot, struct osp_vring_req *req)
{
	struct osp_vring_inflight_packed *in = vq->pinflight;
	uint16_t num, cur = slot, id = 0;
	struct chain c;
	int err = 0;

	if (slot >= vq->pin_nent) {
		return -EINVAL;
	}
	num = __atomic_load_n(&in->desc[slot].num, __ATOMIC_RELAXED);
	if (num == 0 || num > vq->size) {
		return -EINVAL;
	}
	chain_start(req, &c);
	for (uint16_t k = 0; k < num; k++) {
		const struct osp_vring_inflight_pdesc *e;
		struct pvirtq_desc d;

		if (k > 0) {
			cur = __atomic_load_n(&in->desc[cur].next, __ATOMIC_RELAXED);
			if (cur >= vq->pin_nent) {
				return -EINVAL;
			}
		}
		e = &in->desc[cur];
		d.addr = __atomic_load_n(&e->addr, __ATOMIC_RELAXED);
		d.len = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
		d.id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
		d.flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
		if (err == 0) {
			err = packed_desc_add(vq, req, &c, &d);
		}
		/* The copies must chain as the ring did: NEXT on all but the last. */
		if (err == 0 && !!(d.flags & VIRTQ_DESC_F_NEXT) != (k + 1 < num)) {
			err = -EINVAL;
		}
		id = d.id;
	}
	req->id = id;
	req->ndescs = num;
	req->error = (int16_t)err;
	req->slot = slot;
	req->slot_last = cur;
	if (err == 0) {
		chain_end(req, &c);
	}
	return 1;
}

static inline int
packed_pop(struct osp_vring *vq, struct osp_vring_req *req)
{
	struct pvirtq_desc *ring = vq->r.packed.desc;
	uint16_t slot = vq->last_avail;
	bool wrap = vq->avail_wrap;
	uint32_t count = 0;
	struct chain c;
	int err = 0;
	uint16_t id, first = 0, last = 0, pin_saved = vq->pin_free_head;

	if (!packed_desc_avail(__atomic_load_n(&ring[slot].flags, __ATOMIC_ACQUIRE), wrap)) {
		return 0;
	}
	chain_start(req, &c);
	/*
	 * The chain's extent comes from the NEXT flags alone, so that a bad
	 * descriptor fails only its request and we stay in step with the driver.
	 */
	for (;;) {
		struct pvirtq_desc d;

		if (++count > vq->size) {
			vq->pin_free_head = pin_saved;	/* nothing of this chain recorded */
			return vring_broken(vq);	/* 2.8: no chain is longer than the ring */
		}
		read_desc16(&d, &ring[slot]);
		if (++slot == vq->size) {
			slot = 0;
			wrap = !wrap;
		}
		if (err == 0) {
			err = packed_desc_add(vq, req, &c, &d);
		}
		if (vq->pinflight != NULL) {
			pin_record(vq, &d, count == 1, &first, &last);
		}
		/* 2.8, descriptor chaining: the buffer ID is in the chain's last descriptor. */
		id = d.id;
		if (!(d.flags & VIRTQ_DESC_F_NEXT)) {
			break;
		}
	}
	vq->last_avail = slot;
	vq->avail_wrap = wrap;
	req->id = id;
	req->ndescs = (uint16_t)count;
	req->error = (int16_t)err;
	req->slot = UINT16_MAX;
	if (vq->pinflight != NULL) {
		pin_commit(vq, req, first, last, (uint16_t)count);
	}
	if (err == 0) {
		chain_end(req, &c);
	}
	return 1;
}

static inline void
packed_write_used(struct osp_vring *vq, const struct osp_vring_req *req, uint32_t len,
		  bool publish)
{
	struct pvirtq_desc *d = &((struct pvirtq_desc *)vq->r.packed.desc)[vq->used_idx];
	uint16_t flags = vq->used_wrap ? (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED) : 0;
	uint32_t next;

	((volatile struct pvirtq_desc *)d)->id = req->id;
	((volatile struct pvirtq_desc *)d)->len = len;
	/* 2.8, used descriptors: flags last, after id and len, with release ordering. */
	if (publish) {
		__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
	} else {
		store16(&d->flags, flags);
	}
	next = (uint32_t)vq->used_idx + req->ndescs;
	if (next >= vq->size) {
		next -= vq->size;
		vq->used_wrap = !vq->used_wrap;
	}
	vq->used_idx = (uint16_t)next;
	vq->unsignalled += req->ndescs;
}

static bool
packed_need_notify(struct osp_vring *vq)
{
	const struct pvirtq_event_suppress *ev = vq->r.packed.driver_event;
	uint32_t n = vq->unsignalled;
	uint16_t flags, off_wrap;
	int32_t new, old, e;

	vq->unsignalled = 0;
	if (n == 0) {
		return false;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = load16(&ev->flags) & 3;
	if (flags == RING_EVENT_FLAGS_DISABLE) {
		return false;
	}
	if (flags != RING_EVENT_FLAGS_DESC || !vq->event_idx || n >= vq->size) {
		return true;	/* ENABLE, or a reserved value / DESC without EVENT_IDX: notify */
	}
	off_wrap = load16(&ev->off_wrap);
	/*
	 * 2.8, event suppression: the driver wants a notification once the used descriptor at slot
	 * off (of lap wrap) is written. We wrote slots [old, new) counted from the
	 * start of the current used lap (old < 0: part in the previous lap).
	 */
	new = vq->used_idx;
	old = new - (int32_t)n;
	e = off_wrap & 0x7fff;
	if (!!(off_wrap >> 15) != vq->used_wrap) {
		e -= vq->size;
	}
	return e >= old && e < new;
}

/* ---- common ---- */

int
osp_vring_pop(struct osp_vring *vq, struct osp_vring_req *req)
{
	if (vq->broken) {
		return -EIO;
	}
	return vq->packed ? packed_pop(vq, req) : split_pop(vq, req);
}

int
osp_vring_pop_burst(struct osp_vring *vq, struct osp_vring_req *reqs, int n)
{
	int i, rc;

	if (vq->broken) {
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		rc = vq->packed ? packed_pop(vq, &reqs[i]) : split_pop(vq, &reqs[i]);
		if (rc <= 0) {
			return i > 0 ? i : rc;
		}
	}
	return i;
}

int
osp_vring_pop_head(struct osp_vring *vq, uint16_t head, struct osp_vring_req *req)
{
	if (vq->broken) {
		return -EIO;
	}
	if (vq->packed) {
		return vq->pinflight != NULL ? packed_pop_slot(vq, head, req) : -ENOTSUP;
	}
	if (head >= vq->size) {
		return -EINVAL;
	}
	req->id = head;
	req->ndescs = 1;
	req->error = (int16_t)split_walk(vq, req, head);
	if (vq->inflight != NULL) {
		inflight_mark(vq, head);
	}
	return 1;
}

int
osp_vring_set_inflight(struct osp_vring *vq, struct osp_vring_inflight_split *region,
		       uint16_t desc_num, uint64_t counter)
{
	if (vq->packed) {
		return -ENOTSUP;
	}
	if (region == NULL || ((uintptr_t)region & 7) != 0 || desc_num < vq->size) {
		return -EINVAL;
	}
	vq->inflight = region;
	vq->inflight_counter = counter;
	return 0;
}

void
osp_vring_push(struct osp_vring *vq, const struct osp_vring_req *req, uint32_t len)
{
	if (vq->packed) {
		if (vq->pinflight != NULL && req->slot < vq->pin_nent && req->slot_last < vq->pin_nent) {
			packed_push_tracked(vq, req, len);
		} else {
			packed_write_used(vq, req, len, true);
		}
	} else if (vq->inflight != NULL) {
		split_push_tracked(vq, req->id, len);
	} else {
		split_write_used(vq, req->id, len);
		split_publish(vq);
	}
}

void
osp_vring_push_burst(struct osp_vring *vq, const struct osp_vring_req *reqs,
		     const uint32_t *lens, int n)
{
	int i;

	if (n <= 0) {
		return;
	}
	if (!vq->packed && vq->inflight != NULL) {
		for (i = 0; i < n; i++) {
			split_push_tracked(vq, reqs[i].id, lens[i]);
		}
		return;
	}
	if (!vq->packed) {
		for (i = 0; i < n; i++) {
			split_write_used(vq, reqs[i].id, lens[i]);
		}
		split_publish(vq);
		return;
	}
	if (vq->pinflight != NULL) {
		/* Tracked: one entry at a time, each in the order a reconnect relies on. */
		for (i = 0; i < n; i++) {
			osp_vring_push(vq, &reqs[i], lens[i]);
		}
		return;
	}
	/*
	 * The driver reads used descriptors in ring order, so it sees none of the
	 * batch until the first one's flags flip: write that one last (release).
	 */
	{
		struct pvirtq_desc *first = &((struct pvirtq_desc *)vq->r.packed.desc)[vq->used_idx];
		uint16_t first_flags = vq->used_wrap ? (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED) : 0;

		((volatile struct pvirtq_desc *)first)->id = reqs[0].id;
		((volatile struct pvirtq_desc *)first)->len = lens[0];
		{
			uint32_t next = (uint32_t)vq->used_idx + reqs[0].ndescs;

			if (next >= vq->size) {
				next -= vq->size;
				vq->used_wrap = !vq->used_wrap;
			}
			vq->used_idx = (uint16_t)next;
			vq->unsignalled += reqs[0].ndescs;
		}
		for (i = 1; i < n; i++) {
			packed_write_used(vq, &reqs[i], lens[i], false);
		}
		__atomic_store_n(&first->flags, first_flags, __ATOMIC_RELEASE);
	}
}

bool
osp_vring_need_notify(struct osp_vring *vq)
{
	return vq->packed ? packed_need_notify(vq) : split_need_notify(vq);
}

bool
osp_vring_has_avail(struct osp_vring *vq)
{
	if (vq->packed) {
		const struct pvirtq_desc *ring = vq->r.packed.desc;

		return packed_desc_avail(__atomic_load_n(&ring[vq->last_avail].flags,
					 __ATOMIC_ACQUIRE), vq->avail_wrap);
	}
	if (vq->last_avail != vq->avail_shadow) {
		return true;
	}
	return __atomic_load_n(&((struct virtq_avail *)vq->r.split.avail)->idx,
			       __ATOMIC_ACQUIRE) != vq->last_avail;
}

bool
osp_vring_set_kick(struct osp_vring *vq, bool enable)
{
	if (vq->packed) {
		struct pvirtq_event_suppress *ev = vq->r.packed.device_event;

		if (!enable) {
			store16(&ev->flags, RING_EVENT_FLAGS_DISABLE);
			return false;
		}
		if (vq->event_idx) {
			store16(&ev->off_wrap, (uint16_t)(vq->last_avail |
							  ((uint16_t)vq->avail_wrap << 15)));
			__atomic_store_n(&ev->flags, (uint16_t)RING_EVENT_FLAGS_DESC,
					 __ATOMIC_RELEASE);
		} else {
			store16(&ev->flags, RING_EVENT_FLAGS_ENABLE);
		}
	} else if (!vq->event_idx) {
		store16(&((struct virtq_used *)vq->r.split.used)->flags,
			enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
		if (!enable) {
			return false;
		}
	} else {
		/*
		 * 2.7, notification suppression: with event idx there is no "off";
		 * enabling asks for the next one.
		 */
		if (!enable) {
			return false;
		}
		store16(split_avail_event(vq), vq->last_avail);
	}
	/* The driver may have added buffers before seeing our request: look again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return osp_vring_has_avail(vq);
}

uint16_t
osp_vring_last_avail(const struct osp_vring *vq)
{
	return vq->packed ? (uint16_t)(vq->last_avail | ((uint16_t)vq->avail_wrap << 15)) :
	       vq->last_avail;
}

uint16_t
osp_vring_last_used(const struct osp_vring *vq)
{
	return vq->packed ? (uint16_t)(vq->used_idx | ((uint16_t)vq->used_wrap << 15)) :
	       vq->used_idx;
}
