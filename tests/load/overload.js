// Overload: the mixed workload at half the capacity (10 s), then at twice it (OVERLOAD_SECONDS,
// 30), then at half again (AFTER_SECONDS, 30). ENV: BASE TOKEN CAPACITY (req/s the ramp found)
// OUT_DIR NAME. scripts/load.py reads the figures of each phase from the summary: the served
// (2xx) requests' latency, the share refused (503), dropped iterations, and the p95 of each
// quarter second after the overload, which shows when the service has recovered.
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';
import * as lib from './lib.js';

const CAPACITY = parseInt(__ENV.CAPACITY || '800', 10);
const BEFORE = parseInt(__ENV.BEFORE_SECONDS || '10', 10);
const OVERLOAD = parseInt(__ENV.OVERLOAD_SECONDS || '30', 10);
const AFTER = parseInt(__ENV.AFTER_SECONDS || '30', 10);
export const WINDOW_MS = 250;
export const WINDOWS = 40; // the first 10 s after the overload, by quarter second

const after = new Trend('brain_after_served', true);
// The same answers' time inside the service (its Server-Timing): what admission control holds;
// the rest of a request's latency is spent on the way in (in the sockets, and in the load
// generator itself, which shares the cores).
const inService = new Trend('brain_served_in_service', true);

function phase(rate, start, seconds) {
  // VUs for a second of the rate: a service that answers within a second needs no more; one
  // that does not drops iterations (what an unbounded queue does to its callers).
  return {
    executor: 'constant-arrival-rate', exec: 'run', rate, timeUnit: '1s',
    duration: `${seconds}s`, startTime: `${start}s`, preAllocatedVUs: Math.ceil(rate / 4),
    maxVUs: Math.max(50, rate), gracefulStop: '5s',
  };
}

const low = Math.max(1, Math.round(CAPACITY / 2));
const thresholds = {};
for (const s of ['before', 'overload', 'after']) {
  for (const metric of ['http_reqs', 'iterations', 'dropped_iterations', 'brain_refused']) {
    thresholds[`${metric}{scenario:${s}}`] = [metric === 'brain_refused' ? 'rate>=0' : 'count>=0'];
  }
  thresholds[`http_req_duration{scenario:${s},expected_response:true}`] = ['max>=0'];
  thresholds[`brain_served_in_service{phase:${s}}`] = ['max>=0'];
}
for (let w = 0; w < WINDOWS; w++) thresholds[`brain_after_served{window:${w}}`] = ['max>=0'];

export const options = {
  scenarios: {
    before: phase(low, 0, BEFORE),
    overload: phase(2 * CAPACITY, BEFORE, OVERLOAD),
    after: phase(low, BEFORE + OVERLOAD, AFTER),
  },
  thresholds,
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max', 'count'],
  setupTimeout: '120s',
};

export const setup = lib.setupData;

lib.hooks.onResponse = (r) => {
  if (r.status < 200 || r.status >= 300) return;
  const timing = /app;dur=([0-9.]+)/.exec(r.headers['Server-Timing'] || '');
  if (timing) inService.add(parseFloat(timing[1]), { phase: exec.scenario.name });
  if (exec.scenario.name !== 'after') return;
  const w = Math.floor((Date.now() - exec.scenario.startTime) / WINDOW_MS);
  if (w < WINDOWS) after.add(r.timings.duration, { window: String(w) });
};

export function run(data) {
  lib.weighted(lib.MIXED, data);
}

export function handleSummary(data) {
  const name = __ENV.NAME || 'overload';
  return { [`${__ENV.OUT_DIR || 'bench-results'}/${name}.json`]: JSON.stringify(data, null, 2) };
}
