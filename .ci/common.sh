# Shared by .ci/test, .ci/demo and .ci/test-qt68: installs what a fresh Debian
# machine lacks, then configures and builds. Sourced, not run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the build needs, one line per reason: qt6-base-dev brings
# Core, Network, Test and Widgets; libssl-dev the libcrypto that makes a pool's
# TLS identity for remote workers; qcoro-qt6-dev the README's coroutine
# example (readme_qcoro); qt6-declarative-dev and the QML modules the Qt Quick
# example (demo/quick).
# ccache keeps the objects of earlier builds (see configure_and_build).
packages=(
    cmake ninja-build g++ ccache qt6-base-dev qt6-base-dev-tools libgl-dev
    libssl-dev
    qcoro-qt6-dev
    qt6-declarative-dev qml6-module-qtquick qml6-module-qtquick-controls
    qml6-module-qtquick-templates qml6-module-qtquick-layouts qml6-module-qtquick-window
    qml6-module-qtqml-workerscript
)
# What the test suite needs on top (.ci/test; .ci/test-qt68 puts it into its
# tree too): clang and its sanitizer runtimes build the protocol fuzz harnesses
# (libclang-rt-dev follows the default clang, so the name holds on Debian 12
# and 13); python3 runs the Python peers of the benchmark smoke test; doxygen
# the API reference check (docs_api); file and dpkg-dev (dpkg-shlibdeps) let
# CPack make the .deb with its library dependencies (package_deb);
# openssh-server and -client, slurm-wlm and munge, iproute2 the remote-worker
# fixtures' own sshd, SLURM cluster and network namespaces (remote_fixtures).
test_packages=(clang libclang-rt-dev python3 doxygen file dpkg-dev
    openssh-server openssh-client slurm-wlm munge iproute2)

ensure_packages() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing missing Debian packages: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# configure_and_build <build dir> [extra cmake arguments...]
configure_and_build() {
    local dir=$1
    shift
    # Every CMake configure from here on, the tests' own (the fuzz harnesses,
    # the packaging consumers) too, compiles through ccache, which CMake
    # takes from the environment: a clean clone in a new directory builds
    # from the objects earlier runs made (paths relative to the source, the
    # directory left out of the hash). The first run on a machine fills it.
    if command -v ccache >/dev/null 2>&1; then
        export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER-ccache}
        export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER-ccache}
        export CCACHE_BASEDIR=${CCACHE_BASEDIR-$root}
        export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR-true}
    fi
    cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
    # --parallel without a number ignores CMAKE_BUILD_PARALLEL_LEVEL: pass it on.
    cmake --build "$dir" --parallel ${CMAKE_BUILD_PARALLEL_LEVEL:-}
}
