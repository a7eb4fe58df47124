/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/scsi internals.
 *
 * Threads: a dev, its LUNs, their mode pages and reservations belong to the
 * dev's owner thread (the one that created it). A nexus (itn) runs on its own
 * thread and keeps a view of each LUN (struct scsi_itn_lun): its bdev
 * channel, capacity, pending unit attentions, a copy of the mode values that
 * command execution reads and its view of the reservations. The owner changes
 * its state and pushes the change to every nexus with scsi_dev_broadcast()
 * (one message per nexus, FIFO per sender); commands that change shared state
 * (MODE SELECT, RESERVE/RELEASE, PERSISTENT RESERVE OUT, LUN RESET) travel to
 * the owner in a message and come back in one. Nothing on the I/O path locks.
 */
#ifndef SCSI_INTERNAL_H
#define SCSI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "osprey/bdev.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/scsi.h"
#include "osprey/scsi_spec.h"
#include "osprey/thread.h"
#include "osprey/util.h"

struct scsi_bc_msg;

/* Buffers for the data of emulated commands (INQUIRY, MODE SENSE, UNMAP lists...). */
#define SCSI_EBUF_SIZE		8192
/* EXTENDED COPY limits (RECEIVE COPY RESULTS operating parameters). */
#define SCSI_XCOPY_MAX_CSCD	2
#define SCSI_XCOPY_MAX_SEGS	16
#define SCSI_XCOPY_MAX_LIST	1024	/* descriptor list bytes: fits an emulation buffer */
#define SCSI_XCOPY_HELD		4	/* held results per nexus and LUN */
/* At most this many per nexus at once; more emulated commands in flight get BUSY. */
#define SCSI_EBUF_MAX		64
/* Largest transfer handed to the bdev layer in one zero-copy read (its buffer size). */
#define SCSI_MAX_XFER_BYTES	OSP_BDEV_LARGE_BUF_MAX_SIZE
/*
 * Pieces of one command's read: up to OSP_SCSI_TASK_INLINE_IOVS in the task,
 * more (up to this) in an emulation buffer holding their bdev_io pointers and
 * iovecs. Block Limits MAXIMUM TRANSFER LENGTH is this many pieces (32 MiB).
 */
#define SCSI_MAX_PIECES		(OSP_SCSI_MAX_TRANSFER_BYTES / SCSI_MAX_XFER_BYTES)
/* Block Limits advertised (SBC-3 6.6.4). */
#define SCSI_MAX_UNMAP_DESC	256
#define SCSI_MAX_UNMAP_BLOCKS	(1u << 20)
#define SCSI_MAX_WRITE_SAME_BLOCKS (1u << 22)
#define SCSI_MAX_CAW_BLOCKS	255
#define SCSI_MAX_REGISTRANTS	64

/* Vendor/product strings of INQUIRY. */
#define SCSI_VENDOR		"OSPREY"
#define SCSI_PRODUCT_DEFAULT	"Osprey disk"
#define SCSI_REVISION		"0001"

/* Unit attention conditions, lowest bit = reported first. */
enum scsi_ua {
	SCSI_UA_POWER_ON = 0,		/* 29/01 */
	SCSI_UA_RESET,			/* 29/00 target reset */
	SCSI_UA_LUN_RESET,		/* 29/03 */
	SCSI_UA_NEXUS_LOSS,		/* 29/07 */
	SCSI_UA_RES_PREEMPTED,		/* 2A/03 */
	SCSI_UA_RES_RELEASED,		/* 2A/04 */
	SCSI_UA_REG_PREEMPTED,		/* 2A/05 */
	SCSI_UA_MODE_CHANGED,		/* 2A/01 */
	SCSI_UA_CAPACITY_CHANGED,	/* 2A/09 */
	SCSI_UA_LUNS_CHANGED,		/* 3F/0E */
	SCSI_UA_COUNT
};
#define SCSI_UA_BIT(ua)		(1u << (ua))

/* Current mode values per LUN (owner's copy authoritative, nexus copies by message). */
struct scsi_mode {
	struct osp_scsi_caching_page caching;
	struct osp_scsi_control_page control;
	struct osp_scsi_disconnect_page disconnect;
	struct osp_scsi_ie_page ie;
};

