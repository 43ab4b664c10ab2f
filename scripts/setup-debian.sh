#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what sutra needs to build, test and run on Debian 12 (bookworm).
# The one list of packages: the README's commands and .ci/run both use it.
# Runs apt-get as root, or through sudo when run as another user.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config gcc libc6-dev make
  # engine: GLib/GIO, json-glib, libltdl, SQLite, OpenSSL libcrypto (keys),
  # xxHash (store checksums)
  libglib2.0-dev libjson-glib-dev libltdl-dev libsqlite3-dev libssl-dev libxxhash-dev
  # plugins: ICU (segmentation), libarchive + libxml2 (EPUB), libsndfile,
  # FFmpeg, espeak-ng (speech)
  libicu-dev libarchive-dev libxml2-dev libsndfile1-dev
  libavcodec-dev libavformat-dev libswresample-dev libavfilter-dev libavutil-dev
  libespeak-ng-dev espeak-ng
  # translate plugin: Apertium and the English-Spanish pair (eng-spa)
  apertium apertium-en-es
  # http plugin: libcurl
  libcurl4-openssl-dev
  # audio-concat: EBU R128 loudness; the ffmpeg CLI (ffprobe) to inspect
  # audiobooks by hand (the tests read them back with libavformat)
  libebur128-dev ffmpeg
  # tests and CI: archives, the format check, memory checks, scripts
  zip unzip clang-format valgrind python3 binutils
  # tests and bench of the dhatu plugin: numpy, the independent
  # implementation (bench/dhatu-numpy.py) and np.load of npy-sink's files
  python3-numpy
  # tests: test-report opens run reports in a real headless browser
  chromium
  # tests/cluster: a single-node Slurm cluster runs deploy/slurm's scripts
  slurm-wlm munge
  # fuzzing (tests/fuzz, docs/fuzzing.md): clang and its runtimes, which
  # hold libFuzzer and the sanitizers (only recommended by clang, and this
  # script installs no recommends)
  clang libclang-rt-14-dev
)

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo > /dev/null; then
  as_root=(sudo)
else
  echo "setup-debian.sh: run this as root (or install sudo): apt-get needs it" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${packages[@]}"
