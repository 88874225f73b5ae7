#pragma once
// Turns a stream of generated token ids into text without ever emitting a broken character: bytes
// of a UTF-8 sequence that is still incomplete wait for the next token; bytes that can never become
// valid are replaced by U+FFFD as soon as that is certain.

#include <cstdint>
#include <string>

namespace lathe {

class Tokenizer;

class IncrementalDetokenizer {
public:
    explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool renderSpecial = false);

    // The complete, valid UTF-8 text that this token finishes (possibly empty).
    std::string push(int32_t id);
    // Whatever is left (an unfinished sequence), each ill-formed part replaced by U+FFFD.
    std::string flush();

private:
    const Tokenizer& tokenizer_;
    bool renderSpecial_;
    std::string pending_; // bytes of an incomplete sequence at the end of the stream so far
};

} // namespace lathe
