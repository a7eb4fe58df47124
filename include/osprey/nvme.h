/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Osprey NVMe host driver (lib/nvme): connect to NVMe controllers, run admin
 * commands, and submit I/O on polled queue pairs. Transports sit behind an
 * ops table; NVMe/TCP (NVM Express TCP Transport Specification 1.0a over
 * NVMe-oF, NVM Express Base Specification 2.0) is the one implemented today.
 * See doc/nvme.md.
 *
 * Model
 *  - A controller (struct osp_nvme_ctrlr) owns the admin queue pair. It is
 *    created by osp_nvme_connect() (blocking, for tools) or by
 *    osp_nvme_connect_async() + osp_nvme_probe_poll_async() (non-blocking
 *    state machine, for reactor threads).
 *  - I/O queue pairs (struct osp_nvme_qpair) are created per user thread.
 *    Nothing runs in the background: completions, keep alive and
 *    asynchronous events happen only inside the process_*_completions()
 *    calls. No interrupts, no internal threads.
 *
 * Threads
 *  - Controller-level functions (everything taking a ctrlr, except the pure
 *    getters) take a per-controller lock, so they may be called from any
 *    thread; admin completion callbacks run inside
 *    osp_nvme_ctrlr_process_admin_completions() (or a blocking call that
 *    polls the admin queue) on the calling thread, with that lock held: they
 *    may submit more admin commands but must not call osp_nvme_detach().
 *  - An I/O qpair is used by one thread at a time, without locks: submit,
 *    process completions and free it on the same thread. Its callbacks run
 *    inside osp_nvme_qpair_process_completions() on that thread, never
 *    inside a submit call.
 *  - Getters (get_data, get_ns, ns_get_*) read state that only the admin
 *    path changes (namespace rescans after an AER or a reset); call them on
 *    the admin thread, or accept that they may change under you.
 *
 * Errors: functions return 0 or a count, or a negative errno, and never
 * touch errno, except the constructors returning a pointer (NULL with errno
 * set). Command status (a completed command that failed) is reported through
 * the completion's status field; the two domains are never mixed.
 *
 * Memory: TCP needs no DMA memory; any buffer works. Buffers passed to a
 * command must stay valid until its callback runs.
 */
#ifndef OSPREY_NVME_H
#define OSPREY_NVME_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "osprey/nvme_spec.h"
#include "osprey/nvmf_spec.h"
#include "osprey/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct osp_nvme_ctrlr;
struct osp_nvme_ns;
struct osp_nvme_qpair;
struct osp_nvme_probe_ctx;

/* ------------------------------------------------------------ transport ids */

/* Transport types; the fabrics ones use their TRTYPE value (nvmf_spec.h). */
enum osp_nvme_transport_type {
	OSP_NVME_TRANSPORT_RDMA = OSP_NVMF_TRTYPE_RDMA,
	OSP_NVME_TRANSPORT_FC = OSP_NVMF_TRTYPE_FC,
	OSP_NVME_TRANSPORT_TCP = OSP_NVMF_TRTYPE_TCP,
	OSP_NVME_TRANSPORT_PCIE = 256,
};

#define OSP_NVME_TRSTRING_MAX_LEN 32
#define OSP_NVME_TRADDR_MAX_LEN 256
#define OSP_NVME_TRSVCID_MAX_LEN 32
#define OSP_NVME_NQN_MAX_LEN OSP_NVMF_NQN_MAX_LEN /* 223, without the NUL */

/*
 * Where a controller is: transport, address, service (port) and subsystem.
 * All strings are NUL terminated.
 */
struct osp_nvme_transport_id {
	enum osp_nvme_transport_type trtype;
	char trstring[OSP_NVME_TRSTRING_MAX_LEN + 1]; /* "TCP", "PCIe", "RDMA" */
	enum osp_nvmf_adrfam adrfam;
	char traddr[OSP_NVME_TRADDR_MAX_LEN + 1];   /* numeric IP address (TCP) */
	char trsvcid[OSP_NVME_TRSVCID_MAX_LEN + 1]; /* port number (TCP) */
	char subnqn[OSP_NVME_NQN_MAX_LEN + 1];
	/*
	 * SO_PRIORITY of the connection's sockets (TCP; "priority:" key,
	 * 0..6 without CAP_NET_ADMIN, default 0 = the kernel's default).
	 * Not part of the controller's identity: ignored by compare.
	 */
	int32_t priority;
};

/*
 * The keys of SPDK's host tools that are not the controller's address:
 * filled by osp_nvme_transport_id_parse_ext(). Empty strings / 0 when not
 * given.
 */
struct osp_nvme_trid_ext {
	/* "hostnqn:": host NQN of the Connect (checked with osp_nqn_check). */
	char hostnqn[OSP_NVME_NQN_MAX_LEN + 1];
	/* "hostaddr:": local address to bind the host's sockets to (numeric IP). */
	char hostaddr[OSP_NVME_TRADDR_MAX_LEN + 1];
	/* "hostsvcid:": local port of the admin queue's socket (1..65535). */
	char hostsvcid[OSP_NVME_TRSVCID_MAX_LEN + 1];
	/* "ns:": only this namespace ID (1..0xfffffffe); 0 = every namespace. */
	uint32_t nsid;
	/* "alt_traddr:": another address of the same controller, tried when traddr fails. */
	char alt_traddr[OSP_NVME_TRADDR_MAX_LEN + 1];
};

