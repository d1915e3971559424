// SPDX-License-Identifier: MIT
#include "pool/outputbatcher.h"

#include <algorithm>
#include <cstring>

namespace QtProcessPool {

void OutputBatcher::append(const QByteArray &bytes)
{
    const char *data = bytes.constData();
    const char *const end = data + bytes.size();
    // A line longer than MaxLineBytes goes on in pieces of MaxLineBytes, the
    // same however the reads split it: one that arrives whole in one read
    // would otherwise be dropped whole once it exceeds a batch.
    const auto cutPartial = [this] {
        m_partial.append('\n');
        keep(m_partial.constData(), m_partial.size());
        m_partial.clear();
    };
    while (data < end && !m_partial.isEmpty()) {
        // The line begun in an earlier read goes on, up to its end or its cut.
        const auto *newline =
            static_cast<const char *>(std::memchr(data, '\n', size_t(end - data)));
        const qsizetype length = (newline ? newline : end) - data;
        const qsizetype taken = std::min(length, MaxLineBytes - m_partial.size());
        m_partial.append(data, taken);
        data += taken;
        if (data == newline)
            ++data; // it ended
        else if (data == end)
            return;   // it goes on in the next read (at most MaxLineBytes kept)
        cutPartial(); // ended, or more than MaxLineBytes
    }
    // Whole lines of this read go to keep() together, as one run.
    const char *run = data;
    while (data < end) {
        const auto *newline =
            static_cast<const char *>(std::memchr(data, '\n', size_t(end - data)));
        const qsizetype length = (newline ? newline : end) - data;
        if (length > MaxLineBytes) {
            keep(run, data - run);
            m_partial.append(data, MaxLineBytes);
            cutPartial();
            data += MaxLineBytes;
            run = data;
        } else if (!newline) {
            m_partial.append(data, length); // the rest waits for its newline
            break;
        } else {
            data = newline + 1;
        }
    }
    keep(run, data - run);
}

void OutputBatcher::keep(const char *lines, qsizetype size)
{
    const qsizetype room = MaxBatchBytes - m_lines.size();
    qsizetype taken = 0;
    if (room > 0 && m_dropped == 0) {
        // Up to the last line that fits whole.
        taken = std::min(size, room);
        while (taken > 0 && lines[taken - 1] != '\n')
            --taken;
        m_lines.append(lines, taken);
    }
    m_dropped += std::count(lines + taken, lines + size, '\n');
}

OutputBatcher::Batch OutputBatcher::take(bool flush)
{
    if (flush && !m_partial.isEmpty()) {
        m_partial.append('\n');
        keep(m_partial.constData(), m_partial.size());
        m_partial.clear();
    }
    Batch batch{std::move(m_lines), m_dropped};
    m_lines = QByteArray();
    m_dropped = 0;
    return batch;
}

QByteArray prefixLines(qint64 pid, const QByteArray &text, const QString &host)
{
    const QByteArray prefix = "[worker " + (host.isEmpty() ? QByteArray() : host.toUtf8() + ':') +
                              QByteArray::number(pid) + "] ";
    QByteArray out;
    out.reserve(text.size() + prefix.size() * (text.count('\n') + 1));
    for (qsizetype begin = 0; begin < text.size();) {
        qsizetype end = text.indexOf('\n', begin);
        if (end < 0)
            end = text.size() - 1;
        out += prefix;
        out.append(text.constData() + begin, end + 1 - begin);
        begin = end + 1;
    }
    return out;
}

} // namespace QtProcessPool
