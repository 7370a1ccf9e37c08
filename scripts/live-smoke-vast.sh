#!/usr/bin/env bash
# Live smoke test of the `vast` provider against the real Vast.ai API. IT RENTS A GPU AND COSTS
# MONEY. Never run by CI (it refuses when CI is set); run it by hand, see docs/providers/vast.md.
#
#   DURABOX_LIVE=1 VAST_API_KEY=... DURABOX_VAST_MAX_PRICE=0.40 bash scripts/live-smoke-vast.sh
#
# Required:
#   DURABOX_LIVE=1            explicit opt-in
#   VAST_API_KEY              (or DURABOX_VAST_API_KEY) a real key; never printed
#   DURABOX_VAST_MAX_PRICE    strict price cap in $/hour, > 0 and <= DURABOX_VAST_PRICE_CEILING (default 1.00)
# Optional:
#   DURABOX_VAST_GPU          GPU model (default RTX_3060), DURABOX_VAST_IMAGE, DURABOX_VAST_DISK (default 20)
#   DURABOX_SMOKE_TIMEOUT     limit for the run (default 25m)
#
# What it does: builds nothing (run `npm run build` first); uses a fresh private state dir (its own
# dev server and worker); refuses unless the account has no durabox-labelled instance; runs
# `durabox run --provider vast --release delete -- nvidia-smi -L`; then, ALWAYS (trap), destroys
# every instance whose lease was recorded in that state dir and checks that none is left.
#
# Outcome (last line, and the exit code):
#   0 PASSED                 nvidia-smi -L listed a GPU and nothing is left behind
#   0 SKIPPED                DURABOX_LIVE is not 1
#   2 BLOCKED (environment)  missing key/cap, CI, build missing, or durabox instances already exist
#   3 BLOCKED (auth/billing/quota/capacity)  Vast refused or had no offer under the cap
#   4 VALIDATION FAILED      the run did not show a GPU
#   5 CLEANUP FAILED         an instance of this run may still exist: check the console NOW
set -uo pipefail

cd "$(dirname "$0")/.."
say() { printf 'live-smoke-vast: %s\n' "$*" >&2; }
finish() { printf '%s\n' "$2"; exit "$1"; }

[[ "${DURABOX_LIVE:-}" == 1 ]] || finish 0 "SKIPPED (set DURABOX_LIVE=1 to rent a real GPU)"
[[ -z "${CI:-}" ]] || finish 2 "BLOCKED (environment): refusing to run with CI set"
[[ -n "${VAST_API_KEY:-}${DURABOX_VAST_API_KEY:-}" ]] || finish 2 "BLOCKED (environment): set VAST_API_KEY"
PRICE="${DURABOX_VAST_MAX_PRICE:-}"
CEILING="${DURABOX_VAST_PRICE_CEILING:-1.00}"
[[ "$PRICE" =~ ^[0-9]+(\.[0-9]+)?$ ]] || finish 2 "BLOCKED (environment): set DURABOX_VAST_MAX_PRICE to a price in \$/hour"
awk -v p="$PRICE" -v c="$CEILING" 'BEGIN { exit !(p > 0 && p <= c) }' ||
  finish 2 "BLOCKED (environment): DURABOX_VAST_MAX_PRICE must be > 0 and <= $CEILING"
[[ -f dist/cli/main.js ]] || finish 2 "BLOCKED (environment): run npm run build first"

GPU="${DURABOX_VAST_GPU:-RTX_3060}"
DISK="${DURABOX_VAST_DISK:-20}"
IMAGE="${DURABOX_VAST_IMAGE:-nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04}"
TIMEOUT="${DURABOX_SMOKE_TIMEOUT:-25m}"
export DURABOX_STATE_DIR
DURABOX_STATE_DIR="$(mktemp -d -t durabox-vast-smoke-XXXXXX)"
export DURABOX_CONFIG="$DURABOX_STATE_DIR/no-user-config.yaml" # the user's config may not widen the cap
WORK="$(mktemp -d -t durabox-vast-smoke-repo-XXXXXX)"
OUT="$DURABOX_STATE_DIR/run.out"
SETTINGS="{\"gpuName\":\"$GPU\",\"maxPrice\":$PRICE,\"diskGB\":$DISK,\"image\":\"$IMAGE\"}"

