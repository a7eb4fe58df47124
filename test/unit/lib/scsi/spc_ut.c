/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/scsi's SPC-4 emulation (spc.c) over a malloc bdev:
 * TEST UNIT READY, INQUIRY (standard and every VPD page), REPORT LUNS,
 * REQUEST SENSE, MODE SENSE/SELECT 6/10, START STOP UNIT, PREVENT ALLOW,
 * REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS, and the
 * table checks: unknown opcodes, reserved CDB bits, NACA, short CDBs.
 */
#include "scsi_ut.h"

static void
setup(void)
{
	ut_setup(1, 0);
}

static void
test_tur_and_power_on_ua(void)
{
	uint8_t cdb[6] = { OSP_SCSI_TEST_UNIT_READY };

	setup();
	/* The first command of a new nexus reports POWER ON OCCURRED, once. */
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_POWER_ON_OCCURRED);
	CU_ASSERT_EQUAL(g_cmd->task.sense_len, 18);
	CU_ASSERT_EQUAL(g_cmd->task.sense[0], 0x70);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.sense_len, 0);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	/* A reserved bit: INVALID FIELD IN CDB pointing at byte 1 bit 0. */
	cdb[1] = 0x01;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 0);
	CU_ASSERT(g_cmd->task.sense[15] & OSP_SCSI_SKS_CD);
	/* NACA in the control byte is not supported. */
	cdb[1] = 0;
	cdb[5] = 0x04;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 5 << 8 | 2);
	ut_teardown();
}

static void
test_invalid_opcode(void)
{
	uint8_t cdb[16] = { 0xc0 };

	setup();
	ut_clear_ua();
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_COMMAND_OPCODE);
	CU_ASSERT_EQUAL(ut_field(), 0 << 8 | 8);
	/* FORMAT UNIT, a known but unimplemented opcode. */
	cdb[0] = OSP_SCSI_FORMAT_UNIT;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_COMMAND_OPCODE);
	/* SERVICE ACTION IN with an unknown service action: the field is byte 1. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = OSP_SCSI_SERVICE_ACTION_IN_16;
	cdb[1] = 0x1f;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_FROM_DEV, 32), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT_EQUAL(ut_field() >> 8, 1);
	/* A CDB shorter than its group code says. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = OSP_SCSI_READ_16;
	ut_prep(g_cmd, 0, cdb, 16, OSP_SCSI_DIR_FROM_DEV, 512, false);
	g_cmd->task.cdb_len = 12;
	ut_run_on(g_itn, 0, g_cmd);
	CU_ASSERT_EQUAL(g_cmd->task.status, OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB);
	osp_scsi_task_put(&g_cmd->task);
	ut_teardown();
}

static void
test_inquiry_standard(void)
{
	uint8_t cdb[6] = { OSP_SCSI_INQUIRY, 0, 0, 0, 255, 0 };
	struct osp_scsi_std_inquiry *inq;

	setup();
	inq = (struct osp_scsi_std_inquiry *)g_cmd->buf;
	/* INQUIRY passes a pending unit attention. */
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 96);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 96);
	CU_ASSERT_EQUAL(inq->peripheral, 0);
	CU_ASSERT_EQUAL(inq->version, 6);
	CU_ASSERT_EQUAL(inq->flags3 & 0x0f, 2);
	CU_ASSERT_EQUAL(inq->additional_len, 91);
	CU_ASSERT(inq->flags7 & 0x02);
	CU_ASSERT(memcmp(inq->t10_vendor_id, "OSPREY  ", 8) == 0);
	CU_ASSERT(memcmp(inq->product_id, "Malloc disk", 11) == 0);
	CU_ASSERT_EQUAL(osp_scsi_get16(inq->version_desc[1]), 0x0460);
	/* The allocation length cuts the data; the transport's length too. */
	cdb[4] = 36;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 36);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 36);
	cdb[4] = 96;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 40), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 40);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 96);
	/* Into the transport's own buffer. */
	ut_prep(g_cmd, 0, cdb, 6, OSP_SCSI_DIR_FROM_DEV, 96, true);
	memset(g_cmd->buf, 0xee, 96);
	ut_run_on(g_itn, 0, g_cmd);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 96);
	CU_ASSERT_EQUAL(g_cmd->task.iovs[0].iov_base, g_cmd->buf);
	CU_ASSERT_EQUAL(g_cmd->buf[2], 6);
	osp_scsi_task_put(&g_cmd->task);
	/* Page code without EVPD; the obsolete CMDDT bit. */
	cdb[2] = 0x80;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 96), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 2);
	cdb[2] = 0;
	cdb[1] = 0x02;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 96), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 1);
	/* A LUN that does not exist: peripheral qualifier 011b, type 1Fh. */
	cdb[1] = 0;
	CU_ASSERT_EQUAL(ut_cmd_lun(5, cdb, 6, OSP_SCSI_DIR_FROM_DEV, 96), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->buf[0], 0x7f);
	CU_ASSERT_EQUAL(ut_cmd_lun(1000, cdb, 6, OSP_SCSI_DIR_FROM_DEV, 96), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->buf[0], 0x7f);
	cdb[0] = OSP_SCSI_TEST_UNIT_READY;
	CU_ASSERT_EQUAL(ut_cmd_lun(5, cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LU_NOT_SUPPORTED);
	ut_teardown();
}

