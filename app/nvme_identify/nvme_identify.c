/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_identify: connect to an NVMe-oF controller with lib/nvme and print its
 * Identify Controller data, its active namespaces, or (for the discovery
 * NQN) the discovery log page, in a layout close to SPDK's identify tool.
 *
 *   nvme_identify -r 'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn...'
 *                 [--hostnqn NQN] [-H] [-I] [-k MS]
 *
 * The connection options are the initiator tools' (osp_tool.h), with the
 * letters of SPDK's perf; -D stays an alias of -I.
 *
 * Exit status 0 on success, 1 on any failure (the reason goes to stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/log.h"
#include "osprey/nvme.h"
#include "osprey/util.h"

#include "osp_tool.h"

static void
usage(const char *prog)
{
	printf("usage: %s -r TRID [options]\n"
	       "Connection (subnqn defaults to the discovery NQN; -D is -I):\n", prog);
	osp_tool_initiator_usage(stdout);
	printf("  -L, --logflag <flag>      enable a debug log flag (e.g. nvme)\n"
	       "  -h, --help                this text\n");
}

/* A space-padded ASCII field, trailing spaces removed, non-printables as '.'. */
static void
print_ascii(const char *label, const char *field, size_t len)
{
	char buf[64];
	size_t n = osp_strlen_pad(field, len, ' '), i;

	if (n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)field[i];

		buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
	}
	buf[n] = '\0';
	printf("%-39s%s\n", label, buf);
}

static const char *
yes_no(bool b)
{
	return b ? "Yes" : "No";
}

static const char *
supported(bool b)
{
	return b ? "Supported" : "Not Supported";
}

static void
print_hex(const char *label, const uint8_t *p, size_t n)
{
	size_t i;

	printf("%-39s", label);
	for (i = 0; i < n; i++) {
		printf("%02x", p[i]);
	}
	printf("\n");
}

static void
print_version(const char *label, uint32_t raw)
{
	union osp_nvme_vs_register vs = { .raw = raw };

	if (vs.bits.ter) {
		printf("%-39s%u.%u.%u\n", label, vs.bits.mjr, vs.bits.mnr, vs.bits.ter);
	} else {
		printf("%-39s%u.%u\n", label, vs.bits.mjr, vs.bits.mnr);
	}
}

