// SPDX-License-Identifier: MIT
// A dedicated worker program: it only serves tasks, and registers one task the
// test binary does not have, and one with the same name but another signature.
#include <QtProcessPool/Registry>
#include <QtProcessPool/Worker>

#include <QtCore/QString>

namespace {
int onlyInWorker(double x)
{
    return int(x * 10);
}
QString square(const QString &text) // the test binary's square takes an int
{
    return text + text;
}
} // namespace

QPP_REGISTER_TASK(onlyInWorker)
QPP_REGISTER_TASK(square)

int main(int argc, char **argv)
{
    if (!QtProcessPool::isWorkerProcess(argc, argv))
        return 3;
    return QtProcessPool::execWorker(argc, argv);
}
