/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/virtio: the driver side of virtio over vhost-user (Osprey as the
 * vhost-user front end, a vhost-user back end such as Osprey's vhost or
 * qemu-storage-daemon serving the device).
 *
 * Four parts:
 *  - wire formats: split virtqueue layout (virtio 1.x section 2.7), the
 *    virtio-blk request and config layouts (section 5.2), the vhost-user
 *    message layouts (QEMU's vhost-user specification);
 *  - osp_vu_msg_*: encode/decode of vhost-user messages (pure functions, unit tested);
 *  - osp_virtq_*: a driver-side split virtqueue over memory the caller
 *    provides (posting chains, kicking, reaping the used ring);
 *  - osp_vu_dev_*: one vhost-user connection: the set-up dialogue over the
 *    Unix socket and a memfd-backed shared region for the rings and the data.
 *
 * Everything read back from the device (socket replies, used ring entries)
 * is validated before use.
 */
#ifndef OSP_VIRTIO_USER_H
#define OSP_VIRTIO_USER_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- virtio 1.x: feature bits (section 6) ---- */
#define OSP_VIRTIO_F_INDIRECT_DESC	28
#define OSP_VIRTIO_F_EVENT_IDX		29
#define OSP_VIRTIO_F_VERSION_1		32

/* virtio-blk feature bits (section 5.2.3) */
#define OSP_VIRTIO_BLK_F_SIZE_MAX	1
#define OSP_VIRTIO_BLK_F_SEG_MAX	2
#define OSP_VIRTIO_BLK_F_RO		5
#define OSP_VIRTIO_BLK_F_BLK_SIZE	6
#define OSP_VIRTIO_BLK_F_FLUSH		9
#define OSP_VIRTIO_BLK_F_TOPOLOGY	10
#define OSP_VIRTIO_BLK_F_MQ		12
#define OSP_VIRTIO_BLK_F_DISCARD	13
#define OSP_VIRTIO_BLK_F_WRITE_ZEROES	14

/* virtio-blk request types and status (section 5.2.6) */
#define OSP_VIRTIO_BLK_T_IN		0
#define OSP_VIRTIO_BLK_T_OUT		1
#define OSP_VIRTIO_BLK_T_FLUSH		4
#define OSP_VIRTIO_BLK_T_DISCARD	11
#define OSP_VIRTIO_BLK_T_WRITE_ZEROES	13
#define OSP_VIRTIO_BLK_S_OK		0
#define OSP_VIRTIO_BLK_S_IOERR		1
#define OSP_VIRTIO_BLK_S_UNSUPP		2
/* Sectors in virtio-blk requests are always 512 bytes, whatever blk_size says. */
#define OSP_VIRTIO_BLK_SECTOR_SIZE	512

struct osp_virtio_blk_outhdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
static_assert(sizeof(struct osp_virtio_blk_outhdr) == 16, "virtio-blk header");

/* Payload of DISCARD and WRITE_ZEROES (one per segment). */
struct osp_virtio_blk_discard_wz {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;		/* bit 0: unmap (WRITE_ZEROES only) */
};
static_assert(sizeof(struct osp_virtio_blk_discard_wz) == 16, "discard/write zeroes segment");

/* The device configuration up to the write-zeroes fields (section 5.2.4). */
struct __attribute__((packed)) osp_virtio_blk_config {
	uint64_t capacity;		/* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
};
static_assert(sizeof(struct osp_virtio_blk_config) == 60, "virtio-blk config");
/* The part every virtio-blk device has whatever features it offers (up to num_queues). */
#define OSP_VIRTIO_BLK_CONFIG_MIN_SIZE	(offsetof(struct osp_virtio_blk_config, num_queues) + 2)

/* ---- virtio-scsi (section 5.6) ---- */
#define OSP_VIRTIO_SCSI_F_INOUT		0
#define OSP_VIRTIO_SCSI_F_HOTPLUG	1
#define OSP_VIRTIO_SCSI_F_CHANGE	2
/* Queues: 0 control, 1 event, 2.. requests. */
#define OSP_VIRTIO_SCSI_CONTROLQ	0
#define OSP_VIRTIO_SCSI_EVENTQ		1
#define OSP_VIRTIO_SCSI_REQUESTQ	2
#define OSP_VIRTIO_SCSI_CDB_SIZE	32
#define OSP_VIRTIO_SCSI_SENSE_SIZE	96
/* Response codes of a command request. */
#define OSP_VIRTIO_SCSI_S_OK		0
#define OSP_VIRTIO_SCSI_S_OVERRUN	1
#define OSP_VIRTIO_SCSI_S_ABORTED	2
#define OSP_VIRTIO_SCSI_S_BAD_TARGET	3
#define OSP_VIRTIO_SCSI_S_RESET		4
#define OSP_VIRTIO_SCSI_S_BUSY		5
#define OSP_VIRTIO_SCSI_S_TRANSPORT_FAILURE 6
#define OSP_VIRTIO_SCSI_S_TARGET_FAILURE 7
#define OSP_VIRTIO_SCSI_S_NEXUS_FAILURE	8
#define OSP_VIRTIO_SCSI_S_FAILURE	9

/* The device configuration (all of it: 36 bytes). */
struct __attribute__((packed)) osp_virtio_scsi_config {
	uint32_t num_queues;		/* request queues */
	uint32_t seg_max;
	uint32_t max_sectors;
	uint32_t cmd_per_lun;
	uint32_t event_info_size;
	uint32_t sense_size;
	uint32_t cdb_size;
	uint16_t max_channel;
	uint16_t max_target;
	uint32_t max_lun;
};
static_assert(sizeof(struct osp_virtio_scsi_config) == 36, "virtio-scsi config");

/* A command request with the default CDB size (the header the device reads first). */
struct __attribute__((packed)) osp_virtio_scsi_cmd_req {
	uint8_t lun[8];
	uint64_t tag;
	uint8_t task_attr;
	uint8_t prio;
	uint8_t crn;
	uint8_t cdb[OSP_VIRTIO_SCSI_CDB_SIZE];
};
static_assert(sizeof(struct osp_virtio_scsi_cmd_req) == 51, "virtio-scsi command request");

/* Its response with the default sense size. */
struct __attribute__((packed)) osp_virtio_scsi_cmd_resp {
	uint32_t sense_len;
	uint32_t resid;
	uint16_t status_qualifier;
	uint8_t status;
	uint8_t response;
	uint8_t sense[OSP_VIRTIO_SCSI_SENSE_SIZE];
};
static_assert(sizeof(struct osp_virtio_scsi_cmd_resp) == 108, "virtio-scsi command response");

/* ---- split virtqueue (section 2.7) ---- */
#define OSP_VIRTQ_DESC_F_NEXT		1
#define OSP_VIRTQ_DESC_F_WRITE		2
#define OSP_VIRTQ_AVAIL_F_NO_INTERRUPT	1
#define OSP_VIRTQ_USED_F_NO_NOTIFY	1
#define OSP_VIRTQ_MAX_SIZE		32768

struct osp_virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
static_assert(sizeof(struct osp_virtq_desc) == 16, "virtq descriptor");

struct osp_virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* queue size entries, then used_event */
};

struct osp_virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct osp_virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct osp_virtq_used_elem ring[];	/* queue size entries, then avail_event */
};

