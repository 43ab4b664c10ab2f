#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Keeps docs/plugin-guide.md true: takes its code blocks out, as a reader
# following it from an empty folder would, builds them with the guide's own
# Makefile (and meson.build) against this build tree, and runs the result
# as the guide shows. Speaks TAP; stops at the first failure.
#
# usage: test-plugin-guide.sh SOURCE_ROOT BUILD_ROOT
#
# A block is preceded by a marker line naming where it goes:
#   <!-- sutra-guide: FILE -->             appended to FILE (blocks of one
#                                          file are joined by a blank line)
#   <!-- sutra-guide: excerpt of FILE -->  must appear in FILE as it is
#                                          (indentation aside)
# Every ```c block must have one, so no C in the guide goes unchecked; none
# may elide code with "...".
#
# The build tree's uninstalled pkg-config file (meson-uninstalled/) stands
# for an installed sutra: pkg-config prefers NAME-uninstalled.pc.

set -uo pipefail

src=${1:?usage: test-plugin-guide.sh SOURCE_ROOT BUILD_ROOT}
build=${2:?usage: test-plugin-guide.sh SOURCE_ROOT BUILD_ROOT}
guide="$src/docs/plugin-guide.md"
sutra_bin="$build/engine/sutra"

n=0
failed=0
tmp=

