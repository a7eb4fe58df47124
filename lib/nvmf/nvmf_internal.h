/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvmf private structures, shared by nvmf.c, subsystem.c and discovery.c
 * (control plane), transport.c, poll_group.c (threads, acceptor, qpair life
 * cycle, per-thread subsystem state), ctrlr.c (controllers and command dispatch), fabrics.c (Fabrics
 * commands), admin.c (admin commands, asynchronous events) and nvmf_rpc.c.
 */
#ifndef NVMF_INTERNAL_H
#define NVMF_INTERNAL_H

#include "osprey/bdev.h"
#include "osprey/nvmf.h"
#include "osprey/nvmf_transport.h"
#include "osprey/queue.h"
#include "osprey/thread.h"

struct nvmf_poll_group;
struct nvmf_ctrlr;
struct nvmf_qpair;

struct nvmf_host {
	char nqn[OSP_NVMF_NQN_MAX_LEN + 1];
	TAILQ_ENTRY(nvmf_host) link;
};

/* A subsystem's listener; addr first so a listen_addr pointer maps back to it. */
struct nvmf_listener {
	struct osp_nvmf_listen_addr addr;
	struct nvmf_port *port;
	TAILQ_ENTRY(nvmf_listener) link;
};

/*
 * A distinct address the target listens on, shared by every subsystem that
 * lists it; its id is the discovery log's PORTID.
 */
struct nvmf_port {
	struct osp_nvmf_listen_addr addr;
	struct osp_nvmf_transport *transport;
	uint16_t id;
	uint32_t refcnt;
	TAILQ_ENTRY(nvmf_port) link;
};

struct osp_nvmf_ns {
	uint32_t nsid;
	struct osp_nvmf_subsystem *subsystem;
	struct osp_bdev_desc *desc;
	char *bdev_name;
	struct osp_nvmf_ns_opts opts;
	TAILQ_ENTRY(osp_nvmf_ns) link;	/* ascending nsid */
};

struct osp_nvmf_subsystem {
	struct osp_nvmf_tgt *tgt;
	uint32_t id;			/* index of the per-poll-group state */
	bool changing;			/* a state change is running on the poll groups */
	bool destroying;		/* unlinked from the target, freed when unused */
	bool groups_released;		/* (destroying) the poll groups let it go */
	void (*destroy_cb)(void *cb_arg);	/* osp_nvmf_subsystem_destroy_ext */
	void *destroy_cb_arg;
	uint16_t next_cntlid;
	uint32_t num_ctrlrs;		/* allocated and not yet freed */
	TAILQ_HEAD(, nvmf_ctrlr) ctrlrs;	/* tgt thread */
	/* Namespaces unlinked while poll groups may still hold their channels. */
	TAILQ_HEAD(, osp_nvmf_ns) zombie_ns;
	char nqn[OSP_NVMF_NQN_MAX_LEN + 1];
	enum osp_nvmf_subsystem_type type;
	enum osp_nvmf_subsystem_state state;
	char sn[OSP_NVMF_SN_MAX_LEN + 1];
	char mn[OSP_NVMF_MN_MAX_LEN + 1];
	bool allow_any_host;
	bool ana_reporting;
	uint32_t max_namespaces;
	uint32_t num_ns;
	uint16_t min_cntlid;
	uint16_t max_cntlid;
	uint32_t num_hosts;
	TAILQ_HEAD(, osp_nvmf_ns) namespaces;
	TAILQ_HEAD(, nvmf_host) hosts;
	TAILQ_HEAD(, nvmf_listener) listeners;
	TAILQ_ENTRY(osp_nvmf_subsystem) link;
};

struct osp_nvmf_tgt {
	char *name;
	uint32_t max_subsystems;
	uint32_t num_subsystems;	/* NVM subsystems (the discovery one not counted) */
	uint64_t discovery_genctr;
	struct osp_nvmf_subsystem *discovery;
	TAILQ_HEAD(, osp_nvmf_subsystem) subsystems;
	TAILQ_HEAD(, osp_nvmf_transport) transports;
	TAILQ_HEAD(, nvmf_port) ports;
	TAILQ_ENTRY(osp_nvmf_tgt) link;

