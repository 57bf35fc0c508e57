#!/usr/bin/env bash
# A local stand-in for python:3.12-slim, for machines that reach no container registry (only the Debian and
# PyPI mirrors): Debian bookworm plus this host's Python 3.12 (the Lambda runtime's version), imported as an image.
# `mlops image build` runs it; training/Dockerfile builds on it with --build-arg BASE=<tag>.
# Usage: training/local-base.sh [--rebuild] [TAG]   (root; needs debootstrap, podman; TAG: the default below)
# An existing TAG is reused (a cache) unless --rebuild. PYTHON312 picks the interpreter to copy.
set -euo pipefail

rebuild=false
if [[ ${1:-} == --rebuild ]]; then rebuild=true; shift; fi
tag=${1:-localhost/mlops-python:3.12-bookworm}

if ! $rebuild && podman image exists "$tag"; then
  echo "local base: $tag (cached; --rebuild builds it again)"
  exit 0
fi

# The Debian mirror apt uses here (deb822 sources first, then the one-line format): the only one reachable.
sources=/etc/apt/sources.list.d/debian.sources
if [[ -f $sources ]]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' "$sources")
else
  mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm/ {print $2; exit}' /etc/apt/sources.list)
fi
[[ -n $mirror ]] || { echo "no Debian mirror found in $sources or /etc/apt/sources.list" >&2; exit 1; }

# A standalone 3.12 build (pyenv's): its RUNPATH names its own prefix, so it must keep that path in the image.
python=${PYTHON312:-$(ls -d "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -1)}
prefix=$("$python" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.base_prefix)') \
  || { echo "no Python 3.12 found: install it (pyenv install 3.12) or set PYTHON312" >&2; exit 1; }
[[ $prefix != /usr ]] || { echo "$python is the system's Python; copy a standalone build (pyenv's)" >&2; exit 1; }

rootfs=$(mktemp -d /var/tmp/mlops-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
started=$SECONDS

# minbase: apt and dpkg only. The libraries the copied Python's extension modules link (ssl, ctypes, sqlite3,
# bz2, lzma, readline, curses, zlib, pyexpat, uuid), and ca-certificates for HTTPS.
libs=libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,zlib1g,libexpat1,libuuid1
debootstrap --variant=minbase --include="ca-certificates,$libs" bookworm "$rootfs" "$mirror"
# The downloaded packages and indexes are not needed at run time (python:3.12-slim drops them too).
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/*

# This host's extra CAs: HTTPS leaves through a TLS-inspecting proxy, and pip in the build must trust it.
cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$rootfs" update-ca-certificates

# The interpreter at its own path. Not copied: the test suite (127 MB), the static libpython (linking only),
# and site-packages (the host's own additions); ensurepip then installs pip from the wheel Python bundles.
tar -C / -c --exclude="${prefix#/}/lib/python3.12/test" --exclude="${prefix#/}/lib/python3.12/site-packages/*" \
  --exclude="${prefix#/}/lib/python3.12/config-3.12-*/libpython3.12.a" --exclude="${prefix#/}/bin/pip*" \
  "${prefix#/}" | tar -C "$rootfs" -x
chroot "$rootfs" "$prefix/bin/python3.12" -m ensurepip --default-pip
# A debootstrap /root is 700: the training image runs as uid 10001, which must pass through /root to reach the
# interpreter. Search only (go+x, so /root stays unlistable); group too, as `--user 10001` without a passwd
# entry runs with gid 0, and root's group bits, not the others', then apply.
dir=$prefix
while [[ $dir != / ]]; do chmod go+x "$rootfs$dir"; dir=$(dirname "$dir"); done
# python, python3 and pip where python:3.12-slim has them.
for name in python python3 python3.12 pip pip3; do ln -sf "$prefix/bin/$name" "$rootfs/usr/local/bin/$name"; done

# pip uses its own CA bundle unless told otherwise; the system one has the host's CAs. PATH keeps the
# interpreter's bin/ too, where pip puts console scripts.
tar -C "$rootfs" -c . | podman import \
  --change "ENV PATH=/usr/local/bin:$prefix/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV LANG=C.UTF-8" \
  --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
  --change 'CMD ["python3"]' \
  - "$tag" >/dev/null
echo "local base: $tag built in $((SECONDS - started)) s ($(podman image inspect --format '{{.Size}}' "$tag") bytes)"
