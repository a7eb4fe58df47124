/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI wire formats (RFC 7143, "iSCSI Protocol (Consolidated)"): the
 * 48-byte Basic Header Segment of every PDU, opcode by opcode, and the codes
 * its fields carry. Multi-byte fields are big-endian on the wire: the structs
 * hold them as raw uint32_t/uint16_t, read with be32toh()/be16toh().
 *
 * Section numbers below are RFC 7143's.
 */
#ifndef OSPREY_ISCSI_SPEC_H
#define OSPREY_ISCSI_SPEC_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ISCSI_BHS_LEN		48
#define ISCSI_DIGEST_LEN	4
/* TotalAHSLength counts 4-byte words in one byte (11.2.1.2). */
#define ISCSI_AHS_MAX_LEN	(255 * 4)
/* DataSegmentLength is 24 bits (11.2.1.3). */
#define ISCSI_DATA_SEGMENT_MAX		0xffffffu
#define ISCSI_RSVD_TAG		0xffffffffu
#define ISCSI_DEFAULT_PORT	3260
#define ISCSI_NAME_MAX_LEN		223	/* 4.2.7.1 */

/* Opcodes (11.1.1): initiator to target. */
enum iscsi_op {
	ISCSI_OP_NOPOUT = 0x00,
	ISCSI_OP_SCSI_CMD = 0x01,
	ISCSI_OP_TMF_REQ = 0x02,
	ISCSI_OP_LOGIN_REQ = 0x03,
	ISCSI_OP_TEXT_REQ = 0x04,
	ISCSI_OP_DATA_OUT = 0x05,
	ISCSI_OP_LOGOUT_REQ = 0x06,
	ISCSI_OP_SNACK = 0x10,
	/* Target to initiator. */
	ISCSI_OP_NOPIN = 0x20,
	ISCSI_OP_SCSI_RSP = 0x21,
	ISCSI_OP_TMF_RSP = 0x22,
	ISCSI_OP_LOGIN_RSP = 0x23,
	ISCSI_OP_TEXT_RSP = 0x24,
	ISCSI_OP_DATA_IN = 0x25,
	ISCSI_OP_LOGOUT_RSP = 0x26,
	ISCSI_OP_R2T = 0x31,
	ISCSI_OP_ASYNC = 0x32,
	ISCSI_OP_REJECT = 0x3f,
};
#define ISCSI_OPCODE_MASK	0x3f
#define ISCSI_OP_IMMEDIATE	0x40	/* I bit of byte 0 */

/*
 * The structs need no packing: every field sits at a multiple of its size,
 * which the size assertions (and the offset ones below) hold to.
 */

/* The generic BHS (11.2.1). */
struct iscsi_bhs {
	uint8_t opcode;			/* I bit + opcode */
	uint8_t flags;			/* F bit + opcode specific */
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;		/* in 4-byte words */
	uint8_t data_segment_len[3];	/* big-endian, bytes, without padding */
	uint8_t lun[8];
	uint32_t itt;
	uint8_t specific[28];
};
static_assert(sizeof(struct iscsi_bhs) == ISCSI_BHS_LEN, "BHS is 48 bytes");

#define ISCSI_FLAG_FINAL	0x80

/* SCSI Command (11.3). */
struct iscsi_bhs_scsi_cmd {
	uint8_t opcode;
	uint8_t flags;			/* F R W attr(3) */
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t edtl;			/* Expected Data Transfer Length */
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint8_t cdb[16];
};
static_assert(sizeof(struct iscsi_bhs_scsi_cmd) == ISCSI_BHS_LEN, "SCSI Command BHS");
#define ISCSI_CMD_FLAG_READ	0x40
#define ISCSI_CMD_FLAG_WRITE	0x20
#define ISCSI_CMD_ATTR_MASK	0x07
/* AHS types (11.2.2): extended CDB and bidirectional read length. */
#define ISCSI_AHS_EXT_CDB	1
#define ISCSI_AHS_BIDI_RLEN	2