/* What one nexus needs to know of a LUN's reservations to admit a command. */
struct scsi_res_view {
	uint8_t pr_type;		/* enum osp_scsi_pr_type, 0 = no persistent reservation */
	bool pr_registered;		/* this nexus is a registrant */
	bool pr_holder;			/* this nexus holds it (all-registrants types: any registrant) */
	bool spc2_reserved;		/* an SPC-2 reservation exists */
	bool spc2_mine;			/* held by this nexus */
};

/* A PR registrant: an I_T nexus by names, so that it outlives sessions. */
struct scsi_pr_reg {
	uint64_t key;
	uint16_t rel_port_id;		/* target port */
	char iport[OSP_SCSI_PORT_MAX_NAME + 1];
};

/* A LUN's reservations (owner thread). */
struct scsi_pr {
	uint32_t generation;
	uint32_t nregs;
	struct scsi_pr_reg regs[SCSI_MAX_REGISTRANTS];
	uint8_t type;			/* 0: no persistent reservation */
	int holder;			/* index in regs (types other than all-registrants) */
	/* SPC-2 RESERVE(6/10): the holding nexus, by names. */
	bool spc2;
	uint16_t spc2_port;
	char spc2_iport[OSP_SCSI_PORT_MAX_NAME + 1];
};

struct osp_scsi_port {
	uint16_t rel_port_id;
	char name[OSP_SCSI_PORT_MAX_NAME + 1];
};

struct osp_scsi_lun {
	struct osp_scsi_dev *dev;
	int id;
	char *bdev_name;
	struct osp_bdev *bdev;
	struct osp_bdev_desc *desc;
	uint32_t block_size;
	uint64_t num_blocks;
	bool removing;			/* no new nexus sees it */
	bool hot_removed;		/* the bdev went away under us */
	uint32_t remove_pending;	/* nexuses still draining */
	void (*remove_cb)(void *cb_arg, int rc);
	void *remove_cb_arg;
	struct scsi_mode mode;
	struct scsi_pr pr;
	TAILQ_ENTRY(osp_scsi_lun) link;
};

struct osp_scsi_dev {
	char name[OSP_SCSI_DEV_MAX_NAME + 1];
	struct osp_thread *owner;
	struct osp_scsi_lun *luns[OSP_SCSI_DEV_MAX_LUN];
	struct osp_scsi_port ports[OSP_SCSI_DEV_MAX_PORTS];
	int nports;
	TAILQ_HEAD(, osp_scsi_itn) itns;
	uint32_t nitns;			/* linked nexuses */
	uint32_t opening;		/* nexus opens in flight */
	bool destroying;
	void (*destroy_cb)(void *cb_arg);
	void *destroy_cb_arg;
	uint32_t destroy_pending;
};

/* One nexus's view of LUN id. */
struct scsi_itn_lun {
	struct osp_scsi_lun *lun;	/* NULL: no LUN at this id for this nexus */
	struct osp_io_channel *ch;
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t ntasks;		/* tasks of this LUN not completed */
	uint32_t ua;			/* pending SCSI_UA_BIT()s */
	bool gone;			/* being removed: new commands refused */
	bool draining;			/* owner waits for ntasks == 0 */
	struct scsi_bc_msg *drain_msg;	/* the owner's removal message to answer then */
	struct scsi_mode mode;
	struct scsi_res_view res;
	/* EXTENDED COPY results held for RECEIVE COPY RESULTS (LIST ID USAGE 00b). */
	struct scsi_xcopy_held {
		bool used;
		uint8_t list_id;
		uint8_t status;		/* COPY MANAGER STATUS: 01h done, 02h done with errors */
		uint16_t segments;	/* segments processed */
		uint64_t bytes;		/* transferred */
	} xc_held[SCSI_XCOPY_HELD];
};

struct osp_scsi_itn {
	struct osp_scsi_dev *dev;
	struct osp_thread *thread;
	struct osp_scsi_port *iport;	/* the transport's */
	char iport_name[OSP_SCSI_PORT_MAX_NAME + 1];
	uint16_t tport_id;
	struct scsi_itn_lun luns[OSP_SCSI_DEV_MAX_LUN];
	TAILQ_HEAD(, osp_scsi_task) tasks;
	uint32_t ntasks;
	/* Tasks marked aborted and not yet completed; bdev resets running for them. */
	uint32_t naborted;
	uint32_t nresets;
	/* Task management in progress: TMF tasks (linked by task->link) wait for the aborts. */
	TAILQ_HEAD(, osp_scsi_task) tmfs;
	/* Owner messages (other nexuses' resets) waiting for the aborts too. */
	TAILQ_HEAD(, scsi_bc_msg) waiters;
	/* Emulation buffers: free stack and how many exist. */
	void *ebufs[SCSI_EBUF_MAX];
	int nebuf_free;
	int nebuf;
	bool closing;
	void (*open_cb)(void *cb_arg, struct osp_scsi_itn *itn, int rc);
	void *open_cb_arg;
	TAILQ_ENTRY(osp_scsi_itn) link;	/* dev->itns, owner thread */
};

