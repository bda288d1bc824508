"""Dashboards as code (grafana/): the committed JSON is what grafana/dashboards.py makes, every
panel has a unit and queries the `datasource` variable, and every PromQL expression parses, takes
its ranges over `$__rate_interval` and selects only metrics that exist: exported by the live
service, defined by a recording rule in grafana/alerts/, or provided by CloudNativePG (`cnpg_`)
or redis_exporter (`redis_`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from brain import app, embedded
from brain.settings import Settings
from tests.support import api

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
GENERATOR = GRAFANA / "dashboards.py"
DASHBOARDS = GRAFANA / "dashboards"
EXPECTED = {"brain-service.json": "brain-service", "brain-data.json": "brain-data"}
EXPORTERS = ("cnpg_", "redis_")
TARGET_LABELS = {"namespace", "pod", "instance", "job"}  # added by Prometheus, not the service
DATASOURCE = "${datasource}"
RATE_INTERVAL = "$__rate_interval"
RATE_SUBSTITUTE = "5m"  # what $__rate_interval becomes for parsing
VARIABLE = re.compile(r"\$\{?[A-Za-z_]\w*\}?")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$", re.DOTALL)


def generator(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def load() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARDS.glob("*.json"))
    }


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel but rows, including those inside collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable's selector."""
    title = dashboard["title"]
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"{title} / {panel['title']} [{target['refId']}]", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["query"])
            assert match, f"{title} / ${variable['name']}: not label_values(selector, label)"
            yield f"{title} / ${variable['name']}", match["selector"]


def parse(expr: str) -> promql_parser.Expr:
    """Parse with Grafana's variables substituted: `$__rate_interval` by a duration, the
    dashboard's own variables (only used inside label matchers) by a plain value."""
    return promql_parser.parse(VARIABLE.sub("x", expr.replace(RATE_INTERVAL, RATE_SUBSTITUTE)))


def selectors(tree: promql_parser.Expr) -> list[tuple[str, list[promql_parser.Matcher]]]:
    """(metric name, label matchers) of every series selector in the expression."""
    found: list[tuple[str, list[promql_parser.Matcher]]] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = [m for m in node.matchers.matchers if m.name != "__name__"]
            names = [
                m.value
                for m in node.matchers.matchers
                if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
            ]
            found.append((node.name or next(iter(names), f"<no metric name: {node}>"), matchers))

    promql_parser.walk(tree, visit)
    return found


def range_problems(expr: str, tree: promql_parser.Expr) -> list[str]:
    problems = []
    if f"[{RATE_SUBSTITUTE}" in expr:
        problems.append(f"literal range [{RATE_SUBSTITUTE}]")
    substitute = promql_parser.parse_duration(RATE_SUBSTITUTE)

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.SubqueryExpr):
            problems.append(f"subquery {node}")
        elif isinstance(node, promql_parser.MatrixSelector) and node.range != substitute:
            problems.append(f"range not $__rate_interval: {node}")

    promql_parser.walk(tree, visit)
    return problems


def recorded() -> set[str]:
    """Metric names defined by `record:` rules in grafana/alerts/*.yml (if any)."""
    names = set()
    for path in sorted([*GRAFANA.glob("alerts/*.yml"), *GRAFANA.glob("alerts/*.yaml")]):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in document.get("groups") or []:
            names.update(rule["record"] for rule in group.get("rules") or [] if "record" in rule)
    return names


# -- generation ----------------------------------------------------------------------------------


def test_committed_json_is_what_the_generator_makes() -> None:
    result = generator("--check")
    assert result.returncode == 0, result.stderr
    assert set(load()) == set(EXPECTED)


def test_check_names_the_file_that_drifted(tmp_path: Path) -> None:
    for name in EXPECTED:
        shutil.copy(DASHBOARDS / name, tmp_path / name)
    assert generator("--check", "--dir", tmp_path).returncode == 0
    drifted = tmp_path / "brain-data.json"
    drifted.write_text(drifted.read_text().replace("Brain / Data", "Brain / Edited"))
    result = generator("--check", "--dir", tmp_path)
    assert result.returncode != 0
    assert "brain-data.json" in result.stderr
    assert "brain-service.json" not in result.stderr
    assert drifted.read_text().count("Brain / Edited") == 1  # --check writes nothing


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert generator("--dir", first).returncode == 0
    assert generator("--dir", second).returncode == 0
    for name in EXPECTED:
        text = (first / name).read_bytes()
        assert text == (second / name).read_bytes() == (DASHBOARDS / name).read_bytes()
        assert text.endswith(b"}\n")


# -- shape ---------------------------------------------------------------------------------------


def test_stable_uids_and_a_prometheus_datasource_variable() -> None:
    for name, dashboard in load().items():
        assert dashboard["uid"] == EXPECTED[name]
        assert "id" not in dashboard  # plain JSON: importable and provisionable anywhere
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for variable in variables.values():
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == DATASOURCE, variable["name"]


def test_every_panel_has_a_unit_and_uses_the_datasource_variable() -> None:
    problems = []
    for dashboard in load().values():
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{dashboard['title']}: duplicate panel ids"
        for panel in panels(dashboard):
            where = f"{dashboard['title']} / {panel['title']}"
            if not panel["fieldConfig"]["defaults"].get("unit"):
                problems.append(f"{where}: no unit")
            if panel.get("datasource", {}).get("uid") != DATASOURCE:
                problems.append(f"{where}: panel datasource is not {DATASOURCE}")
            if not panel.get("targets"):
                problems.append(f"{where}: no query")
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("uid") != DATASOURCE:
                    problems.append(f"{where} [{target['refId']}]: not {DATASOURCE}")
    assert not problems, "\n".join(problems)


