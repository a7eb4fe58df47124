/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF RDMA target transport (lib/nvmf/rdma.c): its structures, shared
 * with its unit test (test/unit/lib/nvmf/rdma_ut.c). See doc/nvmf_rdma.md.
 */
#ifndef OSP_NVMF_RDMA_INTERNAL_H
#define OSP_NVMF_RDMA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "osprey/iobuf.h"
#include "osprey/nvmf_transport.h"
#include "osprey/queue.h"
#include "osprey/rdma.h"

/* Keyed SGL data blocks one command may carry (its last-segment list in the capsule). */
#define NVMF_RDMA_MAX_SGL_DESC	16
/* Local pieces of one request: its buffers cut at each remote descriptor boundary. */
#define NVMF_RDMA_MAX_WRS	(OSP_NVMF_MAX_REQ_IOVS + NVMF_RDMA_MAX_SGL_DESC)
/* Completions taken from a CQ per poll. */
#define NVMF_RDMA_POLL_BATCH	32

struct nvmf_rdma_transport;
struct nvmf_rdma_poll_group;
struct nvmf_rdma_qpair;

/* What a work request id points at: the first member of each. */
enum nvmf_rdma_wr_type {
	NVMF_RDMA_WR_RECV = 1,
	NVMF_RDMA_WR_DATA,	/* RDMA READ or WRITE of a request */
	NVMF_RDMA_WR_RSP,	/* the response SEND of a request */
};

struct nvmf_rdma_device {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct osp_rdma_mem_map *map;
	/* The transport's data buffers (when they are not env DMA memory). */
	struct ibv_mr *pool_mr;
	struct ibv_device_attr attr;
	char name[64];
	TAILQ_ENTRY(nvmf_rdma_device) link;
};

struct nvmf_rdma_listener {
	struct rdma_cm_id *id;
	struct osp_nvmf_listen_addr addr;
	TAILQ_ENTRY(nvmf_rdma_listener) link;
};

struct nvmf_rdma_transport {
	struct osp_nvmf_transport transport;
	struct osp_nvmf_transport_opts opts;
	/* RDMA specific options (SPDK's names). */
	uint32_t num_cqe;
	uint32_t max_srq_depth;
	bool no_srq;
	int acceptor_backlog;
	bool no_wr_batching;

	struct rdma_event_channel *event_channel;
	TAILQ_HEAD(, nvmf_rdma_device) devices;
	TAILQ_HEAD(, nvmf_rdma_listener) listeners;
	struct osp_iobuf_pool *buf_pool;
	uintptr_t pool_start;	/* the pool's buffers lie in [pool_start, pool_end) */
	uintptr_t pool_end;
	/* Connections refused at RDMA_CM_CONNECT_REQUEST (bad private data, no resources). */
	uint64_t rejects;
	/* qpairs the core no longer holds, waiting for their rdma_cm id to be destroyed here. */
	TAILQ_HEAD(, nvmf_rdma_qpair) retired;
	struct osp_thread *thread;	/* the transport's (target) thread */
};

/* One poll group's resources on one device: the CQ its qpairs share. */
struct nvmf_rdma_pg_dev {
	struct nvmf_rdma_device *dev;
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	int cq_size;
	int cq_used;		/* entries the qpairs on it may need at once */
	bool armed;		/* ibv_req_notify_cq called, its event not consumed yet */
	bool wake_fd_added;
	/* Shared receive queue of the group's qpairs on this device (NULL: no_srq). */
	struct ibv_srq *srq;
	struct nvmf_rdma_recv *srq_recvs;
	uint8_t *srq_area;
	uint32_t srq_depth;
	struct ibv_recv_wr *srq_head, *srq_tail;	/* receives to post at the end of the poll */
	struct {
		uint64_t polls;
		uint64_t idle_polls;
		uint64_t completions;
		uint64_t requests;
		uint64_t pending_rdma_read;
		uint64_t pending_rdma_write;
		uint64_t total_send_wrs;
		uint64_t send_doorbell_updates;
		uint64_t total_recv_wrs;
		uint64_t recv_doorbell_updates;
		uint64_t wc_errors;
	} stat;
	TAILQ_ENTRY(nvmf_rdma_pg_dev) link;
};

struct nvmf_rdma_poll_group {
	struct osp_nvmf_transport_poll_group group;
	struct nvmf_rdma_transport *rt;
	TAILQ_HEAD(, nvmf_rdma_pg_dev) devs;
	TAILQ_HEAD(, nvmf_rdma_qpair) qpairs;
	/* qpairs with work requests to post at the end of this poll (WR batching). */
	TAILQ_HEAD(, nvmf_rdma_qpair) flush;
	/* qpairs with requests waiting for send-queue or RDMA READ credits. */
	TAILQ_HEAD(nvmf_rdma_qpair_list, nvmf_rdma_qpair) pending;
	struct osp_iobuf_channel iobuf;
	struct osp_thread *thread;	/* the group's thread */
	struct {
		uint64_t current_qpairs;
		uint64_t total_qpairs;
		uint64_t pending_data_buffer;
	} stat;
};

