/* log.h: one line per event on stderr, as text or as JSON objects.
 * Library code returns errors; the program's top decides what to log.
 * Thread safety: log lines are written with one fputs under a mutex. */
#ifndef PW_LOG_H
#define PW_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* log_setup: choose the minimum level and the format (json=false: text). */
void log_setup(enum log_level min_level, bool json);

/* log_emit: write one event. chain may be NULL; block < 0 means none.
 * The message is formatted with printf rules and truncated at 2 KiB.
 * Callers never pass secrets: DSNs and webhook secrets go through
 * config masking before they reach a log line. */
void log_emit(enum log_level level, const char *chain, long long block, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* log_error: log at error level with the text of code appended, and return
 * code, so that "return log_error(r, ...)" logs and returns in one line. */
int log_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* log_status: show line (no newline) as the terminal's status line, below
 * the log: log lines written meanwhile clear it and draw it again after
 * themselves. NULL or "" clears it. Only for a terminal (a progress bar);
 * the line is copied (at most 511 bytes). */
void log_status(const char *line);

#define log_info(...) log_emit(LOG_LEVEL_INFO, NULL, -1, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LEVEL_WARN, NULL, -1, __VA_ARGS__)
#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, NULL, -1, __VA_ARGS__)

#endif
