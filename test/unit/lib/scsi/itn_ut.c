/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/scsi's devices and nexuses (dev.c, itn.c): the set-up
 * API and its errors, nexuses on other threads than the dev's owner, unit
 * attentions (power on, LUNs added and removed, capacity changed, mode
 * parameters changed, resets), LUN removal and bdev hot remove with I/O in
 * flight and with zero-copy buffers still held, task management with I/O
 * in flight (ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LUN RESET across
 * nexuses with I/O stuck in the module, I_T NEXUS RESET, TARGET RESET,
 * QUERY TASK / TASK SET / ASYNC EVENT, CLEAR ACA).
 */
#include "scsi_ut.h"

static int g_seq;

struct ut_tmf {
	struct osp_scsi_task task;
	int done;
	int seq;
};

static void
ut_tmf_done(struct osp_scsi_task *task)
{
	struct ut_tmf *t = task->cb_arg;

	t->done++;
	t->seq = ++g_seq;
}

static void
ut_seq_task_done(struct osp_scsi_task *task)
{
	struct ut_cmd *c = task->cb_arg;

	c->done++;
	/* The order of completions, kept in the unused tail of the buffer. */
	c->buf[sizeof(c->buf) - 1] = (uint8_t)++g_seq;
}

/* Start a command on itn (thread t) without polling. */
static void
ut_start(struct ut_cmd *c, struct osp_scsi_itn *itn, int t, uint64_t lun, uint8_t op,
	 uint64_t lba, uint32_t n, uint64_t tag)
{
	uint8_t cdb[16];
	int len = ut_cdb_rw(cdb, op, lba, n);

	ut_prep(c, lun, cdb, len, (op == OSP_SCSI_READ_10 || op == OSP_SCSI_READ_16) ?
		OSP_SCSI_DIR_FROM_DEV : OSP_SCSI_DIR_TO_DEV, n * BS, false);
	c->task.cpl_fn = ut_seq_task_done;
	c->task.tag = tag;
	ut_set_thread(t);
	osp_scsi_itn_execute(itn, &c->task);
}

static void
ut_tmf(struct ut_tmf *t, struct osp_scsi_itn *itn, int thread, enum osp_scsi_tmf fn,
       uint64_t lun, uint64_t tag)
{
	osp_scsi_task_init(&t->task, ut_tmf_done, t);
	t->done = 0;
	ut_set_thread(thread);
	osp_scsi_itn_tmf(itn, &t->task, fn, lun, tag);
}

static void
ut_put(struct ut_cmd *c, int thread)
{
	ut_set_thread(thread);
	osp_scsi_task_put(&c->task);
}

static int
ut_cmd_on(struct osp_scsi_itn *itn, int thread, uint64_t lun, const uint8_t *cdb, int len,
	  enum osp_scsi_dir dir, uint32_t xfer)
{
	struct osp_scsi_itn *saved = g_itn;
	int saved_t = g_itn_thread, rc;

	g_itn = itn;
	g_itn_thread = thread;
	rc = ut_cmd_lun(lun, cdb, len, dir, xfer);
	g_itn = saved;
	g_itn_thread = saved_t;
	return rc;
}

static int
ut_tur(struct osp_scsi_itn *itn, int thread, uint64_t lun)
{
	uint8_t cdb[6] = { OSP_SCSI_TEST_UNIT_READY };

	return ut_cmd_on(itn, thread, lun, cdb, 6, OSP_SCSI_DIR_NONE, 0);
}

static void
ut_remove_cb(void *arg, int rc)
{
	*(int *)arg = rc == 0 ? 1 : rc;
}

