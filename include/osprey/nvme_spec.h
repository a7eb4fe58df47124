/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe wire formats (NVM Express Base Specification 2.0). Field names follow
 * the specification. This header grows with the NVMe driver and target.
 */
#ifndef OSPREY_NVME_SPEC_H
#define OSPREY_NVME_SPEC_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Submission queue entry (Figure "Common Command Format"). */
struct osp_nvme_cmd {
	uint8_t opc;
	uint8_t fuse : 2;
	uint8_t rsvd1 : 4;
	uint8_t psdt : 2;
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	uint64_t prp1;	/* or SGL descriptor bytes 0-7 */
	uint64_t prp2;	/* or SGL descriptor bytes 8-15 */
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_cmd) == 64, "NVMe SQE is 64 bytes");

/* Status code types. */
enum osp_nvme_sct {
	OSP_NVME_SCT_GENERIC = 0x0,
	OSP_NVME_SCT_COMMAND_SPECIFIC = 0x1,
	OSP_NVME_SCT_MEDIA_ERROR = 0x2,
	OSP_NVME_SCT_PATH = 0x3,
	OSP_NVME_SCT_VENDOR_SPECIFIC = 0x7,
};

/* Generic command status codes (a subset; more as they are needed). */
enum osp_nvme_generic_sc {
	OSP_NVME_SC_SUCCESS = 0x00,
	OSP_NVME_SC_INVALID_OPCODE = 0x01,
	OSP_NVME_SC_INVALID_FIELD = 0x02,
	OSP_NVME_SC_COMMAND_ID_CONFLICT = 0x03,
	OSP_NVME_SC_DATA_TRANSFER_ERROR = 0x04,
	OSP_NVME_SC_ABORTED_POWER_LOSS = 0x05,
	OSP_NVME_SC_INTERNAL_DEVICE_ERROR = 0x06,
	OSP_NVME_SC_ABORTED_BY_REQUEST = 0x07,
	OSP_NVME_SC_ABORTED_SQ_DELETION = 0x08,
	OSP_NVME_SC_ABORTED_FAILED_FUSED = 0x09,
	OSP_NVME_SC_ABORTED_MISSING_FUSED = 0x0a,
	OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT = 0x0b,
	OSP_NVME_SC_COMMAND_SEQUENCE_ERROR = 0x0c,
	OSP_NVME_SC_LBA_OUT_OF_RANGE = 0x80,
	OSP_NVME_SC_CAPACITY_EXCEEDED = 0x81,
	OSP_NVME_SC_NAMESPACE_NOT_READY = 0x82,
};

/* Media and data integrity errors. */
enum osp_nvme_media_error_sc {
	OSP_NVME_SC_WRITE_FAULTS = 0x80,
	OSP_NVME_SC_UNRECOVERED_READ_ERROR = 0x81,
	OSP_NVME_SC_COMPARE_FAILURE = 0x85,
	OSP_NVME_SC_ACCESS_DENIED = 0x86,
};

/* NVM command set opcodes. */
enum osp_nvme_nvm_opcode {
	OSP_NVME_OPC_FLUSH = 0x00,
	OSP_NVME_OPC_WRITE = 0x01,
	OSP_NVME_OPC_READ = 0x02,
	OSP_NVME_OPC_WRITE_UNCORRECTABLE = 0x04,
	OSP_NVME_OPC_COMPARE = 0x05,
	OSP_NVME_OPC_WRITE_ZEROES = 0x08,
	OSP_NVME_OPC_DATASET_MANAGEMENT = 0x09,
};

/*
 * Everything below is little-endian on the wire; the structs describe the
 * layout on a little-endian host (x86-64, aarch64), which is all Osprey
 * supports. Figure/section numbers are from NVM Express Base Specification 2.0
 * unless stated otherwise.
 */

/* Status field of a completion queue entry (§4.6.1, Figure 93 and 94). */
struct osp_nvme_status {
	uint16_t p : 1;	  /* phase tag (not used by fabrics) */
	uint16_t sc : 8;  /* status code */
	uint16_t sct : 3; /* status code type (enum osp_nvme_sct) */
	uint16_t crd : 2; /* command retry delay */
	uint16_t m : 1;	  /* more */
	uint16_t dnr : 1; /* do not retry */
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_status) == 2, "status field is 2 bytes");

/* Completion queue entry (§4.6.1, Figure 90). */
struct osp_nvme_cpl {
	uint32_t cdw0; /* command specific */
	uint32_t cdw1; /* command specific (reserved for most commands) */
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	union {
		uint16_t raw;
		struct osp_nvme_status status;
	};
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_cpl) == 16, "NVMe CQE is 16 bytes");

/* Status field bits as shifts/masks, for code that builds the raw value. */
#define OSP_NVME_STATUS_P_SHIFT 0
#define OSP_NVME_STATUS_SC_SHIFT 1
#define OSP_NVME_STATUS_SCT_SHIFT 9
#define OSP_NVME_STATUS_CRD_SHIFT 12
#define OSP_NVME_STATUS_M_SHIFT 14
#define OSP_NVME_STATUS_DNR_SHIFT 15

/*
 * Status helpers, the one encoding of the status field for the target
 * (lib/nvmf) and the host (lib/nvme, bdev_nvme, the apps). A "status field"
 * value below is the 16-bit DW3 upper half with the phase tag clear: SC, SCT,
 * CRD, M and DNR in their places. The phase tag belongs to a PCIe queue, not
 * to whoever sets a status, so setters keep it.
 */

/* The status field for sct/sc with DNR as given (CRD and M clear). */
static inline uint16_t
osp_nvme_status_field(unsigned sct, unsigned sc, bool dnr)
{
	return (uint16_t)((sc & 0xffu) << OSP_NVME_STATUS_SC_SHIFT |
			  (sct & 0x7u) << OSP_NVME_STATUS_SCT_SHIFT |
			  (dnr ? 1u : 0u) << OSP_NVME_STATUS_DNR_SHIFT);
}

/* cpl's status field (phase tag cleared): 0 when nothing at all is reported. */
static inline uint16_t
osp_nvme_cpl_status_field(const struct osp_nvme_cpl *cpl)
{
	return (uint16_t)(cpl->raw & ~(1u << OSP_NVME_STATUS_P_SHIFT));
}

