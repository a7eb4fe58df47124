/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target: the target object, its NVM subsystems (namespaces backed
 * by bdevs, allowed hosts, listeners) and the discovery service.
 *
 * Threads: everything here is control plane and runs on the target's thread
 * (the app thread), which is also the thread that opens the namespaces'
 * bdevs and gets their hot-remove events. Set-up functions return 0 or a
 * negative errno; those taking (err, errlen) also write a reason a person
 * can act on ("nsid 5 is already in use by bdev Malloc1").
 */
#ifndef OSPREY_NVMF_H
#define OSPREY_NVMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osprey/nvmf_spec.h"
#include "osprey/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct osp_nvmf_tgt;
struct osp_nvmf_subsystem;
struct osp_nvmf_ns;
struct osp_nvmf_transport;

/* ---- transport addresses ---- */

/* A listen address (a "transport ID"): what nvmf_subsystem_add_listener takes. */
struct osp_nvmf_listen_addr {
	enum osp_nvmf_trtype trtype;
	enum osp_nvmf_adrfam adrfam;
	char traddr[OSP_NVMF_TRADDR_MAX_LEN + 1];
	char trsvcid[OSP_NVMF_TRSVCID_MAX_LEN + 1];
};

/*
 * Fill addr from the RPC strings: trtype "tcp"/"rdma" (any case), adrfam
 * "ipv4"/"ipv6"/"ib"/"fc" (NULL: ipv4 for TCP and RDMA), traddr (an IP
 * address of that family), trsvcid (a port 1..65535; NULL: 4420). Returns 0
 * or -EINVAL with the reason in err.
 */
int osp_nvmf_listen_addr_parse(struct osp_nvmf_listen_addr *addr, const char *trtype,
			       const char *adrfam, const char *traddr, const char *trsvcid,
			       char *err, size_t errlen);
/* "TCP", "RDMA", "FC", "INTRA_HOST" or NULL. */
const char *osp_nvmf_trtype_str(enum osp_nvmf_trtype trtype);
/* "IPv4", "IPv6", "IB", "FC", "INTRA_HOST" or NULL. */
const char *osp_nvmf_adrfam_str(enum osp_nvmf_adrfam adrfam);
bool osp_nvmf_listen_addr_equal(const struct osp_nvmf_listen_addr *a,
				const struct osp_nvmf_listen_addr *b);

/* ---- the target ---- */

/* The default target, created by the "nvmf" subsystem's init. NULL before/after. */
struct osp_nvmf_tgt *osp_nvmf_get_tgt(const char *name);
/*
 * Create a target named name (NULL: "nvmf_tgt") with at most max_subsystems
 * subsystems (0: 1024), holding the built-in discovery subsystem. NULL on
 * ENOMEM.
 */
struct osp_nvmf_tgt *osp_nvmf_tgt_create(const char *name, uint32_t max_subsystems);
/*
 * Destroy tgt: every subsystem (closing the namespaces' bdevs) and transport.
 * Its poll groups must be gone first (the "nvmf" subsystem's fini shuts them
 * down, disconnecting every connection, before calling this).
 */
void osp_nvmf_tgt_destroy(struct osp_nvmf_tgt *tgt);
const char *osp_nvmf_tgt_get_name(const struct osp_nvmf_tgt *tgt);
/*
 * Generation counter of the discovery log page: bumped on every change a
 * host could see there (subsystems, listeners, hosts, allow_any_host).
 */
uint64_t osp_nvmf_tgt_get_discovery_genctr(const struct osp_nvmf_tgt *tgt);

/*
 * Copy length bytes at offset of the discovery log page as host hostnqn
 * sees it into buf (Get Log Page, log identifier 70h): a 1024-byte header
 * (genctr, numrec, recfmt 0) and one 1024-byte entry per listener of each NVM
 * subsystem the host may connect to (the discovery subsystem's own listeners
 * are not listed). Bytes past the end of the page read as zero. Returns the
 * page's full size in bytes, or 0 on ENOMEM (buf then untouched).
 */
size_t osp_nvmf_get_discovery_log_page(struct osp_nvmf_tgt *tgt, const char *hostnqn,
				       void *buf, uint64_t offset, size_t length);

/* ---- subsystems ---- */

enum osp_nvmf_subsystem_type {
	OSP_NVMF_SUBTYPE_KIND_DISCOVERY,
	OSP_NVMF_SUBTYPE_KIND_NVME,
};

/*
 * States (SPDK's): a new subsystem is INACTIVE; start() makes it ACTIVE
 * (connections accepted); pause() stops new I/O while keeping connections;
 * resume() goes back to ACTIVE; stop() goes back to INACTIVE.
 */
enum osp_nvmf_subsystem_state {
	OSP_NVMF_SUBSYSTEM_INACTIVE,
	OSP_NVMF_SUBSYSTEM_ACTIVE,
	OSP_NVMF_SUBSYSTEM_PAUSED,
};

