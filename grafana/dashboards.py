"""Brain's Grafana dashboards as code (grafana-foundation-sdk).

    python grafana/dashboards.py           # write grafana/dashboards/*.json
    python grafana/dashboards.py --check   # exit 1 if the committed JSON is not what this makes

Every panel queries the `datasource` template variable, has a unit, and takes rates over
`$__rate_interval`. The JSON is plain dashboard JSON (no export wrapper), so it can be
provisioned from files or mounted from a ConfigMap by the Grafana sidecar.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

OUT = Path(__file__).resolve().parent / "dashboards"
TAGS = ["brain"]
RATE = "$__rate_interval"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

Target = tuple[str, str]  # (PromQL, legend)

# -- building blocks -----------------------------------------------------------------------------


def datasource_variable() -> dash.DatasourceVariable:
    return dash.DatasourceVariable("datasource").label("Data source").type("prometheus")


def query_variable(name: str, label: str, query: str) -> dash.QueryVariable:
    """A multi-value variable from `label_values(...)`; "All" matches series without the label
    too, so the dashboards also work where Prometheus adds no such label."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(DATASOURCE)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def queries(targets: Sequence[Target]) -> list[prometheus.Dataquery]:
    return [
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(chr(ord("A") + index))
        .datasource(DATASOURCE)
        .range()
        for index, (expr, legend) in enumerate(targets)
    ]


def thresholds(*steps: tuple[str, float | None]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for color, value in steps])
    )


def value_map(texts: dict[str, tuple[str, str]]) -> list[model.ValueMapping]:
    """Value mappings: {"0": ("down", "red"), ...} shows 0 as a red "down"."""
    return [
        model.ValueMap(
            options={
                value: model.ValueMappingResult(text=text, color=color, index=index)
                for index, (value, (text, color)) in enumerate(texts.items())
            }
        )
    ]


UP_DOWN = value_map({"0": ("down", "red"), "1": ("up", "green")})
OK_FAILED = value_map({"0": ("failed", "red"), "1": ("ok", "green")})
GREEN = thresholds(("green", None))


