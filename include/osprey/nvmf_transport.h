/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target transport interface: what a transport (TCP, RDMA, ...)
 * implements so that lib/nvmf can use it without knowing it. A transport
 * registers its ops table at start-up with OSP_NVMF_TRANSPORT_REGISTER();
 * nvmf_create_transport looks the trtype up in that registry and calls
 * ops->create().
 *
 * Threads: create, destroy, listen, stop_listen, listener_discover, dump_opts
 * run on the target's thread (the app thread). poll_group_* and the request
 * and qpair calls run on the thread that owns the poll group; the core never
 * calls them from anywhere else, so a transport needs no locks on those paths.
 *
 * Error domains: set-up calls return 0 or -errno. Request processing reports
 * an NVMe status in the request's completion queue entry, never -errno.
 */
#ifndef OSPREY_NVMF_TRANSPORT_H
#define OSPREY_NVMF_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <cJSON.h>

#include "osprey/nvme_spec.h"
#include "osprey/nvmf.h"
#include "osprey/nvmf_spec.h"
#include "osprey/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Options of a transport (nvmf_create_transport parameters with SPDK's
 * names). ops->opts_init() fills the transport's defaults; the RPC then
 * overwrites what the user gave.
 */
struct osp_nvmf_transport_opts {
	size_t opts_size;
	uint16_t max_queue_depth;	/* entries per I/O queue */
	uint16_t max_qpairs_per_ctrlr;	/* admin + I/O queue pairs */
	uint32_t in_capsule_data_size;	/* bytes */
	uint32_t max_io_size;		/* bytes */
	uint32_t io_unit_size;		/* bytes, one data buffer */
	uint32_t max_aq_depth;		/* entries of the admin queue */
	uint32_t num_shared_buffers;	/* data buffers in the shared pool */
	uint32_t buf_cache_size;	/* buffers reserved per poll group */
	bool dif_insert_or_strip;
	bool zcopy;
	uint32_t abort_timeout_sec;
	uint32_t acceptor_poll_rate;	/* microseconds */
	/*
	 * Transport specific parameters of the RPC (e.g. TCP's c2h_success,
	 * sock_priority), or NULL. Only valid during ops->create(): a transport
	 * keeps what it needs.
	 */
	const cJSON *transport_specific;
};

/* One created transport. The transport allocates it (usually embedded in its own struct). */
struct osp_nvmf_transport {
	const struct osp_nvmf_transport_ops *ops;
	struct osp_nvmf_tgt *tgt;		/* set by the core after create() */
	struct osp_nvmf_transport_opts opts;	/* the effective options */
	TAILQ_ENTRY(osp_nvmf_transport) link;	/* core's list; do not touch */
};

/* A transport's per-thread state: one per poll group (per thread serving connections). */
struct osp_nvmf_transport_poll_group {
	struct osp_nvmf_transport *transport;
	TAILQ_ENTRY(osp_nvmf_transport_poll_group) link; /* core's list */
};

/*
 * A queue pair (admin when qid == 0). The transport allocates it on a new
 * connection and hands it to the core with the new_qpair callback of
 * ops->accept(); the core assigns it to a poll group (ops->poll_group_add)
 * and, after the Fabrics Connect command, to a controller.
 */
struct osp_nvmf_qpair {
	struct osp_nvmf_transport *transport;
	struct osp_nvmf_transport_poll_group *group;
	uint16_t qid;
	uint16_t sq_head;
	uint32_t sq_size;	/* entries */
	uint16_t cntlid;	/* its controller's, set by the core at Connect (0 before) */
	/*
	 * The core's state of this qpair (its struct nvmf_qpair): set when the
	 * qpair joins its poll group, before any request; transports leave it alone.
	 */
	void *core_ctx;
	bool disconnecting;
};

/* Data direction of a request. */
enum osp_nvmf_data_xfer {
	OSP_NVMF_XFER_NONE = 0,
	OSP_NVMF_XFER_HOST_TO_CONTROLLER = 1,
	OSP_NVMF_XFER_CONTROLLER_TO_HOST = 2,
};

#define OSP_NVMF_MAX_REQ_IOVS 32

/*
 * One command capsule. The transport owns its memory (a request pool per
 * qpair), fills cmd, xfer, length and iov (once data is available) and calls
 * osp_nvmf_request_exec(). The core fills rsp and calls ops->req_complete();
 * the transport sends the response and, when the request may be reused,
 * returns it to its pool (ops->req_free() is the core telling it a request
 * will never be completed, e.g. on qpair teardown).
 */
struct osp_nvmf_request {
	struct osp_nvmf_qpair *qpair;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_cpl rsp;
	enum osp_nvmf_data_xfer xfer;
	uint32_t length;	/* data bytes */
	struct iovec iov[OSP_NVMF_MAX_REQ_IOVS];
	uint32_t iovcnt;
	void *transport_ctx;	/* the transport's own per-request state */
	/* Owned by the core (lib/nvmf): its list linkage and per-request state. */
	TAILQ_ENTRY(osp_nvmf_request) link;
	void *core_ctx;
	/*
	 * Scratch owned by the core's bdev back end (lib/nvmf/ctrlr_bdev.c): its
	 * io-wait entry and range counters, so no I/O allocates.
	 */
	uint64_t bdev_ctx[16];
};