/* SCSI Response (11.4). */
struct iscsi_bhs_scsi_rsp {
	uint8_t opcode;
	uint8_t flags;			/* 1 rsvd rsvd o u O U rsvd */
	uint8_t response;
	uint8_t status;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsvd8[8];
	uint32_t itt;
	uint32_t snack_tag;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t exp_datasn;
	uint32_t bidi_residual;
	uint32_t residual;
};
static_assert(sizeof(struct iscsi_bhs_scsi_rsp) == ISCSI_BHS_LEN, "SCSI Response BHS");
#define ISCSI_RSP_FLAG_BIDI_OVERFLOW	0x10
#define ISCSI_RSP_FLAG_BIDI_UNDERFLOW	0x08
#define ISCSI_RSP_FLAG_OVERFLOW		0x04
#define ISCSI_RSP_FLAG_UNDERFLOW	0x02
/* Response field (11.4.3). */
#define ISCSI_RSP_COMPLETED		0x00
#define ISCSI_RSP_TARGET_FAILURE	0x01

/* Task Management Function Request (11.5) / Response (11.6). */
struct iscsi_bhs_tmf_req {
	uint8_t opcode;
	uint8_t flags;			/* 1 + function (7 bits) */
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ref_task_tag;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint32_t ref_cmdsn;
	uint32_t exp_datasn;
	uint8_t rsvd40[8];
};
static_assert(sizeof(struct iscsi_bhs_tmf_req) == ISCSI_BHS_LEN, "TMF Request BHS");
#define ISCSI_TMF_FUNC_MASK		0x7f
enum iscsi_tmf_func {
	ISCSI_TMF_ABORT_TASK = 1,
	ISCSI_TMF_ABORT_TASK_SET = 2,
	ISCSI_TMF_CLEAR_ACA = 3,
	ISCSI_TMF_CLEAR_TASK_SET = 4,
	ISCSI_TMF_LUN_RESET = 5,
	ISCSI_TMF_TARGET_WARM_RESET = 6,
	ISCSI_TMF_TARGET_COLD_RESET = 7,
	ISCSI_TMF_TASK_REASSIGN = 8,
};

struct iscsi_bhs_tmf_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t response;
	uint8_t rsvd3;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsvd8[8];
	uint32_t itt;
	uint32_t rsvd20;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint8_t rsvd36[12];
};
static_assert(sizeof(struct iscsi_bhs_tmf_rsp) == ISCSI_BHS_LEN, "TMF Response BHS");
/* TMF Response field (11.6.1). */
enum iscsi_tmf_rsp {
	ISCSI_TMF_RSP_COMPLETE = 0,
	ISCSI_TMF_RSP_NO_TASK = 1,
	ISCSI_TMF_RSP_NO_LUN = 2,
	ISCSI_TMF_RSP_TASK_ALLEGIANT = 3,
	ISCSI_TMF_RSP_NO_REASSIGN = 4,
	ISCSI_TMF_RSP_NOT_SUPPORTED = 5,
	ISCSI_TMF_RSP_AUTH_FAILED = 6,
	ISCSI_TMF_RSP_REJECTED = 255,
};

/* SCSI Data-Out and Data-In (11.7). */
struct iscsi_bhs_data_out {
	uint8_t opcode;
	uint8_t flags;			/* F */
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t rsvd24;
	uint32_t exp_statsn;
	uint32_t rsvd32;
	uint32_t datasn;
	uint32_t buffer_offset;
	uint32_t rsvd44;
};
static_assert(sizeof(struct iscsi_bhs_data_out) == ISCSI_BHS_LEN, "Data-Out BHS");

struct iscsi_bhs_data_in {
	uint8_t opcode;
	uint8_t flags;			/* F A 0 0 0 O U S */
	uint8_t rsvd2;
	uint8_t status;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t datasn;
	uint32_t buffer_offset;
	uint32_t residual;
};
static_assert(sizeof(struct iscsi_bhs_data_in) == ISCSI_BHS_LEN, "Data-In BHS");
#define ISCSI_DATAIN_FLAG_ACK		0x40
#define ISCSI_DATAIN_FLAG_OVERFLOW	0x04
#define ISCSI_DATAIN_FLAG_UNDERFLOW	0x02
#define ISCSI_DATAIN_FLAG_STATUS	0x01

