// SPDX-License-Identifier: MIT
// A sequential in-memory device for the protocol tests: what is written can be
// read back, like the far end of a socket, and it records what the reader asks
// for, so a test can tell that no large read (and allocation) was attempted.
#ifndef QTPROCESSPOOL_TESTS_PIPEDEVICE_H
#define QTPROCESSPOOL_TESTS_PIPEDEVICE_H

#include <QtCore/QByteArray>
#include <QtCore/QIODevice>

#include <algorithm>
#include <cstring>

class PipeDevice : public QIODevice
{
public:
    PipeDevice() { open(QIODevice::ReadWrite | QIODevice::Unbuffered); }

    bool isSequential() const override { return true; }
    qint64 bytesAvailable() const override
    {
        return m_pending.size() + QIODevice::bytesAvailable();
    }

    /// Makes every later read fail (as a broken device would).
    void setFailReads(bool fail) { m_failReads = fail; }
    /// The largest size any read asked for.
    qint64 largestRead() const { return m_largestRead; }
    /// How many bytes were taken out so far.
    qint64 bytesTaken() const { return m_taken; }

protected:
    qint64 readData(char *data, qint64 maxSize) override
    {
        m_largestRead = std::max(m_largestRead, maxSize);
        if (m_failReads)
            return -1;
        const qint64 n = std::min<qint64>(maxSize, m_pending.size());
        if (n <= 0)
            return 0;
        std::memcpy(data, m_pending.constData(), size_t(n));
        m_pending.remove(0, qsizetype(n));
        m_taken += n;
        return n;
    }
    qint64 writeData(const char *data, qint64 size) override
    {
        m_pending.append(data, qsizetype(size));
        return size;
    }

private:
    QByteArray m_pending;
    qint64 m_largestRead = 0;
    qint64 m_taken = 0;
    bool m_failReads = false;
};

#endif
