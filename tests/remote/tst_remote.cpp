// SPDX-License-Identifier: MIT
// Workers on other machines, end to end with real engines started by the test:
// a command launcher on this machine (the TLS transport alone), OpenSSH (an
// sshd of the test's own on 127.0.0.1) and SLURM (a single-node cluster of the
// test's own). Every future's own outcome is checked and every task's
// executions are counted (an O_APPEND log), and no process may be left on any
// "host" after removeWorkers() or the pool's end.
#include "faulttasks.h"
#include "fixtures.h"
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"

#include <QtProcessPool/ProcessPool>
#include <QtProcessPool/WorkerLauncher>

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QSysInfo>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QSslSocket>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>
#include <unistd.h>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace TestUtil;
using FaultTasks::Fault;

namespace {

constexpr int HeartbeatTimeoutMs =
    6000; // src/pool/engine_remote.cpp, src/worker/poolconnection.cpp

/// The worker's own command line, unchanged: a "remote" worker on this
/// machine, connecting back over TCP and TLS.
const QStringList Direct = {QStringLiteral("{program}"), QStringLiteral("{arguments}")};

/// A command template that edits the worker's stdin line ("slot secret
/// fingerprint") with sed before the worker reads it.
QStringList editingStdin(const QString &sedExpression)
{
    return {QStringLiteral("/bin/sh"), QStringLiteral("-c"),
            QStringLiteral("sed -u -e '%1' | {program} {arguments}").arg(sedExpression)};
}

QString describe(const std::optional<TaskError> &e)
{
    return e ? QStringLiteral("kind %1: %2").arg(int(e->kind())).arg(e->message())
             : QStringLiteral("no error");
}

/// Processes of this test's program in worker mode that dial this pool's port.
QList<qint64> workersOf(quint16 port)
{
    return RemoteFixtures::processesWithArgument(QStringLiteral("tls:127.0.0.1:%1").arg(port));
}

/// The arguments of a running process (/proc/PID/cmdline).
QStringList commandLineOf(qint64 pid)
{
    QFile file(QStringLiteral("/proc/%1/cmdline").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return {};
    QStringList words;
    for (const QByteArray &word : file.readAll().split('\0'))
        words.append(QString::fromLocal8Bit(word));
    if (!words.isEmpty() && words.last().isEmpty())
        words.removeLast();
    return words;
}

/// Runs this program with arguments and no stdin; its exit code, or -1.
int replayWorker(const QStringList &arguments)
{
    QProcess replay;
    replay.setProgram(QCoreApplication::applicationFilePath());
    replay.setArguments(arguments);
    replay.setStandardInputFile(QProcess::nullDevice());
    replay.start();
    if (!replay.waitForFinished(Generous)) {
        replay.kill();
        replay.waitForFinished();
        return -1;
    }
    return replay.exitStatus() == QProcess::NormalExit ? replay.exitCode() : -1;
}

/// Runs a copy of a worker with the given arguments, as someone who read them
/// off `ps` would, and expects the pool to refuse it: true when the pool
/// dropped it (as its log says) and it exited.
bool replayIsRefused(const QStringList &arguments)
{
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral(
                             "dropping a connection: \"no worker is waiting for slot \\d+\"")));
    return replayWorker(arguments) >= 0;
}

/// A command with no stdin for the worker: it must take a join token.
QStringList withoutStdin(const QString &before = QString())
{
    return {QStringLiteral("/bin/sh"), QStringLiteral("-c"),
            before + QStringLiteral("exec {program} {arguments} </dev/null")};
}

} // namespace

class TestRemote : public QObject
{
    Q_OBJECT

    std::unique_ptr<ProcessPool> makePool();
    void servesLikeLocalWorkers(const WorkerLauncher &launcher, const QString &host);
    void checkFaults(ProcessPool &pool);
    void checkRemoval(ProcessPool &pool, int group, quint16 port, const QString &host);

private Q_SLOTS:
    void initTestCase();
    void commandLauncher();
    void poolDestroyedLeavesNothing();
    void launcherFailureFailsTasks();
    void wrongFingerprintIsRefused();
    void wrongSecretIsRefused();
    void hostileBytesOnTheTlsPort();
    void joinTokenInsteadOfStdin();
    void expiredJoinTokenIsRefused();
    void ssh();
    void slurm();
    void partitionedHost();
    void demoRendersOnSshWorkers();
};

