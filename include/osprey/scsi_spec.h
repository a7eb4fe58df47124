/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SCSI wire formats used by lib/scsi and its transports: operation codes,
 * sense keys and additional sense codes, CDB and parameter data layouts.
 * Sources: SAM-5 (status, task management), SPC-4 (primary commands, sense,
 * VPD, mode pages, reservations) and SBC-3 (block commands). Multi-byte fields
 * on the wire are big-endian: the structs keep them as byte arrays or as
 * big-endian integers read with the osp_scsi_get/put helpers below.
 */
#ifndef OSPREY_SCSI_SPEC_H
#define OSPREY_SCSI_SPEC_H

#include <assert.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- big-endian helpers ---- */

static inline uint16_t osp_scsi_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t osp_scsi_get24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}
static inline uint32_t osp_scsi_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t osp_scsi_get64(const uint8_t *p)
{
	return (uint64_t)osp_scsi_get32(p) << 32 | osp_scsi_get32(p + 4);
}
static inline void osp_scsi_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void osp_scsi_put24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16); p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)v;
}
static inline void osp_scsi_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void osp_scsi_put64(uint8_t *p, uint64_t v)
{
	osp_scsi_put32(p, (uint32_t)(v >> 32));
	osp_scsi_put32(p + 4, (uint32_t)v);
}

/* ---- operation codes (SPC-4 annex D, SBC-3 5) ---- */

enum osp_scsi_opcode {
	OSP_SCSI_TEST_UNIT_READY = 0x00,
	OSP_SCSI_REQUEST_SENSE = 0x03,
	OSP_SCSI_FORMAT_UNIT = 0x04,
	OSP_SCSI_READ_6 = 0x08,
	OSP_SCSI_WRITE_6 = 0x0a,
	OSP_SCSI_INQUIRY = 0x12,
	OSP_SCSI_MODE_SELECT_6 = 0x15,
	OSP_SCSI_RESERVE_6 = 0x16,
	OSP_SCSI_RELEASE_6 = 0x17,
	OSP_SCSI_MODE_SENSE_6 = 0x1a,
	OSP_SCSI_START_STOP_UNIT = 0x1b,
	OSP_SCSI_RECEIVE_DIAGNOSTIC = 0x1c,
	OSP_SCSI_SEND_DIAGNOSTIC = 0x1d,
	OSP_SCSI_PREVENT_ALLOW = 0x1e,
	OSP_SCSI_READ_CAPACITY_10 = 0x25,
	OSP_SCSI_READ_10 = 0x28,
	OSP_SCSI_WRITE_10 = 0x2a,
	OSP_SCSI_WRITE_AND_VERIFY_10 = 0x2e,
	OSP_SCSI_VERIFY_10 = 0x2f,
	OSP_SCSI_PRE_FETCH_10 = 0x34,
	OSP_SCSI_SYNCHRONIZE_CACHE_10 = 0x35,
	OSP_SCSI_READ_DEFECT_DATA_10 = 0x37,
	OSP_SCSI_WRITE_BUFFER = 0x3b,
	OSP_SCSI_READ_BUFFER = 0x3c,
	OSP_SCSI_WRITE_SAME_10 = 0x41,
	OSP_SCSI_UNMAP = 0x42,
	OSP_SCSI_LOG_SELECT = 0x4c,
	OSP_SCSI_LOG_SENSE = 0x4d,
	OSP_SCSI_MODE_SELECT_10 = 0x55,
	OSP_SCSI_RESERVE_10 = 0x56,
	OSP_SCSI_RELEASE_10 = 0x57,
	OSP_SCSI_MODE_SENSE_10 = 0x5a,
	OSP_SCSI_PERSISTENT_RESERVE_IN = 0x5e,
	OSP_SCSI_PERSISTENT_RESERVE_OUT = 0x5f,
	OSP_SCSI_VARIABLE_LENGTH = 0x7f,
	OSP_SCSI_EXTENDED_COPY = 0x83,
	OSP_SCSI_RECEIVE_COPY_RESULTS = 0x84,
	OSP_SCSI_READ_16 = 0x88,
	OSP_SCSI_COMPARE_AND_WRITE = 0x89,
	OSP_SCSI_WRITE_16 = 0x8a,
	OSP_SCSI_ORWRITE_16 = 0x8b,
	OSP_SCSI_WRITE_AND_VERIFY_16 = 0x8e,
	OSP_SCSI_VERIFY_16 = 0x8f,
	OSP_SCSI_PRE_FETCH_16 = 0x90,
	OSP_SCSI_SYNCHRONIZE_CACHE_16 = 0x91,
	OSP_SCSI_WRITE_SAME_16 = 0x93,
	OSP_SCSI_WRITE_ATOMIC_16 = 0x9c,
	OSP_SCSI_SERVICE_ACTION_IN_16 = 0x9e,
	OSP_SCSI_SERVICE_ACTION_OUT_16 = 0x9f,
	OSP_SCSI_REPORT_LUNS = 0xa0,
	OSP_SCSI_MAINTENANCE_IN = 0xa3,
	OSP_SCSI_MAINTENANCE_OUT = 0xa4,
	OSP_SCSI_READ_12 = 0xa8,
	OSP_SCSI_WRITE_12 = 0xaa,
	OSP_SCSI_WRITE_AND_VERIFY_12 = 0xae,
	OSP_SCSI_VERIFY_12 = 0xaf,
	OSP_SCSI_READ_DEFECT_DATA_12 = 0xb7,
};

