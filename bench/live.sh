#!/usr/bin/env bash
# Throughput of the live sensor, `mxwatch capture`, measured by replaying a
# generated capture with tcpreplay into a veth pair at increasing rates:
# per worker count, the highest rate with zero drops, and what the
# replay's top speed gives. Then `mxwatch analyze` and tshark on the same
# file, in the same run, as in bench/run.sh.
#
# Two files are replayed:
#   mix   the mirror-port mix of cmd/mxgen (93% non-mail noise that the
#         sensor's kernel filter discards, 5% DNS, 2% SMTP)
#   mail  only its mail and DNS packets (tcpdump), the worst case for the
#         sensor: every packet reaches the ring and the parser
#
# Usage: bench/live.sh [SIZE_MB]          (default 75)
#   BENCH_DIR     where the captures, binaries and logs go (default: a
#                 temporary directory; a tmpfs such as /dev/shm is best)
#   WORKERS       worker counts to measure (default "1 2")
#   STEP_SECONDS  length of one replay step (default 6); each step loops
#                 the file as needed and stops after STEP_SECONDS or
#                 rate*STEP_SECONDS packets, whichever comes first
#   START_PPS     first rate tried (default 50000); doubled until drops
#                 appear or tcpreplay cannot keep the rate, then bisected
#                 BISECT times (default 3)
#   NO_TSHARK=1   skip tshark
#
# Runs as root: it creates a network namespace with a veth pair (removed
# on exit) and captures only inside it. Installs tcpreplay, tcpdump and
# tshark from Debian when they are missing.
#
# A step has zero drops when, over the step, the sensor's kernel ring drops
# (mxwatch_stage_events_total{stage="capture",name="kernel_drops"}), the
# veth pair's dropped counters and the kernel's backlog drops
# (/proc/net/softnet_stat) all stayed at 0.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-75}
workers_list=${WORKERS:-1 2}
step=${STEP_SECONDS:-6}
start_pps=${START_PPS:-50000}
bisect=${BISECT:-3}
port=9110 # metrics, on the namespace's loopback

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/live.sh needs root (network namespace, veth, AF_PACKET)" >&2
  exit 1
fi
need=()
command -v tcpreplay >/dev/null || need+=(tcpreplay)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v curl >/dev/null || need+=(curl)
command -v bc >/dev/null || need+=(bc)
[ -n "${NO_TSHARK:-}" ] || command -v tshark >/dev/null || need+=(tshark)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

dir=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cfg=$(pwd)/cmd/mxwatch/testdata/platform.yaml

suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
ns=mxw-live-$suffix
tx=vtx$suffix # tcpreplay's end
rx=vrx$suffix # the sensor's end
cap_pid=
cleanup() {
  if [ -n "$cap_pid" ] && kill -0 "$cap_pid" 2>/dev/null; then
    kill "$cap_pid" 2>/dev/null || true
    wait "$cap_pid" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$dir/mxwatch" ./cmd/mxwatch
go build -o "$dir/mxgen" ./cmd/mxgen

mix="$dir/live-mix-${size}MB.pcap"
mail="$dir/live-mail-${size}MB.pcap"
[ -s "$mix" ] || "$dir/mxgen" -mix -size "${size}MB" -seed 6 -o "$mix" >&2
[ -s "$mail" ] || tcpdump -r "$mix" -w "$mail" 'tcp port 25 or tcp port 465 or tcp port 587 or port 53' 2>/dev/null

ip netns add "$ns"
ip -n "$ns" link add "$tx" type veth peer name "$rx"
for l in lo "$tx" "$rx"; do ip -n "$ns" link set "$l" up; done
ip -n "$ns" link set "$tx" mtu 9000 # generated frames may carry tunnel headers
ip -n "$ns" link set "$rx" mtu 9000
inns() { ip netns exec "$ns" "$@"; }

# counter NAME: a stage counter of the running sensor, summed over workers.
metrics() { inns curl -sf "http://127.0.0.1:$port/metrics"; }
counter() {
  [ -n "$cap_pid" ] || { echo 0; return; } # no sensor running
  metrics | awk -v n="name=\"$1\"" 'index($0, "mxwatch_stage_events_total{") == 1 && index($0, n) && index($0, "stage=\"capture\"") { s += $2 } END { printf "%d\n", s }'
}
# otherdrops: veth and backlog drops, summed.
otherdrops() {
  local v=0 f
  for f in "/sys/class/net/$tx/statistics/tx_dropped" "/sys/class/net/$rx/statistics/rx_dropped"; do
    v=$((v + $(inns cat "$f")))
  done
  local dropped
  while read -r _ dropped _; do
    v=$((v + 16#$dropped))
  done </proc/net/softnet_stat
  echo "$v"
}

start_capture() { # start_capture WORKERS
  # ip netns exec and env exec: $! is the sensor itself.
  ip netns exec "$ns" env MXWATCH_METRICS_LISTEN=127.0.0.1:$port MXWATCH_METRICS_BEARER_TOKEN= \
    "$dir/mxwatch" capture --config "$cfg" -i "$rx" --workers "$1" --events "$dir/live-events.jsonl" \
    2>"$dir/capture-$label-w$1.log" &
  cap_pid=$!
  for _ in $(seq 100); do
    grep -q 'msg=capturing' "$dir/capture-$label-w$1.log" 2>/dev/null && metrics >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "capture did not start:" >&2
  cat "$dir/capture-$label-w$1.log" >&2
  exit 1
}
stop_capture() {
  kill -TERM "$cap_pid"
  wait "$cap_pid" || { echo "capture exited $?" >&2; exit 1; }
  cap_pid=
  rm -f "$dir/live-events.jsonl"
}

# replay FILE PPS: one step (PPS "top" = --topspeed); sets sent, pps,
# mbps, drops (ring), odrops (veth, backlog), ring (packets in the ring).
replay() {
  local f=$1 r=$2 d0 o0 p0 out rate
  d0=$(counter kernel_drops) o0=$(otherdrops) p0=$(counter ring_packets)
  if [ "$r" = top ]; then
    rate=(--topspeed --limit="$((step * 2000000))")
  else
    rate=(--pps="$r" --pps-multi=10 --limit="$((r * step))")
  fi
  out=$(inns timeout $((step * 3 + 30)) tcpreplay -K -i "$tx" "${rate[@]}" --loop=100000 --duration="$step" "$f" 2>&1) || {
    echo "tcpreplay failed: $out" >&2
    exit 1
  }
  sleep 1 # the ring's block timeout, and the workers catch up
  sent=$(sed -n 's/^Actual: \([0-9]*\) packets.*/\1/p' <<<"$out")
  pps=$(sed -n 's/.* \([0-9.]*\) pps.*/\1/p' <<<"$out" | head -1)
  mbps=$(sed -n 's/.* \([0-9.]*\) Mbps.*/\1/p' <<<"$out" | head -1)
  failed=$(sed -n 's/.*Failed packets: \([0-9]*\).*/\1/p' <<<"$out")
  drops=$(($(counter kernel_drops) - d0))
  odrops=$(($(otherdrops) - o0))
  ring=$(($(counter ring_packets) - p0))
  printf '%-5s w=%s %9s pps asked: sent %9s at %9.0f pps %8.1f Mbit/s  ring %8s  drops ring %s veth/backlog %s  send failures %s\n' \
    "$label" "$workers" "$r" "$sent" "$pps" "$mbps" "$ring" "$drops" "$odrops" "${failed:-0}" | tee -a "$dir/steps.txt" >&2
}
ok() { [ "$drops" -eq 0 ] && [ "$odrops" -eq 0 ] && [ "${failed:-0}" -eq 0 ]; }

results=()
: >"$dir/steps.txt"
for label in mix mail; do
  f=$mix
  [ "$label" = mail ] && f=$mail
  # What the sender reaches with no sensor on the other end: the ceiling of
  # this replay setup.
  workers=-
  replay "$f" top
  results+=("| $label | none (tcpreplay alone) | - | - | - | $(printf '%.0f' "$pps") pps, $(printf '%.0f' "$mbps") Mbit/s |")
  for workers in $workers_list; do
    start_capture "$workers"
    best=0 best_mbps=0 lo=0 hi=0 r=$start_pps
    # Double until drops, or until tcpreplay cannot reach the rate (then
    # the sender is the limit, and its rate is the answer).
    while :; do
      replay "$f" "$r"
      if ! ok; then hi=$r; break; fi
      lo=$r best=$pps best_mbps=$mbps
      if [ "$(echo "$pps < 0.9 * $r" | bc -l)" -eq 1 ]; then break; fi
      r=$((r * 2))
      [ "$r" -le 20000000 ] || break
    done
    for _ in $(seq "$bisect"); do
      [ "$hi" -gt 0 ] || break
      r=$(((lo + hi) / 2))
      replay "$f" "$r"
      if ok; then lo=$r best=$pps best_mbps=$mbps; else hi=$r; fi
    done
    replay "$f" top
    top_pps=$pps top_mbps=$mbps top_drops=$((drops + odrops))
    stop_capture
    limit="drops above $hi pps"
    [ "$hi" -gt 0 ] || limit="no drops up to the sender's limit"
    results+=("| $label | $workers | $(printf '%.0f' "$best") | $(printf '%.0f' "$best_mbps") | $limit | $(printf '%.0f' "$top_pps") pps, $(printf '%.0f' "$top_mbps") Mbit/s, $top_drops drops |")
  done
done

# Offline on the same file: analyze and tshark (the command of bench/run.sh).
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
for label in mix mail; do
  f=$mix
  [ "$label" = mail ] && f=$mail
  packets=$(tcpdump -r "$f" 2>/dev/null | wc -l)
  best=
  for _ in 1 2 3; do
    t=$(secs "$dir/mxwatch" analyze --config "$cfg" --format none --progress never "$f")
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" -eq 1 ]; then best=$t; fi
  done
  line="| $label | $packets | $(printf '%.3f' "$best") s, $(echo "$packets / $best" | bc) pps"
  if [ -z "${NO_TSHARK:-}" ]; then
    ts=$(secs tshark -2 -r "$f" -R 'smtp.req or dns.qry.type==15' \
      -T fields -e frame.number -e smtp.req.command -e smtp.req.parameter -e dns.qry.name -e dns.mx.mail_exchange)
    line+=" | $(printf '%.2f' "$ts") s, $(echo "$packets / $ts" | bc) pps | $(printf '%.0f' "$(echo "$ts / $best" | bc -l)") |"
  else
    line+=" | - | - |"
  fi
  offline+=("$line")
done

echo
echo "live: $(nproc) CPUs, $(uname -r), tcpreplay $(tcpreplay --version 2>&1 | sed -n 's/^tcpreplay version: \([^ ]*\).*/\1/p'), steps of ${step} s (log: $dir/steps.txt)"
echo "mix: $(stat -c %s "$mix") bytes; mail: $(stat -c %s "$mail") bytes"
echo
echo "| file | workers | highest zero-drop rate (pps) | (Mbit/s) | search | top speed |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
echo
echo "| file | packets | mxwatch analyze (best of 3) | tshark -2 | tshark / analyze |"
echo "|---|---|---|---|---|"
printf '%s\n' "${offline[@]}"
