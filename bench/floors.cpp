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
#include <memory>
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

/// Where floor A's two processes run: on the scheduler's choice of CPUs (as
/// the pool's do), both pinned to one core, or pinned to two.
struct Placement
{
    QString suffix; // of the metrics: empty, Metric::OneCore or Metric::AcrossCores
    int parentCpu;  // -1: not pinned
    int childCpu;
};

QList<Placement> placements(Results &results)
{
    const std::vector<int> cpus = allowedCpus();
    QList<Placement> list = {{QString(), -1, -1}};
    if (cpus.empty())
        return list;
    list.append({Metric::OneCore, cpus[0], cpus[0]});
    if (cpus.size() >= 2)
        list.append({Metric::AcrossCores, cpus[0], cpus[1]});
    else
        results.note(FloorASystem, QStringLiteral("only one CPU available: the across-cores "
                                                  "rows are skipped"));
    return list;
}

/// Pins this thread for a placement's measurement, if it pins anything.
std::unique_ptr<CpuPin> pin(const Placement &placement)
{
    return placement.parentCpu >= 0 ? std::make_unique<CpuPin>(placement.parentCpu) : nullptr;
}

void floorALatency(const Config &config, Results &results, const Placement &placement)
{
    const std::unique_ptr<CpuPin> pinned = pin(placement);
    FloorAChild child(childProgram(), placement.childCpu);
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
    results.add(Metric::LatencyP50 + placement.suffix, FloorASystem, percentile(samples, 50));
    results.add(Metric::LatencyP99 + placement.suffix, FloorASystem, percentile(samples, 99));
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

/// MB/s of iterations echoes, each reply read into a new buffer (fresh memory
/// the kernel faults in, as with today's floor A and the pool's results).
double echoFresh(FloorAChild &child, const QByteArray &payload, int iterations)
{
    double totalNs = 0;
    for (int iteration = 0; iteration < iterations; ++iteration) {
        QElapsedTimer timer;
        timer.start();
        child.send(Echo, payload.constData(), size_t(payload.size()));
        const Frame frame = child.receive();
        totalNs += double(timer.nsecsElapsed());
        if (frame.op != Echo || frame.body != payload)
            throw Failure(
                QStringLiteral("echo of %1 came back different").arg(sizeLabel(payload.size())));
    }
    return 2.0 * double(payload.size()) * iterations / (totalNs / 1e9) / 1e6;
}

/// The same with warm buffers: every reply read into one buffer faulted in
/// beforehand, after one untimed echo that warms the child's buffer too.
double echoWarm(FloorAChild &child, const QByteArray &payload, int iterations)
{
    const size_t size = size_t(payload.size());
    QByteArray back(payload.size(), '\0'); // touched: no page faults in the reads
    double totalNs = 0;
    for (int iteration = -1; iteration < iterations; ++iteration) {
        back[0] = char(~payload[0]); // so a reply that never came is caught
        back[back.size() - 1] = char(~payload[payload.size() - 1]);
        QElapsedTimer timer;
        timer.start();
        child.send(Echo, payload.constData(), size);
        quint32 op = 0;
        const size_t length = child.receiveInto(back.data(), size, &op);
        if (iteration >= 0)
            totalNs += double(timer.nsecsElapsed());
        if (op != Echo || length != size || back != payload)
            throw Failure(QStringLiteral("warm echo of %1 came back different")
                              .arg(sizeLabel(payload.size())));
    }
    return 2.0 * double(size) * iterations / (totalNs / 1e9) / 1e6;
}

void floorAPayload(const Config &config, Results &results, const Placement &placement)
{
    const std::unique_ptr<CpuPin> pinned = pin(placement);
    FloorAChild child(childProgram(), placement.childCpu);
    child.expectHello();
    for (int s = 0; s < config.payloadSizes.size(); ++s) {
        const qint64 size = config.payloadSizes.at(s);
        const QByteArray payload = makePayload(size, quint32(s + 1));
        const int iterations = config.payloadIterations.at(s);
        results.add(payloadMetric(size) + placement.suffix, FloorASystem,
                    echoFresh(child, payload, iterations));
        results.add(payloadMetric(size) + Metric::Warm + placement.suffix, FloorASystem,
                    echoWarm(child, payload, iterations));
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
        for (const Placement &placement : placements(results))
            floorALatency(config, results, placement);
        return;
    case Workload::Throughput:
        return floorAThroughput(config, results);
    case Workload::Payload:
        for (const Placement &placement : placements(results))
            floorAPayload(config, results, placement);
        return;
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
