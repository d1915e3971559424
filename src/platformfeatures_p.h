// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PLATFORMFEATURES_P_H
#define QTPROCESSPOOL_PLATFORMFEATURES_P_H

// Which operating-system facilities this build of the library uses, decided
// once, at compile time, for the pool, the worker and the protocol alike.
// Two families of fast paths and hardening sit on top of what Qt gives every
// platform (QLocalServer/QLocalSocket, QProcess):
//
//   QPP_HAVE_LINUX_FEATURES  memfd side channel for large bodies, SO_PEERCRED,
//                            timerfd, /proc, PR_SET_PDEATHSIG, close_range,
//                            MADV_HUGEPAGE
//   QPP_HAVE_RAW_SOCKETS     the local socket as a POSIX descriptor: the worker
//                            connects with a raw AF_UNIX socket, and both sides
//                            send() straight to the kernel (socket lending,
//                            the engine's writes), FIONREAD
//
// Elsewhere the portable path is taken: the worker connects with QLocalSocket
// (a named pipe on Windows), and every write goes through Qt. QPP_PORTABLE
// (CMake: -DQTPROCESSPOOL_PORTABLE=ON) takes that path on Linux too, so the
// code other systems run is built and tested here. Code asks the constants
// below where it can, and the macros only around what would not compile.

#include <QtCore/qglobal.h>

#if defined(Q_OS_UNIX) && !defined(QPP_PORTABLE)
#include <sys/socket.h>
// A peer that vanished must not raise SIGPIPE: MSG_NOSIGNAL per write, or
// SO_NOSIGPIPE once per socket (macOS and the BSDs).
#if defined(MSG_NOSIGNAL) || defined(SO_NOSIGPIPE)
#define QPP_HAVE_RAW_SOCKETS 1
#endif
#if defined(Q_OS_LINUX)
#define QPP_HAVE_LINUX_FEATURES 1
#endif
#endif

#if defined(QPP_HAVE_LINUX_FEATURES) && !defined(QPP_HAVE_RAW_SOCKETS)
#error "the Linux features need raw sockets (the worker's timerfd reads its descriptor)"
#endif

namespace QtProcessPool::platform {

#ifdef QPP_HAVE_LINUX_FEATURES
inline constexpr bool hasLinuxFeatures = true;
#else
inline constexpr bool hasLinuxFeatures = false;
#endif
#ifdef QPP_HAVE_RAW_SOCKETS
inline constexpr bool hasRawSockets = true;
#else
inline constexpr bool hasRawSockets = false;
#endif

/// Large bodies through sealed memfds (Statistics::sharedMemoryTransfers
/// stays 0 without).
inline constexpr bool hasSharedBodies = hasLinuxFeatures;
/// The kernel tells the peer's uid and pid (SO_PEERCRED); without, the
/// secret alone proves a worker.
inline constexpr bool hasPeerCredentials = hasLinuxFeatures;
/// A worker's resident memory can be read (/proc): maxWorkerRss works.
inline constexpr bool hasResidentMemory = hasLinuxFeatures;
/// A worker dies with the thread that started it (PR_SET_PDEATHSIG); without,
/// it leaves when its socket closes.
inline constexpr bool hasParentDeathSignal = hasLinuxFeatures;
/// The worker's main thread reads the socket while idle, and a timerfd hands
/// reading to its I/O thread during long tasks; without, the I/O thread
/// always reads.
inline constexpr bool hasLongTurnTimer = hasLinuxFeatures;
/// A worker is set up between fork and exec (Unix, the portable build too):
/// its own process group (a task's helpers end with it), RLIMIT_AS for
/// setWorkerMemoryLimit(), only its own descriptors inherited.
#ifdef Q_OS_UNIX
inline constexpr bool hasChildSetup = true;
#else
inline constexpr bool hasChildSetup = false;
#endif
/// Writes go straight to the socket's descriptor (send()): an idle worker's
/// socket is lent to the submitting thread, and the engine writes without
/// Qt's write notifier.
inline constexpr bool hasDirectSocketWrites = hasRawSockets;

} // namespace QtProcessPool::platform

#endif
