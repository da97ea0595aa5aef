#!/usr/bin/env bash
# Autobahn|Testsuite conformance gate for switchyard's raw /echo route.
#
# usage: scripts/autobahn/run.sh [SWITCHYARD_BIN]
#
#   SWITCHYARD_BIN     binary to test (default: target/release/switchyard; the first argument wins)
#   AUTOBAHN_HOME      where the suite is installed and reports go (default: .autobahn/, gitignored)
#   AUTOBAHN_OUT       this run's output dir (default: $AUTOBAHN_HOME/run)
#   AUTOBAHN_RUNNER    auto (default: wstest, else kosoku, loudly) | wstest | kosoku
#   AUTOBAHN_WORKERS   server --workers (default 2)
#   AUTOBAHN_TIMEOUT   seconds the suite may take before it is stopped (default 2400: groups 12 and 13 compress
#                      hundreds of MB in wstest's Python: 22 min on a machine busy with builds; with
#                      13.3.x and 13.5.x compressed too, groups 12-13 alone took 1,343 s at load 12)
#   AUTOBAHN_TLS       1: the same over wss:// (the server started with the test certificate
#                      of tests/fixtures/tls/), groups 1-10 only, against the same expected
#                      results of those cases
#   AUTOBAHN_GROUPS    the case groups to run, e.g. "1-10,12" or "13" (default: all, 1-13; with
#                      AUTOBAHN_TLS=1 the default is 1-10), checked against the expected results
#                      of those groups only: scripts/test.sh runs three such parts at once
#
# Installs the suite if missing, starts the server (with --compression, so groups 12 and 13
# exercise permessage-deflate) on a free loopback port, runs
# `wstest -m fuzzingclient` with fuzzingclient.json (groups 1-7, 9, 10, 12, 13: the suite has
# no groups 8 or 11) against ws://127.0.0.1:PORT/echo, stops the server with SIGTERM, then
# check.py compares every case with expected.json. Fails (exit 1) on any case worse than
# expected, any missing case, a server that died, panicked, or did not exit 0 on SIGTERM.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:-${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}}
STATE=${AUTOBAHN_HOME:-$ROOT/.autobahn}
TLS=${AUTOBAHN_TLS:-0}
if [ "$TLS" = 1 ]; then OUT=${AUTOBAHN_OUT:-$STATE/run-tls}; else OUT=${AUTOBAHN_OUT:-$STATE/run}; fi
if [ "$TLS" = 1 ]; then GROUPS_WANTED=${AUTOBAHN_GROUPS:-1-10}; else GROUPS_WANTED=${AUTOBAHN_GROUPS:-1-13}; fi
RUNNER=${AUTOBAHN_RUNNER:-auto}
WORKERS=${AUTOBAHN_WORKERS:-2}
SUITE_TIMEOUT=${AUTOBAHN_TIMEOUT:-2400}

AB_VERSION=25.10.1        # autobahntestsuite (Python 2.7 only)
KOSOKU_VERSION=0.1.0      # pure-Python-3 fallback runner driving the same case files
VENV27=$STATE/py27
VENV3=$STATE/py3-kosoku

T0=$SECONDS
log() { echo "autobahn: $*" >&2; }
die() { echo "autobahn: ERROR: $*" >&2; echo "autobahn: 0 passed, 1 failed"; exit 1; }
loud() {
  {
    echo "autobahn: ################################################################"
    for l in "$@"; do echo "autobahn: ## $l"; done
    echo "autobahn: ################################################################"
  } >&2
}

case "$BIN" in /*) ;; *) BIN=$PWD/$BIN ;; esac
[ -x "$BIN" ] || die "no switchyard binary at $BIN (run 'cargo build --release' first, or pass the binary)"
command -v python3 >/dev/null || die "python3 is needed (for check.py and the installer)"
mkdir -p "$STATE" "$OUT"

# ---------------------------------------------------------------- install
PIP_QUIET=(-q --disable-pip-version-check --no-input)

find_python27() {
  local c cands=()
  [ -n "${AUTOBAHN_PYTHON2:-}" ] && cands+=("$AUTOBAHN_PYTHON2")
  if command -v pyenv >/dev/null 2>&1; then
    cands+=("$(pyenv root 2>/dev/null)"/versions/2.7*/bin/python2.7)
  fi
  cands+=("${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7
          /usr/bin/python2.7 /usr/local/bin/python2.7)
  c=$(command -v python2.7 2>/dev/null) && cands+=("$c")   # pyenv's bare shim fails the check below
  for c in "${cands[@]}"; do
    [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' >/dev/null 2>&1; then
      echo "$c"; return 0
    fi
  done
  return 1
}

