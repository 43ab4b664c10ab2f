#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# libsutra exports its public API and nothing else: the functions that
# include/sutra/ declares SUTRA_API, exactly. An internal function that
# leaked out would become ABI that plugins could start to depend on; a
# public one left out would fail to link. Speaks TAP.
#
# usage: test-exports.sh SOURCE_ROOT BUILD_ROOT

set -uo pipefail

src=${1:?usage: test-exports.sh SOURCE_ROOT BUILD_ROOT}
build=${2:?usage: test-exports.sh SOURCE_ROOT BUILD_ROOT}
lib="$build/engine/libsutra.so"

if ! command -v nm > /dev/null; then
  echo "1..0 # SKIP nm is not installed"
  exit 0
fi

n=0
status=0
check () {
  n=$((n + 1))
  if [ -z "$2" ]; then
    echo "ok $n - $1"
  else
    echo "not ok $n - $1"
    printf '%s\n' "$2" | sed 's/^/# /'
    status=1
  fi
}

# Every function the public headers declare: a line that opens a
# declaration of sutra_NAME (, the entry point of a plugin aside.
declared=$(grep -hoE '^(SUTRA_API )?[A-Za-z].*[ *]sutra_[a-z0-9_]+ \(' "$src"/include/sutra/*.h \
  | grep -v 'sutra_plugin_get_info' | sort -u)
unmarked=$(printf '%s\n' "$declared" | grep -v '^SUTRA_API ' || true)
check "every function include/sutra/ declares is marked SUTRA_API" "$unmarked"

api=$(printf '%s\n' "$declared" | grep -oE 'sutra_[a-z0-9_]+ \($' | sed 's/ ($//' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ { print $3 }' \
  | grep -vE '^_(init|fini)$' | sort -u)

check "libsutra exports no symbol the public headers do not declare" \
  "$(comm -13 <(printf '%s\n' "$api") <(printf '%s\n' "$exported"))"
check "libsutra exports every function the public headers declare" \
  "$(comm -23 <(printf '%s\n' "$api") <(printf '%s\n' "$exported"))"
echo "# $(printf '%s\n' "$exported" | grep -c .) symbols exported"
echo "1..$n"
exit $status