/* Set cpl's status field to field (from osp_nvme_status_field()), keeping the phase tag. */
static inline void
osp_nvme_cpl_set_status_field(struct osp_nvme_cpl *cpl, uint16_t field)
{
	cpl->raw = (uint16_t)((cpl->raw & (1u << OSP_NVME_STATUS_P_SHIFT)) |
			      (field & ~(1u << OSP_NVME_STATUS_P_SHIFT)));
}

/* Set cpl's status to sct/sc and DNR as given; CRD and M cleared, phase tag kept. */
static inline void
osp_nvme_cpl_set_status(struct osp_nvme_cpl *cpl, unsigned sct, unsigned sc, bool dnr)
{
	osp_nvme_cpl_set_status_field(cpl, osp_nvme_status_field(sct, sc, dnr));
}

/*
 * True when the status reports an error: SCT or SC not zero (§4.6.1.2: SCT 0
 * SC 0 is Successful Completion whatever CRD, M and DNR say).
 */
static inline bool
osp_nvme_status_is_error(const struct osp_nvme_status *status)
{
	return status->sct != OSP_NVME_SCT_GENERIC || status->sc != OSP_NVME_SC_SUCCESS;
}

/* True when cpl carries an error status (osp_nvme_status_is_error()). */
static inline bool
osp_nvme_cpl_is_error(const struct osp_nvme_cpl *cpl)
{
	return osp_nvme_status_is_error(&cpl->status);
}

/* True when cpl's status is sct/sc (CRD, M and DNR not compared). */
static inline bool
osp_nvme_cpl_is_status(const struct osp_nvme_cpl *cpl, unsigned sct, unsigned sc)
{
	return cpl->status.sct == sct && cpl->status.sc == sc;
}

/* More generic status codes (Figure 95) used by fabrics and TCP. */
#define OSP_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR 0x0d
#define OSP_NVME_SC_INVALID_NUM_SGL_DESCRIPTORS 0x0e
#define OSP_NVME_SC_DATA_SGL_LENGTH_INVALID 0x0f
#define OSP_NVME_SC_METADATA_SGL_LENGTH_INVALID 0x10
#define OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID 0x11
#define OSP_NVME_SC_INVALID_CONTROLLER_MEM_BUF 0x12
#define OSP_NVME_SC_INVALID_PRP_OFFSET 0x13
#define OSP_NVME_SC_ATOMIC_WRITE_UNIT_EXCEEDED 0x14
#define OSP_NVME_SC_OPERATION_DENIED 0x15
#define OSP_NVME_SC_INVALID_SGL_OFFSET 0x16
#define OSP_NVME_SC_HOSTID_INCONSISTENT_FORMAT 0x18
#define OSP_NVME_SC_KEEP_ALIVE_EXPIRED 0x19
#define OSP_NVME_SC_KEEP_ALIVE_INVALID 0x1a
#define OSP_NVME_SC_COMMAND_ABORTED_PREEMPT 0x1b
#define OSP_NVME_SC_SANITIZE_FAILED 0x1c
#define OSP_NVME_SC_SANITIZE_IN_PROGRESS 0x1d
#define OSP_NVME_SC_SGL_DATA_BLOCK_GRANULARITY_INVALID 0x1e
#define OSP_NVME_SC_COMMAND_INVALID_IN_CMB 0x1f
#define OSP_NVME_SC_NAMESPACE_IS_WRITE_PROTECTED 0x20
#define OSP_NVME_SC_COMMAND_INTERRUPTED 0x21
#define OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR 0x22
#define OSP_NVME_SC_RESERVATION_CONFLICT 0x83
#define OSP_NVME_SC_FORMAT_IN_PROGRESS 0x84

/* Command specific status codes (Figure 97) for admin commands. */
#define OSP_NVME_SC_INVALID_QUEUE_IDENTIFIER 0x01
#define OSP_NVME_SC_INVALID_QUEUE_SIZE 0x02
#define OSP_NVME_SC_ABORT_COMMAND_LIMIT_EXCEEDED 0x03
#define OSP_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED 0x05
#define OSP_NVME_SC_INVALID_FIRMWARE_SLOT 0x06
#define OSP_NVME_SC_INVALID_FIRMWARE_IMAGE 0x07
#define OSP_NVME_SC_INVALID_INTERRUPT_VECTOR 0x08
#define OSP_NVME_SC_INVALID_LOG_PAGE 0x09
#define OSP_NVME_SC_INVALID_FORMAT 0x0a
#define OSP_NVME_SC_FEATURE_ID_NOT_SAVEABLE 0x0d
#define OSP_NVME_SC_FEATURE_NOT_CHANGEABLE 0x0e
#define OSP_NVME_SC_FEATURE_NOT_NAMESPACE_SPECIFIC 0x0f
#define OSP_NVME_SC_NAMESPACE_ID_UNAVAILABLE 0x16
#define OSP_NVME_SC_NAMESPACE_ALREADY_ATTACHED 0x18
#define OSP_NVME_SC_NAMESPACE_NOT_ATTACHED 0x1a
#define OSP_NVME_SC_CONFLICTING_ATTRIBUTES 0x80 /* NVM command set */
#define OSP_NVME_SC_INVALID_PROTECTION_INFO 0x81
#define OSP_NVME_SC_ATTEMPTED_WRITE_TO_RO_RANGE 0x82

/* Admin command set opcodes (Figure 138). */
enum osp_nvme_admin_opcode {
	OSP_NVME_OPC_DELETE_IO_SQ = 0x00,
	OSP_NVME_OPC_CREATE_IO_SQ = 0x01,
	OSP_NVME_OPC_GET_LOG_PAGE = 0x02,
	OSP_NVME_OPC_DELETE_IO_CQ = 0x04,
	OSP_NVME_OPC_CREATE_IO_CQ = 0x05,
	OSP_NVME_OPC_IDENTIFY = 0x06,
	OSP_NVME_OPC_ABORT = 0x08,
	OSP_NVME_OPC_SET_FEATURES = 0x09,
	OSP_NVME_OPC_GET_FEATURES = 0x0a,
	OSP_NVME_OPC_ASYNC_EVENT_REQUEST = 0x0c,
	OSP_NVME_OPC_NS_MANAGEMENT = 0x0d,
	OSP_NVME_OPC_FIRMWARE_COMMIT = 0x10,
	OSP_NVME_OPC_FIRMWARE_IMAGE_DOWNLOAD = 0x11,
	OSP_NVME_OPC_DEVICE_SELF_TEST = 0x14,
	OSP_NVME_OPC_NS_ATTACHMENT = 0x15,
	OSP_NVME_OPC_KEEP_ALIVE = 0x18,
	OSP_NVME_OPC_DIRECTIVE_SEND = 0x19,
	OSP_NVME_OPC_DIRECTIVE_RECEIVE = 0x1a,
	OSP_NVME_OPC_VIRTUALIZATION_MANAGEMENT = 0x1c,
	OSP_NVME_OPC_NVME_MI_SEND = 0x1d,
	OSP_NVME_OPC_NVME_MI_RECEIVE = 0x1e,
	OSP_NVME_OPC_CAPACITY_MANAGEMENT = 0x20,
	OSP_NVME_OPC_LOCKDOWN = 0x24,
	OSP_NVME_OPC_DOORBELL_BUFFER_CONFIG = 0x7c,
	OSP_NVME_OPC_FABRIC = 0x7f, /* see nvmf_spec.h */
	OSP_NVME_OPC_FORMAT_NVM = 0x80,
	OSP_NVME_OPC_SECURITY_SEND = 0x81,
	OSP_NVME_OPC_SECURITY_RECEIVE = 0x82,
	OSP_NVME_OPC_SANITIZE = 0x84,
	OSP_NVME_OPC_GET_LBA_STATUS = 0x86,
};

