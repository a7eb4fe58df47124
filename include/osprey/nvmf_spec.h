/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe over Fabrics wire formats: the Fabrics command set, Connect, properties
 * and the discovery log page (NVM Express Base Specification 2.0, §3.3 and
 * §6 "Fabrics Command Set"; Figure numbers from that document). Field names
 * follow the specification; everything is little-endian on the wire.
 */
#ifndef OSPREY_NVMF_SPEC_H
#define OSPREY_NVMF_SPEC_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osprey/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* All Fabrics commands use this opcode; FCTYPE selects the command (§6, Figure 511). */
#define OSP_NVMF_FABRIC_OPCODE 0x7f

enum osp_nvmf_fabric_cmd_type {
	OSP_NVMF_FCTYPE_PROPERTY_SET = 0x00,
	OSP_NVMF_FCTYPE_CONNECT = 0x01,
	OSP_NVMF_FCTYPE_PROPERTY_GET = 0x04,
	OSP_NVMF_FCTYPE_AUTHENTICATION_SEND = 0x05,
	OSP_NVMF_FCTYPE_AUTHENTICATION_RECV = 0x06,
	OSP_NVMF_FCTYPE_DISCONNECT = 0x08,
};

/* Common Fabrics command layout (Figure 512). */
struct osp_nvmf_capsule_cmd {
	uint8_t opcode; /* 0x7f */
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t fabric_specific[24];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_capsule_cmd) == 64, "fabrics command is 64 bytes");

/* Connect command (§6.3, Figure 520). */
struct osp_nvmf_connect_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct osp_nvme_sgl_descriptor sgl1; /* describes the 1024-byte Connect data */
	uint16_t recfmt; /* record format, 0 */
	uint16_t qid;	 /* 0 = admin queue */
	uint16_t sqsize; /* 0's based */
	uint8_t cattr;	 /* bit 2: SQ flow control disable (§6.3) */
	uint8_t rsvd3;
	uint32_t kato; /* keep alive timeout, ms; admin queue only */
	uint8_t rsvd4[12];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_connect_cmd) == 64, "Connect is 64 bytes");
static_assert(offsetof(struct osp_nvmf_connect_cmd, sgl1) == 24, "sgl1");
static_assert(offsetof(struct osp_nvmf_connect_cmd, recfmt) == 40, "recfmt");
#define OSP_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL (1u << 2)
/* cntlid in Connect data: 0xffff = dynamic controller model, 0xfffe = any (static model). */
#define OSP_NVMF_CNTLID_DYNAMIC 0xffff
#define OSP_NVMF_CNTLID_STATIC_ANY 0xfffe
#define OSP_NVMF_CNTLID_MAX 0xffef /* valid static IDs are 1h..FFEFh */

#define OSP_NVMF_NQN_MAX_LEN 223    /* bytes, without the NUL (§4.5) */
#define OSP_NVMF_NQN_FIELD_SIZE 256 /* field width in Connect data / discovery log */
#define OSP_NVMF_NQN_MIN_LEN 11	    /* "nqn.yyyy-mm" */
#define OSP_NVMF_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"
#define OSP_NVMF_NQN_UUID_PREFIX "nqn.2014-08.org.nvmexpress:uuid:"

/* Connect command data (Figure 521): 1024 bytes. */
struct osp_nvmf_connect_data {
	uint8_t hostid[16];
	uint16_t cntlid;
	uint8_t rsvd18[238];
	char subnqn[OSP_NVMF_NQN_FIELD_SIZE]; /* NUL terminated */
	char hostnqn[OSP_NVMF_NQN_FIELD_SIZE];
	uint8_t rsvd768[256];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_connect_data) == 1024, "Connect data is 1024 bytes");
static_assert(offsetof(struct osp_nvmf_connect_data, subnqn) == 256, "subnqn");
static_assert(offsetof(struct osp_nvmf_connect_data, hostnqn) == 512, "hostnqn");

/* Connect response (Figure 522): a CQE whose dword 0 is interpreted by status. */
struct osp_nvmf_connect_rsp {
	union {
		struct {
			uint16_t cntlid;
			uint16_t authreq; /* bits of authentication requirements */
		} success;
		/* Connect Invalid Parameters: which field is bad (Figure 523). */
		/* dword 0 bits 15:0 IPO, 23:16 IATTR (as the Linux host and target read it). */
		struct {
			uint16_t ipo; /* byte offset of the invalid parameter */
			uint8_t iattr; /* 0 = in the command, 1 = in the Connect data */
			uint8_t rsvd;
		} invalid;
		uint32_t raw;
	} status_code_specific;
	uint32_t rsvd4;
	uint16_t sqhd;
	uint16_t rsvd10;
	uint16_t cid;
	union {
		uint16_t raw;
		struct osp_nvme_status status;
	};
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_connect_rsp) == 16, "Connect response is 16 bytes");

