/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>

#include "osprey/thread.h"
#include "ut_thread.h"

#define UT_POLL_ROUNDS_MAX	1000000

static struct osp_thread **g_ut_threads;
static int g_ut_thread_count;

int
ut_allocate_threads(int n)
{
	char name[32];
	int rc, i;

	if (n <= 0 || g_ut_threads != NULL) {
		return -1;
	}
	/*
	 * Like osp_thread_lib_init(NULL, 0) but with a smaller message pool: the
	 * default one takes ~50 MB of the 64 MB unit-test env.
	 */
	rc = osp_thread_lib_init_ext(NULL, NULL, 0, UT_MSG_POOL_SIZE);
	if (rc != 0) {
		return rc;
	}
	g_ut_threads = calloc((size_t)n, sizeof(*g_ut_threads));
	if (g_ut_threads == NULL) {
		osp_thread_lib_fini();
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "ut_thread%d", i);
		g_ut_threads[i] = osp_thread_create(name, NULL);
		if (g_ut_threads[i] == NULL) {
			fprintf(stderr, "ut_allocate_threads: cannot create thread %d\n", i);
			g_ut_thread_count = i;
			ut_free_threads();
			return -1;
		}
	}
	g_ut_thread_count = n;
	osp_set_thread(NULL);
	return 0;
}

void
ut_free_threads(void)
{
	uint64_t deadline;
	int i, exited;

	if (g_ut_threads == NULL) {
		return;
	}
	for (i = 0; i < g_ut_thread_count; i++) {
		osp_set_thread(g_ut_threads[i]);
		osp_thread_exit(g_ut_threads[i]);
	}
	osp_set_thread(NULL);
	/*
	 * Exiting threads still run their messages, so keep polling all of them.
	 * A thread that leaks a poller or a channel is forced out by the thread
	 * library after its exit timeout (and logs what it leaked).
	 */
	deadline = osp_get_ticks() + 60 * osp_get_ticks_hz();
	do {
		exited = 0;
		for (i = 0; i < g_ut_thread_count; i++) {
			if (osp_thread_poll(g_ut_threads[i], 0, 0) < 0) {
				exited++;
			}
		}
		if (osp_get_ticks() > deadline) {
			fprintf(stderr, "ut_free_threads: threads do not exit\n");
			abort();
		}
	} while (exited < g_ut_thread_count);

	for (i = 0; i < g_ut_thread_count; i++) {
		osp_thread_destroy(g_ut_threads[i]);
	}
	free(g_ut_threads);
	g_ut_threads = NULL;
	g_ut_thread_count = 0;
	osp_set_thread(NULL);
	osp_thread_lib_fini();
}

void
ut_set_thread(int i)
{
	osp_set_thread(i >= 0 && i < g_ut_thread_count ? g_ut_threads[i] : NULL);
}

int
ut_get_thread_index(void)
{
	struct osp_thread *cur = osp_get_thread();
	int i;

	for (i = 0; i < g_ut_thread_count; i++) {
		if (g_ut_threads[i] == cur) {
			return i;
		}
	}
	return -1;
}

struct osp_thread *
ut_thread(int i)
{
	return i >= 0 && i < g_ut_thread_count ? g_ut_threads[i] : NULL;
}

int
ut_thread_count(void)
{
	return g_ut_thread_count;
}

int
ut_poll_thread(int i)
{
	return ut_poll_thread_at(i, 0);
}

int
ut_poll_thread_at(int i, uint64_t now)
{
	if (i < 0 || i >= g_ut_thread_count) {
		return -1;
	}
	return osp_thread_poll(g_ut_threads[i], 0, now);
}

int
ut_poll_threads_at(uint64_t now)
{
	int rounds, i, busy;

	for (rounds = 0; rounds < UT_POLL_ROUNDS_MAX; rounds++) {
		busy = 0;
		for (i = 0; i < g_ut_thread_count; i++) {
			if (osp_thread_poll(g_ut_threads[i], 0, now) > 0) {
				busy = 1;
			}
		}
		if (!busy) {
			return rounds;
		}
	}
	fprintf(stderr, "ut_poll_threads: still busy after %d rounds\n", UT_POLL_ROUNDS_MAX);
	return rounds;
}

int
ut_poll_threads(void)
{
	return ut_poll_threads_at(0);
}