	/* Data plane (poll_group.c). */
	struct osp_thread *thread;		/* the target's thread */
	TAILQ_HEAD(, nvmf_poll_group) poll_groups;
	uint32_t num_poll_groups;
	struct nvmf_poll_group *next_pg;	/* round robin for new qpairs */
	struct osp_poller *acceptor;
	uint32_t num_ctrlrs;			/* controllers not yet freed */
	uint32_t num_pending_qpairs;		/* accepted, not yet on a group */
	uint64_t next_qpair_id;
	/* Shutdown waiting for num_ctrlrs and num_pending_qpairs to reach 0. */
	void (*ctrlrs_gone_cb)(struct osp_nvmf_tgt *tgt);
	void *shutdown_ctx;
	uint8_t *subsys_ids;			/* bitmap, max_subsystems + 1 bits */
};

/* ---- poll groups (poll_group.c) ---- */

/* One namespace as a poll group sees it. */
struct nvmf_sg_ns {
	struct osp_nvmf_ns *ns;
	struct osp_bdev_desc *desc;
	struct osp_io_channel *ch;
};

struct nvmf_pg_iter;

/* A subsystem as seen by one poll group. */
struct nvmf_subsystem_pg {
	enum osp_nvmf_subsystem_state state;
	uint64_t io_outstanding;	/* commands of this subsystem in flight */
	uint32_t num_ns;		/* entries of ns (max nsid) */
	struct nvmf_sg_ns *ns;		/* indexed by nsid - 1 */
	TAILQ_HEAD(, osp_nvmf_request) queued;	/* held while paused */
	struct nvmf_pg_iter *pause_it;	/* pause waiting for io_outstanding == 0 */
};

struct nvmf_poll_group {
	struct osp_nvmf_tgt *tgt;
	struct osp_thread *thread;
	bool own_thread;		/* created by the nvmf subsystem: exit it at the end */
	struct osp_poller *poller;
	TAILQ_HEAD(, osp_nvmf_transport_poll_group) tgroups;
	TAILQ_HEAD(, nvmf_qpair) qpairs;
	uint32_t num_sgroups;
	struct nvmf_subsystem_pg *sgroups;	/* indexed by subsystem id */
	struct nvmf_pg_iter *drain_it;		/* waiting for qpairs to go away */
	/* Statistics (nvmf_get_stats). */
	uint64_t admin_qpairs;
	uint64_t io_qpairs;
	uint32_t current_admin_qpairs;
	uint32_t current_io_qpairs;
	uint64_t completed_nvme_io;	/* I/O queue commands completed */
	TAILQ_ENTRY(nvmf_poll_group) link;
};

/* The core's state of one transport qpair (lives on the poll group's thread). */
struct nvmf_qpair {
	struct osp_nvmf_qpair *qpair;
	struct nvmf_poll_group *group;
	struct osp_nvmf_transport_poll_group *tgroup;
	struct nvmf_ctrlr *ctrlr;	/* after a successful Connect */
	uint64_t id;
	uint32_t outstanding;		/* requests the core holds */
	bool connecting;
	bool connected;
	bool disconnecting;
	bool fini_scheduled;
	bool sq_fc_disabled;		/* the host's Connect asked for it (CATTR bit 2) */
	struct osp_nvmf_request *fused_first;
	TAILQ_ENTRY(nvmf_qpair) link;
};

typedef void (*nvmf_pg_fn)(struct nvmf_poll_group *pg, struct nvmf_pg_iter *it);
typedef void (*nvmf_pg_done_fn)(void *ctx, int status);
/*
 * Run fn on every poll group's thread, one after the other; fn calls
 * nvmf_pg_iter_next() when it is done (possibly later). cpl(ctx, status)
 * then runs on the calling thread. With no poll groups cpl runs at once.
 */
void nvmf_pg_for_each(struct osp_nvmf_tgt *tgt, nvmf_pg_fn fn, void *ctx, nvmf_pg_done_fn cpl);
void nvmf_pg_iter_next(struct nvmf_pg_iter *it, int status);
void *nvmf_pg_iter_ctx(struct nvmf_pg_iter *it);

/* Create a poll group on thread (the caller's thread is the target's). cb when ready. */
int nvmf_tgt_add_poll_group(struct osp_nvmf_tgt *tgt, struct osp_thread *thread, bool own_thread,
			    void (*cb)(void *arg, int rc), void *arg);
/* Create the transport's poll group state on every poll group; start the acceptor. */
void nvmf_tgt_transport_added(struct osp_nvmf_tgt *tgt, struct osp_nvmf_transport *transport);
/*
 * Stop accepting, disconnect every qpair, wait until every controller is
 * freed, destroy the poll groups (exiting the threads they own). cb on the
 * target's thread; osp_nvmf_tgt_destroy() may follow.
 */
