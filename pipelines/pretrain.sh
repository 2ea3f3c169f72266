#!/usr/bin/env bash
# ETP pre-training: fills a pipelines/pretrain-<dataset>.pipeline description
# from a preset (pipelines/presets/<preset>.env) and the options below, runs it
# with gst-launch-1.0 and prints one progress line per optimiser step (epoch,
# step/total, loss, ECG/s, ETA) and a summary per epoch (train loss,
# validation loss, ECG->report retrieval top-1/top-5) from etptrain's
# etp-train bus messages. Everything goes to OUT/pretrain.log as well.
#
# Usage: pipelines/pretrain.sh [options] DATA
#   DATA                   the dataset folder (PTB-XL folder with
#                          ptbxl_database.csv, CPSC2018 folder, WFDB folder)
# Options:
#   --dataset ptbxl|cpsc2018|wfdb   (default ptbxl)
#   --preset cpu|paper|FILE         (default cpu; presets/*.env)
#   --out DIR              run folder: checkpoint.safetensors (last epoch),
#                          best.safetensors (lowest validation loss),
#                          pretrain.log, pipeline.txt, settings.env
#                          (default runs/pretrain-<dataset>-<preset>)
#   --resume               continue from OUT/checkpoint.safetensors (weights,
#                          Adam state, epoch/step counters) when it exists
#   --init-checkpoint FILE start from these weights (fresh optimiser/counters)
#   --epochs N  --batch N  --lr X  --seed N  --device auto|cpu|cuda
#   --text-model PATH      word-vector file (.etpwv) or BERT folder
#   --report released|english   PTB-XL report text (default released, with the
#                          German->English normaliser in textencoder)
#   --no-normalize-reports turn the normaliser off
#   --compose-report       records without a report get a text composed from
#                          their label descriptions (off by default; stated
#                          in the output and in OUT/settings.env)
#   --ssl WEIGHT           add the ECG-ECG loss of two ecgaugment views
#   --train-folds SPEC --val-folds SPEC   PTB-XL folds (default 1-8 and 9;
#                          fold 10 is refused: it is the test fold)
#   --train-split CSV --val-split CSV     CPSC2018 split files (default the
#                          MERL icbeb_train/val.csv under shared/data/splits)
#   --val-data DIR         WFDB: validation folder
#   --reports FILE         WFDB: reports file ("record<TAB>report" per line)
#   --no-val               no validation branch
#   --set VAR=VALUE        set any pipeline variable (repeatable)
#   --build-dir DIR        where the plugin was built (default build)
#   --every N              print every Nth step line (default 1)
#   --dry-run              print the filled pipeline and exit

# The *_PROP / *_EXTRA variables hold gst-launch syntax (with its quotes) that
# is substituted into the description text, not shell words:
# shellcheck disable=SC2089,SC2090
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATASET=ptbxl
PRESET=cpu
OUT=
RESUME=0
INIT_CKPT=
NO_VAL=0
DRY_RUN=0
BUILD_DIR=${ETP_BUILD_DIR:-$ROOT/build}
EVERY=1
DATA=
declare -a SETS=()
declare -A OPT=()

die () { echo "pretrain: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dataset) DATASET=$2; shift 2 ;;
    --preset) PRESET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --resume) RESUME=1; shift ;;
    --init-checkpoint) INIT_CKPT=$2; shift 2 ;;
    --epochs) OPT[EPOCHS]=$2; shift 2 ;;
    --batch) OPT[BATCH]=$2; shift 2 ;;
    --lr) OPT[LR]=$2; shift 2 ;;
    --seed) OPT[SEED]=$2; shift 2 ;;
    --device) OPT[DEVICE]=$2; shift 2 ;;
    --text-model) OPT[TEXT_MODEL]=$2; shift 2 ;;
    --report) OPT[REPORT]=$2; shift 2 ;;
    --no-normalize-reports) OPT[NORMALIZE_REPORTS]=false; shift ;;
    --compose-report) OPT[COMPOSE_REPORT]=true; shift ;;
    --ssl) OPT[SSL_WEIGHT]=$2; shift 2 ;;
    --train-folds) OPT[TRAIN_FOLDS]=$2; shift 2 ;;
    --val-folds) OPT[VAL_FOLDS]=$2; shift 2 ;;
    --train-split) OPT[TRAIN_SPLIT]=$2; shift 2 ;;
    --val-split) OPT[VAL_SPLIT]=$2; shift 2 ;;
    --val-data) OPT[VAL_DATA]=$2; shift 2 ;;
    --reports) OPT[REPORTS_FILE]=$2; shift 2 ;;
    --no-val) NO_VAL=1; shift ;;
    --set) SETS+=("$2"); shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$DATA" ] || die "one DATA folder only ($DATA, $1)"; DATA=$1; shift ;;
  esac
