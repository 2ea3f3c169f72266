#!/usr/bin/env bash
# The main job: set-up, then zero-shot classification of the bundled sample records
# (66 PTB-XL fold-10 ECGs, 100 Hz) into the PTB-XL superclasses NORM, MI, STTC, CD,
# HYP with the shipped default model (models/default, see docs/model-card.md).
# Prints one line per record (top class, score, true labels) and the table of
# per-class AUC / ACC / F1 (thresholds fitted on fold 9, never on these records).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash pipelines/setup.sh build
export GST_PLUGIN_PATH=$ROOT/build/plugins
MODEL=models/default
# shellcheck disable=SC1091
. "$MODEL/zeroshot.env"
OUT=${ETP_DEMO_OUT:-$ROOT/build/demo}
mkdir -p "$OUT"

gst-launch-1.0 -q ecgsrc location=pipelines/samples/ptbxl rate=100 label-set=superclass ! \
  ecgresample highpass=0.5 ! ecgwindow duration=10 pad=zero normalize=zscore ! \
  ecgencoder checkpoint="$MODEL/etp-ptbxl100.safetensors" output=embedding ! \
  zeroshot prompt-embeddings="$MODEL/prompts-ptbxl-super.safetensors" scoring="$SCORING" \
    thresholds="$MODEL/thresholds-ptbxl-super.json" post-messages=false print-records=true \
    scores="$OUT/scores.csv" report="$OUT/report.json" ! fakesink
echo "demo: per-window scores in $OUT/scores.csv, metrics in $OUT/report.json"
