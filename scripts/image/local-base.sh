#!/bin/sh
# Makes a local stand-in for the Dockerfile's base image, tagged exactly docker.io/library/node:24-slim,
# on a machine that reaches package registries but no container registry (`podman pull` fails).
# Debian bookworm (debootstrap --variant=minbase, from the Debian mirror) + the project's own Node 24
# binary (node_modules/node, the `node` dev dependency) as /usr/local/bin/node + npm from the npm
# registry in /usr/local/lib/node_modules/npm (npm, npx in /usr/local/bin) + a `node` user
# (uid/gid 1000, home /home/node), as the official image has. Idempotent: does nothing when the tag
# exists (FORCE=1 rebuilds). Run as root; needs podman and debootstrap (apt-get install -y debootstrap).
#   sh scripts/image/local-base.sh
# Environment: NPM_VERSION (default: the npm of the PATH, else 11.19.1), ROOTFS (working directory,
# default /var/tmp/node-base-rootfs), MIRROR (default http://deb.debian.org/debian).
set -eu

tag=docker.io/library/node:24-slim
root=$(cd "$(dirname "$0")/../.." && pwd)
rootfs=${ROOTFS:-/var/tmp/node-base-rootfs}
mirror=${MIRROR:-http://deb.debian.org/debian}

if [ "${FORCE:-0}" != 1 ] && podman image exists "$tag"; then
  echo "local-base: $tag exists (FORCE=1 to rebuild)"
  exit 0
fi

node_bin=$(readlink -f "$root/node_modules/node/bin/node")
[ -x "$node_bin" ] || { echo "local-base: no Node binary at $root/node_modules/node/bin/node (npm ci first)" >&2; exit 1; }
"$node_bin" -e 'process.exit(+process.versions.node.split(".")[0] === 24 ? 0 : 1)' ||
  { echo "local-base: $node_bin is not Node 24" >&2; exit 1; }
npm_version=${NPM_VERSION:-$(npm -v 2>/dev/null || echo 11.19.1)}

# A finished debootstrap leaves /usr/bin/apt-get behind; an interrupted one is started afresh.
if [ ! -x "$rootfs/usr/bin/apt-get" ] || [ ! -f "$rootfs/.debootstrap-done" ]; then
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror"
  touch "$rootfs/.debootstrap-done"
fi

# Node
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"

# npm, from the registry's tarball (it bundles its dependencies)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "npm@$npm_version" >/dev/null)
rm -rf "$rootfs/usr/local/lib/node_modules/npm"
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$tmp/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# The node user (uid/gid 1000), as in the official image
chroot "$rootfs" sh -c 'getent group node >/dev/null || groupadd --gid 1000 node;
  getent passwd node >/dev/null || useradd --uid 1000 --gid node --shell /bin/bash --create-home node'

# Smaller: no apt lists or caches in the image
rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb

tar -C "$rootfs" --exclude=./.debootstrap-done -c . |
  podman import --change 'CMD ["node"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$tag"
echo "local-base: $tag (Debian bookworm minbase, Node $("$node_bin" -v), npm $npm_version)"
