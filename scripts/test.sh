#!/usr/bin/env bash
# The whole test suite: vet, unit and end-to-end tests with the race
# detector, and a short run of every fuzz target. It installs what it needs
# from Debian when running as root (a C compiler for the race detector,
# prometheus-alertmanager and clickhouse-server, which the tests start
# themselves on free loopback ports with throw-away data directories,
# promtool from prometheus to check the alert rules, chromium to load the
# HTML reports, and docker-compose to validate docker-compose.yml; no
# container engine is started)
# and prints go test's summary. Exit status is non-zero when anything fails.
#
#   FUZZTIME=10s   time per fuzz target (0 skips fuzzing)
set -uo pipefail

cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

race=-race
if ! command -v gcc >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing gcc (the race detector needs cgo)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null || true
  fi
  if ! command -v gcc >/dev/null 2>&1; then
    echo "WARNING: no C compiler, so tests run without the race detector (apt-get install gcc)"
    race=
  fi
fi

apt_install() { # apt_install PACKAGE...: install when root, quietly
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  echo "== installing $*"
  { [ -n "${apt_updated:-}" ] || apt-get update -qq >/dev/null; } && apt_updated=1 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if ! command -v prometheus-alertmanager >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus-alertmanager ]; then
  apt_install prometheus-alertmanager ||
    echo "WARNING: prometheus-alertmanager is missing, so the real-Alertmanager test is skipped (apt-get install prometheus-alertmanager)"
  # The package starts a system service on install where an init system
  # runs; the tests start their own on a free port.
  command -v systemctl >/dev/null 2>&1 && systemctl stop prometheus-alertmanager >/dev/null 2>&1 || true
fi

if ! command -v promtool >/dev/null 2>&1; then
  apt_install prometheus ||
    echo "WARNING: promtool is missing, so the Prometheus rules are not checked (apt-get install prometheus)"
  command -v systemctl >/dev/null 2>&1 && systemctl stop prometheus >/dev/null 2>&1 || true
fi

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  apt_install chromium ||
    echo "WARNING: chromium is missing, so the HTML reports are not checked in a browser (apt-get install chromium)"
fi

if ! command -v clickhouse-server >/dev/null 2>&1; then
  apt_install clickhouse-server ||
    echo "WARNING: clickhouse-server is missing, so the ClickHouse tests are skipped (apt-get install clickhouse-server)"
  command -v systemctl >/dev/null 2>&1 && systemctl stop clickhouse-server >/dev/null 2>&1 || true
fi

if [ ! -x /usr/sbin/unbound ] && ! command -v unbound >/dev/null 2>&1; then
  apt_install unbound ||
    echo "WARNING: unbound is missing, so the dnstap input is not tested with a real resolver (apt-get install unbound)"
  # The tests run their own unbound on loopback and in network namespaces.
  command -v systemctl >/dev/null 2>&1 && systemctl stop unbound >/dev/null 2>&1 || true
fi

# The real-software lab (internal/lab): Postfix MTAs, a relay and a
# smarthost with Cyrus SASL, dnsmasq, PHP mail() through msmtp, swaks.
lab_missing=()
for tool in postfix dnsmasq php swaks msmtp saslpasswd2; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || lab_missing+=("$tool")
done
if [ ${#lab_missing[@]} -gt 0 ]; then
  apt_install postfix dnsmasq php-cli swaks msmtp sasl2-bin libsasl2-modules libnet-dns-perl ||
    echo "WARNING: ${lab_missing[*]} missing, so the real-software lab is skipped (apt-get install postfix dnsmasq php-cli swaks msmtp sasl2-bin libsasl2-modules libnet-dns-perl)"
  # The lab runs its own instances inside network namespaces.
  command -v systemctl >/dev/null 2>&1 && systemctl stop postfix dnsmasq >/dev/null 2>&1 || true
fi

if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
  apt_install docker-compose ||
    echo "WARNING: docker-compose is missing, so docker-compose.yml is only checked structurally (apt-get install docker-compose)"
fi

# The libpcap capture source is built only with -tags libpcap (cgo and
# libpcap's headers); the default build stays without it.
if [ ! -f /usr/include/pcap.h ] && [ ! -f /usr/include/pcap/pcap.h ]; then
  apt_install libpcap-dev ||
    echo "WARNING: libpcap-dev is missing, so the libpcap capture source is not tested (apt-get install libpcap-dev)"
fi

echo "== gofmt"
unformatted=$(gofmt -l . 2>&1)
if [ -n "$unformatted" ]; then
  echo "not gofmt'ed:"; echo "$unformatted"; status=1
fi

echo "== go vet"
go vet ./... || status=1

echo "== go test $race"
go test $race -count=1 ./... 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

if [ -f /usr/include/pcap.h ] || [ -f /usr/include/pcap/pcap.h ]; then
  echo "== go test -tags libpcap (the libpcap capture source)"
  go vet -tags libpcap ./capture/pcaplive ./cmd/mxwatch || status=1
  go test $race -count=1 -tags libpcap -run 'Libpcap|Filter|Open' ./capture/pcaplive ./cmd/mxwatch 2>&1 | sed 's/^\(ok\|FAIL\)\(\s\)/\1\2[libpcap] /' | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if [ "$fuzztime" != "0" ]; then
  echo "== fuzz targets, $fuzztime each"
  for pkg in $(go list ./...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
      fuzz() { go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" >"$log.fuzz" 2>&1; }
      if fuzz; then
        echo "ok   $pkg $target"
      elif ! grep -q 'Failing input written' "$log.fuzz" && grep -q 'context deadline exceeded' "$log.fuzz" && fuzz; then
        # Go's fuzzer can report the end of -fuzztime as a failure while it
        # minimizes a new input; without a failing input that is no finding.
        echo "ok   $pkg $target (second run; the first ended with a deadline error and no failing input)"
      else
        echo "FAIL $pkg $target"; cat "$log.fuzz"; status=1
      fi
    done
  done
  rm -f "$log.fuzz"
fi

echo "== summary"
ok=$(grep -c '^ok ' "$log" || true)
failed=$(grep -c '^FAIL\s' "$log" || true)
skipped=$(grep -c '^?' "$log" || true)
echo "go test: $ok packages ok, $failed failed, $skipped without tests"
if [ "$status" -ne 0 ]; then
  echo "RESULT: FAIL"
else
  echo "RESULT: PASS"
fi
exit "$status"
