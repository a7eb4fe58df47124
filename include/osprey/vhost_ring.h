/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device side of virtio virtqueues (virtio 1.x sections 2.7 split and
 * 2.8 packed), as a library with no rte_vhost dependency: the vhost target
 * hands it the guest memory table and the rings' host virtual addresses (as
 * rte_vhost reports them) and gets descriptor chains back as iovecs.
 *
 * Everything the guest wrote is untrusted. Every index, address, length,
 * chain and indirect table is checked; nothing outside the guest memory
 * table (and the ring structures given at init) is ever read or written.
 *
 * Two kinds of failure:
 * - a bad request (a descriptor outside guest memory, a loop, a readable
 *   descriptor after a writable one, ...): osp_vring_pop() still returns the
 *   chain with req->error set (negative errno); the caller completes it with
 *   its protocol's error status (VIRTIO_BLK_S_IOERR, ...) and goes on;
 * - a broken ring (the avail index jumped by more than the ring size, a head
 *   index out of range, a packed chain that never ends): no request can be
 *   identified, the queue is marked broken and every later pop returns -EIO.
 *   The device must stop using the queue (and should set DEVICE_NEEDS_RESET).
 *
 * Threading: one vring is used by one thread (its poller); nothing locks or
 * allocates. A memory table is read-only once initialised and may be shared
 * by several vrings on several threads (each vring keeps its own lookup
 * cache).
 */
#ifndef OSPREY_VHOST_RING_H
#define OSPREY_VHOST_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Feature bits the ring layer looks at (virtio 1.x section 6). */
#define OSP_VIRTIO_F_INDIRECT_DESC	28
#define OSP_VIRTIO_F_EVENT_IDX		29
#define OSP_VIRTIO_F_VERSION_1		32
#define OSP_VIRTIO_F_RING_PACKED	34

/* Largest queue size (virtio 1.x: 32768 for both layouts). */
#define OSP_VRING_MAX_SIZE		32768u
/* Most regions a memory table holds (vhost-user's VHOST_MEMORY_BASELINE_NREGIONS is 8). */
#define OSP_VHOST_MEM_MAX_REGIONS	64u

/* One guest memory region: guest physical [gpa, gpa + size) is at host [host, host + size). */
struct osp_vhost_mem_region {
	uint64_t gpa;
	uint64_t size;
	void *host;
};

struct osp_vhost_mem {
	uint32_t nregions;
	/* Sorted by gpa, non-overlapping, non-empty. */
	struct osp_vhost_mem_region regions[OSP_VHOST_MEM_MAX_REGIONS];
};

/*
 * Set up a memory table from n regions (any order). Returns 0, or -EINVAL
 * when n is 0 or too large, a region is empty, its guest or host range wraps
 * around, or two regions overlap in guest physical space.
 */
int osp_vhost_mem_init(struct osp_vhost_mem *mem, const struct osp_vhost_mem_region *regions,
		       uint32_t n);

/*
 * Translate guest range [gpa, gpa + len) into iovecs, one per region it
 * crosses (a range over two adjacent regions gives two). *hint is a lookup
 * cache owned by the caller (start it at 0). Returns the number of iovecs
 * written (0 when len is 0), -EFAULT if any byte is outside every region,
 * -EOVERFLOW if gpa + len wraps around, -ENOBUFS if more than max_iov
 * iovecs are needed.
 */
int osp_vhost_mem_translate(const struct osp_vhost_mem *mem, uint32_t *hint, uint64_t gpa,
			    uint64_t len, struct iovec *iov, int max_iov);

/*
 * Host address of guest range [gpa, gpa + len) when it lies inside one
 * region, else NULL (outside memory, wrapping, or split over two regions).
 */
void *osp_vhost_mem_ptr(const struct osp_vhost_mem *mem, uint32_t *hint, uint64_t gpa,
			uint64_t len);

/*
 * True when host range [host, host + len) lies inside the host mapping of
 * one region (a ring the device will read and write must not run past its
 * region's end). Control path: a linear scan.
 */
