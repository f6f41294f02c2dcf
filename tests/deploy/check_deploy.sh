#!/usr/bin/env bash
# The deployment files hold: every Kubernetes manifest validates against the API schemas
# (offline, kubernetes-models from third_party/k8s-validate), a broken manifest is rejected (so
# the validation can fail), the checked-in haproxy.cfg is the template's current rendering, and
# HAProxy accepts both rendered variants.
# Usage: check_deploy.sh SOURCE_DIR
set -euo pipefail
root=$1
modules="$root/third_party/k8s-validate/node_modules"
validate="$root/deploy/validate/validate.mjs"
[[ -d "$modules" ]] || { echo "FAIL: $modules missing: run scripts/setup.sh" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "FAIL: haproxy missing: run scripts/setup.sh" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mapfile -t manifests < <(find "$root/deploy/kubernetes" -name '*.yaml' ! -name kustomization.yaml | sort)
node "$validate" "$modules" "${manifests[@]}"

# A wrong type and a missing required field must each be rejected.
sed 's/replicas: 3/replicas: three/' "$root/deploy/kubernetes/statefulset.yaml" >"$tmp/bad-type.yaml"
sed '/serviceName: lipsync/d; /^  selector:/,/^    matchLabels/d' "$root/deploy/kubernetes/statefulset.yaml" >"$tmp/bad-required.yaml"
for bad in "$tmp/bad-type.yaml" "$tmp/bad-required.yaml"; do
  if node "$validate" "$modules" "$bad" 2>"$tmp/err"; then
    echo "FAIL: $(basename "$bad") was accepted" >&2; exit 1
  fi
  grep -q invalid "$tmp/err" || { echo "FAIL: no reason given for $bad" >&2; cat "$tmp/err" >&2; exit 1; }
done

# Every resource kustomization.yaml names exists, and every manifest is named or documented.
while read -r file; do
  [[ -f "$root/deploy/kubernetes/$file" ]] || { echo "FAIL: kustomization names missing $file" >&2; exit 1; }
done < <(sed -n 's/^  - \(.*\.yaml\)$/\1/p' "$root/deploy/kubernetes/kustomization.yaml")

"$root/deploy/haproxy/render.py" kubernetes >"$tmp/k8s.cfg"
diff -u "$root/deploy/kubernetes/haproxy.cfg" "$tmp/k8s.cfg" ||
  { echo "FAIL: deploy/kubernetes/haproxy.cfg is stale: deploy/haproxy/render.py kubernetes > it" >&2; exit 1; }
haproxy -c -q -f "$tmp/k8s.cfg"
haproxy -c -q -f "$root/deploy/haproxy/haproxy-static.cfg"
echo "deploy files OK"
