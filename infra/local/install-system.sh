#!/usr/bin/env bash
# Debian packages the local stack needs; installs only what is missing.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(default-jre-headless)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v gcloud >/dev/null || need+=(google-cloud-cli)
# The library web UI's browser tests drive Debian's Chromium (no browser download).
command -v chromium >/dev/null || need+=(chromium)
# Media handlers encode and probe audio/video with ffmpeg (the gateway uses PyAV).
command -v ffmpeg >/dev/null || need+=(ffmpeg)
gcloud_root=$(dirname "$(dirname "$(readlink -f "$(command -v gcloud || echo /usr/bin/gcloud)")")")
if ! ls "$gcloud_root"/platform/cloud-firestore-emulator/*.jar >/dev/null 2>&1 \
   && ! dpkg -s google-cloud-cli-firestore-emulator >/dev/null 2>&1; then
  need+=(google-cloud-cli-firestore-emulator)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
