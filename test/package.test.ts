// The package as users load it: by name, from ESM and from CommonJS.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '..', '..');
const exported = [
  'BatchSocket', 'BatchView', 'GeneveHeader', 'GeneveError', 'GSODisabledError', 'IDEAL_BATCH_SIZE',
  'GENEVE_FIXED_HEADER_LENGTH', 'GENEVE_PROTOCOL_DISCO', 'GENEVE_PROTOCOL_WIREGUARD', 'MIN_CONTROL_MESSAGE_SIZE',
  'UDP_MAX_SEGMENTS', 'MAX_IPV4_PAYLOAD', 'MAX_IPV6_PAYLOAD', 'BATCH_SIZE_ENV', 'NEVER_GSO_EQUAL_TAIL_SENTINEL',
  'Counter', 'getCounter', 'counters', 'createSocket', 'compatStats', 'Socket',
  'BatchgramError', 'ControlMessageError', 'CODES',
];

function run(args: string[]): string {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe('package', () => {
  it('exports the same API by name to ESM and CommonJS', () => {
    const names = JSON.stringify(exported);
    const esm = run(['--input-type=module', '-e', `
      import * as m from 'batchgram';
      import { BatchSocket } from 'batchgram';
      console.log(JSON.stringify(${names}.filter((n) => m[n] === undefined)), typeof BatchSocket.bind);
    `]);
    assert.equal(esm, '[] function');
    const cjs = run(['-e', `
      const m = require('batchgram');
      console.log(JSON.stringify(${names}.filter((n) => m[n] === undefined)), typeof m.BatchSocket.bind);
    `]);
    assert.equal(cjs, '[] function');
  });
});

describe('package.json and CHANGELOG.md', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

  it('say where the project lives, one repository for all three addresses, and what it is about', () => {
    const repo = /^git\+(https:\/\/github\.com\/[\w.-]+\/[\w.-]+)\.git$/.exec(pkg.repository?.url)?.[1];
    assert.ok(repo !== undefined && pkg.repository.type === 'git', JSON.stringify(pkg.repository));
    assert.deepEqual([pkg.homepage, pkg.bugs?.url], [`${repo}#readme`, `${repo}/issues`]);
    assert.ok(Array.isArray(pkg.keywords) && pkg.keywords.includes('dgram') && pkg.keywords.includes('udp'), String(pkg.keywords));
  });

  it("the changelog has an entry for the package's version, newest first", () => {
    const versions = [...readFileSync(join(root, 'CHANGELOG.md'), 'utf8').matchAll(/^## (\d+\.\d+\.\d+)\b/gm)].map((m) => m[1]);
    assert.equal(versions[0], pkg.version);
  });
});

describe('README', () => {
  it('links only to absolute addresses, which work on the registry page as well as in the repository, or to its headings', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)]*)\)/g)].map((m) => m[1]);
    // A heading's anchor as GitHub and the registry make it: lower case, punctuation dropped, spaces as dashes.
    const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => `#${m[1].toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')}`));
    assert.deepEqual(targets.filter((t) => !/^https:\/\//.test(t) && !anchors.has(t)), []);
  });
});
