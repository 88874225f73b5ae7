#pragma once
// Streams generated text while watching for stop strings. Text that might be the start of a stop
// string is held back until it either completes one (then it and everything after it are dropped)
// or can no longer do so (then it is released). So a caller never shows text that later turns out to
// belong to a stop string, even when the stop string is split across several tokens.
//
// Holding back only ever splits at a UTF-8 character boundary: a held suffix equals a prefix of a
// (valid UTF-8) stop string, and so starts at a lead byte.

#include <string>
#include <string_view>
#include <vector>

namespace lathe {

class StopStringFilter {
public:
    // Throws lathe::Error (InvalidArgument) for an empty stop string.
    explicit StopStringFilter(std::vector<std::string> stopStrings);

    // Adds text; returns the text now safe to release. Once a stop string matched, stopped() is true,
    // the returned text ends just before the match and later pushes return nothing.
    std::string push(std::string_view text);
    // Releases the held-back text (the stream ended, so no stop string can complete any more).
    std::string flush();

    bool stopped() const { return stopped_; }
    const std::string& matched() const { return matched_; } // the stop string that matched, if any

private:
    size_t heldBackLength() const; // longest suffix of pending_ that is a proper prefix of a stop string

    std::vector<std::string> stopStrings_;
    std::string pending_;
    std::string matched_;
    bool stopped_ = false;
};

} // namespace lathe
