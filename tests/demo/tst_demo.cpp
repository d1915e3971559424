// SPDX-License-Identifier: MIT
// Runs the Widgets demo (qtprocesspool-demo) headless, as a user of the
// command line would, and checks what it prints and the screenshot it writes.
#include <QtCore/QCoreApplication>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>
#include <QtGui/QImage>
#include <QtTest/QTest>

namespace {

constexpr int DemoTimeoutMs = 110'000; // ctest gives each test 120 s
const QSize WindowSize(1280, 800);

struct Run
{
    int exitCode = -1;
    QString output;
};

/// Runs the demo with args on the offscreen platform, 2 workers and a light
/// image, and returns its exit code and standard output.
Run runDemo(const QStringList &args)
{
    QProcess demo;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    demo.setProcessEnvironment(environment);
    demo.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    demo.start(
        QStringLiteral(QPP_DEMO_PROGRAM),
        QStringList{QStringLiteral("--workers"), QStringLiteral("2"),
                    QStringLiteral("--iterations"), QStringLiteral("400"), QStringLiteral("--size"),
                    QStringLiteral("%1x%2").arg(WindowSize.width()).arg(WindowSize.height())} +
            args);
    Run run;
    if (!demo.waitForStarted()) {
        run.output = demo.errorString();
        return run;
    }
    if (!demo.waitForFinished(DemoTimeoutMs)) {
        demo.kill();
        demo.waitForFinished();
        run.output =
            QString::fromLocal8Bit(demo.readAllStandardOutput()) +
            QStringLiteral("\n(killed: still running after %1 s)").arg(DemoTimeoutMs / 1000);
        return run;
    }
    run.output = QString::fromLocal8Bit(demo.readAllStandardOutput());
    run.exitCode = demo.exitStatus() == QProcess::NormalExit ? demo.exitCode() : -1;
    return run;
}

/// The first capture of pattern in text, empty if it does not match.
QString capture(const QString &text, const QString &pattern)
{
    const QRegularExpressionMatch match =
        QRegularExpression(pattern, QRegularExpression::MultilineOption).match(text);
    return match.hasMatch() ? match.captured(1) : QString();
}

} // namespace

class TestDemo : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    // --screenshot renders the image on the pool: every tile comes from a
    // worker process, and the window grab shows a real picture.
    void screenshot()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString file = dir.filePath(QStringLiteral("demo.png"));
        const Run run = runDemo({QStringLiteral("--screenshot"), file});
        QVERIFY2(run.exitCode == 0, qPrintable(run.output));

        const QString mainPid = capture(run.output, QStringLiteral("^main pid: (\\d+)$"));
        const QString tiles = capture(run.output, QStringLiteral("^tiles: (\\d+) rendered by"));
        const QString workers =
            capture(run.output, QStringLiteral("^tiles: \\d+ rendered by workers: ([\\d ]+)$"));
        QVERIFY2(!mainPid.isEmpty() && !workers.isEmpty(), qPrintable(run.output));
        QCOMPARE(tiles, QStringLiteral("64"));
        QCOMPARE(capture(run.output, QStringLiteral("^failed tiles: (\\d+)$")),
                 QStringLiteral("0"));
        const QStringList pids = workers.split(QLatin1Char(' '), Qt::SkipEmptyParts);
        QVERIFY(!pids.isEmpty());
        for (const QString &pid : pids) {
            QVERIFY2(pid != mainPid, qPrintable(QStringLiteral("a tile was rendered by the GUI "
                                                               "process itself:\n") +
                                                run.output));
            QVERIFY(pid.toLongLong() > 0);
            QVERIFY(pid.toLongLong() != QCoreApplication::applicationPid());
        }

        const QImage image(file);
        QVERIFY2(!image.isNull(), qPrintable(file));
        QCOMPARE(image.size(), WindowSize);
        // A real picture, not a blank or single-colour window: many colours,
        // in the image area and across the whole grab.
        QSet<QRgb> colors;
        for (int y = 0; y < image.height(); y += 3) {
            for (int x = 0; x < image.width(); x += 3)
                colors.insert(image.pixel(x, y) & 0xffffff);
        }
        QVERIFY2(colors.size() > 500,
                 qPrintable(QStringLiteral("only %1 colours").arg(colors.size())));
        QSet<QRgb> centre;
        for (int y = image.height() / 4; y < image.height() * 3 / 4; y += 2)
            centre.insert(image.pixel(image.width() / 3, y) & 0xffffff);
        QVERIFY2(centre.size() > 20, "the middle of the image is nearly uniform");
    }

    // "Crash a worker" during a render: the worker dies of SIGSEGV, its tile
    // fails, a replacement worker renders the rest and the demo exits 0.
    void crash()
    {
        const Run run = runDemo({QStringLiteral("--crash-test")});
        QVERIFY2(run.exitCode == 0, qPrintable(run.output));
        QVERIFY2(run.output.contains(QStringLiteral("crash test: passed")), qPrintable(run.output));
        QVERIFY2(run.output.contains(QStringLiteral("crashed with SIGSEGV")),
                 qPrintable(run.output));
        QVERIFY2(!capture(run.output, QStringLiteral("by new worker\\(s\\) (\\d+)")).isEmpty(),
                 qPrintable(run.output));
    }

    // "Hang a worker": the tile times out after 2 s, its worker is killed and
    // replaced, the render completes.
    void hang()
    {
        const Run run = runDemo({QStringLiteral("--hang-test")});
        QVERIFY2(run.exitCode == 0, qPrintable(run.output));
        QVERIFY2(run.output.contains(QStringLiteral("hang test: passed")), qPrintable(run.output));
        QVERIFY2(run.output.contains(QStringLiteral("(TimedOut)")), qPrintable(run.output));
    }
};

QTEST_GUILESS_MAIN(TestDemo)

#include "tst_demo.moc"
