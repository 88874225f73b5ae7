#pragma once
// Text <-> token ids for the two tokenizer kinds Lathe reads (see TokenizerSpec.h), matching
// llama.cpp's llama_tokenize / llama_token_to_piece:
// - special tokens are cut out of the text first, longest first; control and unknown tokens only
//   when parseSpecial is set, user-defined tokens always (as Hugging Face tokenizers do);
// - byte-level BPE: pre-tokenizer regexes, GPT-2 byte mapping, merges by rank;
// - SentencePiece BPE: "▁" for spaces, optional space prefix, merges by score, <0xXX> byte fallback.
// Immutable after construction; safe to share between threads.

#include "tokenizer/TokenizerSpec.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lathe {

class PreTokenizer;

class Tokenizer {
public:
    // Validates the spec: throws lathe::Error (InvalidFile) naming the field at fault.
    explicit Tokenizer(const TokenizerSpec& spec);
    ~Tokenizer();
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // addSpecial: add BOS/EOS as the spec says; parseSpecial: "<|im_start|>" in the text becomes
    // that control token (otherwise it is tokenized as plain text).
    std::vector<int32_t> encode(std::string_view text, bool addSpecial, bool parseSpecial) const;

    std::string tokenBytes(int32_t id) const; // raw bytes the token stands for ("" for control tokens)
    std::string tokenText(int32_t id) const;  // control and unknown tokens as their text, else tokenBytes
    // Concatenated bytes; control tokens as text when renderSpecial. SentencePiece vocabularies with
    // a space prefix drop the leading space of the first text piece (the one encode() added).
    std::string decode(std::span<const int32_t> ids, bool renderSpecial = false) const;

    bool isEndOfGeneration(int32_t id) const; // eos, eot and end-of-turn control tokens
    bool isControl(int32_t id) const;         // control or unknown: no bytes of their own
    int32_t bosId() const { return spec_.bosId; }
    int32_t eosId() const { return spec_.eosId; }
    int32_t eotId() const { return eotId_; }
    int vocabSize() const { return int(spec_.tokens.size()); }
    const TokenizerSpec& spec() const { return spec_; }
    std::optional<int32_t> findToken(std::string_view text) const;

private:
    struct Fragment {
        int32_t token;         // -1 for text
        std::string_view text; // when token == -1
    };

    void validate() const;
    void buildTables();
    std::vector<Fragment> partitionSpecial(std::string_view text, bool parseSpecial) const;
    void encodeBytePair(std::string_view text, std::vector<int32_t>& out) const;
    void encodeSentencePiece(std::string_view text, std::vector<int32_t>& out) const;
    std::optional<int32_t> findMergeable(std::string_view text) const;

    TokenizerSpec spec_;
    std::vector<TokenType> types_;                        // spec types, end-of-turn tokens forced to Control
    std::vector<std::string> bytes_;                      // id -> tokenBytes
    std::unordered_map<std::string, int32_t> idOf_;       // every token text
    std::unordered_map<std::string, int32_t> mergeRanks_; // "left right" -> rank
    std::array<int32_t, 256> byteTokens_{};               // <0xXX> tokens, -1 where absent
    std::vector<int32_t> specialTokens_;                  // control/user-defined/unknown, longest first
    std::unordered_set<int32_t> endOfGeneration_;
    int32_t eotId_ = -1;
    std::unique_ptr<PreTokenizer> preTokenizer_; // byte-level BPE only
};

} // namespace lathe
