/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP target transport (lib/nvmf/tcp.c): private structures, shared
 * with its unit test and fuzz harness (which #include tcp.c).
 */
#ifndef NVMF_TCP_INTERNAL_H
#define NVMF_TCP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "osprey/env.h"
#include "osprey/iobuf.h"
#include "osprey_internal/nvme_tcp_codec.h"
#include "osprey/nvmf_transport.h"
#include "osprey/queue.h"
#include "osprey/sock.h"

/* MAXH2CDATA we advertise in ICResp; one R2T never asks for more. */
#define NVMF_TCP_MAXH2CDATA 131072u
/* Largest C2HData PDU we send; a longer read goes out in several PDUs. */
#define NVMF_TCP_C2H_PDU_MAX 131072u
/*
 * In-capsule data accepted on the admin queue (and before Connect, when the
 * queue type is not known yet): the 1024-byte Connect data and admin
 * commands with data, as the Linux host sends them (its admin CCSZ).
 */
#define NVMF_TCP_ADMIN_ICD 8192u
/* Receive buffer of a connection: one recv() takes what the socket holds. */
#define NVMF_TCP_RBUF_SIZE 65536u
/* Data regions at least this long are read straight into the data buffers. */
#define NVMF_TCP_ZCOPY_RECV_MIN 8192u
/* Limits on sock_priority (SO_PRIORITY without CAP_NET_ADMIN). */
#define NVMF_TCP_SOCK_PRIORITY_MAX 6
/*
 * Admission of new connections, so that peers that connect and send nothing
 * (or never finish Connect) cannot use up the target's memory:
 * - before ICReq a connection holds only its struct and a small receive
 *   buffer; its requests, in-capsule data area and 64 KiB receive buffer are
 *   allocated when the ICReq arrives;
 * - a connection that has not completed Connect within
 *   NVMF_TCP_ADMIT_TIMEOUT_MS of being accepted is closed (one whose Connect
 *   is being processed is left alone);
 * - at most NVMF_TCP_MAX_UNADMITTED connections of a transport may be waiting
 *   for their Connect at once; newer ones are closed at accept (logged at
 *   most once a second with the number refused).
 */
#define NVMF_TCP_ADMIT_TIMEOUT_MS 5000u
#define NVMF_TCP_MAX_UNADMITTED 512u
/* Receive buffer of a connection before its ICReq (128 bytes) arrived. */
#define NVMF_TCP_RBUF_IC_SIZE 256u
/*
 * Largest in-capsule data area of one connection (queue entries times
 * in_capsule_data_size, DMA memory): nvmf_create_transport refuses options
 * that need more, rather than failing every connection but the first.
 */
#define NVMF_TCP_MAX_ICD_PER_QPAIR (64u << 20)

struct nvmf_tcp_req;
struct nvmf_tcp_qpair;

/* One PDU to send, with its socket write request. */
struct nvmf_tcp_wr {
	struct osp_nvme_tcp_pdu pdu;
	struct osp_sock_request sreq;
	struct nvmf_tcp_qpair *tq;
	struct nvmf_tcp_req *tr;	/* NULL for the qpair's control PDUs */
	bool busy;			/* queued on the socket, not completed */
};

enum nvmf_tcp_req_state {
	TR_FREE = 0,
	TR_RECV_ICD,	/* receiving in-capsule data into it */
	TR_NEED_BUF,	/* waiting for data buffers (queued on the group's iobuf channel) */
	TR_H2C,		/* R2T sent, receiving H2CData */
	TR_EXEC,	/* held by the core */
	TR_DONE,	/* response queued (or dropped): freed once its writes complete */
};

/*
 * Who moves a request between states (tcp.c):
 *
 * TR_FREE      entered: req_try_release() (TR_DONE, no write pending, all
 *                       C2HData sent or the qpair dead).
 *              left:    req_get(), from rx_hdr() (a capsule with in-capsule
 *                       data), rx_done() (a capsule without) or qpair_rx()
 *                       (the stashed capsule), to TR_RECV_ICD.
 * TR_RECV_ICD  entered: req_get().
 *              left:    capsule_start(), from rx_done() or qpair_rx(), to
 *                       TR_NEED_BUF (no buffer now), TR_H2C through
 *                       buffers_ready(), TR_EXEC through req_exec(), or
 *                       TR_DONE through nvmf_tcp_req_fail(); qpair_drop_unheld() to
 *                       TR_DONE.
 * TR_NEED_BUF  entered: capsule_start() (req_get_bufs() said -EAGAIN).
 *              left:    buffers_arrived() (the iobuf channel's poller) ->
 *                       buffers_ready() to TR_H2C or TR_EXEC;
 *                       qpair_drop_unheld() to TR_DONE (waiter aborted).
 * TR_H2C       entered: buffers_ready() (host-to-controller data), which
 *                       sends the first R2T.
 *              left:    h2c_data_done() once all data is in: req_exec() to
 *                       TR_EXEC, or nvmf_tcp_req_fail() to TR_DONE (data digest);
 *                       qpair_drop_unheld() to TR_DONE.
 * TR_EXEC      entered: req_exec() (osp_nvmf_request_exec(): the core holds it).
 *              left:    nvmf_tcp_req_complete() or nvmf_tcp_req_free() (the
 *                       core gives it back) to TR_DONE.
 * TR_DONE      entered: nvmf_tcp_req_complete(), nvmf_tcp_req_free(),
 *                       nvmf_tcp_req_fail(), req_exec() on a dead qpair,
 *                       qpair_drop_unheld().
 *              left:    req_try_release() (from those and from wr_done(), as
 *                       the last write completes) to TR_FREE.
 */

struct nvmf_tcp_req {
	struct osp_nvmf_request req;
	struct nvmf_tcp_qpair *tq;
	enum nvmf_tcp_req_state state;
	uint16_t ttag;
	/* In-capsule data: bytes received, and whether they sit in the request's slot. */
	uint32_t icd_len;
	uint8_t *icd_slot;
	/* Shared-pool buffers held (io_unit_size each). */
	uint32_t nbufs;
	void *bufs[OSP_NVMF_MAX_REQ_IOVS];
	/* Queued on the group's iobuf channel (TR_NEED_BUF). */
	struct osp_iobuf_entry buf_entry;
	/* H2C: next expected DATAO, end of the outstanding R2T. */
	uint32_t h2c_off;
	uint32_t r2t_end;
	bool r2t_deferred;	/* next R2T waits for the previous one's write */
	bool ddgst_err;
	/* C2H: bytes already put into PDUs; SUCCESS on the last one. */
	uint32_t c2h_off;
	bool c2h_success;
	bool c2h_whole;		/* c2h_len is all of req.iov: no slicing when it fits one PDU */
	uint32_t c2h_len;
	uint32_t writes;	/* socket writes not completed */
	struct nvmf_tcp_wr data_wr;	/* R2T or C2HData */
	struct nvmf_tcp_wr rsp_wr;	/* CapsuleResp */
	TAILQ_ENTRY(nvmf_tcp_req) link;	/* free list */
};

struct nvmf_tcp_transport;
struct nvmf_tcp_poll_group;

struct nvmf_tcp_qpair {
	struct osp_nvmf_qpair qpair;
	/* "ADDR:PORT" of the host, for log lines (with qid and cntlid: nvmf_tcp_qpair_name()). */
	char peer[OSP_SOCK_ADDR_STRLEN + 8];
	char name[OSP_SOCK_ADDR_STRLEN + 48];
	struct nvmf_tcp_transport *tt;
	struct nvmf_tcp_poll_group *pg;
	struct osp_sock *sock;
	bool in_sock_group;
	bool ic_done;
	/* No more receiving nor exec: failed, peer gone, or the core disconnected it. */
	bool dead;
	/* The receiver waits for a free request or data buffers. */
	bool rx_paused;
	/* On the group's attn list: rx_paused, or the core started a disconnect. */
	bool in_attn_list;
	/* Connect asked for SQ flow control disabled: C2HData SUCCESS may be used. */
	bool sq_fc_disabled;
	uint32_t maxr2t;	/* host's MAXR2T (0's based); we keep one R2T per command */
	struct osp_nvme_tcp_recv rx;
	struct osp_nvme_tcp_send_params tx;
	uint8_t *rbuf;		/* rbuf_ic until the ICReq, then rbuf_big */
	uint32_t rbuf_cap;
	uint32_t rbuf_off;
	uint32_t rbuf_len;
	uint8_t *rbuf_big;
	uint8_t rbuf_ic[NVMF_TCP_RBUF_IC_SIZE];
	/* Counted in the transport's num_unadmitted until Connect succeeds. */
	bool unadmitted;
	uint64_t admit_deadline;	/* osp_get_ticks() */
	uint32_t nreqs;
	uint32_t icd_unit;	/* bytes of each request's in-capsule slot */
	struct nvmf_tcp_req *reqs;
	uint8_t *icd_area;
	TAILQ_HEAD(, nvmf_tcp_req) free_reqs;
	uint32_t free_count;
	/* Request receiving in-capsule data (between hdr_fn and done_fn). */
	struct nvmf_tcp_req *rx_req;
	/* Request of the H2CData PDU being received. */
	struct nvmf_tcp_req *rx_h2c;
	/* A capsule without data that found no free request. */
	struct osp_nvme_cmd stash;
	bool stash_valid;
	/* ICResp, and the C2HTermReq that ends a connection. */
	struct nvmf_tcp_wr ctrl_wr;
	struct nvmf_tcp_wr term_wr;
	bool in_group_list;
	TAILQ_ENTRY(nvmf_tcp_qpair) fini_link;	/* group's fini_list */
	/*
	 * Nesting depth of our own code running on this qpair: the core may
	 * call qpair_fini from inside a call we made (request_exec,
	 * qpair_disconnect); the free then waits until we unwind.
	 */
	uint32_t ref;
	bool finishing;
	bool fini_pending;
	osp_nvmf_qpair_fini_cb fini_cb;
	void *fini_arg;
	TAILQ_ENTRY(nvmf_tcp_qpair) link;
	TAILQ_ENTRY(nvmf_tcp_qpair) attn_link;	/* group's attn list */
};

struct nvmf_tcp_listener {
	struct osp_nvmf_listen_addr addr;
	struct osp_sock *sock;
	TAILQ_ENTRY(nvmf_tcp_listener) link;
};

struct nvmf_tcp_transport {
	struct osp_nvmf_transport transport;
	struct osp_nvmf_transport_opts opts;
	bool c2h_success;
	uint32_t sock_priority;
	uint32_t control_msg_num;
	/* num_shared_buffers of io_unit_size: this transport's own iobuf pool. */
	struct osp_iobuf_pool *buf_pool;
	TAILQ_HEAD(, nvmf_tcp_listener) listeners;
	/* Connections accepted whose Connect has not succeeded (atomic: groups decrement). */
	uint32_t num_unadmitted;
	/* Refusals at accept not logged yet, and when the last log line went out. */
	uint64_t refused_unlogged;
	uint64_t refused_log_tick;
};

struct nvmf_tcp_poll_group_stat {
	uint64_t pending_data_buffer;	/* times a request waited for a data buffer */
	uint64_t current_qpairs;
	uint64_t total_qpairs;
	uint64_t r2t_sent;
	uint64_t c2h_pdus;
	uint64_t capsules;
	uint64_t term_reqs_sent;
	uint64_t term_reqs_received;
	uint64_t data_digest_errors;
	uint64_t admit_timeouts;	/* connections closed before completing Connect */
	/* MSG_ZEROCOPY sends of the connections that left the group, and how many were copied. */
	uint64_t zcopy_sends;
	uint64_t zcopy_copied;
};

struct nvmf_tcp_poll_group {
	struct osp_nvmf_transport_poll_group group;
	struct nvmf_tcp_transport *tt;
	struct osp_sock_group *sock_group;
	TAILQ_HEAD(, nvmf_tcp_qpair) qpairs;
	/*
	 * Qpairs whose fini came while a socket write completion ran: lib/sock
	 * may still complete other writes of the same batch, so the free waits
	 * for the next poll.
	 */
	TAILQ_HEAD(, nvmf_tcp_qpair) fini_list;
	/*
	 * Qpairs the next poll must look at without a socket event: receivers
	 * paused for a free request or data buffers, and qpairs whose
	 * disconnect the core started (ops->qpair_disconnect). The poll walks
	 * this list, not every qpair of the group.
	 */
	TAILQ_HEAD(, nvmf_tcp_qpair) attn;
	uint32_t num_attn;
	/* buf_cache_size buffers cached; requests wait for buffers here. */
	struct osp_iobuf_channel iobuf;
	struct nvmf_tcp_poll_group_stat stat;
};

#endif /* NVMF_TCP_INTERNAL_H */
