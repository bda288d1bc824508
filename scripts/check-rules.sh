#!/usr/bin/env bash
# Alert rules: promtool checks and unit tests, then every alert's runbook (file, runbook_url,
# the five sections, listed in runbooks/README.md) and its tests (one firing, one silent case).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "promtool is missing: install Debian's prometheus package (apt-get install prometheus) or run as root" >&2
    exit 1
  fi
  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package may start a Prometheus server where systemd runs; only promtool is wanted.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus
  fi
fi

promtool check rules grafana/alerts/*.yml
promtool test rules grafana/alerts/tests/*.test.yml

[ -x .venv/bin/python ] || make install
.venv/bin/python - <<'EOF'
import glob, pathlib, re, sys
import yaml

BASE = "runbooks/"
SECTIONS = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation"]
problems, alerts = [], {}
for path in sorted(glob.glob("grafana/alerts/*.yml")):
    for group in yaml.safe_load(open(path))["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                alerts.setdefault(rule["alert"], []).append(rule)
fired, silent = set(), set()
for path in glob.glob("grafana/alerts/tests/*.test.yml"):
    for test in yaml.safe_load(open(path))["tests"]:
        for case in test.get("alert_rule_test", []):
            if not case.get("exp_alerts"):
                silent.add(case["alertname"])
            for exp in case.get("exp_alerts") or []:
                fired.add((case["alertname"], exp["exp_labels"].get("severity")))
index = pathlib.Path("runbooks/README.md").read_text()
for name, rules in sorted(alerts.items()):
    runbook = pathlib.Path(f"runbooks/{name}.md")
    for rule in rules:
        severity, notes = rule.get("labels", {}).get("severity"), rule.get("annotations", {})
        if severity not in ("critical", "warning", "info"):
            problems.append(f"{name}: severity {severity!r} is not critical, warning or info")
        if not (notes.get("summary") and notes.get("description")):
            problems.append(f"{name}: summary and description are required")
        if notes.get("runbook_url") != BASE + runbook.name:
            problems.append(f"{name}: runbook_url must be {BASE + runbook.name}")
        if (name, severity) not in fired:
            problems.append(f"{name}: no test case where it fires with severity {severity}")
    if name not in silent:
        problems.append(f"{name}: no test case where it stays silent (exp_alerts: [])")
    if f"({runbook.name})" not in index:
        problems.append(f"{name}: not listed in runbooks/README.md")
    if not runbook.exists():
        problems.append(f"{name}: {runbook} is missing")
        continue
    found = re.findall(r"^## (\w+)", runbook.read_text(), re.M)
    if [s for s in found if s in SECTIONS] != SECTIONS:
        problems.append(f"{runbook}: sections must be {', '.join(SECTIONS)} (found {found})")
disasters = sorted(pathlib.Path("runbooks/disaster").glob("*.md"))
readme = pathlib.Path("README.md").read_text()
for runbook in disasters:
    text = runbook.read_text()
    found = re.findall(r"^## (.+)$", text, re.M)
    if [s for s in found if s in SECTIONS] != SECTIONS or "The drill" not in found:
        problems.append(f"{runbook}: sections must be {', '.join(SECTIONS)}, The drill ({found})")
    drill = pathlib.Path("scripts/drills") / (runbook.stem.replace("-", "_") + ".py")
    if not drill.exists():
        problems.append(f"{runbook}: no drill {drill}")
    if f"(disaster/{runbook.name})" not in index:
        problems.append(f"{runbook}: not listed in runbooks/README.md")
    if f"(runbooks/disaster/{runbook.name})" not in readme:
        problems.append(f"{runbook}: not linked from README.md")
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        if not (runbook.parent / link).exists():
            problems.append(f"{runbook}: broken link {link}")
if len(disasters) != 4:
    problems.append(f"runbooks/disaster: 4 disaster runbooks expected, found {len(disasters)}")
print("\n".join(problems) or f"runbooks and tests complete for {len(alerts)} alerts")
print(f"disaster runbooks checked: {len(disasters)}")
sys.exit(1 if problems else 0)
EOF
