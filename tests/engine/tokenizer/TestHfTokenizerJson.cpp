#include "core/Error.h"
#include "tokenizer/ChatTemplate.h"
#include "tokenizer/HfTokenizerJson.h"
#include "tokenizer/Tokenizer.h"

#include <QtTest>

using namespace lathe;

// A tokenizer.json written by hand: byte-level BPE with a few merges and added tokens.
namespace {

const char* kTokenizerJson = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<|endoftext|>", "special": true},
    {"id": 1, "content": "<|im_start|>", "special": true},
    {"id": 2, "content": "<|im_end|>", "special": true},
    {"id": 12, "content": "<tool>", "special": false}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Digits", "individual_digits": true},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]},
  "decoder": {"type": "ByteLevel"},
  "model": {
    "type": "BPE",
    "vocab": {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "h": 3, "i": 4, "\u0120": 5,
              "1": 6, "2": 7, "hi": 8, "\u0120h": 9, "\u0120hi": 10, "!": 11},
    "merges": ["h i", "\u0120 h", "\u0120h i"]
  }
})";

const char* kConfigJson = R"({
  "bos_token": "<|im_start|>",
  "eos_token": {"content": "<|im_end|>", "special": true},
  "add_bos_token": false,
  "chat_template": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{% endfor %}"
})";

using Ids = std::vector<int32_t>;

} // namespace

class TestHfTokenizerJson : public QObject {
    Q_OBJECT
private slots:
    void readsSpec() {
        const TokenizerSpec spec = tokenizerSpecFromHuggingFace(kTokenizerJson, kConfigJson);
        QCOMPARE(int(spec.kind), int(TokenizerKind::BytePairGpt2));
        QCOMPARE(spec.preTokenizer, std::string("smollm")); // individual digits + byte level
        QCOMPARE(spec.tokens.size(), size_t(13));
        QCOMPARE(spec.tokens[10], std::string("\xC4\xA0hi"));
        QCOMPARE(int(spec.types[1]), int(TokenType::Control));
        QCOMPARE(int(spec.types[12]), int(TokenType::UserDefined));
        QCOMPARE(int(spec.types[3]), int(TokenType::Normal));
        QCOMPARE(spec.merges, std::vector<std::string>({"h i", "\xC4\xA0 h", "\xC4\xA0h i"}));
        QCOMPARE(spec.bosId, 1);
        QCOMPARE(spec.eosId, 2);
        QVERIFY(!spec.addBos);
        QCOMPARE(ChatTemplate::detect(spec).family(), ChatTemplateFamily::ChatML);
    }

    void encodesWithHandComputedIds() {
        const Tokenizer t(tokenizerSpecFromHuggingFace(kTokenizerJson, kConfigJson));
        // "hi hi!": words "hi", " hi", "!". In "Ġ h i" rank 0 "h i" wins over rank 1 "Ġ h", and
        // "Ġ hi" has no merge, so " hi" is two tokens.
        QCOMPARE(t.encode("hi hi!", false, false), Ids({8, 5, 8, 11}));
        // " h" alone takes "Ġ h" (rank 1).
        QCOMPARE(t.encode(" h", false, false), Ids({9}));
        // Digits are split one by one; "12" is no single token anyway, "21" neither.
        QCOMPARE(t.encode("h12", false, false), Ids({3, 6, 7}));
        QCOMPARE(t.encode("<|im_start|>hi<tool>", false, true), Ids({1, 8, 12}));
        // As plain text only the "i" of "im_start" has a token.
        QCOMPARE(t.encode("<|im_start|>", false, false), Ids({4}));
        QCOMPARE(t.decode(Ids({1, 8, 10, 2}), false), std::string("hi hi"));
        QCOMPARE(t.decode(Ids({1, 8, 10, 2}), true), std::string("<|im_start|>hi hi<|im_end|>"));
        QVERIFY(t.isEndOfGeneration(2));
    }

    void rejectsBrokenFiles() {
        QVERIFY_THROWS_EXCEPTION(Error, tokenizerSpecFromHuggingFace("{not json", "{}"));
        QVERIFY_THROWS_EXCEPTION(Error, tokenizerSpecFromHuggingFace(R"({"model": {"type": "BPE"}})", "{}"));
        QVERIFY_THROWS_EXCEPTION(
            Error, tokenizerSpecFromHuggingFace(R"({"model": {"type": "BPE", "vocab": {"a": -5}}})", "{}"));
        QVERIFY_THROWS_EXCEPTION(
            Error, tokenizerSpecFromHuggingFace(R"({"model": {"type": "Unigram", "vocab": []}})", "{}"));
    }
};

QTEST_APPLESS_MAIN(TestHfTokenizerJson)
#include "TestHfTokenizerJson.moc"
