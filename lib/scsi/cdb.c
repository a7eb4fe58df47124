/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Facts about a CDB a transport needs before the command reaches a LUN. A
 * file of its own with no dependencies: transports (and their unit tests,
 * which stand in for the rest of the SCSI layer) link it alone.
 */
#include "osprey/scsi.h"
#include "osprey/scsi_spec.h"

enum osp_scsi_dir
osp_scsi_cdb_data_dir(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case OSP_SCSI_READ_6:
	case OSP_SCSI_READ_10:
	case OSP_SCSI_READ_12:
	case OSP_SCSI_READ_16:
	case OSP_SCSI_INQUIRY:
	case OSP_SCSI_REQUEST_SENSE:
	case OSP_SCSI_MODE_SENSE_6:
	case OSP_SCSI_MODE_SENSE_10:
	case OSP_SCSI_READ_CAPACITY_10:
	case OSP_SCSI_REPORT_LUNS:
	case OSP_SCSI_PERSISTENT_RESERVE_IN:
	case OSP_SCSI_SERVICE_ACTION_IN_16:
	case OSP_SCSI_MAINTENANCE_IN:
	case OSP_SCSI_READ_DEFECT_DATA_10:
	case OSP_SCSI_READ_DEFECT_DATA_12:
	case OSP_SCSI_RECEIVE_COPY_RESULTS:
		return OSP_SCSI_DIR_FROM_DEV;
	case OSP_SCSI_WRITE_6:
	case OSP_SCSI_WRITE_10:
	case OSP_SCSI_WRITE_12:
	case OSP_SCSI_WRITE_16:
	case OSP_SCSI_WRITE_AND_VERIFY_10:
	case OSP_SCSI_WRITE_AND_VERIFY_12:
	case OSP_SCSI_WRITE_AND_VERIFY_16:
	case OSP_SCSI_ORWRITE_16:
	case OSP_SCSI_COMPARE_AND_WRITE:
	case OSP_SCSI_UNMAP:
	case OSP_SCSI_MODE_SELECT_6:
	case OSP_SCSI_MODE_SELECT_10:
	case OSP_SCSI_PERSISTENT_RESERVE_OUT:
	case OSP_SCSI_WRITE_ATOMIC_16:
	case OSP_SCSI_EXTENDED_COPY:
		return OSP_SCSI_DIR_TO_DEV;
	default:
		return OSP_SCSI_DIR_NONE;
	}
}
