// SPDX-License-Identifier: MIT
// libFuzzer harness of the bodies a worker reads from the pool (Challenge,
// RunTask, CancelTask, RevokeTask, SuspendTask, StartTask): byte 0 picks the
// message type, the rest is the body. Whatever decodes must re-encode to the
// same bytes and decode to the same message.
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
        if (QppFuzz::checkBody<Challenge>(body)) {
            Challenge m;
            decodeBody(body, &m);
            if (m.nonce.size() != NonceSize)
                QppFuzz::fail("Challenge accepted with a nonce of the wrong size", describe(m));
        }
        break;
    case 1:
        QppFuzz::checkBody<RunTask>(body);
        break;
    case 2:
        QppFuzz::checkBody<CancelTask>(body);
        break;
    case 3:
        QppFuzz::checkBody<RevokeTask>(body);
        break;
    case 4:
        if (QppFuzz::checkBody<SuspendTask>(body)) {
            SuspendTask m;
            decodeBody(body, &m);
            if (m.suspended > 1)
                QppFuzz::fail("SuspendTask accepted with a flag other than 0 or 1", describe(m));
        }
        break;
    case 5:
        QppFuzz::checkBody<StartTask>(body);
        break;
    }
    return 0;
}
