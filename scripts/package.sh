#!/usr/bin/env bash
# Builds roster_<version>_<arch>.deb with dpkg-deb (no debhelper): the built CLI (dist/, the
# manifest) with its production npm dependencies under /usr/lib/roster, /usr/bin/roster, the
# config conffiles, the systemd units, the exporter drop-in example and static bash/zsh
# completions. Run it after `npm ci && npm run build` (`npm run package` does both builds).
#
# The native modules (better-sqlite3; keytar, optional) are the ones `npm ci` compiled for the
# Node.js that runs this script: the package depends on that major version of nodejs (one major
# is one module ABI), so it is built once per Node.js major. See docs/packaging.md.
#
# Environment: ROSTER_DEB_OUT (output directory, default dist-deb), ROSTER_DEB_VERSION (the
# package version, default package.json's), ROSTER_DEB_MAINTAINER.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD

for tool in dpkg-deb dpkg-shlibdeps gzip strip; do
	command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 3; }
done
[ -f dist/oclif.js ] && [ -f oclif.manifest.json ] || { echo 'package.sh: dist/ is not built: run npm run build first' >&2; exit 2; }
[ -d node_modules/better-sqlite3 ] || { echo 'package.sh: node_modules is missing: run npm ci first' >&2; exit 2; }

version=${ROSTER_DEB_VERSION:-$(node -p 'require("./package.json").version')}
arch=$(dpkg --print-architecture)
node_major=$(node -p 'process.versions.node.split(".")[0]')
node_abi=$(node -p 'process.versions.modules')
# package.json's engines says >=20.19; the modules need the major they were compiled for.
min_node=$(node -p 'const m = /(\d+)\.(\d+)/.exec(require("./package.json").engines.node); m && Number(m[1]) === Number(process.versions.node.split(".")[0]) ? `${m[1]}.${m[2]}` : process.versions.node.split(".")[0]')
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
# machine, for this Node.js), without the dev dependencies.
cp -a bin dist oclif.manifest.json package.json package-lock.json "$app/"
rm -f "$app/bin/dev.js"
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
node_platform=linux-$(node -p process.arch)
find "$app/node_modules" -type d -name prebuilds -prune -print | while read -r dir; do
	find "$dir" -mindepth 1 -maxdepth 1 ! -name "$node_platform" -exec rm -rf {} +
done
# Native code: stripped, and not executable (a shared object is loaded, never run).
find "$app/node_modules" -type f \( -name '*.node' -o -name '*.bare' \) -exec strip --strip-unneeded {} + -exec chmod 0644 {} +
[ -f "$app/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ] || { echo 'package.sh: better-sqlite3 is not built' >&2; exit 1; }

# /usr/bin/roster: the Node.js the package depends on, whatever else is first on PATH (nvm).
install -D -m 0755 /dev/stdin "$root/usr/bin/roster" <<'SH'
#!/bin/sh
exec /usr/bin/node /usr/lib/roster/bin/run.js "$@"
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
	echo "  * Package of roster $version, built for Node.js $node_major (module ABI $node_abi)."
	echo
	echo " -- $maintainer  $(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$root/usr/share/doc/roster/changelog.gz"

# Modes: directories 0755, files 0644 unless executable; owner root (dpkg-deb --root-owner-group).
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f ! -path "$root/etc/default/*" -exec chmod go-w,a+r {} +
# An executable bit only on scripts (npm packages set it on plain modules too).
find "$root/usr/lib/roster" -type f -perm -u+x -print0 | while IFS= read -r -d '' file; do
	if [ "$(head -c 2 "$file")" = '#!' ]; then chmod 0755 "$file"; else chmod 0644 "$file"; fi
done

# Control: shared-library dependencies of better-sqlite3 (keytar's libsecret is a Recommends:
# keytar is optional and roster works without it, except for keychain: secrets).
mkdir -p "$work/shlib/debian"
printf 'Source: roster\n\nPackage: roster\nArchitecture: any\n' >"$work/shlib/debian/control"
shlibs=$(cd "$work/shlib" && dpkg-shlibdeps -O --warnings=0 -e"$app/node_modules/better-sqlite3/build/Release/better_sqlite3.node" |
	sed -n 's/^shlibs:Depends=//p')
depends="nodejs (>= $min_node), nodejs (<< $((node_major + 1))), adduser, $shlibs"
recommends="libsecret-1-0"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
	-e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@DEPENDS@|$depends|" -e "s|@RECOMMENDS@|$recommends|" \
	-e "s|@NODE_MAJOR@|$node_major|" -e "s|@NODE_ABI@|$node_abi|" -e '/^Homepage: @HOMEPAGE@$/d' \
	packaging/deb/control.in >"$root/DEBIAN/control"
install -m 0644 packaging/deb/conffiles "$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
	>"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
