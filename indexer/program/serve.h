/* serve.h: `paywatch serve` (the HTTP API alone) and `paywatch api-key`. */
#ifndef PW_SERVE_H
#define PW_SERVE_H

#include "config.h"

/* serve_main: serve cfg's API until SIGINT/SIGTERM. Exit code: 0, 1 (cannot
 * listen), 2 (the config has no "api"). */
int serve_main(const pw_config *cfg);

/* api_key_cli: `paywatch api-key new [--merchant M]` (argv after
 * "api-key"). Exit code. */
int api_key_cli(int argc, char **argv);

/* serve_print_routes: `paywatch serve --routes`: the API's route table
 * (routes.h) as JSON on stdout. Exit status: 0, or 1 on out of memory. */
int serve_print_routes(void);

#endif
