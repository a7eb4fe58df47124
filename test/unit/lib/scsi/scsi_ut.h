/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fixture of the lib/scsi unit tests: the library's sources compiled in, the
 * real bdev layer with malloc (and error) bdevs on hand-driven test threads,
 * a dev "iqn.ut:tgt" with target port 1 and LUN 0 over "M0", and one nexus
 * opened on a chosen thread. ut_cmd() runs one command to completion.
 */
#ifndef SCSI_UT_H
#define SCSI_UT_H

#include "ut_bdev.h"

#include "../../../../drivers/bdev/error/bdev_error.h"
#include "../../../../drivers/bdev/malloc/bdev_malloc.h"

#include "scsi/cdb.c"
#include "scsi/dev.c"
#include "scsi/itn.c"
#include "scsi/pr.c"
#include "scsi/sbc.c"
#include "scsi/spc.c"
#include "bdev/bdev_internal.h"

#define BS	512
#define NBLK	1024

struct ut_cmd {
	struct osp_scsi_task task;
	int done;
	uint8_t buf[1 << 20];
};

static struct osp_scsi_dev *g_dev;
static struct osp_scsi_port *g_iport;
static struct osp_scsi_itn *g_itn;
static struct osp_bdev *g_m0;
static int g_itn_thread;
static struct ut_cmd *g_cmd;

static void
ut_open_cb(void *arg, struct osp_scsi_itn *itn, int rc)
{
	struct osp_scsi_itn **out = arg;

	CU_ASSERT_EQUAL(rc, 0);
	*out = itn;
}

/* Open a nexus of initiator port name on thread t (polls). */
static struct osp_scsi_itn *
ut_itn_open(const char *name, int t, struct osp_scsi_port **portp)
{
	struct osp_scsi_itn *itn = NULL;
	struct osp_scsi_port *port = osp_scsi_port_create(name, 0);
	int saved = ut_get_thread_index();

	CU_ASSERT_PTR_NOT_NULL_FATAL(port);
	ut_set_thread(t);
	CU_ASSERT_EQUAL_FATAL(osp_scsi_itn_open(g_dev, port, 1, ut_open_cb, &itn), 0);
	ut_poll_threads();
	CU_ASSERT_PTR_NOT_NULL_FATAL(itn);
	*portp = port;
	ut_set_thread(saved);
	return itn;
}

static void
ut_itn_close(struct osp_scsi_itn *itn, struct osp_scsi_port *port, int thread)
{
	int saved = ut_get_thread_index();

	ut_set_thread(thread);
	osp_scsi_itn_close(itn);
	ut_poll_threads();
	osp_scsi_port_free(port);
	ut_set_thread(saved);
}

static void
ut_task_done(struct osp_scsi_task *task)
{
	struct ut_cmd *c = task->cb_arg;

	c->done++;
	/* Completion runs on the nexus's thread. */
	CU_ASSERT_PTR_EQUAL(osp_get_thread(), task->itn->thread);
}

/* Prepare g_cmd (not run): cdb, direction, expected length; data in c->buf. */
static struct osp_scsi_task *
ut_prep(struct ut_cmd *c, uint64_t lun, const uint8_t *cdb, int cdb_len, enum osp_scsi_dir dir,
	uint32_t xfer, bool own_buf)
{
	struct osp_scsi_task *t = &c->task;

	osp_scsi_task_init(t, ut_task_done, c);
	c->done = 0;
	t->lun_id = lun;
	memcpy(t->cdb, cdb, (size_t)cdb_len);
	/* iSCSI carries 16 bytes of CDB whatever the command. */
	t->cdb_len = cdb_len > 16 ? (uint8_t)cdb_len : 16;
	t->dir = dir;
	t->transfer_len = xfer;
	if (dir == OSP_SCSI_DIR_TO_DEV || own_buf) {
		t->iov_inline[0].iov_base = c->buf;
		t->iov_inline[0].iov_len = xfer;
		t->iovcnt = xfer ? 1 : 0;
	}
	return t;
}

/* Run a prepared command on itn's thread and poll until it completed. */
static void
ut_run_on(struct osp_scsi_itn *itn, int thread, struct ut_cmd *c)
{
	int saved = ut_get_thread_index();

	ut_set_thread(thread);
	osp_scsi_itn_execute(itn, &c->task);
	ut_poll_threads();
	ut_set_thread(saved);
	if (c->done != 1) {
		fprintf(stderr, "command %02x on LUN %lu: %d completions\n", c->task.cdb[0],
			(unsigned long)c->task.lun_id, c->done);
	}
	CU_ASSERT_EQUAL(c->done, 1);
}

/*
 * Run cdb on LUN 0 of the default nexus. Data-in goes to the SCSI layer's own
 * buffers (zero copy) and is copied to c->buf; data-out is taken from c->buf.
 * Returns the SAM status; the task is put afterwards.
 */
