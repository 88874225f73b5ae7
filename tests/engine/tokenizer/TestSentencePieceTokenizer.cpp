#include "core/Error.h"
#include "tokenizer/Tokenizer.h"

#include <QtTest>
#include <fmt/format.h>

using namespace lathe;

// SentencePiece BPE (Llama 2 style) on a hand-built vocabulary. Merges go by score (highest
// first); the expected ids are worked out by hand in the comments.
namespace {

constexpr int kByteBase = 3; // <0x00> is id 3, <0xFF> is id 258

TokenizerSpec smallSpec(bool withByteTokens = true) {
    TokenizerSpec spec;
    spec.kind = TokenizerKind::SentencePieceBpe;
    spec.preTokenizer = "default";
    spec.tokens = {"<unk>", "<s>", "</s>"};
    spec.types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
    spec.scores = {0, 0, 0};
    for (int b = 0; b < 256; ++b) {
        spec.tokens.push_back(withByteTokens ? fmt::format("<0x{:02X}>", b) : fmt::format("[unused{}]", b));
        spec.types.push_back(withByteTokens ? TokenType::Byte : TokenType::Unused);
        spec.scores.push_back(0);
    }
    const std::vector<std::pair<std::string, float>> pieces = {
        {"\xE2\x96\x81", -10},        // 259 ▁
        {"h", -11},                   // 260
        {"e", -12},                   // 261
        {"l", -13},                   // 262
        {"o", -14},                   // 263
        {"\xE2\x96\x81h", -5},        // 264 ▁h
        {"el", -3},                   // 265
        {"ll", -2},                   // 266
        {"\xE2\x96\x81he", -4},       // 267 ▁he
        {"\xE2\x96\x81hel", -6},      // 268 ▁hel
        {"\xE2\x96\x81hell", -1},     // 269 ▁hell
        {"\xE2\x96\x81hello", -0.5f}, // 270 ▁hello
    };
    for (const auto& [text, score] : pieces) {
        spec.tokens.push_back(text);
        spec.types.push_back(TokenType::Normal);
        spec.scores.push_back(score);
    }
    spec.bosId = 1;
    spec.eosId = 2;
    spec.unknownId = 0;
    spec.addBos = true;
    spec.addSpacePrefix = true;
    return spec;
}

using Ids = std::vector<int32_t>;

} // namespace

class TestSentencePieceTokenizer : public QObject {
    Q_OBJECT
private slots:
    void mergesByScore() {
        const Tokenizer t(smallSpec());
        // "▁hello": pairs ▁h(-5) el(-3) ll(-2): ll first, then ▁h, ▁he(-4), ▁hell(-1), ▁hello(-0.5).
        QCOMPARE(t.encode("hello", false, false), Ids({270}));
        QCOMPARE(t.encode("hello", true, false), Ids({1, 270}));
        // "▁ell": el(-3) loses to ll(-2); "▁e" and "ell" are not tokens.
        QCOMPARE(t.encode("ell", false, false), Ids({259, 261, 266}));
        // "▁he▁llo": ll, then ▁h, ▁he; the inner ▁ merges with nothing.
        QCOMPARE(t.encode("he llo", false, false), Ids({267, 259, 266, 263}));
    }

    void byteFallback() {
        const Tokenizer t(smallSpec());
        // "é" = C3 A9 has no piece: one byte token each.
        QCOMPARE(t.encode("\xC3\xA9", false, false), Ids({259, kByteBase + 0xC3, kByteBase + 0xA9}));
        QCOMPARE(t.decode(Ids({259, kByteBase + 0xC3, kByteBase + 0xA9})), std::string("\xC3\xA9"));
    }

    void specialTokensAndSpacePrefix() {
        const Tokenizer t(smallSpec());
        // After a special token the space prefix is added again: "<s>" then "▁hello".
        QCOMPARE(t.encode("<s>hello", false, true), Ids({1, 270}));
        // As plain text "<s>" is bytes: ▁ < s > then h e ll o ("hell" alone is no piece).
        QCOMPARE(t.encode("<s>hello", false, false),
                 Ids({259, kByteBase + '<', kByteBase + 's', kByteBase + '>', 260, 261, 266, 263}));
        TokenizerSpec noPrefix = smallSpec();
        noPrefix.addSpacePrefix = false;
        QCOMPARE(Tokenizer(noPrefix).encode("hello", false, false), Ids({260, 261, 266, 263}));
    }

    void unknownTokenWithoutByteFallback() {
        const Tokenizer t(smallSpec(false));
        // "▁hex": ▁h, ▁he; "x" has neither a piece nor a byte token.
        QCOMPARE(t.encode("hex", false, false), Ids({267, 0}));
    }

    void decodeDropsThePrefixSpace() {
        const Tokenizer t(smallSpec());
        QCOMPARE(t.decode(Ids({1, 270})), std::string("hello"));
        QCOMPARE(t.decode(Ids({267, 259, 266, 263})), std::string("he llo"));
        QCOMPARE(t.decode(Ids({1, 270, 2}), true), std::string("<s>hello</s>"));
        QCOMPARE(t.tokenBytes(kByteBase + 0x41), std::string("A"));
    }

    void rejectsMalformedByteTokens() {
        for (const char* bad : {"<0x-1>", "<0xG1>", "<0x1>", "<0x100>", "0x41"}) {
            TokenizerSpec spec = smallSpec();
            spec.tokens[kByteBase + 0x41] = bad;
            try {
                Tokenizer t(spec);
                QFAIL(qPrintable(QString("accepted byte token ") + bad));
            } catch (const Error& e) {
                QCOMPARE(int(e.category()), int(ErrorCategory::InvalidFile));
                QVERIFY(std::string(e.what()).find(bad) != std::string::npos);
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestSentencePieceTokenizer)
#include "TestSentencePieceTokenizer.moc"