#define OSP_NVMF_SN_MAX_LEN 20
#define OSP_NVMF_MN_MAX_LEN 40
#define OSP_NVMF_DEFAULT_SN "00000000000000000000"
#define OSP_NVMF_DEFAULT_MN "Osprey bdev Controller"
#define OSP_NVMF_NSID_MAX 0xfffffffeu /* FFFFFFFFh is the broadcast value */
#define OSP_NVMF_MAX_HOSTS 1024

struct osp_nvmf_subsystem_opts {
	size_t opts_size;
	const char *serial_number;	/* NULL: OSP_NVMF_DEFAULT_SN; ≤20 printable ASCII */
	const char *model_number;	/* NULL: OSP_NVMF_DEFAULT_MN; ≤40 printable ASCII */
	bool allow_any_host;
	uint32_t max_namespaces;	/* 0: no limit but the nsid range (as SPDK) */
	uint16_t min_cntlid;		/* 0: 1 */
	uint16_t max_cntlid;		/* 0: 0xffef */
	bool ana_reporting;
};

void osp_nvmf_subsystem_opts_init(struct osp_nvmf_subsystem_opts *opts, size_t opts_size);

/*
 * Create an NVM subsystem. Returns 0, -EINVAL (bad NQN, serial, model,
 * cntlid range), -EEXIST (NQN in use; the discovery NQN is always in use),
 * -ENOSPC (max_subsystems reached), -ENOMEM.
 */
int osp_nvmf_subsystem_create(struct osp_nvmf_tgt *tgt, const char *nqn,
			      const struct osp_nvmf_subsystem_opts *opts,
			      struct osp_nvmf_subsystem **subsystem, char *err, size_t errlen);
/*
 * Remove subsystem from the target at once (hosts no longer find it, the
 * discovery log changes), disconnect its connections, and free it (closing
 * its namespaces, telling transports to stop listening on addresses no
 * longer used) once its last controller is gone and every poll group
 * released it; without connections that is before the call returns.
 * -EPERM for the discovery subsystem.
 */
int osp_nvmf_subsystem_destroy(struct osp_nvmf_subsystem *subsystem);
/*
 * Same, with cb_fn(cb_arg) on the target's thread once the subsystem is
 * freed (its connections gone). Not called when the return is not 0.
 */
int osp_nvmf_subsystem_destroy_ext(struct osp_nvmf_subsystem *subsystem,
				   void (*cb_fn)(void *cb_arg), void *cb_arg);
struct osp_nvmf_subsystem *osp_nvmf_tgt_find_subsystem(struct osp_nvmf_tgt *tgt,
		const char *nqn);
/* Creation order, discovery subsystem first. */
struct osp_nvmf_subsystem *osp_nvmf_subsystem_first(struct osp_nvmf_tgt *tgt);
struct osp_nvmf_subsystem *osp_nvmf_subsystem_next(struct osp_nvmf_subsystem *subsystem);

const char *osp_nvmf_subsystem_get_nqn(const struct osp_nvmf_subsystem *subsystem);
enum osp_nvmf_subsystem_type osp_nvmf_subsystem_get_type(const struct osp_nvmf_subsystem *s);
const char *osp_nvmf_subsystem_get_sn(const struct osp_nvmf_subsystem *subsystem);
const char *osp_nvmf_subsystem_get_mn(const struct osp_nvmf_subsystem *subsystem);
uint32_t osp_nvmf_subsystem_get_max_namespaces(const struct osp_nvmf_subsystem *subsystem);
uint16_t osp_nvmf_subsystem_get_min_cntlid(const struct osp_nvmf_subsystem *subsystem);
uint16_t osp_nvmf_subsystem_get_max_cntlid(const struct osp_nvmf_subsystem *subsystem);
bool osp_nvmf_subsystem_get_ana_reporting(const struct osp_nvmf_subsystem *subsystem);
enum osp_nvmf_subsystem_state osp_nvmf_subsystem_get_state(const struct osp_nvmf_subsystem *s);
/* "inactive", "active", "paused". */
const char *osp_nvmf_subsystem_state_str(enum osp_nvmf_subsystem_state state);

/*
 * State changes. cb_fn(subsystem, cb_arg, status) runs on the target's
 * thread when every poll group applied the change (before the call returns
 * when the target has no poll group). Returns 0, -EINVAL for a change not
 * allowed from the current state, -EBUSY while another change runs or the
 * subsystem is being deleted, -ENOMEM (then cb_fn is not called). Pausing
 * holds new commands of the subsystem (they run on resume, they do not fail)
 * and completes once the commands in flight finished; the namespace set may
 * then change safely. Resuming (and starting) gives every poll group the
 * current namespace set's I/O channels.
 */
typedef void (*osp_nvmf_subsystem_state_change_done)(struct osp_nvmf_subsystem *subsystem,
		void *cb_arg, int status);
int osp_nvmf_subsystem_start(struct osp_nvmf_subsystem *subsystem,
			     osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg);
int osp_nvmf_subsystem_stop(struct osp_nvmf_subsystem *subsystem,
			    osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg);
