// SPDX-License-Identifier: MIT
#include "pool/launcher.h"

#include "pool/platform.h"
#include "protocol/messages.h"

#include <QtCore/QCoreApplication>

namespace QtProcessPool {

void LocalLauncher::prepare(QProcess *process, const LaunchSpec &spec, int bodiesFd)
{
    process->setProgram(spec.program.isEmpty() ? QCoreApplication::applicationFilePath()
                                               : spec.program);
    process->setArguments(spec.arguments +
                          QStringList{QString::fromLatin1(protocol::WorkerFlag), spec.serverName});
    if (spec.environmentSet)
        process->setProcessEnvironment(spec.environment);
    if (!spec.workingDirectory.isEmpty())
        process->setWorkingDirectory(spec.workingDirectory);
    // Worker output is forwarded line by line, prefixed with its pid.
    process->setProcessChannelMode(QProcess::SeparateChannels);
    platform::prepareChild(process, {spec.memoryLimit, bodiesFd});
}

void LocalLauncher::prepareCommand(QProcess *process, const QStringList &commandLine)
{
    process->setProgram(commandLine.value(0));
    process->setArguments(commandLine.mid(1));
    process->setProcessChannelMode(QProcess::SeparateChannels);
    platform::prepareChild(process, {0, -1});
}

void LocalLauncher::start(QProcess *process, const Credentials &credentials)
{
    process->start(QIODevice::ReadWrite);
    platform::closeDescriptor(credentials.bodiesFd); // the child has its copy (or never will)
    if (process->state() == QProcess::NotRunning)
        return;
    if (!credentials.onStdin) {
        process->closeWriteChannel();
        return;
    }
    QByteArray line = QByteArray::number(credentials.slotId) + ' ' + credentials.secret.toHex();
    if (!credentials.fingerprint.isEmpty())
        line += ' ' + credentials.fingerprint.toHex();
    else if (credentials.bodiesFd >= 0)
        line += ' ' + QByteArray::number(credentials.bodiesFd);
    process->write(line + '\n');
    process->closeWriteChannel();
}

QByteArray joinToken(const Credentials &credentials)
{
    return QByteArray::number(credentials.slotId) + '.' + credentials.secret.toHex() + '.' +
           credentials.fingerprint.toHex();
}

} // namespace QtProcessPool
