// The original design's own benchmark, as it was written: `ab -n 10000 -c 100` on a query. A
// closed loop: 100 clients, each sending its next request as soon as the last one is answered,
// 10,000 requests in all (k6 `shared-iterations`), all the same cached query. Its claim: more
// than 1000 req/s, p95 < 20 ms, errors < 0.1 %. ENV: BASE TOKEN CLIENTS REQUESTS OUT_DIR NAME.
import http from 'k6/http';
import { check } from 'k6';
import * as lib from './lib.js';

const CLIENTS = parseInt(__ENV.CLIENTS || '100', 10);
const REQUESTS = parseInt(__ENV.REQUESTS || '10000', 10);
const BODY = JSON.stringify({ tags: ['t-acme'], limit: 10 });
const PARAMS = {
  headers: { Authorization: `Bearer ${__ENV.TOKEN || ''}`, 'Content-Type': 'application/json' },
  tags: { name: 'query' },
};

export const options = {
  scenarios: {
    main: { executor: 'shared-iterations', vus: CLIENTS, iterations: REQUESTS, maxDuration: '5m' },
  },
  // The claim's error budget; latency and rate are reported, not enforced (ab enforces nothing).
  thresholds: { http_req_failed: ['rate<0.001'], 'http_reqs{scenario:main}': ['count>=0'] },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  const data = lib.setupData();
  http.post(`${lib.BASE}/v1/memories/query`, BODY, PARAMS); // fill the cache: ab repeats one request
  return Object.assign(data, { started: Date.now() });
}

export default function () {
  const r = http.post(`${lib.BASE}/v1/memories/query`, BODY, PARAMS);
  check(r, { 'query 200': (x) => x.status === 200 });
  lib.cacheHit.add(r.headers['X-Brain-Cache'] === 'hit');
}

export function handleSummary(data) {
  // The closed loop's own duration (the rate of http_reqs counts the seeding in setup too).
  data.brain_seed = { seconds: (Date.now() - data.setup_data.started) / 1000, clients: CLIENTS };
  return lib.summary(__ENV.NAME || 'seed', data);
}