done
[ -n "$DATA" ] || die "give the dataset folder (see --help)"
[ -d "$DATA" ] || die "$DATA is not a folder"
DATA=$(cd "$DATA" && pwd)

PIPELINE_FILE="$ROOT/pipelines/pretrain-$DATASET.pipeline"
[ -f "$PIPELINE_FILE" ] || die "no pipeline for dataset '$DATASET' ($PIPELINE_FILE)"

# --- preset, then dataset defaults, then options, then --set
if [ -f "$PRESET" ]; then PRESET_FILE=$PRESET; PRESET_NAME=$(basename "$PRESET" .env)
else PRESET_FILE="$ROOT/pipelines/presets/$PRESET.env"; PRESET_NAME=$PRESET; fi
[ -f "$PRESET_FILE" ] || die "no preset '$PRESET' (pipelines/presets/*.env)"
# shellcheck disable=SC1090
. "$PRESET_FILE"

SHARED=${ETP_SHARED_DATA:-$ROOT/../shared}
SEED=${SEED:-42}
SSL_WEIGHT=${SSL_WEIGHT:-0}
REPORT=${REPORT:-released}
COMPOSE_REPORT=${COMPOSE_REPORT:-false}
TRAIN_FOLDS=${TRAIN_FOLDS:-1-8}
VAL_FOLDS=${VAL_FOLDS:-9}
TRAIN_SPLIT=${TRAIN_SPLIT:-$SHARED/data/splits/merl/icbeb/icbeb_train.csv}
VAL_SPLIT=${VAL_SPLIT:-$SHARED/data/splits/merl/icbeb/icbeb_val.csv}
VAL_DATA=${VAL_DATA:-}
REPORTS_FILE=${REPORTS_FILE:-}
TRAIN_SRC_EXTRA=${TRAIN_SRC_EXTRA:-}
VAL_SRC_EXTRA=${VAL_SRC_EXTRA:-}
AUG_OPTS=${AUG_OPTS:-}
TEXT_BATCH=${TEXT_BATCH:-1}
for k in "${!OPT[@]}"; do printf -v "$k" '%s' "${OPT[$k]}"; done
for kv in "${SETS[@]+"${SETS[@]}"}"; do
  [[ "$kv" == *=* ]] || die "--set needs VAR=VALUE, not '$kv'"
  printf -v "${kv%%=*}" '%s' "${kv#*=}"
done

OUT=${OUT:-$ROOT/runs/pretrain-$DATASET-$PRESET_NAME}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
CHECKPOINT="$OUT/checkpoint.safetensors"
RESUME_PROP=
EPOCHS_DONE=0
if [ "$RESUME" = 1 ]; then
  if [ -f "$CHECKPOINT" ]; then
    RESUME_PROP="resume=\"$CHECKPOINT\""
    # epochs already done, from the safetensors header's __metadata__
    EPOCHS_DONE=$(head -c 4194304 "$CHECKPOINT" | LC_ALL=C grep -aoE '"train_epochs_done" *: *"[0-9]+"' \
      | head -n 1 | grep -oE '[0-9]+"$' | tr -d '"')
    EPOCHS_DONE=${EPOCHS_DONE:-0}
  else
    echo "pretrain: --resume: no $CHECKPOINT yet, starting from scratch"
  fi
elif [ -f "$CHECKPOINT" ] && [ "$DRY_RUN" = 0 ]; then
  die "$CHECKPOINT exists: continue it with --resume, or choose another --out"
fi
if [ -n "$INIT_CKPT" ] && [ -z "$RESUME_PROP" ]; then
  [ -f "$INIT_CKPT" ] || die "no checkpoint $INIT_CKPT"
  RESUME_PROP="init-checkpoint=\"$(cd "$(dirname "$INIT_CKPT")" && pwd)/$(basename "$INIT_CKPT")\""
fi
# A restarted ecgsrc replays its shuffle from its first epoch: after a resume
# it gets a seed moved on by the epochs done, so the remaining epochs see new
# orders rather than the first epochs' orders again.
SRC_SEED=$((SEED + EPOCHS_DONE))