bool osp_vhost_mem_host_contains(const struct osp_vhost_mem *mem, const void *host, uint64_t len);

/*
 * A popped descriptor chain. The caller sets iov and iov_max before the
 * pop; the pop fills the rest. iov[0, out_cnt) are the device-readable
 * buffers (driver to device), iov[out_cnt, out_cnt + in_cnt) the
 * device-writable ones. When error is not 0 the chain is bad: the iovecs are
 * meaningless, but id (and ndescs) are valid and the request must still be
 * pushed back (with an error status the driver can see, if any).
 */
struct osp_vring_req {
	struct iovec *iov;	/* in: the caller's array */
	uint16_t iov_max;	/* in: its length */
	uint16_t out_cnt;
	uint16_t in_cnt;
	uint16_t id;		/* split: head index; packed: buffer ID */
	uint16_t ndescs;	/* packed: ring slots the chain took (push needs it) */
	int16_t error;		/* 0 or -EFAULT, -EOVERFLOW, -ELOOP, -ENOBUFS, -EINVAL */
	uint32_t out_len;	/* bytes in the readable part */
	uint32_t in_len;	/* bytes in the writable part */
	/* packed with inflight tracking: the chain's first and last region entries */
	uint16_t slot;
	uint16_t slot_last;
};

/*
 * vhost-user "Inflight I/O tracking" (protocol feature INFLIGHT_SHMFD), split
 * layout: one region per queue in memory shared with the front end (QEMU), which
 * keeps it across a back-end restart and hands it back. The layout is fixed by
 * the vhost-user specification.
 */
struct osp_vring_inflight_desc {
	uint8_t inflight;	/* 1: popped, its used entry not yet written */
	uint8_t padding[5];
	uint16_t next;		/* unused here */
	uint64_t counter;	/* pop order, to resubmit in order */
};

struct osp_vring_inflight_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;	/* head whose used entry is being written */
	uint16_t used_idx;		/* used->idx once that head's flag is cleared */
	struct osp_vring_inflight_desc desc[];
};

/*
 * The packed layout of the same region (vhost-user, "Inflight I/O tracking",
 * QueueRegionPacked / DescStatePacked): entries form a free list (next); a
 * popped chain takes one entry per ring descriptor, copies the descriptor
 * into it (the driver's slots are overwritten by used descriptors before the
 * request completes) and its first entry (the head) holds the flag, the
 * counter, the entry count and the last entry. The old_* fields are the
 * state before the update in progress, so that a crash at any point can be
 * rolled back or committed on reconnect.
 */
struct osp_vring_inflight_pdesc {
	uint8_t inflight;	/* head only: 1 while in flight */
	uint8_t padding;
	uint16_t next;		/* next free entry / next entry of the chain */
	uint16_t last;		/* head only: the chain's last entry */
	uint16_t num;		/* head only: entries (ring descriptors) of the chain */
	uint64_t counter;	/* head only: pop order */
	uint16_t id;		/* the descriptor as the driver wrote it */
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct osp_vring_inflight_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct osp_vring_inflight_pdesc desc[];
};

/* Bytes a packed region needs per queue for n entries (the header and n entries). */
#define OSP_VRING_INFLIGHT_PACKED_SIZE(n)	(32ull + 32ull * (n))

/* One request to resubmit (osp_vring_set_inflight_packed fills an array of them). */
struct osp_vring_resubmit {
	uint64_t counter;
	uint16_t slot;
};

