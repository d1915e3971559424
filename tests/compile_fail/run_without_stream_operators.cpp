// Must NOT compile: run() with a result type that has no QDataStream operators.
#include <QtProcessPool/ProcessPool>

struct NoStreamOperators
{
    int x = 0;
};

NoStreamOperators makeIt(int x)
{
    return {x};
}

void submit(QtProcessPool::ProcessPool &pool)
{
    pool.run(makeIt, 1);
}
