// Memory-heavy workload: stores, gets and queries (repeat-heavy pool plus new bodies).
// ENV: BASE TOKEN RATE DURATION P95_MS OUT_DIR NAME.
import * as lib from './lib.js';

const NAMES = ['query', 'get', 'store'];
const MIX = [
  [45, lib.query],
  [30, lib.get],
  [25, lib.store],
];

export const options = lib.options('run', NAMES);
export const setup = lib.setupData;
export function run(data) {
  lib.weighted(MIX, data);
}
export function handleSummary(data) {
  return lib.summary(__ENV.NAME || 'memory', data);
}
