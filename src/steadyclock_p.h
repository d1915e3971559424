// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_STEADYCLOCK_P_H
#define QTPROCESSPOOL_STEADYCLOCK_P_H

#include <QtCore/QtGlobal>

#include <chrono>

namespace QtProcessPool {

/// Nanoseconds on a steady clock, for task durations and timeouts (a vDSO
/// call on Linux: no system call).
inline qint64 steadyNow()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace QtProcessPool

#endif