/*
 * Parse "key:value" pairs separated by spaces or tabs into *trid (which is
 * cleared first), for example
 *   "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.osprey:cnode1"
 * Keys are case-insensitive; so are the values of trtype (TCP, PCIe, RDMA,
 * FC) and adrfam (IPv4, IPv6, IB, FC, intra_host). A key may appear once.
 * Defaults for what is missing: adrfam IPv4 (IPv6 when traddr contains ':'),
 * trsvcid 4420 for TCP, subnqn the discovery NQN. trtype and traddr are
 * required. The values are checked: known trtype/adrfam, trsvcid a number
 * in 1..65535 for TCP, subnqn a valid NQN (osp_nqn_check), values
 * that fit their fields. Returns 0 or -EINVAL (the reason is logged with
 * OSP_ERRLOG, naming the offending key or value). Any thread.
 */
int osp_nvme_transport_id_parse(struct osp_nvme_transport_id *trid, const char *str);
/*
 * The same, also taking the keys of SPDK's host tools (-r of perf and
 * identify) into *ext (cleared first): hostnqn, hostaddr, hostsvcid, ns,
 * alt_traddr (see struct osp_nvme_trid_ext). priority (0..6, or up to
 * 0x7fffffff: the kernel refuses above 6 without CAP_NET_ADMIN) is a key of
 * both forms. With ext NULL the host keys are refused, as
 * osp_nvme_transport_id_parse() does. An unknown key, a key given twice or
 * an empty value is refused with a message naming the key; hostnqn must be
 * a valid NQN, hostaddr/alt_traddr a numeric address of traddr's family,
 * hostsvcid a port, ns a namespace ID; priority, hostaddr and hostsvcid
 * are refused for transports other than TCP (nothing else applies them
 * yet). Returns 0 or -EINVAL. Any thread.
 */
int osp_nvme_transport_id_parse_ext(struct osp_nvme_transport_id *trid,
				    struct osp_nvme_trid_ext *ext, const char *str);
/* "TCP" -> OSP_NVME_TRANSPORT_TCP etc. (case-insensitive). 0 or -EINVAL. */
int osp_nvme_transport_id_parse_trtype(enum osp_nvme_transport_type *trtype, const char *str);
/* "IPv4" -> OSP_NVMF_ADRFAM_IPV4 etc. (case-insensitive). 0 or -EINVAL. */
int osp_nvme_transport_id_parse_adrfam(enum osp_nvmf_adrfam *adrfam, const char *str);
/* Canonical names ("TCP", "IPv4"), or NULL for an unknown value. */
const char *osp_nvme_transport_id_trtype_str(enum osp_nvme_transport_type trtype);
const char *osp_nvme_transport_id_adrfam_str(enum osp_nvmf_adrfam adrfam);
/*
 * Compare two ids (trtype, adrfam, traddr, trsvcid case-sensitive as
 * strings, subnqn). Returns 0 when equal, else <0 or >0 (a total order).
 */
int osp_nvme_transport_id_compare(const struct osp_nvme_transport_id *a,
				  const struct osp_nvme_transport_id *b);
/*
 * Format trid as a parse-able string ("trtype:TCP adrfam:IPv4 traddr:...
 * trsvcid:... subnqn:..."). Returns the length written (without NUL) or
 * -ENOSPC when buf is too small (buf then holds a truncated string).
 */
int osp_nvme_transport_id_fmt(const struct osp_nvme_transport_id *trid, char *buf, size_t size);

/* ------------------------------------------------------------ controller options */

