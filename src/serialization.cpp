// SPDX-License-Identifier: MIT
#include <QtProcessPool/detail/serialization.h>

#include "platformfeatures_p.h"

#include <QtCore/QBuffer>

#ifdef QPP_HAVE_LINUX_FEATURES
#include <sys/mman.h>
#endif

#include <algorithm>
#include <cstdint>

namespace QtProcessPool::detail {

namespace {

/// Asks for transparent huge pages over [data, data + size), before the pages
/// are first touched; harmless where they are off or unsupported.
void adviseHugePages(char *data, qsizetype size)
{
#if defined(QPP_HAVE_LINUX_FEATURES) && defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t HugePage = std::uintptr_t(2) << 20;
    const std::uintptr_t begin = (std::uintptr_t(data) + HugePage - 1) & ~(HugePage - 1);
    const std::uintptr_t end = (std::uintptr_t(data) + std::uintptr_t(size)) & ~(HugePage - 1);
    if (end > begin)
        ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_HUGEPAGE);
#else
    Q_UNUSED(data);
    Q_UNUSED(size);
#endif
}

} // namespace

void reserveLarge(QByteArray &bytes, qsizetype capacity)
{
    Q_ASSERT(bytes.isEmpty());
    bytes.reserve(capacity);
    if (capacity >= LargeBufferSize)
        adviseHugePages(bytes.data(), bytes.capacity());
}

QByteArray sharedSlice(const QByteArray &whole, qsizetype pos, qsizetype size)
{
    Q_ASSERT(pos >= 0 && size >= 0 && pos + size <= whole.size());
    QByteArray owner = whole;
    QByteArray::DataPointer slice = owner.data_ptr();
    if (!slice.d_ptr()) // raw data: nothing to share ownership of
        return whole.mid(pos, size);
    slice.ptr += pos;
    slice.size = size;
    return QByteArray(std::move(slice));
}

void Payload::write(QDataStream &out, const QByteArray &value)
{
    if (!splices(value)) {
        out << value;
        return;
    }
    out << quint32(value.size());
    // QDataStream's QBuffer writes straight into m_bytes: its size is where
    // the value's bytes go.
    m_splices.append(Splice{m_bytes.size(), value});
}

qsizetype Payload::size() const
{
    qsizetype size = m_bytes.size();
    for (const Splice &splice : m_splices)
        size += splice.value.size();
    return size;
}

QList<QByteArray> Payload::pieces() const
{
    QList<QByteArray> pieces;
    pieces.reserve(2 * m_splices.size() + 1);
    qsizetype from = 0;
    for (const Splice &splice : m_splices) {
        if (splice.at > from)
            pieces.append(sharedSlice(m_bytes, from, splice.at - from));
        pieces.append(splice.value);
        from = splice.at;
    }
    if (from == 0)
        pieces.append(m_bytes);
    else if (m_bytes.size() > from)
        pieces.append(sharedSlice(m_bytes, from, m_bytes.size() - from));
    pieces.removeIf([](const QByteArray &piece) { return piece.isEmpty(); });
    return pieces;
}

QByteArray Payload::flattened() const
{
    if (m_splices.isEmpty())
        return m_bytes;
    QByteArray all;
    if (size() >= LargeBufferSize)
        reserveLarge(all, size());
    else
        all.reserve(size());
    for (const QByteArray &piece : pieces())
        all.append(piece);
    return all;
}

bool readByteArray(QDataStream &in, QByteArray &value)
{
    value.clear();
    quint32 size = 0;
    in >> size;
    if (in.status() != QDataStream::Ok)
        return false;
    if (size == 0xffffffffu)
        return true; // a null QByteArray
    QIODevice *device = in.device();
    if (!device || qint64(size) > device->bytesAvailable())
        return false; // announces more than there is: allocate nothing
    if (qsizetype(size) >= LargeBufferSize) {
        if (auto *buffer = qobject_cast<QBuffer *>(device)) {
            const qint64 pos = buffer->pos();
            value = sharedSlice(buffer->data(), qsizetype(pos), qsizetype(size));
            return buffer->seek(pos + size);
        }
    }
    if (qsizetype(size) >= LargeBufferSize)
        reserveLarge(value, qsizetype(size));
    value.resize(qsizetype(size));
    constexpr qsizetype Step = qsizetype(1) << 30; // readRawData() takes an int
    for (qsizetype done = 0; done < value.size();) {
        const int chunk = int(std::min(Step, value.size() - done));
        if (in.readRawData(value.data() + done, chunk) != chunk)
            return false;
        done += chunk;
    }
    return true;
}

} // namespace QtProcessPool::detail