def graph(
    title: str,
    unit: str,
    description: str,
    targets: Sequence[Target],
    *,
    width: int = 12,
    height: int = 8,
    bars: bool = False,
    max_value: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .targets(queries(targets))
        .span(width)
        .height(height)
        .min(0)
        .thresholds(GREEN)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .draw_style(common.GraphDrawStyle.BARS if bars else common.GraphDrawStyle.LINE)
        .legend(
            common_builder.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs([])
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if max_value is not None:
        panel.max(max_value)
    return panel


def single(
    title: str,
    unit: str,
    description: str,
    targets: Sequence[Target],
    *,
    steps: dash.ThresholdsConfig = GREEN,
    mappings: list[model.ValueMapping] | None = None,
    no_value: str | None = None,
    width: int = 4,
    height: int = 4,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .targets(queries(targets))
        .span(width)
        .height(height)
        .thresholds(steps)
        .mappings(mappings or [])
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.NONE if mappings else common.BigValueGraphMode.AREA)
        .text_mode(common.BigValueTextMode.AUTO)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if no_value is not None:
        panel.no_value(no_value)
    return panel


def states(
    title: str,
    description: str,
    targets: Sequence[Target],
    mappings: list[model.ValueMapping],
    *,
    width: int = 12,
    height: int = 6,
) -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .unit("none")
        .datasource(DATASOURCE)
        .targets(queries(targets))
        .span(width)
        .height(height)
        .mappings(mappings)
        .thresholds(GREEN)
        .show_value(common.VisibilityMode.AUTO)
        .legend(
            common_builder.VizLegendOptions()
            .show_legend(False)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
        .tooltip(common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.SINGLE))
    )


Panel = timeseries.Panel | stat.Panel | statetimeline.Panel


def board(
    uid: str,
    title: str,
    description: str,
    variables: Sequence[dash.QueryVariable],
    rows: Sequence[tuple[str, Sequence[Panel]]],
) -> dash.Dashboard:
    builder = (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .with_variable(datasource_variable())
        .link(
            dash.DashboardLink("Brain dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for variable in variables:
        builder.with_variable(variable)
    for row_title, panels in rows:
        builder.with_row(dash.Row(row_title))
        for panel in panels:
            builder.with_panel(panel)
    return builder


# -- the service dashboard -----------------------------------------------------------------------

SVC = 'namespace=~"$namespace"'
ROUTES = f'{SVC}, route=~"$route"'
FIVE_XX = '"5.."'


def rate(metric: str, selector: str = SVC, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{selector}}}[{RATE}]))"


def latency(quantile: float, by: str = "le") -> str:
    return (
        f"histogram_quantile({quantile}, "
        f"{rate('brain_http_request_duration_seconds_bucket', ROUTES, by)})"
    )


def hit_ratio(by: str = "") -> str:
    hits = rate("brain_cache_requests_total", f'{SVC}, result="hit"', by)
    lookups = rate("brain_cache_requests_total", f'{SVC}, result=~"hit|miss"', by)
    return f"{hits} / {lookups}"


def pool_saturation() -> str:
    size = f'brain_db_pool_connections{{{SVC}, state="size"}}'
    available = f'brain_db_pool_connections{{{SVC}, state="available"}}'
    limit = f"brain_db_pool_max{{{SVC}}}"
    return f"max by (pool) (({size} - ignoring (state) {available}) / ignoring (state) {limit})"


def service() -> dash.Dashboard:
    requests = "brain_http_requests_total"
    errors_5xx = rate(requests, f"{ROUTES}, status=~{FIVE_XX}")
    by = "method, route"
    overview = [
        single(
            "Request rate",
            "reqps",
            "HTTP requests per second over the selected routes, all statuses.",
            [(rate(requests, ROUTES), "requests")],
        ),
        single(
            "5xx ratio",
            "percentunit",
            "Share of requests answered with a 5xx status (503 while PostgreSQL is down).",
            [(f"{errors_5xx} / {rate(requests, ROUTES)}", "5xx")],
            steps=thresholds(("green", None), ("orange", 0.01), ("red", 0.05)),
        ),
        single(
            "p99 latency",
            "s",
            "99th percentile of the time spent inside the service, all selected routes.",
            [(latency(0.99), "p99")],
            steps=thresholds(("green", None), ("orange", 0.25), ("red", 1)),
        ),
        single(
            "Cache hit rate",
            "percentunit",
            "Cache hits / (hits + misses), as in GET /v1/stats; bypassed lookups are not counted.",
            [(hit_ratio(), "hit rate")],
            steps=thresholds(("red", None), ("orange", 0.5), ("green", 0.8)),
        ),
        single(
            "Outbox backlog",
            "short",
            "Deliveries committed in PostgreSQL but not yet appended to a Redis stream. Every "
            "process reports the same database count, hence max.",
            [(f"max(brain_outbox_backlog{{{SVC}}})", "backlog")],
            steps=thresholds(("green", None), ("orange", 100), ("red", 1000)),
        ),
        single(
            "Dependencies",
            "none",
            "Worst state of each dependency across the service's scrape targets.",
            [(f"min by (dependency) (brain_dependency_up{{{SVC}}})", "{{dependency}}")],
            mappings=UP_DOWN,
            steps=thresholds(("red", None), ("green", 1)),
        ),
    ]
    red = [
        graph(
            "Requests by route",
            "reqps",
            "Rate of HTTP requests per route template and method.",
            [(rate(requests, ROUTES, "method, route"), "{{method}} {{route}}")],
        ),
        graph(
            "Errors by route and status",
            "reqps",
            "Rate of 4xx and 5xx answers per route and status. 4xx are client errors (bad "
            "input, unknown ids); 5xx mean the service or a dependency failed.",
            [
                (
                    rate(requests, f'{ROUTES}, status=~"[45].."', "method, route, status"),
                    "{{status}} {{method}} {{route}}",
                )
            ],
        ),
        graph(
            "5xx ratio by route",
            "percentunit",
            "Share of each route's requests answered with a 5xx status.",
            [
                (
                    f"{rate(requests, f'{ROUTES}, status=~{FIVE_XX}', by)} / "
                    f"{rate(requests, ROUTES, by)}",
                    "{{method}} {{route}}",
                )
            ],
        ),
        graph(
            "Requests by status",
            "reqps",
            "Rate of HTTP requests per status code over the selected routes.",
            [(rate(requests, ROUTES, "status"), "{{status}}")],
        ),
        graph(
            "p99 latency by route",
            "s",
            "99th percentile of the request duration per route (histogram buckets up to 10 s).",
            [(latency(0.99, "method, route, le"), "{{method}} {{route}}")],
        ),
        graph(
            "p50 latency by route",
            "s",
            "Median request duration per route.",
            [(latency(0.5, "method, route, le"), "{{method}} {{route}}")],
        ),
    ]
    admitted = rate("brain_admission_admitted_total")
    shed = rate("brain_admission_shed_total")
    wait = "brain_admission_wait_seconds_bucket"
    loop_delay = "brain_event_loop_delay_seconds_bucket"
    admission = [
        graph(
            "Admitted and shed",
            "reqps",
            "Requests admission control let start (admitted), refused with a 503 and "
            "Retry-After: 1 before any of it ran (shed, by reason: queue_full = refused at once, "
            "the line being full; waited = no place in time: BRAIN_MAX_QUEUE_MS while "
            "overloaded, 1 s in a burst), and those that found the limit reached and waited "
            "(admitted or shed after). Probes, /metrics, event streams, long polls and "
            "in-process requests are not counted.",
            [
                (admitted, "admitted"),
                (rate("brain_admission_shed_total", SVC, "reason"), "shed {{reason}}"),
                (rate("brain_admission_queued_total"), "waited for a place"),
            ],
            width=6,
        ),
        graph(
            "Share shed",
            "percentunit",
            "Shed / (shed + admitted): what BrainShedding watches (above 1 % for 10 minutes). "
            "Refusals are answered before the request metrics and the access log see them: "
            "they are counted here only.",
            [(f"{shed} / ({shed} + {admitted})", "shed")],
            width=6,
            max_value=1,
        ),
        graph(
            "In flight and waiting, against the limit",
            "short",
            "Requests running under admission control and requests waiting for a place "
            "(sampled every 5 s), beside the limit (the places the processes have now: it drops "
            "while a process is overloaded and grows in bursts that wait on the database), and "
            "the processes overloaded now, summed over the scrape targets.",
            [
                (f"sum(brain_admission_in_flight{{{SVC}}})", "in flight"),
                (f"sum(brain_admission_waiting{{{SVC}}})", "waiting"),
                (f"sum(brain_admission_limit{{{SVC}}})", "limit"),
                (f"sum(brain_admission_overloaded{{{SVC}}})", "processes overloaded"),
            ],
            width=6,
        ),
        graph(
            "Waits and the event loop's delay",
            "s",
            "p99 of how long the requests that found the limit reached waited (admitted or shed "
            "after), and p50 / p99 of the event loop's delay (how late it runs what is due, "
            "measured every 5 ms per process): a delay standing above 10 ms for 1 s is an "
            "overload, and the limit drops.",
            [
                (f"histogram_quantile(0.99, {rate(wait, SVC, 'le')})", "wait p99"),
                (f"histogram_quantile(0.5, {rate(loop_delay, SVC, 'le')})", "loop delay p50"),
                (f"histogram_quantile(0.99, {rate(loop_delay, SVC, 'le')})", "loop delay p99"),
            ],
            width=6,
        ),
    ]
    cache = [
        graph(
            "Cache lookups by result",
            "ops",
            "Cache lookups per second: hit, miss, or bypass (Redis unavailable; the request "
            "was served from PostgreSQL).",
            [(rate("brain_cache_requests_total", SVC, "result"), "{{result}}")],
            width=8,
        ),
        graph(
            "Cache hit rate",
            "percentunit",
            "Cache hits / (hits + misses).",
            [(hit_ratio(), "hit rate")],
            width=8,
            max_value=1,
        ),
        graph(
            "Memories written",
            "wps",
            "Memories stored (committed) per second.",
            [(rate("brain_memories_written_total"), "written")],
            width=8,
        ),
    ]
    calls = "brain_embedding_calls_total"
    refused = rate(calls, f'{SVC}, outcome=~"failed|paused"', "provider")
    embeddings = [
        graph(
            "Embedding model calls by outcome",
            "ops",
            "Calls to the embedding model per second (stores arriving together share one call): "
            "ok; failed (the OpenAI-compatible endpoint refused, erred or missed "
            "BRAIN_EMBEDDINGS_TIMEOUT_SECONDS, retries included); paused (refused at once in the "
            "5 s after a failure).",
            [(rate(calls, SVC, "provider, outcome"), "{{provider}} {{outcome}}")],
            width=6,
        ),
        graph(
            "Embedding calls refused",
            "percentunit",
            "Failed and paused calls / all calls, per provider: what BrainEmbeddingsFailing "
            "watches (above half for 10 minutes). Meanwhile queries by meaning and dedupe stores "
            "answer 503 and memories are stored without their vector.",
            [(f"{refused} / {rate(calls, SVC, 'provider')}", "{{provider}}")],
            width=6,
            max_value=1,
        ),
        graph(
            "Memories deferred and filled",
            "wps",
            "Deferred: memories stored without their vector because the model was unavailable. "
            "Filled: vectors given to stored memories by the backfill (every 5 s in every "
            "process) or brain reembed. How many still wait: /v1/stats, "
            "memories.waiting_for_embedding.",
            [
                (rate("brain_embeddings_deferred_total"), "deferred"),
                (rate("brain_embeddings_filled_total"), "filled"),
            ],
            width=6,
        ),
        graph(
            "Near duplicates",
            "reqps",
            "Stores with dedupe answered 200 with an existing memory instead of storing a new "
            "one, beside the memories stored.",
            [
                (rate("brain_memories_deduplicated_total"), "deduplicated"),
                (rate("brain_memories_written_total"), "written"),
            ],
            width=6,
        ),
    ]
    messaging = [
        graph(
            "Messages published",
            "mps",
            "Messages committed per second, by kind (direct, broadcast) and priority.",
            [
                (
                    rate("brain_messages_published_total", SVC, "kind, priority"),
                    "{{kind}} {{priority}}",
                )
            ],
        ),
        graph(
            "Deliveries acknowledged, redelivered, relayed",
            "mps",
            "Acknowledged deliveries; deliveries handed out again (lease expired or Redis lost "
            "data); deliveries the outbox relay appended because the share path could not.",
            [
                (rate("brain_messages_acked_total"), "acked"),
                (rate("brain_messages_redelivered_total"), "redelivered"),
                (rate("brain_relay_appended_total"), "relayed"),
            ],
        ),
        graph(
            "Outbox backlog",
            "short",
            "Deliveries committed but not yet on a stream. Grows while Redis is down; should "
            "drain within seconds once it is back.",
            [(f"max(brain_outbox_backlog{{{SVC}}})", "backlog")],
        ),
        graph(
            "Stream pending messages",
            "short",
            "Messages taken from the delivery streams and not yet acknowledged (leased).",
            [(f"max(brain_stream_pending_messages{{{SVC}}})", "pending")],
        ),
    ]
    dependencies = [
        states(
            "Dependency up",
            "1 when the dependency answered its last check, worst across scrape targets.",
            [(f"min by (dependency) (brain_dependency_up{{{SVC}}})", "{{dependency}}")],
            UP_DOWN,
        ),
        graph(
            "Redis outages",
            "short",
            "Times a service process saw Redis become unreachable; it then bypasses the cache "
            "and keeps sharing into the outbox until Redis answers again.",
            [
                (
                    f"sum(increase(brain_redis_outages_total{{{SVC}}}[{RATE}]))",
                    "outages",
                )
            ],
            height=6,
            bars=True,
        ),
        graph(
            "Database pool saturation",
            "percentunit",
            "Connections in use (size - available) / pool maximum, for the busiest scrape "
            "target (a pod: with several workers /metrics sums their pools).",
            [(pool_saturation(), "{{pool}}")],
            max_value=1,
        ),
        graph(
            "Database pool connections",
            "short",
            "Connections per pool and state (size = open, available = idle), summed over "
            "scrape targets.",
            [
                (
                    f"sum by (pool, state) (brain_db_pool_connections{{{SVC}, "
                    f'state=~"size|available"}})',
                    "{{pool}} {{state}}",
                )
            ],
        ),
        graph(
            "Requests waiting for a database connection",
            "short",
            "Requests queued for a connection (waiting; above zero the pool is the bottleneck), "
            "and writes queued for one of the connections writes may hold (writes_waiting; with "
            "reads fast, commits are slow: WAL flushes, locks).",
            [
                (
                    f"sum by (pool, state) (brain_db_pool_connections{{{SVC}, "
                    f'state=~"waiting|writes_waiting"}})',
                    "{{pool}} {{state}}",
                )
            ],
        ),
        graph(
            "Redis connections",
            "short",
            "Redis connections per client (main, and blocking for long polls) and state, "
            "summed over scrape targets.",
            [
                (
                    f"sum by (client, state) (brain_redis_connections{{{SVC}}})",
                    "{{client}} {{state}}",
                )
            ],
        ),
    ]
    # prometheus-client's multiprocess mode (brain serve --workers N > 1) exports no process_*
    # metrics: these panels are then empty.
    process = [
        graph(
            "CPU",
            "percentunit",
            "CPU time per second of each service process (1.0 = one core). Empty with "
            "several workers: multiprocess /metrics has no process_* metrics.",
            [
                (
                    f"sum by (instance) (rate(process_cpu_seconds_total{{{SVC}}}[{RATE}]))",
                    "{{instance}}",
                )
            ],
            width=8,
        ),
        graph(
            "Resident memory",
            "bytes",
            "Resident set size of each service process.",
            [(f"process_resident_memory_bytes{{{SVC}}}", "{{instance}}")],
            width=8,
        ),
        graph(
            "File descriptors",
            "percentunit",
            "Open file descriptors / limit, per process (sockets count).",
            [
                (
                    f"process_open_fds{{{SVC}}} / process_max_fds{{{SVC}}}",
                    "{{instance}}",
                )
            ],
            width=8,
            max_value=1,
        ),
    ]
    access = [
        graph(
            "Refused credentials",
            "reqps",
            "Requests refused with a 401, by reason: `invalid` (not a token Brain issues), "
            "`unknown` (an API key unknown, revoked or expired). A rise is a leaked or stale key "
            "being tried; the access log's lines carry the workspace and key id.",
            [(rate("brain_auth_failures_total", SVC, "reason"), "{{reason}}")],
            width=8,
        ),
        graph(
            "Rate limited, and unchecked",
            "reqps",
            "429s from API keys' rate limits, and requests of rate-limited keys let through "
            "unchecked because Redis did not answer (the limiter fails open).",
            [
                (rate("brain_rate_limited_total"), "429"),
                (rate("brain_rate_limit_fail_open_total"), "unchecked (Redis down)"),
            ],
            width=8,
        ),
        graph(
            "API key lookups",
            "ops",
            "Keys read from PostgreSQL: once per key and process every 0.5 s at most, never per "
            "request; far above (keys x processes x 2/s) means a cache that does not hold.",
            [(rate("brain_key_lookups_total"), "lookups")],
            width=8,
        ),
    ]
    return board(
        "brain-service",
        "Brain / Service",
        "Brain's HTTP API (RED per route), admission control, cache, messaging outbox and "
        "streams, dependencies and connection pools, from the service's own /metrics.",
        [
            query_variable(
                "namespace", "Namespace", "label_values(brain_http_requests_total, namespace)"
            ),
            query_variable(
                "route",
                "Route",
                'label_values(brain_http_requests_total{namespace=~"$namespace"}, route)',
            ),
        ],
        [
            ("Overview", overview),
            ("Requests (rate, errors, duration per route)", red),
            ("Admission control", admission),
            ("Cache and memories", cache),
            ("Embeddings", embeddings),
            ("Messaging", messaging),
            ("Dependencies and pools", dependencies),
            ("Workspaces and API keys", access),
            ("Process", process),
        ],
    )


# -- the data dashboard --------------------------------------------------------------------------

PG = 'namespace=~"$pg_namespace", pod=~"$pg_cluster-[0-9]+"'
REDIS = 'namespace=~"$redis_namespace"'


def postgres() -> list[Panel]:
    return [
        single(
            "Instances up",
            "none",
            "CloudNativePG instances whose exporter reached PostgreSQL (cnpg_collector_up).",
            [(f"sum(cnpg_collector_up{{{PG}}})", "up")],
            steps=thresholds(("red", None), ("green", 1)),
        ),
        single(
            "Streaming replicas",
            "none",
            "Standbys streaming from the primary (pg_stat_replication rows on the primary).",
            [(f"max(cnpg_pg_replication_streaming_replicas{{{PG}}})", "replicas")],
            steps=thresholds(("red", None), ("green", 1)),
        ),
        single(
            "Max replication lag",
            "s",
            "Largest replay lag of any standby, in seconds.",
            [(f"max(cnpg_pg_replication_lag{{{PG}}})", "lag")],
            steps=thresholds(("green", None), ("orange", 10), ("red", 60)),
        ),
        single(
            "Since last WAL archived",
            "s",
            "Seconds since the primary last archived a WAL segment (-1: never).",
            [(f"max(cnpg_pg_stat_archiver_seconds_since_last_archival{{{PG}}})", "age")],
            steps=thresholds(("green", None), ("orange", 600), ("red", 3600)),
        ),
        single(
            "Last backup age",
            "s",
            "Time since the newest available base backup (cnpg_collector_last_available_backup"
            "_timestamp; zero, hence no value, until the first backup completes).",
            [
                (
                    f"time() - max(cnpg_collector_last_available_backup_timestamp{{{PG}}} > 0)",
                    "age",
                )
            ],
            steps=thresholds(("green", None), ("orange", 26 * 3600), ("red", 50 * 3600)),
            no_value="no backup",
        ),
        single(
            "Recovery window",
            "s",
            "Time since the first point of recoverability (how far back PITR can go).",
            [
                (
                    f"time() - max(cnpg_collector_first_recoverability_point{{{PG}}} > 0)",
                    "window",
                )
            ],
            no_value="no backup",
        ),
        states(
            "Instance role",
            "Primary or standby (cnpg_pg_replication_in_recovery) per instance.",
            [(f"max by (pod) (cnpg_pg_replication_in_recovery{{{PG}}})", "{{pod}}")],
            value_map({"0": ("primary", "blue"), "1": ("standby", "purple")}),
        ),
        graph(
            "Replication lag",
            "s",
            "Replay lag of each standby behind the primary, in seconds.",
            [(f"max by (pod) (cnpg_pg_replication_lag{{{PG}}})", "{{pod}}")],
            height=6,
        ),
        graph(
            "Replication lag (bytes)",
            "bytes",
            "WAL not yet replayed by each standby, seen from the primary.",
            [
                (
                    f"max by (application_name) "
                    f"(cnpg_pg_stat_replication_replay_diff_bytes{{{PG}}})",
                    "{{application_name}}",
                )
            ],
        ),
        graph(
            "WAL archiving",
            "cps",
            "WAL segments archived and failed archive attempts per second.",
            [
                (
                    f"sum(rate(cnpg_pg_stat_archiver_archived_count{{{PG}}}[{RATE}]))",
                    "archived",
                ),
                (
                    f"sum(rate(cnpg_pg_stat_archiver_failed_count{{{PG}}}[{RATE}]))",
                    "failed",
                ),
            ],
        ),
        graph(
            "WAL segments waiting to be archived",
            "short",
            "Files in pg_wal/archive_status marked .ready: a growing number means archiving "
            "is falling behind or failing.",
            [
                (
                    f'max by (pod) (cnpg_collector_pg_wal_archive_status{{{PG}, value="ready"}})',
                    "{{pod}}",
                )
            ],
        ),
        graph(
            "Since last WAL archived",
            "s",
            "Seconds since the last successful archival, per instance.",
            [
                (
                    f"max by (pod) (cnpg_pg_stat_archiver_seconds_since_last_archival{{{PG}}})",
                    "{{pod}}",
                )
            ],
        ),
        graph(
            "Backend connections / max_connections",
            "percentunit",
            "Backends per instance over its max_connections setting.",
            [
                (
                    f"sum by (pod) (cnpg_backends_total{{{PG}}}) / on (pod) "
                    f'max by (pod) (cnpg_pg_settings_setting{{{PG}, name="max_connections"}})',
                    "{{pod}}",
                )
            ],
            max_value=1,
        ),
        graph(
            "Database size",
            "bytes",
            "Size of each database on the primary.",
            [
                (
                    f"max by (datname) (cnpg_pg_database_size_bytes{{{PG}}})",
                    "{{datname}}",
                )
            ],
        ),
    ]


def redis() -> list[Panel]:
    return [
        single(
            "Redis up",
            "none",
            "Redis instances the exporter reached (redis_up).",
            [(f"min(redis_up{{{REDIS}}})", "up")],
            mappings=UP_DOWN,
            steps=thresholds(("red", None), ("green", 1)),
        ),
        single(
            "Memory used / max",
            "percentunit",
            "Highest memory use over maxmemory of any instance (no value without maxmemory).",
            [
                (
                    f"max(redis_memory_used_bytes{{{REDIS}}} "
                    f"/ (redis_memory_max_bytes{{{REDIS}}} > 0))",
                    "used",
                )
            ],
            steps=thresholds(("green", None), ("orange", 0.8), ("red", 0.9)),
            no_value="no maxmemory",
        ),
        single(
            "AOF enabled",
            "none",
            "Whether every instance appends to its AOF (Brain's embedded Redis uses everysec).",
            [(f"min(redis_aof_enabled{{{REDIS}}})", "aof")],
            mappings=value_map({"0": ("off", "orange"), "1": ("on", "green")}),
            steps=thresholds(("orange", None), ("green", 1)),
        ),
        single(
            "Last AOF write",
            "none",
            "Status of the last AOF write, worst instance.",
            [(f"min(redis_aof_last_write_status{{{REDIS}}})", "aof write")],
            mappings=OK_FAILED,
            steps=thresholds(("red", None), ("green", 1)),
        ),
        single(
            "Cluster state",
            "none",
            "CLUSTER INFO cluster_state, worst node (no value when Redis is not a cluster).",
            [(f"min(redis_cluster_state{{{REDIS}}})", "cluster")],
            mappings=OK_FAILED,
            steps=thresholds(("red", None), ("green", 1)),
            no_value="not a cluster",
        ),
        single(
            "Cluster slots ok",
            "none",
            "Hash slots served by a healthy node, fewest seen by any node (16384 expected).",
            [(f"min(redis_cluster_slots_ok{{{REDIS}}})", "slots")],
            steps=thresholds(("red", None), ("green", 16384)),
            no_value="not a cluster",
        ),
        graph(
            "Memory",
            "bytes",
            "Memory used and maxmemory per instance.",
            [
                (f"redis_memory_used_bytes{{{REDIS}}}", "{{instance}} used"),
                (f"redis_memory_max_bytes{{{REDIS}}} > 0", "{{instance}} max"),
            ],
        ),
        graph(
            "Evicted and expired keys",
            "cps",
            "Keys evicted for memory (Brain needs a volatile-* policy: its counters have no "
            "TTL and must not be evicted) and keys expired.",
            [
                (
                    f"sum by (instance) (rate(redis_evicted_keys_total{{{REDIS}}}[{RATE}]))",
                    "{{instance}} evicted",
                ),
                (
                    f"sum by (instance) (rate(redis_expired_keys_total{{{REDIS}}}[{RATE}]))",
                    "{{instance}} expired",
                ),
            ],
        ),
        states(
            "Persistence status",
            "Last AOF write, last AOF rewrite and last RDB save per instance: ok or failed.",
            [
                (f"redis_aof_last_write_status{{{REDIS}}}", "{{instance}} AOF write"),
                (f"redis_aof_last_bgrewrite_status{{{REDIS}}}", "{{instance}} AOF rewrite"),
                (f"redis_rdb_last_bgsave_status{{{REDIS}}}", "{{instance}} RDB save"),
            ],
            OK_FAILED,
        ),
        states(
            "Cluster state",
            "cluster_state per node (1 ok, 0 fail); empty when Redis is not a cluster.",
            [(f"redis_cluster_state{{{REDIS}}}", "{{instance}}")],
            OK_FAILED,
        ),
        graph(
            "Cluster slots",
            "short",
            "Hash slots ok, in PFAIL and in FAIL, as seen by each node.",
            [
                (f"redis_cluster_slots_ok{{{REDIS}}}", "{{instance}} ok"),
                (f"redis_cluster_slots_pfail{{{REDIS}}}", "{{instance}} pfail"),
                (f"redis_cluster_slots_fail{{{REDIS}}}", "{{instance}} fail"),
            ],
        ),
        graph(
            "Clients",
            "short",
            "Connected clients and clients blocked in a command (Brain's long polls use "
            "XREAD BLOCK).",
            [
                (f"redis_connected_clients{{{REDIS}}}", "{{instance}} connected"),
                (f"redis_blocked_clients{{{REDIS}}}", "{{instance}} blocked"),
            ],
        ),
        graph(
            "Commands",
            "ops",
            "Commands processed per second.",
            [
                (
                    f"sum by (instance) (rate(redis_commands_processed_total{{{REDIS}}}[{RATE}]))",
                    "{{instance}}",
                )
            ],
            width=24,
        ),
    ]


def data() -> dash.Dashboard:
    return board(
        "brain-data",
        "Brain / Data",
        "Brain's stores: PostgreSQL from CloudNativePG's exporter (replication, WAL archiving, "
        "backups) and Redis from redis_exporter (memory, persistence, cluster state).",
        [
            query_variable(
                "pg_namespace", "PostgreSQL namespace", "label_values(cnpg_collector_up, namespace)"
            ),
            query_variable(
                "pg_cluster",
                "PostgreSQL cluster",
                'label_values(cnpg_collector_up{namespace=~"$pg_namespace"}, cluster)',
            ),
            query_variable(
                "redis_namespace", "Redis namespace", "label_values(redis_up, namespace)"
            ),
        ],
        [("PostgreSQL (CloudNativePG)", postgres()), ("Redis (redis_exporter)", redis())],
    )


# -- output --------------------------------------------------------------------------------------

DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "brain-service.json": service,
    "brain-data.json": data,
}


def render(builder: dash.Dashboard) -> str:
    """Stable JSON: panels numbered in order, keys sorted, two-space indent, final newline."""
    document = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    # The SDK leaves `annotations` empty; Grafana expects a list (it adds its built-in entry).
    document["annotations"].setdefault("list", [])
    number = 0
    for panel in document["panels"]:
        for item in [panel, *panel.get("panels", [])]:
            number += 1
            item["id"] = number
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    return {name: render(make()) for name, make in DASHBOARDS.items()}


def stale(directory: Path) -> list[str]:
    """What differs between `directory` and the generated dashboards, one line per file."""
    problems = []
    for name, text in rendered().items():
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from what grafana/dashboards.py generates")
    for path in sorted(directory.glob("*.json")):
        if path.name not in DASHBOARDS:
            problems.append(f"{path}: not generated by grafana/dashboards.py")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the JSON differs instead of writing it"
    )
    parser.add_argument("--dir", type=Path, default=OUT, help="where the JSON lives")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("regenerate with: python grafana/dashboards.py", file=sys.stderr)
        return 1 if problems else 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (args.dir / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
