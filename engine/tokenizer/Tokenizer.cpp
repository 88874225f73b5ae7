#include "tokenizer/Tokenizer.h"

#include "core/Error.h"
#include "tokenizer/BpeMerger.h"
#include "tokenizer/ByteLevel.h"
#include "tokenizer/PreTokenizer.h"
#include "tokenizer/Utf8.h"

#include <algorithm>

namespace lathe {

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81"; // "▁", SentencePiece's space

// Token texts that end a turn, in the order used to pick eotId when the file names none.
// llama.cpp treats the same texts as end-of-generation and forces them to control type.
constexpr std::array<std::string_view, 9> kEndOfTurnTexts = {
    "<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>",     "<|endoftext|>",
    "<|end_of_text|>", "<|eom_id|>", "<EOT>",   "<end_of_utterance>"};

// "<0x1F>" -> 0x1F; nullopt unless exactly two hex digits.
std::optional<uint8_t> parseByteToken(std::string_view text) {
    if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return std::nullopt;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    const int hi = hex(text[3]);
    const int lo = hex(text[4]);
    if (hi < 0 || lo < 0) return std::nullopt;
    return uint8_t(hi * 16 + lo);
}

void replaceAll(std::string& text, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(text.size());
    size_t start = 0;
    for (size_t pos; (pos = text.find(from, start)) != std::string::npos; start = pos + from.size()) {
        out.append(text, start, pos - start);
        out.append(to);
    }
    out.append(text, start, std::string::npos);
    text = std::move(out);
}

} // namespace

Tokenizer::Tokenizer(const TokenizerSpec& spec) : spec_(spec) {
    validate();
    buildTables();
}

Tokenizer::~Tokenizer() = default;

void Tokenizer::validate() const {
    const size_t n = spec_.tokens.size();
    if (n == 0) fail(ErrorCategory::InvalidFile, "tokenizer has no tokens (tokenizer.ggml.tokens is empty)");
    if (n > size_t(INT32_MAX)) fail(ErrorCategory::InvalidFile, "tokenizer has {} tokens, too many", n);
    if (!spec_.types.empty() && spec_.types.size() != n)
        fail(ErrorCategory::InvalidFile, "tokenizer.ggml.token_type has {} entries for {} tokens",
             spec_.types.size(), n);
    if (!spec_.scores.empty() && spec_.scores.size() != n)
        fail(ErrorCategory::InvalidFile, "tokenizer.ggml.scores has {} entries for {} tokens",
             spec_.scores.size(), n);
    auto checkId = [n](int32_t id, const char* field) {
        if (id < -1 || id >= int64_t(n))
            fail(ErrorCategory::InvalidFile, "tokenizer {} = {} is outside the vocabulary of {} tokens",
                 field, id, n);
    };
    checkId(spec_.bosId, "bos_token_id");
    checkId(spec_.eosId, "eos_token_id");
    checkId(spec_.eotId, "eot_token_id");
    checkId(spec_.unknownId, "unknown_token_id");
    checkId(spec_.paddingId, "padding_token_id");
    if (spec_.addBos && spec_.bosId < 0)
        fail(ErrorCategory::InvalidFile, "tokenizer add_bos_token is true but bos_token_id is not set");
    if (spec_.addEos && spec_.eosId < 0)
        fail(ErrorCategory::InvalidFile, "tokenizer add_eos_token is true but eos_token_id is not set");
    for (size_t i = 0; i < spec_.types.size(); ++i) {
        const auto type = int32_t(spec_.types[i]);
        if (type < 0 || type > int32_t(TokenType::Byte))
            fail(ErrorCategory::InvalidFile, "tokenizer.ggml.token_type[{}] = {} is not a token type", i,
                 type);
        if (spec_.types[i] == TokenType::Byte && !parseByteToken(spec_.tokens[i]))
            fail(ErrorCategory::InvalidFile,
                 "byte token {} has text '{}', expected <0xXX> with two hex digits", i, spec_.tokens[i]);
    }
    for (size_t i = 0; i < n; ++i) {
        if (spec_.tokens[i].empty()) fail(ErrorCategory::InvalidFile, "tokenizer token {} is empty", i);
    }
    for (size_t i = 0; i < spec_.merges.size(); ++i) {
        const std::string& merge = spec_.merges[i];
        const size_t space = merge.find(' ', 1);
        if (space == std::string::npos || space + 1 >= merge.size())
            fail(ErrorCategory::InvalidFile, "tokenizer.ggml.merges[{}] = '{}' is not 'left right'", i,
                 merge);
    }
}