# --- checks
fold_has_10 () {  # "1-8", "9", "1,3,5", "1-3,7" -> does it select fold >= 10?
  local part lo hi
  IFS=',' read -ra parts <<< "$1"
  for part in "${parts[@]}"; do
    lo=${part%%-*}; hi=${part##*-}
    [[ "$lo" =~ ^[0-9]+$ && "$hi" =~ ^[0-9]+$ ]] || die "bad fold list '$1'"
    [ "$hi" -ge 10 ] && return 0
  done
  return 1
}
case "$DATASET" in
  ptbxl)
    [ -f "$DATA/ptbxl_database.csv" ] || die "$DATA has no ptbxl_database.csv"
    fold_has_10 "$TRAIN_FOLDS" && die "TRAIN_FOLDS=$TRAIN_FOLDS selects fold 10, the test fold"
    fold_has_10 "$VAL_FOLDS" && die "VAL_FOLDS=$VAL_FOLDS selects fold 10, the test fold"
    [ "$REPORT" = released ] || [ "$REPORT" = english ] || die "--report released|english"
    ;;
  cpsc2018)
    [ "$COMPOSE_REPORT" = true ] || die "CPSC2018 has no report text: pre-training on it needs --compose-report (texts composed from the records' classes)"
    [ -f "$TRAIN_SPLIT" ] || die "no train split file $TRAIN_SPLIT (--train-split)"
    [ "$NO_VAL" = 1 ] || [ -f "$VAL_SPLIT" ] || die "no validation split file $VAL_SPLIT (--val-split or --no-val)"
    ;;
  wfdb)
    if [ -n "$REPORTS_FILE" ]; then
      [ -f "$REPORTS_FILE" ] || die "no reports file $REPORTS_FILE"
      TRAIN_SRC_EXTRA="$TRAIN_SRC_EXTRA reports=\"$(cd "$(dirname "$REPORTS_FILE")" && pwd)/$(basename "$REPORTS_FILE")\""
      VAL_SRC_EXTRA="$VAL_SRC_EXTRA reports=\"$(cd "$(dirname "$REPORTS_FILE")" && pwd)/$(basename "$REPORTS_FILE")\""
    elif [ "$COMPOSE_REPORT" != true ]; then
      die "WFDB records carry no report text: give --reports FILE or --compose-report (texts from the Dx codes)"
    fi
    if [ "$NO_VAL" = 0 ]; then
      [ -n "$VAL_DATA" ] || die "WFDB: give a validation folder with --val-data, or --no-val"
      [ -d "$VAL_DATA" ] || die "$VAL_DATA is not a folder"
      VAL_DATA=$(cd "$VAL_DATA" && pwd)
    fi
    ;;
esac

# The plugin
if [ -z "${GST_PLUGIN_PATH:-}" ] || [ -n "${ETP_BUILD_DIR:-}" ]; then
  export GST_PLUGIN_PATH="$BUILD_DIR/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
if [ "$DRY_RUN" = 0 ]; then
  for e in ecgsrc ecgresample ecgwindow textencoder etptrain; do
    gst-inspect-1.0 "$e" >/dev/null 2>&1 || die "element $e not found (GST_PLUGIN_PATH=$GST_PLUGIN_PATH); build first: bash pipelines/setup.sh"
  done
  if [ -n "$REPORTS_FILE" ] && ! gst-inspect-1.0 ecgsrc | grep -q '^ *reports '; then
    die "this ecgsrc has no 'reports' property yet: --reports is not available; use --compose-report"
  fi
fi

# The text model: the word vectors by default (cpu preset)
if [ -z "${TEXT_MODEL:-}" ]; then
  CACHE=${ETP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-etp}
  if [ -s "$CACHE/glove-6b-100d.etpwv" ]; then
    TEXT_MODEL="$CACHE/glove-6b-100d.etpwv"
  elif [ "$PRESET_NAME" = paper ]; then
    die "the paper preset needs a BERT folder: --text-model DIR (BioClinicalBERT: config.json, vocab.txt, model.safetensors)"
  elif [ "$DRY_RUN" = 0 ]; then
    echo "pretrain: fetching the word vectors (pipelines/fetch-wordvectors.sh)"
    TEXT_MODEL=$(bash "$ROOT/pipelines/fetch-wordvectors.sh" "$BUILD_DIR" | tail -n 1)
  else
    TEXT_MODEL="$CACHE/glove-6b-100d.etpwv"
  fi
fi