/* Fabrics command specific status codes (SCT 1h; Figure 100). */
enum osp_nvmf_fabric_sc {
	OSP_NVMF_SC_INCOMPATIBLE_FORMAT = 0x80,
	OSP_NVMF_SC_CONTROLLER_BUSY = 0x81,
	OSP_NVMF_SC_INVALID_PARAM = 0x82,
	OSP_NVMF_SC_RESTART_DISCOVERY = 0x83,
	OSP_NVMF_SC_INVALID_HOST = 0x84,
	OSP_NVMF_SC_INVALID_QUEUE_TYPE = 0x85,
	OSP_NVMF_SC_DISCOVER_RESTART = 0x90,
	OSP_NVMF_SC_AUTH_REQUIRED = 0x91,
};

/* Property Get/Set attribute: bits 2:0 size (Figure 525/528). */
enum osp_nvmf_prop_size {
	OSP_NVMF_PROP_SIZE_4 = 0,
	OSP_NVMF_PROP_SIZE_8 = 1,
};

/* Property Get (§6.5, Figure 524). The value comes back in CQE dwords 0-1. */
struct osp_nvmf_property_get_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t attrib; /* enum osp_nvmf_prop_size in bits 2:0 */
	uint8_t rsvd41[3];
	uint32_t ofst; /* register offset, enum osp_nvme_register_offset */
	uint8_t rsvd48[16];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_property_get_cmd) == 64, "Property Get is 64 bytes");

struct osp_nvmf_property_get_rsp {
	uint64_t value;
	uint16_t sqhd;
	uint16_t rsvd10;
	uint16_t cid;
	union {
		uint16_t raw;
		struct osp_nvme_status status;
	};
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_property_get_rsp) == 16, "Property Get response is 16 bytes");

/* Property Set (§6.6, Figure 527). */
struct osp_nvmf_property_set_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t attrib;
	uint8_t rsvd41[3];
	uint32_t ofst;
	uint64_t value;
	uint8_t rsvd56[8];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_property_set_cmd) == 64, "Property Set is 64 bytes");

/* Disconnect (§6.4). */
struct osp_nvmf_disconnect_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint16_t recfmt;
	uint8_t rsvd42[22];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_disconnect_cmd) == 64, "Disconnect is 64 bytes");

/* Authentication Send / Receive (§6.1, §6.2). */
struct osp_nvmf_auth_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct osp_nvme_sgl_descriptor sgl1;
	uint8_t rsvd40;
	uint8_t spsp0;
	uint8_t spsp1;
	uint8_t secp;
	uint32_t tl_al; /* transfer length (send) or allocation length (receive) */
	uint8_t rsvd48[16];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_auth_cmd) == 64, "Authentication command is 64 bytes");

/* Transport types (TRTYPE, Figure 293 / NVMe-oF assigned numbers). */
enum osp_nvmf_trtype {
	OSP_NVMF_TRTYPE_RDMA = 0x1,
	OSP_NVMF_TRTYPE_FC = 0x2,
	OSP_NVMF_TRTYPE_TCP = 0x3,
	OSP_NVMF_TRTYPE_INTRA_HOST = 0xfe,
};

/* Address families (ADRFAM). */
enum osp_nvmf_adrfam {
	OSP_NVMF_ADRFAM_IPV4 = 0x1,
	OSP_NVMF_ADRFAM_IPV6 = 0x2,
	OSP_NVMF_ADRFAM_IB = 0x3,
	OSP_NVMF_ADRFAM_FC = 0x4,
	OSP_NVMF_ADRFAM_INTRA_HOST = 0xfe,
};

/* Discovery log entry subtypes (SUBTYPE). */
enum osp_nvmf_subtype {
	OSP_NVMF_SUBTYPE_DISCOVERY_REFERRAL = 0x1,
	OSP_NVMF_SUBTYPE_NVME = 0x2,
	OSP_NVMF_SUBTYPE_DISCOVERY_CURRENT = 0x3,
};

/* TREQ: bits 1:0 secure channel, bit 2 SQ flow control disable supported. */
enum osp_nvmf_treq_secure_channel {
	OSP_NVMF_TREQ_SECURE_CHANNEL_NOT_SPECIFIED = 0x0,
	OSP_NVMF_TREQ_SECURE_CHANNEL_REQUIRED = 0x1,
	OSP_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED = 0x2,
};
#define OSP_NVMF_TREQ_DISABLE_SQ_FLOW_CONTROL (1u << 2)

/* EFLAGS (discovery log entry flags). */
#define OSP_NVMF_EFLAGS_DUPLICATE_RETURN_INFO (1u << 0)
#define OSP_NVMF_EFLAGS_EXPLICIT_PERSISTENT_CONN (1u << 1)
#define OSP_NVMF_EFLAGS_NO_CDC_CONNECTIVITY (1u << 2)

/* TCP transport specific address subtype (TSAS) values (TCP transport spec §4). */
enum osp_nvmf_tcp_sectype {
	OSP_NVMF_TCP_SECTYPE_NONE = 0x0,
	OSP_NVMF_TCP_SECTYPE_TLS_1_2 = 0x1,
	OSP_NVMF_TCP_SECTYPE_TLS_1_3 = 0x2,
};

