// Writes schemas/commands.schema.json, the JSON Schema of JSON commands that asyncapi.yaml points
// at, from the validation rules themselves (the zod schemas of workers/profile/commands.ts), so
// that the contract cannot drift from what the worker accepts. test/unit/asyncapi.test.ts fails
// when the committed file differs from what this produces.
//
//   npm run contract            # (re)write the file
//   npm run contract -- --check # exit 1 when the committed file is out of date
//
// Rules JSON Schema cannot express (refinements such as code-list lookups, trimming before the
// length checks, an expiration date in the future) are named in a `description` instead.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { deprecatedFields, envelope, payloads, typesWithExpiration, typesWithoutCustomer } from '../workers/profile/commands.ts';
import { limits } from '../workers/profile/limits.ts';
import { commandTypes, type CommandType } from '../workers/profile/model.ts';
import { projectRoot } from './stackEnv.ts';

export const commandsSchemaPath = `${projectRoot}schemas/commands.schema.json`;

type JsonSchema = Record<string, unknown>;
type ZodInternals = { _zod: { def: { type: string; in?: z.ZodType; out?: z.ZodType; checks?: { _zod: { def: CheckDef } }[] } } };
type CheckDef = { check: string; error?: unknown; tx?: (value: string) => string };

const target = 'draft-07';

/** The message a refinement rejects with, when zod kept it as text. */
function refinementMessage(check: CheckDef): string {
  try {
    const message = typeof check.error === 'function' ? (check.error as () => unknown)() : check.error;
    if (typeof message === 'string') return message;
    if (message && typeof (message as { message?: unknown }).message === 'string') return (message as { message: string }).message;
  } catch {
    // an error map that needs an issue: described generically below
  }
  return 'a rule of the worker';
}

/** What zod checks on this node but JSON Schema cannot say: refinements and normalisations. */
function unexpressedRules(schema: z.ZodType): string[] {
  const checks = (schema as unknown as ZodInternals)._zod.def.checks ?? [];
  return checks.flatMap(({ _zod: { def } }) => {
    if (def.check === 'custom') return [refinementMessage(def)];
    if (def.check === 'overwrite' && def.tx) {
      return [def.tx(' a ') === 'a' ? 'surrounding whitespace is trimmed before the length checks' : 'the value is normalised before the checks that follow'];
    }
    return [];
  });
}

const appendDescription = (json: JsonSchema, text: string) => {
  json['description'] = typeof json['description'] === 'string' ? `${json['description']} ${text}` : text;
};

/**
 * Called by zod for every node. In input mode a pipe shows only its input side, which would lose
 * the checks of a second stage (`bounded(10).pipe(z.iso.date())` keeps the date format): the
 * output side is merged in, unless it is a transform (no check).
 */
function override(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }) {
  const schema = ctx.zodSchema as z.ZodType;
  const def = (schema as unknown as ZodInternals)._zod.def;
  if (def.type === 'pipe' && def.out && (def.out as unknown as ZodInternals)._zod.def.type !== 'transform') {
    const { $schema: _, ...out } = toJson(def.out);
    const conflicting = Object.keys(out).filter((key) => key in ctx.jsonSchema && JSON.stringify(ctx.jsonSchema[key]) !== JSON.stringify(out[key]));
    if (conflicting.length === 0) Object.assign(ctx.jsonSchema, out);
    else ctx.jsonSchema['allOf'] = [...((ctx.jsonSchema['allOf'] as JsonSchema[] | undefined) ?? []), out];
  }
  const rules = unexpressedRules(schema);
  if (rules.length > 0) appendDescription(ctx.jsonSchema, `Also checked, not expressed in this schema: ${rules.join('; ')}.`);
}

const toJson = (schema: z.ZodType): JsonSchema => z.toJSONSchema(schema, { target, io: 'input', unrepresentable: 'any', override }) as JsonSchema;

/** The whole command of one type: the envelope with its `type`, `customerNumber` rule and payload. */
function commandSchema(type: CommandType): z.ZodType {
  const customerNumber = envelope.shape.customerNumber.unwrap().unwrap();
  return envelope.extend({
    type: z.literal(type),
    // validateCommand refuses a customerNumber for these (the suite assigns it); null counts as absent.
    customerNumber: typesWithoutCustomer.has(type) ? z.null().optional() : customerNumber,
    payload: payloads[type],
  });
}

function commandDefinition(type: CommandType): JsonSchema {
  const { $schema: _, ...json } = toJson(commandSchema(type));
  const notes = [`Command ${type}.`];
  if (typesWithoutCustomer.has(type)) notes.push('customerNumber is assigned by the suite: absent or null.');
  if (typesWithExpiration.has(type)) notes.push('payload.expirationDate must be in the future when the command is sent (its Kafka timestamp), or the result is EXPIRATION_IN_PAST.');
  return { title: type, description: notes.join(' '), ...json };
}

export function commandsJsonSchema(): JsonSchema {
  const deprecated = [...deprecatedFields].map(([field, replacement]) => `${field} (${replacement})`).join(', ');
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'CustomerCommand (JSON)',
    description: [
      'A command on customer-commands-<env> as JSON (UTF-8), one object per Kafka message.',
      'Generated by `npm run contract` from the validation rules (workers/profile/commands.ts): do not edit by hand.',
      'Also checked by the worker, not expressed in this schema:',
      `a command is at most ${limits.commandBytes} bytes as sent (larger ones go to the DLQ as TOO_LARGE);`,
      `every object (envelope, payload, postal address) has at most ${limits.fieldsPerObject} fields (LIMIT_EXCEEDED);`,
      `deprecated fields of the old API are refused naming their replacement: ${deprecated};`,
      'a command of an organisation the suite does not serve is UNKNOWN_ORGANISATION, one of an unknown type UNKNOWN_COMMAND_TYPE;',
      'the Kafka header ET-Client-Name is required (see asyncapi.yaml).',
    ].join(' '),
    oneOf: commandTypes.map((type) => ({ $ref: `#/definitions/${type}` })),
    definitions: Object.fromEntries(commandTypes.map((type) => [type, commandDefinition(type)])),
  };
}

/** The file's text: stable key order (zod's), two-space indentation, a final newline. */
export const renderCommandsSchema = () => `${JSON.stringify(commandsJsonSchema(), null, 2)}\n`;

function main() {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
  const text = renderCommandsSchema();
  if (values.check) {
    const committed = readFileSync(commandsSchemaPath, 'utf8');
    if (committed !== text) {
      console.error(`${commandsSchemaPath} is out of date: run npm run contract`);
      process.exit(1);
    }
    console.log(`${commandsSchemaPath} is up to date`);
    return;
  }
  writeFileSync(commandsSchemaPath, text);
  console.log(`wrote ${commandsSchemaPath}`);
}

if (import.meta.main) main();