/* ---- vhost-user messages (QEMU docs/interop/vhost-user.rst) ---- */
enum osp_vu_request {
	OSP_VU_GET_FEATURES = 1,
	OSP_VU_SET_FEATURES = 2,
	OSP_VU_SET_OWNER = 3,
	OSP_VU_SET_MEM_TABLE = 5,
	OSP_VU_SET_VRING_NUM = 8,
	OSP_VU_SET_VRING_ADDR = 9,
	OSP_VU_SET_VRING_BASE = 10,
	OSP_VU_GET_VRING_BASE = 11,
	OSP_VU_SET_VRING_KICK = 12,
	OSP_VU_SET_VRING_CALL = 13,
	OSP_VU_GET_PROTOCOL_FEATURES = 15,
	OSP_VU_SET_PROTOCOL_FEATURES = 16,
	OSP_VU_GET_QUEUE_NUM = 17,
	OSP_VU_SET_VRING_ENABLE = 18,
	OSP_VU_GET_CONFIG = 24,
};

/* Feature bit of GET_FEATURES: the protocol-features messages exist. */
#define OSP_VU_F_PROTOCOL_FEATURES	30
/* Protocol feature bits. */
#define OSP_VU_PROTOCOL_F_MQ		0
#define OSP_VU_PROTOCOL_F_REPLY_ACK	3
#define OSP_VU_PROTOCOL_F_CONFIG	9

