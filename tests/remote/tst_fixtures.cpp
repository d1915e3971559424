// SPDX-License-Identifier: MIT
// The remote-worker fixtures themselves, with real daemons: an sshd that runs
// a command with our stdin and leaves nothing behind; a SLURM cluster whose
// srun forwards stdin as fixtures.h says and whose scancel ends the task; a
// network namespace reachable until its link is cut. Needs root.
#include "fixtures.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QProcess>
#include <QtCore/QRandomGenerator>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <memory>
#include <unistd.h>

using namespace RemoteFixtures;

namespace {

constexpr int Generous = 30000; // ms; the machine is small and shared

/// A sleep argument no other process on the machine has: "300.<random>"
/// seconds, so leftovers can be looked for by argument.
QString uniqueSleep()
{
    return QStringLiteral("300.%1").arg(QRandomGenerator::global()->bounded(100000, 999999));
}

/// The sleep processes with that argument (not the ssh, srun or shell whose
/// command line holds it too).
QList<qint64> sleeping(const QString &argument)
{
    QList<qint64> found;
    for (qint64 pid : processesWithArgument(argument)) {
        QFile comm(QStringLiteral("/proc/%1/comm").arg(pid));
        if (comm.open(QIODevice::ReadOnly) && comm.readAll().trimmed() == "sleep")
            found.append(pid);
    }
    return found;
}

qint64 parentOf(qint64 pid)
{
    QFile file(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray stat = file.readAll();
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return stat.mid(stat.lastIndexOf(')') + 2).split(' ').value(1).toLongLong();
}

bool isDescendantOf(qint64 pid, qint64 ancestor)
{
    for (qint64 p = parentOf(pid); p > 1; p = parentOf(p)) {
        if (p == ancestor)
            return true;
    }
    return false;
}

bool canConnect(const QString &address, quint16 port, int ms)
{
    QTcpSocket socket;
    socket.connectToHost(address, port);
    return socket.waitForConnected(ms);
}

/// ssh with the server's options; the remote command as one argument.
QStringList sshArguments(const SshServer &server, const QString &command)
{
    return server.sshOptions() +
           QStringList{QStringLiteral("-T"), QStringLiteral("--"), server.destination(), command};
}

/// Waits for the process to end; true also when it ended already (a
/// QTRY_ macro's event loop may have seen it, which waitForFinished() would
/// answer with false).
bool finishes(QProcess *process, int ms = Generous)
{
    return process->state() == QProcess::NotRunning || process->waitForFinished(ms);
}

/// Waits until the process printed a line containing text.
bool waitForOutput(QProcess *process, QByteArray *seen, const QByteArray &text, int ms)
{
    QElapsedTimer timer;
    timer.start();
    while (!seen->contains(text) && timer.elapsed() < ms) {
        process->waitForReadyRead(100);
        *seen += process->readAllStandardOutput();
        if (process->state() == QProcess::NotRunning)
            break;
    }
    *seen += process->readAllStandardOutput();
    return seen->contains(text);
}

} // namespace

class TestFixtures : public QObject
{
    Q_OBJECT

    std::unique_ptr<SlurmCluster> m_slurm; // started by the first SLURM test, shared

    bool haveCluster(QString *error)
    {
        if (m_slurm)
            return true;
        auto cluster = std::make_unique<SlurmCluster>();
        QElapsedTimer timer;
        timer.start();
        if (!cluster->start(error))
            return false;
        qInfo("SlurmCluster started in %lld ms", timer.elapsed());
        m_slurm = std::move(cluster);
        return true;
    }

    /// srun's output; --quiet, since srun says on stderr "job N queued and
    /// waiting for resources" when the job before still completes.
    QString srun(const QStringList &arguments, const QByteArray &input, bool *ok)
    {
        QString output;
        *ok = runCommand(QStringLiteral("srun"), QStringList{QStringLiteral("--quiet")} + arguments,
                         &output, Generous, m_slurm->environment(), input);
        return output;
    }

private Q_SLOTS:
    void initTestCase()
    {
        if (::geteuid() != 0)
            QSKIP("The fixtures start sshd, slurmd and network namespaces: they need root");
    }

