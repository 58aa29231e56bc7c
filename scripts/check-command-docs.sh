#!/usr/bin/env bash
# docs/commands.md (between <!-- commands --> and <!-- commandsstop -->) is generated from the
# commands by oclif's readme generator. `bash scripts/check-command-docs.sh` fails (exit 1, with
# the diff) when it is stale; `--write` regenerates it. Needs `npm run build` first (oclif reads
# the built commands and oclif.manifest.json).
set -euo pipefail
cd "$(dirname "$0")/.."
doc=docs/commands.md
grep -q '^<!-- commands -->$' "$doc" || { echo "check-command-docs: $doc has no <!-- commands --> marker" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$doc" "$work/commands.md"
# A fixed width, so that the wrapping of help text is the same on every terminal and in CI.
COLUMNS=100 OCLIF_SKIP_NEW_VERSION_CHECK=true npx --no-install oclif readme --readme-path "$work/commands.md" \
	--no-source-links --no-aliases >/dev/null
if [ "${1:-}" = --write ]; then
	cp "$work/commands.md" "$doc"
	echo "check-command-docs: $doc regenerated"
elif ! diff -u "$doc" "$work/commands.md"; then
	echo "check-command-docs: $doc is stale: run npm run docs:commands and commit it" >&2
	exit 1
fi
