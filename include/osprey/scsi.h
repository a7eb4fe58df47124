/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/scsi: SCSI target devices over bdevs, independent of the transport
 * (iSCSI, vhost-user-scsi). SPC-4 / SBC-3 command emulation, task management,
 * unit attentions, reservations (SPC-2 RESERVE/RELEASE and SPC-4 persistent).
 *
 * Objects:
 *   osp_scsi_dev   a SCSI target device: a name (the iSCSI target name), up to
 *                  OSP_SCSI_DEV_MAX_LUN LUNs, and its target ports. Created and
 *                  changed on one thread (the owner, usually the app thread).
 *   osp_scsi_lun   a logical unit over one bdev (opened for writing by the LUN).
 *   osp_scsi_port  a port name and relative port id: a target port of a dev, or
 *                  an initiator port ("iqn...,i,0x<ISID>" for iSCSI).
 *   osp_scsi_itn   an I_T nexus: one initiator port talking to one dev through
 *                  one target port, used on ONE thread (the one that opened it):
 *                  it holds that thread's bdev channels for the dev's LUNs, the
 *                  nexus's pending unit attentions and its view of reservations.
 *                  A transport opens one per session (all of a session's
 *                  connections run on the session's thread).
 *   osp_scsi_task  one command (or task management function) from the
 *                  transport, embedded in the transport's own request so that
 *                  the I/O path allocates nothing.
 *
 * Error domains: set-up functions return -errno; commands end with a SAM status
 * and sense data in the task, never -errno.
 */
#ifndef OSPREY_SCSI_H
#define OSPREY_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "osprey/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OSP_SCSI_DEV_MAX_LUN		64	/* LUN ids 0..63 */
#define OSP_SCSI_DEV_MAX_NAME		255	/* bytes, without the NUL (iSCSI name max 223) */
#define OSP_SCSI_PORT_MAX_NAME		255
#define OSP_SCSI_DEV_MAX_PORTS		16
#define OSP_SCSI_MAX_CDB_LEN		32
#define OSP_SCSI_SENSE_BUF_LEN		252	/* fixed or descriptor format */
/*
 * Task iovecs a transport may pass inline in the task. Also the most bdev
 * buffers a zero-copy read comes back in (each at most 128 KiB, the bdev
 * layer's buffer size): the Block Limits MAXIMUM TRANSFER LENGTH is 1 MiB.
 */
#define OSP_SCSI_TASK_INLINE_IOVS	8
/*
 * The most data one command moves (Block Limits MAXIMUM TRANSFER LENGTH,
 * converted to blocks): larger commands end with INVALID FIELD IN CDB. A
 * transport should accept data-out of this size. Zero-copy reads beyond
 * OSP_SCSI_TASK_INLINE_IOVS bdev buffers come back with iovs pointing at
 * an array the SCSI layer holds until osp_scsi_task_put().
 */
#define OSP_SCSI_MAX_TRANSFER_BYTES	(32u << 20)

struct osp_scsi_dev;
struct osp_scsi_lun;
struct osp_scsi_port;
struct osp_scsi_itn;
struct osp_scsi_task;
struct osp_bdev_io;
struct cJSON;

/* SAM status codes (SAM-5 5.3). */
enum osp_scsi_status {
	OSP_SCSI_STATUS_GOOD = 0x00,
	OSP_SCSI_STATUS_CHECK_CONDITION = 0x02,
	OSP_SCSI_STATUS_CONDITION_MET = 0x04,
	OSP_SCSI_STATUS_BUSY = 0x08,
	OSP_SCSI_STATUS_RESERVATION_CONFLICT = 0x18,
	OSP_SCSI_STATUS_TASK_SET_FULL = 0x28,
	OSP_SCSI_STATUS_ACA_ACTIVE = 0x30,
	OSP_SCSI_STATUS_TASK_ABORTED = 0x40,
};

/* Data direction as the transport sees the command (from the initiator). */
enum osp_scsi_dir {
	OSP_SCSI_DIR_NONE = 0,
	OSP_SCSI_DIR_TO_DEV,		/* write: data-out, filled before execution */
	OSP_SCSI_DIR_FROM_DEV,		/* read: data-in, filled by execution */
};

/* Task management functions (SAM-5 7). */
enum osp_scsi_tmf {
	OSP_SCSI_TMF_ABORT_TASK = 1,
	OSP_SCSI_TMF_ABORT_TASK_SET,
	OSP_SCSI_TMF_CLEAR_ACA,
	OSP_SCSI_TMF_CLEAR_TASK_SET,
	OSP_SCSI_TMF_LUN_RESET,
	OSP_SCSI_TMF_I_T_NEXUS_RESET,
	OSP_SCSI_TMF_TARGET_WARM_RESET,
	OSP_SCSI_TMF_TARGET_COLD_RESET,
	OSP_SCSI_TMF_QUERY_TASK,
	OSP_SCSI_TMF_QUERY_TASK_SET,
	OSP_SCSI_TMF_QUERY_ASYNC_EVENT,
};

/* Task management service responses (SAM-5 7.11). */
enum osp_scsi_tmf_resp {
	OSP_SCSI_TMF_RESP_COMPLETE = 0,
	OSP_SCSI_TMF_RESP_SUCCEEDED,
	OSP_SCSI_TMF_RESP_REJECTED,		/* not supported */
	OSP_SCSI_TMF_RESP_INVALID_LUN,
	OSP_SCSI_TMF_RESP_INCORRECT_LUN,
	OSP_SCSI_TMF_RESP_FAILED,
};

typedef void (*osp_scsi_task_cpl)(struct osp_scsi_task *task);

/*
 * A command. The transport zeroes it (osp_scsi_task_init), sets the inputs,
 * calls osp_scsi_itn_execute(), and gets cpl_fn exactly once on the nexus's
 * thread, possibly before execute returns. After it has sent the response it
 * calls osp_scsi_task_put() to release what the SCSI layer holds (for a read,
 * the bdev buffer the data was sent from).
 */
struct osp_scsi_task {
	/* ---- inputs (transport) ---- */
	uint64_t lun_id;		/* SAM LUN number (decoded from the 8-byte LUN field) */
	uint64_t tag;			/* initiator task tag, for ABORT TASK */
	uint8_t cdb[OSP_SCSI_MAX_CDB_LEN];
	uint8_t cdb_len;
	enum osp_scsi_dir dir;
	/*
	 * Expected data transfer length (iSCSI EDTL): the size of the data-out
	 * the initiator sends, or of the data-in buffer it has. Data-in beyond
	 * it is not transferred (overflow residual).
	 */
	uint32_t transfer_len;
	/*
	 * Data buffers. For TO_DEV: transfer_len bytes of data-out, complete before
	 * execution. For FROM_DEV: either transfer_len bytes of buffers the
	 * transport owns, or iovcnt == 0: the SCSI layer provides the buffers
	 * (zero copy from the bdev) and sets iovs/iovcnt on completion; they stay
	 * valid until osp_scsi_task_put().
	 */
	struct iovec *iovs;
	int iovcnt;
	struct iovec iov_inline[OSP_SCSI_TASK_INLINE_IOVS];
	osp_scsi_task_cpl cpl_fn;
	void *cb_arg;			/* the transport's request */

	/* ---- outputs (SCSI layer) ---- */
	uint8_t status;			/* enum osp_scsi_status */
	uint8_t sense_len;
	uint8_t sense[OSP_SCSI_SENSE_BUF_LEN];
	/* Bytes of data-in produced (≤ transfer_len), or of data-out consumed. */
	uint32_t data_transferred;
	/*
	 * Bytes the command would move if transfer_len did not limit it (READ's
	 * blocks × block size, INQUIRY's response length capped by its allocation
	 * length, ...). The transport reports residuals from it:
	 * overflow = data_wanted - transfer_len when larger, else underflow =
	 * transfer_len - data_transferred.
	 */
	uint32_t data_wanted;
	/* Task management outcome (osp_scsi_itn_tmf). */
	enum osp_scsi_tmf_resp tmf_resp;

	/* ---- private to lib/scsi ---- */
	struct osp_scsi_itn *itn;
	struct osp_scsi_lun *lun;
	struct osp_bdev_io *bdev_io;
	/* The buffers of a zero-copy read (held until osp_scsi_task_put). */
	struct osp_bdev_io *bdev_ios[OSP_SCSI_TASK_INLINE_IOVS];
	void *priv;
	uint64_t priv_u64[8];
	/* Room for a struct osp_bdev_io_wait_entry (retry after -ENOMEM). */
	uint64_t priv_wait[6];
	/* An iovec of iovs shortened to the command's data length, restored at completion. */
	int trim_idx;
	size_t trim_len;
	uint32_t state;
	TAILQ_ENTRY(osp_scsi_task) link;
};

/* Zero the task and point iovs at iov_inline. */
void osp_scsi_task_init(struct osp_scsi_task *task, osp_scsi_task_cpl cpl_fn, void *cb_arg);
/* Release the SCSI layer's resources of a completed task (its bdev_io, buffers). */
void osp_scsi_task_put(struct osp_scsi_task *task);
/*
 * Build fixed-format sense (SPC-4 4.5.3) in task->sense and set CHECK
 * CONDITION. For transports that refuse a command before it reaches the
 * device (e.g. iSCSI data digest errors are not this; a bad EDTL is).
 */
void osp_scsi_task_set_sense(struct osp_scsi_task *task, uint8_t sk, uint8_t asc, uint8_t ascq);

/*
 * The direction the CDB's data flows for the commands the SCSI layer
 * implements: FROM_DEV (data-in: READ, INQUIRY, ...), TO_DEV (data-out:
 * WRITE, UNMAP, MODE SELECT, ...), NONE for commands that move no data or
 * whose direction depends on fields (VERIFY's BYTCHK, WRITE SAME's NDOB take
 * TO_DEV) and for unknown opcodes. A transport checks the initiator's
 * direction flags against it before it solicits data: a mismatch is refused
 * with osp_scsi_task_set_sense() and never executed.
 */
enum osp_scsi_dir osp_scsi_cdb_data_dir(const uint8_t *cdb);

/* ---- devices (owner thread) ---- */

/*
 * Create a device named name with no LUNs. Returns 0 and *dev, -EINVAL (name
 * empty or too long), -ENOMEM.
 */
int osp_scsi_dev_create(const char *name, struct osp_scsi_dev **dev);
const char *osp_scsi_dev_get_name(const struct osp_scsi_dev *dev);

/*
 * Add LUN lun_id over bdev_name (lun_id -1: the lowest free id, written to
 * *lun_id_out if not NULL). The bdev is opened for writing and its removal
 * and resize are handled by the LUN (hot remove: commands fail with LOGICAL
 * UNIT NOT SUPPORTED once it is gone; resize: CAPACITY DATA HAS CHANGED unit
 * attention to every nexus). Returns 0, -EINVAL (id out of range), -EEXIST
 * (id taken), -ENODEV (no such bdev), -EPERM (claimed), -ENOMEM.
 */
int osp_scsi_dev_add_lun(struct osp_scsi_dev *dev, const char *bdev_name, int lun_id,
			 int *lun_id_out);
/*
 * Remove a LUN: new commands for it fail at once, its outstanding I/O is
 * waited for on every nexus, then the bdev is closed and cb(cb_arg, rc) runs
 * on the owner thread. REPORTED LUNS DATA HAS CHANGED goes to every nexus.
 * Returns 0 or -ENOENT (no such LUN) without calling cb.
 */
int osp_scsi_dev_remove_lun(struct osp_scsi_dev *dev, int lun_id,
			    void (*cb)(void *cb_arg, int rc), void *cb_arg);
struct osp_scsi_lun *osp_scsi_dev_get_lun(struct osp_scsi_dev *dev, int lun_id);
/* LUNs in ascending id order (NULL at the end). */
struct osp_scsi_lun *osp_scsi_dev_first_lun(struct osp_scsi_dev *dev);
struct osp_scsi_lun *osp_scsi_dev_next_lun(struct osp_scsi_dev *dev, struct osp_scsi_lun *prev);
int osp_scsi_lun_get_id(const struct osp_scsi_lun *lun);
const char *osp_scsi_lun_get_bdev_name(const struct osp_scsi_lun *lun);

/*
 * Add a target port (name, e.g. "iqn...,t,0x0001"; relative port id 1..65535,
 * unique in the device). Returns 0, -EEXIST, -EINVAL, -ENOSPC.
 */
int osp_scsi_dev_add_port(struct osp_scsi_dev *dev, uint16_t rel_port_id, const char *name);
struct osp_scsi_port *osp_scsi_dev_find_port(struct osp_scsi_dev *dev, uint16_t rel_port_id);

/*
 * Destroy: every LUN removed as above, once no nexus is open; cb(cb_arg) on
 * the owner thread. Returns 0, or -EBUSY while a nexus is open (close the
 * sessions first).
 */
int osp_scsi_dev_destroy(struct osp_scsi_dev *dev, void (*cb)(void *cb_arg), void *cb_arg);

/* ---- initiator ports ---- */

/*
 * An initiator port for a nexus: name (iSCSI: "<initiator name>,i,0x<ISID as
 * 12 hex digits>", SPC-4 TransportID form 01b). The transport owns it.
 */
struct osp_scsi_port *osp_scsi_port_create(const char *name, uint16_t rel_port_id);
void osp_scsi_port_free(struct osp_scsi_port *port);
const char *osp_scsi_port_get_name(const struct osp_scsi_port *port);

/* ---- I_T nexus (the thread that uses it) ---- */

/*
 * Open a nexus of initiator_port to dev through the target port
 * target_rel_port_id, on the current thread, and queue the POWER ON, RESET,
 * OR BUS DEVICE RESET OCCURRED unit attention for it. May be called on any
 * thread; the dev's LUN list is read through a message to the owner when the
 * caller is not the owner, hence the callback: cb(cb_arg, itn, rc) on the
 * calling thread. Returns 0 or -errno (cb not called).
 */
int osp_scsi_itn_open(struct osp_scsi_dev *dev, struct osp_scsi_port *initiator_port,
		      uint16_t target_rel_port_id,
		      void (*cb)(void *cb_arg, struct osp_scsi_itn *itn, int rc), void *cb_arg);
/*
 * Execute a command on this nexus (its thread). task->cpl_fn runs exactly
 * once, with status and sense set. Commands for LUNs that do not exist get
 * CHECK CONDITION / ILLEGAL REQUEST / LOGICAL UNIT NOT SUPPORTED (INQUIRY gets
 * peripheral qualifier 011b, REPORT LUNS and REQUEST SENSE are answered).
 */
void osp_scsi_itn_execute(struct osp_scsi_itn *itn, struct osp_scsi_task *task);
/*
 * Task management: task->cdb unused; fn and the referenced tag / LUN in
 * the arguments. ABORT TASK / ABORT TASK SET / CLEAR TASK SET / LUN RESET
 * complete the affected commands with TASK ABORTED status (their cpl_fn
 * runs, before the TMF's) and wait for the LUN's bdev I/O they started.
 * task->tmf_resp holds the answer when task->cpl_fn runs.
 */
void osp_scsi_itn_tmf(struct osp_scsi_itn *itn, struct osp_scsi_task *task,
		      enum osp_scsi_tmf fn, uint64_t lun_id, uint64_t ref_tag);
/* Commands of this nexus not yet completed. */
uint32_t osp_scsi_itn_outstanding(const struct osp_scsi_itn *itn);
/*
 * Close the nexus: every outstanding command must have completed (abort them
 * with osp_scsi_itn_tmf(... I_T_NEXUS_RESET) first) and been released with
 * osp_scsi_task_put() (a read's data buffers belong to the nexus's channels). Its channels are put and
 * it is freed. Registrations of persistent reservations survive (they belong
 * to the initiator port name); SPC-2 reservations it holds are released.
 */
void osp_scsi_itn_close(struct osp_scsi_itn *itn);

/* ---- introspection (owner thread) ---- */

/* Write {"id":..., "bdev_name":...} per LUN to a JSON array (RPC output). */
void osp_scsi_dev_luns_json(struct osp_scsi_dev *dev, struct cJSON *array);

#ifdef __cplusplus
}
#endif

#endif
