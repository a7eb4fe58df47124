/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reservations: SPC-2 RESERVE/RELEASE (6/10) and SPC-4 persistent
 * reservations (PERSISTENT RESERVE IN/OUT). The state of a LUN lives on the
 * dev's owner thread (struct scsi_pr); each nexus keeps the few bits it needs
 * to admit commands (struct scsi_res_view), updated by message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scsi_internal.h"

void
scsi_pr_view(const struct osp_scsi_lun *lun, const char *iport, uint16_t tport,
	     struct scsi_res_view *view)
{
	(void)lun;
	(void)iport;
	(void)tport;
	memset(view, 0, sizeof(*view));
}

bool
scsi_pr_check(struct osp_scsi_task *task, struct scsi_itn_lun *il)
{
	(void)task;
	(void)il;
	return false;
}

void
scsi_pr_spc2_reset(struct osp_scsi_lun *lun)
{
	(void)lun;
}

void
scsi_pr_nexus_gone(struct osp_scsi_dev *dev, const char *iport, uint16_t tport)
{
	(void)dev;
	(void)iport;
	(void)tport;
}

void
scsi_pr_reserve(struct osp_scsi_task *task)
{
	scsi_task_invalid_opcode(task);
	scsi_task_complete(task);
}

void
scsi_pr_release(struct osp_scsi_task *task)
{
	scsi_task_invalid_opcode(task);
	scsi_task_complete(task);
}

void
scsi_pr_in(struct osp_scsi_task *task)
{
	scsi_task_invalid_opcode(task);
	scsi_task_complete(task);
}

void
scsi_pr_out(struct osp_scsi_task *task)
{
	scsi_task_invalid_opcode(task);
	scsi_task_complete(task);
}
