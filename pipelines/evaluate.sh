#!/usr/bin/env bash
# The paper's evaluation protocol in one command, for a pre-trained checkpoint
# AND a randomly initialised encoder (ecgencoder checkpoint=random), tables
# printed side by side:
#   Table 1  linear probe: frozen features (ecgencoder output=features) ->
#            linearprobe, trained on the train split (PTB-XL folds 1-8, the
#            MERL split file's train), label fractions 1% / 10% / 100%,
#            tested on the test split (PTB-XL fold 10);
#   Tables 2/3  zero-shot: embeddings (ecgencoder output=embedding) ->
#            zeroshot with the shipped prompt sets (models/prompts/*.tsv) +
#            the text model; the prompt set and the scoring (softmax/cosine)
#            are chosen by macro AUC on the validation split (PTB-XL fold 9),
#            the ACC/F1 thresholds are fitted on it (fit-thresholds) and then
#            applied unchanged to the test split.
# The test split (fold 10) is only ever the test set: nothing is chosen on it.
#
# Usage: pipelines/evaluate.sh [--ptbxl DIR] [--cpsc DIR] [--checkpoint FILE]
#          [--text-model FILE] [--splits DIR] [--out DIR] [--fractions "0.01 0.1 1"]
#          [--threads N] [--no-random] [--report-only]
#   --ptbxl DIR       PTB-XL folder (ptbxl_database.csv, records100/)
#   --cpsc DIR        CPSC2018 folder (REFERENCE.csv + .mat); MERL "icbeb" split
#   --checkpoint F    pre-training checkpoint (default models/default/etp-ptbxl100.safetensors)
#   --text-model F    text model the checkpoint was trained with
#                     (default ~/.cache/gst-etp/glove-6b-100d.etpwv)
#   --splits DIR      MERL split files (default ETP_SHARED_DATA/data/splits/merl,
#                     else DIR/../splits/merl next to the data)
#   --out DIR         reports, scores and thresholds (default ./eval-out)
#   --report-only     print the tables from the reports already in --out
# Environment: ETP_BUILD_DIR (default ./build) names the build with the plugin.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PTBXL= CPSC= CKPT= OUT=$PWD/eval-out SPLITS= THREADS=0 RANDOM_TOO=1 REPORT_ONLY=0
TEXT_MODEL=${ETP_TEXT_MODEL:-$HOME/.cache/gst-etp/glove-6b-100d.etpwv}
FRACTIONS="0.01 0.1 1"
while [ $# -gt 0 ]; do
  case $1 in
    --ptbxl) PTBXL=$2; shift 2;;
    --cpsc) CPSC=$2; shift 2;;
    --checkpoint) CKPT=$2; shift 2;;
    --text-model) TEXT_MODEL=$2; shift 2;;
    --splits) SPLITS=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --fractions) FRACTIONS=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --no-random) RANDOM_TOO=0; shift;;
    --report-only) REPORT_ONLY=1; shift;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0;;
    *) echo "evaluate.sh: unknown argument $1 (see --help)" >&2; exit 2;;
  esac
done
[ -n "$PTBXL$CPSC" ] || { echo "evaluate.sh: give --ptbxl DIR and/or --cpsc DIR" >&2; exit 2; }
if [ -z "$CKPT" ]; then
  CKPT=$ROOT/models/default/etp-ptbxl100.safetensors
  [ -f "$CKPT" ] || { echo "evaluate.sh: no --checkpoint and no $CKPT" >&2; exit 2; }
fi
[ -f "$CKPT" ] || { echo "evaluate.sh: checkpoint $CKPT not found" >&2; exit 2; }
[ -f "$TEXT_MODEL" ] || [ -d "$TEXT_MODEL" ] || {
  echo "evaluate.sh: text model $TEXT_MODEL not found (pipelines/fetch-wordvectors.sh)" >&2; exit 2; }
if [ -z "$SPLITS" ]; then
  for c in ${ETP_SHARED_DATA:+$ETP_SHARED_DATA/data/splits/merl} \
           ${PTBXL:+$PTBXL/../splits/merl} ${CPSC:+$CPSC/../splits/merl}; do
    [ -d "$c" ] && { SPLITS=$c; break; }
  done
