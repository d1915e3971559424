// SPDX-License-Identifier: MIT
// Signatures of tasks: what FunctionTraits makes of a callable, the type names
// a task's entry and a call carry, and signatureMismatch(), which both the
// pool (runNamed) and the worker use to refuse a call that does not fit.
#include <QtProcessPool/registry.h>

#include <QtTest/QTest>

#include <map>
#include <tuple>
#include <type_traits>

using namespace QtProcessPool::detail;

namespace {

int add(int a, int b)
{
    return a + b;
}
QString greet(const QString &name)
{
    return name;
}
void noResult(double) {}
int noArgs()
{
    return 1;
}
QList<int> listOf(qint64 count, QByteArray bytes)
{
    return QList<int>(int(count), int(bytes.size()));
}
void countTo(QPromise<int> &promise, int n)
{
    for (int i = 0; i < n; ++i)
        promise.addResult(i);
}
void promiseNoArgs(QPromise<QString> &promise)
{
    promise.addResult(QStringLiteral("done"));
}
int promiseWithResult(QPromise<int> &)
{
    return 0;
}
int noexceptTask(int a) noexcept
{
    return a;
}

struct Functor
{
    double operator()(int, const QString &) const noexcept { return 0; }
};
struct Overloaded
{
    int operator()(int) const { return 0; }
    int operator()(QString) const { return 0; }
};
struct Scaled
{
    int factor = 2;
    int operator()(int x) const { return x * factor; }
};
struct Object
{
    int method(int a) { return a; }
    int constMethod(int a) const { return a; }
};

/// How the pool sees callable F, in one line: "(int, QString) -> double",
/// prefixed "promise" for a QPromise task; or why it cannot be a task.
template <typename F>
QString describe()
{
    using Traits = FunctionTraits<F>;
    if constexpr (Traits::isMemberFunction) {
        return QStringLiteral("member function");
    } else if constexpr (!Traits::isCallable) {
        return QStringLiteral("not callable");
    } else {
        QString text =
            QStringLiteral("(%1) -> %2")
                .arg(TypeNames<typename Traits::Params>::get().join(QStringLiteral(", ")),
                     typeName<typename Traits::Result>());
        if (Traits::hasPromise)
            text.prepend(QStringLiteral("promise "));
        if (!Traits::returnsVoidIfPromise)
            text.append(QStringLiteral(", but returns a value"));
        return text;
    }
}

/// The argument types a runNamed() call with these arguments sends (as
/// ProcessPool::runNamed() computes them).
template <typename... Args>
QStringList callTypes()
{
    return TypeNames<std::tuple<WireType<Args>...>>::get();
}

/// Entries made as QPP_REGISTER_TASK makes them, but not registered.
const TaskEntry &entry(const QString &name)
{
    static const std::map<QString, TaskEntry> entries = [] {
        std::map<QString, TaskEntry> made;
        const auto make = [&made](const char *taskName, auto f) {
            made.emplace(QString::fromUtf8(taskName), makeTaskEntry(taskName, f));
        };
        make("add", add);
        make("greet", greet);
        make("noResult", noResult);
        make("noArgs", noArgs);
        make("listOf", listOf);
        make("countTo", countTo);
        make("promiseNoArgs", promiseNoArgs);
        make("lambda", [](int a, const QString &) { return double(a); });
        return made;
    }();
    const auto it = entries.find(name);
    Q_ASSERT(it != entries.end());
    return it->second;
}

} // namespace

class TestSignatures : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void traits_data();
    void traits();
    void rawParamsKeepReferences();
    void typeNames_data();
    void typeNames();
    void entryFields_data();
    void entryFields();
    void signatureMismatch_data();
    void signatureMismatch();
    void callMatchesEntry_data();
    void callMatchesEntry();
    void statelessCallables();
    void registrationOfOneNameTwice();
};

void TestSignatures::statelessCallables()
{
    // What run() accepts: a callable the worker's registered copy can stand for.
    QVERIFY(FunctionTraits<decltype(&add)>::isStateless);
    QVERIFY(FunctionTraits<Functor>::isStateless);
    const auto captureless = [](int x) { return x; };
    QVERIFY(FunctionTraits<decltype(captureless)>::isStateless);
    const int offset = 1;
    const auto capturing = [offset](int x) { return x + offset; };
    QVERIFY(!FunctionTraits<decltype(capturing)>::isStateless);
    QVERIFY(!FunctionTraits<Scaled>::isStateless); // its factor would not reach the worker
}

