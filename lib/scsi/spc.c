/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SPC-4 primary commands and the command table.
 *
 * The table lists every implemented command with its CDB length and CDB
 * usage data (SPC-4 6.35.3: the bits the device server looks at). The same
 * masks answer REPORT SUPPORTED OPERATION CODES and reject set reserved bits
 * (INVALID FIELD IN CDB pointing at the first offending bit) before a
 * handler runs, so what is reported is what is enforced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/iov.h"

#include "scsi_internal.h"

typedef void (*scsi_cmd_fn)(struct osp_scsi_task *task);

struct scsi_cmd {
	uint8_t opcode;
	uint8_t sa;			/* service action, if has_sa */
	bool has_sa;
	uint8_t len;
	uint8_t usage[16];		/* byte 0 is the opcode itself */
	scsi_cmd_fn fn;
};

static void spc_test_unit_ready(struct osp_scsi_task *task);
static void spc_inquiry(struct osp_scsi_task *task);
static void spc_request_sense_cmd(struct osp_scsi_task *task);
static void spc_report_luns_cmd(struct osp_scsi_task *task);
static void spc_mode_sense(struct osp_scsi_task *task);
static void spc_mode_select(struct osp_scsi_task *task);
static void spc_start_stop(struct osp_scsi_task *task);
static void spc_prevent_allow(struct osp_scsi_task *task);
static void spc_report_opcodes(struct osp_scsi_task *task);
static void spc_report_tmfs(struct osp_scsi_task *task);

#define CTL 0x00	/* control byte: NACA and LINK are not supported */

