// Shared pieces of the k6 load tests: configuration, setup, the agent operations and the
// summary (JSON + short text report). See README.md in this directory.
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Rate } from 'k6/metrics';

export const BASE = (__ENV.BASE || 'http://127.0.0.1:8080').replace(/\/$/, '');
const TOKEN = __ENV.TOKEN || '';
export const RATE = parseInt(__ENV.RATE || '200', 10); // iterations (≈ requests) per second
export const DURATION = __ENV.DURATION || '30s';
// Before the measured run (scenario `main`), a ramp from a tenth of RATE up to RATE (scenario
// `warmup`): pools, caches and plans fill as they would under rising traffic. Only `main` is held
// to the latency and dropped-iteration thresholds; a failure fails the run in either.
export const WARMUP = __ENV.WARMUP || '0s';
export const P95_MS = parseFloat(__ENV.P95_MS || '20');
const OUT_DIR = __ENV.OUT_DIR || 'bench-results';
const N_AGENTS = parseInt(__ENV.AGENTS || '20', 10);
const N_SEED = parseInt(__ENV.SEED_MEMORIES || '200', 10);
// Share of queries that are new bodies (cache misses by construction); the rest come from a
// small pool, like agents asking the same things again.
const NEW_QUERY_SHARE = parseFloat(__ENV.NEW_QUERY_SHARE || '0.2');

const PARAMS = {
  headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
};
const WORDS = ['acme', 'invoice', 'renewal', 'email', 'pricing', 'outage', 'contract', 'demo',
  'churn', 'onboarding', 'refund', 'roadmap', 'security', 'latency', 'migration', 'budget'];
const TAGS = WORDS.slice(0, 12).map((w) => `t-${w}`);
const PRIORITIES = ['low', 'normal', 'normal', 'normal', 'high', 'urgent'];

export const cacheHit = new Rate('brain_cache_hit');
const unexpected = new Counter('brain_unexpected_status');
// With REFUSALS=1 (overload.js), a 503 is the service saying no quickly, counted here (and as a
// failed request by k6), not as an unexpected answer.
const REFUSALS = __ENV.REFUSALS === '1';
export const refused = new Rate('brain_refused');
// Called with every answer, when set (overload.js times its recovery with it).
export const hooks = { onResponse: null };
const logged = {};

// check() the status; log the first unexpected answer of each operation per VU (status, body).
function expect(r, name, status) {
  if (hooks.onResponse) hooks.onResponse(r);
  if (REFUSALS) {
    refused.add(r.status === 503);
    if (r.status === 503) return false;
  }
  const ok = check(r, { [`${name} ${status}`]: (x) => x.status === status });
  if (!ok) {
    unexpected.add(1, { name, status: String(r.status) });
    if (!logged[name]) {
      logged[name] = true;
      console.warn(`${name}: ${r.status} ${r.error || ''} ${String(r.body || '').slice(0, 200)}`);
    }
  }
  return ok;
}

export function agentId(i) {
  return `load-${String(i % N_AGENTS).padStart(2, '0')}`;
}
const pick = (a) => a[Math.floor(Math.random() * a.length)];
const rnd = (n) => Math.floor(Math.random() * n);

// Seconds in a k6 duration such as '60s', '2m' or '1m30s'.
export function seconds(duration) {
  let total = 0;
  for (const [, n, unit] of String(duration).matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += parseFloat(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit];
  }
  return total;
}

// The k6 options: an optional warm-up ramp, then a constant-arrival-rate scenario `main` running
// `exec`, with the thresholds every load test gates on. Per-operation p95 sub-metrics of `main`
// are listed so the summary shows them.
export function options(exec, names) {
  const main = '{scenario:main}';
  const thresholds = {
    [`http_req_duration${main}`]: [`p(95)<${P95_MS}`],
    http_req_failed: ['rate<=0'],
    checks: ['rate>=0.999'],
    [`dropped_iterations${main}`]: ['count<1'],
    // Listed so that the summary has the measured run's own counts.
    [`http_reqs${main}`]: ['count>=0'],
    [`iterations${main}`]: ['count>=0'],
  };
  for (const n of names) thresholds[`http_req_duration{scenario:main,name:${n}}`] = ['max>=0'];
  // VUs started before the measured run (VUS; default half a second's iterations). k6 starts
  // more while running (up to RATE), but an iteration that finds no free VU meanwhile is dropped:
  // half a second's worth ride out a short stall (a slow disk holding every commit), which then
  // shows in the latencies instead of as drops.
  const preAllocatedVUs = parseInt(__ENV.VUS || String(Math.max(20, Math.ceil(RATE / 2))), 10);
  const vus = { preAllocatedVUs, maxVUs: Math.max(100, RATE, preAllocatedVUs) };
  const scenarios = {
    main: Object.assign({
      executor: 'constant-arrival-rate', exec, rate: RATE, timeUnit: '1s', duration: DURATION,
    }, vus),
  };
  if (seconds(WARMUP) > 0) {
    scenarios.warmup = Object.assign({
      executor: 'ramping-arrival-rate', exec, startRate: Math.max(1, Math.ceil(RATE / 10)),
      timeUnit: '1s', stages: [{ duration: WARMUP, target: RATE }], gracefulStop: '2s',
      preAllocatedVUs: Math.max(20, Math.ceil(RATE / 10)), maxVUs: vus.maxVUs,
    });
    scenarios.main.startTime = WARMUP;
  }
  return {
    scenarios,
    thresholds,
    summaryTrendStats: ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
    discardResponseBodies: false,
    setupTimeout: '120s',
    noConnectionReuse: false,
  };
}

