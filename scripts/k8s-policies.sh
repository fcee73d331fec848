#!/usr/bin/env bash
# Writes k8s/base/configmap-policies.json: the ConfigMap hutch-policies with every
# policy of policies/ (*.rego, the *_test.rego files left out), which the base mounts
# over the image's copy in hutch-policy. A ConfigMap is flat: the key is the path
# under policies/ with '/' as '_' (the package lines, not the paths, decide what a
# module is). Kustomize reads no file outside its directory, hence a generated file;
# `make test` (tests/deploy) fails when it is stale: run this script (`make k8s-policies`).
#
#   scripts/k8s-policies.sh [OUT]   (default k8s/base/configmap-policies.json; - = stdout)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$HUTCH_ROOT"
out=${1:-k8s/base/configmap-policies.json}
command -v jq >/dev/null || die "jq not found: run scripts/deps.sh"

args=() keys=()
while IFS= read -r f; do
    key=${f#policies/}; key=${key//\//_}
    [[ $key =~ ^[-._a-zA-Z0-9]+$ ]] || die "$f: not a valid ConfigMap key ($key)"
    args+=(--rawfile "k${#keys[@]}" "$f"); keys+=("$key")
done < <(find policies -name '*.rego' ! -name '*_test.rego' | LC_ALL=C sort)
((${#keys[@]})) || die "no policies in policies/"
json=$(jq -n "${args[@]}" '
  {apiVersion: "v1", kind: "ConfigMap",
   metadata: {name: "hutch-policies", labels: {"app.kubernetes.io/part-of": "hutch"},
              annotations: {"hutch.dev/generated-by": "scripts/k8s-policies.sh from policies/"}},
   data: ([$ARGS.positional | to_entries[] | {key: .value, value: $ARGS.named["k\(.key)"]}] | from_entries)}
' --args "${keys[@]}")
if [[ $out == - ]]; then echo "$json"; else echo "$json" > "$out"; log "wrote $out (${#keys[@]} policies)"; fi
