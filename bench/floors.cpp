// SPDX-License-Identifier: MIT
// The floors QtProcessPool is measured against.
//
// Floor A: what the operating system can do. A socketpair to a child process
// (this executable, posix_spawn, in --floor-a-child mode), blocking POSIX
// read/write, 8-byte headers (floor_a.cpp); plus memcpy for the payload
// sizes.
//
// Floor B (floor_b.cpp), a reference: a hand-written QLocalSocket protocol.
#include "floors.h"

#include <cstring>
#include <deque>
#include <vector>

#include <poll.h>

namespace Bench {

namespace {

// ---------------------------------------------------------------------------
// Floor A

qint32 incrementResult(const Frame &frame)
{
    qint32 value = 0;
    if (frame.op != Increment || frame.body.size() != sizeof value)
        throw Failure(QStringLiteral("unexpected reply (op %1)").arg(frame.op));
    std::memcpy(&value, frame.body.constData(), sizeof value);
    return value;
}

void checkIncrement(qint32 sent, qint32 received)
{
    if (received != sent + 1)
        throw Failure(QStringLiteral("increment(%1) gave %2").arg(sent).arg(received));
}

void floorALatency(const Config &config, Results &results)
{
    FloorAChild child(childProgram());
    child.expectHello();
    QList<double> samples;
    samples.reserve(config.latencyRoundTrips);
    QElapsedTimer timer;
    for (qint32 i = 0; i < config.latencyRoundTrips; ++i) {
        timer.start();
        child.sendIncrement(i);
        const qint32 value = incrementResult(child.receive());
        samples.append(elapsedUs(timer));
        checkIncrement(i, value);
    }
    results.add(Metric::LatencyP50, FloorASystem, percentile(samples, 50));
    results.add(Metric::LatencyP99, FloorASystem, percentile(samples, 99));
}

void floorAThroughput(const Config &config, Results &results)
{
    FloorAChild children[2] = {FloorAChild(childProgram()), FloorAChild(childProgram())};
    std::deque<qint32> expected[2];
    for (FloorAChild &child : children)
        child.expectHello();
    const int count = config.throughputTasks;
    int sent = 0;
    int received = 0;
    std::vector<char> batch;
    // Sends up to n requests to child c in one write.
    const auto sendBatch = [&](int c, int n) {
        batch.clear();
        for (; n > 0 && sent < count; --n, ++sent) {
            const Header header{sizeof(qint32), Increment};
            const qint32 value = sent;
            batch.insert(batch.end(), reinterpret_cast<const char *>(&header),
                         reinterpret_cast<const char *>(&header) + sizeof header);
            batch.insert(batch.end(), reinterpret_cast<const char *>(&value),
                         reinterpret_cast<const char *>(&value) + sizeof value);
            expected[c].push_back(value + 1);
        }
        if (!batch.empty()) {
            iovec vector{batch.data(), batch.size()};
            if (!writeAll(children[c].fd(), &vector, 1))
                throw posixFailure("write to floor A child");
        }
    };
    QElapsedTimer timer;
    timer.start();
    for (int c = 0; c < 2; ++c)
        sendBatch(c, Window);
    pollfd fds[2] = {{children[0].fd(), POLLIN, 0}, {children[1].fd(), POLLIN, 0}};
    while (received < count) {
        if (::poll(fds, 2, config.timeoutMs) <= 0)
            throw Failure(QStringLiteral("floor A throughput: no reply"));
        for (int c = 0; c < 2; ++c) {
            if (!fds[c].revents)
                continue;
            children[c].fill();
            Frame frame;
            int replies = 0;
            while (children[c].next(&frame)) {
                const qint32 value = incrementResult(frame);
                if (expected[c].empty() || value != expected[c].front())
                    throw Failure(QStringLiteral("floor A throughput: wrong reply %1").arg(value));
                expected[c].pop_front();
                ++replies;
            }
            received += replies;
            sendBatch(c, replies);
        }
    }
    results.add(Metric::Throughput, FloorASystem, count / (elapsedMs(timer) / 1e3));
}

void floorAPayload(const Config &config, Results &results)
{
    FloorAChild child(childProgram());
    child.expectHello();
    for (int s = 0; s < config.payloadSizes.size(); ++s) {
        const qint64 size = config.payloadSizes.at(s);
        const QByteArray payload = makePayload(size, quint32(s + 1));
        double totalNs = 0;
        for (int iteration = 0; iteration < config.payloadIterations.at(s); ++iteration) {
            QElapsedTimer timer;
            timer.start();
            child.send(Echo, payload.constData(), size_t(size));
            const Frame frame = child.receive();
            totalNs += double(timer.nsecsElapsed());
            if (frame.op != Echo || frame.body != payload)
                throw Failure(
                    QStringLiteral("echo of %1 came back different").arg(sizeLabel(size)));
        }
        const double bytes = 2.0 * double(size) * config.payloadIterations.at(s);
        results.add(payloadMetric(size), FloorASystem, bytes / (totalNs / 1e9) / 1e6);
    }
}

void floorAColdStart(Results &results)
{
    {
        QElapsedTimer timer;
        timer.start();
        FloorAChild child(childProgram());
        child.sendIncrement(1);
        child.expectHello();
        const qint32 value = incrementResult(child.receive());
        results.add(Metric::ColdStart, FloorASystem, elapsedMs(timer));
        checkIncrement(1, value);
    }
    {
        FloorAChild child(childProgram());
        child.expectHello();
        QElapsedTimer timer;
        timer.start();
        child.sendIncrement(1);
        const qint32 value = incrementResult(child.receive());
        results.add(Metric::Prestarted, FloorASystem, elapsedMs(timer));
        checkIncrement(1, value);
    }
}

// ---------------------------------------------------------------------------
// memcpy

void memcpyPayload(const Config &config, Results &results)
{
    for (int s = 0; s < config.payloadSizes.size(); ++s) {
        const qint64 size = config.payloadSizes.at(s);
        const QByteArray payload = makePayload(size, quint32(s + 1));
        QByteArray there(size, '\0'); // touched: no page faults in the copies
        QByteArray back(size, '\0');
        QElapsedTimer timer;
        timer.start();
        for (int iteration = 0; iteration < config.payloadIterations.at(s); ++iteration) {
            std::memcpy(there.data(), payload.constData(), size_t(size));
            std::memcpy(back.data(), there.constData(), size_t(size));
        }
        const double seconds = elapsedMs(timer) / 1e3;
        if (back != payload)
            throw Failure(QStringLiteral("memcpy of %1 differs").arg(sizeLabel(size)));
        const double bytes = 2.0 * double(size) * config.payloadIterations.at(s);
        results.add(payloadMetric(size), MemcpySystem, bytes / seconds / 1e6);
    }
}

} // namespace

void benchFloorA(Workload workload, const Config &config, Results &results)
{
    switch (workload) {
    case Workload::Latency:
        return floorALatency(config, results);
    case Workload::Throughput:
        return floorAThroughput(config, results);
    case Workload::Payload:
        return floorAPayload(config, results);
    case Workload::Scaling:
        return;
    case Workload::ColdStart:
        return floorAColdStart(results);
    }
}

void benchMemcpy(Workload workload, const Config &config, Results &results)
{
    if (workload == Workload::Payload)
        memcpyPayload(config, results);
}

} // namespace Bench
