/* metrics.h: the process's metrics, rendered in the Prometheus text
 * exposition format (version 0.0.4: "# HELP", "# TYPE", one line per
 * series; histograms as _bucket{le=...}, _sum and _count). Every family
 * is declared once in the catalogue in metrics.c (name, type, help,
 * buckets), so /metrics shows the whole set from the start, and names
 * follow Prometheus's conventions (paywatch_ prefix, base units in the
 * name: _seconds, _bytes, _total for counters).
 *
 * Series are a family plus a label set, written by the caller as the text
 * between the braces (metrics_labels builds it, escaping the values).
 * Thread-safe: one lock; an update is a hash lookup. */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include <stddef.h>

/* The label text of a series: pairs of name, value (NULL-terminated
 * list) as name="value",... with \, " and newlines escaped, into out
 * (outlen bytes; cut short at a pair boundary if it does not fit). */
void metrics_labels(char *out, size_t outlen, ...) __attribute__((sentinel));

/* metrics_add: add v (>= 0) to the counter family name's series labels
 * (created at 0 on first use). An undeclared name, or one of another
 * type, is ignored (a programming error: the catalogue test catches it). */
void metrics_add(const char *name, const char *labels, double v);

/* metrics_set: set the gauge family name's series labels to v. */
void metrics_set(const char *name, const char *labels, double v);

/* metrics_observe: count v into the histogram family name's series labels
 * (its buckets come from the catalogue). */
void metrics_observe(const char *name, const char *labels, double v);

/* metrics_render: every family and series as exposition text, with the
 * process metrics (resident memory, open file descriptors, start time)
 * read now. malloc'd, caller frees; NULL on out of memory. */
char *metrics_render(void);

/* metrics_declared: whether name is a family of the catalogue (for
 * tests). */
int metrics_declared(const char *name);

#endif