void TestRemote::initTestCase()
{
    if (::geteuid() != 0)
        QSKIP("the remote-worker tests start sshd and slurmd: they need root");
}

std::unique_ptr<ProcessPool> TestRemote::makePool()
{
    auto pool = std::make_unique<ProcessPool>();
    pool->setMaxWorkers(0); // remote workers only
    pool->setRemoteListenAddress(QHostAddress::LocalHost);
    pool->setWorkerStartTimeout(std::chrono::milliseconds(Generous));
    return pool;
}

void TestRemote::servesLikeLocalWorkers(const WorkerLauncher &launcher, const QString &host)
{
    std::unique_ptr<ProcessPool> pool = makePool();
    QSignalSpy started(pool.get(), &ProcessPool::workerStarted);
    const int group = pool->addWorkers(launcher);
    QVERIFY(group > 0);

    // Plain tasks, and their results, in order.
    QList<QFuture<int>> squares;
    for (int i = 0; i < 20; ++i)
        squares.append(pool->run(square, i));
    for (int i = 0; i < 20; ++i) {
        QVERIFY2(finishes(squares[i]), qPrintable(QString::number(i)));
        QVERIFY2(!errorOf(squares[i]), qPrintable(describe(errorOf(squares[i]))));
        QCOMPARE(squares[i].result(), i * i);
    }
    QTRY_COMPARE_WITH_TIMEOUT(started.size(), launcher.workers(), Generous);
    const quint16 port = pool->remotePort();
    QVERIFY(port != 0);

    // Where they run: workerInfo names the host and the group.
    const Statistics stats = pool->statistics();
    QCOMPARE(stats.workerInfo.size(), launcher.workers());
    for (const Statistics::WorkerInfo &info : stats.workerInfo) {
        QCOMPARE(info.host, host);
        QCOMPARE(info.group, group);
    }
    // So does workerStarted(), with the pid as the worker knows it.
    for (const QList<QVariant> &arguments : std::as_const(started)) {
        QCOMPARE(arguments.at(1).toString(), host);
        QVERIFY(
            std::any_of(stats.workerInfo.begin(), stats.workerInfo.end(), [&](const auto &info) {
                return info.pid == arguments.at(0).toLongLong();
            }));
    }

    // mapped(), streamed results and progress.
    QList<int> items;
    for (int i = 0; i < 100; ++i)
        items.append(i);
    QFuture<int> mapped = pool->mapped(square, items, 7);
    QVERIFY(finishes(mapped));
    QCOMPARE(mapped.results().size(), 100);
    for (int i = 0; i < 100; ++i)
        QCOMPARE(mapped.resultAt(i), i * i);
    QFuture<int> streamed = pool->run(streamNumbers, 50);
    QFutureWatcher<int> watcher;
    QSignalSpy progress(&watcher, &QFutureWatcher<int>::progressValueChanged);
    watcher.setFuture(streamed);
    QVERIFY(finishes(streamed));
    QCOMPARE(streamed.results().size(), 50);
    QCOMPARE(streamed.resultAt(49), 50);
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty(), Generous);
    QCOMPARE(progress.last().first().toInt(), 50);

    // A large payload goes inline over TLS.
    const QByteArray big = patternBytes(8 << 20, 7);
    QFuture<QByteArray> echoed = pool->run(reversed, big);
    QVERIFY(finishes(echoed));
    QVERIFY2(!errorOf(echoed), qPrintable(describe(errorOf(echoed))));
    QByteArray expected = big;
    std::reverse(expected.begin(), expected.end());
    QVERIFY(echoed.result() == expected);

    checkFaults(*pool);
    checkRemoval(*pool, group, port, host);
}

