#!/usr/bin/env bash
# The README's command reference (between <!-- commands --> and <!-- commandsstop -->) is
# generated from the commands by oclif's readme generator. `bash scripts/check-readme.sh` fails
# (exit 1, with the diff) when it is stale; `--write` regenerates it. Needs `npm run build` first
# (oclif reads the built commands and oclif.manifest.json).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -q '^<!-- commands -->$' README.md || { echo 'check-readme: README.md has no <!-- commands --> marker' >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp README.md "$work/README.md"
# A fixed width, so that the wrapping of help text is the same on every terminal and in CI.
COLUMNS=100 OCLIF_SKIP_NEW_VERSION_CHECK=true npx --no-install oclif readme --readme-path "$work/README.md" \
	--no-source-links --no-aliases >/dev/null
if [ "${1:-}" = --write ]; then
	cp "$work/README.md" README.md
	echo 'check-readme: README.md command reference regenerated'
elif ! diff -u README.md "$work/README.md"; then
	echo 'check-readme: the command reference in README.md is stale: run npm run readme and commit README.md' >&2
	exit 1
fi