static int
ut_vpd(uint8_t page, uint32_t alloc)
{
	uint8_t cdb[6] = { OSP_SCSI_INQUIRY, 1, page, 0, 0, 0 };

	osp_scsi_put16(&cdb[3], (uint16_t)alloc);
	return ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, alloc);
}

/* The designation descriptor of the given type and association in a page 83h, or NULL. */
static const uint8_t *
ut_find_desig(const uint8_t *p, int assoc, int type)
{
	uint32_t len = osp_scsi_get16(&p[2]), off = 4;

	while (off + 4 <= len + 4) {
		if (((p[off + 1] >> 4) & 3) == assoc && (p[off + 1] & 0xf) == type) {
			return &p[off];
		}
		off += 4u + p[off + 3];
	}
	return NULL;
}

static bool
ut_zero_bytes(const uint8_t *p, size_t n)
{
	while (n-- > 0) {
		if (*p++ != 0) {
			return false;
		}
	}
	return true;
}

static void
test_inquiry_vpd(void)
{
	const uint8_t *p, *d;
	uint8_t *b;
	size_t i;

	setup();
	b = g_cmd->buf;
	CU_ASSERT_EQUAL(ut_vpd(0x00, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[1], 0);
	CU_ASSERT_EQUAL(osp_scsi_get16(&b[2]), 7);
	for (i = 0; i < 7; i++) {
		CU_ASSERT_EQUAL(b[4 + i], g_vpd_pages[i]);
	}
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 11);
	/* Unit serial number: the bdev UUID in hex. */
	CU_ASSERT_EQUAL(ut_vpd(0x80, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get16(&b[2]), 32);
	CU_ASSERT_EQUAL(b[4] == ' ' || b[4] == 0, false);
	/* Device identification: NAA (from the UUID), T10, target name, relative port, port name. */
	CU_ASSERT_EQUAL(ut_vpd(0x83, 1024), OSP_SCSI_STATUS_GOOD);
	p = b;
	d = ut_find_desig(p, OSP_SCSI_ASSOC_LU, OSP_SCSI_DESIG_NAA);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL(d[3], 16);
	CU_ASSERT_EQUAL(d[4] >> 4, 6);
	CU_ASSERT_EQUAL(d[4] & 0xf, osp_bdev_get_uuid(g_m0)->u[0] & 0xf);
	CU_ASSERT(memcmp(&d[5], &osp_bdev_get_uuid(g_m0)->u[1], 15) == 0);
	d = ut_find_desig(p, OSP_SCSI_ASSOC_LU, OSP_SCSI_DESIG_T10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT(memcmp(&d[4], "OSPREY  ", 8) == 0);
	d = ut_find_desig(p, OSP_SCSI_ASSOC_TARGET_PORT, OSP_SCSI_DESIG_REL_PORT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL(osp_scsi_get16(&d[6]), 1);
	CU_ASSERT(d[1] & 0x80);		/* PIV */
	CU_ASSERT_EQUAL(d[0] >> 4, OSP_SCSI_PROTO_ISCSI);
	d = ut_find_desig(p, OSP_SCSI_ASSOC_TARGET_PORT, OSP_SCSI_DESIG_SCSI_NAME);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT(strcmp((const char *)&d[4], "iqn.2016-06.io.osprey:ut,t,0x0001") == 0);
	CU_ASSERT_EQUAL(d[3] % 4, 0);
	d = ut_find_desig(p, OSP_SCSI_ASSOC_TARGET_DEVICE, OSP_SCSI_DESIG_SCSI_NAME);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT(strcmp((const char *)&d[4], "iqn.2016-06.io.osprey:ut") == 0);
	/* Extended INQUIRY. */
	CU_ASSERT_EQUAL(ut_vpd(0x86, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get16(&b[2]), 0x3c);
	CU_ASSERT_EQUAL(b[5], 0x07);
	/* Block Limits. */
	CU_ASSERT_EQUAL(ut_vpd(0xb0, 255), OSP_SCSI_STATUS_GOOD);
	{
		struct osp_scsi_vpd_block_limits *bl = (struct osp_scsi_vpd_block_limits *)b;

		CU_ASSERT_EQUAL(osp_scsi_get16(bl->page_len), 0x3c);
		CU_ASSERT_EQUAL(bl->wsnz, 0);	/* WRITE SAME of 0 blocks: to the end */
		CU_ASSERT_EQUAL(bl->max_caw_len, SCSI_MAX_CAW_BLOCKS);
		CU_ASSERT_EQUAL(osp_scsi_get32(bl->max_xfer_len), (32u << 20) / BS);
		CU_ASSERT_EQUAL(osp_scsi_get32(bl->opt_xfer_len), (128u << 10) / BS);
		CU_ASSERT_EQUAL(osp_scsi_get32(bl->max_unmap_lba_count), SCSI_MAX_UNMAP_BLOCKS);
		CU_ASSERT_EQUAL(osp_scsi_get32(bl->max_unmap_desc_count), SCSI_MAX_UNMAP_DESC);
		CU_ASSERT_EQUAL(osp_scsi_get64(bl->max_write_same_len), SCSI_MAX_WRITE_SAME_BLOCKS);
		/* WRITE ATOMIC (16): one bdev buffer's worth, no alignment, no boundaries. */
		CU_ASSERT_EQUAL(osp_scsi_get32(bl->max_atomic_len), (128u << 10) / BS);
		CU_ASSERT_EQUAL(osp_scsi_get32(bl->atomic_align), 0);
		CU_ASSERT_EQUAL(osp_scsi_get32(bl->atomic_gran), 0);
		CU_ASSERT(ut_zero_bytes(bl->reserved, sizeof(bl->reserved)));
	}
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 64);
	/* Block device characteristics: non-rotating. */
	CU_ASSERT_EQUAL(ut_vpd(0xb1, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get16(&b[4]), 1);
	/* Logical block provisioning: malloc unmaps and reads zeroes after. */
	CU_ASSERT_EQUAL(ut_vpd(0xb2, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[5], OSP_SCSI_LBP_LBPU | OSP_SCSI_LBP_LBPWS | OSP_SCSI_LBP_LBPWS10 |
			OSP_SCSI_LBP_LBPRZ);
	CU_ASSERT_EQUAL(b[6], OSP_SCSI_PROV_THIN);
	/* A module that unmaps but does not say unmapped blocks read zeroes: no LBPRZ. */
	g_m0->unmap_reads_zeroes = false;
	CU_ASSERT_EQUAL(ut_vpd(0xb2, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[5], OSP_SCSI_LBP_LBPU | OSP_SCSI_LBP_LBPWS | OSP_SCSI_LBP_LBPWS10);
	g_m0->unmap_reads_zeroes = true;
	/* Without unmap: fully provisioned, no LBP bits. */
	g_m0->internal->supported_types &= ~(1u << OSP_BDEV_IO_TYPE_UNMAP);
	CU_ASSERT_EQUAL(ut_vpd(0xb2, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[5], 0);
	CU_ASSERT_EQUAL(ut_vpd(0xb0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(&b[20]), 0);
	g_m0->internal->supported_types |= 1u << OSP_BDEV_IO_TYPE_UNMAP;
	/* An unknown page, and a short allocation length. */
	CU_ASSERT_EQUAL(ut_vpd(0xc5, 255), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT_EQUAL(ut_field() >> 8, 2);
	CU_ASSERT_EQUAL(ut_vpd(0x83, 4), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 4);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 4);
	ut_teardown();
}

static void
test_report_luns(void)
{
	uint8_t cdb[12] = { OSP_SCSI_REPORT_LUNS };
	uint8_t *b;

	setup();
	b = g_cmd->buf;
	osp_scsi_put32(&cdb[6], 4096);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 4096), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), 8);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 16);
	/* A second LUN: REPORTED LUNS DATA HAS CHANGED, after the power-on UA. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_malloc_create(&(struct bdev_malloc_opts){ .name = "M1",
		.num_blocks = 64, .block_size = 4096 }, &(struct osp_bdev *){ NULL }), 0);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "M1", 3, NULL), 0);
	ut_poll_threads();
	ut_clear_ua();
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 4096), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), 16);
	CU_ASSERT_EQUAL(b[9], 0);
	CU_ASSERT_EQUAL(b[17], 3);
	/* Allocation length honored: the header says 16, 8 bytes sent. */
	osp_scsi_put32(&cdb[6], 8);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 4096), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 8);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), 16);
	/* Select reports: well-known only (none), then a reserved one. */
	osp_scsi_put32(&cdb[6], 4096);
	cdb[2] = 0x01;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 4096), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), 0);
	cdb[2] = 0x02;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 4096), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), 16);
	cdb[2] = 0x05;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 4096), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 2);
	/* Answered for a LUN that does not exist too. */
	cdb[2] = 0;
	CU_ASSERT_EQUAL(ut_cmd_lun(9, cdb, 12, OSP_SCSI_DIR_FROM_DEV, 4096), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), 16);
	ut_teardown();
}