/* NVM command set opcodes beyond the first few above. */
#define OSP_NVME_OPC_RESERVATION_REGISTER 0x0d
#define OSP_NVME_OPC_RESERVATION_REPORT 0x0e
#define OSP_NVME_OPC_RESERVATION_ACQUIRE 0x11
#define OSP_NVME_OPC_RESERVATION_RELEASE 0x15
#define OSP_NVME_OPC_COPY 0x19

/* Identify CNS values (CDW10 bits 7:0, Figure 273). */
enum osp_nvme_identify_cns {
	OSP_NVME_IDENTIFY_NS = 0x00,
	OSP_NVME_IDENTIFY_CTRLR = 0x01,
	OSP_NVME_IDENTIFY_ACTIVE_NS_LIST = 0x02,
	OSP_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST = 0x03,
	OSP_NVME_IDENTIFY_NVM_SET_LIST = 0x04,
	OSP_NVME_IDENTIFY_NS_IOCS = 0x05,
	OSP_NVME_IDENTIFY_CTRLR_IOCS = 0x06,
	OSP_NVME_IDENTIFY_ACTIVE_NS_LIST_IOCS = 0x07,
	OSP_NVME_IDENTIFY_NS_INDEPENDENT = 0x08,
	OSP_NVME_IDENTIFY_ALLOCATED_NS_LIST = 0x10,
	OSP_NVME_IDENTIFY_ALLOCATED_NS = 0x11,
	OSP_NVME_IDENTIFY_NS_ATTACHED_CTRLR_LIST = 0x12,
	OSP_NVME_IDENTIFY_CTRLR_LIST = 0x13,
	OSP_NVME_IDENTIFY_PRIMARY_CTRLR_CAP = 0x14,
	OSP_NVME_IDENTIFY_SECONDARY_CTRLR_LIST = 0x15,
	OSP_NVME_IDENTIFY_NS_GRANULARITY_LIST = 0x16,
	OSP_NVME_IDENTIFY_UUID_LIST = 0x17,
	OSP_NVME_IDENTIFY_DOMAIN_LIST = 0x18,
	OSP_NVME_IDENTIFY_ENDURANCE_GROUP_LIST = 0x19,
	OSP_NVME_IDENTIFY_IOCS = 0x1c,
};

/* Power state descriptor (Figure 276). */
struct osp_nvme_power_state {
	uint16_t mp; /* maximum power, centiwatts (or 0.0001 W if mxps) */
	uint8_t rsvd2;
	uint8_t mxps : 1;
	uint8_t nops : 1;
	uint8_t rsvd3 : 6;
	uint32_t enlat; /* entry latency, us */
	uint32_t exlat; /* exit latency, us */
	uint8_t rrt;
	uint8_t rrl;
	uint8_t rwt;
	uint8_t rwl;
	uint16_t idlp;
	uint8_t rsvd18 : 6;
	uint8_t ips : 2;
	uint8_t rsvd19;
	uint16_t actp;
	uint8_t apw : 3;
	uint8_t rsvd22 : 3;
	uint8_t aps : 2;
	uint8_t rsvd23[9];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_power_state) == 32, "power state descriptor is 32 bytes");

/* Identify Controller data structure, CNS 01h (Figure 275). */
struct osp_nvme_ctrlr_data {
	/* Controller capabilities and features */
	uint16_t vid;
	uint16_t ssvid;
	char sn[20]; /* ASCII, space padded */
	char mn[40];
	char fr[8];
	uint8_t rab;	 /* recommended arbitration burst, 2^n */
	uint8_t ieee[3]; /* OUI, least significant byte first */
	uint8_t cmic;	 /* bit 0 multi-port, 1 multi-controller, 2 SR-IOV, 3 ANA */
	uint8_t mdts;	 /* 2^n units of CAP.MPSMIN; 0 = no limit */
	uint16_t cntlid;
	uint32_t ver; /* same layout as the VS register */
	uint32_t rtd3r;
	uint32_t rtd3e;
	uint32_t oaes; /* optional asynchronous events supported (AER config bits) */
	uint32_t ctratt;
	uint16_t rrls;
	uint8_t rsvd102[9];
	uint8_t cntrltype; /* 1 I/O, 2 discovery, 3 administrative */
	uint8_t fguid[16];
	uint16_t crdt1;
	uint16_t crdt2;
	uint16_t crdt3;
	uint8_t rsvd134[119];
	uint8_t nvmsr;
	uint8_t vwci;
	uint8_t mec;

	/* Admin command set attributes and optional controller capabilities */
	uint16_t oacs;
	uint8_t acl;  /* abort command limit, 0's based */
	uint8_t aerl; /* AER limit, 0's based */
	uint8_t frmw;
	uint8_t lpa;
	uint8_t elpe; /* error log page entries, 0's based */
	uint8_t npss;
	uint8_t avscc;
	uint8_t apsta;
	uint16_t wctemp;
	uint16_t cctemp;
	uint16_t mtfa;
	uint32_t hmpre;
	uint32_t hmmin;
	uint8_t tnvmcap[16];
	uint8_t unvmcap[16];
	uint32_t rpmbs;
	uint16_t edstt;
	uint8_t dsto;
	uint8_t fwug;
	uint16_t kas; /* keep alive support, 100 ms units; 0 = not supported */
	uint16_t hctma;
	uint16_t mntmt;
	uint16_t mxtmt;
	uint32_t sanicap;
	uint32_t hmminds;
	uint16_t hmmaxd;
	uint16_t nsetidmax;
	uint16_t endgidmax;
	uint8_t anatt;
	uint8_t anacap;
	uint32_t anagrpmax;
	uint32_t nanagrpid;
	uint32_t pels;
	uint16_t domainid;
	uint8_t rsvd358[10];
	uint8_t megcap[16];
	uint8_t rsvd384[128];

