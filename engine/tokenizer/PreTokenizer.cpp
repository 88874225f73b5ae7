#include "tokenizer/PreTokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/Error.h"

#include <pcre2.h>

namespace lathe {

namespace {

// llama.cpp's \s is Unicode White_Space. PCRE2's \s under UCP leaves out U+0085, so every \s and
// \S is rewritten to this explicit set before compiling.
constexpr std::string_view kWhitespaceSet =
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

std::string rewriteWhitespaceClasses(const std::string& pattern) {
    std::string out;
    bool inClass = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char next = pattern[i + 1];
            ++i;
            if (next == 's') {
                out += inClass ? std::string(kWhitespaceSet) : "[" + std::string(kWhitespaceSet) + "]";
            } else if (next == 'S') {
                if (inClass)
                    fail(ErrorCategory::Internal, "\\S inside a class in pre-tokenizer regex {}", pattern);
                out += "[^" + std::string(kWhitespaceSet) + "]";
            } else {
                out += c;
                out += next;
            }
            continue;
        }
        if (c == '[' && !inClass)
            inClass = true;
        else if (c == ']' && inClass)
            inClass = false;
        out += c;
    }
    return out;
}

const std::string kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const std::string kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const std::string kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

bool isOneOf(const std::string& name, std::initializer_list<std::string_view> names) {
    for (auto n : names)
        if (name == n) return true;
    return false;
}

} // namespace

std::vector<std::string> preTokenizerRegexes(const std::string& name) {
    if (isOneOf(name, {"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe"})) return {kLlama3};
    if (isOneOf(name, {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"}))
        return {"\\p{N}", kGpt2};
    if (isOneOf(name, {"qwen2", "stablelm2", "megrez"})) return {kQwen2};
    if (isOneOf(name, {"gpt2", "mpt", "olmo", "jais", "trillion"})) return {kGpt2};
    if (isOneOf(name, {"default", ""}))
        return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
    return {};
}

class PreTokenizer::Regex {
public:
    explicit Regex(const std::string& pattern) {
        const std::string rewritten = rewriteWhitespaceClasses(pattern);
        int errorCode = 0;
        PCRE2_SIZE errorOffset = 0;
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &errorCode, &errorOffset, nullptr);
        if (!code_) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(errorCode, message, sizeof(message));
            fail(ErrorCategory::Internal, "pre-tokenizer regex {} does not compile at {}: {}", pattern,
                 size_t(errorOffset), reinterpret_cast<const char*>(message));
        }
        // JIT is an optimisation only: where it is unavailable pcre2_match interprets.
        pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
    }
    ~Regex() { pcre2_code_free(code_); }
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Appends the pieces of `piece`: matches and the text between them.
    void split(std::string_view piece, std::vector<std::string_view>& out) const {
        pcre2_match_data* match = pcre2_match_data_create_from_pattern(code_, nullptr);
        const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
        size_t start = 0;
        size_t emitted = 0;
        while (start < piece.size()) {
            const int rc =
                pcre2_match(code_, subject, piece.size(), start, PCRE2_NO_UTF_CHECK, match, nullptr);
            if (rc < 0) break; // PCRE2_ERROR_NOMATCH, or a resource limit: the rest stays one piece
            const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
            const size_t begin = ovector[0];
            const size_t end = ovector[1];
            if (begin > emitted) out.push_back(piece.substr(emitted, begin - emitted));
            if (end > begin) {
                out.push_back(piece.substr(begin, end - begin));
                emitted = end;
                start = end;
            } else {
                // None of the lists matches empty text; step over one code point to be safe.
                start = begin + 1;
                while (start < piece.size() && (uint8_t(piece[start]) & 0xC0) == 0x80)
                    ++start;
            }
        }
        if (emitted < piece.size()) out.push_back(piece.substr(emitted));
        pcre2_match_data_free(match);
    }

private:
    pcre2_code* code_ = nullptr;
};

PreTokenizer::PreTokenizer(const std::string& name) : name_(name) {
    const std::vector<std::string> patterns = preTokenizerRegexes(name);
    if (patterns.empty())
        fail(ErrorCategory::Unsupported, "unknown pre-tokenizer '{}' (tokenizer.ggml.pre)", name);
    ignoreMerges_ = isOneOf(name, {"llama3", "llama-v3", "llama-bpe", "falcon3"});
    for (const auto& pattern : patterns)
        regexes_.push_back(std::make_unique<Regex>(pattern));
}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    if (!text.empty()) pieces.push_back(text);
    for (const auto& regex : regexes_) {
        std::vector<std::string_view> next;
        next.reserve(pieces.size() * 2);
        for (auto piece : pieces)
            regex->split(piece, next);
        pieces = std::move(next);
    }
    return pieces;
}

} // namespace lathe