static void
test_request_sense(void)
{
	uint8_t cdb[6] = { OSP_SCSI_REQUEST_SENSE, 0, 0, 0, 252, 0 };
	uint8_t *b;

	setup();
	b = g_cmd->buf;
	/* The pending UA comes back as data, with GOOD status, and is cleared. */
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 252), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.sense_len, 0);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 18);
	CU_ASSERT_EQUAL(b[0], 0x70);
	CU_ASSERT_EQUAL(b[2], OSP_SCSI_SK_UNIT_ATTENTION);
	CU_ASSERT_EQUAL(b[12], 0x29);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 252), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[2], OSP_SCSI_SK_NO_SENSE);
	CU_ASSERT_EQUAL(b[12], 0);
	/* Descriptor format on request. */
	cdb[1] = 1;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 252), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[0], 0x72);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 8);
	/* Allocation length. */
	cdb[1] = 0;
	cdb[4] = 8;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, 252), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 8);
	/* A LUN that does not exist: LOGICAL UNIT NOT SUPPORTED as data. */
	cdb[4] = 252;
	CU_ASSERT_EQUAL(ut_cmd_lun(7, cdb, 6, OSP_SCSI_DIR_FROM_DEV, 252), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[2], OSP_SCSI_SK_ILLEGAL_REQUEST);
	CU_ASSERT_EQUAL(b[12], 0x25);
	ut_teardown();
}

