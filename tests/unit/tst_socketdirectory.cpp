// SPDX-License-Identifier: MIT
// Where the pool's socket directory goes, and what it says when it cannot
// make one: plain function calls, no pool, no process.
#include "pool/socketdirectory.h"

#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

#include <sys/stat.h>

using namespace QtProcessPool;

class TestSocketDirectory : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void firstUsableCandidateWins();
    void everyRefusalIsNamed();
    void candidatesFollowTheEnvironment();
};

void TestSocketDirectory::firstUsableCandidateWins()
{
    QTemporaryDir scratch;
    QVERIFY(scratch.isValid());
    const QString missing = scratch.filePath(QStringLiteral("missing/below"));
    const QString file = scratch.filePath(QStringLiteral("a-file"));
    QFile touch(file);
    QVERIFY(touch.open(QIODevice::WriteOnly));
    touch.close();
    const QString tooLong = scratch.filePath(QString(120, QLatin1Char('d')));
    const QString good = scratch.filePath(QStringLiteral("good"));
    QVERIFY(QDir().mkpath(good));

    QString error;
    const auto directory = createSocketDirectory(&error, {missing, file, tooLong, good});
    QVERIFY2(directory, qPrintable(error));
    QCOMPARE(QFileInfo(directory->path()).absolutePath(), QFileInfo(good).absoluteFilePath());
    struct stat info = {};
    QCOMPARE(::stat(QFile::encodeName(directory->path()).constData(), &info), 0);
    QCOMPARE(int(info.st_mode & 0777), 0700);
    const QString socket = directory->filePath(QLatin1String(SocketFileName));
    QVERIFY(QFile::encodeName(socket).size() <= 107);
}

void TestSocketDirectory::everyRefusalIsNamed()
{
    QTemporaryDir scratch;
    const QString missing = scratch.filePath(QStringLiteral("missing"));
    const QString file = scratch.filePath(QStringLiteral("a-file"));
    QFile touch(file);
    QVERIFY(touch.open(QIODevice::WriteOnly));
    touch.close();
    const QString tooLong = scratch.filePath(QString(120, QLatin1Char('d')));
    QString error;
    QVERIFY(!createSocketDirectory(&error, {missing, file, tooLong}));
    QVERIFY2(error.contains(missing) && error.contains(file) && error.contains(tooLong),
             qPrintable(error));
    QVERIFY2(error.contains(QLatin1String("more than the 107 a local socket address holds")),
             qPrintable(error));
}

void TestSocketDirectory::candidatesFollowTheEnvironment()
{
    QTemporaryDir runtime;
    QTemporaryDir temp;
    const QByteArray oldRuntime = qgetenv("XDG_RUNTIME_DIR");
    const QByteArray oldTemp = qgetenv("TMPDIR");
    qputenv("TMPDIR", QFile::encodeName(temp.path()));
    qputenv("XDG_RUNTIME_DIR", QFile::encodeName(runtime.path()));
    ::chmod(QFile::encodeName(runtime.path()).constData(), 0700);
    const QStringList privateFirst = socketDirectoryCandidates();
    ::chmod(QFile::encodeName(runtime.path()).constData(), 0750);
    const QStringList groupReadable = socketDirectoryCandidates();
    qputenv("XDG_RUNTIME_DIR", oldRuntime);
    qputenv("TMPDIR", oldTemp);
    QCOMPARE(privateFirst, (QStringList{runtime.path(), temp.path(), QStringLiteral("/tmp")}));
    QCOMPARE(groupReadable, (QStringList{temp.path(), QStringLiteral("/tmp")}));
}

QTEST_GUILESS_MAIN(TestSocketDirectory)
#include "tst_socketdirectory.moc"
