// The seed's benchmark scenario (`ab -n 10000 -c 100` on query), as an open-model k6 run: only
// queries, 80 % repeating one of 24 bodies and 20 % new ones (lib.query), over the seeded
// memories. No writes, so repeated bodies stay cached. ENV: BASE TOKEN RATE DURATION P95_MS
// OUT_DIR NAME.
import * as lib from './lib.js';

const NAMES = ['query'];

export const options = lib.options('run', NAMES);
export const setup = lib.setupData;
export function run() {
  lib.query();
}
export function handleSummary(data) {
  return lib.summary(__ENV.NAME || 'query', data);
}