int osp_nvmf_subsystem_pause(struct osp_nvmf_subsystem *subsystem,
			     osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg);
int osp_nvmf_subsystem_resume(struct osp_nvmf_subsystem *subsystem,
			      osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg);

/* ---- hosts ---- */

/* -EINVAL (bad NQN), -EEXIST (already listed), -ENOSPC, -ENOMEM. */
int osp_nvmf_subsystem_add_host(struct osp_nvmf_subsystem *subsystem, const char *hostnqn,
				char *err, size_t errlen);
/* -ENOENT if not listed. */
int osp_nvmf_subsystem_remove_host(struct osp_nvmf_subsystem *subsystem, const char *hostnqn);
void osp_nvmf_subsystem_set_allow_any_host(struct osp_nvmf_subsystem *subsystem, bool allow);
bool osp_nvmf_subsystem_get_allow_any_host(const struct osp_nvmf_subsystem *subsystem);
/* Whether hostnqn may connect: allow_any_host, or hostnqn listed. NULL never may. */
bool osp_nvmf_subsystem_host_allowed(const struct osp_nvmf_subsystem *subsystem,
				     const char *hostnqn);
/* Listed host NQNs in the order added; NULL at the end. */
const char *osp_nvmf_subsystem_host_first(const struct osp_nvmf_subsystem *subsystem);
const char *osp_nvmf_subsystem_host_next(const struct osp_nvmf_subsystem *subsystem,
		const char *prev);

/* ---- namespaces ---- */

struct osp_nvmf_ns_opts {
	size_t opts_size;
	uint32_t nsid;		/* 0: the lowest free nsid */
	uint8_t nguid[16];	/* all zero: none */
	uint8_t eui64[8];	/* all zero: none */
	struct osp_uuid uuid;	/* null: the bdev's UUID */
};

void osp_nvmf_ns_opts_init(struct osp_nvmf_ns_opts *opts, size_t opts_size);

/*
 * Add a namespace backed by bdev_name (opened read-write with
 * osp_bdev_open_ext; when the bdev goes away the namespace is removed).
 * Returns the nsid (> 0) or -ENODEV (no such bdev), -EINVAL (nsid
 * 0xffffffff, discovery subsystem), -ERANGE (nsid > max_namespaces when
 * that is not 0),
 * -EEXIST (nsid in use), -ENOSPC (no free nsid), -EPERM (bdev claimed),
 * -EBUSY (the subsystem is active: pause it first), -ENOMEM.
 */
int osp_nvmf_subsystem_add_ns(struct osp_nvmf_subsystem *subsystem, const char *bdev_name,
			      const struct osp_nvmf_ns_opts *opts, char *err, size_t errlen);
/*
 * -ENOENT (no such nsid), -EBUSY (active: pause first). The namespace's bdev
 * is closed once no poll group holds its channel (at the next resume). Both
 * add and remove queue a Namespace Attribute Changed event for every
 * controller of the subsystem.
 */
int osp_nvmf_subsystem_remove_ns(struct osp_nvmf_subsystem *subsystem, uint32_t nsid);
struct osp_nvmf_ns *osp_nvmf_subsystem_get_ns(struct osp_nvmf_subsystem *subsystem,
		uint32_t nsid);
/* Ascending nsid. */
struct osp_nvmf_ns *osp_nvmf_subsystem_ns_first(struct osp_nvmf_subsystem *subsystem);
struct osp_nvmf_ns *osp_nvmf_subsystem_ns_next(struct osp_nvmf_subsystem *subsystem,
		struct osp_nvmf_ns *prev);
uint32_t osp_nvmf_ns_get_id(const struct osp_nvmf_ns *ns);
const char *osp_nvmf_ns_get_bdev_name(const struct osp_nvmf_ns *ns);
const struct osp_nvmf_ns_opts *osp_nvmf_ns_get_opts(const struct osp_nvmf_ns *ns);

/* ---- listeners ---- */

/*
 * Record addr as a listener of subsystem. The transport of addr->trtype
 * must have been created (nvmf_create_transport): -ENOTSUP if this build has
 * no such transport, -ENODEV if it was not created. The transport's listen()
 * is called the first time an address is used by any subsystem. -EEXIST if
 * subsystem already lists addr.
 */
int osp_nvmf_subsystem_add_listener(struct osp_nvmf_subsystem *subsystem,
				    const struct osp_nvmf_listen_addr *addr, char *err,
				    size_t errlen);
/* -ENOENT if not listed. */
int osp_nvmf_subsystem_remove_listener(struct osp_nvmf_subsystem *subsystem,
				       const struct osp_nvmf_listen_addr *addr);
/* Listeners in the order added; NULL at the end. */
const struct osp_nvmf_listen_addr *osp_nvmf_subsystem_listener_first(
	const struct osp_nvmf_subsystem *subsystem);
const struct osp_nvmf_listen_addr *osp_nvmf_subsystem_listener_next(
	const struct osp_nvmf_subsystem *subsystem, const struct osp_nvmf_listen_addr *prev);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_NVMF_H */