// Register the agents and store memories so gets and queries have data.
export function setupData() {
  const ready = http.get(`${BASE}/health/ready`);
  if (ready.status !== 200) throw new Error(`service not ready at ${BASE}: ${ready.status}`);
  const agents = [];
  for (let i = 0; i < N_AGENTS; i++) {
    agents.push(['PUT', `${BASE}/v1/agents/${agentId(i)}`, '{}', PARAMS]);
  }
  for (const r of http.batch(agents)) {
    if (r.status !== 200 && r.status !== 201) throw new Error(`register agent: ${r.status}`);
  }
  const ids = [];
  for (let start = 0; start < N_SEED; start += 20) {
    const batch = [];
    for (let i = start; i < Math.min(start + 20, N_SEED); i++) {
      batch.push(['POST', `${BASE}/v1/memories`, JSON.stringify(memoryBody(i)), PARAMS]);
    }
    for (const r of http.batch(batch)) {
      if (r.status !== 201) throw new Error(`seed memory: ${r.status} ${r.body}`);
      ids.push(r.json('id'));
    }
  }
  return { ids };
}

function memoryBody(i) {
  return {
    agent_id: agentId(i),
    context: {
      note: `${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)} follow-up ${i}`,
      customer: `cust-${rnd(500)}`,
      score: rnd(100),
    },
    tags: [pick(TAGS), pick(TAGS)],
    importance: Math.round(Math.random() * 100) / 100,
  };
}

// Ids this VU stored itself (each VU has its own copy of module state).
const myIds = [];

// Agents of the first half write during the run; the second half only have the memories seeded
// in setup (a read-mostly knowledge base), so queries on them can stay cached.
export function store() {
  const r = http.post(`${BASE}/v1/memories`, JSON.stringify(memoryBody(rnd(Math.ceil(N_AGENTS / 2)))),
    Object.assign({ tags: { name: 'store' } }, PARAMS));
  if (expect(r, 'store', 201)) {
    myIds.push(r.json('id'));
    if (myIds.length > 100) myIds.shift();
  }
}

export function get(data) {
  const pool = myIds.length > 0 && Math.random() < 0.5 ? myIds : data.ids;
  const r = http.get(`${BASE}/v1/memories/${pick(pool)}`,
    Object.assign({ tags: { name: 'get' } }, PARAMS));
  expect(r, 'get', 200);
}

// A fixed pool of query bodies: by agent, by tag, by text, the way agents repeat questions.
const QUERY_POOL = [];
for (let i = 0; i < 24; i++) {
  if (i % 3 === 0) QUERY_POOL.push({ agent_id: agentId(i), limit: 10 });
  else if (i % 3 === 1) QUERY_POOL.push({ agent_id: agentId(i), tags: [TAGS[i % TAGS.length]], limit: 10 });
  else QUERY_POOL.push({ tags: [TAGS[i % TAGS.length]], text: WORDS[i % WORDS.length], limit: 10 });
}

export function query() {
  let body;
  if (Math.random() < NEW_QUERY_SHARE) {
    // A new question: same shapes, a body never seen before (min_importance varies).
    body = Object.assign({}, pick(QUERY_POOL), { min_importance: Math.random() });
  } else {
    body = pick(QUERY_POOL);
  }
  const r = http.post(`${BASE}/v1/memories/query`, JSON.stringify(body),
    Object.assign({ tags: { name: 'query' } }, PARAMS));
  if (expect(r, 'query', 200)) {
    const c = r.headers['X-Brain-Cache'];
    if (c === 'hit' || c === 'miss') cacheHit.add(c === 'hit');
  }
}