void TestRemote::checkFaults(ProcessPool &pool)
{
    QTemporaryDir dir;
    const QString log = dir.filePath(QStringLiteral("runs.log"));
    // One of each: success, crash, exception, a hang timed out, a hang canceled.
    struct Case
    {
        Fault fault;
        int timeoutMs;
        TaskError::Kind kind;
    };
    const QList<Case> cases = {
        {Fault::None, 0, TaskError::Kind::Exception}, // kind unused: it succeeds
        {Fault::Segv, 0, TaskError::Kind::Crashed},
        {Fault::Throw, 0, TaskError::Kind::Exception},
        {Fault::Hang, 1500, TaskError::Kind::TimedOut},
        {Fault::Hang, 0, TaskError::Kind::Exception}, // canceled below
        {Fault::None, 0, TaskError::Kind::Exception},
    };
    QList<QFuture<int>> futures;
    for (int i = 0; i < cases.size(); ++i) {
        TaskOptions options;
        options.timeout = std::chrono::milliseconds(cases[i].timeoutMs);
        futures.append(pool.run(options, FaultTasks::faulty, log, i, int(cases[i].fault), 0));
    }
    QTRY_VERIFY_WITH_TIMEOUT(FaultTasks::runCounts(log, cases.size())[4] == 1, Generous);
    futures[4].cancel();
    for (int i = 0; i < cases.size(); ++i) {
        QVERIFY2(finishes(futures[i]), qPrintable(QString::number(i)));
        const auto e = errorOf(futures[i]);
        if (i == 4) {
            QVERIFY2(futures[i].isCanceled(), qPrintable(describe(e)));
        } else if (cases[i].fault == Fault::None) {
            QVERIFY2(!e, qPrintable(describe(e)));
            QCOMPARE(futures[i].result(), i * 2);
        } else {
            QVERIFY2(e && e->kind() == cases[i].kind,
                     qPrintable(QStringLiteral("task %1: %2").arg(i).arg(describe(e))));
        }
    }
    QCOMPARE(FaultTasks::runCounts(log, cases.size()), QList<int>(cases.size(), 1));
    // The group replaced the workers it lost: tasks still run.
    QFuture<int> after = pool.run(square, 12);
    QVERIFY(finishes(after));
    QVERIFY2(!errorOf(after), qPrintable(describe(errorOf(after))));
    QCOMPARE(after.result(), 144);
}

void TestRemote::checkRemoval(ProcessPool &pool, int group, quint16 port, const QString &host)
{
    QSignalSpy exited(&pool, &ProcessPool::workerExited);
    QTRY_VERIFY_WITH_TIMEOUT(!workersOf(port).isEmpty(), Generous);
    // A running task finishes, then its worker goes; none is replaced.
    QFuture<int> running = pool.run(sleepThenSquare, 500, 6);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    pool.removeWorkers(group);
    QVERIFY(finishes(running));
    QVERIFY2(!errorOf(running), qPrintable(describe(errorOf(running))));
    QCOMPARE(running.result(), 36);
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 0, Generous);
    QTRY_VERIFY_WITH_TIMEOUT(workersOf(port).isEmpty(), Generous);
    // Each worker of the group told of its end, naming its host.
    QTRY_VERIFY_WITH_TIMEOUT(!exited.isEmpty(), Generous);
    for (const QList<QVariant> &arguments : std::as_const(exited))
        QCOMPARE(arguments.at(3).toString(), host);
    // With no local worker and no group, a task fails at once, clearly.
    QFuture<int> orphan = pool.run(square, 2);
    QVERIFY(finishes(orphan));
    const auto e = errorOf(orphan);
    QVERIFY2(e && e->kind() == TaskError::Kind::WorkerStartFailed, qPrintable(describe(e)));
}

void TestRemote::commandLauncher()
{
    servesLikeLocalWorkers(WorkerLauncher::command(Direct, 2), QSysInfo::machineHostName());
}

void TestRemote::poolDestroyedLeavesNothing()
{
    std::unique_ptr<ProcessPool> pool = makePool();
    pool->addWorkers(WorkerLauncher::command(Direct, 2));
    QFuture<int> hang = pool->run(sleepForever);
    QTRY_COMPARE_WITH_TIMEOUT(pool->runningTaskCount(), 1, Generous);
    const quint16 port = pool->remotePort();
    QTRY_COMPARE_WITH_TIMEOUT(workersOf(port).size(), 2, Generous);
    pool.reset();
    QVERIFY(hang.isFinished());
    QTRY_VERIFY_WITH_TIMEOUT(workersOf(port).isEmpty(), Generous);
}

