// args.mjs: a bench's command line, read strictly (node's util.parseArgs),
// so that a mistyped option stops the bench at once rather than letting it
// run for minutes without it. --help (or -h) prints the usage on stdout and
// exits 0; an unknown option, an option without its value, a stray
// argument, or a count that is not a whole number in its range prints what
// is wrong and the usage on stderr and exits 2.
import path from 'node:path';
import { parseArgs } from 'node:util';

const name = () => path.basename(process.argv[1] || 'bench');

// Say what is wrong with the command line, and the usage; exit 2.
export function usageError(usage, message) {
  process.stderr.write(`${name()}: ${message}\n${usage}\n`);
  process.exit(2);
}

// Read argv against options (util.parseArgs's form: { 'rounds': { type:
// 'string' }, 'quick': { type: 'boolean' } }), with at most `positionals`
// bare arguments (none unless given). Returns { values, positionals }:
// values by option name (undefined when absent), positionals as strings.
export function readArgs(usage, options = {}, { positionals = 0, argv = process.argv.slice(2) } = {}) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true,
      allowPositionals: positionals > 0 });
  } catch (e) { // said in a line of its own rather than node's (longer, and not the same in every version)
    const named = /'(-[^ ']*)/.exec(e.message)?.[1] ?? /'([^']*)'/.exec(e.message)?.[1];
    const said = {
      ERR_PARSE_ARGS_UNKNOWN_OPTION: `unknown option '${named}'`,
      ERR_PARSE_ARGS_INVALID_OPTION_VALUE: /does not take/.test(e.message) ? `option '${named}' takes no value`
        : /ambiguous/.test(e.message)
          ? `option '${named}' needs a value (one that starts with '-' goes as ${named}=VALUE)`
          : `option '${named}' needs a value`,
      ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL: `unexpected argument '${named}'`,
    }[e.code];
    usageError(usage, named && said ? said : e.message);
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  if (parsed.positionals.length > positionals)
    usageError(usage, `unexpected argument '${parsed.positionals[positionals]}'`);
  return parsed;
}

// A whole number in min..max from text (an option's or a positional's
// value, `what` naming it in the error); def when text is undefined.
export function wholeNumber(usage, what, text, def, min = 1, max = Number.MAX_SAFE_INTEGER) {
  if (text === undefined) return def;
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    usageError(usage, `${what}: '${text}' is not a whole number ` +
      (max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`));
  return n;
}