void TestSignatures::registrationOfOneNameTwice()
{
    // The same callable again (an inline function registered in a header
    // included twice): silently one task.
    const auto first = [](int x) { return x + 1; };
    registerTask(makeTaskEntry("tst_signatures_twice", first));
    registerTask(makeTaskEntry("tst_signatures_twice", first));
    const TaskEntry *found = findTask(typeid(decltype(first)), 0);
    QVERIFY(found);
    QCOMPARE(found->name, QStringLiteral("tst_signatures_twice"));
    // Another callable under that name (a static function's second copy):
    // refused with a warning, and run() says why.
    QTest::ignoreMessage(QtWarningMsg,
                         "a task named \"tst_signatures_twice\" is already registered; keeping "
                         "the first one");
    registerTask(makeTaskEntry("tst_signatures_twice", noArgs));
    QCOMPARE(findTask(QStringLiteral("tst_signatures_twice")), found);
    QVERIFY(!findTask(typeid(decltype(&noArgs)), callableAddress(&noArgs)));
    const QString why = unregisteredReason(typeid(decltype(&noArgs)), callableAddress(&noArgs));
    QVERIFY2(why.contains(QStringLiteral("registered as 'tst_signatures_twice'")), qPrintable(why));
    QVERIFY2(why.contains(QStringLiteral("header")), qPrintable(why));
    // A callable never registered: the plain reason.
    QVERIFY(unregisteredReason(typeid(decltype(&add)), callableAddress(&add))
                .contains(QStringLiteral("not registered as a task")));
}

void TestSignatures::traits_data()
{
    QTest::addColumn<QString>("actual");
    QTest::addColumn<QString>("expected");

    const auto lambda = [](int a, const QString &) { return double(a); };
    const auto mutableLambda = [](qint64 a) mutable { return a; };
    const auto promiseLambda = [](QPromise<QByteArray> &, int, bool) {};
    const auto genericLambda = [](auto a) { return a; };

    QTest::newRow("function pointer") << describe<decltype(&add)>() << "(int, int) -> int";
    QTest::newRow("noexcept function pointer")
        << describe<decltype(&noexceptTask)>() << "(int) -> int";
    QTest::newRow("const reference parameter decays")
        << describe<decltype(&greet)>() << "(QString) -> QString";
    QTest::newRow("no result") << describe<decltype(&noResult)>() << "(double) -> void";
    QTest::newRow("no parameters") << describe<decltype(&noArgs)>() << "() -> int";
    QTest::newRow("container result")
        << describe<decltype(&listOf)>() << "(qlonglong, QByteArray) -> QList<int>";
    QTest::newRow("captureless lambda")
        << describe<decltype(lambda)>() << "(int, QString) -> double";
    QTest::newRow("mutable lambda")
        << describe<decltype(mutableLambda)>() << "(qlonglong) -> qlonglong";
    QTest::newRow("function object") << describe<Functor>() << "(int, QString) -> double";
    QTest::newRow("promise task") << describe<decltype(&countTo)>() << "promise (int) -> int";
    QTest::newRow("promise task without parameters")
        << describe<decltype(&promiseNoArgs)>() << "promise () -> QString";
    QTest::newRow("promise lambda")
        << describe<decltype(promiseLambda)>() << "promise (int, bool) -> QByteArray";
    QTest::newRow("promise task returning a value")
        << describe<decltype(&promiseWithResult)>() << "promise () -> int, but returns a value";
    QTest::newRow("member function") << describe<decltype(&Object::method)>() << "member function";
    QTest::newRow("const member function")
        << describe<decltype(&Object::constMethod)>() << "member function";
    QTest::newRow("generic lambda") << describe<decltype(genericLambda)>() << "not callable";
    QTest::newRow("overloaded call operator") << describe<Overloaded>() << "not callable";
    QTest::newRow("not a function") << describe<int>() << "not callable";
}

void TestSignatures::traits()
{
    QFETCH(QString, actual);
    QFETCH(QString, expected);
    QCOMPARE(actual, expected);
}