static void
test_dev_api(void)
{
	char longname[300];
	struct osp_scsi_dev *dev;
	struct osp_scsi_lun *lun;
	cJSON *arr;
	int id = -5, i, removed = 0;

	ut_setup(1, 0);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_scsi_dev_create("", &dev), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CU_ASSERT_EQUAL(osp_scsi_dev_create(longname, &dev), -EINVAL);
	CU_ASSERT_STRING_EQUAL(osp_scsi_dev_get_name(g_dev), "iqn.2016-06.io.osprey:ut");
	/* LUNs. */
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "M0", 0, NULL), -EEXIST);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "M0", 64, NULL), -EINVAL);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "nope", 1, NULL), -ENODEV);
	CU_ASSERT_EQUAL(bdev_malloc_create(&(struct bdev_malloc_opts){ .name = "M1",
		.num_blocks = 64, .block_size = 4096 }, &(struct osp_bdev *){ NULL }), 0);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "M1", -1, &id), 0);
	CU_ASSERT_EQUAL(id, 1);
	ut_poll_threads();
	lun = osp_scsi_dev_first_lun(g_dev);
	CU_ASSERT_EQUAL(osp_scsi_lun_get_id(lun), 0);
	lun = osp_scsi_dev_next_lun(g_dev, lun);
	CU_ASSERT_EQUAL(osp_scsi_lun_get_id(lun), 1);
	CU_ASSERT_STRING_EQUAL(osp_scsi_lun_get_bdev_name(lun), "M1");
	CU_ASSERT_PTR_NULL(osp_scsi_dev_next_lun(g_dev, lun));
	CU_ASSERT_PTR_EQUAL(osp_scsi_dev_get_lun(g_dev, 1), lun);
	CU_ASSERT_PTR_NULL(osp_scsi_dev_get_lun(g_dev, 2));
	CU_ASSERT_PTR_NULL(osp_scsi_dev_get_lun(g_dev, 99));
	arr = cJSON_CreateArray();
	osp_scsi_dev_luns_json(g_dev, arr);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(arr), 2);
	CU_ASSERT_STRING_EQUAL(ut_str(cJSON_GetArrayItem(arr, 1), "bdev_name"), "M1");
	CU_ASSERT_EQUAL(ut_num(cJSON_GetArrayItem(arr, 1), "id"), 1);
	cJSON_Delete(arr);
	/* The bdev is claimed for writing by the LUN: a second LUN on it is fine (shared open). */
	CU_ASSERT_EQUAL(osp_scsi_dev_remove_lun(g_dev, 7, ut_remove_cb, &removed), -ENOENT);
	CU_ASSERT_EQUAL(osp_scsi_dev_remove_lun(g_dev, 1, ut_remove_cb, &removed), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(removed, 1);
	CU_ASSERT_PTR_NULL(osp_scsi_dev_get_lun(g_dev, 1));
	/* Ports. */
	CU_ASSERT_EQUAL(osp_scsi_dev_add_port(g_dev, 1, "x"), -EEXIST);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_port(g_dev, 0, "x"), -EINVAL);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_port(g_dev, 2, ""), -EINVAL);
	for (i = 2; i <= OSP_SCSI_DEV_MAX_PORTS; i++) {
		CU_ASSERT_EQUAL(osp_scsi_dev_add_port(g_dev, (uint16_t)i, "p"), 0);
	}
	CU_ASSERT_EQUAL(osp_scsi_dev_add_port(g_dev, 100, "p"), -ENOSPC);
	CU_ASSERT_PTR_NOT_NULL(osp_scsi_dev_find_port(g_dev, 16));
	CU_ASSERT_PTR_NULL(osp_scsi_dev_find_port(g_dev, 17));
	CU_ASSERT_PTR_NULL(osp_scsi_port_create("", 0));
	CU_ASSERT_PTR_NULL(osp_scsi_port_create(longname, 0));
	CU_ASSERT_STRING_EQUAL(osp_scsi_port_get_name(g_iport), "iqn.ut:host,i,0x000000000001");
	/* A dev with an open nexus cannot go. */
	CU_ASSERT_EQUAL(osp_scsi_dev_destroy(g_dev, NULL, NULL), -EBUSY);
	ut_teardown();
}

static void
ut_open_fail_cb(void *arg, struct osp_scsi_itn *itn, int rc)
{
	CU_ASSERT_PTR_NULL(itn);
	*(int *)arg = rc;
}