/* SERVICE ACTION IN (16) service actions (SBC-3 5.x). */
#define OSP_SCSI_SAI_READ_CAPACITY_16	0x10
#define OSP_SCSI_SAI_GET_LBA_STATUS	0x12
/* MAINTENANCE IN service actions (SPC-4 6.x). */
#define OSP_SCSI_MI_REPORT_SUPPORTED_OPCODES	0x0c
#define OSP_SCSI_MI_REPORT_SUPPORTED_TMFS	0x0d
/* EXTENDED COPY (SPC-4 6.4) service action, RECEIVE COPY RESULTS (SPC-4 6.21) ones. */
#define OSP_SCSI_XCOPY_LID1			0x00
#define OSP_SCSI_RCR_COPY_STATUS		0x00
#define OSP_SCSI_RCR_OPERATING_PARAMS		0x03
/* Descriptor type codes: block device to block device segment, identification CSCD. */
#define OSP_SCSI_XCOPY_SEG_BLOCK_TO_BLOCK	0x02
#define OSP_SCSI_XCOPY_CSCD_IDENT		0xe4

/* ---- sense (SPC-4 4.5) ---- */

enum osp_scsi_sense_key {
	OSP_SCSI_SK_NO_SENSE = 0x0,
	OSP_SCSI_SK_RECOVERED_ERROR = 0x1,
	OSP_SCSI_SK_NOT_READY = 0x2,
	OSP_SCSI_SK_MEDIUM_ERROR = 0x3,
	OSP_SCSI_SK_HARDWARE_ERROR = 0x4,
	OSP_SCSI_SK_ILLEGAL_REQUEST = 0x5,
	OSP_SCSI_SK_UNIT_ATTENTION = 0x6,
	OSP_SCSI_SK_DATA_PROTECT = 0x7,
	OSP_SCSI_SK_BLANK_CHECK = 0x8,
	OSP_SCSI_SK_VENDOR_SPECIFIC = 0x9,
	OSP_SCSI_SK_COPY_ABORTED = 0xa,
	OSP_SCSI_SK_ABORTED_COMMAND = 0xb,
	OSP_SCSI_SK_VOLUME_OVERFLOW = 0xd,
	OSP_SCSI_SK_MISCOMPARE = 0xe,
};

