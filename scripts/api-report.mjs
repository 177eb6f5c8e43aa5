// The public API report (api/batchgram.api.md): every name the package
// exports, with its declaration as the built .d.ts files state it, and every
// declaration those name that the package does not export by name, which its
// users see all the same (a base interface, an event map, a parameter's type).
// test/api.test.ts fails while the built declarations differ from the
// committed report, so a change of the public surface is a change of the
// report, seen in review.
//
//   node scripts/api-report.mjs            writes the report from dist/ (build first)
//   node scripts/api-report.mjs --check    prints the difference, exits 1 when there is one
//
// TypeScript 7's compiler has no stable JavaScript API (only `unstable/*`
// entry points to the native compiler), so the declarations are read as
// text. tsc emits them in a regular form: top-level statements end with `;`
// or, for class, interface and enum, with their closing brace. What this
// reader does not know (namespaces, several declarators in one statement,
// `export =`) is an error, never a silent omission.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the report lives, from the repository's root. */
export const REPORT = 'api/batchgram.api.md';
const ENTRY = 'dist/src/index.d.ts';
const UPDATE = 'npm run api';

/** The index just past the string or template literal that starts at `i`. */
function stringEnd(text, i) {
  const quote = text[i];
  for (let j = i + 1, braces = 0; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (quote === '`' && c === '$' && text[j + 1] === '{') { braces++; j++; }
    else if (quote === '`' && c === '}' && braces > 0) braces--;
    else if (c === quote && braces === 0) return j + 1;
  }
  throw new Error(`unterminated string at ${i}`);
}

/** `text` without comments (the doc comments are not the API; strings stay). */
function withoutComments(text) {
  let out = '';
  for (let i = 0; i < text.length;) {
    if (text.startsWith('//', i)) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`unterminated comment at ${i}`);
      i = end + 2;
    } else if (`'"\``.includes(text[i])) {
      const end = stringEnd(text, i);
      out += text.slice(i, end);
      i = end;
    } else out += text[i++];
  }
  return out;
}

/** `text` with each string literal emptied, for looking at its code alone. */
function withoutStrings(text) {
  let out = '';
  for (let i = 0; i < text.length;) {
    if (`'"\``.includes(text[i])) {
      const end = stringEnd(text, i);
      out += '""';
      i = end;
    } else out += text[i++];
  }
  return out;
}

const BLOCK = /^(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:const\s+)?(class|interface|enum|namespace|module|global)\b/;

/**
 * The top-level statements of a declaration file, comments removed, each
 * with its lines' trailing blanks and its blank lines dropped. Depth counts
 * brackets and generics' angle brackets (an arrow's `>` aside): a comma at
 * depth 0 separates declarators.
 */
function statements(text, file) {
  const out = [];
  const code = withoutComments(text);
  let start = 0, depth = 0, topComma = false;
  const end = (i) => {
    const statement = code.slice(start, i).split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '').join('\n').trim();
    out.push({ text: statement, topComma });
    start = i;
    topComma = false;
  };
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (`'"\``.includes(c)) { i = stringEnd(code, i) - 1; continue; }
    if ('({[<'.includes(c)) depth++;
    else if (')]}'.includes(c) || (c === '>' && code[i - 1] !== '=')) {
      depth--;
      if (depth < 0) throw new Error(`${file}: unbalanced '${c}' at ${i}`);
      if (depth === 0 && c === '}' && BLOCK.test(code.slice(start, i).trimStart())) end(i + 1);
    } else if (depth === 0 && c === ';') end(i + 1);
    else if (depth === 0 && c === ',') topComma = true;
  }
  if (code.slice(start).trim() !== '') throw new Error(`${file}: a statement without an end: ${code.slice(start).trim()}`);
  return out;
}

/** `a`, `type a`, `a as b` of an import or export list. */
function specifiers(list) {
  return list.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const m = /^(type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(s);
    if (m === null) throw new Error(`cannot read the specifier '${s}'`);
    return { typeOnly: m[1] !== undefined, name: m[2], as: m[3] ?? m[2] };
  });
}

