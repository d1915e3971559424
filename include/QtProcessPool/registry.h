// SPDX-License-Identifier: MIT
/// \file
/// QPP_REGISTER_TASK and QPP_REGISTER_TASK_AS: the tasks a worker may run.
#ifndef QTPROCESSPOOL_REGISTRY_H
#define QTPROCESSPOOL_REGISTRY_H

// Registration of the functions a worker can run.
//
// At namespace scope in any .cpp linked into both the application and the
// worker program (normally the same executable):
//     QPP_REGISTER_TASK(square)                    // name "square"
//     QPP_REGISTER_TASK_AS("blur", &Image::blur)   // any callable, explicit name
//     QPP_REGISTER_TASK_AS("add", [](int a, int b) { return a + b; })
// Free functions, static member functions, captureless lambdas and function
// objects (default-constructed or given) can be registered; run() and
// mapped() take those without state (a function object with data members is
// called by name, runNamed(), and runs as the registered instance). A task's first
// parameter may be QPromise<T>&, as with QtConcurrent::run.
// Registering two tasks under one name is a programming error: the first one
// stays and a warning is logged.

#include <QtProcessPool/detail/registry_impl.h>

/// Registers fn (a function name, possibly qualified) under the name \#fn.
/// See QPP_REGISTER_TASK_AS.
#define QPP_REGISTER_TASK(fn) QPP_REGISTER_TASK_AS(#fn, fn)

/// Registers any callable under an explicit name (a string literal), so that
/// ProcessPool::run(callable, ...) and ProcessPool::runNamed(name, ...) find it.
///
/// Use it at namespace scope, in a .cpp file linked into the application and
/// into its worker program; both sides must register the same tasks with the
/// same signatures (a mismatch fails the call with TaskError::BadArguments,
/// a missing task with TaskError::UnknownTask, never by decoding garbage).
///
/// Thread: runs during static initialization, before main() (registrations
/// from several translation units or threads are serialized); looking tasks
/// up is thread-safe.
///
/// Ownership: the registry keeps a copy of the callable (a function object
/// given by value keeps that state) for the life of the process. In a worker,
/// tasks run on its main thread, one at a time.
///
/// Failure: a member-function pointer, a callable with a template or
/// overloaded operator(), a QPromise task not returning void, and a parameter
/// or result type without QDataStream operators << and >> (or a parameter not
/// default-constructible) are compile errors that say so. A second task under
/// an existing name is ignored with a warning (qtprocesspool.pool); the
/// first one stays.
#define QPP_REGISTER_TASK_AS(name, ...)                                                            \
    static const ::QtProcessPool::detail::Registrar QPP_DETAIL_CONCAT(                             \
        qppTaskRegistrar_, __COUNTER__)(name, __VA_ARGS__);

#endif