	/* NVM command set attributes */
	uint8_t sqes; /* bits 3:0 required, 7:4 maximum; 2^n bytes */
	uint8_t cqes;
	uint16_t maxcmd;
	uint32_t nn;
	uint16_t oncs;
	uint16_t fuses;
	uint8_t fna;
	uint8_t vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t icsvscc;
	uint8_t nwpc;
	uint16_t acwu;
	uint16_t ocfs;
	uint32_t sgls; /* see OSP_NVME_CTRLR_SGLS_* */
	uint32_t mnan;
	uint8_t maxdna[16];
	uint32_t maxcna;
	uint8_t rsvd564[204];
	char subnqn[256]; /* NUL terminated UTF-8 */
	uint8_t rsvd1024[768];

	/* NVMe over Fabrics attributes (Figure 275, bytes 1792-2047) */
	uint32_t ioccsz; /* I/O command capsule size, 16-byte units (>= 4) */
	uint32_t iorcsz; /* I/O response capsule size, 16-byte units (>= 1) */
	uint16_t icdoff; /* in-capsule data offset, 16-byte units */
	uint8_t fcatt;	 /* bit 0: 1 = static controller model */
	uint8_t msdbd;	 /* maximum SGL data block descriptors */
	uint16_t ofcs;
	uint8_t rsvd1806[242];

	struct osp_nvme_power_state psd[32];
	uint8_t vs[1024];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_ctrlr_data) == 4096, "Identify Controller is 4096 bytes");
static_assert(offsetof(struct osp_nvme_ctrlr_data, cntrltype) == 111, "cntrltype");
static_assert(offsetof(struct osp_nvme_ctrlr_data, oacs) == 256, "oacs");
static_assert(offsetof(struct osp_nvme_ctrlr_data, kas) == 320, "kas");
static_assert(offsetof(struct osp_nvme_ctrlr_data, sqes) == 512, "sqes");
static_assert(offsetof(struct osp_nvme_ctrlr_data, sgls) == 536, "sgls");
static_assert(offsetof(struct osp_nvme_ctrlr_data, subnqn) == 768, "subnqn");
static_assert(offsetof(struct osp_nvme_ctrlr_data, ioccsz) == 1792, "ioccsz");
static_assert(offsetof(struct osp_nvme_ctrlr_data, msdbd) == 1803, "msdbd");
static_assert(offsetof(struct osp_nvme_ctrlr_data, psd) == 2048, "psd");

/* CMIC bits. */
#define OSP_NVME_CTRLR_CMIC_MULTI_PORT (1u << 0)
#define OSP_NVME_CTRLR_CMIC_MULTI_CTRLR (1u << 1)
#define OSP_NVME_CTRLR_CMIC_ANA (1u << 3)
/* CTRATT bits. */
#define OSP_NVME_CTRLR_CTRATT_HOST_ID_128 (1u << 0)
/* OACS bits. */
#define OSP_NVME_CTRLR_OACS_SECURITY (1u << 0)
#define OSP_NVME_CTRLR_OACS_FORMAT (1u << 1)
#define OSP_NVME_CTRLR_OACS_FIRMWARE (1u << 2)
#define OSP_NVME_CTRLR_OACS_NS_MANAGE (1u << 3)
/* LPA bits. */
#define OSP_NVME_CTRLR_LPA_SMART_PER_NS (1u << 0)
#define OSP_NVME_CTRLR_LPA_CMD_EFFECTS (1u << 1)
#define OSP_NVME_CTRLR_LPA_EXTENDED_DATA (1u << 2)
/* ONCS bits. */
#define OSP_NVME_CTRLR_ONCS_COMPARE (1u << 0)
#define OSP_NVME_CTRLR_ONCS_WRITE_UNC (1u << 1)
#define OSP_NVME_CTRLR_ONCS_DSM (1u << 2)
#define OSP_NVME_CTRLR_ONCS_WRITE_ZEROES (1u << 3)
#define OSP_NVME_CTRLR_ONCS_SAVE_SELECT (1u << 4)
#define OSP_NVME_CTRLR_ONCS_RESERVATIONS (1u << 5)
#define OSP_NVME_CTRLR_ONCS_TIMESTAMP (1u << 6)
#define OSP_NVME_CTRLR_ONCS_VERIFY (1u << 7)
#define OSP_NVME_CTRLR_ONCS_COPY (1u << 8)
/* FUSES bits. */
#define OSP_NVME_CTRLR_FUSES_COMPARE_WRITE (1u << 0)
/* VWC bits. */
#define OSP_NVME_CTRLR_VWC_PRESENT (1u << 0)
#define OSP_NVME_CTRLR_VWC_FLUSH_BROADCAST_SHIFT 1
/* SGLS bits (Figure 275, bytes 539:536). */
#define OSP_NVME_CTRLR_SGLS_SUPPORTED_MASK 0x3u /* 1: no alignment, 2: dword aligned */
#define OSP_NVME_CTRLR_SGLS_KEYED_DATA_BLOCK (1u << 2)
#define OSP_NVME_CTRLR_SGLS_BIT_BUCKET (1u << 16)
#define OSP_NVME_CTRLR_SGLS_MPTR_BYTE_ALIGNED (1u << 17)
#define OSP_NVME_CTRLR_SGLS_LENGTH_LARGER_THAN_DATA (1u << 18)
#define OSP_NVME_CTRLR_SGLS_MPTR_SGL (1u << 19)
#define OSP_NVME_CTRLR_SGLS_ADDRESS_AS_OFFSET (1u << 20)
#define OSP_NVME_CTRLR_SGLS_TRANSPORT_DATA_BLOCK (1u << 21)
/* CNTRLTYPE values. */
#define OSP_NVME_CTRLR_TYPE_IO 1
#define OSP_NVME_CTRLR_TYPE_DISCOVERY 2
#define OSP_NVME_CTRLR_TYPE_ADMIN 3

