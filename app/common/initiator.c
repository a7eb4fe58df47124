/* SPDX-License-Identifier: BSD-3-Clause */
/* The initiator tools' connection options, with SPDK perf's letters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/env.h"
#include "osprey/util.h"

#include "osp_tool.h"

void
osp_tool_initiator_opts_init(struct osp_tool_initiator_opts *o, uint32_t max_trids)
{
	memset(o, 0, sizeof(*o));
	if (max_trids == 0 || max_trids > OSP_TOOL_INITIATOR_MAX_TRIDS) {
		max_trids = OSP_TOOL_INITIATOR_MAX_TRIDS;
	}
	o->max_trids = max_trids;
}

static int
parse_u32_range(const char *arg, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (osp_parse_u64(arg, 10, &v) != 0 || v < min || v > max) {
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int
osp_tool_initiator_parse(struct osp_tool_initiator_opts *o, int ch, const char *arg)
{
	o->errmsg[0] = '\0';
	switch (ch) {
	case 'r':
		if (o->num_trids == o->max_trids) {
			snprintf(o->errmsg, sizeof(o->errmsg), "at most %u -r (transport id) option%s",
				 o->max_trids, o->max_trids == 1 ? "" : "s");
			return -EINVAL;
		}
		if (osp_nvme_transport_id_parse_ext(&o->trids[o->num_trids], &o->exts[o->num_trids],
						    arg) != 0) {
			/* The parser logged the key and why just before. */
			snprintf(o->errmsg, sizeof(o->errmsg), "invalid transport id '%.300s' (-r "
				 "'trtype:TCP adrfam:IPv4 traddr:ADDR trsvcid:PORT subnqn:NQN', see "
				 "the line above)", arg);
			return -EINVAL;
		}
		o->trid_strs[o->num_trids++] = arg;
		return 0;
	case 'H':
		o->header_digest = true;
		return 0;
	case 'I':
		o->data_digest = true;
		return 0;
	case 'k':
		if (parse_u32_range(arg, 0, OSP_TOOL_KATO_MAX_MS, &o->kato_ms) != 0) {
			snprintf(o->errmsg, sizeof(o->errmsg), "invalid keep alive timeout '%s' (-k: ms "
				 "from 0 (keep alive off) to %u)", arg, OSP_TOOL_KATO_MAX_MS);
			return -EINVAL;
		}
		o->kato_set = true;
		return 0;
	case OSP_TOOL_OPT_HOSTNQN: {
		char why[200];

		if (strlen(arg) >= sizeof(o->hostnqn)) {
			snprintf(why, sizeof(why), "longer than %u bytes", OSP_NVME_NQN_MAX_LEN);
		} else if (osp_nqn_check(arg, why, sizeof(why)) == 0) {
			snprintf(o->hostnqn, sizeof(o->hostnqn), "%s", arg);
			return 0;
		}
		snprintf(o->errmsg, sizeof(o->errmsg), "invalid host NQN '%.250s' (--hostnqn: %s)",
			 arg, why);
		return -EINVAL;
	}
	case OSP_TOOL_OPT_IO_QUEUE_SIZE:
		if (parse_u32_range(arg, 2, 65536, &o->io_queue_size) != 0) {
			snprintf(o->errmsg, sizeof(o->errmsg), "invalid I/O queue size '%s' "
				 "(--io-queue-size: 2 to 65536 entries)", arg);
			return -EINVAL;
		}
		return 0;
	case OSP_TOOL_OPT_DISABLE_SQ_FC:
		o->disable_sq_fc = true;
		return 0;
	default:
		return 1;
	}
}

void
osp_tool_initiator_apply(const struct osp_tool_initiator_opts *o,
			 struct osp_nvme_ctrlr_opts *copts)
{
	copts->header_digest = o->header_digest;
	copts->data_digest = o->data_digest;
	copts->disable_sq_flow_control = o->disable_sq_fc;
	if (o->kato_set) {
		copts->keep_alive_timeout_ms = o->kato_ms;
	}
	if (o->io_queue_size != 0) {
		copts->io_queue_size = o->io_queue_size;
	}
	if (o->hostnqn[0] != '\0') {
		snprintf(copts->hostnqn, sizeof(copts->hostnqn), "%s", o->hostnqn);
	}
}

struct osp_nvme_ctrlr *
osp_tool_initiator_connect(const struct osp_tool_initiator_opts *o, uint32_t i,
			   const struct osp_nvme_ctrlr_opts *copts, struct osp_nvme_transport_id *used,
			   struct osp_nvme_connect_error *err)
{
	const struct osp_nvme_trid_ext *ext = &o->exts[i];
	struct osp_nvme_ctrlr_opts c = *copts;
	struct osp_nvme_ctrlr *ctrlr;