static const struct scsi_cmd g_cmds[] = {
	{ OSP_SCSI_TEST_UNIT_READY, 0, false, 6, { 0x00, 0, 0, 0, 0, CTL }, spc_test_unit_ready },
	{ OSP_SCSI_REQUEST_SENSE, 0, false, 6, { 0x03, 0x01, 0, 0, 0xff, CTL }, spc_request_sense_cmd },
	{ OSP_SCSI_READ_6, 0, false, 6, { 0x08, 0x1f, 0xff, 0xff, 0xff, CTL }, scsi_sbc_read },
	{ OSP_SCSI_WRITE_6, 0, false, 6, { 0x0a, 0x1f, 0xff, 0xff, 0xff, CTL }, scsi_sbc_write },
	{ OSP_SCSI_INQUIRY, 0, false, 6, { 0x12, 0x01, 0xff, 0xff, 0xff, CTL }, spc_inquiry },
	{ OSP_SCSI_MODE_SELECT_6, 0, false, 6, { 0x15, 0x11, 0, 0, 0xff, CTL }, spc_mode_select },
	{ OSP_SCSI_RESERVE_6, 0, false, 6, { 0x16, 0, 0, 0, 0, CTL }, scsi_pr_reserve },
	{ OSP_SCSI_RELEASE_6, 0, false, 6, { 0x17, 0, 0, 0, 0, CTL }, scsi_pr_release },
	{ OSP_SCSI_MODE_SENSE_6, 0, false, 6, { 0x1a, 0x08, 0xff, 0xff, 0xff, CTL }, spc_mode_sense },
	{ OSP_SCSI_START_STOP_UNIT, 0, false, 6, { 0x1b, 0x01, 0, 0x0f, 0xf7, CTL }, spc_start_stop },
	{ OSP_SCSI_PREVENT_ALLOW, 0, false, 6, { 0x1e, 0, 0, 0, 0x03, CTL }, spc_prevent_allow },
	{
		OSP_SCSI_READ_CAPACITY_10, 0, false, 10,
		{ 0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, CTL }, scsi_sbc_read_capacity10
	},
	{
		OSP_SCSI_READ_10, 0, false, 10,
		{ 0x28, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CTL }, scsi_sbc_read
	},
	{
		OSP_SCSI_WRITE_10, 0, false, 10,
		{ 0x2a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CTL }, scsi_sbc_write
	},
	{
		OSP_SCSI_WRITE_AND_VERIFY_10, 0, false, 10,
		{ 0x2e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CTL }, scsi_sbc_write_verify
	},
	{
		OSP_SCSI_VERIFY_10, 0, false, 10,
		{ 0x2f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CTL }, scsi_sbc_verify
	},
	{
		OSP_SCSI_PRE_FETCH_10, 0, false, 10,
		{ 0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CTL }, scsi_sbc_prefetch
	},
	{
		OSP_SCSI_SYNCHRONIZE_CACHE_10, 0, false, 10,
		{ 0x35, 0x06, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CTL }, scsi_sbc_sync_cache
	},
	{
		OSP_SCSI_READ_DEFECT_DATA_10, 0, false, 10,
		{ 0x37, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, CTL }, scsi_sbc_read_defect_data
	},
	{
		OSP_SCSI_WRITE_SAME_10, 0, false, 10,
		{ 0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CTL }, scsi_sbc_write_same
	},
	{
		OSP_SCSI_UNMAP, 0, false, 10,
		{ 0x42, 0x01, 0, 0, 0, 0, 0x1f, 0xff, 0xff, CTL }, scsi_sbc_unmap
	},
	{
		OSP_SCSI_MODE_SELECT_10, 0, false, 10,
		{ 0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, CTL }, spc_mode_select
	},
	{
		OSP_SCSI_RESERVE_10, 0, false, 10,
		{ 0x56, 0, 0, 0, 0, 0, 0, 0, 0, CTL }, scsi_pr_reserve
	},
	{
		OSP_SCSI_RELEASE_10, 0, false, 10,
		{ 0x57, 0, 0, 0, 0, 0, 0, 0, 0, CTL }, scsi_pr_release
	},
	{
		OSP_SCSI_MODE_SENSE_10, 0, false, 10,
		{ 0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, CTL }, spc_mode_sense
	},
	{
		OSP_SCSI_PERSISTENT_RESERVE_IN, 0, false, 10,
		{ 0x5e, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, CTL }, scsi_pr_in
	},
	{
		OSP_SCSI_PERSISTENT_RESERVE_OUT, 0, false, 10,
		{ 0x5f, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, CTL }, scsi_pr_out
	},
	{
		OSP_SCSI_EXTENDED_COPY, OSP_SCSI_XCOPY_LID1, true, 16,
		{ 0x83, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL },
		scsi_sbc_extended_copy
	},
	{
		OSP_SCSI_RECEIVE_COPY_RESULTS, OSP_SCSI_RCR_COPY_STATUS, true, 16,
		{ 0x84, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL },
		scsi_sbc_receive_copy_results
	},
	{
		OSP_SCSI_RECEIVE_COPY_RESULTS, OSP_SCSI_RCR_OPERATING_PARAMS, true, 16,
		{ 0x84, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL },
		scsi_sbc_receive_copy_results
	},
	{
		OSP_SCSI_READ_16, 0, false, 16,
		{ 0x88, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_read
	},
	{
		OSP_SCSI_COMPARE_AND_WRITE, 0, false, 16,
		{ 0x89, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x1f, CTL },
		scsi_sbc_compare_and_write
	},
	{
		OSP_SCSI_WRITE_16, 0, false, 16,
		{ 0x8a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_write
	},
	{
		OSP_SCSI_ORWRITE_16, 0, false, 16,
		{ 0x8b, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_orwrite
	},
	{
		OSP_SCSI_WRITE_AND_VERIFY_16, 0, false, 16,
		{ 0x8e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_write_verify
	},
	{
		OSP_SCSI_VERIFY_16, 0, false, 16,
		{ 0x8f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_verify
	},
	{
		OSP_SCSI_PRE_FETCH_16, 0, false, 16,
		{ 0x90, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_prefetch
	},
	{
		OSP_SCSI_SYNCHRONIZE_CACHE_16, 0, false, 16,
		{ 0x91, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_sync_cache
	},
	{
		OSP_SCSI_WRITE_SAME_16, 0, false, 16,
		{ 0x93, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_write_same
	},
	{
		OSP_SCSI_WRITE_ATOMIC_16, 0, false, 16,
		{ 0x9c, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL },
		scsi_sbc_write_atomic
	},
	{
		OSP_SCSI_SERVICE_ACTION_IN_16, OSP_SCSI_SAI_READ_CAPACITY_16, true, 16,
		{ 0x9e, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, CTL },
		scsi_sbc_read_capacity16
	},
	{
		OSP_SCSI_SERVICE_ACTION_IN_16, OSP_SCSI_SAI_GET_LBA_STATUS, true, 16,
		{ 0x9e, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, CTL },
		scsi_sbc_get_lba_status
	},
	{
		OSP_SCSI_REPORT_LUNS, 0, false, 12,
		{ 0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL }, spc_report_luns_cmd
	},
	{
		OSP_SCSI_MAINTENANCE_IN, OSP_SCSI_MI_REPORT_SUPPORTED_OPCODES, true, 12,
		{ 0xa3, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, CTL }, spc_report_opcodes
	},
	{
		OSP_SCSI_MAINTENANCE_IN, OSP_SCSI_MI_REPORT_SUPPORTED_TMFS, true, 12,
		{ 0xa3, 0x1f, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL }, spc_report_tmfs
	},
	{
		OSP_SCSI_READ_12, 0, false, 12,
		{ 0xa8, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL }, scsi_sbc_read
	},
	{
		OSP_SCSI_WRITE_12, 0, false, 12,
		{ 0xaa, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL }, scsi_sbc_write
	},
	{
		OSP_SCSI_WRITE_AND_VERIFY_12, 0, false, 12,
		{ 0xae, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL }, scsi_sbc_write_verify
	},
	{
		OSP_SCSI_VERIFY_12, 0, false, 12,
		{ 0xaf, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CTL }, scsi_sbc_verify
	},
	{
		OSP_SCSI_READ_DEFECT_DATA_12, 0, false, 12,
		{ 0xb7, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, CTL }, scsi_sbc_read_defect_data
	},
};

/* The service action of a CDB whose opcode carries one (byte 1, bits 4:0). */
static bool
scsi_opcode_has_sa(uint8_t opcode)
{
	return opcode == OSP_SCSI_SERVICE_ACTION_IN_16 || opcode == OSP_SCSI_MAINTENANCE_IN ||
	       opcode == OSP_SCSI_EXTENDED_COPY || opcode == OSP_SCSI_RECEIVE_COPY_RESULTS;
}

/* 1 + the index in g_cmds of each opcode's first entry, 0 for unknown opcodes. */
static uint8_t g_cmd_first[256];
OSP_STATIC_ASSERT(OSP_COUNTOF(g_cmds) < 255, "g_cmd_first holds uint8_t indices");

__attribute__((constructor)) static void
scsi_cmd_index_init(void)
{
	size_t i;

	for (i = OSP_COUNTOF(g_cmds); i-- > 0;) {
		g_cmd_first[g_cmds[i].opcode] = (uint8_t)(i + 1);
	}
}

static const struct scsi_cmd *
scsi_find_cmd(uint8_t opcode, uint8_t sa, bool *opcode_known)
{
	size_t i;

	*opcode_known = false;
	if (g_cmd_first[opcode] == 0) {
		return NULL;
	}
	for (i = g_cmd_first[opcode] - 1u; i < OSP_COUNTOF(g_cmds); i++) {
		if (g_cmds[i].opcode != opcode) {
			continue;
		}
		*opcode_known = true;
		if (!g_cmds[i].has_sa || g_cmds[i].sa == sa) {
			return &g_cmds[i];
		}
	}
	return NULL;
}

int
scsi_cdb_len(uint8_t opcode)
{
	/* SPC-4 4.2.5.1: the group code (bits 7:5) sets the length. */
	switch (opcode >> 5) {
	case 0:
		return 6;
	case 1:
	case 2:
		return 10;
	case 4:
		return 16;
	case 5:
		return 12;
	default:
		return 0;
	}
}

/*
 * Dispatch through the table: unknown opcode, unknown service action, or a
 * set bit outside the command's CDB usage data (the highest such bit of the
 * first such byte is named by the field pointer).
 */
bool
scsi_spc_execute(struct osp_scsi_task *task)
{
	const struct scsi_cmd *cmd;
	bool known;
	uint8_t bad;
	int i;

	cmd = scsi_find_cmd(task->cdb[0], task->cdb[1] & 0x1f, &known);
	if (cmd == NULL) {
		if (known) {
			scsi_task_invalid_cdb(task, 1, 4);
		} else {
			scsi_task_invalid_opcode(task);
		}
		scsi_task_complete(task);
		return true;
	}
	for (i = 1; i < cmd->len; i++) {
		bad = task->cdb[i] & (uint8_t)~cmd->usage[i];
		if (bad != 0) {
			scsi_task_invalid_cdb(task, i, 31 - __builtin_clz(bad));
			scsi_task_complete(task);
			return true;
		}
	}
	cmd->fn(task);
	return true;
}

/* ---- TEST UNIT READY ---- */

static void
spc_test_unit_ready(struct osp_scsi_task *task)
{
	scsi_task_complete(task);
}

/* ---- INQUIRY (SPC-4 6.6, 7.8) ---- */

static uint32_t
spc_std_inquiry(struct osp_scsi_task *task, uint8_t *buf, bool have_lun)
{
	struct osp_scsi_std_inquiry *inq = (struct osp_scsi_std_inquiry *)buf;
	const char *product = SCSI_PRODUCT_DEFAULT;

	if (!have_lun) {
		inq->peripheral = OSP_SCSI_PQ_NOT_CAPABLE << 5 | OSP_SCSI_TYPE_UNKNOWN;
	} else {
		inq->peripheral = OSP_SCSI_PQ_CONNECTED << 5 | OSP_SCSI_TYPE_DISK;
		if (osp_bdev_get_product_name(task->lun->bdev) != NULL) {
			product = osp_bdev_get_product_name(task->lun->bdev);
		}
	}
	inq->version = OSP_SCSI_VERSION_SPC4;
	inq->flags3 = 0x10 | 0x02;	/* HISUP, response data format 2 */
	inq->additional_len = sizeof(*inq) - 5;
	inq->flags6 = task->itn->dev->nports > 1 ? 0x10 : 0;	/* MULTIP */
	inq->flags7 = 0x02;		/* CMDQUE */
	osp_strcpy_pad(inq->t10_vendor_id, SCSI_VENDOR, sizeof(inq->t10_vendor_id), ' ');
	osp_strcpy_pad(inq->product_id, product, sizeof(inq->product_id), ' ');
	osp_strcpy_pad(inq->product_rev, SCSI_REVISION, sizeof(inq->product_rev), ' ');
	/* Version descriptors (SPC-4 table 148): SAM-5, SPC-4, SBC-3, iSCSI. */
	osp_scsi_put16(inq->version_desc[0], 0x00a0);
	osp_scsi_put16(inq->version_desc[1], 0x0460);
	osp_scsi_put16(inq->version_desc[2], 0x04c0);
	osp_scsi_put16(inq->version_desc[3], 0x0960);
	return sizeof(*inq);
}

static const uint8_t g_vpd_pages[] = {
	OSP_SCSI_VPD_SUPPORTED_PAGES, OSP_SCSI_VPD_UNIT_SERIAL, OSP_SCSI_VPD_DEVICE_ID,
	OSP_SCSI_VPD_EXTENDED_INQUIRY, OSP_SCSI_VPD_BLOCK_LIMITS, OSP_SCSI_VPD_BLOCK_DEV_CHARS,
	OSP_SCSI_VPD_LOGICAL_BLOCK_PROV,
};

/* Append a designation descriptor; returns its total length. */
static uint32_t
spc_desig(uint8_t *p, uint8_t codeset, bool piv, uint8_t assoc, uint8_t type,
	  const void *data, uint32_t len)
{
	struct osp_scsi_desig_desc *d = (struct osp_scsi_desig_desc *)p;

	d->proto_codeset = (uint8_t)((piv ? OSP_SCSI_PROTO_ISCSI << 4 : 0) | codeset);
	d->piv_assoc_type = (uint8_t)((piv ? 0x80 : 0) | assoc << 4 | type);
	d->len = (uint8_t)len;
	memcpy(d->desig, data, len);
	return sizeof(*d) + len;
}

/* A SCSI name string designator: NUL-terminated, padded to a multiple of 4 (SPC-4 7.8.6.11). */
static uint32_t
spc_desig_name(uint8_t *p, uint8_t assoc, const char *name)
{
	uint8_t tmp[256 + 4] = { 0 };
	uint32_t len = (uint32_t)strnlen(name, 251) + 1;

	len = (len + 3) & ~3u;
	memcpy(tmp, name, strnlen(name, 251));
	return spc_desig(p, OSP_SCSI_CODESET_UTF8, true, assoc, OSP_SCSI_DESIG_SCSI_NAME, tmp, len);
}

static void
spc_lun_uuid(struct osp_scsi_task *task, uint8_t *u)
{
	const struct osp_uuid *uuid = osp_bdev_get_uuid(task->lun->bdev);

	memset(u, 0, 16);
	if (uuid != NULL) {
		memcpy(u, uuid->u, 16);
	}
}

void
scsi_lun_naa(struct osp_bdev *bdev, uint8_t naa[16])
{
	const struct osp_uuid *uuid = osp_bdev_get_uuid(bdev);
	uint8_t u[16] = { 0 };

	if (uuid != NULL) {
		memcpy(u, uuid->u, 16);
	}
	/* NAA IEEE Registered Extended (6h): the bdev UUID behind the NAA nibble. */
	naa[0] = (uint8_t)(0x60 | (u[0] & 0x0f));
	memcpy(&naa[1], &u[1], 15);
}

static uint32_t
spc_vpd_device_id(struct osp_scsi_task *task, uint8_t *p)
{
	struct osp_scsi_itn *itn = task->itn;
	struct osp_scsi_port *tport = osp_scsi_dev_find_port(itn->dev, itn->tport_id);
	uint8_t u[16], naa[16], relport[4] = { 0 };
	char t10[8 + 32 + 1];
	uint32_t off = 0;
	int i;

	spc_lun_uuid(task, u);
	scsi_lun_naa(task->lun->bdev, naa);
	off += spc_desig(p + off, OSP_SCSI_CODESET_BINARY, false, OSP_SCSI_ASSOC_LU,
			 OSP_SCSI_DESIG_NAA, naa, sizeof(naa));
	/* T10 vendor ID based: vendor, then the UUID in hex. */
	osp_strcpy_pad(t10, SCSI_VENDOR, 8, ' ');
	for (i = 0; i < 16; i++) {
		snprintf(&t10[8 + i * 2], 3, "%02x", u[i]);
	}
	off += spc_desig(p + off, OSP_SCSI_CODESET_ASCII, false, OSP_SCSI_ASSOC_LU,
			 OSP_SCSI_DESIG_T10, t10, 40);
	/* The target device (its name) and the target port (relative id and name). */
	off += spc_desig_name(p + off, OSP_SCSI_ASSOC_TARGET_DEVICE, itn->dev->name);
	osp_scsi_put16(&relport[2], itn->tport_id);
	off += spc_desig(p + off, OSP_SCSI_CODESET_BINARY, true, OSP_SCSI_ASSOC_TARGET_PORT,
			 OSP_SCSI_DESIG_REL_PORT, relport, sizeof(relport));
	if (tport != NULL) {
		off += spc_desig_name(p + off, OSP_SCSI_ASSOC_TARGET_PORT, tport->name);
	}
	return off;
}

static uint32_t
spc_vpd(struct osp_scsi_task *task, uint8_t page, uint8_t *buf)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct osp_bdev *bdev = task->lun->bdev;
	struct osp_scsi_vpd_block_limits *bl;
	uint32_t len = 0, max = scsi_max_xfer_blocks(il->block_size);
	bool unmap = osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP);
	uint8_t u[16];
	int i;

	buf[0] = OSP_SCSI_TYPE_DISK;
	buf[1] = page;
	switch (page) {
	case OSP_SCSI_VPD_SUPPORTED_PAGES:
		memcpy(&buf[4], g_vpd_pages, sizeof(g_vpd_pages));
		len = sizeof(g_vpd_pages);
		break;
	case OSP_SCSI_VPD_UNIT_SERIAL:
		spc_lun_uuid(task, u);
		for (i = 0; i < 16; i++) {
			snprintf((char *)&buf[4 + i * 2], 3, "%02x", u[i]);
		}
		len = 32;
		break;
	case OSP_SCSI_VPD_DEVICE_ID:
		len = spc_vpd_device_id(task, &buf[4]);
		break;
	case OSP_SCSI_VPD_EXTENDED_INQUIRY:
		buf[5] = 0x07;		/* HEADSUP, ORDSUP, SIMPSUP */
		buf[7] = 0x01;		/* LUICLR: unit attentions are per I_T nexus */
		len = 0x3c;
		break;
	case OSP_SCSI_VPD_BLOCK_LIMITS:
		bl = (struct osp_scsi_vpd_block_limits *)buf;
		/* WSNZ 0: WRITE SAME of 0 blocks writes to the end of the LUN. */
		bl->max_caw_len = SCSI_MAX_CAW_BLOCKS;
		osp_scsi_put16(bl->opt_xfer_gran, 1);
		osp_scsi_put32(bl->max_xfer_len, max);
		osp_scsi_put32(bl->opt_xfer_len, sbc_piece_blocks(il->block_size));
		osp_scsi_put32(bl->max_prefetch_len, max);
		if (unmap) {
			osp_scsi_put32(bl->max_unmap_lba_count, SCSI_MAX_UNMAP_BLOCKS);
			osp_scsi_put32(bl->max_unmap_desc_count, SCSI_MAX_UNMAP_DESC);
			osp_scsi_put32(bl->opt_unmap_gran, 1);
		}
		osp_scsi_put64(bl->max_write_same_len, SCSI_MAX_WRITE_SAME_BLOCKS);
		/* WRITE ATOMIC (16); no ATOMIC BOUNDARY (the last 8 bytes stay 0). */
		osp_scsi_put32(bl->max_atomic_len, scsi_max_atomic_blocks(bdev, il->block_size));
		osp_scsi_put32(bl->atomic_align, scsi_atomic_align(bdev));
		len = sizeof(*bl) - 4;
		break;
	case OSP_SCSI_VPD_BLOCK_DEV_CHARS:
		osp_scsi_put16(&buf[4], 0x0001);	/* non-rotating medium */
		len = 0x3c;
		break;
	case OSP_SCSI_VPD_LOGICAL_BLOCK_PROV:
		if (unmap) {
			buf[5] = OSP_SCSI_LBP_LBPU | OSP_SCSI_LBP_LBPWS | OSP_SCSI_LBP_LBPWS10;
			if (scsi_bdev_unmap_zeroes(bdev)) {
				buf[5] |= OSP_SCSI_LBP_LBPRZ;
			}
			buf[6] = OSP_SCSI_PROV_THIN;
		}
		len = 4;
		break;
	default:
		return 0;
	}
	osp_scsi_put16(&buf[2], (uint16_t)len);
	return len + 4;
}

static void
spc_inquiry(struct osp_scsi_task *task)
{
	uint32_t alloc = osp_scsi_get16(&task->cdb[3]), len;
	bool evpd = task->cdb[1] & OSP_SCSI_INQ_EVPD;
	uint8_t *buf;

	if (!evpd && task->cdb[2] != 0) {
		scsi_task_invalid_cdb(task, 2, -1);
		scsi_task_complete(task);
		return;
	}
	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		scsi_task_complete(task);
		return;
	}
	if (evpd) {
		len = spc_vpd(task, task->cdb[2], buf);
		if (len == 0) {
			scsi_task_invalid_cdb(task, 2, -1);
			scsi_task_complete(task);
			return;
		}
	} else {
		len = spc_std_inquiry(task, buf, true);
	}
	scsi_task_data_in(task, buf, OSP_MIN(alloc, len));
	scsi_task_complete(task);
}

void
scsi_spc_inquiry_nolun(struct osp_scsi_task *task)
{
	uint32_t alloc = osp_scsi_get16(&task->cdb[3]), len;
	uint8_t *buf;

	if (task->cdb[1] & OSP_SCSI_INQ_EVPD) {
		/* SPC-4 6.6.1: for a LUN that is not there, say so in byte 0 only. */
		buf = scsi_task_ebuf(task);
		if (buf == NULL) {
			return;
		}
		buf[0] = OSP_SCSI_PQ_NOT_CAPABLE << 5 | OSP_SCSI_TYPE_UNKNOWN;
		buf[1] = task->cdb[2];
		scsi_task_data_in(task, buf, OSP_MIN(alloc, 4u));
		return;
	}
	if (task->cdb[2] != 0) {
		scsi_task_invalid_cdb(task, 2, -1);
		return;
	}
	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		return;
	}
	len = spc_std_inquiry(task, buf, false);
	scsi_task_data_in(task, buf, OSP_MIN(alloc, len));
}

/* ---- REPORT LUNS (SPC-4 6.33) ---- */

void
scsi_spc_report_luns(struct osp_scsi_task *task)
{
	struct osp_scsi_itn *itn = task->itn;
	uint32_t alloc = osp_scsi_get32(&task->cdb[6]), len = 8;
	struct scsi_itn_lun *il;
	uint8_t *buf;
	int i;

	switch (task->cdb[2]) {
	case 0x00:	/* logical units with LUNs */
	case 0x02:	/* all */
	case 0x01:	/* well-known logical units: there are none */
	case 0x10:	/* administrative logical units: none */
	case 0x11:
	case 0x12:
		break;
	default:
		scsi_task_invalid_cdb(task, 2, -1);
		return;
	}
	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		return;
	}
	if (task->cdb[2] == 0x00 || task->cdb[2] == 0x02) {
		for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
			if (itn->luns[i].lun == NULL || itn->luns[i].gone) {
				continue;
			}
			/* Peripheral device addressing (SAM-5 4.7.7.2). */
			buf[len + 1] = (uint8_t)i;
			len += 8;
		}
	}
	osp_scsi_put32(buf, len - 8);
	scsi_task_data_in(task, buf, OSP_MIN(alloc, len));
	/* SPC-4 6.33: the command clears REPORTED LUNS DATA HAS CHANGED. */
	il = scsi_task_itn_lun(task);
	if (il != NULL) {
		il->ua &= ~SCSI_UA_BIT(SCSI_UA_LUNS_CHANGED);
	}
}

static void
spc_report_luns_cmd(struct osp_scsi_task *task)
{
	scsi_spc_report_luns(task);
	scsi_task_complete(task);
}

/* ---- REQUEST SENSE (SPC-4 6.39) ---- */

void
scsi_spc_request_sense(struct osp_scsi_task *task, struct scsi_itn_lun *il)
{
	bool desc = task->cdb[1] & 0x01;
	uint32_t alloc = task->cdb[4];
	uint8_t *buf;

	if (il == NULL) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LU_NOT_SUPPORTED);
	} else if (il->ua != 0) {
		scsi_itn_report_ua(task, il);
	} else {
		scsi_task_sense(task, OSP_SCSI_SK_NO_SENSE, OSP_SCSI_ASC_NO_ADDITIONAL_SENSE);
	}
	/* The sense goes out as data, in the format the DESC bit asks for. */
	buf = scsi_task_ebuf(task);
	task->status = OSP_SCSI_STATUS_GOOD;
	if (buf == NULL) {
		task->status = OSP_SCSI_STATUS_BUSY;
		task->sense_len = 0;
		return;
	}
	if (desc) {
		buf[0] = OSP_SCSI_SENSE_DESC_CURRENT;
		buf[1] = task->sense[2] & 0xf;
		buf[2] = task->sense[12];
		buf[3] = task->sense[13];
		if ((task->sense[0] & 0x7f) == OSP_SCSI_SENSE_DESC_CURRENT) {
			memcpy(buf, task->sense, task->sense_len);
		}
		scsi_task_data_in(task, buf, OSP_MIN(alloc, (uint32_t)(8 + buf[7])));
	} else {
		if ((task->sense[0] & 0x7f) == OSP_SCSI_SENSE_DESC_CURRENT) {
			/* Built as descriptor (D_SENSE): convert the basics to fixed. */
			buf[0] = OSP_SCSI_SENSE_FIXED_CURRENT;
			buf[2] = task->sense[1];
			buf[7] = 10;
			buf[12] = task->sense[2];
			buf[13] = task->sense[3];
		} else {
			memcpy(buf, task->sense, 18);
		}
		scsi_task_data_in(task, buf, OSP_MIN(alloc, 18u));
	}
	task->sense_len = 0;
}

