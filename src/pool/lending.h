// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_LENDING_H
#define QTPROCESSPOOL_LENDING_H

#include "pool/processpool_p.h"

namespace QtProcessPool {

/// Lends an idle worker's socket to the threads that submit: the next run()
/// writes its task there itself instead of waking the engine to do it (one
/// thread hop less per round trip). The state lives in SharedState under
/// inboxMutex (lentFd, lentSlot); the socket is taken once, by whoever comes
/// first, and the engine takes it back before it touches that worker again
/// (Engine::Entry), so the descriptor stays valid while it is lent. Only
/// where writes go straight to a descriptor (platform::hasDirectSocketWrites):
/// elsewhere the engine never lends, and every task goes through the inbox.
class SocketLending
{
public:
    explicit SocketLending(SharedState *shared)
        : m_shared(shared)
    {
    }

    /// I/O thread. Lends fd, the socket of the worker in slotId; refused
    /// (false) while the inbox holds tasks, as those go first.
    bool lend(int slotId, int fd);
    /// I/O thread. Ends the lend: true if a submission wrote a task to the
    /// socket, which the engine must then take from the inbox before it
    /// reads that worker's answer.
    bool takeBack();
    /// The worker whose socket is lent, or 0 (I/O thread).
    int lentSlot() const { return m_lentSlot; }

    /// Submitting thread, inboxMutex held, before task goes to the inbox:
    /// writes it to the lent socket if there is one and nothing waits before
    /// it. task.sentToSlot says where it went; task.unsentTail holds what the
    /// socket could not take at once (the engine writes it first).
    static void trySend(SharedState &shared, Task &task);

    /// Frames larger than this go the usual way.
    static constexpr qsizetype MaxLentFrame = 16 * 1024;

private:
    SharedState *const m_shared;
    int m_lentSlot = 0;
};

} // namespace QtProcessPool

#endif
