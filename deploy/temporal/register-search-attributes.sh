#!/bin/sh
# One-shot: register durabox's search attributes (arguments: Name=Type ...; the list lives in
# docker-compose.yml and must equal SEARCH_ATTRIBUTES in workflows/search-attributes.ts, which a
# test checks). Skips names that exist; a name registered with another type is an error.
set -eu
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"

i=0
until temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -lt 60 ] || { echo "namespace $NAMESPACE not found at $ADDRESS"; exit 1; }
  sleep 2
done

existing="$(temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS")"
for pair in "$@"; do
  name="${pair%%=*}"
  type="${pair#*=}"
  line="$(printf '%s\n' "$existing" | awk -v n="$name" '$1 == n { print $2 }')"
  if [ -z "$line" ]; then
    temporal operator search-attribute create --namespace "$NAMESPACE" --address "$ADDRESS" --name "$name" --type "$type"
    echo "registered $name ($type)"
  elif [ "$line" = "$type" ]; then
    echo "$name ($type) exists"
  else
    echo "$name exists as $line, durabox needs $type"
    exit 1
  fi
done
