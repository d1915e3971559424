// SPDX-License-Identifier: MIT
// The engine, part four: workers on other machines. A group is a launcher
// (ssh, srun, a command) and a count; each of its workers is one launcher
// process here, whose end is the worker's end, and a TLS connection back
// (Handshake::listenRemote()). Once connected, a remote worker is a worker
// like the others: the same queue, frames and fates of its tasks.
#include "pool/engine.h"

#include "logging_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QRandomGenerator>
#include <QtNetwork/QHostInfo>

namespace QtProcessPool {

using namespace protocol;

namespace {
constexpr int CertificateValidDays = 30; // made per pool: a pool outliving it needs a restart
} // namespace

void Engine::addGroup(int groupId, const WorkerLauncher &launcher)
{
    const Entry entry(this);
    if (m_shuttingDown)
        return;
    RemoteGroup &group = m_groups[groupId];
    group.launcher = launcher;
    group.backoff = std::make_unique<QTimer>(this);
    group.backoff->setSingleShot(true);
    connect(group.backoff.get(), &QTimer::timeout, this, [this] {
        const Entry entry(this);
        dispatch();
    });
    qCDebug(lcPool) << "adding" << launcher.workers() << "remote workers, group" << groupId;
    if (!m_heartbeat.isActive())
        m_heartbeat.start();
    dispatch(); // replenishGroups() starts them
}

void Engine::removeGroup(int groupId)
{
    const Entry entry(this);
    if (m_groups.erase(groupId) == 0)
        return;
    --m_shared->remoteGroups;
    for (const auto &slot : m_workers.all()) {
        WorkerConnection *w = slot.second.get();
        if (w->groupId != groupId || w->isEnding())
            continue;
        w->retireReason = QStringLiteral("its group was removed");
        w->recycle = false;
        if (w->state != WorkerConnection::State::Ready)
            m_workers.kill(w, QStringLiteral("was stopped: its group was removed"));
        else if (w->inFlight.empty())
            m_workers.retire(w);
        else
            revokeFollowers(w); // retires after its running task (WorkerSet::afterTask())
        m_workers.publish(w);
    }
    dispatch();
}

void Engine::replenishGroups()
{
    for (auto &entry : m_groups) {
        RemoteGroup &group = entry.second;
        if (group.backoff->isActive())
            continue;
        int live = 0;
        for (const auto &slot : m_workers.all())
            live += slot.second->groupId == entry.first && slot.second->isLive();
        for (; live < group.launcher.workers(); ++live) {
            if (!spawnRemoteWorker(entry.first, group))
                break;
        }
    }
}

bool Engine::listenRemote(QString *error)
{
    if (m_handshake.isListeningRemote())
        return true;
    if (m_identity.isNull()) {
        m_identity = TlsIdentity::create(CertificateValidDays, error);
        if (m_identity.isNull())
            return false;
    }
    QHostAddress address;
    quint16 port = 0;
    {
        QMutexLocker lock(&m_shared->mutex);
        address = m_shared->remoteAddress;
        port = m_shared->remoteListenPort;
    }
    if (!m_handshake.listenRemote(address, port, m_identity)) {
        *error = m_handshake.errorString();
        return false;
    }
    m_shared->remotePort = m_handshake.remotePort();
    return true;
}

QStringList Engine::remoteWorkerArguments() const
{
    // The address the workers dial: the one listened on, or this machine's
    // name when listening on every address.
    QHostAddress address;
    {
        QMutexLocker lock(&m_shared->mutex);
        address = m_shared->remoteAddress;
    }
    const bool any = address == QHostAddress(QHostAddress::Any) ||
                     address == QHostAddress(QHostAddress::AnyIPv4) ||
                     address == QHostAddress(QHostAddress::AnyIPv6);
    const QString host = any ? QHostInfo::localHostName() : address.toString();
    return {QString::fromLatin1(WorkerFlag),
            QStringLiteral("tls:%1:%2").arg(host).arg(m_handshake.remotePort())};
}

bool Engine::spawnRemoteWorker(int groupId, RemoteGroup &group)
{
    QString error;
    if (!listenRemote(&error)) {
        onGroupStartFailed(groupId, error);
        return false;
    }
    WorkerConnection *worker = m_workers.add(groupId, group.launcher.host());
    QProcess *process = worker->process.get();
    const QString program = group.launcher.program().isEmpty()
                                ? QCoreApplication::applicationFilePath()
                                : group.launcher.program();
    const QString tag = QStringLiteral("qtprocesspool-%1-%2-%3")
                            .arg(QCoreApplication::applicationPid())
                            .arg(worker->slotId)
                            .arg(QRandomGenerator::global()->generate(), 8, 16, QLatin1Char('0'));
    worker->stopCommand = group.launcher.stopCommandLine(tag);
    Credentials credentials{worker->slotId, worker->secret, -1, m_identity.fingerprint()};
    QStringList arguments = remoteWorkerArguments();
    qint64 startTimeout = std::clamp<qint64>(m_shared->workerStartTimeoutMs, 1, INT_MAX);
    const qint64 tokenLifetime = group.launcher.joinTokenLifetime().count();
    if (tokenLifetime > 0) {
        credentials.onStdin = false;
        arguments << QString::fromLatin1(JoinFlag) << QString::fromLatin1(joinToken(credentials));
        worker->tokenExpires = tokenLifetime < startTimeout;
        startTimeout = std::min(startTimeout, tokenLifetime);
    }
    LocalLauncher::prepareCommand(process, group.launcher.commandLine(program, arguments, tag));
    wire(worker);
    worker->timer.start(int(startTimeout));
    qCDebug(lcPool) << "starting remote worker" << worker->slotId << process->program();
    LocalLauncher::start(process, credentials);
    m_workers.started(worker);
    attachOutput(worker);
    return true;
}

void Engine::onGroupStartFailed(int groupId, const QString &message)
{
    qCWarning(lcPool) << message;
    const auto it = m_groups.find(groupId);
    if (it == m_groups.end())
        return; // removed meanwhile: its workers' ends are no failures
    RemoteGroup &group = it->second;
    ++group.failures;
    // The local workers' back-off, per group: a host that refuses does not
    // delay the others.
    group.backoff->start(WorkerSet::backoffMs(group.failures));
    const bool anyAlive = std::any_of(m_workers.all().begin(), m_workers.all().end(),
                                      [](const auto &slot) { return !slot.second->isEnding(); });
    if (!anyAlive && m_shared->maxWorkers == 0 && group.failures >= WorkerSet::MaxStartAttempts) {
        failQueued(TaskError::Kind::WorkerStartFailed,
                   QStringLiteral("could not start a remote worker (%1 attempts): %2")
                       .arg(group.failures)
                       .arg(message));
    }
}

void Engine::onHeartbeat()
{
    const Entry entry(this);
    std::vector<int> silent;
    for (const auto &slot : m_workers.all()) {
        WorkerConnection *w = slot.second.get();
        if (!w->isRemote() || !w->link.isAttached() || w->isEnding())
            continue;
        if (w->link.socket()->bytesAvailable() > 0)
            w->lastHeard.restart(); // arrived while reading was paused
        if (w->lastHeard.elapsed() > HeartbeatTimeoutMs)
            silent.push_back(slot.first);
        else
            write(w, encodeMessage(Heartbeat{}));
    }
    for (const int slotId : silent) {
        readEverythingSent(slotId); // the last facts before its tasks' fates
        WorkerConnection *w = worker(slotId);
        if (!w || w->isEnding() || w->lastHeard.elapsed() <= HeartbeatTimeoutMs)
            continue;
        w->connectionLost = true;
        w->wentSilent = true;
        m_workers.kill(w, QStringLiteral("went silent: nothing heard from it for %1 ms")
                              .arg(w->lastHeard.elapsed()));
    }
}

void Engine::onGroupWorkerReady(WorkerConnection *worker)
{
    const auto it = m_groups.find(worker->groupId);
    if (it != m_groups.end())
        it->second.failures = 0;
}

// A remote worker starts a task it holds only once told it may
// (StartTask), in the order they were sent: what it was never allowed to
// start did not start, even if its last messages are lost with the link,
// so those tasks run elsewhere if it goes silent. Idle, it may start one at
// once; busy, Scheduler::startsAhead() more. Appended to frames, or written.
void Engine::allowStarts(WorkerConnection *w, OutgoingFrames *frames)
{
    if (!w->isRemote() || w->wentSilent)
        return;
    bool running = false;
    int allowed = 0;
    for (const Task *t : w->inFlight) {
        running = running || t->state == Task::State::Running;
        allowed += t->state == Task::State::Sent && t->startAllowed ? 1 : 0;
    }
    int more = (running ? 0 : 1) +
               Scheduler::startsAhead(m_delivery.recentRunNs(), w->roundTripNs) - allowed;
    OutgoingFrames own;
    for (Task *t : w->inFlight) {
        if (more <= 0)
            break;
        if (t->state != Task::State::Sent || t->startAllowed)
            continue;
        t->startAllowed = true;
        (frames ? *frames : own).append(encodeMessage(StartTask{t->id}));
        --more;
    }
    if (!own.isEmpty())
        write(w, own);
}

} // namespace QtProcessPool
