#!/usr/bin/env bash
# Throughput and memory of `mxwatch analyze`, measured against two
# references in the same run on the same generated capture:
#
#   yardstick (raw)  reads the file with pcapgo's zero-copy reader and
#                    parses Ethernet/VLAN/IP/TCP/UDP to the 5-tuple by hand
#   yardstick (dlp)  the same with gopacket's DecodingLayerParser
#   tshark           extracting SMTP commands and DNS MX answers
#
# The programs run in turns (bench/roundrobin.py), not one after the other:
# this machine's speed drifts by tens of percent within a minute, and the
# turns give every program the same share of it. Times are medians.
#
# Usage: bench/run.sh [SIZE_MB] [BIG_MB]     (defaults 200 and 1024)
#   BENCH_DIR   where captures and binaries go (default: a temporary dir;
#               use a tmpfs such as /dev/shm so that both files stay in memory)
#   RUNS        rounds on the small file (default 10; half as many on the big one)
#   NO_TSHARK=1 skip tshark (it takes minutes)
#   TSHARK_RUNS runs of tshark per file, in the first rounds (default 3)
#
# Needs Go and Python 3; installs GNU time and tshark from Debian when they
# are missing and it runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-200}
big=${2:-1024}
runs=${RUNS:-10}
dir=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$dir"

need=()
[ -x /usr/bin/time ] || need+=(time)
[ -n "${NO_TSHARK:-}" ] || command -v tshark >/dev/null || need+=(tshark)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]}: install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

# Built as the Dockerfile builds the shipped binary: static (no cgo, so
# no dynamic loader at start-up), no symbol table.
build() { CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/$1" "$2"; }
build mxwatch ./cmd/mxwatch
build mxgen ./cmd/mxgen
build yardstick ./bench/yardstick

for mb in "$size" "$big"; do
  f="$dir/mix-${mb}MB.pcap"
  [ -s "$f" ] || "$dir/mxgen" -mix -size "${mb}MB" -seed 1 -o "$f" >&2
done
small="$dir/mix-${size}MB.pcap"
bigf="$dir/mix-${big}MB.pcap"
speed() { # speed FILE LABEL ROUNDS: the programs in turns (bench/roundrobin.py)
  local f=$1 label=$2 n=$3 tshark=()
  if [ -z "${NO_TSHARK:-}" ]; then
    # tshark takes 50 to 100 times longer: it runs in the first
    # TSHARK_RUNS rounds only, between the others.
    tshark=("tshark:${TSHARK_RUNS:-3}>$dir/tshark-$label.out=tshark -2 -r $f -R 'smtp.req or dns.qry.type==15' -T fields -e frame.number -e smtp.req.command -e smtp.req.parameter -e dns.qry.name -e dns.mx.mail_exchange")
  fi
  echo "== speed on $f, $n rounds" >&2
  python3 bench/roundrobin.py "$n" "$dir/speed-$label.json" \
    "yardstick-raw=$dir/yardstick -parser raw $f" \
    "yardstick-dlp=$dir/yardstick -parser dlp $f" \
    "mxwatch=$dir/mxwatch analyze --format none --progress never $f" \
    "${tshark[@]}"
  "$dir/yardstick" -parser raw "$f" | sed -n 's/^packets=\([0-9]*\).*/\1/p' >"$dir/packets-$label"
  stat -c %s "$f" >"$dir/bytes-$label"
}
speed "$small" small "$runs"
speed "$bigf" big "$(( (runs + 1) / 2 ))"

echo "== peak memory" >&2
rss() { /usr/bin/time -f %M "$dir/mxwatch" analyze --format none --progress never "$1" 2>&1 >/dev/null | tail -1; }
rss_small=$(rss "$small")
rss_big=$(rss "$bigf")

python3 - "$dir" "$rss_small" "$rss_big" "$size" "$big" <<'PY'
import json, os, sys
d, rss_small, rss_big, size, big = sys.argv[1:]
def read(name):
    p = os.path.join(d, name)
    return open(p).read().strip() if os.path.exists(p) else ""
for label, mb in (("small", size), ("big", big)):
    packets, nbytes = int(read(f"packets-{label}")), int(read(f"bytes-{label}"))
    speed = json.load(open(os.path.join(d, f"speed-{label}.json")))
    res = {n: r["median"] for n, r in speed.items()}
    tshark = res.get("tshark")
    print(f"| program ({mb} MB, {packets} packets) | time (median) | packets/s | MB/s |")
    print("|---|---|---|---|")
    rows = [(n, res[n]) for n in ("yardstick-raw", "yardstick-dlp", "mxwatch")]
    if tshark:
        rows.append(("tshark -2 (SMTP commands, MX answers)", tshark))
    for name, t in rows:
        print(f"| {name} | {t*1000:.0f} ms | {packets/t/1e6:.2f} M | {nbytes/t/1e6:.0f} |")
    mx = res["mxwatch"]
    line = f"\n{mb} MB: mxwatch / yardstick-raw {res['yardstick-raw']/mx:.2f} (target >= 0.5), / yardstick-dlp {res['yardstick-dlp']/mx:.2f}"
    if tshark:
        line += f", / tshark {tshark/mx:.0f} (target >= 50)"
    print(line)
    print(f"({len(speed['mxwatch']['runs'])} rounds, tshark in {len(speed['tshark']['runs']) if tshark else 0}; medians)\n")
print(f"peak RSS of mxwatch analyze: {int(rss_small)/1024:.0f} MB on {size} MB, {int(rss_big)/1024:.0f} MB on {big} MB (target <= 150 MB on 1 GB)")
PY
