/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-scsi eventq: what one event buffer the device used asks the driver
 * to do (virtio 1.x 5.6.6.3). Pure: no I/O, no allocation; the event comes
 * from the other side, so its length, type, LUN and reason are all checked.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bdev_virtio.h"

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static void __attribute__((format(printf, 3, 4)))
set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
}

/*
 * The event's LUN (8 bytes, as in a request: 1, target, then the LUN in
 * bytes 2-3). Byte 0 must be 1; the LUN must be 0, written either with the
 * single-level flat-space bit (0x4000, as requests carry it) or as plain
 * peripheral addressing (0x0000, what QEMU and Osprey's vhost send).
 */
static bool
event_target(const uint8_t *lun, uint32_t ntargets, uint8_t *target, char *why, size_t whylen)
{
	uint16_t l = (uint16_t)(((lun[2] << 8) | lun[3]) & 0x3fff);

	if (lun[0] != 1) {
		set_why(why, whylen, "LUN field byte 0 is %u (must be 1)", lun[0]);
		return false;
	}
	if (lun[1] >= ntargets) {
		set_why(why, whylen, "target %u is beyond the targets scanned (0..%u)", lun[1],
			(unsigned)ntargets - 1);
		return false;
	}
	if (l != 0) {
		set_why(why, whylen, "target %u LUN %u: only LUN 0 is used", lun[1], (unsigned)l);
		return false;
	}
	*target = lun[1];
	return true;
}

enum bdev_virtio_scsi_evt_action
bdev_virtio_scsi_event_parse(const void *buf, uint32_t len, uint32_t ntargets,
			     struct bdev_virtio_scsi_evt *evt, char *why, size_t whylen)
{
	const uint8_t *p = buf;
	uint32_t event, reason;

	memset(evt, 0, sizeof(*evt));
	if (why != NULL && whylen > 0) {
		why[0] = '\0';
	}
	if (len == 0) {
		/* A buffer given back unused (a device that stops returns the ones it held). */
		evt->action = BDEV_VIRTIO_SCSI_EVT_NONE;
		return evt->action;
	}
	if (len < BDEV_VIRTIO_SCSI_EVENT_SIZE) {
		set_why(why, whylen, "the device wrote %u bytes (an event is %d)", len,
			BDEV_VIRTIO_SCSI_EVENT_SIZE);
		evt->action = BDEV_VIRTIO_SCSI_EVT_BAD;
		return evt->action;
	}
	event = get_le32(p);
	reason = get_le32(p + 12);
	evt->event = event;
	evt->reason = reason;
	if (event & BDEV_VIRTIO_SCSI_T_EVENTS_MISSED) {
		/* Whatever else it says, the driver must look at every target again. */
		evt->action = BDEV_VIRTIO_SCSI_EVT_RESCAN_ALL;
		return evt->action;
	}
	if (ntargets > BDEV_VIRTIO_MAX_BDEVS) {
		ntargets = BDEV_VIRTIO_MAX_BDEVS;
	}
	switch (event) {
	case BDEV_VIRTIO_SCSI_T_NO_EVENT:
		evt->action = BDEV_VIRTIO_SCSI_EVT_NONE;
		break;
	case BDEV_VIRTIO_SCSI_T_TRANSPORT_RESET:
		if (!event_target(p + 4, ntargets, &evt->target, why, whylen)) {
			evt->action = BDEV_VIRTIO_SCSI_EVT_BAD;
			break;
		}
		switch (reason) {
		case BDEV_VIRTIO_SCSI_EVT_RESET_HARD:
			/* The target was reset: it keeps its identity and size. */
			evt->action = BDEV_VIRTIO_SCSI_EVT_NONE;
			break;
		case BDEV_VIRTIO_SCSI_EVT_RESET_RESCAN:
			evt->action = BDEV_VIRTIO_SCSI_EVT_RESCAN;
			break;
		case BDEV_VIRTIO_SCSI_EVT_RESET_REMOVED:
			evt->action = BDEV_VIRTIO_SCSI_EVT_REMOVE;
			break;
		default:
			set_why(why, whylen, "transport reset with unknown reason %u (target %u)",
				reason, (unsigned)evt->target);
			evt->action = BDEV_VIRTIO_SCSI_EVT_BAD;
			break;
		}
		break;
	case BDEV_VIRTIO_SCSI_T_PARAM_CHANGE:
		/*
		 * reason: ASC | ASCQ << 8 of the unit attention the target raised
		 * (2Ah/09h CAPACITY DATA HAS CHANGED, ...): whatever it is, reading
		 * the target's capacity again is what the driver can do.
		 */
		if (!event_target(p + 4, ntargets, &evt->target, why, whylen)) {
			evt->action = BDEV_VIRTIO_SCSI_EVT_BAD;
			break;
		}
		evt->action = BDEV_VIRTIO_SCSI_EVT_RESCAN;
		break;
	case BDEV_VIRTIO_SCSI_T_ASYNC_NOTIFY:
		set_why(why, whylen, "asynchronous notification (none subscribed)");
		evt->action = BDEV_VIRTIO_SCSI_EVT_BAD;
		break;
	default:
		set_why(why, whylen, "unknown event type 0x%x", event);
		evt->action = BDEV_VIRTIO_SCSI_EVT_BAD;
		break;
	}
	return evt->action;
}
