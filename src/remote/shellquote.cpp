// SPDX-License-Identifier: MIT
#include "remote/shellquote.h"

#include <algorithm>

namespace QtProcessPool::remote {

QString shellQuote(const QString &word)
{
    const auto safe = [](QChar c) {
        return (c.unicode() < 128 && c.isLetterOrNumber()) ||
               QStringView(u"@%+=:,./-_").contains(c);
    };
    if (!word.isEmpty() && std::all_of(word.begin(), word.end(), safe))
        return word;
    QString quoted = word;
    quoted.replace(QLatin1Char('\''), QLatin1String("'\\''"));
    return QLatin1Char('\'') + quoted + QLatin1Char('\'');
}

QString shellJoin(const QStringList &words)
{
    QStringList quoted;
    quoted.reserve(words.size());
    for (const QString &word : words)
        quoted << shellQuote(word);
    return quoted.join(QLatin1Char(' '));
}

} // namespace QtProcessPool::remote