tap_ok () { n=$((n + 1)); echo "ok $n - $1"; }
tap_skip () { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

finish () {
  echo "1..$n"
  if [ "$failed" -ne 0 ]; then
    echo "# kept for inspection: $tmp"
    exit 1
  fi
  rm -rf "$tmp"
  exit 0
}

# fail NAME LOG: names the step, shows its log, stops.
fail () {
  n=$((n + 1))
  echo "not ok $n - $1"
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    echo "# last lines of $2:"
    tail -n 60 "$2" | sed 's/^/# /'
  fi
  failed=1
  finish
}

# step NAME COMMAND...: runs COMMAND in $tmp/guide with its output in a log.
step () {
  local name=$1 log
  shift
  log="$tmp/logs/$n.log"
  echo "\$ $*" > "$log"
  if (cd "$tmp/guide" && "$@") >> "$log" 2>&1; then
    tap_ok "$name"
  else
    echo "(exit status $?)" >> "$log"
    fail "$name" "$log"
  fi
}

for tool in make pkg-config "${CC:-cc}"; do
  if ! command -v "$tool" > /dev/null; then
    echo "1..0 # SKIP $tool is not installed"
    exit 0
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sutra-plugin-guide-XXXXXX") || exit 1
mkdir -p "$tmp/guide" "$tmp/excerpts" "$tmp/logs" "$tmp/home"

# What the test environment sets for the engine's own tests is not for a
# reader's build: no preloaded sanitizer runtime, no malloc debugging in the
# compiler, no user plugins.
unset LD_PRELOAD MALLOC_PERTURB_ MALLOC_CHECK_
export SUTRA_PLUGIN_PATH=
export PKG_CONFIG_PATH="$build/meson-uninstalled"
export HOME="$tmp/home" XDG_CACHE_HOME="$tmp/home/.cache" XDG_DATA_HOME="$tmp/home/.local/share"
export XDG_STATE_HOME="$tmp/home/.local/state" LC_ALL=C.UTF-8

# Takes the blocks out. An unmarked ```c block, or a marked block that never
# ends, is an error; excerpts go to excerpts/N.FILE.
log="$tmp/logs/extract.log"
if ! awk -v out="$tmp/guide" -v excerpts="$tmp/excerpts" '
  function fail(message) { print FILENAME ":" FNR ": " message > "/dev/stderr"; bad = 1; exit 1 }
  /^ *<!-- sutra-guide: .* -->$/ {
    target = $0
    sub(/^ *<!-- sutra-guide: /, "", target)
    sub(/ -->$/, "", target)
    pending = target
    next
  }
  /^ *```/ && !inside {
    fence = $0
    indent = fence
    sub(/```.*$/, "", indent)
    lang = fence
    sub(/^ *```/, "", lang)
    inside = 1
    if (pending == "" && lang == "c")
      fail("a C block with no <!-- sutra-guide: FILE --> marker: it would go unchecked")
    if (pending ~ /^excerpt of /) {
      file = excerpts "/" (++n_excerpts) "." substr(pending, 12)
    } else if (pending != "") {
      file = out "/" pending
      if (seen[file]++)
        print "" >> file
    } else
      file = ""
    block_start = FNR
    pending = ""
    next
  }
  /^ *```$/ && inside { inside = 0; if (file != "") close(file); next }
  inside {
    line = $0
    if (substr(line, 1, length(indent)) == indent)
      line = substr(line, length(indent) + 1)
    if (lang == "c" && index(line, "...") > 0)
      fail("C code elided with \"...\": write it out")
    if (file != "")
      print line >> file
    next
  }
  END {
    if (bad) exit 1
    if (inside) { FNR = block_start; fail("a code block that never ends") }
  }
' "$guide" > "$log" 2>&1; then
  fail "extract the guide's code blocks (every C block marked, none elided)" "$log"
fi
tap_ok "extract the guide's code blocks (every C block marked, none elided)"

for file in uppercase.c numbers.c Makefile meson.build uppercase.json expected-output.jsonl \
  inspect-uppercase.txt; do
  if [ ! -s "$tmp/guide/$file" ]; then
    ls -l "$tmp/guide" > "$log"
    fail "the guide has blocks for $file" "$log"
  fi
done
tap_ok "the guide has blocks for every file it builds and shows"

# Its steps, one after the other, are the example: the guide leaves nothing
# out, and the two cannot drift apart.
log="$tmp/logs/diff.log"
if diff -u "$src/examples/uppercase/uppercase.c" "$tmp/guide/uppercase.c" > "$log" 2>&1; then
  tap_ok "the guide's steps make examples/uppercase/uppercase.c, line for line"
else
  fail "the guide's steps make examples/uppercase/uppercase.c, line for line" "$log"
fi

# Excerpts: their lines, stripped of indentation, appear in a row in FILE.
strip () { sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$1"; }
for excerpt in "$tmp"/excerpts/*; do
  [ -e "$excerpt" ] || break
  target=${excerpt##*/}
  target=${target#*.}
  log="$tmp/logs/excerpt.log"
  if strip "$tmp/guide/$target" | tr '\n' '\001' | grep -qF "$(strip "$excerpt" | tr '\n' '\001')"; then
    tap_ok "the excerpt of $target is in $target"
  else
    cat "$excerpt" > "$log"
    fail "the excerpt of $target is in $target" "$log"
  fi
done

step "make: the guide's Makefile builds uppercase.so with its warnings as errors" make
step "make: numbers.so, the guide's source" make numbers.so
step "make: sizes.so, the guide's streaming gather" make sizes.so

if command -v nm > /dev/null; then
  for module in uppercase numbers sizes; do
    exports=$(nm -D --defined-only "$tmp/guide/$module.so" \
      | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^_(init|fini)$/ { print $3 }')
    if [ "$exports" = "sutra_plugin_get_info" ]; then
      tap_ok "$module.so exports only sutra_plugin_get_info"
    else
      echo "$exports" > "$tmp/logs/exports.log"
      fail "$module.so exports only sutra_plugin_get_info" "$tmp/logs/exports.log"
    fi
  done
else
  tap_skip "the modules export only sutra_plugin_get_info" "nm is not installed"
fi

# The guide's run, with its pipeline file and its input; the output is the
# one the guide shows.
printf 'hello, world\nstraße\n' > "$tmp/guide/in.txt"
step "sutra run uppercase.json --plugin-path uppercase.so" \
  "$sutra_bin" run uppercase.json --quiet --plugin-path uppercase.so \
  --set input=in.txt --set output=out.jsonl
step "the output is the one the guide shows" diff -u expected-output.jsonl out.jsonl

log="$tmp/logs/inspect.log"
if (cd "$tmp/guide" && "$sutra_bin" inspect -P uppercase.so uppercase) > "$tmp/inspect.txt" 2> "$log" \
  && [[ "$(cat "$tmp/inspect.txt")" == *"$(cat "$tmp/guide/inspect-uppercase.txt")"* ]]; then
  tap_ok "sutra inspect uppercase prints what the guide shows"
else
  { echo "--- the guide:"; cat "$tmp/guide/inspect-uppercase.txt"; echo "--- sutra:"; cat "$tmp/inspect.txt"; } >> "$log"
  fail "sutra inspect uppercase prints what the guide shows" "$log"
fi

cat > "$tmp/guide/numbers.json" << 'EOF'
{
  "sutra": 1,
  "stages": {
    "count": { "plugin": "numbers", "params": { "count": 4 } },
    "up": { "plugin": "uppercase", "input": "count" },
    "write": { "plugin": "jsonl-sink", "input": "up", "params": { "path": "${output}" } }
  }
}
EOF
printf '%s\n' '{"id":"n:1","text":"1"}' '{"id":"n:2","text":"2"}' '{"id":"n:3","text":"3"}' \
  '{"id":"n:4","text":"4"}' > "$tmp/guide/numbers-expected.jsonl"
step "sutra run: the guide's source feeds the guide's map" \
  "$sutra_bin" run numbers.json --quiet -P numbers.so -P uppercase.so --set output=numbers.jsonl
step "the source pushed 1 to count" diff -u numbers-expected.jsonl numbers.jsonl

# The guide's streaming gather, fed by text-split, as the guide shows.
cat > "$tmp/guide/sizes.json" << 'EOF'
{
  "sutra": 1,
  "stages": {
    "read": { "plugin": "text-source", "params": { "path": "${input}" } },
    "words": { "plugin": "text-split", "input": "read", "params": { "separator": " " } },
    "count": { "plugin": "sizes", "input": "words" },
    "write": { "plugin": "jsonl-sink", "input": "count", "params": { "path": "${output}" } }
  }
}
EOF
printf 'hello big world\none\n' > "$tmp/guide/words.txt"
printf '%s\n' '{"id":"words:1","text":"3 children, 13 bytes"}' \
  '{"id":"words:2","text":"1 children, 3 bytes"}' > "$tmp/guide/sizes-expected.jsonl"
step "sutra run: the guide's streaming gather" \
  "$sutra_bin" run sizes.json --quiet -P sizes.so --set input=words.txt --set output=sizes.jsonl
step "the gather counted each line's words and bytes" diff -u sizes-expected.jsonl sizes.jsonl

# The guide's meson.build, when meson is there.
if command -v meson > /dev/null && command -v ninja > /dev/null; then
  mkdir -p "$tmp/meson"
  cp "$tmp/guide/meson.build" "$tmp/guide/uppercase.c" "$tmp/meson/"
  log="$tmp/logs/meson.log"
  if (cd "$tmp/meson" && meson setup build && meson compile -C build) > "$log" 2>&1 \
    && [ -f "$tmp/meson/build/uppercase.so" ]; then
    tap_ok "meson: the guide's meson.build builds uppercase.so with its warnings as errors"
  else
    fail "meson: the guide's meson.build builds uppercase.so with its warnings as errors" "$log"
  fi
else
  tap_skip "meson: the guide's meson.build" "meson or ninja is not installed"
fi

finish
