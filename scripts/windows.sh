#!/usr/bin/env bash
# `make windows`: cross-build weft for x86_64 Windows with Debian's mingw-w64, and (with
# "test") run the Windows tests under Debian's wine64.
#
#   scripts/windows.sh [build|test]      (BUILD_WIN=build-win by default)
#
# Third-party code for the target is built from Debian's source packages into
# $BUILD_WIN/_deps/prefix, once (a second run finds the stamp files and skips it):
#   - OpenSSL libcrypto: `apt-get source --download-only openssl` (a deb-src entry is added by
#     deps-windows.sh), the upstream orig tarball, `Configure mingw64 no-shared no-tests`, and
#     only the libcrypto.a target (no libssl, no apps, no docs);
#   - libgpg-error and libgcrypt (the ChaCha20-Poly1305 provider, as on Linux):
#     `apt-get source --download-only libgpg-error libgcrypt20`, the upstream orig tarballs,
#     `configure --host=x86_64-w64-mingw32 --enable-static --disable-shared`, and only the
#     library directories (no tests, docs or tools);
#   - cmocka: `apt-get source --download-only cmocka`, its one source file compiled with the
#     cross compiler (its CMake build would need a CMake toolchain file for one .c file).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-build}
build=${BUILD_WIN:-build-win}
deps=$build/_deps
prefix=$root/$deps/prefix
host=x86_64-w64-mingw32
jobs=${JOBS:-2}

scripts/deps-windows.sh

mkdir -p "$deps/src" "$prefix/lib/pkgconfig" "$prefix/include"

# Fetches the orig tarball of Debian source package $1 into $deps/src; prints its path.
fetch_source() {
	local pkg=$1 f
	f=$(ls "$deps/src/${pkg}_"*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n1 || true)
	if [ -z "$f" ]; then
		# The Debian-revision files (.dsc, .debian.tar) may be missing on a mirror; only the
		# upstream tarball is used, so a partial download is fine if that one arrived.
		(cd "$deps/src" && apt-get source --download-only -qq "$pkg" >/dev/null 2>&1) || true
		f=$(ls "$deps/src/${pkg}_"*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n1 || true)
	fi
	if [ -z "$f" ]; then
		echo "windows: could not fetch Debian's $pkg source (apt-get source --download-only $pkg)" >&2
		return 1
	fi
	echo "$f"
}

build_openssl() {
	[ -f "$prefix/lib/libcrypto.a" ] && [ -f "$deps/openssl.stamp" ] && return 0
	local tarball dir start
	start=$(date +%s)
	tarball=$(fetch_source openssl)
	rm -rf "$deps/openssl"
	mkdir -p "$deps/openssl"
	tar -xf "$tarball" -C "$deps/openssl" --strip-components=1
	dir=$deps/openssl
	echo "windows: building OpenSSL libcrypto for $host from $(basename "$tarball")"
	(cd "$dir" && ./Configure mingw64 --cross-compile-prefix=$host- --prefix="$prefix" \
		--libdir=lib no-shared no-tests no-dso no-engine no-module no-legacy \
		no-ui-console no-autoload-config >../openssl-configure.log 2>&1)
	(cd "$dir" && make -j"$jobs" build_generated >../openssl-build.log 2>&1 &&
		make -j"$jobs" libcrypto.a >>../openssl-build.log 2>&1) || {
		tail -n 30 "$deps/openssl-build.log" >&2
		return 1
	}
	rm -rf "$prefix/include/openssl"
	cp -r "$dir/include/openssl" "$prefix/include/"
	cp "$dir/libcrypto.a" "$prefix/lib/"
	local ex_libs version
	ex_libs=$(sed -n "s/^CNF_EX_LIBS=//p" "$dir/Makefile")
	version=$(sed -n 's/^VERSION=//p' "$dir/Makefile")
	cat >"$prefix/lib/pkgconfig/libcrypto.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: OpenSSL-libcrypto
Description: OpenSSL cryptography library (static, mingw64, built by scripts/windows.sh)
Version: $version
Libs: -L\${libdir} -lcrypto $ex_libs
Cflags: -I\${includedir}
PC
	echo "windows: OpenSSL libcrypto built in $(($(date +%s) - start)) s" | tee "$deps/openssl.stamp"
}

# libgpg-error, which libgcrypt needs: the library, its header, gpg-error.pc.
build_gpg_error() {
	[ -f "$prefix/lib/libgpg-error.a" ] && [ -f "$deps/gpg-error.stamp" ] && return 0
	local tarball dir start
	start=$(date +%s)
	tarball=$(fetch_source libgpg-error)
	rm -rf "$deps/gpg-error"
	mkdir -p "$deps/gpg-error"
	tar -xf "$tarball" -C "$deps/gpg-error" --strip-components=1
	dir=$deps/gpg-error
	echo "windows: building libgpg-error for $host from $(basename "$tarball")"
	(cd "$dir" && ./configure --host=$host CC=$host-gcc-posix --prefix="$prefix" \
		--enable-static --disable-shared --disable-nls --disable-doc --disable-tests \
		--disable-languages >../gpg-error-configure.log 2>&1 &&
		make -j"$jobs" -C src >../gpg-error-build.log 2>&1 &&
		make -C src install >>../gpg-error-build.log 2>&1) || {
		tail -n 30 "$deps/gpg-error-configure.log" "$deps/gpg-error-build.log" >&2
		return 1
	}
	# libgcrypt's configure runs gpg-error-config, which 1.46 no longer installs: a stand-in
	# over the gpgrt-config it does install.
	cat >"$prefix/bin/gpg-error-config" <<SH
#!/bin/sh
case "\$1" in --version) exec "$prefix/bin/gpgrt-config" --libdir="$prefix/lib" gpg-error --modversion ;; esac
exec "$prefix/bin/gpgrt-config" --libdir="$prefix/lib" gpg-error "\$@"
SH
	chmod +x "$prefix/bin/gpg-error-config"
	echo "windows: libgpg-error built in $(($(date +%s) - start)) s" | tee "$deps/gpg-error.stamp"
}

