/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private tunables of lib/thread. Only thread.c and its unit test include
 * this file; nothing here is part of the public contract.
 */
#ifndef OSPREY_THREAD_INTERNAL_H
#define OSPREY_THREAD_INTERNAL_H

/* Slots in each thread's message ring (a power of two; holds one less). */
#define THREAD_MSG_RING_SIZE		65536
/* Messages dequeued from the ring per burst (and per poll when max_msgs is 0). */
#define THREAD_MSG_BURST		32
/* Messages a thread keeps on its own free list before returning them to the pool. */
#define THREAD_MSG_CACHE_SIZE		512
/* Messages taken from the pool at once when the free list is empty. */
#define THREAD_MSG_CACHE_REFILL		32
/* An exiting thread that still holds pollers or channels after this is forced out. */
#define THREAD_EXIT_TIMEOUT_SEC		5

#define OSP_POLLER_NAME_MAX		64
#define OSP_IO_DEVICE_NAME_MAX		64

#endif /* OSPREY_THREAD_INTERNAL_H */
