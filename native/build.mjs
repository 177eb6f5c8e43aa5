// Builds the addon at `npm install` with the node-gyp that npm ships, against
// the headers of the Node.js that runs it: nothing is downloaded. The addon
// speaks Linux system calls (recvmmsg, sendmmsg, UDP_SEGMENT, UDP_GRO); on other
// systems there is nothing to build and batchgram runs on node:dgram.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

if (process.platform !== 'linux') {
  console.log(`batchgram: no native addon on ${process.platform}; sockets use node:dgram (capabilities all false)`);
  process.exit(0);
}

// npm exports the path of its bundled node-gyp to lifecycle scripts; outside
// npm, find the copy beside npm itself.
function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return process.env.npm_config_node_gyp;
  }
  const npmDir = resolve(dirname(process.execPath), '../lib/node_modules/npm');
  return createRequire(join(npmDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
}

const nodedir = resolve(process.execPath, '../..');
if (!existsSync(join(nodedir, 'include/node/node_api.h'))) {
  console.error(`batchgram: Node.js headers not found under ${nodedir}/include/node`);
  process.exit(1);
}

const extra = process.argv.slice(2); // e.g. --debug, or CFLAGS via the environment
const r = spawnSync(process.execPath, [nodeGyp(), 'rebuild', `--nodedir=${nodedir}`, ...extra], {
  cwd: here,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
