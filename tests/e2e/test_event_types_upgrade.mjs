// test_event_types_upgrade.mjs: the two event types of the forty-seventh
// session reach a database written by an older build, through the real
// `paywatch migrate` on a real Postgres made as 023 left it:
//   - 024_payment_dropped_events.sql: webhook_events refuses a
//     payment.dropped event before it and holds one after it;
//   - 025_invoice_cancelled_events.sql: the feed and webhook_events hold
//     invoice.cancelled; an endpoint that took every type of the old
//     default set (every type but payment.pending, as the config's and
//     the API's default wrote it), with or without payment.pending, takes
//     invoice.cancelled too; an endpoint that listed fewer types keeps
//     its list.
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const OLD_DEFAULT = ['payment.confirmed', 'payment.reverted', 'invoice.processing', 'invoice.paid', 'invoice.expired',
  'invoice.payment_late', 'invoice.reverted'];

async function main() {
  const work = rig.workDir('pw-event-types-');
  const pg = await rig.startPostgres();
  const cfg = rig.writeConfig(work, {
    data_dir: `${work}/data`, postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: 'ws://127.0.0.1:9', confirmations: 1,
      tokens: [{ symbol: 'USDC', address: '0x5fbdb2315678afecb367f032d93f642f64180aa3', decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: ['0x70997970c51812dc3a010c7d01b50e0d17dc79c8'] } }],
  });
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));

  // ---- the schema as 023 left it, with endpoints of each kind
  await rig.migrateBefore(db, '024');
  await db.query(`INSERT INTO merchants (id) VALUES ('m1'), ('m2'), ('m3'), ('m4')`);
  const endpoint = (m, events) => db.query(`INSERT INTO webhook_endpoints (merchant_id, key, url, events)
    VALUES ($1, 'default', 'http://127.0.0.1:9', $2)`, [m, events]);
  await endpoint('m1', OLD_DEFAULT); // the default, as the config wrote it
  await endpoint('m2', [...OLD_DEFAULT, 'payment.pending']); // the default and payment.pending
  await endpoint('m3', ['payment.confirmed']); // a list of its own
  await endpoint('m4', OLD_DEFAULT.slice(1)); // every default type but one
  const dropped = (id) => db.query(`INSERT INTO webhook_events (id, type, merchant_id, payload)
    VALUES ($1, 'payment.dropped', 'm2', '{}')`, [id]);
  const before = await dropped('evt_before').then(() => 'held', (e) => e.message);
  rig.check(/webhook_events_type_check/.test(before), `023's schema refuses a payment.dropped event (${before})`);

  // ---- 024 and 025 over it, by the binary
  const later = rig.migrations().filter((n) => n >= '024');
  const r = rig.runPaywatchSync(bin, ['migrate', '-c', cfg]);
  rig.check(r.status === 0 && r.stderr.includes(`${later.length} migration(s) applied`),
    `migrate applies ${later.join(', ')} (${r.stderr.trim().slice(-200)})`);

  const after = await dropped('evt_after').then(() => 'held', (e) => e.message);
  rig.check(after === 'held', `024: webhook_events holds a payment.dropped event (${after})`);
  const events = Object.fromEntries((await db.query('SELECT merchant_id, events FROM webhook_endpoints ORDER BY 1')).rows
    .map((x) => [x.merchant_id, x.events.join(',')]));
  rig.check(events.m1 === [...OLD_DEFAULT, 'invoice.cancelled'].join(','),
    `025: the old default set takes invoice.cancelled (${events.m1})`);
  rig.check(events.m2 === [...OLD_DEFAULT, 'payment.pending', 'invoice.cancelled'].join(','),
    `025: the old default set with payment.pending takes it too (${events.m2})`);
  rig.check(events.m3 === 'payment.confirmed' && events.m4 === OLD_DEFAULT.slice(1).join(','),
    `025: a list of fewer types is kept (${events.m3}; ${events.m4})`);
  const feedCheck = (await db.query(`SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint
    WHERE conname IN ('event_feed_type_check', 'webhook_events_type_check') ORDER BY conname`)).rows.map((x) => x.d);
  rig.check(feedCheck.length === 2 && feedCheck.every((d) => d.includes("'invoice.cancelled'")),
    `025: the feed and webhook_events hold invoice.cancelled (${feedCheck.length} constraints)`);

  // ---- migrate again: nothing applied, nothing changed
  const again = rig.runPaywatchSync(bin, ['migrate', '-c', cfg]);
  const events2 = (await db.query(`SELECT events FROM webhook_endpoints WHERE merchant_id = 'm1'`)).rows[0].events.join(',');
  rig.check(again.status === 0 && again.stderr.includes('0 migration(s) applied') && events2 === events.m1,
    `migrate again changes nothing (${again.stderr.trim().slice(-120)}; ${events2})`);
}

rig.runTest('e2e_event_types_upgrade', main);
