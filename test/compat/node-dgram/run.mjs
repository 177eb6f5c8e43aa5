// Runs Node.js core's dgram tests against node:dgram and against batchgram's
// drop-in, and prints what each gives on both.
//
//   node test/compat/node-dgram/run.mjs <node-test-dir> [test ...] [--timeout=SECONDS] [--lines=N]
//
// <node-test-dir> is a copy of Node's test/ folder (needs common/, parallel/,
// sequential/). Without tests named, every parallel/ and sequential/
// test-dgram-*.{js,mjs} runs; a test may be named by file name or path.
// Each test runs alone in a fresh `node` with the flags its `// Flags:`
// comment asks for, once plainly and once with ./preload.cjs in NODE_OPTIONS
// (so child processes and cluster workers get the mapping too).
// Exit status: 1 if a test passing on node:dgram fails on batchgram.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const preload = join(here, 'preload.cjs');

const options = { timeout: 60, lines: 3 };
const positional = [];
for (const arg of process.argv.slice(2)) {
  const m = /^--(timeout|lines)=(\d+)$/.exec(arg);
  if (m) options[m[1]] = Number(m[2]);
  else if (arg.startsWith('--')) usage(`unknown option ${arg}`);
  else positional.push(arg);
}
const [testDir, ...named] = positional;
if (!testDir || !existsSync(join(testDir, 'common'))) usage('the first argument must be a Node test folder');

function usage(why) {
  console.error(`${why}\nusage: node run.mjs <node-test-dir> [test ...] [--timeout=SECONDS] [--lines=N]`);
  process.exit(2);
}

/** The test files to run: the named ones, or every dgram test of the folder. */
function testFiles() {
  const isDgramTest = (f) => /^test-dgram-.*\.m?js$/.test(f);
  const all = ['parallel', 'sequential'].flatMap((sub) => {
    const dir = join(testDir, sub);
    return existsSync(dir) ? readdirSync(dir).filter(isDgramTest).sort().map((f) => join(dir, f)) : [];
  });
  if (named.length === 0) return all;
  return named.map((n) => {
    if (existsSync(n)) return resolve(n);
    const found = all.find((f) => basename(f) === n || basename(f) === `${n}.js`);
    if (!found) usage(`no such test: ${n}`);
    return found;
  });
}

/** The flags of the test's `// Flags:` comment, read where Node's test runner reads them. */
function flagsOf(file) {
  const head = readFileSync(file, 'utf8').slice(0, 1500);
  const m = /\/\/ Flags:\s+(--.*)/.exec(head);
  return m ? m[1].trim().split(/\s+/) : [];
}

/** Runs one test; resolves { result, stdout, stderr }. result: pass, skip, fail (exit N / signal), timeout. */
function runTest(file, mapped) {
  return runNode([...flagsOf(file), file], dirname(file), mapped);
}

function runNode(args, cwd, mapped) {
  const env = { ...process.env };
  if (mapped) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(preload)}`.trim();
  return new Promise((done) => {
    // Its own process group, so a timeout also ends the children it started.
    const child = spawn(process.execPath, args,
      { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, options.timeout * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let result;
      if (timedOut) result = 'timeout';
      else if (code === 0) result = /^1\.\.0 # Skipped/m.test(stdout) ? 'skip' : 'pass';
      else result = signal ? `fail (${signal})` : `fail (exit ${code})`;
      done({ result, stdout, stderr });
    });
  });
}

/** The first lines of a failure, starting where the error is named if that can be found. */
function firstLines({ stdout, stderr }) {
  const output = stderr.trim() ? stderr : stdout;
  const lines = output.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  let start = lines.findIndex((l) => /^\s*(\w*(Error|Exception)\b|error:|not ok\b)/.test(l));
  if (start < 0) start = 0;
  return lines.slice(start, start + options.lines).join(' ⏎ ');
}

// The comparison means nothing if the mapped createSocket falls back to
// node:dgram (no addon, not Linux): check that it gives a batching socket.
{
  const probe = `const s = require('dgram').createSocket('udp4');
    process.stdout.write(String(require(${JSON.stringify(join(here, 'dgram.cjs'))}).createSocket === require('dgram').createSocket &&
      require(process.env.BATCHGRAM_ROOT || ${JSON.stringify(resolve(here, '..', '..', '..'))}).compatStats(s) !== null)); s.close();`;
  const { result, stdout, stderr } = await runNode(['-e', probe], resolve(testDir), true);
  if (result !== 'pass' || stdout !== 'true') {
    console.error(`the mapping does not give batchgram's batching socket here:\n${stdout}${stderr}`);
    process.exit(2);
  }
}

const rows = [];
console.log(`${'test'.padEnd(56)} ${'node:dgram'.padEnd(14)} ${'batchgram'.padEnd(14)} first lines of the failure`);
for (const file of testFiles()) {
  const plain = await runTest(file, false);
  const mapped = await runTest(file, true);
  const failed = mapped.result !== 'pass' && mapped.result !== 'skip' ? mapped
    : plain.result !== 'pass' && plain.result !== 'skip' ? plain : null;
  rows.push({ name: basename(file), plain: plain.result, mapped: mapped.result, why: failed ? firstLines(failed) : '' });
  const r = rows[rows.length - 1];
  console.log(`${r.name.padEnd(56)} ${r.plain.padEnd(14)} ${r.mapped.padEnd(14)} ${r.why}`);
}

const passPlain = rows.filter((r) => r.plain === 'pass');
const regressions = passPlain.filter((r) => r.mapped !== 'pass');
console.log(`\n${rows.length} tests; node:dgram passes ${passPlain.length}, batchgram passes ` +
  `${rows.filter((r) => r.mapped === 'pass').length} (${passPlain.length - regressions.length} of the ` +
  `${passPlain.length} that pass on node:dgram)`);
if (regressions.length > 0) console.log(`failing on batchgram only: ${regressions.map((r) => r.name).join(', ')}`);
process.exitCode = regressions.length > 0 ? 1 : 0;
