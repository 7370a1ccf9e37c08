/**
 * The script that runs a command on a box, detached from the SSH session in its own process group,
 * and the cache of the user's login environment it keeps there.
 *
 * A command runs in the user's login environment (`bash -l`), where their PATH lives. A login
 * shell costs what the profile costs: 130–170 ms for pyenv, seconds for some nvm setups, on every
 * run. So, as the devcontainer CLI's `userEnvProbe` and VS Code's remote server do, the wrapper
 * probes the login environment and reuses it, with rules that keep it close to a fresh login:
 * - **Probed after every run.** The wrapper drops the cache (every lease's, under the work root)
 *   before it records the exit status, and probes again in the background afterwards. A run's
 *   own installs (a PATH line added to ~/.profile, `nvm alias default`) are therefore seen by the
 *   next run, as a fresh login would see them. A run that starts before the probe is done logs
 *   in the full way.
 * - **What the profile changed, nothing else.** The cache holds the difference between the
 *   environment before and after the login (exports, unsets, exported functions), the login's
 *   umask and soft limits, never the session's own variables (`SSH_CONNECTION`, …), which the
 *   next session sets afresh. It is keyed by the run's forwarded variables, which the profile
 *   could read; a key that changes on every run (a forwarded commit id) is not probed for.
 * - **Anything doubtful logs in.** A login file not older than the cache (changed in a `durabox
 *   ssh` session, say), a cache that is not the box user's own, or `--fresh-login`.
 * What a cache cannot carry: what the profile prints (it prints when it runs, i.e. during the
 * probe), signals it ignores, and values it computes afresh each time (`eval $(ssh-agent)`).
 */
import { createHash } from 'node:crypto';

/** Variables that are per run, not per login: they do not key the cache. */
const PER_RUN = new Set(['DURABOX_RUN_ID']);

/**
 * The wrapper's login argument: the cache key for a run's forwarded environment (the probe after a
 * run records the profile's changes made with that run's variables set), prefixed with `-` when
 * this run must log in afresh (it still probes for the next one).
 */
export function loginArg(env: Record<string, string> | undefined, fresh: boolean): string {
  const entries = Object.entries(env ?? {})
    .filter(([k]) => !PER_RUN.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const key = createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16);
  return fresh ? `-${key}` : key;
}

/**
 * sh: drop every login cache under the work root of the run dir in `$R`. The caches are shared by
 * the leases under one work root: a static host's leases share one HOME and one profile.
 */
const LOGIN_DIR = 'D=${R%/*/*/*/*}/.durabox-login;';
export const DROP_LOGIN_CACHE = `${LOGIN_DIR} [ -O "$D" ] && [ ! -h "$D" ] && rm -f "$D"/env-*;`;

/**
 * Files a login shell reads (bash: /etc/profile and what it sources, then the first of
 * ~/.bash_profile, ~/.bash_login, ~/.profile, which usually sources ~/.bashrc; PAM's environment
 * files before it). One not older than the cache makes it stale; a new file in a `.d` directory
 * changes the directory's time.
 */
const LOGIN_FILES = [
  '/etc/environment /etc/default/locale /etc/locale.conf /etc/profile /etc/bash.bashrc /etc/bashrc /etc/profile.d /etc/profile.d/*',
  '"$HOME/.pam_environment" "$HOME/.bash_profile" "$HOME/.bash_login" "$HOME/.profile" "$HOME/.bashrc" "$HOME/.bash_aliases" "$HOME/.bashrc.d" "$HOME"/.bashrc.d/*',
].join(' ');

/** bash's own read-only variables: a profile may export them, but only their export flag carries. */
const READ_ONLY = 'BASHOPTS|BASHPID|BASH_VERSINFO|EUID|GROUPS|PPID|SHELLOPTS|UID';

/**
 * bash (4.0+): `$1` = the environment before the login (`env -0`), `$2` = the probe's output (a
 * marker, the umask, `ulimit -S -a`, then `env -0`). Prints the cache, a script for bash ending in
 * `return 0` (the publisher checks that line: a write cut short by a full disk has none). Fails
 * when the probe did not run to its end (a profile that `exec`s another shell, say) or when the
 * result would unset PATH or HOME.
 */
