import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { makeMetrics } from '../../shared/metrics.ts';
import { commandLabels } from '../../workers/profile/labels.ts';
import { commandTypes, rejectionCodes } from '../../workers/profile/model.ts';

describe('commandLabels', () => {
  it('given a command type that is an email, then the label is unknown and /metrics never shows it', async () => {
    const labels = commandLabels({ commandType: 'kari.nordmann@example.no', status: 'REJECTED', code: 'UNKNOWN_COMMAND_TYPE' });
    expect(labels).toEqual({ type: 'unknown', status: 'REJECTED', code: 'UNKNOWN_COMMAND_TYPE' });
    const metrics = makeMetrics();
    metrics.commandsTotal.inc(labels);
    const text = await metrics.registry.metrics();
    expect(text).toContain('profiles_commands_total{type="unknown",status="REJECTED",code="UNKNOWN_COMMAND_TYPE"} 1');
    expect(text).not.toContain('kari');
  });

  it('given known types and codes, then they are the labels', () => {
    expect(commandLabels({ commandType: 'CreateProfile', status: 'ACCEPTED', code: null })).toEqual({ type: 'CreateProfile', status: 'ACCEPTED', code: '' });
    expect(commandLabels({ commandType: null, status: 'REJECTED', code: 'LIMIT_EXCEEDED' })).toEqual({ type: 'unknown', status: 'REJECTED', code: 'LIMIT_EXCEEDED' });
  });

  it('property: whatever a client writes, the labels take one of a fixed set of values', () => {
    const types = new Set<string>([...commandTypes, 'unknown']);
    const codes = new Set<string>([...rejectionCodes, '', 'unknown']);
    fc.assert(
      fc.property(fc.option(fc.string()), fc.constantFrom('ACCEPTED' as const, 'REJECTED' as const), fc.option(fc.string()), (commandType, status, code) => {
        const labels = commandLabels({ commandType, status, code: code as never });
        expect(types.has(labels.type)).toBe(true);
        expect(codes.has(labels.code)).toBe(true);
      }),
    );
  });
});
