/* log.c: stderr logger (text or JSON lines), serialized by a mutex. Every
 * message is escaped (text_escape) before it is written: a log line holds
 * one event, whatever a node or a server put in its error text. */
#include "log.h"
#include "pw_error.h"
#include "text.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level g_min_level = LOG_LEVEL_INFO;
static bool g_json;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_status[512]; /* the terminal status line shown under the log, "" when none */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level min_level, bool json)
{
	g_min_level = min_level;
	g_json = json;
}

/* Append s to out as JSON string content (without the quotes). */
static size_t json_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o;
}

static void log_vemit(enum log_level level, const char *chain, long long block, const char *fmt, va_list ap)
{
	char raw[2048], msg[2048], line[4608], ts[80];
	struct timespec now;
	struct tm tm;

	if (level < g_min_level)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	/* messages carry text from outside (node errors, Postgres, libcurl):
	 * no control character or broken UTF-8 reaches the log as is */
	text_escape(msg, sizeof(msg), raw);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000) % 1000);
	if (g_json) {
		char emsg[4096], echain[256], cchain[128];
		text_escape(cchain, sizeof(cchain), chain ? chain : "");
		json_escape(emsg, sizeof(emsg), msg);
		json_escape(echain, sizeof(echain), cchain);
		int n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\"", ts, level_names[level]);
		if (chain)
			n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"chain\":\"%s\"", echain);
		if (block >= 0)
			n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"block\":%lld", block);
		snprintf(line + n, sizeof(line) - (size_t)n, ",\"msg\":\"%s\"}\n", emsg);
	} else {
		char where[128] = "";
		if (chain && block >= 0)
			snprintf(where, sizeof(where), " chain=%s block=%lld", chain, block);
		else if (chain)
			snprintf(where, sizeof(where), " chain=%s", chain);
		snprintf(line, sizeof(line), "%s %-5s%s %s\n", ts, level_names[level], where, msg);
	}
	pthread_mutex_lock(&g_lock);
	if (g_status[0])
		fputs("\r\033[K", stderr); /* the log line takes the status line's place... */
	fputs(line, stderr);
	if (g_status[0])
		fputs(g_status, stderr); /* ...which is drawn again below it */
	pthread_mutex_unlock(&g_lock);
}

void log_emit(enum log_level level, const char *chain, long long block, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(level, chain, block, fmt, ap);
	va_end(ap);
}

int log_error(int code, const char *fmt, ...)
{
	char msg[1900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_emit(LOG_LEVEL_ERROR, NULL, -1, "%s: %s", msg, pw_strerror(code));
	return code;
}

void log_status(const char *line)
{
	pthread_mutex_lock(&g_lock);
	snprintf(g_status, sizeof(g_status), "%s", line ? line : "");
	fputs("\r\033[K", stderr);
	fputs(g_status, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&g_lock);
}