struct osp_nvme_ctrlr_opts {
	/* Caller's sizeof(struct osp_nvme_ctrlr_opts); set by osp_nvme_ctrlr_opts_init(). */
	size_t opts_size;
	/*
	 * I/O queues to ask for with Set Features Number of Queues (default
	 * 64). The controller may grant fewer; osp_nvme_ctrlr_get_num_io_queues()
	 * tells. Ignored for discovery controllers (no I/O queues).
	 */
	uint32_t num_io_queues;
	/* Default entries of an I/O queue (default 128, capped to CAP.MQES + 1; min 2). */
	uint32_t io_queue_size;
	/* Admin queue entries (default 32, min 2, max 4096, capped to CAP.MQES + 1). */
	uint32_t admin_queue_size;
	/*
	 * Keep Alive Timeout sent in the admin Connect, in ms (default 10000;
	 * 0 disables keep alive). A Keep Alive command goes out every KATO/2
	 * from osp_nvme_ctrlr_process_admin_completions(), so call that at least
	 * that often. Rounded up to a whole second by most controllers.
	 */
	uint32_t keep_alive_timeout_ms;
	/* NVMe/TCP header and data digests (CRC32C), asked for in the ICReq (default off). */
	bool header_digest;
	bool data_digest;
	/*
	 * Host NQN for the Connect data. Default: a process-wide
	 * "nqn.2014-08.org.nvmexpress:uuid:<uuid>" made from a random UUID that
	 * is also the default hostid, so every controller of a process presents
	 * the same host.
	 */
	char hostnqn[OSP_NVME_NQN_MAX_LEN + 1];
	/* 128-bit Host Identifier for the Connect data (default: the process UUID). */
	uint8_t hostid[16];
	/* TCP handshake timeout for each queue's connection, ms (default 10000). */
	uint32_t transport_connect_timeout_ms;
	/*
	 * Time allowed for each admin command of the initialization (Connect,
	 * Property Get/Set, Identify, Set Features) and for blocking admin
	 * helpers (osp_nvme_ctrlr_get_discovery_log), ms (default 10000). The
	 * wait for CSTS.RDY uses CAP.TO instead.
	 */
	uint32_t admin_timeout_ms;
	/*
	 * Max outstanding R2Ts per command for the ICReq, 1-based (default 1).
	 * The TCP transport asks for 1 whatever the value (it handles one R2T
	 * per command at a time); must be at least 1.
	 */
	uint32_t maxr2t;
	/*
	 * Ask, in each I/O queue's Connect, that SQ flow control be disabled
	 * (NVMe-oF 1.1, CATTR bit 2; default false). The library never relies
	 * on SQHD (it keeps at most io_queue_size - 1 commands outstanding), and
	 * an NVMe/TCP controller may then end a read with a C2HData PDU that
	 * carries the SUCCESS flag instead of a separate CapsuleResp. A
	 * controller that does not support it refuses the Connect.
	 */
	bool disable_sq_flow_control;
	/*
	 * Local address (numeric IP, "" = the kernel's choice) and port ("" or
	 * "0" = any) the host's sockets are bound to before connecting (SPDK's
	 * hostaddr/hostsvcid). One local port cannot carry two connections to
	 * the same target port, so the queue with QID n binds src_svcid + n:
	 * the admin queue src_svcid itself, I/O queue 1 src_svcid + 1, ...
	 * (a port past 65535 fails that queue's connect with -EINVAL).
	 */
	char src_addr[OSP_NVME_TRADDR_MAX_LEN + 1];
	char src_svcid[OSP_NVME_TRSVCID_MAX_LEN + 1];
	/*
	 * osp_nvme_detach() first notifies a ready fabrics controller of a
	 * normal shutdown (CC.SHN = 01b) and waits up to admin_timeout_ms for
	 * CSTS.SHST complete (default false: detach just disconnects; PCIe
	 * controllers are never notified).
	 */
	bool shutdown_notification;
};

/*
 * Fill opts with the defaults above. opts_size is the caller's
 * sizeof(*opts): fields past it are not written (ABI compatibility).
 * Any thread.
 */
void osp_nvme_ctrlr_opts_init(struct osp_nvme_ctrlr_opts *opts, size_t opts_size);

/* ------------------------------------------------------------ completions */

/*
 * Completion callback of a command: cpl is valid only during the call.
 * cpl->status tells success (sct 0, sc 0) or the command's status.
 * Commands that never reached the controller, or whose queue failed,
 * complete with SCT generic, SC OSP_NVME_SC_ABORTED_SQ_DELETION (08h);
 * a data digest error on a read completes with SC
 * OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR (22h).
 */
typedef void (*osp_nvme_cmd_cb)(void *cb_arg, const struct osp_nvme_cpl *cpl);

/* osp_nvme_cpl_is_error() and the other status helpers are in nvme_spec.h. */

/*
 * Human-readable status ("SUCCESS", "INVALID FIELD", "CONNECT INVALID HOST",
 * ...), or "UNKNOWN" for codes it does not know. Static string. Any thread.
 */
const char *osp_nvme_cpl_status_string(const struct osp_nvme_cpl *cpl);

/* ------------------------------------------------------------ connecting */

/*
 * Why a connection attempt failed: the -errno, the step that failed and,
 * when that step was a command that completed with an error status (for
 * example the Fabrics Connect refused with "invalid host"), its completion.
 */
struct osp_nvme_connect_error {
	/*
	 * -ECONNREFUSED/-ETIMEDOUT/... (TCP), -EPROTO (transport protocol
	 * error, bad ICResp), -EACCES (Connect refused: host not allowed or
	 * invalid subsystem, see cpl), -EIO (another command failed, see cpl),
	 * -ETIMEDOUT (a command or CSTS.RDY timed out), -ENODEV (controller
	 * fatal status), -ENOMEM, -ECANCELED.
	 */
	int rc;
	/* Step that failed: "tcp connect", "icreq", "fabrics connect",
	 * "property get cap", "enable", "identify controller", ... Static string. */
	const char *step;
	bool has_cpl;
	struct osp_nvme_cpl cpl;
};

