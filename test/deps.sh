#!/bin/sh
# What the test suite runs besides runsc-ts itself, checked before `npm test` (its pretest):
# a static busybox (the OCI tests' root filesystem), python3, procps (free) and util-linux
# (setpriv), runc (the tests compare runc's behaviour where it is the contract), and FUSE (the
# virtual /proc files). Missing Debian packages are installed, and
# named first; where they cannot be (not root, no apt-get), the tests do not start and the
# message says what to install.
set -eu

need=""
[ -x /usr/bin/python3 ] || need="$need python3"
command -v free >/dev/null 2>&1 || need="$need procps"
command -v setpriv >/dev/null 2>&1 || need="$need util-linux"
command -v runc >/dev/null 2>&1 || need="$need runc"
# The tests copy /bin/busybox into a root filesystem of its own: it must be the static one.
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then need="$need busybox-static"; fi

if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "runsc-ts tests: missing Debian packages:$need (install them as root: apt-get install$need)" >&2
    exit 1
  fi
  echo "runsc-ts tests: installing Debian packages:$need"
  export DEBIAN_FRONTEND=noninteractive
  # The package lists of a fresh machine may be empty or stale.
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# FUSE is a module on some kernels; loading it is all that may be missing.
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
  if [ ! -e /dev/fuse ]; then
    echo "runsc-ts tests: /dev/fuse is missing (the virtual /proc files need FUSE: modprobe fuse)" >&2
    exit 1
  fi
fi
