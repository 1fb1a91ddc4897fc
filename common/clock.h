/* clock.h: the two clocks paywatch reads, in milliseconds. Monotonic for
 * deadlines and durations (never jumps); wall clock (unix ms) for
 * timestamps written out (confirmed_at). */
#ifndef PW_CLOCK_H
#define PW_CLOCK_H

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

#endif
