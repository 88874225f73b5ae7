#include "workbench/Session.h"

#include "backend/Backend.h"
#include "backend/DeviceDiscovery.h"
#include "backend/cpu/CpuBackend.h"
#include "core/ThreadPool.h"

#include <algorithm>
#include <spdlog/spdlog.h>
#ifdef LATHE_HAVE_CUDA
#include "backend/cuda/CudaBackend.h"
#endif
#include "decode/AutoregressiveGenerator.h"
#include "model/KvCache.h"
#include "model/Transformer.h"

namespace lathe {

std::unique_ptr<Session> Session::open(const std::filesystem::path& modelPath, const SessionOptions& options,
                                       const ProgressFn& progress, const CancelToken& cancel) {
    if (options.threads < 0)
        fail(ErrorCategory::InvalidArgument, "threads must be >= 0, got {}", options.threads);
    if (options.contextTokens < 16)
        fail(ErrorCategory::InvalidArgument, "context must be at least 16 tokens, got {}",
             options.contextTokens);
    const ComputeDevice device = selectDevice(discoverDevices(), options.device);

    std::unique_ptr<Session> session(new Session());
    session->options_ = options;
    reportProgress(progress, 0.0, "opening model");
    session->files_ = std::make_unique<ModelFiles>(openModelFiles(modelPath));
    cancel.throwIfCancelled();
    reportProgress(progress, 0.4, "building tokenizer");
    session->tokenizer_ = std::make_unique<Tokenizer>(session->files_->tokenizer);
    session->chatTemplate_ = ChatTemplate::detect(session->files_->tokenizer);
    cancel.throwIfCancelled();
    reportProgress(progress, 0.6, "preparing weights");
#ifdef LATHE_HAVE_CUDA
    if (device.kind == DeviceKind::Cuda)
        session->backend_ = makeCudaBackend(std::stoi(device.id.substr(device.id.find(':') + 1)));
    else
        session->backend_ = makeCpuBackend(options.threads);
#else
    if (device.kind != DeviceKind::Cpu)
        fail(ErrorCategory::Device, "device {} cannot run models in this build (built without CUDA)",
             device.id);
    session->backend_ = makeCpuBackend(options.threads);
#endif
    session->transformer_ = std::make_unique<Transformer>(*session->files_, *session->backend_);
    const int modelContext = session->files_->config.contextLength;
    session->contextTokens_ =
        modelContext > 0 ? std::min(options.contextTokens, modelContext) : options.contextTokens;
    session->cache_ = std::make_unique<KvCache>(session->transformer_->makeCache(session->contextTokens_));
    session->generator_ = std::make_unique<AutoregressiveGenerator>(*session->transformer_,
                                                                    *session->tokenizer_, *session->cache_);
    reportProgress(progress, 1.0, "ready");
    spdlog::info("loaded {} ({} layers, hidden {}, vocab {}, template {}) on {}", modelPath.string(),
                 session->config().nLayers, session->config().nEmbd, session->config().vocabSize,
                 session->chatTemplate_.familyName(), device.id);
    return session;
}

Session::~Session() = default;

int Session::threads() const {
    return options_.threads > 0 ? options_.threads : ThreadPool::hardwareThreads();
}

std::vector<int32_t> Session::tokenize(const std::string& text, bool parseSpecial) const {
    return tokenizer_->encode(text, /*addSpecial=*/true, parseSpecial);
}

GenerationResult Session::complete(const std::string& prompt, const GenerationRequest& settings,
                                   const TokenCallback& onToken, const CancelToken& cancel) {
    GenerationRequest request = settings;
    request.promptTokens = tokenize(prompt);
    if (request.promptTokens.empty()) fail(ErrorCategory::InvalidArgument, "the prompt is empty");
    lastPromptTokens_ = request.promptTokens;
    return generator_->generate(request, onToken, cancel);
}

GenerationResult Session::reply(const std::vector<ChatMessage>& messages, const GenerationRequest& settings,
                                const TokenCallback& onToken, const CancelToken& cancel) {
    GenerationRequest request = settings;
    request.promptTokens = tokenizer_->encode(chatTemplate_.apply(messages, /*addGenerationPrompt=*/true),
                                              /*addSpecial=*/true, /*parseSpecial=*/true);
    for (const std::string& stop : chatTemplate_.stopStrings())
        if (std::find(request.stopStrings.begin(), request.stopStrings.end(), stop) ==
            request.stopStrings.end())
            request.stopStrings.push_back(stop);
    lastPromptTokens_ = request.promptTokens;
    return generator_->generate(request, onToken, cancel);
}

GenerationResult Session::chat(const std::string& userMessage, const GenerationRequest& settings,
                               const TokenCallback& onToken, const CancelToken& cancel) {
    std::vector<ChatMessage> messages;
    if (!systemPrompt_.empty()) messages.push_back({"system", systemPrompt_});
    messages.insert(messages.end(), conversation_.begin(), conversation_.end());
    messages.push_back({"user", userMessage});
    GenerationResult result = reply(messages, settings, onToken, cancel);
    conversation_.push_back({"user", userMessage});
    conversation_.push_back({"assistant", result.text});
    return result;
}

void Session::setSystemPrompt(const std::string& systemPrompt) {
    systemPrompt_ = systemPrompt;
}

void Session::resetConversation() {
    conversation_.clear();
}

} // namespace lathe