/*
 * Connect to the controller at trid and initialize it: transport
 * connection, Fabrics Connect on the admin queue (dynamic controller model),
 * CAP and VS, CC.EN = 1, CSTS.RDY, Identify Controller, Set Features Number
 * of Queues (not for discovery controllers), the active namespace list with
 * each namespace's data and identification descriptors, then AER
 * configuration and keep alive. opts may be NULL for the defaults;
 * opts_size is sizeof(*opts).
 *
 * Blocks (polling) until done or failed: a tool's call, not a reactor's
 * (use osp_nvme_connect_async() there). Returns the controller, or NULL with
 * errno set to the positive error of struct osp_nvme_connect_error; the
 * _ext form also fills *err (may be NULL) with the details.
 * The calling thread becomes the natural admin thread (see "Threads").
 */
struct osp_nvme_ctrlr *osp_nvme_connect(const struct osp_nvme_transport_id *trid,
					const struct osp_nvme_ctrlr_opts *opts, size_t opts_size);
struct osp_nvme_ctrlr *osp_nvme_connect_ext(const struct osp_nvme_transport_id *trid,
					    const struct osp_nvme_ctrlr_opts *opts,
					    size_t opts_size, struct osp_nvme_connect_error *err);

/*
 * Result of an asynchronous connect: ctrlr on success (err NULL), or ctrlr
 * NULL and err the reason. Runs exactly once, from inside
 * osp_nvme_probe_poll_async() on the polling thread, never from
 * osp_nvme_connect_async() itself. trid and err are valid during the call.
 * The callback may call osp_nvme_detach() on the new ctrlr.
 */
typedef void (*osp_nvme_attach_cb)(void *cb_ctx, const struct osp_nvme_transport_id *trid,
				   struct osp_nvme_ctrlr *ctrlr,
				   const struct osp_nvme_connect_error *err);

/*
 * Start connecting to trid without blocking: the TCP connect is started in
 * non-blocking mode and each later step runs as osp_nvme_probe_poll_async()
 * is called. trid and opts are copied. Returns the context to poll, or NULL
 * with errno (EINVAL bad trid/opts, ENOTSUP transport not built, ENOMEM,
 * or the socket's immediate error); attach_cb is then not called.
 */
struct osp_nvme_probe_ctx *osp_nvme_connect_async(const struct osp_nvme_transport_id *trid,
						  const struct osp_nvme_ctrlr_opts *opts,
						  size_t opts_size, osp_nvme_attach_cb attach_cb,
						  void *cb_ctx);
/*
 * Advance the connection; never blocks. Returns -EAGAIN while it is in
 * progress, or 0 once attach_cb has run (success or failure); the context
 * is freed then and must not be used again. Call it from one thread; every
 * few ms is enough (each step waits for a network round trip).
 */
int osp_nvme_probe_poll_async(struct osp_nvme_probe_ctx *probe_ctx);
/*
 * Give up a connect in progress: everything is released and attach_cb is
 * not called. For a context that has not returned 0 from
 * osp_nvme_probe_poll_async() yet.
 */
void osp_nvme_probe_ctx_cancel(struct osp_nvme_probe_ctx *probe_ctx);

/*
 * Disconnect and free the controller: its admin queue, its namespaces and
 * any I/O qpair still allocated (their owners must have stopped using them:
 * free them first with osp_nvme_ctrlr_free_io_qpair() from their threads).
 * Outstanding admin commands complete with ABORTED_SQ_DELETION first.
 * Returns 0, or -EINVAL for NULL. Call with no other thread using ctrlr.
 */
int osp_nvme_detach(struct osp_nvme_ctrlr *ctrlr);

/* ------------------------------------------------------------ controller */

/* Identify Controller data (valid until detach; refreshed by a reset). */
const struct osp_nvme_ctrlr_data *osp_nvme_ctrlr_get_data(struct osp_nvme_ctrlr *ctrlr);
/* CAP and VS as read during initialization. */
union osp_nvme_cap_register osp_nvme_ctrlr_get_regs_cap(struct osp_nvme_ctrlr *ctrlr);
union osp_nvme_vs_register osp_nvme_ctrlr_get_regs_vs(struct osp_nvme_ctrlr *ctrlr);
/* The transport id the controller was connected with. */
const struct osp_nvme_transport_id *osp_nvme_ctrlr_get_transport_id(struct osp_nvme_ctrlr *ctrlr);
/* Options in effect (hostnqn, hostid, queue sizes after capping, ...). */
const struct osp_nvme_ctrlr_opts *osp_nvme_ctrlr_get_opts(struct osp_nvme_ctrlr *ctrlr);
/* Controller ID the target assigned in the Connect response. */
uint16_t osp_nvme_ctrlr_get_cntlid(struct osp_nvme_ctrlr *ctrlr);
/* True for a discovery controller (subnqn is the discovery NQN or CNTRLTYPE 2). */
bool osp_nvme_ctrlr_is_discovery(struct osp_nvme_ctrlr *ctrlr);
/* I/O queues granted by Set Features Number of Queues (0 for discovery). */
uint32_t osp_nvme_ctrlr_get_num_io_queues(struct osp_nvme_ctrlr *ctrlr);
/*
 * Largest data transfer of one command in bytes: 2^MDTS * CAP.MPSMIN
 * (MDTS 0 = no limit), capped to OSP_NVME_MAX_XFER_SIZE.
 */
