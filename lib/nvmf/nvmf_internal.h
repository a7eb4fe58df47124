/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/nvmf private structures, shared by nvmf.c, transport.c and nvmf_rpc.c. */
#ifndef NVMF_INTERNAL_H
#define NVMF_INTERNAL_H

#include "osprey/bdev.h"
#include "osprey/nvmf.h"
#include "osprey/nvmf_transport.h"
#include "osprey/queue.h"

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
};

/* Bump the discovery generation counter (any change a host could see in the log page). */
void nvmf_tgt_discovery_changed(struct osp_nvmf_tgt *tgt);
/* Destroy every transport of tgt (tgt_destroy). */
void nvmf_tgt_destroy_transports(struct osp_nvmf_tgt *tgt);
/* Set the default target (the "nvmf" subsystem). */
void nvmf_set_default_tgt(struct osp_nvmf_tgt *tgt);

#endif
