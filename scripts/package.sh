#!/usr/bin/env bash
# Builds roster_<version>_<arch>.deb with dpkg-deb (no debhelper): the built CLI (dist/, the
# manifest) with its production npm dependencies and its own Node.js under /usr/lib/roster,
# /usr/bin/roster, the config conffiles, the systemd units, the exporter drop-in example and static
# bash/zsh completions. Run it after `npm ci && npm run build` (`npm run package` does both builds).
#
# Node.js: the package carries the release of the line scripts/node-dist.sh names (24, from the npm
# registry's node-linux-<arch> package) as /usr/lib/roster/bin/node, and depends on no nodejs
# package: it installs alike on Debian 12, whose nodejs is 18, and 13. The native modules
# (better-sqlite3; keytar, optional) are the ones `npm ci` compiled: they must have been built for
# that Node (.ci/run runs npm ci with it first on PATH and npm_config_nodedir at its headers), which
# this script checks by loading them with it. See docs/packaging.md.
#
# Environment: ROSTER_DEB_NODEDIR (an unpacked node-linux-<arch> package to carry instead),
# ROSTER_DEB_OUT (output directory, default dist-deb), ROSTER_DEB_VERSION (the package version,
# default package.json's), ROSTER_DEB_MAINTAINER.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD

for tool in dpkg-deb dpkg-shlibdeps gzip strip; do
	command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 3; }
done
[ -f dist/oclif.js ] && [ -f oclif.manifest.json ] || { echo 'package.sh: dist/ is not built: run npm run build first' >&2; exit 2; }
[ -d node_modules/better-sqlite3 ] || { echo 'package.sh: node_modules is missing: run npm ci first' >&2; exit 2; }

nodedir=${ROSTER_DEB_NODEDIR:-$(bash scripts/node-dist.sh)}
node=$nodedir/bin/node
node_version=$("$node" -p process.versions.node)
"$node" -e 'new (require("better-sqlite3"))(":memory:").close()' 2>/dev/null || {
	echo "package.sh: node_modules/better-sqlite3 was not built for Node.js $node_version (the Node.js the package carries): run npm ci with $nodedir/bin first on PATH and npm_config_nodedir=$nodedir" >&2
	exit 2
}
if [ -d node_modules/keytar ] && ! "$node" -e 'require("keytar")' 2>/dev/null; then
	echo "package.sh: node_modules/keytar was not built for Node.js $node_version: run npm ci as above" >&2
	exit 2
