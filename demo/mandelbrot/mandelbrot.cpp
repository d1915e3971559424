// SPDX-License-Identifier: MIT
#include "mandelbrot.h"

#include <QtProcessPool/Registry>

#include <QtCore/QCoreApplication>
#include <QtCore/QSysInfo>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <utility>

namespace {

constexpr int PaletteSize = 2048;
using Palette = std::array<QRgb, PaletteSize>;

// A cyclic gradient: deep blue, sky, white, gold, near-black, back to blue.
Palette makePalette()
{
    struct Stop
    {
        double position;
        int red, green, blue;
    };
    static constexpr Stop stops[] = {
        {0.0, 0, 7, 100},      {0.16, 32, 107, 203}, {0.42, 237, 255, 255},
        {0.6425, 255, 170, 0}, {0.8575, 0, 2, 0},    {1.0, 0, 7, 100},
    };
    Palette palette;
    for (int i = 0; i < PaletteSize; ++i) {
        const double t = double(i) / PaletteSize;
        int s = 0;
        while (stops[s + 1].position < t)
            ++s;
        const Stop &a = stops[s];
        const Stop &b = stops[s + 1];
        const double f = (t - a.position) / (b.position - a.position);
        // Smoothstep between stops avoids visible kinks in the gradient.
        const double g = f * f * (3 - 2 * f);
        palette[i] = qRgb(int(a.red + (b.red - a.red) * g), int(a.green + (b.green - a.green) * g),
                          int(a.blue + (b.blue - a.blue) * g));
    }
    return palette;
}

const Palette &palette()
{
    static const Palette instance = makePalette();
    return instance;
}

// Escape-time iteration with a large bailout radius, for smooth colouring.
// Deliberately plain: no cardioid test, no periodicity check, so points inside
// the set cost the full maxIterations and the tile is honest heavy work.
QRgb sample(double cr, double ci, int maxIterations, const Palette &colors)
{
    constexpr double Bailout = 256.0 * 256.0;
    double zr = 0, zi = 0, zr2 = 0, zi2 = 0;
    int i = 0;
    for (; i < maxIterations && zr2 + zi2 <= Bailout; ++i) {
        zi = 2 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        zr2 = zr * zr;
        zi2 = zi * zi;
    }
    if (i >= maxIterations)
        return qRgb(0, 0, 0);
    // Continuous iteration count: removes the banding of integer counts.
    const double smooth = i + 1 - std::log2(std::log2(zr2 + zi2) / 2);
    const double position = std::sqrt(std::max(smooth, 0.0)) * 0.11;
    return colors[int((position - std::floor(position)) * PaletteSize) % PaletteSize];
}

// UBSan would report the store and exit(1) instead of letting it fault: the
// demo means a real SIGSEGV, also in a sanitizer build.
#if defined(__GNUC__) || defined(__clang__)
__attribute__((no_sanitize("undefined")))
#endif
[[noreturn]] void
hitNullPointer()
{
    // Volatile twice over, so the compiler can neither prove the pointer null
    // nor drop the store as dead: the process really dies of SIGSEGV.
    volatile int *volatile pointer = nullptr;
    *pointer = 42;
    std::abort();
}

[[noreturn]] void spinForever()
{
    volatile quint64 spins = 0;
    for (;;)
        spins = spins + 1;
}

} // namespace

QDataStream &operator<<(QDataStream &out, const TileJob &job)
{
    return out << job.origin << job.step << job.size << qint32(job.maxIterations)
               << qint8(job.fault);
}

QDataStream &operator>>(QDataStream &in, TileJob &job)
{
    qint32 maxIterations = 0;
    qint8 fault = 0;
    in >> job.origin >> job.step >> job.size >> maxIterations >> fault;
    job.maxIterations = maxIterations;
    job.fault = Fault(fault);
    return in;
}

QDataStream &operator<<(QDataStream &out, const TileImage &tile)
{
    return out << tile.image << tile.pid << tile.host;
}

QDataStream &operator>>(QDataStream &in, TileImage &tile)
{
    return in >> tile.image >> tile.pid >> tile.host;
}

TileImage renderTile(const TileJob &job)
{
    const Palette &colors = palette();
    QImage image(job.size, QImage::Format_RGB32);
    // Four samples per pixel, at the centres of its quarters.
    static constexpr std::pair<int, int> SampleOffsets[] = {{-1, -1}, {1, -1}, {-1, 1}, {1, 1}};
    const double quarter = job.step / 4;
    for (int y = 0; y < job.size.height(); ++y) {
        if (job.fault == Fault::Crash && y == job.size.height() / 2)
            hitNullPointer();
        if (job.fault == Fault::Hang && y == job.size.height() / 2)
            spinForever();
        auto *line = reinterpret_cast<QRgb *>(image.scanLine(y));
        const double ci = job.origin.y() - y * job.step;
        for (int x = 0; x < job.size.width(); ++x) {
            const double cr = job.origin.x() + x * job.step;
            int red = 0, green = 0, blue = 0;
            for (const auto &[dx, dy] : SampleOffsets) {
                const QRgb c =
                    sample(cr + dx * quarter, ci + dy * quarter, job.maxIterations, colors);
                red += qRed(c);
                green += qGreen(c);
                blue += qBlue(c);
            }
            line[x] = qRgb(red / 4, green / 4, blue / 4);
        }
    }
    return {image, QCoreApplication::applicationPid(), QSysInfo::machineHostName()};
}

// Makes renderTile runnable by the pool: registered in the application and,
// since the workers are this same executable, in every worker.
QPP_REGISTER_TASK(renderTile)