void Tokenizer::buildTables() {
    const size_t n = spec_.tokens.size();
    types_ = spec_.types.empty() ? std::vector<TokenType>(n, TokenType::Normal) : spec_.types;
    byteTokens_.fill(-1);
    idOf_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const auto [it, inserted] = idOf_.emplace(spec_.tokens[i], int32_t(i));
        if (!inserted)
            fail(ErrorCategory::InvalidFile, "tokenizer token '{}' appears twice (ids {} and {})",
                 spec_.tokens[i], it->second, i);
        if (types_[i] == TokenType::Byte) {
            const uint8_t byte = *parseByteToken(spec_.tokens[i]);
            if (byteTokens_[byte] < 0) byteTokens_[byte] = int32_t(i);
        }
    }
    for (size_t rank = 0; rank < spec_.merges.size(); ++rank)
        mergeRanks_.emplace(spec_.merges[rank], int32_t(rank));

    eotId_ = spec_.eotId;
    for (auto text : kEndOfTurnTexts) {
        const auto it = idOf_.find(std::string(text));
        if (it == idOf_.end()) continue;
        endOfGeneration_.insert(it->second);
        types_[size_t(it->second)] = TokenType::Control;
        if (eotId_ < 0) eotId_ = it->second;
    }
    if (spec_.eosId >= 0) endOfGeneration_.insert(spec_.eosId);
    if (eotId_ >= 0) endOfGeneration_.insert(eotId_);

    bytes_.resize(n);
    for (size_t i = 0; i < n; ++i) {
        const std::string& text = spec_.tokens[i];
        switch (types_[i]) {
        case TokenType::Control:
        case TokenType::Unknown:
            break;
        case TokenType::UserDefined:
            bytes_[i] = text;
            break;
        case TokenType::Byte:
            bytes_[i] = std::string(1, char(*parseByteToken(text)));
            break;
        case TokenType::Normal:
        case TokenType::Unused:
        case TokenType::Undefined:
            if (spec_.kind == TokenizerKind::BytePairGpt2) {
                bytes_[i] = byte_level::decode(text);
            } else {
                bytes_[i] = text;
                replaceAll(bytes_[i], kSpaceMarker, " ");
            }
            break;
        }
        if (types_[i] == TokenType::Control || types_[i] == TokenType::UserDefined ||
            types_[i] == TokenType::Unknown)
            specialTokens_.push_back(int32_t(i));
    }
    std::stable_sort(specialTokens_.begin(), specialTokens_.end(), [this](int32_t a, int32_t b) {
        return spec_.tokens[size_t(a)].size() > spec_.tokens[size_t(b)].size();
    });

    if (spec_.kind == TokenizerKind::BytePairGpt2)
        preTokenizer_ = std::make_unique<PreTokenizer>(spec_.preTokenizer);
}

std::optional<int32_t> Tokenizer::findToken(std::string_view text) const {
    const auto it = idOf_.find(std::string(text));
    if (it == idOf_.end()) return std::nullopt;
    return it->second;
}

// Plain text never turns into a control or unknown token, whatever the merges say.
std::optional<int32_t> Tokenizer::findMergeable(std::string_view text) const {
    const auto id = findToken(text);
    if (!id || isControl(*id)) return std::nullopt;
    return id;
}

bool Tokenizer::isControl(int32_t id) const {
    if (id < 0 || id >= vocabSize()) return false;
    return types_[size_t(id)] == TokenType::Control || types_[size_t(id)] == TokenType::Unknown;
}