# libgcrypt: its assembly (AVX2/AVX-512 ChaCha20 and Poly1305) has Win64-ABI entry points,
# which configure enables for mingw-w64. Only compat, mpi, cipher, random and src are built.
build_gcrypt() {
	[ -f "$prefix/lib/libgcrypt.a" ] && [ -f "$deps/gcrypt.stamp" ] && return 0
	local tarball dir start d
	start=$(date +%s)
	tarball=$(fetch_source libgcrypt20)
	rm -rf "$deps/gcrypt"
	mkdir -p "$deps/gcrypt"
	tar -xf "$tarball" -C "$deps/gcrypt" --strip-components=1
	dir=$deps/gcrypt
	echo "windows: building libgcrypt for $host from $(basename "$tarball")"
	(cd "$dir" && ./configure --host=$host CC=$host-gcc-posix --prefix="$prefix" \
		--enable-static --disable-shared --disable-doc --disable-jent-support \
		--with-libgpg-error-prefix="$prefix" >../gcrypt-configure.log 2>&1) || {
		tail -n 30 "$deps/gcrypt-configure.log" >&2
		return 1
	}
	for d in compat mpi cipher random src; do
		make -j"$jobs" -C "$dir/$d" >>"$deps/gcrypt-build.log" 2>&1 || {
			tail -n 30 "$deps/gcrypt-build.log" >&2
			return 1
		}
	done
	make -C "$dir/src" install >>"$deps/gcrypt-build.log" 2>&1
	echo "windows: libgcrypt built in $(($(date +%s) - start)) s" | tee "$deps/gcrypt.stamp"
}

build_cmocka() {
	[ -f "$prefix/lib/libcmocka.a" ] && [ -f "$deps/cmocka.stamp" ] && return 0
	local tarball dir version
	tarball=$(fetch_source cmocka)
	rm -rf "$deps/cmocka"
	mkdir -p "$deps/cmocka"
	tar -xf "$tarball" -C "$deps/cmocka" --strip-components=1
	dir=$deps/cmocka
	version=$(basename "$tarball" | sed -n 's/^cmocka_\([0-9.]*\)\.orig.*/\1/p')
	# The few feature macros CMake would have found for mingw-w64.
	cat >"$dir/config.h" <<'H'
#define HAVE_ASSERT_H 1
#define HAVE_INTTYPES_H 1
#define HAVE_MALLOC_H 1
#define HAVE_SETJMP_H 1
#define HAVE_SIGNAL_H 1
#define HAVE_STDARG_H 1
#define HAVE_STDDEF_H 1
#define HAVE_STDINT_H 1
#define HAVE_STDIO_H 1
#define HAVE_STRING_H 1
#define HAVE_STRINGS_H 1
#define HAVE_TIME_H 1
#define HAVE_CLOCK_GETTIME 1
#define HAVE_GCC_THREAD_LOCAL_STORAGE 1
#define HAVE_SNPRINTF 1
#define HAVE_VSNPRINTF 1
#define HAVE_CLOCK_REALTIME 1
H
	# C99 printf (%zu) at run time, and a header whose format checks say so (gnu_printf).
	$host-gcc-posix -O2 -std=gnu99 -D__USE_MINGW_ANSI_STDIO=1 -DHAVE_CONFIG_H -I"$dir" \
		-I"$dir/include" -c "$dir/src/cmocka.c" -o "$dir/cmocka.o"
	rm -f "$prefix/lib/libcmocka.a"
	$host-ar rcs "$prefix/lib/libcmocka.a" "$dir/cmocka.o"
	sed 's/__format__ (__printf__/__format__ (__gnu_printf__/' "$dir/include/cmocka.h" \
		>"$prefix/include/cmocka.h"
	cat >"$prefix/lib/pkgconfig/cmocka.pc" <<PC
prefix=$prefix
Name: cmocka
Description: cmocka unit testing (static, mingw64, built by scripts/windows.sh)
Version: ${version:-1.1}
Libs: -L\${prefix}/lib -lcmocka
Cflags: -I\${prefix}/include
PC
	touch "$deps/cmocka.stamp"
}

build_openssl
build_gpg_error
build_gcrypt
build_cmocka

if [ ! -f "$build/build.ninja" ]; then
	cat >"$deps/paths.txt" <<EOF2
[properties]
pkg_config_libdir = ['$prefix/lib/pkgconfig']
EOF2
	meson setup "$build" --cross-file cross/x86_64-w64-mingw32.txt --cross-file "$deps/paths.txt" \
		-Dwerror=true
fi
ninja -C "$build" -j"$jobs"

if [ "$mode" = test ]; then
	export WINEDEBUG=${WINEDEBUG:--all}
	export WINEPREFIX=${WINEPREFIX:-$root/$build/_wineprefix}
	# The first wine start creates the prefix (~30 s); do it outside the tests' timeouts.
	[ -d "$WINEPREFIX" ] || wineboot -i >/dev/null 2>&1 || true
	meson test -C "$build" --print-errorlogs --num-processes 1
fi