/* LBA format (NVM Command Set Specification 1.0, Figure 98). */
struct osp_nvme_lbaf {
	uint16_t ms;	 /* metadata size */
	uint8_t lbads;	 /* LBA data size, 2^n */
	uint8_t rp : 2;	 /* relative performance */
	uint8_t rsvd : 6;
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_lbaf) == 4, "LBA format is 4 bytes");

/* Identify Namespace data structure, CNS 00h (NVM Command Set Spec 1.0, Figure 97). */
struct osp_nvme_ns_data {
	uint64_t nsze;
	uint64_t ncap;
	uint64_t nuse;
	uint8_t nsfeat; /* bit 0 thin provisioning, 1 NAWUN etc. valid, 2 DAE, 3 UIDREUSE, 4 OPTPERF */
	uint8_t nlbaf;	/* number of LBA formats, 0's based */
	uint8_t flbas;	/* bits 3:0 format index (low), 4 extended metadata, 6:5 index (high) */
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic; /* bit 0: may be attached to several controllers */
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat;
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint8_t nvmcap[16];
	uint16_t npwg;
	uint16_t npwa;
	uint16_t npdg;
	uint16_t npda;
	uint16_t nows;
	uint16_t mssrl;
	uint32_t mcl;
	uint8_t msrc;
	uint8_t rsvd81[11];
	uint32_t anagrpid;
	uint8_t rsvd96[3];
	uint8_t nsattr;
	uint16_t nvmsetid;
	uint16_t endgid;
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct osp_nvme_lbaf lbaf[64];
	uint8_t rsvd384[3456];
	uint8_t vs[256];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_ns_data) == 4096, "Identify Namespace is 4096 bytes");
static_assert(offsetof(struct osp_nvme_ns_data, anagrpid) == 92, "anagrpid");
static_assert(offsetof(struct osp_nvme_ns_data, nguid) == 104, "nguid");
static_assert(offsetof(struct osp_nvme_ns_data, lbaf) == 128, "lbaf");
static_assert(offsetof(struct osp_nvme_ns_data, vs) == 3840, "vs");

#define OSP_NVME_NS_NSFEAT_THIN_PROV (1u << 0)
#define OSP_NVME_NS_NSFEAT_NAWUN_VALID (1u << 1)
#define OSP_NVME_NS_NSFEAT_DEALLOC_ERROR (1u << 2)
#define OSP_NVME_NS_NSFEAT_UIDREUSE (1u << 3)
#define OSP_NVME_NS_NSFEAT_OPTPERF (1u << 4)
#define OSP_NVME_NS_FLBAS_INDEX_LO_MASK 0x0fu
#define OSP_NVME_NS_FLBAS_EXTENDED (1u << 4)
#define OSP_NVME_NS_FLBAS_INDEX_HI_SHIFT 5
#define OSP_NVME_NS_FLBAS_INDEX_HI_MASK 0x60u
#define OSP_NVME_NS_NMIC_SHARED (1u << 0)

/* Format index from FLBAS (bits 6:5 are the upper bits when nlbaf > 16). */
static inline unsigned
osp_nvme_ns_flbas_index(uint8_t flbas)
{
	return (flbas & OSP_NVME_NS_FLBAS_INDEX_LO_MASK) |
	       ((flbas & OSP_NVME_NS_FLBAS_INDEX_HI_MASK) >> OSP_NVME_NS_FLBAS_INDEX_HI_SHIFT << 4);
}

/* Namespace Identification Descriptor list, CNS 03h (§5.17.2.3, Figure 281/282). */
struct osp_nvme_ns_id_desc {
	uint8_t nidt; /* enum osp_nvme_nidt */
	uint8_t nidl; /* length of nid[] */
	uint8_t rsvd[2];
	uint8_t nid[]; /* nidl bytes; the next descriptor follows */
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_ns_id_desc) == 4, "NS ID descriptor header is 4 bytes");
#define OSP_NVME_NS_ID_DESC_LIST_SIZE 4096

enum osp_nvme_nidt {
	OSP_NVME_NIDT_EUI64 = 0x1, /* nidl 8 */
	OSP_NVME_NIDT_NGUID = 0x2, /* nidl 16 */
	OSP_NVME_NIDT_UUID = 0x3,  /* nidl 16 */
	OSP_NVME_NIDT_CSI = 0x4,   /* nidl 1 */
};
#define OSP_NVME_NIDT_EUI64_LEN 8
#define OSP_NVME_NIDT_NGUID_LEN 16
#define OSP_NVME_NIDT_UUID_LEN 16
#define OSP_NVME_NIDT_CSI_LEN 1

/* Command set identifiers (Figure 285). */
#define OSP_NVME_CSI_NVM 0x00
#define OSP_NVME_CSI_KV 0x01
#define OSP_NVME_CSI_ZNS 0x02

/* Log page identifiers (Figure 202). */
enum osp_nvme_log_page {
	OSP_NVME_LOG_SUPPORTED_LOG_PAGES = 0x00,
	OSP_NVME_LOG_ERROR = 0x01,
	OSP_NVME_LOG_HEALTH_INFORMATION = 0x02,
	OSP_NVME_LOG_FIRMWARE_SLOT = 0x03,
	OSP_NVME_LOG_CHANGED_NS_LIST = 0x04,
	OSP_NVME_LOG_COMMAND_EFFECTS = 0x05,
	OSP_NVME_LOG_DEVICE_SELF_TEST = 0x06,
	OSP_NVME_LOG_TELEMETRY_HOST_INITIATED = 0x07,
	OSP_NVME_LOG_TELEMETRY_CTRLR_INITIATED = 0x08,
	OSP_NVME_LOG_ENDURANCE_GROUP_INFORMATION = 0x09,
	OSP_NVME_LOG_PREDICTABLE_LATENCY = 0x0a,
	OSP_NVME_LOG_PREDICTABLE_LATENCY_EVENT = 0x0b,
	OSP_NVME_LOG_ASYMMETRIC_NS_ACCESS = 0x0c,
	OSP_NVME_LOG_PERSISTENT_EVENT = 0x0d,
	OSP_NVME_LOG_ENDURANCE_GROUP_EVENT = 0x0f,
	OSP_NVME_LOG_MEDIA_UNIT_STATUS = 0x10,
	OSP_NVME_LOG_SUPPORTED_CAPACITY_CONFIG = 0x11,
	OSP_NVME_LOG_FEATURE_IDS_EFFECTS = 0x12,
	OSP_NVME_LOG_NVME_MI_COMMANDS_EFFECTS = 0x13,
	OSP_NVME_LOG_COMMAND_FEATURE_LOCKDOWN = 0x14,
	OSP_NVME_LOG_BOOT_PARTITION = 0x15,
	OSP_NVME_LOG_ROTATIONAL_MEDIA_INFORMATION = 0x16,
	OSP_NVME_LOG_DISCOVERY = 0x70, /* layout in nvmf_spec.h */
	OSP_NVME_LOG_RESERVATION_NOTIFICATION = 0x80,
	OSP_NVME_LOG_SANITIZE_STATUS = 0x81,
};

