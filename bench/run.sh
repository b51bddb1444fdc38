#!/usr/bin/env bash
# Throughput and memory of `mxwatch analyze`, measured against two
# references in the same run on the same generated capture:
#
#   yardstick (raw)  reads the file with pcapgo's zero-copy reader and
#                    parses Ethernet/VLAN/IP/TCP/UDP to the 5-tuple by hand
#   yardstick (dlp)  the same with gopacket's DecodingLayerParser
#   mxwatch-4k       mxwatch analyze --huge-pages=false: the heap on 4 KiB
#                    pages, to show what the huge pages save
#   tshark           extracting SMTP commands and DNS MX answers
#
# Usage: bench/run.sh [SIZE_MB] [BIG_MB]     (defaults 200 and 1024)
#   BENCH_DIR   where captures and binaries go (default: a temporary dir;
#               use a tmpfs such as /dev/shm so that both files stay in memory)
#   RUNS        hyperfine runs per command (default 10)
#   NO_TSHARK=1 skip tshark (it takes minutes)
#   TSHARK_RUNS runs of tshark per file, averaged (default 3)
#
# Needs Go; installs hyperfine, GNU time and tshark from Debian when they
# are missing and it runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-200}
big=${2:-1024}
runs=${RUNS:-10}
dir=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$dir"

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
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
speed() { # speed FILE LABEL RUNS: hyperfine of the three programs, tshark once
  local f=$1 label=$2 n=$3
  echo "== speed on $f, $n runs each" >&2
  hyperfine -N -w 2 -r "$n" --export-json "$dir/speed-$label.json" \
    -n yardstick-raw "$dir/yardstick -parser raw $f" \
    -n yardstick-dlp "$dir/yardstick -parser dlp $f" \
    -n mxwatch "$dir/mxwatch analyze --format none --progress never $f" \
    -n mxwatch-4k "$dir/mxwatch analyze --huge-pages=false --format none --progress never $f" >&2
  if [ -z "${NO_TSHARK:-}" ]; then
    # tshark's speed varies by tens of percent between runs here: the mean
    # of TSHARK_RUNS runs is used.
    local runs=${TSHARK_RUNS:-3} total=0 start end
    echo "== tshark on $f ($runs runs)" >&2
    for _ in $(seq "$runs"); do
      start=$(date +%s.%N)
      tshark -2 -r "$f" -R 'smtp.req or dns.qry.type==15' \
        -T fields -e frame.number -e smtp.req.command -e smtp.req.parameter -e dns.qry.name -e dns.mx.mail_exchange >"$dir/tshark-$label.out" 2>/dev/null
      end=$(date +%s.%N)
      total=$(echo "$total + $end - $start" | bc -l)
    done
    echo "$total / $runs" | bc -l >"$dir/tshark-$label.s"
  fi
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
    res = {r["command"]: r["mean"] for r in json.load(open(os.path.join(d, f"speed-{label}.json")))["results"]}
    tshark = read(f"tshark-{label}.s")
    print(f"| program ({mb} MB, {packets} packets) | time (mean) | packets/s | MB/s |")
    print("|---|---|---|---|")
    names = {"mxwatch-4k": "mxwatch --huge-pages=false"}
    rows = [(names.get(n, n), res[n]) for n in ("yardstick-raw", "yardstick-dlp", "mxwatch", "mxwatch-4k")]
    if tshark:
        rows.append(("tshark -2 (SMTP commands, MX answers)", float(tshark)))
    for name, mean in rows:
        print(f"| {name} | {mean*1000:.0f} ms | {packets/mean/1e6:.2f} M | {nbytes/mean/1e6:.0f} |")
    mx = res["mxwatch"]
    line = f"\n{mb} MB: mxwatch / yardstick-raw {res['yardstick-raw']/mx:.2f} (target >= 0.5), / yardstick-dlp {res['yardstick-dlp']/mx:.2f}"
    if tshark:
        line += f", / tshark {float(tshark)/mx:.0f} (target >= 50)"
    print(line + "\n")
print(f"peak RSS of mxwatch analyze: {int(rss_small)/1024:.0f} MB on {size} MB, {int(rss_big)/1024:.0f} MB on {big} MB (target <= 150 MB on 1 GB)")
PY