#define OSP_VU_FLAG_VERSION		0x1
#define OSP_VU_FLAG_VERSION_MASK	0x3
#define OSP_VU_FLAG_REPLY		(1u << 2)
#define OSP_VU_FLAG_NEED_REPLY		(1u << 3)
/* Bit 8 of the u64 of SET_VRING_KICK/CALL: no file descriptor is passed. */
#define OSP_VU_VRING_NOFD		(1u << 8)
#define OSP_VU_MAX_MEM_REGIONS		8
#define OSP_VU_CONFIG_MAX_SIZE		256

struct osp_vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;		/* payload bytes after the header */
};
static_assert(sizeof(struct osp_vu_hdr) == 12, "vhost-user header");

struct osp_vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct osp_vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};
static_assert(sizeof(struct osp_vu_vring_addr) == 40, "vring address");

struct osp_vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct osp_vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct osp_vu_mem_region regions[OSP_VU_MAX_MEM_REGIONS];
};
static_assert(sizeof(struct osp_vu_mem_table) == 8 + 8 * 32, "memory table");

struct osp_vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[OSP_VU_CONFIG_MAX_SIZE];
};
#define OSP_VU_CONFIG_HDR_SIZE	12

struct osp_vu_msg {
	struct osp_vu_hdr hdr;
	union {
		uint64_t u64;
		struct osp_vu_vring_state state;
		struct osp_vu_vring_addr addr;
		struct osp_vu_mem_table mem;
		struct osp_vu_config config;
	} payload;
} __attribute__((packed));

/*
 * Build a request: header plus payload_len bytes of payload (copied from
 * payload, may be NULL when payload_len is 0). Returns the message's total
 * length, or -EINVAL if payload_len exceeds the payload union.
 */
int osp_vu_msg_encode(struct osp_vu_msg *msg, uint32_t request, bool need_reply,
		      const void *payload, uint32_t payload_len);
/*
 * Check a reply of len bytes received for request: version 1, the reply
 * flag, the same request code, a size that matches len. expect_size is the
 * payload size the request calls for (0: any size up to the payload union).
 * Returns 0 or -EPROTO.
 */
int osp_vu_msg_check_reply(const struct osp_vu_msg *msg, size_t len, uint32_t request,
			   uint32_t expect_size);
/*
 * Check a GET_CONFIG reply against the request (offset, size) it answers:
 * the header fields echo the request and the payload holds exactly size
 * bytes. A zero-size reply is the back end's refusal: -ENOTSUP. Else -EPROTO.
 */
int osp_vu_msg_check_config_reply(const struct osp_vu_msg *msg, uint32_t offset, uint32_t size);

/* ---- driver-side split virtqueue ---- */
struct osp_virtq {
	uint16_t size;			/* power of two */
	uint16_t free_head;		/* first free descriptor (chained by next) */
	uint16_t num_free;
	uint16_t avail_idx;		/* our copy of avail->idx */
	uint16_t last_used_idx;		/* next used entry to reap */
	uint16_t avail_published;	/* avail_idx at the last kick */
	struct osp_virtq_desc *desc;
	struct osp_virtq_avail *avail;
	struct osp_virtq_used *used;
	/* Per head descriptor: the number of descriptors in its chain (0: not in flight). */
	uint16_t *chain_len;
	/* Private copy of every descriptor's next link (the shared table is not trusted). */
	uint16_t *next;
	/* Per head descriptor: the caller's cookie. */
	void **cookie;
	/* VIRTIO_F_EVENT_IDX negotiated: avail_event / used_event instead of the flags. */
	bool event_idx;
};

/* Bytes of the ring area (desc table, avail ring, used ring, 4 KiB aligned parts). */
size_t osp_virtq_ring_size(uint16_t size);
/*
 * Lay out a queue of size entries (power of two, <= OSP_VIRTQ_MAX_SIZE) in
 * ring (osp_virtq_ring_size(size) bytes, 4 KiB aligned, zeroed here).
 * chain_len: 2 * size entries, cookie: size entries, both provided by the
 * caller (private memory: the device must not see them).
 */
int osp_virtq_init(struct osp_virtq *vq, uint16_t size, void *ring, uint16_t *chain_len,
		   void **cookie);
/*
 * Use the event index fields (VIRTIO_F_EVENT_IDX negotiated): kicks follow
 * the device's avail_event, and used_event is kept out of the device's reach
 * so that it never interrupts (the driver polls).
 */
