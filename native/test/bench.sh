#!/usr/bin/env bash
# berth-runtime run vs runc run of /bin/true on one busybox bundle, alternating A/B so that
# load drift hits both alike; prints the medians and their ratio (target <= 0.5).
# Usage: native/test/bench.sh [runs] [path/to/berth-runtime]
set -euo pipefail
runs=${1:-40}
R=$(realpath "${2:-$(dirname "$0")/../build/berth-runtime}")
work=$(mktemp -d /tmp/berth-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bb/rootfs/bin"
cp "$(command -v busybox)" "$work/bb/rootfs/bin/"
chroot "$work/bb/rootfs" /bin/busybox --install -s /bin
(cd "$work/bb" && runc spec && jq '.process.terminal=false | .process.args=["/bin/true"]' config.json >c && mv c config.json)
python3 - "$R" "$work" "$runs" <<'PY'
import subprocess, sys, time, statistics
r, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cmds = {"berth-runtime": [r, "--root", f"{work}/berth", "run", "--bundle", f"{work}/bb", "b"],
        "runc": ["runc", "--root", f"{work}/runc", "run", "--bundle", f"{work}/bb", "r"]}
times = {k: [] for k in cmds}
for i in range(-3, runs):
    for name, cmd in cmds.items():
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
        if i >= 0:
            times[name].append((time.perf_counter() - t) * 1000)
for name, t in times.items():
    t.sort()
    print(f"{name:14} median {statistics.median(t):6.1f} ms  p10 {t[len(t)//10]:6.1f}  p90 {t[len(t)*9//10]:6.1f}")
print(f"ratio berth-runtime/runc (median): {statistics.median(times['berth-runtime'])/statistics.median(times['runc']):.2f}")
PY
