// Messaging-heavy workload: direct shares between agents, and consumers taking pending
// messages and acknowledging them. ENV: BASE TOKEN RATE DURATION P95_MS OUT_DIR NAME.
import * as lib from './lib.js';

const NAMES = ['share', 'pending', 'ack'];
const MIX = [
  [55, lib.share],
  [45, lib.pendingAck],
];

export const options = lib.options('run', NAMES);
export const setup = lib.setupData;
export function run(data) {
  lib.weighted(MIX, data);
}
export function handleSummary(data) {
  return lib.summary(__ENV.NAME || 'messaging', data);
}
