/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP wire formats: PDU types, headers and field offsets.
 *
 * References: NVM Express TCP Transport Specification 1.0a ("TCP spec";
 * it carries TP 8000 forward from NVMe-oF 1.1): its PDU structure and
 * PDU definitions, and the NVMe Base Specification 2.0. All multi-byte
 * fields are little-endian; the structs assume a little-endian host.
 *
 * The codec that builds and parses them (include/osprey_internal/
 * nvme_tcp_codec.h, lib/nvme_tcp_codec) is Osprey's own and not installed.
 */
#ifndef OSPREY_NVME_TCP_SPEC_H
#define OSPREY_NVME_TCP_SPEC_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osprey/nvme_spec.h"
#include "osprey/nvmf_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- wire formats */

#define OSP_NVME_TCP_DISCOVERY_PORT 8009
#define OSP_NVME_TCP_IO_PORT 4420

/* PDU types (TCP spec Figure "PDU Type"). 08h is reserved. */
enum osp_nvme_tcp_pdu_type {
	OSP_NVME_TCP_PDU_TYPE_IC_REQ = 0x00,
	OSP_NVME_TCP_PDU_TYPE_IC_RESP = 0x01,
	OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ = 0x02,
	OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ = 0x03,
	OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD = 0x04,
	OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP = 0x05,
	OSP_NVME_TCP_PDU_TYPE_H2C_DATA = 0x06,
	OSP_NVME_TCP_PDU_TYPE_C2H_DATA = 0x07,
	OSP_NVME_TCP_PDU_TYPE_R2T = 0x09,
};

/* Common header FLAGS. HDGSTF/DDGSTF apply to every type that may carry digests. */
#define OSP_NVME_TCP_CH_FLAGS_HDGSTF (1u << 0)
#define OSP_NVME_TCP_CH_FLAGS_DDGSTF (1u << 1)
/* H2CData / C2HData: last PDU of the transfer (of the R2T for H2CData). */
#define OSP_NVME_TCP_DATA_FLAGS_LAST_PDU (1u << 2)
/* C2HData only: the command succeeded, no CapsuleResp follows (requires LAST_PDU). */
#define OSP_NVME_TCP_C2H_DATA_FLAGS_SUCCESS (1u << 3)

#define OSP_NVME_TCP_DIGEST_LEN 4
#define OSP_NVME_TCP_PFV_1_0 0x0000
/* HPDA/CPDA: required PDU data alignment is (n + 1) * 4 bytes, n in 0..31. */
#define OSP_NVME_TCP_PDA_MAX 31
#define OSP_NVME_TCP_PDA_ALIGN(pda) (((uint32_t)(pda) + 1) * 4)
/* ICReq/ICResp DGST field. */
#define OSP_NVME_TCP_DGST_HDGST_ENABLE (1u << 0)
#define OSP_NVME_TCP_DGST_DDGST_ENABLE (1u << 1)
/* MAXH2CDATA is a multiple of 4 and at least 4096 (TCP spec §3.6.2.3). */
#define OSP_NVME_TCP_MIN_MAXH2CDATA 4096
/* TermReq PDUs carry at most the 128-byte header of the offending PDU. */
#define OSP_NVME_TCP_TERM_REQ_ERROR_DATA_MAX 128
#define OSP_NVME_TCP_TERM_REQ_PLEN_MAX (24 + OSP_NVME_TCP_TERM_REQ_ERROR_DATA_MAX)

/* Common header (TCP spec, PDU common header): 8 bytes at the start of every PDU. */
struct osp_nvme_tcp_common_hdr {
	uint8_t pdu_type;
	uint8_t flags;
	uint8_t hlen; /* PDU header length, without header digest */
	uint8_t pdo;  /* PDU data offset from the start of the PDU; 0 if no data */
	uint32_t plen; /* total PDU length: header, digests, padding, data */
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_common_hdr) == 8, "common header is 8 bytes");

/* Field offsets reported as FEI for "invalid PDU header field". */
#define OSP_NVME_TCP_CH_OFF_PDU_TYPE 0
#define OSP_NVME_TCP_CH_OFF_FLAGS 1
#define OSP_NVME_TCP_CH_OFF_HLEN 2
#define OSP_NVME_TCP_CH_OFF_PDO 3
#define OSP_NVME_TCP_CH_OFF_PLEN 4

/* Initialize Connection Request, host to controller, first PDU on a connection. */
struct osp_nvme_tcp_ic_req {
	struct osp_nvme_tcp_common_hdr ch;
	uint16_t pfv;
	uint8_t hpda;	/* host PDU data alignment for C2H PDUs */
	uint8_t dgst;	/* OSP_NVME_TCP_DGST_* requested */
	uint32_t maxr2t; /* max outstanding R2Ts per command, 0's based */
	uint8_t rsvd16[112];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_ic_req) == 128, "ICReq is 128 bytes");