void TestRemote::launcherFailureFailsTasks()
{
    std::unique_ptr<ProcessPool> pool = makePool();
    pool->addWorkers(WorkerLauncher::command(
        {QStringLiteral("/bin/sh"), QStringLiteral("-c"),
         QStringLiteral("echo 'ssh: connect to host nowhere port 22: No route to host' >&2; "
                        "exit 255")},
        1));
    QFuture<int> task = pool->run(square, 3);
    QVERIFY(finishes(task));
    const auto e = errorOf(task);
    QVERIFY2(e && e->kind() == TaskError::Kind::WorkerStartFailed, qPrintable(describe(e)));
    QVERIFY2(e->message().contains(QLatin1String("No route to host")) &&
                 e->message().contains(QLatin1String("exit")),
             qPrintable(e->message()));
}

void TestRemote::wrongFingerprintIsRefused()
{
    // The worker is told another certificate's fingerprint: it refuses the
    // pool's server before sending anything, and says so.
    std::unique_ptr<ProcessPool> pool = makePool();
    pool->addWorkers(WorkerLauncher::command(
        editingStdin(QStringLiteral("s/ [0-9a-f]*$/ %1/").arg(QString(64, QLatin1Char('0')))), 1));
    QSignalSpy started(pool.get(), &ProcessPool::workerStarted);
    QFuture<int> task = pool->run(square, 3);
    QVERIFY(finishes(task));
    const auto e = errorOf(task);
    QVERIFY2(e && e->kind() == TaskError::Kind::WorkerStartFailed, qPrintable(describe(e)));
    QVERIFY2(e->message().contains(QLatin1String("certificate")), qPrintable(e->message()));
    QCOMPARE(started.size(), 0);
}

void TestRemote::wrongSecretIsRefused()
{
    // Right certificate, wrong HMAC proof: the pool drops the connection.
    std::unique_ptr<ProcessPool> pool = makePool();
    pool->addWorkers(WorkerLauncher::command(
        editingStdin(QStringLiteral("s/ [0-9a-f]* / %1 /").arg(QString(64, QLatin1Char('a')))), 1));
    QSignalSpy started(pool.get(), &ProcessPool::workerStarted);
    QFuture<int> task = pool->run(square, 3);
    QVERIFY(finishes(task));
    const auto e = errorOf(task);
    QVERIFY2(e && e->kind() == TaskError::Kind::WorkerStartFailed, qPrintable(describe(e)));
    QCOMPARE(started.size(), 0);
}

void TestRemote::hostileBytesOnTheTlsPort()
{
    std::unique_ptr<ProcessPool> pool = makePool();
    const int group = pool->addWorkers(WorkerLauncher::command(Direct, 1));
    QFuture<int> first = pool->run(square, 4);
    QVERIFY(finishes(first));
    QCOMPARE(first.result(), 16);
    const quint16 port = pool->remotePort();

    // Plaintext: a TLS server's answer to garbage is to close.
    QTcpSocket plain;
    plain.connectToHost(QHostAddress::LocalHost, port);
    QVERIFY(plain.waitForConnected(Generous));
    plain.write("GET / HTTP/1.0\r\n\r\n" + QByteArray(4096, 'x'));
    QTRY_COMPARE_WITH_TIMEOUT(plain.state(), QAbstractSocket::UnconnectedState, 10000);

    // Inside TLS (not verifying the pool's certificate): garbage, then a
    // frame header announcing 4 GiB. Each closed, nothing but a challenge sent.
    for (const QByteArray &bytes :
         {QByteArray(300, '\xee'), QByteArray::fromHex("ffffffff00100000") + QByteArray(64, 'y')}) {
        QSslSocket tls;
        tls.setPeerVerifyMode(QSslSocket::VerifyNone);
        tls.connectToHostEncrypted(QStringLiteral("127.0.0.1"), port);
        QVERIFY2(tls.waitForEncrypted(Generous), qPrintable(tls.errorString()));
        tls.write(bytes);
        QTRY_COMPARE_WITH_TIMEOUT(tls.state(), QAbstractSocket::UnconnectedState, 10000);
        QVERIFY(tls.readAll().size() <= 8 + 4 + 32); // at most the challenge
    }

    // The pool goes on.
    QFuture<int> after = pool->run(square, 5);
    QVERIFY(finishes(after));
    QCOMPARE(after.result(), 25);
    pool->removeWorkers(group);
}

