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
    if (r.byName.contains(entry.name)) {
        qCWarning(lcPool) << "a task named" << entry.name
                          << "is already registered; keeping the first one";
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
