// SPDX-License-Identifier: MIT
// Deterministic test bytes for the protocol tests.
#ifndef QTPROCESSPOOL_TESTS_PATTERN_H
#define QTPROCESSPOOL_TESTS_PATTERN_H

#include <QtCore/QByteArray>

/// size bytes that differ from position to position and from seed to seed.
inline QByteArray pattern(qsizetype size, int seed = 0)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        bytes[i] = char((i * 131 + seed * 7 + 1) & 0xff);
    return bytes;
}

#endif
