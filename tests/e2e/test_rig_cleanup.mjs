// test_rig_cleanup.mjs: a run of the rig (a test or a bench) that ends
// without reaching its own cleanup still stops the throwaway Postgres it
// started: (1) its output went away (the read end of its stdout pipe
// closed, as `| head` does: EPIPE at its next write), (2) an exception
// nothing caught. Before, either left the postmaster running and its
// directory behind (two were found running an hour after a bench piped
// into `head`). (3) It is killed (SIGKILL, as the OOM killer or a
// timeout's kill does: no handler of its own runs): lib/guard.py stops its
// Postgres and its anvil and removes their directories and its work
// directory (before, all were left, both servers running). (4) It is
// killed while blocked in runPaywatchSync: the command it waits on dies
// with it (setpriv --pdeathsig; before, the command ran on). Each case runs
// a small script of the rig's in a child process, with a real Postgres.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as rig from './lib/rig.mjs';

const rigUrl = pathToFileURL(path.join(rig.e2eDir, 'lib', 'rig.mjs')).href;
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

// Start a child (name: its case) that starts Postgres, says where (a file
// of its own), then does `then`.
async function child(work, name, then) {
  const out = path.join(work, `pg-${name}.json`);
  const code = `import * as rig from ${JSON.stringify(rigUrl)};
import fs from 'node:fs';
const pg = await rig.startPostgres();
const pid = Number(fs.readFileSync(pg.data + '/postmaster.pid', 'utf8').split('\\n')[0]);
fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify({ pid, dir: pg.dir }));
${then}`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => proc.on('exit', (c) => resolve(c)));
  rig.onCleanup(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  const started = await rig.waitFor('the child\'s Postgres up', () => fs.existsSync(out) &&
    JSON.parse(fs.readFileSync(out, 'utf8')), 60000).catch((e) => { rig.check(false, `${e.message}: ${stderr}`); return null; });
  if (started) // never left running by this test, whatever the rig does
    rig.onCleanup(() => { if (alive(started.pid)) process.kill(started.pid, 'SIGKILL'); });
  return { proc, done, started, stderr: () => stderr };
}

async function main() {
  const work = rig.workDir('pw-rigclean-');

  // 1. the output goes away: the child writes a line every 10 ms
  const a = await child(work, 'pipe', "setInterval(() => console.log('a line of output'), 10);");
  if (a.started) {
    await new Promise((resolve) => a.proc.stdout.once('data', resolve)); // it is writing
    a.proc.stdout.destroy(); // the read end closed: the child's next write fails with EPIPE
    const code = await Promise.race([a.done, rig.sleep(rig.scaled(30000)).then(() => 'running')]);
    await rig.waitFor('the child\'s postmaster gone', () => !alive(a.started.pid), 30000).catch(() => {});
    rig.check(code === 1 && !alive(a.started.pid) && !fs.existsSync(a.started.dir),
      `a run whose output pipe closed stops its Postgres and exits 1 (exit ${code}, postmaster ` +
      `${alive(a.started.pid) ? 'still running' : 'stopped'}, its directory ${fs.existsSync(a.started.dir) ? 'left' : 'removed'})`);
  }

  // 2. an exception nothing catches
  const b = await child(work, 'throw', "setTimeout(() => { throw new Error('nobody caught this'); }, 10);");
  if (b.started) {
    const code = await Promise.race([b.done, rig.sleep(rig.scaled(30000)).then(() => 'running')]);
    await rig.waitFor('the child\'s postmaster gone', () => !alive(b.started.pid), 30000).catch(() => {});
    rig.check(code === 1 && /nobody caught this/.test(b.stderr()) && !alive(b.started.pid) && !fs.existsSync(b.started.dir),
      `a run that throws where nothing catches says so, stops its Postgres and exits 1 (exit ${code}, postmaster ` +
      `${alive(b.started.pid) ? 'still running' : 'stopped'}: ${b.stderr().split('\n').find((l) => /nobody/.test(l))})`);
  }

  // 3. killed: nothing of the child's runs, its guard stops what it started
  const anvilFile = path.join(work, 'anvil.json');
  const c = await child(work, 'kill', `const node = await rig.startAnvil();
const own = rig.workDir('pw-rigclean-killed-');
fs.writeFileSync(${JSON.stringify(anvilFile)}, JSON.stringify({ pid: node.proc.pid, own }));
setInterval(() => {}, 1000);`);
  if (c.started) {
    const anvil = await rig.waitFor('the child\'s anvil up', () => fs.existsSync(anvilFile) &&
      JSON.parse(fs.readFileSync(anvilFile, 'utf8')), 60000).catch((e) => { rig.check(false, `${e.message}: ${c.stderr()}`); return null; });
    if (anvil) {
      rig.onCleanup(() => { if (alive(anvil.pid)) process.kill(anvil.pid, 'SIGKILL'); });
      rig.onCleanup(() => fs.rmSync(anvil.own, { recursive: true, force: true }));
      c.proc.kill('SIGKILL');
      await c.done;
      const gone = () => !alive(c.started.pid) && !alive(anvil.pid) && !fs.existsSync(c.started.dir) &&
        !fs.existsSync(anvil.own);
      await rig.waitFor('the killed child\'s Postgres and anvil gone', gone, 30000).catch(() => {});
      rig.check(gone(), `a run killed by SIGKILL has its Postgres and anvil stopped by its guard (postmaster ` +
        `${alive(c.started.pid) ? 'still running' : 'stopped'}, anvil ${alive(anvil.pid) ? 'still running' : 'stopped'}, ` +
        `Postgres's directory ${fs.existsSync(c.started.dir) ? 'left' : 'removed'}, its work directory ` +
        `${fs.existsSync(anvil.own) ? 'left' : 'removed'})`);
    }
  }

  // 4. killed while blocked in runPaywatchSync: the command it waits on
  // (sleep standing in for a paywatch command that does not end) dies with
  // it (before, it ran on, reparented to init: spawnSync gives no pid to guard)
  const d = await child(work, 'sync', "rig.runPaywatchSync('sleep', ['3600']);");
  if (d.started) {
    const children = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === d.proc.pid &&
          fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\0');
      } catch { return false; }
    }).map(Number);
    const sleeper = await rig.waitFor('the child blocked in runPaywatchSync', () => children()[0], 30000)
      .catch((e) => { rig.check(false, `${e.message}: ${d.stderr()}`); return null; });
    if (sleeper) {
      rig.onCleanup(() => { if (alive(sleeper)) process.kill(sleeper, 'SIGKILL'); });
      d.proc.kill('SIGKILL');
      await d.done;
      await rig.waitFor('the command gone with the run', () => !alive(sleeper), 10000).catch(() => {});
      rig.check(!alive(sleeper), `a run killed while blocked in runPaywatchSync takes the command with it ` +
        `(pid ${sleeper} ${alive(sleeper) ? 'still running' : 'gone'})`);
    }
  }
}

rig.runTest('e2e_rig_cleanup', main);