static int
ut_mode_sense(bool ten, uint8_t flags, uint8_t page_byte, uint8_t subpage, uint32_t alloc)
{
	uint8_t cdb[10] = { 0 };

	cdb[1] = flags;
	cdb[2] = page_byte;
	cdb[3] = subpage;
	if (ten) {
		cdb[0] = OSP_SCSI_MODE_SENSE_10;
		osp_scsi_put16(&cdb[7], (uint16_t)alloc);
		return ut_cmd(cdb, 10, OSP_SCSI_DIR_FROM_DEV, alloc);
	}
	cdb[0] = OSP_SCSI_MODE_SENSE_6;
	cdb[4] = (uint8_t)alloc;
	return ut_cmd(cdb, 6, OSP_SCSI_DIR_FROM_DEV, alloc);
}

static void
test_mode_sense(void)
{
	uint8_t *b;

	setup();
	ut_clear_ua();
	b = g_cmd->buf;
	/* All pages, with a block descriptor. */
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0, 0x3f, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[0] + 1u, g_cmd->task.data_transferred);
	CU_ASSERT_EQUAL(b[0] + 1, 4 + 8 + 16 + 20 + 12 + 12);
	CU_ASSERT_EQUAL(b[2], OSP_SCSI_MODE_DEVSPEC_DPOFUA);
	CU_ASSERT_EQUAL(b[3], 8);
	CU_ASSERT_EQUAL(osp_scsi_get32(&b[4]), NBLK);
	CU_ASSERT_EQUAL(osp_scsi_get24(&b[9]), BS);
	CU_ASSERT_EQUAL(b[12], 0x02);
	CU_ASSERT_EQUAL(b[28], 0x08);
	CU_ASSERT_EQUAL(b[48], 0x0a);
	CU_ASSERT_EQUAL(b[60], 0x1c);
	/* One page, DBD. */
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0x08, 0x0a, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[0], 3 + 12);
	CU_ASSERT_EQUAL(b[3], 0);
	CU_ASSERT_EQUAL(b[4], 0x0a);
	CU_ASSERT_EQUAL(b[5], 0x0a);
	/* Residual: the allocation length cuts the data (MODE DATA LENGTH is still whole). */
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0, 0x3f, 0, 4), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 4);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 4);
	CU_ASSERT_EQUAL(b[0], 71);
	/* Changeable values. */
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0x08, 0x40 | 0x08, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[6], OSP_SCSI_CACHING_WCE);
	CU_ASSERT_EQUAL(b[4], 0x08);
	/* Default and saved: the defaults (malloc has no write cache). */
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0x08, 0x80 | 0x1c, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[6], OSP_SCSI_IE_DEXCPT);
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0x08, 0xc0 | 0x08, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[6], 0);
	/* MODE SENSE (10) with a long block descriptor. */
	CU_ASSERT_EQUAL(ut_mode_sense(true, 0x10, 0x08, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get16(b) + 2u, g_cmd->task.data_transferred);
	CU_ASSERT_EQUAL(b[4], 1);
	CU_ASSERT_EQUAL(osp_scsi_get16(&b[6]), 16);
	CU_ASSERT_EQUAL(osp_scsi_get64(&b[8]), NBLK);
	CU_ASSERT_EQUAL(osp_scsi_get32(&b[20]), BS);
	CU_ASSERT_EQUAL(b[24], 0x08);
	CU_ASSERT_EQUAL(ut_mode_sense(true, 0, 0x3f, 0xff, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get16(&b[6]), 8);
	/* Unknown page and subpage. */
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0, 0x19, 0, 255), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 2 << 8 | 5);
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0, 0x08, 1, 255), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 3);
	ut_teardown();
}

