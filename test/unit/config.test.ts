import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig, servesOrganisation, withoutTrailingSlashes } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { parseWorkerNames } from '../../app/main.ts';

const services = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/ccompat/v7/',
  MONGODB_URI: 'mongodb://127.0.0.1:27017/profiles',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('given the four service URLs, when loaded, then defaults fill the rest', () => {
    const config = loadConfig(services);
    expect(config).toMatchObject({
      env: 'local',
      kafka: { brokers: ['127.0.0.1:9092'], commandPartitions: 6 },
      registryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
      ops: { port: 3000, board: 'unset' },
      logLevel: 'info',
    });
  });

  it('given several brokers, when loaded, then each is kept', () => {
    expect(loadConfig({ ...services, KAFKA_BROKERS: 'a:9092, b:9093' }).kafka.brokers).toEqual(['a:9092', 'b:9093']);
  });

  it('given nothing, when loaded, then the message names every missing variable', () => {
    const message = messageOf(() => loadConfig({}));
    for (const name of Object.keys(services)) expect(message).toContain(`${name}: is required`);
  });

  it('given an empty variable, when loaded, then it counts as missing', () => {
    expect(messageOf(() => loadConfig({ ...services, REDIS_URL: '' }))).toContain('REDIS_URL: is required');
  });

  it.each([
    ['KAFKA_BROKERS', 'localhost'],
    ['SCHEMA_REGISTRY_URL', 'ftp://registry'],
    ['MONGODB_URI', 'not a url'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['OPS_PORT', '70000'],
    ['PROFILES_ENV', 'Prod Env'],
    ['LOG_LEVEL', 'loud'],
    ['COMMAND_PARTITIONS', '0'],
    ['BOARD_PASSWORD', 'short'],
    ['ORGANISATION_IDS', '1,,2'],
    ['ORGANISATION_IDS', '0'],
    ['ORGANISATION_IDS', '5-3'],
    ['ORGANISATION_IDS', '1-2-3'],
    ['ORGANISATION_IDS', 'acme'],
    ['ORGANISATION_IDS', '-4'],
    ['ORGANISATION_IDS', '1'.repeat(20_000)],
  ])('given a bad %s, when loaded, then the message names it', (name, value) => {
    expect(messageOf(() => loadConfig({ ...services, [name]: value }))).toMatch(new RegExp(`^invalid configuration: ${name}: `));
  });

  it('given nothing about Kafka retention, when loaded, then events compact after 1 h to 24 h, commands 7 days, DLQ 14 days', () => {
    expect(loadConfig(services).retention).toEqual({ eventMinCompactionLagMs: 3_600_000, eventMaxCompactionLagMs: 86_400_000, commandRetentionMs: 604_800_000, dlqRetentionMs: 1_209_600_000 });
  });

  it('given a maximum compaction lag below the minimum, when loaded, then the message names it', () => {
    expect(messageOf(() => loadConfig({ ...services, EVENT_MIN_COMPACTION_LAG_MS: '7200000', EVENT_MAX_COMPACTION_LAG_MS: '3600000' }))).toMatch(/EVENT_MAX_COMPACTION_LAG_MS: must be at least EVENT_MIN_COMPACTION_LAG_MS/);
    expect(messageOf(() => loadConfig({ ...services, COMMAND_RETENTION_MS: '5' }))).toMatch(/COMMAND_RETENTION_MS/);
  });

  it('given no ORGANISATION_IDS, when loaded, then every organisation is served', () => {
    const { organisations } = loadConfig(services);
    expect(organisations).toBe('all');
    expect(servesOrganisation(organisations, Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  it('given ORGANISATION_IDS of ids and ranges, when loaded, then exactly those are served', () => {
    const { organisations } = loadConfig({ ...services, ORGANISATION_IDS: ' 1, 5 ,10-20, 7-7' });
    expect(organisations).toEqual([
      { from: 1, to: 1 },
      { from: 5, to: 5 },
      { from: 10, to: 20 },
      { from: 7, to: 7 },
    ]);
    const served = [0, 1, 2, 4, 5, 6, 7, 9, 10, 15, 20, 21].filter((id) => servesOrganisation(organisations, id));
    expect(served).toEqual([1, 5, 7, 10, 15, 20]);
  });

  it('given a registry URL ending in many slashes and more, when trimmed, then in linear time', () => {
    expect(withoutTrailingSlashes('http://h/x///')).toBe('http://h/x');
    const long = `http://h/${'/'.repeat(200_000)}x`;
    const started = performance.now();
    expect(withoutTrailingSlashes(long)).toBe(long);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('given board credentials, when loaded, then the board uses them; disabled wins', () => {
    expect(loadConfig({ ...services, BOARD_USER: 'ops', BOARD_PASSWORD: 'long-enough' }).ops.board).toEqual({ user: 'ops', password: 'long-enough' });
    expect(loadConfig({ ...services, BOARD_USER: 'ops', BOARD_PASSWORD: 'long-enough', BOARD_DISABLED: 'true' }).ops.board).toBe('disabled');
  });

  it('property: any valid port is accepted as given, anything else names OPS_PORT', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65_535 }), (port) => {
        expect(loadConfig({ ...services, OPS_PORT: String(port) }).ops.port).toBe(port);
      }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 65_536 }), fc.integer({ max: -1 })), (port) => {
        expect(messageOf(() => loadConfig({ ...services, OPS_PORT: String(port) }))).toContain('OPS_PORT');
      }),
    );
  });
});

describe('parseWorkerNames', () => {
  it('given nothing or "all", then every worker runs', () => {
    expect(parseWorkerNames(undefined)).toEqual(['profile', 'scheduler', 'deletion']);
    expect(parseWorkerNames('all')).toEqual(['profile', 'scheduler', 'deletion']);
  });

  it('given a list, then only those run; an unknown name is named in the error', () => {
    expect(parseWorkerNames('profile, deletion')).toEqual(['profile', 'deletion']);
    expect(() => parseWorkerNames('profile,mailer')).toThrow(/WORKERS: unknown worker\(s\) mailer/);
  });
});