static int
ut_cmd_lun(uint64_t lun, const uint8_t *cdb, int cdb_len, enum osp_scsi_dir dir, uint32_t xfer)
{
	struct osp_scsi_task *t;
	int saved = ut_get_thread_index();

	t = ut_prep(g_cmd, lun, cdb, cdb_len, dir, xfer, false);
	if (dir == OSP_SCSI_DIR_FROM_DEV) {
		memset(g_cmd->buf, 0xee, xfer < sizeof(g_cmd->buf) ? xfer : sizeof(g_cmd->buf));
	}
	ut_run_on(g_itn, g_itn_thread, g_cmd);
	if (dir == OSP_SCSI_DIR_FROM_DEV && t->iovcnt > 0) {
		CU_ASSERT(osp_iov_len(t->iovs, t->iovcnt) == t->data_transferred);
		osp_iov_copy_to_buf(g_cmd->buf, t->data_transferred, t->iovs, t->iovcnt, 0);
	}
	ut_set_thread(g_itn_thread);
	osp_scsi_task_put(t);
	ut_set_thread(saved);
	return t->status;
}

static int __attribute__((unused))
ut_cmd(const uint8_t *cdb, int cdb_len, enum osp_scsi_dir dir, uint32_t xfer)
{
	return ut_cmd_lun(0, cdb, cdb_len, dir, xfer);
}

/* Sense key / ASC+ASCQ of the last command (fixed or descriptor format). */
static int __attribute__((unused))
ut_sk(void)
{
	const uint8_t *s = g_cmd->task.sense;

	return (s[0] & 0x7f) == 0x72 ? s[1] & 0xf : s[2] & 0xf;
}

static int __attribute__((unused))
ut_asc(void)
{
	const uint8_t *s = g_cmd->task.sense;

	return (s[0] & 0x7f) == 0x72 ? (s[2] << 8 | s[3]) : (s[12] << 8 | s[13]);
}

/* Sense-key specific field pointer of the last command: byte << 8 | bit (bit 8: none). */
static int __attribute__((unused))
ut_field(void)
{
	const uint8_t *s = g_cmd->task.sense;
	const uint8_t *sks = &s[15];

	if ((s[0] & 0x7f) == 0x72) {
		sks = &s[8 + 4];
	}
	if (!(sks[0] & 0x80)) {
		return -1;
	}
	return (sks[1] << 8 | sks[2]) << 8 | ((sks[0] & 0x08) ? (sks[0] & 7) : 8);
}

#define CHECK_SENSE(sk, asc) do { \
	CU_ASSERT_EQUAL(g_cmd->task.status, OSP_SCSI_STATUS_CHECK_CONDITION); \
	CU_ASSERT_EQUAL(ut_sk(), (sk)); \
	CU_ASSERT_EQUAL(ut_asc(), (asc)); \
} while (0)

/* Build CDBs. */
static int __attribute__((unused))
ut_cdb_rw(uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	switch (op >> 5) {
	case 0:
		osp_scsi_put24(&cdb[1], (uint32_t)lba & 0x1fffff);
		cdb[4] = (uint8_t)n;
		return 6;
	case 1:
	case 2:
		osp_scsi_put32(&cdb[2], (uint32_t)lba);
		osp_scsi_put16(&cdb[7], (uint16_t)n);
		return 10;
	case 5:
		osp_scsi_put32(&cdb[2], (uint32_t)lba);
		osp_scsi_put32(&cdb[6], n);
		return 12;
	default:
		osp_scsi_put64(&cdb[2], lba);
		osp_scsi_put32(&cdb[10], n);
		return 16;
	}
}

static void
ut_dev_destroyed(void *arg)
{
	*(int *)arg = 1;
}

/* Start nthreads, a malloc bdev M0 of NBLK x BS, the dev, and a nexus on thread itn_thread. */
static void
ut_setup(int nthreads, int itn_thread)
{
	struct bdev_malloc_opts o = { .name = "M0", .num_blocks = NBLK, .block_size = BS };

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(nthreads), 0);
	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, &g_m0), 0);
	CU_ASSERT_EQUAL_FATAL(osp_scsi_dev_create("iqn.2016-06.io.osprey:ut", &g_dev), 0);
	CU_ASSERT_EQUAL_FATAL(osp_scsi_dev_add_port(g_dev, 1, "iqn.2016-06.io.osprey:ut,t,0x0001"), 0);
	CU_ASSERT_EQUAL_FATAL(osp_scsi_dev_add_lun(g_dev, "M0", 0, NULL), 0);
	g_cmd = calloc(1, sizeof(*g_cmd));
	CU_ASSERT_PTR_NOT_NULL_FATAL(g_cmd);
	g_itn_thread = itn_thread;
	g_itn = ut_itn_open("iqn.ut:host,i,0x000000000001", itn_thread, &g_iport);
}

/* Clear the POWER ON unit attention of the nexus's LUN 0. */
static void __attribute__((unused))
ut_clear_ua(void)
{
	uint8_t cdb[6] = { OSP_SCSI_TEST_UNIT_READY };

	while (ut_cmd(cdb, 6, OSP_SCSI_DIR_NONE, 0) == OSP_SCSI_STATUS_CHECK_CONDITION &&
	       ut_sk() == OSP_SCSI_SK_UNIT_ATTENTION) {
	}
}

static void
ut_teardown(void)
{
	int destroyed = 0;

	if (g_itn != NULL) {
		ut_itn_close(g_itn, g_iport, g_itn_thread);
		g_itn = NULL;
	}
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_scsi_dev_destroy(g_dev, ut_dev_destroyed, &destroyed), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(destroyed, 1);
	g_dev = NULL;
	free(g_cmd);
	g_cmd = NULL;
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

#endif /* SCSI_UT_H */