/* Get Log Page CDW10 (Figure 197): LID 7:0, LSP 14:8, RAE 15, NUMDL 31:16. */
#define OSP_NVME_GET_LOG_LID_MASK 0xffu
#define OSP_NVME_GET_LOG_LSP_SHIFT 8
#define OSP_NVME_GET_LOG_RAE (1u << 15)
#define OSP_NVME_GET_LOG_NUMDL_SHIFT 16
/* CDW11: NUMDU 15:0, LSI 31:16. CDW12/13: LPOL/LPOU (byte offset). */

/* Error Information log entry (Figure 205): 64 bytes each. */
struct osp_nvme_error_information_entry {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* bit 0 phase tag, 15:1 status field */
	uint16_t error_location; /* bits 7:0 byte, 10:8 bit */
	uint64_t lba;
	uint32_t nsid;
	uint8_t vendor_specific;
	uint8_t trtype;
	uint8_t rsvd30[2];
	uint64_t command_specific;
	uint16_t trtype_specific;
	uint8_t rsvd42[22];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_error_information_entry) == 64, "error log entry is 64 bytes");

/* SMART / Health Information log (Figure 207): 512 bytes. */
struct osp_nvme_health_information_page {
	uint8_t critical_warning;
	uint16_t temperature; /* composite, kelvin */
	uint8_t available_spare;
	uint8_t available_spare_threshold;
	uint8_t percentage_used;
	uint8_t endurance_group_critical_warning_summary;
	uint8_t rsvd7[25];
	/* 128-bit little-endian counters */
	uint64_t data_units_read[2];
	uint64_t data_units_written[2];
	uint64_t host_read_commands[2];
	uint64_t host_write_commands[2];
	uint64_t controller_busy_time[2];
	uint64_t power_cycles[2];
	uint64_t power_on_hours[2];
	uint64_t unsafe_shutdowns[2];
	uint64_t media_errors[2];
	uint64_t num_error_info_log_entries[2];
	uint32_t warning_temp_time;
	uint32_t critical_temp_time;
	uint16_t temp_sensor[8];
	uint32_t thm_temp1_trans_count;
	uint32_t thm_temp2_trans_count;
	uint32_t thm_temp1_total_time;
	uint32_t thm_temp2_total_time;
	uint8_t rsvd232[280];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_health_information_page) == 512, "SMART log is 512 bytes");
static_assert(offsetof(struct osp_nvme_health_information_page, data_units_read) == 32, "dur");
static_assert(offsetof(struct osp_nvme_health_information_page, warning_temp_time) == 192, "wtt");

/* Firmware Slot Information log (Figure 209): 512 bytes. */
struct osp_nvme_firmware_page {
	uint8_t afi; /* bits 2:0 active slot, 6:4 slot activated at next reset */
	uint8_t rsvd1[7];
	uint8_t frs[7][8]; /* firmware revision per slot, ASCII */
	uint8_t rsvd64[448];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_firmware_page) == 512, "firmware slot log is 512 bytes");

/* Changed Namespace List log (Figure 210): up to 1024 NSIDs; ns_list[0] = 0xffffffff on overflow. */
struct osp_nvme_ns_list {
	uint32_t ns_list[1024];
};
static_assert(sizeof(struct osp_nvme_ns_list) == 4096, "NS list is 4096 bytes");

/* Feature identifiers (Figure 317). */
enum osp_nvme_feat {
	OSP_NVME_FEAT_ARBITRATION = 0x01,
	OSP_NVME_FEAT_POWER_MANAGEMENT = 0x02,
	OSP_NVME_FEAT_LBA_RANGE_TYPE = 0x03,
	OSP_NVME_FEAT_TEMPERATURE_THRESHOLD = 0x04,
	OSP_NVME_FEAT_ERROR_RECOVERY = 0x05,
	OSP_NVME_FEAT_VOLATILE_WRITE_CACHE = 0x06,
	OSP_NVME_FEAT_NUMBER_OF_QUEUES = 0x07,
	OSP_NVME_FEAT_INTERRUPT_COALESCING = 0x08,
	OSP_NVME_FEAT_INTERRUPT_VECTOR_CONFIGURATION = 0x09,
	OSP_NVME_FEAT_WRITE_ATOMICITY = 0x0a,
	OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION = 0x0b,
	OSP_NVME_FEAT_AUTONOMOUS_POWER_STATE_TRANSITION = 0x0c,
	OSP_NVME_FEAT_HOST_MEM_BUFFER = 0x0d,
	OSP_NVME_FEAT_TIMESTAMP = 0x0e,
	OSP_NVME_FEAT_KEEP_ALIVE_TIMER = 0x0f,
	OSP_NVME_FEAT_HOST_CONTROLLED_THERMAL_MGMT = 0x10,
	OSP_NVME_FEAT_NON_OPERATIONAL_POWER_STATE_CONFIG = 0x11,
	OSP_NVME_FEAT_READ_RECOVERY_LEVEL_CONFIG = 0x12,
	OSP_NVME_FEAT_PREDICTABLE_LATENCY_MODE_CONFIG = 0x13,
	OSP_NVME_FEAT_PREDICTABLE_LATENCY_MODE_WINDOW = 0x14,
	OSP_NVME_FEAT_HOST_BEHAVIOR_SUPPORT = 0x16,
	OSP_NVME_FEAT_SANITIZE_CONFIG = 0x17,
	OSP_NVME_FEAT_ENDURANCE_GROUP_EVENT = 0x18,
	OSP_NVME_FEAT_IO_COMMAND_SET_PROFILE = 0x19,
	OSP_NVME_FEAT_SPINUP_CONTROL = 0x1a,
	OSP_NVME_FEAT_ENHANCED_CONTROLLER_METADATA = 0x7d,
	OSP_NVME_FEAT_CONTROLLER_METADATA = 0x7e,
	OSP_NVME_FEAT_NAMESPACE_METADATA = 0x7f,
	OSP_NVME_FEAT_SOFTWARE_PROGRESS_MARKER = 0x80,
	OSP_NVME_FEAT_HOST_IDENTIFIER = 0x81,
	OSP_NVME_FEAT_HOST_RESERVE_MASK = 0x82,
	OSP_NVME_FEAT_HOST_RESERVE_PERSIST = 0x83,
	OSP_NVME_FEAT_NS_WRITE_PROTECTION_CONFIG = 0x84,
};

