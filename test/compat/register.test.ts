// batchgram/register: one switch batches every node:dgram socket of a
// process, made by the application or its dependencies, from CommonJS or
// ESM, whichever way the switch is given; a socket can be left out; and the
// switch says so once on stderr. Each case is a child process of its own.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { binding } from '../../src/kernel/native';

const repo = join(__dirname, '..', '..', '..');
const linux = process.platform === 'linux' && binding !== null;

// A project with batchgram installed (a link to this repository) and a
// dependency, `radio`, that makes sockets of its own, in both module systems.
// Each program prints, per socket, whether batchgram made it and whether a
// datagram went through it.
const RADIO_CJS = `
const dgram = require('node:dgram');
exports.viaCreate = () => dgram.createSocket('udp4');
exports.Server = class Server extends dgram.Socket {
  constructor() { super('udp4'); }
  get kind() { return 'radio server'; }
};
`;
const RADIO_ESM = `
import { createSocket } from 'node:dgram';
export const viaCreate = () => createSocket({ type: 'udp4' });
`;
const CHECK = `
function check(name, s) {
  if (!(s instanceof dgram.Socket)) throw new Error(name + ': not instanceof dgram.Socket');
  return new Promise((resolve) => {
    s.on('message', () => { s.close(); resolve([name, compatStats(s) !== null]); });
    s.bind(0, '127.0.0.1', () => s.send('ping', s.address().port, '127.0.0.1'));
  });
}
`;
const APP_CJS = `
const dgram = require('node:dgram');
const { compatStats } = require('batchgram');
${CHECK}
Promise.all([
  check('app', dgram.createSocket('udp4')),
  check('app, batching: false', dgram.createSocket({ type: 'udp4', batching: false })),
  check('dependency', require('radio').viaCreate()),
  check('new dgram.Socket', new dgram.Socket('udp4')),
  check('subclass', (() => { const s = new (require('radio').Server)(); if (s.kind !== 'radio server') throw new Error('lost its getter'); return s; })()),
]).then((r) => console.log(JSON.stringify(Object.fromEntries(r))));
`;
const APP_ESM = `
import dgram, { createSocket } from 'node:dgram';
import { compatStats } from 'batchgram';
import { viaCreate } from 'radio/esm.mjs';
${CHECK}
const r = await Promise.all([
  check('named import', createSocket('udp4')),
  check('default import', dgram.createSocket('udp4')),
  check('dependency', viaCreate()),
  check('new Socket, options and listener', new dgram.Socket({ type: 'udp4' }, () => {})),
]);
console.log(JSON.stringify(Object.fromEntries(r)));
`;

describe('batchgram/register', { skip: linux ? false : 'needs the batch path' }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'batchgram-register-'));
    mkdirSync(join(dir, 'node_modules', 'radio'), { recursive: true });
    symlinkSync(repo, join(dir, 'node_modules', 'batchgram'));
    writeFileSync(join(dir, 'node_modules', 'radio', 'package.json'), JSON.stringify({ name: 'radio', main: 'index.js' }));
    writeFileSync(join(dir, 'node_modules', 'radio', 'index.js'), RADIO_CJS);
    writeFileSync(join(dir, 'node_modules', 'radio', 'esm.mjs'), RADIO_ESM);
    writeFileSync(join(dir, 'app.cjs'), APP_CJS);
    writeFileSync(join(dir, 'app.mjs'), APP_ESM);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function run(args: string[], env: NodeJS.ProcessEnv = {}): { sockets: Record<string, boolean>; stderr: string } {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(BATCHGRAM_|NODE_OPTIONS$)/.test(k)));
    const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 20_000, env: { ...clean, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return { sockets: JSON.parse(r.stdout.trim().split('\n').pop()!), stderr: r.stderr };
  }

  /** The CommonJS program's sockets, none batched: what it prints without the switch. */
  const CJS = { app: false, 'app, batching: false': false, dependency: false, 'new dgram.Socket': false, subclass: false };
  const ON = 'batchgram: node:dgram sockets of this process are batched (batchgram/register); BATCHGRAM_QUIET=1 hides this line\n';

  it('--require: the application\'s and a dependency\'s sockets are batchgram\'s, but one asking for batching: false', () => {
    const { sockets, stderr } = run(['--require', 'batchgram/register', 'app.cjs']);
    assert.deepEqual(sockets, { ...CJS, app: true, dependency: true, 'new dgram.Socket': true, subclass: true });
    assert.equal(stderr, ON);
  });

  it('--import: named and default imports of node:dgram, in the application and a dependency', () => {
    const { sockets, stderr } = run(['--import', 'batchgram/register', 'app.mjs']);
    assert.deepEqual(sockets, { 'named import': true, 'default import': true, dependency: true, 'new Socket, options and listener': true });
    assert.equal(stderr, ON);
  });

  it('through NODE_OPTIONS, and quiet with BATCHGRAM_QUIET=1', () => {
    const { sockets, stderr } = run(['app.cjs'], { NODE_OPTIONS: '--require batchgram/register', BATCHGRAM_QUIET: '1' });
    assert.deepEqual(sockets, { ...CJS, app: true, dependency: true, 'new dgram.Socket': true, subclass: true });
    assert.equal(stderr, '');
  });

  it('BATCHGRAM_EXCLUDE leaves a package\'s sockets on node:dgram, made either way, from either module system', () => {
    const cjs = run(['--require', 'batchgram/register', 'app.cjs'], { BATCHGRAM_EXCLUDE: 'radio' });
    assert.deepEqual(cjs.sockets, { ...CJS, app: true, 'new dgram.Socket': true });
    assert.match(cjs.stderr, /batched \(batchgram\/register, except radio\)/);
    const esm = run(['--import', 'batchgram/register', 'app.mjs'], { BATCHGRAM_EXCLUDE: 'radio' });
    assert.deepEqual(esm.sockets, { 'named import': true, 'default import': true, dependency: false, 'new Socket, options and listener': true });
  });

  it('without the switch nothing changes', () => {
    assert.deepEqual(run(['app.cjs']).sockets, CJS);
  });
});