/* MODE SELECT of one page (as read from MODE SENSE, with changes applied by fn). */
static int
ut_mode_select(bool ten, uint8_t page, void (*fn)(uint8_t *pg), uint8_t cdb1)
{
	uint8_t cdb[10] = { 0 }, param[64] = { 0 };
	uint32_t hdr = ten ? 8 : 4, len;

	CU_ASSERT_EQUAL_FATAL(ut_mode_sense(false, 0x08, page, 0, 255), OSP_SCSI_STATUS_GOOD);
	len = g_cmd->buf[5] + 2u;
	memcpy(&param[hdr], &g_cmd->buf[4], len);
	param[hdr] &= 0x3f;	/* PS is reserved in MODE SELECT */
	fn(&param[hdr]);
	cdb[1] = cdb1;
	if (ten) {
		cdb[0] = OSP_SCSI_MODE_SELECT_10;
		osp_scsi_put16(&cdb[7], (uint16_t)(hdr + len));
	} else {
		cdb[0] = OSP_SCSI_MODE_SELECT_6;
		cdb[4] = (uint8_t)(hdr + len);
	}
	memcpy(g_cmd->buf, param, hdr + len);
	return ut_cmd(cdb, ten ? 10 : 6, OSP_SCSI_DIR_TO_DEV, hdr + len);
}

