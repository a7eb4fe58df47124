/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/scsi's reservations (pr.c) with three nexuses on three
 * threads (the dev's owner is thread 0): SPC-2 RESERVE/RELEASE 6/10 and
 * their release on nexus loss and LUN reset; PERSISTENT RESERVE OUT with
 * every service action, the access rules of every reservation type for the
 * holder, a registrant and a stranger, unit attentions to the preempted,
 * REGISTER AND MOVE, APTPL / ALL_TG_PT / SPEC_I_PT refused; PERSISTENT
 * RESERVE IN with every service action.
 */
#include "scsi_ut.h"

#define NA 0	/* nexus indexes */
#define NB 1
#define NC 2

static struct osp_scsi_itn *g_n[3];
static struct osp_scsi_port *g_p[3];
static const char *g_names[3] = {
	"iqn.ut:a,i,0x00023d000001", "iqn.ut:b,i,0x00023d000002", "iqn.ut:c,i,0x00023d000003"
};

static uint64_t g_lun;	/* the LUN the helpers address */

static int
ut_on(int n, const uint8_t *cdb, int len, enum osp_scsi_dir dir, uint32_t xfer)
{
	struct osp_scsi_itn *saved = g_itn;
	int saved_t = g_itn_thread, rc;

	g_itn = g_n[n];
	g_itn_thread = n + 1;
	rc = ut_cmd_lun(g_lun, cdb, len, dir, xfer);
	g_itn = saved;
	g_itn_thread = saved_t;
	return rc;
}

static int
ut_tur(int n)
{
	uint8_t cdb[6] = { OSP_SCSI_TEST_UNIT_READY };

	return ut_on(n, cdb, 6, OSP_SCSI_DIR_NONE, 0);
}

static int
ut_rd(int n)
{
	uint8_t cdb[16];
	int len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 1);

	return ut_on(n, cdb, len, OSP_SCSI_DIR_FROM_DEV, BS);
}

static int
ut_wr(int n)
{
	uint8_t cdb[16];
	int len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 1);

	memset(g_cmd->buf, n, BS);
	return ut_on(n, cdb, len, OSP_SCSI_DIR_TO_DEV, BS);
}

static void
setup(void)
{
	int i;

	ut_setup(4, 3);
	/* The default nexus of the fixture is a fourth one, on thread 3; these are three more. */
	for (i = 0; i < 3; i++) {
		g_n[i] = ut_itn_open(g_names[i], i + 1, &g_p[i]);
		while (ut_tur(i) != OSP_SCSI_STATUS_GOOD) {
		}
	}
}

static void
teardown(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		if (g_n[i] != NULL) {
			ut_itn_close(g_n[i], g_p[i], i + 1);
			g_n[i] = NULL;
		}
	}
	ut_teardown();
}

static int
ut_prout(int n, uint8_t sa, uint8_t type, uint64_t key, uint64_t sakey, uint8_t flags)
{
	uint8_t cdb[10] = { OSP_SCSI_PERSISTENT_RESERVE_OUT, sa, type };

	osp_scsi_put32(&cdb[5], 24);
	memset(g_cmd->buf, 0, 24);
	osp_scsi_put64(g_cmd->buf, key);
	osp_scsi_put64(g_cmd->buf + 8, sakey);
	g_cmd->buf[20] = flags;
	return ut_on(n, cdb, 10, OSP_SCSI_DIR_TO_DEV, 24);
}

static int
ut_prin(int n, uint8_t sa, uint16_t alloc)
{
	uint8_t cdb[10] = { OSP_SCSI_PERSISTENT_RESERVE_IN, sa };

	osp_scsi_put16(&cdb[7], alloc);
	return ut_on(n, cdb, 10, OSP_SCSI_DIR_FROM_DEV, alloc);
}

