// SPDX-License-Identifier: MIT
// Unit tests of the persistent shared-memory arena (protocol/arena.h) on a
// real side channel: bodies go through one arena mapped once, which wraps,
// grows for a larger body and falls back to a memfd of their own when it has
// no room; what a hostile peer can announce (offsets, sizes, arenas of the
// wrong kind, a consumed position that makes no sense) is refused without a
// leaked descriptor.
#include "pattern.h"
#include "sidechannel.h"

#include "protocol/arena.h"
#include "protocol/frame.h"
#include "protocol/sharedbody.h"

#include <QtCore/QBuffer>
#include <QtCore/QtEndian>
#include <QtTest/QTest>

using namespace QtProcessPool::protocol;
using namespace SideChannel;

namespace {

/// The capacities announced by the arena references in wire, in order (0:
/// the arena in use; -1: a body in a memfd of its own).
QList<qint64> announcedArenas(const QByteArray &wire)
{
    QByteArray copy = wire;
    QBuffer buffer(&copy);
    buffer.open(QIODevice::ReadOnly);
    FrameReader reader;
    QList<qint64> capacities;
    Frame frame;
    while (reader.read(buffer, &frame) == FrameReader::Status::Ready) {
        if (frame.type == ArenaBodyFrameType && frame.body.size() == 22)
            capacities.append(qFromBigEndian<quint32>(frame.body.constData() + 18));
        else if (frame.type == SharedBodyFrameType)
            capacities.append(-1);
    }
    return capacities;
}

/// An arena reference frame as a peer would write it.
QByteArray arenaReference(quint32 size, quint32 offset, quint64 end, quint32 capacity,
                          quint16 type = 18)
{
    char body[22];
    qToBigEndian<quint16>(type, body);
    qToBigEndian<quint32>(size, body + 2);
    qToBigEndian<quint32>(offset, body + 6);
    qToBigEndian<quint64>(end, body + 10);
    qToBigEndian<quint32>(capacity, body + 18);
    return encodeFrame(ArenaBodyFrameType, QByteArray(body, sizeof body));
}

/// A memfd of size bytes (zero), with seals.
int arenaMemfd(qint64 size, int seals)
{
    const int fd = ::memfd_create("test-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ::ftruncate(fd, off_t(size)) != 0 ||
        (seals && ::fcntl(fd, F_ADD_SEALS, seals) != 0)) {
        if (fd >= 0)
            ::close(fd);
        return -1;
    }
    return fd;
}

QByteArray oneFrame(quint16 type, const QByteArray &body)
{
    QByteArray frames;
    appendFrame(frames, type, body);
    return frames;
}

constexpr int ArenaSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

} // namespace

class TestArena : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void bodiesReuseOneArena();
    void arenaGrowsForALargerBody();
    void unreadArenaFallsBackToMemfd();
    void bodyLargerThanAnyArena();
    void bodiesAreViewsOfTheArena();
    void spaceReturnsOnlyWhenLetGo();
    void viewsOutliveTheirArena();
    void misplacedBodiesAreRead();
    void hostileArenaReference_data();
    void hostileArenaReference();
    void senderDistrustsTheConsumedPosition_data();
    void senderDistrustsTheConsumedPosition();
};

void TestArena::bodiesReuseOneArena()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // A peer that reads each body and lets it go before the next (giving its
    // space back, as it does before it answers): one arena, sent once, used
    // as a ring (700 KiB bodies in 2 MiB wrap every third body).
    Pair pair;
    QList<qint64> arenas;
    for (int i = 0; i < 20; ++i) {
        pair.receiver.reclaim();
        const QByteArray body = pattern(700 * 1024 + i, i);
        const QByteArray wire = pair.sender.divert(oneFrame(quint16(100 + i), body));
        arenas += announcedArenas(wire);
        const QList<Frame> got = readAll(wire, pair.receiver);
        QCOMPARE(got.size(), 1);
        QCOMPARE(got[0].type, quint16(100 + i));
        QVERIFY(got[0].body == body);
    }
    QCOMPARE(arenas.size(), 20);
    QCOMPARE(arenas.first(), ArenaDataOffset + ArenaMinimumData);
    QCOMPARE(arenas.mid(1), QList<qint64>(19, 0));
    QCOMPARE(pair.sender.arenaSentCount(), 20);
    QCOMPARE(pair.sender.sentCount(), 20);
    QCOMPARE(pair.receiver.arenaReceivedCount(), 20);
}

