'use strict';
// Preload (`node --require preload.cjs`) that makes `dgram` and `node:dgram`
// mean batchgram's drop-in (./dgram.cjs) for the program under test, for
// require() here and for `import` through the hooks in ./loader.mjs.
// batchgram's own files and ./dgram.cjs still get the real node:dgram.
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const mapped = path.join(__dirname, 'dgram.cjs');
const root = process.env.BATCHGRAM_ROOT || path.resolve(__dirname, '..', '..');
// Requests from batchgram's compiled files and from ./dgram.cjs are left alone.
const exempt = [path.join(root, 'dist') + path.sep, mapped];

function wantsReal(parent) {
  const from = parent && parent.filename;
  return typeof from === 'string' && exempt.some((dir) => from.startsWith(dir));
}

// Module._load sees both spellings: 'node:dgram' never reaches
// Module._resolveFilename, so that is not the place to map it.
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if ((request === 'dgram' || request === 'node:dgram') && !wantsReal(parent)) {
    return load.call(this, mapped, parent, isMain);
  }
  return load.call(this, request, parent, isMain);
};

// ES modules: resolve hooks (module.register exists from Node 20.6).
Module.register(pathToFileURL(path.join(__dirname, 'loader.mjs')), {
  data: { mapped: pathToFileURL(mapped).href, exempt: exempt.map((d) => pathToFileURL(d).href) },
});