void nvmf_tgt_shutdown(struct osp_nvmf_tgt *tgt, void (*cb)(void *arg), void *arg);
/* Apply subsystem s's state and namespace set on every poll group. */
void nvmf_subsystem_update_groups(struct osp_nvmf_subsystem *s,
				  enum osp_nvmf_subsystem_state state, nvmf_pg_done_fn cpl,
				  void *ctx);
/* Disconnect every qpair of s's controllers (addr: only those connected through it). */
void nvmf_subsystem_disconnect_qpairs(struct osp_nvmf_subsystem *s,
				      const struct osp_nvmf_listen_addr *addr);
/* The poll group of the current thread, or NULL. */
struct nvmf_poll_group *nvmf_get_poll_group(void);
/* qpair's core state on the current thread's poll group, or NULL. */
struct nvmf_qpair *nvmf_qpair_lookup(struct osp_nvmf_qpair *qpair);
/* A controller or pending qpair went away (tgt thread): wake a waiting shutdown. */
void nvmf_tgt_check_idle(struct osp_nvmf_tgt *tgt);
/* Disconnect the qpair of that id if it still exists on this thread's group. */
void nvmf_qpair_disconnect_by_id(struct nvmf_poll_group *pg, uint64_t id);

/* The core finished req: count it down and hand it to the transport. */
void nvmf_request_complete(struct osp_nvmf_request *req);

/* ---- controllers (ctrlr.c, fabrics.c, admin.c) ---- */

#define NVMF_AERL 3		/* 0's based: 4 outstanding AERs */
#define NVMF_MAX_CHANGED_NS 1024
#define NVMF_FW_REVISION "0.1"
#define NVMF_VERSION OSP_NVME_VERSION(1, 3, 0)
#define NVMF_CAP_TO 30		/* CAP.TO, 500 ms units: 15 s */
#define NVMF_KAS 10		/* KAS, 100 ms units */
#define NVMF_ELPE 127
#define NVMF_OAES_NS_ATTR (1u << 8)
#define NVMF_OAES_DISCOVERY_LOG (1u << 31)
#define NVMF_AEC_NS_ATTR (1u << 8)
#define NVMF_AEC_DISCOVERY_LOG (1u << 31)
#define NVMF_DEFAULT_TEMP_THRESHOLD 0x157 /* 343 K */

/* The controller keeps KATO in KAS granularity, rounded up (NVMe Base 2.0 §3.9). */
static inline uint32_t
nvmf_ctrlr_kato_round(uint32_t kato_ms)
{
	const uint64_t g = NVMF_KAS * 100;

	return (uint32_t)OSP_MIN((((uint64_t)kato_ms + g - 1) / g) * g, UINT32_MAX / g * g);
}

struct nvmf_ctrlr {
	uint16_t cntlid;
	struct osp_nvmf_subsystem *subsys;
	struct osp_nvmf_transport *transport;
	struct nvmf_poll_group *group;	/* of the admin qpair: the controller's thread */
	struct osp_thread *thread;
	struct nvmf_qpair *admin;
	uint16_t max_qpairs;
	struct nvmf_qpair **qpairs;	/* by qid (entries > 0: on other threads, ids only) */
	uint64_t *qpair_ids;
	struct nvmf_poll_group **qpair_groups;
	uint32_t num_io_qpairs;
	bool io_queues_created;
	char hostnqn[OSP_NVMF_NQN_MAX_LEN + 1];
	uint8_t hostid[16];
	uint32_t cc;
	uint32_t csts;
	uint32_t kato;			/* ms */
	uint64_t last_keep_alive;	/* ticks */
	struct osp_poller *ka_poller;
	struct {
		uint32_t arbitration;
		uint32_t power_management;
		uint32_t temperature_threshold;
		uint32_t error_recovery;
		uint32_t volatile_write_cache;
		uint32_t interrupt_coalescing;
		uint32_t write_atomicity;
		uint32_t async_event_config;
	} feat;
	struct osp_nvmf_request *aer[NVMF_AERL + 1];
	uint32_t num_aer;
	bool ns_notice_pending;		/* event waiting for an AER */
	bool ns_notice_masked;		/* sent, log page not read yet */
	bool disc_notice_pending;
	bool disc_notice_masked;
	uint32_t num_changed_ns;
	uint32_t changed_ns[NVMF_MAX_CHANGED_NS];
	bool admin_gone;
	bool destroying;
	bool freed_on_tgt;
	TAILQ_ENTRY(nvmf_ctrlr) link;	/* subsystem's list, tgt thread */
};