    void cleanupTestCase() { m_slurm.reset(); }

    // --- SshServer

    void sshRunsACommandWithOurStdin()
    {
        SshServer server;
        QString error;
        QElapsedTimer timer;
        timer.start();
        QVERIFY2(server.start(&error), qPrintable(error));
        qInfo("SshServer started in %lld ms (port %d)", timer.elapsed(), int(server.port()));
        QCOMPARE(server.destination(), QStringLiteral("root@127.0.0.1"));

        QString output;
        timer.restart();
        QVERIFY2(runCommand(QStringLiteral("ssh"),
                            sshArguments(server, QStringLiteral("echo hi; cat")), &output, Generous,
                            QProcessEnvironment::systemEnvironment(), "secret\n"),
                 qPrintable(output + QStringLiteral("\nsshd log:\n") + server.log()));
        qInfo("ssh echo+cat took %lld ms", timer.elapsed());
        QCOMPARE(output, QStringLiteral("hi\nsecret\n"));

        const QString config = server.configPath();
        const qint64 pid = server.pid();
        QVERIFY(SshServer::processesWithArgument(config).contains(pid));
        server.stop();
        QCOMPARE(SshServer::processesWithArgument(config), QList<qint64>());
        QVERIFY(!QFileInfo::exists(QStringLiteral("/proc/%1").arg(pid)));
    }