def test_every_query_parses_and_ranges_over_rate_interval() -> None:
    problems = []
    for dashboard in load().values():
        for where, expr in expressions(dashboard):
            try:
                tree = parse(expr)
            except ValueError as exc:
                problems.append(f"{where}: does not parse ({exc}): {expr}")
                continue
            problems.extend(f"{where}: {problem}" for problem in range_problems(expr, tree))
    assert not problems, "\n".join(problems)


# -- metrics that exist --------------------------------------------------------------------------


async def exercise(client: AsyncTestClient) -> None:
    """Touch the routes, the cache and messaging so that the labelled series exist."""
    for agent in ("alice", "bob"):
        response = await client.put(f"/v1/agents/{agent}", json={"name": agent})
        assert response.status_code == 201, response.text
    response = await client.post(
        "/v1/memories", json={"agent_id": "alice", "context": {"note": "n"}, "tags": ["t"]}
    )
    assert response.status_code == 201, response.text
    memory_id = response.json()["id"]
    assert (await client.get(f"/v1/memories/{memory_id}")).status_code == 200
    for _ in range(2):  # a miss, then a hit
        assert (await client.post("/v1/memories/query", json={"tags": ["t"]})).status_code == 200
    assert (await client.get("/v1/agents/alice/memories")).status_code == 200
    message = {"from_agent": "alice", "to_agent": "bob", "context": {"hello": "bob"}}
    assert (await client.post("/v1/messages", json=message)).status_code == 201
    broadcast = {"from_agent": "alice", "context": {"hello": "all"}}
    assert (await client.post("/v1/messages/broadcast", json=broadcast)).status_code == 201
    taken = await client.get("/v1/agents/bob/messages", params={"consumer": "c1"})
    assert taken.status_code == 200, taken.text
    ids = [m["id"] for m in taken.json()["items"]]
    assert ids
    acked = await client.post("/v1/agents/bob/messages/ack", json={"ids": ids})
    assert acked.status_code == 200, acked.text
    assert (await client.get("/health/ready")).status_code == 200
    assert (await client.get("/no/such/route")).status_code == 404
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await client.get("/v1/stats", headers=wrong)).status_code == 401


async def exercise_embeddings(settings: Settings) -> None:
    """A model nobody answers for (a free port): a store records a failed call and is kept
    without its vector (201), so the embedding series exist in this process's registry."""
    unreachable = settings.replace(
        embeddings="openai",
        embeddings_url=f"http://127.0.0.1:{embedded.free_port()}/v1",
        embeddings_model="test-vectors",
        embeddings_dimensions=3,
        embeddings_timeout_seconds=0.5,
    )
    async with AsyncTestClient(app=app.create_app(unreachable)) as other:
        other.headers.update(api.AUTH)
        stored = await other.post("/v1/memories", json={"agent_id": "a", "context": {"n": "n"}})
        assert stored.status_code == 201, stored.text


async def scrape(client: AsyncTestClient) -> dict[str, list[dict[str, str]]]:
    """Sample name -> label sets, from the service's /metrics."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    series: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            series.setdefault(sample.name, []).append(sample.labels)
    return series


def label_problems(
    name: str, matchers: list[promql_parser.Matcher], series: list[dict[str, str]]
) -> list[str]:
    """Matchers on labels the service does not set, or on `=` values it never exported."""
    problems = []
    for matcher in matchers:
        if matcher.name in TARGET_LABELS:
            continue
        values = {labels[matcher.name] for labels in series if matcher.name in labels}
        if not values:
            problems.append(f"{name} has no label {matcher.name!r}")
        elif matcher.op == promql_parser.MatchOp.Equal and matcher.value not in values:
            problems.append(f"{name}{{{matcher}}}: exported values are {sorted(values)}")
    return problems


async def test_every_metric_is_exported_recorded_or_from_a_named_exporter(
    client: AsyncTestClient, settings: Settings
) -> None:
    await exercise(client)
    await exercise_embeddings(settings)
    series = await scrape(client)
    rules = recorded()
    missing: dict[str, list[str]] = {}
    labels: list[str] = []
    for dashboard in load().values():
        for where, expr in expressions(dashboard):
            for name, matchers in selectors(parse(expr)):
                if name in series:
                    labels.extend(
                        f"{where}: {p}" for p in label_problems(name, matchers, series[name])
                    )
                elif name not in rules and not name.startswith(EXPORTERS):
                    missing.setdefault(name, []).append(where)
    assert not missing, "metrics neither exported, recorded nor from cnpg_/redis_:\n" + "\n".join(
        f"{name}: {', '.join(places)}" for name, places in sorted(missing.items())
    )
    assert not labels, "\n".join(labels)


def test_the_checks_catch_mistakes() -> None:
    """The checks above are not vacuous: they see names, literal ranges and label typos."""
    tree = parse('sum by (x) (rate(a_total{namespace=~"$namespace"}[$__rate_interval])) / b')
    assert [name for name, _ in selectors(tree)] == ["a_total", "b"]
    assert range_problems("rate(a[$__rate_interval])", parse("rate(a[$__rate_interval])")) == []
    for expr in ("rate(a[5m])", "rate(a[10m])", "max_over_time(a[5m:])"):
        assert range_problems(expr, parse(expr)), expr
    with pytest.raises(ValueError, match="brackets"):  # any other variable as a range
        parse("rate(a[$__interval])")
    series = [{"state": "size"}, {"state": "available"}]
    ((name, matchers),) = selectors(parse('p{state="in_use", pool="x", instance="i"}'))
    assert label_problems(name, matchers, series) == [
        "p{state=\"in_use\"}: exported values are ['available', 'size']",
        "p has no label 'pool'",
    ]
