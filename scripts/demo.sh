#!/usr/bin/env bash
# `make demo`: QuantWatch end to end on the bundled `patches` fixture (a 96×96 RGB classifier, its
# int8 model from onnxruntime's quantizer and its float original).
#
#   1. a short prelude: the int8 model against its float original offline (`eval`), on the clean
#      frames and on the same frames with the contrast doubled;
#   2. a mosquitto broker on a free loopback port (its own configuration in a temporary directory,
#      no persistence), the daemon (`quantwatch run`) reading raw RGB frames from a FIFO that a
#      "camera" (this script) writes at 10–20 frames/s, and `quantwatch watch` showing the fleet
#      table; halfway the camera's contrast doubles (a saturating stretch around mid-grey) and the
#      device's row turns from ok to drift, with the event that says why;
#   3. the metric buffer the daemon kept (.build/demo/metrics.db), its report, and the command that
#      renders the HTML report.
#
# Usage: scripts/demo.sh PATH/TO/quantwatch
# DEMO_SECONDS (default 60, at least 20): how long the daemon runs; the frames drift at half that.
# Needs mosquitto (scripts/install-deps.sh), bash, coreutils, awk. No Python.
set -euo pipefail
cd "$(dirname "$0")/.."
qw="${1:?usage: scripts/demo.sh PATH/TO/quantwatch}"
[ -x "$qw" ] || { echo "$qw: no such program (make release builds it)" >&2; exit 1; }
qw="$(cd "$(dirname "$qw")" && pwd)/$(basename "$qw")"
export PATH="$(dirname "$qw"):$PATH"      # so the commands below read as a user types them
seconds="${DEMO_SECONDS:-60}"
[[ "$seconds" =~ ^[0-9]+$ ]] && (( seconds >= 20 )) || { echo "DEMO_SECONDS=$seconds: expected whole seconds, at least 20" >&2; exit 2; }
half=$(( seconds / 2 ))
mosquitto=/usr/sbin/mosquitto
[ -x "$mosquitto" ] || { echo "$mosquitto is missing: run scripts/install-deps.sh" >&2; exit 1; }

