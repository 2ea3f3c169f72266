#!/usr/bin/env bash
# Replays ECG records as a live monitor feed: real-time pace, RTP L16 over UDP.
# Usage: pipelines/live-sender.sh [DATA] [HOST] [PORT] [RECORDS] [LOSS]
#   DATA     records or a dataset folder (default: the bundled PTB-XL samples)
#   HOST     default 127.0.0.1      PORT default 5004
#   RECORDS  how many records to play back to back (default 6)
#   LOSS     fraction of RTP packets dropped on purpose, to test the receiver (default 0)
# Samples travel as 16-bit integers with full scale +-10 mV (0.3 uV steps):
# the sender scales by 0.1, the receiver (live-monitor.sh) by 10.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${1:-$ROOT/pipelines/samples/ptbxl}
HOST=${2:-127.0.0.1}
PORT=${3:-5004}
RECORDS=${4:-6}
LOSS=${5:-0}
export GST_PLUGIN_PATH=${ETP_BUILD_DIR:-$ROOT/build}/plugins
exec gst-launch-1.0 -q ecgsrc location="$DATA" rate=100 is-live=true chunk-duration=0.2 \
    max-records="$RECORDS" ! ecgresample rate=100 ! volume volume=0.1 ! audioconvert ! \
  audio/x-raw,format=S16BE ! rtpL16pay pt=96 ! identity drop-probability="$LOSS" ! \
  udpsink host="$HOST" port="$PORT"