// Params travel on the wire (decayed); RawParams say how to pass them.
void TestSignatures::rawParamsKeepReferences()
{
    using Traits = FunctionTraits<void (*)(QString &, const int &, double)>;
    QVERIFY((std::is_same_v<Traits::Params, std::tuple<QString, int, double>>));
    QVERIFY((std::is_same_v<Traits::RawParams, std::tuple<QString &, const int &, double>>));

    using Promise = FunctionTraits<void (*)(QPromise<int> &, const QString &)>;
    QVERIFY((std::is_same_v<Promise::Params, std::tuple<QString>>));
    QVERIFY((std::is_same_v<Promise::RawParams, std::tuple<const QString &>>));
    QVERIFY((std::is_same_v<Promise::Result, int>));
}

void TestSignatures::typeNames_data()
{
    QTest::addColumn<QString>("actual");
    QTest::addColumn<QString>("expected");

    QTest::newRow("void") << typeName<void>() << "void";
    QTest::newRow("int") << typeName<int>() << "int";
    QTest::newRow("64-bit integer") << typeName<qint64>() << "qlonglong";
    QTest::newRow("QString") << typeName<QString>() << "QString";
    QTest::newRow("list of strings") << typeName<QStringList>() << "QStringList";
    QTest::newRow("list of ints") << typeName<QList<int>>() << "QList<int>";
    QTest::newRow("string literal on the wire") << typeName<WireType<const char *>>() << "QString";
    QTest::newRow("char pointer on the wire") << typeName<WireType<char *>>() << "QString";
    QTest::newRow("const reference on the wire") << typeName<WireType<const int &>>() << "int";
}

void TestSignatures::typeNames()
{
    QFETCH(QString, actual);
    QFETCH(QString, expected);
    QCOMPARE(actual, expected);
}

void TestSignatures::entryFields_data()
{
    QTest::addColumn<QString>("task");
    QTest::addColumn<QStringList>("argTypes");
    QTest::addColumn<QString>("resultType");
    QTest::addColumn<bool>("hasPromise");
    QTest::addColumn<bool>("hasAddress");

    QTest::newRow("function") << "add" << QStringList{"int", "int"} << "int" << false << true;
    QTest::newRow("void function")
        << "noResult" << QStringList{"double"} << "void" << false << true;
    QTest::newRow("promise task") << "countTo" << QStringList{"int"} << "int" << true << true;
    QTest::newRow("lambda") << "lambda" << QStringList{"int", "QString"} << "double" << false
                            << false;
}

// A function pointer is found by its address too; a lambda by its type only.
void TestSignatures::entryFields()
{
    QFETCH(QString, task);
    QFETCH(QStringList, argTypes);
    QFETCH(QString, resultType);
    QFETCH(bool, hasPromise);
    QFETCH(bool, hasAddress);

    const TaskEntry &e = entry(task);
    QCOMPARE(e.name, task);
    QCOMPARE(e.argTypes, argTypes);
    QCOMPARE(e.resultType, resultType);
    QCOMPARE(e.hasPromise, hasPromise);
    QCOMPARE(e.address != 0, hasAddress);
    QVERIFY(e.invoke);
}