static void ut_set_dsense(uint8_t *pg) { pg[2] |= OSP_SCSI_CONTROL_D_SENSE; }
static void ut_clr_dsense(uint8_t *pg) { pg[2] &= ~OSP_SCSI_CONTROL_D_SENSE; }
static void ut_set_swp(uint8_t *pg) { pg[4] |= OSP_SCSI_CONTROL_SWP; }
static void ut_clr_swp(uint8_t *pg) { pg[4] &= ~OSP_SCSI_CONTROL_SWP; }
static void ut_set_tst(uint8_t *pg) { pg[2] |= 0x20; }
static void ut_bad_len(uint8_t *pg) { pg[1] = 4; }
static void ut_nothing(uint8_t *pg) { (void)pg; }

static void
test_mode_select(void)
{
	uint8_t cdb[16];
	int n;

	setup();
	ut_clear_ua();
	/* D_SENSE: sense data switches to descriptor format. */
	CU_ASSERT_EQUAL(ut_mode_select(false, 0x0a, ut_set_dsense, 0x10), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0x08, 0x0a, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(g_cmd->buf[6] & OSP_SCSI_CONTROL_D_SENSE);
	CU_ASSERT(g_dev->luns[0]->mode.control.flags2 & OSP_SCSI_CONTROL_D_SENSE);
	n = ut_cdb_rw(cdb, OSP_SCSI_READ_10, NBLK, 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, n, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(g_cmd->task.sense[0], 0x72);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	cdb[1] = 0x20;
	CU_ASSERT_EQUAL(ut_cmd(cdb, n, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
	CU_ASSERT_EQUAL(ut_mode_select(true, 0x0a, ut_clr_dsense, 0x10), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_cmd(cdb, n, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(g_cmd->task.sense[0], 0x70);
	/* SWP: writes refused with DATA PROTECT, WP in the header; then back. */
	CU_ASSERT_EQUAL(ut_mode_select(false, 0x0a, ut_set_swp, 0x10), OSP_SCSI_STATUS_GOOD);
	n = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, n, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_DATA_PROTECT, OSP_SCSI_ASC_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(ut_mode_sense(false, 0x08, 0x0a, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(g_cmd->buf[2] & OSP_SCSI_MODE_DEVSPEC_WP);
	CU_ASSERT_EQUAL(ut_mode_select(false, 0x0a, ut_clr_swp, 0x10), OSP_SCSI_STATUS_GOOD);
	n = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, n, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_GOOD);
	/* What cannot change: a field that is not changeable, a bad page length, SP, PF 0. */
	CU_ASSERT_EQUAL(ut_mode_select(false, 0x0a, ut_set_tst, 0x10), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	CU_ASSERT_EQUAL(ut_field(), 6 << 8 | 5);
	CU_ASSERT_FALSE(g_cmd->task.sense[15] & OSP_SCSI_SKS_CD);
	CU_ASSERT_EQUAL(ut_mode_select(false, 0x0a, ut_bad_len, 0x10), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 5);
	CU_ASSERT_EQUAL(ut_mode_select(false, 0x0a, ut_nothing, 0x11), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 0);
	CU_ASSERT_EQUAL(ut_mode_select(false, 0x0a, ut_nothing, 0x00), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 4);
	/* The data shorter than the parameter list length. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = OSP_SCSI_MODE_SELECT_6;
	cdb[1] = 0x10;
	cdb[4] = 24;
	memset(g_cmd->buf, 0, 24);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_TO_DEV, 10), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* An unchanged page and an empty list are fine. */
	CU_ASSERT_EQUAL(ut_mode_select(false, 0x08, ut_nothing, 0x10), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_mode_select(true, 0x1c, ut_nothing, 0x10), OSP_SCSI_STATUS_GOOD);
	cdb[4] = 0;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	ut_teardown();
}

static void
test_start_stop_prevent(void)
{
	uint8_t cdb[6] = { OSP_SCSI_START_STOP_UNIT };

	setup();
	ut_clear_ua();
	cdb[4] = 0x01;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	cdb[4] = 0x00;
	cdb[1] = 0x01;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	/* LOEJ on a medium that is not removable. */
	cdb[4] = 0x02;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 4 << 8 | 1);
	cdb[4] = 0x50;		/* reserved power condition 5 */
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 4 << 8 | 7);
	cdb[4] = 0x30;		/* STANDBY */
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = OSP_SCSI_PREVENT_ALLOW;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	cdb[4] = 1;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	ut_teardown();
}

static void
test_report_opcodes(void)
{
	uint8_t cdb[12] = { OSP_SCSI_MAINTENANCE_IN, OSP_SCSI_MI_REPORT_SUPPORTED_OPCODES };
	uint8_t *b;
	uint32_t off;
	bool seen_read10 = false, seen_rc16 = false;

	setup();
	ut_clear_ua();
	b = g_cmd->buf;
	osp_scsi_put32(&cdb[6], 8192);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 8192), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), 8 * OSP_COUNTOF(g_cmds));
	for (off = 4; off < 4 + osp_scsi_get32(b); off += 8) {
		if (b[off] == OSP_SCSI_READ_10) {
			seen_read10 = true;
			CU_ASSERT_EQUAL(osp_scsi_get16(&b[off + 6]), 10);
			CU_ASSERT_EQUAL(b[off + 5], 0);
		}
		if (b[off] == OSP_SCSI_SERVICE_ACTION_IN_16 && osp_scsi_get16(&b[off + 2]) == 0x10) {
			seen_rc16 = true;
			CU_ASSERT_EQUAL(b[off + 5], 0x01);	/* SERVACTV */
		}
	}
	CU_ASSERT(seen_read10 && seen_rc16);
	/* With timeouts descriptors. */
	cdb[2] = 0x80;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 8192), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), 20 * OSP_COUNTOF(g_cmds));
	CU_ASSERT_EQUAL(b[4 + 5], 0x02);
	/* One command: READ (10) with its usage data. */
	cdb[2] = 0x01;
	cdb[3] = OSP_SCSI_READ_10;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 8192), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[1] & 0x07, 0x03);
	CU_ASSERT_EQUAL(osp_scsi_get16(&b[2]), 10);
	CU_ASSERT_EQUAL(b[4], OSP_SCSI_READ_10);
	CU_ASSERT_EQUAL(b[5], 0xfc);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 14);
	/* Option 1 for an opcode with service actions, option 2 for one without. */
	cdb[3] = OSP_SCSI_SERVICE_ACTION_IN_16;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 8192), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 2);
	cdb[2] = 0x02;
	osp_scsi_put16(&cdb[4], 0x10);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 8192), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get16(&b[2]), 16);
	CU_ASSERT_EQUAL(b[5], 0x1f);
	cdb[3] = OSP_SCSI_READ_10;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 8192), OSP_SCSI_STATUS_CHECK_CONDITION);
	/* Not supported: SUPPORT 001b. */
	cdb[2] = 0x01;
	cdb[3] = OSP_SCSI_FORMAT_UNIT;
	osp_scsi_put16(&cdb[4], 0);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 8192), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[1] & 0x07, 0x01);
	/* A reserved reporting option. */
	cdb[2] = 0x05;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 8192), OSP_SCSI_STATUS_CHECK_CONDITION);
	ut_teardown();
}

