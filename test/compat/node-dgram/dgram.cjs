'use strict';
// The module that `dgram` / `node:dgram` become under the mapping: node:dgram's
// exports with createSocket and Socket taken from batchgram. Everything else
// (_createSocketHandle) stays node:dgram's, since batchgram offers no
// counterpart. BATCHGRAM_ROOT names the package to test (default: this repo).
const path = require('node:path');

const root = process.env.BATCHGRAM_ROOT || path.resolve(__dirname, '..', '..', '..');
const batchgram = require(root);
const dgram = require('node:dgram');

// Spelled out so that `import { createSocket } from 'node:dgram'` finds the names.
exports.createSocket = batchgram.createSocket;
exports.Socket = batchgram.Socket;
exports._createSocketHandle = dgram._createSocketHandle;
for (const name of Object.keys(dgram)) if (!(name in exports)) exports[name] = dgram[name];