export function share() {
  const from = rnd(1e6);
  let to = rnd(1e6);
  if (agentId(to) === agentId(from)) to += 1;
  const body = {
    from_agent: agentId(from),
    to_agent: agentId(to),
    context: { note: `${pick(WORDS)} update`, ref: rnd(1e6) },
    priority: pick(PRIORITIES),
  };
  const r = http.post(`${BASE}/v1/messages`, JSON.stringify(body),
    Object.assign({ tags: { name: 'share' } }, PARAMS));
  expect(r, 'share', 201);
}

// Take pending messages of an agent as this VU's consumer, then acknowledge what came back.
export function pendingAck() {
  const agent = agentId(rnd(1e6));
  const r = http.get(`${BASE}/v1/agents/${agent}/messages?limit=10&consumer=vu${__VU}`,
    Object.assign({ tags: { name: 'pending' } }, PARAMS));
  if (!expect(r, 'pending', 200)) return;
  const body = r.json();
  const items = Array.isArray(body) ? body : body.items || [];
  if (items.length === 0) return;
  const a = http.post(`${BASE}/v1/agents/${agent}/messages/ack`,
    JSON.stringify({ ids: items.map((m) => m.id) }), Object.assign({ tags: { name: 'ack' } }, PARAMS));
  expect(a, 'ack', 200);
}

// The agent mix of mixed.js and overload.js: [[weight, fn], ...].
export const MIXED = [
  [35, query],
  [20, get],
  [15, store],
  [15, share],
  [15, pendingAck],
];

// Run one of the weighted operations: mix is [[weight, fn], ...].
export function weighted(mix, data) {
  const total = mix.reduce((s, m) => s + m[0], 0);
  let x = Math.random() * total;
  for (const [w, fn] of mix) {
    x -= w;
    if (x < 0) return fn(data);
  }
  return mix[mix.length - 1][1](data);
}

// ---- summary ---------------------------------------------------------------------------------

const f = (v, d = 1) => (v === undefined || v === null ? '-' : Number(v).toFixed(d));

export function report(name, data) {
  const m = data.metrics;
  const v = (k) => (m[k] ? m[k].values : {});
  const main = (k) => v(`${k}{scenario:main}`);
  const d = main('http_req_duration');
  const measured = seconds(DURATION);
  const lines = [];
  const breached = [];
  for (const [k, metric] of Object.entries(m)) {
    for (const [expr, t] of Object.entries(metric.thresholds || {})) {
      if (!t.ok) breached.push(`${k} ${expr}`);
    }
  }
  const warm = seconds(WARMUP) > 0 ? ` after a ${WARMUP} warm-up ramp` : '';
  lines.push(`== k6 ${name}: target ${RATE}/s for ${DURATION}${warm}, p95 limit ${P95_MS} ms (${BASE})`);
  lines.push(`requests   ${f(main('http_reqs').count, 0)} at ${f(main('http_reqs').count / measured)} req/s; ` +
    `iterations ${f(main('iterations').count / measured)}/s; ` +
    `dropped ${f(main('dropped_iterations').count || 0, 0)}`);
  lines.push(`latency    p50 ${f(d.med, 2)} ms  p90 ${f(d['p(90)'], 2)}  p95 ${f(d['p(95)'], 2)}  ` +
    `p99 ${f(d['p(99)'], 2)}  max ${f(d.max, 2)}`);
  lines.push(`failed     ${f(100 * (v('http_req_failed').rate || 0), 3)} %${warm ? ' (warm-up included)' : ''}  ` +
    `checks ${f(100 * (v('checks').rate || 0), 3)} %` +
    (m.brain_cache_hit ? `  query cache hits ${f(100 * v('brain_cache_hit').rate)} %` : '') +
    `  max VUs ${f(v('vus_max').value, 0)}` +
    (m.brain_unexpected_status ? `  unexpected statuses ${v('brain_unexpected_status').count}` : ''));
  const prefix = 'http_req_duration{scenario:main,name:';
  const per = Object.keys(m).filter((k) => k.startsWith(prefix)).sort();
  for (const k of per) {
    const s = m[k].values;
    lines.push(`  ${k.slice(prefix.length, -1).padEnd(8)} p50 ${f(s.med, 2).padStart(7)} ms  ` +
      `p95 ${f(s['p(95)'], 2).padStart(7)} ms  max ${f(s.max, 2).padStart(8)} ms`);
  }
  lines.push(breached.length ? `THRESHOLDS BREACHED: ${breached.join('; ')}` : 'thresholds: all passed');
  return lines.join('\n') + '\n';
}

export function summary(name, data) {
  const text = report(name, data);
  const out = {};
  out[`${OUT_DIR}/${name}.json`] = JSON.stringify(data, null, 2);
  out[`${OUT_DIR}/${name}.txt`] = text;
  out.stdout = text;
  return out;
}
