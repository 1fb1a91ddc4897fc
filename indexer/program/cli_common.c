/* cli_common.c: shared by the command-line parsers (cli_common.h). */
#include "cli_common.h"
#include "pg_conn.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

int cli_usage(const char *fmt, const char *arg, const char *help)
{
	fprintf(stderr, "paywatch: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n%s", help);
	return 2;
}

/* An argument's text between its tabs and newlines is clean UTF-8; both
 * are ASCII, so no character is cut by splitting there. */
static bool arg_ok(const char *s)
{
	for (;;) {
		size_t n = strcspn(s, "\t\n");
		if (!text_is_clean_utf8(s, n))
			return false;
		if (!s[n])
			return true;
		s += n + 1;
	}
}

int cli_check_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (arg_ok(argv[i]))
			continue;
		char head[49], shown[4 * sizeof(head)];
		snprintf(head, sizeof(head), "%s", argv[i]); /* its first 48 bytes */
		text_escape(shown, sizeof(shown), head);
		fprintf(stderr,
			"paywatch: argument %d is not UTF-8 text without control characters (tab and newline"
			" aside): %s%s\n",
			i, shown, strlen(argv[i]) >= sizeof(head) ? "..." : "");
		return 2;
	}
	return 0;
}

int cli_load_config(const char *config_path, pw_config **ret_cfg)
{
	char err[1024];
	if (config_load(config_path, ret_cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "paywatch: config %s: %s\n", config_path, err);
		return 2;
	}
	return 0;
}

int cli_open(const char *config_path, pw_config **ret_cfg, PGconn **ret_pg)
{
	char err[1024];
	int rc = cli_load_config(config_path, ret_cfg);
	if (rc)
		return rc;
	if (pg_open_migrated((*ret_cfg)->pg_dsn, "paywatch cli", ret_pg, err, sizeof(err)) < 0) {
		fprintf(stderr, "paywatch: postgres: %s\n", err);
		config_destroy(*ret_cfg);
		return 1;
	}
	return 0;
}

/* The option of opts that a is: a's whole text, or for a value option
 * named "--..." its "--name=value" form (*ret_inline then points at the
 * value). NULL when a names none. */
static const cli_option *find_option(const cli_option *opts, const char *a, const char **ret_inline)
{
	*ret_inline = NULL;
	for (const cli_option *o = opts; o->name; o++) {
		size_t n = strlen(o->name);
		if (strncmp(a, o->name, n) != 0)
			continue;
		if (!a[n])
			return o;
		if (a[n] == '=' && o->name[1] == '-') {
			*ret_inline = a + n + 1;
			return o;
		}
	}
	return NULL;
}

int cli_parse(int argc, char **argv, const cli_option *opts, const char **pos, size_t n_pos, size_t *ret_n_pos,
	      bool *ret_help, const char *help)
{
	*ret_n_pos = 0;
	*ret_help = false;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i], *inline_value;
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			fputs(help, stdout);
			*ret_help = true;
			return 0;
		}
		const cli_option *o = find_option(opts, s, &inline_value);
		if (o && o->flag && inline_value)
			return cli_usage("%s takes no value", o->name, help);
		else if (o && o->flag)
			*o->flag = true;
		else if (o && inline_value)
			*o->value = inline_value;
		else if (o && i + 1 >= argc)
			return cli_usage("%s needs a value", s, help);
		else if (o)
			*o->value = argv[++i];
		else if (s[0] == '-' && s[1])
			return cli_usage("unknown option: %s", s, help);
		else if (*ret_n_pos < n_pos)
			pos[(*ret_n_pos)++] = s;
		else
			return cli_usage("unexpected argument: %s", s, help);
	}
	return 0;
}
