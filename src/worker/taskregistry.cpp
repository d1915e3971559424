// SPDX-License-Identifier: MIT
// The process-wide table of registered tasks, filled during static
// initialization (QPP_REGISTER_TASK) and read-only afterwards.
#include "logging_p.h"

#include <QtProcessPool/registry.h>

#include <QtCore/QHash>

#include <deque>
#include <map>
#include <mutex>

namespace QtProcessPool::detail {

namespace {

struct Registry
{
    std::mutex mutex;              // registration may run from several static initializers
    std::deque<TaskEntry> entries; // a deque: growing it keeps the addresses below valid
    QHash<QString, const TaskEntry *> byName;
    std::map<std::pair<std::type_index, quintptr>, const TaskEntry *> byCallable;
    /// Callables refused because their name was taken by another one: the
    /// usual cause is a `static` function registered in a header, one copy
    /// per .cpp file that includes it. run() explains it (unregisteredReason()).
    std::map<std::pair<std::type_index, quintptr>, QString> refused;
};

Registry &registry()
{
    static Registry instance; // constructed on first use: safe in static initialization
    return instance;
}

} // namespace

void registerTask(TaskEntry entry)
{
    Registry &r = registry();
    std::lock_guard lock(r.mutex);
    if (const TaskEntry *first = r.byName.value(entry.name, nullptr)) {
        if (first->type == entry.type && first->address == entry.address)
            return; // the same callable again (an inline function's registration in a header)
        qCWarning(lcPool) << "a task named" << entry.name
                          << "is already registered; keeping the first one";
        r.refused.emplace(std::make_pair(entry.type, entry.address), entry.name);
        return;
    }
    const TaskEntry *stored = &r.entries.emplace_back(std::move(entry));
    r.byName.insert(stored->name, stored);
    r.byCallable.emplace(std::make_pair(stored->type, stored->address), stored);
}

const TaskEntry *findTask(const QString &name)
{
    Registry &r = registry();
    std::lock_guard lock(r.mutex);
    return r.byName.value(name, nullptr);
}

const TaskEntry *findTask(std::type_index type, quintptr address)
{
    Registry &r = registry();
    std::lock_guard lock(r.mutex);
    const auto it = r.byCallable.find(std::make_pair(type, address));
    return it == r.byCallable.end() ? nullptr : it->second;
}

QString unregisteredReason(std::type_index type, quintptr address)
{
    Registry &r = registry();
    std::lock_guard lock(r.mutex);
    const auto it = r.refused.find(std::make_pair(type, address));
    if (it != r.refused.end()) {
        return QStringLiteral(
                   "this function was registered as '%1', but another function already had "
                   "that name, so this one is not a task. A `static` function registered in a "
                   "header has one copy per .cpp file that includes the header: register it "
                   "in one .cpp file, or make it `inline` (one function for the program)")
            .arg(it->second);
    }
    return QStringLiteral("this function is not registered as a task; register it with "
                          "QPP_REGISTER_TASK or QPP_REGISTER_TASK_AS");
}

QString signatureMismatch(const TaskEntry &entry, const QStringList &argTypes,
                          const QString &resultType)
{
    if (entry.argTypes != argTypes) {
        return QStringLiteral("task '%1' takes (%2) but was called with (%3)")
            .arg(entry.name, entry.argTypes.join(QStringLiteral(", ")),
                 argTypes.join(QStringLiteral(", ")));
    }
    if (entry.resultType != resultType) {
        return QStringLiteral("task '%1' returns %2 but the caller expects %3")
            .arg(entry.name, entry.resultType, resultType);
    }
    return {};
}

} // namespace QtProcessPool::detail
