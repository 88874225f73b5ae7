// The autoregressive generator against a scripted model (logits a known function of the cached
// tokens, see tests/support/ScriptedModel.h) and a hand-made byte-level BPE vocabulary.

#include "ScriptedModel.h"
#include "core/Error.h"
#include "decode/AutoregressiveGenerator.h"
#include "tokenizer/Tokenizer.h"

#include <QtTest>
#include <memory>
#include <numeric>
#include <set>

using namespace lathe;
using lathe::test::ScriptedModel;

namespace {

using Tokens = std::vector<int32_t>;
using Strings = std::vector<std::string>;

// Token ids of the test vocabulary. Texts are GPT-2 byte-level: "Ġ" is a space, "Ã" the byte 0xC3,
// "©" 0xA9, "âĤ" the bytes 0xE2 0x82 and "¬" 0xAC; so 8 + 9 spell "é" and 10 + 11 spell "€".
enum : int32_t {
    kEos = 0,   // <|endoftext|>
    kEot = 1,   // <|im_end|>
    kHello = 2, // Hello
    kWorld = 3, // " world"
    kBang = 4,  // !
    kOpen = 5,  // </
    kEnd = 6,   // end
    kClose = 7, // >
    kEAcute1 = 8,
    kEAcute2 = 9,
    kEuro1 = 10,
    kEuro2 = 11,
    kSpace = 12,
    kA = 13,
    kB = 14,
    kC = 15,
    kVocab = 16,
};

TokenizerSpec tinySpec() {
    TokenizerSpec spec;
    spec.kind = TokenizerKind::BytePairGpt2;
    spec.preTokenizer = "gpt2";
    spec.tokens = {
        "<|endoftext|>", "<|im_end|>",       "Hello",    "\xC4\xA0world", "!", "</", "end", ">", "\xC3\x83",
        "\xC2\xA9",      "\xC3\xA2\xC4\xA4", "\xC2\xAC", "\xC4\xA0",      "a", "b",  "c"};
    spec.types.assign(spec.tokens.size(), TokenType::Normal);
    spec.types[kEos] = TokenType::Control;
    spec.types[kEot] = TokenType::Control;
    spec.eosId = kEos;
    spec.eotId = kEot;
    return spec;
}

// A model that answers `prompt` with `continuation`, then repeats `filler` forever.
ScriptedModel::NextLogits continueWith(size_t promptLength, Tokens continuation, int32_t filler = kA) {
    return [=](const Tokens& context) {
        const size_t i = context.size() - promptLength;
        return ScriptedModel::oneHot(kVocab, i < continuation.size() ? continuation[i] : filler);
    };
}

// A model whose next token depends on every cached token: a mismanaged cache changes the output.
std::vector<float> hashOfContext(const Tokens& context) {
    uint32_t h = 2166136261u;
    for (int32_t t : context)
        h = (h ^ uint32_t(t)) * 16777619u;
    return ScriptedModel::oneHot(kVocab, int32_t(kHello + h % (kVocab - kHello))); // never EOS/EOT
}

GenerationRequest greedyRequest(Tokens prompt, int maxNewTokens = 16) {
    GenerationRequest r;
    r.promptTokens = std::move(prompt);
    r.maxNewTokens = maxNewTokens;
    r.sampling = SamplingParams::greedy();
    return r;
}

// Everything a test needs, wired together.
struct Rig {
    explicit Rig(ScriptedModel::NextLogits next, int contextLength = 0, int cacheTokens = 1024,
                 int blockTokens = 16)
        : tokenizer(tinySpec()), model(ScriptedModel::tinyConfig(kVocab, contextLength), std::move(next)),
          cache(model.config(), cacheTokens, blockTokens), generator(model, tokenizer, cache) {}

    GenerationResult run(const GenerationRequest& request, TokenCallback onToken = {}) {
        events.clear();
        auto record = [&](const TokenEvent& e) {
            events.push_back(e);
            return onToken ? onToken(e) : true;
        };
        return generator.generate(request, record, cancel);
    }
    Strings eventTexts() const {
        Strings out;
        for (const TokenEvent& e : events)
            out.push_back(e.text);
        return out;
    }