static void
print_controller(struct osp_nvme_ctrlr *ctrlr)
{
	const struct osp_nvme_ctrlr_data *cd = osp_nvme_ctrlr_get_data(ctrlr);
	const struct osp_nvme_transport_id *trid = osp_nvme_ctrlr_get_transport_id(ctrlr);
	union osp_nvme_cap_register cap = osp_nvme_ctrlr_get_regs_cap(ctrlr);
	union osp_nvme_vs_register vs = osp_nvme_ctrlr_get_regs_vs(ctrlr);
	uint32_t sgls = cd->sgls;

	printf("=====================================================\n");
	printf("NVMe over Fabrics controller at %s:%s: %s\n", trid->traddr, trid->trsvcid,
	       trid->subnqn);
	printf("=====================================================\n");
	printf("Controller Capabilities/Features\n");
	printf("================================\n");
	printf("%-39s%04x\n", "Vendor ID:", cd->vid);
	printf("%-39s%04x\n", "Subsystem Vendor ID:", cd->ssvid);
	print_ascii("Serial Number:", cd->sn, sizeof(cd->sn));
	print_ascii("Model Number:", cd->mn, sizeof(cd->mn));
	print_ascii("Firmware Version:", cd->fr, sizeof(cd->fr));
	printf("%-39s%u\n", "Recommended Arb Burst:", cd->rab);
	printf("%-39s%02x %02x %02x\n", "IEEE OUI Identifier:", cd->ieee[0], cd->ieee[1],
	       cd->ieee[2]);
	printf("Multi-path I/O\n");
	printf("  %-37s%s\n", "May have multiple subsystem ports:",
	       yes_no(cd->cmic & OSP_NVME_CTRLR_CMIC_MULTI_PORT));
	printf("  %-37s%s\n", "May have multiple controllers:",
	       yes_no(cd->cmic & OSP_NVME_CTRLR_CMIC_MULTI_CTRLR));
	printf("  %-37s%s\n", "Associated with SR-IOV VF:", yes_no(cd->cmic & (1u << 2)));
	if (cd->mdts == 0) {
		printf("%-39s%s\n", "Max Data Transfer Size:", "Unlimited");
	} else {
		printf("%-39s%" PRIu64 "\n", "Max Data Transfer Size:",
		       (uint64_t)((1ull << cd->mdts) * (4096ull << cap.bits.mpsmin)));
	}
	printf("%-39s%u\n", "Max Number of Namespaces:", cd->nn);
	printf("%-39s%u\n", "Max Number of I/O Queues:", osp_nvme_ctrlr_get_num_io_queues(ctrlr));
	print_version("NVMe Specification Version (VS):", vs.raw);
	print_version("NVMe Specification Version (Identify):", cd->ver);
	printf("%-39s%u\n", "Maximum Queue Entries:", (unsigned)cap.bits.mqes + 1);
	printf("%-39s%s\n", "Contiguous Queues Required:", yes_no(cap.bits.cqr));
	printf("%-39s%u ms\n", "Reset Timeout:", (unsigned)cap.bits.to * 500);
	printf("%-39s%u\n", "Controller ID:", cd->cntlid);
	printf("%-39s%s\n", "Controller Type:",
	       cd->cntrltype == OSP_NVME_CTRLR_TYPE_IO ? "I/O Controller" :
	       cd->cntrltype == OSP_NVME_CTRLR_TYPE_DISCOVERY ? "Discovery Controller" :
	       cd->cntrltype == OSP_NVME_CTRLR_TYPE_ADMIN ? "Administrative Controller" :
	       "Not Reported");
	printf("%-39s%s\n", "Keep Alive:", supported(cd->kas != 0));
	if (cd->kas != 0) {
		printf("%-39s%u ms\n", "Keep Alive Granularity:", cd->kas * 100u);
	}
	printf("\n");
	printf("Admin Command Set Attributes\n");
	printf("============================\n");
	printf("%-39s%s\n", "Security Send/Receive:", supported(cd->oacs & OSP_NVME_CTRLR_OACS_SECURITY));
	printf("%-39s%s\n", "Format NVM:", supported(cd->oacs & OSP_NVME_CTRLR_OACS_FORMAT));
	printf("%-39s%s\n", "Firmware Activate/Download:",
	       supported(cd->oacs & OSP_NVME_CTRLR_OACS_FIRMWARE));
	printf("%-39s%s\n", "Namespace Management:",
	       supported(cd->oacs & OSP_NVME_CTRLR_OACS_NS_MANAGE));
	printf("%-39s%u\n", "Abort Command Limit:", cd->acl + 1u);
	printf("%-39s%u\n", "Async Event Request Limit:", cd->aerl + 1u);
	printf("%-39s%u\n", "Error Log Page Entries Supported:", cd->elpe + 1u);
	printf("\n");
	printf("NVM Command Set Attributes\n");
	printf("==========================\n");
	printf("Submission Queue Entry Size\n");
	printf("  %-37s%u\n", "Max:", 1u << (cd->sqes >> 4));
	printf("  %-37s%u\n", "Min:", 1u << (cd->sqes & 0xf));
	printf("Completion Queue Entry Size\n");
	printf("  %-37s%u\n", "Max:", 1u << (cd->cqes >> 4));
	printf("  %-37s%u\n", "Min:", 1u << (cd->cqes & 0xf));
	printf("%-39s%u\n", "Number of Namespaces:", cd->nn);
	printf("%-39s%s\n", "Compare Command:", supported(cd->oncs & OSP_NVME_CTRLR_ONCS_COMPARE));
	printf("%-39s%s\n", "Write Uncorrectable Command:",
	       supported(cd->oncs & OSP_NVME_CTRLR_ONCS_WRITE_UNC));
	printf("%-39s%s\n", "Dataset Management Command:",
	       supported(cd->oncs & OSP_NVME_CTRLR_ONCS_DSM));
	printf("%-39s%s\n", "Write Zeroes Command:",
	       supported(cd->oncs & OSP_NVME_CTRLR_ONCS_WRITE_ZEROES));
	printf("%-39s%s\n", "Set Features Save Field:",
	       supported(cd->oncs & OSP_NVME_CTRLR_ONCS_SAVE_SELECT));
	printf("%-39s%s\n", "Reservations:", supported(cd->oncs & OSP_NVME_CTRLR_ONCS_RESERVATIONS));
	printf("%-39s%s\n", "Timestamp:", supported(cd->oncs & OSP_NVME_CTRLR_ONCS_TIMESTAMP));
	printf("%-39s%s\n", "Copy:", supported(cd->oncs & OSP_NVME_CTRLR_ONCS_COPY));
	printf("%-39s%s\n", "Volatile Write Cache:", cd->vwc & OSP_NVME_CTRLR_VWC_PRESENT ?
	       "Present" : "Not Present");
	printf("%-39s%s\n", "Compare and Write Fused:",
	       supported(cd->fuses & OSP_NVME_CTRLR_FUSES_COMPARE_WRITE));
	printf("\n");
	printf("SGL Support\n");
	printf("===========\n");
	printf("%-39s%s\n", "SGL Supported:",
	       (sgls & OSP_NVME_CTRLR_SGLS_SUPPORTED_MASK) == 0 ? "No" :
	       (sgls & OSP_NVME_CTRLR_SGLS_SUPPORTED_MASK) == 2 ? "Yes (dword aligned)" : "Yes");
	printf("%-39s%s\n", "SGL Keyed:", supported(sgls & OSP_NVME_CTRLR_SGLS_KEYED_DATA_BLOCK));
	printf("%-39s%s\n", "SGL Bit Bucket Descriptor:",
	       supported(sgls & OSP_NVME_CTRLR_SGLS_BIT_BUCKET));
	printf("%-39s%s\n", "SGL Metadata Pointer:", supported(sgls & OSP_NVME_CTRLR_SGLS_MPTR_SGL));
	printf("%-39s%s\n", "Oversized SGL:",
	       supported(sgls & OSP_NVME_CTRLR_SGLS_LENGTH_LARGER_THAN_DATA));
	printf("%-39s%s\n", "SGL Offset:", supported(sgls & OSP_NVME_CTRLR_SGLS_ADDRESS_AS_OFFSET));
	printf("%-39s%s\n", "Transport SGL Data Block:",
	       supported(sgls & OSP_NVME_CTRLR_SGLS_TRANSPORT_DATA_BLOCK));
	printf("\n");
	printf("NVMe over Fabrics Attributes\n");
	printf("============================\n");
	printf("%-39s%s\n", "Subsystem NQN:", cd->subnqn);
	printf("%-39s%u bytes\n", "I/O Command Capsule Size:", cd->ioccsz * 16u);
	printf("%-39s%u bytes\n", "I/O Response Capsule Size:", cd->iorcsz * 16u);
	printf("%-39s%u\n", "In Capsule Data Offset:", cd->icdoff * 16u);
	printf("%-39s%s\n", "Controller Model:", cd->fcatt & 1 ? "Static" : "Dynamic");
	printf("%-39s%u\n", "Max SGL Data Block Descriptors:", cd->msdbd);
	printf("\n");
}

