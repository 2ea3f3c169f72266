# Source me: makes the freshly built plugin visible to gst-launch-1.0 / gst-inspect-1.0.
_etp_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GST_PLUGIN_PATH="${ETP_BUILD_DIR:-$_etp_root/build}/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
unset _etp_root
