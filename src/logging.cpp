// SPDX-License-Identifier: MIT
#include "logging_p.h"

namespace QtProcessPool {
Q_LOGGING_CATEGORY(lcPool, "qtprocesspool.pool", QtWarningMsg)
Q_LOGGING_CATEGORY(lcWorker, "qtprocesspool.worker", QtWarningMsg)
Q_LOGGING_CATEGORY(lcProtocol, "qtprocesspool.protocol", QtWarningMsg)
} // namespace QtProcessPool