struct osp_vring {
	bool packed;
	bool event_idx;
	bool indirect;
	bool broken;
	uint16_t size;
	uint16_t last_avail;	/* split: free-running; packed: slot 0..size-1 */
	uint16_t used_idx;	/* split: free-running; packed: slot 0..size-1 */
	uint16_t avail_shadow;	/* split: last avail->idx read */
	bool avail_wrap;	/* packed wrap counters (start at 1) */
	bool used_wrap;
	/* Notification bookkeeping: used entries (split) / slots (packed) since the last check. */
	uint16_t signal_old;	/* split: used_idx at the last need_notify() */
	uint32_t unsignalled;	/* packed: slots written since the last need_notify() */
	uint32_t mem_hint;
	const struct osp_vhost_mem *mem;
	/* Split only: the inflight region (NULL: not tracked) and the next pop's counter. */
	struct osp_vring_inflight_split *inflight;
	uint64_t inflight_counter;	/* split and packed */
	/*
	 * Packed only: the inflight region (NULL: not tracked), its entry count and
	 * our copy of free_head (the region is the front end's memory: what we
	 * read back from it is bounds-checked). pinflight_lost: tracking stopped
	 * because the region's free list was bad.
	 */
	struct osp_vring_inflight_packed *pinflight;
	uint16_t pin_nent;
	uint16_t pin_free_head;
	bool pinflight_lost;
	union {
		struct {
			void *desc;
			void *avail;
			void *used;
		} split;
		struct {
			void *desc;
			void *driver_event;	/* written by the driver: used-buffer notifications */
			void *device_event;	/* written by us: available-buffer notifications */
		} packed;
	} r;
};

/*
 * Start using a split ring (virtio 1.x 2.7) whose descriptor table, driver
 * (avail) and device (used) areas are at the given host addresses, with the
 * negotiated features (indirect and event idx are honoured). last_avail and
 * used_idx are where to resume (0 for a new queue; rte_vhost's
 * last_avail_idx/last_used_idx after a reconnect). Returns 0 or -EINVAL:
 * size not a power of two in 1..32768, an area NULL or misaligned.
 */
int osp_vring_init_split(struct osp_vring *vq, const struct osp_vhost_mem *mem, uint16_t size,
			 void *desc, void *avail, void *used, uint64_t features,
			 uint16_t last_avail, uint16_t used_idx);

/*
 * Start using a packed ring (virtio 1.x 2.8) at the given host addresses.
 * last_avail/used_idx carry the wrap counter in bit 15 (as vhost-user's
 * SET_VRING_BASE does); a new queue passes 0x8000 for both. Returns 0 or
 * -EINVAL: size 0 or above 32768, slot out of range, an area NULL or misaligned.
 */
int osp_vring_init_packed(struct osp_vring *vq, const struct osp_vhost_mem *mem, uint16_t size,
			  void *desc, void *driver_event, void *device_event, uint64_t features,
			  uint16_t last_avail, uint16_t used_idx);

/*
 * Take the next available chain. Returns 1 (req filled; check req->error),
 * 0 when nothing is available, -EIO when the ring is broken (now or before).
 */
int osp_vring_pop(struct osp_vring *vq, struct osp_vring_req *req);

/*
 * Take the chain whose head descriptor is head, without touching the avail
 * ring: a request resubmitted from the inflight region after a reconnect.
 * Split: head is the head descriptor's index. Packed (tracked with
 * osp_vring_set_inflight_packed): head is the chain's first region entry, and
 * the chain is rebuilt from the descriptors copied there. Returns 1 (req
 * filled, check req->error), -EINVAL when head is not below the ring size
 * (packed: the region's entry count, or its chain is bad), -ENOTSUP on an
 * untracked packed ring, -EIO when the ring is broken. The caller must only pass heads the driver made available
 * and never got back (the inflight region says which).
 */
int osp_vring_pop_head(struct osp_vring *vq, uint16_t head, struct osp_vring_req *req);

/*
 * Track the requests in flight in a vhost-user inflight region (split rings;
 * call after init): every pop marks its head in flight with the next
 * counter value; every push records the head in last_batch_head, publishes
 * the used entry, clears the head's flag and then stores used_idx, so that a
 * front end (or the next back end) can tell after a crash at any point which
 * heads were in flight (vhost-user, "Inflight I/O tracking"; a push_burst is
 * then written one entry at a time). desc_num is the region's entry count:
 * -EINVAL if it is below the ring size or the region is NULL or misaligned,
 * -ENOTSUP on a packed ring. counter is the first counter value to use (above
 * every counter already in the region).
 */
int osp_vring_set_inflight(struct osp_vring *vq, struct osp_vring_inflight_split *region,
			   uint16_t desc_num, uint64_t counter);