/* Get Features CDW10 (Figure 314): FID 7:0, SEL 10:8. Set Features CDW10 (Figure 322): FID, SV bit 31. */
#define OSP_NVME_FEAT_FID_MASK 0xffu
#define OSP_NVME_FEAT_SEL_SHIFT 8
#define OSP_NVME_FEAT_SEL_MASK 0x7u
#define OSP_NVME_FEAT_SV (1u << 31)
enum osp_nvme_feat_sel {
	OSP_NVME_FEAT_SEL_CURRENT = 0,
	OSP_NVME_FEAT_SEL_DEFAULT = 1,
	OSP_NVME_FEAT_SEL_SAVED = 2,
	OSP_NVME_FEAT_SEL_SUPPORTED_CAPS = 3,
};

/* Number of Queues (Figure 329): CDW11 and completion dword 0, both 0's based. */
union osp_nvme_feat_number_of_queues {
	uint32_t raw;
	struct {
		uint32_t nsqr : 16; /* CDW11 NSQR / completion NSQA */
		uint32_t ncqr : 16; /* CDW11 NCQR / completion NCQA */
	} bits;
};
static_assert(sizeof(union osp_nvme_feat_number_of_queues) == 4, "4 bytes");

/* Asynchronous Event Configuration (Figure 332), CDW11. */
union osp_nvme_feat_async_event_config {
	uint32_t raw;
	struct {
		uint32_t crit_warn : 8; /* SMART critical warning bits to report */
		uint32_t ns_attr_notice : 1;
		uint32_t fw_activation_notice : 1;
		uint32_t telemetry_log_notice : 1;
		uint32_t ana_change_notice : 1;
		uint32_t pleal_change_notice : 1;
		uint32_t lba_status_info_notice : 1;
		uint32_t egeal_change_notice : 1;
		uint32_t nnsshdn_notice : 1;
		uint32_t rsvd16 : 15;
		uint32_t discovery_log_change_notice : 1;
	} bits;
};
static_assert(sizeof(union osp_nvme_feat_async_event_config) == 4, "4 bytes");

/* Keep Alive Timer (Figure 340): CDW11 = KATO in milliseconds; 0 disables. */
union osp_nvme_feat_keep_alive_timer {
	uint32_t raw;
	struct {
		uint32_t kato;
	} bits;
};
/* Host Identifier (Figure 354): CDW11 bit 0 EXHID selects the 128-bit form. */
union osp_nvme_feat_host_identifier {
	uint32_t raw;
	struct {
		uint32_t exhid : 1;
		uint32_t rsvd : 31;
	} bits;
};
#define OSP_NVME_HOST_ID_LEN 8
#define OSP_NVME_HOST_ID_EXT_LEN 16

/* Asynchronous Event Request completion dword 0 (Figure 147). */
union osp_nvme_async_event_completion {
	uint32_t raw;
	struct {
		uint32_t async_event_type : 3;
		uint32_t rsvd3 : 5;
		uint32_t async_event_info : 8;
		uint32_t log_page_identifier : 8;
		uint32_t rsvd24 : 8;
	} bits;
};
static_assert(sizeof(union osp_nvme_async_event_completion) == 4, "4 bytes");

enum osp_nvme_async_event_type {
	OSP_NVME_ASYNC_EVENT_TYPE_ERROR = 0x0,
	OSP_NVME_ASYNC_EVENT_TYPE_SMART = 0x1,
	OSP_NVME_ASYNC_EVENT_TYPE_NOTICE = 0x2,
	OSP_NVME_ASYNC_EVENT_TYPE_IO = 0x6,
	OSP_NVME_ASYNC_EVENT_TYPE_VENDOR = 0x7,
};
enum osp_nvme_async_event_notice_info {
	OSP_NVME_ASYNC_EVENT_NS_ATTR_CHANGED = 0x00,
	OSP_NVME_ASYNC_EVENT_FW_ACTIVATION_START = 0x01,
	OSP_NVME_ASYNC_EVENT_TELEMETRY_LOG_CHANGED = 0x02,
	OSP_NVME_ASYNC_EVENT_ANA_CHANGE = 0x03,
	OSP_NVME_ASYNC_EVENT_PLEA_CHANGED = 0x04,
	OSP_NVME_ASYNC_EVENT_LBA_STATUS_ALERT = 0x05,
	OSP_NVME_ASYNC_EVENT_EGEA_CHANGED = 0x06,
	OSP_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE = 0xf0,
};

/* Controller registers (§3.1.3); over fabrics they are "properties" at the same offsets. */
enum osp_nvme_register_offset {
	OSP_NVME_REG_CAP = 0x00,
	OSP_NVME_REG_VS = 0x08,
	OSP_NVME_REG_INTMS = 0x0c,
	OSP_NVME_REG_INTMC = 0x10,
	OSP_NVME_REG_CC = 0x14,
	OSP_NVME_REG_CSTS = 0x1c,
	OSP_NVME_REG_NSSR = 0x20,
	OSP_NVME_REG_AQA = 0x24,
	OSP_NVME_REG_ASQ = 0x28,
	OSP_NVME_REG_ACQ = 0x30,
	OSP_NVME_REG_CMBLOC = 0x38,
	OSP_NVME_REG_CMBSZ = 0x3c,
	OSP_NVME_REG_BPINFO = 0x40,
	OSP_NVME_REG_NSSD = 0x64,
	OSP_NVME_REG_CRTO = 0x68,
	OSP_NVME_REG_DOORBELL_BASE = 0x1000,
};

