// SPDX-License-Identifier: MIT
// WorkerOutput: a process's stdout and stderr forwarded in prefixed batches.
// The process is a shell, not a worker: only the forwarding is under test.
#include "pool/workeroutput.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QRegularExpression>
#include <QtTest/QTest>

#include <cstdio>
#include <vector>

using namespace QtProcessPool;

namespace {

struct Received
{
    qint64 pid;
    QProcess::ProcessChannel channel;
    QString lines;
};

/// Runs script in a shell, forwarding its output until it ended and was flushed.
struct Run
{
    std::vector<Received> received;
    QByteArray echoed;
    qint64 pid = 0;
    qint64 elapsedMs = 0;

    explicit Run(const QString &script)
    {
        std::FILE *echo = std::tmpfile();
        QProcess process;
        WorkerOutput output;
        process.start(QStringLiteral("/bin/sh"), {QStringLiteral("-c"), script});
        if (!process.waitForStarted(10000))
            return;
        pid = process.processId();
        output.attach(
            &process, pid,
            [this](qint64 from, QProcess::ProcessChannel channel, const QString &lines) {
                received.push_back({from, channel, lines});
            },
            echo);
        QElapsedTimer clock;
        clock.start();
        QTRY_COMPARE_WITH_TIMEOUT(process.state(), QProcess::NotRunning, 30000);
        elapsedMs = clock.elapsed();
        output.flush();
        std::fflush(echo);
        std::rewind(echo);
        char buffer[65536];
        for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, echo)) > 0;)
            echoed.append(buffer, qsizetype(n));
        std::fclose(echo);
    }
    QString joined(QProcess::ProcessChannel channel) const
    {
        QStringList parts;
        for (const Received &r : received) {
            if (r.channel == channel)
                parts << r.lines;
        }
        return parts.join(QLatin1Char('\n'));
    }
    int batches(QProcess::ProcessChannel channel) const
    {
        return int(std::count_if(received.begin(), received.end(),
                                 [channel](const Received &r) { return r.channel == channel; }));
    }
};

} // namespace

class TestWorkerOutput : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void linesArePrefixedAndForwarded()
    {
        const Run run(QStringLiteral("echo one; echo two >&2; echo three; printf last"));
        QVERIFY(run.pid > 0);
        QCOMPARE(run.joined(QProcess::StandardOutput), QStringLiteral("one\nthree\nlast"));
        QCOMPARE(run.joined(QProcess::StandardError), QStringLiteral("two"));
        for (const Received &r : run.received)
            QCOMPARE(r.pid, run.pid);
        const QByteArray prefix = "[worker " + QByteArray::number(run.pid) + "] ";
        QVERIFY2(run.echoed.contains(prefix + "one\n"), run.echoed.constData());
        QVERIFY2(run.echoed.contains(prefix + "two\n"), run.echoed.constData());
        QVERIFY2(run.echoed.contains(prefix + "last\n"), run.echoed.constData());
    }

    void floodComesInFewBatches()
    {
        constexpr int Lines = 200000;
        const Run run(QStringLiteral("i=0; while [ $i -lt %1 ]; do echo line $i; i=$((i+1)); "
                                     "done")
                          .arg(Lines));
        // Every line arrives or is counted as dropped.
        const QString all = run.joined(QProcess::StandardOutput);
        int dropped = 0;
        const QRegularExpression droppedLine(
            QStringLiteral("\\[qtprocesspool: (\\d+) lines of worker output dropped\\]"));
        for (auto it = droppedLine.globalMatch(all); it.hasNext();)
            dropped += it.next().captured(1).toInt();
        const int delivered = int(all.count(QStringLiteral("line ")));
        QCOMPARE(delivered + dropped, Lines);
        QVERIFY(all.startsWith(QStringLiteral("line 0\n")));
        // One at once, then at most one per interval (generous: timers fire late, not early).
        const int batches = run.batches(QProcess::StandardOutput);
        QVERIFY2(batches <= 2 + run.elapsedMs / WorkerOutput::IntervalMs,
                 qPrintable(QStringLiteral("%1 batches in %2 ms").arg(batches).arg(run.elapsedMs)));
    }

    void silentProcessForwardsNothing()
    {
        const Run run(QStringLiteral("exit 0"));
        QVERIFY(run.received.empty());
        QVERIFY(run.echoed.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestWorkerOutput)
#include "tst_workeroutput.moc"