static void
spc_request_sense_cmd(struct osp_scsi_task *task)
{
	scsi_spc_request_sense(task, scsi_task_itn_lun(task));
	scsi_task_complete(task);
}

/* ---- mode pages (SPC-4 6.11-6.14, 7.5; SBC-3 6.5) ---- */

void
scsi_mode_init_defaults(struct scsi_mode *m, struct osp_bdev *bdev)
{
	memset(m, 0, sizeof(*m));
	m->caching.page_code = OSP_SCSI_MODE_PAGE_CACHING;
	m->caching.page_len = sizeof(m->caching) - 2;
	if (bdev != NULL && osp_bdev_has_write_cache(bdev)) {
		m->caching.flags2 = OSP_SCSI_CACHING_WCE;
	}
	m->control.page_code = OSP_SCSI_MODE_PAGE_CONTROL;
	m->control.page_len = sizeof(m->control) - 2;
	m->control.flags3 = OSP_SCSI_CONTROL_QAM_UNRESTRICTED;
	osp_scsi_put16(m->control.busy_timeout, 0xffff);	/* unlimited */
	m->disconnect.page_code = OSP_SCSI_MODE_PAGE_DISCONNECT;
	m->disconnect.page_len = sizeof(m->disconnect) - 2;
	m->ie.page_code = OSP_SCSI_MODE_PAGE_INFO_EXCEPT;
	m->ie.page_len = sizeof(m->ie) - 2;
	m->ie.flags2 = OSP_SCSI_IE_DEXCPT;	/* no informational exceptions to report */
}