const LOGIN_DIFF = `exec 3<"$2"
IFS= read -r -d '' s <&3 && [ "$s" = durabox-login-probe ] || exit 1
IFS= read -r -d '' m <&3 && [[ $m =~ ^[0-7]{3,4}$ ]] || exit 1
IFS= read -r -d '' lim <&3 || exit 1
declare -A a b
while IFS= read -r -d '' kv; do a[\${kv%%=*}]=\${kv#*=}; done <"$1"
while IFS= read -r -d '' kv <&3; do b[\${kv%%=*}]=\${kv#*=}; done
printf 'umask %s\\n' "$m"
while IFS= read -r line; do
  [[ $line =~ -([A-Za-z])\\)[[:space:]]+([0-9]+|unlimited)$ ]] && printf 'ulimit -S -%s %s 2>/dev/null\\n' "\${BASH_REMATCH[1]}" "\${BASH_REMATCH[2]}"
done <<<"$lim"
for k in "\${!b[@]}"; do
  [[ -n \${a[$k]+x} && \${a[$k]} == "\${b[$k]}" ]] && continue
  case $k in
    PWD|OLDPWD|SHLVL|_) ;;
    ${READ_ONLY}) printf 'export %s\\n' "$k" ;;
    BASH_FUNC_*%%)
      f=\${k#BASH_FUNC_}; f=\${f%%%%}
      [[ $f =~ ^[A-Za-z_][A-Za-z0-9_.:-]*$ ]] && printf '%s %s\\nexport -f %s\\n' "$f" "\${b[$k]}" "$f" ;;
    *) [[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && printf 'export %s=%q\\n' "$k" "\${b[$k]}" ;;
  esac
done
for k in "\${!a[@]}"; do
  [[ -n \${b[$k]+x} ]] && continue
  case $k in
    PATH|HOME) exit 1 ;;
    PWD|OLDPWD|SHLVL|_|${READ_ONLY}) ;;
    BASH_FUNC_*%%) f=\${k#BASH_FUNC_}; f=\${f%%%%}; [[ $f =~ ^[A-Za-z_][A-Za-z0-9_.:-]*$ ]] && printf 'unset -f %s\\n' "$f" ;;
    *) [[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && printf 'unset %s\\n' "$k" ;;
  esac
done
printf 'return 0\\n'`;

const singleQuoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The wrapper, as `sh wrapper.sh <run dir> <workdir> <loginArg> argv…`. It records its pid (=
 * process group, via setsid), runs the command with the streams in the run dir, and writes the exit
 * status to `exit` when the command ends. The login caches live in `<workRoot>/.durabox-login/`
 * (the box user's only, mode 700): `env-<key>`.
 */
export const RUN_WRAPPER = `#!/bin/sh
R=$1; W=$2; L=$3; K=\${L#-}; shift 3
C=\${R%/*/*}; ${LOGIN_DIR}
echo $$ > "$R/pid.tmp" && mv "$R/pid.tmp" "$R/pid"
# The probe of an earlier run still in flight must not publish what it saw before this one.
echo "$R" > "$C/last-run"
# Forwarded variables that change from run to run (a commit id, say) would make every run log in
# and probe too: probe only for a key the previous run of the lease had as well (or a first run).
P=; [ -f "$C/last-key" ] && read -r P <"$C/last-key"; echo "$K" >"$C/last-key"
if command -v bash >/dev/null 2>&1; then
  E=$D/env-$K
  # The cache is code this shell runs: only the box user's own, never through a link.
  if [ "$K" = "$L" ] && [ -f "$E" ] && [ -O "$E" ] && [ ! -h "$E" ] && [ -O "$D" ] && [ ! -h "$D" ]; then
    for f in ${LOGIN_FILES}; do
      if [ -e "$f" ] && [ ! "$E" -nt "$f" ]; then E=; break; fi
    done
  else
    E=
  fi
  if [ -n "$E" ]; then
    # A cache dropped in the meantime (another lease's run ended) means a full login after all.
    bash -c 'if . "$0" 2>/dev/null; then cd "$1" && shift && exec "$@"; else exec bash -lc "cd \\"\\$0\\" && exec \\"\\$@\\"" "$@"; fi' "$E" "$W" "$@" >>"$R/stdout" 2>>"$R/stderr" </dev/null
  else
    bash -lc 'cd "$0" && exec "$@"' "$W" "$@" >>"$R/stdout" 2>>"$R/stderr" </dev/null
  fi
else
  (cd "$W" && exec "$@") >>"$R/stdout" 2>>"$R/stderr" </dev/null
fi
code=$?
# The run may have changed what a login sets up: no later run uses a cache probed before it ended.
${DROP_LOGIN_CACHE}
[ -e "$R/exit" ] || { echo "$code" > "$R/exit.tmp" && mv "$R/exit.tmp" "$R/exit"; }
{ [ -z "$P" ] || [ "$P" = "$K" ]; } && command -v bash >/dev/null 2>&1 || exit 0
# Probe the login environment for the next run, in the background: the run is over. The cache
# takes the probe's start time, so a login file changed while the probe ran is not older than it.
# A profile that hangs is given 30 s (where \`timeout\` exists).
(
  mkdir -m 700 "$D" 2>/dev/null
  [ -d "$D" ] && [ -O "$D" ] && [ ! -h "$D" ] && chmod 700 "$D" || exit 0
  T=$(mktemp "$D/.env-$K.XXXXXX") || exit 0
  trap 'rm -f "$T" "$T.pre" "$T.post"' EXIT
  trap 'exit 1' HUP INT TERM
  (umask 077 && : >"$T.pre" && : >"$T.post") || exit 0
  TO=; command -v timeout >/dev/null 2>&1 && TO='timeout 30'
  env -0 >"$T.pre" &&
    $TO bash -lc 'printf "%s\\0" durabox-login-probe "$(umask)" "$(ulimit -S -a)" >&3; exec env -0 >&3' 3>"$T.post" >/dev/null 2>&1 </dev/null &&
    bash -c ${singleQuoted(LOGIN_DIFF)} durabox-login-diff "$T.pre" "$T.post" >"$T" 2>/dev/null &&
    [ "$(tail -n 1 "$T")" = "return 0" ] &&
    touch -r "$T.pre" "$T" &&
    [ "$(cat "$C/last-run" 2>/dev/null)" = "$R" ] && mv "$T" "$D/env-$K"
) </dev/null >/dev/null 2>&1 &
`;
