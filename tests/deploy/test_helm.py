"""The Helm chart `deploy/helm/brain`: lint, render, Kubernetes and CRD validation, per-template
assertions (in the spirit of helm-unittest suites) and the values schema."""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.chart import (
    CHART,
    CRDS,
    GRAFANA,
    HA_PITR_VALUES,
    VALUE_SETS,
    manifests,
    render,
    write_rendered,
)

K8S_VERSIONS = ["1.25.0", "1.37.0"]
CR_GROUPS = ("postgresql.cnpg.io", "barmancloud.cnpg.io", "monitoring.coreos.com")
Rendered = dict[str, list[dict[str, Any]]]


def one(rendered: Rendered, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        m
        for m in manifests(rendered)
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{kind} {name}: {[m['metadata']['name'] for m in found]}"
    return found[0]


def kinds(rendered: Rendered) -> set[str]:
    return {m["kind"] for m in manifests(rendered)}


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    kind = manifest["kind"]
    if kind == "Pod":
        return manifest["spec"]
    if kind == "CronJob":
        return manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return manifest["spec"]["template"]["spec"]


WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob", "Pod"}


def workloads(rendered: Rendered) -> list[dict[str, Any]]:
    return [m for m in manifests(rendered) if m["kind"] in WORKLOADS]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def annotations(manifest: dict[str, Any]) -> dict[str, str]:
    return manifest["metadata"].get("annotations", {})


@pytest.fixture(params=list(VALUE_SETS))
def value_set(request: pytest.FixtureRequest, rendered_sets: dict[str, Rendered]) -> Rendered:
    return rendered_sets[request.param]


@pytest.fixture
def default(rendered_sets: dict[str, Rendered]) -> Rendered:
    return rendered_sets["default"]


@pytest.fixture
def external(rendered_sets: dict[str, Rendered]) -> Rendered:
    return rendered_sets["external"]


@pytest.fixture
def ha(rendered_sets: dict[str, Rendered]) -> Rendered:
    return rendered_sets["ha-pitr"]


# --- lint, render, validation ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_lint_is_clean(name: str) -> None:
    report = helm_python.lint(CHART, VALUE_SETS[name] or None, strict=True)
    assert report["errors"] == []
    assert report["messages"] == []


def test_chart_metadata() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "brain"
    for name in ("values.schema.json", "README.md", "templates/NOTES.txt"):
        assert (CHART / name).is_file(), name


def test_notes_render() -> None:
    chart = helm_python.Chart.load(CHART)
    for values in VALUE_SETS.values():
        notes = chart.render(values, name="brain", namespace="brain")["brain/templates/NOTES.txt"]
        assert "helm test brain" in notes


def test_value_sets_render_what_they_should(rendered_sets: dict[str, Rendered]) -> None:
    common = {
        "Deployment",
        "Service",
        "ServiceAccount",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "Job",
        "CronJob",
        "Pod",
        "Secret",
    }
    data = {"Cluster", "ObjectStore", "ScheduledBackup", "PodMonitor", "StatefulSet"}
    assert common | data | {"HorizontalPodAutoscaler"} <= kinds(rendered_sets["default"])
    assert common <= kinds(rendered_sets["external"])
    assert not data & kinds(rendered_sets["external"])
    assert "HorizontalPodAutoscaler" not in kinds(rendered_sets["ha-pitr"])


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_manifests_are_valid_strict(value_set: Rendered, version: str) -> None:
    checked = 0
    for manifest in manifests(value_set):
        if manifest["apiVersion"].split("/")[0] in CR_GROUPS:
            continue
        kubernetes_validate.validate(manifest, version, strict=True)
        checked += 1
    assert checked >= 10


@cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            served = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
            assert served, f"{group}/{version} {kind} is not served by {path.name}"
            return strict_schema(copy.deepcopy(served[0]["schema"]["openAPIV3Schema"]))
    raise AssertionError(f"no CRD for {group} {kind} in {CRDS}")


def strict_schema(node: Any) -> Any:
    """Like `kubernetes-validate --strict`: objects reject fields their schema does not list."""
    if isinstance(node, dict):
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            strict_schema(value)
    elif isinstance(node, list):
        for value in node:
            strict_schema(value)
    return node


def test_crds_are_found() -> None:
    found = {p.name for p in CRDS.glob("*.yaml")}
    assert len(found) == 6, f"the CRDs live in {CRDS} (see the README there): {found}"


def test_custom_resources_are_valid_against_their_crds(value_set: Rendered) -> None:
    checked = 0
    for manifest in manifests(value_set):
        group, _, version = manifest["apiVersion"].partition("/")
        if group not in CR_GROUPS:
            continue
        schema = crd_schema(group, manifest["kind"], version)
        jsonschema.Draft7Validator(schema).validate(manifest)
        assert manifest["metadata"]["name"]
        checked += 1
    assert checked >= 2


def test_an_unknown_field_fails_crd_validation(default: Rendered) -> None:
    cluster = copy.deepcopy(one(default, "Cluster"))
    cluster["spec"]["instancez"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("postgresql.cnpg.io", "Cluster", "v1")).validate(
            cluster
        )


def test_write_rendered_for_checkov(tmp_path: Path) -> None:
    written = write_rendered(tmp_path)
    assert len(written) >= 20
    docs = [d for path in written for d in yaml.safe_load_all(path.read_text()) if d]
    assert {"Deployment", "StatefulSet", "Cluster"} <= {d["kind"] for d in docs}


# --- every workload ----------------------------------------------------------------------------


def test_images_are_pinned(value_set: Rendered) -> None:
    images = [c["image"] for w in workloads(value_set) for c in containers(pod_spec(w))]
    images += [m["spec"]["imageName"] for m in manifests(value_set) if m["kind"] == "Cluster"]
    assert images
    for image in images:
        assert re.fullmatch(r"[^:@\s]+(:[\w][\w.-]*)(@sha256:[0-9a-f]{64})?", image), image
        assert not image.endswith(":latest"), image


def test_every_container_is_locked_down(value_set: Rendered) -> None:
    for workload in workloads(value_set):
        spec = pod_spec(workload)
        name = workload["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
            assert container["resources"]["limits"], name
            assert container["resources"]["requests"], name


# --- the service ------------------------------------------------------------------------------


def test_deployment_probes_and_replicas(default: Rendered, ha: Rendered) -> None:
    deploy = one(default, "Deployment", "brain")
    (server,) = pod_spec(deploy)["containers"]
    assert server["command"] == ["brain", "serve"]
    assert server["args"][:4] == ["--host", "0.0.0.0", "--port", "8080"]  # noqa: S104
    assert server["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert server["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert server["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert "replicas" not in deploy["spec"]  # the HPA owns it
    hpa = one(default, "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["scaleTargetRef"]["name"] == "brain"
    assert one(ha, "Deployment")["spec"]["replicas"] == 3


def test_deployment_volumes_and_spread(default: Rendered, ha: Rendered) -> None:
    spec = pod_spec(one(default, "Deployment"))
    assert {v["name"]: v for v in spec["volumes"]}["tmp"]["emptyDir"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in env(spec["containers"][0])
    keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    multi = pod_spec(one(ha, "Deployment"))
    server = multi["containers"][0]
    assert env(server)["PROMETHEUS_MULTIPROC_DIR"]["value"] == "/metrics-multiproc"
    assert "/metrics-multiproc" in {m["mountPath"] for m in server["volumeMounts"]}
    assert server["args"][-2:] == ["--workers", "2"]


def test_service_env_cnpg_and_redis_cluster(default: Rendered) -> None:
    server = env(pod_spec(one(default, "Deployment"))["containers"][0])
    assert server["BRAIN_DATABASE_URL"]["value"] == (
        "postgresql://$(PGUSER):$(PGPASSWORD)@brain-pg-rw.brain.svc:5432/app"
    )
    assert "@brain-pg-ro.brain.svc:5432/app" in server["BRAIN_DATABASE_READ_URLS"]["value"]
    names = list(server)
    assert names.index("PGPASSWORD") < names.index("BRAIN_DATABASE_URL")
    assert names.index("PGPASSWORD") < names.index("BRAIN_DATABASE_READ_URLS")
    assert names.index("REDIS_PASSWORD") < names.index("BRAIN_REDIS_URL")
    assert server["BRAIN_REDIS_URL"]["value"] == (
        "redis://:$(REDIS_PASSWORD)@brain-redis-0.brain-redis-headless.brain.svc:6379/0"
    )
    assert server["BRAIN_REDIS_CLUSTER"]["value"] == "true"
    assert server["BRAIN_LOG_FORMAT"]["value"] == "json"
    assert server["BRAIN_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "brain"
    assert not any(name.startswith("OTEL_") for name in server)


def test_service_env_external(external: Rendered, ha: Rendered) -> None:
    server = env(pod_spec(one(external, "Deployment"))["containers"][0])
    assert server["BRAIN_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "database-url"
    assert server["BRAIN_REDIS_URL"]["valueFrom"]["secretKeyRef"]["key"] == "redis-url"
    assert server["BRAIN_REDIS_CLUSTER"]["value"] == "false"
    secret = one(external, "Secret")
    assert {"admin-token", "database-url", "database-read-urls", "redis-url"} == set(secret["data"])
    otel = env(pod_spec(one(ha, "Deployment"))["containers"][0])
    assert otel["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"].startswith("http://otel-collector")


def test_secret_is_generated_once_and_kept(default: Rendered) -> None:
    secret = one(default, "Secret", "brain")
    assert set(secret["data"]) == {"admin-token", "redis-password"}
    notes = annotations(secret)
    assert notes["helm.sh/resource-policy"] == "keep"
    assert notes["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(notes["helm.sh/hook-weight"]) < 0
    template = (CHART / "templates" / "secret.yaml").read_text()
    assert 'lookup "v1" "Secret"' in template


def test_existing_secret_is_used() -> None:
    rendered = render({"secrets": {"existingSecret": "brain-creds"}})
    # Only the database role's password (CNPG), which is not one of these secrets.
    secrets = [m["metadata"]["name"] for m in manifests(rendered) if m["kind"] == "Secret"]
    assert secrets == ["brain-pg-brain-service"]
    server = env(pod_spec(one(rendered, "Deployment"))["containers"][0])
    assert server["BRAIN_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "brain-creds"


def test_service_account_without_token(default: Rendered) -> None:
    sa = one(default, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert pod_spec(one(default, "Deployment"))["serviceAccountName"] == sa["metadata"]["name"]


def test_pdb_and_service(default: Rendered) -> None:
    pdb = one(default, "PodDisruptionBudget", "brain")
    assert pdb["spec"]["maxUnavailable"] == 1
    service = one(default, "Service", "brain")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    labels = one(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_network_policy_allows_only_what_is_needed(default: Rendered, external: Rendered) -> None:
    policy = one(default, "NetworkPolicy", "brain")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"http"}
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 5432, 6379}
    pg_rule = next(r for r in policy["spec"]["egress"] if r["ports"][0]["port"] == 5432)
    assert pg_rule["to"][0]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "brain-pg"}
    ext = one(external, "NetworkPolicy", "brain")
    assert {p["port"] for rule in ext["spec"]["egress"] for p in rule["ports"]} == {53, 5432, 6379}
    redis = one(default, "NetworkPolicy", "brain-redis")
    assert {p["port"] for rule in redis["spec"]["ingress"] for p in rule["ports"]} == {
        6379,
        16379,
        9121,
    }


def test_migration_hook_job(default: Rendered, external: Rendered) -> None:
    for rendered, hook in ((external, "pre-install,pre-upgrade"), (default, "pre-upgrade")):
        job = one(rendered, "Job", "brain-migrate")
        assert annotations(job)["helm.sh/hook"] == hook
        assert "before-hook-creation" in annotations(job)["helm.sh/hook-delete-policy"]
        (container,) = pod_spec(job)["containers"]
        assert container["command"] == ["brain", "migrate"]
        assert "BRAIN_DATABASE_URL" in env(container)
        assert pod_spec(job)["restartPolicy"] == "Never"
    # With CNPG the first install migrates in the init container (advisory lock in `brain migrate`).
    (init,) = pod_spec(one(default, "Deployment"))["initContainers"]
    assert init["command"] == ["brain", "migrate"]


def test_cleanup_cronjob(default: Rendered) -> None:
    cron = one(default, "CronJob", "brain-cleanup")
    (container,) = pod_spec(cron)["containers"]
    assert container["command"] == ["brain", "cleanup"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert {"BRAIN_DATABASE_URL", "BRAIN_REDIS_URL", "BRAIN_ADMIN_TOKEN"} <= set(env(container))


# --- database roles: the service as brain_service, the migrations as the owner ----------------

SERVICE_ROLE = "brain_service"  # service/brain/kit/db.py ROLE: every connection SETs ROLE to it


def service_containers(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """The containers that run as brain_service: the server and the cleanup CronJob."""
    return {
        "server": pod_spec(one(rendered, "Deployment"))["containers"][0],
        "cleanup": pod_spec(one(rendered, "CronJob", "brain-cleanup"))["containers"][0],
    }


def owner_containers(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """The containers that run `brain migrate` as the owner: the hook Job, the init container."""
    (init,) = pod_spec(one(rendered, "Deployment"))["initContainers"]
    (job,) = pod_spec(one(rendered, "Job", "brain-migrate"))["containers"]
    return {"init": init, "job": job}


def secret_key(rendered: Rendered, ref: dict[str, Any]) -> str:
    """The decoded value a secretKeyRef points at, from a Secret rendered by the chart."""
    secret = one(rendered, "Secret", ref["name"])
    assert ref["key"] in secret["data"], ref
    return base64.b64decode(secret["data"][ref["key"]]).decode()


@pytest.mark.parametrize("name", ["default", "ha-pitr"])
def test_cnpg_cluster_manages_the_service_role(
    rendered_sets: dict[str, Rendered], name: str
) -> None:
    rendered = rendered_sets[name]
    cluster = one(rendered, "Cluster", "brain-pg")
    (role,) = cluster["spec"]["managed"]["roles"]
    assert role == {
        "name": SERVICE_ROLE,
        "ensure": "present",
        "comment": role["comment"],
        "login": True,
        "superuser": False,
        "createdb": False,
        "createrole": False,
        "replication": False,
        "bypassrls": False,
        "inherit": True,
        "connectionLimit": -1,
        "passwordSecret": {"name": "brain-pg-brain-service"},
    }
    # The passwordSecret is rendered by the chart, in the format CNPG requires.
    secret = one(rendered, "Secret", role["passwordSecret"]["name"])
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["labels"]["cnpg.io/reload"] == "true"
    assert "helm.sh/hook" not in annotations(secret)  # a release resource, beside the Cluster
    assert secret_key(rendered, {"name": secret["metadata"]["name"], "key": "username"}) == (
        SERVICE_ROLE
    )
    password = secret_key(rendered, {"name": secret["metadata"]["name"], "key": "password"})
    # Alphanumeric: it goes into BRAIN_DATABASE_URL without percent-encoding.
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password), password
    # The owner stays the owner, and keeps running the migrations.
    bootstrap = cluster["spec"]["bootstrap"]
    assert (bootstrap.get("initdb") or bootstrap["recovery"])["owner"] == "app"


def test_service_role_password_is_generated_once_and_reused(external: Rendered) -> None:
    template = (CHART / "templates" / "pg-service-secret.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $name' in template
    assert 'get $old "password" | default (randAlphaNum 32 | b64enc)' in template
    # An external database has no managed role: its URLs name the user.
    assert not [m for m in manifests(external) if m["metadata"]["name"].endswith("-brain-service")]


@pytest.mark.parametrize("name", ["default", "ha-pitr"])
def test_cnpg_service_connects_as_brain_service_migrations_as_owner(
    rendered_sets: dict[str, Rendered], name: str
) -> None:
    rendered = rendered_sets[name]
    (role,) = one(rendered, "Cluster")["spec"]["managed"]["roles"]
    role_secret = role["passwordSecret"]["name"]
    for where, container in service_containers(rendered).items():
        variables = env(container)
        user = variables["PGUSER"]["valueFrom"]["secretKeyRef"]
        password = variables["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
        assert user == {"name": role_secret, "key": "username"}, where
        assert password == {"name": role_secret, "key": "password"}, where
        assert secret_key(rendered, user) == SERVICE_ROLE, where
        assert variables["BRAIN_DATABASE_URL"]["value"] == (
            "postgresql://$(PGUSER):$(PGPASSWORD)@brain-pg-rw.brain.svc:5432/app"
        ), where
        assert variables["BRAIN_DATABASE_READ_URLS"]["value"] == (
            "postgresql://$(PGUSER):$(PGPASSWORD)@brain-pg-ro.brain.svc:5432/app"
        ), where
        # $(VAR) expands only variables defined before it.
        names = list(variables)
        for url in ("BRAIN_DATABASE_URL", "BRAIN_DATABASE_READ_URLS"):
            assert names.index("PGUSER") < names.index(url), where
            assert names.index("PGPASSWORD") < names.index(url), where
        assert "brain-pg-app" not in yaml.safe_dump(container), where
    for where, container in owner_containers(rendered).items():
        variables = env(container)
        assert variables["BRAIN_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "brain-pg-app",
            "key": "uri",
        }, where
        assert role_secret not in yaml.safe_dump(container), where


def test_external_service_url_defaults_to_the_owner_url(external: Rendered) -> None:
    for where, container in {**service_containers(external), **owner_containers(external)}.items():
        ref = env(container)["BRAIN_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "brain", "key": "database-url"}, where


def test_external_service_url_key_splits_service_and_migrations() -> None:
    values = {
        "postgresql": {
            "mode": "external",
            "external": {"existingSecret": "db-urls", "serviceUrlKey": "database-service-url"},
        },
        "redis": VALUE_SETS["external"]["redis"],
    }
    rendered = render(values)
    for where, container in service_containers(rendered).items():
        variables = env(container)
        assert variables["BRAIN_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "db-urls",
            "key": "database-service-url",
        }, where
        assert variables["BRAIN_DATABASE_READ_URLS"]["valueFrom"]["secretKeyRef"]["optional"]
    for where, container in owner_containers(rendered).items():
        assert env(container)["BRAIN_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "db-urls",
            "key": "database-url",
        }, where
    # Without existingSecret the chart's Secret holds serviceUrl under serviceUrlKey.
    inline = copy.deepcopy(VALUE_SETS["external"])
    inline["postgresql"]["external"] |= {
        "serviceUrlKey": "database-service-url",
        "serviceUrl": "postgresql://brain_service:pw@db.example.com:5432/brain",
    }
    rendered = render(inline)
    for where, container in service_containers(rendered).items():
        ref = env(container)["BRAIN_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert secret_key(rendered, ref).startswith("postgresql://brain_service:"), where
    for where, container in owner_containers(rendered).items():
        ref = env(container)["BRAIN_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        owner = VALUE_SETS["external"]["postgresql"]["external"]["url"]
        assert secret_key(rendered, ref) == owner, where


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"serviceUrlKey": "database-service-url"}, "serviceUrl (or existingSecret) is required"),
        ({"serviceUrl": "postgresql://brain_service@db/brain"}, "needs postgresql.external.serv"),
    ],
)
def test_external_service_url_without_its_pair_fails(given: dict[str, str], message: str) -> None:
    values = copy.deepcopy(VALUE_SETS["external"])
    values["postgresql"]["external"] |= given
    with pytest.raises(helm_python.HelmRenderError, match=re.escape(message)):
        render(values)


def test_migration_job_waits_out_the_upgrade_that_adds_the_role(tmp_path: Path) -> None:
    """The pre-upgrade Job runs before the Cluster gains the managed role: the upgrade from a
    chart without it leaves the migration to the init container. lookup is empty offline, so the
    helper is probed with Cluster objects in a copy of the chart."""
    template = (CHART / "templates" / "migrate-job.yaml").read_text()
    assert 'lookup "postgresql.cnpg.io/v1" "Cluster"' in template
    assert 'include "brain.lacksServiceRole" $live' in template
    chart = tmp_path / "brain"
    shutil.copytree(CHART, chart)  # the files/ symlinks are copied as their contents
    clusters = {
        "install": {},
        "old chart": {"kind": "Cluster", "spec": {"instances": 3}},
        "other roles": {"kind": "Cluster", "spec": {"managed": {"roles": [{"name": "x"}]}}},
        "declared": {"kind": "Cluster", "spec": {"managed": {"roles": [{"name": SERVICE_ROLE}]}}},
    }
    lines = [
        f'{name}: {{{{ include "brain.lacksServiceRole" (fromJson `{json.dumps(c)}`) | quote }}}}'
        for name, c in clusters.items()
    ]
    (chart / "templates" / "zz-probe.yaml").write_text("\n".join(lines) + "\n")
    rendered = helm_python.Chart.load(chart).render({}, name="brain", namespace="brain")
    got = yaml.safe_load(rendered["brain/templates/zz-probe.yaml"])
    assert got == {"install": "", "old chart": "true", "other roles": "true", "declared": ""}
    # Offline (a first install, `helm template`) the Job renders.
    assert one(render({}), "Job", "brain-migrate")


def test_helm_test_pod_calls_ready(default: Rendered) -> None:
    pod = one(default, "Pod")
    assert annotations(pod)["helm.sh/hook"] == "test"
    command = pod["spec"]["containers"][0]["command"]
    assert command[0] == "curl"
    assert "--fail" in command
    assert command[-1] == "http://brain.brain.svc:8080/health/ready"


# --- monitoring -------------------------------------------------------------------------------


def source_rules() -> dict[str, Any]:
    return yaml.safe_load((GRAFANA / "alerts" / "brain.rules.yml").read_text())


def test_files_are_symlinks_to_the_single_source() -> None:
    rules = CHART / "files" / "brain.rules.yml"
    dashboards = CHART / "files" / "dashboards"
    assert rules.is_symlink()
    assert dashboards.is_symlink()
    assert rules.resolve() == (GRAFANA / "alerts" / "brain.rules.yml").resolve()
    assert dashboards.resolve() == (GRAFANA / "dashboards").resolve()


def test_service_monitor_sets_job_brain(default: Rendered) -> None:
    monitor = one(default, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    assert {"action": "replace", "targetLabel": "job", "replacement": "brain"} in endpoint[
        "relabelings"
    ]
    service = one(default, "Service", "brain")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


def test_prometheus_rule_is_the_rule_file(default: Rendered) -> None:
    rule = one(default, "PrometheusRule")
    groups = rule["spec"]["groups"]
    source = source_rules()["groups"]
    assert [g["name"] for g in groups] == [g["name"] for g in source]
    for got, want in zip(groups, source, strict=True):
        assert len(got["rules"]) == len(want["rules"])
        for g_rule, w_rule in zip(got["rules"], want["rules"], strict=True):
            assert g_rule["expr"] == w_rule["expr"]  # release `brain`: unchanged
            if "annotations" not in w_rule:
                continue
            for key, text in w_rule["annotations"].items():
                if key == "runbook_url":
                    assert g_rule["annotations"][key] == text  # no base URL by default
                else:
                    assert g_rule["annotations"][key] == text  # {{ $value }} left to Prometheus
    text = yaml.safe_dump(rule)
    assert "{{ $value" in text
    assert "{{ $labels." in text


def test_prometheus_rule_follows_other_release_names() -> None:
    rendered = render({"monitoring": {"runbookBaseUrl": "https://runbooks.example/"}}, name="prod")
    text = yaml.safe_dump(one(rendered, "PrometheusRule")["spec"])
    assert "prod-brain-pg-[0-9]+" in text
    assert '"brain-pg-[0-9]+"' not in text
    assert "https://runbooks.example/runbooks/" in text
    assert one(rendered, "Cluster")["metadata"]["name"] == "prod-brain-pg"


def test_dashboards_configmap(default: Rendered) -> None:
    cm = one(default, "ConfigMap", "brain-dashboards")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = {p.name: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert files
    assert cm["data"] == files


def test_pod_monitors(default: Rendered) -> None:
    pg = one(default, "PodMonitor", "brain-pg")
    assert pg["spec"]["selector"]["matchLabels"] == {"cnpg.io/cluster": "brain-pg"}
    assert pg["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    redis = one(default, "PodMonitor", "brain-redis")
    assert redis["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


# --- PostgreSQL -------------------------------------------------------------------------------


def duration_seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)(s|min)", text)
    assert match, text
    return int(match[1]) * (60 if match[2] == "min" else 1)


def test_cnpg_cluster(default: Rendered) -> None:
    cluster = one(default, "Cluster", "brain-pg")
    spec = cluster["spec"]
    assert spec["instances"] == 3
    assert duration_seconds(spec["postgresql"]["parameters"]["archive_timeout"]) <= 60
    # Synchronous by default: a failover must not lose an acknowledged commit (make drill).
    assert spec["postgresql"]["synchronous"] == {
        "method": "any",
        "number": 1,
        "dataDurability": "required",
    }
    assert spec["failoverDelay"] == 0
    (plugin,) = spec["plugins"]
    assert plugin["name"] == "barman-cloud.cloudnative-pg.io"
    assert plugin["isWALArchiver"] is True
    store = one(default, "ObjectStore")
    assert plugin["parameters"]["barmanObjectName"] == store["metadata"]["name"]
    assert store["spec"]["configuration"]["destinationPath"] == "s3://brain-backups/postgresql"
    assert store["spec"]["configuration"]["wal"]["compression"] == "gzip"
    initdb = spec["bootstrap"]["initdb"]
    assert {k: initdb[k] for k in ("database", "owner")} == {"database": "app", "owner": "app"}
    # the superuser's part of migrations 0004 and 0005, which the migrating owner cannot do
    migrations = CHART.parents[2] / "service/brain/migrations"
    migration = (migrations / "0004_workspaces.sql").read_text()
    leakproof = re.findall(r"^\s*(ALTER FUNCTION .* LEAKPROOF);", migration, re.MULTILINE)
    assert len(leakproof) == 3
    extension = re.findall(
        r"^(CREATE EXTENSION .*);", (migrations / "0005_embeddings.sql").read_text(), re.MULTILINE
    )
    assert extension == ["CREATE EXTENSION IF NOT EXISTS vector"]
    assert initdb["postInitApplicationSQL"] == extension + leakproof
    assert spec["affinity"]["enablePodAntiAffinity"] is True


def test_scheduled_backup(default: Rendered) -> None:
    backup = one(default, "ScheduledBackup")
    assert backup["spec"]["cluster"]["name"] == "brain-pg"
    assert backup["spec"]["method"] == "plugin"
    assert backup["spec"]["pluginConfiguration"]["name"] == "barman-cloud.cloudnative-pg.io"
    assert len(backup["spec"]["schedule"].split()) == 6


def test_ha_and_point_in_time_recovery(ha: Rendered) -> None:
    spec = one(ha, "Cluster", "brain-pg")["spec"]
    assert spec["postgresql"]["synchronous"] == {
        "method": "any",
        "number": 1,
        "dataDurability": "required",
    }
    assert spec["postgresql"]["parameters"]["archive_timeout"] == "30s"
    recovery = spec["bootstrap"]["recovery"]
    assert "initdb" not in spec["bootstrap"]
    assert recovery["recoveryTarget"] == {"targetTime": "2025-01-01T12:00:00Z"}
    (origin,) = spec["externalClusters"]
    assert origin["name"] == recovery["source"]
    assert origin["plugin"]["parameters"] == {
        "barmanObjectName": "brain-pg-store",
        "serverName": HA_PITR_VALUES["postgresql"]["cnpg"]["recovery"]["sourceServerName"],
    }
    store = one(ha, "ObjectStore")["spec"]["configuration"]
    assert store["s3Credentials"] == {"inheritFromIAMRole": True}


# --- Redis ------------------------------------------------------------------------------------


def test_redis_statefulset(default: Rendered, ha: Rendered) -> None:
    sts = one(default, "StatefulSet", "brain-redis")
    assert sts["spec"]["replicas"] == 6
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["serviceName"] == "brain-redis-headless"
    spec = pod_spec(sts)
    names = [c["name"] for c in spec["containers"]]
    assert names == ["redis", "exporter"]
    exporter = spec["containers"][1]
    assert "redis_exporter" in exporter["image"]
    assert exporter["ports"][0]["containerPort"] == 9121
    redis = spec["containers"][0]
    assert redis["readinessProbe"]["exec"]["command"][0] == "redis-cli"
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    preferred = spec["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert preferred[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    required = pod_spec(one(ha, "StatefulSet"))["affinity"]["podAntiAffinity"]
    assert required["requiredDuringSchedulingIgnoredDuringExecution"]
    headless = one(default, "Service", "brain-redis-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True


def test_redis_config_persistence_and_announce(default: Rendered) -> None:
    cm = one(default, "ConfigMap", "brain-redis")
    conf = dict(
        line.split(" ", 1) for line in cm["data"]["redis.conf"].splitlines() if line[:1].isalpha()
    )
    assert conf["cluster-enabled"] == "yes"
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["save"] == "900 1 300 10 60 10000"
    assert conf["cluster-config-file"] == "/data/nodes.conf"
    assert conf["cluster-preferred-endpoint-type"] == "hostname"
    start = cm["data"]["start.sh"]
    assert "--cluster-announce-hostname" in start
    assert "cluster meet" in start


def test_redis_pdb(default: Rendered) -> None:
    pdb = one(default, "PodDisruptionBudget", "brain-redis")
    assert pdb["spec"]["minAvailable"] == 4


def test_redis_cluster_create_hook(default: Rendered) -> None:
    job = one(default, "Job", "brain-redis-cluster-create")
    assert annotations(job)["helm.sh/hook"] == "post-install,post-upgrade"
    script = pod_spec(job)["containers"][0]["command"][-1]
    assert "--cluster create" in script
    assert "--cluster-replicas 1" in script
    assert "cluster_slots_assigned:16384" in script  # idempotent


def test_redis_backup_cronjob(default: Rendered) -> None:
    cron = one(default, "CronJob", "brain-redis-backup")
    spec = pod_spec(cron)
    snapshot = spec["initContainers"][0]["command"][-1]
    assert "bgsave" in snapshot
    assert "--rdb" in snapshot
    upload = spec["containers"][0]
    assert "aws s3 cp" in upload["command"][-1]
    assert "s3://brain-backups/redis/" in upload["command"][-1]
    assert env(upload)["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"]


# --- the values schema ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "two"},
        {"replicaCount": 1},
        {"image": {"tag": "latest"}},
        {"image": {"tag": 1}},
        {"workers": "4"},
        {"autoscaling": {"enabled": "yes"}},
        {"postgresql": {"mode": "crunchy"}},
        {"postgresql": {"cnpg": {"archiveTimeout": "120s"}}},
        {"postgresql": {"cnpg": {"instances": "3"}}},
        {"redis": {"mode": "sentinel"}},
        {"redis": {"cluster": {"nodes": 3}}},
        {"redis": {"cluster": {"image": "redis:latest"}}},
        {"redis": {"cluster": {"appendfsync": "no"}}},
        {"resources": "lots"},
        {"unknownKey": True},
        {"monitoring": {"unknown": 1}},
    ],
)
def test_schema_rejects_wrong_values(values: dict[str, Any]) -> None:
    chart = helm_python.Chart.load(CHART)
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema(values)
    with pytest.raises(helm_python.HelmValuesError):
        chart.render(values, name="brain", namespace="brain")


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_schema_accepts_the_value_sets(name: str) -> None:
    helm_python.Chart.load(CHART).validate_schema(VALUE_SETS[name])


def test_schema_covers_every_value() -> None:
    schema = helm_python.Chart.load(CHART).schema
    assert schema is not None
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], value: Any, path: str) -> None:
        assert "type" in node, path
        if node["type"] == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, path
            assert set(value) == set(node["properties"]), path
            for key, sub in value.items():
                walk(node["properties"][key], sub, f"{path}.{key}")

    walk(schema, values, "")


def test_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    schema = helm_python.Chart.load(CHART).schema
    assert schema is not None

    def leaves(node: dict[str, Any], path: str) -> list[str]:
        if "properties" not in node:  # a leaf or a free-form map, documented as a whole
            return [path]
        return [
            leaf
            for key, sub in node["properties"].items()
            for leaf in leaves(sub, f"{path}.{key}" if path else key)
        ]

    paths = leaves(schema, "")
    assert len(paths) > 100
    assert [p for p in paths if f"| `{p}` |" not in readme] == []


# --- packaging --------------------------------------------------------------------------------


def test_package_follows_the_symlinks(tmp_path: Path) -> None:
    archive = Path(helm_python.package(CHART, destination=tmp_path))
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        rules = members["brain/files/brain.rules.yml"]
        assert rules.isfile()
        data = tar.extractfile(rules)
        assert data is not None
        assert data.read().decode() == (GRAFANA / "alerts" / "brain.rules.yml").read_text()
        for path in (GRAFANA / "dashboards").glob("*.json"):
            assert members[f"brain/files/dashboards/{path.name}"].isfile()
    packaged = helm_python.Chart.load(archive)
    rendered = packaged.render({}, name="brain", namespace="brain")
    assert "brain/templates/prometheusrule.yaml" in rendered


def test_embeddings_reach_the_service_and_the_migrations(default: Rendered) -> None:
    """The service and `brain migrate` (which builds the configured space's HNSW index) see the
    same model; only the service gets the API key."""
    for where, container in {**service_containers(default), **owner_containers(default)}.items():
        variables = env(container)
        assert variables["BRAIN_EMBEDDINGS"]["value"] == "none", where
        assert not {"BRAIN_EMBEDDINGS_URL", "BRAIN_EMBEDDINGS_API_KEY"} & set(variables), where
    values = {
        "embeddings": {
            "provider": "openai", "url": "http://tei.ml.svc:8080/v1", "model": "bge-small-en",
            "dimensions": 384, "apiKeySecret": "embedder", "timeoutSeconds": 2.5,
        }
    }  # fmt: skip
    rendered = render(values)
    expected = {
        "BRAIN_EMBEDDINGS": "openai", "BRAIN_EMBEDDINGS_URL": "http://tei.ml.svc:8080/v1",
        "BRAIN_EMBEDDINGS_MODEL": "bge-small-en", "BRAIN_EMBEDDINGS_DIMENSIONS": "384",
        "BRAIN_EMBEDDINGS_TIMEOUT_SECONDS": "2.5",
    }  # fmt: skip
    for where, container in {**service_containers(rendered), **owner_containers(rendered)}.items():
        variables = env(container)
        assert {k: variables[k]["value"] for k in expected} == expected, where
    for where, container in service_containers(rendered).items():
        assert env(container)["BRAIN_EMBEDDINGS_API_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "embedder", "key": "api-key",
        }, where  # fmt: skip
    for where, container in owner_containers(rendered).items():
        assert "BRAIN_EMBEDDINGS_API_KEY" not in env(container), where
    policy = one(rendered, "NetworkPolicy", "brain")
    [rule] = [r for r in policy["spec"]["egress"] if r["ports"][0]["port"] == 443]
    assert rule["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    in_cluster = {
        **values["embeddings"], "port": 8080,
        "networkPolicyTo": [{"podSelector": {"matchLabels": {"app": "tei"}}}],
    }  # fmt: skip
    policy = one(render({"embeddings": in_cluster}), "NetworkPolicy", "brain")
    [rule] = [r for r in policy["spec"]["egress"] if r["ports"][0]["port"] == 8080]
    assert rule["to"] == [{"podSelector": {"matchLabels": {"app": "tei"}}}]


@pytest.mark.parametrize(
    "embeddings",
    [
        {"provider": "torch"},
        {"provider": "openai"},
        {"provider": "openai", "url": "http://tei/v1", "model": "m"},
        {"provider": "none", "dimensions": 5000},
        {"provider": "openai", "url": "tei:8080", "model": "m", "dimensions": 8},
        {"provider": "local", "timeoutSeconds": 0},
    ],
)
def test_schema_rejects_wrong_embeddings(embeddings: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        helm_python.Chart.load(CHART).validate_schema({"embeddings": embeddings})
