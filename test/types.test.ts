// The package's declarations as a user's strict TypeScript project compiles
// them (skipLibCheck off), against each @types/node line a user may have: 20,
// 22, 24 and the newest. dgram's Socket grows from line to line (bindSync and
// connectSync in 24) and the drop-in's socket implements it, so a member it
// lacks breaks the user's build, never ours (which compiles against 20 and
// skips library checks). Each line is installed from the registry once, into
// .cache/types-node/<line>, and reused from there.
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

/** The directory holding @types/node of `line`, installed on first use. */
function typesNode(line: string): string {
  const dir = join(repo, '.cache', 'types-node', line);
  if (!existsSync(join(dir, 'node_modules', '@types', 'node', 'package.json'))) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--prefer-offline', `@types/node@${line}`],
      { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `npm install @types/node@${line}:\n${r.stdout}\n${r.stderr}`);
  }
  return dir;
}

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
    it(`@types/node@${line}: compiles, and a misuse is still an error`, () => {
      const types = typesNode(line);
      const version = JSON.parse(readFileSync(join(types, 'node_modules', '@types', 'node', 'package.json'), 'utf8')).version;
      const project = join(work, line);
      mkdirSync(project);
      writeFileSync(join(project, 'use.ts'), USE);
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: false, noEmit: true,
          types: ['node'], typeRoots: [join(types, 'node_modules', '@types')],
        },
        files: ['use.ts'],
      }));
      const r = spawnSync(tsc, ['-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `tsc with @types/node ${version}:\n${r.stdout}\n${r.stderr}`);
    });
  }
});
