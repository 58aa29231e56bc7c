#!/usr/bin/env bash
# Installs the Debian packages roster's build and tests need: the real servers the integration
# tests start (etcd, PowerDNS with its SQLite backend, BIND and dig), the headers keytar builds
# against, chromium for the console's browser tests, kubectl when the machine has none, and
# podman with buildah for the image (with the containers.conf drop-in these machines need).
# Run as root (or with sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  etcd-server etcd-client   # the etcd registry backend's tests (etcdctl enables auth)
  pdns-server pdns-backend-sqlite3   # the pdns provider's tests
  bind9 bind9-utils bind9-dnsutils   # the rfc2136 provider's tests: named, named-checkzone, dig
  prometheus             # node-status: promtool checks the exposition, a real server scrapes --serve
  prometheus-node-exporter   # serve and sd export: a real exporter registered and scraped end to end
  prometheus-blackbox-exporter   # the docs' blackbox scrape configs: a real probe through it
  libsecret-1-dev        # keytar is built from source here
  gnome-keyring dbus dbus-user-session   # a Secret Service for the keychain tests
  sqlite3 openssl ca-certificates
  lintian bash-completion zsh util-linux   # the .deb's checks, the completion tests in real shells, script(1)
  dpkg-dev adduser systemd   # npm run package (dpkg-deb, dpkg-shlibdeps), its maintainer scripts, systemd-analyze verify
  podman runc buildah skopeo binutils   # npm run image (buildah, readelf, strip) and the image tests (podman, skopeo)
  chromium               # the web console's browser tests (playwright-core drives it; no browser is downloaded)
)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# The kubectl package (1.32) owns /usr/bin/kubectl on these machines; Debian's kubernetes-client
# conflicts with it, so install that only where there is no kubectl at all.
if ! command -v kubectl >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi
# Debian starts packaged daemons on install where it can; the tests start their own on free
# loopback ports, so stop any that came up (no-op in containers without an init system).
for svc in named bind9 pdns etcd prometheus prometheus-blackbox-exporter; do
  (command -v systemctl >/dev/null 2>&1 && systemctl stop "$svc" 2>/dev/null) || true
done
# podman on these machines: runc (crun is refused here) and no default ulimits (setting them is
# refused too). A drop-in, so that the packaged containers.conf stays as Debian ships it.
install -d -m 0755 /etc/containers/containers.conf.d
cat >/etc/containers/containers.conf.d/50-roster-tests.conf <<'CONF'
# Written by roster's scripts/install-test-servers.sh: what podman needs on the test machines.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
for bin in podman runc buildah skopeo readelf etcd prometheus-node-exporter prometheus-blackbox-exporter pdns_server named named-checkzone dig kubectl sqlite3 openssl prometheus promtool gnome-keyring-daemon dbus-run-session lintian zsh dpkg-deb dpkg-shlibdeps systemd-analyze chromium; do
  command -v "$bin" >/dev/null || { echo "missing after install: $bin" >&2; exit 1; }
done
echo "test servers installed: $(etcd --version | head -1); $(pdns_server --version 2>&1 | grep -o 'Authoritative Server [0-9.]*'); $(named -v)"
