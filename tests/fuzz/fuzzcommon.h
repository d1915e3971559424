// SPDX-License-Identifier: MIT
// Checks shared by the fuzz harnesses: whatever a decoder accepts must
// re-encode to the very same bytes and decode again to the same message.
#ifndef QTPROCESSPOOL_TESTS_FUZZCOMMON_H
#define QTPROCESSPOOL_TESTS_FUZZCOMMON_H

#include "messagecompare.h"

#include "protocol/frame.h"
#include "protocol/messages.h"

#include <QtCore/QByteArray>

#include <cstdio>
#include <cstdlib>

namespace QppFuzz {

using namespace QtProcessPool::protocol;

[[noreturn]] inline void fail(const char *what, const QByteArray &detail)
{
    std::fprintf(stderr, "protocol fuzz: %s\n  %s\n", what, detail.constData());
    std::abort();
}

/// Decodes body as Message, as decodeBody and as decodeMessage under every
/// type number given; where it decodes, checks the round trip. Returns whether
/// it decoded.
template <typename Message>
bool checkBody(const QByteArray &body)
{
    Message m;
    if (!decodeBody(body, &m))
        return false;

    // The body is exactly one message, written as the encoder writes it.
    const QByteArray encoded = encodeBody(m);
    if (encoded != body)
        fail("decoded body re-encodes to other bytes",
             describe(m) + "\n  body      " + body.toHex() + "\n  re-encoded " + encoded.toHex());
    Message again;
    if (!decodeBody(encoded, &again))
        fail("re-encoded body does not decode", describe(m));
    if (!(again == m))
        fail("decode(encode(m)) != m", describe(m) + "\n  became " + describe(again));

    // Decoding into a message that already holds values leaves none behind.
    Message over = m;
    if (!decodeBody(body, &over) || !(over == m))
        fail("decoding over a used message differs", describe(m) + "\n  became " + describe(over));

    // decodeMessage agrees with decodeBody, and only under the message's type.
    Message viaFrame;
    if (!decodeMessage(Frame{quint16(Message::Type), body}, &viaFrame) || !(viaFrame == m))
        fail("decodeMessage disagrees with decodeBody", describe(m));
    Message wrongType;
    if (decodeMessage(Frame{quint16(quint16(Message::Type) ^ 0x40), body}, &wrongType))
        fail("decodeMessage accepted a mismatched type", describe(m));
    return true;
}

} // namespace QppFuzz

#endif
