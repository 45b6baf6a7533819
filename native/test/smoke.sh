#!/usr/bin/env bash
# Quick checks of berth-runtime on a busybox bundle, as root: the things the vitest suite
# (test/integration/runtime) does not reach. Usage: native/test/smoke.sh [path/to/berth-runtime]
set -uo pipefail

R=${1:-$(dirname "$0")/../build/berth-runtime}
R=$(realpath "$R")
work=$(mktemp -d /tmp/berth-smoke-XXXXXX)
root=$work/state
# Container ids unique to this run: the cgroups are named after them (berth/<id>), and the
# state root does not keep two concurrent runs of this script apart.
p=smoke$$-
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
check "run returns the exit code" bash -c "\"$R\" --root \"$root\" run ${p}a; [ \$? = 3 ]"

spec '.process.terminal=false | .process.args=["/no/such/program"]'
check "a missing executable exits 127" bash -c "\"$R\" --root \"$root\" run ${p}b 2>/dev/null; [ \$? = 127 ]"
check "a failed run leaves no state" bash -c "[ -z \"\$(ls \"$root\")\" ]"

spec '.process.terminal=false | .process.args=["sh","-c","echo one; printf two; sleep 0.2; echo; echo e >&2; exit 4"]'
"$R" --root "$root" run --detach --monitor --log-path "$work/c.log" "${p}c"
check "wait prints the exit code" bash -c "[ \"\$(\"$R\" --root \"$root\" wait ${p}c --timeout 10)\" = 4 ]"
log_records() { [ "$(jq -s -c 'map(.log)' "$work/c.log")" = '["one\n","two","\n","e\n"]' ]; }
check "the log has one record per line and flushes partial lines" log_records
check "state shows the exit code" bash -c "\"$R\" --root \"$root\" state ${p}c | jq -e '.exitCode == 4 and .status == \"stopped\"' >/dev/null"
"$R" --root "$root" delete "${p}c"

# CVE-2019-5736: a process in the container can open /proc/<runtime>/exe while the runtime
# runs; once the runtime has exited, that handle must not lead to a writable binary.
check "the runtime runs from a protected copy" "$R" _probe-exe
check "the memfd fallback is protected too" env BERTH_RUNTIME_EXE_MEMFD=1 "$R" _probe-exe
# The container runs until the attacker holds the handle, and gives up after 60 s so that a
# failing check never leaves it behind.
spec '.process.terminal=false | .process.args=["sh","-c","i=0; until [ -e /released ] || [ $i = 3000 ]; do sleep 0.02; i=$((i+1)); done"]'
exe_stays_readonly() {
  local id=$1 runner rc sum
  shift
  # The runtime attacked is a fresh private copy: were the guard broken, the write below would
  # land in it, not in the binary other tests run (and no other process executing that binary
  # could hide the hole behind ETXTBSY).
  cp "$R" "$work/attacked-runtime"
  sum=$(sha256sum <"$work/attacked-runtime")
  rm -f "$work/bb/rootfs/released"
  env "$@" "$work/attacked-runtime" --root "$root" run "$id" &
  runner=$!
  python3 - "$runner" "$R" "$root" "$id" "$work/bb/rootfs/released" <<'EOF'
import json, os, select, subprocess, sys, time
runner, runtime, root, cid, released = int(sys.argv[1]), *sys.argv[2:]
deadline = time.monotonic() + 60
# The runtime is the background job itself (env and the re-exec keep its pid). A pidfd says
# when it has exited even once bash has reaped it, and never names a recycled pid.
try:
    exited = os.pidfd_open(runner)
except ProcessLookupError:
    sys.exit("the runtime exited at once")
def wait_exit(seconds):
    return bool(select.select([exited], [], [], max(seconds, 0))[0])
# Only a running container can see the runtime, and by then the runtime runs from its copy.
while True:
    state = subprocess.run([runtime, "--root", root, "state", cid], capture_output=True, text=True, timeout=60)
    if state.returncode == 0 and json.loads(state.stdout).get("status") == "running":
        break
    if wait_exit(0.05) or time.monotonic() > deadline:
        sys.exit(f"the container never ran: {state.stderr.strip()}")
handle = os.open(f"/proc/{runner}/exe", os.O_PATH)
open(released, "w").close()
if not wait_exit(deadline - time.monotonic()):
    sys.exit("the runtime did not exit")
try:
    writer = os.open(f"/proc/self/fd/{handle}", os.O_WRONLY)
except OSError as error:
    print(f"reopening it for writing fails: {error.strerror}")
    sys.exit(0)
try:
    os.write(writer, b"\0")
except OSError as error:
    print(f"it reopens for writing, but a write fails: {error.strerror}")
    sys.exit(0)
sys.exit("the runtime's binary was written through /proc/<pid>/exe")
EOF
  rc=$?
  touch "$work/bb/rootfs/released"
  wait "$runner"
  [ "$rc" = 0 ] && [ "$(sha256sum <"$work/attacked-runtime")" = "$sum" ]
}
check "the runtime's binary cannot be written through /proc/<pid>/exe" exe_stays_readonly "${p}d"
check "nor through /proc/<pid>/exe of the memfd fallback" exe_stays_readonly "${p}d2" BERTH_RUNTIME_EXE_MEMFD=1

cat >"$work/hook.sh" <<'EOF'
#!/bin/sh
echo "$1 $(cat | jq -r .status)" >>"$(dirname "$0")/hooks.out"
EOF
chmod +x "$work/hook.sh"
hook() { echo "{\"path\":\"$work/hook.sh\",\"args\":[\"hook\",\"$1\"]}"; }
spec ".process.terminal=false | .process.args=[\"true\"] | .hooks={\"prestart\":[$(hook prestart)],\"createRuntime\":[$(hook createRuntime)],\"createContainer\":[$(hook createContainer)],\"poststart\":[$(hook poststart)],\"poststop\":[$(hook poststop)]}"
"$R" --root "$root" run "${p}e"
check "hooks run in order with the state on stdin" bash -c "[ \"\$(tr '\n' '|' <\"$work/hooks.out\")\" = 'prestart creating|createRuntime creating|createContainer creating|poststart running|poststop stopped|' ]"

spec '.process.terminal=false | .process.args=["sh","-c","echo $$"]'
check "--init makes the process pid 2, under the init" bash -c "[ \"\$(\"$R\" --root \"$root\" run --init ${p}f)\" = 2 ]"

spec '.process.terminal=false | .process.args=["sleep","30"]'
"$R" --root "$root" create "${p}g"
check "kill --all and delete --force leave nothing" bash -c "\"$R\" --root \"$root\" delete --force ${p}g && [ -z \"\$(ls \"$root\")\" ] && ! grep -q berth/${p}g /proc/self/cgroup"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
