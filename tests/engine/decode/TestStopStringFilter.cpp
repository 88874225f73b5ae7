#include "core/Error.h"
#include "decode/StopStringFilter.h"

#include <QtTest>

using namespace lathe;

namespace {

// Pushes pieces one at a time and returns what each push released.
std::vector<std::string> feed(StopStringFilter& filter, const std::vector<std::string>& pieces) {
    std::vector<std::string> out;
    for (const std::string& p : pieces)
        out.push_back(filter.push(p));
    return out;
}

using Strings = std::vector<std::string>;

} // namespace

class TestStopStringFilter : public QObject {
    Q_OBJECT
private slots:
    void withoutStopStringsEverythingPassesAtOnce() {
        StopStringFilter filter({});
        QCOMPARE(feed(filter, {"Hello", " world"}), (Strings{"Hello", " world"}));
        QCOMPARE(filter.flush(), std::string());
        QVERIFY(!filter.stopped());
    }

    void matchInsideOnePieceCutsItAndTheRest() {
        StopStringFilter filter({"STOP"});
        QCOMPARE(feed(filter, {"abc", "dSTOPef", "more"}), (Strings{"abc", "d", ""}));
        QVERIFY(filter.stopped());
        QCOMPARE(filter.matched(), std::string("STOP"));
        QCOMPARE(filter.flush(), std::string());
    }

    void aStopStringSplitAcrossPiecesIsHeldBackThenCut() {
        StopStringFilter filter({"</end>"});
        // "</" could start the stop string: held; "en" still could; "d>" completes it.
        QCOMPARE(feed(filter, {"ok </", "en", "d> tail"}), (Strings{"ok ", "", ""}));
        QVERIFY(filter.stopped());
    }

    void heldTextIsReleasedWhenItStopsMatching() {
        StopStringFilter filter({"</end>"});
        QCOMPARE(feed(filter, {"a </", "en", "try"}), (Strings{"a ", "", "</entry"}));
        QVERIFY(!filter.stopped());
        // a held prefix at the very end comes out on flush
        QCOMPARE(filter.push(" <"), std::string(" "));
        QCOMPARE(filter.flush(), std::string("<"));
    }

    void theEarliestOfSeveralStopStringsWins() {
        StopStringFilter filter({"world", "lo w"});
        QCOMPARE(filter.push("hello world"), std::string("hel"));
        QCOMPARE(filter.matched(), std::string("lo w"));
    }

    void overlappingPrefixesKeepTheLongestCandidate() {
        // "aab" must be caught after "a", "a", "a", "b": the held suffix has to be "aa", not "aaa".
        StopStringFilter filter({"aab"});
        QCOMPARE(feed(filter, {"a", "a", "a", "b"}), (Strings{"", "", "a", ""}));
        QVERIFY(filter.stopped());
    }

    void holdsBackAtCharacterBoundaries() {
        // "é" is two bytes; the stop string starts with it, so it is held whole, never split.
        StopStringFilter filter({"\xC3\xA9t\xC3\xA9"});
        QCOMPARE(filter.push("caf\xC3\xA9"), std::string("caf"));
        QCOMPARE(filter.push("s"), std::string("\xC3\xA9s"));
    }

    void rejectsAnEmptyStopString() {
        try {
            StopStringFilter filter({"ok", ""});
            QFAIL("no error");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::InvalidArgument);
            QCOMPARE(QString(e.what()), QString("stop string 1 is empty (it would match at once)"));
        }
    }
};

QTEST_APPLESS_MAIN(TestStopStringFilter)
#include "TestStopStringFilter.moc"
