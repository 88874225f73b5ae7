#include "core/Error.h"
#include "tokenizer/ByteLevel.h"
#include "tokenizer/Tokenizer.h"

#include <QtTest>

using namespace lathe;

// Byte-level BPE on a hand-built vocabulary; every expected id list is worked out by hand in the
// comments from the merge ranks.
namespace {

TokenizerSpec smallSpec() {
    TokenizerSpec spec;
    spec.kind = TokenizerKind::BytePairGpt2;
    spec.preTokenizer = "gpt2";
    spec.tokens = {"<|endoftext|>",
                   "<|im_start|>",
                   "<|im_end|>", // 0-2 control
                   "h",
                   "e",
                   "l",
                   "o",
                   "\xC4\xA0" /* Ġ */,
                   "w",
                   "r",
                   "d", // 3-10
                   "he",
                   "ll",
                   "hell",
                   "hello",
                   "\xC4\xA0w",
                   "or",
                   "\xC4\xA0wor", // 11-17
                   "\xC4\xA0worl",
                   "\xC4\xA0world",
                   "<tool>",
                   "<|im"}; // 18-21
    spec.types.assign(spec.tokens.size(), TokenType::Normal);
    for (int id : {0, 1, 2, 21})
        spec.types[size_t(id)] = TokenType::Control;
    spec.types[20] = TokenType::UserDefined;
    spec.merges = {"h e",        "l l",          "he ll",         "hell o",        "o r",
                   "\xC4\xA0 w", "\xC4\xA0w or", "\xC4\xA0wor l", "\xC4\xA0worl d"};
    spec.bosId = 0;
    spec.eosId = 2;
    return spec;
}

using Ids = std::vector<int32_t>;

} // namespace

class TestTokenizer : public QObject {
    Q_OBJECT
private slots:
    void gpt2ByteMapping() {
        QCOMPARE(byte_level::byteToText(' '), std::string("\xC4\xA0"));  // U+0120 Ġ
        QCOMPARE(byte_level::byteToText('\n'), std::string("\xC4\x8A")); // U+010A Ċ
        QCOMPARE(byte_level::byteToText(0x00), std::string("\xC4\x80")); // U+0100
        QCOMPARE(byte_level::byteToText(0xAD), std::string("\xC5\x83")); // U+0143: 68th unprintable byte
        QCOMPARE(byte_level::byteToText('a'), std::string("a"));
        std::string all;
        for (int b = 0; b < 256; ++b)
            all.push_back(char(b));
        QCOMPARE(byte_level::decode(byte_level::encode(all)), all);
    }

    void mergesByRank() {
        const Tokenizer t(smallSpec());
        // "hello" -> h e l l o; rank 0 "h e" -> he; rank 1 "l l" -> ll; rank 2 he ll; rank 3 hell o.
        QCOMPARE(t.encode("hello", false, false), Ids({14}));
        // " world" -> Ġ w o r l d: "o r"(4) first, then "Ġ w"(5), "Ġw or"(6), "Ġwor l"(7), "Ġworl d"(8).
        QCOMPARE(t.encode("hello world", false, false), Ids({14, 19}));
        // "lll": the leftmost of two equal-rank pairs merges first.
        QCOMPARE(t.encode("lll", false, false), Ids({12, 5}));
        // "hero": only "h e" applies.
        QCOMPARE(t.encode("hero", false, false), Ids({11, 9, 6}));
        // Characters outside the vocabulary have no token and vanish (as in llama.cpp).
        QCOMPARE(t.encode("hex", false, false), Ids({11}));
    }

    void specialTokens() {
        const Tokenizer t(smallSpec());
        QCOMPARE(t.encode("<|im_start|>hello<|im_end|>", false, true), Ids({1, 14, 2}));
        // Longest match first: "<|im" is a control token too but loses to "<|im_start|>".
        QCOMPARE(t.encode("<|im_start|><|im", false, true), Ids({1, 21}));
        // Without parseSpecial the text is plain text: no control token comes out. Words are
        // "<|", "im", "_", "start", "|>", "hello", "<|", "im", "_", "end", "|>"; of their characters
        // only r, e and d are in the vocabulary.
        const Ids plain = t.encode("<|im_start|>hello<|im_end|>", false, false);
        QCOMPARE(plain, Ids({9, 14, 4, 10}));
        // User-defined tokens are split out even without parseSpecial.
        QCOMPARE(t.encode("hello<tool>hello", false, false), Ids({14, 20, 14}));
    }

    void addSpecialFollowsSpec() {
        TokenizerSpec spec = smallSpec();
        const Tokenizer without(spec);
        QCOMPARE(without.encode("hello", true, false), Ids({14}));
        spec.addBos = true;
        spec.addEos = true;
        const Tokenizer with(spec);
        QCOMPARE(with.encode("hello", true, false), Ids({0, 14, 2}));
        QCOMPARE(with.encode("hello", false, false), Ids({14}));
        QCOMPARE(with.encode("", true, false), Ids({0, 2}));
    }

    void decodeAndQueries() {
        const Tokenizer t(smallSpec());
        QCOMPARE(t.decode(Ids({14, 19})), std::string("hello world"));
        QCOMPARE(t.decode(Ids({1, 14, 2})), std::string("hello"));
        QCOMPARE(t.decode(Ids({1, 14, 2}), true), std::string("<|im_start|>hello<|im_end|>"));
        QCOMPARE(t.tokenBytes(15), std::string(" w"));
        QCOMPARE(t.tokenBytes(1), std::string());
        QCOMPARE(t.tokenText(1), std::string("<|im_start|>"));
        QCOMPARE(t.tokenText(20), std::string("<tool>"));
        QCOMPARE(t.findToken("hello").value_or(-1), 14);
        QVERIFY(!t.findToken("nope"));
        QVERIFY(t.isEndOfGeneration(2)); // <|im_end|>, eos
        QVERIFY(t.isEndOfGeneration(0)); // <|endoftext|>
        QVERIFY(!t.isEndOfGeneration(1));
        QVERIFY(!t.isEndOfGeneration(14));
        QCOMPARE(t.eotId(), 2); // <|im_end|> is preferred over <|endoftext|>
        QCOMPARE(t.vocabSize(), 22);
        QVERIFY_THROWS_EXCEPTION(Error, t.tokenBytes(22));
    }

    void rejectsMalformedSpecs() {
        auto expectInvalid = [](const TokenizerSpec& spec, ErrorCategory category) {
            try {
                Tokenizer t(spec);
                QFAIL("expected an error");
            } catch (const Error& e) {
                QCOMPARE(int(e.category()), int(category));
            }
        };
        TokenizerSpec s = smallSpec();
        s.tokens[4] = "h"; // duplicate
        expectInvalid(s, ErrorCategory::InvalidFile);
        s = smallSpec();
        s.types.pop_back();
        expectInvalid(s, ErrorCategory::InvalidFile);
        s = smallSpec();
        s.bosId = 22;
        expectInvalid(s, ErrorCategory::InvalidFile);
        s = smallSpec();
        s.merges.push_back("nospace");
        expectInvalid(s, ErrorCategory::InvalidFile);
        s = smallSpec();
        s.tokens.clear();
        s.types.clear();
        expectInvalid(s, ErrorCategory::InvalidFile);
        s = smallSpec();
        s.preTokenizer = "no-such-pre";
        expectInvalid(s, ErrorCategory::Unsupported);
        s = smallSpec();
        s.types[5] = TokenType(42);
        expectInvalid(s, ErrorCategory::InvalidFile);
    }
};

QTEST_APPLESS_MAIN(TestTokenizer)
#include "TestTokenizer.moc"
