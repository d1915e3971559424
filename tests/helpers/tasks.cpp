// SPDX-License-Identifier: MIT
#include "tasks.h"

#include <QtProcessPool/Registry>

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <csignal>
#include <cstdlib>
#include <stdexcept>

namespace TestTasks {

QDataStream &operator<<(QDataStream &out, const Point &p)
{
    return out << qint32(p.x) << p.label;
}
QDataStream &operator>>(QDataStream &in, Point &p)
{
    qint32 x = 0;
    in >> x >> p.label;
    p.x = x;
    return in;
}

QDataStream &operator<<(QDataStream &out, const HugeCount &)
{
    return out << quint32(2000000000);
}
QDataStream &operator>>(QDataStream &in, HugeCount &h)
{
    in >> h.items;
    if (in.status() != QDataStream::Ok)
        throw std::runtime_error("corrupt HugeCount");
    return in;
}
HugeCount makeHugeCount()
{
    return {};
}
int countItems(const HugeCount &h)
{
    return int(h.items.size());
}

int square(int x)
{
    return x * x;
}
double scale(double value, double factor)
{
    return value * factor;
}
QString greet(const QString &name)
{
    return QStringLiteral("hello, ") + name;
}
QByteArray reversed(QByteArray bytes)
{
    std::reverse(bytes.begin(), bytes.end());
    return bytes;
}
QList<int> doubled(const QList<int> &values)
{
    QList<int> out;
    for (int v : values)
        out.append(2 * v);
    return out;
}
QMap<QString, int> wordLengths(const QString &text)
{
    QMap<QString, int> out;
    for (const QString &word : text.split(QLatin1Char(' '), Qt::SkipEmptyParts))
        out.insert(word, int(word.size()));
    return out;
}
QHash<QString, QList<double>> halves(const QHash<QString, QList<double>> &input)
{
    QHash<QString, QList<double>> out;
    for (auto it = input.begin(); it != input.end(); ++it) {
        QList<double> values;
        for (double v : it.value())
            values.append(v / 2);
        out.insert(it.key(), values);
    }
    return out;
}
QVariantMap describe(const QVariantMap &input)
{
    QVariantMap out = input;
    out.insert(QStringLiteral("keys"), int(input.size()));
    out.insert(QStringLiteral("pid"), QCoreApplication::applicationPid());
    return out;
}
Point movePoint(Point p, int dx)
{
    p.x += dx;
    p.label += QStringLiteral(" moved");
    return p;
}
void doNothing(int) {}
QString appendBang(QString &text)
{
    text += QLatin1Char('!');
    return text;
}
void countTo(QPromise<int> &promise, int n)
{
    for (int i = 1; i <= n; ++i)
        promise.addResult(i);
}
QByteArray patternBytes(int bytes, int seed)
{
    QByteArray out(bytes, Qt::Uninitialized);
    for (int i = 0; i < bytes; ++i)
        out[i] = char((i * 131 + seed * 7 + 1) & 0xff);
    return out;
}
void bigChunks(QPromise<QByteArray> &promise, int count, int bytes)
{
    for (int i = 0; i < count; ++i)
        promise.addResult(patternBytes(bytes, i));
}
QByteArray bigResult(int bytes)
{
    QByteArray out(bytes, Qt::Uninitialized);
    for (int i = 0; i < bytes; ++i)
        out[i] = char(i % 251);
    return out;
}
qint64 workerPid()
{
    return QCoreApplication::applicationPid();
}
QStringList workerArguments()
{
    return QCoreApplication::arguments();
}
QStringList openDescriptorTargets()
{
    QStringList targets;
    const QDir fds(QStringLiteral("/proc/self/fd"));
    for (const QString &fd :
         fds.entryList(QDir::AllEntries | QDir::System | QDir::Hidden | QDir::NoDotAndDotDot))
        targets.append(QFile::symLinkTarget(fds.filePath(fd)));
    return targets;
}

int throwRuntime(const QString &message)
{
    throw std::runtime_error(message.toStdString());
}
int throwCustom()
{
    throw CustomError("custom failure");
}
int throwInt()
{
    throw 42;
}
int throwNonStd()
{
    throw NotAnException{};
}

int crashSegv()
{
    std::raise(SIGSEGV);
    return 0;
}
int crashAbort()
{
    std::abort();
}
int crashExit(int code)
{
    std::_Exit(code);
}
int sleepForever()
{
    for (;;)
        QThread::sleep(1);
}
int sleepThenSquare(int ms, int x)
{
    QThread::msleep(ulong(ms));
    return x * x;
}

int squareAfterEventLoop(int ms, int x)
{
    QEventLoop loop;
    QTimer::singleShot(ms, &loop, &QEventLoop::quit);
    loop.exec();
    return x * x;
}

int MathTasks::cube(int x)
{
    return x * x * x;
}

int notRegistered(int x)
{
    return x;
}

} // namespace TestTasks