void TestArena::arenaGrowsForALargerBody()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // A body larger than the arena makes a new one, which stays for smaller
    // bodies; the receiver maps each in turn.
    Pair pair;
    const QList<qsizetype> sizes = {300000, 5 << 20, 300000, 5 << 20};
    QList<qint64> arenas;
    for (int i = 0; i < sizes.size(); ++i) {
        const QByteArray body = pattern(sizes[i], i);
        const QByteArray wire = pair.sender.divert(oneFrame(18, body));
        arenas += announcedArenas(wire);
        const QList<Frame> got = readAll(wire, pair.receiver);
        QCOMPARE(got.size(), 1);
        QVERIFY(got[0].body == body);
    }
    // 5 MiB in 2 MiB steps: 6 MiB.
    QCOMPARE(arenas, QList<qint64>({ArenaDataOffset + ArenaMinimumData,
                                    ArenaDataOffset + (qint64(6) << 20), 0, 0}));
    QCOMPARE(pair.receiver.arenaReceivedCount(), 4);
}

void TestArena::unreadArenaFallsBackToMemfd()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // Nothing read yet: the arena takes what fits (two bodies of one slot
    // short of 1 MiB), the rest go in memfds of their own, and all arrive in
    // order once read.
    Pair pair;
    QByteArray frames;
    QList<QByteArray> bodies;
    for (int i = 0; i < 4; ++i) {
        bodies.append(pattern((qsizetype(1) << 20) - ArenaSlotRoom - 1, i));
        appendFrame(frames, quint16(30 + i), bodies.last());
    }
    const QByteArray wire = pair.sender.divert(frames);
    QCOMPARE(announcedArenas(wire), QList<qint64>({ArenaDataOffset + ArenaMinimumData, 0, -1, -1}));
    QCOMPARE(pair.sender.arenaSentCount(), 2);
    QCOMPARE(pair.sender.sentCount(), 4);
    QList<Frame> got = readAll(wire, pair.receiver);
    QCOMPARE(got.size(), 4);
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(got[i].type, quint16(30 + i));
        QVERIFY(got[i].body == bodies[i]);
    }
    QCOMPARE(pair.receiver.viewedCount(), 2);
    // Read, but still held: no room yet.
    pair.receiver.reclaim();
    QCOMPARE(announcedArenas(pair.sender.divert(oneFrame(40, bodies.first()))),
             QList<qint64>({-1}));
    // Released and given back: the arena has room again.
    QCOMPARE(readAll(pair.sender.divert(oneFrame(40, bodies.first())), pair.receiver).size(), 1);
    got.clear();
    pair.receiver.reclaim();
    const QByteArray next = pair.sender.divert(oneFrame(41, bodies.first()));
    QCOMPARE(announcedArenas(next), QList<qint64>({0}));
    QCOMPARE(readAll(next, pair.receiver).value(0).body, bodies.first());
}

void TestArena::bodyLargerThanAnyArena()
{
    QPP_NEEDS_SIDE_CHANNEL();
    Pair pair;
    const QByteArray body(ArenaMaximumData + 1, 'x');
    const QByteArray wire = pair.sender.divert(oneFrame(18, body));
    QCOMPARE(announcedArenas(wire), QList<qint64>({-1}));
    QCOMPARE(pair.sender.arenaSentCount(), 0);
    const QList<Frame> got = readAll(wire, pair.receiver);
    QCOMPARE(got.size(), 1);
    QVERIFY(got[0].body == body);
}

namespace {

/// Whether bytes lies inside the receiver's own mapping of an arena: not a
/// buffer of its own (a view's header sits right before its bytes).
bool isView(const QByteArray &bytes)
{
    QByteArray copy = bytes; // (data_ptr() is not const before Qt 6.5)
    QByteArray::DataPointer &pointer = copy.data_ptr();
    return pointer.d_ptr() && pointer.freeSpaceAtBegin() == 0 &&
           reinterpret_cast<const char *>(pointer.d_ptr()) + 16 == bytes.constData() &&
           (quintptr(bytes.constData()) - ArenaSlotRoom) % ArenaSlotSize == 0;
}

/// Sends bodies through pair, returning the frames as received.
QList<Frame> sendBodies(Pair &pair, const QList<QByteArray> &bodies, QList<qint64> *arenas)
{
    QByteArray frames;
    for (const QByteArray &body : bodies)
        appendFrame(frames, 18, body);
    const QByteArray wire = pair.sender.divert(frames);
    *arenas = announcedArenas(wire);
    return readAll(wire, pair.receiver);
}

} // namespace