/* Additional sense code and qualifier pairs (SPC-4 table D.1), as ASC << 8 | ASCQ. */
#define OSP_SCSI_ASC(ascq16)	((uint8_t)((ascq16) >> 8))
#define OSP_SCSI_ASCQ(ascq16)	((uint8_t)(ascq16))
enum osp_scsi_asc {
	OSP_SCSI_ASC_NO_ADDITIONAL_SENSE = 0x0000,
	OSP_SCSI_ASC_LU_NOT_READY_MANUAL_INTERVENTION = 0x0403,
	OSP_SCSI_ASC_LU_NOT_READY_INIT_REQUIRED = 0x0402,
	OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU = 0x0e03,
	OSP_SCSI_ASC_WRITE_ERROR = 0x0c00,
	OSP_SCSI_ASC_UNRECOVERED_READ_ERROR = 0x1100,
	OSP_SCSI_ASC_MISCOMPARE_DURING_VERIFY = 0x1d00,
	OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR = 0x1a00,
	OSP_SCSI_ASC_INVALID_COMMAND_OPCODE = 0x2000,
	OSP_SCSI_ASC_LBA_OUT_OF_RANGE = 0x2100,
	OSP_SCSI_ASC_INVALID_FIELD_IN_CDB = 0x2400,
	OSP_SCSI_ASC_LU_NOT_SUPPORTED = 0x2500,
	OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST = 0x2600,
	OSP_SCSI_ASC_PARAMETER_NOT_SUPPORTED = 0x2601,
	OSP_SCSI_ASC_TOO_MANY_TARGET_DESCRIPTORS = 0x2606,
	OSP_SCSI_ASC_UNSUPPORTED_TARGET_DESCRIPTOR_TYPE = 0x2607,
	OSP_SCSI_ASC_TOO_MANY_SEGMENT_DESCRIPTORS = 0x2608,
	OSP_SCSI_ASC_UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE = 0x2609,
	OSP_SCSI_ASC_UNREACHABLE_COPY_TARGET = 0x0804,
	OSP_SCSI_ASC_INVALID_RELEASE_OF_PR = 0x2604,
	OSP_SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED = 0x3900,
	OSP_SCSI_ASC_WRITE_PROTECTED = 0x2700,
	OSP_SCSI_ASC_POWER_ON_OR_RESET = 0x2900,
	OSP_SCSI_ASC_POWER_ON_OCCURRED = 0x2901,
	OSP_SCSI_ASC_BUS_RESET_OCCURRED = 0x2902,
	OSP_SCSI_ASC_BUS_DEVICE_RESET_FUNCTION = 0x2903,
	OSP_SCSI_ASC_I_T_NEXUS_LOSS = 0x2907,
	OSP_SCSI_ASC_PARAMETERS_CHANGED = 0x2a00,
	OSP_SCSI_ASC_MODE_PARAMETERS_CHANGED = 0x2a01,
	OSP_SCSI_ASC_RESERVATIONS_PREEMPTED = 0x2a03,
	OSP_SCSI_ASC_RESERVATIONS_RELEASED = 0x2a04,
	OSP_SCSI_ASC_REGISTRATIONS_PREEMPTED = 0x2a05,
	OSP_SCSI_ASC_CAPACITY_DATA_CHANGED = 0x2a09,
	OSP_SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR = 0x2f00,
	OSP_SCSI_ASC_MEDIUM_NOT_PRESENT = 0x3a00,
	OSP_SCSI_ASC_REPORTED_LUNS_CHANGED = 0x3f0e,
	OSP_SCSI_ASC_INTERNAL_TARGET_FAILURE = 0x4400,
	OSP_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES = 0x5504,
	OSP_SCSI_ASC_MEDIUM_REMOVAL_PREVENTED = 0x5302,
	OSP_SCSI_ASC_LOGICAL_BLOCK_GUARD_CHECK_FAILED = 0x1001,
};

/* Fixed-format sense data (SPC-4 4.5.3), 18 bytes with no additional bytes. */
struct osp_scsi_fixed_sense {
	uint8_t response_code;		/* bit 7 VALID, 6:0 0x70 current / 0x71 deferred */
	uint8_t obsolete;
	uint8_t sense_key;		/* bits 3:0; FILEMARK, EOM, ILI bits 7:5 */
	uint8_t information[4];
	uint8_t additional_len;		/* bytes after this one: 10 */
	uint8_t cmd_specific[4];
	uint8_t asc;
	uint8_t ascq;
	uint8_t fru_code;
	uint8_t sks[3];			/* sense-key specific; bit 7 of sks[0] SKSV */
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_fixed_sense) == 18, "fixed sense is 18 bytes");

