// Builds the addon with the node-gyp that npm ships, against the headers of a
// Node.js on this machine (see gyp.mjs): nothing is downloaded. The addon
// speaks Linux system calls (recvmmsg, sendmmsg, UDP_SEGMENT, UDP_GRO); on
// other systems there is nothing to build and batchgram runs on node:dgram.
//
//   node native/build.mjs [--nodedir DIR] [node-gyp options]   build; fail loudly
//   node native/build.mjs --install                            the npm install step
//
// The install step takes a prebuilt binary from native/prebuilds/ that loads
// here, and compiles only when none does, or when a local build is to be
// renewed. A compile that cannot run or fails does not fail the install: the
// package still loads, on node:dgram, and says why at run time, from the one
// line this step leaves in FAILURE.
// BATCHGRAM_REQUIRE_NATIVE=1 makes that a failed install instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headersMissing, nodeDir, nodeGyp, onPath } from './gyp.mjs';

const here = dirname(fileURLToPath(import.meta.url));
/** Read by src/kernel/native.ts to explain a missing addon. */
const FAILURE = join(here, 'build', 'install-failure.txt');

const install = process.argv[2] === '--install';
const { dir: nodedir, rest: gypArgs } = nodeDir(process.argv.slice(install ? 3 : 2));

if (process.platform !== 'linux') {
  console.log(`batchgram: no native addon on ${process.platform}; sockets use node:dgram (capabilities all false)`);
  process.exit(0);
}

/** The prebuilt binary for this system if it loads here (never a local build, which may be stale). */
function loadablePrebuild() {
  process.env.PREBUILDS_ONLY = '1'; // node-gyp-build's switch, read when it is loaded
  try {
    const path = createRequire(import.meta.url)('node-gyp-build').path(here);
    createRequire(import.meta.url)(path);
    return path;
  } catch {
    return null;
  }
}

/** What node-gyp needs and this machine lacks: a C compiler, make, Python 3. */
function missingTools() {
  const cc = (process.env.CC ?? 'cc').trim().split(/\s+/)[0];
  const python = process.env.npm_config_python || process.env.PYTHON || 'python3';
  return [[cc, 'C compiler'], ['make', 'make'], [python, 'Python 3']]
    .filter(([command]) => !onPath(command))
    .map(([command, what]) => (what === command ? command : `${what} (${command})`));
}

function fail(reason) {
  console.error(`batchgram: could not build the native addon: ${reason}`);
  if (!install) process.exit(1);
  mkdirSync(dirname(FAILURE), { recursive: true });
  writeFileSync(FAILURE, `${reason}\n`);
  process.exit(process.env.BATCHGRAM_REQUIRE_NATIVE === '1' ? 1 : 0);
}

// A local build is loaded in preference to a prebuilt binary, so where one was
// made (a clone, or an `npm rebuild`) it is made again, never left stale.
if (install && !existsSync(join(here, 'build')) && loadablePrebuild() !== null) process.exit(0);
rmSync(FAILURE, { force: true });

const missing = missingTools();
if (missing.length > 0) fail(`no ${missing.join(', ')} on PATH`);
const noHeaders = headersMissing(nodedir);
if (noHeaders !== null) fail(noHeaders);

// The install step is quiet when it works: node-gyp's progress (some 40 lines
// of 'gyp info' and make) says nothing to someone installing a dependency.
// When it fails, all of it is printed, the compiler's errors included.
const r = spawnSync(process.execPath, [nodeGyp(), 'rebuild', `--nodedir=${nodedir}`, ...gypArgs], {
  cwd: here,
  stdio: ['ignore', install ? 'pipe' : 'inherit', 'pipe'],
  encoding: 'utf8',
});
if (!install || r.status !== 0) {
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
}
if (r.status !== 0) {
  // The compiler's first complaint says more than node-gyp's summary at the end.
  const first = (r.stderr ?? '').split('\n').find((l) => /\berror\b/i.test(l)) ?? `node-gyp exited with ${r.status}`;
  fail(`compiling failed: ${first.trim()}`);
}