using namespace TestTasks;

QPP_REGISTER_TASK(square)
QPP_REGISTER_TASK(makeHugeCount)
QPP_REGISTER_TASK(countItems)
QPP_REGISTER_TASK(scale)
QPP_REGISTER_TASK(greet)
QPP_REGISTER_TASK(reversed)
QPP_REGISTER_TASK(doubled)
QPP_REGISTER_TASK(wordLengths)
QPP_REGISTER_TASK(halves)
QPP_REGISTER_TASK(describe)
QPP_REGISTER_TASK(movePoint)
QPP_REGISTER_TASK(doNothing)
QPP_REGISTER_TASK(appendBang)
QPP_REGISTER_TASK(countTo)
QPP_REGISTER_TASK(bigChunks)
QPP_REGISTER_TASK(bigResult)
QPP_REGISTER_TASK(workerPid)
QPP_REGISTER_TASK(workerArguments)
QPP_REGISTER_TASK(openDescriptorTargets)
QPP_REGISTER_TASK(throwRuntime)
QPP_REGISTER_TASK(throwCustom)
QPP_REGISTER_TASK(throwInt)
QPP_REGISTER_TASK(throwNonStd)
QPP_REGISTER_TASK(crashSegv)
QPP_REGISTER_TASK(crashAbort)
QPP_REGISTER_TASK(crashExit)
QPP_REGISTER_TASK(sleepForever)
QPP_REGISTER_TASK(sleepThenSquare)
QPP_REGISTER_TASK(squareAfterEventLoop)
QPP_REGISTER_TASK(MathTasks::cube)
QPP_REGISTER_TASK_AS("add", [](int a, int b) { return a + b; })
QPP_REGISTER_TASK_AS("multiply", Multiplier{})

namespace TestTasks {
QString applicationClass()
{
    return QString::fromLatin1(QCoreApplication::instance()->metaObject()->className());
}
} // namespace TestTasks
QPP_REGISTER_TASK(applicationClass)

namespace TestTasks {
void streamNumbers(QPromise<int> &promise, int n)
{
    promise.setProgressRange(0, n);
    for (int i = 1; i <= n; ++i) {
        promise.addResult(i);
        promise.setProgressValue(i);
    }
}
void progressFlood(QPromise<int> &promise, int updates)
{
    promise.setProgressRange(0, updates);
    for (int i = 1; i <= updates; ++i)
        promise.setProgressValueAndText(i, QStringLiteral("step %1").arg(i));
    promise.addResult(updates);
}
void waitForCancel(QPromise<int> &promise, const QString &marker)
{
    while (!promise.isCanceled())
        QThread::msleep(1);
    QFile file(marker);
    if (file.open(QIODevice::WriteOnly))
        file.write("canceled");
}
int touchFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) ? 1 : 0;
}
} // namespace TestTasks
QPP_REGISTER_TASK(streamNumbers)
QPP_REGISTER_TASK(progressFlood)
QPP_REGISTER_TASK(waitForCancel)
QPP_REGISTER_TASK(touchFile)