/* task->state bits. */
#define SCSI_TASK_ACTIVE	0x1
#define SCSI_TASK_ABORTED	0x2
#define SCSI_TASK_TMF		0x4
#define SCSI_TASK_ZCOPY		0x8	/* iovs point at the bdev_io's buffer */
#define SCSI_TASK_EBUF		0x10	/* task->priv is an emulation buffer */
#define SCSI_TASK_REMOTE	0x20	/* at the owner thread */
#define SCSI_TASK_NOLUN		0x40	/* not counted in a LUN's ntasks */
#define SCSI_TASK_IOWAIT	0x80	/* waiting for a bdev_io (-ENOMEM) */
#define SCSI_TASK_BIGREAD	0x100	/* the read's pieces live in the ebuf (task->priv) */

/* ---- itn.c ---- */
void scsi_task_complete(struct osp_scsi_task *task);
void scsi_task_set_sense_ext(struct osp_scsi_task *task, uint8_t sk, uint16_t asc,
			     const uint8_t *sks, bool info_valid, uint64_t info);
static inline void
scsi_task_sense(struct osp_scsi_task *task, uint8_t sk, uint16_t asc)
{
	scsi_task_set_sense_ext(task, sk, asc, NULL, false, 0);
}
/* ILLEGAL REQUEST / INVALID FIELD IN CDB pointing at byte, bit (-1: none). */
void scsi_task_invalid_cdb(struct osp_scsi_task *task, int byte, int bit);
void scsi_task_invalid_param(struct osp_scsi_task *task, int byte, int bit);
void scsi_task_invalid_opcode(struct osp_scsi_task *task);
/* ILLEGAL REQUEST / asc pointing at byte of the parameter list. */
void scsi_task_param_sense(struct osp_scsi_task *task, uint16_t asc, int byte);
static inline void
scsi_task_good(struct osp_scsi_task *task)
{
	task->status = OSP_SCSI_STATUS_GOOD;
	task->sense_len = 0;
}
/*
 * Data-in of an emulated command: data (len bytes, already cut to the
 * allocation length) into the transport's buffers or an emulation buffer.
 * buf must be the task's ebuf when the transport gave no buffers.
 */
void scsi_task_data_in(struct osp_scsi_task *task, const void *buf, uint32_t len);
/* An emulation buffer for task (zeroed); NULL: none left (the task ended BUSY). */
void *scsi_task_ebuf(struct osp_scsi_task *task);
/* Copy the task's data-out (at most len bytes) to buf; returns bytes copied. */
uint32_t scsi_task_data_out(struct osp_scsi_task *task, void *buf, uint32_t len);
struct scsi_itn_lun *scsi_task_itn_lun(struct osp_scsi_task *task);
void scsi_itn_set_ua_all(struct osp_scsi_itn *itn, uint32_t ua_bits);
/* Mark this nexus's tasks of LUN lun_id (-1: all) aborted (nexus thread). */
void scsi_itn_abort_lun(struct osp_scsi_itn *itn, int lun_id);

/*
 * Run fn(itn, arg, m) on every nexus's thread, then done(dev, arg) on the
 * owner once every fn has called scsi_bc_itn_done(m) (at once or later).
 */
struct scsi_bc_msg;
typedef void (*scsi_itn_fn)(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m);
void scsi_bc_itn_done(struct scsi_bc_msg *m);
void scsi_itn_report_ua(struct osp_scsi_task *task, struct scsi_itn_lun *il);
/* Owner-side handlers of LUN changes, run on each nexus. */
void scsi_itn_lun_remove(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m);
void scsi_itn_lun_add(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m);
void scsi_itn_lun_resize(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m);
void scsi_dev_broadcast(struct osp_scsi_dev *dev, scsi_itn_fn fn, void *arg,
			void (*done)(struct osp_scsi_dev *dev, void *arg));