#define OSP_NVME_MAX_XFER_SIZE (2u * 1024 * 1024)
uint32_t osp_nvme_ctrlr_get_max_xfer_size(struct osp_nvme_ctrlr *ctrlr);
/* True once the controller failed (admin connection lost, reset failed). */
bool osp_nvme_ctrlr_is_failed(struct osp_nvme_ctrlr *ctrlr);

/*
 * Namespaces. NN from Identify Controller is the largest possible NSID.
 * Namespace objects stay allocated until detach, even when a namespace goes
 * inactive, so a pointer stays valid (check osp_nvme_ns_is_active()).
 */
uint32_t osp_nvme_ctrlr_get_num_ns(struct osp_nvme_ctrlr *ctrlr);
/* The namespace nsid if it is, or once was, active; else NULL. */
struct osp_nvme_ns *osp_nvme_ctrlr_get_ns(struct osp_nvme_ctrlr *ctrlr, uint32_t nsid);
bool osp_nvme_ctrlr_is_active_ns(struct osp_nvme_ctrlr *ctrlr, uint32_t nsid);
/* Active namespaces in increasing NSID order: first, then next after prev; 0 ends. */
uint32_t osp_nvme_ctrlr_get_first_active_ns(struct osp_nvme_ctrlr *ctrlr);
uint32_t osp_nvme_ctrlr_get_next_active_ns(struct osp_nvme_ctrlr *ctrlr, uint32_t prev_nsid);
uint32_t osp_nvme_ctrlr_get_num_active_ns(struct osp_nvme_ctrlr *ctrlr);

/*
 * Poll the admin queue: receive completions and run their callbacks,
 * handle AERs (see below), send Keep Alive when KATO/2 has passed since the
 * last one. Never blocks. Returns the number of completions processed
 * (including internal ones), or -ENXIO when the admin connection failed
 * (outstanding admin commands have then completed with
 * ABORTED_SQ_DELETION, and the controller is failed until a reset).
 */
int32_t osp_nvme_ctrlr_process_admin_completions(struct osp_nvme_ctrlr *ctrlr);

/*
 * Submit an admin command. cmd is copied (its cid is replaced). The data
 * direction comes from the opcode's low two bits (01b host to controller,
 * 10b controller to host; 00b no data: buf NULL, len 0; 11b refused).
 * buf must stay valid until cb_fn runs; len at most the max transfer size.
 * cb_fn runs from osp_nvme_ctrlr_process_admin_completions().
 * Returns 0, -EINVAL (bad arguments, bidirectional opcode), -ENOMEM (admin
 * queue full: retry after processing completions), -ENXIO (controller
 * failed or resetting).
 */
int osp_nvme_ctrlr_cmd_admin_raw(struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_cmd *cmd,
				 void *buf, uint32_t len, osp_nvme_cmd_cb cb_fn, void *cb_arg);
/*
 * Get Log Page: lid, nsid (0xffffffff for controller-wide), payload of size
 * bytes (a multiple of 4) from byte offset (a multiple of 4). Returns as
 * osp_nvme_ctrlr_cmd_admin_raw().
 */
int osp_nvme_ctrlr_cmd_get_log_page(struct osp_nvme_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
				    void *payload, uint32_t size, uint64_t offset,
				    osp_nvme_cmd_cb cb_fn, void *cb_arg);

/*
 * Read the whole discovery log page (Get Log Page 70h) of a discovery
 * controller, blocking (polls the admin queue, admin_timeout_ms per
 * command): reads the header, then all numrec entries (in chunks), then the
 * header again, and starts over (up to 10 times) if genctr changed meanwhile.
 * On success *log points to a malloc'd page (free() it) holding the header
 * and numrec entries, *size its length in bytes. A numrec above 65536
 * entries is refused with -EPROTO. Returns 0, -EINVAL (not a
 * discovery controller, NULL args), -EIO (command failed), -ETIMEDOUT,
 * -EAGAIN (genctr kept changing), -ENOMEM, -ENXIO (controller failed).
 * Do not call it from an admin completion callback.
 */
int osp_nvme_ctrlr_get_discovery_log(struct osp_nvme_ctrlr *ctrlr,
				     struct osp_nvmf_discovery_log_page **log, size_t *size);

/*
 * Asynchronous events. The driver keeps AERs outstanding (up to AERL + 1, at
 * most 4) with Asynchronous Event Configuration enabling the namespace
 * attribute notice (and the discovery log change notice on discovery
 * controllers). Each AER completion is handed to aer_cb (if registered)
 * from osp_nvme_ctrlr_process_admin_completions(); then, for Namespace
 * Attribute Changed, the driver reads the Changed Namespace List log
 * (clearing the event), re-reads the active namespace list and each
 * namespace's data, and calls ns_change_cb for every namespace that was
 * added, removed or changed (size or format). Register before or after
 * connecting; NULL unregisters. The callbacks run on the admin thread with
 * the controller lock held.
 */