# helper OP: inventory | cleanup. Prints one line; never prints the key.
helper() {
  node --input-type=module - "$1" "$SETTINGS" <<'EOF'
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
const { getProvider } = await import(join(process.cwd(), 'dist/providers/registry.js'));
const [op, settings] = process.argv.slice(2);
const vast = getProvider('vast', JSON.parse(settings));
const ctx = { heartbeat() {}, log: (m) => console.error(m), signal: new AbortController().signal };
if (op === 'inventory') {
  const owned = await vast.listOwned();
  console.log(owned.length);
} else {
  let leases = [];
  try { leases = readdirSync(join(process.env.DURABOX_STATE_DIR, 'leases')); } catch {}
  const left = [];
  for (const leaseId of leases) {
    for (const box of await vast.findByLease({ leaseId, slug: 'smoke' })) {
      try {
        const r = await vast.release(box, 'delete', ctx);
        console.error(`destroyed instance ${box.resourceId} (lease ${leaseId})${r.alreadyGone ? ' (already gone)' : ''}`);
      } catch (e) {
        console.error(`could not destroy instance ${box.resourceId}: ${e.message}`);
      }
    }
    for (const box of await vast.findByLease({ leaseId, slug: 'smoke' })) left.push(box.resourceId);
  }
  console.log(left.join(' '));
}
EOF
}

cleanup() {
  local status=$? left
  trap - EXIT INT TERM
  say "cleanup: destroying every instance recorded in $DURABOX_STATE_DIR"
  left="$(helper cleanup)" || left="unknown (cleanup helper failed)"
  node dist/cli/main.js server stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
  if [[ -n "$left" ]]; then
    printf 'CLEANUP FAILED: instance(s) %s may still be running and billing; destroy them in the Vast console\n' "$left"
    exit 5
  fi
  rm -rf "$DURABOX_STATE_DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "state dir $DURABOX_STATE_DIR; gpu $GPU; cap \$$PRICE/h; disk ${DISK} GB"
node dist/cli/main.js doctor --provider vast >&2 || say "doctor reported problems (continuing: the run classifies them)"
count="$(helper inventory)" || { trap - EXIT; rm -rf "$DURABOX_STATE_DIR" "$WORK"; finish 3 "BLOCKED (auth/billing/quota/capacity): could not list instances"; }
if [[ "$count" != 0 ]]; then
  trap - EXIT
  rm -rf "$DURABOX_STATE_DIR" "$WORK"
  finish 2 "BLOCKED (environment): the account already has $count durabox-labelled instance(s); release them first"
fi

git -C "$WORK" init -q && printf 'smoke\n' >"$WORK/README" # a tiny repository to sync
(cd "$WORK" && node "$OLDPWD/dist/cli/main.js" run --provider vast --gpu "$GPU" --max-price "$PRICE" \
  --vast-disk "$DISK" --vast-image "$IMAGE" --release delete --timeout "$TIMEOUT" -- nvidia-smi -L) 2>&1 | tee "$OUT" >&2
rc=${PIPESTATUS[0]}

if grep -Eq '^GPU [0-9]+: ' "$OUT"; then
  result="PASSED: $(grep -Ec '^GPU [0-9]+: ' "$OUT") GPU(s) listed by nvidia-smi -L"
  code=0
elif grep -Eqi 'auth|401|403|no Vast offer|taken before|balance|credit|quota|capacity' "$OUT"; then
  result="BLOCKED (auth/billing/quota/capacity): see the output above (exit $rc)"
  code=3
else
  result="VALIDATION FAILED: no GPU listed (durabox exit $rc)"
  code=4
fi
printf '%s\n' "$result"
exit "$code"