#define OSP_SCSI_SENSE_FIXED_CURRENT	0x70
#define OSP_SCSI_SENSE_DESC_CURRENT	0x72
#define OSP_SCSI_SENSE_VALID		0x80
/* Sense-key specific field pointer (SPC-4 4.5.2.4.2). */
#define OSP_SCSI_SKS_VALID		0x80
#define OSP_SCSI_SKS_CD			0x40	/* the error is in the CDB, not the data */
#define OSP_SCSI_SKS_BPV		0x08	/* bit pointer valid, bits 2:0 */

/* ---- INQUIRY (SPC-4 6.6) ---- */

#define OSP_SCSI_INQ_EVPD		0x01
#define OSP_SCSI_PQ_CONNECTED		0x00
#define OSP_SCSI_PQ_NOT_CAPABLE		0x03	/* LUN not supported: byte 0 = 0x7f */
#define OSP_SCSI_TYPE_DISK		0x00
#define OSP_SCSI_TYPE_UNKNOWN		0x1f
#define OSP_SCSI_VERSION_SPC4		0x06

struct osp_scsi_std_inquiry {
	uint8_t peripheral;		/* qualifier 7:5, device type 4:0 */
	uint8_t rmb;			/* bit 7 removable */
	uint8_t version;
	uint8_t flags3;			/* NORMACA 5, HISUP 4, response data format 3:0 (2) */
	uint8_t additional_len;
	uint8_t flags5;			/* SCCS 7, ACC 6, TPGS 5:4, 3PC 3, PROTECT 0 */
	uint8_t flags6;			/* ENCSERV 6, MULTIP 4 */
	uint8_t flags7;			/* CMDQUE 1 */
	char t10_vendor_id[8];
	char product_id[16];
	char product_rev[4];
	char vendor_specific[20];
	uint8_t flags56;
	uint8_t reserved57;
	uint8_t version_desc[8][2];
	uint8_t reserved74[22];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_std_inquiry) == 96, "standard INQUIRY data is 96 bytes here");

/* VPD page codes (SPC-4 7.8, SBC-3 6.6). */
enum osp_scsi_vpd_page {
	OSP_SCSI_VPD_SUPPORTED_PAGES = 0x00,
	OSP_SCSI_VPD_UNIT_SERIAL = 0x80,
	OSP_SCSI_VPD_DEVICE_ID = 0x83,
	OSP_SCSI_VPD_EXTENDED_INQUIRY = 0x86,
	OSP_SCSI_VPD_BLOCK_LIMITS = 0xb0,
	OSP_SCSI_VPD_BLOCK_DEV_CHARS = 0xb1,
	OSP_SCSI_VPD_LOGICAL_BLOCK_PROV = 0xb2,
};

/* Designation descriptor header (SPC-4 7.8.6.1). */
struct osp_scsi_desig_desc {
	uint8_t proto_codeset;		/* protocol id 7:4, code set 3:0 */
	uint8_t piv_assoc_type;		/* PIV 7, association 5:4, designator type 3:0 */
	uint8_t reserved;
	uint8_t len;
	uint8_t desig[];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_desig_desc) == 4, "designation descriptor header");

#define OSP_SCSI_CODESET_BINARY		1
#define OSP_SCSI_CODESET_ASCII		2
#define OSP_SCSI_CODESET_UTF8		3
#define OSP_SCSI_ASSOC_LU		0
#define OSP_SCSI_ASSOC_TARGET_PORT	1
#define OSP_SCSI_ASSOC_TARGET_DEVICE	2
#define OSP_SCSI_DESIG_T10		1
#define OSP_SCSI_DESIG_NAA		3
#define OSP_SCSI_DESIG_REL_PORT		4
#define OSP_SCSI_DESIG_TPG		5
#define OSP_SCSI_DESIG_SCSI_NAME	8
#define OSP_SCSI_PROTO_ISCSI		5