static void
test_itn_threads(void)
{
	struct osp_scsi_port *p2, *bad;
	struct osp_scsi_itn *itn2;
	int rc = 1;

	ut_setup(3, 1);
	itn2 = ut_itn_open("iqn.ut:host2,i,0x000000000002", 2, &p2);
	CU_ASSERT_PTR_EQUAL(itn2->thread, ut_thread(2));
	CU_ASSERT_PTR_EQUAL(g_itn->thread, ut_thread(1));
	CU_ASSERT_EQUAL(g_dev->nitns, 2);
	/* Each nexus has its own power-on UA. */
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_POWER_ON_OCCURRED);
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_itn_outstanding(itn2), 0);
	/* Unknown target port. */
	bad = osp_scsi_port_create("iqn.ut:host3,i,0x3", 0);
	ut_set_thread(2);
	CU_ASSERT_EQUAL(osp_scsi_itn_open(g_dev, bad, 9, ut_open_fail_cb, &rc), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(rc, -ENODEV);
	CU_ASSERT_EQUAL(osp_scsi_itn_open(g_dev, NULL, 1, ut_open_fail_cb, &rc), -EINVAL);
	osp_scsi_port_free(bad);
	ut_itn_close(itn2, p2, 2);
	CU_ASSERT_EQUAL(g_dev->nitns, 1);
	ut_teardown();
}

static void
test_lun_add_remove(void)
{
	struct osp_scsi_port *p2;
	struct osp_scsi_itn *itn2;
	static struct ut_cmd c1;
	uint8_t cdb[16];
	int removed = 0, len;

	ut_setup(3, 1);
	itn2 = ut_itn_open("iqn.ut:host2,i,0x000000000002", 2, &p2);
	while (ut_tur(g_itn, 1, 0) != OSP_SCSI_STATUS_GOOD) {
	}
	while (ut_tur(itn2, 2, 0) != OSP_SCSI_STATUS_GOOD) {
	}
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_malloc_create(&(struct bdev_malloc_opts){ .name = "M1",
		.num_blocks = 64, .block_size = BS }, &(struct osp_bdev *){ NULL }), 0);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "M1", 1, NULL), 0);
	ut_poll_threads();
	/* Both nexuses hear of it on LUN 0; REPORT LUNS clears it. */
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_REPORTED_LUNS_CHANGED);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = OSP_SCSI_REPORT_LUNS;
	osp_scsi_put32(&cdb[6], 256);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 12, OSP_SCSI_DIR_FROM_DEV, 256), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(g_cmd->buf), 16);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_GOOD);
	while (ut_tur(g_itn, 1, 1) != OSP_SCSI_STATUS_GOOD) {
	}
	/* Remove LUN 1 while a zero-copy read holds its buffer on nexus 1. */
	ut_start(&c1, g_itn, 1, 1, OSP_SCSI_READ_10, 0, 8, 1);
	ut_poll_threads();
	CU_ASSERT_EQUAL(c1.done, 1);
	CU_ASSERT_EQUAL(c1.task.status, OSP_SCSI_STATUS_GOOD);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_scsi_dev_remove_lun(g_dev, 1, ut_remove_cb, &removed), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(removed, 0);
	/* Meanwhile the LUN is gone for new commands. */
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 1);
	CU_ASSERT_EQUAL(ut_cmd_on(itn2, 2, 1, cdb, len, OSP_SCSI_DIR_FROM_DEV, BS),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LU_NOT_SUPPORTED);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_scsi_dev_remove_lun(g_dev, 1, ut_remove_cb, &removed), -EBUSY);
	ut_put(&c1, 1);
	ut_poll_threads();
	CU_ASSERT_EQUAL(removed, 1);
	CU_ASSERT_PTR_NULL(osp_scsi_dev_get_lun(g_dev, 1));
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_REPORTED_LUNS_CHANGED);
	/* The id can be used again. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "M1", 1, NULL), 0);
	ut_poll_threads();
	ut_itn_close(itn2, p2, 2);
	ut_teardown();
}

static void
ut_unreg_done(void *arg, int rc)
{
	*(int *)arg = rc == 0 ? 1 : rc;
}

static void
test_hot_remove_inflight(void)
{
	static struct ut_cmd c1, c2;
	int gone = 0;

	ut_setup(2, 1);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_malloc_create(&(struct bdev_malloc_opts){ .name = "M1",
		.num_blocks = 64, .block_size = BS }, &(struct osp_bdev *){ NULL }), 0);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "M1", 1, NULL), 0);
	ut_poll_threads();
	while (ut_tur(g_itn, 1, 1) != OSP_SCSI_STATUS_GOOD) {
	}
	/* A read and a write in flight when the bdev goes. */
	ut_start(&c1, g_itn, 1, 1, OSP_SCSI_READ_10, 0, 4, 1);
	ut_start(&c2, g_itn, 1, 1, OSP_SCSI_WRITE_10, 4, 4, 2);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_malloc_delete("M1", ut_unreg_done, &gone), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(c1.done, 1);
	CU_ASSERT_EQUAL(c2.done, 1);
	/* The read's buffer is still held: the LUN waits, the bdev too. */
	CU_ASSERT_EQUAL(gone, 0);
	CU_ASSERT_PTR_NOT_NULL(osp_scsi_dev_get_lun(g_dev, 1));
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 1), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LU_NOT_SUPPORTED);
	ut_put(&c1, 1);
	ut_put(&c2, 1);
	ut_poll_threads();
	CU_ASSERT_EQUAL(gone, 1);
	CU_ASSERT_PTR_NULL(osp_scsi_dev_get_lun(g_dev, 1));
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	ut_teardown();
}

