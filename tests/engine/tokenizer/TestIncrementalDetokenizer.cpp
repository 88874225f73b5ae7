#include "tokenizer/ByteLevel.h"
#include "tokenizer/IncrementalDetokenizer.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/Utf8.h"

#include <QtTest>
#include <random>

using namespace lathe;

// A byte-level vocabulary where token i (< 256) is byte i, 256 is a control token and 257/258
// are multi-byte tokens that split an emoji in the middle.
namespace {

TokenizerSpec byteSpec() {
    TokenizerSpec spec;
    spec.preTokenizer = "gpt2";
    for (int b = 0; b < 256; ++b)
        spec.tokens.push_back(byte_level::byteToText(uint8_t(b)));
    spec.tokens.push_back("<|im_end|>");
    spec.tokens.push_back(byte_level::encode("\xF0\x9F"));
    spec.tokens.push_back(byte_level::encode("\x98\x80"
                                             "A"));
    spec.types.assign(spec.tokens.size(), TokenType::Normal);
    spec.types[256] = TokenType::Control;
    return spec;
}

const std::string kFffd = "\xEF\xBF\xBD";

} // namespace

class TestIncrementalDetokenizer : public QObject {
    Q_OBJECT
private slots:
    void emojiSplitAcrossByteTokens() {
        const Tokenizer t(byteSpec());
        IncrementalDetokenizer d(t);
        QCOMPARE(d.push(0xF0), std::string());
        QCOMPARE(d.push(0x9F), std::string());
        QCOMPARE(d.push(0x98), std::string());
        QCOMPARE(d.push(0x80), std::string("\xF0\x9F\x98\x80")); // 😀
        QCOMPARE(d.flush(), std::string());
        QCOMPARE(d.push(257), std::string());
        QCOMPARE(d.push(258), std::string("\xF0\x9F\x98\x80"
                                          "A"));
    }

    void cjkAndZwjSequences() {
        const Tokenizer t(byteSpec());
        IncrementalDetokenizer d(t);
        // 中 = E4 B8 AD; then 👍🏽 (F0 9F 91 8D, F0 9F 8F BD) byte by byte.
        std::string out;
        for (uint8_t b : std::string("\xE4\xB8\xAD\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD")) {
            const std::string piece = d.push(b);
            QVERIFY(utf8::isValid(piece));
            out += piece;
        }
        QCOMPARE(out, std::string("\xE4\xB8\xAD\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"));
    }

    void invalidBytesBecomeReplacementCharacters() {
        const Tokenizer t(byteSpec());
        IncrementalDetokenizer d(t);
        QCOMPARE(d.push(0xFF), kFffd);         // can never start a sequence
        QCOMPARE(d.push(0xE4), std::string()); // might still complete
        QCOMPARE(d.push('A'), kFffd + "A");    // it did not
        QCOMPARE(d.push(0xED), std::string());
        QCOMPARE(d.push(0xA0), kFffd + kFffd); // ED A0 would be a surrogate: two ill-formed parts
        QCOMPARE(d.push(0xF0), std::string());
        QCOMPARE(d.push(0x9F), std::string());
        QCOMPARE(d.flush(), kFffd); // an unfinished sequence is one replacement
        QCOMPARE(d.flush(), std::string());
    }

    void controlTokensRenderOnlyWhenAsked() {
        const Tokenizer t(byteSpec());
        IncrementalDetokenizer plain(t);
        IncrementalDetokenizer rendered(t, true);
        QCOMPARE(plain.push(256), std::string());
        QCOMPARE(rendered.push(256), std::string("<|im_end|>"));
    }

    void randomStreamsNeverEmitInvalidText() {
        const Tokenizer t(byteSpec());
        std::mt19937 rng(7);
        for (int round = 0; round < 200; ++round) {
            IncrementalDetokenizer d(t);
            std::string all;
            std::string out;
            const int n = int(rng() % 40);
            for (int i = 0; i < n; ++i) {
                // Mostly well-formed multi-byte text with some stray bytes mixed in.
                const int id = rng() % 4 == 0 ? int(rng() % 256)
                                              : int(std::string("\xE4\xB8\xAD\xF0\x9F\x98\x80"
                                                                "a")[rng() % 8] &
                                                    0xFF);
                all += t.tokenBytes(id);
                const std::string piece = d.push(id);
                QVERIFY(utf8::isValid(piece));
                out += piece;
            }
            const std::string rest = d.flush();
            QVERIFY(utf8::isValid(rest));
            out += rest;
            // Valid input passes through untouched; invalid input loses nothing valid.
            if (utf8::isValid(all)) QCOMPARE(out, all);
            QCOMPARE(out, utf8::replaceInvalidPerSubpart(all));
        }
    }
};

QTEST_APPLESS_MAIN(TestIncrementalDetokenizer)
#include "TestIncrementalDetokenizer.moc"
