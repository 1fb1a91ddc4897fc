/* test.h: minimal assertion helpers for the unit tests (one ctest entry per
 * file). Assertions print both values; a failure exits non-zero at the end. */
#ifndef PW_TEST_H
#define PW_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		test_checks++;                                                                                         \
		if (!(cond)) {                                                                                         \
			test_failures++;                                                                               \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                       \
		}                                                                                                      \
	} while (0)

#define ASSERT_EQ_INT(expected, got)                                                                                   \
	do {                                                                                                           \
		long long e_ = (long long)(expected), g_ = (long long)(got);                                           \
		test_checks++;                                                                                         \
		if (e_ != g_) {                                                                                        \
			test_failures++;                                                                               \
			fprintf(stderr, "%s:%d: expected %s = %lld, got %s = %lld\n", __FILE__, __LINE__, #expected,   \
				e_, #got, g_);                                                                         \
		}                                                                                                      \
	} while (0)

#define ASSERT_EQ_STR(expected, got)                                                                                   \
	do {                                                                                                           \
		const char *e_ = (expected), *g_ = (got);                                                              \
		test_checks++;                                                                                         \
		if (!e_ || !g_ || strcmp(e_, g_) != 0) {                                                               \
			test_failures++;                                                                               \
			fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__,                    \
				e_ ? e_ : "(null)", g_ ? g_ : "(null)");                                               \
		}                                                                                                      \
	} while (0)

static inline int test_finish(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
	return test_failures ? 1 : 0;
}

/* Read a whole file (fixtures); caller frees. Exits on failure. */
static inline char *test_read_file(const char *dir, const char *rel, size_t *ret_len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open fixture %s\n", path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "cannot read fixture %s\n", path);
		exit(2);
	}
	buf[n] = '\0';
	fclose(f);
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

#endif