static void
print_namespace(struct osp_nvme_ns *ns)
{
	const struct osp_nvme_ns_data *nd = osp_nvme_ns_get_data(ns);
	uint32_t ss = osp_nvme_ns_get_sector_size(ns);
	const uint8_t *p;
	const struct osp_uuid *uuid;
	unsigned i, cur = osp_nvme_ns_flbas_index(nd->flbas);

	printf("Namespace ID:%u\n", osp_nvme_ns_get_id(ns));
	printf("%-39s%s (%02xh)\n", "Command Set Identifier:",
	       osp_nvme_ns_get_csi(ns) == OSP_NVME_CSI_NVM ? "NVM" : "Other",
	       osp_nvme_ns_get_csi(ns));
	printf("%-39s%s\n", "Deallocate:", supported(nd->dlfeat != 0 ||
						       (osp_nvme_ctrlr_get_data(
							       osp_nvme_ns_get_ctrlr(ns))->oncs &
							OSP_NVME_CTRLR_ONCS_DSM)));
	printf("%-39s%s\n", "Namespace Sharing Capabilities:",
	       nd->nmic & OSP_NVME_NS_NMIC_SHARED ? "Multiple Controllers" : "Private");
	printf("%-39s%" PRIu64 " (%" PRIu64 "MiB)\n", "Size (in LBAs):", (uint64_t)nd->nsze,
	       (uint64_t)nd->nsze * ss / (1024 * 1024));
	printf("%-39s%" PRIu64 " (%" PRIu64 "MiB)\n", "Capacity (in LBAs):", (uint64_t)nd->ncap,
	       (uint64_t)nd->ncap * ss / (1024 * 1024));
	printf("%-39s%" PRIu64 " (%" PRIu64 "MiB)\n", "Utilization (in LBAs):", (uint64_t)nd->nuse,
	       (uint64_t)nd->nuse * ss / (1024 * 1024));
	p = osp_nvme_ns_get_nguid(ns);
	if (p != NULL) {
		print_hex("NGUID:", p, 16);
	}
	p = osp_nvme_ns_get_eui64(ns);
	if (p != NULL) {
		print_hex("EUI64:", p, 8);
	}
	uuid = osp_nvme_ns_get_uuid(ns);
	if (uuid != NULL) {
		char s[OSP_UUID_STRING_LEN];

		osp_uuid_fmt_lower(s, sizeof(s), uuid);
		printf("%-39s%s\n", "UUID:", s);
	}
	printf("%-39s%s\n", "Thin Provisioning:", supported(nd->nsfeat & OSP_NVME_NS_NSFEAT_THIN_PROV));
	printf("%-39s%s\n", "Per-NS Atomic Units:", yes_no(nd->nsfeat & OSP_NVME_NS_NSFEAT_NAWUN_VALID));
	printf("%-39s%u\n", "Number of LBA Formats:", nd->nlbaf + 1u);
	printf("%-39sLBA Format #%02u\n", "Current LBA Format:", cur);
	for (i = 0; i <= nd->nlbaf && i < 64; i++) {
		printf("LBA Format #%02u: Data Size: %5u  Metadata Size: %5u\n", i,
		       nd->lbaf[i].lbads < 32 ? 1u << nd->lbaf[i].lbads : 0, nd->lbaf[i].ms);
	}
	printf("\n");
}