enum nvmf_rdma_req_state {
	RR_FREE = 0,
	RR_NEED_BUF,		/* waiting for data buffers (iobuf channel queue) */
	RR_PENDING_READ,	/* waiting for send queue / READ credits */
	RR_READING,		/* RDMA READs of the host's data in flight */
	RR_EXEC,		/* in the core */
	RR_PENDING_SEND,	/* completed by the core, waiting for send queue credits */
	RR_SENDING,		/* WRITEs and the response SEND in flight */
	RR_DONE,		/* nothing more to do: released when no WR is outstanding */
};

struct nvmf_rdma_recv {
	uint8_t wr_type;		/* NVMF_RDMA_WR_RECV */
	struct nvmf_rdma_qpair *rq;	/* NULL: a receive of the SRQ of pgd */
	struct nvmf_rdma_pg_dev *pgd;
	uint8_t *buf;			/* command capsule, then in-capsule data */
	struct ibv_recv_wr wr;
	struct ibv_sge sge;
};

struct nvmf_rdma_remote {
	uint64_t addr;
	uint32_t key;
	uint32_t len;
};

struct nvmf_rdma_req {
	struct osp_nvmf_request req;
	struct nvmf_rdma_qpair *rq;
	enum nvmf_rdma_req_state state;
	struct nvmf_rdma_recv *recv;	/* holds the capsule until the request is done */

	/* Work request ids: &data_type and &rsp_type. */
	uint8_t data_type;
	uint8_t rsp_type;
	uint32_t data_wrs_out;		/* data WRs posted and not completed */
	bool rsp_out;			/* response SEND posted and not completed */
	bool data_error;		/* a data WR failed */

	/* The host's buffers (keyed SGL data blocks). */
	struct nvmf_rdma_remote remote[NVMF_RDMA_MAX_SGL_DESC];
	uint32_t nremote;
	uint32_t inv_rkey;
	bool invalidate;

	/* Our data buffers. */
	void *bufs[OSP_NVMF_MAX_REQ_IOVS];
	uint32_t nbufs;
	struct osp_iobuf_entry buf_entry;

	/* Data WRs built for the transfer, posted from next_wr on (READ credits). */
	struct ibv_send_wr data_wr[NVMF_RDMA_MAX_WRS];
	struct ibv_sge data_sge[NVMF_RDMA_MAX_WRS];
	uint32_t nwr;
	uint32_t next_wr;

	struct osp_nvme_cpl *rsp_buf;	/* DMA memory the response is sent from */
	struct ibv_send_wr rsp_wr;
	struct ibv_sge rsp_sge;

	TAILQ_ENTRY(nvmf_rdma_req) link;	/* free list or pending list */
};

struct nvmf_rdma_qpair {
	struct osp_nvmf_qpair qpair;
	struct nvmf_rdma_transport *rt;
	struct nvmf_rdma_device *dev;
	struct nvmf_rdma_poll_group *pg;
	struct nvmf_rdma_pg_dev *pgd;
	struct rdma_cm_id *cm_id;
	struct ibv_qp *qp;		/* cm_id->qp once created */

	/* From the host's RDMA_CM_REQUEST. */
	uint16_t host_qid;
	uint16_t hsqsize;		/* 0's based */
	uint16_t hrqsize;
	uint32_t host_ird;		/* RDMA READs the host lets us have outstanding */

	uint32_t depth;			/* receives posted = requests */
	uint32_t icd_size;
	uint32_t max_sge;
	uint32_t sq_size;
	uint32_t sq_free;		/* send queue slots */
	uint32_t rd_depth;		/* RDMA READ credits (our initiator depth) */
	uint32_t rd_free;
	uint32_t recv_out;		/* receives posted, not completed */
	uint32_t send_out;		/* send queue WRs posted, not completed */

	struct nvmf_rdma_req *reqs;
	struct nvmf_rdma_recv *recvs;
	uint8_t *recv_area;		/* depth x (64 + icd_size), DMA memory */
	struct osp_nvme_cpl *rsp_area;	/* depth x 16, DMA memory */
	TAILQ_HEAD(, nvmf_rdma_req) free_reqs;
	TAILQ_HEAD(, nvmf_rdma_req) pending_reqs;	/* waiting for credits, in order */

	/* WR batching: chains posted at the end of the poll. */
	struct ibv_send_wr *send_head, *send_tail;
	struct ibv_recv_wr *recv_head, *recv_tail;
	bool in_flush_list;
	bool in_pending_list;
	bool in_group_list;

	bool accepted;		/* rdma_accept done */
	bool dead;		/* no more receiving or sending (disconnected or failed) */
	bool cm_disconnected;	/* rdma_disconnect done */
	bool fini_requested;	/* the core called qpair_fini */
	bool drained;		/* nothing outstanding on the QP any more */
	/* Transport thread only: rdma_cm event messages to the group not yet answered. */
	uint32_t cm_msgs_out;
	bool retire_pending;	/* retire once cm_msgs_out is 0 */
	osp_nvmf_qpair_fini_cb fini_cb;
	void *fini_arg;
	char peer[64];
	TAILQ_ENTRY(nvmf_rdma_qpair) link;		/* group list or transport retired list */
	TAILQ_ENTRY(nvmf_rdma_qpair) flush_link;
	TAILQ_ENTRY(nvmf_rdma_qpair) pending_link;
};

#endif /* OSP_NVMF_RDMA_INTERNAL_H */