/* What MODE SELECT may change: WCE, D_SENSE, SWP, DEXCPT. */
static const struct scsi_mode g_mode_changeable = {
	.caching = { .page_code = OSP_SCSI_MODE_PAGE_CACHING, .page_len = 0x12,
		     .flags2 = OSP_SCSI_CACHING_WCE },
	.control = { .page_code = OSP_SCSI_MODE_PAGE_CONTROL, .page_len = 0x0a,
		     .flags2 = OSP_SCSI_CONTROL_D_SENSE, .flags4 = OSP_SCSI_CONTROL_SWP },
	.disconnect = { .page_code = OSP_SCSI_MODE_PAGE_DISCONNECT, .page_len = 0x0e },
	.ie = { .page_code = OSP_SCSI_MODE_PAGE_INFO_EXCEPT, .page_len = 0x0a,
		.flags2 = OSP_SCSI_IE_DEXCPT },
};

/* Pages in the order MODE SENSE returns them for page 3Fh (ascending). */
static const uint8_t g_mode_pages[] = {
	OSP_SCSI_MODE_PAGE_DISCONNECT, OSP_SCSI_MODE_PAGE_CACHING, OSP_SCSI_MODE_PAGE_CONTROL,
	OSP_SCSI_MODE_PAGE_INFO_EXCEPT,
};

