// SPDX-License-Identifier: MIT
// Writes the seed corpus of the fuzz harnesses (valid messages, in each
// harness's input format) under the directory given. The files are committed
// in corpus/; run this again only when the protocol changes:
//   qpp_fuzz_make_corpus tests/fuzz/corpus
#include "protocol/frame.h"
#include "protocol/messages.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QtEndian>

#include <cstdio>

using namespace QtProcessPool::protocol;

namespace {

bool ok = true;

void write(const QString &dir, const QString &name, const QByteArray &bytes)
{
    QDir().mkpath(dir);
    QFile file(dir + QLatin1Char('/') + name);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size()) {
        std::fprintf(stderr, "cannot write %s\n", qPrintable(file.fileName()));
        ok = false;
    }
}

/// Selector byte (as the message harnesses read it) followed by the body.
template <typename Message>
QByteArray selected(quint8 selector, const Message &m)
{
    return QByteArray(1, char(selector)) + encodeBody(m);
}

/// Chunking and limit bytes (as fuzz_frame reads them) followed by the stream.
QByteArray stream(quint8 chunking, quint8 limit, const QByteArray &frames)
{
    return QByteArray(1, char(chunking)) + QByteArray(1, char(limit)) + frames;
}

/// One reference frame as fuzz_sharedbody reads it: kind, length, body.
QByteArray reference(quint8 kind, const QByteArray &body)
{
    return QByteArray(1, char(kind)) + QByteArray(1, char(body.size())) + body;
}

/// An arena reference's body: type, size, offset, end, new capacity.
QByteArray arenaReference(quint32 size, quint32 offset, quint64 end, quint32 capacity)
{
    char body[22];
    qToBigEndian<quint16>(18, body);
    qToBigEndian<quint32>(size, body + 2);
    qToBigEndian<quint32>(offset, body + 6);
    qToBigEndian<quint64>(end, body + 10);
    qToBigEndian<quint32>(capacity, body + 18);
    return QByteArray(body, sizeof body);
}

/// fuzz_sharedbody's set-up byte and memfd size, then its frames.
QByteArray sideChannel(quint8 setup, quint32 memfdSize, const QByteArray &frames)
{
    char size[4];
    qToBigEndian<quint32>(memfdSize, size);
    return QByteArray(1, char(setup)) + QByteArray(size, 4) + frames;
}