/* Execute a request of a qpair (poll group thread). */
void nvmf_ctrlr_exec(struct nvmf_qpair *qp, struct osp_nvmf_request *req);
/* Run a request held while its subsystem was paused (group thread). */
void nvmf_ctrlr_exec_gated(struct nvmf_qpair *qp, struct osp_nvmf_request *req);
/* qp lost its connection: release what the controller holds for it (AERs). */
void nvmf_ctrlr_qpair_disconnecting(struct nvmf_qpair *qp);
/* qp holds no request any more: detach it from its controller. */
void nvmf_ctrlr_qpair_detach(struct nvmf_qpair *qp);

/*
 * Shared by ctrlr.c (life cycle, dispatch), fabrics.c (Connect, Property
 * Get/Set) and admin.c (admin commands, asynchronous events); all run on the
 * controller's (or the qpair's) poll group thread unless said otherwise.
 */
/* Set the NVMe status of req's completion. */
void nvmf_req_status(struct osp_nvmf_request *req, uint8_t sct, uint8_t sc);
/* Every completion of a controller command: count down the subsystem gate, then the qpair. */
void nvmf_ctrlr_req_done(struct osp_nvmf_request *req);
/* Set the status of req and complete it. */
void nvmf_req_fail(struct osp_nvmf_request *req, uint8_t sct, uint8_t sc);
/* Copy len bytes of buf into the request's data buffer (at most req->length). */
void nvmf_req_copy_to(struct osp_nvmf_request *req, const void *buf, size_t len);
/* Copy up to len bytes of the request's data into buf; returns the bytes copied. */
size_t nvmf_req_copy_from(struct osp_nvmf_request *req, void *buf, size_t len);
/* The time base of keep alive (ticks of the current thread). */
uint64_t nvmf_ctrlr_now(void);
bool nvmf_ctrlr_is_discovery(const struct nvmf_ctrlr *ctrlr);
/* Disconnect every qpair of ctrlr (controller's thread). */
void nvmf_ctrlr_disconnect_all(struct nvmf_ctrlr *ctrlr);
/* Disconnect the I/O qpairs only (controller reset or shutdown through CC). */
void nvmf_ctrlr_disconnect_io(struct nvmf_ctrlr *ctrlr);
/* The keep alive timer of a controller (its poller). */
int nvmf_ctrlr_keep_alive_poll(void *arg);

/* fabrics.c: a Fabrics command (Connect, Property Get/Set) of qp. */
void nvmf_fabrics_exec(struct nvmf_qpair *qp, struct osp_nvmf_request *req);

/* admin.c: the admin commands; each completes req. */
void nvmf_admin_identify(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req);
void nvmf_admin_get_log_page(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req);
void nvmf_admin_get_features(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req);
void nvmf_admin_set_features(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req);
void nvmf_admin_aer(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req);
void nvmf_admin_abort(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req);
/* Namespace nsid of s was added or removed (tgt thread): AENs to its controllers. */
void nvmf_subsystem_ns_changed(struct osp_nvmf_subsystem *s, uint32_t nsid);
/* The discovery log changed (tgt thread): AENs to the discovery controllers. */
void nvmf_tgt_discovery_aen(struct osp_nvmf_tgt *tgt);
/* A new subsystem of tgt, not yet linked (subsystem.c); NULL when out of memory. */
struct osp_nvmf_subsystem *nvmf_subsystem_alloc(struct osp_nvmf_tgt *tgt, const char *nqn,
		enum osp_nvmf_subsystem_type type);
/* Free s and everything it holds (subsystem.c). */
void nvmf_subsystem_free(struct osp_nvmf_subsystem *s);
/* Free the subsystem once it is destroying and has no controller (subsystem.c). */
void nvmf_subsystem_maybe_free(struct osp_nvmf_subsystem *s);

/* Bump the discovery generation counter (any change a host could see in the log page). */
void nvmf_tgt_discovery_changed(struct osp_nvmf_tgt *tgt);
/* Destroy every transport of tgt (tgt_destroy). */
void nvmf_tgt_destroy_transports(struct osp_nvmf_tgt *tgt);
/* The per-group state of s on pg (NULL when the id is out of range). */
static inline struct nvmf_subsystem_pg *
nvmf_sgroup(struct nvmf_poll_group *pg, const struct osp_nvmf_subsystem *s)
{
	return s->id < pg->num_sgroups ? &pg->sgroups[s->id] : NULL;
}

/* Set the default target (the "nvmf" subsystem). */
void nvmf_set_default_tgt(struct osp_nvmf_tgt *tgt);

#endif