/** One declaration file: its declarations by name, its imports, its export statements. */
function parseModule(file) {
  const declarations = new Map(), imports = new Map(), exportStatements = [];
  for (const { text, topComma } of statements(readFileSync(file, 'utf8'), file)) {
    const flat = text.replace(/\s+/g, ' ');
    let m;
    if ((m = /^import (type )?(.*?) from (['"])(.+)\3;$/.exec(flat))) {
      const typeOnly = m[1] !== undefined, from = m[4];
      const clause = m[2];
      const star = /^(?:([\w$]+), )?\* as ([\w$]+)$/.exec(clause);
      if (star) {
        if (star[1]) imports.set(star[1], { from, name: 'default', typeOnly });
        imports.set(star[2], { from, name: '*', typeOnly });
        continue;
      }
      const named = /^(?:([\w$]+)(?:, )?)?(?:\{(.*)\})?$/.exec(clause);
      if (named === null) throw new Error(`${file}: cannot read ${flat}`);
      if (named[1]) imports.set(named[1], { from, name: 'default', typeOnly });
      for (const s of specifiers(named[2] ?? '')) imports.set(s.as, { from, name: s.name, typeOnly: typeOnly || s.typeOnly });
    } else if ((m = /^export (type )?\{(.*)\}(?: from (['"])(.+)\3)?;$/.exec(flat))) {
      exportStatements.push({ kind: 'list', typeOnly: m[1] !== undefined, specifiers: specifiers(m[2]), from: m[4] });
    } else if ((m = /^export \*(?: as ([\w$]+))? from (['"])(.+)\2;$/.exec(flat))) {
      exportStatements.push({ kind: 'star', as: m[1], from: m[3] });
    } else if ((m = /^export default ([\w$]+);$/.exec(flat))) {
      exportStatements.push({ kind: 'list', typeOnly: false, specifiers: [{ typeOnly: false, name: m[1], as: 'default' }] });
    } else if ((m = /^(export )?(?:declare )?(?:abstract )?(?:const (?=enum))?(class|interface|enum|type|function|const|let|var) ([\w$]+)/.exec(flat))) {
      const [, exported, kind, name] = m;
      if ('const let var'.includes(kind) && topComma) throw new Error(`${file}: several declarators in one statement: ${flat}`);
      if (!declarations.has(name)) declarations.set(name, []);
      declarations.get(name).push(text);
      if (exported) exportStatements.push({ kind: 'list', typeOnly: false, specifiers: [{ typeOnly: false, name, as: name }] });
    } else throw new Error(`${file}: a statement this report cannot read: ${flat}`);
  }
  return { file, declarations, imports, exportStatements };
}

/** Reads declaration files on demand and resolves names through imports and exports. */
class Surface {
  #modules = new Map();
  #exports = new Map();

  constructor(root) { this.root = root; }

  module(file) {
    let m = this.#modules.get(file);
    if (m === undefined) this.#modules.set(file, m = parseModule(file));
    return m;
  }

  /** The declaration file a specifier names from `file`, or null for another package's module. */
  resolve(file, from) {
    if (!from.startsWith('.')) return null;
    const base = resolve(dirname(file), from.replace(/\.js$/, ''));
    for (const candidate of [`${base}.d.ts`, join(base, 'index.d.ts')]) if (existsSync(candidate)) return candidate;
    throw new Error(`${relative(this.root, file)}: '${from}' names no declaration file`);
  }

  /**
   * What a name of module `file` is: { symbol, typeOnly }, the symbol being
   * a declaration { file, name }, a namespace { namespace: file }, or
   * another package's { external, name }; undefined if it is not in scope.
   */
  local(file, name) {
    const m = this.module(file);
    if (m.declarations.has(name)) return { symbol: { file, name }, typeOnly: false };
    const imported = m.imports.get(name);
    if (imported === undefined) return undefined;
    const target = this.resolve(file, imported.from);
    if (target === null) return { symbol: { external: imported.from, name: imported.name }, typeOnly: imported.typeOnly };
    if (imported.name === '*') return { symbol: { namespace: target }, typeOnly: imported.typeOnly };
    const exported = this.exports(target).get(imported.name);
    if (exported === undefined) {
      throw new Error(`${relative(this.root, file)} imports ${imported.name} from '${imported.from}', which does not export it ` +
        '(marked @internal, and so stripped?)');
    }
    return { symbol: exported.symbol, typeOnly: imported.typeOnly || exported.typeOnly };
  }

  /** The names module `file` exports, each as `local` describes it. */
  exports(file) {
    let out = this.#exports.get(file);
    if (out !== undefined) return out;
    this.#exports.set(file, out = new Map());
    const stars = [];
    for (const e of this.module(file).exportStatements) {
      if (e.kind === 'star') { stars.push(e); continue; }
      const target = e.from === undefined ? undefined : this.resolve(file, e.from);
      for (const s of e.specifiers) {
        let found;
        if (target === undefined) found = this.local(file, s.name);
        else if (target === null) found = { symbol: { external: e.from, name: s.name }, typeOnly: false };
        else found = this.exports(target).get(s.name);
        if (found === undefined) throw new Error(`${relative(this.root, file)} exports ${s.name}, which it cannot find`);
        out.set(s.as, { symbol: found.symbol, typeOnly: found.typeOnly || e.typeOnly || s.typeOnly });
      }
    }
    // Names a module states itself win over those `export *` brings, as in TypeScript.
    for (const e of stars) {
      const target = this.resolve(file, e.from);
      if (target === null) throw new Error(`${relative(this.root, file)}: export * from another package ('${e.from}')`);
      if (e.as !== undefined) { out.set(e.as, { symbol: { namespace: target }, typeOnly: false }); continue; }
      for (const [name, found] of this.exports(target)) if (name !== 'default' && !out.has(name)) out.set(name, found);
    }
    return out;
  }

  /** The declarations of this package that a declaration's text names, resolved in its module. */
  references(file, text) {
    const out = [];
    const add = (found) => { if (found?.symbol.file !== undefined) out.push(found.symbol); };
    // import("./x").Name, as tsc writes a type it has no import for.
    const code = text.replace(/import\(\s*(['"])([^'"]+)\1\s*\)\s*\.\s*([\w$]+)/g, (_, _q, from, name) => {
      const target = this.resolve(file, from);
      if (target !== null) add(this.exports(target).get(name));
      return '';
    });
    const bare = withoutStrings(code);
    // Names and qualified names (ns.Name), but for members (after a dot or #)
    // and what is followed by `:`, `?:` or `(`: a property, a parameter or a
    // method (a conditional type's `? T :` names a type).
    for (const m of bare.matchAll(/[A-Za-z_$#.][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*/g)) {
      if ('#.'.includes(m[0][0])) continue;
      const before = bare.slice(0, m.index).trimEnd(), after = bare.slice(m.index + m[0].length);
      if (/^\s*\??\s*[:(]/.test(after) && !before.endsWith('?')) continue;
      const [first, ...rest] = m[0].split('.').map((s) => s.trim());
      let found = this.local(file, first);
      for (const part of rest) {
        if (found?.symbol.namespace === undefined) break;
        found = this.exports(found.symbol.namespace).get(part);
      }
      add(found);
    }
    return out;
  }
}

const key = (symbol) => `${symbol.file}#${symbol.name}`;
const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** The report of the built declarations under `root`/dist. */
export function apiReport(root = repo) {
  const surface = new Surface(root);
  const entry = join(root, ENTRY);
  const where = (file) => relative(join(root, 'dist', 'src'), file);
  const exported = [...surface.exports(entry)].sort(([a], [b]) => byName(a, b));
  const shown = new Set(exported.map(([, e]) => e.symbol).filter((s) => s.file !== undefined).map(key));
  const fence = (texts) => ['```ts', ...texts, '```', ''];
  const lines = [
    '# The public API of batchgram',
    '',
    `Made by \`${UPDATE}\` (scripts/api-report.mjs) from the built declarations, ${ENTRY} and the files it`,
    'imports, doc comments left out; test/api.test.ts fails while they differ from this file. A change here is a',
    'change of what users of the package can name and call.',
    '',
    '## Exported',
    '',
  ];
  const reached = [];
  const declaration = (symbol) => {
    const texts = surface.module(symbol.file).declarations.get(symbol.name);
    for (const text of texts) {
      for (const ref of surface.references(symbol.file, text)) {
        if (!shown.has(key(ref))) { shown.add(key(ref)); reached.push(ref); }
      }
    }
    return texts;
  };
  for (const [name, { symbol, typeOnly }] of exported) {
    const only = typeOnly ? ', as a type only' : '';
    if (symbol.namespace !== undefined) {
      lines.push(`### \`${name}\``, '', `The namespace of ${where(symbol.namespace)}: the names it exports${only}.`, '');
    } else if (symbol.external !== undefined) {
      lines.push(`### \`${name}\``, '', `\`${symbol.name}\` of '${symbol.external}'${only}.`, '');
    } else {
      const as = symbol.name === name ? '' : `, declared as \`${symbol.name}\``;
      lines.push(`### \`${name}\``, '', `${where(symbol.file)}${as}${only}`, '', ...fence(declaration(symbol)));
    }
  }
  lines.push('## Reached, not exported', '',
    'Declarations the exported ones name, which users meet without being able to import them by name.', '');
  const sections = [];
  for (let i = 0; i < reached.length; i++) {
    const symbol = reached[i];
    sections.push({ sort: `${symbol.name} ${where(symbol.file)}`, lines: [`### \`${symbol.name}\``, '', where(symbol.file), '', ...fence(declaration(symbol))] });
  }
  for (const s of sections.sort((a, b) => byName(a.sort, b.sort))) lines.push(...s.lines);
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The lines of `before` and `after` that differ, as - and + lines with two lines of context. */
function lineDiff(before, after) {
  const a = before.split('\n'), b = after.split('\n');
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const ops = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) { ops.push(` ${a[i]}`); i++; j++; }
    else if (j < b.length && (i === a.length || lcs[i][j + 1] >= lcs[i + 1][j])) ops.push(`+${b[j++]}`);
    else ops.push(`-${a[i++]}`);
  }
  const near = (k) => ops.slice(Math.max(0, k - 2), k + 3).some((op) => op[0] !== ' ');
  const out = [];
  ops.forEach((op, k) => {
    if (near(k)) out.push(op);
    else if (out.at(-1) !== '...') out.push('...');
  });
  return out.join('\n');
}

/** Null when the committed report is the built surface's, else what differs and how to update it. */
export function checkReport(root = repo) {
  const file = join(root, REPORT);
  const committed = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const built = apiReport(root);
  if (committed === built) return null;
  return `The public API (${ENTRY}) differs from ${REPORT} (- committed, + built):\n\n${lineDiff(committed, built)}\n\n` +
    `If the change is meant, run \`${UPDATE}\` (it builds, then writes the report) and commit ${REPORT}.`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const difference = checkReport();
    if (difference !== null) {
      console.error(difference);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(join(repo, REPORT), apiReport());
    console.log(`wrote ${REPORT}`);
  }
}