/* Block Limits VPD page (SBC-3 6.6.4), 64 bytes. */
struct osp_scsi_vpd_block_limits {
	uint8_t peripheral;
	uint8_t page_code;		/* 0xb0 */
	uint8_t page_len[2];		/* 0x3c */
	uint8_t wsnz;			/* bit 0: WRITE SAME with 0 blocks not supported */
	uint8_t max_caw_len;		/* COMPARE AND WRITE, blocks */
	uint8_t opt_xfer_gran[2];
	uint8_t max_xfer_len[4];
	uint8_t opt_xfer_len[4];
	uint8_t max_prefetch_len[4];
	uint8_t max_unmap_lba_count[4];
	uint8_t max_unmap_desc_count[4];
	uint8_t opt_unmap_gran[4];
	uint8_t unmap_gran_align[4];	/* bit 7 of byte 0: UGAVALID */
	uint8_t max_write_same_len[8];
	uint8_t max_atomic_len[4];
	uint8_t atomic_align[4];
	uint8_t atomic_gran[4];
	uint8_t reserved[8];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_vpd_block_limits) == 64, "Block Limits VPD is 64 bytes");

/* Logical Block Provisioning VPD page bits (SBC-3 6.6.5), byte 5. */
#define OSP_SCSI_LBP_LBPU		0x80
#define OSP_SCSI_LBP_LBPWS		0x40
#define OSP_SCSI_LBP_LBPWS10		0x20
#define OSP_SCSI_LBP_LBPRZ		0x04
#define OSP_SCSI_LBP_DP			0x01
#define OSP_SCSI_PROV_THIN		0x02

/* ---- READ CAPACITY (SBC-3 5.15, 5.16) ---- */

struct osp_scsi_read_cap10_data {
	uint8_t last_lba[4];
	uint8_t block_len[4];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_read_cap10_data) == 8, "READ CAPACITY (10) data");

struct osp_scsi_read_cap16_data {
	uint8_t last_lba[8];
	uint8_t block_len[4];
	uint8_t prot;			/* P_TYPE 3:1, PROT_EN 0 */
	uint8_t exponents;		/* P_I_EXPONENT 7:4, LOGICAL BLOCKS PER PHYSICAL exponent 3:0 */
	uint8_t lbp_lowest[2];		/* LBPME 7, LBPRZ 6 of byte 14; lowest aligned LBA 13:0 */
	uint8_t reserved[16];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_read_cap16_data) == 32, "READ CAPACITY (16) data");
#define OSP_SCSI_RC16_LBPME		0x80
#define OSP_SCSI_RC16_LBPRZ		0x40

/* ---- mode pages (SPC-4 7.5, SBC-3 6.5) ---- */

#define OSP_SCSI_MODE_PAGE_DISCONNECT	0x02
#define OSP_SCSI_MODE_PAGE_CACHING	0x08
#define OSP_SCSI_MODE_PAGE_CONTROL	0x0a
#define OSP_SCSI_MODE_PAGE_INFO_EXCEPT	0x1c
#define OSP_SCSI_MODE_PAGE_ALL		0x3f
/* Page control of MODE SENSE (byte 2 bits 7:6). */
#define OSP_SCSI_PC_CURRENT		0
#define OSP_SCSI_PC_CHANGEABLE		1
#define OSP_SCSI_PC_DEFAULT		2
#define OSP_SCSI_PC_SAVED		3

/* Caching mode page (SBC-3 6.5.5), 20 bytes with its header. */
struct osp_scsi_caching_page {
	uint8_t page_code;		/* PS 7, SPF 6, 0x08 */
	uint8_t page_len;		/* 0x12 */
	uint8_t flags2;			/* IC 7, ABPF 6, CAP 5, DISC 4, SIZE 3, WCE 2, MF 1, RCD 0 */
	uint8_t retention;
	uint8_t disable_prefetch_len[2];
	uint8_t min_prefetch[2];
	uint8_t max_prefetch[2];
	uint8_t max_prefetch_ceiling[2];
	uint8_t flags12;		/* FSW 7, LBCSS 6, DRA 5, NV_DIS 0 */
	uint8_t num_cache_segments;
	uint8_t cache_segment_size[2];
	uint8_t reserved16;
	uint8_t obsolete[3];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_caching_page) == 20, "caching mode page");
#define OSP_SCSI_CACHING_WCE		0x04
#define OSP_SCSI_CACHING_RCD		0x01

