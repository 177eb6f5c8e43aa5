// `npm pack` (prepack): the prebuilt addons that ship in the package, built
// with prebuildify into native/prebuilds/<platform>-<arch>/, each tested before
// it ships by one GSO batch over loopback (scripts/gso-check.cjs):
// - linux-x64 (glibc), built and run here; if it fails, packing fails.
// - linux-arm64 (glibc), cross-compiled with Debian's gcc-aarch64-linux-gnu and
//   run on Debian's arm64 node under qemu-user-static, all set up by
//   scripts/setup-arm64.sh. Without those tools, or if its test fails, it is
//   left out with a warning: the package then compiles at install on arm64.
//   A release (`npm publish`, or BATCHGRAM_RELEASE=1) never leaves it out: it
//   fails instead, so no published package lacks a platform's binary.
// Node-API 8 (native/src/batchgram.h), so one binary per platform serves every
// Node.js line. The binaries are never committed (.gitignore).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headersMissing, nodeDir, nodeGyp, onPath } from '../native/gyp.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(repo, 'native');
const prebuilds = join(native, 'prebuilds');
const check = join(repo, 'scripts', 'gso-check.cjs');
const entry = join(repo, 'dist', 'src', 'index.js');
/** Debian's arm64 node and the libraries it needs, unpacked by scripts/setup-arm64.sh. */
const ARM64_SYSROOT = join(repo, '.cache', 'arm64', 'root');
const CROSS = 'aarch64-linux-gnu-';

/** Builds one platform's binary with prebuildify in a scratch copy, leaving native/build alone. */
function build(arch, env, stripBin) {
  const work = mkdtempSync(join(tmpdir(), `batchgram-prebuild-${arch}-`));
  try {
    for (const f of ['src', 'binding.gyp']) cpSync(join(native, f), join(work, f), { recursive: true });
    const prebuildify = createRequire(import.meta.url).resolve('prebuildify/bin.js');
    const r = spawnSync(process.execPath, [prebuildify, '--napi', '--tag-libc', '--strip', '--strip-bin', stripBin,
      '--name', 'batchgram', '--arch', arch, '--target', process.versions.node, '--node-gyp', nodeGyp(),
      '--cwd', work, '--out', native, '--quiet'], { stdio: 'inherit', env: { ...process.env, ...env } });
    return r.status === 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The oldest glibc Node.js 20 and later run on (their own binaries need 2.28):
 * a prebuild needing a newer symbol version would not load there, and such
 * users would silently fall back to node:dgram.
 */
const GLIBC_FLOOR = [2, 28];

/** The newer glibc symbol versions a binary needs than GLIBC_FLOOR, read with readelf (any architecture). */
function glibcAboveFloor(file) {
  const r = spawnSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' });
  if (r.status !== 0) return [`readelf failed: ${(r.stderr || '').trim()}`];
  const versions = new Set(r.stdout.match(/GLIBC_\d+\.\d+/g) ?? []);
  return [...versions].filter((v) => {
    const [major, minor] = v.slice(6).split('.').map(Number);
    return major > GLIBC_FLOOR[0] || (major === GLIBC_FLOOR[0] && minor > GLIBC_FLOOR[1]);
  });
}

/** Runs the GSO check on `argv` (a node, maybe under qemu) against this platform's prebuild; null if it passed. */
function verify(platform, argv) {
  const binary = join(prebuilds, platform, 'batchgram.glibc.node');
  const tooNew = glibcAboveFloor(binary);
  if (tooNew.length > 0) return `it needs ${tooNew.join(', ')}, newer than glibc ${GLIBC_FLOOR.join('.')}`;
  const r = spawnSync(argv[0], [...argv.slice(1), check, entry], {
    encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, PREBUILDS_ONLY: '1' }, // node-gyp-build's switch: never a local build
  });
  if (r.status !== 0) return `the check exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim()}`;
  const got = JSON.parse(r.stdout.trim().split('\n').pop());
  const c = got.capabilities;
  const ok = got.addon.length === 1 && got.addon[0].includes(`${join('prebuilds', platform)}/`)
    && c.batching && c.txOffload && c.rxOffload && got.received === 32 && got.intact && got.messagesOut < got.datagramsOut;
  return ok ? null : `unexpected result: ${r.stdout.trim()}`;
}

/** A release is `npm publish` (npm names its command to scripts) or a pack asked for with BATCHGRAM_RELEASE=1. */
const release = process.env.npm_command === 'publish' || process.env.BATCHGRAM_RELEASE === '1';

/** Outside a release the package ships without the arm64 binary (it compiles at install there); a release fails. */
function leaveOutArm64(why) {
  if (release) {
    console.error(`prebuild linux-arm64 failed (${why}): a release ships every prebuilt binary`);
    process.exit(1);
  }
  console.error(`prebuild linux-arm64: left out (${why})`);
}

const armTools = [`${CROSS}gcc`, 'qemu-aarch64-static'].filter((t) => !onPath(t));
const armMissing = armTools.length > 0 ? `no ${armTools.join(', ')}; scripts/setup-arm64.sh installs what it needs`
  : existsSync(join(ARM64_SYSROOT, 'usr/bin/node')) ? null : 'no arm64 node; scripts/setup-arm64.sh installs it';
// A release that cannot make every binary fails before it builds anything.
if (release && armMissing !== null) leaveOutArm64(armMissing);

const { dir: nodedir } = nodeDir([]);
const noHeaders = headersMissing(nodedir);
if (noHeaders !== null) throw new Error(noHeaders);
const gypEnv = { npm_config_nodedir: nodedir };
rmSync(prebuilds, { recursive: true, force: true });

if (process.platform !== 'linux' || process.arch !== 'x64') {
  throw new Error(`prebuilt binaries are made on linux-x64, not ${process.platform}-${process.arch}`);
}
if (!build('x64', gypEnv, 'strip')) process.exit(1);
const x64 = verify('linux-x64', [process.execPath]);
if (x64 !== null) {
  console.error(`prebuild linux-x64 failed its test: ${x64}`);
  process.exit(1);
}
console.error('prebuild linux-x64: built and tested');

if (armMissing !== null) {
  leaveOutArm64(armMissing);
} else {
  // node-gyp's make links with $(LINK), which defaults to the host's g++.
  const armEnv = { ...gypEnv, CC: `${CROSS}gcc`, LINK: `${CROSS}gcc`, AR: `${CROSS}ar` };
  const why = build('arm64', armEnv, `${CROSS}strip`)
    ? verify('linux-arm64', ['qemu-aarch64-static', '-L', ARM64_SYSROOT, join(ARM64_SYSROOT, 'usr/bin/node')])
    : 'the cross-compile failed';
  if (why === null) {
    console.error('prebuild linux-arm64: cross-compiled and tested under qemu');
  } else {
    rmSync(join(prebuilds, 'linux-arm64'), { recursive: true, force: true });
    leaveOutArm64(why);
  }
}
