/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iscsi private structures, shared by iscsi.c (globals, options, poll
 * groups, the subsystem), portal_grp.c, init_grp.c, tgt_node.c, auth.c
 * (configuration objects), conn.c (PDU receive / transmit), login.c,
 * session.c (sessions, CmdSN window), ffp.c (full feature phase) and
 * iscsi_rpc.c.
 *
 * Threads: configuration objects are changed on the app thread with
 * g_iscsi.mutex held; poll-group threads read them under the mutex at login
 * and SendTargets time only (never on the I/O path). A connection, its
 * session and its requests belong to one poll group's thread.
 */
#ifndef ISCSI_INTERNAL_H
#define ISCSI_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "osprey/iobuf.h"
#include "osprey/iscsi.h"
#include "osprey/iscsi_spec.h"
#include "osprey/queue.h"
#include "osprey/scsi.h"
#include "osprey/sock.h"
#include "osprey/thread.h"

#include "iscsi_param.h"

/* Connections still logging in (accepted, not in full feature phase) at most. */
#define ISCSI_MAX_CONNS_IN_LOGIN	4096

/* ---- configuration objects (app thread, g_iscsi.mutex) ---- */

struct iscsi_portal {
	char host[64];			/* as given, without brackets */
	char port[8];			/* as given ("0": ephemeral) */
	uint16_t bound_port;		/* the port actually listened on */
	struct osp_sock *sock;
	struct iscsi_portal_grp *pg;
	TAILQ_ENTRY(iscsi_portal) link;
};

struct iscsi_portal_grp {
	int tag;
	bool is_private;
	bool started;
	int nportals;
	uint32_t refcnt;		/* target node maps naming it */
	TAILQ_HEAD(, iscsi_portal) portals;
	TAILQ_ENTRY(iscsi_portal_grp) link;
};

struct iscsi_init_grp {
	int tag;
	int nnames;
	char *names[OSP_ISCSI_MAX_INITIATORS];
	int nmasks;
	char *masks[OSP_ISCSI_MAX_INITIATORS];
	uint32_t refcnt;
	TAILQ_ENTRY(iscsi_init_grp) link;
};

struct iscsi_pg_ig_map {
	int pg_tag;
	int ig_tag;
};

struct iscsi_tgt_node {
	char name[ISCSI_NAME_MAX_LEN + 1];
	char alias[256];
	struct osp_scsi_dev *dev;
	int nmaps;
	struct iscsi_pg_ig_map maps[OSP_ISCSI_MAX_PG_IG_MAPS];
	uint32_t queue_depth;
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
	bool header_digest;
	bool data_digest;
	uint32_t num_sessions;		/* under the mutex */
	bool removing;
	void (*delete_cb)(void *cb_arg, int rc);
	void *delete_cb_arg;
	TAILQ_ENTRY(iscsi_tgt_node) link;
};

struct iscsi_secret {
	struct iscsi_chap_secret s;
	bool from_file;			/* loaded from auth_file: not in save_config */
	TAILQ_ENTRY(iscsi_secret) link;
};

struct iscsi_auth_grp {
	int tag;
	bool from_file;			/* created by auth_file: not in save_config */
	int nsecrets;
	TAILQ_HEAD(iscsi_secret_list, iscsi_secret) secrets;
	TAILQ_ENTRY(iscsi_auth_grp) link;
};

struct iscsi_poll_group;
struct iscsi_session;
struct iscsi_conn;

