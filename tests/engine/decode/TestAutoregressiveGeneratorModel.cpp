// The autoregressive generator on the real default model (SmolLM2-135M-Instruct Q4_1, CPU backend),
// against greedy token ids from llama.cpp (llama-cpp-python 0.3.36, same file, prompt tokens fed as
// ids, argmax at every step, F32 K/V cache and no flash attention: the settings of
// tests/data/model/smollm2_generation.json, whose arithmetic the CPU backend reproduces bit for bit).

#include "TestSupport.h"
#include "backend/cpu/CpuBackend.h"
#include "decode/AutoregressiveGenerator.h"
#include "io/ModelFiles.h"
#include "model/Transformer.h"
#include "tokenizer/Tokenizer.h"

#include <QtTest>

using namespace lathe;

namespace {

using Tokens = std::vector<int32_t>;

// "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
const Tokens kChatPrompt{1, 4093, 198, 1780, 314, 216, 34, 27, 34, 47, 2, 198, 1, 520, 9531, 198};
// llama.cpp's greedy answer, "The answer is: 4", ending with <|im_end|> (2)
const Tokens kChatAnswer{504, 2988, 314, 42, 216, 36, 2};

// "The capital of France is"
const Tokens kCompletionPrompt{504, 3575, 282, 4649, 314};
// " Paris.\n\nThe answer is: 201" (the first 12 greedy tokens; step 6 is a near tie, margin 0.034)
const Tokens kCompletionAnswer{7042, 30, 198, 198, 504, 2988, 314, 42, 216, 34, 32, 33};

GenerationRequest greedy(Tokens prompt, int maxNewTokens) {
    GenerationRequest r;
    r.promptTokens = std::move(prompt);
    r.maxNewTokens = maxNewTokens;
    r.sampling = SamplingParams::greedy();
    return r;
}

Tokens concat(Tokens a, const Tokens& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace

class TestAutoregressiveGeneratorModel : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        const auto path = test::defaultModelPath();
        if (!path) QSKIP(test::kNoDefaultModel);
        files_ = std::make_unique<ModelFiles>(openModelFiles(*path));
        backend_ = makeCpuBackend(2);
        model_ = std::make_unique<Transformer>(*files_, *backend_);
        tokenizer_ = std::make_unique<Tokenizer>(files_->tokenizer);
    }

    void greedyChatMatchesLlamaCpp() {
        KvCache cache = model_->makeCache(512);
        AutoregressiveGenerator generator(*model_, *tokenizer_, cache);
        std::string streamed;
        const GenerationResult r = generator.generate(greedy(kChatPrompt, 32),
                                                      [&](const TokenEvent& e) {
                                                          streamed += e.text;
                                                          return true;
                                                      },
                                                      {});
        QCOMPARE(r.tokens, kChatAnswer);
        QCOMPARE(r.stopReason, StopReason::EndOfGeneration);
        QCOMPARE(r.text, std::string("The answer is: 4"));
        QCOMPARE(streamed, r.text);
    }

    void greedyCompletionMatchesLlamaCpp() {
        KvCache cache = model_->makeCache(512);
        AutoregressiveGenerator generator(*model_, *tokenizer_, cache);
        const GenerationResult r =
            generator.generate(greedy(kCompletionPrompt, int(kCompletionAnswer.size())), {}, {});
        QCOMPARE(r.tokens, kCompletionAnswer);
        QCOMPARE(r.stopReason, StopReason::MaxTokens);
        QCOMPARE(r.text, std::string(" Paris.\n\nThe answer is: 201"));

        // The same run cut by a stop string ending inside token 10 ("2"): the tokens up to it stay.
        // A fresh cache: reusing the first run's cache would re-run the last prompt token alone, and
        // llama.cpp's attention sums a one-row batch in another order, enough to flip step 6's near tie.
        GenerationRequest req = greedy(kCompletionPrompt, int(kCompletionAnswer.size()));
        req.stopStrings = {"is: 2"};
        KvCache freshCache = model_->makeCache(512);
        AutoregressiveGenerator fresh(*model_, *tokenizer_, freshCache);
        const GenerationResult cut = fresh.generate(req, {}, {});
        QCOMPARE(cut.tokens, Tokens(kCompletionAnswer.begin(), kCompletionAnswer.begin() + 10));
        QCOMPARE(cut.stopReason, StopReason::StopString);
        QCOMPARE(cut.text, std::string(" Paris.\n\nThe answer "));
    }

    void aFollowUpTurnReusesTheCacheAndMatchesAFreshRun() {
        // Second turn: the first exchange (with its <|im_end|>) plus a new user message.
        const Tokens turn2 = concat(concat(kChatPrompt, kChatAnswer),
                                    concat({198}, tokenizer_->encode("<|im_start|>user\nAnd 3+3?<|im_end|>\n"
                                                                     "<|im_start|>assistant\n",
                                                                     false, true)));
        KvCache cache = model_->makeCache(512);
        AutoregressiveGenerator generator(*model_, *tokenizer_, cache);
        generator.generate(greedy(kChatPrompt, 32), {}, {});
        const GenerationResult reused = generator.generate(greedy(turn2, 24), {}, {});
        // Everything but the answer's last token (<|im_end|>, sampled but never run) was cached.
        QCOMPARE(reused.timings.reusedPromptTokens, int(kChatPrompt.size() + kChatAnswer.size() - 1));

        KvCache freshCache = model_->makeCache(512);
        AutoregressiveGenerator fresh(*model_, *tokenizer_, freshCache);
        const GenerationResult expected = fresh.generate(greedy(turn2, 24), {}, {});
        QCOMPARE(expected.timings.reusedPromptTokens, 0);
        QCOMPARE(reused.tokens, expected.tokens);
        QVERIFY(!expected.tokens.empty());
    }

private:
    std::unique_ptr<ModelFiles> files_;
    std::unique_ptr<Backend> backend_;
    std::unique_ptr<Transformer> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
};

QTEST_APPLESS_MAIN(TestAutoregressiveGeneratorModel)
#include "TestAutoregressiveGeneratorModel.moc"
