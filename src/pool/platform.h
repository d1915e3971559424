// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PLATFORM_H
#define QTPROCESSPOOL_PLATFORM_H

// What the pool asks of the operating system, in one place per OS family:
// platform_posix.cpp (Linux and other Unix systems, with Linux-only hardening
// behind QPP_HAVE_LINUX_FEATURES) and platform_other.cpp (everything else:
// the portable fallbacks). What this build has is said by the constants of
// platformfeatures_p.h (platform::hasPeerCredentials, ...). Thread-safe
// unless said otherwise.

#include "platformfeatures_p.h"

#include <QtCore/QByteArray>
#include <QtCore/QProcess>
#include <QtCore/QString>

class QLocalSocket;

namespace QtProcessPool::platform {

/// Name of a signal number ("SIGSEGV"), or "signal N".
QString signalName(int signal);

/// "crashed with SIGSEGV (Segmentation fault)", "exited with code 3",
/// "failed to start: ...": what happened to a process, for messages.
QString describeProcessEnd(const QProcess &process, bool startFailed);

/// Resident memory of a process in bytes, or -1 where unknown (Linux: /proc;
/// always -1 without hasResidentMemory).
qint64 residentMemory(qint64 pid);

/// True when the peer of a connected local socket runs as our user (checked
/// where the OS reports peer credentials; elsewhere the secret alone decides).
/// *peerPid receives the peer's pid when known, else 0.
bool peerIsSameUser(const QLocalSocket &socket, qint64 *peerPid);

/// The calling thread's kernel id (Linux), or 0.
qint64 currentKernelThreadId();

/// CPU time a thread of this process has used so far, in ns (Linux: from
/// /proc/self/task/<tid>/schedstat); -1 when unknown.
qint64 threadCpuTime(qint64 kernelThreadId);

/// How a worker's process is set up between fork and exec.
struct ChildSetup
{
    qint64 memoryLimit = 0; // RLIMIT_AS in bytes; 0: none
    int inheritedFd = -1;   // a descriptor the child keeps (the side channel); -1: none
};
/// Installs the child set-up on process (before start()): its own process
/// group, the memory limit, only stdin/stdout/stderr and inheritedFd
/// inherited, and (Linux) death with the thread that started it.
void prepareChild(QProcess *process, const ChildSetup &setup);

/// SIGKILLs what is left of the process group led by pid (a task's helpers).
/// Only while the leader lives or right after its end was reported, so the
/// group id cannot have been reused. No-op where there are no groups.
void killProcessGroup(qint64 pid);

/// Bytes waiting in the kernel for a socket descriptor; -1 when unknown
/// (always without hasRawSockets: the caller must look another way).
int bytesInKernel(qintptr descriptor);

/// Closes a descriptor this process holds (the side channel's other end).
void closeDescriptor(int fd);

/// A second descriptor for a socket (close-on-exec), which keeps what is in
/// the kernel readable after Qt closed its own; -1 where sockets are not
/// descriptors (Windows' named pipes) or on failure. The caller closes it.
int duplicateSocket(qintptr descriptor);

/// Appends to *bytes, without blocking, what waits in the kernel for a
/// duplicateSocket() descriptor, up to the end of the stream or an error.
void readWaiting(int fd, QByteArray *bytes);

} // namespace QtProcessPool::platform

#endif
