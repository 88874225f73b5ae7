#include "core/Error.h"
#include "tokenizer/PreTokenizer.h"

#include <QtTest>

using namespace lathe;

// Expected splits worked out by hand from llama.cpp's regex lists for each name.
namespace {

std::vector<std::string> split(const char* name, std::string_view text) {
    const PreTokenizer pre(name);
    std::vector<std::string> out;
    for (auto piece : pre.split(text))
        out.emplace_back(piece);
    return out;
}

using Words = std::vector<std::string>;

} // namespace

class TestPreTokenizer : public QObject {
    Q_OBJECT
private slots:
    void gpt2() {
        // "  test": \s+(?!\S) leaves the last space for " test".
        QCOMPARE(split("gpt2", "Hello world's  test 123!!"),
                 Words({"Hello", " world", "'s", " ", " test", " 123", "!!"}));
        QCOMPARE(split("gpt2", "a\n\nb  "), Words({"a", "\n", "\n", "b", "  "}));
        QCOMPARE(split("gpt2", "IT'S"), Words({"IT", "'", "S"})); // contractions are case-sensitive here
    }

    void smollmSplitsDigitsFirst() {
        // Pass 1 (\p{N}) cuts every digit out; pass 2 (GPT-2) splits the rest piece by piece.
        QCOMPARE(split("smollm", "abc123def 4567"),
                 Words({"abc", "1", "2", "3", "def", " ", "4", "5", "6", "7"}));
        QCOMPARE(split("smollm", "x ١٢"), Words({"x", " ", "١", "٢"})); // Arabic-Indic digits are \p{N}
    }

    void llama3() {
        QCOMPARE(split("llama-bpe", "1234567 don'T"), Words({"123", "456", "7", " don", "'T"}));
        QCOMPARE(split("llama-bpe", "hi!\n\n  there"), Words({"hi", "!\n\n", " ", " there"}));
        QCOMPARE(split("llama-bpe", "a \n b"), Words({"a", " \n", " b"}));
    }

    void qwen2() { QCOMPARE(split("qwen2", "12 ab\n\n"), Words({"1", "2", " ab", "\n\n"})); }

    void nextLineIsWhitespaceAsInLlamaCpp() {
        // U+0085 is White_Space: one stays for \s+(?!\S), the other is a whitespace run of its own.
        QCOMPARE(split("gpt2", "a\xC2\x85\xC2\x85"
                               "b"),
                 Words({"a", "\xC2\x85", "\xC2\x85", "b"}));
    }

    void unknownNameIsUnsupported() {
        try {
            PreTokenizer p("does-not-exist");
            QFAIL("expected an error");
        } catch (const Error& e) {
            QCOMPARE(int(e.category()), int(ErrorCategory::Unsupported));
        }
    }
};

QTEST_APPLESS_MAIN(TestPreTokenizer)
#include "TestPreTokenizer.moc"