/* Run fn(task) on the owner thread; it ends with scsi_owner_reply(task). */
void scsi_task_to_owner(struct osp_scsi_task *task, void (*fn)(struct osp_scsi_task *task));
void scsi_owner_reply(struct osp_scsi_task *task);

/* ---- spc.c ---- */
/* Dispatch a command through the table (always ends or starts the task). */
bool scsi_spc_execute(struct osp_scsi_task *task);
void scsi_spc_inquiry_nolun(struct osp_scsi_task *task);
void scsi_spc_report_luns(struct osp_scsi_task *task);
void scsi_spc_request_sense(struct osp_scsi_task *task, struct scsi_itn_lun *il);
void scsi_mode_init_defaults(struct scsi_mode *mode, struct osp_bdev *bdev);
/* The CDB length an opcode's group code gives (0: vendor-specific or reserved group). */
int scsi_cdb_len(uint8_t opcode);

/* ---- sbc.c: command handlers (each ends or starts the task) ---- */
void scsi_sbc_read(struct osp_scsi_task *task);
void scsi_sbc_write(struct osp_scsi_task *task);
void scsi_sbc_write_verify(struct osp_scsi_task *task);
void scsi_sbc_verify(struct osp_scsi_task *task);
void scsi_sbc_prefetch(struct osp_scsi_task *task);
void scsi_sbc_sync_cache(struct osp_scsi_task *task);
void scsi_sbc_write_same(struct osp_scsi_task *task);
void scsi_sbc_unmap(struct osp_scsi_task *task);
void scsi_sbc_compare_and_write(struct osp_scsi_task *task);
void scsi_sbc_orwrite(struct osp_scsi_task *task);
void scsi_sbc_read_capacity10(struct osp_scsi_task *task);
void scsi_sbc_read_capacity16(struct osp_scsi_task *task);
void scsi_sbc_get_lba_status(struct osp_scsi_task *task);
void scsi_sbc_read_defect_data(struct osp_scsi_task *task);
void scsi_sbc_write_atomic(struct osp_scsi_task *task);
void scsi_sbc_extended_copy(struct osp_scsi_task *task);
void scsi_sbc_receive_copy_results(struct osp_scsi_task *task);
/* The LU's NAA designator (VPD 83h): NAA 6h over the bdev UUID. */
void scsi_lun_naa(struct osp_bdev *bdev, uint8_t naa[16]);
uint32_t scsi_max_atomic_blocks(struct osp_bdev *bdev, uint32_t block_size);
uint32_t scsi_atomic_align(struct osp_bdev *bdev);
/* Release what a completed task holds (zero-copy read buffers). */
void scsi_sbc_put(struct osp_scsi_task *task);
/* Whether the bdev reads zeroes from unmapped blocks (LBPRZ). */
bool scsi_bdev_unmap_zeroes(struct osp_bdev *bdev);
/* Max data transfer per command in blocks (Block Limits MAXIMUM TRANSFER LENGTH). */
uint32_t scsi_max_xfer_blocks(uint32_t block_size);
/* Blocks per bdev buffer of a zero-copy read (OPTIMAL TRANSFER LENGTH). */
uint32_t sbc_piece_blocks(uint32_t block_size);

/* ---- pr.c ---- */
/* Returns true when the reservation state conflicts with the command (status set). */
bool scsi_pr_check(struct osp_scsi_task *task, struct scsi_itn_lun *il);
void scsi_pr_reserve(struct osp_scsi_task *task);
void scsi_pr_release(struct osp_scsi_task *task);
void scsi_pr_in(struct osp_scsi_task *task);
void scsi_pr_out(struct osp_scsi_task *task);
/* Compute a nexus's reservation view of lun (owner thread). */
void scsi_pr_view(const struct osp_scsi_lun *lun, const char *iport, uint16_t tport,
		  struct scsi_res_view *view);
/* A reset released lun's SPC-2 reservation (owner). */
void scsi_pr_spc2_reset(struct osp_scsi_lun *lun);
/* SPC-2 reservations held by the nexus of (iport, tport) released (owner). */
void scsi_pr_nexus_gone(struct osp_scsi_dev *dev, const char *iport, uint16_t tport);

/* ---- dev.c ---- */
void scsi_dev_itn_linked(struct osp_scsi_dev *dev, struct osp_scsi_itn *itn);
void scsi_dev_itn_unlinked(struct osp_scsi_dev *dev);

#endif /* SCSI_INTERNAL_H */