void TestArena::bodiesAreViewsOfTheArena()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // The receiver reads in place: a body is a QByteArray over its mapping.
    // Whatever its holder does to it (write, grow, shrink) detaches a copy;
    // the arena's bytes and every other holder's stay as they were.
    Pair pair;
    const QByteArray body = pattern(300000, 1);
    QList<qint64> arenas;
    const QList<Frame> got = sendBodies(pair, {body}, &arenas);
    QCOMPARE(arenas, QList<qint64>({ArenaDataOffset + ArenaMinimumData}));
    QCOMPARE(got.size(), 1);
    QCOMPARE(pair.receiver.viewedCount(), 1);
    const QByteArray view = got[0].body;
    QVERIFY(isView(view));
    QCOMPARE(view, body);
    QCOMPARE(view.constData()[view.size()], '\0'); // as in any QByteArray

    QByteArray written = view;
    written[0] = char(written[0] + 1);
    QByteArray grown = view;
    grown.append("tail", 4);
    QByteArray shrunk = view;
    shrunk.chop(10);
    shrunk.squeeze();
    QByteArray reserved = view;
    reserved.reserve(2 * view.size());
    QByteArray detached = got[0].body;
    detached.detach(); // a copy of one's own, as the README's security model advises
    QVERIFY(!isView(written) && !isView(grown) && !isView(shrunk) && !isView(reserved) &&
            !isView(detached));
    QCOMPARE(detached, body);
    QCOMPARE(written.mid(1), body.mid(1));
    QCOMPARE(grown, body + "tail");
    QCOMPARE(shrunk, body.chopped(10));
    QCOMPARE(reserved, body);
    QVERIFY(isView(view));
    QCOMPARE(view, body);
    QCOMPARE(got[0].body, body);
}

void TestArena::spaceReturnsOnlyWhenLetGo()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // Space goes back in ring order, once no one holds the views: a body held
    // keeps the ones after it too.
    Pair pair;
    const qsizetype half = (qsizetype(1) << 20) - ArenaSlotRoom - 1; // two fill the arena
    const QByteArray a = pattern(half, 2);
    const QByteArray b = pattern(half, 3);
    QList<qint64> arenas;
    QList<Frame> got = sendBodies(pair, {a, b}, &arenas);
    QCOMPARE(arenas, QList<qint64>({ArenaDataOffset + ArenaMinimumData, 0}));
    QByteArray heldA = got[0].body;
    QByteArray heldB = got[1].body;
    got.clear();
    QVERIFY(isView(heldA) && isView(heldB));

    heldB = QByteArray(); // the later one let go: the earlier still holds the ring
    pair.receiver.reclaim();
    QList<Frame> more = sendBodies(pair, {b}, &arenas);
    QCOMPARE(arenas, QList<qint64>({-1})); // a memfd of its own
    QCOMPARE(more.value(0).body, b);
    more.clear();

    heldA = QByteArray();
    pair.receiver.reclaim();
    more = sendBodies(pair, {b, a}, &arenas);
    QCOMPARE(arenas, QList<qint64>({0, 0})); // both slots again
    QCOMPARE(more.size(), 2);
    QCOMPARE(more[0].body, b);
    QCOMPARE(more[1].body, a);
    QVERIFY(isView(more[0].body) && isView(more[1].body));
}

void TestArena::viewsOutliveTheirArena()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // A new arena (a larger body) and a peer gone both let the arena go;
    // views of it stay valid until their holders let them go.
    Pair pair;
    const QByteArray small = pattern(300000, 4);
    const QByteArray large = pattern(5 << 20, 5);
    QList<qint64> arenas;
    QByteArray first = sendBodies(pair, {small}, &arenas).value(0).body;
    QByteArray second = sendBodies(pair, {large}, &arenas).value(0).body;
    QCOMPARE(arenas, QList<qint64>({ArenaDataOffset + (qint64(6) << 20)}));
    QVERIFY(isView(first) && isView(second));
    pair.receiver.reset(); // the peer is gone
    QCOMPARE(first, small);
    QCOMPARE(second, large);
    const QByteArray copyOfFirst = first;
    first = QByteArray();
    QCOMPARE(copyOfFirst, small); // one holder left
    Pair another;                 // another peer's arena reclaims what was let go meanwhile
    QCOMPARE(sendBodies(another, {small}, &arenas).value(0).body, small);
    QCOMPARE(second, large);
    QCOMPARE(copyOfFirst, small);
}