install_wstest() {
  local marker=$VENV27/.switchyard-autobahntestsuite-$AB_VERSION py27
  if [ -f "$marker" ] && "$VENV27/bin/wstest" --help >/dev/null 2>&1; then return 0; fi
  py27=$(find_python27) || { log "no working CPython 2.7 found (pyenv's 2.7.x, /usr/bin/python2.7, python2.7 on PATH)"; return 1; }
  log "installing autobahntestsuite $AB_VERSION into $VENV27 with $py27 (about 30-60 s)"
  rm -rf "$VENV27"
  # virtualenv >= 20.22 cannot create Python 2.7 environments.
  if ! PYTHONPATH=$STATE/vtools python3 -c 'import virtualenv' >/dev/null 2>&1; then
    python3 -m pip install "${PIP_QUIET[@]}" --upgrade --target "$STATE/vtools" 'virtualenv<20.22' >&2 || return 1
  fi
  PYTHONPATH=$STATE/vtools python3 -m virtualenv -q -p "$py27" "$VENV27" >&2 || return 1
  "$VENV27/bin/pip" install "${PIP_QUIET[@]}" "autobahntestsuite==$AB_VERSION" 2>&1 \
    | grep -v -e DEPRECATION -e 'Python 2.7 reached' >&2 || true
  "$VENV27/bin/wstest" --help >/dev/null 2>&1 || { log "wstest does not run after the install"; return 1; }
  touch "$marker"
}

install_kosoku() {
  local marker=$VENV3/.switchyard-kosoku-$KOSOKU_VERSION
  if [ -f "$marker" ] && [ -x "$VENV3/bin/kosoku" ]; then return 0; fi
  python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || { log "kosoku needs Python >= 3.10"; return 1; }
  log "installing kosoku $KOSOKU_VERSION into $VENV3"
  rm -rf "$VENV3"
  python3 -m venv "$VENV3" >&2 || return 1
  "$VENV3/bin/pip" install "${PIP_QUIET[@]}" "kosoku==$KOSOKU_VERSION" >&2 || return 1
  touch "$marker"
}

# One install at a time (a developer's run and CI may share the machine).
exec 9>"$STATE/.install.lock"
command -v flock >/dev/null && flock -w 600 9
USED=""
case "$RUNNER" in
  wstest) install_wstest || die "could not install autobahntestsuite (AUTOBAHN_RUNNER=wstest)"; USED=wstest ;;
  kosoku) install_kosoku || die "could not install kosoku"; USED=kosoku ;;
  auto)
    if install_wstest; then USED=wstest
    else
      loud "FALLBACK: the reference runner (autobahntestsuite $AB_VERSION, Python 2.7) is not" \
           "available here, so this run uses kosoku $KOSOKU_VERSION, a Python 3 runner of the" \
           "same Autobahn case files. Results are comparable, not the reference suite." \
           "Install CPython 2.7 (or set AUTOBAHN_PYTHON2) to run wstest."
      install_kosoku || die "could not install kosoku either"
      USED=kosoku
    fi ;;
  *) die "AUTOBAHN_RUNNER must be auto, wstest or kosoku (got '$RUNNER')" ;;
esac
command -v flock >/dev/null && flock -u 9
exec 9>&-