/* Ready To Transfer (11.8). */
struct iscsi_bhs_r2t {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t r2tsn;
	uint32_t buffer_offset;
	uint32_t desired_len;
};
static_assert(sizeof(struct iscsi_bhs_r2t) == ISCSI_BHS_LEN, "R2T BHS");

/* Asynchronous Message (11.9). */
struct iscsi_bhs_async {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint32_t itt;			/* 0xffffffff */
	uint32_t rsvd20;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint8_t async_event;
	uint8_t async_vcode;
	uint16_t param1;
	uint16_t param2;
	uint16_t param3;
	uint32_t rsvd44;
};
static_assert(sizeof(struct iscsi_bhs_async) == ISCSI_BHS_LEN, "Async BHS");
/* AsyncEvent (11.9.1). */
#define ISCSI_ASYNC_SCSI_EVENT		0
#define ISCSI_ASYNC_LOGOUT_REQUEST	1
#define ISCSI_ASYNC_DROP_CONNECTION	2
#define ISCSI_ASYNC_DROP_ALL		3
#define ISCSI_ASYNC_RENEGOTIATE		4

/* Text Request (11.10) / Response (11.11). */
struct iscsi_bhs_text {
	uint8_t opcode;
	uint8_t flags;			/* F C */
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t cmdsn_or_statsn;	/* request: CmdSN; response: StatSN */
	uint32_t exp_statsn_or_cmdsn;	/* request: ExpStatSN; response: ExpCmdSN */
	uint32_t max_cmdsn;		/* response only */
	uint8_t rsvd36[12];
};
static_assert(sizeof(struct iscsi_bhs_text) == ISCSI_BHS_LEN, "Text BHS");
#define ISCSI_TEXT_FLAG_CONTINUE	0x40

/* Login Request (11.12) / Response (11.13). */
struct iscsi_bhs_login_req {
	uint8_t opcode;			/* 0x43: always immediate */
	uint8_t flags;			/* T C 0 0 CSG(2) NSG(2) */
	uint8_t version_max;
	uint8_t version_min;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t itt;
	uint16_t cid;
	uint16_t rsvd22;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint8_t rsvd32[16];
};
static_assert(sizeof(struct iscsi_bhs_login_req) == ISCSI_BHS_LEN, "Login Request BHS");

struct iscsi_bhs_login_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t version_max;
	uint8_t version_active;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t itt;
	uint32_t rsvd20;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint8_t status_class;
	uint8_t status_detail;
	uint8_t rsvd38[10];
};
static_assert(sizeof(struct iscsi_bhs_login_rsp) == ISCSI_BHS_LEN, "Login Response BHS");
#define ISCSI_LOGIN_FLAG_TRANSIT	0x80
#define ISCSI_LOGIN_FLAG_CONTINUE	0x40
#define ISCSI_LOGIN_CSG(flags)		(((flags) >> 2) & 3)
#define ISCSI_LOGIN_NSG(flags)		((flags) & 3)
#define ISCSI_VERSION			0x00

/* Logout Request (11.14) / Response (11.15). */
struct iscsi_bhs_logout_req {
	uint8_t opcode;
	uint8_t flags;			/* 1 + reason (7 bits) */
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsvd8[8];
	uint32_t itt;
	uint16_t cid;
	uint16_t rsvd22;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint8_t rsvd32[16];
};
static_assert(sizeof(struct iscsi_bhs_logout_req) == ISCSI_BHS_LEN, "Logout Request BHS");
#define ISCSI_LOGOUT_REASON_MASK	0x7f
#define ISCSI_LOGOUT_CLOSE_SESSION	0
#define ISCSI_LOGOUT_CLOSE_CONNECTION	1
#define ISCSI_LOGOUT_REMOVE_FOR_RECOVERY 2

