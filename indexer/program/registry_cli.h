/* registry_cli.h: `paywatch merchants|addresses|endpoints|secrets`: the
 * merchant registry in Postgres changed from the command line; every
 * running paywatch picks a change up within a second. */
#ifndef PW_REGISTRY_CLI_H
#define PW_REGISTRY_CLI_H

/* registry_cli: cmd is "merchants", "addresses", "endpoints" or
 * "secrets"; argv its arguments (after the command). Exit code: 0, 1
 * (Postgres failed, refused), 2 (usage, config, a bad value). */
int registry_cli(const char *cmd, int argc, char **argv);

/* registry_cli_is_command: whether cmd is one of those. */
int registry_cli_is_command(const char *cmd);

#endif
