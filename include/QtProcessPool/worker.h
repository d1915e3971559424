// SPDX-License-Identifier: MIT
/// \file
/// isWorkerProcess() and execWorker(): the worker mode of main().
#ifndef QTPROCESSPOOL_WORKER_H
#define QTPROCESSPOOL_WORKER_H

#include <QtProcessPool/qtprocesspool_export.h>

namespace QtProcessPool {

/// True when this process was started by a ProcessPool as a worker. Call it
/// first thing in main(), before creating any QApplication:
///     if (QtProcessPool::isWorkerProcess(argc, argv))
///         return QtProcessPool::execWorker(argc, argv);
/// Looks only at argv; safe before any Qt object exists.
QTPROCESSPOOL_EXPORT bool isWorkerProcess(int argc, char **argv);

/// Serves tasks for the pool that started this process, with a QCoreApplication
/// (never a GUI application), until the pool goes away. Returns the process
/// exit code (0 after a normal shutdown, 2 when the pool could not be reached
/// or the handshake failed). A dedicated worker program may call it from its
/// main() too; it must register the same tasks as the application.
QTPROCESSPOOL_EXPORT int execWorker(int argc, char **argv);

} // namespace QtProcessPool

#endif