void TestArena::misplacedBodiesAreRead()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // A body that does not start where a slot's room ends, or whose slot a
    // view still uses, is read (pread), not viewed: the receiver's headers
    // never share a page.
    Pair pair;
    const qint64 capacity = ArenaDataOffset + ArenaMinimumData;
    QByteArray contents(capacity, '\0');
    for (qsizetype i = ArenaDataOffset; i < contents.size(); ++i)
        contents[i] = char(i * 7);
    const int arena = memfdWith(contents, ArenaSeals);
    QVERIFY(arena >= 0);
    QVERIFY(sendRaw(pair.rawSender, quint32(capacity), {arena}));
    ::close(arena);
    const quint32 size = 300000;
    const quint32 slotted = quint32(ArenaDataOffset + ArenaSlotRoom);
    QByteArray frames = arenaReference(size, slotted, 1000, quint32(capacity));
    frames += arenaReference(size, slotted + 8, 2000, 0);            // not after a slot's room
    frames += arenaReference(size, slotted, 3000, 0);                // a slot in use
    frames += arenaReference(size, quint32(ArenaSlotRoom), 4000, 0); // the header's page
    QString error;
    const QList<Frame> got = readAll(frames, pair.receiver, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(got.size(), 4);
    const QList<quint32> offsets = {slotted, slotted + 8, slotted, quint32(ArenaSlotRoom)};
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(got[i].type, quint16(18));
        QCOMPARE(got[i].body, contents.mid(offsets[i], size));
        QCOMPARE(isView(got[i].body), i == 0);
    }
    QCOMPARE(pair.receiver.viewedCount(), 1);
}

void TestArena::hostileArenaReference_data()
{
    QTest::addColumn<QString>("what");
    QTest::newRow("no arena yet") << "no arena";
    QTest::newRow("offset in the header") << "header";
    QTest::newRow("body past the end") << "past end";
    QTest::newRow("offset past the end") << "offset past end";
    QTest::newRow("size over the limit") << "limit";
    QTest::newRow("reference to a reference") << "reference type";
    QTest::newRow("reference too short") << "short";
    QTest::newRow("arena is a pipe") << "pipe";
    QTest::newRow("arena not sealed against shrinking") << "unsealed";
    QTest::newRow("arena sealed against writing") << "write sealed";
    QTest::newRow("arena smaller than announced") << "smaller";
    QTest::newRow("arena larger than any") << "too large";
    QTest::newRow("two descriptors") << "two";
    QTest::newRow("nothing on the channel") << "nothing";
}

