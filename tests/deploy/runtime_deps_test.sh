#!/usr/bin/env bash
# The container's runtime package list must cover every shared library the release binary loads.
set -euo pipefail
bin=${1:?usage: runtime_deps_test.sh KEYWARD_RELEASE_BIN PACKAGES_FILE}
list=${2:?}
[ -x "$bin" ] || { echo "FAIL: release binary $bin missing (scripts/build-release.sh builds it)"; exit 1; }
mapfile -t wanted < <(grep -v '^#' "$list" | sed '/^$/d')
missing=0
while read -r lib; do
  # usrmerge: dpkg may know the library under /lib rather than /usr/lib.
  pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null) || true
  pkg=$(head -1 <<<"$pkg" | cut -d: -f1)
  [ -n "$pkg" ] || { echo "FAIL: no Debian package owns $lib"; missing=1; continue; }
  case "$pkg" in libc6|libgcc-s1|libstdc++6) continue ;; esac  # in every Debian base image
  printf '%s\n' "${wanted[@]}" | grep -qx "$pkg" || { echo "FAIL: $lib ($pkg) not in $list"; missing=1; }
done < <(ldd "$bin" | awk '/=> \//{print $3}' | xargs -n1 readlink -f)
[ $missing -eq 0 ] && echo "runtime packages cover every library of $bin"
exit $missing