std::vector<Tokenizer::Fragment> Tokenizer::partitionSpecial(std::string_view text, bool parseSpecial) const {
    std::vector<Fragment> fragments;
    if (!text.empty()) fragments.push_back({-1, text});
    for (const int32_t id : specialTokens_) {
        if (!parseSpecial && isControl(id)) continue;
        const std::string& special = spec_.tokens[size_t(id)];
        std::vector<Fragment> next;
        for (const Fragment& fragment : fragments) {
            if (fragment.token >= 0) {
                next.push_back(fragment);
                continue;
            }
            std::string_view rest = fragment.text;
            for (size_t at; (at = rest.find(special)) != std::string_view::npos;) {
                if (at > 0) next.push_back({-1, rest.substr(0, at)});
                next.push_back({id, {}});
                rest = rest.substr(at + special.size());
            }
            if (!rest.empty()) next.push_back({-1, rest});
        }
        fragments = std::move(next);
    }
    return fragments;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool addSpecial, bool parseSpecial) const {
    std::vector<int32_t> out;
    if (addSpecial && spec_.addBos) out.push_back(spec_.bosId);
    bool previousWasSpecial = true; // SentencePiece adds its space prefix at the start and after specials
    for (const Fragment& fragment : partitionSpecial(text, parseSpecial)) {
        if (fragment.token >= 0) {
            out.push_back(fragment.token);
            previousWasSpecial = true;
            continue;
        }
        if (spec_.kind == TokenizerKind::BytePairGpt2) {
            encodeBytePair(fragment.text, out);
        } else {
            std::string escaped = spec_.addSpacePrefix && previousWasSpecial ? " " : "";
            escaped += fragment.text;
            replaceAll(escaped, " ", kSpaceMarker);
            encodeSentencePiece(escaped, out);
        }
        previousWasSpecial = false;
    }
    if (addSpecial && spec_.addEos) out.push_back(spec_.eosId);
    return out;
}

void Tokenizer::encodeBytePair(std::string_view text, std::vector<int32_t>& out) const {
    const std::string clean = utf8::replaceInvalidPerByte(text);
    std::string key;
    const MergePriority byRank = [&](std::string_view left, std::string_view right) -> std::optional<double> {
        key.assign(left);
        key += ' ';
        key += right;
        const auto it = mergeRanks_.find(key);
        if (it == mergeRanks_.end()) return std::nullopt;
        return double(it->second);
    };
    for (const std::string_view word : preTokenizer_->split(clean)) {
        const std::string encoded = byte_level::encode(word);
        if (preTokenizer_->ignoreMerges()) {
            if (const auto id = findMergeable(encoded)) {
                out.push_back(*id);
                continue;
            }
        }
        for (const MergedSymbol& symbol : mergeSymbols(encoded, byRank)) {
            const std::string_view piece = std::string_view(encoded).substr(symbol.offset, symbol.length);
            if (const auto id = findMergeable(piece)) {
                out.push_back(*id);
                continue;
            }
            // A symbol outside the vocabulary: fall back to one token per byte character.
            for (size_t pos = 0; pos < piece.size();) {
                const size_t length = utf8::scanSequence(piece, pos).length;
                if (const auto id = findMergeable(piece.substr(pos, length))) out.push_back(*id);
                pos += length;
            }
        }
    }
}

void Tokenizer::encodeSentencePiece(std::string_view text, std::vector<int32_t>& out) const {
    std::string joined;
    const MergePriority byScore = [&](std::string_view left,
                                      std::string_view right) -> std::optional<double> {
        joined.assign(left);
        joined += right;
        const auto id = findMergeable(joined);
        if (!id) return std::nullopt;
        const float score = spec_.scores.empty() ? 0.0f : spec_.scores[size_t(*id)];
        return -double(score); // highest score merges first
    };
    for (const MergedSymbol& symbol : mergeSymbols(text, byScore)) {
        const std::string_view piece = text.substr(symbol.offset, symbol.length);
        if (const auto id = findMergeable(piece)) {
            out.push_back(*id);
            continue;
        }
        for (const char c : piece) {
            const int32_t byteToken = byteTokens_[uint8_t(c)];
            if (byteToken >= 0) {
                out.push_back(byteToken);
            } else if (spec_.unknownId >= 0) {
                out.push_back(spec_.unknownId);
                break; // one unknown token stands for the whole piece
            }
        }
    }
}

std::string Tokenizer::tokenBytes(int32_t id) const {
    if (id < 0 || id >= vocabSize())
        fail(ErrorCategory::InvalidArgument, "token id {} is outside the vocabulary of {}", id, vocabSize());
    return bytes_[size_t(id)];
}

std::string Tokenizer::tokenText(int32_t id) const {
    if (isControl(id)) return spec_.tokens[size_t(id)];
    return tokenBytes(id);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool renderSpecial) const {
    std::string out;
    bool stripSpace = spec_.kind == TokenizerKind::SentencePieceBpe && spec_.addSpacePrefix;
    for (const int32_t id : ids) {
        std::string piece = renderSpecial ? tokenText(id) : tokenBytes(id);
        if (stripSpace && !isControl(id)) {
            if (!piece.empty() && piece[0] == ' ') piece.erase(0, 1);
            stripSpace = false;
        }
        out += piece;
    }
    return out;
}

bool Tokenizer::isEndOfGeneration(int32_t id) const {
    return endOfGeneration_.count(id) > 0;
}

} // namespace lathe