typedef void (*osp_nvme_aer_cb)(void *aer_cb_arg, const struct osp_nvme_cpl *cpl);
void osp_nvme_ctrlr_register_aer_callback(struct osp_nvme_ctrlr *ctrlr, osp_nvme_aer_cb aer_cb,
					  void *aer_cb_arg);

enum osp_nvme_ns_event {
	OSP_NVME_NS_EVENT_ADDED = 1,   /* nsid became active */
	OSP_NVME_NS_EVENT_REMOVED = 2, /* nsid is no longer active */
	OSP_NVME_NS_EVENT_CHANGED = 3, /* still active; data changed (e.g. resized) */
};
typedef void (*osp_nvme_ns_change_cb)(void *cb_arg, struct osp_nvme_ctrlr *ctrlr, uint32_t nsid,
				      enum osp_nvme_ns_event event);
void osp_nvme_ctrlr_register_ns_change_callback(struct osp_nvme_ctrlr *ctrlr,
						osp_nvme_ns_change_cb cb_fn, void *cb_arg);

/*
 * Reset the controller, blocking: fail outstanding admin commands
 * (ABORTED_SQ_DELETION), close the admin connection, reconnect and redo the
 * whole initialization (a new association; the controller ID may change).
 * I/O qpairs are not touched from here (they belong to other threads): each
 * one notices the reset on its next osp_nvme_qpair_process_completions(),
 * fails its outstanding commands with ABORTED_SQ_DELETION, disconnects and
 * returns -ENXIO; its owner then calls osp_nvme_ctrlr_reconnect_io_qpair()
 * (or frees it). Namespaces that appeared, went or changed are reported
 * through ns_change_cb. Returns 0, or the -errno of the failed step (the
 * controller is then failed: only osp_nvme_detach() or another reset).
 * Not from a completion callback. -EBUSY if a reset is already running.
 */
int osp_nvme_ctrlr_reset(struct osp_nvme_ctrlr *ctrlr);

/*
 * The same reset without blocking, for a reactor: _async does the
 * disconnect and starts the reconnect (returns 0, -EBUSY if a reset is
 * running, or the -errno of a transport that cannot even start);
 * _poll_async advances it and returns -EAGAIN while in progress, then 0 or
 * the failed step's -errno once (the controller is then failed). Poll from
 * one thread; meanwhile process_admin_completions returns 0, admin submits
 * -ENXIO, and reconnect_io_qpair -EAGAIN. ns_change_cb runs from the poll.
 */
int osp_nvme_ctrlr_reset_async(struct osp_nvme_ctrlr *ctrlr);
int osp_nvme_ctrlr_reset_poll_async(struct osp_nvme_ctrlr *ctrlr);

/* ------------------------------------------------------------ namespaces */

uint32_t osp_nvme_ns_get_id(struct osp_nvme_ns *ns);
struct osp_nvme_ctrlr *osp_nvme_ns_get_ctrlr(struct osp_nvme_ns *ns);
bool osp_nvme_ns_is_active(struct osp_nvme_ns *ns);
/* Identify Namespace data (last read). */
const struct osp_nvme_ns_data *osp_nvme_ns_get_data(struct osp_nvme_ns *ns);
/* Data bytes per LBA of the current format (2^LBADS). */
uint32_t osp_nvme_ns_get_sector_size(struct osp_nvme_ns *ns);
/* Metadata bytes per LBA of the current format. */
uint32_t osp_nvme_ns_get_md_size(struct osp_nvme_ns *ns);
/* NSZE, in sectors; and NSZE * sector size in bytes. */
uint64_t osp_nvme_ns_get_num_sectors(struct osp_nvme_ns *ns);
uint64_t osp_nvme_ns_get_size(struct osp_nvme_ns *ns);
/* Largest I/O in bytes (the controller's max transfer size). */
uint32_t osp_nvme_ns_get_max_io_xfer_size(struct osp_nvme_ns *ns);
/*
 * Identifiers from the Namespace Identification Descriptor list (or, for
 * NGUID/EUI64, Identify Namespace when the list lacks them): a pointer to
 * the 16/8/16 bytes, or NULL when the namespace has none (all zero).
 */
const uint8_t *osp_nvme_ns_get_nguid(struct osp_nvme_ns *ns);
const uint8_t *osp_nvme_ns_get_eui64(struct osp_nvme_ns *ns);
const struct osp_uuid *osp_nvme_ns_get_uuid(struct osp_nvme_ns *ns);
/* Command set identifier (OSP_NVME_CSI_NVM unless the descriptor list says otherwise). */
uint8_t osp_nvme_ns_get_csi(struct osp_nvme_ns *ns);

/* ------------------------------------------------------------ I/O qpairs */

