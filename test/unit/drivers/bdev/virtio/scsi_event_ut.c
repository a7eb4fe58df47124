/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the virtio-scsi eventq parser (drivers/bdev/virtio/
 * bdev_virtio_scsi_event.c), compiled in: every event the device may write
 * (virtio 1.x 5.6.6.3) gives the action the driver takes, and short, malformed
 * or unknown events are refused with a reason, reading nothing past the
 * 16 bytes of an event (buffers of exactly that size, checked under ASan).
 */
#include <stdlib.h>
#include <string.h>

#include "../../../../../drivers/bdev/virtio/bdev_virtio_scsi_event.c"

#include "ut_run.h"

static void
put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

/* An event in a heap buffer of exactly 16 bytes (ASan sees any read past it). */
static uint8_t *
ev(uint32_t event, uint8_t lun0, uint8_t target, uint8_t lun2, uint8_t lun3, uint32_t reason)
{
	uint8_t *b = calloc(1, BDEV_VIRTIO_SCSI_EVENT_SIZE);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	put_le32(b, event);
	b[4] = lun0;
	b[5] = target;
	b[6] = lun2;
	b[7] = lun3;
	put_le32(b + 12, reason);
	return b;
}

static enum bdev_virtio_scsi_evt_action
parse(uint8_t *b, uint32_t len, uint32_t ntargets, struct bdev_virtio_scsi_evt *e, char *why)
{
	enum bdev_virtio_scsi_evt_action a = bdev_virtio_scsi_event_parse(b, len, ntargets, e, why,
					     128);

	CU_ASSERT_EQUAL(a, e->action);
	free(b);
	return a;
}

