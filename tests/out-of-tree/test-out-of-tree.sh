#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs sutra into a temporary prefix, builds examples/uppercase against
# the installed files only (with its meson.build and with its Makefile), and
# runs it with the installed sutra. Speaks TAP; stops at the first failure.
#
# usage: test-out-of-tree.sh SOURCE_ROOT [BUILD_ROOT]
#
# The sutra under test is a build of its own (meson setup --prefix=TMP),
# not the build that runs this test: an installed tree is only right when
# the prefix was chosen at setup time, and this build is deliberately plain.
# Whatever the calling build was configured with (-Db_sanitize=address,
# -Dwerror, coverage) does not reach it, so the sanitizer CI job runs this
# test unchanged: nothing here is instrumented. Should an instrumented
# library get in all the same (LD_PRELOAD, CFLAGS from the environment), the
# nested runs set ASAN_OPTIONS=detect_leaks=0: LeakSanitizer would report
# the compiler's and meson's own allocations, not sutra's.
#
# Set SUTRA_KEEP_TMP=1 to keep the temporary directory after a success; it
# is always kept after a failure, and its path printed.

set -uo pipefail

src=${1:?usage: test-out-of-tree.sh SOURCE_ROOT [BUILD_ROOT]}
src=$(cd "$src" && pwd) || exit 1
example="$src/examples/uppercase"

n=0
tmp=
failed=0