static const uint8_t *
spc_mode_page(const struct scsi_mode *m, uint8_t page, uint32_t *len)
{
	switch (page) {
	case OSP_SCSI_MODE_PAGE_DISCONNECT:
		*len = sizeof(m->disconnect);
		return (const uint8_t *)&m->disconnect;
	case OSP_SCSI_MODE_PAGE_CACHING:
		*len = sizeof(m->caching);
		return (const uint8_t *)&m->caching;
	case OSP_SCSI_MODE_PAGE_CONTROL:
		*len = sizeof(m->control);
		return (const uint8_t *)&m->control;
	case OSP_SCSI_MODE_PAGE_INFO_EXCEPT:
		*len = sizeof(m->ie);
		return (const uint8_t *)&m->ie;
	default:
		*len = 0;
		return NULL;
	}
}

static void
spc_mode_sense(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	bool ten = task->cdb[0] == OSP_SCSI_MODE_SENSE_10;
	bool dbd = task->cdb[1] & 0x08, llbaa = ten && (task->cdb[1] & 0x10);
	uint8_t pc = task->cdb[2] >> 6, page = task->cdb[2] & 0x3f, subpage = task->cdb[3];
	uint32_t alloc = ten ? osp_scsi_get16(&task->cdb[7]) : task->cdb[4];
	uint32_t hdr = ten ? 8 : 4, bdlen = dbd ? 0 : (llbaa ? 16 : 8), off, len;
	const struct scsi_mode *m;
	struct scsi_mode defaults;
	const uint8_t *src;
	uint8_t *buf, devspec;
	size_t i;

	if (subpage != 0 && !(page == OSP_SCSI_MODE_PAGE_ALL && subpage == 0xff)) {
		scsi_task_invalid_cdb(task, 3, -1);
		scsi_task_complete(task);
		return;
	}
	switch (pc) {
	case OSP_SCSI_PC_CURRENT:
		m = &il->mode;
		break;
	case OSP_SCSI_PC_CHANGEABLE:
		m = &g_mode_changeable;
		break;
	default:
		/* Saved values are the defaults: nothing is saved (MODE SELECT refuses SP). */
		scsi_mode_init_defaults(&defaults, task->lun->bdev);
		m = &defaults;
		break;
	}
	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		scsi_task_complete(task);
		return;
	}
	off = hdr + bdlen;
	if (page == OSP_SCSI_MODE_PAGE_ALL) {
		for (i = 0; i < sizeof(g_mode_pages); i++) {
			src = spc_mode_page(m, g_mode_pages[i], &len);
			memcpy(&buf[off], src, len);
			off += len;
		}
	} else {
		src = spc_mode_page(m, page, &len);
		if (src == NULL) {
			scsi_task_invalid_cdb(task, 2, 5);
			scsi_task_complete(task);
			return;
		}
		memcpy(&buf[off], src, len);
		off += len;
	}
	devspec = OSP_SCSI_MODE_DEVSPEC_DPOFUA;
	if (il->mode.control.flags4 & OSP_SCSI_CONTROL_SWP) {
		devspec |= OSP_SCSI_MODE_DEVSPEC_WP;
	}
	if (ten) {
		osp_scsi_put16(&buf[0], (uint16_t)(off - 2));
		buf[3] = devspec;
		buf[4] = llbaa ? 1 : 0;
		osp_scsi_put16(&buf[6], (uint16_t)bdlen);
	} else {
		buf[0] = (uint8_t)(off - 1);
		buf[2] = devspec;
		buf[3] = (uint8_t)bdlen;
	}
	if (bdlen == 8) {
		osp_scsi_put32(&buf[hdr], il->num_blocks > UINT32_MAX ? UINT32_MAX :
			       (uint32_t)il->num_blocks);
		osp_scsi_put24(&buf[hdr + 5], il->block_size);
	} else if (bdlen == 16) {
		osp_scsi_put64(&buf[hdr], il->num_blocks);
		osp_scsi_put32(&buf[hdr + 12], il->block_size);
	}
	scsi_task_data_in(task, buf, OSP_MIN(alloc, off));
	scsi_task_complete(task);
}