static void
test_resize_ua(void)
{
	uint8_t cdb[16] = { OSP_SCSI_READ_CAPACITY_10 };
	int len;

	ut_setup(2, 1);
	ut_clear_ua();
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_bdev_notify_blockcnt_change(g_m0, NBLK / 2), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_FROM_DEV, 8), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_CAPACITY_DATA_CHANGED);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_FROM_DEV, 8), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(g_cmd->buf), NBLK / 2 - 1);
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, NBLK / 2, 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	ut_teardown();
}

static void
test_tmf_abort_task(void)
{
	static struct ut_cmd c1, c2;
	struct ut_tmf tmf;

	ut_setup(2, 1);
	ut_clear_ua();
	/* Unknown tag: nothing to abort, FUNCTION COMPLETE at once. */
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_ABORT_TASK, 0, 77);
	CU_ASSERT_EQUAL(tmf.done, 1);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_COMPLETE);
	/* A read in flight: it ends TASK ABORTED, before the TMF. */
	g_seq = 0;
	ut_start(&c1, g_itn, 1, 0, OSP_SCSI_READ_10, 0, 8, 5);
	ut_start(&c2, g_itn, 1, 0, OSP_SCSI_READ_10, 0, 8, 6);
	CU_ASSERT_EQUAL(osp_scsi_itn_outstanding(g_itn), 2);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_QUERY_TASK, 0, 5);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_SUCCEEDED);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_QUERY_TASK_SET, 0, 0);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_SUCCEEDED);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_ABORT_TASK, 0, 5);
	CU_ASSERT_EQUAL(tmf.done, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(c1.done, 1);
	CU_ASSERT_EQUAL(c1.task.status, OSP_SCSI_STATUS_TASK_ABORTED);
	CU_ASSERT_EQUAL(c1.task.sense_len, 0);
	CU_ASSERT_EQUAL(c2.done, 1);
	CU_ASSERT_EQUAL(c2.task.status, OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(tmf.done, 1);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(c1.buf[sizeof(c1.buf) - 1] < tmf.seq);
	ut_put(&c1, 1);
	ut_put(&c2, 1);
	CU_ASSERT_EQUAL(g_itn->luns[0].ntasks, 0);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_QUERY_TASK, 0, 5);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_COMPLETE);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_QUERY_TASK_SET, 0, 0);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_COMPLETE);
	/* ABORT TASK SET and CLEAR TASK SET: every task of the LUN. */
	ut_start(&c1, g_itn, 1, 0, OSP_SCSI_WRITE_10, 0, 8, 7);
	ut_start(&c2, g_itn, 1, 0, OSP_SCSI_READ_10, 0, 8, 8);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_ABORT_TASK_SET, 0, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(c1.task.status, OSP_SCSI_STATUS_TASK_ABORTED);
	CU_ASSERT_EQUAL(c2.task.status, OSP_SCSI_STATUS_TASK_ABORTED);
	CU_ASSERT_EQUAL(tmf.done, 1);
	ut_put(&c1, 1);
	ut_put(&c2, 1);
	ut_start(&c1, g_itn, 1, 0, OSP_SCSI_READ_16, 0, 600, 9);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_CLEAR_TASK_SET, 0, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(c1.task.status, OSP_SCSI_STATUS_TASK_ABORTED);
	CU_ASSERT_EQUAL(c1.task.data_transferred, 0);
	CU_ASSERT_EQUAL(tmf.done, 1);
	ut_put(&c1, 1);
	/* Bad LUNs, unsupported functions, async events. */
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_ABORT_TASK_SET, 9, 0);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_INVALID_LUN);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_LUN_RESET, 1000, 0);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_INVALID_LUN);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_CLEAR_ACA, 0, 0);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_REJECTED);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_QUERY_ASYNC_EVENT, 0, 0);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_COMPLETE);
	g_itn->luns[0].ua |= SCSI_UA_BIT(SCSI_UA_MODE_CHANGED);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_QUERY_ASYNC_EVENT, 0, 0);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_SUCCEEDED);
	CU_ASSERT_EQUAL(osp_scsi_itn_outstanding(g_itn), 0);
	ut_teardown();
}