fixture=Fixtures/patches
keep=.build/demo                       # what the demo leaves: the metric buffer and its HTML report
db="$keep/metrics.db"
work="$(mktemp -d "${TMPDIR:-/tmp}/quantwatch-demo.XXXXXX")"
pids=()
forget() {   # PID…: no longer ours to stop (ended and reaped)
    local pid rest=()
    for pid in "${pids[@]}"; do [[ " $* " == *" $pid "* ]] || rest+=("$pid"); done
    pids=("${rest[@]}")
}
stop() { kill "$@" 2>/dev/null || true; for pid in "$@"; do wait "$pid" 2>/dev/null || true; done; forget "$@"; }
cleanup() { [ ${#pids[@]} -eq 0 ] || stop "${pids[@]}"; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }; else bold() { printf '\n%s\n' "$*"; }; fi
step() { bold "== $1"; printf '$ %s\n' "${*:2}"; "${@:2}"; }
elapsed() { printf '%d s' $(( SECONDS - start )); }

# The drifted frames: every byte v of the clean frames becomes clip(2·(v − 128) + 128, 0, 255) — the
# camera's contrast doubled, highlights and shadows clipping — through a tr(1) table of 256 bytes.
table="$(awk 'BEGIN { for (v = 0; v < 256; v++) { y = 2 * (v - 128) + 128; y = y < 0 ? 0 : y > 255 ? 255 : y; printf "\\%03o", y } }')"
contrast() { LC_ALL=C tr '\000-\377' "$table"; }
frame_bytes=$(( 96 * 96 * 3 ))
mkdir -p "$work/contrast"
for f in "$fixture"/frames/*.ppm; do
    header=$(( $(wc -c < "$f") - frame_bytes ))    # "P6\n96 96\n255\n"
    tail -c "+$(( header + 1 ))" "$f" >> "$work/clean.rgb"
    { head -c "$header" "$f"; tail -c "+$(( header + 1 ))" "$f" | contrast; } > "$work/contrast/$(basename "$f")"
done
contrast < "$work/clean.rgb" > "$work/contrast.rgb"
frames=$(( $(wc -c < "$work/clean.rgb") / frame_bytes ))

# MARK: - 1. Offline

step "The libraries QuantWatch links" quantwatch version
step "Offline: the int8 model against its float original on $frames held-out camera-like frames" \
    quantwatch eval --model "$fixture/model.int8.qop.onnx" --reference "$fixture/model.fp32.onnx" \
    --frames "$fixture/frames" --preprocessing "$fixture/preprocessing.json" --sensitivity-frames 0
step "The same frames with the contrast doubled: SQNR falls, int8 and float disagree on one frame in five" \
    quantwatch eval --model "$fixture/model.int8.qop.onnx" --reference "$fixture/model.fp32.onnx" \
    --frames "$work/contrast" --preprocessing "$fixture/preprocessing.json" --sensitivity-frames 0

# MARK: - 2. Broker, daemon, watch

bold "== A mosquitto broker of its own on a free loopback port (no persistence)"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
    candidate=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    ! port_open "$candidate" || continue
    cat > "$work/mosquitto.conf" <<EOF
persistence false
log_dest file $work/mosquitto.log
user $(id -un)
listener $candidate 127.0.0.1
allow_anonymous true
EOF
    "$mosquitto" -c "$work/mosquitto.conf" > /dev/null 2>&1 &
    broker=$!
    for _ in $(seq 50); do ! kill -0 "$broker" 2>/dev/null || port_open "$candidate" && break; sleep 0.1; done
    if kill -0 "$broker" 2>/dev/null && port_open "$candidate"; then port=$candidate; pids+=("$broker"); break; fi
    stop "$broker"                           # the port was taken meanwhile: another one
done
[ -n "$port" ] || { echo "mosquitto did not start; its log:" >&2; cat "$work/mosquitto.log" >&2 || true; exit 1; }
echo "mosquitto listening on 127.0.0.1:$port"

mkdir -p "$keep"
rm -f "$db" "$db-wal" "$db-shm" "$keep/report.html"   # a fresh buffer: no baseline from a previous run
mkfifo "$work/camera"
cat > "$work/quantwatch.toml" <<EOF
# The demo device: the patches model on raw RGB24 frames from a FIFO, windows of 2 s. A minute
# instead of hours: every frame is shadowed by the float model and the baseline takes the first
# 100 (on a board: 1 frame in 10 at most once a second, and 100 shadowed + 200 int8 frames).
[device]
id = "demo-01"
group = "demo"

[model]
int8 = "$PWD/$fixture/model.int8.qop.onnx"
float = "$PWD/$fixture/model.fp32.onnx"
name = "patches"
version = "1"

[frames]
source = "fifo"
path = "$work/camera"
format = "rgb24"
width = 96
height = 96

[preprocessing]
scale = 0.00392156862745098
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]

[monitor]
window_s = 2.0
shadow.every_nth = 1
shadow.min_interval_s = 0.0
shadow.cpu_share = 0.5
detectors.baseline_shadow_frames = 100
detectors.baseline_frames = 100

[store]
path = "$PWD/$db"
synchronous = "normal"

[mqtt]
url = "mqtt://127.0.0.1:$port"
EOF
printf '$ cat quantwatch.toml\n'
cat "$work/quantwatch.toml"
quantwatch config check "$work/quantwatch.toml" > /dev/null

bold "== The daemon and the fleet table for $seconds s: clean frames, then the camera's contrast doubles"
printf '$ quantwatch run --config quantwatch.toml 2> daemon.log &\n'
printf '$ quantwatch watch --broker mqtt://127.0.0.1:%s --device demo-01\n' "$port"
quantwatch watch --broker "mqtt://127.0.0.1:$port" --device demo-01 > >(sed -u 's/^/  │ /') &
watch=$!
pids+=("$watch")
sleep 0.5
quantwatch run --config "$work/quantwatch.toml" 2> "$work/daemon.log" &
daemon=$!
pids+=("$daemon")
start=$SECONDS

# The camera: one raw frame about every 50 ms, the clean frames in a loop; once $work/contrast-on
# exists, the same frames with the contrast doubled.
(
    while :; do
        for (( i = 0; i < frames; i++ )); do
            stream="$work/clean.rgb"
            [ ! -e "$work/contrast-on" ] || stream="$work/contrast.rgb"
            dd if="$stream" bs="$frame_bytes" skip="$i" count=1 status=none
            sleep 0.04
        done
    done
) > "$work/camera" &
camera=$!
pids+=("$camera")

alive() { kill -0 "$daemon" 2>/dev/null || { echo "the daemon stopped; its log:" >&2; cat "$work/daemon.log" >&2; exit 1; }; }
# Halfway, or once the baseline is complete if that takes longer (a slow machine): the detectors need it.
while (( SECONDS - start < half )) || ! grep -q baseline_ready "$work/daemon.log"; do
    alive
    (( SECONDS - start < seconds + 60 )) || { echo "no baseline after $(elapsed); the daemon's log:" >&2; cat "$work/daemon.log" >&2; exit 1; }
    sleep 0.5
done
touch "$work/contrast-on"
switched=$SECONDS
bold "-- $(elapsed): the camera's contrast doubles; the frames are drifted from now on"
drift_after=""
while (( SECONDS - switched < seconds - half )); do
    alive
    if [ -z "$drift_after" ] && grep -q 'to drift' "$work/daemon.log"; then
        drift_after=$(( SECONDS - switched ))
        bold "-- $(elapsed): the daemon reports drift, ${drift_after} s after the switch"
    fi
    sleep 0.5
done
stop "$camera"
kill -TERM "$daemon"
status=0; wait "$daemon" || status=$?
forget "$daemon"
[ "$status" -eq 0 ] || { echo "the daemon exited with status $status; its log:" >&2; cat "$work/daemon.log" >&2; exit 1; }
sleep 1.5                                  # watch shows the last status: offline
stop "$watch" "$broker"

bold "== The daemon's log (stderr)"
sed 's/^/  /' "$work/daemon.log"

# MARK: - 3. The buffer

step "What the daemon's metric buffer holds: windows, drift states, events, the model and its baseline" \
    quantwatch report --db "$db"
step "The same as one HTML page with charts" \
    quantwatch report --db "$db" --format html --output "$keep/report.html"
echo
echo "The metric buffer is kept: $db (the broker, the FIFO and the configuration were in a temporary directory, now removed)."
echo "Its HTML report, rendered again at any time (then open $keep/report.html in a browser):"
echo "  ${qw#"$PWD"/} report --db $db --format html --output $keep/report.html"
[ -n "$drift_after" ] || { echo "the device did not reach drift within $(( seconds - half )) s of the switch (see the log above)" >&2; exit 1; }