struct spc_mode_change {
	struct osp_scsi_task *task;
	struct osp_scsi_lun *lun;
	struct osp_scsi_itn *origin;
	struct scsi_mode mode;
};

static void
spc_mode_update_itn(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m)
{
	struct spc_mode_change *mc = arg;
	struct scsi_itn_lun *il = &itn->luns[mc->lun->id];

	if (il->lun == mc->lun) {
		il->mode = mc->mode;
		/* SPC-4 6.13: the others learn of it by unit attention. */
		if (itn != mc->origin) {
			il->ua |= SCSI_UA_BIT(SCSI_UA_MODE_CHANGED);
		}
	}
	scsi_bc_itn_done(m);
}

static void
spc_mode_update_done(struct osp_scsi_dev *dev, void *arg)
{
	struct spc_mode_change *mc = arg;

	(void)dev;
	scsi_owner_reply(mc->task);
	free(mc);
}

static void
spc_mode_select_on_owner(struct osp_scsi_task *task)
{
	struct spc_mode_change *mc = calloc(1, sizeof(*mc));

	if (mc == NULL) {
		scsi_task_sense(task, OSP_SCSI_SK_HARDWARE_ERROR, OSP_SCSI_ASC_INTERNAL_TARGET_FAILURE);
		scsi_owner_reply(task);
		return;
	}
	mc->task = task;
	mc->lun = task->lun;
	mc->origin = task->itn;
	memcpy(&mc->mode, (uint8_t *)task->priv + SCSI_EBUF_SIZE / 2, sizeof(mc->mode));
	task->lun->mode = mc->mode;
	scsi_dev_broadcast(task->lun->dev, spc_mode_update_itn, mc, spc_mode_update_done);
}

