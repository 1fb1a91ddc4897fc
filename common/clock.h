/* clock.h: the two clocks paywatch reads, in milliseconds. Monotonic for
 * deadlines and durations (never jumps); wall clock (unix ms) for
 * timestamps written out (confirmed_at). */
#ifndef PW_CLOCK_H
#define PW_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* pw_mono_ms: CLOCK_MONOTONIC in milliseconds (arbitrary origin). */
int64_t pw_mono_ms(void);

/* pw_wall_ms: CLOCK_REALTIME in unix milliseconds. */
int64_t pw_wall_ms(void);

/* pw_deadline: the time ms milliseconds (>= 0) from now on clock id, as
 * pthread_cond_timedwait takes it (the clock the condition variable was
 * made with: CLOCK_REALTIME unless its attributes set another). */
struct timespec pw_deadline(clockid_t id, int64_t ms);

/* pw_sleep_unless_stopped: sleep ms milliseconds (monotonic), in steps of
 * at most step_ms (> 0), returning early once *stop is set: a thread's wait
 * between rounds that a shutdown does not hold up by more than a step. */
void pw_sleep_unless_stopped(const atomic_bool *stop, int64_t ms, int64_t step_ms);

#endif
