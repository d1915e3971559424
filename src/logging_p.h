// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_LOGGING_P_H
#define QTPROCESSPOOL_LOGGING_P_H

#include <QtCore/QLoggingCategory>

namespace QtProcessPool {
Q_DECLARE_LOGGING_CATEGORY(lcPool)     // "qtprocesspool.pool": workers, dispatch, failures
Q_DECLARE_LOGGING_CATEGORY(lcWorker)   // "qtprocesspool.worker": the worker side
Q_DECLARE_LOGGING_CATEGORY(lcProtocol) // "qtprocesspool.protocol": refused frames and peers
} // namespace QtProcessPool

#endif
