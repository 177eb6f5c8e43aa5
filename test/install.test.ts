// The package as a user gets it: `npm pack` (which builds and tests the
// prebuilt addons), then the tarball installed offline into fresh projects:
// with the install step, with --ignore-scripts, and with no compiler or make
// on PATH. Each project loads batchgram from CommonJS, ESM and TypeScript and,
// on linux-x64, sends and receives a GSO batch through the prebuilt addon.
// Then the addon is taken away, to see the package load on node:dgram and say
// why in one line, or throw when told to require the addon.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gsoSegmentLimit } from '../src/kernel/support';

const repo = join(__dirname, '..', '..');
const tsc = join(repo, 'node_modules', '.bin', 'tsc');
const check = join(repo, 'scripts', 'gso-check.cjs');
/** Set up by scripts/setup-arm64.sh: Debian's arm64 node and its libraries, for qemu. */
const arm64Root = join(repo, '.cache', 'arm64', 'root');
const prebuilt = (platform: string) => join('node_modules', 'batchgram', 'native', 'prebuilds', platform, 'batchgram.glibc.node');
const x64 = process.platform === 'linux' && process.arch === 'x64';

interface Ran { status: number | null; stdout: string; stderr: string; ms: number }

/** This environment without npm's per-script variables and batchgram's own, so a child starts as a user's would. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|BATCHGRAM_)/i.test(k)));
  return { ...env, ...extra };
}

function run(file: string, args: string[], options: SpawnSyncOptions = {}): Ran {
  const t0 = Date.now();
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 120_000, env: cleanEnv(), ...options });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr), ms: Date.now() - t0 };
}

function ok(r: Ran, what: string): Ran {
  assert.equal(r.status, 0, `${what}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The npm on PATH, as the script node runs: the test can then start it with a PATH that has no npm. */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      return realpathSync(join(dir, 'npm'));
    } catch { /* not here */ }
  }
  throw new Error('npm is not on PATH');
}

/** What the GSO check printed: its last line. */
const result = (r: Ran) => JSON.parse(r.stdout.trim().split('\n').pop()!);

// Each entry point imports batchgram its own way, checks the default import
// against the named ones, and hands the module to the GSO check.
const ENTRY = {
  'cjs.cjs': `const batchgram = require('batchgram');
if (batchgram.default.BatchSocket !== batchgram.BatchSocket) throw new Error('default export');
require(${JSON.stringify(check)})(batchgram).catch((e) => { console.error(e); process.exitCode = 1; });
`,
  'esm.mjs': `import batchgram, { BatchSocket } from 'batchgram';
import { createRequire } from 'node:module';
if (batchgram.BatchSocket !== BatchSocket) throw new Error('default export');
await createRequire(import.meta.url)(${JSON.stringify(check)})(batchgram);
`,
  // Compiled by tsc (nodenext, strict) to ts.mjs: TypeScript as ESM.
  'ts.mts': `import batchgram, { BatchSocket, type Capabilities } from 'batchgram';
import { createRequire } from 'node:module';
const gsoCheck = createRequire(import.meta.url)(${JSON.stringify(check)}) as (m: typeof batchgram) => Promise<{ capabilities: Capabilities }>;
if (batchgram.BatchSocket !== BatchSocket) throw new Error('default export');
const { capabilities }: { capabilities: Capabilities } = await gsoCheck(batchgram);
void capabilities;
`,
  // Compiled by the same tsc to interop.js: TypeScript as CommonJS, with esModuleInterop (always on since TypeScript 7).
  'interop.ts': `import batchgram from 'batchgram';
batchgram.BatchSocket.bind({ address: '127.0.0.1' })
  .then((sock) => { console.log(JSON.stringify(sock.capabilities)); return sock.close(); });
`,
  // What TypeScript before 7 emits for that default import without esModuleInterop.
  'no-interop.cjs': `const batchgram_1 = require('batchgram');
batchgram_1.default.BatchSocket.bind({ address: '127.0.0.1' })
  .then((sock) => { console.log(JSON.stringify(sock.capabilities)); return sock.close(); });
`,
};

