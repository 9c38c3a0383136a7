// The benchmark's commands: a production-like mix, deterministic for a given seed.
//   40 % CreateProfile · 40 % UpdateProfile · 10 % SetPreference / AddCustomerAccount · 10 % CreateTemporaryProfile

export type BenchCommand = { key: string; value: Record<string, unknown> };

/** mulberry32: a small deterministic PRNG, so two runs send the same workload. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const firstNames = ['Kari', 'Ola', 'Ingrid', 'Nils', 'Sofie', 'Jonas', 'Emma', 'Lars'];
const surnames = ['Nordmann', 'Hansen', 'Johansen', 'Olsen', 'Larsen', 'Berg', 'Dahl', 'Lie'];

export const benchOrganisation = 1;
export const benchPreference = 'bench.seat';

export function workload(options: { count: number; customers: string[]; runId: string; seed?: number }): BenchCommand[] {
  const random = prng(options.seed ?? 42);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const org = benchOrganisation;
  const actor = { changedBy: 'bench', changedByChannel: 'bench' };
  const creator = { createdBy: 'bench', createdByChannel: 'bench' };
  const expiresLater = new Date(Date.now() + 30 * 24 * 3_600_000).toISOString();
  const commands: BenchCommand[] = [];
  for (let index = 0; index < options.count; index++) {
    const commandId = `${options.runId}-${index}`;
    const roll = random();
    if (roll < 0.4) {
      commands.push({
        key: commandId,
        value: { commandId, type: 'CreateProfile', organisationId: org, payload: { ...creator, firstName: pick(firstNames), surname: pick(surnames), email: `${commandId}@bench.example`, countryCode: '+47', telephoneNumberNoCountryCode: String(40_000_000 + index) } },
      });
    } else if (roll < 0.8) {
      const customerNumber = pick(options.customers);
      commands.push({
        key: `${org}:${customerNumber}`,
        value: { commandId, type: 'UpdateProfile', organisationId: org, customerNumber, payload: { ...actor, surname: `${pick(surnames)}-${index}` } },
      });
    } else if (roll < 0.9) {
      const customerNumber = pick(options.customers);
      const value =
        random() < 0.5
          ? { commandId, type: 'SetPreference', organisationId: org, customerNumber, payload: { key: benchPreference, value: `seat-${index}` } }
          : { commandId, type: 'AddCustomerAccount', organisationId: org, customerNumber, payload: { customerAccountId: `acc-${commandId}` } };
      commands.push({ key: `${org}:${customerNumber}`, value });
    } else {
      commands.push({ key: commandId, value: { commandId, type: 'CreateTemporaryProfile', organisationId: org, payload: { ...creator, expirationDate: expiresLater, firstName: pick(firstNames) } } });
    }
  }
  return commands;
}

/** `count` CreateProfile commands, each with its own email: the creations phase. */
export function creations(options: { count: number; runId: string }): BenchCommand[] {
  return Array.from({ length: options.count }, (_, index) => {
    const commandId = `${options.runId}-${index}`;
    return {
      key: commandId,
      value: { commandId, type: 'CreateProfile', organisationId: benchOrganisation, payload: { createdBy: 'bench', createdByChannel: 'bench', firstName: firstNames[index % firstNames.length], surname: surnames[index % surnames.length], email: `${commandId}@bench.example` } },
    };
  });
}

/** One UpdateProfile per customer: the updates phase. */
export function updates(options: { customers: string[]; runId: string }): BenchCommand[] {
  return options.customers.map((customerNumber, index) => {
    const commandId = `${options.runId}-${index}`;
    return {
      key: `${benchOrganisation}:${customerNumber}`,
      value: { commandId, type: 'UpdateProfile', organisationId: benchOrganisation, customerNumber, payload: { changedBy: 'bench', changedByChannel: 'bench', surname: `${surnames[index % surnames.length]}-${index}` } },
    };
  });
}
