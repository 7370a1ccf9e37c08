/**
 * The script that runs a command on a box, detached from the SSH session in its own process group,
 * and the per-lease cache of the user's login environment it keeps there.
 *
 * A command runs in the user's login environment (`bash -l`), where their PATH lives. A login
 * shell costs what the profile costs: 130–170 ms for pyenv, seconds for some nvm setups, on every
 * run. So, as the devcontainer CLI's `userEnvProbe` and VS Code's remote server do, the wrapper
 * probes the login environment once and reuses it, with two rules that keep it exact:
 * - **Probed after every run.** The wrapper drops the cache before it records the exit status, and
 *   probes again in the background afterwards. A run's own installs (a PATH line added to
 *   ~/.profile, `nvm alias default`) are therefore seen by the next run, as a fresh login would
 *   see them. A run that starts before the probe is done logs in the full way.
 * - **What the profile changed, nothing else.** The cache holds the difference between the
 *   environment before and after the login (and the login's umask), never the session's own
 *   variables (`SSH_CONNECTION`, `XDG_SESSION_ID`, …), which the next session sets afresh. It is
 *   keyed by the run's forwarded variables, which the profile could read.
 * A profile file changed between runs (in a `durabox ssh` session, say) makes the wrapper log in
 * the full way. `--fresh-login` skips the cache for one run.
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
 * Files a login shell reads (bash: /etc/profile and what it sources, then the first of
 * ~/.bash_profile, ~/.bash_login, ~/.profile, which usually sources ~/.bashrc; PAM's environment
 * files before it). One changed since the probe makes the cache stale. A new file in
 * /etc/profile.d changes the directory's time.
 */
const LOGIN_FILES =
  '/etc/environment /etc/profile /etc/bash.bashrc /etc/profile.d /etc/profile.d/* ' +
  '"$HOME/.pam_environment" "$HOME/.bash_profile" "$HOME/.bash_login" "$HOME/.profile" "$HOME/.bashrc"';

/**
 * bash: `$1` = the environment before the login (`env -0`), `$2` = the probe's output (a marker,
 * the umask, then `env -0`). Prints the cache: `umask`, then `export`s of what the login set or
 * changed and `unset`s of what it removed, quoted by bash for bash. Fails, writing nothing usable,
 * when the probe did not run to its end (a profile that `exec`s another shell, say).
 */
const LOGIN_DIFF = `exec 3<"$2"
IFS= read -r -d '' s <&3 && [ "$s" = durabox-login-probe ] || exit 1
IFS= read -r -d '' m <&3 && [[ $m =~ ^[0-7]{3,4}$ ]] || exit 1
declare -A a b
while IFS= read -r -d '' kv; do a[\${kv%%=*}]=\${kv#*=}; done <"$1"
while IFS= read -r -d '' kv <&3; do b[\${kv%%=*}]=\${kv#*=}; done
printf 'umask %s\\n' "$m"
for k in "\${!b[@]}"; do
  case $k in PWD|OLDPWD|SHLVL|_) continue;; esac
  [[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
  if [[ ! -v a[$k] || \${a[$k]} != "\${b[$k]}" ]]; then printf 'export %s=%q\\n' "$k" "\${b[$k]}"; fi
done
for k in "\${!a[@]}"; do
  case $k in PWD|OLDPWD|SHLVL|_) continue;; esac
  [[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
  [[ -v b[$k] ]] || printf 'unset %s\\n' "$k"
done`;

/**
 * The wrapper, as `sh wrapper.sh <run dir> <workdir> <loginArg> argv…`. It records its pid (=
 * process group, via setsid), runs the command with the streams in the run dir, and writes the exit
 * status to `exit` when the command ends. The login cache lives beside the runs, in the lease's
 * `.durabox` dir: `login-env-<key>`.
 */
export const RUN_WRAPPER = `#!/bin/sh
R=$1; W=$2; L=$3; K=\${L#-}; shift 3
C=\${R%/*/*}
echo $$ > "$R/pid.tmp" && mv "$R/pid.tmp" "$R/pid"
# The probe of an earlier run still in flight must not publish what it saw before this one.
echo "$R" > "$C/last-run"
if command -v bash >/dev/null 2>&1; then
  E=
  if [ "$K" = "$L" ] && [ -f "$C/login-env-$K" ]; then
    E=$C/login-env-$K
    for f in ${LOGIN_FILES}; do
      if [ "$f" -nt "$E" ]; then E=; break; fi
    done
  fi
  if [ -n "$E" ]; then
    bash -c '. "$0" && cd "$1" && shift && exec "$@"' "$E" "$W" "$@" >>"$R/stdout" 2>>"$R/stderr" </dev/null
  else
    bash -lc 'cd "$0" && exec "$@"' "$W" "$@" >>"$R/stdout" 2>>"$R/stderr" </dev/null
  fi
else
  (cd "$W" && exec "$@") >>"$R/stdout" 2>>"$R/stderr" </dev/null
fi
code=$?
# The run may have changed what a login sets up: no later run uses a cache probed before it ended.
rm -f "$C"/login-env-*
[ -e "$R/exit" ] || { echo "$code" > "$R/exit.tmp" && mv "$R/exit.tmp" "$R/exit"; }
[ -n "$K" ] && command -v bash >/dev/null 2>&1 || exit 0
# Probe the login environment for the next run, in the background: the run is over. The cache
# takes the probe's start time, so a profile changed while the probe ran is newer than it.
(
  T=$C/.login-env-$K.$$
  # A profile may export tokens: only the box user reads the cache. The probe itself keeps the
  # session's umask, since the login's umask is part of what it records.
  (umask 077 && : >"$T.pre" && : >"$T.post" && : >"$T") &&
  env -0 >"$T.pre" &&
    bash -lc 'printf "%s\\0" durabox-login-probe "$(umask)"; exec env -0' >"$T.post" 2>/dev/null </dev/null &&
    bash -c '${LOGIN_DIFF.replace(/'/g, `'\\''`)}' durabox-login-diff "$T.pre" "$T.post" >"$T" 2>/dev/null &&
    touch -r "$T.pre" "$T" &&
    [ "$(cat "$C/last-run" 2>/dev/null)" = "$R" ] && mv "$T" "$C/login-env-$K"
  rm -f "$T" "$T.pre" "$T.post"
) </dev/null >/dev/null 2>&1 &
`;
