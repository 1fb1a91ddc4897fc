/* clock.c: millisecond clocks. */
#include "clock.h"

#include <time.h>

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pw_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t pw_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

struct timespec pw_deadline(clockid_t id, int64_t ms)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

void pw_sleep_unless_stopped(const atomic_bool *stop, int64_t ms, int64_t step_ms)
{
	int64_t end = pw_mono_ms() + ms;
	for (int64_t now = pw_mono_ms(); now < end && !atomic_load(stop); now = pw_mono_ms()) {
		int64_t step = end - now < step_ms ? end - now : step_ms;
		struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}
