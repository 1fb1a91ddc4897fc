/* migrate.h: `paywatch migrate`. */
#ifndef PW_MIGRATE_H
#define PW_MIGRATE_H

#include "config.h"

/* migrate_run: connect to cfg's Postgres and apply the missing migrations
 * (schema_migrations, postgres.h). Logs what it did. 0, or PW_EDB (logged). */
int migrate_run(const pw_config *cfg);

#endif
