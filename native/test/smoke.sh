#!/usr/bin/env bash
# Quick checks of berth-runtime on a busybox bundle, as root: the things the vitest suite
# (test/integration/runtime) does not reach. Usage: native/test/smoke.sh [path/to/berth-runtime]
set -uo pipefail

R=${1:-$(dirname "$0")/../build/berth-runtime}
R=$(realpath "$R")
work=$(mktemp -d /tmp/berth-smoke-XXXXXX)
root=$work/state
passed=0
failed=0

cleanup() {
  for id in $("$R" --root "$root" list -q 2>/dev/null); do "$R" --root "$root" delete -f "$id"; done
  rm -rf "$work"
}
trap cleanup EXIT

check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
  fi
}

mkdir -p "$work/bb/rootfs/bin"
cp "$(command -v busybox)" "$work/bb/rootfs/bin/"
chroot "$work/bb/rootfs" /bin/busybox --install -s /bin
(cd "$work/bb" && "$R" spec)
spec() { jq "$1" "$work/bb/config.json.orig" >"$work/bb/config.json"; }
mv "$work/bb/config.json" "$work/bb/config.json.orig"
cd "$work/bb" || exit 1

spec '.process.terminal=false | .process.args=["sh","-c","exit 3"]'
check "run returns the exit code" bash -c "\"$R\" --root \"$root\" run a; [ \$? = 3 ]"

spec '.process.terminal=false | .process.args=["/no/such/program"]'
check "a missing executable exits 127" bash -c "\"$R\" --root \"$root\" run b 2>/dev/null; [ \$? = 127 ]"
check "a failed run leaves no state" bash -c "[ -z \"\$(ls \"$root\")\" ]"

spec '.process.terminal=false | .process.args=["sh","-c","echo one; printf two; sleep 0.2; echo; echo e >&2; exit 4"]'
"$R" --root "$root" run --detach --monitor --log-path "$work/c.log" c
check "wait prints the exit code" bash -c "[ \"\$(\"$R\" --root \"$root\" wait c --timeout 10)\" = 4 ]"
log_records() { [ "$(jq -s -c 'map(.log)' "$work/c.log")" = '["one\n","two","\n","e\n"]' ]; }
check "the log has one record per line and flushes partial lines" log_records
check "state shows the exit code" bash -c "\"$R\" --root \"$root\" state c | jq -e '.exitCode == 4 and .status == \"stopped\"' >/dev/null"
"$R" --root "$root" delete c

# CVE-2019-5736: a handle on /proc/<runtime>/exe taken while the runtime runs must not
# become a way to write the runtime's binary once it has exited.
check "the runtime runs from a protected copy" "$R" _probe-exe
check "the memfd fallback is protected too" env BERTH_RUNTIME_EXE_MEMFD=1 "$R" _probe-exe
spec '.process.terminal=false | .process.args=["sleep","1"]'
"$R" --root "$root" run d &
runner=$!
for _ in $(seq 50); do
  pid=$("$R" --root "$root" state d 2>/dev/null | jq -r '.pid // empty')
  [ -n "$pid" ] && [ "$pid" != 0 ] && break
  sleep 0.05
done
runtime_pid=$(awk '/^PPid/{print $2}' "/proc/$pid/status")
check "the runtime's binary cannot be written through /proc/<pid>/exe" python3 - "$runtime_pid" <<'EOF'
import os, sys, time
pid = int(sys.argv[1])
fd = os.open(f"/proc/{pid}/exe", os.O_PATH)
while os.path.exists(f"/proc/{pid}"):
    time.sleep(0.02)
try:
    os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
wait $runner

cat >"$work/hook.sh" <<'EOF'
#!/bin/sh
echo "$1 $(cat | jq -r .status)" >>"$(dirname "$0")/hooks.out"
EOF
chmod +x "$work/hook.sh"
hook() { echo "{\"path\":\"$work/hook.sh\",\"args\":[\"hook\",\"$1\"]}"; }
spec ".process.terminal=false | .process.args=[\"true\"] | .hooks={\"prestart\":[$(hook prestart)],\"createRuntime\":[$(hook createRuntime)],\"createContainer\":[$(hook createContainer)],\"poststart\":[$(hook poststart)],\"poststop\":[$(hook poststop)]}"
"$R" --root "$root" run e
check "hooks run in order with the state on stdin" bash -c "[ \"\$(tr '\n' '|' <\"$work/hooks.out\")\" = 'prestart creating|createRuntime creating|createContainer creating|poststart running|poststop stopped|' ]"

spec '.process.terminal=false | .process.args=["sh","-c","echo $$"]'
check "--init makes the process pid 2, under the init" bash -c "[ \"\$(\"$R\" --root \"$root\" run --init f)\" = 2 ]"

spec '.process.terminal=false | .process.args=["sleep","30"]'
"$R" --root "$root" create g
check "kill --all and delete --force leave nothing" bash -c "\"$R\" --root \"$root\" delete --force g && [ -z \"\$(ls \"$root\")\" ] && ! grep -q berth/g /proc/self/cgroup"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
