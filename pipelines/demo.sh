#!/usr/bin/env bash
# The main job: set-up, then read and condition the bundled sample records.
set -euo pipefail
cd "$(dirname "$0")/.."
bash pipelines/setup.sh build
export GST_PLUGIN_PATH=$PWD/build/plugins
gst-launch-1.0 ecgsrc location=pipelines/samples/ptbxl label-set=superclass ! \
  ecgresample rate=100 highpass=0.5 ! ecgwindow duration=10 hop=10 normalize=zscore ! fakesink
