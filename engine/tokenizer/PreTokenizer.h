#pragma once
// Splits text into words before byte-level BPE, with the regex list llama.cpp uses for each
// GGUF tokenizer.ggml.pre name. Regexes run in sequence: each one splits every piece the previous
// one produced, and text between matches stays a piece of its own (as in llama.cpp).
// PCRE2 (UTF + UCP, JIT) provides \p{L} / \p{N} and the (?!\S) lookahead.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lathe {

class PreTokenizer {
public:
    // Throws lathe::Error (Unsupported) for a name it does not know.
    explicit PreTokenizer(const std::string& name);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // `text` must be valid UTF-8. Returns the words as views into `text`, in order, covering it.
    std::vector<std::string_view> split(std::string_view text) const;

    // Llama 3 style tokenizers skip the merges for a word that is already a token.
    bool ignoreMerges() const { return ignoreMerges_; }
    const std::string& name() const { return name_; }

private:
    class Regex;
    std::string name_;
    bool ignoreMerges_ = false;
    std::vector<std::unique_ptr<Regex>> regexes_;
};

// The regex list (as written in llama.cpp) for a pre-tokenizer name; empty if unknown.
std::vector<std::string> preTokenizerRegexes(const std::string& name);

} // namespace lathe