struct osp_nvme_io_qpair_opts {
	/* Caller's sizeof(*opts); set by osp_nvme_ctrlr_get_default_io_qpair_opts(). */
	size_t opts_size;
	/*
	 * Queue entries (default: the controller opts' io_queue_size). At most
	 * io_queue_size - 1 commands are outstanding at once (one SQ slot
	 * stays free); a submit beyond that returns -ENOMEM.
	 */
	uint32_t io_queue_size;
	/*
	 * false (default): osp_nvme_ctrlr_alloc_io_qpair() blocks until the
	 * qpair is connected (TCP + ICReq + Connect; < 1 ms on loopback).
	 * true: it returns at once and the connection proceeds inside
	 * osp_nvme_qpair_process_completions(); submits return -ENOMEM until
	 * osp_nvme_qpair_is_connected() and -ENXIO if the connection failed.
	 */
	bool async_mode;
};

void osp_nvme_ctrlr_get_default_io_qpair_opts(struct osp_nvme_ctrlr *ctrlr,
					      struct osp_nvme_io_qpair_opts *opts,
					      size_t opts_size);

/*
 * Create an I/O queue pair: picks a free QID (1..num_io_queues), opens its
 * transport connection and sends the Fabrics Connect with that QID and the
 * controller's cntlid. opts NULL = defaults. The qpair belongs to the
 * calling thread from then on. Returns NULL with errno: EINVAL (discovery
 * controller, bad opts), EBUSY (no free QID), ENXIO (controller failed),
 * ENOMEM, or the connection's error (ECONNREFUSED, EACCES when the Connect
 * was refused, ETIMEDOUT, EPROTO).
 */
struct osp_nvme_qpair *osp_nvme_ctrlr_alloc_io_qpair(struct osp_nvme_ctrlr *ctrlr,
						     const struct osp_nvme_io_qpair_opts *opts,
						     size_t opts_size);
/*
 * Disconnect and free qpair: outstanding commands complete with
 * ABORTED_SQ_DELETION (their callbacks run from here), the QID is released.
 * Returns 0 or -EINVAL (NULL or the admin qpair). On the qpair's thread.
 */
int osp_nvme_ctrlr_free_io_qpair(struct osp_nvme_qpair *qpair);
/*
 * Reconnect a qpair that failed or was disconnected by a controller reset,
 * blocking like a synchronous alloc (same QID). Returns 0, -EBUSY if it is
 * still connected, -EAGAIN if the controller is resetting (try later),
 * -ENXIO if the controller failed, or the connection's -errno.
 */
int osp_nvme_ctrlr_reconnect_io_qpair(struct osp_nvme_qpair *qpair);

uint16_t osp_nvme_qpair_get_id(struct osp_nvme_qpair *qpair);
/* True when commands can be submitted. */
bool osp_nvme_qpair_is_connected(struct osp_nvme_qpair *qpair);
/* Commands submitted and not yet completed. */
uint32_t osp_nvme_qpair_get_num_outstanding(struct osp_nvme_qpair *qpair);

/*
 * Poll the qpair: send what is queued, receive PDUs, run completion
 * callbacks (at most max_completions of them; 0 = no limit). Never blocks.
 * Returns the number of completions processed, or -ENXIO when the
 * connection failed (protocol error, peer closed, digest error in a header,
 * controller reset): outstanding commands have then completed with
 * ABORTED_SQ_DELETION and the qpair stays failed until
 * osp_nvme_ctrlr_reconnect_io_qpair() or free. Callbacks may submit new
 * commands on the same qpair, but must not free it.
 */
int32_t osp_nvme_qpair_process_completions(struct osp_nvme_qpair *qpair,
					   uint32_t max_completions);

/*
 * Counters of a qpair since it was allocated (kept across reconnects),
 * counted by the transport-independent layer: plain increments on the
 * qpair's thread, so read them there (nvme_perf --transport-stats).
 */
struct osp_nvme_qpair_stats {
	uint64_t polls;			   /* osp_nvme_qpair_process_completions() calls */
	uint64_t idle_polls;		   /* of them, the ones that completed nothing */
	uint64_t completions;		   /* commands completed by those calls */
	uint64_t max_completions_per_poll; /* most completions one call returned */
	uint64_t submitted;		   /* commands handed to the transport */
	uint64_t queue_full;		   /* submits refused with -ENOMEM: no free slot */
};
/* Copy the counters into *stats. 0, or -EINVAL for NULL. */
int osp_nvme_qpair_get_stats(struct osp_nvme_qpair *qpair, struct osp_nvme_qpair_stats *stats);

/*
 * Counters of the transport under a qpair since it was allocated, over all
 * its connections (TCP: PDUs received and its sockets' counters, see
 * struct osp_sock_stats). On the qpair's thread.
 */
struct osp_nvme_qpair_transport_stats {
	uint64_t pdus_received;	 /* whole PDUs received */
	uint64_t send_requests;	 /* socket write requests (a PDU, or a PDU's data part) */
	uint64_t sends;		 /* flushes that handed bytes to the kernel */
	uint64_t bytes_sent;
	uint64_t receives;	 /* socket reads that returned data */
	uint64_t bytes_received;
};
/* 0, -EINVAL for NULL, -ENOTSUP when the transport keeps no counters (PCIe). */
int osp_nvme_qpair_get_transport_stats(struct osp_nvme_qpair *qpair,
				       struct osp_nvme_qpair_transport_stats *stats);

