/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueue layouts as the virtio 1.x specification names them: split
 * (section 2.7) and packed (section 2.8). Little-endian on the wire; Osprey
 * runs on little-endian hosts only (x86-64, aarch64), asserted below.
 */
#ifndef OSP_VIRTIO_RING_SPEC_H
#define OSP_VIRTIO_RING_SPEC_H

#include <assert.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the virtio ring code assumes a little-endian host"
#endif

/* Descriptor flags (both layouts). */
#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
/* 2.8 packed: the driver's and the device's wrap-counter bits. */
#define VIRTQ_DESC_F_AVAIL	(1 << 7)
#define VIRTQ_DESC_F_USED	(1 << 15)

/* 2.7 avail->flags and used->flags (without VIRTIO_F_EVENT_IDX). */
#define VIRTQ_AVAIL_F_NO_INTERRUPT	1
#define VIRTQ_USED_F_NO_NOTIFY		1

/* 2.8 event suppression flags. */
#define RING_EVENT_FLAGS_ENABLE		0x0
#define RING_EVENT_FLAGS_DISABLE	0x1
#define RING_EVENT_FLAGS_DESC		0x2

/* 2.7 split descriptor (16-byte aligned table). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc");

/* 2.7 driver area: flags, idx, ring[size], then used_event (if EVENT_IDX). */
struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};
static_assert(sizeof(struct virtq_avail) == 4, "virtq_avail");

/* 2.7 device area: flags, idx, ring[size], then avail_event (if EVENT_IDX). */
struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};
static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem");

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];
};
static_assert(sizeof(struct virtq_used) == 4, "virtq_used");

/* 2.8 packed descriptor. */
struct pvirtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
static_assert(sizeof(struct pvirtq_desc) == 16, "pvirtq_desc");

/* 2.8 event suppression: off_wrap is a descriptor slot (bits 0-14) and a wrap counter (bit 15). */
struct pvirtq_event_suppress {
	uint16_t off_wrap;
	uint16_t flags;
};
static_assert(sizeof(struct pvirtq_event_suppress) == 4, "pvirtq_event_suppress");

/* Byte sizes of the split areas for a queue of size n (with the event idx words). */
#define VIRTQ_DESC_BYTES(n)	((uint64_t)(n) * 16u)
#define VIRTQ_AVAIL_BYTES(n)	(6u + 2u * (uint64_t)(n))
#define VIRTQ_USED_BYTES(n)	(6u + 8u * (uint64_t)(n))

#endif /* OSP_VIRTIO_RING_SPEC_H */