union osp_nvmf_tsas {
	uint8_t raw[256];
	struct {
		uint8_t rdma_qptype; /* 1 reliable connected, 2 reliable datagram */
		uint8_t rdma_prtype; /* provider type */
		uint8_t rdma_cms;    /* 1 = RDMA_CM */
		uint8_t rsvd3[5];
		uint16_t rdma_pkey;
		uint8_t rsvd10[246];
	} __attribute__((packed)) rdma;
	struct {
		uint8_t sectype; /* enum osp_nvmf_tcp_sectype */
		uint8_t rsvd1[255];
	} __attribute__((packed)) tcp;
};
static_assert(sizeof(union osp_nvmf_tsas) == 256, "TSAS is 256 bytes");

#define OSP_NVMF_TRSVCID_MAX_LEN 32
#define OSP_NVMF_TRADDR_MAX_LEN 256

/* Discovery log page entry (Figure 294): 1024 bytes. */
struct osp_nvmf_discovery_log_page_entry {
	uint8_t trtype;
	uint8_t adrfam;
	uint8_t subtype;
	uint8_t treq;
	uint16_t portid;
	uint16_t cntlid;
	uint16_t asqsz; /* max admin SQ size */
	uint16_t eflags;
	uint8_t rsvd12[20];
	char trsvcid[OSP_NVMF_TRSVCID_MAX_LEN]; /* ASCII, space padded */
	uint8_t rsvd64[192];
	char subnqn[OSP_NVMF_NQN_FIELD_SIZE]; /* NUL terminated */
	char traddr[OSP_NVMF_TRADDR_MAX_LEN]; /* ASCII, space padded */
	union osp_nvmf_tsas tsas;
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_discovery_log_page_entry) == 1024, "discovery entry is 1024 bytes");
static_assert(offsetof(struct osp_nvmf_discovery_log_page_entry, trsvcid) == 32, "trsvcid");
static_assert(offsetof(struct osp_nvmf_discovery_log_page_entry, subnqn) == 256, "subnqn");
static_assert(offsetof(struct osp_nvmf_discovery_log_page_entry, traddr) == 512, "traddr");
static_assert(offsetof(struct osp_nvmf_discovery_log_page_entry, tsas) == 768, "tsas");

/* Discovery log page header (Figure 293): 1024 bytes, entries follow. */
struct osp_nvmf_discovery_log_page {
	uint64_t genctr;
	uint64_t numrec;
	uint16_t recfmt;
	uint8_t rsvd18[1006];
	struct osp_nvmf_discovery_log_page_entry entries[];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_discovery_log_page) == 1024, "discovery log header is 1024 bytes");

/* NVMe over Fabrics RDMA transport binding: the private data of RDMA_CM_REQUEST (host),
 * RDMA_CM_ACCEPT and RDMA_CM_REJECT (controller). Little endian on the wire. */
struct osp_nvmf_rdma_cm_req {
	uint16_t recfmt;  /* record format: 0 */
	uint16_t qid;
	uint16_t hrqsize; /* host receive queue size: responses it can take (1's based) */
	uint16_t hsqsize; /* host send queue size, 0's based (the Connect SQSIZE) */
	uint16_t cntlid;  /* FFFFh, or the controller an I/O queue joins */
	uint8_t rsvd10[22];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_rdma_cm_req) == 32, "RDMA_CM_REQUEST private data");

struct osp_nvmf_rdma_cm_accept {
	uint16_t recfmt;
	uint16_t crqsize; /* controller receive queue size: capsules it can take */
	uint8_t rsvd4[28];
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_rdma_cm_accept) == 32, "RDMA_CM_ACCEPT private data");

struct osp_nvmf_rdma_cm_reject {
	uint16_t recfmt;
	uint16_t sts; /* enum osp_nvmf_rdma_cm_status */
} __attribute__((packed));
static_assert(sizeof(struct osp_nvmf_rdma_cm_reject) == 4, "RDMA_CM_REJECT private data");

enum osp_nvmf_rdma_cm_status {
	OSP_NVMF_RDMA_CM_INVALID_LEN = 0x01,
	OSP_NVMF_RDMA_CM_INVALID_RECFMT = 0x02,
	OSP_NVMF_RDMA_CM_INVALID_QID = 0x03,
	OSP_NVMF_RDMA_CM_INVALID_HSQSIZE = 0x04,
	OSP_NVMF_RDMA_CM_INVALID_HRQSIZE = 0x05,
	OSP_NVMF_RDMA_CM_NO_RSC = 0x06,
	OSP_NVMF_RDMA_CM_INVALID_IRD = 0x07,
	OSP_NVMF_RDMA_CM_INVALID_ORD = 0x08,
	OSP_NVMF_RDMA_CM_INVALID_CNTLID = 0x09,
};

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_NVMF_SPEC_H */