static void
test_reserve6(void)
{
	uint8_t res6[6] = { OSP_SCSI_RESERVE_6 }, rel6[6] = { OSP_SCSI_RELEASE_6 };
	uint8_t res10[10] = { OSP_SCSI_RESERVE_10 }, rel10[10] = { OSP_SCSI_RELEASE_10 };
	uint8_t inq[6] = { OSP_SCSI_INQUIRY, 0, 0, 0, 36, 0 };

	setup();
	CU_ASSERT_EQUAL(ut_on(NA, res6, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_TRUE(g_n[NA]->luns[0].res.spc2_mine);
	CU_ASSERT_TRUE(g_n[NB]->luns[0].res.spc2_reserved);
	CU_ASSERT_EQUAL(ut_rd(NB), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(g_cmd->task.sense_len, 0);
	CU_ASSERT_EQUAL(ut_wr(NB), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_tur(NB), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_on(NB, inq, 6, OSP_SCSI_DIR_FROM_DEV, 36), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_on(NB, res6, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	/* RELEASE from another nexus: GOOD, and nothing changes. */
	CU_ASSERT_EQUAL(ut_on(NB, rel6, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_rd(NB), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	/* The holder: everything, RESERVE again too. */
	CU_ASSERT_EQUAL(ut_rd(NA), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_wr(NA), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_on(NA, res10, 10, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	/* PR commands meet the SPC-2 reservation with a conflict. */
	CU_ASSERT_EQUAL(ut_prin(NB, OSP_SCSI_PR_IN_READ_KEYS, 64), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_on(NA, rel10, 10, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_rd(NB), OSP_SCSI_STATUS_GOOD);
	/* Released when its nexus goes. */
	CU_ASSERT_EQUAL(ut_on(NB, res6, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_rd(NA), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	ut_itn_close(g_n[NB], g_p[NB], NB + 1);
	g_n[NB] = ut_itn_open(g_names[NB], NB + 1, &g_p[NB]);
	CU_ASSERT_EQUAL(ut_rd(NA), OSP_SCSI_STATUS_GOOD);
	teardown();
}

static int g_tmf_done;

static void
ut_tmf_done(struct osp_scsi_task *task)
{
	(void)task;
	g_tmf_done++;
}

static void
test_reserve_lun_reset(void)
{
	uint8_t res6[6] = { OSP_SCSI_RESERVE_6 };
	struct osp_scsi_task tmf;

	setup();
	CU_ASSERT_EQUAL(ut_on(NC, res6, 6, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_rd(NA), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	osp_scsi_task_init(&tmf, ut_tmf_done, NULL);
	g_tmf_done = 0;
	ut_set_thread(NA + 1);
	osp_scsi_itn_tmf(g_n[NA], &tmf, OSP_SCSI_TMF_LUN_RESET, 0, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_tmf_done, 1);
	CU_ASSERT_FALSE(g_n[NA]->luns[0].res.spc2_reserved);
	/* The nexus that asked hears of the reset too (SAM-5 6.3.3), then reads. */
	CU_ASSERT_EQUAL(ut_rd(NA), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_BUS_DEVICE_RESET_FUNCTION);
	CU_ASSERT_EQUAL(ut_rd(NA), OSP_SCSI_STATUS_GOOD);
	/* The holder hears of the reset. */
	CU_ASSERT_EQUAL(ut_rd(NC), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_BUS_DEVICE_RESET_FUNCTION);
	teardown();
}

static void
test_register(void)
{
	setup();
	/* Unregistered with a key: conflict. */
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 5, 0xa, 0),
			OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_TRUE(g_n[NA]->luns[0].res.pr_registered);
	CU_ASSERT_FALSE(g_n[NB]->luns[0].res.pr_registered);
	/* Registered: the key must match; then the key changes. */
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0xb, 0xc, 0),
			OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0xa, 0xaa, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER_AND_IGNORE, 0, 0x1234, 0xab, 0),
			OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER_AND_IGNORE, 0, 0x1234, 0xbb, 0),
			OSP_SCSI_STATUS_GOOD);
	/* READ KEYS: two keys, generation 4 (four changes). */
	CU_ASSERT_EQUAL(ut_prin(NC, OSP_SCSI_PR_IN_READ_KEYS, 64), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(g_cmd->buf), 4);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[4]), 16);
	CU_ASSERT_EQUAL(osp_scsi_get64(&g_cmd->buf[8]), 0xab);
	CU_ASSERT_EQUAL(osp_scsi_get64(&g_cmd->buf[16]), 0xbb);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 24);
	/* Truncated by the allocation length. */
	CU_ASSERT_EQUAL(ut_prin(NC, OSP_SCSI_PR_IN_READ_KEYS, 12), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 12);
	/* Unregister (key 0). */
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER, 0, 0xbb, 0, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_FALSE(g_n[NB]->luns[0].res.pr_registered);
	CU_ASSERT_EQUAL(ut_prin(NC, OSP_SCSI_PR_IN_READ_KEYS, 64), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[4]), 8);
	/* A registration outlives its nexus. */
	ut_itn_close(g_n[NA], g_p[NA], NA + 1);
	g_n[NA] = ut_itn_open(g_names[NA], NA + 1, &g_p[NA]);
	CU_ASSERT_TRUE(g_n[NA]->luns[0].res.pr_registered);
	/* Refused cleanly: APTPL, ALL_TG_PT, SPEC_I_PT; a wrong length; a bad service action. */
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0x5, OSP_SCSI_PR_OUT_APTPL),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	CU_ASSERT_EQUAL(ut_field(), 20 << 8 | 0);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0x5, OSP_SCSI_PR_OUT_ALL_TG_PT),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 20 << 8 | 2);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0x5, OSP_SCSI_PR_OUT_SPEC_I_PT),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 20 << 8 | 3);
	CU_ASSERT_FALSE(g_n[NB]->luns[0].res.pr_registered);
	{
		uint8_t cdb[10] = { OSP_SCSI_PERSISTENT_RESERVE_OUT, 0, 0 };

		osp_scsi_put32(&cdb[5], 20);
		CU_ASSERT_EQUAL(ut_on(NB, cdb, 10, OSP_SCSI_DIR_TO_DEV, 20), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		osp_scsi_put32(&cdb[5], 24);
		CU_ASSERT_EQUAL(ut_on(NB, cdb, 10, OSP_SCSI_DIR_TO_DEV, 10), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		cdb[1] = 0x08;
		CU_ASSERT_EQUAL(ut_on(NB, cdb, 10, OSP_SCSI_DIR_TO_DEV, 24), OSP_SCSI_STATUS_CHECK_CONDITION);
		CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 4);
	}
	CU_ASSERT_EQUAL(ut_prin(NB, 0x04, 64), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 4);
	teardown();
}

/* Expected outcome for (type, who, read/write): 1 allowed, 0 conflict. */
static int
ut_allowed(uint8_t type, int who, bool write)
{
	bool we = type == 1 || type == 5 || type == 7;

	if (who == NA) {
		return 1;			/* the holder */
	}
	if (who == NB && type >= 5) {
		return 1;			/* a registrant, registrants-only and all-registrants types */
	}
	return write ? 0 : we;
}

static void
test_access_by_type(void)
{
	static const uint8_t types[] = { 1, 3, 5, 6, 7, 8 };
	uint8_t ms[6] = { OSP_SCSI_MODE_SENSE_6, 0x08, 0x3f, 0, 255, 0 };
	uint8_t rc10[10] = { OSP_SCSI_READ_CAPACITY_10 };
	size_t i;
	int who, st;

	setup();
	for (i = 0; i < OSP_COUNTOF(types); i++) {
		CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER_AND_IGNORE, 0, 0, 0xa, 0),
				OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER_AND_IGNORE, 0, 0, 0xb, 0),
				OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RESERVE, types[i], 0xa, 0, 0),
				OSP_SCSI_STATUS_GOOD);
		for (who = NA; who <= NC; who++) {
			st = ut_rd(who);
			CU_ASSERT_EQUAL(st, ut_allowed(types[i], who, false) ? OSP_SCSI_STATUS_GOOD :
					OSP_SCSI_STATUS_RESERVATION_CONFLICT);
			st = ut_wr(who);
			CU_ASSERT_EQUAL(st, ut_allowed(types[i], who, true) ? OSP_SCSI_STATUS_GOOD :
					OSP_SCSI_STATUS_RESERVATION_CONFLICT);
			st = ut_on(who, ms, 6, OSP_SCSI_DIR_FROM_DEV, 255);
			CU_ASSERT_EQUAL(st, ut_allowed(types[i], who, false) ? OSP_SCSI_STATUS_GOOD :
					OSP_SCSI_STATUS_RESERVATION_CONFLICT);
			/* Always allowed. */
			CU_ASSERT_EQUAL(ut_tur(who), OSP_SCSI_STATUS_GOOD);
			CU_ASSERT_EQUAL(ut_on(who, rc10, 10, OSP_SCSI_DIR_FROM_DEV, 8), OSP_SCSI_STATUS_GOOD);
			CU_ASSERT_EQUAL(ut_prin(who, OSP_SCSI_PR_IN_READ_RESERVATION, 64), OSP_SCSI_STATUS_GOOD);
			CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[4]), 16);
			CU_ASSERT_EQUAL(g_cmd->buf[8 + 13], types[i]);
			CU_ASSERT_EQUAL(osp_scsi_get64(&g_cmd->buf[8]), types[i] >= 7 ? 0 : 0xa);
		}
		/* A reservation in place: RESERVE (6) conflicts, even for the holder. */
		{
			uint8_t res6[6] = { OSP_SCSI_RESERVE_6 };

			CU_ASSERT_EQUAL(ut_on(NA, res6, 6, OSP_SCSI_DIR_NONE, 0),
					OSP_SCSI_STATUS_RESERVATION_CONFLICT);
		}
		/* Another type from the holder, and any RESERVE from a stranger: conflict. */
		CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RESERVE, types[(i + 1) % 6], 0xa, 0, 0),
				OSP_SCSI_STATUS_RESERVATION_CONFLICT);
		CU_ASSERT_EQUAL(ut_prout(NC, OSP_SCSI_PR_OUT_RESERVE, types[i], 0, 0, 0),
				OSP_SCSI_STATUS_RESERVATION_CONFLICT);
		/* Release with the wrong type; then with the right one. */
		CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RELEASE, types[(i + 1) % 6], 0xa, 0, 0),
				OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_RELEASE_OF_PR);
		CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RELEASE, types[i], 0xa, 0, 0),
				OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_wr(NC), OSP_SCSI_STATUS_GOOD);
		/* Registrants of the registrants types hear of the release. */
		if (types[i] >= 5) {
			CU_ASSERT_EQUAL(ut_tur(NB), OSP_SCSI_STATUS_CHECK_CONDITION);
			CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_RESERVATIONS_RELEASED);
		}
		CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_CLEAR, 0, 0xa, 0, 0), OSP_SCSI_STATUS_GOOD);
		while (ut_tur(NB) != OSP_SCSI_STATUS_GOOD) {
		}
	}
	/* Bad type and scope. */
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RESERVE, 2, 0xa, 0, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 2 << 8 | 3);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RESERVE, 0x21, 0xa, 0, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 2 << 8 | 7);
	/* Releasing what one does not hold, or when nothing is held: GOOD. */
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RELEASE, 1, 0xa, 0, 0), OSP_SCSI_STATUS_GOOD);
	teardown();
}

