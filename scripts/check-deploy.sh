#!/usr/bin/env bash
# Deployment checks: checkov on the Terraform (deploy/terraform) and the Dockerfile, and, given a
# directory of rendered Helm manifests, on those too. No failed check is allowed; a skip must be an
# inline `#checkov:skip=CKV_...:reason` beside the resource.
#   scripts/check-deploy.sh [rendered-manifests-dir]
# checkov pins many packages, so it lives in its own venv outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
venv=${CHECKOV_VENV:-$HOME/.cache/brain/checkov-venv}
python=${PYTHON:-python3}
rendered=${1:-}

if [ -n "$rendered" ] && [ ! -d "$rendered" ]; then
  echo "check-deploy: $rendered is not a directory of rendered manifests" >&2
  exit 2
fi
if ! "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "== installing checkov $CHECKOV_VERSION into $venv"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

# Offline (--skip-download: no policy or guideline download); any failed check exits 1.
checkov=("$venv/bin/checkov" --quiet --compact --skip-download)

echo "== checkov: Terraform (deploy/terraform)"
"${checkov[@]}" -d deploy/terraform --framework terraform

echo "== checkov: Dockerfile"
"${checkov[@]}" -f Dockerfile --framework dockerfile

if [ -n "$rendered" ]; then
  echo "== checkov: rendered Kubernetes manifests ($rendered)"
  "${checkov[@]}" -d "$rendered" --framework kubernetes
fi

# A skip without a reason hides a finding: every inline skip must say why.
if grep -rnE '#\s*checkov:skip=[A-Z0-9_]+\s*(:\s*)?$' deploy/terraform Dockerfile; then
  echo "check-deploy: the checkov skips above have no reason" >&2
  exit 1
fi
echo "deploy checks passed"
