// Must NOT compile: a task parameter type without QDataStream operators.
#include <QtProcessPool/Registry>

struct NoStreamOperators
{
    int x = 0;
};

int useIt(NoStreamOperators value)
{
    return value.x;
}

QPP_REGISTER_TASK(useIt)