/* ------------------------------------------------------------ I/O commands */

/* io_flags for read/write/compare/write_zeroes (CDW12 bits). */
#define OSP_NVME_IO_FLAGS_FUA (1u << 30)
#define OSP_NVME_IO_FLAGS_LIMITED_RETRY (1u << 31)
/* write_zeroes only: the controller may deallocate the blocks. */
#define OSP_NVME_IO_FLAGS_DEALLOCATE (1u << 25)

/* Largest iovec count of one readv/writev. */
#define OSP_NVME_MAX_IOVS 32

/*
 * Common to every I/O submit function below:
 *  - lba_count is 1-based (1..65536) and lba + lba_count must not pass
 *    the namespace size; the buffer(s) hold lba_count * sector size bytes
 *    (metadata is not supported: namespaces with md interleaved are
 *    refused with -EINVAL);
 *  - buffers must stay valid and untouched until cb_fn runs; reads land
 *    straight in them (no bounce copy);
 *  - cb_fn(cb_arg, cpl) runs exactly once, from
 *    osp_nvme_qpair_process_completions() (or free_io_qpair), on the
 *    qpair's thread;
 *  - returns 0 (submitted), -EINVAL (bad arguments: range, length above
 *    the max transfer size, too many iovecs, flags), -ENOMEM (queue full
 *    or not yet connected: retry after processing completions; nothing was
 *    submitted and cb_fn will not run), -ENXIO (qpair failed).
 * Writes up to the controller's in-capsule allowance (IOCCSZ * 16 - 64
 * bytes) travel inside the command capsule; larger ones are sent on R2T in
 * H2CData PDUs of at most the controller's MAXH2CDATA.
 */
int osp_nvme_ns_cmd_read(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair, void *buf,
			 uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
			 uint32_t io_flags);
int osp_nvme_ns_cmd_write(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair, void *buf,
			  uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
			  uint32_t io_flags);
/*
 * Scatter-gather forms: iov[0..iovcnt) (1..OSP_NVME_MAX_IOVS entries) must
 * total at least lba_count * sector size bytes (extra is ignored). The iovec
 * array itself must stay valid until cb_fn runs too (it is not copied).
 */
int osp_nvme_ns_cmd_readv(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair,
			  const struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
			  osp_nvme_cmd_cb cb_fn, void *cb_arg, uint32_t io_flags);
int osp_nvme_ns_cmd_writev(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair,
			   const struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
			   osp_nvme_cmd_cb cb_fn, void *cb_arg, uint32_t io_flags);
/* Compare: the controller compares buf with the blocks (COMPARE FAILURE status on mismatch). */
int osp_nvme_ns_cmd_compare(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair, void *buf,
			    uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
			    uint32_t io_flags);
/* Write Zeroes (no data transferred; ONCS bit 3 says whether the controller has it). */
int osp_nvme_ns_cmd_write_zeroes(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair,
				 uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn,
				 void *cb_arg, uint32_t io_flags);
/* Flush the volatile write cache for the namespace. */
int osp_nvme_ns_cmd_flush(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair,
			  osp_nvme_cmd_cb cb_fn, void *cb_arg);

/* Dataset Management range (NVM Command Set spec, Figure "DSM Range"): 16 bytes. */
struct osp_nvme_dsm_range {
	uint32_t cattr; /* context attributes */
	uint32_t nlb;	/* length in logical blocks, 1-based */
	uint64_t slba;
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_dsm_range) == 16, "DSM range is 16 bytes");
/* Dataset Management CDW11 attributes. */
#define OSP_NVME_DSM_ATTR_INTEGRAL_READ (1u << 0)
#define OSP_NVME_DSM_ATTR_INTEGRAL_WRITE (1u << 1)
#define OSP_NVME_DSM_ATTR_DEALLOCATE (1u << 2)
#define OSP_NVME_DSM_MAX_RANGES 256
/*
 * Dataset Management (deallocate = unmap with OSP_NVME_DSM_ATTR_DEALLOCATE):
 * ranges[0..num_ranges) (1..256) are sent as the command's data, so the
 * array must stay valid until cb_fn runs.
 */
int osp_nvme_ns_cmd_dataset_management(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair,
				       uint32_t attributes, const struct osp_nvme_dsm_range *ranges,
				       uint16_t num_ranges, osp_nvme_cmd_cb cb_fn, void *cb_arg);

/*
 * Submit any I/O command: cmd is copied (cid replaced; nsid as given; the
 * data pointer fields are filled by the transport). Direction from the
 * opcode's low two bits as for admin raw. buf/len as for admin raw.
 * Returns as the I/O functions above.
 */
int osp_nvme_ctrlr_cmd_io_raw(struct osp_nvme_ctrlr *ctrlr, struct osp_nvme_qpair *qpair,
			      const struct osp_nvme_cmd *cmd, void *buf, uint32_t len,
			      osp_nvme_cmd_cb cb_fn, void *cb_arg);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_NVME_H */
