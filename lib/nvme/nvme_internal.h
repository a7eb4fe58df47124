/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvme private interface: the controller, namespace, queue pair and
 * request structures shared by the core (nvme.c, nvme_ctrlr.c,
 * nvme_qpair.c) and the transports (tcp.c), and the transport ops table.
 */
#ifndef OSP_NVME_INTERNAL_H
#define OSP_NVME_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "osprey/log.h"
#include "osprey/nvme.h"
#include "osprey/queue.h"

struct nvme_qpair;
struct nvme_request;

/* Monotonic clock in microseconds: the library needs no env (DPDK) for TCP. */
uint64_t nvme_now_us(void);

/* ------------------------------------------------------------ transports */

/*
 * What a transport implements. Every call is made on the qpair's thread
 * (for the admin qpair, under the controller lock). A transport allocates
 * its own qpair struct that embeds struct nvme_qpair.
 */
struct nvme_transport_ops {
	const char *name;
	enum osp_nvme_transport_type trtype;
	/*
	 * A controller on the local bus (PCIe): no Fabrics Connect and no
	 * property commands. The admin qpair's connect enables the controller
	 * itself (CC/CSTS) and fills ctrlr->cap and ctrlr->vs before it reports
	 * success; keep alive is not used; the subsystem NQN is not required.
	 */
	bool local_bus;

	/* Check the trid/opts before any connection is made: 0 or -EINVAL. */
	int (*ctrlr_check)(const struct osp_nvme_transport_id *trid,
			   const struct osp_nvme_ctrlr_opts *opts);
	/* Largest transfer of one command the transport supports, in bytes. */
	uint32_t (*ctrlr_max_xfer_size)(struct osp_nvme_ctrlr *ctrlr);

	/* Allocate a qpair of qsize entries for qid (not connected). NULL on ENOMEM. */
	struct nvme_qpair *(*qpair_create)(struct osp_nvme_ctrlr *ctrlr, uint16_t qid,
					   uint32_t qsize);
	/* Free a qpair that is disconnected. */
	void (*qpair_destroy)(struct nvme_qpair *qpair);
	/*
	 * Start the transport connection without blocking (TCP: connect and
	 * queue the ICReq). 0 or -errno.
	 */
	int (*qpair_connect)(struct nvme_qpair *qpair);
	/*
	 * Progress of the transport connection: -EAGAIN while in progress, 0
	 * when commands can be sent (TCP: ICResp accepted), or -errno.
	 */
	int (*qpair_connect_poll)(struct nvme_qpair *qpair);
	/* Optional: osp_nvme_qpair_get_transport_stats(). */
	int (*qpair_get_transport_stats)(struct nvme_qpair *qpair,
					 struct osp_nvme_qpair_transport_stats *stats);
	/*
	 * Close the connection. Requests are not completed here: the core
	 * aborts the outstanding ones afterwards. The transport must be done
	 * with every request's memory when it returns.
	 */
	void (*qpair_disconnect)(struct nvme_qpair *qpair);
	/*
	 * Send req (cmd filled by the core except the data pointer, cid set).
	 * 0, or -errno (the core then frees req; its callback does not run).
	 */
	int (*qpair_submit_request)(struct nvme_qpair *qpair, struct nvme_request *req);
	/*
	 * Send and receive; complete requests through nvme_request_complete().
	 * Returns completions or -ENXIO when the connection failed (the core
	 * then disconnects and aborts).
	 */
	int32_t (*qpair_process_completions)(struct nvme_qpair *qpair, uint32_t max);

	/*
	 * Optional, after Identify Controller: build a transport-specific admin
	 * command to run before the namespaces are scanned (PCIe: Doorbell
	 * Buffer Config). Returns 1 with *cmd filled, 0 for none.
	 */
	int (*ctrlr_init_cmd)(struct osp_nvme_ctrlr *ctrlr, struct osp_nvme_cmd *cmd);
	/* Its outcome (a failure is not fatal: the transport goes without). */
	void (*ctrlr_init_cmd_done)(struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_cpl *cpl);
	/*
	 * Optional, for an I/O qpair of a controller that was reset since it
	 * connected: may its outstanding commands be completed (aborted) now?
	 * false while the device may still transfer data for them (PCIe: until
	 * the controller reports itself disabled); the qpair's poll then
	 * reports nothing and asks again next time. NULL: always.
	 */
	bool (*qpair_stale_quiesced)(struct nvme_qpair *qpair);