struct iscsi_bhs_logout_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t response;
	uint8_t rsvd3;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsvd8[8];
	uint32_t itt;
	uint32_t rsvd20;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t rsvd36;
	uint16_t time2wait;
	uint16_t time2retain;
	uint32_t rsvd44;
};
static_assert(sizeof(struct iscsi_bhs_logout_rsp) == ISCSI_BHS_LEN, "Logout Response BHS");
#define ISCSI_LOGOUT_RSP_SUCCESS	0
#define ISCSI_LOGOUT_RSP_CID_NOT_FOUND	1
#define ISCSI_LOGOUT_RSP_NO_RECOVERY	2
#define ISCSI_LOGOUT_RSP_CLEANUP_FAILED	3

/* NOP-Out (11.18) / NOP-In (11.19). */
struct iscsi_bhs_nop {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t cmdsn_or_statsn;	/* NOP-Out: CmdSN; NOP-In: StatSN */
	uint32_t exp_statsn_or_cmdsn;	/* NOP-Out: ExpStatSN; NOP-In: ExpCmdSN */
	uint32_t max_cmdsn;		/* NOP-In only */
	uint8_t rsvd36[12];
};
static_assert(sizeof(struct iscsi_bhs_nop) == ISCSI_BHS_LEN, "NOP BHS");

/* Reject (11.17); its data segment is the rejected PDU's header. */
struct iscsi_bhs_reject {
	uint8_t opcode;
	uint8_t flags;
	uint8_t reason;
	uint8_t rsvd3;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsvd8[8];
	uint32_t itt;			/* 0xffffffff */
	uint32_t rsvd20;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t datasn_r2tsn;
	uint8_t rsvd40[8];
};
static_assert(sizeof(struct iscsi_bhs_reject) == ISCSI_BHS_LEN, "Reject BHS");
enum iscsi_reject_reason {
	ISCSI_REJECT_DATA_DIGEST = 0x02,
	ISCSI_REJECT_SNACK = 0x03,
	ISCSI_REJECT_PROTOCOL_ERROR = 0x04,
	ISCSI_REJECT_CMD_NOT_SUPPORTED = 0x05,
	ISCSI_REJECT_IMMEDIATE_CMD = 0x06,
	ISCSI_REJECT_TASK_IN_PROGRESS = 0x07,
	ISCSI_REJECT_INVALID_DATA_ACK = 0x08,
	ISCSI_REJECT_INVALID_PDU_FIELD = 0x09,
	ISCSI_REJECT_LONG_OP = 0x0a,
	ISCSI_REJECT_WAITING_FOR_LOGOUT = 0x0c,
};

static_assert(offsetof(struct iscsi_bhs_login_req, tsih) == 14, "TSIH at byte 14");
static_assert(offsetof(struct iscsi_bhs_login_req, cid) == 20, "CID at byte 20");
static_assert(offsetof(struct iscsi_bhs_data_in, residual) == 44, "residual at byte 44");
static_assert(offsetof(struct iscsi_bhs_async, param3) == 42, "Parameter3 at byte 42");
static_assert(offsetof(struct iscsi_bhs_logout_rsp, time2wait) == 40, "Time2Wait at byte 40");
static_assert(offsetof(struct iscsi_bhs_scsi_cmd, cdb) == 32, "CDB at byte 32");

/* The 24-bit DataSegmentLength. */
static inline uint32_t
iscsi_bhs_dsl(const struct iscsi_bhs *bhs)
{
	return ((uint32_t)bhs->data_segment_len[0] << 16) |
	       ((uint32_t)bhs->data_segment_len[1] << 8) | bhs->data_segment_len[2];
}

static inline void
iscsi_bhs_set_dsl(struct iscsi_bhs *bhs, uint32_t len)
{
	bhs->data_segment_len[0] = (uint8_t)(len >> 16);
	bhs->data_segment_len[1] = (uint8_t)(len >> 8);
	bhs->data_segment_len[2] = (uint8_t)len;
}

/* Serial number arithmetic on CmdSN / StatSN (RFC 1982, 32 bits; 4.2.2.1). */
static inline int
iscsi_sn_lt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) < 0;
}

static inline int
iscsi_sn_gt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) > 0;
}

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_ISCSI_SPEC_H */
