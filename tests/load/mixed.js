// Mixed agent workload: queries (most repeat a small pool of bodies), stores, gets, shares,
// pending + ack, at a constant arrival rate. ENV: BASE TOKEN RATE DURATION P95_MS OUT_DIR NAME.
import * as lib from './lib.js';

const NAMES = ['query', 'get', 'store', 'share', 'pending', 'ack'];

export const options = lib.options('run', NAMES);
export const setup = lib.setupData;
export function run(data) {
  lib.weighted(lib.MIXED, data);
}
export function handleSummary(data) {
  return lib.summary(__ENV.NAME || 'mixed', data);
}