static void
test_preempt_clear(void)
{
	setup();
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xb, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NC, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xc, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RESERVE, OSP_SCSI_PR_EXCLUSIVE_ACCESS, 0xa, 0, 0),
			OSP_SCSI_STATUS_GOOD);
	/* A stranger cannot preempt; nor with a key nobody has; nor with key 0. */
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_PREEMPT, 1, 0xbad, 0xa, 0),
			OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_PREEMPT, 1, 0xb, 0x99, 0),
			OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_PREEMPT, 1, 0xb, 0, 0),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	/* B preempts the holder A: B holds (write exclusive now), A's registration is gone. */
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_PREEMPT_AND_ABORT, OSP_SCSI_PR_WRITE_EXCLUSIVE,
				 0xb, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_TRUE(g_n[NB]->luns[0].res.pr_holder);
	CU_ASSERT_FALSE(g_n[NA]->luns[0].res.pr_registered);
	CU_ASSERT_EQUAL(ut_tur(NA), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_REGISTRATIONS_PREEMPTED);
	CU_ASSERT_EQUAL(ut_rd(NA), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_wr(NA), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	/* Preempting a non-holder's key only removes its registration. */
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_PREEMPT, 1, 0xb, 0xc, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_FALSE(g_n[NC]->luns[0].res.pr_registered);
	CU_ASSERT_TRUE(g_n[NB]->luns[0].res.pr_holder);
	/* READ FULL STATUS: B alone, holder, with its TransportID. */
	CU_ASSERT_EQUAL(ut_prin(NA, OSP_SCSI_PR_IN_READ_FULL_STATUS, 1024), OSP_SCSI_STATUS_GOOD);
	{
		const uint8_t *b = g_cmd->buf, *d = b + 8;

		CU_ASSERT_EQUAL(osp_scsi_get32(&b[4]), 24 + osp_scsi_get32(&d[20]));
		CU_ASSERT_EQUAL(osp_scsi_get64(d), 0xb);
		CU_ASSERT_EQUAL(d[12], 0x01);
		CU_ASSERT_EQUAL(d[13], OSP_SCSI_PR_WRITE_EXCLUSIVE);
		CU_ASSERT_EQUAL(osp_scsi_get16(&d[18]), 1);
		CU_ASSERT_EQUAL(d[24], 0x45);
		CU_ASSERT_EQUAL(osp_scsi_get32(&d[20]) % 4, 0);
		CU_ASSERT_STRING_EQUAL((const char *)&d[28], g_names[NB]);
	}
	/* All-registrants: every registrant holds; PREEMPT with key 0 takes it over. */
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_CLEAR, 0, 0xb, 0, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xb, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RESERVE, OSP_SCSI_PR_EXCLUSIVE_ACCESS_ALL_REGS,
				 0xa, 0, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_TRUE(g_n[NB]->luns[0].res.pr_holder);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_PREEMPT, OSP_SCSI_PR_EXCLUSIVE_ACCESS, 0xb, 0, 0),
			OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_FALSE(g_n[NA]->luns[0].res.pr_registered);
	CU_ASSERT_TRUE(g_n[NB]->luns[0].res.pr_holder);
	CU_ASSERT_EQUAL(ut_tur(NA), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_REGISTRATIONS_PREEMPTED);
	CU_ASSERT_EQUAL(ut_rd(NA), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	/* CLEAR: nothing left, the others hear RESERVATIONS PREEMPTED. */
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	while (ut_tur(NA) != OSP_SCSI_STATUS_GOOD) {
	}
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_CLEAR, 0, 0xb, 0, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_tur(NA), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_RESERVATIONS_PREEMPTED);
	CU_ASSERT_EQUAL(ut_prin(NA, OSP_SCSI_PR_IN_READ_KEYS, 64), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[4]), 0);
	CU_ASSERT_EQUAL(ut_prin(NA, OSP_SCSI_PR_IN_READ_RESERVATION, 64), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[4]), 0);
	CU_ASSERT_EQUAL(ut_wr(NA), OSP_SCSI_STATUS_GOOD);
	/* CLEAR from a stranger (C was preempted earlier: its UA first). */
	CU_ASSERT_EQUAL(ut_tur(NC), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_REGISTRATIONS_PREEMPTED);
	CU_ASSERT_EQUAL(ut_prout(NC, OSP_SCSI_PR_OUT_CLEAR, 0, 0, 0, 0), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	teardown();
}

