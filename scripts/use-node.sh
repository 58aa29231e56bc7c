# Sourced, not run: puts Node.js 24, the line roster carries in its .deb and image and runs its
# whole test suite on, first on PATH for this shell, and points npm's native builds
# (better-sqlite3, keytar) at its headers, so that nothing is downloaded from nodejs.org.
# The Node.js comes from the npm registry (scripts/node-dist.sh), whatever Node.js the machine has.
#
#   source scripts/use-node.sh && npm ci && npm test
# shellcheck shell=bash
roster_nodedir=$(bash "$(dirname "${BASH_SOURCE[0]}")/node-dist.sh") || return
export PATH="$roster_nodedir/bin:$PATH" npm_config_nodedir="$roster_nodedir"
unset roster_nodedir
