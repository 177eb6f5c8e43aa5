// Module hooks registered by ./preload.cjs: `import ... from 'dgram'` and
// `'node:dgram'` resolve to ./dgram.cjs (as CommonJS, so it is the same
// instance require() returns), except from batchgram's own files.
let mapped;
let exempt = [];

export function initialize(data) {
  mapped = data.mapped;
  exempt = data.exempt;
}

export async function resolve(specifier, context, next) {
  if ((specifier === 'dgram' || specifier === 'node:dgram') &&
      !exempt.some((dir) => context.parentURL?.startsWith(dir))) {
    return { url: mapped, format: 'commonjs', shortCircuit: true };
  }
  return next(specifier, context);
}
