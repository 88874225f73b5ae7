#pragma once
// A loaded model ready to generate: the facade both faces (lathe-cli, the desktop app) use.
// It owns the opened files, tokenizer, chat template, backend, transformer, KV cache and generator,
// and keeps a conversation so that multi-turn chat reuses the cached prefix.

#include "core/Cancel.h"
#include "core/Progress.h"
#include "decode/Generator.h"
#include "io/ModelFiles.h"
#include "tokenizer/ChatTemplate.h"
#include "tokenizer/Tokenizer.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lathe {

class Backend;
class Transformer;
class KvCache;
class AutoregressiveGenerator;

struct SessionOptions {
    std::string device = "cpu"; // --device
    int threads = 0;            // 0: all hardware threads
    int contextTokens = 4096;   // KV cache capacity, capped by the model's context length
};

class Session {
public:
    // Opens and validates the model; throws lathe::Error naming what is wrong.
    static std::unique_ptr<Session> open(const std::filesystem::path& modelPath,
                                         const SessionOptions& options, const ProgressFn& progress = {},
                                         const CancelToken& cancel = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const ModelFiles& files() const { return *files_; }
    const ModelConfig& config() const { return files_->config; }
    const Tokenizer& tokenizer() const { return *tokenizer_; }
    const ChatTemplate& chatTemplate() const { return chatTemplate_; }
    const SessionOptions& options() const { return options_; }
    int contextTokens() const { return contextTokens_; }
    // The model itself, for measurements that drive forward passes directly (bench).
    Transformer& transformer() { return *transformer_; }
    int threads() const;

    // Plain completion of `prompt` (tokenized with the model's BOS rule, special tokens parsed).
    GenerationResult complete(const std::string& prompt, const GenerationRequest& settings,
                              const TokenCallback& onToken, const CancelToken& cancel = {});

    // Chat: appends the user message, renders the conversation with the chat template, generates the
    // reply (stop strings of the template added) and appends it to the conversation.
    GenerationResult chat(const std::string& userMessage, const GenerationRequest& settings,
                          const TokenCallback& onToken, const CancelToken& cancel = {});
    // Generates the assistant's next message for a whole conversation (system message first if any),
    // without touching the session's own conversation. The KV cache keeps the longest common prefix
    // with the previous call, so continuing a conversation only runs its new tokens.
    GenerationResult reply(const std::vector<ChatMessage>& messages, const GenerationRequest& settings,
                           const TokenCallback& onToken, const CancelToken& cancel = {});
    void setSystemPrompt(const std::string& systemPrompt);
    void resetConversation();
    const std::vector<ChatMessage>& conversation() const { return conversation_; }
    // The prompt token ids of the last complete() or chat() call.
    const std::vector<int32_t>& lastPromptTokens() const { return lastPromptTokens_; }

    // Token ids of `text` as generation would see them.
    std::vector<int32_t> tokenize(const std::string& text, bool parseSpecial = true) const;

private:
    Session() = default;

    SessionOptions options_;
    int contextTokens_ = 0;
    std::unique_ptr<ModelFiles> files_;
    std::unique_ptr<Tokenizer> tokenizer_;
    ChatTemplate chatTemplate_;
    std::unique_ptr<Backend> backend_;
    std::unique_ptr<Transformer> transformer_;
    std::unique_ptr<KvCache> cache_;
    std::unique_ptr<AutoregressiveGenerator> generator_;
    std::string systemPrompt_;
    std::vector<ChatMessage> conversation_;
    std::vector<int32_t> lastPromptTokens_;
};

} // namespace lathe