/* Poll with a clock that moves 100 ms per round until *done or 10 s of fake time passed. */
static void
ut_poll_until(const int *done)
{
	uint64_t now = osp_get_ticks(), step = osp_get_ticks_hz() / 10;
	int i;

	for (i = 0; i < 100 && !*done; i++) {
		now += step;
		ut_poll_threads_at(now);
	}
}

static void
test_tmf_lun_reset(void)
{
	static struct ut_cmd c1, c2, c3;
	struct bdev_error_inject_opts o = { .io_type = OSP_BDEV_IO_TYPE_READ,
					    .error_type = BDEV_ERROR_PENDING, .num = 2 };
	struct osp_scsi_port *p2;
	struct osp_scsi_itn *itn2;
	struct ut_tmf tmf;

	ut_setup(3, 1);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_malloc_create(&(struct bdev_malloc_opts){ .name = "M2",
		.num_blocks = 64, .block_size = BS }, &(struct osp_bdev *){ NULL }), 0);
	CU_ASSERT_EQUAL(bdev_error_create("M2", NULL), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "EE_M2", 1, NULL), 0);
	ut_poll_threads();
	itn2 = ut_itn_open("iqn.ut:host2,i,0x000000000002", 2, &p2);
	while (ut_tur(g_itn, 1, 1) != OSP_SCSI_STATUS_GOOD) {
	}
	while (ut_tur(g_itn, 1, 0) != OSP_SCSI_STATUS_GOOD) {
	}
	while (ut_tur(itn2, 2, 1) != OSP_SCSI_STATUS_GOOD) {
	}
	while (ut_tur(itn2, 2, 0) != OSP_SCSI_STATUS_GOOD) {
	}
	/* Reads stuck in the module on both nexuses, and one on LUN 0 that must survive. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M2", &o), 0);
	ut_start(&c1, g_itn, 1, 1, OSP_SCSI_READ_10, 0, 1, 1);
	ut_start(&c2, itn2, 2, 1, OSP_SCSI_READ_10, 0, 1, 2);
	ut_poll_threads();
	CU_ASSERT_EQUAL(c1.done + c2.done, 0);
	ut_start(&c3, itn2, 2, 0, OSP_SCSI_READ_10, 0, 1, 3);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_LUN_RESET, 1, 0);
	ut_poll_until(&tmf.done);
	CU_ASSERT_EQUAL(tmf.done, 1);
	CU_ASSERT_EQUAL(tmf.task.tmf_resp, OSP_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT_EQUAL(c1.done, 1);
	CU_ASSERT_EQUAL(c1.task.status, OSP_SCSI_STATUS_TASK_ABORTED);
	CU_ASSERT_EQUAL(c2.done, 1);
	CU_ASSERT_EQUAL(c2.task.status, OSP_SCSI_STATUS_TASK_ABORTED);
	CU_ASSERT_EQUAL(c3.task.status, OSP_SCSI_STATUS_GOOD);
	ut_put(&c1, 1);
	ut_put(&c2, 2);
	ut_put(&c3, 2);
	/* Every nexus hears of the reset on LUN 1 only, the one that asked too (SAM-5 6.3.3). */
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 1), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_BUS_DEVICE_RESET_FUNCTION);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 1), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_BUS_DEVICE_RESET_FUNCTION);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 1), OSP_SCSI_STATUS_GOOD);
	/* I_T NEXUS RESET: this nexus's tasks, and its own UA. */
	ut_start(&c1, itn2, 2, 0, OSP_SCSI_READ_10, 0, 1, 4);
	ut_tmf(&tmf, itn2, 2, OSP_SCSI_TMF_I_T_NEXUS_RESET, 0, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(tmf.done, 1);
	CU_ASSERT_EQUAL(c1.task.status, OSP_SCSI_STATUS_TASK_ABORTED);
	ut_put(&c1, 2);
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_I_T_NEXUS_LOSS);
	/* TARGET WARM RESET: every LUN of every nexus gets 29/00. */
	ut_start(&c1, itn2, 2, 0, OSP_SCSI_READ_10, 0, 1, 5);
	ut_tmf(&tmf, g_itn, 1, OSP_SCSI_TMF_TARGET_WARM_RESET, 0, 0);
	ut_poll_until(&tmf.done);
	CU_ASSERT_EQUAL(tmf.done, 1);
	CU_ASSERT_EQUAL(c1.task.status, OSP_SCSI_STATUS_TASK_ABORTED);
	ut_put(&c1, 2);
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_POWER_ON_OR_RESET);
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 1), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_POWER_ON_OR_RESET);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 1), OSP_SCSI_STATUS_CHECK_CONDITION);
	ut_tmf(&tmf, itn2, 2, OSP_SCSI_TMF_TARGET_COLD_RESET, 0, 0);
	ut_poll_until(&tmf.done);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_POWER_ON_OCCURRED);
	CU_ASSERT_EQUAL(osp_scsi_itn_outstanding(g_itn), 0);
	CU_ASSERT_EQUAL(osp_scsi_itn_outstanding(itn2), 0);
	ut_itn_close(itn2, p2, 2);
	ut_teardown();
}