fi
[ -d "$SPLITS" ] || { echo "evaluate.sh: MERL split files not found (--splits DIR)" >&2; exit 2; }
export GST_PLUGIN_PATH=${ETP_BUILD_DIR:-$ROOT/build}/plugins
mkdir -p "$OUT"
GL="gst-launch-1.0 -q"
Q="queue max-size-buffers=0 max-size-bytes=0 max-size-time=0"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# cond: conditioning as in pre-training (pipelines/presets/cpu.env)
cond() { echo "ecgresample rate=100 highpass=0.5 ! ecgwindow duration=10 pad=zero normalize=zscore"; }
# src DATA SPLITFILE
src() { echo "ecgsrc location=\"$1\" split-file=\"$2\" rate=100 missing=skip"; }
enc() { # enc CKPT OUTPUT
  if [ "$1" = random ]; then echo "ecgencoder checkpoint=random seed=1 output=$2 threads=$THREADS batch-size=32 max-latency=18446744073709551615"
  else echo "ecgencoder checkpoint=\"$1\" output=$2 threads=$THREADS batch-size=32 max-latency=18446744073709551615"; fi
}

# linear_probe NAME DATA TRAIN TEST TAG CKPT
linear_probe() {
  [ $REPORT_ONLY = 1 ] && return 0
  local name=$1 data=$2 train=$3 test=$4 tag=$5 ck=$6 lps="" trb="" teb="" i=0
  for f in $FRACTIONS; do
    lps+=" linearprobe name=lp$i label-fraction=$f seed=0 silent=true report=\"$OUT/$name-lp-$tag-$f.json\""
    trb+=" tr. ! $Q ! lp$i.train"; teb+=" te. ! $Q ! lp$i.test"; i=$((i+1))
  done
  log "$name linear probe ($tag encoder): fractions $FRACTIONS"
  eval "$GL $lps $(src "$data" "$train") ! $(cond) ! $(enc "$ck" features) ! tee name=tr $trb \
     $(src "$data" "$test") ! $(cond) ! $(enc "$ck" features) ! tee name=te $teb"
}

