/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iscsi: the iSCSI target (RFC 7143, ErrorRecoveryLevel 0).
 *
 * Objects (all configured on the app thread, through these functions or the
 * iscsi_* JSON-RPC methods that call them):
 *   portal group     a tag and the addresses it listens on
 *   initiator group  a tag, initiator names (or "ANY", "!name" denies) and
 *                    netmasks ("ANY", "a.b.c.d/len", "[v6]/len")
 *   target node      an iSCSI name over one SCSI device (its LUNs), reached
 *                    through (portal group, initiator group) pairs, with its
 *                    CHAP settings and queue depth
 *   auth group       a tag and CHAP secrets (user, secret, mutual user and
 *                    secret)
 * Connections are spread over one poll group per core ("iscsi_poll_group_<core>"
 * threads); a session and all of its connections live on one of them.
 *
 * Set-up functions return 0 or a negative errno and, where they take
 * (err, errlen), write a reason a person can act on.
 */
#ifndef OSPREY_ISCSI_H
#define OSPREY_ISCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OSP_ISCSI_MAX_PORTALS_PER_PG	64
#define OSP_ISCSI_MAX_INITIATORS	256	/* names or netmasks per initiator group */
#define OSP_ISCSI_MAX_PG_IG_MAPS	256
#define OSP_ISCSI_MAX_CHAP_NAME		255

/* Global options: SPDK's iscsi_set_options parameters and defaults. */
struct osp_iscsi_opts {
	size_t opts_size;
	char auth_file[4096];			/* CHAP secrets file ("" = none) */
	char node_base[224];			/* prefix of names without "iqn."/"eui."/"naa." */
	uint32_t nop_timeout;			/* s: a ping unanswered this long drops the connection */
	uint32_t nop_in_interval;		/* s between target NOP-In pings of an idle connection */
	bool disable_chap;			/* discovery sessions: AuthMethod=None */
	bool require_chap;			/* discovery sessions: CHAP required */
	bool mutual_chap;			/* discovery sessions: mutual CHAP required */
	int32_t chap_group;			/* discovery sessions' auth group tag (0 = none) */
	uint32_t max_sessions;
	uint32_t max_connections_per_session;
	uint32_t max_queue_depth;		/* per session, the CmdSN window */
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t first_burst_length;
	uint32_t max_burst_length;
	uint32_t max_recv_data_segment_length;
	bool immediate_data;
	uint32_t error_recovery_level;		/* only 0 */
	bool allow_duplicated_isid;
	uint32_t max_large_datain_per_connection;
	uint32_t max_r2t_per_connection;	/* R2Ts outstanding per command (MaxOutstandingR2T) */
	uint32_t pdu_pool_size;
	uint32_t immediate_data_pool_size;
	uint32_t data_out_pool_size;
};

/* Fill opts with the defaults (opts_size = the caller's sizeof). */
void osp_iscsi_opts_init(struct osp_iscsi_opts *opts, size_t opts_size);
/* Current options. */
void osp_iscsi_get_opts(struct osp_iscsi_opts *opts, size_t opts_size);
/*
 * Set options: only before the "iscsi" subsystem is initialized (-EPERM
 * after). -EINVAL with the reason for values out of range.
 */
int osp_iscsi_set_opts(const struct osp_iscsi_opts *opts, char *err, size_t errlen);

/* ---- portal groups ---- */
/*
 * Create portal group tag (1..65535) listening on each host:port
 * ("127.0.0.1", "[::1]" or "::1", port 1..65535 or 0 for an ephemeral one).
 * private: not listed in SendTargets. The listeners open at once unless
 * wait is set (then osp_iscsi_portal_grp_start()). -EEXIST, -EINVAL, or the
 * listen errno.
 */
int osp_iscsi_portal_grp_create(int tag, const char *const *hosts, const char *const *ports,
				int count, bool is_private, bool wait, char *err, size_t errlen);
int osp_iscsi_portal_grp_start(int tag, char *err, size_t errlen);
/* Close the listeners; connections already in stay. -ENOENT, -EBUSY (mapped). */
int osp_iscsi_portal_grp_delete(int tag, char *err, size_t errlen);

/* ---- initiator groups ---- */
int osp_iscsi_init_grp_create(int tag, const char *const *names, int nnames,
			      const char *const *masks, int nmasks, char *err, size_t errlen);
int osp_iscsi_init_grp_add(int tag, const char *const *names, int nnames,
			   const char *const *masks, int nmasks, char *err, size_t errlen);
int osp_iscsi_init_grp_remove(int tag, const char *const *names, int nnames,
			      const char *const *masks, int nmasks, char *err, size_t errlen);
int osp_iscsi_init_grp_delete(int tag, char *err, size_t errlen);

/* ---- target nodes ---- */
struct osp_iscsi_tgt_node_opts {
	const char *name;			/* full name, or appended to node_base */
	const char *alias;
	const char *const *bdev_names;
	const int *lun_ids;			/* -1: next free */
	int nluns;
	const int *pg_tags;
	const int *ig_tags;
	int nmaps;
	uint32_t queue_depth;			/* 0: max_queue_depth */
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
	bool header_digest;			/* require CRC32C header digests */
	bool data_digest;
};
int osp_iscsi_tgt_node_create(const struct osp_iscsi_tgt_node_opts *opts, char *err,
			      size_t errlen);
/*
 * Delete: its sessions are dropped first; cb(cb_arg, rc) on the app thread
 * when the node and its SCSI device are gone. -ENOENT without cb.
 */
int osp_iscsi_tgt_node_delete(const char *name, void (*cb)(void *cb_arg, int rc), void *cb_arg,
			      char *err, size_t errlen);
int osp_iscsi_tgt_node_add_lun(const char *name, const char *bdev_name, int lun_id,
			       char *err, size_t errlen);
int osp_iscsi_tgt_node_add_maps(const char *name, const int *pg_tags, const int *ig_tags,
				int nmaps, char *err, size_t errlen);
int osp_iscsi_tgt_node_remove_maps(const char *name, const int *pg_tags, const int *ig_tags,
				   int nmaps, char *err, size_t errlen);
int osp_iscsi_tgt_node_set_auth(const char *name, bool disable_chap, bool require_chap,
				bool mutual_chap, int32_t chap_group, char *err, size_t errlen);

/* ---- auth groups and discovery auth ---- */
int osp_iscsi_auth_grp_create(int tag, char *err, size_t errlen);
int osp_iscsi_auth_grp_delete(int tag, char *err, size_t errlen);
int osp_iscsi_auth_grp_add_secret(int tag, const char *user, const char *secret,
				  const char *muser, const char *msecret, char *err, size_t errlen);
int osp_iscsi_auth_grp_remove_secret(int tag, const char *user, char *err, size_t errlen);
int osp_iscsi_set_discovery_auth(bool disable_chap, bool require_chap, bool mutual_chap,
				 int32_t chap_group, char *err, size_t errlen);
/*
 * Load auth groups from a secrets file (SPDK's format: [AuthGroupN] sections
 * with Auth "user" "secret" ["muser" "msecret"] lines). -EINVAL with the line.
 */
int osp_iscsi_auth_load_file(const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_ISCSI_H */