void TestRemote::joinTokenInsteadOfStdin()
{
    std::unique_ptr<ProcessPool> pool = makePool();
    pool->addWorkers(
        WorkerLauncher::command(withoutStdin(), 1).setJoinToken(std::chrono::seconds(30)));
    QFuture<int> first = pool->run(square, 7);
    QVERIFY(finishes(first));
    QVERIFY2(!errorOf(first), qPrintable(describe(errorOf(first))));
    QCOMPARE(first.result(), 49);
    const QList<qint64> workers = workersOf(pool->remotePort());
    QCOMPARE(workers.size(), 1);
    const QStringList arguments = commandLineOf(workers.first()).mid(1);
    QVERIFY2(arguments.contains(QLatin1String("--qtprocesspool-join")),
             qPrintable(arguments.join(' ')));

    // Single use: the same arguments again are refused (its slot is taken).
    QVERIFY(replayIsRefused(arguments));
    QFuture<int> after = pool->run(square, 8);
    QVERIFY(finishes(after));
    QCOMPARE(after.result(), 64);
    QCOMPARE(pool->workerCount(), 1);
}

void TestRemote::expiredJoinTokenIsRefused()
{
    // The launcher takes 3 s, the token lasts 1 s: each start fails, and the
    // waiting task fails with the reason.
    std::unique_ptr<ProcessPool> pool = makePool();
    pool->addWorkers(WorkerLauncher::command(withoutStdin(QStringLiteral("sleep 3; ")), 1)
                         .setJoinToken(std::chrono::seconds(1)));
    QFuture<int> task = pool->run(square, 3);
    QStringList launcher;
    QTRY_VERIFY_WITH_TIMEOUT(
        !(launcher =
              [&] {
                  const QList<qint64> pids =
                      RemoteFixtures::processesWithArgument(QStringLiteral("--qtprocesspool-join"));
                  return pids.isEmpty() ? QStringList() : commandLineOf(pids.first());
              }())
             .isEmpty(),
        Generous);
    QVERIFY(finishes(task));
    const auto e = errorOf(task);
    QVERIFY2(e && e->kind() == TaskError::Kind::WorkerStartFailed, qPrintable(describe(e)));
    QVERIFY2(e->message().contains(QLatin1String("join token expired")), qPrintable(e->message()));

    // The token, used late, is worthless.
    const QRegularExpression token(QStringLiteral("--qtprocesspool-join' '([0-9a-f.]+)'|"
                                                  "--qtprocesspool-join ([0-9a-f.]+)"));
    const QRegularExpressionMatch m = token.match(launcher.join(QLatin1Char(' ')));
    QVERIFY2(m.hasMatch(), qPrintable(launcher.join(QLatin1Char(' '))));
    const QString value = m.captured(1).isEmpty() ? m.captured(2) : m.captured(1);
    QVERIFY(replayIsRefused({QStringLiteral("--qtprocesspool-worker"),
                             QStringLiteral("tls:127.0.0.1:%1").arg(pool->remotePort()),
                             QStringLiteral("--qtprocesspool-join"), value}));
}

void TestRemote::ssh()
{
    RemoteFixtures::SshServer sshd;
    QString error;
    QVERIFY2(sshd.start(&error), qPrintable(error));
    servesLikeLocalWorkers(WorkerLauncher::ssh(sshd.destination(), 2, sshd.sshOptions()),
                           QSysInfo::machineHostName()); // what the worker says
    // Nothing is left under the server either (ssh sessions end with their workers).
    QTRY_VERIFY_WITH_TIMEOUT(
        RemoteFixtures::processesWithArgument(QCoreApplication::applicationFilePath()).isEmpty(),
        Generous);
}

