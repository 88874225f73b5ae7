#pragma once
// Everything a tokenizer is built from, as read from GGUF metadata (tokenizer.ggml.*) or from a
// Hugging Face tokenizer.json + tokenizer_config.json. Plain data; Tokenizer builds its tables from it.

#include <cstdint>
#include <string>
#include <vector>

namespace lathe {

enum class TokenizerKind {
    BytePairGpt2,     // byte-level BPE ("gpt2" in GGUF): Llama 3, SmolLM, Qwen2, GPT-2
    SentencePieceBpe, // SentencePiece BPE with byte fallback ("llama" in GGUF): Llama 2, Mistral
};

// Values are GGUF's tokenizer.ggml.token_type (stored in files — never renumber).
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

struct TokenizerSpec {
    TokenizerKind kind = TokenizerKind::BytePairGpt2;
    std::string preTokenizer; // GGUF tokenizer.ggml.pre: "smollm", "llama-bpe", "qwen2", "gpt2", "default"
    std::vector<std::string> tokens; // id -> token text (byte-level BPE: GPT-2's byte-to-unicode encoding)
    std::vector<float> scores;       // SentencePiece scores (may be empty for BPE)
    std::vector<TokenType> types;    // same length as tokens
    std::vector<std::string> merges; // "left right", in rank order (BPE)
    int32_t bosId = -1;
    int32_t eosId = -1;
    int32_t eotId = -1; // end of turn (e.g. <|im_end|>, <|eot_id|>), -1 if none
    int32_t unknownId = -1;
    int32_t paddingId = -1;
    bool addBos = false;
    bool addEos = false;
    bool addSpacePrefix = false; // SentencePiece: prepend "▁" to the text
    std::string chatTemplate;    // Jinja text from the model; only used to detect the family
};

} // namespace lathe