static void
spc_param_len_error(struct osp_scsi_task *task)
{
	scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
}

/* Check and apply the pages of a MODE SELECT parameter list to *m; false with sense set. */
static bool
spc_mode_apply(struct osp_scsi_task *task, const uint8_t *p, uint32_t plen, uint32_t off,
	       struct scsi_mode *m)
{
	const uint8_t *chg;
	uint8_t *cur, bad;
	uint32_t len, plen_page, i;
	uint8_t page;

	while (off < plen) {
		if (plen - off < 2) {
			spc_param_len_error(task);
			return false;
		}
		page = p[off] & 0x3f;
		if (p[off] & 0x40) {	/* SPF: no subpages here */
			scsi_task_invalid_param(task, (int)off, 6);
			return false;
		}
		cur = (uint8_t *)(uintptr_t)spc_mode_page(m, page, &len);
		chg = spc_mode_page(&g_mode_changeable, page, &len);
		if (cur == NULL) {
			scsi_task_invalid_param(task, (int)off, 5);
			return false;
		}
		plen_page = p[off + 1];
		if (plen_page + 2 != len) {
			scsi_task_invalid_param(task, (int)off + 1, -1);
			return false;
		}
		if (plen - off < len) {
			spc_param_len_error(task);
			return false;
		}
		for (i = 2; i < len; i++) {
			bad = (uint8_t)((p[off + i] ^ cur[i]) & ~chg[i]);
			if (bad != 0) {
				scsi_task_invalid_param(task, (int)(off + i), 31 - __builtin_clz(bad));
				return false;
			}
		}
		for (i = 2; i < len; i++) {
			cur[i] = (uint8_t)((cur[i] & ~chg[i]) | (p[off + i] & chg[i]));
		}
		off += len;
	}
	return true;
}

static void
spc_mode_select(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	bool ten = task->cdb[0] == OSP_SCSI_MODE_SELECT_10;
	uint32_t plen = ten ? osp_scsi_get16(&task->cdb[7]) : task->cdb[4];
	uint32_t hdr = ten ? 8 : 4, bdlen;
	struct scsi_mode mode;
	uint8_t *p;

	if (task->cdb[1] & 0x01) {
		/* SP: the values cannot be saved (SPC-4 6.11). */
		scsi_task_invalid_cdb(task, 1, 0);
		scsi_task_complete(task);
		return;
	}
	if (plen == 0) {
		scsi_task_complete(task);
		return;
	}
	if (!(task->cdb[1] & 0x10)) {
		/* PF 0 would be vendor-specific pages; only the standard format exists here. */
		scsi_task_invalid_cdb(task, 1, 4);
		scsi_task_complete(task);
		return;
	}
	if (plen > SCSI_EBUF_SIZE / 2) {
		spc_param_len_error(task);
		scsi_task_complete(task);
		return;
	}
	p = scsi_task_ebuf(task);
	if (p == NULL) {
		scsi_task_complete(task);
		return;
	}
	if (scsi_task_data_out(task, p, plen) < plen) {
		spc_param_len_error(task);
		scsi_task_complete(task);
		return;
	}
	if (plen < hdr) {
		spc_param_len_error(task);
		scsi_task_complete(task);
		return;
	}
	bdlen = ten ? osp_scsi_get16(&p[6]) : p[3];
	if (p[ten ? 2 : 1] != 0) {	/* medium type */
		scsi_task_invalid_param(task, ten ? 2 : 1, -1);
		scsi_task_complete(task);
		return;
	}
	if (hdr + bdlen > plen) {
		spc_param_len_error(task);
		scsi_task_complete(task);
		return;
	}
	if (bdlen != 0) {
		/* One block descriptor, which may only restate the block length. */
		if (bdlen != (ten && (p[4] & 1) ? 16u : 8u)) {
			scsi_task_invalid_param(task, ten ? 6 : 3, -1);
			scsi_task_complete(task);
			return;
		}
		if ((bdlen == 8 && osp_scsi_get24(&p[hdr + 5]) != il->block_size) ||
		    (bdlen == 16 && osp_scsi_get32(&p[hdr + 12]) != il->block_size)) {
			scsi_task_invalid_param(task, (int)(hdr + bdlen - 3), -1);
			scsi_task_complete(task);
			return;
		}
	}
	mode = il->mode;
	if (!spc_mode_apply(task, p, plen, hdr + bdlen, &mode)) {
		scsi_task_complete(task);
		return;
	}
	memcpy(p + SCSI_EBUF_SIZE / 2, &mode, sizeof(mode));
	scsi_task_to_owner(task, spc_mode_select_on_owner);
}

