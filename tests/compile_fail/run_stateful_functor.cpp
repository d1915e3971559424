// Must NOT compile: run() with a function object that has data members. The
// worker would run its registered copy, whose members are not these: the
// call would silently use other values.
#include <QtProcessPool/ProcessPool>

struct Scale
{
    int factor = 2;
    int operator()(int x) const { return x * factor; }
};
QPP_REGISTER_TASK_AS("scale", Scale{})

QFuture<int> submit(QtProcessPool::ProcessPool &pool)
{
    return pool.run(Scale{3}, 1);
}