/** A strict nodenext project: .mts compiles to ESM, .ts to CommonJS (the project's package.json has no "type"). */
const TSCONFIG = (files: string[]) => JSON.stringify({
  compilerOptions: {
    module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true,
    types: ['node'], typeRoots: [join(repo, 'node_modules', '@types')], noEmitOnError: true,
  },
  files,
});

/** The README's first example in the API section, exactly as written there. */
function readmeExample(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const api = readme.slice(readme.indexOf('\n## API\n'));
  const m = /```ts\n([\s\S]*?)```/.exec(api);
  assert.ok(m, 'README has a ts block under ## API');
  return m[1];
}

// The sanitizer run (BATCHGRAM_ADDON set) is about the addon's memory safety; packaging is tested once, here.
const skip = process.platform !== 'linux' ? 'the addon and its prebuilt binaries are Linux-only'
  : process.env.BATCHGRAM_ADDON ? 'the sanitizer run loads its own build of the addon' : false;
if (skip) console.log(`# package install tests skipped: ${skip}`);

describe('the packed package, installed offline', { skip }, () => {
  let work: string;
  let tarball: string;
  let dependency: string;
  let files: string[];
  const npm = npmCli();

  /** A fresh project with batchgram installed from the tarball; returns its directory and the install time. */
  function install(name: string, flags: string[], env: NodeJS.ProcessEnv = {}): { dir: string; ms: number } {
    const dir = join(work, name);
    mkdirSync(dir);
    // npm 11 warns about a dependency's install script unless the project allows it (npm 12 is to skip it).
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, allowScripts: { batchgram: true } }));
    const r = ok(run(process.execPath, [npm, 'install', '--offline', '--no-audit', '--no-fund', '--cache', join(work, 'cache'),
      ...flags, tarball, dependency], { cwd: dir, env: cleanEnv(env) }), `npm install ${flags.join(' ')}`);
    console.log(`# ${name}: ${['npm install', ...flags].join(' ')} took ${r.ms} ms`);
    for (const [file, text] of Object.entries(ENTRY)) writeFileSync(join(dir, file), text);
    writeFileSync(join(dir, 'tsconfig.json'), TSCONFIG(['ts.mts', 'interop.ts']));
    return { dir, ms: r.ms };
  }

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'batchgram-install-'));
    const packed = ok(run(process.execPath, [npm, 'pack', '--json', '--pack-destination', work], { cwd: repo }), 'npm pack');
    console.log(packed.stderr.split('\n').filter((l) => l.startsWith('prebuild ')).map((l) => `# ${l}`).join('\n'));
    tarball = join(work, readdirSync(work).find((f) => f.startsWith('batchgram-') && f.endsWith('.tgz'))!);
    ok(run(process.execPath, [npm, 'pack', join(repo, 'node_modules', 'node-gyp-build'), '--pack-destination', work], { cwd: work }), 'pack node-gyp-build');
    dependency = join(work, readdirSync(work).find((f) => f.startsWith('node-gyp-build-'))!);
    files = ok(run('tar', ['tzf', tarball]), 'tar').stdout.trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('holds what users need and nothing else', () => {
    const wanted = [/^(LICENSE|README\.md|BENCHMARKS\.md|CHANGELOG\.md|package\.json)$/, /^bench\/udpref\.c$/,
      /^native\/(src\/[a-z]+\.[ch]|binding\.gyp|build\.mjs|gyp\.mjs)$/, /^native\/prebuilds\/linux-(x64|arm64)\/batchgram\.glibc\.node$/,
      /^dist\/src\/([a-z]+\/)*[a-z-]+\.(js|d\.ts)$/];
    assert.deepEqual(files.filter((f) => !wanted.some((w) => w.test(f))), []);
    for (const f of ['LICENSE', 'README.md', 'BENCHMARKS.md', 'CHANGELOG.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js',
      'native/prebuilds/linux-x64/batchgram.glibc.node']) {
      assert.ok(files.includes(f), `${f} is packed`);
    }
    // Declarations only where the API reaches: the command line's modules need none.
    assert.deepEqual(files.filter((f) => /^dist\/src\/cli\/.*\.d\.ts$/.test(f)), [], 'no declarations under dist/src/cli');
    // Node.js 20 and later run on glibc 2.28: a prebuild needing newer symbols would not load there.
    const binary = 'package/native/prebuilds/linux-x64/batchgram.glibc.node';
    ok(run('tar', ['xzf', tarball, '-C', work, binary]), 'tar x');
    const symbols = ok(run('readelf', ['--dyn-syms', '-W', join(work, binary)]), 'readelf').stdout;
    const versions = [...symbols.matchAll(/GLIBC_2\.(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(versions.length > 0 && Math.max(...versions) <= 28, `the x64 prebuild needs GLIBC_2.${Math.max(...versions)}`);
  });

  const modes: [string, string[]][] = [
    ['with-scripts', []],
    ['ignore-scripts', ['--ignore-scripts']],
    ['no-compiler', []], // PATH set in the test: node and sh only
  ];
  const dirs = new Map<string, string>();

  for (const [name, flags] of modes) {
    it(`installs ${name}, and loads from CommonJS, ESM and TypeScript on the prebuilt batch path`, { skip: !x64 }, () => {
      let env: NodeJS.ProcessEnv = {};
      if (name === 'no-compiler') {
        const bin = join(work, 'bin-no-compiler');
        mkdirSync(bin);
        symlinkSync(process.execPath, join(bin, 'node'));
        symlinkSync('/bin/sh', join(bin, 'sh'));
        env = { PATH: bin };
        assert.equal(run('sh', ['-c', 'command -v cc || command -v gcc || command -v make'], { env: cleanEnv(env) }).stdout, '');
      }
      const { dir } = install(name, flags, env);
      dirs.set(name, dir);
      assert.ok(!existsSync(join(dir, 'node_modules', 'batchgram', 'native', 'build')), 'nothing was compiled');
      ok(run(tsc, ['-p', 'tsconfig.json'], { cwd: dir }), 'tsc');
      for (const entry of ['cjs.cjs', 'esm.mjs', 'ts.mjs']) {
        const r = ok(run(process.execPath, [entry], { cwd: dir, env: cleanEnv(env) }), entry);
        assert.equal(r.stderr, '', `${entry} prints nothing on stderr`);
        const got = result(r);
        assert.deepEqual(got.addon, [join(dir, prebuilt('linux-x64'))], `${entry}: the prebuilt addon`);
        assert.deepEqual(got.capabilities, {
          batching: true, txOffload: true, rxOffload: true, rxqOverflowCounter: true, ecn: false, localAddress: false, timestamps: false, originalDestination: false,
          mayFragment: true, icmpErrors: false, pacing: false,
          maxGsoSegments: gsoSegmentLimit(), // this kernel's, as the suite's own process found it
        }, entry);
        assert.equal(got.received, 32, entry);
        assert.ok(got.intact, entry);
        assert.ok(got.messagesOut < got.datagramsOut, `${entry}: GSO sent fewer messages than datagrams`);
      }
      for (const entry of ['interop.js', 'no-interop.cjs']) {
        const r = ok(run(process.execPath, [entry], { cwd: dir }), entry);
        assert.equal(JSON.parse(r.stdout).batching, true, entry);
      }
    });
  }

  it("runs README's first example as copied, and it ends", { skip: !x64 }, () => {
    const dir = dirs.get('with-scripts')!;
    const example = readmeExample();
    writeFileSync(join(dir, 'readme.mjs'), example);
    const r = ok(run(process.execPath, ['readme.mjs'], { cwd: dir, timeout: 10_000 }), 'README example');
    assert.match(r.stdout, /^a 127\.0\.0\.1 \d+ IPv4 false$/m);
    assert.match(r.stdout, /^b 127\.0\.0\.1 \d+ IPv4 false$/m);
    // It type-checks too, strict.
    writeFileSync(join(dir, 'readme.mts'), example);
    writeFileSync(join(dir, 'tsconfig.readme.json'), TSCONFIG(['readme.mts']));
    ok(run(tsc, ['-p', 'tsconfig.readme.json', '--noEmit'], { cwd: dir }), 'tsc README example');
  });

  it('runs the linux-arm64 prebuilt addon under qemu: load, bind, a GSO batch', { skip: !x64 }, (t) => {
    const qemu = run('sh', ['-c', 'command -v qemu-aarch64-static']).stdout.trim();
    if (qemu === '' || !existsSync(join(arm64Root, 'usr/bin/node'))) {
      t.skip('needs qemu-user-static and the arm64 node: run scripts/setup-arm64.sh (.ci/run does)');
      return;
    }
    assert.ok(files.includes('native/prebuilds/linux-arm64/batchgram.glibc.node'), 'the arm64 prebuild shipped');
    const dir = dirs.get('with-scripts')!;
    const r = ok(run(qemu, ['-L', arm64Root, join(arm64Root, 'usr/bin/node'), check, join(dir, 'node_modules', 'batchgram')],
      { cwd: dir }), 'arm64 check');
    const got = result(r);
    assert.equal(got.arch, 'arm64');
    assert.deepEqual(got.addon, [join(dir, prebuilt('linux-arm64'))]);
    // qemu does not pass SO_RXQ_OVFL on, so that capability is not asked for here.
    assert.deepEqual([got.capabilities.batching, got.capabilities.txOffload, got.capabilities.rxOffload], [true, true, true]);
    assert.deepEqual([got.received, got.intact], [32, true]);
    assert.ok(got.messagesOut < got.datagramsOut, 'GSO sent fewer messages than datagrams');
  });

  it('from source: build.mjs compiles beside the prebuilt binary, the build wins, and npm rebuild renews it', { skip: !x64 }, () => {
    const dir = dirs.get('with-scripts')!;
    const built = join(dir, 'node_modules', 'batchgram', 'native', 'build', 'Release', 'batchgram.node');
    const r = ok(run(process.execPath, [join('node_modules', 'batchgram', 'native', 'build.mjs')], { cwd: dir }), 'build.mjs');
    console.log(`# building the addon from source took ${r.ms} ms`);
    const got = result(ok(run(process.execPath, ['cjs.cjs'], { cwd: dir }), 'after the build'));
    assert.deepEqual(got.addon, [built]);
    assert.ok(got.messagesOut < got.datagramsOut);
    const before = statSync(built).mtimeMs;
    ok(run(process.execPath, [npm, 'rebuild', 'batchgram'], { cwd: dir }), 'npm rebuild');
    assert.ok(statSync(built).mtimeMs > before, 'npm rebuild compiled the local build again');
  });

  it("bench builds its C reference from the packed source at first use, or says what is missing", { skip: !x64 }, () => {
    const cli = join('node_modules', 'batchgram', 'dist', 'src', 'cli', 'main.js');
    const args = [cli, 'bench', '--impl', 'c-plain', '--duration', '1', '--json'];
    const built = JSON.parse(ok(run(process.execPath, args, { cwd: dirs.get('ignore-scripts')! }), 'bench c-plain').stdout);
    assert.equal(built.rows[0].error, null);
    assert.ok(built.rows[0].rx.datagrams > 0);
    const r = run(process.execPath, args, { cwd: dirs.get('no-compiler')!, env: cleanEnv({ PATH: join(work, 'bin-no-compiler') }) });
    assert.equal(r.status, 1, r.stderr);
    assert.match(JSON.parse(r.stdout).rows[0].error,
      /^cannot run the C compiler 'cc' \(ENOENT\) to build bench\/udpref\.c, which c-plain, c-gso, relay, c-relay need: install one, or leave those out with --impl$/);
  });

  describe('without the addon', () => {
    const PROBE = [join('node_modules', 'batchgram', 'dist', 'src', 'cli', 'main.js'), 'probe', '--json'];
    const bindAndPrint = `b.BatchSocket.bind({ address: '127.0.0.1' })
      .then((s) => { console.log(JSON.stringify(s.capabilities)); return s.close(); })`;
    const LOAD = ['-e', `const b = require('batchgram'); ${bindAndPrint}`];
    const IMPORT = ['--input-type=module', '-e', `import b from 'batchgram'; ${bindAndPrint}`];
    const REBUILD = 'to fix, install a C toolchain (cc, make, python3) and run `npm rebuild batchgram`';

    /** Loads the package on the portable path, and checks the one line of stderr and what probe says. */
    function fallsBack(dir: string, reason: RegExp): void {
      for (const args of [LOAD, IMPORT]) {
        const r = ok(run(process.execPath, args, { cwd: dir }), 'load on node:dgram');
        assert.deepEqual(JSON.parse(r.stdout), {
          batching: false, txOffload: false, rxOffload: false, rxqOverflowCounter: false, ecn: false, localAddress: false, timestamps: false, originalDestination: false,
          mayFragment: true, icmpErrors: false, pacing: false, maxGsoSegments: 1,
        });
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], /^batchgram: using node:dgram, one datagram per system call: /);
        assert.match(lines[0], reason);
        assert.ok(lines[0].endsWith(REBUILD), lines[0]);
      }
      const probe = ok(run(process.execPath, PROBE, { cwd: dir }), 'probe');
      const report = JSON.parse(probe.stdout);
      assert.equal(report.addon.path, null);
      assert.match(report.addon.reason, reason);
      const required = run(process.execPath, LOAD, { cwd: dir, env: cleanEnv({ BATCHGRAM_REQUIRE_NATIVE: '1' }) });
      assert.equal(required.status, 1);
      assert.match(required.stderr, /ERR_BATCHGRAM_NO_ADDON/);
      assert.match(required.stderr, /BATCHGRAM_REQUIRE_NATIVE=1 forbids running on node:dgram/);
      assert.match(required.stderr, reason);
    }

    const removeAddon = (dir: string) => {
      for (const d of ['prebuilds', 'build']) rmSync(join(dir, 'node_modules', 'batchgram', 'native', d), { recursive: true, force: true });
    };

    it('with a prebuilt binary that does not load: node:dgram, and which file failed', { skip: !x64 }, () => {
      const dir = dirs.get('ignore-scripts')!;
      writeFileSync(join(dir, prebuilt('linux-x64')), 'not an ELF file');
      fallsBack(dir, /the addon \S+prebuilds\/linux-x64\/batchgram\.glibc\.node does not load \(.*(invalid ELF|too short)/);
    });

    it('after --ignore-scripts: loads on node:dgram, says there is no build, throws if told to', { skip: !x64 }, () => {
      const dir = dirs.get('ignore-scripts')!;
      removeAddon(dir);
      fallsBack(dir, /no prebuilt addon for linux-x64 \(glibc\) and no build \(install scripts were skipped/);
    });

    it('with no compiler: npm rebuild succeeds, and the package says the compiler is missing', { skip: !x64 }, () => {
      const dir = dirs.get('no-compiler')!;
      removeAddon(dir);
      ok(run(process.execPath, [npm, 'rebuild', 'batchgram'], { cwd: dir, env: cleanEnv({ PATH: join(work, 'bin-no-compiler') }) }),
        'npm rebuild without a compiler');
      fallsBack(dir, /no prebuilt addon for linux-x64 \(glibc\) and the install step could not build one: no C compiler \(cc\), make, Python 3 \(python3\) on PATH/);
    });

  });
});

describe('scripts/prebuild.mjs', { skip: x64 ? false : 'makes the binaries on linux-x64' }, () => {
  // A PATH with node alone: no cross compiler and no qemu, as on a machine that never ran setup-arm64.sh.
  let bin: string;
  before(() => {
    bin = mkdtempSync(join(tmpdir(), 'batchgram-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
  });
  after(() => rmSync(bin, { recursive: true, force: true }));

  for (const [name, env] of [['npm publish', { npm_command: 'publish' }], ['BATCHGRAM_RELEASE=1', { BATCHGRAM_RELEASE: '1' }]] as const) {
    it(`fails a release (${name}) that cannot make the linux-arm64 binary, before building anything`, () => {
      const r = run(process.execPath, [join(repo, 'scripts', 'prebuild.mjs')], { env: cleanEnv({ ...env, PATH: bin }) });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr, 'prebuild linux-arm64 failed (no aarch64-linux-gnu-gcc, qemu-aarch64-static; scripts/setup-arm64.sh ' +
        'installs what it needs): a release ships every prebuilt binary\n');
    });
  }
});

describe('native/build.mjs', { skip: process.platform === 'linux' ? false : 'Linux-only' }, () => {
  let dir: string;
  before(() => {
    // A copy, so the addon this suite loaded stays as it is.
    dir = mkdtempSync(join(tmpdir(), 'batchgram-build-'));
    for (const f of ['src', 'binding.gyp', 'build.mjs', 'gyp.mjs']) cpSync(join(repo, 'native', f), join(dir, f), { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const headers = (where: string) => `no Node.js headers under ${where}/include/node (give --nodedir)`;
  const cases: [string, string[], NodeJS.ProcessEnv, string][] = [
    ['--nodedir DIR', ['--nodedir', '/nonexistent-a'], {}, '/nonexistent-a'],
    ['--nodedir=DIR', ['--nodedir=/nonexistent-b'], {}, '/nonexistent-b'],
    ["npm's nodedir setting", [], { npm_config_nodedir: '/nonexistent-c' }, '/nonexistent-c'],
    ['--nodedir over the setting', ['--nodedir=/nonexistent-d'], { npm_config_nodedir: '/nonexistent-c' }, '/nonexistent-d'],
  ];
  for (const [name, args, env, where] of cases) {
    it(`builds against ${name}`, () => {
      const r = run(process.execPath, [join(dir, 'build.mjs'), ...args], { env: cleanEnv(env) });
      assert.equal(r.status, 1);
      assert.equal(r.stderr, `batchgram: could not build the native addon: ${headers(where)}\n`);
    });
  }

  it('builds against the headers given, with node-gyp told the same', () => {
    const nodedir = join(process.execPath, '..', '..');
    const r = ok(run(process.execPath, [join(dir, 'build.mjs'), `--nodedir=${nodedir}`]), 'build');
    assert.match(r.stderr, new RegExp(`-Dnode_root_dir=${nodedir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
    assert.ok(existsSync(join(dir, 'build', 'Release', 'batchgram.node')));
  });

  it('as the install step: silent when the build works, all of its output when it fails', () => {
    const quiet = ok(run(process.execPath, [join(dir, 'build.mjs'), '--install']), 'install step');
    assert.deepEqual([quiet.stdout, quiet.stderr], ['', '']);
    assert.ok(existsSync(join(dir, 'build', 'Release', 'batchgram.node')));
    // A compiler that fails every file: the install still succeeds (the package runs on node:dgram), and says why.
    const failed = ok(run(process.execPath, [join(dir, 'build.mjs'), '--install'], { env: cleanEnv({ CC: 'false' }) }), 'failed build');
    assert.match(failed.stdout, /CC\(target\) Release\/obj\.target\/batchgram\/src\/\w+\.o/);
    assert.match(failed.stderr, /^gyp info /m);
    assert.match(failed.stderr, /\nbatchgram: could not build the native addon: compiling failed: make: \*\*\* .* Error 1\n$/);
    assert.match(readFileSync(join(dir, 'build', 'install-failure.txt'), 'utf8'), /^compiling failed: make: /);
  });
});