    Tokenizer tokenizer;
    ScriptedModel model;
    KvCache cache;
    AutoregressiveGenerator generator;
    CancelToken cancel;
    std::vector<TokenEvent> events;
};

bool isValidUtf8(const std::string& s) {
    const QString decoded = QString::fromUtf8(s);
    return decoded.toUtf8() == QByteArray::fromStdString(s);
}

Tokens concat(Tokens a, const Tokens& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace

class TestAutoregressiveGenerator : public QObject {
    Q_OBJECT
private slots:
    void stopsAtEndOfGenerationWithExactBatches() {
        Rig rig(continueWith(1, {kWorld, kBang, kEos}));
        const GenerationResult r = rig.run(greedyRequest({kHello}));
        QCOMPARE(r.stopReason, StopReason::EndOfGeneration);
        QCOMPARE(r.tokens, (Tokens{kWorld, kBang, kEos}));
        QCOMPARE(r.text, std::string(" world!"));
        QCOMPARE(rig.eventTexts(), (Strings{" world", "!", ""}));
        for (int i = 0; i < 3; ++i)
            QCOMPARE(rig.events[size_t(i)].index, i);

        // prefill of the prompt, then one row per generated token but the last
        const std::vector<Batch>& b = rig.model.batches();
        QCOMPARE(b.size(), size_t(3));
        QCOMPARE(b[0].tokens, Tokens{kHello});
        QCOMPARE(b[0].positions, Tokens{0});
        QCOMPARE(b[0].logitRows, Tokens{0});
        QCOMPARE(b[1].tokens, Tokens{kWorld});
        QCOMPARE(b[1].positions, Tokens{1});
        QCOMPARE(b[2].tokens, Tokens{kBang});
        QCOMPARE(b[2].positions, Tokens{2});
        QCOMPARE(b[2].seqIds, Tokens{0});
        QCOMPARE(ScriptedModel::cachedTokens(rig.cache, 0), (Tokens{kHello, kWorld, kBang}));
        QCOMPARE(rig.generator.cachedTokens(), (Tokens{kHello, kWorld, kBang}));

        const GenerationTimings& t = r.timings;
        QCOMPARE(t.promptTokens, 1);
        QCOMPARE(t.reusedPromptTokens, 0);
        QCOMPARE(t.generatedTokens, 3);
        QCOMPARE(t.interTokenSeconds.size(), size_t(2));
    }

    void endOfTurnStopsAndCanBeIgnored() {
        Rig rig(continueWith(1, {kBang, kEot, kBang, kEos, kBang}));
        QCOMPARE(rig.run(greedyRequest({kHello})).tokens, (Tokens{kBang, kEot}));

        Rig keepGoing(continueWith(1, {kBang, kEot, kBang, kEos, kBang}));
        GenerationRequest req = greedyRequest({kHello}, 5);
        req.stopAtEndOfGeneration = false;
        const GenerationResult r = keepGoing.run(req);
        QCOMPARE(r.stopReason, StopReason::MaxTokens);
        QCOMPARE(r.tokens, (Tokens{kBang, kEot, kBang, kEos, kBang}));
        QCOMPARE(r.text, std::string("!!!")); // control tokens have no text
    }

    void stopStringSplitAcrossTokensIsHeldBackAndCut() {
        Rig rig(continueWith(1, {kHello, kWorld, kOpen, kEnd, kClose, kBang}));
        GenerationRequest req = greedyRequest({kA});
        req.stopStrings = {"</end>"};
        const GenerationResult r = rig.run(req);
        QCOMPARE(r.stopReason, StopReason::StopString);
        QCOMPARE(r.tokens, (Tokens{kHello, kWorld, kOpen, kEnd, kClose})); // the tokens stay
        QCOMPARE(r.text, std::string("Hello world"));
        QCOMPARE(rig.eventTexts(), (Strings{"Hello", " world", "", "", ""}));
    }

    void heldBackTextIsReleasedWhenNoStopStringCompletes() {
        Rig rig(continueWith(1, {kOpen, kEnd, kA, kB}));
        GenerationRequest req = greedyRequest({kA}, 4);
        req.stopStrings = {"</end>"};
        const GenerationResult r = rig.run(req);
        QCOMPARE(r.stopReason, StopReason::MaxTokens);
        QCOMPARE(rig.eventTexts(), (Strings{"", "", "</enda", "b"}));
        QCOMPARE(r.text, std::string("</endab"));

        // text still held when max tokens ends the run comes out with the last token
        Rig held(continueWith(1, {kB, kOpen, kEnd}));
        req.maxNewTokens = 3;
        const GenerationResult h = held.run(req);
        QCOMPARE(held.eventTexts(), (Strings{"b", "", "</end"}));
        QCOMPARE(h.text, std::string("b</end"));
    }

    void stopsAtMaxTokens() {
        Rig rig(continueWith(2, {}, kA));
        const GenerationResult r = rig.run(greedyRequest({kHello, kWorld}, 5));
        QCOMPARE(r.stopReason, StopReason::MaxTokens);
        QCOMPARE(r.tokens, (Tokens{kA, kA, kA, kA, kA}));
        QCOMPARE(r.text, std::string("aaaaa"));
        QCOMPARE(rig.model.batches().size(), size_t(5)); // prefill + 4 steps; the 5th token is not run
        QCOMPARE(rig.generator.cachedTokens().size(), size_t(2 + 4));
    }

    void zeroMaxTokensOnlyPrefills() {
        Rig rig(continueWith(3, {}));
        const GenerationResult r = rig.run(greedyRequest({kHello, kWorld, kBang}, 0));
        QCOMPARE(r.stopReason, StopReason::MaxTokens);
        QVERIFY(r.tokens.empty());
        QCOMPARE(ScriptedModel::cachedTokens(rig.cache, 0), (Tokens{kHello, kWorld, kBang}));
    }

    void callbackFalseStops() {
        Rig rig(continueWith(1, {}, kB));
        const GenerationResult r =
            rig.run(greedyRequest({kA}), [](const TokenEvent& e) { return e.index < 2; });
        QCOMPARE(r.stopReason, StopReason::Cancelled);
        QCOMPARE(r.tokens, (Tokens{kB, kB, kB}));
        QCOMPARE(rig.model.batches().size(), size_t(3)); // prefill + the rows of the first two tokens
    }

    void cancelTokenStops() {
        Rig rig(continueWith(1, {}, kB));
        const GenerationResult r = rig.run(greedyRequest({kA}), [&](const TokenEvent& e) {
            if (e.index == 1) rig.cancel.cancel();
            return true;
        });
        QCOMPARE(r.stopReason, StopReason::Cancelled);
        QCOMPARE(r.tokens, (Tokens{kB, kB}));

        // cancelled before it starts: nothing runs
        Rig early(continueWith(1, {}, kB));
        early.cancel.cancel();
        const GenerationResult e = early.run(greedyRequest({kA}));
        QCOMPARE(e.stopReason, StopReason::Cancelled);
        QVERIFY(e.tokens.empty());
        QVERIFY(early.model.batches().empty());
    }

    void cancelKeepsHeldBackTextInTheResult() {
        Rig rig(continueWith(1, {kB, kOpen}, kB));
        GenerationRequest req = greedyRequest({kA});
        req.stopStrings = {"</end>"};
        const GenerationResult r = rig.run(req, [](const TokenEvent& e) { return e.index < 1; });
        QCOMPARE(r.stopReason, StopReason::Cancelled);
        QCOMPARE(rig.eventTexts(), (Strings{"b", ""}));
        QCOMPARE(r.text, std::string("b</"));
    }

    void stopsWhenTheContextLengthIsReached() {
        // context 6, prompt 3: tokens 1-3 are run at positions 3-5, the 4th has no position left
        Rig rig(continueWith(3, {}, kC), /*contextLength=*/6);
        const GenerationResult r = rig.run(greedyRequest({kA, kA, kA}, 100));
        QCOMPARE(r.stopReason, StopReason::ContextFull);
        QCOMPARE(r.tokens, (Tokens{kC, kC, kC, kC}));
        QCOMPARE(r.text, std::string("cccc"));
        QCOMPARE(rig.cache.length(0), 6);

        Rig tooLong(continueWith(5, {}), /*contextLength=*/4);
        const GenerationResult t = tooLong.run(greedyRequest({kA, kA, kA, kA, kA}));
        QCOMPARE(t.stopReason, StopReason::ContextFull);
        QVERIFY(t.tokens.empty());
        QVERIFY(tooLong.model.batches().empty());
    }

    void stopsWhenTheCacheIsFull() {
        // 8 slots in blocks of 4, no model limit: prompt 3 + 5 run tokens fill it, the 6th is sampled last
        Rig rig(continueWith(3, {}, kC), 0, /*cacheTokens=*/8, /*blockTokens=*/4);
        const GenerationResult r = rig.run(greedyRequest({kA, kA, kA}, 100));
        QCOMPARE(r.stopReason, StopReason::ContextFull);
        QCOMPARE(r.tokens.size(), size_t(6));
        QCOMPARE(rig.cache.length(0), 8);

        // another sequence holding blocks leaves less room
        Rig shared(continueWith(3, {}, kC), 0, 8, 4);
        shared.cache.append(7, 4);
        QCOMPARE(shared.run(greedyRequest({kA, kA, kA}, 100)).tokens.size(), size_t(2));
    }

    void multiByteCharactersAreNeverSplit() {
        Rig rig(continueWith(1, {kEAcute1, kEAcute2, kEuro1, kEuro2, kBang, kEuro1, kEAcute1, kEAcute2}));
        const GenerationResult r = rig.run(greedyRequest({kHello}, 8));
        // 0xE2 0x82 followed by 0xC3 can never be completed: U+FFFD as soon as that is known, then "é".
        QCOMPARE(rig.eventTexts(),
                 (Strings{"", "\xC3\xA9", "", "\xE2\x82\xAC", "!", "", "\xEF\xBF\xBD", "\xC3\xA9"}));
        for (const TokenEvent& e : rig.events)
            QVERIFY(isValidUtf8(e.text));
        QCOMPARE(r.text, std::string("\xC3\xA9\xE2\x82\xAC!\xEF\xBF\xBD\xC3\xA9"));
        QCOMPARE(r.tokens.size(), size_t(8));
        QCOMPARE(std::accumulate(rig.events.begin(), rig.events.end(), std::string(),
                                 [](std::string s, const TokenEvent& e) { return s + e.text; }),
                 r.text);
    }

    void anUnfinishedCharacterAtTheEndIsReplaced() {
        Rig rig(continueWith(1, {kA, kEuro1}));
        const GenerationResult r = rig.run(greedyRequest({kHello}, 2));
        QCOMPARE(rig.eventTexts(), (Strings{"a", "\xEF\xBF\xBD"}));
        QCOMPARE(r.text, std::string("a\xEF\xBF\xBD"));
    }

    void prefillsInChunksWithLogitsForTheLastRowOnly() {
        Rig rig(continueWith(5, {kEos}));
        rig.generator.setPrefillChunk(2);
        rig.run(greedyRequest({kA, kB, kC, kA, kB}));
        const std::vector<Batch>& b = rig.model.batches();
        QCOMPARE(b.size(), size_t(3));
        QCOMPARE(b[0].tokens, (Tokens{kA, kB}));
        QCOMPARE(b[0].positions, (Tokens{0, 1}));
        QVERIFY(b[0].logitRows.empty());
        QCOMPARE(b[1].positions, (Tokens{2, 3}));
        QVERIFY(b[1].logitRows.empty());
        QCOMPARE(b[2].tokens, Tokens{kB});
        QCOMPARE(b[2].positions, Tokens{4});
        QCOMPARE(b[2].logitRows, Tokens{0});

        Rig big(continueWith(600, {kEos}));
        big.run(greedyRequest(Tokens(600, kA)));
        QCOMPARE(big.model.batches().size(), size_t(3));
        QCOMPARE(big.model.batches()[0].size(), 256);
        QCOMPARE(big.model.batches()[1].positions.front(), 256);
        QCOMPARE(big.model.batches()[2].size(), 600 - 512);
        QCOMPARE(big.model.batches()[2].logitRows, Tokens{600 - 512 - 1});
    }

    void reusesTheCachedPrefix() {
        Rig rig(hashOfContext);
        const Tokens prompt1{kHello, kWorld, kBang};
        const GenerationResult first = rig.run(greedyRequest(prompt1, 3));
        QCOMPARE(first.tokens.size(), size_t(3));

        // A follow-up turn: the first prompt, the answer and new text. Only what the cache lacks runs:
        // the answer's last token (never run) and the new text.
        const Tokens prompt2 = concat(concat(prompt1, first.tokens), {kA, kB});
        rig.model.clearBatches();
        const GenerationResult second = rig.run(greedyRequest(prompt2, 4));
        QCOMPARE(second.timings.reusedPromptTokens, 5);
        QCOMPARE(second.timings.promptTokens, 8);
        const Batch& prefill = rig.model.batches().front();
        QCOMPARE(prefill.tokens, (Tokens{first.tokens[2], kA, kB}));
        QCOMPARE(prefill.positions, (Tokens{5, 6, 7}));
        QCOMPARE(prefill.logitRows, Tokens{2});

        // The independent truth: a fresh generator with an empty cache gives the same tokens.
        Rig fresh(hashOfContext);
        QCOMPARE(fresh.run(greedyRequest(prompt2, 4)).tokens, second.tokens);
        QCOMPARE(fresh.model.batches().front().size(), 8);

        // A prompt that diverges early truncates the cache to the common prefix.
        const Tokens prompt3{kHello, kWorld, kC, kC};
        rig.model.clearBatches();
        const GenerationResult third = rig.run(greedyRequest(prompt3, 2));
        QCOMPARE(third.timings.reusedPromptTokens, 2);
        QCOMPARE(rig.model.batches().front().positions, (Tokens{2, 3}));
        QCOMPARE(ScriptedModel::cachedTokens(rig.cache, 0), concat(prompt3, {third.tokens[0]}));
        Rig fresh3(hashOfContext);
        QCOMPARE(fresh3.run(greedyRequest(prompt3, 2)).tokens, third.tokens);
    }

    void theSamePromptAgainReRunsItsLastToken() {
        Rig rig(hashOfContext);
        const Tokens prompt{kHello, kWorld, kBang};
        const GenerationResult a = rig.run(greedyRequest(prompt, 1));
        rig.model.clearBatches();
        const GenerationResult b = rig.run(greedyRequest(prompt, 1));
        QCOMPARE(b.tokens, a.tokens);
        QCOMPARE(b.timings.reusedPromptTokens, 2);
        QCOMPARE(rig.model.batches().size(), size_t(1));
        QCOMPARE(rig.model.batches().front().tokens, Tokens{kBang});
        QCOMPARE(rig.model.batches().front().positions, Tokens{2});
    }

    void startsAfreshWhenSomeoneElseChangedTheCache() {
        Rig rig(hashOfContext);
        const Tokens prompt{kHello, kWorld, kBang, kA};
        rig.run(greedyRequest(prompt, 3));
        rig.cache.truncate(0, 2);
        rig.model.clearBatches();
        const GenerationResult r = rig.run(greedyRequest(prompt, 3));
        QCOMPARE(r.timings.reusedPromptTokens, 0);
        QCOMPARE(rig.model.batches().front().size(), 4);
        rig.generator.forgetCache();
        QVERIFY(!rig.cache.hasSequence(0));
        QVERIFY(rig.generator.cachedTokens().empty());
    }

    void repeatPenaltySeesPromptAndGeneratedTokens() {
        // a prefers 1.0, b 0.9; penalty 2 halves a seen token's logit
        auto prefersAThenB = [](const Tokens&) {
            std::vector<float> logits(kVocab, 0.0f);
            logits[kA] = 1.0f;
            logits[kB] = 0.9f;
            return logits;
        };
        GenerationRequest req = greedyRequest({kHello, kA}, 3);
        req.sampling.repeatPenalty = 2.0f;
        Rig rig(prefersAThenB);
        // a is in the prompt: b (0.9 > 0.5); then both are seen: a (0.5 > 0.45), a
        QCOMPARE(rig.run(req).tokens, (Tokens{kB, kA, kA}));

        req.sampling.repeatLastN = 1; // only the last token counts: b, then a (b seen), then b (a seen)
        Rig window(prefersAThenB);
        QCOMPARE(window.run(req).tokens, (Tokens{kB, kA, kB}));
    }

    void samplingIsReproducibleFromTheSeed() {
        auto flat = [](const Tokens&) { return std::vector<float>(kVocab, 0.0f); };
        GenerationRequest req = greedyRequest({kHello}, 24);
        req.stopAtEndOfGeneration = false;
        req.sampling = SamplingParams::unrestricted(1.0f, 7);
        Rig a(flat), b(flat), c(flat);
        const Tokens ta = a.run(req).tokens;
        QCOMPARE(b.run(req).tokens, ta);
        req.sampling.seed = 8;
        QVERIFY(c.run(req).tokens != ta);
        QVERIFY(std::set<int32_t>(ta.begin(), ta.end()).size() > 4); // it really samples
    }

    void timingsAreConsistent() {
        Rig rig(continueWith(2, {}, kA));
        double last = -1;
        const GenerationResult r = rig.run(greedyRequest({kHello, kWorld}, 6));
        for (const TokenEvent& e : rig.events) {
            QVERIFY(e.secondsSinceStart >= last);
            last = e.secondsSinceStart;
        }
        const GenerationTimings& t = r.timings;
        QCOMPARE(t.generatedTokens, 6);
        QCOMPARE(t.interTokenSeconds.size(), size_t(5));
        QVERIFY(t.timeToFirstTokenSeconds >= t.promptSeconds);
        QVERIFY(t.decodeSeconds >= 0);
        QVERIFY(t.promptTokensPerSecond() >= 0);
        QVERIFY(t.decodeTokensPerSecond() >= 0);
    }

    void rejectsBadRequests() {
        Rig rig(continueWith(1, {}));
        auto errorOf = [&](const GenerationRequest& req) {
            try {
                rig.run(req);
            } catch (const Error& e) {
                return e.category() == ErrorCategory::InvalidArgument ? QString(e.what())
                                                                      : QString("wrong category");
            }
            return QString();
        };
        QCOMPARE(errorOf(greedyRequest({})),
                 QString("the prompt holds no tokens (at least one is needed to start)"));
        QCOMPARE(errorOf(greedyRequest({kA, 99})),
                 QString("prompt token 99 at index 1 is outside the vocabulary (size 16)"));
        QCOMPARE(errorOf(greedyRequest({kA}, -1)), QString("max new tokens must be >= 0, got -1"));
        GenerationRequest req = greedyRequest({kA});
        req.sampling.temperature = -1.0f;
        QCOMPARE(errorOf(req), QString("temperature must be >= 0, got -1"));
        req = greedyRequest({kA});
        req.stopStrings = {""};
        QCOMPARE(errorOf(req), QString("stop string 0 is empty (it would match at once)"));
        QVERIFY(rig.model.batches().empty());
    }
};

QTEST_APPLESS_MAIN(TestAutoregressiveGenerator)
#include "TestAutoregressiveGenerator.moc"