/* ---- START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL (SBC-3 5.25, 5.11) ---- */

static void
spc_start_stop(struct osp_scsi_task *task)
{
	uint8_t pc = task->cdb[4] >> 4;

	switch (pc) {
	case 0x0:	/* START_VALID */
	case 0x1:	/* ACTIVE */
	case 0x2:	/* IDLE */
	case 0x3:	/* STANDBY */
	case 0x7:	/* LU_CONTROL */
	case 0xa:	/* FORCE_IDLE_0 */
	case 0xb:	/* FORCE_STANDBY_0 */
		break;
	default:
		scsi_task_invalid_cdb(task, 4, 7);
		scsi_task_complete(task);
		return;
	}
	if (pc == 0 && (task->cdb[4] & 0x02)) {
		/* LOEJ: the medium is not removable (RMB 0). */
		scsi_task_invalid_cdb(task, 4, 1);
		scsi_task_complete(task);
		return;
	}
	/* A bdev is always spinning: starting and stopping change nothing. */
	scsi_task_complete(task);
}

static void
spc_prevent_allow(struct osp_scsi_task *task)
{
	if (task->cdb[4] & 0x03) {
		/* Nothing to lock in: the medium is not removable. */
		scsi_task_invalid_cdb(task, 4, 1);
	}
	scsi_task_complete(task);
}

/* ---- REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS (SPC-4 6.35, 6.36) ---- */

static void
spc_report_opcodes(struct osp_scsi_task *task)
{
	uint8_t opts = task->cdb[2] & 0x07, op = task->cdb[3];
	bool rctd = task->cdb[2] & 0x80, known;
	uint16_t sa = osp_scsi_get16(&task->cdb[4]);
	uint32_t alloc = osp_scsi_get32(&task->cdb[6]), off = 0, dlen = rctd ? 20 : 8;
	const struct scsi_cmd *cmd;
	uint8_t *buf;
	size_t i;

	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		scsi_task_complete(task);
		return;
	}
	switch (opts) {
	case 0:
		off = 4;
		for (i = 0; i < OSP_COUNTOF(g_cmds); i++) {
			cmd = &g_cmds[i];
			buf[off] = cmd->opcode;
			osp_scsi_put16(&buf[off + 2], cmd->sa);
			buf[off + 5] = (uint8_t)((rctd ? 0x02 : 0) | (cmd->has_sa ? 0x01 : 0));
			osp_scsi_put16(&buf[off + 6], cmd->len);
			if (rctd) {
				osp_scsi_put16(&buf[off + 8], 0x0a);	/* timeouts descriptor */
			}
			off += dlen;
		}
		osp_scsi_put32(buf, off - 4);
		break;
	case 1:
	case 2:
	case 3:
		if ((opts == 1 && scsi_opcode_has_sa(op)) || (opts == 2 && !scsi_opcode_has_sa(op))) {
			scsi_task_invalid_cdb(task, 2, 2);
			scsi_task_complete(task);
			return;
		}
		if (opts == 2 || (opts == 3 && scsi_opcode_has_sa(op))) {
			cmd = sa <= 0x1f ? scsi_find_cmd(op, (uint8_t)sa, &known) : NULL;
		} else {
			cmd = scsi_find_cmd(op, 0, &known);
			if (opts == 3 && sa != 0) {
				cmd = NULL;	/* no service action for this opcode */
			}
		}
		if (cmd == NULL) {
			buf[1] = 0x01;	/* SUPPORT 001b: not supported */
			off = 2;
			osp_scsi_put16(&buf[2], 0);
			off = 4;
			break;
		}
		buf[1] = (uint8_t)((rctd ? 0x80 : 0) | 0x03);	/* CTDP, SUPPORT 011b */
		osp_scsi_put16(&buf[2], cmd->len);
		memcpy(&buf[4], cmd->usage, cmd->len);
		off = 4u + cmd->len;
		if (rctd) {
			osp_scsi_put16(&buf[off], 0x0a);
			off += 12;
		}
		break;
	default:
		scsi_task_invalid_cdb(task, 2, 2);
		scsi_task_complete(task);
		return;
	}
	scsi_task_data_in(task, buf, OSP_MIN(alloc, off));
	scsi_task_complete(task);
}

static void
spc_report_tmfs(struct osp_scsi_task *task)
{
	bool repd = task->cdb[2] & 0x80;
	uint32_t alloc = osp_scsi_get32(&task->cdb[6]), len = repd ? 16 : 4;
	uint8_t *buf;

	if (alloc < 4) {
		scsi_task_invalid_cdb(task, 6, -1);
		scsi_task_complete(task);
		return;
	}
	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		scsi_task_complete(task);
		return;
	}
	/* ATS, CTSS, LURS, QTS, TRS; QAES, QTSS, ITNRS (CLEAR ACA: no NACA support). */
	buf[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x04 | 0x02;
	buf[1] = 0x04 | 0x02 | 0x01;
	if (repd) {
		buf[3] = 0x0c;
	}
	scsi_task_data_in(task, buf, OSP_MIN(alloc, len));
	scsi_task_complete(task);
}
