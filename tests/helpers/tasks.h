// SPDX-License-Identifier: MIT
// Tasks the integration tests run in real workers, well-behaved and not.
#ifndef QTPROCESSPOOL_TESTS_TASKS_H
#define QTPROCESSPOOL_TESTS_TASKS_H

#include <QtCore/QByteArray>
#include <QtCore/QDataStream>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QPromise>
#include <QtCore/QString>
#include <QtCore/QVariantMap>

#include <stdexcept>

namespace TestTasks {

struct Point
{
    int x = 0;
    QString label;
    friend bool operator==(const Point &a, const Point &b)
    {
        return a.x == b.x && a.label == b.label;
    }
};
QDataStream &operator<<(QDataStream &out, const Point &p);
QDataStream &operator>>(QDataStream &in, Point &p);

class CustomError : public std::logic_error
{
public:
    using std::logic_error::logic_error;
};
/// Written as a container count of two billion with no items after it: what a
/// hostile or corrupt peer might send. Read back as a QList<QString>, for which
/// Qt reserves the announced count before reading anything; then, like a
/// validating user type, operator>> throws when the stream went bad.
struct HugeCount
{
    QList<QString> items;
};
QDataStream &operator<<(QDataStream &out, const HugeCount &h);
QDataStream &operator>>(QDataStream &in, HugeCount &h);
HugeCount makeHugeCount();          // a task returning one
int countItems(const HugeCount &h); // a task taking one

struct NotAnException
{
    int code = 7;
};

int square(int x);
double scale(double value, double factor);
QString greet(const QString &name);
QByteArray reversed(QByteArray bytes);
QList<int> doubled(const QList<int> &values);
QMap<QString, int> wordLengths(const QString &text);
QHash<QString, QList<double>> halves(const QHash<QString, QList<double>> &input);
QVariantMap describe(const QVariantMap &input);
Point movePoint(Point p, int dx);
void doNothing(int x);
QString appendBang(QString &text); // non-const lvalue reference parameter
void countTo(QPromise<int> &promise, int n);
QByteArray bigResult(int bytes);
QByteArray patternBytes(int bytes, int seed);                        // also used by the tests
void bigChunks(QPromise<QByteArray> &promise, int count, int bytes); // patternBytes(bytes, i)
qint64 workerPid();
/// The worker's command line (it carries the pool's socket path).
QStringList workerArguments();
/// What the worker's open descriptors point to (/proc/self/fd).
QStringList openDescriptorTargets();

int throwRuntime(const QString &message);
int throwCustom();
int throwInt();
int throwNonStd();

int crashSegv();
int crashAbort();
int crashExit(int code);
int sleepForever();
int sleepThenSquare(int ms, int x);
int squareAfterEventLoop(int ms, int x); // runs a QEventLoop in the worker for ms first

struct MathTasks
{
    static int cube(int x);
};
struct Multiplier
{
    int operator()(int a, int b) const { return a * b; }
};

int notRegistered(int x);
QString applicationClass();

} // namespace TestTasks

namespace TestTasks {
/// Its QDataStream form is empty: zero bytes per value.
struct EmptyResult
{
    friend bool operator==(const EmptyResult &, const EmptyResult &) { return true; }
};
QDataStream &operator<<(QDataStream &out, const EmptyResult &);
QDataStream &operator>>(QDataStream &in, EmptyResult &);
EmptyResult makeEmpty();
EmptyResult emptyFor(int x);
void emptyStream(QPromise<EmptyResult> &promise, int n);
} // namespace TestTasks

#endif

namespace TestTasks {
// Control tasks (cancel, progress, streaming).
void streamNumbers(QPromise<int> &promise, int n);                 // progress 0..n, results 1..n
void progressFlood(QPromise<int> &promise, int updates);           // one result at the end
void waitForCancel(QPromise<int> &promise, const QString &marker); // writes marker once canceled
int touchFile(const QString &path);
} // namespace TestTasks

namespace TestTasks {
// Per-item tasks for mapped().
int failOnThirteen(int x);            // throws std::domain_error for 13
int slowSquare(int x);                // 50 ms per item
void recordItem(const QString &path); // appends a line to the file
} // namespace TestTasks

namespace TestTasks {
void suspendable(QPromise<int> &promise, int n); // 10 ms per result, honours suspend/cancel
} // namespace TestTasks

namespace TestTasks {
void progressTo(QPromise<int> &promise, int value, int maximum); // 1 ms per step, stops at value
} // namespace TestTasks

namespace TestTasks {
// Lifecycle tasks.
int leakMegabytes(int megabytes);   // allocates, touches and leaks; returns the count
qint64 allocateBytes(qint64 bytes); // std::vector of that size
void setInitValue(int value);       // initializer: stores value in the worker
int initValue();                    // what setInitValue stored (-1: never called)
int initCalls();                    // how often setInitValue ran in this worker
QString environmentVariable(const QString &name);
QString eventDispatcherClass(); // the worker main thread's event dispatcher
QString currentDirectory();
void printLines(const QString &text); // "out: text" on stdout, "err: text" on stderr
} // namespace TestTasks
