#pragma once
// Chat prompt formatting for the common template families. The family is recognised from
// distinctive substrings of the model's Jinja template; the template itself is never executed
// (it is model-supplied code). Output follows llama.cpp's llm_chat_apply_template for the family,
// which matches the reference templates except that a leading BOS is left out: encode the
// result with addSpecial = true (BOS from the tokenizer) and parseSpecial = true.

#include "tokenizer/TokenizerSpec.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lathe {

struct ChatMessage {
    std::string role; // system | user | assistant
    std::string content;
};

// Stored in run configs by name (familyName) — never rename.
enum class ChatTemplateFamily { ChatML, Llama2, Llama3, Mistral, Gemma, Phi3, Zephyr, Unknown };

class ChatTemplate {
public:
    // Recognises the family from spec.chatTemplate; falls back to ChatML when the vocabulary has
    // <|im_start|>, else Unknown (apply then joins the messages plainly).
    static ChatTemplate detect(const TokenizerSpec& spec);
    // Recognises the family from template text alone (no vocabulary fallback).
    static ChatTemplate fromTemplateText(std::string_view templateText);
    ChatTemplate() = default; // Unknown: plain join, no stop strings
    explicit ChatTemplate(ChatTemplateFamily family);

    ChatTemplateFamily family() const { return family_; }
    std::string_view familyName() const;
    std::string apply(const std::vector<ChatMessage>& messages, bool addGenerationPrompt) const;
    std::vector<std::string> stopStrings() const;
    // The system prompt the template inserts when the conversation has none (SmolLM2, Qwen2.5).
    std::optional<std::string> defaultSystemPrompt() const { return defaultSystemPrompt_; }

private:
    // Sub-variants of a family that render differently (as llama.cpp distinguishes them).
    struct Variant {
        bool systemBlock = true;   // Llama 2: <<SYS>> block; otherwise the system text is prepended
        bool stripContent = false; // Llama 2: content.strip()
        bool bosInHistory = false; // Llama 2: "<s>" before each later [INST]
        bool mistralTrim = false;  // Mistral v3: assistant content trimmed, "[INST] " spacing
        bool mistralV7 = false;    // Mistral v7: [SYSTEM_PROMPT] blocks
    };

    std::string applyLlama2(const std::vector<ChatMessage>& messages) const;
    std::string applyMistral(const std::vector<ChatMessage>& messages) const;

    ChatTemplateFamily family_ = ChatTemplateFamily::Unknown;
    Variant variant_;
    std::optional<std::string> defaultSystemPrompt_;
};

} // namespace lathe