	TAILQ_ENTRY(nvme_transport_ops) link;
};

/* The NVMe/TCP transport (tcp.c), registered on first use. */
extern struct nvme_transport_ops g_nvme_tcp_ops;
/* The NVMe-oF RDMA transport (rdma.c), built when configure found libibverbs/librdmacm. */
extern struct nvme_transport_ops g_nvme_rdma_ops __attribute__((weak));
/* The NVMe PCIe transport (pcie.c): controllers reached through the env's PCI layer. */
extern struct nvme_transport_ops g_nvme_pcie_ops;

/* Rewrite a PCI address "[DDDD:]BB:DD.F" as "DDDD:BB:DD.F" in place; 0 or -EINVAL. */
int nvme_pcie_addr_normalize(char *addr, size_t size);

/* Register a transport ahead of the built-in ones (tests use it for doubles). */
void nvme_transport_register(struct nvme_transport_ops *ops);
/* Unregister (tests). */
void nvme_transport_unregister(struct nvme_transport_ops *ops);
const struct nvme_transport_ops *nvme_transport_get(enum osp_nvme_transport_type trtype);

/* ------------------------------------------------------------ requests */

/* Transport-private space in each request (TCP keeps its PDUs here). */
#define NVME_REQUEST_TRANSPORT_CTX 2048

struct nvme_request {
	struct osp_nvme_cmd cmd;
	osp_nvme_cmd_cb cb_fn;
	void *cb_arg;
	struct nvme_qpair *qpair;
	/* Data: iov[0..iovcnt) covering payload_size bytes; iov may point at single_iov. */
	const struct iovec *iov;
	int iovcnt;
	struct iovec single_iov;
	uint32_t payload_size;
	bool host_to_ctrlr;
	/* Allowed on a qpair that is still connecting (the Fabrics Connect). */
	bool connect_cmd;
	/* Submitted and not completed. */
	bool active;
	STAILQ_ENTRY(nvme_request) free_link;
	uint64_t transport_ctx[NVME_REQUEST_TRANSPORT_CTX / 8];
};

/* ------------------------------------------------------------ queue pairs */

enum nvme_qpair_state {
	NVME_QPAIR_DISCONNECTED = 0,
	NVME_QPAIR_TRANSPORT_CONNECTING,
	NVME_QPAIR_FABRIC_CONNECTING,
	NVME_QPAIR_CONNECTED,
	NVME_QPAIR_FAILED,
};

struct nvme_qpair {
	struct osp_nvme_ctrlr *ctrlr;
	const struct nvme_transport_ops *ops;
	uint16_t id;
	uint32_t qsize;
	enum nvme_qpair_state state;
	/* Requests: qsize - 1 of them; cid = index. */
	struct nvme_request *reqs;
	uint32_t num_reqs;
	uint32_t num_outstanding;
	STAILQ_HEAD(, nvme_request) free_reqs;
	/* Connect progress */
	uint64_t connect_start_us;
	uint64_t connect_timeout_us;
	struct osp_nvmf_connect_data connect_data;
	struct osp_nvme_connect_error connect_err;
	/* Controller reset generation this qpair was connected in. */
	uint32_t reset_gen;
	/* Inside process_completions (transports flush at its end, not per submit). */
	bool in_completions;
	bool async_mode;
	/* Counters of osp_nvme_qpair_get_stats() (the qpair's thread only). */
	struct osp_nvme_qpair_stats stats;
	TAILQ_ENTRY(nvme_qpair) link; /* ctrlr->io_qpairs */
};

/* The public opaque type is the core struct. */
struct osp_nvme_qpair {
	struct nvme_qpair q;
};

/* Core helpers for transports and the controller code (nvme_qpair.c). */
int nvme_qpair_init(struct nvme_qpair *qpair, struct osp_nvme_ctrlr *ctrlr,
		    const struct nvme_transport_ops *ops, uint16_t qid, uint32_t qsize);
