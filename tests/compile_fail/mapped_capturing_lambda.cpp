// Must NOT compile: mapped() with a capturing lambda; its captures cannot
// reach the workers.
#include <QtProcessPool/ProcessPool>

#include <QtCore/QList>

QFuture<int> submit(QtProcessPool::ProcessPool &pool, int offset)
{
    return pool.mapped([offset](int x) { return x + offset; }, QList<int>{1, 2, 3});
}
