#!/usr/bin/env bash
# Set up a durabox checkout on a Debian-like machine: system packages, the Temporal CLI, npm
# dependencies and the build. Safe to run again: each step does nothing it does not need to.
#
#   bash scripts/setup.sh        (from anywhere; it works on the checkout it lives in)
#
# Installing apt packages needs root (or passwordless sudo). No prompts: stdin is never read.
# When it finishes, durabox's own lookup (DURABOX_TEMPORAL_CLI, then `temporal` on PATH, then
# `$(go env GOPATH)/bin/temporal`) finds the Temporal CLI in a fresh shell; it checks that itself.
set -euo pipefail

cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
TEMPORAL_CLI_VERSION=1.5.1
TEMPORAL_CLI_MODULE="github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
started=$(date +%s)

# Root runs apt-get directly; anyone else needs sudo that does not ask for a password.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else die "need root (or passwordless sudo) to run: $*"
  fi
}

step "tools"
command -v node >/dev/null || die "node is not installed (need Node >= 20.3)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=3)?0:1)' ||
  die "node $(node --version) is too old (need Node >= 20.3)"
echo "node $(node --version), npm $(npm --version)"

step "system packages"
# chromium: Debian's browser, for the Web UI test (test/webui) only; durabox itself never needs it.
system_packages=(openssh-server openssh-client rsync git chromium)
missing=()
for pkg in "${system_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get here: install them, then run this again"
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq </dev/null
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
  echo "all present: ${system_packages[*]}"
fi
# sshd started as root refuses to run without its privilege-separation directory (the local
# provider starts a private sshd per lease).
if [[ ! -d /run/sshd ]]; then
  as_root mkdir -p /run/sshd
  as_root chmod 0755 /run/sshd
fi
echo "$(ssh -V 2>&1); $(rsync --version | head -1); $(dpkg-query -W -f='chromium ${Version}' chromium)"

step "Temporal CLI ${TEMPORAL_CLI_VERSION}"
# Go: the one on PATH, else the usual install location.
GO=$(command -v go || true)
[[ -z $GO && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
go_is_usable() {
  # Go >= 1.21 fetches the newer toolchain the CLI's go.mod asks for by itself (GOTOOLCHAIN=auto).
  [[ -n $GO ]] || return 1
  local v major minor
  v=$("$GO" env GOVERSION 2>/dev/null | sed -E 's/^go([0-9]+)\.([0-9]+).*/\1 \2/')
  read -r major minor <<<"$v"
  [[ ${major:-0} -gt 1 || ( ${major:-0} -eq 1 && ${minor:-0} -ge 21 ) ]]
}
gopath_bin() {
  local gobin; gobin=$("$GO" env GOBIN)
  echo "${gobin:-$("$GO" env GOPATH | cut -d: -f1)/bin}"
}
# go-install builds report "0.0.0-DEV" from --version; their module version is in the build info.
is_wanted_cli() {
  local bin=$1
  [[ -f $bin && -x $bin ]] || return 1
  local version; version=$("$bin" --version 2>/dev/null || true)
  grep -q "version ${TEMPORAL_CLI_VERSION} " <<<"$version" && return 0
  if [[ -n $GO ]]; then
    "$GO" version -m "$bin" 2>/dev/null |
      grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/temporalio/cli[[:space:]]+v${TEMPORAL_CLI_VERSION}[[:space:]]"
  else
    # No Go to read the build info with: a v1.5.1 dev build reports these embedded versions.
    grep -q "version 0.0.0-DEV (Server 1.29.1, UI 2.42.1)" <<<"$version"
  fi
}
candidates=()
[[ -n ${DURABOX_TEMPORAL_CLI:-} ]] && candidates+=("$DURABOX_TEMPORAL_CLI")
command -v temporal >/dev/null && candidates+=("$(command -v temporal)")
[[ -n $GO ]] && candidates+=("$(gopath_bin)/temporal")
temporal_cli=
for c in "${candidates[@]}"; do
  if is_wanted_cli "$c"; then temporal_cli=$c; break; fi
  [[ -e $c ]] && echo "ignoring $c: not Temporal CLI v${TEMPORAL_CLI_VERSION}"
done
if [[ -z $temporal_cli ]]; then
  go_is_usable || die "no usable Go ($([[ -n $GO ]] && "$GO" version || echo 'none found')): install Go >= 1.21, then run this again"
  echo "$("$GO" version); go install ${TEMPORAL_CLI_MODULE} (several minutes, once)"
  t0=$(date +%s)
  GOTOOLCHAIN=auto "$GO" install "$TEMPORAL_CLI_MODULE" </dev/null
  echo "built in $(( $(date +%s) - t0 )) s"
  temporal_cli="$(gopath_bin)/temporal"
  is_wanted_cli "$temporal_cli" || die "go install did not produce Temporal CLI v${TEMPORAL_CLI_VERSION} at $temporal_cli"
fi
echo "using $temporal_cli"

step "npm dependencies"
if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund </dev/null
else
  npm install --no-audit --no-fund </dev/null
fi

step "build"
npm run build </dev/null

step "check that durabox finds the Temporal CLI"
# durabox's own lookup, from the build just made, in this shell's environment (not install mode).
find_cli() {
  node --input-type=module -e '
    const { findTemporalCli } = await import(process.argv[1]);
    process.stdout.write(await findTemporalCli({ install: false }));' "$PWD/dist/cli/temporal/temporal-binary.js" 2>/dev/null
}
same_file() { [[ -n $1 && -n $2 && $(readlink -f -- "$1") == $(readlink -f -- "$2") ]]; }
found=$(find_cli || true)
if ! same_file "$found" "$temporal_cli"; then
  if [[ -n $found ]]; then
    # A `temporal` earlier on PATH (or DURABOX_TEMPORAL_CLI) wins over the one set up here.
    die "durabox would use $found, not Temporal CLI v${TEMPORAL_CLI_VERSION}: export DURABOX_TEMPORAL_CLI=$temporal_cli"
  fi
  # Not on PATH, and go (for its GOPATH) is not on PATH either: link it into a directory on PATH.
  linked=
  for dir in /usr/local/bin "$HOME/.local/bin" "$HOME/bin"; do
    [[ :$PATH: == *":$dir:"* && -d $dir && -w $dir ]] || continue
    [[ -e $dir/temporal && ! -L $dir/temporal ]] && continue
    ln -sfn "$temporal_cli" "$dir/temporal"
    linked=$dir/temporal
    echo "linked $linked -> $temporal_cli"
    break
  done
  [[ -n $linked ]] || die "durabox will not find $temporal_cli: export DURABOX_TEMPORAL_CLI=$temporal_cli (or add $(dirname "$temporal_cli") to PATH)"
  found=$(find_cli || true)
  same_file "$found" "$temporal_cli" || die "durabox still does not find $temporal_cli: export DURABOX_TEMPORAL_CLI=$temporal_cli"
fi
echo "durabox uses $found"

echo
echo "setup: done in $(( $(date +%s) - started )) s; try: node dist/cli/main.js run -- uname -a"
