// Must NOT compile: run() with a capturing lambda. Its captures cannot reach
// the worker, and no registered task has its type: without the static_assert
// it would compile and fail at run time with TaskError::UnknownTask.
#include <QtProcessPool/ProcessPool>

QFuture<int> submit(QtProcessPool::ProcessPool &pool, int offset)
{
    return pool.run([offset](int x) { return x + offset; }, 1);
}
