// The package's declarations as a user's strict TypeScript project compiles
// them (skipLibCheck off), against each @types/node line a user may have: 20,
// 22, 24 and the newest. dgram's Socket grows from line to line (bindSync and
// connectSync in 24) and the drop-in's socket implements it, so a member it
// lacks breaks the user's build, never ours (which compiles against 20 and
// skips library checks). Each line compiles in each way a project resolves
// modules: nodenext as ESM and as CommonJS, commonjs, bundler, and the node10
// resolution TypeScript 7 removed but projects on TypeScript 5 still use (it
// reads package.json's "types", not "exports"). Each @types/node line, and
// TypeScript 5, is installed from the registry once, into .cache/, and reused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const repo = join(__dirname, '..', '..');
const tsc = join(repo, 'node_modules', '.bin', 'tsc');
const LINES = ['20', '22', '24', 'latest'];

// What a user writes against the drop-in, and misuses that must stay errors.
const USE = `import * as dgram from 'node:dgram';
import batchgram, { BatchSocket, BatchView, compatStats, createSocket, SocketGroup, type CompatStats } from 'batchgram';

const socket: dgram.Socket = createSocket({ type: 'udp4', reuseAddr: true }, (msg, rinfo) => {
  console.log(msg.length, rinfo.address, rinfo.port);
});
const stats: CompatStats | null = compatStats(socket);
socket.bind(0, '127.0.0.1', () => socket.close());
console.log(stats?.sendQueue, batchgram.createSocket === createSocket);
// @ts-expect-error: not a socket type
createSocket('udp5');
// @ts-expect-error: views are made by a socket's reads
new BatchView();
// @ts-expect-error: sockets are made by BatchSocket.bind
new BatchSocket();
// @ts-expect-error: groups are made by bindGroup
new SocketGroup();
`;

/** The directory of .cache/<name> holding `spec`, installed from the registry on first use. */
function cached(name: string, spec: string, installed: string): string {
  const dir = join(repo, '.cache', name);
  if (!existsSync(join(dir, 'node_modules', installed, 'package.json'))) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--prefer-offline', spec],
      { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `npm install ${spec}:\n${r.stdout}\n${r.stderr}`);
  }
  return dir;
}

/** How a project resolves modules: its file, compiler options, and the TypeScript that compiles it. */
interface Resolution { file: string; options: Record<string, unknown>; typescript5?: true }

const RESOLUTIONS: Record<string, Resolution> = {
  'nodenext, ESM': { file: 'use.mts', options: { module: 'nodenext', moduleResolution: 'nodenext' } },
  'nodenext, CommonJS': { file: 'use.cts', options: { module: 'nodenext', moduleResolution: 'nodenext' } },
  commonjs: { file: 'use.ts', options: { module: 'commonjs' } },
  bundler: { file: 'use.ts', options: { module: 'preserve', moduleResolution: 'bundler' } },
  'node10, TypeScript 5': { file: 'use.ts', options: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, typescript5: true },
};

// The sanitizer run (BATCHGRAM_ADDON set) is about the addon; the declarations are checked once, here.
const skip = process.env.BATCHGRAM_ADDON ? 'the sanitizer run checks the addon, not the declarations' : false;

describe('the declarations in a strict project, with each @types/node line', { skip }, () => {
  let work: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'batchgram-types-'));
    // batchgram as installed, where each project (a folder of work) finds it: its package.json and declarations.
    const pkg = join(work, 'node_modules', 'batchgram');
    cpSync(join(repo, 'dist', 'src'), join(pkg, 'dist', 'src'),
      { recursive: true, filter: (f) => !f.endsWith('.js') && !f.endsWith('.map') });
    writeFileSync(join(pkg, 'package.json'), readFileSync(join(repo, 'package.json')));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const line of LINES) {
    for (const [how, { file, options, typescript5 }] of Object.entries(RESOLUTIONS)) {
      it(`@types/node@${line}, ${how}: compiles, and a misuse is still an error`, () => {
        const types = join(cached(join('types-node', line), `@types/node@${line}`, '@types/node'), 'node_modules', '@types');
        const version = JSON.parse(readFileSync(join(types, 'node', 'package.json'), 'utf8')).version;
        const compiler = typescript5 ? join(cached('typescript-5', 'typescript@5', 'typescript'), 'node_modules', '.bin', 'tsc') : tsc;
        const project = mkdtempSync(join(work, `${line}-`));
        writeFileSync(join(project, file), USE);
        writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
          compilerOptions: { ...options, target: 'es2022', strict: true, skipLibCheck: false, noEmit: true, types: ['node'], typeRoots: [types] },
          files: [file],
        }));
        const r = spawnSync(compiler, ['-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
        assert.equal(r.status, 0, `tsc (${how}) with @types/node ${version}:\n${r.stdout}\n${r.stderr}`);
      });
    }
  }
});