/* Control mode page (SPC-4 7.5.8), 12 bytes. */
struct osp_scsi_control_page {
	uint8_t page_code;		/* 0x0a */
	uint8_t page_len;		/* 0x0a */
	uint8_t flags2;			/* TST 7:5, TMF_ONLY 4, DPICZ 3, D_SENSE 2, GLTSD 1, RLEC 0 */
	uint8_t flags3;			/* QUEUE ALGORITHM MODIFIER 7:4, NUAR 3, QERR 2:1 */
	uint8_t flags4;			/* VS 7, RAC 6, UA_INTLCK_CTRL 5:4, SWP 3 */
	uint8_t flags5;			/* ATO 7, TAS 6, ATMPE 5, RWWP 4, AUTOLOAD 2:0 */
	uint8_t obsolete[2];
	uint8_t busy_timeout[2];
	uint8_t ext_selftest_time[2];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_control_page) == 12, "control mode page");
#define OSP_SCSI_CONTROL_D_SENSE	0x04
#define OSP_SCSI_CONTROL_SWP		0x08
#define OSP_SCSI_CONTROL_TAS		0x40
#define OSP_SCSI_CONTROL_QAM_UNRESTRICTED 0x10

/* Disconnect-reconnect mode page (SPC-4 7.5.9), 16 bytes. */
struct osp_scsi_disconnect_page {
	uint8_t page_code;		/* 0x02 */
	uint8_t page_len;		/* 0x0e */
	uint8_t buffer_full_ratio;
	uint8_t buffer_empty_ratio;
	uint8_t bus_inactivity_limit[2];
	uint8_t disconnect_time_limit[2];
	uint8_t connect_time_limit[2];
	uint8_t max_burst_size[2];
	uint8_t flags12;
	uint8_t reserved13;
	uint8_t first_burst_size[2];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_disconnect_page) == 16, "disconnect-reconnect mode page");

/* Informational exceptions control mode page (SPC-4 7.5.12), 12 bytes. */
struct osp_scsi_ie_page {
	uint8_t page_code;		/* 0x1c */
	uint8_t page_len;		/* 0x0a */
	uint8_t flags2;			/* PERF 7, EBF 5, EWASC 4, DEXCPT 3, TEST 2, EBACKERR 1, LOGERR 0 */
	uint8_t mrie;			/* 3:0 */
	uint8_t interval_timer[4];
	uint8_t report_count[4];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_ie_page) == 12, "informational exceptions mode page");
#define OSP_SCSI_IE_DEXCPT		0x08

/* Mode parameter headers (SPC-4 7.5.4). */
struct osp_scsi_mode_hdr6 {
	uint8_t data_len;		/* bytes after this one */
	uint8_t medium_type;
	uint8_t dev_specific;		/* WP 7, DPOFUA 4 for direct access (SBC-3 6.5.1) */
	uint8_t block_desc_len;
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_mode_hdr6) == 4, "mode parameter header (6)");
struct osp_scsi_mode_hdr10 {
	uint8_t data_len[2];
	uint8_t medium_type;
	uint8_t dev_specific;
	uint8_t longlba;		/* bit 0 */
	uint8_t reserved;
	uint8_t block_desc_len[2];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_mode_hdr10) == 8, "mode parameter header (10)");
#define OSP_SCSI_MODE_DEVSPEC_WP	0x80
#define OSP_SCSI_MODE_DEVSPEC_DPOFUA	0x10
/* Short LBA mode parameter block descriptor (SBC-3 6.5.2). */
struct osp_scsi_block_desc {
	uint8_t num_blocks[4];
	uint8_t reserved;
	uint8_t block_len[3];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_block_desc) == 8, "short block descriptor");
/* Long LBA mode parameter block descriptor (SBC-3 6.5.2, LONGLBA). */
struct osp_scsi_long_block_desc {
	uint8_t num_blocks[8];
	uint8_t reserved[4];
	uint8_t block_len[4];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_long_block_desc) == 16, "long block descriptor");

/* ---- UNMAP (SBC-3 5.28) ---- */

struct osp_scsi_unmap_hdr {
	uint8_t data_len[2];		/* bytes after this field */
	uint8_t desc_data_len[2];	/* bytes of descriptors */
	uint8_t reserved[4];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_unmap_hdr) == 8, "UNMAP parameter list header");