# SSL: both ECG views through ecgaugment
AUG_SEED1=$((SEED + 1))
AUG_SEED2=$((SEED + 2))
if awk "BEGIN { exit !($SSL_WEIGHT > 0) }"; then
  ECG_VIEW1="! ecgaugment seed=$AUG_SEED1 $AUG_OPTS ! queue max-size-buffers=64 max-size-bytes=0 max-size-time=0"
  KEEP_SSL=1
else
  ECG_VIEW1=
  KEEP_SSL=0
fi
KEEP_VAL=$((1 - NO_VAL))

export DATA VAL_DATA TRAIN_FOLDS VAL_FOLDS TRAIN_SPLIT VAL_SPLIT SRC_RATE RATE \
  WINDOW_S WINDOWS_PER_RECORD HIGHPASS BATCH EPOCHS LR WEIGHT_DECAY OPTIMIZER \
  SCHEDULE WARMUP_STEPS STEPS_PER_EPOCH TEMPERATURE LEARN_TEMPERATURE \
  SSL_WEIGHT WIDTH EMBED_DIM SEED DEVICE THREADS CHECKPOINT RESUME_PROP REPORT \
  COMPOSE_REPORT TEXT_MODEL NORMALIZE_REPORTS TEXT_EXTRA TRAIN_SRC_EXTRA \
  VAL_SRC_EXTRA ECG_VIEW1 AUG_SEED1 AUG_SEED2 AUG_OPTS KEEP_SSL KEEP_VAL \
  TEXT_BATCH OUT SRC_SEED