fi
version=${ROSTER_DEB_VERSION:-$(node -p 'require("./package.json").version')}
arch=$(dpkg --print-architecture)
maintainer=${ROSTER_DEB_MAINTAINER:-roster maintainers <maintainers@roster.invalid>}
out=${ROSTER_DEB_OUT:-dist-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
deb="$out/roster_${version}_${arch}.deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
app="$root/usr/lib/roster"
mkdir -p "$app" "$root/DEBIAN"

# The application and its production dependencies: node_modules (built by npm ci on this
# machine, for the Node.js carried), without the dev dependencies; and that Node.js.
cp -a bin dist oclif.manifest.json package.json package-lock.json "$app/"
rm -f "$app/bin/dev.js"
install -m 0755 "$node" "$app/bin/node"
# The production packages as npm resolves them from the lockfile (nested ones come with their
# parent's directory); copying only those is much faster than copying everything and pruning.
npm ls --omit=dev --all --parseable 2>/dev/null | sed -n "s|^$project/node_modules/|node_modules/|p" | LC_ALL=C sort |
	awk 'prev == "" || index($0, prev "/") != 1 { print; prev = $0 }' |
	# cosmiconfig's optional peer, only for TypeScript config files, which roster does not read.
	grep -vx node_modules/typescript >"$work/packages"
grep -qx node_modules/better-sqlite3 "$work/packages" || { echo 'package.sh: npm ls lists no better-sqlite3' >&2; exit 1; }
xargs -d '\n' cp -a --parents -t "$app" <"$work/packages"
rm -f "$app/package-lock.json"
# Build leftovers of the native modules: only build/Release/*.node is loaded.
for mod in "$app"/node_modules/better-sqlite3 "$app"/node_modules/keytar; do
	[ -d "$mod" ] || continue
	rm -rf "$mod/deps" "$mod/src" "$mod/build/deps" "$mod/build/Release/obj" "$mod/build/Release/obj.target" \
		"$mod/build/Release/.deps" "$mod/build/Release/test_extension.node" "$mod/build/Release"/*.a
	find "$mod/build" -maxdepth 1 -type f -delete
done
find "$app/node_modules" -name '.bin' -type d -prune -exec rm -rf {} +
# Type declarations and source maps: never loaded at run time.
find "$app/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
find "$app/node_modules" \( -name '*.md' -o -name '*.markdown' -o -name '*.sh' -o -name '.npmignore' -o -name '.eslintrc*' \
	-o -name '.travis.yml' -o -name '.gitattributes' -o -name '.gitignore' -o -name '.gitmodules' \) -type f -delete
# Prebuilt binaries for other systems (the bare-* modules carry Android and arm ones for the Bare
# runtime): only this machine's platform stays.
node_platform=linux-$("$node" -p process.arch)
find "$app/node_modules" -type d -name prebuilds -prune -print | while read -r dir; do
	find "$dir" -mindepth 1 -maxdepth 1 ! -name "$node_platform" -exec rm -rf {} +
done
# Native code: stripped, and not executable (a shared object is loaded, never run). Node.js too
# (its dynamic symbols, which native modules link against, stay).
find "$app/node_modules" -type f \( -name '*.node' -o -name '*.bare' \) -exec strip --strip-unneeded {} + -exec chmod 0644 {} +
strip --strip-unneeded "$app/bin/node"
[ -f "$app/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ] || { echo 'package.sh: better-sqlite3 is not built' >&2; exit 1; }

# /usr/bin/roster: the Node.js the package carries, whatever else is installed or first on PATH.
install -D -m 0755 /dev/stdin "$root/usr/bin/roster" <<'SH'
#!/bin/sh
exec /usr/lib/roster/bin/node /usr/lib/roster/bin/run.js "$@"
SH

# Configuration (conffiles), units, the drop-in example, completions, docs.
install -d -m 0755 "$root/etc/roster" "$root/etc/default"
node scripts/package-config.mjs oclif.manifest.json >"$root/etc/roster/config.yaml"
install -m 0600 packaging/deb/default-roster-serve "$root/etc/default/roster-serve"
install -m 0600 packaging/deb/default-roster-dns-sync "$root/etc/default/roster-dns-sync"
install -d -m 0755 "$root/lib/systemd/system"
install -m 0644 packaging/deb/roster-serve.service packaging/deb/roster-dns-sync.service packaging/deb/roster-dns-sync.timer \
	"$root/lib/systemd/system/"
install -D -m 0644 packaging/deb/roster-register.conf "$root/usr/share/doc/roster/examples/roster-register.conf"
install -d -m 0755 "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions"
node scripts/package-completions.mjs bash >"$root/usr/share/bash-completion/completions/roster"
node scripts/package-completions.mjs zsh >"$root/usr/share/zsh/vendor-completions/_roster"
[ -f docs/packaging.md ] && install -m 0644 docs/packaging.md "$root/usr/share/doc/roster/packaging.md"
gzip -9n <"$nodedir/LICENSE" >"$root/usr/share/doc/roster/node-LICENSE.gz"
install -D -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/roster"
license=$(node -p 'require("./package.json").license ?? ""')
if [ -n "$license" ]; then
	sed "s|@LICENSE@|$license|" packaging/deb/copyright >"$root/usr/share/doc/roster/copyright"
else
	sed "s|@LICENSE@|other\n No license is stated: package.json has no \"license\" field.|" packaging/deb/copyright \
		>"$root/usr/share/doc/roster/copyright"
fi
{
	echo "roster ($version) unstable; urgency=medium"
	echo
	echo "  * Package of roster $version, with Node.js $node_version."
	echo
	echo " -- $maintainer  $(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$root/usr/share/doc/roster/changelog.gz"

# Modes: directories 0755, files 0644 unless executable; owner root (dpkg-deb --root-owner-group).
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f ! -path "$root/etc/default/*" -exec chmod go-w,a+r {} +
# An executable bit on Node.js alone: /usr/bin/roster runs bin/run.js with it. The scripts npm
# packages carry (#!/usr/bin/env node: their own command lines, and bin/run.js for npm) are never
# run here, and would ask for a nodejs on PATH that the package does not depend on.
find "$root/usr/lib/roster" -type f -perm /111 ! -path "$app/bin/node" -exec chmod 0644 {} +
chmod 0755 "$app/bin/node"

# Control: shared-library dependencies of Node.js and better-sqlite3 (keytar's libsecret is a
# Recommends: keytar is optional and roster works without it, except for keychain: secrets).
mkdir -p "$work/shlib/debian"
printf 'Source: roster\n\nPackage: roster\nArchitecture: any\n' >"$work/shlib/debian/control"
shlibs=$(cd "$work/shlib" && dpkg-shlibdeps -O --warnings=0 -e"$app/bin/node" -e"$app/node_modules/better-sqlite3/build/Release/better_sqlite3.node" |
	sed -n 's/^shlibs:Depends=//p')
depends="adduser, $shlibs"
recommends="libsecret-1-0"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
	-e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@DEPENDS@|$depends|" -e "s|@RECOMMENDS@|$recommends|" \
	-e "s|@NODE_VERSION@|$node_version|" -e '/^Homepage: @HOMEPAGE@$/d' \
	packaging/deb/control.in >"$root/DEBIAN/control"
install -m 0644 packaging/deb/conffiles "$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
	>"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