void TestArena::hostileArenaReference()
{
    QFETCH(QString, what);
    QPP_NEEDS_SIDE_CHANNEL();
    Pair pair;
    const quint32 capacity = quint32(ArenaDataOffset + ArenaMinimumData);
    const int before = openDescriptorCount();
    QList<int> toClose;
    // What goes on the side channel: a good arena, unless the row says otherwise.
    int arena = -1;
    QList<int> sent;
    qint64 made = capacity;
    int seals = ArenaSeals;
    if (what == QLatin1String("unsealed"))
        seals = 0;
    else if (what == QLatin1String("write sealed"))
        seals = ArenaSeals | F_SEAL_WRITE;
    else if (what == QLatin1String("smaller"))
        made = capacity - 1;
    if (what == QLatin1String("pipe")) {
        int fds[2];
        QCOMPARE(::pipe(fds), 0);
        toClose << fds[0] << fds[1];
        sent << fds[0];
    } else if (what != QLatin1String("no arena") && what != QLatin1String("nothing")) {
        arena = arenaMemfd(made, seals);
        QVERIFY(arena >= 0);
        toClose << arena;
        sent << arena;
        if (what == QLatin1String("two"))
            sent << arena;
    }
    quint32 announced = capacity;
    if (what == QLatin1String("too large")) {
        ::close(arena);
        toClose.clear();
        announced = quint32(ArenaDataOffset + ArenaMaximumData + 4096);
        arena = arenaMemfd(announced, ArenaSeals); // sparse: no memory
        QVERIFY(arena >= 0);
        toClose << arena;
        sent = {arena};
    }
    if (!sent.isEmpty())
        QVERIFY(sendRaw(pair.rawSender, announced, sent));

    quint32 size = 300000;
    quint32 offset = quint32(ArenaHeaderSize);
    quint32 newCapacity = announced;
    QByteArray frame;
    if (what == QLatin1String("no arena"))
        newCapacity = 0;
    else if (what == QLatin1String("header"))
        offset = 8;
    else if (what == QLatin1String("past end"))
        offset = capacity - size + 1;
    else if (what == QLatin1String("offset past end"))
        offset = capacity + 1;
    else if (what == QLatin1String("limit"))
        size = 300001; // the limit below is 300000
    if (what == QLatin1String("reference type"))
        frame = arenaReference(size, offset, size, newCapacity, ArenaBodyFrameType);
    else if (what == QLatin1String("short"))
        frame = encodeFrame(ArenaBodyFrameType, QByteArray(21, '\0'));
    else
        frame = arenaReference(size, offset, offset + size, newCapacity);

    QString error;
    const QList<Frame> got = readAll(frame, pair.receiver, &error, 300000);
    QVERIFY(got.isEmpty());
    QVERIFY2(!error.isEmpty(), qPrintable(what));
    QCOMPARE(pair.receiver.receivedCount(), 0);
    for (int fd : toClose)
        ::close(fd);
    // Whatever came with a refused message was closed or unmapped, not leaked.
    pair.receiver.reset();
    QCOMPARE(openDescriptorCount(), before - 1); // the receiver's channel, closed just now
}

void TestArena::senderDistrustsTheConsumedPosition_data()
{
    QTest::addColumn<quint64>("consumed"); // written over the real one after the first body
    QTest::addColumn<bool>("usable");
    const quint64 end = ArenaSlotRoom + 300000 + 1; // of the first body, and its '\0'
    QTest::newRow("all read (the truth)") << end << true;
    QTest::newRow("nothing read (the truth too)") << quint64(0) << true;
    QTest::newRow("ahead of what was written") << end + 1 << false;
    QTest::newRow("far ahead") << ~quint64(0) << false;
}

void TestArena::senderDistrustsTheConsumedPosition()
{
    QFETCH(quint64, consumed);
    QFETCH(bool, usable);
    QPP_NEEDS_SIDE_CHANNEL();
    OutgoingArena arena;
    const QByteArray body = pattern(300000);
    ArenaPlacement first;
    QVERIFY(arena.place({body}, &first));
    QVERIFY(first.newFd >= 0);
    // The peer's view of the arena: it writes the consumed position.
    void *map =
        ::mmap(nullptr, first.newCapacity, PROT_READ | PROT_WRITE, MAP_SHARED, first.newFd, 0);
    QVERIFY(map != MAP_FAILED);
    *static_cast<quint64 *>(map) = consumed;
    ArenaPlacement second;
    QCOMPARE(arena.place({body}, &second), usable);
    QCOMPARE(arena.isUsable(), usable);
    if (usable) {
        QCOMPARE(second.newFd, -1);
        // The second body takes the next slot.
        const quint64 taken = ArenaSlotRoom + 300000 + 1;
        const quint64 slot = (taken + ArenaSlotSize - 1) / ArenaSlotSize * ArenaSlotSize;
        QCOMPARE(first.end, taken);
        QCOMPARE(second.end, slot + taken);
        QCOMPARE(qint64(second.offset), ArenaDataOffset + qint64(slot) + ArenaSlotRoom);
        QVERIFY(std::memcmp(static_cast<char *>(map) + second.offset, body.constData(),
                            size_t(body.size())) == 0);
        if (consumed > 0) {
            // Going back is nonsense too.
            *static_cast<quint64 *>(map) = consumed - 1;
            ArenaPlacement third;
            QVERIFY(!arena.place({body}, &third));
            QVERIFY(!arena.isUsable());
        }
    }
    ::munmap(map, first.newCapacity);
}

QTEST_GUILESS_MAIN(TestArena)
#include "tst_arena.moc"
