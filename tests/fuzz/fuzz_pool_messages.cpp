// SPDX-License-Identifier: MIT
// libFuzzer harness of the bodies the pool reads from workers (Hello,
// TaskStarted, TaskFinished, TaskFailed, TaskResults, TaskProgress): byte 0
// picks the message type, the rest is the body. Whatever decodes must
// re-encode to the same bytes and decode to the same message.
#include "fuzzcommon.h"

#include <cstddef>
#include <cstdint>

using namespace QtProcessPool::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const QByteArray body(reinterpret_cast<const char *>(data) + 1, qsizetype(size - 1));
    switch (data[0] % 6) {
    case 0:
        QppFuzz::checkBody<Hello>(body);
        break;
    case 1:
        QppFuzz::checkBody<TaskStarted>(body);
        break;
    case 2:
        QppFuzz::checkBody<TaskFinished>(body);
        break;
    case 3:
        QppFuzz::checkBody<TaskFailed>(body);
        break;
    case 4:
        QppFuzz::checkBody<TaskResults>(body);
        break;
    case 5:
        QppFuzz::checkBody<TaskProgress>(body);
        break;
    }
    return 0;
}
