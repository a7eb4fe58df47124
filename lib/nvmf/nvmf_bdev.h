/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvmf private interface between the controller core (ctrlr.c, which
 * parses capsules, owns queues, controllers and poll groups) and the bdev
 * back end (ctrlr_bdev.c, which turns NVM command set I/O commands into bdev
 * calls and bdev results into NVMe status).
 *
 * Everything here runs on the poll group's thread that owns the request.
 * Functions taking a request either complete it synchronously (return
 * NVMF_BDEV_DONE, req->rsp filled) or start bdev I/O (return
 * NVMF_BDEV_ASYNC); in the latter case done(req) is called exactly once
 * later, on the same thread, with req->rsp filled. They never return -errno:
 * every failure is an NVMe status in req->rsp.
 */
#ifndef NVMF_BDEV_H
#define NVMF_BDEV_H

#include <stdint.h>

#include "osprey/bdev.h"
#include "osprey/nvme_spec.h"
#include "osprey/nvmf.h"
#include "osprey/nvmf_transport.h"
#include "osprey/thread.h"

enum {
	NVMF_BDEV_DONE = 0,
	NVMF_BDEV_ASYNC = 1,
};

typedef void (*nvmf_bdev_done_fn)(struct osp_nvmf_request *req);

/*
 * Execute I/O command req->cmd (Read, Write, Flush, Write Zeroes, Dataset
 * Management, Compare; anything else: Invalid Command Opcode) on the
 * namespace's bdev through desc/ch. Checks the LBA range against the bdev
 * (LBA Out of Range), the transfer length against req->length (Data SGL
 * Length Invalid), and uses req->iov/iovcnt as the data buffer (zero copy).
 * When the bdev has no memory for the I/O it waits with
 * osp_bdev_queue_io_wait and retries; it never fails the command for that.
 */
int nvmf_bdev_exec_io(struct osp_nvmf_request *req, struct osp_bdev_desc *desc,
		      struct osp_io_channel *ch, nvmf_bdev_done_fn done);

/*
 * Fused Compare (cmp, FUSE = first) and Write (write, FUSE = second) on the
 * same namespace, executed atomically with
 * osp_bdev_comparev_and_writev_blocks. Both requests get their status (the
 * write gets Command Aborted due to Failed Fused Command when the compare
 * fails, per NVMe Base 2.0 §3.4.2); done() is called once for each.
 */
int nvmf_bdev_exec_compare_and_write(struct osp_nvmf_request *cmp,
				     struct osp_nvmf_request *write,
				     struct osp_bdev_desc *desc, struct osp_io_channel *ch,
				     nvmf_bdev_done_fn done);

/*
 * Fill the Identify Namespace data structure (CNS 00h) for namespace ns
 * backed by bdev: NSZE/NCAP/NUSE, one LBA format for the bdev's block size,
 * NSFEAT deallocate bits when unmap is supported, NGUID/EUI64 from the
 * namespace options, NOIOB from the optimal I/O boundary, NAWUN/NACWU as 0.
 */
void nvmf_bdev_identify_ns(const struct osp_nvmf_ns *ns, struct osp_bdev *bdev,
			   struct osp_nvme_ns_data *nsdata);

/*
 * The Namespace Identification Descriptor list (CNS 03h) for ns: EUI64,
 * NGUID and UUID descriptors for the identifiers that are set, into buf
 * (4096 bytes, zeroed by the caller).
 */
void nvmf_bdev_ns_id_desc_list(const struct osp_nvmf_ns *ns, struct osp_bdev *bdev,
			       void *buf, size_t len);

/*
 * Map a finished bdev I/O to the completion queue entry's status:
 *   SUCCESS     -> Successful Completion
 *   NVME_ERROR  -> the NVMe status (and CDW0) the bdev I/O carries
 *   MISCOMPARE  -> Media and Data Integrity Errors / Compare Failure, DNR set
 *   ABORTED     -> Command Aborted by Request
 *   FAILED      -> Internal Error (anything else, NOMEM included, which the
 *                  bdev layer retries and never completes with)
 */
void nvmf_bdev_set_status(struct osp_nvme_cpl *rsp, const struct osp_bdev_io *bdev_io);

#endif
