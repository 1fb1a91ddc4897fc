/* main.c: the paywatch executable; everything is in the library. */
#include "cli.h"

#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* Run's threads (ingest, two Postgres writers, the dispatcher, the API)
 * would each get a glibc malloc arena of their own, and the memory freed
 * in one is not reused by another: two arenas hold a backfill's peak RSS
 * about 4.6 MB lower at the same speed (issue 16; bench/run). An operator's
 * MALLOC_ARENA_MAX wins. */
static void malloc_setup(void)
{
#ifdef __GLIBC__
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 2);
#endif
}

int main(int argc, char **argv)
{
	malloc_setup();
	return cli_main(argc, argv);
}