# ---------------------------------------------------------------- server
SERVER_LOG=$OUT/server.log
SRV=""
cleanup() {
  if [ -n "$SRV" ] && kill -0 "$SRV" 2>/dev/null; then kill -KILL "$SRV" 2>/dev/null || true; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

PORT=""
for attempt in 1 2 3; do
  PORT=$(free_port)
  TLS_ARGS=()
  [ "$TLS" = 1 ] && TLS_ARGS=(--tls-cert "$ROOT/tests/fixtures/tls/cert-a.pem" --tls-key "$ROOT/tests/fixtures/tls/key-a.pem")
  "$BIN" --listen "127.0.0.1:$PORT" --workers "$WORKERS" "${TLS_ARGS[@]}" --compression >"$SERVER_LOG" 2>&1 &
  SRV=$!
  up=0
  for _ in $(seq 1 100); do
    if ! kill -0 "$SRV" 2>/dev/null; then break; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  [ "$up" = 1 ] && break
  log "server did not come up on port $PORT (attempt $attempt); its log:"
  sed 's/^/    /' "$SERVER_LOG" >&2
  kill -KILL "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=""
done
[ -n "$SRV" ] || die "could not start $BIN"
log "server $BIN (pid $SRV, --workers $WORKERS --compression) on 127.0.0.1:$PORT; runner $USED"

# ---------------------------------------------------------------- suite
REPORT=$OUT/report
rm -rf "$REPORT"; mkdir -p "$REPORT"
URL="ws://127.0.0.1:$PORT/echo"
SPEC=$HERE/fuzzingclient.json
EXPECTED=$HERE/expected.json
if [ "$TLS" = 1 ]; then
  # Framing over TLS: groups 1-10 by default (compression, groups 12 and 13, is no transport matter).
  URL="wss://127.0.0.1:$PORT/echo"
fi
if [ "$GROUPS_WANTED" != 1-13 ]; then
  SPEC=$OUT/fuzzingclient-part.json
  EXPECTED=$OUT/expected-part.json
  python3 - "$HERE" "$SPEC" "$EXPECTED" "$GROUPS_WANTED" <<'PY' || die "AUTOBAHN_GROUPS must look like 1-10,12 (got '$GROUPS_WANTED')"
import json, os, sys
here, spec_out, expected_out, wanted = sys.argv[1:]
groups = set()
for part in wanted.split(","):
    low, _, high = part.strip().partition("-")
    groups.update(range(int(low), int(high or low) + 1))
chosen = lambda case: int(case.split(".")[0]) in groups
spec = json.load(open(os.path.join(here, "fuzzingclient.json")))
spec["cases"] = [c for c in spec["cases"] if chosen(c)]
assert spec["cases"], "no case group chosen"
json.dump(spec, open(spec_out, "w"), indent=2)
expected = json.load(open(os.path.join(here, "expected.json")))
json.dump({k: v for k, v in expected.items() if chosen(k)}, open(expected_out, "w"), indent=1)
PY
fi
T_SUITE=$SECONDS
suite_rc=0
if [ "$USED" = wstest ]; then
  python3 - "$SPEC" "$OUT/fuzzingclient.json" "$URL" "$REPORT" <<'EOF'
import json, sys
src, dst, url, outdir = sys.argv[1:]
spec = json.load(open(src))
spec["outdir"] = outdir
for s in spec["servers"]:
    s["url"] = url
json.dump(spec, open(dst, "w"), indent=2)
EOF
  (cd "$OUT" && timeout -k 5 "$SUITE_TIMEOUT" "$VENV27/bin/wstest" -m fuzzingclient \
      -s "$OUT/fuzzingclient.json") >"$OUT/suite.log" 2>&1 || suite_rc=$?
else
  mapfile -t INCLUDE < <(python3 -c 'import json,sys; [print(c) for c in json.load(open(sys.argv[1]))["cases"]]' "$SPEC")
  args=()
  for c in "${INCLUDE[@]}"; do args+=(-i "$c"); done
  # kosoku exits 1 whenever a case is not OK (UNIMPLEMENTED included): check.py judges instead.
  (cd "$OUT" && timeout -k 5 "$SUITE_TIMEOUT" "$VENV3/bin/kosoku" -m fuzzingclient "$URL" \
      "${args[@]}" -o "$REPORT") >"$OUT/suite.log" 2>&1 || suite_rc=$?
  [ "$suite_rc" = 1 ] && suite_rc=0
fi
SUITE_SECS=$((SECONDS - T_SUITE))
EXTRA=()
if [ "$suite_rc" = 124 ] || [ "$suite_rc" = 137 ]; then
  EXTRA+=(--fail "the suite did not finish within ${SUITE_TIMEOUT}s and was stopped")
elif [ "$suite_rc" != 0 ]; then
  EXTRA+=(--fail "$USED exited with $suite_rc")
fi
if [ "$suite_rc" != 0 ]; then
  log "$USED exited with $suite_rc; last lines of $OUT/suite.log:"
  tail -n 20 "$OUT/suite.log" | sed 's/^/    /' >&2
fi

# ---------------------------------------------------------------- stop the server
if kill -0 "$SRV" 2>/dev/null; then
  kill -TERM "$SRV"
  for _ in $(seq 1 150); do kill -0 "$SRV" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SRV" 2>/dev/null; then
    kill -KILL "$SRV" 2>/dev/null || true
    EXTRA+=(--fail "the server did not exit within 15 s of SIGTERM (killed)")
  fi
  srv_rc=0; wait "$SRV" || srv_rc=$?
  [ "$srv_rc" = 0 ] || [ "$srv_rc" = 137 ] || EXTRA+=(--fail "the server exited with $srv_rc on SIGTERM (expected 0)")
else
  srv_rc=0; wait "$SRV" || srv_rc=$?
  EXTRA+=(--fail "the server died during the run (exit status $srv_rc)")
  log "the server died during the run (exit status $srv_rc); last lines of its log:"
  tail -n 40 "$SERVER_LOG" | sed 's/^/    /' >&2
fi
SRV=""
if grep -q panicked "$SERVER_LOG"; then
  EXTRA+=(--fail "the server panicked ($(grep -c panicked "$SERVER_LOG") time(s))")
  log "the server panicked; its stderr ($SERVER_LOG):"
  if [ "$(wc -l <"$SERVER_LOG")" -le 400 ]; then sed 's/^/    /' "$SERVER_LOG" >&2
  else grep -n -B5 -A20 panicked "$SERVER_LOG" | head -n 400 | sed 's/^/    /' >&2; fi
fi

# ---------------------------------------------------------------- judge
if [ "$USED" = wstest ]; then RUNNER_DESC="wstest (autobahntestsuite $AB_VERSION)"
else RUNNER_DESC="kosoku $KOSOKU_VERSION (FALLBACK, not the reference wstest)"; fi
log "runner $RUNNER_DESC; suite ${SUITE_SECS}s, total $((SECONDS - T0))s; report $REPORT/index.html; server log $SERVER_LOG"
exec python3 "$HERE/check.py" --expected "$EXPECTED" --runner "$RUNNER_DESC" "${EXTRA[@]}" "$REPORT"
