#!/bin/sh
# Once temporalio/server answers: the namespace (created when missing, with its retention) and
# the onboarding service's search attributes (SEARCH_ATTRIBUTES="Name=Type ...", the list in
# domain/search_attributes.py, kept equal to it by tests/ops/test_compose.py). Idempotent: the
# job of docker-compose.yml runs it on every `up`, and the workers and the API start after it.
set -eu

: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS (host:port of the frontend)}"
: "${SEARCH_ATTRIBUTES:?set SEARCH_ATTRIBUTES (Name=Type ...)}"
namespace="${NAMESPACE:-default}"
retention="${NAMESPACE_RETENTION:-720h}"
export TEMPORAL_ADDRESS

echo "Waiting for Temporal at ${TEMPORAL_ADDRESS}..."
tries=0
until temporal operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 150 ]; then
    echo "Temporal not healthy after 5 minutes" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --namespace "$namespace" >/dev/null 2>&1; then
  echo "Namespace ${namespace} exists"
else
  # Another run may create it between describe and create: describe again before failing.
  temporal operator namespace create --namespace "$namespace" --retention "$retention" \
    || temporal operator namespace describe --namespace "$namespace" >/dev/null
  echo "Namespace ${namespace} created (retention ${retention})"
fi

# A namespace just registered is unknown to the frontend until its namespace cache refreshes
# (seconds): wait for it before touching its search attributes.
tries=0
until temporal operator search-attribute list --namespace "$namespace" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Namespace ${namespace} not served after 2 minutes" >&2
    exit 1
  fi
  sleep 2
done

# Created when missing; one that exists with the same type is fine (the server may accept the
# create or refuse it as existing: the list decides); one with another type is a real conflict
# and fails the job, and so the start of the workers and the API.
probe=""
for entry in $SEARCH_ATTRIBUTES; do
  name=${entry%%=*}
  kind=${entry#*=}
  if out=$(temporal operator search-attribute create --namespace "$namespace" --name "$name" --type "$kind" 2>&1); then
    echo "Search attribute ${name} (${kind}) ready"
  elif temporal operator search-attribute list --namespace "$namespace" \
      | grep -Eiq "^[[:space:]]*${name}[[:space:]]+${kind}[[:space:]]*$"; then
    echo "Search attribute ${name} (${kind}) exists"
  else
    printf '%s\n' "$out" >&2
    echo "Search attribute ${name}: could not create it as ${kind} (another type?)" >&2
    exit 1
  fi
  case $kind in
    Datetime) clause="${name} > '2000-01-01T00:00:00Z'" ;;
    *) clause="${name} = 'probe'" ;;
  esac
  probe="${probe:+${probe} AND }${clause}"
done

# The frontend caches search attributes for a while: wait until a query naming all of them is
# accepted, so the API's first start of a workflow carrying them is not refused.
tries=0
until temporal workflow list --namespace "$namespace" --query "$probe" --limit 1 >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Search attributes not yet visible to queries after 2 minutes" >&2
    exit 1
  fi
  sleep 2
done
echo "Temporal namespace ${namespace} ready"