typedef void (*osp_nvmf_transport_destroy_done_cb)(void *cb_arg);
typedef void (*osp_nvmf_new_qpair_fn)(struct osp_nvmf_qpair *qpair, void *cb_arg);
typedef void (*osp_nvmf_qpair_fini_cb)(void *cb_arg);

struct osp_nvmf_transport_ops {
	/* "TCP", "RDMA": the name shown in RPC output and matched (case-insensitively) by -t. */
	const char *name;
	enum osp_nvmf_trtype type;

	/* Fill opts with this transport's defaults (opts->opts_size is set by the caller). */
	void (*opts_init)(struct osp_nvmf_transport_opts *opts);
	/*
	 * Create the transport with opts (already validated by the core only for
	 * the generic limits; the transport checks the rest). Returns 0 and
	 * *transport, or -errno with a reason for the user in err (errlen bytes).
	 */
	int (*create)(const struct osp_nvmf_transport_opts *opts,
		      struct osp_nvmf_transport **transport, char *err, size_t errlen);
	/*
	 * Free the transport. Every listener is already stopped and every poll
	 * group destroyed. cb_fn(cb_arg) when done (it may be later). Returns 0
	 * or -errno (then cb_fn is not called).
	 */
	int (*destroy)(struct osp_nvmf_transport *transport,
		       osp_nvmf_transport_destroy_done_cb cb_fn, void *cb_arg);

	/*
	 * Start accepting connections on addr (the core calls it once per
	 * distinct address, even if several subsystems list it). Returns 0 or
	 * -errno (-EADDRINUSE, -EADDRNOTAVAIL, -EINVAL for an unsupported adrfam).
	 */
	int (*listen)(struct osp_nvmf_transport *transport, const struct osp_nvmf_listen_addr *addr);
	/* Stop accepting on addr; existing connections on it stay until they close. */
	void (*stop_listen)(struct osp_nvmf_transport *transport,
			    const struct osp_nvmf_listen_addr *addr);
	/*
	 * Accept pending connections, handing each new qpair to new_qpair(qpair,
	 * cb_arg). Never blocks. Returns the number accepted. Transports that
	 * accept from their own poller may leave it NULL.
	 */
	uint32_t (*accept)(struct osp_nvmf_transport *transport, osp_nvmf_new_qpair_fn new_qpair,
			   void *cb_arg);
	/*
	 * Fill the transport specific parts of a discovery log entry for addr:
	 * treq and tsas (the core fills trtype, adrfam, traddr, trsvcid, subnqn,
	 * subtype, portid, cntlid, asqsz). May be NULL (treq "not specified").
	 */
	void (*listener_discover)(struct osp_nvmf_transport *transport,
				  const struct osp_nvmf_listen_addr *addr,
				  struct osp_nvmf_discovery_log_page_entry *entry);

	/* Per-thread state, created on the thread that will poll it; NULL on failure. */
	struct osp_nvmf_transport_poll_group *(*poll_group_create)(
		struct osp_nvmf_transport *transport);
	/* On the group's thread, once it holds no qpair. */
	void (*poll_group_destroy)(struct osp_nvmf_transport_poll_group *group);
	/* Start polling qpair in group (group's thread). 0 or -errno. */
	int (*poll_group_add)(struct osp_nvmf_transport_poll_group *group,
			      struct osp_nvmf_qpair *qpair);
	/* Stop polling qpair (group's thread). 0 or -errno. May be NULL. */
	int (*poll_group_remove)(struct osp_nvmf_transport_poll_group *group,
				 struct osp_nvmf_qpair *qpair);
	/*
	 * Make progress on every qpair of group: receive capsules, move data,
	 * send responses. Returns > 0 if work was done, 0 if idle, < 0 on error.
	 */
	int (*poll_group_poll)(struct osp_nvmf_transport_poll_group *group);

	/*
	 * The core finished req (req->rsp is filled): send the response (and
	 * controller-to-host data first). Returns 0 or -errno; on error the
	 * transport disconnects the qpair.
	 */
	int (*req_complete)(struct osp_nvmf_request *req);
	/* Give back a request that will never be completed. 0 or -errno. */
	int (*req_free)(struct osp_nvmf_request *req);

