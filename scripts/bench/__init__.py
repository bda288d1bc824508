"""`make bench`: the Brain HTTP API beside raw psycopg / redis-py baselines, printed, not asserted.

`python -m scripts.bench` starts its own PostgreSQL and Redis in a temporary directory and the
real service (`brain serve`) on a free port. It measures store, get, cached query and uncached
query through HTTP, each beside the same work done directly through psycopg or redis-py at the
same concurrency, then the latency of sequential uncached queries at three table sizes (10k, 100k,
1M rows loaded with COPY) with the growth of p50 beside the growth of log(rows), then a peer:
LangGraph's `AsyncPostgresStore` (langgraph-checkpoint-postgres, in-process, no HTTP) doing the
equivalent put and filtered search in a third database of the same server, beside the API's
store, uncached and cached query. Then messaging, with ten registered agents: share
(POST /v1/messages) beside the service's two outbox INSERTs through psycopg and beside a raw XADD;
the pending + ack round trip beside XREADGROUP + XACK; broadcast beside the INSERTs of the message
and its nine deliveries followed by nine pipelined XADDs; and the end-to-end latency from sending
a share to receiving it over Server-Sent Events and over a long poll, beside a raw XADD waking a
blocked XREADGROUP. The messaging INSERT baselines run in a second database of the same server
with the same schema, so that the service's outbox relay (which appends every committed delivery
not yet marked as appended) does not pick their rows up. Last, the service's CPU per request for
a cached query and for GET /health/live beside a minimal Litestar app doing the same work
(`baseline_app`), the same number of requests to each, one after the other. Then recall by
meaning (`vectors`): recall@10 of filtered HNSW search against exact k-NN at 10k, 100k and 1M
384-d vectors (filters keeping 50, 10 and 1 % of rows), p50/p95 of queries by vector and hybrid,
store throughput with the local model beside client vectors and none, and the same searches in
LangGraph's `AsyncPostgresStore` with its vector index (`--vector-scales`, `--quick`).
Client-side latencies come from `time.perf_counter`; "in-service" latencies from the
`Server-Timing: app;dur=<ms>` header.
Exit status: 1 when the service does not start or more than 1% of HTTP requests fail.

Modules: `harness` (runs, timing, CPU accounting), `client` (the HTTP client), `context` (the
servers and what every part shares), one module per part (`memory`, `peer`, `scale`,
`messaging` with `delivery`, `cpu` with `baseline_app`, `vectors`), `report` and `results`
(the output).
"""
