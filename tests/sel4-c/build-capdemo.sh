#!/bin/bash
# Build the capdemo C root server (tests/sel4-c/capdemo) with seL4's own
# CMake flow (init-build.sh + ninja) for x86_64 / pc99 simulation, using the
# same kernel configuration as sel4test's x86_64 simulation build.
#
# Usage:  SEL4_TREE=/path/to/sel4test-tree  tests/sel4-c/build-capdemo.sh
#
#   SEL4_TREE   a sel4test-style tree containing kernel/, tools/seL4/ (cmake-tool)
#               and projects/{sel4runtime,musllibc}. Required.
#   CAPDEMO_PROJECT  where to assemble the capdemo project tree
#               (default: $SEL4_TREE/capdemo-project). Never inside this repo.
#   INCREMENTAL=1    reuse an existing build directory (default: fresh build).
#
# Nothing is downloaded. The project tree consists of symlinks into SEL4_TREE
# plus a copy of tests/sel4-c/capdemo at projects/capdemo (a copy, because
# init-build.sh resolves easy-settings.cmake with realpath and settings.cmake
# locates the tree relative to itself). The build directory is
# $CAPDEMO_PROJECT/build-x86.
#
# On success the last line on stdout is the path of the root-server image
# (images/capdemo-image-x86_64-pc99); the kernel path is reported on stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/capdemo"
: "${SEL4_TREE:?set SEL4_TREE to a sel4test-style tree (e.g. /work/sel4-stock)}"
tree="$(cd "$SEL4_TREE" && pwd)"
proj="${CAPDEMO_PROJECT:-$tree/capdemo-project}"

for p in kernel tools/seL4/cmake-tool/init-build.sh projects/sel4runtime projects/musllibc; do
    [ -e "$tree/$p" ] || { echo "build-capdemo: $tree/$p is missing" >&2; exit 1; }
done
case "$(realpath -m "$proj")/" in
    "$(realpath "$here/../..")"/*) echo "build-capdemo: refusing to build inside the repository" >&2; exit 1 ;;
esac

# Assemble the project tree.
mkdir -p "$proj/projects"
ln -sfn "$tree/kernel" "$proj/kernel"
ln -sfn "$tree/tools" "$proj/tools"
for p in sel4runtime musllibc; do
    ln -sfn "$tree/projects/$p" "$proj/projects/$p"
done
rm -rf "$proj/projects/capdemo"
mkdir -p "$proj/projects/capdemo"
cp "$src/CMakeLists.txt" "$src/settings.cmake" "$src/easy-settings.cmake" "$src/capdemo.c" \
    "$proj/projects/capdemo/"
ln -sfn tools/seL4/cmake-tool/init-build.sh "$proj/init-build.sh"
ln -sfn projects/capdemo/easy-settings.cmake "$proj/easy-settings.cmake"

build="$proj/build-x86"
if [ "${INCREMENTAL:-0}" != 1 ] || [ ! -f "$build/build.ninja" ]; then
    rm -rf "$build"
    mkdir -p "$build"
    (cd "$build" && ../init-build.sh -DPLATFORM=x86_64 -DSIMULATION=TRUE) \
        > "$proj/init-build.log" 2>&1 \
        || { tail -n 40 "$proj/init-build.log" >&2; echo "build-capdemo: init-build.sh failed (log: $proj/init-build.log)" >&2; exit 1; }
fi
(cd "$build" && ninja) > "$proj/ninja.log" 2>&1 \
    || { tail -n 40 "$proj/ninja.log" >&2; echo "build-capdemo: ninja failed (log: $proj/ninja.log)" >&2; exit 1; }

image="$build/images/capdemo-image-x86_64-pc99"
kernel="$build/images/kernel-x86_64-pc99"
[ -f "$image" ] && [ -f "$kernel" ] || { echo "build-capdemo: images missing in $build/images" >&2; exit 1; }
echo "kernel: $kernel" >&2
echo "$image"