void TestRemote::slurm()
{
    RemoteFixtures::SlurmCluster cluster;
    QString error;
    QVERIFY2(cluster.start(&error), qPrintable(error));
    qputenv("SLURM_CONF", cluster.confPath().toLocal8Bit()); // for the srun the pool starts
    servesLikeLocalWorkers(WorkerLauncher::slurm(2, {QStringLiteral("--quiet")}),
                           QSysInfo::machineHostName());
    QTRY_VERIFY_WITH_TIMEOUT(cluster.runningSteps().isEmpty(), Generous);

    // A pool destroyed while its SLURM workers run a task that never ends:
    // the srun processes are killed, and scancel ends their jobs (a killed
    // srun alone would leave them allocated).
    {
        std::unique_ptr<ProcessPool> pool = makePool();
        pool->addWorkers(WorkerLauncher::slurm(2, {QStringLiteral("--quiet")}));
        QFuture<int> hang = pool->run(sleepForever);
        QTRY_COMPARE_WITH_TIMEOUT(pool->runningTaskCount(), 1, Generous);
        QTRY_COMPARE_WITH_TIMEOUT(cluster.runningSteps().size(), 2, Generous);
        const quint16 port = pool->remotePort();
        pool.reset();
        QVERIFY(hang.isFinished());
        QTRY_VERIFY_WITH_TIMEOUT(cluster.jobs().isEmpty(), 20000); // well within KillWait
        QTRY_VERIFY_WITH_TIMEOUT(workersOf(port).isEmpty(), Generous);
    }
    qunsetenv("SLURM_CONF");
}

void TestRemote::partitionedHost()
{
    // A second host: sshd in a network namespace of the test's own, reached
    // over a veth pair. The link is cut while a task runs there.
    RemoteFixtures::NetworkNamespace ns;
    QString error;
    QVERIFY2(ns.create(&error), qPrintable(error));
    RemoteFixtures::SshServer sshd;
    sshd.setListenAddress(ns.nsAddress());
    sshd.setNetworkNamespace(ns.name());
    QVERIFY2(sshd.start(&error), qPrintable(error));

    QTemporaryDir dir;
    const QString log = dir.filePath(QStringLiteral("runs.log"));
    ProcessPool pool;
    pool.setMaxWorkers(0);
    pool.setWorkerStartTimeout(std::chrono::milliseconds(Generous));
    pool.setRemoteListenAddress(QHostAddress(ns.hostAddress()));
    const int group =
        pool.addWorkers(WorkerLauncher::ssh(sshd.destination(), 1, sshd.sshOptions()));
    // Task 0 runs on the namespace host for a minute; tasks 1..6 queue
    // behind it, and task 1 is sent ahead to that worker, which holds it
    // without leave to start it (StartTask comes when task 0 ends).
    QList<QFuture<int>> futures;
    futures.append(pool.run(FaultTasks::faulty, log, 0, int(Fault::None), 60000));
    QTRY_COMPARE_WITH_TIMEOUT(FaultTasks::runCounts(log, 1)[0], 1, Generous);
    const QString needle = QStringLiteral("tls:%1:%2").arg(ns.hostAddress()).arg(pool.remotePort());
    const QList<qint64> stranded = RemoteFixtures::processesWithArgument(needle);
    QVERIFY(!stranded.isEmpty());
    for (int i = 1; i <= 6; ++i)
        futures.append(pool.run(FaultTasks::faulty, log, i, int(Fault::None), 100));
    QTRY_COMPARE_WITH_TIMEOUT(pool.queuedTaskCount(), 6, Generous);

    // The link goes down; a local worker joins and takes the queue.
    QElapsedTimer since;
    since.start();
    QVERIFY(ns.setLinkUp(false));
    pool.setMaxWorkers(1);
    QVERIFY(finishes(futures[0], HeartbeatTimeoutMs + 10000));
    const auto e = errorOf(futures[0]);
    QVERIFY2(e && e->kind() == TaskError::Kind::WorkerLost, qPrintable(describe(e)));
    qInfo() << "WorkerLost after" << since.elapsed() << "ms";
    // Every other task finishes on the local worker, once: task 1 too,
    // given back when its worker was taken as lost (it had no leave to
    // start, so it had not started), after the others had run.
    for (int i = 1; i <= 6; ++i) {
        QVERIFY2(finishes(futures[i]), qPrintable(QString::number(i)));
        QVERIFY2(!errorOf(futures[i]), qPrintable(describe(errorOf(futures[i]))));
        QCOMPARE(futures[i].result(), i * 2);
    }
    QCOMPARE(FaultTasks::runOrder(log), (QList<int>{0, 2, 3, 4, 5, 6, 1}));
    const QList<int> counts = FaultTasks::runCounts(log, 7);
    QCOMPARE(counts[0], 1);
    QVERIFY2(std::all_of(counts.begin(), counts.end(), [](int n) { return n <= 1; }),
             "a task ran twice");
    // The stranded worker heard nothing from its pool either: it exits by
    // itself (nothing on this side can reach it), and the pool ended its ssh
    // client. Waited for by pid: the group keeps its one worker, so the pool
    // is meanwhile trying to start another through the cut link.
    const auto ended = [](const QList<qint64> &pids) {
        return std::all_of(pids.begin(), pids.end(), RemoteFixtures::isZombieOrGone);
    };
    QTRY_VERIFY2_WITH_TIMEOUT(ended(stranded),
                              qPrintable(RemoteFixtures::describeProcesses(stranded)),
                              HeartbeatTimeoutMs + 10000);
    // Removing the group ends that attempt too (and starts no other):
    // nothing is left.
    pool.removeWorkers(group);
    QTRY_VERIFY2_WITH_TIMEOUT(ended(RemoteFixtures::processesWithArgument(needle)),
                              qPrintable(RemoteFixtures::describeProcesses(
                                  RemoteFixtures::processesWithArgument(needle))),
                              Generous);
}