	if (ext->hostnqn[0] != '\0') {
		snprintf(c.hostnqn, sizeof(c.hostnqn), "%s", ext->hostnqn);
	}
	snprintf(c.src_addr, sizeof(c.src_addr), "%s", ext->hostaddr);
	snprintf(c.src_svcid, sizeof(c.src_svcid), "%s", ext->hostsvcid);
	*used = o->trids[i];
	ctrlr = osp_nvme_connect_ext(used, &c, sizeof(c), err);
	if (ctrlr != NULL || ext->alt_traddr[0] == '\0') {
		return ctrlr;
	}
	fprintf(stderr, "Note: cannot connect to traddr %s (%s at step '%s'): trying alt_traddr %s\n",
		used->traddr, strerror(err->rc < 0 ? -err->rc : EIO), err->step ? err->step : "?",
		ext->alt_traddr);
	snprintf(used->traddr, sizeof(used->traddr), "%s", ext->alt_traddr);
	return osp_nvme_connect_ext(used, &c, sizeof(c), err);
}

void
osp_tool_initiator_usage(FILE *f)
{
	fprintf(f,
		"  -r, --transport <trid>    'trtype:TCP adrfam:IPv4 traddr:ADDR trsvcid:PORT subnqn:NQN'\n"
		"                            or trtype:RDMA with the same keys (NVMe/RDMA: RoCE,\n"
		"                            iWARP, InfiniBand through rdma_cm)\n"
		"                            or 'trtype:PCIe traddr:0000:00:04.0' (a local NVMe SSD\n"
		"                            bound to vfio-pci/uio_pci_generic by scripts/setup.sh);\n"
		"                            also SPDK's keys: hostnqn:NQN (of the Connect),\n"
		"                            hostaddr:IP hostsvcid:PORT (local address/port bound;\n"
		"                            I/O queue n uses PORT+n), ns:NSID (only that namespace),\n"
		"                            alt_traddr:IP (tried when traddr fails), priority:N\n"
		"                            (SO_PRIORITY of the sockets); hostaddr, hostsvcid and\n"
		"                            priority are TCP only\n"
		"  -H, --enable-tcp-hdgst    NVMe/TCP header digest (also --hdgst)\n"
		"  -I, --enable-tcp-ddgst    NVMe/TCP data digest (also --ddgst)\n"
		"  -k, --keepalive <ms>      keep alive timeout (default 10000, 0: off; also\n"
		"                            --keep-alive, --keep-alive-ms): a target that does\n"
		"                            not answer Keep Alive within it fails the tool\n"
		"      --hostnqn <nqn>       host NQN (default: a per-process UUID NQN)\n"
		"      --io-queue-size <n>   entries per I/O queue (2..65536)\n"
		"      --disable-sq-fc       ask I/O queues to disable SQ flow control (lets an\n"
		"                            NVMe/TCP target end reads with C2HData SUCCESS)\n");
}

static bool g_tool_env_started;

int
osp_tool_initiator_env_init(struct osp_tool_initiator_opts *o, const char *name)
{
	/* The env keeps pointers to the allow list: static storage. */
	static const char *allowed[OSP_TOOL_INITIATOR_MAX_TRIDS];
	struct osp_env_opts eo;
	size_t n = 0;
	uint32_t i;
	int rc;
	bool rdma = false;

	for (i = 0; i < o->num_trids; i++) {
		if (o->trids[i].trtype == OSP_NVME_TRANSPORT_PCIE) {
			allowed[n++] = o->trids[i].traddr;
		}
		/* NVMe/RDMA: I/O buffers in env DMA memory are registered once (no copies). */
		if (o->trids[i].trtype == OSP_NVME_TRANSPORT_RDMA) {
			rdma = true;
		}
	}
	if ((n == 0 && !rdma) || g_tool_env_started) {
		return g_tool_env_started ? 1 : 0;
	}
	osp_env_opts_init(&eo);
	eo.name = name;
	eo.pci_enabled = n > 0;
	if (n == 0) {
		/*
		 * RDMA only: the buffers (queue depth x I/O size) need little, and
		 * all of it is registered with the device at connect: 64 MiB took
		 * ~3 s on soft-RoCE in a TCG guest, 256 MiB more than a minute.
		 */
		eo.mem_size_mb = 64;
	}
	eo.pci_allowed = allowed;
	eo.num_pci_allowed = n;
	rc = osp_env_init(&eo);
	if (rc != 0) {
		if (n == 0) {
			snprintf(o->errmsg, sizeof(o->errmsg), "cannot start the env (DMA memory for "
				 "NVMe/RDMA buffers): %s", strerror(-rc));
			return rc;
		}
		snprintf(o->errmsg, sizeof(o->errmsg), "cannot start the env for PCIe: %s (hugepages "
			 "and a device bound by scripts/setup.sh are needed)", strerror(-rc));
		return rc;
	}
	g_tool_env_started = true;
	return 1;
}

void *
osp_tool_io_buf_alloc(size_t len)
{
	void *buf = NULL;

	if (g_tool_env_started) {
		return osp_dma_zmalloc(len, 4096, NULL);
	}
	if (posix_memalign(&buf, 4096, len) != 0) {
		return NULL;
	}
	memset(buf, 0, len);
	return buf;
}

void
osp_tool_io_buf_free(void *buf)
{
	if (g_tool_env_started) {
		osp_dma_free(buf);
	} else {
		free(buf);
	}
}
