"""deploy/terraform, checked offline: every file parses (python-hcl2), providers are pinned,
variables are described and used, the example passes only inputs the module has, the backup
bucket is hardened and the admin token is random and sensitive. Nothing here runs terraform."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
MODULE = TERRAFORM / "modules" / "brain"
EXAMPLES = sorted(p for p in (TERRAFORM / "examples").iterdir() if p.is_dir())
ROOT_MODULES = [MODULE, *EXAMPLES]
PROVIDERS = {"aws", "helm", "kubernetes", "random"}
# `~> 6.52`, `~> 3.1.0` or an exact `1.2.3` / `= 1.2.3`: never open-ended.
PINNED = re.compile(r"^(~>\s*\d+\.\d+(\.\d+)?|=?\s*\d+\.\d+\.\d+)$")
OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)
META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}


def _name(directory: Path) -> str:
    return str(directory.relative_to(TERRAFORM))


@functools.cache
def _load(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """The blocks of every .tf file of a module, by block type."""
    blocks: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as file:
            for kind, items in hcl2.load(file, serialization_options=OPTIONS).items():
                blocks.setdefault(kind, []).extend(items)
    return blocks


def _labelled(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """`variable`, `output`, `module` blocks by label."""
    return {name: body for item in _load(directory).get(kind, []) for name, body in item.items()}


def _resources(directory: Path) -> dict[str, dict[str, Any]]:
    """Resources by address (`aws_s3_bucket.backup`)."""
    found = {}
    for item in _load(directory).get("resource", []):
        for kind, named in item.items():
            for name, body in named.items():
                found[f"{kind}.{name}"] = body
    return found


def test_every_file_parses() -> None:
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 8
    for path in files:
        with path.open() as file:
            assert hcl2.load(file, serialization_options=OPTIONS), path


@pytest.mark.parametrize("directory", ROOT_MODULES, ids=_name)
def test_providers_are_pinned(directory: Path) -> None:
    with (directory / "versions.tf").open() as file:
        (terraform,) = hcl2.load(file, serialization_options=OPTIONS)["terraform"]
    assert terraform["required_version"].startswith(">= 1.")
    required = {k: v for item in terraform["required_providers"] for k, v in item.items()}
    assert set(required) == PROVIDERS
    for name, spec in required.items():
        assert spec["source"] == f"hashicorp/{name}"
        assert PINNED.match(spec["version"]), f"{name}: {spec['version']!r} is not pinned"


def test_example_pins_the_same_providers_as_the_module() -> None:
    def pins(directory: Path) -> str:
        with (directory / "versions.tf").open() as file:
            return json.dumps(hcl2.load(file, serialization_options=OPTIONS)["terraform"])

    for example in EXAMPLES:
        assert pins(example) == pins(MODULE)


def test_resources_only_use_pinned_providers() -> None:
    for directory in ROOT_MODULES:
        for address in _resources(directory):
            assert address.split("_", 1)[0] in PROVIDERS, address


@pytest.mark.parametrize("directory", ROOT_MODULES, ids=_name)
def test_variables_are_described_typed_and_used(directory: Path) -> None:
    variables = _labelled(directory, "variable")
    assert variables
    # References anywhere but in the variable blocks themselves (a validation referring to its
    # own variable is not a use).
    rest = json.dumps({k: v for k, v in _load(directory).items() if k != "variable"})
    for name, body in variables.items():
        assert len(body.get("description", "")) >= 10, f"{name}: no description"
        assert "type" in body, f"{name}: no type"
        assert re.search(rf"\bvar\.{name}\b", rest), f"variable {name} is never used"


def test_module_validates_what_can_be_wrong() -> None:
    variables = _labelled(MODULE, "variable")
    for name in (
        "name",
        "namespace",
        "image_repository",
        "image_tag",
        "postgresql_mode",
        "external_database_url",
        "external_service_database_url",
        "redis_mode",
        "external_redis_url",
        "backup_bucket_name",
        "backup_noncurrent_days",
        "helm_timeout_seconds",
    ):
        (validation,) = variables[name]["validation"]
        assert f"var.{name}" in validation["condition"]
        assert validation["error_message"].endswith(".")
    assert '"latest"' in variables["image_tag"]["validation"][0]["condition"]
    for secret in (
        "external_database_url",
        "external_service_database_url",
        "external_redis_url",
        "backup_credentials",
    ):
        assert variables[secret]["sensitive"] is True, secret


@pytest.mark.parametrize("example", EXAMPLES, ids=_name)
def test_example_passes_existing_inputs_and_every_required_one(example: Path) -> None:
    inputs = _labelled(MODULE, "variable")
    required = {name for name, body in inputs.items() if "default" not in body}
    calls = _labelled(example, "module")
    assert calls, "the example calls no module"
    for call in calls.values():
        assert (example / call["source"]).resolve() == MODULE
        passed = set(call) - META_ARGUMENTS
        assert passed <= set(inputs), f"unknown inputs: {passed - set(inputs)}"
        assert required <= passed, f"missing required inputs: {required - passed}"
    outputs = _labelled(MODULE, "output")
    for body in _labelled(example, "output").values():
        for used in re.findall(r"module\.brain\.(\w+)", body["value"]):
            assert used in outputs, used
    assert (example / "terraform.tfvars.example").is_file()


def test_backup_bucket_is_versioned_encrypted_private_and_has_a_lifecycle() -> None:
    res = _resources(MODULE)
    bucket_ref = "${aws_s3_bucket.backup.id}"
    assert res["aws_s3_bucket.backup"]["force_destroy"] is False

    versioning = res["aws_s3_bucket_versioning.backup"]
    assert versioning["bucket"] == bucket_ref
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"

    sse = res["aws_s3_bucket_server_side_encryption_configuration.backup"]
    assert sse["bucket"] == bucket_ref
    (default,) = sse["rule"][0]["apply_server_side_encryption_by_default"]
    assert default["sse_algorithm"] == "aws:kms"
    assert default["kms_master_key_id"]
    assert res["aws_kms_key.backup"]["enable_key_rotation"] is True

    block = res["aws_s3_bucket_public_access_block.backup"]
    assert block["bucket"] == bucket_ref
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[setting] is True, setting
    ownership = res["aws_s3_bucket_ownership_controls.backup"]
    assert ownership["rule"][0]["object_ownership"] == "BucketOwnerEnforced"

    lifecycle = res["aws_s3_bucket_lifecycle_configuration.backup"]
    assert lifecycle["bucket"] == bucket_ref
    (rule,) = lifecycle["rule"]
    assert rule["status"] == "Enabled"
    assert rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] <= 7
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"]

    policy = res["aws_s3_bucket_policy.backup"]["policy"]
    assert '"aws:SecureTransport" = "false"' in policy
    assert 'Effect = "Deny"' in policy


def test_outputs_are_described_and_secrets_sensitive() -> None:
    for directory in ROOT_MODULES:
        outputs = _labelled(directory, "output")
        for name, body in outputs.items():
            assert body.get("description"), f"{directory}: output {name} has no description"
            if "admin_token" == name or "random_password" in body["value"]:
                assert body.get("sensitive") is True, f"{directory}: output {name}"
    assert {
        "namespace",
        "release_name",
        "admin_token_secret",
        "admin_token",
        "backup_bucket",
        "backup_bucket_arn",
        "backup_kms_key_arn",
        "backup_iam_policy_arn",
    } <= set(_labelled(MODULE, "output"))


def test_admin_token_is_random_and_only_in_a_secret() -> None:
    res = _resources(MODULE)
    token = res["random_password.admin_token"]
    assert token["length"] >= 32
    secret = res["kubernetes_secret_v1.admin"]
    assert secret["data"] == {
        "admin-token": "${random_password.admin_token.result}",
        "redis-password": "${random_password.redis.result}",
    }
    assert secret["metadata"][0]["namespace"] == "${kubernetes_namespace_v1.brain.metadata[0].name}"
    (values,) = [item["values"] for item in _load(MODULE)["locals"] if "values" in item]
    assert values["secrets"] == {
        "existingSecret": "${kubernetes_secret_v1.admin.metadata[0].name}",
        "adminTokenKey": "admin-token",
        "redisPasswordKey": "redis-password",
    }
    assert "random_password" not in json.dumps(values), "the token must not reach Helm values"


def test_helm_release_installs_the_repository_chart_into_the_namespace() -> None:
    release = _resources(MODULE)["helm_release.brain"]
    assert release["namespace"] == "${kubernetes_namespace_v1.brain.metadata[0].name}"
    assert release["chart"] == "${local.chart}"
    assert release["atomic"] is True
    (chart,) = [item["chart"] for item in _load(MODULE)["locals"] if "chart" in item]
    default = re.search(r'"\$\{path\.module\}/([^"]+)"', chart)
    assert default, chart
    assert (MODULE / default.group(1)).resolve() == ROOT / "deploy" / "helm" / "brain"
    (values,) = [item["values"] for item in _load(MODULE)["locals"] if "values" in item]
    # Only keys the chart's values.schema.json knows (it rejects unknown ones).
    schema = json.loads((ROOT / "deploy/helm/brain/values.schema.json").read_text())
    assert set(values) == {"image", "secrets", "postgresql", "redis", "backup"}
    for key, value in values.items():
        known = schema["properties"][key]["properties"]
        assert set(value) <= set(known), f"{key}: {set(value) - set(known)}"
    assert values["backup"]["destinationPath"] == "s3://${aws_s3_bucket.backup.bucket}"


def test_external_database_urls_reach_the_chart_by_key() -> None:
    """External mode: the owner's URL (migrations) and, when given, the service's own URL (user
    brain_service) are keys of the module's Secret; the chart reads them by key only."""
    locals_ = {k: v for item in _load(MODULE)["locals"] for k, v in item.items()}
    urls = locals_["external_urls"]
    assert "database-url = var.external_database_url" in urls
    assert "database-service-url = var.external_service_database_url" in urls
    assert "var.external_service_database_url != null" in locals_["service_database_url"]
    external = locals_["values"]["postgresql"]["external"]
    assert external["urlKey"] == "database-url"
    assert '"database-service-url"' in external["serviceUrlKey"]
    assert 'local.service_database_url ? "database-service-url" : ""' in external["serviceUrlKey"]
    schema = json.loads((ROOT / "deploy/helm/brain/values.schema.json").read_text())
    known = schema["properties"]["postgresql"]["properties"]["external"]["properties"]
    assert set(external) <= set(known)
    assert "var.external_service_database_url" not in json.dumps(locals_["values"])


def test_namespace_enforces_restricted_pod_security() -> None:
    namespace = _resources(MODULE)["kubernetes_namespace_v1.brain"]
    labels = namespace["metadata"][0]["labels"]
    assert '"pod-security.kubernetes.io/enforce" = "restricted"' in labels


def test_checkov_skips_give_a_reason() -> None:
    skips = [
        (path, match)
        for path in TERRAFORM.rglob("*.tf")
        for match in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?", path.read_text())
    ]
    for path, match in skips:
        reason = (match.group(2) or "").strip()
        assert len(reason) >= 40, f"{path}: skip of {match.group(1)} needs a reason"
