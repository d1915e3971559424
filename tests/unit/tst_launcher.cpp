// SPDX-License-Identifier: MIT
// LocalLauncher: what a started worker gets -- its arguments, its
// credentials on stdin (never in argv), its own process group, its memory
// limit, no descriptor but stdio and the side channel. The "worker" is a
// shell that reports what it got: only the launch is under test.
#include "pool/launcher.h"
#include "protocol/messages.h"

#include <QtCore/QDir>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

#include <fcntl.h>
#include <unistd.h>

using namespace QtProcessPool;

namespace {

// $1 is the worker flag, $2 the server name: LocalLauncher appends them.
const char *const Report = R"sh(read -r line
read -r more && echo "second line: $more"
echo "args: $1 $2"
echo "stdin: $line"
echo "group: $(ps -o pgid= $$ | tr -d ' ') pid: $$"
echo "limit: $(ulimit -v)"
echo "cwd: $(pwd)"
echo "env: ${QPP_LAUNCH_TEST:-unset}"
)sh";

/// The report's "key: value" lines.
QMap<QString, QString> launch(const LaunchSpec &spec, const Credentials &credentials)
{
    QProcess process;
    LocalLauncher::prepare(&process, spec, credentials.bodiesFd);
    LocalLauncher::start(&process, credentials);
    QMap<QString, QString> report;
    if (!process.waitForFinished(10000))
        return report;
    for (const QByteArray &line : process.readAllStandardOutput().split('\n')) {
        const qsizetype colon = line.indexOf(": ");
        if (colon > 0)
            report.insert(QString::fromLatin1(line.left(colon)),
                          QString::fromLatin1(line.mid(colon + 2)).trimmed());
    }
    return report;
}

LaunchSpec shellSpec()
{
    LaunchSpec spec;
    spec.program = QStringLiteral("/bin/sh");
    spec.arguments = {QStringLiteral("-c"), QString::fromLatin1(Report), QStringLiteral("sh")};
    spec.serverName = QStringLiteral("/tmp/qpp-test/socket");
    return spec;
}

bool isOpen(int fd)
{
    return ::fcntl(fd, F_GETFD) != -1;
}

} // namespace

class TestLauncher : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void workerGetsItsCredentialsOnStdin()
    {
        const QByteArray secret = "\x01\x02\xfe\xff";
        const auto report = launch(shellSpec(), {5, secret, -1});
        QCOMPARE(
            report.value(QStringLiteral("args")),
            QStringLiteral("%1 /tmp/qpp-test/socket").arg(QLatin1String(protocol::WorkerFlag)));
        QCOMPARE(report.value(QStringLiteral("stdin")), QStringLiteral("5 0102feff"));
        QVERIFY(!report.contains(QStringLiteral("second line"))); // stdin closed after it
    }

    void workerLeadsItsOwnGroup()
    {
        const auto report = launch(shellSpec(), {1, "s", -1});
        const QStringList ids = report.value(QStringLiteral("group")).split(QLatin1Char(' '));
        QCOMPARE(ids.size(), 3); // "<pgid> pid: <pid>"
        QCOMPARE(ids.first(), ids.last());
        QVERIFY(ids.first().toLongLong() != ::getpgrp());
    }

    void memoryLimitApplies()
    {
        LaunchSpec spec = shellSpec();
        spec.memoryLimit = qint64(512) << 20;
        QCOMPARE(launch(spec, {1, "s", -1}).value(QStringLiteral("limit")),
                 QStringLiteral("524288")); // KiB
        QCOMPARE(launch(shellSpec(), {1, "s", -1}).value(QStringLiteral("limit")),
                 QStringLiteral("unlimited"));
    }

    void onlyStdioAndTheSideChannelAreInherited()
    {
        // A descriptor of ours without close-on-exec must not leak into it.
        const int leaky = ::open("/dev/null", O_RDONLY);
        QVERIFY(leaky >= 0);
        int pair[2];
        QCOMPARE(::pipe(pair), 0); // stands in for the side channel's worker end
        ::close(pair[0]);
        LaunchSpec spec = shellSpec();
        // The shell lists its own descriptors while it waits for ls, holding no
        // others. (Read from outside, a listing could catch a program starting
        // up with its libraries or locale open.)
        spec.arguments[1] = QStringLiteral("read -r line; echo \"$line\"; ls /proc/$$/fd");
        QProcess process;
        LocalLauncher::prepare(&process, spec, pair[1]);
        LocalLauncher::start(&process, {2, "s", pair[1]});
        ::close(leaky);
        QVERIFY(!isOpen(pair[1])); // ours is closed once the child has it
        QVERIFY(process.waitForFinished(10000));
        QCOMPARE(process.exitCode(), 0);
        QList<QByteArray> lines = process.readAllStandardOutput().trimmed().split('\n');
        QCOMPARE(lines.value(0), QByteArray("2 73 ") + QByteArray::number(pair[1]));
        QStringList fds;
        for (const QByteArray &line : lines.mid(1))
            fds.append(QString::fromLatin1(line));
        QStringList expected = {QStringLiteral("0"), QStringLiteral("1"), QStringLiteral("2"),
                                QString::number(pair[1])};
        expected.sort();
        fds.sort();
        QCOMPARE(fds, expected);
    }

    void environmentAndDirectory()
    {
        QTemporaryDir directory;
        LaunchSpec spec = shellSpec();
        spec.workingDirectory = directory.path();
        spec.environment = QProcessEnvironment::systemEnvironment();
        spec.environment.insert(QStringLiteral("QPP_LAUNCH_TEST"), QStringLiteral("yes"));
        spec.environmentSet = true;
        const auto report = launch(spec, {1, "s", -1});
        QCOMPARE(report.value(QStringLiteral("cwd")), directory.path());
        QCOMPARE(report.value(QStringLiteral("env")), QStringLiteral("yes"));
        QCOMPARE(launch(shellSpec(), {1, "s", -1}).value(QStringLiteral("env")),
                 QStringLiteral("unset"));
    }

    void programThatCannotStart()
    {
        int pair[2];
        QCOMPARE(::pipe(pair), 0);
        ::close(pair[0]);
        LaunchSpec spec = shellSpec();
        spec.program = QStringLiteral("/nonexistent/qpp-worker");
        QProcess process;
        LocalLauncher::prepare(&process, spec, pair[1]);
        LocalLauncher::start(&process, {1, "s", pair[1]});
        QVERIFY(!process.waitForStarted(10000));
        QCOMPARE(process.error(), QProcess::FailedToStart);
        QVERIFY(!isOpen(pair[1])); // closed either way
    }
};

QTEST_GUILESS_MAIN(TestLauncher)
#include "tst_launcher.moc"