static void
test_report_tmfs(void)
{
	uint8_t cdb[12] = { OSP_SCSI_MAINTENANCE_IN, OSP_SCSI_MI_REPORT_SUPPORTED_TMFS };

	setup();
	ut_clear_ua();
	osp_scsi_put32(&cdb[6], 4);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 4);
	CU_ASSERT(g_cmd->buf[0] & 0x80);	/* ABORT TASK */
	CU_ASSERT(g_cmd->buf[0] & 0x08);	/* LOGICAL UNIT RESET */
	CU_ASSERT(g_cmd->buf[1] & 0x01);	/* I_T NEXUS RESET */
	CU_ASSERT_FALSE(g_cmd->buf[0] & 0x20);	/* CLEAR ACA */
	cdb[2] = 0x80;
	osp_scsi_put32(&cdb[6], 255);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 16);
	CU_ASSERT_EQUAL(g_cmd->buf[3], 0x0c);
	osp_scsi_put32(&cdb[6], 3);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 255), OSP_SCSI_STATUS_CHECK_CONDITION);
	ut_teardown();
}

static void
test_cdb_data_dir(void)
{
	static const struct {
		uint8_t op;
		enum osp_scsi_dir dir;
	} c[] = {
		{ OSP_SCSI_READ_DEFECT_DATA_10, OSP_SCSI_DIR_FROM_DEV },
		{ OSP_SCSI_READ_DEFECT_DATA_12, OSP_SCSI_DIR_FROM_DEV },
		{ OSP_SCSI_RECEIVE_COPY_RESULTS, OSP_SCSI_DIR_FROM_DEV },
		{ OSP_SCSI_EXTENDED_COPY, OSP_SCSI_DIR_TO_DEV },
		{ OSP_SCSI_WRITE_ATOMIC_16, OSP_SCSI_DIR_TO_DEV },
		{ OSP_SCSI_WRITE_SAME_16, OSP_SCSI_DIR_NONE },	/* NDOB decides */
	};
	uint8_t cdb[16] = { 0 };
	size_t i;

	for (i = 0; i < OSP_COUNTOF(c); i++) {
		cdb[0] = c[i].op;
		CU_ASSERT_EQUAL(osp_scsi_cdb_data_dir(cdb), c[i].dir);
	}
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("scsi_spc", NULL, NULL);
	CU_ADD_TEST(suite, test_tur_and_power_on_ua);
	CU_ADD_TEST(suite, test_invalid_opcode);
	CU_ADD_TEST(suite, test_inquiry_standard);
	CU_ADD_TEST(suite, test_inquiry_vpd);
	CU_ADD_TEST(suite, test_report_luns);
	CU_ADD_TEST(suite, test_request_sense);
	CU_ADD_TEST(suite, test_mode_sense);
	CU_ADD_TEST(suite, test_mode_select);
	CU_ADD_TEST(suite, test_start_stop_prevent);
	CU_ADD_TEST(suite, test_report_opcodes);
	CU_ADD_TEST(suite, test_report_tmfs);
	CU_ADD_TEST(suite, test_cdb_data_dir);
	return ut_run_suites();
}
