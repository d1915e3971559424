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

namespace {
/// Under scratch: a directory that does not exist, a regular file, and a
/// directory whose socket path would not fit sun_path.
QStringList badCandidates(const QTemporaryDir &scratch)
{
    const QString file = scratch.filePath(QStringLiteral("a-file"));
    QFile touch(file);
    if (touch.open(QIODevice::WriteOnly))
        touch.close();
    return {scratch.filePath(QStringLiteral("missing/below")), file,
            scratch.filePath(QString(120, QLatin1Char('d')))};
}
} // namespace

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
    const QStringList bad = badCandidates(scratch);
    QVERIFY(QFileInfo(bad.at(1)).isFile());
    const QString &missing = bad.at(0);
    const QString &file = bad.at(1);
    const QString &tooLong = bad.at(2);
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
    const QStringList bad = badCandidates(scratch);
    QVERIFY(QFileInfo(bad.at(1)).isFile());
    const QString &missing = bad.at(0);
    const QString &file = bad.at(1);
    const QString &tooLong = bad.at(2);
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