# zero_shot NAME DATA VAL TEST TAG CKPT PROMPTSETS...
zero_shot() {
  [ $REPORT_ONLY = 1 ] && return 0
  local name=$1 data=$2 val=$3 test=$4 tag=$5 ck=$6; shift 6
  local br="" v ps sc
  for ps in "$@"; do for sc in softmax cosine; do
    v=$(basename "$ps" .tsv)-$sc
    br+=" t. ! $Q ! zeroshot prompts=\"$ps\" text-model=\"$TEXT_MODEL\" checkpoint=\"$CKPT\" scoring=$sc \
      post-messages=false silent=true fit-thresholds=\"$OUT/$name-zs-$tag-$v-thr.json\" \
      save-prompt-embeddings=\"$OUT/$name-zs-$tag-$v-prompts.safetensors\" \
      report=\"$OUT/$name-zs-$tag-$v-val.json\" ! fakesink sync=false"
  done; done
  log "$name zero-shot ($tag encoder): validation split, prompt sets x scoring, thresholds"
  eval "$GL $(src "$data" "$val") ! $(cond) ! $(enc "$ck" embedding) ! tee name=t $br"
  # choose on the validation split only
  local best
  best=$(python3 - "$OUT" "$name-zs-$tag-" <<'PY'
import json, glob, sys, os
out, pre = sys.argv[1], sys.argv[2]
best, first = None, None
for f in sorted(glob.glob(os.path.join(out, pre + "*-val.json"))):
    a = json.load(open(f))["macro"]["auc"]
    v = os.path.basename(f)[len(pre):-len("-val.json")]
    first = first or v
    if a is not None and (best is None or a > best[0]):
        best = (a, v)
if best is None:   # no class has both positives and negatives in validation
    sys.stderr.write("evaluate.sh: no validation AUC is defined; using %s\n" % first)
    best = (None, first)
print(best[1])
PY
)
  echo "$best" > "$OUT/$name-zs-$tag-chosen.txt"
  sc=${best##*-}
  log "$name zero-shot ($tag encoder): chosen on validation: $best; test split"
  eval "$GL $(src "$data" "$test") ! $(cond) ! $(enc "$ck" embedding) \
    ! zeroshot prompt-embeddings=\"$OUT/$name-zs-$tag-$best-prompts.safetensors\" scoring=$sc \
      thresholds=\"$OUT/$name-zs-$tag-$best-thr.json\" post-messages=false silent=true \
      report=\"$OUT/$name-zs-$tag-test.json\" scores=\"$OUT/$name-zs-$tag-test.csv\" ! fakesink sync=false"
}

TAGS="trained"; [ $RANDOM_TOO = 1 ] && TAGS="trained random"
ck_of() { [ "$1" = random ] && echo random || echo "$CKPT"; }
DATASETS=""
if [ -n "$PTBXL" ]; then
  S=$SPLITS/ptbxl/super_class
  for tag in $TAGS; do
    linear_probe ptbxl "$PTBXL" "$S/ptbxl_super_class_train.csv" "$S/ptbxl_super_class_test.csv" "$tag" "$(ck_of $tag)"
    zero_shot ptbxl "$PTBXL" "$S/ptbxl_super_class_val.csv" "$S/ptbxl_super_class_test.csv" "$tag" "$(ck_of $tag)" \
      "$ROOT/models/prompts/ptbxl_super.tsv" "$ROOT/models/prompts/ptbxl_super_plain.tsv"
  done
  DATASETS+=" ptbxl"
fi
if [ -n "$CPSC" ]; then
  S=$SPLITS/icbeb
  for tag in $TAGS; do
    linear_probe cpsc2018 "$CPSC" "$S/icbeb_train.csv" "$S/icbeb_test.csv" "$tag" "$(ck_of $tag)"
    zero_shot cpsc2018 "$CPSC" "$S/icbeb_val.csv" "$S/icbeb_test.csv" "$tag" "$(ck_of $tag)" \
      "$ROOT/models/prompts/cpsc2018.tsv"
  done
  DATASETS+=" cpsc2018"
fi

python3 - "$OUT" "$CKPT" "$TAGS" "$FRACTIONS" $DATASETS <<'PY'
import json, os, sys
out, ckpt, tags, fracs = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
def pct(x): return "   -  " if x is None else "%6.1f" % (100 * x)
def load(p):
    return json.load(open(p)) if os.path.exists(p) else None
print("checkpoint: %s  (random = ecgencoder checkpoint=random seed=1)" % ckpt)
for ds in sys.argv[5:]:
    print("\n== %s: Table 1, linear probe, macro AUC on the test split (%%)" % ds)
    print("%-10s" % "labels" + "".join("%10s" % t for t in tags))
    for f in fracs:
        row = "%-10s" % ("%g%%" % (100 * float(f)))
        for t in tags:
            r = load(os.path.join(out, "%s-lp-%s-%s.json" % (ds, t, f)))
            row += "%10s" % (pct(r["macro"]["auc"]) if r else "n/a")
        print(row)
    for f in fracs:
        rs = [load(os.path.join(out, "%s-lp-%s-%s.json" % (ds, t, f))) for t in tags]
        if all(rs):
            print("  %g%%: macro F1 %s, ACC %s; train records used %s, test records %s" % (
                100 * float(f), " / ".join(pct(r["macro"]["f1"]).strip() for r in rs),
                " / ".join(pct(r["macro"]["accuracy"]).strip() for r in rs),
                " / ".join(str(r.get("n_train_records_used")) for r in rs),
                " / ".join(str(r.get("n_test_records")) for r in rs)))
    print("\n== %s: Tables 2/3, zero-shot on the test split (%%), trained | random" % ds)
    zs = {t: load(os.path.join(out, "%s-zs-%s-test.json" % (ds, t))) for t in tags}
    for t in tags:
        ch = os.path.join(out, "%s-zs-%s-chosen.txt" % (ds, t))
        if os.path.exists(ch):
            print("  %s: prompt set + scoring chosen on validation: %s; %s" % (
                t, open(ch).read().strip(), (zs[t] or {}).get("threshold_rule", "")))
            pre = "%s-zs-%s-" % (ds, t)
            vals = []
            for f in sorted(os.listdir(out)):
                if f.startswith(pre) and f.endswith("-val.json"):
                    a = json.load(open(os.path.join(out, f)))["macro"]["auc"]
                    vals.append("%s %s" % (f[len(pre):-len("-val.json")], pct(a).strip()))
            print("    validation macro AUC: " + ", ".join(vals))
    first = next((z for z in zs.values() if z), None)
    if not first:
        continue
    hdr = "%-8s %4s " % ("class", "pos") + " | ".join("%7s %7s %7s" % ("AUC", "ACC", "F1") for _ in tags)
    print(hdr)
    for i, pc in enumerate(first["per_class"]):
        row = "%-8s %4s " % (pc["class"], pc.get("n_positive", ""))
        cells = []
        for t in tags:
            z = zs[t]
            c = next((q for q in z["per_class"] if q["class"] == pc["class"]), None) if z else None
            cells.append("%7s %7s %7s" % ((pct(c["auc"]), pct(c["accuracy"]), pct(c["f1"])) if c else ("n/a",) * 3))
        print(row + " | ".join(cells))
    cells = []
    for t in tags:
        m = zs[t]["macro"] if zs[t] else None
        cells.append("%7s %7s %7s" % ((pct(m["auc"]), pct(m["accuracy"]), pct(m["f1"])) if m else ("n/a",) * 3))
    print("%-8s %4s " % ("macro", "") + " | ".join(cells))
    print("  test records: " + " / ".join(str((zs[t] or {}).get("n_records")) for t in tags))
PY
