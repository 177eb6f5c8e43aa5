// The drop-in in cluster workers, judged by node:dgram: each scenario of
// cluster-scenario.ts runs once with node:dgram's sockets in the workers and
// once with createSocket's, and the records must be equal; createSocket's
// sockets batch in every case (a worker's own socket, and the primary's shared
// one), dgram's never.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const linux = process.platform === 'linux';
const SCENARIO = join(__dirname, 'cluster-scenario.js');

function run(impl: 'dgram' | 'batchgram', scenario: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, [SCENARIO, impl, scenario], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `${impl} ${scenario}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** The record with whether each socket batched taken out, and those flags. */
function split(record: Record<string, unknown>): { record: unknown; batched: unknown[] } {
  const batched: unknown[] = [];
  const text = JSON.stringify(record, (k, v: unknown) => {
    if (k === 'batched') {
      batched.push(v);
      return undefined;
    }
    return v;
  });
  return { record: JSON.parse(text), batched };
}

// reusePort is dgram's from Node 22.12 on; before it dgram ignores it.
const [major, minor] = process.versions.node.split('.').map(Number);
const dgramHasReusePort = major > 22 || (major === 22 && minor >= 12);

describe('createSocket in cluster workers, against node:dgram', { skip: !linux && 'Linux only' }, () => {
  const cases: Array<[scenario: string, what: string, sockets: number]> = [
    ['shared', 'two workers binding one address share the primary\'s socket; every datagram arrives; closed, the port is free', 2],
    ['exclusive', 'bind({ exclusive: true }) gives each worker a socket of its own', 2],
    ['conflict', 'a bind the primary cannot make fails in the worker with the primary\'s error', 1],
    ['implicit', 'a send from an unbound socket binds it exclusively, and the datagram arrives', 1],
    ['reusePort', 'reusePort: two workers\' sockets of their own on one port; every datagram arrives', 2],
    ['disconnect', 'cluster.disconnect() closes the workers\' shared sockets, and the workers exit', 2],
  ];
  for (const [scenario, what, sockets] of cases) {
    it(what, () => {
      const ours = split(run('batchgram', scenario));
      assert.deepEqual(ours.batched, Array(sockets).fill(true), 'every socket batched');
      if (scenario === 'reusePort' && !dgramHasReusePort) {
        assert.deepEqual(ours.record, {
          bound: [{ ev: 'listening', port: 'port0' }, { ev: 'listening', port: 'port0' }], received: 20, rebind: 'listening',
        });
        return;
      }
      const theirs = split(run('dgram', scenario));
      assert.deepEqual(theirs.batched, Array(sockets).fill(false));
      assert.deepEqual(ours.record, theirs.record);
    });
  }
});
