// SPDX-License-Identifier: MIT
#include "pool/outputbatcher.h"

#include <algorithm>
#include <cstring>

namespace QtProcessPool {

void OutputBatcher::append(const QByteArray &bytes)
{
    const char *data = bytes.constData();
    qsizetype size = bytes.size();
    while (size > 0) {
        const char *newline = static_cast<const char *>(std::memchr(data, '\n', size_t(size)));
        if (!newline) {
            m_partial.append(data, size);
            // A line that never ends goes on in pieces, as it always did.
            while (m_partial.size() >= MaxLineBytes) {
                m_partial.insert(MaxLineBytes, '\n');
                keep(m_partial.constData(), MaxLineBytes + 1);
                m_partial.remove(0, MaxLineBytes + 1);
            }
            return;
        }
        if (!m_partial.isEmpty()) {
            // The line begun in an earlier read ends here.
            m_partial.append(data, newline + 1 - data);
            keep(m_partial.constData(), m_partial.size());
            m_partial.clear();
            size -= newline + 1 - data;
            data = newline + 1;
            continue;
        }
        // Every whole line of this read at once.
        const char *last = newline;
        for (const char *next; (next = static_cast<const char *>(std::memchr(
                                    last + 1, '\n', size_t(data + size - last - 1))));) {
            last = next;
        }
        keep(data, last + 1 - data);
        size -= last + 1 - data;
        data = last + 1;
    }
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

QByteArray prefixLines(qint64 pid, const QByteArray &text)
{
    const QByteArray prefix = "[worker " + QByteArray::number(pid) + "] ";
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