static int
ut_move(int n, uint64_t key, uint64_t sakey, uint16_t relport, const char *name, uint8_t flags)
{
	uint8_t cdb[10] = { OSP_SCSI_PERSISTENT_RESERVE_OUT, OSP_SCSI_PR_OUT_REGISTER_AND_MOVE, 0 };
	uint8_t *p = g_cmd->buf;
	uint32_t tl = 64;

	memset(p, 0, 24 + tl);
	osp_scsi_put64(p, key);
	osp_scsi_put64(p + 8, sakey);
	p[17] = flags;
	osp_scsi_put16(p + 18, relport);
	osp_scsi_put32(p + 20, tl);
	p[24] = 0x45;
	osp_scsi_put16(p + 26, (uint16_t)(tl - 4));
	memcpy(p + 28, name, strlen(name));
	osp_scsi_put32(&cdb[5], 24 + tl);
	return ut_on(n, cdb, 10, OSP_SCSI_DIR_TO_DEV, 24 + tl);
}

static void
test_register_and_move(void)
{
	setup();
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	/* Not the holder (no reservation). */
	CU_ASSERT_EQUAL(ut_move(NA, 0xa, 0xb, 1, g_names[NB], 0), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RESERVE, OSP_SCSI_PR_WRITE_EXCLUSIVE, 0xa, 0, 0),
			OSP_SCSI_STATUS_GOOD);
	/* Bad: key 0, unknown port, to itself, APTPL, a TransportID that is no iSCSI port name. */
	CU_ASSERT_EQUAL(ut_move(NA, 0xa, 0, 1, g_names[NB], 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 8);
	CU_ASSERT_EQUAL(ut_move(NA, 0xa, 0xb, 7, g_names[NB], 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 18);
	CU_ASSERT_EQUAL(ut_move(NA, 0xa, 0xb, 1, g_names[NA], 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 24);
	CU_ASSERT_EQUAL(ut_move(NA, 0xa, 0xb, 1, g_names[NB], 1), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 17 << 8 | 0);
	g_cmd->buf[0] = 0;
	{
		uint8_t cdb[10] = { OSP_SCSI_PERSISTENT_RESERVE_OUT, OSP_SCSI_PR_OUT_REGISTER_AND_MOVE };
		uint8_t *p = g_cmd->buf;

		memset(p, 0, 88);
		osp_scsi_put64(p, 0xa);
		osp_scsi_put64(p + 8, 0xb);
		osp_scsi_put16(p + 18, 1);
		osp_scsi_put32(p + 20, 64);
		p[24] = 0x01;	/* FC, not iSCSI */
		osp_scsi_put32(&cdb[5], 88);
		CU_ASSERT_EQUAL(ut_on(NA, cdb, 10, OSP_SCSI_DIR_TO_DEV, 88), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
		/* TransportID length past the list. */
		p[24] = 0x45;
		osp_scsi_put32(p + 20, 200);
		CU_ASSERT_EQUAL(ut_on(NA, cdb, 10, OSP_SCSI_DIR_TO_DEV, 88), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	}
	/* Move to B (not registered yet), keeping A registered. */
	CU_ASSERT_EQUAL(ut_move(NA, 0xa, 0xb, 1, g_names[NB], 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_TRUE(g_n[NB]->luns[0].res.pr_holder);
	CU_ASSERT_TRUE(g_n[NA]->luns[0].res.pr_registered);
	CU_ASSERT_FALSE(g_n[NA]->luns[0].res.pr_holder);
	CU_ASSERT_EQUAL(ut_wr(NA), OSP_SCSI_STATUS_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(ut_wr(NB), OSP_SCSI_STATUS_GOOD);
	/* And on to C, B unregistering. */
	CU_ASSERT_EQUAL(ut_move(NB, 0xb, 0xc, 1, g_names[NC], OSP_SCSI_PR_MOVE_UNREG), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_TRUE(g_n[NC]->luns[0].res.pr_holder);
	CU_ASSERT_FALSE(g_n[NB]->luns[0].res.pr_registered);
	CU_ASSERT_EQUAL(ut_prin(NA, OSP_SCSI_PR_IN_READ_RESERVATION, 64), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get64(&g_cmd->buf[8]), 0xc);
	/* All-registrants reservations cannot move. */
	CU_ASSERT_EQUAL(ut_prout(NC, OSP_SCSI_PR_OUT_RELEASE, 1, 0xc, 0, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NC, OSP_SCSI_PR_OUT_RESERVE, 7, 0xc, 0, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_move(NC, 0xc, 0xb, 1, g_names[NB], 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB);
	teardown();
}

static int g_io_done;

static void
ut_read_done(struct osp_scsi_task *task)
{
	(void)task;
	g_io_done++;
}

static void
ut_reset_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	(void)success;
	osp_bdev_free_io(bdev_io);
	*(int *)arg = 1;
}

/* PREEMPT AND ABORT: the preempted nexus's tasks of the LUN end TASK ABORTED. */
static void
test_preempt_and_abort(void)
{
	struct bdev_error_inject_opts o = { .io_type = OSP_BDEV_IO_TYPE_READ,
					    .error_type = BDEV_ERROR_PENDING, .num = 1 };
	struct osp_scsi_task rd;
	struct ut_desc d;
	uint8_t cdb[16];
	uint64_t now;
	int len, reset = 0, i;

	setup();
	ut_set_thread(0);
	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&(struct bdev_malloc_opts){ .name = "M2",
		.num_blocks = 64, .block_size = BS }, &(struct osp_bdev *){ NULL }), 0);
	CU_ASSERT_EQUAL_FATAL(bdev_error_create("M2", NULL), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL_FATAL(osp_scsi_dev_add_lun(g_dev, "EE_M2", 1, NULL), 0);
	ut_poll_threads();
	g_lun = 1;
	while (ut_tur(NA) != OSP_SCSI_STATUS_GOOD) {
	}
	while (ut_tur(NB) != OSP_SCSI_STATUS_GOOD) {
	}
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_REGISTER, 0, 0, 0xb, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_prout(NA, OSP_SCSI_PR_OUT_RESERVE, OSP_SCSI_PR_EXCLUSIVE_ACCESS, 0xa, 0, 0),
			OSP_SCSI_STATUS_GOOD);
	/* A read of A stuck in the module. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M2", &o), 0);
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 1);
	osp_scsi_task_init(&rd, ut_read_done, NULL);
	rd.lun_id = 1;
	memcpy(rd.cdb, cdb, (size_t)len);
	rd.cdb_len = 16;
	rd.dir = OSP_SCSI_DIR_FROM_DEV;
	rd.transfer_len = BS;
	g_io_done = 0;
	ut_set_thread(NA + 1);
	osp_scsi_itn_execute(g_n[NA], &rd);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_io_done, 0);
	CU_ASSERT_EQUAL(ut_prout(NB, OSP_SCSI_PR_OUT_PREEMPT_AND_ABORT, OSP_SCSI_PR_EXCLUSIVE_ACCESS,
				 0xb, 0xa, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(rd.state & SCSI_TASK_ABORTED);
	CU_ASSERT_EQUAL(g_io_done, 0);
	/* Release the stuck read with a bdev reset: it ends TASK ABORTED, not with an error. */
	CU_ASSERT_EQUAL_FATAL(ut_open("EE_M2", false, 0, &d), 0);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_bdev_reset(d.desc, d.ch, ut_reset_done, &reset), 0);
	now = osp_get_ticks();
	for (i = 0; i < 100 && !reset; i++) {
		now += osp_get_ticks_hz() / 10;
		ut_poll_threads_at(now);
	}
	CU_ASSERT_EQUAL(reset, 1);
	CU_ASSERT_EQUAL(g_io_done, 1);
	CU_ASSERT_EQUAL(rd.status, OSP_SCSI_STATUS_TASK_ABORTED);
	ut_set_thread(NA + 1);
	osp_scsi_task_put(&rd);
	ut_close(&d);
	g_lun = 0;
	teardown();
}

static void
test_report_capabilities(void)
{
	setup();
	CU_ASSERT_EQUAL(ut_prin(NA, OSP_SCSI_PR_IN_REPORT_CAPABILITIES, 64), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 8);
	CU_ASSERT_EQUAL(osp_scsi_get16(g_cmd->buf), 8);
	CU_ASSERT_EQUAL(g_cmd->buf[2] & 0x0d, 0);	/* SIP_C, ATP_C, PTPL_C */
	CU_ASSERT(g_cmd->buf[3] & 0x80);			/* TMV */
	CU_ASSERT_EQUAL(g_cmd->buf[3] & 0x01, 0);		/* PTPL_A */
	CU_ASSERT_EQUAL(g_cmd->buf[4], 0xea);
	CU_ASSERT_EQUAL(g_cmd->buf[5], 0x01);
	teardown();
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("scsi_pr", NULL, NULL);
	CU_ADD_TEST(suite, test_reserve6);
	CU_ADD_TEST(suite, test_reserve_lun_reset);
	CU_ADD_TEST(suite, test_register);
	CU_ADD_TEST(suite, test_access_by_type);
	CU_ADD_TEST(suite, test_preempt_clear);
	CU_ADD_TEST(suite, test_register_and_move);
	CU_ADD_TEST(suite, test_preempt_and_abort);
	CU_ADD_TEST(suite, test_report_capabilities);
	return ut_run_suites();
}