static void
test_hotplug_events(void)
{
	struct bdev_virtio_scsi_evt e;
	char why[128];

	/* Added: transport reset / rescan, LUN 0 in either form. */
	CU_ASSERT_EQUAL(parse(ev(1, 1, 3, 0x40, 0, 1), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_RESCAN);
	CU_ASSERT_EQUAL(e.target, 3);
	CU_ASSERT_STRING_EQUAL(why, "");
	CU_ASSERT_EQUAL(parse(ev(1, 1, 7, 0, 0, 1), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_RESCAN);
	CU_ASSERT_EQUAL(e.target, 7);
	/* Removed. */
	CU_ASSERT_EQUAL(parse(ev(1, 1, 0, 0, 0, 2), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_REMOVE);
	CU_ASSERT_EQUAL(e.target, 0);
	/* A hard reset changes nothing the driver keeps. */
	CU_ASSERT_EQUAL(parse(ev(1, 1, 2, 0x40, 0, 0), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_NONE);
	/* Capacity data has changed (ASC 2Ah, ASCQ 09h): read the capacity again. */
	CU_ASSERT_EQUAL(parse(ev(3, 1, 5, 0, 0, 0x2a | 0x09 << 8), 16, 8, &e, why),
			BDEV_VIRTIO_SCSI_EVT_RESCAN);
	CU_ASSERT_EQUAL(e.target, 5);
	CU_ASSERT_EQUAL(e.reason, 0x092a);
	/* Nothing. */
	CU_ASSERT_EQUAL(parse(ev(0, 0, 0, 0, 0, 0), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_NONE);
	/* A device that says it wrote more than an event: only 16 bytes are read. */
	CU_ASSERT_EQUAL(parse(ev(1, 1, 1, 0, 0, 1), 4096, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_RESCAN);
	CU_ASSERT_EQUAL(parse(ev(1, 1, 1, 0, 0, 1), UINT32_MAX, 8, &e, why),
			BDEV_VIRTIO_SCSI_EVT_RESCAN);
}

static void
test_events_missed(void)
{
	struct bdev_virtio_scsi_evt e;
	char why[128];

	CU_ASSERT_EQUAL(parse(ev(0x80000000u, 0, 0, 0, 0, 0), 16, 8, &e, why),
			BDEV_VIRTIO_SCSI_EVT_RESCAN_ALL);
	/* Missed events win over whatever the rest says, even a malformed one. */
	CU_ASSERT_EQUAL(parse(ev(0x80000001u, 9, 200, 0x55, 0x55, 99), 16, 8, &e, why),
			BDEV_VIRTIO_SCSI_EVT_RESCAN_ALL);
	CU_ASSERT_EQUAL(parse(ev(0x80000003u, 1, 1, 0, 0, 0x92a), 16, 8, &e, why),
			BDEV_VIRTIO_SCSI_EVT_RESCAN_ALL);
	/* But not a short one: nothing was written that can be trusted. */
	CU_ASSERT_EQUAL(parse(ev(0x80000000u, 0, 0, 0, 0, 0), 15, 8, &e, why),
			BDEV_VIRTIO_SCSI_EVT_BAD);
}

static void
test_bad_events(void)
{
	struct bdev_virtio_scsi_evt e;
	char why[128];

	/* A buffer given back unused (length 0): nothing to do, nothing read. */
	{
		uint8_t *b = malloc(1);

		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		b[0] = 0xff;
		CU_ASSERT_EQUAL(bdev_virtio_scsi_event_parse(b, 0, 8, &e, why, sizeof(why)),
				BDEV_VIRTIO_SCSI_EVT_NONE);
		free(b);
	}
	/* Short: every length from 1 to 15, from a buffer of exactly that many bytes. */
	for (uint32_t len = 1; len < BDEV_VIRTIO_SCSI_EVENT_SIZE; len++) {
		uint8_t *b = malloc(len);

		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		memset(b, 0xff, len);
		CU_ASSERT_EQUAL(bdev_virtio_scsi_event_parse(b, len, 8, &e, why, sizeof(why)),
				BDEV_VIRTIO_SCSI_EVT_BAD);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, "bytes"));
		free(b);
	}
	/* LUN byte 0 not 1. */
	CU_ASSERT_EQUAL(parse(ev(1, 0, 3, 0, 0, 1), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "byte 0"));
	CU_ASSERT_EQUAL(parse(ev(3, 2, 3, 0, 0, 0x92a), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	/* A target beyond those scanned (and beyond the 64 the driver ever scans). */
	CU_ASSERT_EQUAL(parse(ev(1, 1, 8, 0, 0, 1), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "target 8"));
	CU_ASSERT_EQUAL(parse(ev(1, 1, 64, 0, 0, 2), 16, 256, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_EQUAL(parse(ev(1, 1, 255, 0, 0, 2), 16, 256, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_EQUAL(parse(ev(1, 1, 63, 0, 0, 2), 16, 256, &e, why), BDEV_VIRTIO_SCSI_EVT_REMOVE);
	CU_ASSERT_EQUAL(parse(ev(1, 1, 0, 0, 0, 1), 16, 0, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	/* A LUN other than 0. */
	CU_ASSERT_EQUAL(parse(ev(1, 1, 1, 0x40, 5, 2), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "LUN 5"));
	CU_ASSERT_EQUAL(parse(ev(3, 1, 1, 0x01, 0, 0x92a), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	/* Unknown reset reason, unknown types, an asynchronous notification nobody asked for. */
	CU_ASSERT_EQUAL(parse(ev(1, 1, 1, 0, 0, 3), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "reason 3"));
	CU_ASSERT_EQUAL(parse(ev(1, 1, 1, 0, 0, UINT32_MAX), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_EQUAL(parse(ev(2, 1, 1, 0, 0, 0), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "asynchronous"));
	CU_ASSERT_EQUAL(parse(ev(4, 1, 1, 0, 0, 1), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "unknown event type 0x4"));
	CU_ASSERT_EQUAL(parse(ev(0x7fffffffu, 1, 1, 0, 0, 1), 16, 8, &e, why), BDEV_VIRTIO_SCSI_EVT_BAD);
	/* why may be left out. */
	{
		uint8_t *b = ev(9, 1, 1, 0, 0, 1);

		CU_ASSERT_EQUAL(bdev_virtio_scsi_event_parse(b, 16, 8, &e, NULL, 0),
				BDEV_VIRTIO_SCSI_EVT_BAD);
		free(b);
	}
}

/* Random bytes and lengths: an action from the list, a target in range when one is named. */
static void
test_random(void)
{
	struct bdev_virtio_scsi_evt e;
	char why[128];
	unsigned int seed = 12345;
	int counts[5] = {};

	for (int i = 0; i < 200000; i++) {
		uint32_t len = 1 + (uint32_t)rand_r(&seed) % 40;
		uint32_t ntargets = (uint32_t)rand_r(&seed) % 70;
		uint8_t *b = malloc(BDEV_VIRTIO_SCSI_EVENT_SIZE);
		enum bdev_virtio_scsi_evt_action a;

		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		for (int j = 0; j < BDEV_VIRTIO_SCSI_EVENT_SIZE; j++) {
			b[j] = (uint8_t)rand_r(&seed);
		}
		/* Bias towards plausible events so that every branch is reached. */
		if (i % 2 == 0) {
			b[0] = (uint8_t)(rand_r(&seed) % 5);
			b[1] = b[2] = 0;
			b[3] = (rand_r(&seed) % 4 == 0) ? 0x80 : 0;
			b[4] = (rand_r(&seed) % 8) ? 1 : b[4];
			b[5] = (uint8_t)(rand_r(&seed) % 80);
			b[6] = (rand_r(&seed) % 4) ? 0 : b[6];
			b[7] = (rand_r(&seed) % 4) ? 0 : b[7];
			b[13] = b[14] = b[15] = 0;
			b[12] = (uint8_t)(rand_r(&seed) % 4);
		}
		a = bdev_virtio_scsi_event_parse(b, len < 16 ? len : 16 + len, ntargets, &e, why,
						 sizeof(why));
		free(b);
		CU_ASSERT_FATAL(a >= BDEV_VIRTIO_SCSI_EVT_NONE && a <= BDEV_VIRTIO_SCSI_EVT_BAD);
		counts[a]++;
		if (a == BDEV_VIRTIO_SCSI_EVT_RESCAN || a == BDEV_VIRTIO_SCSI_EVT_REMOVE) {
			CU_ASSERT_FATAL(e.target < ntargets && e.target < BDEV_VIRTIO_MAX_BDEVS);
		}
		if (a == BDEV_VIRTIO_SCSI_EVT_BAD) {
			CU_ASSERT_FATAL(why[0] != '\0');
		}
	}
	for (int k = 0; k < 5; k++) {
		CU_ASSERT(counts[k] > 100);
	}
}

UT_RUN_SUITE("bdev_virtio_scsi_event",
	     CU_ADD_TEST(suite, test_hotplug_events);
	     CU_ADD_TEST(suite, test_events_missed);
	     CU_ADD_TEST(suite, test_bad_events);
	     CU_ADD_TEST(suite, test_random);
	    )
