// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_TLSIDENTITY_H
#define QTPROCESSPOOL_TLSIDENTITY_H

#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>

namespace QtProcessPool {

/// The pool's identity for remote workers: a fresh P-256 key and a
/// self-signed certificate made for this pool alone (Qt's TLS cannot make
/// keys, so libcrypto does). Workers get its fingerprint out of band (on
/// their stdin) and accept no other certificate: there is no CA to trust
/// and no plaintext mode.
class TlsIdentity
{
public:
    /// A new identity, valid from a minute ago for validDays; null (with
    /// *error) if libcrypto or Qt's TLS backend could not make or read it.
    static TlsIdentity create(int validDays, QString *error);

    bool isNull() const { return m_certificate.isNull() || m_key.isNull(); }
    const QSslCertificate &certificate() const { return m_certificate; }
    const QSslKey &key() const { return m_key; }
    /// SHA-256 of the certificate's DER form: what a worker pins.
    QByteArray fingerprint() const;
    /// For the pool's QSslServer: TLS 1.2 or later, this certificate, no
    /// client certificates asked for (the HMAC inside proves the worker).
    QSslConfiguration serverConfiguration() const;

    /// For a worker: TLS 1.2 or later, the server's certificate fetched
    /// without chain checks. The caller must compare the certificate with
    /// the pinned fingerprint (isPinned()) before sending anything.
    static QSslConfiguration clientConfiguration();
    /// The certificate is the one the fingerprint names.
    static bool isPinned(const QSslCertificate &certificate, const QByteArray &fingerprint);

private:
    QSslCertificate m_certificate;
    QSslKey m_key;
};

} // namespace QtProcessPool

#endif