struct iscsi_globals {
	pthread_mutex_t mutex;
	struct osp_iscsi_opts opts;
	struct iscsi_param_defaults param_defaults;
	bool initialized;
	bool opts_set;			/* iscsi_set_options was called */
	bool shutting_down;
	TAILQ_HEAD(, iscsi_portal_grp) pgs;
	TAILQ_HEAD(, iscsi_init_grp) igs;
	TAILQ_HEAD(, iscsi_tgt_node) nodes;
	TAILQ_HEAD(, iscsi_auth_grp) auth_groups;
	TAILQ_HEAD(, iscsi_session) sessions;		/* under the mutex */
	uint32_t nsessions;
	uint16_t next_tsih;
	struct osp_thread *app_thread;
	struct iscsi_poll_group **pgroups;
	uint32_t npgroups;
	uint32_t next_pgroup;
	struct osp_sock_group *accept_group;
	struct osp_poller *accept_poller;
	struct osp_iobuf_pool *data_pool;
	uint32_t data_bufsize;
	uint32_t data_reserve;
	uint64_t next_conn_id;
	/* Connection counts by state, for iscsi_get_stats (atomics). */
	uint32_t nconns_login;
	uint32_t nconns_running;
	uint32_t nconns_exiting;
	uint32_t nconns_exited;
};

extern struct iscsi_globals g_iscsi;

/* ---- PDUs on the transmit side ---- */

#define ISCSI_PDU_DATA_IOVS	16
#define ISCSI_PDU_INLINE_DATA	256

struct iscsi_pdu {
	union {
		struct iscsi_bhs bhs;
		uint8_t raw[ISCSI_BHS_LEN];
	} hdr;
	uint8_t hdgst[ISCSI_DIGEST_LEN];
	uint8_t ddgst[ISCSI_DIGEST_LEN];
	struct iovec iov[ISCSI_PDU_DATA_IOVS + 4];
	int iovcnt;
	struct osp_sock_request sreq;
	struct iscsi_conn *conn;
	struct iscsi_req *req;		/* a data PDU of this request, or NULL */
	void *owned;			/* free()d when sent (text, login, NOP data) */
	bool from_pool;
	bool last;			/* the request's last PDU */
	uint8_t inline_data[ISCSI_PDU_INLINE_DATA];
	TAILQ_ENTRY(iscsi_pdu) link;
};

/* ---- requests (one per SCSI command) ---- */

#define ISCSI_MAX_R2T		16
#define ISCSI_DATA_BUF_SIZE	(128u * 1024)
/* Enough write buffers for the largest transfer the SCSI layer advertises. */
#define ISCSI_REQ_MAX_BUFS	(OSP_SCSI_MAX_TRANSFER_BYTES / ISCSI_DATA_BUF_SIZE)

enum iscsi_req_state {
	ISCSI_REQ_FREE = 0,
	ISCSI_REQ_DATA_OUT,		/* collecting write data */
	ISCSI_REQ_HELD,			/* ready, waiting for commands with lower CmdSNs */
	ISCSI_REQ_EXEC,			/* in the SCSI layer */
	ISCSI_REQ_DATA_IN,		/* sending data / status */
	ISCSI_REQ_SENT,			/* everything queued, waiting for the socket */
};

struct iscsi_r2t {
	uint32_t ttt;
	uint32_t offset;
	uint32_t len;
	uint32_t recv;
	uint32_t datasn;		/* expected next DataSN */
	bool active;
};