/* Controller Capabilities (Figure 36). */
union osp_nvme_cap_register {
	uint64_t raw;
	struct {
		uint64_t mqes : 16;   /* max queue entries, 0's based */
		uint64_t cqr : 1;     /* contiguous queues required */
		uint64_t ams : 2;     /* arbitration mechanisms supported */
		uint64_t rsvd19 : 5;
		uint64_t to : 8;      /* timeout, 500 ms units */
		uint64_t dstrd : 4;   /* doorbell stride 2^(2+n) */
		uint64_t nssrs : 1;
		uint64_t css : 8;     /* bit 0 NVM, bit 6 I/O command sets, bit 7 admin only */
		uint64_t bps : 1;
		uint64_t cps : 2;
		uint64_t mpsmin : 4;  /* 2^(12+n) */
		uint64_t mpsmax : 4;
		uint64_t pmrs : 1;
		uint64_t cmbs : 1;
		uint64_t nsss : 1;
		uint64_t crms : 2;
		uint64_t rsvd61 : 3;
	} bits;
};
static_assert(sizeof(union osp_nvme_cap_register) == 8, "CAP is 8 bytes");

/* Version (Figure 37). */
union osp_nvme_vs_register {
	uint32_t raw;
	struct {
		uint32_t ter : 8;
		uint32_t mnr : 8;
		uint32_t mjr : 16;
	} bits;
};
static_assert(sizeof(union osp_nvme_vs_register) == 4, "VS is 4 bytes");
#define OSP_NVME_VERSION(mjr, mnr, ter) (((uint32_t)(mjr) << 16) | ((uint32_t)(mnr) << 8) | (uint32_t)(ter))

/* Controller Configuration (Figure 41). */
union osp_nvme_cc_register {
	uint32_t raw;
	struct {
		uint32_t en : 1;
		uint32_t rsvd1 : 3;
		uint32_t css : 3;
		uint32_t mps : 4;
		uint32_t ams : 3;
		uint32_t shn : 2;    /* enum osp_nvme_shn */
		uint32_t iosqes : 4; /* 2^n; 6 for 64 bytes */
		uint32_t iocqes : 4; /* 2^n; 4 for 16 bytes */
		uint32_t crime : 1;
		uint32_t rsvd25 : 7;
	} bits;
};
static_assert(sizeof(union osp_nvme_cc_register) == 4, "CC is 4 bytes");
enum osp_nvme_shn {
	OSP_NVME_SHN_NONE = 0,
	OSP_NVME_SHN_NORMAL = 1,
	OSP_NVME_SHN_ABRUPT = 2,
};

/* Controller Status (Figure 42). */
union osp_nvme_csts_register {
	uint32_t raw;
	struct {
		uint32_t rdy : 1;
		uint32_t cfs : 1;
		uint32_t shst : 2; /* enum osp_nvme_shst */
		uint32_t nssro : 1;
		uint32_t pp : 1;
		uint32_t st : 1;
		uint32_t rsvd7 : 25;
	} bits;
};
static_assert(sizeof(union osp_nvme_csts_register) == 4, "CSTS is 4 bytes");
enum osp_nvme_shst {
	OSP_NVME_SHST_NORMAL = 0,
	OSP_NVME_SHST_OCCURRING = 1,
	OSP_NVME_SHST_COMPLETE = 2,
};

/* Admin Queue Attributes (Figure 45); both sizes 0's based. */
union osp_nvme_aqa_register {
	uint32_t raw;
	struct {
		uint32_t asqs : 12;
		uint32_t rsvd12 : 4;
		uint32_t acqs : 12;
		uint32_t rsvd28 : 4;
	} bits;
};
static_assert(sizeof(union osp_nvme_aqa_register) == 4, "AQA is 4 bytes");

/*
 * SGL descriptors (§4.3.2, Figures 114-121). 16 bytes; the last byte is the
 * SGL identifier: type in bits 7:4, subtype in bits 3:0.
 */
enum osp_nvme_sgl_type {
	OSP_NVME_SGL_TYPE_DATA_BLOCK = 0x0,
	OSP_NVME_SGL_TYPE_BIT_BUCKET = 0x1,
	OSP_NVME_SGL_TYPE_SEGMENT = 0x2,
	OSP_NVME_SGL_TYPE_LAST_SEGMENT = 0x3,
	OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK = 0x4,
	OSP_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK = 0x5,
	OSP_NVME_SGL_TYPE_VENDOR_SPECIFIC = 0xf,
};
enum osp_nvme_sgl_subtype {
	OSP_NVME_SGL_SUBTYPE_ADDRESS = 0x0,
	OSP_NVME_SGL_SUBTYPE_OFFSET = 0x1, /* address is an offset into in-capsule data */
	OSP_NVME_SGL_SUBTYPE_TRANSPORT = 0xa, /* transport specific */
	OSP_NVME_SGL_SUBTYPE_INVALIDATE_KEY = 0xf, /* keyed data block, RDMA */
};

struct osp_nvme_sgl_descriptor {
	uint64_t address;
	union {
		/* Data block, segment, last segment, bit bucket, transport data block */
		struct {
			uint32_t length;
			uint8_t rsvd[3];
			uint8_t subtype : 4;
			uint8_t type : 4;
		} __attribute__((packed)) unkeyed;
		/* Keyed data block: 3-byte length, 4-byte key */
		struct {
			uint64_t length : 24;
			uint64_t key : 32;
			uint64_t subtype : 4;
			uint64_t type : 4;
		} __attribute__((packed)) keyed;
		struct {
			uint8_t rsvd[7];
			uint8_t subtype : 4;
			uint8_t type : 4;
		} __attribute__((packed)) generic;
	};
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_sgl_descriptor) == 16, "SGL descriptor is 16 bytes");

/* SGL identifier byte values used by NVMe/TCP (TCP transport spec §3.3, Figure 7). */
#define OSP_NVME_SGL_ID(type, subtype) ((uint8_t)(((type) << 4) | (subtype)))
#define OSP_NVME_SGL_ID_ICD OSP_NVME_SGL_ID(OSP_NVME_SGL_TYPE_DATA_BLOCK, OSP_NVME_SGL_SUBTYPE_OFFSET)
#define OSP_NVME_SGL_ID_TRANSPORT \
	OSP_NVME_SGL_ID(OSP_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK, OSP_NVME_SGL_SUBTYPE_TRANSPORT)

/* PSDT values in the command (Figure 88). */
#define OSP_NVME_PSDT_PRP 0x0
#define OSP_NVME_PSDT_SGL_MPTR_CONTIG 0x1
#define OSP_NVME_PSDT_SGL_MPTR_SGL 0x2

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_NVME_SPEC_H */
