// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_LAUNCHER_H
#define QTPROCESSPOOL_LAUNCHER_H

#include <QtCore/QProcess>
#include <QtCore/QStringList>

namespace QtProcessPool {

/// How to start a worker: which program, where it connects, its limits.
struct LaunchSpec
{
    QString program;       // empty: the application's own executable
    QStringList arguments; // the application's, before the worker flag
    QString serverName;    // where it connects (Handshake::serverName())
    QProcessEnvironment environment;
    bool environmentSet = false;
    QString workingDirectory;
    qint64 memoryLimit = 0; // RLIMIT_AS in bytes; 0: none
};

/// What a worker is told on its stdin, never in argv or the environment:
/// its slot and secret for the handshake, and its end of the side channel.
struct Credentials
{
    int slotId = 0;
    QByteArray secret;
    int bodiesFd = -1; // -1: no side channel
    /// A remote worker's: the SHA-256 of the pool's certificate, which it pins.
    QByteArray fingerprint;
    /// False: the worker has them from a join token in its arguments
    /// (joinToken()), and its stdin is closed at once.
    bool onStdin = true;
};

/// The credentials as one word, for a worker's command line: a join token
/// (WorkerLauncher::setJoinToken()), "slot.secret.fingerprint" in hex.
QByteArray joinToken(const Credentials &credentials);

/// Starts worker processes on this machine: the program in worker mode, set
/// up between fork and exec by platform::prepareChild() (own process group,
/// memory limit, only stdio and the side channel inherited), then told its
/// credentials. Knows nothing of frames or tasks; launchers that place
/// workers on other hosts sit beside it. I/O thread.
class LocalLauncher
{
public:
    /// Sets process up to run spec; connect its signals, then start().
    static void prepare(QProcess *process, const LaunchSpec &spec, int bodiesFd);
    /// Sets process up to run a remote worker's launcher (ssh, srun...):
    /// commandLine[0] is the program; the same child set-up, no memory limit
    /// and no side channel.
    static void prepareCommand(QProcess *process, const QStringList &commandLine);
    /// Starts it and, if it runs, writes the credentials to its stdin and
    /// closes that. The side channel's worker end is closed here either way.
    static void start(QProcess *process, const Credentials &credentials);
};

} // namespace QtProcessPool

#endif