struct iscsi_req {
	struct osp_scsi_task task;
	struct iscsi_conn *conn;
	enum iscsi_req_state state;
	uint32_t itt;
	uint32_t cmdsn;
	uint32_t edtl;
	uint8_t lun[8];
	bool immediate;
	bool counted;			/* holds a slot of the CmdSN window */
	bool aborted;			/* no response: aborted by a TMF or the connection */
	bool task_done;
	bool status_sent;
	bool is_tmf;
	enum osp_scsi_tmf tmf_fn;
	/* write */
	uint32_t nbufs;
	uint32_t data_recv;		/* bytes received so far */
	uint32_t unsol_end;		/* unsolicited data ends here (immediate included) */
	uint32_t unsol_next;		/* next unsolicited offset expected */
	uint32_t unsol_datasn;
	uint32_t r2t_next;		/* next offset to ask for */
	uint32_t r2tsn;
	uint32_t nr2t;
	struct iscsi_r2t r2t[ISCSI_MAX_R2T];
	/* read */
	uint32_t datain_off;
	uint32_t datain_len;
	uint32_t datain_burst;		/* bytes of the current Data-In sequence */
	uint32_t datasn;
	uint32_t pdus_out;		/* queued PDUs not yet sent */
	TAILQ_ENTRY(iscsi_req) link;
	TAILQ_ENTRY(iscsi_req) wait_link;
	bool waiting;
	/*
	 * Arrived before a command with a lower CmdSN: it is not delivered to
	 * the SCSI layer until the gap is filled (RFC 7143 4.2.2.1, in-order
	 * delivery); linked in the session's ahead_reqs meanwhile.
	 */
	bool ahead;
	TAILQ_ENTRY(iscsi_req) ahead_link;
	/*
	 * The write buffers, meaningful below nbufs only. Last, so that
	 * req_get() zeroes the fields above and not these 3 KiB (the memset
	 * was 2.6 % of the target's time at 4 KiB reads).
	 */
	void *bufs[ISCSI_REQ_MAX_BUFS];
	struct iovec iovs[ISCSI_REQ_MAX_BUFS];
};

/* ---- connections ---- */

enum iscsi_conn_state {
	ISCSI_CONN_LOGIN = 0,
	ISCSI_CONN_FFP,
	ISCSI_CONN_LOGGED_OUT,		/* Logout Response queued: close when it is sent */
	ISCSI_CONN_EXITING,
};

enum iscsi_rx_state {
	ISCSI_RX_BHS = 0,
	ISCSI_RX_AHS,
	ISCSI_RX_HDGST,
	ISCSI_RX_DATA,
	ISCSI_RX_DDGST,
};

struct iscsi_login;

struct iscsi_conn {
	uint64_t id;
	struct iscsi_poll_group *pg;
	struct osp_sock *sock;
	struct iscsi_session *sess;
	enum iscsi_conn_state state;
	bool in_sock_group;
	uint16_t cid;
	int portal_tag;			/* tag of the portal group it came in on */
	char initiator_addr[OSP_SOCK_ADDR_STRLEN];
	char target_addr[OSP_SOCK_ADDR_STRLEN];
	uint16_t initiator_port;
	uint16_t target_port;
	char initiator_name[ISCSI_NAME_MAX_LEN + 1];
	char target_name[ISCSI_NAME_MAX_LEN + 1];
	/* negotiated */
	bool hdigest;
	bool ddigest;
	uint32_t max_recv_dsl;
	uint32_t max_send_dsl;
	/* receive */
	enum iscsi_rx_state rx_state;
	uint32_t rx_off;
	union {
		struct iscsi_bhs bhs;
		uint8_t raw[ISCSI_BHS_LEN];
	} rx_bhs;
	uint8_t rx_ahs[ISCSI_AHS_MAX_LEN];
	uint32_t rx_ahs_len;
	uint8_t rx_dgst[ISCSI_DIGEST_LEN];
	uint8_t *rx_data;
	uint32_t rx_data_cap;
	uint32_t rx_dsl;		/* data segment length of the PDU being read */
	uint32_t rx_data_padded;
	/* transmit */
	uint32_t statsn;
	struct iscsi_pdu *pdu_pool;	/* login's */
	struct iscsi_pdu *ffp_pdu_pool;	/* full feature phase's */
	uint32_t npdus;
	TAILQ_HEAD(, iscsi_pdu) free_pdus;
	uint32_t pdus_out;		/* queued to the socket, not yet completed */
	uint32_t extra_pdus;		/* of them, allocated beyond the pool */
	TAILQ_HEAD(, iscsi_req) tx_wait;	/* requests waiting for PDUs */
	/* requests */
	struct iscsi_req *req_pool;
	uint32_t nreqs;
	TAILQ_HEAD(, iscsi_req) free_reqs;
	TAILQ_HEAD(, iscsi_req) active_reqs;
	uint32_t reqs_out;		/* taken from the pool */
	/* login */
	struct iscsi_login *login;
	/* full feature phase */
	uint64_t last_activity_tsc;
	uint64_t nop_sent_tsc;
	bool nop_outstanding;
	uint32_t nop_ttt;
	uint64_t login_deadline_tsc;
	/* SendTargets / text continuation */
	char *text_req;			/* a Text request continued (C=1) so far */
	uint32_t text_req_len;
	char *text_rsp;
	uint32_t text_rsp_len;
	uint32_t text_rsp_off;
	uint32_t text_ttt;
	uint32_t text_itt;
	struct iscsi_nego *text_nego;	/* for full-feature text negotiation */
	bool async_logout_sent;
	bool flush_pending;
	bool closing_after_send;
	bool moving;			/* on its way to its session's thread */
	bool login_failed;		/* a failure response is queued: ignore the rest */
	bool logout_session;		/* Logout closing the whole session */
	bool freed;
	int in_cb;			/* in a callback that uses it: free later */
	TAILQ_ENTRY(iscsi_conn) pg_link;
	TAILQ_ENTRY(iscsi_conn) sess_link;
	TAILQ_ENTRY(iscsi_conn) flush_link;
};

