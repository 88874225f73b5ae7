#include "tokenizer/ChatTemplate.h"

#include <algorithm>

namespace lathe {

namespace {

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

std::string trim(std::string_view text) {
    auto isSpace = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    };
    size_t begin = 0;
    size_t end = text.size();
    while (begin < end && isSpace(text[begin]))
        ++begin;
    while (end > begin && isSpace(text[end - 1]))
        --end;
    return std::string(text.substr(begin, end - begin));
}

// A ChatML template that inserts a fixed system turn when the conversation lacks one carries it as
// a literal: '<|im_start|>system\n...<|im_end|>' (Jinja string, so "\n" may be escaped).
std::optional<std::string> literalSystemPrompt(std::string_view templateText) {
    for (std::string_view opener :
         {std::string_view("<|im_start|>system\\n"), std::string_view("<|im_start|>system\n")}) {
        const size_t start = templateText.find(opener);
        if (start == std::string_view::npos) continue;
        const size_t begin = start + opener.size();
        const size_t end = templateText.find("<|im_end|>", begin);
        if (end == std::string_view::npos) continue;
        const std::string_view body = templateText.substr(begin, end - begin);
        if (body.empty() || contains(body, "{") || contains(body, "'") || contains(body, "\"")) continue;
        // The template's escaped newlines become real ones. (Built by appending: GCC 12 warned about an
        // impossible overlap inside std::string::replace here, a known false positive.)
        std::string prompt;
        prompt.reserve(body.size());
        for (size_t pos = 0; pos < body.size(); ++pos) {
            if (body.compare(pos, 2, "\\n") == 0) {
                prompt += '\n';
                ++pos;
            } else {
                prompt += body[pos];
            }
        }
        return prompt;
    }
    return std::nullopt;
}

} // namespace

ChatTemplate::ChatTemplate(ChatTemplateFamily family) : family_(family) {}

ChatTemplate ChatTemplate::fromTemplateText(std::string_view t) {
    if (contains(t, "<|im_start|>")) {
        ChatTemplate result(ChatTemplateFamily::ChatML);
        result.defaultSystemPrompt_ = literalSystemPrompt(t);
        return result;
    }
    if (t.substr(0, 7) == "mistral" || contains(t, "[INST]")) {
        if (contains(t, "<<SYS>>")) {
            ChatTemplate result(ChatTemplateFamily::Llama2);
            result.variant_.stripContent = contains(t, "content.strip()");
            result.variant_.bosInHistory = contains(t, "bos_token + '[INST]");
            return result;
        }
        ChatTemplate result(ChatTemplateFamily::Mistral);
        result.variant_.systemBlock = false;
        result.variant_.mistralV7 = contains(t, "[SYSTEM_PROMPT]");
        result.variant_.mistralTrim = !result.variant_.mistralV7 && contains(t, "[AVAILABLE_TOOLS]");
        return result;
    }
    if (contains(t, "<|assistant|>") && contains(t, "<|end|>")) return ChatTemplate(ChatTemplateFamily::Phi3);
    if ((contains(t, "<|user|>") || contains(t, "<|assistant|>") ||
         contains(t, "'<|' + message['role'] + '|>'")) &&
        (contains(t, "<|endoftext|>") || contains(t, "eos_token")))
        return ChatTemplate(ChatTemplateFamily::Zephyr);
    if (contains(t, "<start_of_turn>")) return ChatTemplate(ChatTemplateFamily::Gemma);
    if (contains(t, "<|start_header_id|>") && contains(t, "<|end_header_id|>"))
        return ChatTemplate(ChatTemplateFamily::Llama3);
    return ChatTemplate(ChatTemplateFamily::Unknown);
}

ChatTemplate ChatTemplate::detect(const TokenizerSpec& spec) {
    ChatTemplate result = fromTemplateText(spec.chatTemplate);
    if (result.family_ != ChatTemplateFamily::Unknown) return result;
    const bool hasImStart =
        std::find(spec.tokens.begin(), spec.tokens.end(), std::string("<|im_start|>")) != spec.tokens.end();
    return ChatTemplate(hasImStart ? ChatTemplateFamily::ChatML : ChatTemplateFamily::Unknown);
}

std::string_view ChatTemplate::familyName() const {
    switch (family_) {
    case ChatTemplateFamily::ChatML:
        return "chatml";
    case ChatTemplateFamily::Llama2:
        return "llama2";
    case ChatTemplateFamily::Llama3:
        return "llama3";
    case ChatTemplateFamily::Mistral:
        return "mistral";
    case ChatTemplateFamily::Gemma:
        return "gemma";
    case ChatTemplateFamily::Phi3:
        return "phi3";
    case ChatTemplateFamily::Zephyr:
        return "zephyr";
    case ChatTemplateFamily::Unknown:
        return "unknown";
    }
    return "unknown";
}

