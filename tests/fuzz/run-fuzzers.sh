#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the libFuzzer harnesses of a -Dfuzzing=true build, each for a bounded
# time, one after the other (docs/fuzzing.md).
#
# Usage: tests/fuzz/run-fuzzers.sh BUILD-DIR [SECONDS-EACH] [HARNESS...]
#   BUILD-DIR     configured with CC=clang and -Dfuzzing=true (built here)
#   SECONDS-EACH  fuzzing time of each harness (default 40)
#   HARNESS       names without fuzz- (default: every harness)
#
# Environment:
#   SUTRA_FUZZ_CORPUS=DIR     where each harness's working corpus lives
#                             (DIR/<harness>); it starts as a copy of the
#                             seeds and keeps what the fuzzer finds, so that
#                             runs add up. Default: BUILD-DIR/fuzz-corpus.
#   SUTRA_FUZZ_ARTIFACTS=DIR  where crashing, leaking and slow inputs are
#                             kept (default BUILD-DIR/fuzz-artifacts)
#   SUTRA_FUZZ_ARGS           more libFuzzer options (-fork=4 ...)
#   SUTRA_FUZZ_TMPDIR=DIR     the harnesses' scratch files (the journal
#                             harness writes a database per input); default
#                             /dev/shm, where SQLite's syncs cost nothing
#
# The exit status is 1 when any harness found a crash, a leak or a hang:
# its input is kept under the artifacts directory and dumped into the
# output, and reproduces with `BUILD-DIR/tests/fuzz/fuzz-HARNESS FILE`.
set -uo pipefail

if [ $# -lt 1 ]; then
  sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=${2:-40}
shift $(($# >= 2 ? 2 : 1))
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus_root=${SUTRA_FUZZ_CORPUS:-$build/fuzz-corpus}
artifacts=${SUTRA_FUZZ_ARTIFACTS:-$build/fuzz-artifacts}

if [ $# -gt 0 ]; then
  harnesses=("$@")
else
  mapfile -t harnesses < <(cd "$here/corpus" && ls -d -- * | sort)
fi

# The dictionary of each harness (tests/fuzz/dict).
dict_for () {
  case $1 in
    pipeline) echo "$here/dict/pipeline.dict" ;;
    segmenter-text) echo "$here/dict/text.dict" ;;
    segmenter-markdown) echo "$here/dict/markdown.dict" ;;
    segmenter-epub*) echo "$here/dict/xml.dict" ;;
    *) echo "" ;;
  esac
}

is_fuzz_build () {
  meson introspect --buildoptions "$build" 2> /dev/null | python3 -c '
import json, sys
sys.exit(0 if any(o["name"] == "fuzzing" and o["value"] is True for o in json.load(sys.stdin)) else 1)'
}
if ! is_fuzz_build; then
  echo "run-fuzzers: $build is not a -Dfuzzing=true build; make one with" >&2
  echo "  CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false" >&2
  exit 2
fi
ninja -C "$build" || exit 1

# libFuzzer reports what the sanitizers find; UBSan must stop at the first
# finding for libFuzzer to see it. GLib's slice allocator would hide
# use-after-free from ASan. The leak suppressions say why each is there.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-fast_unwind_on_malloc=0:intercept_tls_get_addr=0:suppressions=$here/lsan.supp}
export G_SLICE=always-malloc
# Only the build tree's plugins: the user's own are not under test.
export SUTRA_PLUGIN_PATH=
scratch=${SUTRA_FUZZ_TMPDIR:-/dev/shm}
if [ -d "$scratch" ] && [ -w "$scratch" ]; then
  export TMPDIR=$scratch
fi

mkdir -p "$artifacts"
failed=()
for name in "${harnesses[@]}"; do
  exe="$build/tests/fuzz/fuzz-$name"
  work="$corpus_root/$name"
  dict=$(dict_for "$name")
  args=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-")
  if [ ! -x "$exe" ]; then
    echo "run-fuzzers: no harness $exe" >&2
    failed+=("$name")
    continue
  fi
  [ -n "$dict" ] && args+=(-dict="$dict")
  mkdir -p "$work"
  printf '\n--- fuzz-%s: %ss, corpus %s\n' "$name" "$seconds" "$work"
  before=$(find "$artifacts" -maxdepth 1 -name "$name-*" -type f | sort)
  # The seeds go first, then the working corpus: new finds go to the
  # working corpus only (libFuzzer writes into its first directory).
  # shellcheck disable=SC2086
  (cd "$root" && "$exe" "${args[@]}" ${SUTRA_FUZZ_ARGS:-} "$work" "$here/corpus/$name") 2>&1 |
    grep -v -E '^#[0-9]+.*(NEW|REDUCE|pulse)' # progress lines: too many for a CI log
  status=${PIPESTATUS[0]}
  after=$(find "$artifacts" -maxdepth 1 -name "$name-*" -type f | sort)
  new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed '/^$/d')
  if [ "$status" -ne 0 ] || [ -n "$new" ]; then
    failed+=("$name")
    echo "run-fuzzers: fuzz-$name FAILED (exit $status)"
    for f in $new; do
      echo "run-fuzzers: input kept as $f ($(stat -c %s "$f") bytes); reproduce with"
      echo "  $exe $f"
      echo "its bytes (base64; decode with base64 -d > input):"
      head -c 65536 "$f" | base64
    done
  fi
done

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-fuzzers: FAILED: ${failed[*]} (inputs under $artifacts)"
  exit 1
fi
echo "run-fuzzers: ${#harnesses[@]} harnesses, ${seconds}s each: nothing found"
