#!/usr/bin/env bash
# The cluster-wide eventing-kafka-broker data-plane settings floe needs (knative/README.md, "Kafka data plane").
#
# A Kafka Broker Trigger that delivers unordered keeps at most max.poll.records events in flight per consumer: 50 in
# the stock config-kafka-broker-data-plane. The writer holds every request until its batch commits (group commit,
# up to FLOE_BATCH_LINGER_MS), so 50 in flight means batches of a few dozen rows and a throughput of 50 events per
# linger period per consumer. The HTTP connection pool of each consumer (maxPoolSize, 100 stock) must not become the
# smaller limit, so it is raised with it.
#
# These ConfigMaps live in knative-eventing and configure every Kafka Broker of the cluster: they are not part of
# floe's overlays (whose namespace would also be rewritten by kustomize). A cluster operator runs this once, and again
# after every upgrade of eventing-kafka-broker (an upgrade rewrites the ConfigMap). It is idempotent: it changes and
# restarts nothing when the settings are already there. The KafkaSource data plane (config-kafka-source-data-plane)
# keeps its stock settings: a KafkaSource's sink answers each event on its own, nothing holds requests the way the
# writer's group commit does.
set -euo pipefail

# ConfigMap, key (a Java properties file), property=value.
SETTINGS=(
  "config-kafka-broker-data-plane config-kafka-broker-consumer.properties max.poll.records=500"
  "config-kafka-broker-data-plane config-kafka-broker-webclient.properties maxPoolSize=500"
)
# What reads config-kafka-broker-data-plane, once at start.
DISPATCHER=statefulset/kafka-broker-dispatcher

usage() {
  cat <<'EOF'
Usage: kustomize/cluster/kafka-data-plane.sh [--namespace NS] [--dry-run]
       kustomize/cluster/kafka-data-plane.sh --print
       kustomize/cluster/kafka-data-plane.sh --edit-properties CONFIGMAP KEY < current.properties

Sets the eventing-kafka-broker data-plane properties floe needs in the ConfigMaps of Knative's namespace
(default knative-eventing) with server-side apply, then restarts the Kafka Broker dispatcher so it reads them.

  --namespace NS        the namespace of eventing-kafka-broker's data plane (default knative-eventing)
  --dry-run             print the ConfigMap that would be applied; change nothing
  --print               print the settings, one "CONFIGMAP KEY PROPERTY=VALUE" per line; no cluster needed
  --edit-properties CONFIGMAP KEY
                        read a properties file on stdin, write it with floe's settings for that key on stdout
                        (an earlier line of the same property is dropped: in a properties file the last one wins)
  -h, --help            this text
EOF
}

# stdin: the properties text of CONFIGMAP/KEY; stdout: the same with floe's settings for it.
edit_properties() {
  local configmap=$1 key=$2 text entry cm k setting name
  text=$(cat)
  for entry in "${SETTINGS[@]}"; do
    read -r cm k setting <<<"$entry"
    [[ $cm == "$configmap" && $k == "$key" ]] || continue
    name=${setting%%=*}
    text=$(printf '%s\n' "$text" | grep -v -E "^[[:space:]]*${name//./\\.}[[:space:]]*[=:[:space:]]" || true)
    if [[ -z $text ]]; then text=$setting; else text+=$'\n'$setting; fi
  done
  printf '%s\n' "$text"
}

namespace=knative-eventing
dry_run=false
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --print) printf '%s\n' "${SETTINGS[@]}"; exit 0 ;;
    --edit-properties)
      (($# == 3)) || { echo "--edit-properties needs CONFIGMAP and KEY" >&2; exit 2; }
      edit_properties "$2" "$3"; exit 0 ;;
    --namespace)
      (($# >= 2)) || { echo "--namespace needs a value" >&2; exit 2; }
      namespace=$2; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v kubectl >/dev/null || { echo "kafka-data-plane.sh: kubectl is not on PATH" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

changed=false
configmaps=$(for entry in "${SETTINGS[@]}"; do read -r cm _ _ <<<"$entry"; echo "$cm"; done | sort -u)
for configmap in $configmaps; do
  keys=$(for entry in "${SETTINGS[@]}"; do read -r cm k _ <<<"$entry"; [[ $cm == "$configmap" ]] && echo "$k"; done | sort -u)
  from_files=()
  for key in $keys; do
    # jsonpath needs the dots inside the key escaped
    current=$(kubectl -n "$namespace" get configmap "$configmap" -o "jsonpath={.data.${key//./\\.}}")
    printf '%s\n' "$current" | edit_properties "$configmap" "$key" >"$work/$key"
    if [[ $(cat "$work/$key") != "$current" ]]; then changed=true; fi
    from_files+=("--from-file=$key=$work/$key")
  done
  # Only floe's keys go into the applied object: server-side apply merges them into the ConfigMap's data and leaves
  # the other keys to their owner.
  kubectl -n "$namespace" create configmap "$configmap" "${from_files[@]}" --dry-run=client -o yaml >"$work/$configmap.yaml"
  if $dry_run; then
    cat "$work/$configmap.yaml"
  elif $changed; then
    kubectl -n "$namespace" apply --server-side --field-manager=floe-data-plane --force-conflicts -f "$work/$configmap.yaml"
  fi
done

if $dry_run; then
  echo "dry run: nothing applied (a real run would restart $DISPATCHER if a value changed)" >&2
elif $changed; then
  # The dispatcher reads its consumer and HTTP client settings once at start. The restart rebalances the consumer
  # groups; events after the last committed offsets are delivered again (floe filters duplicates).
  kubectl -n "$namespace" rollout restart "$DISPATCHER"
  kubectl -n "$namespace" rollout status "$DISPATCHER" --timeout=10m
else
  echo "the data plane already has floe's settings: nothing changed" >&2
fi