void TestSignatures::signatureMismatch_data()
{
    QTest::addColumn<QString>("task");
    QTest::addColumn<QStringList>("argTypes");
    QTest::addColumn<QString>("resultType");
    QTest::addColumn<QString>("mismatch"); // empty: the call matches

    QTest::newRow("matching") << "add" << QStringList{"int", "int"} << "int" << QString();
    QTest::newRow("matching, no arguments") << "noArgs" << QStringList{} << "int" << QString();
    QTest::newRow("matching, no result")
        << "noResult" << QStringList{"double"} << "void" << QString();
    QTest::newRow("matching, const reference parameter")
        << "greet" << QStringList{"QString"} << "QString" << QString();
    QTest::newRow("one argument too few")
        << "add" << QStringList{"int"} << "int"
        << "task 'add' takes (int, int) but was called with (int)";
    QTest::newRow("one argument too many")
        << "add" << QStringList{"int", "int", "int"} << "int"
        << "task 'add' takes (int, int) but was called with (int, int, int)";
    QTest::newRow("no arguments to a task taking two")
        << "add" << QStringList{} << "int"
        << "task 'add' takes (int, int) but was called with ()";
    QTest::newRow("an argument to a task taking none")
        << "noArgs" << QStringList{"int"} << "int"
        << "task 'noArgs' takes () but was called with (int)";
    QTest::newRow("wrong argument type")
        << "add" << QStringList{"int", "double"} << "int"
        << "task 'add' takes (int, int) but was called with (int, double)";
    QTest::newRow("arguments in the wrong order")
        << "listOf" << QStringList{"QByteArray", "qlonglong"} << "QList<int>"
        << "task 'listOf' takes (qlonglong, QByteArray) but was called with (QByteArray, "
           "qlonglong)";
    QTest::newRow("wrong result type") << "add" << QStringList{"int", "int"} << "double"
                                       << "task 'add' returns int but the caller expects double";
    QTest::newRow("a result expected from a void task")
        << "noResult" << QStringList{"double"} << "int"
        << "task 'noResult' returns void but the caller expects int";
    QTest::newRow("no result expected from a task with one")
        << "add" << QStringList{"int", "int"} << "void"
        << "task 'add' returns int but the caller expects void";
    QTest::newRow("arguments and result wrong: the arguments are reported")
        << "add" << QStringList{"QString"} << "QString"
        << "task 'add' takes (int, int) but was called with (QString)";
    QTest::newRow("promise task matching") << "countTo" << QStringList{"int"} << "int" << QString();
    QTest::newRow("promise task without arguments matching")
        << "promiseNoArgs" << QStringList{} << "QString" << QString();
    QTest::newRow("promise task, wrong arity")
        << "countTo" << QStringList{} << "int"
        << "task 'countTo' takes (int) but was called with ()";
    QTest::newRow("promise task, the promise's type expected")
        << "countTo" << QStringList{"int"} << "QPromise<int>"
        << "task 'countTo' returns int but the caller expects QPromise<int>";
    QTest::newRow("promise task, void expected")
        << "countTo" << QStringList{"int"} << "void"
        << "task 'countTo' returns int but the caller expects void";
}

void TestSignatures::signatureMismatch()
{
    QFETCH(QString, task);
    QFETCH(QStringList, argTypes);
    QFETCH(QString, resultType);
    QFETCH(QString, mismatch);
    QCOMPARE(QtProcessPool::detail::signatureMismatch(entry(task), argTypes, resultType), mismatch);
}

// What runNamed<R>(name, args...) sends, against the entry it names.
void TestSignatures::callMatchesEntry_data()
{
    QTest::addColumn<QString>("task");
    QTest::addColumn<QStringList>("argTypes");
    QTest::addColumn<QString>("resultType");
    QTest::addColumn<bool>("matches");

    QTest::newRow("int arguments") << "add" << callTypes<int, int>() << typeName<int>() << true;
    QTest::newRow("reference arguments decay")
        << "add" << callTypes<const int &, int &>() << typeName<int>() << true;
    QTest::newRow("string literal to a QString parameter")
        << "greet" << callTypes<const char *>() << typeName<QString>() << true;
    QTest::newRow("char pointer to a QString parameter")
        << "greet" << callTypes<char *>() << typeName<QString>() << true;
    QTest::newRow("long long to a 64-bit parameter")
        << "listOf" << callTypes<long long, QByteArray>() << typeName<QList<int>>() << true;
    QTest::newRow("no conversion from short to int")
        << "add" << callTypes<int, short>() << typeName<int>() << false;
    QTest::newRow("no conversion from double to int result")
        << "add" << callTypes<int, int>() << typeName<double>() << false;
    QTest::newRow("promise task") << "countTo" << callTypes<int>() << typeName<int>() << true;
    QTest::newRow("void task") << "noResult" << callTypes<double>() << typeName<void>() << true;
}

void TestSignatures::callMatchesEntry()
{
    QFETCH(QString, task);
    QFETCH(QStringList, argTypes);
    QFETCH(QString, resultType);
    QFETCH(bool, matches);
    const QString mismatch =
        QtProcessPool::detail::signatureMismatch(entry(task), argTypes, resultType);
    QVERIFY2(mismatch.isEmpty() == matches, qPrintable(mismatch));
}

QTEST_GUILESS_MAIN(TestSignatures)

#include "tst_signatures.moc"