void nvme_qpair_fini(struct nvme_qpair *qpair);
struct nvme_request *nvme_request_get(struct nvme_qpair *qpair);
void nvme_request_put(struct nvme_qpair *qpair, struct nvme_request *req);
/* Look up an active request by cid (NULL for an unknown or idle cid). Inline: per PDU. */
static inline struct nvme_request *
nvme_qpair_get_active_request(struct nvme_qpair *qpair, uint16_t cid)
{
	struct nvme_request *req;

	if (cid >= qpair->num_reqs) {
		return NULL;
	}
	req = &qpair->reqs[cid];
	return req->active ? req : NULL;
}
/* Complete req with cpl: runs the callback and frees the request. */
void nvme_request_complete(struct nvme_request *req, const struct osp_nvme_cpl *cpl);
/* Complete every active request with ABORTED_SQ_DELETION. */
void nvme_qpair_abort_all(struct nvme_qpair *qpair);
/* Fill cpl with a generic status (sqid/cid from req). */
void nvme_cpl_set_status(struct osp_nvme_cpl *cpl, struct nvme_request *req, uint8_t sct,
			 uint8_t sc);
/*
 * Build and submit a request: data in iov[0..iovcnt) (kept by reference) or,
 * with iov NULL, the contiguous buf; len 0 for none. Direction from the
 * opcode. Returns 0 or -EINVAL/-ENOMEM/-ENXIO.
 */
int nvme_qpair_submit(struct nvme_qpair *qpair, const struct osp_nvme_cmd *cmd,
		      const struct iovec *iov, int iovcnt, void *buf, uint32_t len,
		      osp_nvme_cmd_cb cb_fn, void *cb_arg, bool connect_cmd);
/* Start connecting: transport connect, then the Fabrics Connect (cntlid, kato for qid 0). */
int nvme_qpair_connect_start(struct nvme_qpair *qpair, uint32_t timeout_ms);
/* -EAGAIN while connecting, 0 connected, -errno failed (qpair->connect_err says why). */
int nvme_qpair_connect_poll(struct nvme_qpair *qpair);
/* Close the transport connection and abort outstanding requests. */
void nvme_qpair_disconnect(struct nvme_qpair *qpair, enum nvme_qpair_state new_state);
/* Process completions; on transport failure disconnect + abort, return -ENXIO. */
int32_t nvme_qpair_process(struct nvme_qpair *qpair, uint32_t max);

/* ------------------------------------------------------------ controller */

enum nvme_ctrlr_state {
	NVME_CTRLR_STATE_CONNECT_ADMINQ = 0,
	NVME_CTRLR_STATE_READ_CAP,
	NVME_CTRLR_STATE_READ_VS,
	NVME_CTRLR_STATE_ENABLE,
	NVME_CTRLR_STATE_WAIT_RDY,
	NVME_CTRLR_STATE_IDENTIFY,
	NVME_CTRLR_STATE_TRANSPORT_INIT, /* ops->ctrlr_init_cmd (PCIe: shadow doorbells) */
	NVME_CTRLR_STATE_SET_NUM_QUEUES,
	NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS,
	NVME_CTRLR_STATE_IDENTIFY_NS,
	NVME_CTRLR_STATE_IDENTIFY_NS_DESC,
	NVME_CTRLR_STATE_CONFIGURE_AER,
	NVME_CTRLR_STATE_READ_CHANGED_NS_LOG, /* rescan after an AER: clears the event */
	NVME_CTRLR_STATE_READY,
	NVME_CTRLR_STATE_FAILED,
};

struct osp_nvme_ns {
	struct osp_nvme_ctrlr *ctrlr;
	uint32_t id;
	bool active;
	/* seen in the current rescan's active list */
	bool in_list;
	struct osp_nvme_ns_data data;
	uint32_t sector_size;
	uint32_t md_size;
	uint8_t csi;
	bool has_nguid, has_eui64, has_uuid;
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct osp_uuid uuid;
	/* before the rescan, to report CHANGED */
	uint64_t old_nsze;
	uint8_t old_flbas;
	bool was_active;
};

