/**
 * Every document the code and the docs point at is in the repository
 * (issue 18; docs/conventions.md §2): a person who clones it can follow any
 * reference. Scans the text files of src/, testkit/, test/, bench/, native/, deploy/
 * and docs/, and README.md and BENCHMARKS.md, for
 *
 *  - a Markdown document named anywhere (`SOURCES.md`, `protocol.md`) that
 *    no file of the repository carries: design notes kept elsewhere must
 *    not be cited, only what a clone can open;
 *  - `docs/<name>.md` where no such file exists in docs/;
 *  - a section number after a docs file (`protocol.md §3.5`, also in lists
 *    such as `§4, §6`) that no heading of that file carries;
 *  - a quoted heading right after a docs file (`architecture.md "Chat"`)
 *    that no heading of that file contains;
 *  - a repository path of a source or document file (`src/node/node.ts`,
 *    `test/netns/paths.test.ts`) that does not exist: a comment or a doc
 *    left behind when a file moved. The tests of test/repo/ are left out of
 *    this one (they spell out made-up paths as examples).
 *
 * A failure lists every offending place as file:line with what is wrong.
 * This file itself is not scanned (it spells out made-up examples).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { repoRoot } from '../../testkit/repo-root.js';

/** Folders scanned, relative to the repository root. */
const SCANNED_DIRS = ['src', 'testkit', 'test', 'bench', 'native', 'deploy', 'docs'];
/** Single files scanned at the root. */
const SCANNED_FILES = ['README.md', 'BENCHMARKS.md'];
/** Text files worth reading; vectors (.json) and build output are not. */
const TEXT_EXTENSIONS = ['.ts', '.mjs', '.js', '.cc', '.h', '.md', '.gyp', '.service', '.sh', '.py', '.yaml', '.yml'];
/** Folders never scanned: compiled or fetched code. */
const SKIPPED_DIRS = new Set(['node_modules', 'build']);

const ROOT = repoRoot();
const DOCS_DIR = join(ROOT, 'docs');
/** This test's source, left out of the scan. */
const SELF = join('test', 'repo', 'doc-references.test.ts');

function textFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIPPED_DIRS.has(e.name)) out.push(...textFiles(p));
    } else if (TEXT_EXTENSIONS.some((x) => e.name.endsWith(x))) {
      out.push(p);
    }
  }
  return out;
}

interface Scanned {
  /** Repository-relative, '/'-separated. */
  rel: string;
  text: string;
}

function scannedFiles(): Scanned[] {
  const abs = [...SCANNED_DIRS.flatMap((d) => textFiles(join(ROOT, d))), ...SCANNED_FILES.map((f) => join(ROOT, f)).filter((f) => existsSync(f))];
  return abs
    .map((p) => relative(ROOT, p))
    .filter((rel) => rel !== SELF)
    .sort()
    .map((rel) => ({ rel: rel.split(sep).join('/'), text: readFileSync(join(ROOT, rel), 'utf8') }));
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

interface DocHeadings {
  /** Section numbers of the headings: '3', '3.5', '3.5.1'. */
  numbers: Set<string>;
  /** Heading texts without the leading '#'s. */
  titles: string[];
}

/** The docs/*.md files and their headings, by file name ('protocol.md'). */
function docHeadings(): Map<string, DocHeadings> {
  const out = new Map<string, DocHeadings>();
  for (const name of readdirSync(DOCS_DIR).filter((n) => n.endsWith('.md'))) {
    const numbers = new Set<string>();
    const titles: string[] = [];
    for (const line of readFileSync(join(DOCS_DIR, name), 'utf8').split('\n')) {
      const h = /^#{1,6}\s+(.*)$/.exec(line);
      if (h === null) continue;
      const title = (h[1] as string).trim();
      titles.push(title);
      const n = /^§?(\d+(?:\.\d+)*)\.?(?:\s|$)/.exec(title);
      if (n !== null) numbers.add(n[1] as string);
    }
    out.set(name, { numbers, titles });
  }
  return out;
}

const FILES = scannedFiles();
const DOCS = docHeadings();

test('doc references: scans a plausible set of files', () => {
  assert.ok(FILES.length > 100, `only ${FILES.length} files found under ${ROOT}`);
  assert.ok(DOCS.has('architecture.md') && DOCS.has('conventions.md'), 'docs/architecture.md and docs/conventions.md exist');
});

/** Base names of every Markdown file in the repository (build output and dependencies left out). */
function markdownNames(dir: string, out: Set<string> = new Set()): Set<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIPPED_DIRS.has(e.name) && !e.name.startsWith('.') && !e.name.startsWith('dist')) markdownNames(join(dir, e.name), out);
    } else if (e.name.endsWith('.md')) {
      out.add(e.name);
    }
  }
  return out;
}

