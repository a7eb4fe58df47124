/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Osprey threads: lightweight, cooperative threads of execution that own
 * pollers and I/O channels and talk to each other only through messages.
 *
 * The library knows nothing about reactors or OS threads. Whoever runs the
 * threads (the event library's reactors, or a unit test) is told about a new
 * thread through the callback given to osp_thread_lib_init_ext() and then
 * calls osp_thread_poll() on it repeatedly from one OS thread at a time.
 *
 * Unless stated otherwise a function acts on, and must be called from, the
 * current thread (osp_get_thread()).
 */
#ifndef OSPREY_THREAD_H
#define OSPREY_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osprey/env.h"

#ifdef __cplusplus
extern "C" {
#endif

struct osp_thread;
struct osp_poller;
struct osp_io_channel;
struct osp_io_channel_iter;

/* Return values of a poller. */
#define OSP_POLLER_IDLE	0	/* did nothing: the thread may sleep */
#define OSP_POLLER_BUSY	1	/* did work */

#define OSP_THREAD_NAME_MAX	64
#define OSP_DEFAULT_MSG_MEMPOOL_SIZE	(262144 - 1)

typedef void (*osp_msg_fn)(void *ctx);
typedef int (*osp_poller_fn)(void *ctx);

enum osp_thread_op {
	/* A new thread was created: place it somewhere and start polling it. */
	OSP_THREAD_OP_NEW,
	/* The thread's cpumask changed: move it to a core of the new mask. */
	OSP_THREAD_OP_RESCHED,
};

typedef int (*osp_thread_op_fn)(struct osp_thread *thread, enum osp_thread_op op);
typedef bool (*osp_thread_op_supported_fn)(enum osp_thread_op op);

/*
 * Initialize the library. new_thread_fn may be NULL (the caller then polls
 * the threads it creates itself, as unit tests do). ctx_sz bytes of
 * scheduler context are reserved in every thread (osp_thread_get_ctx(),
 * cache-line aligned, zeroed). In the _ext form thread_op_fn and
 * thread_op_supported_fn are both given or both NULL; msg_mempool_size 0
 * means OSP_DEFAULT_MSG_MEMPOOL_SIZE. Returns -EALREADY if already done.
 */
int osp_thread_lib_init(int (*new_thread_fn)(struct osp_thread *thread), size_t ctx_sz);
int osp_thread_lib_init_ext(osp_thread_op_fn thread_op_fn,
			    osp_thread_op_supported_fn thread_op_supported_fn,
			    size_t ctx_sz, size_t msg_mempool_size);
/* All threads must have been destroyed. */
void osp_thread_lib_fini(void);

/*
 * Create a thread. name may be NULL (a name is made up). cpumask NULL means
 * any core. The first thread created is the app thread. Returns NULL on error.
 * May be called from any OS thread.
 */
struct osp_thread *osp_thread_create(const char *name, const struct osp_cpuset *cpumask);

/* Make thread the current thread of the calling OS thread (NULL: none). */
void osp_set_thread(struct osp_thread *thread);

/*
 * Ask thread to exit. It keeps being polled until its pollers are
 * unregistered, its I/O channels released, its queued messages run and the
 * osp_for_each_*() / io_device unregistrations it started completed; then
 * osp_thread_is_exited() is true and its owner calls osp_thread_destroy().
 * After 5 s of ticks (counted from its last poll) it is forced to exited and
 * what it still held is logged as errors. Must be called on thread
 * (-EINVAL otherwise); 0 if it already exits.
 */
int osp_thread_exit(struct osp_thread *thread);
bool osp_thread_is_running(struct osp_thread *thread);
bool osp_thread_is_exited(struct osp_thread *thread);
/* Free an exited thread. Called by the owner, not on thread itself. */
void osp_thread_destroy(struct osp_thread *thread);

void *osp_thread_get_ctx(struct osp_thread *thread);
struct osp_thread *osp_thread_get_from_ctx(void *ctx);
const struct osp_cpuset *osp_thread_get_cpumask(struct osp_thread *thread);
/* Change the current thread's cpumask; triggers OSP_THREAD_OP_RESCHED. */
int osp_thread_set_cpumask(struct osp_cpuset *cpumask);

/*
 * Run one iteration of thread: up to max_msgs messages (0 = a default batch),
 * expired timed pollers and all active pollers. now is the tick count
 * (0 = read it). Returns 1 if anything did work, 0 if idle, -1 if the thread
 * has exited. Must be called from the OS thread that owns thread right now.
 */
int osp_thread_poll(struct osp_thread *thread, uint32_t max_msgs, uint64_t now);

/*
 * Tick of the earliest timed poller, or 0 if there is none. For an exiting
 * thread, no later than its forced-exit deadline, so a sleeping owner wakes
 * up in time to retire it.
 */
uint64_t osp_thread_next_poller_expiration(struct osp_thread *thread);
/* Number of registered, unpaused active (period 0) pollers. */
int osp_thread_has_active_pollers(struct osp_thread *thread);
bool osp_thread_has_pollers(struct osp_thread *thread);
/* No messages queued and no active pollers. */
bool osp_thread_is_idle(struct osp_thread *thread);

/*
 * Sleep support, used by whoever polls threads. The owner calls
 * osp_thread_prepare_sleep() before blocking on osp_thread_get_interrupt_fd();
 * it returns false if work arrived meanwhile (then do not sleep). Senders of
 * messages to a sleeping thread write its wake-up eventfd. After waking, the
 * owner calls osp_thread_end_sleep().
 *
 * prepare_sleep only looks at queued messages: deciding that the pollers are
 * idle (their return codes) is the owner's business, and a poller that waits
 * for an fd must register it with osp_thread_add_wake_fd(). A thread that
 * cannot sleep (no interrupt fd) always returns false. When the owner sleeps
 * on several threads, it calls end_sleep on every thread whose prepare_sleep
 * returned true, whether it then slept or not; end_sleep is idempotent and
 * makes one non-blocking read(). A late wake-up can leave the eventfd
 * readable for one spurious wake-up, never a lost one.
 */
bool osp_thread_prepare_sleep(struct osp_thread *thread);
void osp_thread_end_sleep(struct osp_thread *thread);
/*
 * An epoll file descriptor that becomes readable when the thread has work:
 * a message was sent to it while it slept, or one of its wake fds
 * (osp_thread_add_wake_fd()) is ready. -1 if unavailable.
 */
int osp_thread_get_interrupt_fd(struct osp_thread *thread);
/*
 * Make the current thread wake up when fd has one of events (EPOLLIN, ...)
 * ready. Level triggered: whoever polls the fd must drain it. Return 0 or
 * -errno of epoll_ctl (-EEXIST, -ENOENT, ...); -EINVAL without a current
 * thread.
 */
int osp_thread_add_wake_fd(int fd, uint32_t events);
int osp_thread_mod_wake_fd(int fd, uint32_t events);
void osp_thread_remove_wake_fd(int fd);

uint32_t osp_thread_get_count(void);
/* Current thread, or NULL. */
struct osp_thread *osp_get_thread(void);
/* The first thread created (the app thread). */
struct osp_thread *osp_thread_get_app_thread(void);
bool osp_thread_is_app_thread(struct osp_thread *thread);
const char *osp_thread_get_name(const struct osp_thread *thread);
uint64_t osp_thread_get_id(const struct osp_thread *thread);
struct osp_thread *osp_thread_get_by_id(uint64_t id);
/* Iterate over all threads (control path; takes a global lock). */
struct osp_thread *osp_thread_get_first(void);
struct osp_thread *osp_thread_get_next(struct osp_thread *prev);

struct osp_thread_stats {
	uint64_t busy_tsc;
	uint64_t idle_tsc;
};
/* Stats of the current thread. */
int osp_thread_get_stats(struct osp_thread_stats *stats);
/* Stats of any thread (read racily). */
void osp_thread_get_stats_of(struct osp_thread *thread, struct osp_thread_stats *stats);
/* Tick at the start of the current poll iteration of the current thread. */
uint64_t osp_thread_get_last_tsc(struct osp_thread *thread);

/*
 * Send fn(ctx) to run on thread. May be called from any OS thread (not from
 * a signal handler). Messages from one sender run in the order sent.
 * Never blocks, takes no lock, allocates nothing (messages come from a
 * per-thread free list over a global pool).
 *
 * Sending to a live thread cannot fail: the message pool is sized at start-up
 * (osp_thread_lib_init_ext()'s msg_mempool_size) and every thread's ring
 * holds 65536 pending messages. A send that finds the pool empty or the ring
 * full means that sizing is broken; it aborts the process with both thread
 * names instead of dropping a continuation nobody could retry. Callers
 * therefore need not check for -ENOMEM.
 *
 * Returns 0, or -EIO if thread has already exited. Sending to an exited
 * thread is the caller's bug (threads are torn down after their users); it is
 * logged as an error with both thread names.
 */
int osp_thread_send_msg(const struct osp_thread *thread, osp_msg_fn fn, void *ctx);
/*
 * Send fn(NULL) to thread without allocating: safe from a signal handler.
 * Only one critical message can be pending per thread (-EIO otherwise).
 */
int osp_thread_send_critical_msg(struct osp_thread *thread, osp_msg_fn fn);

/*
 * Run fn(ctx) on every thread in turn (creation order, one after the other,
 * skipping exited threads), then cpl(ctx) on the calling thread. Must be
 * called on an osp_thread; cannot fail (cpl is a continuation: a call outside
 * a thread or out of memory for the iterator aborts instead of losing it).
 */
void osp_for_each_thread(osp_msg_fn fn, void *ctx, osp_msg_fn cpl);

/* ---- pollers ---- */

/*
 * Register fn(arg) on the current thread, called every period_microseconds
 * (0 = on every iteration of the thread). Returns NULL on failure.
 */
struct osp_poller *osp_poller_register(osp_poller_fn fn, void *arg, uint64_t period_microseconds);
struct osp_poller *osp_poller_register_named(osp_poller_fn fn, void *arg,
		uint64_t period_microseconds, const char *name);
/* Register a poller named after its function (as shown by thread_get_pollers). */
#define OSP_POLLER_REGISTER(fn, arg, period_microseconds) \
	osp_poller_register_named(fn, arg, period_microseconds, #fn)
/*
 * Unregister and set *ppoller to NULL. Safe from inside the poller itself
 * and from any other poller or message of the same thread; it must be called
 * on the poller's thread. Pause/resume too; pausing twice is harmless, and a
 * resumed timed poller is next due one period after the resume.
 */
void osp_poller_unregister(struct osp_poller **ppoller);
void osp_poller_pause(struct osp_poller *poller);
void osp_poller_resume(struct osp_poller *poller);

struct osp_poller_info {
	const char *name;
	uint64_t id;
	uint64_t period_ticks;
	uint64_t run_count;	/* calls */
	uint64_t busy_count;	/* calls that returned BUSY */
	bool paused;
	bool timed;
};
/*
 * Call cb for every poller of thread (must run on thread). Used by
 * thread_get_pollers.
 */
void osp_thread_foreach_poller(struct osp_thread *thread,
			       void (*cb)(const struct osp_poller_info *info, void *arg), void *arg);

/* ---- I/O devices and channels ---- */

typedef int (*osp_io_channel_create_cb)(void *io_device, void *ctx_buf);
typedef void (*osp_io_channel_destroy_cb)(void *io_device, void *ctx_buf);
typedef void (*osp_io_device_unregister_cb)(void *io_device);

/*
 * Register io_device (any unique pointer). Each thread that asks for a
 * channel to it gets one of ctx_size bytes, built by create_cb on that
 * thread and torn down by destroy_cb on that thread.
 */
void osp_io_device_register(void *io_device, osp_io_channel_create_cb create_cb,
			    osp_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			    const char *name);
/*
 * Unregister io_device. unregister_cb runs on the calling thread once every
 * channel to it has been released and every osp_for_each_channel() on it has
 * completed; always from a message, never inside this call. From this call
 * on, osp_get_io_channel() on it returns NULL.
 */
void osp_io_device_unregister(void *io_device, osp_io_device_unregister_cb unregister_cb);
const char *osp_io_device_get_name(void *io_device);

/*
 * Get the current thread's channel to io_device, creating it on first use;
 * references are counted. Returns NULL if io_device is not registered or
 * create_cb failed.
 */
struct osp_io_channel *osp_get_io_channel(void *io_device);
/*
 * Drop a reference; at zero the channel is destroyed by a message to its
 * thread, so the caller may still use it until it returns, and a get before
 * that message runs revives it. Must be called on the channel's thread.
 */
void osp_put_io_channel(struct osp_io_channel *ch);
void *osp_io_channel_get_ctx(struct osp_io_channel *ch);
struct osp_io_channel *osp_io_channel_from_ctx(void *ctx);
struct osp_thread *osp_io_channel_get_thread(struct osp_io_channel *ch);
void *osp_io_channel_get_io_device(struct osp_io_channel *ch);
uint32_t osp_io_channel_get_ref_count(struct osp_io_channel *ch);

typedef void (*osp_channel_msg)(struct osp_io_channel_iter *i);
typedef void (*osp_channel_for_each_cpl)(struct osp_io_channel_iter *i, int status);

/*
 * Call fn on every thread that has a channel to io_device, one at a time,
 * each on the channel's thread; each fn must end with
 * osp_for_each_channel_continue() (then or later, on that thread). cpl then
 * runs on the calling thread with the first non-zero status (which also
 * stops the iteration early). Channels released before the iteration reaches
 * their thread are skipped. cpl always runs from a message; an io_device that
 * is not registered gives cpl status -ENODEV. Must be called on an
 * osp_thread; cannot fail otherwise (as osp_for_each_thread()).
 */
void osp_for_each_channel(void *io_device, osp_channel_msg fn, void *ctx,
			  osp_channel_for_each_cpl cpl);
void osp_for_each_channel_continue(struct osp_io_channel_iter *i, int status);
void *osp_io_channel_iter_get_io_device(struct osp_io_channel_iter *i);
struct osp_io_channel *osp_io_channel_iter_get_channel(struct osp_io_channel_iter *i);
void *osp_io_channel_iter_get_ctx(struct osp_io_channel_iter *i);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_THREAD_H */