void osp_virtq_enable_event_idx(struct osp_virtq *vq);
/*
 * Post one chain of n buffers (addrs/lens/device_writable each n long, in
 * order: device-readable first). Returns the head descriptor index, or -EAGAIN
 * if fewer than n descriptors are free, -EINVAL if n is 0 or too large.
 * The chain becomes visible to the device at the next osp_virtq_publish().
 */
int osp_virtq_post(struct osp_virtq *vq, uint16_t n, const uint64_t *addrs, const uint32_t *lens,
		   const bool *device_writable, void *cookie);
/*
 * Make posted chains visible (one store of avail->idx). Returns true if the
 * device wants a notification: it did not set VIRTQ_USED_F_NO_NOTIFY, or
 * with event idx, the new chains pass its avail_event (virtio 1.x 2.7.10).
 */
bool osp_virtq_publish(struct osp_virtq *vq);
/*
 * Reap up to max completed chains: cookies[i], written lengths lens[i].
 * A used entry naming a descriptor that is not the head of a chain in
 * flight, or a used index that runs ahead of what was made available, is a
 * broken device: returns -EIO (the queue must not be used any more). Else the
 * number reaped.
 */
int osp_virtq_reap(struct osp_virtq *vq, void **cookies, uint32_t *lens, int max);
/* Chains posted and not yet reaped. */
static inline uint16_t
osp_virtq_in_flight(const struct osp_virtq *vq)
{
	return (uint16_t)(vq->avail_idx - vq->last_used_idx);
}

/* ---- one vhost-user connection ---- */
struct osp_vu_dev;

struct osp_vu_dev_opts {
	const char *path;		/* the back end's Unix socket */
	uint64_t wanted_features;	/* device feature bits the driver understands */
	uint32_t config_size;		/* bytes of device config to read (<= 256) */
	uint16_t max_queues;		/* queues wanted (at least 1) */
	uint16_t queue_size;		/* entries per queue (power of two) */
	size_t data_size_per_queue;	/* bytes of shared data area per queue */
	uint32_t timeout_ms;		/* per reply (0: 5000) */
};

/*
 * Connect to opts->path and negotiate; on success *dev is ready to start:
 * features agreed (osp_vu_dev_features), config read (osp_vu_dev_config),
 * number of queues known (osp_vu_dev_num_queues: min of what was asked,
 * what the back end's GET_QUEUE_NUM allows). Blocking with a timeout per
 * reply: control plane only. err (errlen bytes) gets a reason a person can
 * act on. Returns 0 or -errno.
 */
int osp_vu_dev_connect(const struct osp_vu_dev_opts *opts, struct osp_vu_dev **dev, char *err,
		       size_t errlen);
uint64_t osp_vu_dev_features(const struct osp_vu_dev *dev);
const void *osp_vu_dev_config(const struct osp_vu_dev *dev);
uint16_t osp_vu_dev_num_queues(const struct osp_vu_dev *dev);
/* Cap the queue count before osp_vu_dev_start (e.g. to the device's num_queues). */
void osp_vu_dev_limit_queues(struct osp_vu_dev *dev, uint16_t num);
/*
 * Create the shared region (memfd: rings + data), send SET_FEATURES,
 * SET_MEM_TABLE and set up and enable every queue. Returns 0 or -errno.
 */
int osp_vu_dev_start(struct osp_vu_dev *dev, char *err, size_t errlen);
/* The queue and its data area (data_size_per_queue bytes, 4 KiB aligned). */
struct osp_virtq *osp_vu_dev_queue(struct osp_vu_dev *dev, uint16_t idx);
void *osp_vu_dev_queue_data(struct osp_vu_dev *dev, uint16_t idx);
/* Notify the back end of new chains on queue idx (one eventfd write). */
void osp_vu_dev_kick(struct osp_vu_dev *dev, uint16_t idx);
/* The socket; readable/hung up when the back end went away (poll it). */
int osp_vu_dev_socket(const struct osp_vu_dev *dev);
/* True once the back end is known to be gone (socket closed by the peer). */
bool osp_vu_dev_check_alive(struct osp_vu_dev *dev);
/* Close the connection and free the shared region. */
void osp_vu_dev_close(struct osp_vu_dev *dev);

#endif /* OSP_VIRTIO_USER_H */
