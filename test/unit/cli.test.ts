import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { KafkaMessage } from 'kafkajs';
import { InvalidArgumentError } from 'commander';
import { collectOffsets, parseCommandText, parseCustomerNumber, parseDate, parseOffset, parseOrganisationId, parsePartition, parseTimeoutMs, UsageError } from '../../scripts/cli/arguments.ts';
import { dlqEntryOf, replayMessageOf, replayRefusal } from '../../scripts/cli/dlq.ts';
import { makeProgram, type Actions } from '../../scripts/cli/program.ts';
import { receiptFilter } from '../../scripts/cli/receipts.ts';
import { dlqRecordOf } from '../../workers/profile/dlq.ts';

describe('CLI arguments', () => {
  it('given organisation ids, then whole numbers > 0 are taken and anything else is refused', () => {
    expect(parseOrganisationId('1')).toBe(1);
    expect(parseOrganisationId('42')).toBe(42);
    for (const bad of ['0', '-1', '1.5', '1e3', '0x10', ' 1', '', 'abc', '9007199254740993']) expect(() => parseOrganisationId(bad), bad).toThrow(InvalidArgumentError);
  });

  it('property: every positive safe integer round-trips; every other text is refused', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (id) => parseOrganisationId(String(id)) === id));
    fc.assert(
      fc.property(
        fc.string().filter((text) => !/^[0-9]+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))),
        (text) => {
          expect(() => parseOrganisationId(text)).toThrow(InvalidArgumentError);
        },
      ),
    );
  });

  it('given offsets, then whole numbers from 0 up to int64 as bigints; repeats dropped, order kept', () => {
    expect(parseOffset('0')).toBe(0n);
    expect(parseOffset('9223372036854775807')).toBe(2n ** 63n - 1n);
    for (const bad of ['-1', '9223372036854775808', '1.0', 'x', '']) expect(() => parseOffset(bad), bad).toThrow(InvalidArgumentError);
    expect(['5', '3', '5', '4'].reduce<bigint[] | undefined>((previous, value) => collectOffsets(value, previous), undefined)).toEqual([5n, 3n, 4n]);
  });

  it('given partitions, customer numbers and timeouts, then each is checked', () => {
    expect(parsePartition('0')).toBe(0);
    expect(() => parsePartition('-1')).toThrow(InvalidArgumentError);
    expect(parseCustomerNumber('1000042')).toBe('1000042');
    for (const bad of ['10a', '', '1'.repeat(65)]) expect(() => parseCustomerNumber(bad)).toThrow(InvalidArgumentError);
    expect(parseTimeoutMs('15000')).toBe(15_000);
    // Past 2^31 - 1 a Node.js timer fires at once: refused rather than a timeout of 1 ms.
    for (const bad of ['0', '2147483648', '5s', '1.5']) expect(() => parseTimeoutMs(bad), bad).toThrow(InvalidArgumentError);
  });

  it('given dates, then a day (midnight UTC) or an instant with its offset; impossible dates and local times are refused', () => {
    expect(parseDate('2026-12-01').toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(parseDate('2026-12-01T08:30:00Z').toISOString()).toBe('2026-12-01T08:30:00.000Z');
    expect(parseDate('2026-12-01T08:30+01:00').toISOString()).toBe('2026-12-01T07:30:00.000Z');
    expect(parseDate('2028-02-29T00:00:00.123456Z').toISOString()).toBe('2028-02-29T00:00:00.123Z');
    for (const bad of ['2026-02-30', '2027-02-29', '2026-13-01', '2026-12-01T24:00:00Z', '2026-12-01T08:00:00', 'yesterday', '1733000000000', '2026-12-01 08:00Z', '']) {
      expect(() => parseDate(bad), bad).toThrow(InvalidArgumentError);
    }
  });

  it('given command text that is not a JSON object, then the error says where, never quoting the text', () => {
    expect(parseCommandText('{"commandId":"c"}')).toEqual({ commandId: 'c' });
    const refusal = (text: string) => {
      try {
        parseCommandText(text);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(refusal('{"firstName":')).toBe('the command is not valid JSON: it ends too early.');
    expect(refusal('{"firstName":"Kari"')).toBe('the command is not valid JSON at position 19.');
    expect(refusal('{firstName:"Kari"}')).toBe('the command is not valid JSON at position 1.');
    expect(refusal('Kari Nordmann')).toBe('the command is not valid JSON.');
    expect(refusal('  ')).toBe('the command is not valid JSON: it is empty.');
    expect(refusal('["Kari"]')).toBe('the command must be a JSON object.');
    fc.assert(fc.property(fc.string({ minLength: 4 }), (text) => !refusal(`{"x":"${text}`).includes(text)));
  });
});

/** Actions that only record what they were given (but for `overrides`). */
function recording(overrides: Partial<Actions> = {}) {
  const calls: [string, unknown][] = [];
  const errors: string[] = [];
  const actions: Actions = {
    send: async (command, options) => (calls.push(['send', { command, options }]), 2),
    tail: async (options) => void calls.push(['tail', options]),
    dlqList: async (options) => void calls.push(['dlqList', options]),
    dlqReplay: async (options) => void calls.push(['dlqReplay', options]),
    verifyErasure: async (target) => (calls.push(['verifyErasure', target]), 3),
    receipts: async (options) => void calls.push(['receipts', options]),
    republish: async (organisationId) => void calls.push(['republish', organisationId]),
    readStdin: () => '{"commandId":"from-stdin"}',
    reportFailure: async (error) => void errors.push(String(error)),
    ...overrides,
  };
  let err = '';
  const { run } = makeProgram(actions, { writeOut: () => undefined, writeErr: (text) => (err += text) });
  return { run, calls, errors, stderr: () => err };
}

describe('CLI parsing', () => {
  it('given send with its options, then the parsed command and options reach the action, and its exit code is the result', async () => {
    const cli = recording();
    expect(await cli.run(['send', '--events', '--key', 'k1', '--timeout', '2000', '{"commandId":"c1",', '"type":"X"}'])).toBe(2);
    expect(cli.calls).toEqual([['send', { command: { commandId: 'c1', type: 'X' }, options: { key: 'k1', client: 'cli-profiles', events: true, timeout: 2_000 } }]]);
    expect(await cli.run(['send', '-'])).toBe(2);
    expect(cli.calls[1]).toEqual(['send', { command: { commandId: 'from-stdin' }, options: { client: 'cli-profiles', events: false, timeout: 15_000 } }]);
  });

  it('given --org or the older --organisation, then the same organisation; both, or neither, is a usage error', async () => {
    const cli = recording();
    expect(await cli.run(['republish', '--org', '3'])).toBe(0);
    expect(await cli.run(['republish', '--organisation', '4'])).toBe(0);
    expect(cli.calls).toEqual([['republish', 3], ['republish', 4]]);
    expect(await cli.run(['republish', '--org', '3', '--organisation', '4'])).toBe(2);
    expect(await cli.run(['receipts'])).toBe(2);
    expect(cli.stderr()).toContain("required option '--org <id>' not specified");
    expect(cli.calls).toHaveLength(2);
  });

  it('given tail, dlq, receipts and verify-erasure, then their options arrive parsed', async () => {
    const cli = recording();
    await cli.run(['tail', '--org', '1', '-f', '--since', '2026-12-01', '--customer', '1000042']);
    await cli.run(['dlq', 'list', '--values', '--code', 'MALFORMED_JSON']);
    await cli.run(['dlq', 'replay', '7', '3', '7', '--partition', '1']);
    await cli.run(['receipts', '--org', '2', '--customer', '1000043']);
    expect(await cli.run(['verify-erasure', '--org', '1', '--customer', '1000042', '--value', 'a@example.com', '--value', '40000000'])).toBe(3);
    expect(cli.calls).toEqual([
      ['tail', { organisationId: 1, follow: true, fromBeginning: false, since: new Date('2026-12-01T00:00:00Z'), customer: '1000042' }],
      ['dlqList', { values: true, code: 'MALFORMED_JSON' }],
      ['dlqReplay', { partition: 1, offsets: [7n, 3n] }],
      ['receipts', { organisationId: 2, customer: '1000043' }],
      ['verifyErasure', { organisationId: 1, customerNumber: '1000042', values: ['a@example.com', '40000000'] }],
    ]);
  });

  it('given a bad value, then the option and the rule are named and the action never runs; send\'s usage errors exit 1 (its 2 means rejected)', async () => {
    const cli = recording();
    expect(await cli.run(['tail', '--org', 'one'])).toBe(2);
    expect(cli.stderr()).toContain("error: option '--org <id>' argument 'one' is invalid. An organisation id is a whole number greater than 0.");
    expect(await cli.run(['tail', '--org', '1', '--from-beginning', '--since', '2026-12-01'])).toBe(2);
    expect(await cli.run(['dlq', 'replay'])).toBe(2);
    expect(await cli.run(['send', '--timeout', '-5', '{}'])).toBe(1);
    expect(await cli.run(['send', 'not json'])).toBe(1);
    expect(await cli.run(['nonsense'])).toBe(2);
    expect(cli.calls).toEqual([]);
  });

  it('given an action that refuses or fails, then the refusal exits like a bad argument and a failure with the command\'s failure code', async () => {
    const cli = recording({ dlqReplay: async () => Promise.reject(new UsageError('unknown offset 9')), tail: async () => Promise.reject(new Error('down')), verifyErasure: async () => Promise.reject(new Error('down')) });
    expect(await cli.run(['dlq', 'replay', '9'])).toBe(2);
    expect(cli.stderr()).toBe('error: unknown offset 9\n');
    expect(await cli.run(['tail', '--org', '1'])).toBe(1);
    expect(await cli.run(['verify-erasure', '--org', '1', '--customer', '1'])).toBe(4);
    expect(cli.errors).toEqual(['Error: down', 'Error: down']);
  });

  it('given --help on any subcommand, then exit 0', async () => {
    const cli = recording();
    for (const command of [[], ['send'], ['tail'], ['dlq'], ['dlq', 'list'], ['dlq', 'replay'], ['verify-erasure'], ['receipts'], ['republish']]) {
      expect(await cli.run([...command, '--help']), command.join(' ')).toBe(0);
    }
  });
});

describe('DLQ listing and replay', () => {
  const original = {
    key: Buffer.from('1:1000042'),
    value: Buffer.from('{"firstName":"Kari"'),
    headers: { 'ET-Client-Name': Buffer.from('acme-ticketshop'), 'X-Correlation-Id': Buffer.from('corr-9'), note: Buffer.from('n') },
    offset: '17',
    timestamp: '1764576000000',
    attributes: 0,
  } as unknown as KafkaMessage;
  const record = dlqRecordOf(original, { topic: 'customer-commands-t', partition: 1 }, { code: 'MALFORMED_JSON', message: 'not valid JSON' });
  const inDlq = { ...original, key: record.key, value: record.value, headers: record.headers, offset: '4' } as unknown as KafkaMessage;

  it('given a DLQ record, then it is listed with its error headers, size and client header names, not its bytes', () => {
    const entry = dlqEntryOf(0, inDlq, { values: false });
    expect(entry).toEqual({
      partition: 0,
      offset: '4',
      timestamp: '2025-12-01T08:00:00.000Z',
      key: '1:1000042',
      size: 19,
      errorHeaders: { 'error-code': 'MALFORMED_JSON', 'error-message': 'not valid JSON', 'original-topic': 'customer-commands-t', 'original-partition': '1', 'original-offset': '17' },
      clientName: 'acme-ticketshop',
      correlationId: 'corr-9',
      clientHeaders: ['ET-Client-Name', 'X-Correlation-Id', 'note'],
    });
    expect(JSON.stringify(entry)).not.toContain('Kari');
    const withValues = dlqEntryOf(0, inDlq, { values: true });
    expect(Buffer.from(withValues.value!, 'base64').toString()).toBe('{"firstName":"Kari"');
    expect(withValues.clientHeaderValues).toEqual({ 'ET-Client-Name': 'YWNtZS10aWNrZXRzaG9w', 'X-Correlation-Id': 'Y29yci05', note: 'bg==' });
  });

  it('given a key that is not UTF-8, then it is shown in base64', () => {
    const entry = dlqEntryOf(0, { ...inDlq, key: Buffer.from([0xff, 0xfe]) } as KafkaMessage, { values: false });
    expect(entry.key).toBeNull();
    expect(entry.keyBase64).toBe('//4=');
  });

  it('given a DLQ record, then its replay is the original key, value and client headers, plus where it was replayed from', () => {
    const replay = replayMessageOf(inDlq, { topic: 'customer-commands-dlq-t', partition: 0 });
    expect(replay.key).toEqual(original.key);
    expect(replay.value).toEqual(original.value);
    expect(replay.headers).toEqual({ ...original.headers, 'replayed-from-dlq': 'customer-commands-dlq-t/0/4' });
    expect(replayRefusal(inDlq, 'customer-commands-t')).toBeNull();
  });

  it('given a copy cut to fit the DLQ, or one from another topic, then it is not replayed', () => {
    expect(replayRefusal({ ...inDlq, headers: { ...record.headers, 'error-truncated': '2000000' } } as unknown as KafkaMessage, 'customer-commands-t')).toContain('value was cut');
    expect(replayRefusal({ ...inDlq, headers: { ...record.headers, 'error-key-truncated': '5000' } } as unknown as KafkaMessage, 'customer-commands-t')).toContain('key was cut');
    expect(replayRefusal(inDlq, 'customer-commands-other')).toBe('it came from customer-commands-t, not customer-commands-other');
  });
});

describe('receipt queries', () => {
  it('given a customer, then by _id; else by organisation; --since on the completion time', () => {
    expect(receiptFilter({ organisationId: 1, customer: '1000042' })).toEqual({ _id: '1:1000042' });
    expect(receiptFilter({ organisationId: 1, since: new Date('2026-12-01T00:00:00Z') })).toEqual({ organisationId: 1, completedAt: { $gte: '2026-12-01T00:00:00.000Z' } });
  });
});
