// SPDX-License-Identifier: MIT
#include "pool/lending.h"

#include "protocol/messages.h"
#include "protocol/socketio.h"

namespace QtProcessPool {

bool SocketLending::lend(int slotId, int fd)
{
    Q_ASSERT(m_lentSlot == 0 && fd >= 0);
    QMutexLocker lock(&m_shared->inboxMutex);
    if (!m_shared->inbox.empty() || !m_shared->groupInbox.empty())
        return false; // a wake() is coming for those
    m_shared->lentFd = fd;
    m_shared->lentSlot = slotId;
    m_lentSlot = slotId;
    return true;
}

bool SocketLending::takeBack()
{
    if (m_lentSlot == 0)
        return false;
    m_lentSlot = 0;
    QMutexLocker lock(&m_shared->inboxMutex);
    const bool used = m_shared->lentFd < 0;
    m_shared->lentFd = -1;
    m_shared->lentSlot = 0;
    return used;
}

void SocketLending::trySend(SharedState &shared, Task &task)
{
#ifdef QPP_HAVE_RAW_SOCKETS // else never lent (platform::hasDirectSocketWrites)
    if (shared.lentFd < 0 || !shared.inbox.empty() || !shared.groupInbox.empty() ||
        task.request.arguments.size() > MaxLentFrame) {
        return;
    }
    const int fd = std::exchange(shared.lentFd, -1);
    task.id = shared.nextTaskId++;
    const QByteArray frame = protocol::encodeMessage(runTaskMessage(task));
    const qsizetype written = protocol::sendAvailable(fd, frame.constData(), frame.size());
    if (written <= 0)
        return; // not sent (the worker is gone?): the engine dispatches it
    task.sentToSlot = shared.lentSlot;
    if (written < frame.size())
        task.unsentTail = frame.mid(written); // the engine writes the rest first
#else
    Q_UNUSED(shared);
    Q_UNUSED(task);
#endif
}

} // namespace QtProcessPool