void TestRemote::demoRendersOnSshWorkers()
{
#ifndef QPP_DEMO_PROGRAM
    QSKIP("the demo is not built here (QTPROCESSPOOL_BUILD_DEMO is OFF)");
#else
    RemoteFixtures::SshServer sshd;
    QString error;
    QVERIFY2(sshd.start(&error), qPrintable(error));
    QTemporaryDir dir;
    QStringList arguments = {
        QStringLiteral("--screenshot"),  dir.filePath(QStringLiteral("shot.png")),
        QStringLiteral("--workers"),     QStringLiteral("1"),
        QStringLiteral("--ssh-workers"), sshd.destination() + QStringLiteral(":2"),
        QStringLiteral("--listen"),      QStringLiteral("127.0.0.1")};
    for (const QString &option : sshd.sshOptions())
        arguments.append(QStringLiteral("--ssh-option=") + option);
    QProcess demo;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    environment.insert(QStringLiteral("ASAN_OPTIONS"), QStringLiteral("detect_leaks=0"));
    demo.setProcessEnvironment(environment);
    demo.setProcessChannelMode(QProcess::MergedChannels);
    demo.start(QStringLiteral(QPP_DEMO_PROGRAM), arguments);
    QVERIFY(demo.waitForFinished(120000));
    const QString output = QString::fromLocal8Bit(demo.readAll());
    QVERIFY2(demo.exitStatus() == QProcess::NormalExit && demo.exitCode() == 0, qPrintable(output));
    // "remote workers: host:pid host:pid" and "tiles per host:pid: host:pid=N ...".
    const QRegularExpression remoteLine(QStringLiteral("remote workers: (.*)"));
    const QRegularExpression tilesLine(QStringLiteral("tiles per host:pid: (.*)"));
    const QStringList remote =
        remoteLine.match(output).captured(1).trimmed().split(QLatin1Char(' '), Qt::SkipEmptyParts);
    QCOMPARE(remote.size(), 2);
    int remoteTiles = 0;
    for (const QString &entry : tilesLine.match(output).captured(1).trimmed().split(
             QLatin1Char(' '), Qt::SkipEmptyParts)) {
        if (remote.contains(entry.section(QLatin1Char('='), 0, 0)))
            remoteTiles += entry.section(QLatin1Char('='), 1).toInt();
    }
    QVERIFY2(remoteTiles > 0, qPrintable(output));
#endif
}

QPP_TEST_MAIN(TestRemote)
#include "tst_remote.moc"
