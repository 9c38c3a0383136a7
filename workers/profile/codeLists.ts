// The real code lists the suite checks against (SPEC §3.4), from maintained packages rather than a
// hand-typed copy: a new or withdrawn code arrives with a dependency update. Codes are uppercase in
// the suite (`NOR`, `NOB`); clients may send them in any case.
import { iso31661 } from 'iso-3166/1.js';
import { iso6393 } from 'iso-639-3/iso6393.js';

/** ISO 3166-1 alpha-3 codes of the assigned countries (`NOR`, `SWE`, …). */
export const countryCodes: ReadonlySet<string> = new Set(iso31661.map((country) => country.alpha3.toUpperCase()));

/** ISO 639-3 codes (`NOB`, `NNO`, `SME`, …), including the special ones (`UND`, `MUL`, `ZXX`). */
export const languageCodes: ReadonlySet<string> = new Set(iso6393.map((language) => language.iso6393.toUpperCase()));
