// Where node-gyp and the Node.js headers are, for build.mjs (the install step)
// and scripts/prebuild.mjs (the prebuilt binaries at `npm pack`). Nothing is ever
// downloaded: the headers come from a Node.js installation on this machine.
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';

/**
 * npm exports the path of its bundled node-gyp to lifecycle scripts; outside
 * npm, the copy beside npm itself.
 */
export function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return process.env.npm_config_node_gyp;
  }
  const npmDir = resolve(dirname(process.execPath), '../lib/node_modules/npm');
  return createRequire(join(npmDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
}

/**
 * The Node.js installation whose headers to build against, as node-gyp takes
 * it: `--nodedir DIR` or `--nodedir=DIR` among `args`, else npm's `nodedir`
 * setting (npm_config_nodedir), else the prefix of the Node.js running this.
 * Returns the directory and `args` without the option.
 */
export function nodeDir(args) {
  const rest = [];
  let dir = process.env.npm_config_nodedir || resolve(process.execPath, '../..');
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--nodedir' && i + 1 < args.length) dir = args[++i];
    else if (args[i].startsWith('--nodedir=')) dir = args[i].slice('--nodedir='.length);
    else rest.push(args[i]);
  }
  return { dir: resolve(dir), rest };
}

/** Node-API headers under `dir`, or why not. */
export function headersMissing(dir) {
  return existsSync(join(dir, 'include/node/node_api.h')) ? null : `no Node.js headers under ${dir}/include/node (give --nodedir)`;
}

/** Whether `command` would run: a path that is executable, or a name found on PATH. */
export function runnable(command) {
  const paths = command.includes('/') ? [command]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir || '.', command));
  return paths.some((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