QByteArray nonce()
{
    QByteArray bytes;
    for (int i = 0; i < NonceSize; ++i)
        bytes += char(i * 37 + 11);
    return bytes;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
        return 2;
    }
    const QString root = QString::fromLocal8Bit(argv[1]);
    const QString unicode = QStringLiteral(u"t\u00e4sk \u540d\u524d \U0001F642");
    const Hello hello{ProtocolVersion, 2, 31337, nonce().toHex().left(32)};
    const RunTask run{42,
                      QStringLiteral("square"),
                      {QStringLiteral("int"), QString(), QStringLiteral("")},
                      QStringLiteral("QString"),
                      0,
                      QByteArray::fromHex("0000000a")};
    const RunTask mapped{0xffffffffffffffffULL,
                         unicode,
                         {QStringLiteral("QList<int>")},
                         QString(),
                         3,
                         QByteArray::fromHex("000000010000000200000003")};
    const TaskProgress progress{42, 0, 100, 50, unicode};
    const TaskResults results{42, 2, QByteArray::fromHex("0000000100000002")};
    const TaskFinished finished{42, 1, QByteArray::fromHex("00000000")};
    const TaskFailed failed{7, 2, QStringLiteral("boom: ") + unicode,
                            QStringLiteral("std::runtime_error")};

    const QString worker = root + QStringLiteral("/fuzz_worker_messages");
    write(worker, QStringLiteral("challenge"), selected(0, Challenge{nonce()}));
    write(worker, QStringLiteral("runtask"), selected(1, run));
    write(worker, QStringLiteral("runtask-mapped"), selected(1, mapped));
    write(worker, QStringLiteral("canceltask"), selected(2, CancelTask{42}));
    write(worker, QStringLiteral("revoketask"), selected(3, RevokeTask{43}));
    write(worker, QStringLiteral("suspendtask"), selected(4, SuspendTask{42, 1}));
    write(worker, QStringLiteral("starttask"), selected(5, StartTask{42}));

    const QString pool = root + QStringLiteral("/fuzz_pool_messages");
    write(pool, QStringLiteral("hello"), selected(0, hello));
    write(pool, QStringLiteral("taskstarted"), selected(1, TaskStarted{42}));
    write(pool, QStringLiteral("taskfinished"), selected(2, finished));
    write(pool, QStringLiteral("taskfinished-empty"), selected(2, TaskFinished{43, 0, {}}));
    write(pool, QStringLiteral("taskfailed"), selected(3, failed));
    write(pool, QStringLiteral("taskresults"), selected(4, results));
    write(pool, QStringLiteral("taskprogress"), selected(5, progress));

    const QString frame = root + QStringLiteral("/fuzz_frame");
    const QByteArray handshake = encodeMessage(Challenge{nonce()}) + encodeMessage(hello);
    QByteArray task = encodeMessage(run) + encodeMessage(TaskStarted{42}) +
                      encodeMessage(progress) + encodeMessage(results) + encodeMessage(finished);
    QByteArray control = encodeMessage(SuspendTask{42, 1}) + encodeMessage(SuspendTask{42, 0}) +
                         encodeMessage(CancelTask{42}) + encodeMessage(RevokeTask{43}) +
                         encodeMessage(StartTask{44}) + encodeMessage(mapped) +
                         encodeMessage(failed);
    write(frame, QStringLiteral("handshake"), stream(0, 7, handshake));
    write(frame, QStringLiteral("task-bytewise"), stream(1, 7, task));
    write(frame, QStringLiteral("control-chunked"), stream(37, 6, control));
    write(frame, QStringLiteral("over-limit"), stream(5, 4, handshake + task));
    write(frame, QStringLiteral("unknown-type"),
          stream(9, 7, encodeFrame(0x7777, QByteArray("x")) + encodeMessage(TaskStarted{1})));
    write(frame, QStringLiteral("reserved-set"),
          stream(0, 7, QByteArray::fromHex("0000000000030001")));
    write(frame, QStringLiteral("partial"), stream(3, 7, task.left(task.size() - 5)));

    // fuzz_sharedbody: set-up bit 0 sends a memfd first, bit 1 announces a
    // size one more than its own, bits 2-3 pick its seals (0: against
    // shrinking and growing, 1: none, 2: also against writing); frame kind
    // bit 0 is an arena reference, bit 1 a 1 KiB limit.
    const QString shared = root + QStringLiteral("/fuzz_sharedbody");
    const quint32 arena = (2u << 20) + 64;
    char memfdReference[6];
    qToBigEndian<quint16>(18, memfdReference);
    qToBigEndian<quint32>(300000, memfdReference + 2);
    const QByteArray sealedBody = reference(0, QByteArray(memfdReference, 6));
    write(shared, QStringLiteral("arena-new-then-reuse"),
          sideChannel(1, arena,
                      reference(1, arenaReference(300000, 64, 300000, arena)) +
                          reference(1, arenaReference(300000, 300064, 600000, 0))));
    write(shared, QStringLiteral("arena-wrap"),
          sideChannel(1, arena,
                      reference(1, arenaReference(1 << 20, 64, 1 << 20, arena)) +
                          reference(1, arenaReference(1 << 20, 64, 3 << 20, 0))));
    write(shared, QStringLiteral("arena-outside"),
          sideChannel(1, arena, reference(1, arenaReference(300000, arena - 100, 300000, arena))));
    write(shared, QStringLiteral("arena-without-arena"),
          sideChannel(0, 0, reference(1, arenaReference(300000, 64, 300000, 0))));
    write(shared, QStringLiteral("arena-unsealed"),
          sideChannel(1 | 4, arena, reference(1, arenaReference(1000, 64, 1000, arena))));
    write(shared, QStringLiteral("arena-write-sealed"),
          sideChannel(1 | 8, arena, reference(1, arenaReference(1000, 64, 1000, arena))));
    write(shared, QStringLiteral("arena-size-mismatch"),
          sideChannel(1 | 2, arena, reference(1, arenaReference(1000, 64, 1000, arena))));
    write(shared, QStringLiteral("arena-over-limit"),
          sideChannel(1, arena, reference(1 | 2, arenaReference(300000, 64, 300000, arena))));
    write(shared, QStringLiteral("memfd-body"), sideChannel(1 | 8, 300000, sealedBody));
    write(shared, QStringLiteral("memfd-size-mismatch"),
          sideChannel(1 | 8 | 2, 300000, sealedBody));
    return ok ? 0 : 1;
}
