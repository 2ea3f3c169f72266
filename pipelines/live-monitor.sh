#!/usr/bin/env bash
# Live zero-shot screening of a 12-lead monitor feed (RTP L16 over UDP, 100 Hz):
# 10 s windows every HOP s -> ETP encoder -> zero-shot over the PTB-XL superclasses;
# prints "LABEL (p=...)" per window. Packet loss and gaps do not stop it:
# rtpjitterbuffer declares lost packets and audiorate fills the missing samples
# with zeros (its in/out/add/drop counters report how many), so the windows keep
# their 1 s cadence; a gap still reaching ecgwindow restarts its window and is
# posted as an etp-window-gap message.
# Usage: pipelines/live-monitor.sh [PORT] [HOP] [SECONDS]
#   SECONDS: stop after this long (default: run until interrupted)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${1:-5004}
HOP=${2:-1}
SECONDS_TO_RUN=${3:-0}
MODEL_DIR=${ETP_MODEL_DIR:-$ROOT/models/default}
export GST_PLUGIN_PATH=${ETP_BUILD_DIR:-$ROOT/build}/plugins
CAPS="application/x-rtp,media=audio,clock-rate=100,encoding-name=L16,channels=12,payload=96"
run=(gst-launch-1.0 -q udpsrc port="$PORT" caps="$CAPS" ! rtpjitterbuffer latency=200 ! \
  rtpL16depay ! audioconvert ! audio/x-raw,format=F32LE ! audiorate skip-to-first=true ! \
  volume volume=10 ! \
  ecgresample highpass=0.5 ! ecgwindow duration=10 hop="$HOP" normalize=zscore ! \
  ecgencoder checkpoint="$MODEL_DIR/etp-ptbxl100.safetensors" output=embedding \
    batch-size=1 ! \
  zeroshot name=zs prompt-embeddings="$MODEL_DIR/prompts-ptbxl-super.safetensors" \
    post-messages=false ! fakesink \
  zs.text_src ! queue ! fdsink fd=1)
if [ "$SECONDS_TO_RUN" != 0 ]; then
  timeout --signal=INT "$SECONDS_TO_RUN" "${run[@]}" || [ $? = 124 ]
else
  exec "${run[@]}"
fi