#define NVME_MAX_AERS 4
/* Active NS list pages read at most (1024 NSIDs each). */
#define NVME_MAX_ACTIVE_NS_PAGES 64

struct osp_nvme_ctrlr {
	pthread_mutex_t lock; /* recursive: callbacks may re-enter */
	struct osp_nvme_transport_id trid;
	struct osp_nvme_ctrlr_opts opts;
	const struct nvme_transport_ops *ops;
	struct nvme_qpair *adminq;
	bool is_discovery;

	enum nvme_ctrlr_state state;
	bool rescan_only; /* the state machine runs a namespace rescan, not an init */
	bool init_waiting;
	bool init_have_cpl;
	struct osp_nvme_cpl init_cpl;
	uint64_t state_deadline_us;
	uint64_t next_poll_us; /* CSTS.RDY polling: not before this */
	struct osp_nvme_connect_error err;

	uint16_t cntlid;
	union osp_nvme_cap_register cap;
	union osp_nvme_vs_register vs;
	struct osp_nvme_ctrlr_data cdata;
	uint32_t num_io_queues;
	uint32_t max_xfer_size;

	/* I/O qpair IDs in use: bit qid (1..num_io_queues). */
	uint64_t *qid_bitmap;
	uint32_t qid_bitmap_words;
	TAILQ_HEAD(, nvme_qpair) io_qpairs;
	/* Bumped by each reset: I/O qpairs of an older generation disconnect. */
	uint32_t reset_gen;
	bool resetting;

	/* Namespaces: ns[0..num_ns_objs) sorted by id, pointers stable. */
	struct osp_nvme_ns **ns;
	uint32_t num_ns_objs;
	/* Rescan scratch: active NSIDs read from the controller. */
	uint32_t *active_list;
	uint32_t active_count;
	uint32_t active_page;
	uint32_t scan_idx;
	uint8_t scratch[4096];

	/* AER / keep alive */
	osp_nvme_aer_cb aer_cb;
	void *aer_cb_arg;
	osp_nvme_ns_change_cb ns_change_cb;
	void *ns_change_cb_arg;
	uint32_t num_aers;
	uint32_t aers_outstanding;
	bool rescan_pending;
	uint64_t next_keep_alive_us;
	uint64_t keep_alive_sent_us;	/* when the outstanding Keep Alive went out */
	bool keep_alive_outstanding;
	struct osp_nvme_ns_list changed_ns_log;
};

/* Public opaque probe context. */
struct osp_nvme_probe_ctx {
	struct osp_nvme_ctrlr *ctrlr;
	osp_nvme_attach_cb attach_cb;
	void *cb_ctx;
};

/* Controller internals used across files. */
struct osp_nvme_ctrlr *nvme_ctrlr_alloc(const struct osp_nvme_transport_id *trid,
					const struct osp_nvme_ctrlr_opts *opts, size_t opts_size,
					int *rc);
void nvme_ctrlr_free(struct osp_nvme_ctrlr *ctrlr);
/* Detach's shutdown notification when opts.shutdown_notification asks for it. */
void nvme_ctrlr_shutdown(struct osp_nvme_ctrlr *ctrlr);
/* Start (or restart, for a reset) the init state machine. */
int nvme_ctrlr_start_init(struct osp_nvme_ctrlr *ctrlr);
/* -EAGAIN in progress, 0 ready, -errno failed (ctrlr->err says why). */
int nvme_ctrlr_init_poll(struct osp_nvme_ctrlr *ctrlr);
void nvme_ctrlr_lock(struct osp_nvme_ctrlr *ctrlr);
void nvme_ctrlr_unlock(struct osp_nvme_ctrlr *ctrlr);
/* Connect error from a failed command's completion. */
void nvme_set_connect_error(struct osp_nvme_connect_error *err, int rc, const char *step,
			    const struct osp_nvme_cpl *cpl);

/* Sleep between polls of a blocking wait (keeps a tool from spinning a shared core). */
void nvme_poll_pause(void);

#endif /* OSP_NVME_INTERNAL_H */
