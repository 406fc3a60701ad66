#!/usr/bin/env bash
# Installs what the Windows cross-build and its Wine tests need, if missing (Debian 12, root):
# the mingw-w64 toolchain (posix thread model: winpthreads), wine64, osslsigncode (a test
# signs a stand-in wintun.dll with a throwaway certificate), and a deb-src entry for
# Debian's archive so `apt-get source --download-only openssl` can fetch OpenSSL's source.
# Called by `make windows` and by the Windows stage of scripts/check.sh.
set -euo pipefail

pkgs=(gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev
      wine wine64 dpkg-dev perl make meson ninja-build python3 xz-utils
      openssl osslsigncode)

srcfile=/etc/apt/sources.list.d/weft-deb-src.sources
need_update=0
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
	! grep -qs '^deb-src' /etc/apt/sources.list; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps-windows: no deb-src entry for Debian's archive; run as root to add one" >&2
		exit 1
	fi
	cat >"$srcfile" <<'SRC'
# Added by weft's scripts/deps-windows.sh: OpenSSL's Debian source for the mingw cross-build.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	need_update=1
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ] && [ $need_update -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps-windows: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing[@]} -ne 0 ]; then
	echo "deps-windows: installing ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
