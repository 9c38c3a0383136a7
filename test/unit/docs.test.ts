// The README and docs/ are read by newcomers, clients and subscribers: a link that leads nowhere,
// or a sample that the schemas would refuse, misleads them. Checked statically against the tree.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../scripts/stackEnv.ts';
import { validateCommand } from '../../workers/profile/commands.ts';

const root = resolve(projectRoot);
const documents = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(resolve(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
].filter((path) => existsSync(resolve(root, path)));
const read = (path: string) => readFileSync(resolve(root, path), 'utf8');

/** The text outside fenced code blocks, and the fenced blocks with their language. */
function split(markdown: string): { prose: string; blocks: { language: string; body: string }[] } {
  const blocks: { language: string; body: string }[] = [];
  const prose = markdown.replace(/^```(\w*)\n([\s\S]*?)^```$/gm, (_match, language: string, body: string) => {
    blocks.push({ language, body });
    return '';
  });
  return { prose, blocks };
}

/** GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-');
}

function anchorsOf(path: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of split(read(path)).prose.matchAll(/^#{1,6} (.+)$/gm)) {
    const anchor = anchorOf(heading!);
    const count = seen.get(anchor) ?? 0;
    anchors.add(count === 0 ? anchor : `${anchor}-${count}`);
    seen.set(anchor, count + 1);
  }
  return anchors;
}

/** Every relative link of a document's prose (code spans and blocks are not links). */
function relativeLinks(path: string): string[] {
  // A link whose text is code, [`x`](y), keeps its target: only the span goes.
  const prose = split(read(path)).prose.replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map(([, target]) => target!).filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** The top-level JSON values of a block, in order (a block may hold several, one after the other). */
function jsonValues(body: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let index = 0; index < body.length; index++) {
    const char = body[index];
    if (inString) {
      if (char === '\\') index++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{' || char === '[') {
      if (depth === 0) start = index;
      depth++;
    } else if (char === '}' || char === ']') {
      depth--;
      if (depth === 0) values.push(JSON.parse(body.slice(start, index + 1)));
    }
  }
  expect(depth, 'unbalanced JSON block').toBe(0);
  return values;
}

const jsonSamples = (path: string) => split(read(path)).blocks.filter((block) => block.language === 'json').flatMap((block) => jsonValues(block.body) as Record<string, unknown>[]);

const schemaOf = (name: string) => JSON.parse(read(`schemas/${name}.avsc`)) as avro.Schema & { fields: { name: string; type: unknown }[] };
const fieldNames = (schema: { fields: { name: string }[] }) => schema.fields.map((field) => field.name).sort();

describe('the documentation', () => {
  it('has a README a newcomer reads in ten minutes (under 300 lines)', () => {
    expect(read('README.md').split('\n').length).toBeLessThan(300);
  });

  it.each(documents)('%s: every relative link points at a file that exists, and at a heading that exists', (path) => {
    const broken: string[] = [];
    for (const link of relativeLinks(path)) {
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file === '' ? resolve(root, path) : resolve(dirname(resolve(root, path)), decodeURI(file));
      if (!target.startsWith(root) || !existsSync(target)) {
        broken.push(`${link} (no ${relative(root, target)})`);
        continue;
      }
      if (anchor && statSync(target).isFile() && target.endsWith('.md') && !anchorsOf(relative(root, target)).has(anchor)) broken.push(`${link} (no heading #${anchor})`);
    }
    expect(broken).toEqual([]);
  });

  it("README's sample result has every field of schemas/CommandResult.avsc, and nothing else", () => {
    const schema = schemaOf('CommandResult');
    const results = jsonSamples('README.md').filter((sample) => 'processedAt' in sample);
    expect(results).toHaveLength(1);
    for (const result of results) {
      expect(Object.keys(result).sort()).toEqual(fieldNames(schema));
      expect(avro.Type.forSchema(schema).isValid(result)).toBe(true);
    }
  });

  it("README's sample event has every field of schemas/CustomerChanged.avsc (its profile every field of Profile), and nothing else", () => {
    const schema = schemaOf('CustomerChanged');
    const profileSchema = (schema.fields.find((field) => field.name === 'profile')!.type as unknown[])[1] as { fields: { name: string }[] };
    const events = jsonSamples('README.md').filter((sample) => 'eventType' in sample);
    expect(events).toHaveLength(1);
    for (const event of events) {
      expect(Object.keys(event).sort()).toEqual(fieldNames(schema));
      expect(Object.keys(event['profile'] as object).sort()).toEqual(fieldNames(profileSchema));
      expect(avro.Type.forSchema(schema).isValid(event)).toBe(true);
    }
  });

  it.each(['README.md', 'docs/commands.md'])('%s: every sample command is accepted by the validation', (path) => {
    const commands = jsonSamples(path).filter((sample) => 'type' in sample && 'payload' in sample);
    expect(commands.length).toBeGreaterThan(0);
    // The samples' expiration dates are in December 2026.
    const now = new Date('2026-11-22T12:00:00Z');
    for (const command of commands) {
      const validation = validateCommand(command, { clientName: 'acme-ticketshop', correlationId: 'req-7f3a' }, now);
      expect(validation.ok ? 'ok' : validation.rejection, JSON.stringify(command)).toBe('ok');
    }
  });
});
