/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Deterministic multi-thread harness for unit tests: N osp_threads polled by
 * hand from the test's single OS thread, so message passing between them is
 * tested without real threads or sleeps.
 *
 *	ut_env_init();
 *	ut_allocate_threads(2);
 *	ut_set_thread(0);
 *	... call code under test, which sends messages ...
 *	ut_poll_threads();	// run everything until no thread has work
 *	ut_free_threads();
 */
#ifndef OSP_UT_THREAD_H
#define OSP_UT_THREAD_H

#include <stdint.h>

struct osp_thread;

/* Messages in the pool of ut_allocate_threads() (the default pool is ~50 MB). */
#define UT_MSG_POOL_SIZE	16383

/*
 * Initialize the thread library (no scheduler, no thread context, a pool of
 * UT_MSG_POOL_SIZE messages) and create n threads named "ut_thread<i>".
 * Thread 0 is the app thread. Sets no current thread. Returns 0 or a
 * negative errno.
 */
int ut_allocate_threads(int n);
/*
 * Exit every thread, poll until all have exited, destroy them and fini the
 * library. A thread still holding pollers or channels is forced out after
 * the library's exit timeout (5 s of ticks), with errors naming the leftovers.
 */
void ut_free_threads(void);
/* Make thread i the current thread (-1: none). */
void ut_set_thread(int i);
/* Index of the current thread, or -1. */
int ut_get_thread_index(void);
/* The thread with index i, or NULL. */
struct osp_thread *ut_thread(int i);
/* Number of threads allocated. */
int ut_thread_count(void);
/* Poll thread i once with the real clock; returns what osp_thread_poll() returns. */
int ut_poll_thread(int i);
/* Poll thread i once with the given tick count (fake time). */
int ut_poll_thread_at(int i, uint64_t now);
/*
 * Poll all threads round-robin until a whole round does no work. Returns the
 * number of rounds that did work. Gives up (and says so on stderr) after
 * 1,000,000 rounds, e.g. when an active poller always reports busy.
 */
int ut_poll_threads(void);
/*
 * Same with a fake tick count for every poll (timed pollers registered on a
 * thread are due relative to the `now` of its last poll).
 */
int ut_poll_threads_at(uint64_t now);

#endif /* OSP_UT_THREAD_H */
