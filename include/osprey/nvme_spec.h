/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe wire formats (NVM Express Base Specification 2.0). Field names follow
 * the specification. This header grows with the NVMe driver and target.
 */
#ifndef OSPREY_NVME_SPEC_H
#define OSPREY_NVME_SPEC_H

#include <assert.h>
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

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_NVME_SPEC_H */
