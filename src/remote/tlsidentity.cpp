// SPDX-License-Identifier: MIT
#include "remote/tlsidentity.h"

#include <QtCore/QCryptographicHash>
#include <QtNetwork/QSslSocket>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace QtProcessPool {

namespace {

template <typename T, void (*Free)(T *)>
struct Deleter
{
    void operator()(T *p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

/// What a memory BIO holds.
QByteArray drain(BIO *bio)
{
    char *data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return size > 0 ? QByteArray(data, qsizetype(size)) : QByteArray();
}

bool addExtension(X509 *certificate, int nid, const char *value)
{
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (!extension)
        return false;
    const bool added = X509_add_ext(certificate, extension, -1) == 1;
    X509_EXTENSION_free(extension);
    return added;
}

/// A self-signed certificate for key, valid from a minute ago for validDays.
Certificate makeCertificate(EVP_PKEY *key, int validDays)
{
    Certificate certificate(X509_new());
    if (!certificate || X509_set_version(certificate.get(), 2) != 1)
        return nullptr;
    // A random 64-bit serial: two pools never share one.
    unsigned char serial[8];
    if (RAND_bytes(serial, sizeof serial) != 1)
        return nullptr;
    serial[0] &= 0x7f; // positive
    BIGNUM *number = BN_bin2bn(serial, sizeof serial, nullptr);
    const bool serialSet =
        number && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate.get()));
    BN_free(number);
    X509_NAME *name = X509_get_subject_name(certificate.get());
    const auto commonName = reinterpret_cast<const unsigned char *>("QtProcessPool pool");
    if (!serialSet || !X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -60) ||
        !X509_gmtime_adj(X509_getm_notAfter(certificate.get()), long(validDays) * 86400) ||
        X509_set_pubkey(certificate.get(), key) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) != 1 ||
        X509_set_issuer_name(certificate.get(), name) != 1 ||
        !addExtension(certificate.get(), NID_basic_constraints, "critical,CA:FALSE") ||
        !addExtension(certificate.get(), NID_ext_key_usage, "serverAuth") ||
        X509_sign(certificate.get(), key, EVP_sha256()) <= 0) {
        return nullptr;
    }
    return certificate;
}

} // namespace

TlsIdentity TlsIdentity::create(int validDays, QString *error)
{
    TlsIdentity identity;
    if (!QSslSocket::supportsSsl()) {
        *error = QStringLiteral("Qt has no TLS backend here (%1)").arg(QSslSocket::activeBackend());
        return identity;
    }
    const Key key(EVP_EC_gen("P-256"));
    const Certificate certificate = key ? makeCertificate(key.get(), validDays) : nullptr;
    const Bio keyPem(BIO_new(BIO_s_mem()));
    const Bio certificatePem(BIO_new(BIO_s_mem()));
    if (!certificate || !keyPem || !certificatePem ||
        PEM_write_bio_PrivateKey(keyPem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1 ||
        PEM_write_bio_X509(certificatePem.get(), certificate.get()) != 1) {
        *error = QStringLiteral("libcrypto could not make a key and certificate");
        return identity;
    }
    identity.m_key = QSslKey(drain(keyPem.get()), QSsl::Ec, QSsl::Pem, QSsl::PrivateKey);
    identity.m_certificate = QSslCertificate(drain(certificatePem.get()), QSsl::Pem);
    if (identity.isNull())
        *error = QStringLiteral("Qt's TLS backend could not read the key or certificate");
    return identity;
}

QByteArray TlsIdentity::fingerprint() const
{
    return m_certificate.digest(QCryptographicHash::Sha256);
}

QSslConfiguration TlsIdentity::serverConfiguration() const
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setProtocol(QSsl::TlsV1_2OrLater);
    configuration.setLocalCertificate(m_certificate);
    configuration.setPrivateKey(m_key);
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    return configuration;
}

QSslConfiguration TlsIdentity::clientConfiguration()
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setProtocol(QSsl::TlsV1_2OrLater);
    // No chain to check (self-signed, no CA): the pin is the check.
    configuration.setPeerVerifyMode(QSslSocket::QueryPeer);
    return configuration;
}

bool TlsIdentity::isPinned(const QSslCertificate &certificate, const QByteArray &fingerprint)
{
    if (certificate.isNull() || fingerprint.size() != 32)
        return false;
    const QByteArray digest = certificate.digest(QCryptographicHash::Sha256);
    unsigned char diff = 0;
    for (qsizetype i = 0; i < digest.size(); ++i)
        diff |= static_cast<unsigned char>(digest[i] ^ fingerprint[i]);
    return diff == 0;
}

} // namespace QtProcessPool