    void sshStopEndsARunningSession()
    {
        SshServer server;
        QString error;
        QVERIFY2(server.start(&error), qPrintable(error));
        const QString sleep = uniqueSleep();
        QProcess client;
        client.setProcessChannelMode(QProcess::MergedChannels);
        client.start(QStringLiteral("ssh"), sshArguments(server, QStringLiteral("sleep ") + sleep +
                                                                     QStringLiteral("; :")));
        QVERIFY(client.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(!sleeping(sleep).isEmpty(), Generous);
        server.stop();
        QCOMPARE(sleeping(sleep), QList<qint64>());
        QVERIFY(finishes(&client)); // its connection closed
        QVERIFY(client.exitCode() != 0);
    }

    void sshClientGoneLeavesTheCommandRunning()
    {
        // No pty, no SIGHUP: a launcher must end its remote command itself.
        SshServer server;
        QString error;
        QVERIFY2(server.start(&error), qPrintable(error));
        const QString sleep = uniqueSleep();
        QProcess client;
        client.start(QStringLiteral("ssh"), sshArguments(server, QStringLiteral("sleep ") + sleep +
                                                                     QStringLiteral("; :")));
        QVERIFY(client.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(sleeping(sleep).size() == 1, Generous);
        const qint64 remote = sleeping(sleep).first();
        QVERIFY(isDescendantOf(remote, server.pid()));
        client.kill();
        QVERIFY(finishes(&client));
        // Its session's sshd ends; the command is left, reparented.
        QTRY_VERIFY_WITH_TIMEOUT(!isDescendantOf(remote, server.pid()), Generous);
        QCOMPARE(sleeping(sleep), QList<qint64>{remote});
        server.stop(); // finds it by the environment marker
        QCOMPARE(sleeping(sleep), QList<qint64>());
    }

    void sshStartFailsClearly()
    {
        // An address no interface has: sshd cannot bind and says so.
        SshServer server;
        server.setListenAddress(QStringLiteral("192.0.2.77"));
        QString error;
        QElapsedTimer timer;
        timer.start();
        QVERIFY(!server.start(&error));
        QVERIFY2(timer.elapsed() < 12000, qPrintable(QString::number(timer.elapsed())));
        QVERIFY2(error.contains(QLatin1String("sshd exited")), qPrintable(error));
        QVERIFY2(error.contains(QLatin1String("192.0.2.77")), qPrintable(error));
        QVERIFY2(error.contains(QLatin1String("Cannot assign requested address")),
                 qPrintable(error));
        QCOMPARE(processesWithArgument(server.configPath()), QList<qint64>());
    }

    // --- SlurmCluster

    void slurmStarts()
    {
        QString error;
        QVERIFY2(haveCluster(&error), qPrintable(error));
        QVERIFY(QFileInfo::exists(m_slurm->confPath()));
        QCOMPARE(m_slurm->environment().value(QStringLiteral("SLURM_CONF")), m_slurm->confPath());
        QCOMPARE(m_slurm->runningSteps(), QStringList());
    }

    void srunRunsEcho()
    {
        QString error;
        QVERIFY2(haveCluster(&error), qPrintable(error));
        bool ok = false;
        QElapsedTimer timer;
        timer.start();
        const QString output = srun({QStringLiteral("--ntasks=1"), QStringLiteral("--nodes=1"),
                                     QStringLiteral("/bin/echo"), QStringLiteral("hi")},
                                    {}, &ok);
        qInfo("srun /bin/echo took %lld ms", timer.elapsed());
        QVERIFY2(ok, qPrintable(output + m_slurm->log()));
        QCOMPARE(output, QStringLiteral("hi\n"));
    }

    void srunStdin_data()
    {
        QTest::addColumn<QStringList>("options");
        QTest::addColumn<int>("tasks");
        QTest::addColumn<QString>("expected");
        QTest::newRow("one task, by default the task reads srun's stdin")
            << QStringList() << 1 << QStringLiteral("0:secret\n");
        QTest::newRow("one task, input all")
            << QStringList{QStringLiteral("--input=all")} << 1 << QStringLiteral("0:secret\n");
        QTest::newRow("one task, input 0")
            << QStringList{QStringLiteral("--input=0")} << 1 << QStringLiteral("0:secret\n");
        QTest::newRow("one task, input none gives EOF")
            << QStringList{QStringLiteral("--input=none")} << 1 << QStringLiteral("0:EOF\n");
        QTest::newRow("two tasks, by default each gets a copy")
            << QStringList() << 2 << QStringLiteral("0:secret\n1:secret\n");
        QTest::newRow("two tasks, input 0 gives task 1 EOF")
            << QStringList{QStringLiteral("--input=0")} << 2 << QStringLiteral("0:secret\n1:EOF\n");
    }

    void srunStdin()
    {
        QFETCH(QStringList, options);
        QFETCH(int, tasks);
        QFETCH(QString, expected);
        QString error;
        QVERIFY2(haveCluster(&error), qPrintable(error));
        bool ok = false;
        // --label would prefix; print the rank ourselves so the lines sort.
        const QString output = srun(
            QStringList{QStringLiteral("--ntasks=%1").arg(tasks), QStringLiteral("--nodes=1")} +
                options +
                QStringList{QStringLiteral("/bin/sh"), QStringLiteral("-c"),
                            QStringLiteral("if read -r l; then echo \"$SLURM_PROCID:$l\"; "
                                           "else echo \"$SLURM_PROCID:EOF\"; fi")},
            "secret\n", &ok);
        QVERIFY2(ok, qPrintable(output + m_slurm->log()));
        QStringList lines = output.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        lines.sort();
        QCOMPARE(lines.join(QLatin1Char('\n')) + QLatin1Char('\n'), expected);
    }

    void srunStreamsStdinUntilEof()
    {
        QString error;
        QVERIFY2(haveCluster(&error), qPrintable(error));
        QProcess srun;
        srun.setProcessEnvironment(m_slurm->environment());
        srun.start(QStringLiteral("srun"),
                   {QStringLiteral("--ntasks=1"), QStringLiteral("--nodes=1"),
                    QStringLiteral("/bin/sh"), QStringLiteral("-c"),
                    QStringLiteral("while read -r l; do echo \"got:$l\"; done; echo EOF")});
        QVERIFY(srun.waitForStarted());
        QByteArray seen;
        srun.write("a\n");
        QVERIFY2(waitForOutput(&srun, &seen, "got:a\n", Generous), seen.constData());
        QVERIFY(!seen.contains("EOF")); // still reading: the line came on its own
        srun.write("b\n");
        QVERIFY2(waitForOutput(&srun, &seen, "got:b\n", Generous), seen.constData());
        QVERIFY(!seen.contains("EOF"));
        srun.closeWriteChannel();
        QVERIFY2(waitForOutput(&srun, &seen, "EOF\n", Generous), seen.constData());
        QVERIFY(finishes(&srun));
        QCOMPARE(srun.exitCode(), 0);
        QCOMPARE(seen, QByteArray("got:a\ngot:b\nEOF\n"));
    }

    void scancelEndsTheTask()
    {
        QString error;
        QVERIFY2(haveCluster(&error), qPrintable(error));
        const QString sleep = uniqueSleep();
        QProcess srun;
        srun.setProcessEnvironment(m_slurm->environment());
        srun.setStandardInputFile(QProcess::nullDevice());
        srun.setProcessChannelMode(QProcess::MergedChannels);
        srun.start(QStringLiteral("srun"),
                   {QStringLiteral("--ntasks=1"), QStringLiteral("--nodes=1"),
                    QStringLiteral("--job-name=qpp-sleep"), QStringLiteral("sleep"), sleep});
        QVERIFY(srun.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(!sleeping(sleep).isEmpty(), Generous);
        // The task may run before squeue lists its step.
        QStringList steps;
        QTRY_VERIFY_WITH_TIMEOUT((steps = m_slurm->runningSteps()).size() == 1, Generous);
        QVERIFY2(steps.first().endsWith(QLatin1String(" qpp-sleep")), qPrintable(steps.first()));
        const QString job = steps.first().section(QLatin1Char('.'), 0, 0);

        QString output;
        QElapsedTimer timer;
        timer.start();
        QVERIFY2(runCommand(QStringLiteral("scancel"), {job}, &output, Generous,
                            m_slurm->environment()),
                 qPrintable(output));
        QTRY_VERIFY_WITH_TIMEOUT(sleeping(sleep).isEmpty(), Generous);
        qInfo("scancel ended the task in %lld ms", timer.elapsed());
        QVERIFY(finishes(&srun));
        QVERIFY(srun.exitCode() != 0);
        QTRY_COMPARE_WITH_TIMEOUT(m_slurm->runningSteps(), QStringList(), Generous);
    }

    void slurmStopLeavesNothing()
    {
        QString error;
        QVERIFY2(haveCluster(&error), qPrintable(error));
        // A step still running when the cluster stops ends with it.
        const QString sleep = uniqueSleep();
        QProcess srun;
        srun.setProcessEnvironment(m_slurm->environment());
        srun.setStandardInputFile(QProcess::nullDevice());
        srun.start(QStringLiteral("srun"),
                   {QStringLiteral("--ntasks=1"), QStringLiteral("--nodes=1"),
                    QStringLiteral("sleep"), sleep});
        QVERIFY(srun.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(!sleeping(sleep).isEmpty(), Generous);

        const QString conf = m_slurm->confPath();
        QCOMPARE(processesWithArgument(conf).size(), 2); // slurmctld -f, slurmd -f
        m_slurm->stop();
        QCOMPARE(processesWithArgument(conf), QList<qint64>());
        QCOMPARE(sleeping(sleep), QList<qint64>());
        QVERIFY(finishes(&srun));
        QVERIFY(!QFileInfo::exists(conf));
        m_slurm.reset();
    }

    void destructorsStopEverything()
    {
        // What a failed check leaves to the destructors: running daemons, a
        // running session and a running step.
        QString sshConfig;
        QString slurmConf;
        QString viaSsh = uniqueSleep();
        QString viaSrun = uniqueSleep();
        {
            SshServer server;
            SlurmCluster cluster;
            QString error;
            QVERIFY2(server.start(&error), qPrintable(error));
            QVERIFY2(cluster.start(&error), qPrintable(error));
            sshConfig = server.configPath();
            slurmConf = cluster.confPath();
            QProcess ssh;
            ssh.start(QStringLiteral("ssh"),
                      sshArguments(server,
                                   QStringLiteral("sleep ") + viaSsh + QStringLiteral("; :")));
            QProcess srun;
            srun.setProcessEnvironment(cluster.environment());
            srun.setStandardInputFile(QProcess::nullDevice());
            srun.start(QStringLiteral("srun"), {QStringLiteral("sleep"), viaSrun});
            QTRY_VERIFY_WITH_TIMEOUT(!sleeping(viaSsh).isEmpty(), Generous);
            QTRY_VERIFY_WITH_TIMEOUT(!sleeping(viaSrun).isEmpty(), Generous);
            QCOMPARE(processesWithArgument(sshConfig).size(), 1);
            QCOMPARE(processesWithArgument(slurmConf).size(), 2);
            // The clients go first (declared last), the daemons after them.
        }
        QCOMPARE(processesWithArgument(sshConfig), QList<qint64>());
        QCOMPARE(processesWithArgument(slurmConf), QList<qint64>());
        QCOMPARE(sleeping(viaSsh), QList<qint64>());
        QCOMPARE(sleeping(viaSrun), QList<qint64>());
    }

    // --- NetworkNamespace

    void namespaceReachableUntilCut()
    {
        QString error;
        QString name;
        QString hostIf;
        {
            NetworkNamespace ns;
            QElapsedTimer timer;
            timer.start();
            QVERIFY2(ns.create(&error), qPrintable(error));
            qInfo("NetworkNamespace created in %lld ms", timer.elapsed());
            name = ns.name();
            hostIf = ns.hostInterface();
            QVERIFY(name.startsWith(QLatin1String("qpp-")));
            QVERIFY(QFileInfo::exists(QStringLiteral("/run/netns/") + name));
            QCOMPARE(ns.enterCommand(), QStringList({QStringLiteral("nsenter"),
                                                     QStringLiteral("--net=/run/netns/") + name}));

            SshServer server; // destroyed before ns: nothing keeps the namespace
            server.setListenAddress(ns.nsAddress());
            server.setNetworkNamespace(ns.name());
            timer.restart();
            QVERIFY2(server.start(&error), qPrintable(error));
            qInfo("SshServer in the namespace started in %lld ms", timer.elapsed());
            // It really runs in the namespace, and is reached over the veth.
            QVERIFY(QFile::symLinkTarget(QStringLiteral("/proc/%1/ns/net").arg(server.pid())) !=
                    QFile::symLinkTarget(QStringLiteral("/proc/self/ns/net")));
            QVERIFY(!canConnect(QStringLiteral("127.0.0.1"), server.port(), 1000));
            QVERIFY(canConnect(ns.nsAddress(), server.port(), 5000));
            QString output;
            QVERIFY2(runCommand(QStringLiteral("ssh"),
                                sshArguments(server, QStringLiteral("echo hi")), &output, Generous),
                     qPrintable(output + server.log()));
            QCOMPARE(output, QStringLiteral("hi\n"));

            QVERIFY(ns.setLinkUp(false));
            QVERIFY(!canConnect(ns.nsAddress(), server.port(), 3000));
            QVERIFY(ns.setLinkUp(true));
            QTRY_VERIFY_WITH_TIMEOUT(canConnect(ns.nsAddress(), server.port(), 2000), Generous);

            server.stop();
            QCOMPARE(processesWithArgument(server.configPath()), QList<qint64>());
            ns.remove();
            QVERIFY(ns.name().isEmpty());
            QString list;
            QVERIFY(runCommand(QStringLiteral("ip"),
                               {QStringLiteral("netns"), QStringLiteral("list")}, &list));
            QVERIFY2(!list.contains(name), qPrintable(list));
            QVERIFY(!QFileInfo::exists(QStringLiteral("/sys/class/net/") + hostIf));
        }
    }

    void namespaceDestructorRemoves()
    {
        QString error;
        QString name;
        {
            NetworkNamespace ns;
            QVERIFY2(ns.create(&error), qPrintable(error));
            name = ns.name();
        }
        QVERIFY(!QFileInfo::exists(QStringLiteral("/run/netns/") + name));
    }
};

QTEST_GUILESS_MAIN(TestFixtures)
#include "tst_fixtures.moc"