	/*
	 * Tear down qpair (group's thread) after the core drained its
	 * requests; cb_fn(cb_arg) once the transport freed it. cb_fn may be NULL.
	 */
	void (*qpair_fini)(struct osp_nvmf_qpair *qpair, osp_nvmf_qpair_fini_cb cb_fn, void *cb_arg);
	/*
	 * The core started tearing qpair down (osp_nvmf_qpair_disconnect, group's
	 * thread; qpair->disconnecting is set): stop receiving, at the latest at
	 * the next poll, instead of looking at every qpair's flag each poll.
	 * Called once per osp_nvmf_qpair_disconnect call. May be NULL.
	 */
	void (*qpair_disconnect)(struct osp_nvmf_qpair *qpair);
	/* Peer and local addresses of qpair, for nvmf_subsystem_get_qpairs. 0 or -errno. */
	int (*qpair_get_peer_addr)(struct osp_nvmf_qpair *qpair, struct osp_nvmf_listen_addr *addr);
	int (*qpair_get_local_addr)(struct osp_nvmf_qpair *qpair, struct osp_nvmf_listen_addr *addr);

	/*
	 * Add the transport specific members of nvmf_get_transports and of the
	 * saved nvmf_create_transport call to obj (the core adds the generic
	 * options). May be NULL.
	 */
	void (*dump_opts)(struct osp_nvmf_transport *transport, cJSON *obj);
	/* Add this group's statistics to obj (nvmf_get_stats). May be NULL. */
	void (*poll_group_dump_stat)(struct osp_nvmf_transport_poll_group *group, cJSON *obj);
};

/*
 * Add ops to the registry (from a constructor: OSP_NVMF_TRANSPORT_REGISTER).
 * A second registration of the same name is ignored with an error log.
 */
void osp_nvmf_transport_register(const struct osp_nvmf_transport_ops *ops);
/* Registered ops whose name matches (case-insensitively), or NULL. */
const struct osp_nvmf_transport_ops *osp_nvmf_transport_ops_find(const char *name);

#define OSP_NVMF_TRANSPORT_REGISTER(name, ops) \
	__attribute__((constructor)) static void osp_nvmf_transport_register_##name(void) \
	{ osp_nvmf_transport_register(ops); }

/*
 * Create a transport of type trtype on tgt. opts may be NULL (defaults) and
 * is otherwise taken as given (start from osp_nvmf_transport_opts_init()).
 * Returns 0, -ENOTSUP (no such transport in this build), -EEXIST (already
 * created on tgt), or what ops->create() returned; err gets a reason.
 */
int osp_nvmf_transport_create(struct osp_nvmf_tgt *tgt, const char *trtype,
			      const struct osp_nvmf_transport_opts *opts,
			      struct osp_nvmf_transport **transport, char *err, size_t errlen);
/* Fill opts with the defaults of transport trtype. -ENOTSUP if none is registered. */
int osp_nvmf_transport_opts_init(const char *trtype, struct osp_nvmf_transport_opts *opts,
				 size_t opts_size);
/* The transport of that name created on tgt, or NULL. */
struct osp_nvmf_transport *osp_nvmf_tgt_get_transport(struct osp_nvmf_tgt *tgt,
		const char *trtype);
struct osp_nvmf_transport *osp_nvmf_transport_first(struct osp_nvmf_tgt *tgt);
struct osp_nvmf_transport *osp_nvmf_transport_next(struct osp_nvmf_transport *transport);

/*
 * Queue pair life cycle (the contract between the core and a transport):
 *  1. The transport accepts a connection and hands a new qpair to the core
 *     (new_qpair of ops->accept, target thread). The core picks a poll group
 *     (round robin over the target's poll group threads) and, on that thread,
 *     calls ops->poll_group_add(). If that fails it calls ops->qpair_fini().
 *  2. The transport receives capsules and calls osp_nvmf_request_exec() for
 *     each (group's thread). The first command of every qpair must be a
 *     Fabrics Connect; the core refuses anything else with a Command
 *     Sequence Error. The transport keeps one request per submission queue
 *     entry, so it never has more than sq_size requests in the core.
 *  3. The connection ends: either the transport sees it (peer closed, socket
 *     error, fatal protocol error after a TermReq) or the core wants it gone
 *     (keep alive timeout, controller teardown, subsystem or listener
 *     removed, target shutdown). Both call osp_nvmf_qpair_disconnect(). The
 *     transport then stops calling osp_nvmf_request_exec() for that qpair but
 *     still takes ops->req_complete() for requests the core holds (it frees
 *     them without sending anything on a dead socket).
 *  4. Once the core holds no request of the qpair, it detaches it from its
 *     controller, calls ops->poll_group_remove() and then ops->qpair_fini();
 *     the transport closes the socket and frees the qpair and its requests.
 */

/*
 * Start tearing qpair down (any time after poll_group_add, on the group's
 * thread). Idempotent: later calls are ignored. Sets qpair->disconnecting.
 */
void osp_nvmf_qpair_disconnect(struct osp_nvmf_qpair *qpair);

/*
 * Hand a request with its capsule (and host-to-controller data) to the core.
 * Called by the transport on the poll group's thread. The core answers
 * through ops->req_complete(), possibly before this returns.
 */
void osp_nvmf_request_exec(struct osp_nvmf_request *req);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_NVMF_TRANSPORT_H */