struct osp_scsi_unmap_desc {
	uint8_t lba[8];
	uint8_t num_blocks[4];
	uint8_t reserved[4];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_unmap_desc) == 16, "UNMAP block descriptor");

/* GET LBA STATUS descriptor (SBC-3 5.7). */
struct osp_scsi_lba_status_desc {
	uint8_t lba[8];
	uint8_t num_blocks[4];
	uint8_t status;			/* 3:0: 0 mapped, 1 deallocated, 2 anchored */
	uint8_t reserved[3];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_lba_status_desc) == 16, "LBA status descriptor");

/* ---- persistent reservations (SPC-4 5.12, 6.15, 6.16) ---- */

enum osp_scsi_pr_in_sa {
	OSP_SCSI_PR_IN_READ_KEYS = 0x00,
	OSP_SCSI_PR_IN_READ_RESERVATION = 0x01,
	OSP_SCSI_PR_IN_REPORT_CAPABILITIES = 0x02,
	OSP_SCSI_PR_IN_READ_FULL_STATUS = 0x03,
};

enum osp_scsi_pr_out_sa {
	OSP_SCSI_PR_OUT_REGISTER = 0x00,
	OSP_SCSI_PR_OUT_RESERVE = 0x01,
	OSP_SCSI_PR_OUT_RELEASE = 0x02,
	OSP_SCSI_PR_OUT_CLEAR = 0x03,
	OSP_SCSI_PR_OUT_PREEMPT = 0x04,
	OSP_SCSI_PR_OUT_PREEMPT_AND_ABORT = 0x05,
	OSP_SCSI_PR_OUT_REGISTER_AND_IGNORE = 0x06,
	OSP_SCSI_PR_OUT_REGISTER_AND_MOVE = 0x07,
};

/* Reservation types (SPC-4 6.15.3.4, table 168). */
enum osp_scsi_pr_type {
	OSP_SCSI_PR_NONE = 0x0,
	OSP_SCSI_PR_WRITE_EXCLUSIVE = 0x1,
	OSP_SCSI_PR_EXCLUSIVE_ACCESS = 0x3,
	OSP_SCSI_PR_WRITE_EXCLUSIVE_REGS_ONLY = 0x5,
	OSP_SCSI_PR_EXCLUSIVE_ACCESS_REGS_ONLY = 0x6,
	OSP_SCSI_PR_WRITE_EXCLUSIVE_ALL_REGS = 0x7,
	OSP_SCSI_PR_EXCLUSIVE_ACCESS_ALL_REGS = 0x8,
};

/* PERSISTENT RESERVE OUT basic parameter list (SPC-4 6.16.3), 24 bytes. */
struct osp_scsi_pr_out_params {
	uint8_t key[8];
	uint8_t sa_key[8];
	uint8_t obsolete[4];
	uint8_t flags;			/* SPEC_I_PT 3, ALL_TG_PT 2, APTPL 0 */
	uint8_t reserved;
	uint8_t obsolete2[2];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_pr_out_params) == 24, "PR OUT parameter list");
#define OSP_SCSI_PR_OUT_APTPL		0x01
#define OSP_SCSI_PR_OUT_ALL_TG_PT	0x04
#define OSP_SCSI_PR_OUT_SPEC_I_PT	0x08

/* REGISTER AND MOVE parameter list header (SPC-4 6.16.4), 24 bytes + TransportID. */
struct osp_scsi_pr_move_params {
	uint8_t key[8];
	uint8_t sa_key[8];
	uint8_t reserved;
	uint8_t flags;			/* UNREG 1, APTPL 0 */
	uint8_t rel_tgt_port_id[2];
	uint8_t tid_len[4];
	uint8_t tid[];
} __attribute__((packed));
static_assert(sizeof(struct osp_scsi_pr_move_params) == 24, "REGISTER AND MOVE parameter list");
#define OSP_SCSI_PR_MOVE_UNREG		0x02

/* iSCSI TransportID (SPC-4 7.6.4.6): format 00b name, 01b name + ",i,0x" + ISID. */
#define OSP_SCSI_TID_ISCSI		0x05
#define OSP_SCSI_TID_FMT_ISCSI_PORT	0x40

#ifdef __cplusplus
}
#endif

#endif /* OSPREY_SCSI_SPEC_H */
