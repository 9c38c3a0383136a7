// Labels of the profile worker's metrics. A label value is a new time series kept for the life of
// the process and shown on /metrics without authentication: only values the suite knows may
// become one, never client text (a command type can be anything a client writes, an email too).
import { commandTypes, rejectionCodes, type CommandResult } from './model.ts';

const knownTypes: ReadonlySet<string> = new Set(commandTypes);
const knownCodes: ReadonlySet<string> = new Set(rejectionCodes);

/** Labels of `profiles_commands_total`: a known command type or `unknown`, the status, a known code or `''`. */
export function commandLabels(result: Pick<CommandResult, 'commandType' | 'status' | 'code'>): { type: string; status: string; code: string } {
  return {
    type: result.commandType !== null && knownTypes.has(result.commandType) ? result.commandType : 'unknown',
    status: result.status === 'ACCEPTED' ? 'ACCEPTED' : 'REJECTED',
    code: result.code === null ? '' : knownCodes.has(result.code) ? result.code : 'unknown',
  };
}