/* ---- sessions ---- */

struct iscsi_session {
	struct iscsi_poll_group *pg;
	uint16_t tsih;
	uint8_t isid[6];
	char initiator_name[ISCSI_NAME_MAX_LEN + 1];
	char initiator_port_name[OSP_SCSI_PORT_MAX_NAME + 1];
	struct iscsi_tgt_node *node;	/* NULL: discovery */
	struct iscsi_sess_params params;
	struct osp_scsi_port *iport;
	struct osp_scsi_itn *itn;
	uint32_t exp_cmdsn;
	uint32_t queue_depth;
	uint32_t window_used;		/* counted commands not yet completed */
	uint64_t ahead;			/* bit i: CmdSN exp_cmdsn + 1 + i already arrived */
	TAILQ_HEAD(, iscsi_req) ahead_reqs;	/* SCSI commands that arrived ahead, by CmdSN */
	bool opening;			/* the nexus is being opened */
	TAILQ_HEAD(, iscsi_conn) conns;
	uint32_t nconns;
	bool dropping;
	bool in_table;
	bool itn_closing;
	uint32_t next_ttt;
	uint64_t cold_reset;
	TAILQ_ENTRY(iscsi_session) link;	/* g_iscsi.sessions */
};

/* ---- poll groups ---- */

struct iscsi_poll_group {
	uint32_t index;
	uint32_t core;
	struct osp_thread *thread;
	struct osp_sock_group *sock_group;
	struct osp_poller *poller;
	struct osp_poller *timer;
	struct osp_iobuf_channel iobuf;
	bool iobuf_ready;
	TAILQ_HEAD(, iscsi_conn) conns;
	TAILQ_HEAD(, iscsi_conn) flush_list;
	uint32_t nconns;
};

/* ---- iscsi.c ---- */
void iscsi_lock(void);
void iscsi_unlock(void);
struct iscsi_poll_group *iscsi_pick_poll_group(void);
void iscsi_stat_move(uint32_t *from, uint32_t *to);
void iscsi_param_defaults_from_opts(struct iscsi_param_defaults *d);
/* Pure: whether name is a valid iSCSI name (iqn., eui., naa.). */
bool iscsi_name_valid(const char *name);
/*
 * A name this target gives itself (node_base, target node names): besides
 * iscsi_name_valid, only the characters RFC 3722 keeps after stringprep
 * (letters, digits, '-', '.', ':'; UTF-8 beyond ASCII) and a real month.
 * Initiator names are checked with iscsi_name_valid only: hosts pick them.
 */
