// SPDX-License-Identifier: MIT
#include "pool/workerset.h"

#include "pool/handshake.h"
#include "pool/platform.h"

#include "logging_p.h"

#include <QtCore/QProcess>

#include <algorithm>
#include <utility>

namespace QtProcessPool {

WorkerEnd WorkerEnd::of(const WorkerConnection &w, qint64 memoryLimit)
{
    using State = WorkerConnection::State;
    WorkerEnd end;
    const QProcess &process = *w.process;
    end.how =
        w.killReason.isEmpty() ? platform::describeProcessEnd(process, !w.everReady) : w.killReason;
    const bool crashed = w.killReason.isEmpty() && process.exitStatus() == QProcess::CrashExit;
    if (crashed && memoryLimit > 0)
        end.how += QStringLiteral(" (its memory limit is %1 bytes)").arg(memoryLimit);
    if (!w.everReady) {
        if (w.link.isAttached() && w.state != State::Killing)
            end.how += QStringLiteral(" while running its initializer");
        end.kind = Kind::StartFailed;
        return end;
    }
    if (w.state == State::Retiring && !crashed && process.exitCode() == 0 && w.inFlight.empty()) {
        end.kind = Kind::Retired;
        return end;
    }
    end.kind = w.state == State::Killing ? Kind::Killed : Kind::Crashed;
    // A worker that broke the protocol before it ran anything counts too:
    // the program answers with garbage.
    end.diedBeforeStart = (end.kind == Kind::Crashed || w.protocolError) &&
                          w.state != State::Retiring && w.tasksStarted == 0;
    return end;
}

WorkerSet::WorkerSet(SharedState *shared, Host &host, QObject *timerParent)
    : m_shared(shared)
    , m_host(host)
    , m_startBackoff(timerParent) // a child, so it moves to the I/O thread with it
{
    m_startBackoff.setSingleShot(true);
}

WorkerConnection *WorkerSet::find(int slotId) const
{
    const auto it = m_workers.find(slotId);
    return it == m_workers.end() ? nullptr : it->second.get();
}

int WorkerSet::liveCount() const
{
    int live = 0;
    for (const auto &entry : m_workers)
        live += entry.second->isLive() && !entry.second->isRemote();
    return live;
}

int WorkerSet::busyCount() const
{
    int busy = 0;
    for (const auto &entry : m_workers)
        busy += entry.second->state == WorkerConnection::State::Ready &&
                !entry.second->inFlight.empty();
    return busy;
}

int WorkerSet::toStart(int queued) const
{
    if (m_startBackoff.isActive())
        return 0;
    int live = 0;
    int starting = 0;
    for (const auto &entry : m_workers) {
        const WorkerConnection &w = *entry.second;
        live += w.isLive() && !w.isRemote(); // maxWorkers bounds the local ones
        starting += !w.isRemote() && (w.state == WorkerConnection::State::Starting ||
                                      w.state == WorkerConnection::State::Initializing);
    }
    const int max = m_shared->maxWorkers.load();
    const int minimum = std::min(max, m_shared->minWorkers.load());
    const int forQueue = std::max(0, queued - starting);
    return std::max(0, std::min(max - live, std::max(forQueue, minimum - live)));
}

WorkerConnection *WorkerSet::add(int groupId, const QString &host)
{
    auto owned = std::make_unique<WorkerConnection>();
    WorkerConnection *worker = owned.get();
    worker->slotId = m_nextSlotId++;
    worker->groupId = groupId;
    worker->host = host;
    worker->secret = Handshake::newSecret();
    worker->link.setMaxBodySize(m_shared->maxMessageSize);
    worker->process = std::make_unique<QProcess>();
    worker->idleTimer.setSingleShot(true);
    worker->timer.setSingleShot(true);
    worker->taskTimer.setSingleShot(true);
    worker->taskTimer.setTimerType(Qt::PreciseTimer); // a coarse timer may fire 5% early
    m_workers.emplace(worker->slotId, std::move(owned));
    ++m_shared->workers;
    return worker;
}

void WorkerSet::started(WorkerConnection *worker)
{
    worker->leaderPid = worker->process->processId();
    worker->record = std::make_shared<WorkerRecord>();
    worker->record->pid = worker->leaderPid;
    worker->record->host = worker->host;
    worker->record->group = worker->groupId;
    QMutexLocker lock(&m_shared->mutex);
    m_shared->workerRecords.emplace(worker->slotId, worker->record);
}

std::unique_ptr<WorkerConnection> WorkerSet::take(int slotId)
{
    const auto it = m_workers.find(slotId);
    if (it == m_workers.end())
        return nullptr;
    std::unique_ptr<WorkerConnection> w = std::move(it->second);
    m_workers.erase(it);
    --m_shared->workers;
    QMutexLocker lock(&m_shared->mutex);
    m_shared->workerRecords.erase(slotId);
    return w;
}

void WorkerSet::identify(WorkerConnection *w, const QString &host, qint64 pid)
{
    if (!w->isRemote())
        return; // the kernel's pid and this host
    w->host = host.isEmpty() ? w->host : host;
    w->pid = pid;
    w->output.setOrigin(w->host, pid);
    QMutexLocker lock(&m_shared->mutex);
    w->record->pid = pid;
    w->record->host = w->host;
}

void WorkerSet::setState(WorkerConnection *w, WorkerConnection::State next)
{
    using State = WorkerConnection::State;
    // Forward only; and once we retire or kill a worker, its end is that
    // decision's, not a loss (what reap() reads).
    if (next <= w->state || (next == State::Lost && w->isEnding()))
        return;
    w->state = next;
    publish(w);
    m_host.workerStateChanged();
}

void WorkerSet::publish(WorkerConnection *w)
{
    using State = Statistics::WorkerInfo::State;
    State state = State::Starting;
    if (w->isEnding() || !w->retireReason.isEmpty())
        state = State::Retiring;
    else if (w->state == WorkerConnection::State::Ready)
        state = w->inFlight.empty() ? State::Idle : State::Busy;
    if (w->record)
        w->record->state.store(int(state), std::memory_order_relaxed);
}

void WorkerSet::becomeReady(WorkerConnection *w)
{
    setState(w, WorkerConnection::State::Ready);
    w->everReady = true;
    w->timer.stop();
    m_startFailures = 0;
    {
        QMutexLocker lock(&m_shared->mutex);
        m_shared->pids.append(w->pid);
        ++m_shared->statistics.counts.workersStarted;
    }
    qCDebug(lcPool) << "worker" << w->pid << "ready";
    if (!w->retireReason.isEmpty())
        retire(w); // surplus since it was started (maxWorkers() lowered)
}

void WorkerSet::kill(WorkerConnection *w, const QString &reason)
{
    if (w->killReason.isEmpty())
        w->killReason = reason;
    if (w->state != WorkerConnection::State::Killing) {
        setState(w, WorkerConnection::State::Killing);
        w->process->kill();
        endProcessGroup(w);
        // A remote worker cannot be signalled from here: its connection's
        // end makes it exit, even in the middle of a task.
        if (w->isRemote() && w->link.isAttached())
            w->link.disconnectFromPeer();
    }
    w->timer.start(KillWaitMs);
}

void WorkerSet::retire(WorkerConnection *w)
{
    w->idleTimer.stop();
    setState(w, WorkerConnection::State::Retiring);
    w->link.disconnectFromPeer();
}

void WorkerSet::noteSent(WorkerConnection *w)
{
    w->idleTimer.stop();
    const int maxTasks = m_shared->maxTasksPerWorker;
    if (maxTasks > 0 && ++w->tasksSent >= maxTasks && w->retireReason.isEmpty()) {
        w->retireReason = QStringLiteral("served %1 tasks").arg(w->tasksSent);
        w->recycle = true;
    }
    publish(w);
}

void WorkerSet::afterTask(WorkerConnection *w)
{
    w->record->tasksDone.fetch_add(1, std::memory_order_relaxed);
    // Leak guard: a worker grown past maxWorkerRss leaves after its tasks.
    const qint64 maxRss = m_shared->maxWorkerRss;
    if (maxRss > 0 && !w->isRemote() && w->retireReason.isEmpty() &&
        w->state == WorkerConnection::State::Ready) {
        const qint64 rss = platform::residentMemory(w->pid);
        if (rss > maxRss) {
            w->retireReason = QStringLiteral("resident memory %1 MiB exceeds maxWorkerRss %2 MiB")
                                  .arg(rss / (1024 * 1024))
                                  .arg(maxRss / (1024 * 1024));
            w->recycle = true;
        }
    }
    if (!w->retireReason.isEmpty() && w->inFlight.empty() &&
        w->state == WorkerConnection::State::Ready) {
        retire(w);
    }
    publish(w);
}

void WorkerSet::retireSurplus()
{
    const int max = m_shared->maxWorkers.load();
    std::vector<WorkerConnection *> live;
    for (const auto &entry : m_workers) {
        if (entry.second->isLive() && !entry.second->isRemote())
            live.push_back(entry.second.get());
    }
    if (int(live.size()) <= max)
        return;
    // Those that are not ready yet first, then those with the least in hand.
    std::stable_sort(live.begin(), live.end(), [](WorkerConnection *a, WorkerConnection *b) {
        const bool aReady = a->state == WorkerConnection::State::Ready;
        const bool bReady = b->state == WorkerConnection::State::Ready;
        if (aReady != bReady)
            return !aReady;
        return a->inFlight.size() < b->inFlight.size();
    });
    for (size_t i = 0; i < live.size() - size_t(max); ++i) {
        WorkerConnection *w = live[i];
        w->retireReason = QStringLiteral("maxWorkers lowered to %1").arg(max);
        w->recycle = false;
        if (w->state != WorkerConnection::State::Ready)
            continue; // retires once ready (becomeReady())
        if (w->inFlight.empty())
            retire(w);
        else
            m_host.revokeFollowers(w); // the rest retires it after its running task (afterTask())
        publish(w);
    }
}

void WorkerSet::armIdleTimers()
{
    const qint64 timeout = m_shared->idleTimeoutMs;
    for (const auto &entry : m_workers) {
        WorkerConnection *w = entry.second.get();
        if (timeout > 0 && w->isIdle() && !w->isRemote() && !w->idleTimer.isActive())
            w->idleTimer.start(int(std::min<qint64>(timeout, INT_MAX)));
    }
}

void WorkerSet::onIdleTimeout(WorkerConnection *w)
{
    if (!w->isIdle() || liveCount() <= m_shared->minWorkers)
        return;
    qCDebug(lcPool) << "worker" << w->pid << "idle for" << m_shared->idleTimeoutMs
                    << "ms; retiring";
    retire(w);
}

void WorkerSet::endProcessGroup(WorkerConnection *w)
{
    // Called while the leader lives or right after its end is reported, so
    // its pid has had no time to become another group's.
    platform::killProcessGroup(w->leaderPid);
    // A remote worker's engine may hold on to it (SLURM): told once, here.
    if (!w->stopCommand.isEmpty()) {
        QProcess stop;
        const QStringList line = std::exchange(w->stopCommand, {});
        stop.setProgram(line.first());
        stop.setArguments(line.mid(1));
        stop.setProcessEnvironment(w->process->processEnvironment());
        stop.setStandardOutputFile(QProcess::nullDevice());
        stop.setStandardErrorFile(QProcess::nullDevice());
        if (!stop.startDetached())
            qCWarning(lcPool) << "could not run" << line << "to end worker" << w->pid;
    }
}

void WorkerSet::recordEnd(const WorkerConnection &w, WorkerEnd::Kind kind)
{
    if (kind == WorkerEnd::Kind::StartFailed)
        return; // never in pids, never counted as started
    QMutexLocker lock(&m_shared->mutex);
    m_shared->pids.removeOne(w.pid);
    Statistics &counts = m_shared->statistics.counts;
    if (kind == WorkerEnd::Kind::Retired)
        counts.workersRecycled += w.recycle;
    else
        ++(kind == WorkerEnd::Kind::Killed ? counts.workersKilled : counts.workersCrashed);
}

int WorkerSet::backoffMs(int failures)
{
    return std::min(250 << std::min(std::max(failures, 1) - 1, 5), 5000);
}

bool WorkerSet::startFailed(const QString &message, int failures)
{
    qCWarning(lcPool) << message;
    // Exponential back-off: a broken worker program is not restarted in a tight loop.
    m_startBackoff.start(backoffMs(failures));
    const bool anyAlive = std::any_of(m_workers.begin(), m_workers.end(),
                                      [](const auto &entry) { return !entry.second->isEnding(); });
    return !anyAlive && failures >= MaxStartAttempts;
}

} // namespace QtProcessPool
