// csource.mjs: an SQL statement of paywatch's C sources as Postgres gets
// it, for tests and probes that EXPLAIN the statements paywatch runs
// (e2e_webhook_plans, bench/claim_explain.mjs) rather than copies of them.
import fs from 'node:fs';

// The text of `static const char NAME[] = ...;` in FILE (a path below the
// repository's root, e.g. 'sinks/webhook.c'): its string literals joined,
// the object-like macros it names (#define NAME "..." \ lines, as
// flush_sql is built) expanded. Throws when FILE has no such statement.
export function cStatement(file, name) {
  const src = fs.readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
  const macros = Object.fromEntries([...src.matchAll(/^#define (\w+)[ \t]*\\\n((?:.*\\\n)*.*)$/gm)]
    .map((m) => [m[1], m[2].replace(/\\\n/g, '\n')]));
  const literals = (code) => [...code.matchAll(/"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*)/g)]
    .map((m) => (m[2] ? literals(macros[m[2]] ?? '') : m[1].replace(/\\(.)/g, '$1'))).join('');
  const m = src.match(new RegExp(`static const char ${name}\\[\\] =\\n?([\\s\\S]*?);\\n`));
  if (!m) throw new Error(`${file}: no statement ${name}`);
  return literals(m[1]);
}