bool iscsi_target_name_valid(const char *name);
int iscsi_chap_flags_check(bool disable_chap, bool require_chap, bool mutual_chap, char *err,
			   size_t errlen);

/* ---- portal_grp.c ---- */
struct iscsi_portal_grp *iscsi_portal_grp_find(int tag);
void iscsi_portal_grp_delete_all(void);
/* The acceptor hands new sockets to conn.c: iscsi_conn_accepted() on the group's thread. */
int iscsi_acceptor_start(void);
void iscsi_acceptor_stop(void);

/* ---- init_grp.c ---- */
struct iscsi_init_grp *iscsi_init_grp_find(int tag);
void iscsi_init_grp_delete_all(void);
/*
 * Whether initiator name iname at address addr passes group ig: 1 allowed,
 * -1 denied explicitly ("!name" or "!mask"), 0 not listed.
 */
int iscsi_init_grp_check(const struct iscsi_init_grp *ig, const char *iname, const char *addr);
/* Pure: does address addr fall in mask ("ANY", "a.b.c.d", "a.b.c.d/len", "[v6]/len")? */
bool iscsi_netmask_match(const char *mask, const char *addr);
bool iscsi_netmask_valid(const char *mask);

/* ---- tgt_node.c (callers hold the mutex) ---- */
struct iscsi_tgt_node *iscsi_tgt_node_find(const char *name);
/* Whether iname@addr, come in through portal group pg_tag, may use node. */
bool iscsi_tgt_node_access(const struct iscsi_tgt_node *node, int pg_tag, const char *iname,
			   const char *addr);
/* Whether node is reached through portal group pg_tag at all. */
bool iscsi_tgt_node_has_pg(const struct iscsi_tgt_node *node, int pg_tag);
/*
 * The SendTargets answer (RFC 7143 Appendix C): every node (or only `only`)
 * that iname@addr may see, with the portals of their mapped public portal
 * groups ("0.0.0.0" / "::" replaced with local_addr). Returns a malloc'd
 * buffer of *len bytes ("key=value\0"...), NULL with *len 0 when empty.
 */
char *iscsi_send_targets(const char *iname, const char *addr, const char *local_addr,
			 int pg_tag, const char *only, bool all, uint32_t *len);
void iscsi_tgt_node_delete_all(void);
void iscsi_tgt_node_session_gone(struct iscsi_tgt_node *node);
/* Full node name for a given name (node_base prefixed when not iqn./eui./naa.). */
void iscsi_tgt_node_full_name(const char *name, char *out, size_t outlen);

/* ---- auth.c (callers hold the mutex) ---- */
struct iscsi_auth_grp *iscsi_auth_grp_find(int tag);
void iscsi_auth_grp_delete_all(void);
/* iscsi_chap_lookup_fn over auth group (intptr_t)ctx. */
int iscsi_chap_lookup(void *ctx, const char *user, struct iscsi_chap_secret *out);
extern bool g_iscsi_disc_disable_chap;
extern bool g_iscsi_disc_require_chap;
extern bool g_iscsi_disc_mutual_chap;
extern int32_t g_iscsi_disc_chap_group;

/* ---- conn.c ---- */
void iscsi_conn_accepted(struct iscsi_poll_group *pg, struct osp_sock *sock, int portal_tag);
/* Drop the connection (no more I/O); frees it once its requests are back. */
void iscsi_conn_drop(struct iscsi_conn *conn, const char *why);
/* Read and dispatch what the socket has. */
void iscsi_conn_sock_cb(void *arg, struct osp_sock_group *group, struct osp_sock *sock);
struct iscsi_pdu *iscsi_pdu_get(struct iscsi_conn *conn, bool may_alloc);
/* Queue pdu (header, data iov / inline / owned) with digests and padding. */
void iscsi_conn_send_pdu(struct iscsi_conn *conn, struct iscsi_pdu *pdu, const void *data,
			 uint32_t len);