# --- fill the description: drop comments and unwanted sections, substitute
PIPE=$(perl -e '
  my %keep = (ssl => $ENV{KEEP_SSL}, val => $ENV{KEEP_VAL});
  my $skip = 0; my @out;
  while (my $l = <>) {
    if ($l =~ /^\s*#\@(\w+)-begin/) { $skip = !$keep{$1}; next; }
    if ($l =~ /^\s*#\@(\w+)-end/) { $skip = 0; next; }
    next if $skip || $l =~ /^\s*#/ || $l =~ /^\s*$/;
    $l =~ s/\$\{(\w+)\}/defined $ENV{$1} ? $ENV{$1} : die "pretrain: pipeline variable $1 is not set\n"/ge;
    chomp $l; push @out, $l;
  }
  print join("\n", @out), "\n";' "$PIPELINE_FILE")

if [ "$DRY_RUN" = 1 ]; then
  printf '%s\n' "$PIPE"
  exit 0
fi

mkdir -p "$OUT"
printf '%s\n' "$PIPE" > "$OUT/pipeline.txt"
{
  echo "# pretrain.sh settings ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo "DATASET=$DATASET"; echo "PRESET=$PRESET_NAME"; echo "DATA=$DATA"
  for v in TRAIN_FOLDS VAL_FOLDS RATE WINDOW_S BATCH EPOCHS LR WEIGHT_DECAY \
      OPTIMIZER SCHEDULE WARMUP_STEPS TEMPERATURE LEARN_TEMPERATURE SSL_WEIGHT \
      WIDTH EMBED_DIM SEED DEVICE REPORT NORMALIZE_REPORTS COMPOSE_REPORT TEXT_MODEL; do
    echo "$v=${!v}"
  done
  if [ "$EPOCHS_DONE" -gt 0 ]; then echo "RESUMED_FROM=$CHECKPOINT"; echo "RESUMED_AFTER_EPOCH=$EPOCHS_DONE"; fi
  if [ -n "$INIT_CKPT" ]; then echo "INIT_CHECKPOINT=$INIT_CKPT"; fi
} >> "$OUT/settings.env"

LOG="$OUT/pretrain.log"
NOTE_COMPOSE=
if [ "$COMPOSE_REPORT" = true ]; then
  NOTE_COMPOSE="NOTE: compose-report is ON: records without a report were given a text composed from their label descriptions; every result of this run depends on it."
fi
{
  echo "pretrain: $DATASET at $DATA"
  echo "pretrain: preset ${PRESET_DESCRIPTION:-$PRESET_NAME}"
  echo "pretrain: epochs $EPOCHS, batch $BATCH, lr $LR, text $TEXT_MODEL (report=$REPORT, normalize-reports=$NORMALIZE_REPORTS)"
  echo "pretrain: run folder $OUT (checkpoint.safetensors, pipeline.txt, settings.env)"
  if [ "$EPOCHS_DONE" -gt 0 ]; then echo "pretrain: resuming from $CHECKPOINT after epoch $EPOCHS_DONE (ecgsrc shuffle seed $SRC_SEED)"; fi
  if [ -n "$INIT_CKPT" ] && [ "$EPOCHS_DONE" = 0 ]; then echo "pretrain: weights initialised from $INIT_CKPT"; fi
  if [ -n "$NOTE_COMPOSE" ]; then echo "$NOTE_COMPOSE"; fi
} | tee -a "$LOG"

# --- run; etp-train messages -> progress lines
set +e
set -f  # the description is split on whitespace, never globbed; gst-launch
# re-joins its arguments, so quoted values with spaces survive
# shellcheck disable=SC2086
gst-launch-1.0 -m $PIPE 2>&1 | awk -v every="$EVERY" -v note="$NOTE_COMPOSE" '
function f(name,   re, s) {
  re = "[ ,]" name "=\\([a-z0-9]+\\)(\"[^\"]*\"|[^,;]*)"
  if (!match($0, re)) return ""
  s = substr($0, RSTART + 1, RLENGTH - 1)
  sub(/^[^)]*\)/, "", s); gsub(/"/, "", s); gsub(/\\/, "", s)
  return s
}
function hms(t,   h, m) {
  if (t == "" || t < 0) return "?"
  t = int(t + 0.5); h = int(t / 3600); m = int((t % 3600) / 60)
  if (h > 0) return sprintf("%dh%02dm", h, m)
  return sprintf("%dm%02ds", m, t % 60)
}
function pct(x) { return sprintf("%.1f%%", 100 * x) }
/etp-train, event=\(string\)step/ {
  s = f("step")
  if ((s - 1) % every != 0) next
  tot = f("total-steps"); if (tot == 0) tot = "?"
  printf "epoch %s/%s  step %s/%s  loss %.4f  lr %.2e  %.1f ECG/s  ETA %s\n",
    f("epoch"), f("epochs"), s, tot, f("loss"), f("learning-rate"),
    f("ecg-per-second"), hms(f("eta"))
  fflush(); next
}
/etp-train, event=\(string\)epoch/ {
  line = sprintf("== epoch %s/%s done: train loss %.4f", f("epoch"), f("epochs"), f("train-loss"))
  if (f("val-windows") != "")
    line = line sprintf(" | val loss %.4f, ECG->report top-1 %s top-5 %s (chance %s / %s, most-frequent-report guess %s / %s; %s reports, %s ECGs)",
      f("val-loss"), pct(f("val-top1")), pct(f("val-top5")), pct(f("val-chance-top1")),
      pct(f("val-chance-top5")), pct(f("val-majority-top1")), pct(f("val-majority-top5")),
      f("val-reports"), f("val-windows"))
  line = line sprintf(" | %s steps, %s windows, %.0f s", f("epoch-steps"), f("windows"), f("seconds"))
  if (f("unpaired") > 0) line = line sprintf(" | skipped %s ECG window(s) without a report", f("unpaired"))
  if (f("checkpoint") != "") line = line " | checkpoint written"
  if (f("best-checkpoint") != "") line = line " (best val loss so far: best.safetensors)"
  print line; if (note != "") print note; fflush(); next
}
/etp-train, event=\(string\)start/ {
  printf "etptrain: %s, %s leads x %s samples at %s Hz, text %s-d -> %s-d, batch %s\n",
    f("device"), f("leads"), f("length"), f("rate"), f("text-dim"), f("embed-dim"), f("batch-size")
  fflush(); next
}
/etp-train, event=\(string\)resumed/ {
  printf "etptrain: resumed after epoch %s (step %s)\n", f("epoch"), f("step"); fflush(); next
}
/etp-train, event=\(string\)validation-set/ {
  printf "etptrain: validation set of %s windows collected\n", f("windows"); fflush(); next
}
/etp-train, event=\(string\)done/ {
  printf "etptrain: training done: %s epochs, %s steps\n", f("epochs"), f("step"); fflush(); next
}
/^Got message/ { next }
/^(Setting pipeline|Pipeline is|Redistribute latency|New clock|Prerolled|Execution ended|Freeing pipeline|Setting state|Got EOS)/ { next }
{ print; fflush() }
' | tee -a "$LOG"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "pretrain: the pipeline failed (exit $rc); see $LOG. Continue later with --resume." | tee -a "$LOG"
  exit "$rc"
fi
echo "pretrain: done; model in $CHECKPOINT" | tee -a "$LOG"
if [ -n "$NOTE_COMPOSE" ]; then echo "$NOTE_COMPOSE" | tee -a "$LOG"; fi
exit 0