static void
test_mode_select_ua_other_nexus(void)
{
	uint8_t cdb[6] = { OSP_SCSI_MODE_SELECT_6, 0x10, 0, 0, 16, 0 };
	struct osp_scsi_port *p2;
	struct osp_scsi_itn *itn2;
	uint8_t *p;

	ut_setup(3, 1);
	itn2 = ut_itn_open("iqn.ut:host2,i,0x000000000002", 2, &p2);
	ut_clear_ua();
	while (ut_tur(itn2, 2, 0) != OSP_SCSI_STATUS_GOOD) {
	}
	p = g_cmd->buf;
	memset(p, 0, 16);
	p[4] = OSP_SCSI_MODE_PAGE_CONTROL;
	p[5] = 0x0a;
	p[6] = OSP_SCSI_CONTROL_D_SENSE;
	p[7] = OSP_SCSI_CONTROL_QAM_UNRESTRICTED;
	p[12] = 0xff;
	p[13] = 0xff;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 6, OSP_SCSI_DIR_TO_DEV, 16), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_tur(g_itn, 1, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_tur(itn2, 2, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_UNIT_ATTENTION, OSP_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	/* The other nexus's copy changed too: descriptor-format sense. */
	CU_ASSERT_EQUAL(g_cmd->task.sense[0], 0x72);
	CU_ASSERT(itn2->luns[0].mode.control.flags2 & OSP_SCSI_CONTROL_D_SENSE);
	ut_itn_close(itn2, p2, 2);
	ut_teardown();
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("scsi_itn", NULL, NULL);
	CU_ADD_TEST(suite, test_dev_api);
	CU_ADD_TEST(suite, test_itn_threads);
	CU_ADD_TEST(suite, test_lun_add_remove);
	CU_ADD_TEST(suite, test_hot_remove_inflight);
	CU_ADD_TEST(suite, test_resize_ua);
	CU_ADD_TEST(suite, test_tmf_abort_task);
	CU_ADD_TEST(suite, test_tmf_lun_reset);
	CU_ADD_TEST(suite, test_mode_select_ua_other_nexus);
	return ut_run_suites();
}