test('doc references: every Markdown document named is in the repository', () => {
  const known = markdownNames(ROOT);
  const problems: string[] = [];
  for (const f of FILES) {
    for (const m of f.text.matchAll(/(?<![\w.-])([\w-]+\.md)\b/g)) {
      const name = m[1] as string;
      if (!known.has(name)) {
        problems.push(`${f.rel}:${lineOf(f.text, m.index ?? 0)}: ${name} is not in the repository; point at docs/architecture.md, docs/conventions.md or another document in docs/`);
      }
    }
  }
  assert.equal(problems.length, 0, `\n${problems.join('\n')}`);
});

test('doc references: every docs/<name>.md named exists', () => {
  const problems: string[] = [];
  for (const f of FILES) {
    for (const m of f.text.matchAll(/\bdocs\/([A-Za-z0-9_.-]+?\.md)\b/g)) {
      const name = m[1] as string;
      if (!DOCS.has(name)) problems.push(`${f.rel}:${lineOf(f.text, m.index ?? 0)}: docs/${name} does not exist`);
    }
  }
  assert.equal(problems.length, 0, `\n${problems.join('\n')}`);
});

test('doc references: every section number and quoted heading named exists in its document', () => {
  const problems: string[] = [];
  // A docs file name (with or without docs/), then either §N[, §M | and §M ...] or "Heading"[, "Heading" | and
  // "Heading" ...]; the gaps may run on into the next comment line (' * ', '// ') or close a code span.
  const gap = String.raw`(?:[\s*\x60]|\/\/)+`;
  const more = String.raw`(?:${gap})?(?:,|and)${gap}`;
  const ref = new RegExp(
    String.raw`\b(?:docs\/)?([a-z0-9-]+\.md)${gap}(?:(§\d+(?:\.\d+)*(?:${more}§\d+(?:\.\d+)*)*)|("[^"\n]+"(?:${more}"[^"\n]+")*))`,
    'g',
  );
  for (const f of FILES) {
    for (const m of f.text.matchAll(ref)) {
      const name = m[1] as string;
      const doc = DOCS.get(name);
      if (doc === undefined) continue; // not one of ours (README.md, an RFC file name); the test above covers docs/ names
      const where = `${f.rel}:${lineOf(f.text, m.index ?? 0)}`;
      if (m[2] !== undefined) {
        for (const s of m[2].matchAll(/§(\d+(?:\.\d+)*)/g)) {
          if (!doc.numbers.has(s[1] as string)) problems.push(`${where}: docs/${name} has no section §${s[1] as string}`);
        }
      } else if (m[3] !== undefined) {
        for (const q of m[3].matchAll(/"([^"\n]+)"/g)) {
          const heading = q[1] as string;
          if (!doc.titles.some((t) => t.includes(heading))) problems.push(`${where}: docs/${name} has no heading "${heading}"`);
        }
      }
    }
  }
  assert.equal(problems.length, 0, `\n${problems.join('\n')}`);
});

test('doc references: every repository file path named exists', () => {
  const problems: string[] = [];
  const path = /(?<![\w./-])((?:src|testkit|test|bench|native|deploy)\/[\w./-]*\w\.(?:ts|md|cc|gyp|mjs|service))\b/g;
  for (const f of FILES) {
    if (f.rel.startsWith('test/repo/')) continue;
    for (const m of f.text.matchAll(path)) {
      const named = m[1] as string;
      if (!existsSync(join(ROOT, named))) problems.push(`${f.rel}:${lineOf(f.text, m.index ?? 0)}: ${named} does not exist`);
    }
  }
  assert.equal(problems.length, 0, `\n${problems.join('\n')}`);
});