std::vector<std::string> ChatTemplate::stopStrings() const {
    switch (family_) {
    case ChatTemplateFamily::ChatML:
        return {"<|im_end|>"};
    case ChatTemplateFamily::Llama2:
    case ChatTemplateFamily::Mistral:
        return {"</s>"};
    case ChatTemplateFamily::Llama3:
        return {"<|eot_id|>"};
    case ChatTemplateFamily::Gemma:
        return {"<end_of_turn>"};
    case ChatTemplateFamily::Phi3:
        return {"<|end|>"};
    case ChatTemplateFamily::Zephyr:
        return {"<|endoftext|>"};
    case ChatTemplateFamily::Unknown:
        return {};
    }
    return {};
}

std::string ChatTemplate::applyLlama2(const std::vector<ChatMessage>& messages) const {
    std::string out = "[INST] ";
    bool insideTurn = true; // the first [INST] is already open
    for (const ChatMessage& m : messages) {
        const std::string content = variant_.stripContent ? trim(m.content) : m.content;
        if (!insideTurn) {
            insideTurn = true;
            out += variant_.bosInHistory ? "<s>[INST] " : "[INST] ";
        }
        if (m.role == "system") {
            out += variant_.systemBlock ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
        } else if (m.role == "user") {
            out += content + " [/INST]";
        } else {
            out += content + "</s>";
            insideTurn = false;
        }
    }
    return out;
}

std::string ChatTemplate::applyMistral(const std::vector<ChatMessage>& messages) const {
    if (variant_.mistralV7) {
        std::string out;
        for (const ChatMessage& m : messages) {
            if (m.role == "system")
                out += "[SYSTEM_PROMPT] " + m.content + "[/SYSTEM_PROMPT]";
            else if (m.role == "user")
                out += "[INST] " + m.content + "[/INST]";
            else
                out += " " + m.content + "</s>";
        }
        return out;
    }
    if (variant_.mistralTrim) {
        std::string out;
        bool insideTurn = false;
        for (const ChatMessage& m : messages) {
            if (!insideTurn) {
                out += "[INST] ";
                insideTurn = true;
            }
            if (m.role == "system") {
                out += m.content + "\n\n";
            } else if (m.role == "user") {
                out += m.content + "[/INST]";
            } else {
                out += ' ';
                out += trim(m.content);
                out += "</s>";
                insideTurn = false;
            }
        }
        return out;
    }
    return applyLlama2(messages); // v0.1 / v0.2: Llama 2's layout without a <<SYS>> block
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& messages, bool addGenerationPrompt) const {
    std::string out;
    switch (family_) {
    case ChatTemplateFamily::ChatML:
        if (defaultSystemPrompt_ && !messages.empty() && messages.front().role != "system")
            out += "<|im_start|>system\n" + *defaultSystemPrompt_ + "<|im_end|>\n";
        for (const ChatMessage& m : messages)
            out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
        if (addGenerationPrompt) out += "<|im_start|>assistant\n";
        return out;
    case ChatTemplateFamily::Llama2:
        return applyLlama2(messages);
    case ChatTemplateFamily::Mistral:
        return applyMistral(messages);
    case ChatTemplateFamily::Llama3:
        for (const ChatMessage& m : messages)
            out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
        if (addGenerationPrompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
        return out;
    case ChatTemplateFamily::Gemma: {
        // Gemma has no system role: the system text opens the next user turn.
        std::string system;
        for (const ChatMessage& m : messages) {
            if (m.role == "system") {
                system += trim(m.content);
                continue;
            }
            const std::string role = m.role == "assistant" ? "model" : m.role;
            out += "<start_of_turn>" + role + "\n";
            if (!system.empty() && role != "model") {
                out += system + "\n\n";
                system.clear();
            }
            out += trim(m.content) + "<end_of_turn>\n";
        }
        if (addGenerationPrompt) out += "<start_of_turn>model\n";
        return out;
    }
    case ChatTemplateFamily::Phi3:
        for (const ChatMessage& m : messages)
            out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
        if (addGenerationPrompt) out += "<|assistant|>\n";
        return out;
    case ChatTemplateFamily::Zephyr:
        for (const ChatMessage& m : messages)
            out += "<|" + m.role + "|>\n" + m.content + "<|endoftext|>\n";
        if (addGenerationPrompt) out += "<|assistant|>\n";
        return out;
    case ChatTemplateFamily::Unknown:
        for (const ChatMessage& m : messages)
            out += m.content + "\n";
        return out;
    }
    return out;
}

} // namespace lathe
