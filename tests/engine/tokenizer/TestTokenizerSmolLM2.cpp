#include "TestSupport.h"
#include "io/ModelFiles.h"
#include "tokenizer/ByteLevel.h"
#include "tokenizer/ChatTemplate.h"
#include "tokenizer/Tokenizer.h"

#include <QtTest>
#include <nlohmann/json.hpp>

using namespace lathe;

// The real SmolLM2 vocabulary against llama.cpp's token ids (tests/data/tokenizer/smollm2_tokens.json,
// written by make_smollm2_tokens.py with llama-cpp-python).
class TestTokenizerSmolLM2 : public QObject {
    Q_OBJECT
private:
    std::unique_ptr<Tokenizer> tokenizer_;
    nlohmann::json cases_;

    static std::string fromHex(const std::string& hex) {
        std::string out;
        for (size_t i = 0; i + 1 < hex.size(); i += 2)
            out.push_back(char(std::stoi(hex.substr(i, 2), nullptr, 16)));
        return out;
    }

private slots:
    void initTestCase() {
        const auto model = test::defaultModelPath();
        if (!model) QSKIP(test::kNoDefaultModel);
        tokenizer_ = std::make_unique<Tokenizer>(openModelFiles(*model).tokenizer);
        const auto text = test::readFileText(test::testDataDir() / "tokenizer" / "smollm2_tokens.json");
        cases_ = nlohmann::json::parse(text)["cases"];
        QVERIFY(cases_.size() >= 300);
    }

    void everyStringMatchesLlamaCpp() {
        int mismatches = 0;
        for (const auto& c : cases_) {
            const std::string bytes = fromHex(c["hex"].get<std::string>());
            const auto plain = tokenizer_->encode(bytes, false, false);
            const auto special = tokenizer_->encode(bytes, false, true);
            const auto wantPlain = c["ids"].get<std::vector<int32_t>>();
            const auto wantSpecial = c["ids_special"].get<std::vector<int32_t>>();
            if (plain != wantPlain || special != wantSpecial) {
                ++mismatches;
                qWarning("mismatch for %s", c["text"].dump().c_str());
            }
        }
        QCOMPARE(mismatches, 0);
    }

    void plainTextDecodesToItsBytes() {
        // Byte-level BPE is lossless: without special parsing every string comes back byte for byte,
        // except bytes the vocabulary has no token for (SmolLM2 lacks 0x1D), which llama.cpp drops.
        for (const auto& c : cases_) {
            std::string bytes;
            for (char b : fromHex(c["hex"].get<std::string>()))
                if (tokenizer_->findToken(byte_level::byteToText(uint8_t(b)))) bytes.push_back(b);
            const std::string decoded = tokenizer_->decode(c["ids"].get<std::vector<int32_t>>());
            if (decoded != bytes) qWarning("decodes differently: %s", c["text"].dump().c_str());
            QCOMPARE(decoded, bytes);
        }
    }

    void specialTokensOfTheVocabulary() {
        QCOMPARE(tokenizer_->vocabSize(), 49152);
        QCOMPARE(tokenizer_->findToken("<|im_start|>").value_or(-1), 1);
        QCOMPARE(tokenizer_->findToken("<|im_end|>").value_or(-1), 2);
        QVERIFY(tokenizer_->isEndOfGeneration(2));  // <|im_end|>, also eos
        QVERIFY(tokenizer_->isEndOfGeneration(0));  // <|endoftext|>
        QVERIFY(!tokenizer_->isEndOfGeneration(1)); // <|im_start|>
        QCOMPARE(tokenizer_->tokenBytes(1), std::string());
        QCOMPARE(tokenizer_->tokenText(1), std::string("<|im_start|>"));
        const std::vector<int32_t> ids = tokenizer_->encode("<|im_start|>user\nHi<|im_end|>", false, true);
        QCOMPARE(tokenizer_->decode(ids, true), std::string("<|im_start|>user\nHi<|im_end|>"));
        QCOMPARE(tokenizer_->decode(ids, false), std::string("user\nHi"));
    }

    void chatTemplateIsChatMlWithSmolLmSystemPrompt() {
        const ChatTemplate chat = ChatTemplate::detect(tokenizer_->spec());
        QCOMPARE(chat.family(), ChatTemplateFamily::ChatML);
        QCOMPARE(chat.defaultSystemPrompt().value_or(""),
                 std::string("You are a helpful AI assistant named SmolLM, trained by Hugging Face"));
        QCOMPARE(
            chat.apply({{"user", "Hi"}}, true),
            std::string("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                        "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
    }
};

QTEST_APPLESS_MAIN(TestTokenizerSmolLM2)
#include "TestTokenizerSmolLM2.moc"