namespace TestTasks {
int failOnThirteen(int x)
{
    if (x == 13)
        throw std::domain_error("unlucky item");
    return x;
}
int slowSquare(int x)
{
    QThread::msleep(50);
    return x * x;
}
void recordItem(const QString &path)
{
    QFile file(path);
    if (file.open(QIODevice::Append))
        file.write("x\n");
}
} // namespace TestTasks
QPP_REGISTER_TASK(failOnThirteen)
QPP_REGISTER_TASK(slowSquare)
QPP_REGISTER_TASK(recordItem)

namespace TestTasks {
void suspendable(QPromise<int> &promise, int n)
{
    for (int i = 1; i <= n; ++i) {
        promise.suspendIfRequested();
        if (promise.isCanceled())
            return;
        promise.addResult(i);
        QThread::msleep(10);
    }
}
} // namespace TestTasks
QPP_REGISTER_TASK(suspendable)

namespace TestTasks {
void progressTo(QPromise<int> &promise, int value, int maximum)
{
    promise.setProgressRange(0, maximum);
    for (int i = 1; i <= value; ++i) {
        promise.setProgressValue(i);
        QThread::msleep(1);
    }
}
} // namespace TestTasks
QPP_REGISTER_TASK(progressTo)

#include <cstdio>
#include <memory>
#include <vector>

namespace TestTasks {
namespace {
int g_initValue = -1;
int g_initCalls = 0;
// Kept reachable so that LeakSanitizer does not fail the worker at exit: the
// point is memory that grows and is never given back, like a cache gone wrong.
std::vector<std::unique_ptr<char[]>> g_leaked;
} // namespace

int leakMegabytes(int megabytes)
{
    const size_t size = size_t(megabytes) * 1024 * 1024;
    g_leaked.push_back(std::make_unique<char[]>(size));
    for (size_t i = 0; i < size; i += 4096)
        g_leaked.back()[i] = 1; // resident, not just reserved
    return megabytes;           // and never freed
}
qint64 allocateBytes(qint64 bytes)
{
    std::vector<char> block(size_t(bytes), 1);
    return qint64(block.size());
}
void setInitValue(int value)
{
    g_initValue = value;
    ++g_initCalls;
}
int initValue()
{
    return g_initValue;
}
int initCalls()
{
    return g_initCalls;
}
QString environmentVariable(const QString &name)
{
    return qEnvironmentVariable(name.toLocal8Bit().constData());
}
QString eventDispatcherClass()
{
    return QString::fromLatin1(QAbstractEventDispatcher::instance()->metaObject()->className());
}
QString currentDirectory()
{
    return QDir::currentPath();
}
void printLines(const QString &text)
{
    std::fprintf(stdout, "out: %s\n", qPrintable(text));
    std::fflush(stdout);
    std::fprintf(stderr, "err: %s\n", qPrintable(text));
    std::fflush(stderr);
}
} // namespace TestTasks
QPP_REGISTER_TASK(leakMegabytes)
QPP_REGISTER_TASK(allocateBytes)
QPP_REGISTER_TASK(setInitValue)
QPP_REGISTER_TASK(initValue)
QPP_REGISTER_TASK(initCalls)
QPP_REGISTER_TASK(environmentVariable)
QPP_REGISTER_TASK(eventDispatcherClass)
QPP_REGISTER_TASK(currentDirectory)
QPP_REGISTER_TASK(printLines)

namespace TestTasks {
QDataStream &operator<<(QDataStream &out, const EmptyResult &)
{
    return out;
}
QDataStream &operator>>(QDataStream &in, EmptyResult &)
{
    return in;
}
EmptyResult makeEmpty()
{
    return {};
}
EmptyResult emptyFor(int)
{
    return {};
}
void emptyStream(QPromise<EmptyResult> &promise, int n)
{
    for (int i = 0; i < n; ++i)
        promise.addResult(EmptyResult{});
}
} // namespace TestTasks
QPP_REGISTER_TASK(makeEmpty)
QPP_REGISTER_TASK(emptyFor)
QPP_REGISTER_TASK(emptyStream)