/* Initialize Connection Response, controller to host. */
struct osp_nvme_tcp_ic_resp {
	struct osp_nvme_tcp_common_hdr ch;
	uint16_t pfv;
	uint8_t cpda;	     /* controller PDU data alignment for H2C PDUs */
	uint8_t dgst;	     /* OSP_NVME_TCP_DGST_* enabled */
	uint32_t maxh2cdata; /* max data bytes per H2CData PDU */
	uint8_t rsvd16[112];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_ic_resp) == 128, "ICResp is 128 bytes");

/* H2CTermReq / C2HTermReq header; up to 128 bytes of error data follow (no digests). */
struct osp_nvme_tcp_term_req_hdr {
	struct osp_nvme_tcp_common_hdr ch;
	uint16_t fes; /* enum osp_nvme_tcp_fes */
	uint32_t fei; /* fatal error information: field offset for FES 01h/06h */
	uint8_t rsvd14[10];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_term_req_hdr) == 24, "TermReq header is 24 bytes");
static_assert(offsetof(struct osp_nvme_tcp_term_req_hdr, fei) == 10, "FEI is at byte 10");

/* Fatal error status (TermReq FES). 05h is "Data Transfer Limit Exceeded" in a
 * C2HTermReq (H2CData too long) and "R2T Limit Exceeded" in an H2CTermReq. */
enum osp_nvme_tcp_fes {
	OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD = 0x01,
	OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR = 0x02,
	OSP_NVME_TCP_FES_HDGST_ERROR = 0x03,
	OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE = 0x04,
	OSP_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED = 0x05,
	OSP_NVME_TCP_FES_R2T_LIMIT_EXCEEDED = 0x05,
	OSP_NVME_TCP_FES_UNSUPPORTED_PARAMETER = 0x06,
};

/* Command capsule: the SQE, then optional in-capsule data at PDO. */
struct osp_nvme_tcp_cmd {
	struct osp_nvme_tcp_common_hdr ch;
	struct osp_nvme_cmd ccsqe;
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_cmd) == 72, "CapsuleCmd header is 72 bytes");

/* Response capsule: the CQE; never carries data. */
struct osp_nvme_tcp_rsp {
	struct osp_nvme_tcp_common_hdr ch;
	struct osp_nvme_cpl rccqe;
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_rsp) == 24, "CapsuleResp is 24 bytes");

/* H2CData: host data for an R2T (or the first burst). */
struct osp_nvme_tcp_h2c_data_hdr {
	struct osp_nvme_tcp_common_hdr ch;
	uint16_t cccid; /* command capsule CID */
	uint16_t ttag;	/* transfer tag from the R2T */
	uint32_t datao; /* offset of this data in the command's buffer */
	uint32_t datal; /* data bytes in this PDU */
	uint8_t rsvd20[4];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_h2c_data_hdr) == 24, "H2CData header is 24 bytes");

/* C2HData: controller data for a read. */
struct osp_nvme_tcp_c2h_data_hdr {
	struct osp_nvme_tcp_common_hdr ch;
	uint16_t cccid;
	uint8_t rsvd10[2];
	uint32_t datao;
	uint32_t datal;
	uint8_t rsvd20[4];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_c2h_data_hdr) == 24, "C2HData header is 24 bytes");

/* Ready to Transfer: controller asks for r2tl bytes at r2to. */
struct osp_nvme_tcp_r2t_hdr {
	struct osp_nvme_tcp_common_hdr ch;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to;
	uint32_t r2tl;
	uint8_t rsvd20[4];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvme_tcp_r2t_hdr) == 24, "R2T is 24 bytes");

#define OSP_NVME_TCP_DATA_OFF_DATAO 12
#define OSP_NVME_TCP_DATA_OFF_DATAL 16
#define OSP_NVME_TCP_R2T_OFF_R2TL 16
#define OSP_NVME_TCP_IC_OFF_PFV 8
#define OSP_NVME_TCP_IC_OFF_PDA 10
#define OSP_NVME_TCP_IC_OFF_DGST 11
#define OSP_NVME_TCP_IC_OFF_MAXR2T_MAXH2CDATA 12

/* Largest HLEN (ICReq/ICResp). */
#define OSP_NVME_TCP_HLEN_MAX 128

/* Any PDU header. */
union osp_nvme_tcp_pdu_hdr {
	uint8_t raw[OSP_NVME_TCP_HLEN_MAX];
	struct osp_nvme_tcp_common_hdr ch;
	struct osp_nvme_tcp_ic_req ic_req;
	struct osp_nvme_tcp_ic_resp ic_resp;
	struct osp_nvme_tcp_term_req_hdr term_req;
	struct osp_nvme_tcp_cmd capsule_cmd;
	struct osp_nvme_tcp_rsp capsule_resp;
	struct osp_nvme_tcp_h2c_data_hdr h2c_data;
	struct osp_nvme_tcp_c2h_data_hdr c2h_data;
	struct osp_nvme_tcp_r2t_hdr r2t;
};
static_assert(sizeof(union osp_nvme_tcp_pdu_hdr) == 128, "PDU header union is 128 bytes");

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_NVME_TCP_SPEC_H */