void iscsi_conn_send_pdu_iov(struct iscsi_conn *conn, struct iscsi_pdu *pdu,
			     const struct iovec *iov, int iovcnt, uint32_t len);
void iscsi_conn_flush(struct iscsi_conn *conn);
int iscsi_pg_poll(void *arg);
int iscsi_pg_timer(void *arg);
/* Dispatch one received PDU (header in conn->rx_bhs, data in conn->rx_data). */
void iscsi_conn_handle_pdu(struct iscsi_conn *conn);
void iscsi_conn_move_to_thread(struct iscsi_conn *conn, struct iscsi_session *sess);
int iscsi_conn_resize_rx(struct iscsi_conn *conn, uint32_t len);
int iscsi_conn_alloc_ffp(struct iscsi_conn *conn, uint32_t queue_depth);
void iscsi_conn_reject(struct iscsi_conn *conn, uint8_t reason);
/* Drop a reference taken with conn->in_cb++ (frees an exiting connection). */
void iscsi_conn_put(struct iscsi_conn *conn);
/* Free an exiting connection whose requests and PDUs are all back. */
void iscsi_conn_free_if_done(struct iscsi_conn *conn);
/* Poll-group thread: read how many connections are in each phase for RPCs. */
void iscsi_conn_json(struct iscsi_conn *conn, struct cJSON *obj);

/* ---- login.c ---- */
struct iscsi_login *iscsi_login_alloc(void);
void iscsi_login_free(struct iscsi_login *login);
void iscsi_login_handle_pdu(struct iscsi_conn *conn);
/* The session's thread continues a non-leading login moved there. */
void iscsi_login_continue_on_session(struct iscsi_conn *conn);

/* ---- session.c ---- */
/* Under the mutex: the session of (iname, isid, tsih), or of (iname, isid, node) if tsih 0. */
struct iscsi_session *iscsi_session_find(const char *iname, const uint8_t isid[6], uint16_t tsih,
		const char *target);
int iscsi_session_create(struct iscsi_conn *conn, struct iscsi_tgt_node *node,
			 const uint8_t isid[6], const struct iscsi_sess_params *params,
			 struct iscsi_session **out);
void iscsi_session_add_conn(struct iscsi_session *sess, struct iscsi_conn *conn);
void iscsi_session_remove_conn(struct iscsi_session *sess, struct iscsi_conn *conn);
/* Drop every connection of the session (reinstatement, node deletion, shutdown). */
void iscsi_session_drop(struct iscsi_session *sess);
/* Drop sessions matching (on their threads, by message). */
void iscsi_sessions_drop_matching(struct iscsi_tgt_node *node, const char *iname,
				  const uint8_t *isid, struct iscsi_session *except);
uint32_t iscsi_session_max_cmdsn(const struct iscsi_session *sess);
/*
 * CmdSN check for a non-immediate command: 0 accept (ExpCmdSN advanced),
 * -1 outside the window (discard silently, RFC 7143 3.2.2.1).
 */
int iscsi_session_check_cmdsn(struct iscsi_session *sess, uint32_t cmdsn, bool immediate);

/* ---- ffp.c ---- */
void iscsi_ffp_handle_pdu(struct iscsi_conn *conn);
void iscsi_req_continue_tx(struct iscsi_req *req);
void iscsi_req_pdu_sent(struct iscsi_req *req, struct iscsi_pdu *pdu, int err);
void iscsi_req_release(struct iscsi_req *req);
void iscsi_conn_abort_reqs(struct iscsi_conn *conn);
void iscsi_conn_send_nopin_ping(struct iscsi_conn *conn);
void iscsi_conn_send_async_logout(struct iscsi_conn *conn);
void iscsi_fill_sn(struct iscsi_conn *conn, uint32_t *statsn, uint32_t *exp_cmdsn,
		   uint32_t *max_cmdsn, bool advance);

#endif /* ISCSI_INTERNAL_H */