/*
 * Packed inflight tracking (vhost-user, "Inflight I/O tracking", packed
 * layout). region is the queue's area, nent its entry count (at least the
 * ring size; the caller checks the area holds nent entries). Call after
 * osp_vring_init_packed.
 *
 * resume false (a region no back end used yet, or one left clean by a
 * stopped device): the region is (re)initialised from the ring's positions.
 * resume true (osp_vring_inflight_packed_recover ran on it at reconnect): the
 * ring's positions come from the region (used_idx / used_wrap_counter, and the
 * available position after every chain still in flight: the front end cannot
 * know it), and the chains in flight are listed into out[0..max) oldest first
 * (counter order), their slots to pass to osp_vring_pop_head.
 *
 * Returns the number of chains listed (0..), -EINVAL (NULL, misaligned, nent
 * below the ring size, not packed) or -EBADMSG (resume: the region is
 * inconsistent: a position out of range, a chain that does not fit; nothing
 * is tracked then and the ring keeps the positions it was given).
 */
int osp_vring_set_inflight_packed(struct osp_vring *vq, struct osp_vring_inflight_packed *region,
				  uint16_t nent, bool resume, struct osp_vring_resubmit *out,
				  uint16_t max);

/*
 * Reconnect steps of the packed layout, before the region is used again (the
 * vhost-user specification, "When reconnecting"): an update of the used
 * position in progress at the crash is committed if its used descriptor
 * reached the ring (desc_ring[old_used_idx]'s flags are no longer those of an
 * available descriptor) and rolled back otherwise, then every entry on the
 * free list loses its in-flight flag. desc_ring may be NULL (no ring yet:
 * rolled back). Every index read from the region is bounds-checked against
 * nent / ring_size. Returns 0, or -EINVAL for bad arguments.
 */
int osp_vring_inflight_packed_recover(struct osp_vring_inflight_packed *region, uint16_t nent,
				      const void *desc_ring, uint16_t ring_size);

/*
 * Take up to n chains into reqs[0..n) (each with its iov/iov_max set).
 * Returns how many were taken (0 if none), or -EIO if the ring is broken
 * and nothing was taken; if it breaks after some were taken, their count is
 * returned and the next call returns -EIO.
 */
int osp_vring_pop_burst(struct osp_vring *vq, struct osp_vring_req *reqs, int n);

/*
 * Give a chain back to the driver, len bytes written into its writable
 * part, and publish it (release ordering: the entry before the index/flags).
 * A request must be pushed exactly once. Does not notify: see need_notify.
 */
void osp_vring_push(struct osp_vring *vq, const struct osp_vring_req *req, uint32_t len);

/* Push n chains with one publication (split: one used->idx store). */
void osp_vring_push_burst(struct osp_vring *vq, const struct osp_vring_req *reqs,
			  const uint32_t *lens, int n);

/*
 * Whether the driver wants a used-buffer notification (an interrupt, i.e.
 * a write to the callfd) for what was pushed since the last call: event idx
 * (used_event / driver event descriptor) when negotiated, else the
 * NO_INTERRUPT / DISABLE flag. Call after pushing, once per batch.
 */
bool osp_vring_need_notify(struct osp_vring *vq);

/*
 * Ask the driver to kick (enable true) or not to bother (false) when it
 * makes buffers available. With event idx, enabling asks for a kick at the
 * next available buffer. Returns true if buffers are already available
 * (after enabling, the caller must poll again rather than sleep).
 */
bool osp_vring_set_kick(struct osp_vring *vq, bool enable);

/* Whether a pop would find something (no side effects except the cache of avail->idx). */
bool osp_vring_has_avail(struct osp_vring *vq);

/*
 * Where the ring stands, to save for a reconnect: split returns the
 * free-running indexes, packed the slot with the wrap counter in bit 15.
 */
uint16_t osp_vring_last_avail(const struct osp_vring *vq);
uint16_t osp_vring_last_used(const struct osp_vring *vq);

#ifdef __cplusplus
}
#endif

#endif /* OSPREY_VHOST_RING_H */