static const char *
subtype_str(uint8_t st)
{
	switch (st) {
	case OSP_NVMF_SUBTYPE_DISCOVERY_REFERRAL: return "Referral to a discovery service";
	case OSP_NVMF_SUBTYPE_NVME: return "NVM Subsystem";
	case OSP_NVMF_SUBTYPE_DISCOVERY_CURRENT: return "Current Discovery Subsystem";
	default: return "Unknown";
	}
}

static const char *
treq_str(uint8_t treq)
{
	switch (treq & 0x3) {
	case OSP_NVMF_TREQ_SECURE_CHANNEL_REQUIRED: return "Required";
	case OSP_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED: return "Not Required";
	default: return "Not Specified";
	}
}

/* A fixed-width, possibly unterminated, space-padded field of an untrusted entry. */
static void
field_str(char *out, size_t outsz, const char *field, size_t len)
{
	size_t n = osp_strlen_pad(field, len, ' '), i;

	n = strnlen(field, n);
	if (n >= outsz) {
		n = outsz - 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)field[i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
	}
	out[n] = '\0';
}

static int
print_discovery(struct osp_nvme_ctrlr *ctrlr)
{
	struct osp_nvmf_discovery_log_page *log;
	size_t size;
	uint64_t i;
	int rc;

	rc = osp_nvme_ctrlr_get_discovery_log(ctrlr, &log, &size);
	if (rc != 0) {
		fprintf(stderr, "nvme_identify: reading the discovery log page failed: %s\n",
			strerror(-rc));
		return 1;
	}
	printf("Discovery Log Page\n");
	printf("==================\n");
	printf("%-39s%" PRIu64 "\n", "Generation Counter:", (uint64_t)log->genctr);
	printf("%-39s%" PRIu64 "\n", "Number of Records:", (uint64_t)log->numrec);
	printf("%-39s%u\n", "Record Format:", log->recfmt);
	printf("\n");
	for (i = 0; i < log->numrec; i++) {
		const struct osp_nvmf_discovery_log_page_entry *e = &log->entries[i];
		char trsvcid[OSP_NVMF_TRSVCID_MAX_LEN + 1], traddr[OSP_NVMF_TRADDR_MAX_LEN + 1];
		char subnqn[OSP_NVMF_NQN_FIELD_SIZE + 1];
		const char *tr = osp_nvme_transport_id_trtype_str(e->trtype);
		const char *af = osp_nvme_transport_id_adrfam_str(e->adrfam);

		field_str(trsvcid, sizeof(trsvcid), e->trsvcid, sizeof(e->trsvcid));
		field_str(traddr, sizeof(traddr), e->traddr, sizeof(e->traddr));
		field_str(subnqn, sizeof(subnqn), e->subnqn, sizeof(e->subnqn));
		printf("Discovery Log Entry %" PRIu64 "\n", i);
		printf("----------------------\n");
		printf("%-39s%u (%s)\n", "Transport Type:", e->trtype, tr ? tr : "Unknown");
		printf("%-39s%u (%s)\n", "Address Family:", e->adrfam, af ? af : "Unknown");
		printf("%-39s%u (%s)\n", "Subsystem Type:", e->subtype, subtype_str(e->subtype));
		printf("Entry Flags:\n");
		printf("  %-37s%u\n", "Duplicate Returned Information:",
		       !!(e->eflags & OSP_NVMF_EFLAGS_DUPLICATE_RETURN_INFO));
		printf("  %-37s%u\n", "Explicit Persistent Connection:",
		       !!(e->eflags & OSP_NVMF_EFLAGS_EXPLICIT_PERSISTENT_CONN));
		printf("Transport Requirements:\n");
		printf("  %-37s%s\n", "Secure Channel:", treq_str(e->treq));
		printf("%-39s%u (0x%04x)\n", "Port ID:", e->portid, e->portid);
		printf("%-39s%u (0x%04x)\n", "Controller ID:", e->cntlid, e->cntlid);
		printf("%-39s%u\n", "Admin Max SQ Size:", e->asqsz);
		printf("%-39s%s\n", "Transport Service Identifier:", trsvcid);
		printf("%-39s%s\n", "NVM Subsystem Qualified Name:", subnqn);
		printf("%-39s%s\n", "Transport Address:", traddr);
		if (e->trtype == OSP_NVMF_TRTYPE_TCP) {
			printf("%-39s%s\n", "TCP Security Type:",
			       e->tsas.tcp.sectype == OSP_NVMF_TCP_SECTYPE_NONE ? "None" : "TLS");
		}
		printf("\n");
	}
	free(log);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		OSP_TOOL_INITIATOR_LONGOPTS,
		{ "logflag", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct osp_tool_initiator_opts conn;
	struct osp_nvme_transport_id trid;
	struct osp_nvme_ctrlr_opts opts;
	struct osp_nvme_connect_error err;
	struct osp_nvme_ctrlr *ctrlr;
	uint32_t nsid;
	int c, rc = 0;

	osp_tool_initiator_opts_init(&conn, 1);
	while ((c = getopt_long(argc, argv, OSP_TOOL_INITIATOR_SHORTOPTS "DL:h", longopts,
				NULL)) != -1) {
		rc = osp_tool_initiator_parse(&conn, c == 'D' ? 'I' : c, optarg);
		if (rc < 0) {
			fprintf(stderr, "nvme_identify: %s\n", conn.errmsg);
			return 1;
		}
		if (rc == 0) {
			continue;
		}
		switch (c) {
		case 'L':
			if (osp_log_set_flag(optarg) != 0) {
				fprintf(stderr, "nvme_identify: unknown log flag '%s'\n", optarg);
				return 1;
			}
			osp_log_set_print_level(OSP_LOG_DEBUG);
			osp_log_set_level(OSP_LOG_DEBUG);
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 1;
		}
	}
	rc = 0;
	if (conn.num_trids == 0 || optind != argc) {
		usage(argv[0]);
		return 1;
	}
	if (osp_tool_initiator_env_init(&conn, "nvme_identify") < 0) {
		fprintf(stderr, "nvme_identify: %s\n", conn.errmsg);
		return 1;
	}
	osp_nvme_ctrlr_opts_init(&opts, sizeof(opts));
	osp_tool_initiator_apply(&conn, &opts);

	ctrlr = osp_tool_initiator_connect(&conn, 0, &opts, &trid, &err);
	if (ctrlr == NULL) {
		fprintf(stderr, "nvme_identify: cannot connect to %s:%s (%s): %s failed: %s\n",
			trid.traddr, trid.trsvcid, trid.subnqn, err.step ? err.step : "connect",
			strerror(-err.rc));
		if (err.has_cpl) {
			fprintf(stderr, "nvme_identify: %s status: %s (sct 0x%x, sc 0x%02x)\n",
				err.step ? err.step : "command",
				osp_nvme_cpl_status_string(&err.cpl), err.cpl.status.sct,
				err.cpl.status.sc);
		}
		return 1;
	}

	print_controller(ctrlr);
	if (osp_nvme_ctrlr_is_discovery(ctrlr)) {
		rc = print_discovery(ctrlr);
	} else {
		printf("Active Namespaces\n");
		printf("=================\n");
		if (osp_nvme_ctrlr_get_first_active_ns(ctrlr) == 0) {
			printf("No active namespaces\n\n");
		}
		for (nsid = osp_nvme_ctrlr_get_first_active_ns(ctrlr); nsid != 0;
		     nsid = osp_nvme_ctrlr_get_next_active_ns(ctrlr, nsid)) {
			/* ns: in the -r names the one namespace to show. */
			if (conn.exts[0].nsid == 0 || conn.exts[0].nsid == nsid) {
				print_namespace(osp_nvme_ctrlr_get_ns(ctrlr, nsid));
			}
		}
		if (conn.exts[0].nsid != 0 &&
		    osp_nvme_ctrlr_get_ns(ctrlr, conn.exts[0].nsid) == NULL) {
			fprintf(stderr, "nvme_identify: namespace %u (ns: of -r) is not active\n",
				conn.exts[0].nsid);
			rc = 1;
		}
	}
	osp_nvme_detach(ctrlr);
	return rc;
}