tap_ok () { n=$((n + 1)); echo "ok $n - $1"; }
tap_skip () { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag () { sed 's/^/# /'; }
logname () { printf '%s/logs/%s.log' "$tmp" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9_.' '-')"; }

finish () {
  echo "1..$n"
  if [ "$failed" -ne 0 ]; then
    [ -n "$tmp" ] && echo "# kept for inspection: $tmp"
    exit 1
  fi
  if [ -n "$tmp" ] && [ -z "${SUTRA_KEEP_TMP:-}" ]; then
    rm -rf "$tmp"
  fi
  exit 0
}

# Fails the step: names it, shows the end of its log, and stops the test.
fail () {
  local name=$1 log=${2:-}

  n=$((n + 1))
  echo "not ok $n - $name"
  if [ -n "$log" ] && [ -f "$log" ]; then
    echo "# last lines of $log:"
    tail -n 80 "$log" | diag
  fi
  echo "$name: FAILED" >&2
  failed=1
  finish
}

# step NAME COMMAND...: runs COMMAND with its output in a log of its own.
step () {
  local name=$1 log
  shift
  log=$(logname "$name")
  echo "\$ $*" > "$log"
  if "$@" >> "$log" 2>&1; then
    tap_ok "$name"
  else
    echo "(exit status $?)" >> "$log"
    fail "$name" "$log"
  fi
}

for tool in meson ninja pkg-config; do
  if ! command -v "$tool" > /dev/null; then
    echo "1..0 # SKIP $tool is not installed"
    exit 0
  fi
done
if ! command -v "${CC:-cc}" > /dev/null; then
  echo "1..0 # SKIP no C compiler (${CC:-cc})"
  exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sutra-out-of-tree-XXXXXX") || exit 1
mkdir -p "$tmp/logs"
prefix="$tmp/prefix"

# What the calling build or `meson test` put in the environment is not for
# the nested build: no preloaded sanitizer runtime, no malloc debugging in
# the compiler, no user plugins.
unset LD_PRELOAD MALLOC_PERTURB_ MALLOC_CHECK_ SUTRA_PLUGIN_PATH
export ASAN_OPTIONS=detect_leaks=0

step "sutra: meson setup --prefix" \
  meson setup "$tmp/build" "$src" --prefix="$prefix" \
  -Dbuildtype=plain -Db_sanitize=none -Db_coverage=false -Dwerror=false
step "sutra: build" meson compile -C "$tmp/build"
step "sutra: meson install" meson install -C "$tmp/build"

# The prefix's libdir is lib/<triplet> on Debian, lib or lib64 elsewhere.
pcdir=
for dir in "$prefix"/lib/*/pkgconfig "$prefix"/lib/pkgconfig "$prefix"/lib64/pkgconfig; do
  if [ -f "$dir/sutra-plugin.pc" ]; then
    pcdir=$dir
    break
  fi
done
if [ -z "$pcdir" ]; then
  find "$prefix" -print > "$tmp/logs/installed-files.log"
  fail "installed: sutra-plugin.pc" "$tmp/logs/installed-files.log"
fi
libdir=$(dirname "$pcdir")
export PKG_CONFIG_PATH="$pcdir"
plugindir=$(pkg-config --variable=plugindir sutra-plugin)
pc_prefix=$(pkg-config --variable=prefix sutra-plugin)
{
  echo "pcdir=$pcdir"
  echo "pkg-config prefix=$pc_prefix plugindir=$plugindir"
  echo "cflags=$(pkg-config --cflags sutra-plugin)"
  echo "libs=$(pkg-config --libs sutra-plugin)"
} > "$tmp/logs/pkg-config.log"
problem=
if [ "$pc_prefix" != "$prefix" ]; then
  problem="sutra-plugin.pc has prefix $pc_prefix, not $prefix"
elif [ "${plugindir#"$libdir"/}" = "$plugindir" ]; then
  problem="sutra-plugin.pc's plugindir $plugindir is not under $libdir"
elif [ ! -f "$prefix/include/sutra-1/sutra/sutra.h" ]; then
  problem="no $prefix/include/sutra-1/sutra/sutra.h"
elif [ ! -x "$prefix/bin/sutra" ]; then
  problem="no $prefix/bin/sutra: meson install did not install the CLI"
fi
if [ -n "$problem" ]; then
  {
    echo "$problem"
    echo "installed files:"
    find "$prefix" -print
  } >> "$tmp/logs/pkg-config.log"
  fail "installed: pkg-config file, headers, sutra ($problem)" "$tmp/logs/pkg-config.log"
fi
tap_ok "installed: pkg-config file, headers, sutra"

# The installed sutra finds libsutra through its install rpath, with no
# LD_LIBRARY_PATH (a user's shell has none), and its core plugins in
# plugindir.
# Each call runs in a fresh directory of its own, with a copy of the
# pipeline file and a home and caches of its own, so that no job directory
# or cache of an earlier run (sutra is cache-first) can stand in for running
# the plugin this time, and nothing is written into the source tree.
runs=0
sutra () {
  local dir
  runs=$((runs + 1))
  dir="$tmp/run-$runs"
  mkdir -p "$dir/home"
  cp "$example/uppercase.json" "$dir/uppercase.json"
  (cd "$dir" && HOME="$dir/home" XDG_CACHE_HOME="$dir/home/.cache" \
    XDG_DATA_HOME="$dir/home/.local/share" XDG_STATE_HOME="$dir/home/.local/state" \
    env -u LD_LIBRARY_PATH timeout 300 "$prefix/bin/sutra" "$@")
}

# A copy of the example, so that nothing but the installed files is near it
# and make writes nothing into the source tree.
cp -R "$example" "$tmp/example"
rm -f "$tmp/example/uppercase.so"

printf 'hello, world\nstraße\nçà et là\n' > "$tmp/input.txt"

# check_output FILE EXPECTED...: the texts of the JSONL records, in order.
check_output () {
  local file=$1
  shift
  if [ ! -s "$file" ]; then
    echo "$file: missing or empty"
    return 1
  fi
  cat "$file"
  if command -v python3 > /dev/null; then
    python3 - "$file" "$@" << 'EOF'
import json, sys
path, expected = sys.argv[1], sys.argv[2:]
with open(path, encoding="utf-8") as f:
    texts = [json.loads(line)["text"].rstrip("\r\n") for line in f if line.strip()]
if texts != expected:
    sys.exit(f"texts {texts!r}, expected {expected!r}")
EOF
  else
    local text
    [ "$(grep -c . "$file")" -eq "$#" ] || { echo "expected $# records"; return 1; }
    for text in "$@"; do
      grep -qE "\"text\" *: *\"$text" "$file" || { echo "no record with text $text"; return 1; }
    done
  fi
}

# run_and_check NAME OUTPUT EXPECTED-TEXTS... -- SUTRA-RUN-ARGS...
run_and_check () {
  local name=$1 out=$2 log
  shift 2
  local expected=()
  while [ "$1" != "--" ]; do
    expected+=("$1")
    shift
  done
  shift
  log=$(logname "$name")
  rm -f "$out"
  {
    echo "\$ (cd $tmp/run-$((runs + 1)) &&" \
      "sutra run uppercase.json --quiet --set input=$tmp/input.txt --set output=$out $*)"
    sutra run uppercase.json --quiet \
      --set input="$tmp/input.txt" --set output="$out" "$@" \
      && check_output "$out" "${expected[@]}"
  } > "$log" 2>&1 && tap_ok "$name" || fail "$name" "$log"
}

upper=("HELLO, WORLD" "STRASSE" "ÇÀ ET LÀ")
ascii_upper=("HELLO, WORLD" "STRAßE" "çà ET Là")

# The example's meson.build: dependency('sutra-plugin') from the prefix.
step "meson: setup against the installed sutra" meson setup "$tmp/example-meson" "$tmp/example"
step "meson: build uppercase.so" meson compile -C "$tmp/example-meson"

if command -v nm > /dev/null; then
  exports=$(nm -D --defined-only "$tmp/example-meson/uppercase.so" \
    | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^_(init|fini)$/ { print $3 }')
  if [ "$exports" = "sutra_plugin_get_info" ]; then
    tap_ok "meson: uppercase.so exports only sutra_plugin_get_info"
  else
    echo "$exports" > "$tmp/logs/exports.log"
    fail "meson: uppercase.so exports only sutra_plugin_get_info" "$tmp/logs/exports.log"
  fi
else
  tap_skip "meson: uppercase.so exports only sutra_plugin_get_info" "nm is not installed"
fi

run_and_check "meson: sutra run --plugin-path BUILDDIR" "$tmp/out-meson.jsonl" \
  "${upper[@]}" -- --plugin-path "$tmp/example-meson"
run_and_check "meson: sutra run --set up.only_ascii=true" "$tmp/out-ascii.jsonl" \
  "${ascii_upper[@]}" -- --plugin-path "$tmp/example-meson" --set up.only_ascii=true

log="$tmp/logs/inspect.log"
{
  echo "\$ SUTRA_PLUGIN_PATH=$tmp/example-meson sutra inspect uppercase"
  SUTRA_PLUGIN_PATH="$tmp/example-meson" sutra inspect uppercase > "$tmp/inspect.txt" \
    && cat "$tmp/inspect.txt" \
    && grep -q only_ascii "$tmp/inspect.txt" && grep -q on_invalid "$tmp/inspect.txt"
} > "$log" 2>&1 && tap_ok "SUTRA_PLUGIN_PATH: sutra inspect uppercase lists the parameters" \
  || fail "SUTRA_PLUGIN_PATH: sutra inspect uppercase lists the parameters" "$log"

# expect_failure NAME PATTERN SUTRA-ARGS...: sutra must fail, saying PATTERN.
expect_failure () {
  local name=$1 pattern=$2 log status
  shift 2
  log=$(logname "$name")
  {
    echo "\$ sutra $*"
    sutra "$@"
    status=$?
    echo "(exit status $status)"
    [ "$status" -ne 0 ] && grep -q -- "$pattern" "$log"
  } > "$log" 2>&1 && tap_ok "$name" || fail "$name" "$log"
}

expect_failure "validate: a misspelt choice is refused before anything runs" "did you mean" \
  validate uppercase.json --plugin-path "$tmp/example-meson" \
  --set input="$tmp/input.txt" --set output="$tmp/out-never.jsonl" --set up.on_invalid=passs

printf 'fine\n\377 not UTF-8\n' > "$tmp/invalid.txt"
expect_failure "run: invalid UTF-8 fails the run with the plugin's message" "not valid UTF-8" \
  run uppercase.json --quiet --plugin-path "$tmp/example-meson" \
  --set input="$tmp/invalid.txt" --set output="$tmp/out-invalid.jsonl"

# The example's Makefile: pkg-config --cflags --libs sutra-plugin.
if command -v make > /dev/null; then
  cp -R "$tmp/example" "$tmp/example-make"
  step "make: build uppercase.so" make -C "$tmp/example-make"
  run_and_check "make: sutra run --plugin-path DIR" "$tmp/out-make.jsonl" \
    "${upper[@]}" -- --plugin-path "$tmp/example-make"
  step "make: install with DESTDIR" make -C "$tmp/example-make" install DESTDIR="$tmp/destdir"
  log="$tmp/logs/make-destdir.log"
  if [ -f "$tmp/destdir$plugindir/uppercase.so" ]; then
    tap_ok "make: installed into DESTDIR/plugindir"
  else
    find "$tmp/destdir" -print > "$log" 2>&1
    fail "make: installed into DESTDIR/plugindir" "$log"
  fi
else
  tap_skip "make: build uppercase.so" "make is not installed"
fi

# meson install puts the plugin into the prefix's plugindir, where the
# installed sutra finds it with no --plugin-path at all.
step "meson: install into plugindir" meson install -C "$tmp/example-meson"
if [ -f "$plugindir/uppercase.so" ]; then
  tap_ok "meson: installed into plugindir"
else
  find "$prefix" -print > "$tmp/logs/installed-plugin.log"
  fail "meson: installed into plugindir" "$tmp/logs/installed-plugin.log"
fi
run_and_check "installed: sutra run finds uppercase in plugindir" "$tmp/out-installed.jsonl" \
  "${upper[@]}" --

finish
